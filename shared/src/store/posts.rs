//! The `posts` table, and the totals kept for its lists.
//!
//! Every read is one statement: the page, its total, each post's author
//! and comment count together. Totals come from counters that writes keep
//! in the same transaction, never from counting rows: the global count in
//! 16 `counters` slots and a post's comments in its `post_counters` slots
//! (see [`super::counters`]), a user's posts in `users.post_count`.

use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError, Dialect, OnConstraint, Param, Row};
use crate::error::Error;
use crate::model::{Description, MarkdownUrl, SearchQuery, Title};
use crate::snowflake::{Id, IdKind, NodeId};
use crate::store::sessions::Session;
use crate::store::users::{self, User};
use crate::store::{
    KEYSET_LIMIT, Listing, PAGE_LIMIT, Walk, count_up_to, counters, decode_listing,
    insert_with_fresh_id, offset, part_ends,
};

/// A post's author, as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The user id.
    pub id: Id,
    /// The username.
    pub username: String,
    /// The display name.
    pub display_name: String,
}

impl From<&User> for Author {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
        }
    }
}

/// A post as stored, with its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// Snowflake id; its time part is the creation time.
    pub id: Id,
    /// Who wrote it.
    pub author: Author,
    /// 1–200 characters.
    pub title: String,
    /// 0–5000 characters.
    pub description: String,
    /// The write-up.
    pub markdown_url: String,
    /// Comments on it, kept by comment writes.
    pub comment_count: i64,
    /// Last edit of the post's own fields, Unix ms.
    pub updated_at: i64,
}

pub(crate) fn decode_author(row: Row<'_>) -> Result<Author, DbError> {
    Ok(Author {
        id: row.get("author_id")?,
        username: row.get("author_username")?,
        display_name: row.get("author_display_name")?,
    })
}

/// Decodes a post row, or `None` for the all-NULL row a LEFT JOIN gives
/// when the page is empty.
fn decode_post(row: Row<'_>) -> Result<Option<Post>, DbError> {
    let Some(id) = row.get::<Option<Id>>("id")? else {
        return Ok(None);
    };
    Ok(Some(Post {
        id,
        author: decode_author(row)?,
        title: row.get("title")?,
        description: row.get("description")?,
        markdown_url: row.get("markdown_url")?,
        comment_count: row.get("comment_count")?,
        updated_at: row.get("updated_at")?,
    }))
}

/// The post columns every post query selects, from `p` (posts) and `a`
/// (its author), with the comment count summed from the post's slots.
macro_rules! post_columns {
    () => {
        concat!(
            "p.id AS id, p.title AS title, p.description AS description, \
             p.markdown_url AS markdown_url, p.updated_at AS updated_at, ",
            comment_count!("p.id"),
            " AS comment_count, ",
            author_columns!()
        )
    };
}

/// All posts, newest first, that the inner query's `$slice` (its WHERE,
/// ORDER and LIMIT) selects, with the total summed from the counter slots
/// (one row however many posts there are), so that a page past the end
/// still has its total.
macro_rules! all_posts {
    ($slice:literal) => {
        concat!(
            "SELECT t.total AS total, ",
            post_columns!(),
            " FROM (",
            posts_total!(),
            ") t \
             LEFT JOIN (SELECT id, author_id, title, description, markdown_url, updated_at \
                        FROM posts ",
            $slice,
            ") p ON TRUE \
             LEFT JOIN users a ON a.id = p.author_id"
        )
    };
}

/// One user's posts that `$slice` selects, with the user's total; no row
/// if there is no such user.
macro_rules! posts_by_author {
    ($slice:literal) => {
        concat!(
            "SELECT a.post_count AS total, ",
            post_columns!(),
            " FROM users a \
             LEFT JOIN (SELECT id, title, description, markdown_url, updated_at FROM posts ",
            $slice,
            ") p ON TRUE WHERE a.id = ?"
        )
    };
}

/// Page `?` of all posts.
pub const PAGE_ALL: &str = all_posts!("ORDER BY id DESC LIMIT ? OFFSET ?");

