//! Prometheus's own PromQL test files (v2.53, kept outside the repository in
//! `shared/peers/promql`) against ward's engine and store.
//!
//! `cargo test -p ward-promql --test upstream -- --nocapture` prints the pass rate of every
//! file and its first failures: the engine's work list. Every file but
//! `native_histograms.test` (ward stores floats only) must pass whole.
//!
//! `PROMQL_TEST_FILTER=functions` runs only the files whose name contains `functions`.
//! Without the directory the test is skipped, unless `WARD_REQUIRE_PEERS=1`.

use std::path::{Path, PathBuf};
use ward_promql::testfile::{FileReport, TestFileError, run_files};

/// Files not required to pass, and why.
const EXEMPT: &[(&str, &str)] = &[(
    "native_histograms.test",
    "native histograms: ward stores float samples only",
)];
/// Failures printed per file.
const SHOWN_FAILURES: usize = 20;

#[test]
fn upstream_test_files_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers/promql");
    let Some(paths) = test_files(&dir) else {
        let why = format!("no upstream test files in {}", dir.display());
        if std::env::var("WARD_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("{why} (WARD_REQUIRE_PEERS=1)");
        }
        println!("skipped: {why}");
        return;
    };

    let results = run_files(&paths);
    print_table(&results);
    print_failures(&results);

    let failing: Vec<String> = results
        .iter()
        .filter(|(path, _)| !EXEMPT.iter().any(|(name, _)| file_name(path) == *name))
        .filter_map(|(path, r)| match r {
            Ok(report) if report.all_passed() => None,
            Ok(report) => Some(format!(
                "{} ({} of {} cases fail)",
                file_name(path),
                report.failures.len(),
                report.cases
            )),
            Err(e) => Some(format!("{} ({e})", file_name(path))),
        })
        .collect();
    assert!(
        failing.is_empty(),
        "upstream PromQL test files failing: {}",
        failing.join(", ")
    );
}

/// The `*.test` files of `dir`, sorted; `None` when there are none.
fn test_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    if let Ok(filter) = std::env::var("PROMQL_TEST_FILTER") {
        paths.retain(|p| file_name(p).contains(filter.as_str()));
    }
    paths.sort();
    (!paths.is_empty()).then_some(paths)
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
}

fn print_table(results: &[(PathBuf, Result<FileReport, TestFileError>)]) {
    println!(
        "\n{:<26} {:>6} {:>6} {:>7}",
        "file", "cases", "passed", "rate"
    );
    let (mut cases, mut passed) = (0, 0);
    for (path, r) in results {
        let note = EXEMPT
            .iter()
            .find(|(name, _)| file_name(path) == *name)
            .map(|(_, why)| format!("  (not required: {why})"))
            .unwrap_or_default();
        match r {
            Ok(report) => {
                cases += report.cases;
                passed += report.passed;
                println!(
                    "{:<26} {:>6} {:>6} {:>6.1}%{note}",
                    file_name(path),
                    report.cases,
                    report.passed,
                    100.0 * report.pass_rate()
                );
            }
            Err(e) => println!("{:<26} error: {e}{note}", file_name(path)),
        }
    }
    let rate = if cases == 0 {
        100.0
    } else {
        100.0 * passed as f64 / cases as f64
    };
    println!("{:<26} {cases:>6} {passed:>6} {rate:>6.1}%\n", "total");
}

fn print_failures(results: &[(PathBuf, Result<FileReport, TestFileError>)]) {
    for (path, r) in results {
        let Ok(report) = r else { continue };
        if report.failures.is_empty() {
            continue;
        }
        println!("== {} ({} failing)", file_name(path), report.failures.len());
        for f in report.failures.iter().take(SHOWN_FAILURES) {
            println!(
                "{}:{}: {}\n    {}",
                file_name(path),
                f.line,
                f.query,
                f.reason
            );
        }
        if report.failures.len() > SHOWN_FAILURES {
            println!("... and {} more", report.failures.len() - SHOWN_FAILURES);
        }
        println!();
    }
}
