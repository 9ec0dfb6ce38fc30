//! `crm serve`: the HTTP app. JSON under `/v1` for the aggregates' commands, lead intake and
//! the read models; problem details for every error; bearer tokens mapped to a tenant and a
//! role; `ETag` / `If-Match` on records; `Idempotency-Key` on every POST; `/openapi.json`,
//! `/healthz`, `/readyz` and `/metrics`.
//!
//! One table, [`ROUTES`], names every route with the permission it needs: the router, the
//! guard that authenticates and authorizes each request, the OpenAPI document and the tests'
//! permission matrix are all built from it, so none of them can drift from the others.
//!
//! The tenant always comes from the token, never from the request: a record of another tenant
//! is simply not found.

mod accounts;
mod activities;
mod auth;
mod body;
mod commands;
mod custom_fields;
mod engagements;
mod merges;
mod metrics;
mod openapi;
mod outreach;
mod problem;
mod reads;
mod roster;
mod routes;
mod server;
mod sync;
mod tasks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use crm_domain::opportunity::Pipeline;
use crm_domain::sync::SyncRules;
use crm_projections::ProjectorStatus;
use crm_projections::account360::Account360Model;
use crm_projections::custom_fields::CustomFieldModel;
use crm_projections::customer360::Customer360Model;
use crm_projections::duplicates::DuplicateQueueModel;
use crm_projections::engagements::EngagementModel;
use crm_projections::external_ids::ExternalIdModel;
use crm_projections::identity::IdentityIndexModel;
use crm_projections::pipeline::PipelineModel;
use crm_projections::sla::{SlaConfig, SlaModel};
use crm_projections::sync_conflicts::SyncConflictModel;
use tokio::sync::watch;

pub use accounts::{AccountAddressBody, AccountRequest, AccountReviewPage};
pub use activities::{
    ActivityCommandRequest, ActivityParticipant, ActivityRecord, ActivityRequest, ActivityResponse,
    NotCounted,
};
pub use auth::{
    AuthError, DEFAULT_RATE_PER_SECOND, Permission, Principal, RateLimiter, Role, TokenEntry,
    Tokens, hash_token,
};
pub use body::{MAX_IDEMPOTENCY_KEY, etag};
pub use commands::{
    CommandResponse, ContactRequest, CustomFieldValues, LeadRequest, MAX_TEXT_CHARS,
    OpportunityRequest, TicketRequest,
};
pub use custom_fields::{
    CustomRecordsResponse, CustomValuesResponse, PublishSchemaRequest, SchemaResponse,
};
pub use engagements::TaskPage;
pub use merges::{MergeBody, MergeResponse, UnmergeBody};
pub use metrics::Metrics;
pub use openapi::openapi;
pub use outreach::{ConsentAnswer, OutreachBody, OutreachResponse};
pub use problem::{FieldProblemBody, PROBLEM_JSON, Problem, ProblemKind};
pub use reads::{
    DeliveryReceipt, DuplicatesPage, ErasureRequestBody, ErasureResponse, FeedEvent, HistoryEntry,
    LeadBatchRequest, LeadDeliveryRequest, QueueHealth, RecordKind, RecordResponse, SearchHit,
    SlaListPage, TimelineResponse, TimelineRow,
};
pub use roster::{AvailabilityRequest, ForecastRequest, RepRequest, TeamRequest, TerritoryRequest};
pub use routes::{Endpoint, ROUTES, RouteSpec};
pub use server::{PROJECTIONS, ServeError, serve, spawn_projection, spawn_projections};
pub use sync::{
    ConflictQueuePage, DestinationStatus, DictionaryResponse, ExternalIdMatches, SyncStatus,
};
pub use tasks::TaskRequest;

use crate::backend::{Backend, ReadStore};
use crate::command::CommandService;

/// The namespace a merge's or unmerge's command id is derived in from its `Idempotency-Key`.
pub(crate) const MERGE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x0193_b3f1_3e26_7000_8000_0000_0000_3e26);

/// The namespace an erasure's command id is derived in from its `Idempotency-Key`.
pub(crate) const ERASURE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x0193_b3f0_e7a5_7000_8000_0000_0000_e7a5);

