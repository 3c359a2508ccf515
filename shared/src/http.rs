//! HTTP plumbing: method dispatch, reading a request within limits, JSON
//! field validation, paging parameters and response helpers.

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use spin_sdk::http::{IncomingRequest, IntoResponse, Response};

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::config::IpNet;
use crate::error::{Error, FieldErrors};
use crate::log;
use crate::snowflake::Id;

pub use http::Method;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Items on one page of a list.
pub const PAGE_SIZE: u32 = 10;
/// The highest `page` accepted.
pub const MAX_PAGE: u32 = 100_000;

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

/// A request, read whole (within [`MAX_BODY_BYTES`]).
#[derive(Debug)]
pub struct Request {
    method: Method,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A request from its parts; `path_with_query` is e.g. `/api/posts?page=2`.
    pub fn new(
        method: Method,
        path_with_query: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Self {
        let (path, query) = path_with_query
            .split_once('?')
            .unwrap_or((path_with_query, ""));
        Self {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
            body,
        }
    }

    /// Reads `incoming` whole: 413 for a body over `limit` bytes.
    pub(crate) async fn read(
        incoming: IncomingRequest,
        method: Method,
        limit: usize,
    ) -> Result<Self, Error> {
        let path_with_query = incoming.path_with_query().unwrap_or_else(|| "/".into());
        let headers: Vec<(String, String)> = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let declared_length = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<u64>().ok());
        if declared_length.is_some_and(|n| n > limit as u64) {
            return Err(Error::PayloadTooLarge { limit });
        }
        // Read in chunks and stop as soon as the limit is passed, so an
        // endless body costs at most the limit in memory.
        let mut body = Vec::new();
        let mut stream = incoming.into_body_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| Error::BadRequest(format!("could not read the body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(Error::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self::new(method, &path_with_query, headers, body))
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path and, if there is one, the query: `/api/posts?page=2`.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The body, as received.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of header `name` (any case), in order.
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The client's IP address. Spin's `spin-client-addr` names the peer;
    /// only its last value counts, because Spin appends it after any a
    /// client sent. When the peer is one of the `trusted` proxies, the
    /// client is the nearest `X-Forwarded-For` entry (reading from the
    /// right) that is not a trusted proxy; anyone else's `X-Forwarded-For`
    /// is ignored.
    pub fn client_ip(&self, trusted: &[IpNet]) -> Option<IpAddr> {
        let peer = self.header_values("spin-client-addr").last()?;
        let peer: IpAddr = peer
            .parse::<SocketAddr>()
            .map(|addr| addr.ip())
            .or_else(|_| peer.parse())
            .ok()?;
        let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = self
            .header_values("x-forwarded-for")
            .flat_map(|value| value.split(','))
            .map_while(|entry| entry.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .iter()
                .rev()
                .copied()
                .find(|ip| !is_trusted(*ip))
                .or_else(|| forwarded.first().copied())
                .unwrap_or(peer),
        )
    }

    /// The id in the one `:name` segment of `route` (the component's route
    /// in `spin.toml`, e.g. `/api/posts/:id`), read from the request path
    /// itself. Never from Spin's `spin-path-match-*` headers: Spin appends
    /// them after the client's own, so a client could send its own first.
    /// A path that does not fit the route, or whose segment is not a valid
    /// id, names no resource: 404.
    pub fn path_id(&self, route: &str) -> Result<Id, Error> {
        let not_found = || Error::NotFound("No resource at this path.".into());
        // Spin's router ignores one trailing slash.
        let path = self.path.strip_suffix('/').unwrap_or(&self.path);
        let (pattern, actual): (Vec<&str>, Vec<&str>) =
            (route.split('/').collect(), path.split('/').collect());
        if pattern.len() != actual.len() {
            return Err(not_found());
        }
        let mut params = pattern
            .iter()
            .zip(&actual)
            .filter(|(p, _)| p.starts_with(':'))
            .map(|(_, segment)| *segment);
        match (params.next(), params.next()) {
            (Some(segment), None) => segment.parse().map_err(|_| not_found()),
            _ => Err(Error::internal(anyhow::anyhow!(
                "route {route} must have exactly one `:name` segment"
            ))),
        }
    }

    /// The query parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect()
    }

    /// The body as a JSON object, ready for field validation: 415 unless the
    /// content type is `application/json`, 400 unless the body is a JSON
    /// object.
    pub fn json(&self) -> Result<JsonFields, Error> {
        let is_json = self.header("content-type").is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
        });
        if !is_json {
            return Err(Error::UnsupportedMediaType);
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(object)) => Ok(JsonFields {
                object,
                errors: FieldErrors::new(),
            }),
            Ok(_) => Err(Error::BadRequest("The body must be a JSON object.".into())),
            Err(e) => Err(Error::BadRequest(format!(
                "The body is not valid JSON: {e}."
            ))),
        }
    }
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes stay as they
/// are. Query strings and HTML form bodies are encoded alike.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', high, low]) => hex(*high).zip(hex(*low)),
            _ => None,
        };
        match (escaped, bytes[i]) {
            // Two hex digits make one byte, which always fits.
            (Some((high, low)), _) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A string-valued input field that validates itself.
pub trait FromField: Sized {
    /// Parses the field's text, or says what is wrong with it.
    fn from_field(text: &str) -> Result<Self, String>;
}

impl FromField for String {
    fn from_field(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

/// A JSON object body whose fields are read one by one, collecting every
/// problem so that a 422 names all the bad fields at once.
///
/// Read each field, call [`JsonFields::finish`], then unwrap the fields with
/// `?`: after a successful `finish` every read succeeded.
#[derive(Debug)]
pub struct JsonFields {
    object: Map<String, Value>,
    errors: FieldErrors,
}

/// A field that failed validation; its message is in the [`JsonFields`].
#[derive(Debug)]
pub struct InvalidField;

impl From<InvalidField> for Error {
    fn from(_: InvalidField) -> Self {
        Error::internal(anyhow::anyhow!(
            "a field was used before JsonFields::finish reported its error"
        ))
    }
}

impl JsonFields {
    /// A field that must be present.
    pub fn required<T: FromField>(&mut self, name: &str) -> Result<T, InvalidField> {
        match self.optional(name)? {
            Some(value) => Ok(value),
            None => Err(self.fail(name, "is required".into())),
        }
    }

    /// A field that may be absent. `null` is not absent: it is the wrong type.
    pub fn optional<T: FromField>(&mut self, name: &str) -> Result<Option<T>, InvalidField> {
        match self.object.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => match T::from_field(text) {
                Ok(value) => Ok(Some(value)),
                Err(message) => Err(self.fail(name, message)),
            },
            Some(_) => Err(self.fail(name, "must be a string".into())),
        }
    }

    fn fail(&mut self, name: &str, message: String) -> InvalidField {
        self.errors
            .entry(name.to_owned())
            .or_default()
            .push(message);
        InvalidField
    }

    /// 422 naming every field that failed, if any did.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// The values of query parameter `name` among `pairs`, in order.
pub fn query_values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Which slice of a list to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// `?page=N`, 1-based.
    Page(u32),
    /// `?before=<id>`: the items older than that id.
    Before(Id),
}

impl Paging {
    /// Reads `page` or `before` from the query; 400 for a bad value, for
    /// both at once, or for either given twice.
    pub fn from_request(request: &Request) -> Result<Self, Error> {
        let pairs = request.query_pairs();
        let values = |name: &str| query_values(&pairs, name);
        match (values("page").as_slice(), values("before").as_slice()) {
            ([], []) => Ok(Self::Page(1)),
            ([page], []) => page
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .map(Self::Page)
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "`page` must be a whole number from 1 to {MAX_PAGE}."
                    ))
                }),
            ([], [before]) => before
                .parse::<Id>()
                .map(Self::Before)
                .map_err(|_| Error::BadRequest("`before` must be an id.".into())),
            ([_], [_]) => Err(Error::BadRequest(
                "Give `page` or `before`, not both.".into(),
            )),
            _ => Err(Error::BadRequest(
                "Give `page` or `before` at most once.".into(),
            )),
        }
    }
}

