//! A shared response cache for public reads, so that hot reads skip MySQL
//! and its per-request connect. It lives in the cache's store
//! ([`crate::kv`]): on SpinKube a Redis of its own, shared by every pod;
//! under `spin up`, Spin's key-value store (a local SQLite file).
//!
//! **Correctness: version keys.** Every cached response depends on a few
//! version keys that can be named from the request alone (for example a
//! post and its comments depend on `v:post:<id>` and `v:profiles`). An
//! entry records the versions it was made under, and is served only while
//! they are the current ones. A write changes the versions of what it
//! changed, after its transaction commits and before it answers. So the
//! writer's next read, and everyone's, misses the old entry at once; and
//! since versions are read before the database is, an entry can never be
//! stored under versions newer than its data.
//!
//! **A hit costs one round trip on Redis.** An entry's key comes from the
//! request alone, so one `MGET` reads the versions and the entry together,
//! and the reply says whether the entry is current. A miss stores the new
//! entry without waiting for Redis's answer. (Spin's store cannot batch
//! reads: a version each, then the entry.)
//!
//! **Staleness bound: 2 s.** Entries expire after [`ENTRY_TTL_MS`]. That
//! bounds how long a change can stay unseen if its version bump was lost
//! (the store failed during the write).
//!
//! **Bounded size.** An entry over [`MAX_ENTRY_BYTES`] is answered but not
//! kept. The key is the path and only the query parameters the endpoint
//! reads, so parameters it ignores make no new entries. On Redis, every
//! entry expires and the cache's Redis evicts the least recently used keys
//! at its memory cap. In Spin's store, which has no expiry, entries live in
//! [`SLOTS`] slots: the slot is a hash of the key and versions, so an
//! attacker requesting random pages only overwrites slots (plus one version
//! key per post and user that was ever written, bounded by the rate-limited
//! writes themselves).
//!
//! **Failure.** If the store fails, or does not answer within its bound,
//! the request falls through to the database and the failure is logged. A
//! request never fails because of the cache.
//!
//! **Credentials do not matter here.** Every answer served through the
//! cache is public: the same for everyone. An `Authorization` header on such
//! a GET, valid or not, is not even read, so it costs what any other hit
//! costs. The website's pages for a logged-in visitor show who they are;
//! those pages skip the cache ([`bypass`]).

use std::time::Duration;

use sha2::{Digest, Sha256};
use spin_sdk::http::Response;

use crate::context::Context;
use crate::error::Error;
use crate::http::Request;
use crate::kv::{Backend, KvError};
use crate::log;
use crate::redis::{self, Command, Reply};
use crate::time::now_ms;

/// How long an entry is served, in milliseconds: the longest a change can
/// stay unseen.
pub const ENTRY_TTL_MS: i64 = 2_000;

/// How many entries Spin's store can hold.
pub const SLOTS: u64 = 4_096;

/// The largest entry kept: more than the largest page Omni makes (ten posts
/// or comments at their longest, in four-byte characters), and room for
/// a rendered document kept with [`remember`].
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// The longest [`remember`] keeps a value.
pub const MAX_KEEP: Duration = Duration::from_secs(24 * 3600);

// An entry and its versions must fit in one reply of the cache's Redis.
const _: () = assert!(MAX_ENTRY_BYTES + 64 * 1024 <= redis::MAX_REPLY_BYTES);

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
    /// Made fresh, and stored if it fits.
    Miss,
    /// Personal (a logged-in visitor's page): never cached.
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

/// Marks a personal answer, made fresh: `Cache-Control: private,
/// no-store`, `X-Cache: bypass`.
pub fn bypass(mut response: Response) -> Response {
    response.set_header("cache-control", PRIVATE);
    mark(response, Outcome::Bypass)
}

