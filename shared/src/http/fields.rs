//! A JSON object body, read field by field into domain types, collecting
//! every problem so that a 422 names all the bad fields at once.

use serde_json::{Map, Value};

use crate::error::{Error, FieldErrors};
use crate::http::Request;
use crate::model::{
    Bio, CommentBody, Description, DisplayName, MarkdownUrl, Password, Title, Username,
};

/// A string-valued input field that validates itself.
pub trait FromField: Sized {
    /// Parses the field's text, or says what is wrong with it.
    fn from_field(text: &str) -> Result<Self, String>;
}

impl FromField for String {
    fn from_field(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

/// A JSON object body whose fields are read one by one, collecting every
/// problem so that a 422 names all the bad fields at once.
///
/// Read each field, call [`JsonFields::finish`], then unwrap the fields with
/// `?`: after a successful `finish` every read succeeded.
#[derive(Debug)]
pub struct JsonFields {
    object: Map<String, Value>,
    errors: FieldErrors,
}

/// A field that failed validation; its message is in the [`JsonFields`].
#[derive(Debug)]
pub struct InvalidField;

impl From<InvalidField> for Error {
    fn from(_: InvalidField) -> Self {
        Error::internal(anyhow::anyhow!(
            "a field was used before JsonFields::finish reported its error"
        ))
    }
}

impl JsonFields {
    /// The body of `request` as a JSON object (see [`Request::json`]).
    pub(super) fn read(request: &Request) -> Result<Self, Error> {
        let is_json = request.header("content-type").is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
        });
        if !is_json {
            return Err(Error::UnsupportedMediaType);
        }
        match serde_json::from_slice::<Value>(request.body()) {
            Ok(Value::Object(object)) => Ok(Self {
                object,
                errors: FieldErrors::new(),
            }),
            Ok(_) => Err(Error::BadRequest("The body must be a JSON object.".into())),
            Err(e) => Err(Error::BadRequest(format!(
                "The body is not valid JSON: {e}."
            ))),
        }
    }

    /// A field that must be present.
    pub fn required<T: FromField>(&mut self, name: &str) -> Result<T, InvalidField> {
        match self.optional(name)? {
            Some(value) => Ok(value),
            None => Err(self.fail(name, "is required".into())),
        }
    }

    /// A field that may be absent. `null` is not absent: it is the wrong type.
    pub fn optional<T: FromField>(&mut self, name: &str) -> Result<Option<T>, InvalidField> {
        match self.object.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => match T::from_field(text) {
                Ok(value) => Ok(Some(value)),
                Err(message) => Err(self.fail(name, message)),
            },
            Some(_) => Err(self.fail(name, "must be a string".into())),
        }
    }

    fn fail(&mut self, name: &str, message: String) -> InvalidField {
        self.errors.add(name, message);
        InvalidField
    }

    /// 422 naming every field that failed, if any did.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// Every domain type reads from a field with its own parser.
macro_rules! from_field_by_parse {
    ($($type:ty),*) => {$(
        impl FromField for $type {
            fn from_field(text: &str) -> Result<Self, String> {
                Self::parse(text)
            }
        }
    )*};
}

from_field_by_parse!(
    Username,
    Password,
    DisplayName,
    Bio,
    Title,
    Description,
    CommentBody,
    MarkdownUrl
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn post_json(content_type: &str, body: &str) -> Request {
        Request::for_test(Method::POST, "/", &[("Content-Type", content_type)], body)
    }

    /// Asserts that each of `bodies`, sent as JSON, is a 400.
    fn assert_bad_requests(bodies: &[&str]) {
        for body in bodies {
            assert!(
                matches!(
                    post_json("application/json", body).json(),
                    Err(Error::BadRequest(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn json_needs_the_json_content_type() {
        assert!(matches!(
            post_json("text/plain", "{}").json(),
            Err(Error::UnsupportedMediaType)
        ));
        assert!(
            post_json("application/json; charset=utf-8", "{}")
                .json()
                .is_ok()
        );
        assert!(post_json("Application/JSON", "{}").json().is_ok());
        let no_type = Request::for_test(Method::POST, "/", &[], "{}");
        assert!(matches!(no_type.json(), Err(Error::UnsupportedMediaType)));
    }

    #[test]
    fn malformed_json_is_a_400() {
        assert_bad_requests(&["", "{", "{\"a\":}", "\u{0}"]);
    }

    #[test]
    fn json_that_is_not_an_object_is_a_400() {
        assert_bad_requests(&["[]", "\"x\"", "1", "null"]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut fields = post_json("application/json", r#"{"b": 5, "c": null}"#)
            .json()
            .unwrap();
        let a = fields.required::<String>("a");
        let b = fields.required::<String>("b");
        let c = fields.optional::<String>("c");
        let d = fields.optional::<String>("d");
        assert!(a.is_err() && b.is_err() && c.is_err());
        assert!(matches!(d, Ok(None)));
        match fields.finish() {
            Err(Error::Validation(errors)) => {
                assert_eq!(errors["a"], ["is required"]);
                assert_eq!(errors["b"], ["must be a string"]);
                assert_eq!(errors["c"], ["must be a string"]);
                assert!(!errors.contains("d"));
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut fields = post_json("application/json", r#"{"a": "x", "id": "1"}"#)
            .json()
            .unwrap();
        assert_eq!(fields.required::<String>("a").unwrap(), "x");
        assert!(fields.finish().is_ok());
    }
}
