//! The write side of a blue/green rebuild: [`RebuildWriter`], a write-behind working set over
//! a model version nobody else writes.
//!
//! A rebuild starts by emptying its version (`reset`), and until the switch only the rebuild
//! writes it. So the writer can keep what it committed in memory instead of reading it back
//! every batch, and knows which documents the table has never held, which go in by binary
//! COPY instead of an upsert. It folds pages into one working set and commits it, documents
//! and checkpoint in one transaction, when enough events or documents have gathered: a crash
//! loses the uncommitted fold and the next rebuild starts from zero again, so nothing is lost
//! or doubled. Memory is bounded by [`RebuildLimits`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crm_eventstore::GlobalPosition;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};

use super::sql;
use super::{PostgresDocuments, Rows, execute, from_pg, index_param, to_i64};
use crate::model::{ColumnType, DocKey, IndexValue, ReadModel, Stored};
use crate::runner::{RebuildTarget, Switched};
use crate::storage::batch::{Batch, Change, Progress};
use crate::storage::table::indexed_values;
use crate::storage::{ParkedEvent, ProjectionBatch, StorageError};
use crm_eventstore::TenantId;

/// How much a [`RebuildWriter`] gathers before it commits, and how much it remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildLimits {
    /// Commit once this many events have been folded since the last commit. A crashed
    /// rebuild starts again from zero, so commits along the way only show progress (memory is
    /// bounded by `documents`); each one turns the next writes of the documents it wrote from
    /// a COPY into an upsert, so fewer are faster.
    pub events_per_commit: usize,
    /// The most documents kept in memory: committed documents remembered, and (separately)
    /// documents in the working set before it is committed. Past it, the working set is
    /// committed early and the remembered documents are forgotten, after which documents not
    /// remembered are read back from the table.
    pub documents: usize,
}

impl Default for RebuildLimits {
    fn default() -> Self {
        Self {
            events_per_commit: 10_000_000,
            documents: 200_000,
        }
    }
}

/// A rebuild's writer into one model version for one tenant. See the module documentation.
///
/// After any error the writer refuses further work: the rebuild must start again (from
/// [`RebuildTarget::start`], which empties the version).
#[derive(Debug)]
pub struct RebuildWriter<M: ReadModel> {
    documents: Arc<PostgresDocuments<M>>,
    tenant: TenantId,
    limits: RebuildLimits,
    /// Documents as committed in the table, with their stamps.
    remembered: HashMap<DocKey, (GlobalPosition, M::Doc)>,
    /// Whether `remembered` holds every document the table holds for the tenant (nothing
    /// forgotten since the start): then a document not remembered does not exist.
    complete: bool,
    /// The working set since the last commit.
    working: Batch<M::Doc>,
    /// The keys handed to `working`, and whether the table holds each.
    named: HashMap<DocKey, bool>,
    /// Events folded since the last commit.
    folded: usize,
    parked: Vec<ParkedEvent>,
    committed: Option<GlobalPosition>,
    through: Option<GlobalPosition>,
    broken: bool,
}

impl<M> PostgresDocuments<M>
where
    M: ReadModel,
{
    /// A rebuild writer of this version for `tenant` (nothing happens until
    /// [`RebuildTarget::start`]).
    pub fn rebuild_writer(
        self: &Arc<Self>,
        tenant: TenantId,
        limits: RebuildLimits,
    ) -> RebuildWriter<M> {
        RebuildWriter {
            documents: Arc::clone(self),
            tenant,
            limits: RebuildLimits {
                events_per_commit: limits.events_per_commit.max(1),
                documents: limits.documents.max(1),
            },
            remembered: HashMap::new(),
            complete: false,
            working: Batch::new(),
            named: HashMap::new(),
            folded: 0,
            parked: Vec::new(),
            committed: None,
            through: None,
            broken: true,
        }
    }
}

fn copy_type(column_type: ColumnType) -> Type {
    match column_type {
        ColumnType::Text => Type::TEXT,
        ColumnType::Uuid => Type::UUID,
        ColumnType::Int => Type::INT8,
        ColumnType::Time => Type::TIMESTAMPTZ,
        ColumnType::Bool => Type::BOOL,
    }
}

