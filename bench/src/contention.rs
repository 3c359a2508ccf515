//! Contended writes: many clients writing the same rows at once, where
//! hot rows, lock-order inversions and retries would show.
//!
//! - 32 clients creating posts, each as a user of its own: every create
//!   adds to the global post count (16 slot rows) and inserts at the end of
//!   the posts index.
//! - 32 clients commenting on one post, each as a user of its own: every
//!   comment checks the same post row (a shared lock) and adds to one of its
//!   8 comment-count slots.
//! - 16 clients deleting one another's comments. Users `0..16` each own a
//!   post, and each has written `K` comments on every other user's post. In
//!   round `r` (1 to 15), client `i` works with partner `j = i XOR r`, who
//!   works with `i` in the same round: `i` deletes `j`'s even-numbered
//!   comments on `i`'s post (as the post's author) and its own odd-numbered
//!   comments on `j`'s post (as their author), while `j` does the same the
//!   other way round. So both clients delete comments on both posts at once,
//!   locking the same rows in opposite orders unless the app takes only the
//!   comment's lock, and every comment is deleted exactly once: any 404 or
//!   403 is an error.
//!
//! Retries are counted from the app's log (`"event":"transaction_retried"`),
//! and after each scenario every counter is checked against the true count.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use crate::api::{Api, User};
use crate::bench::Bench;
use crate::load::{Call, MakeCall, Measured, Pace};
use omni_testkit::integrity::{self, Invariant};

/// One contended scenario's figures.
#[derive(Debug, Serialize)]
pub struct Contended {
    pub measured: Measured,
    /// Transactions the app ran again after losing a lock race.
    pub retries: usize,
    /// 500s whose logged cause was a deadlock or a lock wait timeout.
    pub deadlock_500s: usize,
    /// Every counter against the true count, afterwards.
    pub invariants: Vec<Invariant>,
}

const RETRIED: &str = r#""event":"transaction_retried""#;

/// Runs the three scenarios; `scale` divides the requests.
pub async fn run(bench: &Bench, scale: usize) -> anyhow::Result<Vec<Contended>> {
    let api = Api::new(bench.client().clone(), bench.app().url());
    let per_client = (40 / scale).max(2);
    let mut figures = Vec::new();

    let posters = api.users("poster", 32).await?;
    let post = json!({
        "title": "Contended project",
        "description": "Created while 31 others were.",
        "markdown_url": "https://example.com/contended.md",
    });
    let make: MakeCall = Arc::new(move |slot| {
        Call::authed(
            Method::POST,
            "/api/posts",
            &posters[slot.client].token,
            Some(post.clone()),
        )
    });
    figures.push(
        measure(
            bench,
            "32 clients creating posts",
            "posts",
            32,
            per_client,
            &make,
        )
        .await?,
    );

    let commenters = api.users("commenter", 32).await?;
    let target = api
        .expect(
            &Call::authed(
                Method::POST,
                "/api/posts",
                &commenters[0].token,
                Some(json!({
                    "title": "A viral post",
                    "markdown_url": "https://example.com/viral.md",
                })),
            ),
            201,
        )
        .await?
        .id()
        .unwrap_or_default();
    let path = format!("/api/posts/{target}/comments");
    let make: MakeCall = Arc::new(move |slot| {
        Call::authed(
            Method::POST,
            &path,
            &commenters[slot.client].token,
            Some(json!({ "body": format!("Comment {} from client {}", slot.seq, slot.client) })),
        )
    });
    figures.push(
        measure(
            bench,
            "32 clients commenting on one post",
            "post-comments",
            32,
            per_client,
            &make,
        )
        .await?,
    );

    let each = (8 / scale).max(2);
    let plans = delete_plans(&api, each).await?;
    let per_client = plans[0].len();
    let make: MakeCall = Arc::new(move |slot| plans[slot.client][slot.seq].clone());
    figures.push(
        measure(
            bench,
            "16 clients deleting one another's comments",
            "comment",
            16,
            per_client,
            &make,
        )
        .await?,
    );
    Ok(figures)
}

