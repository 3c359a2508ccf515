//! Spin's runtime configuration file and state directory, for the stores
//! this host implements: `spin up --runtime-config-file` and `--state-dir`
//! as Spin 3.6.3 resolves them (read off crates/runtime-config/src/lib.rs,
//! crates/trigger/src/cli.rs, crates/sqlite/src/lib.rs,
//! crates/factor-key-value/src/runtime_config/spin.rs, crates/key-value-spin
//! and crates/key-value-redis at v3.6.3).
//!
//! - The state directory is `--state-dir` when given (an empty value unsets
//!   it), else the file's top-level `state_dir` (empty unsets it), else
//!   `.spin` next to the manifest. Unset, the default database and store
//!   live in memory.
//! - `[key_value_store.<label>]`: `type = "spin"` with an optional `path`,
//!   relative to the runtime config file's directory (no `path`: in
//!   memory), or `type = "redis"` with a `url`. Unless the file names it,
//!   `default` is `sqlite_key_value.db` in the state directory. A store's
//!   directory is created at startup; the file on first `open`.
//! - `[sqlite_database.<label>]`: `type = "spin"` with an optional `path`,
//!   relative to the *working* directory, as Spin resolves it (no `path`: in
//!   memory); its directory is created at startup. Unless the file names it,
//!   `default` is `sqlite_db.db` in the state directory, whose directory is
//!   created at startup when a component uses it, and again by every
//!   `open`; the file appears on the first statement.
//! - `[outbound_networking] block_networks`: see [`BlockedNetworks`].
//! - `[outbound_http] connection_pooling, max_concurrent_requests`: see
//!   [`crate::outbound_http`].
//!
//! What else Spin accepts in the file (libSQL, Azure and AWS stores,
//! variable providers, TLS, logs, memory limits) is refused with an error
//! saying this host does not support it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::blocked_networks::BlockedNetworks;
use crate::outbound_http::OutboundHttpTable;

/// The file name of the default SQLite database in the state directory.
const DEFAULT_SQLITE_FILE: &str = "sqlite_db.db";
/// The file name of the default key-value store in the state directory.
const DEFAULT_KEY_VALUE_FILE: &str = "sqlite_key_value.db";
/// The top-level keys this host reads.
const SUPPORTED_KEYS: [&str; 5] = [
    "state_dir",
    "key_value_store",
    "sqlite_database",
    "outbound_networking",
    "outbound_http",
];

/// `spin up --state-dir`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StateDir {
    /// Not given: the runtime config file's `state_dir`, else `.spin` next
    /// to the manifest.
    #[default]
    Default,
    /// Given empty: no state directory, so the default stores are in memory.
    Unset,
    /// Given: this directory (relative to the working directory).
    Path(PathBuf),
}

impl StateDir {
    /// The value of `--state-dir VALUE`: empty means unset, as in Spin.
    pub fn from_flag(value: &str) -> Self {
        if value.is_empty() {
            Self::Unset
        } else {
            Self::Path(PathBuf::from(value))
        }
    }
}

/// Where a SQLite file lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A private in-memory database.
    InMemory,
    /// A file.
    Path(PathBuf),
}

impl Location {
    /// How Spin describes it at startup: the quoted path, or "a temporary
    /// in-memory `noun`".
    pub fn describe(&self, noun: &str) -> String {
        match self {
            Self::InMemory => format!("a temporary in-memory {noun}"),
            Self::Path(path) => format!("\"{}\"", path.display()),
        }
    }
}

/// The backing of one key-value store label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyValueBackend {
    /// Spin's SQLite file store.
    Sqlite(Location),
    /// A Redis server.
    Redis(url::Url),
}

/// The backing of one SQLite database label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SqliteBackend {
    /// The implicit `default` database, whose directory every `open`
    /// creates.
    Default(Location),
    /// A `type = "spin"` database from the runtime config file.
    Configured(Location),
}

