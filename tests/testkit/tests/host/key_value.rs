//! Key-value stores through the probe: Spin 3.6.3's
//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2`, on
//! Spin's SQLite file (each app's fresh state directory) and on Redis.

use omni_testkit::{Redis, until};

use super::*;

fn bytes(text: &str) -> Value {
    json!(text.as_bytes())
}

fn op(name: &str, key: &str) -> Value {
    json!({ "op": name, "key": key })
}

fn set(key: &str, value: &str) -> Value {
    json!({ "op": "set", "key": key, "value": bytes(value) })
}

fn increment(key: &str, delta: i64) -> Value {
    json!({ "op": "increment", "key": key, "delta": delta })
}

/// Runs `ops` on `default` through `fermyon:spin/key-value`, or through
/// `wasi:keyvalue` when `wasi`, and returns the results.
async fn ops(app: &TestApp, wasi: bool, ops: Value) -> Value {
    let result = report(app, "/kv", &json!({ "wasi": wasi, "ops": ops })).await;
    assert_eq!(result["open"], "ok", "{result}");
    result["results"].clone()
}

fn ok(value: Value) -> Value {
    json!({ "ok": value })
}

/// The probe with its `default` store on `redis`.
async fn on_redis(redis: &Redis, dir: &Path) -> TestApp {
    probe_on(AppOptions {
        runtime_config_file: Some(redis.runtime_config(dir).unwrap()),
        ..AppOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_gets_sets_deletes_and_lists_keys_through_both_interfaces() {
    let app = probe().await;
    for wasi in [false, true] {
        let results = ops(
            &app,
            wasi,
            json!([
                set("a", "1"),
                set("b", "2"),
                set("a", "3"),
                op("get", "a"),
                op("get", "missing"),
                op("exists", "b"),
                op("exists", "missing"),
                json!({ "op": "keys" }),
                op("delete", "a"),
                op("delete", "missing"),
                op("exists", "a"),
                json!({ "op": "keys" }),
                op("delete", "b"),
            ]),
        )
        .await;
        assert_eq!(
            results,
            json!([
                ok(Value::Null),
                ok(Value::Null),
                ok(Value::Null),
                ok(bytes("3")),
                ok(Value::Null),
                ok(json!(true)),
                ok(json!(false)),
                ok(json!(["a", "b"])),
                ok(Value::Null),
                ok(Value::Null),
                ok(json!(false)),
                ok(json!(["b"])),
                ok(Value::Null),
            ]),
            "wasi: {wasi}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_batch_calls_read_write_and_delete_many_keys() {
    let app = probe().await;
    let results = ops(
        &app,
        true,
        json!([
            { "op": "set_many", "pairs": [["x", bytes("1")], ["y", bytes("2")]] },
            { "op": "get_many", "keys": ["x", "y", "z"] },
            { "op": "delete_many", "keys": ["x", "z"] },
            { "op": "keys" },
        ]),
    )
    .await;
    assert_eq!(results[0], ok(Value::Null));
    // Only the keys that exist come back.
    assert_eq!(
        results[1],
        ok(json!([["x", bytes("1")], ["y", bytes("2")]]))
    );
    assert_eq!(results[3], ok(json!(["y"])));
}

#[tokio::test(flavor = "multi_thread")]
async fn increment_on_the_sqlite_store_keeps_eight_little_endian_bytes() {
    let app = probe().await;
    let results = ops(
        &app,
        true,
        json!([increment("n", 5), increment("n", -7), op("get", "n")]),
    )
    .await;
    assert_eq!(results[0], ok(json!(5)));
    assert_eq!(results[1], ok(json!(-2)));
    assert_eq!(results[2], ok(json!((-2_i64).to_le_bytes())));
    // Spin's table, in Spin's file.
    let file = rusqlite::Connection::open(app.state_dir().join("sqlite_key_value.db")).unwrap();
    let row: (String, String, Vec<u8>) = file
        .query_row("SELECT store, key, value FROM spin_key_value", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
    assert_eq!(
        row,
        (
            "default".into(),
            "n".into(),
            (-2_i64).to_le_bytes().to_vec()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incrementing_a_value_that_is_not_eight_bytes_breaks_the_sqlite_store() {
    let app = probe().await;
    assert_eq!(
        ops(&app, true, json!([set("n", "5")])).await[0],
        ok(Value::Null)
    );
    // Spin panics holding the store's lock: this request and every later
    // one on the store fail.
    let body = json!({ "wasi": true, "ops": [increment("n", 1)] });
    assert_eq!(app.post("/kv", &body, None).await.status, 500);
    let body = json!({ "ops": [op("get", "other")] });
    assert_eq!(app.post("/kv", &body, None).await.status, 500);
    let logs = app.logs().join("\n");
    assert!(logs.contains("not 8 (Spin panics here)"), "{logs}");
}

/// Through `wasi:keyvalue` atomics: `k` set to `a`, a swap to `c` that
/// another write (`b`) overtakes between its read and its swap, then a swap
/// to `d` with nothing in between, each swap followed by a read of `k`.
async fn two_swaps(app: &TestApp) -> Value {
    ops(
        app,
        true,
        json!([
            set("k", "a"),
            { "op": "cas", "key": "k", "value": bytes("c"), "meanwhile": bytes("b") },
            op("get", "k"),
            { "op": "cas", "key": "k", "value": bytes("d") },
            op("get", "k"),
        ]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_and_swap_on_sqlite_fails_after_a_concurrent_write() {
    let app = probe().await;
    let results = two_swaps(&app).await;
    // The failed swap hands back a fresh CAS that has read the new value.
    assert_eq!(
        results[1],
        json!({ "read": bytes("a"), "cas_failed": ok(bytes("b")) })
    );
    assert_eq!(results[2], ok(bytes("b")));
    assert_eq!(results[3], json!({ "read": bytes("b"), "swapped": true }));
    assert_eq!(results[4], ok(bytes("d")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_may_open_only_the_stores_it_lists() {
    let app = probe().await;
    for wasi in [false, true] {
        let denied = report(&app, "/denied/kv", &json!({ "wasi": wasi })).await;
        assert_eq!(denied["open"], json!({ "error": "access-denied" }));
        let unlisted = report(&app, "/kv", &json!({ "wasi": wasi, "label": "cache" })).await;
        assert_eq!(unlisted["open"], json!({ "error": "access-denied" }));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_needs_a_store_from_the_runtime_config() {
    wasm::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(dir.path(), "key_value_stores = [\"cache\"]");
    let error = omni_test_host::start(options_for(manifest.clone(), StateDir::Unset))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown key_value_stores label \"cache\" for component \"probe\""
    );

    // A `spin` store's path is relative to the runtime config file.
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "[key_value_store.cache]\ntype = \"spin\"\npath = \"stores/cache.db\"\n",
    )
    .unwrap();
    let mut options = options_for(manifest, StateDir::Unset);
    options.runtime_config_file = Some(config);
    let app = omni_test_host::start(options).await.unwrap();
    let result: Value = reqwest::Client::new()
        .post(format!("{}/kv", app.url()))
        .json(&json!({ "label": "cache", "ops": [set("k", "v"), op("get", "k")] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["results"][1], ok(bytes("v")));
    assert!(dir.path().join("stores/cache.db").is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn increment_on_redis_is_incrby_on_a_decimal_string() {
    let redis = Redis::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = on_redis(&redis, dir.path()).await;
    let results = ops(
        &app,
        true,
        json!([
            increment("n", 5),
            increment("n", -7),
            op("get", "n"),
            set("m", "41"),
            increment("m", 1),
            set("word", "five"),
            increment("word", 1),
        ]),
    )
    .await;
    assert_eq!(results[0], ok(json!(5)));
    assert_eq!(results[1], ok(json!(-2)));
    assert_eq!(results[2], ok(bytes("-2")));
    assert_eq!(results[4], ok(json!(42)));
    assert_eq!(results[6]["error"], "other");
    let text = results[6]["text"].as_str().unwrap();
    assert!(text.contains("value is not an integer"), "{text}");
    // Nothing was written to the SQLite file.
    assert!(!app.state_dir().join("sqlite_key_value.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_apps_on_one_redis_store_share_their_increments() {
    let redis = Redis::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = on_redis(&redis, dir.path()).await;
    let second = on_redis(&redis, dir.path()).await;
    let mut seen = Vec::new();
    for app in [&first, &second, &first, &second] {
        seen.push(ops(app, true, json!([increment("hits", 1)])).await[0].clone());
    }
    assert_eq!(
        seen,
        [ok(json!(1)), ok(json!(2)), ok(json!(3)), ok(json!(4))]
    );
    // And what one sets, the other reads.
    ops(&first, false, json!([set("shared", "yes")])).await;
    assert_eq!(
        ops(&second, false, json!([op("get", "shared")])).await[0],
        ok(bytes("yes"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_lists_every_key_of_its_database_whatever_the_label() {
    let redis = Redis::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n\
             [key_value_store.other]\ntype = \"redis\"\nurl = \"{url}\"\n",
            url = redis.url()
        ),
    )
    .unwrap();
    let manifest = probe_manifest(dir.path(), "key_value_stores = [\"default\", \"other\"]");
    let mut options = options_for(manifest, StateDir::Unset);
    options.runtime_config_file = Some(config);
    let app = omni_test_host::start(options).await.unwrap();
    let client = reqwest::Client::new();
    let post = |body: Value| {
        let request = client.post(format!("{}/kv", app.url())).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    post(json!({ "label": "other", "ops": [set("theirs", "1")] })).await;
    let listed = post(json!({ "ops": [{ "op": "keys" }, op("get", "theirs")] })).await;
    assert_eq!(listed["results"][0], ok(json!(["theirs"])));
    assert_eq!(listed["results"][1], ok(bytes("1")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_while_redis_is_down_waits_for_the_reconnection() {
    let mut redis = Redis::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = std::sync::Arc::new(on_redis(&redis, dir.path()).await);
    assert_eq!(
        ops(&app, false, json!([set("k", "v")])).await[0],
        ok(Value::Null)
    );
    // The host reconnects as soon as the connection drops (an attempt now,
    // the next after 1-2 s, then every 60-120 s), and `open`'s ping and
    // `get` wait for that reconnection rather than failing. The test stands
    // in for Redis on its port, so it sees the reconnection arrive.
    let outage = redis.stop_and_watch_its_port().await.unwrap();
    let routed = || app.host().stats().component("probe").requests;
    let before = routed();
    let pending = tokio::spawn({
        let app = app.clone();
        async move { ops(&app, false, json!([op("get", "k")])).await }
    });
    until("the call reaches the probe", async || routed() > before).await;
    let held = outage.client_connects().await.unwrap();
    assert!(!pending.is_finished(), "the call failed instead of waiting");
    held.restart_redis().await.unwrap();
    assert_eq!(pending.await.unwrap()[0], ok(bytes("v")));
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_and_swap_on_redis_always_reports_a_failed_swap() {
    let redis = Redis::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = on_redis(&redis, dir.path()).await;
    let results = two_swaps(&app).await;
    // WATCH makes the first swap lose to the concurrent write, as it
    // should. But Spin then sends UNWATCH with an argument, which Redis
    // refuses, and reports that as a failed swap: so the second swap,
    // which did write, says it failed too.
    assert_eq!(
        results[1],
        json!({ "read": bytes("a"), "cas_failed": ok(bytes("b")) })
    );
    assert_eq!(results[2], ok(bytes("b")));
    assert_eq!(
        results[3],
        json!({ "read": bytes("b"), "cas_failed": ok(bytes("d")) })
    );
    assert_eq!(results[4], ok(bytes("d")));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_many_on_redis_sends_keys_instead_of_mget() {
    let redis = Redis::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = on_redis(&redis, dir.path()).await;
    let pairs = json!({ "op": "set_many", "pairs": [["x", bytes("1")], ["y", bytes("2")]] });
    assert_eq!(ops(&app, true, json!([pairs])).await[0], ok(Value::Null));
    let get_many =
        |keys: Value| json!({ "wasi": true, "ops": [{ "op": "get_many", "keys": keys }] });
    // Redis refuses KEYS with two arguments.
    let two = report(&app, "/kv", &get_many(json!(["x", "y"]))).await;
    assert_eq!(
        two["results"][0],
        json!({
            "error": "other",
            "text": "An error was signalled by the server - ResponseError: wrong number of arguments for 'keys' command",
        })
    );
    // One argument is a pattern; one match cannot be read as key-value
    // pairs, and the redis crate panics, failing the request as in Spin.
    let response = app.post("/kv", &get_many(json!(["x"])), None).await;
    assert_eq!(response.status, 500);
    // No match is no pairs.
    let none = report(&app, "/kv", &get_many(json!(["nothing"]))).await;
    assert_eq!(none["results"][0], ok(json!([])));
}
