//! Runner for Prometheus's PromQL test files: the `promql/promqltest/testdata/*.test` format
//! of Prometheus v2.53, evaluated by this crate's [`Engine`] over a temporary ward store.
//!
//! The format, line by line (leading whitespace and `#` comments are ignored; an empty or
//! comment line ends a block):
//!
//! ```text
//! load 5m                                  # a store with series, one value per 5m from t=0
//!   http_requests{job="api"} 0+10x10 _ stale 3x2 -1-1x3 Inf NaN
//! eval instant at 50m sum(http_requests)   # eval_fail / eval_ordered too
//!   {} 100
//! eval range from 0 to 10m step 5m http_requests
//!   http_requests{job="api"} 0 10 20
//! clear                                    # a new, empty store
//! ```
//!
//! Each instant case runs as upstream runs it: at its time, then (when the query uses no
//! function whose result depends on the evaluation time) with `@ <time>` on every selector and
//! subquery outside a subquery, at other times; and each of these again as a range query from
//! one minute before to one minute after, whose middle step must give the same result. A case
//! passes when every run does. Unlike upstream, a failing case does not end the file: every
//! case is run and each failure is reported with its reason.
//!
//! Native histograms (`{{...}}` values) are parsed but never stored: cases that need them fail.

mod at;
mod compare;
mod parse;
mod run;
mod series;
#[cfg(test)]
mod tests;

use crate::{Engine, EngineOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The outcome of one test file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileReport {
    /// `eval*` commands run.
    pub cases: usize,
    /// Cases whose every run passed.
    pub passed: usize,
    /// The other cases, in file order.
    pub failures: Vec<CaseFailure>,
}

impl FileReport {
    /// Share of cases passed, 0 to 1 (1 for a file without cases).
    pub fn pass_rate(&self) -> f64 {
        if self.cases == 0 {
            1.0
        } else {
            self.passed as f64 / self.cases as f64
        }
    }

    /// True when every case passed.
    pub fn all_passed(&self) -> bool {
        self.passed == self.cases
    }
}

/// A case that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFailure {
    /// 1-based line of its `eval` command.
    pub line: usize,
    /// The query as written in the file.
    pub query: String,
    /// What went wrong: which run (plain, `@` re-run, range mode), expected against got, which
    /// series.
    pub reason: String,
}

/// Why a test file could not be run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestFileError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not valid in the format.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A `load` holds samples ward's store refuses.
    #[error("{}:{line}: cannot load: {message}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// 1-based line of the series.
        line: usize,
        /// What the store refused.
        message: String,
    },
    /// The temporary store failed.
    #[error("store failed while running {}: {source}", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// The store's error.
        source: ward_store::Error,
    },
}

/// An engine set up as upstream's test engine: at most 10,000 samples per query, a 100 s
/// timeout, 5 m lookback.
pub fn upstream_engine() -> Engine {
    Engine::new(EngineOptions {
        max_samples: 10_000,
        timeout: Duration::from_secs(100),
        ..EngineOptions::default()
    })
}

/// Runs the test file at `path` with `engine`.
pub fn run_file(path: &Path, engine: &Engine) -> Result<FileReport, TestFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TestFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    run_script(&text, path, engine)
}

/// Runs a test script given as text; `origin` names it in errors.
pub fn run_script(text: &str, origin: &Path, engine: &Engine) -> Result<FileReport, TestFileError> {
    let cmds = parse::parse(text).map_err(|e| TestFileError::Syntax {
        path: origin.to_path_buf(),
        line: e.line,
        message: e.message,
    })?;
    run::run(&cmds, engine, origin)
}

/// Runs each file (in parallel, one thread a file) with [`upstream_engine`]; results in the
/// order given.
pub fn run_files(paths: &[PathBuf]) -> Vec<(PathBuf, Result<FileReport, TestFileError>)> {
    let engine = upstream_engine();
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .iter()
            .map(|p| {
                let engine = &engine;
                (p, scope.spawn(move || run_file(p, engine)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(p, h)| {
                // run_file catches the engine's panics; a panic here is the runner's own bug.
                let result = h
                    .join()
                    .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
                (p.clone(), result)
            })
            .collect()
    })
}
