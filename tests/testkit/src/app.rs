//! [`spawn_app`]: the real components in the test host, over a fresh
//! database of their own, with a client that has typed helpers.
//!
//! The database is MariaDB or Spin's built-in SQLite ([`Backend`]), chosen
//! by `OMNI_TEST_BACKEND` so that the same suite runs on both; `galera` is
//! MariaDB too, a three-node Galera cluster (see [`crate::mariadb::shared`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mysql_async::prelude::Queryable;
use omni_test_host::{ClockOffset, HostOptions, Logs, Providers, RunningApp, StateDir};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::mariadb::{self, MariaDb};
use crate::openapi::{self, Exchange};
use crate::redis::Redis;
use crate::{wasm, workspace_root};

/// The JWT signing key every test app uses.
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// The database an app runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A fresh database on the shared MariaDB (`db_url = mysql://…`).
    MySql,
    /// Spin's built-in SQLite (`db_url` left at its default,
    /// `sqlite:default`), in a fresh state directory.
    Sqlite,
}

impl Backend {
    /// `OMNI_TEST_BACKEND`: `mysql` (the default), `galera` (MariaDB on a
    /// Galera cluster) or `sqlite`.
    pub fn from_env() -> Self {
        match std::env::var("OMNI_TEST_BACKEND").as_deref() {
            Ok("sqlite") => Self::Sqlite,
            Ok("mysql" | "galera") | Err(_) => Self::MySql,
            Ok(other) => panic!("OMNI_TEST_BACKEND must be mysql, galera or sqlite, not {other:?}"),
        }
    }
}

/// The body of a 201; the test fails on any other answer.
fn created(response: TestResponse) -> Value {
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()
}

/// A valid post to create: `title`, with a description and a write-up URL
/// made from it.
pub fn post_body(title: &str) -> Value {
    json!({
        "title": title,
        "description": format!("All about {title}."),
        "markdown_url": format!("https://example.com/{}.md", title.replace(' ', "-")),
    })
}

/// The `id` of a resource the API returned.
pub fn id(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {resource}"))
        .to_owned()
}

/// Fails a test that applies to MariaDB only when it runs on another
/// backend, saying `why` it does not apply there. Such a test lives in a
/// module named `mariadb_only`, which the SQLite run leaves out by name
/// (`--skip mariadb_only::`), so that it is reported as filtered out there
/// rather than passed without testing anything.
pub fn mariadb_only(why: &str) {
    assert!(
        Backend::from_env() == Backend::MySql,
        "a MariaDB-only test run on SQLite ({why}): leave it out with `--skip mariadb_only::`"
    );
}

/// Where an app keeps its response cache and rate limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Store {
    /// Spin's key-value store (`sqlite_key_value.db` in the state
    /// directory, unless a runtime config says otherwise): what Omni uses
    /// when no Redis is configured.
    #[default]
    SpinKeyValue,
    /// A fresh redis-server of the app's own, for both, through Omni's own
    /// Redis client (`cache_redis_address`, `limits_redis_address`).
    Redis,
}

/// Each Redis may keep a test's request waiting this long: the most
/// `redis_timeout_ms` allows, so that a healthy Redis on a busy test
/// machine is never mistaken for a failed one.
pub const TEST_REDIS_TIMEOUT_MS: &str = "1000";

/// Every rate-limit variable in `spin.toml`.
pub const RATE_LIMITS: [&str; 7] = [
    "limit_logins_per_ip_per_minute",
    "limit_login_attempts_per_account_and_address",
    "limit_login_attempts_per_account",
    "limit_signups_per_ip_per_hour",
    "limit_writes_per_user_per_minute",
    "limit_writes_per_user_per_day",
    "limit_searches_per_ip_per_minute",
];

/// What to change from the defaults.
#[derive(Debug, Default)]
pub struct AppOptions {
    /// Run only these components (`--component-id`); empty is all.
    pub component_ids: Vec<String>,
    /// Variables to set or override.
    pub variables: Vec<(String, String)>,
    /// Another manifest than the repository's `spin.toml`.
    pub manifest: Option<PathBuf>,
    /// The database; `None` is [`Backend::from_env`].
    pub backend: Option<Backend>,
    /// Set no variables at all, as a fresh `spin up` with an empty
    /// environment: SQLite, a generated signing key, the default bcrypt
    /// cost. `variables` still apply on top.
    pub zero_setup: bool,
    /// Shifts the components' wall clock while the app runs.
    pub clock: ClockOffset,
    /// Count the wasm instructions (fuel) each component executes.
    pub count_fuel: bool,
    /// Spin's runtime config file (`--runtime-config-file`), e.g. one that
    /// puts the `default` key-value store on Redis.
    pub runtime_config_file: Option<PathBuf>,
    /// The state directory (`--state-dir`). By default every app gets a
    /// fresh temporary one, so its `.spin/` files start empty, removed when
    /// the app is dropped. Give one to share it between apps.
    pub state_dir: Option<PathBuf>,
    /// Where the cache and the rate limits live.
    pub store: Store,
}

