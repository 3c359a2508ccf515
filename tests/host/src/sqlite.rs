//! `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0` on rusqlite
//! 0.34.0 (bundling SQLite 3.49.1), the version Spin 3.6.3 uses, with Spin's
//! semantics, read off crates/factor-sqlite/src/{lib,host}.rs,
//! crates/sqlite-inproc/src/lib.rs and crates/sqlite/src/lib.rs at v3.6.3:
//!
//! - `open(label)` is `access-denied` unless the component lists the label
//!   in `sqlite_databases`, and `no-such-database` for a listed label with
//!   no database (startup refuses that, so a guest cannot see it). Opening
//!   `default` creates its directory, or fails with `invalid-connection`.
//!   An instance may hold 256 connections; the next `open` is
//!   `io("too many connections opened")`.
//! - Every `open` is a new SQLite connection, itself opened on first use
//!   with rusqlite's defaults: read-write-create, a 5 s busy timeout, no
//!   PRAGMA, the default rollback journal. The bundled SQLite is compiled
//!   with `SQLITE_DEFAULT_FOREIGN_KEYS=1`, so foreign keys are enforced.
//! - `execute` prepares only the first statement of its string (the rest
//!   is ignored), binds the parameters in order, and returns every row with
//!   each value mapped by its storage class. Every SQLite error is
//!   `io(<rusqlite's message>)`, e.g. `UNIQUE constraint failed: t.name` or
//!   `database is locked`. A result over 128 MiB is `io("query result
//!   exceeds limit of 134217728 bytes")`.
//! - A text value that is not UTF-8 panics in Spin's blocking task, so the
//!   guest gets `io("internal runtime error")` and the connection's lock is
//!   poisoned: every later `execute` on it gets the same, and `changes` or
//!   `last-insert-rowid` trap. This host reproduces that without a panic.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use rusqlite::types::ValueRef;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite as v2;
use crate::bindings::spin::sqlite::sqlite as v3;
use crate::instance::RequestState;
use crate::locked_connection::LockedConnection;
use crate::runtime_config::{Location, SqliteBackend, create_database_dir};

/// Spin's limit on a buffered result.
const MAX_RESULT_BYTES: usize = 128 << 20;

/// Spin's connection table holds this many per instance.
const MAX_CONNECTIONS: usize = 256;

/// What the guest gets when Spin's blocking task panics.
const INTERNAL_ERROR: &str = "internal runtime error";

/// The app's databases, by label.
#[derive(Debug)]
pub(crate) struct Databases {
    backends: BTreeMap<String, SqliteBackend>,
}

impl Databases {
    pub fn new(backends: BTreeMap<String, SqliteBackend>) -> Self {
        Self { backends }
    }

    /// Whether `label` has a database.
    pub fn is_defined(&self, label: &str) -> bool {
        self.backends.contains_key(label)
    }

    /// The directory the default database needs, which Spin creates at
    /// startup when a component uses `default`.
    pub fn prepare_default(&self) -> anyhow::Result<()> {
        match self.backends.get("default") {
            Some(SqliteBackend::Default(location)) => create_database_dir(location),
            _ => Ok(()),
        }
    }

    /// How Spin describes the database at startup.
    pub fn summary(&self, label: &str) -> String {
        match self.backends.get(label) {
            Some(SqliteBackend::Default(location) | SqliteBackend::Configured(location)) => {
                location.describe("database")
            }
            None => "nowhere".to_owned(),
        }
    }

    fn connect(&self, label: &str) -> Option<Result<SqliteConnection, v3::Error>> {
        let location = match self.backends.get(label)? {
            SqliteBackend::Default(location) => match create_database_dir(location) {
                Ok(()) => location,
                Err(_) => return Some(Err(v3::Error::InvalidConnection)),
            },
            SqliteBackend::Configured(location) => location,
        };
        Some(Ok(SqliteConnection {
            location: location.clone(),
            database: OnceLock::new(),
        }))
    }
}

/// One component instance's SQLite state.
#[derive(Debug)]
pub(crate) struct SqliteInstance {
    databases: Arc<Databases>,
    allowed: Arc<HashSet<String>>,
    open: usize,
}

impl SqliteInstance {
    pub fn new(databases: Arc<Databases>, allowed: Arc<HashSet<String>>) -> Self {
        Self {
            databases,
            allowed,
            open: 0,
        }
    }
}

/// A connection the guest holds.
#[derive(Debug)]
pub struct SqliteConnection {
    location: Location,
    database: OnceLock<Arc<LockedConnection>>,
}

impl SqliteConnection {
    /// The SQLite connection, opened on first use as Spin opens it.
    fn database(&self) -> Result<Arc<LockedConnection>, v3::Error> {
        if let Some(database) = self.database.get() {
            return Ok(database.clone());
        }
        let database = Arc::new(
            LockedConnection::open(&self.location).map_err(|e| v3::Error::Io(e.to_string()))?,
        );
        Ok(self.database.get_or_init(|| database).clone())
    }
}

