//! Posts: the public list, one post, and the author's writes.

use spin_sdk::http::Response;

use crate::actions;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::model::{Description, MarkdownUrl, Title};
use crate::paging::Paging;
use crate::store::posts::{self, NewPost, PostChanges};
use crate::views::PostView;

use super::{caller, created, idempotency_key, routes};

/// `GET /api/posts`: every post, newest first, by `?page=` or `?before=`.
pub fn list(request: &Request) -> Result<Response, Error> {
    let paging = Paging::from_query(&request.query_pairs())?;
    let context = Context::load()?;
    cache::serve(
        request,
        &context,
        &[versions::POSTS, versions::PROFILES],
        Paging::PARAMETERS,
        || {
            let db = context.db()?;
            super::list::<_, PostView>(
                paging,
                |page| posts::page(db, page),
                |before| posts::before(db, before),
                |p| p.id,
                // The total is a sum, which always has a row.
                || Error::internal(anyhow::anyhow!("the posts total has no row")),
            )
        },
    )
}

/// `POST /api/posts {title, description?, markdown_url}`: 201 with the post.
pub fn create(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let mut fields = request.json()?;
    let title = fields.required::<Title>("title");
    let description = fields.optional::<Description>("description");
    let markdown_url = fields.required::<MarkdownUrl>("markdown_url");
    fields.finish()?;
    let new_post = NewPost {
        title: title?,
        description: description?.unwrap_or_default(),
        markdown_url: markdown_url?,
    };
    let key = idempotency_key(request)?;
    let post = actions::posts::create(&context, &caller, &new_post, key.as_ref())?;
    created(
        post,
        |post| format!("/api/posts/{}", post.id),
        PostView::from,
    )
}

/// `GET /api/posts/:id`.
pub fn get(request: &Request) -> Result<Response, Error> {
    let id = request.path_id(routes::POST)?;
    let context = Context::load()?;
    cache::serve(
        request,
        &context,
        &[&versions::post(id), versions::PROFILES],
        &[],
        || {
            let post = posts::find(context.db()?, id)?.ok_or_else(Error::no_such_post)?;
            http::ok(&PostView::from(post))
        },
    )
}

/// `PATCH /api/posts/:id {title?, description?, markdown_url?}`: the
/// author only.
pub fn update(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let id = request.path_id(routes::POST)?;
    let mut fields = request.json()?;
    let title = fields.optional::<Title>("title");
    let description = fields.optional::<Description>("description");
    let markdown_url = fields.optional::<MarkdownUrl>("markdown_url");
    fields.finish()?;
    let changes = PostChanges {
        title: title?,
        description: description?,
        markdown_url: markdown_url?,
    };
    let post = actions::posts::edit(&context, &caller, id, &changes)?;
    http::ok(&PostView::from(post))
}

/// `DELETE /api/posts/:id`: the author only; its comments go too, in the
/// same transaction.
pub fn delete(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let id = request.path_id(routes::POST)?;
    actions::posts::delete(&context, &caller, id)?;
    Ok(http::no_content())
}
