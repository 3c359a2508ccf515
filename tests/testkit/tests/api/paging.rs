//! Paging every list by `?page=` and by `?before=`, and proof that every
//! list query reads an index in order (no full scan, no filesort).

use mysql_async::prelude::Queryable;
use omni_shared::store::{comments, posts, users};
use omni_testkit::{Backend, TestApp, id, spawn_app};
use serde_json::{Value, json};

use crate::posts::ids;
use crate::problems::assert_problem;

/// Creates `n` posts by one user, oldest first, and returns their ids.
async fn posts(app: &TestApp, n: usize) -> Vec<String> {
    let ada = app.create_user("ada").await;
    let mut created = Vec::new();
    for i in 0..n {
        created.push(id(&app.create_post(&ada, &format!("post {i}")).await));
    }
    created
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_list_has_zero_totals() {
    let app = spawn_app().await;
    let list = app.get("/api/posts", None).await.json();
    assert_eq!(
        list,
        json!({ "items": [], "page": 1, "page_size": 10, "total_items": 0, "total_pages": 0 })
    );
    let keyset = app
        .get("/api/posts?before=9223372036854775807", None)
        .await
        .json();
    assert_eq!(keyset, json!({ "items": [], "next_before": null }));
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_ten_posts_make_one_full_page() {
    let app = spawn_app().await;
    let created = posts(&app, 10).await;
    let page = app.get("/api/posts", None).await.json();
    assert_eq!(
        (page["total_items"].clone(), page["total_pages"].clone()),
        (json!(10), json!(1))
    );
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(ids(&page), newest_first);
    let past = app.get("/api/posts?page=2", None).await.json();
    assert_eq!(past["items"], json!([]));
    assert_eq!(
        (
            past["total_items"].clone(),
            past["total_pages"].clone(),
            past["page"].clone()
        ),
        (json!(10), json!(1), json!(2))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eleven_posts_make_two_pages_newest_first() {
    let app = spawn_app().await;
    let created = posts(&app, 11).await;
    let first = app.get("/api/posts?page=1", None).await.json();
    let second = app.get("/api/posts?page=2", None).await.json();
    assert_eq!(first["total_pages"], 2);
    assert_eq!(
        ids(&first),
        created[1..].iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(ids(&second), [created[0].clone()]);
    assert_eq!(second["total_items"], 11);
    let far = app.get("/api/posts?page=100000", None).await.json();
    assert_eq!(far["items"], json!([]));
    assert_eq!(far["total_items"], 11);
}

#[tokio::test(flavor = "multi_thread")]
async fn keyset_slices_say_where_the_next_one_starts() {
    let app = spawn_app().await;
    let created = posts(&app, 11).await;
    let first = app
        .get(&format!("/api/posts?before={}", i64::MAX), None)
        .await
        .json();
    assert_eq!(ids(&first).len(), 10);
    assert_eq!(first["next_before"], json!(created[1]));
    let second = app
        .get(&format!("/api/posts?before={}", created[1]), None)
        .await
        .json();
    assert_eq!(ids(&second), [created[0].clone()]);
    assert_eq!(second["next_before"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn walking_by_before_sees_every_post_once_while_new_ones_arrive() {
    let app = spawn_app().await;
    let created = posts(&app, 35).await;
    let bob = app.create_user("bob").await;
    let start: i64 = created.last().unwrap().parse::<i64>().unwrap() + 1;
    let writer = async {
        for i in 0..20 {
            app.create_post(&bob, &format!("new {i}")).await;
        }
    };
    let reader = async {
        let mut seen = Vec::new();
        let mut before = start.to_string();
        loop {
            let slice = app
                .get(&format!("/api/posts?before={before}"), None)
                .await
                .json();
            seen.extend(ids(&slice));
            match slice["next_before"].as_str() {
                Some(next) => before = next.to_owned(),
                None => break,
            }
        }
        seen
    };
    let ((), seen) = tokio::join!(writer, reader);
    let expected: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "no post skipped or repeated");
    assert_eq!(app.get("/api/posts", None).await.json()["total_items"], 55);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_paging_parameters_are_a_400_on_every_list() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let post = app.create_post(&ada, "Engine").await;
    let lists = [
        "/api/posts".to_owned(),
        format!("/api/users/{}/posts", ada.id),
        format!("/api/posts/{}/comments", post["id"].as_str().unwrap()),
    ];
    for list in &lists {
        for query in [
            "page=0",
            "page=-1",
            "page=abc",
            "page=100001",
            "page=",
            "before=abc",
            "before=",
            "page=1&before=5",
            "page=1&page=2",
        ] {
            assert_problem(&app.get(&format!("{list}?{query}"), None).await, 400);
        }
        assert_eq!(
            app.get(&format!("{list}?page=1"), None).await.status,
            200,
            "{list}"
        );
        assert_eq!(
            app.get(&format!("{list}?unrelated=1"), None).await.status,
            200,
            "{list}"
        );
    }
}

const OMNI_EPOCH_MS: i64 = 1_735_689_600_000;

fn snowflake(ms_since_epoch: i64, sequence: i64) -> i64 {
    (ms_since_epoch << 22) | (7 << 12) | (sequence & 0xfff)
}

/// Seeds users, posts and comments straight into the database, with ids
/// spread over a month, so the optimiser plans as it would for real data.
async fn seed(app: &TestApp, users: i64, posts: i64, comments: i64) -> (i64, i64) {
    // A SQLite app makes its schema on its first request.
    assert_eq!(app.get("/readyz", None).await.status, 200);
    let month_ms = 30 * 24 * 3600 * 1000_i64;
    let start = 300 * 24 * 3600 * 1000_i64;
    let user_ids: Vec<i64> = (0..users).map(|n| snowflake(start + n, n)).collect();
    let values: Vec<String> = user_ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            format!(
                "({id}, 'seed{n}', 'seed{n}', '{}', {})",
                "x".repeat(60),
                posts / users
            )
        })
        .collect();
    app.execute(&format!(
        "INSERT INTO users (id, username, username_key, password_hash, post_count) VALUES {}",
        values.join(", ")
    ))
    .await;
    let post_ids: Vec<i64> = (0..posts)
        .map(|n| snowflake(start + 1000 + n * month_ms / posts, n))
        .collect();
    for chunk in post_ids.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!(
                    "({id}, {}, 'seeded', '', 'https://x.io/a.md', {OMNI_EPOCH_MS})",
                    user_ids[i % user_ids.len()],
                )
            })
            .collect();
        app.execute(&format!(
            "INSERT INTO posts (id, author_id, title, description, markdown_url, updated_at) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
    let comment_ids: Vec<i64> = (0..comments)
        .map(|n| snowflake(start + month_ms + n, n))
        .collect();
    for chunk in comment_ids.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!(
                    "({id}, {}, {}, 'seeded', {OMNI_EPOCH_MS})",
                    post_ids[i % 50],
                    user_ids[i % user_ids.len()],
                )
            })
            .collect();
        app.execute(&format!(
            "INSERT INTO comments (id, post_id, author_id, body, updated_at) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
    app.execute(&format!(
        "UPDATE counters SET value = {posts} WHERE name = 'posts' AND slot = 0"
    ))
    .await;
    // The 50 commented posts' counts, spread over their slots.
    app.execute(
        "INSERT INTO post_counters (post_id, slot, comments) \
         SELECT post_id, id % 8, COUNT(*) FROM comments GROUP BY post_id, id % 8",
    )
    .await;
    app.execute(match app.backend() {
        Backend::MySql => "ANALYZE TABLE users, posts, comments, counters, post_counters",
        Backend::Sqlite => "ANALYZE",
    })
    .await;
    (user_ids[0], post_ids[0])
}

/// Every list query, with parameters for a seeded database.
fn list_queries(user: i64, post: i64) -> [(&'static str, &'static str, Vec<i64>); 13] {
    let middle = snowflake(300 * 24 * 3600 * 1000 + 15 * 24 * 3600 * 1000, 0);
    [
        ("posts page", posts::PAGE_ALL, vec![10, 40]),
        ("posts before", posts::BEFORE_ALL, vec![middle, 11]),
        (
            "user posts page",
            posts::PAGE_BY_AUTHOR,
            vec![user, 10, 40, user],
        ),
        (
            "user posts before",
            posts::BEFORE_BY_AUTHOR,
            vec![user, middle, 11, user],
        ),
        (
            "comments page",
            comments::PAGE_FOR_POST,
            vec![post, 10, 10, post],
        ),
        (
            "comments before",
            comments::BEFORE_FOR_POST,
            vec![post, i64::MAX, 11, post],
        ),
        // The website's "Newer" links.
        ("posts newer", posts::NEWER_ANCHOR_ALL, vec![middle, 10]),
        (
            "user posts newer",
            posts::NEWER_ANCHOR_BY_AUTHOR,
            vec![user, middle, 10],
        ),
        (
            "comments newer",
            comments::NEWER_ANCHOR_FOR_POST,
            vec![post, 0, 10],
        ),
        // The sitemap's files, and where each ends.
        ("sitemap posts", posts::WALK, vec![middle, 50_000]),
        ("sitemap posts end", posts::PART_END, vec![-1, 49_999]),
        ("sitemap users", users::WALK, vec![user, 50_000]),
        ("sitemap users end", users::PART_END, vec![-1, 49_999]),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_list_query_reads_an_index_without_a_full_scan_or_a_filesort() {
    let app = spawn_app().await;
    let (user, post) = seed(&app, 20, 3000, 5000).await;
    match app.backend() {
        Backend::MySql => explain_mysql(&app, user, post).await,
        Backend::Sqlite => explain_sqlite(&app, user, post),
    }
}

async fn explain_mysql(app: &TestApp, user: i64, post: i64) {
    let mut db = app.db().await;
    for (name, sql, params) in list_queries(user, post) {
        let plan: Vec<mysql_async::Row> = db.exec(format!("EXPLAIN {sql}"), params).await.unwrap();
        eprintln!("{name}:");
        for row in &plan {
            let table: Option<String> = row.get("table").flatten();
            let access: Option<String> = row.get("type").flatten();
            let key: Option<String> = row.get("key").flatten();
            let extra: Option<String> = row.get("Extra").flatten();
            eprintln!("  table={table:?} type={access:?} key={key:?} extra={extra:?}");
            let extra = extra.unwrap_or_default();
            assert!(!extra.contains("filesort"), "{name} sorts: {extra}");
            // Every base table (aliases included); `<derivedN>` is the page
            // itself, at most a page and one more rows, or the one-row sum
            // of the post counter's slots.
            let table = table.unwrap_or_default();
            if !table.starts_with('<') {
                assert_ne!(
                    access.as_deref(),
                    Some("ALL"),
                    "{name} scans all of {table}"
                );
                assert!(key.is_some(), "{name} reads {table} without an index");
            }
        }
    }
    db.disconnect().await.unwrap();
}

/// SQLite's plan: no temporary B-tree (a sort), and no `SCAN` of a table
/// but the one that walks `posts` backwards by its rowid (the newest page,
/// which stops after a page) and the 16 rows of the post counter's slots
/// (which SQLite rightly finds cheaper to read whole). Everything else is a
/// `SEARCH` by an index.
fn explain_sqlite(app: &TestApp, user: i64, post: i64) {
    let db = app.sqlite();
    let mut problems = Vec::new();
    for (name, sql, params) in list_queries(user, post) {
        let mut statement = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let details: Vec<String> = statement
            .query_map(rusqlite::params_from_iter(params), |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        eprintln!("{name}:");
        for detail in details {
            eprintln!("  {detail}");
            let scanned = detail
                .strip_prefix("SCAN ")
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_default();
            let allowed_scan = scanned.is_empty()
                || scanned == "counters"
                || (name == "posts page" && scanned == "posts")
                // A subquery's own rows: at most a page and one more.
                || ["p", "m", "t"].contains(&scanned);
            if detail.contains("TEMP B-TREE") || !allowed_scan {
                problems.push(format!("{name}: {detail}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
