//! The task that keeps one service in its wanted state: waits for its dependencies, starts
//! the process, gates `starting -> running` on its health check, watches exits, health and
//! dependencies, restarts it with backoff, and obeys start/stop/restart commands.

use super::backoff::{Backoff, Decision, Ending};
use super::logs::ServiceLog;
use super::process::{self, Running};
use super::{Phase, Shared};
use crate::config::{DependencyPolicy, RestartPolicy, ServiceConfig};
use crate::plugin::registry::rfc3339;
use crate::scheduler::ProbeEvent;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// What the API (or ward) asks of a service.
#[derive(Debug)]
pub enum Command {
    /// Start it (also out of `failed`), forgetting past restarts.
    Start(oneshot::Sender<()>),
    /// Stop it; the answer comes once it has stopped.
    Stop(oneshot::Sender<()>),
    /// Stop it if running, then start it; the answer comes once it is started again.
    Restart(oneshot::Sender<()>),
    /// Stop it and end the task (config change, removal, ward's shutdown).
    Shutdown(oneshot::Sender<()>),
}

/// How one run ended.
enum RunEnd {
    Ended(Ending, Duration),
    Stopped(oneshot::Sender<()>),
    Restart(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
    DependencyLost,
}

/// What a command received while waiting asks for.
enum Waiting {
    /// End the task.
    Shutdown,
    /// Stay stopped.
    Stopped,
    /// Go on (start now).
    Go,
}

/// The state of one service's task.
pub struct ServiceTask {
    pub(super) config: ServiceConfig,
    pub(super) shared: Arc<Shared>,
    pub(super) log: Arc<ServiceLog>,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) phases: watch::Receiver<HashMap<String, Phase>>,
    pub(super) health: Option<broadcast::Receiver<ProbeEvent>>,
}

impl ServiceTask {
    /// Runs until shut down. `want_up`: start at once (autostart and not stopped by the
    /// operator under `unless-stopped`).
    pub async fn run(mut self, mut want_up: bool) {
        let mut backoff = Backoff::new();
        let mut rest = Phase::Stopped;
        loop {
            if !want_up {
                self.update(rest, |_| {});
                match self.commands.recv().await {
                    None => return,
                    Some(Command::Start(ack)) | Some(Command::Restart(ack)) => {
                        want_up = true;
                        backoff.reset();
                        self.shared.clear_stopped_marker(&self.config.name);
                        let _ = ack.send(());
                    }
                    Some(Command::Stop(ack)) => {
                        let _ = ack.send(());
                    }
                    Some(Command::Shutdown(ack)) => {
                        let _ = ack.send(());
                        return;
                    }
                }
                continue;
            }
            if let Some(waiting) = self.unmet_dependencies() {
                self.update(Phase::Starting, |s| {
                    s.detail = format!("waiting for {waiting}");
                    s.pid = None;
                });
                tokio::select! {
                    _ = changed(&mut self.phases) => {}
                    cmd = self.commands.recv() => match self.while_waiting(cmd) {
                        Waiting::Shutdown => return,
                        Waiting::Stopped => {
                            want_up = false;
                            rest = Phase::Stopped;
                        }
                        Waiting::Go => {}
                    }
                }
                continue;
            }
            match self.run_once().await {
                RunEnd::Stopped(ack) => {
                    want_up = false;
                    rest = Phase::Stopped;
                    self.operator_stopped();
                    self.update(Phase::Stopped, |s| {
                        s.detail = "stopped by the operator".into()
                    });
                    let _ = ack.send(());
                }
                RunEnd::Restart(ack) => {
                    backoff.reset();
                    let _ = ack.send(());
                }
                RunEnd::Shutdown(ack) => {
                    self.update(Phase::Stopped, |s| s.detail.clear());
                    let _ = ack.send(());
                    return;
                }
                RunEnd::DependencyLost => {}
                RunEnd::Ended(ending, ran) => {
                    let decision = backoff.decide(
                        &self.config,
                        ending,
                        ran,
                        Instant::now(),
                        rand::random::<f64>(),
                    );
                    match decision {
                        Decision::Restart(delay) => {
                            self.update(Phase::Backoff, |s| {
                                s.restarts += 1;
                                s.detail = format!("restarting in {delay:.1?}");
                            });
                            // No delay: restart now. A timer, even of zero, fires at
                            // the runtime's next millisecond tick.
                            if !delay.is_zero() {
                                tokio::select! {
                                    _ = tokio::time::sleep(delay) => {}
                                    // A start or restart skips the rest of the delay.
                                    cmd = self.commands.recv() => match self.while_waiting(cmd) {
                                        Waiting::Shutdown => return,
                                        Waiting::Stopped => {
                                            want_up = false;
                                            rest = Phase::Stopped;
                                        }
                                        Waiting::Go => {}
                                    }
                                }
                            }
                        }
                        Decision::Stop => {
                            want_up = false;
                            rest = if ending.is_failure() {
                                Phase::Failed
                            } else {
                                Phase::Stopped
                            };
                            self.update(rest, |s| {
                                s.detail = format!(
                                    "exited; restart policy {} does not restart it",
                                    self.config.restart.as_str()
                                )
                            });
                        }
                        Decision::GiveUp => {
                            want_up = false;
                            rest = Phase::Failed;
                            let message = format!(
                                "gave up: {} restarts within {:?} (max_restarts {})",
                                backoff.recent(),
                                self.config.restart_window,
                                self.config.max_restarts
                            );
                            tracing::error!(service = %self.config.name, "{message}");
                            self.update(Phase::Failed, |s| {
                                s.detail = message;
                                s.failures += 1;
                            });
                        }
                    }
                }
            }
        }
    }

