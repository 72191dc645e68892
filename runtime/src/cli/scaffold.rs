//! `ward plugin new`: a new plugin crate from the SDK's template.

use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn new_plugin(
    kind: &str,
    name: &str,
    dir: Option<PathBuf>,
    sdk_path: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let _ = (dir, sdk_path);
    bail!("no template for {kind} {name} yet")
}
