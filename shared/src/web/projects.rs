//! Home, projects and their comments: the `web-projects` component.
//!
//! Writes go through the same actions as the API's (`actions::posts`,
//! `actions::comments`), so the website allows exactly what the API allows.

use spin_sdk::http::Response;

use crate::actions;
use crate::cache::versions;
use crate::error::Error;
use crate::http::Request;
use crate::snowflake::Id;
use crate::store::comments::{self, Comment};
use crate::store::posts::{self, Post};
use crate::web::forms::{self, CommentForm, PostForm};
use crate::web::paging::{Cursor, page_of};
use crate::web::session::Visit;
use crate::web::templates;
use crate::web::{
    Place, Section, Verb, cached_page, logged_in_post, login_first, not_found, origin, page,
    policy_with_images_from, redirect, unanswered, verb,
};

/// Answers a request for one of this family's places.
pub fn respond(request: &Request, place: Place) -> Result<Response, Error> {
    match (place, verb(request)) {
        (Place::Home, Verb::Get) => home(request),
        (Place::NewPost, Verb::Get) => new_post(request),
        (Place::NewPost, Verb::Post) => create_post(request),
        (Place::Post(id), Verb::Get) => show_post(request, id),
        (Place::EditPost(id), Verb::Get) => edit_post(request, id),
        (Place::EditPost(id), Verb::Post) => update_post(request, id),
        (Place::DeletePost(id), Verb::Post) => delete_post(request, id),
        (Place::PostComments(id), Verb::Post) => create_comment(request, id),
        (Place::EditComment(id), Verb::Get) => edit_comment(request, id),
        (Place::EditComment(id), Verb::Post) => update_comment(request, id),
        (Place::DeleteComment(id), Verb::Post) => delete_comment(request, id),
        (place, _) => Err(unanswered(place, Section::Projects)),
    }
}

/// `GET /`: the newest projects, ten a page.
fn home(request: &Request) -> Result<Response, Error> {
    let cursor = Cursor::from_request(request)?;
    let visit = Visit::open(request)?;
    cached_page(
        request,
        &visit,
        &[versions::POSTS, versions::PROFILES],
        Cursor::PARAMETERS,
        || {
            let db = visit.db()?;
            let (listing, pager) = page_of(
                cursor,
                &Place::Home.href(),
                "",
                |post: &Post| post.id,
                |after| posts::newer_anchor(db, after),
                |before| posts::before(db, before),
            )?;
            page(&visit, 200, |header, _| {
                templates::home(header, &listing.items, &pager)
            })
        },
    )
}

/// `GET /posts/{id}`: a project and a page of its comments.
fn show_post(request: &Request, id: Id) -> Result<Response, Error> {
    let cursor = Cursor::from_request(request)?;
    let visit = Visit::open(request)?;
    let depends_on = [&versions::post(id), versions::PROFILES];
    let origin = origin(request, visit.config());
    let mut response = cached_page(request, &visit, &depends_on, Cursor::PARAMETERS, || {
        post_page(
            &visit,
            id,
            cursor,
            &CommentForm::fresh()?,
            Fetch::Wait,
            200,
            &origin,
        )
    })?;
    let extra = visit.config().writeup_sources.extra.as_ref();
    response.set_header("content-security-policy", policy_with_images_from(extra));
    Ok(response)
}

/// Whether a project page may fetch its write-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetch {
    /// Yes, waiting within the fetch's bounds.
    Wait,
    /// No: show it only if it is kept (a form sent back with its errors).
    KeptOnly,
}

/// The project page, with the comment form as `form` has it; `origin` is
/// the site's.
fn post_page(
    visit: &Visit<'_>,
    id: Id,
    cursor: Cursor,
    form: &CommentForm,
    fetch: Fetch,
    status: u16,
    origin: &str,
) -> Result<Response, Error> {
    let db = visit.db()?;
    let post = posts::find(db, id)?.ok_or_else(not_found)?;
    let (listing, pager) = page_of(
        cursor,
        &Place::Post(id).href(),
        "#comments",
        |comment: &Comment| comment.id,
        |after| comments::newer_anchor(db, id, after),
        |before| comments::before(db, id, before),
    )?;
    // Deleted between the two reads.
    listing.total.ok_or_else(not_found)?;
    let shown = match fetch {
        Fetch::Wait => actions::writeups::show(visit.context(), &post),
        Fetch::KeptOnly => actions::writeups::kept(visit.context(), &post),
    };
    page(visit, status, |header, _| {
        let writeup = match &shown {
            Ok(writeup) => templates::Writeup::Shown(&writeup.html),
            Err(failure) => templates::Writeup::Note(failure.note()),
        };
        templates::post_page(header, &post, &listing.items, &pager, form, writeup, origin)
    })
}

/// `GET /new`: the form for a new project.
fn new_post(request: &Request) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    if visit.viewer().is_none() {
        return Ok(login_first(&visit, Place::NewPost));
    }
    post_form(&visit, None, &PostForm::fresh()?, 200)
}

fn post_form(
    visit: &Visit<'_>,
    editing: Option<Id>,
    form: &PostForm,
    status: u16,
) -> Result<Response, Error> {
    page(visit, status, |header, csrf| {
        templates::post_form(header, csrf, editing, form)
    })
}

