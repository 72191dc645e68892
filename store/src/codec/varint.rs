//! LEB128 varints and zigzag signed integers.

use super::corrupt;
use crate::Result;

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, zigzag(v));
}

/// Maps signed to unsigned so that small magnitudes stay small.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads an unsigned varint from the front of `buf`, advancing it.
pub fn get_u64(buf: &mut &[u8]) -> Result<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let (&b, rest) = buf
            .split_first()
            .ok_or_else(|| corrupt("truncated varint"))?;
        *buf = rest;
        if shift == 63 && b > 1 {
            return Err(corrupt("varint overflows 64 bits"));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
        shift += 7;
        if shift > 63 {
            return Err(corrupt("varint overflows 64 bits"));
        }
    }
}

/// Reads a zigzag varint from the front of `buf`, advancing it.
pub fn get_i64(buf: &mut &[u8]) -> Result<i64> {
    get_u64(buf).map(unzigzag)
}

/// Number of bytes `put_u64` would write.
pub fn len_u64(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        for v in [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            assert_eq!(out.len(), len_u64(zigzag(v)));
            let mut s = out.as_slice();
            assert_eq!(get_i64(&mut s).unwrap(), v);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn truncated_and_overlong_are_errors() {
        let mut s: &[u8] = &[0x80];
        assert!(get_u64(&mut s).is_err());
        let mut s: &[u8] = &[0xff; 11];
        assert!(get_u64(&mut s).is_err());
    }
}
