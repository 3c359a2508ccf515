//! The answers handlers build: JSON bodies with their status.

use serde::Serialize;
use spin_sdk::http::Response;

use crate::error::Error;

/// 200 with a JSON body.
pub fn ok<T: Serialize>(body: &T) -> Result<Response, Error> {
    json(200, body)
}

/// 201 with a `Location` and a body already in JSON.
pub fn created_json(location: &str, body: String) -> Response {
    Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("location", location)
        .body(body)
        .build()
}

/// 204 with no body.
pub fn no_content() -> Response {
    Response::builder().status(204).build()
}

fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, Error> {
    let bytes = serde_json::to_vec(body).map_err(Error::internal)?;
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(bytes)
        .build())
}
