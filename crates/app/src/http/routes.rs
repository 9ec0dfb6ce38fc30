//! The table of every route: its method, path, the permission it needs and what the OpenAPI
//! document says of it. The router, the guard, the document and the tests all read it.

use std::sync::Arc;

use axum::http::Method;
use axum::routing::{MethodRouter, get, post};

use super::auth::Permission;
use super::roster::{ForecastRequest, RepRequest, TeamRequest, TerritoryRequest};
use super::{App, reads};
use crate::backend::Backend;

/// What a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /healthz`.
    Health,
    /// `GET /readyz`.
    Ready,
    /// `GET /metrics`.
    Metrics,
    /// `GET /openapi.json`.
    OpenApi,
    /// `POST /v1/leads/{id}/commands`.
    LeadCommand,
    /// `POST /v1/contacts/{id}/commands`.
    ContactCommand,
    /// `POST /v1/opportunities/{id}/commands`.
    OpportunityCommand,
    /// `POST /v1/tickets/{id}/commands`.
    TicketCommand,
    /// `POST /v1/reps/{id}/commands`.
    RepCommand,
    /// `POST /v1/reps/{id}/availability`.
    Availability,
    /// `POST /v1/teams/{id}/commands`.
    TeamCommand,
    /// `POST /v1/territories/{id}/commands`.
    TerritoryCommand,
    /// `POST /v1/forecasts/{id}/commands`.
    ForecastCommand,
    /// `GET /v1/forecast`.
    Forecast,
    /// `GET /v1/sla/at-risk`.
    SlaAtRisk,
    /// `GET /v1/sla/attainment`.
    SlaAttainment,
    /// `POST /v1/contacts/{id}/erasure`.
    Erasure,
    /// `POST /v1/contacts/{id}/merge`.
    Merge,
    /// `POST /v1/contacts/{id}/unmerge`.
    Unmerge,
    /// `POST /v1/contacts/{id}/outreach`.
    Outreach,
    /// `GET /v1/contacts/{id}/consent`.
    Consent,
    /// `POST /v1/contacts/{id}/sync`.
    ContactSync,
    /// `GET /v1/sync/conflicts`.
    SyncConflicts,
    /// `GET /v1/sync/dictionary`.
    SyncDictionary,
    /// `GET /v1/external-ids`.
    ExternalIds,
    /// `GET /v1/operations/sync`.
    SyncStatus,
    /// `GET /v1/contacts/{id}/subject-access`.
    SubjectAccess,
    /// `POST /v1/activities/{id}`.
    LogActivity,
    /// `POST /v1/activities/{id}/commands`.
    ActivityCommand,
    /// `POST /v1/accounts/{id}/commands`.
    AccountCommand,
    /// `GET /v1/accounts/{id}`.
    Account360,
    /// `GET /v1/accounts`.
    AccountSearch,
    /// `GET /v1/tasks/{id}`.
    Task,
    /// `GET /v1/tasks`.
    Tasks,
    /// `GET /v1/activities/{id}`.
    Activity,
    /// `GET /v1/activities`.
    Activities,
    /// `POST /v1/tasks/{id}/commands`.
    TaskCommand,
    /// `GET /v1/events`.
    Events,
    /// `GET /v1/{records}/{id}`.
    Record(reads::RecordKind),
    /// `GET /v1/{records}/{id}/history`.
    History(reads::RecordKind),
    /// `GET /v1/customers/{id}`.
    Customer,
    /// `GET /v1/customers/{id}/timeline`.
    Timeline,
    /// `GET /v1/{records}/{id}/timeline`.
    RecordTimeline(reads::RecordKind),
    /// `GET /v1/customers`.
    Search,
    /// `GET /v1/duplicates`.
    Duplicates,
    /// `GET /v1/pipeline`.
    Pipeline,
    /// `GET /v1/sla/breaches`.
    SlaBreaches,
    /// `POST /v1/intake/{source}/leads`.
    IntakeOne,
    /// `POST /v1/intake/{source}/leads/batch`.
    IntakeBatch,
    /// `GET /v1/operations/inbox`.
    InboxHealth,
    /// `GET /v1/operations/outbox`.
    OutboxHealth,
    /// `GET /v1/account-reviews`.
    AccountReviews,
    /// `GET /v1/custom-fields/{entity}`.
    CustomFieldSchema,
    /// `POST /v1/custom-fields/{entity}`.
    PublishCustomFields,
    /// `GET /v1/custom-fields/{entity}/records`.
    CustomFieldRecords,
    /// `GET /v1/custom-fields/{entity}/records/{id}`.
    CustomFieldValues,
}

impl Endpoint {
    /// The entity whose commands the endpoint takes, where the data dictionary may give a
    /// connected system fields of it: a system given some may send the commands that set
    /// them (and only those) without the entity's write permission.
    pub(crate) fn governed_entity(self) -> Option<crm_domain::sync::GovernedEntity> {
        use crm_domain::sync::GovernedEntity;
        match self {
            Endpoint::OpportunityCommand => Some(GovernedEntity::Opportunity),
            Endpoint::TicketCommand => Some(GovernedEntity::Ticket),
            Endpoint::AccountCommand => Some(GovernedEntity::Account),
            _ => None,
        }
    }
}

