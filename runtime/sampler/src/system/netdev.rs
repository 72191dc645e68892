//! `/proc/net/dev`: node_exporter's `netdev` collector.
//!
//! node_exporter 1.5 reads these counters over netlink and names them as `/proc/net/dev`'s
//! columns; the one netlink counter `/proc/net/dev` lacks, `rx_nohandler`, is read from
//! `/sys/class/net/<device>/statistics/`.

use super::Cx;
use crate::Sink;
use crate::files::SYS;
use crate::parse::{fields, lines, str_of, u64_of};
use regex::Regex;
use std::fmt::Write as _;

const COLUMNS: [&str; 16] = [
    "node_network_receive_bytes_total",
    "node_network_receive_packets_total",
    "node_network_receive_errs_total",
    "node_network_receive_drop_total",
    "node_network_receive_fifo_total",
    "node_network_receive_frame_total",
    "node_network_receive_compressed_total",
    "node_network_receive_multicast_total",
    "node_network_transmit_bytes_total",
    "node_network_transmit_packets_total",
    "node_network_transmit_errs_total",
    "node_network_transmit_drop_total",
    "node_network_transmit_fifo_total",
    "node_network_transmit_colls_total",
    "node_network_transmit_carrier_total",
    "node_network_transmit_compressed_total",
];

pub(super) fn collect(cx: &mut Cx, exclude: Option<&Regex>, sink: &mut dyn Sink) {
    if !cx.read_proc("net/dev") {
        return;
    }
    let (files, aux, path) = (&mut cx.files, &mut cx.aux, &mut cx.path);
    parse(&cx.buf, exclude, sink, &mut |device| {
        path.clear();
        let _ = write!(path, "class/net/{device}/statistics/rx_nohandler");
        files.read_dyn(SYS, path, aux).ok()?;
        u64_of(aux.trim_ascii())
    });
}

pub(crate) fn parse(
    text: &[u8],
    exclude: Option<&Regex>,
    sink: &mut dyn Sink,
    nohandler: &mut dyn FnMut(&str) -> Option<u64>,
) {
    // Two header lines, then `name: 16 counters`.
    for line in lines(text).skip(2) {
        let Some(colon) = line.iter().rposition(|&b| b == b':') else {
            continue;
        };
        let Some(device) = str_of(line[..colon].trim_ascii()) else {
            continue;
        };
        if device.is_empty() || exclude.is_some_and(|re| re.is_match(device)) {
            continue;
        }
        let mut values = [0u64; 16];
        let mut n = 0;
        for (slot, v) in values.iter_mut().zip(fields(&line[colon + 1..])) {
            match u64_of(v) {
                Some(v) => *slot = v,
                None => break,
            }
            n += 1;
        }
        if n < 16 {
            continue;
        }
        let labels = [("device", device)];
        for (name, v) in COLUMNS.iter().zip(values) {
            sink.sample(name, &labels, v as f64);
        }
        if let Some(v) = nohandler(device) {
            sink.sample("node_network_receive_nohandler_total", &labels, v as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    const DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 14255379217  520026    0    0    0     0          0         0 14255379217  520026    0    0    0     0       0          0
  eth0: 253202945    8603    1    2    3     4          5         6   485153    4594    7    8    9    10      11         12
 bad0: 1 2 3
 bad1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x
no colon here
";

    #[test]
    fn counters_per_device() {
        let mut sink = Collect::default();
        parse(DEV.as_bytes(), None, &mut sink, &mut |d| {
            (d == "eth0").then_some(7)
        });
        let eth0 = |name| sink.get(name, &[("device", "eth0")]);
        assert_eq!(eth0("node_network_receive_bytes_total"), Some(253202945.0));
        assert_eq!(eth0("node_network_receive_multicast_total"), Some(6.0));
        assert_eq!(eth0("node_network_transmit_colls_total"), Some(10.0));
        assert_eq!(eth0("node_network_transmit_compressed_total"), Some(12.0));
        assert_eq!(eth0("node_network_receive_nohandler_total"), Some(7.0));
        assert_eq!(
            sink.get("node_network_receive_bytes_total", &[("device", "lo")]),
            Some(14255379217.0)
        );
        assert_eq!(sink.0.len(), 16 + 17);
        let mut sink = Collect::default();
        let lo = Regex::new("^lo$").unwrap();
        parse(DEV.as_bytes(), Some(&lo), &mut sink, &mut |_| None);
        assert_eq!(sink.0.len(), 16);
    }
}
