//! An append inside a write transaction: the steps of PostgreSQL's `eventstore_append`
//! (`migrations/0001_events.sql`), in Rust, in the same order and for the same reasons.
//!
//! 1. the idempotency key, before the version check, so a retry of a committed append replays;
//! 2. the expected version (and, when it fails, whether this is a retry of a committed append);
//! 3. the event ids (a used one refused, unless, again, this is such a retry);
//! 4. the transaction id and positions, one more than the last committed ones: the write
//!    lock is held, so nobody else can draw them, and they grow in commit order;
//! 5. the hash chain over the codec's content digests, the version and `recorded_at`;
//! 6. the events, the head and the idempotency record.
//!
//! Everything runs inside a savepoint: an append that fails leaves the caller's transaction
//! as it was before the call, still usable.

use std::collections::HashMap;

use chrono::Utc;
use rusqlite::{OptionalExtension, Transaction};
use uuid::Uuid;

use super::rows::{corrupt, failed, from_micros, micros, to_i64, to_u64};
use crate::codec::{EncodedBatch, StoredLink, earlier_append, to_hash};
use crate::hash::{chain_hash, to_micros};
use crate::{
    AppendResult, AppendedEvent, EventHash, ExpectedVersion, GlobalPosition, StoreError, StreamId,
    TenantId,
};

const IDEMPOTENCY_RECORD: &str = "SELECT request_hash, stream_id, stream_version, tx_id, \
     first_position, event_count, recorded_at FROM eventstore_idempotency_keys \
     WHERE tenant_id = ?1 AND idempotency_key = ?2";

const STREAM_HEAD: &str = "SELECT version, last_hash, last_recorded_at FROM eventstore_streams \
     WHERE tenant_id = ?1 AND stream_id = ?2";

const EVENT_ID_USED: &str =
    "SELECT 1 FROM eventstore_events WHERE tenant_id = ?1 AND event_id = ?2";

/// The last committed event of the whole file: its position and transaction are the largest.
const LAST_EVENT: &str =
    "SELECT position, tx_id FROM eventstore_events ORDER BY position DESC LIMIT 1";

const INSERT_EVENT: &str = "INSERT INTO eventstore_events (position, tx_id, tenant_id, \
     stream_id, version, event_id, event_type, schema_version, payload, metadata, recorded_at, \
     hash, previous_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

const UPSERT_HEAD: &str = "INSERT INTO eventstore_streams (tenant_id, stream_id, version, \
     last_hash, last_recorded_at) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (tenant_id, stream_id) DO UPDATE SET version = excluded.version, \
     last_hash = excluded.last_hash, last_recorded_at = excluded.last_recorded_at";

const INSERT_IDEMPOTENCY_RECORD: &str = "INSERT INTO eventstore_idempotency_keys (tenant_id, \
     idempotency_key, request_hash, stream_id, stream_version, tx_id, first_position, \
     event_count, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The stored coordinates of one event id of a tenant: what a retry is compared with.
const STORED_LINK: &str = "SELECT stream_id, version, position, tx_id, recorded_at, hash, \
     previous_hash FROM eventstore_events WHERE tenant_id = ?1 AND event_id = ?2";

/// Runs `work` inside a savepoint of `transaction`: released when it succeeds, rolled back
/// (the transaction stays usable) when it fails.
pub(crate) fn in_savepoint<T>(
    transaction: &Transaction<'_>,
    work: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    transaction
        .execute_batch("SAVEPOINT eventstore_append")
        .map_err(failed("starting an append"))?;
    match work() {
        Ok(value) => {
            transaction
                .execute_batch("RELEASE eventstore_append")
                .map_err(failed("finishing an append"))?;
            Ok(value)
        }
        Err(error) => {
            // If even the rollback fails the connection is in trouble; the caller's
            // transaction then fails at commit, and the append's error says why first.
            let _ = transaction
                .execute_batch("ROLLBACK TO eventstore_append; RELEASE eventstore_append");
            Err(error)
        }
    }
}

/// A stream's head as stored.
struct Head {
    version: u64,
    last_hash: EventHash,
    last_recorded_at: chrono::DateTime<Utc>,
}

