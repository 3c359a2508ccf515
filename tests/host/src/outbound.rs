//! `allowed_outbound_hosts`, parsed and matched as Spin 3.6.3 does
//! (crates/outbound-networking-config/src/allowed_hosts.rs, and the load
//! check in crates/loader/src/local.rs):
//!
//! - An entry is `scheme://host[:port]`. A missing port means the scheme's
//!   well-known port (3306 MySQL, 6379 Redis, 80 HTTP, 443 HTTPS…), `*` any
//!   port and `a..b` a half-open range; `*` is any host or scheme,
//!   `*.example.com` any subdomain, `10.0.0.0/8` any address in a network,
//!   and `self` (or `self.alt`) the app itself, for relative HTTP requests.
//!   Hosts compare literally: no DNS, so `localhost` is not `127.0.0.1`.
//! - Entries may hold variable templates (`"https://{{ origin }}"`). At
//!   startup, Spin checks a templated entry only when every variable in it
//!   has a default, and then with the defaults: a default that makes an
//!   invalid entry (an empty one, say) stops the app. Each instance resolves
//!   the templates with the real values; if any entry is then invalid, the
//!   whole list is, and *every* outbound check of that component fails: a
//!   MySQL or Redis `open` with `other(<parse error>)`, an HTTP request with
//!   `HttpRequestDenied`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{Context, bail, ensure};
use ip_network::IpNetwork;
use url::{Host, Url};

use crate::manifest::VariableDecl;
use crate::variables::Resolved;

const LEARN_MORE: &str = "Learn more: https://spinframework.dev/v3/http-outbound#granting-http-permissions-to-components";

/// One component's outbound permissions, as its instances see them.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    /// The parsed entries, or the error that makes every check fail.
    entries: Result<Vec<AllowedHost>, String>,
}

/// What a check decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The destination is allowed.
    Allowed,
    /// It is not; `destination` is what Spin reports (`scheme://authority`,
    /// never user info), or `None` for an address that cannot be parsed,
    /// which Spin refuses without reporting it.
    Denied {
        /// `scheme://host[:port]`, or `scheme://self`.
        destination: Option<String>,
    },
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
    /// `.example.com`, with the leading dot.
    Subdomains(String),
    ToSelf,
    Exact(Host),
    Network(IpNetwork),
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
    /// Spin's startup check of a component's raw entries: a literal entry
    /// must parse; a templated one must parse with the variables' defaults,
    /// when each of its variables has one.
    pub fn validate(
        entries: &[String],
        declared: &BTreeMap<String, VariableDecl>,
        resolved: &Resolved,
    ) -> anyhow::Result<()> {
        check_allow_all(entries).context("`allowed_outbound_hosts` is malformed")?;
        let defaults = Resolved::defaults_only(declared);
        for entry in entries {
            // Template syntax and variable names are checked with the real
            // values, which exist for every declared variable.
            resolved.expand(entry)?;
            if !entry.contains("{{") {
                parse_entry(entry).context("`allowed_outbound_hosts` is malformed")?;
            } else if let Ok(with_defaults) = defaults.expand(entry) {
                parse_entry(&with_defaults)
                    .with_context(|| {
                        format!(
                            "using default variable value(s) with template {entry:?} results in invalid config {with_defaults:?}"
                        )
                    })
                    .context("`allowed_outbound_hosts` is malformed")?;
            }
        }
        Ok(())
    }

    /// The entries with every template expanded by `resolved`, as an
    /// instance sees them. An invalid entry does not fail here: it makes
    /// every check fail.
    pub fn resolve(entries: &[String], resolved: &Resolved) -> Self {
        let parsed = check_allow_all(entries).and_then(|()| {
            entries
                .iter()
                .map(|entry| parse_entry(&resolved.expand(entry)?))
                .collect::<anyhow::Result<Vec<_>>>()
        });
        // Spin hands the guest the error's own message, without context.
        Self {
            entries: parsed.map_err(|e| e.to_string()),
        }
    }

    /// Parses entries that hold no templates.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        check_allow_all(entries)?;
        let entries = entries
            .iter()
            .map(|entry| parse_entry(entry))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            entries: Ok(entries),
        })
    }

    /// Whether a connection to `address` is allowed: Spin's `check_url`.
    /// `address` is a URL (for MySQL `mysql://user:password@host:port/db`);
    /// without a scheme, `default_scheme` is assumed. Fails, with Spin's
    /// text, when the component's list did not resolve.
    pub fn check_url(&self, address: &str, default_scheme: &str) -> Result<Verdict, String> {
        let entries = self.entries.as_ref().map_err(Clone::clone)?;
        let Some(url) = OutboundUrl::parse(address, default_scheme) else {
            return Ok(Verdict::Denied { destination: None });
        };
        if entries.iter().any(|entry| entry.allows(&url)) {
            Ok(Verdict::Allowed)
        } else {
            Ok(Verdict::Denied {
                destination: Some(format!("{}://{}", url.scheme, url.authority())),
            })
        }
    }

    /// Whether a relative ("self") request with one of `schemes` is
    /// allowed: Spin's `check_relative_url`.
    pub fn check_relative(&self, schemes: &[&str]) -> Result<Verdict, String> {
        let entries = self.entries.as_ref().map_err(Clone::clone)?;
        let allowed = entries.iter().any(|entry| {
            schemes
                .iter()
                .any(|s| entry.scheme.as_deref().is_none_or(|e| e == *s))
                && matches!(entry.host, HostPattern::Any | HostPattern::ToSelf)
        });
        Ok(if allowed {
            Verdict::Allowed
        } else {
            Verdict::Denied {
                destination: Some(format!("{}://self", schemes.first().unwrap_or(&""))),
            }
        })
    }
}