/// Answers a public GET through the cache: `produce` makes the answer from
/// the database when the cache has no current one. `depends_on` are the
/// version keys the answer depends on, and `query` the query parameters
/// the endpoint reads (no others make a different entry). Only 200s are
/// stored; every 200 carries a strong `ETag`, and a matching
/// `If-None-Match` gets a 304.
pub fn serve(
    request: &Request,
    context: &Context,
    depends_on: &[&str],
    query: &[&str],
    produce: impl FnOnce() -> Result<Response, Error>,
) -> Result<Response, Error> {
    let found = context
        .kv()
        .cache()
        .and_then(|backend| Lookup::new(backend, &request_key(request, query), depends_on));
    let lookup = match found {
        Ok((lookup, Some(payload))) => match Entry::decode(&payload) {
            Some(entry) => return Ok(entry.answer(request, Outcome::Hit)),
            None => Some(lookup),
        },
        Ok((lookup, None)) => Some(lookup),
        Err(error) => {
            store_failed(&error);
            None
        }
    };
    let response = produce()?;
    if *response.status() != 200 {
        return Ok(response);
    }
    let entry = Entry::of(&response);
    let outcome = match lookup {
        Some(lookup) => match lookup.keep(&entry.encode(), ENTRY_TTL) {
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

/// Keeps `value` under `name` until `expires_at` (Unix ms, at most
/// [`MAX_KEEP`] away), for values worth more than one response, such as a
/// rendered write-up. A value over [`MAX_ENTRY_BYTES`] is not kept. A
/// failure is logged.
pub fn remember(context: &Context, name: &str, value: &[u8], expires_at: i64) {
    let keep_for = Duration::from_millis(expires_at.saturating_sub(now_ms()).max(1).unsigned_abs());
    let result = context.kv().cache().and_then(|backend| {
        Lookup::at(backend, &remembered(name), &[], &[]).keep(value, keep_for.min(MAX_KEEP))
    });
    if let Err(error) = result {
        store_failed(&error);
    }
}

/// The value [`remember`] kept under `name`, if it is still there and has
/// not expired.
pub fn recall(context: &Context, name: &str) -> Recalled {
    match context
        .kv()
        .cache()
        .and_then(|backend| Lookup::new(backend, &remembered(name), &[]))
    {
        Ok((_, Some(value))) => Recalled::Found(value),
        Ok((_, None)) => Recalled::Missing,
        Err(error) => {
            store_failed(&error);
            Recalled::Unavailable
        }
    }
}

/// The lookup key of a value kept with [`remember`], apart from responses'.
fn remembered(name: &str) -> String {
    format!("remembered\n{name}")
}

/// Claim keys: [`CLAIM_SLOTS`] slots, each cycling through this many
/// windows, so that the store holds a bounded number of them.
const CLAIM_WINDOWS: i64 = 64;

/// How many slots claims are hashed into.
pub const CLAIM_SLOTS: u64 = 4_096;

/// Whether this request is the one to do the work behind `name` (fetch a
/// write-up, say) in the current window of `window_ms`: the first to ask
/// in a window is told yes, every other request, on any pod, no. The
/// store's atomic increment decides, so two requests can never both be
/// first. `None` if the store failed (logged).
///
/// A window's key is emptied by the previous window's winner (and on Redis
/// expires after two windows). One left with an old count (its slot idle
/// for a whole cycle) says no to everyone; whoever then waits in vain
/// calls [`unclaim`], and the next request wins.
pub fn claim(context: &Context, name: &str, window_ms: i64) -> Option<bool> {
    let window = now_ms() / window_ms.max(1);
    let ttl = claim_ttl(window_ms);
    let result = context.kv().cache().and_then(|backend| {
        let first = backend.add(&claim_key(backend, name, window), 1, ttl)? == 1;
        if first {
            backend.forget(&claim_key(backend, name, window + 1), ttl)?;
        }
        Ok(first)
    });
    result.map_err(|error| store_failed(&error)).ok()
}

/// Frees the current window's claim on `name`, so that the next request
/// claims it (after waiting in vain for whoever held it).
pub fn unclaim(context: &Context, name: &str, window_ms: i64) {
    let window = now_ms() / window_ms.max(1);
    if let Err(error) = context
        .kv()
        .cache()
        .and_then(|backend| backend.forget(&claim_key(backend, name, window), claim_ttl(window_ms)))
    {
        store_failed(&error);
    }
}

/// The store key of `name`'s claim in `window`: on Redis, where keys
/// expire, one of its own; in Spin's store one of [`CLAIM_SLOTS`] slots, so
/// two names may share one (the second then waits for the first's fetch).
fn claim_key(backend: Backend<'_>, name: &str, window: i64) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let cycle = window.rem_euclid(CLAIM_WINDOWS);
    match backend {
        Backend::Redis(_) => format!("cl:{}:{cycle}", &crate::hex::encode(&digest)[..32]),
        Backend::Spin(_) => {
            let mut head = [0u8; 8];
            head.copy_from_slice(&digest[..8]);
            format!("cl:{}:{cycle}", u64::from_be_bytes(head) % CLAIM_SLOTS)
        }
    }
}

/// Seconds a claim key lives on Redis: two of its windows, at least one.
fn claim_ttl(window_ms: i64) -> i64 {
    (window_ms.max(1) * 2 + 999) / 1000
}

/// Changes the versions of what a write changed, so that every cached
/// answer that showed it misses from now on. Call after the write's
/// transaction has committed, before answering. A failure is logged;
/// entries then expire within [`ENTRY_TTL_MS`].
pub fn changed(context: &Context, keys: &[&str]) {
    let result = context.kv().cache().and_then(|backend| match backend {
        // A fresh random value, not a count: should Redis evict a version
        // key, the next change cannot bring back a value an entry was once
        // made under.
        Backend::Redis(redis) => {
            let commands: Vec<Command> = keys
                .iter()
                .map(|key| Command::new("SET").arg(key).arg(fresh_version()))
                .collect();
            redis.call(&commands).map(drop).map_err(KvError::from)
        }
        // Spin's store increments atomically, where two writers racing to
        // set a value could both lose.
        Backend::Spin(store) => keys
            .iter()
            .try_for_each(|key| store.increment(key, 1).map(drop)),
    });
    if let Err(error) = result {
        log::warn(
            "cache_version_lost",
            &[
                ("keys", keys.join(",").into()),
                ("error", error.to_string().into()),
            ],
        );
    }
}

const ENTRY_TTL: Duration = Duration::from_millis(ENTRY_TTL_MS.unsigned_abs());

/// 64 random bits, in hex.
fn fresh_version() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness, a clock reading still differs from the value
    // before it.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = now_ms().to_be_bytes();
    }
    crate::hex::encode(&bytes)
}

/// What identifies a request's answer: its path and the values of the
/// query parameters the endpoint reads, in the endpoint's order.
fn request_key(request: &Request, query: &[&str]) -> String {
    let pairs = request.query_pairs();
    let mut key = format!("response\n{}", request.path());
    // Pages and feeds name the origin a request came to when no
    // `public_origin` is set, which Spin writes into `spin-full-url` from
    // the request's `Host`: one client's `Host` must not reach another's
    // copy. Only the origin: the rest of that URL repeats the path and
    // every query parameter.
    for url in request.header_values("spin-full-url") {
        key.push_str("\norigin=");
        key.push_str(origin_of(url));
    }
    for name in query {
        for (_, value) in pairs.iter().filter(|(n, _)| n == name) {
            key.push_str(&format!("\n{name}={value}"));
        }
    }
    key
}

/// `scheme://authority` of `url`, or all of it if it has no path.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(end) => &url[..after_scheme + end],
        None => url,
    }
}

