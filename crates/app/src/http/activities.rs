//! `POST /v1/activities/{id}`: a call, email, meeting or note logged on the records it names;
//! a call or email by a lead's rep is the lead's first touch ([`crate::activities`]).
//! `POST /v1/activities/{id}/commands`: an amendment or a cancellation.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use crm_domain::activity::{
    Activity, ActivityChange, ActivityCommand, ActivityKind, ActivityOutcome, CancellationReason,
    Direction, NewActivity, Participant,
};
use crm_domain::custom_fields::EntityKind;
use crm_domain::identity::{CountryCode, EmailAddress, PersonName, PhoneNumber};
use crm_domain::{
    ActivityId, CompanyId, ContactId, LeadId, OpportunityId, RecordRef, TicketId, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{Body, idempotency_key};
use super::commands::execute_with_custom;
use super::problem::{Problem, ProblemKind};
use super::reads::Id;
use super::{App, Principal, Role};
use crate::activities::{ActivityLogError, log_activity_with};
use crate::backend::Backend;

/// A record an activity is logged on.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityRecord {
    /// `lead`, `contact`, `account`, `opportunity` or `ticket`.
    pub kind: String,
    /// Its id.
    pub id: Uuid,
}

/// Someone who took part.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityParticipant {
    /// The contact they are, if known.
    #[serde(default)]
    pub contact: Option<Uuid>,
    /// Their name.
    #[serde(default)]
    pub name: Option<String>,
    /// Their email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Their phone number; national numbers are read in `country`.
    #[serde(default)]
    pub phone: Option<String>,
    /// The country (ISO 3166 alpha-2) national phone numbers are read in; `GB` if absent.
    #[serde(default)]
    pub country: Option<String>,
}

/// An activity to log; the path's id is its id (choose it; sending it again is safe).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityRequest {
    /// `call`, `email`, `meeting` or `note`.
    #[schema(value_type = String)]
    pub kind: ActivityKind,
    /// The records it is logged on (at least one).
    pub records: Vec<ActivityRecord>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted, in seconds (calls and meetings).
    #[serde(default)]
    pub duration_seconds: Option<u32>,
    /// `inbound` or `outbound` (calls and emails).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub direction: Option<Direction>,
    /// How it ended: `connected`, `left_voicemail`, `no_answer`, `busy`, `wrong_number`
    /// (calls), `bounced` (emails), `held`, … (meetings).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub outcome: Option<ActivityOutcome>,
    /// Who took part.
    #[serde(default)]
    pub participants: Vec<ActivityParticipant>,
    /// Its subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// What was said or written.
    #[serde(default)]
    pub body: Option<String>,
    /// The user who performed it; the token's user when absent. Only admin and integration
    /// tokens may name another user.
    #[serde(default)]
    pub performed_by: Option<Uuid>,
    /// Custom field values to set with it, checked against the activity's validation rules
    /// (which it meets even when it sends none).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
}

/// What logging did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityResponse {
    /// The activity's id.
    pub id: Uuid,
    /// Whether it was recorded now (`false`: an earlier request recorded it).
    pub recorded: bool,
    /// The leads whose first touch (the lead-response SLA's answer) it is.
    pub first_touches: Vec<Uuid>,
    /// The leads it names that it does not touch for the SLA, each with why.
    pub not_counted: Vec<NotCounted>,
}

/// A lead an activity does not touch for the SLA.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotCounted {
    /// The lead.
    pub lead: Uuid,
    /// Why (held by another rep, already touched, …).
    pub reason: String,
}

fn record(record: &ActivityRecord) -> Result<RecordRef, Problem> {
    Ok(match record.kind.as_str() {
        "lead" => RecordRef::Lead(LeadId(record.id)),
        "contact" => RecordRef::Contact(ContactId(record.id)),
        "account" => RecordRef::Account(CompanyId(record.id)),
        "opportunity" => RecordRef::Opportunity(OpportunityId(record.id)),
        "ticket" => RecordRef::Ticket(TicketId(record.id)),
        other => {
            return Err(Problem::invalid_body(format!(
                "records: {other:?} is not lead, contact, account, opportunity or ticket"
            )));
        }
    })
}

fn participant(sent: &ActivityParticipant) -> Result<Participant, Problem> {
    let country = CountryCode::new(sent.country.as_deref().unwrap_or("GB"))
        .map_err(|error| Problem::invalid_body(format!("participants: country: {error}")))?;
    Ok(Participant {
        contact: sent.contact.map(ContactId),
        name: sent
            .name
            .as_deref()
            .map(PersonName::new)
            .transpose()
            .map_err(|error| Problem::invalid_body(format!("participants: name: {error}")))?,
        email: sent
            .email
            .as_deref()
            .map(EmailAddress::parse)
            .transpose()
            .map_err(|error| Problem::invalid_body(format!("participants: email: {error}")))?,
        phone: sent
            .phone
            .as_deref()
            .map(|phone| PhoneNumber::parse(phone, country))
            .transpose()
            .map_err(|error| Problem::invalid_body(format!("participants: phone: {error}")))?,
    })
}

