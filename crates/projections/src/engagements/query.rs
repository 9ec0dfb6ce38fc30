//! Reading engagements: a task or an activity by id, a task list, a record's activities.

use chrono::{DateTime, Utc};
use crm_domain::task::TaskStatus;
use crm_domain::{ActivityId, TaskId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    ActivityDoc, ENTRY, EngagementDoc, TASK, TaskDoc, TimelineLine, activity_key, task_key,
};
use crate::model::{Comparison, DocKey, Filter, Found, IndexValue, Lookup, Scan, Selection};

/// A task by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLookup {
    /// The task.
    pub task: TaskId,
}

impl Lookup<EngagementDoc> for TaskLookup {
    type Answer = Option<TaskDoc>;

    fn keys(&self, found: &Found<EngagementDoc>, keys: &mut Vec<DocKey>) {
        if !found.contains(&task_key(self.task)) {
            keys.push(task_key(self.task));
        }
    }

    fn answer(&self, found: &Found<EngagementDoc>) -> Option<TaskDoc> {
        match found.get(&task_key(self.task)) {
            Some(EngagementDoc::Task(task)) => Some(task.clone()),
            _ => None,
        }
    }
}

/// An activity by id (without its personal fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityLookup {
    /// The activity.
    pub activity: ActivityId,
}

impl Lookup<EngagementDoc> for ActivityLookup {
    type Answer = Option<ActivityDoc>;

    fn keys(&self, found: &Found<EngagementDoc>, keys: &mut Vec<DocKey>) {
        if !found.contains(&activity_key(self.activity)) {
            keys.push(activity_key(self.activity));
        }
    }

    fn answer(&self, found: &Found<EngagementDoc>) -> Option<ActivityDoc> {
        match found.get(&activity_key(self.activity)) {
            Some(EngagementDoc::Activity(activity)) => Some(activity.clone()),
            _ => None,
        }
    }
}

/// Tasks matching every condition given: by due time (earliest first, tasks without one left
/// out) when `due_before` is given, else in id order (the order they were created in, for
/// time-ordered ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskList {
    /// Only this user's.
    pub owner: Option<UserId>,
    /// Only those in this status.
    pub status: Option<TaskStatus>,
    /// Only those due strictly before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Only those concerning this record.
    pub record: Option<Uuid>,
    /// The most tasks to return.
    pub limit: usize,
    /// Where the page before ended.
    pub after: Option<TaskCursor>,
}

/// A place in a task list: the last task's due time (lists by due time) and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskCursor {
    /// The last task's due time, for a list by due time.
    pub due_at: Option<DateTime<Utc>>,
    /// The last task.
    pub task: TaskId,
}

impl TaskCursor {
    /// The place just after `task`.
    pub fn after(task: &TaskDoc) -> Self {
        Self {
            due_at: task.due_at,
            task: task.id,
        }
    }

    /// The cursor as text: `<task>` or `<task>.<due time in microseconds>`.
    pub fn to_text(&self) -> String {
        match self.due_at {
            Some(due_at) => format!("{}.{}", self.task.0.simple(), due_at.timestamp_micros()),
            None => self.task.0.simple().to_string(),
        }
    }

    /// Reads [`to_text`](Self::to_text) back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (task, due_at) = match text.split_once('.') {
            Some((task, micros)) => (
                task,
                Some(DateTime::from_timestamp_micros(micros.parse().ok()?)?),
            ),
            None => (text, None),
        };
        Some(Self {
            due_at,
            task: TaskId(Uuid::try_parse(task).ok()?),
        })
    }
}

impl Scan<EngagementDoc> for TaskList {
    type Answer = Vec<TaskDoc>;

    fn selection(&self) -> Selection {
        let mut selection = Selection::all(TASK).limit(self.limit);
        if let Some(owner) = self.owner {
            selection = selection.filter(Filter::eq("owner", IndexValue::Uuid(owner.0)));
        }
        if let Some(status) = self.status {
            selection = selection.filter(Filter::eq(
                "status",
                IndexValue::Text(status.as_str().to_owned()),
            ));
        }
        if let Some(record) = self.record {
            selection = selection.filter(Filter::eq("record", IndexValue::Uuid(record)));
        }
        if let Some(before) = self.due_before {
            selection = selection
                .filter(Filter::lt("due_at", IndexValue::Time(before)))
                .order_by("due_at");
        }
        if let Some(after) = self.after {
            // By due time the due time leads; in id order only the id counts (the value is
            // not read).
            let value = after
                .due_at
                .map_or(IndexValue::Bool(false), IndexValue::Time);
            selection = selection.after(value, task_key(after.task));
        }
        selection
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<TaskDoc>
    where
        I: Iterator<Item = (&'a DocKey, &'a EngagementDoc)>,
    {
        docs.filter_map(|(_, doc)| match doc {
            EngagementDoc::Task(task) => Some(task.clone()),
            _ => None,
        })
        .collect()
    }
}

/// Where a page of a record's activities ended: the last row's place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActivityCursor(pub String);

/// A page of a record's activities, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityPage {
    /// The rows, newest first.
    pub items: Vec<TimelineLine>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<ActivityCursor>,
}

/// The activities logged on a record (any kind: lead, contact, account, deal, ticket), newest
/// first, `limit` at a time after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordActivities {
    /// The record's id.
    pub record: Uuid,
    /// The cursor of the page before, if any.
    pub after: Option<ActivityCursor>,
    /// The most rows per page (at least one).
    pub limit: usize,
}

impl Scan<EngagementDoc> for RecordActivities {
    type Answer = ActivityPage;

    fn selection(&self) -> Selection {
        let mut selection = Selection::all(ENTRY)
            .filter(Filter::eq("record", IndexValue::Uuid(self.record)))
            .order_by("newest")
            .limit(self.limit.max(1).saturating_add(1));
        if let Some(after) = &self.after {
            selection = selection.filter(Filter {
                column: "newest",
                comparison: Comparison::Gt,
                value: IndexValue::Text(after.0.clone()),
            });
        }
        selection
    }

    fn answer<'a, I>(&self, docs: I) -> ActivityPage
    where
        I: Iterator<Item = (&'a DocKey, &'a EngagementDoc)>,
    {
        let limit = self.limit.max(1);
        let mut items: Vec<TimelineLine> = docs
            .filter_map(|(_, doc)| match doc {
                EngagementDoc::Entry(line) => Some(*line),
                _ => None,
            })
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|line| ActivityCursor(line.newest()))
        } else {
            None
        };
        ActivityPage { items, next }
    }
}
