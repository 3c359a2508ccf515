//! The `users` table.

use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError, Dialect, OnConstraint, Row};
use crate::error::Error;
use crate::model::{Bio, DisplayName, Username};
use crate::snowflake::{Id, IdKind, NodeId};
use crate::store::{Walk, count_up_to, insert_with_fresh_id, newest, part_ends};

/// A user as stored, without the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Snowflake id; its time part is the creation time.
    pub id: Id,
    /// As given at signup.
    pub username: String,
    /// Free text, possibly empty.
    pub display_name: String,
    /// Free text, possibly empty.
    pub bio: String,
}

/// A user with the password hash, for login only.
#[derive(Debug)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// The bcrypt hash.
    pub password_hash: String,
}

pub(crate) fn decode_user(row: Row<'_>) -> Result<User, DbError> {
    Ok(User {
        id: row.get("id")?,
        username: row.get("username")?,
        display_name: row.get("display_name")?,
        bio: row.get("bio")?,
    })
}

const INSERT: &str = "INSERT INTO users \
     (id, username, username_key, password_hash, display_name, bio) VALUES (?, ?, ?, ?, ?, '')";

const NEWEST: &str = "SELECT MAX(id) AS newest FROM users";

/// Creates a user. A username already taken, in any spelling with the same
/// canonical form, is a 409.
pub fn insert(
    db: &dyn Db,
    node: NodeId,
    username: &Username,
    password_hash: &str,
    display_name: &DisplayName,
) -> Result<User, Error> {
    let newest = newest(db, NEWEST)?;
    insert_with_fresh_id(node, IdKind::User, newest, |id| {
        db.execute(
            INSERT,
            &[
                id.into(),
                username.as_str().into(),
                username.canonical().into(),
                password_hash.into(),
                display_name.as_str().into(),
            ],
        )
        .map(|()| id)
    })
    .map(|id| User {
        id,
        username: username.as_str().to_owned(),
        display_name: display_name.as_str().to_owned(),
        bio: String::new(),
    })
    .on_duplicate("username_key", username_taken)
}

/// 409: the name belongs to an account, or is reserved.
pub fn username_taken() -> Error {
    Error::Conflict("That username is taken.".into())
}

/// A user by id.
pub const FIND: &str = "SELECT id, username, display_name, bio FROM users WHERE id = ?";

/// The user with `id`, if any.
pub fn find(db: &dyn Db, id: Id) -> Result<Option<User>, Error> {
    let rows = db.query(FIND, &[id.into()])?;
    Ok(rows.first().map(decode_user).transpose()?)
}

const FIND_CREDENTIALS: &str =
    "SELECT id, username, display_name, bio, password_hash FROM users WHERE username_key = ?";

/// The user whose username has the canonical form `username`, with their
/// password hash, if any.
pub fn find_credentials(db: &dyn Db, username: &Username) -> Result<Option<Credentials>, Error> {
    let rows = db.query(FIND_CREDENTIALS, &[username.canonical().into()])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        user: decode_user(row)?,
        password_hash: row.get("password_hash")?,
    }))
}

/// Decodes the caller columns (`caller_columns!`) of a read made for a
/// write.
pub(crate) fn decode_caller(row: Row<'_>) -> Result<User, DbError> {
    Ok(User {
        id: row.get("caller_id")?,
        username: row.get("caller_username")?,
        display_name: row.get("caller_display_name")?,
        bio: row.get("caller_bio")?,
    })
}

const UPDATE_PROFILE: &str = "UPDATE users \
     SET display_name = COALESCE(?, display_name), bio = COALESCE(?, bio) \
     WHERE id = ?";

