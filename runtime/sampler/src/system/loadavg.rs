//! `/proc/loadavg`: node_exporter's `loadavg` collector.

use super::Cx;
use crate::Sink;
use crate::parse::{f64_of, fields};

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    if cx.read_proc("loadavg") {
        parse(&cx.buf, sink);
    }
}

pub(crate) fn parse(text: &[u8], sink: &mut dyn Sink) {
    let mut f = fields(text);
    let loads = [f.next(), f.next(), f.next()].map(|v| v.and_then(f64_of));
    if let [Some(l1), Some(l5), Some(l15)] = loads {
        sink.sample("node_load1", &[], l1);
        sink.sample("node_load5", &[], l5);
        sink.sample("node_load15", &[], l15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn loads() {
        let mut sink = Collect::default();
        parse(b"0.11 0.05 0.01 1/234 5678\n", &mut sink);
        assert_eq!(sink.get("node_load1", &[]), Some(0.11));
        assert_eq!(sink.get("node_load5", &[]), Some(0.05));
        assert_eq!(sink.get("node_load15", &[]), Some(0.01));
        for bad in ["", "0.1 0.2", "a b c", "0.1 0.2 x"] {
            let mut sink = Collect::default();
            parse(bad.as_bytes(), &mut sink);
            assert!(sink.0.is_empty(), "{bad}");
        }
    }
}
