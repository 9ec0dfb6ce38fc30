//! Outreach: a message the CRM sends a person for a purpose on a channel (a campaign email, a
//! sales sequence's call, a survey by text message), checked against the person's consent
//! first.
//!
//! [`consent_verdict`] weighs the statement every linked record holds for the channel and
//! purpose: the contact (followed to its survivor when it was merged), the contacts it
//! absorbed, and the leads all of them came from (a lead carries what its form said; see
//! [`Lead::consent`]). The least permissive wins ([`least_permissive`]): a withdrawal on any of
//! them refuses, whenever it was made; without any grant nothing is allowed; an erased person
//! is never contacted.
//!
//! [`send_outreach`] refuses with the reason unless the verdict allows, and otherwise logs the
//! outreach as an outbound activity on the contact (an email, a call, or a note for a text
//! message) and writes the message to the outbox (destination [`OUTREACH_DESTINATION`]; ids,
//! scope and campaign, no personal data) in the same commit, keyed by the activity: the caller chooses the activity's id, so sending again
//! after a lost answer sends nothing twice. The check reads the records just before the
//! commit, and [`ConsentGate`] checks again when the relay is about to send the message: one
//! that waited in the outbox (a receiver down for hours) while the person withdrew is withheld
//! (parked, `withheld: …`), never sent. Only a withdrawal recorded in the instant between that
//! last check and the send can miss it.

use chrono::{DateTime, Utc};
use crm_domain::activity::{
    Activity, ActivityCommand, ActivityError, ActivityEvent, ActivityKind, Direction, NewActivity,
};
use crm_domain::contact::{
    ChannelConsent, ConsentChannel, ConsentScope, ConsentVerdict, Contact, ContactError,
    ContactStatus, least_permissive,
};
use crm_domain::lead::{Lead, LeadError};
use crm_domain::{ActivityId, ContactId, LeadId, RecordRef};
use crm_eventstore::TenantId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use thiserror::Error;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::outbox::{Delivery, Transport};
use crate::uow::{OutboxMessage, UnitOfWork};

/// The outbox destination outreach messages go to (the relay maps it to the mail, telephony
/// or SMS system's endpoint).
pub const OUTREACH_DESTINATION: &str = "outreach";

/// How many merges a contact is followed through to its survivor.
const MAX_MERGE_HOPS: usize = 8;

/// A message to send a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outreach {
    /// The activity that records it, chosen by the caller (sending again with the same id
    /// sends nothing twice).
    pub activity: ActivityId,
    /// The person.
    pub contact: ContactId,
    /// The channel and the purpose.
    pub scope: ConsentScope,
    /// The campaign or sequence it belongs to.
    pub campaign: Option<String>,
    /// Its subject (personal data).
    pub subject: Option<String>,
    /// Its text (personal data).
    pub body: Option<String>,
}

/// Why a person may not be contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A linked record withdraws consent for the channel and purpose.
    Withdrawn {
        /// The withdrawal in effect.
        statement: ChannelConsent,
    },
    /// No linked record holds a grant.
    NeverGiven,
    /// The person was erased.
    Erased,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Withdrawn { statement } => write!(
                formatter,
                "consent was withdrawn (through {}, at {})",
                statement.provenance.system, statement.provenance.source_time
            ),
            Refusal::NeverGiven => formatter.write_str("consent was never given"),
            Refusal::Erased => formatter.write_str("the person was erased"),
        }
    }
}

/// What the consent of a person's linked records says for one channel and purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentCheck {
    /// The contact the person is kept as (the survivor of merges).
    pub contact: ContactId,
    /// The verdict; [`ConsentVerdict::NeverGiven`] for an erased person.
    pub verdict: ConsentVerdict,
    /// Whether the person was erased.
    pub erased: bool,
    /// The leads weighed with the contacts.
    pub leads: Vec<LeadId>,
}

impl ConsentCheck {
    /// Why contact is refused, or `None` when it is allowed.
    pub fn refusal(&self) -> Option<Refusal> {
        if self.erased {
            return Some(Refusal::Erased);
        }
        match &self.verdict {
            ConsentVerdict::Granted => None,
            ConsentVerdict::Withdrawn(statement) => Some(Refusal::Withdrawn {
                statement: statement.clone(),
            }),
            ConsentVerdict::NeverGiven => Some(Refusal::NeverGiven),
        }
    }
}

