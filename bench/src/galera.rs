//! The data tier's benchmark (`omni-bench galera`): what Galera costs and
//! buys, on one machine, against one MariaDB server with the same data.
//!
//! Seeds one MariaDB server and one three-node Galera cluster (behind
//! HAProxy, as tests/testkit's `galera` runs it) with the benchmark's data
//! set (1,000 users, 100,000 posts, 500,000 comments), then measures:
//!
//! 1. writes (creating posts, and comments on one post), on one server and
//!    on the cluster: throughput and p99;
//! 2. uncached reads of a post, on one server, on the cluster through one
//!    node, and through all three nodes at once (an app per node, as the
//!    read pods spread over the secondaries);
//! 3. what read-your-writes costs: the cluster's writes and reads with
//!    causal reads (`db_causal_reads`, as k8s/spinkube runs) and without;
//! 4. the failover window: the node taking writes SIGKILLed under write
//!    load, from the kill to the first create that was sent after it and
//!    acknowledged, a few times over;
//! 5. backup and restore of the whole data set on one server: mariadb-backup
//!    (taken, then prepared and restored into a fresh server) and
//!    mariadb-dump (taken, then loaded into a fresh server).
//!
//! All on one machine: the three nodes share its cores, so the cluster
//! cannot be faster here than one server; the figures show what replication
//! and certification cost, not what three Pis would gain. Printed and
//! written to `target/bench/galera.json`; nothing is asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use omni_testkit::{AppOptions, Galera, MariaDb, Redis, TestApp, galera, workspace_root};
use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use crate::load::{self, Call, MakeCall, Measured, Pace};
use crate::{now_ms, procfs, seed, write_json};

/// Clients at once.
const CLIENTS: usize = 8;
/// Failovers measured.
const FAILOVERS: usize = 3;

/// One app over one database, with what a run needs.
struct Target {
    name: &'static str,
    app: TestApp,
    token: String,
    pids: Vec<u32>,
    /// A post of the data set to read, and a popular one (a thousand
    /// comments) to comment on.
    post: i64,
    hot_post: i64,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

#[derive(Debug, Serialize)]
struct Report {
    seeded: Seeded,
    writes: Vec<Measured>,
    reads: Vec<Measured>,
    read_your_writes: Vec<Measured>,
    failover_windows_s: Vec<f64>,
    backups: Vec<BackupFigures>,
}

#[derive(Debug, Serialize)]
struct Seeded {
    users: usize,
    posts: usize,
    comments: usize,
    seconds_one_server: f64,
    seconds_cluster: f64,
}

#[derive(Debug, Serialize)]
struct BackupFigures {
    kind: &'static str,
    bytes: u64,
    backup_s: f64,
    /// Physical: unpacking and `--prepare`.
    prepare_s: f64,
    /// Into a fresh server, until it takes connections (and, logical, has
    /// loaded every row).
    restore_s: f64,
}

/// An app over `server` with `options`, a user of its own, and the
/// benchmark's data seeded straight into its database; with the seconds
/// the seeding took.
async fn target(
    name: &'static str,
    server: &MariaDb,
    options: AppOptions,
    sizes: seed::Sizes,
    pids: Vec<u32>,
) -> anyhow::Result<(Target, f64)> {
    let app = TestApp::spawn_on(server, options).await;
    let user = app.create_user("bench").await;
    let hash: String = app
        .scalar("SELECT password_hash FROM users WHERE username = 'bench'")
        .await;
    let started = Instant::now();
    let mut db = app.db().await;
    let seeded = seed::seed(&mut db, sizes, &hash, now_ms()).await?;
    db.disconnect().await?;
    let seconds = started.elapsed().as_secs_f64();
    let target = Target {
        name,
        app,
        token: user.token,
        pids: [std::process::id()].into_iter().chain(pids).collect(),
        post: seeded.post_ids_newest_first[10],
        hot_post: seeded.popular_post,
    };
    Ok((target, seconds))
}

/// The name of `app`'s database.
fn database_of(app: &TestApp) -> String {
    app.db_url()
        .and_then(|url| url.rsplit('/').next())
        .unwrap_or_default()
        .to_owned()
}

impl Target {
    /// A target over the same database as this one, through another app.
    fn sharing(&self, name: &'static str, app: TestApp) -> Target {
        Target {
            name,
            app,
            token: self.token.clone(),
            pids: self.pids.clone(),
            post: self.post,
            hot_post: self.hot_post,
        }
    }

