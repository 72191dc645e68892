//! Hot chunks: the Gorilla encoding (Pelkonen et al., VLDB 2015) as Prometheus uses it.
//!
//! Timestamps are delta-of-delta coded into buckets of 1, 14, 17, 20 or 64 bits; values are
//! XORed with their predecessor and only the meaningful bits stored. A regular 15 s series
//! costs about 1.4 bytes per sample. The encoder is appendable, so the head keeps its open
//! chunk encoded in memory.

use super::{Header, TAG_GORILLA, corrupt};
use crate::Result;

/// An appendable Gorilla chunk. Timestamps must strictly increase.
#[derive(Debug, Clone)]
pub struct Encoder {
    bits: BitWriter,
    count: usize,
    first_ts: i64,
    last_ts: i64,
    last_delta: i64,
    last_value: u64,
    leading: u8,
    trailing: u8,
}

impl Encoder {
    /// A chunk holding one sample.
    pub fn new(ts: i64, value: f64) -> Self {
        Self::with_capacity(ts, value, 0)
    }

    /// A chunk holding one sample, with room for `bytes` of encoded samples before it grows
    /// (a series' head passes the size of its last chunk: most series encode alike from one
    /// chunk to the next, and a buffer grown by doubling would hold a third more than it
    /// uses, on average, for every series).
    pub fn with_capacity(ts: i64, value: f64, bytes: usize) -> Self {
        let mut bits = BitWriter {
            buf: Vec::with_capacity(bytes),
            used: 0,
        };
        bits.write(value.to_bits(), 64);
        Self {
            bits,
            count: 1,
            first_ts: ts,
            last_ts: ts,
            last_delta: 0,
            last_value: value.to_bits(),
            leading: u8::MAX,
            trailing: 0,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a chunk holds at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// First timestamp.
    pub fn first_ts(&self) -> i64 {
        self.first_ts
    }

    /// Last timestamp.
    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }

    /// Bytes held in memory by the encoded samples.
    pub fn size(&self) -> usize {
        self.bits.buf.capacity()
    }

    /// Bytes of encoded samples (without the header `to_bytes` adds).
    pub fn encoded_len(&self) -> usize {
        self.bits.buf.len()
    }

    /// Appends a sample; `ts` must be greater than [`Encoder::last_ts`].
    pub fn push(&mut self, ts: i64, value: f64) {
        debug_assert!(ts > self.last_ts);
        let delta = ts.wrapping_sub(self.last_ts);
        let dod = delta.wrapping_sub(self.last_delta);
        let b = &mut self.bits;
        match dod {
            0 => b.write(0, 1),
            -8191..=8192 => {
                b.write(0b10, 2);
                b.write(dod as u64, 14);
            }
            -65535..=65536 => {
                b.write(0b110, 3);
                b.write(dod as u64, 17);
            }
            -524287..=524288 => {
                b.write(0b1110, 4);
                b.write(dod as u64, 20);
            }
            _ => {
                b.write(0b1111, 4);
                b.write(dod as u64, 64);
            }
        }
        let v = value.to_bits();
        let xor = v ^ self.last_value;
        if xor == 0 {
            b.write(0, 1);
        } else {
            let leading = (xor.leading_zeros() as u8).min(31);
            let trailing = xor.trailing_zeros() as u8;
            if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
                let sig = 64 - self.leading - self.trailing;
                b.write(0b10, 2);
                b.write(xor >> self.trailing, sig);
            } else {
                let sig = 64 - leading - trailing;
                b.write(0b11, 2);
                b.write(u64::from(leading), 5);
                // 64 significant bits are written as 0: the field has 6 bits.
                b.write(u64::from(sig & 63), 6);
                b.write(xor >> trailing, sig);
                self.leading = leading;
                self.trailing = trailing;
            }
        }
        self.count += 1;
        self.last_delta = delta;
        self.last_ts = ts;
        self.last_value = v;
    }

