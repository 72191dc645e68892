//! Faults and concurrency.
//!
//! - **Full disk**: a child writer (this test binary re-executed with
//!   `WARD_STORE_DISK_CHILD=<dir>`) runs under `ulimit -f` with `SIGXFSZ` ignored, so writes
//!   past 2 MiB in a file fail with `EFBIG` as they would on a full disk. It appends until
//!   appends fail, reporting every acknowledgement and error; it must get errors (not die of a
//!   signal or a panic) and exit cleanly. Reopened without the limit, the store must hold every
//!   acknowledged sample exactly, each failed batch whole or not at all, nothing else, and take
//!   writes again.
//! - **Concurrency**: 4 writers (one of them also flushing, one compacting) and 2 readers on one
//!   `Arc<Store>` with a background maintenance thread checkpointing and compacting underneath.
//!   Readers never see a timestamp twice or out of order, never miss a sample whose append
//!   returned before the read started, and never see a value that was not written for its
//!   timestamp; at the end (and after a reopen) every accepted sample reads back exactly.
//! - **Corrupt format marker**: garbage, empty, binary or oversized `WARD_STORE` markers, or a
//!   directory in its place, give a clear error naming the marker, not a panic, and the store
//!   opens intact once the marker is restored.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use ward_store::{Durability, Labels, Matcher, RejectReason, Store, StoreOptions};

const T0: i64 = 1_700_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// Kills and reaps the child however the parent leaves the scope.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Full disk
// ---------------------------------------------------------------------------------------

const DISK_CHILD_ENV: &str = "WARD_STORE_DISK_CHILD";
const DISK_CHILD_TEST: &str = "full_disk_child_writer";
/// `ulimit -f` in 512-byte blocks (POSIX `sh`): 64 MiB per file. fjall preallocates each
/// journal file to 64 MiB (`set_len`), so any lower limit fails the open rather than a write;
/// at exactly 64 MiB the journal fails once it is written past its preallocated length (fjall
/// rotates it past 64,000,000 bytes only when a memtable flushes, which this writer never
/// causes: one partition, no compaction).
const FILE_LIMIT_BLOCKS: u32 = 64 * 1024 * 2;
const DISK_SERIES: i64 = 4;
const DISK_PER_SERIES: i64 = 50;
/// New series per batch, each with ~12 KiB of incompressible labels: the journal fills in a
/// few dozen appends.
const DISK_FAT_SERIES: u64 = 40;
/// The child gives up after this many appends without an error (the test then fails).
const DISK_MAX_BATCHES: u64 = 2_000;
/// ... and stops after this many errors in a row.
const DISK_MAX_ERRORS: u32 = 5;

fn mix(mut x: u64) -> u64 {
    // SplitMix64.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn disk_opts() -> StoreOptions {
    StoreOptions {
        durability: Durability::Sync,
        partition: Duration::from_secs(24 * 3600),
        out_of_order_window: Duration::from_secs(3600),
        retention: Duration::from_secs(365 * 24 * 3600),
        checkpoint_bytes: 256 * 1024,
        maintenance_interval: Some(Duration::from_millis(20)),
        ..StoreOptions::default()
    }
}

/// Batch `n` of the full-disk writer: 4 series with 50 new timestamps each, and 40 new series
/// with large label sets; every value unique.
fn disk_batch(n: u64) -> Vec<(Labels, i64, f64)> {
    let mut out = Vec::new();
    let ni = n as i64;
    for s in 0..DISK_SERIES {
        let l = labels(&[("__name__", "disk_fill"), ("s", &s.to_string())]);
        for i in 0..DISK_PER_SERIES {
            let k = ni * DISK_PER_SERIES + i;
            out.push((
                l.clone(),
                T0 + k * 1_000,
                (k * DISK_SERIES + s) as f64 * 0.5,
            ));
        }
    }
    for k in 0..DISK_FAT_SERIES {
        let mut pairs = vec![
            ("__name__".to_string(), "disk_fat".to_string()),
            ("n".to_string(), n.to_string()),
            ("k".to_string(), k.to_string()),
        ];
        for j in 0..6u64 {
            let mut h = mix((n << 20) | (k << 8) | j);
            let value: String = (0..125)
                .map(|_| {
                    h = mix(h);
                    format!("{h:016x}")
                })
                .collect();
            pairs.push((format!("l{j}"), value));
        }
        let l = Labels::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str()))).unwrap();
        out.push((l, T0 + ni * DISK_PER_SERIES * 1_000, (n * 1_000 + k) as f64));
    }
    out
}

