//! The load generator: a fixed number of requests from a fixed number of
//! clients, each sending its next request as soon as its last one is
//! answered, with every latency kept for percentiles and every status and
//! `X-Cache` outcome counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

/// One request to send.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub token: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(&'static str, String)>,
    /// Another app to send it to (`http://127.0.0.1:<port>`) than the
    /// run's.
    pub base: Option<String>,
}

impl Call {
    /// `GET path`, anonymous.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            body: None,
            token: None,
            headers: Vec::new(),
            base: None,
        }
    }

    /// `method path` with `token` and a JSON body, if any.
    pub fn authed(
        method: Method,
        path: impl Into<String>,
        token: &str,
        body: Option<Value>,
    ) -> Self {
        Self {
            method,
            path: path.into(),
            body,
            token: Some(token.to_owned()),
            headers: Vec::new(),
            base: None,
        }
    }

    /// Sends it to the app at `base` instead of the run's.
    pub fn to(mut self, base: impl Into<String>) -> Self {
        self.base = Some(base.into());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The request, ready to send.
    pub fn build(&self, client: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        let base = self.base.as_deref().unwrap_or(base);
        let mut request = client.request(self.method.clone(), format!("{base}{}", self.path));
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
    }
}

/// Which request a client sends next.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// The client, `0..clients`.
    pub client: usize,
    /// How many requests this client has sent before this one.
    pub seq: usize,
    /// A number unique to this request within the run.
    pub index: usize,
}

/// Makes each request of a run.
pub type MakeCall = Arc<dyn Fn(Slot) -> Call + Send + Sync>;

/// How the requests of a run are shared out.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// This many requests in all; each client takes the next one when free.
    Total(usize),
    /// Each client sends exactly this many (its own plan).
    PerClient(usize),
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every request's latency, sorted.
    pub latencies: Vec<Duration>,
    /// Responses by status.
    pub statuses: BTreeMap<u16, usize>,
    /// Requests that got no response.
    pub transport_errors: usize,
    /// Responses by `X-Cache` value (`none` when absent).
    pub cache: BTreeMap<String, usize>,
    pub elapsed: Duration,
    /// CPU time the processes under test used meanwhile (set by the
    /// caller, which knows them).
    pub cpu: Duration,
}

impl Outcome {
    /// Responses outside 2xx and 304, and requests with no response.
    pub fn errors(&self) -> usize {
        self.transport_errors
            + self
                .statuses
                .iter()
                .filter(|(status, _)| !(200..300).contains(*status) && **status != 304)
                .map(|(_, n)| n)
                .sum::<usize>()
    }

    /// Adds `other`'s requests, counts and time to these.
    pub fn absorb(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.transport_errors += other.transport_errors;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (outcome, n) in other.cache {
            *self.cache.entry(outcome).or_default() += n;
        }
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
    }

    /// Responses with `status`.
    pub fn status(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
}

/// Sends the run's requests from `clients` clients.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    clients: usize,
    pace: Pace,
    make: &MakeCall,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..clients).map(|id| {
        let (http, next, make, base) =
            (client.clone(), next.clone(), make.clone(), base.to_owned());
        tokio::spawn(async move {
            let mut seen = Outcome::default();
            for seq in 0.. {
                let index = match pace {
                    Pace::Total(total) => {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= total {
                            break;
                        }
                        index
                    }
                    Pace::PerClient(each) if seq < each => id * each + seq,
                    Pace::PerClient(_) => break,
                };
                let call = make(Slot {
                    client: id,
                    seq,
                    index,
                });
                let sent = Instant::now();
                match call.build(&http, &base).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let cache = response
                            .headers()
                            .get("x-cache")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("none")
                            .to_owned();
                        // A request is done when its whole answer is read.
                        if response.bytes().await.is_ok() {
                            *seen.statuses.entry(status).or_default() += 1;
                            *seen.cache.entry(cache).or_default() += 1;
                        } else {
                            seen.transport_errors += 1;
                        }
                    }
                    Err(_) => seen.transport_errors += 1,
                }
                seen.latencies.push(sent.elapsed());
            }
            seen
        })
    });
    let mut all = Outcome::default();
    for worker in workers.collect::<Vec<_>>() {
        // A worker panics only on a bug in this file.
        let seen = worker
            .await
            .unwrap_or_else(|e| panic!("a load worker failed: {e}"));
        all.absorb(seen);
    }
    all.elapsed = started.elapsed();
    all
}

/// The nearest-rank percentile `p` of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What a run measured, as printed and written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    pub name: String,
    pub requests: usize,
    pub concurrency: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses outside 2xx and 304, plus requests with no answer.
    pub errors: usize,
    pub status_500: usize,
    pub status_503: usize,
    /// Every status seen, with its count.
    pub statuses: BTreeMap<u16, usize>,
    /// `X-Cache` outcomes (`none`: the header was absent).
    pub cache: BTreeMap<String, usize>,
    /// Database statements per request, from the host's counters.
    pub sql_statements_per_request: f64,
    /// CPU time per request of the host (with the load generator, in the
    /// same process), MariaDB and Redis together.
    pub cpu_ms_per_request: f64,
}

/// A duration in milliseconds, as the reports print them.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Measured {
    /// Summarises a run of `name` at `concurrency`, which ran `statements`
    /// database statements.
    pub fn of(name: &str, concurrency: usize, outcome: &Outcome, statements: u64) -> Self {
        let requests = outcome.latencies.len();
        Self {
            name: name.to_owned(),
            requests,
            concurrency,
            requests_per_second: requests as f64 / outcome.elapsed.as_secs_f64().max(1e-9),
            p50_ms: ms(percentile(&outcome.latencies, 50.0)),
            p99_ms: ms(percentile(&outcome.latencies, 99.0)),
            errors: outcome.errors(),
            status_500: outcome.status(500),
            status_503: outcome.status(503),
            statuses: outcome.statuses.clone(),
            cache: outcome.cache.clone(),
            sql_statements_per_request: statements as f64 / requests.max(1) as f64,
            cpu_ms_per_request: ms(outcome.cpu) / requests.max(1) as f64,
        }
    }

    /// The share of responses that were cache hits.
    pub fn hit_ratio(&self) -> f64 {
        let hits = self.cache.get("hit").copied().unwrap_or(0);
        hits as f64 / self.requests.max(1) as f64
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        format!(
            "{:<44} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {:>4}  SQL/req {:>5.2}  hits {:>5.1}%  CPU {:.3} ms/req",
            self.name,
            self.requests_per_second,
            self.p50_ms,
            self.p99_ms,
            self.errors,
            self.sql_statements_per_request,
            self.hit_ratio() * 100.0,
            self.cpu_ms_per_request
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn errors_are_everything_but_success_and_not_modified() {
        let outcome = Outcome {
            statuses: BTreeMap::from([(200, 5), (201, 1), (304, 2), (404, 1), (503, 3)]),
            transport_errors: 2,
            ..Outcome::default()
        };
        assert_eq!(outcome.errors(), 6);
        assert_eq!(outcome.status(503), 3);
        assert_eq!(outcome.status(500), 0);
    }
}
