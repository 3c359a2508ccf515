//! Where write-ups may come from: the forges' raw-file hosts, plus one
//! origin an operator may add (`writeup_extra_origin`), and how a link to a
//! forge's page becomes a link to its raw file.
//!
//! Every URL Omni fetches, and every redirect target, passes
//! [`Sources::check`] first. Spin enforces the same list again
//! (`allowed_outbound_hosts` of the fetching components in `spin.toml`, kept
//! equal to [`FORGE_HOSTS`] by a test), and on SpinKube an egress
//! NetworkPolicy keeps the pods off private networks.

use std::net::IpAddr;

use url::{Host, Url};

/// The hosts write-ups are fetched from, over HTTPS on port 443: GitHub's
/// and gists' raw files, GitLab and Codeberg (whose raw files are on the
/// forge's own host).
pub const FORGE_HOSTS: [&str; 4] = [
    "raw.githubusercontent.com",
    "gist.githubusercontent.com",
    "gitlab.com",
    "codeberg.org",
];

/// The origins browsers may load a write-up's images from: the forges'
/// raw files and GitHub's uploaded images. The website's Content Security
/// Policy lists exactly these (`img-src`), plus the operator's origin on a
/// project page.
pub const IMAGE_ORIGINS: [&str; 5] = [
    "https://raw.githubusercontent.com",
    "https://gist.githubusercontent.com",
    "https://user-images.githubusercontent.com",
    "https://gitlab.com",
    "https://codeberg.org",
];

/// Why a URL may not be fetched. Its [`Refusal::reason`] is what the API's
/// 502 and the logs name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not `https` (and not the operator's origin).
    #[error("only https URLs are fetched")]
    NotHttps,
    /// A host that is not on the list.
    #[error("the host {0} is not one Omni fetches write-ups from")]
    HostNotAllowed(String),
    /// An IP address that is private, loopback, link-local or otherwise
    /// not public.
    #[error("{0} is not a public address")]
    PrivateAddress(String),
    /// User info, or another port than 443.
    #[error("the URL has user info or a port other than 443")]
    Unusual,
}

impl Refusal {
    /// A short name for the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotHttps => "not_https",
            Self::HostNotAllowed(_) => "host_not_allowed",
            Self::PrivateAddress(_) => "private_address",
            Self::Unusual => "unusual_url",
        }
    }
}

/// An operator's origin: `scheme://host[:port]`, http or https.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(Url);

impl Origin {
    /// Parses `http(s)://host[:port]`, with nothing after it but a `/`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
        let bare = url.username().is_empty()
            && url.password().is_none()
            && matches!(url.path(), "" | "/")
            && url.query().is_none()
            && url.fragment().is_none();
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
            return Err("must be http(s)://host[:port], with no path".into());
        }
        Ok(Self(url))
    }

    /// Whether `url` is on this origin.
    pub fn contains(&self, url: &Url) -> bool {
        url.origin() == self.0.origin()
    }

    /// The origin as a URL (`https://host/`).
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// `scheme://host[:port]`, as `allowed_outbound_hosts` and a CSP write it.
    pub fn as_source(&self) -> String {
        self.0.as_str().trim_end_matches('/').to_owned()
    }
}

/// The places write-ups may come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    /// The operator's origin, trusted as it is: it may be http and private.
    pub extra: Option<Origin>,
}

impl Sources {
    /// Whether `url` may be fetched: the operator's origin as it is, else
    /// HTTPS on port 443, without user info, to a forge host. A private
    /// address is named as such whatever else is wrong with the URL.
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        if self
            .extra
            .as_ref()
            .is_some_and(|origin| origin.contains(url))
        {
            return Ok(());
        }
        match url.host() {
            Some(Host::Domain(domain)) if FORGE_HOSTS.contains(&domain) => {}
            Some(Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => {
                return Err(Refusal::PrivateAddress(ip.to_string()));
            }
            Some(Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => {
                return Err(Refusal::PrivateAddress(ip.to_string()));
            }
            Some(host) => return Err(Refusal::HostNotAllowed(host.to_string())),
            None => return Err(Refusal::HostNotAllowed(String::new())),
        }
        if url.scheme() != "https" {
            return Err(Refusal::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
            return Err(Refusal::Unusual);
        }
        Ok(())
    }

    /// The origins a write-up's images may come from: [`IMAGE_ORIGINS`]
    /// and the operator's.
    pub fn image_origins(&self) -> Vec<Url> {
        IMAGE_ORIGINS
            .iter()
            .filter_map(|origin| Url::parse(origin).ok())
            .chain(self.extra.iter().map(|origin| origin.url().clone()))
            .collect()
    }
}

/// Whether `ip` is a public unicast address: not private, loopback,
/// link-local, shared (CGNAT), documentation, benchmarking, multicast,
/// reserved or unspecified, and not an IPv6 form of one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()) {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064
                || first == 0x0100)
        }
    }
}

