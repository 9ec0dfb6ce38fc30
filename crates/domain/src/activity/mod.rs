//! The activity aggregate: a call, email, meeting or note logged on the records it names.
//!
//! An activity names one or more records ([`RecordRef`]: leads, contacts, accounts,
//! opportunities, tickets), when it happened, who took part and what was said. It is logged
//! once ([`ActivityEvent::Logged`]), amended field by field ([`ActivityEvent::Amended`], one
//! event per field that changed, naming the field) and cancelled
//! ([`ActivityEvent::Cancelled`]); nothing is deleted.
//!
//! # Rules
//! - **By kind** ([`ActivityKind`]): calls and emails have a [`Direction`] (required), calls
//!   and meetings may have a duration (refused for the others), and an outcome must be one
//!   that can end the kind ([`ActivityOutcome::applies_to`]). The kind never changes: cancel
//!   and log again.
//! - **Records**: at least one, at most [`MAX_RECORDS`], each once (repeats are dropped,
//!   the first kept in place).
//! - **Time**: `occurred_at` is when it happened, and may not lie more than
//!   [`OCCURRED_AT_TOLERANCE`] after the decision (activities record what happened; work
//!   to be done is a task).
//! - **Texts**: subject and body are trimmed, must not be blank (leave them out instead) and
//!   are at most [`MAX_SUBJECT_CHARS`] and [`MAX_BODY_CHARS`] characters.
//! - **Who**: `performed_by` is the user who made the call, wrote the email or held the
//!   meeting; when not given it is the acting user, and none when the actor is not a user.
//!   `by` on every event is whoever issued the command (an email integration, a person).
//! - **Cancelled** is final: every later command is refused, except a second cancellation,
//!   which records nothing. Amending to the values already there records nothing.
//!
//! # Personal data
//! Participants, subject and body may hold personal data ([`DomainEvent::personal_fields`]).
//! They are encrypted with the key of the activity's data subject: the first lead or contact
//! among its records, fixed from the first event that names one and never changed, so one
//! key covers the whole stream (a lead converted into a contact is reached through the
//! contact's erasure, which names its leads). An activity that names no lead or contact has
//! nobody to key personal data to, so participants, subject and body are refused on it
//! ([`ActivityError::NoDataSubject`]): log a note about a company on the account *and* the
//! contact it concerns. The record the data subject came from cannot be removed from the
//! activity ([`ActivityError::DataSubjectRecordRemoved`]). Other participants' data is keyed
//! to that same subject, so erasing another participant does not reach it.
//!
//! # Touches
//! [`ActivityEvent::touch`] recognises a logged activity that counts as a rep's touch of the
//! leads it names, for the lead response SLA ([`Touch`]); see there for the rule. Only the
//! logging counts: amending or cancelling never makes or unmakes a touch, because the lead
//! records its first touch once and for good.

mod kind;
mod participant;
#[cfg(test)]
mod tests;

use crate::custom_fields::{
    CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate, CustomValues, EntityKind,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use kind::{ActivityKind, ActivityOutcome, CancellationReason, Direction};
pub use participant::Participant;

use crate::Channel;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::{ActivityId, LeadId, RecordRef, UserId};
use crate::personal::DataSubject;

/// The most records one activity names.
pub const MAX_RECORDS: usize = 50;
/// The most participants one activity lists.
pub const MAX_PARTICIPANTS: usize = 100;
/// The longest subject kept, in characters (an email subject line's limit).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// The longest body kept, in characters.
pub const MAX_BODY_CHARS: usize = 100_000;
/// The longest duration, in seconds (a week: a workshop, not a mistake).
pub const MAX_DURATION_SECONDS: u32 = 7 * 24 * 60 * 60;
/// How far after the decision an activity may be dated (clocks of other systems drift).
pub const OCCURRED_AT_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// An activity to log: what [`ActivityCommand::Log`] carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewActivity {
    /// The new activity's id (the caller chose it; the stream is `"activity-{id}"`).
    pub activity: ActivityId,
    /// Call, email, meeting or note.
    pub kind: ActivityKind,
    /// The records it is logged on; at least one.
    pub records: Vec<RecordRef>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted, in seconds (calls and meetings only).
    pub duration_seconds: Option<u32>,
    /// Which way it went (required for calls and emails, refused for the others).
    pub direction: Option<Direction>,
    /// Who took part (personal data).
    pub participants: Vec<Participant>,
    /// How it ended.
    pub outcome: Option<ActivityOutcome>,
    /// Its subject (personal data).
    pub subject: Option<String>,
    /// What was said or written (personal data).
    pub body: Option<String>,
    /// The user who performed it; the acting user when not given.
    pub performed_by: Option<UserId>,
}

