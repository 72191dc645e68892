//! The store's behaviour through its public API: durability across reopen, out-of-order
//! merging, windows, retention, deletion, labels, format checks.

#![allow(clippy::unwrap_used)]

use std::time::Duration;
use ward_store::{Error, Labels, MatchOp, Matcher, RejectReason, Store, StoreOptions};

fn l(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut v = vec![("__name__", name)];
    v.extend_from_slice(pairs);
    Labels::from_pairs(v).unwrap()
}

fn opts() -> StoreOptions {
    StoreOptions {
        maintenance_interval: None,
        partition: Duration::from_secs(3600),
        out_of_order_window: Duration::from_secs(600),
        retention: Duration::from_secs(6 * 3600),
        chunk_samples: 8,
        ..StoreOptions::default()
    }
}

const T0: i64 = 1_700_000_000_000;

fn all(store: &Store, m: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    store
        .select(m, i64::MIN, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|s| (s.labels.to_string(), s.samples))
        .collect()
}

#[test]
fn samples_survive_reopen_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let series = l("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")]);
    let expected: Vec<(i64, f64)> = (0..1000)
        .map(|i| (T0 + i * 15_000, i as f64 * 0.25))
        .collect();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        for chunk in expected.chunks(37) {
            let batch: Vec<_> = chunk.iter().map(|&(t, v)| (series.clone(), t, v)).collect();
            assert_eq!(store.append(&batch).unwrap().accepted, chunk.len());
        }
        // Dropped without close: the WAL must bring back the head.
    }
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(
        all(&store, &[]),
        vec![(series.to_string(), expected.clone())]
    );
    store.flush().unwrap();
    store.compact().unwrap();
    assert_eq!(
        all(&store, &[]),
        vec![(series.to_string(), expected.clone())]
    );
    store.close().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(
        all(&store, &[]),
        vec![(series.to_string(), expected.clone())]
    );
    let mid = store
        .select(&[], T0 + 15_000 * 10, T0 + 15_000 * 19)
        .unwrap();
    assert_eq!(mid[0].samples, expected[10..20].to_vec());
}

#[test]
fn out_of_order_within_window_merges_and_older_is_refused() {
    let store = Store::temporary(opts()).unwrap();
    let s = l("up", &[("job", "a")]);
    store.append(&[(s.clone(), T0 + 60_000, 1.0)]).unwrap();
    let r = store
        .append(&[
            (s.clone(), T0, 2.0),
            (s.clone(), T0 + 60_000, 3.0),
            (s.clone(), T0 + 60_000 - 601_000, 9.0),
        ])
        .unwrap();
    assert_eq!(r.accepted, 2);
    assert_eq!(r.rejected, vec![(2, RejectReason::OutOfWindow)]);
    assert_eq!(
        all(&store, &[]),
        vec![(s.to_string(), vec![(T0, 2.0), (T0 + 60_000, 3.0)])]
    );
    store.flush().unwrap();
    store.append(&[(s.clone(), T0, 4.0)]).unwrap();
    assert_eq!(all(&store, &[])[0].1, vec![(T0, 4.0), (T0 + 60_000, 3.0)]);
    assert_eq!(store.stats().rejected["out_of_window"], 1);
}

