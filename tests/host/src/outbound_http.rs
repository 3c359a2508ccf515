//! `wasi:http/outgoing-handler@0.2.x` (what spin-sdk 5.2's
//! `spin_sdk::http::send` calls) with Spin 3.6.3's semantics, read off
//! crates/factor-outbound-http/src/{lib,wasi,runtime_config/spin}.rs and
//! crates/trigger-http/src/{server,outbound_http}.rs at v3.6.3:
//!
//! - The URL is checked against `allowed_outbound_hosts` (scheme `https`
//!   when the URL has none). A request with no host (a relative URL, which
//!   spin-sdk sends with an empty authority) or to `self.alt` is a *self
//!   request*: it needs `http://self`, `https://self` or a `*` host, and
//!   goes to the app's own listener over plain HTTP. A denial, or a list
//!   that did not resolve, is `HttpRequestDenied` when the guest reads the
//!   response. The guest's `Host` header is dropped; the client writes one
//!   from the URL.
//! - No redirect is followed: the guest sees the 3xx. HTTP is as allowed as
//!   HTTPS; HTTPS uses rustls with the webpki (Mozilla) roots only, offering
//!   h2 and HTTP/1.1, and any TLS failure, a bad certificate included, is
//!   `TlsProtocolError`.
//! - The host name resolves through the system resolver (a failure is
//!   `DnsError("address not available", 0)`), then the runtime config's
//!   blocked networks are removed from the answer: if nothing is left,
//!   `DestinationIpProhibited`. This is checked at every new connection, so
//!   it covers every address a name resolves to; there are no redirects to
//!   check.
//! - Timeouts are the guest's `request-options`, each defaulting to 600 s
//!   (spin-sdk's `send` passes none, so 600 s it is): connect
//!   (`ConnectionTimeout`), first byte, which runs from the start of the
//!   request to the response head (`ConnectionReadTimeout`), and between
//!   body chunks (`ConnectionReadTimeout`, enforced by wasmtime). A refused
//!   connection is `ConnectionRefused`; any other failure of the exchange
//!   is `HttpProtocolError`.
//! - Connections are pooled app-wide (hyper's legacy client, 90 s idle)
//!   unless the runtime config's `[outbound_http]` table sets
//!   `connection_pooling = false`, which is also what a table without that
//!   key means; `max_concurrent_requests` caps open connections at n + 1.
//!
//! Not here: service chaining (`http://<component>.spin.internal`), which
//! Spin serves in-process (this host traps instead), `[[client_tls]]`, and
//! h2c prior knowledge (`SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`).

use std::future::Future;
use std::io::IoSlice;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::{Authority, Scheme};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use wasmtime_wasi_http::bindings::http::types::{DnsErrorPayload, ErrorCode};
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::types::{
    HostFutureIncomingResponse, IncomingResponse, OutgoingRequestConfig,
};

use crate::blocked_networks::BlockedNetworks;
use crate::instance::RequestState;

/// The runtime config's `[outbound_http]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutboundHttpTable {
    /// Spin reads a missing key as `false`, so a table that sets only
    /// `max_concurrent_requests` turns pooling off.
    #[serde(default)]
    connection_pooling: bool,
    #[serde(default)]
    max_concurrent_requests: Option<usize>,
}

impl Default for OutboundHttpTable {
    /// No table: pooling on, no cap.
    fn default() -> Self {
        Self {
            connection_pooling: true,
            max_concurrent_requests: None,
        }
    }
}

type HttpClient = Client<Connector<PermittedStream>, HyperOutgoingBody>;
type HttpsClient = Client<Connector<TlsConnection>, HyperOutgoingBody>;

/// The app's outbound HTTP: clients and their pools, shared by every
/// instance, and where self requests go.
pub(crate) struct OutboundHttp {
    http: HttpClient,
    https: HttpsClient,
    tls: Arc<rustls::ClientConfig>,
    blocked: Arc<BlockedNetworks>,
    semaphore: Option<Arc<Semaphore>>,
    /// The app's own listener.
    origin: Authority,
}