/// A change to one field of a logged activity: what an amendment asks for and what
/// [`ActivityEvent::Amended`] records. Stored as `{"field": …, "value": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum ActivityChange {
    /// When it happened.
    OccurredAt(DateTime<Utc>),
    /// How long it lasted, in seconds; `None` clears it.
    DurationSeconds(Option<u32>),
    /// Which way it went (calls and emails).
    Direction(Direction),
    /// How it ended; `None` clears it.
    Outcome(Option<ActivityOutcome>),
    /// The records it is logged on, all of them (replacing the list).
    Records(Vec<RecordRef>),
    /// Its subject; `None` clears it (personal data).
    Subject(Option<String>),
    /// Its body; `None` clears it (personal data).
    Body(Option<String>),
    /// Who took part, all of them (replacing the list; personal data).
    #[serde(deserialize_with = "crate::personal::erasable")]
    Participants(Vec<Participant>),
}

/// A command to an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ActivityCommand {
    /// Logs the activity.
    Log(NewActivity),
    /// Changes fields of the activity, applied in order; each one that changes something is
    /// recorded as its own event.
    Amend {
        /// The changes.
        changes: Vec<ActivityChange>,
    },
    /// Cancels the activity (it stays in the stream, marked cancelled).
    Cancel {
        /// Why.
        reason: CancellationReason,
    },
    /// Sets or clears custom field values under the tenant's current schema (see
    /// [`CustomFieldsUpdate`]); an update without changes still checks the validation rules.
    SetCustomFields(CustomFieldsUpdate),
}

/// A fact about an activity. Every event says who issued the command (`by`) and when (`at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ActivityEvent {
    /// The activity was logged.
    #[serde(rename = "ActivityLogged")]
    Logged {
        /// The activity.
        activity: ActivityId,
        /// Call, email, meeting or note.
        kind: ActivityKind,
        /// The records it is logged on (at least one, each once).
        records: Vec<RecordRef>,
        /// When it happened.
        occurred_at: DateTime<Utc>,
        /// How long it lasted, in seconds.
        duration_seconds: Option<u32>,
        /// Which way it went.
        direction: Option<Direction>,
        /// Who took part; empty once erased.
        #[serde(deserialize_with = "crate::personal::erasable")]
        participants: Vec<Participant>,
        /// How it ended.
        outcome: Option<ActivityOutcome>,
        /// Its subject (trimmed); `None` once erased.
        subject: Option<String>,
        /// Its body (trimmed); `None` once erased.
        body: Option<String>,
        /// The user who performed it, if a user did.
        performed_by: Option<UserId>,
        /// Who logged it.
        by: Actor,
        /// When it was logged.
        at: DateTime<Utc>,
    },
    /// One field of the activity changed.
    #[serde(rename = "ActivityAmended")]
    Amended {
        /// The field and its new value.
        change: ActivityChange,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The activity was cancelled.
    #[serde(rename = "ActivityCancelled")]
    Cancelled {
        /// Why.
        reason: CancellationReason,
        /// Who cancelled it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Custom field values were set or cleared.
    #[serde(rename = "ActivityCustomFieldsSet")]
    CustomFieldsSet(CustomFieldsSet),
}

/// A rep's touch of leads: what [`ActivityEvent::touch`] recognises, and what the
/// application turns into a first touch of each lead (`LeadCommand::LogFirstTouch`) when the
/// lead has none yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// The leads touched, in the order the activity names them.
    pub leads: Vec<LeadId>,
    /// How: the phone for a call, email for an email.
    pub channel: Channel,
    /// The rep who performed it.
    pub by: UserId,
    /// When it happened (not when it was logged).
    pub occurred_at: DateTime<Utc>,
}

