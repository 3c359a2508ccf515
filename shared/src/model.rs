//! Domain types that parse and validate input once, at the edge, with the
//! limits of the API contract. Code past the edge trusts them.
//!
//! "Characters" are Unicode scalar values, which is also what a utf8mb4
//! VARCHAR(n) counts, so the database's column limits agree with these.
//!
//! Free text (titles, descriptions, comments, display names, bios) is
//! normalised before it is checked and stored: line breaks become `\n`,
//! the text is put in Unicode NFC, so that what looks the same is the same,
//! control characters other than newline and tab are refused, and a value
//! made only of invisible characters (white space, zero-width and bidi
//! controls, other format characters) is refused.
//!
//! Bidirectional controls (U+202A–U+202E, U+2066–U+2069) can make text read
//! differently from what it is: "txt.exe" shown as "exe.txt", a name that
//! poses as another. Short one-line fields (usernames, display names,
//! titles) refuse them outright. Long text (descriptions, bios, comments)
//! keeps them where each line closes every one it opens, since people who
//! write in right-to-left scripts use them to mix directions; an unclosed
//! one, whose effect would leak past the text, is refused.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

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

/// Free text as stored: `\r\n` and lone `\r` become `\n`, the rest NFC;
/// refused if it holds any other control character.
fn normalise(text: &str) -> Result<String, String> {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    if let Some(c) = unified
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(format!(
            "must not contain control characters (found U+{:04X})",
            u32::from(c)
        ));
    }
    Ok(unified.nfc().collect())
}

/// Whether `c` shows nothing: white space, or a default-ignorable or format
/// character (zero-width spaces and joiners, bidi controls, variation
/// selectors, tags, fillers), per Unicode's DerivedCoreProperties and the
/// `Cf` category.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(u32::from(c),
            0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5
            | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
            | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB
            | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
            | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// Refuses a non-empty value that shows nothing.
fn check_visible(text: &str) -> Result<(), String> {
    if !text.is_empty() && text.chars().all(is_invisible) {
        Err("must contain visible characters".into())
    } else {
        Ok(())
    }
}

/// The bidirectional embedding, override and isolate controls and their
/// terminators.
fn is_bidi_control(c: char) -> bool {
    matches!(u32::from(c), 0x202A..=0x202E | 0x2066..=0x2069)
}

