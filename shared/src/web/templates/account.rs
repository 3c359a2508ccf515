//! The sign-up and login forms, and your account's page and forms.

use maud::{Markup, html};

use crate::model::{DisplayName, Password, Username};
use crate::store::users::User;
use crate::web::forms::{DeleteAccountForm, LoginForm, PasswordForm, SignupForm};
use crate::web::place::Place;

use super::fields::{Field, Input, form_alert, form_page, key_field, next_field};
use super::layout::{Header, csrf_field, page};

/// The sign-up form.
pub fn signup(header: Header<'_>, csrf: &str, form: &SignupForm) -> Markup {
    let username_hint = format!(
        "{} to {} letters A–Z, digits or underscores.",
        Username::MIN_CHARS,
        Username::MAX_CHARS
    );
    let password_hint = format!(
        "At least {} characters, and not one of the most common passwords.",
        Password::MIN_BYTES
    );
    let fields = html! {
        (next_field(&form.next))
        (key_field(&form.key))
        (Field::new("Username", "username", &form.username, &form.errors)
            .hint(&username_hint).max(Username::MAX_CHARS)
            .input(Input::Text, "username", true))
        (Field::new("Password", "password", "", &form.errors)
            .hint(&password_hint)
            .input(Input::Password, "new-password", true))
        (Field::new("Display name", "display_name", &form.display_name, &form.errors)
            .hint("Optional: how your name is shown.").max(DisplayName::MAX_CHARS)
            .input(Input::Text, "name", false))
        div { button type="submit" { "Sign up" } }
    };
    let after = html! {
        p { "Already have an account? " a href=(Place::Login.href()) { "Log in instead" } }
    };
    let alert = form_alert(&form.errors, None);
    form_page("Sign up", header, alert, Place::Signup, csrf, fields, after)
}

/// The login form.
pub fn login(header: Header<'_>, csrf: &str, form: &LoginForm) -> Markup {
    let fields = html! {
        (next_field(&form.next))
        (Field::new("Username", "username", &form.username, &form.errors)
            .input(Input::Text, "username", true))
        (Field::new("Password", "password", "", &form.errors)
            .input(Input::Password, "current-password", true))
        div { button type="submit" { "Log in" } }
    };
    let after = html! {
        p { "New to Omni? " a href=(Place::Signup.href()) { "Create an account" } }
    };
    let alert = form_alert(&form.errors, form.problem.as_deref());
    form_page("Log in", header, alert, Place::Login, csrf, fields, after)
}

/// What has just been done, as `/account?done=…` says after a form.
fn done_message(done: &str) -> Option<&'static str> {
    match done {
        "password" => Some("Your password is changed. Every other session has ended."),
        _ => None,
    }
}

/// Your account: download your data, change your password, end every
/// session, delete the account. `done` is what the form before did.
pub fn account(header: Header<'_>, csrf: &str, user: &User, done: &str) -> Markup {
    page(
        "Your account",
        header,
        html! {
            h1 { "Your account" }
            @if let Some(message) = done_message(done) {
                p.alert role="status" { (message) }
            }
            p { "You are logged in as " strong { (user.username) } "." }
            section aria-labelledby="data" {
                h2 #data { "Your data" }
                p { "Everything Omni holds about you: your profile, projects and comments, as one JSON file." }
                p { a href=(Place::Export.href()) download { "Download my data" } }
            }
            section aria-labelledby="password" {
                h2 #password { "Password" }
                p { a href=(Place::ChangePassword.href()) { "Change password" } }
            }
            section aria-labelledby="sessions" {
                h2 #sessions { "Sessions" }
                p { "Log out on every device and browser where you are logged in, this one included." }
                form method="post" action=(Place::LogoutEverywhere.href()) {
                    (csrf_field(csrf))
                    button type="submit" { "Log out everywhere" }
                }
            }
            section aria-labelledby="delete" {
                h2 #delete { "Delete account" }
                p { "Deletes your account, your projects with every comment on them, and your comments." }
                p { a href=(Place::DeleteAccount.href()) { "Delete my account" } }
            }
        },
    )
}

/// The change-password form.
pub fn change_password(header: Header<'_>, csrf: &str, form: &PasswordForm) -> Markup {
    let hint = format!(
        "At least {} characters, and not one of the most common passwords. Every other session ends.",
        Password::MIN_BYTES
    );
    let fields = html! {
        (Field::new("Current password", "current_password", "", &form.errors)
            .input(Input::Password, "current-password", true))
        (Field::new("New password", "new_password", "", &form.errors)
            .hint(&hint)
            .input(Input::Password, "new-password", true))
        div.actions {
            button type="submit" { "Change password" }
            a href=(Place::Account.href()) { "Cancel" }
        }
    };
    let alert = form_alert(&form.errors, form.problem.as_deref());
    form_page(
        "Change password",
        header,
        alert,
        Place::ChangePassword,
        csrf,
        fields,
        html! {},
    )
}

/// The delete-account form.
pub fn delete_account(
    header: Header<'_>,
    csrf: &str,
    user: &User,
    form: &DeleteAccountForm,
) -> Markup {
    let fields = html! {
        p {
            "This deletes the account " strong { (user.username) } ", your projects with every "
            "comment on them, and your comments, for good. Your username stays reserved for 30 "
            "days. " a href=(Place::Export.href()) download { "Download your data" } " first if you want to keep it."
        }
        (Field::new("Password", "password", "", &form.errors)
            .hint("Your password, to confirm.")
            .input(Input::Password, "current-password", true))
        div.actions {
            button.danger type="submit" { "Delete my account" }
            a href=(Place::Account.href()) { "Cancel" }
        }
    };
    let alert = form_alert(&form.errors, form.problem.as_deref());
    form_page(
        "Delete account",
        header,
        alert,
        Place::DeleteAccount,
        csrf,
        fields,
        html! {},
    )
}
