//! The SQLite subject key store, over the tables `eventstore_subject_keys` and
//! `eventstore_shredded_subjects` (`migrations/sqlite/0002_subject_keys.sql`) in the event
//! store's file.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use rusqlite::{OptionalExtension, Transaction};
use zeroize::Zeroizing;

use super::{
    CryptoError, Held, KeyImportOutcome, ShredOutcome, SubjectId, SubjectKey, SubjectKeyRecord,
    SubjectKeyStore, SubjectKeyTransfer, plan_key_import,
};
use crate::sqlite::{SqliteDatabase, sqlite_error};
use crate::{StoreError, TenantId};

const SUBJECT_KEY: &str =
    "SELECT key FROM eventstore_subject_keys WHERE tenant_id = ?1 AND subject_id = ?2";

const IS_SHREDDED: &str =
    "SELECT 1 FROM eventstore_shredded_subjects WHERE tenant_id = ?1 AND subject_id = ?2";

const INSERT_KEY: &str = "INSERT INTO eventstore_subject_keys (tenant_id, subject_id, key, \
     created_at) VALUES (?1, ?2, ?3, ?4)";

const DELETE_KEY: &str =
    "DELETE FROM eventstore_subject_keys WHERE tenant_id = ?1 AND subject_id = ?2";

const RECORD_SHREDDING: &str = "INSERT INTO eventstore_shredded_subjects (tenant_id, \
     subject_id, shredded_at) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id, subject_id) DO NOTHING";

/// A page of a tenant's subjects after ?2 (at most ?3), each with its key (if any) and whether
/// it was shredded.
const EXPORT_SUBJECTS: &str = "SELECT subjects.subject_id, keys.key, \
     shredded.subject_id IS NOT NULL \
     FROM (SELECT subject_id FROM eventstore_subject_keys WHERE tenant_id = ?1 AND subject_id > ?2 \
           UNION SELECT subject_id FROM eventstore_shredded_subjects \
           WHERE tenant_id = ?1 AND subject_id > ?2) AS subjects \
     LEFT JOIN eventstore_subject_keys AS keys \
         ON keys.tenant_id = ?1 AND keys.subject_id = subjects.subject_id \
     LEFT JOIN eventstore_shredded_subjects AS shredded \
         ON shredded.tenant_id = ?1 AND shredded.subject_id = subjects.subject_id \
     ORDER BY subjects.subject_id LIMIT ?3";

/// A [`SubjectKeyStore`] in the SQLite file of the event store ([`SqliteDatabase`]), with the
/// same contract as [`PostgresSubjectKeyStore`](super::PostgresSubjectKeyStore).
///
/// Key creation and shredding are write transactions, which SQLite runs one at a time for the
/// whole file (across processes too), so a key created concurrently with a shredding either
/// exists before it (and is deleted by it) or is refused after it. Reading an existing key is
/// a read transaction beside the writer.
///
/// Shredding deletes the key row with `secure_delete` on (its bytes are overwritten with
/// zeros in the file) and then truncates the write-ahead log, which held the page as it was
/// when the key was written ([`SqliteDatabase::checkpoint_truncate`]; should a reader keep the
/// log busy, the next checkpoint overwrites it). Copies of the file taken before (backups,
/// snapshots of the volume) keep the key: see the [module documentation](super). Clones share
/// the database's connections.
#[derive(Debug, Clone)]
pub struct SqliteSubjectKeyStore {
    database: SqliteDatabase,
}

impl SqliteSubjectKeyStore {
    /// The key store in `database`, after applying the event store's pending migrations (the
    /// key tables are among them). [`SqliteStore::subject_keys`](crate::SqliteStore::subject_keys)
    /// gives one without this step.
    pub fn open(database: SqliteDatabase) -> Result<Self, StoreError> {
        crate::sqlite::migrate_store(&database)?;
        Ok(Self { database })
    }

    /// The key store in a database whose migrations have run.
    pub(crate) fn migrated(database: SqliteDatabase) -> Self {
        Self { database }
    }
}

/// The subject's key after storing `candidate` unless the subject has one: the stored key, or
/// `None` when the subject was shredded (then nothing is stored). Runs inside `transaction`,
/// which must hold the write lock.
pub(crate) fn claim_key_in(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    subject: &SubjectId,
    candidate: &SubjectKey,
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    if let Some(stored) = stored_key(transaction, tenant, subject)? {
        return Ok(Some(stored));
    }
    if is_shredded(transaction, tenant, subject)? {
        return Ok(None);
    }
    transaction
        .prepare_cached(INSERT_KEY)
        .and_then(|mut statement| {
            statement.execute((
                tenant.as_str(),
                subject.as_str(),
                candidate.expose_bytes().as_slice(),
                Utc::now().timestamp_micros(),
            ))
        })
        .map_err(|error| sqlite_error("storing a subject key", &error))?;
    Ok(Some(Zeroizing::new(candidate.expose_bytes().to_vec())))
}