impl RequestState {
    async fn sqlite_open(
        &mut self,
        label: String,
    ) -> Result<Resource<SqliteConnection>, v3::Error> {
        let state = &mut self.sqlite;
        if !state.allowed.contains(&label) {
            return Err(v3::Error::AccessDenied);
        }
        let connection = state
            .databases
            .connect(&label)
            .ok_or(v3::Error::NoSuchDatabase)??;
        if state.open >= MAX_CONNECTIONS {
            return Err(v3::Error::Io("too many connections opened".into()));
        }
        let handle = self
            .table
            .push(connection)
            .map_err(|e| v3::Error::Io(e.to_string()))?;
        self.sqlite.open += 1;
        Ok(handle)
    }

    async fn sqlite_execute(
        &mut self,
        connection: &Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> Result<v3::QueryResult, v3::Error> {
        self.count_statement();
        let database = self
            .table
            .get(connection)
            .map_err(|_| v3::Error::InvalidConnection)?
            .database()?;
        tokio::task::spawn_blocking(move || execute(&database, &statement, parameters))
            .await
            .map_err(|_| v3::Error::Io(INTERNAL_ERROR.into()))?
    }

    /// The open connection for `changes` and `last-insert-rowid`, where
    /// Spin traps on any failure.
    fn sqlite_database(
        &mut self,
        connection: &Resource<SqliteConnection>,
    ) -> wasmtime::Result<Arc<LockedConnection>> {
        let database = self.table.get(connection)?.database().map_err(|e| {
            wasmtime::Error::msg(format!("cannot open the SQLite connection: {e:?}"))
        })?;
        Ok(database)
    }

    async fn sqlite_drop(
        &mut self,
        connection: Resource<SqliteConnection>,
    ) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.sqlite.open -= 1;
        Ok(())
    }
}

/// Runs the first statement of `sql` and reads every row, as Spin does.
fn execute(
    database: &LockedConnection,
    sql: &str,
    parameters: Vec<v3::Value>,
) -> Result<v3::QueryResult, v3::Error> {
    let io = |e: rusqlite::Error| v3::Error::Io(e.to_string());
    let connection = database
        .lock()
        .ok_or_else(|| v3::Error::Io(INTERNAL_ERROR.into()))?;
    let mut statement = connection.prepare_cached(sql).map_err(io)?;
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(ToOwned::to_owned)
        .collect();
    let width = columns.len();
    let mut rows = statement
        .query(rusqlite::params_from_iter(
            parameters.into_iter().map(to_sql),
        ))
        .map_err(io)?;
    let mut result = Vec::new();
    let mut bytes = size_of::<v3::QueryResult>();
    while let Some(row) = rows.next().map_err(io)? {
        let mut values = Vec::with_capacity(width);
        for index in 0..width {
            let value = match row.get_ref(index).map_err(io)? {
                ValueRef::Null => v3::Value::Null,
                ValueRef::Integer(i) => v3::Value::Integer(i),
                ValueRef::Real(r) => v3::Value::Real(r),
                ValueRef::Text(bytes) => match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => v3::Value::Text(text),
                    Err(_) => {
                        database.poison();
                        return Err(v3::Error::Io(INTERNAL_ERROR.into()));
                    }
                },
                ValueRef::Blob(b) => v3::Value::Blob(b.to_vec()),
            };
            values.push(value);
        }
        bytes += values.iter().map(memory_size).sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(v3::Error::Io(format!(
                "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
            )));
        }
        result.push(v3::RowResult { values });
    }
    Ok(v3::QueryResult {
        columns,
        rows: result,
    })
}

fn to_sql(value: v3::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match value {
        v3::Value::Null => Value::Null,
        v3::Value::Integer(i) => Value::Integer(i),
        v3::Value::Real(r) => Value::Real(r),
        v3::Value::Text(t) => Value::Text(t),
        v3::Value::Blob(b) => Value::Blob(b),
    }
}

/// A value's size as Spin counts it against the limit.
fn memory_size(value: &v3::Value) -> usize {
    size_of::<v3::Value>()
        + match value {
            v3::Value::Text(t) => t.len(),
            v3::Value::Blob(b) => b.len(),
            v3::Value::Null | v3::Value::Integer(_) | v3::Value::Real(_) => 0,
        }
}

impl v3::Host for RequestState {}

