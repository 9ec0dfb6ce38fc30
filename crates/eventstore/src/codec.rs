//! Turning [`NewEvent`]s into the bytes every backend stores, and stored bytes back into
//! [`RecordedEvent`]s. Both backends go through here, so they validate and decode alike.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::hash::{EventContent, content_digest, request_hash};
use crate::ids::validate_name;
use crate::{
    EventHash, ExpectedVersion, GlobalPosition, Metadata, NameKind, NewEvent, RecordedEvent,
    StoreError, StoreSettings, StreamId, TenantId, Upcasters,
};

/// One event, validated and serialized as it will be stored.
#[derive(Debug, Clone)]
pub(crate) struct EncodedEvent {
    pub(crate) id: Uuid,
    pub(crate) event_type: String,
    pub(crate) schema_version: u16,
    pub(crate) payload: Vec<u8>,
    pub(crate) metadata: Vec<u8>,
    pub(crate) digest: [u8; 32],
}

/// A validated append.
#[derive(Debug, Clone)]
pub(crate) struct EncodedBatch {
    pub(crate) events: Vec<EncodedEvent>,
    pub(crate) idempotency_key: Option<String>,
    /// What a retry with the same idempotency key must match; only an append with a key is
    /// ever compared, so only it pays for hashing its payloads a second time.
    pub(crate) request_hash: Option<[u8; 32]>,
}

fn invalid(event_id: Uuid, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidEvent {
        event_id,
        reason: reason.into(),
    }
}

/// Validates a batch and serializes it once, so that what is hashed is exactly what is stored.
pub(crate) fn encode_batch(
    settings: &StoreSettings,
    tenant: &TenantId,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<EncodedBatch, StoreError> {
    let mut seen = HashSet::with_capacity(events.len());
    let idempotency_key = events
        .first()
        .and_then(|event| event.metadata.idempotency_key.clone());
    if let Some(key) = &idempotency_key {
        validate_name(NameKind::IdempotencyKey, key)?;
    }
    let mut encoded = Vec::with_capacity(events.len());
    for event in events {
        validate_name(NameKind::EventType, &event.event_type)?;
        if event.schema_version == 0 {
            return Err(invalid(event.id, "schema versions start at 1"));
        }
        if let Some(current) = settings.upcasters.current_version(&event.event_type)
            && event.schema_version > current
        {
            return Err(StoreError::UnknownSchemaVersion {
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
            });
        }
        if !seen.insert(event.id) {
            return Err(StoreError::DuplicateEventId { event_id: event.id });
        }
        if event.metadata.idempotency_key != idempotency_key {
            return Err(StoreError::MixedIdempotencyKeys);
        }
        let payload = serde_json::to_vec(&event.payload)
            .map_err(|error| invalid(event.id, format!("payload: {error}")))?;
        let metadata = serde_json::to_vec(&event.metadata)
            .map_err(|error| invalid(event.id, format!("metadata: {error}")))?;
        let size = payload.len() + metadata.len();
        if size > settings.max_event_bytes {
            return Err(StoreError::EventTooLarge {
                event_id: event.id,
                size,
                limit: settings.max_event_bytes,
            });
        }
        let digest = content_digest(&EventContent {
            tenant: tenant.as_str(),
            stream: stream.as_str(),
            event_id: event.id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &payload,
            metadata: &metadata,
        });
        encoded.push(EncodedEvent {
            id: event.id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            payload,
            metadata,
            digest,
        });
    }
    let request_hash = idempotency_key.as_ref().map(|_| {
        request_hash(
            stream.as_str(),
            expected,
            encoded.iter().map(|event| {
                (
                    event.id,
                    event.event_type.as_str(),
                    event.schema_version,
                    event.payload.as_slice(),
                )
            }),
        )
    });
    Ok(EncodedBatch {
        events: encoded,
        idempotency_key,
        request_hash,
    })
}

/// An event's stored fields, borrowed from wherever the backend keeps them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEvent<'a> {
    pub(crate) stream: &'a str,
    pub(crate) version: u64,
    pub(crate) position: GlobalPosition,
    pub(crate) id: Uuid,
    pub(crate) event_type: &'a str,
    pub(crate) schema_version: u16,
    pub(crate) payload: &'a [u8],
    pub(crate) metadata: &'a [u8],
    pub(crate) recorded_at: DateTime<Utc>,
    pub(crate) hash: &'a [u8],
    pub(crate) previous_hash: &'a [u8],
}

impl RawEvent<'_> {
    fn corrupt(&self, tenant: &TenantId, reason: String) -> StoreError {
        StoreError::CorruptRow {
            location: format!(
                "tenant {tenant}, stream {}, version {}",
                self.stream, self.version
            ),
            reason,
        }
    }

    /// The content digest of the stored bytes.
    pub(crate) fn content_digest(&self, tenant: &TenantId) -> [u8; 32] {
        content_digest(&EventContent {
            tenant: tenant.as_str(),
            stream: self.stream,
            event_id: self.id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            payload: self.payload,
            metadata: self.metadata,
        })
    }

    /// Decodes and upcasts the event. `stream` is the stream id to put in the result (the
    /// caller usually has it already and so saves an allocation).
    pub(crate) fn decode(
        &self,
        tenant: &TenantId,
        stream: StreamId,
        upcasters: &Upcasters,
    ) -> Result<RecordedEvent, StoreError> {
        let payload = serde_json::from_slice(self.payload)
            .map_err(|error| self.corrupt(tenant, format!("payload is not JSON: {error}")))?;
        let metadata: Metadata = serde_json::from_slice(self.metadata)
            .map_err(|error| self.corrupt(tenant, format!("metadata: {error}")))?;
        let hash = to_hash(self.hash)
            .ok_or_else(|| self.corrupt(tenant, "hash is not 32 bytes".into()))?;
        let previous_hash = to_hash(self.previous_hash)
            .ok_or_else(|| self.corrupt(tenant, "previous hash is not 32 bytes".into()))?;
        let (schema_version, payload) =
            upcasters.upcast(self.event_type, self.schema_version, payload)?;
        Ok(RecordedEvent {
            tenant: tenant.clone(),
            stream,
            version: self.version,
            position: self.position,
            id: self.id,
            event_type: self.event_type.to_owned(),
            schema_version,
            stored_schema_version: self.schema_version,
            payload,
            metadata,
            recorded_at: self.recorded_at,
            hash,
            previous_hash,
        })
    }
}

/// A stored hash, if it has the right length.
pub(crate) fn to_hash(bytes: &[u8]) -> Option<EventHash> {
    <[u8; 32]>::try_from(bytes).ok().map(EventHash)
}
