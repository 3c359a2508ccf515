//! What the soak checks once the load is done, each pass or fail, and its
//! report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use omni_testkit::integrity::{self, Invariant};
use omni_testkit::{TestApp, galera};
use serde::Serialize;
use serde_json::Value;

use super::client::{Run, Tally, lock};
use super::faults::{Database, Outage};
use super::ledger::Deleted;
use super::{CONCURRENCY, OUTAGE_GRACE, progress};
use crate::api::in_parallel;
use crate::load::{self, Call, percentile};

/// What one check found.
#[derive(Debug, Serialize)]
pub(super) struct Verdict {
    check: String,
    passed: bool,
    /// What broke it (at most 20 examples).
    found: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct SoakReport {
    /// One MariaDB, or a Galera cluster.
    database: &'static str,
    requests: usize,
    /// Writes sent again after a 503 or no answer (counted in `sent`).
    resent: usize,
    sent: usize,
    concurrency: usize,
    seconds: f64,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    outages: Vec<Outage>,
    bursts: usize,
    status_503_in_outages: usize,
    status_503_elsewhere: usize,
    status_500: usize,
    /// Transactions the app ran again after losing a lock race.
    transaction_retries: usize,
    statuses: BTreeMap<&'static str, BTreeMap<u16, usize>>,
    created: BTreeMap<&'static str, usize>,
    invariants: Vec<Invariant>,
    checks: Vec<Verdict>,
    pub(super) passed: bool,
}

pub(super) fn verdict(check: impl Into<String>, found: Vec<String>) -> Verdict {
    Verdict {
        check: check.into(),
        passed: found.is_empty(),
        found: found.into_iter().take(20).collect(),
    }
}

/// How the load went, for the report.
#[derive(Debug)]
pub(super) struct LoadRun {
    pub(super) requests: usize,
    pub(super) seconds: f64,
    pub(super) bursts: usize,
    pub(super) tally: Tally,
    pub(super) outages: Vec<Outage>,
}

/// Reads everything back, checks it, and makes the report.
pub(super) async fn verify(
    run: &Arc<Run>,
    app: &TestApp,
    database: &Database,
    load_run: LoadRun,
) -> anyhow::Result<SoakReport> {
    let LoadRun {
        requests,
        seconds,
        bursts,
        tally: load,
        outages,
    } = load_run;
    // Let every cached entry expire, so that what the API shows now is
    // what the database holds, then read every created resource back.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let mut checks = Vec::new();
    checks.push(verdict(
        "every 201's resource is readable (with its last edit) unless deleted, and no deleted one is",
        read_back(run).await,
    ));
    progress("checking the counters against the data…");
    let mut db = app.db().await;
    let invariants = integrity::check(&mut db).await?;
    let duplicates = duplicates(&mut db).await?;
    db.disconnect().await?;

    let transaction_retries = app
        .logs()
        .iter()
        .filter(|l| l.contains(r#""event":"transaction_retried""#))
        .count();
    let verification = std::mem::take(&mut *lock(&run.tally));
    let mut statuses = load.statuses.clone();
    statuses.extend(verification.statuses);
    let all_statuses: BTreeMap<u16, usize> =
        statuses
            .values()
            .flatten()
            .fold(BTreeMap::new(), |mut all, (status, n)| {
                *all.entry(*status).or_default() += n;
                all
            });
    let status_500 = all_statuses.get(&500).copied().unwrap_or(0);
    let in_outage = |at: &Duration| {
        outages.iter().any(|o| {
            let from = Duration::from_secs_f64(o.killed_at_s);
            let to = from + Duration::from_secs_f64(o.down_s) + OUTAGE_GRACE;
            (from..=to).contains(at)
        })
    };
    let status_503_in_outages = load
        .unavailable_at
        .iter()
        .filter(|at| in_outage(at))
        .count();
    checks.insert(
        0,
        verdict(
            "every response agrees with openapi.yaml (documented status, content type, headers, body)",
            [load.violations, verification.violations].concat(),
        ),
    );
    checks.insert(
        1,
        verdict(
            "no 500",
            if status_500 == 0 {
                vec![]
            } else {
                app.logs()
                    .into_iter()
                    .filter(|l| l.contains(r#""status":500"#))
                    .collect()
            },
        ),
    );
    checks.push(verdict(
        "an edit shows in the editor's next read",
        load.stale_reads,
    ));
    checks.push(verdict(
        "no create happened twice (retries carry the same Idempotency-Key)",
        duplicates,
    ));
    for invariant in &invariants {
        checks.push(verdict(
            invariant.rule,
            if invariant.broken == 0 {
                vec![]
            } else {
                vec![format!("{} broken", invariant.broken)]
            },
        ));
    }
    let sent = load.latencies.len();
    let mut latencies = load.latencies;
    latencies.sort_unstable();
    let created = {
        let ledger = lock(&run.ledger);
        BTreeMap::from([
            ("posts", ledger.posts.len()),
            ("comments", ledger.comments.len()),
            ("users", ledger.users.len() + ledger.signed_up.len()),
        ])
    };
    if let Database::Galera(cluster) = database {
        progress("checking that every node holds the same data…");
        checks.push(verdict(
            "every Galera node holds every write, with true counters, and the same data as the others",
            nodes_agree(cluster, app).await?,
        ));
    }
    let report = SoakReport {
        database: database.describe(),
        requests,
        resent: load.resent,
        sent,
        concurrency: CONCURRENCY,
        seconds,
        requests_per_second: sent as f64 / seconds,
        p50_ms: load::ms(percentile(&latencies, 50.0)),
        p99_ms: load::ms(percentile(&latencies, 99.0)),
        bursts,
        status_503_in_outages,
        status_503_elsewhere: load.unavailable_at.len() - status_503_in_outages,
        status_500,
        transaction_retries,
        statuses,
        created,
        invariants,
        passed: checks.iter().all(|c| c.passed),
        checks,
        outages,
    };
    Ok(report)
}

/// What differs between the Galera nodes, each read by itself once it has
/// applied everything: an invariant broken on one, or tables that differ.
async fn nodes_agree(cluster: &omni_testkit::Galera, app: &TestApp) -> anyhow::Result<Vec<String>> {
    let url = app.db_url().unwrap_or_default();
    let database = url.rsplit('/').next().unwrap_or_default();
    let mut found = Vec::new();
    let mut checksums = Vec::new();
    for node in 0..galera::NODES {
        cluster.catch_up(node).await?;
        let mut db = cluster.connect_node(node, Some(database)).await?;
        for broken in integrity::broken(&mut db).await? {
            found.push(format!("node{}: {broken}", node + 1));
        }
        let sums: Vec<(String, Option<i64>)> = db
            .query(
                "CHECKSUM TABLE users, posts, comments, counters, post_counters, idempotency_keys",
            )
            .await?;
        checksums.push(sums);
        db.disconnect().await?;
    }
    if checksums.windows(2).any(|w| w[0] != w[1]) {
        found.push(format!("the nodes' tables differ: {checksums:?}"));
    }
    Ok(found)
}

/// Reads every resource the run created back through the API, and says
/// what is not as the run left it.
async fn read_back(run: &Arc<Run>) -> Vec<String> {
    let mut probes = Vec::new();
    {
        let ledger = lock(&run.ledger);
        for id in ledger.users.iter().map(|u| &u.id).chain(&ledger.signed_up) {
            probes.push(Probe::User(id.clone()));
        }
        for post in &ledger.posts {
            probes.push(Probe::Post {
                id: post.id.clone(),
                deleted: post.deleted,
                titles: post.titles.clone(),
            });
        }
        for comment in &ledger.comments {
            let post = &ledger.posts[comment.post];
            let deleted = match (comment.deleted, post.deleted) {
                (Deleted::Yes, _) | (_, Deleted::Yes) => Deleted::Yes,
                (Deleted::Maybe, _) | (_, Deleted::Maybe) => Deleted::Maybe,
                _ => Deleted::No,
            };
            probes.push(Probe::Comment {
                id: comment.id.clone(),
                post: post.id.clone(),
                deleted,
                bodies: comment.bodies.clone(),
            });
        }
    }
    let run = run.clone();
    in_parallel(probes, CONCURRENCY, move |probe| {
        let run = run.clone();
        async move { probe.check(&run).await }
    })
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// One created resource to read back.
#[derive(Debug)]
enum Probe {
    User(String),
    Post {
        id: String,
        deleted: Deleted,
        titles: Vec<String>,
    },
    Comment {
        id: String,
        post: String,
        deleted: Deleted,
        bodies: Vec<String>,
    },
}

impl Probe {
    /// What is wrong with the resource, if anything.
    async fn check(self, run: &Run) -> Option<String> {
        match self {
            Probe::User(id) => {
                let answer = run
                    .send("read back: user", &Call::get(format!("/api/users/{id}")))
                    .await;
                let status = answer.map_or(0, |a| a.status);
                (status != 200).then(|| format!("user {id}: {status}"))
            }
            Probe::Post {
                id,
                deleted,
                titles,
            } => {
                let answer = run
                    .send("read back: post", &Call::get(format!("/api/posts/{id}")))
                    .await?;
                let title = answer.json()["title"].as_str().map(str::to_owned);
                present(
                    &format!("post {id}"),
                    deleted,
                    answer.status,
                    title.as_deref(),
                    &titles,
                )
            }
            Probe::Comment {
                id,
                post,
                deleted,
                bodies,
            } => {
                // The comment is the first of its post's comments older
                // than the next id, if it exists.
                let next: u64 = id.parse::<u64>().unwrap_or_default() + 1;
                let answer = run
                    .send(
                        "read back: comment",
                        &Call::get(format!("/api/posts/{post}/comments?before={next}")),
                    )
                    .await?;
                let json = answer.json();
                let first = &json["items"][0];
                let (status, body) =
                    if answer.status == 200 && first["id"] == Value::String(id.clone()) {
                        (200, first["body"].as_str().map(str::to_owned))
                    } else if matches!(answer.status, 200 | 404) {
                        (404, None)
                    } else {
                        (answer.status, None)
                    };
                present(
                    &format!("comment {id}"),
                    deleted,
                    status,
                    body.as_deref(),
                    &bodies,
                )
            }
        }
    }
}

/// Whether a resource read back as `status` with `content` is as the run
/// left it.
fn present(
    what: &str,
    deleted: Deleted,
    status: u16,
    content: Option<&str>,
    allowed: &[String],
) -> Option<String> {
    match (deleted, status) {
        (Deleted::Yes, 404) | (Deleted::Maybe, 404) => None,
        (Deleted::No | Deleted::Maybe, 200) => match content {
            Some(content) if allowed.iter().any(|a| a == content) => None,
            other => Some(format!(
                "{what}: shows {other:?}, expected one of {allowed:?}"
            )),
        },
        (Deleted::Yes, 200) => Some(format!("{what}: deleted, but still readable")),
        (Deleted::No, 404) => Some(format!("{what}: created (201) and never deleted, but gone")),
        (_, status) => Some(format!("{what}: read back with status {status}")),
    }
}

/// Creates that happened twice: two posts from one create's description,
/// or two comments from one create's key.
async fn duplicates(db: &mut mysql_async::Conn) -> anyhow::Result<Vec<String>> {
    let posts: Vec<(String, i64)> = db
        .query(
            "SELECT description, COUNT(*) FROM posts WHERE description LIKE 'soak create %' \
             GROUP BY description HAVING COUNT(*) > 1",
        )
        .await?;
    let comments: Vec<(String, i64)> = db
        .query(
            "SELECT SUBSTRING_INDEX(body, ' | ', 1) AS created, COUNT(*) FROM comments \
             GROUP BY created HAVING COUNT(*) > 1",
        )
        .await?;
    Ok(posts
        .into_iter()
        .chain(comments)
        .map(|(what, n)| format!("{what}: {n} times"))
        .collect())
}

pub(super) fn print(report: &SoakReport) {
    println!(
        "\nSoak on {}: {} requests ({} sent, {} of them writes sent again after a 503), {} clients, {:.1}s, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        report.database,
        report.requests,
        report.sent,
        report.resent,
        report.concurrency,
        report.seconds,
        report.requests_per_second,
        report.p50_ms,
        report.p99_ms
    );
    for outage in &report.outages {
        println!(
            "{} killed at {:.1}s, back {:.1}s later",
            outage.what, outage.killed_at_s, outage.down_s
        );
    }
    println!(
        "{} burst(s) of contended writes; 503s: {} during outages, {} elsewhere; 500s: {}; transactions retried: {}",
        report.bursts,
        report.status_503_in_outages,
        report.status_503_elsewhere,
        report.status_500,
        report.transaction_retries
    );
    println!("created: {:?}\n", report.created);
    println!("{:<44} statuses (0: no answer)", "operation");
    for (op, statuses) in &report.statuses {
        let list: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!("{op:<44} {}", list.join("  "));
    }
    println!("\nchecks:");
    for check in &report.checks {
        println!(
            "  [{}] {}",
            if check.passed { "pass" } else { "FAIL" },
            check.check
        );
        for found in &check.found {
            println!("        {found}");
        }
    }
    println!("\nsoak {}", if report.passed { "passed" } else { "FAILED" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_must_read_back_as_the_run_left_it() {
        let allowed = ["a".to_owned(), "b".to_owned()];
        assert_eq!(present("p", Deleted::No, 200, Some("b"), &allowed), None);
        assert_eq!(present("p", Deleted::Maybe, 404, None, &allowed), None);
        assert_eq!(present("p", Deleted::Maybe, 200, Some("a"), &allowed), None);
        assert_eq!(present("p", Deleted::Yes, 404, None, &allowed), None);
        for broken in [
            present("p", Deleted::No, 404, None, &allowed),
            present("p", Deleted::Yes, 200, Some("a"), &allowed),
            present("p", Deleted::No, 200, Some("c"), &allowed),
            present("p", Deleted::No, 503, None, &allowed),
        ] {
            assert!(broken.is_some());
        }
    }
}
