//! Encrypting chosen fields of a JSON payload, and decrypting every envelope in one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use uuid::Uuid;

use super::envelope::{self, ENCRYPTED_TAG, ERASED_TAG, Envelope, Seat};
use super::{CryptoError, SubjectId, SubjectKey, SubjectKeyStore};
use crate::TenantId;

/// What [`decrypt_fields`] found in a payload, as JSON pointers in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecryptionReport {
    /// Fields that were decrypted back to their plaintext.
    pub decrypted: Vec<String>,
    /// Fields whose subject was shredded, now holding the [`erased_marker`].
    pub erased: Vec<String>,
}

/// The value that stands in for a field whose subject was shredded: `{"$erased":true}`.
///
/// It lets a reader tell "erased" from "missing" (an absent member) and from "empty".
pub fn erased_marker() -> Value {
    envelope::erased()
}

/// Whether `value` is the [`erased_marker`].
pub fn is_erased(value: &Value) -> bool {
    value.as_object().is_some_and(|object| {
        object.len() == 1 && object.get(ERASED_TAG) == Some(&Value::Bool(true))
    })
}

/// Encrypts the chosen fields of `payload` with the subject's key from `store` (created on
/// first use) and returns the JSON pointers of the fields it encrypted.
///
/// This is what a writer calls before appending an event that carries personal data; see
/// [`encrypt_fields_with_key`] for how fields are named and what is refused. A shredded
/// subject is refused with [`CryptoError::SubjectShredded`], so an erased person's data is
/// never written again. A payload holding none of the fields has nothing personal to hide:
/// it is returned as it is without asking the store, so it neither creates a key nor is
/// refused for a shredded subject. On error the payload is left unchanged.
pub async fn encrypt_fields<S: SubjectKeyStore>(
    store: &S,
    tenant: &TenantId,
    subject: &SubjectId,
    payload: &mut Value,
    fields: &[&str],
) -> Result<Vec<String>, CryptoError> {
    encrypt_with_store(store, tenant, None, subject, payload, fields).await
}

/// [`encrypt_fields`] with each ciphertext also bound to the id of the event that will carry
/// the payload (envelope format `xc20p2`): an envelope copied into another event, even of the
/// same stream and subject, no longer opens. This is what a writer of events should call;
/// read such payloads back with [`decrypt_event_fields`].
pub async fn encrypt_event_fields<S: SubjectKeyStore>(
    store: &S,
    tenant: &TenantId,
    event: Uuid,
    subject: &SubjectId,
    payload: &mut Value,
    fields: &[&str],
) -> Result<Vec<String>, CryptoError> {
    let event = event.hyphenated().to_string();
    encrypt_with_store(store, tenant, Some(&event), subject, payload, fields).await
}

/// [`encrypt_fields`] and [`encrypt_event_fields`]: asks the store for the key only when a
/// named field is present.
async fn encrypt_with_store<S: SubjectKeyStore>(
    store: &S,
    tenant: &TenantId,
    event: Option<&str>,
    subject: &SubjectId,
    payload: &mut Value,
    fields: &[&str],
) -> Result<Vec<String>, CryptoError> {
    let pointers = normalize_fields(fields)?;
    check_plaintext(payload, &pointers)?;
    if !pointers
        .iter()
        .any(|pointer| payload.pointer(pointer).is_some())
    {
        return Ok(Vec::new());
    }
    let key = store.encryption_key(tenant, subject).await?;
    encrypt_pointers(payload, &pointers, tenant, subject, event, &key)
}

/// [`encrypt_event_fields`] with a key at hand instead of a key store.
pub fn encrypt_event_fields_with_key(
    payload: &mut Value,
    fields: &[&str],
    tenant: &TenantId,
    event: Uuid,
    subject: &SubjectId,
    key: &SubjectKey,
) -> Result<Vec<String>, CryptoError> {
    let pointers = normalize_fields(fields)?;
    let event = event.hyphenated().to_string();
    encrypt_pointers(payload, &pointers, tenant, subject, Some(&event), key)
}

