//! The task aggregate: a piece of work a user owes, optionally by a due time and about a
//! record.
//!
//! A task has a title, an optional description, an owner, optionally the record it concerns
//! ([`RecordRef`]), a due time and a priority. It is open until done or cancelled; a done
//! task can be reopened, a cancelled one is final.
//!
//! # Rules
//! - The title is trimmed, not blank, at most [`MAX_TITLE_CHARS`] characters; the
//!   description is trimmed, not blank when given (clear it instead), at most
//!   [`MAX_DESCRIPTION_CHARS`].
//! - Only an open task changes: a done task refuses everything but reopening
//!   ([`TaskError::Done`]), a cancelled one refuses everything ([`TaskError::Cancelled`]).
//!   Completing a done task, cancelling a cancelled one, reopening an open one and setting a
//!   field to its value record nothing.
//! - A due time may lie in the past (a task entered late is overdue at once). The record a
//!   task concerns is set when it is created and does not change.
//!
//! # Reminders
//! Every event that starts, moves or ends the reminder of a task carries what the scheduler
//! needs without the task's state: [`TaskEvent::Created`], [`TaskEvent::Reassigned`],
//! [`TaskEvent::Rescheduled`] and [`TaskEvent::Reopened`] carry both the owner and the due
//! time; completion and cancellation end the reminder. [`TaskEvent::reminder`] reads that off
//! one event; [`Task::is_overdue`] answers for the state.
//!
//! # Personal data
//! A task about a person — one concerning a contact or a lead, or one its creator says is
//! about a contact (a task on a deal or a ticket is about the deal's or ticket's contact) —
//! names that person as its data subject ([`TaskDetails::person`]), and its title and
//! description are encrypted with their key: erasing the person leaves the task, its owner,
//! due time and status, with an empty title. A task about no person (an account's renewal,
//! internal work) keeps its text in the clear. The person is set at creation and does not
//! change; every event that carries the text says whether it is personal, so a writer needs
//! no state to know what to encrypt.

#[cfg(test)]
mod tests;

use crate::custom_fields::{
    CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate, CustomValues, EntityKind,
};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Priority;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::{ContactId, RecordRef, TaskId, UserId};
use crate::personal::DataSubject;

/// The longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// The longest description kept, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Still to do.
    Open,
    /// Done; can be reopened.
    Done,
    /// Not to be done; final.
    Cancelled,
}

impl TaskStatus {
    /// The status in the CRM's words.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command to a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TaskCommand {
    /// Creates an open task.
    Create {
        /// The new task's id (the caller chose it; the stream is `"task-{id}"`).
        task: TaskId,
        /// What is to be done; must not be blank.
        title: String,
        /// More about it; must not be blank when given.
        description: Option<String>,
        /// Who is to do it.
        owner: UserId,
        /// The record it concerns, if any.
        concerns: Option<RecordRef>,
        /// The contact the task is about when it concerns no person itself (a deal's or a
        /// ticket's contact, or someone at an account); a task concerning a contact or a lead
        /// is about them already, and naming anyone else is refused.
        contact: Option<ContactId>,
        /// By when, if by a time.
        due_at: Option<DateTime<Utc>>,
        /// How urgent it is.
        priority: Priority,
    },
    /// Changes the title.
    Retitle {
        /// The new title; must not be blank.
        title: String,
    },
    /// Sets or clears the description.
    Describe {
        /// The new description; `None` clears it, a blank text is refused.
        description: Option<String>,
    },
    /// Gives the task to another user.
    Reassign {
        /// The new owner.
        owner: UserId,
    },
    /// Moves (or, with `None`, removes) the due time.
    Reschedule {
        /// The new due time.
        due_at: Option<DateTime<Utc>>,
    },
    /// Changes how urgent the task is.
    ChangePriority {
        /// The new priority.
        priority: Priority,
    },
    /// Marks the task done.
    Complete,
    /// Cancels the task for good.
    Cancel,
    /// Opens a done task again.
    Reopen,
    /// Sets or clears custom field values under the tenant's current schema (see
    /// [`CustomFieldsUpdate`]); an update without changes still checks the validation rules.
    SetCustomFields(CustomFieldsUpdate),
}

