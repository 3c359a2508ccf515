//! The soak test with faults (issue 13): a fixed number of mixed requests
//! at a fixed concurrency against the app in the test host, a throwaway
//! MariaDB and a throwaway Redis (the response cache on it, as in
//! production), while MariaDB is killed and restarted and bursts of
//! contended writes are fired; then checks that nothing was lost, doubled
//! or miscounted.
//!
//! **The load.** 16 clients, each acting for 3 users of its own, pick each
//! request at random: 90 % reads (the post lists by page and by `before`,
//! posts, comments, users, users' posts), the rest creates, edits and
//! deletes of posts and comments, logins and signups. Every create carries
//! an `Idempotency-Key`. A write answered 503 (or not at all) is sent again,
//! same key and body, a few times, as a client following `Retry-After`
//! would; a read is not. After editing a post, the client reads it back at
//! once (its own write must show).
//!
//! **The faults**, spread through the run (once each per 50,000 requests,
//! at least once): MariaDB is killed (SIGKILL) and restarted a second
//! later; and a burst of contended writes is fired: 32 users commenting on
//! one post at once, then 16 of those comments deleted at once, half by
//! their authors and half by the post's author, while 16 users create posts.
//!
//! **The checks**, each pass or fail (the speed is only reported):
//! - every response agrees with `openapi.yaml` (status, content type,
//!   required headers, body): no status outside the documented ones;
//! - no 500;
//! - every 201's resource is readable through the API afterwards, with its
//!   last edit, unless a later request of the run deleted it (a delete left
//!   without an answer may or may not have happened; either is accepted);
//!   and no deleted resource is readable;
//! - an edit is visible to the editor's next read;
//! - no create happened twice (retries carry the same `Idempotency-Key`);
//! - every counter equals the true `COUNT(*)`, and no comment is without
//!   its post ([`crate::integrity`]).
//!
//! 503s are expected while MariaDB is down; they are counted, within the
//! outage and outside it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use omni_testkit::{MariaDb, workspace_root};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{Answer, Api, User, in_parallel};
use crate::integrity::{self, Invariant};
use crate::load::{self, Call, percentile};
use crate::write_json;

/// Requests in the short form, which CI runs.
pub const DEFAULT_REQUESTS: usize = 5_000;
/// Clients at once.
const CONCURRENCY: usize = 16;
/// Users each client acts for.
const USERS_PER_CLIENT: usize = 3;
/// One MariaDB restart and one burst per this many requests (at least one).
const REQUESTS_PER_FAULT: usize = 50_000;
/// How long MariaDB stays down.
const OUTAGE: Duration = Duration::from_secs(1);
/// Attempts of a write that is answered 503 or not at all.
const WRITE_ATTEMPTS: u32 = 8;
/// 503s up to this long after the restart still count as the outage's.
const OUTAGE_GRACE: Duration = Duration::from_secs(2);

/// A small deterministic random number generator (SplitMix64): the same
/// client picks the same requests in every run.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Whether a resource was deleted by a request of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deleted {
    No,
    /// A delete was answered 204, or 404 (already gone).
    Yes,
    /// A delete got no definite answer: it may have happened.
    Maybe,
}

impl Deleted {
    fn after(self, answer: Option<u16>) -> Self {
        match (self, answer) {
            (_, Some(204 | 404)) | (Self::Yes, _) => Self::Yes,
            (_, Some(503) | None) => Self::Maybe,
            (state, _) => state,
        }
    }
}

#[derive(Debug)]
struct PostRecord {
    id: String,
    /// Index into the ledger's users.
    owner: usize,
    /// The titles it may have now: the last edit answered 200, and any
    /// later edit left without an answer.
    titles: Vec<String>,
    deleted: Deleted,
}

#[derive(Debug)]
struct CommentRecord {
    id: String,
    /// Index into the ledger's posts.
    post: usize,
    owner: usize,
    bodies: Vec<String>,
    deleted: Deleted,
}

/// What the run created and deleted, to check at the end.
#[derive(Debug, Default)]
struct Ledger {
    /// Logged-in users: client `c` acts for users `c * 3 .. c * 3 + 3`.
    users: Vec<User>,
    /// Ids of users signed up during the run.
    signed_up: Vec<String>,
    posts: Vec<PostRecord>,
    comments: Vec<CommentRecord>,
    /// Per user: their posts, and the comments they may delete (their own
    /// and those on their posts).
    posts_of: HashMap<usize, Vec<usize>>,
    comments_of: HashMap<usize, Vec<usize>>,
    deletable_comments_of: HashMap<usize, Vec<usize>>,
}

impl Ledger {
    fn add_post(&mut self, id: String, owner: usize, title: String) -> usize {
        let index = self.posts.len();
        self.posts.push(PostRecord {
            id,
            owner,
            titles: vec![title],
            deleted: Deleted::No,
        });
        self.posts_of.entry(owner).or_default().push(index);
        index
    }

