//! The time the host gives the current plugin call.
//!
//! ward stops a call still running at its deadline and counts it as a plugin failure, so a
//! probe should give up on a slow target a little earlier and answer down. The SDK records the
//! deadline when a call starts; [`http`](crate::http) and [`net`](crate::net) never wait past
//! it, whatever timeout they were given.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Share of the host's timeout a call may use; the rest is left for answering.
const BUDGET_PERCENT: u32 = 90;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// When the current call should have given up, if the host set a deadline: a little before
/// the host's own.
pub fn deadline() -> Option<Instant> {
    DEADLINE.with(Cell::get)
}

/// Time left before [`deadline`], if any.
pub fn time_left() -> Option<Duration> {
    deadline().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// Clamp `timeout` to what is left of the call.
pub(crate) fn clamp(timeout: Duration) -> Duration {
    match time_left() {
        Some(left) => timeout.min(left),
        None => timeout,
    }
}

/// Record the deadline of a call starting now, given the host's `timeout_ms`.
pub(crate) fn start_call(timeout_ms: u32) {
    let budget = Duration::from_millis(u64::from(timeout_ms)) * BUDGET_PERCENT / 100;
    DEADLINE.with(|deadline| deadline.set(Instant::now().checked_add(budget)));
}