    /// Warms up, then sends `requests` that `component` answers; with the
    /// SQL it ran and the CPU of the processes under test.
    async fn measure(
        &self,
        what: &str,
        component: &str,
        requests: usize,
        make: MakeCall,
    ) -> Measured {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        let url = self.app.url();
        let warm_up = Pace::Total((requests / 10).max(20));
        load::run(&client, &url, CLIENTS, warm_up, &make).await;
        let stats = self.app.host().stats();
        let statements = stats.component(component).statements;
        let cpu = procfs::used(&self.pids);
        let mut outcome = load::run(&client, &url, CLIENTS, Pace::Total(requests), &make).await;
        outcome.cpu = procfs::used(&self.pids).saturating_sub(cpu);
        let statements = stats.component(component).statements - statements;
        let name = format!("{what}, {}", self.name);
        let measured = Measured::of(&name, CLIENTS, &outcome, statements);
        eprintln!("  {}", measured.line());
        measured
    }

    fn create_posts(&self) -> MakeCall {
        let token = self.token.clone();
        Arc::new(move |slot| {
            Call::authed(
                Method::POST,
                "/api/posts",
                &token,
                Some(json!({
                    "title": format!("Benchmarked {}", slot.index),
                    "markdown_url": "https://example.com/bench.md",
                })),
            )
        })
    }

    /// Comments on the busy post.
    fn comment(&self) -> MakeCall {
        let token = self.token.clone();
        let path = format!("/api/posts/{}/comments", self.hot_post);
        Arc::new(move |_| {
            Call::authed(
                Method::POST,
                &path,
                &token,
                Some(json!({ "body": "Measured and approved." })),
            )
        })
    }

    /// Uncached reads of a post (an authorised request skips the cache).
    fn read_post(&self) -> MakeCall {
        let (token, path) = (self.token.clone(), format!("/api/posts/{}", self.post));
        Arc::new(move |_| Call::get(&path).header("authorization", format!("Bearer {token}")))
    }
}

/// Runs the benchmark; `quick` seeds and sends a tenth.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let scale = if quick { 10 } else { 1 };
    let sizes = seed::Sizes::data_set(quick);
    let out = workspace_root().join("target/bench");
    eprintln!("starting one MariaDB server, a Galera cluster and Redis…");
    let server = MariaDb::start()?;
    let mut cluster = Galera::start()?;
    let redis = Redis::start()?;
    let config_dir = tempfile::tempdir()?;
    let runtime_config = redis.runtime_config(config_dir.path())?;
    let options = |base: AppOptions| AppOptions {
        runtime_config_file: Some(runtime_config.clone()),
        ..base
    };

    eprintln!(
        "seeding both ({} posts, {} comments)…",
        sizes.posts, sizes.comments
    );
    let (single, seconds_one_server) = target(
        "one server",
        &server,
        options(AppOptions::default()),
        sizes,
        server.pid().into_iter().collect(),
    )
    .await?;
    let (causal, seconds_cluster) = target(
        "Galera, causal reads",
        cluster.front(),
        options(galera::app_options()),
        sizes,
        cluster.pids(),
    )
    .await?;
    // The same database without causal reads, and one app per node.
    let database = database_of(&causal.app);
    let plain = causal.sharing(
        "Galera, plain reads",
        TestApp::spawn_on_database(
            cluster.front().url(&database),
            cluster.front().host(),
            options(AppOptions::default()),
        )
        .await,
    );
    let mut per_node = Vec::new();
    for node in 0..galera::NODES {
        cluster.catch_up(node).await?;
        let app = TestApp::spawn_on_database(
            cluster.node_url(node, &database),
            &cluster.node_host(node),
            options(galera::app_options()),
        )
        .await;
        per_node.push(causal.sharing("Galera, every node", app));
    }

