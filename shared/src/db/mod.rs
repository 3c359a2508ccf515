//! Storage access: one connection per request, typed rows, transactions.
//!
//! Handlers and the `store` modules talk to [`Db`], never to a driver. Two
//! backends implement it, chosen by `db_url`: MySQL/MariaDB (production) and
//! Spin's built-in SQLite (the zero-setup default). Both run the same SQL
//! text wherever the dialects agree; where they differ (locking reads,
//! starting a transaction, error texts) the difference lives in the backend.
//! Values cross the boundary as [`Param`] and [`Value`], not as Spin's types.

mod mysql;
mod sqlite;

use std::fmt;

use crate::config::{Config, Database};
use crate::error::Error;
use crate::log;
use crate::snowflake::Id;

pub use self::mysql::MySql;
pub use self::sqlite::{MIGRATIONS as SQLITE_MIGRATIONS, Sqlite, statements};

/// A statement parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// Any signed integer column.
    Int(i64),
    /// Text.
    Text(String),
}

/// A value read from a result set.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any signed integer (TINYINT to BIGINT).
    Int(i64),
    /// Any unsigned integer.
    UInt(u64),
    /// FLOAT or DOUBLE.
    Float(f64),
    /// CHAR, VARCHAR, TEXT.
    Text(String),
    /// BINARY, VARBINARY, BLOB.
    Bytes(Vec<u8>),
}

/// Why a statement failed, in the terms the rest of the code acts on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DbError {
    /// The database could not be reached, or the connection was lost.
    #[error("database unreachable: {0}")]
    Unavailable(String),
    /// The statement lost a race for a lock (a deadlock, a lock wait that
    /// timed out, SQLite's `database is locked`): running the whole
    /// transaction again may well succeed.
    #[error("lock conflict: {0}")]
    Busy(String),
    /// The statement ran past its time limit.
    #[error("statement timed out: {0}")]
    Timeout(String),
    /// A unique key was violated; `key` is the index name (`PRIMARY` for the
    /// primary key).
    #[error("duplicate entry for key {key}: {message}")]
    Duplicate {
        /// The violated key.
        key: String,
        /// The server's message.
        message: String,
    },
    /// A row refers to one that does not exist (or no longer does).
    /// `constraint` is the foreign key's name, when the backend says
    /// (MariaDB does; SQLite does not).
    #[error("foreign key violated: {message}")]
    ForeignKey {
        /// The violated constraint.
        constraint: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The statement failed for another reason.
    #[error("query failed: {0}")]
    Query(String),
    /// A row did not have the shape the code expected.
    #[error("cannot decode row: {0}")]
    Decode(String),
}

impl From<DbError> for Error {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(_) | DbError::Busy(_) | DbError::Timeout(_) => {
                Error::Unavailable(error.into())
            }
            _ => Error::Internal(error.into()),
        }
    }
}

impl Error {
    /// Whether this is a lost lock race, which a retry of the whole
    /// transaction may win.
    fn is_busy(&self) -> bool {
        matches!(self, Error::Unavailable(cause) if matches!(cause.downcast_ref(), Some(DbError::Busy(_))))
    }
}

/// Which SQL dialect a connection speaks, for the few statements whose
/// text must differ (upserts). Everything else is one text for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

/// One open connection, i.e. one database session.
pub trait Db {
    /// The connection's dialect.
    fn dialect(&self) -> Dialect;
    /// Runs a statement that returns rows.
    fn query(&self, sql: &str, params: &[Param]) -> Result<Rows, DbError>;
    /// Runs a `SELECT` as a locking read: the rows it reads stay locked
    /// until the transaction ends (MySQL appends `FOR UPDATE`; SQLite's
    /// `BEGIN IMMEDIATE` already holds the whole database). Call inside a
    /// transaction.
    fn query_locked(&self, sql: &str, params: &[Param]) -> Result<Rows, DbError>;
    /// Runs a statement that returns no rows.
    fn execute(&self, sql: &str, params: &[Param]) -> Result<(), DbError>;
    /// Starts a transaction.
    fn begin(&self) -> Result<(), DbError>;
    /// Commits the open transaction.
    fn commit(&self) -> Result<(), DbError>;
    /// Rolls back the open transaction.
    fn rollback(&self) -> Result<(), DbError>;
}

/// Opens the request's one connection to the configured database.
pub fn connect(config: &Config) -> Result<Box<dyn Db>, Error> {
    Ok(match config.database() {
        Database::MySql(url) => Box::new(MySql::open(url)?),
        Database::Sqlite(label) => Box::new(Sqlite::open(label)?),
    })
}

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
                if error.is_busy()
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

