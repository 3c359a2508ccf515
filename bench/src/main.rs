//! `cargo run --profile bench -p omni-bench [-- --quick]`: what an Omni
//! request costs.
//!
//! Starts MariaDB and the app in the test host (as the tests do), seeds
//! 1,000 users, 100,000 posts and 500,000 comments, warms up, then drives a
//! fixed number of requests per scenario and prints requests/s, p50, p99,
//! errors and SQL statements per request; then, per component, the `.wasm`
//! size, compile and pre-instantiate time, instantiation time per request
//! and the peak linear memory of a request. The same figures go to
//! `target/bench/latest.json`, followed by the budget, checked by reading
//! the figures (never a pass/fail timed test). `--quick` seeds a tenth and
//! sends a tenth, to try the benchmark itself.

mod load;
mod seed;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use load::{Measured, Scenario};
use omni_test_host::manifest::Manifest;
use omni_testkit::{AppOptions, TestApp, mariadb, workspace_root};
use reqwest::Method;
use serde::Serialize;
use serde_json::json;

const CONCURRENCY: usize = 8;

#[derive(Debug, Serialize)]
struct ComponentFigures {
    component: String,
    wasm_bytes: u64,
    compile_ms: f64,
    pre_instantiate_ms: f64,
    instantiate_us_per_request: f64,
    peak_memory_bytes_max: u64,
    peak_memory_bytes_avg: u64,
}

#[derive(Debug, Serialize)]
struct Check {
    rule: String,
    figure: String,
    met: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    when_unix_s: u64,
    cpus: usize,
    bcrypt_cost: u32,
    seeded: BTreeMap<&'static str, usize>,
    scenarios: Vec<Measured>,
    components: Vec<ComponentFigures>,
    budget: Vec<Check>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let sizes = seed::Sizes {
        users: 1000 / scale,
        posts: 100_000 / scale,
        comments: 500_000 / scale,
        popular_posts: 50 / scale,
        comments_per_popular_post: 1000,
    };
    let bcrypt_cost = 10;

    eprintln!("starting MariaDB and the app…");
    let app = TestApp::spawn_on(
        mariadb::shared(),
        AppOptions {
            variables: vec![("bcrypt_cost".into(), bcrypt_cost.to_string())],
            ..AppOptions::default()
        },
    )
    .await;
    // A real account: its hash (at the production cost) is every seeded
    // user's, and its token signs the writes.
    let bench = app.create_user("bench").await;
    let hash: String = app
        .scalar("SELECT password_hash FROM users WHERE username = 'bench'")
        .await;
    let mut db = app.db().await;
    let seeded = seed::seed(&mut db, sizes, &hash, now_ms()).await?;
    db.disconnect().await?;

    let read = |name: &str, component: &'static str, path: String| Scenario {
        name: name.to_owned(),
        component,
        method: Method::GET,
        path,
        body: None,
        token: None,
        requests: 3000 / scale,
        is_read: true,
    };
    let hot_post = seeded.post_ids_newest_first[sizes.posts / 3];
    let scenarios = vec![
        read("GET /api/posts (page 1)", "posts", "/api/posts".into()),
        read(
            "GET /api/posts?page=5000",
            "posts",
            "/api/posts?page=5000".into(),
        ),
        read(
            "GET /api/posts?before=<deep id>",
            "posts",
            format!("/api/posts?before={}", seeded.deep_post),
        ),
        read(
            "GET /api/posts/{id}",
            "post",
            format!("/api/posts/{}", seeded.post_ids_newest_first[10]),
        ),
        read(
            "GET /api/posts/{id}/comments",
            "post-comments",
            format!("/api/posts/{}/comments", seeded.popular_post),
        ),
        read(
            "GET /api/users/{id}/posts",
            "user-posts",
            format!("/api/users/{}/posts", seeded.user),
        ),
        Scenario {
            name: "POST /api/posts".into(),
            component: "posts",
            method: Method::POST,
            path: "/api/posts".into(),
            body: Some(json!({
                "title": "Benchmarked project",
                "description": "Made to be measured.",
                "markdown_url": "https://example.com/bench.md",
            })),
            token: Some(bench.token.clone()),
            requests: 1000 / scale,
            is_read: false,
        },
        Scenario {
            name: "POST /api/posts/{id}/comments".into(),
            component: "post-comments",
            method: Method::POST,
            path: format!("/api/posts/{hot_post}/comments"),
            body: Some(json!({ "body": "Measured and approved." })),
            token: Some(bench.token.clone()),
            requests: 1000 / scale,
            is_read: false,
        },
        Scenario {
            name: "POST /api/login".into(),
            component: "login",
            method: Method::POST,
            path: "/api/login".into(),
            body: Some(json!({ "username": "user5", "password": bench.password })),
            token: None,
            requests: 300 / scale,
            is_read: false,
        },
    ];

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let base = app.url();
    let stats = app.host().stats();
    let mut measured = Vec::new();
    for scenario in &scenarios {
        let warm_up = Scenario {
            requests: (scenario.requests / 10).max(10),
            ..scenario.clone()
        };
        load::run(&client, &base, &warm_up, CONCURRENCY).await;
        let before = stats.component(scenario.component);
        let (latencies, errors, elapsed) = load::run(&client, &base, scenario, CONCURRENCY).await;
        let after = stats.component(scenario.component);
        let requests = (after.requests - before.requests).max(1);
        let statements = (after.statements - before.statements) as f64 / requests as f64;
        let figures = load::summarise(
            scenario,
            CONCURRENCY,
            &latencies,
            errors,
            elapsed,
            statements,
        );
        eprintln!(
            "  {:<36} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            figures.name,
            figures.requests_per_second,
            figures.p50_ms,
            figures.p99_ms,
            figures.errors
        );
        measured.push(figures);
    }

    let manifest = Manifest::load(&workspace_root().join("spin.toml"))?;
    let mut components = Vec::new();
    for (id, decl) in &manifest.components {
        let s = stats.component(id);
        let wasm_bytes = std::fs::metadata(&decl.source)
            .with_context(|| format!("{}", decl.source.display()))?
            .len();
        let finished = s.instantiations.max(1);
        components.push(ComponentFigures {
            component: id.clone(),
            wasm_bytes,
            compile_ms: ms(s.compile),
            pre_instantiate_ms: ms(s.pre_instantiate),
            instantiate_us_per_request: s.instantiate_total.as_secs_f64() * 1e6 / finished as f64,
            peak_memory_bytes_max: s.peak_memory_max,
            peak_memory_bytes_avg: s.peak_memory_total / finished,
        });
    }

    let budget = check_budget(&measured, &components, &scenarios);
    let report = Report {
        when_unix_s: u64::try_from(now_ms() / 1000).unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        bcrypt_cost,
        seeded: BTreeMap::from([
            ("users", sizes.users + 1),
            ("posts", sizes.posts),
            ("comments", sizes.comments),
        ]),
        scenarios: measured,
        components,
        budget,
    };
    print_report(&report);
    let out = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("latest.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("\nwritten to {}", out.join("latest.json").display());
    Ok(())
}