    eprintln!("writes:");
    let mut writes = Vec::new();
    for target in [&single, &causal] {
        let posts = target.create_posts();
        writes.push(
            target
                .measure("POST /api/posts", "posts", 1000 / scale, posts)
                .await,
        );
        let comments = target.comment();
        let what = "POST /api/posts/{id}/comments";
        writes.push(
            target
                .measure(what, "post-comments", 1000 / scale, comments)
                .await,
        );
    }

    eprintln!("reads (uncached):");
    let mut reads = Vec::new();
    for target in [&single, &causal] {
        let post = target.read_post();
        reads.push(
            target
                .measure("GET /api/posts/{id}", "post", 3000 / scale, post)
                .await,
        );
    }
    reads.push(through_every_node(&per_node, 3000 / scale).await);

    eprintln!("read-your-writes (causal reads) on the cluster:");
    let mut read_your_writes = Vec::new();
    for target in [&plain, &causal] {
        let post = target.read_post();
        let read = target.measure("GET /api/posts/{id}", "post", 3000 / scale, post);
        read_your_writes.push(read.await);
        let posts = target.create_posts();
        let write = target.measure("POST /api/posts", "posts", 1000 / scale, posts);
        read_your_writes.push(write.await);
    }

    eprintln!("failover:");
    let mut failover_windows_s = Vec::new();
    for _ in 0..FAILOVERS {
        let window = failover(&mut cluster, &causal).await?;
        eprintln!("  failover window {window:.2} s");
        failover_windows_s.push(window);
    }

    eprintln!("backups of one server's data set:");
    let backups = backups(server, database_of(&single.app)).await?;

    let report = Report {
        seeded: Seeded {
            users: sizes.users + 1,
            posts: sizes.posts,
            comments: sizes.comments,
            seconds_one_server,
            seconds_cluster,
        },
        writes,
        reads,
        read_your_writes,
        failover_windows_s,
        backups,
    };
    print(&report);
    let path = write_json(&out, "galera.json", &report)?;
    println!("\nwritten to {}", path.display());
    Ok(())
}

/// Uncached reads through every node at once: the clients split over an
/// app per node.
async fn through_every_node(apps: &[Target], requests: usize) -> Measured {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default();
    let each = (CLIENTS / apps.len().max(1)).max(1);
    let runs = |requests: usize| {
        let client = client.clone();
        apps.iter().map(move |app| {
            let (client, url, make) = (client.clone(), app.app.url(), app.read_post());
            let pace = Pace::Total(requests / apps.len());
            async move { load::run(&client, &url, each, pace, &make).await }
        })
    };
    futures::future::join_all(runs((requests / 10).max(20))).await;
    let statements = || -> u64 {
        apps.iter()
            .map(|app| app.app.host().stats().component("post").statements)
            .sum()
    };
    let (cpu, statements_before) = (procfs::used(&apps[0].pids), statements());
    let started = Instant::now();
    let mut all = load::Outcome::default();
    for outcome in futures::future::join_all(runs(requests)).await {
        all.absorb(outcome);
    }
    all.elapsed = started.elapsed();
    all.cpu = procfs::used(&apps[0].pids).saturating_sub(cpu);
    let name = "GET /api/posts/{id}, Galera, all three nodes";
    let measured = Measured::of(name, CLIENTS, &all, statements() - statements_before);
    eprintln!("  {}", measured.line());
    measured
}

