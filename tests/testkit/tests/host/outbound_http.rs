//! Outbound HTTP through the probe (`wasi:http/outgoing-handler`, as
//! spin-sdk's `http::send` uses it), against local test servers:
//! `allowed_outbound_hosts` (with templates and `self`), redirects,
//! timeouts, refused and unknown hosts, TLS, `block_networks`, pooling.

use std::sync::Arc;
use std::time::Duration;

use omni_testkit::{HttpServer, Reply};

use super::*;

/// The probe allowed to reach exactly `entries`.
async fn allowed(entries: &[impl AsRef<str>], runtime_config: Option<&str>) -> Probe {
    let list: Vec<String> = entries
        .iter()
        .map(|e| format!("{:?}", e.as_ref()))
        .collect();
    Probe::start(
        &format!("allowed_outbound_hosts = [{}]", list.join(", ")),
        runtime_config,
    )
    .await
}

/// A GET of `url` through spin-sdk's `send`.
async fn get(probe: &Probe, url: &str) -> Value {
    probe.report("/http", &json!({ "url": url })).await
}

/// A GET of `url` with request options (milliseconds).
async fn get_with(probe: &Probe, url: &str, options: Value) -> Value {
    probe
        .report("/http", &json!({ "url": url, "options": options }))
        .await
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_server_answers_with_its_status_headers_and_body() {
    let server = HttpServer::start(|request| match request.target.as_str() {
        "/echo" => Reply::Full {
            status: 201,
            headers: vec![("x-seen".into(), request.method.clone())],
            body: request.body.clone(),
        },
        _ => Reply::text("hello"),
    })
    .await;
    let probe = allowed(&[server.url()], None).await;
    let report = get(&probe, &format!("{}/doc.md?x=1", server.url())).await;
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["body"], "hello");
    assert_eq!(report["headers"]["content-type"], "text/plain");
    let posted = probe
        .report(
            "/http",
            &json!({
                "url": format!("{}/echo", server.url()),
                "method": "POST",
                "headers": [["x-custom", "1"]],
                "body": "payload",
            }),
        )
        .await;
    assert_eq!(posted["status"], 201, "{posted}");
    assert_eq!(posted["body"], "payload");
    assert_eq!(posted["headers"]["x-seen"], "POST");
    let received = server.received();
    assert_eq!(received[0].target, "/doc.md?x=1");
    // The client writes the Host header from the URL.
    let host = format!("127.0.0.1:{}", server.port());
    assert_eq!(received[0].header("host"), Some(host.as_str()));
    assert_eq!(received[1].header("x-custom"), Some("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_not_on_the_list_is_denied_before_any_connection() {
    let server = HttpServer::start(|_| Reply::text("hello")).await;
    let url = format!("{}/", server.url());
    let port = server.port();
    for entries in [
        vec!["https://example.com"],
        // No port means 80 for http.
        vec!["http://127.0.0.1"],
        // Another scheme, or a name that resolves to the address: no.
        vec![&*format!("https://127.0.0.1:{port}")],
        vec![&*format!("http://localhost:{port}")],
        vec![],
    ] {
        let probe = allowed(&entries, None).await;
        let report = get(&probe, &url).await;
        assert_eq!(
            report["error"], "ErrorCode::HttpRequestDenied",
            "{entries:?}: {report}"
        );
    }
    assert!(server.received().is_empty());
    let probe = allowed(&["https://example.com"], None).await;
    get(&probe, &url).await;
    let logs = probe.logs();
    assert!(
        logs.contains(&format!(
            "A component tried to make an outbound network connection to disallowed destination 'http://127.0.0.1:{port}'."
        )),
        "{logs}"
    );
    // Wildcards allow it.
    for entries in [
        ["http://*:*"],
        ["*://127.0.0.1:*"],
        ["http://127.0.0.0/8:*"],
    ] {
        let probe = allowed(&entries, None).await;
        assert_eq!(get(&probe, &url).await["status"], 200, "{entries:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_returned_as_it_is() {
    let server = HttpServer::start(|_| Reply::redirect(302, "http://169.254.169.254/latest")).await;
    let probe = allowed(&["http://*:*"], None).await;
    let report = get(&probe, &format!("{}/moved", server.url())).await;
    assert_eq!(report["status"], 302, "{report}");
    assert_eq!(
        report["headers"]["location"],
        "http://169.254.169.254/latest"
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_port_and_an_unknown_host_fail_with_their_codes() {
    let probe = allowed(&["http://*:*"], None).await;
    let report = get(&probe, &format!("http://127.0.0.1:{}/", closed_port())).await;
    assert_eq!(report["error"], "ErrorCode::ConnectionRefused");
    let report = get(&probe, "http://no-such-host.invalid/").await;
    assert_eq!(
        report["error"],
        "ErrorCode::DnsError(DnsErrorPayload { rcode: Some(\"address not available\"), info-code: Some(0) })"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_hits_the_guests_first_byte_timeout() {
    let server = HttpServer::start(|_| Reply::Silent).await;
    let probe = allowed(&[server.url()], None).await;
    let report = get_with(&probe, &server.url(), json!({ "first_byte_ms": 300 })).await;
    assert_eq!(
        report["error"], "ErrorCode::ConnectionReadTimeout",
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_options_a_request_waits_for_a_slow_server() {
    let server =
        Arc::new(HttpServer::start(|_| Reply::WhenReleased(Box::new(Reply::text("late")))).await);
    let probe = Arc::new(allowed(&[server.url()], None).await);
    let pending = tokio::spawn({
        let (probe, url) = (probe.clone(), server.url());
        async move { get(&probe, &url).await }
    });
    server.wait_for_requests(1).await;
    // spin-sdk's `send` passes no options, so Spin's 600 s defaults apply.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!pending.is_finished(), "the request gave up early");
    server.release();
    assert_eq!(pending.await.unwrap()["body"], "late");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_hits_the_guests_between_bytes_timeout() {
    let server = HttpServer::start(|_| Reply::Stall {
        length: 100,
        sent: b"partial".to_vec(),
    })
    .await;
    let probe = allowed(&[server.url()], None).await;
    let report = get_with(&probe, &server.url(), json!({ "between_bytes_ms": 300 })).await;
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(
        report["body_error"], "ErrorCode::ConnectionReadTimeout",
        "{report}"
    );
    assert_eq!(report["body"], "partial");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_accept_queue_hits_the_guests_connect_timeout() {
    // A listener that never accepts, with its queue filled: the kernel
    // drops further SYNs, so a connection attempt hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            fillers.push(stream);
        }
    }
    let probe = allowed(&["http://*:*"], None).await;
    let report = get_with(
        &probe,
        &format!("http://127.0.0.1:{port}/"),
        json!({ "connect_ms": 300 }),
    )
    .await;
    assert_eq!(report["error"], "ErrorCode::ConnectionTimeout", "{report}");
    drop((listener, fillers));
}

/// A port whose server answers anything, a TLS hello included, with an
/// HTTP 400 and closes: what a plain HTTP server does.
async fn plain_http_port() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_failure_is_tls_protocol_error() {
    let (port, server) = plain_http_port().await;
    let probe = allowed(&["https://*:*"], None).await;
    for host in ["127.0.0.1", "localhost"] {
        let report = get(&probe, &format!("https://{host}:{port}/")).await;
        assert_eq!(
            report["error"], "ErrorCode::TlsProtocolError",
            "{host}: {report}"
        );
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_handshake_is_bounded_only_by_the_first_byte_timeout() {
    // The silent server never answers the TLS hello.
    let server = HttpServer::start(|_| Reply::Silent).await;
    let probe = allowed(&["https://*:*"], None).await;
    let report = get_with(
        &probe,
        &format!("https://127.0.0.1:{}/", server.port()),
        json!({ "connect_ms": 100, "first_byte_ms": 500 }),
    )
    .await;
    assert_eq!(
        report["error"], "ErrorCode::ConnectionReadTimeout",
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_private_networks_refuse_addresses_and_names_that_resolve_to_them() {
    let server = HttpServer::start(|_| Reply::text("private")).await;
    let port = server.port();
    let block_private = "[outbound_networking]\nblock_networks = [\"private\"]\n";
    let probe = allowed(&["http://*:*"], Some(block_private)).await;
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let report = get(&probe, &url).await;
        assert_eq!(
            report["error"], "ErrorCode::DestinationIpProhibited",
            "{url}: {report}"
        );
    }
    // Self requests go to the app's own (loopback) listener: blocked too.
    let report = get(&probe, "/self").await;
    assert_eq!(
        report["error"], "ErrorCode::DestinationIpProhibited",
        "{report}"
    );
    assert!(server.received().is_empty());
    // Without the runtime config, Spin blocks nothing.
    let open = allowed(&["http://*:*"], None).await;
    assert_eq!(
        get(&open, &format!("http://127.0.0.1:{port}/")).await["status"],
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relative_url_is_a_request_to_the_app_itself_if_allowed() {
    let probe = allowed(&["http://self"], None).await;
    let report = get(&probe, "/counter").await;
    assert_eq!(report["status"], 200, "{report}");
    let counter: Value = serde_json::from_str(report["body"].as_str().unwrap()).unwrap();
    assert_eq!(counter["count"], 1);
    let denied = allowed(&["https://example.com"], None).await;
    assert_eq!(
        get(&denied, "/counter").await["error"],
        "ErrorCode::HttpRequestDenied"
    );
    let logs = denied.logs();
    assert!(
        logs.contains(
            "A component tried to make an HTTP request to its own app but it does not have permission."
        ),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn service_chaining_is_refused_loudly() {
    let probe = allowed(&["http://probe.spin.internal"], None).await;
    let (status, _) = probe
        .post(
            "/http",
            &json!({ "url": "http://probe.spin.internal/counter" }),
        )
        .await;
    assert_eq!(status, 500);
    assert!(
        probe.logs().contains("service chaining"),
        "{}",
        probe.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_pooled_across_requests_unless_the_runtime_config_says_not() {
    let pooled_server = HttpServer::start(|_| Reply::text("x")).await;
    let pooled = allowed(&[pooled_server.url()], None).await;
    for _ in 0..3 {
        assert_eq!(get(&pooled, &pooled_server.url()).await["status"], 200);
    }
    assert_eq!(pooled_server.connections(), 1);

    // A table without `connection_pooling` turns pooling off.
    let server = HttpServer::start(|_| Reply::text("x")).await;
    let unpooled = allowed(
        &[server.url()],
        Some("[outbound_http]\nmax_concurrent_requests = 10\n"),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(get(&unpooled, &server.url()).await["status"], 200);
    }
    assert_eq!(server.connections(), 3);
}

/// The probe with `allowed_outbound_hosts = [entry]`, where `entry` uses
/// variable `origin`, declared by `declaration` and set to `value`.
async fn with_origin(declaration: &str, value: Option<&str>) -> anyhow::Result<Probe> {
    let values: Vec<(&str, &str)> = value.map(|v| ("origin", v)).into_iter().collect();
    Probe::try_start_with(
        &format!("origin = {declaration}"),
        &values,
        "allowed_outbound_hosts = [\"https://example.com\", \"{{ origin }}\"]",
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_variable_in_allowed_outbound_hosts_adds_the_origin_it_names() {
    let server = HttpServer::start(|_| Reply::text("write-up")).await;
    let probe = with_origin("{ required = true }", Some(&server.url()))
        .await
        .unwrap();
    assert_eq!(
        get(&probe, &format!("{}/a.md", server.url())).await["body"],
        "write-up"
    );
    // A default that duplicates a listed entry adds nothing.
    let probe = with_origin("{ default = \"https://example.com\" }", None)
        .await
        .unwrap();
    assert_eq!(
        get(&probe, &server.url()).await["error"],
        "ErrorCode::HttpRequestDenied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_origin_variable_denies_every_outbound_request() {
    let server = HttpServer::start(|_| Reply::text("x")).await;
    // Set empty at run time: every check of the component fails, even for
    // hosts listed literally.
    let probe = with_origin("{ required = true }", Some("")).await.unwrap();
    assert_eq!(
        get(&probe, &server.url()).await["error"],
        "ErrorCode::HttpRequestDenied"
    );
    assert_eq!(
        get(&probe, "https://example.com/").await["error"],
        "ErrorCode::HttpRequestDenied"
    );
    let redis = probe
        .report(
            "/redis",
            &json!({ "address": "redis://127.0.0.1:6379", "ops": [] }),
        )
        .await;
    assert_eq!(redis["open"]["error"], "other", "{redis}");
    assert!(
        redis["open"]["text"]
            .as_str()
            .unwrap()
            .starts_with("\"\" is not an allowed outbound host format."),
        "{redis}"
    );
    // An empty default stops the app at startup.
    let error = with_origin("{ default = \"\" }", None).await.err().unwrap();
    let message = format!("{error:#}");
    assert!(
        message.contains("`allowed_outbound_hosts` is malformed: using default variable value(s) with template \"{{ origin }}\" results in invalid config \"\""),
        "{message}"
    );
}
