//! The endpoints. Each handler parses its input into domain types, calls the
//! store, and chooses the status; components only map methods to these.
//! Each write's rules (its transaction, and who may change what) are a
//! function of their own here, such as `posts::update_post`, which the
//! website's forms call too.

pub mod accounts;
pub mod comments;
pub mod health;
pub mod posts;
pub mod users;

use serde::Serialize;
use spin_sdk::http::{IntoResponse, Response};

use crate::error::Error;
use crate::http::{self, Paging};
use crate::snowflake::Id;
use crate::store::Listing;
use crate::views;

/// The problem-details 404 for a path no component serves.
pub fn not_found(path: &str) -> Response {
    Error::NotFound(format!("No resource at {path}.")).into_response()
}

/// Answers a list request in the form its paging asked for: a page with
/// totals for `?page=`, or a keyset slice for `?before=`. A listing without
/// a total has no owner (no such user or post): `missing` says so.
fn list<T, V: From<T> + Serialize>(
    paging: Paging,
    page: impl FnOnce(u32) -> Result<Listing<T>, Error>,
    before: impl FnOnce(Id) -> Result<Listing<T>, Error>,
    id: impl Fn(&T) -> Id,
    missing: impl Fn() -> Error,
) -> Result<Response, Error> {
    match paging {
        Paging::Page(number) => {
            let listing = page(number)?;
            let total = listing.total.ok_or_else(&missing)?;
            http::ok(&views::page::<T, V>(total, listing.items, number))
        }
        Paging::Before(start) => {
            let listing = before(start)?;
            listing.total.ok_or_else(&missing)?;
            http::ok(&views::slice::<T, V>(listing.items, id))
        }
    }
}
