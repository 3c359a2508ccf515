//! The SQLite backend, over Spin's built-in database (`spin_sdk::sqlite`):
//! the zero-setup default, for `spin up` on a laptop.
//!
//! Each `open` is its own SQLite connection on the host, which waits up to
//! 5 s for another connection's write lock before failing with `database is
//! locked`. Spin reports every SQLite error as `io(text)`; this module sorts
//! them into [`DbError`] by their text.
//!
//! The schema applies itself: [`Sqlite::open`] reads `PRAGMA user_version`
//! (one cheap local statement) and, when it is behind [`MIGRATIONS`], brings
//! the database up to date in one `BEGIN IMMEDIATE` transaction. Many first
//! requests may race; the write lock lets one migrate, and the others find
//! the new version once they hold the lock.

use spin_sdk::sqlite::{self, Connection};

use crate::log;

use super::{Db, DbError, Dialect, Param, Rows, Value};

/// The schema, version by version: `migrations/sqlite/NNNN_name.sql`.
/// Version `n` is `MIGRATIONS[n - 1]`; a test checks that this list is the
/// directory's.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_users.sql",
        include_str!("../../../migrations/sqlite/0001_users.sql"),
    ),
    (
        "0002_posts.sql",
        include_str!("../../../migrations/sqlite/0002_posts.sql"),
    ),
    (
        "0003_comments.sql",
        include_str!("../../../migrations/sqlite/0003_comments.sql"),
    ),
    (
        "0004_counters.sql",
        include_str!("../../../migrations/sqlite/0004_counters.sql"),
    ),
    (
        "0005_local_settings.sql",
        include_str!("../../../migrations/sqlite/0005_local_settings.sql"),
    ),
    (
        "0006_idempotency_keys.sql",
        include_str!("../../../migrations/sqlite/0006_idempotency_keys.sql"),
    ),
    (
        "0007_accounts.sql",
        include_str!("../../../migrations/sqlite/0007_accounts.sql"),
    ),
    (
        "0008_search.sql",
        include_str!("../../../migrations/sqlite/0008_search.sql"),
    ),
];

/// One SQLite connection.
pub struct Sqlite {
    connection: Connection,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sqlite")
    }
}

impl Sqlite {
    /// Opens the database Spin knows as `label` (`default` is the built-in
    /// one) and makes sure its schema is current.
    pub fn open(label: &str) -> Result<Self, DbError> {
        let connection = Connection::open(label).map_err(classify)?;
        let db = Self { connection };
        db.ensure_schema()?;
        Ok(db)
    }

    fn user_version(&self) -> Result<usize, DbError> {
        let rows = self.query("PRAGMA user_version", &[])?;
        let version: i64 = rows
            .first()
            .ok_or_else(|| DbError::Decode("PRAGMA user_version returned no row".into()))?
            .get("user_version")?;
        usize::try_from(version)
            .map_err(|_| DbError::Decode(format!("negative schema version {version}")))
    }

    /// Applies the migrations the database lacks, all in one transaction.
    fn ensure_schema(&self) -> Result<(), DbError> {
        let latest = MIGRATIONS.len();
        match self.user_version()? {
            current if current == latest => return Ok(()),
            current if current > latest => return Err(newer_schema(current)),
            _ => {}
        }
        self.begin()?;
        match self.migrate() {
            Ok(applied) => {
                self.commit()?;
                if let Some(from) = applied {
                    log::info(
                        "sqlite_migrated",
                        &[
                            ("from_version", from.into()),
                            ("to_version", latest.into()),
                            (
                                "note",
                                format!("migrated from schema version {from} to {latest}").into(),
                            ),
                        ],
                    );
                }
                Ok(())
            }
            Err(error) => {
                if let Err(rollback) = self.rollback() {
                    log::warn("rollback_failed", &[("error", rollback.to_string().into())]);
                }
                Err(error)
            }
        }
    }

