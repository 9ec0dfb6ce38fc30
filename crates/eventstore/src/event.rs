//! What goes into the store ([`NewEvent`], [`Metadata`]) and what comes out
//! ([`RecordedEvent`], [`AppendResult`]), with the coordinates that order them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{StreamId, TenantId};

/// An event to append: a typed, versioned JSON payload with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event's id, unique per tenant; a UUIDv7 by default. Appending an id the tenant
    /// already has is [`StoreError::DuplicateEventId`](crate::StoreError::DuplicateEventId).
    pub id: Uuid,
    /// The event's stable type name (for example `LeadAssigned`).
    pub event_type: String,
    /// The payload's schema version, from 1; older versions are upcast on read.
    pub schema_version: u16,
    /// The payload. The store serializes it once and keeps those bytes exactly.
    pub payload: Value,
    /// Who, why and from where.
    pub metadata: Metadata,
}

impl NewEvent {
    /// An event with a fresh UUIDv7 id and empty metadata.
    pub fn new(event_type: impl Into<String>, schema_version: u16, payload: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata: Metadata::default(),
        }
    }

    /// The same event with the given id (for callers that mint ids themselves, such as a
    /// replayable command context).
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// The same event with the given metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An event's metadata: who caused it, in answer to what, and where it came from.
///
/// Stored as JSON next to the payload and covered by the hash chain. Absent fields are left out
/// of the stored JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// The acting user, system, integration or automation, in the caller's own encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Value>,
    /// Ties together everything done for one request or process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The message (command or event) that directly caused this event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The append's idempotency key. Every event of one append carries the same key or none;
    /// a retry with the same key returns the first result (see [`crate::EventStore::append`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The external system the fact came from, and its own timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Anything else the caller wants kept with the event.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// Where an event's fact came from: an external system and the time that system gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The source system's name (for example `web-form` or `erp`).
    pub system: String,
    /// When the source says the fact happened (for last-write-wins by source time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
}

/// What the caller expects of a stream's version when appending (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist, at any version.
    StreamExists,
    /// The stream must be exactly at this version (its last event's version); `Exact(0)` means
    /// the stream has no events, like [`ExpectedVersion::NoStream`].
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose current version is `actual` (`None`: no stream) satisfies this.
    pub fn admits(self, actual: Option<u64>) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual.is_none(),
            Self::StreamExists => actual.is_some(),
            Self::Exact(version) => actual.unwrap_or(0) == version,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => formatter.write_str("any version"),
            Self::NoStream => formatter.write_str("no stream"),
            Self::StreamExists => formatter.write_str("an existing stream"),
            Self::Exact(version) => write!(formatter, "version {version}"),
        }
    }
}

/// An event's place in its tenant's global order, and the checkpoint a reader keeps.
///
/// Ordered by the appending transaction's id first, then by position. Readers only see
/// transactions that have ended, so once an event at `p` has been read, every event read later
/// sorts after `p`: a checkpoint never skips a late committer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct GlobalPosition {
    /// The appending transaction's id (PostgreSQL's 64-bit `xid8`; a counter in memory).
    pub transaction: u64,
    /// The event's position, unique within the store; increases within a transaction.
    pub position: u64,
}

impl GlobalPosition {
    /// Before every event: the checkpoint to read a tenant from the start.
    pub const START: Self = Self {
        transaction: 0,
        position: 0,
    };
}

impl fmt::Display for GlobalPosition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.transaction, self.position)
    }
}

/// One appended event's coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppendedEvent {
    /// The event's id.
    pub event_id: Uuid,
    /// Its version in its stream.
    pub version: u64,
    /// Its place in the global order.
    pub position: GlobalPosition,
}

/// What an append committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's version after the append (its last event's version; usable as an ETag).
    pub stream_version: u64,
    /// Each event's version and global position, in batch order; empty for an empty append.
    pub events: Vec<AppendedEvent>,
    /// When the batch was recorded (the same instant for every event of a batch); `None` for
    /// an empty append.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// A SHA-256 digest in an event's hash chain (see [`crate::hash`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The "previous hash" of a stream's first event.
    pub const ZERO: Self = Self([0; 32]);
}

impl fmt::Display for EventHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0
            .iter()
            .try_for_each(|byte| write!(formatter, "{byte:02x}"))
    }
}

impl std::str::FromStr for EventHash {
    type Err = String;

    /// Parses the 64 lowercase or uppercase hex digits [`Display`](fmt::Display) writes.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(format!("a hash is 64 hex digits, not {}", bytes.len()));
        }
        let digit = |byte: u8| -> Result<u8, String> {
            char::from(byte)
                .to_digit(16)
                .and_then(|digit| u8::try_from(digit).ok())
                .ok_or_else(|| format!("{:?} is not a hex digit", char::from(byte)))
        };
        let mut hash = [0_u8; 32];
        for (slot, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(Self(hash))
    }
}

impl Serialize for EventHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "EventHash({self})")
    }
}

/// An event as stored, decoded and upcast to its type's current schema version.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Its stream.
    pub stream: StreamId,
    /// Its version in the stream, from 1, without gaps.
    pub version: u64,
    /// Its place in the tenant's global order.
    pub position: GlobalPosition,
    /// Its id.
    pub id: Uuid,
    /// Its type.
    pub event_type: String,
    /// The payload's schema version after upcasting.
    pub schema_version: u16,
    /// The schema version the payload was stored with.
    pub stored_schema_version: u16,
    /// The payload, upcast to `schema_version`.
    pub payload: Value,
    /// Its metadata.
    pub metadata: Metadata,
    /// When the store recorded it (microsecond precision; never earlier than the previous
    /// event of the same stream).
    pub recorded_at: DateTime<Utc>,
    /// Its hash, over the stored bytes and the previous hash.
    pub hash: EventHash,
    /// The hash of the stream's previous event ([`EventHash::ZERO`] for version 1).
    pub previous_hash: EventHash,
}