/// Limits and choices of a server.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The largest request body, in bytes (default 1 MiB); larger ones are 413.
    pub body_limit: usize,
    /// The most deliveries a bulk intake request may carry (default 1,000).
    pub max_batch: usize,
    /// The pipelines deals may open in; the first is the default. The built-in default
    /// pipeline when empty.
    pub pipelines: Vec<Pipeline>,
    /// The SLA configuration the SLA read model runs under.
    pub sla: SlaConfig,
    /// The data dictionary's rules (none by default: no field is governed).
    pub sync: SyncRules,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            max_batch: 1_000,
            pipelines: Vec::new(),
            sla: SlaConfig::default(),
            sync: SyncRules::default(),
        }
    }
}

/// The read models a server answers from, each in its table of the backend's database.
pub struct ReadModels<B: Backend> {
    /// Customer 360.
    pub customers: Arc<B::Documents<Customer360Model>>,
    /// The identity index (search by email, phone, name).
    pub identity: Arc<B::Documents<IdentityIndexModel>>,
    /// Pipeline and forecast.
    pub pipeline: Arc<B::Documents<PipelineModel>>,
    /// SLA items.
    pub sla: Arc<B::Documents<SlaModel>>,
    /// The duplicate review queue.
    pub duplicates: Arc<B::Documents<DuplicateQueueModel>>,
    /// Account 360.
    pub accounts: Arc<B::Documents<Account360Model>>,
    /// Tasks and the activities logged on records.
    pub engagements: Arc<B::Documents<EngagementModel>>,
    /// Every record's custom field values.
    pub custom_fields: Arc<B::Documents<CustomFieldModel>>,
    /// Field values from connected systems waiting for review.
    pub conflicts: Arc<B::Documents<SyncConflictModel>>,
    /// Contacts by their ids in connected systems.
    pub external_ids: Arc<B::Documents<ExternalIdModel>>,
}

impl<B: Backend> ReadModels<B> {
    /// Opens every read model's table in `backend`'s database (created if missing); the SLA
    /// model measures against `sla`.
    pub async fn open(backend: &B, sla: SlaConfig) -> Result<Self, crm_projections::StorageError> {
        Ok(Self {
            customers: Arc::new(backend.documents(Customer360Model).await?),
            identity: Arc::new(backend.documents(IdentityIndexModel::default()).await?),
            pipeline: Arc::new(backend.documents(PipelineModel).await?),
            sla: Arc::new(backend.documents(SlaModel::new(sla)).await?),
            duplicates: Arc::new(backend.documents(DuplicateQueueModel).await?),
            accounts: Arc::new(backend.documents(Account360Model).await?),
            engagements: Arc::new(backend.documents(EngagementModel).await?),
            custom_fields: Arc::new(backend.documents(CustomFieldModel).await?),
            conflicts: Arc::new(backend.documents(SyncConflictModel).await?),
            external_ids: Arc::new(backend.documents(ExternalIdModel).await?),
        })
    }
}

impl<B: Backend> Clone for ReadModels<B> {
    fn clone(&self) -> Self {
        Self {
            customers: Arc::clone(&self.customers),
            identity: Arc::clone(&self.identity),
            pipeline: Arc::clone(&self.pipeline),
            sla: Arc::clone(&self.sla),
            duplicates: Arc::clone(&self.duplicates),
            accounts: Arc::clone(&self.accounts),
            engagements: Arc::clone(&self.engagements),
            custom_fields: Arc::clone(&self.custom_fields),
            conflicts: Arc::clone(&self.conflicts),
            external_ids: Arc::clone(&self.external_ids),
        }
    }
}

impl<B: Backend> std::fmt::Debug for ReadModels<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModels")
            .field("customers", &self.customers)
            .field("identity", &self.identity)
            .field("pipeline", &self.pipeline)
            .field("sla", &self.sla)
            .field("duplicates", &self.duplicates)
            .field("accounts", &self.accounts)
            .field("engagements", &self.engagements)
            .field("custom_fields", &self.custom_fields)
            .field("conflicts", &self.conflicts)
            .field("external_ids", &self.external_ids)
            .finish()
    }
}

/// A projector's status as `/readyz` and `/metrics` report it.
#[derive(Debug, Clone)]
pub struct ProjectionWatch {
    /// The read model's name.
    pub model: &'static str,
    /// The tenant.
    pub tenant: crm_eventstore::TenantId,
    /// Its published status.
    pub status: watch::Receiver<ProjectorStatus>,
}

