//! Serving one request: method dispatch, reading the body within a limit,
//! what every response carries, and the request's log line.

use std::net::IpAddr;
use std::time::Instant;

use spin_sdk::http::{IncomingRequest, IntoResponse, Response};

use crate::config::Transport;
use crate::error::Error;
use crate::log;

use super::{Method, Request};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An endpoint: reads the request, answers or fails.
pub type Handler = fn(&Request) -> Result<Response, Error>;

/// A component's method table: the methods its path supports.
pub type Routes<'a> = &'a [(Method, Handler)];

/// The method tables of a component with several exact routes in
/// `spin.toml`, by path.
pub type Paths<'a> = &'a [(&'a str, Routes<'a>)];

/// How a request arrived, as far as HTTPS goes: whether Spin's
/// `spin-full-url` (its last value: Spin's own) is `https`, which it is when
/// Spin terminates TLS itself, or, behind a proxy that does (the SpinKube
/// gateway), whether the proxy said `X-Forwarded-Proto: https` and is one
/// of the trusted proxies (checked only then, from the configuration).
#[derive(Clone, Debug, Default)]
pub struct Arrival {
    https_url: bool,
    forwarded_https: bool,
    peer: Option<IpAddr>,
}

impl Arrival {
    /// Reads the headers that tell.
    pub fn of(incoming: &IncomingRequest) -> Self {
        let headers = incoming.headers();
        let last = |name: &str| {
            headers
                .get(name)
                .last()
                .map(|value| String::from_utf8_lossy(value).trim().to_owned())
        };
        let https_url = last("spin-full-url").is_some_and(|url| {
            url.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        });
        // The nearest proxy's word: the last value, and its last entry.
        let forwarded_https = last("x-forwarded-proto").is_some_and(|value| {
            value
                .rsplit(',')
                .next()
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
        });
        let peer = last("spin-client-addr").and_then(|peer| {
            peer.parse::<std::net::SocketAddr>()
                .map(|addr| addr.ip())
                .or_else(|_| peer.parse())
                .ok()
        });
        Self {
            https_url,
            forwarded_https,
            peer,
        }
    }

    /// Adds `Strict-Transport-Security` (the `hsts` variable) to a response
    /// to a request that came over HTTPS. Never over plain HTTP, where RFC
    /// 6797 forbids it. A configuration that cannot be read sends none.
    pub fn mark(&self, response: &mut Response) {
        if !self.https_url && !self.forwarded_https {
            return;
        }
        let Ok(transport) = Transport::load() else {
            return;
        };
        let trusted = |ip: IpAddr| {
            transport
                .trusted_proxies
                .iter()
                .any(|net| net.contains(ip.to_canonical()))
        };
        let https = self.https_url || self.peer.is_some_and(trusted);
        if let (true, Some(hsts)) = (https, transport.hsts) {
            response.set_header("strict-transport-security", hsts);
        }
    }
}

