//! Fetching a write-up over Spin's outbound HTTP (`wasi:http/outgoing-handler`),
//! with every bound a stranger's URL could otherwise stretch:
//!
//! - **waits**: Spin's own connect, first-byte and between-bytes timeouts
//!   (spin-sdk's `send` sets none, leaving Spin's 600 s defaults, so the
//!   request is built here), and a deadline for the whole fetch, redirects
//!   and body included, enforced by polling against a clock;
//! - **size**: the body is read up to [`Bounds::max_bytes`] and no further;
//!   a `content-length` over it is refused before any body is read;
//! - **redirects**: Spin 3.6.3 follows none (the guest sees the 3xx), so
//!   they are followed here, at most [`Bounds::max_redirects`], and every
//!   target is checked by the caller's `check` before it is requested.
//!
//! Spin checks each request against the component's
//! `allowed_outbound_hosts` too, and, where the runtime config blocks
//! networks, every address a name resolves to.

use std::time::Duration;

use url::Url;
use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::poll::{self, Pollable};
use wasi::io::streams::StreamError;

use crate::sources::Refusal;

/// How long and how much one fetch may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// To open the connection (Spin's `connect-timeout`).
    pub connect: Duration,
    /// From sending the request to the response's head (Spin's
    /// `first-byte-timeout`).
    pub first_byte: Duration,
    /// Between two chunks of the body (Spin's `between-bytes-timeout`).
    pub between_bytes: Duration,
    /// For everything, redirects and body included.
    pub total: Duration,
    /// The largest body read.
    pub max_bytes: usize,
    /// Redirects followed.
    pub max_redirects: usize,
}

/// What a write-up fetch may take: a page waits for it (see
/// `actions::writeups`), so the whole fetch is bounded at 4 s.
pub const BOUNDS: Bounds = Bounds {
    connect: Duration::from_secs(2),
    first_byte: Duration::from_secs(3),
    between_bytes: Duration::from_secs(2),
    total: Duration::from_secs(4),
    max_bytes: 512 * 1024,
    max_redirects: 3,
};

/// A body fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Where it came from in the end, after redirects.
    pub url: Url,
    /// The body, as text (invalid UTF-8 replaced).
    pub text: String,
}

/// Why a fetch failed. [`FetchError::reason`] names it for logs and the
/// API; nothing of a fetched body is ever in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL, or a redirect's target, may not be fetched.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// More redirects than allowed.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// A redirect without a usable `Location`.
    #[error("a redirect without a usable Location")]
    BadRedirect,
    /// The source answered with an error status.
    #[error("the source answered {0}")]
    Status(u16),
    /// The body is larger than allowed.
    #[error("the write-up is larger than {0} bytes")]
    TooLarge(usize),
    /// Not markdown or text: the content type.
    #[error("the source sent {0}, not markdown or text")]
    NotText(String),
    /// A wait ran out.
    #[error("the source took too long")]
    Timeout,
    /// Spin refused the request: not in `allowed_outbound_hosts`.
    #[error("Spin refused the request (allowed_outbound_hosts)")]
    Denied,
    /// Spin refused every address the name resolved to (blocked networks).
    #[error("the source's address is blocked")]
    Prohibited,
    /// The source could not be reached: DNS, connection, TLS.
    #[error("the source could not be reached ({0})")]
    Unreachable(String),
}

impl FetchError {
    /// A short name for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Refused(refusal) => refusal.reason(),
            Self::TooManyRedirects(_) => "too_many_redirects",
            Self::BadRedirect => "bad_redirect",
            Self::Status(_) => "source_error",
            Self::TooLarge(_) => "too_large",
            Self::NotText(_) => "not_markdown",
            Self::Timeout => "timeout",
            Self::Denied => "host_not_allowed",
            Self::Prohibited => "private_address",
            Self::Unreachable(_) => "unreachable",
        }
    }
}