/// Refuses any bidirectional control (for one-line fields).
fn refuse_bidi(text: &str) -> Result<(), String> {
    match text.chars().find(|c| is_bidi_control(*c)) {
        Some(c) => Err(format!(
            "must not contain bidirectional control characters (found U+{:04X})",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// Refuses bidirectional controls that a line does not close: every
/// embedding or override (U+202A, B, D, E) ended by U+202C, every isolate
/// (U+2066–U+2068) by U+2069, innermost first, before the line ends.
fn check_bidi_balanced(text: &str) -> Result<(), String> {
    let unbalanced = || {
        Err("must close every bidirectional control character it opens, on the same line".into())
    };
    for line in text.split('\n') {
        let mut open = Vec::new();
        for c in line.chars() {
            let closer = match u32::from(c) {
                0x202A | 0x202B | 0x202D | 0x202E => {
                    open.push(0x202C);
                    continue;
                }
                0x2066..=0x2068 => {
                    open.push(0x2069);
                    continue;
                }
                closer @ (0x202C | 0x2069) => closer,
                _ => continue,
            };
            if open.pop() != Some(closer) {
                return unbalanced();
            }
        }
        if !open.is_empty() {
            return unbalanced();
        }
    }
    Ok(())
}

/// How a free-text type treats bidirectional controls.
#[derive(Clone, Copy)]
enum Bidi {
    /// One-line fields: never.
    Refused,
    /// Long text: where each line closes what it opens.
    Balanced,
}

/// Normalises free text, then checks its length, that it shows something,
/// and its bidirectional controls.
fn free_text(text: &str, min: usize, max: usize, bidi: Bidi) -> Result<String, String> {
    let text = normalise(text)?;
    check_length(&text, min, max)?;
    check_visible(&text)?;
    match bidi {
        Bidi::Refused => refuse_bidi(&text)?,
        Bidi::Balanced => check_bidi_balanced(&text)?,
    }
    Ok(text)
}

/// Declares a validated string newtype of `$min..=$max` characters;
/// `$parse` returns the text to keep, given the text and those bounds.
/// Without `$parse`, the type is free text whose bidirectional controls are
/// treated as `$bidi` says.
macro_rules! text_type {
    ($(#[$attribute:meta])* $name:ident, $min_chars:literal..=$max_chars:literal, $bidi:ident) => {
        text_type!(
            $(#[$attribute])* $name, $min_chars..=$max_chars,
            |text, min, max| free_text(text, min, max, Bidi::$bidi)
        );
    };
    (
        $(#[$attribute:meta])* $name:ident, $min_chars:literal..=$max_chars:literal,
        |$text:ident, $min:ident, $max:ident| $parse:expr
    ) => {
        $(#[$attribute])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The fewest characters accepted.
            pub const MIN_CHARS: usize = $min_chars;
            /// The most characters accepted (the database column's size).
            pub const MAX_CHARS: usize = $max_chars;

            /// Validates (and, for free text, normalises) `text`.
            pub fn parse($text: &str) -> Result<Self, String> {
                let ($min, $max) = (Self::MIN_CHARS, Self::MAX_CHARS);
                let parsed: Result<String, String> = $parse;
                Ok(Self(parsed?))
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A username: 3–32 characters of `A–Z a–z 0–9 _`, kept as given (its
/// letter case shown as the person chose it), with one canonical form that
/// every comparison uses: sign-up's uniqueness, login's lookup, the login
/// limits and the reservation of a deleted account's name. The canonical
/// form is the name in lower case, which for these characters is Unicode's
/// case folding.
///
/// A new name ([`Username::parse`]) must be written in those characters.
/// A name someone types to log in ([`Username::from_spelling`]) may be any
/// spelling of one: Unicode NFKC first turns full-width and other
/// compatibility forms (`ａｄａ`) into the plain letters they stand for, and
/// white space around it is trimmed. Anything else (accented letters,
/// inner spaces, symbols) is refused, never folded into some other name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username {
    text: String,
    canonical: String,
}

impl Username {
    /// The fewest characters accepted.
    pub const MIN_CHARS: usize = 3;
    /// The most characters accepted (the database column's size).
    pub const MAX_CHARS: usize = 32;

    /// Validates a new username, as it is to be stored.
    pub fn parse(text: &str) -> Result<Self, String> {
        check_length(text, Self::MIN_CHARS, Self::MAX_CHARS)?;
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("may contain only letters A–Z, digits and underscores".to_owned());
        }
        Ok(Self {
            text: text.to_owned(),
            canonical: text.to_ascii_lowercase(),
        })
    }

    /// The username that `spelling` (as typed to log in) stands for: NFKC,
    /// trimmed, then [`Username::parse`].
    pub fn from_spelling(spelling: &str) -> Result<Self, String> {
        let normal: String = spelling.nfkc().collect();
        Self::parse(normal.trim())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The form every comparison uses: lower case.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }
}

text_type!(
    /// An absolute `http` or `https` URL, with a host, without user info,
    /// white space or control characters.
    MarkdownUrl,
    1..=2048,
    |text, min, max| check_length(text, min, max)
        .and_then(|()| check_url(text))
        .map(|()| text.to_owned())
);

// Free text.
text_type! { #[doc = "The name a user is shown by; empty by default."] #[derive(Default)] DisplayName, 0..=64, Refused }
text_type! { #[doc = "What a user says about themselves."] Bio, 0..=500, Balanced }
text_type! { #[doc = "A post's title."] Title, 1..=200, Refused }
text_type! { #[doc = "What a post is about; empty by default."] #[derive(Default)] Description, 0..=5000, Balanced }
text_type! { #[doc = "A comment's text."] CommentBody, 1..=5000, Balanced }

/// RFC 3986 `unreserved`, `sub-delims` and `%` (escapes are checked
/// separately): what a host name may hold.
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
    // User info (`user:pass@host`) is refused outright: it can hide the
    // real host (`https://github.com@evil.example/`) and may leak secrets.
    if authority.contains('@') {
        return Err("must not contain user info (`user@`)".to_owned());
    }
    // An IPv6 literal carries colons of its own: `[::1]:8080`.
    let (host_ok, port) = match authority.strip_prefix('[') {
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
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            (!host.is_empty() && host.chars().all(is_plain), port)
        }
    };
    let port_ok = port.is_none_or(|p| p.is_empty() || p.parse::<u16>().is_ok());
    if !(tail_ok && host_ok && port_ok) {
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

/// A new password: bytes of UTF-8, counted in bytes because bcrypt reads at
/// most [`Password::MAX_BYTES`], and a longer password is refused rather
/// than silently truncated. One of the most common passwords is refused too
/// (see [`is_common_password`]). A password someone types to log in is not
/// parsed: it is only compared.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Whether `password` is on the common-password list that the `passwords`
/// crate ships (about 100,000 of the passwords seen most often in breaches),
/// as typed or in lower case. Attackers try these first, so no rate limit
/// protects an account that uses one.
pub fn is_common_password(password: &str) -> bool {
    use passwords::analyzer::is_common_password as listed;
    listed(password) || listed(password.to_lowercase())
}

impl Password {
    /// The fewest bytes accepted.
    pub const MIN_BYTES: usize = 8;
    /// The most bytes accepted: all that bcrypt reads.
    pub const MAX_BYTES: usize = 72;

    /// Validates `text` as a new password.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() < Self::MIN_BYTES {
            Err(format!("must be at least {} bytes", Self::MIN_BYTES))
        } else if text.len() > Self::MAX_BYTES {
            Err(format!("must be at most {} bytes", Self::MAX_BYTES))
        } else if is_common_password(text) {
            Err(
                "is one of the most common passwords, which attackers try first; choose another"
                    .into(),
            )
        } else {
            Ok(Self(text.to_owned()))
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

/// A client's name for one create, so that a retry of it makes nothing
/// new: 1–255 visible ASCII characters (a UUID is a good choice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_CHARS: usize = 255;

    /// Validates `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty()
            || text.len() > Self::MAX_CHARS
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "must be 1 to {} visible ASCII characters",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to search for: 1–200 characters, searched as up to
/// [`SearchQuery::MAX_TERMS`] words. A word is a run of letters and digits;
/// everything else only separates words, so no search operator of either
/// database can be slipped in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    text: String,
    terms: Vec<String>,
}

impl SearchQuery {
    /// The longest query accepted.
    pub const MAX_CHARS: usize = 200;
    /// The most distinct words a query may have.
    pub const MAX_TERMS: usize = 8;

    /// Validates `text`: not empty, at most 200 characters, with at least
    /// one and at most [`Self::MAX_TERMS`] distinct words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text: String = text.trim().nfc().collect();
        check_length(&text, 1, Self::MAX_CHARS)?;
        let mut terms: Vec<String> = Vec::new();
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            let word = word.to_lowercase();
            if !word.is_empty() && !terms.contains(&word) {
                terms.push(word);
            }
        }
        if terms.is_empty() {
            return Err("must contain a letter or a digit".into());
        }
        if terms.len() > Self::MAX_TERMS {
            return Err(format!("must have at most {} words", Self::MAX_TERMS));
        }
        Ok(Self { text, terms })
    }

    /// The query as the visitor wrote it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its distinct words, lower-cased, in order.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_its_words_and_nothing_a_database_would_read_as_an_operator() {
        let query = SearchQuery::parse("  Rust* +WebAssembly -\"pi\" (rust) ").unwrap();
        assert_eq!(query.terms(), ["rust", "webassembly", "pi"]);
        assert_eq!(query.as_str(), "Rust* +WebAssembly -\"pi\" (rust)");
        assert_eq!(
            SearchQuery::parse("Café 42").unwrap().terms(),
            ["café", "42"]
        );
        assert!(SearchQuery::parse(&"a".repeat(200)).is_ok());
        assert!(SearchQuery::parse(&"a".repeat(201)).is_err());
        for bad in ["", "   ", "*+-\"()~<>@", "a b c d e f g h i"] {
            assert!(SearchQuery::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SearchQuery::parse("w1 w2 w3 w4 w5 w6 w7 w8 w1").is_ok());
    }

    #[test]
    fn usernames_are_3_to_32_word_characters() {
        assert!(Username::parse("ada").is_ok());
        assert!(Username::parse("Ada_Lovelace_1815").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        for bad in [
            "ada lovelace",
            "ada-l",
            "ädä",
            "ada!",
            "ada\n",
            " ada",
            "\u{ff41}da",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Username::parse("Ada_1").unwrap().canonical(), "ada_1");
    }

    #[test]
    fn every_spelling_of_a_username_has_one_canonical_form_or_is_refused() {
        for spelling in [
            "ada",
            "Ada",
            "ADA",
            " ada",
            "ada ",
            "\tAda\n",
            "\u{3000}ada",
            "ａｄａ",
            "ＡＤＡ",
            "ａda",
        ] {
            let name =
                Username::from_spelling(spelling).unwrap_or_else(|e| panic!("{spelling:?}: {e}"));
            assert_eq!(name.canonical(), "ada", "{spelling:?}");
        }
        assert_eq!(
            Username::from_spelling(" ＡＤＡ_1 ").unwrap().as_str(),
            "ADA_1"
        );
        // Accents are not stripped into another name: refused.
        for refused in ["ádá", "ÁDA", "ada\u{301}", "åda", "a da", "a\u{200b}da"] {
            assert!(Username::from_spelling(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn passwords_are_8_to_72_bytes() {
        assert!(Password::parse("zq8v!kpe").is_ok());
        assert!(Password::parse(&"x".repeat(72)).is_ok());
        assert!(Password::parse("zq8v!kp").is_err());
        assert_eq!(
            Password::parse(&"x".repeat(73)),
            Err("must be at most 72 bytes".into())
        );
        // 24 three-byte characters are 72 bytes; 25 are 75.
        assert!(Password::parse(&"€".repeat(24)).is_ok());
        assert!(Password::parse(&"€".repeat(25)).is_err());
    }

    #[test]
    fn the_most_common_passwords_are_refused_in_any_letter_case() {
        for common in [
            "password",
            "12345678",
            "Password1",
            "PASSWORD1",
            "qwertyuiop",
            "iloveyou",
            "football",
            "1q2w3e4r",
        ] {
            assert_eq!(
                Password::parse(common),
                Err(
                    "is one of the most common passwords, which attackers try first; choose another"
                        .into()
                ),
                "{common:?}"
            );
        }
        assert!(Password::parse("analytical engine").is_ok());
        assert!(Password::parse("correct horse battery staple").is_ok());
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
        assert_eq!(
            Title::parse("   "),
            Err("must contain visible characters".into())
        );
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
            "https://example.com:8443/x",
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
            "https://user@example.com/x",
            "https://user:pass@example.com/x",
            "https://github.com@evil.example/readme.md",
            "https://@example.com/",
        ] {
            assert!(MarkdownUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_info_in_a_markdown_url_is_named_as_the_problem() {
        assert_eq!(
            MarkdownUrl::parse("https://github.com@evil.example/"),
            Err("must not contain user info (`user@`)".into())
        );
    }

    #[test]
    fn free_text_is_normalised_to_nfc_with_unix_line_breaks() {
        // "é" as e + combining acute becomes the one precomposed character.
        let title = Title::parse("Caf\u{65}\u{301}").unwrap();
        assert_eq!(title.as_str(), "Caf\u{e9}");
        let body = CommentBody::parse("line one\r\nline two\rthree\tend").unwrap();
        assert_eq!(body.as_str(), "line one\nline two\nthree\tend");
    }

    #[test]
    fn lengths_are_counted_after_normalisation() {
        let decomposed = "e\u{301}".repeat(200);
        assert_eq!(
            Title::parse(&decomposed).unwrap().as_str().chars().count(),
            200
        );
    }

    #[test]
    fn control_characters_other_than_newline_and_tab_are_refused() {
        for bad in [
            "a\u{0}b",
            "bell\u{7}",
            "esc\u{1b}[31m",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            assert!(Title::parse(bad).is_err(), "{bad:?}");
            assert!(CommentBody::parse(bad).is_err(), "{bad:?}");
            assert!(Description::parse(bad).is_err(), "{bad:?}");
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_value_made_only_of_invisible_characters_is_refused() {
        for invisible in [
            "\u{200b}",
            "\u{200b}\u{200c}\u{200d}",
            "\u{202e}\u{202d}",
            "\u{2066}\u{2069}",
            "\u{feff}",
            "\u{ad}",
            " \u{3164} ",
            "\u{e0041}\u{e0042}",
            "\u{fe0f}",
        ] {
            for result in [
                Title::parse(invisible).err(),
                CommentBody::parse(invisible).err(),
                Description::parse(invisible).err(),
                DisplayName::parse(invisible).err(),
                Bio::parse(invisible).err(),
            ] {
                assert_eq!(
                    result.as_deref(),
                    Some("must contain visible characters"),
                    "{invisible:?}"
                );
            }
        }
        // Visible text may still carry them.
        assert!(Title::parse("Omni\u{200b}!").is_ok());
        assert!(Description::parse("").is_ok());
    }

    #[test]
    fn bidi_controls_are_refused_in_names_and_titles() {
        for control in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}',
        ] {
            let text = format!("txt{control}exe.");
            let expected = format!(
                "must not contain bidirectional control characters (found U+{:04X})",
                u32::from(control)
            );
            assert_eq!(Title::parse(&text), Err(expected.clone()), "{control:?}");
            assert_eq!(DisplayName::parse(&text), Err(expected), "{control:?}");
            assert!(Username::parse(&format!("ada{control}")).is_err());
        }
        // The marks that only nudge direction stay allowed.
        assert!(Title::parse("abc\u{200f}def").is_ok());
    }

    #[test]
    fn long_text_keeps_bidi_controls_only_where_each_line_closes_them() {
        for balanced in [
            "plain",
            "\u{2067}שלום\u{2069} world",
            "\u{202b}a \u{2066}b\u{2069} c\u{202c}",
            "one \u{202e}x\u{202c}\ntwo \u{2068}y\u{2069}",
        ] {
            assert!(CommentBody::parse(balanced).is_ok(), "{balanced:?}");
            assert!(Description::parse(balanced).is_ok(), "{balanced:?}");
            assert!(Bio::parse(balanced).is_ok(), "{balanced:?}");
        }
        for unbalanced in [
            "gnp.\u{202e}exe",
            "\u{2066}open",
            "close\u{2069}",
            "\u{202b}a\u{2069}",
            "\u{2066}a\u{202c}",
            "\u{202e}split\nline\u{202c}",
        ] {
            assert_eq!(
                CommentBody::parse(unbalanced),
                Err(
                    "must close every bidirectional control character it opens, on the same line"
                        .into()
                ),
                "{unbalanced:?}"
            );
            assert!(Description::parse(unbalanced).is_err(), "{unbalanced:?}");
            assert!(Bio::parse(unbalanced).is_err(), "{unbalanced:?}");
        }
    }

    #[test]
    fn markdown_urls_stop_at_2048_characters() {
        let base = "https://example.com/";
        assert!(MarkdownUrl::parse(&format!("{base}{}", "a".repeat(2048 - base.len()))).is_ok());
        assert!(MarkdownUrl::parse(&format!("{base}{}", "a".repeat(2049 - base.len()))).is_err());
    }

    /// Every migration file under `dir` (relative to the repository root)
    /// whose name ends with `suffix`, concatenated in order.
    fn migrations(dir: &str, suffix: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().ends_with(suffix))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect()
    }

    /// The body of `CREATE TABLE table (…);` in `sql`.
    fn table<'a>(sql: &'a str, table: &str) -> &'a str {
        let start = sql
            .find(&format!("CREATE TABLE {table} ("))
            .unwrap_or_else(|| panic!("no table {table}"));
        let body = &sql[start..];
        &body[..body.find(");").unwrap()]
    }

    /// The number after `prefix` in `text`, up to the first non-digit.
    fn number_after(text: &str, prefix: &str) -> Option<usize> {
        let rest = &text[text.find(prefix)? + prefix.len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    }

    /// `minLength` (0 if absent) and `maxLength` of schema `name` in the
    /// OpenAPI document.
    fn openapi_lengths(name: &str) -> (usize, Option<usize>) {
        let document = include_str!("../../openapi.yaml");
        let start = document
            .find(&format!("\n    {name}:\n"))
            .unwrap_or_else(|| panic!("no schema {name}"));
        let schema: String = document[start + 1..]
            .lines()
            .skip(1)
            .take_while(|line| line.starts_with("      ") || line.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        (
            number_after(&schema, "\n      minLength: ").unwrap_or(0),
            number_after(&schema, "\n      maxLength: "),
        )
    }

    #[test]
    fn field_limits_agree_with_both_migration_trees_and_the_openapi_document() {
        // (schema, table, column, fewest, most): characters, or bytes for
        // the password, which is stored only as its hash.
        let fields = [
            (
                "Username",
                "users",
                "username",
                Username::MIN_CHARS,
                Username::MAX_CHARS,
            ),
            ("Password", "", "", Password::MIN_BYTES, Password::MAX_BYTES),
            (
                "DisplayName",
                "users",
                "display_name",
                DisplayName::MIN_CHARS,
                DisplayName::MAX_CHARS,
            ),
            ("Bio", "users", "bio", Bio::MIN_CHARS, Bio::MAX_CHARS),
            (
                "Title",
                "posts",
                "title",
                Title::MIN_CHARS,
                Title::MAX_CHARS,
            ),
            (
                "Description",
                "posts",
                "description",
                Description::MIN_CHARS,
                Description::MAX_CHARS,
            ),
            (
                "MarkdownUrl",
                "posts",
                "markdown_url",
                MarkdownUrl::MIN_CHARS,
                MarkdownUrl::MAX_CHARS,
            ),
            (
                "CommentBody",
                "comments",
                "body",
                CommentBody::MIN_CHARS,
                CommentBody::MAX_CHARS,
            ),
        ];
        let mysql = migrations("migrations", ".up.sql");
        let sqlite = migrations("migrations/sqlite", ".sql");
        for (schema, table_name, column, min, max) in fields {
            assert_eq!(
                openapi_lengths(schema),
                (min, Some(max)),
                "openapi.yaml {schema}"
            );
            if table_name.is_empty() {
                continue;
            }
            let definition = table(&mysql, table_name)
                .lines()
                .find(|line| line.trim_start().starts_with(&format!("{column} ")))
                .unwrap_or_else(|| panic!("no MySQL column {table_name}.{column}"));
            assert_eq!(
                number_after(definition, "VARCHAR("),
                Some(max),
                "MySQL {table_name}.{column}"
            );
            // SQLite keeps no declared length: a CHECK holds the limits.
            let checks = table(&sqlite, table_name);
            let length = format!("length({column}) ");
            let (fewest, most) = match number_after(checks, &format!("{length}<= ")) {
                Some(most) => (Some(0), Some(most)),
                None => (
                    number_after(checks, &format!("{length}BETWEEN ")),
                    checks
                        .find(&format!("{length}BETWEEN "))
                        .and_then(|at| number_after(&checks[at..], " AND ")),
                ),
            };
            assert_eq!(
                (fewest, most),
                (Some(min), Some(max)),
                "SQLite {table_name}.{column}"
            );
        }
    }
}
