//! Shared timestamp columns of cold blocks: which blocks share them when a partition is
//! re-packed, and reading them back, each once per select.
//!
//! Every series of one scrape has the same timestamps. With a few ms of scrape jitter those
//! timestamps cost more bytes than most series' values, so a cold block whose timestamps were
//! already packed by another series' block of the same partition names that column instead
//! (`codec::block::encode_sharing`), stored once under `keys::times(id)` in the partition's
//! data keyspace. The first block with given timestamps keeps them inline: most columns are
//! never seen twice (a series alone on its schedule), and those then cost no extra key. A
//! perfectly regular column (a few bytes packed) is never shared.
//!
//! A column is written in the same batch as the first block naming it, so a committed block
//! always finds it. Columns outlive deleted series until the partition is dropped.

use crate::codec::block::{self, TimesId};
use crate::index::storage;
use crate::keys;
use crate::{Error, Result};
use fjall::{Keyspace, OwnedWriteBatch, Readable, Snapshot};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Chooses, block by block while one partition is compacted, inline or shared timestamps.
#[derive(Default)]
pub(crate) struct TimesWriter {
    /// Columns seen in this compaction: `true` once stored.
    seen: HashMap<TimesId, bool>,
}

impl TimesWriter {
    /// Encodes `samples` as a block, naming a shared timestamp column if another block of
    /// this compaction had the same irregular timestamps (and adding that column to `wb`
    /// the first time it is named). Returns the block and the bytes added to `wb`.
    pub fn encode(
        &mut self,
        wb: &mut OwnedWriteBatch,
        data: &Keyspace,
        samples: &[(i64, f64)],
        level: i32,
    ) -> Result<Option<(Vec<u8>, usize)>> {
        let times: Vec<i64> = samples.iter().map(|&(t, _)| t).collect();
        if regular(&times) {
            return Ok(block::encode(samples, level)?.map(|b| (b, 0)));
        }
        let id = block::times_id(&times);
        match self.seen.get(&id).copied() {
            None => {
                self.seen.insert(id, false);
                Ok(block::encode(samples, level)?.map(|b| (b, 0)))
            }
            Some(stored) => {
                let mut added = 0;
                if !stored {
                    let column = block::encode_times(&times, level)?;
                    added = column.len();
                    wb.insert(data, keys::times(&id), column);
                    self.seen.insert(id, true);
                }
                Ok(block::encode_sharing(samples, &id, level)?.map(|b| (b, added)))
            }
        }
    }
}

/// Whether the timestamps are evenly spaced (their column packs to a few bytes).
fn regular(times: &[i64]) -> bool {
    match times {
        [a, b, ..] => {
            let step = b.wrapping_sub(*a);
            times.windows(2).all(|w| w[1].wrapping_sub(w[0]) == step)
        }
        _ => true,
    }
}

/// Shared timestamp columns read through one snapshot, each decoded once.
#[derive(Default)]
pub(crate) struct TimesReader {
    columns: HashMap<TimesId, Arc<[i64]>>,
}

impl TimesReader {
    /// The column `id` of partition keyspace `data`. Columns are named by their content, so
    /// one found in another partition is the same.
    pub fn get(
        &mut self,
        snap: &Snapshot,
        data: &Keyspace,
        path: &Path,
        id: &TimesId,
    ) -> Result<Arc<[i64]>> {
        if let Some(c) = self.columns.get(id) {
            return Ok(c.clone());
        }
        let bytes = snap
            .get(data, keys::times(id))
            .map_err(|e| storage(path, e))?
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "shared timestamp column {} is missing from {}",
                    hex(id),
                    data.name()
                ))
            })?;
        let column: Arc<[i64]> = block::decode_times(&bytes)?.into();
        self.columns.insert(*id, column.clone());
        Ok(column)
    }
}