#[test]
fn matchers_and_label_apis() {
    let store = Store::temporary(opts()).unwrap();
    let batch = vec![
        (l("up", &[("job", "api"), ("instance", "a:1")]), T0, 1.0),
        (l("up", &[("job", "db"), ("instance", "b:1")]), T0, 0.0),
        (l("http_requests_total", &[("job", "api")]), T0, 5.0),
        (
            l("http_requests_total", &[("job", "api"), ("code", "500")]),
            T0,
            1.0,
        ),
    ];
    store.append(&batch).unwrap();
    let names =
        |m: &[Matcher]| -> Vec<String> { all(&store, m).into_iter().map(|(n, _)| n).collect() };
    assert_eq!(
        names(&[
            Matcher::equal("__name__", "up"),
            Matcher::new("job", MatchOp::NotEqual, "db").unwrap()
        ]),
        vec!["up{instance=\"a:1\", job=\"api\"}"]
    );
    assert_eq!(
        names(&[Matcher::new("job", MatchOp::Regex, "a.*").unwrap()]).len(),
        3
    );
    // A missing label matches the empty string.
    assert_eq!(
        names(&[
            Matcher::equal("__name__", "http_requests_total"),
            Matcher::equal("code", "")
        ]),
        vec!["http_requests_total{job=\"api\"}"]
    );
    assert_eq!(
        names(&[Matcher::new("code", MatchOp::NotRegex, "5..").unwrap()]).len(),
        3
    );
    assert_eq!(
        store.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        vec!["__name__", "code", "instance", "job"]
    );
    assert_eq!(
        store.label_values("job", &[], i64::MIN, i64::MAX).unwrap(),
        vec!["api", "db"]
    );
    assert_eq!(
        store
            .label_values(
                "instance",
                &[Matcher::equal("job", "db")],
                i64::MIN,
                i64::MAX
            )
            .unwrap(),
        vec!["b:1"]
    );
    let c = store.cardinality(i64::MIN, i64::MAX, 10).unwrap();
    assert_eq!(c.series, 4);
    assert_eq!(
        c.series_by_metric[0],
        ("http_requests_total".to_string(), 2)
    );
    assert_eq!(
        store
            .series(&[Matcher::equal("job", "api")], i64::MIN, i64::MAX)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn retention_drops_old_partitions_and_their_series() {
    let store = Store::temporary(opts()).unwrap();
    let old = l("old_metric", &[]);
    let new = l("new_metric", &[]);
    store.append(&[(old.clone(), T0, 1.0)]).unwrap();
    store
        .append(&[(new.clone(), T0 + 8 * 3_600_000, 1.0)])
        .unwrap();
    store.maintain().unwrap();
    assert_eq!(
        all(&store, &[])
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        vec!["new_metric{}"]
    );
    assert_eq!(store.series_count(), 1);
    assert_eq!(
        store
            .label_values("__name__", &[], i64::MIN, i64::MAX)
            .unwrap(),
        vec!["new_metric"]
    );
}

#[test]
fn delete_series_by_matcher_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        for i in 0..30 {
            store
                .append(&[
                    (l("a", &[("x", "1")]), T0 + i * 1000, 1.0),
                    (l("a", &[("x", "2")]), T0 + i * 1000, 2.0),
                ])
                .unwrap();
        }
        assert_eq!(store.delete_series(&[Matcher::equal("x", "1")]).unwrap(), 1);
        assert_eq!(all(&store, &[]).len(), 1);
    }
    let store = Store::open(dir.path(), opts()).unwrap();
    let got = all(&store, &[]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.len(), 30);
}

#[test]
fn foreign_and_newer_directories_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Store::open(dir.path(), opts()).unwrap_err();
    assert!(matches!(err, Error::NotAStore { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path(), opts()).unwrap().close().unwrap();
    std::fs::write(dir.path().join("WARD_STORE"), "ward-store format 99\n").unwrap();
    let err = Store::open(dir.path(), opts()).unwrap_err().to_string();
    assert!(
        err.contains("format version 99")
            && err.contains(&format!("reads version {}", ward_store::FORMAT_VERSION)),
        "{err}"
    );
}

/// A directory of format 1 (the cold block layout before its timestamp and column modes) or
/// 2 (before shared timestamps) opens, keeps every sample, and is marked with the current
/// format so that older builds refuse it.
#[test]
fn older_format_directories_are_read_and_upgraded() {
    for older in [1, 2] {
        older_format_directory_is_read_and_upgraded(older);
    }
}

fn older_format_directory_is_read_and_upgraded(older: u32) {
    let dir = tempfile::tempdir().unwrap();
    let series = l("m", &[]);
    let expected: Vec<(i64, f64)> = (0..500).map(|i| (T0 + i * 15_000, i as f64)).collect();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        let batch: Vec<_> = expected
            .iter()
            .map(|&(t, v)| (series.clone(), t, v))
            .collect();
        store.append(&batch).unwrap();
        store.close().unwrap();
    }
    let marker = dir.path().join("WARD_STORE");
    std::fs::write(&marker, format!("ward-store format {older}\n")).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(all(&store, &[]), vec![(series.to_string(), expected)]);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        format!("ward-store format {}\n", ward_store::FORMAT_VERSION)
    );
}

#[test]
fn limits_and_bad_input_are_clear_errors() {
    let store = Store::temporary(StoreOptions {
        max_batch_samples: 2,
        ..opts()
    })
    .unwrap();
    let s = l("m", &[]);
    let err = store
        .append(&[
            (s.clone(), T0, 1.0),
            (s.clone(), T0 + 1, 1.0),
            (s.clone(), T0 + 2, 1.0),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::BatchTooLarge { got: 3, limit: 2 }));
    let nameless = Labels::from_pairs([("job", "x")]).unwrap();
    let r = store
        .append(&[(nameless, T0, 1.0), (s.clone(), T0, 1.0)])
        .unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(r.rejected, vec![(0, RejectReason::MissingMetricName)]);
    store.append(&[(s.clone(), T0 + 1, 1.0)]).unwrap();
    let err = store
        .select_limited(
            &[],
            i64::MIN,
            i64::MAX,
            ward_store::SelectLimits {
                max_series: 10,
                max_samples: 1,
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::TooManySamples { limit: 1 }));
}