fn store_failed(error: &KvError) {
    log::warn("cache_unavailable", &[("error", error.to_string().into())]);
}

fn mark(mut response: Response, outcome: Outcome) -> Response {
    response.set_header("x-cache", outcome.as_str());
    response
}

/// Where a value is kept in the cache's store, and the identity that
/// proves a kept value is the one asked for, under the current versions.
struct Lookup<'a> {
    backend: Backend<'a>,
    slot: String,
    identity: String,
}

impl<'a> Lookup<'a> {
    /// Looks up the value kept for `key` under the current versions of
    /// `depends_on`: where it goes, and the value if it is there, current
    /// and unexpired.
    fn new(
        backend: Backend<'a>,
        key: &str,
        depends_on: &[&str],
    ) -> Result<(Self, Option<Vec<u8>>), KvError> {
        let (lookup, kept) = match backend {
            Backend::Redis(redis) => {
                let slot = redis_slot(key);
                let (versions, kept) = versions_and_value(redis, depends_on, &slot)?;
                (Self::at(backend, key, depends_on, &versions), kept)
            }
            Backend::Spin(store) => {
                // One `get` each: Spin's Redis store cannot batch them (see
                // `kv`), and the slot depends on the versions.
                let versions = depends_on
                    .iter()
                    .map(|key| store.get(key))
                    .collect::<Result<Vec<_>, _>>()?;
                let lookup = Self::at(backend, key, depends_on, &versions);
                let kept = store.get(&lookup.slot)?;
                (lookup, kept)
            }
        };
        let value = kept.and_then(|bytes| lookup.current(&bytes));
        Ok((lookup, value))
    }

