//! Errors as RFC 9457 problem details: a stable `type` per kind of error, the HTTP status, a
//! human title and detail, and extension members a client can act on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm_domain::custom_fields::CustomFieldsRefused;
use crm_domain::sync::{SyncRefusal, SyncRefusals};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::CommandError;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every kind of problem the API answers with; its slug is the stable part of the `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// No token, or one the server does not know.
    Unauthorized,
    /// The token's role may not use the route.
    Forbidden,
    /// No such route or record.
    NotFound,
    /// The route does not take this method.
    MethodNotAllowed,
    /// The body is not JSON, or not the JSON the route takes (unknown field, wrong type).
    InvalidBody,
    /// A path or query parameter is malformed (a bad id, a bad cursor).
    InvalidParameter,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The token spent its request budget; `Retry-After` says when to come back.
    RateLimited,
    /// `If-Match` names a version the record is no longer (or not yet) at.
    VersionMismatch,
    /// The command changes a record that exists, and needs `If-Match`.
    PreconditionRequired,
    /// The `Idempotency-Key` was first used for another request.
    IdempotencyConflict,
    /// The domain refused the command (a business rule); `code` names the rule.
    CommandRejected,
    /// The record kept changing under concurrent writers; the same request may be sent again.
    Conflict,
    /// The delivery cannot be kept (empty ids, too deep or too large a payload).
    DeliveryRefused,
    /// The record's stream holds an event this build cannot read.
    Unreadable,
    /// The database is unreachable or busy; the same request may be sent again.
    Unavailable,
    /// A defect of the server.
    Internal,
}

impl ProblemKind {
    /// Every kind, for the documentation.
    pub const ALL: [ProblemKind; 18] = [
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::InvalidBody,
        ProblemKind::InvalidParameter,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::PayloadTooLarge,
        ProblemKind::RateLimited,
        ProblemKind::VersionMismatch,
        ProblemKind::PreconditionRequired,
        ProblemKind::IdempotencyConflict,
        ProblemKind::CommandRejected,
        ProblemKind::Conflict,
        ProblemKind::DeliveryRefused,
        ProblemKind::Unreadable,
        ProblemKind::Unavailable,
        ProblemKind::Internal,
    ];

    /// The stable slug (the last segment of the `type` URI).
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::InvalidBody => "invalid-body",
            ProblemKind::InvalidParameter => "invalid-parameter",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::VersionMismatch => "version-mismatch",
            ProblemKind::PreconditionRequired => "precondition-required",
            ProblemKind::IdempotencyConflict => "idempotency-conflict",
            ProblemKind::CommandRejected => "command-rejected",
            ProblemKind::Conflict => "conflict",
            ProblemKind::DeliveryRefused => "delivery-refused",
            ProblemKind::Unreadable => "unreadable-record",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Internal => "internal",
        }
    }

    /// The `type` URI: a relative reference (`/problems/<slug>`), resolved against the
    /// server's address.
    pub fn type_uri(self) -> &'static str {
        match self {
            ProblemKind::Unauthorized => "/problems/unauthorized",
            ProblemKind::Forbidden => "/problems/forbidden",
            ProblemKind::NotFound => "/problems/not-found",
            ProblemKind::MethodNotAllowed => "/problems/method-not-allowed",
            ProblemKind::InvalidBody => "/problems/invalid-body",
            ProblemKind::InvalidParameter => "/problems/invalid-parameter",
            ProblemKind::UnsupportedMediaType => "/problems/unsupported-media-type",
            ProblemKind::PayloadTooLarge => "/problems/payload-too-large",
            ProblemKind::RateLimited => "/problems/rate-limited",
            ProblemKind::VersionMismatch => "/problems/version-mismatch",
            ProblemKind::PreconditionRequired => "/problems/precondition-required",
            ProblemKind::IdempotencyConflict => "/problems/idempotency-conflict",
            ProblemKind::CommandRejected => "/problems/command-rejected",
            ProblemKind::Conflict => "/problems/conflict",
            ProblemKind::DeliveryRefused => "/problems/delivery-refused",
            ProblemKind::Unreadable => "/problems/unreadable-record",
            ProblemKind::Unavailable => "/problems/unavailable",
            ProblemKind::Internal => "/problems/internal",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::InvalidBody | ProblemKind::DeliveryRefused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ProblemKind::InvalidParameter => StatusCode::BAD_REQUEST,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::VersionMismatch => StatusCode::PRECONDITION_FAILED,
            ProblemKind::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ProblemKind::IdempotencyConflict
            | ProblemKind::CommandRejected
            | ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::Unreadable | ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The short title, the same for every problem of the kind.
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::Unauthorized => "A valid bearer token is needed",
            ProblemKind::Forbidden => "The token's role may not do this",
            ProblemKind::NotFound => "Nothing is here",
            ProblemKind::MethodNotAllowed => "The route does not take this method",
            ProblemKind::InvalidBody => "The request body is not what the route takes",
            ProblemKind::InvalidParameter => "A parameter is malformed",
            ProblemKind::UnsupportedMediaType => "The body must be application/json",
            ProblemKind::PayloadTooLarge => "The body is too large",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::VersionMismatch => "The record is not at the version named by If-Match",
            ProblemKind::PreconditionRequired => "This command needs If-Match",
            ProblemKind::IdempotencyConflict => {
                "The Idempotency-Key was first used for another request"
            }
            ProblemKind::CommandRejected => "The command was refused",
            ProblemKind::Conflict => "The record kept changing; send the request again",
            ProblemKind::DeliveryRefused => "The delivery cannot be kept",
            ProblemKind::Unreadable => "The record holds an event this server cannot read",
            ProblemKind::Unavailable => "The store is unavailable; send the request again",
            ProblemKind::Internal => "The server failed",
        }
    }
}

/// A problem document (RFC 9457).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// The kind of problem, a URI reference stable per kind (`/problems/<slug>`).
    #[serde(rename = "type")]
    pub type_uri: &'static str,
    /// The kind's title.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The rule a refusal broke, or the field a body error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Box<str>>,
    /// The version a stale `If-Match` should have named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    /// For a spent budget: seconds until the next request is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For custom field values refused: every problem, each naming its field. (Boxed: a
    /// problem travels in every `Result` of the handlers and stays small.)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldProblemBody>>)]
    pub errors: Option<Box<Vec<FieldProblemBody>>>,
    #[serde(skip)]
    #[schema(ignore)]
    kind: Option<ProblemKind>,
}

impl Problem {
    /// A body that parsed but does not hold what the route takes (422), saying why.
    pub(crate) fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::InvalidBody, detail)
    }

    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            type_uri: kind.type_uri(),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            code: None,
            current_version: None,
            retry_after: None,
            errors: None,
            kind: Some(kind),
        }
    }

    /// The same, naming `code`.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into().into_boxed_str());
        self
    }

    /// The kind of problem.
    pub fn kind(&self) -> Option<ProblemKind> {
        self.kind
    }

    /// The problem a failed command answers with.
    pub fn of_command<E: std::error::Error>(error: &CommandError<E>) -> Self {
        match error {
            CommandError::Rejected(refusal) => {
                if let Some(refused) = std::error::Error::source(refusal)
                    .and_then(|source| source.downcast_ref::<CustomFieldsRefused>())
                {
                    return Problem::of_custom_fields(refused);
                }
                if let Some(refused) = std::error::Error::source(refusal)
                    .and_then(|source| source.downcast_ref::<SyncRefusals>())
                {
                    return Problem::of_sync_refusals(refused);
                }
                Problem::new(ProblemKind::CommandRejected, refusal.to_string())
                    .with_code(variant_code(refusal))
            }
            CommandError::StaleVersion { actual, .. } => {
                let mut problem = Problem::new(ProblemKind::VersionMismatch, error.to_string());
                problem.current_version = Some(*actual);
                problem
            }
            CommandError::IdempotencyConflict { .. } => {
                Problem::new(ProblemKind::IdempotencyConflict, error.to_string())
            }
            CommandError::Conflict { .. } => Problem::new(ProblemKind::Conflict, error.to_string()),
            CommandError::UnreadableStream { .. } => {
                Problem::new(ProblemKind::Unreadable, error.to_string())
            }
            CommandError::Codec(_) => Problem::new(ProblemKind::InvalidBody, error.to_string()),
            CommandError::PersonalData(_) if !error.is_retryable() => {
                Problem::new(ProblemKind::CommandRejected, error.to_string())
                    .with_code("personal-data-erased")
            }
            CommandError::PersonalData(_) | CommandError::Work(_) if error.is_retryable() => {
                Problem::new(ProblemKind::Unavailable, error.to_string())
            }
            CommandError::PersonalData(_) | CommandError::Work(_) => {
                tracing::error!(%error, "a command failed");
                Problem::new(
                    ProblemKind::Internal,
                    "the command failed; see the server's log",
                )
            }
        }
    }
}

impl Problem {
    /// A sync update the data dictionary refuses (409, code `sync-refused`), every field in
    /// `errors` (`rule`: `not-owner`).
    pub(crate) fn of_sync_refusals(refused: &SyncRefusals) -> Self {
        let mut problem = Problem::new(
            ProblemKind::CommandRejected,
            format!("the update was refused: {refused}"),
        )
        .with_code("sync-refused");
        problem.errors = Some(Box::new(
            refused
                .0
                .iter()
                .map(|refusal| match refusal {
                    SyncRefusal::NotOwner { field, .. } => FieldProblemBody {
                        field: serde_json::to_value(field)
                            .ok()
                            .and_then(|value| value.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        rule: "not-owner".to_owned(),
                        message: refusal.to_string(),
                    },
                    SyncRefusal::OwnedElsewhere { field, .. } => FieldProblemBody {
                        field: field.clone(),
                        rule: "not-owner".to_owned(),
                        message: refusal.to_string(),
                    },
                })
                .collect(),
        ));
        problem
    }

    /// Custom field values refused (422, code `custom-fields`), every problem in `errors`.
    pub(crate) fn of_custom_fields(refused: &CustomFieldsRefused) -> Self {
        let mut problem =
            Problem::new(ProblemKind::InvalidBody, refused.to_string()).with_code("custom-fields");
        problem.errors = Some(Box::new(
            refused
                .problems()
                .iter()
                .map(|problem| FieldProblemBody {
                    field: problem.field.clone(),
                    rule: variant_code(&problem.rule),
                    message: problem.message.clone(),
                })
                .collect(),
        ));
        problem
    }
}

/// One custom field's problem in a problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblemBody {
    /// The field's key, as sent.
    pub field: String,
    /// The kind of check: `value`, `required`, `required-when`, `range`, `pattern`,
    /// `transition` or `comparison`.
    pub rule: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// The kebab-case name of an error's variant, from its `Debug` form: `AlreadyQualified { .. }`
/// becomes `already-qualified`. Stable as long as the variant keeps its name.
pub(crate) fn variant_code(error: &impl std::fmt::Debug) -> String {
    let debug = format!("{error:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let mut code = String::with_capacity(name.len() + 4);
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 {
                code.push('-');
            }
            code.push(c.to_ascii_lowercase());
        } else {
            code.push(c);
        }
    }
    code
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A spent budget: 429 with `Retry-After` (whole seconds, at least one).
pub(crate) fn rate_limited(wait: std::time::Duration) -> Problem {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut problem = Problem::new(
        ProblemKind::RateLimited,
        format!("the token's request budget is spent; come back in {seconds} s"),
    );
    problem.retry_after = Some(seconds.max(1));
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code, reason = "only the Debug form is read")]
    enum Refusal {
        AlreadyQualified,
        NotAMatch { contact: u32 },
    }

    #[test]
    fn a_refusal_is_named_by_its_variant() {
        assert_eq!(
            variant_code(&Refusal::AlreadyQualified),
            "already-qualified"
        );
        assert_eq!(
            variant_code(&Refusal::NotAMatch { contact: 3 }),
            "not-a-match"
        );
    }

    #[test]
    fn every_kind_has_its_own_type() {
        let mut slugs: Vec<_> = ProblemKind::ALL.iter().map(|kind| kind.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemKind::ALL.len());
        for kind in ProblemKind::ALL {
            assert_eq!(kind.type_uri(), format!("/problems/{}", kind.slug()));
        }
    }
}
