//! ward's integration tests: real components built from `plugins/` and `tests/guests/`, a real
//! plugin host, the real `ward` binary, real HTTP servers and sockets on loopback.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod util;

mod api;
mod cli;
mod hostile;
mod loading;
mod peers;
mod probers;
mod reload;
mod sampling;
mod storage;
mod supervision;
