//! The frame every page shares (the head, the site header with its
//! navigation), and the small pieces pages are made of: names, dates,
//! excerpts, counts, links and the pager.

use maud::{DOCTYPE, Markup, html};

use crate::model::SearchQuery;
use crate::store::posts::Author;
use crate::store::users::User;
use crate::time::rfc3339_ms;
use crate::web::assets;
use crate::web::forms::CSRF_FIELD;
use crate::web::paging::Pager;
use crate::web::place::Place;

/// The logged-in visitor, as the page header shows them.
#[derive(Clone, Copy, Debug)]
pub struct Viewer<'a> {
    /// Who is logged in.
    pub user: &'a User,
    /// The CSRF token for their forms (the header's Log out is one).
    pub csrf: &'a str,
}

/// What the site header offers.
#[derive(Clone, Copy, Debug)]
pub enum Header<'a> {
    /// Everything, for the visitor as they are.
    Full(Option<Viewer<'a>>),
    /// Only the way home: error pages, which cannot know who is visiting.
    Minimal,
}

/// What a page's `<head>` says about it beyond its title, and what the
/// header's search box holds.
#[derive(Clone, Debug, Default)]
pub struct Head<'a> {
    /// How link previews (OpenGraph, Twitter cards) and search engines show
    /// the page; `None` for pages that are no one's to share.
    pub preview: Option<Preview<'a>>,
    /// A feed of this page's own, offered besides the site's: its title and
    /// path.
    pub feed: Option<(String, String)>,
    /// The search box's text (the search page's query).
    pub query: &'a str,
}

/// A page as a link to it shows elsewhere.
#[derive(Clone, Debug)]
pub struct Preview<'a> {
    /// The page's absolute URL.
    pub canonical: String,
    /// `article` (a project) or `profile`.
    pub kind: &'static str,
    /// The page's title, without the site's name.
    pub title: &'a str,
    /// A line or two about it.
    pub description: String,
    /// Who it is by: their name and their profile's absolute URL.
    pub author: Option<(String, String)>,
    /// A profile's username.
    pub username: Option<&'a str>,
}

/// The site's feed, as every page offers it.
const SITE_FEED_TITLE: &str = "Omni: newest projects";

/// A whole page: `title` in the tab, `main` in the `<main>` landmark.
pub fn page(title: &str, header: Header<'_>, main: Markup) -> Markup {
    page_with(title, header, &Head::default(), main)
}

/// [`page`], with what `head` says about it.
pub fn page_with(title: &str, header: Header<'_>, head: &Head<'_>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Omni" }
                link rel="stylesheet" href=(assets::STYLE_CSS.path);
                link rel="icon" type="image/svg+xml" href=(assets::ICON_SVG.path);
                link rel="alternate" type="application/atom+xml" title=(SITE_FEED_TITLE) href=(Place::Feed.href());
                @if let Some((feed_title, href)) = &head.feed {
                    link rel="alternate" type="application/atom+xml" title=(feed_title) href=(href);
                }
                @if let Some(preview) = &head.preview { (preview_meta(preview)) }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site-header {
                    div.bar {
                        span.brand { img src=(assets::ICON_SVG.path) alt=""; "Omni" }
                        form.search role="search" method="get" action=(Place::Search.href()) {
                            label.visually-hidden for="site-search" { "Search projects" }
                            input #site-search type="search" name="q" value=(head.query)
                                maxlength=(SearchQuery::MAX_CHARS) required placeholder="Search projects";
                            button type="submit" { "Search" }
                        }
                        nav aria-label="Site" {
                            ul {
                                li { a href=(Place::Home.href()) { "Home" } }
                                @if let Header::Full(viewer) = header {
                                    @if let Some(viewer) = viewer {
                                        li { a href=(Place::NewPost.href()) { "New project" } }
                                        li { a href=(Place::User(viewer.user.id).href()) { (viewer.user.username) } }
                                        li { a href=(Place::Account.href()) { "Account" } }
                                        li {
                                            form method="post" action=(Place::Logout.href()) {
                                                (csrf_field(viewer.csrf))
                                                button.link type="submit" { "Log out" }
                                            }
                                        }
                                    } @else {
                                        li { a href=(Place::Login.href()) { "Log in" } }
                                        li { a href=(Place::Signup.href()) { "Sign up" } }
                                    }
                                }
                            }
                        }
                    }
                }
                main #main { (main) }
            }
        }
    }
}

