//! Outbound Redis through the probe (`spin_sdk::redis`,
//! `fermyon:spin/redis@2.0.0`), against a real redis-server of each test's
//! own: every operation, Spin's errors, `allowed_outbound_hosts` and
//! `block_networks`, and a Redis killed, frozen (SIGSTOP) and restarted,
//! before a connection opens and under an open one (the probe waits at a
//! test server's gate in between).

use std::time::Duration;

use omni_testkit::{HttpServer, Redis, Reply};

use super::*;

fn op(name: &str, key: &str) -> Value {
    json!({ "op": name, "key": key })
}

fn set(key: &str, value: &str) -> Value {
    json!({ "op": "set", "key": key, "value": value })
}

fn execute(command: &str, args: Value) -> Value {
    json!({ "op": "execute", "command": command, "args": args })
}

fn ok(value: Value) -> Value {
    json!({ "ok": value })
}

fn other(text: &str) -> Value {
    json!({ "error": "other", "text": text })
}

/// The probe, allowed to reach `redis` only.
async fn probe_for(redis: &Redis) -> Probe {
    Probe::start(
        &format!(
            "allowed_outbound_hosts = [\"redis://127.0.0.1:{}\"]",
            redis.port()
        ),
        None,
    )
    .await
}

/// A Redis of the test's own, and the probe allowed to reach it.
async fn started() -> (Redis, Probe) {
    let redis = Redis::start().unwrap();
    let probe = probe_for(&redis).await;
    (redis, probe)
}

/// Opens `address` and runs `ops` on it.
async fn run(probe: &Probe, address: &str, ops: Value) -> Value {
    probe
        .report("/redis", &json!({ "address": address, "ops": ops }))
        .await
}

