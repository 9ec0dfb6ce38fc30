//! The hash chain's canonical encoding, shared by every backend and by `verify`.
//!
//! Each event's hash is computed in two steps, so the bytes-heavy part runs in the client and
//! the database only chains 32-byte digests inside its append function:
//!
//! ```text
//! content_digest = SHA-256( "crm-eventstore/event/v1"
//!                           || lp(tenant) || lp(stream) || event_id (16 bytes)
//!                           || lp(event_type) || u32(schema_version)
//!                           || lp(payload bytes as stored) || lp(metadata bytes as stored) )
//! hash           = SHA-256( previous_hash (32 bytes; zeros for version 1)
//!                           || u64(version) || i64(recorded_at, microseconds since the Unix epoch)
//!                           || content_digest )
//! ```
//!
//! Each stream's chain fixes the content and order of that stream. The order *across* streams
//! (the tenant's global order, which every subscriber follows) is fixed by **seals**: each seal
//! covers the events after the previous seal up to a position, in global order, and chains to
//! the previous seal:
//!
//! ```text
//! entries   = SHA-256( for each event, in (transaction, position) order:
//!                      u64(transaction) || u64(position) || hash (32 bytes) )
//! seal_hash = SHA-256( "crm-eventstore/seal/v1" || lp(tenant)
//!                      || previous seal_hash (32 bytes; zeros for seal 1) || u64(seal number)
//!                      || u64(through transaction) || u64(through position) || u64(event count)
//!                      || entries )
//! ```
//!
//! Reordering, removing, adding or moving events of a sealed range changes a seal. What a
//! database owner could still do, recompute every chain and every seal consistently, is caught
//! against a head manifest kept outside the database ([`crate::HeadManifest`]).
//!
//! Integers are big-endian and `lp(x)` is `u32(byte length of x) || x` over UTF-8 text or
//! raw bytes. Because the hash covers the stored bytes, upcasting on read and crypto-shredding
//! (which changes keys, not events) never break a chain. An auditor can recompute every hash
//! from a plain export of the events table with this description alone.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{EventHash, ExpectedVersion, GlobalPosition};

const EVENT_DOMAIN: &[u8] = b"crm-eventstore/event/v1";
const REQUEST_DOMAIN: &[u8] = b"crm-eventstore/request/v1";
const SEAL_DOMAIN: &[u8] = b"crm-eventstore/seal/v1";

/// The stored fields of one event that its content digest covers.
#[derive(Debug, Clone, Copy)]
pub struct EventContent<'a> {
    /// The tenant's name.
    pub tenant: &'a str,
    /// The stream's name.
    pub stream: &'a str,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: &'a str,
    /// The schema version it was stored with.
    pub schema_version: u16,
    /// The payload bytes as stored.
    pub payload: &'a [u8],
    /// The metadata bytes as stored.
    pub metadata: &'a [u8],
}

fn length_prefixed(hasher: &mut Sha256, bytes: &[u8]) {
    // Names are at most 256 bytes and events are bounded by the size limit, far below 4 GiB;
    // saturating keeps this total anyway, and such a row would be refused before hashing.
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(length.to_be_bytes());
    hasher.update(bytes);
}

/// The content digest of an event (see the module docs).
pub fn content_digest(content: &EventContent<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(EVENT_DOMAIN);
    length_prefixed(&mut hasher, content.tenant.as_bytes());
    length_prefixed(&mut hasher, content.stream.as_bytes());
    hasher.update(content.event_id.as_bytes());
    length_prefixed(&mut hasher, content.event_type.as_bytes());
    hasher.update(u32::from(content.schema_version).to_be_bytes());
    length_prefixed(&mut hasher, content.payload);
    length_prefixed(&mut hasher, content.metadata);
    hasher.finalize().into()
}