/// All posts older than `?`, shaped like [`PAGE_ALL`], so every list query
/// decodes alike.
pub const BEFORE_ALL: &str = all_posts!("WHERE id < ? ORDER BY id DESC LIMIT ?");

/// Page `?` of one user's posts.
pub const PAGE_BY_AUTHOR: &str =
    posts_by_author!("WHERE author_id = ? ORDER BY id DESC LIMIT ? OFFSET ?");

/// One user's posts older than `?`.
pub const BEFORE_BY_AUTHOR: &str =
    posts_by_author!("WHERE author_id = ? AND id < ? ORDER BY id DESC LIMIT ?");

/// The 11th post newer than `?` (oldest first), if there is one: the
/// `?before=` start of the page just newer than that post. None means the
/// newer page is the newest.
pub const NEWER_ANCHOR_ALL: &str = "SELECT id FROM posts WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?";

/// [`NEWER_ANCHOR_ALL`] among one user's posts.
pub const NEWER_ANCHOR_BY_AUTHOR: &str =
    "SELECT id FROM posts WHERE author_id = ? AND id > ? ORDER BY id LIMIT 1 OFFSET ?";

const FIND: &str = concat!(
    "SELECT ",
    post_columns!(),
    " FROM posts p JOIN users a ON a.id = p.author_id WHERE p.id = ?"
);

/// The listing `sql` gives with `params`.
fn listing(db: &dyn Db, sql: &str, params: &[Param]) -> Result<Listing<Post>, Error> {
    Ok(decode_listing(&db.query(sql, params)?, decode_post, |p| {
        p.id
    })?)
}

/// Page `page` of all posts.
pub fn page(db: &dyn Db, page: u32) -> Result<Listing<Post>, Error> {
    listing(db, PAGE_ALL, &[PAGE_LIMIT.into(), offset(page).into()])
}

/// Up to a page and one more of all posts older than `before`.
pub fn before(db: &dyn Db, before: Id) -> Result<Listing<Post>, Error> {
    listing(db, BEFORE_ALL, &[before.into(), KEYSET_LIMIT.into()])
}

/// Page `page` of `author`'s posts.
pub fn page_by_author(db: &dyn Db, author: Id, page: u32) -> Result<Listing<Post>, Error> {
    let (limit, offset) = (PAGE_LIMIT.into(), offset(page).into());
    listing(
        db,
        PAGE_BY_AUTHOR,
        &[author.into(), limit, offset, author.into()],
    )
}

/// Up to a page and one more of `author`'s posts older than `before`.
pub fn before_by_author(db: &dyn Db, author: Id, before: Id) -> Result<Listing<Post>, Error> {
    let (before, limit) = (before.into(), KEYSET_LIMIT.into());
    listing(
        db,
        BEFORE_BY_AUTHOR,
        &[author.into(), before, limit, author.into()],
    )
}

/// Where the page of posts just newer than `after` starts, as a `before`
/// id; `None` if that page is the newest.
pub fn newer_anchor(db: &dyn Db, after: Id) -> Result<Option<Id>, Error> {
    let rows = db.query(NEWER_ANCHOR_ALL, &[after.into(), PAGE_LIMIT.into()])?;
    Ok(rows.first().map(|row| row.get("id")).transpose()?)
}

/// [`newer_anchor`] among `author`'s posts.
pub fn newer_anchor_by_author(db: &dyn Db, author: Id, after: Id) -> Result<Option<Id>, Error> {
    let rows = db.query(
        NEWER_ANCHOR_BY_AUTHOR,
        &[author.into(), after.into(), PAGE_LIMIT.into()],
    )?;
    Ok(rows.first().map(|row| row.get("id")).transpose()?)
}

/// The post with `id`, if any.
pub fn find(db: &dyn Db, id: Id) -> Result<Option<Post>, Error> {
    let rows = db.query(FIND, &[id.into()])?;
    Ok(rows.first().map(decode_post).transpose()?.flatten())
}

