//! The ticket aggregate: a customer's support request from opening to closing.
//!
//! A ticket is opened for a contact with a subject, the channel it came through and a
//! priority; it is assigned, the agent and the customer reply, it is escalated, its priority
//! and status change, and a solved ticket can be reopened. Closed is final: nothing changes a
//! closed ticket, and a customer reply to one is refused with
//! [`TicketError::ReplyToClosedTicket`], which carries what the app needs to open a follow-up
//! ticket ([`TicketCommand::Open`] with `follow_up_of`).
//!
//! # Status rules
//! - A new ticket becomes open on the first *agent action*: an assignment or a reply to the
//!   customer by a person ([`Actor::User`], or [`Actor::Integration`] relaying a person's
//!   action from another tool). Automated actors ([`Actor::System`], [`Actor::Automation`])
//!   do not open it: routing a ticket or sending an acknowledgement does not mean anyone
//!   looked at it.
//! - A customer reply (through any channel) to a pending or on-hold ticket makes it open
//!   again; to a solved ticket, reopens it; to a new or open ticket, changes no status.
//! - Only a solved ticket can be closed or reopened; a solved ticket goes back to work only
//!   through a reopen (by the customer's reply, or explicitly with a reason), never by a plain
//!   status change. No ticket goes back to new.
//!
//! # What the SLA engine reads from the events
//! Every status transition is its own fact: [`TicketEvent::StatusChanged`] (with its cause)
//! or [`TicketEvent::Reopened`]. A command's consequence is recorded next to the fact that
//! caused it, at the same instant and after it: a customer reply to a pending ticket is
//! `[CustomerReplied, StatusChanged { status: Open, cause: CustomerReplied }]`, so the SLA
//! engine pauses and resumes clocks from status events alone and counts replies from reply
//! events alone. Each reply carries its exact `at`, its channel and who wrote it; an agent
//! reply says whether it is the first response (the first agent reply by a person: automatic
//! acknowledgements never stop the first-response clock). The priority at any moment is the
//! one of [`TicketEvent::Opened`] or of the latest [`TicketEvent::PriorityChanged`] before it;
//! a priority change re-targets clocks without restarting them. No event of a ticket is dated
//! before its opening ([`TicketError::BeforeOpening`]); later events are dated by the caller's
//! clock and are not otherwise forced into order.

mod escalation;
mod fields;
mod status;
#[cfg(test)]
mod tests;

use crate::custom_fields::{
    CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate, CustomValues, EntityKind,
};
use std::num::NonZeroU8;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use escalation::{Escalation, EscalationTarget};
pub use fields::TicketField;
pub use status::{StatusChangeCause, TicketStatus};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::{AccountId, ContactId, TicketId, UserId};
use crate::{Channel, Priority};

/// Why a solved ticket was reopened, and by whom when a customer did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum ReopenCause {
    /// The customer wrote again (the reply is recorded just before the reopen).
    CustomerReplied {
        /// The contact who wrote.
        from: ContactId,
    },
    /// Someone reopened it on purpose (the event's `by`).
    Requested {
        /// Why, in their words.
        reason: String,
    },
}

/// A command to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TicketCommand {
    /// Opens a ticket for a contact.
    Open {
        /// The new ticket's id (the caller chose it; the stream is `"ticket-{id}"`).
        ticket: TicketId,
        /// The customer the ticket is for.
        contact: ContactId,
        /// What it is about; must not be blank (stored trimmed).
        subject: String,
        /// Where the request came in.
        channel: Channel,
        /// How urgent it is.
        priority: Priority,
        /// The customer's message that opened the ticket, if any; recorded as their first
        /// reply at the same instant. Must not be blank when given.
        message: Option<String>,
        /// The closed ticket this one follows up, if any.
        follow_up_of: Option<TicketId>,
        /// The account (company) the ticket is for, if known; the account 360 counts it.
        account: Option<AccountId>,
    },
    /// Gives the ticket to an agent.
    Assign {
        /// The agent.
        assignee: UserId,
    },
    /// Sends the customer a reply from the support side.
    ReplyToCustomer {
        /// The message; must not be blank.
        body: String,
        /// Through which channel.
        channel: Channel,
    },
    /// Records a reply from the customer (or anyone on their side), through any channel.
    RecordCustomerReply {
        /// Who wrote (usually the ticket's contact; may be someone copied in).
        from: ContactId,
        /// The message; must not be blank.
        body: String,
        /// Through which channel it arrived.
        channel: Channel,
    },
    /// Moves the ticket to another status (see the module's status rules).
    ChangeStatus {
        /// The status wanted.
        status: TicketStatus,
    },
    /// Changes how urgent the ticket is.
    ChangePriority {
        /// The new priority.
        priority: Priority,
    },
    /// Hands the ticket up to an escalation level.
    Escalate {
        /// To whom.
        to: EscalationTarget,
        /// The level, 1 for the first; asking for the current level again changes nothing.
        level: NonZeroU8,
        /// Why; must not be blank (stored trimmed).
        reason: String,
    },
    /// Reopens a solved ticket on purpose.
    Reopen {
        /// Why; must not be blank (stored trimmed).
        reason: String,
    },
    /// Sets or clears custom field values under the tenant's current schema (see
    /// [`CustomFieldsUpdate`]); an update without changes still checks the validation rules.
    SetCustomFields(CustomFieldsUpdate),
}

