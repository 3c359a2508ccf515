//! Serves Omni in the test host over a fresh, empty database, for the
//! browser tests (`tests/browser`, run by `scripts/browser-test`). Prints
//! the base URL on one line, then serves until killed.

use omni_testkit::spawn_app;

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    println!("{}", app.url());
    std::future::pending::<()>().await;
}
