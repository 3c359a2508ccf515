//! The website's map: every page and form target, parsed from a path and
//! written back as one, so a link can never point at a page that does not
//! exist.

use crate::snowflake::Id;

/// The component family that serves a place. Each is one Spin component
/// (`functions/web-*`); `docs/website.md` says why the site is split this way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `web-projects`: Home, projects and their comments.
    Projects,
    /// `web-people`: profiles.
    People,
    /// `web-account`: signing up, logging in and out, and your account.
    Account,
    /// `web-discovery`: search, feeds, the sitemap and robots.txt.
    Discovery,
}

/// A page or form target of the website.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// `/`: the newest projects.
    Home,
    /// `/new`: the form for a new project.
    NewPost,
    /// `/posts/{id}`: a project with its comments.
    Post(Id),
    /// `/posts/{id}/edit`.
    EditPost(Id),
    /// `/posts/{id}/delete` (POST only).
    DeletePost(Id),
    /// `/posts/{id}/comments` (POST only): a new comment.
    PostComments(Id),
    /// `/comments/{id}/edit`.
    EditComment(Id),
    /// `/comments/{id}/delete` (POST only).
    DeleteComment(Id),
    /// `/users/{id}`: a profile with its projects.
    User(Id),
    /// `/profile/edit`: the logged-in user's profile form.
    EditProfile,
    /// `/signup`.
    Signup,
    /// `/login`.
    Login,
    /// `/logout` (POST only).
    Logout,
    /// `/account`: what you can do with your account.
    Account,
    /// `/account/password`: the change-password form.
    ChangePassword,
    /// `/account/export` (GET only): your data, as a download.
    Export,
    /// `/account/delete`: the delete-account form.
    DeleteAccount,
    /// `/account/logout-everywhere` (POST only): ends every session.
    LogoutEverywhere,
    /// `/search?q=…`: projects matching a query.
    Search,
    /// `/feed.atom`: the newest projects, as an Atom feed.
    Feed,
    /// `/users/{id}/feed.atom`: one person's newest projects.
    UserFeed(Id),
    /// `/sitemap.xml`: every page, or an index of the sitemaps below once
    /// there are too many for one.
    Sitemap,
    /// `/sitemaps/posts.xml?after=<id>`: a part of the sitemap index.
    SitemapPosts,
    /// `/sitemaps/users.xml?after=<id>`: a part of the sitemap index.
    SitemapUsers,
    /// `/robots.txt`.
    Robots,
}

