//! Every page's HTML, written with `maud`: the templates are Rust, checked
//! when the crate compiles, and every value spliced into them is
//! HTML-escaped unless it is explicitly `PreEscaped` (nothing is). They
//! take plain data and decide nothing but how it looks; handlers decide
//! what to show.
//!
//! Accessible names are part of the contract (tests and assistive
//! technology find things by them): the labels, buttons and links below
//! use exactly the texts the README lists, and every page has one `<h1>`.

use maud::{DOCTYPE, Markup, html};

use crate::actions;
use crate::error::FieldErrors;
use crate::snowflake::Id;
use crate::store::comments::Comment;
use crate::store::posts::{Author, Post};
use crate::store::users::User;
use crate::time::rfc3339_ms;
use crate::web::assets;
use crate::web::forms::{CSRF_FIELD, CommentForm, LoginForm, PostForm, ProfileForm, SignupForm};
use crate::web::paging::Pager;
use crate::web::place::Place;

/// The logged-in visitor, as the page header shows them.
#[derive(Clone, Copy, Debug)]
pub struct Viewer<'a> {
    /// Who is logged in.
    pub user: &'a User,
    /// The CSRF token for their forms (the header's Log out is one).
    pub csrf: &'a str,
}

/// What the site header offers.
#[derive(Clone, Copy, Debug)]
pub enum Header<'a> {
    /// Everything, for the visitor as they are.
    Full(Option<Viewer<'a>>),
    /// Only the way home: error pages, which cannot know who is visiting.
    Minimal,
}

/// A whole page: `title` in the tab, `main` in the `<main>` landmark.
pub fn page(title: &str, header: Header<'_>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Omni" }
                link rel="stylesheet" href=(assets::STYLE_CSS.path);
                link rel="icon" type="image/svg+xml" href=(assets::ICON_SVG.path);
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site-header {
                    div.bar {
                        span.brand { img src=(assets::ICON_SVG.path) alt=""; "Omni" }
                        nav aria-label="Site" {
                            ul {
                                li { a href=(Place::Home.href()) { "Home" } }
                                @if let Header::Full(viewer) = header {
                                    @if let Some(viewer) = viewer {
                                        li { a href=(Place::NewPost.href()) { "New project" } }
                                        li { a href=(Place::User(viewer.user.id).href()) { (viewer.user.username) } }
                                        li {
                                            form method="post" action=(Place::Logout.href()) {
                                                (csrf_field(viewer.csrf))
                                                button.link type="submit" { "Log out" }
                                            }
                                        }
                                    } @else {
                                        li { a href=(Place::Login.href()) { "Log in" } }
                                        li { a href=(Place::Signup.href()) { "Sign up" } }
                                    }
                                }
                            }
                        }
                    }
                }
                main #main { (main) }
            }
        }
    }
}

fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// The name a person goes by: the display name, or the username if they
/// gave none.
fn name_of(display_name: &str, username: &str) -> String {
    if display_name.trim().is_empty() {
        username.to_owned()
    } else {
        display_name.to_owned()
    }
}

fn author_link(author: &Author) -> Markup {
    html! {
        a href=(Place::User(author.id).href()) { (name_of(&author.display_name, &author.username)) }
    }
}

/// "22 Nov 2026", in a `<time>` whose `datetime` is the exact instant.
fn date(unix_ms: i64) -> Markup {
    let stamp = rfc3339_ms(unix_ms);
    html! { time datetime=(stamp) { (human_date(&stamp)) } }
}

/// "2026-11-22T…" as "22 Nov 2026".
fn human_date(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let part = |range: std::ops::Range<usize>| rfc3339.get(range).unwrap_or_default();
    let month = part(5..7)
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"");
    let day = part(8..10).trim_start_matches('0');
    format!("{day} {month} {}", part(0..4))
}

/// Up to `max` characters of `text`, cut at a word where one is near, with
/// an ellipsis if anything was cut.
fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let head = &text[..cut];
            let at_word = head
                .rfind(char::is_whitespace)
                .filter(|&space| space > cut / 2)
                .map_or(head, |space| &head[..space]);
            format!("{}…", at_word.trim_end())
        }
    }
}

