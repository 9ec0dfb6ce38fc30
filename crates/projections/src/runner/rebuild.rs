//! Blue/green rebuilds: a new model version is folded from position zero into its own table
//! while the live version keeps serving, then made live in one statement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_eventstore::{EventStore, GlobalPosition};
use tokio::sync::watch;

use super::{Projector, ProjectorOptions, RunnerError};
use crate::event::TenantId;
use crate::model::ReadModel;
use crate::postgres::PostgresDocuments;

/// How far a rebuild has come, published after every batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RebuildProgress {
    /// Events read so far (applied, passed over or parked).
    pub processed: u64,
    /// The events to read, as counted when the rebuild started (appends since then make it
    /// grow; `processed` may pass it).
    pub total: u64,
    /// Events per second so far.
    pub rate: f64,
    /// The estimated time left at that rate, once there is a rate.
    pub remaining: Option<Duration>,
    /// The checkpoint reached.
    pub checkpoint: Option<GlobalPosition>,
    /// Whether the new version has caught up and been made live.
    pub switched: bool,
}

impl RebuildProgress {
    fn update(&mut self, read: u64, checkpoint: Option<GlobalPosition>, elapsed: Duration) {
        self.processed += read;
        self.checkpoint = checkpoint;
        let seconds = elapsed.as_secs_f64();
        if seconds > 0.0 && self.processed > 0 {
            #[expect(
                clippy::cast_precision_loss,
                reason = "an estimate: event counts far below 2^52 are exact anyway"
            )]
            let rate = self.processed as f64 / seconds;
            self.rate = rate;
            #[expect(
                clippy::cast_precision_loss,
                reason = "an estimate: event counts far below 2^52 are exact anyway"
            )]
            let left = self.total.saturating_sub(self.processed) as f64;
            self.remaining = Some(Duration::from_secs_f64(left / rate));
        }
    }
}

/// Rebuilds `target` (a model version that is not live) for `tenant` from position zero:
/// forgets whatever it held, folds every event in batches of `options.batch_size` (one
/// multi-row write per batch), publishing progress on `progress`, and once it has caught up
/// makes it the live version in one statement. The live version serves readers throughout.
///
/// The new version is caught up with what was deliverable at the switch; keep its
/// asynchronous projector running from there (the old one may stop).
pub async fn rebuild<S, M>(
    store: S,
    target: Arc<PostgresDocuments<M>>,
    tenant: crm_eventstore::TenantId,
    options: ProjectorOptions,
    progress: &watch::Sender<RebuildProgress>,
) -> Result<(), RunnerError>
where
    S: EventStore,
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    let projected = TenantId::new(tenant.as_str());
    target.reset(&projected).await?;
    let (total, _) = target
        .events_after(&projected, GlobalPosition::START)
        .await?;
    progress.send_replace(RebuildProgress {
        total,
        ..RebuildProgress::default()
    });
    let started = Instant::now();
    let mut projector: Projector<S, PostgresDocuments<M>, M> =
        Projector::new(store, Arc::clone(&target), tenant, options);
    loop {
        let step = projector.step().await?;
        progress.send_modify(|progress| {
            progress.update(step.read as u64, step.checkpoint, started.elapsed());
        });
        if step.caught_up {
            break;
        }
    }
    target.switch_live(&projected).await?;
    progress.send_modify(|progress| progress.switched = true);
    Ok(())
}
