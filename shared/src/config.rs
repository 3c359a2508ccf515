//! Configuration: one struct, read from Spin variables on every request and
//! validated. A bad value is an error naming the variable, never a silent
//! default for a secret. With no variables at all, Omni runs locally on
//! Spin's built-in SQLite and keeps its own signing key there.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::limits::{Backoff, Limit};
use crate::net::IpNet;
use crate::snowflake::NodeId;
use crate::sources::{Origin, Sources};

/// The smallest bcrypt cost accepted (tests only; it logs a warning).
pub const MIN_BCRYPT_COST: u32 = 4;
/// Below this cost, every hash and verify logs a warning.
pub const PRODUCTION_MIN_BCRYPT_COST: u32 = 10;
/// The largest bcrypt cost accepted: one login at 14 already takes about a
/// second on a Raspberry Pi.
pub const MAX_BCRYPT_COST: u32 = 14;
/// HS256 keys shorter than the hash output weaken it (RFC 7518 §3.2).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// The longest token lifetime accepted: 30 days.
pub const MAX_JWT_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// Where the data lives, from `db_url`.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// `mysql://user:password@host:port/database`: MySQL or MariaDB through
    /// Spin's outbound MySQL. Holds a password: never log it.
    MySql(String),
    /// `sqlite:<label>`: a SQLite database Spin provides (`default` is its
    /// built-in one, a file under `.spin/` for `spin up`).
    Sqlite(String),
}

impl Database {
    /// The zero-setup default: Spin's built-in SQLite database.
    pub const DEFAULT_URL: &str = "sqlite:default";
}

/// Where the JWT signing key comes from.
#[derive(Clone)]
enum JwtKey {
    /// The `jwt_secret` variable.
    Configured(String),
    /// None is configured and the database is local SQLite: the app makes
    /// one and keeps it in that database.
    Local,
    /// `jwt_secret` is unusable: no token may be issued or accepted.
    Invalid(ConfigError),
}

/// Everything a component needs to know about its environment.
#[derive(Clone)]
pub struct Config {
    database: Database,
    /// Whether every MariaDB read waits until the node has applied what the
    /// cluster committed before it (Galera's `wsrep_sync_wait`), so that a
    /// client reads its writes on any node.
    pub causal_reads: bool,
    jwt_key: JwtKey,
    /// How long a login token lives.
    pub jwt_ttl_seconds: i64,
    /// The bcrypt work factor for new password hashes.
    pub bcrypt_cost: u32,
    /// The node id stamped into new Snowflake ids.
    pub snowflake_node: NodeId,
    /// The rate limits.
    pub limits: Limits,
    /// Proxies whose `X-Forwarded-For` is believed (the gateway's and the
    /// autoscaler's addresses); nobody else's is.
    pub trusted_proxies: Vec<IpNet>,
    /// Where write-ups may be fetched from: the forges, and the operator's
    /// `writeup_extra_origin`.
    pub writeup_sources: Sources,
    /// The site's public origin (`public_origin`), which feeds, the sitemap
    /// and preview cards name in absolute URLs; `None` uses the origin each
    /// request came to.
    pub public_origin: Option<Origin>,
    /// Where the cache and the rate limits are kept.
    pub redis: Redis,
}

/// The value of `cache_redis_address` or `limits_redis_address` that means
/// no Redis: that state stays in Spin's key-value store. Spin expands these
/// variables into `allowed_outbound_hosts`, where an empty value would make
/// every outbound check of the component fail, so "none" is spelled as an
/// address that no server has.
pub const NO_REDIS: &str = "0.0.0.0:0";

/// The longest `redis_timeout_ms` accepted: beyond a second, a frozen Redis
/// would hold every request for longer than the database could.
pub const MAX_REDIS_TIMEOUT_MS: i64 = 1_000;

