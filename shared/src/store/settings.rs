//! The `local_settings` table, which only the SQLite schema has: what a
//! local Omni keeps for itself because nobody configured it.

use crate::db::Db;
use crate::error::Error;
use crate::log;

const FIND: &str = "SELECT value FROM local_settings WHERE name = ?";
const INSERT_IF_MISSING: &str =
    "INSERT INTO local_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING";

/// The setting's name for the JWT signing key.
const JWT_SECRET: &str = "jwt_secret";

fn find(db: &dyn Db, name: &str) -> Result<Option<String>, Error> {
    let rows = db.query(FIND, &[name.into()])?;
    Ok(rows.first().map(|row| row.get("value")).transpose()?)
}

/// The local JWT signing key: 256 random bits, made on first use and kept
/// in the database, so that tokens outlive a restart. When many first
/// requests race, the first insert wins and every request reads it back.
pub fn local_jwt_secret(db: &dyn Db) -> Result<String, Error> {
    if let Some(secret) = find(db, JWT_SECRET)? {
        return Ok(secret);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(anyhow::anyhow!("no randomness for a signing key: {e}")))?;
    let fresh = crate::hex::encode(&bytes);
    db.execute(
        INSERT_IF_MISSING,
        &[JWT_SECRET.into(), fresh.as_str().into()],
    )?;
    let stored = find(db, JWT_SECRET)?.ok_or_else(|| {
        Error::internal(anyhow::anyhow!(
            "the local signing key vanished after its insert"
        ))
    })?;
    if stored == fresh {
        log::info(
            "local_mode",
            &[(
                "note",
                "running in local mode: no jwt_secret is set, so a random signing key was \
                 generated and stored in the local SQLite database"
                    .into(),
            )],
        );
    }
    Ok(stored)
}