/// One route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The method.
    pub method: Method,
    /// The path, with `{name}` parameters.
    pub path: &'static str,
    /// What the caller's role must allow; `None` for the public routes.
    pub permission: Option<Permission>,
    /// What it does, for the OpenAPI document.
    pub summary: &'static str,
    /// The OpenAPI tag.
    pub tag: &'static str,
    /// The handler.
    pub endpoint: Endpoint,
    /// The request body's schema (a component name).
    pub request: Option<&'static str>,
    /// The query parameters: name, what values it takes, and description.
    pub query: &'static [QueryParam],
}

const fn route(
    method: Method,
    path: &'static str,
    permission: Option<Permission>,
    endpoint: Endpoint,
    tag: &'static str,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        permission,
        summary,
        tag,
        endpoint,
        request: None,
        query: &[],
    }
}

const fn with_body(mut spec: RouteSpec, schema: &'static str) -> RouteSpec {
    spec.request = Some(schema);
    spec
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct QueryParam {
    /// Its name.
    pub name: &'static str,
    /// The values it takes.
    pub kind: QueryKind,
    /// What it means.
    pub description: &'static str,
}

/// The values a query parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// Any text.
    Text,
    /// An integer in a range.
    Int {
        /// The least.
        min: u32,
        /// The most.
        max: u32,
    },
    /// A UUID.
    Uuid,
    /// A date (`YYYY-MM-DD`).
    Date,
    /// An instant (RFC 3339).
    DateTime,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

const fn q(name: &'static str, kind: QueryKind, description: &'static str) -> QueryParam {
    QueryParam {
        name,
        kind,
        description,
    }
}

const fn with_query(mut spec: RouteSpec, query: &'static [QueryParam]) -> RouteSpec {
    spec.query = query;
    spec
}

use Permission as P;
use reads::RecordKind as K;

const TIMELINE_QUERY: &[QueryParam] = &[
    q(
        "limit",
        QueryKind::Int { min: 1, max: 500 },
        "The most entries (default 50).",
    ),
    q(
        "cursor",
        QueryKind::Text,
        "Where the previous page ended (its `next`); the newest entries without it.",
    ),
];

const SEARCH_QUERY: &[QueryParam] = &[
    q("email", QueryKind::Text, "An email address."),
    q(
        "phone",
        QueryKind::Text,
        "A phone number (with `+` and country code, or read in `country`).",
    ),
    q("name", QueryKind::Text, "A full name, given name first."),
    q(
        "country",
        QueryKind::Text,
        "ISO 3166-1 alpha-2: where a phone number without `+` is read.",
    ),
    q(
        "limit",
        QueryKind::Int { min: 1, max: 100 },
        "The most customers (default 10).",
    ),
];

const DUPLICATES_QUERY: &[QueryParam] = &[
    q(
        "limit",
        QueryKind::Int { min: 1, max: 1_000 },
        "The most pairs (default 100).",
    ),
    q(
        "cursor",
        QueryKind::Text,
        "Where the previous page ended (its `next`); the best-scored pairs without it.",
    ),
];

const CONFLICTS_QUERY: &[QueryParam] = &[
    q(
        "limit",
        QueryKind::Int { min: 1, max: 1_000 },
        "The most contacts (default 100).",
    ),
    q(
        "cursor",
        QueryKind::Text,
        "Where the previous page ended (its `next`); the longest waiting without it.",
    ),
];

const EXTERNAL_ID_QUERY: &[QueryParam] = &[
    q(
        "system",
        QueryKind::Text,
        "The connected system, e.g. `billing`.",
    ),
    q("id", QueryKind::Text, "The record's id there."),
];

const REVIEWS_QUERY: &[QueryParam] = &[
    q(
        "limit",
        QueryKind::Int { min: 1, max: 1_000 },
        "The most accounts (default 100).",
    ),
    q(
        "cursor",
        QueryKind::Text,
        "Where the previous page ended (its `next`); the longest waiting without it.",
    ),
];

const CONSENT_QUERY: &[QueryParam] = &[
    q(
        "channel",
        QueryKind::OneOf(&["email", "phone", "sms"]),
        "The channel (required).",
    ),
    q(
        "purpose",
        QueryKind::OneOf(&["marketing", "sales", "service", "research"]),
        "The purpose (default marketing).",
    ),
];

const SLA_QUERY: &[QueryParam] = &[
    q(
        "limit",
        QueryKind::Int { min: 1, max: 1_000 },
        "The most items (default 100).",
    ),
    q(
        "cursor",
        QueryKind::Text,
        "Where the previous page ended (its `next`); the earliest deadlines without it.",
    ),
];

const FORECAST_QUERY: &[QueryParam] = &[
    q(
        "period",
        QueryKind::OneOf(&["month", "quarter"]),
        "Months or quarters (default quarters).",
    ),
    q(
        "from",
        QueryKind::Date,
        "The first date counted (required).",
    ),
    q(
        "to",
        QueryKind::Date,
        "The first date no longer counted (required; at most three years after `from`).",
    ),
    q(
        "owner",
        QueryKind::Uuid,
        "Only this owner's deals, with their and their manager's calls.",
    ),
];

const ATTAINMENT_QUERY: &[QueryParam] = &[
    q("from", QueryKind::DateTime, "The start (required)."),
    q("to", QueryKind::DateTime, "The end (required)."),
    q(
        "by",
        QueryKind::OneOf(&["team", "agent", "priority"]),
        "How rows are grouped (default team).",
    ),
];

const EVENTS_QUERY: &[QueryParam] = &[q(
    "after",
    QueryKind::Text,
    "The position to follow from (`<transaction>/<position>`, `0/0` for the whole history); `Last-Event-ID` wins when both are sent. One of them is required.",
)];

const TASK_QUERY: &[QueryParam] = &[
    q("owner", QueryKind::Uuid, "Only this user's tasks."),
    q(
        "status",
        QueryKind::OneOf(&["open", "done", "cancelled"]),
        "Only tasks in this status.",
    ),
    q(
        "due_before",
        QueryKind::DateTime,
        "Only tasks due before this instant, earliest first (tasks without a due time left out).",
    ),
    q(
        "record",
        QueryKind::Uuid,
        "Only tasks concerning this record.",
    ),
    q(
        "limit",
        QueryKind::Int { min: 1, max: 1_000 },
        "The most tasks (default 100).",
    ),
    q(
        "cursor",
        QueryKind::Text,
        "Where the previous page ended (its `next`).",
    ),
];

const ACTIVITY_QUERY: &[QueryParam] = &[
    q(
        "record",
        QueryKind::Uuid,
        "The record (lead, contact, account, deal or ticket) whose activities to list; required.",
    ),
    q(
        "limit",
        QueryKind::Int { min: 1, max: 500 },
        "The most activities (default 50).",
    ),
    q(
        "cursor",
        QueryKind::Text,
        "Where the previous page ended (its `next`); the newest activities without it.",
    ),
];

const ACCOUNT_QUERY: &[QueryParam] = &[
    q(
        "email",
        QueryKind::Text,
        "A person's email address (its domain counts unless it is a free-mail provider's).",
    ),
    q(
        "domain",
        QueryKind::Text,
        "The company's web domain or address.",
    ),
    q(
        "company",
        QueryKind::Text,
        "The company's name (legal forms and punctuation ignored).",
    ),
    q(
        "limit",
        QueryKind::Int { min: 1, max: 100 },
        "The most accounts (default 10).",
    ),
];

const OWNER_QUERY: &[QueryParam] = &[q("owner", QueryKind::Uuid, "Only this owner's deals.")];

const CUSTOM_RECORDS_QUERY: &[QueryParam] = &[
    q(
        "filter",
        QueryKind::Text,
        "A JSON array of filters that must all hold, each `{\"op\": \"equals\" | \"in\" | \"range\" | \"is_set\" | \"contains\", \"field\": …}`.",
    ),
    q(
        "after",
        QueryKind::Uuid,
        "The last record of the previous page (its `next`).",
    ),
    q(
        "limit",
        QueryKind::Int { min: 1, max: 500 },
        "The most records (default 50).",
    ),
];

/// Every route of the API.
pub const ROUTES: &[RouteSpec] = &[
    with_query(
        route(
            Method::GET,
            "/v1/account-reviews",
            Some(P::ReadCustomers),
            Endpoint::AccountReviews,
            "accounts",
            "Accounts with contacts suggested by identity resolution, waiting for review, longest waiting first, a page at a time (`next` is the cursor of the following page).",
        ),
        REVIEWS_QUERY,
    ),
    route(
        Method::GET,
        "/v1/custom-fields/{entity}",
        Some(P::ReadCustomFields),
        Endpoint::CustomFieldSchema,
        "custom-fields",
        "An entity's custom fields and validation rules as published now (ETag: the settings' version).",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/custom-fields/{entity}",
            Some(P::ConfigureCustomFields),
            Endpoint::PublishCustomFields,
            "custom-fields",
            "Publishes a schema version; in force from the next command, history untouched.",
        ),
        "PublishSchemaRequest",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/custom-fields/{entity}/records",
            Some(P::ReadCustomers),
            Endpoint::CustomFieldRecords,
            "custom-fields",
            "Records of a kind whose custom field values match every filter, in id order.",
        ),
        CUSTOM_RECORDS_QUERY,
    ),
    route(
        Method::GET,
        "/v1/custom-fields/{entity}/records/{id}",
        Some(P::ReadCustomers),
        Endpoint::CustomFieldValues,
        "custom-fields",
        "One record's custom field values as the current schema shows them.",
    ),
    route(
        Method::GET,
        "/healthz",
        None,
        Endpoint::Health,
        "operations",
        "The process is up.",
    ),
    route(
        Method::GET,
        "/readyz",
        None,
        Endpoint::Ready,
        "operations",
        "The store answers and every projection has caught up once and is not failing.",
    ),
    route(
        Method::GET,
        "/metrics",
        None,
        Endpoint::Metrics,
        "operations",
        "Prometheus metrics.",
    ),
    route(
        Method::GET,
        "/openapi.json",
        None,
        Endpoint::OpenApi,
        "operations",
        "This document.",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/leads/{id}/commands",
            Some(P::WriteLeads),
            Endpoint::LeadCommand,
            "leads",
            "Sends a command to a lead.",
        ),
        "LeadRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/contacts/{id}/commands",
            Some(P::WriteContacts),
            Endpoint::ContactCommand,
            "contacts",
            "Sends a command to a contact (`create` makes it).",
        ),
        "ContactRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/opportunities/{id}/commands",
            Some(P::WriteDeals),
            Endpoint::OpportunityCommand,
            "opportunities",
            "Sends a command to a deal (`open` makes it).",
        ),
        "OpportunityRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/tickets/{id}/commands",
            Some(P::WriteTickets),
            Endpoint::TicketCommand,
            "tickets",
            "Sends a command to a ticket (`open` makes it).",
        ),
        "TicketRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/reps/{id}/commands",
            Some(P::WriteRoster),
            Endpoint::RepCommand,
            "roster",
            "Sends a command to a rep (`register` puts the user on the roster).",
        ),
        "RepRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/reps/{id}/availability",
            Some(P::SetOwnAvailability),
            Endpoint::Availability,
            "roster",
            "A rep's own availability: `go_online`, `go_offline`, `set_out_of_office` (`until`, optional) or `return_to_office`. A sales or support token sets its own user's only; an admin sets anyone's.",
        ),
        "AvailabilityRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/teams/{id}/commands",
            Some(P::WriteRoster),
            Endpoint::TeamCommand,
            "roster",
            "Sends a command to a team (`create` makes it).",
        ),
        "TeamRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/territories/{id}/commands",
            Some(P::WriteRoster),
            Endpoint::TerritoryCommand,
            "roster",
            "Defines or replaces a territory map.",
        ),
        "TerritoryRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/forecasts/{id}/commands",
            Some(P::WriteDeals),
            Endpoint::ForecastCommand,
            "pipeline",
            "Sends a command to a rep's forecast of a period (`open` makes it).",
        ),
        "ForecastRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/contacts/{id}/erasure",
            Some(P::ErasePersons),
            Endpoint::Erasure,
            "contacts",
            "Erases the person behind a contact: recorded on every contact that is the same person, then their keys and their leads' keys shredded, so every copy of their personal data reads as erased.",
        ),
        "ErasureRequestBody",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/contacts/{id}/merge",
            Some(P::MergeContacts),
            Endpoint::Merge,
            "contacts",
            "Merges another contact, the same person, into the one of the path (the survivor; `If-Match` its version): the other points at it from then on, fields both hold are decided by the policy and the choices, every address and consent is kept. Refused (409) for contacts declared different people, an erased one, one merged elsewhere. Safe to send again under the same `Idempotency-Key`.",
        ),
        "MergeBody",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/contacts/{id}/unmerge",
            Some(P::MergeContacts),
            Endpoint::Unmerge,
            "contacts",
            "Gives back a contact merged into the one of the path (`If-Match` its version): what the merge took over is restored and both are separate contacts again.",
        ),
        "UnmergeBody",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/contacts/{id}/outreach",
            Some(P::SendOutreach),
            Endpoint::Outreach,
            "contacts",
            "Sends the contact a message for a purpose on a channel (a campaign email, a sales call, a survey): refused (409, `consent-withdrawn`, `consent-never-given` or `erased`) unless the person's consent allows it, weighing the contact, the contacts merged into it and the leads they came from (a withdrawal on any of them wins). Otherwise logged as an outbound activity on the contact and handed to the outbox (`outreach`), once per `activity` id: 201, or 200 for a retry.",
        ),
        "OutreachBody",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/contacts/{id}/consent",
            Some(P::CheckConsent),
            Endpoint::Consent,
            "contacts",
            "Whether the person behind the contact may be contacted on a channel for a purpose, weighing the contact, the contacts merged into it and the leads they came from as an outreach would: `allowed`, or the refusal (`consent-withdrawn` with the withdrawal's source and time, `consent-never-given`, `erased`).",
        ),
        CONSENT_QUERY,
    ),
    with_body(
        route(
            Method::POST,
            "/v1/contacts/{id}/sync",
            Some(P::SyncRecords),
            Endpoint::ContactSync,
            "sync",
            "A connected system's update of a contact (the body of `change_details`; `source_time` required, the source is the integration token's name). Each field is judged under the data dictionary (`GET /v1/sync/dictionary`): applied, kept out as stale or empty, kept in the history as outranked (`ContactSyncOutranked`), or held for review (`ContactFieldConflictRaised`). A field the source does not own under `owner_only` refuses the whole update (409, `sync-refused`, every field in `errors`). No `If-Match`: the rules decide by source and source time.",
        ),
        "ContactDetails",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/sync/conflicts",
            Some(P::ReadCustomers),
            Endpoint::SyncConflicts,
            "sync",
            "Contacts with values connected systems proposed for fields under manual review, longest waiting first; decide one with the contact command `resolve_field_conflict`.",
        ),
        CONFLICTS_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/external-ids",
            Some(P::FindByExternalId),
            Endpoint::ExternalIds,
            "sync",
            "The contacts holding an id of a connected system (linked with the contact command `link_external_id`), each with the survivor it was merged into, if it was: how a billing system or a support desk finds its record's contact. Ids only, no personal data.",
        ),
        EXTERNAL_ID_QUERY,
    ),
    route(
        Method::GET,
        "/v1/sync/dictionary",
        Some(P::ReadCustomFields),
        Endpoint::SyncDictionary,
        "sync",
        "The data dictionary in force: every governed field with its type, system of record, conflict policy and the owner of its definition.",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/tasks/{id}/commands",
            Some(P::WriteTasks),
            Endpoint::TaskCommand,
            "tasks",
            "Sends a command to a task (`create` makes it): work a user owes by a due time, on a record or on none.",
        ),
        "TaskRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/accounts/{id}/commands",
            Some(P::WriteAccounts),
            Endpoint::AccountCommand,
            "accounts",
            "Sends a command to an account (`open` makes it); `set_parent` places it in the tenant's account hierarchy, refused when that would make a cycle.",
        ),
        "AccountRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/activities/{id}/commands",
            Some(P::LogActivities),
            Endpoint::ActivityCommand,
            "activities",
            "Amends a logged activity (`amend`, with `If-Match`: field by field) or cancels it (`cancel`, with a reason); a sales or support token changes only its own user's activities.",
        ),
        "ActivityCommandRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/activities/{id}",
            Some(P::LogActivities),
            Endpoint::LogActivity,
            "activities",
            "Logs a call, email, meeting or note (the path's id is the activity's: sending it again is safe) on the records it names; a call or email by a lead's rep is the lead's first touch.",
        ),
        "ActivityRequest",
    ),
    route(
        Method::GET,
        "/v1/contacts/{id}/subject-access",
        Some(P::ExportPersons),
        Endpoint::SubjectAccess,
        "contacts",
        "Everything held about the person behind a contact (a subject access request): every contact that is the same person, their leads, deals and tickets, each record's history with personal fields decrypted, and the integration messages naming them.",
    ),
    route(
        Method::GET,
        "/v1/tasks/{id}",
        Some(P::ReadCustomers),
        Endpoint::Task,
        "tasks",
        "A task as it stands: title, owner, the record it concerns, due time, priority, status.",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/tasks",
            Some(P::ReadCustomers),
            Endpoint::Tasks,
            "tasks",
            "Tasks by owner, status, due time and record: a user's open tasks due today, say; a page at a time (`next` is the cursor of the following page).",
        ),
        TASK_QUERY,
    ),
    route(
        Method::GET,
        "/v1/activities/{id}",
        Some(P::ReadCustomers),
        Endpoint::Activity,
        "activities",
        "An activity without its personal fields (subject, body and participants stay in its encrypted history): kind, records, when, duration, direction, outcome, performer, cancellation.",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/activities",
            Some(P::ReadCustomers),
            Endpoint::Activities,
            "activities",
            "The activities logged on a record, newest first, paged by cursor.",
        ),
        ACTIVITY_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/accounts",
            Some(P::ReadCustomers),
            Endpoint::AccountSearch,
            "accounts",
            "The accounts a person may work for, from their work email, the company's domain or its name: each with the domain's and the name's agreement and the verdict (`auto_link` or `review`, as for people), best first.",
        ),
        ACCOUNT_QUERY,
    ),
    route(
        Method::GET,
        "/v1/accounts/{id}",
        Some(P::ReadCustomers),
        Endpoint::Account360,
        "accounts",
        "The account 360: the account, its ancestors and every account below it, its own figures and the roll-up over its hierarchy (contacts, open pipeline, won revenue, open tickets with their SLA state, activity), with the contacts, open deals, open tickets and recent activities of the whole hierarchy.",
    ),
    route(
        Method::GET,
        "/v1/leads/{id}",
        Some(P::ReadCustomers),
        Endpoint::Record(K::Lead),
        "leads",
        "A lead as its history tells it, with its version as ETag.",
    ),
    route(
        Method::GET,
        "/v1/contacts/{id}",
        Some(P::ReadCustomers),
        Endpoint::Record(K::Contact),
        "contacts",
        "A contact as its history tells it, with its version as ETag.",
    ),
    route(
        Method::GET,
        "/v1/opportunities/{id}",
        Some(P::ReadCustomers),
        Endpoint::Record(K::Opportunity),
        "opportunities",
        "A deal as its history tells it, with its version as ETag.",
    ),
    route(
        Method::GET,
        "/v1/tickets/{id}",
        Some(P::ReadCustomers),
        Endpoint::Record(K::Ticket),
        "tickets",
        "A ticket as its history tells it, with its version as ETag.",
    ),
    route(
        Method::GET,
        "/v1/leads/{id}/history",
        Some(P::ReadHistory),
        Endpoint::History(K::Lead),
        "history",
        "Every event of a lead, with its metadata.",
    ),
    route(
        Method::GET,
        "/v1/contacts/{id}/history",
        Some(P::ReadHistory),
        Endpoint::History(K::Contact),
        "history",
        "Every event of a contact, with its metadata.",
    ),
    route(
        Method::GET,
        "/v1/opportunities/{id}/history",
        Some(P::ReadHistory),
        Endpoint::History(K::Opportunity),
        "history",
        "Every event of a deal, with its metadata.",
    ),
    route(
        Method::GET,
        "/v1/tickets/{id}/history",
        Some(P::ReadHistory),
        Endpoint::History(K::Ticket),
        "history",
        "Every event of a ticket, with its metadata.",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/leads/{id}/timeline",
            Some(P::ReadCustomers),
            Endpoint::RecordTimeline(K::Lead),
            "leads",
            "A page of the lead's own timeline, newest first.",
        ),
        TIMELINE_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/contacts/{id}/timeline",
            Some(P::ReadCustomers),
            Endpoint::RecordTimeline(K::Contact),
            "contacts",
            "A page of the contact's own timeline, newest first (the contact alone; `/v1/customers/{id}/timeline` combines a customer's records and merged contacts).",
        ),
        TIMELINE_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/opportunities/{id}/timeline",
            Some(P::ReadCustomers),
            Endpoint::RecordTimeline(K::Opportunity),
            "opportunities",
            "A page of the deal's own timeline, newest first.",
        ),
        TIMELINE_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/tickets/{id}/timeline",
            Some(P::ReadCustomers),
            Endpoint::RecordTimeline(K::Ticket),
            "tickets",
            "A page of the ticket's own timeline, newest first.",
        ),
        TIMELINE_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/customers",
            Some(P::ReadCustomers),
            Endpoint::Search,
            "customers",
            "Finds customers by email, phone or name through the identity index, best first.",
        ),
        SEARCH_QUERY,
    ),
    route(
        Method::GET,
        "/v1/customers/{id}",
        Some(P::ReadCustomers),
        Endpoint::Customer,
        "customers",
        "The Customer 360 of any contact of the customer (merges followed).",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/customers/{id}/timeline",
            Some(P::ReadCustomers),
            Endpoint::Timeline,
            "customers",
            "A page of the customer's timeline, newest first.",
        ),
        TIMELINE_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/duplicates",
            Some(P::ReadCustomers),
            Endpoint::Duplicates,
            "customers",
            "Contact pairs waiting for review, highest score first, a page at a time (`next` is the cursor of the following page); `POST /v1/contacts/{id}/merge` or `declare_not_duplicate` settles one.",
        ),
        DUPLICATES_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/pipeline",
            Some(P::ReadPipeline),
            Endpoint::Pipeline,
            "pipeline",
            "Open deals by stage, owner and currency.",
        ),
        OWNER_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/forecast",
            Some(P::ReadPipeline),
            Endpoint::Forecast,
            "pipeline",
            "The forecast by period and category for dates in [from, to), with the calls made.",
        ),
        FORECAST_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/sla/at-risk",
            Some(P::ReadSla),
            Endpoint::SlaAtRisk,
            "sla",
            "Leads and tickets whose SLA deadline is near, nearest first.",
        ),
        SLA_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/sla/attainment",
            Some(P::ReadSla),
            Endpoint::SlaAttainment,
            "sla",
            "SLA targets met and missed in [from, to), by team, agent or priority.",
        ),
        ATTAINMENT_QUERY,
    ),
    with_query(
        route(
            Method::GET,
            "/v1/sla/breaches",
            Some(P::ReadSla),
            Endpoint::SlaBreaches,
            "sla",
            "Leads and tickets past an SLA deadline, earliest breach first.",
        ),
        SLA_QUERY,
    ),
    with_body(
        route(
            Method::POST,
            "/v1/intake/{source}/leads",
            Some(P::Intake),
            Endpoint::IntakeOne,
            "intake",
            "Keeps one lead delivery in the inbox (a redelivery is accepted once).",
        ),
        "LeadDeliveryRequest",
    ),
    with_body(
        route(
            Method::POST,
            "/v1/intake/{source}/leads/batch",
            Some(P::Intake),
            Endpoint::IntakeBatch,
            "intake",
            "Keeps a batch of lead deliveries in the inbox, all or none.",
        ),
        "LeadBatchRequest",
    ),
    with_query(
        route(
            Method::GET,
            "/v1/events",
            Some(P::ReadCustomers),
            Endpoint::Events,
            "events",
            "The tenant's events as they are recorded, as server-sent events: each names its record, type, version and position (its SSE id), never its content; a client refetches what it shows. Resumes after `Last-Event-ID` or `after`.",
        ),
        EVENTS_QUERY,
    ),
    route(
        Method::GET,
        "/v1/operations/inbox",
        Some(P::ReadOperations),
        Endpoint::InboxHealth,
        "operations",
        "The intake inbox's depth, oldest age and failing items.",
    ),
    route(
        Method::GET,
        "/v1/operations/sync",
        Some(P::ReadOperations),
        Endpoint::SyncStatus,
        "operations",
        "Sync monitoring: per connected system, messages pending, the oldest one's wait, failing, parked, the delivery rate over five minutes, the last delivery, and failures by cause.",
    ),
    route(
        Method::GET,
        "/v1/operations/outbox",
        Some(P::ReadOperations),
        Endpoint::OutboxHealth,
        "operations",
        "The outbox's undelivered and parked messages, and the oldest one's age.",
    ),
];