/// [`decrypt_fields`] for the payload of event `event`: opens envelopes bound to that event
/// (and envelopes of the older, unbound format). An envelope bound to another event is
/// [`CryptoError::Tampered`].
pub async fn decrypt_event_fields<S: SubjectKeyStore>(
    store: &S,
    tenant: &TenantId,
    event: Uuid,
    payload: &mut Value,
) -> Result<DecryptionReport, CryptoError> {
    let found = find_envelopes(payload)?;
    if found.is_empty() {
        return Ok(DecryptionReport::default());
    }
    let subjects: BTreeSet<SubjectId> = found
        .iter()
        .map(|(_, envelope)| envelope.subject.clone())
        .collect();
    let keys = store.decryption_keys(tenant, &subjects).await?;
    let event = event.hyphenated().to_string();
    open_envelopes(payload, found, tenant, Some(&event), &keys)
}

/// [`decrypt_event_fields`] with the keys given, as [`decrypt_fields_with_keys`].
pub fn decrypt_event_fields_with_keys(
    payload: &mut Value,
    tenant: &TenantId,
    event: Uuid,
    keys: &BTreeMap<SubjectId, Option<SubjectKey>>,
) -> Result<DecryptionReport, CryptoError> {
    let found = find_envelopes(payload)?;
    let event = event.hyphenated().to_string();
    open_envelopes(payload, found, tenant, Some(&event), keys)
}

/// Replaces every envelope in `payload` with its plaintext, or with the [`erased_marker`]
/// when its subject was shredded, fetching each subject's key from `store` once.
///
/// `tenant` must be the tenant the payload was written under (it is bound into each
/// ciphertext). Decrypt the stored payload before any upcasting: each envelope opens only
/// at the JSON pointer it was sealed at. Errors: [`CryptoError::Tampered`] for a ciphertext
/// that was altered or moved, [`CryptoError::MalformedEnvelope`], [`CryptoError::KeyNotFound`]
/// for a subject the store has never heard of, and the store's own errors. An erased field is
/// never an error, and an error is never turned into "erased". On error the payload is left
/// unchanged.
pub async fn decrypt_fields<S: SubjectKeyStore>(
    store: &S,
    tenant: &TenantId,
    payload: &mut Value,
) -> Result<DecryptionReport, CryptoError> {
    let found = find_envelopes(payload)?;
    let subjects: BTreeSet<&SubjectId> = found
        .iter()
        .map(|(_, envelope)| &envelope.subject)
        .collect();
    let mut keys = BTreeMap::new();
    for subject in subjects {
        keys.insert(
            subject.clone(),
            store.decryption_key(tenant, subject).await?,
        );
    }
    open_envelopes(payload, found, tenant, None, &keys)
}

/// Encrypts the chosen fields of `payload` with `key` for (`tenant`, `subject`), without a
/// key store; returns the JSON pointers of the fields it encrypted.
///
/// Each field is named by a JSON pointer (`"/contact/email"`, `"/phones/0"`) or, without a
/// leading `/`, by a top-level member name (`"email"`). Every named field present in the
/// payload is replaced by an envelope holding its JSON value, whatever that value is (short
/// of another envelope); named
/// fields absent from the payload are skipped, as an optional field that is not there has
/// nothing to hide. Each field gets its own random 192-bit nonce, and its ciphertext is bound
/// to tenant, subject and pointer.
///
/// Envelopes already in the payload (say, another subject's fields of the same event) are
/// kept as they are. Refused, leaving the payload unchanged: an empty or malformed field
/// name, the whole payload (`""`), two fields of which one contains the other, a field inside
/// or holding an existing envelope ([`CryptoError::InvalidField`]), and, outside the fields,
/// an object with a `"$erased"` member or a malformed `"$enc"` one
/// ([`CryptoError::ReservedMember`]), as it could not be told apart from what decryption
/// produces.
pub fn encrypt_fields_with_key(
    payload: &mut Value,
    fields: &[&str],
    tenant: &TenantId,
    subject: &SubjectId,
    key: &SubjectKey,
) -> Result<Vec<String>, CryptoError> {
    let pointers = normalize_fields(fields)?;
    encrypt_pointers(payload, &pointers, tenant, subject, None, key)
}

