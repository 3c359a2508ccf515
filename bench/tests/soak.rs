//! The soak test with faults, short form, as CI runs it: `scripts/test`
//! runs `cargo test --workspace --test soak -- --ignored`, which reuses the
//! workspace's test build (`cargo run -p omni-bench` would resolve the
//! dependencies' features for this one package and rebuild them). Outside
//! CI, run `cargo run -p omni-bench -- soak` and read its report.

use std::process::Command;

fn soak(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_omni-bench"))
        .arg("soak")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run omni-bench: {e}"));
    assert!(status.success(), "the soak failed: see its report above");
}

#[test]
#[ignore = "the soak test takes about a minute: scripts/test runs it with --ignored"]
fn the_short_soak_with_faults_passes_every_check() {
    soak(&[]);
}

#[test]
#[ignore = "the soak test takes about a minute: scripts/test runs it with --ignored"]
fn the_short_soak_on_galera_with_the_writer_killed_passes_every_check() {
    soak(&["--galera"]);
}
