//! The test host behaves like Spin 3.6 where a component can tell: routing,
//! headers, instances, variables, MySQL, SQLite ([`sqlite`]), key-value
//! ([`key_value`]), outbound Redis ([`outbound_redis`]) and HTTP
//! ([`outbound_http`]), outbound permissions, logs. These run the probe fixture
//! (`tests/fixtures/probe`) against real MariaDB and Redis.

// Test code: a panic is how a helper fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "host/key_value.rs"]
mod key_value;
#[path = "host/outbound_http.rs"]
mod outbound_http;
#[path = "host/outbound_redis.rs"]
mod outbound_redis;
#[path = "host/sqlite.rs"]
mod sqlite;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use omni_test_host::{ClockOffset, HostOptions, Logs, Providers, StateDir};
use omni_testkit::{
    AppOptions, MariaDb, TestApp, mariadb, spawn_app_with, until, wasm, workspace_root,
};
use serde_json::{Value, json};

const TOKEN: &str = "token-value";

fn fixture_manifest() -> PathBuf {
    workspace_root().join("tests/fixtures/spin.toml")
}

async fn probe() -> TestApp {
    probe_with(vec![], vec![]).await
}

async fn probe_with(variables: Vec<(&str, &str)>, component_ids: Vec<&str>) -> TestApp {
    probe_on(AppOptions {
        component_ids: component_ids.into_iter().map(str::to_owned).collect(),
        variables: variables
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ..AppOptions::default()
    })
    .await
}

/// The fixture app with `options`, plus the variables it requires.
async fn probe_on(mut options: AppOptions) -> TestApp {
    options
        .variables
        .insert(0, ("token".to_owned(), TOKEN.to_owned()));
    options.manifest = Some(fixture_manifest());
    spawn_app_with(options).await
}

/// Posts `body` to `path` and returns the probe's JSON report.
async fn report(app: &TestApp, path: &str, body: &Value) -> Value {
    let response = app.post(path, body, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// A manifest in `dir` whose one component, the probe, serves every path
/// and has `permissions` (TOML lines) in its table.
fn probe_manifest(dir: &Path, permissions: &str) -> PathBuf {
    probe_manifest_with(dir, "", permissions)
}

/// [`probe_manifest`] with `variables` (TOML lines) in `[variables]`.
fn probe_manifest_with(dir: &Path, variables: &str, permissions: &str) -> PathBuf {
    let source = workspace_root().join("target/wasm32-wasip2/release/omni_probe.wasm");
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n\
             [application]\nname = \"stores\"\n\
             [variables]\n{variables}\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
             [component.probe]\nsource = {source:?}\n{permissions}\n"
        ),
    )
    .unwrap();
    manifest
}

/// Host options for `manifest` with no variables.
fn options_for(manifest: PathBuf, state_dir: StateDir) -> HostOptions {
    HostOptions {
        manifest,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        component_ids: vec![],
        providers: Providers {
            explicit: HashMap::new(),
            environment: false,
        },
        logs: Logs::captured(),
        runtime_config_file: None,
        state_dir,
        clock_offset: ClockOffset::default(),
        count_fuel: false,
    }
}

