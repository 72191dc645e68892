//! kill -9 recovery, for real, in a loop.
//!
//! The parent test re-executes this test binary as a child writer (`crash_child_writer`, with
//! `WARD_STORE_CRASH_CHILD=<dir>`) that opens a store with synchronous durability, tiny
//! chunks, a small checkpoint threshold, 10-minute partitions, a 5-minute out-of-order window,
//! 20 minutes of retention and a background maintenance thread running every few
//! milliseconds, so that checkpoints, chunk sealing, cold compaction, retention and dictionary
//! pruning all happen while it may be killed. The child appends deterministic batches (several
//! series that come and go, out-of-order samples, rewrites of earlier timestamps, duplicates
//! within a batch) forever, printing `ack <n>` after each append returns. The parent SIGKILLs
//! it after a seeded-random number of acknowledgements (sometimes a few milliseconds later,
//! mid-batch), reopens the store and checks it against a last-write-wins model: it opens,
//! every acknowledged batch is there with exactly the modelled values (bit for bit), no
//! timestamp appears twice, nothing of a batch beyond the one in flight exists, the batch in
//! flight is all there or not at all, and a partition is either exactly as modelled or — only
//! if retention may have dropped it — entirely gone, never partly, and never back once gone.
//! The next round's child continues in the same directory. The loop runs with synchronous
//! durability and, shorter, with buffered durability, which promises the same against a kill.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use ward_store::{Durability, Labels, STALE_NAN, Store, StoreOptions};

const CHILD_ENV: &str = "WARD_STORE_CRASH_CHILD";
const FIRST_ENV: &str = "WARD_STORE_CRASH_FIRST";
const DURABILITY_ENV: &str = "WARD_STORE_CRASH_DURABILITY";
const CHILD_TEST: &str = "crash_child_writer";

const T0: i64 = 1_700_000_000_000;
/// Data time per batch.
const STEP_MS: i64 = 20_000;
const SERIES: u64 = 8;
const PARTITION_MS: i64 = 10 * 60_000;
const WINDOW_MS: i64 = 5 * 60_000;
const RETENTION_MS: i64 = 20 * 60_000;
/// Longest wait for one line of the child's output.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

fn opts(maintenance: bool, durability: Durability) -> StoreOptions {
    StoreOptions {
        durability,
        chunk_samples: 8,
        checkpoint_bytes: 16 * 1024,
        checkpoint_interval: Duration::from_millis(300),
        maintenance_interval: maintenance.then_some(Duration::from_millis(5)),
        partition: Duration::from_millis(PARTITION_MS as u64),
        out_of_order_window: Duration::from_millis(WINDOW_MS as u64),
        retention: Duration::from_millis(RETENTION_MS as u64),
        cache_bytes: 4 << 20,
        ..StoreOptions::default()
    }
}

