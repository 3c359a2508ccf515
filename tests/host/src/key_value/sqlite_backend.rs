//! Spin's SQLite key-value store (`type = "spin"`, and `default` under
//! `spin up`), as crates/key-value-spin/src/{lib,store}.rs at v3.6.3 has it:
//!
//! - One connection per label for the whole process, behind one lock,
//!   opened by the label's first `open`, which creates the file, the
//!   `spin_key_value (store, key, value)` table (the label is `store`) and
//!   loads the `rarray` module the batch calls use.
//! - Errors are `other(<the rusqlite error's Debug>)`.
//! - `increment` reads the value as 8 little-endian bytes (absent: 0) and
//!   writes the wrapping sum back the same way, in one transaction. A value
//!   of any other length panics in Spin while it holds the store's lock:
//!   that call traps, and so does every later call on the store until the
//!   process restarts. This host reproduces both without a panic.
//! - A CAS remembers what `current` read and swaps with `UPDATE … WHERE
//!   value = <that>`; with nothing read, the swap is an unconditional
//!   upsert.

use std::rc::Rc;
use std::sync::{Arc, MutexGuard, OnceLock};

use rusqlite::named_params;

use super::{Failure, MAX_RESULT_BYTES, Outcome, SwapFailure, other, too_large, within_limit};
use crate::locked_connection::LockedConnection;
use crate::runtime_config::Location;

const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = $1 AND key = $2";
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT (store, key) DO UPDATE SET value = $3";

/// The process-wide state behind one label.
#[derive(Debug)]
pub(crate) struct SqliteManager {
    location: Location,
    database: OnceLock<Arc<LockedConnection>>,
}

impl SqliteManager {
    pub fn new(location: Location) -> Self {
        Self {
            location,
            database: OnceLock::new(),
        }
    }

    /// How Spin describes the store at startup.
    pub fn summary(&self) -> String {
        self.location.describe("store")
    }

    /// The store for `label`, opening the connection on first use.
    pub async fn open(&self, label: &str) -> Outcome<SqliteStore> {
        let database = match self.database.get() {
            Some(database) => database.clone(),
            None => {
                let location = self.location.clone();
                let created = tokio::task::spawn_blocking(move || create(&location))
                    .await
                    .map_err(|e| Failure::Trap(e.into()))??;
                self.database.get_or_init(|| Arc::new(created)).clone()
            }
        };
        Ok(SqliteStore {
            label: label.to_owned(),
            database,
        })
    }
}

/// Opens a label's connection as Spin does: the file, the table, and the
/// `rarray` module the batch calls use.
fn create(location: &Location) -> Outcome<LockedConnection> {
    let database = LockedConnection::open(location).map_err(other)?;
    {
        let connection = lock(&database)?;
        connection
            .execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                )",
                [],
            )
            .map_err(other)?;
        rusqlite::vtab::array::load_module(&connection).map_err(other)?;
    }
    Ok(database)
}

/// The connection, or the trap Spin's poisoned lock gives.
fn lock(database: &LockedConnection) -> Outcome<MutexGuard<'_, rusqlite::Connection>> {
    database.lock().ok_or_else(|| {
        Failure::Trap(wasmtime::Error::msg(
            "the key-value store's lock is poisoned by an earlier increment of a value \
             that is not 8 bytes, as Spin's is",
        ))
    })
}

/// Runs `work` on the connection in a blocking task.
async fn run<T: Send + 'static>(
    database: &Arc<LockedConnection>,
    work: impl FnOnce(&LockedConnection, &mut rusqlite::Connection) -> Outcome<T> + Send + 'static,
) -> Outcome<T> {
    let database = database.clone();
    tokio::task::spawn_blocking(move || {
        let mut connection = lock(&database)?;
        work(&database, &mut connection)
    })
    .await
    .map_err(|e| Failure::Trap(e.into()))?
}

fn select(
    connection: &rusqlite::Connection,
    label: &str,
    key: &str,
) -> rusqlite::Result<Option<Vec<u8>>> {
    connection
        .prepare_cached(SELECT)?
        .query_map([label, key], |row| row.get::<_, Vec<u8>>(0))?
        .next()
        .transpose()
}

fn upsert(
    connection: &rusqlite::Connection,
    label: &str,
    key: &str,
    value: &[u8],
) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(UPSERT)?
        .execute(rusqlite::params![label, key, value])
}

/// A label's store, as a guest holds it.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    label: String,
    database: Arc<LockedConnection>,
}

impl SqliteStore {
    pub async fn get(&self, key: String) -> Outcome<Option<Vec<u8>>> {
        let label = self.label.clone();
        let value = run(&self.database, move |_, c| {
            select(c, &label, &key).map_err(other)
        })
        .await?;
        within_limit(value)
    }