    /// Inside the write lock: reads the version again (another request may
    /// have migrated meanwhile) and applies what is missing. Returns the
    /// version it started from, or `None` if there was nothing to do.
    fn migrate(&self) -> Result<Option<usize>, DbError> {
        let current = self.user_version()?;
        let latest = MIGRATIONS.len();
        if current >= latest {
            return if current == latest {
                Ok(None)
            } else {
                Err(newer_schema(current))
            };
        }
        for (name, script) in &MIGRATIONS[current..] {
            for statement in statements(script) {
                self.execute(statement, &[])
                    .map_err(|e| DbError::Query(format!("migration {name}: {e}")))?;
            }
        }
        // PRAGMA takes no parameters; `latest` is a number we control.
        self.execute(&format!("PRAGMA user_version = {latest}"), &[])?;
        Ok(Some(current))
    }
}

fn newer_schema(version: usize) -> DbError {
    DbError::Query(format!(
        "the database's schema version {version} is newer than this build knows ({}); \
         run a newer Omni or use a fresh database",
        MIGRATIONS.len()
    ))
}

impl Db for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        let result = self
            .connection
            .execute(sql, &to_values(params))
            .map_err(classify)?;
        let rows = result
            .rows
            .into_iter()
            .map(|row| row.values.into_iter().map(from_value).collect())
            .collect();
        Rows::new(result.columns, rows)
    }

    fn query_locked(&self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        // `BEGIN IMMEDIATE` already holds the database's one write lock, so
        // every read inside the transaction is as good as locked.
        self.query(sql, params)
    }

    fn execute(&self, sql: &str, params: &[Param]) -> Result<(), DbError> {
        self.connection
            .execute(sql, &to_values(params))
            .map(drop)
            .map_err(classify)
    }

    fn begin(&self) -> Result<(), DbError> {
        // Take the write lock up front: a transaction that reads first and
        // writes later could otherwise fail half way with `database is
        // locked` when another connection got there in between.
        self.execute("BEGIN IMMEDIATE", &[])
    }

    fn commit(&self) -> Result<(), DbError> {
        self.execute("COMMIT", &[])
    }

    fn rollback(&self) -> Result<(), DbError> {
        self.execute("ROLLBACK", &[])
    }
}

fn to_values(params: &[Param]) -> Vec<sqlite::Value> {
    params
        .iter()
        .map(|p| match p {
            Param::Null => sqlite::Value::Null,
            Param::Int(v) => sqlite::Value::Integer(*v),
            Param::Text(s) => sqlite::Value::Text(s.clone()),
        })
        .collect()
}

fn from_value(value: sqlite::Value) -> Value {
    match value {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(v) => Value::Int(v),
        sqlite::Value::Real(v) => Value::Float(v),
        sqlite::Value::Text(s) => Value::Text(s),
        sqlite::Value::Blob(b) => Value::Bytes(b),
    }
}

/// Sorts a Spin SQLite error into a [`DbError`].
fn classify(error: sqlite::Error) -> DbError {
    use sqlite::Error as E;
    match error {
        E::Io(text) if is_busy(&text) => DbError::Busy(text),
        // SQLite does not say which foreign key.
        E::Io(text) if text.contains("FOREIGN KEY constraint failed") => DbError::ForeignKey {
            constraint: None,
            message: text,
        },
        E::Io(text) => match duplicate_key(&text) {
            Some(key) => DbError::Duplicate { key, message: text },
            None => DbError::Query(text),
        },
        E::DatabaseFull => DbError::Unavailable("the database is full".into()),
        E::NoSuchDatabase => DbError::Query(
            "no such SQLite database: check db_url and the runtime configuration".into(),
        ),
        E::AccessDenied => DbError::Query(
            "access to the SQLite database denied: the component needs \
             `sqlite_databases` in spin.toml"
                .into(),
        ),
        E::InvalidConnection => DbError::Query("invalid SQLite connection".into()),
    }
}

/// Whether SQLite gave up waiting for another connection's lock.
fn is_busy(text: &str) -> bool {
    text.contains("database is locked") || text.contains("database table is locked")
}

/// The key a `UNIQUE constraint failed: table.column` error violated, named
/// as the MySQL schema names it: the `id` column is the `PRIMARY` key, and
/// every other unique key is named after its column.
fn duplicate_key(text: &str) -> Option<String> {
    let columns = text.split("UNIQUE constraint failed: ").nth(1)?;
    let first = columns.split(',').next()?.trim();
    let column = first.rsplit('.').next().unwrap_or(first);
    Some(if column == "id" {
        "PRIMARY".to_owned()
    } else {
        column.to_owned()
    })
}

