//! Serving HTTP like `spin up`: route by path, add Spin's request headers,
//! and run a fresh instance of the matched component for every request.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use http::uri::Authority;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wasmtime::component::{
    Component, HasSelf, Linker, Resource, ResourceTable, ResourceTableError,
};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::bindings::ProxyPre;
use wasmtime_wasi_http::bindings::http::types::Scheme;
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::bindings::SpinHost;
use crate::bindings::fermyon::spin::variables;
use crate::clock::ClockOffset;
use crate::key_value::{KeyValueInstance, Stores};
use crate::logs::Logs;
use crate::manifest::{ComponentDecl, HttpTrigger, Manifest};
use crate::mysql::MysqlConnection;
use crate::outbound::AllowedHosts;
use crate::routes::{RouteMatch, Router};
use crate::runtime_config::{RuntimeConfig, StateDir};
use crate::sqlite::{Databases, SqliteInstance};
use crate::variables::{ComponentVariables, GetError, Providers, Resolved};

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

/// A running app. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningApp {
    addr: SocketAddr,
    logs: Logs,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl RunningApp {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The app's log.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// What each component has done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Serves until the process is stopped.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("the server stopped")
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counters per component, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    components: HashMap<String, Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    compile: Duration,
    pre_instantiate: Duration,
    requests: AtomicU64,
    statements: AtomicU64,
    instantiations: AtomicU64,
    instantiate_nanos: AtomicU64,
    peak_memory_max: AtomicU64,
    peak_memory_total: AtomicU64,
    fuel: AtomicU64,
}

/// One component's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComponentStats {
    /// Compiling the `.wasm` (zero if this process had compiled it before).
    pub compile: Duration,
    /// Pre-instantiating it: linking its imports.
    pub pre_instantiate: Duration,
    /// Requests routed to it.
    pub requests: u64,
    /// Database statements it ran: MySQL `query` and `execute`, SQLite
    /// `execute`.
    pub statements: u64,
    /// Instances created, and the time that took in all.
    pub instantiations: u64,
    /// Time spent creating instances, in all.
    pub instantiate_total: Duration,
    /// The most linear memory one request's instance reached, in bytes.
    pub peak_memory_max: u64,
    /// The peak linear memory of every finished request, summed.
    pub peak_memory_total: u64,
    /// Fuel (about one unit per wasm instruction) consumed by finished
    /// requests, in all; 0 unless the app counts fuel.
    pub fuel: u64,
}

impl Stats {
    /// The counters of component `id` (zero if it does not run).
    pub fn component(&self, id: &str) -> ComponentStats {
        self.components
            .get(id)
            .map_or_else(ComponentStats::default, |c| ComponentStats {
                compile: c.compile,
                pre_instantiate: c.pre_instantiate,
                requests: c.requests.load(Ordering::Relaxed),
                statements: c.statements.load(Ordering::Relaxed),
                instantiations: c.instantiations.load(Ordering::Relaxed),
                instantiate_total: Duration::from_nanos(
                    c.instantiate_nanos.load(Ordering::Relaxed),
                ),
                peak_memory_max: c.peak_memory_max.load(Ordering::Relaxed),
                peak_memory_total: c.peak_memory_total.load(Ordering::Relaxed),
                fuel: c.fuel.load(Ordering::Relaxed),
            })
    }

    fn counters(&self, id: &str) -> Option<&Counters> {
        self.components.get(id)
    }
}

