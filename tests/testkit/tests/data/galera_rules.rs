//! What Galera refuses, and that Omni needs none of it; and what Omni
//! relies on that Galera changes: a commit that loses certification to
//! another node's is error 1213, which the app retries like a deadlock.

use std::path::Path;

use futures::future::join_all;
use mysql_async::prelude::Queryable;
use omni_testkit::{AppOptions, TestApp, galera, workspace_root};
use serde_json::json;

use crate::checks::{assert_integrity, database_of};

/// The server's error code and message for `sql`, which must fail.
async fn refused(db: &mut mysql_async::Conn, sql: &str) -> (u16, String) {
    match db.query_drop(sql).await {
        Err(mysql_async::Error::Server(e)) => (e.code, e.message),
        other => panic!("{sql}: expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn galera_refuses_what_it_cannot_replicate_and_omni_uses_none_of_it() {
    let cluster = galera::shared();
    let name = cluster.front().create_database().await.unwrap();
    let mut db = cluster.front().connect(Some(&name)).await.unwrap();
    // Tables without a primary key, and writes to tables Galera does not
    // replicate (not InnoDB): refused outright, with wsrep_mode
    // REQUIRED_PRIMARY_KEY,STRICT_REPLICATION as k8s/spinkube/mariadb.yaml
    // sets it. ER_GALERA_REPLICATION_NOT_SUPPORTED.
    for sql in [
        "CREATE TABLE no_key (x INT) ENGINE=InnoDB",
        "CREATE TABLE not_innodb (x INT PRIMARY KEY) ENGINE=MyISAM",
    ] {
        let (code, message) = refused(&mut db, sql).await;
        assert_eq!(
            (code, message.as_str()),
            (4165, "Galera replication not supported"),
            "{sql}"
        );
    }
    // Table locks and named locks are accepted, but hold on one node only:
    // no use for keeping two writers apart.
    db.query_drop("CREATE TABLE locked (x INT PRIMARY KEY) ENGINE=InnoDB")
        .await
        .unwrap();
    let mut first = cluster.connect_node(0, Some(&name)).await.unwrap();
    let mut second = cluster.connect_node(1, Some(&name)).await.unwrap();
    // Node 2 has the table once it has applied what node 1 committed.
    cluster.catch_up(1).await.unwrap();
    let sql = "SELECT GET_LOCK('omni', 0)";
    assert_eq!(first.query_first::<i64, _>(sql).await.unwrap(), Some(1));
    assert_eq!(
        second.query_first::<i64, _>(sql).await.unwrap(),
        Some(1),
        "one named lock held on two nodes at once"
    );
    first.query_drop("LOCK TABLES locked WRITE").await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        second.query_drop("INSERT INTO locked VALUES (1)"),
    )
    .await
    .expect("a write on another node does not wait for the table lock")
    .unwrap();
    let _ = first.query_drop("UNLOCK TABLES").await;

    // Omni's schema, as the migrations left it on the cluster: InnoDB
    // tables with primary keys only.
    let bad: Vec<String> = db
        .query(format!(
            "SELECT t.TABLE_NAME FROM information_schema.TABLES t \
             WHERE t.TABLE_SCHEMA = '{name}' AND t.TABLE_NAME <> 'locked' \
             AND (t.ENGINE <> 'InnoDB' OR NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c \
               WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
               AND c.CONSTRAINT_TYPE = 'PRIMARY KEY'))"
        ))
        .await
        .unwrap();
    assert_eq!(bad, Vec::<String>::new());
    // And Omni's code and migrations never ask for what Galera refuses.
    let root = workspace_root();
    for dir in ["shared/src", "functions", "migrations"] {
        for (path, text) in sources(&root.join(dir)) {
            let upper = text.to_uppercase().replace(' ', "");
            for unfit in [
                "LOCKTABLES",
                "GET_LOCK",
                "ENGINE=MYISAM",
                "ENGINE=ARIA",
                "ENGINE=MEMORY",
            ] {
                assert!(!upper.contains(unfit), "{}: {unfit}", path.display());
            }
        }
    }
}

