//! `fermyon:spin/redis@2.0.0` (spin-sdk 5.2's `spin_sdk::redis`) with Spin
//! 3.6.3's semantics, read off crates/factor-outbound-redis/src/host.rs at
//! v3.6.3, on the redis crate at Spin's version (0.32.5):
//!
//! - `open` checks `allowed_outbound_hosts` (scheme `redis`), answering
//!   `invalid-address` for a host not on it, or `other(text)` if the list
//!   did not resolve. It then makes a new `MultiplexedConnection`, every
//!   time: no pool, no reuse across opens or requests. An address the redis
//!   crate cannot read is `invalid-address`; a failed connection (refused,
//!   unknown host) is `other(text of the redis error)`, at once.
//! - Host names resolve through tokio, minus the runtime config's blocked
//!   networks. When every address is blocked, the redis crate is handed no
//!   address at all and panics (`select_ok` on an empty list): the guest
//!   traps here.
//! - **Nothing is bounded.** Spin sets neither the connect nor the response
//!   timeout of the redis crate (both default to none), and wraps no timeout
//!   of its own around any call. So against a Redis that accepts connections
//!   but never answers (a SIGSTOPped server, whose kernel still completes
//!   the handshake), `open` waits forever on the `CLIENT SETINFO` replies the
//!   redis crate asks for while connecting, and any command waits forever on
//!   its reply. The wait ends when the server answers or the connection
//!   breaks. Spin's HTTP trigger sets no request timeout for a WASI 0.2
//!   component either, so the whole request waits.
//! - A connection that breaks stays broken: later calls on it fail with the
//!   redis crate's error; the next `open` connects afresh.
//! - Every error is `other(text)` except that a reply `sadd` cannot
//!   convert is `type-error` (a WRONGTYPE reply is a server error, so
//!   `other`); more than 1024 connections in one instance is
//!   `too-many-connections`; a result over 128 MiB is
//!   `other("query result exceeds limit of 134217728 bytes")`.
//! - `execute` sends any command; integers are sent in decimal, binaries as
//!   they are. The reply flattens into a list: nested arrays and sets are
//!   spliced in, `OK` and simple strings are `status`, doubles and big
//!   numbers are `binary` text, booleans are `int64` 0 or 1, and maps,
//!   attributes, verbatim strings and pushes fail as type errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::MultiplexedConnection;
use redis::io::AsyncDNSResolver;
use redis::{AsyncCommands, AsyncConnectionConfig, ErrorKind, FromRedisValue, RedisError, Value};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::redis::{
    Error, Host, HostConnection, RedisParameter, RedisResult,
};
use crate::blocked_networks::BlockedNetworks;
use crate::instance::RequestState;

/// Spin's limit on a buffered result.
const MAX_RESULT_BYTES: usize = 128 << 20;

/// Spin's table holds this many connections per instance.
const MAX_CONNECTIONS: usize = 1024;

