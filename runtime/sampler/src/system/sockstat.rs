//! `/proc/net/sockstat` and `/proc/net/sockstat6`: node_exporter's `sockstat` collector.
//!
//! `PROTO: key value key value ...` becomes `node_sockstat_PROTO_key`; `mem` (pages) also
//! becomes `node_sockstat_PROTO_mem_bytes`; `sockets: used N` is `node_sockstat_sockets_used`.

use super::Cx;
use crate::Sink;
use crate::parse::{f64_of, fields, is_name_part, lines, name, str_of};

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    for file in ["net/sockstat", "net/sockstat6"] {
        if cx.read_proc(file) {
            parse(&cx.buf, cx.page_size, &mut cx.name, sink);
        }
    }
}

pub(crate) fn parse(text: &[u8], page_size: f64, buf: &mut String, sink: &mut dyn Sink) {
    for line in lines(text) {
        let mut f = fields(line);
        let Some(proto) = f.next().and_then(|p| p.strip_suffix(b":")) else {
            continue;
        };
        let Some(proto) = str_of(proto).filter(|p| is_name_part(p.as_bytes())) else {
            continue;
        };
        while let (Some(key), Some(value)) = (f.next(), f.next()) {
            let (Some(key), Some(value)) = (str_of(key), f64_of(value)) else {
                break;
            };
            if !is_name_part(key.as_bytes()) {
                break;
            }
            sink.sample(name(buf, &["node_sockstat_", proto, "_", key]), &[], value);
            if key == "mem" {
                sink.sample(
                    name(buf, &["node_sockstat_", proto, "_mem_bytes"]),
                    &[],
                    value * page_size,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn sockstat_and_sockstat6() {
        let text = "sockets: used 17
TCP: inuse 4 orphan 0 tw 0 alloc 4 mem 132
UDP: inuse 0 mem 0
FRAG: inuse 0 memory 0
TCP6: inuse 1
BAD: inuse x
: 1 2
";
        let mut sink = Collect::default();
        parse(text.as_bytes(), 4096.0, &mut String::new(), &mut sink);
        assert_eq!(sink.get("node_sockstat_sockets_used", &[]), Some(17.0));
        assert_eq!(sink.get("node_sockstat_TCP_mem", &[]), Some(132.0));
        assert_eq!(sink.get("node_sockstat_TCP_mem_bytes", &[]), Some(540672.0));
        assert_eq!(sink.get("node_sockstat_FRAG_memory", &[]), Some(0.0));
        assert_eq!(sink.get("node_sockstat_TCP6_inuse", &[]), Some(1.0));
        assert_eq!(sink.0.len(), 1 + 6 + 3 + 2 + 1);
    }
}
