//! A node that was away rejoins: by IST when the writes it missed are still
//! in the others' gcache, by a full SST with mariadb-backup when it lost its
//! data; either way it then serves everything written while it was away.

use omni_testkit::{Galera, TestApp, galera};
use serde_json::json;

use crate::checks::{assert_integrity, database_of};

/// Writes the app acknowledges while a node is away: their ids.
async fn posts_while_away(app: &TestApp, token: &str, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..12 {
        let response = app
            .post(
                "/api/posts",
                &json!({ "title": format!("{tag} {n}"), "markdown_url": "https://example.com/r.md" }),
                Some(token),
            )
            .await;
        assert_eq!(response.status, 201, "{}", response.text());
        let id = response.json()["id"].as_str().unwrap().to_owned();
        let comment = app
            .post(
                &format!("/api/posts/{id}/comments"),
                &json!({ "body": format!("{tag} comment {n}") }),
                Some(token),
            )
            .await;
        assert_eq!(comment.status, 201, "{}", comment.text());
        ids.push(id);
    }
    ids
}

/// Asserts node `node` has applied every write the writer committed, and
/// that Omni, reading from that node alone, serves `ids` and true counts.
async fn assert_serves(
    cluster: &Galera,
    node: usize,
    writer: usize,
    database: &str,
    ids: &[String],
) {
    // Everything the writer committed, the rejoined node has committed too
    // (once it has applied what it received while joining).
    let committed = cluster
        .status(writer, "wsrep_last_committed")
        .await
        .unwrap();
    cluster.catch_up(node).await.unwrap();
    let applied = cluster.status(node, "wsrep_last_committed").await.unwrap();
    assert_eq!(applied, committed, "node{} is behind", node + 1);
    let reader = TestApp::spawn_on_database(
        cluster.node_url(node, database),
        &cluster.node_host(node),
        galera::app_options(),
    )
    .await;
    for id in ids {
        let post = reader.get(&format!("/api/posts/{id}"), None).await;
        assert_eq!(post.status, 200, "node{}: {}", node + 1, post.text());
        assert_eq!(post.json()["comment_count"], 1);
    }
    let total = reader.get("/api/posts", None).await.json()["total_items"].clone();
    let expected = reader.scalar::<i64>("SELECT COUNT(*) FROM posts").await;
    assert_eq!(total, expected);
    let mut db = cluster.connect_node(node, Some(database)).await.unwrap();
    assert_integrity(&mut db, &format!("node{}", node + 1)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn a_node_that_missed_writes_rejoins_by_ist_and_one_that_lost_its_data_by_sst() {
    let mut cluster = Galera::start().unwrap();
    let app = TestApp::spawn_on(cluster.front(), galera::app_options()).await;
    let database = database_of(&app);
    let ada = app.create_user("ada").await;
    let writer = cluster.writer().await.unwrap();
    let away = (writer + 1) % galera::NODES;

    // Killed, as a Pi losing power: the writes go on without it.
    cluster.kill(away);
    cluster.wait_cluster_size(galera::NODES - 1).await.unwrap();
    let missed = posts_while_away(&app, &ada.token, "while node away").await;
    let logged = cluster.log(away).len();
    cluster.restart(away).await.unwrap();
    let rejoin = cluster.log(away)[logged..].to_owned();
    assert!(rejoin.contains("IST received"), "{rejoin}");
    assert!(
        !rejoin.contains("Proceeding with SST"),
        "a full SST: {rejoin}"
    );
    assert_serves(&cluster, away, writer, &database, &missed).await;

    // Its data lost (a new SD card): a full copy from a donor.
    let lost = (writer + 2) % galera::NODES;
    cluster.kill(lost);
    cluster.wipe(lost).unwrap();
    let missed_too = posts_while_away(&app, &ada.token, "while node wiped").await;
    let logged = cluster.log(lost).len();
    cluster.restart(lost).await.unwrap();
    let rejoin = cluster.log(lost)[logged..].to_owned();
    assert!(
        rejoin.contains("mariabackup SST completed on joiner"),
        "{rejoin}"
    );
    assert_serves(
        &cluster,
        lost,
        writer,
        &database,
        &[missed, missed_too].concat(),
    )
    .await;
}
