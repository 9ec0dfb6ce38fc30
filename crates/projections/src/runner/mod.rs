//! The asynchronous projector: reads one tenant's events from its checkpoint in global order,
//! a page at a time, and commits each page to a [`DocumentStore`] together with the new
//! checkpoint.
//!
//! - [`Projector`]: one model, one tenant, one document store; [`Projector::step`] is one
//!   batch, [`Projector::run`] the loop a background task runs ([`Projector::spawn`]).
//! - [`PoisonPolicy`]: what to do with an event that cannot be decoded: halt with a typed
//!   error, or park it in a queryable table and go on. Never a silent skip.
//! - `lag.rs`: [`Lag`], how far behind a projector is, and why.
//! - `lease.rs`: [`Lease`], the PostgreSQL advisory lock that lets several processes run the
//!   same projectors while exactly one works on each.
//! - `rebuild.rs`: [`rebuild`], blue/green rebuilds from position zero with progress.
//!
//! The projector reads pages itself rather than through a `Subscription`: a page is its
//! batch, and the page's `held_by` is what its lag reports.

mod lag;
mod lease;
mod rebuild;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crm_eventstore::{EventStore, GlobalPosition, PageEntry, ReadAllPage, StoreError, TenantId};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

pub use lag::{Lag, LagError};
pub use lease::{Lease, run_leased};
pub use rebuild::{
    RebuildFuture, RebuildProgress, RebuildTarget, SWITCH_ATTEMPTS, Switched, rebuild, rebuild_many,
};

use crate::decode::DecodeError;
use crate::event::ProjectedEvent;
use crate::model::ReadModel;
use crate::storage::{DocumentStore, ParkedEvent, ProjectionBatch, StorageError};

/// What a projector does with an event that cannot be decoded (a broken payload, a schema
/// version without upcaster). Events of a kind or type this build does not know are not
/// poison: no model of this build reads them, and the checkpoint passes over them.
///
/// A model that cannot apply an event (a bug in the model) always halts the projector,
/// whatever the policy: its documents would be wrong from there on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoisonPolicy {
    /// Commit everything before the event, then stop with [`RunnerError::Poison`]; the
    /// projector stays at the event until it is fixed (an upcaster added).
    #[default]
    Halt,
    /// Record the event in the store's parked events (with the reason), move past it, and go
    /// on. The documents then miss that event: fix it and rebuild.
    Park,
}

/// How a projector reads and commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectorOptions {
    /// Events per batch (one read, one commit) when caught up.
    pub batch_size: usize,
    /// The most events per batch while behind: after a full batch the next one reads twice
    /// as many, up to this, and back to `batch_size` once caught up. A document touched by
    /// several events of a batch is written once, so a projector that fell behind catches up
    /// with fewer writes. At least `batch_size`.
    pub catch_up_batch_size: usize,
    /// How long to wait for an append signal before polling again when caught up.
    pub poll_interval: Duration,
    /// What to do with an event that cannot be decoded.
    pub poison: PoisonPolicy,
    /// How long [`Projector::run`] waits before retrying after a retryable error (a lost
    /// connection); doubled up to 32 times this while errors repeat.
    pub retry_after: Duration,
    /// Under [`PoisonPolicy::Halt`]: `None`, [`Projector::run`] returns the poison error;
    /// `Some(every)`, it stays halted at the event, publishes it in
    /// [`ProjectorStatus::halted_at`], and looks again every `every`, going on as soon as the
    /// stored checkpoint has moved past it (an operator parked it from another process:
    /// `crm projections park`) or it decodes.
    pub halted_recheck: Option<Duration>,
}

impl Default for ProjectorOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            catch_up_batch_size: 8_000,
            poll_interval: Duration::from_millis(100),
            poison: PoisonPolicy::Halt,
            retry_after: Duration::from_millis(100),
            halted_recheck: None,
        }
    }
}

/// Why a projector stopped.
#[derive(Debug, Error)]
pub enum RunnerError {
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// The document store failed (including a model that cannot apply an event).
    #[error("document store: {0}")]
    Storage(#[from] StorageError),
    /// An event cannot be decoded and the policy is [`PoisonPolicy::Halt`]. Everything before
    /// it is committed.
    #[error("poison event at {position} in stream {stream} ({event_type}): {source}")]
    Poison {
        /// The event's place in the global order.
        position: GlobalPosition,
        /// Its stream.
        stream: String,
        /// Its type.
        event_type: String,
        /// Why it cannot be decoded.
        source: DecodeError,
    },
}

impl RunnerError {
    /// Whether running again may succeed without a fix (a lost connection, a checkpoint moved
    /// by another process), as opposed to a poison event or a broken model.
    pub fn is_retryable(&self) -> bool {
        match self {
            RunnerError::Store(error) => error.is_retryable(),
            RunnerError::Storage(error) => {
                error.is_retryable() || matches!(error, StorageError::CheckpointMoved { .. })
            }
            RunnerError::Poison { .. } => false,
        }
    }
}

/// What one [`Projector::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Events read (applied, passed over or parked).
    pub read: usize,
    /// The checkpoint after the step.
    pub checkpoint: Option<GlobalPosition>,
    /// Whether the read returned everything deliverable (the projector is caught up).
    pub caught_up: bool,
    /// When caught up but committed events wait behind an open transaction: its id.
    pub held_by: Option<u64>,
}

