//! Public user profiles.

use spin_sdk::http::Response;

use crate::config::Config;
use crate::db;
use crate::error::Error;
use crate::http::{self, Request};
use crate::store::users;
use crate::views::UserView;

/// `GET /api/users/:id`: a user's public profile, or 404.
pub fn get(request: &Request) -> Result<Response, Error> {
    let id = request.path_id("id")?;
    let config = Config::load()?;
    let db = db::connect(&config)?;
    let user =
        users::find(&*db, id)?.ok_or_else(|| Error::NotFound("No user has that id.".into()))?;
    http::ok(&UserView::from(user))
}
