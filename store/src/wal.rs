//! The write-ahead log: one record per append, in segment files of ward's own beside fjall.
//!
//! A record is `count (uvarint)` then, per sample, `series id (uvarint)`, `timestamp - previous
//! timestamp (zigzag varint)` and the value's 8 bytes (little endian). Each is framed as
//! `length (u32 LE) | CRC-32 of the record (u32 LE) | record` and written with one positioned
//! write at the end of the current segment, `<dir>/<generation>.wal`. A checkpoint, once the
//! head's chunks are synced, starts the next generation's segment and deletes the older ones.
//!
//! The log lives outside fjall so that records, read back only after a crash, never pass
//! through fjall's memtables, tables and journal: fjall keeps its active journal (up to 64
//! MB) on disk even when everything in it is in tables.
//!
//! Replay reads segments oldest first, each up to its first frame that is short or fails its
//! checksum: a write torn by a crash (never acknowledged: the sync had not returned). A
//! process appends only to a segment it created or found empty, so a torn tail is never
//! written after.

use crate::codec::varint;
use crate::codec::{corrupt, corrupt_owned};
use crate::keys::SeriesId;
use crate::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of a frame's header.
const HEADER: usize = 8;
const SUFFIX: &str = ".wal";

/// Encodes samples as one record.
#[cfg(test)]
pub fn encode(samples: &[(SeriesId, i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 14 + 4 + HEADER);
    encode_into(&mut out, samples);
    out
}

fn encode_into(out: &mut Vec<u8>, samples: &[(SeriesId, i64, f64)]) {
    varint::put_u64(out, samples.len() as u64);
    let mut prev = 0i64;
    for &(id, ts, v) in samples {
        varint::put_u64(out, id);
        varint::put_i64(out, ts.wrapping_sub(prev));
        out.extend_from_slice(&v.to_bits().to_le_bytes());
        prev = ts;
    }
}

/// Decodes a record.
pub fn decode(mut buf: &[u8]) -> Result<Vec<(SeriesId, i64, f64)>> {
    let count = varint::get_u64(&mut buf)? as usize;
    // Each sample takes at least 10 bytes: bound the allocation by what the record can hold.
    if count > buf.len() / 10 {
        return Err(corrupt_owned(format!(
            "WAL record says {count} samples in {} bytes",
            buf.len()
        )));
    }
    let mut out = Vec::with_capacity(count);
    let mut prev = 0i64;
    for _ in 0..count {
        let id = varint::get_u64(&mut buf)?;
        prev = prev.wrapping_add(varint::get_i64(&mut buf)?);
        let (v, rest) = buf
            .split_first_chunk::<8>()
            .ok_or_else(|| corrupt("WAL record is truncated"))?;
        buf = rest;
        out.push((id, prev, f64::from_bits(u64::from_le_bytes(*v))));
    }
    Ok(out)
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { what, path, source }
}

/// The segment files in `dir`, oldest generation first.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("cannot list the WAL directory", dir))? {
        let entry = entry.map_err(io("cannot list the WAL directory", dir))?;
        let name = entry.file_name();
        let Some(generation) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|g| g.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((generation, entry.path()));
    }
    out.sort_unstable();
    Ok(out)
}

/// What [`replay`] read from one segment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SegmentEnd {
    /// Records handed to the callback.
    pub records: usize,
    /// Bytes after the last whole record (a torn write), skipped.
    pub torn_bytes: u64,
}

