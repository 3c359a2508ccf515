//! What a person can do with their own account: download everything it
//! holds (`GET /api/me/export`) and delete it (`POST /api/me/deletion`).

use omni_testkit::{AppOptions, ClockOffset, TestApp, TestUser, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

use crate::posts::ids;
use crate::problems::{assert_invalid_fields, assert_problem};

async fn comment(app: &TestApp, user: &TestUser, post: &str, body: &str) -> String {
    let response = app
        .post(
            &format!("/api/posts/{post}/comments"),
            &json!({ "body": body }),
            Some(&user.token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_owned()
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_is_the_whole_account_unpaged_as_a_download() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let mut posts = Vec::new();
    for n in 0..12 {
        posts.push(id_of(&app.create_post(&ada, &format!("ada {n}")).await));
    }
    let bobs = id_of(&app.create_post(&bob, "bob's").await);
    let mut comments = Vec::new();
    for n in 0..11 {
        let on = if n % 2 == 0 { &bobs } else { &posts[0] };
        comments.push(comment(&app, &ada, on, &format!("note {n}")).await);
    }
    comment(&app, &bob, &posts[0], "not ada's").await;

    let response = app.get("/api/me/export", Some(&ada.token)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"omni-ada.json\"")
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let export = response.json();
    assert_eq!(export["user"]["id"], ada.id);
    assert_eq!(export["user"]["username"], "ada");
    let exported = |field: &str| -> Vec<String> {
        export[field]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    posts.reverse();
    comments.reverse();
    assert_eq!(exported("posts"), posts);
    assert_eq!(exported("comments"), comments);
    assert_eq!(export["posts"][11]["comment_count"], 6);
    assert!(export.get("password_hash").is_none());
    assert!(!response.text().contains("$2b$"));
}

#[tokio::test(flavor = "multi_thread")]
async fn export_needs_a_live_session() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    assert_problem(&app.get("/api/me/export", None).await, 401);
    app.post("/api/logout", &json!({}), Some(&ada.token)).await;
    assert_problem(&app.get("/api/me/export", Some(&ada.token)).await, 401);
    let wrong_method = app.send(app.request(Method::POST, "/api/me/export")).await;
    assert_problem(&wrong_method, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET"));
}

/// `POST /api/me/deletion {password}`.
async fn delete_account(
    app: &TestApp,
    user: &TestUser,
    password: &str,
) -> omni_testkit::TestResponse {
    app.post(
        "/api/me/deletion",
        &json!({ "password": password }),
        Some(&user.token),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_account_needs_its_password() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    app.create_post(&ada, "kept").await;
    let body = assert_problem(&delete_account(&app, &ada, "not my password").await, 403);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("password is wrong")
    );
    assert_invalid_fields(
        &app.post("/api/me/deletion", &json!({}), Some(&ada.token))
            .await,
        &["password"],
    );
    assert_problem(
        &app.post(
            "/api/me/deletion",
            &json!({ "password": ada.password }),
            None,
        )
        .await,
        401,
    );
    assert_eq!(
        app.get(&format!("/api/users/{}", ada.id), None)
            .await
            .status,
        200
    );
    assert_eq!(app.get("/api/me", Some(&ada.token)).await.status, 200);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_account_takes_everything_it_wrote_and_every_cache_entry_that_showed_it() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let adas = id_of(&app.create_post(&ada, "ada's project").await);
    let bobs = id_of(&app.create_post(&bob, "bob's project").await);
    comment(&app, &bob, &adas, "bob on ada's").await;
    comment(&app, &ada, &bobs, "ada on bob's").await;
    let bobs_own = comment(&app, &bob, &bobs, "bob on bob's").await;
    let other_session = app.login("ada", &ada.password).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Warm every cached read that shows ada.
    let reads = [
        "/api/posts".to_owned(),
        format!("/api/posts/{adas}"),
        format!("/api/posts/{bobs}"),
        format!("/api/posts/{bobs}/comments"),
        format!("/api/users/{}", ada.id),
        format!("/api/users/{}/posts", ada.id),
        format!("/api/users/{}/posts", bob.id),
        "/".to_owned(),
        format!("/posts/{bobs}"),
        format!("/users/{}", ada.id),
    ];
    for path in &reads {
        app.get(path, None).await;
        app.get(path, None).await;
    }

    let response = delete_account(&app, &ada, &ada.password).await;
    assert_eq!(response.status, 204, "{}", response.text());

    assert_problem(&app.get(&format!("/api/users/{}", ada.id), None).await, 404);
    assert_problem(
        &app.get(&format!("/api/users/{}/posts", ada.id), None).await,
        404,
    );
    assert_problem(&app.get(&format!("/api/posts/{adas}"), None).await, 404);
    assert_eq!(
        app.get(&format!("/users/{}", ada.id), None).await.status,
        404
    );
    let all = app.get("/api/posts", None).await.json();
    assert_eq!(ids(&all), std::slice::from_ref(&bobs));
    assert_eq!(all["total_items"], 1);
    assert_eq!(all["items"][0]["comment_count"], 1);
    let left = app
        .get(&format!("/api/posts/{bobs}/comments"), None)
        .await
        .json();
    assert_eq!(ids(&left), [bobs_own]);
    for path in &reads {
        let text = app.get(path, None).await.text();
        for trace in [
            "\"username\":\"ada\"",
            ">ada<",
            "ada's project",
            "ada on bob's",
        ] {
            assert!(!text.contains(trace), "{path} still shows {trace}");
        }
    }
    for token in [&ada.token, &other_session] {
        assert_problem(&app.get("/api/me", Some(token)).await, 401);
    }
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 1);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM sessions").await, 1);
    assert_problem(&app.login("ada", &ada.password).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_username_is_reserved_for_the_cooling_off_period() {
    let clock = ClockOffset::default();
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let ada = app.create_user("Ada").await;
    assert_eq!(delete_account(&app, &ada, &ada.password).await.status, 204);
    for spelling in ["Ada", "ada", "ADA"] {
        let body = assert_problem(&app.signup(spelling, "a brand new secret").await, 409);
        assert!(body["detail"].as_str().unwrap().contains("taken"));
    }
    clock.set(29 * 24 * 3_600_000);
    assert_problem(&app.signup("ada", "a brand new secret").await, 409);
    clock.set(30 * 24 * 3_600_000 + 60_000);
    let again = app.signup("ada", "a brand new secret").await;
    assert_eq!(again.status, 201, "{}", again.text());
    assert_ne!(again.json()["id"], ada.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_with_many_posts_and_comments_is_deleted_in_batches() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let mut adas = Vec::new();
    for n in 0..23 {
        adas.push(id_of(&app.create_post(&ada, &format!("project {n}")).await));
    }
    let bobs = id_of(&app.create_post(&bob, "bob's").await);
    for n in 0..105 {
        comment(&app, &ada, &bobs, &format!("ada {n}")).await;
    }
    // More comments on one of ada's projects than a batch takes, written
    // straight into the table.
    let first = adas[0].parse::<i64>().unwrap();
    let values: Vec<String> = (1..=250)
        .map(|n| format!("({}, {first}, {}, 'bob {n}', 0)", first + n, bob.id))
        .collect();
    app.execute(&format!(
        "INSERT INTO comments (id, post_id, author_id, body, updated_at) VALUES {}",
        values.join(", ")
    ))
    .await;

    let response = delete_account(&app, &ada, &ada.password).await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 0);
    assert_eq!(
        app.scalar::<i64>(&format!("SELECT COUNT(*) FROM users WHERE id = {}", ada.id))
            .await,
        0
    );
    let bobs_post = app.get(&format!("/api/posts/{bobs}"), None).await.json();
    assert_eq!(bobs_post["comment_count"], 0);
    assert_eq!(app.get("/api/posts", None).await.json()["total_items"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_account_while_someone_comments_on_its_post_leaves_nothing_behind() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let post = id_of(&app.create_post(&ada, "busy").await);
    for n in 0..30 {
        comment(&app, &bob, &post, &format!("early {n}")).await;
    }
    let commenting = async {
        let mut statuses = Vec::new();
        for n in 0..40 {
            let response = app
                .post(
                    &format!("/api/posts/{post}/comments"),
                    &json!({ "body": format!("during {n}") }),
                    Some(&bob.token),
                )
                .await;
            statuses.push(response.status);
        }
        statuses
    };
    let (statuses, deletion) = tokio::join!(commenting, delete_account(&app, &ada, &ada.password));
    assert_eq!(deletion.status, 204, "{}", deletion.text());
    assert!(
        statuses.iter().all(|status| [201, 404].contains(status)),
        "{statuses:?}"
    );
    assert_problem(&app.get(&format!("/api/posts/{post}"), None).await, 404);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 0);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 0);
    // Bob goes on as before.
    assert_eq!(app.get("/api/me", Some(&bob.token)).await.status, 200);
}
