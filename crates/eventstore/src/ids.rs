//! Names the store keys by: tenants and streams (and the rules every stored name obeys).

use std::fmt;
use std::sync::Arc;

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

name_type!(
    /// The tenant a stream belongs to. Every call to the store names one, and no call returns
    /// another tenant's data; stream ids are unique per tenant, not globally.
    TenantId,
    NameKind::Tenant
);

name_type!(
    /// A stream's name within its tenant (for example `lead-0190…`): the unit of ordering,
    /// optimistic concurrency and hash chaining.
    StreamId,
    NameKind::Stream
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_postgres_cannot_store_are_refused() {
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("a\0b").is_err());
        assert!(StreamId::new("x".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert!(StreamId::new("x".repeat(MAX_NAME_BYTES)).is_ok());
        assert_eq!(TenantId::new("acme").unwrap().as_str(), "acme");
    }
}
