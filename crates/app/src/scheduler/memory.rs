//! Response deadlines in process memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use crm_domain::{LeadId, TicketId};
use crm_eventstore::TenantId;

use super::{DeadlineStore, ResponseDeadline, TicketDeadline};
use crate::uow::WorkError;

/// A [`DeadlineStore`] in memory. Clones share the deadlines.
#[derive(Debug, Clone, Default)]
pub struct MemoryDeadlines {
    rows: Arc<Mutex<Rows<LeadId, ResponseDeadline>>>,
    tickets: Arc<Mutex<Rows<TicketId, TicketDeadline>>>,
}

type Rows<K, T> = HashMap<(TenantId, K), Row<T>>;

#[derive(Debug, Clone, Copy)]
struct Row<T> {
    deadline: T,
    leased_until: Option<DateTime<Utc>>,
}

/// What the lead and the ticket deadlines have in common here.
trait Due: Copy {
    /// When it is due, and the order among deadlines due together.
    fn order(&self) -> (DateTime<Utc>, uuid::Uuid);
}

impl Due for ResponseDeadline {
    fn order(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.due_at, self.lead.0)
    }
}

impl Due for TicketDeadline {
    fn order(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.due_at, self.ticket.0)
    }
}

/// Up to `limit` of `tenant`'s rows due at `now` and not leased, earliest first, now leased.
fn claim<K, T: Due>(
    rows: &mut Rows<K, T>,
    tenant: &TenantId,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> Vec<T> {
    let mut due: Vec<&mut Row<T>> = rows
        .iter_mut()
        .filter(|((owner, _), row)| {
            owner == tenant
                && row.deadline.order().0 <= now
                && row.leased_until.is_none_or(|until| until <= now)
        })
        .map(|(_, row)| row)
        .collect();
    due.sort_by_key(|row| row.deadline.order());
    due.into_iter()
        .take(limit)
        .map(|row| {
            row.leased_until = Some(lease_until);
            row.deadline
        })
        .collect()
}

/// Removes the row under `key` if it is still the one due at `due_at`.
fn finish<K: std::hash::Hash + Eq, T: Due>(
    rows: &mut Rows<K, T>,
    key: &(TenantId, K),
    due_at: DateTime<Utc>,
) {
    if rows
        .get(key)
        .is_some_and(|row| row.deadline.order().0 == due_at)
    {
        rows.remove(key);
    }
}

/// Every row of `tenant`, earliest first.
fn pending<K, T: Due>(rows: &Rows<K, T>, tenant: &TenantId) -> Vec<T> {
    let mut pending: Vec<T> = rows
        .iter()
        .filter(|((owner, _), _)| owner == tenant)
        .map(|(_, row)| row.deadline)
        .collect();
    pending.sort_by_key(Due::order);
    pending
}

impl MemoryDeadlines {
    fn rows(&self) -> MutexGuard<'_, Rows<LeadId, ResponseDeadline>> {
        // Plain values behind the lock: a poisoned lock still guards consistent rows.
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tickets(&self) -> MutexGuard<'_, Rows<TicketId, TicketDeadline>> {
        self.tickets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DeadlineStore for MemoryDeadlines {
    async fn upsert(&self, tenant: &TenantId, deadline: ResponseDeadline) -> Result<(), WorkError> {
        let mut rows = self.rows();
        let key = (tenant.clone(), deadline.lead);
        match rows.get(&key) {
            Some(row) if row.deadline.assigned_at > deadline.assigned_at => {}
            Some(row) if row.deadline == deadline => {}
            _ => {
                rows.insert(
                    key,
                    Row {
                        deadline,
                        leased_until: None,
                    },
                );
            }
        }
        Ok(())
    }

    async fn clear(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        through: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let mut rows = self.rows();
        let key = (tenant.clone(), lead);
        if rows
            .get(&key)
            .is_some_and(|row| row.deadline.assigned_at <= through)
        {
            rows.remove(&key);
        }
        Ok(())
    }

    async fn claim_due(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ResponseDeadline>, WorkError> {
        Ok(claim(&mut self.rows(), tenant, now, lease_until, limit))
    }

    async fn done(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        due_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        finish(&mut self.rows(), &(tenant.clone(), lead), due_at);
        Ok(())
    }

    async fn pending(&self, tenant: &TenantId) -> Result<Vec<ResponseDeadline>, WorkError> {
        Ok(pending(&self.rows(), tenant))
    }

    async fn set_ticket_deadline(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        deadline: Option<TicketDeadline>,
    ) -> Result<(), WorkError> {
        let mut tickets = self.tickets();
        let key = (tenant.clone(), ticket);
        match deadline {
            Some(deadline) => {
                tickets.insert(
                    key,
                    Row {
                        deadline,
                        leased_until: None,
                    },
                );
            }
            None => {
                tickets.remove(&key);
            }
        }
        Ok(())
    }

    async fn claim_due_tickets(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TicketDeadline>, WorkError> {
        Ok(claim(&mut self.tickets(), tenant, now, lease_until, limit))
    }

    async fn ticket_done(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        due_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        finish(&mut self.tickets(), &(tenant.clone(), ticket), due_at);
        Ok(())
    }

    async fn pending_tickets(&self, tenant: &TenantId) -> Result<Vec<TicketDeadline>, WorkError> {
        Ok(pending(&self.tickets(), tenant))
    }
}
