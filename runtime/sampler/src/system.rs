//! The machine: node_exporter 1.5's default Linux collectors that read `/proc` and `/sys`.
//!
//! One module per collector, named as node_exporter names it; each emits these families
//! (label names in braces):
//!
//! | module | file | families |
//! |---|---|---|
//! | [`cpu`] | `/proc/stat` | `node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}`, `node_context_switches_total`, `node_intr_total`, `node_forks_total`, `node_procs_running`, `node_procs_blocked`, `node_boot_time_seconds` |
//! | [`meminfo`] | `/proc/meminfo` | `node_memory_<Field>_bytes` for every field in kB, `node_memory_<Field>` for the others (`HugePages_Total`...) |
//! | [`loadavg`] | `/proc/loadavg` | `node_load1`, `node_load5`, `node_load15` |
//! | [`pressure`] | `/proc/pressure/{cpu,io,memory}` | `node_pressure_cpu_waiting_seconds_total`, `node_pressure_{io,memory}_{waiting,stalled}_seconds_total` |
//! | [`diskstats`] | `/proc/diskstats` | `node_disk_{reads,writes}_completed_total`, `..._merged_total`, `node_disk_read_bytes_total`, `node_disk_written_bytes_total`, `node_disk_{read,write}_time_seconds_total`, `node_disk_io_now`, `node_disk_io_time{,_weighted}_seconds_total`, `node_disk_discards_{completed,merged}_total`, `node_disk_discarded_sectors_total`, `node_disk_discard_time_seconds_total`, `node_disk_flush_requests{,_time_seconds}_total` `{device}` |
//! | [`filesystem`] | `/proc/1/mounts` + statfs | `node_filesystem_{size,free,avail}_bytes`, `node_filesystem_files{,_free}`, `node_filesystem_readonly`, `node_filesystem_device_error` `{device,fstype,mountpoint}` |
//! | [`netdev`] | `/proc/net/dev` | `node_network_{receive,transmit}_*_total{device}`, `node_network_receive_nohandler_total` (sysfs) |
//! | [`netclass`] | `/sys/class/net` | `node_network_info{address,broadcast,device,duplex,ifalias,operstate}`, `node_network_up`, `node_network_mtu_bytes`, `node_network_speed_bytes`, `node_network_transmit_queue_length`, `node_network_carrier`, `node_network_carrier_changes_total` `{device}` |
//! | [`filefd`] | `/proc/sys/fs/file-nr` | `node_filefd_allocated`, `node_filefd_maximum` |
//! | [`vmstat`] | `/proc/vmstat` | `node_vmstat_<field>` for node_exporter's default fields (`oom_kill`, `pgpg*`, `pswp*`, `pg*fault*`) |
//! | [`sockstat`] | `/proc/net/sockstat{,6}` | `node_sockstat_sockets_used`, `node_sockstat_<PROTO>_<field>`, `..._mem_bytes` |
//! | [`softnet`] | `/proc/net/softnet_stat` | `node_softnet_{processed,dropped,times_squeezed}_total{cpu}` |
//! | [`netstat`] | `/proc/net/{netstat,snmp,snmp6}` | `node_netstat_<Proto>_<Field>` for node_exporter's default fields |
//! | [`entropy`] | `/proc/sys/kernel/random` | `node_entropy_available_bits`, `node_entropy_pool_size_bits` |
//! | [`conntrack`] | `/proc/sys/net/netfilter` | `node_nf_conntrack_entries`, `node_nf_conntrack_entries_limit` |
//! | [`arp`] | `/proc/net/arp` | `node_arp_entries{device}` |
//! | [`time`] | the clock | `node_time_seconds` |
//! | [`uname`] | uname(2) | `node_uname_info{domainname,machine,nodename,release,sysname,version}` |
//! | [`os`] | `/etc/os-release` | `node_os_info{build_id,id,id_like,image_id,image_version,name,pretty_name,variant,variant_id,version,version_codename,version_id}`, `node_os_version{id,id_like,name}` |
//!
//! Not emitted (node_exporter has them by default): `node_disk_info` (udev), the rest of
//! netclass (`node_network_flags`, `iface_id`, ...), `node_nf_conntrack_stat_*`,
//! `node_timex_*`, `node_time_zone_offset_seconds`,
//! `node_time_clocksource_*`, `node_udp_queues`, `node_selinux_enabled`, hardware collectors
//! (hwmon, thermal, cpufreq, edac, rapl, powersupply), `node_scrape_collector_*`.