    fn add_comment(&mut self, id: String, post: usize, owner: usize, body: String) {
        let index = self.comments.len();
        let post_owner = self.posts[post].owner;
        self.comments.push(CommentRecord {
            id,
            post,
            owner,
            bodies: vec![body],
            deleted: Deleted::No,
        });
        self.comments_of.entry(owner).or_default().push(index);
        self.deletable_comments_of
            .entry(owner)
            .or_default()
            .push(index);
        if post_owner != owner {
            self.deletable_comments_of
                .entry(post_owner)
                .or_default()
                .push(index);
        }
    }

    /// A random entry of `list` that is not known to be deleted (a few
    /// tries), or any.
    fn pick_live(
        list: Option<&Vec<usize>>,
        live: impl Fn(usize) -> bool,
        rng: &mut Rng,
    ) -> Option<usize> {
        let list = list.filter(|l| !l.is_empty())?;
        let mut choice = list[rng.below(list.len())];
        for _ in 0..8 {
            if live(choice) {
                break;
            }
            choice = list[rng.below(list.len())];
        }
        Some(choice)
    }

    /// A post id to read: half the time one of the 20 newest (reads are
    /// skewed to what is new), else any.
    fn post_to_read(&self, rng: &mut Rng) -> String {
        let n = self.posts.len();
        let index = if rng.below(2) == 0 {
            n - 1 - rng.below(n.min(20))
        } else {
            rng.below(n)
        };
        self.posts[index].id.clone()
    }

    fn user_to_read(&self, rng: &mut Rng) -> String {
        let all = self.users.len() + self.signed_up.len();
        let pick = rng.below(all);
        match self.users.get(pick) {
            Some(user) => user.id.clone(),
            None => self.signed_up[pick - self.users.len()].clone(),
        }
    }
}

/// Everything the run counts.
#[derive(Debug, Default)]
struct Tally {
    /// Responses by operation and status (`0`: no response).
    statuses: BTreeMap<&'static str, BTreeMap<u16, usize>>,
    latencies: Vec<Duration>,
    /// Requests sent again after a 503 or no answer.
    resent: usize,
    violations: Vec<String>,
    stale_reads: Vec<String>,
    /// When each 503 came, since the start.
    unavailable_at: Vec<Duration>,
}

