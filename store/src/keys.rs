//! Key layouts, one place for every byte order the store relies on.
//!
//! - series dictionary (`series` keyspace): `i` + series id -> canonical labels (the map
//!   from labels to id is rebuilt in memory at open).
//! - partition index (`i_<partition>` keyspace): `p` + name + 0xFF + value + 0xFF + id
//!   (postings, empty value) and `s` + id (the series present in the partition).
//! - partition data (`d_<partition>` keyspace): id + min_ts + chunk sequence -> chunk; after
//!   every chunk, span marks ([`SPAN_PREFIX`]) and shared timestamp columns of cold blocks
//!   ([`TIMES_PREFIX`] + content hash).
//! - write-ahead log (`wal` keyspace): generation + record number -> record (formats 1 and
//!   2 kept one keyspace per generation, `wal_<generation>`, keyed by record number).
//!
//! 0xFF never occurs in UTF-8, so it separates names and values without escaping. Signed
//! timestamps are stored with the sign bit flipped so that byte order is time order.

use crate::Labels;
use crate::codec::corrupt;
use crate::{Label, Result};

/// Separator between label names and values in keys.
pub const SEP: u8 = 0xFF;

/// The series id type.
pub type SeriesId = u64;

/// Hashes store-assigned integer keys (series ids, partition numbers) with one multiply per
/// word instead of SipHash: clients do not choose them, so flooding resistance buys nothing,
/// and these maps are probed for every appended sample.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // The product's high bits depend on every bit of the key; tables index by the low
        // bits (and the head's shards already split ids by their low bits).
        self.0.rotate_left(26)
    }
}

/// Builds [`IdHasher`]s.
pub type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;

/// Hashes label sets, which clients do choose: foldhash with a per-map random seed, several
/// times faster than SipHash on the short strings of a label set (every appended sample
/// looks its series up by labels).
pub type LabelsBuildHasher = foldhash::fast::RandomState;

/// Canonical encoding of a label set: `name 0xFF value 0xFF` for each label in name order.
pub fn canonical_labels(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for l in labels.iter() {
        out.extend_from_slice(l.name.as_bytes());
        out.push(SEP);
        out.extend_from_slice(l.value.as_bytes());
        out.push(SEP);
    }
    out
}

/// Decodes [`canonical_labels`].
pub fn parse_canonical_labels(mut buf: &[u8]) -> Result<Labels> {
    let mut pairs = Vec::new();
    while !buf.is_empty() {
        let (name, rest) = split_sep(buf)?;
        let (value, rest) = split_sep(rest)?;
        pairs.push(Label {
            name: utf8(name)?,
            value: utf8(value)?,
        });
        buf = rest;
    }
    Ok(Labels::from_sorted_unchecked(pairs))
}

fn split_sep(buf: &[u8]) -> Result<(&[u8], &[u8])> {
    let at = buf
        .iter()
        .position(|&b| b == SEP)
        .ok_or_else(|| corrupt("label encoding lacks a separator"))?;
    Ok((&buf[..at], &buf[at + 1..]))
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| corrupt("label is not UTF-8"))
}