/// A fact about a task. Every event says who issued the command (`by`) and when (`at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TaskEvent {
    /// A task was created; it is open.
    #[serde(rename = "TaskCreated")]
    Created {
        /// The task.
        task: TaskId,
        /// What is to be done (trimmed; personal data when the task is about a person).
        #[serde(deserialize_with = "crate::personal::erasable")]
        title: String,
        /// More about it (trimmed; personal data when the task is about a person).
        #[serde(default, deserialize_with = "crate::personal::erasable")]
        description: Option<String>,
        /// Who is to do it (and is reminded).
        owner: UserId,
        /// The record it concerns.
        concerns: Option<RecordRef>,
        /// The person the task is about (a contact or a lead), whose key encrypts its text;
        /// `None` for a task about no person (and in tasks recorded before tasks named their
        /// person, which read it from `concerns`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person: Option<RecordRef>,
        /// By when; the scheduler reminds the owner then, and again once it is overdue.
        due_at: Option<DateTime<Utc>>,
        /// How urgent it is.
        priority: Priority,
        /// Who created it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The title changed.
    #[serde(rename = "TaskRetitled")]
    Retitled {
        /// The new title (trimmed).
        #[serde(deserialize_with = "crate::personal::erasable")]
        title: String,
        /// Whether the task is about a person: the title is then their personal data.
        #[serde(default, skip_serializing_if = "is_false")]
        personal: bool,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The description was set or cleared.
    #[serde(rename = "TaskDescriptionChanged")]
    DescriptionChanged {
        /// The new description (trimmed); `None` when cleared.
        #[serde(default, deserialize_with = "crate::personal::erasable")]
        description: Option<String>,
        /// Whether the task is about a person: the description is then their personal data.
        #[serde(default, skip_serializing_if = "is_false")]
        personal: bool,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The task was given to another user.
    #[serde(rename = "TaskReassigned")]
    Reassigned {
        /// The owner from now on (who is reminded).
        owner: UserId,
        /// The due time, unchanged (so the scheduler needs no state to remind the new owner).
        due_at: Option<DateTime<Utc>>,
        /// Who reassigned it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The due time moved, or was removed.
    #[serde(rename = "TaskRescheduled")]
    Rescheduled {
        /// The due time from now on; `None` when removed.
        due_at: Option<DateTime<Utc>>,
        /// The owner, unchanged (so the scheduler needs no state to remind them).
        owner: UserId,
        /// Who rescheduled it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The task's priority changed.
    #[serde(rename = "TaskPriorityChanged")]
    PriorityChanged {
        /// The priority from now on.
        priority: Priority,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The task was done.
    #[serde(rename = "TaskCompleted")]
    Completed {
        /// Who marked it done.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The task was cancelled for good.
    #[serde(rename = "TaskCancelled")]
    Cancelled {
        /// Who cancelled it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A done task was opened again.
    #[serde(rename = "TaskReopened")]
    Reopened {
        /// The owner (who is reminded again).
        owner: UserId,
        /// The due time, unchanged; it may have passed, making the task overdue at once.
        due_at: Option<DateTime<Utc>>,
        /// Who reopened it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Custom field values were set or cleared.
    #[serde(rename = "TaskCustomFieldsSet")]
    CustomFieldsSet(CustomFieldsSet),
}

/// What an event does to a task's reminder ([`TaskEvent::reminder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderChange {
    /// Remind `owner` at `due_at` (and once it is overdue), replacing any earlier reminder
    /// of the task.
    Schedule {
        /// Who to remind.
        owner: UserId,
        /// When the task is due.
        due_at: DateTime<Utc>,
    },
    /// The task needs no reminder any more (done, cancelled, or no due time).
    Drop,
    /// The reminder stays as it was.
    Keep,
}

impl TaskEvent {
    /// When the event was recorded.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TaskEvent::Created { at, .. }
            | TaskEvent::Retitled { at, .. }
            | TaskEvent::DescriptionChanged { at, .. }
            | TaskEvent::Reassigned { at, .. }
            | TaskEvent::Rescheduled { at, .. }
            | TaskEvent::PriorityChanged { at, .. }
            | TaskEvent::Completed { at, .. }
            | TaskEvent::Cancelled { at, .. }
            | TaskEvent::Reopened { at, .. }
            | TaskEvent::CustomFieldsSet(CustomFieldsSet { at, .. }) => *at,
        }
    }

    /// The person a creation says the task is about: as recorded, or, for a task recorded
    /// before tasks named their person, the contact or lead it concerns. `None` for every
    /// other event.
    pub fn person(&self) -> Option<RecordRef> {
        match self {
            TaskEvent::Created {
                person, concerns, ..
            } => person.or_else(|| concerns.and_then(person_concerned)),
            _ => None,
        }
    }

    /// What this event does to the task's reminder, read off the event alone.
    pub fn reminder(&self) -> ReminderChange {
        match self {
            TaskEvent::Created { owner, due_at, .. }
            | TaskEvent::Reassigned { owner, due_at, .. }
            | TaskEvent::Rescheduled { owner, due_at, .. }
            | TaskEvent::Reopened { owner, due_at, .. } => match due_at {
                Some(due_at) => ReminderChange::Schedule {
                    owner: *owner,
                    due_at: *due_at,
                },
                None => ReminderChange::Drop,
            },
            TaskEvent::Completed { .. } | TaskEvent::Cancelled { .. } => ReminderChange::Drop,
            TaskEvent::Retitled { .. }
            | TaskEvent::DescriptionChanged { .. }
            | TaskEvent::PriorityChanged { .. }
            | TaskEvent::CustomFieldsSet(_) => ReminderChange::Keep,
        }
    }
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

impl DomainEvent for TaskEvent {
    /// The members that may hold personal data, encrypted with the key of the person the
    /// task is about: the title and description of a task about someone.
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            TaskEvent::CustomFieldsSet(set) => set.personal_fields(),
            TaskEvent::Created {
                person: Some(_), ..
            } => &["/title", "/description"],
            TaskEvent::Retitled { personal: true, .. } => &["/title"],
            TaskEvent::DescriptionChanged { personal: true, .. } => &["/description"],
            _ => &[],
        }
    }

    fn event_type(&self) -> &'static str {
        match self {
            TaskEvent::CustomFieldsSet(_) => "TaskCustomFieldsSet",
            TaskEvent::Created { .. } => "TaskCreated",
            TaskEvent::Retitled { .. } => "TaskRetitled",
            TaskEvent::DescriptionChanged { .. } => "TaskDescriptionChanged",
            TaskEvent::Reassigned { .. } => "TaskReassigned",
            TaskEvent::Rescheduled { .. } => "TaskRescheduled",
            TaskEvent::PriorityChanged { .. } => "TaskPriorityChanged",
            TaskEvent::Completed { .. } => "TaskCompleted",
            TaskEvent::Cancelled { .. } => "TaskCancelled",
            TaskEvent::Reopened { .. } => "TaskReopened",
        }
    }
}

/// Why a command to a task was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TaskError {
    /// The task has not been created.
    #[error("task not found: it has not been created")]
    NotFound,
    /// A task with this id was already created.
    #[error("task {id} was already created")]
    AlreadyCreated {
        /// The existing task.
        id: TaskId,
    },
    /// A task needs a title.
    #[error("a task needs a title")]
    BlankTitle,
    /// A title longer than [`MAX_TITLE_CHARS`].
    #[error("the title is longer than {max} characters")]
    TitleTooLong {
        /// The longest title kept.
        max: usize,
    },
    /// A blank description; clear it instead.
    #[error("the description cannot be blank: clear it instead")]
    BlankDescription,
    /// A description longer than [`MAX_DESCRIPTION_CHARS`].
    #[error("the description is longer than {max} characters")]
    DescriptionTooLong {
        /// The longest description kept.
        max: usize,
    },
    /// The task is done: reopen it before changing it.
    #[error("task {id} is done: reopen it before changing it")]
    Done {
        /// The done task.
        id: TaskId,
    },
    /// The task was cancelled: nothing changes it any more.
    #[error("task {id} was cancelled and can no longer be changed")]
    Cancelled {
        /// The cancelled task.
        id: TaskId,
    },
    /// The task concerns a person, and another contact was named as the one it is about.
    #[error("the task concerns {concerns}: it is about them, not contact {contact}")]
    PersonMismatch {
        /// The record the task concerns.
        concerns: RecordRef,
        /// The contact named.
        contact: ContactId,
    },
    /// The custom field values do not fit their fields or break a validation rule; every
    /// problem, each naming its field.
    #[error("{0}")]
    CustomFields(#[source] CustomFieldsRefused),
}

/// What is known about a created task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDetails {
    /// The task's id.
    pub id: TaskId,
    /// What is to be done.
    pub title: String,
    /// More about it.
    pub description: Option<String>,
    /// Who is to do it.
    pub owner: UserId,
    /// The record it concerns.
    pub concerns: Option<RecordRef>,
    /// The person it is about (a contact or a lead), whose key encrypts its title and
    /// description; `None` for a task about no person.
    pub person: Option<RecordRef>,
    /// By when.
    pub due_at: Option<DateTime<Utc>>,
    /// How urgent it is.
    pub priority: Priority,
    /// Open, done or cancelled.
    pub status: TaskStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last marked done, while it is done.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A task's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Task {
    /// Everything known since creation; `None` until created.
    pub details: Option<TaskDetails>,
    /// The custom field values.
    pub custom: CustomValues,
}

/// The person a task concerning `record` is about: a contact or a lead, not an account, a
/// deal or a ticket (whose contact the creator names).
fn person_concerned(record: RecordRef) -> Option<RecordRef> {
    match record {
        RecordRef::Contact(_) | RecordRef::Lead(_) => Some(record),
        RecordRef::Account(_) | RecordRef::Opportunity(_) | RecordRef::Ticket(_) => None,
    }
}

/// A title as kept: trimmed; blank or too long is refused.
fn tidy_title(title: &str) -> Result<String, TaskError> {
    let trimmed = title.trim();
    if trimmed.is_empty() {
        return Err(TaskError::BlankTitle);
    }
    if trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(TaskError::TitleTooLong {
            max: MAX_TITLE_CHARS,
        });
    }
    Ok(trimmed.to_owned())
}

/// A description as kept: trimmed; blank or too long is refused.
fn tidy_description(description: Option<&str>) -> Result<Option<String>, TaskError> {
    let Some(text) = description.map(str::trim) else {
        return Ok(None);
    };
    if text.is_empty() {
        return Err(TaskError::BlankDescription);
    }
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(TaskError::DescriptionTooLong {
            max: MAX_DESCRIPTION_CHARS,
        });
    }
    Ok(Some(text.to_owned()))
}

