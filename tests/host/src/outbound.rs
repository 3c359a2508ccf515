//! `allowed_outbound_hosts`, parsed and matched as Spin 3.6 does for the
//! addresses a component connects to: `scheme://host[:port]`, where a
//! missing port means the scheme's well-known port (3306 for MySQL), `*`
//! means any, `*.example.com` any subdomain, and an IP prefix (`10.0.0.0/8`)
//! any address in it. Hosts compare literally: no DNS, so `localhost` is not
//! `127.0.0.1`.

use std::net::IpAddr;

use anyhow::{Context, bail};
use url::{Host, Url};

/// One component's outbound permissions.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Clone, Debug, PartialEq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Clone, Debug, PartialEq)]
enum HostPattern {
    Any,
    Subdomains(String),
    Exact(Host),
    Network(IpAddr, u8),
}

#[derive(Clone, Debug, PartialEq)]
enum PortPattern {
    Any,
    Exact(u16),
    Range(u16, u16),
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses already-expanded entries such as `mysql://127.0.0.1:3306`.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let entries = entries
            .iter()
            .map(|entry| {
                parse_entry(entry)
                    .with_context(|| format!("allowed_outbound_hosts entry {entry:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { entries })
    }

    /// Whether a connection to `address` (a URL; for MySQL
    /// `mysql://user:password@host:port/db`) is allowed. An address that
    /// cannot be parsed is not allowed.
    pub fn allows(&self, address: &str, default_scheme: &str) -> bool {
        let Some(url) = parse_address(address, default_scheme) else {
            return false;
        };
        // `url` keeps the host of a non-special scheme such as `mysql:` as
        // an opaque name, so an IP address must be parsed again.
        let Some(host) = url.host_str().and_then(|h| Host::parse(h).ok()) else {
            return false;
        };
        let Some(port) = url.port().or_else(|| well_known_port(url.scheme())) else {
            return false;
        };
        self.entries.iter().any(|entry| {
            entry.scheme.as_deref().is_none_or(|s| s == url.scheme())
                && host_matches(&entry.host, &host)
                && match entry.port {
                    PortPattern::Any => true,
                    PortPattern::Exact(p) => p == port,
                    PortPattern::Range(low, high) => (low..high).contains(&port),
                }
        })
    }
}

fn host_matches(pattern: &HostPattern, host: &Host) -> bool {
    match (pattern, host) {
        (HostPattern::Any, _) => true,
        (HostPattern::Subdomains(suffix), Host::Domain(domain)) => domain
            .strip_suffix(suffix.as_str())
            .is_some_and(|rest| rest.ends_with('.')),
        (HostPattern::Exact(expected), actual) => expected == actual,
        (HostPattern::Network(network, bits), Host::Ipv4(ip)) => {
            in_network(*network, *bits, IpAddr::V4(*ip))
        }
        (HostPattern::Network(network, bits), Host::Ipv6(ip)) => {
            in_network(*network, *bits, IpAddr::V6(*ip))
        }
        _ => false,
    }
}

fn in_network(network: IpAddr, bits: u8, ip: IpAddr) -> bool {
    fn prefix_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
        let (whole, rest) = (usize::from(bits / 8), bits % 8);
        a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0)
    }
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => prefix_equal(&n.octets(), &i.octets(), bits),
        (IpAddr::V6(n), IpAddr::V6(i)) => prefix_equal(&n.octets(), &i.octets(), bits),
        _ => false,
    }
}

fn parse_entry(entry: &str) -> anyhow::Result<AllowedHost> {
    let entry = entry.trim();
    let Some((scheme, rest)) = entry.split_once("://") else {
        bail!("{entry:?} does not contain a scheme (e.g., 'http://' or '*://')");
    };
    let scheme = match scheme {
        "*" => None,
        s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()) => Some(s.to_owned()),
        s => bail!("invalid scheme {s:?}"),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    // An IP network carries a `/`; anything else with one has a path.
    let (host_text, port_text) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let port = match port_text {
        None | Some("") => PortPattern::Exact(
            scheme
                .as_deref()
                .and_then(well_known_port)
                .with_context(|| format!("no port was provided and the scheme {:?} does not have a known default port number", scheme.as_deref().unwrap_or("*")))?,
        ),
        Some("*") => PortPattern::Any,
        Some(range) if range.contains("..") => {
            let (low, high) = range.split_once("..").unwrap_or_default();
            PortPattern::Range(low.parse()?, high.parse()?)
        }
        Some(port) => PortPattern::Exact(port.parse().with_context(|| format!("invalid port {port:?}"))?),
    };
    let host = if host_text == "*" {
        HostPattern::Any
    } else if let Some(suffix) = host_text.strip_prefix("*.") {
        HostPattern::Subdomains(suffix.to_owned())
    } else if let Some((network, bits)) = host_text.split_once('/') {
        let network: IpAddr = network
            .parse()
            .with_context(|| format!("{entry:?} has a path but is not allowed to"))?;
        let bits: u8 = bits.parse()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        anyhow::ensure!(bits <= max, "invalid network prefix length {bits}");
        HostPattern::Network(network, bits)
    } else {
        HostPattern::Exact(
            Host::parse(host_text).with_context(|| format!("invalid host {host_text:?}"))?,
        )
    };
    Ok(AllowedHost { scheme, host, port })
}

