//! A profile with its projects, and the profile form.

use maud::{Markup, html};

use crate::model::{Bio, DisplayName};
use crate::store::posts::Post;
use crate::store::users::User;
use crate::web::forms::ProfileForm;
use crate::web::paging::Pager;
use crate::web::place::Place;

use super::fields::{Field, Input, form_alert, form_page};
use super::layout::{Head, Header, Preview, date, excerpt, name_of, page_with, pager};
use super::projects::post_list;

/// A profile with the user's projects; `origin` is the site's, for the
/// page's preview.
pub fn profile(
    header: Header<'_>,
    user: &User,
    posts: &[Post],
    pages: &Pager,
    origin: &str,
) -> Markup {
    let is_owner = matches!(header, Header::Full(Some(v)) if v.user.id == user.id);
    let name = name_of(&user.display_name, &user.username);
    let description = if user.bio.trim().is_empty() {
        format!("Projects by {name} on Omni.")
    } else {
        excerpt(&user.bio, 200)
    };
    let head = Head {
        preview: Some(Preview {
            canonical: format!("{origin}{}", Place::User(user.id).href()),
            kind: "profile",
            title: &name,
            description,
            author: None,
            username: Some(&user.username),
        }),
        feed: Some((format!("{name} on Omni"), Place::UserFeed(user.id).href())),
        ..Head::default()
    };
    page_with(
        &name,
        header,
        &head,
        html! {
            h1 { (name) }
            p.meta { "@" (user.username) " · member since " (date(user.id.unix_ms())) }
            @if !user.bio.is_empty() { p.text { (user.bio) } }
            @if is_owner { p { a href=(Place::EditProfile.href()) { "Edit profile" } } }
            h2 { "Projects" }
            @if posts.is_empty() && pages.newer.is_none() { p.muted { "No projects yet." } }
            (post_list(posts, 3))
            (pager(pages))
            p.feed { a href=(Place::UserFeed(user.id).href()) type="application/atom+xml" { "Atom feed of " (name) "'s projects" } }
        },
    )
}

/// The form for editing one's profile.
pub fn profile_form(header: Header<'_>, csrf: &str, user: &User, form: &ProfileForm) -> Markup {
    let bio_hint = format!("Up to {} characters.", Bio::MAX_CHARS);
    let fields = html! {
        (Field::new("Display name", "display_name", &form.display_name, &form.errors)
            .hint("Leave empty to be shown by your username.").max(DisplayName::MAX_CHARS)
            .input(Input::Text, "name", false))
        (Field::new("Bio", "bio", &form.bio, &form.errors)
            .hint(&bio_hint).max(Bio::MAX_CHARS)
            .textarea())
        div.actions {
            button type="submit" { "Save" }
            a href=(Place::User(user.id).href()) { "Cancel" }
        }
    };
    let alert = form_alert(&form.errors, None);
    form_page(
        "Edit profile",
        header,
        alert,
        Place::EditProfile,
        csrf,
        fields,
        html! {},
    )
}
