//! Reads through the response cache, each measured four ways:
//!
//! - **uncached**: the request carries an `Authorization` header, which the
//!   cache never serves or stores (public GETs do not check it), so it
//!   runs exactly as it would with no cache: its one SQL statement, and no
//!   key-value call at all;
//! - **cold**: the cache is on but every request misses: the request goes
//!   to a second app on the same database whose cache Redis keeps nothing
//!   (its memory cap is a byte, so it refuses every store). The miss pays
//!   what a real one does: the `MGET`, the query, and sending the store;
//! - **hot**: the same request again and again, so all but the first after
//!   each entry's 2 s expiry are hits;
//! - **mixed**: a realistic hit ratio: every 20th request is a cold one,
//!   the rest hot, so about 95 % hits.
//!
//! The four take turns, in rounds, so that other work on the machine
//! weighs on them alike.

use std::sync::Arc;

use serde::Serialize;

use crate::bench::Bench;
use crate::load::{Call, MakeCall, Measured, Outcome, Pace};

/// Rounds of the four variants.
const ROUNDS: usize = 3;

/// A public read.
#[derive(Clone, Debug)]
pub struct Read {
    pub name: &'static str,
    pub component: &'static str,
    pub path: String,
}

/// How a read meets the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Uncached,
    Cold,
    Hot,
    Mixed,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Self::Uncached => "uncached",
            Self::Cold => "cold",
            Self::Hot => "hot",
            Self::Mixed => "mixed",
        }
    }
}

/// One read's four figures, and what they say about the cache.
#[derive(Debug, Serialize)]
pub struct ReadFigures {
    pub scenario: String,
    pub uncached: Measured,
    pub cold: Measured,
    pub hot: Measured,
    pub mixed: Measured,
    /// Hot throughput over uncached (the cache's target for page 1 and a
    /// post: at least 3).
    pub hot_over_uncached: f64,
    /// Uncached CPU per request over hot: the throughput ratio a machine
    /// doing nothing else would show.
    pub hot_over_uncached_by_cpu: f64,
    /// What a miss adds to a request at p50: cold minus uncached, in ms.
    pub miss_cost_p50_ms: f64,
    /// What a miss adds to a request's CPU time: cold minus uncached, in ms.
    pub miss_cost_cpu_ms: f64,
    /// Cold throughput over uncached (below 1: the price of a miss).
    pub cold_over_uncached: f64,
}

/// The request `variant` of `read` sends as its `index`-th, where the app
/// at `cold_base` is the one whose cache always misses.
fn call(read: &Read, variant: Variant, cold_base: &str, index: usize, token: &str) -> Call {
    let cold = || Call::get(&read.path).to(cold_base);
    match variant {
        Variant::Uncached => {
            Call::get(&read.path).header("authorization", format!("Bearer {token}"))
        }
        Variant::Cold => cold(),
        Variant::Hot => Call::get(&read.path),
        Variant::Mixed if index.is_multiple_of(20) => cold(),
        Variant::Mixed => Call::get(&read.path),
    }
}

/// The requests of a run of `variant` of `read`.
pub fn make(bench: &Bench, read: &Read, variant: Variant) -> MakeCall {
    let (read, token) = (read.clone(), bench.token().to_owned());
    let cold_base = bench.cold_url();
    Arc::new(move |slot| call(&read, variant, &cold_base, slot.index, &token))
}

fn name(read: &Read, variant: Variant) -> String {
    format!("{} {}", read.name, variant.label())
}

/// Measures `read` four ways, in [`ROUNDS`] rounds of a third of the
/// requests each, the variants taking turns: whatever else the machine is
/// doing then weighs on all four alike.
pub async fn figures(bench: &Bench, read: &Read, requests: usize, clients: usize) -> ReadFigures {
    const VARIANTS: [Variant; 4] = [
        Variant::Uncached,
        Variant::Cold,
        Variant::Hot,
        Variant::Mixed,
    ];
    let mut seen: [(Outcome, u64); 4] = Default::default();
    for round in 0..ROUNDS {
        for (variant, (outcome, statements)) in VARIANTS.into_iter().zip(&mut seen) {
            let component = read.component;
            if round == 0 {
                let warm_up = Pace::Total((requests / 10).max(20));
                bench
                    .outcome(component, clients, warm_up, &make(bench, read, variant))
                    .await;
            }
            let pace = Pace::Total(requests / ROUNDS);
            let (part, part_statements) = bench
                .outcome(component, clients, pace, &make(bench, read, variant))
                .await;
            outcome.absorb(part);
            *statements += part_statements;
        }
    }
    let [uncached, cold, hot, mixed] = seen;
    let summary = |variant, (outcome, statements): (Outcome, u64)| {
        let measured = Measured::of(&name(read, variant), clients, &outcome, statements);
        eprintln!("  {}", measured.line());
        measured
    };
    let (uncached, cold) = (
        summary(Variant::Uncached, uncached),
        summary(Variant::Cold, cold),
    );
    let (hot, mixed) = (summary(Variant::Hot, hot), summary(Variant::Mixed, mixed));
    ReadFigures {
        scenario: read.name.to_owned(),
        hot_over_uncached: hot.requests_per_second / uncached.requests_per_second,
        hot_over_uncached_by_cpu: uncached.cpu_ms_per_request / hot.cpu_ms_per_request,
        miss_cost_p50_ms: cold.p50_ms - uncached.p50_ms,
        miss_cost_cpu_ms: cold.cpu_ms_per_request - uncached.cpu_ms_per_request,
        cold_over_uncached: cold.requests_per_second / uncached.requests_per_second,
        uncached,
        cold,
        hot,
        mixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> Read {
        Read {
            name: "r",
            component: "posts",
            path: path.into(),
        }
    }

    const COLD: &str = "http://127.0.0.1:9";

    #[test]
    fn cold_requests_go_to_the_app_that_keeps_nothing_unchanged() {
        let page = read("/api/posts?page=3");
        let cold = call(&page, Variant::Cold, COLD, 7, "t");
        assert_eq!(cold.path, "/api/posts?page=3");
        assert_eq!(cold.base.as_deref(), Some(COLD));
        assert_eq!(call(&page, Variant::Hot, COLD, 7, "t").base, None);
    }

    #[test]
    fn mixed_sends_one_cold_request_in_twenty() {
        let page = read("/api/posts");
        let cold = (0..1000)
            .filter(|i| call(&page, Variant::Mixed, COLD, *i, "t").base.is_some())
            .count();
        assert_eq!(cold, 50);
    }

    #[test]
    fn uncached_requests_carry_credentials_so_the_cache_passes_them_by() {
        let call = call(&read("/api/posts"), Variant::Uncached, COLD, 0, "tok");
        assert_eq!(call.path, "/api/posts");
        assert_eq!(call.headers, [("authorization", "Bearer tok".to_owned())]);
    }
}
