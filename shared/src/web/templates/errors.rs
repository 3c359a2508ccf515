//! The error page: what happened, and what the visitor can do about it.

use maud::{Markup, html};

use crate::web::place::Place;

use super::layout::{Header, page};

/// An error page: what happened and what the visitor can do about it.
pub fn error_page(status: u16, detail: &str) -> Markup {
    let (title, advice): (&str, Markup) = match status {
        404 => (
            "Page not found",
            html! {
                p { "There is no page at this address. It may have been deleted, or the link may be mistyped." }
                p { a href=(Place::Home.href()) { "Go to the newest projects" } }
            },
        ),
        403 => ("Not allowed", html! { p { (detail) } }),
        405 => (
            "Not allowed here",
            html! { p { "This page cannot be used that way. " a href=(Place::Home.href()) { "Go to the newest projects" } } },
        ),
        413 => (
            "Too much text",
            html! { p { "What you sent is larger than Omni accepts. Go back, shorten it and try again." } },
        ),
        503 => (
            "Omni is unavailable",
            html! {
                p { "Omni cannot reach its database right now. Nothing you did caused this." }
                p { "If you were sending a form, what you sent may not have been saved; check before you retry. Open the page it was for (your project, your comment, your profile) to see whether the change is there, and only if it is not, go back and send it again." }
                p { "Otherwise, wait a few seconds, then reload the page." }
            },
        ),
        500 => (
            "Something went wrong",
            html! {
                p { "Omni hit an unexpected problem and could not finish this request. It has been logged." }
                p { "Reload the page to try again. If it keeps happening, go back to " a href=(Place::Home.href()) { "the newest projects" } " and try later." }
            },
        ),
        _ => (
            "That did not work",
            html! { p { (detail) } p { a href=(Place::Home.href()) { "Go to the newest projects" } } },
        ),
    };
    page(
        title,
        Header::Minimal,
        html! {
            h1 { (title) }
            (advice)
        },
    )
}
