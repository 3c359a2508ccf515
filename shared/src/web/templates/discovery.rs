//! The search page.

use maud::{Markup, html};

use crate::store::posts::Post;
use crate::web::place::Place;

use super::layout::{Head, Header, count, page_with};
use super::projects::post_list;

/// What the search page shows.
#[derive(Debug)]
pub enum Search<'a> {
    /// No query yet: a prompt to type one.
    Prompt,
    /// A query that cannot be searched for, and why.
    Invalid(&'a str),
    /// A page of results.
    Results {
        /// The matching posts on this page, best first.
        posts: &'a [Post],
        /// How many match in all.
        total: i64,
        /// This page's number, 1-based.
        page: u32,
        /// How many pages there are.
        pages: i64,
    },
}

/// The search page for `query` (as typed), which the header's search box
/// holds too.
pub fn search_page(header: Header<'_>, query: &str, search: &Search<'_>) -> Markup {
    let head = Head {
        query,
        ..Head::default()
    };
    let title = if query.is_empty() {
        "Search".to_owned()
    } else {
        format!("Search: {query}")
    };
    page_with(
        &title,
        header,
        &head,
        html! {
            h1 { "Search" }
            @match search {
                Search::Prompt => p { "Type words from a project's title or description into the search box above." },
                Search::Invalid(problem) => p.alert role="alert" { "That search cannot be run: the query " (problem) "." },
                Search::Results { posts, total, page, pages } => {
                    p role="status" {
                        (count(*total, "project matches", "projects match")) " “" (query) "”."
                    }
                    @if posts.is_empty() && *total > 0 { p.muted { "This page is past the last one." } }
                    (post_list(posts, 2))
                    @if *page > 1 || i64::from(*page) < *pages {
                        nav.pager aria-label="Pages" {
                            @if *page > 1 {
                                a href=(results_href(query, page - 1)) rel="prev" { "Previous" }
                            } @else { span {} }
                            @if i64::from(*page) < *pages {
                                a href=(results_href(query, page + 1)) rel="next" { "Next" }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `/search?q=<query>&page=<n>`.
fn results_href(query: &str, page: u32) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    if page <= 1 {
        format!("{}?q={encoded}", Place::Search.href())
    } else {
        format!("{}?q={encoded}&page={page}", Place::Search.href())
    }
}