/// A running app with its own database.
#[derive(Debug)]
pub struct TestApp {
    app: RunningApp,
    state_dir: PathBuf,
    /// The temporary state directory, when the test gave none.
    _scratch: Option<tempfile::TempDir>,
    client: reqwest::Client,
    database: Database,
    /// The app's own Redis, with [`Store::Redis`].
    redis: Option<Redis>,
    clock: ClockOffset,
    /// Whether responses are checked against `openapi.yaml` (for Omni's
    /// own manifest, not for fixtures).
    check_contract: bool,
}

/// Where a test app's data lives.
#[derive(Debug)]
enum Database {
    MySql {
        url: String,
    },
    /// Spin's default database, `sqlite_db.db` in the app's state
    /// directory.
    Sqlite,
}

/// A signed-up, logged-in user.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// The user's id, as the API writes it.
    pub id: String,
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
    /// A bearer token.
    pub token: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body as JSON; panics (failing the test) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The whole app over a fresh database of the backend `OMNI_TEST_BACKEND`
/// names.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// The app with `options`, over a fresh database.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    match options.backend.unwrap_or_else(Backend::from_env) {
        Backend::MySql => TestApp::spawn_on(mariadb::shared(), options).await,
        Backend::Sqlite => TestApp::start(Database::Sqlite, HashMap::new(), options).await,
    }
}

impl TestApp {
    /// The app over a fresh database on `server`.
    pub async fn spawn_on(server: &MariaDb, options: AppOptions) -> TestApp {
        let name = server.create_database().await.expect("a fresh database");
        TestApp::spawn_on_database(server.url(&name), server.host(), options).await
    }

    /// The app over an existing MariaDB database at `url` (`db_host` is
    /// `host`): one restored from a backup, or one Galera node's copy.
    pub async fn spawn_on_database(url: String, host: &str, options: AppOptions) -> TestApp {
        let variables = HashMap::from([
            ("db_url".to_owned(), url.clone()),
            ("db_host".to_owned(), host.to_owned()),
        ]);
        TestApp::start(Database::MySql { url }, variables, options).await
    }

    async fn start(
        database: Database,
        mut variables: HashMap<String, String>,
        options: AppOptions,
    ) -> TestApp {
        wasm::ensure_built();
        if !options.zero_setup {
            variables.extend([
                ("jwt_secret".to_owned(), JWT_SECRET.to_owned()),
                ("bcrypt_cost".to_owned(), "4".to_owned()),
                ("snowflake_node".to_owned(), "1".to_owned()),
            ]);
            // Tests make many users and posts from one address: rate limits
            // are off unless a test turns one on.
            variables.extend(
                RATE_LIMITS
                    .iter()
                    .map(|name| ((*name).to_owned(), "0".to_owned())),
            );
        }
        if std::env::var("OMNI_TEST_BACKEND").as_deref() == Ok("galera")
            && matches!(database, Database::MySql { .. })
        {
            // Reads on the cluster are causal, as k8s/spinkube sets them.
            variables.extend(crate::galera::app_options().variables);
        }
        let redis = match options.store {
            Store::SpinKeyValue => None,
            Store::Redis => {
                let redis = Redis::start().expect("a Redis for the app");
                variables.extend([
                    ("cache_redis_address".to_owned(), redis.address()),
                    ("limits_redis_address".to_owned(), redis.address()),
                    (
                        "redis_timeout_ms".to_owned(),
                        TEST_REDIS_TIMEOUT_MS.to_owned(),
                    ),
                ]);
                Some(redis)
            }
        };
        variables.extend(options.variables);
        let check_contract = options.manifest.is_none();
        let (state_dir, scratch) = match options.state_dir {
            Some(dir) => (dir, None),
            None => {
                let scratch = tempfile::Builder::new()
                    .prefix("omni-state-")
                    .tempdir()
                    .expect("a temporary state directory");
                (scratch.path().to_owned(), Some(scratch))
            }
        };
        let app = omni_test_host::start(HostOptions {
            manifest: options
                .manifest
                .unwrap_or_else(|| workspace_root().join("spin.toml")),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            component_ids: options.component_ids,
            providers: Providers {
                explicit: variables,
                environment: false,
            },
            logs: Logs::captured(),
            runtime_config_file: options.runtime_config_file,
            state_dir: StateDir::Path(state_dir.clone()),
            clock_offset: options.clock.clone(),
            count_fuel: options.count_fuel,
        })
        .await
        .expect("the app starts");
        TestApp {
            app,
            state_dir,
            _scratch: scratch,
            client: reqwest::Client::new(),
            database,
            redis,
            clock: options.clock,
            check_contract,
        }
    }

