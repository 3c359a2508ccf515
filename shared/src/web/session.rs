//! Who is visiting, and whether their form is really theirs.
//!
//! **One cookie**, `__Host-omni` (`HttpOnly; Secure; SameSite=Lax; Path=/`,
//! no `Domain`), holds one of two things:
//!
//! - `s.<JWT>`: a session. The JWT is the one `POST /api/login` issues
//!   (same claims, same key, same lifetime), so the website and the API
//!   agree on who is logged in and for how long. Each request checks its
//!   signature and expiry, then that its session still exists (one
//!   statement, which also reads the user): an ended session's cookie (Log
//!   out, "Log out everywhere", a password change, a deleted account) is
//!   treated as logged out, and cleared.
//! - `f.<random>`: a form key, set when a logged-out visitor opens the log
//!   in or sign up form, so that those forms have a CSRF token too (without
//!   one, another site could log a visitor into the attacker's account).
//!
//! **CSRF**: every form carries a hidden token, the HMAC-SHA256 of the
//! cookie's value under a key derived from the signing secret. Another site
//! can neither read the cookie (HttpOnly) nor compute the HMAC, and a
//! SameSite=Lax cookie is not even sent with its cross-site POSTs. Every
//! POST must also come from this site: `Sec-Fetch-Site: same-origin`, or,
//! from a browser too old to send that, an `Origin` naming this host.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::{self, COOKIE, FORM_KEY_PREFIX, IssuedToken, SESSION_PREFIX, cookie_value};
use crate::config::Config;
use crate::context::Context;
use crate::db::Db;
use crate::error::Error;
use crate::http::Request;
use crate::net::ClientAddress;
use crate::store::sessions::{self, Session};
use crate::store::users::User;
use crate::web::forms::{CSRF_FIELD, Form};

/// Why a form was refused, as the 403 page says it.
const EXPIRED_FORM: &str = "This form has expired, or Omni could not read its cookie. \
     Go back, reload the page and try again. Omni needs cookies to know who you are.";
const FOREIGN_FORM: &str = "This form was sent from another site, so Omni did not act on it.";

/// A `Set-Cookie` value for `value`, living `max_age` seconds (`None`:
/// until the browser closes).
fn set_cookie(value: &str, max_age: Option<i64>) -> String {
    let mut cookie = format!("{COOKIE}={value}; HttpOnly; Secure; SameSite=Lax; Path=/");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    cookie
}

/// The `Set-Cookie` value that removes the cookie.
pub fn cleared_cookie() -> String {
    set_cookie("", Some(0))
}

/// The CSRF token for a cookie value: hex HMAC-SHA256 under `secret`, with
/// a label so that it can never be mistaken for any other MAC made with
/// that secret.
pub fn csrf_token(secret: &[u8], cookie: &str) -> Result<String, Error> {
    Ok(crate::hex::encode(
        &csrf_mac(secret, cookie)?.finalize().into_bytes(),
    ))
}

fn csrf_mac(secret: &[u8], cookie: &str) -> Result<Hmac<Sha256>, Error> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(Error::internal)?;
    mac.update(b"omni website csrf\0");
    mac.update(cookie.as_bytes());
    Ok(mac)
}

/// Whether `token` is the CSRF token for `cookie`, compared in constant time.
pub fn csrf_matches(secret: &[u8], cookie: &str, token: &str) -> Result<bool, Error> {
    let Some(tag) = crate::hex::decode(token) else {
        return Ok(false);
    };
    Ok(csrf_mac(secret, cookie)?.verify_slice(&tag).is_ok())
}

/// Whether a POST comes from a page of this site. `Sec-Fetch-Site` is set
/// by every current browser and cannot be set by a page; where it is
/// missing, `Origin` must name the host the request was sent to. (Behind
/// the SpinKube gateway the `Host` is rewritten to an internal name, so the
/// original host in `X-Forwarded-Host` also counts. Neither header can be
/// set by another site's form.) A request with neither header did not come
/// from a browser that could be tricked, and still needs its token.
pub fn same_origin(request: &Request) -> bool {
    if let Some(site) = request.header("sec-fetch-site") {
        return site.trim().eq_ignore_ascii_case("same-origin");
    }
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let Some(origin_host) = origin
        .split_once("://")
        .map(|(_, authority)| authority.trim_end_matches('/'))
    else {
        // `Origin: null` (a sandboxed frame, a redirect chain) is foreign.
        return false;
    };
    request
        .header_values("host")
        .chain(request.header_values("x-forwarded-host"))
        .flat_map(|value| value.split(','))
        .any(|host| host.trim().eq_ignore_ascii_case(origin_host))
}

