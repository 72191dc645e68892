//! `/proc/vmstat`: node_exporter's `vmstat` collector, `node_vmstat_<field>` for the fields
//! matching [`SystemOptions::vmstat_fields`](super::SystemOptions::vmstat_fields).

use super::Cx;
use crate::Sink;
use crate::parse::{f64_of, fields, is_name_part, lines, name, str_of};
use regex::Regex;

pub(super) fn collect(cx: &mut Cx, fields_re: &Regex, sink: &mut dyn Sink) {
    if cx.read_proc("vmstat") {
        parse(&cx.buf, fields_re, &mut cx.name, sink);
    }
}

pub(crate) fn parse(text: &[u8], fields_re: &Regex, buf: &mut String, sink: &mut dyn Sink) {
    for line in lines(text) {
        let mut f = fields(line);
        let (Some(key), Some(value)) = (f.next(), f.next()) else {
            continue;
        };
        let (Some(key), Some(value)) = (str_of(key), f64_of(value)) else {
            continue;
        };
        if is_name_part(key.as_bytes()) && fields_re.is_match(key) {
            sink.sample(name(buf, &["node_vmstat_", key]), &[], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::DEFAULT_VMSTAT_FIELDS;
    use crate::testing::Collect;

    #[test]
    fn default_fields() {
        let text = "nr_free_pages 123\npgpgin 1\npgpgout 2\npswpin 3\npswpout 4\npgfault 5\npgmajfault 6\noom_kill 7\npgfree 8\nbad\npgfault x\n";
        let mut sink = Collect::default();
        let re = Regex::new(DEFAULT_VMSTAT_FIELDS).unwrap();
        parse(text.as_bytes(), &re, &mut String::new(), &mut sink);
        assert_eq!(
            sink.names(),
            [
                "node_vmstat_oom_kill",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_pgpgin",
                "node_vmstat_pgpgout",
                "node_vmstat_pswpin",
                "node_vmstat_pswpout"
            ]
        );
        assert_eq!(sink.get("node_vmstat_oom_kill", &[]), Some(7.0));
    }
}
