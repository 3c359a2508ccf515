//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` (store,
//! atomics, batch) with Spin 3.6.3's semantics, read off
//! crates/factor-key-value/src/{lib,host,util}.rs at v3.6.3, over Spin's two
//! local backends: its SQLite file ([`sqlite_backend`]) and Redis
//! ([`redis_backend`]).
//!
//! - `open(label)` is `access-denied` unless the component lists the label
//!   in `key_value_stores`, and `no-such-store` for a listed label with no
//!   store (startup refuses that, so a guest cannot see it). Spin's store
//!   table holds `u32::MAX` stores, so `store-table-full` never happens.
//! - A backend's error is `other(text)` in both interfaces.
//! - `wasi:keyvalue`: `list-keys` refuses a cursor with
//!   `other("list_keys: cursor not supported")`; the batch calls answer an
//!   empty list without asking the backend; a swap that fails because the
//!   value changed hands back a fresh CAS that has already read the current
//!   value, or `store-error(no-such-store)` if the bucket is gone.

mod redis_backend;
mod sqlite_backend;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Weak};

use wasmtime::component::Resource;

use self::redis_backend::{RedisCas, RedisManager, RedisStore};
use self::sqlite_backend::{SqliteCas, SqliteManager, SqliteStore};
use crate::bindings::fermyon::spin::key_value as spin;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi};
use crate::instance::RequestState;
use crate::runtime_config::KeyValueBackend;

/// Spin's limit on a buffered result.
const MAX_RESULT_BYTES: usize = 128 << 20;

/// How a call failed: an error the guest receives, or a trap where Spin's
/// host panics.
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

/// A single value, checked against the limit as Spin checks it.
fn within_limit(value: Option<Vec<u8>>) -> Outcome<Option<Vec<u8>>> {
    if size_of::<Option<Vec<u8>>>() + value.as_ref().map_or(0, Vec::len) > MAX_RESULT_BYTES {
        Err(too_large())
    } else {
        Ok(value)
    }
}

/// How a swap failed.
enum SwapFailure {
    /// The value changed (as far as the backend can tell): the guest gets
    /// a fresh CAS.
    Changed,
    Other(Failure),
}

/// The app's stores, by label.
#[derive(Debug)]
pub(crate) struct Stores {
    managers: BTreeMap<String, Manager>,
}

/// The process-wide state behind one label.
#[derive(Debug)]
enum Manager {
    Sqlite(SqliteManager),
    Redis(RedisManager),
}

impl Stores {
    pub fn new(backends: BTreeMap<String, KeyValueBackend>) -> Self {
        let managers = backends
            .into_iter()
            .map(|(label, backend)| {
                let manager = match backend {
                    KeyValueBackend::Sqlite(location) => {
                        Manager::Sqlite(SqliteManager::new(location))
                    }
                    KeyValueBackend::Redis(url) => Manager::Redis(RedisManager::new(url)),
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
            Some(Manager::Sqlite(manager)) => manager.summary(),
            Some(Manager::Redis(manager)) => manager.summary(),
            None => "nowhere".to_owned(),
        }
    }

    async fn open(&self, label: &str) -> Option<Outcome<Store>> {
        Some(match self.managers.get(label)? {
            Manager::Sqlite(manager) => manager.open(label).await.map(Store::Sqlite),
            Manager::Redis(manager) => manager.open().await.map(Store::Redis),
        })
    }
}

/// A store the guest opened: a Spin `store` or a wasi `bucket`.
#[derive(Debug)]
pub struct KvStore {
    store: Arc<Store>,
}

#[derive(Debug)]
enum Store {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

/// Calls the same method on whichever backend `$store` is.
macro_rules! dispatch {
    ($store:expr, $method:ident($($arg:expr),*)) => {
        match $store {
            Store::Sqlite(store) => store.$method($($arg),*).await,
            Store::Redis(store) => store.$method($($arg),*).await,
        }
    };
}

impl Store {
    async fn get(&self, key: String) -> Outcome<Option<Vec<u8>>> {
        dispatch!(self, get(key))
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Outcome<()> {
        dispatch!(self, set(key, value))
    }

    async fn delete(&self, key: String) -> Outcome<()> {
        dispatch!(self, delete(key))
    }

    async fn exists(&self, key: String) -> Outcome<bool> {
        dispatch!(self, exists(key))
    }

    async fn get_keys(&self) -> Outcome<Vec<String>> {
        dispatch!(self, get_keys())
    }

    async fn get_many(&self, keys: Vec<String>) -> Outcome<Vec<(String, Option<Vec<u8>>)>> {
        dispatch!(self, get_many(keys))
    }

    async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Outcome<()> {
        dispatch!(self, set_many(pairs))
    }

    async fn delete_many(&self, keys: Vec<String>) -> Outcome<()> {
        dispatch!(self, delete_many(keys))
    }

    async fn increment(&self, key: String, delta: i64) -> Outcome<i64> {
        dispatch!(self, increment(key, delta))
    }

    /// Spin's `new_compare_and_swap`.
    async fn compare_and_swap(self: &Arc<Self>, key: String) -> Outcome<KvCas> {
        let state = match &**self {
            Self::Sqlite(store) => CasState::Sqlite(store.compare_and_swap(key.clone())),
            Self::Redis(store) => CasState::Redis(store.compare_and_swap(key.clone()).await?),
        };
        Ok(KvCas {
            bucket: Arc::downgrade(self),
            key,
            state,
        })
    }
}

/// A compare-and-swap the guest holds.
#[derive(Debug)]
pub struct KvCas {
    /// The bucket it came from, for the fresh CAS a failed swap returns.
    bucket: Weak<Store>,
    key: String,
    state: CasState,
}

#[derive(Debug)]
enum CasState {
    Sqlite(SqliteCas),
    Redis(RedisCas),
}

impl KvCas {
    async fn current(&mut self) -> Outcome<Option<Vec<u8>>> {
        match &mut self.state {
            CasState::Sqlite(cas) => cas.current().await,
            CasState::Redis(cas) => cas.current().await,
        }
    }

    async fn swap(&mut self, value: Vec<u8>) -> Result<(), SwapFailure> {
        match &mut self.state {
            CasState::Sqlite(cas) => cas.swap(value).await,
            CasState::Redis(cas) => cas.swap(value).await,
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
