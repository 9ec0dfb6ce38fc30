//! Moving history in and out of a [`PostgresStore`] verbatim ([`HistoryTransfer`]), and the
//! audit export's pages ([`PostgresStore::export_page`]).
//!
//! An import is one transaction. It first takes the append lock of each of its streams (the
//! advisory lock `eventstore_append` takes, in name order), so no append or other import can
//! move those heads meanwhile; then reads the heads, the stored events at the batch's
//! versions and the batch's ids already used, in three statements; places every event against
//! them (the same decisions as every backend: `transfer.rs`); and writes the new events with
//! positions drawn up front, in batch order, and the moved heads, in two more.
//!
//! The rows are written with plain `INSERT`s under the append-only triggers (which refuse
//! updates and deletes, not inserts), so an import needs a role that may insert into the
//! event tables: the store's owner, the role that runs migrations. The application role
//! ([`APP_ROLE`](super::APP_ROLE)) writes only through the append function and cannot import:
//! an import chooses `recorded_at` and event ids, which the application never may.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::types::{JsonBytes, Xid8};
use super::{PostgresStore, corrupt, from_pg, release, row_to_raw, sql, to_i64, to_u64, wake};
use crate::audit::ExportedEvent;
use crate::codec::to_hash;
use crate::transfer::{
    CheckedEvent, HistoryPage, HistoryTransfer, ImportOutcome, ImportPlan, ImportTarget,
    TargetHead, check_batch, plan_import,
};
use crate::{EventHash, GlobalPosition, StoreError, StreamHead, StreamId, TenantId};

impl PostgresStore {
    /// Up to `limit` of the tenant's events after `(stream, version)` in (stream, version)
    /// order, with their payload and metadata as the exact text stored: a page of an audit
    /// export ([`crate::audit`]). Pass `None` for the first page and the last event's stream
    /// and version for the next.
    pub async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<ExportedEvent>, StoreError> {
        let (stream, version) = after.unwrap_or(("", 0));
        let client = self.client().await?;
        let rows = client
            .query(
                sql::EXPORT_PAGE,
                &[
                    &tenant.as_str(),
                    &stream,
                    &to_i64(version),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(from_pg);
        release(client, &rows);
        exported(tenant, &rows?)
    }

    async fn import_on(
        &self,
        client: &mut deadpool_postgres::Object,
        tenant: &TenantId,
        checked: &[CheckedEvent<'_>],
    ) -> Result<ImportOutcome, StoreError> {
        let transaction = client.transaction().await.map_err(from_pg)?;
        let mut streams: Vec<&str> = checked.iter().map(|event| event.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        // Name order, so two imports never wait for each other in a circle.
        transaction
            .execute(sql::LOCK_STREAMS, &[&tenant.as_str(), &streams])
            .await
            .map_err(from_pg)?;
        let mut target = Prefetched::read(&*transaction, tenant, &streams, checked).await?;
        let plan = plan_import(checked, &mut target)?;
        if let Some((stream, _)) = plan
            .heads
            .iter()
            .find(|(stream, _)| target.newer_writer.contains(stream.as_str()))
        {
            return Err(StoreError::TransactionOrderConflict {
                stream: stream.clone(),
            });
        }
        write(&*transaction, tenant, &plan).await?;
        transaction.commit().await.map_err(from_pg)?;
        Ok(plan.outcome())
    }
}

impl HistoryTransfer for PostgresStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let client = self.client().await?;
        let rows = client.query(sql::TENANTS, &[]).await.map_err(from_pg);
        release(client, &rows);
        let mut tenants = Vec::new();
        for row in rows? {
            let name: String = row.try_get(0).map_err(|error| corrupt("streams", error))?;
            // A name not in canonical form cannot be addressed: it is left out.
            if let Some(tenant) = TenantId::new(&name).ok().filter(|id| id.as_str() == name) {
                tenants.push(tenant);
            }
        }
        Ok(tenants)
    }

    async fn stream_heads(&self, tenant: &TenantId) -> Result<Vec<StreamHead>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(sql::STREAM_HEADS, &[&tenant.as_str()])
            .await
            .map_err(from_pg);
        release(client, &rows);
        let fail = |error| corrupt("streams", error);
        rows?
            .iter()
            .map(|row| {
                let version: i64 = row.try_get(1).map_err(fail)?;
                let hash: &[u8] = row.try_get(2).map_err(fail)?;
                Ok(StreamHead {
                    stream: row.try_get(0).map_err(fail)?,
                    version: to_u64(version, "streams")?,
                    hash: to_hash(hash)
                        .ok_or_else(|| corrupt("streams", "hash is not 32 bytes"))?,
                })
            })
            .collect()
    }

    async fn exported_event(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<ExportedEvent>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                sql::EXPORT_EVENT,
                &[&tenant.as_str(), &stream.as_str(), &to_i64(version)],
            )
            .await
            .map_err(from_pg);
        release(client, &rows);
        Ok(exported(tenant, &rows?)?.pop())
    }

