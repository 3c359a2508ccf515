//! Domain types that parse and validate input once, at the edge, with the
//! limits of the API contract. Code past the edge trusts them.
//!
//! "Characters" are Unicode scalar values, which is also what a utf8mb4
//! VARCHAR(n) counts, so the database's column limits agree with these.

use std::fmt;

use crate::http::FromField;

fn check_length(text: &str, min: usize, max: usize) -> Result<(), String> {
    let length = text.chars().count();
    if length < min {
        Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        })
    } else if length > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(())
    }
}

fn check_not_blank(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        Err("must not be blank".into())
    } else {
        Ok(())
    }
}

/// Declares a validated string newtype.
macro_rules! text_type {
    ($(#[$attribute:meta])* $name:ident, |$text:ident| $check:expr) => {
        $(#[$attribute])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Validates `text`.
            pub fn parse($text: &str) -> Result<Self, String> {
                $check?;
                Ok(Self($text.to_owned()))
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromField for $name {
            fn from_field(text: &str) -> Result<Self, String> {
                Self::parse(text)
            }
        }
    };
}

text_type!(
    /// 3–32 characters of `A–Z a–z 0–9 _`. Unique ignoring case; stored as given.
    Username,
    |text| {
        check_length(text, 3, 32).and_then(|()| {
            if text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                Ok(())
            } else {
                Err("may contain only letters A–Z, digits and underscores".to_owned())
            }
        })
    }
);

text_type!(
    /// 0–64 characters; empty by default.
    #[derive(Default)]
    DisplayName,
    |text| check_length(text, 0, 64)
);

text_type!(
    /// 0–500 characters.
    Bio,
    |text| check_length(text, 0, 500)
);

text_type!(
    /// A post title: 1–200 characters, not only white space.
    Title,
    |text| check_length(text, 1, 200).and_then(|()| check_not_blank(text))
);

text_type!(
    /// A post description: 0–5000 characters; empty by default.
    #[derive(Default)]
    Description,
    |text| check_length(text, 0, 5000)
);

text_type!(
    /// A comment: 1–5000 characters, not only white space.
    CommentBody,
    |text| check_length(text, 1, 5000).and_then(|()| check_not_blank(text))
);

text_type!(
    /// An absolute `http` or `https` URL of at most 2048 characters, with a
    /// host and without white space or control characters.
    MarkdownUrl,
    |text| check_length(text, 1, 2048).and_then(|()| check_url(text))
);

/// RFC 3986 `unreserved`, `sub-delims` and `%` (escapes are checked
/// separately): what a host name or user info may hold.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=%".contains(c)
}

/// RFC 3986 `pchar`: what a path segment may hold.
fn is_pchar(c: char) -> bool {
    is_plain(c) || c == ':' || c == '@'
}

/// Checks `text` against RFC 3986's grammar for an absolute http(s) URI
/// with an authority: `scheme://[userinfo@]host[:port][/path][?query][#fragment]`.
/// A URI, not an IRI: anything else, non-ASCII letters included, must be
/// percent-encoded.
fn check_url(text: &str) -> Result<(), String> {
    let invalid = || Err("must be an absolute http or https URL".to_owned());
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &text[8..]
    } else if lower.starts_with("http://") {
        &text[7..]
    } else {
        return invalid();
    };
    if !percent_escapes_are_valid(text) {
        return invalid();
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (tail, fragment) = tail.split_once('#').unwrap_or((tail, ""));
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let tail_ok = path.chars().all(|c| is_pchar(c) || c == '/')
        && query.chars().all(|c| is_pchar(c) || c == '/' || c == '?')
        && fragment
            .chars()
            .all(|c| is_pchar(c) || c == '/' || c == '?');
    let (userinfo, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    let userinfo_ok = userinfo.chars().all(|c| is_plain(c) || c == ':');
    // An IPv6 literal carries colons of its own: `[::1]:8080`.
    let (host_ok, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, after)) => (
                address.parse::<std::net::Ipv6Addr>().is_ok(),
                match after {
                    "" => None,
                    after => match after.strip_prefix(':') {
                        Some(port) => Some(port),
                        None => return invalid(),
                    },
                },
            ),
            None => return invalid(),
        },
        None => {
            let (host, port) = match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            };
            (!host.is_empty() && host.chars().all(is_plain), port)
        }
    };
    let port_ok = port.is_none_or(|p| p.is_empty() || p.parse::<u16>().is_ok());
    if !(tail_ok && userinfo_ok && host_ok && port_ok) {
        return invalid();
    }
    Ok(())
}

