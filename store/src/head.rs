//! The head: recent samples of every series, in memory, already durable in the WAL.
//!
//! Each series has one open Gorilla chunk that takes in-order samples, a small sorted buffer
//! for out-of-order and duplicate samples (which win over the open chunk on equal timestamps,
//! being written later), and the chunks it sealed that are not yet written to their
//! partition. A series is sealed when open + out-of-order samples reach the chunk size, when
//! a sample crosses into another partition, and at checkpoints.
//!
//! Once written, a series' last `KEPT_CHUNKS` chunks stay in memory too ("kept"), as
//! Prometheus's head keeps its recent chunks: a selection whose start lies after everything
//! of the series that is only on disk (`disk_floor`) is answered from the head alone, with
//! no LSM lookup. A series the head met before this process wrote all of it (recovered from
//! the WAL, or seen again after its head entry was dropped) has an unknown floor and is
//! always read from disk as well. Kept chunks older than `KEEP_FOR_MS` behind the newest
//! sample are dropped at checkpoints, and all series' kept chunks together hold at most the
//! head's budget (`StoreOptions::kept_bytes`): past it, the chunks that end earliest go
//! first, whatever their series, until a quarter of the budget is free again.
//!
//! Every sealed chunk gets a sequence number; readers merge overlapping chunks by timestamp,
//! the highest sequence winning, which is how "last write wins" survives sealing, recovery
//! and compaction.

use crate::codec::gorilla::{self, Encoder};
use crate::keys::{IdBuildHasher, SeriesId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const SHARDS: usize = 64;
/// Written chunks a series keeps in memory: 2 h at a 15 s scrape interval, about 700 bytes.
pub const KEPT_CHUNKS: usize = 4;
/// How far behind the newest sample kept chunks may end before a checkpoint drops them.
pub const KEEP_FOR_MS: i64 = 3 * 3_600_000;

/// Sequence of the open chunk and out-of-order buffer: newer than anything sealed.
const SEQ_OPEN: u64 = u64::MAX - 1;
const SEQ_OOO: u64 = u64::MAX;

/// A chunk sealed in the head, waiting to be written to its partition.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// Series.
    pub id: SeriesId,
    /// Partition of every sample in the chunk.
    pub pid: i64,
    /// Chunk sequence.
    pub seq: u64,
    /// First timestamp.
    pub min_ts: i64,
    /// Last timestamp.
    pub max_ts: i64,
    /// Encoded chunk.
    pub bytes: Arc<[u8]>,
}

#[derive(Debug)]
struct HeadSeries {
    open: Option<(i64, Encoder)>,
    ooo: Vec<(i64, f64)>,
    sealed: Vec<Sealed>,
    /// Written chunks still held, oldest first.
    kept: Vec<Sealed>,
    /// Every sample of the series that is on disk but not in this entry has a timestamp at
    /// most this; `i64::MAX` when unknown.
    disk_floor: i64,
    /// Encoded bytes of the last chunk sealed in order: room the next open chunk starts with.
    last_len: u16,
}

impl Default for HeadSeries {
    fn default() -> Self {
        Self {
            open: None,
            ooo: Vec::new(),
            sealed: Vec::new(),
            kept: Vec::new(),
            disk_floor: i64::MAX,
            last_len: 0,
        }
    }
}

impl HeadSeries {
    fn is_empty(&self) -> bool {
        self.open.is_none() && self.ooo.is_empty() && self.sealed.is_empty() && self.kept.is_empty()
    }

    /// A new open chunk, with room for as many bytes as the last one took and an eighth more.
    fn encoder(&self, ts: i64, value: f64) -> Encoder {
        let last = usize::from(self.last_len);
        let room = if last == 0 { 0 } else { last + last / 8 + 8 };
        Encoder::with_capacity(ts, value, room)
    }

    /// Drops the kept chunks `drop` selects; the disk floor rises past them. Returns their
    /// cost (`kept_cost`).
    fn forget(&mut self, drop: impl Fn(&Sealed) -> bool) -> usize {
        let mut floor = self.disk_floor;
        let mut freed = 0;
        self.kept.retain(|c| {
            let gone = drop(c);
            if gone {
                floor = floor.max(c.max_ts);
                freed += kept_cost(c);
            }
            !gone
        });
        if self.kept.is_empty() {
            self.kept = Vec::new();
        }
        self.disk_floor = floor;
        freed
    }
}

/// Memory a kept chunk holds: its bytes, its entry and the `Arc`'s counters.
fn kept_cost(c: &Sealed) -> usize {
    c.bytes.len() + std::mem::size_of::<Sealed>() + 2 * std::mem::size_of::<usize>()
}

