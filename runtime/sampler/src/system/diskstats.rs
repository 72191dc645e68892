//! `/proc/diskstats`: node_exporter's `diskstats` collector.
//!
//! Per device not excluded: the 11 classic counters, the 4 discard counters (Linux 4.18+)
//! and the 2 flush counters (Linux 5.5+) when the line has them. Sectors are 512 bytes
//! whatever the device's sector size, times are milliseconds.

use super::Cx;
use crate::Sink;
use crate::parse::{fields, lines, str_of, u64_of};
use regex::Regex;

/// (name, scale) of each column after major, minor and device name.
const COLUMNS: [(&str, f64); 17] = [
    ("node_disk_reads_completed_total", 1.0),
    ("node_disk_reads_merged_total", 1.0),
    ("node_disk_read_bytes_total", 512.0),
    ("node_disk_read_time_seconds_total", 0.001),
    ("node_disk_writes_completed_total", 1.0),
    ("node_disk_writes_merged_total", 1.0),
    ("node_disk_written_bytes_total", 512.0),
    ("node_disk_write_time_seconds_total", 0.001),
    ("node_disk_io_now", 1.0),
    ("node_disk_io_time_seconds_total", 0.001),
    ("node_disk_io_time_weighted_seconds_total", 0.001),
    ("node_disk_discards_completed_total", 1.0),
    ("node_disk_discards_merged_total", 1.0),
    ("node_disk_discarded_sectors_total", 1.0),
    ("node_disk_discard_time_seconds_total", 0.001),
    ("node_disk_flush_requests_total", 1.0),
    ("node_disk_flush_requests_time_seconds_total", 0.001),
];

pub(super) fn collect(cx: &mut Cx, exclude: &Regex, sink: &mut dyn Sink) {
    if cx.read_proc("diskstats") {
        parse(&cx.buf, exclude, sink);
    }
}

pub(crate) fn parse(text: &[u8], exclude: &Regex, sink: &mut dyn Sink) {
    for line in lines(text) {
        let mut f = fields(line);
        let (Some(_major), Some(_minor), Some(device)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(device) = str_of(device) else {
            continue;
        };
        if exclude.is_match(device) {
            continue;
        }
        let mut values = [0u64; 17];
        let mut n = 0;
        for (slot, v) in values.iter_mut().zip(f) {
            let Some(v) = u64_of(v) else { break };
            *slot = v;
            n += 1;
        }
        // The classic 11 columns, then all of discards, then all of flushes.
        let n = match n {
            17.. => 17,
            15..=16 => 15,
            11..=14 => 11,
            _ => continue,
        };
        for ((name, scale), v) in COLUMNS.iter().zip(&values[..n]) {
            sink.sample(name, &[("device", device)], *v as f64 * scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::DEFAULT_DISKSTATS_DEVICE_EXCLUDE;
    use crate::testing::Collect;

    const DISKSTATS: &str = " 254       0 vda 956136 23942 45524674 2046702 1191790 175127 82755832 345942 0 173940 2446101 251502 67 130659496 33227 382477 20229
 254       1 vda1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17
   7       0 loop0 1 2 3 4 5 6 7 8 9 10 11
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   8       0 sda 1 2 3 4 5 6 7 8 9 10 11
   8      16 sdb 1 2 3 4 5 6 7 8 9 10
   8      32 sdc 1 2 x 4 5 6 7 8 9 10 11
";

    fn sample(text: &str) -> Collect {
        let mut sink = Collect::default();
        let exclude = Regex::new(DEFAULT_DISKSTATS_DEVICE_EXCLUDE).unwrap();
        parse(text.as_bytes(), &exclude, &mut sink);
        sink
    }

    #[test]
    fn counters_of_each_kernel_generation() {
        let sink = sample(DISKSTATS);
        let vda = |name| sink.get(name, &[("device", "vda")]);
        assert_eq!(vda("node_disk_read_bytes_total"), Some(45524674.0 * 512.0));
        assert_eq!(vda("node_disk_read_time_seconds_total"), Some(2046.702));
        assert_eq!(
            vda("node_disk_discard_time_seconds_total"),
            Some(33227.0 * 0.001)
        );
        assert_eq!(vda("node_disk_discarded_sectors_total"), Some(130659496.0));
        assert_eq!(vda("node_disk_flush_requests_total"), Some(382477.0));
        assert_eq!(vda("node_disk_io_now"), Some(0.0));
        let count = |device: &str| sink.0.iter().filter(|s| s.labels[0].1 == device).count();
        assert_eq!(count("vda"), 17);
        assert_eq!(count("vda1"), 0, "partitions are excluded");
        assert_eq!(count("loop0"), 0);
        assert_eq!(count("zram0"), 15);
        assert_eq!(count("sda"), 11);
        assert_eq!(count("sdb"), 0, "too few columns");
        assert_eq!(count("sdc"), 0, "garbage");
    }
}
