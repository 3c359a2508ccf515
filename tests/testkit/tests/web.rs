//! End-to-end tests of the website over HTTP: the compiled page components
//! in the test host, a real database, and a client that keeps the session
//! cookie and follows no redirects, so every status and header is seen.
//! (The browser tests in tests/browser cover what needs a browser.)

// Test code: a panic is how a helper fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Search, feeds, the sitemap and preview meta.
#[path = "web/discovery.rs"]
mod discovery;

use omni_testkit::{AppOptions, MariaDb, TestApp, spawn_app, spawn_app_with};
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use serde_json::json;

const PASSWORD: &str = "analytical engine";

/// A browser-like client: one cookie jar of one cookie, no redirects.
struct Visitor {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

#[derive(Debug)]
struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of the first hidden `name` field on the page.
    fn hidden(&self, name: &str) -> String {
        let marker = format!(r#"name="{name}" value=""#);
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    /// The CSRF token of the first form on the page.
    fn csrf(&self) -> String {
        let start = self
            .body
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body))
            + r#"name="csrf" value=""#.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: app.url(),
            cookie: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", format!("__Host-omni={cookie}")),
            None => request,
        };
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            let value = set
                .strip_prefix("__Host-omni=")
                .and_then(|rest| rest.split(';').next())
                .unwrap();
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        Page {
            status: response.status().as_u16(),
            headers,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// A form POST as a browser sends it from one of the site's pages.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_from(path, fields, "same-origin").await
    }

    async fn post_from(&mut self, path: &str, fields: &[(&str, &str)], site: &str) -> Page {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("sec-fetch-site", site)
            .form(fields);
        self.send(request).await
    }

