//! The store: opening, appending, selecting, checkpoints, retention, compaction, deletion.
//!
//! Writes go through one ingest lock that orders them: new series enter the dictionary and
//! each partition's index in one fjall batch, then the samples go to the write-ahead log
//! (`wal.rs`, files of ward's own) and into the head. Before `append` returns, fjall's journal
//! (when the batch wrote to it) and then the log are synced (group commit), so a record
//! acknowledged never names a series recovery cannot find. Sealed chunks are written to
//! their partition right after, outside the lock.

use crate::codec;
use crate::head::{self, Head, PartitionOf, SeqAlloc};
use crate::index::{self, storage};
use crate::keys::{self, IdBuildHasher, LabelsBuildHasher, SeriesId};
use crate::options::{Durability, StoreOptions, ms};
use crate::times::{TimesReader, TimesWriter};
use crate::{Error, Labels, Matcher, Result, wal};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// Version of the on-disk layout this build writes.
pub const FORMAT_VERSION: u32 = 4;
/// Older versions this build reads, and upgrades in place on open (re-marked, so that older
/// builds refuse the directory): format 1 differs only in its cold blocks, which are still
/// decoded (`codec::TAG_BLOCK_V1`); format 2 in that its blocks never share timestamps;
/// formats 1 to 3 in that their write-ahead log is in fjall keyspaces (`wal_<g>`, then
/// `wal`), replayed at open and dropped.
const READS_FORMATS: [u32; 3] = [1, 2, 3];
/// The write-ahead log's directory, in the store's.
const WAL_DIR: &str = "wal";
const MARKER: &str = "WARD_STORE";
const META_KEY: &[u8] = b"store";
const SEQ_RESERVE: u64 = 1 << 20;
const BLOCK_SAMPLES: usize = 16_384;
const CHUNK_WRITE_BATCH_BYTES: usize = 4 << 20;

/// A selected series: its labels and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels, including `__name__`.
    pub labels: Labels,
    /// `(timestamp ms, value)` pairs, ascending by timestamp, one per timestamp.
    pub samples: Vec<(i64, f64)>,
}

/// Limits of one select; exceeding one fails the select with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct SelectLimits {
    /// Most series returned.
    pub max_series: usize,
    /// Most samples loaded, over all series.
    pub max_samples: usize,
}

impl Default for SelectLimits {
    fn default() -> Self {
        Self {
            max_series: usize::MAX,
            max_samples: usize::MAX,
        }
    }
}

/// Why a sample of an append was refused. The rest of the batch is written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Older than the newest sample in the store minus the out-of-order window.
    OutOfWindow,
    /// The series has no `__name__`.
    MissingMetricName,
    /// The label set is larger than the store accepts.
    LabelsTooLarge,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OutOfWindow => "sample is older than the out-of-order window",
            Self::MissingMetricName => "series has no metric name",
            Self::LabelsTooLarge => "label set exceeds the size limit",
        })
    }
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Samples written (durable when `append` returned).
    pub accepted: usize,
    /// Samples refused: index in the batch and reason (the first 100).
    pub rejected: Vec<(usize, RejectReason)>,
    /// Refused samples in all.
    pub rejected_total: usize,
}

/// Counters and sizes of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Series in the dictionary (every series with data in a retained partition).
    pub series: usize,
    /// Series with samples in the head.
    pub head_series: usize,
    /// Bytes of samples held in the head.
    pub head_bytes: usize,
    /// Memory the head's kept chunks (written, held for recent queries) take, chunks and
    /// their entries: at most `StoreOptions::kept_bytes`.
    pub kept_bytes: usize,
    /// Time partitions on disk.
    pub partitions: usize,
    /// Samples accepted since open.
    pub samples_appended: u64,
    /// Samples refused since open, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Bytes of WAL written since the last checkpoint.
    pub wal_bytes: u64,
    /// Bytes on disk (fjall's count: tables, blobs and journals).
    pub disk_bytes: u64,
    /// Bytes in every keyspace's memtables (written, not yet in a table): bounded by the
    /// memtable options, one active and the ones being flushed per keyspace.
    pub memtable_bytes: u64,
    /// Bytes in the block cache (at most `StoreOptions::cache_bytes`).
    pub cache_bytes: u64,
    /// Start of the oldest partition: no sample is older.
    pub min_time: Option<i64>,
    /// Newest timestamp in the store.
    pub max_time: Option<i64>,
}

/// Cardinality figures over a time range, as Prometheus's `/api/v1/status/tsdb` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cardinality {
    /// Distinct series in the range.
    pub series: usize,
    /// Series per metric name, largest first.
    pub series_by_metric: Vec<(String, usize)>,
    /// Distinct values per label name, largest first.
    pub values_by_label: Vec<(String, usize)>,
    /// Series per `name=value` pair, largest first.
    pub series_by_pair: Vec<(String, usize)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    partition_ms: i64,
    seq_reserved: u64,
    max_ts: Option<i64>,
    compacted: BTreeSet<i64>,
}

struct Partition {
    pid: i64,
    data: Keyspace,
    index: Keyspace,
    /// Series whose index entries this process knows are written.
    indexed: Mutex<Option<HashSet<SeriesId, IdBuildHasher>>>,
    /// No chunk or block of the partition covers more ms than this (rounded up to a power of
    /// two; `i64::MAX` when unknown): a selection of `[start, end]` need not read chunks
    /// that begin before `start - max_span`.
    max_span: AtomicI64,
}

impl Partition {
    /// Notes a chunk covering `[min_ts, max_ts]` about to be written in `wb`. Raised before
    /// the batch commits, so that a reader who sees the chunk sees the span too; persisted
    /// as a mark key, which concurrent writers add but never overwrite.
    fn widen(&self, wb: &mut fjall::OwnedWriteBatch, min_ts: i64, max_ts: i64) {
        let (span, key) = keys::span_mark(max_ts.saturating_sub(min_ts));
        if self.max_span.fetch_max(span, Ordering::SeqCst) < span {
            wb.insert(&self.data, key, []);
        }
    }

    /// Runs `f` on the set of series the partition's index holds (read from the index the
    /// first time).
    fn with_indexed<R>(
        &self,
        path: &Path,
        f: impl FnOnce(&mut HashSet<SeriesId, IdBuildHasher>) -> R,
    ) -> Result<R> {
        let mut guard = self.indexed.lock().unwrap_or_else(|e| e.into_inner());
        let set = match &mut *guard {
            Some(s) => s,
            None => guard.insert(index::all_ids(&self.index, path)?.into_iter().collect()),
        };
        Ok(f(set))
    }

    /// Where a scan for chunks of a selection starting at `start` may begin.
    fn scan_from(&self, start: i64) -> i64 {
        start.saturating_sub(self.max_span.load(Ordering::SeqCst))
    }
}

#[derive(Default)]
struct Dict {
    by_labels: HashMap<Arc<Labels>, SeriesId, LabelsBuildHasher>,
    by_id: HashMap<SeriesId, Arc<Labels>>,
    /// Callers' `Arc<Labels>` allocations (see [`Store::append_shared`]) -> series. Cleared
    /// whenever a series leaves the dictionary.
    by_ptr: HashMap<usize, (std::sync::Weak<Labels>, SeriesId), IdBuildHasher>,
}

struct Ingest {
    /// The write-ahead log's current segment; every older one is deleted at the next
    /// checkpoint.
    log: wal::Log,
    /// WAL keyspaces of formats 1 to 3 (`wal_<g>`, then `wal`), oldest first: replayed at
    /// open, dropped at the checkpoint that ends the open.
    legacy_wal: Vec<Keyspace>,
    last_checkpoint: Instant,
    seq_reserved: u64,
    next_series: SeriesId,
}

#[derive(Default)]
struct Counters {
    appended: AtomicU64,
    out_of_window: AtomicU64,
    missing_name: AtomicU64,
    labels_too_large: AtomicU64,
}