/// Page `?` of the posts that match a search, best match first: MariaDB's
/// FULLTEXT indexes in boolean mode (each word as a prefix, any word
/// matching), a match in the title counting twice. The total is the
/// number of matches; the page is shaped like every list, with `score`.
pub const SEARCH_MYSQL: &str = concat!(
    "SELECT t.total AS total, p.score AS score, ",
    post_columns!(),
    " FROM (SELECT COUNT(*) AS total FROM posts \
             WHERE MATCH (title, description) AGAINST (? IN BOOLEAN MODE)) t \
     LEFT JOIN (SELECT id, author_id, title, description, markdown_url, updated_at, \
                       MATCH (title) AGAINST (? IN BOOLEAN MODE) * 2 \
                       + MATCH (title, description) AGAINST (? IN BOOLEAN MODE) AS score \
                FROM posts WHERE MATCH (title, description) AGAINST (? IN BOOLEAN MODE) \
                ORDER BY score DESC, id DESC LIMIT ? OFFSET ?) p ON TRUE \
     LEFT JOIN users a ON a.id = p.author_id"
);

/// [`SEARCH_MYSQL`] on SQLite's FTS5 index `posts_search`: BM25, with a
/// match in the title weighing three times one in the description.
pub const SEARCH_SQLITE: &str = concat!(
    "SELECT t.total AS total, s.score AS score, ",
    post_columns!(),
    " FROM (SELECT COUNT(*) AS total FROM posts_search WHERE posts_search MATCH ?) t \
     LEFT JOIN (SELECT rowid AS id, -bm25(posts_search, 3.0, 1.0) AS score \
                FROM posts_search WHERE posts_search MATCH ? \
                ORDER BY score DESC, rowid DESC LIMIT ? OFFSET ?) s ON TRUE \
     LEFT JOIN posts p ON p.id = s.id \
     LEFT JOIN users a ON a.id = p.author_id"
);

/// Page `page` of the posts matching `query`, best match first (newest
/// first among equals), with the number of matches.
pub fn search(db: &dyn Db, query: &SearchQuery, page: u32) -> Result<Listing<Post>, Error> {
    let (limit, offset) = (PAGE_LIMIT.into(), offset(page).into());
    // Each word as a prefix, any word matching, in each engine's syntax.
    let expression = |word: fn(&str) -> String, or: &str| {
        let words: Vec<String> = query.terms().iter().map(|term| word(term)).collect();
        Param::from(words.join(or).as_str())
    };
    let rows = match db.dialect() {
        Dialect::MySql => {
            let text = expression(|term| format!("{term}*"), " ");
            let params = [
                text.clone(),
                text.clone(),
                text.clone(),
                text,
                limit,
                offset,
            ];
            db.query(SEARCH_MYSQL, &params)?
        }
        Dialect::Sqlite => {
            let text = expression(|term| format!("\"{term}\"*"), " OR ");
            db.query(SEARCH_SQLITE, &[text.clone(), text, limit, offset])?
        }
    };
    let Some(first) = rows.first() else {
        return Err(Error::internal(anyhow::anyhow!(
            "the search total has no row"
        )));
    };
    let total = first.get("total")?;
    let mut ranked = Vec::new();
    for row in rows.iter() {
        if let Some(post) = decode_post(row)? {
            ranked.push((row.get::<f64>("score")?, post));
        }
    }
    // A derived table's order is not kept by the joins around it.
    ranked.sort_by(|(a, p), (b, q)| b.total_cmp(a).then(q.id.cmp(&p.id)));
    Ok(Listing {
        total: Some(total),
        items: ranked.into_iter().map(|(_, post)| post).collect(),
    })
}

/// The newest `count` posts, for the site's feed.
pub fn newest(db: &dyn Db, count: i64) -> Result<Listing<Post>, Error> {
    listing(db, BEFORE_ALL, &[Id::MAX.into(), count.into()])
}

