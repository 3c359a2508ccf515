//! `POST /api/signup`, `POST /api/login`, `GET|PATCH /api/me`.

use omni_testkit::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::problems::{assert_invalid_fields, assert_problem};

#[tokio::test(flavor = "multi_thread")]
async fn signup_returns_201_with_the_user_and_its_location() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/signup",
            &json!({ "username": "Ada_Lovelace", "password": "analytical engine", "display_name": "Ada" }),
            None,
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let user = response.json();
    let id = user["id"].as_str().expect("the id is a string");
    assert!(id.parse::<i64>().is_ok(), "{id}");
    assert_eq!(
        response.header("location"),
        Some(format!("/api/users/{id}").as_str())
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(user["username"], "Ada_Lovelace");
    assert_eq!(user["display_name"], "Ada");
    assert_eq!(user["bio"], "");
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    let mut keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["bio", "created_at", "display_name", "id", "username"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_stores_a_bcrypt_hash_never_the_password() {
    let app = spawn_app().await;
    app.signup("ada", "analytical engine").await;
    let hash: String = app
        .scalar("SELECT password_hash FROM users WHERE username = 'ada'")
        .await;
    assert!(hash.starts_with("$2b$04$"), "{hash}");
    assert!(!hash.contains("analytical"));
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_returns_409_for_a_username_taken_in_another_case() {
    let app = spawn_app().await;
    assert_eq!(app.signup("Ada", "password-one").await.status, 201);
    let body = assert_problem(&app.signup("aDA", "password-two").await, 409);
    assert!(body["detail"].as_str().unwrap().contains("taken"));
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_returns_422_naming_every_invalid_field() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/signup",
            &json!({ "username": "a!", "password": "short", "display_name": "x".repeat(65) }),
            None,
        )
        .await;
    assert_invalid_fields(&response, &["display_name", "password", "username"]);
    let missing = app.post("/api/signup", &json!({}), None).await;
    assert_invalid_fields(&missing, &["password", "username"]);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_returns_422_for_fields_of_the_wrong_type() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/signup",
            &json!({ "username": 12345, "password": ["a"], "display_name": null }),
            None,
        )
        .await;
    let body = response.json();
    assert_invalid_fields(&response, &["display_name", "password", "username"]);
    assert_eq!(body["errors"]["username"][0], "must be a string");
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_takes_a_72_byte_password_and_refuses_73() {
    let app = spawn_app().await;
    assert_eq!(app.signup("seventytwo", &"p".repeat(72)).await.status, 201);
    let response = app.signup("seventythree", &"p".repeat(73)).await;
    assert_invalid_fields(&response, &["password"]);
    // 24 three-byte characters are 72 bytes; 25 are 75.
    assert_eq!(app.signup("euros_ok", &"€".repeat(24)).await.status, 201);
    assert_invalid_fields(
        &app.signup("euros_no", &"€".repeat(25)).await,
        &["password"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_ignores_fields_it_does_not_own() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/signup",
            &json!({
                "username": "ada", "password": "analytical engine",
                "id": "42", "created_at": "2000-01-01T00:00:00.000Z", "bio": "injected", "is_admin": true,
            }),
            None,
        )
        .await;
    assert_eq!(response.status, 201);
    let user = response.json();
    assert_ne!(user["id"], "42");
    assert_ne!(user["created_at"], "2000-01-01T00:00:00.000Z");
    assert_eq!(user["bio"], "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_json_body_is_a_400() {
    let app = spawn_app().await;
    for body in [
        "{",
        "{\"username\": }",
        "",
        "not json",
        "[1, 2]",
        "\"text\"",
        "null",
    ] {
        let response = app
            .send(
                app.request(Method::POST, "/api/signup")
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_problem(&response, 400);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app().await;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app
            .request(Method::POST, "/api/signup")
            .body(r#"{"username":"ada","password":"analytical engine"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        assert_problem(&app.send(request).await, 415);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_64_kib_is_a_413() {
    let app = spawn_app().await;
    let padding = "x".repeat(64 * 1024);
    let response = app
        .post(
            "/api/signup",
            &json!({ "username": "ada", "password": "analytical engine", "padding": padding }),
            None,
        )
        .await;
    assert_problem(&response, 413);
    // Exactly 64 KiB is still allowed.
    let body = json!({ "username": "ada", "password": "analytical engine", "padding": "" });
    let filler = 64 * 1024 - body.to_string().len();
    let body = json!({ "username": "ada", "password": "analytical engine", "padding": "x".repeat(filler) });
    assert_eq!(body.to_string().len(), 64 * 1024);
    assert_eq!(app.post("/api/signup", &body, None).await.status, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_body_over_64_kib_is_a_413_without_reading_it_all() {
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.host().addr())
        .await
        .unwrap();
    let head = "POST /api/signup HTTP/1.1\r\nHost: omni\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
    for _ in 0..5 {
        // The server may answer and close before all chunks are sent.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_answers_405_with_allow_for_other_methods() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let response = app.send(app.request(method, "/api/signup")).await;
        assert_problem(&response, 405);
        assert_eq!(response.header("allow"), Some("POST"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn login_returns_a_bearer_token_that_works() {
    let app = spawn_app().await;
    app.signup("ada", "analytical engine").await;
    let response = app.login("ada", "analytical engine").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["username"], "ada");
    assert!(body["user"].get("password_hash").is_none());
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = body["token"].as_str().unwrap();
    let me = app.get("/api/me", Some(token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_ignores_the_case_of_the_username() {
    let app = spawn_app().await;
    app.signup("Ada", "analytical engine").await;
    let response = app.login("ADA", "analytical engine").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["user"]["username"], "Ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_returns_the_same_401_for_an_unknown_user_and_a_wrong_password() {
    let app = spawn_app().await;
    app.signup("ada", "analytical engine").await;
    let wrong_password = app.login("ada", "difference engine").await;
    let unknown_user = app.login("charles", "difference engine").await;
    let body = assert_problem(&wrong_password, 401);
    assert_eq!(body, assert_problem(&unknown_user, 401));
    assert_eq!(wrong_password.header("www-authenticate"), Some("Bearer"));
    assert_eq!(unknown_user.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refuses_a_73_byte_password_whose_first_72_bytes_match() {
    let app = spawn_app().await;
    let password = "p".repeat(72);
    app.signup("ada", &password).await;
    assert_eq!(app.login("ada", &password).await.status, 200);
    assert_problem(&app.login("ada", &format!("{password}x")).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_returns_422_when_a_field_is_missing() {
    let app = spawn_app().await;
    let response = app
        .post("/api/login", &json!({ "username": "ada" }), None)
        .await;
    assert_invalid_fields(&response, &["password"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn me_returns_the_callers_profile() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let response = app.get("/api/me", Some(&ada.token)).await;
    assert_eq!(response.status, 200);
    let me = response.json();
    assert_eq!(me["id"], ada.id);
    assert_eq!(me["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_me_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let response = app
        .patch(
            "/api/me",
            &json!({ "bio": "Wrote the first program." }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["bio"], "Wrote the first program.");
    assert_eq!(response.json()["display_name"], "");
    let response = app
        .patch(
            "/api/me",
            &json!({ "display_name": "Ada L." }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(response.json()["bio"], "Wrote the first program.");
    assert_eq!(response.json()["display_name"], "Ada L.");
    let stored = app.get("/api/me", Some(&ada.token)).await.json();
    assert_eq!(stored["bio"], "Wrote the first program.");
    assert_eq!(stored["display_name"], "Ada L.");
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_me_never_applies_id_or_username() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let response = app
        .patch(
            "/api/me",
            &json!({ "id": "1", "username": "root", "created_at": "2000-01-01T00:00:00.000Z" }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["id"], ada.id);
    assert_eq!(response.json()["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_me_returns_422_for_an_over_long_bio_and_changes_nothing() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let response = app
        .patch(
            "/api/me",
            &json!({ "bio": "b".repeat(501), "display_name": "fine" }),
            Some(&ada.token),
        )
        .await;
    assert_invalid_fields(&response, &["bio"]);
    assert_eq!(
        app.get("/api/me", Some(&ada.token)).await.json()["display_name"],
        ""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_me_checks_the_token_before_the_body() {
    let app = spawn_app().await;
    let response = app.patch("/api/me", &json!({ "bio": 5 }), None).await;
    assert_problem(&response, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn me_answers_405_with_allow_for_other_methods() {
    let app = spawn_app().await;
    let response = app.send(app.request(Method::DELETE, "/api/me")).await;
    assert_problem(&response, 405);
    assert_eq!(response.header("allow"), Some("GET, PATCH"));
}

async fn user_count(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM users").await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_and_secrets_never_reach_the_log() {
    let app = spawn_app().await;
    app.signup("ada", "analytical engine").await;
    app.login("ada", "analytical engine").await;
    app.login("ada", "wrong password").await;
    assert_eq!(user_count(&app).await, 1);
    let logs = app.logs().join("\n");
    for secret in [
        "analytical engine",
        "wrong password",
        omni_testkit::app::JWT_SECRET,
        "omni-test-password",
    ] {
        assert!(!logs.contains(secret), "{secret:?} in the log:\n{logs}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bcrypt_cost_below_10_warns_on_every_use() {
    let app = spawn_app().await;
    app.signup("ada", "analytical engine").await;
    app.login("ada", "analytical engine").await;
    let warnings = app
        .logs()
        .iter()
        .filter(|line| {
            line.contains(r#""event":"weak_bcrypt_cost""#) && line.contains(r#""cost":4"#)
        })
        .count();
    assert_eq!(warnings, 2, "{:?}", app.logs());
}