/// A `?page=N` page of a list, with its totals.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// This page's number.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
    /// Items in the whole list.
    pub total_items: i64,
    /// Pages in the whole list.
    pub total_pages: i64,
}

impl<T> Page<T> {
    /// A page, with the page count worked out from the total.
    pub fn new(items: Vec<T>, page: u32, total_items: i64) -> Self {
        let size = i64::from(PAGE_SIZE);
        Self {
            items,
            page,
            page_size: PAGE_SIZE,
            total_items,
            total_pages: (total_items + size - 1) / size,
        }
    }
}

/// A `?before=<id>` slice of a list.
#[derive(Debug, Serialize)]
pub struct Slice<T> {
    /// Up to a page of items, newest first.
    pub items: Vec<T>,
    /// Where the next slice starts, or `None` at the end of the list.
    pub next_before: Option<Id>,
}

/// 200 with a JSON body.
pub fn ok<T: Serialize>(body: &T) -> Result<Response, Error> {
    json(200, body)
}

/// 201 with a `Location` and a body already in JSON.
pub fn created_json(location: &str, body: String) -> Response {
    Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("location", location)
        .body(body)
        .build()
}

/// 204 with no body.
pub fn no_content() -> Response {
    Response::builder().status(204).build()
}

fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, Error> {
    let bytes = serde_json::to_vec(body).map_err(Error::internal)?;
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(bytes)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path_with_query: &str) -> Request {
        Request::new(Method::GET, path_with_query, vec![], vec![])
    }

    fn post_json(content_type: &str, body: &str) -> Request {
        Request::new(
            Method::POST,
            "/",
            vec![("Content-Type".into(), content_type.into())],
            body.into(),
        )
    }

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

    #[test]
    fn headers_are_found_in_any_case() {
        let request = Request::new(
            Method::GET,
            "/",
            vec![("Authorization".into(), "Bearer x".into())],
            vec![],
        );
        assert_eq!(request.header("authorization"), Some("Bearer x"));
        assert_eq!(request.header("AUTHORIZATION"), Some("Bearer x"));
    }

    #[test]
    fn a_path_id_comes_from_the_path_the_route_matched() {
        let request = get("/api/posts/42/comments");
        assert_eq!(
            request.path_id("/api/posts/:id/comments").unwrap(),
            Id::from_i64(42).unwrap()
        );
        let trailing = get("/api/users/7/");
        assert_eq!(
            trailing.path_id("/api/users/:id").unwrap(),
            Id::from_i64(7).unwrap()
        );
    }

    #[test]
    fn a_spoofed_path_match_header_is_ignored() {
        let request = Request::new(
            Method::DELETE,
            "/api/posts/1",
            vec![
                ("spin-path-match-id".into(), "2".into()),
                ("spin-path-match-id".into(), "1".into()),
            ],
            vec![],
        );
        assert_eq!(
            request.path_id("/api/posts/:id").unwrap(),
            Id::from_i64(1).unwrap()
        );
    }

    #[test]
    fn a_path_id_that_is_not_an_id_or_a_path_that_does_not_fit_is_a_404() {
        for path in [
            "/api/users/abc",
            "/api/users/-1",
            "/api/users/1/x",
            "/api/users",
        ] {
            assert!(
                matches!(get(path).path_id("/api/users/:id"), Err(Error::NotFound(_))),
                "{path}"
            );
        }
    }

    fn from_peer(peer: &str, headers: &[(&str, &str)]) -> Request {
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        all.push(("spin-client-addr".into(), peer.into()));
        Request::new(Method::POST, "/api/login", all, vec![])
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_peer_spin_names_last() {
        let forged = from_peer("203.0.113.9:5000", &[("spin-client-addr", "10.0.0.1:1")]);
        assert_eq!(forged.client_ip(&[]), Some(ip("203.0.113.9")));
        let v6 = from_peer("[2001:db8::1]:443", &[]);
        assert_eq!(v6.client_ip(&[]), Some(ip("2001:db8::1")));
    }

    #[test]
    fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
        let trusted = [IpNet::parse("10.42.0.0/16").unwrap()];
        let untrusted = from_peer("203.0.113.9:5000", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(untrusted.client_ip(&trusted), Some(ip("203.0.113.9")));
        // Through the gateway (10.42.0.5) and the interceptor (10.42.0.9):
        // a client-sent entry on the left is not believed.
        let proxied = from_peer(
            "10.42.0.9:40000",
            &[
                ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
                ("x-forwarded-for", "10.42.0.5"),
            ],
        );
        assert_eq!(proxied.client_ip(&trusted), Some(ip("198.51.100.7")));
        let only_proxies = from_peer("10.42.0.9:1", &[("x-forwarded-for", "10.42.0.5")]);
        assert_eq!(only_proxies.client_ip(&trusted), Some(ip("10.42.0.5")));
        let none = from_peer("10.42.0.9:1", &[]);
        assert_eq!(none.client_ip(&trusted), Some(ip("10.42.0.9")));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let request = get("/x?a=1%202&b=c+d&flag&e=%zz&f=%4");
        assert_eq!(
            request.query_pairs(),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "c d".into()),
                ("flag".into(), String::new()),
                ("e".into(), "%zz".into()),
                ("f".into(), "%4".into()),
            ]
        );
    }

    #[test]
    fn json_needs_the_json_content_type() {
        assert!(matches!(
            post_json("text/plain", "{}").json(),
            Err(Error::UnsupportedMediaType)
        ));
        assert!(
            post_json("application/json; charset=utf-8", "{}")
                .json()
                .is_ok()
        );
        assert!(post_json("Application/JSON", "{}").json().is_ok());
        let no_type = Request::new(Method::POST, "/", vec![], b"{}".to_vec());
        assert!(matches!(no_type.json(), Err(Error::UnsupportedMediaType)));
    }

    #[test]
    fn malformed_json_is_a_400() {
        for body in ["", "{", "{\"a\":}", "\u{0}"] {
            assert!(
                matches!(
                    post_json("application/json", body).json(),
                    Err(Error::BadRequest(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn json_that_is_not_an_object_is_a_400() {
        for body in ["[]", "\"x\"", "1", "null"] {
            assert!(
                matches!(
                    post_json("application/json", body).json(),
                    Err(Error::BadRequest(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut fields = post_json("application/json", r#"{"b": 5, "c": null}"#)
            .json()
            .unwrap();
        let a = fields.required::<String>("a");
        let b = fields.required::<String>("b");
        let c = fields.optional::<String>("c");
        let d = fields.optional::<String>("d");
        assert!(a.is_err() && b.is_err() && c.is_err());
        assert!(matches!(d, Ok(None)));
        match fields.finish() {
            Err(Error::Validation(errors)) => {
                assert_eq!(errors["a"], ["is required"]);
                assert_eq!(errors["b"], ["must be a string"]);
                assert_eq!(errors["c"], ["must be a string"]);
                assert!(!errors.contains_key("d"));
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut fields = post_json("application/json", r#"{"a": "x", "id": "1"}"#)
            .json()
            .unwrap();
        assert_eq!(fields.required::<String>("a").unwrap(), "x");
        assert!(fields.finish().is_ok());
    }

    #[test]
    fn paging_defaults_to_the_first_page() {
        assert_eq!(Paging::from_request(&get("/")).unwrap(), Paging::Page(1));
    }

    #[test]
    fn paging_reads_page_or_before() {
        assert_eq!(
            Paging::from_request(&get("/?page=7")).unwrap(),
            Paging::Page(7)
        );
        assert_eq!(
            Paging::from_request(&get("/?before=99")).unwrap(),
            Paging::Before(Id::from_i64(99).unwrap())
        );
    }

    #[test]
    fn bad_paging_parameters_are_a_400() {
        for query in [
            "page=0",
            "page=-1",
            "page=abc",
            "page=",
            "page=100001",
            "page=1.5",
            "before=abc",
            "before=-5",
            "before=",
            "page=1&before=5",
            "page=1&page=2",
        ] {
            assert!(
                matches!(
                    Paging::from_request(&get(&format!("/?{query}"))),
                    Err(Error::BadRequest(_))
                ),
                "{query}"
            );
        }
        assert_eq!(
            Paging::from_request(&get("/?page=100000")).unwrap(),
            Paging::Page(100_000)
        );
    }

    #[test]
    fn page_counts_round_up() {
        assert_eq!(Page::<()>::new(vec![], 1, 0).total_pages, 0);
        assert_eq!(Page::<()>::new(vec![], 1, 10).total_pages, 1);
        assert_eq!(Page::<()>::new(vec![], 1, 11).total_pages, 2);
    }
}
