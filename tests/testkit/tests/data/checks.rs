//! What must hold of a copy of Omni's data, on a Galera node or in a
//! restored backup.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use omni_testkit::{TestApp, integrity};

/// The name of `app`'s database.
pub fn database_of(app: &TestApp) -> String {
    let url = app.db_url().expect("a MariaDB app");
    url.rsplit('/').next().unwrap().to_owned()
}

/// Of `ids` (as the API writes them), those not in `table`.
pub async fn missing(db: &mut Conn, table: &str, ids: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for chunk in ids.chunks(500) {
        let found: Vec<i64> = db
            .query(format!(
                "SELECT id FROM {table} WHERE id IN ({})",
                chunk.join(",")
            ))
            .await
            .unwrap();
        let found: Vec<String> = found.iter().map(ToString::to_string).collect();
        missing.extend(chunk.iter().filter(|id| !found.contains(id)).cloned());
    }
    missing
}

/// Creates that happened twice: posts with the same title, or comments with
/// the same body (every create in these tests has its own).
pub async fn duplicates(db: &mut Conn) -> Vec<String> {
    let rows: Vec<(String, i64)> = db
        .query(
            "SELECT title, COUNT(*) FROM posts GROUP BY title HAVING COUNT(*) > 1 \
             UNION ALL \
             SELECT body, COUNT(*) FROM comments GROUP BY body HAVING COUNT(*) > 1",
        )
        .await
        .unwrap();
    rows.into_iter()
        .map(|(what, n)| format!("{what}: {n} times"))
        .collect()
}

/// Asserts every counter equals its count and every reference holds.
pub async fn assert_integrity(db: &mut Conn, what: &str) {
    let broken = integrity::broken(db).await.unwrap();
    assert!(broken.is_empty(), "{what}: {broken:#?}");
}
