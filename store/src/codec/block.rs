//! Cold blocks: thousands of samples of one series, packed for size.
//!
//! Timestamps are delta-of-delta or delta coded, whichever packs smaller (a regular scrape
//! makes delta-of-delta all zeros; a jittered one makes deltas the narrower range). Every
//! series scraped together has the same timestamps, and a few ms of scrape jitter make them
//! cost more than many series' values: so a block may instead name a column of timestamps
//! packed on its own ([`encode_times`]), stored once by the store and found by its content's
//! hash ([`times_id`]); decoding such a block asks the caller for that column. Values are
//! turned into integer mantissas with one decimal exponent for the whole block when that is
//! exact (it is for counters, byte gauges and most values with a few decimals), then kept as
//! they are or delta or delta-of-delta coded, whichever packs smallest; other blocks (NaN,
//! staleness markers, values with no short decimal form) keep their bits, XORed with the
//! previous value. An integer column is zigzagged, or offset by its minimum (a counter's
//! increments are all positive: no sign bit to spend), whichever packs smaller; then it is
//! written as byte planes, each plane its own zstd frame (a constant plane is one byte). Every
//! choice is made by packing each candidate and keeping the smallest. Decoding is bit-exact.
//!
//! Blocks tagged [`TAG_BLOCK_V1`] (format 1: always delta-of-delta timestamps, zigzagged
//! columns, no verbatim mantissas) are still read.

use super::varint::{self, zigzag};
use super::{Header, TAG_BLOCK, TAG_BLOCK_V1, corrupt};
use crate::Result;
use std::cell::RefCell;

const VALUES_DECIMAL_DELTA: u8 = 0;
const VALUES_DECIMAL_DELTA2: u8 = 1;
const VALUES_XOR: u8 = 2;
const VALUES_DECIMAL: u8 = 3;

const TIMESTAMPS_DELTA2: u8 = 0;
const TIMESTAMPS_DELTA: u8 = 1;
/// The block's timestamps are a shared column, named by its [`TimesId`].
const TIMESTAMPS_SHARED: u8 = 2;

const COLUMN_ZIGZAG: u8 = 0;
const COLUMN_OFFSET: u8 = 1;

/// Most samples a block (or a shared timestamp column) may hold when read: far above what
/// the store writes (16,384), low enough that a corrupt count cannot exhaust memory.
pub const MAX_BLOCK_SAMPLES: usize = 1 << 20;

/// Largest decimal exponent tried: 10^15 still fits 53-bit mantissas of small numbers.
const MAX_EXP: u32 = 15;

/// The content hash that names a column of timestamps shared by blocks: the first 16 bytes
/// of the SHA-256 of the timestamps' little-endian bytes. Collision-resistant (clients choose
/// timestamps: two columns must never share a name), stable across versions and platforms.
pub type TimesId = [u8; 16];

