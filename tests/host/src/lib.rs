//! A small Spin-compatible host for tests, built on wasmtime.
//!
//! The `spin` CLI cannot be installed where Omni's tests run, so this host
//! runs the real compiled components the way Spin 3.6.3 does, wherever a
//! component can tell the difference: `spin.toml` routing by path, Spin's
//! request headers, a fresh instance per request, `fermyon:spin/variables`
//! and `fermyon:spin/mysql` (on MariaDB) with Spin's semantics, and
//! `allowed_outbound_hosts`. Production and `spin up` use real Spin.

pub mod logs;
pub mod manifest;
mod mysql;
pub mod outbound;
pub mod routes;
mod server;
pub mod variables;

pub use logs::Logs;
pub use server::{ComponentStats, HostOptions, RunningApp, Stats, start};
pub use variables::Providers;

/// Host bindings for the Spin interfaces in `wit/`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-host",
        imports: { default: async },
        with: {
            "fermyon:spin/mysql.connection": crate::mysql::MysqlConnection,
        },
    });
}
