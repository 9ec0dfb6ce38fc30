//! The handlers: commands, records and their history, the read models, intake and health.

use crm_domain::custom_fields::EntityKind;
use std::sync::Arc;

use super::roster::ClientCommand;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use crm_domain::contact::{Contact, ContactCommand};
use crm_domain::forecast::PeriodKind;
use crm_domain::identity::CountryCode;
use crm_domain::identity::linkage::{LinkageAssessment, LinkageModel, PersonDetails, PersonRecord};
use crm_domain::lead::Lead;
use crm_domain::opportunity::Opportunity;
use crm_domain::sync::SyncRefusals;
use crm_domain::ticket::Ticket;
use crm_domain::{ContactId, UserId};
use crm_eventstore::{EventStore, Source, StreamId, StreamRead, TenantId};
use crm_projections::customer360::{
    Customer360Query, CustomerDoc, CustomerRecords, RecordTimeline, TimelineCursor, TimelineEntry,
};
use crm_projections::duplicates::query::{ReviewCursor, ReviewQueue};
use crm_projections::engagements::{ActivityCursor, RecordActivities, TimelineLine};
use crm_projections::identity::IdentityIndexModel;
use crm_projections::identity::query::BestMatches;
use crm_projections::pipeline::query::ByStageAndOwner;
use crm_projections::pipeline::query::Forecast as PipelineForecast;
use crm_projections::sla::query::{AtRiskList, Attainment, AttainmentBy, BreachList, SlaCursor};
use crm_projections::{
    AggregateKind, DocKey, DocumentStore, StorageError, StreamRef, fold_streams,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{Body, etag};
use super::commands::{
    self, ContactRequest, LeadRequest, OpportunityRequest, TicketRequest, execute,
};
use super::problem::{Problem, ProblemKind};
use super::{App, Principal, with_etag};
use crate::backend::Backend;
use crate::intake::{IntakeError, LeadDelivery, Submitted};
use crate::uow::UnitOfWork as _;

type AppState<B> = State<Arc<App<B>>>;
type Caller = Extension<Principal>;

/// A record kind with a stream of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A lead.
    Lead,
    /// A contact.
    Contact,
    /// A deal.
    Opportunity,
    /// A ticket.
    Ticket,
}

impl RecordKind {
    fn aggregate(self) -> AggregateKind {
        match self {
            RecordKind::Lead => AggregateKind::Lead,
            RecordKind::Contact => AggregateKind::Contact,
            RecordKind::Opportunity => AggregateKind::Opportunity,
            RecordKind::Ticket => AggregateKind::Ticket,
        }
    }

    fn stream(self, id: Uuid) -> Result<StreamId, Problem> {
        let prefix = match self {
            RecordKind::Lead => "lead",
            RecordKind::Contact => "contact",
            RecordKind::Opportunity => "opportunity",
            RecordKind::Ticket => "ticket",
        };
        StreamId::new(format!("{prefix}-{id}"))
            .map_err(|error| Problem::new(ProblemKind::InvalidParameter, error.to_string()))
    }

    fn key(self, id: Uuid) -> DocKey {
        let kind = match self {
            RecordKind::Lead => crm_projections::customer360::LEAD,
            RecordKind::Contact => crm_projections::customer360::CONTACT,
            RecordKind::Opportunity => crm_projections::customer360::OPPORTUNITY,
            RecordKind::Ticket => crm_projections::customer360::TICKET,
        };
        DocKey::new(kind, id)
    }
}

/// The `{id}` of a path, a UUID; anything else is a 400 problem.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|error| Problem::new(ProblemKind::InvalidParameter, error.body_text()))?;
        Uuid::parse_str(&text).map(Id).map_err(|_| {
            Problem::new(
                ProblemKind::InvalidParameter,
                format!("{text:?} is not an id (a UUID)"),
            )
            .with_code("id")
        })
    }
}

/// Query parameters of type `T`; anything malformed is a 400 problem.
#[derive(Debug, Clone)]
pub(crate) struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|error| Problem::new(ProblemKind::InvalidParameter, error.body_text()))
    }
}

/// A read model's answer as JSON, or the problem its failure is.
/// A `cursor` query parameter read with `parse` (the cursor's own reader): `None` without one,
/// 400 `cursor` for text no page of this API gave.
pub(crate) fn cursor_param<T>(
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, Problem> {
    text.map(|text| {
        parse(text).ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidParameter,
                "cursor is not one this API gave",
            )
            .with_code("cursor")
        })
    })
    .transpose()
}

