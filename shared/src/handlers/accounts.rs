//! Signing up, logging in, and the caller's own profile.

use spin_sdk::http::Response;

use crate::actions::accounts::{self, Signup};
use crate::auth;
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::model::{Bio, DisplayName, Password, Username};
use crate::views::{LoginView, UserView};

use super::{caller, client_address, created, idempotency_key};

/// `POST /api/signup {username, password, display_name?}`: 201 with the new
/// user, 409 if the username is taken in any letter case, 422 for bad fields.
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

/// `POST /api/login {username, password}`: 200 with a token, or 401 with the
/// same body whether the user is unknown or the password wrong (and the same
/// bcrypt work either way). 429 when the client IP has tried too often, or
/// the account has failed too often lately; that costs no bcrypt.
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

/// `GET /api/me`: the caller's profile.
pub fn me(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let user = auth::authenticate(request, &context)?;
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
    let user = accounts::change_profile(&context, caller, display_name.as_ref(), bio.as_ref())?;
    http::ok(&UserView::from(user))
}