/// The statements of a migration script, split on the `;` that end them.
/// Understands `--` comments, `/* */` comments, quoted strings and names,
/// and `CREATE TRIGGER … BEGIN … END`, whose body's own `;` do not end it.
pub fn statements(script: &str) -> Vec<&str> {
    let bytes = script.as_bytes();
    let mut statements = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = script[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = script[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            quote @ (b'\'' | b'"' | b'`') => {
                // A doubled quote inside is an escaped quote: the scan just
                // closes and reopens.
                i = script[i + 1..]
                    .find(char::from(quote))
                    .map_or(bytes.len(), |n| i + 1 + n + 1);
            }
            b';' if in_trigger_body(&script[start..i]) => i += 1,
            b';' => {
                push_statement(&mut statements, &script[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push_statement(&mut statements, &script[start..]);
    statements
}

/// Whether `text`, a statement so far, is a `CREATE TRIGGER` whose body
/// has not reached its `END` yet.
fn in_trigger_body(text: &str) -> bool {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ");
    let words: Vec<String> = code
        .split_whitespace()
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    let is_trigger = matches!(
        words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["CREATE", "TRIGGER", ..] | ["CREATE", "TEMP" | "TEMPORARY", "TRIGGER"]
    );
    let ended = code
        .split_whitespace()
        .last()
        .is_some_and(|word| word.eq_ignore_ascii_case("END"));
    is_trigger && !ended
}

/// Adds `text` as a statement unless it holds only space and comments.
fn push_statement<'a>(statements: &mut Vec<&'a str>, text: &'a str) {
    let has_code = text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--")
    });
    if has_code {
        statements.push(text.trim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_list_is_the_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|(name, _)| *name).collect();
        assert_eq!(files, listed);
        for (index, name) in listed.iter().enumerate() {
            assert!(
                name.starts_with(&format!("{:04}_", index + 1)),
                "{name} is not version {}",
                index + 1
            );
        }
    }

    #[test]
    fn every_migration_has_statements() {
        for (name, script) in MIGRATIONS {
            assert!(!statements(script).is_empty(), "{name}");
        }
    }

    #[test]
    fn statements_split_on_semicolons_outside_comments_and_quotes() {
        let script = "-- a comment; with a semicolon\n\
                      CREATE TABLE a (x TEXT DEFAULT 'x;y'); /* c; */\n\
                      INSERT INTO a VALUES ('it''s; fine');\n\
                      -- trailing comment\n";
        assert_eq!(
            statements(script),
            [
                "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT 'x;y')",
                "/* c; */\nINSERT INTO a VALUES ('it''s; fine')",
            ]
        );
    }

    #[test]
    fn a_trigger_is_one_statement_however_many_its_body_holds() {
        let script = "-- c\nCREATE TRIGGER t AFTER DELETE ON a BEGIN\n  DELETE FROM b;\n  \
                      INSERT INTO c VALUES (1);\nEND;\nCREATE TABLE d (x);";
        assert_eq!(
            statements(script),
            [
                "-- c\nCREATE TRIGGER t AFTER DELETE ON a BEGIN\n  DELETE FROM b;\n  \
                 INSERT INTO c VALUES (1);\nEND",
                "CREATE TABLE d (x)",
            ]
        );
    }

    #[test]
    fn a_script_without_a_final_semicolon_keeps_its_last_statement() {
        assert_eq!(statements("SELECT 1; SELECT 2"), ["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn unique_violations_name_the_key_as_mysql_does() {
        assert_eq!(
            duplicate_key("UNIQUE constraint failed: users.username").as_deref(),
            Some("username")
        );
        assert_eq!(
            duplicate_key("UNIQUE constraint failed: posts.id").as_deref(),
            Some("PRIMARY")
        );
        assert_eq!(duplicate_key("FOREIGN KEY constraint failed"), None);
    }

    #[test]
    fn a_locked_database_is_a_lock_conflict_not_a_bad_statement() {
        assert!(matches!(
            classify(sqlite::Error::Io("database is locked".into())),
            DbError::Busy(_)
        ));
        assert!(matches!(
            classify(sqlite::Error::Io("no such table: nope".into())),
            DbError::Query(_)
        ));
        assert!(matches!(
            classify(sqlite::Error::Io(
                "UNIQUE constraint failed: users.username".into()
            )),
            DbError::Duplicate { .. }
        ));
    }
}
