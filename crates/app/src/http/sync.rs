//! Field-level sync over HTTP: `POST /v1/contacts/{id}/sync` (a connected system's update,
//! judged field by field under the data dictionary, see `crm_domain::sync`),
//! `GET /v1/sync/conflicts` (the values waiting for review) and `GET /v1/sync/dictionary`
//! (the rules in force). A conflict is decided with the contact command
//! `resolve_field_conflict`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use crm_domain::contact::{Contact, ContactCommand, ExternalId};
use crm_domain::sync::{DictionaryEntry, OwnedField, SyncRefusals};
use crm_eventstore::Source;
use crm_projections::DocumentStore;
use crm_projections::external_ids::{ContactsByExternalId, ExternalMatch};
use crm_projections::sync_conflicts::{ConflictQueue, QueueCursor, WaitingFields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Permission, Role};
use super::body::Body;
use super::commands::{self, ContactDetails};
use super::problem::{Problem, ProblemKind};
use super::reads::{Id, Params, page_params, storage_problem};
use super::{App, Principal};
use crate::backend::Backend;
use crate::uow::UnitOfWork as _;

type AppState<B> = State<Arc<App<B>>>;
type Caller = Extension<Principal>;

/// Refuses a request naming a source system the data dictionary names, unless the caller is
/// that system's own integration token or an admin: a system the dictionary trusts is spoken
/// for by itself alone (otherwise any token could write a field it owns by naming it). The
/// CRM's own source, [`API_SOURCE`](commands::API_SOURCE), is every user's, never an
/// integration's.
pub(crate) fn speaks_for<B: Backend>(
    app: &App<B>,
    principal: &Principal,
    system: &str,
) -> Result<(), Problem> {
    let own = principal.role == Role::Admin
        || (principal.role == Role::Integration && principal.name == system)
        || (principal.role != Role::Integration && system == commands::API_SOURCE);
    if own || !app.settings.sync.names_system(system) {
        return Ok(());
    }
    Err(Problem::new(
        ProblemKind::Forbidden,
        format!(
            "source_system {system} is a system of the data dictionary: only its own \
             integration token (named {system}) may speak for it"
        ),
    )
    .with_code("source-not-yours"))
}

/// Refuses a command on an account, a deal or a ticket that sets a field the data dictionary
/// gives to another system (409 `sync-refused`, every such field in `errors`). An integration
/// token acts as its own system; anyone else as [`API_SOURCE`](commands::API_SOURCE), the
/// source of a request that names none.
///
/// A token without `write` — an integration let in only because the dictionary gives its
/// system fields of the entity — may send just the commands that set its own fields, and no
/// custom fields (403 `not-its-field` otherwise).
pub(crate) fn owns<B: Backend, F: OwnedField>(
    app: &App<B>,
    principal: &Principal,
    write: Permission,
    fields: &[F],
    custom_fields: bool,
) -> Result<(), Problem> {
    let rules = &app.settings.sync;
    let source = if principal.role == Role::Integration {
        principal.name.as_str()
    } else {
        commands::API_SOURCE
    };
    let refusals = rules.refusals_of(fields, source);
    if !refusals.is_empty() {
        return Err(Problem::of_sync_refusals(&SyncRefusals(refusals)));
    }
    let own_fields_only = !fields.is_empty()
        && !custom_fields
        && fields
            .iter()
            .all(|field| rules.owner_of(*field) == Some(source));
    if principal.role.allows(write) || own_fields_only {
        return Ok(());
    }
    Err(Problem::new(
        ProblemKind::Forbidden,
        format!(
            "{} may set only the {} fields the data dictionary gives it, and this command \
             sets others (or none of them)",
            principal.name,
            F::ENTITY
        ),
    )
    .with_code("not-its-field"))
}

/// `POST /v1/contacts/{id}/sync`: the body is a details change; the source is the token's
/// name (an integration token may name no other), and `source_time` is required.
pub(crate) async fn sync<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    id: Result<Id, Problem>,
    headers: HeaderMap,
    Body(mut details): Body<ContactDetails>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    if details.custom_fields.is_some() {
        return Problem::new(
            ProblemKind::InvalidBody,
            "custom_fields are not governed by the data dictionary: send them with the \
             set_custom_fields command",
        )
        .with_code("custom_fields")
        .into_response();
    }
    let Some(source_time) = details.source_time else {
        return Problem::new(
            ProblemKind::InvalidBody,
            "source_time: a sync names when the source says the values changed",
        )
        .with_code("source_time")
        .into_response();
    };
    let system = details
        .source_system
        .get_or_insert_with(|| principal.name.clone())
        .clone();
    if principal.role == Role::Integration && system != principal.name {
        return Problem::new(
            ProblemKind::Forbidden,
            format!(
                "an integration token speaks for its own system ({}), not {system}",
                principal.name
            ),
        )
        .with_code("source-not-yours")
        .into_response();
    }
    if let Err(problem) = speaks_for(&app, &principal, &system) {
        return problem.into_response();
    }
    let command = match details.into_sync(app.service.clock().now(), app.settings.sync.contact()) {
        Ok(command) => command,
        Err(problem) => return problem.into_response(),
    };
    let source = Source {
        system,
        timestamp: Some(source_time),
    };
    commands::execute_all_from::<Contact>(
        &app,
        &principal,
        &headers,
        id,
        vec![command],
        false,
        Some(source),
    )
    .await
}

