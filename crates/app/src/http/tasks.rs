//! `POST /v1/tasks/{id}/commands`: work a user owes by a due time, on a record or on none.

use chrono::{DateTime, Utc};
use crm_domain::opportunity::Opportunity;
use crm_domain::task::{Task, TaskCommand};
use crm_domain::ticket::Ticket;
use crm_domain::{ContactId, Priority, RecordRef, TaskId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use crm_domain::custom_fields::EntityKind;
use serde_json::{Map, Value};

use super::body::Body;
use super::commands::execute_with_custom;
use super::problem::Problem;
use super::reads::Id;
use super::{App, Principal};
use crate::backend::Backend;

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
        /// The contact the task is about, for a task on an account or on no record (its title
        /// and description are then the contact's personal data, encrypted with their key).
        /// A task on a contact or a lead is about them, and one on a deal or a ticket about
        /// the deal's or the ticket's contact, found here when this is absent.
        #[serde(default)]
        contact: Option<Uuid>,
        /// When it is due.
        #[serde(default)]
        due_at: Option<DateTime<Utc>>,
        /// `low`, `normal`, `high` or `urgent`.
        #[schema(value_type = String)]
        priority: Priority,
        /// Custom field values to set with it, checked against the task's validation rules
        /// (which it meets even when it sends none).
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        custom_fields: Option<Map<String, Value>>,
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
    /// Sets or clears custom field values under the tenant's current schema.
    SetCustomFields {
        /// The values by field key (see [`CustomFieldValues`](super::commands::CustomFieldValues)).
        #[schema(value_type = Object)]
        values: Map<String, Value>,
    },
}

impl TaskRequest {
    /// See [`ContactRequest::take_custom_fields`](super::commands::ContactRequest).
    fn take_custom_fields(&mut self) -> Option<Map<String, Value>> {
        match self {
            TaskRequest::SetCustomFields { values } => Some(std::mem::take(values)),
            TaskRequest::Create { custom_fields, .. } => {
                Some(custom_fields.take().unwrap_or_default())
            }
            _ => None,
        }
    }

    fn needs_if_match(&self) -> bool {
        matches!(
            self,
            TaskRequest::Retitle { .. }
                | TaskRequest::Describe { .. }
                | TaskRequest::Reassign { .. }
        )
    }

    /// The domain's command; `None` for custom fields alone.
    fn into_command(self, id: Uuid) -> Option<TaskCommand> {
        Some(match self {
            TaskRequest::SetCustomFields { .. } => return None,
            TaskRequest::Create {
                title,
                description,
                owner,
                concerns,
                contact,
                due_at,
                priority,
                custom_fields: _,
            } => TaskCommand::Create {
                task: TaskId(id),
                title,
                description,
                owner: UserId(owner),
                concerns,
                contact: contact.map(ContactId),
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
        })
    }
}

/// `POST /v1/tasks/{id}/commands`.
pub(crate) async fn command<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    Id(id): Id,
    headers: HeaderMap,
    Body(mut request): Body<TaskRequest>,
) -> Response {
    let needs = request.needs_if_match();
    let custom = request.take_custom_fields();
    if let TaskRequest::Create {
        concerns: Some(record),
        contact: contact @ None,
        ..
    } = &mut request
    {
        match contact_behind(&app, &principal, *record).await {
            Ok(found) => *contact = found.map(|found| found.0),
            Err(problem) => return problem.into_response(),
        }
    }
    execute_with_custom::<Task>(
        &app,
        &principal,
        &headers,
        id,
        (request.into_command(id), custom),
        (EntityKind::Task, TaskCommand::SetCustomFields),
        needs,
        None,
    )
    .await
}

/// The contact a deal or a ticket is with (a task on it is about them); `None` for other
/// records and for a deal or ticket not opened (yet).
async fn contact_behind<B: Backend>(
    app: &App<B>,
    principal: &Principal,
    record: RecordRef,
) -> Result<Option<ContactId>, Problem> {
    let tenant = &principal.tenant;
    match record {
        RecordRef::Opportunity(deal) => app
            .service
            .load::<Opportunity>(tenant, deal.0)
            .await
            .map(|(state, _)| state.deal.map(|deal| deal.contact))
            .map_err(|error| Problem::of_command(&error)),
        RecordRef::Ticket(ticket) => app
            .service
            .load::<Ticket>(tenant, ticket.0)
            .await
            .map(|(state, _)| state.contact)
            .map_err(|error| Problem::of_command(&error)),
        RecordRef::Lead(_) | RecordRef::Contact(_) | RecordRef::Account(_) => Ok(None),
    }
}
