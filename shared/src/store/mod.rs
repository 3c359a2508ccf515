//! Persistence: each module holds the SQL for one table next to the typed
//! rows it produces. Row types are not API types; see `views`.
//!
//! Lists page with `LIMIT ? OFFSET ?` (`?page=`) or `id < ?` (`?before=`),
//! newest first, always as one statement that also reads the list's total
//! and the owner's existence.

/// The tables of a write's caller: their session `cs`, joined to their user
/// `c`, so that the read a write makes anyway also checks the token's
/// session (see `sessions`). Pair with `caller_is!`.
macro_rules! caller_from {
    () => {
        "sessions cs JOIN users c ON c.id = cs.user_id"
    };
}

/// The condition naming the caller's session: its id, then its user's, as
/// parameters.
macro_rules! caller_is {
    () => {
        "cs.id = ? AND cs.user_id = ?"
    };
}

/// The caller's columns, from `c` (users), for the locking reads of writes.
macro_rules! caller_columns {
    () => {
        "c.id AS caller_id, c.username AS caller_username, \
         c.display_name AS caller_display_name, c.bio AS caller_bio"
    };
}

/// The author columns, from `a` (users), of every post and comment query.
macro_rules! author_columns {
    () => {
        "a.id AS author_id, a.username AS author_username, \
         a.display_name AS author_display_name"
    };
}

/// The comment count of the post whose id is the SQL expression `$post`:
/// the sum of its `post_counters` slots (see `counters`). CAST, because
/// MariaDB's SUM is a DECIMAL, which Spin cannot read.
macro_rules! comment_count {
    ($post:literal) => {
        concat!(
            "(SELECT CAST(COALESCE(SUM(n.comments), 0) AS SIGNED) FROM post_counters n \
             WHERE n.post_id = ",
            $post,
            ")"
        )
    };
}

/// One row, `total`: the global post count, summed from its slots.
macro_rules! posts_total {
    () => {
        "SELECT CAST(COALESCE(SUM(value), 0) AS SIGNED) AS total FROM counters \
         WHERE name = 'posts'"
    };
}

pub mod comments;
pub mod counters;
pub mod idempotency;
pub mod posts;
pub mod sessions;
pub mod settings;
pub mod users;

use crate::db::{Db, DbError, Row, Rows};
use crate::error::Error;
use crate::paging::PAGE_SIZE;
use crate::snowflake::{Id, IdKind, NodeId};

/// One page of a list: the items and the list's total, or `None` when the
/// list's owner (a user, a post) does not exist.
#[derive(Debug)]
pub struct Listing<T> {
    /// The total, if the owner exists.
    pub total: Option<i64>,
    /// The items, newest first.
    pub items: Vec<T>,
}

/// Items a `?page=` query asks for, as the SQL parameter.
pub const PAGE_LIMIT: i64 = PAGE_SIZE as i64;

/// Items a keyset query asks for: a page and one more, to tell whether
/// another page follows.
pub const KEYSET_LIMIT: i64 = PAGE_LIMIT + 1;

const PING: &str = "SELECT 1 AS ok";

/// Asks the database for an answer, any answer: whether it is reachable
/// (readiness).
pub fn ping(db: &dyn Db) -> Result<(), Error> {
    db.query(PING, &[])?;
    Ok(())
}

/// The newest id in a table, from `sql` (`SELECT MAX(id) AS newest FROM
/// …`), which new ids must not fall below even if this node's clock does.
pub(crate) fn newest(db: &dyn Db, sql: &str) -> Result<Option<Id>, Error> {
    let rows = db.query(sql, &[])?;
    Ok(rows
        .first()
        .map(|row| row.get::<Option<Id>>("newest"))
        .transpose()?
        .flatten())
}

/// How many ids one insert may try before giving up. With 4096 random
/// sequence values per node and millisecond, needing more than a couple means
/// something else is wrong.
const MAX_ID_ATTEMPTS: usize = 8;

/// Runs `insert` with fresh ids until it succeeds, retrying only when the id
/// itself collided (a duplicate on the `PRIMARY` key). Any other error,
/// including a duplicate on another unique key, is returned as it is.
pub(crate) fn insert_with_fresh_id<T>(
    node: NodeId,
    kind: IdKind,
    newest: Option<Id>,
    mut insert: impl FnMut(Id) -> Result<T, DbError>,
) -> Result<T, Error> {
    for _ in 0..MAX_ID_ATTEMPTS {
        let id = Id::generate(node, kind, newest)?;
        match insert(id) {
            Err(DbError::Duplicate { ref key, .. }) if key == "PRIMARY" => continue,
            result => return result.map_err(Error::from),
        }
    }
    Err(Error::internal(anyhow::anyhow!(
        "no free id after {MAX_ID_ATTEMPTS} attempts on node {}",
        node.get()
    )))
}

/// Rows one sweep of expired rows deletes at most, per table: small enough
/// that the statement never nears its time limit, however much has piled
/// up (the next sweep takes the next batch).
pub const SWEEP_BATCH: i64 = 200;

