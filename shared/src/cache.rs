//! A shared response cache for public reads, in Spin's key-value store
//! (Redis on SpinKube, shared by every pod; a local SQLite file under
//! `spin up`), so that hot reads skip MySQL and its per-request connect.
//!
//! **Correctness: version keys.** Every cached response depends on a few
//! version keys that can be named from the request alone (for example a
//! post and its comments depend on `v:post:<id>` and `v:profiles`). A read
//! fetches those versions first, then looks for an entry made
//! under exactly those versions. A write bumps the versions of what it
//! changed, after its transaction commits and before it answers. So the
//! writer's next read, and everyone's, misses the old entry at once; and
//! since versions are read before the database is, an entry can never be
//! stored under versions newer than its data.
//!
//! **Staleness bound: 2 s.** Entries carry their own expiry (Spin's store
//! has none): [`ENTRY_TTL_MS`]. That bounds how long a change can stay
//! unseen if its version bump was lost (the store failed during the write).
//!
//! **Bounded size.** Entries live in [`SLOTS`] slots: the slot is a hash of
//! the path, query and versions, so an attacker requesting random pages only
//! overwrites slots, and the store holds at most `SLOTS` entries (plus one
//! version key per post and user that was ever written, bounded by the
//! rate-limited writes themselves).
//!
//! **Failure.** If the store fails, the request falls through to the
//! database and the failure is logged. A request never fails because of the
//! cache.
//!
//! Authenticated requests (an `Authorization` header or the website's
//! cookie) are never cached: they are answered fresh, `Cache-Control: private,
//! no-store`.

use sha2::{Digest, Sha256};
use spin_sdk::http::Response;

use crate::auth;
use crate::context::Context;
use crate::error::Error;
use crate::http::Request;
use crate::kv::{Kv, KvError};
use crate::log;
use crate::time::now_ms;

/// How long an entry is served, in milliseconds: the longest a change can
/// stay unseen.
pub const ENTRY_TTL_MS: i64 = 2_000;

/// How many entries the store can hold.
pub const SLOTS: u64 = 4_096;

/// `Cache-Control` of a public read: browsers and shared caches may keep it
/// briefly, and serve it stale while they revalidate.
pub const PUBLIC: &str = "public, max-age=5, stale-while-revalidate=30";

/// `Cache-Control` of an authenticated answer.
pub const PRIVATE: &str = "private, no-store";

/// The version keys responses depend on and writes bump.
pub mod versions {
    use crate::snowflake::Id;

    /// Every list of all posts: which posts exist, and what they show.
    pub const POSTS: &str = "v:posts";
    /// Every display name and username shown next to a post or comment.
    pub const PROFILES: &str = "v:profiles";

    /// One post, and its comments.
    pub fn post(id: Id) -> String {
        format!("v:post:{id}")
    }

    /// One user's profile.
    pub fn user(id: Id) -> String {
        format!("v:user:{id}")
    }

    /// One user's list of posts.
    pub fn user_posts(id: Id) -> String {
        format!("v:user-posts:{id}")
    }
}

/// What became of a request at the cache, sent as `X-Cache` (and logged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Served from the cache.
    Hit,
    /// Made fresh, and stored.
    Miss,
    /// Authenticated: never cached.
    Bypass,
    /// The store failed: made fresh.
    Unavailable,
}

