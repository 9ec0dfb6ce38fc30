//! Carrying a tenant's subject keys and shredding marks from one key store to another, for
//! [`copy_subject_keys`](crate::copy_subject_keys): encrypted fields copied without their
//! keys could never be read, and a shredded subject must stay shredded wherever its events go.

use std::collections::BTreeMap;
use std::future::Future;

use super::{CryptoError, SubjectId, SubjectKey, SubjectKeyStore};
use crate::TenantId;

/// One subject of a tenant as a key store holds it, exported and imported as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectKeyRecord {
    /// The subject has this key.
    Key {
        /// The subject.
        subject: SubjectId,
        /// Its key (wiped when the record is dropped; `Debug` never shows it).
        key: SubjectKey,
    },
    /// The subject was shredded: it has no key and never gets one again.
    Shredded {
        /// The subject.
        subject: SubjectId,
    },
}

impl SubjectKeyRecord {
    /// The subject the record is about.
    pub fn subject(&self) -> &SubjectId {
        match self {
            Self::Key { subject, .. } | Self::Shredded { subject } => subject,
        }
    }
}

/// What one [`SubjectKeyTransfer::import_subject_keys`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyImportOutcome {
    /// Keys written.
    pub keys: u64,
    /// Subjects recorded as shredded (their key, if any, deleted).
    pub shredded: u64,
    /// Records the store already held as they are (the same key, or shredded), and keys of
    /// subjects the store holds as shredded (a shredding is for good).
    pub skipped: u64,
}

/// A key store whose keys and shredding marks can be exported and imported, to move a
/// tenant to another backend with its encrypted fields still readable (and its erased ones
/// still erased).
pub trait SubjectKeyTransfer: SubjectKeyStore {
    /// Up to `limit` of the tenant's subjects after `after` (`None`: from the first), in the
    /// store's order of subject ids: each with its key, or as shredded when it has a
    /// shredding mark (which wins over a key row, should both be there).
    fn export_subject_keys(
        &self,
        tenant: &TenantId,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<SubjectKeyRecord>, CryptoError>> + Send;

    /// Imports `records` into `tenant` in one transaction, all or nothing, in the same lock
    /// as key creation and shredding:
    /// - a key is stored unless the subject has it already (skipped) or is shredded here
    ///   (skipped: a shredding is for good); a subject with another key is
    ///   [`CryptoError::KeyConflict`], and nothing of the batch is imported;
    /// - a shredded subject's key, if it has one here, is deleted and the subject recorded as
    ///   shredded, unless it is already (skipped).
    fn import_subject_keys(
        &self,
        tenant: &TenantId,
        records: &[SubjectKeyRecord],
    ) -> impl Future<Output = Result<KeyImportOutcome, CryptoError>> + Send;
}

/// A shared key store moves keys like the store it shares.
impl<K: SubjectKeyTransfer> SubjectKeyTransfer for std::sync::Arc<K> {
    fn export_subject_keys(
        &self,
        tenant: &TenantId,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<SubjectKeyRecord>, CryptoError>> + Send {
        K::export_subject_keys(self, tenant, after, limit)
    }

    fn import_subject_keys(
        &self,
        tenant: &TenantId,
        records: &[SubjectKeyRecord],
    ) -> impl Future<Output = Result<KeyImportOutcome, CryptoError>> + Send {
        K::import_subject_keys(self, tenant, records)
    }
}

/// What a key store holds of one subject, as an import sees it.
#[derive(Debug, Clone)]
pub(crate) enum Held {
    Key(SubjectKey),
    Shredded,
}

/// What an import writes: keys to store, then subjects to shred (key deleted, mark recorded).
#[derive(Debug, Default)]
pub(crate) struct KeyImportPlan {
    pub(crate) keys: Vec<(SubjectId, SubjectKey)>,
    pub(crate) shredded: Vec<SubjectId>,
    pub(crate) outcome: KeyImportOutcome,
}

/// Decides each record against what the store holds (`held`: every subject of the records
/// the store knows; see [`SubjectKeyTransfer::import_subject_keys`]).
pub(crate) fn plan_key_import(
    tenant: &TenantId,
    records: &[SubjectKeyRecord],
    mut held: BTreeMap<SubjectId, Held>,
) -> Result<KeyImportPlan, CryptoError> {
    let mut plan = KeyImportPlan::default();
    for record in records {
        let subject = record.subject();
        match (record, held.get(subject)) {
            (
                SubjectKeyRecord::Key { .. } | SubjectKeyRecord::Shredded { .. },
                Some(Held::Shredded),
            ) => {
                plan.outcome.skipped += 1;
            }
            (SubjectKeyRecord::Key { key, .. }, Some(Held::Key(stored))) => {
                if stored != key {
                    return Err(CryptoError::KeyConflict {
                        tenant: tenant.clone(),
                        subject: subject.clone(),
                    });
                }
                plan.outcome.skipped += 1;
            }
            (SubjectKeyRecord::Key { key, .. }, None) => {
                held.insert(subject.clone(), Held::Key(key.clone()));
                plan.keys.push((subject.clone(), key.clone()));
                plan.outcome.keys += 1;
            }
            (SubjectKeyRecord::Shredded { .. }, Some(Held::Key(_)) | None) => {
                held.insert(subject.clone(), Held::Shredded);
                // A key this batch stored first goes with the shredding.
                let before = plan.keys.len();
                plan.keys.retain(|(stored, _)| stored != subject);
                if plan.keys.len() < before {
                    plan.outcome.keys -= 1;
                }
                plan.shredded.push(subject.clone());
                plan.outcome.shredded += 1;
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn subject(name: &str) -> SubjectId {
        SubjectId::new(name).unwrap()
    }

    fn key(byte: u8) -> SubjectKey {
        SubjectKey::from_stored_bytes(&tenant(), &subject("s"), &[byte; super::super::KEY_LEN])
            .unwrap()
    }

    #[test]
    fn a_shredding_wins_over_a_key_in_either_store() {
        let held = BTreeMap::from([(subject("gone"), Held::Shredded)]);
        let records = [
            SubjectKeyRecord::Key {
                subject: subject("gone"),
                key: key(1),
            },
            SubjectKeyRecord::Key {
                subject: subject("later-gone"),
                key: key(2),
            },
            SubjectKeyRecord::Shredded {
                subject: subject("later-gone"),
            },
        ];
        let plan = plan_key_import(&tenant(), &records, held).unwrap();
        assert!(plan.keys.is_empty());
        assert_eq!(plan.shredded, [subject("later-gone")]);
        assert_eq!(
            plan.outcome,
            KeyImportOutcome {
                keys: 0,
                shredded: 1,
                skipped: 1
            }
        );
    }

    #[test]
    fn another_key_for_a_subject_is_a_conflict() {
        let held = BTreeMap::from([(subject("ada"), Held::Key(key(1)))]);
        let same = [SubjectKeyRecord::Key {
            subject: subject("ada"),
            key: key(1),
        }];
        assert_eq!(
            plan_key_import(&tenant(), &same, held.clone())
                .unwrap()
                .outcome
                .skipped,
            1
        );
        let other = [SubjectKeyRecord::Key {
            subject: subject("ada"),
            key: key(2),
        }];
        assert!(matches!(
            plan_key_import(&tenant(), &other, held),
            Err(CryptoError::KeyConflict { .. })
        ));
    }
}