/// Spin refuses the old `insecure:allow-all` spelling.
fn check_allow_all(entries: &[String]) -> anyhow::Result<()> {
    if let [only] = entries
        && only == "insecure:allow-all"
    {
        bail!(
            "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'"
        );
    }
    Ok(())
}

impl AllowedHost {
    fn allows(&self, url: &OutboundUrl) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == url.scheme)
            && self.host.allows(&url.host)
            && match self.port {
                PortPattern::Any => true,
                PortPattern::Exact(_) | PortPattern::Range(..) => {
                    match url.port.or_else(|| well_known_port(&url.scheme)) {
                        Some(port) => self.port.contains(port),
                        None => false,
                    }
                }
            }
    }
}

impl PortPattern {
    fn contains(&self, port: u16) -> bool {
        match *self {
            Self::Any => true,
            Self::Exact(p) => p == port,
            Self::Range(low, high) => (low..high).contains(&port),
        }
    }
}

impl HostPattern {
    fn allows(&self, host: &str) -> bool {
        // `url` keeps the host of a non-special scheme such as `mysql:` as
        // an opaque name, so an IP address is parsed again.
        let Ok(host) = Host::parse(host) else {
            return false;
        };
        match (self, host) {
            (Self::Any, _) => true,
            (Self::Subdomains(suffix), Host::Domain(domain)) => domain.ends_with(suffix.as_str()),
            (Self::Exact(expected), actual) => *expected == actual,
            (Self::Network(network), Host::Ipv4(ip)) => network.contains(IpAddr::V4(ip)),
            (Self::Network(network), Host::Ipv6(ip)) => network.contains(IpAddr::V6(ip)),
            _ => false,
        }
    }
}

/// Spin's `AllowedHostConfig::parse`, with its messages: the port is
/// parsed first, then the scheme, then the host.
fn parse_entry(entry: &str) -> anyhow::Result<AllowedHost> {
    let entry = entry.trim();
    let Some((scheme, rest)) = entry.split_once("://") else {
        if matches!(entry, "*" | ":" | "" | "?") {
            bail!(
                "{entry:?} is not an allowed outbound host format.\n\
                 Hosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each.\n\
                 If you intended to allow all outbound networking, you can use '*://*:*' - this will obviate all network sandboxing.\n\
                 {LEARN_MORE}"
            );
        }
        bail!("{entry:?} does not contain a scheme (e.g., 'http://' or '*://')\n{LEARN_MORE}");
    };
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
    let port = match port.split_once('/') {
        Some((_, path)) if !path.is_empty() => bail!("{entry:?} has a path but is not allowed to"),
        Some((port, _)) => port,
        None => port,
    };
    let port =
        parse_port(port, scheme).with_context(|| format!("Invalid allowed host port {port:?}"))?;
    let scheme =
        parse_scheme(scheme).with_context(|| format!("Invalid allowed host scheme {scheme:?}"))?;
    let host = parse_host(host).with_context(|| format!("Invalid allowed host {host:?}"))?;
    Ok(AllowedHost { scheme, host, port })
}