impl Outcome {
    /// As sent in `X-Cache`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Answers a public GET through the cache: `produce` makes the answer from
/// the database when the cache has no current one. `depends_on` are the
/// version keys the answer depends on. Only 200s are stored; every 200
/// carries a strong `ETag`, and a matching `If-None-Match` gets a 304.
pub fn serve(
    request: &Request,
    context: &Context,
    depends_on: &[&str],
    produce: impl FnOnce() -> Result<Response, Error>,
) -> Result<Response, Error> {
    if auth::has_credentials(request) {
        let mut response = produce()?;
        response.set_header("cache-control", PRIVATE);
        return Ok(mark(response, Outcome::Bypass));
    }
    let Some(kv) = context.kv() else {
        return fresh(request, produce, None);
    };
    let cached = Cached::new(request, kv, depends_on);
    let slot = match &cached {
        Ok(cached) => match cached.find() {
            Ok(Some(entry)) => return Ok(entry.answer(request, Outcome::Hit)),
            Ok(None) => Some(cached),
            Err(error) => {
                store_failed(&error);
                None
            }
        },
        Err(error) => {
            store_failed(error);
            None
        }
    };
    fresh(request, produce, slot)
}

/// Makes the answer, stores it in `slot` if there is one, and answers.
fn fresh(
    request: &Request,
    produce: impl FnOnce() -> Result<Response, Error>,
    slot: Option<&Cached<'_>>,
) -> Result<Response, Error> {
    let response = produce()?;
    if *response.status() != 200 {
        return Ok(response);
    }
    let entry = Entry::of(&response, now_ms() + ENTRY_TTL_MS);
    let outcome = match slot {
        Some(slot) => match slot.store(&entry) {
            Ok(()) => Outcome::Miss,
            Err(error) => {
                store_failed(&error);
                Outcome::Unavailable
            }
        },
        None => Outcome::Unavailable,
    };
    Ok(entry.answer(request, outcome))
}

fn store_failed(error: &KvError) {
    log::warn("cache_unavailable", &[("error", error.to_string().into())]);
}

fn mark(mut response: Response, outcome: Outcome) -> Response {
    response.set_header("x-cache", outcome.as_str());
    response
}

/// Where an answer is cached: its slot, and the hash that proves a slot's
/// entry is this request's under the current versions.
struct Cached<'a> {
    kv: &'a Kv,
    slot: String,
    identity: String,
}

impl<'a> Cached<'a> {
    fn new(request: &Request, kv: &'a Kv, depends_on: &[&str]) -> Result<Self, KvError> {
        let mut hash = Sha256::new();
        hash.update(request.path_and_query().as_bytes());
        // Pages and feeds name the origin a request came to when no
        // `public_origin` is set, which Spin writes into `spin-full-url`
        // from the request's `Host`: one client's `Host` must not reach
        // another's copy.
        for url in request.header_values("spin-full-url") {
            hash.update(b"\nurl=");
            hash.update(url.as_bytes());
        }
        // One `get` each: Spin's Redis store cannot batch them (see `kv`).
        for key in depends_on {
            let version = kv.get(key)?;
            hash.update(b"\n");
            hash.update(key.as_bytes());
            hash.update(b"=");
            hash.update(version.as_deref().unwrap_or_default());
        }
        let digest = hash.finalize();
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        Ok(Self {
            kv,
            slot: format!("c:{}", u64::from_be_bytes(head) % SLOTS),
            identity: crate::hex::encode(&digest),
        })
    }

    /// The slot's entry, if it is this request's, made under the current
    /// versions, and not expired.
    fn find(&self) -> Result<Option<Entry>, KvError> {
        let Some(bytes) = self.kv.get(&self.slot)? else {
            return Ok(None);
        };
        Ok(Entry::decode(&bytes)
            .filter(|(identity, entry)| *identity == self.identity && entry.expires_at > now_ms())
            .map(|(_, entry)| entry))
    }

    fn store(&self, entry: &Entry) -> Result<(), KvError> {
        self.kv.set(&self.slot, &entry.encode(&self.identity))
    }
}

/// A cached answer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    expires_at: i64,
    etag: String,
    content_type: String,
    body: Vec<u8>,
}

impl Entry {
    fn of(response: &Response, expires_at: i64) -> Self {
        let body = response.body().to_vec();
        Self {
            expires_at,
            etag: format!("\"{}\"", &crate::hex::encode(&Sha256::digest(&body))[..32]),
            content_type: response
                .header("content-type")
                .and_then(|v| v.as_str())
                .unwrap_or("application/json")
                .to_owned(),
            body,
        }
    }

