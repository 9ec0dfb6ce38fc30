//! `POST /v1/contacts/{id}/outreach`: a message to a contact for a purpose on a channel, sent
//! only where the person's consent allows it (see [`crate::outreach`]).

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
use super::reads::Id;
use super::{App, Principal};
use crate::CommandMeta;
use crate::backend::Backend;
use crate::outreach::{Outreach, OutreachError, Refusal, send_outreach};

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
            let code = match reason {
                Refusal::Withdrawn { .. } => "consent-withdrawn",
                Refusal::NeverGiven => "consent-never-given",
                Refusal::Erased => "erased",
            };
            Problem::new(ProblemKind::CommandRejected, error.to_string()).with_code(code)
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