/// A cursor-paged list's `limit` (default 100, at most 1,000) and `cursor` (read by `parse`),
/// each refused with its own problem.
pub(crate) fn page_params<T>(
    asked: Option<usize>,
    cursor: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<(usize, Option<T>), Problem> {
    Ok((limit(asked, 100, 1_000)?, cursor_param(cursor, parse)?))
}

/// The first `limit` of `items` (read `limit + 1` at most) and, when more were read, the
/// cursor of the last one kept.
pub(crate) fn cut_page<T>(
    mut items: Vec<T>,
    limit: usize,
    cursor_of: impl FnOnce(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(cursor_of);
        (items, next)
    } else {
        (items, None)
    }
}

fn answer<T: Serialize>(result: Result<T, StorageError>) -> Response {
    match result {
        Ok(rows) => Json(rows).into_response(),
        Err(error) => storage_problem(&error).into_response(),
    }
}

/// A read model's answer to "the one with this id": the document as JSON, `404` naming
/// `what` and `id` when there is none, or the storage's problem.
pub(crate) fn found_or_not_found<T: Serialize>(
    answer: Result<Option<T>, StorageError>,
    what: &str,
    id: Uuid,
) -> Response {
    match answer {
        Ok(Some(found)) => Json(found).into_response(),
        Ok(None) => {
            Problem::new(ProblemKind::NotFound, format!("no such {what}: {id}")).into_response()
        }
        Err(error) => storage_problem(&error).into_response(),
    }
}

/// A read model's answer as JSON, or the storage's problem.
pub(crate) fn answered<T: Serialize>(answer: Result<T, StorageError>) -> Response {
    match answer {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => storage_problem(&error).into_response(),
    }
}

pub(crate) fn storage_problem(error: &StorageError) -> Problem {
    if error.is_retryable() {
        Problem::new(ProblemKind::Unavailable, error.to_string())
    } else {
        tracing::error!(%error, "a read model failed");
        Problem::new(
            ProblemKind::Internal,
            "a read model failed; see the server's log",
        )
    }
}

fn store_problem(error: &crm_eventstore::StoreError) -> Problem {
    if error.is_retryable() {
        Problem::new(ProblemKind::Unavailable, error.to_string())
    } else {
        tracing::error!(%error, "the store failed");
        Problem::new(
            ProblemKind::Internal,
            "the store failed; see the server's log",
        )
    }
}

pub(crate) fn work_problem(error: &crate::uow::WorkError) -> Problem {
    if error.is_retryable() {
        Problem::new(ProblemKind::Unavailable, error.to_string())
    } else {
        tracing::error!(%error, "the application's tables failed");
        Problem::new(ProblemKind::Internal, "the server failed; see its log")
    }
}

pub(crate) fn limit(asked: Option<usize>, default: usize, max: usize) -> Result<usize, Problem> {
    match asked {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(Problem::new(
            ProblemKind::InvalidParameter,
            format!("limit must be from 1 to {max}"),
        )
        .with_code("limit")),
    }
}

// ---- health ----

pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "up" }))
}

pub(crate) async fn ready<B: Backend>(State(app): AppState<B>) -> Response {
    let mut problems = Vec::new();
    match (
        crm_eventstore::TenantId::new("readiness"),
        StreamId::new("readiness-probe"),
    ) {
        (Ok(tenant), Ok(stream)) => {
            if let Err(error) = app.store.stream_version(&tenant, &stream).await {
                problems.push(format!("store: {error}"));
            }
        }
        _ => problems.push("the readiness probe's names are invalid".to_owned()),
    }
    for watch in &app.projections {
        let status = watch.status.borrow().clone();
        if !status.leased {
            // Another process holds this projection's lease and does its work.
            continue;
        }
        if status.checkpoint.is_none() && !status.caught_up {
            problems.push(format!(
                "{} of {}: not caught up yet",
                watch.model, watch.tenant
            ));
        }
        if let Some(error) = status.last_error {
            problems.push(format!("{} of {}: {error}", watch.model, watch.tenant));
        }
        if let Some(halted) = status.halted_at {
            problems.push(format!(
                "{} of {}: halted, {halted} (`crm projections park --tenant {} {}` moves it on)",
                watch.model, watch.tenant, watch.tenant, watch.model
            ));
        }
    }
    if problems.is_empty() {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready", "problems": problems })),
        )
            .into_response()
    }
}

pub(crate) async fn metrics<B: Backend>(State(app): AppState<B>) -> Response {
    let text = app.metrics.render(&app).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub(crate) async fn openapi_document() -> Response {
    Json(super::openapi::openapi()).into_response()
}

// ---- commands ----

pub(crate) async fn lead_command<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Id(id): Id,
    headers: HeaderMap,
    Body(request): Body<LeadRequest>,
) -> Response {
    let (command, custom, needs) = commands::lead_command(request);
    commands::execute_with_custom::<Lead>(
        &app,
        &principal,
        &headers,
        id,
        (command, custom),
        (
            EntityKind::Lead,
            crm_domain::lead::LeadCommand::SetCustomFields,
        ),
        needs,
        None,
    )
    .await
}