fn parse_port(port: &str, scheme: &str) -> anyhow::Result<PortPattern> {
    if port.is_empty() {
        return well_known_port(scheme).map(PortPattern::Exact).with_context(|| {
            format!(
                "no port was provided and the scheme {scheme:?} does not have a known default port number"
            )
        });
    }
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    ensure!(!port.starts_with('{'), "port lists are not yet supported");
    if let Some((low, high)) = port.split_once("..") {
        let number = |p: &str| {
            p.parse::<u16>()
                .with_context(|| format!("port range {port:?} contains non-number"))
        };
        return Ok(PortPattern::Range(number(low)?, number(high)?));
    }
    Ok(PortPattern::Exact(port.parse().with_context(|| {
        format!("port {port:?} is not a number")
    })?))
}

fn parse_scheme(scheme: &str) -> anyhow::Result<Option<String>> {
    if scheme == "*" {
        return Ok(None);
    }
    ensure!(!scheme.starts_with('{'), "scheme lists are not supported");
    ensure!(
        scheme.chars().all(char::is_alphabetic),
        "only alphabetic characters are allowed"
    );
    Ok(Some(scheme.to_owned()))
}

fn parse_host(host: &str) -> anyhow::Result<HostPattern> {
    let host = host.trim();
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::ToSelf);
    }
    if host.starts_with('{') {
        ensure!(host.ends_with('}'));
        bail!("host lists are not yet supported");
    }
    if let Ok(network) = IpNetwork::from_str_truncate(host) {
        return Ok(HostPattern::Network(network));
    }
    let host = host.trim_end_matches('/');
    ensure!(!host.contains('/'), "must not include a path");
    if let Some(domain) = host.strip_prefix("*.") {
        ensure!(
            !domain.contains('*'),
            "wildcards are allowed only as prefixes"
        );
        return Ok(HostPattern::Subdomains(format!(".{domain}")));
    }
    ensure!(
        !host.contains('*'),
        "wildcards are allowed only as subdomains"
    );
    Ok(HostPattern::Exact(Host::parse(host)?))
}

/// The parts of a destination Spin checks (its `OutboundUrl`).
#[derive(Debug)]
struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OutboundUrl {
    /// Parses `address` as Spin does: user info before the path may hold
    /// characters (`#`, `?`, `/`, `@`) that would end it, so it is
    /// percent-encoded first; an address that does not parse as a URL with
    /// a host gets `default_scheme://` in front.
    fn parse(address: &str, default_scheme: &str) -> Option<Self> {
        let address = encode_userinfo(address);
        let url = Url::parse(&address)
            .ok()
            .filter(Url::has_host)
            .or_else(|| Url::parse(&format!("{default_scheme}://{address}")).ok())?;
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_owned(),
            port: url.port(),
        })
    }

    fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Percent-encodes everything between the scheme and the first `@`, if
