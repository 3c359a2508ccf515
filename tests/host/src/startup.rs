//! Starting an app as `spin up` does: load the manifest, resolve variables,
//! select the triggers, read the runtime config, check the stores, compile
//! and pre-instantiate each component, then listen.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use wasmtime_wasi_http::bindings::ProxyPre;

use crate::clock::ClockOffset;
use crate::instance::{AppContext, ComponentRuntime, compile, engine, linker};
use crate::key_value::Stores;
use crate::logs::Logs;
use crate::manifest::{ComponentDecl, HttpTrigger, Manifest};
use crate::outbound::AllowedHosts;
use crate::outbound_http::OutboundHttp;
use crate::routes::Router;
use crate::runtime_config::{RuntimeConfig, StateDir};
use crate::server::{RunningApp, Server, serve};
use crate::sqlite::Databases;
use crate::stats::{Counters, Stats};
use crate::variables::{ComponentVariables, Providers, Resolved};

/// How to run an app.
#[derive(Debug)]
pub struct HostOptions {
    /// The `spin.toml` to load.
    pub manifest: PathBuf,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Run only these components, like `spin up --component-id`; empty
    /// means all.
    pub component_ids: Vec<String>,
    /// Where variable values come from.
    pub providers: Providers,
    /// Where component output and host messages go.
    pub logs: Logs,
    /// Spin's runtime configuration file (`--runtime-config-file`), for
    /// key-value stores and SQLite databases.
    pub runtime_config_file: Option<PathBuf>,
    /// Spin's state directory (`--state-dir`), where the default key-value
    /// store and SQLite database live; by default `.spin` next to the
    /// manifest.
    pub state_dir: StateDir,
    /// A shift of the guests' wall clock (a test's knob; Spin has none).
    pub clock_offset: ClockOffset,
    /// Count the wasm instructions each component executes (fuel), for
    /// tests that compare the work of requests; it slows execution, so it
    /// is off unless asked for.
    pub count_fuel: bool,
}

