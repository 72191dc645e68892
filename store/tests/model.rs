//! Model-based property tests: random sequences of appends (any order, duplicate timestamps,
//! negative timestamps, NaN, -0.0, staleness markers, arbitrary bit patterns), flushes,
//! compactions, maintenance rounds (retention), deletions, reopens and closes are run against a
//! store with tiny chunks and against a plain model: one `BTreeMap` per series, last write
//! wins, the store's refusal rule (a sample is refused as out of window iff its
//! timestamp is below the newest accepted timestamp so far, updated sample by sample in batch
//! order, minus `min(out_of_order_window, retention)`) and its retention rule (`maintain` drops
//! every partition whose end is at or before the newest timestamp minus the retention).
//! Values are compared bit for bit; whole contents after every operation, random sub-ranges
//! with and without matchers on demand.
//!
//! Two time scales: tiny partitions (100 ms, so chunks split and partitions close, compact
//! and expire all the time), and hour-wide partitions with gaps between samples of anything up
//! to an hour, including the edges of the Gorilla delta-of-delta buckets (8192, 65536, 524288
//! ms and their neighbours). Appends include scrapes (every series at one instant); a third
//! property is mostly scrapes with a few ms of jitter, so that cold blocks of different series
//! share their timestamp columns.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use ward_store::{Durability, Labels, Matcher, RejectReason, STALE_NAN, Store, StoreOptions};

const SERIES: [&str; 3] = ["a", "b", "c"];

/// The time scale of one property.
#[derive(Debug, Clone, Copy)]
struct Scale {
    partition_ms: i64,
    window_ms: i64,
    retention_ms: i64,
    /// The first append's cursor (timestamps start negative).
    start: i64,
}

const TINY: Scale = Scale {
    partition_ms: 100,
    window_ms: 250,
    retention_ms: 700,
    start: -1_000,
};

const WIDE: Scale = Scale {
    partition_ms: 3_600_000,
    window_ms: 600_000,
    retention_ms: 3 * 3_600_000,
    start: -4_000_000,
};

impl Scale {
    fn opts(&self) -> StoreOptions {
        StoreOptions {
            partition: Duration::from_millis(self.partition_ms as u64),
            out_of_order_window: Duration::from_millis(self.window_ms as u64),
            retention: Duration::from_millis(self.retention_ms as u64),
            chunk_samples: 4,
            durability: Durability::Sync,
            checkpoint_bytes: 256,
            maintenance_interval: None,
            cache_bytes: 1 << 20,
            ..StoreOptions::default()
        }
    }
}

fn labels(s: usize) -> Labels {
    Labels::from_pairs([("__name__", "m"), ("s", SERIES[s])]).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    /// Moves the cursor by `advance`, then appends samples at `cursor + offset`.
    Append {
        advance: i64,
        samples: Vec<(usize, i64, f64)>,
    },
    Flush,
    Compact,
    Maintain,
    /// Drop the store (no close) and open it again.
    Reopen,
    /// `close()` then open again.
    CloseOpen,
    Delete(usize),
    /// Select `[cursor + from, cursor + from + len]`, of one series or of all.
    Select {
        series: Option<usize>,
        from: i64,
        len: i64,
    },
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::from_bits(STALE_NAN)),
        Just(-0.0),
        Just(0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1000i64..1000).prop_map(|k| k as f64 / 10.0),
        (-100i64..100).prop_map(|k| k as f64),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

/// Samples at `cursor + offset`, offsets in `offsets`.
fn sample(offsets: BoxedStrategy<i64>) -> impl Strategy<Value = (usize, i64, f64)> {
    (0..SERIES.len(), offsets, value())
}

