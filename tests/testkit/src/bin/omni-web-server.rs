//! Serves Omni in the test host over a fresh, empty database, for the
//! browser tests (`tests/browser`, run by `scripts/browser-test`). Prints
//! the base URL on one line, then serves until killed.
//!
//! `OMNI_WRITEUP_EXTRA_ORIGIN`, if set, becomes `writeup_extra_origin`: the
//! browser tests serve write-ups from a local server there.

use omni_testkit::{AppOptions, spawn_app_with};

#[tokio::main]
async fn main() {
    let variables = std::env::var("OMNI_WRITEUP_EXTRA_ORIGIN")
        .map(|origin| vec![("writeup_extra_origin".to_owned(), origin)])
        .unwrap_or_default();
    let app = spawn_app_with(AppOptions {
        variables,
        ..AppOptions::default()
    })
    .await;
    println!("{}", app.url());
    std::future::pending::<()>().await;
}
