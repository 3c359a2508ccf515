//! Rate limits, on either store: each one trips at its threshold, costs no
//! bcrypt or database work when it does, ends with its window, and holds
//! across two hosts that share one store.

use omni_testkit::{
    AppOptions, ClockOffset, Redis, Store, TEST_REDIS_TIMEOUT_MS, TestApp, TestResponse,
    spawn_app_with,
};
use serde_json::json;

use crate::problems::assert_problem;

on_each_store!(
    logins_per_address_trip_at_the_limit_cost_nothing_then_and_reset,
    failed_logins_lock_an_account_for_the_window_and_then_for_the_day,
    signups_per_address_trip_at_the_limit_and_write_nothing_then,
    writes_per_user_trip_at_the_limit_for_that_user_only,
    a_client_cannot_dodge_a_limit_with_x_forwarded_for,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance,
    a_limit_holds_across_two_hosts_sharing_one_store,
);

/// An app on `store` with the limits in `limits` on (every other limit
/// stays off).
async fn app_with(store: Store, limits: &[(&str, &str)], clock: &ClockOffset) -> TestApp {
    spawn_app_with(AppOptions {
        variables: limits
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        clock: clock.clone(),
        store,
        ..AppOptions::default()
    })
    .await
}

/// Asserts a 429 with a `Retry-After` of at most `window` seconds.
fn assert_limited(response: &TestResponse, window: u64) {
    assert_problem(response, 429);
    let retry: u64 = response
        .header("retry-after")
        .expect("a Retry-After")
        .parse()
        .unwrap();
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Shifts `clock` to one second past the start of a UTC day (and so of a
/// minute, a quarter hour and an hour), so that no window ends during a
/// test by chance, and returns the shift.
pub(crate) fn start_of_a_day(clock: &ClockOffset) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let shift = DAY_MS - now % DAY_MS + 1_000;
    clock.set(shift);
    shift
}

async fn logins_per_address_trip_at_the_limit_cost_nothing_then_and_reset(store: Store) {
    let clock = ClockOffset::default();
    let base = start_of_a_day(&clock);
    let app = app_with(store, &[("limit_logins_per_ip_per_minute", "3")], &clock).await;
    app.signup("ada", "analytical engine").await;
    for _ in 0..3 {
        assert_eq!(app.login("ada", "analytical engine").await.status, 200);
    }
    let statements = app.host().stats().component("login").statements;
    assert_limited(&app.login("ada", "analytical engine").await, 60);
    // Refused at the door: no database statement, so no bcrypt either.
    assert_eq!(app.host().stats().component("login").statements, statements);
    clock.set(base + 61_000);
    assert_eq!(app.login("ada", "analytical engine").await.status, 200);
}

async fn failed_logins_lock_an_account_for_the_window_and_then_for_the_day(store: Store) {
    let clock = ClockOffset::default();
    let base = start_of_a_day(&clock);
    let app = app_with(
        store,
        &[
            ("limit_login_failures_per_account_per_quarter_hour", "2"),
            ("limit_login_failures_per_account_per_day", "3"),
        ],
        &clock,
    )
    .await;
    app.signup("ada", "analytical engine").await;
    for _ in 0..2 {
        assert_problem(&app.login("ada", "wrong password").await, 401);
    }
    // Locked, even with the right password, and whatever the letter case.
    assert_limited(&app.login("ada", "analytical engine").await, 15 * 60);
    assert_limited(&app.login("ADA", "analytical engine").await, 15 * 60);
    // Other accounts are not.
    app.signup("bob", "difference engine").await;
    assert_eq!(app.login("bob", "difference engine").await.status, 200);
    // The next window opens; one more failure reaches the daily limit.
    clock.set(base + 16 * 60_000);
    assert_problem(&app.login("ada", "wrong again").await, 401);
    assert_limited(&app.login("ada", "analytical engine").await, 24 * 3600);
    clock.set(base + 25 * HOUR_MS);
    assert_eq!(app.login("ada", "analytical engine").await.status, 200);
    let logs = app.logs().join("\n");
    assert!(logs.contains(r#""event":"login_failed""#), "{logs}");
    assert!(!logs.contains("wrong password") && !logs.contains("wrong again"));
}

async fn signups_per_address_trip_at_the_limit_and_write_nothing_then(store: Store) {
    let clock = ClockOffset::default();
    let base = start_of_a_day(&clock);
    let app = app_with(store, &[("limit_signups_per_ip_per_hour", "2")], &clock).await;
    assert_eq!(app.signup("ada", "analytical engine").await.status, 201);
    assert_eq!(app.signup("bob", "difference engine").await.status, 201);
    assert_limited(&app.signup("cyd", "jacquard loom!").await, 3600);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM users").await, 2);
    clock.set(base + HOUR_MS);
    assert_eq!(app.signup("cyd", "jacquard loom!").await.status, 201);
}

async fn writes_per_user_trip_at_the_limit_for_that_user_only(store: Store) {
    let clock = ClockOffset::default();
    let base = start_of_a_day(&clock);
    let app = app_with(store, &[("limit_writes_per_user_per_minute", "3")], &clock).await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let post = app.create_post(&ada, "one").await;
    let id = post["id"].as_str().unwrap();
    let comment = app
        .post(
            &format!("/api/posts/{id}/comments"),
            &json!({ "body": "two" }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(comment.status, 201);
    let edit = app
        .patch("/api/me", &json!({ "bio": "three" }), Some(&ada.token))
        .await;
    assert_eq!(edit.status, 200);
    let refused = app
        .post(
            "/api/posts",
            &json!({ "title": "four", "markdown_url": "https://x.io/a.md" }),
            Some(&ada.token),
        )
        .await;
    assert_limited(&refused, 60);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM posts").await, 1);
    assert_eq!(app.create_post(&bob, "bob's").await["title"], "bob's");
    clock.set(base + 61_000);
    assert_eq!(app.create_post(&ada, "five").await["title"], "five");
}

async fn a_client_cannot_dodge_a_limit_with_x_forwarded_for(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = app_with(store, &[("limit_logins_per_ip_per_minute", "2")], &clock).await;
    let login = |forwarded: &'static str| {
        app.send(
            app.request(reqwest::Method::POST, "/api/login")
                .header("x-forwarded-for", forwarded)
                .header("spin-client-addr", "10.9.9.9:1")
                .json(&json!({ "username": "nobody", "password": "whatever!" })),
        )
    };
    assert_problem(&login("1.1.1.1").await, 401);
    assert_problem(&login("2.2.2.2").await, 401);
    assert_limited(&login("3.3.3.3").await, 60);
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = app_with(
        store,
        &[
            ("limit_logins_per_ip_per_minute", "1"),
            ("trusted_proxies", "127.0.0.0/8"),
        ],
        &clock,
    )
    .await;
    let login = |forwarded: &'static str| {
        app.send(
            app.request(reqwest::Method::POST, "/api/login")
                .header("x-forwarded-for", forwarded)
                .json(&json!({ "username": "nobody", "password": "whatever!" })),
        )
    };
    assert_problem(&login("198.51.100.1").await, 401);
    assert_problem(&login("198.51.100.2").await, 401);
    assert_limited(&login("198.51.100.1").await, 60);
}

async fn a_limit_holds_across_two_hosts_sharing_one_store(store: Store) {
    let redis = Redis::start().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    // Spin's key-value store shared through Spin's Redis backend, or Omni's
    // own Redis client on the same server.
    let (runtime_config_file, mut variables) = match store {
        Store::SpinKeyValue => (
            Some(redis.runtime_config(config_dir.path()).unwrap()),
            vec![],
        ),
        Store::Redis => (
            None,
            vec![
                ("limits_redis_address".to_owned(), redis.address()),
                (
                    "redis_timeout_ms".to_owned(),
                    TEST_REDIS_TIMEOUT_MS.to_owned(),
                ),
            ],
        ),
    };
    variables.push(("limit_logins_per_ip_per_minute".to_owned(), "3".to_owned()));
    let first = spawn_app_with(AppOptions {
        variables: variables.clone(),
        runtime_config_file: runtime_config_file.clone(),
        ..AppOptions::default()
    })
    .await;
    if let Some(url) = first.db_url() {
        variables.push(("db_url".to_owned(), url.to_owned()));
    }
    let second = spawn_app_with(AppOptions {
        variables,
        runtime_config_file,
        ..AppOptions::default()
    })
    .await;
    let attempts = [&first, &second, &first];
    for app in attempts {
        assert_problem(&app.login("nobody", "whatever!").await, 401);
    }
    assert_limited(&second.login("nobody", "whatever!").await, 60);
    assert_limited(&first.login("nobody", "whatever!").await, 60);
}