/// The probe alone in an app of its own: every path, `permissions` (TOML
/// lines) in its component table, and an optional runtime config file.
/// Needs no database.
struct Probe {
    app: omni_test_host::RunningApp,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Probe {
    async fn start(permissions: &str, runtime_config: Option<&str>) -> Self {
        Self::try_start_with("", &[], permissions, runtime_config)
            .await
            .unwrap()
    }

    /// With `variables` declared (TOML lines) and set to `values`.
    async fn try_start_with(
        variables: &str,
        values: &[(&str, &str)],
        permissions: &str,
        runtime_config: Option<&str>,
    ) -> anyhow::Result<Self> {
        wasm::ensure_built();
        let dir = tempfile::tempdir().unwrap();
        let manifest = probe_manifest_with(dir.path(), variables, permissions);
        let mut options = options_for(manifest, StateDir::Unset);
        options.providers.explicit = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(text) = runtime_config {
            let path = dir.path().join("runtime-config.toml");
            std::fs::write(&path, text).unwrap();
            options.runtime_config_file = Some(path);
        }
        let app = omni_test_host::start(options).await?;
        Ok(Self {
            app,
            client: reqwest::Client::new(),
            _dir: dir,
        })
    }

    /// Posts `body` to `path`: the status and the body as JSON (or `null`).
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.app.url()))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Posts `body` to `path` and returns the probe's JSON report.
    async fn report(&self, path: &str, body: &Value) -> Value {
        let (status, report) = self.post(path, body).await;
        assert_eq!(status, 200, "{report}");
        report
    }

    fn logs(&self) -> String {
        self.app.logs().lines().join("\n")
    }
}

