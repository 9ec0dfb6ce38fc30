//! The envelope that replaces an encrypted field, and the AEAD that fills and opens it.
//!
//! An envelope is a JSON object of exactly four members:
//! `{"$enc":"xc20p2","subject":"…","nonce":"…","ct":"…"}`: the format tag, the subject whose
//! key sealed it, a random 192-bit nonce and the XChaCha20-Poly1305 ciphertext with its tag
//! (both in standard base64). The plaintext is the field's JSON text. The associated data
//! binds the format, the tenant, the subject, the field's JSON pointer and, in format
//! `xc20p2`, the id of the event that carries it, so an envelope opens only where it was
//! sealed: not in another field, and not copied into another event. Format `xc20p1` (no event
//! binding) is still read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{CryptoError, SubjectId, SubjectKey};

/// Member that marks an object as an envelope; its value names the format.
pub(crate) const ENCRYPTED_TAG: &str = "$enc";
/// Member that marks an object as an erased field.
pub(crate) const ERASED_TAG: &str = "$erased";
/// XChaCha20-Poly1305 bound to tenant, subject and field.
const FORMAT: &str = "xc20p1";
/// XChaCha20-Poly1305 bound to tenant, subject, field and event id.
const FORMAT_EVENT_BOUND: &str = "xc20p2";
const SUBJECT: &str = "subject";
const NONCE: &str = "nonce";
const CIPHERTEXT: &str = "ct";
const NONCE_LEN: usize = 24;

/// Where a field is sealed: the things its ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seat<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) path: &'a str,
    /// The id of the event carrying the field (hyphenated); `None` for format `xc20p1`.
    pub(crate) event: Option<&'a str>,
}

impl Seat<'_> {
    fn format(&self) -> &'static str {
        if self.event.is_some() {
            FORMAT_EVENT_BOUND
        } else {
            FORMAT
        }
    }

    /// Length-prefixes every part, so no two distinct seats share associated data (the
    /// format tag comes first, so a seat with an event never shares one without).
    fn associated_data(&self) -> Vec<u8> {
        let parts = [self.format(), self.tenant, self.subject, self.path];
        let parts = parts.into_iter().chain(self.event);
        let mut data =
            Vec::with_capacity(64 + self.tenant.len() + self.subject.len() + self.path.len());
        for part in parts {
            data.extend_from_slice(&(part.len() as u64).to_be_bytes());
            data.extend_from_slice(part.as_bytes());
        }
        data
    }
}

/// An envelope read from a payload, not yet opened.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) subject: SubjectId,
    /// Whether it was sealed in format `xc20p2`, bound to its event's id.
    event_bound: bool,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

fn cipher(key: &SubjectKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(Key::from_slice(key.expose_bytes()))
}

/// Encrypts `value` for `seat` under `key` and returns the envelope that replaces it.
pub(crate) fn seal(value: &Value, seat: Seat<'_>, key: &SubjectKey) -> Result<Value, CryptoError> {
    // Serializing recurses: measure first (without recursing), so no input overflows the stack.
    if !crate::depth::within_depth(value, crate::MAX_JSON_DEPTH) {
        return Err(CryptoError::EncryptionFailed {
            path: seat.path.to_owned(),
        });
    }
    let plaintext =
        Zeroizing::new(
            serde_json::to_vec(value).map_err(|_| CryptoError::EncryptionFailed {
                path: seat.path.to_owned(),
            })?,
        );
    let mut nonce = [0_u8; NONCE_LEN];
    OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|error| CryptoError::Randomness(error.to_string()))?;
    let aad = seat.associated_data();
    let ciphertext = cipher(key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::EncryptionFailed {
            path: seat.path.to_owned(),
        })?;
    let mut envelope = Map::new();
    envelope.insert(ENCRYPTED_TAG.to_owned(), Value::from(seat.format()));
    envelope.insert(SUBJECT.to_owned(), Value::from(seat.subject));
    envelope.insert(NONCE.to_owned(), Value::from(BASE64.encode(nonce)));
    envelope.insert(
        CIPHERTEXT.to_owned(),
        Value::from(BASE64.encode(ciphertext)),
    );
    Ok(Value::Object(envelope))
}

