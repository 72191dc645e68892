//! `/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/snmp6`: node_exporter's `netstat`
//! collector, `node_netstat_<Proto>_<Field>` for the names matching
//! [`SystemOptions::netstat_fields`](super::SystemOptions::netstat_fields).
//!
//! `netstat` and `snmp` come as pairs of lines (`Proto: names...`, `Proto: values...`);
//! `snmp6` as `Ip6InOctets value` lines, split after the protocol's `6`.

use super::Cx;
use crate::Sink;
use crate::parse::{f64_of, fields, is_name_part, lines, str_of};
use regex::Regex;

const PREFIX: &str = "node_netstat_";

pub(super) fn collect(cx: &mut Cx, fields_re: &Regex, sink: &mut dyn Sink) {
    for file in ["net/netstat", "net/snmp"] {
        if cx.read_proc(file) {
            parse_pairs(&cx.buf, fields_re, &mut cx.name, sink);
        }
    }
    if cx.read_proc("net/snmp6") {
        parse_snmp6(&cx.buf, fields_re, &mut cx.name, sink);
    }
}

/// Emits `node_netstat_{proto}_{field}` when `Proto_Field` matches.
fn emit(proto: &str, field: &str, value: f64, re: &Regex, buf: &mut String, sink: &mut dyn Sink) {
    if !is_name_part(proto.as_bytes()) || !is_name_part(field.as_bytes()) {
        return;
    }
    buf.clear();
    buf.push_str(PREFIX);
    buf.push_str(proto);
    buf.push('_');
    buf.push_str(field);
    if re.is_match(&buf[PREFIX.len()..]) {
        sink.sample(buf, &[], value);
    }
}

pub(crate) fn parse_pairs(text: &[u8], re: &Regex, buf: &mut String, sink: &mut dyn Sink) {
    let mut lines = lines(text);
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (mut names, mut values) = (fields(names), fields(values));
        let (Some(proto), Some(proto2)) = (names.next(), values.next()) else {
            continue;
        };
        let (Some(proto), true) = (proto.strip_suffix(b":").and_then(str_of), proto == proto2)
        else {
            // Out of step: the file is not what we think; stop rather than mislabel.
            return;
        };
        for (name, value) in names.zip(values) {
            if let (Some(name), Some(value)) = (str_of(name), f64_of(value)) {
                emit(proto, name, value, re, buf, sink);
            }
        }
    }
}

pub(crate) fn parse_snmp6(text: &[u8], re: &Regex, buf: &mut String, sink: &mut dyn Sink) {
    for line in lines(text) {
        let mut f = fields(line);
        let (Some(key), Some(value)) = (f.next().and_then(str_of), f.next().and_then(f64_of))
        else {
            continue;
        };
        if let Some(six) = key.find('6') {
            emit(&key[..=six], &key[six + 1..], value, re, buf, sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::DEFAULT_NETSTAT_FIELDS;
    use crate::testing::Collect;

    fn re() -> Regex {
        Regex::new(DEFAULT_NETSTAT_FIELDS).unwrap()
    }

    #[test]
    fn pairs() {
        let text = "Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 1000
Tcp: RtoAlgorithm MaxConn ActiveOpens CurrEstab InErrs
Tcp: 1 -1 10162 2 0
TcpExt: ListenDrops TCPTimeouts Other
TcpExt: 5 3 9
";
        let mut sink = Collect::default();
        parse_pairs(text.as_bytes(), &re(), &mut String::new(), &mut sink);
        assert_eq!(sink.get("node_netstat_Ip_Forwarding", &[]), Some(2.0));
        assert_eq!(sink.get("node_netstat_Tcp_ActiveOpens", &[]), Some(10162.0));
        assert_eq!(sink.get("node_netstat_Tcp_InErrs", &[]), Some(0.0));
        assert_eq!(sink.get("node_netstat_TcpExt_ListenDrops", &[]), Some(5.0));
        assert_eq!(sink.get("node_netstat_TcpExt_TCPTimeouts", &[]), Some(3.0));
        assert_eq!(sink.0.len(), 6);
        // Out of step, or a truncated last pair.
        let mut sink = Collect::default();
        parse_pairs(
            b"Ip: Forwarding\nTcp: 2\nUdp: InErrors\n",
            &re(),
            &mut String::new(),
            &mut sink,
        );
        assert!(sink.0.is_empty());
    }

    #[test]
    fn snmp6() {
        let text = "Ip6InReceives 4\nIp6InOctets 256\nIcmp6InMsgs 2\nUdpLite6InErrors 0\nNoSix 1\nIp6OutOctets x\n";
        let mut sink = Collect::default();
        parse_snmp6(text.as_bytes(), &re(), &mut String::new(), &mut sink);
        assert_eq!(
            sink.names(),
            [
                "node_netstat_Icmp6_InMsgs",
                "node_netstat_Ip6_InOctets",
                "node_netstat_UdpLite6_InErrors"
            ]
        );
    }
}