/// Parses a connection address as Spin does: user info may hold characters
/// (`#`, `?`, `/`) that would otherwise end it, so they are escaped first;
/// an address without a scheme gets `default_scheme`.
fn parse_address(address: &str, default_scheme: &str) -> Option<Url> {
    let escaped = escape_userinfo(address);
    Url::parse(&escaped)
        .ok()
        .filter(|url| url.host().is_some())
        .or_else(|| Url::parse(&format!("{default_scheme}://{escaped}")).ok())
        .filter(|url| url.host().is_some())
}

fn escape_userinfo(address: &str) -> String {
    let (prefix, rest) = match address.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), address),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let userinfo: String = userinfo
                .chars()
                .map(|c| match c {
                    '#' => "%23".to_owned(),
                    '?' => "%3F".to_owned(),
                    '/' => "%2F".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            format!("{prefix}{userinfo}@{host}")
        }
        None => address.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn an_exact_host_and_port_is_allowed() {
        let a = allowed(&["mysql://127.0.0.1:33061"]);
        assert!(a.allows("mysql://u:p@127.0.0.1:33061/db", "mysql"));
        assert!(!a.allows("mysql://u:p@127.0.0.1:33062/db", "mysql"));
        assert!(!a.allows("postgres://u:p@127.0.0.1:33061/db", "mysql"));
    }

    #[test]
    fn no_port_means_the_well_known_port() {
        let a = allowed(&["mysql://127.0.0.1"]);
        assert!(a.allows("mysql://u:p@127.0.0.1/db", "mysql"));
        assert!(a.allows("mysql://u:p@127.0.0.1:3306/db", "mysql"));
        assert!(!a.allows("mysql://u:p@127.0.0.1:33061/db", "mysql"));
    }

    #[test]
    fn hosts_compare_without_dns() {
        let a = allowed(&["mysql://localhost:3306"]);
        assert!(!a.allows("mysql://u:p@127.0.0.1:3306/db", "mysql"));
    }

    #[test]
    fn wildcards_allow_any_host_port_or_scheme() {
        assert!(allowed(&["mysql://*:*"]).allows("mysql://u@db.internal:1234/x", "mysql"));
        assert!(allowed(&["*://*:*"]).allows("mysql://u@db:1/x", "mysql"));
        assert!(allowed(&["mysql://*"]).allows("mysql://u@anything/x", "mysql"));
        assert!(!allowed(&["mysql://*"]).allows("mysql://u@anything:1/x", "mysql"));
    }

    #[test]
    fn subdomain_wildcards_need_a_subdomain() {
        let a = allowed(&["mysql://*.example.com"]);
        assert!(a.allows("mysql://u@db.example.com/x", "mysql"));
        assert!(!a.allows("mysql://u@example.com/x", "mysql"));
        assert!(!a.allows("mysql://u@badexample.com/x", "mysql"));
    }

    #[test]
    fn ip_networks_match_their_addresses() {
        let a = allowed(&["mysql://10.1.0.0/16:*"]);
        assert!(a.allows("mysql://u@10.1.200.3:3306/x", "mysql"));
        assert!(!a.allows("mysql://u@10.2.0.1:3306/x", "mysql"));
    }

    #[test]
    fn port_ranges_are_half_open() {
        let a = allowed(&["mysql://db:3000..3010"]);
        assert!(a.allows("mysql://u@db:3000/x", "mysql"));
        assert!(a.allows("mysql://u@db:3009/x", "mysql"));
        assert!(!a.allows("mysql://u@db:3010/x", "mysql"));
    }

    #[test]
    fn a_password_with_a_hash_sign_still_parses() {
        let a = allowed(&["mysql://xyz.com"]);
        assert!(a.allows("mysql://user:pass#word@xyz.com/db", "mysql"));
    }

    #[test]
    fn nothing_is_allowed_by_default_or_when_unparseable() {
        assert!(!AllowedHosts::default().allows("mysql://u@db/x", "mysql"));
        assert!(!allowed(&["*://*:*"]).allows("::::", "mysql"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "127.0.0.1",
            "*://db",
            "mysql://db/path",
            "my-sql://db",
            "mysql://db:notaport",
        ] {
            assert!(
                AllowedHosts::parse(&[bad.to_owned()]).is_err(),
                "{bad} should not parse"
            );
        }
    }
}