fn mix(mut x: u64) -> u64 {
    // SplitMix64.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Series `s` writes in batch `n` unless it is in one of its idle stretches (100 batches,
/// longer than the retention, so its dictionary entry is pruned and later recreated).
fn active(n: u64, s: u64) -> bool {
    !(n / 100 + s).is_multiple_of(3)
}

fn labels(s: u64) -> Labels {
    Labels::from_pairs([("__name__", "crash_metric"), ("s", &s.to_string())]).unwrap()
}

/// Batch `n`: `(series, ts, value)`. Every sample stays within the out-of-order window of the
/// newest timestamp of batches `..= n`, so nothing is ever refused.
fn batch(n: u64) -> Vec<(u64, i64, f64)> {
    let base = T0 + n as i64 * STEP_MS;
    let mut out = Vec::new();
    let mut idx = 0u64;
    let mut value = || {
        idx += 1;
        let id = n * 1_000 + idx;
        if mix(id).is_multiple_of(23) {
            f64::from_bits(STALE_NAN)
        } else {
            id as f64 + 0.25
        }
    };
    for s in 0..SERIES {
        if !active(n, s) {
            continue;
        }
        let h = mix((n << 8) | s);
        if h.is_multiple_of(3) {
            // Rewrite a timestamp of one of the 10 previous batches.
            let j = 1 + ((h >> 8) % 10) as i64;
            let k = ((h >> 16) % 4) as i64;
            out.push((s, base - j * STEP_MS + k * STEP_MS / 4, value()));
        }
        for k in 0..4 {
            out.push((s, base + k * STEP_MS / 4, value()));
        }
        if h % 5 == 1 {
            // Off the grid, up to 250 s back.
            out.push((s, base - 1 - ((h >> 24) % 250_000) as i64, value()));
        }
        if h % 7 == 2 {
            // A duplicate within the batch: the later one wins.
            out.push((s, base + STEP_MS / 4, value()));
        }
    }
    out
}

/// The child writer: does nothing unless the parent set `WARD_STORE_CRASH_CHILD`.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let first: u64 = std::env::var(FIRST_ENV).unwrap().parse().unwrap();
    let durability = durability(&std::env::var(DURABILITY_ENV).unwrap());
    let store = Store::open(&dir, opts(true, durability)).unwrap();
    let names: Vec<Labels> = (0..SERIES).map(labels).collect();
    let mut out = std::io::stdout().lock();
    // The test harness may have left "test crash_child_writer ... " without a newline.
    writeln!(out).unwrap();
    for n in first.. {
        let b: Vec<(Labels, i64, f64)> = batch(n)
            .into_iter()
            .map(|(s, t, v)| (names[s as usize].clone(), t, v))
            .collect();
        let report = store.append(&b).unwrap();
        assert_eq!(report.rejected_total, 0, "batch {n}: {report:?}");
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

fn durability(name: &str) -> Durability {
    match name {
        "sync" => Durability::Sync,
        // The interval only bounds what a power loss takes: a kill must lose nothing acked.
        "buffered" => Durability::Buffered {
            interval: Duration::from_secs(3600),
        },
        other => panic!("unknown durability {other:?}"),
    }
}

/// Kills and reaps the child however the parent leaves the scope.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Samples: `(series, ts) -> value bits`.
type Samples = BTreeMap<(u64, i64), u64>;
/// Samples by partition.
type Partitions = BTreeMap<i64, Samples>;

/// The state after batches `..= n`.
fn model(n: u64) -> Samples {
    let mut m = BTreeMap::new();
    for b in 1..=n {
        for (s, t, v) in batch(b) {
            m.insert((s, t), v.to_bits());
        }
    }
    m
}

fn by_partition(m: &Samples) -> Partitions {
    let mut out = Partitions::new();
    for (&(s, t), &v) in m {
        out.entry(t.div_euclid(PARTITION_MS))
            .or_default()
            .insert((s, t), v);
    }
    out
}

/// Whether `got` is the state after batch `n`, allowing partitions that retention may have
/// dropped to be gone whole. Returns the partitions found gone, or why it is not.
fn matches(got: &Partitions, n: u64, gone_before: &BTreeSet<i64>) -> Result<BTreeSet<i64>, String> {
    let want_all = model(n);
    let max = want_all.keys().map(|&(_, t)| t).max().unwrap_or(i64::MIN);
    let cutoff = max - RETENTION_MS;
    let want = by_partition(&want_all);
    let mut gone = BTreeSet::new();
    let empty = BTreeMap::new();
    for pid in want.keys().chain(got.keys()).collect::<BTreeSet<_>>() {
        let w = want.get(pid).unwrap_or(&empty);
        let g = got.get(pid).unwrap_or(&empty);
        let expired = (pid + 1) * PARTITION_MS <= cutoff;
        if g.is_empty() && expired {
            gone.insert(*pid);
            continue;
        }
        if gone_before.contains(pid) {
            return Err(format!(
                "partition {pid}, dropped by retention before, is back with {} samples",
                g.len()
            ));
        }
        if g != w {
            let missing: Vec<_> = w
                .iter()
                .filter(|(k, v)| g.get(k) != Some(v))
                .take(5)
                .collect();
            let extra: Vec<_> = g
                .iter()
                .filter(|(k, v)| w.get(k) != Some(v))
                .take(5)
                .collect();
            return Err(format!(
                "partition {pid} (expired: {expired}): {} samples, model {}; \
                 model's not found (first 5): {missing:?}; found, not the model's: {extra:?}",
                g.len(),
                w.len()
            ));
        }
    }
    Ok(gone)
}

fn read_store(dir: &Path) -> (Partitions, Option<i64>) {
    let store = Store::open(dir, opts(false, Durability::Sync))
        .unwrap_or_else(|e| panic!("reopen failed: {e}"));
    let mut all = BTreeMap::new();
    for series in store.select(&[], i64::MIN, i64::MAX).unwrap() {
        let s: u64 = series.labels.get("s").unwrap().parse().unwrap();
        for w in series.samples.windows(2) {
            assert!(
                w[0].0 < w[1].0,
                "series {s}: timestamps not strictly increasing: {w:?}"
            );
        }
        for (t, v) in series.samples {
            all.insert((s, t), v.to_bits());
        }
    }
    let max = store.stats().max_time;
    store.close().unwrap();
    (by_partition(&all), max)
}

#[test]
fn kill_9_in_a_loop_loses_nothing_acknowledged() {
    kill_loop("sync", 10, 0x5eed);
}

/// Buffered durability promises the same against a kill (not against a power loss): an
/// acknowledged append is in the OS's hands.
#[test]
fn kill_9_with_buffered_durability_loses_nothing_acknowledged() {
    kill_loop("buffered", 5, 0xb0ff);
}

fn kill_loop(durability: &str, rounds: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // Another seed explores other kill points: WARD_STORE_CRASH_SEED=<n>.
    let mut rng = std::env::var("WARD_STORE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(seed);
    let mut next = || {
        rng = mix(rng);
        rng
    };
    let mut first = 1u64;
    let mut gone: BTreeSet<i64> = BTreeSet::new();
    for round in 0..rounds {
        let target = 10 + next() % 300;
        let linger_us = match next() % 3 {
            0 => 0,
            _ => next() % 8_000,
        };
        let stderr_path = logs.path().join(format!("child-{round}.stderr"));
        let child = Command::new(&exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(FIRST_ENV, first.to_string())
            .env(DURABILITY_ENV, durability)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut child = Reaper(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let child_err = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let ack = |line: &str| line.strip_prefix("ack ").map(|n| n.parse::<u64>().unwrap());
        let mut last: Option<u64> = None;
        let mut acks = 0;
        while acks < target {
            match rx.recv_timeout(LINE_TIMEOUT) {
                Ok(line) => {
                    if let Some(n) = ack(&line) {
                        assert_eq!(n, last.map_or(first, |l| l + 1), "acks out of sequence");
                        last = Some(n);
                        acks += 1;
                    }
                }
                Err(e) => panic!(
                    "round {round}: child stopped after {acks} acks ({e:?}); its stderr:\n{}",
                    child_err()
                ),
            }
        }
        if linger_us > 0 {
            // Let the child get into its next batch (or a checkpoint) before the kill.
            std::thread::sleep(Duration::from_micros(linger_us));
        }
        child.0.kill().unwrap();
        let status = child.0.wait().unwrap();
        // What the child printed before it died: the acks the parent has not read yet.
        reader.join().unwrap();
        for line in rx.try_iter() {
            if let Some(n) = ack(&line) {
                assert_eq!(n, last.map_or(first, |l| l + 1), "acks out of sequence");
                last = Some(n);
            }
        }
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "round {round}: the child did not die of the kill: {status}; its stderr:\n{}",
                child_err()
            );
        }
        let last = last.unwrap();

        let (got, max_time) = read_store(dir.path());
        // The batch in flight (`last + 1`) is there whole or not at all.
        let found = match matches(&got, last, &gone) {
            Ok(g) => (last, g),
            Err(without) => match matches(&got, last + 1, &gone) {
                Ok(g) => (last + 1, g),
                Err(with) => panic!(
                    "round {round}: after ack {last} (acks from {first}) the store is neither \
                     the state after batch {last}: {without}\nnor after batch {}: {with}",
                    last + 1
                ),
            },
        };
        let (state, now_gone) = found;
        let model_max = model(state).keys().map(|&(_, t)| t).max();
        assert_eq!(max_time, model_max, "round {round}: max_time");
        eprintln!(
            "{durability} round {round}: batches {first}..={last} acked (killed {linger_us} us after ack \
             {target} of this round), store holds batch {state}, partitions {} with data, \
             {} dropped by retention",
            got.len(),
            now_gone.len()
        );
        gone.extend(now_gone);
        first = state + 1;
    }
    assert!(
        !gone.is_empty(),
        "the loop never got as far as retention: make the rounds longer"
    );
}
