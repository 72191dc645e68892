//! `ward:plugin/log`: plugin log lines into ward's log, attributed to the plugin and check.
//!
//! Bounded per call: lines are truncated and, past a count, dropped with one notice, so a
//! chatty or hostile plugin cannot flood the host's log.

use crate::plugin::bindings::v0_1::log::{Host, Level};
use crate::plugin::state::HostState;

/// Longest line kept, in bytes.
pub const MAX_LINE: usize = 4096;
/// Lines kept per call.
pub const MAX_LINES_PER_CALL: u32 = 100;

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) {
        let call = &mut self.call;
        call.log_lines += 1;
        if call.log_lines > MAX_LINES_PER_CALL {
            if call.log_lines == MAX_LINES_PER_CALL + 1 {
                tracing::warn!(plugin = %call.plugin, check = %call.check, "plugin log limit of {MAX_LINES_PER_CALL} lines per call reached; further lines dropped");
            }
            return;
        }
        let message = truncate(&message, MAX_LINE);
        let (plugin, check) = (&call.plugin, &call.check);
        match level {
            Level::Trace => tracing::trace!(%plugin, %check, "{message}"),
            Level::Debug => tracing::debug!(%plugin, %check, "{message}"),
            Level::Info => tracing::info!(%plugin, %check, "{message}"),
            Level::Warn => tracing::warn!(%plugin, %check, "{message}"),
            Level::Error => tracing::error!(%plugin, %check, "{message}"),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
