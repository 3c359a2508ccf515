//! Building the components for `wasm32-wasip2`, once per test process, so
//! that `cargo test` always runs the current code.

use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

use crate::workspace_root;

/// Builds every component (`functions/*`) and test fixture
/// (`tests/fixtures/*`) in release mode, as `spin build` would. Panics with
/// cargo's output if the build fails.
pub fn ensure_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = BUILT.get_or_init(|| build().map_err(|e| format!("{e:#}"))) {
        panic!("building the components failed: {e}");
    }
}

fn build() -> anyhow::Result<()> {
    let root = workspace_root();
    let mut packages = Vec::new();
    for dir in ["functions", "tests/fixtures"] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let manifest = entry?.path().join("Cargo.toml");
            if let Ok(text) = std::fs::read_to_string(&manifest) {
                let name = text
                    .lines()
                    .find_map(|line| line.strip_prefix("name = "))
                    .with_context(|| format!("no package name in {}", manifest.display()))?;
                packages.push(name.trim_matches('"').to_owned());
            }
        }
    }
    packages.sort();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"]);
    for package in &packages {
        command.args(["-p", package]);
    }
    let output = command.output().context("cannot run cargo")?;
    if !output.status.success() {
        bail!(
            "cargo build of {packages:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
