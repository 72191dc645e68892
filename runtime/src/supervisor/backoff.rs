//! Restart decisions: whether an exit is restarted, after how long, and when a service has
//! restarted too often and is given up (`failed`).

use crate::config::{RestartPolicy, ServiceConfig};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How a run of the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited by itself with this code.
    Exited(i32),
    /// A signal ward did not send killed it.
    Signaled(i32),
    /// It could not be started (spawn error).
    SpawnFailed,
    /// It did not pass its health check within `start_timeout`, or failed it
    /// `health_failures` times in a row; ward stopped it.
    Unhealthy,
}

impl Ending {
    /// Whether the run failed (as opposed to a clean exit 0).
    pub fn is_failure(self) -> bool {
        !matches!(self, Self::Exited(0))
    }
}

/// What to do after a run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Restart after this delay.
    Restart(Duration),
    /// Stay stopped (the policy says so).
    Stop,
    /// Too many restarts within the window: give up.
    GiveUp,
}

/// The restart state of one service: consecutive quick failures and recent restarts.
#[derive(Debug, Default)]
pub struct Backoff {
    /// Restarts in a row whose run was shorter than `delay_max` (the doubling exponent).
    streak: u32,
    /// When recent restarts happened (within `restart_window`).
    recent: VecDeque<Instant>,
}

impl Backoff {
    /// A fresh state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets past restarts (an operator's start, a config change).
    pub fn reset(&mut self) {
        self.streak = 0;
        self.recent.clear();
    }

    /// Decides after a run that lasted `ran` and ended as `ending`, at `now`. `random` in
    /// [0, 1) spreads the delay by the configured jitter.
    pub fn decide(
        &mut self,
        config: &ServiceConfig,
        ending: Ending,
        ran: Duration,
        now: Instant,
        random: f64,
    ) -> Decision {
        let restart = match config.restart {
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure => ending.is_failure(),
            RestartPolicy::Never => false,
        };
        if !restart {
            return Decision::Stop;
        }
        if ran > config.delay_max {
            self.streak = 0;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > config.restart_window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= config.max_restarts as usize {
            return Decision::GiveUp;
        }
        self.recent.push_back(now);
        let base = config
            .delay
            .saturating_mul(1u32 << self.streak.min(20))
            .min(config.delay_max);
        self.streak = self.streak.saturating_add(1);
        let spread = 1.0 + config.jitter * (2.0 * random - 1.0);
        Decision::Restart(base.mul_f64(spread.max(0.0)))
    }

    /// Restarts counted in the current window.
    pub fn recent(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(restart: RestartPolicy) -> ServiceConfig {
        let text = format!(
            "[[service]]\nname = \"s\"\ncommand = \"true\"\nrestart = \"{}\"\ndelay = \"100ms\"\ndelay_max = \"1s\"\njitter = 0.0\nmax_restarts = 3\nrestart_window = \"10s\"\n",
            restart.as_str()
        );
        let mut c = crate::Config::parse(&text, "t.toml").unwrap();
        c.services.remove(0)
    }

    #[test]
    fn policies_decide_which_exits_restart() {
        let now = Instant::now();
        let short = Duration::from_millis(10);
        for (policy, ending, restarts) in [
            (RestartPolicy::Always, Ending::Exited(0), true),
            (RestartPolicy::UnlessStopped, Ending::Exited(0), true),
            (RestartPolicy::OnFailure, Ending::Exited(0), false),
            (RestartPolicy::OnFailure, Ending::Exited(3), true),
            (RestartPolicy::OnFailure, Ending::Signaled(9), true),
            (RestartPolicy::OnFailure, Ending::Unhealthy, true),
            (RestartPolicy::Never, Ending::Exited(1), false),
        ] {
            let d = Backoff::new().decide(&config(policy), ending, short, now, 0.5);
            assert_eq!(
                matches!(d, Decision::Restart(_)),
                restarts,
                "{policy:?} {ending:?}: {d:?}"
            );
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_and_a_long_run_resets_them() {
        let c = config(RestartPolicy::Always);
        let mut b = Backoff::new();
        let short = Duration::from_millis(10);
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..3 {
            now += Duration::from_secs(20);
            if let Decision::Restart(d) = b.decide(&c, Ending::Exited(1), short, now, 0.5) {
                delays.push(d.as_millis());
            }
        }
        assert_eq!(delays, [100, 200, 400]);
        // Two more within the window: 800 ms, then capped at 1 s.
        assert_eq!(
            b.decide(&c, Ending::Exited(1), short, now, 0.5),
            Decision::Restart(Duration::from_millis(800))
        );
        assert_eq!(
            b.decide(&c, Ending::Exited(1), short, now, 0.5),
            Decision::Restart(Duration::from_secs(1))
        );
        now += Duration::from_secs(20);
        assert_eq!(
            b.decide(&c, Ending::Exited(1), Duration::from_secs(5), now, 0.5),
            Decision::Restart(Duration::from_millis(100)),
            "a run longer than delay_max starts the doubling again"
        );
    }

    #[test]
    fn too_many_restarts_in_the_window_give_up() {
        let c = config(RestartPolicy::Always);
        let mut b = Backoff::new();
        let now = Instant::now();
        let short = Duration::from_millis(10);
        for _ in 0..3 {
            assert!(matches!(
                b.decide(&c, Ending::Exited(1), short, now, 0.5),
                Decision::Restart(_)
            ));
        }
        assert_eq!(
            b.decide(&c, Ending::Exited(1), short, now, 0.5),
            Decision::GiveUp
        );
        // Once the window has passed, restarts are allowed again.
        assert!(matches!(
            b.decide(
                &c,
                Ending::Exited(1),
                short,
                now + Duration::from_secs(11),
                0.5
            ),
            Decision::Restart(_)
        ));
    }

    #[test]
    fn jitter_spreads_the_delay_within_its_fraction() {
        let mut c = config(RestartPolicy::Always);
        c.jitter = 0.2;
        let now = Instant::now();
        let short = Duration::from_millis(10);
        let low = Backoff::new().decide(&c, Ending::Exited(1), short, now, 0.0);
        let high = Backoff::new().decide(&c, Ending::Exited(1), short, now, 0.999_999);
        assert_eq!(low, Decision::Restart(Duration::from_millis(80)));
        match high {
            Decision::Restart(d) => assert!(d.as_millis() >= 119 && d.as_millis() <= 120),
            other => panic!("{other:?}"),
        }
    }
}
