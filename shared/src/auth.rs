//! Authentication: bcrypt password hashes, HS256 JWTs, the request helper
//! that turns a bearer token into a user or a 401, and the name and shape
//! of the website's cookie (`web::session` says what it holds).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::PRODUCTION_MIN_BCRYPT_COST;
use crate::context::Context;
use crate::db::Db;
use crate::error::Error;
use crate::http::Request;
use crate::log;
use crate::model::Password;
use crate::snowflake::Id;
use crate::store::sessions::{self, Session};
use crate::store::users::User;

/// The `iss` claim of every Omni token.
pub const ISSUER: &str = "omni";
/// The `aud` claim of every Omni token.
pub const AUDIENCE: &str = "omni-api";
/// Seconds of clock difference tolerated between the pod that issued a token
/// and the pod that checks it.
const LEEWAY_SECONDS: u64 = 30;

fn warn_if_weak(cost: u32) {
    if cost < PRODUCTION_MIN_BCRYPT_COST {
        log::warn(
            "weak_bcrypt_cost",
            &[
                ("cost", cost.into()),
                ("minimum", PRODUCTION_MIN_BCRYPT_COST.into()),
                ("note", "use a cost this low only for tests".into()),
            ],
        );
    }
}

/// Hashes a new password at `cost`. A [`Password`] is at most
/// [`Password::MAX_BYTES`], all that bcrypt reads, so bcrypt uses all of it. (bcrypt's `non_truncating_*` functions would
/// refuse exactly 72 bytes, because the C string's terminator no longer
/// fits; the contract allows 72.)
pub fn hash_password(password: &Password, cost: u32) -> Result<String, Error> {
    warn_if_weak(cost);
    bcrypt::hash(password.as_bytes(), cost).map_err(Error::internal)
}

/// The salt and digest of the hash an unknown user is checked against (a
/// bcrypt hash of a throwaway password): only its shape matters, since
/// nothing is meant to match it. The cost in front of it is the configured
/// one.
const DUMMY_SALT_AND_DIGEST: &str = "9RcPMsrQuQf.HaxaH7zjqeB84eLER1VnwGJQtXNFvfr8373yMeCPG";

/// Checks `password` against a stored hash, doing the same work on every
/// path that fails: one bcrypt run at the stored hash's cost. An unknown
/// user (no stored hash) is checked against a dummy hash at `cost`, the cost
/// new hashes get; a password over 72 bytes, which can never match (no
/// stored password is that long, and bcrypt would otherwise truncate it),
/// still has its first 72 bytes checked. So the time of a 401 does not tell
/// whether the user exists or why the password failed.
pub fn verify_password(
    password: &str,
    stored_hash: Option<&str>,
    cost: u32,
) -> Result<bool, Error> {
    let dummy;
    let hash = match stored_hash {
        Some(hash) => hash,
        None => {
            dummy = format!("$2b${cost:02}${DUMMY_SALT_AND_DIGEST}");
            &dummy
        }
    };
    if let Ok(parts) = hash.parse::<bcrypt::HashParts>() {
        warn_if_weak(parts.get_cost());
    }
    let over_long = password.len() > Password::MAX_BYTES;
    let checked = &password.as_bytes()[..password.len().min(Password::MAX_BYTES)];
    let matches = bcrypt::verify(checked, hash)
        .map_err(|e| Error::internal(anyhow::Error::new(e).context("stored password hash")))?;
    // Kept observable, so the optimiser cannot drop the dummy run.
    Ok(std::hint::black_box(matches) && stored_hash.is_some() && !over_long)
}

