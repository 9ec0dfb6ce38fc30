//! Task reminders: the owner of an open task with a due time is reminded when the task is due,
//! and again when it is overdue, by a message through the notification outbox. The contract is
//! documented on [`TaskReminders`].

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crm_domain::roster::{Rep, RepError, WebhookUrl};
use crm_domain::task::{ReminderChange, Task, TaskDetails, TaskError, TaskEvent};
use crm_domain::{TaskId, UserId, decode};
use crm_eventstore::TenantId;
use futures_util::StreamExt;
use serde_json::json;
use thiserror::Error;
use tracing::Instrument;
use uuid::Uuid;

use super::{DeadlineStore, SchedulerError, follow};
use crate::command::CommandService;
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::uow::{OutboxMessage, UnitOfWork, WorkError};
use crate::workflow::REP_NOTIFICATIONS;

/// How long after its due time an open task's owner is reminded again, by default: an hour.
pub const DEFAULT_OVERDUE_AFTER: TimeDelta = TimeDelta::hours(1);

/// The checkpoint name of the task reminder tracking.
const TRACKING: &str = "task-reminders";

/// Which of a due time's two reminders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReminderKind {
    /// At the due time.
    Due,
    /// [`TaskReminderSettings::overdue_after`] after the due time, the task still open.
    Overdue,
}

impl ReminderKind {
    /// The kind as stored and in keys: `"due"` or `"overdue"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Due => "due",
            ReminderKind::Overdue => "overdue",
        }
    }

    /// The kind [`as_str`](Self::as_str) names, if any.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "due" => Some(ReminderKind::Due),
            "overdue" => Some(ReminderKind::Overdue),
            _ => None,
        }
    }

    /// The message's `"type"`: `"task-due"` or `"task-overdue"`.
    pub fn message_type(self) -> &'static str {
        match self {
            ReminderKind::Due => "task-due",
            ReminderKind::Overdue => "task-overdue",
        }
    }
}

/// The reminder a task is waiting for: which, and from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextReminder {
    /// Which reminder.
    pub kind: ReminderKind,
    /// When it is due.
    pub at: DateTime<Utc>,
}

/// One task's reminder row: the due time its reminders are for, and the next one to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskReminder {
    /// The task.
    pub task: TaskId,
    /// The owner as last tracked (a reminder goes to the owner the task has when it is sent).
    pub owner: UserId,
    /// The due time the reminders are for.
    pub due_at: DateTime<Utc>,
    /// The next reminder of that due time; `None` once both were sent.
    pub next: Option<NextReminder>,
}

impl TaskReminder {
    /// The row of a task due at `due_at` before anything was sent: the due reminder next.
    pub fn fresh(task: TaskId, owner: UserId, due_at: DateTime<Utc>) -> Self {
        Self {
            task,
            owner,
            due_at,
            next: Some(NextReminder {
                kind: ReminderKind::Due,
                at: due_at,
            }),
        }
    }
}

/// The key of the reminder of `kind` of `task` due at `due_at`: the outbox message's
/// idempotency key (`task-due:<task>:<due time in µs since the epoch>`, or `task-overdue:…`),
/// from which its id derives too.
pub fn reminder_key(task: TaskId, due_at: DateTime<Utc>, kind: ReminderKind) -> String {
    format!(
        "{}:{}:{}",
        kind.message_type(),
        task.0,
        due_at.timestamp_micros()
    )
}

/// How task reminders behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReminderSettings {
    /// How long after the due time the overdue reminder is sent ([`DEFAULT_OVERDUE_AFTER`]);
    /// keep it positive.
    pub overdue_after: TimeDelta,
    /// The start of links to a task (the id is appended: `…/tasks/<id>`); `None`: no link.
    pub link_base: Option<String>,
    /// How long a claimed reminder is held by one scheduler.
    pub lease: TimeDelta,
    /// How many reminders one pass claims.
    pub batch: usize,
    /// How many claimed reminders are sent at once.
    pub parallelism: usize,
}