/// Decrypts every envelope in `payload` with the keys given, without a key store.
///
/// `keys` maps each subject to its key, or to `None` when the subject was shredded (the
/// field becomes the [`erased_marker`]); a subject missing from the map is
/// [`CryptoError::KeyNotFound`]. Otherwise as [`decrypt_fields`]. [`subjects_in`] lists the
/// subjects whose keys are needed.
pub fn decrypt_fields_with_keys(
    payload: &mut Value,
    tenant: &TenantId,
    keys: &BTreeMap<SubjectId, Option<SubjectKey>>,
) -> Result<DecryptionReport, CryptoError> {
    let found = find_envelopes(payload)?;
    open_envelopes(payload, found, tenant, None, keys)
}

/// The subjects whose keys sealed the envelopes in `payload`, in sorted order.
///
/// Fails with [`CryptoError::MalformedEnvelope`] if an object with a `"$enc"` member is not a
/// well-formed envelope.
pub fn subjects_in(payload: &Value) -> Result<BTreeSet<SubjectId>, CryptoError> {
    Ok(find_envelopes(payload)?
        .into_iter()
        .map(|(_, envelope)| envelope.subject)
        .collect())
}

fn encrypt_pointers(
    payload: &mut Value,
    pointers: &[String],
    tenant: &TenantId,
    subject: &SubjectId,
    event: Option<&str>,
    key: &SubjectKey,
) -> Result<Vec<String>, CryptoError> {
    check_plaintext(payload, pointers)?;
    // Seal everything before replacing anything, so a failure leaves the payload untouched.
    let mut sealed = Vec::with_capacity(pointers.len());
    for pointer in pointers {
        if let Some(value) = payload.pointer(pointer) {
            let seat = Seat {
                tenant: tenant.as_str(),
                subject: subject.as_str(),
                path: pointer,
                event,
            };
            sealed.push((pointer.clone(), envelope::seal(value, seat, key)?));
        }
    }
    let mut encrypted = Vec::with_capacity(sealed.len());
    for (pointer, envelope) in sealed {
        if let Some(slot) = payload.pointer_mut(&pointer) {
            *slot = envelope;
            encrypted.push(pointer);
        }
    }
    Ok(encrypted)
}

fn open_envelopes(
    payload: &mut Value,
    found: Vec<(String, Envelope)>,
    tenant: &TenantId,
    event: Option<&str>,
    keys: &BTreeMap<SubjectId, Option<SubjectKey>>,
) -> Result<DecryptionReport, CryptoError> {
    let mut report = DecryptionReport::default();
    let mut opened = Vec::with_capacity(found.len());
    for (path, envelope) in found {
        let plaintext = match keys.get(&envelope.subject) {
            Some(Some(key)) => {
                report.decrypted.push(path.clone());
                envelope::open(&envelope, tenant.as_str(), event, &path, key)?
            }
            Some(None) => {
                report.erased.push(path.clone());
                envelope::erased()
            }
            None => {
                return Err(CryptoError::KeyNotFound {
                    tenant: tenant.clone(),
                    subject: envelope.subject,
                });
            }
        };
        opened.push((path, plaintext));
    }
    for (path, plaintext) in opened {
        if let Some(slot) = payload.pointer_mut(&path) {
            *slot = plaintext;
        }
    }
    Ok(report)
}

/// Turns the caller's field names into distinct, non-overlapping JSON pointers.
fn normalize_fields(fields: &[&str]) -> Result<Vec<String>, CryptoError> {
    let mut pointers: Vec<String> = Vec::with_capacity(fields.len());
    for field in fields {
        let pointer = to_pointer(field)?;
        for other in &pointers {
            if *other == pointer {
                continue;
            }
            if contains(other, &pointer) || contains(&pointer, other) {
                return Err(CryptoError::InvalidField {
                    field: (*field).to_owned(),
                    reason: "it overlaps another field to encrypt",
                });
            }
        }
        if !pointers.contains(&pointer) {
            pointers.push(pointer);
        }
    }
    Ok(pointers)
}