/// Appends `batch` (encoded by the codec) to `stream` inside `transaction`, which must hold
/// the write lock (a `BEGIN IMMEDIATE` transaction). Call it inside [`in_savepoint`].
pub(crate) fn append_encoded(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &EncodedBatch,
) -> Result<AppendResult, StoreError> {
    if let Some(key) = &batch.idempotency_key
        && let Some(answer) = idempotent_answer(transaction, tenant, key, batch)?
    {
        return answer;
    }
    let head = stream_head(transaction, tenant, stream)?;
    let actual = head.as_ref().map(|head| head.version);
    if !expected.admits(actual) {
        return match earlier(transaction, tenant, stream, batch)? {
            Some(result) => Ok(result),
            None => Err(StoreError::VersionConflict {
                stream: stream.clone(),
                expected,
                actual,
            }),
        };
    }
    let base = actual.unwrap_or(0);
    if batch.events.is_empty() {
        return Ok(AppendResult {
            stream_version: base,
            events: Vec::new(),
            recorded_at: None,
        });
    }
    if let Some(used) = used_event_id(transaction, tenant, batch)? {
        return match earlier(transaction, tenant, stream, batch)? {
            Some(result) => Ok(result),
            None => Err(StoreError::DuplicateEventId { event_id: used }),
        };
    }
    write(transaction, tenant, stream, head.as_ref(), batch)
}

/// The answer an idempotency key already used by the tenant gives, if it was used.
fn idempotent_answer(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    key: &str,
    batch: &EncodedBatch,
) -> Result<Option<Result<AppendResult, StoreError>>, StoreError> {
    const LOCATION: &str = "eventstore_idempotency_keys";
    let mut statement = transaction
        .prepare_cached(IDEMPOTENCY_RECORD)
        .map_err(failed("looking up an idempotency key"))?;
    let record = statement
        .query_row((tenant.as_str(), key), |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })
        .optional()
        .map_err(failed("looking up an idempotency key"))?;
    let Some((request_hash, original, stream_version, tx_id, first_position, count, at)) = record
    else {
        return Ok(None);
    };
    if batch.request_hash.as_ref().map(<[u8; 32]>::as_slice) != Some(request_hash.as_slice()) {
        return Ok(Some(Err(StoreError::IdempotencyConflict {
            key: key.to_owned(),
            original_stream: StreamId::new(original).map_err(|error| corrupt(LOCATION, error))?,
        })));
    }
    let stream_version = to_u64(stream_version, LOCATION)?;
    let count = to_u64(count, LOCATION)?;
    if usize::try_from(count).ok() != Some(batch.events.len()) {
        return Err(corrupt(
            LOCATION,
            format!("{count} events recorded for {} sent", batch.events.len()),
        ));
    }
    let transaction_id = to_u64(tx_id, LOCATION)?;
    let first_position = to_u64(first_position, LOCATION)?;
    let first_version = stream_version.saturating_sub(count) + 1;
    let events = batch
        .events
        .iter()
        .zip(0..)
        .map(|(event, offset)| AppendedEvent {
            event_id: event.id,
            version: first_version + offset,
            position: GlobalPosition {
                transaction: transaction_id,
                position: first_position + offset,
            },
        })
        .collect();
    Ok(Some(Ok(AppendResult {
        stream_version,
        events,
        recorded_at: Some(from_micros(at, LOCATION)?),
    })))
}

fn stream_head(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    stream: &StreamId,
) -> Result<Option<Head>, StoreError> {
    let location = || format!("eventstore_streams ({stream})");
    let mut statement = transaction
        .prepare_cached(STREAM_HEAD)
        .map_err(failed("reading a stream head"))?;
    let row = statement
        .query_row((tenant.as_str(), stream.as_str()), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Vec<u8>>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .optional()
        .map_err(failed("reading a stream head"))?;
    row.map(|(version, last_hash, last_recorded_at)| {
        Ok(Head {
            version: to_u64(version, &location())?,
            last_hash: to_hash(&last_hash)
                .ok_or_else(|| corrupt(location(), "last hash is not 32 bytes"))?,
            last_recorded_at: from_micros(last_recorded_at, &location())?,
        })
    })
    .transpose()
}

/// The first id of the batch the tenant already used, if any.
fn used_event_id(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    batch: &EncodedBatch,
) -> Result<Option<Uuid>, StoreError> {
    let mut statement = transaction
        .prepare_cached(EVENT_ID_USED)
        .map_err(failed("looking up event ids"))?;
    for event in &batch.events {
        if statement
            .exists((tenant.as_str(), event.id.as_bytes().as_slice()))
            .map_err(failed("looking up event ids"))?
        {
            return Ok(Some(event.id));
        }
    }
    Ok(None)
}

/// A stored event's coordinates, owned (see [`StoredLink`]).
struct OwnedLink {
    stream: String,
    version: u64,
    position: GlobalPosition,
    recorded_at: chrono::DateTime<Utc>,
    hash: Vec<u8>,
    previous_hash: Vec<u8>,
}

/// The result of the earlier append that `batch` repeats, if it repeats one (see
/// `codec::earlier_append`). Only asked once an append fails, so the normal path pays
/// nothing for it.
pub(crate) fn earlier(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    stream: &StreamId,
    batch: &EncodedBatch,
) -> Result<Option<AppendResult>, StoreError> {
    if batch.events.is_empty() {
        return Ok(None);
    }
    let mut statement = transaction
        .prepare_cached(STORED_LINK)
        .map_err(failed("looking up stored events"))?;
    let mut found: HashMap<Uuid, OwnedLink> = HashMap::with_capacity(batch.events.len());
    for event in &batch.events {
        let row = statement
            .query_row((tenant.as_str(), event.id.as_bytes().as_slice()), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, Vec<u8>>(5)?,
                    row.get::<_, Vec<u8>>(6)?,
                ))
            })
            .optional()
            .map_err(failed("looking up stored events"))?;
        let Some((stream, version, position, tx_id, recorded_at, hash, previous_hash)) = row else {
            // One id not stored: the batch repeats nothing.
            return Ok(None);
        };
        let location = format!("eventstore_events ({stream})");
        found.insert(
            event.id,
            OwnedLink {
                version: to_u64(version, &location)?,
                position: GlobalPosition {
                    transaction: to_u64(tx_id, &location)?,
                    position: to_u64(position, &location)?,
                },
                recorded_at: from_micros(recorded_at, &location)?,
                stream,
                hash,
                previous_hash,
            },
        );
    }
    let links = batch.events.iter().map(|event| {
        found.get(&event.id).map(|link| StoredLink {
            stream: &link.stream,
            version: link.version,
            position: link.position,
            recorded_at: link.recorded_at,
            hash: &link.hash,
            previous_hash: &link.previous_hash,
        })
    });
    Ok(earlier_append(batch, stream, links))
}

