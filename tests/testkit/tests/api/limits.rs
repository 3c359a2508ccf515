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
    every_spelling_of_a_username_shares_one_login_budget_or_is_refused,
    an_address_that_keeps_failing_waits_longer_each_time_never_a_whole_day,
    the_owner_logs_in_from_a_clean_address_while_an_attacker_is_held_back,
    parallel_guesses_each_take_a_place_so_only_the_free_ones_are_checked,
    a_refused_login_spends_no_bcrypt_or_database_work,
    signups_per_address_trip_at_the_limit_and_write_nothing_then,
    writes_per_user_trip_at_the_limit_for_that_user_only,
    a_client_cannot_dodge_a_limit_with_x_forwarded_for,
    a_forged_entry_left_of_garbage_in_x_forwarded_for_is_not_a_new_client,
    ipv6_clients_in_one_64_share_an_allowance,
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

/// `POST /api/login` as a client at `address`, behind the trusted proxy
/// that every test app here has on 127.0.0.0/8.
async fn login_from(app: &TestApp, address: &str, username: &str, password: &str) -> TestResponse {
    app.send(
        app.request(reqwest::Method::POST, "/api/login")
            .header("x-forwarded-for", address)
            .json(&json!({ "username": username, "password": password })),
    )
    .await
}

/// An app allowing `per_minute` logins per client address, behind a
/// trusted proxy on loopback, every other limit off.
async fn behind_proxy(store: Store, per_minute: &str, clock: &ClockOffset) -> TestApp {
    app_with(
        store,
        &[
            ("limit_logins_per_ip_per_minute", per_minute),
            ("trusted_proxies", "127.0.0.0/8"),
        ],
        clock,
    )
    .await
}

/// An app with the login backoffs (`per_address` free checks of one account
/// from one address, `per_account` of one account from failing addresses)
/// and every other limit off, behind a trusted proxy on loopback.
async fn login_app(
    store: Store,
    per_address: &str,
    per_account: &str,
    clock: &ClockOffset,
) -> TestApp {
    app_with(
        store,
        &[
            ("limit_login_attempts_per_account_and_address", per_address),
            ("limit_login_attempts_per_account", per_account),
            ("trusted_proxies", "127.0.0.0/8"),
        ],
        clock,
    )
    .await
}

/// The `Retry-After` of a 429.
fn retry_after(response: &TestResponse) -> u64 {
    assert_problem(response, 429);
    response.header("retry-after").unwrap().parse().unwrap()
}

async fn every_spelling_of_a_username_shares_one_login_budget_or_is_refused(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = login_app(store, "3", "0", &clock).await;
    app.signup("ada", "analytical engine").await;
    let attacker = "198.51.100.1";
    // Three guesses, each under another spelling of the same account.
    for spelling in ["ada", "ADA ", "\u{ff41}da"] {
        assert_problem(
            &login_from(&app, attacker, spelling, "wrong guess").await,
            401,
        );
    }
    // The budget is spent for every spelling, with the right password too.
    for spelling in ["ada", " Ada", "ada ", "\u{ff21}\u{ff24}\u{ff21}", "aDa"] {
        let response = login_from(&app, attacker, spelling, "analytical engine").await;
        let wait = retry_after(&response);
        assert!((1..=30).contains(&wait), "{spelling:?}: Retry-After {wait}");
    }
    // A spelling that folds accents would be another name: it names no
    // account, and checks no password.
    for refused in ["\u{c1}DA", "\u{e1}da", "a da"] {
        assert_problem(
            &login_from(&app, attacker, refused, "analytical engine").await,
            401,
        );
    }
    // From elsewhere, any spelling logs in as ada.
    let response = login_from(
        &app,
        "203.0.113.5",
        "\u{ff41}\u{ff24}a ",
        "analytical engine",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["user"]["username"], "ada");
}

