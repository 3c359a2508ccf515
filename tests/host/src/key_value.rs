//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` (store,
//! atomics, batch) on Spin's two local backends, with Spin 3.6.3's
//! semantics, read off crates/factor-key-value/src/{lib,host,util}.rs,
//! crates/key-value-spin/src/store.rs and crates/key-value-redis/src/store.rs
//! at v3.6.3:
//!
//! - `open(label)` is `access-denied` unless the component lists the label
//!   in `key_value_stores` (startup refuses a listed label with no store).
//!   Spin's store table holds `u32::MAX` stores, so `store-table-full`
//!   never happens. A `wasi:keyvalue` `store-table-full` would be
//!   `other("store table full")`.
//! - SQLite (`type = "spin"`, and `default`): one connection per label for
//!   the whole process, behind one lock, opened (creating the file and the
//!   `spin_key_value (store, key, value)` table) by the first `open`.
//!   Errors are `other(<the rusqlite error's Debug>)`. `increment` reads
//!   the value as 8 little-endian bytes (absent: 0) and writes the sum back
//!   the same way, in one transaction. A value of any other length panics
//!   in Spin while it holds the store's lock: that call traps, and so does
//!   every later call on the store until the process restarts. This host
//!   reproduces both without a panic.
//! - Redis (`type = "redis"`): one `ConnectionManager` per label for the
//!   whole process, made by the first `open`, which fails with
//!   `other(<the RedisError's Debug>)` if it cannot connect. Later `open`s
//!   send a PING and ignore its failure. Each call is one command: GET,
//!   SET, DEL, EXISTS, `KEYS *` (every key in the database, whatever the
//!   label), INCRBY, MSET, and for `get-many` the same `KEYS <keys…>` Spin
//!   sends. A CAS has a connection of its own: WATCH and GET, then
//!   MULTI/SET/EXEC and UNWATCH.
//!
//! Redis timing (redis 0.32.5 defaults, which Spin keeps): no connect or
//! response timeout, and 6 reconnection retries spaced 1 s, then 60 s ×5,
//! each plus up to 100 % jitter. So an `open` while Redis is unreachable
//! blocks 301–602 s plus the connect attempts before failing; a call on a
//! connection that has just died fails at once and starts a reconnection,
//! and the calls after it wait for that reconnection the same way.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use rusqlite::named_params;
use tokio::sync::OnceCell;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::key_value as spin;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi};
use crate::runtime_config::{KeyValueBackend, Location};
use crate::server::RequestState;

/// Spin's limit on a buffered result.
const MAX_RESULT_BYTES: usize = 128 << 20;

const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = $1 AND key = $2";
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT (store, key) DO UPDATE SET value = $3";

