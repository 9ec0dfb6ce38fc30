//! Response deadlines, ticket deadlines and task reminders on PostgreSQL
//! (`migrations/0003_response_deadlines.sql`, `0004_ticket_deadlines.sql`,
//! `0007_task_reminders.sql`).

use chrono::{DateTime, Utc};
use std::num::NonZeroU8;

use crm_domain::{LeadId, TaskId, TeamId, TicketId, UserId};
use crm_eventstore::{PostgresStore, TenantId};
use tokio_postgres::Row;

use super::{
    DeadlineStore, NextReminder, ReminderKind, ResponseDeadline, TaskReminder, TicketDeadline,
};
use crate::uow::{WorkError, database};

/// A [`DeadlineStore`] in the PostgreSQL database of a store whose application migrations
/// were applied (by [`PostgresUnitOfWork::connect`](crate::PostgresUnitOfWork::connect)).
#[derive(Debug, Clone)]
pub struct PostgresDeadlines {
    store: PostgresStore,
}

impl PostgresDeadlines {
    /// The deadlines in `store`'s database.
    pub fn new(store: PostgresStore) -> Self {
        Self { store }
    }

    /// Leases up to `limit` rows of `claimable`'s table due at `now` and not leased, until
    /// `lease_until` (`FOR UPDATE SKIP LOCKED`: concurrent schedulers claim different rows);
    /// returns them with `claimable.columns`.
    async fn claim_rows(
        &self,
        claimable: &Claimable,
        tenant: &TenantId,
        (now, lease_until): (DateTime<Utc>, DateTime<Utc>),
        limit: usize,
        context: &'static str,
    ) -> Result<Vec<Row>, WorkError> {
        let Claimable {
            table,
            key,
            when,
            columns,
        } = claimable;
        let client = self.store.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client
            .query(
                &format!(
                    "UPDATE {table} SET leased_until = $3 \
                     WHERE (tenant, {key}) IN ( \
                         SELECT tenant, {key} FROM {table} \
                         WHERE tenant = $1 AND {when} <= $2 \
                           AND (leased_until IS NULL OR leased_until <= $2) \
                         ORDER BY {when}, {key} LIMIT $4 \
                         FOR UPDATE SKIP LOCKED) \
                     RETURNING {columns}"
                ),
                &[&tenant.as_str(), &now, &lease_until, &limit],
            )
            .await
            .map_err(database(context))
    }
}

/// A scheduler table as a claim sees it: its name, its key within the tenant, the column
/// saying when a row is due, and the columns a claim returns.
struct Claimable {
    table: &'static str,
    key: &'static str,
    when: &'static str,
    columns: &'static str,
}

const RESPONSE_DEADLINES: Claimable = Claimable {
    table: "app_response_deadlines",
    key: "lead",
    when: "due_at",
    columns: COLUMNS,
};

const TICKET_DEADLINES: Claimable = Claimable {
    table: "app_ticket_deadlines",
    key: "ticket",
    when: "due_at",
    columns: TICKET_COLUMNS,
};

const TASK_REMINDERS: Claimable = Claimable {
    table: "app_task_reminders",
    key: "task",
    when: "remind_at",
    columns: TASK_COLUMNS,
};

fn deadline_from(row: &Row) -> ResponseDeadline {
    ResponseDeadline {
        lead: LeadId(row.get(0)),
        rep: UserId(row.get(1)),
        team: TeamId(row.get(2)),
        assigned_at: row.get(3),
        due_at: row.get(4),
    }
}

const COLUMNS: &str = "lead, rep, team, assigned_at, due_at";

const TICKET_COLUMNS: &str = "ticket, level, due_at";

fn ticket_deadline_from(row: &Row) -> Result<TicketDeadline, WorkError> {
    let corrupt = |reason: String| WorkError::Corrupt {
        what: "ticket deadline".into(),
        reason,
    };
    let level: i16 = row.try_get(1).map_err(|error| corrupt(error.to_string()))?;
    Ok(TicketDeadline {
        ticket: TicketId(row.try_get(0).map_err(|error| corrupt(error.to_string()))?),
        level: u8::try_from(level)
            .ok()
            .and_then(NonZeroU8::new)
            .ok_or_else(|| corrupt(format!("level {level} is not 1 to 255")))?,
        due_at: row.try_get(2).map_err(|error| corrupt(error.to_string()))?,
    })
}

const TASK_COLUMNS: &str = "task, owner, due_at, kind, remind_at";