/// Allocates chunk sequence numbers; the store reserves ranges durably before use.
#[derive(Debug, Default)]
pub struct SeqAlloc {
    next: AtomicU64,
}

impl SeqAlloc {
    /// Starts at `next`.
    pub fn new(next: u64) -> Self {
        Self {
            next: AtomicU64::new(next),
        }
    }

    /// The next number.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The number `next` would return.
    pub fn peek(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

/// The head of every series.
#[derive(Debug)]
pub struct Head {
    shards: Vec<Mutex<HashMap<SeriesId, HeadSeries, IdBuildHasher>>>,
    /// Bytes all kept chunks may hold together (`kept_cost`).
    kept_budget: usize,
    /// Bytes they hold.
    kept_bytes: AtomicUsize,
    /// A thread is bringing the kept chunks back under budget.
    shrinking: AtomicBool,
}

impl Default for Head {
    fn default() -> Self {
        Self::new(usize::MAX)
    }
}

/// Partitioning of timestamps, as the head needs it.
pub trait PartitionOf {
    /// The partition holding `ts`.
    fn pid(&self, ts: i64) -> i64;
}

impl Head {
    /// An empty head whose kept chunks hold at most `kept_budget` bytes (0: none are kept).
    pub fn new(kept_budget: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            kept_budget,
            kept_bytes: AtomicUsize::new(0),
            shrinking: AtomicBool::new(false),
        }
    }

    fn shard(&self, id: SeriesId) -> MutexGuard<'_, HashMap<SeriesId, HeadSeries, IdBuildHasher>> {
        let i = (id as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a sample. Returns true when the series sealed a chunk.
    pub fn push(
        &self,
        id: SeriesId,
        ts: i64,
        value: f64,
        parts: &impl PartitionOf,
        chunk_samples: usize,
        seq: &SeqAlloc,
    ) -> bool {
        let mut shard = self.shard(id);
        let s = shard.entry(id).or_default();
        let pid = parts.pid(ts);
        let mut sealed = false;
        match &mut s.open {
            Some((open_pid, enc)) if ts > enc.last_ts() => {
                if *open_pid == pid {
                    enc.push(ts, value);
                } else {
                    seal(id, s, parts, seq);
                    sealed = true;
                    s.open = Some((pid, s.encoder(ts, value)));
                }
            }
            Some(_) => match s.ooo.binary_search_by_key(&ts, |&(t, _)| t) {
                Ok(i) => s.ooo[i].1 = value,
                Err(i) => s.ooo.insert(i, (ts, value)),
            },
            None => s.open = Some((pid, s.encoder(ts, value))),
        }
        let held = s.open.as_ref().map_or(0, |(_, e)| e.len()) + s.ooo.len();
        if held >= chunk_samples {
            seal(id, s, parts, seq);
            sealed = true;
        }
        sealed
    }

    /// Seals every open chunk (checkpoint).
    pub fn seal_all(&self, parts: &impl PartitionOf, seq: &SeqAlloc) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (&id, s) in shard.iter_mut() {
                seal(id, s, parts, seq);
            }
        }
    }

    /// Copies of the sealed chunks of `ids` (or of every series with `None`).
    pub fn sealed(&self, ids: Option<&[SeriesId]>) -> Vec<Sealed> {
        let mut out = Vec::new();
        match ids {
            Some(ids) => {
                for &id in ids {
                    if let Some(s) = self.shard(id).get(&id) {
                        out.extend(s.sealed.iter().cloned());
                    }
                }
            }
            None => {
                for shard in &self.shards {
                    let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
                    for s in shard.values() {
                        out.extend(s.sealed.iter().cloned());
                    }
                }
            }
        }
        out
    }