/// Runs `ops` on `redis`, which must open.
async fn ops(probe: &Probe, redis: &Redis, ops: Value) -> Value {
    let report = run(probe, redis.url(), ops).await;
    assert_eq!(report["open"], "ok", "{report}");
    report["results"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_reaches_redis_and_maps_its_reply() {
    let (redis, probe) = started().await;
    let results = ops(
        &probe,
        &redis,
        json!([
            set("k", "v"),
            op("get", "k"),
            op("get", "missing"),
            op("incr", "n"),
            op("incr", "n"),
            { "op": "sadd", "key": "s", "values": ["a", "b", "a"] },
            { "op": "srem", "key": "s", "values": ["b", "c"] },
            op("smembers", "s"),
            { "op": "publish", "channel": "news", "payload": "hello" },
            { "op": "del", "keys": ["k", "n", "missing"] },
            op("get", "k"),
        ]),
    )
    .await;
    assert_eq!(
        results,
        json!([
            ok(Value::Null),
            ok(json!("v")),
            ok(Value::Null),
            ok(json!(1)),
            ok(json!(2)),
            ok(json!(2)),
            ok(json!(1)),
            ok(json!(["a"])),
            ok(Value::Null),
            ok(json!(2)),
            ok(Value::Null),
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_sends_any_command_and_flattens_the_reply() {
    let (redis, probe) = started().await;
    let results = ops(
        &probe,
        &redis,
        json!([
            execute("SET", json!([{ "binary": "a" }, { "int64": 41 }])),
            execute("INCRBY", json!([{ "binary": "a" }, { "int64": 1 }])),
            execute("MGET", json!([{ "binary": "a" }, { "binary": "nothing" }])),
            execute("PING", json!([])),
            execute(
                "INCRBYFLOAT",
                json!([{ "binary": "f" }, { "binary": "1.5" }])
            ),
            execute(
                "RPUSH",
                json!([{ "binary": "l" }, { "binary": "x" }, { "binary": "y" }])
            ),
            execute(
                "LRANGE",
                json!([{ "binary": "l" }, { "int64": 0 }, { "int64": -1 }])
            ),
            execute(
                "HSET",
                json!([{ "binary": "h" }, { "binary": "f" }, { "binary": "1" }])
            ),
            execute("HGETALL", json!([{ "binary": "h" }])),
            execute("GET", json!([{ "binary": "nothing" }])),
        ]),
    )
    .await;
    assert_eq!(
        results,
        json!([
            ok(json!([{ "status": "OK" }])),
            ok(json!([{ "int64": 42 }])),
            ok(json!([{ "binary": "42" }, { "nil": null }])),
            ok(json!([{ "status": "PONG" }])),
            ok(json!([{ "binary": "1.5" }])),
            ok(json!([{ "int64": 2 }])),
            ok(json!([{ "binary": "x" }, { "binary": "y" }])),
            ok(json!([{ "int64": 1 }])),
            ok(json!([{ "binary": "f" }, { "binary": "1" }])),
            ok(json!([{ "nil": null }])),
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_is_other_with_the_redis_crates_text() {
    let (redis, probe) = started().await;
    let results = ops(
        &probe,
        &redis,
        json!([
            set("word", "five"),
            op("incr", "word"),
            { "op": "sadd", "key": "word", "values": ["x"] },
            op("smembers", "word"),
            { "op": "del", "keys": [] },
            execute("NOPE", json!([])),
        ]),
    )
    .await;
    let not_integer = "An error was signalled by the server - ResponseError: value is not an integer or out of range";
    let wrong_type = "WRONGTYPE: Operation against a key holding the wrong kind of value";
    assert_eq!(results[1], other(not_integer));
    // Not `type-error`: a WRONGTYPE reply is a server error, and Spin maps
    // only the redis crate's own conversion failures to `type-error`.
    assert_eq!(results[2], other(wrong_type));
    assert_eq!(results[3], other(wrong_type));
    assert_eq!(
        results[4],
        other(
            "An error was signalled by the server - ResponseError: wrong number of arguments for 'del' command"
        )
    );
    assert_eq!(results[5]["error"], "other");
    let unknown = results[5]["text"].as_str().unwrap();
    assert!(unknown.contains("unknown command 'NOPE'"), "{unknown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_open_is_a_new_connection() {
    let (redis, probe) = started().await;
    let received = |results: &Value, i: usize| -> u64 {
        let info = results[i]["ok"][0]["binary"].as_str().unwrap().to_owned();
        info.lines()
            .find_map(|line| line.strip_prefix("total_connections_received:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let info = execute("INFO", json!([{ "binary": "stats" }]));
    let first = ops(&probe, &redis, json!([info, { "op": "open" }, info])).await;
    assert_eq!(received(&first, 2), received(&first, 0) + 1);
    // The next request opens afresh too: nothing is pooled.
    let second = ops(&probe, &redis, json!([info])).await;
    assert_eq!(received(&second, 0), received(&first, 2) + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_outside_allowed_outbound_hosts_is_invalid_address() {
    let redis = Redis::start().unwrap();
    let probe = Probe::start("allowed_outbound_hosts = [\"redis://127.0.0.1:1\"]", None).await;
    let report = run(&probe, redis.url(), json!([])).await;
    assert_eq!(report["open"], json!({ "error": "invalid-address" }));
    let logs = probe.logs();
    let destination = format!("redis://127.0.0.1:{}", redis.port());
    assert!(
        logs.contains(&format!(
            "A component tried to make an outbound network connection to disallowed destination '{destination}'."
        )),
        "{logs}"
    );
    // Without any entry, nothing is allowed.
    let none = Probe::start("", None).await;
    let report = run(&none, redis.url(), json!([])).await;
    assert_eq!(report["open"], json!({ "error": "invalid-address" }));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_the_redis_crate_cannot_read_is_invalid_address() {
    let (redis, probe) = started().await;
    let report = run(
        &probe,
        &format!("{}/not-a-database", redis.url()),
        json!([]),
    )
    .await;
    assert_eq!(report["open"], json!({ "error": "invalid-address" }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_or_unknown_host_fails_at_once_with_the_system_error() {
    let probe = Probe::start("allowed_outbound_hosts = [\"redis://*:*\"]", None).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let report = run(&probe, &format!("redis://127.0.0.1:{closed}"), json!([])).await;
    assert_eq!(report["open"], other("Connection refused (os error 111)"));
    let report = run(&probe, "redis://no-such-host.invalid:6379", json!([])).await;
    assert_eq!(report["open"]["error"], "other");
    let text = report["open"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("failed to lookup address information"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_address_traps_where_spin_panics() {
    let redis = Redis::start().unwrap();
    let probe = Probe::start(
        &format!(
            "allowed_outbound_hosts = [\"redis://127.0.0.1:{}\"]",
            redis.port()
        ),
        Some("[outbound_networking]\nblock_networks = [\"private\"]\n"),
    )
    .await;
    let (status, _) = probe
        .post("/redis", &json!({ "address": redis.url(), "ops": [] }))
        .await;
    assert_eq!(status, 500);
    let logs = probe.logs();
    assert!(
        logs.contains("all destination IP(s) prohibited by runtime config"),
        "{logs}"
    );
    // Another network leaves it alone.
    let other_network = Probe::start(
        &format!(
            "allowed_outbound_hosts = [\"redis://127.0.0.1:{}\"]",
            redis.port()
        ),
        Some("[outbound_networking]\nblock_networks = [\"10.0.0.0/8\"]\n"),
    )
    .await;
    assert_eq!(
        run(&other_network, redis.url(), json!([])).await["open"],
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_redis_is_refused_at_once_and_a_restarted_one_serves_again() {
    let mut redis = Redis::start().unwrap();
    let probe = probe_for(&redis).await;
    assert_eq!(
        ops(&probe, &redis, json!([set("k", "v")])).await[0],
        ok(Value::Null)
    );
    redis.stop().unwrap();
    let report = run(&probe, redis.url(), json!([])).await;
    assert_eq!(report["open"], other("Connection refused (os error 111)"));
    redis.restart().unwrap();
    assert_eq!(
        ops(&probe, &redis, json!([op("get", "k")])).await[0],
        ok(json!("v"))
    );
}

/// Whether a connection to local `port` has bytes its (frozen) server has
/// not read: the kernel's receive queue, from /proc/net/tcp.
fn unread_bytes_at(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let established = fields.get(3) == Some(&"01");
        let unread = fields
            .get(4)
            .and_then(|queues| queues.split_once(':'))
            .is_some_and(|(_, rx)| u64::from_str_radix(rx, 16).unwrap_or(0) > 0);
        established && unread && fields.get(1).is_some_and(|l| l.ends_with(&local))
    })
}

/// Waits, within a generous bound, until `condition` holds.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn open_on_a_frozen_redis_waits_until_it_resumes() {
    let redis = Redis::start().unwrap();
    let probe = std::sync::Arc::new(probe_for(&redis).await);
    redis.freeze().unwrap();
    let pending = tokio::spawn({
        let (probe, url) = (probe.clone(), redis.url().to_owned());
        async move { run(&probe, &url, json!([set("k", "v"), op("get", "k")])).await }
    });
    // The event: the kernel took the connection and the redis crate's
    // connection setup (CLIENT SETINFO), which nobody reads.
    until("the connection setup reaches the frozen Redis", || {
        unread_bytes_at(redis.port())
    })
    .await;
    // Spin sets no connect or response timeout: nothing gives up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!pending.is_finished(), "open gave up on a frozen Redis");
    redis.resume().unwrap();
    let report = pending.await.unwrap();
    assert_eq!(report["open"], "ok");
    assert_eq!(report["results"], json!([ok(Value::Null), ok(json!("v"))]));
}

/// The probe allowed to reach `redis` and the test's `gate` server, and
/// the ops that write `k`, wait at the gate, then `then`.
async fn gated(redis: &Redis, gate: &HttpServer, then: Value) -> (Probe, Value) {
    let probe = Probe::start(
        &format!(
            "allowed_outbound_hosts = [\"redis://127.0.0.1:{}\", \"{}\"]",
            redis.port(),
            gate.url()
        ),
        None,
    )
    .await;
    let mut ops = vec![set("k", "v"), json!({ "op": "gate", "url": gate.url() })];
    ops.extend(then.as_array().unwrap().iter().cloned());
    (probe, json!(ops))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_on_a_frozen_redis_waits_until_it_resumes() {
    let redis = Redis::start().unwrap();
    let gate = HttpServer::start(|_| Reply::WhenReleased(Box::new(Reply::text("go")))).await;
    let (probe, ops) = gated(&redis, &gate, json!([op("get", "k")])).await;
    let probe = std::sync::Arc::new(probe);
    let pending = tokio::spawn({
        let (probe, url) = (probe.clone(), redis.url().to_owned());
        async move { run(&probe, &url, ops).await }
    });
    // The connection is open and has written `k`: freeze Redis under it.
    gate.wait_for_requests(1).await;
    redis.freeze().unwrap();
    gate.release();
    until("the GET reaches the frozen Redis", || {
        unread_bytes_at(redis.port())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !pending.is_finished(),
        "the command gave up on a frozen Redis"
    );
    redis.resume().unwrap();
    let report = pending.await.unwrap();
    assert_eq!(
        report["results"],
        json!([ok(Value::Null), { "status": 200 }, ok(json!("v"))])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_whose_redis_died_stays_broken_and_a_new_open_is_refused() {
    let mut redis = Redis::start().unwrap();
    let gate = HttpServer::start(|_| Reply::WhenReleased(Box::new(Reply::text("go")))).await;
    let (probe, list) = gated(&redis, &gate, json!([op("get", "k"), { "op": "open" }])).await;
    let probe = std::sync::Arc::new(probe);
    let pending = tokio::spawn({
        let (probe, url) = (probe.clone(), redis.url().to_owned());
        async move { run(&probe, &url, list).await }
    });
    gate.wait_for_requests(1).await;
    redis.stop().unwrap();
    gate.release();
    let report = pending.await.unwrap();
    let results = &report["results"];
    assert_eq!(results[2], other("broken pipe"), "{report}");
    assert_eq!(results[3], other("Connection refused (os error 111)"));
    redis.restart().unwrap();
    assert_eq!(
        ops(&probe, &redis, json!([op("get", "k")])).await[0],
        ok(json!("v"))
    );
}
