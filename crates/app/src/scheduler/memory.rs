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
    rows: Arc<Mutex<HashMap<(TenantId, LeadId), Row>>>,
    tickets: Arc<Mutex<HashMap<(TenantId, TicketId), TicketRow>>>,
}

#[derive(Debug, Clone, Copy)]
struct TicketRow {
    deadline: TicketDeadline,
    leased_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    deadline: ResponseDeadline,
    leased_until: Option<DateTime<Utc>>,
}

impl MemoryDeadlines {
    fn rows(&self) -> MutexGuard<'_, HashMap<(TenantId, LeadId), Row>> {
        // Plain values behind the lock: a poisoned lock still guards consistent rows.
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tickets(&self) -> MutexGuard<'_, HashMap<(TenantId, TicketId), TicketRow>> {
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
        let mut rows = self.rows();
        let mut due: Vec<&mut Row> = rows
            .iter_mut()
            .filter(|((owner, _), row)| {
                owner == tenant
                    && row.deadline.due_at <= now
                    && row.leased_until.is_none_or(|until| until <= now)
            })
            .map(|(_, row)| row)
            .collect();
        due.sort_by_key(|row| (row.deadline.due_at, row.deadline.lead));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|row| {
                row.leased_until = Some(lease_until);
                row.deadline
            })
            .collect())
    }

    async fn done(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        due_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let mut rows = self.rows();
        let key = (tenant.clone(), lead);
        if rows
            .get(&key)
            .is_some_and(|row| row.deadline.due_at == due_at)
        {
            rows.remove(&key);
        }
        Ok(())
    }

    async fn pending(&self, tenant: &TenantId) -> Result<Vec<ResponseDeadline>, WorkError> {
        let rows = self.rows();
        let mut pending: Vec<ResponseDeadline> = rows
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, row)| row.deadline)
            .collect();
        pending.sort_by_key(|deadline| (deadline.due_at, deadline.lead));
        Ok(pending)
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
                    TicketRow {
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
        let mut tickets = self.tickets();
        let mut due: Vec<&mut TicketRow> = tickets
            .iter_mut()
            .filter(|((owner, _), row)| {
                owner == tenant
                    && row.deadline.due_at <= now
                    && row.leased_until.is_none_or(|until| until <= now)
            })
            .map(|(_, row)| row)
            .collect();
        due.sort_by_key(|row| (row.deadline.due_at, row.deadline.ticket));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|row| {
                row.leased_until = Some(lease_until);
                row.deadline
            })
            .collect())
    }

    async fn ticket_done(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        due_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let mut tickets = self.tickets();
        let key = (tenant.clone(), ticket);
        if tickets
            .get(&key)
            .is_some_and(|row| row.deadline.due_at == due_at)
        {
            tickets.remove(&key);
        }
        Ok(())
    }

    async fn pending_tickets(&self, tenant: &TenantId) -> Result<Vec<TicketDeadline>, WorkError> {
        let tickets = self.tickets();
        let mut pending: Vec<TicketDeadline> = tickets
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, row)| row.deadline)
            .collect();
        pending.sort_by_key(|deadline| (deadline.due_at, deadline.ticket));
        Ok(pending)
    }
}
