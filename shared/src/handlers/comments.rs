//! Comments: a post's list, and writes by their authors (and deletion by
//! the post's author).

use spin_sdk::http::Response;

use crate::auth;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::handlers::posts::{existing, no_such_post};
use crate::http::{self, Paging, Request};
use crate::model::CommentBody;
use crate::snowflake::Id;
use crate::store::comments::{self, Comment};
use crate::time::now_ms;
use crate::views::CommentView;

use super::{Created, count_write, create_once, routes};

/// `GET /api/posts/:id/comments`: newest first, by `?page=` or `?before=`;
/// 404 for an unknown post.
pub fn list(request: &Request) -> Result<Response, Error> {
    let post = request.path_id(routes::POST_COMMENTS)?;
    let paging = Paging::from_request(request)?;
    let context = Context::load()?;
    cache::serve(
        request,
        &context,
        &[&versions::post(post), versions::PROFILES],
        || {
            let db = context.db()?;
            super::list::<_, CommentView>(
                paging,
                |page| comments::page(db, post, page),
                |before| comments::before(db, post, before),
                |c| c.id,
                no_such_post,
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

/// Comment `id` with its post's author, locked for `caller` to write if
/// `may_write` allows: 401 if the caller's account is gone, 404 if the
/// comment is, 403 if `may_write(comment, its post's author)` says no.
/// Authorised by a plain read; only then is the comment's row (and nothing
/// else) locked.
fn authored_comment(
    db: &dyn Db,
    id: Id,
    caller: Id,
    may_write: impl Fn(&Comment, Id) -> Result<(), Error>,
) -> Result<(Comment, Id), Error> {
    let no_such_comment = || Error::NotFound("No comment has that id.".into());
    let found = comments::for_caller(db, id, caller)?;
    existing(found.caller)?;
    let (comment, post_author) = found.comment.ok_or_else(no_such_comment)?;
    may_write(&comment, post_author)?;
    if !comments::lock(db, id)? {
        return Err(no_such_comment());
    }
    Ok((comment, post_author))
}

/// `POST /api/posts/:id/comments {body}`: 201 with the comment.
pub fn create(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let caller = auth::token_user_id(request, &context)?;
    count_write(&context, caller)?;
    let post = request.path_id(routes::POST_COMMENTS)?;
    let body = comment_body(request)?;
    let node = context.config().snowflake_node;
    let mut post_author = None;
    let response = create_once(request, context.db()?, &caller.to_string(), |db| {
        let found = comments::for_new_comment(db, post, caller)?;
        let author = existing(found.caller)?;
        post_author = Some(found.post_author.ok_or_else(no_such_post)?);
        let comment = comments::insert(db, node, post, &author, &body)?;
        Created::new(
            format!("/api/comments/{}", comment.id),
            &CommentView::from(comment),
        )
    })?;
    comments_changed(&context, post, post_author);
    Ok(response)
}

/// Invalidates every cached answer that shows post `post`'s comments or
/// their count: the post, and the lists of all posts and of the post's
/// author (if known: a replayed create did not look it up, and changed
/// nothing).
fn comments_changed(context: &Context, post: Id, post_author: Option<Id>) {
    let Some(post_author) = post_author else {
        return;
    };
    cache::changed(
        context,
        &[
            versions::POSTS,
            &versions::post(post),
            &versions::user_posts(post_author),
        ],
    );
}

/// `PATCH /api/comments/:id {body}`: the comment's author only.
pub fn update(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let caller = auth::token_user_id(request, &context)?;
    count_write(&context, caller)?;
    let id = request.path_id(routes::COMMENT)?;
    let body = comment_body(request)?;
    let comment = transaction(context.db()?, |db| {
        let (comment, _) = authored_comment(db, id, caller, |comment, _| {
            if comment.author.id == caller {
                Ok(())
            } else {
                Err(Error::Forbidden(
                    "Only the comment's author may edit it.".into(),
                ))
            }
        })?;
        comments::update(db, comment, &body, now_ms())
    })?;
    cache::changed(&context, &[&versions::post(comment.post_id)]);
    http::ok(&CommentView::from(comment))
}

/// `DELETE /api/comments/:id`: the comment's author or the post's author.
pub fn delete(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let caller = auth::token_user_id(request, &context)?;
    count_write(&context, caller)?;
    let id = request.path_id(routes::COMMENT)?;
    let (post, post_author) = transaction(context.db()?, |db| {
        let (comment, post_author) = authored_comment(db, id, caller, |comment, author| {
            if comment.author.id == caller || author == caller {
                Ok(())
            } else {
                Err(Error::Forbidden(
                    "Only the comment's author or the post's author may delete it.".into(),
                ))
            }
        })?;
        comments::delete(db, &comment)?;
        Ok((comment.post_id, post_author))
    })?;
    comments_changed(&context, post, Some(post_author));
    Ok(http::no_content())
}