/// that `@` comes before the first `/` of the path.
fn encode_userinfo(address: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let Some(at) = address.find('@') else {
        return address.to_owned();
    };
    let start = address.find("://").map_or(0, |i| i + 3);
    let path = address[start..].find('/').map_or(usize::MAX, |i| i + start);
    if at >= path || at < start {
        return address.to_owned();
    }
    format!(
        "{}{}{}",
        &address[..start],
        utf8_percent_encode(&address[start..at], KEEP_UNRESERVED),
        &address[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn allows(hosts: &AllowedHosts, address: &str, scheme: &str) -> bool {
        hosts.check_url(address, scheme).unwrap() == Verdict::Allowed
    }

    #[test]
    fn an_exact_host_and_port_is_allowed() {
        let a = allowed(&["mysql://127.0.0.1:33061"]);
        assert!(allows(&a, "mysql://u:p@127.0.0.1:33061/db", "mysql"));
        assert!(!allows(&a, "mysql://u:p@127.0.0.1:33062/db", "mysql"));
        assert!(!allows(&a, "postgres://u:p@127.0.0.1:33061/db", "mysql"));
    }

    #[test]
    fn no_port_means_the_well_known_port() {
        let a = allowed(&["mysql://127.0.0.1"]);
        assert!(allows(&a, "mysql://u:p@127.0.0.1/db", "mysql"));
        assert!(allows(&a, "mysql://u:p@127.0.0.1:3306/db", "mysql"));
        assert!(!allows(&a, "mysql://u:p@127.0.0.1:33061/db", "mysql"));
        let a = allowed(&["https://example.com"]);
        assert!(allows(&a, "https://example.com:443/a", "https"));
        assert!(!allows(&a, "http://example.com/a", "https"));
    }

    #[test]
    fn hosts_compare_without_dns() {
        let a = allowed(&["mysql://localhost:3306"]);
        assert!(!allows(&a, "mysql://u:p@127.0.0.1:3306/db", "mysql"));
    }

    #[test]
    fn wildcards_allow_any_host_port_or_scheme() {
        assert!(allows(
            &allowed(&["mysql://*:*"]),
            "mysql://u@db.internal:1234/x",
            "mysql"
        ));
        assert!(allows(&allowed(&["*://*:*"]), "mysql://u@db:1/x", "mysql"));
        assert!(allows(
            &allowed(&["mysql://*"]),
            "mysql://u@anything/x",
            "mysql"
        ));
        assert!(!allows(
            &allowed(&["mysql://*"]),
            "mysql://u@anything:1/x",
            "mysql"
        ));
    }

    #[test]
    fn subdomain_wildcards_need_a_subdomain() {
        let a = allowed(&["mysql://*.example.com"]);
        assert!(allows(&a, "mysql://u@db.example.com/x", "mysql"));
        assert!(allows(&a, "mysql://u@a.b.example.com/x", "mysql"));
        assert!(!allows(&a, "mysql://u@example.com/x", "mysql"));
        assert!(!allows(&a, "mysql://u@badexample.com/x", "mysql"));
    }

    #[test]
    fn ip_networks_match_their_addresses() {
        let a = allowed(&["mysql://10.1.0.0/16:*"]);
        assert!(allows(&a, "mysql://u@10.1.200.3:3306/x", "mysql"));
        assert!(!allows(&a, "mysql://u@10.2.0.1:3306/x", "mysql"));
        assert!(!allows(&a, "mysql://u@db.internal:3306/x", "mysql"));
    }

    #[test]
    fn port_ranges_are_half_open() {
        let a = allowed(&["mysql://db:3000..3010"]);
        assert!(allows(&a, "mysql://u@db:3000/x", "mysql"));
        assert!(allows(&a, "mysql://u@db:3009/x", "mysql"));
        assert!(!allows(&a, "mysql://u@db:3010/x", "mysql"));
    }

    #[test]
    fn user_info_may_hold_characters_that_would_end_it() {
        let a = allowed(&["mysql://xyz.com"]);
        assert!(allows(&a, "mysql://user:pass#word@xyz.com/db", "mysql"));
        assert!(allows(&a, "mysql://user:p?ss@w@rd@xyz.com/db", "mysql"));
        // Spin looks for the path's `/` first, so a `/` in user info ends
        // it: the host is then `us`.
        assert!(!allows(&a, "mysql://us/er:pass@xyz.com/db", "mysql"));
    }

    #[test]
    fn an_at_sign_in_a_path_is_not_user_info() {
        let a = allowed(&["https://example.com"]);
        assert!(allows(&a, "https://example.com/file@0.1.0.json", "https"));
        assert!(!allows(&a, "https://evil.com/@example.com", "https"));
    }

    #[test]
    fn an_address_without_a_scheme_gets_the_default_one() {
        let a = allowed(&["redis://127.0.0.1:6380"]);
        assert!(allows(&a, "127.0.0.1:6380", "redis"));
        assert!(!allows(&a, "127.0.0.1:6380", "mysql"));
    }

    #[test]
    fn a_denial_names_scheme_and_authority_but_never_user_info() {
        let a = allowed(&["mysql://db"]);
        assert_eq!(
            a.check_url("mysql://root:secret@other:3307/x", "mysql"),
            Ok(Verdict::Denied {
                destination: Some("mysql://other:3307".into())
            })
        );
        assert_eq!(
            a.check_url("::::", "mysql"),
            Ok(Verdict::Denied { destination: None })
        );
    }

    #[test]
    fn self_allows_relative_requests_only() {
        let a = allowed(&["http://self"]);
        assert_eq!(a.check_relative(&["http", "https"]), Ok(Verdict::Allowed));
        assert!(!allows(&a, "http://self/x", "https"));
        assert_eq!(
            allowed(&["*://*:*"]).check_relative(&["http"]),
            Ok(Verdict::Allowed)
        );
        assert_eq!(
            allowed(&["https://example.com"]).check_relative(&["http", "https"]),
            Ok(Verdict::Denied {
                destination: Some("http://self".into())
            })
        );
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!allows(&allowed(&[]), "mysql://u@db/x", "mysql"));
    }

    #[test]
    fn malformed_entries_are_refused_with_spins_messages() {
        let message = |entry: &str| {
            AllowedHosts::parse(&[entry.to_owned()])
                .unwrap_err()
                .to_string()
        };
        assert!(message("").starts_with("\"\" is not an allowed outbound host format."));
        assert!(message("127.0.0.1").starts_with("\"127.0.0.1\" does not contain a scheme"));
        assert_eq!(message("*://db"), "Invalid allowed host port \"\"");
        assert_eq!(
            message("mysql://db/path"),
            "Invalid allowed host \"db/path\""
        );
        assert_eq!(
            message("http://db:80/path"),
            "\"http://db:80/path\" has a path but is not allowed to"
        );
        assert_eq!(
            message("my-sql://db:1"),
            "Invalid allowed host scheme \"my-sql\""
        );
        assert_eq!(
            message("mysql://db:notaport"),
            "Invalid allowed host port \"notaport\""
        );
        assert_eq!(message("http://[::1]"), "Invalid allowed host port \"1]\"");
        assert_eq!(message("https://"), "Invalid allowed host \"\"");
        assert!(message("insecure:allow-all").starts_with("'insecure:allow-all' is not allowed"));
    }

    fn declared(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, VariableDecl> {
        pairs
            .iter()
            .map(|(name, default)| {
                (
                    (*name).to_owned(),
                    VariableDecl {
                        description: None,
                        required: default.is_none(),
                        default: default.map(str::to_owned),
                        secret: false,
                    },
                )
            })
            .collect()
    }

    fn resolve(declared: &BTreeMap<String, VariableDecl>, values: &[(&str, &str)]) -> Resolved {
        let providers = crate::variables::Providers {
            explicit: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            environment: false,
        };
        Resolved::resolve(declared, &providers).unwrap()
    }

    #[test]
    fn a_template_is_checked_at_startup_only_with_defaults() {
        let entries = vec!["mysql://db".to_owned(), "{{ origin }}".to_owned()];
        // A default that makes an invalid entry stops the app...
        let vars = declared(&[("origin", Some(""))]);
        let error =
            AllowedHosts::validate(&entries, &vars, &resolve(&vars, &[("origin", "https://x")]))
                .unwrap_err();
        assert_eq!(
            format!("{error:#}").split('\n').next().unwrap(),
            "`allowed_outbound_hosts` is malformed: using default variable value(s) with template \"{{ origin }}\" results in invalid config \"\": \"\" is not an allowed outbound host format."
        );
        // ...but a required variable is not checked at startup.
        let vars = declared(&[("origin", None)]);
        let values = resolve(&vars, &[("origin", "")]);
        AllowedHosts::validate(&entries, &vars, &values).unwrap();
        // Its empty value then breaks every check of the component.
        let hosts = AllowedHosts::resolve(&entries, &values);
        let error = hosts.check_url("mysql://u@db/x", "mysql").unwrap_err();
        assert!(
            error.starts_with("\"\" is not an allowed outbound host format."),
            "{error}"
        );
        assert!(hosts.check_relative(&["http"]).is_err());
    }

    #[test]
    fn a_resolved_template_allows_its_value() {
        let vars = declared(&[("origin", Some("https://github.com"))]);
        let entries = vec!["{{ origin }}".to_owned()];
        let hosts = AllowedHosts::resolve(
            &entries,
            &resolve(&vars, &[("origin", "http://127.0.0.1:8080")]),
        );
        assert!(allows(&hosts, "http://127.0.0.1:8080/a.md", "https"));
        assert!(!allows(&hosts, "https://github.com/a.md", "https"));
    }
}
