//! Comments: a post's list, and writes by their authors (and deletion by
//! the post's author).

use spin_sdk::http::Response;

use crate::auth;
use crate::config::Config;
use crate::db::{self, Db, transaction};
use crate::error::Error;
use crate::handlers::posts::{existing, no_such_post};
use crate::http::{self, Paging, Request};
use crate::model::CommentBody;
use crate::snowflake::Id;
use crate::store::comments::{self, Comment};
use crate::time::now_ms;
use crate::views::CommentView;

/// `GET /api/posts/:id/comments`: newest first, by `?page=` or `?before=`;
/// 404 for an unknown post.
pub fn list(request: &Request) -> Result<Response, Error> {
    let post = request.path_id("id")?;
    let paging = Paging::from_request(request)?;
    let config = Config::load()?;
    let db = db::connect(&config)?;
    super::list::<_, CommentView>(
        paging,
        |page| comments::page(&*db, post, page),
        |before| comments::before(&*db, post, before),
        |c| c.id,
        no_such_post,
    )
}

/// The `{body}` of a new or edited comment.
fn comment_body(request: &Request) -> Result<CommentBody, Error> {
    let mut fields = request.json()?;
    let body = fields.required::<CommentBody>("body");
    fields.finish()?;
    Ok(body?)
}

/// Locks comment `id` for `caller`: 401 if the caller's account is gone,
/// 404 if the comment is. Returns it with its post's author.
fn locked_comment(db: &dyn Db, id: Id, caller: Id) -> Result<(Comment, Id), Error> {
    let locked = comments::lock_for_caller(db, id, caller)?;
    existing(locked.caller)?;
    locked
        .comment
        .ok_or_else(|| Error::NotFound("No comment has that id.".into()))
}

/// `POST /api/posts/:id/comments {body}`: 201 with the comment.
pub fn create(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let caller = auth::token_user_id(request, &config)?;
    let post = request.path_id("id")?;
    let body = comment_body(request)?;
    let db = db::connect(&config)?;
    let comment = create_comment(&config, &*db, post, caller, &body)?;
    http::created(
        &format!("/api/comments/{}", comment.id),
        &CommentView::from(comment),
    )
}

/// Adds `caller`'s comment to `post`: 401 if the caller's account is gone,
/// 404 if the post is.
pub fn create_comment(
    config: &Config,
    db: &dyn Db,
    post: Id,
    caller: Id,
    body: &CommentBody,
) -> Result<Comment, Error> {
    transaction(db, |db| {
        let locked = comments::lock_for_new_comment(db, post, caller)?;
        let author = existing(locked.caller)?;
        if !locked.post_exists {
            return Err(no_such_post());
        }
        comments::insert(db, config.snowflake_node, post, &author, body)
    })
}

/// `PATCH /api/comments/:id {body}`: the comment's author only.
pub fn update(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let caller = auth::token_user_id(request, &config)?;
    let id = request.path_id("id")?;
    let body = comment_body(request)?;
    let db = db::connect(&config)?;
    let comment = update_comment(&*db, id, caller, &body)?;
    http::ok(&CommentView::from(comment))
}

/// Replaces the body of comment `id`, which must be `caller`'s.
pub fn update_comment(
    db: &dyn Db,
    id: Id,
    caller: Id,
    body: &CommentBody,
) -> Result<Comment, Error> {
    transaction(db, |db| {
        let (comment, _) = locked_comment(db, id, caller)?;
        if comment.author.id != caller {
            return Err(Error::Forbidden(
                "Only the comment's author may edit it.".into(),
            ));
        }
        comments::update(db, comment, body, now_ms())
    })
}

/// `DELETE /api/comments/:id`: the comment's author or the post's author.
pub fn delete(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let caller = auth::token_user_id(request, &config)?;
    let id = request.path_id("id")?;
    let db = db::connect(&config)?;
    delete_comment(&*db, id, caller)?;
    Ok(http::no_content())
}

/// Deletes comment `id` if `caller` wrote it or wrote its post, and returns
/// what it was.
pub fn delete_comment(db: &dyn Db, id: Id, caller: Id) -> Result<Comment, Error> {
    transaction(db, |db| {
        let (comment, post_author) = locked_comment(db, id, caller)?;
        if !may_delete_comment(caller, comment.author.id, post_author) {
            return Err(Error::Forbidden(
                "Only the comment's author or the post's author may delete it.".into(),
            ));
        }
        comments::delete(db, &comment)?;
        Ok(comment)
    })
}

/// Whether `caller` may delete a comment by `comment_author` on a post by
/// `post_author`: the website shows its Delete button by the same rule.
pub fn may_delete_comment(caller: Id, comment_author: Id, post_author: Id) -> bool {
    caller == comment_author || caller == post_author
}
