//! The soak test with faults: a fixed number of mixed requests at a fixed
//! concurrency against the app in the test host, a throwaway MariaDB (one
//! server, or with `--galera` a three-node Galera cluster behind HAProxy)
//! and throwaway Redis servers (the response cache and the rate limits on
//! one each, as in production), while the database fails and comes back and bursts of contended writes are
//! fired; then checks that nothing was lost, doubled or miscounted.
//!
//! Its parts: the clients and the bursts ([`client`]), what they created
//! ([`ledger`]), the faults ([`faults`]) and the checks and the report
//! ([`checks`]).
//!
//! **The load.** 16 clients, each acting for 3 users of its own, pick each
//! request at random: 90 % reads (the post lists by page and by `before`,
//! posts, comments, users, users' posts), the rest creates, edits and
//! deletes of posts and comments, logins and signups. Every create carries
//! an `Idempotency-Key`. A write answered 503 (or not at all) is sent again,
//! same key and body, a few times, as a client following `Retry-After`
//! would; a read is not. After editing a post, the client reads it back at
//! once (its own write must show).
//!
//! **The faults**, spread through the run (once each per 50,000 requests,
//! at least once): MariaDB is killed (SIGKILL) and restarted a second
//! later, or on Galera the node taking writes is killed and rejoins a second
//! later while the others take over; and a burst of contended writes is
//! fired: 32 users commenting on
//! one post at once, then 16 of those comments deleted at once, half by
//! their authors and half by the post's author, while 16 users create posts.
//!
//! **The checks**, each pass or fail (the speed is only reported):
//! - every response agrees with `openapi.yaml` (status, content type,
//!   required headers, body): no status outside the documented ones;
//! - no 500;
//! - every 201's resource is readable through the API afterwards, with its
//!   last edit, unless a later request of the run deleted it (a delete left
//!   without an answer may or may not have happened; either is accepted);
//!   and no deleted resource is readable;
//! - an edit is visible to the editor's next read;
//! - no create happened twice (retries carry the same `Idempotency-Key`);
//! - every counter equals the true `COUNT(*)`, and no comment is without
//!   its post ([`omni_testkit::integrity`]);
//! - on Galera, every node by itself holds all of it, and the same data as
//!   the others.
//!
//! 503s are expected while MariaDB is down or the writer is failing over;
//! they are counted, within the outage and outside it.

mod checks;
mod client;
mod faults;
mod ledger;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omni_testkit::{Redis, TestApp, workspace_root};
use reqwest::Method;
use serde_json::json;

use self::checks::LoadRun;
use self::client::{Run, Tally, lock};
use self::faults::Database;
use self::ledger::Ledger;
use crate::api::Api;
use crate::load::Call;
use crate::write_json;

/// Requests in the short form, which CI runs.
pub const DEFAULT_REQUESTS: usize = 5_000;
/// Clients at once.
pub(super) const CONCURRENCY: usize = 16;
/// Users each client acts for.
pub(super) const USERS_PER_CLIENT: usize = 3;
/// One MariaDB restart and one burst per this many requests (at least one).
const REQUESTS_PER_FAULT: usize = 50_000;
/// How long MariaDB, or a Galera node, stays down.
pub(super) const OUTAGE: Duration = Duration::from_secs(1);
/// Attempts of a write that is answered 503 or not at all.
pub(super) const WRITE_ATTEMPTS: u32 = 8;
/// 503s up to this long after the restart still count as the outage's.
pub(super) const OUTAGE_GRACE: Duration = Duration::from_secs(2);

/// Prints a progress line, with the seconds since the soak started.
pub(super) fn progress(message: &str) {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(Instant::now);
    eprintln!("soak [{:6.1}s] {message}", started.elapsed().as_secs_f64());
}

/// Runs the soak test with `requests` requests, on a Galera cluster if
/// `on_galera`; true if every check passed.
pub async fn run(requests: usize, on_galera: bool) -> anyhow::Result<bool> {
    let out = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    progress(if on_galera {
        "starting a Galera cluster, Redis and the app…"
    } else {
        "starting MariaDB, Redis and the app…"
    });
    let database = Database::start(on_galera)?;
    let (cache, limits) = (Redis::start()?, Redis::start()?);
    let mut options = database.app_options();
    options.variables.extend([
        ("cache_redis_address".into(), cache.address()),
        ("limits_redis_address".into(), limits.address()),
    ]);
    let app = TestApp::spawn_on(database.front(), options).await;
    let database = Arc::new(tokio::sync::Mutex::new(database));
    let api = Api::new(
        reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(30))
            .build()?,
        app.url(),
    );
    let run = Arc::new(Run {
        api: api.clone(),
        ledger: Mutex::new(Ledger::default()),
        tally: Mutex::new(Tally::default()),
        started: Instant::now(),
        picked: AtomicUsize::new(0),
    });
    progress("signing up users and creating posts…");
    seed(&run, &api).await?;
    let load_started = Instant::now();

    let faults = (requests / REQUESTS_PER_FAULT).max(1);
    progress(&format!(
        "{requests} requests at {CONCURRENCY} clients; {faults} outage(s), {faults} burst(s)…"
    ));
    let injector = {
        let (run, database) = (run.clone(), database.clone());
        tokio::spawn(async move { faults::inject(run, database, requests, faults).await })
    };
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|client| {
            let run = run.clone();
            tokio::spawn(async move { run.client(client, requests).await })
        })
        .collect();
    for client in clients {
        client.await?;
    }
    let outages = injector.await??;
    let seconds = load_started.elapsed().as_secs_f64();
    progress(&format!(
        "load done in {seconds:.1}s; reading every created resource back…"
    ));
    let tally = std::mem::take(&mut *lock(&run.tally));
    let report = checks::verify(
        &run,
        &app,
        &*database.lock().await,
        LoadRun {
            requests,
            seconds,
            bursts: faults,
            tally,
            outages,
        },
    )
    .await?;
    checks::print(&report);
    let name = if on_galera { "soak-galera" } else { "soak" };
    let path = write_json(&out, &format!("{name}-{requests}.json"), &report)?;
    println!("\nwritten to {}", path.display());
    Ok(report.passed)
}

/// Users (3 per client), a post for the bursts, and a few posts and
/// comments to start from.
async fn seed(run: &Arc<Run>, api: &Api) -> anyhow::Result<()> {
    let users = api.users("soak", CONCURRENCY * USERS_PER_CLIENT).await?;
    let posts: Vec<(usize, Call)> = (0..users.len() * 2)
        .map(|n| {
            let owner = n % users.len();
            (
                owner,
                Call::authed(
                    Method::POST,
                    "/api/posts",
                    &users[owner].token,
                    Some(json!({
                        "title": format!("Soak post seed {n}"),
                        "markdown_url": "https://example.com/seed.md",
                    })),
                ),
            )
        })
        .collect();
    let answers = api
        .all(posts.iter().map(|(_, c)| c.clone()).collect(), 201, 8)
        .await?;
    let mut ledger = lock(&run.ledger);
    ledger.users = users;
    for (n, ((owner, _), answer)) in posts.iter().zip(answers).enumerate() {
        ledger.add_post(
            answer.id().unwrap_or_default(),
            *owner,
            format!("Soak post seed {n}"),
        );
    }
    Ok(())
}