/// Where a running projector stands, published after every step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectorStatus {
    /// The checkpoint.
    pub checkpoint: Option<GlobalPosition>,
    /// Events committed by this projector since it started.
    pub processed: u64,
    /// Whether the last read returned everything deliverable.
    pub caught_up: bool,
    /// When caught up but committed events wait behind an open transaction: its id ("held at
    /// transaction X", not ordinary lag).
    pub held_by: Option<u64>,
    /// The last retryable error, cleared by the next successful step.
    pub last_error: Option<String>,
    /// Whether this process holds the projection's lease (see [`run_leased`]); always false
    /// for a projector run without one.
    pub leased: bool,
    /// The poison event the projector is halted at (see
    /// [`ProjectorOptions::halted_recheck`]): its position, stream, type and why it cannot be
    /// decoded. Cleared once it has moved on.
    pub halted_at: Option<String>,
}

/// The checkpoint as the projector last knew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cached {
    /// Read it from the document store before the next step.
    Unknown,
    /// Committed by this projector (or read) last.
    Known(Option<GlobalPosition>),
}

impl Cached {
    fn or_start(self) -> GlobalPosition {
        match self {
            Cached::Known(Some(checkpoint)) => checkpoint,
            Cached::Known(None) | Cached::Unknown => GlobalPosition::START,
        }
    }
}

/// Decodes a page of `tenant`'s events read after `from` into a batch; on a poison event
/// under [`PoisonPolicy::Halt`], the batch stops before it and the error comes back with it.
/// Payloads are moved, not copied: a page is decoded once, whatever reads it.
pub(crate) fn prepare(
    tenant: &TenantId,
    from: GlobalPosition,
    page: ReadAllPage,
    poison: PoisonPolicy,
) -> (ProjectionBatch, Option<RunnerError>) {
    let mut batch = ProjectionBatch::new(Vec::with_capacity(page.events.len()), from);
    for entry in page.into_entries() {
        let mut recorded = match entry {
            PageEntry::Event(recorded) => recorded,
            // The store could not decode the row at all: parked whatever the policy, since no
            // change to a projection can apply it and halting would stall the tenant.
            PageEntry::Unreadable(unreadable) => {
                batch.through = unreadable.position;
                batch.parked.push(ParkedEvent {
                    position: unreadable.position,
                    stream: unreadable.stream,
                    version: unreadable.version,
                    event_id: unreadable.id,
                    event_type: unreadable.event_type,
                    schema_version: unreadable.stored_schema_version,
                    reason: format!("unreadable in the store: {}", unreadable.reason),
                    recorded_at: unreadable.recorded_at,
                });
                continue;
            }
        };
        let payload = std::mem::take(&mut recorded.payload);
        let decoded = ProjectedEvent::decode(
            recorded.position,
            recorded.recorded_at,
            tenant.clone(),
            recorded.stream.as_str(),
            &recorded.event_type,
            recorded.schema_version,
            payload,
        )
        .map(|event| event.acted_by(recorded.metadata.actor.take()));
        match decoded {
            Ok(event) => batch.events.push(event),
            Err(error) if error.is_unknown() => {}
            Err(error) => match poison {
                PoisonPolicy::Park => batch.parked.push(ParkedEvent {
                    position: recorded.position,
                    stream: recorded.stream.as_str().to_owned(),
                    version: recorded.version,
                    event_id: recorded.id,
                    event_type: recorded.event_type.clone(),
                    schema_version: recorded.schema_version,
                    reason: error.to_string(),
                    recorded_at: recorded.recorded_at,
                }),
                PoisonPolicy::Halt => {
                    return (
                        batch,
                        Some(RunnerError::Poison {
                            position: recorded.position,
                            stream: recorded.stream.as_str().to_owned(),
                            event_type: recorded.event_type,
                            source: error,
                        }),
                    );
                }
            },
        }
        batch.through = recorded.position;
    }
    (batch, None)
}