fn task_reminder_from(row: &Row) -> Result<TaskReminder, WorkError> {
    let corrupt = |reason: String| WorkError::Corrupt {
        what: "task reminder".into(),
        reason,
    };
    let kind: Option<String> = row.try_get(3).map_err(|error| corrupt(error.to_string()))?;
    let remind_at: Option<DateTime<Utc>> =
        row.try_get(4).map_err(|error| corrupt(error.to_string()))?;
    let next = match (kind, remind_at) {
        (Some(kind), Some(at)) => Some(NextReminder {
            kind: ReminderKind::parse(&kind)
                .ok_or_else(|| corrupt(format!("kind {kind:?} is not due or overdue")))?,
            at,
        }),
        (None, None) => None,
        _ => return Err(corrupt("a kind without its instant, or the reverse".into())),
    };
    Ok(TaskReminder {
        task: TaskId(row.try_get(0).map_err(|error| corrupt(error.to_string()))?),
        owner: UserId(row.try_get(1).map_err(|error| corrupt(error.to_string()))?),
        due_at: row.try_get(2).map_err(|error| corrupt(error.to_string()))?,
        next,
    })
}

impl DeadlineStore for PostgresDeadlines {
    async fn upsert(&self, tenant: &TenantId, deadline: ResponseDeadline) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "INSERT INTO app_response_deadlines (tenant, lead, rep, team, assigned_at, due_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (tenant, lead) DO UPDATE SET rep = EXCLUDED.rep, \
                     team = EXCLUDED.team, assigned_at = EXCLUDED.assigned_at, \
                     due_at = EXCLUDED.due_at, leased_until = NULL \
                 WHERE app_response_deadlines.assigned_at < EXCLUDED.assigned_at",
                &[
                    &tenant.as_str(),
                    &deadline.lead.0,
                    &deadline.rep.0,
                    &deadline.team.0,
                    &deadline.assigned_at,
                    &deadline.due_at,
                ],
            )
            .await
            .map_err(database("cannot record a response deadline"))?;
        Ok(())
    }

    async fn clear(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        through: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "DELETE FROM app_response_deadlines \
                 WHERE tenant = $1 AND lead = $2 AND assigned_at <= $3",
                &[&tenant.as_str(), &lead.0, &through],
            )
            .await
            .map_err(database("cannot clear a response deadline"))?;
        Ok(())
    }

    async fn claim_due(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ResponseDeadline>, WorkError> {
        let rows = self
            .claim_rows(
                &RESPONSE_DEADLINES,
                tenant,
                (now, lease_until),
                limit,
                "cannot claim due response deadlines",
            )
            .await?;
        let mut due: Vec<ResponseDeadline> = rows.iter().map(deadline_from).collect();
        due.sort_by_key(|deadline| (deadline.due_at, deadline.lead));
        Ok(due)
    }

    async fn done(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        due_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "DELETE FROM app_response_deadlines \
                 WHERE tenant = $1 AND lead = $2 AND due_at = $3",
                &[&tenant.as_str(), &lead.0, &due_at],
            )
            .await
            .map_err(database("cannot finish a response deadline"))?;
        Ok(())
    }

    async fn backlog(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<super::SchedulerBacklog, WorkError> {
        let client = self.store.client().await?;
        let mut counts = [super::DueBacklog::default(); 3];
        for (slot, kind) in
            counts
                .iter_mut()
                .zip([RESPONSE_DEADLINES, TICKET_DEADLINES, TASK_REMINDERS])
        {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), min({when}) FROM {table} \
                         WHERE tenant = $1 AND {when} <= $2",
                        when = kind.when,
                        table = kind.table
                    ),
                    &[&tenant.as_str(), &now],
                )
                .await
                .map_err(database("cannot count due deadlines"))?;
            let count: i64 = row
                .try_get(0)
                .map_err(database("cannot count due deadlines"))?;
            let oldest: Option<DateTime<Utc>> = row
                .try_get(1)
                .map_err(database("cannot count due deadlines"))?;
            *slot = super::DueBacklog {
                count: u64::try_from(count).unwrap_or(0),
                oldest,
            };
        }
        let [response_deadlines, ticket_escalations, task_reminders] = counts;
        Ok(super::SchedulerBacklog {
            response_deadlines,
            ticket_escalations,
            task_reminders,
        })
    }

    async fn pending(&self, tenant: &TenantId) -> Result<Vec<ResponseDeadline>, WorkError> {
        let client = self.store.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM app_response_deadlines WHERE tenant = $1 \
                     ORDER BY due_at, lead"
                ),
                &[&tenant.as_str()],
            )
            .await
            .map_err(database("cannot read response deadlines"))?;
        Ok(rows.iter().map(deadline_from).collect())
    }

    async fn set_ticket_deadline(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        deadline: Option<TicketDeadline>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        match deadline {
            Some(deadline) => client
                .execute(
                    "INSERT INTO app_ticket_deadlines (tenant, ticket, level, due_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant, ticket) DO UPDATE SET level = EXCLUDED.level, \
                         due_at = EXCLUDED.due_at, leased_until = NULL",
                    &[
                        &tenant.as_str(),
                        &ticket.0,
                        &i16::from(deadline.level.get()),
                        &deadline.due_at,
                    ],
                )
                .await
                .map_err(database("cannot record a ticket deadline"))?,
            None => client
                .execute(
                    "DELETE FROM app_ticket_deadlines WHERE tenant = $1 AND ticket = $2",
                    &[&tenant.as_str(), &ticket.0],
                )
                .await
                .map_err(database("cannot remove a ticket deadline"))?,
        };
        Ok(())
    }

    async fn claim_due_tickets(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TicketDeadline>, WorkError> {
        let rows = self
            .claim_rows(
                &TICKET_DEADLINES,
                tenant,
                (now, lease_until),
                limit,
                "cannot claim due ticket deadlines",
            )
            .await?;
        let mut due = rows
            .iter()
            .map(ticket_deadline_from)
            .collect::<Result<Vec<_>, _>>()?;
        due.sort_by_key(|deadline| (deadline.due_at, deadline.ticket));
        Ok(due)
    }

    async fn ticket_done(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        due_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "DELETE FROM app_ticket_deadlines \
                 WHERE tenant = $1 AND ticket = $2 AND due_at = $3",
                &[&tenant.as_str(), &ticket.0, &due_at],
            )
            .await
            .map_err(database("cannot finish a ticket deadline"))?;
        Ok(())
    }

    async fn pending_tickets(&self, tenant: &TenantId) -> Result<Vec<TicketDeadline>, WorkError> {
        let client = self.store.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM app_ticket_deadlines WHERE tenant = $1 \
                     ORDER BY due_at, ticket"
                ),
                &[&tenant.as_str()],
            )
            .await
            .map_err(database("cannot read ticket deadlines"))?;
        rows.iter().map(ticket_deadline_from).collect()
    }

    async fn track_task_reminder(
        &self,
        tenant: &TenantId,
        reminder: TaskReminder,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        // Every expression of the update reads the row as it was, so the due time compared is
        // the recorded one.
        client
            .execute(
                "INSERT INTO app_task_reminders (tenant, task, owner, due_at, kind, remind_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (tenant, task) DO UPDATE SET owner = EXCLUDED.owner, \
                     due_at = EXCLUDED.due_at, \
                     kind = CASE WHEN app_task_reminders.due_at = EXCLUDED.due_at \
                         THEN app_task_reminders.kind ELSE EXCLUDED.kind END, \
                     remind_at = CASE WHEN app_task_reminders.due_at = EXCLUDED.due_at \
                         THEN app_task_reminders.remind_at ELSE EXCLUDED.remind_at END, \
                     leased_until = CASE WHEN app_task_reminders.due_at = EXCLUDED.due_at \
                         THEN app_task_reminders.leased_until ELSE NULL END",
                &[
                    &tenant.as_str(),
                    &reminder.task.0,
                    &reminder.owner.0,
                    &reminder.due_at,
                    &reminder.next.map(|next| next.kind.as_str()),
                    &reminder.next.map(|next| next.at),
                ],
            )
            .await
            .map_err(database("cannot record a task reminder"))?;
        Ok(())
    }

    async fn remove_task_reminder(&self, tenant: &TenantId, task: TaskId) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "DELETE FROM app_task_reminders WHERE tenant = $1 AND task = $2",
                &[&tenant.as_str(), &task.0],
            )
            .await
            .map_err(database("cannot remove a task reminder"))?;
        Ok(())
    }

    async fn claim_due_task_reminders(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TaskReminder>, WorkError> {
        let rows = self
            .claim_rows(
                &TASK_REMINDERS,
                tenant,
                (now, lease_until),
                limit,
                "cannot claim due task reminders",
            )
            .await?;
        let mut due = rows
            .iter()
            .map(task_reminder_from)
            .collect::<Result<Vec<_>, _>>()?;
        due.sort_by_key(|reminder| (reminder.next.map(|next| next.at), reminder.task));
        Ok(due)
    }

    async fn advance_task_reminder(
        &self,
        tenant: &TenantId,
        claimed: TaskReminder,
        lease_until: DateTime<Utc>,
        next: Option<NextReminder>,
    ) -> Result<(), WorkError> {
        let client = self.store.client().await?;
        client
            .execute(
                "UPDATE app_task_reminders SET kind = $6, remind_at = $7, leased_until = NULL \
                 WHERE tenant = $1 AND task = $2 AND due_at = $3 \
                   AND kind IS NOT DISTINCT FROM $4 AND leased_until = $5",
                &[
                    &tenant.as_str(),
                    &claimed.task.0,
                    &claimed.due_at,
                    &claimed.next.map(|next| next.kind.as_str()),
                    &lease_until,
                    &next.map(|next| next.kind.as_str()),
                    &next.map(|next| next.at),
                ],
            )
            .await
            .map_err(database("cannot move a task reminder on"))?;
        Ok(())
    }

    async fn pending_task_reminders(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<TaskReminder>, WorkError> {
        let client = self.store.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {TASK_COLUMNS} FROM app_task_reminders WHERE tenant = $1 \
                     ORDER BY remind_at NULLS LAST, task"
                ),
                &[&tenant.as_str()],
            )
            .await
            .map_err(database("cannot read task reminders"))?;
        rows.iter().map(task_reminder_from).collect()
    }
}