    /// Moves sealed chunks that are now written to the kept ones (the last `KEPT_CHUNKS`),
    /// then brings the kept chunks back under budget if they went over.
    pub fn written(&self, chunks: &[Sealed]) {
        for c in chunks {
            let mut shard = self.shard(c.id);
            if let Some(s) = shard.get_mut(&c.id)
                && let Some(i) = s.sealed.iter().position(|x| x.seq == c.seq)
            {
                let chunk = s.sealed.remove(i);
                if s.sealed.is_empty() {
                    // Empty until the next seal, minutes away: hold no capacity meanwhile.
                    s.sealed = Vec::new();
                }
                if self.kept_budget == 0 {
                    s.disk_floor = s.disk_floor.max(chunk.max_ts);
                    continue;
                }
                self.kept_bytes
                    .fetch_add(kept_cost(&chunk), Ordering::Relaxed);
                // Grown one at a time, the kept chunks never hold more than
                // `KEPT_CHUNKS + 1` slots (doubling would leave 8 per series).
                s.kept.reserve_exact(1);
                s.kept.push(chunk);
                if s.kept.len() > KEPT_CHUNKS {
                    // Oldest by end: the one whose samples are least likely to be asked for.
                    s.kept.sort_by_key(|k| k.max_ts);
                    let excess = s.kept.len() - KEPT_CHUNKS;
                    let floor = s.kept[..excess].iter().map(|k| k.max_ts).max();
                    let freed: usize = s.kept.drain(..excess).map(|k| kept_cost(&k)).sum();
                    self.kept_bytes.fetch_sub(freed, Ordering::Relaxed);
                    s.disk_floor = s.disk_floor.max(floor.unwrap_or(i64::MIN));
                }
            }
        }
        if self.kept_bytes.load(Ordering::Relaxed) > self.kept_budget {
            self.shrink_kept();
        }
    }

    /// Drops the kept chunks that end earliest, all series together, until they hold at
    /// most three quarters of the budget (so that this runs once per quarter of the budget
    /// written, not at every chunk). Series sampled together seal together, their chunks
    /// ending at the same instant: among those, the lower series ids go first. One thread at
    /// a time; others go on meanwhile.
    fn shrink_kept(&self) {
        if self.shrinking.swap(true, Ordering::Acquire) {
            return;
        }
        let target = self.kept_budget - self.kept_budget / 4;
        let mut chunks: Vec<(i64, SeriesId, usize)> = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (&id, s) in shard.iter() {
                chunks.extend(s.kept.iter().map(|c| (c.max_ts, id, kept_cost(c))));
            }
        }
        chunks.sort_unstable();
        let mut total: usize = chunks.iter().map(|c| c.2).sum();
        // The last chunk to go, in (end, series) order: it and everything before it goes.
        let mut cut = None;
        for &(end, id, cost) in &chunks {
            if total <= target {
                break;
            }
            total -= cost;
            cut = Some((end, id));
        }
        drop(chunks);
        if let Some(cut) = cut {
            for shard in &self.shards {
                let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
                let mut freed = 0;
                shard.retain(|&id, s| {
                    freed += s.forget(|c| (c.max_ts, id) <= cut);
                    !s.is_empty()
                });
                self.kept_bytes.fetch_sub(freed, Ordering::Relaxed);
            }
        }
        self.shrinking.store(false, Ordering::Release);
    }

    /// Bytes the kept chunks hold (`kept_cost` summed).
    pub fn kept_bytes(&self) -> usize {
        self.kept_bytes.load(Ordering::Relaxed)
    }

    /// Notes that `id` is a series this process created: nothing of it is on disk yet.
    pub fn created(&self, id: SeriesId) {
        if let Some(s) = self.shard(id).get_mut(&id)
            && s.kept.is_empty()
        {
            s.disk_floor = i64::MIN;
        }
    }

    /// Drops kept chunks that end before `before` or lie in a partition `gone` says is
    /// dropped, and series left with nothing.
    pub fn trim(&self, before: i64, gone: impl Fn(i64) -> bool) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let mut freed = 0;
            shard.retain(|_, s| {
                freed += s.forget(|c| c.max_ts < before || gone(c.pid));
                !s.is_empty()
            });
            self.kept_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Removes a series (deletion).
    pub fn remove(&self, id: SeriesId) {
        if let Some(s) = self.shard(id).remove(&id) {
            let freed: usize = s.kept.iter().map(kept_cost).sum();
            self.kept_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Whether the head holds anything of `id`.
    pub fn contains(&self, id: SeriesId) -> bool {
        self.shard(id).contains_key(&id)
    }

    /// Number of series in the head and bytes of samples it holds.
    pub fn size(&self) -> (usize, usize) {
        let (mut n, mut bytes) = (0, 0);
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            n += shard.len();
            for s in shard.values() {
                bytes += s.open.as_ref().map_or(0, |(_, e)| e.size())
                    + s.ooo.len() * 16
                    + s.sealed.iter().map(|c| c.bytes.len()).sum::<usize>()
                    + s.kept.iter().map(|c| c.bytes.len()).sum::<usize>();
            }
        }
        (n, bytes)
    }

    /// Samples of `id` in `[start, end]` with the sequence that orders equal timestamps.
    /// True when the head holds every sample of the series from `start` on: the disk need
    /// not be read.
    pub fn read(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        out: &mut Vec<(i64, u64, f64)>,
    ) -> crate::Result<bool> {
        let shard = self.shard(id);
        let Some(s) = shard.get(&id) else {
            return Ok(false);
        };
        // Kept chunks are on disk too: read them here only when the disk is not read.
        let complete = start > s.disk_floor;
        let kept: &[Sealed] = if complete { &s.kept } else { &[] };
        let mut buf = Vec::new();
        for c in kept.iter().chain(&s.sealed) {
            if c.max_ts < start || c.min_ts > end {
                continue;
            }
            buf.clear();
            crate::codec::decode(&c.bytes, &mut buf)?;
            out.extend(
                buf.iter()
                    .filter(|(t, _)| (start..=end).contains(t))
                    .map(|&(t, v)| (t, c.seq, v)),
            );
        }
        if let Some((_, enc)) = &s.open
            && enc.last_ts() >= start
            && enc.first_ts() <= end
        {
            buf.clear();
            enc.decode_into(&mut buf)?;
            out.extend(
                buf.iter()
                    .filter(|(t, _)| (start..=end).contains(t))
                    .map(|&(t, v)| (t, SEQ_OPEN, v)),
            );
        }
        out.extend(
            s.ooo
                .iter()
                .filter(|(t, _)| (start..=end).contains(t))
                .map(|&(t, v)| (t, SEQ_OOO, v)),
        );
        Ok(complete)
    }
}