/// The resolved runtime configuration.
#[derive(Debug)]
pub(crate) struct RuntimeConfig {
    /// Key-value stores by label, `default` included.
    pub key_value: BTreeMap<String, KeyValueBackend>,
    /// SQLite databases by label, `default` included.
    pub sqlite: BTreeMap<String, SqliteBackend>,
    /// `[outbound_networking] block_networks`.
    pub blocked_networks: BlockedNetworks,
    /// `[outbound_http]`.
    pub outbound_http: OutboundHttpTable,
}

#[derive(Deserialize)]
struct Typed {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    rest: toml::Table,
}

/// `type = "spin"` key-value settings; Spin ignores other fields here.
#[derive(Deserialize)]
struct SpinStore {
    path: Option<PathBuf>,
}

/// `type = "redis"` key-value settings; Spin ignores other fields here.
#[derive(Deserialize)]
struct RedisStore {
    url: String,
}

/// `type = "spin"` database settings; Spin refuses other fields here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinDatabase {
    path: Option<PathBuf>,
}

impl RuntimeConfig {
    /// Reads `file` (if any) and resolves it for the app whose manifest is
    /// in `manifest_dir`, creating the directories Spin creates at startup.
    pub fn load(
        file: Option<&Path>,
        manifest_dir: &Path,
        state_dir: &StateDir,
    ) -> anyhow::Result<Self> {
        let table: toml::Table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("failed to read runtime config file '{}'", path.display())
                })?;
                toml::from_str(&text).with_context(|| {
                    format!(
                        "failed to parse runtime config file '{}' as toml",
                        path.display()
                    )
                })?
            }
            None => toml::Table::new(),
        };
        let unsupported: Vec<&str> = table
            .keys()
            .map(String::as_str)
            .filter(|key| !SUPPORTED_KEYS.contains(key))
            .collect();
        if !unsupported.is_empty() {
            bail!(
                "runtime config key(s) not supported by this host: {}; it reads only {}",
                unsupported.join(", "),
                SUPPORTED_KEYS.join(", ")
            );
        }
        let state_dir = resolve_state_dir(state_dir, &table, manifest_dir)?;
        // Spin resolves a `spin` store's relative path against the runtime
        // config file's directory, but a `spin` database's against the
        // working directory.
        let file_dir = file.and_then(Path::parent).unwrap_or(Path::new(""));
        let key_value = key_value_stores(&table, file_dir, state_dir.as_deref())?;
        let working_dir =
            std::env::current_dir().context("failed to get current working directory")?;
        let sqlite = sqlite_databases(&table, &working_dir, state_dir.as_deref())?;
        let blocked_networks = match table.get("outbound_networking") {
            Some(value) => BlockedNetworks::from_table(
                value
                    .clone()
                    .try_into()
                    .context("failed to parse [outbound_networking] table")?,
            ),
            None => BlockedNetworks::default(),
        };
        let outbound_http = match table.get("outbound_http") {
            Some(value) => value.clone().try_into()?,
            None => OutboundHttpTable::default(),
        };
        Ok(Self {
            key_value,
            sqlite,
            blocked_networks,
            outbound_http,
        })
    }
}

fn resolve_state_dir(
    flag: &StateDir,
    table: &toml::Table,
    manifest_dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    let chosen = match flag {
        StateDir::Default => match table.get("state_dir").and_then(toml::Value::as_str) {
            Some(value) => StateDir::from_flag(value),
            None => StateDir::Default,
        },
        given => given.clone(),
    };
    Ok(match chosen {
        StateDir::Path(path) => Some(std::path::absolute(path)?),
        StateDir::Default => Some(std::path::absolute(manifest_dir.join(".spin"))?),
        StateDir::Unset => None,
    })
}

fn labelled(table: &toml::Table, key: &str) -> anyhow::Result<BTreeMap<String, Typed>> {
    match table.get(key) {
        Some(value) => Ok(value.clone().try_into()?),
        None => Ok(BTreeMap::new()),
    }
}

