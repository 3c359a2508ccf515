//! Accounts: signing up, logging in and out, the password checks and their
//! limits, and what a person can do with their own account (change its
//! password, export it, delete it).

use sha2::{Digest, Sha256};

use crate::auth::{self, IssuedToken};
use crate::cache::{self, versions};
use crate::context::Context;
use crate::db::transaction;
use crate::error::Error;
use crate::limits::Reservation;
use crate::log;
use crate::model::{Bio, DisplayName, IdempotencyKey, Password, Username};
use crate::net::ClientAddress;
use crate::snowflake::Id;
use crate::store::comments::{self, Comment};
use crate::store::idempotency;
use crate::store::posts::{self, Post};
use crate::store::sessions::{self, Session};
use crate::store::users::{self, User};
use crate::time::now_ms;

use super::{Created, Once, count_write, create_once, sweep};

/// How long a deleted account's username stays reserved: 30 days. Long
/// enough that whoever knew the name hears the account is gone before
/// someone else can sign up as it and be mistaken for its owner; as long as
/// the backups that could still bring the account back are kept (see
/// `docs/accounts.md`), so a restore never meets a stranger with its name.
pub const USERNAME_COOLING_OFF_MS: i64 = 30 * 24 * 3600 * 1000;

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
/// username, in any spelling with the same canonical form, belongs to an
/// account or is reserved after a deletion. With `key`, a retry of the same
/// sign-up (same username and display name) gets the first account back.
pub fn sign_up(
    context: &Context,
    from: &ClientAddress,
    signup: &Signup,
    key: Option<&IdempotencyKey>,
) -> Result<Created<User>, Error> {
    let config = context.config();
    let now = now_ms() / 1000;
    crate::limits::count(
        context.kv(),
        &config.limits.signups_per_ip,
        from.as_str(),
        now,
    )?;
    let password_hash = auth::hash_password(&signup.password, config.bcrypt_cost)?;
    let node = config.snowflake_node;
    // Anyone may sign up, so signup keys share one scope.
    let input = [signup.username.canonical(), signup.display_name.as_str()];
    let once = Once::new(context, key, "signup".into(), "signup", &input)?;
    let (created, _) = create_once(context.db()?, once, |db| {
        let user = users::insert(
            db,
            node,
            &signup.username,
            &password_hash,
            &signup.display_name,
        )?;
        // After the insert: a deletion that reserves this name commits
        // before the insert can take the name's key, so this sees it.
        if users::is_reserved(db, &signup.username, now_ms())? {
            return Err(users::username_taken());
        }
        Ok((user, ()))
    })?;
    sweep(context);
    Ok(created)
}

/// A successful login: the user, their new session and its token.
#[derive(Debug)]
pub struct Login {
    /// Who logged in.
    pub user: User,
    /// The session the token stands for.
    pub session: Session,
    /// Its token (the website keeps it in its session cookie).
    pub token: IssuedToken,
}

/// One password check of an account by a client, held to the login limits:
/// reserved before the check, then reported as a success or a failure.
/// Dropped without a report (the check never ran), it gives its
/// reservations back.
///
/// Two growing-delay limits hold it (`limits::Backoff`): the account from
/// this address, and the account as a whole. The account-wide one does not
/// hold back an address that has not been failing on the account: the
/// owner, on their usual network, still gets in while someone elsewhere
/// guesses. Its failures still count there, so each new address an
/// attacker brings gets one guess before the account's delay holds it.
struct PasswordCheck<'c> {
    context: &'c Context,
    pair: String,
    account: String,
    on_pair: Reservation,
    on_account: Reservation,
    reported: bool,
}

