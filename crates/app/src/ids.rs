//! Ids derived from other ids, so that doing the same thing twice yields the same ids.
//!
//! A workflow reacting to an event, redelivered after a crash, must send the very same command
//! (same contact id, same event ids, same idempotency key) so that the second delivery changes
//! nothing. [`derive_id`] makes such ids from the triggering event's id and a purpose.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A UUIDv7 derived from `parent` and `purpose`: the same inputs always give the same id,
/// different purposes give different ids.
///
/// The first 48 bits (a UUIDv7's millisecond timestamp) are `parent`'s, so derived ids sort
/// near their parent and keep index locality; the rest are a SHA-256 of both inputs with the
/// version (7) and variant bits set.
pub fn derive_id(parent: Uuid, purpose: &str) -> Uuid {
    let mut hasher = Sha256::new();
    hasher.update(parent.as_bytes());
    hasher.update((purpose.len() as u64).to_be_bytes());
    hasher.update(purpose.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&parent.as_bytes()[..6]);
    bytes[6..].copy_from_slice(&digest[..10]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn derived_ids_are_stable_v7_and_keep_the_parents_time(
            parent in any::<u128>(),
            purpose in ".{0,40}",
            other in ".{0,40}",
        ) {
            let parent = Uuid::from_u128(parent);
            let id = derive_id(parent, &purpose);
            prop_assert_eq!(id, derive_id(parent, &purpose));
            prop_assert_eq!(id.get_version_num(), 7);
            prop_assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            prop_assert_eq!(&id.as_bytes()[..6], &parent.as_bytes()[..6]);
            if other != purpose {
                prop_assert_ne!(id, derive_id(parent, &other));
            }
        }
    }
}