/// A fact about a ticket. Every event says when (`at`, the decision's time) and who issued
/// the command (`by`, any kind of actor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TicketEvent {
    /// A ticket was opened; its status is new.
    #[serde(rename = "TicketOpened")]
    Opened {
        /// The ticket.
        ticket: TicketId,
        /// The customer it is for.
        contact: ContactId,
        /// What it is about (trimmed, not blank).
        #[serde(deserialize_with = "crate::personal::erasable")]
        subject: String,
        /// Where the request came in.
        channel: Channel,
        /// How urgent it is from now on.
        priority: Priority,
        /// The closed ticket this one follows up, if any.
        follow_up_of: Option<TicketId>,
        /// The account (company) the ticket is for, if named. Absent from tickets opened
        /// before accounts existed, and left out of the payload when `None`, so their
        /// encoding (and hash) is unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<AccountId>,
        /// Who opened it.
        by: Actor,
        /// When; every other event of the ticket is at or after this.
        at: DateTime<Utc>,
    },
    /// The ticket was given to an agent.
    #[serde(rename = "TicketAssigned")]
    Assigned {
        /// The agent.
        assignee: UserId,
        /// Who assigned it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The support side replied to the customer.
    #[serde(rename = "TicketAgentReplied")]
    AgentReplied {
        /// The message as sent.
        #[serde(deserialize_with = "crate::personal::erasable")]
        body: String,
        /// Through which channel.
        channel: Channel,
        /// Whether this is the first response: the first agent reply by a person. It stops
        /// the first-response clock.
        first_response: bool,
        /// Who replied.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer (or someone on their side) replied.
    #[serde(rename = "TicketCustomerReplied")]
    CustomerReplied {
        /// Who wrote.
        from: ContactId,
        /// The message as received.
        #[serde(deserialize_with = "crate::personal::erasable")]
        body: String,
        /// Through which channel it arrived.
        channel: Channel,
        /// Who recorded it (a mail integration, an agent logging a call).
        by: Actor,
        /// When it was recorded.
        at: DateTime<Utc>,
    },
    /// The ticket moved to another status (never to new, never from closed).
    #[serde(rename = "TicketStatusChanged")]
    StatusChanged {
        /// The status from now on.
        status: TicketStatus,
        /// Why it changed.
        cause: StatusChangeCause,
        /// Who issued the command that changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The ticket's priority changed; SLA clocks keep running against the new targets.
    #[serde(rename = "TicketPriorityChanged")]
    PriorityChanged {
        /// The priority from now on.
        priority: Priority,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The ticket was handed up to a higher escalation level.
    #[serde(rename = "TicketEscalated")]
    Escalated {
        /// To whom.
        to: EscalationTarget,
        /// The new level (higher than any before).
        level: NonZeroU8,
        /// Why (trimmed, not blank).
        #[serde(deserialize_with = "crate::personal::erasable")]
        reason: String,
        /// Who escalated it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A solved ticket was reopened; its status is open.
    #[serde(rename = "TicketReopened")]
    Reopened {
        /// Why, and which customer when a reply reopened it.
        cause: ReopenCause,
        /// Who issued the command that reopened it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Custom field values were set or cleared.
    #[serde(rename = "TicketCustomFieldsSet")]
    CustomFieldsSet(CustomFieldsSet),
}

impl TicketEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TicketEvent::Opened { at, .. }
            | TicketEvent::Assigned { at, .. }
            | TicketEvent::AgentReplied { at, .. }
            | TicketEvent::CustomerReplied { at, .. }
            | TicketEvent::StatusChanged { at, .. }
            | TicketEvent::PriorityChanged { at, .. }
            | TicketEvent::Escalated { at, .. }
            | TicketEvent::Reopened { at, .. }
            | TicketEvent::CustomFieldsSet(CustomFieldsSet { at, .. }) => *at,
        }
    }
}

impl DomainEvent for TicketEvent {
    /// The members that may hold personal data, encrypted with the contact's key: the
    /// subject line, every reply's body and the reasons of escalations.
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            TicketEvent::CustomFieldsSet(set) => set.personal_fields(),
            TicketEvent::Opened { .. } => &["/subject"],
            TicketEvent::AgentReplied { .. } | TicketEvent::CustomerReplied { .. } => &["/body"],
            TicketEvent::Escalated { .. } => &["/reason"],
            _ => &[],
        }
    }

    fn event_type(&self) -> &'static str {
        match self {
            TicketEvent::CustomFieldsSet(_) => "TicketCustomFieldsSet",
            TicketEvent::Opened { .. } => "TicketOpened",
            TicketEvent::Assigned { .. } => "TicketAssigned",
            TicketEvent::AgentReplied { .. } => "TicketAgentReplied",
            TicketEvent::CustomerReplied { .. } => "TicketCustomerReplied",
            TicketEvent::StatusChanged { .. } => "TicketStatusChanged",
            TicketEvent::PriorityChanged { .. } => "TicketPriorityChanged",
            TicketEvent::Escalated { .. } => "TicketEscalated",
            TicketEvent::Reopened { .. } => "TicketReopened",
        }
    }
}