/// The route of `method` and `path` (as matched, with its `{parameters}`).
pub(crate) fn find(method: &Method, path: &str) -> Option<&'static RouteSpec> {
    ROUTES
        .iter()
        .find(|spec| spec.method == *method && spec.path == path)
}

/// The handler of a route. Routes sharing a path are merged by the router.
pub(crate) fn method_router<B: Backend>(spec: &RouteSpec) -> MethodRouter<Arc<App<B>>> {
    let handler = match spec.endpoint {
        Endpoint::Health => get(reads::health),
        Endpoint::Ready => get(reads::ready::<B>),
        Endpoint::Metrics => get(reads::metrics::<B>),
        Endpoint::OpenApi => get(reads::openapi_document),
        Endpoint::LeadCommand => post(reads::lead_command::<B>),
        Endpoint::ContactCommand => post(reads::contact_command::<B>),
        Endpoint::OpportunityCommand => post(reads::opportunity_command::<B>),
        Endpoint::TicketCommand => post(reads::ticket_command::<B>),
        Endpoint::Erasure => post(reads::erasure::<B>),
        Endpoint::Availability => post(super::roster::availability::<B>),
        Endpoint::Merge => post(super::merges::merge::<B>),
        Endpoint::Outreach => post(super::outreach::outreach::<B>),
        Endpoint::Consent => get(super::outreach::consent::<B>),
        Endpoint::ContactSync => post(super::sync::sync::<B>),
        Endpoint::SyncConflicts => get(super::sync::conflicts::<B>),
        Endpoint::SyncDictionary => get(super::sync::dictionary::<B>),
        Endpoint::ExternalIds => get(super::sync::external_ids::<B>),
        Endpoint::SyncStatus => get(super::sync::sync_status::<B>),
        Endpoint::Unmerge => post(super::merges::unmerge::<B>),
        Endpoint::SubjectAccess => get(reads::subject_access::<B>),
        Endpoint::ActivityCommand => post(super::activities::command::<B>),
        Endpoint::LogActivity => post(super::activities::log::<B>),
        Endpoint::AccountCommand => post(super::accounts::command::<B>),
        Endpoint::TaskCommand => post(super::tasks::command::<B>),
        Endpoint::Events => get(reads::events::<B>),
        Endpoint::RepCommand => post(reads::client_command::<B, RepRequest>),
        Endpoint::TeamCommand => post(reads::client_command::<B, TeamRequest>),
        Endpoint::TerritoryCommand => post(reads::client_command::<B, TerritoryRequest>),
        Endpoint::ForecastCommand => post(reads::client_command::<B, ForecastRequest>),
        Endpoint::Forecast => get(reads::forecast::<B>),
        Endpoint::SlaAtRisk => get(reads::sla_at_risk::<B>),
        Endpoint::SlaAttainment => get(reads::sla_attainment::<B>),
        Endpoint::Record(kind) => {
            get(move |state, principal, path| reads::record::<B>(state, principal, path, kind))
        }
        Endpoint::History(kind) => {
            get(move |state, principal, path| reads::history::<B>(state, principal, path, kind))
        }
        Endpoint::Customer => get(reads::customer::<B>),
        Endpoint::Account360 => get(super::accounts::account_360::<B>),
        Endpoint::AccountSearch => get(super::accounts::search::<B>),
        Endpoint::Task => get(super::engagements::task::<B>),
        Endpoint::Tasks => get(super::engagements::tasks::<B>),
        Endpoint::Activity => get(super::engagements::activity::<B>),
        Endpoint::Activities => get(super::engagements::activities::<B>),
        Endpoint::Timeline => get(reads::timeline::<B>),
        Endpoint::RecordTimeline(kind) => get(move |state, principal, path, params| {
            reads::record_timeline::<B>(state, principal, path, params, kind)
        }),
        Endpoint::Search => get(reads::search::<B>),
        Endpoint::Duplicates => get(reads::duplicates::<B>),
        Endpoint::Pipeline => get(reads::pipeline::<B>),
        Endpoint::SlaBreaches => get(reads::sla_breaches::<B>),
        Endpoint::IntakeOne => post(reads::intake_one::<B>),
        Endpoint::IntakeBatch => post(reads::intake_batch::<B>),
        Endpoint::InboxHealth => get(reads::inbox_health::<B>),
        Endpoint::OutboxHealth => get(reads::outbox_health::<B>),
        Endpoint::AccountReviews => get(super::accounts::reviews::<B>),
        Endpoint::CustomFieldSchema => get(super::custom_fields::schema::<B>),
        Endpoint::PublishCustomFields => post(super::custom_fields::publish::<B>),
        Endpoint::CustomFieldRecords => get(super::custom_fields::records::<B>),
        Endpoint::CustomFieldValues => get(super::custom_fields::values::<B>),
    };
    debug_assert!(spec.method == Method::GET || spec.method == Method::POST);
    handler
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every endpoint, listed by hand: a new one fails to compile in `method_router` until it
    /// is handled, and fails here until it is routed.
    const EVERY_ENDPOINT: &[Endpoint] = &[
        Endpoint::Health,
        Endpoint::Ready,
        Endpoint::Metrics,
        Endpoint::OpenApi,
        Endpoint::LeadCommand,
        Endpoint::ContactCommand,
        Endpoint::OpportunityCommand,
        Endpoint::TicketCommand,
        Endpoint::RepCommand,
        Endpoint::Availability,
        Endpoint::TeamCommand,
        Endpoint::TerritoryCommand,
        Endpoint::ForecastCommand,
        Endpoint::Erasure,
        Endpoint::Merge,
        Endpoint::Unmerge,
        Endpoint::Outreach,
        Endpoint::Consent,
        Endpoint::ContactSync,
        Endpoint::SyncConflicts,
        Endpoint::SyncDictionary,
        Endpoint::ExternalIds,
        Endpoint::SyncStatus,
        Endpoint::SubjectAccess,
        Endpoint::LogActivity,
        Endpoint::ActivityCommand,
        Endpoint::AccountCommand,
        Endpoint::Account360,
        Endpoint::AccountSearch,
        Endpoint::Task,
        Endpoint::Tasks,
        Endpoint::Activity,
        Endpoint::Activities,
        Endpoint::TaskCommand,
        Endpoint::Events,
        Endpoint::Forecast,
        Endpoint::SlaAtRisk,
        Endpoint::SlaAttainment,
        Endpoint::Record(K::Lead),
        Endpoint::Record(K::Contact),
        Endpoint::Record(K::Opportunity),
        Endpoint::Record(K::Ticket),
        Endpoint::History(K::Lead),
        Endpoint::History(K::Contact),
        Endpoint::History(K::Opportunity),
        Endpoint::History(K::Ticket),
        Endpoint::Customer,
        Endpoint::Timeline,
        Endpoint::RecordTimeline(K::Lead),
        Endpoint::RecordTimeline(K::Contact),
        Endpoint::RecordTimeline(K::Opportunity),
        Endpoint::RecordTimeline(K::Ticket),
        Endpoint::Search,
        Endpoint::Duplicates,
        Endpoint::Pipeline,
        Endpoint::SlaBreaches,
        Endpoint::IntakeOne,
        Endpoint::IntakeBatch,
        Endpoint::InboxHealth,
        Endpoint::OutboxHealth,
        Endpoint::AccountReviews,
        Endpoint::CustomFieldSchema,
        Endpoint::PublishCustomFields,
        Endpoint::CustomFieldRecords,
        Endpoint::CustomFieldValues,
    ];

    #[test]
    fn every_endpoint_has_exactly_one_route_and_every_route_one_method_and_path() {
        for endpoint in EVERY_ENDPOINT {
            let routes = ROUTES
                .iter()
                .filter(|spec| spec.endpoint == *endpoint)
                .count();
            assert_eq!(routes, 1, "{endpoint:?} is routed once");
        }
        assert_eq!(ROUTES.len(), EVERY_ENDPOINT.len());
        for (index, spec) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[index + 1..]
                    .iter()
                    .all(|other| other.method != spec.method || other.path != spec.path),
                "{} {} is listed once",
                spec.method,
                spec.path
            );
        }
    }

    #[test]
    fn every_command_route_takes_a_body_and_needs_a_permission() {
        for spec in ROUTES.iter().filter(|spec| spec.method == Method::POST) {
            assert!(spec.request.is_some(), "{} has a body", spec.path);
            assert!(spec.permission.is_some(), "{} is guarded", spec.path);
        }
        for spec in ROUTES.iter().filter(|spec| spec.path.starts_with("/v1/")) {
            assert!(spec.permission.is_some(), "{} is guarded", spec.path);
        }
    }
}
