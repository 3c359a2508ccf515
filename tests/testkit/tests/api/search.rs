//! `GET /api/search`: full-text search on MariaDB's FULLTEXT indexes or
//! SQLite's FTS5, kept in step by every write.

use omni_testkit::{AppOptions, Backend, TestApp, TestUser, id, spawn_app, spawn_app_with};
use serde_json::{Value, json};

use crate::posts::ids;
use crate::problems::assert_problem;

/// Publishes a post with `title` and `description` as `user`; its id.
async fn publish(app: &TestApp, user: &TestUser, title: &str, description: &str) -> String {
    let url = "https://example.com/readme.md";
    let body = json!({ "title": title, "description": description, "markdown_url": url });
    id(&app.create_post_from(user, &body).await)
}

/// The page of results for `query` (already URL-encoded); fails unless 200.
async fn search(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/search?{query}"), None).await;
    assert_eq!(response.status, 200, "{query}: {}", response.text());
    response.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn search_finds_posts_by_title_and_description_best_match_first() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let in_description = publish(
        &app,
        &ada,
        "Difference engine",
        "A mechanical calculator, with a WebAssembly port of its tables.",
    )
    .await;
    let in_title = publish(&app, &ada, "WebAssembly compiler", "From COBOL.").await;
    let elsewhere = publish(&app, &ada, "Loom controller", "Punched cards.").await;

    let found = search(&app, "q=webassembly").await;
    assert_eq!(ids(&found), [in_title.clone(), in_description.clone()]);
    assert_eq!(found["total_items"], 2);
    assert_eq!(found["page"], 1);
    assert_eq!(found["page_size"], 10);
    assert_eq!(found["total_pages"], 1);
    assert_eq!(found["items"][0]["author"]["username"], "ada");

    // Any word matches, as a prefix and in any case; more words rank higher.
    let prefix = search(&app, "q=WEBASSEM").await;
    assert_eq!(ids(&prefix), [in_title.clone(), in_description.clone()]);
    let more = search(&app, "q=punched+calculator+tables").await;
    assert_eq!(ids(&more), [in_description, elsewhere]);
    assert_eq!(search(&app, "q=nothing").await["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_post_is_found_by_its_new_words_only() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, "Orrery", "Planets in brass.").await;
    assert_eq!(
        ids(&search(&app, "q=orrery").await),
        std::slice::from_ref(&id)
    );

    let edit = json!({ "title": "Planetarium", "description": "Stars in glass." });
    let path = format!("/api/posts/{id}");
    assert_eq!(app.patch(&path, &edit, Some(&ada.token)).await.status, 200);
    assert_eq!(search(&app, "q=orrery").await["total_items"], 0);
    assert_eq!(search(&app, "q=brass").await["total_items"], 0);
    assert_eq!(
        ids(&search(&app, "q=planetarium").await),
        std::slice::from_ref(&id)
    );
    assert_eq!(
        ids(&search(&app, "q=glass").await),
        std::slice::from_ref(&id)
    );
    if app.backend() == Backend::Sqlite {
        assert_eq!(index_rows(&app, "orrery").await, 0);
        assert_eq!(index_rows(&app, "planetarium").await, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_post_leaves_the_index() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let gone = publish(&app, &ada, "Jacquard loom", "Cards.").await;
    let kept = publish(&app, &ada, "Jacquard cards", "Holes.").await;
    let path = format!("/api/posts/{gone}");
    assert_eq!(app.delete(&path, Some(&ada.token)).await.status, 204);
    assert_eq!(ids(&search(&app, "q=jacquard").await), [kept]);
    assert_eq!(search(&app, "q=loom").await["total_items"], 0);
    if app.backend() == Backend::Sqlite {
        assert_eq!(index_rows(&app, "loom").await, 0);
    }
    // Deleted by any statement, not only by the API: the index follows.
    // (Another spelling of the query, so that no cached answer is read.)
    app.execute("DELETE FROM posts").await;
    assert_eq!(search(&app, "q=JACQUARD").await["total_items"], 0);
    if app.backend() == Backend::Sqlite {
        assert_eq!(index_rows(&app, "jacquard").await, 0);
    }
}

/// How many rows of SQLite's FTS5 index match `word`, read directly.
async fn index_rows(app: &TestApp, word: &str) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM posts_search WHERE posts_search MATCH '{word}'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn search_results_page_like_every_list() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let mut all = Vec::new();
    for n in 0..12 {
        all.push(publish(&app, &ada, &format!("Sundial {n}"), "Shadows.").await);
    }
    let first = search(&app, "q=sundial").await;
    let second = search(&app, "q=sundial&page=2").await;
    assert_eq!(first["total_items"], 12);
    assert_eq!(first["total_pages"], 2);
    assert_eq!(ids(&first).len(), 10);
    assert_eq!(ids(&second).len(), 2);
    // Equal matches are newest first, and no post shows twice.
    all.reverse();
    assert_eq!([ids(&first), ids(&second)].concat(), all);
    let past = search(&app, "q=sundial&page=3").await;
    assert_eq!(past["items"], json!([]));
    assert_eq!(past["total_items"], 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_without_a_usable_query_is_a_400() {
    let app = spawn_app().await;
    let long = "a".repeat(201);
    for query in [
        "",
        "q=",
        "q=+++",
        "q=%2A%2B%22",
        &format!("q={long}"),
        "q=a+b+c+d+e+f+g+h+i",
        "q=one&q=two",
        "q=one&before=5",
        "q=one&page=0",
        "q=one&page=x",
    ] {
        let response = app.get(&format!("/api/search?{query}"), None).await;
        assert_problem(&response, 400);
    }
    let longest = format!("q={}", "a".repeat(200));
    assert_eq!(search(&app, &longest).await["total_items"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn search_operators_are_words_to_search_for_not_syntax() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, "Rust kernel", "Boots.").await;
    for query in [
        "q=-rust",
        "q=%22rust",
        "q=rust*",
        "q=%2Brust+%7E",
        "q=rust%27+OR+1%3D1",
        "q=(rust)",
        "q=rust+NEAR+kernel",
        "q=title%3Arust",
    ] {
        let found = search(&app, query).await;
        assert!(ids(&found).contains(&id), "{query}: {found}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_are_limited_per_address() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("limit_searches_per_ip_per_minute".into(), "2".into())],
        ..AppOptions::default()
    })
    .await;
    assert_eq!(app.get("/api/search?q=a", None).await.status, 200);
    assert_eq!(app.get("/api/search?q=a", None).await.status, 200);
    let refused = app.get("/api/search?q=a", None).await;
    assert_problem(&refused, 429);
    assert!(refused.header("retry-after").is_some());
}
