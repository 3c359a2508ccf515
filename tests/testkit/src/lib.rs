//! Test support for every end-to-end test: a real MariaDB
//! ([`mariadb`]) and Redis ([`redis`]), an HTTP server for outbound
//! requests to reach ([`http_server`]), the components built for wasm
//! ([`wasm`]), and [`spawn_app`], which gives a test its own fresh database
//! and state directory and the app running in the test host.

// Test support: a failed setup step should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod http_server;
pub mod mariadb;
pub mod openapi;
mod process;
pub mod redis;
pub mod wasm;

use std::path::PathBuf;

pub use app::{
    AppOptions, Backend, Scalar, TestApp, TestResponse, TestUser, spawn_app, spawn_app_with,
};
pub use http_server::{HttpServer, Reply};
pub use mariadb::MariaDb;
pub use omni_test_host::ClockOffset;
pub use redis::Redis;

/// The repository root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}