#[test]
fn nan_staleness_and_negative_zero_round_trip_bit_exact() {
    let store = Store::temporary(opts()).unwrap();
    let s = l("m", &[]);
    let values = [
        f64::NAN,
        f64::from_bits(ward_store::STALE_NAN),
        -0.0,
        f64::INFINITY,
        0.1,
    ];
    let batch: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (s.clone(), T0 + i as i64, v))
        .collect();
    store.append(&batch).unwrap();
    store.compact().unwrap();
    let got = &all(&store, &[])[0].1;
    for (g, v) in got.iter().zip(values) {
        assert_eq!(g.1.to_bits(), v.to_bits());
    }
}

#[test]
fn a_selection_finds_samples_of_chunks_that_began_long_before_it() {
    // A sparse series fills a chunk over most of a partition while a dense one cuts many
    // short chunks: a selection late in the partition must still find the sparse chunk's
    // samples, on disk, after compaction into a block and after reopen.
    let dir = tempfile::tempdir().unwrap();
    let opts = || StoreOptions {
        partition: Duration::from_secs(24 * 3600),
        out_of_order_window: Duration::from_secs(24 * 3600),
        retention: Duration::from_secs(30 * 24 * 3600),
        ..opts()
    };
    let day = T0 - T0.rem_euclid(86_400_000);
    let sparse = l("sparse", &[]);
    let dense = l("dense", &[]);
    let sparse_samples: Vec<(i64, f64)> = (0..8)
        .map(|i| (day + i * 3 * 3_600_000, i as f64))
        .collect();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        for &(t, v) in &sparse_samples {
            let mut batch = vec![(sparse.clone(), t, v)];
            batch.extend((0..720).map(|j| (dense.clone(), t + j * 15_000, j as f64)));
            store.append(&batch).unwrap();
        }
        store.flush().unwrap();
        // 21 h into the day: only the sparse chunk (8 samples, 21 h wide) holds one.
        let late = store
            .select(
                &[Matcher::equal("__name__", "sparse")],
                day + 20 * 3_600_000,
                day + 22 * 3_600_000,
            )
            .unwrap();
        assert_eq!(late[0].samples, vec![sparse_samples[7]]);
        store.close().unwrap();
    }
    let store = Store::open(dir.path(), opts()).unwrap();
    let pick = |store: &Store| {
        store
            .select(
                &[Matcher::equal("__name__", "sparse")],
                day + 20 * 3_600_000,
                day + 22 * 3_600_000,
            )
            .unwrap()
            .into_iter()
            .map(|s| s.samples)
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(&store), vec![vec![sparse_samples[7]]]);
    store.compact().unwrap();
    assert_eq!(pick(&store), vec![vec![sparse_samples[7]]]);
}

#[test]
fn shared_label_sets_find_their_series_across_appends_and_deletes() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let a = Arc::new(l("m", &[("k", "a")]));
    let b = Arc::new(l("m", &[("k", "b")]));
    for i in 0..5 {
        let r = store
            .append_shared(&[
                (a.clone(), T0 + i, i as f64),
                (b.clone(), T0 + i, -(i as f64)),
            ])
            .unwrap();
        assert_eq!(r.accepted, 2);
    }
    // Another allocation of the same labels, and a plain append: the same series.
    store
        .append_shared(&[(Arc::new(l("m", &[("k", "a")])), T0 + 5, 5.0)])
        .unwrap();
    store
        .append(&[(l("m", &[("k", "b")]), T0 + 5, -5.0)])
        .unwrap();
    assert_eq!(store.series_count(), 2);
    // Dropped allocations: new label sets (maybe at reused addresses) are never mistaken
    // for them.
    drop((a, b));
    let mut kept = Vec::new();
    for i in 0..200 {
        let c = Arc::new(l("m", &[("k", &format!("c{i}"))]));
        store
            .append_shared(&[(c.clone(), T0 + 6, i as f64)])
            .unwrap();
        kept.push(c);
    }
    assert_eq!(store.series_count(), 202);
    let got = all(&store, &[Matcher::new("k", MatchOp::Equal, "a").unwrap()]);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].1,
        (0..6).map(|i| (T0 + i, i as f64)).collect::<Vec<_>>()
    );
    // After a delete the remembered allocation names no series: appending it recreates one.
    let c0 = kept[0].clone();
    store
        .delete_series(&[Matcher::new("k", MatchOp::Equal, "c0").unwrap()])
        .unwrap();
    store.append_shared(&[(c0, T0 + 7, 7.0)]).unwrap();
    let got = all(&store, &[Matcher::new("k", MatchOp::Equal, "c0").unwrap()]);
    assert_eq!(got, vec![("m{k=\"c0\"}".to_string(), vec![(T0 + 7, 7.0)])]);
}

