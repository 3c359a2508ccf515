//! A small client of the running app: send one [`Call`] and read the whole
//! answer, optionally checked against `openapi.yaml`; sign users up.

use anyhow::{Context, bail};
use omni_testkit::openapi::{self, Exchange};
use reqwest::Method;
use serde_json::{Value, json};

use crate::load::Call;

/// The app at `base`.
#[derive(Clone, Debug)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    /// Header names, lower case.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `id` field of a JSON body.
    pub fn id(&self) -> Option<String> {
        self.json()["id"].as_str().map(str::to_owned)
    }

    /// Whether it breaks `openapi.yaml` as the answer to `call`: an
    /// undocumented status, content type or body, or a missing required
    /// header.
    pub fn contract_violation(&self, call: &Call) -> Option<String> {
        let path = call.path.split('?').next().unwrap_or(&call.path);
        openapi::contract()
            .check(&Exchange {
                method: call.method.as_str(),
                path,
                status: self.status,
                content_type: self.content_type.as_deref(),
                headers: self.headers.clone(),
                body: &self.body,
            })
            .err()
            .map(|e| format!("{} {}: {e:#}", call.method, call.path))
    }
}

/// A signed-up, logged-in user.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password: String,
    pub token: String,
}

impl Api {
    /// A client of the app at `base` (`http://host:port`).
    pub fn new(client: reqwest::Client, base: String) -> Self {
        Self { client, base }
    }

    /// Sends `call` and reads the whole answer.
    pub async fn send(&self, call: &Call) -> reqwest::Result<Answer> {
        let response = call.build(&self.client, &self.base).send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let headers = response
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        let body = response.bytes().await?.to_vec();
        Ok(Answer {
            status,
            content_type,
            headers,
            body,
        })
    }

    /// Sends `call`, which must answer `status`.
    pub async fn expect(&self, call: &Call, status: u16) -> anyhow::Result<Answer> {
        let answer = self.send(call).await?;
        if answer.status != status {
            bail!(
                "{} {} answered {}, not {status}: {}",
                call.method,
                call.path,
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        Ok(answer)
    }

    /// Signs `username` up and logs them in.
    pub async fn user(&self, username: &str) -> anyhow::Result<User> {
        let password = format!("{username}-password");
        let credentials = json!({ "username": username, "password": password });
        let signup = Call {
            method: Method::POST,
            body: Some(credentials.clone()),
            ..Call::get("/api/signup")
        };
        let id = self.expect(&signup, 201).await?.id().context("a user id")?;
        let login = Call {
            method: Method::POST,
            body: Some(credentials),
            ..Call::get("/api/login")
        };
        let token = self.expect(&login, 200).await?.json()["token"]
            .as_str()
            .context("a token")?
            .to_owned();
        Ok(User {
            id,
            username: username.to_owned(),
            password,
            token,
        })
    }

    /// Signs up and logs in `count` users named `<prefix><n>`, 8 at a time.
    pub async fn users(&self, prefix: &str, count: usize) -> anyhow::Result<Vec<User>> {
        let names = (0..count).map(|n| format!("{prefix}{n}")).collect();
        let api = self.clone();
        in_parallel(names, 8, move |name: String| {
            let api = api.clone();
            async move { api.user(&name).await }
        })
        .await
        .into_iter()
        .collect()
    }

    /// Sends every call, `width` at a time, each of which must answer
    /// `status`; returns the answers in order.
    pub async fn all(
        &self,
        calls: Vec<Call>,
        status: u16,
        width: usize,
    ) -> anyhow::Result<Vec<Answer>> {
        let api = self.clone();
        in_parallel(calls, width, move |call: Call| {
            let api = api.clone();
            async move { api.expect(&call, status).await }
        })
        .await
        .into_iter()
        .collect()
    }
}

/// Runs `work` on every item, `width` at a time; the results in order.
pub async fn in_parallel<T, F, Fut>(items: Vec<T>, width: usize, work: F) -> Vec<Fut::Output>
where
    F: Fn(T) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let mut results = Vec::with_capacity(items.len());
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut tasks = tokio::task::JoinSet::new();
        for (offset, item) in items.by_ref().take(width.max(1)).enumerate() {
            let job = work(item);
            tasks.spawn(async move { (offset, job.await) });
        }
        let mut done = tasks.join_all().await;
        done.sort_by_key(|(offset, _)| *offset);
        results.extend(done.into_iter().map(|(_, result)| result));
    }
    results
}
