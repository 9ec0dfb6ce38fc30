//! Hashing document keys by their ids: the in-memory adapter's index and a lookup's
//! [`Found`](super::Found) set both map keys, several times per event or candidate, where
//! std's SipHash over a key's kind string would cost more than the work around it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::DocKey;

/// An Fx-style hasher for document keys and tenant ids. Keys are ids the CRM chose (UUIDv7,
/// random in their low bits) and tenants are few, so a fast non-keyed hash spreads them well;
/// std's SipHash, run a few times per event, would cost more than the fold itself.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Whole words, then the tail byte by byte: a `copy_from_slice` of a length the
        // compiler cannot see is a call to `memcpy`, which cost more than the hash itself for
        // the short strings hashed here (a key's kind, a tenant id).
        let (words, rest) = bytes.as_chunks::<8>();
        for word in words {
            self.add(u64::from_le_bytes(*word));
        }
        if !rest.is_empty() {
            let tail = rest
                .iter()
                .rev()
                .fold(0u64, |tail, byte| (tail << 8) | u64::from(*byte));
            self.add(tail);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "the two halves are taken apart on purpose"
    )]
    fn write_u128(&mut self, n: u128) {
        self.add(n as u64);
        self.add((n >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

pub(crate) type KeyMap<V> = HashMap<IndexKey, V, BuildHasherDefault<KeyHasher>>;

/// A document key as the index hashes and compares it: by its ids first. The ids tell keys
/// apart (a kind shares an id with another only for the same record), so the kind, a string,
/// is left out of the hash and compared last, once the ids matched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexKey(pub(crate) DocKey);

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id && self.0.second == other.0.second && self.0.kind == other.0.kind
    }
}

impl Eq for IndexKey {}

impl std::hash::Hash for IndexKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.0.id.as_u128());
        if let Some(second) = self.0.second {
            state.write_u128(second.as_u128());
        }
    }
}