    pub async fn set(&self, key: String, value: Vec<u8>) -> Outcome<()> {
        let label = self.label.clone();
        run(&self.database, move |_, c| {
            upsert(c, &label, &key, &value).map(drop).map_err(other)
        })
        .await
    }

    pub async fn delete(&self, key: String) -> Outcome<()> {
        let label = self.label.clone();
        run(&self.database, move |_, c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = $1 AND key = $2")
                .and_then(|mut s| s.execute([label, key]))
                .map(drop)
                .map_err(other)
        })
        .await
    }

    /// Spin answers with a `get` that ignores the size limit.
    pub async fn exists(&self, key: String) -> Outcome<bool> {
        let label = self.label.clone();
        let value = run(&self.database, move |_, c| {
            select(c, &label, &key).map_err(other)
        })
        .await?;
        Ok(value.is_some())
    }

    pub async fn get_keys(&self) -> Outcome<Vec<String>> {
        let label = self.label.clone();
        run(&self.database, move |_, c| {
            let mut statement = c
                .prepare_cached("SELECT key FROM spin_key_value WHERE store = $1")
                .map_err(other)?;
            let rows = statement
                .query_map([label], |row| row.get::<_, String>(0))
                .map_err(other)?;
            let mut bytes = size_of::<Vec<String>>();
            let mut keys = Vec::new();
            for key in rows {
                let key = key.map_err(other)?;
                bytes += size_of::<String>() + key.len();
                if bytes > MAX_RESULT_BYTES {
                    return Err(too_large());
                }
                keys.push(key);
            }
            Ok(keys)
        })
        .await
    }

    pub async fn get_many(&self, keys: Vec<String>) -> Outcome<Vec<(String, Option<Vec<u8>>)>> {
        let label = self.label.clone();
        run(&self.database, move |_, c| {
            let keys: Vec<rusqlite::types::Value> =
                keys.into_iter().map(rusqlite::types::Value::from).collect();
            let mut statement = c
                .prepare_cached(
                    "SELECT key, value FROM spin_key_value
                         WHERE store = :name AND key IN rarray(:keys)",
                )
                .map_err(other)?;
            let rows = statement
                .query_map(
                    named_params! { ":name": label, ":keys": Rc::new(keys) },
                    |row| <(String, Option<Vec<u8>>)>::try_from(row),
                )
                .map_err(other)?;
            let mut bytes = size_of::<Vec<String>>();
            let mut pairs = Vec::new();
            for pair in rows {
                let (key, value) = pair.map_err(other)?;
                bytes += size_of::<(String, Option<Vec<u8>>)>()
                    + key.len()
                    + value.as_ref().map_or(0, Vec::len);
                if bytes > MAX_RESULT_BYTES {
                    return Err(too_large());
                }
                pairs.push((key, value));
            }
            Ok(pairs)
        })
        .await
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Outcome<()> {
        let label = self.label.clone();
        run(&self.database, move |_, c| {
            let transaction = c.transaction().map_err(other)?;
            for (key, value) in pairs {
                upsert(&transaction, &label, &key, &value).map_err(other)?;
            }
            transaction.commit().map_err(other)
        })
        .await
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Outcome<()> {
        let label = self.label.clone();
        run(&self.database, move |_, c| {
            let keys: Vec<rusqlite::types::Value> =
                keys.into_iter().map(rusqlite::types::Value::from).collect();
            c.prepare_cached(
                "DELETE FROM spin_key_value WHERE store = :name AND key IN rarray(:keys)",
            )
            .and_then(|mut s| s.execute(named_params! { ":name": label, ":keys": Rc::new(keys) }))
            .map(drop)
            .map_err(other)
        })
        .await
    }

    pub async fn increment(&self, key: String, delta: i64) -> Outcome<i64> {
        let label = self.label.clone();
        run(&self.database, move |database, c| {
            let transaction = c.transaction().map_err(other)?;
            let current = match select(&transaction, &label, &key).map_err(other)? {
                None => 0,
                Some(bytes) => match <[u8; 8]>::try_from(bytes) {
                    Ok(bytes) => i64::from_le_bytes(bytes),
                    Err(bytes) => {
                        database.poison();
                        return Err(Failure::Trap(wasmtime::Error::msg(format!(
                            "incorrect length: the value of {key:?} has {} bytes, \
                                 not 8 (Spin panics here)",
                            bytes.len()
                        ))));
                    }
                },
            };
            // Spin's release build wraps on overflow.
            let new = current.wrapping_add(delta);
            upsert(&transaction, &label, &key, &new.to_le_bytes()).map_err(other)?;
            transaction.commit().map_err(other)?;
            Ok(new)
        })
        .await
    }

    pub fn compare_and_swap(&self, key: String) -> SqliteCas {
        SqliteCas {
            label: self.label.clone(),
            key,
            database: self.database.clone(),
            seen: None,
        }
    }
}

/// A compare-and-swap on one key.
#[derive(Debug)]
pub(crate) struct SqliteCas {
    label: String,
    key: String,
    database: Arc<LockedConnection>,
    /// The value `current` read, which `swap` expects.
    seen: Option<Vec<u8>>,
}

impl SqliteCas {
    pub async fn current(&mut self) -> Outcome<Option<Vec<u8>>> {
        let (label, key) = (self.label.clone(), self.key.clone());
        let value = run(&self.database, move |_, c| {
            select(c, &label, &key).map_err(other)
        })
        .await?;
        self.seen.clone_from(&value);
        within_limit(value)
    }

    pub async fn swap(&self, value: Vec<u8>) -> Result<(), SwapFailure> {
        let (label, key, seen) = (self.label.clone(), self.key.clone(), self.seen.clone());
        let rows = run(&self.database, move |_, c| match seen {
            Some(old) => c
                .prepare_cached(
                    "UPDATE spin_key_value SET value = :new
                         WHERE store = :name AND key = :key AND value = :old",
                )
                .and_then(|mut s| {
                    s.execute(named_params! {
                        ":name": label, ":key": key, ":old": old, ":new": value,
                    })
                })
                .map_err(other),
            None => {
                let transaction = c.transaction().map_err(other)?;
                let rows = upsert(&transaction, &label, &key, &value).map_err(other)?;
                transaction.commit().map_err(other)?;
                Ok(rows)
            }
        })
        .await
        .map_err(SwapFailure::Other)?;
        if rows == 1 {
            Ok(())
        } else {
            Err(SwapFailure::Changed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(outcome: Outcome<T>) -> T {
        match outcome {
            Ok(value) => value,
            Err(Failure::Other(message)) => panic!("other({message})"),
            Err(Failure::Trap(trap)) => panic!("trap: {trap:?}"),
        }
    }

    async fn memory(label: &str) -> SqliteStore {
        ok(SqliteManager::new(Location::InMemory).open(label).await)
    }

    #[tokio::test]
    async fn increments_are_stored_as_eight_little_endian_bytes() {
        let store = memory("default").await;
        assert_eq!(ok(store.increment("n".into(), 5).await), 5);
        assert_eq!(ok(store.increment("n".into(), -7).await), -2);
        assert_eq!(
            ok(store.get("n".into()).await),
            Some((-2_i64).to_le_bytes().to_vec())
        );
    }

    #[tokio::test]
    async fn incrementing_a_value_that_is_not_eight_bytes_traps_and_poisons_the_store() {
        let store = memory("default").await;
        ok(store.set("n".into(), b"5".to_vec()).await);
        assert!(matches!(
            store.increment("n".into(), 1).await,
            Err(Failure::Trap(_))
        ));
        assert!(matches!(
            store.get("other".into()).await,
            Err(Failure::Trap(_))
        ));
    }

    #[tokio::test]
    async fn a_swap_after_a_concurrent_write_fails_and_an_unread_swap_upserts() {
        let store = memory("default").await;
        ok(store.set("k".into(), b"a".to_vec()).await);
        let mut cas = store.compare_and_swap("k".into());
        assert_eq!(ok(cas.current().await), Some(b"a".to_vec()));
        ok(store.set("k".into(), b"b".to_vec()).await);
        assert!(matches!(
            cas.swap(b"c".to_vec()).await,
            Err(SwapFailure::Changed)
        ));

        let blind = store.compare_and_swap("k".into());
        assert!(blind.swap(b"d".to_vec()).await.is_ok());
        assert_eq!(ok(store.get("k".into()).await), Some(b"d".to_vec()));
    }

    #[tokio::test]
    async fn labels_on_one_file_keep_their_keys_apart() {
        let manager = SqliteManager::new(Location::InMemory);
        let a = ok(manager.open("a").await);
        let b = ok(manager.open("b").await);
        ok(a.set("k".into(), b"1".to_vec()).await);
        assert_eq!(ok(b.get("k".into()).await), None);
        assert_eq!(ok(a.get_keys().await), ["k"]);
        ok(a.set_many(vec![
            ("x".into(), b"2".to_vec()),
            ("y".into(), b"3".to_vec()),
        ])
        .await);
        let mut pairs = ok(a.get_many(vec!["x".into(), "y".into(), "z".into()]).await);
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("x".to_owned(), Some(b"2".to_vec())),
                ("y".to_owned(), Some(b"3".to_vec()))
            ]
        );
        ok(a.delete_many(vec!["x".into(), "k".into()]).await);
        assert_eq!(ok(a.get_keys().await), ["y"]);
    }
}
