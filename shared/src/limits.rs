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
            // One key per bucket and window, which expires with the window:
            // relative to the caller's clock, like the window, and a second
            // later, so that a count never expires before its window ends.
            backend @ Backend::Redis(_) => {
                let key = format!("rl:{}:{}:{window}", self.name, self.bucket(subject));
                if delta == 0 {
                    backend.number(&key)?.unwrap_or(0)
                } else {
                    backend.add(&key, delta, retry_after + 1)?
                }
            }
            Backend::Spin(store) => self.add_on_spin(store, subject, delta, window)?,
        };
        Ok(Standing { count, retry_after })
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

/// Growing delays between attempts on one subject (an account, or an
/// account from one address): the first `free` attempts of a window go
/// ahead at once; after that, the attempt that failed last sets a delay,
/// `first_delay_seconds` doubling with every further failure up to
/// `max_delay_seconds`, and only one attempt may go ahead once it has
/// passed. So a subject is never locked for a whole window, only slowed.
///
/// **Increment first.** An attempt is counted (reserved) before it is
/// decided, atomically (`increment`), so parallel attempts each get their
/// own number and cannot all pass one check-then-record gap. After the
/// free ones, the one attempt a delay lets through is the first to take the
/// gate's ticket (a counter per `gate.window_seconds` slot). An attempt
/// that is refused, or that succeeds where successes should not count,
/// gives its reservation back with [`Backoff::release`].
///
/// Both counters keep each window under a key of its own
/// ([`windowed_add`]), so the first attempts of a window, arriving
/// together, cannot reset one another's counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The attempts counter: `max` is the free attempts (0 turns the
    /// backoff off), `window_seconds` how long attempts are remembered.
    pub attempts: Limit,
    /// Names the gate's keys; its `window_seconds` is how often a stuck
    /// ticket frees itself (an attempt that took it and never reported).
    pub gate: Limit,
    /// The delay after the first failure past the free ones.
    pub first_delay_seconds: i64,
    /// The longest delay.
    pub max_delay_seconds: i64,
}

/// A counted attempt on a [`Backoff`]: its number in the window, and
/// whether it may go ahead now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The attempt's number in the window (1 for the first), or 0 when
    /// nothing was counted (the backoff is off or the store failed).
    pub number: i64,
    /// Whether it may go ahead, or how long to wait.
    pub verdict: Result<(), Refused>,
    /// Whether it holds the gate's ticket.
    ticket: bool,
}

impl Reservation {
    const UNCOUNTED: Self = Self {
        number: 0,
        verdict: Ok(()),
        ticket: false,
    };

    /// Whether no earlier attempt of this window is counted for the
    /// subject: it has not been failing.
    pub fn is_first(&self) -> bool {
        self.number <= 1
    }
}

/// Adds `delta` to `subject`'s counter for the window of `limit` that `now`
/// falls in, and returns the new count. Each window's count has a key of
/// its own, `<prefix>:<name>:<bucket>:<window>`, so whoever first sees a new
/// window never wipes a count that a request in that window has just made.
/// On Redis the key expires with its window. Spin's store has no expiry:
/// there the bucket's stamp (`…:w`) remembers the newest window used, and
/// the first request to move it forward deletes the older window's key, so
/// a bucket holds at most two counts.
fn windowed_add(
    kv: &Kv,
    limit: &Limit,
    prefix: &str,
    subject: &str,
    delta: i64,
    now: i64,
) -> Result<i64, KvError> {
    let window = now.div_euclid(limit.window_seconds);
    let base = format!("{prefix}:{}:{}", limit.name, limit.bucket(subject));
    let backend = kv.limits()?;
    if let Backend::Spin(_) = backend {
        let stamp_key = format!("{base}:w");
        let stamp = backend.number(&stamp_key)?;
        if stamp.is_none_or(|stamp| stamp < window) {
            backend.set_number(&stamp_key, window, limit.window_seconds)?;
            if let Some(old) = stamp {
                backend.forget(&format!("{base}:{old}"), limit.window_seconds)?;
            }
        }
    }
    // On Redis, a second past the window's end, as the caller's clock has it.
    let ttl = (window + 1) * limit.window_seconds - now + 1;
    backend.add(&format!("{base}:{window}"), delta, ttl)
}

