//! The request as handlers read it: method, path, headers, cookies, the
//! query, the client's address and the id in the path.

use std::net::{IpAddr, SocketAddr};

use futures::StreamExt;
use spin_sdk::http::IncomingRequest;

use crate::error::Error;
use crate::net::{ClientAddress, IpNet};
use crate::snowflake::Id;

use super::{JsonFields, Method};

/// A request, read whole (within [`super::MAX_BODY_BYTES`], or the
/// website's larger form limit).
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
    /// client sent. When the peer is one of the `trusted` proxies,
    /// `X-Forwarded-For` (every header's entries, in order) is read from the
    /// right, where each proxy appended the address it saw: past every
    /// trusted proxy, the first address that is not one is the client.
    /// Reading stops at an entry that is not an address (whoever wrote it
    /// is not to be believed about anything to its left), and then, as when
    /// every entry is a trusted proxy, the client is the last trusted hop
    /// reached. Anyone else's `X-Forwarded-For` is ignored.
    pub fn client_ip(&self, trusted: &[IpNet]) -> Option<IpAddr> {
        let peer = self.header_values("spin-client-addr").last()?;
        let peer = parse_ip(peer)?;
        let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip.to_canonical()));
        let mut client = peer;
        if !is_trusted(peer) {
            return Some(client);
        }
        let entries: Vec<&str> = self
            .header_values("x-forwarded-for")
            .flat_map(|value| value.split(','))
            .collect();
        for entry in entries.iter().rev() {
            let Some(ip) = parse_ip(entry.trim()) else {
                break;
            };
            client = ip;
            if !is_trusted(ip) {
                break;
            }
        }
        Some(client)
    }

    /// The client's address as rate limits and logs key it (see
    /// [`Request::client_ip`]).
    pub fn client_address(&self, trusted: &[IpNet]) -> ClientAddress {
        ClientAddress::new(self.client_ip(trusted))
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

    /// The value of cookie `name`, from every `Cookie` header (HTTP/2 may
    /// split them), if the request carries it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header_values("cookie")
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
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
        JsonFields::read(self)
    }
}

/// An address as Spin and proxies write it: `a.b.c.d`, `::1`, or with a
/// port, `a.b.c.d:80` or `[::1]:80`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<SocketAddr>()
        .map(|addr| addr.ip())
        .or_else(|_| text.parse())
        .ok()
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

#[cfg(test)]
impl Request {
    /// A request for unit tests, from borrowed parts.
    pub(crate) fn for_test(
        method: Method,
        path_with_query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Self {
        let headers = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Self::new(method, path_with_query, headers, body.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_with(path_with_query: &str, headers: &[(&str, &str)]) -> Request {
        Request::for_test(Method::GET, path_with_query, headers, "")
    }

    fn get(path_with_query: &str) -> Request {
        get_with(path_with_query, &[])
    }

    #[test]
    fn headers_are_found_in_any_case() {
        let request = get_with("/", &[("Authorization", "Bearer x")]);
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
        let request = Request::for_test(
            Method::DELETE,
            "/api/posts/1",
            &[("spin-path-match-id", "2"), ("spin-path-match-id", "1")],
            "",
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
        let all = [headers, &[("spin-client-addr", peer)]].concat();
        Request::for_test(Method::POST, "/api/login", &all, "")
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
    fn x_forwarded_for_is_read_from_the_right_and_stops_at_anything_not_an_address() {
        let trusted = [IpNet::parse("10.42.0.0/16").unwrap()];
        let through = |forwarded: &str| {
            from_peer("10.42.0.9:1", &[("x-forwarded-for", forwarded)]).client_ip(&trusted)
        };
        // A client-written entry on the left is never the client.
        assert_eq!(through("6.6.6.6, 198.51.100.7"), Some(ip("198.51.100.7")));
        // Garbage past the client is never reached.
        assert_eq!(through("x, 198.51.100.7"), Some(ip("198.51.100.7")));
        // Garbage between the proxies and an address: the nearest trusted
        // hop is the client, never the address behind the garbage.
        assert_eq!(through("6.6.6.6, x"), Some(ip("10.42.0.9")));
        assert_eq!(through("6.6.6.6, x, 10.42.0.5"), Some(ip("10.42.0.5")));
        assert_eq!(through("6.6.6.6, , 10.42.0.5"), Some(ip("10.42.0.5")));
        assert_eq!(through("6.6.6.6,unknown"), Some(ip("10.42.0.9")));
        // Ports and IPv6 are addresses too.
        assert_eq!(through("[2001:db8::7]:443"), Some(ip("2001:db8::7")));
        assert_eq!(through("198.51.100.7:5000"), Some(ip("198.51.100.7")));
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64() {
        let a = from_peer("[2001:db8:1:2::1]:443", &[]).client_address(&[]);
        let b = from_peer("[2001:db8:1:2:ffff::9]:443", &[]).client_address(&[]);
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2001:db8:1:2::/64");
    }

    #[test]
    fn cookies_are_found_by_name_across_headers() {
        let cookies = [("cookie", "a=1; theme=dark"), ("cookie", "__Host-omni=s.t")];
        let request = get_with("/", &cookies);
        assert_eq!(request.cookie("theme"), Some("dark"));
        assert_eq!(request.cookie("__Host-omni"), Some("s.t"));
        assert_eq!(request.cookie("__Host"), None);
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
}