/// Runs statements through the probe on one connection.
async fn sql(app: &TestApp, path: &str, address: Option<String>, statements: Value) -> Value {
    let mut body = json!({ "statements": statements });
    if let Some(address) = address {
        body["address"] = json!(address);
    }
    let response = app.post(path, &body, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn query(sql: &str, params: Value) -> Value {
    json!({ "kind": "query", "sql": sql, "params": params })
}

fn execute(sql: &str, params: Value) -> Value {
    json!({ "kind": "execute", "sql": sql, "params": params })
}

fn p(kind: &str, value: Value) -> Value {
    json!({ "type": kind, "value": value })
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_prefer_exact_then_parameter_then_wildcard() {
    let app = probe().await;
    let matched = |path: &'static str| {
        let app = &app;
        async move { app.get(path, None).await.json()["headers"]["spin-raw-component-route"].clone() }
    };
    assert_eq!(matched("/route/exact").await, "/route/exact");
    assert_eq!(matched("/route/42").await, "/route/:id");
    assert_eq!(matched("/route/42/more/x/y").await, "/route/:id/more/...");
    assert_eq!(matched("/route/42/other").await, "/route/...");
    assert_eq!(matched("/route").await, "/route/...");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmatched_path_is_an_empty_404() {
    let app = probe().await;
    let response = app.get("/no/such/route", None).await;
    assert_eq!(response.status, 404);
    assert!(response.body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_headers_describe_the_request_and_the_match() {
    let app = probe().await;
    let echo = app.get("/route/123/more/a/b?x=1", None).await.json();
    let headers = &echo["headers"];
    let port = app.host().addr().port();
    assert_eq!(
        headers["spin-full-url"],
        format!("http://127.0.0.1:{port}/route/123/more/a/b?x=1")
    );
    assert_eq!(headers["spin-path-info"], "/a/b");
    assert_eq!(headers["spin-matched-route"], "/route/:id/more/...");
    assert_eq!(headers["spin-raw-component-route"], "/route/:id/more/...");
    assert_eq!(headers["spin-component-route"], "/route/:id/more");
    assert_eq!(headers["spin-base-path"], "/");
    assert_eq!(headers["spin-path-match-id"], "123");
    assert!(
        headers["spin-client-addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    // The component sees the original path and query, not the path info.
    assert_eq!(
        echo["uri"]
            .as_str()
            .unwrap()
            .rsplit_once(&format!("{port}"))
            .unwrap()
            .1,
        "/route/123/more/a/b?x=1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_headers_are_appended_after_a_clients_own() {
    let app = probe().await;
    let echo = app
        .send(
            app.request(reqwest::Method::GET, "/route/123")
                .header("spin-path-match-id", "forged")
                .header("spin-client-addr", "10.0.0.1:1"),
        )
        .await
        .json();
    let port = app.host().addr().port();
    let all: Vec<(String, String)> = serde_json::from_value(echo["all_headers"].clone()).unwrap();
    let client = all
        .iter()
        .find(|(name, value)| name == "spin-client-addr" && value != "10.0.0.1:1")
        .map(|(_, value)| value.clone())
        .unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{client}");
    let pair = |name: &str, value: &str| (name.to_owned(), value.to_owned());
    // Each name keeps its place with the client's value first; Spin's own
    // names follow in Spin's order, except that wasmtime-wasi-http drops the
    // `host` header with a swap-remove, which moves the last header into
    // its slot (in Spin too, which builds the same header map).
    assert_eq!(
        all,
        [
            pair("spin-path-match-id", "forged"),
            pair("spin-path-match-id", "123"),
            pair("spin-client-addr", "10.0.0.1:1"),
            pair("spin-client-addr", &client),
            pair("spin-component-route", "/route/:id"),
            pair("spin-path-info", ""),
            pair(
                "spin-full-url",
                &format!("http://127.0.0.1:{port}/route/123")
            ),
            pair("spin-matched-route", "/route/:id"),
            pair("spin-base-path", "/"),
            pair("spin-raw-component-route", "/route/:id"),
        ]
    );
    // The first value is the client's; spin-sdk's `Request` keeps the last.
    assert_eq!(echo["headers"]["spin-path-match-id"], "forged");
    assert_eq!(echo["sdk_headers"]["spin-path-match-id"], "123");
    assert_eq!(echo["sdk_headers"]["spin-client-addr"], client.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_value_that_is_not_utf8_is_an_empty_500() {
    let app = probe().await;
    let response = app
        .send(app.request(reqwest::Method::GET, "/route/1").header(
            "x-latin1",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        ))
        .await;
    assert_eq!(response.status, 500);
    assert!(response.body.is_empty());
    assert_eq!(app.host().stats().component("probe").instantiations, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_gets_a_fresh_instance() {
    let app = probe().await;
    for _ in 0..5 {
        assert_eq!(app.get("/counter", None).await.json()["count"], 1);
    }
    let concurrent = futures::future::join_all((0..8).map(|_| app.get("/counter", None))).await;
    for response in concurrent {
        assert_eq!(response.json()["count"], 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_come_from_defaults_and_from_given_values() {
    let app = probe().await;
    assert_eq!(
        app.get("/var/greeting", None).await.json()["value"],
        "hello"
    );
    assert_eq!(
        app.get("/var/framed", None).await.json()["value"],
        format!("<hello|{TOKEN}>")
    );

    let app = probe_with(vec![("greeting", "hej")], vec![]).await;
    assert_eq!(app.get("/var/greeting", None).await.json()["value"], "hej");
    assert_eq!(
        app.get("/var/framed", None).await.json()["value"],
        format!("<hej|{TOKEN}>")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_variable_the_component_does_not_list_is_undefined() {
    let app = probe().await;
    let error = app.get("/var/token", None).await.json()["error"].clone();
    assert_eq!(
        error,
        "Error::Undefined(\"no variable for \\\"probe\\\".\\\"token\\\"\")"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_variable_name_is_refused() {
    let app = probe().await;
    let error = app.get("/var/Greeting", None).await.json()["error"].clone();
    assert!(
        error
            .as_str()
            .unwrap()
            .starts_with("Error::InvalidName(\"\\\"Greeting\\\": invalid character 'G'"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_variable_stops_the_app_from_starting() {
    wasm::ensure_built();
    let mut options = options_for(fixture_manifest(), StateDir::Unset);
    options.providers.explicit =
        HashMap::from([("db_url".to_owned(), "mysql://x@127.0.0.1/db".to_owned())]);
    let result = omni_test_host::start(options).await;
    let error = format!("{:#}", result.unwrap_err());
    assert!(
        error.contains("no provider resolved required variable(s): [Key(\"token\")]"),
        "{error}"
    );
}

/// Set in a child process that runs one test with a prepared environment.
const CHILD: &str = "OMNI_HOST_TEST_CHILD";

#[tokio::test(flavor = "multi_thread")]
async fn variables_come_from_spin_variable_environment_variables() {
    if std::env::var_os(CHILD).is_some() {
        // The child: the host reads this process's environment at startup.
        wasm::ensure_built();
        let mut options = options_for(fixture_manifest(), StateDir::Unset);
        options.providers.environment = true;
        let app = omni_test_host::start(options).await.unwrap();
        let framed: Value = reqwest::get(format!("{}/var/framed", app.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(framed["value"], "<bonjour|from-the-environment>");
        return;
    }
    // The parent: run this test again, in a process whose environment holds
    // the variables (setting them here would race with other test threads).
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "variables_come_from_spin_variable_environment_variables",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("SPIN_VARIABLE_DB_URL", "mysql://omni@127.0.0.1:3306/omni")
        .env("SPIN_VARIABLE_TOKEN", "from-the-environment")
        .env("SPIN_VARIABLE_GREETING", "bonjour")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_round_trips_every_supported_column_type() {
    let app = probe().await;
    let result = sql(
        &app,
        "/sql",
        None,
        json!([
            execute(
                "CREATE TABLE every_type (
                    tiny TINYINT, utiny TINYINT UNSIGNED, small SMALLINT, usmall SMALLINT UNSIGNED,
                    medium MEDIUMINT, umedium MEDIUMINT UNSIGNED, i INT, ui INT UNSIGNED,
                    big BIGINT, ubig BIGINT UNSIGNED, flag BOOLEAN, f FLOAT, d DOUBLE,
                    c CHAR(5), vc VARCHAR(20), txt TEXT, lt LONGTEXT, e ENUM('red', 'green'),
                    bin BINARY(3), vb VARBINARY(10), bl BLOB, j JSON, nothing INT)",
                json!([])
            ),
            execute(
                "INSERT INTO every_type VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                json!([
                    p("int8", json!(-128)), p("uint8", json!(255)),
                    p("int16", json!(-32768)), p("uint16", json!(65535)),
                    p("int32", json!(-8388608)), p("uint32", json!(16777215)),
                    p("int32", json!(-2147483648_i64)), p("uint32", json!(4294967295_u64)),
                    p("int64", json!(i64::MIN)), p("uint64", json!(u64::MAX)),
                    p("boolean", json!(true)), p("floating32", json!(1.5)), p("floating64", json!(2.25)),
                    p("str", json!("abc")), p("str", json!("héllo ✓")), p("str", json!("text")),
                    p("str", json!("long text")), p("str", json!("green")),
                    p("binary", json!([1, 2, 3])), p("binary", json!([0, 255])), p("binary", json!([9])),
                    p("str", json!("{\"a\": 1}")), p("db-null", Value::Null),
                ])
            ),
            query("SELECT * FROM every_type", json!([])),
        ]),
    )
    .await;
    let select = &result["results"][2];
    let types: Vec<&str> = select["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("DbDataType::")
        })
        .collect();
    assert_eq!(
        types,
        [
            "Int8",
            "Uint8",
            "Int16",
            "Uint16",
            "Int32",
            "Uint32",
            "Int32",
            "Uint32",
            "Int64",
            "Uint64",
            "Int8",
            "Floating32",
            "Floating64",
            "Str",
            "Str",
            "Str",
            "Str",
            "Str",
            "Binary",
            "Binary",
            "Binary",
            "Binary",
            "Int32",
        ]
    );
    let row = &select["rows"][0];
    assert_eq!(result["results"][1], json!({ "ok": true }), "{result}");
    let expected = json!([
        p("int8", json!(-128)),
        p("uint8", json!(255)),
        p("int16", json!(-32768)),
        p("uint16", json!(65535)),
        p("int32", json!(-8388608)),
        p("uint32", json!(16777215)),
        p("int32", json!(-2147483648_i64)),
        p("uint32", json!(4294967295_u64)),
        p("int64", json!(i64::MIN)),
        p("uint64", json!(u64::MAX)),
        p("int8", json!(1)),
        p("floating32", json!(1.5)),
        p("floating64", json!(2.25)),
        p("str", json!("abc")),
        p("str", json!("héllo ✓")),
        p("str", json!("text")),
        p("str", json!("long text")),
        p("str", json!("green")),
        p("binary", json!([1, 2, 3])),
        p("binary", json!([0, 255])),
        p("binary", json!([9])),
        p("binary", json!(b"{\"a\": 1}".to_vec())),
        p("db-null", Value::Null),
    ]);
    assert_eq!(row, &expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn expressions_map_like_columns() {
    let app = probe().await;
    let result = sql(
        &app,
        "/sql",
        None,
        json!([
            query("SELECT COUNT(*) AS n, 1 AS one, CAST(5 AS UNSIGNED) AS u, UNIX_TIMESTAMP('2025-01-01 00:00:00') AS ts", json!([])),
            execute("CREATE TABLE seq (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)", json!([])),
            execute("INSERT INTO seq (v) VALUES (?), (?)", json!([p("int32", json!(1)), p("int32", json!(2))])),
            query("SELECT ROW_COUNT() AS changed, LAST_INSERT_ID() AS last", json!([])),
        ]),
    )
    .await;
    let types = |i: usize| -> Vec<String> {
        result["results"][i]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["type"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("DbDataType::")
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(types(0), ["Int64", "Int32", "Uint32", "Int64"]);
    assert_eq!(
        result["results"][1],
        json!({ "ok": true }),
        "execute returns nothing"
    );
    assert_eq!(types(3), ["Int64", "Uint64"]);
    assert_eq!(result["results"][3]["rows"][0][0], p("int64", json!(2)));
}

#[tokio::test(flavor = "multi_thread")]
async fn datetime_and_decimal_columns_fail_the_whole_query() {
    let app = probe().await;
    let result = sql(
        &app,
        "/sql",
        None,
        json!([
            execute(
                "CREATE TABLE odd (id INT, at DATETIME, price DECIMAL(5,2))",
                json!([])
            ),
            execute(
                "INSERT INTO odd VALUES (1, '2026-11-22 05:00:00', 12.50), (2, NULL, NULL)",
                json!([])
            ),
            query("SELECT id, at FROM odd WHERE id = 1", json!([])),
            query("SELECT id, price FROM odd WHERE id = 1", json!([])),
            query("SELECT id, at, price FROM odd WHERE id = 2", json!([])),
            query("SELECT NOW() AS now", json!([])),
            query("SELECT UNIX_TIMESTAMP(NOW(3)) AS ms", json!([])),
        ]),
    )
    .await;
    let results = &result["results"];
    for i in [2, 3, 5, 6] {
        assert_eq!(
            results[i]["error"], "value-conversion-failed",
            "{}",
            results[i]
        );
        assert!(
            results[i]["text"]
                .as_str()
                .unwrap()
                .contains("data type DbDataType::Other"),
            "{}",
            results[i]
        );
    }
    assert_eq!(
        results[3]["text"],
        "Cannot convert value Bytes(\"12.50\") in column price data type DbDataType::Other"
    );
    // NULL is fine in any column.
    assert_eq!(
        results[4]["rows"][0],
        json!([
            p("int32", json!(2)),
            p("db-null", Value::Null),
            p("db-null", Value::Null)
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_key_is_query_failed_with_duplicate_entry() {
    let app = probe().await;
    let result = sql(
        &app,
        "/sql",
        None,
        json!([
            execute(
                "CREATE TABLE uniq (name VARCHAR(10), UNIQUE KEY name_key (name))",
                json!([])
            ),
            execute(
                "INSERT INTO uniq VALUES (?)",
                json!([p("str", json!("ada"))])
            ),
            execute(
                "INSERT INTO uniq VALUES (?)",
                json!([p("str", json!("ada"))])
            ),
        ]),
    )
    .await;
    let failure = &result["results"][2];
    assert_eq!(failure["error"], "query-failed");
    let text = failure["text"].as_str().unwrap();
    assert!(
        text.contains("Duplicate entry 'ada' for key 'name_key'"),
        "{text}"
    );
    assert!(text.contains("code: 1062"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_statement_is_query_failed() {
    let app = probe().await;
    let result = sql(
        &app,
        "/sql",
        None,
        json!([query("SELECT * FROM no_such_table", json!([]))]),
    )
    .await;
    assert_eq!(result["results"][0]["error"], "query-failed");
    assert!(
        result["results"][0]["text"]
            .as_str()
            .unwrap()
            .contains("1146")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_outside_allowed_outbound_hosts_is_refused() {
    let app = probe().await;
    let result = sql(&app, "/denied/sql", None, json!([])).await;
    assert_eq!(result["open"]["error"], "connection-failed");
    let text = result["open"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("address mysql://") && text.ends_with(" is not permitted"),
        "{text}"
    );
    // The host's own log names the destination but never the password.
    let logs = app.logs().join("\n");
    assert!(logs.contains("disallowed destination"), "{logs}");
    assert!(!logs.contains("omni-test-password"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_allowed_host_is_exact_about_the_port() {
    let server = mariadb::shared();
    let (host, port) = server.host().rsplit_once(':').unwrap();
    // Allowed: db_host says host:port. Not allowed: the same host without a
    // port means 3306.
    let app = probe_with(vec![("db_host", host)], vec![]).await;
    let result = sql(&app, "/sql", None, json!([])).await;
    assert_eq!(result["open"]["error"], "connection-failed", "{result}");
    assert!(!port.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_is_connection_failed() {
    let app = probe_with(vec![("db_host", "127.0.0.1:*")], vec![]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = sql(
        &app,
        "/sql",
        Some(format!("mysql://u:p@127.0.0.1:{closed}/db")),
        json!([]),
    )
    .await;
    assert_eq!(result["open"]["error"], "connection-failed");
    assert!(
        result["open"]["text"]
            .as_str()
            .unwrap()
            .contains("Connection refused")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_mysql_async_cannot_read_traps_as_spins_panic_does() {
    let app = probe_with(vec![("db_host", "127.0.0.1:*")], vec![]).await;
    let body = json!({
        "address": "mysql://u:p@127.0.0.1:1/db?no_such_option=1",
        "statements": [],
    });
    let response = app.post("/sql", &body, None).await;
    assert_eq!(response.status, 500);
    let logs = app.logs().join("\n");
    assert!(logs.contains("Spin panics here"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolled_back_transaction_leaves_nothing() {
    let app = probe().await;
    sql(
        &app,
        "/sql",
        None,
        json!([execute(
            "CREATE TABLE ledger (amount INT) ENGINE=InnoDB",
            json!([])
        )]),
    )
    .await;
    let result = sql(
        &app,
        "/sql",
        None,
        json!([
            execute("START TRANSACTION", json!([])),
            execute(
                "INSERT INTO ledger VALUES (?)",
                json!([p("int32", json!(10))])
            ),
            query("SELECT COUNT(*) AS n FROM ledger", json!([])),
            execute("ROLLBACK", json!([])),
            query("SELECT COUNT(*) AS n FROM ledger", json!([])),
        ]),
    )
    .await;
    assert_eq!(
        result["results"][2]["rows"][0][0],
        p("int64", json!(1)),
        "visible inside"
    );
    assert_eq!(
        result["results"][4]["rows"][0][0],
        p("int64", json!(0)),
        "gone after rollback"
    );
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM ledger").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_are_counted_per_component() {
    let app = probe().await;
    sql(
        &app,
        "/sql",
        None,
        json!([
            query("SELECT 1 AS a", json!([])),
            query("SELECT 2 AS b", json!([]))
        ]),
    )
    .await;
    let stats = app.host().stats().component("probe");
    assert_eq!(stats.statements, 2);
    assert_eq!(stats.requests, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_phase_of_a_request_is_measured() {
    let app = probe().await;
    app.get("/counter", None).await;
    let stats = app.host().stats().component("probe");
    assert!(stats.pre_instantiate > std::time::Duration::ZERO);
    assert_eq!(stats.instantiations, 1);
    assert!(stats.instantiate_total > std::time::Duration::ZERO);
    // The peak is recorded when the guest returns, possibly just after the
    // response arrived: wait for it.
    until("a peak memory is recorded", async || {
        app.host().stats().component("probe").peak_memory_max > 0
    })
    .await;
    let peak = app.host().stats().component("probe").peak_memory_max;
    // A Rust component starts with its stack and data: at least one 64 KiB page.
    assert!(peak >= 64 * 1024, "{peak}");
    assert!(peak < 64 << 20, "{peak}");
}

#[tokio::test(flavor = "multi_thread")]
async fn component_output_goes_to_the_log_prefixed_with_its_id() {
    let app = probe().await;
    app.get("/log", None).await;
    let logs = app.logs();
    assert!(logs.contains(&"[probe] to stdout".to_owned()), "{logs:?}");
    assert!(logs.contains(&"[probe] to stderr".to_owned()), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_component_is_an_empty_500_and_is_logged() {
    let app = probe().await;
    let response = app.get("/trap", None).await;
    assert_eq!(response.status, 500);
    assert!(response.body.is_empty());
    let logs = app.logs().join("\n");
    assert!(logs.contains("Error processing request"), "{logs}");
    assert!(logs.contains("the probe was asked to trap"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subset_of_components_serves_only_their_routes() {
    let app = probe_with(vec![], vec!["denied"]).await;
    assert_eq!(app.get("/counter", None).await.status, 404);
    let result = sql(&app, "/denied/sql", None, json!([])).await;
    assert_eq!(result["open"]["error"], "connection-failed");
    // `/dup`'s winning claim belongs to `probe`, which is not running, so
    // `denied`'s losing claim is the one that serves it here.
    assert_eq!(app.get("/dup", None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_component_id_is_refused() {
    wasm::ensure_built();
    let mut options = options_for(fixture_manifest(), StateDir::Unset);
    options.component_ids = vec!["nobody".into()];
    options.providers.explicit = HashMap::from([
        ("db_url".to_owned(), "mysql://x@127.0.0.1/db".to_owned()),
        ("token".to_owned(), "t".to_owned()),
    ]);
    let result = omni_test_host::start(options).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "Specified component \"nobody\" not found in application"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_route_is_reported_and_the_last_claim_serves_it() {
    let app = probe().await;
    let logs = app.logs();
    assert!(
        logs.contains(&"[host]   denied: /dup (duplicate of probe)".to_owned()),
        "{logs:?}"
    );
    assert_eq!(app.get("/dup", None).await.status, 200);
    assert_eq!(app.host().stats().component("probe").requests, 1);
    assert_eq!(app.host().stats().component("denied").requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_database_is_connection_failed_and_a_restarted_one_works() {
    let mut server = MariaDb::start().unwrap();
    let app = TestApp::spawn_on(
        &server,
        AppOptions {
            variables: vec![("token".into(), TOKEN.into())],
            manifest: Some(fixture_manifest()),
            ..AppOptions::default()
        },
    )
    .await;
    assert_eq!(sql(&app, "/sql", None, json!([])).await["open"], "ok");
    server.stop().unwrap();
    let result = sql(&app, "/sql", None, json!([])).await;
    assert_eq!(result["open"]["error"], "connection-failed");
    server.restart().unwrap();
    assert_eq!(sql(&app, "/sql", None, json!([])).await["open"], "ok");
}
