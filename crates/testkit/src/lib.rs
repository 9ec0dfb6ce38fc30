//! # crm-testkit
//!
//! Test support shared by the workspace's tests, and nothing else: a dev-dependency only, never
//! a dependency of a library or a binary.
//!
//! - [`postgres`]: a fresh PostgreSQL database per test ([`postgres::TestDatabase`]), made from
//!   `DATABASE_URL` and dropped afterwards; fails loudly, never skips, when PostgreSQL cannot be
//!   reached. Depends on none of our crates, so any crate's tests can use it.
//! - Feature `eventstore`: `TestDatabase::store` and `TestDatabase::config`, the event store on
//!   a test database (`eventstore.rs`).

#[cfg(feature = "eventstore")]
mod eventstore;
pub mod postgres;
