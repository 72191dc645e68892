//! ward's PromQL engine.
//!
//! Queries are parsed by the `promql-parser` crate and evaluated here with Prometheus 2.x
//! semantics for float samples (lookback delta and staleness, `offset`, `@`, subqueries,
//! every classic function, aggregation and binary operator). Data comes from a
//! [`Queryable`] (ward's store implements it): each selector's whole time range is loaded
//! once per query, then every step of a range query is evaluated from memory.
//!
//! [`testfile`] runs Prometheus's own PromQL test files (`load`, `eval`, `clear`, ...)
//! against this engine and ward's store.

mod aggregate;
mod binary;
mod engine;
mod error;
mod functions;
mod position;
pub mod testfile;
mod value;

pub use engine::{Engine, EngineOptions, Queryable, format_query};
pub use error::QueryError;
pub use value::{Labels, Point, Sample, Series, Value, format_float, push_float};
