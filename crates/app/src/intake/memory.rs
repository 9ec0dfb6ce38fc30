//! The inbox in process memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::TenantId;
use uuid::Uuid;

use super::{
    Arrivals, Inbox, InboxHealth, InboxItem, LeadDelivery, Submitted, SuppressedIdentifier,
};
use crate::uow::WorkError;

/// An [`Inbox`] in memory. Clones share the items and the [`arrivals`](Inbox::arrivals).
#[derive(Debug, Clone, Default)]
pub struct MemoryInbox {
    rows: Arc<Mutex<BTreeMap<(TenantId, Uuid), Row>>>,
    suppressed: Arc<Mutex<BTreeSet<(TenantId, SuppressedIdentifier)>>>,
    arrivals: Arrivals,
}

#[derive(Debug, Clone)]
struct Row {
    item: InboxItem,
    due_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl MemoryInbox {
    fn rows(&self) -> MutexGuard<'_, BTreeMap<(TenantId, Uuid), Row>> {
        // Plain values behind the lock: a poisoned lock still guards consistent rows.
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inbox for MemoryInbox {
    async fn submit(
        &self,
        tenant: &TenantId,
        deliveries: &[LeadDelivery],
        at: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, WorkError> {
        let mut rows = self.rows();
        let submitted: Vec<Submitted> = deliveries
            .iter()
            .map(|delivery| {
                let id = delivery.item_id();
                let key = (tenant.clone(), id);
                if rows.contains_key(&key) {
                    return Submitted::Duplicate { id };
                }
                rows.insert(
                    key,
                    Row {
                        item: InboxItem {
                            id,
                            delivery: delivery.clone(),
                            received_at: at,
                            attempts: 0,
                        },
                        due_at: at,
                        done_at: None,
                        last_error: None,
                    },
                );
                Submitted::Accepted { id }
            })
            .collect();
        drop(rows);
        if submitted
            .iter()
            .any(|submitted| matches!(submitted, Submitted::Accepted { .. }))
        {
            self.arrivals.arrived();
        }
        Ok(submitted)
    }

    async fn claim(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<InboxItem>, WorkError> {
        let leased_until = now.checked_add_signed(lease).unwrap_or(now);
        let mut rows = self.rows();
        let mut due: Vec<&mut Row> = rows
            .iter_mut()
            .filter(|((owner, _), row)| {
                owner == tenant && row.done_at.is_none() && row.due_at <= now
            })
            .map(|(_, row)| row)
            .collect();
        due.sort_by_key(|row| (row.item.received_at, row.item.id));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|row| {
                row.due_at = leased_until;
                row.item.clone()
            })
            .collect())
    }

    async fn done(&self, tenant: &TenantId, id: Uuid, at: DateTime<Utc>) -> Result<(), WorkError> {
        if let Some(row) = self.rows().get_mut(&(tenant.clone(), id)) {
            row.done_at.get_or_insert(at);
            row.last_error = None;
        }
        Ok(())
    }

    async fn suppress(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
        _at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let mut suppressed = self
            .suppressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        suppressed.extend(identifiers.iter().map(|id| (tenant.clone(), *id)));
        Ok(())
    }

    async fn is_suppressed(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
    ) -> Result<bool, WorkError> {
        let suppressed = self
            .suppressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(identifiers
            .iter()
            .any(|id| suppressed.contains(&(tenant.clone(), *id))))
    }

    async fn discard(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), WorkError> {
        if let Some(row) = self.rows().get_mut(&(tenant.clone(), id)) {
            row.done_at.get_or_insert(at);
            row.last_error = Some(reason.to_owned());
            row.item.delivery.payload = serde_json::Value::Object(serde_json::Map::new());
        }
        Ok(())
    }

    async fn failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        if let Some(row) = self.rows().get_mut(&(tenant.clone(), id))
            && row.done_at.is_none()
        {
            row.item.attempts = row.item.attempts.saturating_add(1);
            row.due_at = retry_at;
            row.last_error = Some(error.to_owned());
        }
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
        let rows = self.rows();
        let open: Vec<&Row> = rows
            .iter()
            .filter(|((owner, _), row)| owner == tenant && row.done_at.is_none())
            .map(|(_, row)| row)
            .collect();
        Ok(InboxHealth {
            depth: open.len() as u64,
            oldest_age: open
                .iter()
                .map(|row| row.item.received_at)
                .min()
                .map(|oldest| (now - oldest).max(TimeDelta::zero())),
            failing: open.iter().filter(|row| row.last_error.is_some()).count() as u64,
        })
    }
}