/// The full-disk child: does nothing unless the parent set `WARD_STORE_DISK_CHILD`. Never
/// panics on a store error: it reports it and carries on, until errors repeat.
#[test]
fn full_disk_child_writer() {
    let Some(dir) = std::env::var_os(DISK_CHILD_ENV) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    // The test harness may have left "test full_disk_child_writer ... " without a newline.
    writeln!(out).unwrap();
    let store = match Store::open(&dir, disk_opts()) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "err open: {e}").unwrap();
            return;
        }
    };
    let mut errors = 0;
    for n in 0..DISK_MAX_BATCHES {
        match store.append(&disk_batch(n)) {
            Ok(r) if r.rejected_total == 0 => {
                errors = 0;
                writeln!(out, "ack {n}").unwrap();
            }
            Ok(r) => writeln!(out, "refused {n}: {r:?}").unwrap(),
            Err(e) => {
                errors += 1;
                writeln!(out, "err {n}: {e}").unwrap();
            }
        }
        out.flush().unwrap();
        if errors >= DISK_MAX_ERRORS {
            break;
        }
    }
    // Reads still work on a store that cannot write.
    match store.select(&[], T0, T0) {
        Ok(_) => writeln!(out, "select ok").unwrap(),
        Err(e) => writeln!(out, "select err: {e}").unwrap(),
    }
    match store.close() {
        Ok(()) => writeln!(out, "close ok").unwrap(),
        Err(e) => writeln!(out, "close err: {e}").unwrap(),
    }
}

#[test]
fn full_disk_fails_appends_cleanly_and_keeps_every_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let stderr_path = logs.path().join("child.stderr");
    let exe = std::env::current_exe().unwrap();
    let script = format!(r#"trap "" XFSZ; ulimit -f {FILE_LIMIT_BLOCKS}; exec "$0" "$@""#);
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&exe)
        .args([
            "--exact",
            DISK_CHILD_TEST,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DISK_CHILD_ENV, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let child_err = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                if let Some(n) = line.strip_prefix("ack ") {
                    acked.push(n.parse::<u64>().unwrap());
                } else if let Some(rest) = line.strip_prefix("err ") {
                    let (n, _) = rest.split_once(':').unwrap();
                    if let Ok(n) = n.parse::<u64>() {
                        failed.push(n);
                    }
                    lines.push(line);
                } else if !line.is_empty() {
                    lines.push(line);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "the child wrote nothing for 30 s after {} acks; its stderr:\n{}",
                acked.len(),
                child_err()
            ),
        }
    }
    let status = child.0.wait().unwrap();
    let stderr = child_err();
    assert!(
        status.success() && !stderr.contains("panicked"),
        "the child did not exit cleanly: {status}; its output:\n{}\nits stderr:\n{stderr}",
        lines.join("\n")
    );
    assert!(
        !failed.is_empty(),
        "the file size limit never failed an append (after {} acks): lower it",
        acked.len()
    );
    assert!(!acked.is_empty(), "nothing was acknowledged: {lines:?}");
    assert!(
        lines.iter().all(|l| !l.starts_with("refused")),
        "samples were refused: {lines:?}"
    );
    eprintln!(
        "full disk: {} batches acked, {} failed; child said:\n{}",
        acked.len(),
        failed.len(),
        lines.join("\n")
    );

    let store = Store::open(dir.path(), disk_opts())
        .unwrap_or_else(|e| panic!("reopen after a full disk failed: {e}"));
    let mut got: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for s in store.select(&[], i64::MIN, i64::MAX).unwrap() {
        for w in s.samples.windows(2) {
            assert!(
                w[0].0 < w[1].0,
                "{}: timestamps out of order: {w:?}",
                s.labels
            );
        }
        for &(t, v) in &s.samples {
            got.insert((s.labels.to_string(), t), v.to_bits());
        }
    }
    let key = |l: &Labels, t: i64| (l.to_string(), t);
    for &n in &acked {
        for (l, t, v) in disk_batch(n) {
            assert_eq!(
                got.remove(&key(&l, t)),
                Some(v.to_bits()),
                "acknowledged batch {n}: {l} at {t} is missing or wrong"
            );
        }
    }
    for &n in &failed {
        let batch = disk_batch(n);
        let present = batch
            .iter()
            .filter(|(l, t, _)| got.contains_key(&key(l, *t)))
            .count();
        assert!(
            present == 0 || present == batch.len(),
            "failed batch {n} is partly there: {present} of {} samples",
            batch.len()
        );
        for (l, t, v) in batch {
            if let Some(bits) = got.remove(&key(&l, t)) {
                assert_eq!(
                    bits,
                    v.to_bits(),
                    "failed batch {n}: {l} at {t} has a wrong value"
                );
            }
        }
    }
    assert!(
        got.is_empty(),
        "samples nobody wrote: {:?}",
        got.iter().take(5).collect::<Vec<_>>()
    );

    // And the store takes writes again.
    let n = acked.iter().chain(&failed).max().unwrap() + 1;
    let batch = disk_batch(n);
    assert_eq!(store.append(&batch).unwrap().accepted, batch.len());
    let s = store
        .select(&[Matcher::equal("s", "0")], batch[0].1, batch[0].1)
        .unwrap();
    assert_eq!(s[0].samples, vec![(batch[0].1, batch[0].2)]);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

