//! Every page rendered with hostile data and for each kind of visitor:
//! nothing is ever spliced in raw, and each visitor sees the actions the
//! rules allow them.

use super::projects::comment_item;
use super::*;
use crate::error::FieldErrors;
use crate::snowflake::{Id, NodeId, OMNI_EPOCH_MS};
use crate::store::comments::Comment;
use crate::store::posts::{Author, Post};
use crate::store::users::User;
use crate::web::forms::{CommentForm, LoginForm, PostForm, ProfileForm, SignupForm};
use crate::web::paging::Pager;

const HOSTILE: &str = r#"<script>alert("x")</script>&'"><img src=x onerror=alert(1)>"#;

const ORIGIN: &str = "https://omni.example.org";

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
        key: HOSTILE.into(),
        errors: FieldErrors::one("body", HOSTILE),
    };
    let html = post_page(
        Header::Full(Some(viewer)),
        &hostile_post(),
        &[hostile_comment()],
        &Pager::default(),
        &form,
        Writeup::Note(HOSTILE),
        ORIGIN,
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
        ORIGIN,
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
        key: HOSTILE.into(),
        errors,
    };
    let html = post_form(Header::Full(None), HOSTILE, None, &form).into_string();
    assert_no_raw_markup(&html);
    let signup_form = SignupForm {
        username: HOSTILE.into(),
        display_name: HOSTILE.into(),
        next: HOSTILE.into(),
        key: HOSTILE.into(),
        errors: FieldErrors::new(),
    };
    assert_no_raw_markup(&signup(Header::Full(None), "t", &signup_form).into_string());
}

/// The page of `post`, without comments, as `viewer` sees it.
fn post_page_for(post: &Post, viewer: Option<&User>) -> String {
    post_page(
        Header::Full(viewer.map(|user| Viewer { user, csrf: "t" })),
        post,
        &[],
        &Pager::default(),
        &CommentForm::default(),
        Writeup::Note("No write-up."),
        ORIGIN,
    )
    .into_string()
}

/// A user other than the hostile one.
fn eve() -> User {
    User {
        id: id(9),
        username: "eve".into(),
        display_name: String::new(),
        bio: String::new(),
    }
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
        let html = post_page_for(&post, None);
        assert!(!html.contains("href=\"javascript"), "{url}");
        assert!(!html.contains("Read the write-up"), "{url} became a link");
    }
    post.markdown_url = "HTTPS://example.com/readme.md".into();
    let html = post_page_for(&post, None);
    assert!(html.contains(
        r#"<a class="writeup" href="HTTPS://example.com/readme.md" rel="noopener nofollow ugc">"#
    ));
}

#[test]
fn only_the_author_sees_edit_and_delete_and_others_see_neither() {
    let author = hostile_user();
    let stranger = eve();
    let render = |viewer: Option<&User>| post_page_for(&hostile_post(), viewer);
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
    let commenter = eve();
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
            ORIGIN,
        ),
        post_page(
            Header::Full(None),
            &hostile_post(),
            &[hostile_comment()],
            &Pager::default(),
            &CommentForm::default(),
            Writeup::Shown("<h2>Usage</h2>"),
            ORIGIN,
        ),
        search_page(Header::Full(None), HOSTILE, &Search::Prompt),
        search_page(Header::Full(None), HOSTILE, &Search::Invalid("is too long")),
        search_page(
            Header::Full(None),
            "engine",
            &Search::Results {
                posts: &[hostile_post()],
                total: 21,
                page: 2,
                pages: 3,
            },
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
fn project_and_profile_pages_carry_their_preview_escaped() {
    let html = post_page_for(&hostile_post(), None);
    let post = hostile_post();
    let canonical = format!("{ORIGIN}/posts/{}", post.id);
    for tag in [
        format!(r#"<link rel="canonical" href="{canonical}">"#),
        format!(r#"<meta property="og:url" content="{canonical}">"#),
        r#"<meta property="og:type" content="article">"#.to_owned(),
        r#"<meta name="twitter:card" content="summary">"#.to_owned(),
        format!(
            r#"<meta property="article:author" content="{ORIGIN}/users/{}">"#,
            post.author.id
        ),
    ] {
        assert!(html.contains(&tag), "{tag} missing");
    }
    assert!(
        html.contains(r#"<meta property="og:title" content="&lt;script&gt;alert(&quot;x&quot;)"#)
    );
    assert!(html.contains(r#"<meta name="author" content="&lt;script&gt;"#));
    assert_no_raw_markup(&html);

    let user = hostile_user();
    let profile = profile(Header::Full(None), &user, &[], &Pager::default(), ORIGIN).into_string();
    assert!(profile.contains(r#"<meta property="og:type" content="profile">"#));
    assert!(profile.contains(r#"<meta property="profile:username" content="mallory">"#));
    assert!(profile.contains(&format!(r#"href="/users/{}/feed.atom""#, user.id)));
}

#[test]
fn every_page_offers_the_site_feed_and_the_search_box() {
    for html in [
        home(Header::Full(None), &[], &Pager::default()).into_string(),
        error_page(404, "").into_string(),
        login(Header::Full(None), "t", &LoginForm::default()).into_string(),
    ] {
        assert!(html.contains(
            r#"<link rel="alternate" type="application/atom+xml" title="Omni: newest projects" href="/feed.atom">"#
        ));
        assert!(
            html.contains(r#"<form class="search" role="search" method="get" action="/search">"#)
        );
        assert!(html.contains(r#"name="q""#));
    }
}

#[test]
fn a_search_keeps_its_query_in_the_box_and_its_pages_links_escaped() {
    let html = search_page(
        Header::Full(None),
        "a&b \"c\"",
        &Search::Results {
            posts: &[],
            total: 30,
            page: 2,
            pages: 3,
        },
    )
    .into_string();
    assert!(html.contains(r#"value="a&amp;b &quot;c&quot;""#), "{html}");
    assert!(html.contains(r#"href="/search?q=a%26b+%22c%22""#), "{html}");
    assert!(
        html.contains(r#"href="/search?q=a%26b+%22c%22&amp;page=3""#),
        "{html}"
    );
    assert_no_raw_markup(&search_page(Header::Full(None), HOSTILE, &Search::Prompt).into_string());
}