fn stored_key(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    subject: &SubjectId,
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    transaction
        .prepare_cached(SUBJECT_KEY)
        .and_then(|mut statement| {
            statement
                .query_row((tenant.as_str(), subject.as_str()), |row| {
                    row.get::<_, Vec<u8>>(0)
                })
                .optional()
        })
        .map(|key| key.map(Zeroizing::new))
        .map_err(|error| sqlite_error("reading a subject key", &error))
}

fn is_shredded(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    subject: &SubjectId,
) -> Result<bool, StoreError> {
    transaction
        .prepare_cached(IS_SHREDDED)
        .and_then(|mut statement| statement.exists((tenant.as_str(), subject.as_str())))
        .map_err(|error| sqlite_error("reading a shredding record", &error))
}

/// What a read found of one subject.
enum Found {
    Key(Zeroizing<Vec<u8>>),
    Shredded,
    Nothing,
}

fn find(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    subject: &SubjectId,
) -> Result<Found, StoreError> {
    if is_shredded(transaction, tenant, subject)? {
        return Ok(Found::Shredded);
    }
    Ok(match stored_key(transaction, tenant, subject)? {
        Some(key) => Found::Key(key),
        None => Found::Nothing,
    })
}

fn storage(operation: &'static str) -> impl Fn(StoreError) -> CryptoError {
    move |error| CryptoError::Storage {
        operation,
        source: Box::new(error),
    }
}