/// The [`TimesId`] of these timestamps.
pub fn times_id(times: &[i64]) -> TimesId {
    use sha2::Digest;
    let bytes: Vec<u8> = times.iter().flat_map(|t| t.to_le_bytes()).collect();
    let digest = sha2::Sha256::digest(&bytes);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// Encodes samples (strictly increasing timestamps) as one block with its own timestamps.
pub fn encode(samples: &[(i64, f64)], zstd_level: i32) -> Result<Option<Vec<u8>>> {
    encode_block(samples, None, zstd_level)
}

/// Encodes samples as one block whose timestamps are the shared column `id`, which must be
/// [`times_id`] of the samples' timestamps (and stored where the block's reader finds it).
pub fn encode_sharing(
    samples: &[(i64, f64)],
    id: &TimesId,
    zstd_level: i32,
) -> Result<Option<Vec<u8>>> {
    encode_block(samples, Some(id), zstd_level)
}

fn encode_block(
    samples: &[(i64, f64)],
    shared: Option<&TimesId>,
    zstd_level: i32,
) -> Result<Option<Vec<u8>>> {
    let (Some(&(first, _)), Some(&(last, _))) = (samples.first(), samples.last()) else {
        return Ok(None);
    };
    let mut body = Vec::with_capacity(samples.len() * 3);
    match shared {
        Some(id) => {
            body.push(TIMESTAMPS_SHARED);
            body.extend_from_slice(id);
        }
        None => {
            let times: Vec<i64> = samples.iter().map(|&(t, _)| t).collect();
            put_times(&mut body, &times, zstd_level)?;
        }
    }
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

/// Packs a column of timestamps on its own, to be shared by blocks: `count (uvarint) |
/// first (zigzag varint) | mode | column`.
pub fn encode_times(times: &[i64], zstd_level: i32) -> Result<Vec<u8>> {
    let Some(&first) = times.first() else {
        return Err(corrupt("a shared timestamp column is empty"));
    };
    let mut out = Vec::with_capacity(times.len() / 2 + 16);
    varint::put_u64(&mut out, times.len() as u64);
    varint::put_i64(&mut out, first);
    put_times(&mut out, times, zstd_level)?;
    Ok(out)
}

/// Decodes [`encode_times`].
pub fn decode_times(buf: &[u8]) -> Result<Vec<i64>> {
    let mut r = buf;
    let count = varint::get_u64(&mut r)? as usize;
    let first = varint::get_i64(&mut r)?;
    if count == 0 || count > MAX_BLOCK_SAMPLES {
        return Err(corrupt("a shared timestamp column has an impossible count"));
    }
    let times = get_times(&mut r, first, count, false)?;
    if !r.is_empty() {
        return Err(corrupt("a shared timestamp column has trailing bytes"));
    }
    Ok(times)
}

/// Writes timestamps (after the first, which the reader knows) as a mode byte and a column.
fn put_times(out: &mut Vec<u8>, times: &[i64], level: i32) -> Result<()> {
    let d1: Vec<i64> = deltas(times).collect();
    // Delta-of-delta, the first against a delta of 0 (so it is the first delta).
    let d2: Vec<i64> = d1.first().copied().into_iter().chain(deltas(&d1)).collect();
    let (mode, column) = pick(&[(TIMESTAMPS_DELTA2, &d2), (TIMESTAMPS_DELTA, &d1)], level)?;
    out.push(mode);
    out.extend_from_slice(&column);
    Ok(())
}

/// Reads `count` timestamps starting at `first` written by [`put_times`] (in a format 1
/// block: no mode byte, delta-of-delta).
fn get_times(r: &mut &[u8], first: i64, count: usize, v1: bool) -> Result<Vec<i64>> {
    let mode = if v1 {
        TIMESTAMPS_DELTA2
    } else {
        let (&m, rest) = r
            .split_first()
            .ok_or_else(|| corrupt("block has no timestamps"))?;
        *r = rest;
        m
    };
    if mode != TIMESTAMPS_DELTA2 && mode != TIMESTAMPS_DELTA {
        return Err(corrupt("unknown block timestamp mode"));
    }
    let mut ts = Vec::with_capacity(count);
    ts.push(first);
    let mut prev = first;
    let mut delta = 0i64;
    for d in get_column(r, count - 1, v1)? {
        if mode == TIMESTAMPS_DELTA2 {
            delta = delta.wrapping_add(d);
        } else {
            delta = d;
        }
        prev = prev.wrapping_add(delta);
        ts.push(prev);
    }
    Ok(ts)
}

/// zstd level at which candidate forms of a column are compared (fast, and it ranks them as
/// the slower levels do); only the winner is packed at the store's level.
const PROBE_LEVEL: i32 = 1;

/// The smallest of the candidates (the first among equals).
fn smallest<T>(candidates: impl IntoIterator<Item = (usize, T)>) -> Option<T> {
    candidates
        .into_iter()
        .reduce(|best, c| if c.0 < best.0 { c } else { best })
        .map(|(_, t)| t)
}

/// The mode whose column packs smallest, and that column packed at `level`.
fn pick(candidates: &[(u8, &[i64])], level: i32) -> Result<(u8, Vec<u8>)> {
    let mut probed = Vec::with_capacity(candidates.len());
    for &(mode, values) in candidates {
        let p = Probed::new(values)?;
        probed.push((p.packed.len(), (mode, p)));
    }
    match smallest(probed) {
        Some((mode, p)) => Ok((mode, p.pack(level)?)),
        None => Ok((0, Vec::new())),
    }
}

fn encode_values(samples: &[(i64, f64)], out: &mut Vec<u8>, level: i32) -> Result<()> {
    if let Some((exp, mantissas)) = decimal(samples) {
        let d1: Vec<i64> = deltas(&mantissas).collect();
        let d2: Vec<i64> = deltas(&d1).collect();
        let (mode, column) = pick(
            &[
                (VALUES_DECIMAL_DELTA, &d1),
                (VALUES_DECIMAL_DELTA2, &d2),
                (VALUES_DECIMAL, &mantissas[1..]),
            ],
            level,
        )?;
        out.push(mode);
        out.push(exp as u8);
        varint::put_i64(out, mantissas[0]);
        if mode == VALUES_DECIMAL_DELTA2 {
            varint::put_i64(out, d1.first().copied().unwrap_or(0));
        }
        out.extend_from_slice(&column);
        return Ok(());
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

/// Packs signed integers: zigzagged, or offset by their minimum, whichever is smaller.
#[cfg(test)]
fn column(values: &[i64], level: i32) -> Result<Vec<u8>> {
    Probed::new(values)?.pack(level)
}

/// A column in the smaller of its two forms, as packed at [`PROBE_LEVEL`].
struct Probed {
    /// Form byte (and the offset's minimum).
    prefix: Vec<u8>,
    /// The integers in that form.
    unsigned: Vec<u64>,
    /// `prefix` and the planes at [`PROBE_LEVEL`].
    packed: Vec<u8>,
}

impl Probed {
    fn new(values: &[i64]) -> Result<Self> {
        let min = values.iter().copied().min().unwrap_or(0);
        let mut offset_prefix = vec![COLUMN_OFFSET];
        varint::put_i64(&mut offset_prefix, min);
        let forms = [
            (
                vec![COLUMN_ZIGZAG],
                values.iter().map(|&v| zigzag(v)).collect::<Vec<u64>>(),
            ),
            (
                offset_prefix,
                values.iter().map(|&v| v.wrapping_sub(min) as u64).collect(),
            ),
        ];
        let mut probed = Vec::with_capacity(forms.len());
        for (prefix, unsigned) in forms {
            let mut packed = prefix.clone();
            put_planes(&mut packed, &unsigned, PROBE_LEVEL)?;
            probed.push((
                packed.len(),
                Self {
                    prefix,
                    unsigned,
                    packed,
                },
            ));
        }
        smallest(probed).ok_or_else(|| corrupt("a column has no form"))
    }

    /// The column packed at `level`.
    fn pack(self, level: i32) -> Result<Vec<u8>> {
        if level == PROBE_LEVEL {
            return Ok(self.packed);
        }
        let mut out = self.prefix;
        put_planes(&mut out, &self.unsigned, level)?;
        Ok(out)
    }
}

/// Reads `n` integers written by [`Probed::pack`] (or, in a format 1 block, zigzagged planes).
fn get_column(r: &mut &[u8], n: usize, v1: bool) -> Result<Vec<i64>> {
    if v1 {
        return Ok(get_planes(r, n)?
            .into_iter()
            .map(varint::unzigzag)
            .collect());
    }
    let (&mode, rest) = r
        .split_first()
        .ok_or_else(|| corrupt("block column is missing"))?;
    *r = rest;
    match mode {
        COLUMN_ZIGZAG => Ok(get_planes(r, n)?
            .into_iter()
            .map(varint::unzigzag)
            .collect()),
        COLUMN_OFFSET => {
            let min = varint::get_i64(r)?;
            Ok(get_planes(r, n)?
                .into_iter()
                .map(|v| (v as i64).wrapping_add(min))
                .collect())
        }
        _ => Err(corrupt("unknown block column mode")),
    }
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
        let frame = compress(&plane, level)?;
        varint::put_u64(out, frame.len() as u64);
        out.extend_from_slice(&frame);
    }
    Ok(())
}

thread_local! {
    /// zstd contexts, one of each per thread: creating one per plane cost as much as
    /// decoding a small plane.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// One zstd frame of `data` at `level`.
fn compress(data: &[u8], level: i32) -> Result<Vec<u8>> {
    let failed = |e: std::io::Error| crate::Error::Corrupt(format!("zstd compression failed: {e}"));
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        let c = match &mut *c {
            Some(c) => {
                c.set_compression_level(level).map_err(failed)?;
                c
            }
            None => c.insert(zstd::bulk::Compressor::new(level).map_err(failed)?),
        };
        c.compress(data).map_err(failed)
    })
}

/// Decompresses one zstd frame of at most `capacity` bytes.
fn decompress(frame: &[u8], capacity: usize) -> Result<Vec<u8>> {
    let failed = |e: std::io::Error| crate::Error::Corrupt(format!("zstd block plane: {e}"));
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        let d = match &mut *d {
            Some(d) => d,
            None => d.insert(zstd::bulk::Decompressor::new().map_err(failed)?),
        };
        d.decompress(frame, capacity).map_err(failed)
    })
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
        let plane = decompress(frame, n)?;
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

/// Finds a shared timestamp column by its id (the store looks it up in the block's
/// partition).
pub type ResolveTimes<'a> = dyn FnMut(&TimesId) -> Result<std::sync::Arc<[i64]>> + 'a;

/// Decodes the samples of a block body described by `header` whose timestamps are in
/// `range` (every byte is still checked; values outside it are never turned into floats);
/// `resolve` gives shared timestamp columns.
pub fn decode_body(
    header: &Header,
    body: &[u8],
    out: &mut Vec<(i64, f64)>,
    range: std::ops::RangeInclusive<i64>,
    resolve: &mut ResolveTimes<'_>,
) -> Result<()> {
    if header.count == 0 {
        return Err(corrupt("block has no samples"));
    }
    // The store writes at most 16,384 samples per block; a corrupt count must not size an
    // allocation.
    if header.count > MAX_BLOCK_SAMPLES {
        return Err(corrupt("block claims more samples than any block holds"));
    }
    let v1 = header.tag == TAG_BLOCK_V1;
    let mut r = body;
    let owned;
    let shared;
    let ts: &[i64] = if !v1 && r.first() == Some(&TIMESTAMPS_SHARED) {
        let id: TimesId = r
            .get(1..17)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("block's shared timestamp column id is truncated"))?;
        r = &r[17..];
        shared = resolve(&id)?;
        if shared.len() != header.count || shared.first() != Some(&header.min_ts) {
            return Err(corrupt(
                "a shared timestamp column does not match the block naming it",
            ));
        }
        &shared
    } else {
        owned = get_times(&mut r, header.min_ts, header.count, v1)?;
        &owned
    };
    if ts.last() != Some(&header.max_ts) {
        return Err(corrupt("block ends at a timestamp its header does not say"));
    }
    let (&mode, rest) = r
        .split_first()
        .ok_or_else(|| corrupt("block has no values"))?;
    r = rest;
    // The samples wanted: timestamps ascend.
    let from = ts.partition_point(|t| t < range.start());
    let to = ts.partition_point(|t| t <= range.end());
    out.reserve(to.saturating_sub(from));
    match mode {
        VALUES_DECIMAL_DELTA | VALUES_DECIMAL_DELTA2 | VALUES_DECIMAL
            if !(v1 && mode == VALUES_DECIMAL) =>
        {
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
            let n = if mode == VALUES_DECIMAL_DELTA2 {
                header.count.saturating_sub(2)
            } else {
                header.count - 1
            };
            let mut coded = get_column(&mut r, n, v1)?.into_iter();
            for (i, &t) in ts.iter().enumerate().take(to) {
                match mode {
                    _ if i == 0 => {}
                    VALUES_DECIMAL_DELTA2 => {
                        if i > 1 {
                            d = d.wrapping_add(coded.next().unwrap_or(0));
                        }
                        m = m.wrapping_add(d);
                    }
                    VALUES_DECIMAL_DELTA => m = m.wrapping_add(coded.next().unwrap_or(0)),
                    _ => m = coded.next().unwrap_or(0),
                }
                if i >= from {
                    out.push((t, m as f64 / scale));
                }
            }
        }
        VALUES_XOR => {
            let mut prev = 0u64;
            let xors = get_planes(&mut r, header.count)?;
            for (i, (&t, x)) in ts.iter().zip(xors).enumerate().take(to) {
                prev ^= x;
                if i >= from {
                    out.push((t, f64::from_bits(prev)));
                }
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

    /// Blocks written by format 1 (this codec before timestamp and column modes) still read.
    #[test]
    fn format_1_blocks_still_decode() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let decimal: Vec<(i64, f64)> = (0..12)
            .map(|i| {
                (
                    1_700_000_000_000 + i * 15_000 + (i % 3),
                    10.0 + (i * i) as f64 * 0.25,
                )
            })
            .collect();
        let xor: Vec<(i64, f64)> = (0..6)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i as f64).sqrt()))
            .collect();
        let v1 = [
            (
                decimal,
                "020c80a0abfef9628a890a021428b52ffd200b59000032000506000506000506001128b52ffd200b450000107500010005c0020102d00f32010064",
            ),
            (
                xor,
                "020680a0abfef962f8c904020e28b52ffd200529000030000000000e28b52ffd2005290000750000000002080f28b52ffd20063100000000cd67aaa80f28b52ffd200631000000003b774cf40f28b52ffd200631000000007f2758970f28b52ffd20063100000000668ee89b0f28b52ffd200631000000009ee47a770f28b52ffd20063100000000a016b6e30f28b52ffd200631000000f0060dfb010f28b52ffd2006310000003f00007f00",
            ),
        ];
        for (samples, bytes) in v1 {
            let mut out = Vec::new();
            super::super::decode(&hex(bytes), &mut out).unwrap();
            assert_eq!(out.len(), samples.len());
            for (a, b) in out.iter().zip(&samples) {
                assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
            }
            // Written again, they take the current format.
            round_trip(&samples);
        }
    }

    /// The timestamp mode byte of an encoded block.
    fn timestamp_mode(block: &[u8]) -> u8 {
        let (_, body) = Header::read(block).unwrap();
        body[0]
    }

    #[test]
    fn each_column_takes_its_smallest_form() {
        let t0 = 1_700_000_000_000i64;
        // A few ms of jitter per scrape: deltas span 15 values, delta-of-delta 29.
        let jittered: Vec<(i64, f64)> = (0..5760i64)
            .map(|i| (t0 + i * 15_000 + ((i * 2_654_435_761) >> 16) % 8, 1.0))
            .collect();
        // An interval that keeps growing by 2 ms: constant delta-of-delta.
        let slowing: Vec<(i64, f64)> = (0..5760i64)
            .map(|i| (t0 + i * 15_000 + i * i, 1.0))
            .collect();
        for (samples, mode) in [(&jittered, TIMESTAMPS_DELTA), (&slowing, TIMESTAMPS_DELTA2)] {
            round_trip(samples);
            let block = encode(samples, 3).unwrap().unwrap();
            assert_eq!(timestamp_mode(&block), mode);
        }
        // A counter's increments are all positive: offset by their minimum, they fit a byte,
        // where zigzagged they would spill into a second plane.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let increments: Vec<i64> = (0..5760)
            .map(|_| {
                // xorshift64: no period for zstd to find.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1_000 + (x % 250) as i64
            })
            .collect();
        assert_eq!(column(&increments, 3).unwrap()[0], COLUMN_OFFSET);
        // A gauge that rarely moves, far either way.
        let spikes: Vec<i64> = (0..5760i64)
            .map(|i| match i % 97 {
                0 => -1_000_000,
                1 => i64::MAX,
                _ => 0,
            })
            .collect();
        for values in [increments, spikes] {
            let packed = column(&values, 3).unwrap();
            let mut r = packed.as_slice();
            assert_eq!(get_column(&mut r, values.len(), false).unwrap(), values);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn shared_timestamp_columns_round_trip_and_must_match_their_block() {
        let times: Vec<i64> = (0..500i64).map(|i| 1_000 + i * 15_000 + i % 5).collect();
        let samples: Vec<(i64, f64)> = times.iter().map(|&t| (t, 0.5)).collect();
        let column = encode_times(&times, 3).unwrap();
        assert_eq!(decode_times(&column).unwrap(), times);
        for cut in 0..column.len() {
            assert!(decode_times(&column[..cut]).is_err(), "cut at {cut}");
        }
        let id = times_id(&times);
        let block = encode_sharing(&samples, &id, 3).unwrap().unwrap();
        let mut out = Vec::new();
        let shared: std::sync::Arc<[i64]> = times.clone().into();
        super::super::decode_with(&block, &mut out, &mut |got| {
            assert_eq!(got, &id);
            Ok(shared.clone())
        })
        .unwrap();
        assert_eq!(out, samples);
        // A column that is not the block's (another length, another start or end) is refused.
        for wrong in [
            &times[1..],
            &times[..499],
            &[&times[..499], &[i64::MAX]].concat(),
        ] {
            let wrong: std::sync::Arc<[i64]> = wrong.to_vec().into();
            let err =
                super::super::decode_with(&block, &mut Vec::new(), &mut |_| Ok(wrong.clone()))
                    .unwrap_err();
            assert!(err.to_string().contains("timestamp"), "{err}");
        }
        assert_ne!(times_id(&times), times_id(&times[1..]));
    }

    /// A range gives exactly the samples a full decode has in it, for every value form.
    #[test]
    fn a_range_decodes_exactly_its_samples() {
        let t0 = 1_700_000_000_000i64;
        let forms: Vec<Vec<(i64, f64)>> = vec![
            (0..300)
                .map(|i| (t0 + i * 15_000, i as f64 * 0.25))
                .collect(),
            (0..300)
                .map(|i| (t0 + i * 15_000, (i * i) as f64))
                .collect(),
            (0..300)
                .map(|i| (t0 + i * 15_000, ((i * 7_919) % 101) as f64))
                .collect(),
            (0..300)
                .map(|i| (t0 + i * 15_000, (i as f64).sqrt()))
                .collect(),
        ];
        for samples in forms {
            let block = encode(&samples, 3).unwrap().unwrap();
            for (start, end) in [
                (i64::MIN, i64::MAX),
                (t0, t0),
                (t0 + 1, t0 + 15_000 * 10),
                (t0 + 15_000 * 299, i64::MAX),
                (t0 + 15_000 * 120 - 1, t0 + 15_000 * 180 + 1),
                (t0 - 10, t0 - 1),
                (t0 + 15_000 * 300, i64::MAX),
            ] {
                let mut out = vec![(0, 0.0)];
                super::super::decode_range(&block, &mut out, start..=end, &mut |_| unreachable!())
                    .unwrap();
                let expected: Vec<(i64, f64)> = std::iter::once((0, 0.0))
                    .chain(
                        samples
                            .iter()
                            .copied()
                            .filter(|(t, _)| (start..=end).contains(t)),
                    )
                    .collect();
                assert_eq!(out, expected, "[{start}, {end}]");
            }
        }
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
