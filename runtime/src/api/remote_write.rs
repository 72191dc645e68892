//! `POST /api/v1/write`: Prometheus remote write 1.0 (snappy block format + protobuf
//! `WriteRequest`).
//!
//! Answers, and why:
//! - 204: everything was written (durable, as every store append).
//! - 400 (plain text, "do not retry"): the body is not snappy or not a `WriteRequest`, or
//!   some samples were refused: a series with an invalid or missing metric name or label,
//!   a sample older than the store's out-of-order window, a native histogram. Prometheus's own
//!   receiver rolls the whole request back on one out-of-bounds sample and answers 400; ward
//!   writes every sample it can and answers 400 naming what it refused and how much was
//!   written (remote write 2.0's partial-write rule). A retry would be refused the same way
//!   and would write the good samples twice, so 400 is right for both.
//! - 413: the body or its decompressed size exceeds `max_body_bytes`, or it holds more than
//!   `max_samples_per_request` samples; nothing was written.
//! - 415: a `Content-Encoding` other than snappy, or a remote write 2.0 message.
//! - 503: `max_concurrent_writes` requests are already in flight: the sender retries later.
//! - 500: the store failed (disk full, I/O error): the sender retries.
//!
//! Samples within the out-of-order window are merged in any order. Metadata (also
//! metadata-only requests) goes to the in-memory metadata store.

use super::body::{self, BodyError};
use super::metadata::MetricMetadata as Meta;
use super::prompb::WriteRequest;
use super::{ApiError, App, Resp, empty, plain};
use hyper::body::Incoming;
use hyper::{Request, StatusCode, header};
use prost::Message;
use std::collections::BTreeMap;
use ward_store::{Labels, RejectReason};

/// The `endpoint` label of ingest metrics.
const ENDPOINT: &str = "remote_write";
/// Samples per store append (the store refuses batches over its own limit).
pub(crate) const APPEND_BATCH: usize = 50_000;
/// Refusals described in one answer; the rest are counted.
const MAX_DESCRIBED: usize = 10;

/// `POST /api/v1/write`.
pub(crate) async fn write(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let Ok(_permit) = app.writes.try_acquire() else {
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many write requests in flight; retry later\n",
        ));
    };
    Ok(match handle(app, req).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err((status, message)) => {
            if status.is_server_error() {
                tracing::error!("remote write: {message}");
            } else {
                tracing::debug!("remote write refused ({status}): {message}");
            }
            plain(status, &format!("{message}\n"))
        }
    })
}

type Refusal = (StatusCode, String);

