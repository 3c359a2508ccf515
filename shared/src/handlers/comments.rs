//! Comments: a post's list, and writes by their authors (and deletion by
//! the post's author). Each write's rules are a function of their own, such
//! as [`delete_comment`], which the website's forms call too.

use spin_sdk::http::Response;

use crate::auth;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::handlers::posts::{existing, no_such_post};
use crate::http::{self, Request};
use crate::model::CommentBody;
use crate::paging::Paging;
use crate::snowflake::{Id, NodeId};
use crate::store::comments::{self, Comment};
use crate::time::now_ms;
use crate::views::CommentView;

use super::{Created, count_write, create_once, routes};

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
    let (response, post_author) = create_once(request, context.db()?, &caller.to_string(), |db| {
        let (comment, post_author) = insert_comment(db, node, post, caller, &body)?;
        let created = Created::new(
            format!("/api/comments/{}", comment.id),
            &CommentView::from(comment),
        )?;
        Ok((created, post_author))
    })?;
    if let Some(post_author) = post_author {
        comments_changed(&context, post, post_author);
    }
    Ok(response)
}

/// Adds `caller`'s comment to `post`: counted against the caller's write
/// limit; 401 if the caller's account is gone, 404 if the post is.
pub fn create_comment(
    context: &Context,
    post: Id,
    caller: Id,
    body: &CommentBody,
) -> Result<Comment, Error> {
    count_write(context, caller)?;
    let node = context.config().snowflake_node;
    let (comment, post_author) = transaction(context.db()?, |db| {
        insert_comment(db, node, post, caller, body)
    })?;
    comments_changed(context, post, post_author);
    Ok(comment)
}

/// Inserts `caller`'s comment on `post`, inside a transaction; returns it
/// with the post's author.
fn insert_comment(
    db: &dyn Db,
    node: NodeId,
    post: Id,
    caller: Id,
    body: &CommentBody,
) -> Result<(Comment, Id), Error> {
    let found = comments::for_new_comment(db, post, caller)?;
    let author = existing(found.caller)?;
    let post_author = found.post_author.ok_or_else(no_such_post)?;
    Ok((
        comments::insert(db, node, post, &author, body)?,
        post_author,
    ))
}

/// Invalidates every cached answer that shows post `post`'s comments or
/// their count: the post, and the lists of all posts and of the post's
/// author.
fn comments_changed(context: &Context, post: Id, post_author: Id) {
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
    let id = request.path_id(routes::COMMENT)?;
    let body = comment_body(request)?;
    let comment = update_comment(&context, id, caller, &body)?;
    http::ok(&CommentView::from(comment))
}

/// Replaces the body of comment `id`, which must be `caller`'s: counted
/// against the caller's write limit.
pub fn update_comment(
    context: &Context,
    id: Id,
    caller: Id,
    body: &CommentBody,
) -> Result<Comment, Error> {
    count_write(context, caller)?;
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
        comments::update(db, comment, body, now_ms())
    })?;
    cache::changed(context, &[&versions::post(comment.post_id)]);
    Ok(comment)
}

/// `DELETE /api/comments/:id`: the comment's author or the post's author.
pub fn delete(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let caller = auth::token_user_id(request, &context)?;
    let id = request.path_id(routes::COMMENT)?;
    delete_comment(&context, id, caller)?;
    Ok(http::no_content())
}

/// Deletes comment `id` if `caller` wrote it or wrote its post, and returns
/// what it was: counted against the caller's write limit.
pub fn delete_comment(context: &Context, id: Id, caller: Id) -> Result<Comment, Error> {
    count_write(context, caller)?;
    let (comment, post_author) = transaction(context.db()?, |db| {
        let (comment, post_author) = authored_comment(db, id, caller, |comment, author| {
            if may_delete_comment(caller, comment.author.id, author) {
                Ok(())
            } else {
                Err(Error::Forbidden(
                    "Only the comment's author or the post's author may delete it.".into(),
                ))
            }
        })?;
        comments::delete(db, &comment)?;
        Ok((comment, post_author))
    })?;
    comments_changed(context, comment.post_id, post_author);
    Ok(comment)
}

/// Whether `caller` may delete a comment by `comment_author` on a post by
/// `post_author`: the website shows its Delete button by the same rule.
pub fn may_delete_comment(caller: Id, comment_author: Id, post_author: Id) -> bool {
    caller == comment_author || caller == post_author
}
