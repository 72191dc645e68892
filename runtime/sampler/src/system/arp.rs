//! `/proc/net/arp`: node_exporter's `arp` collector, entries per device.

use super::Cx;
use crate::Sink;
use crate::parse::{fields, lines, str_of};

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    if cx.read_proc("net/arp") {
        parse(&cx.buf, sink);
    }
}

pub(crate) fn parse(text: &[u8], sink: &mut dyn Sink) {
    // A few devices: a short list searched linearly, one allocation per round.
    let mut counts: Vec<(&[u8], u32)> = Vec::new();
    for line in lines(text) {
        let f = fields(line);
        let (n, device) = f.clone().fold((0, None), |(n, _), x| (n + 1, Some(x)));
        let (Some(device), true) = (device, n >= 6 && fields(line).next() != Some(b"IP")) else {
            continue;
        };
        match counts.iter_mut().find(|(d, _)| *d == device) {
            Some((_, c)) => *c += 1,
            None => counts.push((device, 1)),
        }
    }
    for (device, count) in counts {
        if let Some(label) = str_of(device) {
            sink.sample("node_arp_entries", &[("device", label)], f64::from(count));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn entries_per_device() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device
10.0.0.1         0x1         0x2         02:fc:00:00:00:02     *        eth0
10.0.0.2         0x1         0x2         02:fc:00:00:00:03     *        eth0
10.0.1.1         0x1         0x2         02:fc:00:00:00:04     *        eth1
short line
";
        let mut sink = Collect::default();
        parse(text.as_bytes(), &mut sink);
        assert_eq!(
            sink.get("node_arp_entries", &[("device", "eth0")]),
            Some(2.0)
        );
        assert_eq!(
            sink.get("node_arp_entries", &[("device", "eth1")]),
            Some(1.0)
        );
        assert_eq!(sink.0.len(), 2);
    }
}