/// The newest `count` of `author`'s posts, for their feed; no total if
/// there is no such user.
pub fn newest_by_author(db: &dyn Db, author: Id, count: i64) -> Result<Listing<Post>, Error> {
    listing(
        db,
        BEFORE_BY_AUTHOR,
        &[author.into(), Id::MAX.into(), count.into(), author.into()],
    )
}

/// A post as the sitemap lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The post's id.
    pub id: Id,
    /// Its last edit, Unix ms.
    pub updated_at: i64,
}

/// Posts in id order from a [`Walk`].
pub const WALK: &str = "SELECT id, updated_at FROM posts WHERE id > ? ORDER BY id LIMIT ?";
/// The post `?` rows after post `?`, in id order: where a sitemap part ends.
pub const PART_END: &str = "SELECT id FROM posts WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?";
/// How many posts there are, up to `?`.
pub const COUNT_UP_TO: &str = "SELECT COUNT(*) AS n FROM (SELECT id FROM posts LIMIT ?) t";

/// The posts `walk` selects, in id order.
pub fn walk(db: &dyn Db, walk: Walk) -> Result<Vec<Listed>, Error> {
    Ok(db.query(WALK, &walk.params())?.decode_all(|row| {
        Ok(Listed {
            id: row.get("id")?,
            updated_at: row.get("updated_at")?,
        })
    })?)
}

/// The last post of each run of `per_part` posts, in id order.
pub fn part_ends_every(db: &dyn Db, per_part: usize) -> Result<Vec<Id>, Error> {
    part_ends(db, PART_END, per_part)
}

/// How many posts there are, counting no further than `cap`.
pub fn count_capped(db: &dyn Db, cap: usize) -> Result<usize, Error> {
    count_up_to(db, COUNT_UP_TO, cap)
}

/// What a write needs to decide: whether the caller still exists, and the
/// post with its author.
#[derive(Debug)]
pub struct PostForCaller {
    /// The caller, if their account still exists.
    pub caller: Option<User>,
    /// The post, if it exists.
    pub post: Option<Post>,
}

const FOR_CALLER: &str = concat!(
    "SELECT ",
    caller_columns!(),
    ", ",
    post_columns!(),
    " FROM ",
    caller_from!(),
    " LEFT JOIN posts p ON p.id = ? \
     LEFT JOIN users a ON a.id = p.author_id \
     WHERE ",
    caller_is!()
);

/// Reads (without locking) the caller, if their session still exists, and
/// post `id` in one statement, to decide whether the caller may write it.
pub fn for_caller(db: &dyn Db, id: Id, caller: &Session) -> Result<PostForCaller, Error> {
    let rows = db.query(
        FOR_CALLER,
        &[id.into(), caller.id.into(), caller.user.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(PostForCaller {
            caller: None,
            post: None,
        });
    };
    Ok(PostForCaller {
        caller: Some(users::decode_caller(row)?),
        post: decode_post(row)?,
    })
}

const LOCK: &str = "SELECT id FROM posts WHERE id = ?";

/// Locks post `id` until the transaction ends (its row alone, found by
/// primary key); false if it is gone. Call only after the caller has been
/// authorised with a plain read, so that nobody can lock rows they may not
/// write.
pub fn lock(db: &dyn Db, id: Id) -> Result<bool, Error> {
    Ok(!db.query_locked(LOCK, &[id.into()])?.is_empty())
}

const INSERT: &str = "INSERT INTO posts \
     (id, author_id, title, description, markdown_url, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?)";
const COUNT_AUTHOR_POST: &str = "UPDATE users SET post_count = post_count + ? WHERE id = ?";
const NEWEST: &str = "SELECT MAX(id) AS newest FROM posts";

/// The fields of a new post.
#[derive(Debug)]
pub struct NewPost {
    /// The title.
    pub title: Title,
    /// The description.
    pub description: Description,
    /// The write-up's URL.
    pub markdown_url: MarkdownUrl,
}

/// Creates a post by `author` and counts it. Call inside a transaction.
/// The author's row is updated first, so the insert's foreign-key check
/// finds it already locked by this transaction (a shared lock taken first
/// and upgraded later could deadlock with the author's other posts).
pub fn insert(db: &dyn Db, node: NodeId, author: &User, post: &NewPost) -> Result<Post, Error> {
    db.execute(COUNT_AUTHOR_POST, &[1_i64.into(), author.id.into()])?;
    let newest = super::newest(db, NEWEST)?;
    let id = insert_with_fresh_id(node, IdKind::Post, newest, |id| {
        db.execute(
            INSERT,
            &[
                id.into(),
                author.id.into(),
                post.title.as_str().into(),
                post.description.as_str().into(),
                post.markdown_url.as_str().into(),
                id.unix_ms().into(),
            ],
        )
        .map(|()| id)
    })
    .on_foreign_key("posts_author", Error::caller_gone)?;
    counters::add_post(db, 1)?;
    Ok(Post {
        id,
        author: author.into(),
        title: post.title.as_str().to_owned(),
        description: post.description.as_str().to_owned(),
        markdown_url: post.markdown_url.as_str().to_owned(),
        comment_count: 0,
        updated_at: id.unix_ms(),
    })
}

/// Changes to a post; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct PostChanges {
    /// A new title.
    pub title: Option<Title>,
    /// A new description.
    pub description: Option<Description>,
    /// A new write-up URL.
    pub markdown_url: Option<MarkdownUrl>,
}

