//! The soak's clients: each picks requests at random as one of its users,
//! sends them, checks every answer against the contract, and records what
//! it created ([`super::ledger`]) and what it saw ([`Tally`]); and the
//! bursts of contended writes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::ledger::{Deleted, Ledger, Rng};
use super::{USERS_PER_CLIENT, WRITE_ATTEMPTS};
use crate::api::{Answer, Api, in_parallel};
use crate::load::Call;

/// Everything the run counts.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Responses by operation and status (`0`: no response).
    pub(super) statuses: BTreeMap<&'static str, BTreeMap<u16, usize>>,
    pub(super) latencies: Vec<Duration>,
    /// Requests sent again after a 503 or no answer.
    pub(super) resent: usize,
    pub(super) violations: Vec<String>,
    pub(super) stale_reads: Vec<String>,
    /// When each 503 came, since the start.
    pub(super) unavailable_at: Vec<Duration>,
}

/// The shared state of a run.
pub(super) struct Run {
    pub(super) api: Api,
    pub(super) ledger: Mutex<Ledger>,
    pub(super) tally: Mutex<Tally>,
    pub(super) started: Instant,
    /// Requests picked so far (not counting those sent again).
    pub(super) picked: AtomicUsize,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Run")
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Run {
    /// Sends `call` as operation `op`, checks the answer against the
    /// contract and counts it. A write answered 503 or not at all is sent
    /// again, up to [`WRITE_ATTEMPTS`] times. Returns the last answer, if
    /// there was one.
    pub(super) async fn send(&self, op: &'static str, call: &Call) -> Option<Answer> {
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
    pub(super) async fn client(&self, client: usize, requests: usize) {
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
    pub(super) async fn burst(self: &Arc<Self>, round: usize) {
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
