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
use sha2::{Digest, Sha256};
use std::time::Instant;

use spin_sdk::http::{IncomingRequest, Response};

use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::http::{self, Method, Request};
use crate::limits;
use crate::paging::Paging;
use crate::snowflake::Id;
use crate::store::Listing;
use crate::store::idempotency::{self, Stored};
use crate::time::now_ms;
use crate::views;

/// The problem-details 404 for a path no component serves, whatever the
/// method. It does not echo the path: nothing a client sends is reflected.
pub fn not_found(incoming: &IncomingRequest) -> Response {
    let method = Method::from_bytes(incoming.method().to_string().as_bytes()).ok();
    http::respond(
        "not-found",
        &http::spin_route(incoming),
        method.as_ref(),
        Instant::now(),
        Err(Error::NotFound("No resource at this path.".into())),
    )
}

/// Counts a write (a post, comment, edit, delete or profile change) by
/// `caller` against the per-user write limits: a 429 once they are used up,
/// before the write touches the database.
fn count_write(context: &Context, caller: Id) -> Result<(), Error> {
    let limits = &context.config().limits;
    let (caller, now) = (caller.to_string(), now_ms() / 1000);
    limits::count(context.kv(), &limits.writes_per_user, &caller, now)?;
    Ok(limits::count(
        context.kv(),
        &limits.writes_per_user_daily,
        &caller,
        now,
    )?)
}

/// What a create made: where it lives, and its JSON.
pub(crate) struct Created {
    location: String,
    body: String,
}

impl Created {
    /// The new resource at `location`, shown as `view`.
    pub(crate) fn new<T: Serialize>(location: String, view: &T) -> Result<Self, Error> {
        Ok(Self {
            location,
            body: serde_json::to_string(view).map_err(Error::internal)?,
        })
    }
}

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The request's `Idempotency-Key`, if it sent one: 1–255 visible ASCII
/// characters, else a 400.
fn idempotency_key(request: &Request) -> Result<Option<&str>, Error> {
    let mut values = request.header_values("idempotency-key");
    let (Some(key), None) = (values.next(), values.next()) else {
        return match request.header("idempotency-key") {
            None => Ok(None),
            Some(_) => Err(Error::BadRequest("Send one Idempotency-Key header.".into())),
        };
    };
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters."
        )));
    }
    Ok(Some(key))
}

/// SHA-256 of what makes a request the same request: its method, path and
/// body.
fn request_hash(request: &Request) -> String {
    let mut hash = Sha256::new();
    hash.update(request.method().as_str().as_bytes());
    hash.update(b" ");
    hash.update(request.path().as_bytes());
    hash.update(b"\n");
    hash.update(request.body());
    crate::hex::encode(&hash.finalize())
}

/// Runs a create in a transaction (run again whole if it loses a lock race)
/// and answers 201. With an `Idempotency-Key`, the answer is stored with
/// the created rows, in the same transaction, under the key in `scope` (who
/// sent it): a retry with the same key and the same request gets the first
/// answer again, marked `Idempotency-Replayed: true`, and creates nothing;
/// the same key with another request is a 422. A key whose resource has
/// since been deleted no longer stands for anything: it is forgotten, and
/// the request creates anew. Besides the answer, what `create` returned
/// with the resource, unless the answer is a replay and nothing was made
/// (so the caller knows whether there is anything to invalidate).
pub(crate) fn create_once<T>(
    request: &Request,
    db: &dyn Db,
    scope: &str,
    mut create: impl FnMut(&dyn Db) -> Result<(Created, T), Error>,
) -> Result<(Response, Option<T>), Error> {
    let Some(key) = idempotency_key(request)? else {
        let (created, made) = transaction(db, &mut create)?;
        let response = http::created_json(&created.location, created.body);
        return Ok((response, Some(made)));
    };
    let hash = request_hash(request);
    let now = now_ms();
    let (stored, made) = transaction(db, |db| {
        if let Some(stored) = idempotency::find(db, scope, key, now)? {
            if stored.request_hash != hash {
                return Err(Error::invalid_field(
                    "Idempotency-Key",
                    "was already used for a different request",
                ));
            }
            if idempotency::still_exists(db, &stored.location)? {
                return Ok((stored, None));
            }
            idempotency::forget(db, scope, key)?;
        }
        let (created, made) = create(db)?;
        let stored = Stored {
            request_hash: hash.clone(),
            location: created.location,
            body: created.body,
        };
        idempotency::save(db, scope, key, &stored, now)?;
        Ok((stored, Some(made)))
    })?;
    let mut response = http::created_json(&stored.location, stored.body);
    if made.is_none() {
        response.set_header("idempotency-replayed", "true");
    }
    Ok((response, made))
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
