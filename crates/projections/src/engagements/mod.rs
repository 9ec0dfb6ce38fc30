//! Engagements: tasks, and the calls, emails, meetings and notes logged on records, as people
//! look for them — a user's open tasks by due time, a task or an activity by id, and the
//! activities of any record, newest first, paged by cursor.
//!
//! # Documents
//! - `task:<id>` ([`TaskDoc`]): the task as it stands (title, owner, the record it concerns,
//!   the person it is about, due time, priority, status). Indexed by owner, status and due
//!   time. The title and description of a task about a person are that person's data: their
//!   erasure empties them.
//! - `person:<id>` ([`PersonTasks`]): the tasks about one contact or lead, which an erasure
//!   of the person (`ContactErased`, naming the contacts it absorbed and the leads converted
//!   into them) reaches.
//! - `activity:<id>` ([`ActivityDoc`]): the activity without its personal fields (kind, the
//!   records it names, when, how long, which way, how it ended, who performed it, whether it
//!   was cancelled). Subject, body and participants stay in the history, encrypted with the
//!   person's key, so an erasure needs nothing from this model.
//! - `entry:<record>:<activity>` ([`TimelineLine`]): one row per record an activity names: the
//!   record's activity timeline. Logging an activity inserts a row per record; nothing is ever
//!   appended to a growing document, so a record with ten thousand calls costs a row per
//!   call, written once. An amendment of the time rewrites the activity's own rows, one of the
//!   records replaces exactly the rows that changed, and a cancellation deletes them.
//!
//! # Paging
//! A timeline row's `newest` column is text that sorts newest first and is unique (the
//! instant counted down from the far future, then the activity's id), so a page is "the
//! first `n` rows of the record after the cursor" in every adapter, and a cursor is the last
//! row's `newest` value: stable while rows are inserted above it.

mod query;

use chrono::{DateTime, Utc};
use crm_domain::activity::{
    ActivityChange, ActivityEvent, ActivityKind, ActivityOutcome, CancellationReason, Direction,
};
use crm_domain::contact::ContactEvent;
use crm_domain::task::{TaskEvent, TaskStatus};
use crm_domain::{ActivityId, LeadId, Priority, RecordRef, TaskId, UserId};
use serde::{Deserialize, Serialize};

