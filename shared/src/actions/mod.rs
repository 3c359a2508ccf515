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

pub mod accounts;
pub mod comments;
pub mod posts;
pub mod search;
pub mod writeups;

use sha2::{Digest, Sha256};

use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::limits;
use crate::model::IdempotencyKey;
use crate::snowflake::Id;
use crate::store::idempotency::{self, Made, Stored};
use crate::store::users::User;
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

/// The caller's account, or a 401 if it was deleted after their token was
/// issued.
fn existing(caller: Option<User>) -> Result<User, Error> {
    caller.ok_or_else(Error::caller_gone)
}

/// What makes two creates the same create, for an idempotency key: the
/// action's name and its validated input, each part length-prefixed so no
/// two inputs run together. Never a password: a key's record must not hold
/// anything that could confirm one.
fn fingerprint(action: &str, input: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in std::iter::once(action).chain(input.iter().copied()) {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    crate::hex::encode(&hash.finalize())
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
        key: Option<&'a IdempotencyKey>,
        scope: String,
        action: &str,
        input: &[&str],
    ) -> Option<Self> {
        key.map(|key| Self {
            key,
            scope,
            fingerprint: fingerprint(action, input),
        })
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

    #[test]
    fn a_fingerprint_tells_apart_actions_and_inputs_that_run_together() {
        let one = fingerprint("post", &["ab", "c"]);
        assert_eq!(one, fingerprint("post", &["ab", "c"]));
        assert_eq!(one.len(), 64);
        assert_ne!(one, fingerprint("post", &["a", "bc"]));
        assert_ne!(one, fingerprint("comment", &["ab", "c"]));
    }
}