/// The Redis servers of the cache and of the rate limits, each a Spin
/// variable. Why each is what it is: see `docs/design.md`, "What bounds a
/// wait on Redis".
#[derive(Clone, PartialEq, Eq)]
pub struct Redis {
    /// The cache's Redis (`cache_redis_address`); `None` keeps the cache in
    /// Spin's key-value store.
    pub cache: Option<SocketAddr>,
    /// The rate limits' Redis (`limits_redis_address`); `None` keeps them
    /// in Spin's key-value store.
    pub limits: Option<SocketAddr>,
    /// `redis_password`, for both; empty for none. Never log it.
    password: String,
    /// `redis_timeout_ms`: the most one request waits on each Redis, in all.
    pub timeout: Duration,
}

impl Redis {
    /// The password (never log it); empty for none.
    pub fn password(&self) -> &str {
        &self.password
    }
}

/// How a response tells browsers to use HTTPS only: the
/// `Strict-Transport-Security` value (`hsts`), sent on responses to
/// requests that came over HTTPS, and the proxies whose
/// `X-Forwarded-Proto` says so. Read on its own, so that every response
/// (a 404 or 405 too) can carry it without loading everything else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transport {
    /// The header's value; `None` (an empty `hsts`) sends none.
    pub hsts: Option<String>,
    /// Proxies whose `X-Forwarded-Proto` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Transport {
    /// Reads `hsts` and `trusted_proxies` from the component's variables.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_source(|name| spin_sdk::variables::get(name).map_err(|e| e.to_string()))
    }

    /// Reads them from `get` (see [`Config::from_source`]).
    pub fn from_source(get: impl Fn(&str) -> Result<String, String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str| get(name).map_err(|e| problem(name, e));
        Ok(Self {
            hsts: parse_hsts(&read("hsts")?)?,
            trusted_proxies: parse_trusted_proxies(&read("trusted_proxies")?)?,
        })
    }
}

/// `hsts`: empty for none, else a `Strict-Transport-Security` value, which
/// starts with its `max-age`.
fn parse_hsts(raw: &str) -> Result<Option<String>, ConfigError> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let max_age = value
        .split(';')
        .next()
        .and_then(|first| first.trim().strip_prefix("max-age="))
        .and_then(|seconds| seconds.parse::<u64>().ok());
    if max_age.is_none() || !value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(problem(
            "hsts",
            "must be empty (no HSTS) or a Strict-Transport-Security value starting with \
             max-age=<seconds>, e.g. `max-age=31536000; includeSubDomains`",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// `trusted_proxies`: comma-separated addresses or networks.
fn parse_trusted_proxies(raw: &str) -> Result<Vec<IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            IpNet::parse(entry).ok_or_else(|| {
                problem(
                    "trusted_proxies",
                    format!("{entry:?} is not an IP address or network (a.b.c.d/n)"),
                )
            })
        })
        .collect()
}

/// `writeup_extra_origin`'s default: a host that cannot exist (RFC 6761
/// reserves `.invalid`), because Spin refuses to start with an
/// `allowed_outbound_hosts` entry that is empty.
pub const NO_EXTRA_ORIGIN: &str = "https://unset.invalid";

/// The rate limits, each a Spin variable (0 turns one off). Why each
/// default is what it is: see `docs/design.md`, "Rate limits".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Login attempts per client IP per minute.
    pub login_per_ip: Limit,
    /// Password checks of one account from one address: a few free ones a
    /// day, then growing delays (30 s doubling to 1 h). A success resets it.
    pub login_per_account_and_address: Backoff,
    /// Password checks of one account from addresses that have failed on
    /// it: a few more free ones a day, then growing delays (1 min doubling
    /// to 15 min). An address with no failures on the account is never
    /// held back by it, so its owner can still log in during an attack.
    pub login_per_account: Backoff,
    /// Signups per client IP per hour.
    pub signups_per_ip: Limit,
    /// Writes (posts, comments, edits, deletes, profile changes) per user
    /// per minute.
    pub writes_per_user: Limit,
    /// Writes per user per day.
    pub writes_per_user_daily: Limit,
    /// Searches (API and website) per client IP per minute.
    pub searches_per_ip: Limit,
}

/// A configuration problem, naming the variable (never its value when secret).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration variable `{variable}`: {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

