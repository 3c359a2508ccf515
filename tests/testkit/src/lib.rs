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
use std::time::Duration;

pub use app::{
    AppOptions, Backend, Scalar, TestApp, TestResponse, TestUser, id, mariadb_only, post_body,
    spawn_app, spawn_app_with,
};
pub use http_server::{HttpServer, Reply};
pub use mariadb::MariaDb;
pub use omni_test_host::ClockOffset;
pub use redis::Redis;

/// Returns once `condition` holds, checking it every 10 ms: a test waits
/// for the event it needs, not for a time. Fails the test, naming `what`,
/// if the condition does not hold within 30 s, a bound for a stuck run and
/// never the wait a test expects.
pub async fn until(what: &str, condition: impl AsyncFnMut() -> bool) {
    until_checking_every(Duration::from_millis(10), what, condition).await;
}

/// [`until`], checking every `pace`: for a condition that must not be
/// read too often.
pub async fn until_checking_every(
    pace: Duration,
    what: &str,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 30 s in vain until {what}"
        );
        tokio::time::sleep(pace).await;
    }
}

/// The repository root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}
