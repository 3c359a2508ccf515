//! Omni's shared library. Every component is a thin `#[http_component]`
//! over the API's handlers or the website's pages here; ids, storage, the
//! write path, auth, validation, errors and HTTP plumbing are written once,
//! in this crate. `ARCHITECTURE.md` maps its layers.

#![forbid(unsafe_code)]

pub mod actions;
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
