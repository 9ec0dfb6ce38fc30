//! `POST /v1/contacts/{id}/outreach`: a message to a contact for a purpose on a channel, sent
//! only where the person's consent allows it; `GET /v1/contacts/{id}/consent`: the same
//! verdict asked without sending (see [`crate::outreach`]).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crm_domain::contact::{ConsentChannel, ConsentPurpose, ConsentScope};
use crm_domain::{ActivityId, ContactId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::Body;
use super::problem::{Problem, ProblemKind};
use super::reads::{Id, Params};
use super::{App, Principal};
use crate::CommandMeta;
use crate::backend::Backend;
use crate::outreach::{Outreach, OutreachError, Refusal, consent_verdict, send_outreach};

/// A message to send the contact of the path.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutreachBody {
    /// The activity that records it, chosen by the caller: sending again with the same id
    /// sends nothing twice.
    pub activity: Uuid,
    /// `email`, `phone` or `sms`.
    #[schema(value_type = String)]
    pub channel: ConsentChannel,
    /// `marketing` (the default), `sales`, `service` or `research`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub purpose: ConsentPurpose,
    /// The campaign or sequence it belongs to (what the receiving system sends).
    #[serde(default)]
    pub campaign: Option<String>,
    /// Its subject, kept on the activity (personal data).
    #[serde(default)]
    pub subject: Option<String>,
    /// Its text, kept on the activity (personal data).
    #[serde(default)]
    pub body: Option<String>,
}

/// What an outreach did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutreachResponse {
    /// The contact it went to (the survivor, when the contact of the path was merged).
    pub contact: Uuid,
    /// The activity recording it.
    pub activity: Uuid,
    /// Whether it was sent now (`false`: by an earlier request with the same activity).
    pub sent: bool,
}

/// `POST /v1/contacts/{id}/outreach`.
pub(crate) async fn outreach<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
    Body(body): Body<OutreachBody>,
) -> Response {
    let Id(contact) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let scope = ConsentScope::new(body.channel, body.purpose);
    let request = Outreach {
        activity: ActivityId(body.activity),
        contact: ContactId(contact),
        scope,
        campaign: body.campaign,
        subject: body.subject,
        body: body.body,
    };
    let meta = CommandMeta::by(principal.actor.clone());
    match send_outreach(&app.service, &principal.tenant, request, &meta).await {
        Ok(sent) => {
            let status = if sent.sent {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let answer = OutreachResponse {
                contact: sent.contact.0,
                activity: body.activity,
                sent: sent.sent,
            };
            (status, axum::Json(answer)).into_response()
        }
        Err(error) => problem(&error).into_response(),
    }
}

fn problem(error: &OutreachError) -> Problem {
    match error {
        OutreachError::Refused { reason, .. } => {
            Problem::new(ProblemKind::CommandRejected, error.to_string())
                .with_code(refusal_code(reason))
        }
        OutreachError::NotFound(_) => Problem::new(ProblemKind::NotFound, error.to_string()),
        OutreachError::MergeChain(_) => {
            Problem::new(ProblemKind::CommandRejected, error.to_string()).with_code("merge-chain")
        }
        OutreachError::Contact(error) => Problem::of_command(error),
        OutreachError::Lead(error) => Problem::of_command(error),
        OutreachError::Activity(error) => Problem::of_command(error),
    }
}

/// The consent question: a channel and a purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentParams {
    channel: ConsentChannel,
    #[serde(default)]
    purpose: ConsentPurpose,
}

/// Whether the person behind a contact may be contacted for a channel and purpose, weighing
/// every linked record (see `POST /v1/contacts/{id}/outreach`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentAnswer {
    /// The contact the person is kept as (the survivor, when the contact of the path was
    /// merged).
    pub contact: Uuid,
    /// The channel and purpose asked about (`email`, `email:service`).
    pub scope: String,
    /// Whether contact is allowed.
    pub allowed: bool,
    /// Why not: `consent-withdrawn`, `consent-never-given` or `erased`.
    pub refusal: Option<String>,
    /// The withdrawal in effect, when one refuses: its source system.
    pub withdrawn_by: Option<String>,
    /// The withdrawal in effect, when one refuses: when the person said it.
    pub withdrawn_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The leads weighed with the contacts.
    pub leads: Vec<Uuid>,
}

fn refusal_code(reason: &Refusal) -> &'static str {
    match reason {
        Refusal::Withdrawn { .. } => "consent-withdrawn",
        Refusal::NeverGiven => "consent-never-given",
        Refusal::Erased => "erased",
    }
}

/// `GET /v1/contacts/{id}/consent?channel=&purpose=`.
pub(crate) async fn consent<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
    params: Result<Params<ConsentParams>, Problem>,
) -> Response {
    let (Id(contact), Params(params)) = match (id, params) {
        (Ok(id), Ok(params)) => (id, params),
        (Err(problem), _) | (_, Err(problem)) => return problem.into_response(),
    };
    let scope = ConsentScope::new(params.channel, params.purpose);
    match consent_verdict(&app.service, &principal.tenant, ContactId(contact), scope).await {
        Ok(check) => {
            let refusal = check.refusal();
            let withdrawal = match &refusal {
                Some(Refusal::Withdrawn { statement }) => Some(statement.provenance.clone()),
                _ => None,
            };
            axum::Json(ConsentAnswer {
                contact: check.contact.0,
                scope: scope.to_string(),
                allowed: refusal.is_none(),
                refusal: refusal
                    .as_ref()
                    .map(|reason| refusal_code(reason).to_owned()),
                withdrawn_by: withdrawal.as_ref().map(|by| by.system.clone()),
                withdrawn_at: withdrawal.map(|by| by.source_time),
                leads: check.leads.iter().map(|lead| lead.0).collect(),
            })
            .into_response()
        }
        Err(error) => problem(&error).into_response(),
    }
}
