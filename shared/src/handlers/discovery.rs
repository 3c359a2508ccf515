//! Finding projects, and reading them: search and write-ups.

use spin_sdk::http::Response;

use crate::actions;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::model::SearchQuery;
use crate::paging::{Paging, query_values};
use crate::store::posts;
use crate::views::{self, PostView, WriteupView};

use super::{client_address, routes};

/// `GET /api/search?q=…&page=N`: the posts matching `q`, best match first,
/// ten a page with totals; 400 for a missing, empty or too long `q`, too
/// many words, or `before` (results have no order by id to page by).
pub fn search(request: &Request) -> Result<Response, Error> {
    let pairs = request.query_pairs();
    let query = search_query(&query_values(&pairs, "q"))?;
    let page = match Paging::from_query(&pairs)? {
        Paging::Page(page) => page,
        Paging::Before(_) => {
            return Err(Error::BadRequest(
                "Search results are paged with `page`, not `before`.".into(),
            ));
        }
    };
    let context = Context::load()?;
    actions::search::count(&context, &client_address(request, &context))?;
    cache::serve(
        request,
        &context,
        &[versions::POSTS, versions::PROFILES],
        actions::search::PARAMETERS,
        || {
            let listing = posts::search(context.db()?, &query, page)?;
            let total = listing.total.unwrap_or_default();
            http::ok(&views::page::<_, PostView>(total, listing.items, page))
        },
    )
}

/// `GET /api/posts/:id/writeup`: the post's write-up, rendered and
/// sanitised; 404 for an unknown post, 502 naming the reason when its
/// source cannot be fetched or is refused.
pub fn writeup(request: &Request) -> Result<Response, Error> {
    let id = request.path_id(routes::POST_WRITEUP)?;
    let context = Context::load()?;
    cache::serve(request, &context, &[&versions::post(id)], &[], || {
        let post = posts::find(context.db()?, id)?.ok_or_else(Error::no_such_post)?;
        let writeup = actions::writeups::show(&context, &post).map_err(|f| f.into_error())?;
        http::ok(&WriteupView::new(
            id,
            writeup.source_url,
            writeup.html,
            writeup.fetched_at,
        ))
    })
}

/// The one `q` of a search: 400 if it is missing, given twice or invalid.
fn search_query(values: &[&str]) -> Result<SearchQuery, Error> {
    match values {
        [] => Err(Error::BadRequest("Give a search with `q`.".into())),
        [text] => {
            SearchQuery::parse(text).map_err(|problem| Error::BadRequest(format!("`q` {problem}.")))
        }
        _ => Err(Error::BadRequest("Give `q` once.".into())),
    }
}
