//! The `idempotency_keys` table: what a create sent with an idempotency key
//! made, kept for 24 hours so that a retry gets it again instead of making
//! a duplicate. Older rows are ignored, and deleted in batches by
//! [`sweep`], which writes run now and then (`actions::sweep`).
//!
//! A record names the row it made (`location`, the row's API path, which is
//! what the column has always held) and keeps the row as it was made
//! (`body`, JSON), so that a replay answers exactly as the first call did
//! even if the row has changed since.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::{Db, DbError, Row};
use crate::error::Error;
use crate::snowflake::Id;
use crate::store::comments::Comment;
use crate::store::posts::Post;
use crate::store::users::User;

/// How long a key is remembered, in milliseconds.
pub const KEY_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// A row a create makes, as a record keeps it.
pub trait Made: Serialize + DeserializeOwned {
    /// The path its record names it by, before its id: `/api/posts`.
    const LOCATION: &'static str;
    /// The statement that finds it by id, to tell whether it still exists.
    const EXISTS: &'static str;
    /// Its id.
    fn id(&self) -> Id;
}

impl Made for User {
    const LOCATION: &'static str = "/api/users";
    const EXISTS: &'static str = "SELECT id FROM users WHERE id = ?";
    fn id(&self) -> Id {
        self.id
    }
}

impl Made for Post {
    const LOCATION: &'static str = "/api/posts";
    const EXISTS: &'static str = "SELECT id FROM posts WHERE id = ?";
    fn id(&self) -> Id {
        self.id
    }
}

impl Made for Comment {
    const LOCATION: &'static str = "/api/comments";
    const EXISTS: &'static str = "SELECT id FROM comments WHERE id = ?";
    fn id(&self) -> Id {
        self.id
    }
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The fingerprint of the create it answered (see
    /// `actions::fingerprint`).
    pub fingerprint: String,
    /// The path of the row it made.
    pub location: String,
    /// The row it made, as JSON.
    pub body: String,
}

impl Stored {
    /// The record of `made` for a create with `fingerprint`.
    pub fn of<T: Made>(fingerprint: String, made: &T) -> Result<Self, Error> {
        Ok(Self {
            fingerprint,
            location: format!("{}/{}", T::LOCATION, made.id()),
            body: serde_json::to_string(made).map_err(Error::internal)?,
        })
    }

    /// The row this record made, if it is a `T` and still exists.
    pub fn still_made<T: Made>(&self, db: &dyn Db) -> Result<Option<T>, Error> {
        let unreadable = || {
            Error::internal(anyhow::anyhow!(
                "idempotency record for {:?} is not a row of {}",
                self.location,
                T::LOCATION
            ))
        };
        let id: Id = self
            .location
            .strip_prefix(T::LOCATION)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|id| id.parse().ok())
            .ok_or_else(unreadable)?;
        if db.query(T::EXISTS, &[id.into()])?.is_empty() {
            return Ok(None);
        }
        let made = serde_json::from_str(&self.body).map_err(|_| unreadable())?;
        Ok(Some(made))
    }
}

fn decode(row: Row<'_>) -> Result<Stored, DbError> {
    Ok(Stored {
        fingerprint: row.get("request_hash")?,
        location: row.get("location")?,
        body: row.get("body")?,
    })
}

const FIND: &str = "SELECT request_hash, location, body FROM idempotency_keys \
     WHERE scope = ? AND idem_key = ? AND created_at >= ?";

/// The record stored for `key` in `scope`, unless it has expired by `now`
/// (Unix ms).
pub fn find(db: &dyn Db, scope: &str, key: &str, now: i64) -> Result<Option<Stored>, Error> {
    let rows = db.query(
        FIND,
        &[scope.into(), key.into(), (now - KEY_LIFETIME_MS).into()],
    )?;
    Ok(rows.first().map(decode).transpose()?)
}

const FORGET: &str = "DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ?";

/// Forgets `key` in `scope`.
pub fn forget(db: &dyn Db, scope: &str, key: &str) -> Result<(), Error> {
    db.execute(FORGET, &[scope.into(), key.into()])?;
    Ok(())
}

const FORGET_EXPIRED: &str =
    "DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND created_at < ?";
const INSERT: &str = "INSERT INTO idempotency_keys \
     (scope, idem_key, request_hash, status, location, body, created_at) \
     VALUES (?, ?, ?, 201, ?, ?, ?)";

/// Stores the record of a create under `key`, in the create's own
/// transaction, in place of an expired record of the same key that no sweep
/// has removed yet. A concurrent request that stored the same key first
/// makes this a lock conflict: the transaction runs again and finds it.
pub fn save(db: &dyn Db, scope: &str, key: &str, stored: &Stored, now: i64) -> Result<(), Error> {
    db.execute(
        FORGET_EXPIRED,
        &[scope.into(), key.into(), (now - KEY_LIFETIME_MS).into()],
    )?;
    db.execute(
        INSERT,
        &[
            scope.into(),
            key.into(),
            stored.fingerprint.as_str().into(),
            stored.location.as_str().into(),
            stored.body.as_str().into(),
            now.into(),
        ],
    )
    .map_err(|error| match error {
        DbError::Duplicate { message, .. } => {
            DbError::Busy(format!("idempotency key stored concurrently: {message}"))
        }
        other => other,
    })?;
    Ok(())
}

const SWEEP_MYSQL: &str =
    "DELETE FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?";
const SWEEP_SQLITE: &str = "DELETE FROM idempotency_keys WHERE rowid IN \
     (SELECT rowid FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)";

/// Deletes a batch of records that expired by `now` (Unix ms).
pub fn sweep(db: &dyn Db, now: i64) -> Result<(), Error> {
    super::sweep(db, SWEEP_MYSQL, SWEEP_SQLITE, now - KEY_LIFETIME_MS)
}

const FORGET_SCOPE: &str = "DELETE FROM idempotency_keys WHERE scope = ?";

/// Forgets every key in `scope` (a deleted user's).
pub fn forget_scope(db: &dyn Db, scope: &str) -> Result<(), Error> {
    db.execute(FORGET_SCOPE, &[scope.into()])?;
    Ok(())
}