/// Calls `f` with each whole record of the segment at `path`, in order.
pub fn replay(path: &Path, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<SegmentEnd> {
    let mut file = File::open(path).map_err(io("cannot open WAL segment", path))?;
    let len = file
        .metadata()
        .map_err(io("cannot read WAL segment", path))?
        .len();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, &mut file);
    let (mut pos, mut end) = (0u64, SegmentEnd::default());
    let mut record = Vec::new();
    loop {
        let mut header = [0u8; HEADER];
        if len - pos < HEADER as u64 {
            break;
        }
        reader
            .read_exact(&mut header)
            .map_err(io("cannot read WAL segment", path))?;
        let size = u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        // A length past the end of the file is a torn write: the allocation stays bounded
        // by the file. No record is empty: a zero length (and checksum) is a zeroed tail.
        if size == 0 || size > len - pos - HEADER as u64 {
            break;
        }
        record.resize(size as usize, 0);
        reader
            .read_exact(&mut record)
            .map_err(io("cannot read WAL segment", path))?;
        if crc32fast::hash(&record) != crc {
            break;
        }
        f(&record)?;
        end.records += 1;
        pos += HEADER as u64 + size;
    }
    end.torn_bytes = len - pos;
    Ok(end)
}

/// The segment being appended to.
pub struct Log {
    dir: PathBuf,
    generation: u64,
    path: PathBuf,
    file: Arc<File>,
    /// Where the next frame goes: the end of the last whole frame.
    len: u64,
    frame: Vec<u8>,
    /// Older segments were found at open and are not deleted yet.
    older: bool,
}

impl Log {
    /// Creates the segment of `generation` in `dir` (which must not hold it yet).
    pub fn create(dir: &Path, generation: u64) -> Result<Self> {
        let path = dir.join(format!("{generation:020}{SUFFIX}"));
        let file = File::create_new(&path).map_err(io("cannot create WAL segment", &path))?;
        if let Err(e) = sync_dir(dir) {
            // Else the next try would find the file there.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            generation,
            path,
            file: Arc::new(file),
            len: 0,
            frame: Vec::new(),
            older: false,
        })
    }

    /// Opens the log in `dir` for appending: the newest segment when it is empty, else a
    /// new one. Returns it with the older segments, oldest first, to replay.
    pub fn open(dir: &Path) -> Result<(Self, Vec<(u64, PathBuf)>)> {
        let mut older = segments(dir)?;
        if let Some((generation, path)) = older.last()
            && path
                .metadata()
                .map_err(io("cannot read WAL segment", path))?
                .len()
                == 0
        {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io("cannot open WAL segment", path))?;
            let log = Self {
                dir: dir.to_path_buf(),
                generation: *generation,
                path: path.clone(),
                file: Arc::new(file),
                len: 0,
                frame: Vec::new(),
                older: older.len() > 1,
            };
            older.pop();
            return Ok((log, older));
        }
        let generation = match older.last() {
            Some((g, _)) => g
                .checked_add(1)
                .ok_or_else(|| corrupt("the WAL's last generation is u64::MAX"))?,
            None => 0,
        };
        let mut log = Self::create(dir, generation)?;
        log.older = !older.is_empty();
        Ok((log, older))
    }

    /// Appends one record holding `samples`, written to the OS, not synced (see [`Log::file`]). On an error nothing of the record counts: the next
    /// one overwrites whatever part of it reached the file.
    pub fn append(&mut self, samples: &[(SeriesId, i64, f64)]) -> Result<()> {
        self.frame.clear();
        self.frame.extend_from_slice(&[0; HEADER]);
        encode_into(&mut self.frame, samples);
        let size = self.frame.len() - HEADER;
        let size = u32::try_from(size)
            .map_err(|_| corrupt_owned(format!("WAL record of {size} bytes exceeds 4 GiB")))?;
        let crc = crc32fast::hash(&self.frame[HEADER..]);
        self.frame[..4].copy_from_slice(&size.to_le_bytes());
        self.frame[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = self.file.write_all_at(&self.frame, self.len) {
            // A part written past the last whole frame would be read as a torn tail, and
            // end the replay of this segment there: cut it (the next write overwrites it
            // if this fails too).
            let _ = self.file.set_len(self.len);
            return Err(io("cannot write WAL segment", &self.path)(e));
        }
        self.len += self.frame.len() as u64;
        Ok(())
    }

    /// The segment's file, for `fdatasync` outside the lock that orders appends.
    pub fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Whether [`Log::rotate`] has anything to delete: records in this segment, or older
    /// segments found at open.
    pub fn holds_records(&self) -> bool {
        self.len > 0 || self.older
    }

    /// Bytes of whole records in the current segment.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Starts the next generation's segment and deletes every older one, oldest first (a
    /// crash part way must never leave an older record without the newer ones that
    /// overwrote it). Call once everything the log holds is durable elsewhere.
    pub fn rotate(&mut self) -> Result<()> {
        let generation = self
            .generation
            .checked_add(1)
            .ok_or_else(|| corrupt("the WAL's generation is u64::MAX"))?;
        let next = Self::create(&self.dir, generation)?;
        *self = next;
        for (g, path) in segments(&self.dir)? {
            if g < generation {
                std::fs::remove_file(&path).map_err(io("cannot delete WAL segment", &path))?;
            }
        }
        sync_dir(&self.dir)
    }
}