/// Kills the node taking writes while clients create posts, and returns
/// the seconds from the kill to the first create sent after it that was
/// acknowledged; then brings the node back.
async fn failover(cluster: &mut Galera, target: &Target) -> anyhow::Result<f64> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acks = Arc::new(std::sync::Mutex::new(Vec::<(Instant, Instant)>::new()));
    let client = reqwest::Client::new();
    let make = target.create_posts();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (stop, acks, client, make, url) = (
                stop.clone(),
                acks.clone(),
                client.clone(),
                make.clone(),
                target.app.url(),
            );
            tokio::spawn(async move {
                let mut seq = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seq += 1;
                    let call = make(load::Slot {
                        client: id,
                        seq,
                        index: id * 1_000_000 + seq,
                    });
                    let sent = Instant::now();
                    if let Ok(response) = call.build(&client, &url).send().await
                        && response.status().as_u16() == 201
                    {
                        acks.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((sent, Instant::now()));
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writer = cluster.writer().await?;
    let killed = Instant::now();
    cluster.kill(writer);
    let deadline = killed + Duration::from_secs(120);
    let window = loop {
        let first = acks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(sent, _)| *sent >= killed)
            .map(|(_, answered)| *answered)
            .min();
        if let Some(answered) = first {
            break answered - killed;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no write acknowledged after the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await?;
    }
    cluster.restart(writer).await?;
    Ok(window.as_secs_f64())
}

/// Backs up and restores one server's data set, each way.
async fn backups(server: MariaDb, database: String) -> anyhow::Result<Vec<BackupFigures>> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<BackupFigures>> {
        let mut figures = Vec::new();
        let time = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
            let started = Instant::now();
            f()?;
            Ok(started.elapsed().as_secs_f64())
        };
        let mut physical = None;
        let backup_s = time(&mut || {
            physical = Some(server.physical_backup()?);
            Ok(())
        })?;
        let physical = physical.ok_or_else(|| anyhow::anyhow!("no backup"))?;
        let prepare_s = time(&mut || physical.prepare())?;
        let restore_s = time(&mut || physical.restore().map(drop))?;
        figures.push(BackupFigures {
            kind: "physical (mariadb-backup)",
            bytes: physical.bytes()?,
            backup_s,
            prepare_s,
            restore_s,
        });
        eprintln!("  {:?}", figures[0]);
        let mut logical = None;
        let backup_s = time(&mut || {
            logical = Some(server.logical_backup(&database)?);
            Ok(())
        })?;
        let logical = logical.ok_or_else(|| anyhow::anyhow!("no backup"))?;
        let restore_s = time(&mut || logical.restore().map(drop))?;
        figures.push(BackupFigures {
            kind: "logical (mariadb-dump)",
            bytes: logical.bytes()?,
            backup_s,
            prepare_s: 0.0,
            restore_s,
        });
        eprintln!("  {:?}", figures[1]);
        Ok(figures)
    })
    .await?
}

fn print(report: &Report) {
    println!(
        "\nGalera against one server, one machine ({} users, {} posts, {} comments; seeded in {:.0} s on one server, {:.0} s on the cluster), {CLIENTS} clients:",
        report.seeded.users,
        report.seeded.posts,
        report.seeded.comments,
        report.seeded.seconds_one_server,
        report.seeded.seconds_cluster
    );
    for (title, runs) in [
        ("writes", &report.writes),
        ("reads, uncached", &report.reads),
        (
            "read-your-writes (causal reads) against plain reads, on the cluster",
            &report.read_your_writes,
        ),
    ] {
        println!("\n{title}:");
        for run in runs {
            println!("  {}", run.line());
        }
    }
    println!(
        "\nfailover windows (SIGKILL of the writer to the first acknowledged create sent after it): {}",
        report
            .failover_windows_s
            .iter()
            .map(|s| format!("{s:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("\nbackups of the whole data set (one server):");
    for backup in &report.backups {
        println!(
            "  {:<28} {:>8.1} MB  backup {:>6.1} s  prepare {:>6.1} s  restore {:>6.1} s",
            backup.kind,
            backup.bytes as f64 / 1e6,
            backup.backup_s,
            backup.prepare_s,
            backup.restore_s
        );
    }
}