pub mod arp;
pub mod conntrack;
pub mod cpu;
pub mod diskstats;
pub mod entropy;
pub mod filefd;
pub mod filesystem;
pub mod loadavg;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod os;
pub mod pressure;
pub mod sockstat;
pub mod softnet;
pub mod time;
pub mod uname;
pub mod vmstat;

use crate::Sink;
use crate::files::{Files, PROC};
use regex::Regex;
use std::path::PathBuf;
use std::time::Duration;

/// node_exporter 1.5's `--collector.filesystem.mount-points-exclude` (upstream; Debian's
/// package also excludes `/run`, `/mnt` and `/media`).
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter 1.5's `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// node_exporter 1.5's `--collector.diskstats.device-exclude`.
pub const DEFAULT_DISKSTATS_DEVICE_EXCLUDE: &str =
    r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// node_exporter 1.5's `--collector.vmstat.fields`.
pub const DEFAULT_VMSTAT_FIELDS: &str = r"^(oom_kill|pgpg|pswp|pg.*fault).*";
/// node_exporter 1.5's `--collector.netstat.fields`.
pub const DEFAULT_NETSTAT_FIELDS: &str = r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// What [`SystemSampler`] reads and what it leaves out. The defaults are node_exporter 1.5's
/// (upstream) flag defaults.
#[derive(Debug, Clone)]
pub struct SystemOptions {
    /// Mount point of the proc file system (node_exporter's `--path.procfs`).
    pub proc_root: PathBuf,
    /// Mount point of the sys file system (`--path.sysfs`).
    pub sys_root: PathBuf,
    /// The root file system, for `etc/os-release` and statfs of mount points
    /// (`--path.rootfs`).
    pub rootfs: PathBuf,
    /// Mount points whose file system is not reported.
    pub mount_points_exclude: Regex,
    /// File system types that are not reported.
    pub fs_types_exclude: Regex,
    /// Longest wait for one mount point's statfs (`--collector.filesystem.mount-timeout`);
    /// past it the mount point is reported with `node_filesystem_device_error 1` until its
    /// statfs returns.
    pub statfs_timeout: Duration,
    /// Block devices that are not reported.
    pub diskstats_device_exclude: Regex,
    /// Network devices left out of `node_network_*_total` (none by default upstream; Debian's
    /// package excludes `^lo$`).
    pub netdev_device_exclude: Option<Regex>,
    /// Network devices left out of the `/sys/class/net` families.
    pub netclass_ignored_devices: Option<Regex>,
    /// `/proc/vmstat` fields reported.
    pub vmstat_fields: Regex,
    /// `Proto_Field` names of `/proc/net/{netstat,snmp,snmp6}` reported.
    pub netstat_fields: Regex,
}

impl Default for SystemOptions {
    fn default() -> Self {
        let re = |p: &str| Regex::new(p).expect("the default patterns are valid");
        Self {
            proc_root: "/proc".into(),
            sys_root: "/sys".into(),
            rootfs: "/".into(),
            mount_points_exclude: re(DEFAULT_MOUNT_POINTS_EXCLUDE),
            fs_types_exclude: re(DEFAULT_FS_TYPES_EXCLUDE),
            statfs_timeout: Duration::from_secs(5),
            diskstats_device_exclude: re(DEFAULT_DISKSTATS_DEVICE_EXCLUDE),
            netdev_device_exclude: None,
            netclass_ignored_devices: None,
            vmstat_fields: re(DEFAULT_VMSTAT_FIELDS),
            netstat_fields: re(DEFAULT_NETSTAT_FIELDS),
        }
    }
}

/// Samples the machine: one [`SystemSampler::sample`] call reads every collector's files
/// once and emits node_exporter's families (see the [module docs](self)).
pub struct SystemSampler {
    opts: SystemOptions,
    cx: Cx,
    cpu: cpu::State,
    filesystem: filesystem::State,
    os: os::State,
}

/// What collectors share: the roots and the reused buffers.
pub(crate) struct Cx {
    pub files: Files,
    /// The file being parsed.
    pub buf: Vec<u8>,
    /// Secondary reads while `buf` is borrowed (sysfs attributes of a device).
    pub aux: Vec<u8>,
    /// Directory listings.
    pub dir: Vec<u8>,
    /// Metric names built from file content.
    pub name: String,
    /// Relative paths built from file content.
    pub path: String,
    /// Clock ticks per second (`USER_HZ`).
    pub ticks: f64,
    /// Bytes per page.
    pub page_size: f64,
}

