//! Blue/green rebuilds: a new model version is folded from position zero into its own table
//! while the live version keeps serving, then made live in one statement.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crm_eventstore::{EventStore, GlobalPosition, TenantId};
use tokio::sync::watch;

use super::{ProjectorOptions, RunnerError, prepare};
use crate::model::ReadModel;
use crate::postgres::{PostgresDocuments, RebuildLimits};
use crate::storage::{ProjectionBatch, StorageError};

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

/// One model version a rebuild writes: the rebuild reads and decodes each page of events
/// once and folds it into every target, each committing its documents together with its own
/// checkpoint. [`RebuildWriter`](crate::RebuildWriter) is the PostgreSQL one,
/// [`SqliteRebuildWriter`](crate::SqliteRebuildWriter) the SQLite one.
///
/// The methods return boxed futures so that targets of different models can be rebuilt
/// together from one list.
pub trait RebuildTarget: Send {
    /// The table (model version) written, for messages.
    fn table(&self) -> &str;

    /// Empties the version for the tenant and starts afresh; refused while the version is
    /// live.
    fn start(&mut self) -> RebuildFuture<'_, ()>;

    /// How many of the tenant's events the store holds (the progress total).
    fn events_to_read(&self) -> RebuildFuture<'_, u64>;

    /// Folds the next batch of events (following everything folded so far).
    fn fold<'a>(&'a mut self, batch: &'a ProjectionBatch) -> RebuildFuture<'a, ()>;

    /// Whether the target has gathered enough to commit now.
    fn wants_commit(&self) -> bool;

    /// Commits what was folded, documents and checkpoint in one transaction.
    fn commit(&mut self) -> RebuildFuture<'_, ()>;

    /// The checkpoint committed last.
    fn committed(&self) -> Option<GlobalPosition>;

    /// Makes the version live, in one statement; a staging twin is promoted into the table it
    /// twins instead, unless that table has been projected past it.
    fn switch_live(&mut self) -> RebuildFuture<'_, Switched>;
}

/// What [`RebuildTarget::switch_live`] (or a staging twin's promotion) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switched {
    /// The version serves readers now (a staging twin's documents and checkpoint are the
    /// serving table's).
    Live,
    /// Nothing changed: the table a staging twin promotes into has been projected past what
    /// the twin holds (its serving projector went on while the rebuild finished), and a
    /// promotion never moves a serving checkpoint back. Fold on to at least this position
    /// and switch again.
    Behind(GlobalPosition),
}