/// Fetches `url` with GET, following redirects that `check` allows, within
/// `bounds`.
pub fn get(
    url: &Url,
    check: impl Fn(&Url) -> Result<(), Refusal>,
    bounds: &Bounds,
) -> Result<Fetched, FetchError> {
    let deadline = Deadline::after(bounds.total);
    let mut url = url.clone();
    for _ in 0..=bounds.max_redirects {
        check(&url)?;
        let response = send(&url, bounds, &deadline)?;
        let status = response.status();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = header(&response, "location").ok_or(FetchError::BadRedirect)?;
            url = url.join(&location).map_err(|_| FetchError::BadRedirect)?;
            url.set_fragment(None);
            continue;
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        if let Some(kind) = header(&response, "content-type")
            && !is_text(&kind)
        {
            return Err(FetchError::NotText(kind));
        }
        let declared =
            header(&response, "content-length").and_then(|n| n.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > bounds.max_bytes as u64) {
            return Err(FetchError::TooLarge(bounds.max_bytes));
        }
        let body = read_body(response, bounds.max_bytes, &deadline)?;
        return Ok(Fetched {
            url,
            text: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Err(FetchError::TooManyRedirects(bounds.max_redirects))
}

/// Markdown is served as text: `text/*` but HTML (a web page is not a
/// write-up), or as an unnamed binary (`application/octet-stream`).
fn is_text(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    (essence.starts_with("text/") && essence != "text/html")
        || matches!(
            essence.as_str(),
            "application/octet-stream" | "application/markdown" | "application/x-markdown"
        )
}

/// The time a fetch must be done by, on the monotonic clock.
struct Deadline(u64);

impl Deadline {
    fn after(duration: Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self(monotonic_clock::now().saturating_add(nanos))
    }

    /// Waits until `ready` is ready or the deadline passes; false if the
    /// deadline came first.
    fn wait(&self, ready: &Pollable) -> bool {
        let timer = monotonic_clock::subscribe_instant(self.0);
        poll::poll(&[ready, &timer]).contains(&0)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Sends a GET for `url` and waits for the response's head.
fn send(url: &Url, bounds: &Bounds, deadline: &Deadline) -> Result<IncomingResponse, FetchError> {
    let headers = Fields::from_list(&[
        (
            "accept".to_owned(),
            b"text/markdown, text/plain;q=0.9, */*;q=0.1".to_vec(),
        ),
        ("user-agent".to_owned(), b"Omni write-up fetcher".to_vec()),
    ])
    .map_err(|e| FetchError::Unreachable(format!("headers: {e:?}")))?;
    let request = OutgoingRequest::new(headers);
    let invalid = |_| FetchError::Unreachable("the URL cannot be requested".into());
    request.set_method(&Method::Get).map_err(invalid)?;
    let scheme = if url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request.set_scheme(Some(&scheme)).map_err(invalid)?;
    let authority = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => return Err(invalid(())),
    };
    request.set_authority(Some(&authority)).map_err(invalid)?;
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    request.set_path_with_query(Some(&path)).map_err(invalid)?;
    let body = request.body().map_err(invalid)?;

    let options = RequestOptions::new();
    // Each setter fails only if the host does not support the option,
    // and then the deadline still bounds the fetch.
    let _ = options.set_connect_timeout(Some(nanos(bounds.connect)));
    let _ = options.set_first_byte_timeout(Some(nanos(bounds.first_byte)));
    let _ = options.set_between_bytes_timeout(Some(nanos(bounds.between_bytes)));

    let future = outgoing_handler::handle(request, Some(options)).map_err(from_code)?;
    OutgoingBody::finish(body, None).map_err(from_code)?;
    wait_for(&future, deadline)
}

fn wait_for(
    future: &FutureIncomingResponse,
    deadline: &Deadline,
) -> Result<IncomingResponse, FetchError> {
    loop {
        if let Some(result) = future.get() {
            return match result {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(code)) => Err(from_code(code)),
                Err(()) => Err(FetchError::Unreachable("the response was taken".into())),
            };
        }
        if !deadline.wait(&future.subscribe()) {
            return Err(FetchError::Timeout);
        }
    }
}

/// The first value of header `name`, as text.
fn header(response: &IncomingResponse, name: &str) -> Option<String> {
    response
        .headers()
        .get(&name.to_owned())
        .first()
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// Reads the body, up to `max` bytes: more is an error, not a cut.
fn read_body(
    response: IncomingResponse,
    max: usize,
    deadline: &Deadline,
) -> Result<Vec<u8>, FetchError> {
    let gone = |_| FetchError::Unreachable("the body was taken".into());
    let body: IncomingBody = response.consume().map_err(gone)?;
    let stream = body.stream().map_err(gone)?;
    let mut bytes = Vec::new();
    let outcome = loop {
        match stream.read(64 * 1024) {
            Ok(chunk) if chunk.is_empty() => {
                if !deadline.wait(&stream.subscribe()) {
                    break Err(FetchError::Timeout);
                }
            }
            Ok(chunk) => {
                if bytes.len() + chunk.len() > max {
                    break Err(FetchError::TooLarge(max));
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break Ok(()),
            Err(StreamError::LastOperationFailed(error)) => {
                break Err(wasi::http::types::http_error_code(&error).map_or_else(
                    || FetchError::Unreachable(error.to_debug_string()),
                    from_code,
                ));
            }
        }
    };
    // The stream is a child of the body: it goes first.
    drop(stream);
    drop(IncomingBody::finish(body));
    outcome.map(|()| bytes)
}

/// Spin's error codes, as the fetch's failures.
fn from_code(code: ErrorCode) -> FetchError {
    match code {
        ErrorCode::HttpRequestDenied => FetchError::Denied,
        ErrorCode::DestinationIpProhibited => FetchError::Prohibited,
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout => FetchError::Timeout,
        ErrorCode::HttpResponseBodySize(_) => FetchError::TooLarge(BOUNDS.max_bytes),
        other => FetchError::Unreachable(short_code(&other)),
    }
}

/// An error code's name, without any text a server sent.
fn short_code(code: &ErrorCode) -> String {
    let debug = format!("{code:?}");
    debug
        .trim_start_matches("ErrorCode::")
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("error")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_comes_as_text_or_octets_but_never_as_a_web_page() {
        for kind in [
            "text/plain; charset=utf-8",
            "text/markdown",
            "TEXT/X-MARKDOWN",
            "application/octet-stream",
        ] {
            assert!(is_text(kind), "{kind}");
        }
        for kind in ["text/html; charset=utf-8", "image/png", "application/json"] {
            assert!(!is_text(kind), "{kind}");
        }
    }

    #[test]
    fn every_failure_has_a_reason_and_no_body() {
        assert_eq!(FetchError::Status(500).reason(), "source_error");
        assert_eq!(FetchError::Prohibited.reason(), "private_address");
        assert_eq!(FetchError::Refused(Refusal::NotHttps).reason(), "not_https");
        assert_eq!(
            short_code(&ErrorCode::DnsError(wasi::http::types::DnsErrorPayload {
                rcode: Some("secret".into()),
                info_code: None
            })),
            "DnsError"
        );
    }
}
