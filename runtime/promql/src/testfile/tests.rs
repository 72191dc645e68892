//! Unit tests of the format: value sequences, commands, malformed lines, comparison, the `@`
//! re-runs, and a few scripts run end to end.

use super::at;
use super::compare::{almost_equal, matrix, vector};
use super::parse::{Command, EvalKind, Expected, ExpectedSeries, parse};
use super::series::{SeqValue, parse_duration, parse_number, parse_series_desc};
use super::{TestFileError, run_file, run_script, upstream_engine};
use crate::{Labels, Point, Sample, Series};
use std::path::Path;

fn values(desc: &str) -> Vec<SeqValue> {
    parse_series_desc(desc)
        .unwrap_or_else(|e| panic!("{desc:?} does not parse: {e}"))
        .values
}

fn floats(desc: &str) -> Vec<f64> {
    values(desc)
        .into_iter()
        .map(|v| match v {
            SeqValue::Float(f) => f,
            other => panic!("{desc:?}: {other:?} is not a float"),
        })
        .collect()
}

fn bad_desc(desc: &str, wanted: &str) {
    match parse_series_desc(desc) {
        Ok(d) => panic!("{desc:?} parsed as {d:?}"),
        Err(e) => assert!(e.contains(wanted), "{desc:?}: error {e:?} lacks {wanted:?}"),
    }
}

#[test]
fn value_sequences_expand_as_upstream() {
    assert_eq!(floats("m 1+2x3"), [1.0, 3.0, 5.0, 7.0]);
    assert_eq!(floats("m 1-1x3"), [1.0, 0.0, -1.0, -2.0]);
    assert_eq!(floats("m -1-1x3"), [-1.0, -2.0, -3.0, -4.0]);
    assert_eq!(floats("m -1+1x2"), [-1.0, 0.0, 1.0]);
    assert_eq!(floats("m 3x2"), [3.0, 3.0, 3.0]);
    assert_eq!(floats("m 0+10x0"), [0.0]);
    assert_eq!(
        floats("m 1 -2 +3 .5 2. 1e3 -1e-3 12.34e+6"),
        [1.0, -2.0, 3.0, 0.5, 2.0, 1000.0, -0.001, 12_340_000.0]
    );
    // Integers are read as Go's ParseInt with base 0 reads them, but never as hexadecimal.
    assert_eq!(floats("m 010"), [8.0]);
    assert_eq!(floats("m 0x2"), [0.0, 0.0, 0.0]);
    // Accumulated by addition, not computed as a + i*b.
    let mut acc = 0.1;
    let mut want = Vec::new();
    for _ in 0..=10 {
        want.push(acc);
        acc += 0.1;
    }
    assert_eq!(floats("m 0.1+0.1x10"), want);
    assert_eq!(floats("m\t1\t\t2  "), [1.0, 2.0]);
    assert_eq!(floats("m"), Vec::<f64>::new());
}

#[test]
fn special_values_blanks_and_histograms() {
    let v = floats("m Inf -Inf inf NaN nan +Inf");
    assert_eq!(v[..3], [f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]);
    assert!(v[3].is_nan() && v[4].is_nan());
    assert_eq!(v[5], f64::INFINITY);

    let v = values("m 1 stale _ _x3 2 stale");
    assert_eq!(v.len(), 8);
    assert_eq!(v[0], SeqValue::Float(1.0));
    let SeqValue::Float(stale) = v[1] else {
        panic!("{:?} is not a float", v[1]);
    };
    assert_eq!(stale.to_bits(), ward_store::STALE_NAN);
    assert!(v[2..6].iter().all(|v| *v == SeqValue::Omitted));
    assert_eq!(v[6], SeqValue::Float(2.0));

    let v = values("m {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2 {{}} {{sum:1}}+{{sum:2}}x1 3");
    assert_eq!(v.len(), 7);
    assert!(v[..6].iter().all(|v| matches!(v, SeqValue::Histogram(_))));
    assert_eq!(v[6], SeqValue::Float(3.0));
}

