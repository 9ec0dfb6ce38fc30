//! Custom fields over HTTP: an entity's schema (`GET`, and `POST` to publish a version), one
//! record's values as the current schema shows them, and the records of a kind found by their
//! values.
//!
//! Values are set by each record's own commands (`set_custom_fields`, or `custom_fields` on a
//! create); see [`crate::custom_fields`].

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use crm_domain::custom_fields::{
    CustomFieldSchema, CustomFieldSettings, CustomFieldSettingsCommand, EntityKind,
    FieldDefinition, FilterRequest, SchemaDraft, SchemaVersion, StoredValue, ValidationRule,
};
use crm_projections::DocumentStore as _;
use crm_projections::custom_fields::{CustomRecord, CustomValuesLookup, RecordsWhere};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{Body, etag};
use super::commands::execute;
use super::problem::{Problem, ProblemKind};
use super::reads::{Params, limit, storage_problem};
use super::{App, Principal};
use crate::backend::Backend;

type AppState<B> = State<Arc<App<B>>>;
type Caller = Extension<Principal>;

/// The kinds of record custom fields are declared on, as paths name them.
pub(crate) const ENTITIES: &[&str] = &[
    "lead",
    "contact",
    "account",
    "opportunity",
    "ticket",
    "activity",
    "task",
];

fn entity_of(text: &str) -> Result<EntityKind, Problem> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        Problem::new(
            ProblemKind::InvalidParameter,
            format!(
                "{text:?} is not a kind of record with custom fields: one of {}",
                ENTITIES.join(", ")
            ),
        )
        .with_code("entity")
    })
}

/// A schema version to publish for the path's entity.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishSchemaRequest {
    /// The version: 1 for the first, then above the current one. Publishing the current
    /// version again records nothing.
    pub version: u32,
    /// The fields, in the order forms show them: `{"key", "label", "type": {"kind": "text" |
    /// "number" | "money" | "date" | "boolean" | "single_pick" | "multi_pick" | "lookup", …},
    /// "required", "help", "owner", "deprecated"}`. Fields and options are deprecated or
    /// retired, never removed; a type never changes.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<FieldDefinition>,
    /// The validation rules, each `{"rule": "required" | "required_when" | "range" |
    /// "pattern" | "transitions" | "compare", …}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<ValidationRule>,
}

/// An entity's current schema.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchemaResponse {
    /// The kind of record.
    pub entity: String,
    /// The version (0 when none was published: no custom fields).
    pub version: u32,
    /// The fields, in the order forms show them.
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<FieldDefinition>,
    /// The validation rules.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<ValidationRule>,
}

impl SchemaResponse {
    fn of(schema: &CustomFieldSchema) -> Self {
        let draft = schema.draft();
        Self {
            entity: draft.entity.as_str().to_owned(),
            version: draft.version.0,
            fields: draft.fields.clone(),
            rules: draft.rules.clone(),
        }
    }
}

/// One record's custom field values as the current schema shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomValuesResponse {
    /// The kind of record.
    pub entity: String,
    /// The record.
    pub id: Uuid,
    /// The values, declared fields first in form order: each with its label, the value as
    /// recorded, a text for people and its status (`current`, `deprecated_field`,
    /// `retired_option`, …).
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<StoredValue>,
    /// The schema version the last change was decided under.
    pub changed_under: u32,
    /// When the values last changed.
    pub updated_at: DateTime<Utc>,
    /// Whether the values were dropped because the person they are about was erased.
    pub erased: bool,
}

impl CustomValuesResponse {
    fn of(record: &CustomRecord, schema: &CustomFieldSchema) -> Self {
        Self {
            entity: record.entity.as_str().to_owned(),
            id: record.id,
            values: schema.read_stored(&record.values),
            changed_under: record.schema_version.0,
            updated_at: record.updated_at,
            erased: record.erased,
        }
    }
}

/// A page of records found by their values.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomRecordsResponse {
    /// The records, in id order.
    pub items: Vec<CustomValuesResponse>,
    /// The `after` of the next page; absent on the last.
    pub next: Option<Uuid>,
}

async fn schema_of<B: Backend>(
    app: &App<B>,
    principal: &Principal,
    entity: EntityKind,
) -> Result<(Arc<CustomFieldSchema>, u64), Problem> {
    crate::custom_fields::current_schema(&app.service, &principal.tenant, entity)
        .await
        .map_err(|error| Problem::of_command(&error))
}