/// Turns a violated constraint into a client error, leaving every other
/// failure as it was: the one place where database constraints become HTTP
/// answers.
pub trait OnConstraint<T> {
    /// If the error is a duplicate on unique key `key`, returns `make()`.
    fn on_duplicate(self, key: &str, make: impl FnOnce() -> Error) -> Result<T, Error>;
    /// If the error is a violation of foreign key `constraint` (a row
    /// referring to one that is gone), returns `make()`.
    fn on_foreign_key(self, constraint: &str, make: impl FnOnce() -> Error) -> Result<T, Error>;
}

impl<T, E: Into<Error>> OnConstraint<T> for Result<T, E> {
    fn on_duplicate(self, key: &str, make: impl FnOnce() -> Error) -> Result<T, Error> {
        self.map_err(|error| {
            let error = error.into();
            match cause(&error) {
                Some(DbError::Duplicate { key: violated, .. }) if violated == key => make(),
                _ => error,
            }
        })
    }

    fn on_foreign_key(self, constraint: &str, make: impl FnOnce() -> Error) -> Result<T, Error> {
        self.map_err(|error| {
            let error = error.into();
            match cause(&error) {
                Some(DbError::ForeignKey {
                    constraint: Some(violated),
                    ..
                }) if violated == constraint => make(),
                _ => error,
            }
        })
    }
}

/// The database error behind an internal error, if that is what it is.
fn cause(error: &Error) -> Option<&DbError> {
    match error {
        Error::Internal(cause) => cause.downcast_ref::<DbError>(),
        _ => None,
    }
}

/// A result set: column names and rows of values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    /// A result set from its parts; each row must have one value per column.
    pub fn new(columns: Vec<String>, rows: Vec<Vec<Value>>) -> Result<Self, DbError> {
        if let Some(bad) = rows.iter().find(|row| row.len() != columns.len()) {
            return Err(DbError::Decode(format!(
                "row has {} values for {} columns",
                bad.len(),
                columns.len()
            )));
        }
        Ok(Self { columns, rows })
    }

    /// The rows, in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    /// Decodes every row with `decode`, failing on the first bad one.
    pub fn decode_all<T>(
        &self,
        decode: impl Fn(Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        self.iter().map(decode).collect()
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One row, readable by column name.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl Row<'_> {
    /// The value of `column`, decoded as `T`.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, DbError> {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| DbError::Decode(format!("no column `{column}`")))?;
        T::from_value(&self.values[index])
            .map_err(|expected| DbError::Decode(format!("column `{column}`: {expected}")))
    }
}

/// A Rust type a column value decodes into.
pub trait FromValue: Sized {
    /// Decodes `value`, or says what was expected.
    fn from_value(value: &Value) -> Result<Self, TypeMismatch>;
}

/// A value of the wrong type, for [`FromValue`].
#[derive(Debug)]
pub struct TypeMismatch {
    expected: &'static str,
    found: String,
}

impl fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

fn mismatch(expected: &'static str, value: &Value) -> TypeMismatch {
    let found = match value {
        Value::Null => "NULL",
        Value::Int(_) => "a signed integer",
        Value::UInt(_) => "an unsigned integer",
        Value::Float(_) => "a float",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
    };
    TypeMismatch {
        expected,
        found: found.into(),
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::Int(v) => Ok(*v),
            Value::UInt(v) => i64::try_from(*v).map_err(|_| mismatch("an i64", value)),
            _ => Err(mismatch("an integer", value)),
        }
    }
}

impl FromValue for u64 {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::UInt(v) => Ok(*v),
            Value::Int(v) => u64::try_from(*v).map_err(|_| mismatch("a u64", value)),
            _ => Err(mismatch("an unsigned integer", value)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(mismatch("text", value)),
        }
    }
}

