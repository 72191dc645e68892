//! Zombie reaping for ward as PID 1 (in a container): orphans are re-parented to PID 1, and
//! nobody else will wait for them. On every SIGCHLD, zombies whose parent is ward are reaped,
//! except the service processes ward waits for itself (tokio's child handles).

use super::Shared;
use rustix::process::{Pid, WaitOptions};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Starts the reaper when this process is PID 1.
pub(crate) fn start_if_init(shared: Arc<Shared>) -> Option<JoinHandle<()>> {
    if !rustix::process::getpid().is_init() {
        return None;
    }
    let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("running as PID 1 but cannot watch SIGCHLD, zombies will pile up: {e}");
            return None;
        }
    };
    tracing::info!("running as PID 1: reaping orphaned processes");
    Some(tokio::spawn(async move {
        loop {
            reap_orphans(&shared);
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    }))
}

/// Reaps every zombie child of ours that is not a service process.
fn reap_orphans(shared: &Shared) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    // Holding the lock: a service spawned meanwhile is registered before it can be seen.
    let children = shared.children.lock().unwrap_or_else(|e| e.into_inner());
    let me = rustix::process::getpid().as_raw_nonzero().get();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if children.contains(&pid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) S ppid ...`: comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<i32>().ok());
        if state == Some("Z")
            && ppid == Some(me)
            && let Some(pid) = Pid::from_raw(pid)
        {
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
        }
    }
}
