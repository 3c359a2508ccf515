//! The shared response cache, on either store: hits skip the database,
//! ETags give 304s, every write shows at once in every read that shows what
//! it changed, query parameters the endpoint ignores make no new entries,
//! and a failing store costs no error. On Redis a hit is one `MGET`.

use omni_testkit::{
    AppOptions, Redis, Store, TEST_REDIS_TIMEOUT_MS, TestApp, TestUser, id, mariadb_only,
    spawn_app_with, until,
};
use serde_json::json;

on_each_store!(
    a_second_read_is_a_hit_that_skips_the_database_and_an_etag_gets_a_304,
    a_public_get_with_any_authorization_header_costs_no_more_than_a_hit,
    every_write_shows_at_once_in_every_cached_read_of_what_it_changed,
    query_parameters_the_endpoint_ignores_make_no_new_entries,
);

async fn app_on(store: Store) -> TestApp {
    spawn_app_with(AppOptions {
        store,
        ..AppOptions::default()
    })
    .await
}

/// What a public read looks like to the cache's client.
struct Read {
    status: u16,
    cache: String,
    etag: Option<String>,
    body: String,
}

async fn read(app: &TestApp, path: &str) -> Read {
    let response = app.get(path, None).await;
    Read {
        status: response.status,
        cache: response.header("x-cache").unwrap_or_default().to_owned(),
        etag: response.header("etag").map(str::to_owned),
        body: response.text(),
    }
}

