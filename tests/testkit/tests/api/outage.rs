//! The database down, and a bad configuration: clear errors, nothing
//! half-written, no secret in the answer or the log.

use omni_testkit::{AppOptions, Backend, MariaDb, TestApp, mariadb_only, spawn_app_with};
use serde_json::json;

use crate::problems::assert_problem;

/// A database server that stops: Spin's SQLite has no server to lose. The
/// SQLite run leaves this out (`--skip mariadb_only::`).
mod mariadb_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stopped_database_is_a_503_with_retry_after_and_nothing_half_written() {
        mariadb_only("the SQLite run covers a locked database instead");
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
        assert!(
            logs.contains(r#""error":"unavailable""#) && logs.contains(r#""status":503"#),
            "{logs}"
        );
        assert!(!logs.contains("omni-test-password"), "{logs}");
    }
}

/// What a misconfigured jwt_secret must do: reads and signup still work,
/// but no token is issued or accepted, and readiness fails naming the
/// variable, never its value.
async fn assert_no_token_is_issued_or_accepted(app: &TestApp, bad_value: &str) {
    assert_eq!(app.signup("ada", "analytical engine").await.status, 201);
    assert_eq!(app.get("/api/posts", None).await.status, 200);
    let ready = assert_problem(&app.get("/readyz", None).await, 503);
    assert!(
        ready["detail"].as_str().unwrap().contains("`jwt_secret`"),
        "{ready}"
    );
    let login = app.login("ada", "analytical engine").await;
    assert_problem(&login, 503);
    assert_eq!(login.header("retry-after"), Some("5"));
    let me = app.get("/api/me", Some("a.b.c")).await;
    assert_problem(&me, 503);
    let logs = app.logs().join("\n");
    assert!(
        logs.contains("configuration variable `jwt_secret`"),
        "{logs}"
    );
    if !bad_value.is_empty() {
        for text in [&ready.to_string(), &logs] {
            assert!(!text.contains(bad_value), "the bad secret leaked: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_mysql_a_missing_jwt_secret_means_no_tokens_and_not_ready() {
    let app = spawn_app_with(AppOptions {
        backend: Some(Backend::MySql),
        variables: vec![("jwt_secret".into(), String::new())],
        ..AppOptions::default()
    })
    .await;
    assert_no_token_is_issued_or_accepted(&app, "").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_jwt_secret_means_no_tokens_and_not_ready() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("jwt_secret".into(), "short-secret".into())],
        ..AppOptions::default()
    })
    .await;
    assert_no_token_is_issued_or_accepted(&app, "short-secret").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_placeholder_jwt_secret_means_no_tokens_and_not_ready() {
    let placeholder = "CHANGE-ME-example-jwt-secret-not-for-production-use";
    let app = spawn_app_with(AppOptions {
        variables: vec![("jwt_secret".into(), placeholder.into())],
        ..AppOptions::default()
    })
    .await;
    assert_no_token_is_issued_or_accepted(&app, placeholder).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_db_host_that_disagrees_with_db_url_is_a_503_that_names_it() {
    let app = spawn_app_with(AppOptions {
        backend: Some(Backend::MySql),
        variables: vec![("db_host".into(), "127.0.0.1:1".into())],
        ..AppOptions::default()
    })
    .await;
    let body = assert_problem(&app.get("/readyz", None).await, 503);
    assert!(
        body["detail"].as_str().unwrap().contains("`db_host`"),
        "{body}"
    );
    let logs = app.logs().join("\n");
    assert!(logs.contains("configuration variable `db_host`"), "{logs}");
    assert!(!logs.contains("omni-test-password"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_database_locked_past_the_busy_timeout_is_a_503_and_nothing_half_written() {
    let app = spawn_app_with(AppOptions {
        backend: Some(Backend::Sqlite),
        ..AppOptions::default()
    })
    .await;
    let ada = app.create_user("ada").await;
    // Another connection holds the write lock for longer than Spin's 5 s
    // busy timeout.
    let path = app.sqlite_path().unwrap();
    let (locked, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let holder = std::thread::spawn(move || {
        let db = rusqlite::Connection::open(path).unwrap();
        db.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked.0.send(()).unwrap();
        release.1.recv().unwrap();
        db.execute_batch("ROLLBACK").unwrap();
    });
    locked.1.recv().unwrap();
    let response = app
        .patch("/api/me", &json!({ "bio": "lost?" }), Some(&ada.token))
        .await;
    release.0.send(()).unwrap();
    holder.join().unwrap();
    assert_problem(&response, 503);
    assert_eq!(response.header("retry-after"), Some("5"));
    assert_eq!(app.get("/api/me", Some(&ada.token)).await.json()["bio"], "");
    assert!(app.logs().join("\n").contains("database is locked"));
}
