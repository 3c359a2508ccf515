//! Omni's benchmark and soak test, against the real components in the test
//! host, a throwaway MariaDB and a throwaway Redis.
//!
//! - `cargo run --profile bench -p omni-bench [-- --quick]`: the benchmark
//!   ([`bench`]): what a request costs, cold, hot and through the cache,
//!   the host's calibration, MariaDB's thread pool, contended writes.
//!   `--quick` seeds and sends a tenth, to try the benchmark itself.
//! - `cargo run --profile bench -p omni-bench -- galera [--quick]`: the
//!   data tier ([`galera`]): a Galera cluster against one server (writes,
//!   reads, the cost of read-your-writes), the failover window, and backup
//!   and restore times of the data set.
//! - `cargo run -p omni-bench -- soak [--requests N] [--galera]`: the soak
//!   test with faults ([`soak`]), on one MariaDB or a Galera cluster; 5,000
//!   requests by default. Exits non-zero if a check fails.
//! - `cargo run --profile bench -p omni-bench -- cache-hit`: only the
//!   calibration and a cache hit before and after Omni's own Redis client
//!   ([`hits`]), on a small data set.
//! - `cargo run --profile bench -p omni-bench -- sessions [--quick]`: what
//!   checking a token's session costs each authenticated request
//!   ([`sessions`]).
//! - `cargo run --profile bench -p omni-bench -- discovery [--quick]`:
//!   what search on 100,000 posts and a write-up (on a cache miss and a
//!   hit) cost ([`discovery`]).
//!
//! Every figure printed also goes to `target/bench/*.json`.

mod api;
mod bench;
mod contention;
mod discovery;
mod galera;
mod hits;
mod load;
mod procfs;
mod reads;
mod seed;
mod sessions;
mod soak;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;

const USAGE: &str = "usage: omni-bench [--quick] | omni-bench galera [--quick] | omni-bench cache-hit | omni-bench sessions [--quick] | omni-bench discovery [--quick] | omni-bench soak [--requests N] [--galera]";

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
    CacheHit,
    Galera { quick: bool },
    Sessions { quick: bool },
    Discovery { quick: bool },
    Soak { requests: usize, galera: bool },
}

fn parse(args: &[String]) -> anyhow::Result<Command> {
    match args {
        [] => Ok(Command::Bench { quick: false }),
        [flag] if flag == "--quick" => Ok(Command::Bench { quick: true }),
        [hit] if hit == "cache-hit" => Ok(Command::CacheHit),
        [galera] if galera == "galera" => Ok(Command::Galera { quick: false }),
        [galera, flag] if galera == "galera" && flag == "--quick" => {
            Ok(Command::Galera { quick: true })
        }
        [sessions] if sessions == "sessions" => Ok(Command::Sessions { quick: false }),
        [sessions, flag] if sessions == "sessions" && flag == "--quick" => {
            Ok(Command::Sessions { quick: true })
        }
        [discovery] if discovery == "discovery" => Ok(Command::Discovery { quick: false }),
        [discovery, flag] if discovery == "discovery" && flag == "--quick" => {
            Ok(Command::Discovery { quick: true })
        }
        [soak, flags @ ..] if soak == "soak" => {
            let (mut requests, mut galera) = (soak::DEFAULT_REQUESTS, false);
            let mut flags = flags.iter();
            while let Some(flag) = flags.next() {
                match flag.as_str() {
                    "--galera" if !galera => galera = true,
                    "--requests" => {
                        let n = flags.next().context("--requests takes a number")?;
                        requests = n.parse().context("--requests takes a number")?;
                        if requests < 1000 {
                            bail!(
                                "--requests must be at least 1000, so the faults fall inside the run"
                            );
                        }
                    }
                    _ => bail!("{USAGE}"),
                }
            }
            Ok(Command::Soak { requests, galera })
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
        Command::CacheHit => {
            bench::run_cache_hit().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Galera { quick } => {
            galera::run(quick).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sessions { quick } => {
            sessions::run(quick).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Discovery { quick } => {
            discovery::run(quick).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Soak { requests, galera } => Ok(if soak::run(requests, galera).await? {
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
        assert_eq!(parse(&args("cache-hit")).unwrap(), Command::CacheHit);
        assert_eq!(
            parse(&args("sessions --quick")).unwrap(),
            Command::Sessions { quick: true }
        );
        assert_eq!(
            parse(&args("soak")).unwrap(),
            Command::Soak {
                requests: soak::DEFAULT_REQUESTS,
                galera: false
            }
        );
        assert_eq!(
            parse(&args("soak --requests 100000")).unwrap(),
            Command::Soak {
                requests: 100_000,
                galera: false
            }
        );
        assert_eq!(
            parse(&args("soak --galera --requests 2000")).unwrap(),
            Command::Soak {
                requests: 2_000,
                galera: true
            }
        );
        assert_eq!(
            parse(&args("galera --quick")).unwrap(),
            Command::Galera { quick: true }
        );
    }

    #[test]
    fn a_bad_command_line_is_refused() {
        for bad in [
            "--slow",
            "soak --requests",
            "soak --requests ten",
            "soak --requests 10",
            "soak --galera --galera",
            "soak --fast",
            "galera --slow",
            "discovery --slow",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