/// Makes the creation or removal of files in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync the WAL directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn round_trip() {
        let s = vec![(1, 1000, 1.5), (7, -3, f64::NAN), (u64::MAX, i64::MAX, 0.0)];
        let got = decode(&encode(&s)).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (u64::MAX, i64::MAX, 0.0));
        assert!(got[1].2.is_nan());
        assert!(decode(&encode(&s)[..20]).is_err());
    }

    type Records = Vec<Vec<(SeriesId, i64, f64)>>;

    fn read_all(path: &Path) -> (Records, SegmentEnd) {
        let mut got = Vec::new();
        let end = replay(path, |r| {
            got.push(decode(r)?);
            Ok(())
        })
        .unwrap();
        (got, end)
    }

    #[test]
    fn segments_replay_whole_records_and_stop_at_a_torn_or_damaged_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::create(dir.path(), 7).unwrap();
        log.append(&[(1, 10, 1.0), (2, 10, 2.0)]).unwrap();
        log.append(&[(1, 20, 3.0)]).unwrap();
        let whole = log.len();
        let path = dir.path().join(format!("{:020}.wal", 7));
        let (got, end) = read_all(&path);
        assert_eq!(
            got,
            vec![vec![(1, 10, 1.0), (2, 10, 2.0)], vec![(1, 20, 3.0)]]
        );
        assert_eq!(
            end,
            SegmentEnd {
                records: 2,
                torn_bytes: 0
            }
        );

        // A torn write: a header and part of a record.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap();
        let (got, end) = read_all(&path);
        assert_eq!(got.len(), 2);
        assert_eq!(end.torn_bytes, 10);

        // A zeroed tail (a crash after the file grew, before its data reached the disk).
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(whole as usize);
        bytes.extend_from_slice(&[0; 24]);
        std::fs::write(&path, &bytes).unwrap();
        let (got, end) = read_all(&path);
        assert_eq!(got.len(), 2);
        assert_eq!(end.torn_bytes, 24);

        // A damaged record: the replay stops before it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[whole as usize - 1] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let (got, end) = read_all(&path);
        assert_eq!(got, vec![vec![(1, 10, 1.0), (2, 10, 2.0)]]);
        assert_eq!(end.records, 1);
    }

    #[test]
    fn rotation_starts_the_next_generation_and_deletes_the_older_ones() {
        let dir = tempfile::tempdir().unwrap();
        // A segment left by an earlier process, older than this one's.
        Log::create(dir.path(), 2)
            .unwrap()
            .append(&[(1, 1, 1.0)])
            .unwrap();
        let mut log = Log::create(dir.path(), 3).unwrap();
        log.append(&[(1, 2, 2.0)]).unwrap();
        let generations =
            || -> Vec<u64> { segments(dir.path()).unwrap().iter().map(|s| s.0).collect() };
        assert_eq!(generations(), [2, 3]);
        log.rotate().unwrap();
        assert_eq!(log.len(), 0);
        assert_eq!(generations(), [4]);
        log.append(&[(1, 3, 3.0)]).unwrap();
        let (got, _) = read_all(&dir.path().join(format!("{:020}.wal", 4)));
        assert_eq!(got, vec![vec![(1, 3, 3.0)]]);
    }
}
