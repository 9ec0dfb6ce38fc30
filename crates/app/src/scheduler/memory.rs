//! Response deadlines, ticket deadlines and task reminders in process memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use crm_domain::{LeadId, TaskId, TicketId};
use crm_eventstore::TenantId;

use super::{DeadlineStore, NextReminder, ResponseDeadline, TaskReminder, TicketDeadline};
use crate::uow::WorkError;

/// A [`DeadlineStore`] in memory. Clones share the deadlines.
#[derive(Debug, Clone, Default)]
pub struct MemoryDeadlines {
    rows: Arc<Mutex<Rows<LeadId, ResponseDeadline>>>,
    tickets: Arc<Mutex<Rows<TicketId, TicketDeadline>>>,
    tasks: Arc<Mutex<Rows<TaskId, TaskReminder>>>,
}

type Rows<K, T> = HashMap<(TenantId, K), Row<T>>;

#[derive(Debug, Clone, Copy)]
struct Row<T> {
    deadline: T,
    leased_until: Option<DateTime<Utc>>,
}

/// What the lead deadlines, the ticket deadlines and the task reminders have in common here.
trait Due: Copy {
    /// When it is due (`None`: never, a task reminder with nothing left to send).
    fn due(&self) -> Option<DateTime<Utc>>;

    /// What orders rows due together.
    fn key(&self) -> uuid::Uuid;

    /// The order rows are claimed and listed in: earliest first, those never due last.
    fn order(&self) -> (bool, Option<DateTime<Utc>>, uuid::Uuid) {
        (self.due().is_none(), self.due(), self.key())
    }
}

impl Due for ResponseDeadline {
    fn due(&self) -> Option<DateTime<Utc>> {
        Some(self.due_at)
    }

    fn key(&self) -> uuid::Uuid {
        self.lead.0
    }
}

impl Due for TicketDeadline {
    fn due(&self) -> Option<DateTime<Utc>> {
        Some(self.due_at)
    }

    fn key(&self) -> uuid::Uuid {
        self.ticket.0
    }
}

impl Due for TaskReminder {
    fn due(&self) -> Option<DateTime<Utc>> {
        self.next.map(|next| next.at)
    }

    fn key(&self) -> uuid::Uuid {
        self.task.0
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
                && row.deadline.due().is_some_and(|due| due <= now)
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
        .is_some_and(|row| row.deadline.due() == Some(due_at))
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

    fn tasks(&self) -> MutexGuard<'_, Rows<TaskId, TaskReminder>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
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

    async fn track_task_reminder(
        &self,
        tenant: &TenantId,
        reminder: TaskReminder,
    ) -> Result<(), WorkError> {
        let mut tasks = self.tasks();
        let key = (tenant.clone(), reminder.task);
        match tasks.get_mut(&key) {
            Some(row) if row.deadline.due_at == reminder.due_at => {
                row.deadline.owner = reminder.owner;
            }
            _ => {
                tasks.insert(
                    key,
                    Row {
                        deadline: reminder,
                        leased_until: None,
                    },
                );
            }
        }
        Ok(())
    }

    async fn remove_task_reminder(&self, tenant: &TenantId, task: TaskId) -> Result<(), WorkError> {
        self.tasks().remove(&(tenant.clone(), task));
        Ok(())
    }

    async fn claim_due_task_reminders(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TaskReminder>, WorkError> {
        Ok(claim(&mut self.tasks(), tenant, now, lease_until, limit))
    }

    async fn advance_task_reminder(
        &self,
        tenant: &TenantId,
        claimed: TaskReminder,
        lease_until: DateTime<Utc>,
        next: Option<NextReminder>,
    ) -> Result<(), WorkError> {
        let mut tasks = self.tasks();
        if let Some(row) = tasks.get_mut(&(tenant.clone(), claimed.task))
            && row.deadline.due_at == claimed.due_at
            && row.deadline.next.map(|next| next.kind) == claimed.next.map(|next| next.kind)
            && row.leased_until == Some(lease_until)
        {
            row.deadline.next = next;
            row.leased_until = None;
        }
        Ok(())
    }

    async fn pending_task_reminders(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<TaskReminder>, WorkError> {
        Ok(pending(&self.tasks(), tenant))
    }
}