/// Loads the app, compiles and pre-instantiates its components, and starts
/// serving.
pub async fn start(options: HostOptions) -> anyhow::Result<RunningApp> {
    let manifest = Manifest::load(&options.manifest)?;
    let resolved = Resolved::resolve(&manifest.variables, &options.providers)?;
    resolved.check_templates(&manifest)?;
    for (id, component) in &manifest.components {
        AllowedHosts::validate(
            &component.allowed_outbound_hosts,
            &manifest.variables,
            &resolved,
        )
        .with_context(|| format!("Failed to load component `{id}`"))?;
    }
    let triggers = select_triggers(&manifest, &options.component_ids)?;
    let (router, duplicates) = Router::build(
        triggers
            .iter()
            .map(|t| (t.route.as_str(), t.component.as_str())),
    )?;
    if !duplicates.is_empty() {
        options.logs.line(
            "host",
            "The following component routes are duplicates and will never be used:",
        );
        for d in &duplicates {
            options.logs.line(
                "host",
                &format!(
                    "  {}: {} (duplicate of {})",
                    d.replaced, d.route, d.effective
                ),
            );
        }
    }

    let running: Vec<&str> = {
        let mut ids: Vec<&str> = triggers.iter().map(|t| t.component.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let manifest_dir = options.manifest.parent().unwrap_or(Path::new(""));
    let config = RuntimeConfig::load(
        options.runtime_config_file.as_deref(),
        manifest_dir,
        &options.state_dir,
    )?;
    let stores = Arc::new(Stores::new(config.key_value));
    let databases = Arc::new(Databases::new(config.sqlite));
    check_store_labels(&manifest, &running, &stores, &databases)?;
    let uses_default = |labels: fn(&ComponentDecl) -> &Vec<String>| {
        running.iter().any(|id| {
            labels(&manifest.components[*id])
                .iter()
                .any(|l| l == "default")
        })
    };
    if uses_default(|c| &c.key_value_stores) {
        let summary = stores.summary("default");
        options.logs.line(
            "host",
            &format!("Storing default key-value data to {summary}."),
        );
    }
    if uses_default(|c| &c.sqlite_databases) {
        databases.prepare_default()?;
        let summary = databases.summary("default");
        options.logs.line(
            "host",
            &format!("Storing default SQLite data to {summary}."),
        );
    }

    let engine = engine(options.count_fuel);
    let linker = linker(engine)?;
    let mut components = HashMap::new();
    let mut stats = Stats::default();
    for trigger in &triggers {
        if components.contains_key(&trigger.component) {
            continue;
        }
        let id = trigger.component.clone();
        let decl = &manifest.components[&id];
        let started = Instant::now();
        let component = compile(engine, options.count_fuel, &decl.source)
            .await
            .with_context(|| format!("cannot load component {id:?}"))?;
        let compiled = Instant::now();
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id:?} is not a wasi:http/incoming-handler"))?;
        let counters = Counters {
            compile: compiled - started,
            pre_instantiate: compiled.elapsed(),
            ..Counters::default()
        };
        let runtime = ComponentRuntime {
            id: id.clone(),
            pre,
            variables: ComponentVariables::new(&id, &decl.variables, &resolved)?,
            allowed_hosts: AllowedHosts::resolve(&decl.allowed_outbound_hosts, &resolved),
            environment: decl.environment.clone().into_iter().collect(),
            key_value_stores: Arc::new(decl.key_value_stores.iter().cloned().collect()),
            sqlite_databases: Arc::new(decl.sqlite_databases.iter().cloned().collect()),
        };
        stats.insert(id.clone(), counters);
        components.insert(id, Arc::new(runtime));
    }

    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr()?;
    options.logs.line("host", &format!("Serving http://{addr}"));
    for (route, component) in router.routes() {
        options
            .logs
            .line("host", &format!("  {component}: {route}"));
    }
    let blocked_networks = Arc::new(config.blocked_networks);
    let app = AppContext {
        engine: engine.clone(),
        logs: options.logs,
        stats: Arc::new(stats),
        stores,
        databases,
        clock_offset: options.clock_offset,
        count_fuel: options.count_fuel,
        blocked_networks: blocked_networks.clone(),
        outbound_http: Arc::new(OutboundHttp::new(
            config.outbound_http,
            blocked_networks,
            addr,
        )?),
    };
    serve(
        listener,
        Server {
            router,
            components,
            app: Arc::new(app),
        },
    )
}

/// Refuses labels with no store or database, as Spin does at startup: the
/// key-value factor first, with its message, then SQLite, with its.
fn check_store_labels(
    manifest: &Manifest,
    running: &[&str],
    stores: &Stores,
    databases: &Databases,
) -> anyhow::Result<()> {
    for id in running {
        for label in &manifest.components[*id].key_value_stores {
            if !stores.is_defined(label) {
                bail!("unknown key_value_stores label {label:?} for component {id:?}");
            }
        }
    }
    let missing: Vec<String> = running
        .iter()
        .flat_map(|id| {
            manifest.components[*id]
                .sqlite_databases
                .iter()
                .filter(|label| !databases.is_defined(label))
                .map(move |label| format!("- Component {id} uses database '{label}'"))
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "One or more components use SQLite databases which are not defined.\n\
             Check the spelling, or pass a runtime configuration file that defines these stores.\n\
             See https://spinframework.dev/dynamic-configuration#sqlite-storage-runtime-configuration\n\
             Details:\n{}",
            missing.join("\n")
        );
    }
    Ok(())
}

/// The triggers to serve: all, or those of the chosen components, with
/// `spin up --component-id`'s errors.
fn select_triggers(manifest: &Manifest, ids: &[String]) -> anyhow::Result<Vec<HttpTrigger>> {
    for id in ids {
        if !manifest.components.contains_key(id) {
            bail!("Specified component {id:?} not found in application");
        }
    }
    let triggers: Vec<HttpTrigger> = manifest
        .triggers
        .iter()
        .filter(|t| ids.is_empty() || ids.contains(&t.component))
        .cloned()
        .collect();
    if triggers.is_empty() {
        bail!("No triggers in app");
    }
    Ok(triggers)
}