/// Every `.rs` and `.sql` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs" || e == "sql") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path, text));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn a_commit_that_loses_certification_is_error_1213() {
    let cluster = galera::shared();
    let name = cluster.front().create_database().await.unwrap();
    cluster.catch_up(1).await.unwrap();
    let mut first = cluster.connect_node(0, Some(&name)).await.unwrap();
    let mut second = cluster.connect_node(1, Some(&name)).await.unwrap();
    // The same counter row, changed on two nodes at once: each node's lock
    // is its own, so both statements go through, and the commit that
    // reaches the cluster second fails certification.
    first
        .query_drop("START TRANSACTION; UPDATE counters SET value = value + 1 WHERE name = 'posts' AND slot = 0")
        .await
        .unwrap();
    second
        .query_drop("UPDATE counters SET value = value + 1 WHERE name = 'posts' AND slot = 0")
        .await
        .unwrap();
    let (code, message) = refused(&mut first, "COMMIT").await;
    assert_eq!(code, 1213, "{message}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn writes_through_two_nodes_at_once_lose_certification_and_are_retried_without_a_500() {
    let cluster = galera::shared();
    // Two apps on one database, each writing through its own node: what
    // would happen if writes were not kept to the primary.
    let first = TestApp::spawn_on(cluster.front(), galera::app_options()).await;
    let database = database_of(&first);
    cluster.catch_up(1).await.unwrap();
    let second = TestApp::spawn_on_database(
        cluster.node_url(1, &database),
        &cluster.node_host(1),
        galera::app_options(),
    )
    .await;
    let ada = first.create_user("ada").await;
    let post = first
        .post(
            "/api/posts",
            &json!({ "title": "Contended", "markdown_url": "https://example.com/c.md" }),
            Some(&ada.token),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/posts/{post}/comments");
    let mut created = 0;
    // Rounds of comments from both nodes at once on one post: its counter
    // slots are the rows both sides change. Until the app has retried a
    // certification failure (a few rounds at most).
    for round in 0..20 {
        let bodies: Vec<_> = (0..16)
            .map(|n| json!({ "body": format!("round {round} comment {n}") }))
            .collect();
        let responses = join_all(bodies.iter().enumerate().map(|(n, body)| {
            let app = if n % 2 == 0 { &first } else { &second };
            app.post(&path, body, Some(&ada.token))
        }))
        .await;
        for response in &responses {
            assert!(
                matches!(response.status, 201 | 503),
                "{}: {}",
                response.status,
                response.text()
            );
            if response.status == 503 {
                assert!(response.header("retry-after").is_some());
            }
        }
        created += responses.iter().filter(|r| r.status == 201).count();
        let retried = [&first, &second].iter().any(|app| {
            app.logs()
                .iter()
                .any(|l| l.contains("transaction_retried") && l.contains("1213"))
        });
        if retried && round >= 2 {
            break;
        }
    }
    let retried = [&first, &second]
        .iter()
        .flat_map(|app| app.logs())
        .filter(|l| l.contains("transaction_retried") && l.contains("1213"))
        .count();
    assert!(retried > 0, "no certification failure was retried");
    cluster.wait_cluster_size(galera::NODES).await.unwrap();
    for node in 0..galera::NODES {
        let mut db = cluster.connect_node(node, Some(&database)).await.unwrap();
        // Once the node has applied everything committed so far.
        db.query_drop("SET SESSION wsrep_sync_wait = 1")
            .await
            .unwrap();
        let count: Option<i64> = db
            .exec_first("SELECT COUNT(*) FROM comments WHERE post_id = ?", (&post,))
            .await
            .unwrap();
        assert_eq!(
            count,
            Some(i64::try_from(created).unwrap()),
            "node{}",
            node + 1
        );
        assert_integrity(&mut db, &format!("node{}", node + 1)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn a_client_reads_its_write_at_once_through_another_node_with_causal_reads() {
    let cluster = galera::shared();
    // The writer's app, and a reader on another node, as omni-write and
    // omni-read are on the primary and the secondaries; one key-value store
    // (the response cache), as every pod shares Redis.
    let state = tempfile::tempdir().unwrap();
    let options = || AppOptions {
        state_dir: Some(state.path().to_owned()),
        ..galera::app_options()
    };
    let writer = TestApp::spawn_on(cluster.front(), options()).await;
    let database = database_of(&writer);
    let node = (cluster.writer().await.unwrap() + 1) % galera::NODES;
    cluster.catch_up(node).await.unwrap();
    let reader = TestApp::spawn_on_database(
        cluster.node_url(node, &database),
        &cluster.node_host(node),
        options(),
    )
    .await;
    let ada = writer.create_user("ada").await;
    let causal_before: i64 = cluster
        .status(node, "wsrep_causal_reads")
        .await
        .unwrap()
        .parse()
        .unwrap();
    for n in 0..30 {
        let created = writer
            .post(
                "/api/posts",
                &json!({ "title": format!("Read me {n}"), "markdown_url": "https://example.com/r.md" }),
                Some(&ada.token),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let read = reader.get(&format!("/api/posts/{id}"), None).await;
        assert_eq!(read.status, 200, "post {n} not yet on node{}", node + 1);
        let listed = reader.get("/api/posts", None).await.json();
        assert_eq!(listed["items"][0]["id"], id.as_str());
        assert_eq!(listed["total_items"], n + 1);
    }
    let causal_after: i64 = cluster
        .status(node, "wsrep_causal_reads")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        causal_after - causal_before >= 60,
        "the reader's statements were not causal reads: {causal_before} -> {causal_after}"
    );
}