impl ConfigError {
    /// The variable at fault.
    pub fn variable(&self) -> &'static str {
        self.variable
    }
}

pub(crate) fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads and validates the configuration from the component's Spin
    /// variables.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_source(|name| spin_sdk::variables::get(name).map_err(|e| e.to_string()))
    }

    /// Reads and validates the configuration from `get`, which returns a
    /// variable's value or why it could not. A bad `jwt_secret` does not
    /// fail the whole configuration: reads that need no token still work,
    /// and everything that signs or checks a token fails (see
    /// [`Config::jwt_secret`]).
    pub fn from_source(get: impl Fn(&str) -> Result<String, String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str| get(name).map_err(|e| problem(name, e));

        let database = parse_database(&read("db_url")?)?;
        if let Database::MySql(url) = &database {
            check_db_host(url, &read("db_host")?)?;
        }
        let causal_reads = parse_bool("db_causal_reads", &read("db_causal_reads")?)?;
        let jwt_key = match check_jwt_secret(read("jwt_secret")?, &database) {
            Ok(Some(secret)) => JwtKey::Configured(secret),
            Ok(None) => JwtKey::Local,
            Err(error) => JwtKey::Invalid(error),
        };

        let jwt_ttl_seconds = parse_in_range(
            "jwt_ttl_seconds",
            &read("jwt_ttl_seconds")?,
            60,
            MAX_JWT_TTL_SECONDS,
        )?;
        let bcrypt_cost = parse_in_range(
            "bcrypt_cost",
            &read("bcrypt_cost")?,
            MIN_BCRYPT_COST.into(),
            MAX_BCRYPT_COST.into(),
        )?;
        let node = parse_in_range("snowflake_node", &read("snowflake_node")?, 0, 1023)?;
        let limit = |variable: &'static str, window_seconds: i64, buckets: u32| {
            parse_in_range(variable, &read(variable)?, 0, 1_000_000).map(|max| Limit {
                name: variable.trim_start_matches("limit_"),
                // At most a million: always fits.
                max: u32::try_from(max).unwrap_or(u32::MAX),
                window_seconds,
                buckets,
            })
        };
        // Accounts get more buckets than IPs and users: a shared bucket
        // there slows two accounts together. A backoff's gate frees a stuck
        // ticket (an attempt that never reported back) within 10 s.
        let backoff = |variable: &'static str, gate: &'static str, first: i64, most: i64| {
            limit(variable, 24 * 3600, 65_536).map(|attempts| Backoff {
                attempts,
                gate: Limit {
                    name: gate,
                    max: 1,
                    window_seconds: 10,
                    buckets: 65_536,
                },
                first_delay_seconds: first,
                max_delay_seconds: most,
            })
        };
        let limits = Limits {
            login_per_ip: limit("limit_logins_per_ip_per_minute", 60, 16_384)?,
            login_per_account_and_address: backoff(
                "limit_login_attempts_per_account_and_address",
                "login_account_address_gate",
                30,
                3600,
            )?,
            login_per_account: backoff(
                "limit_login_attempts_per_account",
                "login_account_gate",
                60,
                15 * 60,
            )?,
            signups_per_ip: limit("limit_signups_per_ip_per_hour", 3600, 16_384)?,
            writes_per_user: limit("limit_writes_per_user_per_minute", 60, 16_384)?,
            writes_per_user_daily: limit("limit_writes_per_user_per_day", 24 * 3600, 16_384)?,
            searches_per_ip: limit("limit_searches_per_ip_per_minute", 60, 16_384)?,
        };
        let extra_origin = read("writeup_extra_origin")?;
        let writeup_sources = Sources {
            extra: match extra_origin.trim() {
                NO_EXTRA_ORIGIN => None,
                origin => Some(Origin::parse(origin).map_err(|problem_text| {
                    problem(
                        "writeup_extra_origin",
                        format!("{problem_text} (e.g. https://git.example.org)"),
                    )
                })?),
            },
        };
        let public_origin = match read("public_origin")?.trim() {
            "" => None,
            origin => Some(Origin::parse(origin).map_err(|problem_text| {
                problem(
                    "public_origin",
                    format!("{problem_text} (e.g. https://omni.example.org)"),
                )
            })?),
        };
        let trusted_proxies = parse_trusted_proxies(&read("trusted_proxies")?)?;
        let redis = Redis {
            cache: parse_redis_address("cache_redis_address", &read("cache_redis_address")?)?,
            limits: parse_redis_address("limits_redis_address", &read("limits_redis_address")?)?,
            password: read("redis_password")?,
            timeout: Duration::from_millis(
                parse_in_range(
                    "redis_timeout_ms",
                    &read("redis_timeout_ms")?,
                    1,
                    MAX_REDIS_TIMEOUT_MS,
                )?
                .unsigned_abs(),
            ),
        };

        Ok(Self {
            database,
            causal_reads,
            jwt_key,
            jwt_ttl_seconds,
            bcrypt_cost: u32::try_from(bcrypt_cost)
                .map_err(|e| problem("bcrypt_cost", e.to_string()))?,
            snowflake_node: u16::try_from(node)
                .ok()
                .and_then(|n| NodeId::new(n).ok())
                .ok_or_else(|| problem("snowflake_node", "must be between 0 and 1023"))?,
            limits,
            trusted_proxies,
            redis,
            writeup_sources,
            public_origin,
        })
    }

    /// The database to use.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The configured HS256 signing key (never log it); `None` when the app
    /// runs locally on SQLite without one and keeps its own in the
    /// database; an error when `jwt_secret` is missing, short or a
    /// placeholder where it is required.
    pub fn jwt_secret(&self) -> Result<Option<&[u8]>, ConfigError> {
        match &self.jwt_key {
            JwtKey::Configured(secret) => Ok(Some(secret.as_bytes())),
            JwtKey::Local => Ok(None),
            JwtKey::Invalid(error) => Err(error.clone()),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MySql(_) => f.write_str("MySql(<redacted>)"),
            Self::Sqlite(label) => write!(f, "Sqlite({label:?})"),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jwt_key = match &self.jwt_key {
            JwtKey::Configured(_) => "<redacted>",
            JwtKey::Local => "<local>",
            JwtKey::Invalid(_) => "<invalid>",
        };
        f.debug_struct("Config")
            .field("database", &self.database)
            .field("causal_reads", &self.causal_reads)
            .field("jwt_secret", &jwt_key)
            .field("jwt_ttl_seconds", &self.jwt_ttl_seconds)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("snowflake_node", &self.snowflake_node.get())
            .field("limits", &self.limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("writeup_sources", &self.writeup_sources)
            .field("public_origin", &self.public_origin)
            .field("redis", &self.redis)
            .finish()
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() {
            "<none>"
        } else {
            "<redacted>"
        };
        f.debug_struct("Redis")
            .field("cache", &self.cache)
            .field("limits", &self.limits)
            .field("password", &password)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn parse_in_range(
    variable: &'static str,
    raw: &str,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            problem(
                variable,
                format!("must be a whole number from {min} to {max}, got {raw:?}"),
            )
        })
}

/// `true` or `false`.
fn parse_bool(variable: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(problem(
            variable,
            format!("must be true or false, got {raw:?}"),
        )),
    }
}