impl ContactDetails {
    /// The details as a [`ContactCommand::Sync`] under `rules`.
    pub(crate) fn into_sync(
        self,
        now: chrono::DateTime<chrono::Utc>,
        rules: &crm_domain::sync::ContactRules,
    ) -> Result<ContactCommand, Problem> {
        let provenance = self.provenance(now)?;
        Ok(ContactCommand::Sync {
            changes: self.changes()?,
            provenance,
            rules: rules.clone(),
        })
    }
}

/// The conflict queue's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConflictParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A page of the sync conflict queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConflictQueuePage {
    /// Contacts with values waiting for review, oldest waiting first: each value with its
    /// field, its source and the current value's source.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<WaitingFields>,
    /// The cursor of the next page, absent on the last one.
    pub next: Option<String>,
}

/// `GET /v1/sync/conflicts`.
pub(crate) async fn conflicts<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<ConflictParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let (limit, after) =
        match page_params(params.limit, params.cursor.as_deref(), QueueCursor::parse) {
            Ok(page) => page,
            Err(problem) => return problem.into_response(),
        };
    match app
        .reads
        .conflicts
        .scan(&principal.tenant, &ConflictQueue { limit, after })
        .await
    {
        Ok(page) => Json(ConflictQueuePage {
            items: page.items,
            next: page.next.map(|next| next.to_text()),
        })
        .into_response(),
        Err(error) => storage_problem(&error).into_response(),
    }
}

/// The external id lookup's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExternalIdParams {
    system: String,
    id: String,
}

/// The contacts holding an id of a connected system.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExternalIdMatches {
    /// Each contact holding the id (usually one), with the survivor it was merged into, if
    /// it was: `{contact, merged_into}`.
    #[schema(value_type = Vec<Object>)]
    pub contacts: Vec<ExternalMatch>,
}

/// `GET /v1/external-ids?system=&id=`.
pub(crate) async fn external_ids<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    params: Result<Params<ExternalIdParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let external = match ExternalId::new(&params.system, &params.id) {
        Ok(external) => external,
        Err(error) => {
            return Problem::new(ProblemKind::InvalidParameter, error.to_string())
                .with_code("external-id")
                .into_response();
        }
    };
    match app
        .reads
        .external_ids
        .lookup(&principal.tenant, &ContactsByExternalId { external })
        .await
    {
        Ok(contacts) => Json(ExternalIdMatches { contacts }).into_response(),
        Err(error) => storage_problem(&error).into_response(),
    }
}

/// How the messages to one connected system stand.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DestinationStatus {
    /// The destination, e.g. `erp`.
    pub destination: String,
    /// Messages neither delivered nor parked.
    pub pending: u64,
    /// How long the oldest of them has waited, in seconds.
    pub oldest_pending_seconds: Option<i64>,
    /// Pending messages whose last attempt failed.
    pub failing: u64,
    /// Messages the relay gave up on (`crm outbox replay-parked` sends them again).
    pub parked: u64,
    /// Deliveries per second over the last five minutes.
    pub delivery_rate: f64,
    /// When the last message was delivered.
    pub last_delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Failing and parked messages by the cause of their last failure (`timeout`,
    /// `unreachable`, `throttled`, `receiver_error`, `refused`, `unsendable`, `other`).
    #[schema(value_type = Object)]
    pub failures: std::collections::BTreeMap<&'static str, u64>,
}

/// Sync monitoring: every connected system the tenant's messages go to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncStatus {
    /// Per destination, in name order.
    pub destinations: Vec<DestinationStatus>,
}

/// `GET /v1/operations/sync`.
pub(crate) async fn sync_status<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
) -> Response {
    let now = app.service.clock().now();
    match app
        .service
        .work()
        .outbox_destinations(&principal.tenant, now)
        .await
    {
        Ok(destinations) => Json(SyncStatus {
            destinations: destinations
                .into_iter()
                .map(|health| {
                    let delivery_rate = health.delivery_rate();
                    DestinationStatus {
                        destination: health.destination,
                        pending: health.pending,
                        oldest_pending_seconds: health
                            .oldest_pending_age
                            .map(|age| age.num_seconds()),
                        failing: health.failing,
                        parked: health.parked,
                        delivery_rate,
                        last_delivered_at: health.last_delivered_at,
                        failures: health
                            .failures
                            .into_iter()
                            .map(|(cause, count)| (cause.as_str(), count))
                            .collect(),
                    }
                })
                .collect(),
        })
        .into_response(),
        Err(error) => super::reads::work_problem(&error).into_response(),
    }
}

/// The data dictionary in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DictionaryResponse {
    /// Every governed field: entity, field, type, policy, its order of sources or system of
    /// record, whether empty values clear it, and who owns its definition.
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<DictionaryEntry>,
}

/// `GET /v1/sync/dictionary`.
pub(crate) async fn dictionary<B: Backend>(State(app): AppState<B>) -> Response {
    Json(DictionaryResponse {
        fields: app.settings.sync.entries().cloned().collect(),
    })
    .into_response()
}
