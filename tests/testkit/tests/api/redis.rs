//! Omni's own Redis client, with the cache and the limits on two servers
//! as on SpinKube, and those servers really killed, frozen (SIGSTOP) and
//! restarted: reads answer from the database, writes and logins go on
//! with the limits failing open as logged events, no request waits past
//! the bound, and once Redis is back the cache serves hits and the limits
//! count again. Tests assert that requests are answered and what the logs
//! say, never how fast.
//!
//! None of this depends on the database, so it runs once, on MariaDB: the
//! SQLite run leaves the module out (`--skip mariadb_only::`).

use omni_testkit::{AppOptions, ClockOffset, Redis, TestApp, spawn_app_with, until};

use crate::limits::start_of_a_day;

/// The cache's Redis and the limits' Redis.
struct Servers {
    cache: Redis,
    limits: Redis,
}

impl Servers {
    fn start() -> Self {
        Self {
            cache: Redis::start().unwrap(),
            limits: Redis::start().unwrap(),
        }
    }
}

/// Logins allowed per address per minute in these tests.
const LOGINS: usize = 3;

/// An app on `servers`, where each may keep a request waiting
/// `timeout_ms`, with the per-address login limit on and the clock at the
/// start of a minute (so no window ends by chance during a test).
async fn app_on(servers: &Servers, timeout_ms: &str, extra: &[(&str, &str)]) -> TestApp {
    let clock = ClockOffset::default();
    start_of_a_day(&clock);
    let mut variables = vec![
        ("cache_redis_address".to_owned(), servers.cache.address()),
        ("limits_redis_address".to_owned(), servers.limits.address()),
        ("redis_timeout_ms".to_owned(), timeout_ms.to_owned()),
        (
            "limit_logins_per_ip_per_minute".to_owned(),
            LOGINS.to_string(),
        ),
    ];
    variables.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    spawn_app_with(AppOptions {
        variables,
        clock,
        ..AppOptions::default()
    })
    .await
}

/// `GET path`: the status, `X-Cache` and the body.
async fn read(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app.get(path, None).await;
    let cache = response.header("x-cache").unwrap_or_default().to_owned();
    (response.status, cache, response.text())
}

/// Reads `/api/posts` until it is a hit: the cache works (again).
async fn until_the_list_is_a_hit(app: &TestApp) {
    until("the list is served from the cache", async || {
        read(app, "/api/posts").await.1 == "hit"
    })
    .await;
}

/// Logs in as `user` until a login is refused with 429: the limit counts
/// (again). A login is counted, so at most `LOGINS + 1` tries in a window.
async fn until_a_login_is_limited(app: &TestApp, user: &omni_testkit::TestUser) {
    let mut refused = false;
    for _ in 0..=LOGINS {
        let status = app.login(&user.username, &user.password).await.status;
        if status == 429 {
            refused = true;
            break;
        }
        assert_eq!(status, 200);
    }
    assert!(refused, "the login limit no longer counts");
}

