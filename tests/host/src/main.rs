//! `omni-host up --from spin.toml --listen 127.0.0.1:3000 [--component-id X]... [--variable k=v]...
//! [--runtime-config-file FILE] [--state-dir DIR]`
//!
//! Runs an app without Spin, for where Spin cannot be installed. Variables
//! come from `--variable` and `SPIN_VARIABLE_<NAME>`, as with `spin up`.
//! The runtime config file comes from `--runtime-config-file` or, as with
//! Spin, `RUNTIME_CONFIG_FILE`; `--state-dir ""` keeps the default stores
//! in memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use omni_test_host::{ClockOffset, HostOptions, Logs, Providers, StateDir, start};

const USAGE: &str = "usage: omni-host up [--from spin.toml] [--listen 127.0.0.1:3000] \
                     [--component-id ID]... [--variable NAME=VALUE]... \
                     [--runtime-config-file FILE] [--state-dir DIR]";

fn parse(args: &[String]) -> anyhow::Result<HostOptions> {
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    if command != "up" {
        bail!("unknown command {command:?}\n{USAGE}");
    }
    let mut options = HostOptions {
        manifest: PathBuf::from("spin.toml"),
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        component_ids: Vec::new(),
        providers: Providers {
            explicit: HashMap::new(),
            environment: true,
        },
        logs: Logs::stderr(),
        runtime_config_file: std::env::var_os("RUNTIME_CONFIG_FILE").map(PathBuf::from),
        state_dir: StateDir::Default,
        clock_offset: ClockOffset::default(),
        count_fuel: false,
    };
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--from" | "-f" => options.manifest = PathBuf::from(value()?),
            "--listen" => options.listen = value()?.parse().context("--listen takes host:port")?,
            "--component-id" | "-c" => options.component_ids.push(value()?.clone()),
            "--runtime-config-file" => {
                options.runtime_config_file = Some(PathBuf::from(value()?));
            }
            "--state-dir" => options.state_dir = StateDir::from_flag(value()?),
            "--variable" => {
                let (name, val) = value()?
                    .split_once('=')
                    .context("--variable takes NAME=VALUE")?;
                options
                    .providers
                    .explicit
                    .insert(name.to_owned(), val.to_owned());
            }
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = async {
        let options = parse(&args)?;
        start(options).await?.wait().await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}
