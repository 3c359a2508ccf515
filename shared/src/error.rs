//! Omni's one error type, rendered as RFC 9457 problem details.
//!
//! Every handler returns `Result<Response, Error>`. Client errors say what was
//! wrong; `Internal` and `Unavailable` log their whole cause chain to the
//! component's stderr (Spin's log) and answer with a generic body, so no SQL,
//! connection string or secret ever reaches a client.

use std::collections::BTreeMap;

use serde::Serialize;
use spin_sdk::http::{IntoResponse, Response};

use crate::config::ConfigError;
use crate::limits::Refused;
use crate::snowflake::IdError;

/// What is wrong with which input field: the field's name to the messages
/// about it. The API sends it as a 422's `errors`; the website shows each
/// field's first message next to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One message about one field.
    pub fn one(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Adds a message about `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// The first message about `field`, if any.
    pub fn first(&self, field: &str) -> Option<&str> {
        self.0.get(field)?.first().map(String::as_str)
    }

    /// Whether any message is about `field`.
    pub fn contains(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many fields have errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl std::ops::Index<&str> for FieldErrors {
    type Output = [String];

    /// The messages about a field (panics if there are none, as a map does).
    fn index(&self, field: &str) -> &[String] {
        &self.0[field]
    }
}

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// Every way an Omni request can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed (bad JSON, bad paging parameters).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: missing, malformed, forged or expired credentials. Sent with
    /// `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed to touch this resource.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such resource, or no such path under `/api/`.
    #[error("not found: {0}")]
    NotFound(String),
    /// 405: the path exists but not with this method. `allow` lists the
    /// methods that are, for the `Allow` header.
    #[error("method not allowed (allowed: {allow})")]
    MethodNotAllowed {
        /// Comma-separated methods, e.g. `GET, PATCH`.
        allow: String,
    },
    /// 409: the request conflicts with existing data (a taken username).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: the body parsed but some fields are invalid.
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    /// 429: a rate limit is used up. Sent with `Retry-After`.
    #[error("too many requests (retry after {retry_after} s)")]
    TooManyRequests {
        /// Seconds until the limit's window ends.
        retry_after: i64,
    },
    /// 502: something Omni fetched on the client's behalf (a write-up)
    /// could not be fetched or was refused; the detail says why, never
    /// what the source sent.
    #[error("bad gateway: {0}")]
    BadGateway(String),
    /// 503: the database cannot be reached. Sent with `Retry-After`.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 503: a configuration variable is missing or unusable. The body names
    /// the variable, never its value. Sent with `Retry-After`.
    #[error("misconfigured")]
    Misconfigured(#[source] ConfigError),
    /// 500: anything unexpected. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// An unexpected failure; `cause` goes to the log only.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    /// 401: the caller's token is valid, but their account was deleted
    /// after it was issued.
    pub fn caller_gone() -> Self {
        Self::Unauthorized("The token's user no longer exists.".into())
    }

    /// 401: the token is well signed, but its session has ended: logged
    /// out, ended by a password change or "log out everywhere", or its
    /// account deleted.
    pub fn session_ended() -> Self {
        Self::Unauthorized("This session has ended; log in again.".into())
    }

    /// 404 for a user id that names no user.
    pub fn no_such_user() -> Self {
        Self::NotFound("No user has that id.".into())
    }

    /// 404 for a post id that names no post.
    pub fn no_such_post() -> Self {
        Self::NotFound("No post has that id.".into())
    }

    /// 404 for a comment id that names no comment.
    pub fn no_such_comment() -> Self {
        Self::NotFound("No comment has that id.".into())
    }

    /// A 422 for a single field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::one(field, message))
    }

    /// The HTTP status this error is sent with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Validation(_) => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Internal(_) => 500,
            Self::BadGateway(_) => 502,
            Self::Unavailable(_) | Self::Misconfigured(_) => 503,
        }
    }

    /// What the client is told in `detail`: specific for client errors,
    /// generic for server errors.
    pub fn detail(&self) -> String {
        match self {
            Self::BadRequest(d)
            | Self::Unauthorized(d)
            | Self::Forbidden(d)
            | Self::NotFound(d)
            | Self::Conflict(d)
            | Self::BadGateway(d) => d.clone(),
            Self::MethodNotAllowed { allow } => {
                format!("This path supports only: {allow}.")
            }
            Self::PayloadTooLarge { limit } => {
                format!("The request body must be at most {limit} bytes.")
            }
            Self::UnsupportedMediaType => "The request body must be application/json.".into(),
            Self::Validation(_) => "Some fields are invalid; see `errors`.".into(),
            Self::TooManyRequests { retry_after } => {
                format!("Too many requests. Try again in {retry_after} seconds.")
            }
            Self::Unavailable(_) => "The database is unreachable. Try again shortly.".into(),
            Self::Misconfigured(error) => format!(
                "The service is misconfigured: its operator must fix the `{}` setting.",
                error.variable()
            ),
            Self::Internal(_) => "Something went wrong on our side.".into(),
        }
    }
}

/// The lower layers' own errors become the one error type here, so that
/// none of them needs to know about HTTP.
impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::Misconfigured(error)
    }
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Self {
        Error::TooManyRequests {
            retry_after: refused.retry_after,
        }
    }
}

impl From<IdError> for Error {
    /// A clock outside the id range is the operator's to fix, so a 503
    /// whose log line says how; anything else is unexpected.
    fn from(error: IdError) -> Self {
        match error {
            IdError::TimeOutOfRange(_) => Error::Unavailable(anyhow::Error::new(error).context(
                "this node's clock is outside the Snowflake range (before 2025-01-01?); \
                 fix the clock (NTP)",
            )),
            other => Error::internal(other),
        }
    }
}

