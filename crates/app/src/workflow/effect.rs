//! What a reaction asks for ([`Effect`]) and how one is carried out ([`dispatch`]), with the
//! referential checks every writer gets: an opportunity or a ticket for a contact that does
//! not exist is refused, one for a contact merged away goes to the survivor.

use crm_domain::contact::{Contact, ContactCommand, ContactError, ContactStatus};
use crm_domain::lead::{Lead, LeadCommand, LeadError};
use crm_domain::opportunity::{Opportunity, OpportunityCommand, OpportunityError};
use crm_domain::roster::{Rep, Team};
use crm_domain::ticket::{Ticket, TicketCommand, TicketError};
use crm_domain::{ContactId, LeadId, OpportunityId, TeamId, TicketId, UserId};
use crm_eventstore::TenantId;
use thiserror::Error;

use crate::command::{CommandMeta, CommandService};
use crate::error::CommandError;
use crate::uow::{CommandOutcome, OutboxMessage, UnitOfWork, WorkError};

/// The most merges followed from a contact to its survivor before giving up (a merge chain
/// longer than this is a loop or damage, not history).
const MAX_MERGE_HOPS: usize = 16;

/// One thing a reaction asks for: a command to an aggregate, or a message to the outbox.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "effects are made and dispatched one at a time"
)]
pub enum Effect {
    /// A command to a lead.
    Lead(LeadId, LeadCommand),
    /// A command to a contact.
    Contact(ContactId, ContactCommand),
    /// A command to an opportunity (an `Open` has its contact checked first).
    Opportunity(OpportunityId, OpportunityCommand),
    /// A command to a ticket (an `Open` has its contact checked first).
    Ticket(TicketId, TicketCommand),
    /// A message to another system, written to the outbox (a repeat of its id is ignored).
    Send(OutboxMessage),
    /// Messages to other systems, written to the outbox together (a repeat of an id is
    /// ignored).
    SendAll(Vec<OutboxMessage>),
    /// A message to a rep: written to the outbox with the rep's webhook (else their team's) as
    /// its `"endpoint"`, looked up when written.
    NotifyRep {
        /// The rep.
        rep: UserId,
        /// The team that assigned them (its endpoint is the fallback).
        team: TeamId,
        /// The message, without its endpoint.
        message: OutboxMessage,
    },
}

/// What [`dispatch`] did: the command's outcome (`None` for an outbox message), and whether it
/// is the first outcome of an earlier identical request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// The outcome, when the effect was a command.
    pub outcome: Option<CommandOutcome>,
    /// Whether nothing was done now because the same command had been executed before.
    pub replayed: bool,
}