/// The memtable options bound what fresh writes hold in memory: with 1 MiB memtables the
/// store's memtables stay a few MiB while ~20 MB of chunks are written; with 16 MiB they grow
/// past 12 MiB before the first one is flushed.
#[test]
fn memtable_options_bound_the_memory_of_fresh_writes() {
    let peak = |memtable: u64| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            StoreOptions {
                memtable_bytes: memtable,
                cache_bytes: 1 << 20,
                durability: ward_store::Durability::Buffered {
                    interval: Duration::from_secs(1),
                },
                ..opts()
            },
        )
        .unwrap();
        let series: Vec<Labels> = (0..1000)
            .map(|i| l("m", &[("i", &i.to_string())]))
            .collect();
        let mut peak = 0u64;
        // 2.4 M samples, 10,000 per append, of values that do not compress (~9 bytes each in
        // chunks).
        for round in 0..240i64 {
            let batch: Vec<_> = (0..10)
                .flat_map(|k| {
                    let t = T0 + (round * 10 + k) * 1_000;
                    series.iter().enumerate().map(move |(i, s)| {
                        let mut h = (t as u64) ^ ((i as u64) << 48);
                        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
                        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
                        (s, t, (h >> 11) as f64)
                    })
                })
                .collect();
            store.append(&batch).unwrap();
            let stats = store.stats();
            assert!(stats.cache_bytes <= 1 << 20, "{}", stats.cache_bytes);
            peak = peak.max(stats.memtable_bytes);
        }
        peak
    };
    let small = peak(1 << 20);
    assert!(small < 8 << 20, "1 MiB memtables peaked at {small} bytes");
    let large = peak(16 << 20);
    assert!(large > 12 << 20, "16 MiB memtables peaked at {large} bytes");
}

#[test]
fn kept_chunks_hold_their_budget_and_every_sample_stays_readable() {
    // 500 series sampled together, 40 rounds of 8-sample chunks: 20,000 written chunks,
    // far more than 64 KiB of them. Whatever leaves memory is read from disk.
    for budget in [64 << 10, 0] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            StoreOptions {
                kept_bytes: budget,
                ..opts()
            },
        )
        .unwrap();
        let series: Vec<Labels> = (0..500).map(|i| l("m", &[("i", &i.to_string())])).collect();
        for round in 0..320i64 {
            let t = T0 + round * 1_000;
            let batch: Vec<_> = series
                .iter()
                .enumerate()
                .map(|(i, s)| (s, t, (round * 1000 + i as i64) as f64))
                .collect();
            store.append(&batch).unwrap();
            let kept = store.stats().kept_bytes;
            assert!(
                kept <= budget,
                "budget {budget}: {kept} kept at round {round}"
            );
        }
        if budget > 0 {
            assert!(store.stats().kept_bytes > budget / 2, "the budget is used");
        }
        for i in [0usize, 250, 499] {
            let got = store
                .select(
                    &[Matcher::equal("i", i.to_string())],
                    T0 + 100_000,
                    i64::MAX,
                )
                .unwrap();
            let want: Vec<(i64, f64)> = (100..320i64)
                .map(|r| (T0 + r * 1_000, (r * 1000 + i as i64) as f64))
                .collect();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].samples, want, "budget {budget}, series {i}");
        }
    }
}

/// Files under `dir`, recursively.
fn files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { files(&p) } else { 1 }
        })
        .sum()
}

/// A long-running store checkpoints every few minutes: each checkpoint must leave the
/// directory as it found it, not a few more files each time (a WAL keyspace per generation
/// did: 3 files of fjall metadata per checkpoint until the next restart).
#[test]
fn checkpoints_leave_no_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let s = l("m", &[]);
    let mut t = T0;
    let mut checkpoints = |n: usize| {
        for _ in 0..n {
            store.append(&[(s.clone(), t, 1.0)]).unwrap();
            t += 1_000;
            store.flush().unwrap();
        }
        files(dir.path())
    };
    let before = checkpoints(20);
    let after = checkpoints(150);
    assert!(
        after <= before + 8,
        "{before} files after 20 checkpoints, {after} after 170"
    );
    assert_eq!(all(&store, &[])[0].1.len(), 170);
    store.close().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(all(&store, &[])[0].1.len(), 170);
}
