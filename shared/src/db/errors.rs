//! Why a statement failed, in the terms the rest of the code acts on, and
//! the one place where a violated constraint becomes an HTTP answer.

use crate::error::Error;

/// Why a statement failed, in the terms the rest of the code acts on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DbError {
    /// The database could not be reached, or the connection was lost.
    #[error("database unreachable: {0}")]
    Unavailable(String),
    /// The statement lost a race for a lock (a deadlock, a lock wait that
    /// timed out, SQLite's `database is locked`): running the whole
    /// transaction again may well succeed.
    #[error("lock conflict: {0}")]
    Busy(String),
    /// The statement ran past its time limit.
    #[error("statement timed out: {0}")]
    Timeout(String),
    /// A unique key was violated; `key` is the index name (`PRIMARY` for the
    /// primary key).
    #[error("duplicate entry for key {key}: {message}")]
    Duplicate {
        /// The violated key.
        key: String,
        /// The server's message.
        message: String,
    },
    /// A row refers to one that does not exist (or no longer does).
    /// `constraint` is the foreign key's name, when the backend says
    /// (MariaDB does; SQLite does not).
    #[error("foreign key violated: {message}")]
    ForeignKey {
        /// The violated constraint.
        constraint: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The statement failed for another reason.
    #[error("query failed: {0}")]
    Query(String),
    /// A row did not have the shape the code expected.
    #[error("cannot decode row: {0}")]
    Decode(String),
}

impl From<DbError> for Error {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(_) | DbError::Busy(_) | DbError::Timeout(_) => {
                Error::Unavailable(error.into())
            }
            _ => Error::Internal(error.into()),
        }
    }
}

/// Whether `error` is a lost lock race, which a retry of the whole
/// transaction may win.
pub(super) fn is_busy(error: &Error) -> bool {
    matches!(error, Error::Unavailable(cause) if matches!(cause.downcast_ref(), Some(DbError::Busy(_))))
}

/// Turns a violated constraint into a client error, leaving every other
/// failure as it was: the one place where database constraints become HTTP
/// answers.
pub trait OnConstraint<T> {
    /// If the error is a duplicate on unique key `key`, returns `make()`.
    fn on_duplicate(self, key: &str, make: impl FnOnce() -> Error) -> Result<T, Error>;
    /// If the error is a violation of foreign key `constraint` (a row
    /// referring to one that is gone), returns `make()`.
    fn on_foreign_key(self, constraint: &str, make: impl FnOnce() -> Error) -> Result<T, Error>;
}

impl<T, E: Into<Error>> OnConstraint<T> for Result<T, E> {
    fn on_duplicate(self, key: &str, make: impl FnOnce() -> Error) -> Result<T, Error> {
        self.map_err(|error| {
            let error = error.into();
            match cause(&error) {
                Some(DbError::Duplicate { key: violated, .. }) if violated == key => make(),
                _ => error,
            }
        })
    }

    fn on_foreign_key(self, constraint: &str, make: impl FnOnce() -> Error) -> Result<T, Error> {
        self.map_err(|error| {
            let error = error.into();
            match cause(&error) {
                Some(DbError::ForeignKey {
                    constraint: Some(violated),
                    ..
                }) if violated == constraint => make(),
                _ => error,
            }
        })
    }
}

/// The database error behind an internal error, if that is what it is.
fn cause(error: &Error) -> Option<&DbError> {
    match error {
        Error::Internal(cause) => cause.downcast_ref::<DbError>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_key_becomes_a_client_error() {
        let duplicate = |key: &str| -> Result<(), DbError> {
            Err(DbError::Duplicate {
                key: key.into(),
                message: String::new(),
            })
        };
        let taken = || Error::Conflict("taken".into());
        assert!(matches!(
            duplicate("username").on_duplicate("username", taken),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            duplicate("PRIMARY").on_duplicate("username", taken),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn only_the_named_foreign_key_becomes_a_client_error() {
        let orphan = |constraint: Option<&str>| -> Result<(), DbError> {
            Err(DbError::ForeignKey {
                constraint: constraint.map(str::to_owned),
                message: String::new(),
            })
        };
        let gone = || Error::NotFound("gone".into());
        assert!(matches!(
            orphan(Some("comments_post")).on_foreign_key("comments_post", gone),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            orphan(Some("comments_author")).on_foreign_key("comments_post", gone),
            Err(Error::Internal(_))
        ));
        assert!(matches!(
            orphan(None).on_foreign_key("comments_post", gone),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn a_duplicate_still_counts_after_becoming_an_error() {
        let error: Result<(), Error> = Err(DbError::Duplicate {
            key: "username".into(),
            message: String::new(),
        }
        .into());
        assert!(matches!(
            error.on_duplicate("username", || Error::Conflict("taken".into())),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn an_unreachable_database_becomes_a_503() {
        let error: Error = DbError::Unavailable("refused".into()).into();
        assert_eq!(error.status(), 503);
    }
}
