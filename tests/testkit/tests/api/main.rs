//! End-to-end tests of the Omni API: the real components in the test host,
//! each test with a fresh database of its own, on real MariaDB or on Spin's
//! built-in SQLite (`OMNI_TEST_BACKEND=mysql|sqlite`; `scripts/test` runs the
//! suite once for each).

// Test code: a panic is how a helper fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod cache;
mod comments;
mod document;
mod health;
mod ids;
mod limits;
mod outage;
mod paging;
mod posts;
mod problems;
mod resilience;
mod search;
mod security;
mod spinkube;
mod timing;
mod tokens;
mod users;
mod writeups;
mod zero_setup;
