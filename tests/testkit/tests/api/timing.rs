//! Login does the same work on every path that answers 401, so its timing
//! does not tell which usernames exist.
//!
//! The work is measured as wasm fuel (about one unit per instruction the
//! component executes), which is exact and unaffected by a noisy machine;
//! wall-clock medians are printed next to it, not asserted.

use std::time::{Duration, Instant};

use omni_testkit::{AppOptions, TestApp, mariadb_only, spawn_app_with};

const LOGINS_PER_PATH: usize = 30;

/// The fuel and the median time of one login, over `LOGINS_PER_PATH`.
async fn measure(app: &TestApp, username: &str, password: &str) -> (u64, Duration) {
    let fuel = || app.host().stats().component("login").fuel;
    let before = fuel();
    let mut times = Vec::new();
    for _ in 0..LOGINS_PER_PATH {
        let started = Instant::now();
        let response = app.login(username, password).await;
        times.push(started.elapsed());
        assert_eq!(response.status, 401, "{}", response.text());
    }
    times.sort();
    (
        (fuel() - before) / LOGINS_PER_PATH as u64,
        times[LOGINS_PER_PATH / 2],
    )
}

/// The work is bcrypt's, whatever the database, so it is measured once, on
/// MariaDB; the SQLite run leaves it out (`--skip mariadb_only::`).
mod mariadb_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn every_failed_login_does_the_same_bcrypt_work() {
        mariadb_only("the work is bcrypt's, whatever the database: run once, on MariaDB");
        // A production cost, so that bcrypt is the work, as it is for real.
        // Only the two components it needs: counting fuel compiles them anew.
        let app = spawn_app_with(AppOptions {
            variables: vec![("bcrypt_cost".into(), "10".into())],
            count_fuel: true,
            component_ids: vec!["signup".into(), "login".into()],
            ..AppOptions::default()
        })
        .await;
        assert_eq!(app.signup("ada", "analytical engine").await.status, 201);
        let paths = [
            (
                "unknown user",
                measure(&app, "nobody", "analytical engine").await,
            ),
            (
                "wrong password",
                measure(&app, "ada", "difference engine").await,
            ),
            (
                "password over 72 bytes",
                measure(&app, "ada", &"x".repeat(100)).await,
            ),
        ];
        for (path, (fuel, median)) in &paths {
            eprintln!("{path}: {fuel} fuel per login, median {median:?}");
        }
        let fuels: Vec<f64> = paths.iter().map(|(_, (fuel, _))| *fuel as f64).collect();
        let (low, high) = fuels
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), f| (lo.min(*f), hi.max(*f)));
        assert!(
            high <= low * 1.2,
            "the paths differ by more than 20%: {paths:?}"
        );
        // And the work is bcrypt's: far more than a request without it.
        let before = app.host().stats().component("login").fuel;
        app.send(app.request(reqwest::Method::POST, "/api/login").body("{"))
            .await;
        let parse_only = app.host().stats().component("login").fuel - before;
        assert!(low > 20.0 * parse_only as f64, "{low} vs {parse_only}");
    }
}
