//! The restore drill: a backup taken while Omni writes, restored into a
//! fresh server, holds every write acknowledged before the backup started,
//! true counters and whole references, and Omni serves it.

use std::sync::Arc;
use std::time::Instant;

use omni_testkit::backup::{LogicalBackup, PhysicalBackup};
use omni_testkit::{AppOptions, MariaDb, TestApp};
use serde_json::json;

use crate::checks::{assert_integrity, database_of, duplicates, missing};
use crate::writers::{Ack, Writers};

/// Clients writing at once.
const CLIENTS: usize = 4;
/// Acknowledged creates before the backup starts, and after it ends.
const ACKS: usize = 20;

/// How a backup is taken and restored.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// mariadb-backup: mariadb-operator's PhysicalBackup, Galera's SST.
    Physical,
    /// mariadb-dump: the operator's Backup, loaded by its Restore.
    Logical,
}

/// A backup of either kind.
#[derive(Debug)]
enum Backup {
    Physical(PhysicalBackup),
    Logical(LogicalBackup),
}

impl Backup {
    fn bytes(&self) -> u64 {
        match self {
            Backup::Physical(b) => b.bytes(),
            Backup::Logical(b) => b.bytes(),
        }
        .unwrap()
    }

    fn restore(&self) -> MariaDb {
        match self {
            Backup::Physical(b) => b.restore(),
            Backup::Logical(b) => b.restore(),
        }
        .unwrap()
    }
}

async fn drill(kind: Kind) {
    let server = Arc::new(MariaDb::start().unwrap());
    let app = Arc::new(TestApp::spawn_on(&server, AppOptions::default()).await);
    let database = database_of(&app);
    let mut users = Vec::new();
    for n in 0..CLIENTS {
        users.push(app.create_user(&format!("writer{n}")).await);
    }
    let writers = Writers::start(app.clone(), users.clone(), "drill");
    writers.wait_for_acks(0, ACKS, "before the backup").await;

    // The backup, while the clients go on writing.
    let started = Instant::now();
    let backup = {
        let (server, database) = (server.clone(), database.clone());
        tokio::task::spawn_blocking(move || match kind {
            Kind::Physical => Backup::Physical(server.physical_backup().unwrap()),
            Kind::Logical => Backup::Logical(server.logical_backup(&database).unwrap()),
        })
        .await
        .unwrap()
    };
    let taken = started.elapsed();
    let during = writers.acks();
    writers
        .wait_for_acks(during, ACKS, "after the backup")
        .await;
    let record = writers.stop().await;
    record.assert_only_successes_and_503s(&app);

    let bytes = backup.bytes();
    let restore_started = Instant::now();
    let restored = tokio::task::spawn_blocking(move || backup.restore())
        .await
        .unwrap();
    println!(
        "{kind:?} backup while writing: taken in {:.2} s ({bytes} bytes), restored in {:.2} s",
        taken.as_secs_f64(),
        restore_started.elapsed().as_secs_f64()
    );

    // Every write acknowledged before the backup started is there; nothing
    // twice; every counter true and every reference whole.
    let before = |acks: &[Ack]| -> Vec<String> {
        acks.iter()
            .filter(|a| a.answered < started)
            .map(|a| a.id.clone())
            .collect()
    };
    let (posts, comments) = (before(&record.posts), before(&record.comments));
    assert!(!posts.is_empty() && !comments.is_empty());
    let mut db = restored.connect(Some(&database)).await.unwrap();
    assert_eq!(
        missing(&mut db, "posts", &posts).await,
        Vec::<String>::new()
    );
    assert_eq!(
        missing(&mut db, "comments", &comments).await,
        Vec::<String>::new()
    );
    assert_eq!(duplicates(&mut db).await, Vec::<String>::new());
    assert_integrity(&mut db, &format!("the {kind:?} restore")).await;

    // Omni serves the restored data, reads and writes.
    let served = TestApp::spawn_on_database(
        restored.url(&database),
        restored.host(),
        AppOptions::default(),
    )
    .await;
    for id in &posts {
        let post = served.get(&format!("/api/posts/{id}"), None).await;
        assert_eq!(post.status, 200, "{}", post.text());
    }
    let total = served.get("/api/posts", None).await.json()["total_items"].clone();
    assert_eq!(
        total,
        served.scalar::<i64>("SELECT COUNT(*) FROM posts").await
    );
    let login = served.login(&users[0].username, &users[0].password).await;
    assert_eq!(login.status, 200, "{}", login.text());
    let token = login.json()["token"].as_str().unwrap().to_owned();
    let created = served
        .post(
            "/api/posts",
            &json!({ "title": "After the restore", "markdown_url": "https://example.com/r.md" }),
            Some(&token),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let mut db = restored.connect(Some(&database)).await.unwrap();
    assert_integrity(&mut db, "after a write on the restore").await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn a_mariadb_backup_taken_while_omni_writes_restores_whole_and_omni_serves_it() {
    drill(Kind::Physical).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "real Galera clusters and backups, minutes: scripts/test runs these with --ignored"]
async fn a_mariadb_dump_taken_while_omni_writes_restores_whole_and_omni_serves_it() {
    drill(Kind::Logical).await;
}
