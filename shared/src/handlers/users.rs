//! Public user profiles and their posts.

use spin_sdk::http::Response;

use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::paging::Paging;
use crate::store::{posts, users};
use crate::views::{PostView, UserView};

use super::routes;

/// `GET /api/users/:id`: a user's public profile, or 404.
pub fn get(request: &Request) -> Result<Response, Error> {
    let id = request.path_id(routes::USER)?;
    let context = Context::load()?;
    cache::serve(request, &context, &[&versions::user(id)], &[], || {
        let user = users::find(context.db()?, id)?.ok_or_else(Error::no_such_user)?;
        http::ok(&UserView::from(user))
    })
}

/// `GET /api/users/:id/posts`: a user's posts, newest first, by `?page=` or
/// `?before=`; 404 for an unknown user.
pub fn posts(request: &Request) -> Result<Response, Error> {
    let author = request.path_id(routes::USER_POSTS)?;
    let paging = Paging::from_query(&request.query_pairs())?;
    let context = Context::load()?;
    let depends_on = [&versions::user_posts(author), versions::PROFILES];
    cache::serve(request, &context, &depends_on, Paging::PARAMETERS, || {
        let db = context.db()?;
        super::list::<_, PostView>(
            paging,
            |page| posts::page_by_author(db, author, page),
            |before| posts::before_by_author(db, author, before),
            |p| p.id,
            Error::no_such_user,
        )
    })
}