impl<'c> PasswordCheck<'c> {
    /// Reserves a check of `name`'s password by a client at `from`: a 429
    /// if either limit says to wait (and then nothing stays counted).
    fn reserve(context: &'c Context, name: &Username, from: &ClientAddress) -> Result<Self, Error> {
        let (kv, now) = (context.kv(), now_ms() / 1000);
        let limits = &context.config().limits;
        let account = name.canonical().to_owned();
        let pair = format!("{account} {}", from.as_str());
        let on_pair = limits.login_per_account_and_address.reserve(kv, &pair, now);
        let on_account = if on_pair.is_first() {
            limits.login_per_account.count_only(kv, &account, now)
        } else {
            limits.login_per_account.reserve(kv, &account, now)
        };
        let check = Self {
            context,
            pair,
            account,
            on_pair,
            on_account,
            reported: false,
        };
        if let Some(refused) = on_pair.verdict.err().or(on_account.verdict.err()) {
            // Dropping `check` gives both reservations back.
            return Err(refused.into());
        }
        Ok(check)
    }

    /// The password was right: this address starts afresh on the account,
    /// and the check does not count against the account.
    fn succeeded(mut self) {
        let (kv, now) = (self.context.kv(), now_ms() / 1000);
        let limits = &self.context.config().limits;
        limits
            .login_per_account_and_address
            .reset(kv, &self.pair, now);
        limits
            .login_per_account
            .release(kv, &self.account, &self.on_account, now);
        self.reported = true;
    }

    /// The password was wrong: both limits count it, and start their next
    /// delay.
    fn failed(mut self) {
        let (kv, now) = (self.context.kv(), now_ms() / 1000);
        let limits = &self.context.config().limits;
        limits
            .login_per_account_and_address
            .failed(kv, &self.pair, &self.on_pair, now);
        limits
            .login_per_account
            .failed(kv, &self.account, &self.on_account, now);
        self.reported = true;
    }
}

impl Drop for PasswordCheck<'_> {
    fn drop(&mut self) {
        if self.reported {
            return;
        }
        let (kv, now) = (self.context.kv(), now_ms() / 1000);
        let limits = &self.context.config().limits;
        limits
            .login_per_account_and_address
            .release(kv, &self.pair, &self.on_pair, now);
        limits
            .login_per_account
            .release(kv, &self.account, &self.on_account, now);
    }
}

/// Logs a failed password check, without the password: the account as a
/// hash (a typo'd password pasted into the username field stays out of the
/// log), the user id if there is one, and the address.
fn log_failure(event: &str, name: Option<&Username>, user: Option<Id>, from: &ClientAddress) {
    let account = name.map_or("", Username::canonical);
    let account_hash = crate::hex::encode(&Sha256::digest(account.as_bytes())[..8]);
    log::warn(
        event,
        &[
            ("account", account_hash.into()),
            ("user_id", user.map(|id| id.to_string()).into()),
            ("ip", from.as_str().into()),
        ],
    );
}

/// Logs in a client at `from` as `username` with `password`: the login, or
/// `None` if they do not match. Every spelling of a name is its one
/// canonical form (a spelling `Username::from_spelling` refuses names no
/// account, and is `None` at once). First the limits: a 429 when the address has
/// tried too often, or when this account is in its delay (see
/// [`PasswordCheck`]); that costs no database or bcrypt work. Then the same
/// bcrypt work whether or not the user exists, so timing does not tell.
pub fn log_in(
    context: &Context,
    from: &ClientAddress,
    username: &str,
    password: &str,
) -> Result<Option<Login>, Error> {
    let config = context.config();
    let now = now_ms() / 1000;
    crate::limits::count(
        context.kv(),
        &config.limits.login_per_ip,
        from.as_str(),
        now,
    )?;
    let Ok(name) = Username::from_spelling(username) else {
        log_failure("login_failed", None, None, from);
        return Ok(None);
    };
    // No key, no login: a misconfigured server costs no bcrypt.
    context.jwt_secret()?;
    let check = PasswordCheck::reserve(context, &name, from)?;
    let credentials = users::find_credentials(context.db()?, &name)?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    let matches = auth::verify_password(password, stored_hash, config.bcrypt_cost)?;
    match credentials.filter(|_| matches) {
        Some(credentials) => {
            check.succeeded();
            let (session, token) = start_session(context, credentials.user.id)?;
            sweep(context);
            Ok(Some(Login {
                user: credentials.user,
                session,
                token,
            }))
        }
        None => {
            check.failed();
            log_failure("login_failed", Some(&name), None, from);
            Ok(None)
        }
    }
}