/// Everything a request handler needs, on the backend `B`.
pub struct App<B: Backend> {
    pub(crate) backend: B,
    pub(crate) service: Arc<CommandService<B::Work>>,
    pub(crate) store: ReadStore<B>,
    pub(crate) inbox: B::Inbox,
    pub(crate) reads: ReadModels<B>,
    pub(crate) tokens: Tokens,
    pub(crate) limiter: RateLimiter,
    pub(crate) metrics: Metrics,
    pub(crate) settings: ServeSettings,
    pub(crate) projections: Vec<ProjectionWatch>,
    /// Set when the server stops: long-lived responses (the event feed) end then, so the
    /// graceful stop does not wait for them forever.
    pub(crate) closing: watch::Sender<bool>,
}

impl<B: Backend> App<B> {
    /// An app over `backend` and `service` (whose unit of work names the store),
    /// with the read models, the tokens it admits, its settings, and the projectors whose
    /// status it reports.
    pub fn new(
        backend: B,
        service: Arc<CommandService<B::Work>>,
        reads: ReadModels<B>,
        tokens: Tokens,
        settings: ServeSettings,
        projections: Vec<ProjectionWatch>,
    ) -> Self {
        use crate::uow::UnitOfWork as _;
        let store = service.work().store().clone();
        Self {
            inbox: backend.inbox(),
            backend,
            store,
            service,
            reads,
            tokens,
            limiter: RateLimiter::default(),
            metrics: Metrics::default(),
            settings,
            projections,
            closing: watch::channel(false).0,
        }
    }
}

impl<B: Backend> std::fmt::Debug for App<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The router of every route in [`ROUTES`], guarded, with problem documents for unknown
/// routes and methods.
pub fn router<B: Backend>(app: Arc<App<B>>) -> Router {
    let body_limit = app.settings.body_limit;
    let mut router = Router::new();
    for spec in ROUTES {
        router = router.route(spec.path, routes::method_router(spec));
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            guard::<B>,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(app)
}

async fn not_found() -> Problem {
    Problem::new(ProblemKind::NotFound, "no route here")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        ProblemKind::MethodNotAllowed,
        "the route does not take this method",
    )
}

/// Authenticates, authorizes and rate-limits every request of a known route, and counts it.
async fn guard<B: Backend>(
    State(app): State<Arc<App<B>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let spec = path
        .as_deref()
        .and_then(|path| routes::find(request.method(), path));
    let Some(spec) = spec else {
        return not_found().await.into_response();
    };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let too_large = announced.filter(|length| *length > app.settings.body_limit as u64);
    let response = if let Some(length) = too_large {
        // Refused on what it announces, before a byte of it is read.
        Problem::new(
            ProblemKind::PayloadTooLarge,
            format!(
                "the body is {length} bytes; at most {} are accepted",
                app.settings.body_limit
            ),
        )
        .into_response()
    } else {
        match admit(&app, spec, &request) {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                next.run(request).await
            }
            Err(problem) => problem.into_response(),
        }
    };
    app.metrics
        .observe(spec, response.status().as_u16(), started.elapsed());
    response
}

fn admit<B: Backend>(
    app: &App<B>,
    spec: &RouteSpec,
    request: &Request,
) -> Result<Option<Principal>, Problem> {
    let Some(permission) = spec.permission else {
        return Ok(None);
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return Err(Problem::new(
            ProblemKind::Unauthorized,
            "send Authorization: Bearer <token>",
        ));
    };
    let Some(principal) = app.tokens.authenticate(token) else {
        return Err(Problem::new(
            ProblemKind::Unauthorized,
            "the token is not known",
        ));
    };
    app.limiter
        .take(principal, Instant::now())
        .map_err(problem::rate_limited)?;
    let syncs_own_fields = || {
        principal.role.allows(auth::Permission::SyncRecords)
            && spec
                .endpoint
                .governed_entity()
                .is_some_and(|entity| app.settings.sync.owns_any(entity, &principal.name))
    };
    if !principal.role.allows(permission) && !syncs_own_fields() {
        return Err(Problem::new(
            ProblemKind::Forbidden,
            format!(
                "role {:?} may not use {} {}",
                principal.role, spec.method, spec.path
            ),
        ));
    }
    Ok(Some(principal.clone()))
}

/// A JSON response with an `ETag`.
pub(crate) fn with_etag(mut response: Response, tag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