/// Every `%` starts two hex digits.
fn percent_escapes_are_valid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// 8–72 bytes of UTF-8: bcrypt reads at most 72 bytes, and a longer
/// password is refused rather than silently truncated.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Validates `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.len() {
            0..8 => Err("must be at least 8 bytes".into()),
            8..=72 => Ok(Self(text.to_owned())),
            _ => Err("must be at most 72 bytes".into()),
        }
    }

    /// The password's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl FromField for Password {
    fn from_field(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_3_to_32_word_characters() {
        assert!(Username::parse("ada").is_ok());
        assert!(Username::parse("Ada_Lovelace_1815").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        for bad in ["ada lovelace", "ada-l", "ädä", "ada!", "ada\n"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_8_to_72_bytes() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(72)).is_ok());
        assert!(Password::parse("1234567").is_err());
        assert_eq!(
            Password::parse(&"x".repeat(73)),
            Err("must be at most 72 bytes".into())
        );
        // 24 three-byte characters are 72 bytes; 25 are 75.
        assert!(Password::parse(&"€".repeat(24)).is_ok());
        assert!(Password::parse(&"€".repeat(25)).is_err());
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(65)).is_err());
        assert!(DisplayName::parse("").is_ok());
        assert!(Bio::parse(&"b".repeat(500)).is_ok());
        assert!(Bio::parse(&"b".repeat(501)).is_err());
    }

    #[test]
    fn titles_and_comments_must_have_content() {
        assert!(Title::parse("Omni").is_ok());
        assert!(Title::parse("").is_err());
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"t".repeat(200)).is_ok());
        assert!(Title::parse(&"t".repeat(201)).is_err());
        assert!(CommentBody::parse("nice").is_ok());
        assert!(CommentBody::parse(" \n").is_err());
        assert!(CommentBody::parse(&"c".repeat(5000)).is_ok());
        assert!(CommentBody::parse(&"c".repeat(5001)).is_err());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"d".repeat(5001)).is_err());
    }

    #[test]
    fn markdown_urls_are_absolute_http_or_https() {
        for good in [
            "https://github.com/ada/engine/blob/main/README.md",
            "http://example.com",
            "HTTPS://EXAMPLE.COM/a?b=c#d",
            "https://user@example.com:8443/x",
            "http://[::1]:8080/readme.md",
            "https://example.com/caf%C3%A9.md",
            "https://xn--bcher-kva.example/readme.md",
            "https://example.com/a/b;c=d?q=1&r=a:b@c/d?e#frag/ment?x",
        ] {
            assert!(MarkdownUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "github.com/ada",
            "ftp://example.com/x.md",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://example.com:99999/",
            "/relative/path.md",
            "https://\u{9c3}\u{d2e}",
            "https://bücher.example/readme.md",
            "https://example.com/ä",
            "https://example.com/a b",
            "https://example.com/<script>",
            "https://example.com/100%",
            "https://exa|mple.com/",
            "http://[not-ipv6]/",
            "https://=n#.[L",
            "https://example.com/a#b#c",
            "https://example.com/[x]",
            "https://ex[ample.com/",
        ] {
            assert!(MarkdownUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn markdown_urls_stop_at_2048_characters() {
        let base = "https://example.com/";
        assert!(MarkdownUrl::parse(&format!("{base}{}", "a".repeat(2048 - base.len()))).is_ok());
        assert!(MarkdownUrl::parse(&format!("{base}{}", "a".repeat(2049 - base.len()))).is_err());
    }
}