/// The shared state of a run.
struct Run {
    api: Api,
    ledger: Mutex<Ledger>,
    tally: Mutex<Tally>,
    started: Instant,
    /// Requests picked so far (not counting those sent again).
    picked: AtomicUsize,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Run")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Run {
    /// Sends `call` as operation `op`, checks the answer against the
    /// contract and counts it. A write answered 503 or not at all is sent
    /// again, up to [`WRITE_ATTEMPTS`] times. Returns the last answer, if
    /// there was one.
    async fn send(&self, op: &'static str, call: &Call) -> Option<Answer> {
        let write = call.method != Method::GET;
        for attempt in 1..=WRITE_ATTEMPTS {
            let sent = Instant::now();
            let answer = self.api.send(call).await.ok();
            let elapsed = sent.elapsed();
            let status = answer.as_ref().map_or(0, |a| a.status);
            let violation = answer.as_ref().and_then(|a| a.contract_violation(call));
            {
                let mut tally = lock(&self.tally);
                tally.latencies.push(elapsed);
                *tally
                    .statuses
                    .entry(op)
                    .or_default()
                    .entry(status)
                    .or_default() += 1;
                if let Some(violation) = violation {
                    tally.violations.push(violation);
                }
                if status == 503 {
                    tally.unavailable_at.push(self.started.elapsed());
                }
                if write && matches!(status, 0 | 503) && attempt < WRITE_ATTEMPTS {
                    tally.resent += 1;
                }
            }
            if !(write && matches!(status, 0 | 503)) || attempt == WRITE_ATTEMPTS {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        None
    }

    /// One client: picks and sends requests until the run has picked
    /// `requests`.
    async fn client(&self, client: usize, requests: usize) {
        let mut rng = Rng(0x5eed_0000 + client as u64);
        let mine: Vec<usize> =
            (client * USERS_PER_CLIENT..(client + 1) * USERS_PER_CLIENT).collect();
        let mut n = 0;
        while self.picked.fetch_add(1, Ordering::Relaxed) < requests {
            n += 1;
            let me = mine[rng.below(mine.len())];
            let key = format!("soak-{client}-{n}");
            self.one(&mut rng, me, &key).await;
        }
    }

    /// Picks and sends one request as user `me`.
    async fn one(&self, rng: &mut Rng, me: usize, key: &str) {
        let roll = rng.below(1000);
        let (token, post_to_read, user_to_read) = {
            let ledger = lock(&self.ledger);
            (
                ledger.users[me].token.clone(),
                ledger.post_to_read(rng),
                ledger.user_to_read(rng),
            )
        };
        let get = |op, path: String| async move {
            self.send(op, &Call::get(path)).await;
        };
        match roll {
            0..250 => get("GET /api/posts", "/api/posts".into()).await,
            250..330 => {
                let page = 1 + rng.below(5);
                get("GET /api/posts?page", format!("/api/posts?page={page}")).await;
            }
            330..400 => {
                get(
                    "GET /api/posts?before",
                    format!("/api/posts?before={post_to_read}"),
                )
                .await;
            }
            400..600 => get("GET /api/posts/{id}", format!("/api/posts/{post_to_read}")).await,
            600..760 => {
                get(
                    "GET /api/posts/{id}/comments",
                    format!("/api/posts/{post_to_read}/comments"),
                )
                .await;
            }
            760..830 => get("GET /api/users/{id}", format!("/api/users/{user_to_read}")).await,
            830..900 => {
                get(
                    "GET /api/users/{id}/posts",
                    format!("/api/users/{user_to_read}/posts"),
                )
                .await;
            }
            900..925 => self.create_post(me, &token, key).await,
            925..955 => self.create_comment(rng, me, &token, key).await,
            955..965 => self.edit_post(rng, me, &token, key).await,
            965..973 => self.edit_comment(rng, me, &token, key).await,
            973..978 => self.delete_post(rng, me, &token).await,
            978..988 => self.delete_comment(rng, me, &token).await,
            988..996 => self.login(me).await,
            _ => self.signup(key).await,
        }
    }

    async fn create_post(&self, me: usize, token: &str, key: &str) {
        let title = format!("Soak post {key}");
        let call = Call::authed(
            Method::POST,
            "/api/posts",
            token,
            Some(json!({
                "title": title,
                "description": format!("soak create {key}"),
                "markdown_url": "https://example.com/soak.md",
            })),
        )
        .header("idempotency-key", key);
        if let Some(answer) = self.send("POST /api/posts", &call).await
            && answer.status == 201
            && let Some(id) = answer.id()
        {
            lock(&self.ledger).add_post(id, me, title);
        }
    }

    async fn create_comment(&self, rng: &mut Rng, me: usize, token: &str, key: &str) {
        let (post, post_id) = {
            let ledger = lock(&self.ledger);
            let live: Vec<usize> = (0..ledger.posts.len())
                .rev()
                .take(50)
                .filter(|i| ledger.posts[*i].deleted == Deleted::No)
                .collect();
            let post = live.get(rng.below(live.len())).copied().unwrap_or(0);
            (post, ledger.posts[post].id.clone())
        };
        self.comment(
            me,
            token,
            key,
            post,
            &post_id,
            "POST /api/posts/{id}/comments",
        )
        .await;
    }

    /// Comments on post `post` (ledger index) as user `me`.
    async fn comment(
        &self,
        me: usize,
        token: &str,
        key: &str,
        post: usize,
        post_id: &str,
        op: &'static str,
    ) {
        let body = format!("{key} | v0");
        let call = Call::authed(
            Method::POST,
            format!("/api/posts/{post_id}/comments"),
            token,
            Some(json!({ "body": body })),
        )
        .header("idempotency-key", key);
        if let Some(answer) = self.send(op, &call).await
            && answer.status == 201
            && let Some(id) = answer.id()
        {
            lock(&self.ledger).add_comment(id, post, me, body);
        }
    }

    async fn edit_post(&self, rng: &mut Rng, me: usize, token: &str, key: &str) {
        let Some((index, id)) = ({
            let ledger = lock(&self.ledger);
            Ledger::pick_live(
                ledger.posts_of.get(&me),
                |i| ledger.posts[i].deleted == Deleted::No,
                rng,
            )
            .map(|i| (i, ledger.posts[i].id.clone()))
        }) else {
            return;
        };
        let title = format!("Soak post edited {key}");
        let call = Call::authed(
            Method::PATCH,
            format!("/api/posts/{id}"),
            token,
            Some(json!({ "title": title })),
        );
        let status = self
            .send("PATCH /api/posts/{id}", &call)
            .await
            .map(|a| a.status);
        {
            let mut ledger = lock(&self.ledger);
            let post = &mut ledger.posts[index];
            match status {
                Some(200) => post.titles = vec![title.clone()],
                Some(503) | None => post.titles.push(title.clone()),
                _ => {}
            }
        }
        if status == Some(200) {
            // The editor's next read shows the edit, cache or not.
            let read = self
                .send(
                    "GET /api/posts/{id} (own edit)",
                    &Call::get(format!("/api/posts/{id}")),
                )
                .await;
            if let Some(read) = read.filter(|r| r.status == 200)
                && read.json()["title"] != title
            {
                lock(&self.tally).stale_reads.push(format!(
                    "post {id}: edited to {title:?}, read back {}",
                    read.json()["title"]
                ));
            }
        }
    }

    async fn edit_comment(&self, rng: &mut Rng, me: usize, token: &str, key: &str) {
        let Some((index, id)) = ({
            let ledger = lock(&self.ledger);
            Ledger::pick_live(
                ledger.comments_of.get(&me),
                |i| ledger.comments[i].deleted == Deleted::No,
                rng,
            )
            .map(|i| (i, ledger.comments[i].id.clone()))
        }) else {
            return;
        };
        let body = {
            let ledger = lock(&self.ledger);
            let first = &ledger.comments[index].bodies[0];
            format!("{} | {key}", first.split(" | ").next().unwrap_or(first))
        };
        let call = Call::authed(
            Method::PATCH,
            format!("/api/comments/{id}"),
            token,
            Some(json!({ "body": body })),
        );
        let status = self
            .send("PATCH /api/comments/{id}", &call)
            .await
            .map(|a| a.status);
        let mut ledger = lock(&self.ledger);
        let comment = &mut ledger.comments[index];
        match status {
            Some(200) => comment.bodies = vec![body],
            Some(503) | None => comment.bodies.push(body),
            _ => {}
        }
    }

    async fn delete_post(&self, rng: &mut Rng, me: usize, token: &str) {
        let Some((index, id)) = ({
            let ledger = lock(&self.ledger);
            // Post 0 is the burst's target: it stays.
            Ledger::pick_live(
                ledger.posts_of.get(&me),
                |i| i != 0 && ledger.posts[i].deleted == Deleted::No,
                rng,
            )
            .filter(|i| *i != 0)
            .map(|i| (i, ledger.posts[i].id.clone()))
        }) else {
            return;
        };
        let call = Call::authed(Method::DELETE, format!("/api/posts/{id}"), token, None);
        let status = self
            .send("DELETE /api/posts/{id}", &call)
            .await
            .map(|a| a.status);
        let mut ledger = lock(&self.ledger);
        ledger.posts[index].deleted = ledger.posts[index].deleted.after(status);
    }

    async fn delete_comment(&self, rng: &mut Rng, me: usize, token: &str) {
        let Some((index, id)) = ({
            let ledger = lock(&self.ledger);
            Ledger::pick_live(
                ledger.deletable_comments_of.get(&me),
                |i| ledger.comments[i].deleted == Deleted::No,
                rng,
            )
            .map(|i| (i, ledger.comments[i].id.clone()))
        }) else {
            return;
        };
        self.delete_comment_as(index, &id, token, "DELETE /api/comments/{id}")
            .await;
    }

    async fn delete_comment_as(&self, index: usize, id: &str, token: &str, op: &'static str) {
        let call = Call::authed(Method::DELETE, format!("/api/comments/{id}"), token, None);
        let status = self.send(op, &call).await.map(|a| a.status);
        let mut ledger = lock(&self.ledger);
        ledger.comments[index].deleted = ledger.comments[index].deleted.after(status);
    }

    async fn login(&self, me: usize) {
        let (username, password) = {
            let ledger = lock(&self.ledger);
            (
                ledger.users[me].username.clone(),
                ledger.users[me].password.clone(),
            )
        };
        let call = Call {
            method: Method::POST,
            body: Some(json!({ "username": username, "password": password })),
            ..Call::get("/api/login")
        };
        self.send("POST /api/login", &call).await;
    }

    async fn signup(&self, key: &str) {
        let call = Call {
            method: Method::POST,
            body: Some(json!({
                "username": key.replace('-', "_"),
                "password": "soak-password",
            })),
            ..Call::get("/api/signup")
        }
        .header("idempotency-key", key);
        if let Some(answer) = self.send("POST /api/signup", &call).await
            && answer.status == 201
            && let Some(id) = answer.id()
        {
            lock(&self.ledger).signed_up.push(id);
        }
    }

    /// A burst of contended writes: 32 users comment on post 0 at once;
    /// then 16 of those comments are deleted at once, half by their
    /// authors and half by the post's author, while 16 users create posts.
    async fn burst(self: &Arc<Self>, round: usize) {
        let (users, post_id) = {
            let ledger = lock(&self.ledger);
            (ledger.users.clone(), ledger.posts[0].id.clone())
        };
        let commenters: Vec<usize> = (1..=32).map(|i| i % users.len()).collect();
        let run = self.clone();
        let (users_for_comments, post) = (users.clone(), post_id.clone());
        in_parallel(commenters.clone(), 32, move |me| {
            let (run, token, post) = (
                run.clone(),
                users_for_comments[me].token.clone(),
                post.clone(),
            );
            async move {
                let key = format!("burst-{round}-comment-{me}");
                run.comment(
                    me,
                    &token,
                    &key,
                    0,
                    &post,
                    "burst: POST /api/posts/{id}/comments",
                )
                .await;
            }
        })
        .await;
        let targets: Vec<(usize, String, String)> = {
            let ledger = lock(&self.ledger);
            ledger
                .comments
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    c.post == 0
                        && c.deleted == Deleted::No
                        && c.bodies[0].starts_with(&format!("burst-{round}-"))
                })
                .take(16)
                .enumerate()
                .map(|(n, (index, c))| {
                    // Even: the post's author (user 0); odd: the comment's.
                    let by = if n % 2 == 0 { 0 } else { c.owner };
                    (index, c.id.clone(), users[by].token.clone())
                })
                .collect()
        };
        let mut work: Vec<BurstWrite> = targets
            .into_iter()
            .map(|(index, id, token)| BurstWrite::Delete { index, id, token })
            .collect();
        work.extend((0..16).map(|n| BurstWrite::Post {
            me: (n * 3) % users.len(),
        }));
        let run = self.clone();
        in_parallel(work, 32, move |write| {
            let run = run.clone();
            async move {
                match write {
                    BurstWrite::Delete { index, id, token } => {
                        run.delete_comment_as(
                            index,
                            &id,
                            &token,
                            "burst: DELETE /api/comments/{id}",
                        )
                        .await;
                    }
                    BurstWrite::Post { me } => {
                        let token = lock(&run.ledger).users[me].token.clone();
                        run.create_post(me, &token, &format!("burst-{round}-post-{me}"))
                            .await;
                    }
                }
            }
        })
        .await;
    }
}