/// Deletes up to [`SWEEP_BATCH`] rows whose expiry is before `cutoff`, with
/// the statement of the connection's dialect: MariaDB's `DELETE … ORDER BY
/// … LIMIT`, or for SQLite (whose `DELETE` takes no `LIMIT` as built) the
/// same rows by `rowid`.
pub(crate) fn sweep(db: &dyn Db, mysql: &str, sqlite: &str, cutoff: i64) -> Result<(), Error> {
    let sql = match db.dialect() {
        crate::db::Dialect::MySql => mysql,
        crate::db::Dialect::Sqlite => sqlite,
    };
    db.execute(sql, &[cutoff.into(), SWEEP_BATCH.into()])?;
    Ok(())
}

/// A position in a table walked in id order, for the sitemap: rows after
/// `after`, at most `limit` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    /// Rows with an id above this one (`None`: from the start).
    pub after: Option<Id>,
    /// How many.
    pub limit: usize,
}

impl Walk {
    /// The parameters of a `WHERE id > ? ORDER BY id LIMIT ?` query.
    pub(crate) fn params(self) -> [crate::db::Param; 2] {
        let after = self.after.map_or(-1, Id::as_i64);
        let limit = i64::try_from(self.limit).unwrap_or(i64::MAX);
        [after.into(), limit.into()]
    }
}

/// The ids that end each run of `per_part` rows of a table, walking in id
/// order, by `anchor` (`SELECT id … WHERE id > ? ORDER BY id LIMIT 1 OFFSET
/// ?`): each query reads at most one run of an index, never the table.
/// Part `n + 1` starts after the `n`th of them.
pub(crate) fn part_ends(db: &dyn Db, anchor: &str, per_part: usize) -> Result<Vec<Id>, Error> {
    let step = i64::try_from(per_part.saturating_sub(1)).unwrap_or(i64::MAX);
    let mut ends = Vec::new();
    let mut after: i64 = -1;
    loop {
        let rows = db.query(anchor, &[after.into(), step.into()])?;
        let Some(row) = rows.first() else {
            return Ok(ends);
        };
        let end: Id = row.get("id")?;
        after = end.as_i64();
        ends.push(end);
    }
}

/// How many rows `count` (`SELECT COUNT(*) AS n FROM (SELECT id … LIMIT ?)
/// t`) finds, counting no further than `cap`.
pub(crate) fn count_up_to(db: &dyn Db, count: &str, cap: usize) -> Result<usize, Error> {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let rows = db.query(count, &[cap.into()])?;
    let n: i64 = rows
        .first()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("a count has no row")))?
        .get("n")?;
    Ok(usize::try_from(n).unwrap_or_default())
}

/// The row offset of 1-based `page`.
pub(crate) fn offset(page: u32) -> i64 {
    (i64::from(page) - 1) * PAGE_LIMIT
}

/// Decodes a listing: every row carries `total` (the owner's count) and at
/// most one item. No row means no owner; an item that `decode` reads as
/// `None` is the all-NULL row a LEFT JOIN gives for an empty page.
pub(crate) fn decode_listing<T>(
    rows: &Rows,
    decode: impl Fn(Row<'_>) -> Result<Option<T>, DbError>,
    id: impl Fn(&T) -> Id,
) -> Result<Listing<T>, DbError> {
    let Some(first) = rows.first() else {
        return Ok(Listing {
            total: None,
            items: Vec::new(),
        });
    };
    let total = first.get("total")?;
    let mut items: Vec<T> = rows
        .iter()
        .map(decode)
        .filter_map(Result::transpose)
        .collect::<Result<_, _>>()?;
    // A derived table's order is not guaranteed; sorting ten rows here keeps
    // the database free of a sort.
    items.sort_unstable_by_key(|item| std::cmp::Reverse(id(item)));
    Ok(Listing {
        total: Some(total),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::testing::node;

    #[test]
    fn a_primary_key_collision_is_retried_with_a_new_id() {
        let mut seen = Vec::new();
        let result = insert_with_fresh_id(node(3), IdKind::Post, None, |id| {
            seen.push(id);
            if seen.len() < 3 {
                Err(DbError::Duplicate {
                    key: "PRIMARY".into(),
                    message: "Duplicate entry".into(),
                })
            } else {
                Ok(id)
            }
        });
        assert_eq!(result.ok(), seen.last().copied());
        assert_eq!(seen.len(), 3);
    }

    /// Inserts that always collide on `key`: what came of them, and how
    /// many ids were tried.
    fn always_colliding_on(key: &str) -> (Result<(), Error>, usize) {
        let mut attempts = 0;
        let result = insert_with_fresh_id(node(3), IdKind::Post, None, |_| {
            attempts += 1;
            Err(DbError::Duplicate {
                key: key.into(),
                message: "Duplicate entry".into(),
            })
        });
        (result, attempts)
    }

    #[test]
    fn a_collision_on_another_key_is_not_retried() {
        let (result, attempts) = always_colliding_on("username");
        assert!(result.is_err());
        assert_eq!(attempts, 1);
    }

    #[test]
    fn endless_collisions_give_up_with_an_internal_error() {
        let (result, attempts) = always_colliding_on("PRIMARY");
        assert!(matches!(result, Err(Error::Internal(_))));
        assert_eq!(attempts, MAX_ID_ATTEMPTS);
    }
}
