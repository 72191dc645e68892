//! The engine through its public API, on a real store: result shapes, range queries,
//! limits and errors as the HTTP API reports them.

use std::time::Duration;
use ward_promql::{Engine, EngineOptions, Labels, QueryError, Value};
use ward_store::{Store, StoreOptions};

const MIN: i64 = 60_000;

/// A store with `http_requests_total{job, instance}` counters: job "api" instances 0..3
/// growing by 10*(instance+1) per minute, job "db" instance 0 by 1 per minute, one sample
/// per 15 s over an hour.
fn store() -> Store {
    let store = Store::temporary(StoreOptions {
        out_of_order_window: Duration::from_secs(100 * 365 * 86_400),
        retention: Duration::from_secs(100 * 365 * 86_400),
        ..StoreOptions::default()
    })
    .expect("store");
    let series = [
        ("api", "0", 10.0),
        ("api", "1", 20.0),
        ("api", "2", 30.0),
        ("db", "0", 1.0),
    ];
    let mut batch = Vec::new();
    for (job, inst, per_min) in series {
        let labels = ward_store::Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", job),
            ("instance", inst),
        ])
        .expect("labels");
        for i in 0..=240i64 {
            batch.push((labels.clone(), i * 15_000, per_min * i as f64 / 4.0));
        }
    }
    store.append(&batch).expect("append");
    store
}