/// Changes the given profile fields of `user` and returns the result.
pub fn update_profile(
    db: &dyn Db,
    user: &User,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> Result<User, Error> {
    db.execute(
        UPDATE_PROFILE,
        &[
            display_name.map(DisplayName::as_str).into(),
            bio.map(Bio::as_str).into(),
            user.id.into(),
        ],
    )?;
    Ok(User {
        display_name: display_name
            .map_or_else(|| user.display_name.clone(), |d| d.as_str().to_owned()),
        bio: bio.map_or_else(|| user.bio.clone(), |b| b.as_str().to_owned()),
        ..user.clone()
    })
}

const UPDATE_PASSWORD: &str = "UPDATE users SET password_hash = ? WHERE id = ?";

/// Replaces `user`'s password hash.
pub fn update_password(db: &dyn Db, user: Id, password_hash: &str) -> Result<(), Error> {
    db.execute(UPDATE_PASSWORD, &[password_hash.into(), user.into()])?;
    Ok(())
}

const DELETE: &str = "DELETE FROM users WHERE id = ?";

/// Deletes `user`'s row (their sessions go with it). Their posts and
/// comments must already be gone: the foreign keys refuse otherwise.
pub fn delete(db: &dyn Db, user: Id) -> Result<(), Error> {
    db.execute(DELETE, &[user.into()])?;
    Ok(())
}

const RESERVED: &str =
    "SELECT reserved_until FROM reserved_usernames WHERE username_key = ? AND reserved_until > ?";

/// Whether `username`'s canonical form is reserved at `now` (Unix ms).
pub fn is_reserved(db: &dyn Db, username: &Username, now: i64) -> Result<bool, Error> {
    let rows = db.query(RESERVED, &[username.canonical().into(), now.into()])?;
    Ok(!rows.is_empty())
}

/// Reserves a name, or moves an old reservation's end: the one statement
/// the two dialects spell differently.
const RESERVE_MYSQL: &str = "INSERT INTO reserved_usernames (username_key, reserved_until) \
     VALUES (?, ?) ON DUPLICATE KEY UPDATE reserved_until = VALUES(reserved_until)";
const RESERVE_SQLITE: &str = "INSERT INTO reserved_usernames (username_key, reserved_until) \
     VALUES (?, ?) ON CONFLICT (username_key) DO UPDATE SET reserved_until = excluded.reserved_until";

/// Keeps `username` from being signed up until `until` (Unix ms).
pub fn reserve(db: &dyn Db, username: &Username, until: i64) -> Result<(), Error> {
    let sql = match db.dialect() {
        Dialect::MySql => RESERVE_MYSQL,
        Dialect::Sqlite => RESERVE_SQLITE,
    };
    db.execute(sql, &[username.canonical().into(), until.into()])?;
    Ok(())
}

const SWEEP_MYSQL: &str = "DELETE FROM reserved_usernames WHERE reserved_until < ? \
     ORDER BY reserved_until LIMIT ?";
const SWEEP_SQLITE: &str = "DELETE FROM reserved_usernames WHERE rowid IN \
     (SELECT rowid FROM reserved_usernames WHERE reserved_until < ? ORDER BY reserved_until LIMIT ?)";

/// Deletes a batch of reservations that ended before `now` (Unix ms).
pub fn sweep_reservations(db: &dyn Db, now: i64) -> Result<(), Error> {
    super::sweep(db, SWEEP_MYSQL, SWEEP_SQLITE, now)
}

/// Users in id order from a [`Walk`], for the sitemap.
pub const WALK: &str = "SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?";
/// The user `?` rows after user `?`, in id order: where a sitemap part ends.
pub const PART_END: &str = "SELECT id FROM users WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?";
/// How many users there are, up to `?`.
pub const COUNT_UP_TO: &str = "SELECT COUNT(*) AS n FROM (SELECT id FROM users LIMIT ?) t";

/// The ids of the users `walk` selects, in id order.
pub fn walk(db: &dyn Db, walk: Walk) -> Result<Vec<Id>, Error> {
    Ok(db
        .query(WALK, &walk.params())?
        .decode_all(|row| row.get("id"))?)
}

/// The last user of each run of `per_part` users, in id order.
pub fn part_ends_every(db: &dyn Db, per_part: usize) -> Result<Vec<Id>, Error> {
    part_ends(db, PART_END, per_part)
}

/// How many users there are, counting no further than `cap`.
pub fn count_capped(db: &dyn Db, cap: usize) -> Result<usize, Error> {
    count_up_to(db, COUNT_UP_TO, cap)
}