pub(crate) async fn contact_command<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Id(id): Id,
    headers: HeaderMap,
    Body(request): Body<ContactRequest>,
) -> Response {
    if let Some(system) = request.source_system()
        && let Err(problem) = super::sync::speaks_for(&app, &principal, system)
    {
        return problem.into_response();
    }
    let planned = commands::contact_command(request, id, app.service.clock().now())
        .and_then(|planned| governed(&app.settings.sync, planned));
    match planned {
        Ok(((command, custom, needs), source)) => {
            commands::execute_with_custom::<Contact>(
                &app,
                &principal,
                &headers,
                id,
                (command, custom),
                (
                    EntityKind::Contact,
                    crm_domain::contact::ContactCommand::SetCustomFields,
                ),
                needs,
                source,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// A contact command under the data dictionary, when one governs fields: a details change is
/// judged field by field ([`ContactCommand::Sync`]), a creation refused where it sets a field
/// another system owns.
fn governed(
    rules: &crm_domain::sync::SyncRules,
    planned: (commands::Planned<ContactCommand>, Option<Source>),
) -> Result<(commands::Planned<ContactCommand>, Option<Source>), Problem> {
    if rules.is_empty() {
        return Ok(planned);
    }
    let ((command, custom, needs), source) = planned;
    let command = match command {
        Some(ContactCommand::ChangeDetails {
            changes,
            provenance,
        }) => Some(ContactCommand::Sync {
            changes,
            provenance,
            rules: rules.contact().clone(),
        }),
        Some(ContactCommand::Create {
            contact_id,
            provenance,
            changes,
        }) => {
            let refusals =
                crm_domain::sync::refusals_of_new(rules.contact(), &changes, &provenance);
            if !refusals.is_empty() {
                return Err(Problem::of_sync_refusals(&SyncRefusals(refusals)));
            }
            Some(ContactCommand::Create {
                contact_id,
                provenance,
                changes,
            })
        }
        other => other,
    };
    Ok(((command, custom, needs), source))
}

/// A command on a deal or a ticket under the data dictionary: refused where it sets a field
/// another system owns, or (for a token without `write`) one its own system does not.
fn owned<B: Backend, C, F: crm_domain::sync::OwnedField>(
    app: &App<B>,
    principal: &Principal,
    write: super::auth::Permission,
    planned: commands::Planned<C>,
    fields: impl Fn(&C) -> Vec<F>,
) -> Result<commands::Planned<C>, Problem> {
    let set = planned.0.as_ref().map(&fields).unwrap_or_default();
    super::sync::owns(app, principal, write, &set, planned.1.is_some())?;
    Ok(planned)
}

pub(crate) async fn opportunity_command<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Id(id): Id,
    headers: HeaderMap,
    Body(request): Body<OpportunityRequest>,
) -> Response {
    let planned =
        commands::opportunity_command(request, id, &app.settings.pipelines).and_then(|planned| {
            owned(
                &app,
                &principal,
                super::auth::Permission::WriteDeals,
                planned,
                crm_domain::opportunity::OpportunityCommand::fields,
            )
        });
    match planned {
        Ok((command, custom, needs)) => {
            commands::execute_with_custom::<Opportunity>(
                &app,
                &principal,
                &headers,
                id,
                (command, custom),
                (
                    EntityKind::Opportunity,
                    crm_domain::opportunity::OpportunityCommand::SetCustomFields,
                ),
                needs,
                None,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

pub(crate) async fn ticket_command<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Id(id): Id,
    headers: HeaderMap,
    Body(request): Body<TicketRequest>,
) -> Response {
    let planned = commands::ticket_command(request, id).and_then(|planned| {
        owned(
            &app,
            &principal,
            super::auth::Permission::WriteTickets,
            planned,
            crm_domain::ticket::TicketCommand::fields,
        )
    });
    match planned {
        Ok((command, custom, needs)) => {
            commands::execute_with_custom::<Ticket>(
                &app,
                &principal,
                &headers,
                id,
                (command, custom),
                (
                    EntityKind::Ticket,
                    crm_domain::ticket::TicketCommand::SetCustomFields,
                ),
                needs,
                None,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// A command to a rep, team, territory map or forecast: requests decided from themselves.
pub(crate) async fn client_command<B: Backend, R: ClientCommand>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Id(id): Id,
    headers: HeaderMap,
    Body(request): Body<R>,
) -> Response {
    let needs = request.needs_if_match();
    execute::<R::Aggregate>(
        &app,
        &principal,
        &headers,
        id,
        request.into_command(id),
        needs,
    )
    .await
}

/// An erasure request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequestBody {
    /// `data_subject`, `authorised_representative`, `supervisory_authority` or `controller`.
    #[schema(value_type = String)]
    pub requested_by: crm_domain::contact::ErasureRequester,
    /// `no_longer_necessary`, `consent_withdrawn`, `objection`, `unlawful_processing`,
    /// `legal_obligation` or `childs_data`.
    #[schema(value_type = String)]
    pub legal_basis: crm_domain::contact::ErasureGround,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErasureResponse {
    /// The contacts erased: the one asked for and every contact that is the same person.
    pub contacts: Vec<Uuid>,
    /// The leads converted into them, whose personal data was shredded too.
    pub leads: Vec<Uuid>,
    /// How many keys were shredded.
    pub keys_shredded: usize,
}

pub(crate) async fn subject_access<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let now = app.service.clock().now();
    match crate::subject_access::subject_access(&app.service, &principal.tenant, ContactId(id), now)
        .await
    {
        Ok(export) => Json(export).into_response(),
        Err(crate::subject_access::SubjectAccessError::NotFound(_)) => {
            Problem::new(ProblemKind::NotFound, format!("no such contact: {id}")).into_response()
        }
        Err(error) if error.is_retryable() => {
            Problem::new(ProblemKind::Unavailable, error.to_string()).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "a subject access export failed");
            Problem::new(
                ProblemKind::Unreadable,
                format!("the person's records cannot all be read: {error}"),
            )
            .into_response()
        }
    }
}

pub(crate) async fn erasure<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Id(id): Id,
    headers: HeaderMap,
    Body(request): Body<ErasureRequestBody>,
) -> Response {
    let key = match super::body::idempotency_key(&headers) {
        Ok(key) => key,
        Err(problem) => return problem.into_response(),
    };
    // The same key names the same erasure: its commands' ids derive from it, so a retry
    // records nothing twice and finishes what a failed attempt left.
    let mut meta = crate::CommandMeta::by(principal.actor.clone());
    if let Some(key) = key {
        meta = meta.with_command_id(crate::derive_id(
            crate::http::ERASURE_NAMESPACE,
            &format!("{}/{key}", principal.key_prefix()),
        ));
    }
    let request = crm_domain::contact::ErasureRequest {
        requested_by: request.requested_by,
        legal_basis: request.legal_basis,
        requested_at: app.service.clock().now(),
    };
    match crate::erase_person(
        &app.service,
        &app.inbox,
        &principal.tenant,
        ContactId(id),
        request,
        &meta,
    )
    .await
    {
        Ok(report) => Json(ErasureResponse {
            contacts: report.contacts.iter().map(|contact| contact.0).collect(),
            leads: report.leads.iter().map(|lead| lead.0).collect(),
            keys_shredded: report.shredded.len(),
        })
        .into_response(),
        Err(crate::ErasureError::Contact { source, .. }) => {
            if matches!(
                source.rejection(),
                Some(crm_domain::contact::ContactError::NotFound)
            ) {
                Problem::new(ProblemKind::NotFound, format!("no such contact: {id}"))
                    .into_response()
            } else {
                Problem::of_command(&source).into_response()
            }
        }
        Err(
            error @ (crate::ErasureError::Shredding { .. }
            | crate::ErasureError::Suppression { .. }),
        ) => {
            tracing::error!(%error, "an erasure could not shred a key");
            Problem::new(
                ProblemKind::Unavailable,
                format!("{error}; send the same request again to finish the erasure"),
            )
            .into_response()
        }
    }
}

/// The feed's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsParams {
    after: Option<String>,
}

/// One event of the feed: what changed, never its content.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedEvent {
    /// The record's stream (`contact-<id>`).
    pub stream: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The record's version after it.
    pub version: u64,
    /// Its position (also the SSE id, to resume from).
    pub position: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

fn parse_position(text: &str) -> Option<crm_eventstore::GlobalPosition> {
    let (transaction, position) = text.split_once('/')?;
    Some(crm_eventstore::GlobalPosition {
        transaction: transaction.parse().ok()?,
        position: position.parse().ok()?,
    })
}

pub(crate) async fn events<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    headers: HeaderMap,
    params: Result<Params<EventsParams>, Problem>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or(params.after);
    let Some(from) = resume.as_deref().and_then(parse_position) else {
        return Problem::new(
            ProblemKind::InvalidParameter,
            "name where to follow from: Last-Event-ID or after=<transaction>/<position> (0/0 for the whole history)",
        )
        .with_code("after")
        .into_response();
    };
    let subscription = app.store.inner().subscribe(
        &principal.tenant,
        from,
        crm_eventstore::SubscriptionOptions::default(),
    );
    let closing = app.closing.subscribe();
    let stream = futures_util::stream::unfold(
        (subscription, closing),
        |(mut subscription, mut closing)| async move {
            if *closing.borrow() {
                return None;
            }
            let next = tokio::select! {
                next = subscription.next() => next,
                _ = closing.changed() => return None,
            };
            match next {
                Ok(event) => {
                    let feed = FeedEvent {
                        stream: event.stream.as_str().to_owned(),
                        event_type: event.event_type,
                        version: event.version,
                        position: event.position.to_string(),
                        recorded_at: event.recorded_at,
                    };
                    let sse = Event::default()
                        .id(feed.position.clone())
                        .event("recorded")
                        .json_data(&feed)
                        .unwrap_or_else(|_| Event::default().comment("unencodable"));
                    Some((
                        Ok::<_, std::convert::Infallible>(sse),
                        (subscription, closing),
                    ))
                }
                Err(error) => {
                    tracing::warn!(%error, "an event feed ended");
                    None
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

// ---- records ----

/// A record as its own stream tells it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordResponse {
    /// The record's id.
    pub id: Uuid,
    /// Its version (also the `ETag`): send it back as `If-Match`.
    pub version: u64,
    /// The record, as the Customer 360 keeps it.
    #[schema(value_type = Object)]
    pub record: CustomerDoc,
}

pub(crate) async fn record<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
    kind: RecordKind,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match read_record(&app, &principal, id, kind).await {
        Ok(Some(body)) => {
            let tag = etag(body.version);
            with_etag(Json(body).into_response(), &tag)
        }
        Ok(None) => {
            Problem::new(ProblemKind::NotFound, format!("no such record: {id}")).into_response()
        }
        Err(problem) => problem.into_response(),
    }
}

async fn read_record<B: Backend>(
    app: &App<B>,
    principal: &Principal,
    id: Uuid,
    kind: RecordKind,
) -> Result<Option<RecordResponse>, Problem> {
    let stream = kind.stream(id)?;
    // The version is read first: the record folded after it is at least as new, so a client
    // sending this version back can only be told it is stale, never act on what it did not see.
    let Some(version) = app
        .store
        .stream_version(&principal.tenant, &stream)
        .await
        .map_err(|error| store_problem(&error))?
    else {
        return Ok(None);
    };
    let folded = fold_streams(
        &app.store,
        &principal.tenant,
        crm_projections::customer360::Customer360Model,
        &[StreamRef {
            kind: kind.aggregate(),
            id,
        }],
        None,
    )
    .await
    .map_err(|error| {
        tracing::error!(%error, "a record could not be folded");
        Problem::new(ProblemKind::Unreadable, error.to_string())
    })?;
    Ok(folded
        .get(&principal.tenant, &kind.key(id))
        .map(|doc| RecordResponse {
            id,
            version,
            record: doc.clone(),
        }))
}

/// One event of a record's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// The record's version after it.
    pub version: u64,
    /// Its position in the tenant's order.
    pub position: String,
    /// Its id.
    pub id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who, why and from where: actor, correlation, causation, source system.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// What it says (personal fields of an erased person read as erased).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

pub(crate) async fn history<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
    kind: RecordKind,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let stream = match kind.stream(id) {
        Ok(stream) => stream,
        Err(problem) => return problem.into_response(),
    };
    let events = match app
        .store
        .read_stream(&principal.tenant, &stream, StreamRead::forward())
        .await
    {
        Ok(events) => events,
        Err(error) => return store_problem(&error).into_response(),
    };
    if events.is_empty() {
        return Problem::new(ProblemKind::NotFound, format!("no such record: {id}"))
            .into_response();
    }
    let entries: Vec<HistoryEntry> = events
        .into_iter()
        .map(|event| HistoryEntry {
            version: event.version,
            position: event.position.to_string(),
            id: event.id,
            event_type: event.event_type,
            recorded_at: event.recorded_at,
            metadata: serde_json::to_value(&event.metadata).unwrap_or_default(),
            payload: event.payload,
        })
        .collect();
    Json(entries).into_response()
}

// ---- customers ----

pub(crate) async fn customer<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let query = Customer360Query {
        contact: ContactId(id),
    };
    let answer = app.reads.customers.lookup(&principal.tenant, &query).await;
    found_or_not_found(answer, "customer", id)
}

/// The timeline's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimelineParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// One row of a timeline: a step of a record's own history (an `entry` of the Customer 360)
/// or a call, email, meeting or note logged on it (an `activity`), with the record it is on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineRow {
    /// The kind of record (contact, lead, opportunity, ticket).
    #[schema(value_type = String)]
    pub record_kind: AggregateKind,
    /// The record's id.
    pub record: Uuid,
    /// A step of the record's history, for such rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub entry: Option<TimelineEntry>,
    /// An activity logged on the record (its personal fields stay in its history), for such
    /// rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub activity: Option<TimelineLine>,
}

/// A page of a timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineResponse {
    /// The rows, newest first.
    pub items: Vec<TimelineRow>,
    /// The cursor of the next page, absent on the last one.
    pub next: Option<String>,
}

fn timeline_page(
    id: Result<Id, Problem>,
    params: Result<Params<TimelineParams>, Problem>,
) -> Result<(Uuid, Option<TimelineCursor>, usize), Problem> {
    let Id(id) = id?;
    let Params(params) = params?;
    let limit = limit(params.limit, 50, 500)?;
    let before = cursor_param(params.cursor.as_deref(), TimelineCursor::parse)?;
    Ok((id, before, limit))
}

/// A page of the combined timeline of `records`, newest first: for each record, the first
/// `limit + 1` rows past the cursor of its own timeline (Customer 360 entries) and of its
/// activities (engagements), merged. Both sort by the same text (the instant counted down,
/// then a unique tail), so one cursor continues both, and every row of the true page is
/// among the rows read. An activity logged on several of the records is shown once.
async fn merged_timeline<B: Backend>(
    app: &App<B>,
    tenant: &TenantId,
    records: &[(AggregateKind, Uuid)],
    before: Option<TimelineCursor>,
    limit: usize,
) -> Result<TimelineResponse, StorageError> {
    let mut rows: Vec<(String, TimelineRow)> = Vec::new();
    for &(record_kind, record) in records {
        let own = RecordTimeline {
            record,
            before: before.clone(),
            limit: limit.saturating_add(1),
        };
        for item in app.reads.customers.scan(tenant, &own).await?.items {
            rows.push((
                item.entry.newest(),
                TimelineRow {
                    record_kind,
                    record,
                    entry: Some(item.entry),
                    activity: None,
                },
            ));
        }
        let logged = RecordActivities {
            record,
            after: before
                .as_ref()
                .map(|cursor| ActivityCursor(cursor.0.clone())),
            limit: limit.saturating_add(1),
        };
        for line in app.reads.engagements.scan(tenant, &logged).await?.items {
            rows.push((
                line.newest(),
                TimelineRow {
                    record_kind,
                    record,
                    entry: None,
                    activity: Some(line),
                },
            ));
        }
    }
    rows.sort_by(|(left, _), (right, _)| left.cmp(right));
    // An activity's rows on several records share its text: keep the first.
    rows.dedup_by(|(later, _), (earlier, _)| later == earlier);
    let next = (rows.len() > limit)
        .then(|| rows.get(limit - 1).map(|(newest, _)| newest.clone()))
        .flatten();
    rows.truncate(limit);
    Ok(TimelineResponse {
        items: rows.into_iter().map(|(_, row)| row).collect(),
        next,
    })
}

fn timeline_response(page: Result<TimelineResponse, StorageError>) -> Response {
    match page {
        Ok(page) => Json(page).into_response(),
        Err(error) => storage_problem(&error).into_response(),
    }
}

/// `GET /v1/customers/{id}/timeline`: the timeline of every contact merged into the customer
/// and of their leads, deals and tickets, with the activities logged on them.
pub(crate) async fn timeline<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
    params: Result<Params<TimelineParams>, Problem>,
) -> Response {
    let (id, before, limit) = match timeline_page(id, params) {
        Ok(page) => page,
        Err(problem) => return problem.into_response(),
    };
    let query = CustomerRecords {
        contact: ContactId(id),
    };
    let page = match app.reads.customers.lookup(&principal.tenant, &query).await {
        Ok(records) => merged_timeline(&app, &principal.tenant, &records, before, limit).await,
        Err(error) => Err(error),
    };
    timeline_response(page)
}

/// `GET /v1/{records}/{id}/timeline`: one record's own timeline with the activities logged on
/// it. A record nothing is known of has an empty one (the read models may not have caught up
/// with it yet).
pub(crate) async fn record_timeline<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
    params: Result<Params<TimelineParams>, Problem>,
    kind: RecordKind,
) -> Response {
    let (record, before, limit) = match timeline_page(id, params) {
        Ok(page) => page,
        Err(problem) => return problem.into_response(),
    };
    let records = [(kind.aggregate(), record)];
    timeline_response(merged_timeline(&app, &principal.tenant, &records, before, limit).await)
}

/// The search's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    email: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    country: Option<String>,
    limit: Option<usize>,
}