    /// Obeys a command received while no process runs (waiting for dependencies or a
    /// restart delay).
    fn while_waiting(&self, cmd: Option<Command>) -> Waiting {
        match cmd {
            None => {
                self.update(Phase::Stopped, |s| s.detail.clear());
                Waiting::Shutdown
            }
            Some(Command::Shutdown(ack)) => {
                self.update(Phase::Stopped, |s| s.detail.clear());
                let _ = ack.send(());
                Waiting::Shutdown
            }
            Some(Command::Stop(ack)) => {
                self.operator_stopped();
                let _ = ack.send(());
                Waiting::Stopped
            }
            Some(Command::Start(ack)) | Some(Command::Restart(ack)) => {
                let _ = ack.send(());
                Waiting::Go
            }
        }
    }

    /// Starts the process and watches it until it ends or a command, the health check or a
    /// dependency ends the run.
    async fn run_once(&mut self) -> RunEnd {
        let name = self.config.name.clone();
        let mut run = match self.shared.spawn(&self.config) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(service = %name, "{e}");
                self.update(Phase::Starting, |s| {
                    s.last_exit = Some(super::ExitInfo {
                        code: None,
                        signal: None,
                        at: rfc3339(SystemTime::now()),
                        ran_seconds: 0.0,
                        reason: e.to_string(),
                    });
                });
                return RunEnd::Ended(Ending::SpawnFailed, Duration::ZERO);
            }
        };
        let started = Instant::now();
        tracing::info!(service = %name, pid = run.pid, "started");
        let mut drains = Vec::new();
        let pipes = [
            ("stdout", run.child.stdout.take().map(|p| p.into_owned_fd())),
            ("stderr", run.child.stderr.take().map(|p| p.into_owned_fd())),
        ];
        for (stream, fd) in pipes {
            let Some(fd) = fd else { continue };
            match fd.and_then(tokio::net::unix::pipe::Receiver::from_owned_fd) {
                Ok(rx) => {
                    let log = self.log.clone();
                    drains.push(tokio::spawn(async move { log.drain(stream, rx).await }));
                }
                // The read end is closed: a write there kills the service (SIGPIPE), which
                // its restart policy then handles, and this warning explains.
                Err(e) => tracing::warn!(service = %name, "cannot read its {stream}: {e}"),
            }
        }
        let gated = self.config.health_check.is_some();
        let pid = run.pid;
        let wall = SystemTime::now();
        self.update(Phase::Starting, |s| {
            s.pid = Some(pid);
            s.started_at = Some(rfc3339(wall));
            s.started = Some(started);
            s.start_time_seconds = wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .ok();
            s.detail = if gated {
                "waiting for the health check to pass".into()
            } else {
                String::new()
            };
            if let Some(h) = s.health.as_mut() {
                h.healthy = None;
                h.consecutive_failures = 0;
            }
        });
        let ready_at = tokio::time::Instant::from_std(started + self.config.start_period);
        let start_deadline = tokio::time::Instant::from_std(started + self.config.start_timeout);
        let watch_deps = self.config.on_dependency_failure == DependencyPolicy::Stop
            && !self.config.depends_on.is_empty();
        let mut running = false;
        let mut latest: Vec<Option<bool>> = Vec::new();
        let mut failures = 0u32;
        let end = loop {
            if !running && !gated && tokio::time::Instant::now() >= ready_at {
                running = true;
                self.update(Phase::Running, |s| s.detail.clear());
            }
            tokio::select! {
                status = run.child.wait() => {
                    let (code, signal) = status.as_ref().map(process::describe).unwrap_or((None, None));
                    let ending = match (code, signal) {
                        (Some(c), _) => Ending::Exited(c),
                        (None, Some(s)) => Ending::Signaled(s),
                        (None, None) => Ending::Exited(-1),
                    };
                    let ran = started.elapsed();
                    tracing::warn!(service = %name, pid, ?code, ?signal, "exited after {ran:.1?}");
                    process::clear_group(pid, self.config.stop_signal.signal(), self.config.stop_timeout).await;
                    self.record_exit(code, signal, ran, match ending {
                        Ending::Exited(0) => "exited".into(),
                        Ending::Exited(c) => format!("exited with code {c}"),
                        Ending::Signaled(s) => format!("killed by signal {s}"),
                        _ => String::new(),
                    });
                    break RunEnd::Ended(ending, ran);
                }
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Start(ack)) => { let _ = ack.send(()); }
                    Some(Command::Stop(ack)) => {
                        self.stop_run(&mut run, started, "stopped by the operator").await;
                        break RunEnd::Stopped(ack);
                    }
                    Some(Command::Restart(ack)) => {
                        self.stop_run(&mut run, started, "restarted by the operator").await;
                        break RunEnd::Restart(ack);
                    }
                    Some(Command::Shutdown(ack)) => {
                        self.stop_run(&mut run, started, "stopped by ward").await;
                        break RunEnd::Shutdown(ack);
                    }
                    None => {
                        let (ack, _) = oneshot::channel();
                        self.stop_run(&mut run, started, "stopped by ward").await;
                        break RunEnd::Shutdown(ack);
                    }
                },
                _ = tokio::time::sleep_until(ready_at), if !running && !gated => {}
                _ = tokio::time::sleep_until(start_deadline), if !running && gated => {
                    let reason = format!("health check did not pass within start_timeout ({:?})", self.config.start_timeout);
                    tracing::warn!(service = %name, "{reason}");
                    self.stop_run(&mut run, started, &reason).await;
                    break RunEnd::Ended(Ending::Unhealthy, started.elapsed());
                }
                event = next_health(&mut self.health), if gated => {
                    let Some(event) = event else { continue };
                    if Some(&*event.check) != self.config.health_check.as_deref() || event.started < started {
                        continue;
                    }
                    latest.resize(event.targets, None);
                    if let Some(slot) = latest.get_mut(event.target) {
                        *slot = event.up.or(*slot);
                    }
                    match event.up {
                        Some(true) => failures = 0,
                        Some(false) => failures += 1,
                        None => {}
                    }
                    let healthy = latest.iter().all(|l| *l == Some(true));
                    self.update(if running { Phase::Running } else { Phase::Starting }, |s| {
                        if let Some(h) = s.health.as_mut() {
                            h.healthy = latest.iter().any(Option::is_some).then_some(healthy);
                            h.consecutive_failures = failures;
                        }
                    });
                    if !running && healthy {
                        running = true;
                        self.update(Phase::Running, |s| s.detail.clear());
                    } else if running && failures >= self.config.health_failures {
                        let reason = format!("health check failed {failures} times in a row");
                        tracing::warn!(service = %name, "{reason}: restarting");
                        self.stop_run(&mut run, started, &reason).await;
                        break RunEnd::Ended(Ending::Unhealthy, started.elapsed());
                    }
                }
                _ = changed(&mut self.phases), if watch_deps => {
                    if let Some(waiting) = self.unmet_dependencies() {
                        let reason = format!("stopped: dependency {waiting}");
                        tracing::warn!(service = %name, "{reason}");
                        self.stop_run(&mut run, started, &reason).await;
                        break RunEnd::DependencyLost;
                    }
                }
            }
        };
        self.shared.forget_child(pid);
        for d in drains {
            // The pipes close when the group is gone; don't wait on a grandchild that kept
            // them open in another group.
            let _ = tokio::time::timeout(Duration::from_secs(1), d).await;
        }
        self.update(Phase::Stopped, |s| {
            s.pid = None;
            s.started = None;
        });
        end
    }

    /// Stops the running process (stopping -> stopped), recording why.
    async fn stop_run(&mut self, run: &mut Running, started: Instant, reason: &str) {
        self.update(Phase::Stopping, |s| s.detail = reason.to_string());
        let status = process::stop(
            run,
            self.config.stop_signal.signal(),
            self.config.stop_timeout,
        )
        .await;
        let (code, signal) = status
            .as_ref()
            .map(process::describe)
            .unwrap_or((None, None));
        self.record_exit(code, signal, started.elapsed(), reason.to_string());
    }

    fn record_exit(&self, code: Option<i32>, signal: Option<i32>, ran: Duration, reason: String) {
        let at = rfc3339(SystemTime::now());
        self.update_status(|s| {
            s.last_exit = Some(super::ExitInfo {
                code,
                signal,
                at,
                ran_seconds: ran.as_secs_f64(),
                reason,
            })
        });
    }

    /// Under `unless-stopped`, an operator's stop outlives ward's restarts.
    fn operator_stopped(&self) {
        if self.config.restart == RestartPolicy::UnlessStopped {
            self.shared.set_stopped_marker(&self.config.name);
        }
    }

    /// The first dependency that is not running, as "db (failed)".
    fn unmet_dependencies(&self) -> Option<String> {
        let phases = self.phases.borrow();
        self.config.depends_on.iter().find_map(|d| {
            let phase = phases.get(d).copied().unwrap_or(Phase::Stopped);
            (phase != Phase::Running).then(|| format!("{d} ({})", phase.as_str()))
        })
    }

    fn update(&self, phase: Phase, f: impl FnOnce(&mut super::ServiceStatus)) {
        self.update_status(|s| {
            s.state = phase;
            f(s)
        });
        self.shared.phases.send_if_modified(|m| {
            let old = m.insert(self.config.name.clone(), phase);
            old != Some(phase)
        });
    }

    fn update_status(&self, f: impl FnOnce(&mut super::ServiceStatus)) {
        let mut status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = status.get_mut(&self.config.name) {
            f(s);
        }
    }
}

/// The next probe verdict; pending forever without a health check.
async fn next_health(rx: &mut Option<broadcast::Receiver<ProbeEvent>>) -> Option<ProbeEvent> {
    let Some(rx) = rx.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(e) => return Some(e),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// Resolves when the phases change; pending forever once the sender is gone.
async fn changed(rx: &mut watch::Receiver<HashMap<String, Phase>>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
