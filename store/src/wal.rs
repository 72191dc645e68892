//! Write-ahead log records: one per append, holding every accepted sample of that append.
//!
//! A record is `count (uvarint)` then, per sample, `series id (uvarint)`, `timestamp - previous
//! timestamp (zigzag varint)` and the value's 8 bytes (little endian). Records live in the
//! `wal` keyspace keyed by generation and record number; a checkpoint seals the head into
//! chunks, starts a new generation and deletes the older ones' records.

use crate::Result;
use crate::codec::varint;
use crate::codec::{corrupt, corrupt_owned};
use crate::keys::SeriesId;

/// Encodes samples as one record.
pub fn encode(samples: &[(SeriesId, i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 14 + 4);
    varint::put_u64(&mut out, samples.len() as u64);
    let mut prev = 0i64;
    for &(id, ts, v) in samples {
        varint::put_u64(&mut out, id);
        varint::put_i64(&mut out, ts.wrapping_sub(prev));
        out.extend_from_slice(&v.to_bits().to_le_bytes());
        prev = ts;
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = vec![(1, 1000, 1.5), (7, -3, f64::NAN), (u64::MAX, i64::MAX, 0.0)];
        let got = decode(&encode(&s)).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (u64::MAX, i64::MAX, 0.0));
        assert!(got[1].2.is_nan());
        assert!(decode(&encode(&s)[..20]).is_err());
    }
}
