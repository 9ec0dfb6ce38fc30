//! The inline lifecycle: a model's documents updated in the same PostgreSQL transaction as the
//! append, so the writer reads its own write the moment it commits.

use crm_eventstore::{AppendResult, ExpectedVersion, NewEvent, PostgresStore, StreamId, TenantId};

use crate::event::ProjectedEvent;
use crate::model::ReadModel;
use crate::postgres::{PostgresDocuments, from_pg};
use crate::runner::RunnerError;
use crate::storage::StorageError;

/// The id of the transaction, if it has one yet.
const CURRENT_TRANSACTION: &str = "SELECT pg_current_xact_id_if_assigned()::text";

/// Appends `events` to `stream` inside `transaction` (see [`PostgresStore::append_in`]) and
/// applies them to `documents` in that same transaction: both commit or neither does.
///
/// - An event that cannot be decoded fails the call ([`RunnerError::Poison`]): roll the
///   transaction back; nothing is appended. Events of kinds this build does not know are
///   appended and passed over.
/// - An idempotent replay (an idempotency key already committed) returns the first result
///   and applies nothing: the first append applied its events already.
/// - The documents' checkpoint is left alone; the asynchronous projector of the same version
///   meets these events later and, the documents being stamped at or past them, changes
///   nothing. Documents touched inline are locked until the transaction ends, so concurrent
///   inline writers of one document queue, and such a document follows commit order. When
///   every append of the events a model reads goes through here, that is all there is to it;
///   an event appended around this function that reaches a document an inline writer of a
///   later transaction already stamped is passed over by the asynchronous projector (the
///   stamp is past it), so do not mix both ways of appending for one model.
pub async fn append_inline<M>(
    store: &PostgresStore,
    documents: &PostgresDocuments<M>,
    transaction: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<AppendResult, RunnerError>
where
    M: ReadModel,
{
    let result = store
        .append_in(transaction, tenant, stream, expected, events)
        .await?;
    let Some(recorded_at) = result.recorded_at else {
        return Ok(result);
    };
    let row = transaction
        .query_one(CURRENT_TRANSACTION, &[])
        .await
        .map_err(|error| RunnerError::Storage(from_pg(error)))?;
    let current: Option<String> = row
        .try_get(0)
        .map_err(|error| RunnerError::Storage(from_pg(error)))?;
    let current = current.and_then(|id| id.parse::<u64>().ok());
    let mut projected = Vec::with_capacity(events.len());
    for (event, appended) in events.iter().zip(&result.events) {
        if Some(appended.position.transaction) != current {
            // A replay of an append another transaction made (and applied).
            continue;
        }
        match ProjectedEvent::decode(
            appended.position,
            recorded_at,
            tenant.clone(),
            stream.as_str(),
            &event.event_type,
            event.schema_version,
            event.payload.clone(),
        ) {
            Ok(decoded) => projected.push(decoded.acted_by(event.metadata.actor.clone())),
            Err(error) if error.is_unknown() => {}
            Err(source) => {
                return Err(RunnerError::Poison {
                    position: appended.position,
                    stream: stream.as_str().to_owned(),
                    event_type: event.event_type.clone(),
                    source,
                });
            }
        }
    }
    documents
        .apply_inline(transaction, &projected)
        .await
        .map_err(|error: StorageError| RunnerError::Storage(error))?;
    Ok(result)
}
