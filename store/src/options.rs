//! Options of a store and the guarantees they select.

use std::time::Duration;

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `append` returns once its samples are in the write-ahead log and the log (and fjall's
    /// journal, when the append named new series) is `fdatasync`ed.
    /// Concurrent appends share one sync (group commit). Nothing acknowledged is lost, even on
    /// power loss.
    Sync,
    /// `append` returns once its samples are in the write-ahead log, handed to the OS: they survive
    /// the process being killed, and a background sync every `interval` bounds what a power
    /// loss or kernel crash can take (at most that window).
    Buffered {
        /// Time between background syncs.
        interval: Duration,
    },
}

/// Options for [`crate::Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Samples older than this, relative to the newest sample in the store, are dropped by
    /// retention (a whole partition at a time) and refused on append.
    pub retention: Duration,
    /// Width of a time partition: one keyspace of chunks and one of index per partition.
    pub partition: Duration,
    /// Samples older than the newest sample in the store by more than this are refused as
    /// out of window; newer ones are merged in whatever order they come.
    pub out_of_order_window: Duration,
    /// Samples per hot chunk before it is sealed.
    pub chunk_samples: usize,
    /// Largest number of samples in one append.
    pub max_batch_samples: usize,
    /// Largest label set (bytes of names and values) and number of labels of a series.
    pub max_labels_bytes: usize,
    /// Largest number of labels of a series.
    pub max_labels: usize,
    /// Acknowledgement mode.
    pub durability: Durability,
    /// The write-ahead log is checkpointed (head sealed, log dropped) when it exceeds this.
    pub checkpoint_bytes: u64,
    /// ... or when this much time passed since the last checkpoint.
    pub checkpoint_interval: Duration,
    /// Period of the background maintenance thread (checkpoint, retention, cold compaction);
    /// `None` runs none: call [`crate::Store::maintain`] yourself.
    pub maintenance_interval: Option<Duration>,
    /// zstd level of cold blocks (the form of each column is chosen at level 1 first, so only
    /// the winner pays this level: 15 packs 2.5% smaller than 9, in less time than 9 took
    /// when every candidate was packed at it, BENCHMARKS.md).
    pub zstd_level: i32,
    /// fjall block cache size in bytes.
    pub cache_bytes: u64,
    /// Memtable size of each partition's chunk and index keyspaces and of the series
    /// dictionary, in bytes: fresh chunks and index entries stay in memory up to this before
    /// fjall writes them to a table. At least 1 MiB. fjall fixes it when a keyspace is
    /// created: a change reaches partitions created after it, not the open ones nor the
    /// series dictionary.
    pub memtable_bytes: u64,
    /// Memory for written chunks the head keeps (at most 4 per series) so that queries of
    /// recent data need not read the disk, all series together, in bytes. Past it, the
    /// chunks that end earliest are dropped from memory (they stay on disk). 0 keeps none.
    pub kept_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(15 * 24 * 3600),
            partition: Duration::from_secs(24 * 3600),
            out_of_order_window: Duration::from_secs(3600),
            chunk_samples: 120,
            max_batch_samples: 1_000_000,
            max_labels_bytes: 16 * 1024,
            max_labels: 64,
            durability: Durability::Sync,
            checkpoint_bytes: 64 * 1024 * 1024,
            checkpoint_interval: Duration::from_secs(15 * 60),
            maintenance_interval: Some(Duration::from_secs(10)),
            zstd_level: 15,
            cache_bytes: 64 * 1024 * 1024,
            memtable_bytes: 16 * 1024 * 1024,
            kept_bytes: 64 * 1024 * 1024,
        }
    }
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}
