//! Transactions: committed or rolled back whole, and run again whole when
//! they lose a lock race.

use crate::error::Error;
use crate::log;

use super::Db;
use super::errors::is_busy;

/// How many times a transaction that lost a lock race is run in all.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 4;
/// No new attempt starts once this long has passed since the first.
pub const RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs `work` in a transaction: committed if it returns `Ok`, rolled back if
/// it returns `Err` (the original error is kept; a failed rollback is logged,
/// and the server discards the transaction when the connection closes).
///
/// A transaction that loses a lock race (a deadlock, a lock wait timeout,
/// SQLite's `database is locked`) is rolled back and run again whole, up to
/// [`MAX_TRANSACTION_ATTEMPTS`] times with a jittered, growing pause; then
/// it is a 503 with `Retry-After`, never a 500. `work` must therefore be
/// safe to run again: it gets a fresh transaction each time.
pub fn transaction<T>(
    db: &dyn Db,
    mut work: impl FnMut(&dyn Db) -> Result<T, Error>,
) -> Result<T, Error> {
    let (mut attempt, started) = (1, std::time::Instant::now());
    loop {
        match transaction_once(db, &mut work) {
            Err(error)
                if is_busy(&error)
                    && attempt < MAX_TRANSACTION_ATTEMPTS
                    && started.elapsed() < RETRY_BUDGET =>
            {
                log::warn(
                    "transaction_retried",
                    &[
                        ("attempt", attempt.into()),
                        (
                            "cause",
                            error.cause().unwrap_or_else(|| error.to_string()).into(),
                        ),
                    ],
                );
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn transaction_once<T>(
    db: &dyn Db,
    work: &mut impl FnMut(&dyn Db) -> Result<T, Error>,
) -> Result<T, Error> {
    db.begin()?;
    match work(db) {
        Ok(value) => {
            db.commit()?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = db.rollback() {
                log::warn(
                    "rollback_failed",
                    &[
                        ("error", rollback.to_string().into()),
                        ("after", error.to_string().into()),
                    ],
                );
            }
            Err(error)
        }
    }
}

/// The pause before attempt `attempt + 1`: 10 ms, doubling, plus up to as
/// much again at random, so that transactions that collided do not collide
/// again in step.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 10_u64 << attempt.saturating_sub(1).min(6);
    let jitter = getrandom::u64().unwrap_or(0) % base;
    std::time::Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::db::{DbError, Dialect, Param, Rows};

    /// Records the statements it is sent; fails the ones containing "FAIL",
    /// and the first `busy` statements `UPDATE` with a lock conflict.
    #[derive(Default)]
    struct Recorder {
        log: RefCell<Vec<String>>,
        busy: RefCell<u32>,
    }

    impl Db for Recorder {
        fn dialect(&self) -> Dialect {
            Dialect::MySql
        }
        fn query(&self, sql: &str, _: &[Param]) -> Result<Rows, DbError> {
            self.log.borrow_mut().push(sql.into());
            Ok(Rows::default())
        }
        fn query_locked(&self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
            self.query(sql, params)
        }
        fn execute(&self, sql: &str, _: &[Param]) -> Result<(), DbError> {
            self.log.borrow_mut().push(sql.into());
            if sql.contains("FAIL") {
                return Err(DbError::Query("failed".into()));
            }
            let mut busy = self.busy.borrow_mut();
            if sql == "UPDATE" && *busy > 0 {
                *busy -= 1;
                return Err(DbError::Busy("Deadlock found".into()));
            }
            Ok(())
        }
        fn begin(&self) -> Result<(), DbError> {
            self.execute("BEGIN", &[])
        }
        fn commit(&self) -> Result<(), DbError> {
            self.execute("COMMIT", &[])
        }
        fn rollback(&self) -> Result<(), DbError> {
            self.execute("ROLLBACK", &[])
        }
    }

    /// A transaction of the one statement `sql`, on a database where the
    /// first `busy` `UPDATE`s lose a lock race: its result, and what the
    /// database was sent.
    fn one_statement(sql: &str, busy: u32) -> (Result<(), Error>, Vec<String>) {
        let db = Recorder {
            busy: RefCell::new(busy),
            ..Recorder::default()
        };
        let result = transaction(&db, |db| Ok(db.execute(sql, &[])?));
        (result, db.log.take())
    }

    #[test]
    fn a_transaction_commits_when_the_work_succeeds() {
        let (result, log) = one_statement("INSERT", 0);
        assert!(result.is_ok());
        assert_eq!(log, ["BEGIN", "INSERT", "COMMIT"]);
    }

    #[test]
    fn a_transaction_rolls_back_and_keeps_the_error_when_the_work_fails() {
        let db = Recorder::default();
        let result: Result<(), Error> = transaction(&db, |db| {
            db.execute("INSERT", &[])?;
            Err(Error::Forbidden("not yours".into()))
        });
        assert!(matches!(result, Err(Error::Forbidden(_))));
        assert_eq!(*db.log.borrow(), ["BEGIN", "INSERT", "ROLLBACK"]);
    }

    #[test]
    fn a_failed_statement_inside_a_transaction_rolls_it_back() {
        let db = Recorder::default();
        let result = transaction(&db, |db| {
            db.execute("INSERT", &[])?;
            db.execute("UPDATE FAIL", &[])?;
            db.execute("NEVER", &[])?;
            Ok(())
        });
        assert!(matches!(result, Err(Error::Internal(_))));
        assert_eq!(
            *db.log.borrow(),
            ["BEGIN", "INSERT", "UPDATE FAIL", "ROLLBACK"]
        );
    }

    #[test]
    fn a_transaction_that_loses_a_lock_race_runs_again_whole() {
        let (result, log) = one_statement("UPDATE", 2);
        assert!(result.is_ok());
        assert_eq!(
            log,
            [
                "BEGIN", "UPDATE", "ROLLBACK", "BEGIN", "UPDATE", "ROLLBACK", "BEGIN", "UPDATE",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn a_transaction_that_keeps_losing_is_a_503_not_a_500() {
        let (result, log) = one_statement("UPDATE", u32::MAX);
        let error = result.unwrap_err();
        assert_eq!(error.status(), 503);
        let begins = log.iter().filter(|s| *s == "BEGIN").count();
        assert_eq!(begins, MAX_TRANSACTION_ATTEMPTS as usize);
    }

    #[test]
    fn other_failures_are_not_retried() {
        let (result, log) = one_statement("UPDATE FAIL", 0);
        assert!(result.is_err());
        assert_eq!(log, ["BEGIN", "UPDATE FAIL", "ROLLBACK"]);
    }

    #[test]
    fn the_pause_between_attempts_grows_with_jitter() {
        for attempt in 1..=3 {
            let base = 10 << (attempt - 1);
            let pause = backoff(attempt).as_millis() as u64;
            assert!((base..2 * base).contains(&pause), "{attempt}: {pause}");
        }
    }
}
