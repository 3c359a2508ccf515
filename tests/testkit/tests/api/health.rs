//! `/healthz`, `/livez`, `/readyz`.

use omni_testkit::spawn_app;
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
    app.get("/healthz", None).await;
    app.get("/livez", None).await;
    assert_eq!(app.host().stats().component("health").statements, 0);
    app.get("/readyz", None).await;
    assert_eq!(app.host().stats().component("health").statements, 1);
}
