//! `fermyon:spin/mysql@2.0.0` on `mysql_async` 0.35, with Spin 3.6.3's
//! semantics (crates/factor-outbound-mysql/src/{client,host}.rs at v3.6.3):
//!
//! - Every `open` (after the `allowed_outbound_hosts` check) builds a new
//!   `mysql_async::Pool` with the default pool options (or those the URL
//!   sets) and takes one new connection from it: a full handshake. When the
//!   guest drops the connection it goes back to that pool's recycler, which
//!   resets it (rolling back an open transaction) and, as nothing else holds
//!   the pool, closes it.
//! - `execute` is `exec_batch` with one parameter set; `query` is a
//!   server-side prepared statement whose result set is streamed. Both take
//!   positional parameters.
//! - Result columns map to `db-value`s by Spin's table. A column Spin
//!   cannot map (DATETIME, DECIMAL, …) fails the whole query with
//!   `value-conversion-failed`.
//! - Error texts are the ones Spin produces, from the same `mysql_async`
//!   error types. An address mysql_async cannot turn into options (say an
//!   unknown URL parameter) makes Spin panic, so the guest traps here.

use futures::TryStreamExt;
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{
    Conn, FromValueError, Opts, OptsBuilder, Params, Pool, Row, SslOpts, Value, from_value_opt,
};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::mysql::{Host, HostConnection};
use crate::bindings::fermyon::spin::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use crate::instance::RequestState;

/// The most a result set may hold, counted as Spin counts it.
const MAX_RESULT_BYTES: usize = 128 << 20;

/// Spin's resource table refuses more open connections than this per instance.
const MAX_CONNECTIONS: usize = 1024;

/// An open connection, owned by the guest through a resource handle. It
/// belongs to a pool of its own, as in Spin.
#[derive(Debug)]
pub struct MysqlConnection {
    conn: Conn,
}

impl Host for RequestState {}
impl rdbms_types::Host for RequestState {}

impl HostConnection for RequestState {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<MysqlConnection>, Error>> {
        match self.check_outbound(&address, "mysql") {
            Ok(true) => {}
            Ok(false) => {
                return Ok(Err(Error::ConnectionFailed(format!(
                    "address {address} is not permitted"
                ))));
            }
            Err(text) => return Ok(Err(Error::Other(text))),
        }
        let opts = match build_opts(&address) {
            Ok(opts) => opts,
            Err(OptsError::Url(e)) => {
                return Ok(Err(Error::ConnectionFailed(format!(
                    "{:?}",
                    anyhow::Error::new(e)
                ))));
            }
            Err(OptsError::Panics(e)) => {
                return Err(wasmtime::Error::msg(format!(
                    "mysql_async cannot read the address (Spin panics here): {e}"
                )));
            }
        };
        let conn = match Pool::new(opts).get_conn().await {
            Ok(conn) => conn,
            Err(e) => {
                return Ok(Err(Error::ConnectionFailed(format!(
                    "{:?}",
                    anyhow::Error::new(e)
                ))));
            }
        };
        Ok(
            match self.mysql_connections.push(
                &mut self.table,
                MAX_CONNECTIONS,
                MysqlConnection { conn },
            ) {
                Ok(Ok(handle)) => Ok(handle),
                Ok(Err(_)) => Err(Error::ConnectionFailed("too many connections".into())),
                Err(e) => Err(Error::ConnectionFailed(e.to_string())),
            },
        )
    }

    async fn query(
        &mut self,
        connection: Resource<MysqlConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        self.count_statement();
        let conn = &mut self
            .table
            .get_mut(&connection)
            .map_err(|_| Error::ConnectionFailed("no connection found".into()))?
            .conn;
        let params = Params::Positional(params.into_iter().map(to_value).collect());
        let mut result = conn
            .exec_iter(statement, params)
            .await
            .map_err(|e| Error::QueryFailed(format!("{e:?}")))?;
        let columns: Vec<Column> = result
            .columns()
            .map(|columns| columns.iter().map(convert_column).collect())
            .unwrap_or_default();
        let mut stream = result
            .stream::<Row>()
            .await
            .map_err(|e| Error::Other(e.to_string()))?
            .ok_or_else(|| Error::Other("unable to stream query result".into()))?;
        let mut rows = Vec::new();
        let mut bytes = size_of::<RowSet>();
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(|e| Error::Other(e.to_string()))?
        {
            let row = convert_row(row, &columns)?;
            bytes += row.iter().map(memory_size).sum::<usize>();
            if bytes > MAX_RESULT_BYTES {
                return Err(Error::Other(format!(
                    "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
                )));
            }
            rows.push(row);
        }
        Ok(RowSet { columns, rows })
    }

