//! The website's discovery pages: search, Atom feeds (checked with the
//! feed-rs parser and as XML), the sitemap at its limit, robots.txt, and
//! the preview meta and feed links on pages.

use omni_shared::cache::ENTRY_TTL_MS;
use omni_testkit::{
    AppOptions, Backend, TestApp, TestResponse, TestUser, id, spawn_app, spawn_app_with,
};
use serde_json::json;

use super::{Page, Visitor};

/// Publishes a project through the API; its id.
async fn publish(app: &TestApp, user: &TestUser, title: &str, description: &str) -> String {
    let url = "https://example.com/readme.md";
    let body = json!({ "title": title, "description": description, "markdown_url": url });
    id(&app.create_post_from(user, &body).await)
}

/// `GET path` once the cache's copies have expired (the guest's clock moved
/// past their lifetime): rows seeded straight into the database bump no
/// cache version, and other query parameters make no other entry.
async fn get_after_the_cache_expires(app: &TestApp, path: &str) -> TestResponse {
    let clock = app.clock();
    clock.set(clock.get() + ENTRY_TTL_MS + 1_000);
    app.get(path, None).await
}

/// The value of the first `attribute="…"` after `marker` in `html`.
fn attribute_after<'a>(html: &'a str, marker: &str, attribute: &str) -> Option<&'a str> {
    let rest = &html[html.find(marker)?..];
    let start = rest.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    Some(&rest[start..start + rest[start..].find('"')?])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_search_page_finds_projects_and_pages_through_them_without_javascript() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let engine = publish(&app, &ada, "Difference engine", "Brass and steam.").await;
    publish(&app, &ada, "Loom", "Punched cards.").await;
    let mut visitor = Visitor::new(&app);

    let found = visitor.get("/search?q=brass+engine").await;
    assert_eq!(found.status, 200);
    assert!(
        found.body.contains(&format!("href=\"/posts/{engine}\"")),
        "{}",
        found.body
    );
    assert!(found.body.contains("1 project matches"), "{}", found.body);
    assert!(!found.body.contains("Punched"));
    // The query stays in the header's search box.
    assert_eq!(
        attribute_after(&found.body, "id=\"site-search\"", "value"),
        Some("brass engine")
    );

    let prompt = visitor.get("/search").await;
    assert_eq!(prompt.status, 200);
    assert!(prompt.body.contains("Type words"));
    let invalid = visitor.get("/search?q=%2A%2B").await;
    assert_eq!(invalid.status, 400);
    assert!(invalid.body.contains("role=\"alert\""));

    for n in 0..11 {
        publish(&app, &ada, &format!("Sundial {n}"), "").await;
    }
    let first = visitor.get("/search?q=sundial").await;
    assert!(first.body.contains("11 projects match"));
    assert!(
        first
            .body
            .contains("href=\"/search?q=sundial&amp;page=2\" rel=\"next\"")
    );
    let second = visitor.get("/search?q=sundial&page=2").await;
    assert_eq!(second.body.matches("class=\"card\"").count(), 1);
    assert!(
        second
            .body
            .contains("href=\"/search?q=sundial\" rel=\"prev\"")
    );
}

