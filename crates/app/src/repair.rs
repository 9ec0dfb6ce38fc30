//! An operator's repairs of the read models, as `crm projections rebuild|park|unpark` run
//! them: rebuild one model of a tenant in place, park the poison event its projector is
//! halted at, and apply parked events again once a fix is deployed.
//!
//! The serving projectors need not stop for any of these. Every projector commit checks the
//! stored checkpoint it started from, so a repair made by another process is met, not
//! overwritten: a projector halted at an event that gets parked goes on from the moved
//! checkpoint (the app's projectors look again every few seconds), and one serving a table
//! rebuilt in place goes on from the rebuilt checkpoint.

use std::sync::Arc;

use crm_eventstore::{EventStore, GlobalPosition, TenantId};
use crm_projections::{
    DocumentStore, ParkedEvent, PoisonPolicy, Projector, ProjectorOptions, ReadModel,
    RebuildProgress, RunnerError, StorageError,
};
use thiserror::Error;
use tokio::sync::watch;

use crate::backend::Backend;

/// How many times a repair retries a step that met another process's commit.
const RACES: usize = 5;

/// Why a repair did not happen.
#[derive(Debug, Error)]
pub enum RepairError {
    /// Reading the history or folding it failed.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The read model's storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// `park` found the projection able to go on: no event halts it.
    #[error(
        "{projection} of tenant {tenant} is not halted: every event through {checkpoint} is applied, nothing to park"
    )]
    NotHalted {
        /// The projection (its table).
        projection: String,
        /// The tenant.
        tenant: String,
        /// Where it stands.
        checkpoint: String,
    },
    /// `park` was told which event to park, and the projection halts at another.
    #[error(
        "{projection} of tenant {tenant} is halted at {found}, not at {expected}: nothing parked"
    )]
    HaltedElsewhere {
        /// The projection (its table).
        projection: String,
        /// The tenant.
        tenant: String,
        /// The event the operator named.
        expected: GlobalPosition,
        /// The event it is halted at.
        found: GlobalPosition,
    },
}

/// The event a projection halts at, parked: the projection goes on past it, and its
/// documents miss it until it is applied again (see [`unpark`]).
pub async fn park_halting_event<S, D, M>(
    store: S,
    documents: Arc<D>,
    tenant: &TenantId,
    projection: &str,
    expected: Option<GlobalPosition>,
) -> Result<ParkedEvent, RepairError>
where
    S: EventStore + Clone,
    D: DocumentStore<M>,
    M: ReadModel,
{
    // First everything before the poison event, as the serving projector would have done.
    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant.clone(),
        ProjectorOptions::default(),
    );
    let mut races = 0;
    let halted = loop {
        match projector.catch_up().await {
            Ok(_) => {
                let checkpoint = documents.checkpoint(tenant).await?;
                return Err(RepairError::NotHalted {
                    projection: projection.to_owned(),
                    tenant: tenant.to_string(),
                    checkpoint: checkpoint
                        .map_or_else(|| "the start".to_owned(), |at| at.to_string()),
                });
            }
            Err(RunnerError::Poison { position, .. }) => break position,
            Err(error) if error.is_retryable() && races < RACES => races += 1,
            Err(error) => return Err(error.into()),
        }
    };
    if let Some(expected) = expected.filter(|expected| *expected != halted) {
        return Err(RepairError::HaltedElsewhere {
            projection: projection.to_owned(),
            tenant: tenant.to_string(),
            expected,
            found: halted,
        });
    }
    // Then that one event alone, parked: a page of one.
    let mut parker = Projector::new(
        store,
        Arc::clone(&documents),
        tenant.clone(),
        ProjectorOptions {
            batch_size: 1,
            catch_up_batch_size: 1,
            poison: PoisonPolicy::Park,
            ..ProjectorOptions::default()
        },
    );
    let mut races = 0;
    loop {
        match parker.step().await {
            Ok(_) => break,
            Err(error) if error.is_retryable() && races < RACES => races += 1,
            Err(error) => return Err(error.into()),
        }
    }
    documents
        .parked(tenant)
        .await?
        .into_iter()
        .find(|parked| parked.position == halted)
        .ok_or_else(|| {
            RepairError::Storage(StorageError::Unavailable {
                reason: format!(
                    "{projection} of tenant {tenant}: the event at {halted} was not parked \
                     (another process moved the projection at the same time); look again with \
                     `crm projections status`"
                ),
                source: None,
            })
        })
}

/// What [`unpark`] did with the parked events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unparked {
    /// Events parked before that the rebuild applied (they decode now).
    pub applied: Vec<ParkedEvent>,
    /// Events that still cannot be applied, parked again.
    pub still_parked: Vec<ParkedEvent>,
}

/// Applies the parked events of `documents` again: a parked event cannot be applied onto
/// documents stamped past it, so the model is rebuilt in place (see
/// [`Backend::rebuild_in_place`]), and every event that decodes now is applied in its place
/// in the order; those that still cannot are parked again. Nothing happens when nothing is
/// parked.
pub async fn unpark<B, M>(
    backend: &B,
    documents: &B::Documents<M>,
    tenant: &TenantId,
    progress: &watch::Sender<RebuildProgress>,
) -> Result<Unparked, RepairError>
where
    B: Backend,
    M: ReadModel + Clone + std::fmt::Debug + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    let before = documents.parked(tenant).await?;
    if before.is_empty() {
        return Ok(Unparked::default());
    }
    backend
        .rebuild_in_place(documents, tenant, progress)
        .await?;
    let still_parked = documents.parked(tenant).await?;
    let applied = before
        .into_iter()
        .filter(|parked| {
            !still_parked
                .iter()
                .any(|again| again.position == parked.position)
        })
        .collect();
    Ok(Unparked {
        applied,
        still_parked,
    })
}