/// The app's stores, by label.
pub(crate) struct Stores {
    managers: BTreeMap<String, Manager>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("labels", &self.managers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The process-wide state behind one label.
enum Manager {
    Sqlite {
        location: Location,
        database: OnceLock<Arc<SqliteStore>>,
    },
    Redis {
        url: url::Url,
        connection: OnceCell<ConnectionManager>,
    },
}

/// The one SQLite connection of a `spin` store.
#[derive(Debug)]
struct SqliteStore {
    connection: Mutex<rusqlite::Connection>,
    /// Set where Spin's lock would be poisoned by a panic.
    poisoned: AtomicBool,
}

/// How a call failed: an error the guest receives, or a trap.
enum Failure {
    Other(String),
    Trap(wasmtime::Error),
}

type Outcome<T> = Result<T, Failure>;

/// Spin's `log_error`: the error's Debug text.
fn other(error: impl std::fmt::Debug) -> Failure {
    Failure::Other(format!("{error:?}"))
}

fn too_large() -> Failure {
    Failure::Other(format!(
        "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
    ))
}

impl Stores {
    pub fn new(backends: BTreeMap<String, KeyValueBackend>) -> Self {
        let managers = backends
            .into_iter()
            .map(|(label, backend)| {
                let manager = match backend {
                    KeyValueBackend::Sqlite(location) => Manager::Sqlite {
                        location,
                        database: OnceLock::new(),
                    },
                    KeyValueBackend::Redis(url) => Manager::Redis {
                        url,
                        connection: OnceCell::new(),
                    },
                };
                (label, manager)
            })
            .collect();
        Self { managers }
    }

    /// Whether `label` has a store.
    pub fn is_defined(&self, label: &str) -> bool {
        self.managers.contains_key(label)
    }

    /// How Spin describes the store at startup.
    pub fn summary(&self, label: &str) -> String {
        match self.managers.get(label) {
            Some(Manager::Sqlite {
                location: Location::InMemory,
                ..
            }) => "a temporary in-memory store".to_owned(),
            Some(Manager::Sqlite {
                location: Location::Path(path),
                ..
            }) => format!("\"{}\"", path.display()),
            Some(Manager::Redis { url, .. }) => match url.as_str().parse::<redis::ConnectionInfo>()
            {
                Ok(info) => format!("Redis at {}", info.addr),
                Err(_) => "Redis".to_owned(),
            },
            None => "nowhere".to_owned(),
        }
    }

    /// Spin's `StoreManager::get` followed by `Store::after_open`.
    async fn open(&self, label: &str) -> Option<Outcome<Store>> {
        Some(match self.managers.get(label)? {
            Manager::Sqlite { location, database } => {
                open_sqlite(location, database)
                    .await
                    .map(|database| Store::Sqlite {
                        label: label.to_owned(),
                        database,
                    })
            }
            Manager::Redis { url, connection } => {
                match connection
                    .get_or_try_init(|| connect(url))
                    .await
                    .map_err(other)
                {
                    Ok(connection) => {
                        let mut connection = connection.clone();
                        // If this fails the manager reconnects in the
                        // background; Spin ignores it.
                        let _ = connection.ping::<()>().await;
                        Ok(Store::Redis {
                            connection,
                            url: url.clone(),
                        })
                    }
                    Err(failure) => Err(failure),
                }
            }
        })
    }
}

async fn connect(url: &url::Url) -> redis::RedisResult<ConnectionManager> {
    redis::Client::open(url.clone())?
        .get_connection_manager()
        .await
}

async fn open_sqlite(
    location: &Location,
    database: &OnceLock<Arc<SqliteStore>>,
) -> Outcome<Arc<SqliteStore>> {
    if let Some(database) = database.get() {
        return Ok(database.clone());
    }
    let location = location.clone();
    let created = tokio::task::spawn_blocking(move || create_sqlite(&location))
        .await
        .map_err(|e| Failure::Trap(e.into()))??;
    Ok(database.get_or_init(|| Arc::new(created)).clone())
}

fn create_sqlite(location: &Location) -> Outcome<SqliteStore> {
    let connection = match location {
        Location::InMemory => rusqlite::Connection::open_in_memory(),
        Location::Path(path) => rusqlite::Connection::open(path),
    }
    .map_err(other)?;
    connection
        .execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )
        .map_err(other)?;
    // For `rarray`, which the batch calls use.
    rusqlite::vtab::array::load_module(&connection).map_err(other)?;
    Ok(SqliteStore {
        connection: Mutex::new(connection),
        poisoned: AtomicBool::new(false),
    })
}

impl SqliteStore {
    /// The connection, or the trap Spin's poisoned lock gives.
    fn lock(&self) -> Outcome<MutexGuard<'_, rusqlite::Connection>> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Failure::Trap(wasmtime::Error::msg(
                "the key-value store's lock is poisoned by an earlier increment of a value \
                 that is not 8 bytes, as Spin's is",
            )));
        }
        Ok(self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `work` on the connection in a blocking task.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Self, &mut rusqlite::Connection) -> Outcome<T> + Send + 'static,
    ) -> Outcome<T> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = this.lock()?;
            work(&this, &mut connection)
        })
        .await
        .map_err(|e| Failure::Trap(e.into()))?
    }
}

fn select(
    connection: &rusqlite::Connection,
    label: &str,
    key: &str,
) -> rusqlite::Result<Option<Vec<u8>>> {
    connection
        .prepare_cached(SELECT)?
        .query_map([label, key], |row| row.get::<_, Vec<u8>>(0))?
        .next()
        .transpose()
}

fn within_limit(value: Option<Vec<u8>>) -> Outcome<Option<Vec<u8>>> {
    if size_of::<Option<Vec<u8>>>() + value.as_ref().map_or(0, Vec::len) > MAX_RESULT_BYTES {
        Err(too_large())
    } else {
        Ok(value)
    }
}

/// A store the guest opened: a Spin `store` or a wasi `bucket`.
#[derive(Debug)]
pub struct KvStore {
    store: Arc<Store>,
}

