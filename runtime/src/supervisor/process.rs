//! One run of a service's process: spawn it in its own process group (as its user, with its
//! environment and output), signal the group, stop it (stop signal, wait, SIGKILL) and make
//! sure nothing of the group outlives the run.

use crate::config::{OutputConfig, ServiceConfig};
use rustix::process::{Pid, Signal};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// `user`/`group` set, but ward is not root.
    #[error("user/group is set but ward is not running as root")]
    NotRoot,
    /// No such user or group.
    #[error("unknown {kind} {name:?} (not in {file})")]
    UnknownId {
        /// `user` or `group`.
        kind: &'static str,
        /// The configured name.
        name: String,
        /// Where it was looked up.
        file: &'static str,
    },
    /// The program could not be executed.
    #[error("cannot start {command:?}: {source}")]
    Exec {
        /// The command.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running process and its group.
pub struct Running {
    /// The child (its group id is its pid).
    pub child: Child,
    /// Its pid, which is also the process group id.
    pub pid: i32,
}

/// Starts the service's process as leader of a new process group. stdout/stderr set to
/// `log` are piped; the caller drains them.
pub fn spawn(config: &ServiceConfig) -> Result<Running, SpawnError> {
    let mut cmd = Command::new(&config.command);
    cmd.args(&config.args)
        .envs(&config.env)
        .env("WARD_SERVICE", &config.name)
        .stdin(Stdio::null())
        .stdout(stdio(config.stdout))
        .stderr(stdio(config.stderr))
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &config.working_dir {
        cmd.current_dir(dir);
    }
    if config.user.is_some() || config.group.is_some() {
        if !rustix::process::geteuid().is_root() {
            return Err(SpawnError::NotRoot);
        }
        let mut primary_gid = None;
        if let Some(user) = &config.user {
            let (uid, gid) = lookup_user(user)?;
            cmd.uid(uid);
            primary_gid = Some(gid);
        }
        let gid = match &config.group {
            Some(g) => Some(lookup_group(g)?),
            None => primary_gid,
        };
        if let Some(gid) = gid {
            cmd.gid(gid);
        }
    }
    let child = cmd.spawn().map_err(|source| SpawnError::Exec {
        command: config.command.clone(),
        source,
    })?;
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    Ok(Running { child, pid })
}

fn stdio(output: OutputConfig) -> Stdio {
    match output {
        OutputConfig::Log => Stdio::piped(),
        OutputConfig::Inherit => Stdio::inherit(),
        OutputConfig::Null => Stdio::null(),
    }
}

/// Sends `signal` to every process of the group `pgid`. A group already gone is not an error.
pub fn signal_group(pgid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Whether any process of the group `pgid` is left.
pub fn group_alive(pgid: i32) -> bool {
    Pid::from_raw(pgid).is_some_and(|pid| rustix::process::test_kill_process_group(pid).is_ok())
}

/// Stops a run: the stop signal to the group, up to `timeout` for the leader to exit, then
/// SIGKILL; then the rest of the group. Returns the leader's exit status.
pub async fn stop(run: &mut Running, signal: Signal, timeout: Duration) -> Option<ExitStatus> {
    signal_group(run.pid, signal);
    let status = match tokio::time::timeout(timeout, run.child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            tracing::warn!(
                pid = run.pid,
                "process did not stop within {timeout:?}: SIGKILL"
            );
            signal_group(run.pid, Signal::KILL);
            run.child.wait().await.ok()
        }
    };
    clear_group(run.pid, signal, timeout).await;
    status
}

/// After the leader exited: processes it left in its group get the stop signal, then
/// SIGKILL once `timeout` passes, so that no run leaves anything behind.
pub async fn clear_group(pgid: i32, signal: Signal, timeout: Duration) {
    if !group_alive(pgid) {
        return;
    }
    signal_group(pgid, signal);
    let deadline = tokio::time::Instant::now() + timeout;
    while group_alive(pgid) {
        if tokio::time::Instant::now() >= deadline {
            signal_group(pgid, Signal::KILL);
            // Killed processes vanish once their parent (or init) reaps them.
            let reap = tokio::time::Instant::now() + Duration::from_secs(2);
            while group_alive(pgid) && tokio::time::Instant::now() < reap {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// uid and primary gid of a user name (or a numeric uid).
fn lookup_user(user: &str) -> Result<(u32, u32), SpawnError> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4
            && (f[0] == user || f[2] == user)
            && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
        {
            return Ok((uid, gid));
        }
    }
    match user.parse::<u32>() {
        Ok(uid) => Ok((uid, uid)),
        Err(_) => Err(SpawnError::UnknownId {
            kind: "user",
            name: user.into(),
            file: "/etc/passwd",
        }),
    }
}

/// gid of a group name (or a numeric gid).
fn lookup_group(group: &str) -> Result<u32, SpawnError> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    for line in groups.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3
            && (f[0] == group || f[2] == group)
            && let Ok(gid) = f[2].parse()
        {
            return Ok(gid);
        }
    }
    group.parse::<u32>().map_err(|_| SpawnError::UnknownId {
        kind: "group",
        name: group.into(),
        file: "/etc/group",
    })
}

/// `code` or `signal` of an exit.
pub fn describe(status: &ExitStatus) -> (Option<i32>, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    (status.code(), status.signal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_by_name_and_number() {
        assert_eq!(lookup_user("root").unwrap(), (0, 0));
        assert_eq!(lookup_user("0").unwrap().0, 0);
        assert_eq!(lookup_group("root").unwrap(), 0);
        let e = lookup_user("no-such-user-here").unwrap_err().to_string();
        assert_eq!(e, "unknown user \"no-such-user-here\" (not in /etc/passwd)");
    }
}
