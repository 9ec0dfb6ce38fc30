//! `POST /v1/contacts/{id}/merge` and `/unmerge`: a data steward's answer to the duplicate
//! review queue, through [`crate::merging`] (two streams, one request, safe to send again).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm_domain::ContactId;
use crm_domain::contact::{ContactError, FieldChoice, MergePolicy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{Body, etag, idempotency_key, if_match};
use super::problem::{Problem, ProblemKind};
use super::reads::Id;
use super::{App, Principal};
use crate::CommandMeta;
use crate::backend::Backend;
use crate::error::CommandError;
use crate::merging::{MergeOutcome, MergeRequest, merge_contacts, unmerge_contacts};

/// A merge of another contact into the one of the path (the survivor).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The duplicate to absorb.
    pub absorbed: Uuid,
    /// `survivor_first` (the default: the survivor's values win, the duplicate fills the
    /// gaps) or `newest_value` (per field, the value its source changed last).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub policy: Option<MergePolicy>,
    /// Choices for single fields, overriding the policy: `{"field": "family_name", "keep":
    /// "absorbed"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub choices: Vec<FieldChoice>,
}

/// The contact to give back from the survivor of the path.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeBody {
    /// The contact merged into the survivor earlier.
    pub absorbed: Uuid,
}

/// What a merge or an unmerge did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MergeResponse {
    /// The survivor.
    pub survivor: Uuid,
    /// The other contact.
    pub absorbed: Uuid,
    /// The survivor's version after it (also the `ETag`).
    pub version: u64,
    /// Whether anything was recorded now (`false`: done already, by this request before).
    pub changed: bool,
}

/// The command meta of a merge or unmerge request: the caller, its `Idempotency-Key` (the
/// request's steps derive their ids and keys from it, so sending it again finishes what an
/// interrupted attempt left) and the survivor's `If-Match`, which is required.
fn request_meta(principal: &Principal, headers: &HeaderMap) -> Result<CommandMeta, Problem> {
    let expected = if_match(headers)?.ok_or_else(|| {
        Problem::new(
            ProblemKind::PreconditionRequired,
            "send If-Match with the survivor's version the merge was decided on (its ETag)",
        )
    })?;
    let mut meta = CommandMeta::by(principal.actor.clone()).with_expected_version(expected);
    if let Some(key) = idempotency_key(headers)? {
        let key = format!("http/{}/{key}", principal.key_prefix());
        meta = meta
            .with_command_id(crate::derive_id(crate::http::MERGE_NAMESPACE, &key))
            .with_idempotency_key(key);
    }
    Ok(meta)
}

fn answer(
    outcome: Result<MergeOutcome, CommandError<ContactError>>,
    survivor: Uuid,
    absorbed: Uuid,
) -> Response {
    match outcome {
        Ok(outcome) => {
            let body = MergeResponse {
                survivor,
                absorbed,
                version: outcome.survivor_version,
                changed: outcome.changed,
            };
            let mut response = (StatusCode::OK, axum::Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&etag(outcome.survivor_version)) {
                response.headers_mut().insert(header::ETAG, value);
            }
            response
        }
        Err(error) if matches!(error.rejection(), Some(ContactError::NotFound)) => Problem::new(
            ProblemKind::NotFound,
            format!("no such contact: {survivor} or {absorbed}"),
        )
        .into_response(),
        Err(error) => Problem::of_command(&error).into_response(),
    }
}

/// `POST /v1/contacts/{id}/merge`.
pub(crate) async fn merge<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
    headers: HeaderMap,
    Body(body): Body<MergeBody>,
) -> Response {
    let (Id(survivor), meta) = match (id, request_meta(&principal, &headers)) {
        (Ok(id), Ok(meta)) => (id, meta),
        (Err(problem), _) | (_, Err(problem)) => return problem.into_response(),
    };
    let request = MergeRequest {
        survivor: ContactId(survivor),
        absorbed: ContactId(body.absorbed),
        policy: body.policy.unwrap_or(MergePolicy::SurvivorFirst),
        choices: body.choices,
    };
    let outcome = merge_contacts(&app.service, &principal.tenant, &request, &meta).await;
    answer(outcome, survivor, body.absorbed)
}

/// `POST /v1/contacts/{id}/unmerge`.
pub(crate) async fn unmerge<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
    headers: HeaderMap,
    Body(body): Body<UnmergeBody>,
) -> Response {
    let (Id(survivor), meta) = match (id, request_meta(&principal, &headers)) {
        (Ok(id), Ok(meta)) => (id, meta),
        (Err(problem), _) | (_, Err(problem)) => return problem.into_response(),
    };
    let outcome = unmerge_contacts(
        &app.service,
        &principal.tenant,
        ContactId(survivor),
        ContactId(body.absorbed),
        &meta,
    )
    .await;
    answer(outcome, survivor, body.absorbed)
}
