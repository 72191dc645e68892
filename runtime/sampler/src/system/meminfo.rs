//! `/proc/meminfo`: node_exporter's `meminfo` collector.
//!
//! Every field: `Field: N kB` becomes `node_memory_Field_bytes` (N x 1024), a field without
//! unit (`HugePages_Total: N`) becomes `node_memory_HugePages_Total`, and parentheses turn
//! into an underscore (`Active(anon)` -> `node_memory_Active_anon_bytes`).

use super::Cx;
use crate::Sink;
use crate::parse::{f64_of, fields, is_name_part, lines};

pub(super) fn collect(cx: &mut Cx, sink: &mut dyn Sink) {
    if cx.read_proc("meminfo") {
        parse(&cx.buf, &mut cx.name, sink);
    }
}

pub(crate) fn parse(text: &[u8], name: &mut String, sink: &mut dyn Sink) {
    for line in lines(text) {
        let mut f = fields(line);
        let (Some(key), Some(value)) = (f.next(), f.next()) else {
            continue;
        };
        let (unit, extra) = (f.next(), f.next());
        let (Some(key), Some(mut value), None) = (key.strip_suffix(b":"), f64_of(value), extra)
        else {
            continue;
        };
        if key.is_empty()
            || !key
                .iter()
                .all(|&b| b == b'(' || b == b')' || is_name_part(&[b]))
        {
            continue;
        }
        name.clear();
        name.push_str("node_memory_");
        for &b in key {
            match b {
                b'(' => name.push('_'),
                b')' => {}
                b => name.push(char::from(b)),
            }
        }
        // node_exporter takes any unit for kB, as the kernel only ever writes kB.
        if unit.is_some() {
            value *= 1024.0;
            name.push_str("_bytes");
        }
        sink.sample(name, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn names_as_node_exporter() {
        let text = "MemTotal:       24683568 kB
Active(anon):       1520 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
DirectMap1G:    25165824 kB
";
        let mut sink = Collect::default();
        parse(text.as_bytes(), &mut String::new(), &mut sink);
        assert_eq!(
            sink.get("node_memory_MemTotal_bytes", &[]),
            Some(24683568.0 * 1024.0)
        );
        assert_eq!(
            sink.get("node_memory_Active_anon_bytes", &[]),
            Some(1520.0 * 1024.0)
        );
        assert_eq!(sink.get("node_memory_HugePages_Total", &[]), Some(0.0));
        assert_eq!(
            sink.get("node_memory_Hugepagesize_bytes", &[]),
            Some(2097152.0)
        );
        assert_eq!(sink.0.len(), 5);
    }

    #[test]
    fn skips_malformed_lines() {
        let text = "MemTotal 1 kB\nFoo: x kB\nBar: 1 kB extra\n: 1\nBad-name: 1\nÉ: 1\nOk: 7\n";
        let mut sink = Collect::default();
        parse(text.as_bytes(), &mut String::new(), &mut sink);
        assert_eq!(sink.names(), ["node_memory_Ok"]);
    }
}