#[test]
fn malformed_values_are_refused() {
    bad_desc("m 1+2", "expected 'x<count>'");
    bad_desc("m 1x", "repetition count");
    bad_desc("m 1x2.5", "invalid repetition");
    bad_desc("m stalex3", "expected number or \"stale\"");
    bad_desc("m foo", "expected number or \"stale\"");
    bad_desc("m 1y", "bad number syntax");
    bad_desc("m 1_0", "bad number syntax");
    bad_desc("m 1,2", "unexpected character ','");
    bad_desc("m {{sum:1}", "unterminated histogram");
    bad_desc("m {{sum:1}}+3x2", "expected a histogram");
}

#[test]
fn label_sets() {
    let d = parse_series_desc(r#"node:cpu:rate5m{a="b", c='d',e=`x\y`,} 1"#).expect("parses");
    assert_eq!(
        d.labels,
        Labels::new([
            ("__name__", "node:cpu:rate5m"),
            ("a", "b"),
            ("c", "d"),
            ("e", r"x\y")
        ])
    );
    let d = parse_series_desc(r#"{} 3"#).expect("parses");
    assert_eq!(d.labels, Labels::default());
    let d = parse_series_desc(r#"{__name__="up", v="q\"u\n\x41\u00e9"} 1"#).expect("parses");
    assert_eq!(d.labels.get("v"), Some("q\"u\nAé"));
    assert_eq!(d.labels.metric_name(), Some("up"));

    bad_desc(r#"m{a=~"b"} 1"#, "only take '='");
    bad_desc(r#"m{a!="b"} 1"#, "expected '='");
    bad_desc(r#"m{a="b" 1"#, "expected ',' or '}'");
    bad_desc(r#"m{a="b"#, "unterminated string");
    bad_desc(r#"m{a=b} 1"#, "expected a quoted label value");
    bad_desc(r#"m{a="\q"} 1"#, "unknown escape");
    bad_desc("1 2", "expected a metric name or a label set");
}

#[test]
fn numbers_as_go_parses_them() {
    for (text, want) in [
        ("3", 3.0),
        ("-3", -3.0),
        ("0x10", 16.0),
        ("0o17", 15.0),
        ("017", 15.0),
        ("0b101", 5.0),
        ("1_000", 1000.0),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("-0.2e-6", -0.000_000_2),
        ("+Inf", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("Infinity", f64::INFINITY),
        ("12340000000000000000000", 1.234e22),
    ] {
        assert_eq!(parse_number(text), Some(want), "{text}");
    }
    assert!(parse_number("NaN").is_some_and(f64::is_nan));
    for text in ["{} 3", "1 2", "metric", "", "1_", "_1", "0x", "1e", "--1"] {
        assert_eq!(parse_number(text), None, "{text}");
    }
}

#[test]
fn durations_as_prometheus_parses_them() {
    for (text, want) in [
        ("0", 0),
        ("1ms", 1),
        ("10s", 10_000),
        ("50m", 3_000_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
        ("1y", 31_536_000_000),
        ("1h0m0s", 3_600_000),
    ] {
        assert_eq!(parse_duration(text), Ok(want), "{text}");
    }
    for text in ["", "5", "30m1h", "5x", "-5m", "1.5h", "1h1h", "m"] {
        assert!(parse_duration(text).is_err(), "{text}");
    }
}

fn parse_ok(text: &str) -> Vec<Command> {
    parse(text).unwrap_or_else(|e| panic!("line {}: {}", e.line, e.message))
}

fn bad_file(text: &str, line: usize, wanted: &str) {
    match parse(text) {
        Ok(c) => panic!("parsed as {c:?}"),
        Err(e) => {
            assert_eq!(e.line, line, "{e:?}");
            assert!(
                e.message.contains(wanted),
                "{:?} lacks {wanted:?}",
                e.message
            );
        }
    }
}

#[test]
fn commands_and_blocks() {
    let cmds = parse_ok(
        "# header\n\
         load 5m\n\
         \tm{a=\"1\"} 0+1x2\n\
         \tm{a=\"1\"} 5 6\n\
         \tm{a=\"2\"} 1\n\
         # a comment ends the block\n\
         \n\
         eval instant at 10m m\n\
         \tm{a=\"1\"} 6\n\
         \t{__name__=\"m\", a=\"2\"} 1\n\
         \n\
         eval_fail instant at 1h m + on() m\n\
         \n\
         eval_ordered instant at 0 sort(m)\n\
         \t3\n\
         eval range from 0 to 10m step 5m m\n\
         \tm{a=\"1\"} 5 _ 7\n\
         \n\
         CLEAR\n\
         eval instant at 1m vector(1)\n",
    );
    assert_eq!(cmds.len(), 7, "{cmds:#?}");
    let Command::Load(load) = &cmds[0] else {
        panic!("{:?}", cmds[0]);
    };
    assert_eq!((load.line, load.step), (2, 300_000));
    // The later line for the same labels replaces the earlier one.
    assert_eq!(load.series.len(), 2);
    assert_eq!(
        load.series[0].1,
        [SeqValue::Float(5.0), SeqValue::Float(6.0)]
    );
    assert_eq!(load.series[0].2, 4);

    let Command::Eval(e) = &cmds[1] else {
        panic!("{:?}", cmds[1]);
    };
    assert_eq!((e.line, e.expr.as_str()), (8, "m"));
    assert_eq!(e.kind, EvalKind::Instant { at: 600_000 });
    assert!(!e.fail && !e.ordered);
    assert_eq!(e.expected.series.len(), 2);
    assert_eq!(e.expected.series[1].pos, 2);

    let Command::Eval(e) = &cmds[2] else {
        panic!("{:?}", cmds[2]);
    };
    assert!(e.fail);
    assert_eq!(e.expr, "m + on() m");
    assert_eq!(e.expected, Expected::default());

    let Command::Eval(e) = &cmds[3] else {
        panic!("{:?}", cmds[3]);
    };
    assert!(e.ordered);
    assert_eq!(e.kind, EvalKind::Instant { at: 0 });
    assert_eq!(e.expected.scalar, Some(3.0));

    let Command::Eval(e) = &cmds[4] else {
        panic!("{:?}", cmds[4]);
    };
    assert_eq!(
        e.kind,
        EvalKind::Range {
            start: 0,
            end: 600_000,
            step: 300_000
        }
    );
    assert_eq!(e.expected.series[0].values[1], SeqValue::Omitted);
    assert_eq!(cmds[5], Command::Clear);
}

#[test]
fn malformed_files_name_the_line() {
    bad_file(
        "load 5m\n  m 1\n\nfoo bar\n",
        4,
        "invalid command \"foo bar\"",
    );
    bad_file("load five\n", 1, "invalid step definition");
    bad_file("LOAD 5m\n", 1, "invalid load command");
    bad_file("load 5m\n  m 1+\n", 2, "series values");
    bad_file("eval instant at 5m m\n  m 1 2\n", 2, "multiple values");
    bad_file("eval instant at 5x m\n", 1, "invalid timestamp definition");
    bad_file("eval instant foo\n", 1, "invalid evaluation command");
    bad_file(
        "eval_warn instant at 5m foo\n",
        1,
        "invalid evaluation command",
    );
    bad_file(
        "eval_ordered range from 0 to 1m step 1m m\n",
        1,
        "invalid evaluation command",
    );
    bad_file(
        "eval range from 5m to 1m step 1m m\n",
        1,
        "end timestamp (1m) is before",
    );
    // A scalar line ends the expectation: what follows is read as a command.
    bad_file("eval instant at 5m 1\n  1\n  {} 2\n", 3, "invalid command");
    bad_file("eval instant at 5m m\n  m\n", 2, "no value");
}

fn sample(labels: &[(&str, &str)], v: f64) -> Sample {
    Sample {
        labels: Labels::new(labels.iter().copied()),
        t: 0,
        v,
    }
}

/// Expected series: label pairs and values.
type Want<'a> = (&'a [(&'a str, &'a str)], &'a [SeqValue]);

fn expected(series: &[Want<'_>]) -> Expected {
    Expected {
        scalar: None,
        series: series
            .iter()
            .enumerate()
            .map(|(i, (l, v))| ExpectedSeries {
                labels: Labels::new(l.iter().copied()),
                values: v.to_vec(),
                pos: i + 1,
            })
            .collect(),
    }
}

#[test]
fn values_compare_as_upstream() {
    assert!(almost_equal(f64::NAN, f64::NAN));
    assert!(almost_equal(
        f64::from_bits(ward_store::STALE_NAN),
        f64::NAN
    ));
    assert!(almost_equal(f64::INFINITY, f64::INFINITY));
    assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY));
    assert!(almost_equal(1.0, 1.000_000_1));
    assert!(!almost_equal(1.0, 1.000_01));
    assert!(almost_equal(0.0, -0.0));
    assert!(!almost_equal(0.0, 1e-300));
    assert!(!almost_equal(1.0, f64::NAN));
}

#[test]
fn vector_differences_are_all_named() {
    let exp = expected(&[
        (&[("a", "1")], &[SeqValue::Float(1.0)]),
        (&[("a", "2")], &[SeqValue::Float(2.0)]),
        (&[("a", "3")], &[SeqValue::Float(3.0)]),
    ]);
    let ok = [
        sample(&[("a", "2")], 2.0),
        sample(&[("a", "1")], 1.000_000_1),
        sample(&[("a", "3")], 3.0),
    ];
    assert_eq!(vector(&exp, &ok, false), Ok(()));
    let why = vector(&exp, &ok, true).expect_err("out of order");
    assert!(
        why.contains(r#"{a="2"} at position 1 but expected at 2"#),
        "{why}"
    );

    let got = [
        sample(&[("a", "1")], 5.0),
        sample(&[("a", "4")], 4.0),
        sample(&[("a", "3")], 3.0),
    ];
    let why = vector(&exp, &got, false).expect_err("differs");
    assert!(why.contains(r#"{a="1"}: expected 1 but got 5"#), "{why}");
    assert!(why.contains(r#"unexpected series {a="4"} = 4"#), "{why}");
    assert!(
        why.contains(r#"missing series {a="2"} (expected 2)"#),
        "{why}"
    );
    assert!(!why.contains(r#"{a="3"}"#), "{why}");

    let scalar = Expected {
        scalar: Some(1.0),
        series: Vec::new(),
    };
    assert!(vector(&scalar, &[], false).is_err());
    assert_eq!(vector(&Expected::default(), &[], false), Ok(()));
}

#[test]
fn matrices_compare_point_by_point() {
    let exp = expected(&[(
        &[("a", "1")],
        &[
            SeqValue::Float(1.0),
            SeqValue::Omitted,
            SeqValue::Float(3.0),
        ],
    )]);
    let series = |points: &[(i64, f64)]| Series {
        labels: Labels::new([("a", "1")]),
        points: points.iter().map(|&(t, v)| Point { t, v }).collect(),
    };
    assert_eq!(
        matrix(&exp, &[series(&[(0, 1.0), (20, 3.0)])], 0, 20, 10),
        Ok(())
    );
    let why = matrix(
        &exp,
        &[series(&[(0, 1.0), (10, 2.0), (20, 3.0)])],
        0,
        20,
        10,
    )
    .expect_err("one point too many");
    assert!(
        why.contains("expected 2 points but got 3 point(s)"),
        "{why}"
    );
    let why = matrix(&exp, &[series(&[(0, 1.0), (20, 4.0)])], 0, 20, 10).expect_err("value");
    assert!(why.contains("at t=20ms expected 3 but got 4"), "{why}");
    let why = matrix(&exp, &[series(&[(0, 1.0), (20, 3.0)])], 0, 10, 10).expect_err("range");
    assert!(why.contains("cannot return this many"), "{why}");
}

#[test]
fn at_variants_pin_selectors_outside_subqueries() {
    let v = at::variants("metric", 3_000_000).expect("printable");
    let times: Vec<i64> = v.iter().map(|(_, t)| *t).collect();
    assert_eq!(times, [-30_000_000, 0, 600_000, 3_000_000, 30_000_000]);
    assert!(v.iter().all(|(q, _)| q == "metric @ 3000.000"), "{v:?}");

    let v = at::variants("sum(rate(x[5m]))", 0).expect("printable");
    let times: Vec<i64> = v.iter().map(|(_, t)| *t).collect();
    assert_eq!(times, [-1000, 0, 1000]);
    assert_eq!(v[0].0, "sum(rate(x[5m] @ 0.000))");

    // A subquery gets the @, what is inside it keeps its own times.
    let v = at::variants("max_over_time(rate(x[1m])[5m:1m]) + y @ 10", 60_000).expect("printable");
    assert_eq!(
        v[0].0,
        "max_over_time(rate(x[1m])[5m:1m] @ 60.000) + y @ 10.000"
    );
    let v = at::variants("x @ start() offset 1m", 1_500).expect("printable");
    assert_eq!(v[0].0, "x @ 1.500 offset 1m");

    // Time-dependent functions get no re-runs, unless inside a subquery.
    for q in [
        "time()",
        "timestamp(x)",
        "minute(x)",
        "predict_linear(x[5m], 60)",
        "x + day_of_year()",
    ] {
        assert_eq!(at::variants(q, 60_000), Ok(Vec::new()), "{q}");
    }
    assert_eq!(
        at::variants("sum_over_time(minute()[5m:1m])", 60_000)
            .expect("printable")
            .len(),
        5
    );
    // Literals are re-run too, unchanged.
    assert_eq!(
        at::variants("1 + 1", 60_000).expect("printable")[0].0,
        "1 + 1"
    );
    assert!(at::variants("x @ -100", 60_000).is_err());
    assert_eq!(at::variants("sum(", 60_000), Ok(Vec::new()));
}

#[test]
fn scripts_run_end_to_end() {
    let engine = upstream_engine();
    let script = "\
load 1m
  m{a=\"1\"} 1 2 3
  m{a=\"2\"} 10 _ 30

eval instant at 1m m
  m{a=\"1\"} 2
  m{a=\"2\"} 10

eval instant at 2m m
  m{a=\"1\"} 3
  m{a=\"2\"} 99

eval instant at 1m sum(m)
  {} 12

eval_fail instant at 1m m
";
    let report = run_script(script, Path::new("inline.test"), &engine).expect("runs");
    assert_eq!((report.cases, report.passed), (4, 2), "{report:#?}");
    assert!((report.pass_rate() - 0.5).abs() < 1e-9);
    assert_eq!(report.failures[0].line, 9);
    assert_eq!(report.failures[0].query, "m");
    let why = &report.failures[0].reason;
    assert!(why.starts_with("at 120s: "), "{why}");
    assert!(why.contains(r#"m{a="2"}: expected 99 but got 30"#), "{why}");
    assert!(why.contains("and 5 more of the 6 runs fail"), "{why}");
    assert!(
        report.failures[1]
            .reason
            .contains("expected the query to fail")
    );
}

#[test]
fn file_errors_name_the_file() {
    let engine = upstream_engine();
    let missing = run_file(Path::new("/nonexistent/x.test"), &engine).expect_err("missing");
    assert!(matches!(missing, TestFileError::Read { .. }));
    assert!(
        missing.to_string().contains("/nonexistent/x.test"),
        "{missing}"
    );

    let bad = run_script("load 5m\n  m 1\n\nbogus\n", Path::new("bad.test"), &engine)
        .expect_err("malformed");
    assert_eq!(bad.to_string(), "bad.test:4: invalid command \"bogus\"");

    let nameless = run_script("load 5m\n  {a=\"b\"} 1\n", Path::new("n.test"), &engine)
        .expect_err("no metric name");
    assert!(
        matches!(nameless, TestFileError::Load { line: 2, .. }),
        "{nameless}"
    );
}