pub use query::{
    ActivityCursor, ActivityLookup, ActivityPage, RecordActivities, TaskCursor, TaskList,
    TaskLookup,
};

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::{ColumnType, DocKey, DocSet, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of a task.
pub const TASK: &str = "task";
/// Document kind of an activity.
pub const ACTIVITY: &str = "activity";
/// Document kind of a timeline row (a pair: the record, the activity).
pub const ENTRY: &str = "entry";
/// Document kind of the tasks about one person (a contact or a lead).
pub const PERSON: &str = "person";

fn task_key(id: TaskId) -> DocKey {
    DocKey::new(TASK, id.0)
}

fn activity_key(id: ActivityId) -> DocKey {
    DocKey::new(ACTIVITY, id.0)
}

fn person_key(person: RecordRef) -> DocKey {
    DocKey::new(PERSON, person.as_uuid())
}

fn entry_key(record: &RecordRef, activity: ActivityId) -> DocKey {
    DocKey::pair(ENTRY, record.as_uuid(), activity.0)
}

/// A task as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDoc {
    /// The task.
    pub id: TaskId,
    /// What is to be done.
    pub title: String,
    /// More about it.
    pub description: Option<String>,
    /// Who is to do it.
    pub owner: UserId,
    /// The record it concerns.
    pub concerns: Option<RecordRef>,
    /// The person it is about (a contact or a lead): their erasure empties the title and
    /// the description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<RecordRef>,
    /// By when.
    pub due_at: Option<DateTime<Utc>>,
    /// How urgent it is.
    pub priority: Priority,
    /// Open, done or cancelled.
    pub status: TaskStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last done or cancelled; `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether the person it is about was erased: its title and description are empty
    /// from then on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

/// The tasks about one person, so that erasing them reaches each (no other document of
/// this model holds personal data: activities keep theirs in the history, encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersonTasks {
    /// The tasks, in the order created.
    pub tasks: Vec<TaskId>,
}

/// An activity without its personal fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityDoc {
    /// The activity.
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
    /// How it ended.
    pub outcome: Option<ActivityOutcome>,
    /// The user who performed it.
    pub performed_by: Option<UserId>,
    /// When it was logged.
    pub logged_at: DateTime<Utc>,
    /// Why it was cancelled, if it was.
    pub cancelled: Option<CancellationReason>,
}

/// One row of a record's activity timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineLine {
    /// The record whose timeline this is.
    pub record: RecordRef,
    /// The activity.
    pub activity: ActivityId,
    /// Call, email, meeting or note.
    pub kind: ActivityKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Which way it went.
    pub direction: Option<Direction>,
    /// How it ended.
    pub outcome: Option<ActivityOutcome>,
    /// The user who performed it.
    pub performed_by: Option<UserId>,
}

impl TimelineLine {
    fn of(record: RecordRef, doc: &ActivityDoc) -> Self {
        Self {
            record,
            activity: doc.id,
            kind: doc.kind,
            occurred_at: doc.occurred_at,
            direction: doc.direction,
            outcome: doc.outcome,
            performed_by: doc.performed_by,
        }
    }

    /// The row's place in its record's timeline: sorts newest first, unique per activity.
    pub fn newest(&self) -> String {
        newest(self.occurred_at, self.activity)
    }
}

/// Text sorting `at` newest first (microseconds counted down from `i64::MAX`, zero-padded to
/// 20 digits, which holds every instant chrono represents), then by activity id.
fn newest(at: DateTime<Utc>, activity: ActivityId) -> String {
    let countdown = i128::from(i64::MAX) - i128::from(at.timestamp_micros());
    format!("{countdown:020}:{}", activity.0.simple())
}

/// A document of the engagements model, stored as `{"doc": "task" | "activity" | "entry", …}`
/// (not `kind`: activities and timeline rows have a `kind` of their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
pub enum EngagementDoc {
    /// A task.
    Task(TaskDoc),
    /// An activity.
    Activity(ActivityDoc),
    /// A row of a record's activity timeline.
    Entry(TimelineLine),
    /// The tasks about one person.
    Person(PersonTasks),
}

/// The engagements read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngagementModel;

impl ReadModel for EngagementModel {
    const NAME: &'static str = "engagements";
    /// Version 2: tasks name the person they are about, and an erasure empties their text.
    const VERSION: u32 = 2;
    const KINDS: &'static [&'static str] = &[TASK, ACTIVITY, ENTRY, PERSON];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("owner", ColumnType::Uuid),
        IndexedColumn::new("status", ColumnType::Text),
        IndexedColumn::new("due_at", ColumnType::Time),
        IndexedColumn::new("record", ColumnType::Uuid),
        IndexedColumn::new("newest", ColumnType::Text),
    ];
    /// A page of a record's activities is one ordered, limited read.
    const ORDERED_WITHIN: &'static [(&'static str, &'static str)] = &[("record", "newest")];
    type Doc = EngagementDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let id = event.stream.id;
        match &event.event {
            CrmEvent::Task(task) => {
                keys.push(task_key(TaskId(id)));
                keys.extend(task.person().map(person_key));
            }
            CrmEvent::Contact(_) => {
                keys.extend(erased_people(&event.event).into_iter().map(person_key));
            }
            CrmEvent::Activity(activity) => {
                let activity_id = ActivityId(id);
                keys.push(activity_key(activity_id));
                if let ActivityEvent::Logged { records, .. }
                | ActivityEvent::Amended {
                    change: ActivityChange::Records(records),
                    ..
                } = activity
                {
                    keys.extend(records.iter().map(|record| entry_key(record, activity_id)));
                }
            }
            CrmEvent::Lead(_)
            | CrmEvent::Opportunity(_)
            | CrmEvent::Ticket(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_) => {}
        }
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<EngagementDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        // An amendment or a cancellation reaches the rows of the records named until now.
        if let CrmEvent::Activity(ActivityEvent::Amended { .. } | ActivityEvent::Cancelled { .. }) =
            &event.event
        {
            let activity = ActivityId(event.stream.id);
            if let Some(EngagementDoc::Activity(doc)) = docs.get(&activity_key(activity)) {
                keys.extend(doc.records.iter().map(|record| entry_key(record, activity)));
            }
        }
        // An erasure reaches every task about the person.
        for person in erased_people(&event.event) {
            if let Some(EngagementDoc::Person(tasks)) = docs.get(&person_key(person)) {
                keys.extend(tasks.tasks.iter().map(|task| task_key(*task)));
            }
        }
    }

    fn apply(&self, docs: &mut DocSet<EngagementDoc>, event: &ProjectedEvent) {
        let id = event.stream.id;
        match &event.event {
            CrmEvent::Task(task) => apply_task(docs, TaskId(id), task),
            CrmEvent::Activity(activity) => apply_activity(docs, ActivityId(id), activity),
            CrmEvent::Contact(_) => {
                for person in erased_people(&event.event) {
                    erase_tasks_of(docs, person);
                }
            }
            CrmEvent::Lead(_)
            | CrmEvent::Opportunity(_)
            | CrmEvent::Ticket(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_) => {}
        }
    }

    fn indexed(_key: &DocKey, doc: &EngagementDoc) -> Indexed {
        match doc {
            EngagementDoc::Task(task) => {
                let mut columns = vec![
                    ("owner", IndexValue::Uuid(task.owner.0)),
                    ("status", IndexValue::Text(task.status.as_str().to_owned())),
                ];
                if let Some(due_at) = task.due_at {
                    columns.push(("due_at", IndexValue::Time(due_at)));
                }
                if let Some(record) = task.concerns {
                    columns.push(("record", IndexValue::Uuid(record.as_uuid())));
                }
                columns
            }
            EngagementDoc::Activity(_) | EngagementDoc::Person(_) => Vec::new(),
            EngagementDoc::Entry(line) => vec![
                ("record", IndexValue::Uuid(line.record.as_uuid())),
                ("newest", IndexValue::Text(line.newest())),
            ],
        }
    }
}

/// The people an erasure erases: the contacts ([`CrmEvent::erased_contacts`]) and the leads
/// converted into them (none for any other event).
fn erased_people(event: &CrmEvent) -> Vec<RecordRef> {
    let leads: &[LeadId] = match event {
        CrmEvent::Contact(ContactEvent::Erased { leads, .. }) => leads,
        _ => &[],
    };
    event
        .erased_contacts()
        .into_iter()
        .map(RecordRef::Contact)
        .chain(leads.iter().copied().map(RecordRef::Lead))
        .collect()
}

/// Empties the text of every task about `person`.
fn erase_tasks_of(docs: &mut DocSet<EngagementDoc>, person: RecordRef) {
    let Some(EngagementDoc::Person(tasks)) = docs.get(&person_key(person)) else {
        return;
    };
    for task in tasks.tasks.clone() {
        if let Some(EngagementDoc::Task(doc)) = docs.get_mut(&task_key(task)) {
            doc.title.clear();
            doc.description = None;
            doc.erased = true;
        }
    }
}

fn apply_task(docs: &mut DocSet<EngagementDoc>, id: TaskId, event: &TaskEvent) {
    let key = task_key(id);
    if let Some(person) = event.person() {
        let listed = docs.get_or_insert_with(&person_key(person), || {
            EngagementDoc::Person(PersonTasks::default())
        });
        if let Some(EngagementDoc::Person(tasks)) = listed
            && !tasks.tasks.contains(&id)
        {
            tasks.tasks.push(id);
        }
    }
    if let TaskEvent::Created {
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
        if docs.get(&key).is_none() {
            let _ = docs.insert(
                &key,
                EngagementDoc::Task(TaskDoc {
                    id,
                    title: title.clone(),
                    description: description.clone(),
                    owner: *owner,
                    concerns: *concerns,
                    person: event.person(),
                    due_at: *due_at,
                    priority: *priority,
                    status: TaskStatus::Open,
                    created_at: *at,
                    closed_at: None,
                    erased: false,
                }),
            );
        }
        return;
    }
    let Some(EngagementDoc::Task(task)) = docs.get_mut(&key) else {
        return;
    };
    match event {
        TaskEvent::Created { .. } | TaskEvent::CustomFieldsSet(_) => {}
        // Once the person is erased, a text written since is theirs too, and unreadable.
        TaskEvent::Retitled { .. } | TaskEvent::DescriptionChanged { .. } if task.erased => {}
        TaskEvent::Retitled { title, .. } => task.title.clone_from(title),
        TaskEvent::DescriptionChanged { description, .. } => {
            task.description.clone_from(description);
        }
        TaskEvent::Reassigned { owner, .. } => task.owner = *owner,
        TaskEvent::Rescheduled { due_at, .. } => task.due_at = *due_at,
        TaskEvent::PriorityChanged { priority, .. } => task.priority = *priority,
        TaskEvent::Completed { at, .. } => {
            task.status = TaskStatus::Done;
            task.closed_at = Some(*at);
        }
        TaskEvent::Cancelled { at, .. } => {
            task.status = TaskStatus::Cancelled;
            task.closed_at = Some(*at);
        }
        TaskEvent::Reopened { owner, .. } => {
            task.status = TaskStatus::Open;
            task.owner = *owner;
            task.closed_at = None;
        }
    }
}

fn apply_activity(docs: &mut DocSet<EngagementDoc>, id: ActivityId, event: &ActivityEvent) {
    let key = activity_key(id);
    if let ActivityEvent::Logged {
        kind,
        records,
        occurred_at,
        duration_seconds,
        direction,
        outcome,
        performed_by,
        at,
        ..
    } = event
    {
        if docs.get(&key).is_some() {
            return;
        }
        let doc = ActivityDoc {
            id,
            kind: *kind,
            records: records.clone(),
            occurred_at: *occurred_at,
            duration_seconds: *duration_seconds,
            direction: *direction,
            outcome: *outcome,
            performed_by: *performed_by,
            logged_at: *at,
            cancelled: None,
        };
        write_rows(docs, &doc);
        let _ = docs.insert(&key, EngagementDoc::Activity(doc));
        return;
    }
    let Some(EngagementDoc::Activity(doc)) = docs.get(&key) else {
        return;
    };
    if doc.cancelled.is_some() {
        return;
    }
    let mut doc = doc.clone();
    match event {
        ActivityEvent::Logged { .. } | ActivityEvent::CustomFieldsSet(_) => return,
        ActivityEvent::Cancelled { reason, .. } => {
            doc.cancelled = Some(*reason);
            for record in &doc.records {
                docs.remove(&entry_key(record, id));
            }
        }
        ActivityEvent::Amended { change, .. } => {
            match change {
                ActivityChange::OccurredAt(at) => doc.occurred_at = *at,
                ActivityChange::DurationSeconds(seconds) => doc.duration_seconds = *seconds,
                ActivityChange::Direction(direction) => doc.direction = Some(*direction),
                ActivityChange::Outcome(outcome) => doc.outcome = *outcome,
                ActivityChange::Records(records) => {
                    for gone in doc.records.iter().filter(|old| !records.contains(old)) {
                        docs.remove(&entry_key(gone, id));
                    }
                    doc.records.clone_from(records);
                }
                // Personal fields are not kept here.
                ActivityChange::Subject(_)
                | ActivityChange::Body(_)
                | ActivityChange::Participants(_) => return,
            }
            write_rows(docs, &doc);
        }
    }
    let _ = docs.insert(&key, EngagementDoc::Activity(doc));
}

/// Writes the activity's timeline rows (one per record), where they differ from what is kept.
fn write_rows(docs: &mut DocSet<EngagementDoc>, doc: &ActivityDoc) {
    for record in &doc.records {
        let key = entry_key(record, doc.id);
        let line = EngagementDoc::Entry(TimelineLine::of(*record, doc));
        if docs.get(&key) != Some(&line) {
            let _ = docs.insert(&key, line);
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn the_newest_key_sorts_later_instants_first_and_is_unique() {
        let early = DateTime::<Utc>::UNIX_EPOCH;
        let late = early + chrono::TimeDelta::seconds(1);
        let a = ActivityId(Uuid::from_u128(1));
        let b = ActivityId(Uuid::from_u128(2));
        assert!(newest(late, a) < newest(early, a));
        assert!(newest(early, a) < newest(early, b));
        let far_past = DateTime::<Utc>::MIN_UTC;
        let far_future = DateTime::<Utc>::MAX_UTC;
        assert!(newest(far_future, a) < newest(far_past, a));
    }
}