fn new_activity(id: Uuid, request: ActivityRequest) -> Result<NewActivity, Problem> {
    Ok(NewActivity {
        activity: ActivityId(id),
        kind: request.kind,
        records: request
            .records
            .iter()
            .map(record)
            .collect::<Result<_, _>>()?,
        occurred_at: request.occurred_at,
        duration_seconds: request.duration_seconds,
        direction: request.direction,
        participants: request
            .participants
            .iter()
            .map(participant)
            .collect::<Result<_, _>>()?,
        outcome: request.outcome,
        subject: request.subject,
        body: request.body,
        performed_by: request.performed_by.map(UserId),
    })
}

pub(crate) async fn log<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
    headers: HeaderMap,
    Body(request): Body<ActivityRequest>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let mut meta = crate::CommandMeta::by(principal.actor.clone());
    match idempotency_key(&headers) {
        // Keys are the caller's, as on every other POST: two tokens never share one.
        Ok(Some(key)) => {
            meta = meta.with_idempotency_key(format!("http/{}/{key}", principal.key_prefix()));
        }
        Ok(None) => {}
        Err(problem) => return problem.into_response(),
    }
    // A rep logs their own activities: naming another performer would record a touch (and
    // stop an SLA clock) in someone else's name. Admins and integrations (mailbox capture)
    // log for others.
    if let Some(performer) = request.performed_by
        && matches!(principal.role, Role::Sales | Role::Support)
        && principal.actor.user() != Some(UserId(performer))
    {
        return Problem::new(
            ProblemKind::Forbidden,
            "a sales or support token logs only its own user's activities (leave performed_by out)",
        )
        .into_response();
    }
    let mut request = request;
    let changes = request.custom_fields.take().unwrap_or_default();
    let activity = match new_activity(id, request) {
        Ok(activity) => activity,
        Err(problem) => return problem.into_response(),
    };
    let custom = match crate::custom_fields::update_under_current(
        &app.service,
        &principal.tenant,
        EntityKind::Activity,
        changes,
    )
    .await
    {
        Ok(custom) => custom,
        Err(error) => return Problem::of_command(&error).into_response(),
    };
    match log_activity_with(
        &app.service,
        &principal.tenant,
        activity,
        Some(custom),
        &meta,
    )
    .await
    {
        Ok(logged) => {
            let status = if logged.recorded {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = ActivityResponse {
                id,
                recorded: logged.recorded,
                first_touches: logged.first_touches.iter().map(|lead| lead.0).collect(),
                not_counted: logged
                    .not_counted
                    .into_iter()
                    .map(|(lead, reason)| NotCounted {
                        lead: lead.0,
                        reason,
                    })
                    .collect(),
            };
            (status, Json(body)).into_response()
        }
        Err(ActivityLogError::Activity(error)) => Problem::of_command(&error).into_response(),
        Err(error @ ActivityLogError::Touch { .. }) => Problem::new(
            ProblemKind::Unavailable,
            format!("{error}; the activity is recorded, send the same request again to finish"),
        )
        .into_response(),
    }
}

/// A change to a logged activity (the path's id is the activity's).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActivityCommandRequest {
    /// Changes fields, each `{"field": …, "value": …}`: `occurred_at`, `duration_seconds`,
    /// `direction`, `outcome`, `records` (all of them, replacing the list), `subject`, `body`,
    /// `participants` (all of them). Needs `If-Match`.
    Amend {
        /// The changes, applied in order.
        #[schema(value_type = Vec<Object>)]
        changes: Vec<ActivityChange>,
    },
    /// Cancels it for good (it stays in its history, marked cancelled).
    Cancel {
        /// `logged_in_error`, `duplicate` or `did_not_happen`.
        #[schema(value_type = String)]
        reason: CancellationReason,
    },
    /// Sets or clears custom field values under the tenant's current schema.
    SetCustomFields {
        /// The values by field key (see [`CustomFieldValues`](super::commands::CustomFieldValues)).
        #[schema(value_type = Object)]
        values: Map<String, Value>,
    },
}

/// `POST /v1/activities/{id}/commands`: amends or cancels a logged activity, or sets its
/// custom fields. A sales or
/// support token changes only activities its own user performed, as it logs only those.
pub(crate) async fn command<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
    headers: HeaderMap,
    Body(request): Body<ActivityCommandRequest>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    if matches!(principal.role, Role::Sales | Role::Support) {
        let performer = match app.service.load::<Activity>(&principal.tenant, id).await {
            Ok((activity, _)) => activity.entry.and_then(|entry| entry.performed_by),
            Err(error) => return Problem::of_command(&error).into_response(),
        };
        if performer.is_some() && performer != principal.actor.user() {
            return Problem::new(
                ProblemKind::Forbidden,
                "a sales or support token changes only its own user's activities",
            )
            .into_response();
        }
    }
    let (command, custom, needs_if_match) = match request {
        ActivityCommandRequest::Amend { changes } => {
            (Some(ActivityCommand::Amend { changes }), None, true)
        }
        ActivityCommandRequest::Cancel { reason } => {
            (Some(ActivityCommand::Cancel { reason }), None, false)
        }
        ActivityCommandRequest::SetCustomFields { values } => (None, Some(values), false),
    };
    execute_with_custom::<Activity>(
        &app,
        &principal,
        &headers,
        id,
        (command, custom),
        (EntityKind::Activity, ActivityCommand::SetCustomFields),
        needs_if_match,
        None,
    )
    .await
}
