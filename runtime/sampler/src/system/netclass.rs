//! `/sys/class/net`: the part of node_exporter's `netclass` collector that its dashboards
//! read.
//!
//! Per interface: `node_network_info` (address, broadcast, duplex, ifalias, operstate),
//! `node_network_up` (operstate is `up`), and, when the kernel answers for the interface,
//! `node_network_mtu_bytes`, `node_network_speed_bytes` (Mb/s as bytes/s; -1 Mb/s when
//! unknown, as node_exporter reports it), `node_network_transmit_queue_length`,
//! `node_network_carrier` and `node_network_carrier_changes_total`. node_exporter's other
//! netclass families (flags, ids, assign types, ...) are not read.

use super::Cx;
use crate::Sink;
use crate::files::{SYS, each_entry};
use crate::parse::{i64_of, str_of};
use regex::Regex;
use std::fmt::Write as _;
use std::ops::Range;

/// The attributes read, in this order, into one buffer.
const ATTRIBUTES: [&str; 10] = [
    "address",
    "broadcast",
    "duplex",
    "ifalias",
    "operstate",
    "mtu",
    "speed",
    "tx_queue_len",
    "carrier",
    "carrier_changes",
];

/// Gauges read from one attribute each: (attribute index, name, scale).
const GAUGES: [(usize, &str, f64); 5] = [
    (5, "node_network_mtu_bytes", 1.0),
    (6, "node_network_speed_bytes", 1e6 / 8.0),
    (7, "node_network_transmit_queue_length", 1.0),
    (8, "node_network_carrier", 1.0),
    (9, "node_network_carrier_changes_total", 1.0),
];

pub(super) fn collect(cx: &mut Cx, ignored: Option<&Regex>, sink: &mut dyn Sink) {
    let dir = match cx.files.open_dir(SYS, "class/net") {
        Ok(dir) => dir,
        Err(e) => {
            cx.files.note_missing(SYS, "class/net", &e);
            return;
        }
    };
    // Interface names first (into `buf`), then each one's attributes (into `aux`).
    cx.buf.clear();
    let names = &mut cx.buf;
    let listed = each_entry(&dir, &mut cx.dir, |name| {
        names.extend_from_slice(name);
        names.push(b'\n');
    });
    if let Err(e) = listed {
        cx.files.note_missing(SYS, "class/net", &e);
        return;
    }
    for device in cx.buf.split(|&b| b == b'\n') {
        let Some(device) = str_of(device).filter(|d| !d.is_empty()) else {
            continue;
        };
        if ignored.is_some_and(|re| re.is_match(device)) {
            continue;
        }
        let mut ranges: [Option<Range<usize>>; 10] = Default::default();
        cx.aux.clear();
        for (range, attribute) in ranges.iter_mut().zip(ATTRIBUTES) {
            cx.path.clear();
            let _ = write!(cx.path, "class/net/{device}/{attribute}");
            let start = cx.aux.len();
            match cx.files.append_dyn(SYS, &cx.path, &mut cx.aux) {
                Ok(()) => *range = Some(start..cx.aux.len()),
                // Not applicable to this interface (EINVAL), or gone.
                Err(_) => cx.aux.truncate(start),
            }
        }
        emit(device, &cx.aux, &ranges, sink);
    }
}

pub(crate) fn emit(
    device: &str,
    attributes: &[u8],
    ranges: &[Option<Range<usize>>; 10],
    sink: &mut dyn Sink,
) {
    let text = |i: usize| {
        ranges[i]
            .clone()
            .and_then(|r| str_of(attributes[r].trim_ascii()))
    };
    let operstate = text(4).unwrap_or("");
    sink.sample(
        "node_network_info",
        &[
            ("address", text(0).unwrap_or("")),
            ("broadcast", text(1).unwrap_or("")),
            ("device", device),
            ("duplex", text(2).unwrap_or("")),
            ("ifalias", text(3).unwrap_or("")),
            ("operstate", operstate),
        ],
        1.0,
    );
    let labels = [("device", device)];
    sink.sample(
        "node_network_up",
        &labels,
        f64::from(u8::from(operstate == "up")),
    );
    for (i, name, scale) in GAUGES {
        let value = ranges[i]
            .clone()
            .and_then(|r| i64_of(attributes[r].trim_ascii()));
        if let Some(v) = value {
            sink.sample(name, &labels, v as f64 * scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::Files;
    use crate::testing::{Collect, tree};

    #[test]
    fn interfaces_from_a_sysfs_tree() {
        let dir = tempfile::tempdir().unwrap();
        let eth0 = "class/net/eth0";
        let files: Vec<(String, &str)> = [
            ("address", "02:fc:00:00:00:01\n"),
            ("broadcast", "ff:ff:ff:ff:ff:ff\n"),
            ("duplex", "full\n"),
            ("ifalias", "\n"),
            ("operstate", "up\n"),
            ("mtu", "1400\n"),
            ("speed", "-1\n"),
            ("tx_queue_len", "1000\n"),
            ("carrier", "1\n"),
            ("carrier_changes", "2\n"),
        ]
        .into_iter()
        .map(|(a, v)| (format!("{eth0}/{a}"), v))
        .chain([
            ("class/net/lo/operstate".to_string(), "unknown\n"),
            ("class/net/lo/mtu".to_string(), "garbage\n"),
        ])
        .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, v)| (p.as_str(), *v)).collect();
        tree(dir.path(), &files);
        let mut cx = Cx {
            files: Files::new([dir.path().into(), dir.path().into()]),
            buf: Vec::new(),
            aux: Vec::new(),
            dir: Vec::new(),
            name: String::new(),
            path: String::new(),
            ticks: 100.0,
            page_size: 4096.0,
        };
        let mut sink = Collect::default();
        collect(&mut cx, None, &mut sink);
        let eth0 = [("device", "eth0")];
        assert_eq!(sink.get("node_network_up", &eth0), Some(1.0));
        assert_eq!(sink.get("node_network_speed_bytes", &eth0), Some(-125000.0));
        assert_eq!(sink.get("node_network_mtu_bytes", &eth0), Some(1400.0));
        assert_eq!(
            sink.get("node_network_carrier_changes_total", &eth0),
            Some(2.0)
        );
        assert_eq!(
            sink.get(
                "node_network_info",
                &[
                    ("device", "eth0"),
                    ("duplex", "full"),
                    ("ifalias", ""),
                    ("operstate", "up")
                ]
            ),
            Some(1.0)
        );
        let lo = [("device", "lo")];
        assert_eq!(sink.get("node_network_up", &lo), Some(0.0));
        assert_eq!(sink.get("node_network_mtu_bytes", &lo), None);
        assert_eq!(
            sink.get("node_network_info", &[("address", ""), ("device", "lo")]),
            Some(1.0)
        );
        assert_eq!(sink.0.len(), 7 + 2);
        let mut sink = Collect::default();
        collect(&mut cx, Some(&Regex::new("^lo$").unwrap()), &mut sink);
        assert_eq!(sink.0.len(), 7);
    }
}
