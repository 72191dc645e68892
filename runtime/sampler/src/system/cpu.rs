//! `/proc/stat`: node_exporter's `cpu` and `stat` collectors.
//!
//! Per CPU, `node_cpu_seconds_total{cpu,mode}` for the eight modes and
//! `node_cpu_guest_seconds_total{cpu,mode="user"|"nice"}` (guest time is also inside `user`
//! and `nice`, as the kernel counts it). Like node_exporter 1.5, a counter that goes
//! backwards (the kernel's iowait does) keeps its previous value, and a CPU whose idle time
//! jumps back by 3 s or more (hot-plugged) starts over.

use super::Cx;
use crate::Sink;
use crate::parse::{fields, lines, str_of, u64_of};

const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];
const IDLE: usize = 3;
const JUMP_BACK_SECONDS: f64 = 3.0;
/// CPU numbers above this are taken for garbage (they would size a table).
const MAX_CPU: u64 = 1 << 16;

/// The last values emitted per CPU (eight modes, guest, guest_nice), for the no-going-back
/// rule.
#[derive(Default)]
pub(crate) struct State {
    cpus: Vec<Option<[f64; 10]>>,
    seen: Vec<bool>,
}

pub(super) fn collect(cx: &mut Cx, state: &mut State, sink: &mut dyn Sink) {
    if cx.read_proc("stat") {
        parse(&cx.buf, cx.ticks, state, sink);
    }
}

pub(crate) fn parse(text: &[u8], ticks: f64, state: &mut State, sink: &mut dyn Sink) {
    state.seen.iter_mut().for_each(|s| *s = false);
    for line in lines(text) {
        let mut f = fields(line);
        let Some(key) = f.next() else { continue };
        let first = f.clone().next().and_then(u64_of).map(|v| v as f64);
        match key {
            b"cpu" => {}
            b"intr" => emit(sink, "node_intr_total", first),
            b"ctxt" => emit(sink, "node_context_switches_total", first),
            b"btime" => emit(sink, "node_boot_time_seconds", first),
            b"processes" => emit(sink, "node_forks_total", first),
            b"procs_running" => emit(sink, "node_procs_running", first),
            b"procs_blocked" => emit(sink, "node_procs_blocked", first),
            _ if key.starts_with(b"cpu") => cpu(&key[3..], f, ticks, state, sink),
            _ => {}
        }
    }
    // CPUs gone offline start over when they come back.
    for (cpu, seen) in state.cpus.iter_mut().zip(&state.seen) {
        if !seen {
            *cpu = None;
        }
    }
}

fn emit(sink: &mut dyn Sink, name: &str, value: Option<f64>) {
    if let Some(v) = value {
        sink.sample(name, &[], v);
    }
}