async fn a_second_read_is_a_hit_that_skips_the_database_and_an_etag_gets_a_304(store: Store) {
    let app = app_on(store).await;
    let ada = app.create_user("ada").await;
    app.create_post(&ada, "Engine").await;
    let statements = || app.host().stats().component("posts").statements;

    let first = read(&app, "/api/posts").await;
    assert_eq!((first.status, first.cache.as_str()), (200, "miss"));
    let before = statements();
    let second = read(&app, "/api/posts").await;
    assert_eq!(second.cache, "hit");
    assert_eq!(second.body, first.body);
    assert_eq!(second.etag, first.etag);
    assert_eq!(statements(), before, "a hit ran SQL");

    let etag = first.etag.unwrap();
    let conditional = app
        .send(
            app.request(reqwest::Method::GET, "/api/posts")
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(conditional.status, 304);
    assert!(conditional.body.is_empty());
    assert_eq!(conditional.header("etag"), Some(etag.as_str()));
    assert_eq!(statements(), before, "a 304 ran SQL");
    let public = "public, max-age=5, stale-while-revalidate=30";
    assert_eq!(conditional.header("cache-control"), Some(public));
}

async fn a_public_get_with_any_authorization_header_costs_no_more_than_a_hit(store: Store) {
    let app = app_on(store).await;
    let ada = app.create_user("ada").await;
    app.create_post(&ada, "Analytical Engine").await;
    let statements = || app.host().stats().component("posts").statements;
    let warm = app.get("/api/posts", None).await;
    let before = statements();
    for token in [ada.token.as_str(), "not.a.token", "x"] {
        let response = app.get("/api/posts", Some(token)).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-cache"), Some("hit"), "{token}");
        assert_eq!(response.body, warm.body);
    }
    let basic = app
        .send(
            app.request(reqwest::Method::GET, "/api/posts")
                .header("authorization", "Basic YWRhOmFkYQ=="),
        )
        .await;
    assert_eq!(basic.header("x-cache"), Some("hit"));
    assert_eq!(statements(), before, "a request with a token ran SQL");
}

/// The fixtures the write × read matrix works on.
struct World {
    ada: TestUser,
    bob: TestUser,
    post: String,
    comment: String,
}

async fn world(app: &TestApp) -> World {
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let post = id(&app.create_post(&ada, "Analytical Engine").await);
    let comment = id(&app.create_comment(&bob, &post, "First comment").await);
    World {
        ada,
        bob,
        post,
        comment,
    }
}

/// Every cached read of the world, API and website.
fn reads(world: &World) -> Vec<String> {
    let (post, ada) = (&world.post, &world.ada.id);
    vec![
        "/api/posts".into(),
        format!("/api/posts?before={}", i64::MAX),
        format!("/api/posts/{post}"),
        format!("/api/posts/{post}/comments"),
        format!("/api/users/{ada}"),
        format!("/api/users/{ada}/posts"),
        "/".into(),
        format!("/posts/{post}"),
        format!("/users/{ada}"),
    ]
}

/// Reads every path until it is cached, and returns the bodies.
async fn prime(app: &TestApp, paths: &[String]) -> Vec<String> {
    let mut bodies = Vec::new();
    for path in paths {
        read(app, path).await;
        let cached = read(app, path).await;
        assert_eq!(cached.cache, "hit", "{path} is not cached");
        bodies.push(cached.body);
    }
    bodies
}

/// Does `write` and checks that every read in `shows` answers anew at once
/// (a miss whose body changed), and, where given, shows `marker`.
async fn check_write(
    app: &TestApp,
    world: &World,
    name: &str,
    write: impl AsyncFnOnce() -> u16,
    shows: &[(usize, Option<&str>)],
) {
    let paths = reads(world);
    let before = prime(app, &paths).await;
    let status = write().await;
    assert!((200..300).contains(&status), "{name}: {status}");
    for (index, marker) in shows {
        let after = read(app, &paths[*index]).await;
        let path = &paths[*index];
        assert_ne!(after.cache, "hit", "{name}: {path} is stale");
        assert_ne!(after.body, before[*index], "{name}: {path} did not change");
        if let Some(marker) = marker {
            assert!(
                after.body.contains(marker),
                "{name}: {path} lacks {marker:?}"
            );
        }
    }
}

// Indexes into `reads`.
const LIST: usize = 0;
const LIST_BEFORE: usize = 1;
const POST: usize = 2;
const COMMENTS: usize = 3;
const USER: usize = 4;
const USER_POSTS: usize = 5;
const HOME: usize = 6;
const POST_PAGE: usize = 7;
const USER_PAGE: usize = 8;

async fn every_write_shows_at_once_in_every_cached_read_of_what_it_changed(store: Store) {
    let app = app_on(store).await;
    let w = world(&app).await;
    let (post, comment) = (w.post.clone(), w.comment.clone());

    check_write(
        &app,
        &w,
        "create a post",
        async || {
            app.post(
                "/api/posts",
                &json!({ "title": "Difference Engine", "markdown_url": "https://x.io/d.md" }),
                Some(&w.ada.token),
            )
            .await
            .status
        },
        &[
            (LIST, Some("Difference Engine")),
            (LIST_BEFORE, Some("Difference Engine")),
            (USER_POSTS, Some("Difference Engine")),
            (HOME, Some("Difference Engine")),
            (USER_PAGE, Some("Difference Engine")),
        ],
    )
    .await;

    check_write(
        &app,
        &w,
        "edit a post",
        async || {
            app.patch(
                &format!("/api/posts/{post}"),
                &json!({ "title": "Engine, edited" }),
                Some(&w.ada.token),
            )
            .await
            .status
        },
        &[
            (LIST, Some("Engine, edited")),
            (POST, Some("Engine, edited")),
            (USER_POSTS, Some("Engine, edited")),
            (HOME, Some("Engine, edited")),
            (POST_PAGE, Some("Engine, edited")),
            (USER_PAGE, Some("Engine, edited")),
        ],
    )
    .await;

    check_write(
        &app,
        &w,
        "create a comment",
        async || {
            app.post(
                &format!("/api/posts/{post}/comments"),
                &json!({ "body": "Second comment" }),
                Some(&w.bob.token),
            )
            .await
            .status
        },
        &[
            (LIST, None),
            (POST, None),
            (COMMENTS, Some("Second comment")),
            (USER_POSTS, None),
            (HOME, None),
            (POST_PAGE, Some("Second comment")),
        ],
    )
    .await;

    check_write(
        &app,
        &w,
        "edit a comment",
        async || {
            app.patch(
                &format!("/api/comments/{comment}"),
                &json!({ "body": "First, edited" }),
                Some(&w.bob.token),
            )
            .await
            .status
        },
        &[
            (COMMENTS, Some("First, edited")),
            (POST_PAGE, Some("First, edited")),
        ],
    )
    .await;

    check_write(
        &app,
        &w,
        "delete a comment",
        async || {
            app.delete(&format!("/api/comments/{comment}"), Some(&w.ada.token))
                .await
                .status
        },
        &[
            (LIST, None),
            (POST, None),
            (COMMENTS, None),
            (USER_POSTS, None),
            (POST_PAGE, None),
        ],
    )
    .await;

    check_write(
        &app,
        &w,
        "edit a profile",
        async || {
            app.patch(
                "/api/me",
                &json!({ "display_name": "Countess Lovelace" }),
                Some(&w.ada.token),
            )
            .await
            .status
        },
        &[
            (LIST, Some("Countess Lovelace")),
            (POST, Some("Countess Lovelace")),
            (USER, Some("Countess Lovelace")),
            (USER_POSTS, Some("Countess Lovelace")),
            (HOME, Some("Countess Lovelace")),
            (POST_PAGE, Some("Countess Lovelace")),
            (USER_PAGE, Some("Countess Lovelace")),
        ],
    )
    .await;

    check_write(
        &app,
        &w,
        "delete a post",
        async || {
            app.delete(&format!("/api/posts/{post}"), Some(&w.ada.token))
                .await
                .status
        },
        &[
            (LIST, None),
            (POST, None),
            (COMMENTS, None),
            (USER_POSTS, None),
            (HOME, None),
            (POST_PAGE, None),
            (USER_PAGE, None),
        ],
    )
    .await;
    assert_eq!(read(&app, &format!("/api/posts/{post}")).await.status, 404);
}

async fn query_parameters_the_endpoint_ignores_make_no_new_entries(store: Store) {
    let app = app_on(store).await;
    let ada = app.create_user("ada").await;
    let post = id(&app.create_post(&ada, "Engine").await);
    for (path, same) in [
        ("/api/posts", "/api/posts?utm_source=feed&x=1"),
        ("/api/posts?page=1", "/api/posts?ref=a&page=1&ref=b"),
        (
            &format!("/api/posts/{post}") as &str,
            &format!("/api/posts/{post}?v=2"),
        ),
        ("/", "/?fbclid=abc"),
    ] {
        assert_eq!(read(&app, path).await.cache, "miss", "{path}");
        assert_eq!(read(&app, same).await.cache, "hit", "{same}");
    }
    // The parameters it reads do.
    assert_eq!(read(&app, "/api/posts?page=2").await.cache, "miss");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_redis_a_hit_is_one_mget() {
    let redis = Redis::start().unwrap();
    let app = spawn_app_with(AppOptions {
        variables: vec![
            ("cache_redis_address".into(), redis.address()),
            ("redis_timeout_ms".into(), TEST_REDIS_TIMEOUT_MS.into()),
        ],
        ..AppOptions::default()
    })
    .await;
    let ada = app.create_user("ada").await;
    app.create_post(&ada, "Engine").await;
    assert_eq!(read(&app, "/api/posts").await.cache, "miss");
    until("the miss's entry is stored", async || {
        redis.cli(&["DBSIZE"]).unwrap().trim() != "0"
            && redis.cli(&["KEYS", "c:*"]).unwrap().trim() != ""
    })
    .await;
    redis.cli(&["CONFIG", "RESETSTAT"]).unwrap();
    assert_eq!(read(&app, "/api/posts").await.cache, "hit");
    let stats = redis.cli(&["INFO", "commandstats"]).unwrap();
    let commands: Vec<&str> = stats
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter(|line| !line.starts_with("info:") && !line.starts_with("config|"))
        .collect();
    assert_eq!(commands.len(), 1, "{stats}");
    assert!(commands[0].starts_with("mget:calls=1,"), "{stats}");
}

/// Spin's key-value store only: a Redis that fails is tested in `redis.rs`.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_store_costs_no_error_and_reads_fall_through_to_the_database() {
    let app = app_on(Store::SpinKeyValue).await;
    let ada = app.create_user("ada").await;
    app.create_post(&ada, "Engine").await;
    read(&app, "/api/posts").await;
    assert_eq!(read(&app, "/api/posts").await.cache, "hit");
    // The key-value file is replaced by garbage: every store call fails.
    let store = app.state_dir().join("sqlite_key_value.db");
    std::fs::write(&store, vec![0x42; 64 * 1024]).unwrap();
    let fell_through = read(&app, "/api/posts").await;
    assert_eq!(fell_through.status, 200);
    assert_eq!(fell_through.cache, "unavailable");
    assert!(fell_through.body.contains("Engine"));
    // Writes still work, and show.
    app.create_post(&ada, "Difference Engine").await;
    assert!(
        read(&app, "/api/posts")
            .await
            .body
            .contains("Difference Engine")
    );
    assert!(
        app.logs()
            .join("\n")
            .contains(r#""event":"cache_unavailable""#)
    );
}

/// A Redis outage does not depend on the database, so it is tested once, on
/// MariaDB; the SQLite run leaves it out (`--skip mariadb_only::`).
mod mariadb_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn reads_during_a_redis_outage_answer_correctly_once_it_is_back() {
        mariadb_only("the key-value store does not depend on the database: run once, on MariaDB");
        let mut redis = Redis::start().unwrap();
        let config_dir = tempfile::tempdir().unwrap();
        let app = spawn_app_with(AppOptions {
            runtime_config_file: Some(redis.runtime_config(config_dir.path()).unwrap()),
            ..AppOptions::default()
        })
        .await;
        let ada = app.create_user("ada").await;
        app.create_post(&ada, "Engine").await;
        read(&app, "/api/posts").await;
        assert_eq!(read(&app, "/api/posts").await.cache, "hit");

        // Spin's Redis store does not fail fast: it retries the connection, so
        // a read waits until Redis is back (see docs/testing.md), then answers.
        // The test stands in for Redis on its port, and brings Redis back once
        // the read has reached its component and the host's reconnection has
        // arrived.
        let outage = redis.stop_and_watch_its_port().await.unwrap();
        let routed = || app.host().stats().component("posts").requests;
        let before = routed();
        let during = read(&app, "/api/posts");
        let restart = async {
            until("the read reaches its component", async || routed() > before).await;
            let held = outage.client_connects().await.unwrap();
            held.restart_redis().await.unwrap();
        };
        let (during, ()) = futures::join!(during, restart);
        assert_eq!(during.status, 200);
        assert!(during.body.contains("Engine"));
        app.create_post(&ada, "Difference Engine").await;
        let after = read(&app, "/api/posts").await;
        assert!(
            after.body.contains("Difference Engine"),
            "stale after the outage"
        );
    }
}