/// A token's claims. `sid` names the session it stands for (see
/// `store::sessions`); a token without one is refused.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// A signed token and when it expires.
#[derive(Debug)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// An HS256-only crypto backend for `jsonwebtoken`. Its built-in backends
/// link every algorithm (RSA, ECDSA, EdDSA) because they are chosen at run
/// time; Omni signs and accepts HS256 alone, and this keeps the others out
/// of the components.
mod hs256 {
    use hmac::{Hmac, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{ErrorKind, Result};
    use jsonwebtoken::signature::{self, Signer, Verifier};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use sha2::Sha256;

    struct Hs256(Hmac<Sha256>);

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        fn verify(
            &self,
            message: &[u8],
            tag: &Vec<u8>,
        ) -> std::result::Result<(), signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            // Constant-time comparison.
            mac.verify_slice(tag).map_err(signature::Error::from_source)
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    fn hs256(algorithm: &Algorithm, secret: &[u8]) -> Result<Hs256> {
        if *algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        Ok(Hs256(
            Hmac::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat)?,
        ))
    }

    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: |algorithm, key: &EncodingKey| {
            Ok(Box::new(hs256(algorithm, key.as_bytes())?))
        },
        verifier_factory: |algorithm, key: &DecodingKey| {
            Ok(Box::new(hs256(algorithm, key.try_get_as_bytes()?)?))
        },
        key_utils: KeyUtils::new_unimplemented(),
    };

    /// Makes this the process's backend; later calls find it installed.
    pub(super) fn install() {
        let _ = PROVIDER.install_default();
    }
}

/// Signs a token for `session`, issued at `now` (Unix seconds), expiring at
/// `expires_at`.
pub fn issue_token(
    session: &Session,
    now: i64,
    expires_at: i64,
    secret: &[u8],
) -> Result<IssuedToken, Error> {
    hs256::install();
    let claims = Claims {
        sub: session.user.to_string(),
        sid: session.id.to_string(),
        iat: now,
        exp: expires_at,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(Error::internal)?;
    Ok(IssuedToken {
        token,
        expires_at: claims.exp,
    })
}

/// Why a token was refused. Only the log sees the detail.
#[derive(Debug, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct InvalidToken(String);

/// Checks a token's signature (HS256 only), issuer, audience and expiry,
/// and returns the session it names (not yet checked against the store).
pub fn verify_token(token: &str, secret: &[u8]) -> Result<Session, InvalidToken> {
    hs256::install();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| InvalidToken(e.to_string()))?;
    let user: Id = data
        .claims
        .sub
        .parse()
        .map_err(|_| InvalidToken("`sub` is not a user id".into()))?;
    let id: Id = data
        .claims
        .sid
        .parse()
        .map_err(|_| InvalidToken("`sid` is not a session id".into()))?;
    Ok(Session { id, user })
}

/// The website's one cookie. `__Host-` makes the browser refuse it unless
/// it is `Secure`, has `Path=/` and no `Domain`, so no other host can set it.
pub const COOKIE: &str = "__Host-omni";
/// The start of a session cookie's value: `s.<JWT>`.
pub const SESSION_PREFIX: &str = "s.";
/// The start of a form key's value: `f.<random>`.
pub const FORM_KEY_PREFIX: &str = "f.";

/// The value of the website's cookie, if the request carries one of
/// Omni's: a session or a form key.
pub fn cookie_value(request: &Request) -> Option<&str> {
    request
        .cookie(COOKIE)
        .filter(|value| value.starts_with(SESSION_PREFIX) || value.starts_with(FORM_KEY_PREFIX))
}

/// The user the request's bearer token names and its session, or a 401
/// (with `WWW-Authenticate: Bearer`) if there is no valid token or its
/// session has ended (logged out, or the account deleted). One statement:
/// the session's row joined to the user's.
pub fn authenticate(request: &Request, context: &Context) -> Result<(User, Session), Error> {
    let session = token_session(request, context)?;
    let user = sessions::user(context.db()?, &session)?.ok_or_else(Error::session_ended)?;
    Ok((user, session))
}

/// The session the request's valid bearer token names, without looking it
/// up: a 401 costs no database work (unless the signing key itself lives
/// in a local SQLite database). Whatever then reads the caller checks that
/// the session still exists.
pub fn token_session(request: &Request, context: &Context) -> Result<Session, Error> {
    let header = request
        .header("authorization")
        .ok_or_else(|| Error::Unauthorized("A bearer token is required.".into()))?;
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| Error::Unauthorized("Use `Authorization: Bearer <token>`.".into()))?;
    verify_token(token, context.jwt_secret()?)
        .map_err(|_| Error::Unauthorized("The token is invalid or expired.".into()))
}