async fn handle(app: &App, req: Request<Incoming>) -> Result<(), Refusal> {
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    if let Some(enc) = header(header::CONTENT_ENCODING)
        && enc != "snappy"
    {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "{enc} encoding (compression) is not accepted by this server; only snappy is acceptable"
            ),
        ));
    }
    if header(header::CONTENT_TYPE).is_some_and(|t| t.contains("proto=io.prometheus.write.v2")) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "io.prometheus.write.v2.Request protobuf message is not accepted by this server; \
             accepted [prometheus.WriteRequest]"
                .into(),
        ));
    }
    let limit = app.config.max_body_bytes;
    let compressed = body::read_all(req.into_body(), limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            BodyError::Read(_) => (StatusCode::BAD_REQUEST, e.to_string()),
        })?;
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    // The decoded length is in the block's header: check it before allocating.
    let len = snap::raw::decompress_len(&compressed).map_err(|e| bad(format!("snappy: {e}")))?;
    if len > limit {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed request of {len} bytes exceeds the limit of {limit} bytes"),
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&compressed)
        .map_err(|e| bad(format!("snappy: {e}")))?;
    drop(compressed);
    let request = WriteRequest::decode(raw.as_slice())
        .map_err(|e| bad(format!("decoding the write request: {e}")))?;
    drop(raw);

    for m in &request.metadata {
        app.metadata.record(
            &m.metric_family_name,
            Meta {
                kind: m.type_name().into(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            },
        );
    }
    let total: usize = request
        .timeseries
        .iter()
        .map(|ts| ts.samples.len() + ts.histograms.len())
        .sum();
    if total > app.config.max_samples_per_request {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request holds {total} samples, more than the limit of {}; nothing was written",
                app.config.max_samples_per_request
            ),
        ));
    }
    app.metrics.ingest_received(ENDPOINT, total);

    // Series that cannot be stored are described and skipped; the rest are written.
    let mut refused: Vec<String> = Vec::new();
    let mut refused_total = 0usize;
    let mut by_reason: BTreeMap<&'static str, usize> = BTreeMap::new();
    // Labels once per series; a sample's own copy only for the batch being appended.
    let mut series: Vec<(Labels, Vec<super::prompb::Sample>)> = Vec::new();
    for ts in request.timeseries {
        let pairs = ts
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()));
        let problem = match Labels::from_pairs(pairs) {
            Ok(l) if l.metric_name().is_none() => Err("series has no metric name".to_string()),
            Ok(l) => Ok(l),
            Err(e) => Err(e.to_string()),
        };
        if !ts.histograms.is_empty() {
            refused_total += ts.histograms.len();
            *by_reason.entry("native_histogram").or_default() += ts.histograms.len();
            if refused.len() < MAX_DESCRIBED {
                refused.push(format!(
                    "series {}: {} native histogram samples refused (ward stores float samples only)",
                    describe(&ts.labels),
                    ts.histograms.len()
                ));
            }
        }
        match problem {
            Ok(labels) => series.push((labels, ts.samples)),
            Err(e) => {
                refused_total += ts.samples.len();
                *by_reason.entry("invalid_labels").or_default() += ts.samples.len();
                if refused.len() < MAX_DESCRIBED {
                    refused.push(format!("series {}: {e}", describe(&ts.labels)));
                }
            }
        }
    }
    let attempted: usize = series.iter().map(|(_, s)| s.len()).sum();
    let store = app.store.clone();
    let outcome = super::blocking(move || {
        let mut written = 0usize;
        let mut rejected_total = 0usize;
        let mut described: Vec<String> = Vec::new();
        let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut append = |chunk: &mut Vec<(Labels, i64, f64)>| -> Result<(), ApiError> {
            let report = store.append(chunk)?;
            written += report.accepted;
            rejected_total += report.rejected_total;
            for (j, r) in &report.rejected {
                *reasons.entry(reason_label(r)).or_default() += 1;
                if described.len() < MAX_DESCRIBED
                    && let Some((l, t, _)) = chunk.get(*j)
                {
                    described.push(format!("sample of {l} at {t}: {r}"));
                }
            }
            // The store itemises only the first refusals of an append.
            let unlisted = report.rejected_total.saturating_sub(report.rejected.len());
            if unlisted > 0 {
                *reasons.entry("other").or_default() += unlisted;
            }
            chunk.clear();
            Ok(())
        };
        let mut chunk = Vec::with_capacity(APPEND_BATCH.min(attempted));
        for (labels, samples) in &series {
            for s in samples {
                chunk.push((labels.clone(), s.timestamp, s.value));
                if chunk.len() >= APPEND_BATCH {
                    append(&mut chunk)?;
                }
            }
        }
        if !chunk.is_empty() {
            append(&mut chunk)?;
        }
        Ok((written, rejected_total, described, reasons))
    })
    .await;
    let (written, rejected_total, described, reasons) = outcome.map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("writing to the store: {}", e.message),
        )
    })?;
    app.metrics.ingest_written(ENDPOINT, written);
    for (reason, n) in by_reason.iter().map(|(r, n)| (*r, *n)).chain(reasons) {
        app.metrics.ingest_rejected(ENDPOINT, reason, n);
    }
    refused_total += rejected_total;
    if refused_total == 0 {
        return Ok(());
    }
    refused.extend(described);
    let more = refused_total.saturating_sub(refused.len());
    let mut message = format!(
        "{refused_total} of {} samples refused, {written} written (a retry would be refused \
         again): {}",
        attempted + refused_total - rejected_total,
        refused.join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    Err(bad(message))
}

/// A series' labels as sent, for an error message (bounded).
fn describe(labels: &[super::prompb::Label]) -> String {
    let mut s = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{}={:?}", l.name, l.value));
        if s.len() > 512 {
            s.push_str(", ...");
            break;
        }
    }
    s.push('}');
    s
}

/// The `reason` label of a refused sample.
pub(crate) fn reason_label(r: &RejectReason) -> &'static str {
    match r {
        RejectReason::OutOfWindow => "out_of_window",
        RejectReason::MissingMetricName => "missing_metric_name",
        RejectReason::LabelsTooLarge => "labels_too_large",
    }
}