/// A customer found by a search.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    /// The contact.
    pub contact: Uuid,
    /// How likely it is the person searched for (0 to 1).
    pub match_probability: f64,
    /// Each field's evidence.
    #[schema(value_type = Object)]
    pub assessment: LinkageAssessment,
}

pub(crate) async fn search<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<SearchParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let keep = match limit(params.limit, 10, 100) {
        Ok(keep) => keep,
        Err(problem) => return problem.into_response(),
    };
    if params.email.is_none() && params.phone.is_none() && params.name.is_none() {
        return Problem::new(
            ProblemKind::InvalidParameter,
            "search by email, phone or name (at least one)",
        )
        .with_code("search")
        .into_response();
    }
    let (given_name, family_name) = match params.name.as_deref().map(str::trim) {
        Some(name) => match name.split_once(char::is_whitespace) {
            Some((given, family)) => (Some(given.to_owned()), Some(family.trim().to_owned())),
            None => (None, Some(name.to_owned())),
        },
        None => (None, None),
    };
    let details = PersonDetails {
        given_name,
        family_name,
        country: params.country.clone(),
        emails: params.email.into_iter().collect(),
        phones: params.phone.into_iter().collect(),
        ..PersonDetails::default()
    };
    let region = params
        .country
        .as_deref()
        .and_then(|country| CountryCode::new(country).ok())
        .or_else(|| CountryCode::new("US").ok());
    let Some(region) = region else {
        return Problem::new(ProblemKind::Internal, "no default region").into_response();
    };
    let (record, unreadable) = PersonRecord::normalize(&details, region);
    if let Some(field) = unreadable.first() {
        return Problem::new(
            ProblemKind::InvalidParameter,
            format!("{}: {}", field.field, field.reason),
        )
        .with_code(field.field)
        .into_response();
    }
    let index = IdentityIndexModel::default();
    let model = LinkageModel::default();
    let ranked = match app
        .reads
        .identity
        .lookup(
            &principal.tenant,
            &BestMatches::of(&index, &record, 500, &model, keep),
        )
        .await
    {
        Ok(ranked) => ranked,
        Err(error) => return storage_problem(&error).into_response(),
    };
    let hits: Vec<SearchHit> = ranked
        .into_iter()
        .map(|ranked| SearchHit {
            contact: ranked.contact.0,
            match_probability: ranked.assessment.match_probability,
            assessment: ranked.assessment,
        })
        .collect();
    Json(hits).into_response()
}

