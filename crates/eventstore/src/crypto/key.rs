//! Subject keys and the port of the stores that keep them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use zeroize::Zeroize;

use super::{CryptoError, SubjectId};
use crate::TenantId;

/// Length in bytes of a [`SubjectKey`] (256 bits).
pub const KEY_LEN: usize = 32;

/// A data subject's 256-bit secret key for XChaCha20-Poly1305.
///
/// Its bytes are wiped when it is dropped, and `Debug` never prints them. Clones are
/// independent copies, each wiped on its own drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectKey([u8; KEY_LEN]);

impl SubjectKey {
    /// Draws a fresh key from the operating system's random number generator.
    ///
    /// Fails with [`CryptoError::Randomness`] if the generator fails; never panics.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0_u8; KEY_LEN];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|error| CryptoError::Randomness(error.to_string()))?;
        let key = Self(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// Rebuilds a key from bytes a key store kept, for the subject named (used in the error).
    ///
    /// Fails with [`CryptoError::CorruptKey`] unless `bytes` holds exactly [`KEY_LEN`] bytes.
    pub fn from_stored_bytes(
        tenant: &TenantId,
        subject: &SubjectId,
        bytes: &[u8],
    ) -> Result<Self, CryptoError> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::CorruptKey {
            tenant: tenant.clone(),
            subject: subject.clone(),
            length: bytes.len(),
        })?;
        Ok(Self(array))
    }

    /// The key's raw bytes, for a key store to persist. Handle with care: whoever holds
    /// them can read the subject's fields until the key is shredded.
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Drop for SubjectKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SubjectKey(<redacted>)")
    }
}

/// What a call to [`SubjectKeyStore::shred`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShredOutcome {
    /// This call shredded the subject: its key (if it had one) is deleted and the subject is
    /// recorded as shredded.
    Shredded,
    /// The subject had been shredded before; nothing changed.
    AlreadyShredded,
}

/// The port of the stores that keep one secret key per (tenant, data subject).
///
/// Subjects are named per tenant: the same [`SubjectId`] in two tenants is two subjects
/// with two keys.
///
/// Contract, the same for every implementation:
/// - [`encryption_key`](Self::encryption_key) returns the subject's key, creating a random
///   one on first use. Concurrent first uses end with one key. A shredded subject is refused
///   with [`CryptoError::SubjectShredded`], and no interleaving with
///   [`shred`](Self::shred) leaves a key behind for a shredded subject.
/// - [`decryption_key`](Self::decryption_key) returns `Some(key)` while the subject has one,
///   `None` once it is shredded, and [`CryptoError::KeyNotFound`] for a subject that has
///   neither (nobody erased it, so its absence is a fault, not an erasure).
/// - [`shred`](Self::shred) deletes the key and records the subject as shredded, atomically
///   and idempotently; shredding a subject that never had a key records it all the same.
///
/// The methods return `Send` futures so they can be awaited inside spawned tasks.
pub trait SubjectKeyStore: Send + Sync {
    /// Returns the subject's key, creating it on first use; refuses a shredded subject.
    fn encryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> impl Future<Output = Result<SubjectKey, CryptoError>> + Send;

    /// Returns the subject's key, `None` once shredded, an error if it never had one.
    fn decryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> impl Future<Output = Result<Option<SubjectKey>, CryptoError>> + Send;

    /// [`decryption_key`](Self::decryption_key) for several subjects at once: each subject
    /// mapped to its key, or to `None` once shredded; a subject with neither is
    /// [`CryptoError::KeyNotFound`]. Backends override it to answer in one round trip.
    fn decryption_keys(
        &self,
        tenant: &TenantId,
        subjects: &BTreeSet<SubjectId>,
    ) -> impl Future<Output = Result<BTreeMap<SubjectId, Option<SubjectKey>>, CryptoError>> + Send
    {
        async move {
            let mut keys = BTreeMap::new();
            for subject in subjects {
                keys.insert(subject.clone(), self.decryption_key(tenant, subject).await?);
            }
            Ok(keys)
        }
    }

    /// Deletes the subject's key for good and records the subject as shredded.
    fn shred(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> impl Future<Output = Result<ShredOutcome, CryptoError>> + Send;
}

/// A shared key store is a key store: several readers and writers can hold one in an `Arc`.
impl<K: SubjectKeyStore> SubjectKeyStore for std::sync::Arc<K> {
    fn encryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> impl Future<Output = Result<SubjectKey, CryptoError>> + Send {
        K::encryption_key(self, tenant, subject)
    }

    fn decryption_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> impl Future<Output = Result<Option<SubjectKey>, CryptoError>> + Send {
        K::decryption_key(self, tenant, subject)
    }

    fn decryption_keys(
        &self,
        tenant: &TenantId,
        subjects: &BTreeSet<SubjectId>,
    ) -> impl Future<Output = Result<BTreeMap<SubjectId, Option<SubjectKey>>, CryptoError>> + Send
    {
        K::decryption_keys(self, tenant, subjects)
    }

    fn shred(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> impl Future<Output = Result<ShredOutcome, CryptoError>> + Send {
        K::shred(self, tenant, subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn subject() -> SubjectId {
        SubjectId::new("party-1").unwrap()
    }

    #[test]
    fn generated_keys_differ() {
        let first = SubjectKey::generate().unwrap();
        let second = SubjectKey::generate().unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SubjectKey::from_stored_bytes(&tenant(), &subject(), &[0xAB; KEY_LEN]).unwrap();
        assert_eq!(format!("{key:?}"), "SubjectKey(<redacted>)");
    }

    #[test]
    fn a_stored_key_of_the_wrong_length_is_corrupt() {
        let error = SubjectKey::from_stored_bytes(&tenant(), &subject(), &[1; 31]).unwrap_err();
        assert!(
            matches!(error, CryptoError::CorruptKey { length: 31, .. }),
            "{error}"
        );
    }
}