// NULLs of each column type: a binary COPY checks that a value's Rust type fits the column's.
static NULL_TEXT: Option<&str> = None;
static NULL_UUID: Option<uuid::Uuid> = None;
static NULL_INT: Option<i64> = None;
static NULL_TIME: Option<chrono::DateTime<chrono::Utc>> = None;
static NULL_BOOL: Option<bool> = None;

fn null_of(column_type: ColumnType) -> &'static (dyn ToSql + Sync) {
    match column_type {
        ColumnType::Text => &NULL_TEXT,
        ColumnType::Uuid => &NULL_UUID,
        ColumnType::Int => &NULL_INT,
        ColumnType::Time => &NULL_TIME,
        ColumnType::Bool => &NULL_BOOL,
    }
}

impl<M> RebuildWriter<M>
where
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
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
        self.remembered.clear();
        self.complete = true;
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
        let model = self.documents.model();
        let first: Vec<DocKey> = Batch::first_keys(model, batch.events.iter())
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        self.provide(&first).await?;
        for event in &batch.events {
            loop {
                match self.working.apply(self.documents.model(), event)? {
                    Progress::Applied => break,
                    Progress::NeedsDocuments(keys) => self.provide(&keys).await?,
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

    /// Hands `keys` to the working set: remembered documents, known absences, and the rest
    /// read from the table.
    async fn provide(&mut self, keys: &[DocKey]) -> Result<(), StorageError> {
        let mut missing: HashSet<DocKey> = HashSet::new();
        for key in keys {
            if self.named.contains_key(key) {
                continue;
            }
            if let Some((stamp, doc)) = self.remembered.get(key) {
                self.working
                    .provide(&self.tenant, *key, Some((*stamp, doc.clone())));
                self.named.insert(*key, true);
            } else if self.complete {
                self.working.provide(&self.tenant, *key, None);
                self.named.insert(*key, false);
            } else {
                missing.insert(*key);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let texts: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let client = self.documents.client().await?;
        let mut loaded: HashMap<DocKey, (GlobalPosition, M::Doc)> = self
            .documents
            .load(&**client, &self.tenant, &texts)
            .await?
            .into_iter()
            .map(|(key, stamp, doc)| (key, (stamp, doc)))
            .collect();
        for key in missing {
            let stored = loaded.remove(&key);
            self.named.insert(key, stored.is_some());
            self.working.provide(&self.tenant, key, stored);
        }
        Ok(())
    }

    /// Commits the working set, the parked events and the checkpoint in one transaction
    /// (nothing when nothing was folded since the last commit).
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
        self.write(&changes, through).await?;
        for change in changes {
            match change {
                Change::Upsert(stored) => {
                    self.remembered
                        .insert(stored.key, (stored.position, stored.doc));
                }
                Change::Delete(key) => {
                    self.remembered.remove(&key);
                }
            }
        }
        if self.remembered.len() > self.limits.documents {
            // Keep what this round touched (the likeliest to be touched again), else nothing.
            let named = &self.named;
            self.remembered.retain(|key, _| named.contains_key(key));
            if self.remembered.len() > self.limits.documents {
                self.remembered.clear();
            }
            self.complete = false;
        }
        self.named.clear();
        self.folded = 0;
        self.parked.clear();
        self.committed = Some(through);
        self.broken = false;
        Ok(())
    }

    async fn write(
        &self,
        changes: &[Change<M::Doc>],
        through: GlobalPosition,
    ) -> Result<(), StorageError> {
        let documents = &*self.documents;
        let tenant = self.tenant.as_str();
        let projection = documents.table();
        let mut client = documents.client().await?;
        let transaction = client.transaction().await.map_err(from_pg)?;
        let open: &tokio_postgres::Transaction<'_> = &transaction;
        execute(open, sql::CHECKPOINT_ROW, &[&projection, &tenant]).await?;
        let row = open
            .query_one(sql::LOCK_CHECKPOINT, &[&projection, &tenant])
            .await
            .map_err(from_pg)?;
        let found = super::checkpoint_of(&row, projection)?;
        if found != self.committed {
            return Err(StorageError::CheckpointMoved {
                projection: projection.to_owned(),
                tenant: tenant.to_owned(),
                expected: self.committed,
                found,
            });
        }

        let mut updated = Rows::new(M::COLUMNS);
        let mut deleted: Vec<String> = Vec::new();
        let mut inserted: Vec<&Stored<M::Doc>> = Vec::new();
        for change in changes {
            let in_table = |key: &DocKey| self.named.get(key).copied().unwrap_or(true);
            match change {
                Change::Upsert(stored) if in_table(&stored.key) => {
                    updated.push::<M>(stored)?;
                }
                Change::Upsert(stored) => inserted.push(stored),
                Change::Delete(key) if in_table(key) => deleted.push(key.to_string()),
                Change::Delete(_) => {}
            }
        }
        if !deleted.is_empty() {
            execute(open, &documents.sql.delete, &[&tenant, &deleted]).await?;
        }
        if !updated.keys.is_empty() {
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![
                &tenant,
                &updated.keys,
                &updated.kinds,
                &updated.transactions,
                &updated.positions,
                &updated.docs,
            ];
            params.extend(updated.columns.iter().map(super::Column::as_param));
            execute(open, &documents.sql.upsert, &params).await?;
        }
        if !inserted.is_empty() {
            self.copy_in(open, &inserted).await?;
        }
        documents
            .park(open, &self.tenant, self.committed, &self.parked)
            .await?;
        let counted = i64::try_from(self.folded).unwrap_or(i64::MAX);
        execute(
            open,
            sql::SAVE_CHECKPOINT,
            &[
                &projection,
                &tenant,
                &to_i64(through.transaction),
                &to_i64(through.position),
                &counted,
            ],
        )
        .await?;
        transaction.commit().await.map_err(from_pg)
    }

    /// Writes documents the table has never held with one binary COPY.
    async fn copy_in(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        inserted: &[&Stored<M::Doc>],
    ) -> Result<(), StorageError> {
        let mut types = vec![
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::JSONB,
        ];
        types.extend(
            M::COLUMNS
                .iter()
                .map(|column| copy_type(column.column_type)),
        );
        let sink = transaction
            .copy_in(&self.documents.sql.copy_in)
            .await
            .map_err(from_pg)?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        let tenant = self.tenant.as_str();
        for stored in inserted {
            let key = stored.key.to_string();
            let transaction_id = to_i64(stored.position.transaction);
            let position = to_i64(stored.position.position);
            let doc = Json(&stored.doc);
            let values: Vec<Option<IndexValue>> = indexed_values::<M>(&stored.key, &stored.doc)?;
            let mut row: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(types.len());
            row.extend([
                &tenant as &(dyn ToSql + Sync),
                &key,
                &stored.key.kind,
                &transaction_id,
                &position,
                &doc,
            ]);
            for (declared, value) in M::COLUMNS.iter().zip(&values) {
                row.push(match value {
                    Some(value) => index_param(value),
                    None => null_of(declared.column_type),
                });
            }
            writer.as_mut().write(&row).await.map_err(from_pg)?;
        }
        writer.finish().await.map_err(from_pg)?;
        Ok(())
    }
}

use crate::runner::RebuildFuture;

impl<M> RebuildTarget for RebuildWriter<M>
where
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    fn table(&self) -> &str {
        self.documents.table()
    }

    fn start(&mut self) -> RebuildFuture<'_, ()> {
        Box::pin(RebuildWriter::start(self))
    }

    fn events_to_read(&self) -> RebuildFuture<'_, u64> {
        Box::pin(async move {
            let (count, _) = self
                .documents
                .events_after(&self.tenant, GlobalPosition::START)
                .await?;
            Ok(count)
        })
    }

    fn fold<'a>(&'a mut self, batch: &'a ProjectionBatch) -> RebuildFuture<'a, ()> {
        Box::pin(RebuildWriter::fold(self, batch))
    }

    fn wants_commit(&self) -> bool {
        RebuildWriter::wants_commit(self)
    }

    fn commit(&mut self) -> RebuildFuture<'_, ()> {
        Box::pin(RebuildWriter::commit(self))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::sql::sql_type;

    #[test]
    fn every_column_type_copies_as_its_sql_type_with_a_null() {
        for column_type in [
            ColumnType::Text,
            ColumnType::Uuid,
            ColumnType::Int,
            ColumnType::Time,
            ColumnType::Bool,
        ] {
            let ty = copy_type(column_type);
            assert_eq!(ty.name(), sql_type(column_type));
            assert!(format!("{:?}", null_of(column_type)).contains("None"));
        }
    }
}