/// `POST /new`: publishes the project and shows it.
fn create_post(request: &Request) -> Result<Response, Error> {
    logged_in_post(
        request,
        Place::NewPost,
        |form, visit, _, session| match PostForm::validate(form) {
            Err(back) => post_form(visit, None, &back, 422),
            Ok(new_post) => {
                let key = forms::idempotency_key(form);
                let created =
                    actions::posts::create(visit.context(), session, &new_post, key.as_ref())?;
                Ok(redirect(visit, &Place::Post(created.made.id).href()))
            }
        },
    )
}

/// `GET /posts/{id}/edit`: the author's form.
fn edit_post(request: &Request, id: Id) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    let Some(caller) = visit.viewer().map(|user| user.id) else {
        return Ok(login_first(&visit, Place::EditPost(id)));
    };
    let post = posts::find(visit.db()?, id)?.ok_or_else(not_found)?;
    if !actions::posts::may_change(caller, &post) {
        return Err(Error::Forbidden(
            "Only the project's author may edit it.".into(),
        ));
    }
    post_form(&visit, Some(id), &PostForm::from_post(&post), 200)
}

/// `POST /posts/{id}/edit`: saves the edit and shows the project.
fn update_post(request: &Request, id: Id) -> Result<Response, Error> {
    logged_in_post(
        request,
        Place::EditPost(id),
        |form, visit, _, session| match PostForm::validate(form) {
            Err(back) => post_form(visit, Some(id), &back, 422),
            Ok(edited) => {
                actions::posts::edit(visit.context(), session, id, &edited.into())?;
                Ok(redirect(visit, &Place::Post(id).href()))
            }
        },
    )
}

/// `POST /posts/{id}/delete`: deletes the project and shows the author's
/// profile.
fn delete_post(request: &Request, id: Id) -> Result<Response, Error> {
    logged_in_post(request, Place::Post(id), |_, visit, user, session| {
        actions::posts::delete(visit.context(), session, id)?;
        Ok(redirect(visit, &Place::User(user.id).href()))
    })
}

/// `POST /posts/{id}/comments`: adds the comment and shows it.
fn create_comment(request: &Request, post: Id) -> Result<Response, Error> {
    logged_in_post(
        request,
        Place::Post(post),
        |form, visit, _, session| match CommentForm::validate(form) {
            Err(back) => {
                let origin = origin(request, visit.config());
                post_page(
                    visit,
                    post,
                    Cursor::Newest,
                    &back,
                    Fetch::KeptOnly,
                    422,
                    &origin,
                )
            }
            Ok(body) => {
                let key = forms::idempotency_key(form);
                let created =
                    actions::comments::create(visit.context(), session, post, &body, key.as_ref())?;
                Ok(redirect(visit, &comment_href(&created.made)))
            }
        },
    )
}

/// Where a comment is shown: its post's page, scrolled to it.
fn comment_href(comment: &Comment) -> String {
    format!(
        "{}#comment-{}",
        Place::Post(comment.post_id).href(),
        comment.id
    )
}

/// `GET /comments/{id}/edit`: the comment's author's form.
fn edit_comment(request: &Request, id: Id) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    let Some(caller) = visit.viewer().map(|user| user.id) else {
        return Ok(login_first(&visit, Place::EditComment(id)));
    };
    let comment = own_comment(&visit, id, caller)?;
    comment_form(&visit, &comment, &CommentForm::from_comment(&comment), 200)
}

/// Comment `id`, which `caller` must have written: 404 or 403 otherwise.
fn own_comment(visit: &Visit<'_>, id: Id, caller: Id) -> Result<Comment, Error> {
    let comment = comments::find(visit.db()?, id)?.ok_or_else(not_found)?;
    if !actions::comments::may_edit(caller, &comment) {
        return Err(Error::Forbidden(
            "Only the comment's author may edit it.".into(),
        ));
    }
    Ok(comment)
}

fn comment_form(
    visit: &Visit<'_>,
    comment: &Comment,
    form: &CommentForm,
    status: u16,
) -> Result<Response, Error> {
    page(visit, status, |header, csrf| {
        templates::comment_form(header, csrf, comment, form)
    })
}

/// `POST /comments/{id}/edit`: saves the edit and shows the comment.
fn update_comment(request: &Request, id: Id) -> Result<Response, Error> {
    logged_in_post(
        request,
        Place::EditComment(id),
        |form, visit, user, session| match CommentForm::validate(form) {
            Err(back) => {
                let comment = own_comment(visit, id, user.id)?;
                comment_form(visit, &comment, &back, 422)
            }
            Ok(body) => {
                let comment = actions::comments::edit(visit.context(), session, id, &body)?;
                Ok(redirect(visit, &comment_href(&comment)))
            }
        },
    )
}

/// `POST /comments/{id}/delete`: deletes the comment and shows its post.
fn delete_comment(request: &Request, id: Id) -> Result<Response, Error> {
    logged_in_post(request, Place::Home, |_, visit, _, session| {
        let comment = actions::comments::delete(visit.context(), session, id)?;
        Ok(redirect(
            visit,
            &format!("{}#comments", Place::Post(comment.post_id).href()),
        ))
    })
}
