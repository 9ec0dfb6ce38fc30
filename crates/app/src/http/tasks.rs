//! `POST /v1/tasks/{id}/commands`: work a user owes by a due time, on a record or on none.

use chrono::{DateTime, Utc};
use crm_domain::task::{Task, TaskCommand};
use crm_domain::{Priority, RecordRef, TaskId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::roster::ClientCommand;

/// A command to a task (the path's id is the task's).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskRequest {
    /// Creates the task.
    Create {
        /// What is to be done.
        title: String,
        /// More about it.
        #[serde(default)]
        description: Option<String>,
        /// Who owes it.
        owner: Uuid,
        /// The record it concerns: `{"kind": "lead" | "contact" | "account" | "opportunity" |
        /// "ticket", "id": …}`.
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        concerns: Option<RecordRef>,
        /// When it is due.
        #[serde(default)]
        due_at: Option<DateTime<Utc>>,
        /// `low`, `normal`, `high` or `urgent`.
        #[schema(value_type = String)]
        priority: Priority,
    },
    /// Renames it (needs `If-Match`).
    Retitle {
        /// The new title.
        title: String,
    },
    /// Sets or clears its description (needs `If-Match`).
    Describe {
        /// The description; absent clears it.
        #[serde(default)]
        description: Option<String>,
    },
    /// Gives it to another user (needs `If-Match`).
    Reassign {
        /// The new owner.
        owner: Uuid,
    },
    /// Moves its due time, or removes it.
    Reschedule {
        /// The new due time; absent for none.
        #[serde(default)]
        due_at: Option<DateTime<Utc>>,
    },
    /// Changes its priority.
    ChangePriority {
        /// `low`, `normal`, `high` or `urgent`.
        #[schema(value_type = String)]
        priority: Priority,
    },
    /// Marks it done.
    Complete {},
    /// Cancels it for good.
    Cancel {},
    /// Opens a done task again.
    Reopen {},
}

impl ClientCommand for TaskRequest {
    type Aggregate = Task;

    fn needs_if_match(&self) -> bool {
        matches!(
            self,
            TaskRequest::Retitle { .. }
                | TaskRequest::Describe { .. }
                | TaskRequest::Reassign { .. }
        )
    }

    fn into_command(self, id: Uuid) -> TaskCommand {
        match self {
            TaskRequest::Create {
                title,
                description,
                owner,
                concerns,
                due_at,
                priority,
            } => TaskCommand::Create {
                task: TaskId(id),
                title,
                description,
                owner: UserId(owner),
                concerns,
                due_at,
                priority,
            },
            TaskRequest::Retitle { title } => TaskCommand::Retitle { title },
            TaskRequest::Describe { description } => TaskCommand::Describe { description },
            TaskRequest::Reassign { owner } => TaskCommand::Reassign {
                owner: UserId(owner),
            },
            TaskRequest::Reschedule { due_at } => TaskCommand::Reschedule { due_at },
            TaskRequest::ChangePriority { priority } => TaskCommand::ChangePriority { priority },
            TaskRequest::Complete {} => TaskCommand::Complete,
            TaskRequest::Cancel {} => TaskCommand::Cancel,
            TaskRequest::Reopen {} => TaskCommand::Reopen,
        }
    }
}