/// A result carrying either error, to leave the closures run by the database.
enum Failure {
    Store(StoreError),
    Crypto(CryptoError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl Failure {
    fn into_crypto(self, operation: &'static str) -> CryptoError {
        match self {
            Self::Store(error) => storage(operation)(error),
            Self::Crypto(error) => error,
        }
    }
}

impl SubjectKeyStore for SqliteSubjectKeyStore {
    async fn encryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<SubjectKey, CryptoError> {
        const OPERATION: &str = "creating a subject key";
        let (tenant, subject) = (tenant.clone(), subject.clone());
        let candidate = SubjectKey::generate()?;
        // Most calls find the key: a read, beside the writer, answers them.
        let existing = {
            let (tenant, subject) = (tenant.clone(), subject.clone());
            self.database
                .read(move |transaction| stored_key(transaction, &tenant, &subject))
                .await
                .map_err(storage(OPERATION))?
        };
        let stored = if existing.is_some() {
            existing
        } else {
            let (tenant, subject) = (tenant.clone(), subject.clone());
            self.database
                .write(move |transaction| claim_key_in(transaction, &tenant, &subject, &candidate))
                .await
                .map_err(storage(OPERATION))?
        };
        match stored {
            Some(bytes) => SubjectKey::from_stored_bytes(&tenant, &subject, &bytes),
            None => Err(CryptoError::SubjectShredded { tenant, subject }),
        }
    }

    async fn decryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<Option<SubjectKey>, CryptoError> {
        const OPERATION: &str = "reading a subject key";
        let (tenant, subject) = (tenant.clone(), subject.clone());
        let found = {
            let (tenant, subject) = (tenant.clone(), subject.clone());
            self.database
                .read(move |transaction| find(transaction, &tenant, &subject))
                .await
                .map_err(storage(OPERATION))?
        };
        match found {
            Found::Shredded => Ok(None),
            Found::Key(bytes) => SubjectKey::from_stored_bytes(&tenant, &subject, &bytes).map(Some),
            Found::Nothing => Err(CryptoError::KeyNotFound { tenant, subject }),
        }
    }

    async fn decryption_keys(
        &self,
        tenant: &TenantId,
        subjects: &BTreeSet<SubjectId>,
    ) -> Result<BTreeMap<SubjectId, Option<SubjectKey>>, CryptoError> {
        const OPERATION: &str = "reading subject keys";
        if subjects.is_empty() {
            return Ok(BTreeMap::new());
        }
        let (tenant, subjects) = (tenant.clone(), subjects.clone());
        // One read transaction: every subject as of one committed state.
        self.database
            .read(move |transaction| {
                let mut keys = BTreeMap::new();
                for subject in subjects {
                    let key = match find(transaction, &tenant, &subject)? {
                        Found::Shredded => None,
                        Found::Key(bytes) => Some(
                            SubjectKey::from_stored_bytes(&tenant, &subject, &bytes)
                                .map_err(Failure::Crypto)?,
                        ),
                        Found::Nothing => {
                            return Err(Failure::Crypto(CryptoError::KeyNotFound {
                                tenant: tenant.clone(),
                                subject,
                            }));
                        }
                    };
                    keys.insert(subject, key);
                }
                Ok(keys)
            })
            .await
            .map_err(|failure: Failure| failure.into_crypto(OPERATION))
    }

    async fn shred(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<ShredOutcome, CryptoError> {
        const OPERATION: &str = "shredding a subject";
        let (tenant, subject) = (tenant.clone(), subject.clone());
        let database = self.database.clone();
        crate::sqlite::run_blocking(move || {
            let recorded = database.write_blocking(|transaction| {
                transaction
                    .prepare_cached(DELETE_KEY)
                    .and_then(|mut statement| {
                        statement.execute((tenant.as_str(), subject.as_str()))
                    })
                    .map_err(|error| sqlite_error("deleting a subject key", &error))?;
                transaction
                    .prepare_cached(RECORD_SHREDDING)
                    .and_then(|mut statement| {
                        statement.execute((
                            tenant.as_str(),
                            subject.as_str(),
                            Utc::now().timestamp_micros(),
                        ))
                    })
                    .map_err(|error| sqlite_error("recording a shredding", &error))
            })?;
            // The shredding is committed; the log still holds the page the key was written
            // to. Truncating it is best effort (a busy reader postpones it to the next
            // checkpoint), and never undoes the shredding.
            let _ = database.checkpoint_truncate();
            Ok(recorded)
        })
        .await
        .map_err(storage(OPERATION))
        .map(|recorded| {
            if recorded == 1 {
                ShredOutcome::Shredded
            } else {
                ShredOutcome::AlreadyShredded
            }
        })
    }
}

impl SubjectKeyTransfer for SqliteSubjectKeyStore {
    async fn export_subject_keys(
        &self,
        tenant: &TenantId,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<Vec<SubjectKeyRecord>, CryptoError> {
        const OPERATION: &str = "exporting subject keys";
        let tenant = tenant.clone();
        // Subject ids are never empty, so "" is before the first.
        let after = after.map_or_else(String::new, |after| after.as_str().to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .database
            .read(move |transaction| {
                transaction
                    .prepare_cached(EXPORT_SUBJECTS)
                    .and_then(|mut statement| {
                        statement
                            .query_map((tenant.as_str(), after.as_str(), limit), |row| {
                                Ok((
                                    row.get::<_, String>(0)?,
                                    row.get::<_, Option<Vec<u8>>>(1)?.map(Zeroizing::new),
                                    row.get::<_, bool>(2)?,
                                ))
                            })?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map(|rows| (tenant, rows))
                    .map_err(|error| sqlite_error("exporting subject keys", &error))
            })
            .await
            .map_err(storage(OPERATION))?;
        let (tenant, rows) = rows;
        rows.into_iter()
            .map(|(name, bytes, shredded)| {
                let subject = SubjectId::new(&name)?;
                Ok(match bytes {
                    Some(bytes) if !shredded => SubjectKeyRecord::Key {
                        key: SubjectKey::from_stored_bytes(&tenant, &subject, &bytes)?,
                        subject,
                    },
                    _ => SubjectKeyRecord::Shredded { subject },
                })
            })
            .collect()
    }

    async fn import_subject_keys(
        &self,
        tenant: &TenantId,
        records: &[SubjectKeyRecord],
    ) -> Result<KeyImportOutcome, CryptoError> {
        const OPERATION: &str = "importing subject keys";
        if records.is_empty() {
            return Ok(KeyImportOutcome::default());
        }
        let (tenant, records) = (tenant.clone(), records.to_vec());
        let database = self.database.clone();
        crate::sqlite::run_blocking(move || {
            let outcome = database.write_blocking(|transaction| {
                let mut held = BTreeMap::new();
                for record in &records {
                    let subject = record.subject();
                    let state = match find(transaction, &tenant, subject)? {
                        Found::Shredded => Held::Shredded,
                        Found::Key(bytes) => Held::Key(
                            SubjectKey::from_stored_bytes(&tenant, subject, &bytes)
                                .map_err(Failure::Crypto)?,
                        ),
                        Found::Nothing => continue,
                    };
                    held.insert(subject.clone(), state);
                }
                let plan = plan_key_import(&tenant, &records, held).map_err(Failure::Crypto)?;
                let now = Utc::now().timestamp_micros();
                for (subject, key) in &plan.keys {
                    transaction
                        .prepare_cached(INSERT_KEY)
                        .and_then(|mut statement| {
                            statement.execute((
                                tenant.as_str(),
                                subject.as_str(),
                                key.expose_bytes().as_slice(),
                                now,
                            ))
                        })
                        .map_err(|error| sqlite_error("storing a subject key", &error))?;
                }
                for subject in &plan.shredded {
                    transaction
                        .prepare_cached(DELETE_KEY)
                        .and_then(|mut statement| {
                            statement.execute((tenant.as_str(), subject.as_str()))
                        })
                        .map_err(|error| sqlite_error("deleting a subject key", &error))?;
                    transaction
                        .prepare_cached(RECORD_SHREDDING)
                        .and_then(|mut statement| {
                            statement.execute((tenant.as_str(), subject.as_str(), now))
                        })
                        .map_err(|error| sqlite_error("recording a shredding", &error))?;
                }
                Ok::<_, Failure>(plan.outcome)
            })?;
            if outcome.shredded > 0 {
                // As after a shredding: the log still holds the pages the deleted keys were
                // on. Best effort; never undoes the import.
                let _ = database.checkpoint_truncate();
            }
            Ok(outcome)
        })
        .await
        .map_err(|failure: Failure| failure.into_crypto(OPERATION))
    }
}
