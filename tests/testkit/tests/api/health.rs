//! `/healthz`, `/livez`, `/readyz`.

use omni_testkit::{Backend, spawn_app};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_probe_answers_ok_when_all_is_well() {
    let app = spawn_app().await;
    for path in ["/healthz", "/livez", "/readyz"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.json(), json!({ "status": "ok" }), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_readiness_asks_the_database() {
    let app = spawn_app().await;
    let statements = || app.host().stats().component("health").statements;
    app.get("/healthz", None).await;
    app.get("/livez", None).await;
    assert_eq!(statements(), 0);
    // The first request to a fresh SQLite database also creates its schema.
    app.get("/readyz", None).await;
    let before = statements();
    app.get("/readyz", None).await;
    // `SELECT 1`, plus on SQLite the per-request schema check (`PRAGMA
    // user_version`).
    let expected = match app.backend() {
        Backend::MySql => 1,
        Backend::Sqlite => 2,
    };
    assert_eq!(statements() - before, expected);
}
