//! `/openapi.json`: the OpenAPI 3.1 document, built from [`ROUTES`](super::ROUTES) and the
//! request and response types themselves, so it cannot drift from what the server does.

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, Required, ResponseBuilder, ResponsesBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use super::commands::{
    CommandResponse, ContactRequest, LeadRequest, OpportunityRequest, TicketRequest,
};
use super::problem::{PROBLEM_JSON, Problem, ProblemKind};
use super::reads::{
    DeliveryReceipt, ErasureRequestBody, ErasureResponse, FeedEvent, HistoryEntry,
    LeadBatchRequest, LeadDeliveryRequest, QueueHealth, RecordResponse, SearchHit,
    TimelineResponse, TimelineRow,
};
use super::roster::{ForecastRequest, RepRequest, TeamRequest, TerritoryRequest};
use super::routes::{Endpoint, QueryKind, ROUTES, RouteSpec};

fn component<T: ToSchema>(builder: ComponentsBuilder) -> ComponentsBuilder {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    let builder = builder.schema(T::name(), T::schema());
    nested.into_iter().fold(builder, |builder, (name, schema)| {
        builder.schema(name, schema)
    })
}

fn json_ref(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(name)))
        .build()
}

/// What a route answers on success: status, description and schema.
fn success(spec: &RouteSpec) -> (&'static str, &'static str, Option<&'static str>) {
    match spec.endpoint {
        Endpoint::LeadCommand
        | Endpoint::ContactCommand
        | Endpoint::OpportunityCommand
        | Endpoint::TicketCommand
        | Endpoint::RepCommand
        | Endpoint::Availability
        | Endpoint::TeamCommand
        | Endpoint::TerritoryCommand
        | Endpoint::ForecastCommand
        | Endpoint::AccountCommand
        | Endpoint::ActivityCommand
        | Endpoint::TaskCommand => (
            "200",
            "Done: 200, or 201 when the command made the record. The ETag is its new version.",
            Some("CommandResponse"),
        ),
        Endpoint::Record(_) => (
            "200",
            "The record; the ETag is its version.",
            Some("RecordResponse"),
        ),
        Endpoint::PublishCustomFields => (
            "200",
            "Published: 200, or 201 for the first version. The ETag is the settings' version.",
            Some("CommandResponse"),
        ),
        Endpoint::CustomFieldSchema => (
            "200",
            "The schema; the ETag is the settings' version.",
            Some("SchemaResponse"),
        ),
        Endpoint::CustomFieldValues => {
            ("200", "The record's values.", Some("CustomValuesResponse"))
        }
        Endpoint::CustomFieldRecords => {
            ("200", "A page of records.", Some("CustomRecordsResponse"))
        }
        Endpoint::Erasure => ("200", "Erased everywhere.", Some("ErasureResponse")),
        Endpoint::Merge | Endpoint::Unmerge => {
            ("200", "Done (or done already).", Some("MergeResponse"))
        }
        Endpoint::Consent => ("200", "The verdict.", Some("ConsentAnswer")),
        Endpoint::ContactSync => (
            "200",
            "Judged: the events recorded (none when nothing changed); the ETag is the contact's version.",
            Some("CommandResponse"),
        ),
        Endpoint::SyncConflicts => ("200", "A page of the queue.", Some("ConflictQueuePage")),
        Endpoint::SyncDictionary => ("200", "The dictionary.", Some("DictionaryResponse")),
        Endpoint::ExternalIds => ("200", "The contacts holding it.", Some("ExternalIdMatches")),
        Endpoint::SyncStatus => ("200", "Every destination.", Some("SyncStatus")),
        Endpoint::Outreach => (
            "201",
            "Sent: 201, or 200 when an earlier request had sent it.",
            Some("OutreachResponse"),
        ),
        Endpoint::Duplicates => ("200", "A page of the queue.", Some("DuplicatesPage")),
        Endpoint::Tasks => ("200", "A page of tasks.", Some("TaskPage")),
        Endpoint::SlaBreaches | Endpoint::SlaAtRisk => {
            ("200", "A page of items.", Some("SlaListPage"))
        }
        Endpoint::AccountReviews => ("200", "A page of the queue.", Some("AccountReviewPage")),
        Endpoint::LogActivity => (
            "201",
            "Logged: 201, or 200 when an earlier request had logged it.",
            Some("ActivityResponse"),
        ),
        Endpoint::SubjectAccess => (
            "200",
            "Everything held about the person, as one JSON document.",
            None,
        ),
        Endpoint::Events => ("200", "A `text/event-stream` of `FeedEvent`s.", None),
        Endpoint::History(_) => (
            "200",
            "Every event of the record, oldest first.",
            Some("HistoryEntry"),
        ),
        Endpoint::Timeline | Endpoint::RecordTimeline(_) => {
            ("200", "A page of the timeline.", Some("TimelineResponse"))
        }
        Endpoint::Search => ("200", "The customers found, best first.", Some("SearchHit")),
        Endpoint::IntakeOne => ("202", "Kept (or kept before).", Some("DeliveryReceipt")),
        Endpoint::IntakeBatch => (
            "202",
            "Every delivery kept (or kept before).",
            Some("DeliveryReceipt"),
        ),
        Endpoint::InboxHealth | Endpoint::OutboxHealth => {
            ("200", "How the queue stands.", Some("QueueHealth"))
        }
        Endpoint::Health
        | Endpoint::Ready
        | Endpoint::Metrics
        | Endpoint::OpenApi
        | Endpoint::Customer
        | Endpoint::Account360
        | Endpoint::AccountSearch
        | Endpoint::Task
        | Endpoint::Activity
        | Endpoint::Activities
        | Endpoint::Pipeline
        | Endpoint::Forecast
        | Endpoint::SlaAttainment => ("200", "The answer.", None),
    }
}

