//! Rate limits that hold across instances and pods: fixed-window counters
//! in the limits' store ([`crate::kv`]): their own Redis on SpinKube, shared
//! by every pod and out of the cache's reach, or Spin's key-value store.
//!
//! A limit allows `max` events per subject (a client IP, an account, a user)
//! per window. An over-limit request is refused with 429 and `Retry-After`
//! before it costs any bcrypt or database work.
//!
//! Keys are bounded: subjects are hashed into a fixed number of buckets per
//! limit. Two subjects that share a bucket share its allowance, which with
//! thousands of buckets is rare and only ever makes a limit stricter.
//!
//! - On Redis, a bucket's count for one window is one key, `INCRBY` and
//!   `EXPIRE` in one round trip, which Redis removes when the window ends:
//!   at most a key or two per bucket exist at once, so the store's memory
//!   has a bound that the limits' Redis is sized for (`noeviction`: no
//!   counter is ever pushed out).
//! - Spin's store has no expiry, so each bucket there has two fixed keys, its
//!   count and the window the count belongs to; a new window resets the
//!   count.
//!
//! If the store fails, or keeps the request waiting past its bound, the
//! request goes ahead (and the failure is logged): losing the limiter must
//! not take the site down with it.

use sha2::{Digest, Sha256};

use crate::kv::{Backend, Kv, KvError, SpinStore};
use crate::log;
use crate::redis::{self, Command, Connection};

/// One limit: at most `max` events per `window_seconds` per subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Names the limit in keys and logs.
    pub name: &'static str,
    /// Events allowed per window; 0 turns the limit off.
    pub max: u32,
    /// The window's length.
    pub window_seconds: i64,
    /// How many buckets subjects are hashed into.
    pub buckets: u32,
}

/// A subject is over a limit: answered 429 with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("over a rate limit (retry after {retry_after} s)")]
pub struct Refused {
    /// Seconds until the limit's window ends, at least 1.
    pub retry_after: i64,
}

/// Where a subject stands against a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// Events counted in the current window, this one included.
    pub count: i64,
    /// Seconds until the window ends.
    pub retry_after: i64,
}

impl Limit {
    /// Whether the limit is on.
    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The refusal of a subject over this limit (logged).
    pub fn refusal(&self, standing: Standing) -> Refused {
        log::warn("rate_limited", &[("limit", self.name.into())]);
        Refused {
            retry_after: standing.retry_after.max(1),
        }
    }

    /// The bucket a subject falls in.
    fn bucket(&self, subject: &str) -> u32 {
        let digest = Sha256::digest(subject.as_bytes());
        let head = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        head % self.buckets.max(1)
    }

    /// Adds `delta` events for `subject` at `now` (Unix seconds) and returns
    /// where it stands. A `delta` of 0 only reads.
    pub fn add(&self, kv: &Kv, subject: &str, delta: i64, now: i64) -> Result<Standing, KvError> {
        let window = now.div_euclid(self.window_seconds);
        let retry_after = (window + 1) * self.window_seconds - now;
        let count = match kv.limits()? {
            Backend::Redis(redis) => {
                self.add_on_redis(redis, subject, delta, window, retry_after)?
            }
            Backend::Spin(store) => self.add_on_spin(store, subject, delta, window)?,
        };
        Ok(Standing { count, retry_after })
    }

    /// One key per bucket and window, which expires with the window.
    fn add_on_redis(
        &self,
        redis: &Connection,
        subject: &str,
        delta: i64,
        window: i64,
        retry_after: i64,
    ) -> Result<i64, KvError> {
        let key = format!("rl:{}:{}:{window}", self.name, self.bucket(subject));
        if delta == 0 {
            return count_of(&redis.call(&[Command::new("GET").arg(&key)])?);
        }
        // Relative to the caller's clock, like the window: a second more,
        // so that a count never expires before its window ends.
        let ttl = (retry_after + 1).to_string();
        let replies = redis.call(&[
            Command::new("INCRBY").arg(&key).arg(delta.to_string()),
            Command::new("EXPIRE").arg(&key).arg(ttl),
        ])?;
        count_of(&replies)
    }

