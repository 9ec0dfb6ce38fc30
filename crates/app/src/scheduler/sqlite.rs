//! Response deadlines, ticket deadlines and task reminders on SQLite
//! (`migrations/sqlite/0001_app.sql`, `0003_task_reminders.sql`).

use std::num::NonZeroU8;

use chrono::{DateTime, Utc};
use crm_domain::{LeadId, TaskId, TeamId, TicketId, UserId};
use crm_eventstore::TenantId;
use crm_eventstore::sqlite::SqliteDatabase;
use rusqlite::{Row, Transaction};

use super::{
    DeadlineStore, NextReminder, ReminderKind, ResponseDeadline, TaskReminder, TicketDeadline,
};
use crate::uow::{WorkError, instant, micros, sql, to_sql_count, uuid};

/// A [`DeadlineStore`] in a SQLite file whose application migrations were applied (by
/// [`SqliteUnitOfWork::open`](crate::SqliteUnitOfWork::open)).
///
/// A claim is an update in the file's one write transaction at a time, so two schedulers
/// never claim one deadline.
#[derive(Debug, Clone)]
pub struct SqliteDeadlines {
    database: SqliteDatabase,
}

impl SqliteDeadlines {
    /// The deadlines in `database`.
    pub fn new(database: SqliteDatabase) -> Self {
        Self { database }
    }

    async fn change(
        &self,
        context: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<usize> + Send + 'static,
    ) -> Result<(), WorkError> {
        self.database
            .write(move |transaction| work(transaction).map_err(sql(context)))
            .await
            .map(drop)
    }

    /// Leases up to `limit` rows of `table` (keyed by `key` within the tenant) due at `now` by
    /// their column `when` and not leased, until `lease_until`; returns them as `read` reads
    /// them.
    #[allow(
        clippy::too_many_arguments,
        reason = "one query shape for three tables"
    )]
    async fn claim_rows<R: Send + 'static>(
        &self,
        Table {
            table,
            key,
            when,
            columns,
        }: Table,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        read: fn(&Row<'_>) -> rusqlite::Result<R>,
        context: &'static str,
    ) -> Result<Vec<R>, WorkError> {
        let tenant = tenant.clone();
        self.database
            .write(move |transaction| {
                rows(
                    transaction,
                    &format!(
                        "UPDATE {table} SET leased_until = ?3 \
                         WHERE tenant = ?1 AND {key} IN ( \
                             SELECT {key} FROM {table} \
                             WHERE tenant = ?1 AND {when} <= ?2 \
                               AND (leased_until IS NULL OR leased_until <= ?2) \
                             ORDER BY {when}, {key} LIMIT ?4) \
                         RETURNING {columns}"
                    ),
                    (
                        tenant.as_str(),
                        micros(now),
                        micros(lease_until),
                        to_sql_count(limit),
                    ),
                    read,
                )
                .map_err(sql(context))
            })
            .await
    }

    /// Every row of `table` of the tenant, in due order (rows never due last), as `read`
    /// reads them.
    async fn all_rows<R: Send + 'static>(
        &self,
        Table {
            table,
            key,
            when,
            columns,
        }: Table,
        tenant: &TenantId,
        read: fn(&Row<'_>) -> rusqlite::Result<R>,
        context: &'static str,
    ) -> Result<Vec<R>, WorkError> {
        let tenant = tenant.clone();
        self.database
            .read(move |transaction| {
                rows(
                    transaction,
                    &format!(
                        "SELECT {columns} FROM {table} WHERE tenant = ?1 \
                         ORDER BY {when} IS NULL, {when}, {key}"
                    ),
                    [tenant.as_str()],
                    read,
                )
                .map_err(sql(context))
            })
            .await
    }
}

/// A table of rows due at an instant, one per key within a tenant.
#[derive(Debug, Clone, Copy)]
struct Table {
    /// The table.
    table: &'static str,
    /// The column of its key within a tenant.
    key: &'static str,
    /// The column of the instant a row is due at (`NULL`: never).
    when: &'static str,
    /// The columns read.
    columns: &'static str,
}

