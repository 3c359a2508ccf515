//! The OpenAPI document is served, in YAML and in JSON.

use omni_testkit::{openapi, spawn_app};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_served_as_yaml_and_json() {
    let app = spawn_app().await;
    let yaml = app.get("/api/openapi.yaml", None).await;
    assert_eq!(yaml.status, 200);
    assert_eq!(yaml.header("content-type"), Some("application/yaml"));
    let file =
        std::fs::read_to_string(omni_testkit::workspace_root().join("openapi.yaml")).unwrap();
    assert_eq!(yaml.text(), file);
    let json = app.get("/api/openapi.json", None).await;
    assert_eq!(json.header("content-type"), Some("application/json"));
    let served: Value = json.json();
    assert_eq!(&served, openapi::contract().document());
    assert_eq!(served["openapi"], "3.1.0");
}