/// Loads the app, compiles and pre-instantiates its components, and starts
/// serving.
pub async fn start(options: HostOptions) -> anyhow::Result<RunningApp> {
    let manifest = Manifest::load(&options.manifest)?;
    let resolved = Resolved::resolve(&manifest.variables, &options.providers)?;
    resolved.check_templates(&manifest)?;
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
        let allowed = decl
            .allowed_outbound_hosts
            .iter()
            .map(|entry| resolved.expand(entry))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let runtime = ComponentRuntime {
            id: id.clone(),
            pre,
            variables: ComponentVariables::new(&id, &decl.variables, &resolved)?,
            allowed_hosts: AllowedHosts::parse(&allowed)
                .with_context(|| format!("component {id:?}"))?,
            environment: decl.environment.clone().into_iter().collect(),
            key_value_stores: Arc::new(decl.key_value_stores.iter().cloned().collect()),
            sqlite_databases: Arc::new(decl.sqlite_databases.iter().cloned().collect()),
        };
        stats.components.insert(id.clone(), counters);
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
    let stats = Arc::new(stats);
    let server = Arc::new(Server {
        engine: engine.clone(),
        router,
        components,
        logs: options.logs.clone(),
        stats: stats.clone(),
        stores,
        databases,
        clock_offset: options.clock_offset.clone(),
        count_fuel: options.count_fuel,
    });
    let task = tokio::spawn(accept_loop(listener, server));
    Ok(RunningApp {
        addr,
        logs: options.logs,
        stats,
        task,
    })
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

/// The process-wide engines, one without fuel and one that counts it:
/// compiled components are tied to their engine.
fn engine(count_fuel: bool) -> &'static Engine {
    fn make(count_fuel: bool) -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(count_fuel);
        Engine::new(&config).unwrap_or_else(|e| panic!("cannot create the wasmtime engine: {e:?}"))
    }
    static PLAIN: LazyLock<Engine> = LazyLock::new(|| make(false));
    static FUELED: LazyLock<Engine> = LazyLock::new(|| make(true));
    if count_fuel { &FUELED } else { &PLAIN }
}

/// Compiles `path`, or reuses this process's earlier compilation of the
/// same unchanged file: tests start many apps from the same components.
async fn compile(engine: &Engine, fueled: bool, path: &Path) -> anyhow::Result<Component> {
    type Key = (PathBuf, SystemTime, u64, bool);
    static CACHE: LazyLock<Mutex<HashMap<Key, Component>>> = LazyLock::new(Default::default);
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = (path.to_owned(), meta.modified()?, meta.len(), fueled);
    if let Some(found) = CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(found.clone());
    }
    let (engine, owned) = (engine.clone(), path.to_owned());
    let component =
        tokio::task::spawn_blocking(move || Component::from_file(&engine, owned)).await??;
    CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, component.clone());
    Ok(component)
}

fn linker(engine: &Engine) -> anyhow::Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::add_only_http_to_linker_async(&mut linker)?;
    SpinHost::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

struct Server {
    engine: Engine,
    router: Router,
    components: HashMap<String, Arc<ComponentRuntime>>,
    logs: Logs,
    stats: Arc<Stats>,
    stores: Arc<Stores>,
    databases: Arc<Databases>,
    clock_offset: ClockOffset,
    count_fuel: bool,
}

/// A component ready to instantiate, with its configuration.
pub(crate) struct ComponentRuntime {
    id: String,
    pre: ProxyPre<RequestState>,
    variables: ComponentVariables,
    allowed_hosts: AllowedHosts,
    environment: Vec<(String, String)>,
    key_value_stores: Arc<HashSet<String>>,
    sqlite_databases: Arc<HashSet<String>>,
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                server.logs.line("host", &format!("accept failed: {e}"));
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { server.handle(request, client).await }
            });
            // A connection error (the client went away) ends only that
            // connection.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn empty_response(status: u16) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    Ok(hyper::Response::builder().status(status).body(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    )?)
}

