//! Response and ticket deadlines on SQLite (`migrations/sqlite/0001_app.sql`).

use std::num::NonZeroU8;

use chrono::{DateTime, Utc};
use crm_domain::{LeadId, TeamId, TicketId, UserId};
use crm_eventstore::TenantId;
use crm_eventstore::sqlite::SqliteDatabase;
use rusqlite::{Row, Transaction};

use super::{DeadlineStore, ResponseDeadline, TicketDeadline};
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

    /// Leases up to `limit` rows of `table` (keyed by `key` within the tenant) due at `now`
    /// and not leased, until `lease_until`; returns them as `read` reads them.
    #[allow(clippy::too_many_arguments, reason = "one query shape for two tables")]
    async fn claim_rows<R: Send + 'static>(
        &self,
        (table, key, columns): (&'static str, &'static str, &'static str),
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
                             WHERE tenant = ?1 AND due_at <= ?2 \
                               AND (leased_until IS NULL OR leased_until <= ?2) \
                             ORDER BY due_at, {key} LIMIT ?4) \
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

    /// Every row of `table` of the tenant, in due order, as `read` reads them.
    async fn all_rows<R: Send + 'static>(
        &self,
        (table, key, columns): (&'static str, &'static str, &'static str),
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
                        "SELECT {columns} FROM {table} WHERE tenant = ?1 ORDER BY due_at, {key}"
                    ),
                    [tenant.as_str()],
                    read,
                )
                .map_err(sql(context))
            })
            .await
    }
}

/// The response deadlines' table, its key within a tenant and the columns read.
const RESPONSE: (&str, &str, &str) = ("app_response_deadlines", "lead", COLUMNS);

/// The ticket deadlines' table, its key within a tenant and the columns read.
const TICKETS: (&str, &str, &str) = ("app_ticket_deadlines", "ticket", TICKET_COLUMNS);

const COLUMNS: &str = "lead, rep, team, assigned_at, due_at";

const TICKET_COLUMNS: &str = "ticket, level, due_at";

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
}
