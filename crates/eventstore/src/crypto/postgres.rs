//! The PostgreSQL subject key store, over the tables `subject_keys` and `shredded_subjects`.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::{GenericClient, Pool};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{
    CryptoError, Held, KeyImportOutcome, ShredOutcome, SubjectId, SubjectKey, SubjectKeyRecord,
    SubjectKeyStore, SubjectKeyTransfer, plan_key_import,
};
use crate::TenantId;

/// The key and the shredding record of a subject, read in one snapshot.
const SUBJECT_STATE: &str = "SELECT (SELECT key FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2), \
            EXISTS (SELECT 1 FROM shredded_subjects WHERE tenant_id = $1 AND subject_id = $2)";

/// The keys and shredding records of several subjects, read in one snapshot.
const SUBJECT_STATES: &str = "SELECT wanted.subject_id, keys.key, shredded.subject_id IS NOT NULL \
            FROM unnest($2::text[]) AS wanted (subject_id) \
            LEFT JOIN subject_keys AS keys \
                ON keys.tenant_id = $1 AND keys.subject_id = wanted.subject_id \
            LEFT JOIN shredded_subjects AS shredded \
                ON shredded.tenant_id = $1 AND shredded.subject_id = wanted.subject_id";

/// A subject's key, created on first use unless the subject was shredded (migration 0006).
const SUBJECT_KEY: &str = "SELECT eventstore_subject_key($1, $2, $3, $4)";

/// Serializes key creation and shredding of one subject, across sessions.
const LOCK_SUBJECT: &str = "SELECT pg_advisory_xact_lock($1)";

const DELETE_KEY: &str = "DELETE FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2";

const RECORD_SHREDDING: &str = "INSERT INTO shredded_subjects (tenant_id, subject_id) VALUES ($1, $2) \
            ON CONFLICT (tenant_id, subject_id) DO NOTHING";

/// A page of a tenant's subjects after $2 (at most $3), each with its key (if any) and whether
/// it was shredded.
const EXPORT_SUBJECTS: &str = "SELECT subjects.subject_id, keys.key, shredded.subject_id IS NOT NULL \
            FROM (SELECT subject_id FROM subject_keys WHERE tenant_id = $1 AND subject_id > $2 \
                  UNION SELECT subject_id FROM shredded_subjects \
                  WHERE tenant_id = $1 AND subject_id > $2) AS subjects \
            LEFT JOIN subject_keys AS keys \
                ON keys.tenant_id = $1 AND keys.subject_id = subjects.subject_id \
            LEFT JOIN shredded_subjects AS shredded \
                ON shredded.tenant_id = $1 AND shredded.subject_id = subjects.subject_id \
            ORDER BY subjects.subject_id LIMIT $3";

/// Takes the subject locks $1, in the order given.
const LOCK_SUBJECTS: &str = "SELECT pg_advisory_xact_lock(lock) FROM unnest($1::int8[]) AS lock";

const INSERT_KEYS: &str = "INSERT INTO subject_keys (tenant_id, subject_id, key) \
            SELECT $1, subject_id, key FROM unnest($2::text[], $3::bytea[]) AS k (subject_id, key)";

const DELETE_KEYS: &str =
    "DELETE FROM subject_keys WHERE tenant_id = $1 AND subject_id = ANY($2::text[])";

const RECORD_SHREDDINGS: &str = "INSERT INTO shredded_subjects (tenant_id, subject_id) \
            SELECT $1, subject_id FROM unnest($2::text[]) AS s (subject_id) \
            ON CONFLICT (tenant_id, subject_id) DO NOTHING";

/// A [`SubjectKeyStore`] in PostgreSQL, over a deadpool-postgres [`Pool`].
///
/// It needs the tables `subject_keys` and `shredded_subjects` of the event store's
/// migrations. Keys are stored as they are, next to the events, so this store protects
/// against reading erased data from the live database and from dumps taken after the
/// shredding, not against anyone holding an older copy: see the [module
/// documentation](super) for what shredding cannot reach.
///
/// Key creation and shredding of a subject take a transaction-level advisory lock derived
/// from (tenant, subject), so a key created concurrently with a shredding either exists
/// before it (and is deleted by it) or is refused after it. Reading an existing key takes no
/// lock. Statements are prepared once per pooled connection.
#[derive(Clone)]
pub struct PostgresSubjectKeyStore {
    pool: Pool,
}

impl PostgresSubjectKeyStore {
    /// Creates a store that takes its connections from `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn client(
        &self,
        operation: &'static str,
    ) -> Result<deadpool_postgres::Object, CryptoError> {
        self.pool
            .get()
            .await
            .map_err(|error| storage(operation, error))
    }
}