fn to_pointer(field: &str) -> Result<String, CryptoError> {
    let invalid = |reason| CryptoError::InvalidField {
        field: field.to_owned(),
        reason,
    };
    if field.is_empty() {
        return Err(invalid(
            "name a field; the whole payload cannot be encrypted",
        ));
    }
    if !field.starts_with('/') {
        return Ok(format!("/{}", escape(field)));
    }
    // RFC 6901: `~` only starts the escapes `~0` and `~1`.
    let mut chars = field.chars();
    while let Some(character) = chars.next() {
        if character == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(invalid("a JSON pointer's `~` must be followed by 0 or 1"));
        }
    }
    Ok(field.to_owned())
}

/// Whether the field at `outer` contains the distinct field at `inner`.
fn contains(outer: &str, inner: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.starts_with('/'))
}

fn escape(member: &str) -> String {
    member.replace('~', "~0").replace('/', "~1")
}

/// Refuses plaintext that decryption could not tell apart from its own output, fields that
/// lie inside an existing envelope, and fields that hold one (decryption opens one layer, so
/// a nested envelope would reach the reader sealed). Otherwise the content of the fields
/// about to be encrypted is free: it goes into the ciphertext whatever it is.
fn check_plaintext(payload: &Value, pointers: &[String]) -> Result<(), CryptoError> {
    // An explicit stack rather than recursion, so no payload is deep enough to overflow it.
    let mut pending: Vec<(&Value, String, Option<&String>)> = vec![(payload, String::new(), None)];
    while let Some((value, path, enclosing)) = pending.pop() {
        let enclosing = enclosing.or_else(|| pointers.iter().find(|pointer| **pointer == path));
        match value {
            Value::Object(object) if object.contains_key(ENCRYPTED_TAG) => {
                let well_formed = envelope::parse(object, &path).is_ok();
                if let (Some(field), true) = (enclosing, well_formed) {
                    return Err(CryptoError::InvalidField {
                        field: field.clone(),
                        reason: "it holds an encrypted field; encrypt each subject's fields apart",
                    });
                }
                if enclosing.is_none() {
                    if !well_formed {
                        return Err(CryptoError::ReservedMember { path });
                    }
                    if let Some(inner) = pointers.iter().find(|pointer| contains(&path, pointer)) {
                        return Err(CryptoError::InvalidField {
                            field: inner.clone(),
                            reason: "it lies inside an already encrypted field",
                        });
                    }
                    continue;
                }
            }
            Value::Object(object) if enclosing.is_none() && object.contains_key(ERASED_TAG) => {
                return Err(CryptoError::ReservedMember { path });
            }
            _ => {}
        }
        pending.extend(
            children(value, &path)
                .into_iter()
                .rev()
                .map(|(child, child_path)| (child, child_path, enclosing)),
        );
    }
    Ok(())
}

/// Every well-formed envelope in `payload` with its JSON pointer, in document order.
fn find_envelopes(payload: &Value) -> Result<Vec<(String, Envelope)>, CryptoError> {
    let mut found = Vec::new();
    let mut pending = vec![(payload, String::new())];
    while let Some((value, path)) = pending.pop() {
        match value {
            Value::Object(object) if object.contains_key(ENCRYPTED_TAG) => {
                let envelope = envelope::parse(object, &path)?;
                found.push((path, envelope));
            }
            _ => pending.extend(children(value, &path).into_iter().rev()),
        }
    }
    Ok(found)
}

/// The children of `value` with their JSON pointers, in document order.
fn children<'a>(value: &'a Value, path: &str) -> Vec<(&'a Value, String)> {
    match value {
        Value::Object(object) => object
            .iter()
            .map(|(name, child)| (child, format!("{path}/{}", escape(name))))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| (item, format!("{path}/{index}")))
            .collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Vec::new(),
    }
}