impl ActivityEvent {
    /// When the event was recorded.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ActivityEvent::Logged { at, .. }
            | ActivityEvent::Amended { at, .. }
            | ActivityEvent::Cancelled { at, .. }
            | ActivityEvent::CustomFieldsSet(CustomFieldsSet { at, .. }) => *at,
        }
    }

    /// The touch this event is, if it is one: the logging of a call or an email on one or
    /// more leads, performed by a user, that reached out or got through —
    /// - an outbound call or email, whatever its outcome (an attempt counts), or
    /// - an inbound call that was answered (outcome connected, or none given).
    ///
    /// An inbound email is the lead writing, not a response, and is no touch; nor are
    /// meetings, notes, amendments and cancellations.
    pub fn touch(&self) -> Option<Touch> {
        let ActivityEvent::Logged {
            kind,
            records,
            occurred_at,
            direction,
            outcome,
            performed_by,
            ..
        } = self
        else {
            return None;
        };
        let channel = kind.channel()?;
        let reached = match direction {
            Some(Direction::Outbound) => true,
            Some(Direction::Inbound) => {
                *kind == ActivityKind::Call
                    && matches!(outcome, None | Some(ActivityOutcome::Connected))
            }
            None => false,
        };
        let by = (*performed_by)?;
        let leads: Vec<LeadId> = records.iter().filter_map(RecordRef::lead).collect();
        if !reached || leads.is_empty() {
            return None;
        }
        Some(Touch {
            leads,
            channel,
            by,
            occurred_at: *occurred_at,
        })
    }

    /// Whether this event is a touch of a lead ([`ActivityEvent::touch`]).
    pub fn is_touch(&self) -> bool {
        self.touch().is_some()
    }
}

impl DomainEvent for ActivityEvent {
    /// The members that may hold personal data, encrypted with the data subject's key:
    /// participants, subject and body — of a logging that holds any (one that holds none
    /// needs no data subject, and an activity may have none), and of an amendment of one of
    /// them.
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            ActivityEvent::CustomFieldsSet(set) => set.personal_fields(),
            ActivityEvent::Logged {
                participants,
                subject,
                body,
                ..
            } => {
                if participants.is_empty() && subject.is_none() && body.is_none() {
                    &[]
                } else {
                    &["/participants", "/subject", "/body"]
                }
            }
            ActivityEvent::Amended {
                change:
                    ActivityChange::Subject(_)
                    | ActivityChange::Body(_)
                    | ActivityChange::Participants(_),
                ..
            } => &["/change/value"],
            ActivityEvent::Amended { .. } | ActivityEvent::Cancelled { .. } => &[],
        }
    }

    fn event_type(&self) -> &'static str {
        match self {
            ActivityEvent::CustomFieldsSet(_) => "ActivityCustomFieldsSet",
            ActivityEvent::Logged { .. } => "ActivityLogged",
            ActivityEvent::Amended { .. } => "ActivityAmended",
            ActivityEvent::Cancelled { .. } => "ActivityCancelled",
        }
    }
}