fn check_budget(
    measured: &[Measured],
    components: &[ComponentFigures],
    scenarios: &[Scenario],
) -> Vec<Check> {
    let p50 = |name: &str| {
        measured
            .iter()
            .find(|m| m.name == name)
            .map_or(f64::NAN, |m| m.p50_ms)
    };
    let mut checks = Vec::new();
    for (m, s) in measured.iter().zip(scenarios) {
        if s.is_read {
            checks.push(Check {
                rule: format!("{}: one SQL statement", m.name),
                figure: format!("{:.2}", m.sql_statements_per_request),
                met: (m.sql_statements_per_request - 1.0).abs() < 1e-9,
            });
        }
        checks.push(Check {
            rule: format!("{}: no errors", m.name),
            figure: m.errors.to_string(),
            met: m.errors == 0,
        });
    }
    let page1 = p50("GET /api/posts (page 1)");
    let one = p50("GET /api/posts/{id}");
    let deep = p50("GET /api/posts?before=<deep id>");
    let offset = p50("GET /api/posts?page=5000");
    checks.push(Check {
        rule: "page 1 p50 ≤ 1.5 × GET /api/posts/{id} p50".into(),
        figure: format!("{:.2}×", page1 / one),
        met: page1 <= 1.5 * one,
    });
    checks.push(Check {
        rule: "keyset deep p50 ≤ 1.2 × page 1 p50".into(),
        figure: format!("{:.2}×", deep / page1),
        met: deep <= 1.2 * page1,
    });
    checks.push(Check {
        rule: "offset page 5000 p50 against page 1 (reported, no limit)".into(),
        figure: format!("{:.2}×", offset / page1),
        met: true,
    });
    let read_components: Vec<&str> = scenarios
        .iter()
        .filter(|s| s.is_read)
        .map(|s| s.component)
        .collect();
    for c in components {
        checks.push(Check {
            rule: format!("{}: .wasm ≤ 1 MiB", c.component),
            figure: format!("{} KiB", c.wasm_bytes / 1024),
            met: c.wasm_bytes <= 1 << 20,
        });
        if read_components.contains(&c.component.as_str()) {
            checks.push(Check {
                rule: format!("{}: a read request's linear memory ≤ 4 MiB", c.component),
                figure: format!("{} KiB", c.peak_memory_bytes_max / 1024),
                met: c.peak_memory_bytes_max <= 4 << 20,
            });
        }
    }
    checks
}

fn print_report(report: &Report) {
    println!(
        "\nOmni benchmark: {} CPUs, bcrypt cost {}, seeded {:?}, concurrency {CONCURRENCY}\n",
        report.cpus, report.bcrypt_cost, report.seeded
    );
    println!(
        "{:<36} {:>8} {:>10} {:>9} {:>9} {:>7} {:>9}",
        "scenario", "requests", "req/s", "p50 ms", "p99 ms", "errors", "SQL/req"
    );
    for m in &report.scenarios {
        println!(
            "{:<36} {:>8} {:>10.0} {:>9.2} {:>9.2} {:>7} {:>9.2}",
            m.name,
            m.requests,
            m.requests_per_second,
            m.p50_ms,
            m.p99_ms,
            m.errors,
            m.sql_statements_per_request
        );
    }
    println!(
        "\n{:<16} {:>10} {:>11} {:>15} {:>15} {:>14} {:>14}",
        "component",
        "wasm KiB",
        "compile ms",
        "pre-inst. ms",
        "inst. µs/req",
        "peak mem KiB",
        "avg mem KiB"
    );
    for c in &report.components {
        println!(
            "{:<16} {:>10} {:>11.1} {:>15.3} {:>15.1} {:>14} {:>14}",
            c.component,
            c.wasm_bytes / 1024,
            c.compile_ms,
            c.pre_instantiate_ms,
            c.instantiate_us_per_request,
            c.peak_memory_bytes_max / 1024,
            c.peak_memory_bytes_avg / 1024
        );
    }
    println!("\nbudget:");
    for check in &report.budget {
        println!(
            "  [{}] {} — {}",
            if check.met { "met" } else { "MISSED" },
            check.rule,
            check.figure
        );
    }
}