/// The raw file behind a link to a forge's page, so that Omni fetches the
/// markdown and not the forge's HTML around it:
///
/// - `github.com/o/r/blob/<ref>/<path>` (or `/raw/`) →
///   `raw.githubusercontent.com/o/r/<ref>/<path>`; a repository's own page
///   `github.com/o/r` → its `HEAD` `README.md`;
/// - GitLab `…/-/blob/<ref>/<path>` → `…/-/raw/<ref>/<path>`;
/// - Codeberg `o/r/src/{branch,tag,commit}/…` → `o/r/raw/{branch,tag,commit}/…`;
/// - a gist `gist.github.com/<user>/<id>` →
///   `gist.githubusercontent.com/<user>/<id>/raw` (its first file).
///
/// Anything else is fetched as it is. The fragment is never sent, and a
/// page's query (`?plain=1`) is dropped with its page.
pub fn raw_url(page: &Url) -> Url {
    let mut raw = page.clone();
    raw.set_fragment(None);
    let segments: Vec<&str> = page
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let host = page.host_str().unwrap_or_default();
    let mapped =
        match (host, segments.as_slice()) {
            ("github.com" | "www.github.com", [owner, repo, "blob" | "raw", rest @ ..])
                if !rest.is_empty() =>
            {
                Some((
                    "raw.githubusercontent.com",
                    format!("{owner}/{repo}/{}", rest.join("/")),
                ))
            }
            ("github.com" | "www.github.com", [owner, repo]) => Some((
                "raw.githubusercontent.com",
                format!("{owner}/{repo}/HEAD/README.md"),
            )),
            ("gist.github.com", [user, id, rest @ ..]) if rest.is_empty() || rest[0] == "raw" => {
                Some((
                    "gist.githubusercontent.com",
                    format!(
                        "{user}/{id}/raw/{}",
                        rest.get(1..).unwrap_or_default().join("/")
                    ),
                ))
            }
            ("gitlab.com", _) => segments.iter().position(|s| *s == "-").and_then(|dash| {
                match segments.get(dash + 1..) {
                    Some(["blob", rest @ ..]) if !rest.is_empty() => Some((
                        "gitlab.com",
                        format!("{}/-/raw/{}", segments[..dash].join("/"), rest.join("/")),
                    )),
                    _ => None,
                }
            }),
            (
                "codeberg.org",
                [
                    owner,
                    repo,
                    "src",
                    kind @ ("branch" | "tag" | "commit"),
                    rest @ ..,
                ],
            ) if !rest.is_empty() => Some((
                "codeberg.org",
                format!("{owner}/{repo}/raw/{kind}/{}", rest.join("/")),
            )),
            _ => None,
        };
    if let Some((host, path)) = mapped {
        // Both come from a URL that parsed, so they are valid here too.
        if raw.set_host(Some(host)).is_ok() {
            raw.set_path(path.trim_end_matches('/'));
            raw.set_query(None);
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(page: &str) -> String {
        raw_url(&Url::parse(page).unwrap()).to_string()
    }

    #[test]
    fn forge_pages_map_to_their_raw_files() {
        let cases = [
            (
                "https://github.com/ada/engine/blob/main/docs/README.md",
                "https://raw.githubusercontent.com/ada/engine/main/docs/README.md",
            ),
            (
                "https://github.com/ada/engine/blob/v1.2/README.md?plain=1#usage",
                "https://raw.githubusercontent.com/ada/engine/v1.2/README.md",
            ),
            (
                "https://github.com/ada/engine/raw/main/README.md",
                "https://raw.githubusercontent.com/ada/engine/main/README.md",
            ),
            (
                "https://github.com/ada/engine",
                "https://raw.githubusercontent.com/ada/engine/HEAD/README.md",
            ),
            (
                "https://gitlab.com/group/sub/project/-/blob/main/README.md",
                "https://gitlab.com/group/sub/project/-/raw/main/README.md",
            ),
            (
                "https://codeberg.org/ada/engine/src/branch/main/README.md",
                "https://codeberg.org/ada/engine/raw/branch/main/README.md",
            ),
            (
                "https://codeberg.org/ada/engine/src/tag/v1/docs/x.md",
                "https://codeberg.org/ada/engine/raw/tag/v1/docs/x.md",
            ),
            (
                "https://gist.github.com/ada/0123abcd",
                "https://gist.githubusercontent.com/ada/0123abcd/raw",
            ),
            (
                "https://gist.github.com/ada/0123abcd/raw/notes.md",
                "https://gist.githubusercontent.com/ada/0123abcd/raw/notes.md",
            ),
        ];
        for (page, expected) in cases {
            assert_eq!(raw(page), expected, "{page}");
        }
    }

    #[test]
    fn other_urls_are_fetched_as_they_are_without_the_fragment() {
        for (page, expected) in [
            (
                "https://raw.githubusercontent.com/ada/engine/main/README.md",
                "https://raw.githubusercontent.com/ada/engine/main/README.md",
            ),
            (
                "https://example.com/readme.md#x",
                "https://example.com/readme.md",
            ),
            (
                "https://github.com/ada/engine/issues/1",
                "https://github.com/ada/engine/issues/1",
            ),
            (
                "https://gitlab.com/group/project/-/issues/3",
                "https://gitlab.com/group/project/-/issues/3",
            ),
        ] {
            assert_eq!(raw(page), expected, "{page}");
        }
    }

    fn check(sources: &Sources, url: &str) -> Result<(), Refusal> {
        sources.check(&Url::parse(url).unwrap())
    }

    #[test]
    fn only_https_to_the_forges_raw_hosts_is_fetched() {
        let sources = Sources::default();
        for url in [
            "https://raw.githubusercontent.com/a/b/main/README.md",
            "https://gist.githubusercontent.com/a/1/raw",
            "https://gitlab.com/a/b/-/raw/main/README.md",
            "https://codeberg.org/a/b/raw/branch/main/README.md",
            "https://RAW.githubusercontent.com/a/b/main/README.md",
        ] {
            assert_eq!(check(&sources, url), Ok(()), "{url}");
        }
        for (url, reason) in [
            (
                "http://raw.githubusercontent.com/a/b/main/README.md",
                "not_https",
            ),
            ("https://example.com/readme.md", "host_not_allowed"),
            (
                "https://raw.githubusercontent.com.evil.example/x",
                "host_not_allowed",
            ),
            (
                "https://github.com/a/b/blob/main/README.md",
                "host_not_allowed",
            ),
            ("https://localhost/x", "host_not_allowed"),
            ("http://localhost:8080/x", "host_not_allowed"),
            ("http://10.0.0.1/x", "private_address"),
            ("https://127.0.0.1/x", "private_address"),
            ("https://10.0.0.1/x", "private_address"),
            (
                "https://169.254.169.254/latest/meta-data",
                "private_address",
            ),
            ("https://[::1]/x", "private_address"),
            ("https://[::ffff:192.168.1.1]/x", "private_address"),
            ("https://[fd00::1]/x", "private_address"),
            ("https://8.8.8.8/x", "host_not_allowed"),
            ("https://raw.githubusercontent.com:8443/x", "unusual_url"),
            ("https://u:p@raw.githubusercontent.com/x", "unusual_url"),
            ("ftp://raw.githubusercontent.com/x", "not_https"),
        ] {
            assert_eq!(
                check(&sources, url).map_err(|r| r.reason()),
                Err(reason),
                "{url}"
            );
        }
    }

    #[test]
    fn the_operators_origin_may_be_http_and_private_but_only_exactly_it() {
        let sources = Sources {
            extra: Some(Origin::parse("http://127.0.0.1:8080").unwrap()),
        };
        assert_eq!(check(&sources, "http://127.0.0.1:8080/readme.md"), Ok(()));
        assert!(check(&sources, "http://127.0.0.1:8081/readme.md").is_err());
        assert!(check(&sources, "https://127.0.0.1:8080/readme.md").is_err());
        assert!(check(&sources, "http://localhost:8080/readme.md").is_err());
        assert_eq!(
            sources.extra.as_ref().unwrap().as_source(),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn an_operator_origin_is_only_a_scheme_host_and_port() {
        assert!(Origin::parse("https://git.example.org").is_ok());
        assert!(Origin::parse("https://git.example.org/").is_ok());
        for bad in [
            "",
            "git.example.org",
            "ftp://git.example.org",
            "https://git.example.org/path",
            "https://u:p@git.example.org",
            "https://git.example.org/?q",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spin_lets_the_fetching_components_reach_exactly_the_forge_hosts() {
        let manifest = include_str!("../../spin.toml");
        for component in ["writeup", "web-projects"] {
            let start = manifest
                .find(&format!("[component.{component}]"))
                .unwrap_or_else(|| panic!("no component {component}"));
            let section = &manifest[start..];
            let list = &section[section.find("allowed_outbound_hosts = [").unwrap()..];
            let list = &list[..list.find(']').unwrap()];
            let https: Vec<&str> = list
                .split('"')
                .filter_map(|entry| entry.strip_prefix("https://"))
                .collect();
            assert_eq!(https, FORGE_HOSTS, "{component}");
            assert!(
                list.contains("\"{{ writeup_extra_origin }}\""),
                "{component}"
            );
        }
    }

    #[test]
    fn public_addresses_are_told_from_the_rest() {
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
