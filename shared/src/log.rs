//! Structured logs: one JSON object per line on stderr, which Spin turns
//! into its log (and OpenTelemetry log records). Never pass a secret, a
//! token, a password or SQL parameters as a field.

use serde_json::{Map, Value};

/// How bad it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Worth knowing.
    Info,
    /// Something a client or an operator should look at.
    Warn,
    /// A request failed on our side.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// The JSON line for `event` with `fields`.
fn line(level: Level, event: &str, fields: &[(&str, Value)]) -> String {
    let mut object = Map::new();
    object.insert("level".into(), level.as_str().into());
    object.insert("event".into(), event.into());
    for (name, value) in fields {
        object.insert((*name).to_owned(), value.clone());
    }
    Value::Object(object).to_string()
}

/// Writes `event` at `level`.
pub fn write(level: Level, event: &str, fields: &[(&str, Value)]) {
    eprintln!("{}", line(level, event, fields));
}

/// Writes an `info` event.
pub fn info(event: &str, fields: &[(&str, Value)]) {
    write(Level::Info, event, fields);
}

/// Writes a `warn` event.
pub fn warn(event: &str, fields: &[(&str, Value)]) {
    write(Level::Warn, event, fields);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_line_of_json_with_its_fields() {
        let text = line(
            Level::Warn,
            "login_failed",
            &[("ip", "10.0.0.1".into()), ("multi", "a\nb".into())],
        );
        assert!(!text.contains('\n'));
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["level"], "warn");
        assert_eq!(json["event"], "login_failed");
        assert_eq!(json["ip"], "10.0.0.1");
        assert_eq!(json["multi"], "a\nb");
    }
}
