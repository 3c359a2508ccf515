//! The load generator: a fixed number of requests at a fixed concurrency,
//! with every latency kept for percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

/// One scenario: what to send.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub component: &'static str,
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub token: Option<String>,
    pub requests: usize,
    pub is_read: bool,
}

/// What a scenario measured.
#[derive(Debug, Serialize)]
pub struct Measured {
    pub name: String,
    pub component: String,
    pub requests: usize,
    pub concurrency: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
    pub sql_statements_per_request: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sends `scenario.requests` requests from `concurrency` workers, each
/// taking the next request as soon as its last one is answered. A
/// non-2xx status or a transport error counts as an error.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    scenario: &Scenario,
    concurrency: usize,
) -> (Vec<Duration>, usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (client, next, scenario) = (client.clone(), next.clone(), scenario.clone());
        let url = format!("{base}{}", scenario.path);
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while next.fetch_add(1, Ordering::Relaxed) < scenario.requests {
                let mut request = client.request(scenario.method.clone(), &url);
                if let Some(body) = &scenario.body {
                    request = request.json(body);
                }
                if let Some(token) = &scenario.token {
                    request = request.bearer_auth(token);
                }
                let sent = Instant::now();
                let ok = match request.send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        // Read the body: a request is done when its answer is.
                        response.bytes().await.is_ok() && ok
                    }
                    Err(_) => false,
                };
                latencies.push(sent.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        })
    });
    let mut latencies = Vec::with_capacity(scenario.requests);
    let mut errors = 0;
    for worker in join_workers(workers.collect()).await {
        let (l, e) = worker;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    (latencies, errors, elapsed)
}

async fn join_workers<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        // A worker panics only on a bug in this file.
        results.push(
            handle
                .await
                .unwrap_or_else(|e| panic!("a load worker failed: {e}")),
        );
    }
    results
}

/// Summarises one run.
pub fn summarise(
    scenario: &Scenario,
    concurrency: usize,
    latencies: &[Duration],
    errors: usize,
    elapsed: Duration,
    statements_per_request: f64,
) -> Measured {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Measured {
        name: scenario.name.clone(),
        component: scenario.component.to_owned(),
        requests: latencies.len(),
        concurrency,
        requests_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(percentile(latencies, 50.0)),
        p99_ms: ms(percentile(latencies, 99.0)),
        errors,
        sql_statements_per_request: statements_per_request,
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
}
