//! Home, a project with its comments, and the project and comment forms.

use maud::{Markup, PreEscaped, html};

use crate::actions;
use crate::model::{CommentBody, Description, MarkdownUrl, Title};
use crate::snowflake::Id;
use crate::store::comments::Comment;
use crate::store::posts::Post;
use crate::web::forms::{CommentForm, PostForm};
use crate::web::paging::Pager;
use crate::web::place::Place;

use super::fields::{Field, Input, form_alert, form_page, key_field};
use super::layout::{
    Head, Header, Preview, Viewer, author_link, count, csrf_field, date, excerpt, http_href,
    login_href, name_of, page, page_with, pager,
};

/// The list of projects on Home and on a profile; `heading` is the level of
/// each project's title (h2 on Home, h3 under a profile's "Projects").
pub(super) fn post_list(posts: &[Post], heading: u8) -> Markup {
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
            p.feed { a href=(Place::Feed.href()) type="application/atom+xml" { "Atom feed of the latest projects" } }
        },
    )
}

/// What a project page shows of its write-up.
#[derive(Clone, Copy, Debug)]
pub enum Writeup<'a> {
    /// The write-up, rendered and sanitised by `markdown`: the one piece
    /// of HTML any page takes as it is.
    Shown(&'a str),
    /// Why it is not shown; the link to it is there either way.
    Note(&'a str),
}

/// A project with its comments. `comment_form` is the form as the viewer
/// left it (empty, or sent back with errors); `origin` is the site's, for
/// the page's preview.
pub fn post_page(
    header: Header<'_>,
    post: &Post,
    comments: &[Comment],
    pages: &Pager,
    comment_form: &CommentForm,
    writeup: Writeup<'_>,
    origin: &str,
) -> Markup {
    let viewer = match header {
        Header::Full(viewer) => viewer,
        Header::Minimal => None,
    };
    let is_author = viewer.is_some_and(|v| actions::posts::may_change(v.user.id, post));
    let author = name_of(&post.author.display_name, &post.author.username);
    let description = if post.description.trim().is_empty() {
        format!("A project by {author} on Omni.")
    } else {
        excerpt(&post.description, 200)
    };
    let head = Head {
        preview: Some(Preview {
            canonical: format!("{origin}{}", Place::Post(post.id).href()),
            kind: "article",
            title: &post.title,
            description,
            author: Some((
                author,
                format!("{origin}{}", Place::User(post.author.id).href()),
            )),
            username: None,
        }),
        ..Head::default()
    };
    page_with(
        &post.title,
        header,
        &head,
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
            // Outside the article, whose own links (Edit) the author's
            // write-up must not stand beside.
            @match writeup {
                Writeup::Shown(html) => section.rendered aria-label="Write-up" { (PreEscaped(html)) },
                Writeup::Note(note) => p.note { (note) },
            }
            section aria-labelledby="comments" {
                h2 #comments { "Comments (" (post.comment_count) ")" }
                @if let Some(viewer) = viewer {
                    form.stack method="post" action=(Place::PostComments(post.id).href()) {
                        (csrf_field(viewer.csrf))
                        (key_field(&comment_form.key))
                        (Field::new("Comment", "body", &comment_form.body, &comment_form.errors).max(CommentBody::MAX_CHARS).textarea())
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

pub(super) fn comment_item(comment: &Comment, post: &Post, viewer: Option<Viewer<'_>>) -> Markup {
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

/// The form for a new project (`editing` None) or an edit of one.
pub fn post_form(header: Header<'_>, csrf: &str, editing: Option<Id>, form: &PostForm) -> Markup {
    let (title, action, button) = match editing {
        None => ("New project", Place::NewPost, "Publish"),
        Some(id) => ("Edit project", Place::EditPost(id), "Save"),
    };
    let fields = html! {
        (key_field(&form.key))
        (Field::new("Title", "title", &form.title, &form.errors).max(Title::MAX_CHARS)
            .input(Input::Text, "off", true))
        (Field::new("Description", "description", &form.description, &form.errors)
            .hint("Optional: what it is and why you built it.").max(Description::MAX_CHARS)
            .textarea())
        (Field::new("Write-up URL", "markdown_url", &form.markdown_url, &form.errors)
            .hint("An http or https link to the project's markdown write-up.").max(MarkdownUrl::MAX_CHARS)
            .input(Input::Url, "url", true))
        div.actions {
            button type="submit" { (button) }
            @if let Some(id) = editing { a href=(Place::Post(id).href()) { "Cancel" } }
        }
    };
    let alert = form_alert(&form.errors, None);
    form_page(title, header, alert, action, csrf, fields, html! {})
}

/// The form for editing a comment.
pub fn comment_form(
    header: Header<'_>,
    csrf: &str,
    comment: &Comment,
    form: &CommentForm,
) -> Markup {
    let fields = html! {
        (Field::new("Comment", "body", &form.body, &form.errors).max(CommentBody::MAX_CHARS).textarea())
        div.actions {
            button type="submit" { "Save" }
            a href=(format!("{}#comment-{}", Place::Post(comment.post_id).href(), comment.id)) { "Cancel" }
        }
    };
    let (alert, action) = (
        form_alert(&form.errors, None),
        Place::EditComment(comment.id),
    );
    form_page(
        "Edit comment",
        header,
        alert,
        action,
        csrf,
        fields,
        html! {},
    )
}