impl SystemSampler {
    /// A sampler reading the roots in `options`. Nothing is read until [`Self::sample`].
    pub fn new(options: SystemOptions) -> Self {
        let files = Files::new([
            options.proc_root.clone(),
            options.sys_root.clone(),
            options.rootfs.clone(),
        ]);
        Self {
            cx: Cx {
                files,
                buf: Vec::with_capacity(16 * 1024),
                aux: Vec::with_capacity(1024),
                dir: Vec::new(),
                name: String::with_capacity(128),
                path: String::with_capacity(128),
                ticks: rustix::param::clock_ticks_per_second() as f64,
                page_size: rustix::param::page_size() as f64,
            },
            filesystem: filesystem::State::new(options.statfs_timeout),
            opts: options,
            cpu: cpu::State::default(),
            os: os::State::default(),
        }
    }

    /// One round: every collector, in turn, into `sink`. Never panics; what cannot be read
    /// is skipped.
    pub fn sample(&mut self, sink: &mut dyn Sink) {
        let (cx, o) = (&mut self.cx, &self.opts);
        time::collect(sink);
        cpu::collect(cx, &mut self.cpu, sink);
        meminfo::collect(cx, sink);
        loadavg::collect(cx, sink);
        pressure::collect(cx, sink);
        diskstats::collect(cx, &o.diskstats_device_exclude, sink);
        filesystem::collect(cx, &mut self.filesystem, o, sink);
        netdev::collect(cx, o.netdev_device_exclude.as_ref(), sink);
        netclass::collect(cx, o.netclass_ignored_devices.as_ref(), sink);
        filefd::collect(cx, sink);
        vmstat::collect(cx, &o.vmstat_fields, sink);
        sockstat::collect(cx, sink);
        softnet::collect(cx, sink);
        netstat::collect(cx, &o.netstat_fields, sink);
        entropy::collect(cx, sink);
        conntrack::collect(cx, sink);
        arp::collect(cx, sink);
        uname::collect(sink);
        os::collect(cx, &mut self.os, sink);
    }

    /// Files that could not be read so far (absent on this kernel, or unreadable), each
    /// listed (and logged with `tracing::warn!`) once.
    pub fn missing(&self) -> &[PathBuf] {
        self.cx.files.missing()
    }

    /// The options this sampler was made with.
    pub fn options(&self) -> &SystemOptions {
        &self.opts
    }
}

impl Cx {
    /// Reads `/proc/<rel>` into `buf`; `false` (logged once) when it cannot.
    pub fn read_proc(&mut self, rel: &'static str) -> bool {
        self.files.read(PROC, rel, &mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, tree};
    use std::path::Path;

    fn options(root: &Path) -> SystemOptions {
        SystemOptions {
            proc_root: root.join("proc"),
            sys_root: root.join("sys"),
            rootfs: root.join("rootfs"),
            ..SystemOptions::default()
        }
    }

    #[test]
    fn a_kernel_without_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut sampler = SystemSampler::new(options(dir.path()));
        let mut sink = Collect::default();
        sampler.sample(&mut sink);
        let missing = sampler.missing().len();
        assert!(missing >= 15, "{:?}", sampler.missing());
        assert!(
            sampler
                .missing()
                .contains(&dir.path().join("proc").join("meminfo"))
        );
        // Only what needs no file is emitted.
        assert_eq!(
            sink.names(),
            vec!["node_time_seconds", "node_uname_info"],
            "{:?}",
            sink.0
        );
        // Counted once, however many rounds.
        sampler.sample(&mut Collect::default());
        assert_eq!(sampler.missing().len(), missing);
    }

    #[test]
    fn a_kernel_with_some_files() {
        let dir = tempfile::tempdir().unwrap();
        tree(
            dir.path(),
            &[
                ("proc/loadavg", "0.50 0.25 0.125 1/100 4242\n"),
                ("proc/meminfo", "MemTotal: 1000 kB\ngarbage\n"),
                ("proc/stat", "cpu0 \x01\x02\nbtime x\n"),
            ],
        );
        let mut sampler = SystemSampler::new(options(dir.path()));
        let mut sink = Collect::default();
        sampler.sample(&mut sink);
        assert_eq!(sink.get("node_load15", &[]), Some(0.125));
        assert_eq!(
            sink.get("node_memory_MemTotal_bytes", &[]),
            Some(1_024_000.0)
        );
        assert_eq!(sink.get("node_boot_time_seconds", &[]), None);
        let missing = sampler.missing();
        assert!(!missing.contains(&dir.path().join("proc/loadavg")));
        assert!(missing.contains(&dir.path().join("proc/diskstats")));
    }
}
