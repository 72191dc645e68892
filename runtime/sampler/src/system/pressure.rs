//! `/proc/pressure/{cpu,io,memory}`: node_exporter's `pressure` collector (PSI, Linux 4.20+).
//!
//! The `total=` counters, microseconds, as seconds: `some` is "waiting", `full` is
//! "stalled"; node_exporter 1.5 reports no `full` line for the CPU.

use super::Cx;
use crate::Sink;
use crate::parse::{fields, lines, u64_of};

const RESOURCES: [(&str, &str, Option<&str>); 3] = [
    (
        "pressure/cpu",
        "node_pressure_cpu_waiting_seconds_total",
        None,
    ),
    (
        "pressure/io",
        "node_pressure_io_waiting_seconds_total",
        Some("node_pressure_io_stalled_seconds_total"),
    ),
    (
        "pressure/memory",
        "node_pressure_memory_waiting_seconds_total",
        Some("node_pressure_memory_stalled_seconds_total"),
    ),
];

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    for (file, some, full) in RESOURCES {
        if cx.read_proc(file) {
            parse(&cx.buf, some, full, sink);
        }
    }
}

pub(crate) fn parse(text: &[u8], some: &str, full: Option<&str>, sink: &mut dyn Sink) {
    for line in lines(text) {
        let mut f = fields(line);
        let name = match f.next() {
            Some(b"some") => some,
            Some(b"full") => match full {
                Some(full) => full,
                None => continue,
            },
            _ => continue,
        };
        let total = f.find_map(|kv| kv.strip_prefix(b"total=")).and_then(u64_of);
        if let Some(us) = total {
            sink.sample(name, &[], us as f64 / 1e6);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn some_and_full() {
        let text = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1679568257
full avg10=0.00 avg60=0.00 avg300=0.00 total=58283324
";
        let mut sink = Collect::default();
        parse(text.as_bytes(), "w", Some("s"), &mut sink);
        assert_eq!(sink.get("w", &[]), Some(1679.568257));
        assert_eq!(sink.get("s", &[]), Some(58.283324));
        let mut sink = Collect::default();
        parse(text.as_bytes(), "w", None, &mut sink);
        assert_eq!(sink.names(), ["w"]);
        let mut sink = Collect::default();
        parse(
            b"some total=x\nsome avg10=1\nnone total=1\n",
            "w",
            None,
            &mut sink,
        );
        assert!(sink.0.is_empty());
    }
}
