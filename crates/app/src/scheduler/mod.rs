//! The SLA scheduler's 5-minute pull-back: a lead not touched within its response window
//! (default 5 business minutes from its assignment) is reclaimed and offered to a different
//! rep, who gets a fresh window of their own (the lead keeps its original request time for
//! reporting); after a cap of reassignments it escalates to the team lead.
//!
//! Two halves, both restart-safe:
//! - **Tracking** ([`ResponseScheduler::track`]) folds the tenant's lead events, from a
//!   checkpoint, into one [`ResponseDeadline`] per assigned lead (a first touch, a closing or an
//!   escalation clears it). Folding an event twice changes nothing.
//! - **Acting** ([`ResponseScheduler::act`]) claims the deadlines due at `now` (a lease, so
//!   several schedulers share the work without acting on one lead together) and, for each
//!   still untouched lead of the same rep, reclaims or escalates it through the command
//!   service with a key derived from the lead and the deadline: acted on exactly once, even
//!   when a scheduler dies mid-way, another takes over after the lease, or deadlines passed
//!   while nothing ran (they are due at start-up).
//!
//! Time comes from the [`Clock`](crate::Clock): in tests "five business minutes later" is a
//! call on a manual clock.
//!
//! The same two halves drive ticket escalation by SLA ([`TicketEscalator`], `tickets.rs`) and
//! the reminders of tasks to their owners, when due and when overdue ([`TaskReminders`],
//! `tasks.rs`); one [`DeadlineStore`] keeps the rows of all three.

mod memory;
mod postgres;
mod sqlite;
mod tasks;
mod tickets;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crm_domain::lead::{Lead, LeadCommand, LeadEvent};
use crm_domain::roster::Team;
use crm_domain::sla::BusinessCalendar;
use crm_domain::{Actor, LeadId, TaskId, TeamId, TicketId, UserId, decode};
use crm_eventstore::{EventStore, PageEntry, TenantId};
use futures_util::StreamExt;
use thiserror::Error;
use tracing::Instrument;
use uuid::Uuid;

pub use memory::MemoryDeadlines;
pub use postgres::PostgresDeadlines;
pub use sqlite::SqliteDeadlines;
pub use tasks::{
    DEFAULT_OVERDUE_AFTER, NextReminder, ReminderKind, ReminderReport, TaskReminder,
    TaskReminderSettings, TaskReminders, reminder_key,
};
pub use tickets::{
    AT_RISK_LEVEL, BREACHED_LEVEL, TicketDeadline, TicketEscalationSettings, TicketEscalator,
};

use crate::command::{CommandMeta, CommandService};
use crate::ids::derive_id;
use crate::routing::{RoutingError, offer_lead};
use crate::uow::{UnitOfWork, WorkError};

/// The response window by default: five business minutes.
pub const DEFAULT_RESPONSE_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// The checkpoint name of the deadline tracking.
const TRACKING: &str = "response-deadlines";

/// One assigned lead's response deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseDeadline {
    /// The lead.
    pub lead: LeadId,
    /// The rep who must respond.
    pub rep: UserId,
    /// The team that assigned them.
    pub team: TeamId,
    /// When they were assigned.
    pub assigned_at: DateTime<Utc>,
    /// When the window ends.
    pub due_at: DateTime<Utc>,
}