fn hex(id: &TimesId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    /// A database with one partition data keyspace, `d_0`.
    fn partition() -> (tempfile::TempDir, fjall::Database, Keyspace) {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let data = db
            .keyspace("d_0", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        (dir, db, data)
    }

    /// Three series scraped together with jitter and one on its own: the first block keeps
    /// its timestamps, the next two name one stored column, and every block reads back.
    #[test]
    fn blocks_with_the_same_uneven_timestamps_share_one_column() {
        let (dir, db, data) = partition();
        let t0 = 1_700_000_000_000i64;
        // A few ms of jitter, with no period for zstd to find (xorshift64).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let scrape: Vec<i64> = (0..2_000i64)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t0 + i * 15_000 + (x % 8) as i64
            })
            .collect();
        let alone: Vec<i64> = scrape.iter().map(|t| t + 3).collect();
        let series: Vec<Vec<(i64, f64)>> = vec![
            scrape.iter().map(|&t| (t, 1.0)).collect(),
            scrape.iter().map(|&t| (t, (t % 1000) as f64)).collect(),
            alone.iter().map(|&t| (t, 2.5)).collect(),
            scrape.iter().map(|&t| (t, 3.0)).collect(),
        ];
        let mut writer = TimesWriter::default();
        let mut wb = db.batch();
        let mut blocks = Vec::new();
        for s in &series {
            let (block, column) = writer.encode(&mut wb, &data, s, 3).unwrap().unwrap();
            blocks.push((block, column));
        }
        wb.commit().unwrap();
        // Only the second block of the scrape stored the column.
        let columns: Vec<usize> = blocks.iter().map(|b| b.1).collect();
        assert_eq!(columns[0], 0);
        assert!(columns[1] > 100, "{columns:?}");
        assert_eq!(&columns[2..], &[0, 0]);
        assert_eq!(data.prefix(keys::TIMES_PREFIX).count(), 1);
        // A block naming the column is smaller than the same block with its timestamps.
        assert!(blocks[3].0.len() + 100 < blocks[0].0.len());

        let snap = db.snapshot();
        let mut reader = TimesReader::default();
        for (s, (block, _)) in series.iter().zip(&blocks) {
            let mut out = Vec::new();
            codec::decode_with(block, &mut out, &mut |id| {
                reader.get(&snap, &data, dir.path(), id)
            })
            .unwrap();
            assert_eq!(&out, s);
        }
        // Without its partition, a sharing block is a clear error, not wrong samples.
        let err = codec::decode(&blocks[1].0, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("shared timestamp column"), "{err}");
        // A column gone missing names itself.
        data.remove(keys::times(&block::times_id(&scrape))).unwrap();
        let err = codec::decode_with(&blocks[3].0, &mut Vec::new(), &mut |id| {
            TimesReader::default().get(&db.snapshot(), &data, dir.path(), id)
        })
        .unwrap_err();
        assert!(err.to_string().contains("is missing from d_0"), "{err}");
    }

    /// Columns alike in length, first and last timestamp but not in between are two columns:
    /// each block reads back its own timestamps.
    #[test]
    fn columns_differing_only_inside_are_not_confused() {
        let (dir, db, data) = partition();
        let a: Vec<(i64, f64)> = vec![(0, 1.0), (15_001, 2.0), (30_000, 3.0), (45_000, 4.0)];
        let mut b = a.clone();
        b[1].0 = 15_003;
        assert_ne!(
            block::times_id(&a.iter().map(|s| s.0).collect::<Vec<_>>()),
            block::times_id(&b.iter().map(|s| s.0).collect::<Vec<_>>())
        );
        let mut writer = TimesWriter::default();
        let mut wb = db.batch();
        let blocks: Vec<Vec<u8>> = [&a, &b, &a, &b, &b]
            .iter()
            .map(|s| writer.encode(&mut wb, &data, s, 3).unwrap().unwrap().0)
            .collect();
        wb.commit().unwrap();
        assert_eq!(data.prefix(keys::TIMES_PREFIX).count(), 2);
        let snap = db.snapshot();
        let mut reader = TimesReader::default();
        for (block, expected) in blocks.iter().zip([&a, &b, &a, &b, &b]) {
            let mut out = Vec::new();
            codec::decode_with(block, &mut out, &mut |id| {
                reader.get(&snap, &data, dir.path(), id)
            })
            .unwrap();
            assert_eq!(&out, expected);
        }
    }

    #[test]
    fn only_uneven_timestamps_are_irregular() {
        assert!(regular(&[]));
        assert!(regular(&[5]));
        assert!(regular(&[0, 15_000, 30_000, 45_000]));
        assert!(!regular(&[0, 15_000, 30_003, 45_000]));
        assert!(!regular(&[0, 15_000, 45_000]));
    }
}
