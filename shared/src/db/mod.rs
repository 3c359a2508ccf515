//! Storage access: one connection per request, typed rows, transactions.
//!
//! Handlers and the `store` modules talk to [`Db`], never to a driver. Two
//! backends implement it, chosen by `db_url`: MySQL/MariaDB (production) and
//! Spin's built-in SQLite (the zero-setup default). Both run the same SQL
//! text wherever the dialects agree; where they differ (locking reads,
//! starting a transaction, error texts) the difference lives in the backend.
//! Values cross the boundary as [`Param`] and [`Value`] ([`values`]), not as
//! Spin's types; failures as [`DbError`] ([`errors`]); and every write runs
//! in a [`transaction`] that is retried whole when it loses a lock race.

mod errors;
mod mysql;
mod sqlite;
mod transaction;
mod values;

use crate::config::{Config, Database};
use crate::error::Error;

pub use self::errors::{DbError, OnConstraint};
pub use self::mysql::MySql;
pub use self::sqlite::{MIGRATIONS as SQLITE_MIGRATIONS, Sqlite, statements};
pub use self::transaction::{MAX_TRANSACTION_ATTEMPTS, RETRY_BUDGET, transaction};
pub use self::values::{FromValue, Param, Row, Rows, TypeMismatch, Value};

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
        Database::MySql(url) => Box::new(MySql::open(url, config.causal_reads)?),
        Database::Sqlite(label) => Box::new(Sqlite::open(label)?),
    })
}