/// Operations for a scale: cursor advances from `advances`, sample offsets from `offsets`,
/// select ranges starting up to `span` before the cursor and up to `span` long, scrapes (all
/// series at one instant) weighing `scrapes` against 12 for appends of random samples.
fn op(
    advances: BoxedStrategy<i64>,
    offsets: BoxedStrategy<i64>,
    span: i64,
    scrapes: u32,
) -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (advances.clone(), prop::collection::vec(sample(offsets.clone()), 1..12))
            .prop_map(|(advance, samples)| Op::Append { advance, samples }),
        // A scrape: every series at one instant, so that cold blocks of different series
        // have the same (irregular) timestamps and share them.
        scrapes => (advances, offsets, [value(), value(), value()]).prop_map(|(advance, at, v)| {
            Op::Append {
                advance,
                samples: (0..SERIES.len()).map(|s| (s, at, v[s])).collect(),
            }
        }),
        2 => Just(Op::Flush),
        2 => Just(Op::Compact),
        3 => Just(Op::Maintain),
        2 => Just(Op::Reopen),
        1 => Just(Op::CloseOpen),
        1 => (0..SERIES.len()).prop_map(Op::Delete),
        3 => (prop::option::of(0..SERIES.len()), -span..span / 8, -10..span / 2)
            .prop_map(|(series, from, len)| Op::Select { series, from, len }),
    ]
}

fn tiny_ops() -> impl Strategy<Value = Vec<Op>> {
    let advances = (0i64..150).boxed();
    let offsets = prop_oneof![3 => -400i64..=20, 1 => -3i64..=0].boxed();
    prop::collection::vec(op(advances, offsets, 1_500, 6), 1..48)
}

/// Mostly scrapes a few ms apart with a few ms of jitter: closed partitions hold blocks of
/// several series with the same uneven timestamps, which share one column.
fn scrape_ops() -> impl Strategy<Value = Vec<Op>> {
    let advances = (5i64..40).boxed();
    let offsets = (-3i64..=3).boxed();
    prop::collection::vec(op(advances, offsets, 1_500, 60), 1..64)
}

fn wide_ops() -> impl Strategy<Value = Vec<Op>> {
    // Gaps at and around the edges of the Gorilla delta-of-delta buckets, scrape-like gaps
    // and anything up to an hour.
    let edges = prop::sample::select(vec![
        8_191i64, 8_192, 8_193, 16_384, 65_535, 65_536, 65_537, 131_072, 524_287, 524_288, 524_289,
        1_048_576, 15_000, 30_000,
    ]);
    let advances = prop_oneof![3 => edges, 2 => 0i64..20_000, 1 => 0i64..3_600_000].boxed();
    let offsets = prop_oneof![2 => Just(0i64), 1 => -3i64..=0, 2 => -900_000i64..=20_000].boxed();
    prop::collection::vec(op(advances, offsets, 6 * 3_600_000, 6), 1..48)
}

/// The reference: per series `ts -> value bits`, and the newest accepted timestamp.
struct Model {
    scale: Scale,
    series: [BTreeMap<i64, u64>; SERIES.len()],
    max_ts: Option<i64>,
}

impl Model {
    /// Applies a batch; returns the indices refused as out of window.
    fn append(&mut self, batch: &[(usize, i64, f64)]) -> Vec<usize> {
        let window = self.scale.window_ms.min(self.scale.retention_ms);
        let mut refused = Vec::new();
        for (i, &(s, ts, v)) in batch.iter().enumerate() {
            if self.max_ts.is_some_and(|m| ts < m - window) {
                refused.push(i);
                continue;
            }
            self.series[s].insert(ts, v.to_bits());
            self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
        }
        refused
    }

    fn retention(&mut self) {
        let Some(max) = self.max_ts else { return };
        let cutoff = max - self.scale.retention_ms;
        let p = self.scale.partition_ms;
        for s in &mut self.series {
            s.retain(|&ts, _| (ts.div_euclid(p) + 1) * p > cutoff);
        }
    }

