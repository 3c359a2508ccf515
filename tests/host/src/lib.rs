//! A small Spin-compatible host for tests, built on wasmtime.
//!
//! The `spin` CLI cannot be installed where Omni's tests run, so this host
//! runs the real compiled components the way Spin 3.6.3 does, wherever a
//! component can tell the difference: `spin.toml` routing by path, Spin's
//! request headers, a fresh instance per request, `fermyon:spin/variables`,
//! `fermyon:spin/mysql` (on MariaDB), SQLite (`fermyon:spin/sqlite`,
//! `spin:sqlite/sqlite`), key-value (`fermyon:spin/key-value`,
//! `wasi:keyvalue`, on Spin's SQLite file or Redis) with Spin's semantics,
//! outbound Redis (`fermyon:spin/redis`) and HTTP (`wasi:http`), the
//! runtime config file and state directory, `allowed_outbound_hosts` and
//! `block_networks`. Production and `spin up` use real Spin.

mod blocked_networks;
mod clock;
mod headers;
mod instance;
mod key_value;
mod locked_connection;
pub mod logs;
pub mod manifest;
mod mysql;
pub mod outbound;
mod outbound_http;
mod outbound_redis;
pub mod routes;
mod runtime_config;
mod server;
mod sqlite;
mod startup;
mod stats;
pub mod variables;

pub use clock::ClockOffset;
pub use logs::Logs;
pub use runtime_config::StateDir;
pub use server::RunningApp;
pub use startup::{HostOptions, start};
pub use stats::{ComponentStats, Stats};
pub use variables::Providers;

/// Host bindings for the Spin interfaces in `wit/`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-host",
        // Trappable where Spin's host can trap (a panic there): opening
        // MySQL with an address mysql_async cannot parse, opening Redis at
        // a host whose every address is blocked, key-value calls
        // on a poisoned SQLite store, and SQLite v3's `changes` and
        // `last-insert-rowid`.
        imports: {
            "fermyon:spin/mysql.[static]connection.open": async | trappable,
            "fermyon:spin/redis.[static]connection.open": async | trappable,
            "fermyon:spin/key-value": async | trappable,
            "wasi:keyvalue": async | trappable,
            "spin:sqlite/sqlite.[method]connection.changes": async | trappable,
            "spin:sqlite/sqlite.[method]connection.last-insert-rowid": async | trappable,
            default: async,
        },
        with: {
            "fermyon:spin/mysql.connection": crate::mysql::MysqlConnection,
            "fermyon:spin/redis.connection": crate::outbound_redis::RedisConnection,
            "fermyon:spin/sqlite.connection": crate::sqlite::SqliteConnection,
            "spin:sqlite/sqlite.connection": crate::sqlite::SqliteConnection,
            "fermyon:spin/key-value.store": crate::key_value::KvStore,
            "wasi:keyvalue/store.bucket": crate::key_value::KvStore,
            "wasi:keyvalue/atomics.cas": crate::key_value::KvCas,
        },
    });
}
