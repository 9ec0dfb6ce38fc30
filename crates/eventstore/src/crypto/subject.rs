//! The id of a data subject: the person whose personal fields one key protects.

use std::fmt;
use std::sync::Arc;

use super::CryptoError;
use crate::MAX_NAME_BYTES;

/// A data subject's id within its tenant, such as a party's UUID.
///
/// It is stored and written into every envelope in clear, so it must be pseudonymous: never
/// an email address, a phone number or a name. Like the store's names it is non-empty, at most
/// [`MAX_NAME_BYTES`] bytes and free of NUL characters, so every backend can keep it. Clones
/// are cheap.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectId(Arc<str>);

impl SubjectId {
    /// Validates and wraps a subject id.
    ///
    /// Fails with [`CryptoError::InvalidSubject`] when the id is empty, longer than
    /// [`MAX_NAME_BYTES`] bytes or contains a NUL character.
    pub fn new(id: impl AsRef<str>) -> Result<Self, CryptoError> {
        let id = id.as_ref();
        let reason = if id.is_empty() {
            "is empty"
        } else if id.len() > MAX_NAME_BYTES {
            "is longer than 256 bytes"
        } else if id.contains('\0') {
            "contains a NUL character"
        } else {
            return Ok(Self(Arc::from(id)));
        };
        Err(CryptoError::InvalidSubject {
            subject: id.chars().take(64).collect(),
            reason,
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubjectId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for SubjectId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SubjectId({:?})", &*self.0)
    }
}

impl AsRef<str> for SubjectId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_no_backend_can_keep_are_refused() {
        for id in [
            String::new(),
            "party\0-1".to_owned(),
            "p".repeat(MAX_NAME_BYTES + 1),
        ] {
            let error = SubjectId::new(&id).unwrap_err();
            assert!(
                matches!(error, CryptoError::InvalidSubject { .. }),
                "{error:?}"
            );
        }
        assert_eq!(
            SubjectId::new("p".repeat(MAX_NAME_BYTES))
                .unwrap()
                .as_str()
                .len(),
            MAX_NAME_BYTES
        );
        assert_eq!(SubjectId::new("party-1").unwrap().to_string(), "party-1");
    }
}
