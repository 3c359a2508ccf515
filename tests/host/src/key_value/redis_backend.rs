//! Spin's Redis key-value store (`type = "redis"`), as
//! crates/key-value-redis/src/store.rs at v3.6.3 has it, on the same redis
//! crate (0.32.5) with the same defaults:
//!
//! - One `ConnectionManager` per label for the whole process, made by the
//!   label's first `open`, which fails with `other(<the RedisError's
//!   Debug>)` if it cannot connect. Every `open` then sends a PING and
//!   ignores its failure.
//! - Each call is one command: GET, SET, DEL, EXISTS, `KEYS *` (every key
//!   of the database, whatever the label), INCRBY, MSET, DEL with many
//!   keys, and for `get-many` the `KEYS <keys…>` Spin sends. Errors are
//!   `other(<the RedisError's Debug>)`.
//! - A CAS makes a connection of its own: WATCH and GET, then MULTI/SET/EXEC
//!   and `UNWATCH <key>`, which Redis refuses for its argument, so every
//!   swap reports that it failed.
//! - Timing: redis 0.32.5 sets no connect or response timeout, and retries
//!   a connection 6 times, 1 s, then 60 s ×5 apart, each plus up to 100 %
//!   jitter. So with Redis unreachable a first `open` waits 301–602 s (plus
//!   the connect attempts) and fails; on a connection that has died, a
//!   command fails at once and starts a reconnection, and every command
//!   after it (including the next `open`'s PING) waits for that.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::{MAX_RESULT_BYTES, Outcome, SwapFailure, other, too_large, within_limit};

/// The process-wide state behind one label.
pub(crate) struct RedisManager {
    url: url::Url,
    connection: OnceCell<ConnectionManager>,
}

impl std::fmt::Debug for RedisManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisManager")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

async fn connect(url: &url::Url) -> redis::RedisResult<ConnectionManager> {
    redis::Client::open(url.clone())?
        .get_connection_manager()
        .await
}

impl RedisManager {
    pub fn new(url: url::Url) -> Self {
        Self {
            url,
            connection: OnceCell::new(),
        }
    }

    /// How Spin describes the store at startup.
    pub fn summary(&self) -> String {
        match self.url.as_str().parse::<redis::ConnectionInfo>() {
            Ok(info) => format!("Redis at {}", info.addr),
            Err(_) => "Redis".to_owned(),
        }
    }

    /// Spin's `get` and `after_open`: connect on first use, then ping.
    pub async fn open(&self) -> Outcome<RedisStore> {
        let mut connection = self
            .connection
            .get_or_try_init(|| connect(&self.url))
            .await
            .map_err(other)?
            .clone();
        // A failure starts a reconnection in the background; Spin ignores
        // it.
        let _ = connection.ping::<()>().await;
        Ok(RedisStore {
            connection,
            url: self.url.clone(),
        })
    }
}

/// A label's store, as a guest holds it.
pub(crate) struct RedisStore {
    connection: ConnectionManager,
    url: url::Url,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub async fn get(&self, key: String) -> Outcome<Option<Vec<u8>>> {
        let value: Option<Vec<u8>> = self.connection.clone().get(key).await.map_err(other)?;
        within_limit(value)
    }

    pub async fn set(&self, key: String, value: Vec<u8>) -> Outcome<()> {
        self.connection
            .clone()
            .set::<_, _, ()>(key, value)
            .await
            .map_err(other)
    }

    pub async fn delete(&self, key: String) -> Outcome<()> {
        self.connection
            .clone()
            .del::<_, ()>(key)
            .await
            .map_err(other)
    }

    pub async fn exists(&self, key: String) -> Outcome<bool> {
        self.connection.clone().exists(key).await.map_err(other)
    }

    pub async fn get_keys(&self) -> Outcome<Vec<String>> {
        let keys: Vec<String> = self.connection.clone().keys("*").await.map_err(other)?;
        let bytes = size_of::<Vec<String>>()
            + keys
                .iter()
                .map(|k| size_of::<String>() + k.len())
                .sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(too_large());
        }
        Ok(keys)
    }

    /// Sends KEYS with the keys as its arguments, as Spin does, not MGET.
    pub async fn get_many(&self, keys: Vec<String>) -> Outcome<Vec<(String, Option<Vec<u8>>)>> {
        let pairs: Vec<(String, Option<Vec<u8>>)> =
            self.connection.clone().keys(keys).await.map_err(other)?;
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
        Ok(pairs)
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Outcome<()> {
        self.connection
            .clone()
            .mset::<_, _, ()>(&pairs)
            .await
            .map_err(other)
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Outcome<()> {
        self.connection
            .clone()
            .del::<_, ()>(keys)
            .await
            .map_err(other)
    }

    pub async fn increment(&self, key: String, delta: i64) -> Outcome<i64> {
        self.connection
            .clone()
            .incr(key, delta)
            .await
            .map_err(other)
    }

    /// A CAS on a connection of its own, as a WATCH belongs to a
    /// connection.
    pub async fn compare_and_swap(&self, key: String) -> Outcome<RedisCas> {
        Ok(RedisCas {
            key,
            connection: connect(&self.url).await.map_err(other)?,
        })
    }
}

/// A compare-and-swap on one key.
pub(crate) struct RedisCas {
    key: String,
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisCas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCas")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RedisCas {
    pub async fn current(&mut self) -> Outcome<Option<Vec<u8>>> {
        redis::cmd("WATCH")
            .arg(&self.key)
            .exec_async(&mut self.connection)
            .await
            .map_err(other)?;
        let value: Option<Vec<u8>> = self.connection.get(&self.key).await.map_err(other)?;
        within_limit(value)
    }

    /// Spin counts any failure here as a changed value.
    pub async fn swap(&mut self, value: Vec<u8>) -> Result<(), SwapFailure> {
        let result: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .set(&self.key, value)
            .query_async(&mut self.connection)
            .await;
        redis::cmd("UNWATCH")
            .arg(&self.key)
            .exec_async(&mut self.connection)
            .await
            .map_err(|_| SwapFailure::Changed)?;
        result.map_err(|_| SwapFailure::Changed)
    }
}
