//! The one write path: every rule that changes state, shared by the API's
//! handlers and the website's forms, which only parse their own input, call
//! an action and render its outcome.
//!
//! An action takes validated domain types and says who is calling (the
//! caller's user id) or from where (the client's address), explicitly. It
//! does, in this order and in one place each:
//!
//! 1. the rate limits, before any database or bcrypt work;
//! 2. the rules (who may do what) and the writes, in one transaction that
//!    runs again whole if it loses a lock race, with the idempotency record
//!    of a create in that same transaction;
//! 3. the cache version bumps, after the commit and before it returns, so
//!    the caller's next read, and everyone's, sees the change.
//!
//! A caller is a `Session`, as their token names it: the read a write
//! makes of its caller joins the session's row, so an ended session is a
//! 401 at no extra statement.
//!
//! Writes also sweep expired rows now and then ([`sweep`]): Spin has no
//! timer, and what expires (idempotency records, sessions, name
//! reservations) is only ever made by writes, so sweeping in proportion to
//! writes keeps it bounded.

pub mod accounts;
pub mod comments;
pub mod posts;
pub mod search;
pub mod writeups;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::limits;
use crate::log;
use crate::model::IdempotencyKey;
use crate::snowflake::Id;
use crate::store::idempotency::{self, Made, Stored};
use crate::store::sessions;
use crate::store::users::{self, User};
use crate::time::now_ms;

/// What a create made, and whether it is a replay: an earlier call with the
/// same idempotency key made it, and this one made nothing.
#[derive(Debug)]
pub struct Created<T> {
    /// The row, as the first call made it.
    pub made: T,
    /// Whether an earlier call made it.
    pub replayed: bool,
}

/// Counts a write (a post, comment, edit, delete or profile change) by
/// `caller` against the per-user write limits: a 429 once they are used up,
/// before the write touches the database.
fn count_write(context: &Context, caller: Id) -> Result<(), Error> {
    let limits = &context.config().limits;
    let (caller, now) = (caller.to_string(), now_ms() / 1000);
    limits::count(context.kv(), &limits.writes_per_user, &caller, now)?;
    limits::count(context.kv(), &limits.writes_per_user_daily, &caller, now)?;
    Ok(())
}

/// The caller's account, or a 401 if their session has ended (logged out,
/// or the account deleted) since their token was issued.
fn existing(caller: Option<User>) -> Result<User, Error> {
    caller.ok_or_else(Error::session_ended)
}

/// One in how many writes sweeps expired rows.
const SWEEP_ONE_IN: u32 = 8;

/// Now and then (one write in [`SWEEP_ONE_IN`], at random), deletes a
/// bounded batch of expired idempotency records, sessions and username
/// reservations. Each batch is at most `store::SWEEP_BATCH` rows a table,
/// so a sweep never slows a write much, and eight writes sweep far more
/// than they make. A failure is logged; the write has already succeeded.
fn sweep(context: &Context) {
    if !getrandom::u32().unwrap_or(1).is_multiple_of(SWEEP_ONE_IN) {
        return;
    }
    let now = now_ms();
    let result = context.db().and_then(|db| {
        idempotency::sweep(db, now)?;
        sessions::sweep(db, now)?;
        users::sweep_reservations(db, now)
    });
    if let Err(error) = result {
        log::warn(
            "sweep_failed",
            &[(
                "error",
                error.cause().unwrap_or_else(|| error.to_string()).into(),
            )],
        );
    }
}

/// What makes two creates the same create, for an idempotency key: an
/// HMAC-SHA256, under a key derived from the signing secret, of the
/// action's name and its validated input, each part length-prefixed so no
/// two inputs run together. Never a password; and keyed, so that a stored
/// fingerprint cannot be checked against guesses of the input without the
/// server's secret.
fn fingerprint(secret: &[u8], action: &str, input: &[&str]) -> Result<String, Error> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(Error::internal)?;
    mac.update(b"omni idempotency fingerprint\0");
    for part in std::iter::once(action).chain(input.iter().copied()) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    Ok(crate::hex::encode(&mac.finalize().into_bytes()))
}

/// A create's idempotency key, in the scope of who sent it (`signup`, or the
/// caller's id: one user's keys never meet another's), with the fingerprint
/// of what it asks for.
struct Once<'a> {
    key: &'a IdempotencyKey,
    scope: String,
    fingerprint: String,
}

impl<'a> Once<'a> {
    /// `key`, if the client sent one, for `action` with `input` in `scope`.
    fn new(
        context: &Context,
        key: Option<&'a IdempotencyKey>,
        scope: String,
        action: &str,
        input: &[&str],
    ) -> Result<Option<Self>, Error> {
        let Some(key) = key else {
            return Ok(None);
        };
        Ok(Some(Self {
            key,
            scope,
            fingerprint: fingerprint(context.jwt_secret()?, action, input)?,
        }))
    }
}

/// Runs `create` in a transaction. With a key, the row it made is recorded
/// under the key in the same transaction: a retry with the same key and the
/// same input gets that row again, marked as a replay, and creates nothing;
/// the same key with other input is a 422. A key whose row has since been
/// deleted no longer stands for anything: it is forgotten, and the create
/// runs anew. `create` returns the row and anything else its caller needs
/// afterwards (for the cache); that comes back only when this call made the
/// row.
fn create_once<T: Made, A>(
    db: &dyn Db,
    once: Option<Once<'_>>,
    mut create: impl FnMut(&dyn Db) -> Result<(T, A), Error>,
) -> Result<(Created<T>, Option<A>), Error> {
    let made = |(made, also)| {
        let created = Created {
            made,
            replayed: false,
        };
        (created, Some(also))
    };
    let Some(once) = once else {
        return transaction(db, &mut create).map(made);
    };
    let (key, scope, now) = (once.key.as_str(), once.scope.as_str(), now_ms());
    transaction(db, |db| {
        if let Some(stored) = idempotency::find(db, scope, key, now)? {
            if stored.fingerprint != once.fingerprint {
                return Err(Error::invalid_field(
                    "Idempotency-Key",
                    "was already used for a different request",
                ));
            }
            if let Some(first) = stored.still_made(db)? {
                let replay = Created {
                    made: first,
                    replayed: true,
                };
                return Ok((replay, None));
            }
            idempotency::forget(db, scope, key)?;
        }
        let (row, also) = create(db)?;
        let stored = Stored::of(once.fingerprint.clone(), &row)?;
        idempotency::save(db, scope, key, &stored, now)?;
        Ok(made((row, also)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_fingerprint_tells_apart_actions_and_inputs_that_run_together() {
        let print = |action, input: &[&str]| fingerprint(KEY, action, input).unwrap();
        let one = print("post", &["ab", "c"]);
        assert_eq!(one, print("post", &["ab", "c"]));
        assert_eq!(one.len(), 64);
        assert_ne!(one, print("post", &["a", "bc"]));
        assert_ne!(one, print("comment", &["ab", "c"]));
    }

    #[test]
    fn a_fingerprint_is_keyed_so_a_stored_one_cannot_be_checked_without_the_key() {
        use sha2::Digest;
        let keyed = fingerprint(KEY, "signup", &["ada", ""]).unwrap();
        assert_ne!(
            keyed,
            fingerprint(b"another key of thirty-two bytes!", "signup", &["ada", ""]).unwrap()
        );
        // Not the plain digest of the same parts.
        let mut plain = Sha256::new();
        for part in ["signup", "ada", ""] {
            plain.update((part.len() as u64).to_be_bytes());
            plain.update(part.as_bytes());
        }
        assert_ne!(keyed, crate::hex::encode(&plain.finalize()));
    }
}
