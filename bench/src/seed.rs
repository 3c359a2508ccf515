//! A realistic data set, written straight into the database: users, posts
//! spread over six months of Snowflake time, and comments (most posts have
//! a few, a handful of popular ones have a thousand), with every counter the
//! writes would keep.

use std::collections::HashSet;
use std::time::Instant;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// 2025-01-01T00:00:00Z.
const OMNI_EPOCH_MS: i64 = 1_735_689_600_000;
/// Seeded rows carry this node id, so they never collide with the app's.
const SEED_NODE: i64 = 9;
const ROWS_PER_INSERT: usize = 5000;
/// The app's counter slots (`shared/src/store/counters.rs`).
const POST_SLOTS: usize = 16;
const COMMENT_SLOTS: i64 = 8;

/// How much to seed.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub users: usize,
    pub posts: usize,
    pub comments: usize,
    pub popular_posts: usize,
    pub comments_per_popular_post: usize,
}

impl Sizes {
    /// The benchmark's data set: 1,000 users, 100,000 posts and 500,000
    /// comments, a thousand of them on each of 50 popular posts; with
    /// `quick`, a tenth (the popular posts keep their thousand).
    pub fn data_set(quick: bool) -> Self {
        let scale = if quick { 10 } else { 1 };
        Self {
            users: 1000 / scale,
            posts: 100_000 / scale,
            comments: 500_000 / scale,
            popular_posts: 50 / scale,
            comments_per_popular_post: 1000,
        }
    }
}

/// Ids the scenarios use.
#[derive(Debug)]
pub struct Seeded {
    /// A user with a typical number of posts.
    pub user: i64,
    /// A post with about a thousand comments.
    pub popular_post: i64,
    /// The post halfway down the list, for keyset paging deep in it.
    pub deep_post: i64,
    /// Every post id, newest first.
    pub post_ids_newest_first: Vec<i64>,
}

/// Hands out unique Snowflake ids at or after a given millisecond.
struct Ids {
    used: HashSet<i64>,
    sequence: i64,
}

impl Ids {
    fn at(&mut self, unix_ms: i64) -> i64 {
        let mut ms = unix_ms - OMNI_EPOCH_MS;
        loop {
            self.sequence = (self.sequence + 1) & 0xfff;
            let id = (ms << 22) | (SEED_NODE << 12) | self.sequence;
            if self.used.insert(id) {
                return id;
            }
            ms += 1;
        }
    }
}

/// A deterministic spread, so every run seeds the same shape.
fn spread(i: usize, modulus: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) >> 7) % modulus
}

async fn insert_rows(
    db: &mut Conn,
    head: &str,
    rows: impl Iterator<Item = String>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(ROWS_PER_INSERT);
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.clear();
        batch.extend(rows.by_ref().take(ROWS_PER_INSERT));
        db.query_drop(format!("{head} {}", batch.join(","))).await?;
    }
    Ok(())
}

