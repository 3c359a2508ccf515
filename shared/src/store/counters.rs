//! Counters spread over slot rows, so that no single row is a queue that
//! every write joins: the global post count (16 slots in `counters`) and
//! each post's comment count (up to 8 slots in `post_counters`). A write
//! adds to one slot at random; a read sums the slots. Concurrent writes
//! then mostly touch different rows, and only collide when they pick the
//! same slot.

use crate::db::{Db, Dialect};
use crate::error::Error;
use crate::snowflake::Id;

/// Slots of the global post count (`migrations/0005_counter_slots.up.sql`
/// and the SQLite schema create exactly these).
const POST_SLOTS: u32 = 16;
/// Slots of a post's comment count.
const COMMENT_SLOTS: u32 = 8;

/// A random slot below `slots`.
fn slot(slots: u32) -> Result<i64, Error> {
    let random = getrandom::u32()
        .map_err(|e| Error::internal(anyhow::anyhow!("no randomness for a slot: {e}")))?;
    Ok(i64::from(random % slots))
}

const ADD_POSTS: &str = "UPDATE counters SET value = value + ? WHERE name = 'posts' AND slot = ?";

/// Adds `delta` to the global post count. Call inside the transaction that
/// creates or deletes the post.
pub fn add_post(db: &dyn Db, delta: i64) -> Result<(), Error> {
    db.execute(ADD_POSTS, &[delta.into(), slot(POST_SLOTS)?.into()])?;
    Ok(())
}

/// Creates the slot row on first use: an upsert, whose text is the one
/// thing the two dialects spell differently here.
const ADD_COMMENTS_MYSQL: &str = "INSERT INTO post_counters (post_id, slot, comments) \
     VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE comments = comments + VALUES(comments)";
const ADD_COMMENTS_SQLITE: &str = "INSERT INTO post_counters (post_id, slot, comments) \
     VALUES (?, ?, ?) ON CONFLICT (post_id, slot) DO UPDATE SET comments = comments + excluded.comments";

/// Adds `delta` to `post`'s comment count. Call inside the transaction that
/// creates or deletes the comment, last, so the slot's lock is held for as
/// short a time as possible.
pub fn add_comment(db: &dyn Db, post: Id, delta: i64) -> Result<(), Error> {
    let sql = match db.dialect() {
        Dialect::MySql => ADD_COMMENTS_MYSQL,
        Dialect::Sqlite => ADD_COMMENTS_SQLITE,
    };
    db.execute(
        sql,
        &[post.into(), slot(COMMENT_SLOTS)?.into(), delta.into()],
    )?;
    Ok(())
}