fn key_value_stores(
    table: &toml::Table,
    file_dir: &Path,
    state_dir: Option<&Path>,
) -> anyhow::Result<BTreeMap<String, KeyValueBackend>> {
    let mut stores = BTreeMap::new();
    for (label, config) in labelled(table, "key_value_store")? {
        let backend = key_value_backend(config, file_dir)
            .with_context(|| format!("could not configure key-value store with label '{label}'"))?;
        stores.insert(label, backend);
    }
    if !stores.contains_key("default") {
        let location = match state_dir {
            Some(dir) => Location::Path(dir.join(DEFAULT_KEY_VALUE_FILE)),
            None => Location::InMemory,
        };
        stores.insert("default".to_owned(), KeyValueBackend::Sqlite(location));
    }
    for backend in stores.values() {
        if let KeyValueBackend::Sqlite(Location::Path(path)) = backend
            && let Some(parent) = path.parent().filter(|p| !p.exists())
        {
            std::fs::create_dir_all(parent).with_context(|| {
                format!(
                    "failed to create key value store's parent directory: '{}",
                    parent.display()
                )
            })?;
        }
    }
    Ok(stores)
}

fn key_value_backend(config: Typed, file_dir: &Path) -> anyhow::Result<KeyValueBackend> {
    let parse = "could not parse key-value runtime config";
    match config.kind.as_str() {
        "spin" => {
            let spin: SpinStore = config.rest.try_into().context(parse)?;
            Ok(KeyValueBackend::Sqlite(match spin.path {
                Some(path) => Location::Path(file_dir.join(path)),
                None => Location::InMemory,
            }))
        }
        "redis" => {
            let redis: RedisStore = config.rest.try_into().context(parse)?;
            let url = redis::parse_redis_url(&redis.url).context("Invalid Redis URL")?;
            Ok(KeyValueBackend::Redis(url))
        }
        "azure_cosmos" | "aws_dynamo" => {
            bail!(
                "the store type '{}' is not supported by this host",
                config.kind
            )
        }
        other => bail!("the store type '{other}' was not registered with the config resolver"),
    }
}

fn sqlite_databases(
    table: &toml::Table,
    working_dir: &Path,
    state_dir: Option<&Path>,
) -> anyhow::Result<BTreeMap<String, SqliteBackend>> {
    let mut databases = BTreeMap::new();
    for (label, config) in labelled(table, "sqlite_database")? {
        let backend = match config.kind.as_str() {
            "spin" => {
                let spin: SpinDatabase = config.rest.try_into()?;
                let location = match spin.path {
                    Some(path) => Location::Path(working_dir.join(path)),
                    None => Location::InMemory,
                };
                create_database_dir(&location)?;
                SqliteBackend::Configured(location)
            }
            "libsql" => bail!("sqlite_database type 'libsql' is not supported by this host"),
            other => bail!("Unknown database kind: {other}"),
        };
        databases.insert(label, backend);
    }
    if !databases.contains_key("default") {
        let location = match state_dir {
            Some(dir) => Location::Path(dir.join(DEFAULT_SQLITE_FILE)),
            None => Location::InMemory,
        };
        databases.insert("default".to_owned(), SqliteBackend::Default(location));
    }
    Ok(databases)
}

