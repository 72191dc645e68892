//! The clock: node_exporter's `time` collector's `node_time_seconds`.

use crate::Sink;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn collect(sink: &mut dyn Sink) {
    if let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) {
        sink.sample("node_time_seconds", &[], now.as_secs_f64());
    }
}