impl v3::HostConnection for RequestState {
    async fn open(&mut self, database: String) -> Result<Resource<SqliteConnection>, v3::Error> {
        self.sqlite_open(database).await
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> Result<v3::QueryResult, v3::Error> {
        self.sqlite_execute(&connection, statement, parameters)
            .await
    }

    async fn last_insert_rowid(
        &mut self,
        connection: Resource<SqliteConnection>,
    ) -> wasmtime::Result<i64> {
        let database = self.sqlite_database(&connection)?;
        let connection = database.lock().ok_or_else(poisoned)?;
        Ok(connection.last_insert_rowid())
    }

    async fn changes(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<u64> {
        let database = self.sqlite_database(&connection)?;
        let connection = database.lock().ok_or_else(poisoned)?;
        Ok(connection.changes())
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.sqlite_drop(connection).await
    }
}

fn poisoned() -> wasmtime::Error {
    wasmtime::Error::msg("the SQLite connection's lock is poisoned, as Spin's is after a panic")
}

impl v2::Host for RequestState {}

impl v2::HostConnection for RequestState {
    async fn open(&mut self, database: String) -> Result<Resource<SqliteConnection>, v2::Error> {
        self.sqlite_open(database).await.map_err(to_v2_error)
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> Result<v2::QueryResult, v2::Error> {
        let parameters = parameters.into_iter().map(from_v2_value).collect();
        let result = self
            .sqlite_execute(&connection, statement, parameters)
            .await
            .map_err(to_v2_error)?;
        Ok(v2::QueryResult {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|row| v2::RowResult {
                    values: row.values.into_iter().map(to_v2_value).collect(),
                })
                .collect(),
        })
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.sqlite_drop(connection).await
    }
}

fn to_v2_error(error: v3::Error) -> v2::Error {
    match error {
        v3::Error::NoSuchDatabase => v2::Error::NoSuchDatabase,
        v3::Error::AccessDenied => v2::Error::AccessDenied,
        v3::Error::InvalidConnection => v2::Error::InvalidConnection,
        v3::Error::DatabaseFull => v2::Error::DatabaseFull,
        v3::Error::Io(message) => v2::Error::Io(message),
    }
}

fn to_v2_value(value: v3::Value) -> v2::Value {
    match value {
        v3::Value::Integer(i) => v2::Value::Integer(i),
        v3::Value::Real(r) => v2::Value::Real(r),
        v3::Value::Text(t) => v2::Value::Text(t),
        v3::Value::Blob(b) => v2::Value::Blob(b),
        v3::Value::Null => v2::Value::Null,
    }
}

fn from_v2_value(value: v2::Value) -> v3::Value {
    match value {
        v2::Value::Integer(i) => v3::Value::Integer(i),
        v2::Value::Real(r) => v3::Value::Real(r),
        v2::Value::Text(t) => v3::Value::Text(t),
        v2::Value::Blob(b) => v3::Value::Blob(b),
        v2::Value::Null => v3::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> LockedConnection {
        LockedConnection::open(&Location::InMemory).unwrap()
    }

    fn run(database: &LockedConnection, sql: &str, parameters: Vec<v3::Value>) -> v3::QueryResult {
        execute(database, sql, parameters).unwrap()
    }

    #[test]
    fn values_map_by_storage_class_not_declared_type() {
        let database = memory();
        run(&database, "CREATE TABLE t (a INTEGER, b TEXT)", vec![]);
        run(
            &database,
            "INSERT INTO t VALUES (?, ?)",
            vec![v3::Value::Text("7".into()), v3::Value::Real(1.5)],
        );
        let result = run(
            &database,
            "SELECT a, b, NULL AS n, x'00ff' AS x FROM t",
            vec![],
        );
        assert_eq!(result.columns, ["a", "b", "n", "x"]);
        // Column affinity turned '7' into an integer and 1.5 into text.
        assert!(matches!(
            result.rows[0].values[..],
            [
                v3::Value::Integer(7),
                v3::Value::Text(ref t),
                v3::Value::Null,
                v3::Value::Blob(ref b),
            ] if t == "1.5" && b == &[0, 255]
        ));
    }

    #[test]
    fn only_the_first_statement_runs() {
        let database = memory();
        run(&database, "CREATE TABLE a (x); CREATE TABLE b (x)", vec![]);
        let tables = run(
            &database,
            "SELECT name FROM sqlite_master ORDER BY name",
            vec![],
        );
        assert_eq!(tables.rows.len(), 1);
    }

    #[test]
    fn text_that_is_not_utf8_poisons_the_connection() {
        let database = memory();
        let error = execute(&database, "SELECT CAST(x'ff' AS TEXT)", vec![]).unwrap_err();
        assert!(matches!(error, v3::Error::Io(ref m) if m == INTERNAL_ERROR));
        let later = execute(&database, "SELECT 1", vec![]).unwrap_err();
        assert!(matches!(later, v3::Error::Io(ref m) if m == INTERNAL_ERROR));
    }

    #[test]
    fn sqlite_errors_are_io_with_sqlites_message() {
        let database = memory();
        let error = execute(&database, "SELEC 1", vec![]).unwrap_err();
        assert!(
            matches!(error, v3::Error::Io(ref m) if m == "near \"SELEC\": syntax error in SELEC 1 at offset 0"),
            "{error:?}"
        );
        let error = execute(&database, "SELECT ?", vec![]).unwrap_err();
        assert!(
            matches!(error, v3::Error::Io(ref m) if m == "Wrong number of parameters passed to query. Got 0, needed 1"),
            "{error:?}"
        );
    }
}
