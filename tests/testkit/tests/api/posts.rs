//! `/api/posts`, `/api/posts/:id` and `/api/users/:id/posts`.

use omni_testkit::{post_body, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

use crate::problems::{assert_invalid_fields, assert_problem};

/// The ids of a list's items, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_post_returns_201_with_the_post_and_its_location() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let response = app
        .post(
            "/api/posts",
            &post_body("Analytical Engine"),
            Some(&ada.token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let post = response.json();
    let id = post["id"].as_str().unwrap();
    assert_eq!(
        response.header("location"),
        Some(format!("/api/posts/{id}").as_str())
    );
    assert_eq!(post["title"], "Analytical Engine");
    assert_eq!(post["description"], "All about Analytical Engine.");
    assert_eq!(
        post["markdown_url"],
        "https://example.com/Analytical-Engine.md"
    );
    assert_eq!(
        post["author"],
        json!({ "id": ada.id, "username": "ada", "display_name": "" })
    );
    assert_eq!(post["comment_count"], 0);
    assert_eq!(post["created_at"], post["updated_at"]);
    assert_eq!(
        app.get(&format!("/api/posts/{id}"), None).await.json(),
        post
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_post_never_applies_author_id_or_counts_from_the_body() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let mut body = post_body("Mine");
    body["id"] = json!("1");
    body["author"] = json!({ "id": bob.id });
    body["user_id"] = json!(bob.id);
    body["author_id"] = json!(bob.id);
    body["comment_count"] = json!(99);
    body["created_at"] = json!("2000-01-01T00:00:00.000Z");
    let post = app.post("/api/posts", &body, Some(&ada.token)).await.json();
    assert_ne!(post["id"], "1");
    assert_eq!(post["author"]["id"], ada.id);
    assert_eq!(post["comment_count"], 0);
    assert_ne!(post["created_at"], "2000-01-01T00:00:00.000Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_post_needs_a_valid_token_of_an_existing_user() {
    let app = spawn_app().await;
    assert_problem(&app.post("/api/posts", &post_body("x"), None).await, 401);
    assert_problem(
        &app.post("/api/posts", &post_body("x"), Some("not.a.token"))
            .await,
        401,
    );
    let ada = app.create_user("ada").await;
    app.execute(&format!("DELETE FROM users WHERE id = {}", ada.id))
        .await;
    assert_problem(
        &app.post("/api/posts", &post_body("x"), Some(&ada.token))
            .await,
        401,
    );
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_post_returns_422_naming_every_bad_field() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let cases = [
        (json!({}), vec!["markdown_url", "title"]),
        (
            json!({ "title": "   ", "markdown_url": "https://x.io/a.md" }),
            vec!["title"],
        ),
        (
            json!({ "title": "t".repeat(201), "markdown_url": "https://x.io/a.md" }),
            vec!["title"],
        ),
        (
            json!({ "title": "ok", "markdown_url": "ftp://x.io/a.md" }),
            vec!["markdown_url"],
        ),
        (
            json!({ "title": "ok", "markdown_url": "/relative.md" }),
            vec!["markdown_url"],
        ),
        (
            json!({ "title": "ok", "markdown_url": format!("https://x.io/{}", "a".repeat(2040)) }),
            vec!["markdown_url"],
        ),
        (
            json!({ "title": "ok", "markdown_url": "https://x.io/a.md", "description": "d".repeat(5001) }),
            vec!["description"],
        ),
        (
            json!({ "title": 7, "markdown_url": ["https://x.io"], "description": null }),
            vec!["description", "markdown_url", "title"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.post("/api/posts", &body, Some(&ada.token)).await;
        assert_invalid_fields(&response, &fields);
    }
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limits_themselves_are_allowed() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let url = format!("https://x.io/{}", "a".repeat(2048 - "https://x.io/".len()));
    let body =
        json!({ "title": "é".repeat(200), "description": "d".repeat(5000), "markdown_url": url });
    let response = app.post("/api/posts", &body, Some(&ada.token)).await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(
        response.json()["title"].as_str().unwrap().chars().count(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_or_malformed_post_id_is_a_404() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    for path in ["/api/posts/118407598460190720", "/api/posts/nope"] {
        assert_problem(&app.get(path, None).await, 404);
        assert_problem(
            &app.patch(path, &json!({ "title": "x" }), Some(&ada.token))
                .await,
            404,
        );
        assert_problem(&app.delete(path, Some(&ada.token)).await, 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_post_path_answers_405_with_allow_for_other_methods() {
    let app = spawn_app().await;
    for (path, method, allow) in [
        ("/api/posts", Method::DELETE, "GET, POST"),
        ("/api/posts/1", Method::POST, "GET, PATCH, DELETE"),
        ("/api/users/1/posts", Method::POST, "GET"),
    ] {
        let response = app.send(app.request(method, path)).await;
        assert_problem(&response, 405);
        assert_eq!(response.header("allow"), Some(allow), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_author_edits_only_the_given_fields_and_updated_at_moves() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Engine").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    // Timestamps have millisecond resolution: the edit happens a second
    // later by the components' clock, however fast the test runs.
    app.clock().set(1_000);
    let response = app
        .patch(
            &path,
            &json!({ "title": "Engine, revised" }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let edited = response.json();
    assert_eq!(edited["title"], "Engine, revised");
    assert_eq!(edited["description"], post["description"]);
    assert_eq!(edited["markdown_url"], post["markdown_url"]);
    assert_eq!(edited["created_at"], post["created_at"]);
    assert!(edited["updated_at"].as_str() > post["updated_at"].as_str());
    assert_eq!(app.get(&path, None).await.json(), edited);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_patch_changes_nothing_not_even_updated_at() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Engine").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    let response = app
        .patch(
            &path,
            &json!({ "id": "1", "author": { "id": "2" }, "comment_count": 5 }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), post);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_user_cannot_edit_or_delete_a_post() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let post = app.create_post(&ada, "Engine").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    assert_problem(
        &app.patch(&path, &json!({ "title": "Mine now" }), Some(&bob.token))
            .await,
        403,
    );
    assert_problem(&app.delete(&path, Some(&bob.token)).await, 403);
    assert_eq!(app.get(&path, None).await.json(), post);
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_needs_a_token_and_valid_fields() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Engine").await;
    let path = format!("/api/posts/{}", post["id"].as_str().unwrap());
    assert_problem(&app.patch(&path, &json!({ "title": "x" }), None).await, 401);
    assert_problem(&app.delete(&path, None).await, 401);
    let response = app
        .patch(
            &path,
            &json!({ "title": "", "markdown_url": "nope" }),
            Some(&ada.token),
        )
        .await;
    assert_invalid_fields(&response, &["markdown_url", "title"]);
    assert_eq!(app.get(&path, None).await.json(), post);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_post_deletes_its_comments_and_counts() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let post = app.create_post(&ada, "Engine").await;
    let id = post["id"].as_str().unwrap();
    let keep = app.create_post(&ada, "Keep").await;
    for n in 0..3 {
        let comment = app
            .post(
                &format!("/api/posts/{id}/comments"),
                &json!({ "body": format!("c{n}") }),
                Some(&bob.token),
            )
            .await;
        assert_eq!(comment.status, 201);
    }
    let response = app
        .delete(&format!("/api/posts/{id}"), Some(&ada.token))
        .await;
    assert_eq!(response.status, 204);
    assert!(response.body.is_empty());
    assert_problem(&app.get(&format!("/api/posts/{id}"), None).await, 404);
    assert_problem(
        &app.get(&format!("/api/posts/{id}/comments"), None).await,
        404,
    );
    assert_problem(
        &app.delete(&format!("/api/posts/{id}"), Some(&ada.token))
            .await,
        404,
    );
    assert_eq!(
        app.scalar::<i64>(&format!(
            "SELECT COUNT(*) FROM comments WHERE post_id = {id}"
        ))
        .await,
        0
    );
    let list = app.get("/api/posts", None).await.json();
    assert_eq!(list["total_items"], 1);
    assert_eq!(ids(&list), [keep["id"].as_str().unwrap()]);
    assert_eq!(
        app.get(&format!("/api/users/{}/posts", ada.id), None)
            .await
            .json()["total_items"],
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_that_fails_part_way_leaves_everything_as_it_was() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Engine").await;
    let id = post["id"].as_str().unwrap();
    app.post(
        &format!("/api/posts/{id}/comments"),
        &json!({ "body": "hi" }),
        Some(&ada.token),
    )
    .await;
    // The last statement of the delete (the global counter) will fail.
    app.rename_table("counters", "counters_away").await;
    let response = app
        .delete(&format!("/api/posts/{id}"), Some(&ada.token))
        .await;
    app.rename_table("counters_away", "counters").await;
    let body = assert_problem(&response, 500);
    assert!(
        !body.to_string().contains("counters"),
        "no SQL in the answer: {body}"
    );
    let after = app.get(&format!("/api/posts/{id}"), None).await.json();
    assert_eq!(after["comment_count"], 1);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 1);
    assert_eq!(app.get("/api/posts", None).await.json()["total_items"], 1);
    assert_eq!(app.scalar::<i64>("SELECT post_count FROM users").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_lists_only_their_own_posts_and_an_unknown_user_is_a_404() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let a1 = app.create_post(&ada, "a1").await;
    app.create_post(&bob, "b1").await;
    let a2 = app.create_post(&ada, "a2").await;
    let list = app
        .get(&format!("/api/users/{}/posts", ada.id), None)
        .await
        .json();
    assert_eq!(
        ids(&list),
        [a2["id"].as_str().unwrap(), a1["id"].as_str().unwrap()]
    );
    assert_eq!(list["total_items"], 2);
    let keyset = app
        .get(
            &format!(
                "/api/users/{}/posts?before={}",
                ada.id,
                a2["id"].as_str().unwrap()
            ),
            None,
        )
        .await
        .json();
    assert_eq!(ids(&keyset), [a1["id"].as_str().unwrap()]);
    assert_eq!(keyset["next_before"], Value::Null);
    assert_problem(
        &app.get("/api/users/118407598460190720/posts", None).await,
        404,
    );
    assert_problem(
        &app.get("/api/users/118407598460190720/posts?before=5", None)
            .await,
        404,
    );
    let empty = app
        .get(&format!("/api/users/{}/posts?page=9", bob.id), None)
        .await
        .json();
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["total_items"], 1);
}