/// The meta tags of a page's preview: OpenGraph, a Twitter card, the
/// description and the canonical URL.
fn preview_meta(preview: &Preview<'_>) -> Markup {
    html! {
        link rel="canonical" href=(preview.canonical);
        meta name="description" content=(preview.description);
        meta property="og:site_name" content="Omni";
        meta property="og:type" content=(preview.kind);
        meta property="og:title" content=(preview.title);
        meta property="og:description" content=(preview.description);
        meta property="og:url" content=(preview.canonical);
        meta name="twitter:card" content="summary";
        meta name="twitter:title" content=(preview.title);
        meta name="twitter:description" content=(preview.description);
        @if let Some((name, url)) = &preview.author {
            meta name="author" content=(name);
            meta property="article:author" content=(url);
        }
        @if let Some(username) = preview.username {
            meta property="profile:username" content=(username);
        }
    }
}

pub(super) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// The name a person goes by: the display name, or the username if they
/// gave none.
pub fn name_of(display_name: &str, username: &str) -> String {
    if display_name.trim().is_empty() {
        username.to_owned()
    } else {
        display_name.to_owned()
    }
}

pub(super) fn author_link(author: &Author) -> Markup {
    html! {
        a href=(Place::User(author.id).href()) { (name_of(&author.display_name, &author.username)) }
    }
}

/// "22 Nov 2026", in a `<time>` whose `datetime` is the exact instant.
pub(super) fn date(unix_ms: i64) -> Markup {
    let stamp = rfc3339_ms(unix_ms);
    html! { time datetime=(stamp) { (human_date(&stamp)) } }
}

/// "2026-11-22T…" as "22 Nov 2026".
fn human_date(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let part = |range: std::ops::Range<usize>| rfc3339.get(range).unwrap_or_default();
    let month = part(5..7)
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"");
    let day = part(8..10).trim_start_matches('0');
    format!("{day} {month} {}", part(0..4))
}

/// Up to `max` characters of `text`, cut at a word where one is near, with
/// an ellipsis if anything was cut.
pub(super) fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let head = &text[..cut];
            let at_word = head
                .rfind(char::is_whitespace)
                .filter(|&space| space > cut / 2)
                .map_or(head, |space| &head[..space]);
            format!("{}…", at_word.trim_end())
        }
    }
}

/// `url` if it is an http(s) URL, the only kind ever rendered as a link.
/// Input validation already refuses anything else; this holds even if a
/// stored row says otherwise.
pub(super) fn http_href(url: &str) -> Option<&str> {
    let scheme = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (scheme.starts_with("https://") || scheme.starts_with("http://")).then_some(url)
}

pub(super) fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

pub(super) fn pager(pager: &Pager) -> Markup {
    html! {
        @if pager.newer.is_some() || pager.older.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(href) = &pager.newer { a href=(href) rel="prev" { "Newer" } } @else { span {} }
                @if let Some(href) = &pager.older { a href=(href) rel="next" { "Older" } }
            }
        }
    }
}

/// `/login?next=<path>`.
pub fn login_href(next: &str) -> String {
    let encoded: String = next
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{}?next={encoded}", Place::Login.href())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_at_a_word_and_say_so() {
        assert_eq!(excerpt("short", 200), "short");
        assert_eq!(excerpt("one two three", 9), "one two…");
        assert_eq!(excerpt(&"é".repeat(300), 200).chars().count(), 201);
    }

    #[test]
    fn dates_read_as_day_month_year() {
        assert_eq!(human_date("2026-11-02T05:00:00.000Z"), "2 Nov 2026");
        assert_eq!(human_date("2025-01-31T00:00:00.000Z"), "31 Jan 2025");
    }

    #[test]
    fn a_login_link_encodes_where_to_return() {
        assert_eq!(login_href("/posts/7"), "/login?next=/posts/7");
        assert_eq!(
            login_href("/?before=5&x=\""),
            "/login?next=/%3Fbefore%3D5%26x%3D%22"
        );
    }
}
