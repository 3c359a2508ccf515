//! HTML forms: reading an `application/x-www-form-urlencoded` body, and
//! validating its fields with the API's own domain types, so that the
//! website refuses exactly what the API refuses and says so next to each
//! field, with the visitor's input kept.

use crate::actions::accounts::Signup;
use crate::error::{Error, FieldErrors};
use crate::http::Request;
use crate::http::request::percent_decode;
use crate::model::{
    Bio, CommentBody, Description, DisplayName, IdempotencyKey, MarkdownUrl, Password, Title,
    Username,
};
use crate::store::comments::Comment;
use crate::store::posts::{NewPost, Post};
use crate::store::users::User;

/// The hidden field that carries the CSRF token in every form.
pub const CSRF_FIELD: &str = "csrf";

/// The hidden field that names one filling-in of a form that creates
/// something (a project, a comment, an account), used like the API's
/// `Idempotency-Key`: a form sent twice (a double click, a resend after a
/// timeout or a 503) creates one thing.
pub const KEY_FIELD: &str = "idempotency_key";

/// A fresh key for [`KEY_FIELD`]: 128 random bits, in hex.
pub fn fresh_key() -> Result<String, Error> {
    let mut key = [0u8; 16];
    getrandom::fill(&mut key)
        .map_err(|e| Error::internal(anyhow::anyhow!("no randomness for a form key: {e}")))?;
    Ok(crate::hex::encode(&key))
}

/// The form's key, if it sent a valid one. A missing or malformed key
/// (an old page, a hand-made POST) only means the create is not
/// deduplicated.
pub fn idempotency_key(form: &Form) -> Option<IdempotencyKey> {
    IdempotencyKey::parse(form.text(KEY_FIELD)).ok()
}

/// A submitted form's fields, decoded.
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Reads the body of a form POST: 415 unless it is urlencoded (the only
    /// encoding Omni's forms use).
    pub fn read(request: &Request) -> Result<Self, Error> {
        let urlencoded = request.header("content-type").is_some_and(|value| {
            value.split(';').next().is_some_and(|media| {
                media
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if !urlencoded {
            return Err(Error::UnsupportedMediaType);
        }
        let body = String::from_utf8_lossy(request.body());
        Ok(Self::parse(&body))
    }

    /// Decodes `name=value&…`. Browsers send a textarea's line breaks as
    /// CRLF; they become LF, so that a line break counts as one character,
    /// as it did in the textarea.
    pub fn parse(body: &str) -> Self {
        let fields = body
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    percent_decode(name),
                    percent_decode(value).replace("\r\n", "\n"),
                )
            })
            .collect();
        Self { fields }
    }

    /// The first value of field `name`, or "" if it was not sent.
    pub fn text(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A check of this form's fields, collecting what is wrong with them.
    fn check(&self) -> Check<'_> {
        Check {
            form: self,
            errors: FieldErrors::new(),
        }
    }
}

/// The fields of a form being checked, and what is wrong with them: one
/// message per field, a sentence that names the field by its label.
struct Check<'f> {
    form: &'f Form,
    errors: FieldErrors,
}

impl Check<'_> {
    /// Field `name` parsed with `parse` (a domain type's own parser). On
    /// failure, records "<label> <what is wrong>." for `name` and returns
    /// `None`.
    fn field<T>(
        &mut self,
        name: &str,
        label: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(self.form.text(name)) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.errors.add(name, format!("{label} {message}."));
                None
            }
        }
    }
}

/// The sign-up form as typed. The password is never sent back to the page.
#[derive(Debug, Default)]
pub struct SignupForm {
    /// As typed.
    pub username: String,
    /// As typed.
    pub display_name: String,
    /// Where to go afterwards.
    pub next: String,
    /// Its idempotency key.
    pub key: String,
    /// What is wrong with it.
    pub errors: FieldErrors,
}

impl SignupForm {
    /// An empty form with a fresh key, returning to `next` afterwards.
    pub fn fresh(next: String) -> Result<Self, Error> {
        Ok(Self {
            next,
            key: fresh_key()?,
            ..Self::default()
        })
    }

