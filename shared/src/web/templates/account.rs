//! The sign-up and login forms.

use maud::{Markup, html};

use crate::model::{DisplayName, Password, Username};
use crate::web::forms::{LoginForm, SignupForm};
use crate::web::place::Place;

use super::fields::{Field, Input, form_alert, next_field};
use super::layout::{Header, csrf_field, page};

/// The sign-up form.
pub fn signup(header: Header<'_>, csrf: &str, form: &SignupForm) -> Markup {
    let username_hint = format!(
        "{} to {} letters A–Z, digits or underscores.",
        Username::MIN_CHARS,
        Username::MAX_CHARS
    );
    let password_hint = format!("At least {} characters.", Password::MIN_BYTES);
    page(
        "Sign up",
        header,
        html! {
            h1 { "Sign up" }
            (form_alert(&form.errors, None))
            form.stack method="post" action=(Place::Signup.href()) {
                (csrf_field(csrf))
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
            }
            p { "Already have an account? " a href=(Place::Login.href()) { "Log in instead" } }
        },
    )
}

/// The login form.
pub fn login(header: Header<'_>, csrf: &str, form: &LoginForm) -> Markup {
    page(
        "Log in",
        header,
        html! {
            h1 { "Log in" }
            (form_alert(&form.errors, form.problem.as_deref()))
            form.stack method="post" action=(Place::Login.href()) {
                (csrf_field(csrf))
                (next_field(&form.next))
                (Field::new("Username", "username", &form.username, &form.errors)
                    .input(Input::Text, "username", true))
                (Field::new("Password", "password", "", &form.errors)
                    .input(Input::Password, "current-password", true))
                div { button type="submit" { "Log in" } }
            }
            p { "New to Omni? " a href=(Place::Signup.href()) { "Create an account" } }
        },
    )
}