/// An open store's backend.
enum Store {
    Sqlite {
        label: String,
        database: Arc<SqliteStore>,
    },
    Redis {
        connection: ConnectionManager,
        url: url::Url,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite { label, .. } => write!(f, "SQLite store {label:?}"),
            Self::Redis { url, .. } => write!(f, "Redis store at {}", url.host_str().unwrap_or("")),
        }
    }
}

impl Store {
    async fn get(&self, key: String) -> Outcome<Option<Vec<u8>>> {
        match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                let value = database
                    .run(move |_, c| select(c, &label, &key).map_err(other))
                    .await?;
                within_limit(value)
            }
            Self::Redis { connection, .. } => {
                let value: Option<Vec<u8>> = connection.clone().get(key).await.map_err(other)?;
                within_limit(value)
            }
        }
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Outcome<()> {
        match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                database
                    .run(move |_, c| {
                        c.prepare_cached(UPSERT)
                            .and_then(|mut s| s.execute(rusqlite::params![label, key, value]))
                            .map(drop)
                            .map_err(other)
                    })
                    .await
            }
            Self::Redis { connection, .. } => connection
                .clone()
                .set::<_, _, ()>(key, value)
                .await
                .map_err(other),
        }
    }

    async fn delete(&self, key: String) -> Outcome<()> {
        match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                database
                    .run(move |_, c| {
                        c.prepare_cached("DELETE FROM spin_key_value WHERE store = $1 AND key = $2")
                            .and_then(|mut s| s.execute([label, key]))
                            .map(drop)
                            .map_err(other)
                    })
                    .await
            }
            Self::Redis { connection, .. } => {
                connection.clone().del::<_, ()>(key).await.map_err(other)
            }
        }
    }

    async fn exists(&self, key: String) -> Outcome<bool> {
        match self {
            // Spin answers with a `get` that ignores the size limit.
            Self::Sqlite { label, database } => {
                let label = label.clone();
                let value = database
                    .run(move |_, c| select(c, &label, &key).map_err(other))
                    .await?;
                Ok(value.is_some())
            }
            Self::Redis { connection, .. } => connection.clone().exists(key).await.map_err(other),
        }
    }

    async fn get_keys(&self) -> Outcome<Vec<String>> {
        let keys: Vec<String> = match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                database
                    .run(move |_, c| {
                        let mut statement = c
                            .prepare_cached("SELECT key FROM spin_key_value WHERE store = $1")
                            .map_err(other)?;
                        let rows = statement
                            .query_map([label], |row| row.get::<_, String>(0))
                            .map_err(other)?;
                        let mut bytes = size_of::<Vec<String>>();
                        let mut keys = Vec::new();
                        for key in rows {
                            let key = key.map_err(other)?;
                            bytes += size_of::<String>() + key.len();
                            if bytes > MAX_RESULT_BYTES {
                                return Err(too_large());
                            }
                            keys.push(key);
                        }
                        Ok(keys)
                    })
                    .await?
            }
            Self::Redis { connection, .. } => {
                let keys: Vec<String> = connection.clone().keys("*").await.map_err(other)?;
                let bytes = size_of::<Vec<String>>()
                    + keys
                        .iter()
                        .map(|k| size_of::<String>() + k.len())
                        .sum::<usize>();
                if bytes > MAX_RESULT_BYTES {
                    return Err(too_large());
                }
                keys
            }
        };
        Ok(keys)
    }

    async fn get_many(&self, keys: Vec<String>) -> Outcome<Vec<(String, Option<Vec<u8>>)>> {
        let pairs: Vec<(String, Option<Vec<u8>>)> = match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                database
                    .run(move |_, c| {
                        let keys: Vec<rusqlite::types::Value> =
                            keys.into_iter().map(rusqlite::types::Value::from).collect();
                        let mut statement = c
                            .prepare_cached(
                                "SELECT key, value FROM spin_key_value
                                 WHERE store = :name AND key IN rarray(:keys)",
                            )
                            .map_err(other)?;
                        let rows = statement
                            .query_map(
                                named_params! { ":name": label, ":keys": Rc::new(keys) },
                                |row| <(String, Option<Vec<u8>>)>::try_from(row),
                            )
                            .map_err(other)?;
                        let mut bytes = size_of::<Vec<String>>();
                        let mut pairs = Vec::new();
                        for pair in rows {
                            let (key, value) = pair.map_err(other)?;
                            bytes += size_of::<(String, Option<Vec<u8>>)>()
                                + key.len()
                                + value.as_ref().map_or(0, Vec::len);
                            if bytes > MAX_RESULT_BYTES {
                                return Err(too_large());
                            }
                            pairs.push((key, value));
                        }
                        Ok(pairs)
                    })
                    .await?
            }
            Self::Redis { connection, .. } => {
                // Spin sends KEYS with the keys as its arguments, not MGET.
                let pairs: Vec<(String, Option<Vec<u8>>)> =
                    connection.clone().keys(keys).await.map_err(other)?;
                let bytes = size_of::<Vec<(String, Option<Vec<u8>>)>>()
                    + pairs
                        .iter()
                        .map(|(k, v)| {
                            size_of::<(String, Option<Vec<u8>>)>()
                                + k.len()
                                + v.as_ref().map_or(0, Vec::len)
                        })
                        .sum::<usize>();
                if bytes > MAX_RESULT_BYTES {
                    return Err(too_large());
                }
                pairs
            }
        };
        Ok(pairs)
    }

    async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Outcome<()> {
        match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                database
                    .run(move |_, c| {
                        let transaction = c.transaction().map_err(other)?;
                        for (key, value) in pairs {
                            transaction
                                .prepare_cached(UPSERT)
                                .and_then(|mut s| s.execute(rusqlite::params![label, key, value]))
                                .map_err(other)?;
                        }
                        transaction.commit().map_err(other)
                    })
                    .await
            }
            Self::Redis { connection, .. } => connection
                .clone()
                .mset::<_, _, ()>(&pairs)
                .await
                .map_err(other),
        }
    }

    async fn delete_many(&self, keys: Vec<String>) -> Outcome<()> {
        match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                database
                    .run(move |_, c| {
                        let keys: Vec<rusqlite::types::Value> =
                            keys.into_iter().map(rusqlite::types::Value::from).collect();
                        c.prepare_cached(
                            "DELETE FROM spin_key_value WHERE store = :name AND key IN rarray(:keys)",
                        )
                        .and_then(|mut s| {
                            s.execute(named_params! { ":name": label, ":keys": Rc::new(keys) })
                        })
                        .map(drop)
                        .map_err(other)
                    })
                    .await
            }
            Self::Redis { connection, .. } => {
                connection.clone().del::<_, ()>(keys).await.map_err(other)
            }
        }
    }

    async fn increment(&self, key: String, delta: i64) -> Outcome<i64> {
        match self {
            Self::Sqlite { label, database } => {
                let label = label.clone();
                database
                    .run(move |this, c| {
                        let transaction = c.transaction().map_err(other)?;
                        let current = match select(&transaction, &label, &key).map_err(other)? {
                            None => 0,
                            Some(bytes) => match <[u8; 8]>::try_from(bytes) {
                                Ok(bytes) => i64::from_le_bytes(bytes),
                                Err(bytes) => {
                                    this.poisoned.store(true, Ordering::SeqCst);
                                    return Err(Failure::Trap(wasmtime::Error::msg(format!(
                                        "incorrect length: the value of {key:?} has {} bytes, \
                                         not 8 (Spin panics here)",
                                        bytes.len()
                                    ))));
                                }
                            },
                        };
                        // Spin's release build wraps on overflow.
                        let new = current.wrapping_add(delta);
                        transaction
                            .prepare_cached(UPSERT)
                            .and_then(|mut s| {
                                s.execute(rusqlite::params![label, key, new.to_le_bytes()])
                            })
                            .map_err(other)?;
                        transaction.commit().map_err(other)?;
                        Ok(new)
                    })
                    .await
            }
            Self::Redis { connection, .. } => {
                connection.clone().incr(key, delta).await.map_err(other)
            }
        }
    }

    /// Spin's `new_compare_and_swap`.
    async fn compare_and_swap(self: &Arc<Self>, key: String) -> Outcome<KvCas> {
        let state = match &**self {
            Self::Sqlite { label, database } => CasState::Sqlite {
                label: label.clone(),
                database: database.clone(),
                seen: None,
            },
            // A connection of its own, as a WATCH belongs to a connection.
            Self::Redis { url, .. } => CasState::Redis {
                connection: connect(url).await.map_err(other)?,
            },
        };
        Ok(KvCas {
            bucket: Arc::downgrade(self),
            key,
            state,
        })
    }
}