struct Inner {
    path: PathBuf,
    opts: StoreOptions,
    partition_ms: i64,
    db: Database,
    meta: Keyspace,
    series: Keyspace,
    dict: RwLock<Dict>,
    parts: RwLock<BTreeMap<i64, Arc<Partition>>>,
    compacted: Mutex<BTreeSet<i64>>,
    head: Head,
    seq: SeqAlloc,
    ingest: Mutex<Ingest>,
    max_ts: AtomicI64,
    /// Appends acknowledged or in flight (tickets) and how many of them are synced.
    written: AtomicU64,
    synced: AtomicU64,
    /// The last ticket whose append wrote to fjall (new series, index entries), and the last
    /// covered by a sync of fjall's journal: an append's sync skips the journal when nothing
    /// since its last sync needs it.
    journal_written: AtomicU64,
    journal_synced: AtomicU64,
    /// The log's current segment, for syncs outside the ingest lock.
    log_file: Mutex<Arc<std::fs::File>>,
    /// A sync of the current segment failed. Linux reports a writeback error once per open
    /// file, so a later sync of it succeeding proves nothing: no append is acknowledged
    /// until a checkpoint has put the head in fjall and started a new segment.
    log_broken: AtomicBool,
    sync_lock: Mutex<()>,
    maintenance: Mutex<()>,
    /// Held (shared) by appends while they write sealed chunks outside the ingest lock, and
    /// (exclusive, after the ingest lock) by deletion and retention, so that no chunk of a
    /// deleted series or dropped partition is written back behind them.
    chunk_writes: RwLock<()>,
    counters: Counters,
    closed: AtomicBool,
    // Last: removes a temporary store's directory after the database is dropped.
    _temp: Option<TempDir>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl PartitionOf for Inner {
    fn pid(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_ms)
    }
}

/// An embedded time-series store on fjall. Share it behind an `Arc`; every method takes
/// `&self` and is safe from many threads (calls that write or sync block: from async code,
/// call them through `spawn_blocking`).
pub struct Store {
    inner: Arc<Inner>,
    maintenance: Option<(Arc<StopSignal>, std::thread::JoinHandle<()>)>,
}