    /// The encoded chunk, header included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bits.buf.len() + 16);
        Header {
            tag: TAG_GORILLA,
            count: self.count,
            min_ts: self.first_ts,
            max_ts: self.last_ts,
        }
        .write(&mut out);
        out.extend_from_slice(&self.bits.buf);
        out
    }

    /// Decodes the samples into `out`.
    pub fn decode_into(&self, out: &mut Vec<(i64, f64)>) -> Result<()> {
        let header = Header {
            tag: TAG_GORILLA,
            count: self.count,
            min_ts: self.first_ts,
            max_ts: self.last_ts,
        };
        decode_body(&header, &self.bits.buf, out)
    }
}

/// Encodes samples (strictly increasing timestamps) as one chunk.
pub fn encode(samples: &[(i64, f64)]) -> Option<Vec<u8>> {
    let (&(t0, v0), rest) = samples.split_first()?;
    let mut enc = Encoder::new(t0, v0);
    for &(t, v) in rest {
        enc.push(t, v);
    }
    Some(enc.to_bytes())
}

/// Decodes a Gorilla chunk body described by `header`.
pub fn decode_body(header: &Header, body: &[u8], out: &mut Vec<(i64, f64)>) -> Result<()> {
    if header.count == 0 {
        return Ok(());
    }
    // A sample costs at least 2 bits: a count that the body cannot hold is corrupt, and
    // checking it bounds the allocation below.
    if header.count > body.len().saturating_mul(4).saturating_add(1) {
        return Err(corrupt("gorilla chunk count exceeds its body"));
    }
    out.reserve(header.count);
    let mut r = BitReader::new(body);
    let mut ts = header.min_ts;
    let mut value = r.read(64)?;
    out.push((ts, f64::from_bits(value)));
    let mut delta = 0i64;
    let (mut leading, mut trailing) = (0u8, 0u8);
    for _ in 1..header.count {
        let dod = if r.read(1)? == 0 {
            0
        } else if r.read(1)? == 0 {
            bucket_value(r.read(14)?, 14)
        } else if r.read(1)? == 0 {
            bucket_value(r.read(17)?, 17)
        } else if r.read(1)? == 0 {
            bucket_value(r.read(20)?, 20)
        } else {
            r.read(64)? as i64
        };
        delta = delta.wrapping_add(dod);
        ts = ts.wrapping_add(delta);
        if r.read(1)? == 1 {
            if r.read(1)? == 1 {
                leading = r.read(5)? as u8;
                let sig = r.read(6)? as u8;
                let sig = if sig == 0 { 64 } else { sig };
                trailing = 64u8
                    .checked_sub(leading + sig)
                    .ok_or_else(|| corrupt("gorilla value window out of range"))?;
            }
            let sig = 64 - leading - trailing;
            value ^= r.read(sig)? << trailing;
        }
        out.push((ts, f64::from_bits(value)));
    }
    if ts != header.max_ts {
        return Err(corrupt(
            "gorilla chunk ends at a timestamp its header does not say",
        ));
    }
    Ok(())
}

/// A delta-of-delta from its `bits`-bit bucket. The encoder puts `-(2^(bits-1) - 1) ..=
/// 2^(bits-1)` in a bucket (Prometheus's ranges), not the two's-complement range, so the top
/// value `2^(bits-1)` (8192, 65536, 524288) is positive: plain sign extension would turn it
/// into `-2^(bits-1)`.
fn bucket_value(v: u64, bits: u32) -> i64 {
    let v = v as i64;
    if v > 1 << (bits - 1) {
        v - (1 << bits)
    } else {
        v
    }
}

#[derive(Debug, Clone, Default)]
struct BitWriter {
    buf: Vec<u8>,
    /// Bits used in the last byte (0 means the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    /// Writes the low `n` bits of `v`, most significant first.
    fn write(&mut self, v: u64, n: u8) {
        let mut n = n;
        while n > 0 {
            if self.used == 0 {
                self.buf.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(n);
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= chunk << (free - take);
            }
            self.used = (self.used + take) % 8;
            n -= take;
        }
    }
}

struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Reads `n` (at most 64) bits, most significant first: one unaligned 8-byte load and
    /// shifts, plus one more byte when the bits straddle it.
    #[inline]
    fn read(&mut self, n: u8) -> Result<u64> {
        let n = usize::from(n.min(64));
        if n == 0 {
            return Ok(0);
        }
        let end = self.pos + n;
        if end > self.buf.len() * 8 {
            return Err(corrupt("gorilla chunk is truncated"));
        }
        let at = self.pos / 8;
        let off = self.pos % 8;
        let word = match self.buf.get(at..at + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().unwrap_or([0; 8])),
            None => {
                // Fewer than 8 bytes left: zero-padded.
                let mut word = [0u8; 8];
                let tail = &self.buf[at..];
                word[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(word)
            }
        };
        let first = word << off;
        let v = if off + n <= 64 {
            first >> (64 - n)
        } else {
            // The last `rest` (1..=7) bits are the top of the ninth byte.
            let rest = off + n - 64;
            let ninth = u64::from(self.buf.get(at + 8).copied().unwrap_or(0));
            (first >> (64 - n)) | (ninth >> (8 - rest))
        };
        self.pos = end;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<u8> {
        let bytes = encode(samples).unwrap();
        let mut out = Vec::new();
        super::super::decode(&bytes, &mut out).unwrap();
        assert_eq!(out.len(), samples.len());
        for (a, b) in out.iter().zip(samples) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits());
        }
        bytes
    }

    #[test]
    fn bit_reader_reads_any_width_at_any_offset() {
        // Against the definition: bit i of the stream is bit 7 - i % 8 of byte i / 8.
        let bytes: Vec<u8> = (0..40u32)
            .map(|i| (i.wrapping_mul(151) ^ 0x5a) as u8)
            .collect();
        let bit = |i: usize| u64::from(bytes[i / 8] >> (7 - i % 8) & 1);
        for start in 0..24 {
            for n in 0..=64u8 {
                let mut r = BitReader::new(&bytes);
                r.read((start % 65) as u8).unwrap();
                let at = r.pos;
                let want = (0..usize::from(n)).fold(0u64, |v, i| (v << 1) | bit(at + i));
                assert_eq!(r.read(n).unwrap(), want, "{n} bits at {at}");
                assert_eq!(r.pos, at + usize::from(n));
            }
        }
        let mut r = BitReader::new(&bytes[..2]);
        assert!(r.read(10).is_ok());
        assert!(r.read(7).is_err(), "past the end");
    }

    #[test]
    fn regular_series_is_small() {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i / 10) as f64))
            .collect();
        let bytes = round_trip(&samples);
        assert!(bytes.len() < 120 * 2, "{} bytes", bytes.len());
    }

    #[test]
    fn odd_values_and_gaps_round_trip() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let samples = vec![
            (-5, 1.5),
            (0, f64::NAN),
            (1, stale),
            (2, -0.0),
            (100_000_000_000, f64::INFINITY),
            (100_000_000_001, f64::MIN_POSITIVE),
            (i64::MAX - 1, f64::MAX),
            (i64::MAX, 0.1),
        ];
        round_trip(&samples);
    }

    #[test]
    fn delta_of_delta_bucket_edges_round_trip() {
        // Deltas whose delta-of-deltas are 8192, -8191, 65536, -65535, 524288, -524287: both
        // ends of the 14-, 17- and 20-bit buckets.
        let mut t = 1_700_000_000_000i64;
        let mut samples = vec![(t, 0.0)];
        for d in [8_192, 1, 65_537, 2, 524_290, 3] {
            t += d;
            samples.push((t, d as f64));
        }
        round_trip(&samples);
    }

    #[test]
    fn truncated_chunk_is_an_error_not_a_panic() {
        let samples: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, i as f64 * 0.37)).collect();
        let bytes = encode(&samples).unwrap();
        for cut in 0..bytes.len() {
            let mut out = Vec::new();
            assert!(super::super::decode(&bytes[..cut], &mut out).is_err());
        }
    }
}
