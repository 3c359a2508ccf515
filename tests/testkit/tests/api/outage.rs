//! The database down, and a bad configuration: clear errors, nothing
//! half-written, no secret in the answer or the log.

use omni_testkit::{AppOptions, MariaDb, TestApp, spawn_app_with};
use serde_json::json;

use crate::problems::assert_problem;

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_database_is_a_503_with_retry_after_and_nothing_half_written() {
    let mut server = MariaDb::start().unwrap();
    let app = TestApp::spawn_on(&server, AppOptions::default()).await;
    let ada = app.create_user("ada").await;

    server.stop().unwrap();
    for response in [
        app.get("/readyz", None).await,
        app.signup("bob", "password-of-bob").await,
        app.login("ada", &ada.password).await,
        app.get("/api/me", Some(&ada.token)).await,
        app.patch("/api/me", &json!({ "bio": "lost?" }), Some(&ada.token))
            .await,
    ] {
        let body = assert_problem(&response, 503);
        assert_eq!(response.header("retry-after"), Some("5"));
        let text = body.to_string();
        assert!(
            !text.contains("omni-test-password") && !text.contains("mysql://"),
            "{text}"
        );
    }
    // Liveness does not depend on the database.
    assert_eq!(app.get("/livez", None).await.status, 200);
    assert_eq!(app.get("/healthz", None).await.status, 200);

    server.restart().unwrap();
    assert_eq!(app.get("/readyz", None).await.status, 200);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(app.get("/api/me", Some(&ada.token)).await.json()["bio"], "");
    let logs = app.logs().join("\n");
    assert!(logs.contains("503: database unavailable"), "{logs}");
    assert!(!logs.contains("omni-test-password"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_jwt_secret_is_a_500_that_names_the_variable_in_the_log() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("jwt_secret".into(), "short-secret".into())],
        ..AppOptions::default()
    })
    .await;
    let body = assert_problem(&app.signup("ada", "analytical engine").await, 500);
    assert!(!body.to_string().contains("jwt_secret"));
    let logs = app.logs().join("\n");
    assert!(
        logs.contains("configuration variable `jwt_secret`: must be at least 32 bytes"),
        "{logs}"
    );
    assert!(!logs.contains("short-secret"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_db_host_that_disagrees_with_db_url_is_a_500_that_says_so() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("db_host".into(), "127.0.0.1:1".into())],
        ..AppOptions::default()
    })
    .await;
    assert_problem(&app.get("/readyz", None).await, 500);
    let logs = app.logs().join("\n");
    assert!(logs.contains("configuration variable `db_host`"), "{logs}");
    assert!(!logs.contains("omni-test-password"), "{logs}");
}
