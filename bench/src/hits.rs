//! A cache hit, before and after: the same hot read through Spin's
//! key-value store on Redis (how the SpinApps kept the cache before: a
//! `get` per version key, then the entry, each its own round trip, after
//! the store's own connection setup) and through Omni's own Redis client
//! (one `MGET`), side by side in rounds, next to the calibration's
//! `/livez`, the host's floor for a request that does no I/O.
//!
//! Redis's own command counters say what each hit cost: the commands it
//! ran per request (one command, or a pipelined batch, is one round trip
//! here, since neither client pipelines across commands it waits on).

use serde::Serialize;

use crate::bench::Bench;
use crate::load::{Call, MakeCall, Measured, Outcome, Pace};
use crate::reads::Read;

/// Rounds of the two, taking turns.
const ROUNDS: usize = 3;

/// One read's hit, before and after.
#[derive(Debug, Serialize)]
pub struct HitFigures {
    pub scenario: String,
    /// Spin's key-value store on Redis.
    pub before: Measured,
    /// Omni's Redis client.
    pub after: Measured,
    /// Redis commands per request, before and after.
    pub before_commands_per_request: f64,
    pub after_commands_per_request: f64,
    /// Throughput after over before.
    pub after_over_before: f64,
    /// Each over the calibration's `/livez` throughput.
    pub before_over_livez: f64,
    pub after_over_livez: f64,
}

/// Redis's count of the commands it ran (but `INFO` and `CONFIG`, the
/// benchmark's own).
fn commands_run(redis: &omni_testkit::Redis) -> u64 {
    let stats = redis.cli(&["INFO", "commandstats"]).unwrap_or_default();
    stats
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter(|line| !line.starts_with("info:") && !line.starts_with("config"))
        .filter_map(|line| {
            let calls = line.split_once("calls=")?.1;
            calls.split(',').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// Measures `read` hot on the app whose cache is on Spin's key-value store
/// and on the one whose cache is on Omni's client, `requests` each.
pub async fn figures(bench: &Bench, read: &Read, requests: usize, livez: f64) -> HitFigures {
    let sides = [
        (
            "Spin key-value",
            bench.key_value_url(),
            bench.servers().key_value(),
        ),
        ("Omni Redis", bench.app().url(), bench.servers().cache()),
    ];
    let mut seen: [(Outcome, u64, u64); 2] = Default::default();
    for round in 0..ROUNDS {
        for ((_, base, redis), (outcome, statements, commands)) in sides.iter().zip(&mut seen) {
            let make: MakeCall = {
                let (path, base) = (read.path.clone(), base.clone());
                std::sync::Arc::new(move |_| Call::get(&path).to(&base))
            };
            if round == 0 {
                let warm_up = Pace::Total((requests / 10).max(20));
                bench
                    .outcome(read.component, crate::bench::CONCURRENCY, warm_up, &make)
                    .await;
            }
            let before = commands_run(redis);
            let (part, part_statements) = bench
                .outcome(
                    read.component,
                    crate::bench::CONCURRENCY,
                    Pace::Total(requests / ROUNDS),
                    &make,
                )
                .await;
            *commands += commands_run(redis).saturating_sub(before);
            outcome.absorb(part);
            *statements += part_statements;
        }
    }
    let [before, after] = seen;
    let summary = |side: &str, (outcome, statements, commands): (Outcome, u64, u64)| {
        let measured = Measured::of(
            &format!("{} hot, {side}", read.name),
            crate::bench::CONCURRENCY,
            &outcome,
            statements,
        );
        let per_request = commands as f64 / measured.requests.max(1) as f64;
        eprintln!("  {}  Redis commands/req {per_request:.2}", measured.line());
        (measured, per_request)
    };
    let (before, before_commands) = summary(sides[0].0, before);
    let (after, after_commands) = summary(sides[1].0, after);
    HitFigures {
        scenario: read.name.to_owned(),
        before_commands_per_request: before_commands,
        after_commands_per_request: after_commands,
        after_over_before: after.requests_per_second / before.requests_per_second,
        before_over_livez: before.requests_per_second / livez,
        after_over_livez: after.requests_per_second / livez,
        before,
        after,
    }
}

/// Prints the figures.
pub fn print(hits: &[HitFigures], livez: f64) {
    println!(
        "\nA cache hit, before (Spin's key-value store on Redis) and after (Omni's Redis client), \
         against /livez at {livez:.0} req/s:"
    );
    println!(
        "{:<28} {:>20} {:>20} {:>10} {:>9} {:>9} {:>8}",
        "scenario",
        "before req/s / p50",
        "after req/s / p50",
        "after/bef.",
        "bef./livez",
        "aft./livez",
        "cmds/req"
    );
    for h in hits {
        println!(
            "{:<28} {:>12.0} / {:>5.2} {:>12.0} / {:>5.2} {:>9.2}× {:>9.2} {:>9.2} {:>3.1} → {:.1}",
            h.scenario,
            h.before.requests_per_second,
            h.before.p50_ms,
            h.after.requests_per_second,
            h.after.p50_ms,
            h.after_over_before,
            h.before_over_livez,
            h.after_over_livez,
            h.before_commands_per_request,
            h.after_commands_per_request
        );
    }
}