/// A local path to return to after logging in, or `None` if `next` is not
/// one (an absolute or scheme-relative URL would make Omni an open
/// redirect).
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.bytes().all(|b| b.is_ascii_graphic());
    local.then_some(next)
}

/// One request's visitor: its [`Context`] (configuration, the database
/// connected on first use, the signing key), who is logged in, and the
/// cookie to send back.
pub struct Visit<'r> {
    request: &'r Request,
    context: Context,
    cookie: Option<String>,
    viewer: Option<(User, Session)>,
    set_cookie: Option<String>,
}

impl std::fmt::Debug for Visit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visit")
            .field("path", &self.request.path())
            .field("viewer", &self.viewer.as_ref().map(|(u, _)| u.id))
            .finish_non_exhaustive()
    }
}

impl<'r> Visit<'r> {
    /// Reads the configuration and the cookie; with a session cookie, checks
    /// the token, then its session and user in one statement. An invalid,
    /// expired or ended session is logged out, and its cookie cleared with
    /// the response.
    pub fn open(request: &'r Request) -> Result<Self, Error> {
        let mut visit = Self {
            request,
            context: Context::load()?,
            cookie: cookie_value(request).map(str::to_owned),
            viewer: None,
            set_cookie: None,
        };
        if let Some(token) = visit
            .cookie
            .as_deref()
            .and_then(|c| c.strip_prefix(SESSION_PREFIX))
        {
            let viewer = match auth::verify_token(token, visit.context.jwt_secret()?) {
                Ok(session) => sessions::user(visit.db()?, &session)?.map(|user| (user, session)),
                Err(_) => None,
            };
            match viewer {
                Some(viewer) => visit.viewer = Some(viewer),
                // Logged out. The old value still checks this request's
                // form (its Log out button, say); the response clears it.
                None => visit.set_cookie = Some(cleared_cookie()),
            }
        }
        Ok(visit)
    }

