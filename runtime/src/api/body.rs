//! Request bodies read with a bound: a body larger than its limit is refused as soon as its
//! `Content-Length` or its running size passes the limit, never buffered whole. A body that
//! stops arriving for `IDLE` fails, so a stalled sender cannot hold a write slot forever.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::time::Duration;

/// Longest wait for the next piece of a body.
const IDLE: Duration = Duration::from_secs(30);

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The body is larger than the limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection failed mid-body.
    #[error("reading the request body: {0}")]
    Read(String),
}

/// Reads the whole body, refusing it past `limit` bytes.
pub(crate) async fn read_all(mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    if hyper::body::Body::size_hint(&body)
        .exact()
        .is_some_and(|n| n > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut out = BytesMut::new();
    while let Some(chunk) = next_chunk(&mut body).await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// The next data chunk of a body (trailers skipped), `None` at its end.
pub(crate) async fn next_chunk(body: &mut Incoming) -> Option<Result<Bytes, BodyError>> {
    loop {
        let Ok(frame) = tokio::time::timeout(IDLE, body.frame()).await else {
            return Some(Err(BodyError::Read(format!(
                "no data for {}s",
                IDLE.as_secs()
            ))));
        };
        match frame? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(BodyError::Read(e.to_string()))),
        }
    }
}

/// The body's declared length, if any.
pub(crate) fn declared_len(body: &Incoming) -> Option<u64> {
    hyper::body::Body::size_hint(body).exact()
}
