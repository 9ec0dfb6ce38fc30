//! Workflows across aggregates (process managers): each reaction is a pure function from a
//! recorded event, and the state of its aggregate right after it, to the [`Effect`]s it causes;
//! the [`WorkflowRunner`] feeds it from a checkpointed read of the tenant's global order and
//! carries the effects out through the command service.
//!
//! # Delivery
//! The runner saves its checkpoint after an event's effects are all carried out, so after a
//! crash an event may be reacted to again; never skipped. Each effect's command id and
//! idempotency key derive from the triggering event and the step's name
//! ([`CommandMeta::caused_by`]), and an outbox message's id likewise, so a second delivery
//! executes nothing twice: effects are at-least-once attempted, exactly-once committed.
//! A refused effect (a business rule) is logged and counted, and the runner moves on; a
//! retryable failure stops the step with the checkpoint before the event.

mod conversion;
mod effect;
mod erasure_notice;
mod notify;
mod won_deal;

use std::sync::Arc;

use crm_domain::account::{Account, AccountHierarchy};
use crm_domain::activity::Activity;
use crm_domain::contact::Contact;
use crm_domain::forecast::Forecast;
use crm_domain::lead::Lead;
use crm_domain::opportunity::Opportunity;
use crm_domain::task::Task;
use crm_domain::ticket::Ticket;
use crm_domain::{Actor, Aggregate, DomainEvent, decode_ref};
use crm_eventstore::{
    EventStore, GlobalPosition, PageEntry, RecordedEvent, StoreError, StreamRead, TenantId,
};
use crm_projections::{AggregateKind, CrmEvent, parse_stream_name};
use thiserror::Error;
use tracing::Instrument;

pub use conversion::{ConversionSettings, OpenConvertedLead};
pub use effect::{DispatchError, Dispatched, Effect, dispatch, live_contact};
pub use erasure_notice::PropagateErasure;
pub use notify::{NotificationSettings, NotifyAssignedRep, REP_NOTIFICATIONS};
pub use won_deal::{ERP_DESTINATION, StartOnboarding};

use crate::command::{CommandMeta, CommandService};
use crate::uow::{UnitOfWork, WorkError};

/// The state of the triggering event's aggregate, folded through that event.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one state per trigger, made and dropped at once"
)]
pub enum AggregateState {
    /// A lead.
    Lead(Lead),
    /// A contact.
    Contact(Contact),
    /// An opportunity.
    Opportunity(Opportunity),
    /// A ticket.
    Ticket(Ticket),
    /// A forecast.
    Forecast(Forecast),
    /// An account.
    Account(Account),
    /// The tenant's account hierarchy.
    AccountHierarchy(AccountHierarchy),
    /// An activity.
    Activity(Activity),
    /// A task.
    Task(Task),
}

/// What a reaction is given: the recorded event (ids, metadata, position), decoded, with its
/// aggregate's state right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The event as stored (its payload decoded into [`event`](Self::event)).
    pub recorded: RecordedEvent,
    /// The decoded event.
    pub event: CrmEvent,
    /// Its aggregate's state through this event.
    pub state: AggregateState,
}

/// One effect of a reaction, under a step name unique within the reaction (the effect's
/// command id and idempotency key derive from it and the trigger).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step's name, e.g. `"create-contact"`.
    pub name: &'static str,
    /// What to do.
    pub effect: Effect,
}

/// A reaction to events: pure, so a redelivered event yields the same steps.
pub trait Reaction: Send + Sync + 'static {
    /// The reaction's stable name: its checkpoint's name and its commands' actor.
    fn name(&self) -> &'static str;

    /// Whether `event` may cause anything (only those are given their aggregate's state).
    fn interested(&self, event: &CrmEvent) -> bool;

    /// The steps `trigger` causes, in the order they must be carried out.
    fn react(&self, trigger: &Trigger) -> Vec<Step>;
}

