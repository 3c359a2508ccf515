//! Signing up, logging in, and the caller's own profile.

use spin_sdk::http::Response;

use crate::auth::{self, IssuedToken};
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::Error;
use crate::http::{self, Request};
use crate::model::{Bio, DisplayName, Password, Username};
use crate::snowflake::Id;
use crate::store::users::{self, User};
use crate::time::now_ms;
use crate::views::{LoginView, UserView};

/// `POST /api/signup {username, password, display_name?}`: 201 with the new
/// user, 409 if the username is taken in any letter case, 422 for bad fields.
pub fn signup(request: &Request) -> Result<Response, Error> {
    let mut fields = request.json()?;
    let username = fields.required::<Username>("username");
    let password = fields.required::<Password>("password");
    let display_name = fields.optional::<DisplayName>("display_name");
    fields.finish()?;
    let (username, password, display_name) =
        (username?, password?, display_name?.unwrap_or_default());

    let config = Config::load()?;
    // Hash before connecting: bcrypt is the slow part, and the connection
    // should not wait for it.
    let password_hash = auth::hash_password(&password, config.bcrypt_cost)?;
    let db = db::connect(&config)?;
    let user = users::insert(
        &*db,
        config.snowflake_node,
        &username,
        &password_hash,
        &display_name,
    )?;
    http::created(&format!("/api/users/{}", user.id), &UserView::from(user))
}

/// The user whose username and password these are, or `None`. An unknown
/// user costs the same bcrypt work as a wrong password.
pub fn check_password(
    config: &Config,
    db: &dyn Db,
    username: &str,
    password: &str,
) -> Result<Option<User>, Error> {
    let credentials = users::find_credentials(db, username)?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    let password_matches = auth::verify_password(password, stored_hash, config.bcrypt_cost)?;
    Ok(credentials
        .filter(|_| password_matches)
        .map(|credentials| credentials.user))
}

/// A login token for `user`, issued now.
pub fn issue_login_token(config: &Config, user: Id) -> Result<IssuedToken, Error> {
    auth::issue_token(
        user,
        now_ms() / 1000,
        config.jwt_ttl_seconds,
        config.jwt_secret(),
    )
}

/// `POST /api/login {username, password}`: 200 with a token, or 401 with the
/// same body whether the user is unknown or the password wrong (and the same
/// bcrypt work either way).
pub fn login(request: &Request) -> Result<Response, Error> {
    let mut fields = request.json()?;
    let username = fields.required::<String>("username");
    let password = fields.required::<String>("password");
    fields.finish()?;
    let (username, password) = (username?, password?);

    let config = Config::load()?;
    let db = db::connect(&config)?;
    match check_password(&config, &*db, &username, &password)? {
        Some(user) => {
            let issued = issue_login_token(&config, user.id)?;
            http::ok(&LoginView::new(issued, user))
        }
        None => Err(Error::Unauthorized("Invalid username or password.".into())),
    }
}

/// `GET /api/me`: the caller's profile.
pub fn me(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let db = db::connect(&config)?;
    let user = auth::authenticate(request, &config, &*db)?;
    http::ok(&UserView::from(user))
}

/// `PATCH /api/me {display_name?, bio?}`: changes the given fields.
pub fn update_me(request: &Request) -> Result<Response, Error> {
    let config = Config::load()?;
    let user_id = auth::token_user_id(request, &config)?;
    let mut fields = request.json()?;
    let display_name = fields.optional::<DisplayName>("display_name");
    let bio = fields.optional::<Bio>("bio");
    fields.finish()?;
    let (display_name, bio) = (display_name?, bio?);

    let db = db::connect(&config)?;
    let user = update_profile(&*db, user_id, display_name.as_ref(), bio.as_ref())?;
    http::ok(&UserView::from(user))
}

/// Changes the given profile fields of user `id`: 401 if the account is gone.
pub fn update_profile(
    db: &dyn Db,
    id: Id,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> Result<User, Error> {
    let user = auth::existing_user(db, id)?;
    users::update_profile(db, &user, display_name, bio)
}