/// Why an outreach was not sent.
#[derive(Debug, Error)]
pub enum OutreachError {
    /// The person's consent does not allow it.
    #[error("contact {contact} may not be contacted for {scope}: {reason}")]
    Refused {
        /// The contact (the survivor of merges).
        contact: ContactId,
        /// The channel and purpose.
        scope: ConsentScope,
        /// Why.
        reason: Refusal,
    },
    /// The contact does not exist.
    #[error("contact {0} does not exist")]
    NotFound(ContactId),
    /// Merges lead further than a survivor can be followed (a cycle, which the contacts'
    /// rules forbid).
    #[error("contact {0} is merged further than {MAX_MERGE_HOPS} times")]
    MergeChain(ContactId),
    /// A contact could not be read.
    #[error(transparent)]
    Contact(#[from] CommandError<ContactError>),
    /// A lead could not be read.
    #[error(transparent)]
    Lead(#[from] CommandError<LeadError>),
    /// The activity was refused, or could not be committed.
    #[error(transparent)]
    Activity(#[from] CommandError<ActivityError>),
}

/// What [`send_outreach`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutreachSent {
    /// The contact it went to (the survivor of merges).
    pub contact: ContactId,
    /// Whether it was sent now (`false`: an earlier call with the same activity had).
    pub sent: bool,
}

/// The outbox message's body: ids, the scope and the campaign, no personal data (the outbox
/// is not encrypted, and erasure must not have to find copies there); the receiving system
/// knows the person by the contact's id and the content by the campaign, and the activity
/// keeps the subject and text, encrypted with the contact's key.
#[derive(Debug, Serialize)]
struct OutreachMessage<'a> {
    activity: ActivityId,
    contact: ContactId,
    channel: ConsentChannel,
    purpose: crm_domain::contact::ConsentPurpose,
    campaign: Option<&'a str>,
    at: DateTime<Utc>,
}

/// What the gate reads of a queued outreach message.
#[derive(Debug, Deserialize)]
struct QueuedOutreach {
    contact: ContactId,
    channel: ConsentChannel,
    purpose: crm_domain::contact::ConsentPurpose,
}

/// A [`Transport`] that checks an outreach message's consent again right before it is sent
/// (destination [`OUTREACH_DESTINATION`]) and hands every other message, and an outreach the
/// person still allows, to the transport it wraps. A refusal now is
/// [`Delivery::Rejected`] with a reason starting `withheld:` (the relay parks the message; a
/// replay checks again); a check that cannot be made is [`Delivery::Retry`].
pub struct ConsentGate<U: UnitOfWork, T> {
    service: Arc<CommandService<U>>,
    tenant: TenantId,
    inner: T,
}

impl<U: UnitOfWork, T: std::fmt::Debug> std::fmt::Debug for ConsentGate<U, T> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConsentGate")
            .field("tenant", &self.tenant)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<U: UnitOfWork, T> ConsentGate<U, T> {
    /// A gate for `tenant`'s messages, reading consent through `service`, in front of
    /// `inner`.
    pub fn new(service: Arc<CommandService<U>>, tenant: TenantId, inner: T) -> Self {
        Self {
            service,
            tenant,
            inner,
        }
    }

    /// The transport it wraps.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<U: UnitOfWork, T: Transport> Transport for ConsentGate<U, T> {
    async fn deliver(&self, destination: &str, message: &OutboxMessage) -> Delivery {
        if destination != OUTREACH_DESTINATION {
            return self.inner.deliver(destination, message).await;
        }
        let Ok(queued) = QueuedOutreach::deserialize(&message.payload) else {
            return Delivery::Rejected {
                reason: "withheld: the outreach message names no contact and scope".into(),
            };
        };
        let scope = ConsentScope::new(queued.channel, queued.purpose);
        match consent_verdict(&self.service, &self.tenant, queued.contact, scope).await {
            Ok(check) => match check.refusal() {
                Some(reason) => Delivery::Rejected {
                    reason: format!("withheld: {reason} (checked again before sending)"),
                },
                None => self.inner.deliver(destination, message).await,
            },
            Err(error) => Delivery::Retry {
                after: None,
                reason: format!("consent could not be checked before sending: {error}"),
            },
        }
    }
}

/// The verdict of every record linked to `contact` for `scope`; see the
/// [module documentation](self).
pub async fn consent_verdict<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    contact: ContactId,
    scope: ConsentScope,
) -> Result<ConsentCheck, OutreachError> {
    let (survivor, state) = survivor_of(service, tenant, contact).await?;
    if state.status == Some(ContactStatus::Erased) {
        return Ok(ConsentCheck {
            contact: survivor,
            verdict: ConsentVerdict::NeverGiven,
            erased: true,
            leads: Vec::new(),
        });
    }
    let mut statements: Vec<Option<ChannelConsent>> = vec![state.consents.get(scope).cloned()];
    let mut leads: Vec<LeadId> = state.source_leads.clone();
    for absorbed in state.absorbed_contacts() {
        let (absorbed, _) = service.load::<Contact>(tenant, absorbed.0).await?;
        statements.push(absorbed.consents.get(scope).cloned());
        leads.extend(absorbed.source_leads.iter().copied());
    }
    leads.sort();
    leads.dedup();
    for lead in &leads {
        let (lead, _) = service.load::<Lead>(tenant, lead.0).await?;
        statements.push(lead.consent(scope));
    }
    Ok(ConsentCheck {
        contact: survivor,
        verdict: least_permissive(statements.iter().map(Option::as_ref)),
        erased: false,
        leads,
    })
}

