//! Cold blocks: thousands of samples of one series, packed for size.
//!
//! Timestamps are delta-of-delta coded and zigzagged. Values are turned into integer
//! mantissas with one decimal exponent for the whole block when that is exact (it is for
//! counters, byte gauges and most values with a few decimals), then delta or delta-of-delta
//! coded, whichever is smaller; other blocks (NaN, staleness markers, values with no short
//! decimal form) keep their bits, XORed with the previous value. Both integer columns are
//! written as byte planes, each plane its own zstd frame (a constant plane is one byte).
//! Decoding is bit-exact.

use super::varint::{self, len_u64, zigzag};
use super::{Header, TAG_BLOCK, corrupt};
use crate::Result;

const VALUES_DECIMAL_DELTA: u8 = 0;
const VALUES_DECIMAL_DELTA2: u8 = 1;
const VALUES_XOR: u8 = 2;

/// Largest decimal exponent tried: 10^15 still fits 53-bit mantissas of small numbers.
const MAX_EXP: u32 = 15;

/// Encodes samples (strictly increasing timestamps) as one block.
pub fn encode(samples: &[(i64, f64)], zstd_level: i32) -> Result<Option<Vec<u8>>> {
    let (Some(&(first, _)), Some(&(last, _))) = (samples.first(), samples.last()) else {
        return Ok(None);
    };
    let mut body = Vec::with_capacity(samples.len() * 3);
    let mut prev_ts = first;
    let mut prev_delta = 0i64;
    let mut dods = Vec::with_capacity(samples.len());
    for &(ts, _) in &samples[1..] {
        let delta = ts.wrapping_sub(prev_ts);
        dods.push(zigzag(delta.wrapping_sub(prev_delta)));
        prev_delta = delta;
        prev_ts = ts;
    }
    put_planes(&mut body, &dods, zstd_level)?;
    encode_values(samples, &mut body, zstd_level)?;
    let mut out = Vec::with_capacity(body.len() + 24);
    Header {
        tag: TAG_BLOCK,
        count: samples.len(),
        min_ts: first,
        max_ts: last,
    }
    .write(&mut out);
    out.extend_from_slice(&body);
    Ok(Some(out))
}

fn encode_values(samples: &[(i64, f64)], out: &mut Vec<u8>, level: i32) -> Result<()> {
    if let Some((exp, mantissas)) = decimal(samples) {
        let d1: Vec<u64> = deltas(&mantissas).map(zigzag).collect();
        let d1_as_i: Vec<i64> = deltas(&mantissas).collect();
        let d2: Vec<u64> = deltas(&d1_as_i).map(zigzag).collect();
        let size = |v: &[u64]| v.iter().map(|&x| len_u64(x)).sum::<usize>();
        // Varint length approximates the entropy each choice leaves to zstd.
        let (mode, coded) = if size(&d2) < size(&d1) {
            (VALUES_DECIMAL_DELTA2, d2)
        } else {
            (VALUES_DECIMAL_DELTA, d1)
        };
        out.push(mode);
        out.push(exp as u8);
        varint::put_i64(out, mantissas[0]);
        if mode == VALUES_DECIMAL_DELTA2 {
            varint::put_i64(out, d1_as_i.first().copied().unwrap_or(0));
        }
        return put_planes(out, &coded, level);
    }
    out.push(VALUES_XOR);
    let mut prev = 0u64;
    let xors: Vec<u64> = samples
        .iter()
        .map(|&(_, v)| {
            let bits = v.to_bits();
            let x = bits ^ prev;
            prev = bits;
            x
        })
        .collect();
    put_planes(out, &xors, level)
}