    /// The backend this app's data is on.
    pub fn backend(&self) -> Backend {
        match self.database {
            Database::MySql { .. } => Backend::MySql,
            Database::Sqlite => Backend::Sqlite,
        }
    }

    /// The SQLite file of a [`Backend::Sqlite`] app (it exists once the app
    /// has served a request that used the database).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match &self.database {
            Database::Sqlite => Some(self.state_dir.join("sqlite_db.db")),
            Database::MySql { .. } => None,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.app.url()
    }

    /// The running host, for its stats.
    pub fn host(&self) -> &RunningApp {
        &self.app
    }

    /// The app's own Redis, with [`Store::Redis`].
    pub fn redis(&self) -> Option<&Redis> {
        self.redis.as_ref()
    }

    /// The shift of the components' wall clock: set it to move their time
    /// while the app runs (the same offset as [`AppOptions::clock`]).
    pub fn clock(&self) -> &ClockOffset {
        &self.clock
    }

    /// Everything the components and the host logged.
    pub fn logs(&self) -> Vec<String> {
        self.app.logs().lines()
    }

    /// The app's state directory, where Spin keeps `sqlite_db.db` and
    /// `sqlite_key_value.db`.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A request builder for `path`, to send with [`TestApp::send`].
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url()))
    }

    /// Sends a request and reads the whole response, which must agree with
    /// `openapi.yaml` (the test fails if it does not).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        let request = request.build().expect("a valid request");
        let (method, path) = (request.method().clone(), request.url().path().to_owned());
        let response = self
            .client
            .execute(request)
            .await
            .expect("the request is answered");
        let response = TestResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("the body is read").to_vec(),
        };
        if self.check_contract {
            let exchange = Exchange {
                method: method.as_str(),
                path: &path,
                status: response.status,
                content_type: response.header("content-type"),
                headers: response
                    .headers
                    .keys()
                    .map(|k| k.as_str().to_owned())
                    .collect(),
                body: &response.body,
            };
            if let Err(e) = openapi::contract().check(&exchange) {
                panic!("the response breaks openapi.yaml: {e:#}");
            }
        }
        response
    }

    /// `GET path`, with a bearer token if given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(with_token(self.request(Method::GET, path), token))
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> TestResponse {
        self.send(with_token(
            self.request(Method::POST, path).json(body),
            token,
        ))
        .await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> TestResponse {
        self.send(with_token(
            self.request(Method::PATCH, path).json(body),
            token,
        ))
        .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(with_token(self.request(Method::DELETE, path), token))
            .await
    }

    /// `POST /api/signup`.
    pub async fn signup(&self, username: &str, password: &str) -> TestResponse {
        let credentials = json!({ "username": username, "password": password });
        self.post("/api/signup", &credentials, None).await
    }

    /// `POST /api/login`.
    pub async fn login(&self, username: &str, password: &str) -> TestResponse {
        let credentials = json!({ "username": username, "password": password });
        self.post("/api/login", &credentials, None).await
    }

    /// Signs `username` up and logs them in.
    pub async fn create_user(&self, username: &str) -> TestUser {
        let password = format!("{username}-password");
        let signup = self.signup(username, &password).await;
        assert_eq!(
            signup.status,
            201,
            "signup of {username}: {}",
            signup.text()
        );
        let login = self.login(username, &password).await;
        assert_eq!(login.status, 200, "login of {username}: {}", login.text());
        TestUser {
            id: signup.json()["id"].as_str().expect("an id").to_owned(),
            username: username.to_owned(),
            password,
            token: login.json()["token"].as_str().expect("a token").to_owned(),
        }
    }

    /// Creates a post titled `title` (see [`post_body`]) as `user`, and
    /// returns it; the test fails unless it is created.
    pub async fn create_post(&self, user: &TestUser, title: &str) -> Value {
        self.create_post_from(user, &post_body(title)).await
    }

    /// Creates the post `body` describes as `user`, and returns it; the
    /// test fails unless it is created.
    pub async fn create_post_from(&self, user: &TestUser, body: &Value) -> Value {
        created(self.post("/api/posts", body, Some(&user.token)).await)
    }

    /// Comments `body` on the post `post_id` as `user`, and returns the
    /// comment; the test fails unless it is created.
    pub async fn create_comment(&self, user: &TestUser, post_id: &str, body: &str) -> Value {
        let path = format!("/api/posts/{post_id}/comments");
        created(
            self.post(&path, &json!({ "body": body }), Some(&user.token))
                .await,
        )
    }

    /// The `db_url` of a MariaDB app, to point a second app at the same
    /// database (`None` on SQLite).
    pub fn db_url(&self) -> Option<&str> {
        match &self.database {
            Database::MySql { url } => Some(url),
            Database::Sqlite => None,
        }
    }

    /// A direct connection to this app's MariaDB database, for checks and
    /// setup; panics on SQLite (see [`TestApp::sqlite`]).
    pub async fn db(&self) -> mysql_async::Conn {
        let Database::MySql { url, .. } = &self.database else {
            panic!("this app runs on SQLite, not MariaDB");
        };
        mysql_async::Conn::from_url(url.as_str())
            .await
            .expect("a database connection")
    }

    /// A direct connection to this app's SQLite database; panics on MariaDB.
    pub fn sqlite(&self) -> rusqlite::Connection {
        let path = self
            .sqlite_path()
            .expect("this app runs on MariaDB, not SQLite");
        let connection = rusqlite::Connection::open(path).expect("the SQLite database opens");
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .expect("a busy timeout");
        connection
    }

    /// Makes sure a SQLite app's database exists, as the app makes it on
    /// its first request, before a test reads or writes it directly.
    async fn ensure_created(&self) {
        if self.sqlite_path().is_some_and(|path| !path.exists()) {
            let ready = self.get("/readyz", None).await;
            assert_eq!(ready.status, 200, "{}", ready.text());
        }
    }

    /// Runs `sql` directly and returns the first column of the first row.
    pub async fn scalar<T: Scalar>(&self, sql: &str) -> T {
        self.ensure_created().await;
        match &self.database {
            Database::MySql { .. } => {
                let mut db = self.db().await;
                let value: Option<mysql_async::Value> =
                    db.query_first(sql).await.expect("the query runs");
                db.disconnect().await.expect("a clean disconnect");
                T::from_mysql(value.expect("a row"))
            }
            Database::Sqlite => {
                let value: rusqlite::types::Value = self
                    .sqlite()
                    .query_row(sql, [], |row| row.get(0))
                    .expect("the query returns a row");
                T::from_sqlite(value)
            }
        }
    }

    /// Runs `sql` directly, returning nothing.
    pub async fn execute(&self, sql: &str) {
        self.ensure_created().await;
        match &self.database {
            Database::MySql { .. } => {
                let mut db = self.db().await;
                db.query_drop(sql).await.expect("the statement runs");
                db.disconnect().await.expect("a clean disconnect");
            }
            Database::Sqlite => {
                self.sqlite()
                    .execute_batch(sql)
                    .expect("the statement runs");
            }
        }
    }

    /// Renames a table, in the backend's dialect (to make statements that
    /// use it fail).
    pub async fn rename_table(&self, from: &str, to: &str) {
        let sql = match self.backend() {
            Backend::MySql => format!("RENAME TABLE {from} TO {to}"),
            Backend::Sqlite => format!("ALTER TABLE {from} RENAME TO {to}"),
        };
        self.execute(&sql).await;
    }
}

/// A value [`TestApp::scalar`] can return, from either backend.
pub trait Scalar: Sized {
    /// From a MariaDB value.
    fn from_mysql(value: mysql_async::Value) -> Self;
    /// From a SQLite value.
    fn from_sqlite(value: rusqlite::types::Value) -> Self;
}

impl Scalar for i64 {
    fn from_mysql(value: mysql_async::Value) -> Self {
        mysql_async::from_value(value)
    }
    fn from_sqlite(value: rusqlite::types::Value) -> Self {
        match value {
            rusqlite::types::Value::Integer(n) => n,
            other => panic!("expected an integer, got {other:?}"),
        }
    }
}

impl Scalar for String {
    fn from_mysql(value: mysql_async::Value) -> Self {
        mysql_async::from_value(value)
    }
    fn from_sqlite(value: rusqlite::types::Value) -> Self {
        match value {
            rusqlite::types::Value::Text(text) => text,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

fn with_token(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}