const WRITERS: usize = 4;
const READERS: usize = 2;
const BATCHES: usize = 150;
const PER_BATCH: i64 = 20;
const TICK_MS: i64 = 100;

/// A value that says which timestamp and which version (0 first write, 1 rewrite) it is.
fn versioned(ts: i64, version: i64) -> f64 {
    ((ts - T0) * 4 + version) as f64
}

fn version_of(ts: i64, v: f64) -> Option<i64> {
    let x = v as i64;
    (x as f64 == v && x.div_euclid(4) == ts - T0).then_some(x.rem_euclid(4))
}

/// What one writer did: `ts -> version` acknowledged, and `ts -> highest version` attempted.
#[derive(Default)]
struct Written {
    acked: Mutex<BTreeMap<i64, i64>>,
    attempted: Mutex<BTreeMap<i64, i64>>,
}

fn writer_labels(w: usize) -> Labels {
    labels(&[("__name__", "concurrent"), ("w", &w.to_string())])
}

fn writer(store: &Store, w: usize, clock: &AtomicI64, written: &Written) {
    let l = writer_labels(w);
    let mut mine: Vec<i64> = Vec::new();
    for b in 0..BATCHES {
        let base = clock.fetch_add(PER_BATCH * TICK_MS, Ordering::SeqCst);
        let mut batch: Vec<(i64, i64)> = (0..PER_BATCH).map(|i| (base + i * TICK_MS, 0)).collect();
        if b % 3 == 1 && mine.len() > 40 {
            // Rewrite two of this writer's recent timestamps, and one twice within the batch.
            let t = mine[mine.len() - 1 - (b * 7) % 40];
            batch.insert(5, (t, 1));
            batch.push((t, 2));
            batch.push((mine[mine.len() - 1 - (b * 13) % 40], 1));
        }
        {
            let mut attempted = written.attempted.lock().unwrap();
            for &(t, ver) in &batch {
                let e = attempted.entry(t).or_insert(ver);
                *e = (*e).max(ver);
            }
        }
        let rows: Vec<(Labels, i64, f64)> = batch
            .iter()
            .map(|&(t, ver)| (l.clone(), t, versioned(t, ver)))
            .collect();
        let report = store.append(&rows).unwrap();
        let refused: Vec<usize> = report
            .rejected
            .iter()
            .map(|(i, r)| {
                assert_eq!(*r, RejectReason::OutOfWindow);
                *i
            })
            .collect();
        assert_eq!(report.rejected_total, refused.len());
        let mut acked = written.acked.lock().unwrap();
        for (i, &(t, ver)) in batch.iter().enumerate() {
            if !refused.contains(&i) {
                // A later write in the batch wins even with a lower version.
                acked.insert(t, ver);
                if ver == 0 {
                    mine.push(t);
                }
            }
        }
        drop(acked);
        if w == 0 && b % 40 == 39 {
            store.flush().unwrap();
        }
        if w == 1 && b % 60 == 59 {
            store.compact().unwrap();
        }
    }
}

fn reader(store: &Store, written: &[Written], done: &AtomicBool) -> usize {
    let mut reads = 0;
    let mut round = 0usize;
    while !done.load(Ordering::SeqCst) || round < 3 {
        round += 1;
        let w = round % WRITERS;
        let before = written[w].acked.lock().unwrap().clone();
        let result = store
            .select(&[Matcher::equal("w", w.to_string())], i64::MIN, i64::MAX)
            .unwrap();
        let attempted = written[w].attempted.lock().unwrap().clone();
        reads += 1;
        let samples = result.first().map(|s| s.samples.as_slice()).unwrap_or(&[]);
        assert!(result.len() <= 1);
        for win in samples.windows(2) {
            assert!(
                win[0].0 < win[1].0,
                "writer {w}: timestamps twice or out of order: {win:?}"
            );
        }
        let seen: BTreeMap<i64, f64> = samples.iter().copied().collect();
        for (&t, &v) in &seen {
            let ver = version_of(t, v)
                .unwrap_or_else(|| panic!("writer {w}: value {v} was never written at {t}"));
            assert!(
                attempted.get(&t).is_some_and(|&a| ver <= a),
                "writer {w}: version {ver} at {t} not written (yet)"
            );
        }
        for &t in before.keys() {
            assert!(
                seen.contains_key(&t),
                "writer {w}: sample at {t}, acknowledged before the read began, is missing"
            );
        }
    }
    reads
}