impl std::fmt::Debug for PostgresSubjectKeyStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PostgresSubjectKeyStore")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl SubjectKeyStore for PostgresSubjectKeyStore {
    async fn encryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<SubjectKey, CryptoError> {
        const OPERATION: &str = "creating a subject key";
        // One call does it all (migration 0006): an existing key is returned; otherwise,
        // under the subject's lock, a shredded subject gets none and a new key is stored.
        let candidate = SubjectKey::generate()?;
        let client = self.client(OPERATION).await?;
        let statement = client
            .prepare_cached(SUBJECT_KEY)
            .await
            .map_err(|error| storage(OPERATION, error))?;
        let candidate_bytes: &[u8] = candidate.expose_bytes();
        let row = client
            .query_one(
                &statement,
                &[
                    &tenant.as_str(),
                    &subject.as_str(),
                    &lock_id(tenant, subject),
                    &candidate_bytes,
                ],
            )
            .await
            .map_err(|error| storage(OPERATION, error))?;
        let stored: Option<Vec<u8>> = row.try_get(0).map_err(|error| storage(OPERATION, error))?;
        match stored.map(Zeroizing::new) {
            Some(bytes) => SubjectKey::from_stored_bytes(tenant, subject, &bytes),
            None => Err(shredded(tenant, subject)),
        }
    }

    async fn decryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<Option<SubjectKey>, CryptoError> {
        const OPERATION: &str = "reading a subject key";
        let client = self.client(OPERATION).await?;
        match subject_state(&client, tenant, subject, OPERATION).await? {
            (_, true) => Ok(None),
            (Some(bytes), false) => {
                SubjectKey::from_stored_bytes(tenant, subject, &bytes).map(Some)
            }
            (None, false) => Err(CryptoError::KeyNotFound {
                tenant: tenant.clone(),
                subject: subject.clone(),
            }),
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
        let client = self.client(OPERATION).await?;
        let statement = client
            .prepare_cached(SUBJECT_STATES)
            .await
            .map_err(|error| storage(OPERATION, error))?;
        let wanted: Vec<&str> = subjects.iter().map(SubjectId::as_str).collect();
        let rows = client
            .query(&statement, &[&tenant.as_str(), &wanted])
            .await
            .map_err(|error| storage(OPERATION, error))?;
        let mut keys = BTreeMap::new();
        for row in rows {
            let name: String = row.try_get(0).map_err(|error| storage(OPERATION, error))?;
            let bytes: Option<Vec<u8>> =
                row.try_get(1).map_err(|error| storage(OPERATION, error))?;
            let bytes = bytes.map(Zeroizing::new);
            let shredded: bool = row.try_get(2).map_err(|error| storage(OPERATION, error))?;
            let subject = SubjectId::new(&name)?;
            let key = match (bytes, shredded) {
                (_, true) => None,
                (Some(bytes), false) => {
                    Some(SubjectKey::from_stored_bytes(tenant, &subject, &bytes)?)
                }
                (None, false) => {
                    return Err(CryptoError::KeyNotFound {
                        tenant: tenant.clone(),
                        subject,
                    });
                }
            };
            keys.insert(subject, key);
        }
        Ok(keys)
    }

    async fn shred(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<ShredOutcome, CryptoError> {
        const OPERATION: &str = "shredding a subject";
        let mut client = self.client(OPERATION).await?;
        let transaction = client
            .transaction()
            .await
            .map_err(|error| storage(OPERATION, error))?;
        transaction
            .execute(LOCK_SUBJECT, &[&lock_id(tenant, subject)])
            .await
            .map_err(|error| storage(OPERATION, error))?;
        transaction
            .execute(DELETE_KEY, &[&tenant.as_str(), &subject.as_str()])
            .await
            .map_err(|error| storage(OPERATION, error))?;
        let recorded = transaction
            .execute(RECORD_SHREDDING, &[&tenant.as_str(), &subject.as_str()])
            .await
            .map_err(|error| storage(OPERATION, error))?;
        transaction
            .commit()
            .await
            .map_err(|error| storage(OPERATION, error))?;
        Ok(if recorded == 1 {
            ShredOutcome::Shredded
        } else {
            ShredOutcome::AlreadyShredded
        })
    }
}

impl SubjectKeyTransfer for PostgresSubjectKeyStore {
    async fn export_subject_keys(
        &self,
        tenant: &TenantId,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<Vec<SubjectKeyRecord>, CryptoError> {
        const OPERATION: &str = "exporting subject keys";
        let client = self.client(OPERATION).await?;
        // Subject ids are never empty, so "" is before the first.
        let after = after.map_or("", SubjectId::as_str);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(EXPORT_SUBJECTS, &[&tenant.as_str(), &after, &limit])
            .await
            .map_err(|error| storage(OPERATION, error))?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get(0).map_err(|error| storage(OPERATION, error))?;
                let bytes: Option<Vec<u8>> =
                    row.try_get(1).map_err(|error| storage(OPERATION, error))?;
                let bytes = bytes.map(Zeroizing::new);
                let shredded: bool = row.try_get(2).map_err(|error| storage(OPERATION, error))?;
                let subject = SubjectId::new(&name)?;
                Ok(match bytes {
                    Some(bytes) if !shredded => SubjectKeyRecord::Key {
                        key: SubjectKey::from_stored_bytes(tenant, &subject, &bytes)?,
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
        let fail = |error| storage(OPERATION, error);
        if records.is_empty() {
            return Ok(KeyImportOutcome::default());
        }
        let mut client = self.client(OPERATION).await?;
        let transaction = client.transaction().await.map_err(fail)?;
        // The locks key creation and shredding take, in one order, so two imports never
        // wait for each other in a circle.
        let mut locks: Vec<i64> = records
            .iter()
            .map(|record| lock_id(tenant, record.subject()))
            .collect();
        locks.sort_unstable();
        locks.dedup();
        transaction
            .execute(LOCK_SUBJECTS, &[&locks])
            .await
            .map_err(fail)?;
        let wanted: Vec<&str> = records
            .iter()
            .map(|record| record.subject().as_str())
            .collect();
        let rows = transaction
            .query(SUBJECT_STATES, &[&tenant.as_str(), &wanted])
            .await
            .map_err(fail)?;
        let mut held = BTreeMap::new();
        for row in rows {
            let name: String = row.try_get(0).map_err(fail)?;
            let bytes: Option<Vec<u8>> = row.try_get(1).map_err(fail)?;
            let bytes = bytes.map(Zeroizing::new);
            let shredded: bool = row.try_get(2).map_err(fail)?;
            let subject = SubjectId::new(&name)?;
            let state = match bytes {
                _ if shredded => Held::Shredded,
                Some(bytes) => Held::Key(SubjectKey::from_stored_bytes(tenant, &subject, &bytes)?),
                None => continue,
            };
            held.insert(subject, state);
        }
        let plan = plan_key_import(tenant, records, held)?;
        if !plan.keys.is_empty() {
            let subjects: Vec<&str> = plan
                .keys
                .iter()
                .map(|(subject, _)| subject.as_str())
                .collect();
            let keys: Vec<&[u8]> = plan
                .keys
                .iter()
                .map(|(_, key)| key.expose_bytes().as_slice())
                .collect();
            transaction
                .execute(INSERT_KEYS, &[&tenant.as_str(), &subjects, &keys])
                .await
                .map_err(fail)?;
        }
        if !plan.shredded.is_empty() {
            let subjects: Vec<&str> = plan.shredded.iter().map(SubjectId::as_str).collect();
            transaction
                .execute(DELETE_KEYS, &[&tenant.as_str(), &subjects])
                .await
                .map_err(fail)?;
            transaction
                .execute(RECORD_SHREDDINGS, &[&tenant.as_str(), &subjects])
                .await
                .map_err(fail)?;
        }
        transaction.commit().await.map_err(fail)?;
        Ok(plan.outcome)
    }
}

/// The subject's stored key (if any) and whether it was shredded, in one snapshot.
async fn subject_state(
    client: &impl GenericClient,
    tenant: &TenantId,
    subject: &SubjectId,
    operation: &'static str,
) -> Result<(Option<Zeroizing<Vec<u8>>>, bool), CryptoError> {
    let statement = client
        .prepare_cached(SUBJECT_STATE)
        .await
        .map_err(|error| storage(operation, error))?;
    let row = client
        .query_one(&statement, &[&tenant.as_str(), &subject.as_str()])
        .await
        .map_err(|error| storage(operation, error))?;
    let key: Option<Vec<u8>> = row.try_get(0).map_err(|error| storage(operation, error))?;
    let shredded: bool = row.try_get(1).map_err(|error| storage(operation, error))?;
    Ok((key.map(Zeroizing::new), shredded))
}

/// A 64-bit advisory lock id for the subject: the first bytes of a hash of its
/// length-prefixed tenant and subject. Two subjects sharing an id only wait for each other.
/// The advisory lock id of a subject's key creation and shredding.
pub(crate) fn lock_id(tenant: &TenantId, subject: &SubjectId) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(b"crm-eventstore/subject-key/");
    for part in [tenant.as_str(), subject.as_str()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

fn shredded(tenant: &TenantId, subject: &SubjectId) -> CryptoError {
    CryptoError::SubjectShredded {
        tenant: tenant.clone(),
        subject: subject.clone(),
    }
}

fn storage(
    operation: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> CryptoError {
    CryptoError::Storage {
        operation,
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ids_tell_tenant_and_subject_boundaries_apart() {
        let lock = |tenant: &str, subject: &str| {
            lock_id(
                &TenantId::new(tenant).unwrap(),
                &SubjectId::new(subject).unwrap(),
            )
        };
        assert_ne!(lock("ab", "c"), lock("a", "bc"));
        assert_ne!(lock("acme", "party-1"), lock("acme", "party-2"));
        assert_eq!(lock("acme", "party-1"), lock("acme", "party-1"));
    }
}