impl Place {
    /// The place at `path`, if any. One trailing slash is ignored, as
    /// Spin's router ignores it; an id that is not a decimal id is no place.
    pub fn parse(path: &str) -> Option<Place> {
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() && trimmed != "/" => trimmed,
            _ => path,
        };
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let id = |text: &str| text.parse::<Id>().ok();
        Some(match segments.as_slice() {
            [""] => Place::Home,
            ["new"] => Place::NewPost,
            ["posts", post] => Place::Post(id(post)?),
            ["posts", post, "edit"] => Place::EditPost(id(post)?),
            ["posts", post, "delete"] => Place::DeletePost(id(post)?),
            ["posts", post, "comments"] => Place::PostComments(id(post)?),
            ["comments", comment, "edit"] => Place::EditComment(id(comment)?),
            ["comments", comment, "delete"] => Place::DeleteComment(id(comment)?),
            ["users", user] => Place::User(id(user)?),
            ["users", user, "feed.atom"] => Place::UserFeed(id(user)?),
            ["search"] => Place::Search,
            ["feed.atom"] => Place::Feed,
            ["sitemap.xml"] => Place::Sitemap,
            ["sitemaps", "posts.xml"] => Place::SitemapPosts,
            ["sitemaps", "users.xml"] => Place::SitemapUsers,
            ["robots.txt"] => Place::Robots,
            ["profile", "edit"] => Place::EditProfile,
            ["signup"] => Place::Signup,
            ["login"] => Place::Login,
            ["logout"] => Place::Logout,
            ["account"] => Place::Account,
            ["account", "password"] => Place::ChangePassword,
            ["account", "export"] => Place::Export,
            ["account", "delete"] => Place::DeleteAccount,
            ["account", "logout-everywhere"] => Place::LogoutEverywhere,
            _ => return None,
        })
    }

    /// The path of this place.
    pub fn href(self) -> String {
        match self {
            Place::Home => "/".into(),
            Place::NewPost => "/new".into(),
            Place::Post(id) => format!("/posts/{id}"),
            Place::EditPost(id) => format!("/posts/{id}/edit"),
            Place::DeletePost(id) => format!("/posts/{id}/delete"),
            Place::PostComments(id) => format!("/posts/{id}/comments"),
            Place::EditComment(id) => format!("/comments/{id}/edit"),
            Place::DeleteComment(id) => format!("/comments/{id}/delete"),
            Place::User(id) => format!("/users/{id}"),
            Place::EditProfile => "/profile/edit".into(),
            Place::Signup => "/signup".into(),
            Place::Login => "/login".into(),
            Place::Logout => "/logout".into(),
            Place::Account => "/account".into(),
            Place::ChangePassword => "/account/password".into(),
            Place::Export => "/account/export".into(),
            Place::DeleteAccount => "/account/delete".into(),
            Place::LogoutEverywhere => "/account/logout-everywhere".into(),
            Place::Search => "/search".into(),
            Place::Feed => "/feed.atom".into(),
            Place::UserFeed(id) => format!("/users/{id}/feed.atom"),
            Place::Sitemap => "/sitemap.xml".into(),
            Place::SitemapPosts => "/sitemaps/posts.xml".into(),
            Place::SitemapUsers => "/sitemaps/users.xml".into(),
            Place::Robots => "/robots.txt".into(),
        }
    }

    /// The component family that serves this place.
    pub fn section(self) -> Section {
        match self {
            Place::Home
            | Place::NewPost
            | Place::Post(_)
            | Place::EditPost(_)
            | Place::DeletePost(_)
            | Place::PostComments(_)
            | Place::EditComment(_)
            | Place::DeleteComment(_) => Section::Projects,
            Place::User(_) | Place::EditProfile => Section::People,
            Place::Signup
            | Place::Login
            | Place::Logout
            | Place::Account
            | Place::ChangePassword
            | Place::Export
            | Place::DeleteAccount
            | Place::LogoutEverywhere => Section::Account,
            Place::Search
            | Place::Feed
            | Place::UserFeed(_)
            | Place::Sitemap
            | Place::SitemapPosts
            | Place::SitemapUsers
            | Place::Robots => Section::Discovery,
        }
    }

    /// The methods this place answers, for a 405's `Allow`.
    pub fn allow(self) -> &'static str {
        match self {
            Place::Home
            | Place::Post(_)
            | Place::User(_)
            | Place::Account
            | Place::Export
            | Place::Search
            | Place::Feed
            | Place::UserFeed(_)
            | Place::Sitemap
            | Place::SitemapPosts
            | Place::SitemapUsers
            | Place::Robots => "GET",
            Place::DeletePost(_)
            | Place::PostComments(_)
            | Place::DeleteComment(_)
            | Place::Logout
            | Place::LogoutEverywhere => "POST",
            Place::NewPost
            | Place::EditPost(_)
            | Place::EditComment(_)
            | Place::EditProfile
            | Place::Signup
            | Place::Login
            | Place::ChangePassword
            | Place::DeleteAccount => "GET, POST",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::testing::id;

    #[test]
    fn every_place_parses_back_from_its_own_href() {
        let places = [
            Place::Home,
            Place::NewPost,
            Place::Post(id(7)),
            Place::EditPost(id(7)),
            Place::DeletePost(id(7)),
            Place::PostComments(id(7)),
            Place::EditComment(id(8)),
            Place::DeleteComment(id(8)),
            Place::User(id(9)),
            Place::EditProfile,
            Place::Signup,
            Place::Login,
            Place::Logout,
            Place::Account,
            Place::ChangePassword,
            Place::Export,
            Place::DeleteAccount,
            Place::LogoutEverywhere,
            Place::Search,
            Place::Feed,
            Place::UserFeed(id(9)),
            Place::Sitemap,
            Place::SitemapPosts,
            Place::SitemapUsers,
            Place::Robots,
        ];
        for place in places {
            assert_eq!(Place::parse(&place.href()), Some(place), "{place:?}");
        }
    }

    #[test]
    fn one_trailing_slash_is_ignored() {
        assert_eq!(Place::parse("/posts/7/"), Some(Place::Post(id(7))));
        assert_eq!(Place::parse("/login/"), Some(Place::Login));
        assert_eq!(Place::parse("/"), Some(Place::Home));
    }

    #[test]
    fn unknown_paths_and_malformed_ids_are_no_place() {
        for path in [
            "",
            "//",
            "/posts",
            "/posts/abc",
            "/posts/-1",
            "/posts/+7",
            "/posts/7/x",
            "/posts/99999999999999999999",
            "/users/7/posts",
            "/users/x/feed.atom",
            "/feed.xml",
            "/sitemaps/comments.xml",
            "/profile",
            "/account/x",
            "/api/posts",
            "/static/style.css",
            "posts/7",
        ] {
            assert_eq!(Place::parse(path), None, "{path}");
        }
    }
}