    /// Signs up through the form, which logs in.
    async fn sign_up(&mut self, username: &str) {
        let form = self.get("/signup").await;
        let page = self
            .post(
                "/signup",
                &[
                    ("csrf", &form.csrf()),
                    ("username", username),
                    ("password", PASSWORD),
                    ("display_name", ""),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
    }

    /// The CSRF token of the visitor's session, from any page.
    async fn csrf(&mut self) -> String {
        self.get("/new").await.csrf()
    }
}

/// Publishes a project through the form and returns its id.
async fn publish(visitor: &mut Visitor, title: &str) -> String {
    let csrf = visitor.csrf().await;
    let page = visitor
        .post(
            "/new",
            &[
                ("csrf", &csrf),
                ("title", title),
                ("description", ""),
                ("markdown_url", "https://example.com/r.md"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    page.header("location")
        .unwrap()
        .strip_prefix("/posts/")
        .unwrap()
        .to_owned()
}

fn assert_secure_headers(page: &Page) {
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.header("referrer-policy").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let home = visitor.get("/").await;
    assert_eq!(home.status, 200);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    // An anonymous visitor's public page may be cached briefly (it has no
    // form and nothing personal); see the cache tests for the rest.
    assert_eq!(
        home.header("cache-control"),
        Some("public, max-age=5, stale-while-revalidate=30")
    );
    assert!(home.header("etag").is_some());
    let not_found = visitor.get("/nope").await;
    assert_eq!(not_found.status, 404);
    let bad_paging = visitor.get("/?before=x").await;
    assert_eq!(bad_paging.status, 400);
    let redirect = visitor.get("/new").await;
    assert_eq!(redirect.status, 303);
    let wrong_method = visitor.post("/", &[]).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET"));
    for page in [&home, &not_found, &bad_paging, &redirect, &wrong_method] {
        assert_secure_headers(page);
    }
    // No inline script or style anywhere, so the CSP needs no exception.
    assert!(!home.body.contains("<script") && !home.body.contains("style="));
}

#[tokio::test(flavor = "multi_thread")]
async fn static_files_have_hashed_names_and_are_cached_forever() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let home = visitor.get("/").await;
    let start = home.body.find("/static/style.").unwrap();
    let path = &home.body[start..start + home.body[start..].find('"').unwrap()];
    let css = visitor.get(path).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        css.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(css.header("x-content-type-options"), Some("nosniff"));
    assert!(css.body.contains("prefers-color-scheme: dark"));
    let unhashed = visitor.get("/static/style.css").await;
    assert_eq!(unhashed.status, 404);
    assert!(unhashed.body.contains("Page not found"));
    assert_eq!(visitor.post(path, &[]).await.status, 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_up_sets_a_host_only_httponly_secure_lax_session_cookie() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get("/signup").await;
    let form_cookie = form.header("set-cookie").unwrap();
    assert!(form_cookie.starts_with("__Host-omni=f."), "{form_cookie}");
    let page = visitor
        .post(
            "/signup",
            &[
                ("csrf", &form.csrf()),
                ("username", "ada"),
                ("password", PASSWORD),
                ("display_name", "Ada"),
                ("next", "/new"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/new"));
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-omni=s.ey"), "{cookie}");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=86400",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"));
    // The session is an API token for the same user.
    let token = visitor.cookie.clone().unwrap();
    let me = app.get("/api/me", Some(&token[2..])).await;
    assert_eq!(me.json()["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_its_csrf_token_or_from_another_site_is_refused() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada").await;
    let post = publish(&mut visitor, "Engine").await;
    let csrf = visitor.csrf().await;
    let path = format!("/posts/{post}/comments");
    let comments = || async {
        app.get(&format!("/api/posts/{post}/comments"), None)
            .await
            .json()["total_items"]
            .clone()
    };

    let missing = visitor.post(&path, &[("body", "hi")]).await;
    assert_eq!(missing.status, 403);
    assert!(missing.body.contains("This form has expired"));
    let wrong = visitor
        .post(&path, &[("csrf", &"0".repeat(64)), ("body", "hi")])
        .await;
    assert_eq!(wrong.status, 403);
    for site in ["cross-site", "same-site"] {
        let foreign = visitor
            .post_from(&path, &[("csrf", &csrf), ("body", "hi")], site)
            .await;
        assert_eq!(foreign.status, 403, "{site}");
        assert!(foreign.body.contains("sent from another site"));
    }
    // A browser without Sec-Fetch-Site: Origin decides.
    let request = visitor
        .client
        .post(format!("{}{path}", visitor.base))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("body", "hi")]);
    assert_eq!(visitor.send(request).await.status, 403);
    assert_eq!(comments().await, 0);

    // Another visitor's token does not fit this session.
    let mut other = Visitor::new(&app);
    other.sign_up("grace").await;
    let foreign_token = other.csrf().await;
    let swapped = visitor
        .post(&path, &[("csrf", &foreign_token), ("body", "hi")])
        .await;
    assert_eq!(swapped.status, 403);

    let good = visitor
        .post(&path, &[("csrf", &csrf), ("body", "hi")])
        .await;
    assert_eq!(good.status, 303);
    assert_eq!(comments().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_in_needs_the_form_cookie_the_login_page_set() {
    let app = spawn_app().await;
    app.create_user("ada").await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get("/login").await;
    let fields = [
        ("csrf", form.csrf()),
        ("username", "ada".to_owned()),
        ("password", "ada-password".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();

    // Without the cookie (another site's form cannot send it), refused.
    let mut stranger = Visitor::new(&app);
    assert_eq!(stranger.post("/login", &fields).await.status, 403);
    assert!(stranger.cookie.is_none());

    let page = visitor.post("/login", &fields).await;
    assert_eq!(page.status, 303);
    assert!(visitor.cookie.as_deref().unwrap().starts_with("s."));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_shows_the_form_again_without_saying_which_part_was_wrong() {
    let app = spawn_app().await;
    app.create_user("ada").await;
    let mut visitor = Visitor::new(&app);
    for username in ["ada", "nobody"] {
        let form = visitor.get("/login").await;
        let page = visitor
            .post(
                "/login",
                &[
                    ("csrf", &form.csrf()),
                    ("username", username),
                    ("password", "wrong password"),
                ],
            )
            .await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains("Wrong username or password."));
        assert!(page.body.contains(&format!(r#"value="{username}""#)));
        assert!(!page.body.contains("wrong password"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_local_path_is_followed_after_login() {
    let app = spawn_app().await;
    app.create_user("ada").await;
    for (next, expected) in [
        ("/posts/1?x=1", "/posts/1?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
    ] {
        let mut visitor = Visitor::new(&app);
        let form = visitor.get("/login").await;
        let page = visitor
            .post(
                "/login",
                &[
                    ("csrf", &form.csrf()),
                    ("username", "ada"),
                    ("password", "ada-password"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(page.header("location"), Some(expected), "{next}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_accounts_cookie_is_logged_out_and_cleared() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada").await;
    let csrf = visitor.csrf().await;
    let old_cookie = visitor.cookie.clone();
    app.execute("DELETE FROM users WHERE username = 'ada'")
        .await;

    let home = visitor.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains(">Log in</a>"));
    assert!(!home.body.contains("Log out"));
    assert!(
        home.header("set-cookie")
            .unwrap()
            .starts_with("__Host-omni=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0")
    );
    assert!(visitor.cookie.is_none());

    // A form sent with the old cookie acts for no one: log in first.
    visitor.cookie = old_cookie;
    let page = visitor
        .post(
            "/new",
            &[
                ("csrf", &csrf),
                ("title", "Ghost"),
                ("description", ""),
                ("markdown_url", "https://example.com/"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login?next=/new"));
    assert_eq!(app.get("/api/posts", None).await.json()["total_items"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_that_need_a_login_send_the_visitor_to_log_in_and_back() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    for path in ["/new", "/profile/edit", "/posts/1/edit", "/comments/1/edit"] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(
            page.header("location").unwrap(),
            format!("/login?next={path}")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_projects_author_may_edit_or_delete_it_through_the_forms() {
    let app = spawn_app().await;
    let mut ada = Visitor::new(&app);
    ada.sign_up("ada").await;
    let post = publish(&mut ada, "Engine").await;
    let mut eve = Visitor::new(&app);
    eve.sign_up("eve").await;
    let csrf = eve.csrf().await;

    assert_eq!(eve.get(&format!("/posts/{post}/edit")).await.status, 403);
    let edit = eve
        .post(
            &format!("/posts/{post}/edit"),
            &[
                ("csrf", &csrf),
                ("title", "Mine now"),
                ("description", ""),
                ("markdown_url", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(edit.status, 403);
    let delete = eve
        .post(&format!("/posts/{post}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(delete.status, 403);
    let still = app.get(&format!("/api/posts/{post}"), None).await.json();
    assert_eq!(still["title"], "Engine");

    let csrf = ada.csrf().await;
    let deleted = ada
        .post(&format!("/posts/{post}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(
        app.get(&format!("/api/posts/{post}"), None).await.status,
        404
    );
    assert_eq!(ada.get(&format!("/posts/{post}")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projects_author_may_delete_anyones_comment_on_it_but_not_edit_it() {
    let app = spawn_app().await;
    let mut ada = Visitor::new(&app);
    ada.sign_up("ada").await;
    let post = publish(&mut ada, "Engine").await;
    let grace = app.create_user("grace").await;
    let comment = app.create_comment(&grace, &post, "Nice").await;
    let id = comment["id"].as_str().unwrap();
    let csrf = ada.csrf().await;

    assert_eq!(ada.get(&format!("/comments/{id}/edit")).await.status, 403);
    let edit = ada
        .post(
            &format!("/comments/{id}/edit"),
            &[("csrf", &csrf), ("body", "Changed")],
        )
        .await;
    assert_eq!(edit.status, 403);
    let delete = ada
        .post(&format!("/comments/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(delete.status, 303);
    assert_eq!(
        delete.header("location").unwrap(),
        format!("/posts/{post}#comments")
    );
    let left = app
        .get(&format!("/api/posts/{post}/comments"), None)
        .await
        .json();
    assert_eq!(left["total_items"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_text_is_shown_escaped_and_a_bad_write_up_is_never_a_link() {
    let app = spawn_app().await;
    let user = app.create_user("mallory").await;
    let hostile = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let post = app
        .post(
            "/api/posts",
            &json!({ "title": hostile, "description": hostile, "markdown_url": "https://example.com/" }),
            Some(&user.token),
        )
        .await
        .json();
    let id = post["id"].as_str().unwrap();
    // Validation never stores such a URL; the page must not link it even
    // if the database says so.
    app.execute(&format!(
        "UPDATE posts SET markdown_url = 'javascript:alert(4)' WHERE id = {id}"
    ))
    .await;
    let mut visitor = Visitor::new(&app);
    for path in [
        "/".to_owned(),
        format!("/posts/{id}"),
        format!("/users/{}", user.id),
    ] {
        let page = visitor.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
    }
    let page = visitor.get(&format!("/posts/{id}")).await;
    assert!(!page.body.contains(r#"href="javascript"#));
    assert!(!page.body.contains("Read the write-up"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_body_that_is_not_urlencoded_is_refused() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada").await;
    let request = visitor
        .client
        .post(format!("{}/new", visitor.base))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({ "title": "x" }));
    let page = visitor.send(request).await;
    assert_eq!(page.status, 415);
    assert!(page.body.contains("<h1>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_database_is_a_503_page_that_says_to_wait_and_reload() {
    let mut server = MariaDb::start().unwrap();
    let app = TestApp::spawn_on(&server, AppOptions::default()).await;
    let mut visitor = Visitor::new(&app);
    server.stop().unwrap();
    for path in ["/", "/posts/1", "/users/1"] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 503, "{path}");
        assert_eq!(page.header("retry-after"), Some("5"));
        assert_secure_headers(&page);
        assert!(page.body.contains("<h1>Omni is unavailable</h1>"));
        assert!(
            page.body
                .contains("may not have been saved; check before you retry")
        );
        assert!(!page.body.contains("it was not saved"));
        assert!(!page.body.contains("mysql://"));
    }
    // Pages that need no data need no database either.
    assert_eq!(visitor.get("/nope").await.status, 404);
    assert_eq!(visitor.get("/login").await.status, 200);
    server.restart().unwrap();
    assert_eq!(visitor.get("/").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_signing_key_is_a_503_page_for_forms_and_never_shows_the_key() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("jwt_secret".into(), "short-secret".into())],
        ..AppOptions::default()
    })
    .await;
    let mut visitor = Visitor::new(&app);
    // Reading needs no key.
    assert_eq!(visitor.get("/").await.status, 200);
    // A form needs its CSRF token, which needs the key.
    let page = visitor.get("/login").await;
    assert_eq!(page.status, 503);
    assert_secure_headers(&page);
    assert!(page.body.contains("<h1>Omni is unavailable</h1>"));
    assert!(!page.body.contains("short-secret"));
    let logs = app.logs().join("\n");
    assert!(
        logs.contains("configuration variable `jwt_secret`"),
        "{logs}"
    );
    assert!(!logs.contains("short-secret"));
}

/// Logs `visitor` in as `username` through the form.
async fn log_in(visitor: &mut Visitor, username: &str, password: &str) -> Page {
    let form = visitor.get("/login").await;
    visitor
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("username", username),
                ("password", password),
            ],
        )
        .await
}

/// Whether `visitor`'s cookie still holds a live session.
async fn logged_in(visitor: &mut Visitor) -> bool {
    visitor.get("/new").await.status == 200
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_out_ends_the_session_on_the_server_not_just_in_the_browser() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada").await;
    let copied = visitor.cookie.clone();
    let csrf = visitor.csrf().await;
    let page = visitor.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    assert!(visitor.cookie.is_none());
    // The cookie, copied before, no longer logs anyone in.
    visitor.cookie = copied;
    assert!(!logged_in(&mut visitor).await);
    assert!(visitor.cookie.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn log_out_everywhere_ends_every_session_of_the_account() {
    let app = spawn_app().await;
    let mut laptop = Visitor::new(&app);
    laptop.sign_up("ada").await;
    let mut phone = Visitor::new(&app);
    assert_eq!(log_in(&mut phone, "ada", PASSWORD).await.status, 303);
    let mut bob = Visitor::new(&app);
    bob.sign_up("bob").await;
    let account = laptop.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("Log out everywhere"));
    let page = laptop
        .post("/account/logout-everywhere", &[("csrf", &account.csrf())])
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/"));
    assert!(laptop.cookie.is_none());
    assert!(!logged_in(&mut phone).await);
    assert!(logged_in(&mut bob).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_on_the_website_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let mut laptop = Visitor::new(&app);
    laptop.sign_up("ada").await;
    let mut phone = Visitor::new(&app);
    log_in(&mut phone, "ada", PASSWORD).await;
    let form = laptop.get("/account/password").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let change = |current: &'static str, new: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("current_password", current.to_owned()),
            ("new_password", new.to_owned()),
        ]
    };
    async fn send(visitor: &mut Visitor, fields: [(&str, String); 3]) -> Page {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        visitor.post("/account/password", &fields).await
    }
    let wrong = send(&mut laptop, change("not my password", "a brand new secret")).await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("Your current password is wrong."));
    let common = send(&mut laptop, change(PASSWORD, "password1")).await;
    assert_eq!(common.status, 422);
    assert!(common.body.contains("most common passwords"));
    assert!(!common.body.contains(PASSWORD));
    let done = send(&mut laptop, change(PASSWORD, "a brand new secret")).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), Some("/account?done=password"));
    let account = laptop.get("/account?done=password").await;
    assert!(account.body.contains("Your password is changed."));
    assert!(logged_in(&mut laptop).await);
    assert!(!logged_in(&mut phone).await);
    assert_eq!(
        log_in(&mut phone, "ada", "a brand new secret").await.status,
        303
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_page_downloads_everything_the_account_holds() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada").await;
    let post = publish(&mut visitor, "Analytical Engine").await;
    let download = visitor.get("/account/export").await;
    assert_eq!(download.status, 200);
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=\"omni-ada.json\"")
    );
    assert_eq!(download.header("cache-control"), Some("no-store"));
    let export: serde_json::Value = serde_json::from_str(&download.body).unwrap();
    assert_eq!(export["user"]["username"], "ada");
    assert_eq!(export["posts"][0]["id"], post);
    // Logged out, it is not there to take.
    let mut stranger = Visitor::new(&app);
    let page = stranger.get("/account/export").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login?next=/account"));
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_on_the_website_needs_the_password_then_logs_out() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada").await;
    publish(&mut visitor, "Analytical Engine").await;
    let form = visitor.get("/account/delete").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let wrong = visitor
        .post(
            "/account/delete",
            &[("csrf", &csrf), ("password", "not my password")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("The password is wrong."));
    let empty = visitor
        .post("/account/delete", &[("csrf", &csrf), ("password", "")])
        .await;
    assert_eq!(empty.status, 422);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
    let done = visitor
        .post(
            "/account/delete",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.header("location"), Some("/"));
    assert!(visitor.cookie.is_none());
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 0);
    assert!(!visitor.get("/").await.body.contains("Analytical Engine"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_form_sent_twice_creates_once() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada").await;
    let form = visitor.get("/new").await;
    let key = form.hidden("idempotency_key");
    assert_eq!(key.len(), 32);
    let fields = [
        ("csrf", form.csrf()),
        ("idempotency_key", key.clone()),
        ("title", "Engine".to_owned()),
        ("description", String::new()),
        ("markdown_url", "https://example.com/r.md".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let first = visitor.post("/new", &fields).await;
    let again = visitor.post("/new", &fields).await;
    assert_eq!((first.status, again.status), (303, 303));
    assert_eq!(first.header("location"), again.header("location"));
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
    // A fresh form is a fresh key.
    assert_ne!(visitor.get("/new").await.hidden("idempotency_key"), key);

    let post = first.header("location").unwrap().to_owned();
    let page = visitor.get(&post).await;
    let comment = [
        ("csrf", page.csrf()),
        ("idempotency_key", page.hidden("idempotency_key")),
        ("body", "First!".to_owned()),
    ];
    let comment: Vec<(&str, &str)> = comment.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let target = format!("{post}/comments");
    let one = visitor.post(&target, &comment).await;
    let two = visitor.post(&target, &comment).await;
    assert_eq!((one.status, two.status), (303, 303));
    assert_eq!(one.header("location"), two.header("location"));
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_varies_by_cookie_and_only_anonymous_ones_are_shared() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let anonymous = visitor.get("/").await;
    assert_eq!(anonymous.header("vary"), Some("Cookie"));
    assert!(
        anonymous
            .header("cache-control")
            .unwrap()
            .starts_with("public")
    );
    visitor.sign_up("ada").await;
    for path in ["/", "/new", "/account"] {
        let page = visitor.get(path).await;
        assert_eq!(page.header("vary"), Some("Cookie"), "{path}");
        let cache_control = page.header("cache-control").unwrap();
        assert!(
            cache_control.contains("no-store"),
            "{path}: {cache_control}"
        );
    }
}
