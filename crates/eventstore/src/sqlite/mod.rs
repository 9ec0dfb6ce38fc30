//! The embedded backend: the event store in one SQLite file (rusqlite, SQLite compiled in), the
//! default when no PostgreSQL is configured.
//!
//! [`SqliteDatabase`] is the file, shared by everything a process keeps in it: the event
//! store here, and the read models and the application's rows in the crates above, each with
//! its own tables and migrations.
//!
//! - `database.rs`: [`SqliteDatabase`], the file, its one writer and its readers, migrations.
//! - `store.rs`: [`SqliteStore`], the port on it, its reads and snapshots; the schema is in
//!   `migrations/sqlite/*.sql` (component `eventstore`).
//! - `append.rs`: an append inside a write transaction, step by step.
//! - `integrity.rs`: `verify`, seals and head manifests.
//! - `rows.rs`: range-checked integers, microsecond times, event rows read in place.
//! - `transfer.rs`: history exported and imported verbatim
//!   ([`HistoryTransfer`](crate::HistoryTransfer)), and the audit export's pages.
//!
//! The subject key store on the same file is
//! [`SqliteSubjectKeyStore`](crate::crypto::SqliteSubjectKeyStore).

mod append;
mod database;
mod integrity;
mod rows;
mod store;
mod transfer;

pub(crate) use database::run_blocking;
pub use database::{SqliteDatabase, sqlite_error};
pub use store::SqliteStore;
pub(crate) use store::migrate_store;