/// Seeds `sizes` rows. `password_hash` is a real bcrypt hash every seeded
/// user gets, so any of them can log in.
pub async fn seed(
    db: &mut Conn,
    sizes: Sizes,
    password_hash: &str,
    now_ms: i64,
) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    db.query_drop("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        .await?;
    let mut ids = Ids {
        used: HashSet::new(),
        sequence: 0,
    };
    let six_months_ms: i64 = 182 * 24 * 3600 * 1000;
    let start_ms = now_ms - six_months_ms - 24 * 3600 * 1000;

    let users: Vec<i64> = (0..sizes.users)
        .map(|n| ids.at(start_ms + i64::try_from(n).unwrap_or_default() * 1000))
        .collect();
    let posts_per_user = i64::try_from(sizes.posts / sizes.users).unwrap_or_default();
    insert_rows(
        db,
        "INSERT INTO users (id, username, username_key, password_hash, display_name, bio, post_count) VALUES",
        users.iter().enumerate().map(|(n, id)| {
            format!("({id}, 'user{n}', 'user{n}', '{password_hash}', 'User {n}', 'Builds things.', {posts_per_user})")
        }),
    )
    .await?;

    // Posts evenly over six months, oldest first; authors in turn.
    let step = six_months_ms / i64::try_from(sizes.posts).unwrap_or(1);
    let posts: Vec<(i64, i64)> = (0..sizes.posts)
        .map(|n| {
            let ms = start_ms + 60_000 + i64::try_from(n).unwrap_or_default() * step;
            (ids.at(ms), ms)
        })
        .collect();
    let mut comment_counts = vec![0_i64; sizes.posts];
    let regular = sizes.comments - sizes.popular_posts * sizes.comments_per_popular_post;
    let comment_post = |i: usize| -> usize {
        if i < regular {
            spread(i, sizes.posts)
        } else {
            // The popular posts are spread through the list.
            (i - regular) / sizes.comments_per_popular_post * (sizes.posts / sizes.popular_posts)
        }
    };
    for i in 0..sizes.comments {
        comment_counts[comment_post(i)] += 1;
    }
    insert_rows(
        db,
        "INSERT INTO posts (id, author_id, title, description, markdown_url, updated_at) VALUES",
        posts.iter().enumerate().map(|(n, (id, ms))| {
            format!(
                "({id}, {}, 'Project {n}: a tiny compiler', 'What I built, why, and what I learned along the way. Number {n}.', \
                 'https://github.com/user{}/project-{n}/blob/main/README.md', {ms})",
                users[n % users.len()],
                n % users.len(),
            )
        }),
    )
    .await?;
    // Each post's comment count, spread over its counter slots as the
    // writes would have left it.
    insert_rows(
        db,
        "INSERT INTO post_counters (post_id, slot, comments) VALUES",
        posts
            .iter()
            .zip(&comment_counts)
            .filter(|(_, count)| **count > 0)
            .flat_map(|((id, _), count)| {
                let slots = (*count).min(COMMENT_SLOTS);
                (0..slots).map(move |slot| {
                    let share = count / slots + i64::from(slot < count % slots);
                    format!("({id}, {slot}, {share})")
                })
            }),
    )
    .await?;

    let comments: Vec<String> = (0..sizes.comments)
        .map(|i| {
            let post = comment_post(i);
            let (post_id, post_ms) = posts[post];
            let ms = (post_ms + 1000 + i64::try_from(spread(i, 86_400_000)).unwrap_or_default())
                .min(now_ms - 1000);
            let id = ids.at(ms.max(post_ms + 1));
            format!(
                "({id}, {post_id}, {}, 'Great write-up, thanks for sharing! ({i})', {ms})",
                users[spread(i + 7, users.len())]
            )
        })
        .collect();
    insert_rows(
        db,
        "INSERT INTO comments (id, post_id, author_id, body, updated_at) VALUES",
        comments.into_iter(),
    )
    .await?;
    // The global post count, spread evenly over its slots.
    db.query_drop(format!(
        "UPDATE counters SET value = {posts} DIV {POST_SLOTS} + (slot < {posts} % {POST_SLOTS}) \
         WHERE name = 'posts'",
        posts = sizes.posts
    ))
    .await?;
    db.query_drop("ANALYZE TABLE users, posts, comments, post_counters")
        .await?;
    db.query_drop("SET SESSION foreign_key_checks = 1, unique_checks = 1")
        .await?;

    let mut newest_first: Vec<i64> = posts.iter().map(|(id, _)| *id).collect();
    newest_first.reverse();
    eprintln!(
        "seeded {} users, {} posts, {} comments in {:.1}s",
        sizes.users,
        sizes.posts,
        sizes.comments,
        started.elapsed().as_secs_f64()
    );
    Ok(Seeded {
        user: users[1],
        popular_post: posts[0].0,
        deep_post: newest_first[sizes.posts / 2],
        post_ids_newest_first: newest_first,
    })
}
