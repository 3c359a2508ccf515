//! A rusqlite connection behind a lock that a trap can poison: how Spin's
//! SQLite database connections and its SQLite key-value store each hold
//! theirs (a panic in Spin while it holds the lock poisons it for every
//! later call; this host marks the connection instead of panicking).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::runtime_config::Location;

#[derive(Debug)]
pub(crate) struct LockedConnection {
    connection: Mutex<rusqlite::Connection>,
    /// Set where Spin's lock would be poisoned by a panic.
    poisoned: AtomicBool,
}

impl LockedConnection {
    /// Opens the database at `location` with rusqlite's defaults
    /// (read-write-create), as Spin does.
    pub fn open(location: &Location) -> rusqlite::Result<Self> {
        let connection = match location {
            Location::InMemory => rusqlite::Connection::open_in_memory(),
            Location::Path(path) => rusqlite::Connection::open(path),
        }?;
        Ok(Self {
            connection: Mutex::new(connection),
            poisoned: AtomicBool::new(false),
        })
    }

    /// The connection, unless an earlier call left the lock poisoned.
    pub fn lock(&self) -> Option<MutexGuard<'_, rusqlite::Connection>> {
        if self.poisoned.load(Ordering::SeqCst) {
            return None;
        }
        Some(
            self.connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Poisons the lock, where Spin panics while holding it.
    pub fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
    }
}
