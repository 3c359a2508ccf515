//! The `idempotency_keys` table: the first answer to a create sent with an
//! `Idempotency-Key` header, kept for 24 hours so that a retry gets it again
//! instead of making a duplicate.

use crate::db::{Db, DbError, Row};
use crate::error::Error;
use crate::snowflake::Id;

/// How long a key is remembered, in milliseconds.
pub const KEY_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// A stored first answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// SHA-256 of the request it answered, hex.
    pub request_hash: String,
    /// Its `Location`.
    pub location: String,
    /// Its JSON body.
    pub body: String,
}

fn decode(row: Row<'_>) -> Result<Stored, DbError> {
    Ok(Stored {
        request_hash: row.get("request_hash")?,
        location: row.get("location")?,
        body: row.get("body")?,
    })
}

const FIND: &str = "SELECT request_hash, location, body FROM idempotency_keys \
     WHERE scope = ? AND idem_key = ? AND created_at >= ?";

/// The answer stored for `key` in `scope`, unless it has expired by `now`
/// (Unix ms).
pub fn find(db: &dyn Db, scope: &str, key: &str, now: i64) -> Result<Option<Stored>, Error> {
    let rows = db.query(
        FIND,
        &[scope.into(), key.into(), (now - KEY_LIFETIME_MS).into()],
    )?;
    Ok(rows.first().map(decode).transpose()?)
}

/// Whether the resource a stored answer's `Location` names still exists:
/// `/api/users/<id>`, `/api/posts/<id>` or `/api/comments/<id>`.
pub fn still_exists(db: &dyn Db, location: &str) -> Result<bool, Error> {
    const USER: &str = "SELECT id FROM users WHERE id = ?";
    const POST: &str = "SELECT id FROM posts WHERE id = ?";
    const COMMENT: &str = "SELECT id FROM comments WHERE id = ?";
    let (kind, id) = location.rsplit_once('/').unwrap_or_default();
    let sql = match kind {
        "/api/users" => USER,
        "/api/posts" => POST,
        "/api/comments" => COMMENT,
        _ => {
            return Err(Error::internal(anyhow::anyhow!(
                "stored location {location:?}"
            )));
        }
    };
    let id: Id = id
        .parse()
        .map_err(|_| Error::internal(anyhow::anyhow!("stored location {location:?}")))?;
    Ok(!db.query(sql, &[id.into()])?.is_empty())
}

const FORGET: &str = "DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ?";

/// Forgets `key` in `scope`.
pub fn forget(db: &dyn Db, scope: &str, key: &str) -> Result<(), Error> {
    db.execute(FORGET, &[scope.into(), key.into()])?;
    Ok(())
}

const EXPIRE: &str = "DELETE FROM idempotency_keys WHERE created_at < ?";
const INSERT: &str = "INSERT INTO idempotency_keys \
     (scope, idem_key, request_hash, status, location, body, created_at) \
     VALUES (?, ?, ?, 201, ?, ?, ?)";

/// Stores the answer to the create under `key`, in the create's own
/// transaction, after deleting every expired key (an index range, so old
/// keys never pile up). A concurrent request that stored the same key first
/// makes this a lock conflict: the transaction runs again and finds it.
pub fn save(db: &dyn Db, scope: &str, key: &str, stored: &Stored, now: i64) -> Result<(), Error> {
    db.execute(EXPIRE, &[(now - KEY_LIFETIME_MS).into()])?;
    db.execute(
        INSERT,
        &[
            scope.into(),
            key.into(),
            stored.request_hash.as_str().into(),
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