/// Dictionary key from id to labels.
pub fn dict_by_id(id: SeriesId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'i';
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Posting key: `p name FF value FF id`.
pub fn posting(name: &str, value: &str, id: SeriesId) -> Vec<u8> {
    let mut k = posting_value_prefix(name, value);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Prefix of every posting of label `name`.
pub fn posting_name_prefix(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 2);
    k.push(b'p');
    k.extend_from_slice(name.as_bytes());
    k.push(SEP);
    k
}

/// Prefix of the postings of `name="value"`.
pub fn posting_value_prefix(name: &str, value: &str) -> Vec<u8> {
    let mut k = posting_name_prefix(name);
    k.extend_from_slice(value.as_bytes());
    k.push(SEP);
    k
}

/// Splits a posting key into name, value and id.
pub fn parse_posting(key: &[u8]) -> Result<(&[u8], &[u8], SeriesId)> {
    let rest = key
        .strip_prefix(b"p")
        .ok_or_else(|| corrupt("not a posting key"))?;
    let (name, rest) = split_sep(rest)?;
    let (value, rest) = split_sep(rest)?;
    let id: [u8; 8] = rest
        .try_into()
        .map_err(|_| corrupt("posting id is not 8 bytes"))?;
    Ok((name, value, u64::from_be_bytes(id)))
}

/// Presence key of a series in a partition.
pub fn present(id: SeriesId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b's';
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Parses a presence key.
pub fn parse_present(key: &[u8]) -> Result<SeriesId> {
    let id: [u8; 8] = key
        .strip_prefix(b"s")
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| corrupt("bad presence key"))?;
    Ok(u64::from_be_bytes(id))
}

/// Orders signed timestamps as bytes.
pub fn ts_bytes(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

/// Chunk key: id, min_ts, sequence.
pub fn chunk(id: SeriesId, min_ts: i64, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&id.to_be_bytes());
    k[8..16].copy_from_slice(&ts_bytes(min_ts));
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Prefix of a partition's span marks, kept in its data keyspace after every chunk key (no
/// series gets id `u64::MAX`): `SPAN_PREFIX ++ span`, one key per power of two that the
/// widest chunk or block of the partition reached (written, never overwritten).
pub const SPAN_PREFIX: [u8; 12] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, b's', b'p', b'a', b'n',
];

/// The span mark for a chunk covering `span` ms: the span rounded up to a power of two.
pub fn span_mark(span: i64) -> (i64, [u8; 20]) {
    let rounded = (span.max(1) as u64)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX) as i64;
    let rounded = if rounded < 0 { i64::MAX } else { rounded };
    let mut k = [0u8; 20];
    k[..12].copy_from_slice(&SPAN_PREFIX);
    k[12..].copy_from_slice(&(rounded as u64).to_be_bytes());
    (rounded, k)
}

/// The span a span mark records.
pub fn parse_span_mark(key: &[u8]) -> Option<i64> {
    let b: [u8; 8] = key.get(12..20)?.try_into().ok()?;
    i64::try_from(u64::from_be_bytes(b)).ok()
}

/// Prefix of a partition's shared timestamp columns, after its span marks: `TIMES_PREFIX ++
/// id` -> the column ([`crate::codec::block::encode_times`]).
pub const TIMES_PREFIX: [u8; 12] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, b't', b'c', b'o', b'l',
];

/// Key of the shared timestamp column `id`.
pub fn times(id: &crate::codec::block::TimesId) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..12].copy_from_slice(&TIMES_PREFIX);
    k[12..].copy_from_slice(id);
    k
}

/// The sequence number of a chunk key.
pub fn chunk_seq(key: &[u8]) -> Result<u64> {
    let seq: [u8; 8] = key
        .get(16..24)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| corrupt("chunk key is not 24 bytes"))?;
    Ok(u64::from_be_bytes(seq))
}

/// A format 3 WAL record key (the `wal` keyspace, read only to replay a store written by
/// that format): generation, then record number within it.
#[cfg(test)]
pub fn wal(generation: u64, record: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&generation.to_be_bytes());
    k[8..].copy_from_slice(&record.to_be_bytes());
    k
}

/// A key of format 3's WAL keyspace that is no record (records start at number 1): skipped
/// by the replay.
pub const WAL_SENTINEL: [u8; 16] = [0; 16];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_bytes() {
        let ts = [i64::MIN, -1, 0, 1, 15_000, i64::MAX];
        for w in ts.windows(2) {
            assert!(ts_bytes(w[0]) < ts_bytes(w[1]));
        }
    }

    #[test]
    fn labels_and_postings_round_trip() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\u{0}b")]).unwrap();
        assert_eq!(parse_canonical_labels(&canonical_labels(&l)).unwrap(), l);
        let k = posting("job", "x", 42);
        assert_eq!(parse_posting(&k).unwrap(), (&b"job"[..], &b"x"[..], 42));
    }
}