/// `url` if it is an http(s) URL, the only kind ever rendered as a link.
/// Input validation already refuses anything else; this holds even if a
/// stored row says otherwise.
fn http_href(url: &str) -> Option<&str> {
    let scheme = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (scheme.starts_with("https://") || scheme.starts_with("http://")).then_some(url)
}

fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The list of projects on Home and on a profile; `heading` is the level of
/// each project's title (h2 on Home, h3 under a profile's "Projects").
fn post_list(posts: &[Post], heading: u8) -> Markup {
    html! {
        @if !posts.is_empty() { ol.cards {
            @for post in posts {
                li.card {
                    @let link = html! { a href=(Place::Post(post.id).href()) { (post.title) } };
                    @if heading == 2 { h2 { (link) } } @else { h3 { (link) } }
                    p.meta {
                        "by " (author_link(&post.author)) " · " (date(post.id.unix_ms()))
                        " · " (count(post.comment_count, "comment", "comments"))
                    }
                    @if !post.description.trim().is_empty() {
                        p { (excerpt(&post.description, 200)) }
                    }
                }
            }
        } }
    }
}

fn pager(pager: &Pager) -> Markup {
    html! {
        @if pager.newer.is_some() || pager.older.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(href) = &pager.newer { a href=(href) rel="prev" { "Newer" } } @else { span {} }
                @if let Some(href) = &pager.older { a href=(href) rel="next" { "Older" } }
            }
        }
    }
}

/// Home: the newest projects.
pub fn home(header: Header<'_>, posts: &[Post], pages: &Pager) -> Markup {
    let logged_in = matches!(header, Header::Full(Some(_)));
    page(
        "Newest projects",
        header,
        html! {
            h1 { "Newest projects" }
            @if posts.is_empty() {
                p {
                    "No projects here yet."
                    @if logged_in { " " a href=(Place::NewPost.href()) { "Publish yours" } "." }
                }
            }
            (post_list(posts, 2))
            (pager(pages))
        },
    )
}