    /// The answer to `request`: a 304 if it already has this version.
    fn answer(self, request: &Request, outcome: Outcome) -> Response {
        let unchanged = request
            .header_values("if-none-match")
            .flat_map(|value| value.split(','))
            .any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag
            });
        let mut response = if unchanged {
            Response::builder().status(304).build()
        } else {
            Response::builder()
                .status(200)
                .header("content-type", self.content_type)
                .body(self.body)
                .build()
        };
        response.set_header("etag", self.etag);
        response.set_header("cache-control", PUBLIC);
        mark(response, outcome)
    }

    /// `<identity> <expires_at> <etag> <content-type>\n<body>`.
    fn encode(&self, identity: &str) -> Vec<u8> {
        let mut bytes = format!(
            "{identity} {} {} {}\n",
            self.expires_at, self.etag, self.content_type
        )
        .into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<(String, Self)> {
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let head = std::str::from_utf8(&bytes[..newline]).ok()?;
        let mut fields = head.splitn(4, ' ');
        let identity = fields.next()?.to_owned();
        let expires_at = fields.next()?.parse().ok()?;
        let etag = fields.next()?.to_owned();
        let content_type = fields.next()?.to_owned();
        Some((
            identity,
            Self {
                expires_at,
                etag,
                content_type,
                body: bytes[newline + 1..].to_vec(),
            },
        ))
    }
}

/// How many slots hold values kept with [`remember`]: few, because a value
/// can be large (a rendered write-up, up to a few hundred KiB).
pub const MEMO_SLOTS: u64 = 1_024;

/// What [`recall`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recalled {
    /// The value, not yet expired.
    Found(Vec<u8>),
    /// Nothing current under the key.
    Missing,
    /// The store failed (logged): nothing can be known.
    Unavailable,
}

/// Keeps `value` under `key` until `expires_at` (Unix ms), for values worth
/// more than one response, such as a rendered write-up. Keys share
/// [`MEMO_SLOTS`] slots, so the store holds at most that many; a newer
/// value overwrites whatever shared its slot. A failure is logged.
pub fn remember(context: &Context, key: &str, value: &[u8], expires_at: i64) {
    let Some(kv) = context.kv() else {
        return;
    };
    let (slot, identity) = memo_slot(key);
    let mut bytes = format!("{identity} {expires_at}\n").into_bytes();
    bytes.extend_from_slice(value);
    if let Err(error) = kv.set(&slot, &bytes) {
        store_failed(&error);
    }
}

/// The value [`remember`] kept under `key`, if it is still there and has
/// not expired.
pub fn recall(context: &Context, key: &str) -> Recalled {
    let Some(kv) = context.kv() else {
        return Recalled::Unavailable;
    };
    let (slot, identity) = memo_slot(key);
    let bytes = match kv.get(&slot) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Recalled::Missing,
        Err(error) => {
            store_failed(&error);
            return Recalled::Unavailable;
        }
    };
    let Some(newline) = bytes.iter().position(|b| *b == b'\n') else {
        return Recalled::Missing;
    };
    let head = String::from_utf8_lossy(&bytes[..newline]);
    let current = head
        .split_once(' ')
        .filter(|(kept, _)| *kept == identity)
        .and_then(|(_, expires_at)| expires_at.parse::<i64>().ok())
        .is_some_and(|expires_at| expires_at > now_ms());
    if current {
        Recalled::Found(bytes[newline + 1..].to_vec())
    } else {
        Recalled::Missing
    }
}