    /// Where the value for `key` made under `versions` (the values of
    /// `depends_on`, in order) is kept; asks the store nothing.
    fn at(backend: Backend<'a>, key: &str, depends_on: &[&str], versions: &[Version]) -> Self {
        let digest = identity(key, depends_on, versions);
        let slot = match backend {
            Backend::Redis(_) => redis_slot(key),
            Backend::Spin(_) => {
                let mut head = [0u8; 8];
                head.copy_from_slice(&digest[..8]);
                format!("c:{}", u64::from_be_bytes(head) % SLOTS)
            }
        };
        Self {
            backend,
            slot,
            identity: crate::hex::encode(&digest),
        }
    }

    /// The value in `kept`, if it is this lookup's and has not expired.
    fn current(&self, kept: &[u8]) -> Option<Vec<u8>> {
        let newline = kept.iter().position(|b| *b == b'\n')?;
        let head = std::str::from_utf8(&kept[..newline]).ok()?;
        let (identity, expires_at) = head.split_once(' ')?;
        let expires_at: i64 = expires_at.parse().ok()?;
        (identity == self.identity && expires_at > now_ms()).then(|| kept[newline + 1..].to_vec())
    }

    /// Keeps `value` here for `ttl`, unless it is too large. On Redis
    /// nothing waits for the answer.
    fn keep(&self, value: &[u8], ttl: Duration) -> Result<(), KvError> {
        if value.len() > MAX_ENTRY_BYTES {
            log::info("cache_entry_too_large", &[("bytes", value.len().into())]);
            return Ok(());
        }
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut kept =
            format!("{} {}\n", self.identity, now_ms().saturating_add(ttl_ms)).into_bytes();
        kept.extend_from_slice(value);
        match self.backend {
            Backend::Redis(redis) => Ok(redis.send(&[Command::new("SET")
                .arg(&self.slot)
                .arg(kept)
                .arg("PX")
                .arg(ttl_ms.max(1).to_string())])?),
            Backend::Spin(store) => store.set(&self.slot, &kept),
        }
    }
}

/// The Redis key of the values kept for `key`, whatever their versions.
fn redis_slot(key: &str) -> String {
    format!("c:{}", &crate::hex::encode(&Sha256::digest(key))[..32])
}

/// The identity of the value for `key` made under `versions` (the values
/// of `depends_on`, in order).
fn identity(key: &str, depends_on: &[&str], versions: &[Version]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(key.as_bytes());
    for (name, version) in depends_on.iter().zip(versions) {
        hash.update(b"\n");
        hash.update(name.as_bytes());
        hash.update(b"=");
        hash.update(version.as_deref().unwrap_or_default());
    }
    hash.finalize().into()
}

/// A version key's value, or `None` for a key never written (or evicted).
type Version = Option<Vec<u8>>;

