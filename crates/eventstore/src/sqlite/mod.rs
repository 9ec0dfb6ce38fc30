//! The embedded backend: the event store in one SQLite file (rusqlite, SQLite compiled in), the
//! default when no PostgreSQL is configured.
//!
//! [`SqliteDatabase`] is the file, shared by everything a process keeps in it: the event
//! store here, and the read models and the application's rows in the crates above, each with
//! its own tables and migrations.

mod database;

pub use database::{SqliteDatabase, sqlite_error};