    async fn execute(
        &mut self,
        connection: Resource<MysqlConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<(), Error> {
        self.count_statement();
        let conn = &mut self
            .table
            .get_mut(&connection)
            .map_err(|_| Error::ConnectionFailed("no connection found".into()))?
            .conn;
        let params = Params::Positional(params.into_iter().map(to_value).collect());
        conn.exec_batch(statement, [params])
            .await
            .map_err(|e| Error::QueryFailed(format!("{e:?}")))
    }

    async fn drop(&mut self, connection: Resource<MysqlConnection>) -> wasmtime::Result<()> {
        // Back to its pool's recycler, as in Spin.
        drop(self.mysql_connections.remove(&mut self.table, connection)?);
        Ok(())
    }
}

/// Why an address gives no connection options.
#[derive(Debug)]
enum OptsError {
    /// Not a URL: `connection-failed`.
    Url(mysql_async::Error),
    /// A URL mysql_async refuses, which Spin unwraps and panics on.
    Panics(mysql_async::UrlError),
}

/// The connection options for `address`, with Spin's handling of
/// `ssl-mode`/`sslmode`: any value other than `disabled` turns TLS on, and
/// the parameter itself is removed before mysql_async reads the URL.
fn build_opts(address: &str) -> Result<Opts, OptsError> {
    let url = url::Url::parse(address).map_err(|e| OptsError::Url(e.into()))?;
    let is_ssl_param =
        |key: &str| matches!(key.to_ascii_lowercase().as_str(), "ssl-mode" | "sslmode");
    let use_ssl = url
        .query_pairs()
        .any(|(k, v)| is_ssl_param(&k) && !v.eq_ignore_ascii_case("disabled"));
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_ssl_param(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut cleaned = url.clone();
    cleaned.set_query(None);
    cleaned.query_pairs_mut().extend_pairs(kept);
    let opts = Opts::from_url(cleaned.as_str()).map_err(OptsError::Panics)?;
    Ok(OptsBuilder::from_opts(opts)
        .ssl_opts(use_ssl.then(SslOpts::default))
        .into())
}

fn to_value(param: ParameterValue) -> Value {
    match param {
        ParameterValue::Boolean(v) => Value::from(v),
        ParameterValue::Int8(v) => Value::Int(v.into()),
        ParameterValue::Int16(v) => Value::Int(v.into()),
        ParameterValue::Int32(v) => Value::Int(v.into()),
        ParameterValue::Int64(v) => Value::Int(v),
        ParameterValue::Uint8(v) => Value::UInt(v.into()),
        ParameterValue::Uint16(v) => Value::UInt(v.into()),
        ParameterValue::Uint32(v) => Value::UInt(v.into()),
        ParameterValue::Uint64(v) => Value::UInt(v),
        ParameterValue::Floating32(v) => Value::Float(v),
        ParameterValue::Floating64(v) => Value::Double(v),
        ParameterValue::Str(v) => Value::Bytes(v.into_bytes()),
        ParameterValue::Binary(v) => Value::Bytes(v),
        ParameterValue::DbNull => Value::NULL,
    }
}

fn convert_column(column: &mysql_async::Column) -> Column {
    Column {
        name: column.name_str().into_owned(),
        data_type: data_type(column.column_type(), column.flags()),
    }
}

/// Spin's mapping. Only the type and the UNSIGNED and BINARY flags count:
/// the character set is never looked at, so a `_bin` collation (which sets
/// the BINARY flag) turns text into `binary`.
fn data_type(column_type: ColumnType, flags: ColumnFlags) -> DbDataType {
    let signed = !flags.contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = flags.contains(ColumnFlags::BINARY_FLAG);
    if column_type.is_numeric_type() {
        match (column_type, signed) {
            (ColumnType::MYSQL_TYPE_DOUBLE, _) => DbDataType::Floating64,
            (ColumnType::MYSQL_TYPE_FLOAT, _) => DbDataType::Floating32,
            (ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG, true) => DbDataType::Int32,
            (ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG, false) => {
                DbDataType::Uint32
            }
            (ColumnType::MYSQL_TYPE_LONGLONG, true) => DbDataType::Int64,
            (ColumnType::MYSQL_TYPE_LONGLONG, false) => DbDataType::Uint64,
            (ColumnType::MYSQL_TYPE_SHORT, true) => DbDataType::Int16,
            (ColumnType::MYSQL_TYPE_SHORT, false) => DbDataType::Uint16,
            (ColumnType::MYSQL_TYPE_TINY, true) => DbDataType::Int8,
            (ColumnType::MYSQL_TYPE_TINY, false) => DbDataType::Uint8,
            // DECIMAL, NEWDECIMAL, YEAR.
            _ => DbDataType::Other,
        }
    } else if column_type.is_character_type() {
        match (column_type, binary) {
            (
                ColumnType::MYSQL_TYPE_BLOB
                | ColumnType::MYSQL_TYPE_STRING
                | ColumnType::MYSQL_TYPE_VAR_STRING,
                false,
            ) => DbDataType::Str,
            (
                ColumnType::MYSQL_TYPE_BLOB
                | ColumnType::MYSQL_TYPE_STRING
                | ColumnType::MYSQL_TYPE_VAR_STRING,
                true,
            ) => DbDataType::Binary,
            _ => DbDataType::Other,
        }
    } else {
        DbDataType::Other
    }
}

fn convert_row(mut row: Row, columns: &[Column]) -> Result<Vec<DbValue>, Error> {
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| match row.take::<Value, _>(index) {
            None | Some(Value::NULL) => Ok(DbValue::DbNull),
            Some(value) => convert_value(value, column),
        })
        .collect()
}

fn convert_value(value: Value, column: &Column) -> Result<DbValue, Error> {
    fn get<T: mysql_async::prelude::FromValue>(value: Value) -> Result<T, Error> {
        from_value_opt::<T>(value)
            .map_err(|e: FromValueError| Error::ValueConversionFailed(e.to_string()))
    }
    Ok(match column.data_type {
        DbDataType::Binary => DbValue::Binary(get(value)?),
        DbDataType::Boolean => DbValue::Boolean(get(value)?),
        DbDataType::Floating32 => DbValue::Floating32(get(value)?),
        DbDataType::Floating64 => DbValue::Floating64(get(value)?),
        DbDataType::Int8 => DbValue::Int8(get(value)?),
        DbDataType::Int16 => DbValue::Int16(get(value)?),
        DbDataType::Int32 => DbValue::Int32(get(value)?),
        DbDataType::Int64 => DbValue::Int64(get(value)?),
        DbDataType::Uint8 => DbValue::Uint8(get(value)?),
        DbDataType::Uint16 => DbValue::Uint16(get(value)?),
        DbDataType::Uint32 => DbValue::Uint32(get(value)?),
        DbDataType::Uint64 => DbValue::Uint64(get(value)?),
        DbDataType::Str => DbValue::Str(get(value)?),
        DbDataType::Other => {
            return Err(Error::ValueConversionFailed(format!(
                "Cannot convert value {value:?} in column {} data type {:?}",
                column.name, column.data_type
            )));
        }
    })
}

fn memory_size(value: &DbValue) -> usize {
    size_of::<DbValue>()
        + match value {
            DbValue::Str(s) => s.len(),
            DbValue::Binary(b) => b.len(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_columns_map_by_size_and_sign() {
        let unsigned = ColumnFlags::UNSIGNED_FLAG;
        let none = ColumnFlags::empty();
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_LONGLONG, none),
            DbDataType::Int64
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_LONGLONG, unsigned),
            DbDataType::Uint64
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_LONG, none),
            DbDataType::Int32
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_INT24, unsigned),
            DbDataType::Uint32
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_SHORT, none),
            DbDataType::Int16
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_TINY, none),
            DbDataType::Int8
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_TINY, unsigned),
            DbDataType::Uint8
        );
    }

    #[test]
    fn dates_decimals_and_json_are_other() {
        for t in [
            ColumnType::MYSQL_TYPE_DATETIME,
            ColumnType::MYSQL_TYPE_TIMESTAMP,
            ColumnType::MYSQL_TYPE_DATE,
            ColumnType::MYSQL_TYPE_TIME,
            ColumnType::MYSQL_TYPE_YEAR,
            ColumnType::MYSQL_TYPE_NEWDECIMAL,
            ColumnType::MYSQL_TYPE_BIT,
            ColumnType::MYSQL_TYPE_JSON,
        ] {
            assert_eq!(
                data_type(t, ColumnFlags::empty()),
                DbDataType::Other,
                "{t:?}"
            );
        }
    }

    #[test]
    fn text_is_told_from_bytes_by_the_binary_flag_alone() {
        let binary = ColumnFlags::BINARY_FLAG;
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_VAR_STRING, ColumnFlags::empty()),
            DbDataType::Str
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_VAR_STRING, binary),
            DbDataType::Binary
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_BLOB, ColumnFlags::empty()),
            DbDataType::Str
        );
        assert_eq!(
            data_type(ColumnType::MYSQL_TYPE_BLOB, binary),
            DbDataType::Binary
        );
    }

    #[test]
    fn an_unsupported_value_fails_with_spins_message() {
        let column = Column {
            name: "price".into(),
            data_type: DbDataType::Other,
        };
        match convert_value(Value::Bytes(b"12.50".to_vec()), &column) {
            Err(Error::ValueConversionFailed(message)) => assert_eq!(
                message,
                "Cannot convert value Bytes(\"12.50\") in column price data type DbDataType::Other"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_address_mysql_async_refuses_is_told_from_one_that_is_no_url() {
        assert!(matches!(build_opts("not a url"), Err(OptsError::Url(_))));
        assert!(matches!(
            build_opts("mysql://u:p@db/omni?bogus=1"),
            Err(OptsError::Panics(_))
        ));
    }

    #[test]
    fn ssl_mode_is_taken_out_of_the_url() {
        let plain = build_opts("mysql://u:p@db:3307/omni").unwrap();
        assert!(plain.ssl_opts().is_none());
        assert_eq!(plain.tcp_port(), 3307);
        let tls = build_opts("mysql://u:p@db/omni?ssl-mode=REQUIRED").unwrap();
        assert!(tls.ssl_opts().is_some());
        let off = build_opts("mysql://u:p@db/omni?sslmode=disabled").unwrap();
        assert!(off.ssl_opts().is_none());
    }
}