/// The values of `depends_on` and of `slot`, in one `MGET`.
fn versions_and_value(
    redis: &redis::Connection,
    depends_on: &[&str],
    slot: &str,
) -> Result<(Vec<Version>, Option<Vec<u8>>), KvError> {
    let command = depends_on
        .iter()
        .fold(Command::new("MGET"), |command, key| command.arg(key))
        .arg(slot);
    let replies = redis.call(&[command])?;
    let unexpected = || KvError::from(redis::ProtocolError::unexpected("reply to MGET"));
    let Some(Reply::Array(values)) = replies.into_iter().next() else {
        return Err(unexpected());
    };
    if values.len() != depends_on.len() + 1 {
        return Err(unexpected());
    }
    let mut values = values
        .into_iter()
        .map(|value| match value {
            Reply::Bulk(bytes) => Ok(Some(bytes)),
            Reply::Nil => Ok(None),
            _ => Err(unexpected()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kept = values.pop().flatten();
    Ok((values, kept))
}

/// A cached answer: `<etag> <content-type>\n<body>` in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    etag: String,
    content_type: String,
    body: Vec<u8>,
}

impl Entry {
    fn of(response: &Response) -> Self {
        let body = response.body().to_vec();
        Self {
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

    fn encode(&self) -> Vec<u8> {
        let mut bytes = format!("{} {}\n", self.etag, self.content_type).into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let head = std::str::from_utf8(&bytes[..newline]).ok()?;
        let (etag, content_type) = head.split_once(' ')?;
        Some(Self {
            etag: etag.to_owned(),
            content_type: content_type.to_owned(),
            body: bytes[newline + 1..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            etag: "\"0123\"".into(),
            content_type: "application/json".into(),
            body: b"{\"items\":[]}\n more".to_vec(),
        }
    }

    #[test]
    fn an_entry_survives_the_round_trip_through_the_store() {
        assert_eq!(Entry::decode(&entry().encode()), Some(entry()));
    }

    #[test]
    fn a_damaged_entry_is_a_miss_not_an_error() {
        for bytes in [&b""[..], b"no newline", b"etag-only\n{}"] {
            assert_eq!(Entry::decode(bytes), None);
        }
    }

    fn request(path: &str, headers: &[(&str, &str)]) -> Request {
        Request::for_test(crate::http::Method::GET, path, headers, "")
    }

    #[test]
    fn a_matching_if_none_match_gets_a_bodiless_304() {
        let answer = entry().answer(
            &request("/api/posts?page=2", &[("if-none-match", "\"x\", \"0123\"")]),
            Outcome::Hit,
        );
        assert_eq!(*answer.status(), 304);
        assert!(answer.body().is_empty());
        assert_eq!(
            answer.header("etag").and_then(|v| v.as_str()),
            Some("\"0123\"")
        );
        let fresh = entry().answer(
            &request("/api/posts?page=2", &[("if-none-match", "\"other\"")]),
            Outcome::Miss,
        );
        assert_eq!(*fresh.status(), 200);
        assert_eq!(
            fresh.header("x-cache").and_then(|v| v.as_str()),
            Some("miss")
        );
    }

    #[test]
    fn only_the_query_parameters_an_endpoint_reads_make_its_key() {
        let key = |path| request_key(&request(path, &[]), &["page", "before"]);
        assert_eq!(key("/api/posts?page=2"), "response\n/api/posts\npage=2");
        assert_eq!(
            key("/api/posts?utm=1&page=2&x=%20"),
            key("/api/posts?page=2")
        );
        assert_eq!(key("/api/posts?zzz"), key("/api/posts"));
        // Order and repeats of the ones it reads still count: the endpoint
        // tells `?page=1&page=2` from `?page=2` (a 400).
        assert_ne!(key("/api/posts?page=1&page=2"), key("/api/posts?page=2"));
        assert_eq!(
            key("/api/posts?before=5&page=2"),
            key("/api/posts?page=2&before=5")
        );
        assert_ne!(key("/api/posts/1"), key("/api/posts/2"));
    }

    #[test]
    fn an_identity_names_the_key_and_every_version() {
        let a = identity("k", &["v:a", "v:b"], &[Some(b"1".to_vec()), None]);
        assert_eq!(
            a,
            identity("k", &["v:a", "v:b"], &[Some(b"1".to_vec()), None])
        );
        assert_ne!(
            a,
            identity("k", &["v:a", "v:b"], &[Some(b"2".to_vec()), None])
        );
        assert_ne!(
            a,
            identity("j", &["v:a", "v:b"], &[Some(b"1".to_vec()), None])
        );
    }

    #[test]
    fn fresh_versions_differ() {
        assert_ne!(fresh_version(), fresh_version());
        assert_eq!(fresh_version().len(), 16);
    }
}