/// The chained hash of an event (see the module docs).
pub fn chain_hash(
    previous: &EventHash,
    version: u64,
    recorded_at: DateTime<Utc>,
    digest: &[u8; 32],
) -> EventHash {
    let mut hasher = Sha256::new();
    hasher.update(previous.0);
    hasher.update(version.to_be_bytes());
    hasher.update(recorded_at.timestamp_micros().to_be_bytes());
    hasher.update(digest);
    EventHash(hasher.finalize().into())
}

/// The running digest of a seal's entries: each event of the sealed range, in global order,
/// as `u64(transaction) || u64(position) || hash (32 bytes)` (see [`seal_hash`]).
#[derive(Debug, Clone, Default)]
pub struct SealEntries {
    hasher: Sha256,
    count: u64,
}

impl SealEntries {
    /// No entries yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next event in global order.
    pub fn push(&mut self, position: GlobalPosition, hash: &EventHash) {
        self.hasher.update(position.transaction.to_be_bytes());
        self.hasher.update(position.position.to_be_bytes());
        self.hasher.update(hash.0);
        self.count += 1;
    }

    /// How many events were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The entries digest.
    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

/// The hash of a seal over a tenant's global order (see the module docs): it covers the
/// tenant, the previous seal's hash, the seal's number, the last position it covers, how many
/// events it covers and the digest of their positions and hashes in global order.
pub fn seal_hash(
    tenant: &str,
    previous: &EventHash,
    number: u64,
    through: GlobalPosition,
    event_count: u64,
    entries: &[u8; 32],
) -> EventHash {
    let mut hasher = Sha256::new();
    hasher.update(SEAL_DOMAIN);
    length_prefixed(&mut hasher, tenant.as_bytes());
    hasher.update(previous.0);
    hasher.update(number.to_be_bytes());
    hasher.update(through.transaction.to_be_bytes());
    hasher.update(through.position.to_be_bytes());
    hasher.update(event_count.to_be_bytes());
    hasher.update(entries);
    EventHash(hasher.finalize().into())
}

/// What identifies an append's content for idempotency: the stream, the expected version and
/// each event's id, type, schema version and payload bytes (not its metadata, which may carry
/// per-attempt details).
pub(crate) fn request_hash<'a>(
    stream: &str,
    expected: ExpectedVersion,
    events: impl ExactSizeIterator<Item = (Uuid, &'a str, u16, &'a [u8])>,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(REQUEST_DOMAIN);
    length_prefixed(&mut hasher, stream.as_bytes());
    let (kind, version) = match expected {
        ExpectedVersion::Any => (0_u8, 0),
        ExpectedVersion::NoStream => (1, 0),
        ExpectedVersion::StreamExists => (2, 0),
        ExpectedVersion::Exact(version) => (3, version),
    };
    hasher.update([kind]);
    hasher.update(version.to_be_bytes());
    hasher.update(
        u64::try_from(events.len())
            .unwrap_or(u64::MAX)
            .to_be_bytes(),
    );
    for (id, event_type, schema_version, payload) in events {
        hasher.update(id.as_bytes());
        length_prefixed(&mut hasher, event_type.as_bytes());
        hasher.update(u32::from(schema_version).to_be_bytes());
        length_prefixed(&mut hasher, payload);
    }
    hasher.finalize().into()
}

/// Truncates a timestamp to the microsecond precision every backend stores.
pub(crate) fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(payload: &[u8]) -> EventContent<'_> {
        EventContent {
            tenant: "acme",
            stream: "lead-1",
            event_id: Uuid::nil(),
            event_type: "LeadReceived",
            schema_version: 1,
            payload,
            metadata: b"{}",
        }
    }

    #[test]
    fn the_digest_covers_the_exact_payload_bytes() {
        assert_ne!(
            content_digest(&content(br#"{"a":1}"#)),
            content_digest(&content(br#"{"a": 1}"#))
        );
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let one = EventContent {
            tenant: "ab",
            stream: "c",
            ..content(b"{}")
        };
        let other = EventContent {
            tenant: "a",
            stream: "bc",
            ..content(b"{}")
        };
        assert_ne!(content_digest(&one), content_digest(&other));
    }
}