/// Empties `key` in the limits' store for `seconds` and a second more (see
/// [`Backend::forget`]), so that the next count there starts again from 1.
fn forget(kv: &Kv, key: &str, seconds: i64) -> Result<(), KvError> {
    kv.limits()?.forget(key, seconds.max(0) + 1)
}

/// The key prefix of the backoffs' counters.
const BACKOFF_PREFIX: &str = "bo";

impl Backoff {
    /// Whether the backoff is on.
    pub fn enabled(&self) -> bool {
        self.attempts.enabled()
    }

    /// The delay that the `number`th failure of a window sets.
    pub fn delay_after(&self, number: i64) -> i64 {
        let past_free = number - i64::from(self.attempts.max);
        if past_free < 0 {
            return 0;
        }
        let doublings = u32::try_from(past_free.min(32)).unwrap_or(32);
        self.first_delay_seconds
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay_seconds)
    }

    fn until_key(&self, subject: &str) -> String {
        format!(
            "{BACKOFF_PREFIX}:{}:{}:until",
            self.attempts.name,
            self.attempts.bucket(subject)
        )
    }

    /// Counts an attempt on `subject` at `now` and decides it. A failing
    /// store counts nothing and lets it go ahead.
    pub fn reserve(&self, kv: &Kv, subject: &str, now: i64) -> Reservation {
        if !self.enabled() {
            return Reservation::UNCOUNTED;
        }
        match self.decide(kv, subject, now) {
            Ok(reservation) => reservation,
            Err(error) => {
                store_failed(&self.attempts, &error);
                Reservation::UNCOUNTED
            }
        }
    }

    /// Counts an attempt on `subject` at `now` that goes ahead whatever
    /// the delay (one that another rule lets through), so that if it
    /// fails, the failure still counts.
    pub fn count_only(&self, kv: &Kv, subject: &str, now: i64) -> Reservation {
        if !self.enabled() {
            return Reservation::UNCOUNTED;
        }
        match windowed_add(kv, &self.attempts, BACKOFF_PREFIX, subject, 1, now) {
            Ok(number) => Reservation {
                number,
                ..Reservation::UNCOUNTED
            },
            Err(error) => {
                store_failed(&self.attempts, &error);
                Reservation::UNCOUNTED
            }
        }
    }

    fn decide(&self, kv: &Kv, subject: &str, now: i64) -> Result<Reservation, KvError> {
        let number = windowed_add(kv, &self.attempts, BACKOFF_PREFIX, subject, 1, now)?;
        let reservation = |verdict| Reservation {
            number,
            verdict,
            ticket: false,
        };
        if number <= i64::from(self.attempts.max) {
            return Ok(reservation(Ok(())));
        }
        // Past the free attempts: only once the last failure's delay has
        // passed. No delay yet means the attempt that would set it is still
        // being checked.
        let until = kv.limits()?.number(&self.until_key(subject))?;
        let wait = match until {
            Some(until) if until <= now => None,
            Some(until) => Some(until - now),
            None => Some(1),
        };
        if let Some(wait) = wait {
            let refused = self.attempts.refusal(Standing {
                count: number,
                retry_after: wait,
            });
            return Ok(reservation(Err(refused)));
        }
        let ticket = windowed_add(kv, &self.gate, BACKOFF_PREFIX, subject, 1, now)?;
        if ticket > 1 {
            let refused = self.attempts.refusal(Standing {
                count: number,
                retry_after: 1,
            });
            return Ok(reservation(Err(refused)));
        }
        Ok(Reservation {
            ticket: true,
            ..reservation(Ok(()))
        })
    }

    /// After `reservation`'s attempt failed at `now`: starts the delay its
    /// number sets, and frees the gate for the attempt after it.
    pub fn failed(&self, kv: &Kv, subject: &str, reservation: &Reservation, now: i64) {
        if reservation.number == 0 {
            return;
        }
        let delay = self.delay_after(reservation.number);
        if delay == 0 {
            return;
        }
        let result = kv
            .limits()
            .and_then(|store| store.set_number(&self.until_key(subject), now + delay, delay + 1))
            .and_then(|()| self.free_ticket(kv, subject, now));
        if let Err(error) = result {
            store_failed(&self.attempts, &error);
        }
    }

    /// Gives `reservation` back: its attempt was never checked (refused
    /// elsewhere), or it succeeded where only failures count.
    pub fn release(&self, kv: &Kv, subject: &str, reservation: &Reservation, now: i64) {
        if reservation.number == 0 {
            return;
        }
        let mut result =
            windowed_add(kv, &self.attempts, BACKOFF_PREFIX, subject, -1, now).map(drop);
        if reservation.ticket {
            // It held the gate's ticket: the next attempt may have it.
            result = result.and_then(|()| self.free_ticket(kv, subject, now));
        }
        if let Err(error) = result {
            store_failed(&self.attempts, &error);
        }
    }

    /// Frees the gate's ticket of the slot `now` falls in.
    fn free_ticket(&self, kv: &Kv, subject: &str, now: i64) -> Result<(), KvError> {
        let slot = now.div_euclid(self.gate.window_seconds);
        let base = format!(
            "{BACKOFF_PREFIX}:{}:{}",
            self.gate.name,
            self.gate.bucket(subject)
        );
        forget(kv, &format!("{base}:{slot}"), self.gate.window_seconds)
    }

    /// Forgets `subject`'s attempts in this window and its delay (it
    /// proved itself). Subjects that share its bucket are forgotten too,
    /// which only ever relaxes their limit.
    pub fn reset(&self, kv: &Kv, subject: &str, now: i64) {
        if !self.enabled() {
            return;
        }
        let window = now.div_euclid(self.attempts.window_seconds);
        let base = format!(
            "{BACKOFF_PREFIX}:{}:{}",
            self.attempts.name,
            self.attempts.bucket(subject)
        );
        let result = forget(
            kv,
            &format!("{base}:{window}"),
            self.attempts.window_seconds,
        )
        .and_then(|()| forget(kv, &self.until_key(subject), 0));
        if let Err(error) = result {
            store_failed(&self.attempts, &error);
        }
    }
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

    const BACKOFF: Backoff = Backoff {
        attempts: Limit {
            name: "test_attempts",
            max: 5,
            window_seconds: 86_400,
            buckets: 1024,
        },
        gate: Limit {
            name: "test_gate",
            max: 1,
            window_seconds: 10,
            buckets: 1024,
        },
        first_delay_seconds: 30,
        max_delay_seconds: 3600,
    };

    #[test]
    fn backoff_delays_start_after_the_free_attempts_and_double_up_to_the_cap() {
        let delays: Vec<i64> = (1..=14).map(|n| BACKOFF.delay_after(n)).collect();
        assert_eq!(
            delays,
            [
                0, 0, 0, 0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600
            ]
        );
        assert_eq!(BACKOFF.delay_after(i64::MAX), 3600);
    }

    #[test]
    fn a_backoff_that_is_off_counts_nothing_and_asks_no_store() {
        // Natively, asking Spin's store would panic: nothing asks it.
        let kv = Kv::new(None, None, "", std::time::Duration::from_millis(50));
        let off = Backoff {
            attempts: Limit {
                max: 0,
                ..BACKOFF.attempts
            },
            ..BACKOFF
        };
        assert!(!off.enabled());
        let reservation = off.reserve(&kv, "x", 0);
        assert_eq!(reservation.verdict, Ok(()));
        assert!(reservation.is_first());
        assert_eq!(off.count_only(&kv, "x", 0).number, 0);
        off.failed(&kv, "x", &reservation, 0);
        off.release(&kv, "x", &reservation, 0);
        off.reset(&kv, "x", 0);
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
