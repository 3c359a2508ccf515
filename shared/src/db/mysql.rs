//! The MariaDB backend, over Spin's outbound MySQL interface.
//!
//! Every `open` is a new TCP connection with a full handshake (Spin does not
//! pool), so a request opens one and passes it down. Spin reports errors as
//! strings; this module sorts them into [`DbError`] and strips the database
//! URL from them, because Spin's "not permitted" message contains it,
//! password included.
//!
//! Nothing waits without bound: every statement runs under MariaDB's
//! `SET STATEMENT max_statement_time = …, innodb_lock_wait_timeout = … FOR`,
//! in the statement itself (no extra round trip), and write transactions
//! run at READ COMMITTED, which takes no gap locks on lookups. That
//! syntax is MariaDB's: MySQL 8 would need `MAX_EXECUTION_TIME` hints.
//!
//! On a Galera cluster a node applies other nodes' commits a moment after
//! they are acknowledged. With causal reads on (`db_causal_reads`), every
//! statement and every transaction start also carries `wsrep_sync_wait = 1`:
//! the node first applies everything the cluster committed before it, so a
//! client reads its own writes on any node, and after a failover too.

use spin_sdk::mysql::{self, Connection, DbValue, ParameterValue};

use super::{Db, DbError, Dialect, Param, Rows, Value};

/// The longest any statement may run, in seconds.
pub const STATEMENT_TIMEOUT_SECONDS: u32 = 3;
/// The longest a statement may wait for another transaction's row lock, in
/// seconds (MariaDB's default is 50).
pub const LOCK_WAIT_TIMEOUT_SECONDS: u32 = 2;

/// Bounds `sql`'s run time and lock waits, in the statement itself, and
/// makes it a causal read if `causal`.
fn bounded(sql: &str, causal: bool) -> String {
    let sync = if causal { ", wsrep_sync_wait = 1" } else { "" };
    format!(
        "SET STATEMENT max_statement_time = {STATEMENT_TIMEOUT_SECONDS}, \
         innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT_SECONDS}{sync} FOR {sql}"
    )
}

/// One MySQL session.
pub struct MySql {
    connection: Connection,
    /// Whether reads wait for the cluster's earlier commits (Galera).
    causal: bool,
}

impl std::fmt::Debug for MySql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MySql")
    }
}

impl MySql {
    /// Opens a connection to `url` (`mysql://user:password@host:port/db`),
    /// with causal reads if `causal`.
    pub fn open(url: &str, causal: bool) -> Result<Self, DbError> {
        Connection::open(url)
            .map(|connection| Self { connection, causal })
            .map_err(|e| classify(e, url))
    }
}

impl Db for MySql {
    fn dialect(&self) -> Dialect {
        Dialect::MySql
    }

    fn query(&self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        let result = self
            .connection
            .query(&bounded(sql, self.causal), &to_parameters(params))
            .map_err(|e| classify(e, ""))?;
        let columns = result.columns.into_iter().map(|c| c.name).collect();
        let rows = result
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(from_db_value).collect())
            .collect::<Result<_, _>>()?;
        Rows::new(columns, rows)
    }

    fn query_locked(&self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        self.query(&format!("{sql} FOR UPDATE"), params)
    }

    fn execute(&self, sql: &str, params: &[Param]) -> Result<(), DbError> {
        self.control(&bounded(sql, self.causal), params)
    }

    fn begin(&self) -> Result<(), DbError> {
        // Applies to the next transaction only. READ COMMITTED: a locking
        // lookup of a missing id takes no gap lock, so it cannot stall the
        // inserts of new (time-ordered) ids that fall in that gap.
        self.control("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", &[])?;
        // A causal start: the transaction sees every commit the cluster
        // acknowledged before it, even one made on another node (its
        // foreign key checks too).
        self.control(
            if self.causal {
                "SET STATEMENT wsrep_sync_wait = 1 FOR START TRANSACTION"
            } else {
                "START TRANSACTION"
            },
            &[],
        )
    }

    fn commit(&self) -> Result<(), DbError> {
        self.control("COMMIT", &[])
    }

    fn rollback(&self) -> Result<(), DbError> {
        self.control("ROLLBACK", &[])
    }
}

impl MySql {
    /// Runs `sql` as it is.
    fn control(&self, sql: &str, params: &[Param]) -> Result<(), DbError> {
        self.connection
            .execute(sql, &to_parameters(params))
            .map_err(|e| classify(e, ""))
    }
}

fn to_parameters(params: &[Param]) -> Vec<ParameterValue> {
    params
        .iter()
        .map(|p| match p {
            Param::Null => ParameterValue::DbNull,
            Param::Int(v) => ParameterValue::Int64(*v),
            Param::Text(s) => ParameterValue::Str(s.clone()),
        })
        .collect()
}

