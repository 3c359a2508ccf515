//! Configuration: one struct, read from Spin variables on every request and
//! validated. A bad value is an error naming the variable, never a silent
//! default for a secret.

use std::fmt;

use crate::error::Error;
use crate::snowflake::NodeId;

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

/// Everything a component needs to know about its environment.
#[derive(Clone)]
pub struct Config {
    db_url: String,
    jwt_secret: String,
    /// How long a login token lives.
    pub jwt_ttl_seconds: i64,
    /// The bcrypt work factor for new password hashes.
    pub bcrypt_cost: u32,
    /// The node id stamped into new Snowflake ids.
    pub snowflake_node: NodeId,
}

/// A configuration problem, naming the variable (never its value when secret).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration variable `{variable}`: {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::internal(error)
    }
}

fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads and validates the configuration from the component's Spin
    /// variables.
    pub fn load() -> Result<Self, Error> {
        Ok(Self::from_source(|name| {
            spin_sdk::variables::get(name).map_err(|e| e.to_string())
        })?)
    }

    /// Reads and validates the configuration from `get`, which returns a
    /// variable's value or why it could not.
    pub fn from_source(get: impl Fn(&str) -> Result<String, String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str| get(name).map_err(|e| problem(name, e));

        let db_url = read("db_url")?;
        let db_host = read("db_host")?;
        check_db_url(&db_url, &db_host)?;

        let jwt_secret = read("jwt_secret")?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(problem(
                "jwt_secret",
                format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
            ));
        }

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

        Ok(Self {
            db_url,
            jwt_secret,
            jwt_ttl_seconds,
            bcrypt_cost: u32::try_from(bcrypt_cost)
                .map_err(|e| problem("bcrypt_cost", e.to_string()))?,
            snowflake_node: u16::try_from(node)
                .ok()
                .and_then(|n| NodeId::new(n).ok())
                .ok_or_else(|| problem("snowflake_node", "must be between 0 and 1023"))?,
        })
    }

    /// The database URL. Holds a password: never log it.
    pub fn db_url(&self) -> &str {
        &self.db_url
    }

    /// The HS256 signing key. Never log it.
    pub fn jwt_secret(&self) -> &[u8] {
        self.jwt_secret.as_bytes()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("db_url", &"<redacted>")
            .field("jwt_secret", &"<redacted>")
            .field("jwt_ttl_seconds", &self.jwt_ttl_seconds)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("snowflake_node", &self.snowflake_node.get())
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

/// Checks that `db_url` is a `mysql://` URL whose host and port are the ones
/// `db_host` names. `spin.toml` allows outbound MySQL only to
/// `mysql://{{ db_host }}`, so a mismatch would fail later with Spin's
/// opaque "not permitted"; this says which variables disagree instead.
/// A `db_host` with a wildcard is not compared.
fn check_db_url(db_url: &str, db_host: &str) -> Result<(), ConfigError> {
    let rest = db_url
        .strip_prefix("mysql://")
        .ok_or_else(|| problem("db_url", "must start with mysql://"))?;
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
            ("jwt_secret", SECRET),
            ("jwt_ttl_seconds", "86400"),
            ("bcrypt_cost", "10"),
            ("snowflake_node", "5"),
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

    #[test]
    fn a_complete_configuration_loads() {
        let config = Config::from_source(source(&[])).unwrap();
        assert_eq!(config.jwt_ttl_seconds, 86_400);
        assert_eq!(config.bcrypt_cost, 10);
        assert_eq!(config.snowflake_node.get(), 5);
        assert_eq!(config.db_url(), "mysql://omni:pw@127.0.0.1:3307/omni");
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let error = error_for(&[("jwt_secret", "too short")]);
        assert_eq!(error.variable, "jwt_secret");
        assert!(
            !error.to_string().contains("too short"),
            "the secret leaked: {error}"
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let error = Config::from_source(|name| {
            if name == "jwt_secret" {
                Err("undefined".into())
            } else {
                source(&[])(name)
            }
        })
        .unwrap_err();
        assert_eq!(error.variable, "jwt_secret");
    }

    #[test]
    fn bcrypt_cost_must_be_between_4_and_14() {
        assert_eq!(error_for(&[("bcrypt_cost", "3")]).variable, "bcrypt_cost");
        assert_eq!(error_for(&[("bcrypt_cost", "15")]).variable, "bcrypt_cost");
        assert_eq!(error_for(&[("bcrypt_cost", "ten")]).variable, "bcrypt_cost");
        assert!(Config::from_source(source(&[("bcrypt_cost", "4")])).is_ok());
        assert!(Config::from_source(source(&[("bcrypt_cost", "14")])).is_ok());
    }

    #[test]
    fn the_snowflake_node_must_fit_in_10_bits() {
        assert_eq!(
            error_for(&[("snowflake_node", "1024")]).variable,
            "snowflake_node"
        );
        assert_eq!(
            error_for(&[("snowflake_node", "-1")]).variable,
            "snowflake_node"
        );
        assert!(Config::from_source(source(&[("snowflake_node", "1023")])).is_ok());
    }

    #[test]
    fn the_token_lifetime_must_be_sane() {
        assert_eq!(
            error_for(&[("jwt_ttl_seconds", "0")]).variable,
            "jwt_ttl_seconds"
        );
        assert_eq!(
            error_for(&[("jwt_ttl_seconds", "99999999")]).variable,
            "jwt_ttl_seconds"
        );
    }

    #[test]
    fn the_db_url_must_be_mysql() {
        assert_eq!(
            error_for(&[("db_url", "postgres://x@h/db")]).variable,
            "db_url"
        );
        assert_eq!(error_for(&[("db_url", "mysql:///db")]).variable, "db_url");
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
    fn debug_output_hides_the_secrets() {
        let config = Config::from_source(source(&[])).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET));
        assert!(!debug.contains("pw@"));
    }
}