/// A project with its comments. `comment_form` is the form as the viewer
/// left it (empty, or sent back with errors).
pub fn post_page(
    header: Header<'_>,
    post: &Post,
    comments: &[Comment],
    pages: &Pager,
    comment_form: &CommentForm,
) -> Markup {
    let viewer = match header {
        Header::Full(viewer) => viewer,
        Header::Minimal => None,
    };
    let is_author = viewer.is_some_and(|v| actions::posts::may_change(v.user.id, post));
    page(
        &post.title,
        header,
        html! {
            article {
                h1 { (post.title) }
                p.meta {
                    "by " (author_link(&post.author)) " · published " (date(post.id.unix_ms()))
                    @if post.updated_at > post.id.unix_ms() { " · edited " (date(post.updated_at)) }
                }
                @if !post.description.is_empty() { p.text { (post.description) } }
                @if let Some(href) = http_href(&post.markdown_url) {
                    a.writeup href=(href) rel="noopener nofollow ugc" { "Read the write-up" }
                } @else {
                    p { "Write-up: " (post.markdown_url) }
                }
                @if let (true, Some(viewer)) = (is_author, viewer) {
                    div.actions {
                        a href=(Place::EditPost(post.id).href()) { "Edit" }
                        details.confirm {
                            summary { "Delete project" }
                            p { "This deletes the project and its comments for good." }
                            form method="post" action=(Place::DeletePost(post.id).href()) {
                                (csrf_field(viewer.csrf))
                                button.danger type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="comments" {
                h2 #comments { "Comments (" (post.comment_count) ")" }
                @if let Some(viewer) = viewer {
                    form.stack method="post" action=(Place::PostComments(post.id).href()) {
                        (csrf_field(viewer.csrf))
                        (Field::new("Comment", "body", &comment_form.body, &comment_form.errors).max(5000).textarea())
                        div { button type="submit" { "Post comment" } }
                    }
                } @else {
                    p {
                        a href=(login_href(&Place::Post(post.id).href())) { "Log in to comment" }
                    }
                }
                @if comments.is_empty() && pages.newer.is_none() {
                    p.muted { "No comments yet." }
                }
                @if !comments.is_empty() {
                    ol.cards {
                        @for comment in comments {
                            (comment_item(comment, post, viewer))
                        }
                    }
                }
                (pager(pages))
            }
        },
    )
}

fn comment_item(comment: &Comment, post: &Post, viewer: Option<Viewer<'_>>) -> Markup {
    let wrote_it = viewer.is_some_and(|v| actions::comments::may_edit(v.user.id, comment));
    let may_delete = viewer.is_some_and(|v| {
        actions::comments::may_delete(v.user.id, comment.author.id, post.author.id)
    });
    let label = format!(
        "Comment by {}",
        name_of(&comment.author.display_name, &comment.author.username)
    );
    html! {
        li.card.comment id=(format!("comment-{}", comment.id)) aria-label=(label) {
            p.meta {
                (author_link(&comment.author)) " · " (date(comment.id.unix_ms()))
                @if comment.updated_at > comment.id.unix_ms() { " · edited" }
            }
            p.text { (comment.body) }
            @if let (true, Some(viewer)) = (wrote_it || may_delete, viewer) {
                div.actions {
                    @if wrote_it { a href=(Place::EditComment(comment.id).href()) { "Edit" } }
                    @if may_delete {
                        form method="post" action=(Place::DeleteComment(comment.id).href()) {
                            (csrf_field(viewer.csrf))
                            button.link type="submit" { "Delete" }
                        }
                    }
                }
            }
        }
    }
}

/// A profile with the user's projects.
pub fn profile(header: Header<'_>, user: &User, posts: &[Post], pages: &Pager) -> Markup {
    let is_owner = matches!(header, Header::Full(Some(v)) if v.user.id == user.id);
    let name = name_of(&user.display_name, &user.username);
    page(
        &name,
        header,
        html! {
            h1 { (name) }
            p.meta { "@" (user.username) " · member since " (date(user.id.unix_ms())) }
            @if !user.bio.is_empty() { p.text { (user.bio) } }
            @if is_owner { p { a href=(Place::EditProfile.href()) { "Edit profile" } } }
            h2 { "Projects" }
            @if posts.is_empty() && pages.newer.is_none() { p.muted { "No projects yet." } }
            (post_list(posts, 3))
            (pager(pages))
        },
    )
}

/// `/login?next=<path>`.
pub fn login_href(next: &str) -> String {
    let encoded: String = next
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{}?next={encoded}", Place::Login.href())
}

/// The kinds of one-line input.
#[derive(Clone, Copy)]
enum Input {
    Text,
    Password,
    Url,
}

/// A form field: its label, name (also its id), value and what to say
/// about it.
struct Field<'a> {
    label: &'a str,
    name: &'a str,
    value: &'a str,
    errors: &'a FieldErrors,
    hint: Option<&'a str>,
    max: Option<usize>,
}

impl<'a> Field<'a> {
    fn new(label: &'a str, name: &'a str, value: &'a str, errors: &'a FieldErrors) -> Self {
        Self {
            label,
            name,
            value,
            errors,
            hint: None,
            max: None,
        }
    }

    fn hint(self, hint: &'a str) -> Self {
        Self {
            hint: Some(hint),
            ..self
        }
    }

    fn max(self, max: usize) -> Self {
        Self {
            max: Some(max),
            ..self
        }
    }

    fn invalid(&self) -> bool {
        self.errors.contains(self.name)
    }

    /// `aria-describedby`: the hint and the error, if there are any.
    fn described_by(&self) -> Option<String> {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.name));
        }
        if self.invalid() {
            ids.push(format!("{}-error", self.name));
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    }

    /// The label and hint above the control, and the error below it.
    fn around(&self, control: Markup) -> Markup {
        html! {
            div.field {
                label for=(self.name) { (self.label) }
                @if let Some(hint) = self.hint { p.hint id=(format!("{}-hint", self.name)) { (hint) } }
                (control)
                @if let Some(message) = self.errors.first(self.name) {
                    p.error id=(format!("{}-error", self.name)) { (message) }
                }
            }
        }
    }

    fn input(&self, kind: Input, autocomplete: &str, required: bool) -> Markup {
        let kind = match kind {
            Input::Text => "text",
            Input::Password => "password",
            Input::Url => "url",
        };
        self.around(html! {
            input type=(kind) id=(self.name) name=(self.name) value=(self.value)
                autocomplete=(autocomplete) maxlength=[self.max] required[required]
                aria-invalid=[self.invalid().then_some("true")]
                aria-describedby=[self.described_by()];
        })
    }

    fn textarea(&self) -> Markup {
        self.around(html! {
            textarea id=(self.name) name=(self.name) maxlength=[self.max] rows="6"
                aria-invalid=[self.invalid().then_some("true")]
                aria-describedby=[self.described_by()] { (self.value) }
        })
    }
}

fn form_alert(errors: &FieldErrors, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(problem) = problem {
            p.alert.error role="alert" { (problem) }
        } @else if !errors.is_empty() {
            p.alert.error role="alert" { "Please correct the fields marked below." }
        }
    }
}

fn next_field(next: &str) -> Markup {
    html! {
        @if !next.is_empty() { input type="hidden" name="next" value=(next); }
    }
}

/// The sign-up form.
pub fn signup(header: Header<'_>, csrf: &str, form: &SignupForm) -> Markup {
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
                    .hint("3 to 32 letters A–Z, digits or underscores.").max(32)
                    .input(Input::Text, "username", true))
                (Field::new("Password", "password", "", &form.errors)
                    .hint("At least 8 characters.")
                    .input(Input::Password, "new-password", true))
                (Field::new("Display name", "display_name", &form.display_name, &form.errors)
                    .hint("Optional: how your name is shown.").max(64)
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

/// The form for a new project (`editing` None) or an edit of one.
pub fn post_form(header: Header<'_>, csrf: &str, editing: Option<Id>, form: &PostForm) -> Markup {
    let (title, action, button) = match editing {
        None => ("New project", Place::NewPost, "Publish"),
        Some(id) => ("Edit project", Place::EditPost(id), "Save"),
    };
    page(
        title,
        header,
        html! {
            h1 { (title) }
            (form_alert(&form.errors, None))
            form.stack method="post" action=(action.href()) {
                (csrf_field(csrf))
                (Field::new("Title", "title", &form.title, &form.errors).max(200)
                    .input(Input::Text, "off", true))
                (Field::new("Description", "description", &form.description, &form.errors)
                    .hint("Optional: what it is and why you built it.").max(5000)
                    .textarea())
                (Field::new("Write-up URL", "markdown_url", &form.markdown_url, &form.errors)
                    .hint("An http or https link to the project's markdown write-up.").max(2048)
                    .input(Input::Url, "url", true))
                div.actions {
                    button type="submit" { (button) }
                    @if let Some(id) = editing { a href=(Place::Post(id).href()) { "Cancel" } }
                }
            }
        },
    )
}

/// The form for editing a comment.
pub fn comment_form(
    header: Header<'_>,
    csrf: &str,
    comment: &Comment,
    form: &CommentForm,
) -> Markup {
    page(
        "Edit comment",
        header,
        html! {
            h1 { "Edit comment" }
            (form_alert(&form.errors, None))
            form.stack method="post" action=(Place::EditComment(comment.id).href()) {
                (csrf_field(csrf))
                (Field::new("Comment", "body", &form.body, &form.errors).max(5000).textarea())
                div.actions {
                    button type="submit" { "Save" }
                    a href=(format!("{}#comment-{}", Place::Post(comment.post_id).href(), comment.id)) { "Cancel" }
                }
            }
        },
    )
}

/// The form for editing one's profile.
pub fn profile_form(header: Header<'_>, csrf: &str, user: &User, form: &ProfileForm) -> Markup {
    page(
        "Edit profile",
        header,
        html! {
            h1 { "Edit profile" }
            (form_alert(&form.errors, None))
            form.stack method="post" action=(Place::EditProfile.href()) {
                (csrf_field(csrf))
                (Field::new("Display name", "display_name", &form.display_name, &form.errors)
                    .hint("Leave empty to be shown by your username.").max(64)
                    .input(Input::Text, "name", false))
                (Field::new("Bio", "bio", &form.bio, &form.errors)
                    .hint("Up to 500 characters.").max(500)
                    .textarea())
                div.actions {
                    button type="submit" { "Save" }
                    a href=(Place::User(user.id).href()) { "Cancel" }
                }
            }
        },
    )
}

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
                p { "Wait a few seconds, then reload the page. If you were sending a form, go back and send it again: it was not saved." }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::{NodeId, OMNI_EPOCH_MS};

    const HOSTILE: &str = r#"<script>alert("x")</script>&'"><img src=x onerror=alert(1)>"#;

    fn id(n: u16) -> Id {
        Id::from_parts(OMNI_EPOCH_MS + 86_400_000 * 500, NodeId::new(1).unwrap(), n).unwrap()
    }

    fn hostile_user() -> User {
        User {
            id: id(1),
            username: "mallory".into(),
            display_name: HOSTILE.into(),
            bio: HOSTILE.into(),
        }
    }

    fn hostile_post() -> Post {
        Post {
            id: id(2),
            author: Author::from(&hostile_user()),
            title: HOSTILE.into(),
            description: HOSTILE.into(),
            markdown_url: format!("https://example.com/?q={HOSTILE}"),
            comment_count: 1,
            updated_at: id(2).unix_ms() + 1000,
        }
    }

    fn hostile_comment() -> Comment {
        Comment {
            id: id(3),
            post_id: id(2),
            author: Author::from(&hostile_user()),
            body: HOSTILE.into(),
            updated_at: id(3).unix_ms(),
        }
    }

    fn assert_no_raw_markup(html: &str) {
        assert!(!html.contains("<script"), "a script tag got through");
        assert!(!html.contains("<img src=x"), "an img tag got through");
        assert!(!html.contains(HOSTILE), "the text went out raw");
        assert!(
            html.contains("&lt;script&gt;"),
            "the text is not shown escaped"
        );
    }

    #[test]
    fn hostile_text_in_every_field_of_a_post_page_is_escaped() {
        let user = hostile_user();
        let viewer = Viewer {
            user: &user,
            csrf: "t",
        };
        let form = CommentForm {
            body: HOSTILE.into(),
            errors: FieldErrors::one("body", HOSTILE),
        };
        let html = post_page(
            Header::Full(Some(viewer)),
            &hostile_post(),
            &[hostile_comment()],
            &Pager::default(),
            &form,
        )
        .into_string();
        assert_no_raw_markup(&html);
        // In an attribute, a quote cannot end the attribute either.
        assert!(html.contains("q=&lt;script&gt;alert(&quot;x&quot;)"));
        // The header shows the viewer's name, escaped.
        assert_eq!(html.matches("<script").count(), 0);
    }

    #[test]
    fn hostile_text_on_home_and_a_profile_is_escaped() {
        let user = hostile_user();
        let viewer = Viewer {
            user: &user,
            csrf: "t",
        };
        let home = home(
            Header::Full(Some(viewer)),
            &[hostile_post()],
            &Pager::default(),
        );
        assert_no_raw_markup(&home.into_string());
        let profile = profile(
            Header::Full(None),
            &user,
            &[hostile_post()],
            &Pager::default(),
        );
        assert_no_raw_markup(&profile.into_string());
    }

    #[test]
    fn hostile_input_sent_back_in_forms_is_escaped() {
        let errors = FieldErrors::one("title", HOSTILE);
        let form = PostForm {
            title: HOSTILE.into(),
            description: HOSTILE.into(),
            markdown_url: HOSTILE.into(),
            errors,
        };
        let html = post_form(Header::Full(None), HOSTILE, None, &form).into_string();
        assert_no_raw_markup(&html);
        let signup_form = SignupForm {
            username: HOSTILE.into(),
            display_name: HOSTILE.into(),
            next: HOSTILE.into(),
            errors: FieldErrors::new(),
        };
        assert_no_raw_markup(&signup(Header::Full(None), "t", &signup_form).into_string());
    }

    #[test]
    fn only_http_and_https_write_ups_become_links() {
        let mut post = hostile_post();
        for url in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "//evil.example",
        ] {
            post.markdown_url = url.into();
            let html = post_page(
                Header::Full(None),
                &post,
                &[],
                &Pager::default(),
                &CommentForm::default(),
            )
            .into_string();
            assert!(!html.contains("href=\"javascript"), "{url}");
            assert!(!html.contains("Read the write-up"), "{url} became a link");
        }
        post.markdown_url = "HTTPS://example.com/readme.md".into();
        let html = post_page(
            Header::Full(None),
            &post,
            &[],
            &Pager::default(),
            &CommentForm::default(),
        )
        .into_string();
        assert!(html.contains(
            r#"<a class="writeup" href="HTTPS://example.com/readme.md" rel="noopener nofollow ugc">"#
        ));
    }

    #[test]
    fn only_the_author_sees_edit_and_delete_and_others_see_neither() {
        let author = hostile_user();
        let stranger = User {
            id: id(9),
            username: "eve".into(),
            display_name: String::new(),
            bio: String::new(),
        };
        let render = |viewer: Option<&User>| {
            post_page(
                Header::Full(viewer.map(|user| Viewer { user, csrf: "t" })),
                &hostile_post(),
                &[],
                &Pager::default(),
                &CommentForm::default(),
            )
            .into_string()
        };
        let as_author = render(Some(&author));
        assert!(as_author.contains(">Edit</a>"));
        assert!(as_author.contains(">Delete</button>"));
        for html in [render(Some(&stranger)), render(None)] {
            assert!(!html.contains(">Edit</a>"));
            assert!(!html.contains(">Delete</button>"));
        }
    }

    #[test]
    fn the_post_author_may_delete_any_comment_but_edit_none() {
        let post_author = hostile_user();
        let commenter = User {
            id: id(9),
            username: "eve".into(),
            display_name: String::new(),
            bio: String::new(),
        };
        let mut comment = hostile_comment();
        comment.author = Author::from(&commenter);
        let as_post_author = comment_item(
            &comment,
            &hostile_post(),
            Some(Viewer {
                user: &post_author,
                csrf: "t",
            }),
        )
        .into_string();
        assert!(as_post_author.contains(">Delete</button>"));
        assert!(!as_post_author.contains(">Edit</a>"));
        let as_commenter = comment_item(
            &comment,
            &hostile_post(),
            Some(Viewer {
                user: &commenter,
                csrf: "t",
            }),
        )
        .into_string();
        assert!(as_commenter.contains(">Delete</button>") && as_commenter.contains(">Edit</a>"));
    }

    #[test]
    fn every_page_has_exactly_one_h1() {
        let user = hostile_user();
        let pages = [
            home(Header::Full(None), &[hostile_post()], &Pager::default()),
            profile(
                Header::Full(None),
                &user,
                &[hostile_post()],
                &Pager::default(),
            ),
            post_page(
                Header::Full(None),
                &hostile_post(),
                &[hostile_comment()],
                &Pager::default(),
                &CommentForm::default(),
            ),
            login(Header::Full(None), "t", &LoginForm::default()),
            signup(Header::Full(None), "t", &SignupForm::default()),
            post_form(Header::Full(None), "t", None, &PostForm::default()),
            comment_form(
                Header::Full(None),
                "t",
                &hostile_comment(),
                &CommentForm::default(),
            ),
            profile_form(Header::Full(None), "t", &user, &ProfileForm::default()),
            error_page(404, ""),
            error_page(500, ""),
            error_page(503, ""),
        ];
        for page in pages {
            let html = page.into_string();
            assert_eq!(html.matches("<h1").count(), 1, "{html}");
        }
    }

    #[test]
    fn excerpts_cut_at_a_word_and_say_so() {
        assert_eq!(excerpt("short", 200), "short");
        assert_eq!(excerpt("one two three", 9), "one two…");
        assert_eq!(excerpt(&"é".repeat(300), 200).chars().count(), 201);
    }

    #[test]
    fn dates_read_as_day_month_year() {
        assert_eq!(human_date("2026-11-02T05:00:00.000Z"), "2 Nov 2026");
        assert_eq!(human_date("2025-01-31T00:00:00.000Z"), "31 Jan 2025");
    }

    #[test]
    fn a_login_link_encodes_where_to_return() {
        assert_eq!(login_href("/posts/7"), "/login?next=/posts/7");
        assert_eq!(
            login_href("/?before=5&x=\""),
            "/login?next=/%3Fbefore%3D5%26x%3D%22"
        );
    }
}