/// The user of a session a valid token named, or a 401 if it has since
/// ended.
pub fn session_user(db: &dyn Db, session: &Session) -> Result<User, Error> {
    sessions::user(db, session)?.ok_or_else(Error::session_ended)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::time::now_ms;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> i64 {
        now_ms() / 1000
    }

    fn user() -> Id {
        Id::from_i64(118_407_598_460_190_720).unwrap()
    }

    fn session() -> Session {
        Session {
            id: Id::from_i64(4_242_424_242).unwrap(),
            user: user(),
        }
    }

    /// The HMAC tag of `message` with `algorithm`.
    fn hmac_tag(algorithm: Algorithm, message: &str, secret: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        fn tag<M: Mac + hmac::digest::KeyInit>(message: &str, secret: &[u8]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        match algorithm {
            Algorithm::HS256 => tag::<Hmac<sha2::Sha256>>(message, secret),
            Algorithm::HS384 => tag::<Hmac<sha2::Sha384>>(message, secret),
            Algorithm::HS512 => tag::<Hmac<sha2::Sha512>>(message, secret),
            other => panic!("no test signer for {other:?}"),
        }
    }

    /// Signs by hand, so tests can make tokens with any HMAC algorithm
    /// (the provider above refuses to).
    fn sign(claims: &serde_json::Value, header: &Header, secret: &[u8]) -> String {
        let head = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let message = format!("{head}.{body}");
        let tag = hmac_tag(header.alg, &message, secret);
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({
            "sub": user().to_string(),
            "sid": session().id.to_string(),
            "iat": now(),
            "exp": now() + 3600,
            "iss": ISSUER,
            "aud": AUDIENCE,
        })
    }

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut claims = claims();
        claims[field] = value;
        claims
    }

    fn without(field: &str) -> serde_json::Value {
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove(field);
        claims
    }

    fn with_cookies(cookies: &[&str]) -> Request {
        let headers: Vec<(&str, &str)> = cookies.iter().map(|c| ("cookie", *c)).collect();
        Request::for_test(crate::http::Method::GET, "/", &headers, "")
    }

    #[test]
    fn only_omnis_own_cookie_values_are_read() {
        let with = |cookie: &str| cookie_value(&with_cookies(&[cookie])).map(str::to_owned);
        assert_eq!(
            with("a=1; __Host-omni=s.jwt; b=2").as_deref(),
            Some("s.jwt")
        );
        assert_eq!(with("__Host-omni=f.00ff").as_deref(), Some("f.00ff"));
        assert_eq!(with("__Host-omni=x.other"), None);
        assert_eq!(with("omni=s.jwt"), None);
        assert_eq!(with("__Host-omni2=s.jwt"), None);
        // Cookies split over two headers (HTTP/2) are all read.
        let split = with_cookies(&["a=1", "__Host-omni=s.t"]);
        assert_eq!(cookie_value(&split), Some("s.t"));
    }

    #[test]
    fn the_provider_signs_exactly_hmac_sha256() {
        // The test signer and the provider agree, so the other tests mean
        // what they say.
        let issued = issue_token(&session(), 1_800_000_000, 1_800_000_060, SECRET).unwrap();
        let (message, tag) = issued.token.rsplit_once('.').unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(tag).unwrap(),
            hmac_tag(Algorithm::HS256, message, SECRET)
        );
    }

    #[test]
    fn an_issued_token_verifies_to_its_session_and_user() {
        let issued = issue_token(&session(), now(), now() + 86_400, SECRET).unwrap();
        assert_eq!(verify_token(&issued.token, SECRET).unwrap(), session());
        assert!(issued.expires_at >= now() + 86_399);
    }

    #[test]
    fn a_token_without_a_session_is_refused() {
        let header = Header::new(Algorithm::HS256);
        let token = sign(&without("sid"), &header, SECRET);
        assert!(verify_token(&token, SECRET).is_err());
        let token = sign(&with("sid", "not-a-number".into()), &header, SECRET);
        assert!(verify_token(&token, SECRET).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let token = sign(
            &with("exp", (now() - 3600).into()),
            &Header::new(Algorithm::HS256),
            SECRET,
        );
        assert!(verify_token(&token, SECRET).is_err());
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = sign(
            &claims(),
            &Header::new(Algorithm::HS256),
            b"another-secret-of-at-least-32-bytes!",
        );
        assert!(verify_token(&token, SECRET).is_err());
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        assert!(verify_token(&format!("{header}.{payload}."), SECRET).is_err());
    }

    #[test]
    fn other_hmac_algorithms_are_refused() {
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = sign(&claims(), &Header::new(alg), SECRET);
            assert!(verify_token(&token, SECRET).is_err(), "{alg:?}");
        }
    }

    #[test]
    fn a_wrong_audience_or_issuer_is_refused() {
        let header = Header::new(Algorithm::HS256);
        for claims in [
            with("aud", "someone-else".into()),
            with("iss", "evil".into()),
        ] {
            assert!(verify_token(&sign(&claims, &header, SECRET), SECRET).is_err());
        }
    }

    #[test]
    fn every_registered_claim_is_required() {
        let header = Header::new(Algorithm::HS256);
        for field in ["exp", "iat", "iss", "aud", "sub"] {
            let token = sign(&without(field), &header, SECRET);
            assert!(verify_token(&token, SECRET).is_err(), "missing {field}");
        }
    }

    #[test]
    fn a_subject_that_is_not_an_id_is_refused() {
        let token = sign(
            &with("sub", "admin".into()),
            &Header::new(Algorithm::HS256),
            SECRET,
        );
        assert!(verify_token(&token, SECRET).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        for token in ["", "a.b.c", "not a token", "..."] {
            assert!(verify_token(token, SECRET).is_err(), "{token:?}");
        }
    }

    fn password(text: &str) -> Password {
        Password::parse(text).unwrap()
    }

    #[test]
    fn a_hashed_password_verifies_and_others_do_not() {
        let hash = hash_password(&password("correct horse"), 4).unwrap();
        assert!(verify_password("correct horse", Some(&hash), 4).unwrap());
        assert!(!verify_password("wrong horse!", Some(&hash), 4).unwrap());
    }

    #[test]
    fn the_hash_uses_the_configured_cost() {
        let hash = hash_password(&password("correct horse"), 5).unwrap();
        assert_eq!(hash.parse::<bcrypt::HashParts>().unwrap().get_cost(), 5);
    }

    #[test]
    fn an_unknown_user_never_verifies() {
        assert!(!verify_password("anything at all", None, 4).unwrap());
    }

    #[test]
    fn a_73_byte_password_never_matches_even_if_its_first_72_bytes_do() {
        let first_72 = "p".repeat(72);
        let hash = hash_password(&password(&first_72), 4).unwrap();
        assert!(verify_password(&first_72, Some(&hash), 4).unwrap());
        assert!(!verify_password(&format!("{first_72}x"), Some(&hash), 4).unwrap());
    }

    #[test]
    fn the_dummy_hash_is_well_formed_at_every_accepted_cost() {
        for cost in crate::config::MIN_BCRYPT_COST..=crate::config::MAX_BCRYPT_COST {
            let dummy = format!("$2b${cost:02}${DUMMY_SALT_AND_DIGEST}");
            let parts: bcrypt::HashParts = dummy.parse().unwrap();
            assert_eq!(parts.get_cost(), cost);
        }
        assert!(!verify_password("anything at all", None, 4).unwrap());
    }

    #[test]
    fn a_corrupt_stored_hash_is_an_internal_error() {
        assert!(matches!(
            verify_password("whatever1", Some("not-a-hash"), 4),
            Err(Error::Internal(_))
        ));
    }
}
