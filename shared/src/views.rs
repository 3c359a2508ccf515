//! What the API sends: JSON representations, kept apart from row types so
//! that nothing stored (a password hash) leaks by accident.

use serde::Serialize;

use crate::auth::IssuedToken;
use crate::snowflake::Id;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake::{NodeId, OMNI_EPOCH_MS};

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