/// A new session for `user`, and its token: after a login, and for the
/// website after a sign-up. The session ends when its token expires.
pub fn start_session(context: &Context, user: Id) -> Result<(Session, IssuedToken), Error> {
    let secret = context.jwt_secret()?;
    let now = now_ms() / 1000;
    let expires_at = now + context.config().jwt_ttl_seconds;
    let session = sessions::start(context.db()?, user, expires_at * 1000)?;
    let token = auth::issue_token(&session, now, expires_at, secret)?;
    Ok((session, token))
}

/// Ends the caller's session: its token is refused from now on, on every
/// pod. Not rate limited: ending a session must always work. 401 if it had
/// already ended.
pub fn log_out(context: &Context, caller: &Session) -> Result<(), Error> {
    let db = context.db()?;
    auth::session_user(db, caller)?;
    sessions::end(db, caller)
}

/// Ends every session of the caller's account, this one included. 401 if
/// the caller's session had already ended.
pub fn log_out_everywhere(context: &Context, caller: &Session) -> Result<(), Error> {
    let db = context.db()?;
    auth::session_user(db, caller)?;
    sessions::end_all(db, caller.user)
}

/// Changes the given profile fields of the caller: counted against their
/// write limit; 401 if their session has ended.
pub fn change_profile(
    context: &Context,
    caller: &Session,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> Result<User, Error> {
    count_write(context, caller.user)?;
    let db = context.db()?;
    let user = auth::session_user(db, caller)?;
    let user = users::update_profile(db, &user, display_name, bio)?;
    // Posts and comments show their authors' display names, not their bios.
    let user_version = versions::user(user.id);
    let changed: &[&str] = match display_name {
        Some(_) => &[&user_version, versions::PROFILES],
        None => &[&user_version],
    };
    cache::changed(context, changed);
    sweep(context);
    Ok(user)
}

/// Checks the caller's password again before a change only its owner may
/// make: counted against their write limit first, then against the login
/// limits as a login from `from` would be. 401 if the session has ended;
/// 403 for a wrong password, which counts as a failed login; 429 when the
/// login limits say to wait.
fn confirm_password(
    context: &Context,
    from: &ClientAddress,
    caller: &Session,
    password: &str,
    event: &str,
) -> Result<User, Error> {
    count_write(context, caller.user)?;
    let credentials =
        sessions::credentials(context.db()?, caller)?.ok_or_else(Error::session_ended)?;
    let name = Username::parse(&credentials.user.username).map_err(|problem| {
        Error::internal(anyhow::anyhow!("stored username is invalid: {problem}"))
    })?;
    let check = PasswordCheck::reserve(context, &name, from)?;
    let cost = context.config().bcrypt_cost;
    if !auth::verify_password(password, Some(&credentials.password_hash), cost)? {
        check.failed();
        log_failure(event, Some(&name), Some(caller.user), from);
        return Err(Error::Forbidden("The password is wrong.".into()));
    }
    check.succeeded();
    Ok(credentials.user)
}

/// Changes the caller's password, given the current one (see
/// [`confirm_password`]): every other session of the account ends, and
/// this one goes on.
pub fn change_password(
    context: &Context,
    from: &ClientAddress,
    caller: &Session,
    current: &str,
    new: &Password,
) -> Result<(), Error> {
    confirm_password(context, from, caller, current, "password_change_failed")?;
    let hash = auth::hash_password(new, context.config().bcrypt_cost)?;
    transaction(context.db()?, |db| {
        users::update_password(db, caller.user, &hash)?;
        sessions::end_others(db, caller)
    })?;
    log::info(
        "password_changed",
        &[("user_id", caller.user.to_string().into())],
    );
    sweep(context);
    Ok(())
}

/// Everything an account holds, for its owner to take away.
#[derive(Debug)]
pub struct Export {
    /// The profile.
    pub user: User,
    /// Every post, newest first.
    pub posts: Vec<Post>,
    /// Every comment, on anyone's post, newest first.
    pub comments: Vec<Comment>,
}

/// The caller's profile, posts and comments, whole: counted against their
/// write limit (it reads everything they wrote); 401 if their session has
/// ended. Read a bounded page at a time, so no one result is large.
pub fn export(context: &Context, caller: &Session) -> Result<Export, Error> {
    count_write(context, caller.user)?;
    let db = context.db()?;
    let user = auth::session_user(db, caller)?;
    let mut all_posts = Vec::new();
    let mut before = Id::MAX;
    loop {
        let page = posts::before_by_author(db, user.id, before)?.items;
        let Some(last) = page.last() else { break };
        before = last.id;
        all_posts.extend(page);
    }
    let mut all_comments = Vec::new();
    let mut before = Id::MAX;
    loop {
        let page = comments::by_author_before(db, user.id, before)?;
        let Some(last) = page.last() else { break };
        before = last.id;
        all_comments.extend(page);
    }
    Ok(Export {
        user,
        posts: all_posts,
        comments: all_comments,
    })
}

/// Deletes the caller's account, given its password (see
/// [`confirm_password`]): every session first, so the account makes
/// nothing new; then its comments on any post, then its posts with
/// everyone's comments on them, in small batches, each its own short
/// transaction, so no statement nears its time limit however much there is;
/// then the user, whose username stays reserved for
/// [`USERNAME_COOLING_OFF_MS`]. Every cached answer that showed any of it
/// is invalidated as each batch commits. Interrupted, it leaves an account
/// with fewer posts and comments and no sessions, whose owner can log in
/// and delete it again.
pub fn delete_account(
    context: &Context,
    from: &ClientAddress,
    caller: &Session,
    password: &str,
) -> Result<(), Error> {
    let user = confirm_password(context, from, caller, password, "deletion_failed")?;
    let name = Username::parse(&user.username).map_err(|problem| {
        Error::internal(anyhow::anyhow!("stored username is invalid: {problem}"))
    })?;
    let db = context.db()?;
    sessions::end_all(db, user.id)?;
    loop {
        let touched = transaction(db, |db| comments::delete_batch_by_author(db, user.id))?;
        if touched.is_empty() {
            break;
        }
        for post in touched {
            if let Some(author) = posts::author_of(db, post)? {
                super::comments::changed(context, post, author);
            }
        }
    }
    loop {
        let batch = posts::before_by_author(db, user.id, Id::MAX)?.items;
        if batch.is_empty() {
            break;
        }
        for post in batch {
            while transaction(db, |db| comments::delete_batch_on_post(db, post.id))? {}
            transaction(db, |db| {
                if posts::lock(db, post.id)? {
                    posts::delete(db, &post)?;
                }
                Ok(())
            })?;
            super::posts::changed(context, &post);
        }
    }
    transaction(db, |db| {
        idempotency::forget_scope(db, &user.id.to_string())?;
        users::delete(db, user.id)?;
        users::reserve(db, &name, now_ms() + USERNAME_COOLING_OFF_MS)
    })?;
    cache::changed(
        context,
        &[
            &versions::user(user.id),
            &versions::user_posts(user.id),
            versions::POSTS,
            versions::PROFILES,
        ],
    );
    log::info(
        "account_deleted",
        &[("user_id", user.id.to_string().into())],
    );
    Ok(())
}
