//! The request a component receives, built as Spin's HTTP trigger builds it
//! (crates/trigger-http/src/{headers,server}.rs at v3.6.3): an absolute URI,
//! and Spin's `spin-*` headers appended after the client's own.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use http::uri::Authority;
use http::{HeaderName, HeaderValue};
use hyper::body::Incoming;

use crate::routes::RouteMatch;

/// The first header whose value is not UTF-8: Spin fails such a request
/// before any component runs.
pub(crate) fn non_utf8_header(request: &hyper::Request<Incoming>) -> Option<&HeaderName> {
    request
        .headers()
        .iter()
        .find(|(_, value)| std::str::from_utf8(value.as_bytes()).is_err())
        .map(|(name, _)| name)
}

/// Appends Spin's own headers, in Spin's order, after the client's: a
/// client's own `spin-*` header stays first.
pub(crate) fn append_spin_headers(
    request: &mut hyper::Request<Incoming>,
    host: &str,
    route: &RouteMatch,
    client: SocketAddr,
) -> anyhow::Result<()> {
    for (name, value) in spin_headers(request, host, route, client) {
        request
            .headers_mut()
            .append(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
    }
    Ok(())
}

/// Spin's `strip_forbidden_headers` and `set_req_uri`: drops a `Host`
/// header naming a service-chaining host (`<component>.spin.internal`), then
/// takes the authority from the `Host` header or the request URI (which
/// must agree if both are there) and makes the URI absolute with it. Returns
/// the `Host` header's value, or `localhost` without one, which is the host
/// Spin writes into `spin-full-url`.
pub(crate) fn set_request_uri(request: &mut hyper::Request<Incoming>) -> anyhow::Result<String> {
    let chained = request
        .headers()
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(is_service_chaining_host);
    if chained {
        request.headers_mut().remove(http::header::HOST);
    }
    let header = request
        .headers()
        .get(http::header::HOST)
        .map(|value| -> anyhow::Result<(String, Authority)> {
            let text = value.to_str().context("'Host' header is not valid UTF-8")?;
            let authority = text
                .parse()
                .context("'Host' header contains an invalid authority")?;
            Ok((text.to_owned(), authority))
        })
        .transpose()?;
    let mut parts = request.uri().clone().into_parts();
    let authority = match (&header, parts.authority.take()) {
        (None, None) => bail!("no 'Host' header present in request"),
        (None, Some(from_uri)) => from_uri,
        (Some((_, from_header)), None) => from_header.clone(),
        (Some((_, from_header)), Some(from_uri)) => {
            if *from_header != from_uri {
                bail!("authority in 'Host' header does not match authority in URI");
            }
            from_uri
        }
    };
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *request.uri_mut() = http::Uri::from_parts(parts)?;
    Ok(header.map_or_else(|| "localhost".to_owned(), |(text, _)| text))
}

/// Spin's `is_service_chaining_host`: `<name>.spin.internal`, with or
/// without a port.
fn is_service_chaining_host(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name.split_once('.')
        .is_some_and(|(_, domain)| domain == "spin.internal")
}

/// Spin's own request headers, in Spin's order (`compute_default_headers`).
fn spin_headers(
    request: &hyper::Request<Incoming>,
    host: &str,
    route: &RouteMatch,
    client: SocketAddr,
) -> Vec<(String, String)> {
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut headers = vec![
        ("spin-path-info".to_owned(), route.path_info.clone()),
        (
            "spin-full-url".to_owned(),
            format!("http://{host}{path_and_query}"),
        ),
        ("spin-matched-route".to_owned(), route.based_route.clone()),
        ("spin-base-path".to_owned(), "/".to_owned()),
        (
            "spin-raw-component-route".to_owned(),
            route.raw_route.clone(),
        ),
        (
            "spin-component-route".to_owned(),
            route.component_route.clone(),
        ),
        ("spin-client-addr".to_owned(), client.to_string()),
    ];
    for (name, value) in &route.params {
        headers.push((
            format!(
                "spin-path-match-{}",
                name.replace('_', "-").to_ascii_lowercase()
            ),
            value.clone(),
        ));
    }
    headers
}