impl FromValue for Id {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        let raw = i64::from_value(value)?;
        Id::from_i64(raw).map_err(|_| mismatch("a non-negative id", value))
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl From<Id> for Param {
    fn from(id: Id) -> Self {
        Param::Int(id.as_i64())
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn rows() -> Rows {
        Rows::new(
            vec!["id".into(), "name".into(), "bio".into()],
            vec![vec![Value::Int(7), Value::Text("ada".into()), Value::Null]],
        )
        .unwrap()
    }

    #[test]
    fn columns_decode_by_name() {
        let rows = rows();
        let row = rows.first().unwrap();
        assert_eq!(row.get::<i64>("id").unwrap(), 7);
        assert_eq!(row.get::<String>("name").unwrap(), "ada");
        assert_eq!(row.get::<Option<String>>("bio").unwrap(), None);
    }

    #[test]
    fn a_missing_column_is_a_decode_error_not_a_panic() {
        let rows = rows();
        let error = rows.first().unwrap().get::<i64>("nope").unwrap_err();
        assert_eq!(error, DbError::Decode("no column `nope`".into()));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_decode_error() {
        let rows = rows();
        let row = rows.first().unwrap();
        assert!(matches!(row.get::<i64>("name"), Err(DbError::Decode(_))));
        assert!(matches!(row.get::<String>("bio"), Err(DbError::Decode(_))));
    }

    #[test]
    fn a_negative_number_is_not_an_id() {
        let rows = Rows::new(vec!["id".into()], vec![vec![Value::Int(-1)]]).unwrap();
        assert!(rows.first().unwrap().get::<Id>("id").is_err());
    }

    #[test]
    fn a_ragged_result_set_is_refused() {
        assert!(Rows::new(vec!["a".into()], vec![vec![]]).is_err());
    }

    #[test]
    fn unsigned_values_decode_as_i64_when_they_fit() {
        let rows = Rows::new(vec!["n".into()], vec![vec![Value::UInt(5)]]).unwrap();
        assert_eq!(rows.first().unwrap().get::<i64>("n").unwrap(), 5);
        let big = Rows::new(vec!["n".into()], vec![vec![Value::UInt(u64::MAX)]]).unwrap();
        assert!(big.first().unwrap().get::<i64>("n").is_err());
    }

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

    #[test]
    fn a_transaction_commits_when_the_work_succeeds() {
        let db = Recorder::default();
        let result = transaction(&db, |db| Ok(db.execute("INSERT", &[])?));
        assert!(result.is_ok());
        assert_eq!(*db.log.borrow(), ["BEGIN", "INSERT", "COMMIT"]);
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
        let db = Recorder {
            busy: RefCell::new(2),
            ..Recorder::default()
        };
        let result = transaction(&db, |db| Ok(db.execute("UPDATE", &[])?));
        assert!(result.is_ok());
        assert_eq!(
            *db.log.borrow(),
            [
                "BEGIN", "UPDATE", "ROLLBACK", "BEGIN", "UPDATE", "ROLLBACK", "BEGIN", "UPDATE",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn a_transaction_that_keeps_losing_is_a_503_not_a_500() {
        let db = Recorder {
            busy: RefCell::new(u32::MAX),
            ..Recorder::default()
        };
        let result = transaction(&db, |db| Ok(db.execute("UPDATE", &[])?));
        let error = result.unwrap_err();
        assert_eq!(error.status(), 503);
        let begins = db.log.borrow().iter().filter(|s| *s == "BEGIN").count();
        assert_eq!(begins, MAX_TRANSACTION_ATTEMPTS as usize);
    }

    #[test]
    fn other_failures_are_not_retried() {
        let db = Recorder::default();
        let result = transaction(&db, |db| Ok(db.execute("UPDATE FAIL", &[])?));
        assert!(result.is_err());
        assert_eq!(*db.log.borrow(), ["BEGIN", "UPDATE FAIL", "ROLLBACK"]);
    }

    #[test]
    fn the_pause_between_attempts_grows_with_jitter() {
        for attempt in 1..=3 {
            let base = 10 << (attempt - 1);
            let pause = backoff(attempt).as_millis() as u64;
            assert!((base..2 * base).contains(&pause), "{attempt}: {pause}");
        }
    }

    #[test]
    fn only_the_named_key_becomes_a_client_error() {
        let duplicate = |key: &str| -> Result<(), DbError> {
            Err(DbError::Duplicate {
                key: key.into(),
                message: String::new(),
            })
        };
        let taken = || Error::Conflict("taken".into());
        assert!(matches!(
            duplicate("username").on_duplicate("username", taken),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            duplicate("PRIMARY").on_duplicate("username", taken),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn only_the_named_foreign_key_becomes_a_client_error() {
        let orphan = |constraint: Option<&str>| -> Result<(), DbError> {
            Err(DbError::ForeignKey {
                constraint: constraint.map(str::to_owned),
                message: String::new(),
            })
        };
        let gone = || Error::NotFound("gone".into());
        assert!(matches!(
            orphan(Some("comments_post")).on_foreign_key("comments_post", gone),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            orphan(Some("comments_author")).on_foreign_key("comments_post", gone),
            Err(Error::Internal(_))
        ));
        assert!(matches!(
            orphan(None).on_foreign_key("comments_post", gone),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn a_duplicate_still_counts_after_becoming_an_error() {
        let error: Result<(), Error> = Err(DbError::Duplicate {
            key: "username".into(),
            message: String::new(),
        }
        .into());
        assert!(matches!(
            error.on_duplicate("username", || Error::Conflict("taken".into())),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn an_unreachable_database_becomes_a_503() {
        let error: Error = DbError::Unavailable("refused".into()).into();
        assert_eq!(error.status(), 503);
    }
}
