//! `omni-bench discovery`: what search and write-ups cost.
//!
//! Starts a throwaway MariaDB, the Redis servers (the cache store, as in
//! production) and a local write-up source, seeds 1,000 users and 100,000
//! posts, points every post's write-up at the source, then measures:
//!
//! 1. `GET /api/search` on the 100,000 posts: a word every post has (the
//!    worst case: every row matches and is ranked), a word a few posts
//!    have, a deep page of the common word, and a word none has. Through
//!    the app whose cache keeps nothing, so these are the database's
//!    figures.
//! 2. `GET /api/posts/{id}/writeup` on a cache miss (each request another
//!    post: a fetch from the local source, the render and the sanitiser),
//!    on the same posts again once the response cache's entries have
//!    expired (the kept write-up, a hit of its own), and through the
//!    response cache.
//!
//! The source answers at once from this machine: a real forge adds its own
//! round trip to a miss. Prints every figure and writes them to
//! `target/bench/discovery.json`.

use std::sync::Arc;
use std::time::Duration;

use omni_shared::cache::ENTRY_TTL_MS;
use omni_testkit::{HttpServer, Reply, workspace_root};
use serde::Serialize;

use crate::bench::{self, CONCURRENCY};
use crate::load::{Call, MakeCall, Measured};
use crate::{now_ms, seed, write_json};

/// A write-up of a typical size: about 12 KiB of markdown.
fn readme() -> String {
    let section = "## Usage\n\nRun `tiny build` in the project, then open the output. \
                   See [the guide](docs/guide.md) and ![a diagram](img/diagram.png).\n\n\
                   | Flag | Meaning |\n|---|---|\n| `-O` | optimise |\n| `-g` | debug info |\n\n\
                   - parses the source\n- checks the types\n- emits WebAssembly\n\n\
                   ```rust\nfn main() {\n    println!(\"hello\");\n}\n```\n\n";
    format!("# A tiny compiler\n\n{}", section.repeat(24))
}

#[derive(Debug, Serialize)]
struct Report {
    when_unix_s: u64,
    cpus: usize,
    posts: usize,
    writeup_markdown_bytes: usize,
    search: Vec<Measured>,
    writeup: Vec<Measured>,
}

/// Runs the discovery benchmark; `quick` seeds and sends a tenth.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let scale = if quick { 10 } else { 1 };
    let sizes = seed::Sizes {
        users: 1000 / scale,
        posts: 100_000 / scale,
        comments: 0,
        popular_posts: 0,
        comments_per_popular_post: 0,
    };
    eprintln!("starting MariaDB, Redis, a write-up source and the app…");
    let readme = readme();
    let markdown = readme.clone();
    let source = HttpServer::start(move |_| Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "text/markdown".into())],
        body: markdown.as_bytes().to_vec(),
    })
    .await;
    let variables = vec![("writeup_extra_origin".into(), source.url())];
    let (bench, _, seeded) = bench::start(sizes, variables).await?;
    bench
        .app()
        .execute(&format!(
            "UPDATE posts SET markdown_url = CONCAT('{}/readme/', id, '.md')",
            source.url()
        ))
        .await;

    eprintln!("search ({} posts):", sizes.posts);
    // Through the app whose cache keeps nothing: every search reaches the
    // database (other query parameters would not, since they make no other
    // cache entry).
    let cold = bench.cold_url();
    let search = |query: &'static str| -> MakeCall {
        let cold = cold.clone();
        Arc::new(move |_| Call::get(format!("/api/search?{query}")).to(cold.clone()))
    };
    let mut searches = Vec::new();
    for (name, query, requests) in [
        ("search: a word every post has", "q=compiler", 300),
        ("search: a word a few posts have", "q=4242", 1000),
        ("search: page 500 of every post", "q=compiler&page=500", 300),
        ("search: a word no post has", "q=zeppelin", 1000),
    ] {
        searches.push(
            bench
                .warm_and_run(name, "search", CONCURRENCY, requests / scale, search(query))
                .await,
        );
    }

    eprintln!("write-ups:");
    let posts = Arc::new(seeded.post_ids_newest_first);
    let misses = posts.clone();
    let miss: MakeCall = Arc::new(move |slot| {
        Call::get(format!(
            "/api/posts/{}/writeup",
            misses[slot.index % misses.len()]
        ))
    });
    // A kept write-up whose response is not cached: the posts the misses
    // fetched, each asked once more after the response cache's entries
    // have expired (the write-ups are kept for ten minutes).
    let kept_posts = posts.clone();
    let kept: MakeCall = Arc::new(move |slot| {
        Call::get(format!(
            "/api/posts/{}/writeup",
            kept_posts[slot.index % kept_posts.len()]
        ))
    });
    let cached_post = posts[posts.len() / 2];
    let cached: MakeCall =
        Arc::new(move |_| Call::get(format!("/api/posts/{cached_post}/writeup")));
    // A miss must never meet a post an earlier run fetched: the misses
    // take posts from the newest, the response cache one from the middle.
    let mut writeups = Vec::new();
    let miss_requests = 500 / scale;
    writeups.push(
        bench
            .run(
                "write-up: cache miss (fetch, render)",
                "writeup",
                CONCURRENCY,
                crate::load::Pace::Total(miss_requests),
                &miss,
            )
            .await,
    );
    eprintln!("  {}", writeups[0].line());
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(ENTRY_TTL_MS).unwrap_or_default() + 1_000,
    ))
    .await;
    writeups.push(
        bench
            .run(
                "write-up: kept, response not cached",
                "writeup",
                CONCURRENCY,
                crate::load::Pace::Total(miss_requests),
                &kept,
            )
            .await,
    );
    writeups.push(
        bench
            .warm_and_run(
                "write-up: the response cache",
                "writeup",
                CONCURRENCY,
                3000 / scale,
                cached,
            )
            .await,
    );

    let report = Report {
        when_unix_s: u64::try_from(now_ms() / 1000).unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        posts: sizes.posts,
        writeup_markdown_bytes: readme.len(),
        search: searches,
        writeup: writeups,
    };
    println!(
        "\nOmni discovery benchmark: {} CPUs, {} posts, a {} byte write-up, {} clients",
        report.cpus, report.posts, report.writeup_markdown_bytes, CONCURRENCY
    );
    for measured in report.search.iter().chain(&report.writeup) {
        println!("{}", measured.line());
    }
    let path = write_json(
        &workspace_root().join("target/bench"),
        "discovery.json",
        &report,
    )?;
    println!("\nwritten to {}", path.display());
    Ok(())
}