    /// Two keys per bucket: its count, and the window it counts.
    fn add_on_spin(
        &self,
        store: &SpinStore,
        subject: &str,
        delta: i64,
        window: i64,
    ) -> Result<i64, KvError> {
        let base = format!("rl:{}:{}", self.name, self.bucket(subject));
        let stamp_key = format!("{base}:w");
        let stamp = window.to_string();
        // A count left from an earlier window is reset first. Two requests
        // that cross into a new window together may both reset it; the count
        // can then miss one of them, never gain.
        if store.get(&stamp_key)?.as_deref() != Some(stamp.as_bytes()) {
            store.set(&stamp_key, stamp.as_bytes())?;
            store.delete(&base)?;
        }
        store.increment(&base, delta)
    }
}

/// The count that the first of `replies` holds (nil is 0).
fn count_of(replies: &[redis::Reply]) -> Result<i64, KvError> {
    match replies.first() {
        Some(reply) => Ok(redis::integer(reply)?.unwrap_or(0)),
        None => Err(redis::ProtocolError::unexpected("silence").into()),
    }
}

/// Checks `limit` for `subject`, counting this event: the 429 if it is one
/// too many. A failing store lets the request through.
pub fn count(kv: &Kv, limit: &Limit, subject: &str, now: i64) -> Result<(), Refused> {
    if !limit.enabled() {
        return Ok(());
    }
    match limit.add(kv, subject, 1, now) {
        Ok(standing) if standing.count > i64::from(limit.max) => Err(limit.refusal(standing)),
        Ok(_) => Ok(()),
        Err(error) => {
            store_failed(limit, &error);
            Ok(())
        }
    }
}

/// Checks, without counting, that `subject` has not already used up
/// `limit` (e.g. failed logins, which are counted only once they fail).
pub fn check(kv: &Kv, limit: &Limit, subject: &str, now: i64) -> Result<(), Refused> {
    if !limit.enabled() {
        return Ok(());
    }
    match limit.add(kv, subject, 0, now) {
        Ok(standing) if standing.count >= i64::from(limit.max) => Err(limit.refusal(standing)),
        Ok(_) => Ok(()),
        Err(error) => {
            store_failed(limit, &error);
            Ok(())
        }
    }
}

/// Counts an event against `limit` without refusing anything (a failed
/// login, after the fact).
pub fn record(kv: &Kv, limit: &Limit, subject: &str, now: i64) {
    if limit.enabled()
        && let Err(error) = limit.add(kv, subject, 1, now)
    {
        store_failed(limit, &error);
    }
}

fn store_failed(limit: &Limit, error: &KvError) {
    log::warn(
        "rate_limit_store_failed",
        &[
            ("limit", limit.name.into()),
            ("error", error.to_string().into()),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Limit = Limit {
        name: "test",
        max: 3,
        window_seconds: 60,
        buckets: 1024,
    };

    #[test]
    fn subjects_fall_in_a_fixed_number_of_buckets() {
        for n in 0..5000 {
            assert!(LIMIT.bucket(&format!("10.0.{}.{}", n / 256, n % 256)) < 1024);
        }
        assert_eq!(LIMIT.bucket("ada"), LIMIT.bucket("ada"));
        assert_ne!(LIMIT.bucket("ada"), LIMIT.bucket("bob"));
    }

    #[test]
    fn a_refusal_retries_at_the_window_end() {
        let error = LIMIT.refusal(Standing {
            count: 4,
            retry_after: 17,
        });
        assert_eq!(error, Refused { retry_after: 17 });
        let soon = LIMIT.refusal(Standing {
            count: 4,
            retry_after: 0,
        });
        assert_eq!(soon, Refused { retry_after: 1 });
    }

    #[test]
    fn a_limit_of_zero_is_off_and_asks_no_store() {
        // Natively, asking Spin's store would panic: nothing asks it.
        let kv = Kv::new(None, None, "", std::time::Duration::from_millis(50));
        let off = Limit { max: 0, ..LIMIT };
        assert!(count(&kv, &off, "x", 0).is_ok());
        assert!(check(&kv, &off, "x", 0).is_ok());
        record(&kv, &off, "x", 0);
    }
}
