//! Profiles: the `web-people` component.

use spin_sdk::http::Response;

use crate::actions;
use crate::cache::versions;
use crate::error::Error;
use crate::http::Request;
use crate::snowflake::Id;
use crate::store::posts::{self, Post};
use crate::store::users::{self, User};
use crate::web::forms::ProfileForm;
use crate::web::paging::{Cursor, page_of};
use crate::web::session::Visit;
use crate::web::templates;
use crate::web::{
    Place, Section, Verb, cached_page, logged_in_post, login_first, not_found, origin, page,
    redirect, unanswered, verb,
};

/// Answers a request for one of this family's places.
pub fn respond(request: &Request, place: Place) -> Result<Response, Error> {
    match (place, verb(request)) {
        (Place::User(id), Verb::Get) => profile(request, id),
        (Place::EditProfile, Verb::Get) => edit_profile(request),
        (Place::EditProfile, Verb::Post) => update_profile(request),
        (place, _) => Err(unanswered(place, Section::People)),
    }
}

/// `GET /users/{id}`: a profile and a page of the user's projects.
fn profile(request: &Request, id: Id) -> Result<Response, Error> {
    let cursor = Cursor::from_request(request)?;
    let visit = Visit::open(request)?;
    let depends_on = [
        &versions::user(id),
        &versions::user_posts(id),
        versions::PROFILES,
    ];
    let origin = origin(request, visit.config());
    cached_page(request, &visit, &depends_on, Cursor::PARAMETERS, || {
        let db = visit.db()?;
        let user = users::find(db, id)?.ok_or_else(not_found)?;
        let (listing, pager) = page_of(
            cursor,
            &Place::User(id).href(),
            "",
            |post: &Post| post.id,
            |after| posts::newer_anchor_by_author(db, id, after),
            |before| posts::before_by_author(db, id, before),
        )?;
        // Deleted between the two reads.
        listing.total.ok_or_else(not_found)?;
        page(&visit, 200, |header, _| {
            templates::profile(header, &user, &listing.items, &pager, &origin)
        })
    })
}

/// `GET /profile/edit`: the logged-in user's profile form.
fn edit_profile(request: &Request) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    let Some(user) = visit.viewer() else {
        return Ok(login_first(&visit, Place::EditProfile));
    };
    profile_form(&visit, user, &ProfileForm::from_user(user), 200)
}

fn profile_form(
    visit: &Visit<'_>,
    user: &User,
    form: &ProfileForm,
    status: u16,
) -> Result<Response, Error> {
    page(visit, status, |header, csrf| {
        templates::profile_form(header, csrf, user, form)
    })
}

/// `POST /profile/edit`: saves the profile and shows it.
fn update_profile(request: &Request) -> Result<Response, Error> {
    logged_in_post(request, Place::EditProfile, |form, visit, user, session| {
        match ProfileForm::validate(form) {
            Err(back) => profile_form(visit, user, &back, 422),
            Ok((display_name, bio)) => {
                actions::accounts::change_profile(
                    visit.context(),
                    session,
                    Some(&display_name),
                    Some(&bio),
                )?;
                Ok(redirect(visit, &Place::User(user.id).href()))
            }
        }
    })
}
