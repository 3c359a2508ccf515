//! Signing up, logging in, and the caller's own profile.

use spin_sdk::http::Response;

use sha2::{Digest, Sha256};

use crate::auth;
use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::limits;
use crate::log;
use crate::model::{Bio, DisplayName, Password, Username};
use crate::store::users;
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
    let config = context.config();
    // Before any bcrypt or database work.
    let ip = client_key(request, &context);
    limits::count(
        context.kv(),
        &config.limits.signups_per_ip,
        &ip,
        now_ms() / 1000,
    )?;
    let password_hash = auth::hash_password(&password, config.bcrypt_cost)?;
    create_once(request, context.db()?, "signup", |db| {
        let user = users::insert(
            db,
            config.snowflake_node,
            &username,
            &password_hash,
            &display_name,
        )?;
        Created::new(format!("/api/users/{}", user.id), &UserView::from(user))
    })
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
    let config = context.config();
    let (kv, now) = (context.kv(), now_ms() / 1000);
    let ip = client_key(request, &context);
    // Accounts are names ignoring case, known or not: a 429 must not tell
    // which exist.
    let account = username.to_lowercase();
    limits::count(kv, &config.limits.login_per_ip, &ip, now)?;
    limits::check(kv, &config.limits.login_failures_per_account, &account, now)?;
    limits::check(
        kv,
        &config.limits.login_failures_per_account_daily,
        &account,
        now,
    )?;
    // No key, no login: a misconfigured server costs no bcrypt.
    let secret = context.jwt_secret()?;
    let credentials = users::find_credentials(context.db()?, &username)?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    let password_matches = auth::verify_password(&password, stored_hash, config.bcrypt_cost)?;
    match credentials {
        Some(credentials) if password_matches => {
            let issued = auth::issue_token(
                credentials.user.id,
                now_ms() / 1000,
                config.jwt_ttl_seconds,
                secret,
            )?;
            http::ok(&LoginView::new(issued, credentials.user))
        }
        _ => {
            limits::record(kv, &config.limits.login_failures_per_account, &account, now);
            limits::record(
                kv,
                &config.limits.login_failures_per_account_daily,
                &account,
                now,
            );
            // The account as a hash, so the log holds no typo'd passwords
            // pasted into the username field; never the password.
            let account_hash = Sha256::digest(account.as_bytes());
            let account_hash: String = account_hash[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            log::warn(
                "login_failed",
                &[
                    ("account", account_hash.into()),
                    ("user_id", credentials.map(|c| c.user.id.to_string()).into()),
                    ("ip", ip.into()),
                ],
            );
            Err(Error::Unauthorized("Invalid username or password.".into()))
        }
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
    let context = Context::load()?;
    let user_id = auth::token_user_id(request, &context)?;
    count_write(&context, user_id)?;
    let mut fields = request.json()?;
    let display_name = fields.optional::<DisplayName>("display_name");
    let bio = fields.optional::<Bio>("bio");
    fields.finish()?;
    let (display_name, bio) = (display_name?, bio?);

    let db = context.db()?;
    let user = auth::existing_user(db, user_id)?;
    let user = users::update_profile(db, &user, display_name.as_ref(), bio.as_ref())?;
    cache::changed(&context, &[&versions::user(user.id), versions::PROFILES]);
    http::ok(&UserView::from(user))
}
