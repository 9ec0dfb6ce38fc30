//! The one error type of crypto-shredding.

use super::SubjectId;
use crate::TenantId;

/// Everything that can go wrong while keeping subject keys or encrypting and decrypting fields.
///
/// Each variant carries the values a caller needs to act on it. None of them is ever used to
/// mean "erased": a field whose key was shredded decrypts to the erased marker instead (see
/// [`erased_marker`](super::erased_marker)), so an error always means something is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The subject was shredded: it gets no new key, so an erased person cannot come back
    /// through a later event.
    #[error("subject {subject} of tenant {tenant} has been shredded; no new key is issued for it")]
    SubjectShredded {
        /// The tenant the subject belongs to.
        tenant: TenantId,
        /// The shredded subject.
        subject: SubjectId,
    },

    /// A subject id is empty, too long or holds a NUL character (see [`SubjectId::new`]).
    #[error("invalid subject id {subject:?}: it {reason}")]
    InvalidSubject {
        /// The id as given (its first 64 characters).
        subject: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An envelope names a subject for which the key store holds neither a key nor a
    /// shredding record: the key store lost data, or the payload is read under the wrong
    /// tenant. Reported rather than shown as erased, since nobody erased it.
    #[error("no key and no shredding record for subject {subject} of tenant {tenant}")]
    KeyNotFound {
        /// The tenant the payload was read under.
        tenant: TenantId,
        /// The subject named by the envelope.
        subject: SubjectId,
    },

    /// A ciphertext failed authentication: it was altered, or moved to another field,
    /// subject or tenant than the one it was sealed for.
    #[error(
        "encrypted field {path:?} of subject {subject} failed authentication (altered or moved)"
    )]
    Tampered {
        /// JSON pointer of the field where the envelope was found.
        path: String,
        /// The subject named by the envelope.
        subject: SubjectId,
    },

    /// An object that claims to be an envelope (it has a `"$enc"` member) is not a
    /// well-formed one.
    #[error("malformed encrypted field at {path:?}: {reason}")]
    MalformedEnvelope {
        /// JSON pointer of the malformed envelope.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An envelope bound to the event that carries it (format `xc20p2`) was opened without
    /// that event's id: read it with [`decrypt_event_fields`](super::decrypt_event_fields).
    #[error("encrypted field {path:?} is bound to its event; decrypt it with the event's id")]
    EventBindingRequired {
        /// JSON pointer of the field.
        path: String,
    },

    /// A field to encrypt is named by neither a JSON pointer (`/a/b`) nor a non-empty
    /// top-level member name.
    #[error("invalid field to encrypt {field:?}: {reason}")]
    InvalidField {
        /// The field as the caller gave it.
        field: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A plaintext part of the payload uses a member name reserved for envelopes and erased
    /// markers (`"$enc"`, `"$erased"`); storing it would make the payload ambiguous on read.
    #[error("payload member at {path:?} uses a name reserved for encrypted fields")]
    ReservedMember {
        /// JSON pointer of the object holding the reserved member.
        path: String,
    },

    /// An imported key differs from the key the store already holds for the subject
    /// ([`SubjectKeyTransfer::import_subject_keys`](super::SubjectKeyTransfer::import_subject_keys)):
    /// the two stores encrypted the subject's fields under different keys. Nothing of the
    /// batch was imported.
    #[error(
        "subject {subject} of tenant {tenant} already has another key here; nothing was imported"
    )]
    KeyConflict {
        /// The tenant the subject belongs to.
        tenant: TenantId,
        /// The subject with two keys.
        subject: SubjectId,
    },

    /// A stored key does not have the length of a 256-bit key.
    #[error(
        "stored key of subject {subject} of tenant {tenant} is corrupt: {length} bytes instead of 32"
    )]
    CorruptKey {
        /// The tenant the subject belongs to.
        tenant: TenantId,
        /// The subject whose key is corrupt.
        subject: SubjectId,
        /// The length found.
        length: usize,
    },

    /// A ciphertext authenticated but its plaintext is not JSON. Only a bug in the writer
    /// can cause this, never an outside party, since they cannot forge an authentic ciphertext.
    #[error("encrypted field {path:?} decrypted to something that is not JSON")]
    CorruptPlaintext {
        /// JSON pointer of the field.
        path: String,
    },

    /// The field could not be encrypted: its value nests deeper than
    /// [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH), or the AEAD refused it (beyond its length
    /// limit).
    #[error("field {path:?} could not be encrypted")]
    EncryptionFailed {
        /// JSON pointer of the field.
        path: String,
    },

    /// The operating system's random number generator failed; no key or nonce is made
    /// without it.
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(String),

    /// The backend holding the keys failed (connection, query, pool). The source is boxed so
    /// the key store's port stays free of any backend's types.
    #[error("subject key store failed while {operation}")]
    Storage {
        /// What the store was doing, in words.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
