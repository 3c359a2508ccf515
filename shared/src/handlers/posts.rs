//! Posts: the public list, one post, and the author's writes. Each write's
//! rules (the write limit, its transaction, who may change what, and what it
//! invalidates in the cache) are a function of their own, such as
//! [`update_post`], which the website's forms call too.

use spin_sdk::http::Response;

use crate::auth;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::db::{Db, transaction};
use crate::error::Error;
use crate::http::{self, Request};
use crate::model::{Description, MarkdownUrl, Title};
use crate::paging::Paging;
use crate::snowflake::{Id, NodeId};
use crate::store::posts::{self, NewPost, Post, PostChanges};
use crate::store::users::{self, User};
use crate::time::now_ms;
use crate::views::PostView;

use super::{Created, count_write, create_once, routes};

/// `GET /api/posts`: every post, newest first, by `?page=` or `?before=`.
pub fn list(request: &Request) -> Result<Response, Error> {
    let paging = Paging::from_query(&request.query_pairs())?;
    let context = Context::load()?;
    cache::serve(
        request,
        &context,
        &[versions::POSTS, versions::PROFILES],
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
    let context = Context::load()?;
    let caller = auth::token_user_id(request, &context)?;
    count_write(&context, caller)?;
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

    let node = context.config().snowflake_node;
    let (response, made) = create_once(request, context.db()?, &caller.to_string(), |db| {
        let post = insert_post(db, node, caller, &new_post)?;
        let created = Created::new(format!("/api/posts/{}", post.id), &PostView::from(post))?;
        Ok((created, ()))
    })?;
    if made.is_some() {
        post_created(&context, caller);
    }
    Ok(response)
}

/// Publishes `new_post` by `caller`: counted against the caller's write
/// limit; 401 if the caller's account is gone.
pub fn create_post(context: &Context, caller: Id, new_post: &NewPost) -> Result<Post, Error> {
    count_write(context, caller)?;
    let node = context.config().snowflake_node;
    let post = transaction(context.db()?, |db| insert_post(db, node, caller, new_post))?;
    post_created(context, caller);
    Ok(post)
}

/// Inserts `caller`'s post, inside a transaction.
fn insert_post(db: &dyn Db, node: NodeId, caller: Id, new_post: &NewPost) -> Result<Post, Error> {
    let author = existing(users::find(db, caller)?)?;
    posts::insert(db, node, &author, new_post)
}

/// Invalidates the cached lists a new post by `author` appears in.
fn post_created(context: &Context, author: Id) {
    cache::changed(context, &[versions::POSTS, &versions::user_posts(author)]);
}

/// `GET /api/posts/:id`.
pub fn get(request: &Request) -> Result<Response, Error> {
    let id = request.path_id(routes::POST)?;
    let context = Context::load()?;
    cache::serve(
        request,
        &context,
        &[&versions::post(id), versions::PROFILES],
        || {
            let post = posts::find(context.db()?, id)?.ok_or_else(no_such_post)?;
            http::ok(&PostView::from(post))
        },
    )
}

/// `PATCH /api/posts/:id {title?, description?, markdown_url?}`: the
/// author only.
pub fn update(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let caller = auth::token_user_id(request, &context)?;
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

    let post = update_post(&context, id, caller, &changes)?;
    http::ok(&PostView::from(post))
}

/// Applies `changes` to post `id`, which must be `caller`'s: counted
/// against the caller's write limit; 401, 403 or 404 as for the API.
pub fn update_post(
    context: &Context,
    id: Id,
    caller: Id,
    changes: &PostChanges,
) -> Result<Post, Error> {
    count_write(context, caller)?;
    let post = transaction(context.db()?, |db| {
        let post = authored_post(db, id, caller)?;
        posts::update(db, post, changes, now_ms())
    })?;
    post_changed(context, &post);
    Ok(post)
}

/// `DELETE /api/posts/:id`: the author only; its comments go too, in the
/// same transaction.
pub fn delete(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let caller = auth::token_user_id(request, &context)?;
    let id = request.path_id(routes::POST)?;
    delete_post(&context, id, caller)?;
    Ok(http::no_content())
}

/// Deletes post `id`, which must be `caller`'s, and its comments: counted
/// against the caller's write limit.
pub fn delete_post(context: &Context, id: Id, caller: Id) -> Result<(), Error> {
    count_write(context, caller)?;
    let post = transaction(context.db()?, |db| {
        let post = authored_post(db, id, caller)?;
        posts::delete(db, &post)?;
        Ok(post)
    })?;
    post_changed(context, &post);
    Ok(())
}

/// Post `id`, locked for `caller` to write: 401 if the caller's account is
/// gone, 404 if the post is, 403 if it is someone else's. Authorised by a
/// plain read; only then is the post's row (and nothing else) locked.
fn authored_post(db: &dyn Db, id: Id, caller: Id) -> Result<Post, Error> {
    let found = posts::for_caller(db, id, caller)?;
    existing(found.caller)?;
    let post = found.post.ok_or_else(no_such_post)?;
    if post.author.id != caller {
        return Err(Error::Forbidden(
            "Only the post's author may change it.".into(),
        ));
    }
    if !posts::lock(db, id)? {
        return Err(no_such_post());
    }
    Ok(post)
}

/// Invalidates every cached answer that shows `post`: the lists of all
/// posts and of its author's, and the post with its comments.
pub(crate) fn post_changed(context: &Context, post: &Post) {
    cache::changed(
        context,
        &[
            versions::POSTS,
            &versions::post(post.id),
            &versions::user_posts(post.author.id),
        ],
    );
}

/// The caller's account, or a 401 if it was deleted after the token was issued.
pub(crate) fn existing(caller: Option<User>) -> Result<User, Error> {
    caller.ok_or_else(|| Error::Unauthorized("The token's user no longer exists.".into()))
}

pub(crate) fn no_such_post() -> Error {
    Error::NotFound("No post has that id.".into())
}
