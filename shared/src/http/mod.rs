//! HTTP plumbing: serving a component's method table ([`serve`]), the
//! request as a handler reads it ([`request`]), a JSON body's fields
//! ([`fields`]) and the answers handlers build ([`response`]).

pub mod fields;
pub mod request;
pub mod response;
pub mod serve;

pub use http::Method;

pub use fields::{FromField, InvalidField, JsonFields};
pub use request::Request;
pub use response::{created_json, no_content, ok};
pub use serve::{
    Arrival, Handler, MAX_BODY_BYTES, Paths, Routes, finish, log_request, respond, serve,
    serve_paths, spin_route,
};