/// Why a command to a ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TicketError {
    /// The ticket has not been opened.
    #[error("ticket not found: it has not been opened")]
    NotFound,
    /// A ticket with this id is already open.
    #[error("ticket {id} was already opened")]
    AlreadyOpened {
        /// The existing ticket.
        id: TicketId,
    },
    /// The ticket is closed: nothing changes it any more.
    #[error("ticket {id} is closed and can no longer be changed")]
    Closed {
        /// The closed ticket.
        id: TicketId,
    },
    /// The customer replied to a closed ticket: the reply belongs in a follow-up ticket
    /// (`TicketCommand::Open` with `follow_up_of: Some(id)` and the reply as its message).
    #[error("ticket {id} is closed: open a follow-up ticket for the customer's reply")]
    ReplyToClosedTicket {
        /// The closed ticket, to link the follow-up to.
        id: TicketId,
        /// Its subject, to carry over.
        subject: String,
        /// Its last priority, to carry over.
        priority: Priority,
        /// Its last assignee, who knows the case best.
        assignee: Option<UserId>,
    },
    /// The command is dated before the ticket was opened (a clock or an ordering problem).
    #[error("cannot record something at {at} on a ticket opened at {opened_at}")]
    BeforeOpening {
        /// The command's time.
        at: DateTime<Utc>,
        /// When the ticket was opened.
        opened_at: DateTime<Utc>,
    },
    /// A ticket needs a subject.
    #[error("a ticket needs a subject")]
    EmptySubject,
    /// A reply (or an opening message) needs a body.
    #[error("a message needs a body")]
    EmptyBody,
    /// An escalation or a reopen needs a reason.
    #[error("a reason is needed")]
    EmptyReason,
    /// A ticket cannot follow up itself.
    #[error("ticket {id} cannot follow up itself")]
    FollowUpOfItself {
        /// The ticket.
        id: TicketId,
    },
    /// No ticket goes back to new once opened and worked on.
    #[error("a ticket that is {status} cannot go back to new")]
    BackToNew {
        /// The ticket's status.
        status: TicketStatus,
    },
    /// A solved ticket goes back to work only through a reopen, which records why.
    #[error("ticket {id} is solved: reopen it with a reason instead")]
    ReopenRequired {
        /// The solved ticket.
        id: TicketId,
    },
    /// Only a solved ticket can be closed.
    #[error("only a solved ticket can be closed; this one is {status}")]
    CloseUnsolved {
        /// The ticket's status.
        status: TicketStatus,
    },
    /// Only a solved ticket can be reopened.
    #[error("only a solved ticket can be reopened; this one is {status}")]
    ReopenUnsolved {
        /// The ticket's status.
        status: TicketStatus,
    },
    /// An escalation can only go up.
    #[error("ticket is already escalated to level {current}; cannot escalate to level {requested}")]
    EscalationBelowCurrent {
        /// The current level.
        current: NonZeroU8,
        /// The level asked for.
        requested: NonZeroU8,
    },
    /// The custom field values do not fit their fields or break a validation rule; every
    /// problem, each naming its field.
    #[error("{0}")]
    CustomFields(#[source] CustomFieldsRefused),
}