    /// The request's context, for the actions it runs.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        self.context.config()
    }

    /// The request's database connection, opened on first use.
    pub fn db(&self) -> Result<&dyn Db, Error> {
        self.context.db()
    }

    /// The logged-in user, if any.
    pub fn viewer(&self) -> Option<&User> {
        self.viewer.as_ref().map(|(user, _)| user)
    }

    /// The logged-in user's session, if any.
    pub fn session(&self) -> Option<&Session> {
        self.viewer.as_ref().map(|(_, session)| session)
    }

    /// The CSRF token for this visitor's forms ("" without a cookie: such a
    /// form can only be refused).
    pub fn csrf(&self) -> Result<String, Error> {
        match self.cookie.as_deref() {
            Some(cookie) => csrf_token(self.context.jwt_secret()?, cookie),
            None => Ok(String::new()),
        }
    }

    /// The CSRF token for a logged-out form: sets a fresh form key if the
    /// visitor has no usable cookie yet.
    pub fn form_csrf(&mut self) -> Result<String, Error> {
        let has_form_key = self
            .cookie
            .as_deref()
            .is_some_and(|c| c.starts_with(FORM_KEY_PREFIX));
        if self.viewer.is_none() && !has_form_key {
            let mut key = [0u8; 16];
            getrandom::fill(&mut key).map_err(|e| {
                Error::internal(anyhow::anyhow!("no randomness for a form key: {e}"))
            })?;
            let value = format!("{FORM_KEY_PREFIX}{}", crate::hex::encode(&key));
            self.set_cookie = Some(set_cookie(&value, None));
            self.cookie = Some(value);
        }
        self.csrf()
    }

    /// Refuses a form POST (403) unless it comes from this site and carries
    /// the token for this visitor's cookie.
    pub fn check_form(&self, form: &Form) -> Result<(), Error> {
        if !same_origin(self.request) {
            return Err(Error::Forbidden(FOREIGN_FORM.into()));
        }
        let valid = match self.cookie.as_deref() {
            Some(cookie) => {
                csrf_matches(self.context.jwt_secret()?, cookie, form.text(CSRF_FIELD))?
            }
            None => false,
        };
        if valid {
            Ok(())
        } else {
            Err(Error::Forbidden(EXPIRED_FORM.into()))
        }
    }

    /// The client's address, as the limits of signup and login key it.
    pub fn client_address(&self) -> ClientAddress {
        self.request.client_address(&self.config().trusted_proxies)
    }

    /// Logs `user` in to `session`, with its freshly issued `token`: the
    /// response sets the session cookie, which lives as long as a token
    /// does.
    pub fn log_in(&mut self, user: User, session: Session, token: &IssuedToken) {
        let value = format!("{SESSION_PREFIX}{}", token.token);
        let ttl = self.config().jwt_ttl_seconds;
        self.set_cookie = Some(set_cookie(&value, Some(ttl)));
        self.cookie = Some(value);
        self.viewer = Some((user, session));
    }

    /// Forgets who was logged in (their session has been ended): the
    /// response clears the cookie.
    pub fn log_out(&mut self) {
        self.set_cookie = Some(cleared_cookie());
        self.cookie = None;
        self.viewer = None;
    }

    /// The `Set-Cookie` the response must carry, if any.
    pub fn cookie_to_set(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn request(headers: &[(&str, &str)]) -> Request {
        Request::for_test(Method::POST, "/logout", headers, "")
    }

    #[test]
    fn a_csrf_token_verifies_only_for_its_own_cookie_and_secret() {
        let token = csrf_token(SECRET, "s.abc").unwrap();
        let matches =
            |secret: &[u8], cookie: &str, token: &str| csrf_matches(secret, cookie, token).unwrap();
        assert_eq!(token.len(), 64);
        assert!(matches(SECRET, "s.abc", &token));
        assert!(!matches(SECRET, "s.abd", &token));
        assert!(!matches(
            b"another secret of thirty-two bytes",
            "s.abc",
            &token
        ));
        let flipped = format!(
            "{}{}",
            if token.starts_with('0') { '1' } else { '0' },
            &token[1..]
        );
        assert!(!matches(SECRET, "s.abc", &flipped));
        for bad in ["", "zz", &token[..62], &format!("{token}00")] {
            assert!(!matches(SECRET, "s.abc", bad), "{bad:?}");
        }
    }

    #[test]
    fn the_cookie_is_httponly_secure_lax_and_host_only() {
        let cookie = set_cookie("s.t", Some(60));
        assert_eq!(
            cookie,
            "__Host-omni=s.t; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=60"
        );
        assert!(!cookie.contains("Domain"));
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        assert!(same_origin(&request(&[("sec-fetch-site", "same-origin")])));
        for site in ["cross-site", "same-site", "none"] {
            assert!(
                !same_origin(&request(&[
                    ("sec-fetch-site", site),
                    ("origin", "http://omni.example"),
                    ("host", "omni.example"),
                ])),
                "{site}"
            );
        }
    }

    #[test]
    fn without_sec_fetch_site_the_origin_must_be_this_host() {
        let host = ("host", "omni.example:3000");
        assert!(same_origin(&request(&[
            ("origin", "http://omni.example:3000"),
            host
        ])));
        assert!(!same_origin(&request(&[
            ("origin", "https://evil.example"),
            host
        ])));
        assert!(!same_origin(&request(&[("origin", "null"), host])));
        // Behind the gateway, the original host is forwarded.
        assert!(same_origin(&request(&[
            ("origin", "https://omni.example"),
            ("host", "omni-write.omni.internal"),
            ("x-forwarded-host", "omni.example"),
        ])));
        // No browser signal at all: the token alone decides.
        assert!(same_origin(&request(&[host])));
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        for good in ["/", "/new", "/posts/7?before=3#comments"] {
            assert_eq!(local_path(good), Some(good));
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "/a b",
            "/a\r\nSet-Cookie: x=1",
            "new",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
