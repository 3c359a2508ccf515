//! End-to-end tests of the Omni API: the real components in the test host,
//! each test with a fresh database of its own, on real MariaDB or on Spin's
//! built-in SQLite (`OMNI_TEST_BACKEND=mysql|sqlite`; `scripts/test` runs the
//! suite once for each).

// Test code: a panic is how a helper fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Runs each named test, an `async fn(Store)`, once on Spin's key-value
/// store and once on Redis (Omni's own client): as
/// `<file>::spin_key_value::<test>` and `<file>::redis::<test>`.
macro_rules! on_each_store {
    ($($test:ident),+ $(,)?) => {
        mod spin_key_value {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $test() {
                    super::$test(omni_testkit::Store::SpinKeyValue).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $test() {
                    super::$test(omni_testkit::Store::Redis).await;
                }
            )+
        }
    };
}

mod accounts;
mod cache;
mod comments;
mod document;
mod health;
mod ids;
mod limits;
mod outage;
mod own_account;
mod paging;
mod posts;
mod problems;
mod redis;
mod resilience;
mod search;
mod security;
mod sessions;
mod spinkube;
mod timing;
mod tokens;
mod users;
mod writeups;
mod zero_setup;
