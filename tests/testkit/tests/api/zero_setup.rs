//! Zero setup: with no variables at all, Omni runs on Spin's built-in
//! SQLite, migrates it itself on first use, and signs tokens with a key it
//! generates and keeps there.

use std::process::Command;

use futures::future::join_all;
use omni_testkit::{AppOptions, Backend, TestApp, spawn_app_with, workspace_root};
use serde_json::json;

async fn zero_setup_app() -> TestApp {
    spawn_app_with(AppOptions {
        backend: Some(Backend::Sqlite),
        zero_setup: true,
        ..AppOptions::default()
    })
    .await
}

/// The shell block under the heading "A session with curl" in the README.
fn readme_curl_session() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("# A session with curl\n")
        .nth(1)
        .expect("the README has a curl session");
    let block = section.split("```sh\n").nth(1).expect("a sh block");
    block.split("```").next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_curl_session_works_as_written_with_no_setup() {
    let app = zero_setup_app().await;
    let session = readme_curl_session().replace("http://127.0.0.1:3000", &app.url());
    // Every request must succeed: curl fails on an HTTP error status, and
    // the script stops at the first failure. jq -e fails on null ids.
    let script = format!(
        "set -euo pipefail\n\
         curl() {{ command curl --fail-with-body --show-error \"$@\"; echo; }}\n\
         {session}\n\
         test \"$token\" != null && test \"$post\" != null\n"
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the README session failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Runs the Bernoulli program!"), "{stdout}");
    assert!(stdout.contains("\"total_items\":1"), "{stdout}");
    let logs = app.logs().join("\n");
    assert!(logs.contains("running in local mode"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_first_requests_to_a_fresh_database_all_succeed_and_migrate_it_once() {
    let app = zero_setup_app().await;
    let requests = (0..12).map(|n| {
        let app = &app;
        async move {
            match n % 3 {
                0 => app.get("/api/posts", None).await.status,
                1 => app.get("/readyz", None).await.status,
                _ => {
                    app.signup(&format!("user{n}"), "password-of-a-user")
                        .await
                        .status
                }
            }
        }
    });
    let statuses = join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );
    assert_eq!(
        app.scalar::<i64>("PRAGMA user_version").await,
        omni_shared::db::SQLITE_MIGRATIONS.len() as i64
    );
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 4);
    let logs = app.logs();
    let migrations = logs
        .iter()
        .filter(|line| line.contains("migrated from schema version 0"))
        .count();
    assert_eq!(migrations, 1, "{logs:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_signing_key_is_made_once_and_signs_every_token() {
    let app = zero_setup_app().await;
    assert_eq!(app.signup("ada", "analytical engine").await.status, 201);
    let logins = join_all((0..4).map(|_| app.login("ada", "analytical engine"))).await;
    for login in &logins {
        assert_eq!(login.status, 200, "{}", login.text());
        let token = login.json()["token"].as_str().unwrap().to_owned();
        assert_eq!(app.get("/api/me", Some(&token)).await.status, 200);
    }
    let key: String = app
        .scalar("SELECT value FROM local_settings WHERE name = 'jwt_secret'")
        .await;
    assert_eq!(key.len(), 64, "256 bits, hex");
    assert_eq!(
        app.logs()
            .iter()
            .filter(|line| line.contains("running in local mode"))
            .count(),
        1
    );
    // A token signed with anything else is refused.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": "1", "iat": 0, "exp": 4_000_000_000_i64, "iss": "omni", "aud": "omni-api" }),
        &jsonwebtoken::EncodingKey::from_secret(omni_testkit::app::JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(app.get("/api/me", Some(&forged)).await.status, 401);
}
