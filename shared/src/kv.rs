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

use crate::redis::{self, Command};

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

impl Backend<'_> {
    /// Adds `delta` to the counter `key` (a missing key counts as 0) and
    /// returns the new value. On Redis, `INCRBY` and `EXPIRE` in one round
    /// trip: the key then expires in `ttl_seconds`. Spin's store cannot
    /// expire keys, so there it lives until it is forgotten.
    pub fn add(self, key: &str, delta: i64, ttl_seconds: i64) -> Result<i64, KvError> {
        match self {
            Self::Redis(redis) => {
                let replies = redis.call(&[
                    Command::new("INCRBY").arg(key).arg(delta.to_string()),
                    Command::new("EXPIRE").arg(key).arg(ttl_seconds.to_string()),
                ])?;
                Ok(first_number(&replies)?.unwrap_or(0))
            }
            Self::Spin(store) => store.increment(key, delta),
        }
    }

    /// The number written at `key` as text (by [`Backend::set_number`], or a
    /// Redis counter), if there is one.
    pub fn number(self, key: &str) -> Result<Option<i64>, KvError> {
        match self {
            Self::Redis(redis) => first_number(&redis.call(&[Command::new("GET").arg(key)])?),
            Self::Spin(store) => Ok(store
                .get(key)?
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.parse().ok())),
        }
    }

    /// Writes `value` at `key` as text; on Redis it expires in
    /// `ttl_seconds`.
    pub fn set_number(self, key: &str, value: i64, ttl_seconds: i64) -> Result<(), KvError> {
        match self {
            Self::Redis(redis) => {
                redis.call(&[Command::new("SET")
                    .arg(key)
                    .arg(value.to_string())
                    .arg("EX")
                    .arg(ttl_seconds.to_string())])?;
                Ok(())
            }
            Self::Spin(store) => store.set(key, value.to_string().as_bytes()),
        }
    }

    /// Empties the counter `key`, so that the next [`Backend::add`] starts
    /// again from 0: deleted from Spin's store; on Redis, whose ACL lets the
    /// app delete nothing, set to 0 for `ttl_seconds`.
    pub fn forget(self, key: &str, ttl_seconds: i64) -> Result<(), KvError> {
        match self {
            Self::Redis(_) => self.set_number(key, 0, ttl_seconds),
            Self::Spin(store) => store.delete(key),
        }
    }
}

/// The number the first of `replies` holds (nil is none).
fn first_number(replies: &[redis::Reply]) -> Result<Option<i64>, KvError> {
    match replies.first() {
        Some(reply) => Ok(redis::integer(reply)?),
        None => Err(redis::ProtocolError::unexpected("silence").into()),
    }
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
