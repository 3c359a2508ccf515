//! Bearer tokens: every way a token can be wrong is a 401 with
//! `WWW-Authenticate: Bearer`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use omni_testkit::app::JWT_SECRET;
use omni_testkit::{TestApp, TestUser, spawn_app};
use serde_json::{Value, json};

use crate::problems::assert_problem;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims for `user`'s live session (the one their token stands for),
/// so that a refusal can only be for what a test changes.
fn claims(user: &TestUser) -> Value {
    let payload = user.token.split('.').nth(1).unwrap();
    let issued: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    json!({
        "sub": user.id, "sid": issued["sid"], "iat": now(), "exp": now() + 3600,
        "iss": "omni", "aud": "omni-api",
    })
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn assert_refused(app: &TestApp, token: Option<&str>) {
    let response = app.get("/api/me", token).await;
    assert_problem(&response, 401);
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_signed_here_is_accepted_only_for_a_live_session_of_its_user() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let token = sign(&claims(&ada), JWT_SECRET.as_bytes());
    assert_eq!(app.get("/api/me", Some(&token)).await.status, 200);
    // Well signed, but no such session, or another user's session.
    let mut unknown = claims(&ada);
    unknown["sid"] = json!("12345");
    assert_refused(&app, Some(&sign(&unknown, JWT_SECRET.as_bytes()))).await;
    let mut stolen = claims(&bob);
    stolen["sid"] = claims(&ada)["sid"].clone();
    assert_refused(&app, Some(&sign(&stolen, JWT_SECRET.as_bytes()))).await;
    // No session at all.
    let mut bare = claims(&ada);
    bare.as_object_mut().unwrap().remove("sid");
    assert_refused(&app, Some(&sign(&bare, JWT_SECRET.as_bytes()))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_malformed_authorization_header_is_a_401() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    assert_refused(&app, None).await;
    for header in [
        ada.token.clone(),
        format!("Basic {}", ada.token),
        "Bearer".into(),
        "Bearer ".into(),
    ] {
        let response = app
            .send(
                app.request(reqwest::Method::GET, "/api/me")
                    .header("authorization", header),
            )
            .await;
        assert_problem(&response, 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_token_is_a_401() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let forged = sign(&claims(&ada), b"not-the-server-secret-but-long-enough");
    assert_refused(&app, Some(&forged)).await;
    // A real token with its payload swapped for another user's.
    let bob = app.create_user("bob").await;
    let mut parts: Vec<&str> = ada.token.split('.').collect();
    let bob_payload = bob.token.split('.').nth(1).unwrap().to_owned();
    parts[1] = &bob_payload;
    assert_refused(&app, Some(&parts.join("."))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_a_401() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let mut expired = claims(&ada);
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    assert_refused(&app, Some(&sign(&expired, JWT_SECRET.as_bytes()))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_alg_none_token_is_a_401() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(&ada).to_string());
    assert_refused(&app, Some(&format!("{header}.{payload}."))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_another_audience_or_issuer_is_a_401() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    for (claim, value) in [("aud", "another-api"), ("iss", "someone-else")] {
        let mut wrong = claims(&ada);
        wrong[claim] = json!(value);
        assert_refused(&app, Some(&sign(&wrong, JWT_SECRET.as_bytes()))).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_a_deleted_user_is_a_401() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    app.execute(&format!("DELETE FROM users WHERE id = {}", ada.id))
        .await;
    assert_refused(&app, Some(&ada.token)).await;
    let response = app
        .patch("/api/me", &json!({ "bio": "ghost" }), Some(&ada.token))
        .await;
    assert_problem(&response, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn issued_tokens_carry_the_contracts_claims() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let mut parts = ada.token.split('.');
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(payload["sub"], ada.id);
    assert_eq!(payload["iss"], "omni");
    assert_eq!(payload["aud"], "omni-api");
    let lifetime = payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 24 * 3600);
}
