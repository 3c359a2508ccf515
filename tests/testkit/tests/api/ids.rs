//! Snowflake ids stay unique and time-ordered although every request runs
//! in a fresh instance with no shared memory.

use std::time::{SystemTime, UNIX_EPOCH};

use omni_testkit::spawn_app;
use serde_json::json;

const CLIENTS: usize = 8;
const SIGNUPS_PER_CLIENT: usize = 300;
const OMNI_EPOCH_MS: i64 = 1_735_689_600_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Created {
    id: i64,
    started_ms: i64,
    finished_ms: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_signups_get_distinct_time_ordered_ids() {
    let app = spawn_app().await;
    let app = &app;
    let clients = (0..CLIENTS).map(|client| async move {
        let mut created = Vec::with_capacity(SIGNUPS_PER_CLIENT);
        for n in 0..SIGNUPS_PER_CLIENT {
            let started_ms = now_ms();
            let response = app
                .post(
                    "/api/signup",
                    &json!({ "username": format!("u{client}_{n}"), "password": "a password for ids" }),
                    None,
                )
                .await;
            let finished_ms = now_ms();
            assert_eq!(response.status, 201, "{}", response.text());
            let id = response.json()["id"].as_str().unwrap().parse().unwrap();
            created.push(Created {
                id,
                started_ms,
                finished_ms,
            });
        }
        created
    });
    let per_client = futures::future::join_all(clients).await;

    let mut ids: Vec<i64> = per_client.iter().flatten().map(|c| c.id).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "every id is distinct");
    assert_eq!(total, CLIENTS * SIGNUPS_PER_CLIENT);
    assert_eq!(
        app.scalar::<i64>("SELECT COUNT(*) FROM users").await,
        total as i64,
        "no insert lost"
    );

    for created in per_client.iter().flatten() {
        let id_ms = (created.id >> 22) + OMNI_EPOCH_MS;
        assert!(
            (created.started_ms..=created.finished_ms).contains(&id_ms),
            "the id's time {id_ms} lies within its request ({}..={})",
            created.started_ms,
            created.finished_ms
        );
        assert_eq!(
            (created.id >> 12) & 0x3ff,
            1,
            "the node id is the configured one"
        );
    }
    for client in &per_client {
        for pair in client.windows(2) {
            assert!(
                pair[0].id >> 22 <= pair[1].id >> 22,
                "a later request never gets an earlier millisecond"
            );
        }
    }
}
