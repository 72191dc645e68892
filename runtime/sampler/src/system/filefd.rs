//! `/proc/sys/fs/file-nr`: node_exporter's `filefd` collector.

use super::Cx;
use crate::Sink;
use crate::parse::{fields, u64_of};

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    if cx.read_proc("sys/fs/file-nr") {
        parse(&cx.buf, sink);
    }
}

pub(crate) fn parse(text: &[u8], sink: &mut dyn Sink) {
    // allocated, unused (always 0 since Linux 2.6), maximum.
    let mut f = fields(text).map(u64_of);
    if let (Some(Some(allocated)), Some(_), Some(Some(maximum))) = (f.next(), f.next(), f.next()) {
        sink.sample("node_filefd_allocated", &[], allocated as f64);
        sink.sample("node_filefd_maximum", &[], maximum as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn file_nr() {
        let mut sink = Collect::default();
        parse(b"397\t0\t2466097\n", &mut sink);
        assert_eq!(sink.get("node_filefd_allocated", &[]), Some(397.0));
        assert_eq!(sink.get("node_filefd_maximum", &[]), Some(2466097.0));
        for bad in ["", "1 2", "x 0 1"] {
            let mut sink = Collect::default();
            parse(bad.as_bytes(), &mut sink);
            assert!(sink.0.is_empty());
        }
    }
}