/// Creates a database file's directory, as Spin does before using it.
pub(crate) fn create_database_dir(location: &Location) -> anyhow::Result<()> {
    if let Location::Path(path) = location
        && let Some(parent) = path.parent()
    {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "failed to create sqlite database directory '{}'",
                parent.display()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "omni-host-runtime-config-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, text: &str) -> PathBuf {
            let path = self.0.join("runtime-config.toml");
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn without_a_file_the_defaults_live_in_dot_spin_next_to_the_manifest() {
        let scratch = Scratch::new("defaults");
        let config = RuntimeConfig::load(None, &scratch.0, &StateDir::Default).unwrap();
        let state = scratch.0.join(".spin");
        assert_eq!(
            config.key_value["default"],
            KeyValueBackend::Sqlite(Location::Path(state.join("sqlite_key_value.db")))
        );
        assert_eq!(
            config.sqlite["default"],
            SqliteBackend::Default(Location::Path(state.join("sqlite_db.db")))
        );
        // The key-value store's directory exists from startup; no file yet.
        assert!(state.is_dir());
        assert!(!state.join("sqlite_key_value.db").exists());
    }

    #[test]
    fn an_empty_state_dir_puts_the_defaults_in_memory() {
        let scratch = Scratch::new("unset");
        let config = RuntimeConfig::load(None, &scratch.0, &StateDir::from_flag("")).unwrap();
        assert_eq!(
            config.key_value["default"],
            KeyValueBackend::Sqlite(Location::InMemory)
        );
        assert_eq!(
            config.sqlite["default"],
            SqliteBackend::Default(Location::InMemory)
        );
        assert!(!scratch.0.join(".spin").exists());
    }

    #[test]
    fn the_flag_beats_the_files_state_dir_which_beats_the_default() {
        let table: toml::Table = toml::from_str("state_dir = \"from-file\"").unwrap();
        let manifest_dir = Path::new("/app");
        let resolve = |flag: &StateDir, table: &toml::Table| {
            resolve_state_dir(flag, table, manifest_dir).unwrap()
        };
        let relative = |path: &str| Some(std::path::absolute(path).unwrap());
        assert_eq!(resolve(&StateDir::Default, &table), relative("from-file"));
        assert_eq!(
            resolve(&StateDir::from_flag("from-flag"), &table),
            relative("from-flag")
        );
        assert_eq!(resolve(&StateDir::from_flag(""), &table), None);
        let unset_in_file: toml::Table = toml::from_str("state_dir = \"\"").unwrap();
        assert_eq!(resolve(&StateDir::Default, &unset_in_file), None);
        assert_eq!(
            resolve(&StateDir::Default, &toml::Table::new()),
            Some(PathBuf::from("/app/.spin"))
        );
    }

    #[test]
    fn stores_and_databases_take_spins_types_and_paths() {
        let scratch = Scratch::new("types");
        let file = scratch.file(
            r#"
            [key_value_store.default]
            type = "redis"
            url = "redis://127.0.0.1:6379"
            [key_value_store.local]
            type = "spin"
            path = "kv/local.db"
            [key_value_store.scratch]
            type = "spin"
            "#,
        );
        let config = RuntimeConfig::load(Some(&file), &scratch.0, &StateDir::Default).unwrap();
        assert!(matches!(
            &config.key_value["default"],
            KeyValueBackend::Redis(url) if url.as_str() == "redis://127.0.0.1:6379"
        ));
        assert_eq!(
            config.key_value["local"],
            KeyValueBackend::Sqlite(Location::Path(scratch.0.join("kv/local.db")))
        );
        assert!(scratch.0.join("kv").is_dir(), "created at startup");
        assert_eq!(
            config.key_value["scratch"],
            KeyValueBackend::Sqlite(Location::InMemory)
        );
    }

    #[test]
    fn a_spin_database_path_is_relative_to_the_working_directory() {
        let scratch = Scratch::new("database");
        let table: toml::Table =
            toml::from_str("[sqlite_database.default]\ntype = \"spin\"\npath = \"data/app.db\"")
                .unwrap();
        let databases = sqlite_databases(&table, &scratch.0, None).unwrap();
        assert_eq!(
            databases["default"],
            SqliteBackend::Configured(Location::Path(scratch.0.join("data/app.db")))
        );
        assert!(scratch.0.join("data").is_dir(), "created at startup");
    }

    #[test]
    fn unknown_types_and_keys_are_refused() {
        let scratch = Scratch::new("refused");
        let cases = [
            (
                "[key_value_store.default]\ntype = \"memcached\"\n",
                "the store type 'memcached' was not registered with the config resolver",
            ),
            (
                "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\ntoken = \"t\"\n",
                "sqlite_database type 'libsql' is not supported by this host",
            ),
            (
                "[sqlite_database.default]\ntype = \"postgres\"\n",
                "Unknown database kind: postgres",
            ),
            (
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://x\"\n",
                "Invalid Redis URL",
            ),
            (
                "log_dir = \"logs\"\n",
                "runtime config key(s) not supported by this host: log_dir",
            ),
        ];
        for (text, expected) in cases {
            let file = scratch.file(text);
            let error =
                RuntimeConfig::load(Some(&file), &scratch.0, &StateDir::Default).unwrap_err();
            let chain = format!("{error:#}");
            assert!(chain.contains(expected), "{text}: {chain}");
        }
    }
}
