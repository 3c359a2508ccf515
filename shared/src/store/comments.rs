//! The `comments` table. A post's comment count is kept by every comment
//! write, in the same transaction, in the post's counter slots.
//!
//! Writes authorise with plain reads, then lock only the row they write: a
//! caller cannot lock rows (or, under REPEATABLE READ, gaps) by naming ids,
//! and no user row is locked, so two users deleting each other's comments
//! cannot deadlock.

use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError, Dialect, OnConstraint, Param, Row};
use crate::error::Error;
use crate::model::CommentBody;
use crate::snowflake::{Id, IdKind, NodeId};
use crate::store::posts::{Author, decode_author};
use crate::store::sessions::Session;
use crate::store::users::{self, User};
use crate::store::{
    KEYSET_LIMIT, Listing, PAGE_LIMIT, counters, decode_listing, insert_with_fresh_id, offset,
};

/// A comment as stored, with its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Snowflake id; its time part is the creation time.
    pub id: Id,
    /// The post it is on.
    pub post_id: Id,
    /// Who wrote it.
    pub author: Author,
    /// 1–5000 characters.
    pub body: String,
    /// Last edit, Unix ms.
    pub updated_at: i64,
}

/// Decodes a comment row, or `None` for the all-NULL row a LEFT JOIN gives.
fn decode_comment(row: Row<'_>) -> Result<Option<Comment>, DbError> {
    let Some(id) = row.get::<Option<Id>>("id")? else {
        return Ok(None);
    };
    Ok(Some(Comment {
        id,
        post_id: row.get("post_id")?,
        author: decode_author(row)?,
        body: row.get("body")?,
        updated_at: row.get("updated_at")?,
    }))
}

/// The comment columns, from `m` (comments) and `a` (its author).
macro_rules! comment_columns {
    () => {
        concat!(
            "m.id AS id, m.post_id AS post_id, m.body AS body, m.updated_at AS updated_at, ",
            author_columns!()
        )
    };
}

/// A post's comments that the inner query's `$slice` (its WHERE, ORDER and
/// LIMIT) selects, with the post's total; no row if there is no such post.
macro_rules! comments_for_post {
    ($slice:literal) => {
        concat!(
            "SELECT ",
            comment_count!("p.id"),
            " AS total, ",
            comment_columns!(),
            " FROM posts p \
             LEFT JOIN (SELECT id, post_id, author_id, body, updated_at FROM comments ",
            $slice,
            ") m ON TRUE \
             LEFT JOIN users a ON a.id = m.author_id \
             WHERE p.id = ?"
        )
    };
}

/// Page `?` of a post's comments.
pub const PAGE_FOR_POST: &str =
    comments_for_post!("WHERE post_id = ? ORDER BY id DESC LIMIT ? OFFSET ?");

/// A post's comments older than `?`.
pub const BEFORE_FOR_POST: &str =
    comments_for_post!("WHERE post_id = ? AND id < ? ORDER BY id DESC LIMIT ?");

/// The listing `sql` gives with `params`.
fn listing(db: &dyn Db, sql: &str, params: &[Param]) -> Result<Listing<Comment>, Error> {
    Ok(decode_listing(
        &db.query(sql, params)?,
        decode_comment,
        |c| c.id,
    )?)
}

/// Page `page` of `post`'s comments.
pub fn page(db: &dyn Db, post: Id, page: u32) -> Result<Listing<Comment>, Error> {
    let (limit, offset) = (PAGE_LIMIT.into(), offset(page).into());
    listing(
        db,
        PAGE_FOR_POST,
        &[post.into(), limit, offset, post.into()],
    )
}

/// Up to a page and one more of `post`'s comments older than `before`.
pub fn before(db: &dyn Db, post: Id, before: Id) -> Result<Listing<Comment>, Error> {
    let (before, limit) = (before.into(), KEYSET_LIMIT.into());
    listing(
        db,
        BEFORE_FOR_POST,
        &[post.into(), before, limit, post.into()],
    )
}

/// [`crate::store::posts::NEWER_ANCHOR_ALL`] among a post's comments.
pub const NEWER_ANCHOR_FOR_POST: &str =
    "SELECT id FROM comments WHERE post_id = ? AND id > ? ORDER BY id LIMIT 1 OFFSET ?";

/// Where the page of `post`'s comments just newer than `after` starts, as a
/// `before` id; `None` if that page is the newest.
pub fn newer_anchor(db: &dyn Db, post: Id, after: Id) -> Result<Option<Id>, Error> {
    let rows = db.query(
        NEWER_ANCHOR_FOR_POST,
        &[post.into(), after.into(), PAGE_LIMIT.into()],
    )?;
    Ok(rows.first().map(|row| row.get("id")).transpose()?)
}

