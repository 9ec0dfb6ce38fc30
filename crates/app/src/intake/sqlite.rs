//! The inbox on SQLite (`migrations/sqlite/0001_app.sql`).

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::TenantId;
use crm_eventstore::sqlite::SqliteDatabase;
use rusqlite::Row;
use uuid::Uuid;

use super::{
    Arrivals, Inbox, InboxHealth, InboxItem, LeadDelivery, Submitted, SuppressedIdentifier,
};
use crate::uow::{WorkError, instant, micros, queue_figures, sql, to_sql_count, uuid};

/// An [`Inbox`] in a SQLite file whose application migrations were applied (by
/// [`SqliteUnitOfWork::open`](crate::SqliteUnitOfWork::open)).
///
/// A batch of deliveries is stored in one write transaction (durable when it returns); a
/// claim leases its items in the file's one write transaction at a time, so two workers never
/// claim one item.
#[derive(Debug, Clone)]
pub struct SqliteInbox {
    database: SqliteDatabase,
    arrivals: Arrivals,
}

impl SqliteInbox {
    /// The inbox in `database`. Its clones share its [`arrivals`](Inbox::arrivals).
    pub fn new(database: SqliteDatabase) -> Self {
        Self {
            database,
            arrivals: Arrivals::default(),
        }
    }
}

const COLUMNS: &str = "id, source, external_id, payload, received_at, attempts";

type ItemRow = (String, String, String, String, i64, i64);

