//! The node that takes every write is SIGKILLed while clients create posts
//! and comments, with Idempotency-Keys, and read them back; it rejoins while
//! they go on.

use std::sync::Arc;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use omni_testkit::{Galera, TestApp, galera};

use crate::checks::{assert_integrity, database_of, duplicates, missing};
use crate::writers::Writers;

/// Clients writing at once.
const CLIENTS: usize = 6;
/// Acknowledged creates before the kill, after it, and after the rejoin.
const ACKS_PER_PHASE: usize = 24;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn killing_the_node_that_takes_writes_under_load_loses_nothing_and_answers_only_503s() {
    let mut cluster = Galera::start().unwrap();
    let app = Arc::new(TestApp::spawn_on(cluster.front(), galera::app_options()).await);
    let mut users = Vec::new();
    for n in 0..CLIENTS {
        users.push(app.create_user(&format!("writer{n}")).await);
    }
    let writers = Writers::start(app.clone(), users, "kill");

    let before = writers
        .wait_for_acks(0, ACKS_PER_PHASE, "before the kill")
        .await;
    let writer = cluster.writer().await.unwrap();
    let killed_at = Instant::now();
    cluster.kill(writer);
    let after = writers
        .wait_for_acks(before, ACKS_PER_PHASE, "after the kill")
        .await;
    let logged = cluster.log(writer).len();
    cluster.restart(writer).await.unwrap();
    let rejoined_at = Instant::now();
    writers
        .wait_for_acks(after, ACKS_PER_PHASE, "after the rejoin")
        .await;
    let record = writers.stop().await;
    record.assert_only_successes_and_503s(&app);

    // The failover window: from the kill until the first create sent after
    // it was acknowledged; and the 503s around it.
    let first_ack_after_kill = record
        .acks()
        .filter(|ack| ack.sent >= killed_at)
        .map(|ack| ack.answered)
        .min()
        .unwrap();
    let window = first_ack_after_kill - killed_at;
    let unavailable: Vec<_> = record.attempts.iter().filter(|a| a.status == 503).collect();
    let last_503 = unavailable.iter().map(|a| a.answered).max();
    let slowest = record
        .attempts
        .iter()
        .filter(|a| a.sent >= killed_at && a.sent < rejoined_at)
        .map(|a| a.answered - a.sent)
        .max()
        .unwrap_or_default();
    println!(
        "failover window: {:.2} s from the SIGKILL of node{} to the first acknowledged create sent after it; \
         {} 503s with Retry-After (the last {:.2} s after the kill); slowest answer meanwhile {:.2} s; \
         {} posts and {} comments acknowledged",
        window.as_secs_f64(),
        writer + 1,
        unavailable.len(),
        last_503.map_or(0.0, |at| at
            .saturating_duration_since(killed_at)
            .as_secs_f64()),
        slowest.as_secs_f64(),
        record.posts.len(),
        record.comments.len(),
    );

    // Every acknowledged write is on every node, nothing is there twice, and
    // every counter is true, on each node by itself; the nodes are equal.
    cluster.wait_cluster_size(galera::NODES).await.unwrap();
    let database = database_of(&app);
    let post_ids: Vec<String> = record.posts.iter().map(|p| p.id.clone()).collect();
    let comment_ids: Vec<String> = record.comments.iter().map(|c| c.id.clone()).collect();
    let mut checksums = Vec::new();
    for node in 0..galera::NODES {
        cluster.catch_up(node).await.unwrap();
        let mut db = cluster.connect_node(node, Some(&database)).await.unwrap();
        let what = format!("node{}", node + 1);
        assert_eq!(
            missing(&mut db, "posts", &post_ids).await,
            Vec::<String>::new(),
            "{what}"
        );
        assert_eq!(
            missing(&mut db, "comments", &comment_ids).await,
            Vec::<String>::new(),
            "{what}"
        );
        assert_eq!(duplicates(&mut db).await, Vec::<String>::new(), "{what}");
        assert_integrity(&mut db, &what).await;
        let sums: Vec<(String, Option<i64>)> = db
            .query(
                "CHECKSUM TABLE users, posts, comments, counters, post_counters, idempotency_keys",
            )
            .await
            .unwrap();
        checksums.push(sums);
        db.disconnect().await.unwrap();
    }
    assert!(
        checksums.windows(2).all(|w| w[0] == w[1]),
        "the nodes differ: {checksums:#?}"
    );
    let rejoin = cluster.log(writer)[logged..].to_owned();
    assert!(
        rejoin.contains("IST received"),
        "node{} did not rejoin by IST: {rejoin}",
        writer + 1
    );
}
