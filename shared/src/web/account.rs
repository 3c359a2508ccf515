//! Signing up, logging in and out, and your account (its password, data,
//! sessions and deletion): the `web-account` component. Its POSTs run
//! bcrypt, so SpinKube sends them to `omni-auth`, like the API's.

use spin_sdk::http::Response;

use crate::actions::accounts;
use crate::error::Error;
use crate::http::Request;
use crate::views::ExportView;
use crate::web::forms::{self, DeleteAccountForm, LoginForm, PasswordForm, SignupForm};
use crate::web::session::{Visit, local_path};
use crate::web::templates;
use crate::web::{
    Place, Section, Verb, checked_form, logged_in_post, logged_out, login_first, page, redirect,
    secure, unanswered, verb, with_cookie,
};

/// Answers a request for one of this family's places.
pub fn respond(request: &Request, place: Place) -> Result<Response, Error> {
    match (place, verb(request)) {
        (Place::Signup, Verb::Get) => signup_form(request),
        (Place::Signup, Verb::Post) => signup(request),
        (Place::Login, Verb::Get) => login_form(request),
        (Place::Login, Verb::Post) => login(request),
        (Place::Logout, Verb::Post) => logout(request),
        (Place::Account, Verb::Get) => account(request),
        (Place::ChangePassword, Verb::Get) => password_form(request),
        (Place::ChangePassword, Verb::Post) => change_password(request),
        (Place::Export, Verb::Get) => export(request),
        (Place::DeleteAccount, Verb::Get) => delete_form(request),
        (Place::DeleteAccount, Verb::Post) => delete_account(request),
        (Place::LogoutEverywhere, Verb::Post) => logout_everywhere(request),
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
    empty: impl FnOnce(String) -> Result<F, Error>,
    show: impl FnOnce(&mut Visit<'_>, &F, u16) -> Result<Response, Error>,
) -> Result<Response, Error> {
    let mut visit = Visit::open(request)?;
    let next = next_from_query(request);
    if visit.viewer().is_some() {
        return Ok(redirect(&visit, &after_login(&next)));
    }
    show(&mut visit, &empty(next)?, 200)
}

/// `GET /signup`.
fn signup_form(request: &Request) -> Result<Response, Error> {
    logged_out_form(request, SignupForm::fresh, show_signup)
}

fn show_signup(visit: &mut Visit<'_>, form: &SignupForm, status: u16) -> Result<Response, Error> {
    visit.form_csrf()?;
    page(visit, status, |header, csrf| {
        templates::signup(header, csrf, form)
    })
}

/// `POST /signup`: creates the account, logs it in, and goes on. The
/// form's key makes a second send of the same form (a double click, a
/// resend after a 503) find the account the first made, not a 409.
fn signup(request: &Request) -> Result<Response, Error> {
    let (form, mut visit) = checked_form(request)?;
    let signup = match SignupForm::validate(&form) {
        Ok(signup) => signup,
        Err(back) => return show_signup(&mut visit, &back, 422),
    };
    let from = visit.client_address();
    let key = forms::idempotency_key(&form);
    let user = match accounts::sign_up(visit.context(), &from, &signup, key.as_ref()) {
        Ok(created) => created.made,
        Err(Error::Conflict(message)) => {
            let mut back = SignupForm {
                username: signup.username.as_str().to_owned(),
                display_name: signup.display_name.as_str().to_owned(),
                next: form.text("next").to_owned(),
                ..SignupForm::fresh(String::new())?
            };
            back.errors.add("username", message);
            return show_signup(&mut visit, &back, 409);
        }
        Err(error) => return Err(error),
    };
    let (session, token) = accounts::start_session(visit.context(), user.id)?;
    visit.log_in(user, session, &token);
    Ok(redirect(&visit, &after_login(form.text("next"))))
}

/// `GET /login`.
fn login_form(request: &Request) -> Result<Response, Error> {
    logged_out_form(
        request,
        |next| {
            Ok(LoginForm {
                next,
                ..LoginForm::default()
            })
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
    visit.log_in(login.user, login.session, &login.token);
    Ok(redirect(&visit, &after_login(form.text("next"))))
}

/// `POST /logout`: ends the session on the server (its cookie, copied
/// anywhere, no longer works), clears the cookie and shows Home.
fn logout(request: &Request) -> Result<Response, Error> {
    let (_, mut visit) = checked_form(request)?;
    if let Some(session) = visit.session() {
        accounts::log_out(visit.context(), session)?;
    }
    visit.log_out();
    Ok(redirect(&visit, &Place::Home.href()))
}

/// `POST /account/logout-everywhere`: ends every session of the account,
/// this one included, and shows Home.
fn logout_everywhere(request: &Request) -> Result<Response, Error> {
    logged_in_post(request, Place::Account, |_, visit, _, session| {
        accounts::log_out_everywhere(visit.context(), session)?;
        Ok(logged_out(&Place::Home.href()))
    })
}

/// `GET /account`: what you can do with your account.
fn account(request: &Request) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    let Some(user) = visit.viewer() else {
        return Ok(login_first(&visit, Place::Account));
    };
    let done = request
        .query_pairs()
        .into_iter()
        .find(|(name, _)| name == "done")
        .map(|(_, done)| done)
        .unwrap_or_default();
    page(&visit, 200, |header, csrf| {
        templates::account(header, csrf, user, &done)
    })
}

/// `GET /account/password`.
fn password_form(request: &Request) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    if visit.viewer().is_none() {
        return Ok(login_first(&visit, Place::ChangePassword));
    }
    show_password_form(&visit, &PasswordForm::default(), 200)
}

fn show_password_form(
    visit: &Visit<'_>,
    form: &PasswordForm,
    status: u16,
) -> Result<Response, Error> {
    page(visit, status, |header, csrf| {
        templates::change_password(header, csrf, form)
    })
}

/// `POST /account/password`: changes the password (every other session
/// ends; this one goes on) and shows the account page; or the form again,
/// saying what was wrong.
fn change_password(request: &Request) -> Result<Response, Error> {
    logged_in_post(request, Place::ChangePassword, |form, visit, _, session| {
        let (current, new) = match PasswordForm::validate(form) {
            Ok(pair) => pair,
            Err(back) => return show_password_form(visit, &back, 422),
        };
        let from = visit.client_address();
        match accounts::change_password(visit.context(), &from, session, &current, &new) {
            Ok(()) => Ok(redirect(
                visit,
                &format!("{}?done=password", Place::Account.href()),
            )),
            Err(Error::Forbidden(_)) => {
                let back = PasswordForm {
                    problem: Some("Your current password is wrong.".into()),
                    ..PasswordForm::default()
                };
                show_password_form(visit, &back, 403)
            }
            Err(error) => Err(error),
        }
    })
}

/// `GET /account/export`: your profile, projects and comments, as the API's
/// export, downloaded as a JSON file.
fn export(request: &Request) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    let Some(session) = visit.session() else {
        return Ok(login_first(&visit, Place::Account));
    };
    let export = accounts::export(visit.context(), session)?;
    let filename = format!("omni-{}.json", export.user.username);
    let body = serde_json::to_vec(&ExportView::new(export.user, export.posts, export.comments))
        .map_err(Error::internal)?;
    let response = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header(
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        )
        .header("cache-control", "no-store")
        .header("vary", "Cookie")
        .body(body)
        .build();
    Ok(secure(with_cookie(&visit, response)))
}

/// `GET /account/delete`.
fn delete_form(request: &Request) -> Result<Response, Error> {
    let visit = Visit::open(request)?;
    let Some(user) = visit.viewer() else {
        return Ok(login_first(&visit, Place::DeleteAccount));
    };
    show_delete_form(&visit, user, &DeleteAccountForm::default(), 200)
}

fn show_delete_form(
    visit: &Visit<'_>,
    user: &crate::store::users::User,
    form: &DeleteAccountForm,
    status: u16,
) -> Result<Response, Error> {
    page(visit, status, |header, csrf| {
        templates::delete_account(header, csrf, user, form)
    })
}

/// `POST /account/delete`: deletes the account and everything it wrote,
/// logs out and shows Home; or the form again, saying what was wrong.
fn delete_account(request: &Request) -> Result<Response, Error> {
    logged_in_post(
        request,
        Place::DeleteAccount,
        |form, visit, user, session| {
            let password = match DeleteAccountForm::validate(form) {
                Ok(password) => password,
                Err(back) => return show_delete_form(visit, user, &back, 422),
            };
            let from = visit.client_address();
            match accounts::delete_account(visit.context(), &from, session, &password) {
                Ok(()) => Ok(logged_out(&Place::Home.href())),
                Err(Error::Forbidden(_)) => {
                    let back = DeleteAccountForm {
                        problem: Some("The password is wrong.".into()),
                        ..DeleteAccountForm::default()
                    };
                    show_delete_form(visit, user, &back, 403)
                }
                Err(error) => Err(error),
            }
        },
    )
}