fn item_row(row: &Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn item_from(
    (id, source, external_id, payload, received_at, attempts): ItemRow,
) -> Result<InboxItem, WorkError> {
    let what = "inbox item";
    Ok(InboxItem {
        id: uuid(what, &id)?,
        delivery: LeadDelivery {
            source,
            external_id,
            payload: serde_json::from_str(&payload).map_err(|error| WorkError::Corrupt {
                what: format!("inbox item {id}"),
                reason: format!("its payload is not JSON: {error}"),
            })?,
        },
        received_at: instant(what, received_at)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

impl Inbox for SqliteInbox {
    async fn submit(
        &self,
        tenant: &TenantId,
        deliveries: &[LeadDelivery],
        at: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, WorkError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let rows = deliveries
            .iter()
            .map(|delivery| {
                // The delivery was checked (its depth bounded) before it came here.
                let payload = serde_json::to_string(&delivery.payload).map_err(|error| {
                    WorkError::Corrupt {
                        what: format!("delivery {}", delivery.external_id),
                        reason: error.to_string(),
                    }
                })?;
                Ok((
                    delivery.item_id(),
                    delivery.source.clone(),
                    delivery.external_id.clone(),
                    payload,
                ))
            })
            .collect::<Result<Vec<_>, WorkError>>()?;
        let tenant = tenant.clone();
        let stored: HashSet<Uuid> = self
            .database
            .write(move |transaction| {
                let mut insert = transaction
                    .prepare_cached(
                        "INSERT INTO app_inbox (tenant, id, source, external_id, payload, \
                         received_at, due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(sql("cannot store lead deliveries"))?;
                let mut stored = HashSet::new();
                for (id, source, external_id, payload) in &rows {
                    // A repeat within the batch or of a stored item is skipped by the unique
                    // keys and reported as a duplicate.
                    let inserted = insert
                        .execute((
                            tenant.as_str(),
                            id.to_string(),
                            source,
                            external_id,
                            payload,
                            micros(at),
                        ))
                        .map_err(sql("cannot store lead deliveries"))?;
                    if inserted == 1 {
                        stored.insert(*id);
                    }
                }
                Ok::<_, WorkError>(stored)
            })
            .await?;
        if !stored.is_empty() {
            self.arrivals.arrived();
        }
        let mut stored = stored;
        Ok(deliveries
            .iter()
            .map(|delivery| {
                let id = delivery.item_id();
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
        let tenant = tenant.clone();
        let found = self
            .database
            .write(move |transaction| {
                transaction
                    .prepare_cached(&format!(
                        "UPDATE app_inbox SET due_at = ?3 \
                         WHERE tenant = ?1 AND id IN ( \
                             SELECT id FROM app_inbox \
                             WHERE tenant = ?1 AND done_at IS NULL AND due_at <= ?2 \
                             ORDER BY due_at, received_at LIMIT ?4) \
                         RETURNING {COLUMNS}"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_map(
                                (
                                    tenant.as_str(),
                                    micros(now),
                                    micros(leased_until),
                                    to_sql_count(limit),
                                ),
                                item_row,
                            )?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(sql("cannot claim inbox items"))
            })
            .await?;
        let mut items = found
            .into_iter()
            .map(item_from)
            .collect::<Result<Vec<_>, _>>()?;
        items.sort_by_key(|item| (item.received_at, item.id));
        Ok(items)
    }

    async fn done(&self, tenant: &TenantId, id: Uuid, at: DateTime<Utc>) -> Result<(), WorkError> {
        let tenant = tenant.clone();
        self.database
            .write(move |transaction| {
                transaction
                    .execute(
                        "UPDATE app_inbox SET done_at = COALESCE(done_at, ?3), last_error = NULL \
                         WHERE tenant = ?1 AND id = ?2",
                        (tenant.as_str(), id.to_string(), micros(at)),
                    )
                    .map_err(sql("cannot mark an inbox item done"))
            })
            .await
            .map(drop)
    }

    async fn suppress(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let (tenant, identifiers) = (tenant.clone(), identifiers.to_vec());
        self.database
            .write(move |transaction| {
                let mut statement = transaction
                    .prepare_cached(
                        "INSERT INTO app_suppressed (tenant, identifier, suppressed_at) \
                         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    )
                    .map_err(sql("cannot add to the suppression list"))?;
                for identifier in &identifiers {
                    statement
                        .execute((tenant.as_str(), identifier.0.as_slice(), micros(at)))
                        .map_err(sql("cannot add to the suppression list"))?;
                }
                Ok(())
            })
            .await
    }

    async fn is_suppressed(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
    ) -> Result<bool, WorkError> {
        let (tenant, identifiers) = (tenant.clone(), identifiers.to_vec());
        self.database
            .read(move |transaction| {
                let mut statement = transaction
                    .prepare_cached(
                        "SELECT 1 FROM app_suppressed WHERE tenant = ?1 AND identifier = ?2",
                    )
                    .map_err(sql("cannot read the suppression list"))?;
                for identifier in &identifiers {
                    if statement
                        .exists((tenant.as_str(), identifier.0.as_slice()))
                        .map_err(sql("cannot read the suppression list"))?
                    {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await
    }

    async fn discard(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), WorkError> {
        let (tenant, reason) = (tenant.clone(), reason.to_owned());
        self.database
            .write(move |transaction| {
                transaction
                    .execute(
                        "UPDATE app_inbox SET done_at = COALESCE(done_at, ?3), last_error = ?4, \
                         payload = '{}' WHERE tenant = ?1 AND id = ?2",
                        (tenant.as_str(), id.to_string(), micros(at), reason),
                    )
                    .map_err(sql("cannot discard an inbox item"))
            })
            .await?;
        // The payload's bytes also sit in the write-ahead log's frame of the row as it was
        // stored: the log is checkpointed and truncated, as after a shredding (secure_delete
        // zeroes what the update freed in the file itself). A reader holding the log keeps
        // it until the next checkpoint overwrites it.
        let database = self.database.clone();
        tokio::task::spawn_blocking(move || database.checkpoint_truncate())
            .await
            .map_err(|error| {
                WorkError::Store(crm_eventstore::StoreError::Unavailable {
                    reason: format!("a SQLite checkpoint did not finish: {error}"),
                    source: None,
                })
            })?
            .map_err(WorkError::Store)?;
        Ok(())
    }

    async fn failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let (tenant, error) = (tenant.clone(), error.to_owned());
        self.database
            .write(move |transaction| {
                transaction
                    .execute(
                        "UPDATE app_inbox SET attempts = attempts + 1, due_at = ?3, \
                         last_error = ?4 WHERE tenant = ?1 AND id = ?2 AND done_at IS NULL",
                        (tenant.as_str(), id.to_string(), micros(retry_at), error),
                    )
                    .map_err(sql("cannot record an inbox failure"))
            })
            .await
            .map(drop)
    }

    fn arrivals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.arrivals.subscribe())
    }

    async fn health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<InboxHealth, WorkError> {
        let (depth, oldest_age, failing) = queue_figures(
            &self.database,
            "SELECT count(*), min(received_at), \
                    count(*) FILTER (WHERE last_error IS NOT NULL) \
             FROM app_inbox WHERE tenant = ?1 AND done_at IS NULL",
            tenant,
            now,
            "the inbox's health",
        )
        .await?;
        Ok(InboxHealth {
            depth,
            oldest_age,
            failing,
        })
    }
}
