//! Clients that keep writing while the database underneath fails or is
//! copied: each creates a post with an Idempotency-Key, reads it back at
//! once, and comments on it with another key, sending a create again (same
//! key, same body) after a 503 as a client following Retry-After would. They
//! record every answer and every acknowledged create.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use omni_testkit::{TestApp, TestResponse, TestUser};
use reqwest::Method;
use serde_json::json;
use tokio::task::JoinHandle;

/// How long waiting for acknowledgements may take on a loaded machine.
const ACK_TIMEOUT: Duration = Duration::from_secs(240);
/// Attempts of one request answered 503.
const ATTEMPTS: u32 = 100;

/// One answered request.
#[derive(Debug)]
pub struct Attempt {
    pub sent: Instant,
    pub answered: Instant,
    pub status: u16,
    /// For a 503: whether it said when to retry.
    pub retry_after: bool,
}

/// An acknowledged create: the id, and when the request that got the 201
/// was sent and answered.
#[derive(Clone, Debug)]
pub struct Ack {
    pub id: String,
    pub sent: Instant,
    pub answered: Instant,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Record {
    pub attempts: Vec<Attempt>,
    pub posts: Vec<Ack>,
    pub comments: Vec<Ack>,
    /// Answers no client may get: anything but 2xx, or 503 with
    /// Retry-After.
    pub wrong: Vec<String>,
}

impl Record {
    /// Every acknowledged create, posts then comments.
    pub fn acks(&self) -> impl Iterator<Item = &Ack> {
        self.posts.iter().chain(&self.comments)
    }

    /// Asserts every answer was a success or a 503 with Retry-After, and
    /// never a 500.
    pub fn assert_only_successes_and_503s(&self, app: &TestApp) {
        assert!(self.wrong.is_empty(), "{:#?}", self.wrong);
        assert!(
            self.attempts.iter().all(|a| a.status != 500),
            "500s: {}",
            app.logs().join("\n")
        );
        for attempt in &self.attempts {
            assert!(matches!(attempt.status, 200 | 201 | 503), "{attempt:?}");
            if attempt.status == 503 {
                assert!(attempt.retry_after, "a 503 without Retry-After");
            }
        }
    }
}

/// The writing clients, running until [`Writers::stop`].
#[derive(Debug)]
pub struct Writers {
    shared: Arc<Shared>,
    clients: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    app: Arc<TestApp>,
    record: Mutex<Record>,
    acks: AtomicUsize,
    stop: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writers {
    /// One client per user, writing through `app`; `tag` starts every
    /// title and body, so each create is unique.
    pub fn start(app: Arc<TestApp>, users: Vec<TestUser>, tag: &str) -> Self {
        let shared = Arc::new(Shared {
            app,
            record: Mutex::new(Record::default()),
            acks: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let clients = users
            .into_iter()
            .enumerate()
            .map(|(n, user)| tokio::spawn(shared.clone().client(format!("{tag}-{n}"), user)))
            .collect();
        Writers { shared, clients }
    }

    /// Acknowledged creates so far.
    pub fn acks(&self) -> usize {
        self.shared.acks.load(Ordering::Relaxed)
    }

    /// Waits until `more` creates beyond `from` are acknowledged, failing
    /// at once if a client got a wrong answer. Returns the count.
    pub async fn wait_for_acks(&self, from: usize, more: usize, phase: &str) -> usize {
        let deadline = Instant::now() + ACK_TIMEOUT;
        loop {
            let acks = self.acks();
            if acks >= from + more {
                return acks;
            }
            let wrong = lock(&self.shared.record).wrong.clone();
            assert!(wrong.is_empty(), "{phase}: {wrong:#?}");
            assert!(
                Instant::now() < deadline,
                "{phase}: only {} creates acknowledged in {ACK_TIMEOUT:?}",
                acks - from
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the clients after their current request, and returns what
    /// they saw.
    pub async fn stop(self) -> Record {
        self.shared.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.await.unwrap();
        }
        std::mem::take(&mut *lock(&self.shared.record))
    }
}

impl Shared {
    /// Sends a request until it is answered with something other than 503
    /// (the whole answer checked against openapi.yaml by the test app).
    /// Returns the answer, and when its request was sent and answered.
    async fn until_answered(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        what: &str,
    ) -> Option<(TestResponse, Instant, Instant)> {
        for attempt in 1..=ATTEMPTS {
            let sent = Instant::now();
            let response = self.app.send(build()).await;
            let answered = Instant::now();
            lock(&self.record).attempts.push(Attempt {
                sent,
                answered,
                status: response.status,
                retry_after: response.header("retry-after").is_some(),
            });
            if response.status != 503 {
                return Some((response, sent, answered));
            }
            let pause = 50 * u64::from(attempt.min(10));
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        lock(&self.record)
            .wrong
            .push(format!("{what}: still 503 after {ATTEMPTS} attempts"));
        None
    }

    /// Creates with `key` until acknowledged.
    async fn create(
        &self,
        path: &str,
        body: serde_json::Value,
        user: &TestUser,
        key: &str,
    ) -> Option<Ack> {
        let (response, sent, answered) = self
            .until_answered(
                || {
                    self.app
                        .request(Method::POST, path)
                        .bearer_auth(&user.token)
                        .header("idempotency-key", key)
                        .json(&body)
                },
                &format!("POST {path} ({key})"),
            )
            .await?;
        if response.status != 201 {
            lock(&self.record).wrong.push(format!(
                "POST {path} ({key}): {} {}",
                response.status,
                response.text()
            ));
            return None;
        }
        let id = response.json()["id"].as_str()?.to_owned();
        Some(Ack { id, sent, answered })
    }

    async fn client(self: Arc<Self>, name: String, user: TestUser) {
        let mut n = 0;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let key = format!("{name}-{n}");
            let Some(post) = self
                .create(
                    "/api/posts",
                    json!({ "title": key, "markdown_url": "https://example.com/w.md" }),
                    &user,
                    &key,
                )
                .await
            else {
                continue;
            };
            let id = post.id.clone();
            lock(&self.record).posts.push(post);
            self.acks.fetch_add(1, Ordering::Relaxed);
            // The client reads its own post back at once.
            let path = format!("/api/posts/{id}");
            if let Some((read, ..)) = self
                .until_answered(|| self.app.request(Method::GET, &path), &path)
                .await
                && read.status != 200
            {
                lock(&self.record).wrong.push(format!(
                    "GET {path} after its 201: {} {}",
                    read.status,
                    read.text()
                ));
            }
            let comment_key = format!("{key}-comment");
            if let Some(comment) = self
                .create(
                    &format!("/api/posts/{id}/comments"),
                    json!({ "body": comment_key }),
                    &user,
                    &comment_key,
                )
                .await
            {
                lock(&self.record).comments.push(comment);
                self.acks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