impl OutboundHttp {
    /// Clients for an app listening on `listen`.
    pub fn new(
        table: OutboundHttpTable,
        blocked: Arc<BlockedNetworks>,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        let builder = || {
            let mut builder = Client::builder(TokioExecutor::new());
            if !table.connection_pooling {
                builder.pool_max_idle_per_host(0);
            }
            builder
        };
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            http: builder().build(Connector::new()),
            https: builder().build(Connector::new()),
            tls: Arc::new(tls),
            blocked,
            // One more permit than asked for, as in Spin.
            semaphore: table
                .max_concurrent_requests
                .map(|n| Arc::new(Semaphore::new(n + 1))),
            origin: listen.to_string().parse()?,
        })
    }

    async fn send(
        &self,
        request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> Result<IncomingResponse, ErrorCode> {
        let options = ConnectOptions {
            blocked: self.blocked.clone(),
            connect_timeout: config.connect_timeout,
            tls: config.use_tls.then(|| self.tls.clone()),
            semaphore: self.semaphore.clone(),
        };
        let response = CONNECT_OPTIONS.scope(options, async {
            if config.use_tls {
                self.https.request(request).await
            } else {
                self.http.request(request).await
            }
        });
        let response = timeout(config.first_byte_timeout, response)
            .await
            .map_err(|_| ErrorCode::ConnectionReadTimeout)?
            .map_err(|e| error_code(&e))?;
        Ok(IncomingResponse {
            resp: response.map(|body| body.map_err(|e| error_code(&e)).boxed_unsync()),
            worker: None,
            between_bytes_timeout: config.between_bytes_timeout,
        })
    }
}

/// The error code inside a client error, if the connector put one there,
/// else `HttpProtocolError`.
fn error_code(error: &(dyn std::error::Error + 'static)) -> ErrorCode {
    error
        .source()
        .and_then(|cause| cause.downcast_ref::<ErrorCode>())
        .cloned()
        .unwrap_or(ErrorCode::HttpProtocolError)
}

fn dns_error(rcode: &str) -> ErrorCode {
    ErrorCode::DnsError(DnsErrorPayload {
        rcode: Some(rcode.to_owned()),
        info_code: Some(0),
    })
}

/// Spin's check of the request and its rewriting of a self request.
fn prepare(
    state: &RequestState,
    origin: &Authority,
    request: &mut hyper::Request<HyperOutgoingBody>,
    config: &mut OutgoingRequestConfig,
) -> Result<(), ErrorCode> {
    // wasmtime-wasi-http fills a relative URL in as `scheme://:port/path`.
    let uri = request.uri_mut();
    if uri.authority().is_some_and(|a| a.host().is_empty()) {
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = uri.path_and_query().cloned();
        *uri = Uri::from_parts(parts).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    }
    let is_self = request
        .uri()
        .authority()
        .is_none_or(|a| a.host() == "self.alt");
    let allowed = if is_self {
        state.check_self_request()
    } else {
        state.check_outbound(&request.uri().to_string(), "https")
    };
    if !allowed.unwrap_or(false) {
        return Err(ErrorCode::HttpRequestDenied);
    }
    if is_self {
        config.use_tls = false;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(origin.clone());
        parts.path_and_query = request.uri().path_and_query().cloned();
        *request.uri_mut() =
            Uri::from_parts(parts).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    }
    request.headers_mut().remove(http::header::HOST);
    Ok(())
}

/// Whether `uri` names another component of the app
/// (`<component>.spin.internal`), which Spin serves in-process.
fn is_service_chaining(uri: &Uri) -> bool {
    uri.host()
        .and_then(|host| host.split_once('.'))
        .is_some_and(|(_, domain)| domain == "spin.internal")
}

impl RequestState {
    /// `wasi:http/outgoing-handler.handle`'s way out.
    pub(crate) fn send_outbound(
        &mut self,
        mut request: hyper::Request<HyperOutgoingBody>,
        mut config: OutgoingRequestConfig,
    ) -> HostFutureIncomingResponse {
        let outbound = self.outbound_http.clone();
        if let Err(code) = prepare(self, &outbound.origin, &mut request, &mut config) {
            return HostFutureIncomingResponse::ready(Ok(Err(code)));
        }
        if is_service_chaining(request.uri()) {
            return HostFutureIncomingResponse::ready(Err(wasmtime::Error::msg(format!(
                "service chaining ({}) is not supported by this host",
                request.uri()
            ))));
        }
        HostFutureIncomingResponse::pending(wasmtime_wasi::runtime::spawn(async move {
            Ok(outbound.send(request, config).await)
        }))
    }
}

tokio::task_local! {
    /// How the request being sent may connect. The pooled client calls its
    /// connector inside the request's own future, so a task-local value is
    /// how each request's options reach it.
    static CONNECT_OPTIONS: ConnectOptions;
}

#[derive(Clone)]
struct ConnectOptions {
    blocked: Arc<BlockedNetworks>,
    connect_timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    semaphore: Option<Arc<Semaphore>>,
}

impl ConnectOptions {
    async fn connect_tcp(
        &self,
        uri: &Uri,
        default_port: u16,
    ) -> Result<PermittedStream, ErrorCode> {
        let authority = uri.authority().ok_or(ErrorCode::HttpRequestUriInvalid)?;
        let host_and_port = if authority.port().is_some() {
            authority.as_str().to_owned()
        } else {
            format!("{authority}:{default_port}")
        };
        let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host(&host_and_port)
            .await
            .map_err(|_| dns_error("address not available"))?
            .collect();
        if !addrs.is_empty() {
            let removed = self.blocked.remove_blocked(&mut addrs);
            if addrs.is_empty() && !removed.is_empty() {
                return Err(ErrorCode::DestinationIpProhibited);
            }
        }
        let permit = match &self.semaphore {
            Some(semaphore) => semaphore.clone().acquire_owned().await.ok(),
            None => None,
        };
        let stream = timeout(self.connect_timeout, TcpStream::connect(&*addrs))
            .await
            .map_err(|_| ErrorCode::ConnectionTimeout)?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrNotAvailable => dns_error("address not available"),
                _ => ErrorCode::ConnectionRefused,
            })?;
        Ok(PermittedStream {
            stream,
            _permit: permit,
        })
    }

    async fn connect_tls(&self, uri: &Uri) -> Result<TlsStream<PermittedStream>, ErrorCode> {
        let stream = self.connect_tcp(uri, 443).await?;
        let config = self.tls.clone().ok_or(ErrorCode::ConfigurationError)?;
        let name = rustls::pki_types::ServerName::try_from(uri.host().unwrap_or_default())
            .map_err(|_| dns_error("invalid dns name"))?
            .to_owned();
        tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|_| ErrorCode::TlsProtocolError)
    }
}