/// One write of a burst.
#[derive(Debug)]
enum BurstWrite {
    Delete {
        index: usize,
        id: String,
        token: String,
    },
    Post {
        me: usize,
    },
}

/// One MariaDB outage.
#[derive(Debug, Serialize)]
struct Outage {
    /// When MariaDB was killed, in seconds since the app started.
    killed_at_s: f64,
    /// How long it took to come back (kill, pause, restart and recovery).
    down_s: f64,
}

/// What one check found.
#[derive(Debug, Serialize)]
struct Verdict {
    check: String,
    passed: bool,
    /// What broke it (at most 20 examples).
    found: Vec<String>,
}

#[derive(Debug, Serialize)]
struct SoakReport {
    requests: usize,
    /// Writes sent again after a 503 or no answer (counted in `sent`).
    resent: usize,
    sent: usize,
    concurrency: usize,
    seconds: f64,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    outages: Vec<Outage>,
    bursts: usize,
    status_503_in_outages: usize,
    status_503_elsewhere: usize,
    status_500: usize,
    /// Transactions the app ran again after losing a lock race.
    transaction_retries: usize,
    statuses: BTreeMap<&'static str, BTreeMap<u16, usize>>,
    created: BTreeMap<&'static str, usize>,
    invariants: Vec<Invariant>,
    checks: Vec<Verdict>,
    passed: bool,
}

