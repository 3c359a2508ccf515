//! One request's environment: the configuration, the database connection
//! (opened on first use, so that a request refused early never opens one),
//! the stores of the cache and the rate limits (likewise), and the JWT
//! signing key.

use std::cell::OnceCell;

use crate::config::Config;
use crate::db::{self, Db};
use crate::error::Error;
use crate::kv::Kv;
use crate::store::settings;

/// What a handler works with. Load it once per request.
pub struct Context {
    config: Config,
    db: OnceCell<Box<dyn Db>>,
    kv: Kv,
    local_jwt_secret: OnceCell<String>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("connected", &self.db.get().is_some())
            .finish()
    }
}

impl Context {
    /// Reads the configuration from the component's Spin variables.
    pub fn load() -> Result<Self, Error> {
        Ok(Self::new(Config::load()?))
    }

    /// A context over `config`, not yet connected.
    pub fn new(config: Config) -> Self {
        let redis = &config.redis;
        let kv = Kv::new(redis.cache, redis.limits, redis.password(), redis.timeout);
        Self {
            config,
            db: OnceCell::new(),
            kv,
            local_jwt_secret: OnceCell::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The request's one database connection, opened on the first call.
    pub fn db(&self) -> Result<&dyn Db, Error> {
        if let Some(db) = self.db.get() {
            return Ok(&**db);
        }
        let db = db::connect(&self.config)?;
        Ok(&**self.db.get_or_init(|| db))
    }

    /// The stores of the cache and the rate limits, each opened on first
    /// use. Nothing in them is worth failing a request for: their users
    /// log a failure and go on.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    /// The HS256 signing key: `jwt_secret`, or for a local SQLite Omni
    /// without one, the key it keeps in its database. A misconfigured
    /// `jwt_secret` is a 503 naming it: no token is issued or accepted.
    /// Never log the key.
    pub fn jwt_secret(&self) -> Result<&[u8], Error> {
        if let Some(secret) = self.config.jwt_secret()? {
            return Ok(secret);
        }
        if let Some(secret) = self.local_jwt_secret.get() {
            return Ok(secret.as_bytes());
        }
        let secret = settings::local_jwt_secret(self.db()?)?;
        Ok(self.local_jwt_secret.get_or_init(|| secret).as_bytes())
    }
}