/// An asynchronous projector of model `M` for one tenant: events from store `S` into
/// documents `D`.
#[derive(Debug)]
pub struct Projector<S, D, M> {
    store: S,
    documents: Arc<D>,
    tenant: TenantId,
    options: ProjectorOptions,
    checkpoint: Cached,
    /// Events the next step reads: `batch_size`, growing while behind.
    page_size: usize,
    status: watch::Sender<ProjectorStatus>,
    model: PhantomData<fn() -> M>,
}

impl<S, D, M> Projector<S, D, M>
where
    S: EventStore,
    D: DocumentStore<M>,
    M: ReadModel,
{
    /// A projector of `tenant`'s events from `store` into `documents`.
    pub fn new(store: S, documents: Arc<D>, tenant: TenantId, options: ProjectorOptions) -> Self {
        let batch_size = options.batch_size.max(1);
        Self {
            store,
            documents,
            tenant,
            options: ProjectorOptions {
                batch_size,
                catch_up_batch_size: options.catch_up_batch_size.max(batch_size),
                ..options
            },
            checkpoint: Cached::Unknown,
            page_size: batch_size,
            status: watch::channel(ProjectorStatus::default()).0,
            model: PhantomData,
        }
    }

    /// The document store.
    pub fn documents(&self) -> &Arc<D> {
        &self.documents
    }

    /// The tenant projected.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The event store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Where the projector stands, updated after every step.
    pub fn status(&self) -> watch::Receiver<ProjectorStatus> {
        self.status.subscribe()
    }

    async fn checkpoint(&mut self) -> Result<Option<GlobalPosition>, StorageError> {
        if let Cached::Known(checkpoint) = self.checkpoint {
            return Ok(checkpoint);
        }
        let checkpoint = self.documents.checkpoint(&self.tenant).await?;
        self.checkpoint = Cached::Known(checkpoint);
        Ok(checkpoint)
    }

    /// Reads one page after the checkpoint and commits it with the new checkpoint.
    ///
    /// On [`PoisonPolicy::Halt`], the events before a poison event are committed and
    /// [`RunnerError::Poison`] returned; the next step meets the same event again. On
    /// [`StorageError::CheckpointMoved`] (another process wrote), the checkpoint is read
    /// again at the next step.
    pub async fn step(&mut self) -> Result<Step, RunnerError> {
        let span = tracing::debug_span!(
            "projector_step",
            model = M::NAME,
            tenant = %self.tenant,
            read = tracing::field::Empty,
        );
        let step = self.step_in_span().instrument(span.clone()).await;
        if let Ok(step) = &step {
            span.record("read", step.read);
        }
        step
    }

    async fn step_in_span(&mut self) -> Result<Step, RunnerError> {
        let expected = self.checkpoint().await?;
        let page = self
            .store
            .read_all(
                &self.tenant,
                expected.unwrap_or(GlobalPosition::START),
                self.page_size,
            )
            .await?;
        let read = page.len();
        let caught_up = read < self.page_size;
        self.page_size = if caught_up {
            self.options.batch_size
        } else {
            self.page_size
                .saturating_mul(2)
                .min(self.options.catch_up_batch_size)
        };
        let held_by = if caught_up { page.held_by } else { None };
        if read == 0 {
            self.publish(expected, 0, caught_up, held_by);
            return Ok(Step {
                read,
                checkpoint: expected,
                caught_up,
                held_by,
            });
        }
        let (batch, poison) = self.prepare(page);
        let moved = batch.through != expected.unwrap_or(GlobalPosition::START);
        if moved {
            let applied = batch.events.len() + batch.parked.len();
            if let Err(error) = self.documents.commit(&self.tenant, expected, &batch).await {
                // Whatever happened, the stored checkpoint is the truth: read it again.
                self.checkpoint = Cached::Unknown;
                return Err(error.into());
            }
            self.checkpoint = Cached::Known(Some(batch.through));
            self.publish(Some(batch.through), applied as u64, caught_up, held_by);
        }
        if let Some(poison) = poison {
            // The next step reads the stored checkpoint again: an operator may park the
            // event from another process and move the checkpoint past it.
            self.checkpoint = Cached::Unknown;
            return Err(poison);
        }
        Ok(Step {
            read,
            checkpoint: Some(batch.through),
            caught_up,
            held_by,
        })
    }

    /// Decodes a page into a batch (see [`prepare`]).
    fn prepare(&self, page: ReadAllPage) -> (ProjectionBatch, Option<RunnerError>) {
        prepare(
            &self.tenant,
            self.checkpoint.or_start(),
            page,
            self.options.poison,
        )
    }

    fn publish(
        &self,
        checkpoint: Option<GlobalPosition>,
        applied: u64,
        caught_up: bool,
        held_by: Option<u64>,
    ) {
        self.status.send_modify(|status| {
            status.checkpoint = checkpoint;
            status.processed += applied;
            status.caught_up = caught_up;
            status.held_by = held_by;
            status.last_error = None;
            status.halted_at = None;
        });
    }

    /// Steps until a read returns everything deliverable now; returns the events read.
    pub async fn catch_up(&mut self) -> Result<u64, RunnerError> {
        let mut read = 0;
        loop {
            let step = self.step().await?;
            read += step.read as u64;
            if step.caught_up {
                return Ok(read);
            }
        }
    }

    /// Steps until `stop` turns true (or its sender is dropped), waiting for appends when
    /// caught up. Retryable errors are published in the status and retried with backoff; a
    /// poison event under [`ProjectorOptions::halted_recheck`] is published and looked at
    /// again; any other error stops the loop and is returned.
    pub async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<(), RunnerError> {
        let mut signal = self.store.append_signal();
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            // Marked seen before reading, so an append landing during the read wakes us.
            signal.borrow_and_update();
            let wait = match self.step().await {
                Ok(step) => {
                    failures = 0;
                    if !step.caught_up {
                        continue;
                    }
                    self.options.poll_interval
                }
                Err(error) => self.wait_after(error, &mut failures)?,
            };
            tokio::select! {
                _ = signal.changed() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// How long a running projector waits after a failed step, or the error that stops it:
    /// a retryable error is published and retried with backoff (`failures` counts them); a
    /// poison event under [`ProjectorOptions::halted_recheck`] is published as
    /// [`ProjectorStatus::halted_at`] and looked at again later; anything else stops it.
    pub(crate) fn wait_after(
        &mut self,
        error: RunnerError,
        failures: &mut u32,
    ) -> Result<Duration, RunnerError> {
        match (error, self.options.halted_recheck) {
            (error, _) if error.is_retryable() => {
                tracing::warn!(model = M::NAME, tenant = %self.tenant, %error, "projector step failed; retrying");
                self.status
                    .send_modify(|status| status.last_error = Some(error.to_string()));
                *failures = (*failures + 1).min(5);
                Ok(self.options.retry_after * (1 << *failures))
            }
            (error @ RunnerError::Poison { .. }, Some(recheck)) => {
                let halted = error.to_string();
                if self.status.borrow().halted_at.as_ref() != Some(&halted) {
                    tracing::error!(model = M::NAME, tenant = %self.tenant, %error, "projector halted at a poison event; waiting for it to be parked (crm projections park)");
                }
                self.status.send_modify(|status| {
                    status.halted_at = Some(halted);
                    status.caught_up = false;
                });
                Ok(recheck)
            }
            (error, _) => {
                tracing::error!(model = M::NAME, tenant = %self.tenant, %error, "projector stopped");
                Err(error)
            }
        }
    }

    /// Runs the projector in a background task until the handle is stopped.
    pub fn spawn(mut self) -> ProjectorHandle
    where
        S: 'static,
        D: 'static,
        M: 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let status = self.status();
        let task = tokio::spawn(async move { self.run(stopped).await });
        ProjectorHandle { stop, status, task }
    }
}

/// A projector running in a background task.
#[derive(Debug)]
pub struct ProjectorHandle {
    stop: watch::Sender<bool>,
    status: watch::Receiver<ProjectorStatus>,
    task: JoinHandle<Result<(), RunnerError>>,
}

impl ProjectorHandle {
    /// Where the projector stands.
    pub fn status(&self) -> ProjectorStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status changes.
    pub fn watch(&self) -> watch::Receiver<ProjectorStatus> {
        self.status.clone()
    }

    /// Waits until the projector is caught up at or past `position`, or `timeout` passes;
    /// whether it got there.
    pub async fn wait_for(&mut self, position: GlobalPosition, timeout: Duration) -> bool {
        let reached =
            |status: &ProjectorStatus| status.checkpoint.is_some_and(|done| done >= position);
        tokio::time::timeout(timeout, self.status.wait_for(reached))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    /// Whether the task has ended (stopped, or halted on an error).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the projector after its current step and returns how it ended.
    pub async fn stop(self) -> Result<(), RunnerError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(result) => result,
            // The task panicked or was cancelled: a bug, reported as a halted model.
            Err(error) => Err(RunnerError::Storage(StorageError::Unavailable {
                reason: format!("projector task ended abnormally: {error}"),
                source: Some(Box::new(error)),
            })),
        }
    }
}
