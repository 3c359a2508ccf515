//! Searching: the one rule is its rate limit, per client address, so that
//! a search costs the database nothing once an address has used its share.

use crate::context::Context;
use crate::error::Error;
use crate::limits;
use crate::net::ClientAddress;
use crate::time::now_ms;

/// The query parameters a search reads, the API's and the website's: no
/// others make a different cache entry.
pub const PARAMETERS: &[&str] = &["q", "page"];

/// Counts a search from `client` (the API's or the website's): a 429 once
/// the address has used up `limit_searches_per_ip_per_minute`, before any
/// database work, whether or not the answer is then served from the cache.
pub fn count(context: &Context, client: &ClientAddress) -> Result<(), Error> {
    let limit = &context.config().limits.searches_per_ip;
    limits::count(context.kv(), limit, client.as_str(), now_ms() / 1000)?;
    Ok(())
}