fn from_db_value(value: DbValue) -> Result<Value, DbError> {
    Ok(match value {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(b) => Value::Int(i64::from(b)),
        DbValue::Int8(v) => Value::Int(v.into()),
        DbValue::Int16(v) => Value::Int(v.into()),
        DbValue::Int32(v) => Value::Int(v.into()),
        DbValue::Int64(v) => Value::Int(v),
        DbValue::Uint8(v) => Value::UInt(v.into()),
        DbValue::Uint16(v) => Value::UInt(v.into()),
        DbValue::Uint32(v) => Value::UInt(v.into()),
        DbValue::Uint64(v) => Value::UInt(v),
        DbValue::Floating32(v) => Value::Float(v.into()),
        DbValue::Floating64(v) => Value::Float(v),
        DbValue::Str(s) => Value::Text(s),
        DbValue::Binary(b) => Value::Bytes(b),
        DbValue::Unsupported => {
            return Err(DbError::Decode(
                "the database sent an unsupported value".into(),
            ));
        }
    })
}

/// Sorts a Spin MySQL error into a [`DbError`], with `url` (which may hold a
/// password) removed from its text.
fn classify(error: mysql::MysqlError, url: &str) -> DbError {
    use mysql::MysqlError as E;
    let redact = |text: String| redact_url(&text, url);
    match error {
        E::ConnectionFailed(text) => DbError::Unavailable(redact(text)),
        E::QueryFailed(text) if is_lost_connection(&text) => DbError::Unavailable(text),
        E::QueryFailed(text) => match server_code(&text) {
            // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT: another transaction won.
            // On Galera 1213 is also a commit that lost certification to
            // another node's, or a transaction aborted for a replicated one:
            // the same remedy, run it again.
            Some(1213 | 1205) => DbError::Busy(text),
            // Galera: the node is not (or no longer) part of the primary
            // component, so it refuses work ("WSREP has not yet prepared node
            // for application use", 1047), or a commit failed as the node
            // dropped out of it (1180). Another node, or this one once it has
            // rejoined, will take the request.
            Some(1047 | 1180) => DbError::Unavailable(text),
            // ER_STATEMENT_TIMEOUT (max_statement_time), and MySQL's
            // ER_QUERY_TIMEOUT. A statement interrupted inside InnoDB's
            // full-text search reports the storage engine's
            // HA_ERR_ABORTED_BY_USER (188) instead, or ER_QUERY_INTERRUPTED
            // (1317): the same bound, reached there.
            Some(1969 | 3024 | 188 | 1317) => DbError::Timeout(text),
            // ER_NO_REFERENCED_ROW_2: the parent row is gone.
            Some(1452) => DbError::ForeignKey {
                constraint: foreign_key(&text),
                message: text,
            },
            _ => match duplicate_key(&text) {
                Some(key) => DbError::Duplicate { key, message: text },
                None => DbError::Query(text),
            },
        },
        E::BadParameter(text) | E::ValueConversionFailed(text) => DbError::Query(text),
        E::Other(text) => DbError::Query(redact(text)),
    }
}

