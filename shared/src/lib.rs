//! Omni's shared library. Every component is a thin `#[http_component]`
//! over the handlers here; ids, storage, auth, validation, errors and HTTP
//! plumbing are written once, in this crate.

#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod config;
pub mod context;
pub mod db;
pub mod error;
pub mod handlers;
pub mod hex;
pub mod http;
pub mod kv;
pub mod limits;
pub mod log;
pub mod model;
pub mod net;
pub mod paging;
pub mod snowflake;
pub mod store;
pub mod time;
pub mod views;
pub mod web;

pub use context::Context;
pub use error::Error;