/// A feed, parsed by feed-rs after a well-formedness check: its entries'
/// titles, newest first.
fn entries(page: &Page) -> Vec<String> {
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    roxmltree::Document::parse(&page.body).expect("the feed is well-formed XML");
    let feed = feed_rs::parser::parse(page.body.as_bytes()).expect("the feed is valid Atom");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert!(!feed.id.is_empty() && feed.updated.is_some());
    for entry in &feed.entries {
        assert!(entry.id.starts_with("http://127.0.0.1:"), "{}", entry.id);
        assert!(entry.updated.is_some() && entry.published.is_some());
        assert!(!entry.authors.is_empty());
        assert!(entry.links[0].href.starts_with("http://127.0.0.1:"));
    }
    feed.entries
        .iter()
        .map(|entry| entry.title.as_ref().unwrap().content.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feeds_are_valid_atom_with_the_newest_twenty_and_follow_every_change_at_once() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let bob = app.create_user("bob").await;
    let mut visitor = Visitor::new(&app);
    assert!(entries(&visitor.get("/feed.atom").await).is_empty());

    let hostile = "<b>&\"Tom's\" ]]> \u{fffe}engine";
    let first = publish(&app, &ada, hostile, "Line one\nline <two> & three").await;
    for n in 1..=20 {
        publish(&app, &ada, &format!("Project {n}"), "").await;
    }
    publish(&app, &bob, "Bob's loom", "").await;

    let feed = visitor.get("/feed.atom").await;
    let titles = entries(&feed);
    assert_eq!(titles.len(), 20);
    assert_eq!(titles[0], "Bob's loom");
    assert_eq!(titles[19], "Project 2");
    let ada_feed = entries(&visitor.get(&format!("/users/{}/feed.atom", ada.id)).await);
    assert_eq!(ada_feed.len(), 20);
    assert_eq!(ada_feed[0], "Project 20");
    assert!(!ada_feed.contains(&"Bob's loom".to_owned()));
    let bob_feed = entries(&visitor.get(&format!("/users/{}/feed.atom", bob.id)).await);
    assert_eq!(bob_feed, ["Bob's loom"]);

    // The hostile entry, oldest of 22, is in the full view of ada's feed
    // only once she has fewer posts: delete two, and it is back, intact.
    let path = |id: &str| format!("/api/posts/{id}");
    let newest = app
        .get(&format!("/api/users/{}/posts", ada.id), None)
        .await
        .json();
    for post in newest["items"].as_array().unwrap().iter().take(2) {
        let id = post["id"].as_str().unwrap();
        assert_eq!(app.delete(&path(id), Some(&ada.token)).await.status, 204);
    }
    let ada_feed = entries(&visitor.get(&format!("/users/{}/feed.atom", ada.id)).await);
    assert_eq!(
        ada_feed.last().unwrap(),
        &hostile.replace('\u{fffe}', "\u{fffd}")
    );
    assert!(!ada_feed.contains(&"Project 20".to_owned()));

    // ETag and 304, and an edit shows at once.
    let feed = visitor.get("/feed.atom").await;
    let etag = feed.header("etag").unwrap().to_owned();
    let again = visitor
        .send(
            visitor
                .client
                .get(format!("{}/feed.atom", visitor.base))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status, 304);
    let edit = json!({ "title": "Renamed engine" });
    assert_eq!(
        app.patch(&path(&first), &edit, Some(&ada.token))
            .await
            .status,
        200
    );
    let changed = visitor
        .send(
            visitor
                .client
                .get(format!("{}/users/{}/feed.atom", visitor.base, ada.id))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(entries(&changed).last().unwrap(), "Renamed engine");

    let unknown = visitor.get("/users/12345/feed.atom").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_preview_meta_and_offer_their_feeds() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let id = publish(
        &app,
        &ada,
        "Analytical engine",
        "A general-purpose computer.",
    )
    .await;
    let mut visitor = Visitor::new(&app);
    let base = app.url();

    let home = visitor.get("/").await;
    assert!(home.body.contains(
        r#"<link rel="alternate" type="application/atom+xml" title="Omni: newest projects" href="/feed.atom">"#
    ));
    let project = visitor.get(&format!("/posts/{id}")).await;
    let canonical = format!("{base}/posts/{id}");
    for tag in [
        format!(r#"<link rel="canonical" href="{canonical}">"#),
        format!(r#"<meta property="og:url" content="{canonical}">"#),
        r#"<meta property="og:title" content="Analytical engine">"#.to_owned(),
        r#"<meta property="og:description" content="A general-purpose computer.">"#.to_owned(),
        r#"<meta name="description" content="A general-purpose computer.">"#.to_owned(),
        r#"<meta name="twitter:card" content="summary">"#.to_owned(),
        r#"<meta name="author" content="ada">"#.to_owned(),
        format!(
            r#"<meta property="article:author" content="{base}/users/{}">"#,
            ada.id
        ),
    ] {
        assert!(
            project.body.contains(&tag),
            "{tag} missing from the project page"
        );
    }
    let profile = visitor.get(&format!("/users/{}", ada.id)).await;
    assert!(
        profile
            .body
            .contains(r#"<meta property="og:type" content="profile">"#)
    );
    assert!(profile.body.contains(&format!(
        r#"type="application/atom+xml" title="ada on Omni" href="/users/{}/feed.atom""#,
        ada.id
    )));

    // With a public origin set, links name it, whatever Host a request had.
    let public = spawn_app_with(AppOptions {
        variables: vec![("public_origin".into(), "https://omni.example.org".into())],
        ..AppOptions::default()
    })
    .await;
    let ada = public.create_user("ada").await;
    let id = publish(&public, &ada, "Engine", "").await;
    let page = public
        .send(
            public
                .request(reqwest::Method::GET, &format!("/posts/{id}"))
                .header("host", "evil.example"),
        )
        .await;
    assert!(page.text().contains(&format!(
        r#"<link rel="canonical" href="https://omni.example.org/posts/{id}">"#
    )));
    assert!(!page.text().contains("evil.example"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_host_never_reaches_another_visitors_cached_page() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, "Engine", "").await;
    let forged = app
        .send(
            app.request(reqwest::Method::GET, &format!("/posts/{id}"))
                .header("host", "evil.example"),
        )
        .await;
    assert!(forged.text().contains("http://evil.example/posts/"));
    let honest = app.get(&format!("/posts/{id}"), None).await;
    assert!(
        !honest.text().contains("evil.example"),
        "a forged Host was served to another visitor"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_txt_keeps_crawlers_to_pages_and_names_the_sitemap() {
    let app = spawn_app().await;
    let robots = app.get("/robots.txt", None).await;
    assert_eq!(robots.status, 200);
    assert_eq!(
        robots.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let text = robots.text();
    assert!(text.contains(&format!("Sitemap: {}/sitemap.xml\n", app.url())));
    assert!(text.contains("Disallow: /api/\n"));
}

/// The `<loc>`s of a sitemap or sitemap index, after checking it is
/// well-formed and of `kind` (`urlset` or `sitemapindex`).
fn locs(xml: &str, kind: &str) -> Vec<String> {
    let document = roxmltree::Document::parse(xml).expect("the sitemap is well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), kind);
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.sitemaps.org/schemas/sitemap/0.9")
    );
    root.descendants()
        .filter(|node| node.has_tag_name(("http://www.sitemaps.org/schemas/sitemap/0.9", "loc")))
        .map(|node| node.text().unwrap().to_owned())
        .collect()
}

/// Inserts `count` posts by `author` straight into the database, in one
/// statement, with ids 1000 and up (older than any real post).
async fn seed_posts(app: &TestApp, author: &str, count: usize) {
    let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                  UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                  UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let numbers = format!(
        "SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n \
         FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f"
    );
    let sql = format!(
        "INSERT INTO posts (id, author_id, title, description, markdown_url, updated_at) \
         SELECT 1000 + n, {author}, 'Seed', '', 'https://example.com/s.md', 1735689600000 \
         FROM ({numbers}) t WHERE n < {count}"
    );
    app.execute(&sql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sitemap_lists_every_page_and_past_50000_urls_becomes_an_index() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let id = publish(&app, &ada, "Engine", "").await;
    let base = app.url();
    let small = app.get("/sitemap.xml", None).await;
    assert_eq!(small.status, 200);
    assert_eq!(
        small.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    assert_eq!(
        locs(&small.text(), "urlset"),
        [
            format!("{base}/"),
            format!("{base}/posts/{id}"),
            format!("{base}/users/{}", ada.id)
        ]
    );

    // Home, 49,997 + 1 posts and a user: exactly 50,000 URLs, one file.
    seed_posts(&app, &ada.id, 49_997).await;
    let full = get_after_the_cache_expires(&app, "/sitemap.xml").await;
    let urls = locs(&full.text(), "urlset");
    assert_eq!(urls.len(), 50_000);

    // One more post: an index of the posts' files and the users' file.
    app.execute(&format!(
        "INSERT INTO posts (id, author_id, title, description, markdown_url, updated_at) \
         VALUES (999, {}, 'Seed', '', 'https://example.com/s.md', 1735689600000)",
        ada.id
    ))
    .await;
    let index = get_after_the_cache_expires(&app, "/sitemap.xml").await;
    let parts = locs(&index.text(), "sitemapindex");
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0], format!("{base}/sitemaps/posts.xml"));
    assert_eq!(parts[1], format!("{base}/sitemaps/users.xml"));
    let posts_part = get_after_the_cache_expires(&app, "/sitemaps/posts.xml").await;
    let posts = locs(&posts_part.text(), "urlset");
    assert_eq!(posts.len(), 49_999);
    let users_part = app.get("/sitemaps/users.xml", None).await;
    assert_eq!(
        locs(&users_part.text(), "urlset"),
        [format!("{base}/users/{}", ada.id)]
    );

    // Past 50,000 posts, a second posts file, keyset-paged after the first.
    seed_posts_after(&app, &ada.id).await;
    let bigger = get_after_the_cache_expires(&app, "/sitemap.xml").await;
    let parts = locs(&bigger.text(), "sitemapindex");
    assert_eq!(parts.len(), 3, "{parts:?}");
    let second = parts[1].strip_prefix(&base).unwrap().to_owned();
    assert!(second.starts_with("/sitemaps/posts.xml?after="), "{second}");
    let first_part = locs(
        &get_after_the_cache_expires(&app, "/sitemaps/posts.xml")
            .await
            .text(),
        "urlset",
    );
    let second_part = locs(&app.get(&second, None).await.text(), "urlset");
    assert_eq!(first_part.len(), 50_000);
    assert_eq!(second_part.len(), 1);
    assert!(!second_part.iter().any(|url| first_part.contains(url)));
    if app.backend() == Backend::MySql {
        let bad = app.get("/sitemaps/posts.xml?after=x", None).await;
        assert_eq!(bad.status, 404);
    }
}

/// Two more seeded posts, so that there are 50,001 in all.
async fn seed_posts_after(app: &TestApp, author: &str) {
    app.execute(&format!(
        "INSERT INTO posts (id, author_id, title, description, markdown_url, updated_at) \
         VALUES (998, {author}, 'Seed', '', 'https://example.com/s.md', 1735689600000), \
                (997, {author}, 'Seed', '', 'https://example.com/s.md', 1735689600000)"
    ))
    .await;
}
