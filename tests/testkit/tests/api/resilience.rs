//! Under contention and faults: lock conflicts are retried and never a
//! 500, idempotent creates are safe to retry, ids survive a clock that is
//! wrong, and counters stay true.

use futures::future::join_all;
use mysql_async::prelude::Queryable;
use omni_testkit::{
    AppOptions, ClockOffset, TestApp, TestUser, id, mariadb_only, post_body, spawn_app,
    spawn_app_with, until_checking_every,
};
use serde_json::{Value, json};

use crate::problems::{assert_invalid_fields, assert_problem};

async fn keyed_post(
    app: &TestApp,
    user: &TestUser,
    key: &str,
    body: &Value,
) -> omni_testkit::TestResponse {
    app.send(
        app.request(reqwest::Method::POST, "/api/posts")
            .bearer_auth(&user.token)
            .header("idempotency-key", key)
            .json(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_create_with_the_same_key_returns_the_first_answer_and_creates_nothing() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let first = keyed_post(&app, &ada, "key-1", &post_body("Engine")).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotency-replayed"), None);
    let again = keyed_post(&app, &ada, "key-1", &post_body("Engine")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.json(), first.json());
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
    assert_eq!(app.get("/api/posts", None).await.json()["total_items"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_resource_was_deleted_creates_anew() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let first = keyed_post(&app, &ada, "key-1", &post_body("Engine")).await;
    let location = first.header("location").unwrap().to_owned();
    assert_eq!(app.delete(&location, Some(&ada.token)).await.status, 204);
    let again = keyed_post(&app, &ada, "key-1", &post_body("Engine")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotency-replayed"), None);
    assert_ne!(again.header("location"), Some(location.as_str()));
    let created = again.header("location").unwrap();
    assert_eq!(app.get(created, None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_with_another_body_is_a_422_and_keys_belong_to_their_user() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    assert_eq!(
        keyed_post(&app, &ada, "k", &post_body("one")).await.status,
        201
    );
    let other = keyed_post(&app, &ada, "k", &post_body("two")).await;
    assert_invalid_fields(&other, &["Idempotency-Key"]);
    // Bob's key "k" is his own.
    let bobs = keyed_post(&app, &bob, "k", &post_body("two")).await;
    assert_eq!(bobs.status, 201);
    assert_eq!(bobs.header("idempotency-replayed"), None);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 2);
    for bad in ["", "x".repeat(256).as_str(), "sp ace", "é"] {
        let response = app
            .send(
                app.request(reqwest::Method::POST, "/api/posts")
                    .bearer_auth(&ada.token)
                    .header("idempotency-key", bad)
                    .json(&post_body("three")),
            )
            .await;
        assert_problem(&response, 400);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_retries_with_one_key_make_one_resource() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let body = post_body("once");
    let responses = join_all((0..8).map(|_| keyed_post(&app, &ada, "same", &body))).await;
    let locations: Vec<Option<&str>> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text());
            r.header("location")
        })
        .collect();
    assert!(locations.windows(2).all(|w| w[0] == w[1]), "{locations:?}");
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_expire_after_a_day_and_signup_and_comments_take_them_too() {
    let app = spawn_app().await;
    let clock = app.clock();
    let signup = || {
        app.send(
            app.request(reqwest::Method::POST, "/api/signup")
                .header("idempotency-key", "signup-1")
                .json(&json!({ "username": "ada", "password": "analytical engine" })),
        )
    };
    let first = signup().await;
    assert_eq!(first.status, 201);
    let again = signup().await;
    assert_eq!((again.status, again.json()), (201, first.json()));
    let ada = TestUser {
        id: first.json()["id"].as_str().unwrap().to_owned(),
        username: "ada".into(),
        password: "analytical engine".into(),
        token: app.login("ada", "analytical engine").await.json()["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let post = app.create_post(&ada, "Engine").await;
    let comment = |token: String| {
        app.send(
            app.request(
                reqwest::Method::POST,
                &format!("/api/posts/{}/comments", post["id"].as_str().unwrap()),
            )
            .bearer_auth(token)
            .header("idempotency-key", "comment-1")
            .json(&json!({ "body": "first!" })),
        )
    };
    assert_eq!(comment(ada.token.clone()).await.status, 201);
    let replayed = comment(ada.token.clone()).await;
    assert_eq!(replayed.header("idempotency-replayed"), Some("true"));
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 1);
    // A day later (and a new token later) the key is forgotten: the same
    // request creates again.
    clock.set(25 * 3_600_000);
    let token = app.login("ada", "analytical engine").await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = comment(token).await;
    assert_eq!(later.status, 201);
    assert_eq!(later.header("idempotency-replayed"), None);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM comments").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_keep_growing_when_a_node_clock_falls_behind() {
    let app = spawn_app().await;
    let clock = app.clock();
    let ada = app.create_user("ada").await;
    let before = app.create_post(&ada, "before").await;
    // This node's clock jumps an hour back (a Pi without a real-time clock).
    clock.set(-3_600_000);
    let after = app.create_post(&ada, "after").await;
    let id = |post: &Value| post["id"].as_str().unwrap().parse::<i64>().unwrap();
    assert!(id(&after) > id(&before));
    let newest = app.get("/api/posts", None).await.json();
    assert_eq!(newest["items"][0]["title"], "after");
    // Keyset paging from the newest sees the older one.
    let older = app
        .get(&format!("/api/posts?before={}", id(&after)), None)
        .await
        .json();
    assert_eq!(older["items"][0]["title"], "before");
    assert!(app.logs().join("\n").contains(r#""event":"clock_behind""#));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clock_before_the_omni_epoch_is_a_503_with_a_logged_reason() {
    let app = spawn_app().await;
    let clock = app.clock();
    // 2020: years before 2025-01-01, and nothing written yet to follow.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    clock.set(1_577_836_800_000 - now);
    let response = app.signup("ada", "analytical engine").await;
    assert_problem(&response, 503);
    assert_eq!(response.header("retry-after"), Some("5"));
    let logs = app.logs().join("\n");
    assert!(logs.contains("fix the clock"), "{logs}");
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_deleting_each_others_comments_at_once_never_get_a_500() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let on_adas = id(&app.create_post(&ada, "ada's").await);
    let on_bobs = id(&app.create_post(&bob, "bob's").await);
    let comment =
        async |post: &str, user: &TestUser| id(&app.create_comment(user, post, "hi").await);
    for _ in 0..10 {
        // Bob's comment on Ada's post, Ada's on Bob's: each post's author
        // deletes the other's comment, at the same moment.
        let bobs = comment(&on_adas, &bob).await;
        let adas = comment(&on_bobs, &ada).await;
        let (first, second) = (
            format!("/api/comments/{bobs}"),
            format!("/api/comments/{adas}"),
        );
        let (a, b) = futures::join!(
            app.delete(&first, Some(&ada.token)),
            app.delete(&second, Some(&bob.token)),
        );
        assert_eq!(
            (a.status, b.status),
            (204, 204),
            "{} {}",
            a.text(),
            b.text()
        );
    }
    for post in [&on_adas, &on_bobs] {
        assert_eq!(
            app.get(&format!("/api/posts/{post}"), None).await.json()["comment_count"],
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_stay_true_under_concurrent_creates_and_deletes() {
    let app = spawn_app().await;
    let users = join_all(["ada", "bob", "cyd", "dan"].map(|name| app.create_user(name))).await;
    let target = id(&app.create_post(&users[0], "target").await);
    let app = &app;
    let target = &target;
    let work = users.iter().flat_map(|user| {
        (0..6).map(move |i| async move {
            let post = app.create_post(user, &format!("{i}")).await;
            let comment = app.create_comment(user, target, "x").await;
            if i % 2 == 0 {
                let id = post["id"].as_str().unwrap();
                assert_eq!(
                    app.delete(&format!("/api/posts/{id}"), Some(&user.token))
                        .await
                        .status,
                    204
                );
                let id = comment["id"].as_str().unwrap();
                assert_eq!(
                    app.delete(&format!("/api/comments/{id}"), Some(&user.token))
                        .await
                        .status,
                    204
                );
            }
        })
    });
    join_all(work).await;
    let posts: i64 = app.scalar("SELECT COUNT(*) FROM posts").await;
    assert_eq!(posts, 13);
    assert_eq!(
        app.get("/api/posts", None).await.json()["total_items"],
        posts
    );
    let comments: i64 = app.scalar("SELECT COUNT(*) FROM comments").await;
    assert_eq!(comments, 12);
    let shown = app.get(&format!("/api/posts/{target}"), None).await.json();
    assert_eq!(shown["comment_count"], comments);
    let summed: i64 = app
        .scalar("SELECT CAST(SUM(comments) AS SIGNED) FROM post_counters")
        .await;
    assert_eq!(summed, comments);
    for user in &users {
        let listed = app
            .get(&format!("/api/users/{}/posts", user.id), None)
            .await
            .json();
        assert_eq!(
            listed["total_items"],
            if user.username == "ada" { 4 } else { 3 }
        );
    }
}

/// Lock conflicts that only MariaDB has: SQLite has a single writer. The
/// SQLite run leaves them out (`--skip mariadb_only::`).
mod mariadb_only {
    use super::*;

    /// Returns once a transaction of the app waits for a row lock, as InnoDB
    /// reports it: by then it holds every lock it took before. (Only the app
    /// uses this test's database besides the test itself.) InnoDB refreshes
    /// its `information_schema` tables only when they have gone unread for
    /// 0.1 s, so they are read every 0.2 s; the app waits 2 s for a lock
    /// before it gives up and tries again.
    async fn until_the_app_waits_for_a_lock(app: &TestApp) {
        let pace = std::time::Duration::from_millis(200);
        until_checking_every(
            pace,
            "a transaction of the app waits for a lock",
            async || {
                let waiting: i64 = app
                    .scalar(
                        "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
                     JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                     WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()",
                    )
                    .await;
                waiting > 0
            },
        )
        .await;
    }

    /// Opens a transaction of the test's own that holds (and has changed, so
    /// that InnoDB weighs it as the heavier) every post-counter slot. The
    /// caller rolls it back.
    async fn lock_counter_slots(app: &TestApp) -> mysql_async::Conn {
        let mut db = app.db().await;
        db.query_drop("START TRANSACTION").await.unwrap();
        db.query_drop("UPDATE counters SET value = value + 1 WHERE name = 'posts'")
            .await
            .unwrap();
        db
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_deadlock_provoked_on_purpose_is_retried_and_the_create_succeeds() {
        mariadb_only("SQLite's single writer cannot deadlock");
        let app = spawn_app().await;
        let ada = app.create_user("ada").await;
        // The test's transaction holds every post-counter slot. Ada's create
        // locks her user row, inserts, then waits for a slot; the test then
        // asks for Ada's row: a deadlock, which InnoDB breaks by rolling back
        // the lighter transaction, the app's.
        let mut db = lock_counter_slots(&app).await;
        let body = post_body("deadlocked");
        let create = app.post("/api/posts", &body, Some(&ada.token));
        let provoke = async {
            until_the_app_waits_for_a_lock(&app).await;
            db.exec_drop(
                "UPDATE users SET bio = 'the test was here' WHERE id = ?",
                (ada.id.parse::<i64>().unwrap(),),
            )
            .await
            .expect("InnoDB chose the app's transaction as the deadlock victim");
            db.query_drop("ROLLBACK").await.unwrap();
        };
        let (response, ()) = futures::join!(create, provoke);
        assert_eq!(response.status, 201, "{}", response.text());
        let logs = app.logs().join("\n");
        assert!(
            logs.contains(r#""event":"transaction_retried""#) && logs.contains("Deadlock"),
            "{logs}"
        );
        assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
        assert_eq!(app.get("/api/posts", None).await.json()["total_items"], 1);
        db.disconnect().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_lock_held_too_long_is_a_503_with_retry_after_and_nothing_written() {
        mariadb_only("the SQLite run covers a locked database in outage.rs");
        let app = spawn_app().await;
        let ada = app.create_user("ada").await;
        let mut db = lock_counter_slots(&app).await;
        let response = app
            .post("/api/posts", &post_body("blocked"), Some(&ada.token))
            .await;
        db.query_drop("ROLLBACK").await.unwrap();
        db.disconnect().await.unwrap();
        assert_problem(&response, 503);
        assert_eq!(response.header("retry-after"), Some("5"));
        assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 0);
        assert!(app.logs().join("\n").contains("Lock wait timeout"));
        assert_eq!(app.create_post(&ada, "later").await["title"], "later");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyed_signup_keeps_only_a_keyed_fingerprint_and_writes_sweep_expired_rows() {
    use sha2::{Digest, Sha256};
    let clock = ClockOffset::default();
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let body = json!({ "username": "ada", "password": "analytical engine" });
    let signup = app
        .send(
            app.request(reqwest::Method::POST, "/api/signup")
                .header("idempotency-key", "signup-1")
                .json(&body),
        )
        .await;
    assert_eq!(signup.status, 201);
    let fingerprint: String = app
        .scalar("SELECT request_hash FROM idempotency_keys")
        .await;
    let stored: String = app.scalar("SELECT body FROM idempotency_keys").await;
    assert!(!stored.contains("analytical"), "{stored}");
    // Neither the digest of the body nor of its fields, unkeyed.
    let digest = |bytes: &[u8]| {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_ne!(fingerprint, digest(body.to_string().as_bytes()));
    assert_ne!(fingerprint, digest(b"signupada"));
    assert_eq!(fingerprint.len(), 64);

    // A day on, nothing but ordinary writes (no keyed create) clears the
    // expired record and the expired session.
    clock.set(25 * 3_600_000);
    let token = app.login("ada", "analytical engine").await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..80 {
        let edit = app
            .patch(
                "/api/me",
                &json!({ "bio": format!("edit {n}") }),
                Some(&token),
            )
            .await;
        assert_eq!(edit.status, 200);
    }
    assert_eq!(
        app.scalar::<i64>("SELECT COUNT(*) FROM idempotency_keys")
            .await,
        0
    );
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM sessions").await, 1);
}
