//! Moving history in and out of a [`SqliteStore`] verbatim ([`HistoryTransfer`]), and the
//! audit export's pages ([`SqliteStore::export_page`]).
//!
//! An import is one write transaction: every check runs inside it, against the stream heads
//! and events as they are then, and the events are written with the next transaction id and
//! positions of the file, as an append writes them (see `append.rs`), so the file's global
//! order stays the commit order.

use rusqlite::{OptionalExtension, Transaction};
use uuid::Uuid;

use super::rows::{
    clamp_i64, clamp_limit, corrupt, event_columns, failed, from_micros, micros, raw_event, to_i64,
    to_u64,
};
use super::{SqliteStore, run_blocking};
use crate::audit::ExportedEvent;
use crate::codec::to_hash;
use crate::transfer::{
    CheckedEvent, HistoryPage, HistoryTransfer, ImportOutcome, ImportPlan, ImportTarget,
    TargetHead, check_batch, plan_import,
};
use crate::{EventHash, GlobalPosition, StoreError, StreamHead, StreamId, TenantId};

/// Every tenant with a stream (a stream exists once it has an event).
const TENANTS: &str = "SELECT DISTINCT tenant_id FROM eventstore_streams ORDER BY tenant_id";

/// A page of a tenant's events after checkpoint (?2, ?3), in global order.
const EXPORT_HISTORY: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventstore_events WHERE tenant_id = ?1 AND (tx_id, position) > (?2, ?3) \
     ORDER BY tx_id, position LIMIT ?4"
);

/// A page of a tenant's events after (stream ?2, version ?3), in (stream, version) order.
const EXPORT_PAGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventstore_events WHERE tenant_id = ?1 AND (stream_id, version) > (?2, ?3) \
     ORDER BY stream_id, version LIMIT ?4"
);

/// Every stream head of a tenant, by name.
const STREAM_HEADS: &str = "SELECT stream_id, version, last_hash FROM eventstore_streams \
     WHERE tenant_id = ?1 ORDER BY stream_id";

/// A stream's event at a version, as stored.
const EXPORT_EVENT: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventstore_events WHERE tenant_id = ?1 AND stream_id = ?2 AND version = ?3"
);

const STREAM_HEAD: &str = "SELECT version, last_hash, last_recorded_at FROM eventstore_streams \
     WHERE tenant_id = ?1 AND stream_id = ?2";

const EVENT_AT: &str = "SELECT event_id, hash FROM eventstore_events \
     WHERE tenant_id = ?1 AND stream_id = ?2 AND version = ?3";

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

impl SqliteStore {
    /// Up to `limit` of the tenant's events after `(stream, version)` in (stream, version)
    /// order, with their payload and metadata as the exact text stored: a page of an audit
    /// export ([`crate::audit`]), as [`PostgresStore::export_page`](crate::PostgresStore::export_page)
    /// gives it. Pass `None` for the first page and the last event's stream and version for
    /// the next.
    ///
    /// Fails with [`StoreError::CorruptRow`] on a row whose fields cannot be read as stored
    /// (a payload that is not UTF-8 text, say: written behind the store's back).
    pub async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<ExportedEvent>, StoreError> {
        let tenant = tenant.clone();
        let (stream, version) = after.map_or((String::new(), 0), |(stream, version)| {
            (stream.to_owned(), version)
        });
        let store = self.clone();
        run_blocking(move || {
            store.database().read_blocking(|transaction| {
                exported_rows(
                    transaction,
                    &tenant,
                    EXPORT_PAGE,
                    (
                        tenant.as_str(),
                        stream.as_str(),
                        clamp_i64(version),
                        clamp_limit(limit),
                    ),
                )
            })
        })
        .await
    }