    /// Expected select result: `(labels, samples as bits)` sorted by labels.
    fn select(
        &self,
        series: Option<usize>,
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<(i64, u64)>)> {
        let mut out: Vec<_> = (0..SERIES.len())
            .filter(|&s| series.is_none_or(|x| x == s))
            .map(|s| {
                let samples: Vec<(i64, u64)> = if start <= end {
                    self.series[s]
                        .range(start..=end)
                        .map(|(&t, &v)| (t, v))
                        .collect()
                } else {
                    Vec::new()
                };
                (labels(s), samples)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn non_empty_series(&self) -> usize {
        self.series.iter().filter(|s| !s.is_empty()).count()
    }
}

fn got(
    store: &Store,
    series: Option<usize>,
    start: i64,
    end: i64,
) -> Vec<(Labels, Vec<(i64, u64)>)> {
    let matchers: Vec<Matcher> = series
        .map(|s| vec![Matcher::equal("s", SERIES[s])])
        .unwrap_or_default();
    store
        .select(&matchers, start, end)
        .unwrap()
        .into_iter()
        .map(|s| {
            let samples = s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            (s.labels, samples)
        })
        .collect()
}

fn run(scale: Scale, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = scratch_dir();
    let dir = dir.path();
    let opts = || scale.opts();
    let mut store = Some(Store::open(dir, opts()).unwrap());
    let mut model = Model {
        scale,
        series: Default::default(),
        max_ts: None,
    };
    let mut cursor = scale.start;
    for (step, op) in ops.iter().enumerate() {
        let s = store.as_ref().unwrap();
        match op {
            Op::Append { advance, samples } => {
                cursor += advance;
                let batch: Vec<(usize, i64, f64)> = samples
                    .iter()
                    .map(|&(s, off, v)| (s, cursor + off, v))
                    .collect();
                let refused = model.append(&batch);
                let store_batch: Vec<(Labels, i64, f64)> =
                    batch.iter().map(|&(s, t, v)| (labels(s), t, v)).collect();
                let report = s.append(&store_batch).unwrap();
                let expected: Vec<(usize, RejectReason)> = refused
                    .iter()
                    .map(|&i| (i, RejectReason::OutOfWindow))
                    .collect();
                prop_assert_eq!(&report.rejected, &expected, "step {}: refusals", step);
                prop_assert_eq!(report.rejected_total, refused.len());
                prop_assert_eq!(report.accepted, batch.len() - refused.len());
            }
            Op::Flush => s.flush().unwrap(),
            Op::Compact => s.compact().unwrap(),
            Op::Maintain => {
                s.maintain().unwrap();
                model.retention();
            }
            Op::Reopen => {
                drop(store.take());
                store = Some(Store::open(dir, opts()).unwrap());
            }
            Op::CloseOpen => {
                store.take().unwrap().close().unwrap();
                store = Some(Store::open(dir, opts()).unwrap());
            }
            Op::Delete(x) => {
                let n = s.delete_series(&[Matcher::equal("s", SERIES[*x])]).unwrap();
                let had = !model.series[*x].is_empty();
                prop_assert_eq!(n, usize::from(had), "step {}: deleted count", step);
                model.series[*x].clear();
            }
            Op::Select { series, from, len } => {
                let (start, end) = (cursor + from, cursor + from + len);
                prop_assert_eq!(
                    got(s, *series, start, end),
                    model.select(*series, start, end),
                    "step {}: select {:?} [{}, {}]",
                    step,
                    series,
                    start,
                    end
                );
            }
        }
        let s = store.as_ref().unwrap();
        prop_assert_eq!(
            got(s, None, i64::MIN, i64::MAX),
            model.select(None, i64::MIN, i64::MAX),
            "step {}: contents after {:?}",
            step,
            op
        );
        let stats = s.stats();
        prop_assert_eq!(stats.max_time, model.max_ts, "step {}: max_time", step);
        prop_assert_eq!(
            s.series_count(),
            model.non_empty_series(),
            "step {}: series in the dictionary",
            step
        );
    }
    // Whatever the sequence, a final reopen brings back the same contents.
    drop(store.take());
    let store = Store::open(dir, opts()).unwrap();
    prop_assert_eq!(
        got(&store, None, i64::MIN, i64::MAX),
        model.select(None, i64::MIN, i64::MAX),
        "after the final reopen"
    );
    store.close().unwrap();
    Ok(())
}

/// A scratch directory, in memory (`/dev/shm`) where there is one: this test checks the
/// store's logic, not the disk, and fjall's fsyncs of keyspace creation (a new partition
/// every few appends here) would otherwise dominate its running time.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("ward-store-model-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn tiny_partitions_match_a_last_write_wins_model(ops in tiny_ops()) {
        run(TINY, &ops)?;
    }

    #[test]
    fn scrapes_with_jitter_match_a_last_write_wins_model(ops in scrape_ops()) {
        run(TINY, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn wide_gaps_match_a_last_write_wins_model(ops in wide_ops()) {
        run(WIDE, &ops)?;
    }
}
