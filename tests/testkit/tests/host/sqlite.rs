//! SQLite through the probe: Spin 3.6.3's `fermyon:spin/sqlite@2.0.0` and
//! `spin:sqlite/sqlite@3.0.0`, on each app's own `default` database in its
//! fresh state directory.

use super::*;

fn statement(sql: &str, params: Value) -> Value {
    json!({ "sql": sql, "params": params })
}

/// `sql` on connection `on` of several.
fn on(connection: usize, sql: &str) -> Value {
    json!({ "on": connection, "sql": sql })
}

/// Runs `statements` on one connection to `default`.
async fn run(app: &TestApp, statements: Value) -> Value {
    report(app, "/sqlite", &json!({ "statements": statements })).await
}

fn io(text: &str) -> Value {
    json!({ "error": "io", "text": text })
}

#[tokio::test(flavor = "multi_thread")]
async fn values_come_back_by_storage_class_not_declared_type() {
    let app = probe().await;
    let result = run(
        &app,
        json!([
            statement(
                "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n NUMERIC, a)",
                json!([])
            ),
            statement(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
                json!([
                    { "integer": 42 }, { "real": 2.5 }, { "text": "héllo" },
                    { "blob": [0, 255] }, { "text": "12" }, { "null": null },
                ])
            ),
            // Affinity converts on the way in: text to integer, integer to
            // real and to text.
            statement(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
                json!([
                    { "text": "7" }, { "integer": 3 }, { "integer": 5 },
                    { "text": "bytes?" }, { "real": 1.0 }, { "real": 0.5 },
                ])
            ),
            statement("SELECT * FROM t", json!([])),
            statement("SELECT 1 AS one, 1.5, 'x', x'01', NULL", json!([])),
        ]),
    )
    .await;
    let select = &result["results"][3];
    assert_eq!(select["columns"], json!(["i", "r", "s", "b", "n", "a"]));
    assert_eq!(
        select["rows"],
        json!([
            [
                { "integer": 42 }, { "real": 2.5 }, { "text": "héllo" },
                { "blob": [0, 255] }, { "integer": 12 }, { "null": null },
            ],
            [
                { "integer": 7 }, { "real": 3.0 }, { "text": "5" },
                { "text": "bytes?" }, { "integer": 1 }, { "real": 0.5 },
            ],
        ])
    );
    assert_eq!(
        result["results"][4],
        json!({
            "columns": ["one", "1.5", "'x'", "x'01'", "NULL"],
            "rows": [[{ "integer": 1 }, { "real": 1.5 }, { "text": "x" }, { "blob": [1] }, { "null": null }]],
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_first_statement_of_a_string_runs() {
    let app = probe().await;
    let result = run(
        &app,
        json!([
            statement("CREATE TABLE first (x); CREATE TABLE second (x)", json!([])),
            statement(
                "INSERT INTO first VALUES (1); INSERT INTO first VALUES (2)",
                json!([])
            ),
            statement(
                "SELECT name FROM sqlite_master WHERE type = 'table'",
                json!([])
            ),
            statement("SELECT COUNT(*) FROM first", json!([])),
        ]),
    )
    .await;
    assert_eq!(result["results"][0], json!({ "columns": [], "rows": [] }));
    assert_eq!(result["results"][2]["rows"], json!([[{ "text": "first" }]]));
    assert_eq!(result["results"][3]["rows"], json!([[{ "integer": 1 }]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unique_violation_is_io_with_sqlites_message() {
    let app = probe().await;
    let result = run(
        &app,
        json!([
            statement("CREATE TABLE users (username TEXT UNIQUE)", json!([])),
            statement("INSERT INTO users VALUES (?)", json!([{ "text": "ada" }])),
            statement("INSERT INTO users VALUES (?)", json!([{ "text": "ada" }])),
        ]),
    )
    .await;
    assert_eq!(
        result["results"][2],
        io("UNIQUE constraint failed: users.username")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_keys_are_enforced_without_a_pragma() {
    let app = probe().await;
    let result = run(
        &app,
        json!([
            statement("PRAGMA foreign_keys", json!([])),
            statement("CREATE TABLE posts (id INTEGER PRIMARY KEY)", json!([])),
            statement(
                "CREATE TABLE comments (post INTEGER REFERENCES posts (id))",
                json!([])
            ),
            statement("INSERT INTO comments VALUES (?)", json!([{ "integer": 9 }])),
            statement("PRAGMA journal_mode", json!([])),
        ]),
    )
    .await;
    assert_eq!(result["results"][0]["rows"], json!([[{ "integer": 1 }]]));
    assert_eq!(result["results"][3], io("FOREIGN KEY constraint failed"));
    // The default rollback journal, not WAL.
    assert_eq!(
        result["results"][4]["rows"],
        json!([[{ "text": "delete" }]])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_errors_are_io_with_rusqlites_text() {
    let app = probe().await;
    let result = run(
        &app,
        json!([
            statement("SELEC 1", json!([])),
            statement("SELECT ?, ?", json!([{ "integer": 1 }])),
            statement("SELECT * FROM missing", json!([])),
        ]),
    )
    .await;
    assert_eq!(
        result["results"],
        json!([
            io("near \"SELEC\": syntax error in SELEC 1 at offset 0"),
            io("Wrong number of parameters passed to query. Got 1, needed 2"),
            io("no such table: missing"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_lock_held_by_another_connection_is_database_is_locked() {
    let app = probe().await;
    run(&app, json!([statement("CREATE TABLE t (x)", json!([]))])).await;
    // Connection 1 waits out the 5 s busy timeout on connection 0's lock.
    let result = report(
        &app,
        "/sqlite",
        &json!({
            "connections": 2,
            "statements": [
                on(0, "BEGIN IMMEDIATE"),
                on(0, "INSERT INTO t VALUES (1)"),
                on(1, "INSERT INTO t VALUES (2)"),
                on(0, "COMMIT"),
                on(1, "SELECT COUNT(*) FROM t"),
            ],
        }),
    )
    .await;
    assert_eq!(result["results"][2], io("database is locked"));
    assert_eq!(result["results"][4]["rows"], json!([[{ "integer": 1 }]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_v3_interface_reports_changes_and_the_last_rowid() {
    let app = probe().await;
    let result = report(
        &app,
        "/sqlite",
        &json!({
            "v3": true,
            "statements": [
                statement("CREATE TABLE t (id INTEGER PRIMARY KEY, x)", json!([])),
                statement("INSERT INTO t (x) VALUES (?), (?)", json!([{ "text": "a" }, { "text": "b" }])),
                statement("UPDATE t SET x = 'c' WHERE id = 1", json!([])),
            ],
        }),
    )
    .await;
    let results = &result["results"];
    assert_eq!(results[1]["changes"], 2);
    assert_eq!(results[1]["last_insert_rowid"], 2);
    assert_eq!(results[2]["changes"], 1);
    assert_eq!(results[2]["last_insert_rowid"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn text_that_is_not_utf8_is_an_internal_error_that_spoils_the_connection() {
    let app = probe().await;
    let result = run(
        &app,
        json!([
            statement("SELECT CAST(x'ff' AS TEXT)", json!([])),
            statement("SELECT 1", json!([])),
        ]),
    )
    .await;
    assert_eq!(result["results"][0], io("internal runtime error"));
    assert_eq!(result["results"][1], io("internal runtime error"));
    // A new connection is fine.
    let fresh = run(&app, json!([statement("SELECT 1", json!([]))])).await;
    assert_eq!(fresh["results"][0]["rows"], json!([[{ "integer": 1 }]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_may_open_only_the_databases_it_lists() {
    let app = probe().await;
    for v3 in [false, true] {
        let denied = report(&app, "/denied/sqlite", &json!({ "v3": v3 })).await;
        assert_eq!(denied["open"], json!({ "error": "access-denied" }));
        let unlisted = report(&app, "/sqlite", &json!({ "v3": v3, "label": "other" })).await;
        assert_eq!(unlisted["open"], json!({ "error": "access-denied" }));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_with_no_database_stops_the_app_from_starting() {
    wasm::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(
        dir.path(),
        "sqlite_databases = [\"default\", \"analytics\"]",
    );
    let error = omni_test_host::start(options_for(manifest, StateDir::Unset))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "One or more components use SQLite databases which are not defined.\n\
         Check the spelling, or pass a runtime configuration file that defines these stores.\n\
         See https://spinframework.dev/dynamic-configuration#sqlite-storage-runtime-configuration\n\
         Details:\n\
         - Component probe uses database 'analytics'"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_database_file_appears_on_the_first_statement() {
    let app = probe().await;
    let file = app.state_dir().join("sqlite_db.db");
    report(&app, "/sqlite", &json!({ "statements": [] })).await;
    assert!(!file.exists(), "opening alone creates no file");
    run(&app, json!([statement("SELECT 1", json!([]))])).await;
    assert!(file.is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_state_dir_option_the_stores_live_in_dot_spin_next_to_the_manifest() {
    wasm::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(
        dir.path(),
        "sqlite_databases = [\"default\"]\nkey_value_stores = [\"default\"]",
    );
    let app = omni_test_host::start(options_for(manifest, StateDir::Default))
        .await
        .unwrap();
    let state = dir.path().join(".spin");
    assert!(state.is_dir(), "created at startup");
    assert!(!state.join("sqlite_db.db").exists());
    assert!(!state.join("sqlite_key_value.db").exists());
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", app.url()))
            .json(&body)
            .send()
    };
    post("/kv", json!({ "ops": [] })).await.unwrap();
    assert!(state.join("sqlite_key_value.db").is_file(), "made by open");
    post(
        "/sqlite",
        json!({ "statements": [statement("SELECT 1", json!([]))] }),
    )
    .await
    .unwrap();
    assert!(state.join("sqlite_db.db").is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_config_file_moves_the_default_database() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("elsewhere/app.db");
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!("[sqlite_database.default]\ntype = \"spin\"\npath = {database:?}\n"),
    )
    .unwrap();
    let app = probe_on(AppOptions {
        runtime_config_file: Some(config),
        ..AppOptions::default()
    })
    .await;
    run(
        &app,
        json!([statement("CREATE TABLE moved (x)", json!([]))]),
    )
    .await;
    assert!(database.is_file());
    assert!(!app.state_dir().join("sqlite_db.db").exists());
}
