//! Where Omni's data lives, tested for real: Omni on a three-node Galera
//! cluster (tests/testkit's `galera`) while the node that takes writes is
//! killed under load, a node that missed writes rejoins, and what Galera
//! refuses is tried; and backups taken with mariadb-backup while Omni writes,
//! restored into a fresh server that Omni then serves.
//!
//! They take minutes and Debian's galera-4, mariadb-backup and haproxy, so
//! they are ignored by a plain `cargo test`; scripts/test runs them with
//! `cargo test --workspace --test data -- --ignored --nocapture`, which also
//! shows the failover window and backup times they print.

// Test code: a panic is how a helper fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checks;
mod failover;
mod galera_rules;
mod rejoin;
mod restore;
mod writers;
