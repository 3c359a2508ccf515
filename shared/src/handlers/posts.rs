//! Posts: the public list, one post, and the author's writes.

use spin_sdk::http::Response;

use crate::auth;
use crate::config::Config;
use crate::db::{self, Db, transaction};
use crate::error::Error;
use crate::http::{self, Paging, Request};
use crate::model::{Description, MarkdownUrl, Title};
use crate::snowflake::Id;
use crate::store::posts::{self, NewPost, Post, PostChanges};
use crate::store::users::{self, User};
use crate::time::now_ms;
use crate::views::PostView;

/// `GET /api/posts`: every post, newest first, by `?page=` or `?before=`.
pub fn list(request: &Request) -> Result<Response, Error> {
    let paging = Paging::from_request(request)?;
    let config = Config::load()?;
    let db = db::connect(&config)?;
    super::list::<_, PostView>(
        paging,
        |page| posts::page(&*db, page),
        |before| posts::before(&*db, before),
        |p| p.id,
        // The counter row always exists; its absence is a broken schema.
        || Error::internal(anyhow::anyhow!("the `posts` counter row is missing")),
    )
}

/// `POST /api/posts {title, description?, markdown_url}`: 201 with the post.
pub fn create(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let caller = auth::token_user_id(request, &config)?;
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

    let db = db::connect(&config)?;
    let post = create_post(&config, &*db, caller, &new_post)?;
    http::created(&format!("/api/posts/{}", post.id), &PostView::from(post))
}

/// Publishes `new_post` by `caller`: 401 if the caller's account is gone.
pub fn create_post(
    config: &Config,
    db: &dyn Db,
    caller: Id,
    new_post: &NewPost,
) -> Result<Post, Error> {
    transaction(db, |db| {
        let author = existing(users::lock(db, caller)?)?;
        posts::insert(db, config.snowflake_node, &author, new_post)
    })
}

/// `GET /api/posts/:id`.
pub fn get(request: &Request) -> Result<Response, Error> {
    let id = request.path_id("id")?;
    let config = Config::load()?;
    let db = db::connect(&config)?;
    let post = posts::find(&*db, id)?.ok_or_else(no_such_post)?;
    http::ok(&PostView::from(post))
}

/// `PATCH /api/posts/:id {title?, description?, markdown_url?}`: the
/// author only.
pub fn update(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let caller = auth::token_user_id(request, &config)?;
    let id = request.path_id("id")?;
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

    let db = db::connect(&config)?;
    let post = update_post(&*db, id, caller, &changes)?;
    http::ok(&PostView::from(post))
}

/// Applies `changes` to post `id`, which must be `caller`'s: 401, 403 or 404
/// as for the API.
pub fn update_post(db: &dyn Db, id: Id, caller: Id, changes: &PostChanges) -> Result<Post, Error> {
    transaction(db, |db| {
        let post = authored_post(db, id, caller)?;
        posts::update(db, post, changes, now_ms())
    })
}

/// `DELETE /api/posts/:id`: the author only; its comments go too, in the
/// same transaction.
pub fn delete(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let caller = auth::token_user_id(request, &config)?;
    let id = request.path_id("id")?;
    let db = db::connect(&config)?;
    delete_post(&*db, id, caller)?;
    Ok(http::no_content())
}

/// Deletes post `id`, which must be `caller`'s, and its comments.
pub fn delete_post(db: &dyn Db, id: Id, caller: Id) -> Result<(), Error> {
    transaction(db, |db| {
        let post = authored_post(db, id, caller)?;
        posts::delete(db, &post)
    })
}

/// Locks post `id` for `caller`: 401 if the caller's account is gone, 404
/// if the post is, 403 if it is someone else's.
fn authored_post(db: &dyn Db, id: Id, caller: Id) -> Result<Post, Error> {
    let locked = posts::lock_for_caller(db, id, caller)?;
    existing(locked.caller)?;
    let post = locked.post.ok_or_else(no_such_post)?;
    if post.author.id != caller {
        return Err(Error::Forbidden(
            "Only the post's author may change it.".into(),
        ));
    }
    Ok(post)
}

/// The caller's account, or a 401 if it was deleted after the token was issued.
pub(crate) fn existing(caller: Option<User>) -> Result<User, Error> {
    caller.ok_or_else(|| Error::Unauthorized("The token's user no longer exists.".into()))
}

pub(crate) fn no_such_post() -> Error {
    Error::NotFound("No post has that id.".into())
}