/// Why a command to an activity was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ActivityError {
    /// The activity has not been logged.
    #[error("activity not found: it has not been logged")]
    NotFound,
    /// An activity with this id was already logged.
    #[error("activity {id} was already logged")]
    AlreadyLogged {
        /// The existing activity.
        id: ActivityId,
    },
    /// The activity was cancelled: nothing changes it any more.
    #[error("activity {id} was cancelled and can no longer be changed")]
    Cancelled {
        /// The cancelled activity.
        id: ActivityId,
    },
    /// An activity must name at least one record.
    #[error("an activity must be logged on at least one record")]
    NoRecord,
    /// More records than [`MAX_RECORDS`].
    #[error("an activity names at most {max} records")]
    TooManyRecords {
        /// The most records kept.
        max: usize,
    },
    /// A call or an email needs a direction.
    #[error("{kind}s need a direction (inbound or outbound)")]
    DirectionRequired {
        /// The activity's kind.
        kind: ActivityKind,
    },
    /// Only calls and emails have a direction.
    #[error("{kind}s have no direction")]
    DirectionNotApplicable {
        /// The activity's kind.
        kind: ActivityKind,
    },
    /// Only calls and meetings have a duration.
    #[error("{kind}s have no duration")]
    DurationNotApplicable {
        /// The activity's kind.
        kind: ActivityKind,
    },
    /// A duration longer than [`MAX_DURATION_SECONDS`].
    #[error("an activity lasts at most {max_seconds} seconds")]
    DurationTooLong {
        /// The longest duration kept, in seconds.
        max_seconds: u32,
    },
    /// The outcome cannot end an activity of this kind.
    #[error("{outcome:?} is not an outcome of {kind}s")]
    OutcomeNotApplicable {
        /// The activity's kind.
        kind: ActivityKind,
        /// The outcome given.
        outcome: ActivityOutcome,
    },
    /// The activity is dated after the decision (beyond [`OCCURRED_AT_TOLERANCE`]).
    #[error("an activity cannot have happened at {occurred_at}, after now ({now})")]
    OccurredInFuture {
        /// The time given.
        occurred_at: DateTime<Utc>,
        /// The decision's time.
        now: DateTime<Utc>,
    },
    /// A subject that is blank; leave it out instead.
    #[error("the subject cannot be blank: leave it out instead")]
    BlankSubject,
    /// A subject longer than [`MAX_SUBJECT_CHARS`].
    #[error("the subject is longer than {max} characters")]
    SubjectTooLong {
        /// The longest subject kept.
        max: usize,
    },
    /// A body that is blank; leave it out instead.
    #[error("the body cannot be blank: leave it out instead")]
    BlankBody,
    /// A body longer than [`MAX_BODY_CHARS`].
    #[error("the body is longer than {max} characters")]
    BodyTooLong {
        /// The longest body kept.
        max: usize,
    },
    /// A participant about whom nothing is given.
    #[error("a participant needs a contact, a name, an email address or a phone number")]
    EmptyParticipant,
    /// More participants than [`MAX_PARTICIPANTS`].
    #[error("an activity lists at most {max} participants")]
    TooManyParticipants {
        /// The most participants kept.
        max: usize,
    },
    /// Participants, a subject or a body on an activity that names no lead or contact: there
    /// is nobody whose key could protect them (see the module's "Personal data").
    #[error("participants, subject and body need a lead or a contact among the activity's records")]
    NoDataSubject,
    /// The amendment would remove the record the activity's personal data is keyed to.
    #[error("{record} holds the key to this activity's personal data and cannot be removed")]
    DataSubjectRecordRemoved {
        /// The record.
        record: RecordRef,
    },
    /// The custom field values do not fit their fields or break a validation rule; every
    /// problem, each naming its field.
    #[error("{0}")]
    CustomFields(#[source] CustomFieldsRefused),
}

/// Why an activity was cancelled, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancellation {
    /// Why.
    pub reason: CancellationReason,
    /// When.
    pub at: DateTime<Utc>,
}

/// What is known about a logged activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    /// The activity's id.
    pub id: ActivityId,
    /// Call, email, meeting or note.
    pub kind: ActivityKind,
    /// The records it is logged on.
    pub records: Vec<RecordRef>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted, in seconds.
    pub duration_seconds: Option<u32>,
    /// Which way it went.
    pub direction: Option<Direction>,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// How it ended.
    pub outcome: Option<ActivityOutcome>,
    /// Its subject.
    pub subject: Option<String>,
    /// Its body.
    pub body: Option<String>,
    /// The user who performed it.
    pub performed_by: Option<UserId>,
    /// Who logged it.
    pub logged_by: Actor,
    /// When it was logged.
    pub logged_at: DateTime<Utc>,
    /// The cancellation, once cancelled.
    pub cancellation: Option<Cancellation>,
    /// The person whose key protects its personal data: the first lead or contact it named.
    pub data_subject: Option<DataSubject>,
}

impl ActivityEntry {
    /// Whether it holds personal data (participants, a subject or a body).
    pub fn holds_personal_data(&self) -> bool {
        !self.participants.is_empty() || self.subject.is_some() || self.body.is_some()
    }

