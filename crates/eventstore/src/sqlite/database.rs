//! [`SqliteDatabase`]: one SQLite file, opened for durability, shared by every component of a
//! process that keeps its rows there (the event store, the read models, the application's
//! inbox, outbox and idempotency rows).
//!
//! SQLite lets one transaction write at a time. The handle makes that explicit instead of
//! letting connections meet `SQLITE_BUSY`: every write of the process runs on one writer
//! connection, in a `BEGIN IMMEDIATE` transaction, one after the other; reads run on a small
//! set of reader connections, each inside a read transaction, so one read sees one committed
//! state however many statements it takes (WAL mode lets readers run beside the writer).
//! The closures run on tokio's blocking threads, never on the async workers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::StoreError;

/// How long a connection waits for a lock another process holds before giving up with
/// [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many idle reader connections are kept for reuse.
const IDLE_READERS: usize = 8;

/// One SQLite database file, opened in WAL mode with `synchronous=FULL`: an acknowledged
/// commit survives a crash of the process and a power cut. Clones share the connections.
///
/// A second process may open the same file: SQLite's file locks serve both safely (its writes
/// wait for ours and ours for its, up to a timeout), and each process's subscribers find the
/// other's events by polling. Putting the file on a network file system is not supported
/// (SQLite's locks are not reliable there).
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteDatabase {
    /// Opens the database at `path`, creating the file (not its directory) if it does not
    /// exist, and switches it to WAL mode.
    ///
    /// Fails with [`StoreError::Unavailable`] when the file cannot be opened or is not a
    /// SQLite database, naming the path and why.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let writer = open_connection(&path)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(opening(&path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable {
                reason: format!(
                    "SQLite database {} cannot use write-ahead logging (journal mode stays {mode})",
                    path.display()
                ),
                source: None,
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The file this database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` in one write transaction on the writer connection, on a blocking thread:
    /// committed when `work` returns `Ok`, rolled back when it returns `Err` (or panics).
    /// Writes of the process take turns.
    pub async fn write<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let database = self.clone();
        run_blocking(move || database.write_blocking(work)).await
    }

    /// [`write`](Self::write) on the calling thread, for code that is already on a blocking
    /// thread (or has no runtime).
    pub fn write_blocking<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut writer = self.writer();
        let transaction = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| E::from(sqlite_error("beginning a write transaction", &error)))?;
        let value = work(&transaction)?;
        transaction
            .commit()
            .map_err(|error| E::from(sqlite_error("committing", &error)))?;
        Ok(value)
    }

    /// Runs `work` inside one read transaction on a reader connection, on a blocking thread:
    /// every statement of `work` sees the same committed state.
    pub async fn read<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let database = self.clone();
        run_blocking(move || database.read_blocking(work)).await
    }

    /// [`read`](Self::read) on the calling thread.
    pub fn read_blocking<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut connection = self.reader().map_err(E::from)?;
        let outcome = match connection.transaction_with_behavior(TransactionBehavior::Deferred) {
            // A read transaction commits nothing: dropping it ends it.
            Ok(transaction) => work(&transaction),
            Err(error) => Err(E::from(sqlite_error("beginning a read", &error))),
        };
        self.give_back(connection);
        outcome
    }

    /// Applies `migrations` of `component` that this file has not seen, in order, each in its
    /// own write transaction with its record in `schema_migrations`. Each component (the event
    /// store, the read models, the application) keeps its own numbering; a migration already
    /// applied with other SQL is refused, so two builds never silently disagree on a schema.
    pub fn migrate(&self, component: &str, migrations: &[(u32, &str)]) -> Result<(), StoreError> {
        self.write_blocking(|transaction| {
            transaction
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (
                         component TEXT NOT NULL,
                         version INTEGER NOT NULL,
                         sql TEXT NOT NULL,
                         PRIMARY KEY (component, version)
                     ) STRICT",
                )
                .map_err(|error| migration_error(0, &error))
        })?;
        for &(version, sql) in migrations {
            self.write_blocking(|transaction| {
                let applied: Option<String> = transaction
                    .query_row(
                        "SELECT sql FROM schema_migrations WHERE component = ?1 AND version = ?2",
                        (component, version),
                        |row| row.get(0),
                    )
                    .map(Some)
                    .or_else(|error| match error {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        other => Err(other),
                    })
                    .map_err(|error| migration_error(version, &error))?;
                match applied {
                    Some(applied) if applied == sql => Ok(()),
                    Some(_) => Err(StoreError::Migration {
                        version,
                        reason: format!(
                            "{component} migration {version} was applied to {} with other SQL",
                            self.path().display()
                        ),
                    }),
                    None => {
                        transaction
                            .execute_batch(sql)
                            .map_err(|error| migration_error(version, &error))?;
                        transaction
                            .execute(
                                "INSERT INTO schema_migrations (component, version, sql) \
                                 VALUES (?1, ?2, ?3)",
                                (component, version, sql),
                            )
                            .map_err(|error| migration_error(version, &error))?;
                        Ok(())
                    }
                }
            })?;
        }
        Ok(())
    }

    /// Copies every commit of the write-ahead log into the database file and truncates the log
    /// to zero bytes, so that page images of deleted rows it held are gone from disk too (with
    /// `secure_delete`, which every connection sets, the file itself keeps only zeros where
    /// they were). Runs on the writer connection after the writes before it, on the calling
    /// thread.
    ///
    /// Returns `false` when the log could not be truncated because a reader (of this or another
    /// process) still used it after waiting up to the busy timeout; the next checkpoint then
    /// overwrites it.
    pub fn checkpoint_truncate(&self) -> Result<bool, StoreError> {
        let writer = self.writer();
        let busy: i64 = writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(|error| sqlite_error("checkpointing the write-ahead log", &error))?;
        Ok(busy == 0)
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a write drops its transaction, which rolls back: the connection a
        // poisoned lock guards is clean.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        let idle = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => open_connection(&self.inner.path),
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(connection);
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(opening(path))?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(opening(path))?;
    // FULL: in WAL mode, NORMAL may lose the last commits on a power cut; an acknowledged
    // append must not be lost.
    connection
        .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(opening(path))?;
    // Deleted content is overwritten with zeros, so a shredded subject's key does not linger
    // in freed space of the file (see `checkpoint_truncate` for the write-ahead log).
    let secure_delete: i64 = connection
        .query_row("PRAGMA secure_delete = ON", [], |row| row.get(0))
        .map_err(opening(path))?;
    if secure_delete != 1 {
        return Err(StoreError::Unavailable {
            reason: format!(
                "SQLite database {}: secure_delete cannot be switched on",
                path.display()
            ),
            source: None,
        });
    }
    // Reading the schema proves the file is a SQLite database (opening does not).
    connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(opening(path))?;
    Ok(connection)
}

fn opening(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError::Unavailable {
        reason: format!("cannot open SQLite database {}: {error}", path.display()),
        source: Some(Box::new(error)),
    }
}

pub(crate) async fn run_blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome,
        Err(error) => Err(E::from(StoreError::Unavailable {
            reason: format!("a SQLite task did not finish: {error}"),
            source: None,
        })),
    }
}

/// A rusqlite error as the store's error: a lock held too long (`SQLITE_BUSY`, `SQLITE_LOCKED`)
/// or an I/O failure is [`StoreError::Unavailable`] (retryable), anything else
/// [`StoreError::Database`] with SQLite's extended result code.
pub fn sqlite_error(doing: &str, error: &rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.clone().unwrap_or_else(|| failure.to_string());
            match failure.code {
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen => StoreError::Unavailable {
                    reason: format!("SQLite {doing}: {message}"),
                    source: None,
                },
                _ => StoreError::Database {
                    code: format!("SQLITE_{}", failure.extended_code),
                    message: format!("{doing}: {message}"),
                },
            }
        }
        other => StoreError::Database {
            code: "SQLITE".to_owned(),
            message: format!("{doing}: {other}"),
        },
    }
}

fn migration_error(version: u32, error: &rusqlite::Error) -> StoreError {
    StoreError::Migration {
        version,
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> (tempfile::TempDir, SqliteDatabase) {
        let directory = tempfile::tempdir().unwrap();
        let database = SqliteDatabase::open(directory.path().join("crm.db")).unwrap();
        (directory, database)
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_a_read_sees_one_state() {
        let (_directory, database) = scratch();
        database
            .migrate("test", &[(1, "CREATE TABLE t (n INTEGER NOT NULL) STRICT")])
            .unwrap();
        let refused: Result<(), StoreError> = database.write_blocking(|transaction| {
            transaction.execute("INSERT INTO t VALUES (1)", []).unwrap();
            Err(StoreError::Database {
                code: "test".into(),
                message: "refused".into(),
            })
        });
        assert!(refused.is_err());
        database
            .write_blocking(|transaction| {
                transaction
                    .execute("INSERT INTO t VALUES (2)", [])
                    .map_err(|error| sqlite_error("inserting", &error))
            })
            .unwrap();
        let rows: i64 = database
            .read_blocking(|transaction| {
                transaction
                    .query_row("SELECT sum(n) FROM t", [], |row| row.get(0))
                    .map_err(|error| sqlite_error("reading", &error))
            })
            .unwrap();
        assert_eq!(rows, 2);
    }

    #[test]
    fn migrations_apply_once_and_a_changed_one_is_refused() {
        let (directory, database) = scratch();
        let first = [(1, "CREATE TABLE t (n INTEGER) STRICT")];
        database.migrate("test", &first).unwrap();
        database.migrate("test", &first).unwrap();
        // Another component numbers its own migrations.
        database
            .migrate("other", &[(1, "CREATE TABLE u (n INTEGER) STRICT")])
            .unwrap();
        let reopened = SqliteDatabase::open(directory.path().join("crm.db")).unwrap();
        let changed = reopened.migrate("test", &[(1, "CREATE TABLE t (m INTEGER) STRICT")]);
        assert!(
            matches!(changed, Err(StoreError::Migration { version: 1, .. })),
            "{changed:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_its_path() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("notes.txt");
        std::fs::write(
            &path,
            "not a database, just some text long enough to have a header",
        )
        .unwrap();
        let error = SqliteDatabase::open(&path).unwrap_err();
        assert!(
            matches!(&error, StoreError::Unavailable { reason, .. } if reason.contains("notes.txt")),
            "{error}"
        );
        let missing_directory = SqliteDatabase::open(directory.path().join("no/such/crm.db"));
        assert!(matches!(
            missing_directory,
            Err(StoreError::Unavailable { .. })
        ));
    }
}
