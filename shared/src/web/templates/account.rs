//! The sign-up and login forms.

use maud::{Markup, html};

use crate::model::{DisplayName, Password, Username};
use crate::web::forms::{LoginForm, SignupForm};
use crate::web::place::Place;

use super::fields::{Field, Input, form_alert, form_page, next_field};
use super::layout::Header;

/// The sign-up form.
pub fn signup(header: Header<'_>, csrf: &str, form: &SignupForm) -> Markup {
    let username_hint = format!(
        "{} to {} letters A–Z, digits or underscores.",
        Username::MIN_CHARS,
        Username::MAX_CHARS
    );
    let password_hint = format!("At least {} characters.", Password::MIN_BYTES);
    let fields = html! {
        (next_field(&form.next))
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