    /// The record the data subject came from.
    fn data_subject_record(&self) -> Option<RecordRef> {
        match self.data_subject? {
            DataSubject::Lead(lead) => Some(RecordRef::Lead(lead)),
            DataSubject::Contact(contact) => Some(RecordRef::Contact(contact)),
            DataSubject::Rep(_) => None,
        }
    }

    /// Checks the activity as a whole: what one field's rules cannot see alone.
    fn check(&self) -> Result<(), ActivityError> {
        let kind = self.kind;
        if self.records.is_empty() {
            return Err(ActivityError::NoRecord);
        }
        if self.records.len() > MAX_RECORDS {
            return Err(ActivityError::TooManyRecords { max: MAX_RECORDS });
        }
        match (kind.has_direction(), self.direction) {
            (true, None) => return Err(ActivityError::DirectionRequired { kind }),
            (false, Some(_)) => return Err(ActivityError::DirectionNotApplicable { kind }),
            _ => {}
        }
        if let Some(seconds) = self.duration_seconds {
            if !kind.has_duration() {
                return Err(ActivityError::DurationNotApplicable { kind });
            }
            if seconds > MAX_DURATION_SECONDS {
                return Err(ActivityError::DurationTooLong {
                    max_seconds: MAX_DURATION_SECONDS,
                });
            }
        }
        if let Some(outcome) = self.outcome
            && !outcome.applies_to(kind)
        {
            return Err(ActivityError::OutcomeNotApplicable { kind, outcome });
        }
        if self.participants.iter().any(Participant::is_empty) {
            return Err(ActivityError::EmptyParticipant);
        }
        if self.participants.len() > MAX_PARTICIPANTS {
            return Err(ActivityError::TooManyParticipants {
                max: MAX_PARTICIPANTS,
            });
        }
        if self.holds_personal_data() && self.data_subject.is_none() {
            return Err(ActivityError::NoDataSubject);
        }
        if let Some(record) = self.data_subject_record()
            && !self.records.contains(&record)
        {
            return Err(ActivityError::DataSubjectRecordRemoved { record });
        }
        Ok(())
    }
}

/// An activity's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Activity {
    /// Everything known since logging; `None` until logged.
    pub entry: Option<ActivityEntry>,
    /// The custom field values.
    pub custom: CustomValues,
}

/// The first lead or contact among `records`: whose key protects an activity's personal data.
fn first_person(records: &[RecordRef]) -> Option<DataSubject> {
    records.iter().find_map(|record| match record {
        RecordRef::Lead(lead) => Some(DataSubject::Lead(*lead)),
        RecordRef::Contact(contact) => Some(DataSubject::Contact(*contact)),
        RecordRef::Account(_) | RecordRef::Opportunity(_) | RecordRef::Ticket(_) => None,
    })
}

/// The records with repeats dropped, the first of each kept in place.
fn distinct(records: Vec<RecordRef>) -> Vec<RecordRef> {
    let mut kept: Vec<RecordRef> = Vec::with_capacity(records.len());
    for record in records {
        if !kept.contains(&record) {
            kept.push(record);
        }
    }
    kept
}

/// A subject or body as kept: trimmed; blank or too long is refused.
fn tidy_text(
    text: Option<String>,
    max: usize,
    blank: ActivityError,
    too_long: ActivityError,
) -> Result<Option<String>, ActivityError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(blank);
    }
    if trimmed.chars().count() > max {
        return Err(too_long);
    }
    Ok(Some(trimmed.to_owned()))
}

fn tidy_subject(subject: Option<String>) -> Result<Option<String>, ActivityError> {
    tidy_text(
        subject,
        MAX_SUBJECT_CHARS,
        ActivityError::BlankSubject,
        ActivityError::SubjectTooLong {
            max: MAX_SUBJECT_CHARS,
        },
    )
}

fn tidy_body(body: Option<String>) -> Result<Option<String>, ActivityError> {
    tidy_text(
        body,
        MAX_BODY_CHARS,
        ActivityError::BlankBody,
        ActivityError::BodyTooLong {
            max: MAX_BODY_CHARS,
        },
    )
}