const FIND: &str = concat!(
    "SELECT ",
    comment_columns!(),
    " FROM comments m JOIN users a ON a.id = m.author_id WHERE m.id = ?"
);

/// The comment with `id`, if any.
pub fn find(db: &dyn Db, id: Id) -> Result<Option<Comment>, Error> {
    let rows = db.query(FIND, &[id.into()])?;
    Ok(rows.first().map(decode_comment).transpose()?.flatten())
}

/// The caller and whether the post exists, for a new comment.
#[derive(Debug)]
pub struct ForNewComment {
    /// The caller, if their account still exists.
    pub caller: Option<User>,
    /// The post's author, if the post exists.
    pub post_author: Option<Id>,
}

const CALLER_AND_POST: &str = concat!(
    "SELECT ",
    caller_columns!(),
    ", p.author_id AS post_author_id FROM ",
    caller_from!(),
    " LEFT JOIN posts p ON p.id = ? WHERE ",
    caller_is!()
);

/// Reads the caller (if their session still exists) and whether post
/// `post` exists, without locking: if
/// either vanishes before the comment is in, the insert's foreign key
/// catches it.
pub fn for_new_comment(db: &dyn Db, post: Id, caller: &Session) -> Result<ForNewComment, Error> {
    let rows = db.query(
        CALLER_AND_POST,
        &[post.into(), caller.id.into(), caller.user.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(ForNewComment {
            caller: None,
            post_author: None,
        });
    };
    Ok(ForNewComment {
        caller: Some(users::decode_caller(row)?),
        post_author: row.get("post_author_id")?,
    })
}

const INSERT: &str =
    "INSERT INTO comments (id, post_id, author_id, body, updated_at) VALUES (?, ?, ?, ?, ?)";
const NEWEST: &str = "SELECT MAX(id) AS newest FROM comments";

/// Creates a comment on `post` and counts it. Call inside a transaction,
/// after [`for_new_comment`]. The insert takes only a shared lock on the
/// post's row (its foreign key check), which other comments share.
pub fn insert(
    db: &dyn Db,
    node: NodeId,
    post: Id,
    author: &User,
    body: &CommentBody,
) -> Result<Comment, Error> {
    let newest = super::newest(db, NEWEST)?;
    let id = insert_with_fresh_id(node, IdKind::Comment, newest, |id| {
        db.execute(
            INSERT,
            &[
                id.into(),
                post.into(),
                author.id.into(),
                body.as_str().into(),
                id.unix_ms().into(),
            ],
        )
        .map(|()| id)
    })
    .on_foreign_key("comments_post", Error::no_such_post)
    .on_foreign_key("comments_author", Error::caller_gone)?;
    counters::add_comment(db, post, 1)?;
    Ok(Comment {
        id,
        post_id: post,
        author: author.into(),
        body: body.as_str().to_owned(),
        updated_at: id.unix_ms(),
    })
}

/// A comment, the author of its post, and the caller.
#[derive(Debug)]
pub struct CommentForCaller {
    /// The caller, if their account still exists.
    pub caller: Option<User>,
    /// The comment and its post's author, if the comment exists.
    pub comment: Option<(Comment, Id)>,
}

const FOR_CALLER: &str = concat!(
    "SELECT ",
    caller_columns!(),
    ", ",
    comment_columns!(),
    ", p.author_id AS post_author_id FROM ",
    caller_from!(),
    " LEFT JOIN comments m ON m.id = ? \
     LEFT JOIN users a ON a.id = m.author_id \
     LEFT JOIN posts p ON p.id = m.post_id \
     WHERE ",
    caller_is!()
);

/// Reads (without locking) the caller and comment `id` with its post's
/// author, in one statement, to decide whether the caller may write it.
pub fn for_caller(db: &dyn Db, id: Id, caller: &Session) -> Result<CommentForCaller, Error> {
    let rows = db.query(
        FOR_CALLER,
        &[id.into(), caller.id.into(), caller.user.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(CommentForCaller {
            caller: None,
            comment: None,
        });
    };
    let comment = match decode_comment(row)? {
        Some(comment) => Some((comment, row.get("post_author_id")?)),
        None => None,
    };
    Ok(CommentForCaller {
        caller: Some(users::decode_caller(row)?),
        comment,
    })
}

const LOCK: &str = "SELECT id FROM comments WHERE id = ?";

/// Locks comment `id` until the transaction ends (its row alone, by primary
/// key); false if it is gone. Call only once the caller is authorised.
pub fn lock(db: &dyn Db, id: Id) -> Result<bool, Error> {
    Ok(!db.query_locked(LOCK, &[id.into()])?.is_empty())
}

const UPDATE: &str = "UPDATE comments SET body = ?, updated_at = ? WHERE id = ?";

/// Replaces a locked comment's body at `now` (Unix ms).
pub fn update(
    db: &dyn Db,
    comment: Comment,
    body: &CommentBody,
    now: i64,
) -> Result<Comment, Error> {
    let updated_at = now.max(comment.updated_at);
    db.execute(
        UPDATE,
        &[body.as_str().into(), updated_at.into(), comment.id.into()],
    )?;
    Ok(Comment {
        body: body.as_str().to_owned(),
        updated_at,
        ..comment
    })
}

const DELETE: &str = "DELETE FROM comments WHERE id = ?";

/// Deletes a locked comment and uncounts it.
pub fn delete(db: &dyn Db, comment: &Comment) -> Result<(), Error> {
    db.execute(DELETE, &[comment.id.into()])?;
    counters::add_comment(db, comment.post_id, -1)
}

const BY_AUTHOR_BEFORE: &str = concat!(
    "SELECT ",
    comment_columns!(),
    " FROM comments m JOIN users a ON a.id = m.author_id \
     WHERE m.author_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?"
);

/// Up to [`KEYSET_LIMIT`] of `author`'s comments older than `before`, newest
/// first, on any post (an account's export).
pub fn by_author_before(db: &dyn Db, author: Id, before: Id) -> Result<Vec<Comment>, Error> {
    let rows = db.query(
        BY_AUTHOR_BEFORE,
        &[author.into(), before.into(), KEYSET_LIMIT.into()],
    )?;
    let comments: Vec<Option<Comment>> =
        rows.iter().map(decode_comment).collect::<Result<_, _>>()?;
    Ok(comments.into_iter().flatten().collect())
}

/// Comments a deletion batch takes at most (in one short transaction).
pub const DELETE_BATCH: i64 = 100;

const AUTHOR_BATCH: &str =
    "SELECT id, post_id FROM comments WHERE author_id = ? ORDER BY id LIMIT ?";

/// Deletes up to [`DELETE_BATCH`] of `author`'s comments, locked first so
/// that nobody else deletes them meanwhile, and uncounts them from their
/// posts. Returns the posts they were on (each once); none when the author
/// has no comments left. Call inside a transaction.
pub fn delete_batch_by_author(db: &dyn Db, author: Id) -> Result<Vec<Id>, Error> {
    let rows = db.query_locked(AUTHOR_BATCH, &[author.into(), DELETE_BATCH.into()])?;
    let mut per_post: Vec<(Id, i64)> = Vec::new();
    for row in rows.iter() {
        let (id, post): (Id, Id) = (row.get("id")?, row.get("post_id")?);
        db.execute(DELETE, &[id.into()])?;
        match per_post.iter_mut().find(|(p, _)| *p == post) {
            Some((_, n)) => *n += 1,
            None => per_post.push((post, 1)),
        }
    }
    for (post, n) in &per_post {
        counters::add_comment(db, *post, -n)?;
    }
    Ok(per_post.into_iter().map(|(post, _)| post).collect())
}

const ON_POST_BATCH_MYSQL: &str = "DELETE FROM comments WHERE post_id = ? ORDER BY id LIMIT ?";
const ON_POST_BATCH_SQLITE: &str = "DELETE FROM comments WHERE rowid IN \
     (SELECT rowid FROM comments WHERE post_id = ? ORDER BY id LIMIT ?)";
const ANY_ON_POST: &str = "SELECT id FROM comments WHERE post_id = ? LIMIT 1";

/// Deletes up to [`DELETE_BATCH`] comments on `post`, which is about to be
/// deleted itself (so its counters, which go with it, are left alone), and
/// says whether any remain. Call inside a transaction.
pub fn delete_batch_on_post(db: &dyn Db, post: Id) -> Result<bool, Error> {
    let sql = match db.dialect() {
        Dialect::MySql => ON_POST_BATCH_MYSQL,
        Dialect::Sqlite => ON_POST_BATCH_SQLITE,
    };
    db.execute(sql, &[post.into(), DELETE_BATCH.into()])?;
    Ok(!db.query(ANY_ON_POST, &[post.into()])?.is_empty())
}