/// An open connection, owned by the guest through a resource handle.
#[derive(Debug)]
pub struct RedisConnection {
    conn: MultiplexedConnection,
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

fn too_large() -> Error {
    Error::Other(format!(
        "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
    ))
}

impl RequestState {
    fn redis(
        &mut self,
        connection: &Resource<RedisConnection>,
    ) -> Result<&mut MultiplexedConnection, Error> {
        self.table
            .get_mut(connection)
            .map(|c| &mut c.conn)
            .map_err(|_| Error::Other("could not find connection for resource".into()))
    }
}

impl Host for RequestState {}

impl HostConnection for RequestState {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        match self.check_outbound(&address, "redis") {
            Ok(true) => {}
            Ok(false) => return Ok(Err(Error::InvalidAddress)),
            Err(text) => return Ok(Err(Error::Other(text))),
        }
        let Ok(client) = redis::Client::open(address.as_str()) else {
            return Ok(Err(Error::InvalidAddress));
        };
        let resolver = FilteringResolver {
            blocked: self.blocked_networks.clone(),
            all_blocked: Arc::new(AtomicBool::new(false)),
        };
        let all_blocked = resolver.all_blocked.clone();
        let config = AsyncConnectionConfig::new().set_dns_resolver(resolver);
        let conn = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => conn,
            Err(_) if all_blocked.load(Ordering::Relaxed) => {
                self.log_host("all destination IP(s) prohibited by runtime config");
                return Err(wasmtime::Error::msg(
                    "every address of the Redis host is blocked, so the redis crate gets none \
                     and panics (Spin panics here)",
                ));
            }
            Err(e) => return Ok(Err(other(e))),
        };
        Ok(
            match self.redis_connections.push(
                &mut self.table,
                MAX_CONNECTIONS,
                RedisConnection { conn },
            ) {
                Ok(Ok(handle)) => Ok(handle),
                Ok(Err(_)) | Err(_) => Err(Error::TooManyConnections),
            },
        )
    }

    async fn publish(
        &mut self,
        connection: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        self.redis(&connection)?
            .publish::<_, _, ()>(&channel, &payload)
            .await
            .map_err(other)
    }

    async fn get(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let value: Option<Vec<u8>> = self.redis(&connection)?.get(&key).await.map_err(other)?;
        if size_of::<Option<Vec<u8>>>() + value.as_ref().map_or(0, Vec::len) > MAX_RESULT_BYTES {
            return Err(too_large());
        }
        Ok(value)
    }

    async fn set(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        self.redis(&connection)?
            .set::<_, _, ()>(&key, &value)
            .await
            .map_err(other)
    }

    async fn incr(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<i64, Error> {
        self.redis(&connection)?.incr(&key, 1).await.map_err(other)
    }

    async fn del(
        &mut self,
        connection: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> Result<u32, Error> {
        self.redis(&connection)?.del(&keys).await.map_err(other)
    }

    async fn sadd(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.redis(&connection)?
            .sadd(&key, &values)
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::TypeError {
                    Error::TypeError
                } else {
                    other(e)
                }
            })
    }

    async fn smembers(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Vec<String>, Error> {
        self.redis(&connection)?.smembers(&key).await.map_err(other)
    }

    async fn srem(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.redis(&connection)?
            .srem(&key, &values)
            .await
            .map_err(other)
    }

    async fn execute(
        &mut self,
        connection: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let mut cmd = redis::cmd(&command);
        for argument in &arguments {
            match argument {
                RedisParameter::Int64(n) => cmd.arg(n),
                RedisParameter::Binary(bytes) => cmd.arg(bytes),
            };
        }
        let Flattened(results) = cmd
            .query_async(self.redis(&connection)?)
            .await
            .map_err(other)?;
        let size = size_of::<Vec<RedisResult>>() + results.iter().map(memory_size).sum::<usize>();
        if size > MAX_RESULT_BYTES {
            return Err(too_large());
        }
        Ok(results)
    }

    async fn drop(&mut self, connection: Resource<RedisConnection>) -> wasmtime::Result<()> {
        drop(self.redis_connections.remove(&mut self.table, connection)?);
        Ok(())
    }
}

/// A reply to `execute`, flattened as Spin flattens it.
struct Flattened(Vec<RedisResult>);

impl FromRedisValue for Flattened {
    fn from_redis_value(value: &Value) -> redis::RedisResult<Self> {
        let mut results = Vec::new();
        flatten(value, &mut results)?;
        Ok(Self(results))
    }
}

fn unsupported(what: &str) -> RedisError {
    RedisError::from((
        ErrorKind::TypeError,
        "Could not convert Redis response",
        what.to_owned(),
    ))
}

fn flatten(value: &Value, into: &mut Vec<RedisResult>) -> redis::RedisResult<()> {
    match value {
        Value::Nil => into.push(RedisResult::Nil),
        Value::Int(n) => into.push(RedisResult::Int64(*n)),
        Value::BulkString(bytes) => into.push(RedisResult::Binary(bytes.clone())),
        Value::SimpleString(text) => into.push(RedisResult::Status(text.clone())),
        Value::Okay => into.push(RedisResult::Status("OK".to_owned())),
        Value::Double(n) => into.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Boolean(b) => into.push(RedisResult::Int64(i64::from(*b))),
        Value::BigNumber(n) => into.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                flatten(value, into)?;
            }
        }
        Value::Map(_) => return Err(unsupported("Redis Map type is not supported")),
        Value::Attribute { .. } => {
            return Err(unsupported("Redis Attribute type is not supported"));
        }
        Value::VerbatimString { .. } => {
            return Err(unsupported(
                "Redis string with format attribute is not supported",
            ));
        }
        Value::Push { .. } => return Err(unsupported("Redis Pub/Sub types are not supported")),
        Value::ServerError(error) => {
            return Err(RedisError::from((
                ErrorKind::ResponseError,
                "Server error",
                format!("{error:?}"),
            )));
        }
    }
    Ok(())
}

fn memory_size(value: &RedisResult) -> usize {
    size_of::<RedisResult>()
        + match value {
            RedisResult::Nil | RedisResult::Int64(_) => 0,
            RedisResult::Binary(bytes) => bytes.len(),
            RedisResult::Status(text) => text.len(),
        }
}

/// Resolves through tokio and drops blocked addresses, as Spin's resolver
/// does; it notes when that leaves none, where Spin panics.
struct FilteringResolver {
    blocked: Arc<BlockedNetworks>,
    all_blocked: Arc<AtomicBool>,
}

impl AsyncDNSResolver for FilteringResolver {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            let removed = self.blocked.remove_blocked(&mut addrs);
            if addrs.is_empty() && !removed.is_empty() {
                self.all_blocked.store(true, Ordering::Relaxed);
                // Not the empty list Spin hands over: the caller traps.
                return Err(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "all destination IP(s) prohibited by runtime config",
                )));
            }
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}
