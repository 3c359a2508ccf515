//! The API's endpoints. Each handler parses its input (the path, the query,
//! the JSON body, the token) into domain types, calls an action for a write
//! or the store for a read, and renders the JSON answer with its status;
//! components only map methods to these.

pub mod accounts;
pub mod comments;
pub mod discovery;
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
    /// `GET /api/posts/:id/writeup`.
    pub const POST_WRITEUP: &str = "/api/posts/:id/writeup";
}

use serde::Serialize;
use std::time::Instant;

use spin_sdk::http::{IncomingRequest, Response};

use crate::actions::Created;
use crate::auth;
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Method, Request};
use crate::model::IdempotencyKey;
use crate::net::ClientAddress;
use crate::paging::Paging;
use crate::snowflake::Id;
use crate::store::Listing;
use crate::store::sessions::Session;
use crate::views;

/// The problem-details 404 for a path no component serves, whatever the
/// method. It does not echo the path: nothing a client sends is reflected.
pub fn not_found(incoming: &IncomingRequest) -> Response {
    let method = Method::from_bytes(incoming.method().to_string().as_bytes()).ok();
    http::respond(
        "not-found",
        &http::spin_route(incoming),
        method.as_ref(),
        &http::Arrival::of(incoming),
        Instant::now(),
        Err(Error::NotFound("No resource at this path.".into())),
    )
}

/// The request's context and the session its bearer token names: a 401
/// without a valid token, before any database work. Whatever reads the
/// caller next checks that the session still exists.
fn caller(request: &Request) -> Result<(Context, Session), Error> {
    let context = Context::load()?;
    let caller = auth::token_session(request, &context)?;
    Ok((context, caller))
}

/// The client's address, as the limits of signup and login key it.
fn client_address(request: &Request, context: &Context) -> ClientAddress {
    request.client_address(&context.config().trusted_proxies)
}

/// The request's `Idempotency-Key`, if it sent one: one header of 1–255
/// visible ASCII characters, else a 400.
fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, Error> {
    let mut values = request.header_values("idempotency-key");
    let (Some(key), None) = (values.next(), values.next()) else {
        return match request.header("idempotency-key") {
            None => Ok(None),
            Some(_) => Err(Error::BadRequest("Send one Idempotency-Key header.".into())),
        };
    };
    IdempotencyKey::parse(key)
        .map(Some)
        .map_err(|problem| Error::BadRequest(format!("Idempotency-Key {problem}.")))
}

/// The 201 for what a create made: at `location`, shown as `view`, and
/// marked `Idempotency-Replayed: true` if an earlier request with the same
/// key made it.
fn created<T, V: Serialize>(
    created: Created<T>,
    location: impl FnOnce(&T) -> String,
    view: impl FnOnce(T) -> V,
) -> Result<Response, Error> {
    let location = location(&created.made);
    let body = serde_json::to_string(&view(created.made)).map_err(Error::internal)?;
    let mut response = http::created_json(&location, body);
    if created.replayed {
        response.set_header("idempotency-replayed", "true");
    }
    Ok(response)
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
            routes::POST_WRITEUP,
        ] {
            assert!(
                manifest.contains(&format!("route = \"{route}\"")),
                "{route} is not in spin.toml"
            );
        }
    }
}