    /// Imports the checked batch in one write transaction.
    fn import_now(
        &self,
        tenant: &TenantId,
        checked: &[CheckedEvent<'_>],
    ) -> Result<ImportOutcome, StoreError> {
        self.database().write_blocking(|transaction| {
            let plan = plan_import(
                checked,
                &mut Target {
                    transaction,
                    tenant,
                },
            )?;
            write(transaction, tenant, &plan)?;
            Ok(plan.outcome())
        })
    }
}

impl HistoryTransfer for SqliteStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let store = self.clone();
        let names: Vec<String> = run_blocking(move || {
            store.database().read_blocking(|transaction| {
                transaction
                    .prepare_cached(TENANTS)
                    .and_then(|mut statement| {
                        statement
                            .query_map([], |row| row.get::<_, String>(0))?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(failed("listing tenants"))
            })
        })
        .await?;
        // A name not in canonical form cannot be addressed: it is left out.
        Ok(names
            .into_iter()
            .filter_map(|name| TenantId::new(&name).ok().filter(|id| id.as_str() == name))
            .collect())
    }

    async fn stream_heads(&self, tenant: &TenantId) -> Result<Vec<StreamHead>, StoreError> {
        let tenant = tenant.clone();
        let store = self.clone();
        run_blocking(move || {
            store.database().read_blocking(|transaction| {
                let location = "eventstore_streams";
                let rows = transaction
                    .prepare_cached(STREAM_HEADS)
                    .and_then(|mut statement| {
                        statement
                            .query_map([tenant.as_str()], |row| {
                                Ok((
                                    row.get::<_, String>(0)?,
                                    row.get::<_, i64>(1)?,
                                    row.get::<_, Vec<u8>>(2)?,
                                ))
                            })?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(failed("reading stream heads"))?;
                rows.into_iter()
                    .map(|(stream, version, hash)| {
                        Ok(StreamHead {
                            version: to_u64(version, location)?,
                            hash: to_hash(&hash)
                                .ok_or_else(|| corrupt(location, "last hash is not 32 bytes"))?,
                            stream,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn exported_event(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<ExportedEvent>, StoreError> {
        let (tenant, stream) = (tenant.clone(), stream.clone());
        let store = self.clone();
        let mut found = run_blocking(move || {
            store.database().read_blocking(|transaction| {
                exported_rows(
                    transaction,
                    &tenant,
                    EXPORT_EVENT,
                    (tenant.as_str(), stream.as_str(), clamp_i64(version)),
                )
            })
        })
        .await?;
        Ok(found.pop())
    }

    async fn export_history(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let tenant = tenant.clone();
        let store = self.clone();
        let events = run_blocking(move || {
            store.database().read_blocking(|transaction| {
                exported_rows(
                    transaction,
                    &tenant,
                    EXPORT_HISTORY,
                    (
                        tenant.as_str(),
                        clamp_i64(after.transaction),
                        clamp_i64(after.position),
                        clamp_limit(limit),
                    ),
                )
            })
        })
        .await?;
        // One writer at a time, committing in order: nothing is ever held back.
        Ok(HistoryPage {
            events,
            held_by: None,
        })
    }

    async fn import_history(
        &self,
        tenant: &TenantId,
        events: &[ExportedEvent],
    ) -> Result<ImportOutcome, StoreError> {
        // Checked and written on a blocking thread: hashing the batch is work too.
        let (tenant, events) = (tenant.clone(), events.to_vec());
        let store = self.clone();
        let outcome = run_blocking(move || {
            let checked = check_batch(&tenant, &events)?;
            store.import_now(&tenant, &checked)
        })
        .await?;
        if outcome.imported > 0 {
            self.announce_append();
        }
        Ok(outcome)
    }
}

/// The rows `query` selects (`event_columns!`), exported.
fn exported_rows(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    query: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<ExportedEvent>, StoreError> {
    let mut statement = transaction
        .prepare_cached(query)
        .map_err(failed("exporting events"))?;
    let mut rows = statement
        .query(parameters)
        .map_err(failed("exporting events"))?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(failed("exporting events"))? {
        events.push(raw_event(row, 0)?.exported(tenant)?);
    }
    Ok(events)
}

/// The file as an import sees it, inside the import's write transaction.
struct Target<'a> {
    transaction: &'a Transaction<'a>,
    tenant: &'a TenantId,
}

impl ImportTarget for Target<'_> {
    fn head(&mut self, stream: &StreamId) -> Result<Option<TargetHead>, StoreError> {
        let location = || format!("eventstore_streams ({stream})");
        let row = self
            .transaction
            .prepare_cached(STREAM_HEAD)
            .and_then(|mut statement| {
                statement
                    .query_row((self.tenant.as_str(), stream.as_str()), |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, Vec<u8>>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    })
                    .optional()
            })
            .map_err(failed("reading a stream head"))?;
        row.map(|(version, hash, recorded_at)| {
            Ok(TargetHead {
                version: to_u64(version, &location())?,
                hash: to_hash(&hash)
                    .ok_or_else(|| corrupt(location(), "last hash is not 32 bytes"))?,
                recorded_at: from_micros(recorded_at, &location())?,
            })
        })
        .transpose()
    }

    fn stored(
        &mut self,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<(Uuid, EventHash)>, StoreError> {
        let location = || format!("eventstore_events ({stream}, version {version})");
        let row = self
            .transaction
            .prepare_cached(EVENT_AT)
            .and_then(|mut statement| {
                statement
                    .query_row(
                        (self.tenant.as_str(), stream.as_str(), clamp_i64(version)),
                        |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)),
                    )
                    .optional()
            })
            .map_err(failed("reading a stored event"))?;
        row.map(|(id, hash)| {
            Ok((
                Uuid::from_slice(&id).map_err(|error| corrupt(location(), error))?,
                to_hash(&hash).ok_or_else(|| corrupt(location(), "hash is not 32 bytes"))?,
            ))
        })
        .transpose()
    }

    fn id_used(&mut self, id: Uuid) -> Result<bool, StoreError> {
        self.transaction
            .prepare_cached(EVENT_ID_USED)
            .and_then(|mut statement| {
                statement.exists((self.tenant.as_str(), id.as_bytes().as_slice()))
            })
            .map_err(failed("looking up event ids"))
    }
}

/// Writes the planned events with the file's next transaction id and positions, then moves
/// the stream heads.
fn write(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    plan: &ImportPlan<'_>,
) -> Result<(), StoreError> {
    if plan.events.is_empty() {
        return Ok(());
    }
    let (last_position, last_transaction) = transaction
        .prepare_cached(LAST_EVENT)
        .and_then(|mut statement| {
            statement
                .query_row([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
                .optional()
        })
        .map_err(failed("reading the last position"))?
        .unwrap_or((0, 0));
    let transaction_id = to_i64(
        to_u64(last_transaction, "eventstore_events (tx_id)")? + 1,
        "transaction id",
    )?;
    let mut position = to_u64(last_position, "eventstore_events (position)")?;
    let mut insert = transaction
        .prepare_cached(INSERT_EVENT)
        .map_err(failed("importing"))?;
    for event in &plan.events {
        position += 1;
        let exported = event.event;
        insert
            .execute((
                to_i64(position, "position")?,
                transaction_id,
                tenant.as_str(),
                event.stream.as_str(),
                to_i64(exported.version, "version")?,
                exported.event_id.as_bytes().as_slice(),
                exported.event_type.as_str(),
                i64::from(exported.schema_version),
                exported.payload.as_bytes(),
                exported.metadata.as_bytes(),
                micros(event.recorded_at),
                exported.hash.0.as_slice(),
                exported.previous_hash.0.as_slice(),
            ))
            .map_err(failed("importing"))?;
    }
    let mut upsert = transaction
        .prepare_cached(UPSERT_HEAD)
        .map_err(failed("moving a stream head"))?;
    for (stream, head) in &plan.heads {
        upsert
            .execute((
                tenant.as_str(),
                stream.as_str(),
                to_i64(head.version, "version")?,
                head.hash.0.as_slice(),
                micros(head.recorded_at),
            ))
            .map_err(failed("moving a stream head"))?;
    }
    Ok(())
}