/// A ticket's state, rebuilt from its events. Every field is `None` until the ticket is opened.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ticket {
    /// The ticket's id.
    pub id: Option<TicketId>,
    /// Where it stands; once opened, always one of the six statuses.
    pub status: Option<TicketStatus>,
    /// The customer it is for.
    pub contact: Option<ContactId>,
    /// What it is about.
    pub subject: Option<String>,
    /// Where the request came in.
    pub channel: Option<Channel>,
    /// How urgent it is now.
    pub priority: Option<Priority>,
    /// The closed ticket this one follows up.
    pub follow_up_of: Option<TicketId>,
    /// The account it is for, if named.
    pub account: Option<AccountId>,
    /// When it was opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// The agent who holds it.
    pub assignee: Option<UserId>,
    /// Its current escalation, if it was ever escalated.
    pub escalation: Option<Escalation>,
    /// When the first response was sent.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The custom field values.
    pub custom: CustomValues,
}

/// Whether an actor is a machine acting on its own; its actions are not agent actions.
fn is_automated(actor: &Actor) -> bool {
    matches!(actor, Actor::System { .. } | Actor::Automation { .. })
}

/// The text with surrounding whitespace removed, or `None` when nothing is left.
fn non_blank(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

impl Ticket {
    /// The id and status of a ticket that may still change, at a time no earlier than its
    /// opening.
    fn require_changeable(&self, ctx: &Context) -> Result<(TicketId, TicketStatus), TicketError> {
        let (Some(id), Some(status)) = (self.id, self.status) else {
            return Err(TicketError::NotFound);
        };
        if status.is_final() {
            return Err(TicketError::Closed { id });
        }
        self.require_not_before_opening(ctx)?;
        Ok((id, status))
    }

    fn require_not_before_opening(&self, ctx: &Context) -> Result<(), TicketError> {
        match self.opened_at {
            Some(opened_at) if ctx.now < opened_at => Err(TicketError::BeforeOpening {
                at: ctx.now,
                opened_at,
            }),
            _ => Ok(()),
        }
    }

    /// The status change a person's work causes on a new ticket, if any.
    fn first_agent_action(status: TicketStatus, ctx: &Context) -> Option<TicketEvent> {
        (status == TicketStatus::New && !is_automated(&ctx.actor)).then(|| {
            TicketEvent::StatusChanged {
                status: TicketStatus::Open,
                cause: StatusChangeCause::FirstAgentAction,
                by: ctx.actor.clone(),
                at: ctx.now,
            }
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of `TicketCommand::Open`, passed on"
    )]
    fn open(
        &self,
        ticket: TicketId,
        contact: ContactId,
        subject: &str,
        channel: Channel,
        priority: Priority,
        message: Option<String>,
        follow_up_of: Option<TicketId>,
        account: Option<AccountId>,
        ctx: &Context,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        if let Some(id) = self.id {
            return Err(TicketError::AlreadyOpened { id });
        }
        let subject = non_blank(subject).ok_or(TicketError::EmptySubject)?;
        if message
            .as_deref()
            .is_some_and(|body| body.trim().is_empty())
        {
            return Err(TicketError::EmptyBody);
        }
        if follow_up_of == Some(ticket) {
            return Err(TicketError::FollowUpOfItself { id: ticket });
        }
        let mut events = vec![TicketEvent::Opened {
            ticket,
            contact,
            subject,
            channel,
            priority,
            follow_up_of,
            account,
            by: ctx.actor.clone(),
            at: ctx.now,
        }];
        if let Some(body) = message {
            events.push(TicketEvent::CustomerReplied {
                from: contact,
                body,
                channel,
                by: ctx.actor.clone(),
                at: ctx.now,
            });
        }
        Ok(events)
    }

    fn assign(&self, assignee: UserId, ctx: &Context) -> Result<Vec<TicketEvent>, TicketError> {
        let (_, status) = self.require_changeable(ctx)?;
        if self.assignee == Some(assignee) {
            return Ok(vec![]);
        }
        let assigned = TicketEvent::Assigned {
            assignee,
            by: ctx.actor.clone(),
            at: ctx.now,
        };
        Ok(std::iter::once(assigned)
            .chain(Self::first_agent_action(status, ctx))
            .collect())
    }

    fn reply_to_customer(
        &self,
        body: String,
        channel: Channel,
        ctx: &Context,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        let (_, status) = self.require_changeable(ctx)?;
        if body.trim().is_empty() {
            return Err(TicketError::EmptyBody);
        }
        let first_response = self.first_response_at.is_none() && !is_automated(&ctx.actor);
        let replied = TicketEvent::AgentReplied {
            body,
            channel,
            first_response,
            by: ctx.actor.clone(),
            at: ctx.now,
        };
        Ok(std::iter::once(replied)
            .chain(Self::first_agent_action(status, ctx))
            .collect())
    }

    fn record_customer_reply(
        &self,
        from: ContactId,
        body: String,
        channel: Channel,
        ctx: &Context,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        let (Some(id), Some(status)) = (self.id, self.status) else {
            return Err(TicketError::NotFound);
        };
        if status.is_final() {
            return Err(TicketError::ReplyToClosedTicket {
                id,
                subject: self.subject.clone().unwrap_or_default(),
                priority: self.priority.unwrap_or(Priority::Normal),
                assignee: self.assignee,
            });
        }
        self.require_not_before_opening(ctx)?;
        if body.trim().is_empty() {
            return Err(TicketError::EmptyBody);
        }
        let mut events = vec![TicketEvent::CustomerReplied {
            from,
            body,
            channel,
            by: ctx.actor.clone(),
            at: ctx.now,
        }];
        match status {
            TicketStatus::Pending | TicketStatus::OnHold => {
                events.push(TicketEvent::StatusChanged {
                    status: TicketStatus::Open,
                    cause: StatusChangeCause::CustomerReplied,
                    by: ctx.actor.clone(),
                    at: ctx.now,
                });
            }
            TicketStatus::Solved => events.push(TicketEvent::Reopened {
                cause: ReopenCause::CustomerReplied { from },
                by: ctx.actor.clone(),
                at: ctx.now,
            }),
            TicketStatus::New | TicketStatus::Open | TicketStatus::Closed => {}
        }
        Ok(events)
    }

    fn change_status(
        &self,
        to: TicketStatus,
        ctx: &Context,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        let (id, from) = self.require_changeable(ctx)?;
        if to == from {
            return Ok(vec![]);
        }
        match (from, to) {
            (_, TicketStatus::New) => Err(TicketError::BackToNew { status: from }),
            (TicketStatus::Solved, _) if to != TicketStatus::Closed => {
                Err(TicketError::ReopenRequired { id })
            }
            (_, TicketStatus::Closed) if from != TicketStatus::Solved => {
                Err(TicketError::CloseUnsolved { status: from })
            }
            _ => Ok(vec![TicketEvent::StatusChanged {
                status: to,
                cause: StatusChangeCause::Requested,
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn change_priority(
        &self,
        priority: Priority,
        ctx: &Context,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        self.require_changeable(ctx)?;
        if self.priority == Some(priority) {
            return Ok(vec![]);
        }
        Ok(vec![TicketEvent::PriorityChanged {
            priority,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn escalate(
        &self,
        to: EscalationTarget,
        level: NonZeroU8,
        reason: &str,
        ctx: &Context,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        self.require_changeable(ctx)?;
        let reason = non_blank(reason).ok_or(TicketError::EmptyReason)?;
        match &self.escalation {
            // A second escalation to the same level (an automation firing twice, two agents
            // pressing the button) is the same fact, whoever it names.
            Some(current) if current.level == level => Ok(vec![]),
            Some(current) if current.level > level => Err(TicketError::EscalationBelowCurrent {
                current: current.level,
                requested: level,
            }),
            _ => Ok(vec![TicketEvent::Escalated {
                to,
                level,
                reason,
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn reopen(&self, reason: &str, ctx: &Context) -> Result<Vec<TicketEvent>, TicketError> {
        let (_, status) = self.require_changeable(ctx)?;
        let reason = non_blank(reason).ok_or(TicketError::EmptyReason)?;
        if status != TicketStatus::Solved {
            return Err(TicketError::ReopenUnsolved { status });
        }
        Ok(vec![TicketEvent::Reopened {
            cause: ReopenCause::Requested { reason },
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }
}

impl Aggregate for Ticket {
    const KIND: &'static str = "ticket";
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;

    fn decide(
        &self,
        command: TicketCommand,
        ctx: &Context,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        match command {
            TicketCommand::SetCustomFields(update) => {
                self.id.ok_or(TicketError::NotFound)?;
                let personal = self.data_subject().is_some();
                Ok(update
                    .decide(EntityKind::Ticket, &self.custom, personal, ctx.now)
                    .map_err(TicketError::CustomFields)?
                    .map(TicketEvent::CustomFieldsSet)
                    .into_iter()
                    .collect())
            }
            TicketCommand::Open {
                ticket,
                contact,
                subject,
                channel,
                priority,
                message,
                follow_up_of,
                account,
            } => self.open(
                ticket,
                contact,
                &subject,
                channel,
                priority,
                message,
                follow_up_of,
                account,
                ctx,
            ),
            TicketCommand::Assign { assignee } => self.assign(assignee, ctx),
            TicketCommand::ReplyToCustomer { body, channel } => {
                self.reply_to_customer(body, channel, ctx)
            }
            TicketCommand::RecordCustomerReply {
                from,
                body,
                channel,
            } => self.record_customer_reply(from, body, channel, ctx),
            TicketCommand::ChangeStatus { status } => self.change_status(status, ctx),
            TicketCommand::ChangePriority { priority } => self.change_priority(priority, ctx),
            TicketCommand::Escalate { to, level, reason } => self.escalate(to, level, &reason, ctx),
            TicketCommand::Reopen { reason } => self.reopen(&reason, ctx),
        }
    }

    fn data_subject(&self) -> Option<crate::personal::DataSubject> {
        self.contact.map(crate::personal::DataSubject::Contact)
    }

    fn evolve(mut self, event: &TicketEvent) -> Self {
        // Facts about a ticket that was never opened, or a second opening, cannot come from
        // `decide`; skipping them keeps "opened" and "has a status" the same thing.
        match (event, self.id) {
            (TicketEvent::CustomFieldsSet(set), _) => set.apply_to(&mut self.custom),
            (
                TicketEvent::Opened {
                    ticket,
                    contact,
                    subject,
                    channel,
                    priority,
                    follow_up_of,
                    account,
                    at,
                    ..
                },
                None,
            ) => {
                self.id = Some(*ticket);
                self.status = Some(TicketStatus::New);
                self.contact = Some(*contact);
                self.subject = Some(subject.clone());
                self.channel = Some(*channel);
                self.priority = Some(*priority);
                self.follow_up_of = *follow_up_of;
                self.account = *account;
                self.opened_at = Some(*at);
            }
            // A customer reply changes nothing by itself: what it causes is recorded next to it.
            (TicketEvent::Opened { .. } | TicketEvent::CustomerReplied { .. }, Some(_))
            | (_, None) => {}
            (TicketEvent::Assigned { assignee, .. }, Some(_)) => self.assignee = Some(*assignee),
            (
                TicketEvent::AgentReplied {
                    first_response, at, ..
                },
                Some(_),
            ) => {
                if *first_response {
                    self.first_response_at.get_or_insert(*at);
                }
            }
            (TicketEvent::StatusChanged { status, .. }, Some(_)) => self.status = Some(*status),
            (TicketEvent::PriorityChanged { priority, .. }, Some(_)) => {
                self.priority = Some(*priority);
            }
            (TicketEvent::Escalated { to, level, at, .. }, Some(_)) => {
                self.escalation = Some(Escalation {
                    level: *level,
                    to: *to,
                    since: *at,
                });
            }
            (TicketEvent::Reopened { .. }, Some(_)) => self.status = Some(TicketStatus::Open),
        }
        self
    }
}