/// The problems a route may answer with, besides its own success.
fn problems(spec: &RouteSpec) -> Vec<ProblemKind> {
    let mut kinds = Vec::new();
    if spec.permission.is_some() {
        kinds.extend([
            ProblemKind::Unauthorized,
            ProblemKind::Forbidden,
            ProblemKind::RateLimited,
            ProblemKind::Unavailable,
        ]);
    }
    if spec.path.contains('{') || !spec.query.is_empty() {
        kinds.push(ProblemKind::InvalidParameter);
    }
    if spec.request.is_some() {
        kinds.extend([
            ProblemKind::InvalidBody,
            ProblemKind::UnsupportedMediaType,
            ProblemKind::PayloadTooLarge,
        ]);
    }
    match spec.endpoint {
        Endpoint::LeadCommand
        | Endpoint::ContactCommand
        | Endpoint::OpportunityCommand
        | Endpoint::TicketCommand
        | Endpoint::RepCommand
        | Endpoint::Availability
        | Endpoint::TeamCommand
        | Endpoint::TerritoryCommand
        | Endpoint::ForecastCommand => kinds.extend([
            ProblemKind::CommandRejected,
            ProblemKind::VersionMismatch,
            ProblemKind::PreconditionRequired,
            ProblemKind::IdempotencyConflict,
        ]),
        Endpoint::Record(_) | Endpoint::History(_) | Endpoint::Customer => {
            kinds.push(ProblemKind::NotFound);
        }
        Endpoint::Erasure | Endpoint::Outreach | Endpoint::Consent => {
            kinds.extend([ProblemKind::NotFound, ProblemKind::CommandRejected]);
        }
        Endpoint::Merge | Endpoint::Unmerge => kinds.extend([
            ProblemKind::NotFound,
            ProblemKind::CommandRejected,
            ProblemKind::VersionMismatch,
            ProblemKind::PreconditionRequired,
            ProblemKind::IdempotencyConflict,
        ]),
        Endpoint::PublishCustomFields => kinds.extend([
            ProblemKind::CommandRejected,
            ProblemKind::VersionMismatch,
            ProblemKind::IdempotencyConflict,
        ]),
        Endpoint::CustomFieldValues => kinds.push(ProblemKind::NotFound),
        Endpoint::ContactSync => kinds.extend([
            ProblemKind::CommandRejected,
            ProblemKind::Conflict,
            ProblemKind::IdempotencyConflict,
        ]),
        Endpoint::IntakeOne | Endpoint::IntakeBatch => kinds.push(ProblemKind::DeliveryRefused),
        _ => {}
    }
    kinds
}