impl Task {
    /// The task's id, once created.
    pub fn id(&self) -> Option<TaskId> {
        self.details.as_ref().map(|details| details.id)
    }

    /// Where the task stands, once created.
    pub fn status(&self) -> Option<TaskStatus> {
        self.details.as_ref().map(|details| details.status)
    }

    /// Whether the task is open and its due time has passed at `now` (a task is due at its
    /// due time and overdue after it). A task without a due time is never overdue.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.details.as_ref().is_some_and(|details| {
            details.status == TaskStatus::Open && details.due_at.is_some_and(|due| now > due)
        })
    }

    /// The reminder the task needs now: its owner and due time, while it is open and has one.
    pub fn reminder(&self) -> Option<(UserId, DateTime<Utc>)> {
        let details = self.details.as_ref()?;
        let due_at = details.due_at?;
        (details.status == TaskStatus::Open).then_some((details.owner, due_at))
    }

    /// The details of a task that may change: created and open.
    fn require_open(&self) -> Result<&TaskDetails, TaskError> {
        let details = self.details.as_ref().ok_or(TaskError::NotFound)?;
        match details.status {
            TaskStatus::Open => Ok(details),
            TaskStatus::Done => Err(TaskError::Done { id: details.id }),
            TaskStatus::Cancelled => Err(TaskError::Cancelled { id: details.id }),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of `TaskCommand::Create`, passed on"
    )]
    fn create(
        &self,
        task: TaskId,
        title: &str,
        description: Option<&str>,
        owner: UserId,
        (concerns, contact): (Option<RecordRef>, Option<ContactId>),
        due_at: Option<DateTime<Utc>>,
        priority: Priority,
        ctx: &Context,
    ) -> Result<Vec<TaskEvent>, TaskError> {
        if let Some(id) = self.id() {
            return Err(TaskError::AlreadyCreated { id });
        }
        let person = match (concerns.and_then(person_concerned), contact) {
            (Some(person), None) => Some(person),
            (Some(person), Some(contact)) if person == RecordRef::Contact(contact) => Some(person),
            (Some(person), Some(contact)) => {
                return Err(TaskError::PersonMismatch {
                    concerns: person,
                    contact,
                });
            }
            (None, contact) => contact.map(RecordRef::Contact),
        };
        Ok(vec![TaskEvent::Created {
            task,
            title: tidy_title(title)?,
            description: tidy_description(description)?,
            owner,
            concerns,
            person,
            due_at,
            priority,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn retitle(&self, title: &str, ctx: &Context) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.require_open()?;
        let title = tidy_title(title)?;
        if details.title == title {
            return Ok(vec![]);
        }
        Ok(vec![TaskEvent::Retitled {
            title,
            personal: details.person.is_some(),
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn describe(
        &self,
        description: Option<&str>,
        ctx: &Context,
    ) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.require_open()?;
        let description = tidy_description(description)?;
        if details.description == description {
            return Ok(vec![]);
        }
        Ok(vec![TaskEvent::DescriptionChanged {
            description,
            personal: details.person.is_some(),
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn reassign(&self, owner: UserId, ctx: &Context) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.require_open()?;
        if details.owner == owner {
            return Ok(vec![]);
        }
        Ok(vec![TaskEvent::Reassigned {
            owner,
            due_at: details.due_at,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn reschedule(
        &self,
        due_at: Option<DateTime<Utc>>,
        ctx: &Context,
    ) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.require_open()?;
        if details.due_at == due_at {
            return Ok(vec![]);
        }
        Ok(vec![TaskEvent::Rescheduled {
            due_at,
            owner: details.owner,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn change_priority(
        &self,
        priority: Priority,
        ctx: &Context,
    ) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.require_open()?;
        if details.priority == priority {
            return Ok(vec![]);
        }
        Ok(vec![TaskEvent::PriorityChanged {
            priority,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn complete(&self, ctx: &Context) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.details.as_ref().ok_or(TaskError::NotFound)?;
        match details.status {
            TaskStatus::Done => Ok(vec![]),
            TaskStatus::Cancelled => Err(TaskError::Cancelled { id: details.id }),
            TaskStatus::Open => Ok(vec![TaskEvent::Completed {
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn cancel(&self, ctx: &Context) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.details.as_ref().ok_or(TaskError::NotFound)?;
        match details.status {
            TaskStatus::Cancelled => Ok(vec![]),
            TaskStatus::Done => Err(TaskError::Done { id: details.id }),
            TaskStatus::Open => Ok(vec![TaskEvent::Cancelled {
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn reopen(&self, ctx: &Context) -> Result<Vec<TaskEvent>, TaskError> {
        let details = self.details.as_ref().ok_or(TaskError::NotFound)?;
        match details.status {
            TaskStatus::Open => Ok(vec![]),
            TaskStatus::Cancelled => Err(TaskError::Cancelled { id: details.id }),
            TaskStatus::Done => Ok(vec![TaskEvent::Reopened {
                owner: details.owner,
                due_at: details.due_at,
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }
}

impl Aggregate for Task {
    const KIND: &'static str = "task";
    type Command = TaskCommand;
    type Event = TaskEvent;
    type Error = TaskError;

    fn decide(&self, command: TaskCommand, ctx: &Context) -> Result<Vec<TaskEvent>, TaskError> {
        match command {
            TaskCommand::SetCustomFields(update) => {
                self.details.as_ref().ok_or(TaskError::NotFound)?;
                let personal = self.data_subject().is_some();
                Ok(update
                    .decide(EntityKind::Task, &self.custom, personal, ctx.now)
                    .map_err(TaskError::CustomFields)?
                    .map(TaskEvent::CustomFieldsSet)
                    .into_iter()
                    .collect())
            }
            TaskCommand::Create {
                task,
                title,
                description,
                owner,
                concerns,
                contact,
                due_at,
                priority,
            } => self.create(
                task,
                &title,
                description.as_deref(),
                owner,
                (concerns, contact),
                due_at,
                priority,
                ctx,
            ),
            TaskCommand::Retitle { title } => self.retitle(&title, ctx),
            TaskCommand::Describe { description } => self.describe(description.as_deref(), ctx),
            TaskCommand::Reassign { owner } => self.reassign(owner, ctx),
            TaskCommand::Reschedule { due_at } => self.reschedule(due_at, ctx),
            TaskCommand::ChangePriority { priority } => self.change_priority(priority, ctx),
            TaskCommand::Complete => self.complete(ctx),
            TaskCommand::Cancel => self.cancel(ctx),
            TaskCommand::Reopen => self.reopen(ctx),
        }
    }

    fn data_subject(&self) -> Option<DataSubject> {
        match self.details.as_ref()?.person? {
            RecordRef::Contact(contact) => Some(DataSubject::Contact(contact)),
            RecordRef::Lead(lead) => Some(DataSubject::Lead(lead)),
            RecordRef::Account(_) | RecordRef::Opportunity(_) | RecordRef::Ticket(_) => None,
        }
    }

    fn evolve(mut self, event: &TaskEvent) -> Self {
        if let TaskEvent::CustomFieldsSet(set) = event {
            set.apply_to(&mut self.custom);
            return self;
        }
        if let TaskEvent::Created {
            task,
            title,
            description,
            owner,
            concerns,
            due_at,
            priority,
            at,
            ..
        } = event
        {
            // A second creation cannot come from `decide`; the first one stands.
            self.details.get_or_insert_with(|| TaskDetails {
                id: *task,
                title: title.clone(),
                description: description.clone(),
                owner: *owner,
                concerns: *concerns,
                person: event.person(),
                due_at: *due_at,
                priority: *priority,
                status: TaskStatus::Open,
                created_at: *at,
                completed_at: None,
            });
            return self;
        }
        // Facts about a task never created cannot come from `decide`.
        let Some(details) = self.details.as_mut() else {
            return self;
        };
        match event {
            // Handled before the match.
            TaskEvent::Created { .. } | TaskEvent::CustomFieldsSet(_) => {}
            TaskEvent::Retitled { title, .. } => details.title.clone_from(title),
            TaskEvent::DescriptionChanged { description, .. } => {
                details.description.clone_from(description);
            }
            TaskEvent::Reassigned { owner, .. } => details.owner = *owner,
            TaskEvent::Rescheduled { due_at, .. } => details.due_at = *due_at,
            TaskEvent::PriorityChanged { priority, .. } => details.priority = *priority,
            TaskEvent::Completed { at, .. } => {
                details.status = TaskStatus::Done;
                details.completed_at = Some(*at);
            }
            TaskEvent::Cancelled { .. } => {
                details.status = TaskStatus::Cancelled;
                details.completed_at = None;
            }
            TaskEvent::Reopened { .. } => {
                details.status = TaskStatus::Open;
                details.completed_at = None;
            }
        }
        self
    }
}
