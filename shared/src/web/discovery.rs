//! Finding projects: the search page, Atom feeds, the sitemap and
//! robots.txt, the `web-discovery` component.
//!
//! Feeds and sitemaps go through the shared response cache like the API's
//! reads: a strong `ETag`, a 304 for a matching `If-None-Match`, and the
//! version keys of what they show, so a new, edited or deleted project is
//! in them at once.

use spin_sdk::http::Response;

use crate::actions;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::http::Request;
use crate::model::SearchQuery;
use crate::paging::{PAGE_SIZE, Paging, query_values};
use crate::snowflake::{Id, OMNI_EPOCH_MS};
use crate::store::{Walk, posts, users};
use crate::web::session::Visit;
use crate::web::templates::{self, Feed, Located, Search};
use crate::web::{
    Place, Section, Verb, cached_page, not_found, origin, page, secure, unanswered, verb,
};

/// Entries in a feed: the newest projects.
pub const FEED_ENTRIES: i64 = 20;

/// URLs in one sitemap file, the protocol's limit: past it, `/sitemap.xml`
/// becomes an index of files of this many.
pub const SITEMAP_URLS: usize = 50_000;

/// Answers a request for one of this family's places.
pub fn respond(request: &Request, place: Place) -> Result<Response, Error> {
    match (place, verb(request)) {
        (Place::Search, Verb::Get) => search(request),
        (Place::Feed, Verb::Get) => site_feed(request),
        (Place::UserFeed(id), Verb::Get) => user_feed(request, id),
        (Place::Sitemap, Verb::Get) => sitemap(request),
        (Place::SitemapPosts, Verb::Get) => sitemap_part(request, Part::Posts),
        (Place::SitemapUsers, Verb::Get) => sitemap_part(request, Part::Users),
        (Place::Robots, Verb::Get) => robots(request),
        (place, _) => Err(unanswered(place, Section::Discovery)),
    }
}

/// `GET /search?q=…&page=N`: the projects matching `q`, best match first,
/// ten a page. Without `q`, a prompt; with one that cannot be searched, the
/// page says why (400).
fn search(request: &Request) -> Result<Response, Error> {
    let pairs = request.query_pairs();
    let typed = query_values(&pairs, "q")
        .first()
        .copied()
        .unwrap_or_default();
    let visit = Visit::open(request)?;
    let query = match typed.trim() {
        "" => None,
        text => match SearchQuery::parse(text) {
            Ok(query) => Some(query),
            Err(problem) => {
                return page(&visit, 400, |header, _| {
                    templates::search_page(header, typed, &Search::Invalid(&problem))
                });
            }
        },
    };
    let Some(query) = query else {
        return page(&visit, 200, |header, _| {
            templates::search_page(header, typed, &Search::Prompt)
        });
    };
    let number = match Paging::from_query(&pairs)? {
        Paging::Page(number) => number,
        Paging::Before(_) => return Err(Error::BadRequest("That page link is broken.".into())),
    };
    let client = request.client_address(&visit.config().trusted_proxies);
    actions::search::count(visit.context(), &client)?;
    cached_page(
        request,
        &visit,
        &[versions::POSTS, versions::PROFILES],
        actions::search::PARAMETERS,
        || {
            let listing = posts::search(visit.db()?, &query, number)?;
            let total = listing.total.unwrap_or_default();
            let size = i64::from(PAGE_SIZE);
            let pages = (total + size - 1) / size;
            let results = Search::Results {
                posts: &listing.items,
                total,
                page: number,
                pages,
            };
            page(&visit, 200, |header, _| {
                templates::search_page(header, query.as_str(), &results)
            })
        },
    )
}

/// An XML answer with `content_type`.
fn xml(content_type: &str, body: String) -> Result<Response, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(body)
        .build())
}

const ATOM: &str = "application/atom+xml; charset=utf-8";
const SITEMAP: &str = "application/xml; charset=utf-8";

/// `GET /feed.atom`: the newest projects.
fn site_feed(request: &Request) -> Result<Response, Error> {
    let depends_on = [versions::POSTS, versions::PROFILES];
    public(request, &depends_on, &[], |context, origin| {
        let listing = posts::newest(context.db()?, FEED_ENTRIES)?;
        let feed = Feed {
            origin,
            title: "Omni: newest projects",
            path: Place::Feed.href(),
            page: Place::Home.href(),
            since_ms: OMNI_EPOCH_MS,
            posts: &listing.items,
        };
        xml(ATOM, feed.render())
    })
}

/// `GET /users/{id}/feed.atom`: one person's newest projects; the 404
/// page for an unknown user.
fn user_feed(request: &Request, id: Id) -> Result<Response, Error> {
    let depends_on = [
        &versions::user(id),
        &versions::user_posts(id),
        versions::PROFILES,
    ];
    public(request, &depends_on, &[], |context, origin| {
        let db = context.db()?;
        let user = users::find(db, id)?.ok_or_else(not_found)?;
        let listing = posts::newest_by_author(db, id, FEED_ENTRIES)?;
        // Deleted between the two reads.
        listing.total.ok_or_else(not_found)?;
        let name = templates::name_of(&user.display_name, &user.username);
        let feed = Feed {
            origin,
            title: &format!("{name} on Omni"),
            path: Place::UserFeed(id).href(),
            page: Place::User(id).href(),
            since_ms: id.unix_ms(),
            posts: &listing.items,
        };
        xml(ATOM, feed.render())
    })
}