fn query_schema(kind: QueryKind) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let format = |known| Some(SchemaFormat::KnownFormat(known));
    match kind {
        QueryKind::Text => String::schema(),
        QueryKind::Uuid => uuid_schema(),
        QueryKind::Int { min, max } => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min))
            .maximum(Some(max))
            .into(),
        QueryKind::Date => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(format(KnownFormat::Date))
            .into(),
        QueryKind::DateTime => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(format(KnownFormat::DateTime))
            .into(),
        QueryKind::OneOf(words) => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(words.iter().copied()))
            .into(),
    }
}

/// An optional request header.
fn header_param(name: &str, description: &str) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(String::schema()))
}

fn uuid_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}

/// The document, as JSON.
///
/// A command's fields are refused when unknown, but the document leaves that unsaid for the
/// structs a command names with its `command` tag: JSON Schema's `additionalProperties`
/// cannot see the tag beside them in an `allOf`, so saying it would make every command
/// unsatisfiable.
pub fn openapi() -> serde_json::Value {
    let mut document = serde_json::to_value(document()).unwrap_or_default();
    let mut tagged = Vec::new();
    collect_all_of_refs(&document, &mut tagged);
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    {
        for name in tagged {
            if let Some(schema) = schemas
                .get_mut(&name)
                .and_then(serde_json::Value::as_object_mut)
            {
                schema.remove("additionalProperties");
            }
        }
    }
    document
}

fn collect_all_of_refs(value: &serde_json::Value, names: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(parts)) = map.get("allOf") {
                for part in parts {
                    if let Some(name) = part
                        .get("$ref")
                        .and_then(serde_json::Value::as_str)
                        .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
                    {
                        names.push(name.to_owned());
                    }
                }
            }
            for inner in map.values() {
                collect_all_of_refs(inner, names);
            }
        }
        serde_json::Value::Array(items) => {
            for inner in items {
                collect_all_of_refs(inner, names);
            }
        }
        _ => {}
    }
}

fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for spec in ROUTES {
        let mut operation = OperationBuilder::new()
            .summary(Some(spec.summary))
            .tag(spec.tag)
            .operation_id(Some(format!(
                "{}{}",
                spec.method.as_str().to_lowercase(),
                spec.path.replace(['/', '{', '}', '.'], "_")
            )));
        let mut name = String::new();
        let mut in_name = false;
        for c in spec.path.chars() {
            match c {
                '{' => {
                    in_name = true;
                    name.clear();
                }
                '}' => {
                    in_name = false;
                    let schema = if name == "id" {
                        uuid_schema()
                    } else {
                        String::schema()
                    };
                    operation = operation.parameter(
                        ParameterBuilder::new()
                            .name(name.clone())
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .schema(Some(schema)),
                    );
                }
                c if in_name => name.push(c),
                _ => {}
            }
        }
        for param in spec.query {
            let required = matches!(param.kind, QueryKind::Date | QueryKind::DateTime);
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(param.name)
                    .parameter_in(ParameterIn::Query)
                    .required(if required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(param.description))
                    .schema(Some(query_schema(param.kind))),
            );
        }
        if spec.request.is_some() && spec.method == axum::http::Method::POST {
            operation = operation.parameter(header_param(
                "Idempotency-Key",
                "A retry with the same key returns the first response.",
            ));
        }
        if spec.path.ends_with("/commands") {
            operation = operation.parameter(header_param(
                "If-Match",
                "The record's ETag: the command is decided only at that version.",
            ));
        }
        if let Some(request) = spec.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_ref(request))
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        let (status, description, schema) = success(spec);
        let mut ok = ResponseBuilder::new().description(description);
        if let Some(schema) = schema {
            ok = ok.content("application/json", json_ref(schema));
        }
        let ok = ok.build();
        let mut responses = ResponsesBuilder::new().response(status, ok.clone());
        if spec.path.ends_with("/commands") {
            responses = responses.response("201", ok);
        }
        for kind in problems(spec) {
            responses = responses.response(
                kind.status().as_u16().to_string(),
                ResponseBuilder::new()
                    .description(format!("{} ({})", kind.title(), kind.type_uri()))
                    .content(PROBLEM_JSON, json_ref("Problem"))
                    .build(),
            );
        }
        operation = operation.responses(responses.build());
        if spec.permission.is_some() {
            operation =
                operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        let method = if spec.method == axum::http::Method::POST {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        };
        paths = paths.path(spec.path, PathItem::new(method, operation.build()));
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components = component::<Problem>(components);
    components = component::<CommandResponse>(components);
    components = component::<LeadRequest>(components);
    components = component::<ContactRequest>(components);
    components = component::<OpportunityRequest>(components);
    components = component::<TicketRequest>(components);
    components = component::<RepRequest>(components);
    components = component::<TeamRequest>(components);
    components = component::<TerritoryRequest>(components);
    components = component::<ForecastRequest>(components);
    components = component::<RecordResponse>(components);
    components = component::<HistoryEntry>(components);
    components = component::<TimelineResponse>(components);
    components = component::<TimelineRow>(components);
    components = component::<super::roster::AvailabilityRequest>(components);
    components = component::<super::reads::DuplicatesPage>(components);
    components = component::<super::reads::SlaListPage>(components);
    components = component::<super::engagements::TaskPage>(components);
    components = component::<super::accounts::AccountReviewPage>(components);
    components = component::<super::merges::MergeBody>(components);
    components = component::<super::merges::UnmergeBody>(components);
    components = component::<super::merges::MergeResponse>(components);
    components = component::<super::outreach::OutreachBody>(components);
    components = component::<super::outreach::OutreachResponse>(components);
    components = component::<super::outreach::ConsentAnswer>(components);
    components = component::<super::sync::ConflictQueuePage>(components);
    components = component::<super::sync::DictionaryResponse>(components);
    components = component::<super::sync::ExternalIdMatches>(components);
    components = component::<super::sync::SyncStatus>(components);
    components = component::<super::sync::DestinationStatus>(components);
    components = component::<super::commands::ExternalIdBody>(components);
    components = component::<SearchHit>(components);
    components = component::<LeadDeliveryRequest>(components);
    components = component::<LeadBatchRequest>(components);
    components = component::<DeliveryReceipt>(components);
    components = component::<QueueHealth>(components);
    components = component::<ErasureRequestBody>(components);
    components = component::<ErasureResponse>(components);
    components = component::<super::accounts::AccountRequest>(components);
    components = component::<super::tasks::TaskRequest>(components);
    components = component::<super::accounts::AccountAddressBody>(components);
    components = component::<super::activities::ActivityRequest>(components);
    components = component::<super::activities::ActivityCommandRequest>(components);
    components = component::<super::activities::ActivityRecord>(components);
    components = component::<super::activities::ActivityParticipant>(components);
    components = component::<super::activities::ActivityResponse>(components);
    components = component::<super::activities::NotCounted>(components);
    components = component::<FeedEvent>(components);
    components = component::<super::custom_fields::PublishSchemaRequest>(components);
    components = component::<super::custom_fields::SchemaResponse>(components);
    components = component::<super::custom_fields::CustomValuesResponse>(components);
    components = component::<super::custom_fields::CustomRecordsResponse>(components);
    components = component::<super::commands::CustomFieldValues>(components);
    components = component::<super::commands::ContactDetails>(components);
    components = component::<super::commands::FieldConflictDecision>(components);
    components = component::<super::problem::FieldProblemBody>(components);
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("crm-core")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The HTTP API of crm-core. Errors are RFC 9457 problem documents.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_and_every_schema_it_names_exists() {
        let document = openapi();
        assert_eq!(document["openapi"], "3.1.0");
        for spec in ROUTES {
            let method = spec.method.as_str().to_lowercase();
            assert!(
                document["paths"][spec.path][&method].is_object(),
                "{method} {} is documented",
                spec.path
            );
        }
        let text = document.to_string();
        let schemas = &document["components"]["schemas"];
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(schemas[name].is_object(), "schema {name} exists");
        }
    }
}
