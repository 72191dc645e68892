//! Sample encodings: varints, hot Gorilla chunks and cold zstd blocks.
//!
//! Every encoded chunk starts with the same header, so a reader can skip a chunk that does not
//! overlap its time range without decoding it:
//!
//! ```text
//! tag (1 byte: 1 = gorilla, 2 = block of format 1, 3 = block) | count (uvarint) | min_ts (zigzag varint) | max_ts - min_ts (uvarint) | body
//! ```

pub mod block;
pub mod gorilla;
pub mod varint;

use crate::{Error, Result};

/// Tag byte of a hot Gorilla chunk.
pub const TAG_GORILLA: u8 = 1;
/// Tag byte of a cold block as format 1 wrote it (still read).
pub const TAG_BLOCK_V1: u8 = 2;
/// Tag byte of a cold block.
pub const TAG_BLOCK: u8 = 3;

/// Whether a chunk with this tag is a cold block (of any format).
pub fn is_block(tag: u8) -> bool {
    tag == TAG_BLOCK || tag == TAG_BLOCK_V1
}

/// The header of an encoded chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Encoding tag.
    pub tag: u8,
    /// Number of samples.
    pub count: usize,
    /// First timestamp.
    pub min_ts: i64,
    /// Last timestamp.
    pub max_ts: i64,
}

impl Header {
    /// Appends the header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        varint::put_u64(out, self.count as u64);
        varint::put_i64(out, self.min_ts);
        varint::put_u64(out, self.max_ts.wrapping_sub(self.min_ts) as u64);
    }

    /// Reads a header, returning it and the body that follows.
    pub fn read(buf: &[u8]) -> Result<(Self, &[u8])> {
        let (&tag, mut rest) = buf.split_first().ok_or_else(|| corrupt("empty chunk"))?;
        let count = varint::get_u64(&mut rest)? as usize;
        let min_ts = varint::get_i64(&mut rest)?;
        let span = varint::get_u64(&mut rest)?;
        Ok((
            Self {
                tag,
                count,
                min_ts,
                max_ts: min_ts.wrapping_add(span as i64),
            },
            rest,
        ))
    }
}

/// Decodes any chunk (hot or cold) into `out`, appending its samples in time order. A block
/// naming a shared timestamp column is an error here: see [`decode_with`].
pub fn decode(buf: &[u8], out: &mut Vec<(i64, f64)>) -> Result<()> {
    decode_with(buf, out, &mut |_| {
        Err(corrupt(
            "a block names a shared timestamp column outside its partition",
        ))
    })
}

/// Decodes any chunk, asking `resolve` for the shared timestamp column a block may name.
pub fn decode_with(
    buf: &[u8],
    out: &mut Vec<(i64, f64)>,
    resolve: &mut block::ResolveTimes<'_>,
) -> Result<()> {
    decode_range(buf, out, i64::MIN..=i64::MAX, resolve)
}

/// Decodes the samples of any chunk whose timestamps are in `range` (a cold block of a day
/// then turns only those into values; a hot chunk is decoded whole and trimmed).
pub fn decode_range(
    buf: &[u8],
    out: &mut Vec<(i64, f64)>,
    range: std::ops::RangeInclusive<i64>,
    resolve: &mut block::ResolveTimes<'_>,
) -> Result<()> {
    let (header, body) = Header::read(buf)?;
    match header.tag {
        TAG_GORILLA => {
            let first = out.len();
            gorilla::decode_body(&header, body, out)?;
            // Timestamps ascend: keep the run inside the range.
            let got = &out[first..];
            let from = got.partition_point(|(t, _)| t < range.start());
            let to = got.partition_point(|(t, _)| t <= range.end()).max(from);
            out.truncate(first + to);
            out.drain(first..first + from);
            Ok(())
        }
        TAG_BLOCK | TAG_BLOCK_V1 => block::decode_body(&header, body, out, range, resolve),
        t => Err(corrupt_owned(format!("unknown chunk tag {t}"))),
    }
}

pub(crate) fn corrupt(what: &'static str) -> Error {
    Error::Corrupt(what.to_string())
}

pub(crate) fn corrupt_owned(what: String) -> Error {
    Error::Corrupt(what)
}
