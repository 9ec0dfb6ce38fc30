//! Turning [`NewEvent`]s into the bytes every backend stores, and stored bytes back into
//! [`RecordedEvent`]s. Both backends go through here, so they validate and decode alike.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::ExportedEvent;
use crate::depth::{MAX_JSON_DEPTH, text_depth, within_depth};
use crate::hash::{EventContent, chain_hash, content_digest, request_hash};
use crate::ids::validate_name;
use crate::{
    AppendResult, AppendedEvent, EventHash, ExpectedVersion, GlobalPosition, Metadata, NameKind,
    NewEvent, RecordedEvent, StoreError, StoreSettings, StreamId, TenantId, UnreadableEvent,
    Upcasters,
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
        // Serializing recurses: measure first, without recursing, so that no input can
        // overflow the stack and nothing is stored that the read paths cannot parse back.
        check_depth(event, settings.json_depth_limit())?;
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

/// Where and how an event of an earlier append was stored: what [`earlier_append`] compares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredLink<'a> {
    pub(crate) stream: &'a str,
    pub(crate) version: u64,
    pub(crate) position: GlobalPosition,
    pub(crate) recorded_at: DateTime<Utc>,
    pub(crate) hash: &'a [u8],
    pub(crate) previous_hash: &'a [u8],
}

/// The result of an earlier append that this batch repeats, if it repeats one.
///
/// A client whose append's outcome was unknown (the connection dropped after the commit)
/// retries it with the same event ids. The retry repeats the earlier append when every event
/// id of the batch is stored, in `stream`, at consecutive versions in batch order, by one
/// append (one transaction; a run of an earlier batch counts, since each of its events is
/// stored exactly as asked and nothing would be written), with exactly
/// the same content: each stored hash is recomputed from the stored previous hash, version and
/// time and the retry's content digest, so any difference in type, schema version, payload or
/// metadata bytes makes it a different append (and the caller gets the original error).
/// `lookup` gives each id's stored link in batch order; `None` for an id not stored.
pub(crate) fn earlier_append<'a>(
    batch: &EncodedBatch,
    stream: &StreamId,
    links: impl IntoIterator<Item = Option<StoredLink<'a>>>,
) -> Option<AppendResult> {
    let mut events = Vec::with_capacity(batch.events.len());
    let mut recorded_at = None;
    let mut links = links.into_iter();
    for event in &batch.events {
        let link = links.next()??;
        let follows = events.last().is_none_or(|previous: &AppendedEvent| {
            previous.version + 1 == link.version
                && previous.position.transaction == link.position.transaction
        });
        let previous = to_hash(link.previous_hash)?;
        let same_content = to_hash(link.hash)
            == Some(chain_hash(
                &previous,
                link.version,
                link.recorded_at,
                &event.digest,
            ));
        if link.stream != stream.as_str() || !follows || !same_content {
            return None;
        }
        recorded_at = Some(link.recorded_at);
        events.push(AppendedEvent {
            event_id: event.id,
            version: link.version,
            position: link.position,
        });
    }
    Some(AppendResult {
        stream_version: events.last()?.version,
        events,
        recorded_at,
    })
}

/// Refuses an event whose payload or metadata nests JSON deeper than `limit`.
fn check_depth(event: &NewEvent, limit: usize) -> Result<(), StoreError> {
    let too_deep = |what: &str| StoreError::TooDeep {
        what: format!("{what} of event {}", event.id),
        limit,
    };
    if !within_depth(&event.payload, limit) {
        return Err(too_deep("payload"));
    }
    // The metadata is an object, so its free-form values sit one level below its top; the
    // flattened `extra` values are read back through serde's buffering, which costs one level
    // more (the conformance suite reads both limits back).
    let metadata = &event.metadata;
    let actor_too_deep = metadata
        .actor
        .as_ref()
        .is_some_and(|actor| limit == 0 || !within_depth(actor, limit - 1));
    let extra_too_deep = !metadata.extra.is_empty()
        && (limit < 2
            || metadata
                .extra
                .values()
                .any(|value| !within_depth(value, limit - 2)));
    if actor_too_deep || extra_too_deep {
        return Err(too_deep("metadata"));
    }
    Ok(())
}

/// Refuses a snapshot state nested deeper than `limit`.
pub(crate) fn check_state_depth(state: &serde_json::Value, limit: usize) -> Result<(), StoreError> {
    if within_depth(state, limit) {
        Ok(())
    } else {
        Err(StoreError::TooDeep {
            what: "snapshot state".into(),
            limit,
        })
    }
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

    /// This row as an [`UnreadableEvent`], for a read that could not decode it.
    pub(crate) fn unreadable(&self, reason: &StoreError) -> UnreadableEvent {
        UnreadableEvent {
            stream: self.stream.to_owned(),
            version: self.version,
            position: self.position,
            id: self.id,
            event_type: self.event_type.to_owned(),
            stored_schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            reason: reason.to_string(),
        }
    }

    /// Why the read paths could not parse this row's JSON, if they could not (the cheap check
    /// behind `verify`: it parses without building values and does not upcast).
    pub(crate) fn parse_problem(&self) -> Option<String> {
        // Skipping a value does not count depth in serde_json: measure it apart.
        let depth = text_depth(self.payload);
        if depth > MAX_JSON_DEPTH {
            return Some(format!(
                "payload nests {depth} levels deep, more than the {MAX_JSON_DEPTH} readers parse"
            ));
        }
        if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(self.payload) {
            return Some(format!("payload is not readable JSON: {error}"));
        }
        if let Err(error) = serde_json::from_slice::<Metadata>(self.metadata) {
            return Some(format!("metadata: {error}"));
        }
        None
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

    /// The event as exported ([`crate::audit`], [`crate::HistoryTransfer`]): its payload and
    /// metadata as the exact text stored. Fails with [`StoreError::CorruptRow`] when they are
    /// not UTF-8 or a hash is not 32 bytes (a row written behind the store's back).
    pub(crate) fn exported(&self, tenant: &TenantId) -> Result<ExportedEvent, StoreError> {
        let text = |bytes: &[u8], what: &str| {
            String::from_utf8(bytes.to_vec())
                .map_err(|_| self.corrupt(tenant, format!("{what} is not UTF-8 text")))
        };
        let hash = |bytes: &[u8], what: &str| {
            to_hash(bytes).ok_or_else(|| self.corrupt(tenant, format!("{what} is not 32 bytes")))
        };
        Ok(ExportedEvent {
            stream: self.stream.to_owned(),
            version: self.version,
            position: self.position.position,
            transaction: self.position.transaction,
            event_id: self.id,
            event_type: self.event_type.to_owned(),
            schema_version: self.schema_version,
            payload: text(self.payload, "payload")?,
            metadata: text(self.metadata, "metadata")?,
            recorded_at: self.recorded_at,
            hash: hash(self.hash, "hash")?,
            previous_hash: hash(self.previous_hash, "previous hash")?,
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