/// A Redis's `ip:port`, or [`NO_REDIS`] for none. Spin gives components
/// no name lookup, so it must be an IP address (on SpinKube, the Service's
/// fixed ClusterIP).
fn parse_redis_address(
    variable: &'static str,
    raw: &str,
) -> Result<Option<SocketAddr>, ConfigError> {
    let address: SocketAddr = raw.trim().parse().map_err(|_| {
        problem(
            variable,
            format!(
                "must be an IP address and port such as 10.43.0.60:6379, or {NO_REDIS} for none, \
                 got {raw:?}: Spin gives components no name lookup, so use the Service's ClusterIP"
            ),
        )
    })?;
    match (address.ip().is_unspecified(), address.port()) {
        (true, 0) => Ok(None),
        (false, port) if port != 0 => Ok(Some(address)),
        _ => Err(problem(
            variable,
            format!("{raw:?} is no server's address (use {NO_REDIS} for none)"),
        )),
    }
}

/// `mysql://…` or `sqlite:<label>`.
fn parse_database(db_url: &str) -> Result<Database, ConfigError> {
    if let Some(label) = db_url.strip_prefix("sqlite:") {
        if label.is_empty() || label.contains('/') {
            return Err(problem(
                "db_url",
                "must be sqlite:<label>, e.g. sqlite:default",
            ));
        }
        return Ok(Database::Sqlite(label.to_owned()));
    }
    if db_url.starts_with("mysql://") {
        return Ok(Database::MySql(db_url.to_owned()));
    }
    Err(problem(
        "db_url",
        "must start with mysql:// or be sqlite:<label> (e.g. sqlite:default)",
    ))
}

