//! Public user profiles and their posts.

use spin_sdk::http::Response;

use crate::config::Config;
use crate::db;
use crate::error::Error;
use crate::http::{self, Paging, Request};
use crate::store::{posts, users};
use crate::views::{self, PostView, UserView};

/// `GET /api/users/:id`: a user's public profile, or 404.
pub fn get(request: &Request) -> Result<Response, Error> {
    let id = request.path_id("id")?;
    let config = Config::load()?;
    let db = db::connect(&config)?;
    let user =
        users::find(&*db, id)?.ok_or_else(|| Error::NotFound("No user has that id.".into()))?;
    http::ok(&UserView::from(user))
}

/// `GET /api/users/:id/posts`: a user's posts, newest first, by `?page=` or
/// `?before=`; 404 for an unknown user.
pub fn posts(request: &Request) -> Result<Response, Error> {
    let author = request.path_id("id")?;
    let paging = Paging::from_request(request)?;
    let config = Config::load()?;
    let db = db::connect(&config)?;
    let no_such_user = || Error::NotFound("No user has that id.".into());
    match paging {
        Paging::Page(page) => {
            let listing = posts::page_by_author(&*db, author, page)?;
            let total = listing.total.ok_or_else(no_such_user)?;
            http::ok(&views::page::<_, PostView>(total, listing.items, page))
        }
        Paging::Before(before) => {
            let listing = posts::before_by_author(&*db, author, before)?;
            listing.total.ok_or_else(no_such_user)?;
            http::ok(&views::slice::<_, PostView>(listing.items, |p| p.id))
        }
    }
}
