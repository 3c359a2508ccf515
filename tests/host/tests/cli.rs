//! The `omni-host` command line: `up`, its options, and its startup errors,
//! which need neither a database nor compiled components.

use std::path::PathBuf;
use std::process::{Command, Output};

fn omni_host(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omni-host"))
        .args(args)
        .env_remove("SPIN_VARIABLE_TOKEN")
        .env_remove("SPIN_VARIABLE_DB_URL")
        .env_remove("RUNTIME_CONFIG_FILE")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("omni-host runs: {e}"))
}

fn fixture() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/spin.toml")
        .to_string_lossy()
        .into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn up_refuses_to_start_without_a_required_variable() {
    let output = omni_host(
        &["up", "--from", &fixture(), "--listen", "127.0.0.1:0"],
        &[("SPIN_VARIABLE_DB_URL", "mysql://u@127.0.0.1/db")],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no provider resolved required variable(s): [Key(\"token\")]"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_variable_option_counts_as_a_value() {
    // With both required variables given, startup gets past the variables
    // and fails later on the unknown component instead.
    let output = omni_host(
        &[
            "up",
            "--from",
            &fixture(),
            "--listen",
            "127.0.0.1:0",
            "--variable",
            "token=t",
            "--component-id",
            "nobody",
        ],
        &[("SPIN_VARIABLE_DB_URL", "mysql://u@127.0.0.1/db")],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("Specified component \"nobody\" not found in application"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_commands_and_options_print_the_usage() {
    for args in [&["serve"][..], &["up", "--bogus"], &[]] {
        let output = omni_host(args, &[]);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains("usage: omni-host up"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_missing_manifest_is_reported() {
    let output = omni_host(&["up", "--from", "/nonexistent/spin.toml"], &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot read manifest /nonexistent/spin.toml"),
        "{}",
        stderr(&output)
    );
}

/// Runs `up` on the fixture with its required variables, plus `args`.
fn up_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let fixture = fixture();
    let mut all = vec![
        "up",
        "--from",
        &fixture,
        "--listen",
        "127.0.0.1:0",
        "--variable",
        "token=t",
        "--variable",
        "db_url=mysql://u@127.0.0.1/db",
    ];
    all.extend_from_slice(args);
    omni_host(&all, env)
}

#[test]
fn a_missing_runtime_config_file_is_refused() {
    let output = up_with(
        &["--runtime-config-file", "/nonexistent/runtime-config.toml"],
        &[],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .contains("failed to read runtime config file '/nonexistent/runtime-config.toml'"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_runtime_config_file_can_come_from_the_environment_as_in_spin() {
    let output = up_with(
        &[],
        &[("RUNTIME_CONFIG_FILE", "/nonexistent/from-env.toml")],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("failed to read runtime config file '/nonexistent/from-env.toml'"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unsupported_runtime_config_key_is_refused() {
    let dir = std::env::temp_dir().join(format!("omni-host-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("runtime-config.toml");
    std::fs::write(&file, "[[config_provider]]\ntype = \"vault\"\n").unwrap();
    let output = up_with(
        &[
            "--runtime-config-file",
            file.to_str().unwrap(),
            "--state-dir",
            "",
        ],
        &[],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .contains("runtime config key(s) not supported by this host: config_provider"),
        "{}",
        stderr(&output)
    );
}