/// A public answer through the shared cache, with the website's headers:
/// `produce` makes it from the request's context and the site's origin,
/// reading the query parameters in `query` only. Feeds and sitemaps are the
/// same for every visitor, logged in or not.
fn public(
    request: &Request,
    depends_on: &[&str],
    query: &[&str],
    produce: impl FnOnce(&Context, &str) -> Result<Response, Error>,
) -> Result<Response, Error> {
    let context = Context::load()?;
    let origin = origin(request, context.config());
    Ok(secure(cache::serve(
        request,
        &context,
        depends_on,
        query,
        || produce(&context, &origin),
    )?))
}

/// The two kinds of sitemap file in an index.
#[derive(Clone, Copy, Debug)]
enum Part {
    Posts,
    Users,
}

impl Part {
    fn place(self) -> Place {
        match self {
            Part::Posts => Place::SitemapPosts,
            Part::Users => Place::SitemapUsers,
        }
    }
}

/// `GET /sitemap.xml`: Home, every project and every profile; once there
/// are more than [`SITEMAP_URLS`], an index of sitemap files of that many
/// each, found by keyset queries that read one file's worth of an index at
/// a time.
fn sitemap(request: &Request) -> Result<Response, Error> {
    public(
        request,
        &[versions::POSTS, versions::PROFILES],
        &[],
        |context, origin| {
            let db = context.db()?;
            let posts_count = posts::count_capped(db, SITEMAP_URLS + 1)?;
            let users_count = users::count_capped(db, SITEMAP_URLS + 1)?;
            if 1 + posts_count + users_count <= SITEMAP_URLS {
                let all = Walk {
                    after: None,
                    limit: SITEMAP_URLS,
                };
                let mut urls = vec![Located {
                    loc: format!("{origin}{}", Place::Home.href()),
                    lastmod: None,
                }];
                urls.extend(post_urls(origin, &posts::walk(db, all)?));
                urls.extend(user_urls(origin, &users::walk(db, all)?));
                return xml(SITEMAP, templates::urlset(&urls));
            }
            let mut locs = Vec::new();
            for (part, ends) in [
                (Part::Posts, posts::part_ends_every(db, SITEMAP_URLS)?),
                (Part::Users, users::part_ends_every(db, SITEMAP_URLS)?),
            ] {
                let href = format!("{origin}{}", part.place().href());
                locs.push(href.clone());
                // A part after the last full one exists only if rows follow.
                let last = ends.last().copied();
                for end in ends {
                    if Some(end) == last && !has_rows_after(db, part, end)? {
                        break;
                    }
                    locs.push(format!("{href}?after={end}"));
                }
            }
            xml(SITEMAP, templates::sitemap_index(&locs))
        },
    )
}

fn has_rows_after(db: &dyn crate::db::Db, part: Part, after: Id) -> Result<bool, Error> {
    let next = Walk {
        after: Some(after),
        limit: 1,
    };
    Ok(match part {
        Part::Posts => !posts::walk(db, next)?.is_empty(),
        Part::Users => !users::walk(db, next)?.is_empty(),
    })
}

/// `GET /sitemaps/{posts,users}.xml?after=<id>`: up to [`SITEMAP_URLS`]
/// projects or profiles after `after`, in id order.
fn sitemap_part(request: &Request, part: Part) -> Result<Response, Error> {
    let pairs = request.query_pairs();
    let after = match query_values(&pairs, "after").as_slice() {
        [] => None,
        [id] => Some(id.parse::<Id>().map_err(|_| not_found())?),
        _ => return Err(not_found()),
    };
    public(
        request,
        &[versions::POSTS, versions::PROFILES],
        &["after"],
        |context, origin| {
            let walk = Walk {
                after,
                limit: SITEMAP_URLS,
            };
            let db = context.db()?;
            let urls = match part {
                Part::Posts => post_urls(origin, &posts::walk(db, walk)?),
                Part::Users => user_urls(origin, &users::walk(db, walk)?),
            };
            xml(SITEMAP, templates::urlset(&urls))
        },
    )
}

fn post_urls(origin: &str, listed: &[posts::Listed]) -> Vec<Located> {
    listed
        .iter()
        .map(|post| Located {
            loc: format!("{origin}{}", Place::Post(post.id).href()),
            lastmod: Some(post.updated_at),
        })
        .collect()
}

fn user_urls(origin: &str, ids: &[Id]) -> Vec<Located> {
    ids.iter()
        .map(|id| Located {
            loc: format!("{origin}{}", Place::User(*id).href()),
            lastmod: None,
        })
        .collect()
}

/// `GET /robots.txt`.
fn robots(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let origin = origin(request, context.config());
    Ok(secure(
        Response::builder()
            .status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .header("cache-control", "public, max-age=3600")
            .body(templates::robots(&origin))
            .build(),
    ))
}