/// The duplicate review queue's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DuplicatesParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A page of the duplicate review queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicatesPage {
    /// Pairs waiting for a person, highest score first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<crm_projections::duplicates::query::Candidate>,
    /// The cursor of the next page, absent on the last one.
    pub next: Option<String>,
}

pub(crate) async fn duplicates<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<DuplicatesParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let (limit, after) =
        match page_params(params.limit, params.cursor.as_deref(), ReviewCursor::parse) {
            Ok(page) => page,
            Err(problem) => return problem.into_response(),
        };
    let query = ReviewQueue {
        limit: limit.saturating_add(1),
        after,
    };
    match app.reads.duplicates.scan(&principal.tenant, &query).await {
        Ok(items) => {
            let (items, next) = cut_page(items, limit, |last| ReviewCursor::after(last).to_text());
            Json(DuplicatesPage { items, next }).into_response()
        }
        Err(error) => storage_problem(&error).into_response(),
    }
}

/// The pipeline's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PipelineParams {
    owner: Option<Uuid>,
}

pub(crate) async fn pipeline<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<PipelineParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    answer(
        app.reads
            .pipeline
            .scan(
                &principal.tenant,
                &ByStageAndOwner {
                    owner: params.owner.map(UserId),
                },
            )
            .await,
    )
}