/// The response deadlines' table.
const RESPONSE: Table = Table {
    table: "app_response_deadlines",
    key: "lead",
    when: "due_at",
    columns: "lead, rep, team, assigned_at, due_at",
};

/// The ticket deadlines' table.
const TICKETS: Table = Table {
    table: "app_ticket_deadlines",
    key: "ticket",
    when: "due_at",
    columns: "ticket, level, due_at",
};

/// The task reminders' table.
const TASKS: Table = Table {
    table: "app_task_reminders",
    key: "task",
    when: "remind_at",
    columns: "task, owner, due_at, kind, remind_at",
};

type DeadlineRow = (String, String, String, i64, i64);

fn deadline_row(row: &Row<'_>) -> rusqlite::Result<DeadlineRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn deadline_from(
    (lead, rep, team, assigned_at, due_at): DeadlineRow,
) -> Result<ResponseDeadline, WorkError> {
    let what = "response deadline";
    Ok(ResponseDeadline {
        lead: LeadId(uuid(what, &lead)?),
        rep: UserId(uuid(what, &rep)?),
        team: TeamId(uuid(what, &team)?),
        assigned_at: instant(what, assigned_at)?,
        due_at: instant(what, due_at)?,
    })
}

fn ticket_row(row: &Row<'_>) -> rusqlite::Result<(String, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn ticket_deadline_from(
    (ticket, level, due_at): (String, i64, i64),
) -> Result<TicketDeadline, WorkError> {
    let what = "ticket deadline";
    Ok(TicketDeadline {
        ticket: TicketId(uuid(what, &ticket)?),
        level: u8::try_from(level)
            .ok()
            .and_then(NonZeroU8::new)
            .ok_or_else(|| WorkError::Corrupt {
                what: what.into(),
                reason: format!("level {level} is not 1 to 255"),
            })?,
        due_at: instant(what, due_at)?,
    })
}

type TaskRow = (String, String, i64, Option<String>, Option<i64>);