/// Serves one request for `component`: 405 for a method the table lacks,
/// 413 for a body over [`MAX_BODY_BYTES`], otherwise the handler's answer.
/// Logs one JSON line for it.
pub async fn serve(incoming: IncomingRequest, component: &str, routes: Routes<'_>) -> Response {
    let started = Instant::now();
    let route = spin_route(&incoming);
    let arrival = Arrival::of(&incoming);
    // A method that is not even a valid token cannot be in the table.
    let method = Method::from_bytes(incoming.method().to_string().as_bytes()).ok();
    let result = match find_handler(method.as_ref(), routes) {
        Ok((method, handler)) => match Request::read(incoming, method, MAX_BODY_BYTES).await {
            Ok(request) => handler(&request),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    respond(
        component,
        &route,
        method.as_ref(),
        &arrival,
        started,
        result,
    )
}

/// Serves a request to a component with several exact routes: the method
/// table of the request's path (Spin ignores one trailing slash, and so
/// does this), as [`serve`] does. A path outside the table cannot reach
/// the component by Spin's routing; it is a 404 all the same.
pub async fn serve_paths(incoming: IncomingRequest, component: &str, paths: Paths<'_>) -> Response {
    let path_and_query = incoming.path_with_query().unwrap_or_default();
    let path = path_and_query.split('?').next().unwrap_or_default();
    let path = path.strip_suffix('/').unwrap_or(path);
    match paths.iter().find(|(route, _)| *route == path) {
        Some((_, routes)) => serve(incoming, component, routes).await,
        None => {
            let method = Method::from_bytes(incoming.method().to_string().as_bytes()).ok();
            respond(
                component,
                &spin_route(&incoming),
                method.as_ref(),
                &Arrival::of(&incoming),
                Instant::now(),
                Err(Error::NotFound("No resource at this path.".into())),
            )
        }
    }
}

/// The route Spin matched (the last `spin-matched-route`: Spin's own, after
/// any a client sent), for logs.
pub fn spin_route(incoming: &IncomingRequest) -> String {
    incoming
        .headers()
        .get("spin-matched-route")
        .last()
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default()
}

/// Turns a handler's result into the response, with what every response
/// carries ([`finish`], and HSTS over HTTPS: [`Arrival::mark`]), and logs
/// the request as one JSON line: component,
/// route, method, status, duration, cache outcome, and for a failure its
/// kind (and, for a 5xx, its cause; never a secret, token, password or SQL
/// parameter).
pub fn respond(
    component: &str,
    route: &str,
    method: Option<&Method>,
    arrival: &Arrival,
    started: Instant,
    result: Result<Response, Error>,
) -> Response {
    let failure = result
        .as_ref()
        .err()
        .map(|error| (error.kind(), error.cause()));
    let mut response = finish(result.into_response());
    arrival.mark(&mut response);
    log_request(component, route, method, started, &response, failure);
    response
}

/// Logs a request as one JSON line (see [`respond`]); `failure` is the
/// error's kind and, for a 5xx, its cause.
pub fn log_request(
    component: &str,
    route: &str,
    method: Option<&Method>,
    started: Instant,
    response: &Response,
    failure: Option<(&'static str, Option<String>)>,
) {
    let (error, cause) = failure.unzip();
    let cause = cause.flatten();
    let status = *response.status();
    let cache = response
        .header("x-cache")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let level = if status >= 500 {
        log::Level::Error
    } else {
        log::Level::Info
    };
    log::write(
        level,
        "request",
        &[
            ("component", component.into()),
            ("route", route.into()),
            ("method", method.map(Method::as_str).into()),
            ("status", status.into()),
            (
                "duration_ms",
                ((duration_ms * 1000.0).round() / 1000.0).into(),
            ),
            ("cache", cache.into()),
            ("error", error.into()),
            ("cause", cause.into()),
        ],
    );
}

/// Adds what every response carries: `X-Content-Type-Options: nosniff`,
/// and `Cache-Control: no-store` unless the handler chose a caching policy
/// (nothing is cacheable unless it says so: tokens, profiles and errors
/// must never sit in a shared cache).
pub fn finish(mut response: Response) -> Response {
    response.set_header("x-content-type-options", "nosniff");
    if response.header("cache-control").is_none() {
        response.set_header("cache-control", "no-store");
    }
    response
}

/// The table's entry for `method`, or a 405 listing the methods there are.
pub fn find_handler(
    method: Option<&Method>,
    routes: Routes<'_>,
) -> Result<(Method, Handler), Error> {
    routes
        .iter()
        .find(|(m, _)| Some(m) == method)
        .map(|(m, handler)| (m.clone(), *handler))
        .ok_or_else(|| Error::MethodNotAllowed {
            allow: routes
                .iter()
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::no_content;

    fn handler_a(_: &Request) -> Result<Response, Error> {
        Ok(no_content())
    }

    #[test]
    fn a_method_outside_the_table_is_a_405_listing_the_table() {
        let routes: Routes<'_> = &[(Method::GET, handler_a), (Method::PATCH, handler_a)];
        assert!(find_handler(Some(&Method::GET), routes).is_ok());
        for method in [Some(&Method::DELETE), None] {
            match find_handler(method, routes) {
                Err(Error::MethodNotAllowed { allow }) => assert_eq!(allow, "GET, PATCH"),
                Err(other) => panic!("expected a 405, got {other:?}"),
                Ok(_) => panic!("expected a 405 for {method:?}"),
            }
        }
    }
}