/// Merges the open chunk and out-of-order buffer into sealed chunks, one per partition.
fn seal(id: SeriesId, s: &mut HeadSeries, parts: &impl PartitionOf, seq: &SeqAlloc) {
    if s.ooo.is_empty()
        && let Some((pid, enc)) = s.open.take()
    {
        // In-order samples only: the open chunk (one partition by construction) is already
        // the chunk to seal, byte for byte what re-encoding its samples would give.
        s.last_len = u16::try_from(enc.encoded_len()).unwrap_or(u16::MAX);
        // Usually the only sealed chunk, written at once: room for one (a first push would
        // make room for four).
        s.sealed.reserve_exact(1);
        s.sealed.push(Sealed {
            id,
            pid,
            seq: seq.next(),
            min_ts: enc.first_ts(),
            max_ts: enc.last_ts(),
            bytes: enc.to_bytes().into(),
        });
        return;
    }
    let mut samples = Vec::new();
    if let Some((_, enc)) = s.open.take()
        && let Err(e) = enc.decode_into(&mut samples)
    {
        // The encoder only ever holds what it encoded itself: this is a bug, not bad input.
        tracing::error!(
            series = id,
            "head chunk does not decode, its samples are lost: {e}"
        );
    }
    let ooo = std::mem::take(&mut s.ooo);
    if samples.is_empty() && ooo.is_empty() {
        return;
    }
    let merged = merge_sorted(&samples, &ooo);
    let mut rest = merged.as_slice();
    while let Some(&(t0, _)) = rest.first() {
        let pid = parts.pid(t0);
        let n = rest
            .iter()
            .take_while(|&&(t, _)| parts.pid(t) == pid)
            .count();
        let (part, tail) = rest.split_at(n);
        rest = tail;
        if let Some(bytes) = gorilla::encode(part) {
            s.sealed.push(Sealed {
                id,
                pid,
                seq: seq.next(),
                min_ts: t0,
                max_ts: part[n - 1].0,
                bytes: bytes.into(),
            });
        }
    }
}

