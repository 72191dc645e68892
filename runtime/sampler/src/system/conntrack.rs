//! `/proc/sys/net/netfilter`: node_exporter's `conntrack` collector, entries and limit
//! (absent when the conntrack module is not loaded).

use super::Cx;
use crate::Sink;
use crate::parse::u64_of;

const FILES: [(&str, &str); 2] = [
    (
        "sys/net/netfilter/nf_conntrack_count",
        "node_nf_conntrack_entries",
    ),
    (
        "sys/net/netfilter/nf_conntrack_max",
        "node_nf_conntrack_entries_limit",
    ),
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
