//! A post's write-up: fetched from where its `markdown_url` points,
//! rendered and sanitised, and kept in the cache store, so that a source is
//! asked at most once per post per [`FRESH_MS`] (a failure is kept for
//! [`FAILED_MS`]), never once per page view.
//!
//! **Who waits.** The first reader after an entry expires fetches, and its
//! page waits for that, within `fetch::BOUNDS` (4 s in all). Spin keeps no
//! instance alive after its response, so there is nowhere else to fetch;
//! and a first visitor who sees the write-up at once is worth a bounded
//! wait on one view in ten minutes. Readers who arrive meanwhile do not
//! fetch too: a claim (`cache::claim`, decided by the store's atomic
//! increment, per [`CLAIM_WINDOW_MS`]) lets one request fetch, and the
//! others wait for its entry within the same bound; the fetcher gives the
//! claim back once its entry is kept. A failed or slow
//! source costs a page a short note, never an error.
//!
//! **The cache store down** means no fetch at all: the claim that keeps
//! fetches rare lives there too, and fetching on every view would turn a
//! store outage into a flood at the sources.
//!
//! An entry is keyed by the post, its last edit and its URL: an edit shows
//! its new write-up at once, and an author can refresh a changed source by
//! saving the project again.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::cache::{self, Recalled};
use crate::context::Context;
use crate::error::Error;
use crate::fetch::{self, BOUNDS, FetchError};
use crate::log;
use crate::markdown::Render;
use crate::sources;
use crate::store::posts::Post;
use crate::time::now_ms;

/// How long a fetched write-up is shown before its source is asked again.
pub const FRESH_MS: i64 = 10 * 60 * 1000;

/// How long a failed fetch is remembered before it is tried again.
pub const FAILED_MS: i64 = 60 * 1000;

/// The largest rendered write-up kept: a 512 KiB source rarely renders to
/// more than twice its size.
pub const MAX_HTML_BYTES: usize = 2 * 1024 * 1024;

/// One fetch per post at a time: a claim lasts a window longer than a
/// fetch may take.
pub const CLAIM_WINDOW_MS: i64 = 10_000;

/// A rendered write-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writeup {
    /// Where it was fetched from, after forge mapping and redirects.
    pub source_url: String,
    /// The sanitised HTML.
    pub html: String,
    /// When it was fetched, Unix ms.
    pub fetched_at: i64,
}

/// Why a write-up cannot be shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// A short name: `timeout`, `host_not_allowed`, `source_error`, …
    pub reason: String,
    /// What happened, for people (never anything the source sent).
    pub detail: String,
}

impl Failure {
    fn from_fetch(error: &FetchError) -> Self {
        Self {
            reason: error.reason().to_owned(),
            detail: error.to_string(),
        }
    }

    fn new(reason: &str, detail: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            detail: detail.to_owned(),
        }
    }

    /// A short note for the project page, which links the write-up anyway.
    pub fn note(&self) -> &'static str {
        match self.reason.as_str() {
            "host_not_allowed" | "not_https" | "private_address" | "unusual_url" => {
                "Omni shows write-ups from GitHub, GitLab, Codeberg and gists; \
                 follow the link to read this one."
            }
            "timeout" | "busy" => {
                "The write-up's source is slow to answer; follow the link to read it, \
                 or reload in a minute."
            }
            "too_large" => "The write-up is too large to show here; follow the link to read it.",
            "not_markdown" => "The link is not a markdown file; follow it to read the write-up.",
            "store_unavailable" => {
                "The write-up cannot be fetched right now; follow the link to read it."
            }
            _ => "The write-up could not be fetched; follow the link to read it.",
        }
    }

    /// The API's 502 for it.
    pub fn into_error(self) -> Error {
        Error::BadGateway(format!(
            "The write-up could not be shown ({}): {}.",
            self.reason, self.detail
        ))
    }
}

/// What is kept in the cache store: the write-up or why not.
#[derive(Serialize, Deserialize)]
enum Kept {
    Shown(Writeup),
    Failed(Failure),
}

impl Kept {
    fn into_result(self) -> Result<Writeup, Failure> {
        match self {
            Kept::Shown(writeup) => Ok(writeup),
            Kept::Failed(failure) => Err(failure),
        }
    }
}

/// The entry's key: the post, its last edit and its URL.
fn key(post: &Post) -> String {
    let url = Sha256::digest(post.markdown_url.as_bytes());
    format!(
        "writeup:{}:{}:{}",
        post.id,
        post.updated_at,
        crate::hex::encode(&url[..12])
    )
}

/// `post`'s write-up: the kept one, or fetched now if none is kept (see
/// the module docs for who fetches and who waits).
pub fn show(context: &Context, post: &Post) -> Result<Writeup, Failure> {
    let key = key(post);
    let give_up = Instant::now() + BOUNDS.total + Duration::from_millis(500);
    loop {
        match cache::recall(context, &key) {
            Recalled::Found(bytes) => {
                if let Some(kept) = decode(&bytes) {
                    return kept;
                }
            }
            Recalled::Unavailable => return Err(store_unavailable()),
            Recalled::Missing => {}
        }
        match cache::claim(context, &key, CLAIM_WINDOW_MS) {
            Some(true) => return fetch_and_keep(context, post, &key),
            Some(false) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Some(false) => {
                // Whoever held the claim is gone: the next request fetches.
                cache::unclaim(context, &key, CLAIM_WINDOW_MS);
                return Err(Failure::new(
                    "busy",
                    "another request is fetching it and has not finished",
                ));
            }
            None => return Err(store_unavailable()),
        }
    }
}