/// Measures one scenario: `clients` clients, `per_client` requests each.
async fn measure(
    bench: &Bench,
    name: &str,
    component: &str,
    clients: usize,
    per_client: usize,
    make: &MakeCall,
) -> anyhow::Result<Contended> {
    let from = bench.log_len();
    let measured = bench
        .run(name, component, clients, Pace::PerClient(per_client), make)
        .await;
    let retries = bench.log_lines_since(from, RETRIED);
    let deadlock_500s = bench
        .app()
        .host()
        .logs()
        .lines()
        .iter()
        .skip(from)
        .filter(|line| {
            line.contains(r#""status":500"#)
                && (line.contains("Deadlock") || line.contains("Lock wait timeout"))
        })
        .count();
    let mut db = bench.app().db().await;
    let invariants = integrity::check(&mut db).await?;
    db.disconnect().await?;
    eprintln!("  {}  retries {retries}", measured.line());
    Ok(Contended {
        measured,
        retries,
        deadlock_500s,
        invariants,
    })
}

/// Sets up the delete scenario with `each` comments (an even number) per
/// user per other user's post, and returns each of the 16 clients' deletes
/// in order.
async fn delete_plans(api: &Api, each: usize) -> anyhow::Result<Vec<Vec<Call>>> {
    const CLIENTS: usize = 16;
    let each = each + each % 2;
    let users: Vec<User> = api.users("deleter", CLIENTS).await?;
    let post_calls = users
        .iter()
        .map(|u| {
            Call::authed(
                Method::POST,
                "/api/posts",
                &u.token,
                Some(json!({
                    "title": format!("{}'s post", u.username),
                    "markdown_url": "https://example.com/mine.md",
                })),
            )
        })
        .collect();
    let posts: Vec<String> = api
        .all(post_calls, 201, 8)
        .await?
        .iter()
        .map(|a| a.id().unwrap_or_default())
        .collect();
    // comments[(author, post owner)]: `each` comment ids.
    let mut keys = Vec::new();
    let mut calls = Vec::new();
    for (author, user) in users.iter().enumerate() {
        for (owner, post) in posts.iter().enumerate() {
            if author == owner {
                continue;
            }
            for k in 0..each {
                keys.push((author, owner));
                calls.push(Call::authed(
                    Method::POST,
                    format!("/api/posts/{post}/comments"),
                    &user.token,
                    Some(json!({ "body": format!("{author} on {owner}'s post, {k}") })),
                ));
            }
        }
    }
    let answers = api.all(calls, 201, 16).await?;
    let mut comments: HashMap<(usize, usize), Vec<String>> = HashMap::new();
    for (key, answer) in keys.into_iter().zip(answers) {
        comments
            .entry(key)
            .or_default()
            .push(answer.id().unwrap_or_default());
    }
    let delete = |user: &User, id: &str| {
        Call::authed(
            Method::DELETE,
            format!("/api/comments/{id}"),
            &user.token,
            None,
        )
    };
    let mut plans = vec![Vec::new(); CLIENTS];
    for (i, plan) in plans.iter_mut().enumerate() {
        for round in 1..CLIENTS {
            let j = i ^ round;
            // Even-numbered: j's comments on i's post; odd: i's on j's.
            let on_mine = comments[&(j, i)].iter().step_by(2);
            let on_theirs = comments[&(i, j)].iter().skip(1).step_by(2);
            for (mine, theirs) in on_mine.zip(on_theirs) {
                plan.push(delete(&users[i], mine));
                plan.push(delete(&users[i], theirs));
            }
        }
    }
    Ok(plans)
}

/// Prints the contended scenarios.
pub fn print(figures: &[Contended]) {
    println!(
        "{:<44} {:>8} {:>9} {:>9} {:>9} {:>7} {:>6} {:>6} {:>8} {:>9}",
        "scenario",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "500s",
        "503s",
        "retries",
        "counters"
    );
    for c in figures {
        let m = &c.measured;
        let counters = if c.invariants.iter().all(|i| i.broken == 0) {
            "exact"
        } else {
            "WRONG"
        };
        println!(
            "{:<44} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>7} {:>6} {:>6} {:>8} {:>9}",
            m.name,
            m.requests,
            m.requests_per_second,
            m.p50_ms,
            m.p99_ms,
            m.errors,
            m.status_500,
            m.status_503,
            c.retries,
            counters
        );
    }
}