/// Writes the batch after every check passed.
fn write(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    stream: &StreamId,
    head: Option<&Head>,
    batch: &EncodedBatch,
) -> Result<AppendResult, StoreError> {
    let (last_position, last_transaction) = transaction
        .prepare_cached(LAST_EVENT)
        .and_then(|mut statement| {
            statement
                .query_row([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
                .optional()
        })
        .map_err(failed("reading the last position"))?
        .unwrap_or((0, 0));
    let transaction_id = to_u64(last_transaction, "eventstore_events (tx_id)")? + 1;
    let mut position = to_u64(last_position, "eventstore_events (position)")?;
    let base = head.map_or(0, |head| head.version);
    // Never before the stream's last event, so "as of a time" is a prefix of the stream.
    let now = to_micros(Utc::now());
    let recorded_at = head.map_or(now, |head| now.max(head.last_recorded_at));
    let at = micros(recorded_at);
    let mut previous = head.map_or(EventHash::ZERO, |head| head.last_hash);
    let mut insert = transaction
        .prepare_cached(INSERT_EVENT)
        .map_err(failed("appending"))?;
    let mut appended = Vec::with_capacity(batch.events.len());
    for (version, event) in (base + 1..).zip(&batch.events) {
        position += 1;
        let hash = chain_hash(&previous, version, recorded_at, &event.digest);
        insert
            .execute((
                to_i64(position, "position")?,
                to_i64(transaction_id, "transaction id")?,
                tenant.as_str(),
                stream.as_str(),
                to_i64(version, "version")?,
                event.id.as_bytes().as_slice(),
                event.event_type.as_str(),
                i64::from(event.schema_version),
                event.payload.as_slice(),
                event.metadata.as_slice(),
                at,
                hash.0.as_slice(),
                previous.0.as_slice(),
            ))
            .map_err(failed("appending"))?;
        appended.push(AppendedEvent {
            event_id: event.id,
            version,
            position: GlobalPosition {
                transaction: transaction_id,
                position,
            },
        });
        previous = hash;
    }
    let stream_version = appended.last().map_or(base, |event| event.version);
    transaction
        .prepare_cached(UPSERT_HEAD)
        .and_then(|mut statement| {
            statement.execute((
                tenant.as_str(),
                stream.as_str(),
                clamp_version(stream_version),
                previous.0.as_slice(),
                at,
            ))
        })
        .map_err(failed("moving the stream head"))?;
    if let (Some(key), Some(request_hash), Some(first)) = (
        &batch.idempotency_key,
        &batch.request_hash,
        appended.first(),
    ) {
        transaction
            .prepare_cached(INSERT_IDEMPOTENCY_RECORD)
            .and_then(|mut statement| {
                statement.execute((
                    tenant.as_str(),
                    key,
                    request_hash.as_slice(),
                    stream.as_str(),
                    clamp_version(stream_version),
                    clamp_version(transaction_id),
                    clamp_version(first.position.position),
                    i64::try_from(appended.len()).unwrap_or(i64::MAX),
                    at,
                ))
            })
            .map_err(failed("recording the idempotency key"))?;
    }
    Ok(AppendResult {
        stream_version,
        events: appended,
        recorded_at: Some(recorded_at),
    })
}

/// A number already checked to fit (it was written as an event's column above).
fn clamp_version(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