/// Writes integers as byte planes: their width in bytes, then every integer's lowest byte,
/// then every second byte, and so on, each plane its own zstd frame (or one byte when the
/// plane is constant). Each plane then gets its own entropy tables: the high planes are
/// nearly constant and vanish, the noisy low ones are coded alone, where varints in one frame
/// would mix them all.
fn put_planes(out: &mut Vec<u8>, values: &[u64], level: i32) -> Result<()> {
    let width = values
        .iter()
        .map(|&v| 8 - (v.leading_zeros() as usize) / 8)
        .max()
        .unwrap_or(0);
    out.push(width as u8);
    let mut plane = Vec::with_capacity(values.len());
    for p in 0..width {
        plane.clear();
        plane.extend(values.iter().map(|&v| (v >> (8 * p)) as u8));
        if plane.iter().all(|&b| b == plane[0]) {
            varint::put_u64(out, 0);
            out.push(plane[0]);
            continue;
        }
        let frame = zstd::bulk::compress(&plane, level)
            .map_err(|e| crate::Error::Corrupt(format!("zstd compression failed: {e}")))?;
        varint::put_u64(out, frame.len() as u64);
        out.extend_from_slice(&frame);
    }
    Ok(())
}

/// Reads `n` integers written by [`put_planes`].
fn get_planes(r: &mut &[u8], n: usize) -> Result<Vec<u64>> {
    let (&width, rest) = r
        .split_first()
        .ok_or_else(|| corrupt("block plane width is missing"))?;
    *r = rest;
    if width > 8 {
        return Err(corrupt("block plane width out of range"));
    }
    let mut out = vec![0u64; n];
    for p in 0..u32::from(width) {
        let len = varint::get_u64(r)? as usize;
        if len == 0 {
            let (&b, rest) = r
                .split_first()
                .ok_or_else(|| corrupt("block plane is truncated"))?;
            *r = rest;
            for v in &mut out {
                *v |= u64::from(b) << (8 * p);
            }
            continue;
        }
        if r.len() < len {
            return Err(corrupt("block plane is truncated"));
        }
        let (frame, rest) = r.split_at(len);
        *r = rest;
        let plane = zstd::bulk::decompress(frame, n)
            .map_err(|e| crate::Error::Corrupt(format!("zstd block plane: {e}")))?;
        if plane.len() != n {
            return Err(corrupt("block plane is shorter than its block"));
        }
        for (v, &b) in out.iter_mut().zip(&plane) {
            *v |= u64::from(b) << (8 * p);
        }
    }
    Ok(out)
}

/// Successive differences (the first element is not emitted).
fn deltas(v: &[i64]) -> impl Iterator<Item = i64> + '_ {
    v.windows(2).map(|w| w[1].wrapping_sub(w[0]))
}

/// One decimal exponent and integer mantissas that give back every value bit for bit.
fn decimal(samples: &[(i64, f64)]) -> Option<(u32, Vec<i64>)> {
    let mut exp = 0u32;
    for &(_, v) in samples {
        exp = exp.max(exponent_of(v)?);
    }
    let scale = 10f64.powi(exp as i32);
    let mut mantissas = Vec::with_capacity(samples.len());
    for &(_, v) in samples {
        let m = (v * scale).round();
        if m.abs() >= 9.0e15 {
            return None;
        }
        let m = m as i64;
        if (m as f64 / scale).to_bits() != v.to_bits() {
            return None;
        }
        mantissas.push(m);
    }
    Some((exp, mantissas))
}

/// The smallest exponent `e` such that `v` is `m / 10^e` for an integer `m` below 2^53.
fn exponent_of(v: f64) -> Option<u32> {
    if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
        return None;
    }
    (0..=MAX_EXP).find(|&e| {
        let scale = 10f64.powi(e as i32);
        let m = (v * scale).round();
        m.abs() < 9.0e15 && ((m as i64) as f64 / scale).to_bits() == v.to_bits()
    })
}

