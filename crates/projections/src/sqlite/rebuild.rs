//! The write side of a blue/green rebuild into SQLite: [`SqliteRebuildWriter`], a working set
//! over a model version nobody else writes, committed in large transactions.
//!
//! As in PostgreSQL (`postgres/rebuild.rs`): the rebuild starts by emptying its version
//! (`reset`, refused while it is live), folds pages into one working set and commits it,
//! documents, parked events and checkpoint in one transaction, when enough events or
//! documents have gathered ([`RebuildLimits`]). A crash loses the uncommitted fold and the next
//! rebuild starts from zero again, so nothing is lost or doubled. Documents a page needs that
//! the working set does not hold are read back from the table (a local read, so no cache of
//! committed documents is kept); memory is bounded by the working set.

use std::collections::HashSet;

use crm_eventstore::{GlobalPosition, TenantId};

use super::SqliteDocuments;
use crate::model::{DocKey, ReadModel};
use crate::postgres::RebuildLimits;
use crate::runner::{RebuildFuture, RebuildTarget, Switched};
use crate::storage::batch::{Batch, Change, Progress};
use crate::storage::{ParkedEvent, ProjectionBatch, StorageError};

/// A rebuild's writer into one SQLite model version for one tenant: the SQLite
/// [`RebuildTarget`], for [`rebuild_many`](crate::rebuild_many). See the module documentation.
///
/// After any error the writer refuses further work: the rebuild must start again (from
/// [`RebuildTarget::start`], which empties the version).
#[derive(Debug)]
pub struct SqliteRebuildWriter<M: ReadModel> {
    documents: SqliteDocuments<M>,
    tenant: TenantId,
    limits: RebuildLimits,
    /// The working set since the last commit.
    working: Batch<M::Doc>,
    /// The keys handed to `working`.
    named: HashSet<DocKey>,
    /// Events folded since the last commit.
    folded: usize,
    parked: Vec<ParkedEvent>,
    committed: Option<GlobalPosition>,
    through: Option<GlobalPosition>,
    broken: bool,
}

impl<M> SqliteDocuments<M>
where
    M: ReadModel,
{
    /// A rebuild writer of this version for `tenant` (nothing happens until
    /// [`RebuildTarget::start`]).
    pub fn rebuild_writer(
        &self,
        tenant: TenantId,
        limits: RebuildLimits,
    ) -> SqliteRebuildWriter<M> {
        SqliteRebuildWriter {
            documents: self.clone(),
            tenant,
            limits: RebuildLimits {
                events_per_commit: limits.events_per_commit.max(1),
                documents: limits.documents.max(1),
            },
            working: Batch::new(),
            named: HashSet::new(),
            folded: 0,
            parked: Vec::new(),
            committed: None,
            through: None,
            broken: true,
        }
    }
}