/// A compare-and-swap the guest holds.
pub struct KvCas {
    /// The bucket it came from, for the fresh CAS a failed swap returns.
    bucket: Weak<Store>,
    key: String,
    state: CasState,
}

impl std::fmt::Debug for KvCas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCas").field("key", &self.key).finish()
    }
}

enum CasState {
    Sqlite {
        label: String,
        database: Arc<SqliteStore>,
        /// The value `current` read, which `swap` expects.
        seen: Option<Vec<u8>>,
    },
    Redis {
        connection: ConnectionManager,
    },
}

/// How a swap failed.
enum SwapFailure {
    /// The value changed: the guest gets a fresh CAS.
    Changed,
    Other(Failure),
}

impl KvCas {
    async fn current(&mut self) -> Outcome<Option<Vec<u8>>> {
        let key = self.key.clone();
        let value = match &mut self.state {
            CasState::Sqlite {
                label,
                database,
                seen,
            } => {
                let label = label.clone();
                let value = database
                    .run(move |_, c| select(c, &label, &key).map_err(other))
                    .await?;
                seen.clone_from(&value);
                value
            }
            CasState::Redis { connection } => {
                redis::cmd("WATCH")
                    .arg(&key)
                    .exec_async(connection)
                    .await
                    .map_err(other)?;
                connection
                    .get::<_, Option<Vec<u8>>>(&key)
                    .await
                    .map_err(other)?
            }
        };
        within_limit(value)
    }