    /// Validates a submitted sign-up form: the valid sign-up, or the form
    /// back with its errors.
    pub fn validate(form: &Form) -> Result<Signup, SignupForm> {
        let mut check = form.check();
        let username = check.field("username", "Username", Username::parse);
        let password = check.field("password", "Password", Password::parse);
        let display_name = check.field("display_name", "Display name", DisplayName::parse);
        match (username, password, display_name) {
            (Some(username), Some(password), Some(display_name)) => Ok(Signup {
                username,
                password,
                display_name,
            }),
            _ => Err(SignupForm {
                username: form.text("username").to_owned(),
                display_name: form.text("display_name").to_owned(),
                next: form.text("next").to_owned(),
                key: form.text(KEY_FIELD).to_owned(),
                errors: check.errors,
            }),
        }
    }
}

/// The login form as typed (without the password).
#[derive(Debug, Default)]
pub struct LoginForm {
    /// As typed.
    pub username: String,
    /// Where to go afterwards.
    pub next: String,
    /// What is wrong with the fields.
    pub errors: FieldErrors,
    /// What is wrong with the whole form: a wrong username or password.
    pub problem: Option<String>,
}

impl LoginForm {
    /// The username and password, if both were given; the form back with
    /// its errors otherwise. Like the API, login only requires both.
    pub fn validate(form: &Form) -> Result<(String, String), LoginForm> {
        let mut check = form.check();
        let username = check.field("username", "Username", required);
        let password = check.field("password", "Password", required);
        match (username, password) {
            (Some(username), Some(password)) => Ok((username, password)),
            _ => Err(LoginForm {
                username: form.text("username").to_owned(),
                next: form.text("next").to_owned(),
                errors: check.errors,
                problem: None,
            }),
        }
    }
}

/// A project's form as typed: new or edited.
#[derive(Debug, Default)]
pub struct PostForm {
    /// As typed.
    pub title: String,
    /// As typed.
    pub description: String,
    /// As typed.
    pub markdown_url: String,
    /// Its idempotency key (a new project's form only).
    pub key: String,
    /// What is wrong with it.
    pub errors: FieldErrors,
}

impl PostForm {
    /// An empty form for a new project, with a fresh key.
    pub fn fresh() -> Result<Self, Error> {
        Ok(Self {
            key: fresh_key()?,
            ..Self::default()
        })
    }

    /// The form filled in with `post`, for editing it.
    pub fn from_post(post: &Post) -> Self {
        Self {
            title: post.title.clone(),
            description: post.description.clone(),
            markdown_url: post.markdown_url.clone(),
            key: String::new(),
            errors: FieldErrors::new(),
        }
    }

    /// Validates a submitted project form: the new project, or the form
    /// back with its errors. All three fields are always sent, so the same
    /// result serves an edit.
    pub fn validate(form: &Form) -> Result<NewPost, PostForm> {
        let mut check = form.check();
        let title = check.field("title", "Title", Title::parse);
        let description = check.field("description", "Description", Description::parse);
        let markdown_url = check.field("markdown_url", "Write-up URL", MarkdownUrl::parse);
        match (title, description, markdown_url) {
            (Some(title), Some(description), Some(markdown_url)) => Ok(NewPost {
                title,
                description,
                markdown_url,
            }),
            _ => Err(PostForm {
                title: form.text("title").to_owned(),
                description: form.text("description").to_owned(),
                markdown_url: form.text("markdown_url").to_owned(),
                key: form.text(KEY_FIELD).to_owned(),
                errors: check.errors,
            }),
        }
    }
}

/// A comment's form as typed: new or edited.
#[derive(Debug, Default)]
pub struct CommentForm {
    /// As typed.
    pub body: String,
    /// Its idempotency key (a new comment's form only).
    pub key: String,
    /// What is wrong with it.
    pub errors: FieldErrors,
}

impl CommentForm {
    /// An empty form for a new comment, with a fresh key.
    pub fn fresh() -> Result<Self, Error> {
        Ok(Self {
            key: fresh_key()?,
            ..Self::default()
        })
    }

    /// The form filled in with `comment`, for editing it.
    pub fn from_comment(comment: &Comment) -> Self {
        Self {
            body: comment.body.clone(),
            key: String::new(),
            errors: FieldErrors::new(),
        }
    }

