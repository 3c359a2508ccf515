//! `GET /api/posts/:id/writeup` and the write-up on a project page: fetched
//! through Spin's outbound HTTP from a local server (the operator's origin,
//! `writeup_extra_origin`), rendered, sanitised, kept in the cache store,
//! and every way a source can fail.

use std::time::{Duration, Instant};

use omni_testkit::http_server::Received;
use omni_testkit::{AppOptions, HttpServer, Reply, TestApp, TestUser, id, spawn_app_with};
use serde_json::{Value, json};

use crate::problems::assert_problem;

/// A write-up with something of everything, hostile parts included.
pub const README: &str = "# Analytical Engine\n\n\
    An emulator. See [the guide](docs/guide.md) and ![the mill](img/mill.png).\n\n\
    <script>alert('x')</script><img src=x onerror=alert(1)>\n\n\
    [click](javascript:alert(2))\n\n\
    | a | b |\n|---|---|\n| 1 | 2 |\n";

/// A source that answers each path as `route` says.
async fn source(route: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> HttpServer {
    HttpServer::start(route).await
}

/// The app, fetching write-ups from `server` as its operator's origin.
async fn app_for(server: &HttpServer) -> TestApp {
    spawn_app_with(AppOptions {
        variables: vec![("writeup_extra_origin".into(), server.url())],
        ..AppOptions::default()
    })
    .await
}

/// Publishes a project whose write-up is at `url`; its id.
async fn publish(app: &TestApp, user: &TestUser, url: &str) -> String {
    let body = json!({ "title": "Engine", "description": "Gears.", "markdown_url": url });
    id(&app.create_post_from(user, &body).await)
}

async fn writeup(app: &TestApp, id: &str) -> omni_testkit::TestResponse {
    app.get(&format!("/api/posts/{id}/writeup"), None).await
}

/// The 502 for post `id`: its detail, which must name `reason`.
async fn failed(app: &TestApp, id: &str, reason: &str) -> String {
    let response = writeup(app, id).await;
    let body = assert_problem(&response, 502);
    let detail = body["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains(&format!("({reason})")),
        "{reason}: {detail}"
    );
    detail
}

fn markdown(text: &str) -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "text/markdown; charset=utf-8".into())],
        body: text.as_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_up_is_fetched_rendered_and_sanitised() {
    let server = source(|_| markdown(README)).await;
    let app = app_for(&server).await;
    let ada = app.create_user("ada").await;
    let url = format!("{}/ada/engine/README.md", server.url());
    let id = publish(&app, &ada, &url).await;

    let response = writeup(&app, &id).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["post_id"], id);
    assert_eq!(body["source_url"], url);
    assert!(body["fetched_at"].as_str().unwrap().ends_with('Z'));
    let html = body["html"].as_str().unwrap();
    assert!(html.contains("<h2>Analytical Engine</h2>"), "{html}");
    assert!(html.contains("<td>2</td>"), "{html}");
    assert!(
        html.contains(&format!(
            "href=\"{}/ada/engine/docs/guide.md\"",
            server.url()
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!("src=\"{}/ada/engine/img/mill.png\"", server.url())),
        "{html}"
    );
    let lower = html.to_ascii_lowercase();
    for forbidden in ["<script", "onerror", "javascript:"] {
        assert!(!lower.contains(forbidden), "{forbidden} in {html}");
    }
    let request = &server.received()[0];
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("GET", "/ada/engine/README.md")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_is_asked_once_however_often_the_write_up_is_read() {
    let server = source(|_| markdown("# Once")).await;
    let app = app_for(&server).await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, &format!("{}/once.md", server.url())).await;
    for _ in 0..3 {
        assert_eq!(writeup(&app, &id).await.status, 200);
        let page = app.get(&format!("/posts/{id}"), None).await;
        assert!(page.text().contains("<h2>Once</h2>"), "{}", page.text());
    }
    // Past the response cache's 2 s, the kept write-up still answers.
    app.clock().set(5_000);
    assert_eq!(writeup(&app, &id).await.status, 200);
    assert_eq!(server.received().len(), 1);

    // Ten minutes on, the source is asked again.
    app.clock().set(11 * 60 * 1000);
    assert_eq!(writeup(&app, &id).await.status, 200);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_who_arrive_during_a_fetch_wait_for_it_instead_of_fetching_too() {
    let server = source(|_| Reply::WhenReleased(Box::new(markdown("# Slowish")))).await;
    let app = app_for(&server).await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, &format!("{}/slowish.md", server.url())).await;
    let path = format!("/api/posts/{id}/writeup");
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let request = app.request(reqwest::Method::GET, &path);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    server.wait_for_requests(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.release();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), 200);
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_post_shows_its_new_write_up_at_once() {
    let server = source(|request| markdown(&format!("# From {}", request.target))).await;
    let app = app_for(&server).await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, &format!("{}/one.md", server.url())).await;
    assert!(writeup(&app, &id).await.text().contains("From /one.md"));
    let edit = json!({ "markdown_url": format!("{}/two.md", server.url()) });
    let path = format!("/api/posts/{id}");
    assert_eq!(app.patch(&path, &edit, Some(&ada.token)).await.status, 200);
    assert!(writeup(&app, &id).await.text().contains("From /two.md"));
    let page = app.get(&format!("/posts/{id}"), None).await;
    assert!(page.text().contains("From /two.md"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_post_has_no_write_up() {
    let server = source(|_| markdown("x")).await;
    let app = app_for(&server).await;
    assert_problem(&writeup(&app, "12345").await, 404);
    assert_problem(&writeup(&app, "nope").await, 404);
    assert!(server.received().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_a_source_fails_is_a_502_naming_why_and_a_page_with_a_note() {
    let server = HttpServer::start(|request| match request.target.as_str() {
        "/500.md" => Reply::Full {
            status: 500,
            headers: vec![],
            body: b"secret stack trace".to_vec(),
        },
        "/silent.md" => Reply::Silent,
        "/stalls.md" => Reply::Stall {
            length: 1000,
            sent: b"# Half".to_vec(),
        },
        "/huge.md" => markdown(&"x".repeat(600 * 1024)),
        "/page.html" => Reply::Full {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html>".to_vec(),
        },
        "/to-private.md" => Reply::redirect(302, "http://10.255.255.1/readme.md"),
        "/to-loopback.md" => Reply::redirect(302, "http://127.0.0.1:9/readme.md"),
        "/to-elsewhere.md" => Reply::redirect(301, "https://example.com/readme.md"),
        "/loop.md" => Reply::redirect(302, "/loop.md"),
        "/moved.md" => Reply::redirect(307, "/here.md"),
        "/no-location.md" => Reply::Full {
            status: 302,
            headers: vec![],
            body: vec![],
        },
        _ => markdown("# Here"),
    })
    .await;
    let app = app_for(&server).await;
    let ada = app.create_user("ada").await;
    let origin = server.url();
    let cases = [
        ("/500.md", "source_error"),
        ("/silent.md", "timeout"),
        ("/stalls.md", "timeout"),
        ("/huge.md", "too_large"),
        ("/page.html", "not_markdown"),
        ("/to-private.md", "private_address"),
        ("/to-loopback.md", "private_address"),
        ("/to-elsewhere.md", "host_not_allowed"),
        ("/loop.md", "too_many_redirects"),
        ("/no-location.md", "bad_redirect"),
    ];
    for (path, reason) in cases {
        let id = publish(&app, &ada, &format!("{origin}{path}")).await;
        let started = Instant::now();
        let detail = failed(&app, &id, reason).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} took too long"
        );
        assert!(!detail.contains("secret"), "the body leaked: {detail}");
        let page = app.get(&format!("/posts/{id}"), None).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.text().contains("class=\"note\""), "{path}: no note");
        assert!(page.text().contains("Read the write-up"), "{path}: no link");
    }
    // Redirects within the allowed origin are followed.
    let moved = publish(&app, &ada, &format!("{origin}/moved.md")).await;
    let response = writeup(&app, &moved).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["source_url"], format!("{origin}/here.md"));
    // Nothing was requested from a refused target, and a failure is kept:
    // the 500 was asked for once, though read twice.
    let targets: Vec<String> = server.received().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets.iter().filter(|t| *t == "/500.md").count(),
        1,
        "{targets:?}"
    );
    assert!(
        !targets.iter().any(|t| t.starts_with("http")),
        "{targets:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_off_the_list_are_never_asked() {
    let server = source(|_| markdown("x")).await;
    let app = app_for(&server).await;
    let ada = app.create_user("ada").await;
    for (url, reason) in [
        ("https://example.com/readme.md", "host_not_allowed"),
        (
            "http://raw.githubusercontent.com/a/b/main/README.md",
            "not_https",
        ),
        (
            "https://169.254.169.254/latest/meta-data",
            "private_address",
        ),
        (
            &format!("http://localhost:{}/readme.md", server.port()),
            "host_not_allowed",
        ),
    ] {
        let id = publish(&app, &ada, url).await;
        let started = Instant::now();
        failed(&app, &id, reason).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{url} was tried"
        );
    }
    assert!(server.received().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_page_shows_the_write_up_and_lets_its_images_load() {
    let server = source(|_| markdown(README)).await;
    let app = app_for(&server).await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, &format!("{}/readme.md", server.url())).await;
    let page = app.get(&format!("/posts/{id}"), None).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("<section class=\"rendered\" aria-label=\"Write-up\">"),
        "{html}"
    );
    assert!(html.contains("<h2>Analytical Engine</h2>"), "{html}");
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    let policy = page.header("content-security-policy").unwrap();
    assert!(
        policy.contains(&format!(
            "img-src 'self' {} https://raw.githubusercontent.com",
            server.url()
        )),
        "{policy}"
    );
    let json: Value = writeup(&app, &id).await.json();
    assert!(html.contains(json["html"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_resolves_to_a_blocked_network_is_refused_by_spin() {
    // The operator's origin passes the app's own check, but it is a name
    // (localhost), and Spin's runtime config blocks private networks: what
    // it resolves to is dropped at connect time.
    let server = source(|_| markdown("# Never")).await;
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "[outbound_networking]\nblock_networks = [\"private\"]\n",
    )
    .unwrap();
    let origin = format!("http://localhost:{}", server.port());
    let app = spawn_app_with(AppOptions {
        variables: vec![("writeup_extra_origin".into(), origin.clone())],
        runtime_config_file: Some(config),
        ..AppOptions::default()
    })
    .await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, &format!("{origin}/readme.md")).await;
    failed(&app, &id, "private_address").await;
    assert!(server.received().is_empty());
}