/// Where deadlines are kept: per tenant, one per lead (its latest assignment), one per open
/// ticket (its next escalation, see [`TicketEscalator`]) and one per task with a due time (its
/// next reminder, see [`TaskReminders`]).
pub trait DeadlineStore: Send + Sync + 'static {
    /// Records `deadline` unless the lead's recorded one is for a later assignment.
    fn upsert(
        &self,
        tenant: &TenantId,
        deadline: ResponseDeadline,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Removes the lead's deadline if it is for an assignment made at or before `through`.
    fn clear(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        through: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Up to `limit` deadlines due at `now` and not leased, earliest first, leased until
    /// `lease_until`.
    fn claim_due(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ResponseDeadline>, WorkError>> + Send;

    /// Removes a deadline that was acted on (if it is still the one with `due_at`).
    fn done(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        due_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Every deadline of the tenant, earliest first (for health pages and tests).
    fn pending(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<ResponseDeadline>, WorkError>> + Send;

    /// Records the ticket's next escalation instant, replacing the one recorded (and its
    /// lease), or removes it with `None`.
    fn set_ticket_deadline(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        deadline: Option<TicketDeadline>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Up to `limit` ticket deadlines due at `now` and not leased, earliest first, leased
    /// until `lease_until`.
    fn claim_due_tickets(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TicketDeadline>, WorkError>> + Send;

    /// Removes a ticket deadline that was acted on (if it is still the one due at `due_at`).
    fn ticket_done(
        &self,
        tenant: &TenantId,
        ticket: TicketId,
        due_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Every ticket deadline of the tenant, earliest first.
    fn pending_tickets(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<TicketDeadline>, WorkError>> + Send;

    /// Records the task's reminder as its events last set it. A recorded row for the same due
    /// time keeps its progress (its next reminder and its lease: what was sent stays sent) and
    /// takes `reminder`'s owner; any other row is replaced by `reminder`, not leased.
    fn track_task_reminder(
        &self,
        tenant: &TenantId,
        reminder: TaskReminder,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Removes the task's reminder row (the task is done, cancelled or has no due time).
    fn remove_task_reminder(
        &self,
        tenant: &TenantId,
        task: TaskId,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Up to `limit` task reminders whose next reminder is due at `now` and which are not
    /// leased, earliest first, leased until `lease_until`.
    fn claim_due_task_reminders(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TaskReminder>, WorkError>> + Send;

    /// Moves a claimed task reminder on to `next` (`None`: nothing more for its due time) and
    /// releases it, if the row is still as `claimed` (same due time, same next reminder) under
    /// the claim's lease, which ends at `lease_until`; otherwise (the tracking replaced it,
    /// or another scheduler claimed it after the lease) leaves it alone.
    fn advance_task_reminder(
        &self,
        tenant: &TenantId,
        claimed: TaskReminder,
        lease_until: DateTime<Utc>,
        next: Option<NextReminder>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Every task reminder row of the tenant: those with a reminder to come first, earliest
    /// first, then those with none left, by task.
    fn pending_task_reminders(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<TaskReminder>, WorkError>> + Send;

    /// The scheduler's backlog at `now`: per kind, how many deadlines are due and not yet
    /// acted on, and the oldest of them. This default reads every row; the SQL stores count
    /// in one statement per kind.
    fn backlog(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<SchedulerBacklog, WorkError>> + Send {
        async move {
            let due = |instants: &mut dyn Iterator<Item = DateTime<Utc>>| {
                let mut backlog = DueBacklog::default();
                for at in instants.filter(|at| *at <= now) {
                    backlog.count += 1;
                    backlog.oldest = Some(backlog.oldest.map_or(at, |oldest| oldest.min(at)));
                }
                backlog
            };
            let leads = self.pending(tenant).await?;
            let tickets = self.pending_tickets(tenant).await?;
            let tasks = self.pending_task_reminders(tenant).await?;
            Ok(SchedulerBacklog {
                response_deadlines: due(&mut leads.iter().map(|deadline| deadline.due_at)),
                ticket_escalations: due(&mut tickets.iter().map(|deadline| deadline.due_at)),
                task_reminders: due(&mut tasks
                    .iter()
                    .filter_map(|row| row.next.map(|next| next.at))),
            })
        }
    }
}

/// Deadlines of one kind due and not yet acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DueBacklog {
    /// How many.
    pub count: u64,
    /// The oldest due instant among them.
    pub oldest: Option<DateTime<Utc>>,
}

/// The scheduler's backlog (see [`DeadlineStore::backlog`]): what is due and waits for a
/// scheduler to act. Growing counts or an old `oldest` mean no `crm work` is running, or it
/// is falling behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerBacklog {
    /// Leads whose response deadline passed (to be pulled back).
    pub response_deadlines: DueBacklog,
    /// Tickets due an escalation.
    pub ticket_escalations: DueBacklog,
    /// Task reminders due.
    pub task_reminders: DueBacklog,
}

/// How the pull-back behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    /// The calendar the window counts in.
    pub calendar: BusinessCalendar,
    /// The response window ([`DEFAULT_RESPONSE_WINDOW`] by default).
    pub response_window: TimeDelta,
    /// How many times a lead is reclaimed before it escalates to the team lead.
    pub max_reassignments: u32,
    /// How long a claimed deadline is held by one scheduler.
    pub lease: TimeDelta,
    /// How many deadlines one pass claims.
    pub batch: usize,
    /// How many claimed leads are pulled back at once (leads of different teams proceed in
    /// parallel; two of one team take turns on the team's stream).
    pub parallelism: usize,
}

/// What one [`ResponseScheduler::act`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActReport {
    /// Leads reclaimed and offered to someone else (or queued).
    pub reclaimed: Vec<LeadId>,
    /// Leads escalated to their team lead.
    pub escalated: Vec<LeadId>,
    /// Deadlines that no longer applied (touched, closed, reassigned meanwhile).
    pub stale: usize,
    /// Deadlines that failed and stay due (retried after their lease).
    pub failed: usize,
}

/// Why the scheduler could not do its work.
#[derive(Debug, Error)]
pub enum SchedulerError {
    /// The deadlines or the checkpoint could not be read or written.
    #[error(transparent)]
    Work(#[from] WorkError),
    /// The history could not be read.
    #[error(transparent)]
    Store(#[from] crm_eventstore::StoreError),
    /// The calendar cannot place a deadline (no opening hours within its horizon).
    #[error("the calendar cannot place a deadline: {0}")]
    Calendar(#[from] crm_domain::sla::SlaError),
}

/// Runs `tick` at once and then every `every` until `stop` turns true; a failed tick is
/// logged as `what` failing for `tenant` and tried again at the next one.
pub(crate) async fn every<F, Fut, T, E>(
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    (what, tenant): (&str, &TenantId),
    mut tick: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    while !*stop.borrow() {
        if let Err(error) = tick().await {
            tracing::warn!(%tenant, %error, "{what} failed; it is tried again");
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Reads the tenant's events after the checkpoint `name` a page at a time, hands each page's
/// readable events to `fold` and saves the checkpoint after each page, until a page is empty;
/// returns the rows read. A failed `fold` leaves the checkpoint before its page.
pub(crate) async fn follow<U, F, Fut, E>(
    work: &U,
    tenant: &TenantId,
    name: &str,
    mut fold: F,
) -> Result<usize, E>
where
    U: UnitOfWork,
    F: FnMut(Vec<crm_eventstore::RecordedEvent>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: From<WorkError> + From<crm_eventstore::StoreError>,
{
    let mut read = 0;
    loop {
        let from = work.checkpoint(tenant, name).await?.unwrap_or_default();
        let page = work.store().read_all(tenant, from, 1000).await?;
        if page.is_empty() {
            return Ok(read);
        }
        read += page.len();
        let through = page.next;
        let events = page
            .into_entries()
            .into_iter()
            .filter_map(|entry| match entry {
                PageEntry::Event(event) => Some(event),
                PageEntry::Unreadable(_) => None,
            })
            .collect();
        fold(events).await?;
        work.save_checkpoint(tenant, name, through).await?;
    }
}

/// The pull-back scheduler of one tenant; see the [module documentation](self).
#[derive(Debug)]
pub struct ResponseScheduler<U: UnitOfWork, D: DeadlineStore> {
    service: Arc<CommandService<U>>,
    deadlines: D,
    tenant: TenantId,
    settings: SchedulerSettings,
}

fn scheduler() -> Actor {
    Actor::System {
        component: "sla-scheduler".into(),
    }
}

impl<U: UnitOfWork, D: DeadlineStore> ResponseScheduler<U, D> {
    /// A scheduler for `tenant`.
    pub fn new(
        service: Arc<CommandService<U>>,
        deadlines: D,
        tenant: TenantId,
        settings: SchedulerSettings,
    ) -> Self {
        Self {
            service,
            deadlines,
            tenant,
            settings,
        }
    }

    /// The deadline store.
    pub fn deadlines(&self) -> &D {
        &self.deadlines
    }

    /// Folds the lead events after the tracking checkpoint into deadlines, a page at a time,
    /// until a page is empty; returns the events read.
    pub async fn track(&self) -> Result<usize, SchedulerError> {
        let span = tracing::info_span!("scheduler-track", tenant = %self.tenant);
        self.track_pages().instrument(span).await
    }

    async fn track_pages(&self) -> Result<usize, SchedulerError> {
        follow(
            self.service.work(),
            &self.tenant,
            TRACKING,
            |events| async move {
                for event in events {
                    let Some(id) = event
                        .stream
                        .as_str()
                        .strip_prefix("lead-")
                        .and_then(|id| Uuid::try_parse(id).ok())
                    else {
                        continue;
                    };
                    let Ok(lead_event) =
                        decode::<LeadEvent>(&event.event_type, event.schema_version, event.payload)
                    else {
                        continue;
                    };
                    self.fold(LeadId(id), &lead_event).await?;
                }
                Ok(())
            },
        )
        .await
    }

    async fn fold(&self, lead: LeadId, event: &LeadEvent) -> Result<(), SchedulerError> {
        match event {
            LeadEvent::Assigned {
                rep, decision, at, ..
            } => {
                let due_at = self
                    .settings
                    .calendar
                    .add_business_time(*at, self.settings.response_window)?;
                self.deadlines
                    .upsert(
                        &self.tenant,
                        ResponseDeadline {
                            lead,
                            rep: *rep,
                            team: decision.team,
                            assigned_at: *at,
                            due_at,
                        },
                    )
                    .await?;
            }
            LeadEvent::FirstTouchLogged { at, .. }
            | LeadEvent::Queued { at, .. }
            | LeadEvent::Escalated { at, .. }
            | LeadEvent::Qualified { at, .. }
            | LeadEvent::Disqualified { at, .. }
            | LeadEvent::Converted { at, .. }
            | LeadEvent::Merged { at, .. } => {
                self.deadlines.clear(&self.tenant, lead, *at).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Tracks what is new, then acts on every deadline due at the clock's `now`.
    pub async fn tick(&self) -> Result<ActReport, SchedulerError> {
        self.track().await?;
        self.act(self.service.clock().now()).await
    }

    /// Claims the deadlines due at `now` and reclaims or escalates each still untouched lead.
    pub async fn act(&self, now: DateTime<Utc>) -> Result<ActReport, SchedulerError> {
        let span = tracing::info_span!("scheduler-act", tenant = %self.tenant, %now);
        async {
            let lease_until = now.checked_add_signed(self.settings.lease).unwrap_or(now);
            let mut report = ActReport::default();
            loop {
                let due = self
                    .deadlines
                    .claim_due(&self.tenant, now, lease_until, self.settings.batch)
                    .await?;
                if due.is_empty() {
                    return Ok(report);
                }
                let mut acted = futures_util::stream::iter(due)
                    .map(|deadline| async move { (deadline, self.pull_back(deadline).await) })
                    .buffer_unordered(self.settings.parallelism.max(1));
                while let Some((deadline, outcome)) = acted.next().await {
                    match outcome {
                        Ok(Acted::Reclaimed) => report.reclaimed.push(deadline.lead),
                        Ok(Acted::Escalated) => report.escalated.push(deadline.lead),
                        Ok(Acted::Stale) => report.stale += 1,
                        Err(error) => {
                            tracing::warn!(lead = %deadline.lead, %error, "pull-back failed");
                            report.failed += 1;
                            continue;
                        }
                    }
                    self.deadlines
                        .done(&self.tenant, deadline.lead, deadline.due_at)
                        .await?;
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn pull_back(&self, deadline: ResponseDeadline) -> Result<Acted, RoutingError> {
        let service = &self.service;
        let tenant = &self.tenant;
        let (lead, _) = service.load::<Lead>(tenant, deadline.lead.0).await?;
        let untouched = lead.assignee == Some(deadline.rep)
            && lead.first_touch_at.is_none()
            && lead.assigned_at == Some(deadline.assigned_at);
        if !untouched {
            return Ok(Acted::Stale);
        }
        let step = format!(
            "pull-back/{}/{}",
            deadline.lead.0,
            deadline.due_at.timestamp_micros()
        );
        if lead.reassignments >= self.settings.max_reassignments {
            let (leader, _) = service
                .load_with::<Team, _>(tenant, deadline.team.0, |team| team.leader)
                .await?;
            let Some(leader) = leader else {
                tracing::warn!(lead = %deadline.lead, team = %deadline.team, "no team lead to escalate to");
                return Ok(Acted::Stale);
            };
            let meta = CommandMeta::by(scheduler())
                .with_command_id(derive_id(deadline.lead.0, &step))
                .with_idempotency_key(step.clone());
            service
                .execute::<Lead>(
                    tenant,
                    deadline.lead.0,
                    LeadCommand::Escalate {
                        to: leader,
                        reason: format!(
                            "not touched within the response window after {} reassignments",
                            lead.reassignments
                        ),
                    },
                    &meta,
                )
                .await?;
            return Ok(Acted::Escalated);
        }
        let mut excluded = lead.reclaimed_from.clone();
        excluded.push(deadline.rep);
        let decision = offer_lead(
            service,
            tenant,
            deadline.team,
            deadline.lead,
            // Its account's owner first again (unless they are the one who let it lapse).
            (
                None,
                crate::routing::account_owner(service, tenant, &lead).await?,
            ),
            excluded,
            CommandMeta::by(scheduler())
                .with_command_id(derive_id(deadline.lead.0, &format!("{step}/team"))),
        )
        .await?;
        let meta = CommandMeta::by(scheduler())
            .with_command_id(derive_id(deadline.lead.0, &step))
            .with_idempotency_key(step.clone());
        service
            .execute::<Lead>(
                tenant,
                deadline.lead.0,
                LeadCommand::Reclaim {
                    missed_deadline: deadline.due_at,
                    decision,
                    max_reassignments: self.settings.max_reassignments,
                },
                &meta,
            )
            .await?;
        Ok(Acted::Reclaimed)
    }

    /// Ticks until `stop` turns true, every `every` (and at once at start-up, so deadlines
    /// that passed while nothing ran are acted on first).
    pub async fn run(&self, every: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        self::every(every, stop, ("the scheduler's tick", &self.tenant), || {
            self.tick()
        })
        .await;
    }
}

enum Acted {
    Reclaimed,
    Escalated,
    Stale,
}