fn check_not_in_future(occurred_at: DateTime<Utc>, ctx: &Context) -> Result<(), ActivityError> {
    if occurred_at > ctx.now + OCCURRED_AT_TOLERANCE {
        return Err(ActivityError::OccurredInFuture {
            occurred_at,
            now: ctx.now,
        });
    }
    Ok(())
}

impl ActivityChange {
    /// The change as it would be kept (texts trimmed, records distinct), checked on its own.
    fn tidy(self, ctx: &Context) -> Result<Self, ActivityError> {
        Ok(match self {
            ActivityChange::OccurredAt(at) => {
                check_not_in_future(at, ctx)?;
                ActivityChange::OccurredAt(at)
            }
            ActivityChange::Records(records) => ActivityChange::Records(distinct(records)),
            ActivityChange::Subject(subject) => ActivityChange::Subject(tidy_subject(subject)?),
            ActivityChange::Body(body) => ActivityChange::Body(tidy_body(body)?),
            other @ (ActivityChange::DurationSeconds(_)
            | ActivityChange::Direction(_)
            | ActivityChange::Outcome(_)
            | ActivityChange::Participants(_)) => other,
        })
    }

    /// Whether `entry` already holds this value.
    fn is_held_by(&self, entry: &ActivityEntry) -> bool {
        match self {
            ActivityChange::OccurredAt(at) => entry.occurred_at == *at,
            ActivityChange::DurationSeconds(seconds) => entry.duration_seconds == *seconds,
            ActivityChange::Direction(direction) => entry.direction == Some(*direction),
            ActivityChange::Outcome(outcome) => entry.outcome == *outcome,
            ActivityChange::Records(records) => entry.records == *records,
            ActivityChange::Subject(subject) => entry.subject == *subject,
            ActivityChange::Body(body) => entry.body == *body,
            ActivityChange::Participants(participants) => entry.participants == *participants,
        }
    }

    /// Applies the change to `entry`.
    fn apply_to(&self, entry: &mut ActivityEntry) {
        match self {
            ActivityChange::OccurredAt(at) => entry.occurred_at = *at,
            ActivityChange::DurationSeconds(seconds) => entry.duration_seconds = *seconds,
            ActivityChange::Direction(direction) => entry.direction = Some(*direction),
            ActivityChange::Outcome(outcome) => entry.outcome = *outcome,
            ActivityChange::Records(records) => {
                entry.records.clone_from(records);
                if entry.data_subject.is_none() {
                    entry.data_subject = first_person(records);
                }
            }
            ActivityChange::Subject(subject) => entry.subject.clone_from(subject),
            ActivityChange::Body(body) => entry.body.clone_from(body),
            ActivityChange::Participants(participants) => {
                entry.participants.clone_from(participants);
            }
        }
    }
}

impl Activity {
    /// The activity's id, once logged.
    pub fn id(&self) -> Option<ActivityId> {
        self.entry.as_ref().map(|entry| entry.id)
    }