    async fn export_history(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        // The page `read_all` reads, with the same horizon and held-by verdict, kept as bytes.
        let client = self.client().await?;
        let rows = client
            .query(
                sql::READ_ALL,
                &[
                    &tenant.as_str(),
                    &Xid8(after.transaction),
                    &to_i64(after.position),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(from_pg);
        release(client, &rows);
        let rows = rows?;
        let fail = |error| corrupt("export", error);
        if let Some(row) = rows.first()
            && row.try_get::<_, Option<&str>>(0).map_err(fail)?.is_none()
        {
            // The empty page's single row: only the held-by verdict.
            let horizon: Option<Xid8> = row.try_get(12).map_err(fail)?;
            return Ok(HistoryPage {
                events: Vec::new(),
                held_by: horizon.map(|horizon| horizon.0),
            });
        }
        let mut events = exported(tenant, &rows)?;
        // The statement orders the page's rows but not its output (see `sql::READ_ALL`).
        events.sort_by_key(|event| (event.transaction, event.position));
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
        let checked = check_batch(tenant, events)?;
        let mut client = self.client().await?;
        let outcome = self.import_on(&mut client, tenant, &checked).await;
        release(client, &outcome);
        let outcome = outcome?;
        if outcome.imported > 0 {
            wake::bump(&self.inner.signal);
            self.inner.notify_pending.notify_one();
        }
        Ok(outcome)
    }
}

fn exported(tenant: &TenantId, rows: &[Row]) -> Result<Vec<ExportedEvent>, StoreError> {
    rows.iter()
        .map(|row| row_to_raw(row, 0)?.exported(tenant))
        .collect()
}

/// What an import reads of the target before placing its events, in its transaction, under
/// its streams' locks.
#[derive(Debug, Default)]
struct Prefetched {
    heads: HashMap<String, TargetHead>,
    /// Streams whose head a newer transaction wrote.
    newer_writer: HashSet<String>,
    stored: HashMap<(String, u64), (Uuid, EventHash)>,
    used: HashSet<Uuid>,
}

impl Prefetched {
    async fn read(
        client: &impl tokio_postgres::GenericClient,
        tenant: &TenantId,
        streams: &[&str],
        checked: &[CheckedEvent<'_>],
    ) -> Result<Self, StoreError> {
        let mut target = Self::default();
        let fail = |error| corrupt("streams", error);
        for row in client
            .query(sql::IMPORT_HEADS, &[&tenant.as_str(), &streams])
            .await
            .map_err(from_pg)?
        {
            let stream: String = row.try_get(0).map_err(fail)?;
            let version: i64 = row.try_get(1).map_err(fail)?;
            let hash: &[u8] = row.try_get(2).map_err(fail)?;
            let recorded_at: DateTime<Utc> = row.try_get(3).map_err(fail)?;
            let newer: bool = row.try_get(4).map_err(fail)?;
            let head = TargetHead {
                version: to_u64(version, "streams")?,
                hash: to_hash(hash).ok_or_else(|| corrupt("streams", "hash is not 32 bytes"))?,
                recorded_at,
            };
            if newer {
                target.newer_writer.insert(stream.clone());
            }
            target.heads.insert(stream, head);
        }
        let names: Vec<&str> = checked.iter().map(|event| event.stream.as_str()).collect();
        let versions: Vec<i64> = checked
            .iter()
            .map(|event| to_i64(event.event.version))
            .collect();
        let fail = |error| corrupt("events", error);
        for row in client
            .query(sql::IMPORT_STORED, &[&tenant.as_str(), &names, &versions])
            .await
            .map_err(from_pg)?
        {
            let stream: String = row.try_get(0).map_err(fail)?;
            let version: i64 = row.try_get(1).map_err(fail)?;
            let id: Uuid = row.try_get(2).map_err(fail)?;
            let hash: &[u8] = row.try_get(3).map_err(fail)?;
            let hash = to_hash(hash).ok_or_else(|| corrupt("events", "hash is not 32 bytes"))?;
            target
                .stored
                .insert((stream, to_u64(version, "events")?), (id, hash));
        }
        let ids: Vec<Uuid> = checked.iter().map(|event| event.event.event_id).collect();
        for row in client
            .query(sql::IMPORT_USED_IDS, &[&tenant.as_str(), &ids])
            .await
            .map_err(from_pg)?
        {
            target.used.insert(row.try_get(0).map_err(fail)?);
        }
        Ok(target)
    }
}

impl ImportTarget for Prefetched {
    fn head(&mut self, stream: &StreamId) -> Result<Option<TargetHead>, StoreError> {
        Ok(self.heads.get(stream.as_str()).copied())
    }

    fn stored(
        &mut self,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<(Uuid, EventHash)>, StoreError> {
        Ok(self
            .stored
            .get(&(stream.as_str().to_owned(), version))
            .copied())
    }

    fn id_used(&mut self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.used.contains(&id))
    }
}

/// Writes the planned events and moves their streams' heads.
async fn write(
    client: &impl tokio_postgres::GenericClient,
    tenant: &TenantId,
    plan: &ImportPlan<'_>,
) -> Result<(), StoreError> {
    if plan.events.is_empty() {
        return Ok(());
    }
    let events = &plan.events;
    let streams: Vec<&str> = events.iter().map(|event| event.stream.as_str()).collect();
    let versions: Vec<i64> = events
        .iter()
        .map(|event| to_i64(event.event.version))
        .collect();
    let ids: Vec<Uuid> = events.iter().map(|event| event.event.event_id).collect();
    let types: Vec<&str> = events
        .iter()
        .map(|event| event.event.event_type.as_str())
        .collect();
    let schema_versions: Vec<i32> = events
        .iter()
        .map(|event| i32::from(event.event.schema_version))
        .collect();
    let payloads: Vec<JsonBytes<'_>> = events
        .iter()
        .map(|event| JsonBytes(event.event.payload.as_bytes()))
        .collect();
    let metadata: Vec<JsonBytes<'_>> = events
        .iter()
        .map(|event| JsonBytes(event.event.metadata.as_bytes()))
        .collect();
    let recorded_at: Vec<DateTime<Utc>> = events.iter().map(|event| event.recorded_at).collect();
    let hashes: Vec<&[u8]> = events.iter().map(|event| &event.event.hash.0[..]).collect();
    let previous: Vec<&[u8]> = events
        .iter()
        .map(|event| &event.event.previous_hash.0[..])
        .collect();
    client
        .execute(
            sql::IMPORT_EVENTS,
            &[
                &tenant.as_str(),
                &streams,
                &versions,
                &ids,
                &types,
                &schema_versions,
                &payloads,
                &metadata,
                &recorded_at,
                &hashes,
                &previous,
            ],
        )
        .await
        .map_err(|error| {
            // Another import wrote one of these ids to another stream since they were looked up.
            super::unique_violated_event_id(&error)
                .filter(|id| ids.contains(id))
                .map_or_else(
                    || from_pg(error),
                    |event_id| StoreError::DuplicateEventId { event_id },
                )
        })?;
    let streams: Vec<&str> = plan
        .heads
        .iter()
        .map(|(stream, _)| stream.as_str())
        .collect();
    let versions: Vec<i64> = plan
        .heads
        .iter()
        .map(|(_, head)| to_i64(head.version))
        .collect();
    let hashes: Vec<&[u8]> = plan
        .heads
        .iter()
        .map(|(_, head)| &head.hash.0[..])
        .collect();
    let recorded_at: Vec<DateTime<Utc>> = plan
        .heads
        .iter()
        .map(|(_, head)| head.recorded_at)
        .collect();
    client
        .execute(
            sql::IMPORT_MOVE_HEADS,
            &[&tenant.as_str(), &streams, &versions, &hashes, &recorded_at],
        )
        .await
        .map_err(from_pg)?;
    Ok(())
}
