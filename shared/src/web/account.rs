//! Signing up, logging in and out: the `web-account` component. Its POSTs
//! run bcrypt, so SpinKube sends them to `omni-auth`, like the API's.

use spin_sdk::http::Response;

use crate::actions::accounts;
use crate::error::Error;
use crate::http::Request;
use crate::web::forms::{LoginForm, SignupForm};
use crate::web::session::{Visit, local_path};
use crate::web::templates;
use crate::web::{Place, Section, Verb, checked_form, page, redirect, unanswered, verb};

/// Answers a request for one of this family's places.
pub fn respond(request: &Request, place: Place) -> Result<Response, Error> {
    match (place, verb(request)) {
        (Place::Signup, Verb::Get) => signup_form(request),
        (Place::Signup, Verb::Post) => signup(request),
        (Place::Login, Verb::Get) => login_form(request),
        (Place::Login, Verb::Post) => login(request),
        (Place::Logout, Verb::Post) => logout(request),
        (place, _) => Err(unanswered(place, Section::Account)),
    }
}

/// The `next` query parameter, if it is a local path.
fn next_from_query(request: &Request) -> String {
    request
        .query_pairs()
        .into_iter()
        .find(|(name, _)| name == "next")
        .and_then(|(_, next)| local_path(&next).map(str::to_owned))
        .unwrap_or_default()
}

/// Where to go after logging in: `next` if it is a local path, else Home.
fn after_login(next: &str) -> String {
    local_path(next).map_or_else(|| Place::Home.href(), str::to_owned)
}

/// The `GET` of a form for logged-out visitors: someone logged in goes
/// straight on (to `next`, if local); anyone else gets the empty form that
/// `empty` makes, remembering `next`.
fn logged_out_form<F>(
    request: &Request,
    empty: impl FnOnce(String) -> F,
    show: impl FnOnce(&mut Visit<'_>, &F, u16) -> Result<Response, Error>,
) -> Result<Response, Error> {
    let mut visit = Visit::open(request)?;
    let next = next_from_query(request);
    if visit.viewer().is_some() {
        return Ok(redirect(&visit, &after_login(&next)));
    }
    show(&mut visit, &empty(next), 200)
}

/// `GET /signup`.
fn signup_form(request: &Request) -> Result<Response, Error> {
    logged_out_form(
        request,
        |next| SignupForm {
            next,
            ..SignupForm::default()
        },
        show_signup,
    )
}

fn show_signup(visit: &mut Visit<'_>, form: &SignupForm, status: u16) -> Result<Response, Error> {
    visit.form_csrf()?;
    page(visit, status, |header, csrf| {
        templates::signup(header, csrf, form)
    })
}

/// `POST /signup`: creates the account, logs it in, and goes on.
fn signup(request: &Request) -> Result<Response, Error> {
    let (form, mut visit) = checked_form(request)?;
    let signup = match SignupForm::validate(&form) {
        Ok(signup) => signup,
        Err(back) => return show_signup(&mut visit, &back, 422),
    };
    let from = visit.client_address();
    let user = match accounts::sign_up(visit.context(), &from, &signup, None) {
        Ok(created) => created.made,
        Err(Error::Conflict(message)) => {
            let mut back = SignupForm {
                username: signup.username.as_str().to_owned(),
                display_name: signup.display_name.as_str().to_owned(),
                next: form.text("next").to_owned(),
                ..SignupForm::default()
            };
            back.errors.add("username", message);
            return show_signup(&mut visit, &back, 409);
        }
        Err(error) => return Err(error),
    };
    let token = accounts::session_token(visit.context(), user.id)?;
    visit.log_in(user, &token);
    Ok(redirect(&visit, &after_login(form.text("next"))))
}

/// `GET /login`.
fn login_form(request: &Request) -> Result<Response, Error> {
    logged_out_form(
        request,
        |next| LoginForm {
            next,
            ..LoginForm::default()
        },
        show_login,
    )
}

fn show_login(visit: &mut Visit<'_>, form: &LoginForm, status: u16) -> Result<Response, Error> {
    visit.form_csrf()?;
    page(visit, status, |header, csrf| {
        templates::login(header, csrf, form)
    })
}

/// `POST /login`: checks the password (the same bcrypt work whether or not
/// the user exists), logs in and goes on; or the form again, saying only
/// that the pair was wrong.
fn login(request: &Request) -> Result<Response, Error> {
    let (form, mut visit) = checked_form(request)?;
    let (username, password) = match LoginForm::validate(&form) {
        Ok(pair) => pair,
        Err(back) => return show_login(&mut visit, &back, 422),
    };
    let from = visit.client_address();
    let Some(login) = accounts::log_in(visit.context(), &from, &username, &password)? else {
        let back = LoginForm {
            username,
            next: form.text("next").to_owned(),
            problem: Some("Wrong username or password.".into()),
            ..LoginForm::default()
        };
        return show_login(&mut visit, &back, 422);
    };
    visit.log_in(login.user, &login.token);
    Ok(redirect(&visit, &after_login(form.text("next"))))
}

/// `POST /logout`: clears the cookie and shows Home.
fn logout(request: &Request) -> Result<Response, Error> {
    let (_, mut visit) = checked_form(request)?;
    visit.log_out();
    Ok(redirect(&visit, &Place::Home.href()))
}
