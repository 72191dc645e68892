//! `ward:plugin/query`: read-only PromQL over ward's store for alert-rule plugins.
//!
//! The PromQL engine arrives with the HTTP API work; until then every query answers an
//! `execution` error that says so, which lets alert-rule plugins load, validate and run
//! (their `evaluate` sees the error as data).

use crate::plugin::bindings::v0_1::query::{Host, QueryError, Value};
use crate::plugin::state::HostState;

impl Host for HostState {
    async fn instant(&mut self, _promql: String, _time_ms: i64) -> Result<Value, QueryError> {
        Err(unavailable())
    }

    async fn range(
        &mut self,
        _promql: String,
        _start_ms: i64,
        _end_ms: i64,
        _step_ms: i64,
    ) -> Result<Value, QueryError> {
        Err(unavailable())
    }
}

fn unavailable() -> QueryError {
    QueryError::Execution("PromQL evaluation is not available in this ward build yet".into())
}
