//! Comments: writing, editing (by their authors) and deleting (by their
//! authors or the post's).

use crate::cache::{self, versions};
use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::model::{CommentBody, IdempotencyKey};
use crate::snowflake::Id;
use crate::store::comments::{self, Comment};
use crate::store::sessions::Session;
use crate::time::now_ms;

use super::{Created, Once, count_write, create_once, existing, sweep};

/// Whether `caller` may edit `comment`: its author only.
pub fn may_edit(caller: Id, comment: &Comment) -> bool {
    caller == comment.author.id
}

/// Whether `caller` may delete a comment by `comment_author` on a post by
/// `post_author`: either of them. The website shows its Delete by the same
/// rule.
pub fn may_delete(caller: Id, comment_author: Id, post_author: Id) -> bool {
    caller == comment_author || caller == post_author
}

/// Adds the caller's comment to `post`: counted against their write limit;
/// 401 if their session has ended, 404 if the post is gone. With `key`, a
/// retry of the same comment on the same post gets the first one back.
pub fn create(
    context: &Context,
    caller: &Session,
    post: Id,
    body: &CommentBody,
    key: Option<&IdempotencyKey>,
) -> Result<Created<Comment>, Error> {
    count_write(context, caller.user)?;
    let node = context.config().snowflake_node;
    let post_id = post.to_string();
    let once = Once::new(
        context,
        key,
        caller.user.to_string(),
        "comment",
        &[&post_id, body.as_str()],
    )?;
    let (created, post_author) = create_once(context.db()?, once, |db| {
        let found = comments::for_new_comment(db, post, caller)?;
        let author = existing(found.caller)?;
        let post_author = found.post_author.ok_or_else(Error::no_such_post)?;
        Ok((
            comments::insert(db, node, post, &author, body)?,
            post_author,
        ))
    })?;
    if let Some(post_author) = post_author {
        changed(context, post, post_author);
    }
    sweep(context);
    Ok(created)
}

/// Replaces the body of comment `id`, which must be the caller's: counted
/// against their write limit.
pub fn edit(
    context: &Context,
    caller: &Session,
    id: Id,
    body: &CommentBody,
) -> Result<Comment, Error> {
    count_write(context, caller.user)?;
    let comment = transaction(context.db()?, |db| {
        let (comment, _) = authored(
            db,
            id,
            caller,
            |comment, _| may_edit(caller.user, comment),
            "Only the comment's author may edit it.",
        )?;
        comments::update(db, comment, body, now_ms())
    })?;
    // An edit changes neither the count nor any list of posts.
    cache::changed(context, &[&versions::post(comment.post_id)]);
    sweep(context);
    Ok(comment)
}

/// Deletes comment `id` if the caller wrote it or wrote its post, and
/// returns what it was: counted against their write limit.
pub fn delete(context: &Context, caller: &Session, id: Id) -> Result<Comment, Error> {
    count_write(context, caller.user)?;
    let (comment, post_author) = transaction(context.db()?, |db| {
        let (comment, post_author) = authored(
            db,
            id,
            caller,
            |comment, post_author| may_delete(caller.user, comment.author.id, post_author),
            "Only the comment's author or the post's author may delete it.",
        )?;
        comments::delete(db, &comment)?;
        Ok((comment, post_author))
    })?;
    changed(context, comment.post_id, post_author);
    sweep(context);
    Ok(comment)
}

/// Comment `id` with its post's author, locked for `caller` to write if
/// `may_write` allows: 401 if the caller's session has ended, 404 if the
/// comment is gone, 403 saying `refusal` if `may_write(comment, its post's
/// author)` says no. Authorised by a plain read; only then is the comment's
/// row (and nothing else) locked.
fn authored(
    db: &dyn Db,
    id: Id,
    caller: &Session,
    may_write: impl Fn(&Comment, Id) -> bool,
    refusal: &str,
) -> Result<(Comment, Id), Error> {
    let found = comments::for_caller(db, id, caller)?;
    existing(found.caller)?;
    let (comment, post_author) = found.comment.ok_or_else(Error::no_such_comment)?;
    if !may_write(&comment, post_author) {
        return Err(Error::Forbidden(refusal.into()));
    }
    if !comments::lock(db, id)? {
        return Err(Error::no_such_comment());
    }
    Ok((comment, post_author))
}

/// Invalidates every cached answer that shows post `post`'s comments or
/// their count: the post, and the lists of all posts and of the post's
/// author.
pub(super) fn changed(context: &Context, post: Id, post_author: Id) {
    cache::changed(
        context,
        &[
            versions::POSTS,
            &versions::post(post),
            &versions::user_posts(post_author),
        ],
    );
}
