//! Serving one request: method dispatch, reading the body within a limit,
//! what every response carries, and the request's log line.

use std::time::Instant;

use spin_sdk::http::{IncomingRequest, IntoResponse, Response};

use crate::error::Error;
use crate::log;

use super::{Method, Request};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An endpoint: reads the request, answers or fails.
pub type Handler = fn(&Request) -> Result<Response, Error>;

/// A component's method table: the methods its path supports.
pub type Routes<'a> = &'a [(Method, Handler)];

/// Serves one request for `component`: 405 for a method the table lacks,
/// 413 for a body over [`MAX_BODY_BYTES`], otherwise the handler's answer.
/// Logs one JSON line for it.
pub async fn serve(incoming: IncomingRequest, component: &str, routes: Routes<'_>) -> Response {
    let started = Instant::now();
    let route = spin_route(&incoming);
    // A method that is not even a valid token cannot be in the table.
    let method = Method::from_bytes(incoming.method().to_string().as_bytes()).ok();
    let result = match find_handler(method.as_ref(), routes) {
        Ok((method, handler)) => match Request::read(incoming, method, MAX_BODY_BYTES).await {
            Ok(request) => handler(&request),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    respond(component, &route, method.as_ref(), started, result)
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
/// carries ([`finish`]), and logs the request as one JSON line: component,
/// route, method, status, duration, cache outcome, and for a failure its
/// kind (and, for a 5xx, its cause; never a secret, token, password or SQL
/// parameter).
pub fn respond(
    component: &str,
    route: &str,
    method: Option<&Method>,
    started: Instant,
    result: Result<Response, Error>,
) -> Response {
    let failure = result
        .as_ref()
        .err()
        .map(|error| (error.kind(), error.cause()));
    let response = finish(result.into_response());
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
