//! uname(2): node_exporter's `uname` collector.

use crate::Sink;

pub(super) fn collect(sink: &mut dyn Sink) {
    fn text(c: &std::ffi::CStr) -> Option<&str> {
        c.to_str().ok()
    }
    let u = rustix::system::uname();
    if let (Some(sysname), Some(release), Some(version), Some(machine), Some(nodename)) = (
        text(u.sysname()),
        text(u.release()),
        text(u.version()),
        text(u.machine()),
        text(u.nodename()),
    ) {
        sink.sample(
            "node_uname_info",
            &[
                ("domainname", text(u.domainname()).unwrap_or("")),
                ("machine", machine),
                ("nodename", nodename),
                ("release", release),
                ("sysname", sysname),
                ("version", version),
            ],
            1.0,
        );
    }
}