fn check_final(store: &Store, written: &[Written]) {
    for (w, wr) in written.iter().enumerate() {
        let want: Vec<(i64, u64)> = wr
            .acked
            .lock()
            .unwrap()
            .iter()
            .map(|(&t, &ver)| (t, versioned(t, ver).to_bits()))
            .collect();
        let got = store
            .select(&[Matcher::equal("w", w.to_string())], i64::MIN, i64::MAX)
            .unwrap();
        let got: Vec<(i64, u64)> = got[0]
            .samples
            .iter()
            .map(|&(t, v)| (t, v.to_bits()))
            .collect();
        assert_eq!(got.len(), want.len(), "writer {w}: sample count");
        assert_eq!(got, want, "writer {w}");
    }
}

#[test]
fn concurrent_writers_and_readers_see_consistent_data() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || StoreOptions {
        durability: Durability::Sync,
        chunk_samples: 8,
        checkpoint_bytes: 8 * 1024,
        maintenance_interval: Some(Duration::from_millis(2)),
        partition: Duration::from_secs(60),
        out_of_order_window: Duration::from_secs(600),
        retention: Duration::from_secs(365 * 24 * 3600),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open(dir.path(), opts()).unwrap());
    let written: Arc<Vec<Written>> = Arc::new((0..WRITERS).map(|_| Written::default()).collect());
    let clock = Arc::new(AtomicI64::new(T0));
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, written, clock) = (store.clone(), written.clone(), clock.clone());
            std::thread::spawn(move || writer(&store, w, &clock, &written[w]))
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (store, written, done) = (store.clone(), written.clone(), done.clone());
            std::thread::spawn(move || reader(&store, &written, &done))
        })
        .collect();
    let mut failure = None;
    for h in writers {
        if let Err(e) = h.join() {
            failure.get_or_insert(e);
        }
    }
    done.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for h in readers {
        match h.join() {
            Ok(n) => reads += n,
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        std::panic::resume_unwind(e);
    }
    let refused = store.stats().rejected["out_of_window"];
    eprintln!("concurrency: {reads} reads, {refused} samples refused as out of window");
    check_final(&store, &written);
    let store = Arc::into_inner(store).unwrap();
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    check_final(&store, &written);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Corrupt marker
// ---------------------------------------------------------------------------------------

#[test]
fn corrupt_format_marker_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || StoreOptions {
        maintenance_interval: None,
        ..StoreOptions::default()
    };
    let series = labels(&[("__name__", "kept")]);
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        store.append(&[(series.clone(), T0, 42.0)]).unwrap();
        store.close().unwrap();
    }
    let marker = dir.path().join("WARD_STORE");
    let good = std::fs::read(&marker).unwrap();
    type Corrupt = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Corrupt)> = vec![
        (
            "garbage text",
            Box::new(|p: &Path| std::fs::write(p, "hello, world\n").unwrap()),
        ),
        ("empty", Box::new(|p: &Path| std::fs::write(p, "").unwrap())),
        (
            "no version",
            Box::new(|p: &Path| std::fs::write(p, "ward-store format \n").unwrap()),
        ),
        (
            "negative version",
            Box::new(|p: &Path| std::fs::write(p, "ward-store format -1\n").unwrap()),
        ),
        (
            "oversized version",
            Box::new(|p: &Path| {
                std::fs::write(p, "ward-store format 99999999999999999999\n").unwrap()
            }),
        ),
        (
            "binary",
            Box::new(|p: &Path| std::fs::write(p, [0xff, 0xfe, 0x00, 0x9c, 0x80]).unwrap()),
        ),
        (
            "directory",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                std::fs::create_dir(p).unwrap();
            }),
        ),
    ];
    for (what, corrupt) in cases {
        corrupt(&marker);
        let outcome = std::panic::catch_unwind(|| Store::open(dir.path(), opts()));
        let err = match outcome {
            Ok(Ok(_)) => panic!("{what} marker: the store opened"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => panic!("{what} marker: open panicked"),
        };
        assert!(
            err.contains("WARD_STORE"),
            "{what} marker: the error does not name it: {err}"
        );
        if marker.is_dir() {
            std::fs::remove_dir(&marker).unwrap();
        }
        std::fs::write(&marker, &good).unwrap();
    }
    let store = Store::open(dir.path(), opts()).unwrap();
    let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(got[0].samples, vec![(T0, 42.0)]);
    store.close().unwrap();
}