impl Server {
    async fn handle(
        self: Arc<Self>,
        mut request: hyper::Request<Incoming>,
        client: SocketAddr,
    ) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
        let Some(route) = self.router.route(request.uri().path()) else {
            return empty_response(404);
        };
        // Failing Spin's checks of the authority, a request gets no
        // response at all.
        let host = set_request_uri(&mut request)?;
        // Spin copies the client's headers, failing the request if a value
        // is not UTF-8, and then appends its own after them, so a client's
        // own `spin-*` header stays first.
        if let Some((name, _)) = request
            .headers()
            .iter()
            .find(|(_, value)| std::str::from_utf8(value.as_bytes()).is_err())
        {
            let error = anyhow!("the value of request header {name:?} is not UTF-8");
            self.logs
                .line("host", &format!("Error processing request: {error:?}"));
            return empty_response(500);
        }
        for (name, value) in spin_headers(&request, &host, &route, client) {
            request
                .headers_mut()
                .append(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
        }

        let component = self
            .components
            .get(&route.component)
            .with_context(|| format!("unknown component ID {:?}", route.component))?
            .clone();
        if let Some(counters) = self.stats.counters(&component.id) {
            counters.requests.fetch_add(1, Ordering::Relaxed);
        }
        let mut wasi = WasiCtx::builder();
        wasi.stdout(self.logs.stream(&component.id))
            .stderr(self.logs.stream(&component.id))
            .envs(&component.environment)
            .wall_clock(self.clock_offset.clock());
        let state = RequestState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            sqlite: SqliteInstance::new(self.databases.clone(), component.sqlite_databases.clone()),
            key_value: KeyValueInstance::new(
                self.stores.clone(),
                component.key_value_stores.clone(),
            ),
            component: component.clone(),
            logs: self.logs.clone(),
            stats: self.stats.clone(),
            open_connections: 0,
            memory: MemoryTracker::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        let fuel_given = self.count_fuel.then_some(u64::MAX);
        if let Some(fuel) = fuel_given {
            store.set_fuel(fuel)?;
        }
        let (sender, receiver) = oneshot::channel();
        let incoming = store
            .data_mut()
            .new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().new_response_outparam(sender)?;
        let pre = component.pre.clone();
        let stats = self.stats.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(anyhow::Error::from)
                .context("guest instantiation failed")?;
            if let Some(counters) = stats.counters(&component.id) {
                let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                counters.instantiations.fetch_add(1, Ordering::Relaxed);
                counters
                    .instantiate_nanos
                    .fetch_add(nanos, Ordering::Relaxed);
            }
            let result = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
                .map_err(anyhow::Error::from)
                .context("guest invocation failed");
            // Recorded when the guest returns, which can be just after the
            // client has the response.
            if let Some(counters) = stats.counters(&component.id) {
                let peak = store.data().memory.total;
                counters.peak_memory_max.fetch_max(peak, Ordering::Relaxed);
                counters
                    .peak_memory_total
                    .fetch_add(peak, Ordering::Relaxed);
                if let (Some(given), Ok(left)) = (fuel_given, store.get_fuel()) {
                    counters.fuel.fetch_add(given - left, Ordering::Relaxed);
                }
            }
            result
        });

        let logs = self.logs.clone();
        match receiver.await {
            Ok(Ok(response)) => {
                // The guest may still be streaming the body; report a late failure.
                tokio::spawn(async move {
                    if let Ok(Err(e)) = task.await {
                        logs.line(
                            "host",
                            &format!("Component error after response started: {e:?}"),
                        );
                    }
                });
                Ok(response)
            }
            Ok(Err(code)) => {
                let error: anyhow::Error =
                    anyhow!("{code:?}").context("guest failed to produce a response");
                logs.line("host", &format!("Error processing request: {error:?}"));
                empty_response(500)
            }
            Err(_) => {
                let error = match task.await {
                    Ok(Ok(())) => anyhow!("guest failed to produce a response prior to returning"),
                    Ok(Err(e)) => e,
                    Err(e) => anyhow::Error::new(e).context("guest invocation panicked"),
                };
                logs.line("host", &format!("Error processing request: {error:?}"));
                empty_response(500)
            }
        }
    }
}

/// Spin's `strip_forbidden_headers` and `set_req_uri`
/// (crates/trigger-http/src/{headers,server}.rs at v3.6.3): drops a `Host`
/// header naming a service-chaining host (`<component>.spin.internal`), then
/// takes the authority from the `Host` header or the request URI (which
/// must agree if both are there) and makes the URI absolute with it. Returns
/// the `Host` header's value, or `localhost` without one, which is the host
/// Spin writes into `spin-full-url`.
fn set_request_uri(request: &mut hyper::Request<Incoming>) -> anyhow::Result<String> {
    let chained = request
        .headers()
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(is_service_chaining_host);
    if chained {
        request.headers_mut().remove(http::header::HOST);
    }
    let header = request
        .headers()
        .get(http::header::HOST)
        .map(|value| -> anyhow::Result<(String, Authority)> {
            let text = value.to_str().context("'Host' header is not valid UTF-8")?;
            let authority = text
                .parse()
                .context("'Host' header contains an invalid authority")?;
            Ok((text.to_owned(), authority))
        })
        .transpose()?;
    let mut parts = request.uri().clone().into_parts();
    let authority = match (&header, parts.authority.take()) {
        (None, None) => bail!("no 'Host' header present in request"),
        (None, Some(from_uri)) => from_uri,
        (Some((_, from_header)), None) => from_header.clone(),
        (Some((_, from_header)), Some(from_uri)) => {
            if *from_header != from_uri {
                bail!("authority in 'Host' header does not match authority in URI");
            }
            from_uri
        }
    };
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *request.uri_mut() = http::Uri::from_parts(parts)?;
    Ok(header.map_or_else(|| "localhost".to_owned(), |(text, _)| text))
}

