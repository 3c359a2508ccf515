//! Posts: publishing, editing and deleting, by their authors only.

use crate::cache::{self, versions};
use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::model::IdempotencyKey;
use crate::snowflake::Id;
use crate::store::posts::{self, NewPost, Post, PostChanges};
use crate::store::sessions::{self, Session};
use crate::time::now_ms;

use super::{Created, Once, count_write, create_once, existing, sweep};

/// Whether `caller` may edit or delete `post`: its author only. The website
/// shows its Edit and Delete by the same rule.
pub fn may_change(caller: Id, post: &Post) -> bool {
    caller == post.author.id
}

/// Publishes `new_post` by the caller: counted against their write limit;
/// 401 if their session has ended. With `key`, a retry of the same post
/// gets the first one back.
pub fn create(
    context: &Context,
    caller: &Session,
    new_post: &NewPost,
    key: Option<&IdempotencyKey>,
) -> Result<Created<Post>, Error> {
    count_write(context, caller.user)?;
    let node = context.config().snowflake_node;
    let input = [
        new_post.title.as_str(),
        new_post.description.as_str(),
        new_post.markdown_url.as_str(),
    ];
    let once = Once::new(context, key, caller.user.to_string(), "post", &input)?;
    let (created, made) = create_once(context.db()?, once, |db| {
        let author = existing(sessions::user(db, caller)?)?;
        Ok((posts::insert(db, node, &author, new_post)?, ()))
    })?;
    if made.is_some() {
        cache::changed(
            context,
            &[versions::POSTS, &versions::user_posts(caller.user)],
        );
    }
    sweep(context);
    Ok(created)
}

/// Applies `changes` to post `id`, which must be the caller's: counted
/// against their write limit; 401, 403 or 404 as [`authored`] says.
pub fn edit(
    context: &Context,
    caller: &Session,
    id: Id,
    changes: &PostChanges,
) -> Result<Post, Error> {
    count_write(context, caller.user)?;
    let post = transaction(context.db()?, |db| {
        let post = authored(db, id, caller)?;
        posts::update(db, post, changes, now_ms())
    })?;
    changed(context, &post);
    sweep(context);
    Ok(post)
}

/// Deletes post `id`, which must be the caller's, with its comments, and
/// returns what it was: counted against their write limit.
pub fn delete(context: &Context, caller: &Session, id: Id) -> Result<Post, Error> {
    count_write(context, caller.user)?;
    let post = transaction(context.db()?, |db| {
        let post = authored(db, id, caller)?;
        posts::delete(db, &post)?;
        Ok(post)
    })?;
    changed(context, &post);
    sweep(context);
    Ok(post)
}

/// Post `id`, locked for `caller` to write: 401 if the caller's session has
/// ended, 404 if the post is gone, 403 if it is someone else's. Authorised
/// by a plain read; only then is the post's row (and nothing else) locked.
fn authored(db: &dyn Db, id: Id, caller: &Session) -> Result<Post, Error> {
    let found = posts::for_caller(db, id, caller)?;
    existing(found.caller)?;
    let post = found.post.ok_or_else(Error::no_such_post)?;
    if !may_change(caller.user, &post) {
        return Err(Error::Forbidden(
            "Only the post's author may change it.".into(),
        ));
    }
    if !posts::lock(db, id)? {
        return Err(Error::no_such_post());
    }
    Ok(post)
}

/// Invalidates every cached answer that shows `post`: the lists of all
/// posts and of its author's, and the post with its comments.
pub(super) fn changed(context: &Context, post: &Post) {
    cache::changed(
        context,
        &[
            versions::POSTS,
            &versions::post(post.id),
            &versions::user_posts(post.author.id),
        ],
    );
}