fn task_row(row: &Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn task_reminder_from(
    (task, owner, due_at, kind, remind_at): TaskRow,
) -> Result<TaskReminder, WorkError> {
    let what = "task reminder";
    let corrupt = |reason: String| WorkError::Corrupt {
        what: what.into(),
        reason,
    };
    let next = match (kind, remind_at) {
        (Some(kind), Some(at)) => Some(NextReminder {
            kind: ReminderKind::parse(&kind)
                .ok_or_else(|| corrupt(format!("kind {kind:?} is not due or overdue")))?,
            at: instant(what, at)?,
        }),
        (None, None) => None,
        _ => return Err(corrupt("a kind without its instant, or the reverse".into())),
    };
    Ok(TaskReminder {
        task: TaskId(uuid(what, &task)?),
        owner: UserId(uuid(what, &owner)?),
        due_at: instant(what, due_at)?,
        next,
    })
}

/// Runs `query` with `params` in `transaction`, reading each row with `read`.
fn rows<P: rusqlite::Params, T>(
    transaction: &Transaction<'_>,
    query: &str,
    params: P,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut statement = transaction.prepare_cached(query)?;
    statement.query_map(params, read)?.collect()
}

impl DeadlineStore for SqliteDeadlines {
    async fn upsert(&self, tenant: &TenantId, deadline: ResponseDeadline) -> Result<(), WorkError> {
        let tenant = tenant.clone();
        self.change("cannot record a response deadline", move |transaction| {
            transaction.execute(
                "INSERT INTO app_response_deadlines (tenant, lead, rep, team, assigned_at, due_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (tenant, lead) DO UPDATE SET rep = excluded.rep, \
                     team = excluded.team, assigned_at = excluded.assigned_at, \
                     due_at = excluded.due_at, leased_until = NULL \
                 WHERE app_response_deadlines.assigned_at < excluded.assigned_at",
                (
                    tenant.as_str(),
                    deadline.lead.0.to_string(),
                    deadline.rep.0.to_string(),
                    deadline.team.0.to_string(),
                    micros(deadline.assigned_at),
                    micros(deadline.due_at),
                ),
            )
        })
        .await
    }

    async fn clear(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        through: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let tenant = tenant.clone();
        self.change("cannot clear a response deadline", move |transaction| {
            transaction.execute(
                "DELETE FROM app_response_deadlines \
                 WHERE tenant = ?1 AND lead = ?2 AND assigned_at <= ?3",
                (tenant.as_str(), lead.0.to_string(), micros(through)),
            )
        })
        .await
    }

    async fn claim_due(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ResponseDeadline>, WorkError> {
        let found = self
            .claim_rows(
                RESPONSE,
                tenant,
                now,
                lease_until,
                limit,
                deadline_row,
                "cannot claim due response deadlines",
            )
            .await?;
        let mut due = found
            .into_iter()
            .map(deadline_from)
            .collect::<Result<Vec<_>, _>>()?;
        due.sort_by_key(|deadline| (deadline.due_at, deadline.lead));
        Ok(due)
    }

    async fn done(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        due_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let tenant = tenant.clone();
        self.change("cannot finish a response deadline", move |transaction| {
            transaction.execute(
                "DELETE FROM app_response_deadlines \
                 WHERE tenant = ?1 AND lead = ?2 AND due_at = ?3",
                (tenant.as_str(), lead.0.to_string(), micros(due_at)),
            )
        })
        .await
    }

    async fn backlog(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<super::SchedulerBacklog, WorkError> {
        let tenant = tenant.clone();
        let counted = self
            .database
            .read(move |transaction| {
                let mut counts = Vec::with_capacity(3);
                for Table { table, when, .. } in [RESPONSE, TICKETS, TASKS] {
                    let row: (i64, Option<i64>) = transaction
                        .query_row(
                            &format!(
                                "SELECT count(*), min({when}) FROM {table} \
                                 WHERE tenant = ?1 AND {when} <= ?2"
                            ),
                            (tenant.as_str(), micros(now)),
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )
                        .map_err(sql("cannot count due deadlines"))?;
                    counts.push(row);
                }
                Ok::<_, WorkError>(counts)
            })
            .await?;
        let mut due = counted.into_iter().map(|(count, oldest)| {
            Ok::<_, WorkError>(super::DueBacklog {
                count: u64::try_from(count).unwrap_or(0),
                oldest: oldest
                    .map(|micros| instant("a due deadline", micros))
                    .transpose()?,
            })
        });
        let mut next = || due.next().unwrap_or(Ok(super::DueBacklog::default()));
        Ok(super::SchedulerBacklog {
            response_deadlines: next()?,
            ticket_escalations: next()?,
            task_reminders: next()?,
        })
    }

    async fn pending(&self, tenant: &TenantId) -> Result<Vec<ResponseDeadline>, WorkError> {
        let found = self
            .all_rows(
                RESPONSE,
                tenant,
                deadline_row,
                "cannot read response deadlines",
            )
            .await?;
        found.into_iter().map(deadline_from).collect()
    }

    async fn set_ticket_deadline(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        deadline: Option<TicketDeadline>,
    ) -> Result<(), WorkError> {
        let tenant = tenant.clone();
        match deadline {
            Some(deadline) => {
                self.change("cannot record a ticket deadline", move |transaction| {
                    transaction.execute(
                        "INSERT INTO app_ticket_deadlines (tenant, ticket, level, due_at) \
                         VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (tenant, ticket) DO UPDATE SET level = excluded.level, \
                             due_at = excluded.due_at, leased_until = NULL",
                        (
                            tenant.as_str(),
                            ticket.0.to_string(),
                            i64::from(deadline.level.get()),
                            micros(deadline.due_at),
                        ),
                    )
                })
                .await
            }
            None => {
                self.change("cannot remove a ticket deadline", move |transaction| {
                    transaction.execute(
                        "DELETE FROM app_ticket_deadlines WHERE tenant = ?1 AND ticket = ?2",
                        (tenant.as_str(), ticket.0.to_string()),
                    )
                })
                .await
            }
        }
    }

    async fn claim_due_tickets(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TicketDeadline>, WorkError> {
        let found = self
            .claim_rows(
                TICKETS,
                tenant,
                now,
                lease_until,
                limit,
                ticket_row,
                "cannot claim due ticket deadlines",
            )
            .await?;
        let mut due = found
            .into_iter()
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
        let tenant = tenant.clone();
        self.change("cannot finish a ticket deadline", move |transaction| {
            transaction.execute(
                "DELETE FROM app_ticket_deadlines \
                 WHERE tenant = ?1 AND ticket = ?2 AND due_at = ?3",
                (tenant.as_str(), ticket.0.to_string(), micros(due_at)),
            )
        })
        .await
    }

    async fn pending_tickets(&self, tenant: &TenantId) -> Result<Vec<TicketDeadline>, WorkError> {
        let found = self
            .all_rows(TICKETS, tenant, ticket_row, "cannot read ticket deadlines")
            .await?;
        found.into_iter().map(ticket_deadline_from).collect()
    }

    async fn track_task_reminder(
        &self,
        tenant: &TenantId,
        reminder: TaskReminder,
    ) -> Result<(), WorkError> {
        let tenant = tenant.clone();
        // Every expression of the update reads the row as it was, so the due time compared is
        // the recorded one.
        self.change("cannot record a task reminder", move |transaction| {
            transaction.execute(
                "INSERT INTO app_task_reminders (tenant, task, owner, due_at, kind, remind_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (tenant, task) DO UPDATE SET owner = excluded.owner, \
                     due_at = excluded.due_at, \
                     kind = CASE WHEN app_task_reminders.due_at = excluded.due_at \
                         THEN app_task_reminders.kind ELSE excluded.kind END, \
                     remind_at = CASE WHEN app_task_reminders.due_at = excluded.due_at \
                         THEN app_task_reminders.remind_at ELSE excluded.remind_at END, \
                     leased_until = CASE WHEN app_task_reminders.due_at = excluded.due_at \
                         THEN app_task_reminders.leased_until ELSE NULL END",
                (
                    tenant.as_str(),
                    reminder.task.0.to_string(),
                    reminder.owner.0.to_string(),
                    micros(reminder.due_at),
                    reminder.next.map(|next| next.kind.as_str()),
                    reminder.next.map(|next| micros(next.at)),
                ),
            )
        })
        .await
    }

    async fn remove_task_reminder(&self, tenant: &TenantId, task: TaskId) -> Result<(), WorkError> {
        let tenant = tenant.clone();
        self.change("cannot remove a task reminder", move |transaction| {
            transaction.execute(
                "DELETE FROM app_task_reminders WHERE tenant = ?1 AND task = ?2",
                (tenant.as_str(), task.0.to_string()),
            )
        })
        .await
    }

    async fn claim_due_task_reminders(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<TaskReminder>, WorkError> {
        let found = self
            .claim_rows(
                TASKS,
                tenant,
                now,
                lease_until,
                limit,
                task_row,
                "cannot claim due task reminders",
            )
            .await?;
        let mut due = found
            .into_iter()
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
        let tenant = tenant.clone();
        self.change("cannot move a task reminder on", move |transaction| {
            transaction.execute(
                "UPDATE app_task_reminders SET kind = ?6, remind_at = ?7, leased_until = NULL \
                 WHERE tenant = ?1 AND task = ?2 AND due_at = ?3 \
                   AND kind IS ?4 AND leased_until = ?5",
                (
                    tenant.as_str(),
                    claimed.task.0.to_string(),
                    micros(claimed.due_at),
                    claimed.next.map(|next| next.kind.as_str()),
                    micros(lease_until),
                    next.map(|next| next.kind.as_str()),
                    next.map(|next| micros(next.at)),
                ),
            )
        })
        .await
    }

    async fn pending_task_reminders(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<TaskReminder>, WorkError> {
        let found = self
            .all_rows(TASKS, tenant, task_row, "cannot read task reminders")
            .await?;
        found.into_iter().map(task_reminder_from).collect()
    }
}
