//! Names the store keys by: tenants and streams (and the rules every stored name obeys).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::StoreError;

/// The longest name, in UTF-8 bytes, that the store accepts for a tenant, stream, event type,
/// snapshot type or idempotency key.
pub const MAX_NAME_BYTES: usize = 256;

/// What kind of name failed validation, for [`StoreError::InvalidName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A [`TenantId`].
    Tenant,
    /// A [`StreamId`].
    Stream,
    /// An event's type.
    EventType,
    /// An idempotency key.
    IdempotencyKey,
    /// A snapshot's type.
    SnapshotType,
}

impl fmt::Display for NameKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Tenant => "tenant id",
            Self::Stream => "stream id",
            Self::EventType => "event type",
            Self::IdempotencyKey => "idempotency key",
            Self::SnapshotType => "snapshot type",
        })
    }
}

/// Checks a name against the rules every backend can store: not empty, at most
/// [`MAX_NAME_BYTES`] bytes, no NUL character (PostgreSQL text cannot hold one).
pub(crate) fn validate_name(kind: NameKind, name: &str) -> Result<(), StoreError> {
    let reason = if name.is_empty() {
        "is empty"
    } else if name.len() > MAX_NAME_BYTES {
        "is longer than 256 bytes"
    } else if name.contains('\0') {
        "contains a NUL character"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidName {
        kind,
        name: name.chars().take(64).collect(),
        reason,
    })
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps a name.
            ///
            /// Fails with [`StoreError::InvalidName`] when the name is empty, longer than
            /// [`MAX_NAME_BYTES`] bytes or contains a NUL character. Clones are cheap.
            pub fn new(name: impl AsRef<str>) -> Result<Self, StoreError> {
                let name = name.as_ref();
                validate_name($kind, name)?;
                Ok(Self(Arc::from(name)))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The tenant a stream belongs to: one id for the whole workspace (the read models re-export
/// it). Every call to the store names one, and no call returns another tenant's data; stream
/// ids are unique per tenant, not globally.
///
/// # Canonical form
///
/// A tenant id is kept in one canonical form, its name folded to lowercase
/// ([`str::to_lowercase`]), so `ACME`, `Acme` and `acme` are the same tenant: they compare
/// equal, hash alike, and read and write the same data. [`as_str`](Self::as_str), `Display`
/// and `Serialize` give the canonical form, and it is what every backend stores (PostgreSQL
/// keeps it as `text` in every `tenant_id` column), what hash chains, seals and head
/// manifests cover, and what crypto-shredding binds as associated data. (Rows written under a
/// name with capitals before ids were canonical are not found under the canonical name.)
///
/// [`new`](Self::new) refuses, with [`StoreError::InvalidName`], a name that is empty, has
/// leading or trailing whitespace, contains a NUL or any other control character, or is
/// longer than [`MAX_NAME_BYTES`] bytes (before or after folding). `Deserialize` and
/// [`FromStr`] go through `new`, so an invalid name never becomes a `TenantId`.
///
/// Clones are cheap: the name is shared ([`Arc<str>`]), so the events of one page can all
/// point at one allocation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates `name` and folds it to its canonical (lowercase) form.
    ///
    /// Fails with [`StoreError::InvalidName`] (kind [`NameKind::Tenant`]) when the name is
    /// empty, has leading or trailing whitespace, contains a NUL or another control
    /// character, or is longer than [`MAX_NAME_BYTES`] bytes.
    pub fn new(name: impl AsRef<str>) -> Result<Self, StoreError> {
        let name = name.as_ref();
        validate_tenant(name)?;
        let canonical = name.to_lowercase();
        // Folding may lengthen a name (`İ` is two bytes, `i̇` three): the stored form must fit.
        validate_tenant(&canonical)?;
        Ok(Self(Arc::from(canonical)))
    }

    /// The canonical (lowercase) name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tenant rules on top of [`validate_name`]'s: no surrounding whitespace, no control
/// characters (so a name cannot hide in logs or differ from another by an invisible byte).
fn validate_tenant(name: &str) -> Result<(), StoreError> {
    validate_name(NameKind::Tenant, name)?;
    let reason = if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        "has leading or trailing whitespace"
    } else if name.contains(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidName {
        kind: NameKind::Tenant,
        name: name.chars().take(64).collect(),
        reason,
    })
}

impl fmt::Display for TenantId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "TenantId({:?})", &*self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = StoreError;

    /// [`TenantId::new`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::new(name)
    }
}

impl Serialize for TenantId {
    /// The canonical name, as a JSON string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    /// A string, through [`TenantId::new`]: an invalid name fails, a name with capitals
    /// becomes its canonical form.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::new(name).map_err(serde::de::Error::custom)
    }
}

name_type!(
    /// A stream's name within its tenant (for example `lead-0190…`): the unit of ordering,
    /// optimistic concurrency and hash chaining.
    StreamId,
    NameKind::Stream
);

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(name: &str) -> &'static str {
        match TenantId::new(name) {
            Err(StoreError::InvalidName {
                kind: NameKind::Tenant,
                reason,
                ..
            }) => reason,
            other => panic!("{name:?} should be refused as a tenant id, got {other:?}"),
        }
    }

    #[test]
    fn names_that_postgres_cannot_store_are_refused() {
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("a\0b").is_err());
        assert!(StreamId::new("x".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert!(StreamId::new("x".repeat(MAX_NAME_BYTES)).is_ok());
        assert_eq!(TenantId::new("acme").unwrap().as_str(), "acme");
    }

    #[test]
    fn a_tenant_id_is_its_name_folded_to_lowercase() {
        let upper = TenantId::new("ACME").unwrap();
        assert_eq!(upper.as_str(), "acme");
        assert_eq!(upper, TenantId::new("Acme").unwrap());
        assert_eq!(upper.to_string(), "acme");
        assert_eq!("ÉCOLE".parse::<TenantId>().unwrap().as_str(), "école");
        assert_eq!(TenantId::new("acme corp").unwrap().as_str(), "acme corp");
    }

    #[test]
    fn each_broken_tenant_rule_has_its_reason() {
        assert_eq!(refusal(""), "is empty");
        assert_eq!(refusal(" acme"), "has leading or trailing whitespace");
        assert_eq!(refusal("acme\n"), "has leading or trailing whitespace");
        assert_eq!(refusal("a\u{7}b"), "contains a control character");
        assert_eq!(refusal("a\0b"), "contains a NUL character");
        assert_eq!(refusal(&"a".repeat(300)), "is longer than 256 bytes");
        assert!(TenantId::new("a".repeat(MAX_NAME_BYTES)).is_ok());
        // `İ` (2 bytes) folds to `i̇` (3 bytes): the canonical form is what must fit.
        assert_eq!(refusal(&"İ".repeat(128)), "is longer than 256 bytes");
    }

    #[test]
    fn the_canonical_form_is_a_fixed_point() {
        for name in ["ACME", "ΟΔΟΣ", "İstanbul", "Straße", "acme"] {
            let once = TenantId::new(name).unwrap();
            assert_eq!(TenantId::new(once.as_str()).unwrap(), once, "{name}");
        }
    }
}