/// The log's events named `event` that mention `text`.
fn events(app: &TestApp, event: &str, text: &str) -> usize {
    let tag = format!(r#""event":"{event}""#);
    app.logs()
        .iter()
        .filter(|line| line.contains(&tag) && line.contains(text))
        .count()
}

/// What a read, a write and logins (more than the limit allows) do with
/// the servers down: all answered from the database, the logins too.
async fn everything_goes_on_without_redis(app: &TestApp, ada: &omni_testkit::TestUser) {
    let (status, cache, body) = read(app, "/api/posts").await;
    assert_eq!((status, cache.as_str()), (200, "unavailable"));
    assert!(body.contains("Engine"), "{body}");
    app.create_post(ada, "Difference Engine").await;
    let (_, _, body) = read(app, "/api/posts").await;
    assert!(body.contains("Difference Engine"), "{body}");
    for _ in 0..=LOGINS {
        let login = app.login(&ada.username, &ada.password).await;
        assert_eq!(login.status, 200, "{}", login.text());
    }
}

mod mariadb_only {
    use omni_testkit::mariadb_only;

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn with_redis_killed_everything_goes_on_and_comes_back_after_a_restart() {
        mariadb_only("Redis's part does not depend on the database: run once, on MariaDB");
        let mut servers = Servers::start();
        let app = app_on(&servers, omni_testkit::TEST_REDIS_TIMEOUT_MS, &[]).await;
        let ada = app.create_user("ada").await;
        app.create_post(&ada, "Engine").await;
        until_the_list_is_a_hit(&app).await;

        servers.cache.stop().unwrap();
        servers.limits.stop().unwrap();
        everything_goes_on_without_redis(&app, &ada).await;
        assert!(events(&app, "cache_unavailable", "cannot connect") > 0);
        assert!(events(&app, "rate_limit_store_failed", "cannot connect") > LOGINS);

        servers.cache.restart().unwrap();
        servers.limits.restart().unwrap();
        // The test's Redis keeps its data across the kill (production's does
        // not), so the entry from before, whose version bump the write could
        // not make, may still be served until it expires (the 2 s staleness
        // bound); then the list is fresh, and cached again.
        until(
            "the list shows the write made during the outage",
            async || {
                let (_, cache, body) = read(&app, "/api/posts").await;
                cache == "hit" && body.contains("Difference Engine")
            },
        )
        .await;
        until_a_login_is_limited(&app, &ada).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn with_redis_frozen_every_request_ends_at_the_bound_and_the_timeout_is_logged() {
        mariadb_only("Redis's part does not depend on the database: run once, on MariaDB");
        let servers = Servers::start();
        // A small bound, so that the frozen minutes below are a few seconds.
        let app = app_on(&servers, "200", &[]).await;
        let ada = app.create_user("ada").await;
        app.create_post(&ada, "Engine").await;
        until_the_list_is_a_hit(&app).await;

        servers.cache.freeze().unwrap();
        servers.limits.freeze().unwrap();
        // Spin's own Redis interfaces would hold each of these until Redis
        // resumed; each is answered here.
        everything_goes_on_without_redis(&app, &ada).await;
        let timed_out = "no answer within the 200 ms a request may wait";
        assert!(events(&app, "cache_unavailable", timed_out) > 0);
        assert!(events(&app, "rate_limit_store_failed", timed_out) > LOGINS);

        servers.cache.resume().unwrap();
        servers.limits.resume().unwrap();
        until_the_list_is_a_hit(&app).await;
        until_a_login_is_limited(&app, &ada).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_password_is_sent_and_a_wrong_one_fails_open_without_being_logged() {
        mariadb_only("Redis's part does not depend on the database: run once, on MariaDB");
        let servers = Servers {
            cache: Redis::start_with(&["--requirepass", "cache-and-limits-pw"]).unwrap(),
            limits: Redis::start_with(&["--requirepass", "cache-and-limits-pw"]).unwrap(),
        };
        let app = app_on(
            &servers,
            omni_testkit::TEST_REDIS_TIMEOUT_MS,
            &[("redis_password", "cache-and-limits-pw")],
        )
        .await;
        let ada = app.create_user("ada").await;
        app.create_post(&ada, "Engine").await;
        until_the_list_is_a_hit(&app).await;
        until_a_login_is_limited(&app, &ada).await;

        let wrong = app_on(
            &servers,
            omni_testkit::TEST_REDIS_TIMEOUT_MS,
            &[("redis_password", "not-the-password")],
        )
        .await;
        // Signing up logs in too: past the limit, still answered.
        let bob = wrong.create_user("bob").await;
        let (status, cache, _) = read(&wrong, "/api/posts").await;
        assert_eq!((status, cache.as_str()), (200, "unavailable"));
        for _ in 0..=LOGINS {
            assert_eq!(wrong.login("bob", &bob.password).await.status, 200);
        }
        assert!(events(&wrong, "cache_unavailable", "the password was refused") > 0);
        assert!(
            events(
                &wrong,
                "rate_limit_store_failed",
                "the password was refused"
            ) > 0
        );
        let logs = wrong.logs().join("\n");
        assert!(!logs.contains("not-the-password"), "{logs}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn cache_traffic_never_reaches_the_limits_redis() {
        mariadb_only("Redis's part does not depend on the database: run once, on MariaDB");
        let servers = Servers::start();
        let app = app_on(&servers, omni_testkit::TEST_REDIS_TIMEOUT_MS, &[]).await;
        let ada = app.create_user("ada").await;
        let post = omni_testkit::id(&app.create_post(&ada, "Engine").await);
        for path in [
            "/api/posts".to_owned(),
            format!("/api/posts/{post}"),
            format!("/posts/{post}"),
            "/".to_owned(),
        ] {
            read(&app, &path).await;
        }
        until_a_login_is_limited(&app, &ada).await;
        let keys = |redis: &Redis| -> Vec<String> {
            let listed = redis.cli(&["--scan"]).unwrap();
            listed.lines().map(str::to_owned).collect()
        };
        let counters = keys(&servers.limits);
        assert!(!counters.is_empty());
        assert!(
            counters.iter().all(|k| k.starts_with("rl:")),
            "{counters:?}"
        );
        let cached = keys(&servers.cache);
        assert!(cached.iter().any(|k| k.starts_with("v:")), "{cached:?}");
        assert!(!cached.iter().any(|k| k.starts_with("rl:")), "{cached:?}");
    }
}
