//! The `sessions` table: one row per login, named by the token it issued.
//! A token whose row is gone is refused, on every pod at once.
//!
//! Every authenticated request reads its session in a statement it makes
//! anyway: [`user`] for a read of the caller (`GET /api/me`, the website's
//! visitor), and the `caller_from!`/`caller_is!` join in the reads that
//! writes make (`posts::for_caller` and the like). Either way it is one
//! primary-key lookup joined to the caller's row, not a statement of its
//! own.

use crate::db::{Db, DbError, OnConstraint};
use crate::error::Error;
use crate::snowflake::Id;
use crate::store::users::{Credentials, User, decode_user};

/// A session as a token names it: its id and its user. Checked against
/// the table by whichever statement reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// The session's id (random, not a Snowflake).
    pub id: Id,
    /// Whose it is.
    pub user: Id,
}

/// How many ids a new session tries before giving up: 63 random bits
/// collide only by a fault.
const MAX_ID_ATTEMPTS: usize = 4;

const INSERT: &str = "INSERT INTO sessions (id, user_id, expires_at) VALUES (?, ?, ?)";

/// Starts a session for `user`, ending at `expires_at` (Unix ms, its
/// token's expiry). A user deleted meanwhile is a 401.
pub fn start(db: &dyn Db, user: Id, expires_at: i64) -> Result<Session, Error> {
    for _ in 0..MAX_ID_ATTEMPTS {
        let random = getrandom::u64()
            .map_err(|e| Error::internal(anyhow::anyhow!("no randomness for a session: {e}")))?;
        // The top bit clear: ids are positive.
        let id = Id::from_i64((random >> 1) as i64).map_err(Error::internal)?;
        match db.execute(INSERT, &[id.into(), user.into(), expires_at.into()]) {
            Err(DbError::Duplicate { ref key, .. }) if key == "PRIMARY" => continue,
            result => {
                return result
                    .map(|()| Session { id, user })
                    .on_foreign_key("sessions_user", Error::caller_gone);
            }
        }
    }
    Err(Error::internal(anyhow::anyhow!(
        "no free session id after {MAX_ID_ATTEMPTS} attempts"
    )))
}

/// A session's user, if the session still exists: the check every
/// authenticated read of the caller makes.
pub const USER: &str = "SELECT u.id AS id, u.username AS username, u.display_name AS display_name, \
     u.bio AS bio FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id = ? AND s.user_id = ?";

/// The user of `session`, if the session still exists (and so the user).
pub fn user(db: &dyn Db, session: &Session) -> Result<Option<User>, Error> {
    let rows = db.query(USER, &[session.id.into(), session.user.into()])?;
    Ok(rows.first().map(decode_user).transpose()?)
}

const CREDENTIALS: &str = "SELECT u.id AS id, u.username AS username, \
     u.display_name AS display_name, u.bio AS bio, u.password_hash AS password_hash \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ? AND s.user_id = ?";

/// The user of `session` with their password hash, if the session still
/// exists: for the writes that ask for the password again.
pub fn credentials(db: &dyn Db, session: &Session) -> Result<Option<Credentials>, Error> {
    let rows = db.query(CREDENTIALS, &[session.id.into(), session.user.into()])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        user: decode_user(row)?,
        password_hash: row.get("password_hash")?,
    }))
}

const END: &str = "DELETE FROM sessions WHERE id = ? AND user_id = ?";

/// Ends `session`.
pub fn end(db: &dyn Db, session: &Session) -> Result<(), Error> {
    db.execute(END, &[session.id.into(), session.user.into()])?;
    Ok(())
}

const END_ALL: &str = "DELETE FROM sessions WHERE user_id = ?";

/// Ends every session of `user`.
pub fn end_all(db: &dyn Db, user: Id) -> Result<(), Error> {
    db.execute(END_ALL, &[user.into()])?;
    Ok(())
}

const END_OTHERS: &str = "DELETE FROM sessions WHERE user_id = ? AND id <> ?";

/// Ends every session of `session`'s user but `session`.
pub fn end_others(db: &dyn Db, session: &Session) -> Result<(), Error> {
    db.execute(END_OTHERS, &[session.user.into(), session.id.into()])?;
    Ok(())
}

const SWEEP_MYSQL: &str = "DELETE FROM sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?";
const SWEEP_SQLITE: &str = "DELETE FROM sessions WHERE rowid IN \
     (SELECT rowid FROM sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)";

/// Deletes a batch of sessions that ended before `now` (Unix ms): their
/// tokens have expired anyway.
pub fn sweep(db: &dyn Db, now: i64) -> Result<(), Error> {
    super::sweep(db, SWEEP_MYSQL, SWEEP_SQLITE, now)
}