/// The forecast's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForecastParams {
    period: Option<PeriodKind>,
    from: NaiveDate,
    to: NaiveDate,
    owner: Option<Uuid>,
}

pub(crate) async fn forecast<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<ForecastParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    if params.from >= params.to || (params.to - params.from).num_days() > 3 * 366 {
        return Problem::new(
            ProblemKind::InvalidParameter,
            "from must come before to, at most three years apart",
        )
        .with_code("from")
        .into_response();
    }
    let query = PipelineForecast {
        period: params.period.unwrap_or(PeriodKind::Quarter),
        from: params.from,
        to: params.to,
        owner: params.owner.map(UserId),
    };
    answer(app.reads.pipeline.scan(&principal.tenant, &query).await)
}

/// An SLA list's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlaListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A page of an SLA list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaListPage {
    /// Leads and tickets with their clocks, earliest deadline first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<crm_projections::sla::query::ItemStatus>,
    /// The cursor of the next page, absent on the last one.
    pub next: Option<String>,
}

pub(crate) async fn sla_at_risk<B: Backend>(
    state: AppState<B>,
    caller: Caller,
    params: Result<Params<SlaListParams>, Problem>,
) -> Response {
    sla_list(state, caller, params, false).await
}

pub(crate) async fn sla_breaches<B: Backend>(
    state: AppState<B>,
    caller: Caller,
    params: Result<Params<SlaListParams>, Problem>,
) -> Response {
    sla_list(state, caller, params, true).await
}