    /// Whether the activity was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.entry
            .as_ref()
            .is_some_and(|entry| entry.cancellation.is_some())
    }

    fn log(&self, new: NewActivity, ctx: &Context) -> Result<Vec<ActivityEvent>, ActivityError> {
        if let Some(id) = self.id() {
            return Err(ActivityError::AlreadyLogged { id });
        }
        check_not_in_future(new.occurred_at, ctx)?;
        let logged = ActivityEvent::Logged {
            activity: new.activity,
            kind: new.kind,
            records: distinct(new.records),
            occurred_at: new.occurred_at,
            duration_seconds: new.duration_seconds,
            direction: new.direction,
            participants: new.participants,
            outcome: new.outcome,
            subject: tidy_subject(new.subject)?,
            body: tidy_body(new.body)?,
            performed_by: new.performed_by.or_else(|| ctx.actor.user()),
            by: ctx.actor.clone(),
            at: ctx.now,
        };
        let after = Activity::default().evolve(&logged);
        if let Some(entry) = &after.entry {
            entry.check()?;
        }
        Ok(vec![logged])
    }

    fn require_open(&self) -> Result<&ActivityEntry, ActivityError> {
        let entry = self.entry.as_ref().ok_or(ActivityError::NotFound)?;
        if entry.cancellation.is_some() {
            return Err(ActivityError::Cancelled { id: entry.id });
        }
        Ok(entry)
    }

    fn amend(
        &self,
        changes: Vec<ActivityChange>,
        ctx: &Context,
    ) -> Result<Vec<ActivityEvent>, ActivityError> {
        let mut working = self.require_open()?.clone();
        let mut events = Vec::new();
        for change in changes {
            let change = change.tidy(ctx)?;
            if change.is_held_by(&working) {
                continue;
            }
            change.apply_to(&mut working);
            events.push(ActivityEvent::Amended {
                change,
                by: ctx.actor.clone(),
                at: ctx.now,
            });
        }
        working.check()?;
        // A text set and cleared again in one amendment leaves no personal data in the
        // state, yet its events hold some: they too need the key of a data subject.
        let records_personal_data = events
            .iter()
            .any(|event| !event.personal_fields().is_empty());
        if records_personal_data && working.data_subject.is_none() {
            return Err(ActivityError::NoDataSubject);
        }
        Ok(events)
    }

    fn cancel(
        &self,
        reason: CancellationReason,
        ctx: &Context,
    ) -> Result<Vec<ActivityEvent>, ActivityError> {
        let entry = self.entry.as_ref().ok_or(ActivityError::NotFound)?;
        if entry.cancellation.is_some() {
            return Ok(vec![]);
        }
        Ok(vec![ActivityEvent::Cancelled {
            reason,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }
}

impl Aggregate for Activity {
    const KIND: &'static str = "activity";
    type Command = ActivityCommand;
    type Event = ActivityEvent;
    type Error = ActivityError;

    fn decide(
        &self,
        command: ActivityCommand,
        ctx: &Context,
    ) -> Result<Vec<ActivityEvent>, ActivityError> {
        match command {
            ActivityCommand::SetCustomFields(update) => {
                self.require_open()?;
                let personal = self.data_subject().is_some();
                Ok(update
                    .decide(EntityKind::Activity, &self.custom, personal, ctx.now)
                    .map_err(ActivityError::CustomFields)?
                    .map(ActivityEvent::CustomFieldsSet)
                    .into_iter()
                    .collect())
            }
            ActivityCommand::Log(new) => self.log(new, ctx),
            ActivityCommand::Amend { changes } => self.amend(changes, ctx),
            ActivityCommand::Cancel { reason } => self.cancel(reason, ctx),
        }
    }

    fn data_subject(&self) -> Option<DataSubject> {
        self.entry.as_ref()?.data_subject
    }

    fn evolve(mut self, event: &ActivityEvent) -> Self {
        match (event, self.entry.as_mut()) {
            (ActivityEvent::CustomFieldsSet(set), _) => set.apply_to(&mut self.custom),
            (
                ActivityEvent::Logged {
                    activity,
                    kind,
                    records,
                    occurred_at,
                    duration_seconds,
                    direction,
                    participants,
                    outcome,
                    subject,
                    body,
                    performed_by,
                    by,
                    at,
                },
                None,
            ) => {
                self.entry = Some(ActivityEntry {
                    id: *activity,
                    kind: *kind,
                    records: records.clone(),
                    occurred_at: *occurred_at,
                    duration_seconds: *duration_seconds,
                    direction: *direction,
                    participants: participants.clone(),
                    outcome: *outcome,
                    subject: subject.clone(),
                    body: body.clone(),
                    performed_by: *performed_by,
                    logged_by: by.clone(),
                    logged_at: *at,
                    cancellation: None,
                    data_subject: first_person(records),
                });
            }
            // A second logging, or facts about an activity never logged, cannot come from
            // `decide`.
            (ActivityEvent::Logged { .. }, Some(_)) | (_, None) => {}
            (ActivityEvent::Amended { change, .. }, Some(entry)) => change.apply_to(entry),
            (ActivityEvent::Cancelled { reason, at, .. }, Some(entry)) => {
                entry.cancellation.get_or_insert(Cancellation {
                    reason: *reason,
                    at: *at,
                });
            }
        }
        self
    }
}
