//! Waiting on a WASI pollable with a deadline, the building block of every helper's timeout.

use std::time::{Duration, Instant};

use wasi::clocks::monotonic_clock;
use wasi::io::poll::{Pollable, poll};

/// The deadline was reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// Block until `pollable` is ready or `deadline` passes.
pub(crate) fn until(pollable: &Pollable, deadline: Instant) -> Result<(), Elapsed> {
    if pollable.ready() {
        return Ok(());
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Elapsed);
    }
    let timer = monotonic_clock::subscribe_duration(nanos(left));
    let ready = poll(&[pollable, &timer]);
    if ready.contains(&0) {
        Ok(())
    } else {
        Err(Elapsed)
    }
}

/// `timeout` from now, clamped to the current call's deadline.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let timeout = crate::deadline::clamp(timeout);
    Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
}

/// A duration in WASI's nanoseconds.
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Human text for a duration in messages: "1.5 s", "12.3 ms", "850 µs".
pub(crate) fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.1} s")
    } else if seconds >= 0.001 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}
