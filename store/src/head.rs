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
//! sample are dropped at checkpoints.
//!
//! Every sealed chunk gets a sequence number; readers merge overlapping chunks by timestamp,
//! the highest sequence winning, which is how "last write wins" survives sealing, recovery
//! and compaction.

use crate::codec::gorilla::{self, Encoder};
use crate::keys::{IdBuildHasher, SeriesId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl Default for HeadSeries {
    fn default() -> Self {
        Self {
            open: None,
            ooo: Vec::new(),
            sealed: Vec::new(),
            kept: Vec::new(),
            disk_floor: i64::MAX,
        }
    }
}

impl HeadSeries {
    fn is_empty(&self) -> bool {
        self.open.is_none() && self.ooo.is_empty() && self.sealed.is_empty() && self.kept.is_empty()
    }

    /// Drops the kept chunks `drop` selects; the disk floor rises past them.
    fn forget(&mut self, drop: impl Fn(&Sealed) -> bool) {
        let mut floor = self.disk_floor;
        self.kept.retain(|c| {
            let gone = drop(c);
            if gone {
                floor = floor.max(c.max_ts);
            }
            !gone
        });
        self.disk_floor = floor;
    }
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
}

impl Default for Head {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }
}

/// Partitioning of timestamps, as the head needs it.
pub trait PartitionOf {
    /// The partition holding `ts`.
    fn pid(&self, ts: i64) -> i64;
}

impl Head {
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
                    s.open = Some((pid, Encoder::new(ts, value)));
                }
            }
            Some(_) => match s.ooo.binary_search_by_key(&ts, |&(t, _)| t) {
                Ok(i) => s.ooo[i].1 = value,
                Err(i) => s.ooo.insert(i, (ts, value)),
            },
            None => s.open = Some((pid, Encoder::new(ts, value))),
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

    /// Moves sealed chunks that are now written to the kept ones (the last `KEPT_CHUNKS`).
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
                // Grown one at a time, the kept chunks never hold more than
                // `KEPT_CHUNKS + 1` slots (doubling would leave 8 per series).
                s.kept.reserve_exact(1);
                s.kept.push(chunk);
                if s.kept.len() > KEPT_CHUNKS {
                    // Oldest by end: the one whose samples are least likely to be asked for.
                    s.kept.sort_by_key(|k| k.max_ts);
                    let excess = s.kept.len() - KEPT_CHUNKS;
                    let floor = s.kept[..excess].iter().map(|k| k.max_ts).max();
                    s.kept.drain(..excess);
                    s.disk_floor = s.disk_floor.max(floor.unwrap_or(i64::MIN));
                }
            }
        }
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
            shard.retain(|_, s| {
                s.forget(|c| c.max_ts < before || gone(c.pid));
                !s.is_empty()
            });
        }
    }

    /// Removes a series (deletion).
    pub fn remove(&self, id: SeriesId) {
        self.shard(id).remove(&id);
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
}