/// A boxed, sendable future of a storage result.
pub type RebuildFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// Runs `futures` concurrently (each target commits on its own connection) and returns the
/// first error, after all have finished.
async fn all<'a>(futures: Vec<RebuildFuture<'a, ()>>) -> Result<(), StorageError> {
    let mut pending: Vec<Option<RebuildFuture<'a, ()>>> = futures.into_iter().map(Some).collect();
    let mut failure = None;
    std::future::poll_fn(|context| {
        let mut waiting = false;
        for slot in &mut pending {
            if let Some(future) = slot {
                match future.as_mut().poll(context) {
                    Poll::Ready(result) => {
                        *slot = None;
                        if let Err(error) = result {
                            failure.get_or_insert(error);
                        }
                    }
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    failure.map_or(Ok(()), Err)
}

/// Rebuilds `target` (a model version that is not live) for `tenant` from position zero:
/// forgets whatever it held, folds every event, publishing progress on `progress`, and once it
/// has caught up makes it the live version in one statement. The live version serves readers
/// throughout. See [`rebuild_many`].
///
/// The new version is caught up with what was deliverable at the switch; keep its
/// asynchronous projector running from there (the old one may stop).
pub async fn rebuild<S, M>(
    store: S,
    target: Arc<PostgresDocuments<M>>,
    tenant: TenantId,
    options: ProjectorOptions,
    progress: &watch::Sender<RebuildProgress>,
) -> Result<(), RunnerError>
where
    S: EventStore,
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    let writer = target.rebuild_writer(tenant.clone(), RebuildLimits::default());
    rebuild_many(store, vec![Box::new(writer)], tenant, options, progress).await
}

/// Rebuilds every one of `targets` for `tenant` from position zero, reading the store's pages
/// (of `options.batch_size` events) once and decoding each event once for all of them. Each
/// target commits when it has gathered enough (see [`RebuildLimits`]) and at the end; once all
/// have caught up, each is made live in one statement. A staging twin whose serving table has
/// meanwhile been projected past it ([`Switched::Behind`]) folds on from where it stopped and
/// switches again (at most [`SWITCH_ATTEMPTS`] times), so a promotion never moves a serving
/// checkpoint back. Poison events follow `options.poison`: under
/// [`PoisonPolicy::Halt`](crate::PoisonPolicy::Halt) everything before the event is committed,
/// nothing is switched, and the error is returned.
///
/// A crash or error leaves each target at its last commit, never live; rebuild again (which
/// starts from zero).
pub async fn rebuild_many<'a, S>(
    store: S,
    mut targets: Vec<Box<dyn RebuildTarget + 'a>>,
    tenant: TenantId,
    options: ProjectorOptions,
    progress: &watch::Sender<RebuildProgress>,
) -> Result<(), RunnerError>
where
    S: EventStore,
{
    all(targets.iter_mut().map(|target| target.start()).collect()).await?;
    let total = match targets.first() {
        Some(target) => target.events_to_read().await?,
        None => 0,
    };
    progress.send_replace(RebuildProgress {
        total,
        ..RebuildProgress::default()
    });
    let started = Instant::now();
    let mut from = GlobalPosition::START;
    let mut attempts = 0;
    loop {
        from = fold_to_head(
            &store,
            &tenant,
            &mut targets,
            from,
            &options,
            progress,
            started,
        )
        .await?;
        let mut behind = Vec::new();
        let mut ahead = GlobalPosition::START;
        for mut target in targets {
            match target.switch_live().await? {
                Switched::Live => {}
                Switched::Behind(serving) => {
                    ahead = ahead.max(serving);
                    behind.push(target);
                }
            }
        }
        if behind.is_empty() {
            break;
        }
        attempts += 1;
        if attempts >= SWITCH_ATTEMPTS {
            return Err(RunnerError::Storage(StorageError::Unavailable {
                reason: format!(
                    "the serving projector of tenant {tenant} stayed ahead of the rebuild \
                     ({ahead} against {from}) through {SWITCH_ATTEMPTS} attempts to switch; \
                     run the rebuild again"
                ),
                source: None,
            }));
        }
        targets = behind;
    }
    progress.send_modify(|progress| progress.switched = true);
    Ok(())
}

/// How many times [`rebuild_many`] folds on and switches again while a serving projector
/// keeps ahead of a staging twin before it gives up.
pub const SWITCH_ATTEMPTS: u32 = 50;

/// Folds `tenant`'s events after `from` into every target until a read returns everything
/// deliverable, committing as the targets ask and at the end; returns the position folded
/// through. Poison events follow `options.poison` (see [`rebuild_many`]).
async fn fold_to_head<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    targets: &mut [Box<dyn RebuildTarget + '_>],
    mut from: GlobalPosition,
    options: &ProjectorOptions,
    progress: &watch::Sender<RebuildProgress>,
    started: Instant,
) -> Result<GlobalPosition, RunnerError> {
    let page_size = options.batch_size.max(1);
    let mut page = store.read_all(tenant, from, page_size).await?;
    loop {
        let read = page.len();
        let caught_up = read < page_size;
        let (batch, poison) = prepare(tenant, from, page, options.poison);
        from = batch.through;
        let fold = async {
            for target in targets.iter_mut() {
                target.fold(&batch).await?;
            }
            Ok::<(), StorageError>(())
        };
        // The next page is read while this one folds: the server works while the client
        // folds. Nothing is read past a poison event that halts the rebuild.
        let next = if caught_up || poison.is_some() {
            fold.await?;
            None
        } else {
            let (folded, next) = tokio::join!(fold, store.read_all(tenant, from, page_size));
            folded?;
            Some(next)
        };
        if poison.is_some() || caught_up || targets.iter().any(|target| target.wants_commit()) {
            all(targets.iter_mut().map(|target| target.commit()).collect()).await?;
        }
        if let Some(poison) = poison {
            return Err(poison);
        }
        let checkpoint = targets
            .iter()
            .map(|target| target.committed())
            .min()
            .flatten();
        progress.send_modify(|progress| {
            progress.update(read as u64, checkpoint, started.elapsed());
        });
        match next {
            Some(next) => page = next?,
            None => return Ok(from),
        }
    }
}
