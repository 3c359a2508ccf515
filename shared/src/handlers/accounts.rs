//! Signing up, logging in and out, and the caller's own account: its
//! profile, password, data and deletion.

use spin_sdk::http::Response;

use crate::actions::accounts::{self, Signup};
use crate::auth;
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::model::{Bio, DisplayName, Password, Username};
use crate::views::{ExportView, LoginView, UserView};

use super::{caller, client_address, created, idempotency_key};

/// `POST /api/signup {username, password, display_name?}`: 201 with the new
/// user, 409 if the username is taken (in any spelling of it) or reserved,
/// 422 for bad fields (a common password among them).
pub fn signup(request: &Request) -> Result<Response, Error> {
    let mut fields = request.json()?;
    let username = fields.required::<Username>("username");
    let password = fields.required::<Password>("password");
    let display_name = fields.optional::<DisplayName>("display_name");
    fields.finish()?;
    let signup = Signup {
        username: username?,
        password: password?,
        display_name: display_name?.unwrap_or_default(),
    };
    let key = idempotency_key(request)?;

    let context = Context::load()?;
    let from = client_address(request, &context);
    let user = accounts::sign_up(&context, &from, &signup, key.as_ref())?;
    created(
        user,
        |user| format!("/api/users/{}", user.id),
        UserView::from,
    )
}

/// `POST /api/login {username, password}`: 200 with a token for a new
/// session, or 401 with the same body whether the user is unknown or the
/// password wrong (and the same bcrypt work either way). 429 when the
/// client has tried too often, or the account is in a delay after failures;
/// that costs no bcrypt.
pub fn login(request: &Request) -> Result<Response, Error> {
    let mut fields = request.json()?;
    let username = fields.required::<String>("username");
    let password = fields.required::<String>("password");
    fields.finish()?;
    let (username, password) = (username?, password?);

    let context = Context::load()?;
    let from = client_address(request, &context);
    match accounts::log_in(&context, &from, &username, &password)? {
        Some(login) => http::ok(&LoginView::new(login.token, login.user)),
        None => Err(Error::Unauthorized("Invalid username or password.".into())),
    }
}

/// `POST /api/logout`: ends the token's session; 204.
pub fn logout(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    accounts::log_out(&context, &caller)?;
    Ok(http::no_content())
}

/// `POST /api/logout-all`: ends every session of the account; 204.
pub fn logout_all(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    accounts::log_out_everywhere(&context, &caller)?;
    Ok(http::no_content())
}

/// `GET /api/me`: the caller's profile. An invalid token is refused before
/// the database is opened; a valid one costs one statement (its session
/// joined to the user).
pub fn me(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let (user, _) = auth::authenticate(request, &context)?;
    http::ok(&UserView::from(user))
}

/// `PATCH /api/me {display_name?, bio?}`: changes the given fields.
pub fn update_me(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let mut fields = request.json()?;
    let display_name = fields.optional::<DisplayName>("display_name");
    let bio = fields.optional::<Bio>("bio");
    fields.finish()?;
    let (display_name, bio) = (display_name?, bio?);
    let user = accounts::change_profile(&context, &caller, display_name.as_ref(), bio.as_ref())?;
    http::ok(&UserView::from(user))
}

/// `PUT /api/me/password {current_password, new_password}`: 204, and every
/// other session of the account ends; 403 for a wrong current password
/// (counted like a failed login), 422 for a new one the password rules
/// refuse.
pub fn change_password(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let mut fields = request.json()?;
    let current = fields.required::<String>("current_password");
    let new = fields.required::<Password>("new_password");
    fields.finish()?;
    let (current, new) = (current?, new?);
    let from = client_address(request, &context);
    accounts::change_password(&context, &from, &caller, &current, &new)?;
    Ok(http::no_content())
}

/// `GET /api/me/export`: the caller's profile, posts and comments, whole,
/// as a download.
pub fn export(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let export = accounts::export(&context, &caller)?;
    let filename = format!("omni-{}.json", export.user.username);
    let mut response = http::ok(&ExportView::new(export.user, export.posts, export.comments))?;
    response.set_header(
        "content-disposition",
        format!("attachment; filename=\"{filename}\""),
    );
    Ok(response)
}

/// `POST /api/me/deletion {password}`: deletes the account, its posts (with
/// every comment on them) and its comments; 204. 403 for a wrong password
/// (counted like a failed login).
pub fn delete_me(request: &Request) -> Result<Response, Error> {
    let (context, caller) = caller(request)?;
    let mut fields = request.json()?;
    let password = fields.required::<String>("password");
    fields.finish()?;
    let password = password?;
    let from = client_address(request, &context);
    accounts::delete_account(&context, &from, &caller, &password)?;
    Ok(http::no_content())
}
