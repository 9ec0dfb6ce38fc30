//! Histories the domain really records: aggregates driven by commands through their `decide`,
//! their events numbered in one log as a store would deliver them ([`World`]), plus the
//! instants, actor and tenant the read models' tests share (feature `projections`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_domain::account::{
    Account, AccountCommand, AccountError, AccountHierarchy, AccountHierarchyCommand,
    AccountHierarchyError,
};
use crm_domain::activity::{Activity, ActivityCommand, ActivityError};
use crm_domain::contact::{
    Contact, ContactCommand, ContactError, DetailChange, ErasureGround, ErasureRequest,
    ErasureRequester, Provenance,
};
use crm_domain::lead::{Lead, LeadCommand, LeadError};
use crm_domain::opportunity::{Opportunity, OpportunityCommand, OpportunityError};
use crm_domain::task::{Task, TaskCommand, TaskError};
use crm_domain::ticket::{Ticket, TicketCommand, TicketError, TicketEvent};
use crm_domain::{Actor, Aggregate, ContactId, Context, UserId};
use uuid::Uuid;

use crm_projections::{
    AggregateKind, CrmEvent, DocumentStore as _, MemoryStorage, ProjectedEvent, ProjectionBatch,
    ReadModel, StreamRef, TenantId,
};

/// Monday 2 March 2026, 09:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("valid date")
}

/// `t0()` plus `minutes`.
pub fn minutes(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// The user most tests act as.
pub const ALICE: UserId = UserId(Uuid::from_u128(0xa11ce));

/// [`ALICE`] as an actor.
pub fn alice() -> Actor {
    Actor::User { id: ALICE }
}

/// The tenant of the tests, `acme`.
pub fn tenant() -> TenantId {
    crate::tenant_id("acme")
}

/// Events in the order recorded, positions 1, 2, 3, … (every position used, which a real
/// store need not do).
#[derive(Debug, Default, Clone)]
pub struct EventLog {
    /// The events, in the order recorded.
    pub events: Vec<ProjectedEvent>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `event` on `stream` at the next position, in the [`tenant`], at [`t0`], with
    /// no actor in its metadata.
    pub fn record(&mut self, stream: StreamRef, event: CrmEvent) -> &ProjectedEvent {
        self.record_by(stream, event, None)
    }

    /// Records `event` on `stream` as [`record`](Self::record) does, with `actor` named in its
    /// metadata as the command that recorded it would name it.
    pub fn record_by(
        &mut self,
        stream: StreamRef,
        event: CrmEvent,
        actor: Option<Actor>,
    ) -> &ProjectedEvent {
        let position = self.events.last().map_or(1, |last| last.position + 1);
        self.events.push(ProjectedEvent {
            position,
            // One event per transaction, so the global order is the order of positions.
            transaction: position,
            recorded_at: t0(),
            tenant: tenant(),
            stream,
            event,
            actor,
        });
        self.events.last().expect("just pushed")
    }

    /// Records `events` on ticket `id`'s stream.
    /// Runs `command` on ticket `id` and records what it decided; the number of events, or why
    /// it was refused.
    pub fn ticket(&mut self, id: Uuid, events: impl IntoIterator<Item = TicketEvent>) {
        for event in events {
            self.record(
                StreamRef::new(AggregateKind::Ticket, id),
                CrmEvent::Ticket(event),
            );
        }
    }
}

/// Aggregates driven by commands, their events recorded in one log (each naming the
/// context's actor, as the command service records it): sequences that the domain would
/// really produce.
#[derive(Debug, Default, Clone)]
pub struct World {
    /// Every event recorded so far.
    pub log: EventLog,
    leads: HashMap<Uuid, Lead>,
    contacts: HashMap<Uuid, Contact>,
    opportunities: HashMap<Uuid, Opportunity>,
    tickets: HashMap<Uuid, Ticket>,
    accounts: HashMap<Uuid, Account>,
    hierarchy: HashMap<Uuid, AccountHierarchy>,
    activities: HashMap<Uuid, Activity>,
    tasks: HashMap<Uuid, Task>,
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
        // As the command service does, the metadata names who issued the command.
        log.record_by(stream, wrap(event), Some(ctx.actor.clone()));
    }
    Ok(count)
}

