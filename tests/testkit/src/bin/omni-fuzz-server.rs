//! Serves Omni in the test host over a fresh database, for an API fuzzer
//! (`scripts/fuzz-api` runs schemathesis against it). Signs up a user,
//! creates a post with a comment so that lists have items, prints
//! `<base url> <bearer token> <post id>` on one line, then serves until
//! killed.

// A tool for tests: a failed setup step should stop it loudly.
#![allow(clippy::expect_used)]

use omni_testkit::spawn_app;

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    let user = app.create_user("fuzzer").await;
    let post = app.create_post(&user, "Seed").await;
    let post_id = post["id"].as_str().expect("the seed post has an id");
    app.create_comment(&user, post_id, "Seed comment").await;
    println!("{} {} {post_id}", app.url(), user.token);
    std::future::pending::<()>().await;
}
