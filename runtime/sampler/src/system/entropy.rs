//! `/proc/sys/kernel/random`: node_exporter's `entropy` collector.

use super::Cx;
use crate::Sink;
use crate::parse::u64_of;

const FILES: [(&str, &str); 2] = [
    (
        "sys/kernel/random/entropy_avail",
        "node_entropy_available_bits",
    ),
    ("sys/kernel/random/poolsize", "node_entropy_pool_size_bits"),
];

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    for (file, name) in FILES {
        if cx.read_proc(file)
            && let Some(v) = u64_of(cx.buf.trim_ascii())
        {
            sink.sample(name, &[], v as f64);
        }
    }
}