/// Spin's `is_service_chaining_host`: `<name>.spin.internal`, with or
/// without a port.
fn is_service_chaining_host(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name.split_once('.')
        .is_some_and(|(_, domain)| domain == "spin.internal")
}

/// Spin's own request headers, in Spin's order
/// (crates/trigger-http/src/headers.rs, `compute_default_headers`).
fn spin_headers(
    request: &hyper::Request<Incoming>,
    host: &str,
    route: &RouteMatch,
    client: SocketAddr,
) -> Vec<(String, String)> {
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut headers = vec![
        ("spin-path-info".to_owned(), route.path_info.clone()),
        (
            "spin-full-url".to_owned(),
            format!("http://{host}{path_and_query}"),
        ),
        ("spin-matched-route".to_owned(), route.based_route.clone()),
        ("spin-base-path".to_owned(), "/".to_owned()),
        (
            "spin-raw-component-route".to_owned(),
            route.raw_route.clone(),
        ),
        (
            "spin-component-route".to_owned(),
            route.component_route.clone(),
        ),
        ("spin-client-addr".to_owned(), client.to_string()),
    ];
    for (name, value) in &route.params {
        headers.push((
            format!(
                "spin-path-match-{}",
                name.replace('_', "-").to_ascii_lowercase()
            ),
            value.clone(),
        ));
    }
    headers
}

/// The data of one request's store: WASI, wasi-http, and Spin's
/// interfaces for one component instance.
pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) sqlite: SqliteInstance,
    pub(crate) key_value: KeyValueInstance,
    component: Arc<ComponentRuntime>,
    logs: Logs,
    stats: Arc<Stats>,
    open_connections: usize,
    memory: MemoryTracker,
}

/// Records how much linear memory an instance reaches. It refuses nothing:
/// Spin sets no memory limit unless told to.
#[derive(Debug, Default)]
struct MemoryTracker {
    /// Bytes of linear memory across the instance's memories.
    total: u64,
}

impl wasmtime::ResourceLimiter for MemoryTracker {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.total += u64::try_from(desired.saturating_sub(current)).unwrap_or(u64::MAX);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

impl RequestState {
    pub(crate) fn allowed_hosts(&self) -> &AllowedHosts {
        &self.component.allowed_hosts
    }

    pub(crate) fn log_host(&self, message: &str) {
        self.logs.line("host", message);
    }

    pub(crate) fn open_connections(&self) -> usize {
        self.open_connections
    }

    pub(crate) fn push_connection(
        &mut self,
        connection: MysqlConnection,
    ) -> Result<Resource<MysqlConnection>, ResourceTableError> {
        let handle = self.table.push(connection)?;
        self.open_connections += 1;
        Ok(handle)
    }

    pub(crate) fn connection(
        &mut self,
        handle: &Resource<MysqlConnection>,
    ) -> Result<&mut MysqlConnection, ResourceTableError> {
        self.table.get_mut(handle)
    }

    pub(crate) fn remove_connection(
        &mut self,
        handle: Resource<MysqlConnection>,
    ) -> Result<MysqlConnection, ResourceTableError> {
        let connection = self.table.delete(handle)?;
        self.open_connections -= 1;
        Ok(connection)
    }

    pub(crate) fn count_statement(&self) {
        if let Some(counters) = self.stats.counters(&self.component.id) {
            counters.statements.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn ctx(&mut self) -> &mut WasiHttpCtx {
        &mut self.http
    }

    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl variables::Host for RequestState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.component.variables.get(&name).map_err(|e| match e {
            GetError::InvalidName(m) => variables::Error::InvalidName(m),
            GetError::Undefined(m) => variables::Error::Undefined(m),
        })
    }
}