/// A page of the breached items, or of those at risk, as of now.
async fn sla_list<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<SlaListParams>, Problem>,
    breached: bool,
) -> Response {
    let (limit, after) = match params.and_then(|Params(params)| {
        page_params(params.limit, params.cursor.as_deref(), SlaCursor::parse)
    }) {
        Ok(page) => page,
        Err(problem) => return problem.into_response(),
    };
    let (config, now) = (&app.settings.sla, app.service.clock().now());
    let page = if breached {
        let query = BreachList {
            config,
            now,
            limit,
            after,
        };
        app.reads.sla.scan(&principal.tenant, &query).await
    } else {
        let query = AtRiskList {
            config,
            now,
            limit,
            after,
        };
        app.reads.sla.scan(&principal.tenant, &query).await
    };
    match page {
        Ok(page) => Json(SlaListPage {
            items: page.items,
            next: page.next.map(|cursor| cursor.to_text()),
        })
        .into_response(),
        Err(error) => storage_problem(&error).into_response(),
    }
}

/// The attainment's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttainmentParams {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: Option<String>,
}

pub(crate) async fn sla_attainment<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<AttainmentParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let by = match params.by.as_deref() {
        None | Some("team") => AttainmentBy::Team,
        Some("agent") => AttainmentBy::Agent,
        Some("priority") => AttainmentBy::Priority,
        Some(other) => {
            return Problem::new(
                ProblemKind::InvalidParameter,
                format!("by {other:?}: one of team, agent, priority"),
            )
            .with_code("by")
            .into_response();
        }
    };
    if params.from >= params.to {
        return Problem::new(ProblemKind::InvalidParameter, "from must come before to")
            .with_code("from")
            .into_response();
    }
    let query = Attainment {
        config: &app.settings.sla,
        from: params.from,
        to: params.to,
        now: app.service.clock().now(),
        by,
    };
    answer(app.reads.sla.scan(&principal.tenant, &query).await)
}

// ---- intake ----