async fn an_address_that_keeps_failing_waits_longer_each_time_never_a_whole_day(store: Store) {
    let clock = ClockOffset::default();
    let base = start_of_a_day(&clock);
    let app = login_app(store, "2", "0", &clock).await;
    app.signup("ada", "analytical engine").await;
    let guesser = "198.51.100.1";
    for _ in 0..2 {
        assert_problem(&login_from(&app, guesser, "ada", "wrong guess").await, 401);
    }
    // 30 s, then 60 s, then 120 s: each delay doubles, and each lets one
    // more guess through once it has passed.
    let mut at = base;
    for delay in [30_u64, 60, 120] {
        let wait = retry_after(&login_from(&app, guesser, "ada", "wrong guess").await);
        assert!(
            wait <= delay && wait + 2 >= delay,
            "wait {wait}, expected {delay}"
        );
        at += i64::try_from(delay).unwrap() * 1000 + 1000;
        clock.set(at);
        assert_problem(&login_from(&app, guesser, "ada", "wrong guess").await, 401);
    }
    // Once the delay has passed, the right password gets in, and the
    // address starts afresh: two free failures again.
    let wait = retry_after(&login_from(&app, guesser, "ada", "analytical engine").await);
    assert!(wait <= 240);
    clock.set(at + 241_000);
    assert_eq!(
        login_from(&app, guesser, "ada", "analytical engine")
            .await
            .status,
        200
    );
    for _ in 0..2 {
        assert_problem(&login_from(&app, guesser, "ada", "wrong guess").await, 401);
    }
    let logs = app.logs().join("\n");
    assert!(logs.contains(r#""event":"login_failed""#), "{logs}");
    assert!(!logs.contains("wrong guess"));
}

async fn the_owner_logs_in_from_a_clean_address_while_an_attacker_is_held_back(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = login_app(store, "2", "3", &clock).await;
    app.signup("ada", "analytical engine").await;
    // One address spends its free guesses and is delayed.
    for _ in 0..2 {
        assert_problem(&login_from(&app, "198.51.100.1", "ada", "guess").await, 401);
    }
    retry_after(&login_from(&app, "198.51.100.1", "ada", "analytical engine").await);
    // A second address gets one guess (it had not been failing); that
    // spends the account's free failures, so its next waits for the
    // account's delay.
    assert_problem(&login_from(&app, "198.51.100.2", "ada", "guess").await, 401);
    retry_after(&login_from(&app, "198.51.100.2", "ada", "guess").await);
    retry_after(&login_from(&app, "198.51.100.2", "ada", "analytical engine").await);
    // The owner, from an address that has not been failing, gets in.
    let owner = login_from(&app, "203.0.113.5", "ada", "analytical engine").await;
    assert_eq!(owner.status, 200, "{}", owner.text());
    // Another account is untouched.
    app.signup("bob", "difference engine").await;
    assert_eq!(
        login_from(&app, "198.51.100.1", "bob", "difference engine")
            .await
            .status,
        200
    );
}

async fn parallel_guesses_each_take_a_place_so_only_the_free_ones_are_checked(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = login_app(store, "3", "0", &clock).await;
    app.signup("ada", "analytical engine").await;
    let guesses = (0..16).map(|_| login_from(&app, "198.51.100.1", "ada", "wrong guess"));
    let statuses: Vec<u16> = futures::future::join_all(guesses)
        .await
        .iter()
        .map(|response| response.status)
        .collect();
    let checked = statuses.iter().filter(|status| **status == 401).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!((checked, refused), (3, 13), "{statuses:?}");
}

async fn a_refused_login_spends_no_bcrypt_or_database_work(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = login_app(store, "1", "0", &clock).await;
    app.signup("ada", "analytical engine").await;
    assert_problem(&login_from(&app, "198.51.100.1", "ada", "guess").await, 401);
    let statements = app.host().stats().component("login").statements;
    retry_after(&login_from(&app, "198.51.100.1", "ada", "analytical engine").await);
    assert_eq!(app.host().stats().component("login").statements, statements);
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

async fn a_forged_entry_left_of_garbage_in_x_forwarded_for_is_not_a_new_client(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = behind_proxy(store, "2", &clock).await;
    let login = |forwarded: &'static str| login_from(&app, forwarded, "nobody", "whatever!");
    // Each names a fresh address on the left of something that is not
    // one: all count as the proxy that passed them on.
    assert_problem(&login("6.6.6.1, x").await, 401);
    assert_problem(&login("6.6.6.2, unknown").await, 401);
    assert_limited(&login("6.6.6.3, ").await, 60);
}

async fn ipv6_clients_in_one_64_share_an_allowance(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = behind_proxy(store, "2", &clock).await;
    let login = |forwarded: &'static str| login_from(&app, forwarded, "nobody", "whatever!");
    assert_problem(&login("2001:db8:1:2::1").await, 401);
    assert_problem(&login("2001:db8:1:2:ffff:ffff:ffff:ffff").await, 401);
    assert_limited(&login("2001:db8:1:2:abcd::9").await, 60);
    // The next /64 is another client.
    assert_problem(&login("2001:db8:1:3::1").await, 401);
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance(store: Store) {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let app = behind_proxy(store, "1", &clock).await;
    let login = |forwarded: &'static str| login_from(&app, forwarded, "nobody", "whatever!");
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
