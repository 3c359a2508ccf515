//! The endpoints. Each handler parses its input into domain types, calls the
//! store, and chooses the status; components only map methods to these.

pub mod accounts;
pub mod comments;
pub mod health;
pub mod posts;
pub mod users;

/// The routes whose handlers read an id from the path, exactly as
/// `spin.toml` declares them (a test checks that it does).
pub mod routes {
    /// `GET /api/users/:id`.
    pub const USER: &str = "/api/users/:id";
    /// `GET /api/users/:id/posts`.
    pub const USER_POSTS: &str = "/api/users/:id/posts";
    /// `GET, PATCH, DELETE /api/posts/:id`.
    pub const POST: &str = "/api/posts/:id";
    /// `GET, POST /api/posts/:id/comments`.
    pub const POST_COMMENTS: &str = "/api/posts/:id/comments";
    /// `PATCH, DELETE /api/comments/:id`.
    pub const COMMENT: &str = "/api/comments/:id";
}

use serde::Serialize;
use spin_sdk::http::{IntoResponse, Response};

use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Paging};
use crate::limits;
use crate::snowflake::Id;
use crate::store::Listing;
use crate::time::now_ms;
use crate::views;

/// The problem-details 404 for a path no component serves, whatever the
/// method. It does not echo the path: nothing a client sends is reflected.
pub fn not_found() -> Response {
    http::finish(Error::NotFound("No resource at this path.".into()).into_response())
}

/// Counts a write (a post, comment, edit, delete or profile change) by
/// `caller` against the per-user write limits: a 429 once they are used up,
/// before the write touches the database.
fn count_write(context: &Context, caller: Id) -> Result<(), Error> {
    let limits = &context.config().limits;
    let (caller, now) = (caller.to_string(), now_ms() / 1000);
    limits::count(context.kv(), &limits.writes_per_user, &caller, now)?;
    limits::count(context.kv(), &limits.writes_per_user_daily, &caller, now)
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

#[cfg(test)]
mod tests {
    use super::routes;

    #[test]
    fn every_route_with_an_id_is_a_route_in_spin_toml() {
        let manifest = include_str!("../../../spin.toml");
        for route in [
            routes::USER,
            routes::USER_POSTS,
            routes::POST,
            routes::POST_COMMENTS,
            routes::COMMENT,
        ] {
            assert!(
                manifest.contains(&format!("route = \"{route}\"")),
                "{route} is not in spin.toml"
            );
        }
    }
}