/// One lead delivery.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadDeliveryRequest {
    /// The sender's id of the event: a redelivery carries the same one and is kept once.
    #[schema(min_length = 1, max_length = 128)]
    pub external_id: String,
    /// The payload as the sender made it.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// A batch of lead deliveries.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadBatchRequest {
    /// The deliveries.
    pub deliveries: Vec<LeadDeliveryRequest>,
}

/// What the inbox made of a delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryReceipt {
    /// The lead's id.
    pub lead: Uuid,
    /// `accepted`, or `duplicate` for a redelivery kept before.
    pub outcome: String,
}

fn source_of(
    source: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, Problem> {
    source
        .map(|Path(source)| source)
        .map_err(|error| Problem::new(ProblemKind::InvalidParameter, error.body_text()))
}

async fn keep<B: Backend>(
    app: &App<B>,
    principal: &Principal,
    source: &str,
    deliveries: Vec<LeadDeliveryRequest>,
) -> Result<Vec<DeliveryReceipt>, Problem> {
    let deliveries: Vec<LeadDelivery> = deliveries
        .into_iter()
        .map(|delivery| LeadDelivery {
            source: source.to_owned(),
            external_id: delivery.external_id,
            payload: delivery.payload,
        })
        .collect();
    let submitted = crate::intake::submit(
        &app.inbox,
        &principal.tenant,
        &deliveries,
        app.service.clock().now(),
    )
    .await
    .map_err(|error| match error {
        IntakeError::Invalid { reason } => Problem::new(ProblemKind::DeliveryRefused, reason),
        IntakeError::Work(error) => work_problem(&error),
    })?;
    Ok(submitted
        .into_iter()
        .map(|submitted| match submitted {
            Submitted::Accepted { id } => DeliveryReceipt {
                lead: id,
                outcome: "accepted".into(),
            },
            Submitted::Duplicate { id } => DeliveryReceipt {
                lead: id,
                outcome: "duplicate".into(),
            },
        })
        .collect())
}

pub(crate) async fn intake_one<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    source: Result<Path<String>, axum::extract::rejection::PathRejection>,
    Body(delivery): Body<LeadDeliveryRequest>,
) -> Response {
    let source = match source_of(source) {
        Ok(source) => source,
        Err(problem) => return problem.into_response(),
    };
    match keep(&app, &principal, &source, vec![delivery]).await {
        Ok(mut receipts) => match receipts.pop() {
            Some(receipt) => (StatusCode::ACCEPTED, Json(receipt)).into_response(),
            None => {
                Problem::new(ProblemKind::Internal, "the inbox answered nothing").into_response()
            }
        },
        Err(problem) => problem.into_response(),
    }
}

pub(crate) async fn intake_batch<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    source: Result<Path<String>, axum::extract::rejection::PathRejection>,
    Body(batch): Body<LeadBatchRequest>,
) -> Response {
    let source = match source_of(source) {
        Ok(source) => source,
        Err(problem) => return problem.into_response(),
    };
    if batch.deliveries.is_empty() || batch.deliveries.len() > app.settings.max_batch {
        return Problem::new(
            ProblemKind::InvalidBody,
            format!("a batch holds 1 to {} deliveries", app.settings.max_batch),
        )
        .with_code("deliveries")
        .into_response();
    }
    match keep(&app, &principal, &source, batch.deliveries).await {
        Ok(receipts) => (StatusCode::ACCEPTED, Json(receipts)).into_response(),
        Err(problem) => problem.into_response(),
    }
}

// ---- operations ----

/// How a queue stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueHealth {
    /// Items waiting.
    pub depth: u64,
    /// How long the oldest has waited, in seconds.
    pub oldest_age_seconds: Option<i64>,
    /// Items failing (inbox) or parked (outbox): they wait for an operator.
    pub stuck: u64,
}

impl From<crate::intake::InboxHealth> for QueueHealth {
    fn from(health: crate::intake::InboxHealth) -> Self {
        Self {
            depth: health.depth,
            oldest_age_seconds: health.oldest_age.map(|age| age.num_seconds()),
            stuck: health.failing,
        }
    }
}

impl From<crate::OutboxHealth> for QueueHealth {
    fn from(health: crate::OutboxHealth) -> Self {
        Self {
            depth: health.undelivered,
            oldest_age_seconds: health.oldest_undelivered_age.map(|age| age.num_seconds()),
            stuck: health.parked,
        }
    }
}

/// A queue's health as JSON, or the problem its failure is.
fn queue_answer<H: Into<QueueHealth>>(result: Result<H, crate::uow::WorkError>) -> Response {
    match result {
        Ok(health) => Json(health.into()).into_response(),
        Err(error) => work_problem(&error).into_response(),
    }
}

pub(crate) async fn inbox_health<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
) -> Response {
    use crate::intake::Inbox as _;
    let now = app.service.clock().now();
    queue_answer(app.inbox.health(&principal.tenant, now).await)
}

pub(crate) async fn outbox_health<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
) -> Response {
    let now = app.service.clock().now();
    queue_answer(
        app.service
            .work()
            .outbox_health(&principal.tenant, now)
            .await,
    )
}
