//! Sessions that end: `POST /api/logout`, `POST /api/logout-all`, and a
//! password change, which ends every other session. A token whose session
//! has ended is a 401 at once, for reads of the caller and for writes.

use omni_testkit::{TestApp, TestUser, post_body, spawn_app};
use reqwest::Method;
use serde_json::json;

use crate::problems::{assert_invalid_fields, assert_problem};

/// A second login of `user`: another session, another token.
async fn another_session(app: &TestApp, user: &TestUser) -> String {
    let login = app.login(&user.username, &user.password).await;
    assert_eq!(login.status, 200, "{}", login.text());
    login.json()["token"].as_str().unwrap().to_owned()
}

async fn assert_ended(app: &TestApp, token: &str) {
    let me = app.get("/api/me", Some(token)).await;
    let body = assert_problem(&me, 401);
    assert_eq!(me.header("www-authenticate"), Some("Bearer"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("session has ended")
    );
    // Writes too.
    assert_problem(
        &app.post("/api/posts", &post_body("late"), Some(token))
            .await,
        401,
    );
    assert_problem(
        &app.patch("/api/me", &json!({ "bio": "x" }), Some(token))
            .await,
        401,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_that_token_and_no_other() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let other = another_session(&app, &ada).await;
    let response = app.post("/api/logout", &json!({}), Some(&ada.token)).await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty());
    assert_ended(&app, &ada.token).await;
    assert_eq!(app.get("/api/me", Some(&other)).await.status, 200);
    // Logging out again with the ended token is a 401.
    assert_problem(
        &app.post("/api/logout", &json!({}), Some(&ada.token)).await,
        401,
    );
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_ends_every_session_of_the_account_only() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let others = [
        another_session(&app, &ada).await,
        another_session(&app, &ada).await,
    ];
    let response = app
        .post("/api/logout-all", &json!({}), Some(&others[0]))
        .await;
    assert_eq!(response.status, 204, "{}", response.text());
    for token in others.iter().chain([&ada.token]) {
        assert_ended(&app, token).await;
    }
    assert_eq!(app.get("/api/me", Some(&bob.token)).await.status, 200);
    // A new login works again.
    let fresh = another_session(&app, &ada).await;
    assert_eq!(app.get("/api/me", Some(&fresh)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_needs_a_valid_token_and_post() {
    let app = spawn_app().await;
    for path in ["/api/logout", "/api/logout-all"] {
        assert_problem(&app.post(path, &json!({}), None).await, 401);
        assert_problem(&app.post(path, &json!({}), Some("not.a.token")).await, 401);
        let response = app.send(app.request(Method::GET, path)).await;
        assert_problem(&response, 405);
        assert_eq!(response.header("allow"), Some("POST"));
    }
}

/// `PUT /api/me/password`.
async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> omni_testkit::TestResponse {
    app.send(
        app.request(Method::PUT, "/api/me/password")
            .bearer_auth(token)
            .json(&json!({ "current_password": current, "new_password": new })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let other = another_session(&app, &ada).await;
    let response = change_password(&app, &ada.token, &ada.password, "a brand new secret").await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(app.get("/api/me", Some(&ada.token)).await.status, 200);
    assert_ended(&app, &other).await;
    assert_problem(&app.login("ada", &ada.password).await, 401);
    assert_eq!(app.login("ada", "a brand new secret").await.status, 200);
    let hash: String = app
        .scalar("SELECT password_hash FROM users WHERE username = 'ada'")
        .await;
    assert!(hash.starts_with("$2b$04$") && !hash.contains("brand"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_needs_the_current_password_and_keeps_the_rules() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let other = another_session(&app, &ada).await;
    let wrong = change_password(&app, &ada.token, "not my password", "a brand new secret").await;
    let body = assert_problem(&wrong, 403);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("password is wrong")
    );
    for (new, why) in [
        ("short", "at least 8 bytes"),
        ("password1", "most common"),
        ("Qwertyuiop", "most common"),
    ] {
        let response = change_password(&app, &ada.token, &ada.password, new).await;
        assert_invalid_fields(&response, &["new_password"]);
        assert!(
            response.json()["errors"]["new_password"][0]
                .as_str()
                .unwrap()
                .contains(why)
        );
    }
    assert_invalid_fields(
        &app.send(
            app.request(Method::PUT, "/api/me/password")
                .bearer_auth(&ada.token)
                .json(&json!({})),
        )
        .await,
        &["current_password", "new_password"],
    );
    // Nothing changed: every session lives, the old password works.
    assert_eq!(app.get("/api/me", Some(&other)).await.status, 200);
    assert_eq!(app.login("ada", &ada.password).await.status, 200);
    // No token, no change; the token is checked before the body.
    assert_problem(&change_password(&app, "", &ada.password, "x").await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_refuses_the_most_common_passwords() {
    let app = spawn_app().await;
    for common in ["password", "12345678", "iloveyou", "Football1"] {
        let response = app.signup("ada", common).await;
        assert_invalid_fields(&response, &["password"]);
        assert!(
            response.json()["errors"]["password"][0]
                .as_str()
                .unwrap()
                .contains("most common")
        );
    }
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_ended_on_the_api_ends_the_website_cookie_too() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let cookie = format!("__Host-omni=s.{}", another_session(&app, &ada).await);
    // (This client follows the redirect to the login form.)
    let page = |cookie: String| app.send(app.request(Method::GET, "/new").header("cookie", cookie));
    assert!(
        page(cookie.clone())
            .await
            .text()
            .contains("<h1>New project</h1>")
    );
    assert_eq!(
        app.post("/api/logout-all", &json!({}), Some(&ada.token))
            .await
            .status,
        204
    );
    let after = page(cookie).await.text();
    assert!(after.contains("<h1>Log in</h1>"), "{after}");
    assert!(after.contains(r#"name="next" value="/new""#));
}