    async fn swap(&mut self, value: Vec<u8>) -> Result<(), SwapFailure> {
        let key = self.key.clone();
        match &mut self.state {
            CasState::Sqlite {
                label,
                database,
                seen,
            } => {
                let (label, seen) = (label.clone(), seen.clone());
                let changed = database
                    .run(move |_, c| {
                        let rows = match seen {
                            Some(old) => c
                                .prepare_cached(
                                    "UPDATE spin_key_value SET value = :new
                                     WHERE store = :name AND key = :key AND value = :old",
                                )
                                .and_then(|mut s| {
                                    s.execute(named_params! {
                                        ":name": label, ":key": key, ":old": old, ":new": value,
                                    })
                                })
                                .map_err(other)?,
                            // Nothing was read: an upsert, which cannot
                            // conflict.
                            None => {
                                let transaction = c.transaction().map_err(other)?;
                                let rows = transaction
                                    .prepare_cached(UPSERT)
                                    .and_then(|mut s| {
                                        s.execute(rusqlite::params![label, key, value])
                                    })
                                    .map_err(other)?;
                                transaction.commit().map_err(other)?;
                                rows
                            }
                        };
                        Ok(rows != 1)
                    })
                    .await
                    .map_err(SwapFailure::Other)?;
                if changed {
                    Err(SwapFailure::Changed)
                } else {
                    Ok(())
                }
            }
            // Spin counts any failure here, even a lost connection, as a
            // changed value.
            CasState::Redis { connection } => {
                let result: redis::RedisResult<()> = redis::pipe()
                    .atomic()
                    .set(&key, value)
                    .query_async(connection)
                    .await;
                redis::cmd("UNWATCH")
                    .arg(&key)
                    .exec_async(connection)
                    .await
                    .map_err(|_| SwapFailure::Changed)?;
                result.map_err(|_| SwapFailure::Changed)
            }
        }
    }
}

/// One component instance's key-value state.
#[derive(Debug)]
pub(crate) struct KeyValueInstance {
    stores: Arc<Stores>,
    allowed: Arc<HashSet<String>>,
}

impl KeyValueInstance {
    pub fn new(stores: Arc<Stores>, allowed: Arc<HashSet<String>>) -> Self {
        Self { stores, allowed }
    }
}

/// How `open` failed, before it is mapped to an interface's error.
enum OpenFailure {
    AccessDenied,
    NoSuchStore,
    Failed(Failure),
}

impl RequestState {
    async fn kv_open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, OpenFailure>> {
        if !self.key_value.allowed.contains(&label) {
            return Ok(Err(OpenFailure::AccessDenied));
        }
        let store = match self.key_value.stores.open(&label).await {
            None => return Ok(Err(OpenFailure::NoSuchStore)),
            Some(Err(Failure::Trap(trap))) => return Err(trap),
            Some(Err(failure)) => return Ok(Err(OpenFailure::Failed(failure))),
            Some(Ok(store)) => store,
        };
        Ok(Ok(self.table.push(KvStore {
            store: Arc::new(store),
        })?))
    }