impl Default for TaskReminderSettings {
    /// The overdue reminder an hour after the due time, no link, a one-minute lease, batches of
    /// 500, eight at once.
    fn default() -> Self {
        Self {
            overdue_after: DEFAULT_OVERDUE_AFTER,
            link_base: None,
            lease: TimeDelta::seconds(60),
            batch: 500,
            parallelism: 8,
        }
    }
}

/// What one [`TaskReminders::act`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderReport {
    /// Reminders written to the outbox (a rewrite of one written before is ignored there, and
    /// counted here again).
    pub sent: Vec<(TaskId, ReminderKind)>,
    /// Reminders that no longer applied (the task done, cancelled or rescheduled meanwhile).
    pub stale: usize,
    /// Reminders that failed and stay due (retried after their lease).
    pub failed: usize,
}

/// Why one reminder was not sent (logged and retried after the lease).
#[derive(Debug, Error)]
enum ReminderError {
    #[error("the task cannot be read: {0}")]
    Task(#[source] CommandError<TaskError>),
    #[error("the owner's webhook cannot be read: {0}")]
    Owner(#[source] CommandError<RepError>),
    #[error("the outbox cannot be written: {0}")]
    Outbox(#[source] WorkError),
}

/// What acting on one claimed reminder came to.
enum Reminded {
    /// The reminder of this kind was written to the outbox.
    Sent(ReminderKind),
    /// The task is no longer open with this due time.
    Stale,
}

/// The task reminders of one tenant: the owner of an open task with a due time is reminded
/// when the task is due, and again when it is overdue, by a message through the notification
/// outbox.
///
/// # Due and overdue
/// The *due* reminder is sent at the task's due time. The domain calls a task overdue as soon
/// as that time has passed ([`Task::is_overdue`]), but a second message a moment after the first
/// would be noise: the *overdue* reminder is sent [`TaskReminderSettings::overdue_after`] (an
/// hour by default, [`DEFAULT_OVERDUE_AFTER`]) after the due time, if the task is still open and
/// still due then. A reminder acted on when its task is already past the overdue instant (a task
/// entered late, or nothing ran for a while) is sent as the overdue one alone.
///
/// # Two halves
/// Like the lead pull-back and ticket escalation, and both restart-safe:
/// - [`TaskReminders::track`] folds the tenant's task events (streams `task-<uuid>`) from its
///   own checkpoint into one [`TaskReminder`] row per task, using what each event says about
///   the reminder ([`TaskEvent::reminder`]): an event that sets another due time starts over
///   at the due reminder of that time; one that keeps the due time (a reassignment, a
///   reopening) keeps what was already sent; completion, cancellation and removal of the due
///   time remove the row.
/// - [`TaskReminders::act`] claims the rows whose next reminder is due at `now` under a lease,
///   loads the task, and if it is still open and due at the same time writes a message to the
///   owner it has *now* (so a reassigned task reminds its new owner) to the outbox, then moves
///   the row on (the overdue reminder next, or nothing). A task done, cancelled or rescheduled
///   meanwhile is not reminded of the old time: its row is set aside (nothing more due) until
///   the tracking reads what changed and replaces or removes it. Rows that fell due while
///   nothing ran are due at start-up.
///
/// # Exactly once per (task, due time, kind)
/// The message's id and idempotency key derive from the task, the due time and the kind
/// ([`reminder_key`]), and the outbox ignores a second write of an id: a scheduler that dies
/// after writing and before moving the row on, another that takes the row over after the
/// lease, two acting at once, or a task rescheduled away and back, never write a reminder
/// twice. The relay then delivers each message at least once under its key
/// (`Idempotency-Key`), so the receiver sees it once. A task reassigned after a reminder was
/// sent is not reminded of it again; its new owner gets the reminders still to come.
///
/// # The message
/// Destination [`REP_NOTIFICATIONS`], like the assignment notifications: its `"endpoint"` is the
/// owner's webhook when they are a rep with one, else the URL configured for the destination
/// (with neither, the relay parks the message).
/// The payload: `"type"` (`"task-due"` or `"task-overdue"`), `"task"`, `"owner"`, `"title"`,
/// `"priority"`, `"concerns"` (the record, or `null`), `"due_at"`, `"overdue_after_minutes"`
/// and, when a link base is configured, `"link"` (`<base>/tasks/<id>`).
#[derive(Debug)]
pub struct TaskReminders<U: UnitOfWork, D: DeadlineStore> {
    service: Arc<CommandService<U>>,
    deadlines: D,
    tenant: TenantId,
    settings: TaskReminderSettings,
}

impl<U: UnitOfWork, D: DeadlineStore> TaskReminders<U, D> {
    /// The task reminders of `tenant`.
    pub fn new(
        service: Arc<CommandService<U>>,
        deadlines: D,
        tenant: TenantId,
        settings: TaskReminderSettings,
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

    /// When the overdue reminder of a task due at `due_at` is due (never, for a due time at the
    /// end of representable time).
    fn overdue_at(&self, due_at: DateTime<Utc>) -> DateTime<Utc> {
        due_at
            .checked_add_signed(self.settings.overdue_after)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Folds the task events after the tracking checkpoint into reminder rows, a page at a
    /// time, until a page is empty; returns the events read.
    pub async fn track(&self) -> Result<usize, SchedulerError> {
        let span = tracing::info_span!("task-reminders-track", tenant = %self.tenant);
        self.track_pages().instrument(span).await
    }

    async fn track_pages(&self) -> Result<usize, SchedulerError> {
        follow(
            self.service.work(),
            &self.tenant,
            TRACKING,
            |events| async move {
                for event in events {
                    let Some(task) = event
                        .stream
                        .as_str()
                        .strip_prefix("task-")
                        .and_then(|id| Uuid::try_parse(id).ok())
                        .map(TaskId)
                    else {
                        continue;
                    };
                    let Ok(task_event) =
                        decode::<TaskEvent>(&event.event_type, event.schema_version, event.payload)
                    else {
                        continue;
                    };
                    self.fold(task, &task_event).await?;
                }
                Ok(())
            },
        )
        .await
    }

    async fn fold(&self, task: TaskId, event: &TaskEvent) -> Result<(), SchedulerError> {
        match event.reminder() {
            ReminderChange::Schedule { owner, due_at } => {
                self.deadlines
                    .track_task_reminder(&self.tenant, TaskReminder::fresh(task, owner, due_at))
                    .await?;
            }
            ReminderChange::Drop => {
                self.deadlines
                    .remove_task_reminder(&self.tenant, task)
                    .await?;
            }
            ReminderChange::Keep => {}
        }
        Ok(())
    }

    /// Tracks what is new, then sends every reminder due at the clock's `now`.
    pub async fn tick(&self) -> Result<ReminderReport, SchedulerError> {
        self.track().await?;
        self.act(self.service.clock().now()).await
    }

    /// Claims the reminders due at `now` and sends each whose task is still open and due at
    /// the same time to the task's current owner; see [`TaskReminders`].
    pub async fn act(&self, now: DateTime<Utc>) -> Result<ReminderReport, SchedulerError> {
        let span = tracing::info_span!("task-reminders-act", tenant = %self.tenant, %now);
        async {
            let lease_until = now.checked_add_signed(self.settings.lease).unwrap_or(now);
            let mut report = ReminderReport::default();
            loop {
                let due = self
                    .deadlines
                    .claim_due_task_reminders(&self.tenant, now, lease_until, self.settings.batch)
                    .await?;
                if due.is_empty() {
                    return Ok(report);
                }
                let mut acted = futures_util::stream::iter(due)
                    .map(|claimed| async move { (claimed, self.remind(claimed, now).await) })
                    .buffer_unordered(self.settings.parallelism.max(1));
                while let Some((claimed, outcome)) = acted.next().await {
                    let next = match outcome {
                        Ok(Reminded::Sent(kind)) => {
                            report.sent.push((claimed.task, kind));
                            (kind == ReminderKind::Due).then(|| NextReminder {
                                kind: ReminderKind::Overdue,
                                at: self.overdue_at(claimed.due_at),
                            })
                        }
                        // The tracking replaces the row when it reads what changed; until then
                        // nothing is due for the old time.
                        Ok(Reminded::Stale) => {
                            report.stale += 1;
                            None
                        }
                        Err(error) => {
                            tracing::warn!(task = %claimed.task, %error, "task reminder failed");
                            report.failed += 1;
                            continue;
                        }
                    };
                    self.deadlines
                        .advance_task_reminder(&self.tenant, claimed, lease_until, next)
                        .await?;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Sends the claimed reminder if the task is still open and due at the claimed time.
    async fn remind(
        &self,
        claimed: TaskReminder,
        now: DateTime<Utc>,
    ) -> Result<Reminded, ReminderError> {
        let Some(next) = claimed.next else {
            return Ok(Reminded::Stale);
        };
        let (task, _) = self
            .service
            .load::<Task>(&self.tenant, claimed.task.0)
            .await
            .map_err(ReminderError::Task)?;
        let (Some(details), Some((owner, due_at))) = (task.details.as_ref(), task.reminder())
        else {
            return Ok(Reminded::Stale);
        };
        if due_at != claimed.due_at {
            return Ok(Reminded::Stale);
        }
        let kind = if next.kind == ReminderKind::Overdue || now >= self.overdue_at(due_at) {
            ReminderKind::Overdue
        } else {
            ReminderKind::Due
        };
        let (rep, _) = self
            .service
            .load::<Rep>(&self.tenant, owner.0)
            .await
            .map_err(ReminderError::Owner)?;
        let endpoint = rep.endpoint.as_ref().map(WebhookUrl::as_str);
        let message = self.message(details, (owner, due_at), kind, endpoint, now);
        self.service
            .send(&self.tenant, vec![message])
            .await
            .map_err(ReminderError::Outbox)?;
        Ok(Reminded::Sent(kind))
    }

    /// The reminder of `kind` of the task due at `due_at` to `owner` (at `endpoint`, when they
    /// have one), written at `now`.
    fn message(
        &self,
        details: &TaskDetails,
        (owner, due_at): (UserId, DateTime<Utc>),
        kind: ReminderKind,
        endpoint: Option<&str>,
        now: DateTime<Utc>,
    ) -> OutboxMessage {
        let key = reminder_key(details.id, due_at, kind);
        let mut payload = json!({
            "type": kind.message_type(),
            "task": details.id.0,
            "owner": owner.0,
            "title": details.title,
            "priority": details.priority,
            "concerns": details.concerns,
            "due_at": due_at,
            "overdue_after_minutes": self.settings.overdue_after.num_minutes(),
        });
        if let Some(fields) = payload.as_object_mut() {
            if let Some(base) = &self.settings.link_base {
                fields.insert(
                    "link".into(),
                    format!("{}/tasks/{}", base.trim_end_matches('/'), details.id.0).into(),
                );
            }
            if let Some(endpoint) = endpoint {
                fields.insert("endpoint".into(), endpoint.into());
            }
        }
        OutboxMessage {
            id: derive_id(details.id.0, &key),
            destination: REP_NOTIFICATIONS.to_owned(),
            idempotency_key: key,
            payload,
            created_at: now,
        }
    }

    /// Ticks until `stop` turns true, every `every` (and at once at start-up, so reminders
    /// that fell due while nothing ran are sent first).
    pub async fn run(&self, every: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        super::every(every, stop, ("task reminders", &self.tenant), || {
            self.tick()
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn due() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("a valid date")
    }

    #[test]
    fn keys_name_the_kind_the_task_and_the_due_time() {
        let task = TaskId(Uuid::from_u128(7));
        assert_eq!(
            reminder_key(task, due(), ReminderKind::Due),
            format!("task-due:{}:{}", task.0, due().timestamp_micros())
        );
        assert_ne!(
            reminder_key(task, due(), ReminderKind::Due),
            reminder_key(task, due(), ReminderKind::Overdue)
        );
        assert_ne!(
            reminder_key(task, due(), ReminderKind::Due),
            reminder_key(task, due() + TimeDelta::microseconds(1), ReminderKind::Due)
        );
    }

    #[test]
    fn kinds_read_back_as_written() {
        for kind in [ReminderKind::Due, ReminderKind::Overdue] {
            assert_eq!(ReminderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ReminderKind::parse("soon"), None);
    }
}