/// Why a workflow step failed; the checkpoint stays before the event that failed.
#[derive(Debug, Error)]
pub enum WorkflowError {
    /// Reading the events or the trigger's aggregate failed.
    #[error("reading the history: {0}")]
    Store(#[from] StoreError),
    /// Reading or saving the checkpoint failed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] WorkError),
    /// [`WorkflowRunner::catch_up_to`] timed out before reaching its position.
    #[error("checkpoint {checkpoint} did not reach {position} in time")]
    NotReached {
        /// The position waited for.
        position: GlobalPosition,
        /// Where the checkpoint stood.
        checkpoint: GlobalPosition,
    },
    /// An effect failed in a way that may pass (the event is reacted to again).
    #[error("step {step} of {reaction} for event {event}: {source}")]
    Effect {
        /// The reaction.
        reaction: &'static str,
        /// The step.
        step: &'static str,
        /// The triggering event's id.
        event: uuid::Uuid,
        /// Why.
        #[source]
        source: DispatchError,
    },
}

/// What one [`WorkflowRunner::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Events read (reacted to or passed over).
    pub events: usize,
    /// Effects carried out now.
    pub effects: usize,
    /// Effects that had been carried out before (a redelivery).
    pub replayed: usize,
    /// Effects refused by a business rule (logged and passed over).
    pub refused: usize,
    /// The checkpoint after the step.
    pub checkpoint: GlobalPosition,
}

impl Progress {
    /// Adds a later step's counts; its checkpoint is the one that counts.
    fn absorb(&mut self, later: Progress) {
        self.events += later.events;
        self.effects += later.effects;
        self.replayed += later.replayed;
        self.refused += later.refused;
        self.checkpoint = later.checkpoint;
    }
}

/// Feeds one reaction from one tenant's history; see the [module documentation](self).
pub struct WorkflowRunner<U: UnitOfWork> {
    service: Arc<CommandService<U>>,
    reaction: Arc<dyn Reaction>,
    tenant: TenantId,
    page_size: usize,
}