    fn kv_store(&self, store: &Resource<KvStore>) -> wasmtime::Result<Arc<Store>> {
        Ok(self.table.get(store)?.store.clone())
    }
}

/// Splits a failure into the guest's error and a trap.
fn settle<T, E>(
    outcome: Outcome<T>,
    error: impl FnOnce(String) -> E,
) -> wasmtime::Result<Result<T, E>> {
    match outcome {
        Ok(value) => Ok(Ok(value)),
        Err(Failure::Other(message)) => Ok(Err(error(message))),
        Err(Failure::Trap(trap)) => Err(trap),
    }
}

impl spin::Host for RequestState {}

impl spin::HostStore for RequestState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, spin::Error>> {
        Ok(match self.kv_open(label).await? {
            Ok(store) => Ok(store),
            Err(OpenFailure::AccessDenied) => Err(spin::Error::AccessDenied),
            Err(OpenFailure::NoSuchStore) => Err(spin::Error::NoSuchStore),
            Err(OpenFailure::Failed(failure)) => return settle(Err(failure), spin::Error::Other),
        })
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin::Error>> {
        let store = self.kv_store(&store)?;
        settle(store.get(key).await, spin::Error::Other)
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin::Error>> {
        let store = self.kv_store(&store)?;
        settle(store.set(key, value).await, spin::Error::Other)
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin::Error>> {
        let store = self.kv_store(&store)?;
        settle(store.delete(key).await, spin::Error::Other)
    }

    async fn exists(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin::Error>> {
        let store = self.kv_store(&store)?;
        settle(store.exists(key).await, spin::Error::Other)
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, spin::Error>> {
        let store = self.kv_store(&store)?;
        settle(store.get_keys().await, spin::Error::Other)
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl wasi::Host for RequestState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, wasi::Error>> {
        Ok(match self.kv_open(identifier).await? {
            Ok(store) => Ok(store),
            Err(OpenFailure::AccessDenied) => Err(wasi::Error::AccessDenied),
            Err(OpenFailure::NoSuchStore) => Err(wasi::Error::NoSuchStore),
            Err(OpenFailure::Failed(failure)) => return settle(Err(failure), wasi::Error::Other),
        })
    }
}

impl wasi::HostBucket for RequestState {
    async fn get(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        settle(store.get(key).await, wasi::Error::Other)
    }

    async fn set(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        settle(store.set(key, value).await, wasi::Error::Other)
    }

    async fn delete(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        settle(store.delete(key).await, wasi::Error::Other)
    }

    async fn exists(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        settle(store.exists(key).await, wasi::Error::Other)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<KvStore>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi::KeyResponse, wasi::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi::Error::Other(
                "list_keys: cursor not supported".into(),
            )));
        }
        let store = self.kv_store(&bucket)?;
        settle(
            store
                .get_keys()
                .await
                .map(|keys| wasi::KeyResponse { keys, cursor: None }),
            wasi::Error::Other,
        )
    }

    async fn drop(&mut self, bucket: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl batch::Host for RequestState {
    async fn get_many(
        &mut self,
        bucket: Resource<KvStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        settle(store.get_many(keys).await, wasi::Error::Other)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<KvStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        if key_values.is_empty() {
            return Ok(Ok(()));
        }
        settle(store.set_many(key_values).await, wasi::Error::Other)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<KvStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        settle(store.delete_many(keys).await, wasi::Error::Other)
    }
}

impl RequestState {
    /// A new CAS on `store` for `key`, in the table.
    async fn kv_new_cas(
        &mut self,
        store: Arc<Store>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<KvCas>, wasi::Error>> {
        match settle(store.compare_and_swap(key).await, wasi::Error::Other)? {
            Ok(cas) => Ok(Ok(self.table.push(cas)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn kv_current(
        &mut self,
        cas: &Resource<KvCas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi::Error>> {
        let cas = self.table.get_mut(cas)?;
        settle(cas.current().await, wasi::Error::Other)
    }
}

impl atomics::HostCas for RequestState {
    async fn new(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<KvCas>, wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        self.kv_new_cas(store, key).await
    }

    async fn current(
        &mut self,
        cas: Resource<KvCas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi::Error>> {
        self.kv_current(&cas).await
    }

    async fn drop(&mut self, cas: Resource<KvCas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl atomics::Host for RequestState {
    async fn increment(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi::Error>> {
        let store = self.kv_store(&bucket)?;
        settle(store.increment(key, delta).await, wasi::Error::Other)
    }

    async fn swap(
        &mut self,
        cas: Resource<KvCas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let mut cas = self.table.delete(cas)?;
        match cas.swap(value).await {
            Ok(()) => Ok(Ok(())),
            Err(SwapFailure::Other(Failure::Other(message))) => Ok(Err(
                atomics::CasError::StoreError(wasi::Error::Other(message)),
            )),
            Err(SwapFailure::Other(Failure::Trap(trap))) => Err(trap),
            // Spin answers with a fresh CAS on the same key that has
            // already read the current value, or a store error if the
            // bucket is gone.
            Err(SwapFailure::Changed) => {
                let Some(store) = cas.bucket.upgrade() else {
                    return Ok(Err(atomics::CasError::StoreError(wasi::Error::NoSuchStore)));
                };
                let fresh = match self.kv_new_cas(store, cas.key.clone()).await? {
                    Ok(fresh) => fresh,
                    Err(error) => return Ok(Err(atomics::CasError::StoreError(error))),
                };
                if let Err(error) = self.kv_current(&fresh).await? {
                    return Ok(Err(atomics::CasError::StoreError(error)));
                }
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Arc<Store> {
        Arc::new(Store::Sqlite {
            label: "default".into(),
            database: Arc::new(create_sqlite(&Location::InMemory).ok().unwrap()),
        })
    }

    fn ok<T>(outcome: Outcome<T>) -> T {
        match outcome {
            Ok(value) => value,
            Err(Failure::Other(message)) => panic!("other({message})"),
            Err(Failure::Trap(trap)) => panic!("trap: {trap:?}"),
        }
    }

    #[tokio::test]
    async fn increments_are_stored_as_eight_little_endian_bytes() {
        let store = memory();
        assert_eq!(ok(store.increment("n".into(), 5).await), 5);
        assert_eq!(ok(store.increment("n".into(), -7).await), -2);
        assert_eq!(
            ok(store.get("n".into()).await),
            Some((-2_i64).to_le_bytes().to_vec())
        );
    }

    #[tokio::test]
    async fn incrementing_a_value_that_is_not_eight_bytes_traps_and_poisons_the_store() {
        let store = memory();
        ok(store.set("n".into(), b"5".to_vec()).await);
        assert!(matches!(
            store.increment("n".into(), 1).await,
            Err(Failure::Trap(_))
        ));
        assert!(matches!(
            store.get("other".into()).await,
            Err(Failure::Trap(_))
        ));
    }

    #[tokio::test]
    async fn a_swap_after_a_concurrent_write_fails_and_an_unread_swap_upserts() {
        let store = memory();
        ok(store.set("k".into(), b"a".to_vec()).await);
        let mut cas = ok(store.compare_and_swap("k".into()).await);
        assert_eq!(ok(cas.current().await), Some(b"a".to_vec()));
        ok(store.set("k".into(), b"b".to_vec()).await);
        assert!(matches!(
            cas.swap(b"c".to_vec()).await,
            Err(SwapFailure::Changed)
        ));

        let mut blind = ok(store.compare_and_swap("k".into()).await);
        assert!(blind.swap(b"d".to_vec()).await.is_ok());
        assert_eq!(ok(store.get("k".into()).await), Some(b"d".to_vec()));
    }

    #[tokio::test]
    async fn stores_with_different_labels_share_the_table_but_not_keys() {
        let database = Arc::new(create_sqlite(&Location::InMemory).ok().unwrap());
        let a = Store::Sqlite {
            label: "a".into(),
            database: database.clone(),
        };
        let b = Store::Sqlite {
            label: "b".into(),
            database,
        };
        ok(a.set("k".into(), b"1".to_vec()).await);
        assert_eq!(ok(b.get("k".into()).await), None);
        assert_eq!(ok(a.get_keys().await), ["k"]);
        ok(a.set_many(vec![
            ("x".into(), b"2".to_vec()),
            ("y".into(), b"3".to_vec()),
        ])
        .await);
        let mut pairs = ok(a.get_many(vec!["x".into(), "y".into(), "z".into()]).await);
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("x".to_owned(), Some(b"2".to_vec())),
                ("y".to_owned(), Some(b"3".to_vec()))
            ]
        );
        ok(a.delete_many(vec!["x".into(), "k".into()]).await);
        assert_eq!(ok(a.get_keys().await), ["y"]);
    }
}
