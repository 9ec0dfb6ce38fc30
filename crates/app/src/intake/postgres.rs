//! The inbox on PostgreSQL (`migrations/0005_inbox.sql`).

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::{PostgresStore, TenantId};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Arrivals, Inbox, InboxHealth, InboxItem, LeadDelivery, Submitted, SuppressedIdentifier,
};
use crate::uow::{RELAXED, WorkError, database, execute_cached};

/// An [`Inbox`] in the PostgreSQL database of a store whose application migrations were
/// applied (by [`PostgresUnitOfWork::connect`](crate::PostgresUnitOfWork::connect)).
#[derive(Debug, Clone)]
pub struct PostgresInbox {
    store: PostgresStore,
    arrivals: Arrivals,
}

impl PostgresInbox {
    /// The inbox in `store`'s database. Its clones share its [`arrivals`](Inbox::arrivals).
    pub fn new(store: PostgresStore) -> Self {
        Self {
            store,
            arrivals: Arrivals::default(),
        }
    }
}

const COLUMNS: &str = "id, source, external_id, payload, received_at, attempts";

fn item_from(row: &Row) -> Result<InboxItem, WorkError> {
    let corrupt = |error: tokio_postgres::Error| WorkError::Corrupt {
        what: "inbox item".into(),
        reason: error.to_string(),
    };
    let attempts: i32 = row.try_get(5).map_err(corrupt)?;
    Ok(InboxItem {
        id: row.try_get(0).map_err(corrupt)?,
        delivery: LeadDelivery {
            source: row.try_get(1).map_err(corrupt)?,
            external_id: row.try_get(2).map_err(corrupt)?,
            payload: row.try_get(3).map_err(corrupt)?,
        },
        received_at: row.try_get(4).map_err(corrupt)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

impl Inbox for PostgresInbox {
    async fn submit(
        &self,
        tenant: &TenantId,
        deliveries: &[LeadDelivery],
        at: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, WorkError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = deliveries.iter().map(LeadDelivery::item_id).collect();
        let sources: Vec<&str> = deliveries.iter().map(|d| d.source.as_str()).collect();
        let external: Vec<&str> = deliveries.iter().map(|d| d.external_id.as_str()).collect();
        let payloads: Vec<&serde_json::Value> = deliveries.iter().map(|d| &d.payload).collect();
        let client = self.store.client().await?;
        // One statement for the whole batch; a repeat within the batch or of a stored item is
        // skipped by the unique keys and reported as a duplicate.
        let rows = client
            .query(
                "INSERT INTO app_inbox (tenant, id, source, external_id, payload, received_at, due_at) \
                 SELECT $1, id, source, external_id, payload, $6, $6 \
                 FROM unnest($2::uuid[], $3::text[], $4::text[], $5::json[]) \
                     AS delivery (id, source, external_id, payload) \
                 ON CONFLICT DO NOTHING RETURNING id",
                &[&tenant.as_str(), &ids, &sources, &external, &payloads, &at],
            )
            .await
            .map_err(database("cannot store lead deliveries"))?;
        let mut stored: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
        for row in &rows {
            let id: Uuid = row.try_get(0).map_err(|error| WorkError::Corrupt {
                what: "inbox item".into(),
                reason: error.to_string(),
            })?;
            stored.insert(id);
        }
        if !stored.is_empty() {
            self.arrivals.arrived();
        }
        Ok(ids
            .into_iter()
            .map(|id| {
                if stored.remove(&id) {
                    Submitted::Accepted { id }
                } else {
                    Submitted::Duplicate { id }
                }
            })
            .collect())
    }

    async fn claim(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<InboxItem>, WorkError> {
        let leased_until = now.checked_add_signed(lease).unwrap_or(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.store.client().await?;
        // A claim's lease may be lost in a crash of the database (committed without waiting
        // for the WAL flush): the item is then simply due again.
        let statement = client
            .prepare_cached(&format!(
                "UPDATE app_inbox SET due_at = $3 {RELAXED} \
                     WHERE (tenant, id) IN ( \
                         SELECT tenant, id FROM app_inbox \
                         WHERE tenant = $1 AND done_at IS NULL AND due_at <= $2 \
                         ORDER BY due_at, received_at LIMIT $4 \
                         FOR UPDATE SKIP LOCKED) \
                     RETURNING {COLUMNS}"
            ))
            .await
            .map_err(database("cannot claim inbox items"))?;
        let rows = client
            .query(&statement, &[&tenant.as_str(), &now, &leased_until, &limit])
            .await
            .map_err(database("cannot claim inbox items"))?;
        let mut items = rows.iter().map(item_from).collect::<Result<Vec<_>, _>>()?;
        items.sort_by_key(|item| (item.received_at, item.id));
        Ok(items)
    }

    async fn done(&self, tenant: &TenantId, id: Uuid, at: DateTime<Utc>) -> Result<(), WorkError> {
        self.done_all(tenant, &[id], at).await
    }

    async fn done_all(
        &self,
        tenant: &TenantId,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        if ids.is_empty() {
            return Ok(());
        }
        let client = self.store.client().await?;
        // Committed without waiting for the WAL flush: the leads it records were committed
        // durably before, so a mark lost in a crash of the database only has the items worked
        // on again, which find their leads and redo nothing.
        execute_cached(
            &client,
            &format!(
                "UPDATE app_inbox SET done_at = COALESCE(app_inbox.done_at, $3), \
                 last_error = NULL {RELAXED} WHERE tenant = $1 AND id = ANY($2)"
            ),
            &[&tenant.as_str(), &ids, &at],
            "cannot mark inbox items done",
        )
        .await?;
        Ok(())
    }

    async fn suppressed_among(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
    ) -> Result<std::collections::HashSet<SuppressedIdentifier>, WorkError> {
        if identifiers.is_empty() {
            return Ok(std::collections::HashSet::new());
        }
        let hashes: Vec<&[u8]> = identifiers.iter().map(|id| id.0.as_slice()).collect();
        let client = self.store.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT identifier FROM app_suppressed \
                 WHERE tenant = $1 AND identifier = ANY($2::bytea[])",
            )
            .await
            .map_err(database("cannot read the suppression list"))?;
        let rows = client
            .query(&statement, &[&tenant.as_str(), &hashes])
            .await
            .map_err(database("cannot read the suppression list"))?;
        let mut found = std::collections::HashSet::new();
        for row in &rows {
            let bytes: &[u8] = row
                .try_get(0)
                .map_err(database("cannot read the suppression list"))?;
            let identifier = <[u8; 32]>::try_from(bytes).map_err(|_| WorkError::Corrupt {
                what: "suppression list".into(),
                reason: format!("an identifier of {} bytes, not 32", bytes.len()),
            })?;
            found.insert(SuppressedIdentifier(identifier));
        }
        Ok(found)
    }

    async fn suppress(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let hashes: Vec<&[u8]> = identifiers.iter().map(|id| id.0.as_slice()).collect();
        let client = self.store.client().await?;
        client
            .execute(
                "INSERT INTO app_suppressed (tenant, identifier, suppressed_at) \
                 SELECT $1, identifier, $3 FROM unnest($2::bytea[]) AS identifier \
                 ON CONFLICT DO NOTHING",
                &[&tenant.as_str(), &hashes, &at],
            )
            .await
            .map_err(database("cannot add to the suppression list"))?;
        Ok(())
    }

    async fn is_suppressed(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
    ) -> Result<bool, WorkError> {
        if identifiers.is_empty() {
            return Ok(false);
        }
        let hashes: Vec<&[u8]> = identifiers.iter().map(|id| id.0.as_slice()).collect();
        let client = self.store.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM app_suppressed \
                 WHERE tenant = $1 AND identifier = ANY($2::bytea[]))",
            )
            .await
            .map_err(database("cannot read the suppression list"))?;
        let row = client
            .query_one(&statement, &[&tenant.as_str(), &hashes])
            .await
            .map_err(database("cannot read the suppression list"))?;
        row.try_get(0)
            .map_err(database("cannot read the suppression list"))
    }

    async fn discard(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "UPDATE app_inbox SET done_at = COALESCE(done_at, $3), last_error = $4, \
                 payload = '{}'::json WHERE tenant = $1 AND id = $2",
                &[&tenant.as_str(), &id, &at, &reason],
            )
            .await
            .map_err(database("cannot discard an inbox item"))?;
        Ok(())
    }

    async fn failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        // Lost in a crash of the database, the item is due again sooner: no harm.
        execute_cached(
            &client,
            &format!(
                "UPDATE app_inbox SET attempts = app_inbox.attempts + 1, due_at = $3, \
                 last_error = $4 {RELAXED} WHERE tenant = $1 AND id = $2 \
                 AND app_inbox.done_at IS NULL"
            ),
            &[&tenant.as_str(), &id, &retry_at, &error],
            "cannot record an inbox failure",
        )
        .await?;
        Ok(())
    }

    fn arrivals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.arrivals.subscribe())
    }

    async fn health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<InboxHealth, WorkError> {
        let client = self.store.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), min(received_at), count(*) FILTER (WHERE last_error IS NOT NULL) \
                 FROM app_inbox WHERE tenant = $1 AND done_at IS NULL",
                &[&tenant.as_str()],
            )
            .await
            .map_err(database("cannot read the inbox's health"))?;
        let corrupt = |error: tokio_postgres::Error| WorkError::Corrupt {
            what: "inbox health".into(),
            reason: error.to_string(),
        };
        let depth: i64 = row.try_get(0).map_err(corrupt)?;
        let oldest: Option<DateTime<Utc>> = row.try_get(1).map_err(corrupt)?;
        let failing: i64 = row.try_get(2).map_err(corrupt)?;
        Ok(InboxHealth {
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_age: oldest.map(|oldest| (now - oldest).max(TimeDelta::zero())),
            failing: u64::try_from(failing).unwrap_or(0),
        })
    }
}