/// `GET /v1/custom-fields/{entity}`: the current schema; the `ETag` is the settings' version
/// (send it as `If-Match` when publishing the next one).
pub(crate) async fn schema<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Path(entity): Path<String>,
) -> Response {
    let result = async {
        let entity = entity_of(&entity)?;
        schema_of(&app, &principal, entity).await
    }
    .await;
    match result {
        Ok((schema, version)) => {
            let mut response = axum::Json(SchemaResponse::of(&schema)).into_response();
            if let Ok(value) = axum::http::HeaderValue::from_str(&etag(version)) {
                response
                    .headers_mut()
                    .insert(axum::http::header::ETAG, value);
            }
            response
        }
        Err(problem) => problem.into_response(),
    }
}

/// `POST /v1/custom-fields/{entity}`: publishes a schema version (admins only). Refused, with
/// every problem, when it is invalid or does not evolve the current version.
pub(crate) async fn publish<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Path(entity): Path<String>,
    headers: HeaderMap,
    Body(request): Body<PublishSchemaRequest>,
) -> Response {
    let entity = match entity_of(&entity) {
        Ok(entity) => entity,
        Err(problem) => return problem.into_response(),
    };
    let draft = SchemaDraft {
        entity,
        version: SchemaVersion(request.version),
        fields: request.fields,
        rules: request.rules,
    };
    execute::<CustomFieldSettings>(
        &app,
        &principal,
        &headers,
        CustomFieldSettings::id_of(entity),
        CustomFieldSettingsCommand::Publish { schema: draft },
        false,
    )
    .await
}

/// `GET /v1/custom-fields/{entity}/records/{id}`: one record's values.
pub(crate) async fn values<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Path((entity, id)): Path<(String, String)>,
) -> Response {
    let result = async {
        let entity = entity_of(&entity)?;
        let id = Uuid::parse_str(&id).map_err(|_| {
            Problem::new(
                ProblemKind::InvalidParameter,
                format!("{id:?} is not an id (a UUID)"),
            )
        })?;
        let (schema, _) = schema_of(&app, &principal, entity).await?;
        let record = app
            .reads
            .custom_fields
            .lookup(&principal.tenant, &CustomValuesLookup { record: id })
            .await
            .map_err(|error| storage_problem(&error))?
            .filter(|record| record.entity == entity)
            .ok_or_else(|| {
                Problem::new(
                    ProblemKind::NotFound,
                    format!("no custom field values of {} {id}", entity.as_str()),
                )
            })?;
        Ok::<_, Problem>(CustomValuesResponse::of(&record, &schema))
    }
    .await;
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// The record search's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordsParams {
    filter: Option<String>,
    after: Option<Uuid>,
    limit: Option<usize>,
}

/// `GET /v1/custom-fields/{entity}/records?filter=&after=&limit=`: the records of a kind
/// whose values match every filter (a JSON array of `{"op": "equals" | "in" | "range" |
/// "is_set" | "contains", "field": …, …}`), in id order. A page may hold fewer than `limit`
/// records and still name a `next` when a rare filter needed more reading than one page does.
pub(crate) async fn records<B: Backend>(
    State(app): AppState<B>,
    Extension(principal): Caller,
    Path(entity): Path<String>,
    params: Result<Params<RecordsParams>, Problem>,
) -> Response {
    let result = async {
        let entity = entity_of(&entity)?;
        let Params(params) = params?;
        let limit = limit(params.limit, 50, 500)?;
        let requests: Vec<FilterRequest> = match params.filter.as_deref() {
            None => Vec::new(),
            Some(text) => serde_json::from_str(text).map_err(|error| {
                Problem::new(
                    ProblemKind::InvalidParameter,
                    format!("filter: a JSON array of filters: {error}"),
                )
                .with_code("filter")
            })?,
        };
        let (schema, _) = schema_of(&app, &principal, entity).await?;
        let filters = requests
            .iter()
            .map(|request| schema.filter(request))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                Problem::new(ProblemKind::InvalidParameter, format!("filter: {error}"))
                    .with_code("filter")
            })?;
        let page = RecordsWhere::new(entity, filters, limit)
            .after(params.after)
            .run(&*app.reads.custom_fields, &principal.tenant)
            .await
            .map_err(|error| storage_problem(&error))?;
        Ok::<_, Problem>(CustomRecordsResponse {
            items: page
                .items
                .iter()
                .map(|record| CustomValuesResponse::of(record, &schema))
                .collect(),
            next: page.next,
        })
    }
    .await;
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(problem) => problem.into_response(),
    }
}