impl<U: UnitOfWork> std::fmt::Debug for WorkflowRunner<U> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WorkflowRunner")
            .field("reaction", &self.reaction.name())
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl<U: UnitOfWork> WorkflowRunner<U> {
    /// A runner of `reaction` for `tenant`, carrying effects out through `service`.
    pub fn new(
        service: Arc<CommandService<U>>,
        reaction: Arc<dyn Reaction>,
        tenant: TenantId,
    ) -> Self {
        Self {
            service,
            reaction,
            tenant,
            page_size: 100,
        }
    }

    /// Reads one page of events after the checkpoint, reacts to each, and saves the checkpoint
    /// after each event whose effects were all carried out.
    pub async fn step(&self) -> Result<Progress, WorkflowError> {
        let name = self.reaction.name();
        let span = tracing::info_span!("workflow", reaction = name, tenant = %self.tenant);
        self.run_step().instrument(span).await
    }

    /// Steps until a step reads nothing new: everything readers may see so far has been
    /// reacted to. On PostgreSQL a transaction still open holds readers back, so an event just
    /// appended may not be seen yet; [`catch_up_to`](Self::catch_up_to) waits for one.
    pub async fn catch_up(&self) -> Result<Progress, WorkflowError> {
        let mut total = Progress::default();
        loop {
            let progress = self.step().await?;
            total.absorb(progress);
            if progress.events == 0 {
                return Ok(total);
            }
        }
    }

    /// Steps until the checkpoint reaches `position` (an event the caller appended and wants
    /// reacted to), waiting while older transactions hold readers back; fails with
    /// [`WorkflowError::NotReached`] after `timeout`.
    pub async fn catch_up_to(
        &self,
        position: GlobalPosition,
        timeout: std::time::Duration,
    ) -> Result<Progress, WorkflowError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut total = Progress::default();
        loop {
            let progress = self.step().await?;
            total.absorb(progress);
            if total.checkpoint >= position {
                return Ok(total);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WorkflowError::NotReached {
                    position,
                    checkpoint: total.checkpoint,
                });
            }
            if progress.events == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }

    /// Steps until `stop` turns true, waiting for appends when caught up; a failed step is
    /// retried after a pause (the checkpoint stays before the failing event).
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut appended = self.service.work().store().append_signal();
        let mut pause = std::time::Duration::from_millis(50);
        while !*stop.borrow() {
            match self.step().await {
                Ok(progress) if progress.events > 0 => {
                    pause = std::time::Duration::from_millis(50);
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(reaction = self.reaction.name(), %error, "workflow step failed");
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
            }
            tokio::select! {
                _ = stop.changed() => {}
                _ = appended.changed() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn run_step(&self) -> Result<Progress, WorkflowError> {
        let work = self.service.work();
        let name = self.reaction.name();
        let from = work
            .checkpoint(&self.tenant, name)
            .await
            .map_err(WorkflowError::Checkpoint)?
            .unwrap_or_default();
        let page = work
            .store()
            .read_all(&self.tenant, from, self.page_size)
            .await?;
        let mut progress = Progress {
            checkpoint: from,
            ..Progress::default()
        };
        for entry in page.into_entries() {
            let position = entry.position();
            if let PageEntry::Event(recorded) = entry {
                self.react_to(recorded, &mut progress).await?;
            }
            progress.events += 1;
            progress.checkpoint = position;
            work.save_checkpoint(&self.tenant, name, position)
                .await
                .map_err(WorkflowError::Checkpoint)?;
        }
        Ok(progress)
    }

    async fn react_to(
        &self,
        recorded: RecordedEvent,
        progress: &mut Progress,
    ) -> Result<(), WorkflowError> {
        let Some((kind, event)) = decode_crm_event(&recorded) else {
            return Ok(());
        };
        if !self.reaction.interested(&event) {
            return Ok(());
        }
        let state = self.state_through(kind, &recorded).await?;
        let trigger = Trigger {
            recorded,
            event,
            state,
        };
        let reaction = self.reaction.name();
        for step in self.reaction.react(&trigger) {
            let meta = CommandMeta::caused_by(
                Actor::Automation {
                    rule: reaction.to_owned(),
                },
                &trigger.recorded,
                &format!("{reaction}/{}", step.name),
            );
            match dispatch(&self.service, &self.tenant, step.effect, &meta).await {
                Ok(done) if done.replayed => progress.replayed += 1,
                Ok(_) => progress.effects += 1,
                Err(error) if error.is_retryable() => {
                    return Err(WorkflowError::Effect {
                        reaction,
                        step: step.name,
                        event: trigger.recorded.id,
                        source: error,
                    });
                }
                Err(error) => {
                    // A refusal stands however often it is retried: logged, counted, passed.
                    // An idempotency conflict lands here too: the step ran before with other
                    // inputs (a contact merged since), so it is not done a second time.
                    tracing::warn!(
                        reaction,
                        step = step.name,
                        event = %trigger.recorded.id,
                        %error,
                        "workflow step refused"
                    );
                    progress.refused += 1;
                }
            }
        }
        Ok(())
    }

    /// The triggering aggregate's state through the trigger (folded from its stream).
    async fn state_through(
        &self,
        kind: AggregateKind,
        recorded: &RecordedEvent,
    ) -> Result<AggregateState, StoreError> {
        let store = self.service.work().store();
        let events = store
            .read_stream(
                &self.tenant,
                &recorded.stream,
                StreamRead::forward().as_of_version(recorded.version),
            )
            .await?;
        Ok(match kind {
            AggregateKind::Lead => AggregateState::Lead(fold(&events)),
            AggregateKind::Contact => AggregateState::Contact(fold(&events)),
            AggregateKind::Opportunity => AggregateState::Opportunity(fold(&events)),
            AggregateKind::Ticket => AggregateState::Ticket(fold(&events)),
            AggregateKind::Forecast => AggregateState::Forecast(fold(&events)),
            AggregateKind::Account => AggregateState::Account(fold(&events)),
            AggregateKind::AccountHierarchy => AggregateState::AccountHierarchy(fold(&events)),
            AggregateKind::Activity => AggregateState::Activity(fold(&events)),
            AggregateKind::Task => AggregateState::Task(fold(&events)),
        })
    }
}

/// Folds stored events into an aggregate, passing over any this build cannot decode (the
/// command service refuses to decide on such a stream; a reaction only reads it).
fn fold<A: Aggregate>(events: &[RecordedEvent]) -> A
where
    A::Event: DomainEvent,
{
    events
        .iter()
        .filter_map(|event| {
            decode_ref::<A::Event>(&event.event_type, event.schema_version, &event.payload).ok()
        })
        .fold(A::default(), |state, event| state.evolve(&event))
}

/// The CRM event a stored event is, with its aggregate kind, when it is one this build knows.
/// Streams of other categories (the roster's, another service's) and unknown event types
/// concern no reaction; an event of ours that does not decode is logged (the read models park
/// it) and passed over.
fn decode_crm_event(recorded: &RecordedEvent) -> Option<(AggregateKind, CrmEvent)> {
    let stream = parse_stream_name(recorded.stream.as_str()).ok()?;
    match crm_projections::decode_event(
        stream.kind,
        &recorded.event_type,
        recorded.schema_version,
        recorded.payload.clone(),
    ) {
        Ok(event) => Some((stream.kind, event)),
        Err(error) => {
            if !error.is_unknown() {
                tracing::warn!(event = %recorded.id, %error, "workflow passes over an undecodable event");
            }
            None
        }
    }
}