impl<M> SqliteRebuildWriter<M>
where
    M: ReadModel + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    fn refuse_if_broken(&self) -> Result<(), StorageError> {
        if self.broken {
            return Err(StorageError::Unavailable {
                reason: format!(
                    "the rebuild of {} for tenant {} must start again after an error",
                    self.documents.table(),
                    self.tenant
                ),
                source: None,
            });
        }
        Ok(())
    }

    /// Empties the version for the tenant (refused while it is live) and starts afresh.
    pub async fn start(&mut self) -> Result<(), StorageError> {
        self.broken = true;
        self.documents.reset(&self.tenant).await?;
        self.working = Batch::new();
        self.named.clear();
        self.folded = 0;
        self.parked.clear();
        self.committed = None;
        self.through = None;
        self.broken = false;
        Ok(())
    }

    /// Folds `batch` (the next events after everything folded so far) into the working set.
    /// A model error breaks the writer; nothing of the working set is written.
    pub async fn fold(&mut self, batch: &ProjectionBatch) -> Result<(), StorageError> {
        self.refuse_if_broken()?;
        self.broken = true;
        let first: Vec<DocKey> = Batch::first_keys(self.documents.model(), batch.events.iter())
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        self.provide(first).await?;
        for event in &batch.events {
            loop {
                match self.working.apply(self.documents.model(), event)? {
                    Progress::Applied => break,
                    Progress::NeedsDocuments(keys) => self.provide(keys).await?,
                }
            }
        }
        self.folded += batch.events.len();
        self.parked.extend(batch.parked.iter().cloned());
        self.through = Some(batch.through);
        self.broken = false;
        Ok(())
    }

    /// Whether the working set has reached a limit and should be committed.
    pub fn wants_commit(&self) -> bool {
        self.folded >= self.limits.events_per_commit || self.named.len() >= self.limits.documents
    }

    /// Hands `keys` the working set does not hold yet to it, as the table has them.
    async fn provide(&mut self, keys: Vec<DocKey>) -> Result<(), StorageError> {
        let missing: Vec<DocKey> = keys
            .into_iter()
            .filter(|key| !self.named.contains(key))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let documents = self.documents.clone();
        let tenant = self.tenant.clone();
        let wanted = missing.clone();
        let loaded = self
            .documents
            .database()
            .read(move |transaction| documents.load(transaction, &tenant, &wanted))
            .await?;
        let mut loaded: std::collections::HashMap<DocKey, (GlobalPosition, M::Doc)> = loaded
            .into_iter()
            .map(|(key, stamp, doc)| (key, (stamp, doc)))
            .collect();
        for key in missing {
            if self.named.insert(key) {
                self.working.provide(&self.tenant, key, loaded.remove(&key));
            }
        }
        Ok(())
    }

    /// Commits the working set, the parked events and the checkpoint in one transaction
    /// (nothing when nothing was folded since the last commit). Refused with
    /// [`StorageError::CheckpointMoved`] when another writer moved the version's checkpoint.
    pub async fn commit(&mut self) -> Result<(), StorageError> {
        self.refuse_if_broken()?;
        let Some(through) = self.through else {
            return Ok(());
        };
        if Some(through) == self.committed && self.parked.is_empty() {
            return Ok(());
        }
        self.broken = true;
        let changes: Vec<Change<M::Doc>> = std::mem::take(&mut self.working)
            .into_changes()
            .map(|(_, change)| change)
            .collect();
        let documents = self.documents.clone();
        let tenant = self.tenant.clone();
        let expected = self.committed;
        let parked = std::mem::take(&mut self.parked);
        let folded = self.folded;
        self.documents
            .database()
            .write(move |transaction| {
                let found = documents.checkpoint_in(transaction, &tenant)?;
                if found != expected {
                    return Err(StorageError::CheckpointMoved {
                        projection: documents.table().to_owned(),
                        tenant: tenant.to_string(),
                        expected,
                        found,
                    });
                }
                documents.write_changes(transaction, &tenant, &changes)?;
                documents.park(transaction, &tenant, expected, &parked)?;
                documents.save_checkpoint(transaction, &tenant, through, folded)
            })
            .await?;
        self.named.clear();
        self.folded = 0;
        self.committed = Some(through);
        self.broken = false;
        Ok(())
    }
}

impl<M> RebuildTarget for SqliteRebuildWriter<M>
where
    M: ReadModel + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    fn table(&self) -> &str {
        self.documents.table()
    }

    fn start(&mut self) -> RebuildFuture<'_, ()> {
        Box::pin(SqliteRebuildWriter::start(self))
    }

    /// Always 0: the SQLite event store's tables are not known to this crate yet, so a
    /// rebuild into SQLite publishes no total (progress still counts the events read).
    fn events_to_read(&self) -> RebuildFuture<'_, u64> {
        Box::pin(async { Ok(0) })
    }

    fn fold<'a>(&'a mut self, batch: &'a ProjectionBatch) -> RebuildFuture<'a, ()> {
        Box::pin(SqliteRebuildWriter::fold(self, batch))
    }

    fn wants_commit(&self) -> bool {
        SqliteRebuildWriter::wants_commit(self)
    }

    fn commit(&mut self) -> RebuildFuture<'_, ()> {
        Box::pin(SqliteRebuildWriter::commit(self))
    }

    fn committed(&self) -> Option<GlobalPosition> {
        self.committed
    }

    fn switch_live(&mut self) -> RebuildFuture<'_, Switched> {
        Box::pin(async move {
            self.refuse_if_broken()?;
            self.documents.switch_live(&self.tenant).await
        })
    }
}
