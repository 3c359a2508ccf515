//! Omni's benchmark and soak test, against the real components in the test
//! host, a throwaway MariaDB and a throwaway Redis.
//!
//! - `cargo run --profile bench -p omni-bench [-- --quick]`: the benchmark
//!   ([`bench`]): what a request costs, cold, hot and through the cache,
//!   the host's calibration, MariaDB's thread pool, contended writes.
//!   `--quick` seeds and sends a tenth, to try the benchmark itself.
//! - `cargo run --profile bench -p omni-bench -- discovery [--quick]`:
//!   what search on 100,000 posts and a write-up (on a cache miss and a
//!   hit) cost ([`discovery`]).
//! - `cargo run -p omni-bench -- soak [--requests N]`: the soak test with
//!   faults ([`soak`]); 5,000 requests by default. Exits non-zero if a
//!   check fails.
//!
//! Every figure printed also goes to `target/bench/*.json`.

mod api;
mod bench;
mod contention;
mod discovery;
mod integrity;
mod load;
mod procfs;
mod reads;
mod seed;
mod soak;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;

const USAGE: &str =
    "usage: omni-bench [--quick] | omni-bench discovery [--quick] | omni-bench soak [--requests N]";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Writes `value` as pretty JSON to `dir/name`, and returns the path.
fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Bench { quick: bool },
    Discovery { quick: bool },
    Soak { requests: usize },
}

fn parse(args: &[String]) -> anyhow::Result<Command> {
    match args {
        [] => Ok(Command::Bench { quick: false }),
        [flag] if flag == "--quick" => Ok(Command::Bench { quick: true }),
        [discovery] if discovery == "discovery" => Ok(Command::Discovery { quick: false }),
        [discovery, flag] if discovery == "discovery" && flag == "--quick" => {
            Ok(Command::Discovery { quick: true })
        }
        [soak] if soak == "soak" => Ok(Command::Soak {
            requests: soak::DEFAULT_REQUESTS,
        }),
        [soak, flag, n] if soak == "soak" && flag == "--requests" => {
            let requests: usize = n.parse().context("--requests takes a number")?;
            if requests < 1000 {
                bail!("--requests must be at least 1000, so the faults fall inside the run");
            }
            Ok(Command::Soak { requests })
        }
        _ => bail!("{USAGE}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args)? {
        Command::Bench { quick } => {
            bench::run(quick).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Discovery { quick } => {
            discovery::run(quick).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Soak { requests } => Ok(if soak::run(requests).await? {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_command_line_picks_the_benchmark_or_the_soak() {
        assert_eq!(parse(&args("")).unwrap(), Command::Bench { quick: false });
        assert_eq!(
            parse(&args("discovery --quick")).unwrap(),
            Command::Discovery { quick: true }
        );
        assert_eq!(
            parse(&args("--quick")).unwrap(),
            Command::Bench { quick: true }
        );
        assert_eq!(
            parse(&args("soak")).unwrap(),
            Command::Soak {
                requests: soak::DEFAULT_REQUESTS
            }
        );
        assert_eq!(
            parse(&args("soak --requests 100000")).unwrap(),
            Command::Soak { requests: 100_000 }
        );
    }

    #[test]
    fn a_bad_command_line_is_refused() {
        for bad in [
            "--slow",
            "soak --requests",
            "soak --requests ten",
            "soak --requests 10",
            "discovery --slow",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