/// Merges two timestamp-sorted runs; `newer` wins on equal timestamps.
fn merge_sorted(older: &[(i64, f64)], newer: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < older.len() && j < newer.len() {
        match older[i].0.cmp(&newer[j].0) {
            std::cmp::Ordering::Less => {
                out.push(older[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(newer[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(newer[j]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&older[i..]);
    out.extend_from_slice(&newer[j..]);
    out
}

/// Sorts `(ts, seq, value)` by timestamp and keeps, per timestamp, the highest sequence.
pub fn resolve(mut samples: Vec<(i64, u64, f64)>) -> Vec<(i64, f64)> {
    samples.sort_unstable_by_key(|&(t, s, _)| (t, s));
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(samples.len());
    for (t, _, v) in samples {
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => out.push((t, v)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Day;
    impl PartitionOf for Day {
        fn pid(&self, ts: i64) -> i64 {
            ts.div_euclid(1000)
        }
    }

    fn read(h: &Head, id: SeriesId) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        h.read(id, i64::MIN, i64::MAX, &mut out).unwrap();
        resolve(out)
    }

    #[test]
    fn out_of_order_and_duplicates_merge_last_write_wins() {
        let h = Head::default();
        let seq = SeqAlloc::new(1);
        for (t, v) in [
            (10, 1.0),
            (30, 3.0),
            (20, 2.0),
            (30, 4.0),
            (10, 5.0),
            (40, 6.0),
        ] {
            h.push(7, t, v, &Day, 120, &seq);
        }
        assert_eq!(
            read(&h, 7),
            vec![(10, 5.0), (20, 2.0), (30, 4.0), (40, 6.0)]
        );
        h.seal_all(&Day, &seq);
        assert_eq!(
            read(&h, 7),
            vec![(10, 5.0), (20, 2.0), (30, 4.0), (40, 6.0)]
        );
        // A later write over a sealed sample wins.
        h.push(7, 20, 9.0, &Day, 120, &seq);
        assert_eq!(read(&h, 7)[1], (20, 9.0));
    }

    #[test]
    fn chunks_split_at_partitions_and_size() {
        let h = Head::default();
        let seq = SeqAlloc::new(1);
        for t in 0..25 {
            h.push(1, t * 100, t as f64, &Day, 4, &seq);
        }
        let sealed = h.sealed(None);
        assert!(
            sealed
                .iter()
                .all(|c| c.max_ts - c.min_ts < 1000 && Day.pid(c.min_ts) == c.pid)
        );
        assert_eq!(read(&h, 1).len(), 25);
        h.written(&sealed);
        assert_eq!(h.sealed(None).len(), 0);
    }

    #[test]
    fn kept_chunks_stay_under_the_budget_newest_first() {
        // 100 series sampled together, 8 chunks of 4 samples each, written as a store
        // writes them: all series' chunks of a round end at the same instant. With 20 kB a
        // whole round of chunks fits; with 8 kB not even that, and part of a round goes.
        for budget in [20_000, 8_000] {
            let h = Head::new(budget);
            let seq = SeqAlloc::new(1);
            for round in 0..8 {
                for id in 0..100 {
                    for k in 0..4 {
                        let t = (round * 4 + k) * 10;
                        h.push(id, t, (t + id as i64) as f64, &Day, 4, &seq);
                    }
                    if round == 0 {
                        h.created(id);
                    }
                }
                h.written(&h.sealed(None));
                assert!(
                    h.kept_bytes() <= budget,
                    "round {round}: {}",
                    h.kept_bytes()
                );
            }
            // What is kept is the newest: no kept chunk ends before one that was dropped
            // (whose end the series' disk floor rose to).
            let (mut min_kept, mut max_floor, mut total, mut holding) = (i64::MAX, i64::MIN, 0, 0);
            for shard in &h.shards {
                for s in shard.lock().unwrap().values() {
                    min_kept =
                        min_kept.min(s.kept.iter().map(|c| c.max_ts).min().unwrap_or(i64::MAX));
                    max_floor = max_floor.max(s.disk_floor);
                    total += s.kept.iter().map(kept_cost).sum::<usize>();
                    holding += usize::from(!s.kept.is_empty());
                }
            }
            assert!(
                min_kept >= max_floor,
                "{budget}: kept {min_kept}, dropped {max_floor}"
            );
            assert_eq!(
                total,
                h.kept_bytes(),
                "the running count matches the chunks"
            );
            assert!(
                total > budget / 2,
                "{total}: the budget is used, not emptied"
            );
            assert!(holding >= 50, "{budget}: {holding} series keep a chunk");
            // A series whose kept chunks were all dropped is read from disk; one that keeps
            // its last chunk answers a selection within it from memory.
            let mut out = Vec::new();
            assert!(!h.read(0, 0, 400, &mut out).unwrap());
            out.clear();
            assert!(h.read(99, 305, 400, &mut out).unwrap());
            assert!(out.iter().any(|&(t, _, _)| t == 310));
            // Trimming and removal give their bytes back.
            h.remove(5);
            h.trim(i64::MAX, |_| false);
            assert_eq!(h.kept_bytes(), 0);
        }
    }

    #[test]
    fn a_zero_budget_keeps_nothing_and_reads_the_disk() {
        let h = Head::new(0);
        let seq = SeqAlloc::new(1);
        for t in 0..8 {
            h.push(1, t * 10, t as f64, &Day, 4, &seq);
            h.created(1);
        }
        h.written(&h.sealed(None));
        assert_eq!(h.kept_bytes(), 0);
        // Both chunks (0..=30, 40..=70) are on disk only: a read from before 70 needs the
        // disk and finds nothing in memory; after it, memory is the whole answer.
        let mut out = Vec::new();
        assert!(!h.read(1, 0, 100, &mut out).unwrap());
        assert!(out.is_empty());
        assert!(h.read(1, 71, 100, &mut out).unwrap());
    }
}
