//! The endpoints. Each handler parses its input into domain types, calls the
//! store, and chooses the status; components only map methods to these.

pub mod accounts;
pub mod comments;
pub mod health;
pub mod posts;
pub mod users;

use spin_sdk::http::{IntoResponse, Response};

use crate::error::Error;

/// The problem-details 404 for a path no component serves.
pub fn not_found(path: &str) -> Response {
    Error::NotFound(format!("No resource at {path}.")).into_response()
}