/// Why an effect was not carried out.
#[derive(Debug, Error)]
pub enum DispatchError {
    /// The lead refused, or its command failed.
    #[error("lead command: {0}")]
    Lead(#[source] CommandError<LeadError>),
    /// The contact refused, or its command failed.
    #[error("contact command: {0}")]
    Contact(#[source] CommandError<ContactError>),
    /// The opportunity refused, or its command failed.
    #[error("opportunity command: {0}")]
    Opportunity(#[source] CommandError<OpportunityError>),
    /// The ticket refused, or its command failed.
    #[error("ticket command: {0}")]
    Ticket(#[source] CommandError<TicketError>),
    /// The rep or team to notify could not be read.
    #[error("roster: {0}")]
    Roster(String),
    /// The outbox could not be written.
    #[error("outbox: {0}")]
    Outbox(#[source] WorkError),
    /// The record names a contact that was never created.
    #[error("contact {0} does not exist")]
    UnknownContact(ContactId),
    /// The record names a contact that was erased.
    #[error("contact {0} was erased")]
    ErasedContact(ContactId),
    /// Following merges from a contact did not end.
    #[error("contact {0} is merged through more than {MAX_MERGE_HOPS} contacts")]
    MergeChainTooLong(ContactId),
}

impl DispatchError {
    /// Whether the same effect may succeed later (a lost connection, a busy stream), as
    /// opposed to a refusal that will stand.
    pub fn is_retryable(&self) -> bool {
        match self {
            DispatchError::Lead(error) => error.is_retryable(),
            DispatchError::Contact(error) => error.is_retryable(),
            DispatchError::Opportunity(error) => error.is_retryable(),
            DispatchError::Ticket(error) => error.is_retryable(),
            DispatchError::Outbox(error) => error.is_retryable(),
            DispatchError::Roster(_) => true,
            DispatchError::UnknownContact(_)
            | DispatchError::ErasedContact(_)
            | DispatchError::MergeChainTooLong(_) => false,
        }
    }
}

/// The contact a new record should name: `contact` itself when active, its survivor (followed
/// through every merge) when merged away; refused when it does not exist or was erased.
pub async fn live_contact<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    contact: ContactId,
) -> Result<ContactId, DispatchError> {
    let mut current = contact;
    for _ in 0..=MAX_MERGE_HOPS {
        let (state, _) = service
            .load::<Contact>(tenant, current.0)
            .await
            .map_err(DispatchError::Contact)?;
        match state.status {
            None => return Err(DispatchError::UnknownContact(current)),
            Some(ContactStatus::Active) => return Ok(current),
            Some(ContactStatus::Erased) => return Err(DispatchError::ErasedContact(current)),
            Some(ContactStatus::Absorbed { into }) => current = into,
        }
    }
    Err(DispatchError::MergeChainTooLong(contact))
}

/// Carries out one effect through the command service, with the referential checks above.
pub async fn dispatch<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    effect: Effect,
    meta: &CommandMeta,
) -> Result<Dispatched, DispatchError> {
    fn done<E>(executed: &crate::command::Executed<E>) -> Dispatched {
        Dispatched {
            outcome: Some(executed.outcome.clone()),
            replayed: executed.replayed,
        }
    }
    match effect {
        Effect::Lead(id, command) => service
            .execute::<Lead>(tenant, id.0, command, meta)
            .await
            .map(|executed| done(&executed))
            .map_err(DispatchError::Lead),
        Effect::Contact(id, command) => service
            .execute::<Contact>(tenant, id.0, command, meta)
            .await
            .map(|executed| done(&executed))
            .map_err(DispatchError::Contact),
        Effect::Opportunity(id, mut command) => {
            if let OpportunityCommand::Open { contact, .. } = &mut command {
                *contact = live_contact(service, tenant, *contact).await?;
            }
            service
                .execute::<Opportunity>(tenant, id.0, command, meta)
                .await
                .map(|executed| done(&executed))
                .map_err(DispatchError::Opportunity)
        }
        Effect::Ticket(id, mut command) => {
            if let TicketCommand::Open { contact, .. } = &mut command {
                *contact = live_contact(service, tenant, *contact).await?;
            }
            service
                .execute::<Ticket>(tenant, id.0, command, meta)
                .await
                .map(|executed| done(&executed))
                .map_err(DispatchError::Ticket)
        }
        Effect::SendAll(messages) => service
            .send(tenant, messages)
            .await
            .map(|()| Dispatched {
                outcome: None,
                replayed: false,
            })
            .map_err(DispatchError::Outbox),
        Effect::Send(message) => service
            .send(tenant, vec![message])
            .await
            .map(|()| Dispatched {
                outcome: None,
                replayed: false,
            })
            .map_err(DispatchError::Outbox),
        Effect::NotifyRep {
            rep,
            team,
            mut message,
        } => {
            let roster = |error: String| DispatchError::Roster(error);
            let (rep, _) = service
                .load::<Rep>(tenant, rep.0)
                .await
                .map_err(|error| roster(error.to_string()))?;
            let endpoint = match rep.endpoint {
                Some(endpoint) => Some(endpoint),
                None => {
                    service
                        .load_with::<Team, _>(tenant, team.0, |team| team.endpoint.clone())
                        .await
                        .map_err(|error| roster(error.to_string()))?
                        .0
                }
            };
            if let (Some(endpoint), Some(payload)) = (endpoint, message.payload.as_object_mut()) {
                payload.insert(
                    "endpoint".into(),
                    serde_json::Value::String(endpoint.as_str().to_owned()),
                );
            }
            service
                .send(tenant, vec![message])
                .await
                .map(|()| Dispatched {
                    outcome: None,
                    replayed: false,
                })
                .map_err(DispatchError::Outbox)
        }
    }
}
