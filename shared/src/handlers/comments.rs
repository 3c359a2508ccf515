//! Comments: a post's list, and writes by their authors (and deletion by
//! the post's author).

use spin_sdk::http::Response;

use crate::actions;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::model::CommentBody;
use crate::paging::Paging;
use crate::store::comments;
use crate::views::CommentView;

use super::{caller, created, idempotency_key, routes};

/// `GET /api/posts/:id/comments`: newest first, by `?page=` or `?before=`;
/// 404 for an unknown post.
pub fn list(request: &Request) -> Result<Response, Error> {
    let post = request.path_id(routes::POST_COMMENTS)?;
    let paging = Paging::from_query(&request.query_pairs())?;
    let context = Context::load()?;
    cache::serve(
        request,
        &context,
        &[&versions::post(post), versions::PROFILES],
        Paging::PARAMETERS,
        || {
            let db = context.db()?;
            super::list::<_, CommentView>(
                paging,
                |page| comments::page(db, post, page),
                |before| comments::before(db, post, before),
                |c| c.id,
                Error::no_such_post,
            )
        },
    )
}

/// The `{body}` of a new or edited comment.
fn comment_body(request: &Request) -> Result<CommentBody, Error> {
    let mut fields = request.json()?;
    let body = fields.required::<CommentBody>("body");
    fields.finish()?;
    Ok(body?)
}

/// `POST /api/posts/:id/comments {body}`: 201 with the comment.
pub fn create(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let post = request.path_id(routes::POST_COMMENTS)?;
    let body = comment_body(request)?;
    let key = idempotency_key(request)?;
    let comment = actions::comments::create(&context, &caller, post, &body, key.as_ref())?;
    created(
        comment,
        |comment| format!("/api/comments/{}", comment.id),
        CommentView::from,
    )
}

/// `PATCH /api/comments/:id {body}`: the comment's author only.
pub fn update(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let id = request.path_id(routes::COMMENT)?;
    let body = comment_body(request)?;
    let comment = actions::comments::edit(&context, &caller, id, &body)?;
    http::ok(&CommentView::from(comment))
}

/// `DELETE /api/comments/:id`: the comment's author or the post's author.
pub fn delete(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let id = request.path_id(routes::COMMENT)?;
    actions::comments::delete(&context, &caller, id)?;
    Ok(http::no_content())
}