/// The contact `contact` is kept as: itself, or the survivor it was merged into.
async fn survivor_of<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    contact: ContactId,
) -> Result<(ContactId, Contact), OutreachError> {
    let mut at = contact;
    for _ in 0..MAX_MERGE_HOPS {
        let (state, _) = service.load::<Contact>(tenant, at.0).await?;
        if state.status.is_none() {
            return Err(OutreachError::NotFound(at));
        }
        match state.merged_into() {
            Some(survivor) => at = survivor,
            None => return Ok((at, state)),
        }
    }
    Err(OutreachError::MergeChain(contact))
}

/// Sends `outreach` unless the person's consent refuses it; see the
/// [module documentation](self).
pub async fn send_outreach<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    outreach: Outreach,
    meta: &CommandMeta,
) -> Result<OutreachSent, OutreachError> {
    // A retry of an outreach already sent is answered from its activity, not checked again:
    // consent withdrawn since does not unsend it.
    let (logged, _) = service
        .load::<Activity>(tenant, outreach.activity.0)
        .await?;
    if logged.id().is_some() {
        return Ok(OutreachSent {
            contact: outreach.contact,
            sent: false,
        });
    }
    let check = consent_verdict(service, tenant, outreach.contact, outreach.scope).await?;
    if let Some(reason) = check.refusal() {
        return Err(OutreachError::Refused {
            contact: check.contact,
            scope: outreach.scope,
            reason,
        });
    }
    let now = service.clock().now();
    let (kind, direction) = match outreach.scope.channel {
        ConsentChannel::Email => (ActivityKind::Email, Some(Direction::Outbound)),
        ConsentChannel::Phone => (ActivityKind::Call, Some(Direction::Outbound)),
        ConsentChannel::Sms => (ActivityKind::Note, None),
    };
    let activity = NewActivity {
        activity: outreach.activity,
        kind,
        records: vec![RecordRef::Contact(check.contact)],
        occurred_at: now,
        duration_seconds: None,
        direction,
        participants: Vec::new(),
        outcome: None,
        subject: outreach.subject.clone(),
        body: outreach.body.clone(),
        performed_by: None,
    };
    let message = OutreachMessage {
        activity: outreach.activity,
        contact: check.contact,
        channel: outreach.scope.channel,
        purpose: outreach.scope.purpose,
        campaign: outreach.campaign.as_deref(),
        at: now,
    };
    let payload = serde_json::to_value(&message).unwrap_or(serde_json::Value::Null);
    let activity_id = outreach.activity;
    let outbox = move |events: &[ActivityEvent]| {
        if events.is_empty() {
            return Vec::new();
        }
        vec![OutboxMessage {
            id: derive_id(activity_id.0, "outreach"),
            destination: OUTREACH_DESTINATION.to_owned(),
            idempotency_key: format!("outreach/{}", activity_id.0),
            payload: payload.clone(),
            created_at: now,
        }]
    };
    match service
        .execute_with::<Activity, _>(
            tenant,
            outreach.activity.0,
            ActivityCommand::Log(activity),
            meta,
            outbox,
        )
        .await
    {
        Ok(executed) => Ok(OutreachSent {
            contact: check.contact,
            sent: !executed.replayed && !executed.events.is_empty(),
        }),
        Err(CommandError::Rejected(ActivityError::AlreadyLogged { .. })) => Ok(OutreachSent {
            contact: check.contact,
            sent: false,
        }),
        Err(error) => Err(error.into()),
    }
}
