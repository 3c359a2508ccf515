//! What checking a token's session costs each authenticated request
//! (`omni-bench sessions`).
//!
//! A token names a session, and every authenticated request checks that its
//! row still exists, in a statement the request makes anyway: the read of
//! the caller joins `sessions` by primary key. This measures that join
//! against the statement it replaced (the caller's row alone, by id), on
//! MariaDB seeded with 20,000 users and 100,000 live sessions:
//!
//! 1. the two statements alone, interleaved on one connection, random users
//!    and their sessions, as prepared statements, the app's own SQL text
//!    (`store::sessions::USER` and `store::users::FIND`);
//! 2. `GET /api/me` end to end through the test host, with the statements
//!    each request ran (one, before and after: the check adds none).
//!
//! Prints the figures and writes them to `target/bench/sessions.json`.

use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use omni_shared::store::{sessions, users};
use omni_testkit::{AppOptions, MariaDb, TestApp, workspace_root};
use serde::Serialize;

use crate::load::{ms, percentile};
use crate::write_json;

/// Seeded users; each has `SESSIONS_PER_USER` sessions.
const USERS: i64 = 20_000;
const SESSIONS_PER_USER: i64 = 5;

#[derive(Debug, Serialize)]
struct Statement {
    runs: usize,
    mean_us: f64,
    median_us: f64,
    p99_us: f64,
}

#[derive(Debug, Serialize)]
struct Figures {
    users: i64,
    sessions: i64,
    /// The caller's row by id: what an authenticated request read before.
    before: Statement,
    /// The session joined to the caller's row: what it reads now.
    after: Statement,
    /// `after.mean_us - before.mean_us`.
    added_us_per_request: f64,
    me_requests: usize,
    me_median_ms: f64,
    me_p99_ms: f64,
    me_statements_per_request: f64,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn figures(mut times: Vec<Duration>) -> Statement {
    times.sort_unstable();
    let total: Duration = times.iter().sum();
    Statement {
        runs: times.len(),
        mean_us: us(total) / times.len().max(1) as f64,
        median_us: us(percentile(&times, 50.0)),
        p99_us: us(percentile(&times, 99.0)),
    }
}

/// Users `0..USERS` with ids `1_000_000 + n`, and their sessions with ids
/// `10_000_000 + n * SESSIONS_PER_USER + k`, expiring in a day.
async fn seed(db: &mut Conn) -> anyhow::Result<()> {
    let hash = "x".repeat(60);
    let expires = crate::now_ms() + 24 * 3_600_000;
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(1000) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|n| format!("({}, 'user{n}', 'user{n}', '{hash}')", 1_000_000 + n))
            .collect();
        db.query_drop(format!(
            "INSERT INTO users (id, username, username_key, password_hash) VALUES {}",
            rows.join(",")
        ))
        .await?;
        let sessions: Vec<String> = chunk
            .iter()
            .flat_map(|n| {
                (0..SESSIONS_PER_USER).map(move |k| {
                    format!(
                        "({}, {}, {expires})",
                        10_000_000 + n * SESSIONS_PER_USER + k,
                        1_000_000 + n
                    )
                })
            })
            .collect();
        db.query_drop(format!(
            "INSERT INTO sessions (id, user_id, expires_at) VALUES {}",
            sessions.join(",")
        ))
        .await?;
    }
    Ok(())
}

/// A pseudo-random user number, from a simple LCG (no dependency).
fn next(state: &mut u64) -> i64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1);
    i64::try_from((*state >> 33) % USERS as u64).unwrap_or(0)
}

/// Times `runs` of each statement, interleaved, on one connection.
async fn statements(db: &mut Conn, runs: usize) -> anyhow::Result<(Statement, Statement)> {
    let before_sql = db.prep(users::FIND).await?;
    let after_sql = db.prep(sessions::USER).await?;
    let (mut before, mut after) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    let mut state = 42_u64;
    for round in 0..runs * 2 {
        let n = next(&mut state);
        let (user, session) = (
            1_000_000 + n,
            10_000_000 + n * SESSIONS_PER_USER + n % SESSIONS_PER_USER,
        );
        let started = Instant::now();
        let found: Option<(i64, String, String, String)> = if round % 2 == 0 {
            db.exec_first(&before_sql, (user,)).await?
        } else {
            db.exec_first(&after_sql, (session, user)).await?
        };
        let took = started.elapsed();
        anyhow::ensure!(
            found.is_some(),
            "user {user} or session {session} not found"
        );
        if round % 2 == 0 {
            before.push(took);
        } else {
            after.push(took);
        }
    }
    Ok((figures(before), figures(after)))
}

/// `GET /api/me` `runs` times with one token: latencies and statements.
async fn me(app: &TestApp, runs: usize) -> anyhow::Result<(Vec<Duration>, f64)> {
    let user = app.create_user("bench").await;
    let client = reqwest::Client::new();
    let start = app.host().stats().component("me");
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let response = client
            .get(format!("{}/api/me", app.url()))
            .bearer_auth(&user.token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "GET /api/me: {}",
            response.status()
        );
        response.bytes().await?;
        times.push(started.elapsed());
    }
    let end = app.host().stats().component("me");
    let requests = (end.requests - start.requests).max(1);
    Ok((
        times,
        (end.statements - start.statements) as f64 / requests as f64,
    ))
}

/// Runs the benchmark; `quick` does a tenth of the runs.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let scale = if quick { 10 } else { 1 };
    let server = MariaDb::start()?;
    let app = TestApp::spawn_on(&server, AppOptions::default()).await;
    let mut db = app.db().await;
    println!(
        "seeding {USERS} users and {} sessions…",
        USERS * SESSIONS_PER_USER
    );
    seed(&mut db).await?;
    db.query_drop("ANALYZE TABLE users, sessions").await?;
    // Warm the buffer pool and the plans.
    statements(&mut db, 2_000 / scale).await?;
    let (before, after) = statements(&mut db, 20_000 / scale).await?;
    let (mut me_times, per_request) = me(&app, 2_000 / scale).await?;
    me_times.sort_unstable();
    let figures = Figures {
        users: USERS,
        sessions: USERS * SESSIONS_PER_USER,
        added_us_per_request: after.mean_us - before.mean_us,
        before,
        after,
        me_requests: me_times.len(),
        me_median_ms: ms(percentile(&me_times, 50.0)),
        me_p99_ms: ms(percentile(&me_times, 99.0)),
        me_statements_per_request: per_request,
    };
    println!(
        "caller by id (before):        mean {:7.1} µs  median {:7.1} µs  p99 {:7.1} µs  ({} runs)",
        figures.before.mean_us,
        figures.before.median_us,
        figures.before.p99_us,
        figures.before.runs
    );
    println!(
        "session join (after):         mean {:7.1} µs  median {:7.1} µs  p99 {:7.1} µs  ({} runs)",
        figures.after.mean_us, figures.after.median_us, figures.after.p99_us, figures.after.runs
    );
    println!(
        "added per authenticated request: {:+.1} µs, and no extra statement",
        figures.added_us_per_request
    );
    println!(
        "GET /api/me end to end:       median {:.3} ms  p99 {:.3} ms  {:.2} statements/request ({} requests)",
        figures.me_median_ms,
        figures.me_p99_ms,
        figures.me_statements_per_request,
        figures.me_requests
    );
    let path = write_json(
        &workspace_root().join("target/bench"),
        "sessions.json",
        &figures,
    )?;
    println!("figures written to {}", path.display());
    db.disconnect().await?;
    Ok(())
}
