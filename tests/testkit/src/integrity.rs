//! What must hold of Omni's data however the writes interleaved, and
//! whatever failed: every kept counter equals the true `COUNT(*)`, and no
//! row refers to one that is gone. Read straight from MariaDB (a server, a
//! Galera node, a restored backup).

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

/// One invariant and how many rows break it.
#[derive(Clone, Debug, Serialize)]
pub struct Invariant {
    /// What must hold.
    pub rule: &'static str,
    /// Rows (or, for the global count, the difference) that break it.
    pub broken: i64,
}

/// Each invariant's SQL: one row, one signed count of what breaks it.
const INVARIANTS: [(&str, &str); 6] = [
    (
        "the global post count (its 16 slots summed) equals COUNT(*) of posts",
        "SELECT ABS((SELECT COUNT(*) FROM posts) - \
         (SELECT CAST(COALESCE(SUM(value), 0) AS SIGNED) FROM counters WHERE name = 'posts'))",
    ),
    (
        "every user's post_count equals COUNT(*) of their posts",
        "SELECT COUNT(*) FROM users u \
         LEFT JOIN (SELECT author_id, COUNT(*) AS n FROM posts GROUP BY author_id) p \
           ON p.author_id = u.id \
         WHERE u.post_count <> COALESCE(p.n, 0)",
    ),
    (
        "every post's comment count (its post_counters slots summed) equals COUNT(*) of its comments",
        "SELECT COUNT(*) FROM posts p \
         LEFT JOIN (SELECT post_id, SUM(comments) AS n FROM post_counters GROUP BY post_id) k \
           ON k.post_id = p.id \
         LEFT JOIN (SELECT post_id, COUNT(*) AS n FROM comments GROUP BY post_id) c \
           ON c.post_id = p.id \
         WHERE COALESCE(k.n, 0) <> COALESCE(c.n, 0)",
    ),
    (
        "no comment without its post",
        "SELECT COUNT(*) FROM comments c LEFT JOIN posts p ON p.id = c.post_id WHERE p.id IS NULL",
    ),
    (
        "no comment-count slot without its post",
        "SELECT COUNT(*) FROM post_counters k LEFT JOIN posts p ON p.id = k.post_id \
         WHERE p.id IS NULL",
    ),
    (
        "no post or comment without its author",
        "SELECT (SELECT COUNT(*) FROM posts p LEFT JOIN users u ON u.id = p.author_id \
                 WHERE u.id IS NULL) + \
                (SELECT COUNT(*) FROM comments c LEFT JOIN users u ON u.id = c.author_id \
                 WHERE u.id IS NULL)",
    ),
];

/// Checks every invariant.
pub async fn check(db: &mut Conn) -> anyhow::Result<Vec<Invariant>> {
    let mut found = Vec::new();
    for (rule, sql) in INVARIANTS {
        let broken: Option<i64> = db.query_first(sql).await?;
        found.push(Invariant {
            rule,
            broken: broken.unwrap_or_default(),
        });
    }
    Ok(found)
}

/// The invariants `db` breaks, as lines for a failed assertion (empty when
/// all hold).
pub async fn broken(db: &mut Conn) -> anyhow::Result<Vec<String>> {
    Ok(check(db)
        .await?
        .into_iter()
        .filter(|i| i.broken != 0)
        .map(|i| format!("{}: {} broken", i.rule, i.broken))
        .collect())
}