/// Values that are published, and so sign nothing: the examples in
/// `k8s/spinkube/secret.example.yaml` all start with `CHANGE`.
const PLACEHOLDER_PREFIX: &str = "change";

/// Checks `jwt_secret`: `Some` key when one is set and usable, `None` when
/// none is set and the database is local SQLite (the app then keeps its
/// own), an error otherwise. MySQL means a shared deployment, where a
/// missing key must not be papered over.
fn check_jwt_secret(secret: String, database: &Database) -> Result<Option<String>, ConfigError> {
    if secret.is_empty() {
        return match database {
            Database::Sqlite(_) => Ok(None),
            Database::MySql(_) => Err(problem(
                "jwt_secret",
                "is not set; it is required with a mysql:// db_url (e.g. `openssl rand -hex 32`)",
            )),
        };
    }
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(problem(
            "jwt_secret",
            format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
        ));
    }
    let head = secret.get(..PLACEHOLDER_PREFIX.len()).unwrap_or_default();
    if head.eq_ignore_ascii_case(PLACEHOLDER_PREFIX) {
        return Err(problem(
            "jwt_secret",
            "is a published placeholder; set a random value (e.g. `openssl rand -hex 32`)",
        ));
    }
    Ok(Some(secret))
}

/// Checks that `db_url`'s host and port are the ones `db_host` names.
/// `spin.toml` allows outbound MySQL only to `mysql://{{ db_host }}`, so a
/// mismatch would fail later with Spin's opaque "not permitted"; this says
/// which variables disagree instead. A `db_host` with a wildcard is not
/// compared.
fn check_db_host(db_url: &str, db_host: &str) -> Result<(), ConfigError> {
    let rest = db_url.strip_prefix("mysql://").unwrap_or(db_url);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return Err(problem("db_url", "has no host"));
    }
    if db_host.contains('*') {
        return Ok(());
    }
    if with_default_port(host_port) != with_default_port(db_host) {
        return Err(problem(
            "db_host",
            format!(
                "is {db_host:?} but db_url points at {host_port:?}; they must agree because \
                 spin.toml allows MySQL connections only to db_host"
            ),
        ));
    }
    Ok(())
}

