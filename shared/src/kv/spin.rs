//! Spin's key-value store `default`, through `wasi:keyvalue`: where the
//! cache and the rate limits live when no Redis is configured. Under
//! `spin up` it is a local SQLite file, shared by every instance of the
//! process. A runtime config could point it at Redis, but Spin 3.6.3's
//! Redis store retries for minutes while Redis is away, stalling every
//! request: configure Omni's own Redis client instead (see [`crate::kv`]).
//!
//! Spin's store has no expiry, so whoever writes a key also bounds how many
//! such keys can exist.
//!
//! Only `get`, `set`, `delete` and `increment` are used. Spin 3.6.3's Redis
//! store sends `KEYS` for `wasi:keyvalue/batch.get-many`, which fails for
//! several keys and panics the request for one that exists; its
//! compare-and-swap always reports a conflict (it sends `UNWATCH <key>`).
//! And a counter must only ever be written by `increment`: Spin's SQLite
//! store panics incrementing a value that is not 8 bytes.

use spin_sdk::wit::wasi::keyvalue::{atomics, store};

use super::KvError;

/// The label of the store, as granted by `key_value_stores` in `spin.toml`.
const STORE: &str = "default";

impl From<store::Error> for KvError {
    fn from(error: store::Error) -> Self {
        let problem = match error {
            store::Error::NoSuchStore => {
                "no such store (check key_value_stores and the runtime config)".into()
            }
            store::Error::AccessDenied => {
                "access denied: the component needs key_value_stores = [\"default\"]".into()
            }
            store::Error::Other(text) => text,
        };
        Self(format!("Spin's key-value store: {problem}"))
    }
}

/// The open store.
pub struct SpinStore {
    bucket: store::Bucket,
}

impl std::fmt::Debug for SpinStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpinStore")
    }
}

impl SpinStore {
    /// Opens the `default` store.
    pub fn open() -> Result<Self, KvError> {
        Ok(Self {
            bucket: store::open(STORE)?,
        })
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.bucket.get(key)?)
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        Ok(self.bucket.set(key, value)?)
    }

    /// Removes `key` (nothing happens if it is missing).
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        Ok(self.bucket.delete(key)?)
    }

    /// Adds `delta` to the counter `key` (a missing key counts as 0) and
    /// returns the new value, atomically across every instance sharing the
    /// store (Redis `INCRBY`; within one process for Spin's SQLite store).
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        Ok(atomics::increment(&self.bucket, key, delta)?)
    }
}