fn vector(v: Value) -> Vec<(String, f64)> {
    match v {
        Value::Vector(s) => {
            let mut out: Vec<(String, f64)> =
                s.into_iter().map(|s| (s.labels.to_string(), s.v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("expected a vector, got {other:?}"),
    }
}

#[test]
fn rate_and_sum_by_match_hand_computed_values() {
    let db = store();
    let e = Engine::default();
    let got = vector(
        e.instant(
            &db,
            "sum by (job) (rate(http_requests_total[5m]))",
            30 * MIN,
            None,
        )
        .expect("query"),
    );
    // Counters grow linearly: rate is exactly the per-second slope.
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, r#"{job="api"}"#);
    assert!((got[0].1 - 1.0).abs() < 1e-9, "{got:?}");
    assert_eq!(got[1].0, r#"{job="db"}"#);
    assert!((got[1].1 - 1.0 / 60.0).abs() < 1e-9, "{got:?}");
}

#[test]
fn range_query_returns_every_step_sorted_by_labels() {
    let db = store();
    let e = Engine::default();
    let v = e
        .range(
            &db,
            "http_requests_total{job=\"api\"} / 10",
            10 * MIN,
            20 * MIN,
            MIN,
            None,
        )
        .expect("query");
    let Value::Matrix(series) = v else {
        panic!("expected a matrix")
    };
    assert_eq!(series.len(), 3);
    let names: Vec<String> = series.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(
        names,
        [
            r#"{instance="0", job="api"}"#,
            r#"{instance="1", job="api"}"#,
            r#"{instance="2", job="api"}"#
        ]
    );
    for s in &series {
        assert_eq!(s.points.len(), 11);
        assert_eq!(s.points[0].t, 10 * MIN);
        assert_eq!(s.points[10].t, 20 * MIN);
    }
    // instance 1 grows 20/min: at 15 min, 300 / 10.
    assert_eq!(series[1].points[5].v, 30.0);
}

#[test]
fn lookback_ends_five_minutes_after_the_last_sample() {
    let db = store();
    let e = Engine::default();
    let last = 60 * MIN;
    assert_eq!(
        vector(
            e.instant(&db, "http_requests_total", last + 5 * MIN, None)
                .expect("q")
        )
        .len(),
        4
    );
    assert!(
        vector(
            e.instant(&db, "http_requests_total", last + 5 * MIN + 1, None)
                .expect("q")
        )
        .is_empty()
    );
}

#[test]
fn parse_errors_are_bad_data_with_the_position() {
    let e = Engine::default();
    let db = store();
    let err = e
        .instant(&db, "sum(rate(x[5m])", 0, None)
        .expect_err("must fail");
    assert_eq!(err.error_type(), "bad_data");
    assert_eq!(err.http_status(), 400);
    let msg = err.to_string();
    assert_eq!(
        msg,
        "invalid parameter \"query\": 1:16: parse error: unclosed left parenthesis"
    );
    let msg = e
        .instant(&db, "sum(x) +\n  rate(x)", 0, None)
        .expect_err("must fail")
        .to_string();
    assert!(
        msg.contains("2:3: parse error: expected type matrix"),
        "{msg}"
    );
    // Errors the parser reports without a place still get one.
    for (query, want) in [
        ("1 +* 2", "1:4: parse error: unexpected \"*\""),
        ("foo bar", "1:5: parse error: unexpected \"bar\""),
        ("up{job=}", "1:8: parse error: unexpected \"}\""),
        (
            "rate(x[5m)",
            "1:10: parse error: unexpected character inside brackets",
        ),
        ("sum(up) +", "1:10: parse error: unexpected end of input"),
    ] {
        let msg = e.instant(&db, query, 0, None).expect_err(query).to_string();
        assert!(msg.contains(want), "{query}: {msg}");
    }
}

#[test]
fn many_to_many_matching_is_an_execution_error() {
    let e = Engine::default();
    let db = store();
    let err = e
        .instant(
            &db,
            "http_requests_total + on(job) http_requests_total",
            30 * MIN,
            None,
        )
        .expect_err("must fail");
    assert!(matches!(err, QueryError::Execution(_)), "{err:?}");
    assert_eq!(err.http_status(), 422);
    assert!(
        err.to_string()
            .contains("many-to-many matching not allowed"),
        "{err}"
    );
}

#[test]
fn sample_limit_is_a_clean_execution_error() {
    let db = store();
    let e = Engine::new(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let err = e
        .instant(
            &db,
            "count_over_time(http_requests_total[1h])",
            60 * MIN,
            None,
        )
        .expect_err("must hit the limit");
    assert_eq!(err.error_type(), "execution");
    assert!(err.to_string().contains("too many samples"), "{err}");
    // Under the limit the same engine answers.
    assert!(
        e.instant(
            &db,
            "http_requests_total{instance=\"0\",job=\"db\"}",
            60 * MIN,
            None
        )
        .is_ok()
    );
}

#[test]
fn series_limit_is_a_clean_execution_error() {
    let db = store();
    let e = Engine::new(EngineOptions {
        max_series: 3,
        ..EngineOptions::default()
    });
    for q in ["http_requests_total", "rate(http_requests_total[5m])"] {
        let err = e.instant(&db, q, 60 * MIN, None).expect_err(q);
        assert_eq!(err.http_status(), 422, "{q}: {err}");
        assert!(
            err.to_string()
                .contains("4 series, more than the limit of 3"),
            "{err}"
        );
        let err = e.range(&db, q, 0, 60 * MIN, 60_000, None).expect_err(q);
        assert_eq!(err.http_status(), 422, "{q}: {err}");
    }
    // Fewer series pass, even from a larger selection.
    let sum = e
        .range(
            &db,
            "sum by (job) (http_requests_total)",
            0,
            60 * MIN,
            60_000,
            None,
        )
        .expect("two series");
    match sum {
        Value::Matrix(m) => assert_eq!(m.len(), 2),
        other => panic!("a matrix, got {other:?}"),
    }
}

#[test]
fn zero_timeout_is_a_timeout_error() {
    let db = store();
    let e = Engine::default();
    let err = e
        .range(
            &db,
            "rate(http_requests_total[5m])",
            0,
            60 * MIN,
            15_000,
            Some(Duration::ZERO),
        )
        .expect_err("must time out");
    assert_eq!(err.error_type(), "timeout");
    assert_eq!(err.http_status(), 503);
}

#[test]
fn range_queries_refuse_range_vectors_and_too_many_points() {
    let db = store();
    let e = Engine::default();
    let err = e
        .range(&db, "http_requests_total[5m]", 0, MIN, 1000, None)
        .expect_err("range vector");
    assert_eq!(err.error_type(), "bad_data");
    let err = e
        .range(&db, "1", 0, 20_000_000, 1, None)
        .expect_err("too many points");
    assert!(err.to_string().contains("11,000 points"), "{err}");
}

#[test]
fn instant_range_selector_returns_raw_samples() {
    let db = store();
    let e = Engine::default();
    let v = e
        .instant(&db, "http_requests_total{job=\"db\"}[1m]", 60 * MIN, None)
        .expect("query");
    let Value::Matrix(series) = v else {
        panic!("expected a matrix")
    };
    assert_eq!(series.len(), 1);
    assert_eq!(
        series[0].labels,
        Labels::new([
            ("__name__", "http_requests_total"),
            ("job", "db"),
            ("instance", "0")
        ])
    );
    let ts: Vec<i64> = series[0].points.iter().map(|p| p.t).collect();
    assert_eq!(
        ts,
        [
            59 * MIN,
            59 * MIN + 15_000,
            59 * MIN + 30_000,
            59 * MIN + 45_000,
            60 * MIN
        ]
    );
}