/// `host` or `host:port`, with MySQL's default port filled in.
fn with_default_port(host_port: &str) -> String {
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            host_port.to_owned()
        }
        _ => format!("{host_port}:3306"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn source(overrides: &[(&str, &str)]) -> impl Fn(&str) -> Result<String, String> {
        let mut vars: HashMap<String, String> = [
            ("db_url", "mysql://omni:pw@127.0.0.1:3307/omni"),
            ("db_host", "127.0.0.1:3307"),
            ("db_causal_reads", "false"),
            ("jwt_secret", SECRET),
            ("jwt_ttl_seconds", "86400"),
            ("bcrypt_cost", "10"),
            ("snowflake_node", "5"),
            ("limit_logins_per_ip_per_minute", "20"),
            ("limit_login_attempts_per_account_and_address", "5"),
            ("limit_login_attempts_per_account", "10"),
            ("limit_signups_per_ip_per_hour", "10"),
            ("limit_writes_per_user_per_minute", "30"),
            ("limit_writes_per_user_per_day", "1000"),
            ("limit_searches_per_ip_per_minute", "60"),
            ("trusted_proxies", ""),
            ("cache_redis_address", NO_REDIS),
            ("limits_redis_address", NO_REDIS),
            ("redis_password", "redis-password"),
            ("redis_timeout_ms", "50"),
            ("hsts", "max-age=31536000"),
            ("writeup_extra_origin", NO_EXTRA_ORIGIN),
            ("public_origin", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        move |name| {
            vars.get(name)
                .cloned()
                .ok_or_else(|| format!("undefined {name}"))
        }
    }

    fn error_for(overrides: &[(&str, &str)]) -> ConfigError {
        Config::from_source(source(overrides)).unwrap_err()
    }

    fn config(overrides: &[(&str, &str)]) -> Config {
        Config::from_source(source(overrides)).unwrap()
    }

    /// The jwt_secret problem of an otherwise good configuration.
    fn secret_error(overrides: &[(&str, &str)]) -> ConfigError {
        config(overrides).jwt_secret().unwrap_err()
    }

    #[test]
    fn a_complete_configuration_loads() {
        let config = config(&[]);
        assert_eq!(config.jwt_ttl_seconds, 86_400);
        assert_eq!(config.bcrypt_cost, 10);
        assert_eq!(config.snowflake_node.get(), 5);
        assert_eq!(
            config.database(),
            &Database::MySql("mysql://omni:pw@127.0.0.1:3307/omni".into())
        );
        assert_eq!(config.jwt_secret().unwrap(), Some(SECRET.as_bytes()));
    }

    #[test]
    fn causal_reads_are_off_unless_turned_on_and_take_only_true_or_false() {
        assert!(!config(&[]).causal_reads);
        assert!(config(&[("db_causal_reads", "true")]).causal_reads);
        for bad in ["", "yes", "1", "TRUE"] {
            assert_eq!(
                error_for(&[("db_causal_reads", bad)]).variable,
                "db_causal_reads"
            );
        }
    }

    #[test]
    fn the_default_db_url_is_spins_built_in_sqlite() {
        let config = config(&[("db_url", Database::DEFAULT_URL)]);
        assert_eq!(config.database(), &Database::Sqlite("default".into()));
    }

    #[test]
    fn sqlite_without_a_jwt_secret_runs_locally_with_its_own_key() {
        let config = config(&[("db_url", "sqlite:default"), ("jwt_secret", "")]);
        assert_eq!(config.jwt_secret().unwrap(), None);
    }

    #[test]
    fn db_host_is_not_compared_for_sqlite() {
        assert!(
            Config::from_source(source(&[("db_url", "sqlite:default"), ("db_host", "x:1")]))
                .is_ok()
        );
    }

    #[test]
    fn mysql_without_a_jwt_secret_is_a_configuration_error() {
        assert_eq!(secret_error(&[("jwt_secret", "")]).variable(), "jwt_secret");
    }

    #[test]
    fn a_short_jwt_secret_is_refused_on_either_backend() {
        for db_url in ["mysql://omni:pw@127.0.0.1:3307/omni", "sqlite:default"] {
            let error = secret_error(&[("db_url", db_url), ("jwt_secret", "too short")]);
            assert_eq!(error.variable(), "jwt_secret");
            assert!(
                !error.to_string().contains("too short"),
                "the secret leaked: {error}"
            );
        }
    }

    #[test]
    fn a_placeholder_jwt_secret_never_signs_anything() {
        for placeholder in [
            "CHANGE-ME-example-jwt-secret-not-for-production-use",
            "change-me-please-change-me-please-change-me",
            "CHANGEME0123456789abcdef0123456789abcdef",
        ] {
            for db_url in ["mysql://omni:pw@127.0.0.1:3307/omni", "sqlite:default"] {
                let error = secret_error(&[("db_url", db_url), ("jwt_secret", placeholder)]);
                assert_eq!(error.variable(), "jwt_secret");
                assert!(!error.to_string().contains(placeholder));
            }
        }
    }

    #[test]
    fn the_example_secret_shipped_with_the_spinkube_manifests_is_refused() {
        let example = include_str!("../../k8s/spinkube/secret.example.yaml");
        let value = example
            .lines()
            .find_map(|line| line.trim().strip_prefix("jwt_secret:"))
            .map(|v| v.trim().trim_matches('"'))
            .expect("the example sets jwt_secret");
        assert_eq!(
            secret_error(&[("jwt_secret", value)]).variable(),
            "jwt_secret"
        );
    }

    #[test]
    fn a_bad_jwt_secret_leaves_the_rest_of_the_configuration_usable() {
        let config = config(&[("jwt_secret", "")]);
        assert_eq!(config.bcrypt_cost, 10);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let error = Config::from_source(|name| {
            if name == "bcrypt_cost" {
                Err("undefined".into())
            } else {
                source(&[])(name)
            }
        })
        .unwrap_err();
        assert_eq!(error.variable, "bcrypt_cost");
    }

    /// Asserts that each of `values` for `variable` is refused, naming it.
    fn assert_refused(variable: &str, values: &[&str]) {
        for value in values {
            assert_eq!(
                error_for(&[(variable, value)]).variable,
                variable,
                "{value}"
            );
        }
    }

    #[test]
    fn bcrypt_cost_must_be_between_4_and_14() {
        assert_refused("bcrypt_cost", &["3", "15", "ten"]);
        assert!(Config::from_source(source(&[("bcrypt_cost", "4")])).is_ok());
        assert!(Config::from_source(source(&[("bcrypt_cost", "14")])).is_ok());
    }

    #[test]
    fn the_snowflake_node_must_fit_in_10_bits() {
        assert_refused("snowflake_node", &["1024", "-1"]);
        assert!(Config::from_source(source(&[("snowflake_node", "1023")])).is_ok());
    }

    #[test]
    fn the_token_lifetime_must_be_sane() {
        assert_refused("jwt_ttl_seconds", &["0", "99999999"]);
    }

    #[test]
    fn the_db_url_must_be_mysql_or_sqlite() {
        assert_refused(
            "db_url",
            &[
                "postgres://x@h/db",
                "mysql:///db",
                "sqlite:",
                "sqlite:../x.db",
                "",
            ],
        );
    }

    #[test]
    fn db_host_must_name_the_db_url_host() {
        let error = error_for(&[("db_host", "10.0.0.1:3307")]);
        assert_eq!(error.variable, "db_host");
        assert!(
            !error.to_string().contains("pw"),
            "the password leaked: {error}"
        );
    }

    #[test]
    fn the_default_mysql_port_is_implied_on_either_side() {
        let ok =
            |url, host| Config::from_source(source(&[("db_url", url), ("db_host", host)])).is_ok();
        assert!(ok("mysql://u:p@db/omni", "db:3306"));
        assert!(ok("mysql://u:p@db:3306/omni", "db"));
        assert!(ok("mysql://u:p@db/omni", "db"));
        assert!(!ok("mysql://u:p@db:3307/omni", "db"));
        assert!(ok("mysql://u:p@anything:1/omni", "*:*"));
    }

    #[test]
    fn every_limit_is_a_variable_and_zero_turns_it_off() {
        let config = config(&[("limit_signups_per_ip_per_hour", "0")]);
        assert_eq!(config.limits.login_per_ip.max, 20);
        assert_eq!(config.limits.login_per_ip.name, "logins_per_ip_per_minute");
        assert_eq!(config.limits.login_per_ip.window_seconds, 60);
        assert!(!config.limits.signups_per_ip.enabled());
        assert_eq!(
            error_for(&[("limit_writes_per_user_per_minute", "-1")]).variable,
            "limit_writes_per_user_per_minute"
        );
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let config = config(&[("trusted_proxies", "10.42.0.0/16, 192.168.1.7,fd00::/8")]);
        let trusted = &config.trusted_proxies;
        assert_eq!(trusted.len(), 3);
        assert!(trusted[0].contains("10.42.200.1".parse().unwrap()));
        assert!(!trusted[0].contains("10.43.0.1".parse().unwrap()));
        assert!(trusted[1].contains("192.168.1.7".parse().unwrap()));
        assert!(!trusted[1].contains("192.168.1.8".parse().unwrap()));
        assert!(trusted[2].contains("fd12::1".parse().unwrap()));
        assert_refused(
            "trusted_proxies",
            &["10.0.0.0/33", "example.com", "10.0.0.1/x"],
        );
    }

    #[test]
    fn the_login_backoffs_come_from_their_variables() {
        let config = config(&[("limit_login_attempts_per_account", "0")]);
        let pair = config.limits.login_per_account_and_address;
        assert_eq!(pair.attempts.max, 5);
        assert_eq!(pair.attempts.window_seconds, 86_400);
        assert_eq!(
            (pair.first_delay_seconds, pair.max_delay_seconds),
            (30, 3600)
        );
        assert!(!config.limits.login_per_account.enabled());
    }

    #[test]
    fn hsts_is_a_max_age_value_or_empty_for_none() {
        let transport = |value: &str| Transport::from_source(source(&[("hsts", value)]));
        assert_eq!(
            transport("max-age=63072000; includeSubDomains; preload")
                .unwrap()
                .hsts
                .as_deref(),
            Some("max-age=63072000; includeSubDomains; preload")
        );
        assert_eq!(transport("").unwrap().hsts, None);
        assert_eq!(transport("  ").unwrap().hsts, None);
        for bad in [
            "includeSubDomains",
            "max-age=soon",
            "max-age=1\r\nX-Evil: 1",
        ] {
            assert_eq!(transport(bad).unwrap_err().variable(), "hsts", "{bad:?}");
        }
    }

    #[test]
    fn the_extra_write_up_origin_is_one_origin_or_none() {
        assert_eq!(config(&[]).writeup_sources.extra, None);
        let set = config(&[("writeup_extra_origin", "http://10.0.0.5:8080")]);
        assert_eq!(
            set.writeup_sources.extra.unwrap().as_source(),
            "http://10.0.0.5:8080"
        );
        assert_refused(
            "writeup_extra_origin",
            &["", "git.example.org", "https://git.example.org/path"],
        );
    }

    #[test]
    fn the_public_origin_is_an_origin_or_empty() {
        assert_eq!(config(&[]).public_origin, None);
        let set = config(&[("public_origin", "https://omni.example.org")]);
        assert_eq!(
            set.public_origin.unwrap().as_source(),
            "https://omni.example.org"
        );
        assert_refused(
            "public_origin",
            &["omni.example.org", "https://omni.example.org/x"],
        );
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let config = config(&[]);
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET));
        assert!(!debug.contains("pw@"));
        assert!(!debug.contains("redis-password"));
    }

    #[test]
    fn each_redis_is_an_ip_address_and_port_or_none() {
        let config = config(&[
            ("cache_redis_address", "10.43.0.60:6379"),
            ("limits_redis_address", "[fd00::61]:6380"),
        ]);
        assert_eq!(config.redis.cache, Some("10.43.0.60:6379".parse().unwrap()));
        assert_eq!(
            config.redis.limits,
            Some("[fd00::61]:6380".parse().unwrap())
        );
        assert_eq!(config.redis.password(), "redis-password");
        let none = self::config(&[]);
        assert_eq!((none.redis.cache, none.redis.limits), (None, None));
        assert_eq!(none.redis.timeout, Duration::from_millis(50));
        for variable in ["cache_redis_address", "limits_redis_address"] {
            assert_refused(
                variable,
                &[
                    "",
                    "redis:6379",
                    "10.43.0.60",
                    "0.0.0.0:6379",
                    "10.0.0.1:0",
                    "none",
                ],
            );
        }
        let error = error_for(&[("cache_redis_address", "redis.omni.svc:6379")]);
        assert!(error.to_string().contains("no name lookup"), "{error}");
    }

    #[test]
    fn the_redis_timeout_is_bounded() {
        assert_refused("redis_timeout_ms", &["0", "1001", "fast"]);
        let config = config(&[("redis_timeout_ms", "1000")]);
        assert_eq!(config.redis.timeout, Duration::from_secs(1));
    }
}
