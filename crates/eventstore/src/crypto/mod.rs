//! Crypto-shredding: per-data-subject keys and field encryption, so that deleting a subject's
//! key makes their personal fields unreadable for good while events and hash chains stay intact.
//!
//! # How it fits
//! - A [`SubjectKeyStore`] keeps one random 256-bit key per (tenant, data subject):
//!   [`MemorySubjectKeyStore`] in process, [`PostgresSubjectKeyStore`] in the tables
//!   `subject_keys` and `shredded_subjects`, [`SqliteSubjectKeyStore`] in the event store's
//!   SQLite file.
//! - Before appending an event, the writer calls [`encrypt_fields`] on its payload with the
//!   personal fields to hide. Each becomes an envelope
//!   `{"$enc":"xc20p1","subject":"…","nonce":"…","ct":"…"}` sealed with XChaCha20-Poly1305
//!   under the subject's key, with a random 192-bit nonce, and bound (as associated data) to
//!   the tenant, the subject and the field's JSON pointer. The event is stored with the
//!   envelopes, so its hash covers the ciphertext, which never changes afterwards.
//! - A reader calls [`decrypt_fields`] on the stored payload, before any upcasting. Every
//!   envelope becomes its plaintext again, or, once the subject is shredded, the
//!   [`erased_marker`] `{"$erased":true}`. An altered or moved ciphertext is an error
//!   ([`CryptoError::Tampered`]), never shown as erased.
//! - [`SubjectKeyStore::shred`] deletes the key and records the subject as shredded in one
//!   step. From then on the subject's fields read as erased, and the subject gets no new key:
//!   [`encrypt_fields`] refuses it with [`CryptoError::SubjectShredded`], so an erased person
//!   cannot come back through a later event.
//! - [`SubjectKeyTransfer`] exports a tenant's keys and shredding marks as
//!   [`SubjectKeyRecord`]s and imports them into another key store (moving a tenant between
//!   backends: [`copy_subject_keys`](crate::copy_subject_keys)); a shredded subject stays
//!   shredded there.
//!
//! ```
//! use crm_eventstore::TenantId;
//! use crm_eventstore::crypto::{
//!     MemorySubjectKeyStore, SubjectId, SubjectKeyStore, decrypt_fields, encrypt_fields,
//!     erased_marker,
//! };
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let keys = MemorySubjectKeyStore::new();
//! let (acme, ada) = (TenantId::new("acme")?, SubjectId::new("party-7")?);
//! let mut payload = json!({"name": "Ada Lovelace", "contact": {"email": "ada@example.org"}, "source": "web"});
//! encrypt_fields(&keys, &acme, &ada, &mut payload, &["name", "/contact/email"]).await?;
//! // The values in clear are gone (ciphertext is base64: a short word like "Ada" could turn up
//! // in it by chance, a space or an `@` never can).
//! let stored_text = payload.to_string();
//! assert!(!stored_text.contains("Ada Lovelace") && !stored_text.contains("ada@example.org"));
//! let stored = payload.clone(); // what the event store keeps, for good
//!
//! keys.shred(&acme, &ada).await?;
//!
//! let mut read = stored;
//! decrypt_fields(&keys, &acme, &mut read).await?;
//! assert_eq!(read, json!({"name": erased_marker(), "contact": {"email": erased_marker()}, "source": "web"}));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Subjects are named by a [`SubjectId`] within a [`TenantId`](crate::TenantId). Subject ids
//! are written in clear (in every envelope and in the key tables), so they must be
//! pseudonymous ids such as a party's UUID, never an email address or a name. The
//! envelope names `"$enc"` and `"$erased"` are reserved in payloads.
//!
//! # What shredding cannot reach
//! Shredding deletes the key row in the live database; it cannot reach copies made before.
//! Operators must account for them:
//! - **Backups and dumps** taken before the shredding hold the key next to the ciphertext,
//!   so restoring one brings the subject back. Keep their retention within the erasure
//!   deadline, or re-shred the subjects recorded in `shredded_subjects` after every restore
//!   (that table survives in newer backups).
//! - **Replicas and the WAL**: a streaming or logical replica deletes the key when it
//!   replays the shredding, but archived WAL segments (point-in-time recovery) keep the
//!   inserted key until they expire.
//! - **Dead tuples**: the deleted key row stays in the table's data files until VACUUM
//!   reclaims it and the page is overwritten; only `VACUUM FULL` on `subject_keys` rewrites
//!   the table at once.
//! - **Server logs** of statements with their parameters (`log_statement`,
//!   `log_min_duration_statement`, auto_explain) would show key bytes; keep parameter
//!   logging off on the key tables.
//! - **Plaintext kept elsewhere**: read models, caches, search indexes, exports and message
//!   queues that received decrypted fields must be purged separately.
//! - **Keys in memory**: a [`SubjectKey`] is wiped when dropped, but plaintext a reader
//!   obtained and copies held by the operating system (swap, core dumps) are out of reach.

mod envelope;
mod error;
mod fields;
mod key;
mod memory;
mod postgres;
mod reader;
mod sqlite;
mod subject;
mod transfer;

pub use error::CryptoError;
pub use fields::{
    DecryptionReport, decrypt_event_fields, decrypt_event_fields_with_keys, decrypt_fields,
    decrypt_fields_with_keys, encrypt_event_fields, encrypt_event_fields_with_key, encrypt_fields,
    encrypt_fields_with_key, erased_marker, is_erased, subjects_in,
};
pub use key::{KEY_LEN, ShredOutcome, SubjectKey, SubjectKeyStore};
pub use memory::MemorySubjectKeyStore;
pub use postgres::PostgresSubjectKeyStore;
pub(crate) use postgres::lock_id as subject_lock_id;
pub use reader::DecryptingStore;
pub use sqlite::SqliteSubjectKeyStore;
pub(crate) use sqlite::claim_key_in;
pub use subject::SubjectId;
pub(crate) use transfer::{Held, plan_key_import};
pub use transfer::{KeyImportOutcome, SubjectKeyRecord, SubjectKeyTransfer};
