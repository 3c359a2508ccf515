//! The stores behind the response cache and the rate limits, each either a
//! Redis that Omni talks to itself ([`crate::redis`], with a bounded wait),
//! when the configuration names one, or Spin's key-value store `default`
//! (a local SQLite file under `spin up`, which cannot stall).
//!
//! The cache and the limits get a Redis each on SpinKube, so that cache
//! traffic, which anyone can cause, can never evict a rate-limit counter.
//! Either store is opened on first use, once per request.

mod spin;

use std::cell::OnceCell;
use std::net::SocketAddr;
use std::time::Duration;

pub use spin::SpinStore;

use crate::redis;

/// Why a store failed. Callers decide whether that may fail the request.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct KvError(String);

impl From<redis::Error> for KvError {
    fn from(error: redis::Error) -> Self {
        Self(error.to_string())
    }
}

impl From<redis::ProtocolError> for KvError {
    fn from(error: redis::ProtocolError) -> Self {
        Self(format!("Redis: {error}"))
    }
}

/// One of the stores.
#[derive(Clone, Copy, Debug)]
pub enum Backend<'a> {
    /// Spin's key-value store.
    Spin(&'a SpinStore),
    /// A Redis.
    Redis(&'a redis::Connection),
}

/// Where one kind of state lives.
#[derive(Debug)]
enum Place {
    Spin,
    Redis(redis::Connection),
}

impl Place {
    fn new(address: Option<SocketAddr>, password: &str, timeout: Duration) -> Self {
        match address {
            Some(address) => Self::Redis(redis::Connection::new(address, password, timeout)),
            None => Self::Spin,
        }
    }
}

/// One request's stores.
#[derive(Debug)]
pub struct Kv {
    cache: Place,
    limits: Place,
    spin: OnceCell<Result<SpinStore, KvError>>,
}

impl Kv {
    /// The cache on the Redis at `cache` and the limits on the one at
    /// `limits`, or on Spin's store where `None`; each Redis may keep a
    /// request waiting for `timeout` in all. Nothing is opened yet.
    pub fn new(
        cache: Option<SocketAddr>,
        limits: Option<SocketAddr>,
        password: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            cache: Place::new(cache, password, timeout),
            limits: Place::new(limits, password, timeout),
            spin: OnceCell::new(),
        }
    }

    /// The response cache's store.
    pub fn cache(&self) -> Result<Backend<'_>, KvError> {
        self.backend(&self.cache)
    }

    /// The rate limits' store.
    pub fn limits(&self) -> Result<Backend<'_>, KvError> {
        self.backend(&self.limits)
    }

    fn backend<'a>(&'a self, place: &'a Place) -> Result<Backend<'a>, KvError> {
        match place {
            Place::Redis(connection) => Ok(Backend::Redis(connection)),
            Place::Spin => match self.spin.get_or_init(SpinStore::open) {
                Ok(store) => Ok(Backend::Spin(store)),
                Err(error) => Err(error.clone()),
            },
        }
    }
}