/// A connection the pooled clients can open with the request's
/// [`ConnectOptions`].
trait Connect: Sized + Send + 'static {
    fn connect(
        options: ConnectOptions,
        uri: Uri,
    ) -> impl Future<Output = Result<Self, ErrorCode>> + Send;
}

impl Connect for PermittedStream {
    async fn connect(options: ConnectOptions, uri: Uri) -> Result<Self, ErrorCode> {
        options.connect_tcp(&uri, 80).await
    }
}

impl Connect for TlsConnection {
    async fn connect(options: ConnectOptions, uri: Uri) -> Result<Self, ErrorCode> {
        Ok(Self(options.connect_tls(&uri).await?))
    }
}

/// The clients' connector, for plain ([`PermittedStream`]) or TLS
/// ([`TlsConnection`]) connections.
struct Connector<S>(PhantomData<fn() -> S>);

impl<S> Connector<S> {
    fn new() -> Self {
        Self(PhantomData)
    }
}

impl<S> Clone for Connector<S> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<S: Connect> tower_service::Service<Uri> for Connector<S> {
    type Response = TokioIo<S>;
    type Error = ErrorCode;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<S>, ErrorCode>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let options = CONNECT_OPTIONS
                .try_with(Clone::clone)
                .map_err(|_| ErrorCode::InternalError(Some("connect options missing".into())))?;
            Ok(TokioIo::new(S::connect(options, uri).await?))
        })
    }
}

/// A TCP connection holding its place under `max_concurrent_requests`.
struct PermittedStream {
    stream: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
}

/// A TLS connection, which tells the client when the server chose h2.
struct TlsConnection(TlsStream<PermittedStream>);

impl Connection for PermittedStream {
    fn connected(&self) -> Connected {
        self.stream.connected()
    }
}

impl Connection for TlsConnection {
    fn connected(&self) -> Connected {
        let (tcp, session) = self.0.get_ref();
        if session.alpn_protocol() == Some(b"h2") {
            tcp.connected().negotiated_h2()
        } else {
            tcp.connected()
        }
    }
}

/// Reading and writing pass straight through to the inner stream.
macro_rules! delegate_io {
    ($type:ty, $($field:tt)+) => {
        impl AsyncRead for $type {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.get_mut().$($field)+).poll_read(cx, buf)
            }
        }

        impl AsyncWrite for $type {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<std::io::Result<usize>> {
                Pin::new(&mut self.get_mut().$($field)+).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<std::io::Result<usize>> {
                Pin::new(&mut self.get_mut().$($field)+).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.$($field)+.is_write_vectored()
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.get_mut().$($field)+).poll_flush(cx)
            }

            fn poll_shutdown(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.get_mut().$($field)+).poll_shutdown(cx)
            }
        }
    };
}

delegate_io!(PermittedStream, stream);
delegate_io!(TlsConnection, 0);