impl PostChanges {
    fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.markdown_url.is_none()
    }
}

const UPDATE: &str = "UPDATE posts SET title = COALESCE(?, title), \
     description = COALESCE(?, description), markdown_url = COALESCE(?, markdown_url), \
     updated_at = ? WHERE id = ?";

/// Applies `changes` to a locked `post` at `now` (Unix ms) and returns the
/// result. No changes, no write: `updated_at` stays.
pub fn update(db: &dyn Db, post: Post, changes: &PostChanges, now: i64) -> Result<Post, Error> {
    if changes.is_empty() {
        return Ok(post);
    }
    // Never before the last edit, even if this pod's clock is behind.
    let updated_at = now.max(post.updated_at);
    db.execute(
        UPDATE,
        &[
            changes.title.as_ref().map(Title::as_str).into(),
            changes.description.as_ref().map(Description::as_str).into(),
            changes
                .markdown_url
                .as_ref()
                .map(MarkdownUrl::as_str)
                .into(),
            updated_at.into(),
            post.id.into(),
        ],
    )?;
    Ok(Post {
        title: changes
            .title
            .as_ref()
            .map_or(post.title, |t| t.as_str().to_owned()),
        description: changes
            .description
            .as_ref()
            .map_or(post.description, |d| d.as_str().to_owned()),
        markdown_url: changes
            .markdown_url
            .as_ref()
            .map_or(post.markdown_url, |u| u.as_str().to_owned()),
        updated_at,
        ..post
    })
}

impl From<NewPost> for PostChanges {
    /// An edit that sets every field, as the website's form does.
    fn from(post: NewPost) -> Self {
        Self {
            title: Some(post.title),
            description: Some(post.description),
            markdown_url: Some(post.markdown_url),
        }
    }
}

const DELETE: &str = "DELETE FROM posts WHERE id = ?";

/// Deletes a locked post (its comments and comment counters go with it, by
/// the foreign keys' cascade) and uncounts it. Call inside a transaction.
pub fn delete(db: &dyn Db, post: &Post) -> Result<(), Error> {
    db.execute(DELETE, &[post.id.into()])?;
    db.execute(COUNT_AUTHOR_POST, &[(-1_i64).into(), post.author.id.into()])?;
    counters::add_post(db, -1)
}

const AUTHOR_OF: &str = "SELECT author_id FROM posts WHERE id = ?";

/// The author of post `id`, if it exists.
pub fn author_of(db: &dyn Db, id: Id) -> Result<Option<Id>, Error> {
    let rows = db.query(AUTHOR_OF, &[id.into()])?;
    Ok(rows.first().map(|row| row.get("author_id")).transpose()?)
}