impl World {
    /// A world with no records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `command` on lead `id` and records what it decided; the number of events, or why
    /// it was refused.
    pub fn lead(
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

    /// Runs `command` on contact `id` and records what it decided; the number of events, or why
    /// it was refused.
    pub fn contact(
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

    /// Creates contact `id` with `changes`, from `crm-ui` at [`t0`], as Alice: the usual first
    /// step of a read model's test.
    ///
    /// # Panics
    /// When the aggregate refuses (the test's data is wrong).
    pub fn create_contact(&mut self, id: ContactId, changes: Vec<DetailChange>) {
        let command = ContactCommand::Create {
            contact_id: id,
            provenance: Provenance::new("crm-ui", minutes(0)),
            changes,
        };
        if let Err(error) = self.contact(id.0, command, &as_user(ALICE, minutes(0))) {
            panic!("contact {id} cannot be created: {error}");
        }
    }

    /// Erases contact `id` at `at`, asked by the person themselves, as Alice.
    ///
    /// # Panics
    /// When the aggregate refuses (the test's data is wrong).
    pub fn erase_contact(&mut self, id: ContactId, at: DateTime<Utc>) {
        let command = ContactCommand::Erase {
            request: ErasureRequest {
                requested_by: ErasureRequester::DataSubject,
                legal_basis: ErasureGround::ConsentWithdrawn,
                requested_at: at,
            },
        };
        if let Err(error) = self.contact(id.0, command, &as_user(ALICE, at)) {
            panic!("contact {id} cannot be erased: {error}");
        }
    }

    /// Runs `command` on opportunity `id` and records what it decided; the number of events, or why
    /// it was refused.
    pub fn opportunity(
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

    /// Runs `command` on ticket `id` and records what it decided; the number of events, or why
    /// it was refused.
    pub fn ticket(
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

    /// Runs `command` on account `id` and records what it decided; the number of events, or
    /// why it was refused.
    pub fn account(
        &mut self,
        id: Uuid,
        command: AccountCommand,
        ctx: &Context,
    ) -> Result<usize, AccountError> {
        let stream = StreamRef::new(AggregateKind::Account, id);
        run(
            &mut self.accounts,
            &mut self.log,
            stream,
            CrmEvent::Account,
            command,
            ctx,
        )
    }

    /// Runs `command` on the account hierarchy of [`tenant`] and records what it decided.
    pub fn hierarchy(
        &mut self,
        command: AccountHierarchyCommand,
        ctx: &Context,
    ) -> Result<usize, AccountHierarchyError> {
        let id = AccountHierarchy::id_for_tenant(tenant().as_str());
        let stream = StreamRef::new(AggregateKind::AccountHierarchy, id);
        run(
            &mut self.hierarchy,
            &mut self.log,
            stream,
            CrmEvent::AccountHierarchy,
            command,
            ctx,
        )
    }

    /// Runs `command` on activity `id` and records what it decided.
    pub fn activity(
        &mut self,
        id: Uuid,
        command: ActivityCommand,
        ctx: &Context,
    ) -> Result<usize, ActivityError> {
        let stream = StreamRef::new(AggregateKind::Activity, id);
        run(
            &mut self.activities,
            &mut self.log,
            stream,
            CrmEvent::Activity,
            command,
            ctx,
        )
    }

    /// Runs `command` on task `id` and records what it decided.
    pub fn task(
        &mut self,
        id: Uuid,
        command: TaskCommand,
        ctx: &Context,
    ) -> Result<usize, TaskError> {
        let stream = StreamRef::new(AggregateKind::Task, id);
        run(
            &mut self.tasks,
            &mut self.log,
            stream,
            CrmEvent::Task,
            command,
            ctx,
        )
    }

    /// The contact's state, as a merge command needs it.
    pub fn contact_state(&self, id: Uuid) -> Contact {
        self.contacts.get(&id).cloned().unwrap_or_default()
    }

    /// The currency an opened deal is in.
    pub fn deal_currency(&self, id: Uuid) -> Option<crm_domain::Currency> {
        let deal = self.opportunities.get(&id)?.deal.as_ref()?;
        Some(deal.amount.currency)
    }

    /// The contact an opened ticket is for.
    pub fn ticket_contact(&self, id: Uuid) -> Option<crm_domain::ContactId> {
        self.tickets.get(&id)?.contact
    }

    /// Every contact's state.
    pub fn contacts(&self) -> impl Iterator<Item = (&Uuid, &Contact)> {
        self.contacts.iter()
    }

    /// Every event recorded so far, in order.
    pub fn events(&self) -> &[ProjectedEvent] {
        &self.log.events
    }

    /// A [`MemoryStorage`] of `model` holding every event so far, committed as one batch for
    /// [`tenant`]: for queries that run against the storage port (`run` helpers reading in
    /// rounds) rather than a [`MemoryDocuments`](crm_projections::MemoryDocuments) fold.
    ///
    /// # Panics
    /// If the model refuses the events (a bug in the model or the test).
    pub async fn stored<M>(&self, model: M) -> MemoryStorage<M>
    where
        M: ReadModel + Clone + Send + Sync,
        M::Doc: Send + Sync,
    {
        let store = MemoryStorage::new(model);
        if let Some(last) = self.log.events.last() {
            let batch = ProjectionBatch::new(self.log.events.clone(), last.global_position());
            store
                .commit(&tenant(), None, &batch)
                .await
                .expect("the model applies the test's events");
        }
        store
    }
}

/// A context at `at` acting as `user`.
pub fn as_user(user: UserId, at: DateTime<Utc>) -> Context {
    Context::new(
        at,
        Actor::User { id: user },
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
    )
}

/// A context at `at` acting as the system.
pub fn as_system(at: DateTime<Utc>) -> Context {
    Context::new(
        at,
        Actor::System {
            component: "test".into(),
        },
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
    )
}

/// A routing decision that assigned the lead to `rep` of `team` by weighted round robin, the
/// only candidate: what `LeadCommand::Route` takes in a test.
pub fn assigned_to(rep: UserId, team: crm_domain::TeamId) -> crm_domain::routing::RoutingDecision {
    use crm_domain::routing::{
        AssignmentStrategy, CandidateVerdict, RoutingDecision, RoutingOutcome, Verdict,
    };
    RoutingDecision {
        rule: None,
        team,
        strategy: AssignmentStrategy::WeightedRoundRobin,
        candidates: vec![CandidateVerdict {
            rep,
            verdict: Verdict::Chosen,
        }],
        outcome: RoutingOutcome::Assigned { rep },
        preferred: None,
    }
}
