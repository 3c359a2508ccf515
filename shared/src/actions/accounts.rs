//! Accounts: signing up, logging in (the limits, the password check, the
//! token) and changing one's profile.

use sha2::{Digest, Sha256};

use crate::auth::{self, IssuedToken};
use crate::cache::{self, versions};
use crate::context::Context;
use crate::error::Error;
use crate::limits;
use crate::log;
use crate::model::{Bio, DisplayName, IdempotencyKey, Password, Username};
use crate::net::ClientAddress;
use crate::snowflake::Id;
use crate::store::users::{self, User};
use crate::time::now_ms;

use super::{Created, Once, create_once};

/// A valid sign-up.
#[derive(Debug)]
pub struct Signup {
    /// The username.
    pub username: Username,
    /// The password.
    pub password: Password,
    /// The display name.
    pub display_name: DisplayName,
}

/// Creates an account for a client at `from`: counted against the
/// address's signup limit first (a 429 costs no bcrypt); 409 if the
/// username is taken in any letter case. With `key`, a retry of the same
/// sign-up (same username and display name) gets the first account back.
pub fn sign_up(
    context: &Context,
    from: &ClientAddress,
    signup: &Signup,
    key: Option<&IdempotencyKey>,
) -> Result<Created<User>, Error> {
    let config = context.config();
    let now = now_ms() / 1000;
    limits::count(
        context.kv(),
        &config.limits.signups_per_ip,
        from.as_str(),
        now,
    )?;
    let password_hash = auth::hash_password(&signup.password, config.bcrypt_cost)?;
    let node = config.snowflake_node;
    // Anyone may sign up, so signup keys share one scope.
    let input = [signup.username.as_str(), signup.display_name.as_str()];
    let once = Once::new(key, "signup".into(), "signup", &input);
    let (created, _) = create_once(context.db()?, once, |db| {
        let user = users::insert(
            db,
            node,
            &signup.username,
            &password_hash,
            &signup.display_name,
        )?;
        Ok((user, ()))
    })?;
    Ok(created)
}

/// A successful login: the user and their new token.
#[derive(Debug)]
pub struct Login {
    /// Who logged in.
    pub user: User,
    /// Their token (the website keeps it in its session cookie).
    pub token: IssuedToken,
}

/// Logs in a client at `from` as `username` with `password`: the login, or
/// `None` if they do not match, after the same bcrypt work either way, so
/// timing does not tell whether the user exists. First the limits: a 429
/// when the address has tried too often, or the account (a name, ignoring
/// case, known or not) has failed too often lately. A failure is counted
/// and logged, without the password.
pub fn log_in(
    context: &Context,
    from: &ClientAddress,
    username: &str,
    password: &str,
) -> Result<Option<Login>, Error> {
    let config = context.config();
    let (kv, now) = (context.kv(), now_ms() / 1000);
    let account = username.to_lowercase();
    let limits = &config.limits;
    limits::count(kv, &limits.login_per_ip, from.as_str(), now)?;
    limits::check(kv, &limits.login_failures_per_account, &account, now)?;
    limits::check(kv, &limits.login_failures_per_account_daily, &account, now)?;
    // No key, no login: a misconfigured server costs no bcrypt.
    context.jwt_secret()?;
    let credentials = users::find_credentials(context.db()?, username)?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    if auth::verify_password(password, stored_hash, config.bcrypt_cost)? {
        let Some(user) = credentials.map(|c| c.user) else {
            return Ok(None);
        };
        let token = session_token(context, user.id)?;
        return Ok(Some(Login { user, token }));
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
            ("ip", from.as_str().into()),
        ],
    );
    Ok(None)
}

/// A new login token for `user`, issued now: after a login, and for the
/// website's session after a sign-up.
pub fn session_token(context: &Context, user: Id) -> Result<IssuedToken, Error> {
    auth::issue_token(
        user,
        now_ms() / 1000,
        context.config().jwt_ttl_seconds,
        context.jwt_secret()?,
    )
}

/// Changes the given profile fields of the caller: counted against their
/// write limit; 401 if the account is gone.
pub fn change_profile(
    context: &Context,
    caller: Id,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> Result<User, Error> {
    super::count_write(context, caller)?;
    let db = context.db()?;
    let user = auth::existing_user(db, caller)?;
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
