//! `/api/posts/:id/comments` and `/api/comments/:id`.

use omni_testkit::{TestApp, TestUser, id, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

use crate::problems::{assert_invalid_fields, assert_problem};

async fn comment(app: &TestApp, user: &TestUser, post: &Value, body: &str) -> Value {
    app.create_comment(user, post["id"].as_str().unwrap(), body)
        .await
}

async fn post_of(app: &TestApp, post: &Value) -> Value {
    app.get(
        &format!("/api/posts/{}", post["id"].as_str().unwrap()),
        None,
    )
    .await
    .json()
}

#[tokio::test(flavor = "multi_thread")]
async fn commenting_returns_201_and_counts_the_comment() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let post = app.create_post(&ada, "Engine").await;
    let path = format!("/api/posts/{}/comments", post["id"].as_str().unwrap());
    let response = app
        .post(
            &path,
            &json!({ "body": "Lovely!", "post_id": "1", "author": "ada" }),
            Some(&bob.token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let created = response.json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        response.header("location"),
        Some(format!("/api/comments/{id}").as_str())
    );
    assert_eq!(created["post_id"], post["id"]);
    assert_eq!(created["author"]["id"], bob.id);
    assert_eq!(created["body"], "Lovely!");
    assert_eq!(created["created_at"], created["updated_at"]);
    let after = post_of(&app, &post).await;
    assert_eq!(after["comment_count"], 1);
    assert_eq!(
        after["updated_at"], post["updated_at"],
        "a comment is not an edit of the post"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commenting_needs_a_token_a_post_and_a_body() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Engine").await;
    let path = format!("/api/posts/{}/comments", post["id"].as_str().unwrap());
    assert_problem(&app.post(&path, &json!({ "body": "hi" }), None).await, 401);
    assert_problem(
        &app.post(
            "/api/posts/118407598460190720/comments",
            &json!({ "body": "hi" }),
            Some(&ada.token),
        )
        .await,
        404,
    );
    for body in [
        json!({}),
        json!({ "body": "" }),
        json!({ "body": " \n " }),
        json!({ "body": "c".repeat(5001) }),
        json!({ "body": 5 }),
    ] {
        assert_invalid_fields(&app.post(&path, &body, Some(&ada.token)).await, &["body"]);
    }
    assert_eq!(post_of(&app, &post).await["comment_count"], 0);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn comments_list_newest_first_by_page_and_by_before() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Engine").await;
    let mut created = Vec::new();
    for n in 0..12 {
        created.push(id(
            &comment(&app, &ada, &post, &format!("comment {n}")).await
        ));
    }
    let path = format!("/api/posts/{}/comments", post["id"].as_str().unwrap());
    let page = app.get(&path, None).await.json();
    assert_eq!(page["total_items"], 12);
    assert_eq!(page["total_pages"], 2);
    let page_ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let newest: Vec<&str> = created.iter().rev().take(10).map(String::as_str).collect();
    assert_eq!(page_ids, newest);
    let keyset = app
        .get(&format!("{path}?before={}", created[2]), None)
        .await
        .json();
    let keyset_ids: Vec<&str> = keyset["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(keyset_ids, [created[1].as_str(), created[0].as_str()]);
    assert_eq!(keyset["next_before"], Value::Null);
    assert_problem(
        &app.get("/api/posts/118407598460190720/comments", None)
            .await,
        404,
    );
    assert_problem(
        &app.get("/api/posts/118407598460190720/comments?before=9", None)
            .await,
        404,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_comments_author_may_edit_it() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let post = app.create_post(&ada, "Engine").await;
    let original = comment(&app, &bob, &post, "first draft").await;
    let path = format!("/api/comments/{}", original["id"].as_str().unwrap());
    // Not even the post's author.
    assert_problem(
        &app.patch(&path, &json!({ "body": "edited by ada" }), Some(&ada.token))
            .await,
        403,
    );
    assert_problem(&app.patch(&path, &json!({ "body": "x" }), None).await, 401);
    assert_invalid_fields(
        &app.patch(&path, &json!({ "body": "" }), Some(&bob.token))
            .await,
        &["body"],
    );
    let unchanged = app
        .get(
            &format!("/api/posts/{}/comments", post["id"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    assert_eq!(unchanged["items"][0], original);
    // A second later by the components' clock, so that `updated_at` can
    // only move forward, however fast the test runs.
    app.clock().set(1_000);
    let response = app
        .patch(
            &path,
            &json!({ "body": "final", "post_id": "1" }),
            Some(&bob.token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let edited = response.json();
    assert_eq!(edited["body"], "final");
    assert_eq!(edited["post_id"], post["id"]);
    assert!(edited["updated_at"].as_str() > original["updated_at"].as_str());
    assert_problem(
        &app.patch(
            "/api/comments/118407598460190720",
            &json!({ "body": "x" }),
            Some(&bob.token),
        )
        .await,
        404,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_comments_author_or_the_posts_author_may_delete_it() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let eve = app.create_user("eve").await;
    let post = app.create_post(&ada, "Engine").await;
    let by_bob = comment(&app, &bob, &post, "bob's").await;
    let also_bob = comment(&app, &bob, &post, "bob's too").await;
    let bob_path = format!("/api/comments/{}", by_bob["id"].as_str().unwrap());
    assert_problem(&app.delete(&bob_path, Some(&eve.token)).await, 403);
    assert_problem(&app.delete(&bob_path, None).await, 401);
    assert_eq!(post_of(&app, &post).await["comment_count"], 2);
    assert_eq!(app.delete(&bob_path, Some(&bob.token)).await.status, 204);
    assert_problem(&app.delete(&bob_path, Some(&bob.token)).await, 404);
    let other = format!("/api/comments/{}", also_bob["id"].as_str().unwrap());
    assert_eq!(
        app.delete(&other, Some(&ada.token)).await.status,
        204,
        "the post's author may"
    );
    assert_eq!(post_of(&app, &post).await["comment_count"], 0);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_path_answers_405_with_allow_for_other_methods() {
    let app = spawn_app().await;
    let response = app.send(app.request(Method::GET, "/api/comments/1")).await;
    assert_problem(&response, 405);
    assert_eq!(response.header("allow"), Some("PATCH, DELETE"));
    let response = app
        .send(app.request(Method::PUT, "/api/posts/1/comments"))
        .await;
    assert_eq!(response.header("allow"), Some("GET, POST"));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_comments_keep_the_count_exact() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Popular").await;
    let mut users = Vec::new();
    for n in 0..8 {
        users.push(app.create_user(&format!("fan{n}")).await);
    }
    let app = &app;
    let post = &post;
    let writers = users.iter().map(|user| async move {
        for n in 0..25 {
            comment(app, user, post, &format!("{} says {n}", user.username)).await;
        }
    });
    futures::future::join_all(writers).await;
    assert_eq!(post_of(app, post).await["comment_count"], 200);
    assert_eq!(
        app.scalar::<i64>("SELECT COUNT(*) FROM comments").await,
        200
    );
    let listed = app
        .get(
            &format!("/api/posts/{}/comments", post["id"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    assert_eq!(listed["total_items"], 200);
    assert_eq!(listed["total_pages"], 20);
}