/// The slot of `key` and the hash that proves a slot's value is its.
fn memo_slot(key: &str) -> (String, String) {
    let digest = Sha256::digest(key.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (
        format!("m:{}", u64::from_be_bytes(head) % MEMO_SLOTS),
        crate::hex::encode(&digest),
    )
}

/// Claim keys: [`CLAIM_SLOTS`] slots, each cycling through this many
/// windows, so that the store holds a bounded number of them.
const CLAIM_WINDOWS: i64 = 64;

/// How many slots claims are hashed into.
pub const CLAIM_SLOTS: u64 = 4_096;

/// Whether this request is the one to do the work behind `key` (fetch a
/// write-up, say) in the current window of `window_ms`: the first to ask
/// in a window is told yes, every other request, on any pod, no. The
/// store's atomic increment decides, so two requests can never both be
/// first. `None` if the store failed (logged).
///
/// A window's key is emptied by the previous window's winner. One left
/// with an old count (its slot idle for a whole cycle) says no to
/// everyone; whoever then waits in vain calls [`unclaim`], and the next
/// request wins.
pub fn claim(context: &Context, key: &str, window_ms: i64) -> Option<bool> {
    let kv = context.kv()?;
    let window = now_ms() / window_ms.max(1);
    let name = claim_key(key, window);
    match kv.increment(&name, 1) {
        Ok(1) => {
            if let Err(error) = kv.delete(&claim_key(key, window + 1)) {
                store_failed(&error);
            }
            Some(true)
        }
        Ok(_) => Some(false),
        Err(error) => {
            store_failed(&error);
            None
        }
    }
}

/// Frees the current window's claim on `key`, so that the next request
/// claims it (after waiting in vain for whoever held it).
pub fn unclaim(context: &Context, key: &str, window_ms: i64) {
    if let Some(kv) = context.kv()
        && let Err(error) = kv.delete(&claim_key(key, now_ms() / window_ms.max(1)))
    {
        store_failed(&error);
    }
}

/// The store key of `key`'s claim in `window`.
fn claim_key(key: &str, window: i64) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    let slot = u64::from_be_bytes(head) % CLAIM_SLOTS;
    format!("cl:{slot}:{}", window.rem_euclid(CLAIM_WINDOWS))
}

/// Bumps the versions of what a write changed, so that every cached answer
/// that showed it misses from now on. Call after the write's transaction
/// has committed, before answering. A failure is logged; entries then
/// expire within [`ENTRY_TTL_MS`].
pub fn changed(context: &Context, keys: &[&str]) {
    let Some(kv) = context.kv() else {
        return;
    };
    for key in keys {
        if let Err(error) = kv.increment(key, 1) {
            log::warn(
                "cache_version_lost",
                &[("key", (*key).into()), ("error", error.to_string().into())],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            expires_at: 1_800_000_000_000,
            etag: "\"0123\"".into(),
            content_type: "application/json".into(),
            body: b"{\"items\":[]}\n more".to_vec(),
        }
    }

    #[test]
    fn an_entry_survives_the_round_trip_through_the_store() {
        let bytes = entry().encode("abc");
        assert_eq!(Entry::decode(&bytes), Some(("abc".to_owned(), entry())));
    }

    #[test]
    fn a_damaged_entry_is_a_miss_not_an_error() {
        for bytes in [&b""[..], b"no newline", b"abc notanumber x y\n{}"] {
            assert_eq!(Entry::decode(bytes), None);
        }
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        Request::for_test(crate::http::Method::GET, "/api/posts?page=2", headers, "")
    }

    #[test]
    fn a_matching_if_none_match_gets_a_bodiless_304() {
        let answer = entry().answer(
            &request(&[("if-none-match", "\"x\", \"0123\"")]),
            Outcome::Hit,
        );
        assert_eq!(*answer.status(), 304);
        assert!(answer.body().is_empty());
        assert_eq!(
            answer.header("etag").and_then(|v| v.as_str()),
            Some("\"0123\"")
        );
        let fresh = entry().answer(&request(&[("if-none-match", "\"other\"")]), Outcome::Miss);
        assert_eq!(*fresh.status(), 200);
        assert_eq!(
            fresh.header("x-cache").and_then(|v| v.as_str()),
            Some("miss")
        );
    }
}