/// The server's error number in Spin's text of a failed statement,
/// `Server(ServerError { code: 1213, message: …`.
fn server_code(text: &str) -> Option<u16> {
    let start = text.find("code: ")? + "code: ".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The constraint a foreign key error names: `comments_post` in `… CONSTRAINT
/// \`comments_post\` FOREIGN KEY …`.
fn foreign_key(text: &str) -> Option<String> {
    let start = text.find("CONSTRAINT `")? + "CONSTRAINT `".len();
    let end = start + text[start..].find('`')?;
    Some(text[start..end].to_owned())
}

/// Whether a failed statement failed because the connection went away (the
/// server stopped or the network dropped), as opposed to a bad statement.
/// Spin sends mysql_async's Debug text, e.g. `Io(Io(Os { code: 104, ..`.
fn is_lost_connection(text: &str) -> bool {
    text.starts_with("Io(") || text.contains("ConnectionClosed")
}

/// The key name of a duplicate-entry error (server error 1062), e.g.
/// `username` from `Duplicate entry 'Ada' for key 'username'`. MySQL 8
/// prefixes the table (`users.username`); that prefix is dropped.
fn duplicate_key(text: &str) -> Option<String> {
    if !text.contains("Duplicate entry") {
        return None;
    }
    let start = text.rfind("for key '")? + "for key '".len();
    let end = start + text[start..].find('\'')?;
    let key = &text[start..end];
    Some(key.rsplit('.').next().unwrap_or(key).to_owned())
}

/// Replaces `url` in `text`, and the password inside it wherever it appears.
fn redact_url(text: &str, url: &str) -> String {
    if url.is_empty() {
        return text.to_owned();
    }
    let mut redacted = text.replace(url, "<database url>");
    if let Some(password) = password_of(url).filter(|p| !p.is_empty()) {
        redacted = redacted.replace(password, "<password>");
    }
    redacted
}

/// The password part of `mysql://user:password@host/...`.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let userinfo = rest.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, password)| password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_of_a_mariadb_duplicate_is_found() {
        let text = r#"Server(ServerError { code: 1062, message: "Duplicate entry 'ada' for key 'username'", state: "23000" })"#;
        assert_eq!(duplicate_key(text).as_deref(), Some("username"));
    }

    #[test]
    fn the_key_of_a_mysql8_duplicate_loses_its_table_prefix() {
        let text = "Duplicate entry '42' for key 'users.PRIMARY'";
        assert_eq!(duplicate_key(text).as_deref(), Some("PRIMARY"));
    }

    #[test]
    fn a_duplicate_value_that_looks_like_a_key_does_not_confuse_the_parser() {
        let text = "Duplicate entry 'for key 'x'' for key 'username'";
        assert_eq!(duplicate_key(text).as_deref(), Some("username"));
    }

    #[test]
    fn other_failures_have_no_duplicate_key() {
        assert_eq!(duplicate_key("Table 'omni.nope' doesn't exist"), None);
    }

    #[test]
    fn a_denied_address_loses_its_password() {
        let url = "mysql://omni:s3cret@db:3306/omni";
        let text = format!("address {url} is not permitted");
        let redacted = redact_url(&text, url);
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert_eq!(redacted, "address <database url> is not permitted");
    }

    #[test]
    fn a_password_quoted_on_its_own_is_removed_too() {
        let url = "mysql://omni:s3cret@db/omni";
        let redacted = redact_url("Access denied (using password: s3cret)", url);
        assert!(!redacted.contains("s3cret"));
    }

    #[test]
    fn lock_conflicts_and_timeouts_are_told_apart_from_bad_statements() {
        let server = |code: u16, message: &str| {
            mysql::MysqlError::QueryFailed(format!(
                "Server(ServerError {{ code: {code}, message: \"{message}\", state: \"40001\" }})"
            ))
        };
        assert!(matches!(
            classify(server(1213, "Deadlock found when trying to get lock"), ""),
            DbError::Busy(_)
        ));
        assert!(matches!(
            classify(server(1205, "Lock wait timeout exceeded"), ""),
            DbError::Busy(_)
        ));
        assert!(matches!(
            classify(
                server(
                    1969,
                    "Query execution was interrupted (max_statement_time exceeded)"
                ),
                ""
            ),
            DbError::Timeout(_)
        ));
        // A search over MariaDB's FULLTEXT index cut off by
        // max_statement_time, as MariaDB 10.11 reports it.
        assert!(matches!(
            classify(server(188, "Unknown error 188"), ""),
            DbError::Timeout(_)
        ));
        assert!(matches!(
            classify(server(1146, "Table 'omni.x' doesn't exist"), ""),
            DbError::Query(_)
        ));
        let orphan = classify(
            server(
                1452,
                "Cannot add or update a child row: a foreign key constraint fails (`omni`.`comments`, \
                 CONSTRAINT `comments_post` FOREIGN KEY (`post_id`) REFERENCES `posts` (`id`) ON DELETE CASCADE)",
            ),
            "",
        );
        assert!(
            matches!(&orphan, DbError::ForeignKey { constraint: Some(c), .. } if c == "comments_post"),
            "{orphan:?}"
        );
    }

    #[test]
    fn a_galera_node_outside_the_primary_component_is_unavailable() {
        for (code, message) in [
            (1047, "WSREP has not yet prepared node for application use"),
            (
                1180,
                "Got error 6 \"No such device or address\" during COMMIT",
            ),
        ] {
            let error = mysql::MysqlError::QueryFailed(format!(
                "Server(ServerError {{ code: {code}, message: \"{message}\", state: \"08S01\" }})"
            ));
            assert!(
                matches!(classify(error, ""), DbError::Unavailable(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn causal_reads_wait_for_the_cluster_in_the_statement_itself() {
        assert_eq!(
            bounded("SELECT 1", false),
            "SET STATEMENT max_statement_time = 3, innodb_lock_wait_timeout = 2 FOR SELECT 1"
        );
        assert_eq!(
            bounded("SELECT 1", true),
            "SET STATEMENT max_statement_time = 3, innodb_lock_wait_timeout = 2, \
             wsrep_sync_wait = 1 FOR SELECT 1"
        );
    }

    #[test]
    fn lost_connections_are_told_apart_from_bad_statements() {
        assert!(is_lost_connection(
            "Io(Io(Os { code: 104, kind: ConnectionReset, message: \"Connection reset by peer\" }))"
        ));
        assert!(is_lost_connection("Driver(ConnectionClosed)"));
        assert!(!is_lost_connection(
            "Server(ServerError { code: 1146, message: \"Table doesn't exist\", state: \"42S02\" })"
        ));
    }
}