fn verdict(check: impl Into<String>, found: Vec<String>) -> Verdict {
    Verdict {
        check: check.into(),
        passed: found.is_empty(),
        found: found.into_iter().take(20).collect(),
    }
}

/// Prints a progress line, with the seconds since the soak started.
fn progress(message: &str) {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(Instant::now);
    eprintln!("soak [{:6.1}s] {message}", started.elapsed().as_secs_f64());
}

/// Runs the soak test with `requests` requests; true if every check passed.
pub async fn run(requests: usize) -> anyhow::Result<bool> {
    let out = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    progress("starting MariaDB, Redis and the app…");
    // Redis runs for as long as `_redis` lives.
    let (server, _redis, app) = crate::bench::start(Vec::new()).await?;
    let server = Arc::new(Mutex::new(server));
    let api = Api::new(
        reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(30))
            .build()?,
        app.url(),
    );
    let run = Arc::new(Run {
        api: api.clone(),
        ledger: Mutex::new(Ledger::default()),
        tally: Mutex::new(Tally::default()),
        started: Instant::now(),
        picked: AtomicUsize::new(0),
    });
    progress("signing up users and creating posts…");
    seed(&run, &api).await?;
    let load_started = Instant::now();

    let faults = (requests / REQUESTS_PER_FAULT).max(1);
    progress(&format!(
        "{requests} requests at {CONCURRENCY} clients; MariaDB restarted {faults}×, {faults} burst(s)…"
    ));
    let injector = {
        let (run, server) = (run.clone(), server.clone());
        tokio::spawn(async move { inject_faults(run, server, requests, faults).await })
    };
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|client| {
            let run = run.clone();
            tokio::spawn(async move { run.client(client, requests).await })
        })
        .collect();
    for client in clients {
        client.await?;
    }
    let outages = injector.await??;
    let seconds = load_started.elapsed().as_secs_f64();
    progress(&format!(
        "load done in {seconds:.1}s; reading every created resource back…"
    ));
    let load = std::mem::take(&mut *lock(&run.tally));

    // Let every cached entry expire, so that what the API shows now is
    // what the database holds, then read every created resource back.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let mut checks = Vec::new();
    checks.push(verdict(
        "every 201's resource is readable (with its last edit) unless deleted, and no deleted one is",
        read_back(&run).await,
    ));
    progress("checking the counters against the data…");
    let mut db = app.db().await;
    let invariants = integrity::check(&mut db).await?;
    let duplicates = duplicates(&mut db).await?;
    db.disconnect().await?;

    let transaction_retries = app
        .logs()
        .iter()
        .filter(|l| l.contains(r#""event":"transaction_retried""#))
        .count();
    let verification = std::mem::take(&mut *lock(&run.tally));
    let mut statuses = load.statuses.clone();
    statuses.extend(verification.statuses);
    let all_statuses: BTreeMap<u16, usize> =
        statuses
            .values()
            .flatten()
            .fold(BTreeMap::new(), |mut all, (status, n)| {
                *all.entry(*status).or_default() += n;
                all
            });
    let status_500 = all_statuses.get(&500).copied().unwrap_or(0);
    let in_outage = |at: &Duration| {
        outages.iter().any(|o| {
            let from = Duration::from_secs_f64(o.killed_at_s);
            let to = from + Duration::from_secs_f64(o.down_s) + OUTAGE_GRACE;
            (from..=to).contains(at)
        })
    };
    let status_503_in_outages = load
        .unavailable_at
        .iter()
        .filter(|at| in_outage(at))
        .count();
    checks.insert(
        0,
        verdict(
            "every response agrees with openapi.yaml (documented status, content type, headers, body)",
            [load.violations, verification.violations].concat(),
        ),
    );
    checks.insert(
        1,
        verdict(
            "no 500",
            if status_500 == 0 {
                vec![]
            } else {
                app.logs()
                    .into_iter()
                    .filter(|l| l.contains(r#""status":500"#))
                    .collect()
            },
        ),
    );
    checks.push(verdict(
        "an edit shows in the editor's next read",
        load.stale_reads,
    ));
    checks.push(verdict(
        "no create happened twice (retries carry the same Idempotency-Key)",
        duplicates,
    ));
    for invariant in &invariants {
        checks.push(verdict(
            invariant.rule,
            if invariant.broken == 0 {
                vec![]
            } else {
                vec![format!("{} broken", invariant.broken)]
            },
        ));
    }
    let sent = load.latencies.len();
    let mut latencies = load.latencies;
    latencies.sort_unstable();
    let created = {
        let ledger = lock(&run.ledger);
        BTreeMap::from([
            ("posts", ledger.posts.len()),
            ("comments", ledger.comments.len()),
            ("users", ledger.users.len() + ledger.signed_up.len()),
        ])
    };
    let report = SoakReport {
        requests,
        resent: load.resent,
        sent,
        concurrency: CONCURRENCY,
        seconds,
        requests_per_second: sent as f64 / seconds,
        p50_ms: load::ms(percentile(&latencies, 50.0)),
        p99_ms: load::ms(percentile(&latencies, 99.0)),
        bursts: faults,
        status_503_in_outages,
        status_503_elsewhere: load.unavailable_at.len() - status_503_in_outages,
        status_500,
        transaction_retries,
        statuses,
        created,
        invariants,
        passed: checks.iter().all(|c| c.passed),
        checks,
        outages,
    };
    print(&report);
    let path = write_json(&out, &format!("soak-{requests}.json"), &report)?;
    println!("\nwritten to {}", path.display());
    Ok(report.passed)
}

/// Users (3 per client), a post for the bursts, and a few posts and
/// comments to start from.
async fn seed(run: &Arc<Run>, api: &Api) -> anyhow::Result<()> {
    let users = api.users("soak", CONCURRENCY * USERS_PER_CLIENT).await?;
    let posts: Vec<(usize, Call)> = (0..users.len() * 2)
        .map(|n| {
            let owner = n % users.len();
            (
                owner,
                Call::authed(
                    Method::POST,
                    "/api/posts",
                    &users[owner].token,
                    Some(json!({
                        "title": format!("Soak post seed {n}"),
                        "markdown_url": "https://example.com/seed.md",
                    })),
                ),
            )
        })
        .collect();
    let answers = api
        .all(posts.iter().map(|(_, c)| c.clone()).collect(), 201, 8)
        .await?;
    let mut ledger = lock(&run.ledger);
    ledger.users = users;
    for (n, ((owner, _), answer)) in posts.iter().zip(answers).enumerate() {
        ledger.add_post(
            answer.id().unwrap_or_default(),
            *owner,
            format!("Soak post seed {n}"),
        );
    }
    Ok(())
}

/// Fires the faults as the run passes each point: restart `k` at
/// `(k + 1/3) / faults` of the requests, burst `k` at `(k + 2/3) / faults`.
async fn inject_faults(
    run: Arc<Run>,
    server: Arc<Mutex<MariaDb>>,
    requests: usize,
    faults: usize,
) -> anyhow::Result<Vec<Outage>> {
    let started = run.started;
    let mut outages = Vec::new();
    for k in 0..faults {
        let point = |third: usize| (requests * (3 * k + third)) / (3 * faults);
        wait_for(&run, point(1)).await;
        let killed_at = started.elapsed();
        progress(&format!("killing MariaDB at request {}", point(1)));
        let server = server.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            lock(&server).stop()?;
            std::thread::sleep(OUTAGE);
            lock(&server).restart()
        })
        .await??;
        let down = started.elapsed() - killed_at;
        progress(&format!("MariaDB back after {:.1}s", down.as_secs_f64()));
        outages.push(Outage {
            killed_at_s: killed_at.as_secs_f64(),
            down_s: down.as_secs_f64(),
        });
        wait_for(&run, point(2)).await;
        progress(&format!(
            "burst of contended writes at request {}",
            point(2)
        ));
        run.burst(k).await;
    }
    Ok(outages)
}

async fn wait_for(run: &Run, picked: usize) {
    while run.picked.load(Ordering::Relaxed) < picked {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads every resource the run created back through the API, and says
/// what is not as the run left it.
async fn read_back(run: &Arc<Run>) -> Vec<String> {
    let mut probes = Vec::new();
    {
        let ledger = lock(&run.ledger);
        for id in ledger.users.iter().map(|u| &u.id).chain(&ledger.signed_up) {
            probes.push(Probe::User(id.clone()));
        }
        for post in &ledger.posts {
            probes.push(Probe::Post {
                id: post.id.clone(),
                deleted: post.deleted,
                titles: post.titles.clone(),
            });
        }
        for comment in &ledger.comments {
            let post = &ledger.posts[comment.post];
            let deleted = match (comment.deleted, post.deleted) {
                (Deleted::Yes, _) | (_, Deleted::Yes) => Deleted::Yes,
                (Deleted::Maybe, _) | (_, Deleted::Maybe) => Deleted::Maybe,
                _ => Deleted::No,
            };
            probes.push(Probe::Comment {
                id: comment.id.clone(),
                post: post.id.clone(),
                deleted,
                bodies: comment.bodies.clone(),
            });
        }
    }
    let run = run.clone();
    in_parallel(probes, CONCURRENCY, move |probe| {
        let run = run.clone();
        async move { probe.check(&run).await }
    })
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// One created resource to read back.
#[derive(Debug)]
enum Probe {
    User(String),
    Post {
        id: String,
        deleted: Deleted,
        titles: Vec<String>,
    },
    Comment {
        id: String,
        post: String,
        deleted: Deleted,
        bodies: Vec<String>,
    },
}

impl Probe {
    /// What is wrong with the resource, if anything.
    async fn check(self, run: &Run) -> Option<String> {
        match self {
            Probe::User(id) => {
                let answer = run
                    .send("read back: user", &Call::get(format!("/api/users/{id}")))
                    .await;
                let status = answer.map_or(0, |a| a.status);
                (status != 200).then(|| format!("user {id}: {status}"))
            }
            Probe::Post {
                id,
                deleted,
                titles,
            } => {
                let answer = run
                    .send("read back: post", &Call::get(format!("/api/posts/{id}")))
                    .await?;
                let title = answer.json()["title"].as_str().map(str::to_owned);
                present(
                    &format!("post {id}"),
                    deleted,
                    answer.status,
                    title.as_deref(),
                    &titles,
                )
            }
            Probe::Comment {
                id,
                post,
                deleted,
                bodies,
            } => {
                // The comment is the first of its post's comments older
                // than the next id, if it exists.
                let next: u64 = id.parse::<u64>().unwrap_or_default() + 1;
                let answer = run
                    .send(
                        "read back: comment",
                        &Call::get(format!("/api/posts/{post}/comments?before={next}")),
                    )
                    .await?;
                let json = answer.json();
                let first = &json["items"][0];
                let (status, body) =
                    if answer.status == 200 && first["id"] == Value::String(id.clone()) {
                        (200, first["body"].as_str().map(str::to_owned))
                    } else if matches!(answer.status, 200 | 404) {
                        (404, None)
                    } else {
                        (answer.status, None)
                    };
                present(
                    &format!("comment {id}"),
                    deleted,
                    status,
                    body.as_deref(),
                    &bodies,
                )
            }
        }
    }
}

/// Whether a resource read back as `status` with `content` is as the run
/// left it.
fn present(
    what: &str,
    deleted: Deleted,
    status: u16,
    content: Option<&str>,
    allowed: &[String],
) -> Option<String> {
    match (deleted, status) {
        (Deleted::Yes, 404) | (Deleted::Maybe, 404) => None,
        (Deleted::No | Deleted::Maybe, 200) => match content {
            Some(content) if allowed.iter().any(|a| a == content) => None,
            other => Some(format!(
                "{what}: shows {other:?}, expected one of {allowed:?}"
            )),
        },
        (Deleted::Yes, 200) => Some(format!("{what}: deleted, but still readable")),
        (Deleted::No, 404) => Some(format!("{what}: created (201) and never deleted, but gone")),
        (_, status) => Some(format!("{what}: read back with status {status}")),
    }
}

/// Creates that happened twice: two posts from one create's description,
/// or two comments from one create's key.
async fn duplicates(db: &mut mysql_async::Conn) -> anyhow::Result<Vec<String>> {
    let posts: Vec<(String, i64)> = db
        .query(
            "SELECT description, COUNT(*) FROM posts WHERE description LIKE 'soak create %' \
             GROUP BY description HAVING COUNT(*) > 1",
        )
        .await?;
    let comments: Vec<(String, i64)> = db
        .query(
            "SELECT SUBSTRING_INDEX(body, ' | ', 1) AS created, COUNT(*) FROM comments \
             GROUP BY created HAVING COUNT(*) > 1",
        )
        .await?;
    Ok(posts
        .into_iter()
        .chain(comments)
        .map(|(what, n)| format!("{what}: {n} times"))
        .collect())
}

fn print(report: &SoakReport) {
    println!(
        "\nSoak: {} requests ({} sent, {} of them writes sent again after a 503), {} clients, {:.1}s, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        report.requests,
        report.sent,
        report.resent,
        report.concurrency,
        report.seconds,
        report.requests_per_second,
        report.p50_ms,
        report.p99_ms
    );
    for outage in &report.outages {
        println!(
            "MariaDB killed at {:.1}s, back {:.1}s later",
            outage.killed_at_s, outage.down_s
        );
    }
    println!(
        "{} burst(s) of contended writes; 503s: {} during outages, {} elsewhere; 500s: {}; transactions retried: {}",
        report.bursts,
        report.status_503_in_outages,
        report.status_503_elsewhere,
        report.status_500,
        report.transaction_retries
    );
    println!("created: {:?}\n", report.created);
    println!("{:<44} statuses (0: no answer)", "operation");
    for (op, statuses) in &report.statuses {
        let list: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!("{op:<44} {}", list.join("  "));
    }
    println!("\nchecks:");
    for check in &report.checks {
        println!(
            "  [{}] {}",
            if check.passed { "pass" } else { "FAIL" },
            check.check
        );
        for found in &check.found {
            println!("        {found}");
        }
    }
    println!("\nsoak {}", if report.passed { "passed" } else { "FAILED" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_counts_once_it_is_answered_and_may_count_if_it_is_not() {
        assert_eq!(Deleted::No.after(Some(204)), Deleted::Yes);
        assert_eq!(Deleted::No.after(Some(404)), Deleted::Yes);
        assert_eq!(Deleted::No.after(Some(503)), Deleted::Maybe);
        assert_eq!(Deleted::No.after(None), Deleted::Maybe);
        assert_eq!(Deleted::Maybe.after(Some(204)), Deleted::Yes);
        assert_eq!(Deleted::Yes.after(Some(503)), Deleted::Yes);
        assert_eq!(Deleted::No.after(Some(403)), Deleted::No);
    }

    #[test]
    fn a_resource_must_read_back_as_the_run_left_it() {
        let allowed = ["a".to_owned(), "b".to_owned()];
        assert_eq!(present("p", Deleted::No, 200, Some("b"), &allowed), None);
        assert_eq!(present("p", Deleted::Maybe, 404, None, &allowed), None);
        assert_eq!(present("p", Deleted::Maybe, 200, Some("a"), &allowed), None);
        assert_eq!(present("p", Deleted::Yes, 404, None, &allowed), None);
        for broken in [
            present("p", Deleted::No, 404, None, &allowed),
            present("p", Deleted::Yes, 200, Some("a"), &allowed),
            present("p", Deleted::No, 200, Some("c"), &allowed),
            present("p", Deleted::No, 503, None, &allowed),
        ] {
            assert!(broken.is_some());
        }
    }

    #[test]
    fn the_random_numbers_repeat_per_seed_and_stay_below_the_bound() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let picks: Vec<usize> = (0..100).map(|_| a.below(10)).collect();
        assert_eq!(picks, (0..100).map(|_| b.below(10)).collect::<Vec<_>>());
        assert!(picks.iter().all(|n| *n < 10));
        assert!((0..10).all(|n| picks.contains(&n)));
    }
}
