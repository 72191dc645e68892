//! `/proc/net/softnet_stat`: node_exporter 1.5's `softnet` collector.
//!
//! One line per CPU (numbered by line, as node_exporter 1.5 does), hexadecimal columns:
//! packets processed, dropped, and times the budget ran out (`time_squeeze`).

use super::Cx;
use crate::Sink;
use crate::parse::{fields, lines};
use std::fmt::Write as _;

const COLUMNS: [&str; 3] = [
    "node_softnet_processed_total",
    "node_softnet_dropped_total",
    "node_softnet_times_squeezed_total",
];

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    if cx.read_proc("net/softnet_stat") {
        parse(&cx.buf, &mut cx.name, sink);
    }
}

pub(crate) fn parse(text: &[u8], cpu: &mut String, sink: &mut dyn Sink) {
    for (n, line) in lines(text).enumerate() {
        let mut values = [0u64; 3];
        let mut f = fields(line);
        let parsed = values.iter_mut().all(|slot| {
            let v = f
                .next()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| u64::from_str_radix(v, 16).ok());
            v.map(|v| *slot = v).is_some()
        });
        if !parsed {
            continue;
        }
        cpu.clear();
        let _ = write!(cpu, "{n}");
        for (name, v) in COLUMNS.iter().zip(values) {
            sink.sample(name, &[("cpu", cpu)], v as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn hex_columns_per_cpu() {
        let text = "000452cf 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
0003be0a 00000002 0000000a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001
zz
";
        let mut sink = Collect::default();
        parse(text.as_bytes(), &mut String::new(), &mut sink);
        let get = |name, cpu| sink.get(name, &[("cpu", cpu)]);
        assert_eq!(get("node_softnet_processed_total", "0"), Some(283343.0));
        assert_eq!(get("node_softnet_times_squeezed_total", "1"), Some(10.0));
        assert_eq!(get("node_softnet_dropped_total", "1"), Some(2.0));
        assert_eq!(sink.0.len(), 6);
    }
}
