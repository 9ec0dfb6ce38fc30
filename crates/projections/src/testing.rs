//! Test support: an event log that numbers positions, and builders of common domain events.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_domain::contact::{Contact, ContactCommand, ContactError};
use crm_domain::lead::{Lead, LeadCommand, LeadError};
use crm_domain::opportunity::{Opportunity, OpportunityCommand, OpportunityError};
use crm_domain::ticket::{Ticket, TicketCommand, TicketError, TicketEvent};
use crm_domain::{Actor, Aggregate, Context, UserId};
use uuid::Uuid;

use crate::event::{AggregateKind, CrmEvent, ProjectedEvent, StreamRef, TenantId};

/// Monday 2 March 2026, 09:00 UTC.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("valid date")
}

/// `t0()` plus `minutes`.
pub(crate) fn minutes(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

pub(crate) const ALICE: UserId = UserId(Uuid::from_u128(0xa11ce));

pub(crate) fn alice() -> Actor {
    Actor::User { id: ALICE }
}

pub(crate) fn tenant() -> TenantId {
    TenantId::new("acme")
}

/// Events in the order recorded, positions 1, 2, 3, … (every position used, which a real
/// store need not do).
#[derive(Debug, Default, Clone)]
pub(crate) struct EventLog {
    pub(crate) events: Vec<ProjectedEvent>,
}

impl EventLog {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn record(&mut self, stream: StreamRef, event: CrmEvent) -> &ProjectedEvent {
        let position = self.events.last().map_or(1, |last| last.position + 1);
        self.events.push(ProjectedEvent {
            position,
            // One event per transaction, so the global order is the order of positions.
            transaction: position,
            recorded_at: t0(),
            tenant: tenant(),
            stream,
            event,
        });
        self.events.last().expect("just pushed")
    }

    pub(crate) fn ticket(&mut self, id: Uuid, events: impl IntoIterator<Item = TicketEvent>) {
        for event in events {
            self.record(
                StreamRef::new(AggregateKind::Ticket, id),
                CrmEvent::Ticket(event),
            );
        }
    }
}

/// Aggregates driven by commands, their events recorded in one log: sequences that the
/// domain would really produce.
#[derive(Debug, Default, Clone)]
pub(crate) struct World {
    pub(crate) log: EventLog,
    leads: HashMap<Uuid, Lead>,
    contacts: HashMap<Uuid, Contact>,
    opportunities: HashMap<Uuid, Opportunity>,
    tickets: HashMap<Uuid, Ticket>,
}

fn run<A: Aggregate>(
    states: &mut HashMap<Uuid, A>,
    log: &mut EventLog,
    stream: StreamRef,
    wrap: impl Fn(A::Event) -> CrmEvent,
    command: A::Command,
    ctx: &Context,
) -> Result<usize, A::Error> {
    let state = states.entry(stream.id).or_default();
    let events = state.decide(command, ctx)?;
    let count = events.len();
    for event in events {
        *state = std::mem::take(state).evolve(&event);
        log.record(stream, wrap(event));
    }
    Ok(count)
}

impl World {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn lead(
        &mut self,
        id: Uuid,
        command: LeadCommand,
        ctx: &Context,
    ) -> Result<usize, LeadError> {
        let stream = StreamRef::new(AggregateKind::Lead, id);
        run(
            &mut self.leads,
            &mut self.log,
            stream,
            CrmEvent::Lead,
            command,
            ctx,
        )
    }

    pub(crate) fn contact(
        &mut self,
        id: Uuid,
        command: ContactCommand,
        ctx: &Context,
    ) -> Result<usize, ContactError> {
        let stream = StreamRef::new(AggregateKind::Contact, id);
        run(
            &mut self.contacts,
            &mut self.log,
            stream,
            CrmEvent::Contact,
            command,
            ctx,
        )
    }

    pub(crate) fn opportunity(
        &mut self,
        id: Uuid,
        command: OpportunityCommand,
        ctx: &Context,
    ) -> Result<usize, OpportunityError> {
        let stream = StreamRef::new(AggregateKind::Opportunity, id);
        run(
            &mut self.opportunities,
            &mut self.log,
            stream,
            CrmEvent::Opportunity,
            command,
            ctx,
        )
    }

    pub(crate) fn ticket(
        &mut self,
        id: Uuid,
        command: TicketCommand,
        ctx: &Context,
    ) -> Result<usize, TicketError> {
        let stream = StreamRef::new(AggregateKind::Ticket, id);
        run(
            &mut self.tickets,
            &mut self.log,
            stream,
            CrmEvent::Ticket,
            command,
            ctx,
        )
    }

    /// The contact's state, as a merge command needs it.
    pub(crate) fn contact_state(&self, id: Uuid) -> Contact {
        self.contacts.get(&id).cloned().unwrap_or_default()
    }

    /// The currency an opened deal is in.
    pub(crate) fn deal_currency(&self, id: Uuid) -> Option<crm_domain::Currency> {
        let deal = self.opportunities.get(&id)?.deal.as_ref()?;
        Some(deal.amount.currency)
    }

    /// The contact an opened ticket is for.
    pub(crate) fn ticket_contact(&self, id: Uuid) -> Option<crm_domain::ContactId> {
        self.tickets.get(&id)?.contact
    }

    /// Every contact's state.
    pub(crate) fn contacts(&self) -> impl Iterator<Item = (&Uuid, &Contact)> {
        self.contacts.iter()
    }

    pub(crate) fn events(&self) -> &[ProjectedEvent] {
        &self.log.events
    }
}

/// A context at `at` acting as `user`.
pub(crate) fn as_user(user: UserId, at: DateTime<Utc>) -> Context {
    Context::new(
        at,
        Actor::User { id: user },
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
    )
}

/// A context at `at` acting as the system.
pub(crate) fn as_system(at: DateTime<Utc>) -> Context {
    Context::new(
        at,
        Actor::System {
            component: "test".into(),
        },
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
    )
}