    /// Validates a submitted comment form.
    pub fn validate(form: &Form) -> Result<CommentBody, CommentForm> {
        let mut check = form.check();
        check
            .field("body", "Comment", CommentBody::parse)
            .ok_or_else(|| CommentForm {
                body: form.text("body").to_owned(),
                key: form.text(KEY_FIELD).to_owned(),
                errors: check.errors,
            })
    }
}

/// The profile form as typed.
#[derive(Debug, Default)]
pub struct ProfileForm {
    /// As typed.
    pub display_name: String,
    /// As typed.
    pub bio: String,
    /// What is wrong with it.
    pub errors: FieldErrors,
}

impl ProfileForm {
    /// The form filled in with `user`'s profile.
    pub fn from_user(user: &User) -> Self {
        Self {
            display_name: user.display_name.clone(),
            bio: user.bio.clone(),
            errors: FieldErrors::new(),
        }
    }

    /// Validates a submitted profile form.
    pub fn validate(form: &Form) -> Result<(DisplayName, Bio), ProfileForm> {
        let mut check = form.check();
        let display_name = check.field("display_name", "Display name", DisplayName::parse);
        let bio = check.field("bio", "Bio", Bio::parse);
        match (display_name, bio) {
            (Some(display_name), Some(bio)) => Ok((display_name, bio)),
            _ => Err(ProfileForm {
                display_name: form.text("display_name").to_owned(),
                bio: form.text("bio").to_owned(),
                errors: check.errors,
            }),
        }
    }
}

/// The change-password form as typed: only what is wrong, since no
/// password is ever sent back to the page.
#[derive(Debug, Default)]
pub struct PasswordForm {
    /// What is wrong with the fields.
    pub errors: FieldErrors,
    /// What is wrong with the whole form (a wrong current password).
    pub problem: Option<String>,
}

impl PasswordForm {
    /// The current password (only required: it is compared, not parsed)
    /// and the new one (held to the password rules), or the form back with
    /// its errors.
    pub fn validate(form: &Form) -> Result<(String, Password), PasswordForm> {
        let mut check = form.check();
        let current = check.field("current_password", "Current password", required);
        let new = check.field("new_password", "New password", Password::parse);
        match (current, new) {
            (Some(current), Some(new)) => Ok((current, new)),
            _ => Err(PasswordForm {
                errors: check.errors,
                problem: None,
            }),
        }
    }
}

/// The delete-account form: its password, which is only required.
#[derive(Debug, Default)]
pub struct DeleteAccountForm {
    /// What is wrong with the field.
    pub errors: FieldErrors,
    /// What is wrong with the whole form (a wrong password).
    pub problem: Option<String>,
}

impl DeleteAccountForm {
    /// The password, or the form back saying it is required.
    pub fn validate(form: &Form) -> Result<String, DeleteAccountForm> {
        let mut check = form.check();
        let password = check.field("password", "Password", required);
        password.ok_or(DeleteAccountForm {
            errors: check.errors,
            problem: None,
        })
    }
}