fn cpu<'a>(
    number: &'a [u8],
    values: impl Iterator<Item = &'a [u8]>,
    ticks: f64,
    state: &mut State,
    sink: &mut dyn Sink,
) {
    let (Some(n), Some(label)) = (u64_of(number), str_of(number)) else {
        return;
    };
    if n >= MAX_CPU {
        return;
    }
    // Older kernels have fewer columns: the missing ones are 0, as node_exporter reads them.
    let mut now = [0.0; 10];
    for (slot, v) in now.iter_mut().zip(values) {
        match u64_of(v) {
            Some(v) => *slot = v as f64 / ticks,
            None => return,
        }
    }
    let n = n as usize;
    if state.cpus.len() <= n {
        state.cpus.resize(n + 1, None);
        state.seen.resize(n + 1, false);
    }
    state.seen[n] = true;
    let mut last = state.cpus[n].unwrap_or([0.0; 10]);
    if last[IDLE] - now[IDLE] >= JUMP_BACK_SECONDS {
        last = [0.0; 10];
    }
    for (l, v) in last.iter_mut().zip(now) {
        if v > *l {
            *l = v;
        }
    }
    state.cpus[n] = Some(last);
    for (mode, v) in MODES.iter().zip(last) {
        sink.sample(
            "node_cpu_seconds_total",
            &[("cpu", label), ("mode", mode)],
            v,
        );
    }
    sink.sample(
        "node_cpu_guest_seconds_total",
        &[("cpu", label), ("mode", "user")],
        last[8],
    );
    sink.sample(
        "node_cpu_guest_seconds_total",
        &[("cpu", label), ("mode", "nice")],
        last[9],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    const STAT: &str = "cpu  100 20 30 4000 50 0 6 7 8 9
cpu0 50 10 15 2000 25 0 3 4 5 6
cpu1 50 10 15 2000 25 0 3 3 3 3
intr 12345 0 1 2
ctxt 999
btime 1700000000
processes 4242
procs_running 3
procs_blocked 1
softirq 10 1 2
";

    #[test]
    fn parses_a_full_stat() {
        let mut sink = Collect::default();
        parse(STAT.as_bytes(), 100.0, &mut State::default(), &mut sink);
        let c = |cpu, mode| sink.get("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)]);
        assert_eq!(c("0", "user"), Some(0.5));
        assert_eq!(c("0", "idle"), Some(20.0));
        assert_eq!(c("1", "steal"), Some(0.03));
        assert_eq!(
            sink.get(
                "node_cpu_guest_seconds_total",
                &[("cpu", "0"), ("mode", "nice")]
            ),
            Some(0.06)
        );
        assert_eq!(sink.get("node_intr_total", &[]), Some(12345.0));
        assert_eq!(sink.get("node_context_switches_total", &[]), Some(999.0));
        assert_eq!(sink.get("node_boot_time_seconds", &[]), Some(1.7e9));
        assert_eq!(sink.get("node_forks_total", &[]), Some(4242.0));
        assert_eq!(sink.get("node_procs_running", &[]), Some(3.0));
        assert_eq!(sink.get("node_procs_blocked", &[]), Some(1.0));
        // 2 CPUs x (8 + 2) + 6.
        assert_eq!(sink.0.len(), 26);
    }

    #[test]
    fn old_kernels_and_garbage() {
        let mut sink = Collect::default();
        let text = "cpu0 1 2 3 4\ncpu1 1 x 3\ncpu99999999 1 2\ncpux 1\nctxt\nctxt -1\n\0\0\n";
        parse(text.as_bytes(), 100.0, &mut State::default(), &mut sink);
        let c = |mode| sink.get("node_cpu_seconds_total", &[("cpu", "0"), ("mode", mode)]);
        assert_eq!(c("idle"), Some(0.04));
        assert_eq!(c("steal"), Some(0.0));
        assert_eq!(
            sink.names(),
            ["node_cpu_guest_seconds_total", "node_cpu_seconds_total"]
        );
        assert_eq!(sink.0.len(), 10);
    }

    #[test]
    fn counters_do_not_go_back_unless_idle_jumps() {
        let mut state = State::default();
        let round = |text: &str, state: &mut State| {
            let mut sink = Collect::default();
            parse(text.as_bytes(), 100.0, state, &mut sink);
            let c = |mode| sink.get("node_cpu_seconds_total", &[("cpu", "0"), ("mode", mode)]);
            (c("iowait").unwrap(), c("idle").unwrap())
        };
        assert_eq!(round("cpu0 0 0 0 1000 500\n", &mut state), (5.0, 10.0));
        assert_eq!(round("cpu0 0 0 0 1100 400\n", &mut state), (5.0, 11.0));
        // Idle back by 5 s: hot-plugged, start over.
        assert_eq!(round("cpu0 0 0 0 600 100\n", &mut state), (1.0, 6.0));
        // Offline for a round, then back: starts over too.
        parse(
            b"cpu1 0 0 0 1 1\n",
            100.0,
            &mut state,
            &mut Collect::default(),
        );
        assert_eq!(round("cpu0 0 0 0 500 50\n", &mut state), (0.5, 5.0));
    }
}