/// Decodes a block body described by `header`.
pub fn decode_body(header: &Header, body: &[u8], out: &mut Vec<(i64, f64)>) -> Result<()> {
    if header.count == 0 {
        return Err(corrupt("block has no samples"));
    }
    let mut r = body;
    let mut ts = Vec::with_capacity(header.count);
    ts.push(header.min_ts);
    let mut prev = header.min_ts;
    let mut delta = 0i64;
    for dod in get_planes(&mut r, header.count - 1)? {
        delta = delta.wrapping_add(varint::unzigzag(dod));
        prev = prev.wrapping_add(delta);
        ts.push(prev);
    }
    if prev != header.max_ts {
        return Err(corrupt("block ends at a timestamp its header does not say"));
    }
    let (&mode, rest) = r
        .split_first()
        .ok_or_else(|| corrupt("block has no values"))?;
    r = rest;
    out.reserve(header.count);
    match mode {
        VALUES_DECIMAL_DELTA | VALUES_DECIMAL_DELTA2 => {
            let (&exp, rest) = r
                .split_first()
                .ok_or_else(|| corrupt("block has no exponent"))?;
            r = rest;
            if u32::from(exp) > MAX_EXP {
                return Err(corrupt("block exponent out of range"));
            }
            let scale = 10f64.powi(i32::from(exp));
            let mut m = varint::get_i64(&mut r)?;
            let mut d = if mode == VALUES_DECIMAL_DELTA2 {
                varint::get_i64(&mut r)?
            } else {
                0
            };
            let coded = get_planes(
                &mut r,
                if mode == VALUES_DECIMAL_DELTA2 {
                    header.count.saturating_sub(2)
                } else {
                    header.count - 1
                },
            )?;
            let mut coded = coded.into_iter().map(varint::unzigzag);
            out.push((ts[0], m as f64 / scale));
            for (i, &t) in ts.iter().enumerate().skip(1) {
                if mode == VALUES_DECIMAL_DELTA2 {
                    if i > 1 {
                        d = d.wrapping_add(coded.next().unwrap_or(0));
                    }
                    m = m.wrapping_add(d);
                } else {
                    m = m.wrapping_add(coded.next().unwrap_or(0));
                }
                out.push((t, m as f64 / scale));
            }
        }
        VALUES_XOR => {
            let mut prev = 0u64;
            for (&t, x) in ts.iter().zip(get_planes(&mut r, header.count)?) {
                prev ^= x;
                out.push((t, f64::from_bits(prev)));
            }
        }
        m => {
            return Err(super::corrupt_owned(format!(
                "unknown block value mode {m}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> usize {
        let bytes = encode(samples, 3).unwrap().unwrap();
        let mut out = Vec::new();
        super::super::decode(&bytes, &mut out).unwrap();
        assert_eq!(out.len(), samples.len());
        for (a, b) in out.iter().zip(samples) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "{} vs {}", a.1, b.1);
        }
        bytes.len()
    }

    #[test]
    fn counter_with_decimals_packs_below_a_byte_per_sample() {
        let mut c = 0.0f64;
        let samples: Vec<(i64, f64)> = (0..5760)
            .map(|i| {
                c = ((c + 0.37 + (i % 7) as f64 * 0.01) * 100.0).round() / 100.0;
                (1_700_000_000_000 + i * 15_000, c)
            })
            .collect();
        let len = round_trip(&samples);
        assert!(len < 5760, "{len} bytes for 5760 samples");
    }

    #[test]
    fn non_decimal_values_keep_their_bits() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let samples = vec![
            (1, 0.1 + 0.2),
            (2, f64::NAN),
            (3, stale),
            (4, -0.0),
            (5, 1e300),
            (7, f64::NEG_INFINITY),
        ];
        round_trip(&samples);
        round_trip(&[(1, 1e-300)]);
        round_trip(&[(1, -2.5), (2, 3.25), (3, 1e15), (9, -7.0)]);
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let samples: Vec<(i64, f64)> = (0..100).map(|i| (i, i as f64)).collect();
        let bytes = encode(&samples, 3).unwrap().unwrap();
        for cut in 0..bytes.len() {
            let mut out = Vec::new();
            assert!(super::super::decode(&bytes[..cut], &mut out).is_err());
        }
    }
}
