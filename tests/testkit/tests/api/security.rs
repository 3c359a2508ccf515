//! Hardening: path ids a client cannot spoof, response hygiene, free text
//! that shows something, ids unique across tables, and no database work for
//! a request refused at the door.

use std::collections::HashSet;

use futures::future::join_all;
use omni_testkit::{TestApp, id, spawn_app};
use serde_json::json;

use crate::problems::{assert_invalid_fields, assert_problem};

#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_path_match_header_is_ignored() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let first = id(&app.create_post(&ada, "first").await);
    let second = id(&app.create_post(&ada, "second").await);
    // The client names the second post in Spin's own header; the path
    // names the first. Spin appends its header after the client's.
    let response = app
        .send(
            app.request(reqwest::Method::DELETE, &format!("/api/posts/{first}"))
                .bearer_auth(&ada.token)
                .header("spin-path-match-id", &second),
        )
        .await;
    assert_eq!(response.status, 204);
    assert_eq!(
        app.get(&format!("/api/posts/{first}"), None).await.status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/posts/{second}"), None).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_profiles_are_never_stored_and_nothing_is_sniffed() {
    let app = spawn_app().await;
    let signup = app.signup("ada", "analytical engine").await;
    let login = app.login("ada", "analytical engine").await;
    let token = login.json()["token"].as_str().unwrap().to_owned();
    let me = app.get("/api/me", Some(&token)).await;
    let refused = app.get("/api/me", None).await;
    for (name, response) in [
        ("signup", &signup),
        ("login", &login),
        ("me", &me),
        ("401", &refused),
    ] {
        let cache_control = response.header("cache-control").unwrap_or_default();
        assert!(
            cache_control.contains("no-store"),
            "{name}: {cache_control}"
        );
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn text_made_only_of_invisible_characters_or_with_control_characters_is_refused() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let url = "https://example.com/readme.md";
    for title in [
        "\u{200b}\u{200d}",
        "\u{202e}\u{2066}",
        " \u{3164} ",
        "bell\u{7}",
    ] {
        let response = app
            .post(
                "/api/posts",
                &json!({ "title": title, "markdown_url": url }),
                Some(&ada.token),
            )
            .await;
        assert_invalid_fields(&response, &["title"]);
    }
    let post = app.create_post(&ada, "Engine").await;
    let id = post["id"].as_str().unwrap();
    let comment = app
        .post(
            &format!("/api/posts/{id}/comments"),
            &json!({ "body": "\u{feff}\u{200b}" }),
            Some(&ada.token),
        )
        .await;
    assert_invalid_fields(&comment, &["body"]);
    let profile = app
        .patch(
            "/api/me",
            &json!({ "display_name": "\u{2067}\u{2069}", "bio": "esc\u{1b}[31m" }),
            Some(&ada.token),
        )
        .await;
    assert_invalid_fields(&profile, &["bio", "display_name"]);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn free_text_is_stored_normalised() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let response = app
        .post(
            "/api/posts",
            &json!({
                "title": "Cafe\u{301}",
                "description": "one\r\ntwo",
                "markdown_url": "https://example.com/readme.md"
            }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let post = response.json();
    assert_eq!(post["title"], "Caf\u{e9}");
    assert_eq!(post["description"], "one\ntwo");
    let stored: String = app.scalar("SELECT title FROM posts").await;
    assert_eq!(stored, "Caf\u{e9}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_markdown_url_with_user_info_is_refused() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    for url in [
        "https://github.com@evil.example/readme.md",
        "https://user:pass@example.com/readme.md",
    ] {
        let response = app
            .post(
                "/api/posts",
                &json!({ "title": "Engine", "markdown_url": url }),
                Some(&ada.token),
            )
            .await;
        assert_invalid_fields(&response, &["markdown_url"]);
    }
}

/// Creates `n` posts and `n` comments at once, and returns every id.
async fn create_concurrently(app: &TestApp, n: usize) -> Vec<String> {
    let ada = app.create_user("ada").await;
    let post = id(&app.create_post(&ada, "target").await);
    let ada = &ada;
    let post = &post;
    let posts = (0..n).map(|i| async move {
        let body = json!({ "title": format!("p{i}"), "markdown_url": "https://x.io/a.md" });
        app.post("/api/posts", &body, Some(&ada.token)).await
    });
    let comments = (0..n).map(|i| async move {
        let body = json!({ "body": format!("c{i}") });
        app.post(
            &format!("/api/posts/{post}/comments"),
            &body,
            Some(&ada.token),
        )
        .await
    });
    let (posts, comments) = futures::join!(join_all(posts), join_all(comments));
    posts
        .iter()
        .chain(&comments)
        .map(|response| {
            assert_eq!(response.status, 201, "{}", response.text());
            response.json()["id"].as_str().unwrap().to_owned()
        })
        .chain([post.clone(), ada.id.clone()])
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_are_unique_across_tables_even_when_made_at_once() {
    let app = spawn_app().await;
    let ids = create_concurrently(&app, 40).await;
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
    // The low two bits name the table: 0 users, 1 posts, 2 comments.
    let kind = |id: &str| id.parse::<i64>().unwrap() & 3;
    let (posts, comments) = ids.split_at(40);
    assert!(posts.iter().all(|id| kind(id) == 1));
    assert!(comments[..40].iter().all(|id| kind(id) == 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_token_is_refused_before_the_database_is_opened() {
    let app = spawn_app().await;
    let me = || app.host().stats().component("me").statements;
    let response = app.get("/api/me", Some("not.a.token")).await;
    assert_problem(&response, 401);
    let update = app
        .patch("/api/me", &json!({ "bio": "x" }), Some("not.a.token"))
        .await;
    assert_problem(&update, 401);
    assert_eq!(me(), 0);
}

/// The `Strict-Transport-Security` of a GET of `path` sent with `headers`.
async fn hsts_of(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Option<String> {
    let mut request = app.request(reqwest::Method::GET, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request)
        .await
        .header("strict-transport-security")
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn hsts_is_sent_on_https_as_a_trusted_proxy_says_and_never_on_http() {
    let behind_proxy = omni_testkit::spawn_app_with(omni_testkit::AppOptions {
        variables: vec![("trusted_proxies".into(), "127.0.0.0/8".into())],
        ..omni_testkit::AppOptions::default()
    })
    .await;
    let https = [("x-forwarded-proto", "https")];
    for path in [
        "/healthz",
        "/api/posts",
        "/api/nope",
        "/",
        "/login",
        "/nope",
        "/api/logout",
    ] {
        assert_eq!(
            hsts_of(&behind_proxy, path, &https).await.as_deref(),
            Some("max-age=31536000"),
            "{path}"
        );
        assert_eq!(hsts_of(&behind_proxy, path, &[]).await, None, "{path}");
        let plain = [("x-forwarded-proto", "http")];
        assert_eq!(hsts_of(&behind_proxy, path, &plain).await, None, "{path}");
    }
    // Nobody else's X-Forwarded-Proto is believed.
    let direct = spawn_app().await;
    assert_eq!(hsts_of(&direct, "/healthz", &https).await, None);
    // An operator can change it, or turn it off.
    for (value, expected) in [
        (
            "max-age=63072000; includeSubDomains; preload",
            Some("max-age=63072000; includeSubDomains; preload"),
        ),
        ("", None),
    ] {
        let app = omni_testkit::spawn_app_with(omni_testkit::AppOptions {
            variables: vec![
                ("trusted_proxies".into(), "127.0.0.0/8".into()),
                ("hsts".into(), value.into()),
            ],
            ..omni_testkit::AppOptions::default()
        })
        .await;
        assert_eq!(hsts_of(&app, "/healthz", &https).await.as_deref(), expected);
    }
}