/// A field that must not be empty, kept as typed.
fn required(text: &str) -> Result<String, String> {
    match text {
        "" => Err("is required".to_owned()),
        text => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_body_decodes_plus_percent_and_crlf() {
        let form = Form::parse("title=Caf%C3%A9+%26+co&body=line+1%0D%0Aline+2&empty=&flag");
        assert_eq!(form.text("title"), "Café & co");
        assert_eq!(form.text("body"), "line 1\nline 2");
        assert_eq!(form.text("empty"), "");
        assert_eq!(form.text("flag"), "");
        assert_eq!(form.text("missing"), "");
    }

    #[test]
    fn the_first_of_repeated_fields_counts() {
        assert_eq!(Form::parse("a=1&a=2").text("a"), "1");
    }

    #[test]
    fn a_post_form_reports_every_bad_field_by_its_label_and_keeps_the_input() {
        let form = Form::parse("title=+++&description=ok&markdown_url=javascript%3Aalert(1)");
        let back = PostForm::validate(&form).unwrap_err();
        assert_eq!(
            back.errors["title"],
            ["Title must contain visible characters."]
        );
        assert_eq!(
            back.errors["markdown_url"],
            ["Write-up URL must be an absolute http or https URL."]
        );
        assert!(!back.errors.contains("description"));
        assert_eq!(back.title, "   ");
        assert_eq!(back.markdown_url, "javascript:alert(1)");
    }

    #[test]
    fn a_valid_post_form_becomes_a_new_post() {
        let form =
            Form::parse("title=Engine&description=&markdown_url=https%3A%2F%2Fa.example%2Fr.md");
        let post = PostForm::validate(&form).unwrap();
        assert_eq!(post.title.as_str(), "Engine");
        assert_eq!(post.markdown_url.as_str(), "https://a.example/r.md");
    }

    #[test]
    fn the_limits_are_the_apis() {
        let long_title = format!("title={}&markdown_url=https%3A%2F%2Fa.b", "t".repeat(201));
        assert!(
            PostForm::validate(&Form::parse(&long_title))
                .unwrap_err()
                .errors["title"][0]
                .contains("at most 200")
        );
        let long_bio = format!("display_name=&bio={}", "b".repeat(501));
        assert!(
            ProfileForm::validate(&Form::parse(&long_bio))
                .unwrap_err()
                .errors["bio"][0]
                .starts_with("Bio must be at most 500")
        );
        // 5000 characters with line breaks fit, counted as the textarea does.
        let body = format!("body={}", "ab%0D%0A".repeat(1666));
        assert!(CommentForm::validate(&Form::parse(&body)).is_ok());
    }

    #[test]
    fn a_signup_form_never_keeps_the_password() {
        let back = SignupForm::validate(&Form::parse(
            "username=a+b&password=short&display_name=Ada&next=%2Fnew",
        ))
        .unwrap_err();
        assert_eq!(back.username, "a b");
        assert_eq!(back.display_name, "Ada");
        assert_eq!(back.next, "/new");
        assert!(back.errors["username"][0].starts_with("Username may contain only"));
        assert_eq!(
            back.errors["password"],
            ["Password must be at least 8 bytes."]
        );
        assert!(!format!("{back:?}").contains("short"));
    }

    #[test]
    fn login_requires_both_fields_and_nothing_else() {
        let back = LoginForm::validate(&Form::parse("username=&password=")).unwrap_err();
        assert_eq!(back.errors.len(), 2);
        assert_eq!(
            LoginForm::validate(&Form::parse("username=x&password=y")).unwrap(),
            ("x".to_owned(), "y".to_owned())
        );
    }

    fn post(path: &str, content_type: &str, body: &str) -> Request {
        Request::for_test(
            http::Method::POST,
            path,
            &[("content-type", content_type)],
            body,
        )
    }

    #[test]
    fn a_form_key_is_read_only_when_it_is_a_valid_key() {
        assert_eq!(
            idempotency_key(&Form::parse("idempotency_key=0a1b2c")).map(|k| k.as_str().to_owned()),
            Some("0a1b2c".to_owned())
        );
        assert_eq!(idempotency_key(&Form::parse("title=x")), None);
        assert_eq!(idempotency_key(&Form::parse("idempotency_key=a+b")), None);
        assert_eq!(fresh_key().unwrap().len(), 32);
        assert_ne!(fresh_key().unwrap(), fresh_key().unwrap());
    }

    #[test]
    fn a_new_password_is_held_to_the_rules_and_the_current_one_only_required() {
        let back = PasswordForm::validate(&Form::parse("current_password=&new_password=password"))
            .unwrap_err();
        assert_eq!(
            back.errors["current_password"],
            ["Current password is required."]
        );
        assert!(
            back.errors["new_password"][0].starts_with("New password is one of the most common")
        );
        let (current, new) = PasswordForm::validate(&Form::parse(
            "current_password=x&new_password=analytical+engine",
        ))
        .unwrap();
        assert_eq!(current, "x");
        assert_eq!(new.as_bytes(), b"analytical engine");
    }

    #[test]
    fn only_urlencoded_bodies_are_forms() {
        let ok = post(
            "/new",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "a=1",
        );
        assert_eq!(Form::read(&ok).unwrap().text("a"), "1");
        for content_type in ["multipart/form-data; boundary=x", "application/json", ""] {
            assert!(matches!(
                Form::read(&post("/new", content_type, "a=1")),
                Err(Error::UnsupportedMediaType)
            ));
        }
    }
}
