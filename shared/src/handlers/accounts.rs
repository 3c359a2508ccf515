//! Signing up, logging in, and the caller's own profile. The rules shared
//! with the website's forms (the limits, the password check, the token, the
//! profile change) are functions of their own.

use spin_sdk::http::Response;

use sha2::{Digest, Sha256};

use crate::auth::{self, IssuedToken};
use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::limits;
use crate::log;
use crate::model::{Bio, DisplayName, Password, Username};
use crate::snowflake::Id;
use crate::store::users::{self, User};
use crate::time::now_ms;
use crate::views::{LoginView, UserView};

use super::{Created, count_write, create_once};

/// The client's address as rate limits and logs key it ("unknown" if Spin
/// named none, which it always does).
fn client_key(request: &Request, context: &Context) -> String {
    request
        .client_ip(&context.config().trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

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

    let context = Context::load()?;
    let password_hash = new_password_hash(&context, request, &password)?;
    let node = context.config().snowflake_node;
    let (response, _) = create_once(request, context.db()?, "signup", |db| {
        let user = users::insert(db, node, &username, &password_hash, &display_name)?;
        Ok((
            Created::new(format!("/api/users/{}", user.id), &UserView::from(user))?,
            (),
        ))
    })?;
    Ok(response)
}

/// The bcrypt hash for a new account's `password`, once the signup is
/// counted against the client address's limit (a 429 costs no bcrypt).
pub fn new_password_hash(
    context: &Context,
    request: &Request,
    password: &Password,
) -> Result<String, Error> {
    let config = context.config();
    let ip = client_key(request, context);
    limits::count(
        context.kv(),
        &config.limits.signups_per_ip,
        &ip,
        now_ms() / 1000,
    )?;
    auth::hash_password(password, config.bcrypt_cost)
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
    match check_password(&context, request, &username, &password)? {
        Some(user) => {
            let issued = issue_login_token(&context, user.id)?;
            http::ok(&LoginView::new(issued, user))
        }
        None => Err(Error::Unauthorized("Invalid username or password.".into())),
    }
}

/// The user whose username and password these are, or `None`: the same
/// bcrypt work either way, so timing does not tell whether the user exists.
/// First the limits: a 429 when the client address has tried too often, or
/// the account (a name, ignoring case, known or not) has failed too often
/// lately. A failure is counted and logged, without the password.
pub fn check_password(
    context: &Context,
    request: &Request,
    username: &str,
    password: &str,
) -> Result<Option<User>, Error> {
    let config = context.config();
    let (kv, now) = (context.kv(), now_ms() / 1000);
    let ip = client_key(request, context);
    let account = username.to_lowercase();
    let limits = &config.limits;
    limits::count(kv, &limits.login_per_ip, &ip, now)?;
    limits::check(kv, &limits.login_failures_per_account, &account, now)?;
    limits::check(kv, &limits.login_failures_per_account_daily, &account, now)?;
    // No key, no login: a misconfigured server costs no bcrypt.
    context.jwt_secret()?;
    let credentials = users::find_credentials(context.db()?, username)?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    if auth::verify_password(password, stored_hash, config.bcrypt_cost)? {
        return Ok(credentials.map(|c| c.user));
    }
    limits::record(kv, &limits.login_failures_per_account, &account, now);
    limits::record(kv, &limits.login_failures_per_account_daily, &account, now);
    // The account as a hash, so the log holds no typo'd password pasted
    // into the username field; never the password.
    let account_hash = crate::hex::encode(&Sha256::digest(account.as_bytes())[..8]);
    log::warn(
        "login_failed",
        &[
            ("account", account_hash.into()),
            ("user_id", credentials.map(|c| c.user.id.to_string()).into()),
            ("ip", ip.into()),
        ],
    );
    Ok(None)
}

/// A login token for `user`, issued now.
pub fn issue_login_token(context: &Context, user: Id) -> Result<IssuedToken, Error> {
    let config = context.config();
    auth::issue_token(
        user,
        now_ms() / 1000,
        config.jwt_ttl_seconds,
        context.jwt_secret()?,
    )
}

/// `GET /api/me`: the caller's profile.
pub fn me(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let user = auth::authenticate(request, &context)?;
    http::ok(&UserView::from(user))
}

/// `PATCH /api/me {display_name?, bio?}`: changes the given fields.
pub fn update_me(request: &Request) -> Result<Response, Error> {
    let context = Context::load()?;
    let user_id = auth::token_user_id(request, &context)?;
    let mut fields = request.json()?;
    let display_name = fields.optional::<DisplayName>("display_name");
    let bio = fields.optional::<Bio>("bio");
    fields.finish()?;
    let (display_name, bio) = (display_name?, bio?);
    let user = update_profile(&context, user_id, display_name.as_ref(), bio.as_ref())?;
    http::ok(&UserView::from(user))
}

/// Changes the given profile fields of user `id`: counted against the
/// user's write limit; 401 if the account is gone.
pub fn update_profile(
    context: &Context,
    id: Id,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> Result<User, Error> {
    count_write(context, id)?;
    let db = context.db()?;
    let user = auth::existing_user(db, id)?;
    let user = users::update_profile(db, &user, display_name, bio)?;
    // Posts and comments show their authors' display names, not their bios.
    let user_version = versions::user(user.id);
    let changed: &[&str] = match display_name {
        Some(_) => &[&user_version, versions::PROFILES],
        None => &[&user_version],
    };
    cache::changed(context, changed);
    Ok(user)
}
