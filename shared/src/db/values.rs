//! What crosses the storage boundary: statement parameters, result sets
//! and their rows, and the Rust types a column decodes into.

use std::fmt;

use crate::snowflake::Id;

use super::DbError;

/// A statement parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// Any signed integer column.
    Int(i64),
    /// Text.
    Text(String),
}

/// A value read from a result set.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any signed integer (TINYINT to BIGINT).
    Int(i64),
    /// Any unsigned integer.
    UInt(u64),
    /// FLOAT or DOUBLE.
    Float(f64),
    /// CHAR, VARCHAR, TEXT.
    Text(String),
    /// BINARY, VARBINARY, BLOB.
    Bytes(Vec<u8>),
}

/// A result set: column names and rows of values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    /// A result set from its parts; each row must have one value per column.
    pub fn new(columns: Vec<String>, rows: Vec<Vec<Value>>) -> Result<Self, DbError> {
        if let Some(bad) = rows.iter().find(|row| row.len() != columns.len()) {
            return Err(DbError::Decode(format!(
                "row has {} values for {} columns",
                bad.len(),
                columns.len()
            )));
        }
        Ok(Self { columns, rows })
    }

    /// The rows, in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    /// Decodes every row with `decode`, failing on the first bad one.
    pub fn decode_all<T>(
        &self,
        decode: impl Fn(Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        self.iter().map(decode).collect()
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One row, readable by column name.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl Row<'_> {
    /// The value of `column`, decoded as `T`.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, DbError> {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| DbError::Decode(format!("no column `{column}`")))?;
        T::from_value(&self.values[index])
            .map_err(|expected| DbError::Decode(format!("column `{column}`: {expected}")))
    }
}

/// A Rust type a column value decodes into.
pub trait FromValue: Sized {
    /// Decodes `value`, or says what was expected.
    fn from_value(value: &Value) -> Result<Self, TypeMismatch>;
}

/// A value of the wrong type, for [`FromValue`].
#[derive(Debug)]
pub struct TypeMismatch {
    expected: &'static str,
    found: String,
}

impl fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

fn mismatch(expected: &'static str, value: &Value) -> TypeMismatch {
    let found = match value {
        Value::Null => "NULL",
        Value::Int(_) => "a signed integer",
        Value::UInt(_) => "an unsigned integer",
        Value::Float(_) => "a float",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
    };
    TypeMismatch {
        expected,
        found: found.into(),
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::Int(v) => Ok(*v),
            Value::UInt(v) => i64::try_from(*v).map_err(|_| mismatch("an i64", value)),
            _ => Err(mismatch("an integer", value)),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::Float(v) => Ok(*v),
            // A whole number is a float too (SQLite keeps 0.0 as 0).
            Value::Int(v) => Ok(*v as f64),
            _ => Err(mismatch("a number", value)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(mismatch("text", value)),
        }
    }
}

impl FromValue for Id {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        let raw = i64::from_value(value)?;
        Id::from_i64(raw).map_err(|_| mismatch("a non-negative id", value))
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl From<Id> for Param {
    fn from(id: Id) -> Self {
        Param::Int(id.as_i64())
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        Rows::new(
            vec!["id".into(), "name".into(), "bio".into()],
            vec![vec![Value::Int(7), Value::Text("ada".into()), Value::Null]],
        )
        .unwrap()
    }

    #[test]
    fn columns_decode_by_name() {
        let rows = rows();
        let row = rows.first().unwrap();
        assert_eq!(row.get::<i64>("id").unwrap(), 7);
        assert_eq!(row.get::<String>("name").unwrap(), "ada");
        assert_eq!(row.get::<Option<String>>("bio").unwrap(), None);
    }

    #[test]
    fn a_missing_column_is_a_decode_error_not_a_panic() {
        let rows = rows();
        let error = rows.first().unwrap().get::<i64>("nope").unwrap_err();
        assert_eq!(error, DbError::Decode("no column `nope`".into()));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_decode_error() {
        let rows = rows();
        let row = rows.first().unwrap();
        assert!(matches!(row.get::<i64>("name"), Err(DbError::Decode(_))));
        assert!(matches!(row.get::<String>("bio"), Err(DbError::Decode(_))));
    }

    #[test]
    fn a_negative_number_is_not_an_id() {
        let rows = Rows::new(vec!["id".into()], vec![vec![Value::Int(-1)]]).unwrap();
        assert!(rows.first().unwrap().get::<Id>("id").is_err());
    }

    #[test]
    fn a_ragged_result_set_is_refused() {
        assert!(Rows::new(vec!["a".into()], vec![vec![]]).is_err());
    }

    #[test]
    fn unsigned_values_decode_as_i64_when_they_fit() {
        let rows = Rows::new(vec!["n".into()], vec![vec![Value::UInt(5)]]).unwrap();
        assert_eq!(rows.first().unwrap().get::<i64>("n").unwrap(), 5);
        let big = Rows::new(vec!["n".into()], vec![vec![Value::UInt(u64::MAX)]]).unwrap();
        assert!(big.first().unwrap().get::<i64>("n").is_err());
    }
}
