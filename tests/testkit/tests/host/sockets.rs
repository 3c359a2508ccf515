//! `wasi:sockets` through the probe, as Spin 3.6.3 gives it: TCP connects
//! only where `allowed_outbound_hosts` has a matching `tcp://` entry (by IP
//! address), `block_networks`, no bind, no name lookup, UDP behind `udp://`
//! entries; and against a real redis-server, a refused connection, and a
//! frozen (SIGSTOPped) one that holds the component only as long as the
//! component's own timer allows.

use omni_testkit::Redis;

use super::*;

/// The probe, allowed `entries` (TOML strings), with an optional runtime
/// config.
async fn probe_allowing(entries: &[&str], runtime_config: Option<&str>) -> Probe {
    let list: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    Probe::start(
        &format!("allowed_outbound_hosts = [{}]", list.join(", ")),
        runtime_config,
    )
    .await
}

/// Connects to `address` within `timeout_ms`, sends `send` and reads until
/// the answer holds `read_until`.
async fn tcp(probe: &Probe, address: &str, timeout_ms: u64, send: &str, read_until: &str) -> Value {
    probe
        .report(
            "/sockets",
            &json!({
                "op": "tcp",
                "address": address,
                "timeout_ms": timeout_ms,
                "send": send,
                "read_until": read_until,
            }),
        )
        .await
}

const PING: &str = "*1\r\n$4\r\nPING\r\n";

/// `127.0.0.1:<port>` of a server of the test's own.
fn local(redis: &Redis) -> String {
    format!("127.0.0.1:{}", redis.port())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_connect_to_an_allowed_address_reaches_redis() {
    let redis = Redis::start().unwrap();
    let probe = probe_allowing(&[&format!("tcp://{}", local(&redis))], None).await;
    let report = tcp(&probe, &local(&redis), 10_000, PING, "\r\n").await;
    assert_eq!(
        report,
        json!({ "connect": "ok", "received": "+PONG\r\n", "read": "ok" })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn networks_and_wildcards_match_the_address() {
    let redis = Redis::start().unwrap();
    for entry in ["tcp://127.0.0.0/8:*", "tcp://127.0.0.1:*", "*://*:*"] {
        let probe = probe_allowing(&[entry], None).await;
        let report = tcp(&probe, &local(&redis), 10_000, PING, "\r\n").await;
        assert_eq!(report["received"], "+PONG\r\n", "{entry}: {report}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connect_that_no_tcp_entry_matches_is_access_denied_and_reported() {
    let redis = Redis::start().unwrap();
    let denied = json!({ "connect": { "error": "access-denied" } });
    let port = redis.port();
    for entries in [
        vec![],
        vec!["tcp://127.0.0.1:1".to_owned()],
        // Another scheme: outbound Redis's entry does not open raw TCP.
        vec![format!("redis://127.0.0.1:{port}")],
        // Spin checks the address, so a name never matches, not even
        // one that resolves to it.
        vec![format!("tcp://localhost:{port}")],
        vec!["tcp://10.0.0.0/8:*".to_owned()],
    ] {
        let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
        let probe = probe_allowing(&entries, None).await;
        let report = tcp(&probe, &local(&redis), 10_000, PING, "\r\n").await;
        assert_eq!(report, denied, "{entries:?}");
        let logs = probe.logs();
        assert!(
            logs.contains(&format!(
                "A component tried to make an outbound network connection to disallowed destination 'tcp://127.0.0.1:{port}'."
            )),
            "{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_network_refuses_an_allowed_address() {
    let redis = Redis::start().unwrap();
    let entry = format!("tcp://{}", local(&redis));
    let blocked = probe_allowing(
        &[&entry],
        Some("[outbound_networking]\nblock_networks = [\"private\"]\n"),
    )
    .await;
    let report = tcp(&blocked, &local(&redis), 10_000, PING, "\r\n").await;
    assert_eq!(report, json!({ "connect": { "error": "access-denied" } }));
    assert!(
        blocked
            .logs()
            .contains("destination IP prohibited by runtime config"),
        "{}",
        blocked.logs()
    );
    let elsewhere = probe_allowing(
        &[&entry],
        Some("[outbound_networking]\nblock_networks = [\"10.0.0.0/8\"]\n"),
    )
    .await;
    let report = tcp(&elsewhere, &local(&redis), 10_000, PING, "\r\n").await;
    assert_eq!(report["received"], "+PONG\r\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_fails_at_once() {
    let probe = probe_allowing(&["tcp://127.0.0.1:*"], None).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // A minute: far longer than a refusal takes; the report says which.
    let report = tcp(&probe, &closed.to_string(), 60_000, PING, "\r\n").await;
    assert_eq!(
        report,
        json!({ "connect": { "error": "connection-refused" } })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_redis_holds_a_read_only_until_the_components_own_timer() {
    let redis = Redis::start().unwrap();
    let probe = probe_allowing(&[&format!("tcp://{}", local(&redis))], None).await;
    redis.freeze().unwrap();
    // The kernel still accepts the connection and the command; nothing
    // answers. Spin bounds neither: the component's timer ends the wait,
    // and the request is answered.
    let report = tcp(&probe, &local(&redis), 300, PING, "\r\n").await;
    assert_eq!(
        report,
        json!({ "connect": "ok", "received": "", "read": "timed-out" })
    );
    redis.resume().unwrap();
    let report = tcp(&probe, &local(&redis), 10_000, PING, "\r\n").await;
    assert_eq!(report["received"], "+PONG\r\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn name_lookup_is_refused_even_for_an_ip_literal() {
    let probe = probe_allowing(&["*://*:*"], None).await;
    for name in ["localhost", "127.0.0.1", "example.com"] {
        let report = probe
            .report("/sockets", &json!({ "op": "lookup", "name": name }))
            .await;
        assert_eq!(
            report,
            json!({ "lookup": { "error": "permanent-resolver-failure" } }),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn binding_a_tcp_socket_is_refused_whatever_is_allowed() {
    let probe = probe_allowing(&["*://*:*"], None).await;
    let report = probe
        .report(
            "/sockets",
            &json!({ "op": "bind", "address": "127.0.0.1:0" }),
        )
        .await;
    assert_eq!(report, json!({ "bind": { "error": "access-denied" } }));
}

#[tokio::test(flavor = "multi_thread")]
async fn udp_needs_a_udp_entry_for_its_bind_and_its_destination() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let address = receiver.local_addr().unwrap().to_string();
    let send = json!({ "op": "udp", "address": address, "send": "hello" });
    // A tcp:// entry does not cover UDP: the bind (to 0.0.0.0:0) is checked
    // first.
    let tcp_only = probe_allowing(&["tcp://*:*"], None).await;
    assert_eq!(
        tcp_only.report("/sockets", &send).await,
        json!({ "bind": { "error": "access-denied" } })
    );
    // The bind allowed, a destination off the list is refused.
    let bind_only = probe_allowing(&["udp://0.0.0.0:0"], None).await;
    assert_eq!(
        bind_only.report("/sockets", &send).await,
        json!({ "bind": "ok", "send": { "error": "access-denied" } })
    );
    let udp = probe_allowing(&["udp://*:*"], None).await;
    assert_eq!(
        udp.report("/sockets", &send).await,
        json!({ "bind": "ok", "sent": 1 })
    );
    let mut buffer = [0u8; 16];
    let (length, _) = receiver.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..length], b"hello");
}