/// Reads an object that carries [`ENCRYPTED_TAG`] as an envelope, strictly: any other shape
/// is malformed, since only a writer bug or tampering can produce one.
pub(crate) fn parse(object: &Map<String, Value>, path: &str) -> Result<Envelope, CryptoError> {
    let malformed = |reason| CryptoError::MalformedEnvelope {
        path: path.to_owned(),
        reason,
    };
    let event_bound = match object.get(ENCRYPTED_TAG).and_then(Value::as_str) {
        Some(FORMAT) => false,
        Some(FORMAT_EVENT_BOUND) => true,
        _ => return Err(malformed("unknown format tag")),
    };
    if object.len() != 4 {
        return Err(malformed(
            "an envelope has exactly the members $enc, subject, nonce and ct",
        ));
    }
    let text = |member| object.get(member).and_then(Value::as_str);
    let subject = text(SUBJECT)
        .and_then(|subject| SubjectId::new(subject).ok())
        .ok_or_else(|| malformed("subject is missing or not a valid subject id"))?;
    let nonce = text(NONCE)
        .and_then(|nonce| BASE64.decode(nonce).ok())
        .and_then(|nonce| <[u8; NONCE_LEN]>::try_from(nonce).ok())
        .ok_or_else(|| malformed("nonce is not 24 bytes in base64"))?;
    let ciphertext = text(CIPHERTEXT)
        .and_then(|ciphertext| BASE64.decode(ciphertext).ok())
        .ok_or_else(|| malformed("ct is missing or not base64"))?;
    Ok(Envelope {
        subject,
        event_bound,
        nonce,
        ciphertext,
    })
}

/// Decrypts an envelope found at `path` of event `event` under `tenant` with its subject's
/// key. An event-bound envelope opened without an event id is
/// [`CryptoError::EventBindingRequired`]; an envelope of the older format ignores `event`.
pub(crate) fn open(
    envelope: &Envelope,
    tenant: &str,
    event: Option<&str>,
    path: &str,
    key: &SubjectKey,
) -> Result<Value, CryptoError> {
    let event = match (envelope.event_bound, event) {
        (false, _) => None,
        (true, Some(event)) => Some(event),
        (true, None) => {
            return Err(CryptoError::EventBindingRequired {
                path: path.to_owned(),
            });
        }
    };
    let seat = Seat {
        tenant,
        subject: envelope.subject.as_str(),
        path,
        event,
    };
    let aad = seat.associated_data();
    let plaintext = cipher(key)
        .decrypt(
            XNonce::from_slice(&envelope.nonce),
            Payload {
                msg: &envelope.ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Tampered {
            path: path.to_owned(),
            subject: envelope.subject.clone(),
        })?;
    serde_json::from_slice(&plaintext).map_err(|_| CryptoError::CorruptPlaintext {
        path: path.to_owned(),
    })
}

/// The marker that replaces a field whose subject was shredded.
pub(crate) fn erased() -> Value {
    let mut marker = Map::new();
    marker.insert(ERASED_TAG.to_owned(), Value::Bool(true));
    Value::Object(marker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn distinct_seats_never_share_associated_data(
            first in ("[a-c/]{0,3}", "[a-c/]{0,3}", "[a-c/]{0,3}"),
            second in ("[a-c/]{0,3}", "[a-c/]{0,3}", "[a-c/]{0,3}"),
        ) {
            let seat = |(tenant, subject, path): &(String, String, String)| {
                Seat { tenant, subject, path, event: None }.associated_data()
            };
            prop_assert_eq!(seat(&first) == seat(&second), first == second);
        }
    }

    #[test]
    fn an_envelope_opens_only_at_its_seat() {
        let key = SubjectKey::generate().unwrap();
        let seat = Seat {
            tenant: "acme",
            subject: "party-1",
            path: "/name",
            event: None,
        };
        let sealed = seal(&Value::from("Ada"), seat, &key).unwrap();
        let envelope = parse(sealed.as_object().unwrap(), "/name").unwrap();

        assert_eq!(
            open(&envelope, "acme", None, "/name", &key).unwrap(),
            Value::from("Ada")
        );
        assert!(matches!(
            open(&envelope, "acme", None, "/nam", &key),
            Err(CryptoError::Tampered { .. })
        ));
        assert!(matches!(
            open(&envelope, "acm", None, "/name", &key),
            Err(CryptoError::Tampered { .. })
        ));
    }

    #[test]
    fn an_event_bound_envelope_opens_only_in_its_event() {
        let key = SubjectKey::generate().unwrap();
        let event = "0190f0e4-0000-7000-8000-000000000001";
        let seat = Seat {
            tenant: "acme",
            subject: "party-1",
            path: "/name",
            event: Some(event),
        };
        let sealed = seal(&Value::from("Ada"), seat, &key).unwrap();
        assert_eq!(sealed["$enc"], FORMAT_EVENT_BOUND);
        let envelope = parse(sealed.as_object().unwrap(), "/name").unwrap();

        assert_eq!(
            open(&envelope, "acme", Some(event), "/name", &key).unwrap(),
            Value::from("Ada")
        );
        assert!(matches!(
            open(
                &envelope,
                "acme",
                Some("0190f0e4-0000-7000-8000-000000000002"),
                "/name",
                &key
            ),
            Err(CryptoError::Tampered { .. })
        ));
        assert!(matches!(
            open(&envelope, "acme", None, "/name", &key),
            Err(CryptoError::EventBindingRequired { .. })
        ));
    }
}