/// Tells the maintenance thread to stop: the flag and the condvar it waits on.
type StopSignal = (Mutex<bool>, Condvar);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `path`, replaying its write-ahead log.
    pub fn open(path: impl AsRef<Path>, opts: StoreOptions) -> Result<Self> {
        Self::open_inner(path.as_ref().to_path_buf(), opts, None)
    }

    /// A store in a fresh temporary directory, removed when the store is dropped.
    pub fn temporary(opts: StoreOptions) -> Result<Self> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ward-store-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        Self::open_inner(dir.clone(), opts, Some(TempDir(dir)))
    }

    fn open_inner(path: PathBuf, opts: StoreOptions, temp: Option<TempDir>) -> Result<Self> {
        std::fs::create_dir_all(&path).map_err(io("cannot create store directory", &path))?;
        let marker = path.join(MARKER);
        match std::fs::read_to_string(&marker) {
            Ok(text) => {
                let found = text
                    .trim()
                    .strip_prefix("ward-store format ")
                    .and_then(|v| v.parse::<u32>().ok())
                    .ok_or_else(|| Error::Corrupt(format!("unreadable {}", marker.display())))?;
                if READS_FORMATS.contains(&found) {
                    // From now on blocks of this format may be written: older builds must
                    // refuse the directory.
                    write_marker(&path, &marker)?;
                } else if found != FORMAT_VERSION {
                    return Err(Error::IncompatibleFormat {
                        path,
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let empty = std::fs::read_dir(&path)
                    .map_err(io("cannot list store directory", &path))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(Error::NotAStore { path });
                }
                write_marker(&path, &marker)?;
            }
            Err(e) => return Err(io("cannot read", &marker)(e)),
        }

        let st = |e| storage(&path, e);
        let db = Database::builder(path.join("lsm"))
            .cache_size(opts.cache_bytes)
            // WAL records are ids, timestamp deltas and raw float bits, and chunks come
            // compressed: LZ4 in the journal took ~12% of ingest CPU for little saved.
            .journal_compression(fjall::CompressionType::None)
            .open()
            .map_err(st)?;
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .map_err(st)?;
        let series = db
            .keyspace("series", || lz4(memtable(opts.memtable_bytes)))
            .map_err(st)?;
        let stored: Option<Meta> = match meta.get(META_KEY).map_err(st)? {
            Some(bytes) => Some(
                rmp_serde::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("store metadata: {e}")))?,
            ),
            None => None,
        };
        if let Some(m) = &stored
            && m.format != FORMAT_VERSION
            && !READS_FORMATS.contains(&m.format)
        {
            return Err(Error::IncompatibleFormat {
                path,
                found: m.format,
                expected: FORMAT_VERSION,
            });
        }
        let partition_ms = stored
            .as_ref()
            .map_or(ms(opts.partition), |m| m.partition_ms);
        if partition_ms != ms(opts.partition) {
            tracing::warn!(
                path = %path.display(),
                "store was created with {partition_ms} ms partitions; keeping them"
            );
        }
        let seq_start = stored.as_ref().map_or(1, |m| m.seq_reserved);
        let compacted = stored
            .as_ref()
            .map(|m| m.compacted.clone())
            .unwrap_or_default();

        // The series dictionary.
        let mut dict = Dict::default();
        let mut next_series: SeriesId = 1;
        for kv in series.prefix(b"i") {
            let (k, v) = kv.into_inner().map_err(st)?;
            let id: [u8; 8] = k
                .get(1..9)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| Error::Corrupt("series dictionary key".into()))?;
            let id = u64::from_be_bytes(id);
            let labels = Arc::new(keys::parse_canonical_labels(&v)?);
            next_series = next_series.max(id + 1);
            dict.by_labels.insert(labels.clone(), id);
            dict.by_id.insert(id, labels);
        }

        // Partitions and the WAL keyspaces of older formats.
        let mut pids = BTreeSet::new();
        let mut generations = BTreeMap::new();
        let mut format3_wal = false;
        for name in db.list_keyspace_names() {
            let name: &str = &name;
            if let Some(p) = name.strip_prefix("d_").and_then(|p| p.parse::<i64>().ok()) {
                pids.insert(p);
            } else if let Some(g) = name
                .strip_prefix("wal_")
                .and_then(|g| g.parse::<u64>().ok())
            {
                generations.insert(g, name.to_string());
            } else if name == "wal" {
                format3_wal = true;
            }
        }
        let mut parts = BTreeMap::new();
        for pid in pids {
            parts.insert(
                pid,
                Arc::new(open_partition(&db, &path, pid, opts.memtable_bytes)?),
            );
        }
        // Format 3's single log keyspace follows format 1 and 2's per-generation ones.
        let mut legacy_wal = Vec::new();
        for name in generations
            .values()
            .map(String::as_str)
            .chain(format3_wal.then_some("wal"))
        {
            legacy_wal.push(
                db.keyspace(name, KeyspaceCreateOptions::default)
                    .map_err(st)?,
            );
        }
        // This process appends to a segment of its own: what older ones hold is replayed,
        // then deleted by the checkpoint that ends the open.
        let wal_dir = path.join(WAL_DIR);
        if !wal_dir.exists() {
            std::fs::create_dir_all(&wal_dir)
                .map_err(io("cannot create WAL directory", &wal_dir))?;
            std::fs::File::open(&path)
                .and_then(|d| d.sync_all())
                .map_err(io("cannot sync", &path))?;
        }
        let (log, older_segments) = wal::Log::open(&wal_dir)?;

        let kept_bytes = opts.kept_bytes;
        let inner = Inner {
            opts,
            partition_ms,
            meta,
            series,
            dict: RwLock::new(dict),
            parts: RwLock::new(parts),
            compacted: Mutex::new(compacted),
            head: Head::new(kept_bytes),
            seq: SeqAlloc::new(seq_start),
            log_file: Mutex::new(log.file()),
            log_broken: AtomicBool::new(false),
            ingest: Mutex::new(Ingest {
                log,
                legacy_wal,
                last_checkpoint: Instant::now(),
                seq_reserved: seq_start,
                next_series,
            }),
            max_ts: AtomicI64::new(stored.as_ref().and_then(|m| m.max_ts).unwrap_or(i64::MIN)),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            journal_written: AtomicU64::new(0),
            journal_synced: AtomicU64::new(0),
            sync_lock: Mutex::new(()),
            maintenance: Mutex::new(()),
            chunk_writes: RwLock::new(()),
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            db,
            path,
            _temp: temp,
        };
        inner.recover(&older_segments)?;
        let path_for_thread = inner.path.clone();
        let inner = Arc::new(inner);
        let sync_every = match inner.opts.durability {
            Durability::Buffered { interval } => Some(interval),
            Durability::Sync => None,
        };
        let maintenance = if inner.opts.maintenance_interval.is_some() || sync_every.is_some() {
            let stop = Arc::new((Mutex::new(false), Condvar::new()));
            let thread = {
                let inner = inner.clone();
                let stop = stop.clone();
                let every = inner.opts.maintenance_interval;
                std::thread::Builder::new()
                    .name("ward-store-maint".into())
                    .spawn(move || maintenance_loop(&inner, &stop, every, sync_every))
                    .map_err(|source| Error::Io {
                        what: "cannot start the maintenance thread for",
                        path: path_for_thread,
                        source,
                    })?
            };
            Some((stop, thread))
        } else {
            None
        };
        Ok(Self { inner, maintenance })
    }

    /// Appends a batch of `(labels, timestamp ms, value)` and returns once it is durable (see
    /// [`Durability`]). Samples are merged in any order; an equal timestamp replaces the
    /// stored value (last write wins). Samples older than the out-of-order window, or of a
    /// series without a metric name, are refused and reported; the rest of the batch is
    /// written. A batch larger than the limit is refused whole.
    pub fn append<L: Borrow<Labels>>(&self, batch: &[(L, i64, f64)]) -> Result<AppendReport> {
        self.inner.append(batch, |_| None)
    }

    /// [`Store::append`] for callers that keep their label sets in `Arc`s across appends (a
    /// sampler writing the same series every round): the store remembers each `Arc`'s
    /// allocation (holding a `Weak`, so the address cannot be reused by another label set) and
    /// finds the series of a known one without hashing or comparing its labels.
    pub fn append_shared(&self, batch: &[(Arc<Labels>, i64, f64)]) -> Result<AppendReport> {
        self.inner.append(batch, Some)
    }

    /// Series matching every matcher with at least one sample in `[start, end]` (ms), sorted
    /// by labels, with their samples in that range.
    pub fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>> {
        self.inner
            .select(matchers, start, end, SelectLimits::default())
    }

    /// [`Store::select`] with limits on the series and samples it may load.
    pub fn select_limited(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        limits: SelectLimits,
    ) -> Result<Vec<Series>> {
        self.inner.select(matchers, start, end, limits)
    }

    /// Label sets of the series matching `matchers` in partitions overlapping `[start, end]`
    /// (partition granularity, as Prometheus answers at block granularity).
    pub fn series(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Labels>> {
        let mut out: Vec<Labels> = self
            .inner
            .matching_ids(matchers, start, end)?
            .into_values()
            .map(|l| (*l).clone())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Label names in partitions overlapping `[start, end]`, of series matching `matchers`
    /// (all series when empty).
    pub fn label_names(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            for p in self.inner.partitions(start, end) {
                index::label_names(&p.index, &self.inner.path, &mut out)?;
            }
        } else {
            for l in self.inner.matching_ids(matchers, start, end)?.values() {
                out.extend(l.iter().map(|l| l.name.clone()));
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Values of label `name` in partitions overlapping `[start, end]`, of series matching
    /// `matchers` (all series when empty).
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            for p in self.inner.partitions(start, end) {
                index::label_values(&p.index, &self.inner.path, name, &mut out)?;
            }
        } else {
            for l in self.inner.matching_ids(matchers, start, end)?.values() {
                if let Some(v) = l.get(name) {
                    out.insert(v.to_string());
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Number of series in the dictionary.
    pub fn series_count(&self) -> usize {
        self.inner.dict().by_id.len()
    }

    /// Series counts per metric, values per label and series per pair over `[start, end]`,
    /// the `top` largest of each.
    pub fn cardinality(&self, start: i64, end: i64, top: usize) -> Result<Cardinality> {
        self.inner.cardinality(start, end, top)
    }

    /// Counters and sizes.
    pub fn stats(&self) -> StoreStats {
        self.inner.stats()
    }

    /// Seals the head into chunks, writes them, syncs and drops the write-ahead log.
    pub fn flush(&self) -> Result<()> {
        let mut ingest = self.inner.lock_ingest()?;
        self.inner.checkpoint(&mut ingest)
    }

    /// Flushes, re-packs every closed partition (older than the out-of-order window) into
    /// cold blocks and compacts its LSM trees, then writes every keyspace's memtable to a
    /// table so that fjall can drop the journal files they kept alive, and compacts the
    /// series dictionary and the store's metadata.
    pub fn compact(&self) -> Result<()> {
        // One compaction at a time: the maintenance thread's and this one would do the
        // same work twice.
        let _one = self
            .inner
            .maintenance
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.flush()?;
        self.inner.compact_closed(true)?;
        self.inner.flush_memtables(false)?;
        // The dictionary and the store's metadata: one table each.
        let st = self.inner.st();
        for ks in [&self.inner.meta, &self.inner.series] {
            ks.rotate_memtable_and_wait().map_err(&st)?;
            ks.major_compact().map_err(&st)?;
        }
        Ok(())
    }

    /// One round of background maintenance: sync (buffered mode), checkpoint when due,
    /// retention, cold compaction of closed partitions.
    pub fn maintain(&self) -> Result<()> {
        self.inner.maintain()
    }

    /// Deletes every series matching `matchers`, over all time. Returns how many.
    pub fn delete_series(&self, matchers: &[Matcher]) -> Result<usize> {
        self.inner.delete_series(matchers)
    }

    /// Flushes and closes. Also done (without reporting errors) when the store is dropped.
    pub fn close(mut self) -> Result<()> {
        self.stop_maintenance();
        let r = self.flush().and_then(|()| self.inner.sync_all());
        self.inner.closed.store(true, Ordering::SeqCst);
        r
    }

    fn stop_maintenance(&mut self) {
        if let Some((stop, handle)) = self.maintenance.take() {
            *stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            stop.1.notify_all();
            let _ = handle.join();
        }
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_maintenance();
        if !self.inner.closed.swap(true, Ordering::SeqCst) {
            let _ = self.inner.sync_all();
        }
    }
}

/// Turns an I/O error on `p` into the store's error, saying what was being done.
fn io(what: &'static str, p: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let p = p.to_path_buf();
    move |source| Error::Io {
        what,
        path: p,
        source,
    }
}

/// Writes the format marker of this build, atomically and durably.
fn write_marker(path: &Path, marker: &Path) -> Result<()> {
    let tmp = path.join(format!("{MARKER}.tmp"));
    std::fs::write(&tmp, format!("ward-store format {FORMAT_VERSION}\n"))
        .map_err(io("cannot write", &tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io("cannot sync", &tmp))?;
    std::fs::rename(&tmp, marker).map_err(io("cannot write", marker))?;
    std::fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync", path))
}

/// Syncs the journal every `sync_every` (buffered durability) and runs maintenance every
/// `every`, until stopped.
fn maintenance_loop(
    inner: &Inner,
    stop: &StopSignal,
    every: Option<Duration>,
    sync_every: Option<Duration>,
) {
    let tick = match (every, sync_every) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return,
    };
    let mut last_maintenance = Instant::now();
    loop {
        {
            let guard = stop.0.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = stop
                .1
                .wait_timeout_while(guard, tick, |stopped| !*stopped)
                .unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
        }
        if sync_every.is_some()
            && let Err(e) = inner.sync_all()
        {
            tracing::error!(path = %inner.path.display(), "store sync failed: {e}");
        }
        if every.is_some_and(|every| last_maintenance.elapsed() >= every) {
            last_maintenance = Instant::now();
            if let Err(e) = inner.maintain() {
                tracing::error!(path = %inner.path.display(), "store maintenance failed: {e}");
            }
        }
    }
}

/// Keyspace options with a memtable of `bytes` (fjall's default is 64 MiB), the store's bound
/// on the memory fresh writes hold before they are written to a table (at least 1 MiB: below
/// that, flushes would write tables too small to be worth their files).
fn memtable(bytes: u64) -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(bytes.max(1 << 20))
}

/// Keyspace options compressing every table's data blocks with LZ4 (fjall's default leaves
/// the first two levels uncompressed; label sets and postings are text that shrinks ~4x).
fn lz4(opts: KeyspaceCreateOptions) -> KeyspaceCreateOptions {
    opts.data_block_compression_policy(fjall::config::CompressionPolicy::all(
        fjall::CompressionType::Lz4,
    ))
}

/// Levels of fjall's trees (its default); a major compaction writes to the last.
const LEVELS: usize = 7;
/// Size of the table blocks that hold cold blocks.
const COLD_TABLE_BLOCK: u32 = 64 << 10;

fn open_partition(db: &Database, path: &Path, pid: i64, memtable_bytes: u64) -> Result<Partition> {
    let st = |e| storage(path, e);
    // Chunks are compressed by the store itself: fjall's LZ4 would only cost time. Cold
    // blocks (kilobytes each, major-compacted into the last level) go in larger table blocks:
    // fewer block headers and index entries per block.
    let data = db
        .keyspace(&format!("d_{pid}"), || {
            let mut sizes = vec![4 << 10; LEVELS - 1];
            sizes.push(COLD_TABLE_BLOCK);
            memtable(memtable_bytes)
                .data_block_compression_policy(fjall::config::CompressionPolicy::disabled())
                .data_block_size_policy(fjall::config::BlockSizePolicy::new(sizes))
                .filter_policy(fjall::config::FilterPolicy::disabled())
        })
        .map_err(st)?;
    // Neither keyspace is read by key but by range (the only point reads, of shared
    // timestamp columns, find what they look for): no Bloom filters.
    let index = db
        .keyspace(&format!("i_{pid}"), || {
            lz4(memtable(memtable_bytes)).filter_policy(fjall::config::FilterPolicy::disabled())
        })
        .map_err(st)?;
    // The widest span marked; none: no chunks (a new partition), or written before marks.
    let max_span = match data.prefix(keys::SPAN_PREFIX).next_back() {
        Some(kv) => {
            let key = kv.key().map_err(st)?;
            keys::parse_span_mark(&key).unwrap_or(i64::MAX)
        }
        None if data.is_empty().map_err(st)? => 0,
        None => i64::MAX,
    };
    Ok(Partition {
        pid,
        data,
        index,
        indexed: Mutex::new(None),
        max_span: AtomicI64::new(max_span),
    })
}

impl Inner {
    fn st(&self) -> impl Fn(fjall::Error) -> Error + '_ {
        |e| storage(&self.path, e)
    }

    fn dict(&self) -> std::sync::RwLockReadGuard<'_, Dict> {
        self.dict.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_ingest(&self) -> Result<MutexGuard<'_, Ingest>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(self.ingest.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn partition(&self, pid: i64) -> Result<Arc<Partition>> {
        if let Some(p) = self
            .parts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pid)
        {
            return Ok(p.clone());
        }
        let mut parts = self.parts.write().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parts.get(&pid) {
            return Ok(p.clone());
        }
        let p = Arc::new(open_partition(
            &self.db,
            &self.path,
            pid,
            self.opts.memtable_bytes,
        )?);
        // A new partition has an empty index.
        *p.indexed.lock().unwrap_or_else(|e| e.into_inner()) = Some(HashSet::default());
        parts.insert(pid, p.clone());
        Ok(p)
    }

    /// Partitions overlapping `[start, end]`.
    fn partitions(&self, start: i64, end: i64) -> Vec<Arc<Partition>> {
        if start > end {
            return Vec::new();
        }
        let (a, b) = (self.pid(start), self.pid(end));
        self.parts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .range(a..=b)
            .map(|(_, p)| p.clone())
            .collect()
    }

    fn save_meta(&self, seq_reserved: u64) -> Result<()> {
        let m = Meta {
            format: FORMAT_VERSION,
            partition_ms: self.partition_ms,
            seq_reserved,
            max_ts: Some(self.max_ts.load(Ordering::SeqCst)).filter(|&t| t != i64::MIN),
            compacted: self
                .compacted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        let bytes = rmp_serde::to_vec(&m).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.meta.insert(META_KEY, bytes).map_err(self.st())
    }

    /// Makes sure `n` more chunk sequence numbers are reserved on disk before use.
    fn reserve_seq(&self, ingest: &mut Ingest, n: u64) -> Result<()> {
        if self.seq.peek() + n >= ingest.seq_reserved {
            let hi = self.seq.peek() + n + SEQ_RESERVE;
            self.save_meta(hi)?;
            ingest.seq_reserved = hi;
        }
        Ok(())
    }

    /// Replays what older processes logged (older formats' keyspaces, then segments older
    /// than this process's), then checkpoints: what was replayed is written as chunks and
    /// the logs it came from are deleted. A record is never replayed by two processes: one
    /// naming a series that never reached the dictionary (its append was never
    /// acknowledged) is skipped, and the id may be given to another series after this open.
    fn recover(&self, older: &[(u64, PathBuf)]) -> Result<()> {
        let mut ingest = self.ingest.lock().unwrap_or_else(|e| e.into_inner());
        let mut replayed = 0usize;
        let mut unknown = 0usize;
        let mut replay = |ingest: &mut Ingest, record: &[u8]| -> Result<()> {
            let samples = wal::decode(record)?;
            self.reserve_seq(ingest, samples.len() as u64 * 2 + 16)?;
            let mut wb = self.db.batch();
            let mut indexed = false;
            {
                let dict = self.dict();
                for &(id, ts, value) in &samples {
                    let Some(labels) = dict.by_id.get(&id) else {
                        unknown += 1;
                        continue;
                    };
                    // An index entry missing beside a logged sample (a crash between the two
                    // writes) is written again.
                    let p = self.partition(self.pid(ts))?;
                    if p.with_indexed(&self.path, |set| set.insert(id))? {
                        index::add_series(&mut wb, &p.index, id, labels);
                        indexed = true;
                    }
                    self.note_time(ts);
                    self.head
                        .push(id, ts, value, self, self.opts.chunk_samples, &self.seq);
                    replayed += 1;
                }
            }
            if indexed {
                wb.commit().map_err(self.st())?;
            }
            Ok(())
        };
        // Older formats' logs first: they precede every segment.
        let legacy: Vec<Keyspace> = ingest.legacy_wal.clone();
        for ks in legacy {
            for kv in ks.iter() {
                let (k, v) = kv.into_inner().map_err(self.st())?;
                if *k == keys::WAL_SENTINEL {
                    continue;
                }
                replay(&mut ingest, &v)?;
            }
        }
        for (_, path) in older {
            let end = wal::replay(path, |record| replay(&mut ingest, record))?;
            if end.torn_bytes > 0 {
                tracing::warn!(segment = %path.display(), records = end.records, bytes = end.torn_bytes, "the write-ahead log ends with a torn or damaged record (a write the crash cut short, never acknowledged): skipped");
            }
        }
        if replayed > 0 {
            tracing::info!(path = %self.path.display(), samples = replayed, "replayed the write-ahead log");
        }
        if unknown > 0 {
            tracing::warn!(path = %self.path.display(), samples = unknown, "skipped logged samples of series missing from the dictionary (appends never acknowledged)");
        }
        if !older.is_empty() || !ingest.legacy_wal.is_empty() {
            self.checkpoint(&mut ingest)?;
        }
        Ok(())
    }

    /// Bytes of the write-ahead log's segments.
    fn wal_disk_bytes(&self) -> u64 {
        wal::segments(&self.path.join(WAL_DIR))
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, p)| p.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    fn note_time(&self, ts: i64) {
        self.max_ts.fetch_max(ts, Ordering::SeqCst);
    }

    fn append<'b, L: Borrow<Labels>>(
        &self,
        batch: &'b [(L, i64, f64)],
        shared: impl Fn(&'b L) -> Option<&'b Arc<Labels>>,
    ) -> Result<AppendReport> {
        if batch.len() > self.opts.max_batch_samples {
            return Err(Error::BatchTooLarge {
                got: batch.len(),
                limit: self.opts.max_batch_samples,
            });
        }
        let mut report = AppendReport::default();
        let reject = |i: usize, r: RejectReason, report: &mut AppendReport| {
            let c = match r {
                RejectReason::OutOfWindow => &self.counters.out_of_window,
                RejectReason::MissingMetricName => &self.counters.missing_name,
                RejectReason::LabelsTooLarge => &self.counters.labels_too_large,
            };
            c.fetch_add(1, Ordering::Relaxed);
            report.rejected_total += 1;
            if report.rejected.len() < 100 {
                report.rejected.push((i, r));
            }
        };
        let window = ms(self.opts.out_of_order_window).min(ms(self.opts.retention));

        let (ticket, touched) = {
            let mut ingest = self.lock_ingest()?;
            // After a failed sync of the log: the head goes to fjall and a new segment starts
            // before anything more is logged.
            if self.log_broken.load(Ordering::SeqCst) {
                self.checkpoint(&mut ingest)?;
            }
            let mut running_max = self.max_ts.load(Ordering::SeqCst);
            let mut samples: Vec<(SeriesId, i64, f64)> = Vec::with_capacity(batch.len());
            let mut wb = self.db.batch();
            let mut new_series: Vec<(Arc<Labels>, SeriesId)> = Vec::new();
            let mut new_index: Vec<(Arc<Partition>, SeriesId)> = Vec::new();
            let mut seen_index: HashSet<(i64, SeriesId), IdBuildHasher> = HashSet::default();
            let mut next_series = ingest.next_series;
            let mut to_remember: Vec<(std::sync::Weak<Labels>, SeriesId)> = Vec::new();
            let mut batch_max = i64::MIN;
            {
                let dict = self.dict();
                let mut local: HashMap<&Labels, SeriesId, LabelsBuildHasher> = HashMap::default();
                // Callers that hand in shared label sets (`Arc<Labels>` cloned per sample)
                // repeat the same pointer: known by address, the set is neither hashed nor
                // compared again. Every element of `batch` lives for the whole call, so an
                // address stands for one label set.
                // Sized once: growing it sample by sample cost ~8% of an append of plain label
                // sets. Shared sets are mostly found in `by_ptr` and rarely land here.
                let plain = batch.first().is_some_and(|(k, ..)| shared(k).is_none());
                let mut by_addr: HashMap<usize, SeriesId, IdBuildHasher> =
                    HashMap::with_capacity_and_hasher(
                        if plain { batch.len() } else { 0 },
                        IdBuildHasher::default(),
                    );
                let mut current: Option<(i64, Arc<Partition>)> = None;
                for (i, (key, ts, value)) in batch.iter().enumerate() {
                    let labels: &Labels = key.borrow();
                    if *ts < running_max.saturating_sub(window) {
                        reject(i, RejectReason::OutOfWindow, &mut report);
                        continue;
                    }
                    let addr = labels as *const Labels as usize;
                    let arc = shared(key);
                    // A remembered allocation is the same label set: its `Weak` keeps the
                    // address from being reused.
                    let remembered = arc.and_then(|a| {
                        dict.by_ptr
                            .get(&(Arc::as_ptr(a) as usize))
                            .map(|&(_, id)| id)
                    });
                    let known = match remembered.or_else(|| by_addr.get(&addr).copied()) {
                        Some(id) => Some(id),
                        None => {
                            let id = {
                                let id = dict
                                    .by_labels
                                    .get(labels)
                                    .or_else(|| local.get(labels))
                                    .copied();
                                if let (Some(id), Some(a)) = (id, arc) {
                                    to_remember.push((Arc::downgrade(a), id));
                                }
                                id
                            };
                            if let Some(id) = id {
                                by_addr.insert(addr, id);
                            }
                            id
                        }
                    };
                    let id = match known {
                        Some(id) => id,
                        None => {
                            if labels.metric_name().is_none() {
                                reject(i, RejectReason::MissingMetricName, &mut report);
                                continue;
                            }
                            if labels.len() > self.opts.max_labels
                                || labels.byte_len() > self.opts.max_labels_bytes
                            {
                                reject(i, RejectReason::LabelsTooLarge, &mut report);
                                continue;
                            }
                            let id = next_series;
                            next_series += 1;
                            // Only id -> labels is stored: the reverse map is rebuilt in
                            // memory at open.
                            let canonical = keys::canonical_labels(labels);
                            wb.insert(&self.series, keys::dict_by_id(id), canonical);
                            // A caller's shared set is kept as it is, not copied: a sampler
                            // and the dictionary hold one allocation between them.
                            let kept = arc.cloned().unwrap_or_else(|| Arc::new(labels.clone()));
                            new_series.push((kept, id));
                            if let Some(a) = arc {
                                to_remember.push((Arc::downgrade(a), id));
                            }
                            local.insert(labels, id);
                            by_addr.insert(addr, id);
                            id
                        }
                    };
                    running_max = running_max.max(*ts);
                    batch_max = batch_max.max(*ts);
                    let pid = self.pid(*ts);
                    // Samples of a batch mostly share a partition: look it up once.
                    let p = match &current {
                        Some((cur, p)) if *cur == pid => p.clone(),
                        _ => {
                            let p = self.partition(pid)?;
                            current = Some((pid, p.clone()));
                            p
                        }
                    };
                    let known = p.with_indexed(&self.path, |set| set.contains(&id))?;
                    if !known && seen_index.insert((pid, id)) {
                        index::add_series(&mut wb, &p.index, id, labels);
                        new_index.push((p, id));
                    }
                    samples.push((id, *ts, *value));
                }
            }
            if samples.is_empty() {
                return Ok(report);
            }
            self.reserve_seq(&mut ingest, samples.len() as u64 * 2 + 16)?;
            // New series and index entries first: a logged sample always names a series
            // that recovery finds (fjall's journal is synced before the log, below).
            if !wb.is_empty() {
                wb.commit().map_err(|e| storage(&self.path, e))?;
                // Raised now, before the log write that may fail: the next append to be
                // acknowledged (this one or, if it fails, the next) syncs the journal.
                let next = self.written.load(Ordering::SeqCst) + 1;
                self.journal_written.fetch_max(next, Ordering::SeqCst);
            }
            ingest.next_series = next_series;
            let created: Vec<SeriesId> = new_series.iter().map(|&(_, id)| id).collect();
            if !new_series.is_empty() || !to_remember.is_empty() {
                let mut dict = self.dict.write().unwrap_or_else(|e| e.into_inner());
                for (labels, id) in new_series {
                    dict.by_labels.insert(labels.clone(), id);
                    dict.by_id.insert(id, labels);
                }
                if !to_remember.is_empty() {
                    // Forget allocations their callers dropped before the map outgrows the
                    // dictionary.
                    if dict.by_ptr.len() + to_remember.len() > 2 * dict.by_id.len() + 1024 {
                        dict.by_ptr.retain(|_, (w, _)| w.strong_count() > 0);
                    }
                    for (weak, id) in to_remember {
                        dict.by_ptr.insert(weak.as_ptr() as usize, (weak, id));
                    }
                }
            }
            for (p, id) in new_index {
                if let Some(set) = &mut *p.indexed.lock().unwrap_or_else(|e| e.into_inner()) {
                    set.insert(id);
                }
            }
            // The series stay known even when the log refuses the samples: they are in
            // fjall, and their ids are not handed out again.
            ingest.log.append(&samples)?;
            // Tickets are handed out under the ingest lock. The journal's mark was raised
            // before the ticket is published: a sync that sees the ticket sees the mark.
            let ticket = self.written.load(Ordering::SeqCst) + 1;
            self.written.store(ticket, Ordering::SeqCst);
            let mut touched = Vec::new();
            self.note_time(batch_max);
            for &(id, ts, value) in &samples {
                if self
                    .head
                    .push(id, ts, value, self, self.opts.chunk_samples, &self.seq)
                {
                    touched.push(id);
                }
            }
            // Before any of their chunks is written: nothing of them is on disk.
            for id in created {
                self.head.created(id);
            }
            report.accepted = samples.len();
            self.counters
                .appended
                .fetch_add(samples.len() as u64, Ordering::Relaxed);
            (ticket, touched)
        };
        if !touched.is_empty() {
            let _writing = self.chunk_writes.read().unwrap_or_else(|e| e.into_inner());
            self.write_sealed(Some(&touched))?;
        }
        match self.opts.durability {
            Durability::Sync => self.sync(ticket)?,
            Durability::Buffered { .. } => {}
        }
        Ok(report)
    }

    /// Group commit: one fdatasync covers every append committed before it started.
    fn sync(&self, ticket: u64) -> Result<()> {
        if self.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let _g = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        self.sync_upto(PersistMode::SyncData, true)
    }

    fn sync_all(&self) -> Result<()> {
        let _g = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sync_upto(PersistMode::SyncAll, true)
    }

    /// Syncs fjall's journal (when an append wrote to it since its last sync), then, with
    /// `log`, the log's segment. Holding `sync_lock`. Without `log` only for a checkpoint,
    /// which has written every logged sample as chunks to fjall.
    fn sync_upto(&self, mode: PersistMode, log: bool) -> Result<()> {
        let upto = self.written.load(Ordering::SeqCst);
        let journal = self.journal_written.load(Ordering::SeqCst);
        if mode == PersistMode::SyncAll || journal > self.journal_synced.load(Ordering::SeqCst) {
            self.db.persist(mode).map_err(self.st())?;
            self.journal_synced.fetch_max(journal, Ordering::SeqCst);
        }
        if log {
            let failed = |e| io("cannot sync the write-ahead log in", &self.path)(e);
            if self.log_broken.load(Ordering::SeqCst) {
                return Err(failed(std::io::Error::other(
                    "an earlier sync of its segment failed; appends resume after the next checkpoint",
                )));
            }
            let file = self
                .log_file
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Err(e) = file.sync_data() {
                self.log_broken.store(true, Ordering::SeqCst);
                return Err(failed(e));
            }
        }
        self.synced.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }

    /// Writes sealed head chunks (of `ids`, or all) to their partitions.
    fn write_sealed(&self, ids: Option<&[SeriesId]>) -> Result<()> {
        let chunks = self.head.sealed(ids);
        let mut start = 0;
        while start < chunks.len() {
            let mut wb = self.db.batch();
            let mut bytes = 0;
            let mut end = start;
            while end < chunks.len() && bytes < CHUNK_WRITE_BATCH_BYTES {
                let c = &chunks[end];
                let p = self.partition(c.pid)?;
                p.widen(&mut wb, c.min_ts, c.max_ts);
                wb.insert(&p.data, keys::chunk(c.id, c.min_ts, c.seq), &*c.bytes);
                bytes += c.bytes.len() + 24;
                end += 1;
            }
            wb.commit().map_err(self.st())?;
            self.head.written(&chunks[start..end]);
            start = end;
        }
        Ok(())
    }

    /// Seals the head, writes every chunk, syncs, and drops the WAL generations it covered.
    fn checkpoint(&self, ingest: &mut Ingest) -> Result<()> {
        let (head_series, _) = self.head.size();
        let spread = (ms(self.opts.out_of_order_window) / self.partition_ms).max(0) as u64 + 2;
        self.reserve_seq(ingest, head_series as u64 * spread + 16)?;
        self.head.seal_all(self, &self.seq);
        ingest.last_checkpoint = Instant::now();
        self.write_sealed(None)?;
        // Kept chunks far behind the newest sample (series that stopped) leave memory.
        let newest = self.max_ts.load(Ordering::SeqCst);
        self.head
            .trim(newest.saturating_sub(head::KEEP_FOR_MS), |_| false);
        self.save_meta(ingest.seq_reserved)?;
        {
            let _g = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.sync_upto(PersistMode::SyncAll, false)?;
        }
        // Everything logged is covered by the chunks just synced. The oldest log goes
        // first, so that a crash part way never leaves an older record without the newer
        // ones that overwrote it: older formats' keyspaces (each one forgotten only once
        // dropped), then the segments.
        while let Some(ks) = ingest.legacy_wal.first() {
            self.db.delete_keyspace(ks.clone()).map_err(self.st())?;
            ingest.legacy_wal.remove(0);
        }
        if ingest.log.holds_records() || self.log_broken.load(Ordering::SeqCst) {
            let rotated = ingest.log.rotate();
            // Even when deleting an older segment failed: appends go to the new one, and the
            // syncs that acknowledge them must too.
            *self.log_file.lock().unwrap_or_else(|e| e.into_inner()) = ingest.log.file();
            rotated?;
            self.log_broken.store(false, Ordering::SeqCst);
        }
        // fjall keeps a journal file until every keyspace written in it has flushed its
        // memtable; without this the journals holding what was just written would linger on
        // disk (up to fjall's 512 MiB limit). The flushes run on fjall's workers.
        for p in self.partitions(i64::MIN, i64::MAX) {
            p.data.rotate_memtable().map_err(self.st())?;
            p.index.rotate_memtable().map_err(self.st())?;
        }
        self.series.rotate_memtable().map_err(self.st())?;
        self.meta.rotate_memtable().map_err(self.st())?;
        Ok(())
    }

    fn maintain(&self) -> Result<()> {
        let _one = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(self.opts.durability, Durability::Buffered { .. }) {
            self.sync_all()?;
        }
        {
            let mut ingest = self.lock_ingest()?;
            if ingest.log.len() >= self.opts.checkpoint_bytes
                || (ingest.log.len() > 0
                    && ingest.last_checkpoint.elapsed() >= self.opts.checkpoint_interval)
            {
                self.checkpoint(&mut ingest)?;
            }
        }
        self.apply_retention()?;
        self.compact_closed(false)
    }

    fn apply_retention(&self) -> Result<()> {
        let max = self.max_ts.load(Ordering::SeqCst);
        if max == i64::MIN {
            return Ok(());
        }
        let cutoff = max.saturating_sub(ms(self.opts.retention));
        let due = self
            .parts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .next()
            .is_some_and(|&pid| (pid + 1).saturating_mul(self.partition_ms) <= cutoff);
        if !due {
            return Ok(());
        }
        // Seal the head so that nothing of an expiring partition stays in memory, and keep
        // appends from writing chunks until the partitions are gone.
        let mut ingest = self.lock_ingest()?;
        let _no_writes = self.chunk_writes.write().unwrap_or_else(|e| e.into_inner());
        self.checkpoint(&mut ingest)?;
        let expired: Vec<Arc<Partition>> = {
            let mut parts = self.parts.write().unwrap_or_else(|e| e.into_inner());
            let gone: Vec<i64> = parts
                .keys()
                .copied()
                .filter(|&pid| (pid + 1).saturating_mul(self.partition_ms) <= cutoff)
                .collect();
            gone.iter().filter_map(|pid| parts.remove(pid)).collect()
        };
        if expired.is_empty() {
            return Ok(());
        }
        let gone: HashSet<i64> = expired.iter().map(|p| p.pid).collect();
        self.head.trim(i64::MIN, |pid| gone.contains(&pid));
        for p in &expired {
            tracing::info!(path = %self.path.display(), partition = p.pid, "retention drops partition");
            self.compacted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&p.pid);
        }
        for p in expired {
            // fjall removes the folders once the last handle (a reader's, say) is dropped.
            self.db.delete_keyspace(p.data.clone()).map_err(self.st())?;
            self.db
                .delete_keyspace(p.index.clone())
                .map_err(self.st())?;
        }
        drop(_no_writes);
        drop(ingest);
        self.prune_dictionary()
    }

    /// Drops dictionary entries of series present in no partition and absent from the head.
    fn prune_dictionary(&self) -> Result<()> {
        // Holding the ingest lock: no append can create or reuse a series meanwhile.
        let _ingest = self.lock_ingest()?;
        let mut live: HashSet<SeriesId> = HashSet::new();
        for p in self.partitions(i64::MIN, i64::MAX) {
            live.extend(index::all_ids(&p.index, &self.path)?);
        }
        let dead: Vec<(SeriesId, Arc<Labels>)> = self
            .dict()
            .by_id
            .iter()
            .filter(|(id, _)| !live.contains(id) && !self.head.contains(**id))
            .map(|(&id, l)| (id, l.clone()))
            .collect();
        if dead.is_empty() {
            return Ok(());
        }
        let mut wb = self.db.batch();
        for (id, _) in &dead {
            wb.remove(&self.series, keys::dict_by_id(*id));
        }
        wb.commit().map_err(self.st())?;
        let mut dict = self.dict.write().unwrap_or_else(|e| e.into_inner());
        for (id, labels) in dead {
            dict.by_id.remove(&id);
            dict.by_labels.remove(&labels);
            dict.by_ptr.clear();
        }
        Ok(())
    }

    /// Re-packs closed partitions into cold blocks. `force` also re-checks partitions
    /// already marked compacted.
    fn compact_closed(&self, force: bool) -> Result<()> {
        let max = self.max_ts.load(Ordering::SeqCst);
        if max == i64::MIN {
            return Ok(());
        }
        let horizon = max.saturating_sub(ms(self.opts.out_of_order_window));
        let todo: Vec<Arc<Partition>> = {
            let done = self.compacted.lock().unwrap_or_else(|e| e.into_inner());
            self.partitions(i64::MIN, i64::MAX)
                .into_iter()
                .filter(|p| (p.pid + 1).saturating_mul(self.partition_ms) <= horizon)
                .filter(|p| force || !done.contains(&p.pid))
                .collect()
        };
        if todo.is_empty() {
            return Ok(());
        }
        {
            // Nothing of a closed partition may stay in the head.
            let mut ingest = self.lock_ingest()?;
            if self.head.size().0 > 0 {
                self.checkpoint(&mut ingest)?;
            }
        }
        for p in todo {
            self.compact_partition(&p)?;
            self.compacted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(p.pid);
            let ingest = self.lock_ingest()?;
            let reserved = ingest.seq_reserved;
            self.save_meta(reserved)?;
            drop(ingest);
            *p.indexed.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        // The blocks just written sit in fjall's journal: flush them to tables so that the
        // journal can go (else it stays on disk and is replayed at every open).
        self.flush_memtables(true)
    }

    /// Writes the memtable of every keyspace to a table when fjall holds sealed journal
    /// files or a large active one: it keeps each (up to its 512 MiB journal limit) until
    /// every keyspace written in it is flushed, and deletes it then.
    fn flush_memtables(&self, always: bool) -> Result<()> {
        // One small active journal is cheaper kept than rotated (each new one is pre-sized).
        let journal = self.db.journal_disk_space().map_err(self.st())?;
        if !always && self.db.journal_count() <= 1 && journal < 4 << 20 {
            return Ok(());
        }
        let mut keyspaces = vec![self.meta.clone(), self.series.clone()];
        for p in self.partitions(i64::MIN, i64::MAX) {
            keyspaces.push(p.data.clone());
            keyspaces.push(p.index.clone());
        }
        for ks in keyspaces {
            ks.rotate_memtable_and_wait().map_err(self.st())?;
        }
        Ok(())
    }

    fn compact_partition(&self, p: &Partition) -> Result<()> {
        let ids = index::all_ids(&p.index, &self.path)?;
        let mut wb = self.db.batch();
        let mut pending = 0usize;
        let mut rewrote = 0usize;
        let mut shared = TimesWriter::default();
        let mut columns = TimesReader::default();
        for id in ids {
            let lo = keys::chunk(id, i64::MIN, 0);
            let hi = keys::chunk(id, i64::MAX, u64::MAX);
            let mut keys_seen = Vec::new();
            let mut samples = Vec::new();
            let mut blocks = 0;
            let mut buf = Vec::new();
            let snap = self.db.snapshot();
            for kv in snap.range(&p.data, lo..=hi) {
                let (k, v) = kv.into_inner().map_err(self.st())?;
                let seq = keys::chunk_seq(&k)?;
                if v.first().is_some_and(|&t| codec::is_block(t)) {
                    blocks += 1;
                }
                buf.clear();
                codec::decode_with(&v, &mut buf, &mut |c| {
                    columns.get(&snap, &p.data, &self.path, c)
                })?;
                samples.extend(buf.iter().map(|&(t, x)| (t, seq, x)));
                keys_seen.push(k);
            }
            if keys_seen.len() <= 1 && blocks == keys_seen.len() {
                continue;
            }
            let merged = head::resolve(samples);
            let n_blocks = merged.len().div_ceil(BLOCK_SAMPLES) as u64;
            {
                let mut ingest = self.lock_ingest()?;
                self.reserve_seq(&mut ingest, n_blocks + 1)?;
            }
            for k in &keys_seen {
                wb.remove(&p.data, k.clone());
            }
            for part in merged.chunks(BLOCK_SAMPLES) {
                if let Some((bytes, column)) =
                    shared.encode(&mut wb, &p.data, part, self.opts.zstd_level)?
                {
                    pending += bytes.len() + column;
                    if let (Some(first), Some(last)) = (part.first(), part.last()) {
                        p.widen(&mut wb, first.0, last.0);
                    }
                    wb.insert(&p.data, keys::chunk(id, part[0].0, self.seq.next()), bytes);
                }
            }
            rewrote += 1;
            if pending >= CHUNK_WRITE_BATCH_BYTES {
                std::mem::replace(&mut wb, self.db.batch())
                    .commit()
                    .map_err(self.st())?;
                pending = 0;
            }
        }
        wb.commit().map_err(self.st())?;
        if rewrote > 0 {
            // The closed partition's index no longer changes either: one table in the last
            // level (longer prefix-compression runs, LZ4).
            for ks in [&p.data, &p.index] {
                ks.rotate_memtable_and_wait().map_err(self.st())?;
                ks.major_compact().map_err(self.st())?;
            }
            tracing::debug!(path = %self.path.display(), partition = p.pid, series = rewrote, "compacted partition");
        }
        Ok(())
    }

    fn delete_series(&self, matchers: &[Matcher]) -> Result<usize> {
        let mut ingest = self.lock_ingest()?;
        let _no_writes = self.chunk_writes.write().unwrap_or_else(|e| e.into_inner());
        // The WAL must not resurrect what is deleted: checkpoint first, under the same lock.
        self.checkpoint(&mut ingest)?;
        let ids = self.matching_ids(matchers, i64::MIN, i64::MAX)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut wb = self.db.batch();
        for p in self.partitions(i64::MIN, i64::MAX) {
            for (&id, labels) in &ids {
                let lo = keys::chunk(id, i64::MIN, 0);
                let hi = keys::chunk(id, i64::MAX, u64::MAX);
                for kv in p.data.range(lo..=hi) {
                    let k = kv.key().map_err(self.st())?;
                    wb.remove(&p.data, k);
                }
                index::remove_series(&mut wb, &p.index, id, labels);
            }
            if let Some(set) = &mut *p.indexed.lock().unwrap_or_else(|e| e.into_inner()) {
                for id in ids.keys() {
                    set.remove(id);
                }
            }
        }
        for &id in ids.keys() {
            wb.remove(&self.series, keys::dict_by_id(id));
            self.head.remove(id);
        }
        wb.commit().map_err(self.st())?;
        self.sync_all()?;
        let mut dict = self.dict.write().unwrap_or_else(|e| e.into_inner());
        for (id, labels) in &ids {
            dict.by_id.remove(id);
            dict.by_labels.remove(labels);
            dict.by_ptr.clear();
        }
        drop(ingest);
        Ok(ids.len())
    }

    /// Series matching `matchers` in partitions overlapping `[start, end]`.
    fn matching_ids(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<BTreeMap<SeriesId, Arc<Labels>>> {
        let mut ids = BTreeSet::new();
        for p in self.partitions(start, end) {
            ids.extend(index::candidates(&p.index, &self.path, matchers)?);
        }
        let dict = self.dict();
        Ok(ids
            .into_iter()
            .filter_map(|id| dict.by_id.get(&id).map(|l| (id, l.clone())))
            .filter(|(_, l)| matchers.iter().all(|m| m.matches(l)))
            .collect())
    }

    fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        limits: SelectLimits,
    ) -> Result<Vec<Series>> {
        let ids = self.matching_ids(matchers, start, end)?;
        let parts = self.partitions(start, end);
        // Head first, disk second: a chunk moving from one to the other in between is then
        // seen twice (and merged), never missed.
        let mut found = Vec::with_capacity(ids.len());
        for (id, labels) in ids {
            let mut samples = Vec::new();
            let complete = self.head.read(id, start, end, &mut samples)?;
            found.push((id, labels, samples, complete));
        }
        // fjall's keyspaces read the latest data, so a compaction committing mid-scan could
        // hide both the chunks it removes and the block it adds: read through one snapshot
        // taken after the head. A partition's span bound is read after the snapshot: a
        // chunk the snapshot holds has raised it already.
        let snap = self.db.snapshot();
        let froms: Vec<i64> = parts.iter().map(|p| p.scan_from(start)).collect();
        let mut out = Vec::new();
        let mut loaded = 0usize;
        let mut buf = Vec::new();
        let mut columns = TimesReader::default();
        for (id, labels, mut samples, complete) in found {
            let disk = if complete { &[][..] } else { &parts[..] };
            for (p, &from) in disk.iter().zip(&froms) {
                let lo = keys::chunk(id, from, 0);
                let hi = keys::chunk(id, end, u64::MAX);
                for kv in snap.range(&p.data, lo..=hi) {
                    let (k, v) = kv.into_inner().map_err(self.st())?;
                    let (h, _) = codec::Header::read(&v)?;
                    if h.max_ts < start {
                        continue;
                    }
                    let seq = keys::chunk_seq(&k)?;
                    buf.clear();
                    codec::decode_range(&v, &mut buf, start..=end, &mut |c| {
                        columns.get(&snap, &p.data, &self.path, c)
                    })?;
                    samples.extend(buf.iter().map(|&(t, x)| (t, seq, x)));
                }
            }
            loaded += samples.len();
            if loaded > limits.max_samples {
                return Err(Error::TooManySamples {
                    limit: limits.max_samples,
                });
            }
            if samples.is_empty() {
                continue;
            }
            if out.len() >= limits.max_series {
                return Err(Error::TooManySeries {
                    limit: limits.max_series,
                });
            }
            out.push(Series {
                labels: (*labels).clone(),
                samples: head::resolve(samples),
            });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn cardinality(&self, start: i64, end: i64, top: usize) -> Result<Cardinality> {
        let mut series: HashSet<SeriesId> = HashSet::new();
        let mut by_pair: HashMap<(String, String), HashSet<SeriesId>> = HashMap::new();
        let mut names = BTreeSet::new();
        let parts = self.partitions(start, end);
        for p in &parts {
            series.extend(index::all_ids(&p.index, &self.path)?);
            index::label_names(&p.index, &self.path, &mut names)?;
        }
        for p in &parts {
            for name in &names {
                index::postings_of(&p.index, &self.path, name, |value, id| {
                    by_pair
                        .entry((name.clone(), String::from_utf8_lossy(value).into_owned()))
                        .or_default()
                        .insert(id);
                })?;
            }
        }
        let mut by_metric = Vec::new();
        let mut values: HashMap<String, usize> = HashMap::new();
        let mut pairs = Vec::new();
        for ((name, value), ids) in &by_pair {
            *values.entry(name.clone()).or_default() += 1;
            if name == crate::METRIC_NAME {
                by_metric.push((value.clone(), ids.len()));
            }
            pairs.push((format!("{name}={value}"), ids.len()));
        }
        let top_n = |mut v: Vec<(String, usize)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(top);
            v
        };
        Ok(Cardinality {
            series: series.len(),
            series_by_metric: top_n(by_metric),
            values_by_label: top_n(values.into_iter().collect()),
            series_by_pair: top_n(pairs),
        })
    }

    fn stats(&self) -> StoreStats {
        let (head_series, head_bytes) = self.head.size();
        let c = &self.counters;
        let mut rejected = BTreeMap::new();
        for (name, n) in [
            ("out_of_window", &c.out_of_window),
            ("missing_metric_name", &c.missing_name),
            ("labels_too_large", &c.labels_too_large),
        ] {
            rejected.insert(name.to_string(), n.load(Ordering::Relaxed));
        }
        let max = self.max_ts.load(Ordering::SeqCst);
        let min_pid = self
            .parts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .next()
            .copied();
        StoreStats {
            series: self.dict().by_id.len(),
            head_series,
            head_bytes,
            kept_bytes: self.head.kept_bytes(),
            partitions: self.parts.read().unwrap_or_else(|e| e.into_inner()).len(),
            samples_appended: c.appended.load(Ordering::Relaxed),
            rejected,
            wal_bytes: self
                .ingest
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .log
                .len(),
            disk_bytes: self.db.disk_space().unwrap_or(0) + self.wal_disk_bytes(),
            // fjall marks this count experimental; it is pinned by Cargo.lock, and a removal
            // would fail the build, not mislead.
            memtable_bytes: self.db.write_buffer_size(),
            cache_bytes: self.db.cache_size(),
            min_time: min_pid.map(|p| p.saturating_mul(self.partition_ms)),
            max_time: (max != i64::MIN).then_some(max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options for tests that run maintenance themselves.
    fn opts() -> StoreOptions {
        StoreOptions {
            maintenance_interval: None,
            ..StoreOptions::default()
        }
    }

    fn segments(store: &Store) -> Vec<(u64, u64)> {
        wal::segments(&store.path().join(WAL_DIR))
            .unwrap()
            .into_iter()
            .map(|(g, p)| (g, p.metadata().unwrap().len()))
            .collect()
    }

    /// Appends go to the log's segment; a process that did not checkpoint leaves it behind,
    /// the next replays it and, once its chunks are synced, deletes it. A checkpoint leaves
    /// one empty segment.
    #[test]
    fn segments_are_replayed_by_the_next_open_then_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let series: Vec<Labels> = (0..100)
            .map(|i| Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]).unwrap())
            .collect();
        let t0 = 1_700_000_000_000;
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(segments(&store), [(0, 0)]);
        for k in 0..200i64 {
            let batch: Vec<_> = series
                .iter()
                .map(|s| (s, t0 + k * 15_000, (k * 7 % 13) as f64 * 0.5))
                .collect();
            store.append(&batch).unwrap();
        }
        let logged = store.stats().wal_bytes;
        assert_eq!(segments(&store), [(0, logged)]);
        assert!(logged > 200 * 100 * 10, "{logged}");
        // Dropped without a checkpoint: the log is all there is of the open chunks.
        drop(store);
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(
            segments(&store),
            [(2, 0)],
            "replayed, checkpointed, deleted"
        );
        let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
        assert_eq!(got.len(), 100);
        assert!(got.iter().all(|s| s.samples.len() == 200));
        store
            .append(&[(series[0].clone(), t0 + 200 * 15_000, 1.0)])
            .unwrap();
        store.flush().unwrap();
        assert_eq!(segments(&store), [(3, 0)]);
        assert_eq!(store.stats().wal_bytes, 0);
        store.close().unwrap();
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(
            segments(&store),
            [(3, 0)],
            "nothing to replay: no checkpoint"
        );
        let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
        assert_eq!(got.iter().map(|s| s.samples.len()).sum::<usize>(), 20_001);
    }

    /// A record whose series never reached the dictionary (its append was never
    /// acknowledged) is skipped, and deleted with its segment: the id, handed out again,
    /// never takes those samples.
    #[test]
    fn logged_samples_of_an_unknown_series_are_skipped_once_and_for_all() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = 1_700_000_000_000;
        let a = Labels::from_pairs([("__name__", "a")]).unwrap();
        let b = Labels::from_pairs([("__name__", "b")]).unwrap();
        let store = Store::open(dir.path(), opts()).unwrap();
        store.append(&[(a.clone(), t0, 1.0)]).unwrap();
        let next = store.inner.lock_ingest().unwrap().next_series;
        store
            .inner
            .lock_ingest()
            .unwrap()
            .log
            .append(&[(next, t0, 9.0)])
            .unwrap();
        drop(store);
        let store = Store::open(dir.path(), opts()).unwrap();
        store.append(&[(b.clone(), t0 + 1, 2.0)]).unwrap();
        assert_eq!(store.inner.dict().by_labels[&b], next);
        drop(store);
        let store = Store::open(dir.path(), opts()).unwrap();
        let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|s| {
                (
                    s.labels.metric_name().unwrap().to_string(),
                    s.samples.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), vec![(t0, 1.0)]),
                ("b".to_string(), vec![(t0 + 1, 2.0)])
            ]
        );
    }

    /// Older formats' logs (format 2: a keyspace per generation keyed by record number;
    /// format 3: one keyspace keyed by generation and record) are replayed at open, oldest
    /// first, and dropped by the checkpoint that ends the open.
    #[test]
    fn older_formats_wal_keyspaces_are_replayed_then_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let m = Labels::from_pairs([("__name__", "m")]).unwrap();
        let t0 = 1_700_000_000_000;
        let id = {
            let store = Store::open(dir.path(), opts()).unwrap();
            store.append(&[(m.clone(), t0, 1.0)]).unwrap();
            store.flush().unwrap();
            let id = store.inner.dict().by_labels[&m];
            store.close().unwrap();
            id
        };
        {
            let db = Database::builder(dir.path().join("lsm")).open().unwrap();
            let old = db
                .keyspace("wal_7", KeyspaceCreateOptions::default)
                .unwrap();
            for (record, (t, v)) in [(t0 + 1_000, 2.0), (t0 + 2_000, 3.0)]
                .into_iter()
                .enumerate()
            {
                old.insert(
                    (record as u64 + 1).to_be_bytes(),
                    wal::encode(&[(id, t, v)]),
                )
                .unwrap();
            }
            // Newer: overwrites the second sample.
            let wal = db.keyspace("wal", KeyspaceCreateOptions::default).unwrap();
            wal.insert(keys::WAL_SENTINEL, []).unwrap();
            wal.insert(keys::wal(3, 1), wal::encode(&[(id, t0 + 2_000, 4.0)]))
                .unwrap();
            db.persist(PersistMode::SyncAll).unwrap();
        }
        std::fs::write(dir.path().join(MARKER), "ward-store format 3\n").unwrap();
        let expected = vec![(t0, 1.0), (t0 + 1_000, 2.0), (t0 + 2_000, 4.0)];
        let store = Store::open(dir.path(), opts()).unwrap();
        let samples = |store: &Store| {
            store.select(&[], i64::MIN, i64::MAX).unwrap()[0]
                .samples
                .clone()
        };
        assert_eq!(samples(&store), expected);
        let names = |store: &Store| -> Vec<String> {
            store
                .inner
                .db
                .list_keyspace_names()
                .iter()
                .map(|n| n.to_string())
                .filter(|n| n.starts_with("wal"))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        assert!(names(&store).is_empty(), "{:?}", names(&store));
        store.close().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(MARKER)).unwrap(),
            format!("ward-store format {FORMAT_VERSION}\n")
        );
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(samples(&store), expected);
    }
}