/// The RFC 9457 body.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
}

/// The standard reason phrase, which RFC 9457 asks for as the title of an
/// `about:blank` problem.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl Error {
    /// A short name for the kind of failure, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::BadGateway(_) => "bad_gateway",
            Self::Unavailable(_) => "unavailable",
            Self::Misconfigured(_) => "misconfigured",
            Self::Internal(_) => "internal",
        }
    }

    /// What went wrong on our side, for the log only: the whole cause chain
    /// of a 500 or 503, on one line. Never sent to a client.
    pub fn cause(&self) -> Option<String> {
        match self {
            Self::Internal(cause) | Self::Unavailable(cause) => Some(format!("{cause:#}")),
            Self::Misconfigured(cause) => Some(cause.to_string()),
            _ => None,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = Problem {
            kind: "about:blank",
            title: reason_phrase(status),
            status,
            detail: self.detail(),
            errors: match &self {
                Self::Validation(errors) => Some(errors),
                _ => None,
            },
        };
        // Serializing strings and maps cannot fail; fall back to an empty
        // object rather than panic if it somehow does.
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::builder()
            .status(status)
            .header("content-type", "application/problem+json")
            .body(body)
            .build();
        match self {
            Self::Unauthorized(_) => response.set_header("www-authenticate", "Bearer"),
            Self::MethodNotAllowed { allow } => response.set_header("allow", allow),
            Self::TooManyRequests { retry_after } => {
                response.set_header("retry-after", retry_after.to_string())
            }
            Self::Unavailable(_) | Self::Misconfigured(_) => {
                response.set_header("retry-after", RETRY_AFTER_SECONDS)
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(error: Error) -> (u16, serde_json::Value, Response) {
        let response = error.into_response();
        let body = serde_json::from_slice(response.body()).unwrap();
        (*response.status(), body, response)
    }

    fn header(response: &Response, name: &str) -> Option<String> {
        response
            .header(name)
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    #[test]
    fn every_error_is_problem_json_with_its_status() {
        let cases = [
            (Error::BadRequest("x".into()), 400),
            (Error::Unauthorized("x".into()), 401),
            (Error::Forbidden("x".into()), 403),
            (Error::NotFound("x".into()), 404),
            (
                Error::MethodNotAllowed {
                    allow: "GET".into(),
                },
                405,
            ),
            (Error::Conflict("x".into()), 409),
            (Error::PayloadTooLarge { limit: 10 }, 413),
            (Error::UnsupportedMediaType, 415),
            (Error::invalid_field("title", "is required"), 422),
            (Error::TooManyRequests { retry_after: 30 }, 429),
            (Error::internal(anyhow::anyhow!("boom")), 500),
            (Error::BadGateway("x".into()), 502),
            (Error::Unavailable(anyhow::anyhow!("down")), 503),
        ];
        for (error, status) in cases {
            let (got, body, response) = render(error);
            assert_eq!(got, status);
            assert_eq!(body["status"], status);
            assert_eq!(body["type"], "about:blank");
            assert_eq!(body["title"], reason_phrase(status));
            assert!(body["detail"].is_string());
            assert_eq!(
                header(&response, "content-type").as_deref(),
                Some("application/problem+json")
            );
        }
    }

    #[test]
    fn a_401_challenges_for_a_bearer_token() {
        let (_, _, response) = render(Error::Unauthorized("no token".into()));
        assert_eq!(
            header(&response, "www-authenticate").as_deref(),
            Some("Bearer")
        );
    }

    #[test]
    fn a_405_lists_the_allowed_methods() {
        let (_, _, response) = render(Error::MethodNotAllowed {
            allow: "GET, PATCH".into(),
        });
        assert_eq!(header(&response, "allow").as_deref(), Some("GET, PATCH"));
    }

    #[test]
    fn a_503_asks_the_client_to_retry_later() {
        let (_, _, response) = render(Error::Unavailable(anyhow::anyhow!("refused")));
        assert_eq!(header(&response, "retry-after").as_deref(), Some("5"));
    }

    #[test]
    fn a_misconfiguration_is_a_503_naming_the_variable_but_not_its_value() {
        let error = crate::config::problem("jwt_secret", "is a placeholder");
        let (status, body, response) = render(Error::Misconfigured(error));
        assert_eq!(status, 503);
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("`jwt_secret`"), "{detail}");
        assert!(!detail.contains("placeholder"), "{detail}");
        assert_eq!(header(&response, "retry-after").as_deref(), Some("5"));
    }

    #[test]
    fn a_429_says_when_to_come_back() {
        let (_, body, response) = render(Error::TooManyRequests { retry_after: 42 });
        assert_eq!(header(&response, "retry-after").as_deref(), Some("42"));
        assert!(body["detail"].as_str().unwrap().contains("42 seconds"));
    }

    #[test]
    fn a_422_names_the_offending_fields() {
        let (_, body, _) = render(Error::invalid_field("username", "is too short"));
        assert_eq!(body["errors"]["username"][0], "is too short");
    }

    #[test]
    fn a_500_never_shows_its_cause() {
        let cause = anyhow::anyhow!("SELECT password_hash FROM users; mysql://root:hunter2@db");
        let (_, body, response) = render(Error::internal(cause));
        let text = String::from_utf8_lossy(response.body());
        assert!(!text.contains("SELECT"));
        assert!(!text.contains("hunter2"));
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn a_503_never_shows_its_cause() {
        let (_, _, response) = render(Error::Unavailable(anyhow::anyhow!(
            "mysql://root:hunter2@db refused"
        )));
        assert!(!String::from_utf8_lossy(response.body()).contains("hunter2"));
    }
}
