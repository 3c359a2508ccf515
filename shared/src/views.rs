//! What the API sends: JSON representations, kept apart from row types so
//! that nothing stored (a password hash) leaks by accident.

use serde::Serialize;

use crate::auth::IssuedToken;
use crate::paging::{PAGE_SIZE, Page, Slice};
use crate::snowflake::Id;
use crate::store::comments::Comment;
use crate::store::posts::{Author, Post};
use crate::store::users::User;
use crate::time::rfc3339_ms;

/// A user's public profile.
#[derive(Debug, Serialize)]
pub struct UserView {
    id: Id,
    username: String,
    display_name: String,
    bio: String,
    created_at: String,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            created_at: rfc3339_ms(user.id.unix_ms()),
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            bio: user.bio,
        }
    }
}

/// The answer to a successful login.
#[derive(Debug, Serialize)]
pub struct LoginView {
    token: String,
    token_type: &'static str,
    expires_at: String,
    user: UserView,
}

impl LoginView {
    /// A login answer for `user` with `issued`.
    pub fn new(issued: IssuedToken, user: User) -> Self {
        Self {
            token: issued.token,
            token_type: "Bearer",
            expires_at: rfc3339_ms(issued.expires_at * 1000),
            user: user.into(),
        }
    }
}

/// Everything an account holds, as `GET /api/me/export` sends it and the
/// website's download saves it.
#[derive(Debug, Serialize)]
pub struct ExportView {
    user: UserView,
    posts: Vec<PostView>,
    comments: Vec<CommentView>,
}

impl ExportView {
    /// The export of `user`, with all their `posts` and `comments`.
    pub fn new(user: User, posts: Vec<Post>, comments: Vec<Comment>) -> Self {
        Self {
            user: user.into(),
            posts: posts.into_iter().map(PostView::from).collect(),
            comments: comments.into_iter().map(CommentView::from).collect(),
        }
    }
}

/// A post's or comment's author.
#[derive(Debug, Serialize)]
pub struct AuthorView {
    id: Id,
    username: String,
    display_name: String,
}

impl From<Author> for AuthorView {
    fn from(author: Author) -> Self {
        Self {
            id: author.id,
            username: author.username,
            display_name: author.display_name,
        }
    }
}

/// A post.
#[derive(Debug, Serialize)]
pub struct PostView {
    id: Id,
    author: AuthorView,
    title: String,
    description: String,
    markdown_url: String,
    comment_count: i64,
    created_at: String,
    updated_at: String,
}

impl From<Post> for PostView {
    fn from(post: Post) -> Self {
        Self {
            id: post.id,
            author: post.author.into(),
            title: post.title,
            description: post.description,
            markdown_url: post.markdown_url,
            comment_count: post.comment_count,
            created_at: rfc3339_ms(post.id.unix_ms()),
            updated_at: rfc3339_ms(post.updated_at),
        }
    }
}

/// A comment.
#[derive(Debug, Serialize)]
pub struct CommentView {
    id: Id,
    post_id: Id,
    author: AuthorView,
    body: String,
    created_at: String,
    updated_at: String,
}

impl From<Comment> for CommentView {
    fn from(comment: Comment) -> Self {
        Self {
            id: comment.id,
            post_id: comment.post_id,
            author: comment.author.into(),
            body: comment.body,
            created_at: rfc3339_ms(comment.id.unix_ms()),
            updated_at: rfc3339_ms(comment.updated_at),
        }
    }
}

/// A post's write-up, rendered.
#[derive(Debug, Serialize)]
pub struct WriteupView {
    post_id: Id,
    source_url: String,
    html: String,
    fetched_at: String,
}

impl WriteupView {
    /// Post `post_id`'s write-up: `html` fetched from `source_url` at
    /// `fetched_at` (Unix ms).
    pub fn new(post_id: Id, source_url: String, html: String, fetched_at: i64) -> Self {
        Self {
            post_id,
            source_url,
            html,
            fetched_at: rfc3339_ms(fetched_at),
        }
    }
}

/// Page `page` of a listing whose owner exists.
pub fn page<T, V: From<T>>(total: i64, items: Vec<T>, page: u32) -> Page<V> {
    Page::new(items.into_iter().map(V::from).collect(), page, total)
}

/// A keyset slice from up to a page and one more items, newest first: the
/// extra item, if present, only tells that another slice follows.
pub fn slice<T, V: From<T>>(mut items: Vec<T>, id: impl Fn(&T) -> Id) -> Slice<V> {
    let more = items.len() > PAGE_SIZE as usize;
    items.truncate(PAGE_SIZE as usize);
    let next_before = if more { items.last().map(id) } else { None };
    Slice {
        items: items.into_iter().map(V::from).collect(),
        next_before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::{NodeId, OMNI_EPOCH_MS, testing};

    fn user() -> User {
        User {
            id: Id::from_parts(OMNI_EPOCH_MS + 1234, NodeId::new(1).unwrap(), 2).unwrap(),
            username: "ada".into(),
            display_name: "Ada".into(),
            bio: String::new(),
        }
    }

    #[test]
    fn a_user_renders_with_a_string_id_and_its_creation_time() {
        let json = serde_json::to_value(UserView::from(user())).unwrap();
        assert_eq!(json["id"], user().id.to_string());
        assert_eq!(json["created_at"], "2025-01-01T00:00:01.234Z");
        assert_eq!(
            json.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["bio", "created_at", "display_name", "id", "username"]
        );
    }

    #[test]
    fn a_slice_of_eleven_says_where_the_next_starts() {
        let ids: Vec<Id> = (1..=11).rev().map(testing::id).collect();
        let full: Slice<Id> = slice(ids.clone(), |id| *id);
        assert_eq!(full.items.len(), 10);
        assert_eq!(full.next_before, Some(Id::from_i64(2).unwrap()));
        let last: Slice<Id> = slice(ids[..10].to_vec(), |id| *id);
        assert_eq!(last.items.len(), 10);
        assert_eq!(last.next_before, None);
        let empty: Slice<Id> = slice(Vec::new(), |id| *id);
        assert!(empty.items.is_empty() && empty.next_before.is_none());
    }

    #[test]
    fn a_login_answer_is_a_bearer_token_with_its_expiry_and_user() {
        let issued = IssuedToken {
            token: "t".into(),
            expires_at: 1_735_776_000,
        };
        let json = serde_json::to_value(LoginView::new(issued, user())).unwrap();
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["expires_at"], "2025-01-02T00:00:00.000Z");
        assert_eq!(json["user"]["username"], "ada");
    }
}
