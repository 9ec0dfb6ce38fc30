//! The in-memory subject key store, the twin of the PostgreSQL one for tests and embedding.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    CryptoError, Held, KeyImportOutcome, ShredOutcome, SubjectId, SubjectKey, SubjectKeyRecord,
    SubjectKeyStore, SubjectKeyTransfer, plan_key_import,
};
use crate::TenantId;

/// What the store knows of one subject.
enum SubjectEntry {
    Keyed(SubjectKey),
    Shredded,
}

/// A [`SubjectKeyStore`] that keeps keys in process memory, with the same contract as
/// [`PostgresSubjectKeyStore`](super::PostgresSubjectKeyStore).
///
/// Keys live as long as the store and are wiped when shredded or when the store is dropped.
/// Every operation takes one lock, so each is atomic.
#[derive(Default)]
pub struct MemorySubjectKeyStore {
    subjects: Mutex<HashMap<(TenantId, SubjectId), SubjectEntry>>,
}

impl MemorySubjectKeyStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn subjects(&self) -> MutexGuard<'_, HashMap<(TenantId, SubjectId), SubjectEntry>> {
        // No code path panics while holding the lock, and each operation leaves the map
        // consistent at every step, so a poisoned lock still guards valid data.
        self.subjects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemorySubjectKeyStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MemorySubjectKeyStore")
            .field("subjects", &self.subjects().len())
            .finish()
    }
}

impl SubjectKeyStore for MemorySubjectKeyStore {
    async fn encryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<SubjectKey, CryptoError> {
        let mut subjects = self.subjects();
        let id = (tenant.clone(), subject.clone());
        match subjects.get(&id) {
            Some(SubjectEntry::Keyed(key)) => Ok(key.clone()),
            Some(SubjectEntry::Shredded) => Err(CryptoError::SubjectShredded {
                tenant: id.0,
                subject: id.1,
            }),
            None => {
                let key = SubjectKey::generate()?;
                subjects.insert(id, SubjectEntry::Keyed(key.clone()));
                Ok(key)
            }
        }
    }

    async fn decryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<Option<SubjectKey>, CryptoError> {
        let id = (tenant.clone(), subject.clone());
        match self.subjects().get(&id) {
            Some(SubjectEntry::Keyed(key)) => Ok(Some(key.clone())),
            Some(SubjectEntry::Shredded) => Ok(None),
            None => Err(CryptoError::KeyNotFound {
                tenant: id.0,
                subject: id.1,
            }),
        }
    }

    async fn shred(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<ShredOutcome, CryptoError> {
        let id = (tenant.clone(), subject.clone());
        // Replacing the entry drops the key, and `SubjectKey`'s drop wipes it.
        match self.subjects().insert(id, SubjectEntry::Shredded) {
            Some(SubjectEntry::Shredded) => Ok(ShredOutcome::AlreadyShredded),
            Some(SubjectEntry::Keyed(_)) | None => Ok(ShredOutcome::Shredded),
        }
    }
}

impl SubjectKeyTransfer for MemorySubjectKeyStore {
    async fn export_subject_keys(
        &self,
        tenant: &TenantId,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<Vec<SubjectKeyRecord>, CryptoError> {
        let subjects = self.subjects();
        let mut page: Vec<(&SubjectId, &SubjectEntry)> = subjects
            .iter()
            .filter(|((owner, subject), _)| {
                owner == tenant && after.is_none_or(|after| subject > after)
            })
            .map(|((_, subject), entry)| (subject, entry))
            .collect();
        page.sort_unstable_by(|left, right| left.0.cmp(right.0));
        Ok(page
            .into_iter()
            .take(limit)
            .map(|(subject, entry)| match entry {
                SubjectEntry::Keyed(key) => SubjectKeyRecord::Key {
                    subject: subject.clone(),
                    key: key.clone(),
                },
                SubjectEntry::Shredded => SubjectKeyRecord::Shredded {
                    subject: subject.clone(),
                },
            })
            .collect())
    }

    async fn import_subject_keys(
        &self,
        tenant: &TenantId,
        records: &[SubjectKeyRecord],
    ) -> Result<KeyImportOutcome, CryptoError> {
        let mut subjects = self.subjects();
        let held: BTreeMap<SubjectId, Held> = records
            .iter()
            .filter_map(|record| {
                let id = (tenant.clone(), record.subject().clone());
                let held = match subjects.get(&id)? {
                    SubjectEntry::Keyed(key) => Held::Key(key.clone()),
                    SubjectEntry::Shredded => Held::Shredded,
                };
                Some((id.1, held))
            })
            .collect();
        let plan = plan_key_import(tenant, records, held)?;
        for (subject, key) in plan.keys {
            subjects.insert((tenant.clone(), subject), SubjectEntry::Keyed(key));
        }
        for subject in plan.shredded {
            // Replacing the entry drops the key, and `SubjectKey`'s drop wipes it.
            subjects.insert((tenant.clone(), subject), SubjectEntry::Shredded);
        }
        Ok(plan.outcome)
    }
}
