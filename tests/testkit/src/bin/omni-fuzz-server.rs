//! Serves Omni in the test host over a fresh database, for an API fuzzer
//! (`scripts/fuzz-api` runs schemathesis against it) and the security scan
//! (`scripts/dast`). Signs up a user, creates a post with a comment so that
//! lists have items, prints `<base url> <bearer token> <post id>` on one
//! line, then serves until killed.
//!
//! The seed post's write-up is served by a local source, the one origin
//! besides the forges that the app may fetch from (`writeup_extra_origin`):
//! these machines have no network, and a write-up that cannot be fetched is
//! a 502, which would hide what the scanners do to a served one.

// A tool for tests: a failed setup step should stop it loudly.
#![allow(clippy::expect_used)]

use omni_testkit::{AppOptions, HttpServer, Reply, spawn_app_with};
use serde_json::json;

#[tokio::main]
async fn main() {
    let source = HttpServer::start(|_| Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "text/markdown".into())],
        body: b"# Seed\n\nA write-up with a [link](https://example.com) and `code`.\n".to_vec(),
    })
    .await;
    let app = spawn_app_with(AppOptions {
        variables: vec![("writeup_extra_origin".to_owned(), source.url())],
        ..AppOptions::default()
    })
    .await;
    let user = app.create_user("fuzzer").await;
    let body = json!({ "title": "Seed", "markdown_url": format!("{}/seed.md", source.url()) });
    let post = app.create_post_from(&user, &body).await;
    let post_id = post["id"].as_str().expect("the seed post has an id");
    app.create_comment(&user, post_id, "Seed comment").await;
    println!("{} {} {post_id}", app.url(), user.token);
    std::future::pending::<()>().await;
}
