//! One component instance per request, as Spin creates them: the engine
//! and compiled components, the store's data ([`RequestState`]) with WASI,
//! wasi-http and Spin's interfaces, and the guest's run.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wasmtime::component::{
    Component, HasSelf, Linker, Resource, ResourceTable, ResourceTableError,
};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::bindings::ProxyPre;
use wasmtime_wasi_http::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::{HttpResult, WasiHttpCtx, WasiHttpView};

use crate::bindings::SpinHost;
use crate::bindings::fermyon::spin::variables;
use crate::blocked_networks::BlockedNetworks;
use crate::clock::ClockOffset;
use crate::key_value::{KeyValueInstance, Stores};
use crate::logs::Logs;
use crate::outbound::{AllowedHosts, Verdict};
use crate::outbound_http::OutboundHttp;
use crate::sqlite::{Databases, SqliteInstance};
use crate::stats::Stats;
use crate::variables::{ComponentVariables, GetError};

/// The process-wide engines, one without fuel and one that counts it:
/// compiled components are tied to their engine.
pub(crate) fn engine(count_fuel: bool) -> &'static Engine {
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
pub(crate) async fn compile(
    engine: &Engine,
    fueled: bool,
    path: &Path,
) -> anyhow::Result<Component> {
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

/// WASI 0.2, wasi-http and the Spin interfaces in `wit/`.
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::add_only_http_to_linker_async(&mut linker)?;
    SpinHost::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// A component ready to instantiate, with its configuration.
pub(crate) struct ComponentRuntime {
    pub id: String,
    pub pre: ProxyPre<RequestState>,
    pub variables: ComponentVariables,
    pub allowed_hosts: AllowedHosts,
    pub environment: Vec<(String, String)>,
    pub key_value_stores: Arc<HashSet<String>>,
    pub sqlite_databases: Arc<HashSet<String>>,
}

/// What every instance of the app shares.
pub(crate) struct AppContext {
    pub engine: Engine,
    pub logs: Logs,
    pub stats: Arc<Stats>,
    pub stores: Arc<Stores>,
    pub databases: Arc<Databases>,
    pub clock_offset: ClockOffset,
    pub count_fuel: bool,
    pub blocked_networks: Arc<BlockedNetworks>,
    pub outbound_http: Arc<OutboundHttp>,
}

/// A guest handling one request: the response it sends (or the error
/// code it fails with), and the task running it, which ends when the guest
/// returns.
pub(crate) struct Invocation {
    pub response: oneshot::Receiver<Result<hyper::Response<HyperOutgoingBody>, ErrorCode>>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl AppContext {
    /// Creates a fresh instance of `component` and hands it `request`.
    pub fn invoke(
        &self,
        component: Arc<ComponentRuntime>,
        request: hyper::Request<Incoming>,
    ) -> anyhow::Result<Invocation> {
        if let Some(counters) = self.stats.counters(&component.id) {
            counters.requests.fetch_add(1, Ordering::Relaxed);
        }
        let mut store = Store::new(&self.engine, self.request_state(&component));
        store.limiter(|state| &mut state.memory);
        let fuel_given = self.count_fuel.then_some(u64::MAX);
        if let Some(fuel) = fuel_given {
            store.set_fuel(fuel)?;
        }
        let (sender, response) = oneshot::channel();
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
        Ok(Invocation { response, task })
    }

    fn request_state(&self, component: &Arc<ComponentRuntime>) -> RequestState {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(self.logs.stream(&component.id))
            .stderr(self.logs.stream(&component.id))
            .envs(&component.environment)
            .wall_clock(self.clock_offset.clock());
        RequestState {
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
            mysql_connections: OpenConnections::default(),
            redis_connections: OpenConnections::default(),
            blocked_networks: self.blocked_networks.clone(),
            outbound_http: self.outbound_http.clone(),
            memory: MemoryTracker::default(),
        }
    }
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
    pub(crate) mysql_connections: OpenConnections,
    pub(crate) redis_connections: OpenConnections,
    pub(crate) blocked_networks: Arc<BlockedNetworks>,
    pub(crate) outbound_http: Arc<OutboundHttp>,
    memory: MemoryTracker,
}

/// One interface's open connections in an instance. Spin keeps each
/// interface's connections in a table of its own, with a fixed capacity.
#[derive(Debug, Default)]
pub(crate) struct OpenConnections {
    open: usize,
}

impl OpenConnections {
    /// Adds `connection` to `table`, or gives it back if `capacity`
    /// connections are open already.
    pub fn push<T: Send + 'static>(
        &mut self,
        table: &mut ResourceTable,
        capacity: usize,
        connection: T,
    ) -> Result<Result<Resource<T>, T>, ResourceTableError> {
        if self.open >= capacity {
            return Ok(Err(connection));
        }
        let handle = table.push(connection)?;
        self.open += 1;
        Ok(Ok(handle))
    }

    /// Takes a connection out of `table`.
    pub fn remove<T: 'static>(
        &mut self,
        table: &mut ResourceTable,
        handle: Resource<T>,
    ) -> Result<T, ResourceTableError> {
        let connection = table.delete(handle)?;
        self.open -= 1;
        Ok(connection)
    }
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
    /// Spin's `allowed_outbound_hosts` check of `address` (see
    /// [`AllowedHosts::check_url`]), reporting a denied destination in the
    /// log as `spin up` does. `Err` holds the error of a list that did not
    /// resolve.
    pub(crate) fn check_outbound(
        &self,
        address: &str,
        default_scheme: &str,
    ) -> Result<bool, String> {
        let verdict = self
            .component
            .allowed_hosts
            .check_url(address, default_scheme)?;
        Ok(self.report(verdict))
    }

    /// The same check for a relative ("self") HTTP request.
    pub(crate) fn check_self_request(&self) -> Result<bool, String> {
        let verdict = self
            .component
            .allowed_hosts
            .check_relative(&["http", "https"])?;
        Ok(self.report(verdict))
    }

    fn report(&self, verdict: Verdict) -> bool {
        let destination = match verdict {
            Verdict::Allowed => return true,
            Verdict::Denied { destination: None } => return false,
            Verdict::Denied {
                destination: Some(destination),
            } => destination,
        };
        if destination.starts_with("http") && destination.ends_with("://self") {
            self.log_host(
                "A component tried to make an HTTP request to its own app but it does not have permission.",
            );
        } else {
            self.log_host(&format!(
                "A component tried to make an outbound network connection to disallowed destination '{destination}'."
            ));
        }
        self.log_host(&format!(
            "To allow this request, add 'allowed_outbound_hosts = [\"{destination}\"]' to the manifest component section."
        ));
        false
    }

    pub(crate) fn log_host(&self, message: &str) {
        self.logs.line("host", message);
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

    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        Ok(self.send_outbound(request, config))
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