/// Fetches `post`'s write-up under the claim on `key`, keeps the outcome,
/// and gives the claim back, so that a request waiting on the same claim
/// (for this post, or one whose claim shares its slot) goes on at once.
fn fetch_and_keep(context: &Context, post: &Post, key: &str) -> Result<Writeup, Failure> {
    let started = Instant::now();
    let result = fetch_and_render(context, post);
    let (kept, expires) = match &result {
        Ok(writeup) => (Kept::Shown(writeup.clone()), FRESH_MS),
        Err(failure) => (Kept::Failed(failure.clone()), FAILED_MS),
    };
    log_fetch(post, &result, started);
    if let Ok(bytes) = serde_json::to_vec(&kept) {
        cache::remember(context, key, &bytes, now_ms() + expires);
    }
    cache::unclaim(context, key, CLAIM_WINDOW_MS);
    result
}

/// `post`'s write-up if one is kept; never fetches (for a page that must
/// not wait, such as a form sent back with its errors).
pub fn kept(context: &Context, post: &Post) -> Result<Writeup, Failure> {
    recall(context, &key(post)).unwrap_or_else(|| Err(Failure::new("busy", "not fetched yet")))
}

/// The kept entry, if any; `None` for none or a store that failed.
fn recall(context: &Context, key: &str) -> Option<Result<Writeup, Failure>> {
    match cache::recall(context, key) {
        Recalled::Found(bytes) => decode(&bytes),
        Recalled::Missing | Recalled::Unavailable => None,
    }
}

/// A kept entry's outcome, if `bytes` is one.
fn decode(bytes: &[u8]) -> Option<Result<Writeup, Failure>> {
    serde_json::from_slice::<Kept>(bytes)
        .ok()
        .map(Kept::into_result)
}

fn store_unavailable() -> Failure {
    Failure::new(
        "store_unavailable",
        "the cache store, which keeps fetches rare, is unavailable, so nothing is fetched",
    )
}

/// Fetches `post`'s write-up and renders it.
fn fetch_and_render(context: &Context, post: &Post) -> Result<Writeup, Failure> {
    let page = Url::parse(&post.markdown_url)
        .map_err(|_| Failure::new("not_a_url", "the write-up URL cannot be read"))?;
    let raw = sources::raw_url(&page);
    let allowed = &context.config().writeup_sources;
    let fetched = fetch::get(&raw, |url| allowed.check(url), &BOUNDS)
        .map_err(|error| Failure::from_fetch(&error))?;
    let render = Render {
        links_base: page,
        images_base: fetched.url.clone(),
        image_origins: allowed.image_origins(),
    };
    let html = render.html(&fetched.text);
    if html.len() > MAX_HTML_BYTES {
        return Err(Failure::new(
            "too_large",
            "the rendered write-up is larger than 2 MiB",
        ));
    }
    Ok(Writeup {
        source_url: fetched.url.into(),
        html,
        fetched_at: now_ms(),
    })
}

fn log_fetch(post: &Post, result: &Result<Writeup, Failure>, started: Instant) {
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(writeup) => log::info(
            "writeup_fetched",
            &[
                ("post", post.id.to_string().into()),
                ("bytes", writeup.html.len().into()),
                ("duration_ms", ms.into()),
            ],
        ),
        Err(failure) => log::warn(
            "writeup_failed",
            &[
                ("post", post.id.to_string().into()),
                ("reason", failure.reason.clone().into()),
                ("duration_ms", ms.into()),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::testing::id;
    use crate::store::posts::Author;

    fn post(url: &str, updated_at: i64) -> Post {
        Post {
            id: id(7),
            author: Author {
                id: id(1),
                username: "ada".into(),
                display_name: String::new(),
            },
            title: "t".into(),
            description: String::new(),
            markdown_url: url.into(),
            comment_count: 0,
            updated_at,
        }
    }

    #[test]
    fn an_edit_or_a_new_url_is_a_new_entry() {
        let first = key(&post("https://github.com/a/b", 1));
        assert_eq!(first, key(&post("https://github.com/a/b", 1)));
        assert_ne!(first, key(&post("https://github.com/a/b", 2)));
        assert_ne!(first, key(&post("https://github.com/a/c", 1)));
    }

    #[test]
    fn a_kept_entry_survives_the_round_trip() {
        let kept = Kept::Failed(Failure::new("timeout", "slow"));
        let bytes = serde_json::to_vec(&kept).unwrap();
        let back: Kept = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.into_result(), Err(Failure::new("timeout", "slow")));
    }

    #[test]
    fn the_claim_window_outlasts_a_fetch() {
        assert!(Duration::from_millis(CLAIM_WINDOW_MS as u64) > BOUNDS.total);
    }

    #[test]
    fn a_failure_becomes_a_502_that_names_its_reason() {
        let error = Failure::new("timeout", "the source took too long").into_error();
        assert_eq!(error.status(), 502);
        assert!(error.detail().contains("(timeout)"));
    }
}
