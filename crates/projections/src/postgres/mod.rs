//! The PostgreSQL adapter of the storage port: [`PostgresDocuments`].
//!
//! One table per model version, `proj_<NAME>_v<VERSION>`, keyed by (tenant, document key):
//! the document as JSONB, the stamp of the last event that changed it (transaction id and
//! position), and one column per indexed column the model declares (`c_<name>`, indexed with
//! the tenant and the kind in front). The checkpoint, the parked events and the live version
//! live in shared bookkeeping tables (see `sql.rs`).
//!
//! A batch is one transaction: lock the checkpoint row, load every document the batch names
//! in one statement per round of keys, apply through [`Batch`], write what changed in one
//! multi-row upsert and one delete, record parked events, move the checkpoint, commit. A crash
//! anywhere loses and doubles nothing.

mod rebuild;
mod sql;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crm_eventstore::postgres::tls::ConnectionSettings;
use crm_eventstore::{GlobalPosition, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{GenericClient, IsolationLevel, Row};
use uuid::Uuid;

use self::sql::TableSql;
use crate::event::ProjectedEvent;
use crate::model::{
    ColumnType, Comparison, DocKey, Found, IndexValue, Lookup, ReadModel, Scan, Selection, Stored,
};
use crate::runner::Switched;
use crate::storage::batch::{Batch, Change, Progress, Stamps};
use crate::storage::table::{column_name, indexed_values, ordered_indexes, table_name};
use crate::storage::{DocumentStore, ParkedEvent, ProjectionBatch, StorageError};
use crm_eventstore::TenantId;

pub use self::rebuild::{RebuildLimits, RebuildWriter};
pub(crate) use self::sql::{EVENTS_AFTER, TRY_LEASE};

/// How many rounds of linked keys a lookup may take (as in memory).
const MAX_LOOKUP_ROUNDS: usize = 8;

/// Maps a driver error: lost connections, shutdowns and exhausted resources are
/// [`StorageError::Unavailable`], naming the cause and keeping the driver's error as the
/// source; other server errors keep their SQLSTATE and message.
pub(crate) fn from_pg(error: tokio_postgres::Error) -> StorageError {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let unavailable =
            code.starts_with("08") || code.starts_with("57P") || code.starts_with("53");
        if !unavailable {
            return StorageError::Database {
                code: code.to_owned(),
                message: db.message().to_owned(),
            };
        }
    }
    StorageError::Unavailable {
        reason: with_causes(&error),
        source: Some(Box::new(error)),
    }
}

/// [`StorageError::Unavailable`] while `doing` something, naming the cause `source` carries
/// (down its chain) and keeping `source`.
pub(crate) fn unavailable(
    doing: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> StorageError {
    StorageError::Unavailable {
        reason: format!("{doing}: {}", with_causes(&source)),
        source: Some(Box::new(source)),
    }
}

/// `error`'s message followed by those of its sources (`a: b: c`), leaving out a message the
/// text already holds (deadpool's errors repeat their backend's): tokio-postgres keeps the
/// cause of a failure (`Connection refused`, the server's `FATAL` message) only in the source
/// chain, under `error connecting to server`. (The event store has the same private helper.)
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// Reads a connection string as libpq does, `sslmode` and `sslrootcert` included (see
/// [`crm_eventstore::postgres::tls`]): a string that does not parse is
/// [`StorageError::Unavailable`] (as it always was here), unusable TLS settings are
/// [`StorageError::ConnectionSettings`].
pub(crate) fn connection_settings(connection: &str) -> Result<ConnectionSettings, StorageError> {
    ConnectionSettings::parse(connection).map_err(|error| match error {
        StoreError::Unavailable { reason, source } => StorageError::Unavailable { reason, source },
        other => StorageError::ConnectionSettings(other),
    })
}

fn pool_error(error: deadpool_postgres::PoolError) -> StorageError {
    unavailable("no pooled connection", error)
}

/// Builds a connection pool for `connection` (a libpq `key=value` string or a URL; TLS as its
/// `sslmode` and `sslrootcert` say, read as libpq reads them: see
/// [`crm_eventstore::postgres::tls`]).
///
/// Connects lazily: an unreachable server (or a refused TLS handshake) shows at the first use
/// of the pool (as [`StorageError::Unavailable`], whose message says why). Fails here only when
/// `connection` does not parse, with the parser's reason, or when its TLS settings cannot be
/// used ([`StorageError::ConnectionSettings`]: an unknown `sslmode`, an unreadable
/// `sslrootcert`).
pub fn connect_pool(connection: &str, size: usize) -> Result<Pool, StorageError> {
    let settings = connection_settings(connection)?;
    let manager = Manager::from_config(
        settings.config().clone(),
        settings.tls(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(30)))
        .create_timeout(Some(std::time::Duration::from_secs(30)))
        .build()
        .map_err(|error| unavailable("cannot build the connection pool", error))
}

fn to_i64(value: u64) -> i64 {
    // Transaction ids and positions are bigints in the store; they never reach 2^63.
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64, table: &str, what: &str) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::CorruptDocument {
        table: table.to_owned(),
        key: what.to_owned(),
        reason: format!("negative {what} {value}"),
    })
}

/// The checkpoint read from a row's `tx_id` and `position` (both NULL: none yet).
fn checkpoint_of(row: &Row, table: &str) -> Result<Option<GlobalPosition>, StorageError> {
    let transaction: Option<i64> = row.try_get(0).map_err(from_pg)?;
    let position: Option<i64> = row.try_get(1).map_err(from_pg)?;
    match (transaction, position) {
        (Some(transaction), Some(position)) => Ok(Some(GlobalPosition {
            transaction: to_u64(transaction, table, "checkpoint transaction")?,
            position: to_u64(position, table, "checkpoint position")?,
        })),
        _ => Ok(None),
    }
}

/// One model version's documents in PostgreSQL. See the module documentation.
///
/// Clones share the pool.
#[derive(Debug)]
pub struct PostgresDocuments<M: ReadModel> {
    model: M,
    pool: Pool,
    table: Arc<str>,
    sql: Arc<TableSql>,
    remembered: Arc<Mutex<Remembered<M::Doc>>>,
    /// Set on a staging twin (see [`PostgresDocuments::staging`]): the table it is promoted
    /// into.
    promotes_into: Option<Arc<LiveTable>>,
}

/// The serving table a staging twin is promoted into.
#[derive(Debug)]
struct LiveTable {
    table: Arc<str>,
    sql: Arc<TableSql>,
}

impl<M: ReadModel + Clone> Clone for PostgresDocuments<M> {
    fn clone(&self) -> Self {
        Self {
            model: self.model.clone(),
            pool: self.pool.clone(),
            table: Arc::clone(&self.table),
            sql: Arc::clone(&self.sql),
            remembered: Arc::clone(&self.remembered),
            promotes_into: self.promotes_into.clone(),
        }
    }
}

/// How many committed documents an adapter remembers by default (see
/// [`PostgresDocuments::remembering`]).
pub const REMEMBERED_DOCUMENTS: usize = 20_000;

/// Documents this adapter committed, with their stamps: a version-checked cache. A batch reads
/// back only the stamps of the documents it needs and takes a remembered document whose stamp
/// still matches, instead of shipping and decoding the document again; any other writer
/// (another process, an inline append, a rebuild) changes the stamp, and the document is
/// read afresh.
#[derive(Debug)]
struct Remembered<D> {
    capacity: usize,
    held: usize,
    tenants: HashMap<TenantId, HashMap<DocKey, (GlobalPosition, D)>>,
    /// Per tenant, the checkpoint generation the remembered documents belong to.
    generations: HashMap<TenantId, i64>,
}

impl<D: Clone> Remembered<D> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            held: 0,
            tenants: HashMap::new(),
            generations: HashMap::new(),
        }
    }

    fn holds_any(&self, tenant: &TenantId, keys: &[DocKey]) -> bool {
        self.tenants
            .get(tenant)
            .is_some_and(|documents| keys.iter().any(|key| documents.contains_key(key)))
    }

    /// The remembered document at `key` if it carries `stamp`.
    fn get(&self, tenant: &TenantId, key: DocKey, stamp: GlobalPosition) -> Option<D> {
        match self.tenants.get(tenant)?.get(&key) {
            Some((remembered, doc)) if *remembered == stamp => Some(doc.clone()),
            _ => None,
        }
    }

    /// Remembers what a committed batch wrote; past the capacity, forgets everything first
    /// (the next batches read documents afresh and remember them again).
    fn commit(&mut self, tenant: &TenantId, changes: Vec<Change<D>>) {
        if self.capacity == 0 {
            return;
        }
        if self.held + changes.len() > self.capacity {
            self.tenants.clear();
            self.held = 0;
        }
        let documents = self.tenants.entry(tenant.clone()).or_default();
        for change in changes {
            match change {
                Change::Upsert(stored) if self.held < self.capacity => {
                    let new = documents
                        .insert(stored.key, (stored.position, stored.doc))
                        .is_none();
                    self.held += usize::from(new);
                }
                Change::Upsert(Stored { key, .. }) | Change::Delete(key) => {
                    let old = documents.remove(&key).is_some();
                    self.held = self.held.saturating_sub(usize::from(old));
                }
            }
        }
    }

    fn forget(&mut self, tenant: &TenantId) {
        if let Some(documents) = self.tenants.remove(tenant) {
            self.held = self.held.saturating_sub(documents.len());
        }
    }

    /// Notes the tenant's generation as read with its locked checkpoint: a promotion (an
    /// in-place rebuild) bumps it, and documents remembered from before it are forgotten, since
    /// a rebuilt document may carry an old stamp over new content (a parked event applied).
    fn meet_generation(&mut self, tenant: &TenantId, generation: i64) {
        match self.generations.get_mut(tenant) {
            Some(known) if *known == generation => {}
            Some(known) => {
                *known = generation;
                self.forget(tenant);
            }
            None => {
                self.generations.insert(tenant.clone(), generation);
            }
        }
    }
}

/// A stored row read back: key, stamp and document.
type Loaded<D> = (DocKey, GlobalPosition, D);

/// What a batch is handed for a key: the stored document with its stamp, or none.
type Provided<D> = Option<(GlobalPosition, D)>;

impl<M> PostgresDocuments<M>
where
    M: ReadModel,
{
    /// The table of this model version: `proj_<NAME>_v<VERSION>`.
    ///
    /// Fails with [`StorageError::InvalidName`] when `NAME` or a column name is not a plain
    /// lower-case identifier, or too long.
    pub fn table_name() -> Result<String, StorageError> {
        table_name::<M>()
    }

    /// Connects a pool of `pool_size` connections and prepares the schema (see
    /// [`PostgresDocuments::with_pool`]).
    pub async fn connect(
        connection: &str,
        pool_size: usize,
        model: M,
    ) -> Result<Self, StorageError> {
        Self::with_pool(connect_pool(connection, pool_size)?, model).await
    }

    /// The adapter over `pool`, creating the bookkeeping tables and this version's table if
    /// they do not exist (safe to run from several processes at once).
    pub async fn with_pool(pool: Pool, model: M) -> Result<Self, StorageError> {
        let table = Self::table_name()?;
        Self::open_table(pool, model, table, None).await
    }

    /// A staging twin of this version: the same model over table `<table>_r` in the same
    /// database, for a rebuild in place. A rebuild folds the twin from position zero (see
    /// [`rebuild`](crate::rebuild)) while this table keeps serving; making the twin "live"
    /// then [promotes](PostgresDocuments::promote) it into this table for the tenant, in one
    /// transaction. Fails with [`StorageError::InvalidName`] when the twin's names would pass
    /// PostgreSQL's 63-byte limit.
    pub async fn staging(&self) -> Result<Self, StorageError>
    where
        M: Clone,
    {
        let table = format!("{}_r", self.table);
        let longest_index = M::COLUMNS
            .iter()
            .map(|column| column_name(column.name).len() + 1)
            .chain([3 + M::ORDERED_WITHIN.len().to_string().len()])
            .max()
            .unwrap_or(0);
        if table.len() + longest_index > 63 {
            return Err(StorageError::InvalidName {
                what: "staging table (name too long)",
                name: table,
            });
        }
        let live = LiveTable {
            table: Arc::clone(&self.table),
            sql: Arc::clone(&self.sql),
        };
        Self::open_table(self.pool.clone(), self.model.clone(), table, Some(live))
            .await
            .map(|staging| staging.remembering(0))
    }

    async fn open_table(
        pool: Pool,
        model: M,
        table: String,
        promotes_into: Option<LiveTable>,
    ) -> Result<Self, StorageError> {
        let sql = TableSql::new(&table, M::COLUMNS);
        let mut client = pool.get().await.map_err(pool_error)?;
        let transaction = client.transaction().await.map_err(from_pg)?;
        transaction
            .batch_execute(&format!(
                "{};\n{}\n{}\n{}",
                sql::SCHEMA_LOCK,
                sql::BOOKKEEPING,
                sql.create,
                ordered_indexes::<M>(&table).join("\n")
            ))
            .await
            .map_err(from_pg)?;
        transaction.commit().await.map_err(from_pg)?;
        Ok(Self {
            model,
            pool,
            table: Arc::from(table),
            sql: Arc::new(sql),
            remembered: Arc::new(Mutex::new(Remembered::new(REMEMBERED_DOCUMENTS))),
            promotes_into: promotes_into.map(Arc::new),
        })
    }

    /// This adapter remembering at most `documents` committed documents (default
    /// [`REMEMBERED_DOCUMENTS`]; 0: none), so that the next batches that touch them read
    /// back only their stamps. Memory grows with `documents` times a document's size.
    #[must_use]
    pub fn remembering(mut self, documents: usize) -> Self {
        self.remembered = Arc::new(Mutex::new(Remembered::new(documents)));
        self
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Remembered<M::Doc>> {
        // A panic while the lock was held cannot leave the cache half-written in a way that
        // matters: every entry is checked against the table's stamp before use.
        self.remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The documents' table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The pool the adapter reads and writes through.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// [`DocumentStore::commit`] inside a transaction the caller owns: nothing is visible
    /// until the caller commits, and a rollback undoes it all.
    pub async fn commit_in(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        batch: &ProjectionBatch,
    ) -> Result<(), StorageError> {
        self.commit_batch(transaction, tenant, expected, batch)
            .await
            .map(drop)
    }

    /// [`PostgresDocuments::commit_in`], returning the changes written.
    async fn commit_batch(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        batch: &ProjectionBatch,
    ) -> Result<Vec<Change<M::Doc>>, StorageError> {
        let projection: &str = &self.table;
        execute(
            transaction,
            sql::CHECKPOINT_ROW,
            &[&projection, &tenant.as_str()],
        )
        .await?;
        let row = transaction
            .query_one(sql::LOCK_CHECKPOINT, &[&projection, &tenant.as_str()])
            .await
            .map_err(from_pg)?;
        let found = checkpoint_of(&row, &self.table)?;
        let generation: i64 = row.try_get(2).map_err(from_pg)?;
        self.remembered().meet_generation(tenant, generation);
        if found != expected {
            return Err(StorageError::CheckpointMoved {
                projection: self.table.to_string(),
                tenant: tenant.to_string(),
                expected,
                found,
            });
        }
        let pending: Vec<&ProjectedEvent> = batch
            .events
            .iter()
            .filter(|event| expected.is_none_or(|done| event.global_position() > done))
            .collect();
        let changes = self
            .apply_events(transaction, tenant, &pending, false)
            .await?;
        self.park(transaction, tenant, expected, &batch.parked)
            .await?;
        let through = batch.through.max(expected.unwrap_or(GlobalPosition::START));
        let counted = i64::try_from(pending.len()).unwrap_or(i64::MAX);
        execute(
            transaction,
            sql::SAVE_CHECKPOINT,
            &[
                &projection,
                &tenant.as_str(),
                &to_i64(through.transaction),
                &to_i64(through.position),
                &counted,
            ],
        )
        .await?;
        Ok(changes)
    }

    /// Applies `events` (just appended in `transaction`, of one tenant) to the documents in
    /// the same transaction, for read-your-writes: the inline lifecycle. The checkpoint is
    /// left alone; the documents are locked (present or not) until the transaction ends, so
    /// concurrent inline writers of one document queue, and each event is applied, whatever
    /// the stamps, exactly once because it was appended exactly once.
    pub async fn apply_inline(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), StorageError> {
        let mut by_tenant: Vec<(&TenantId, Vec<&ProjectedEvent>)> = Vec::new();
        for event in events {
            match by_tenant
                .iter_mut()
                .find(|(tenant, _)| **tenant == event.tenant)
            {
                Some((_, events)) => events.push(event),
                None => by_tenant.push((&event.tenant, vec![event])),
            }
        }
        for (tenant, events) in by_tenant {
            self.apply_events(transaction, tenant, &events, true)
                .await?;
        }
        Ok(())
    }

    /// Loads, applies and writes back `events` of `tenant`; returns the changes written.
    /// `inline`: lock the keys first and treat every loaded document as older than the events.
    async fn apply_events(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        tenant: &TenantId,
        events: &[&ProjectedEvent],
        inline: bool,
    ) -> Result<Vec<Change<M::Doc>>, StorageError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch: Batch<M::Doc> = Batch::new();
        let mut stamps = Stamps::new(inline);
        let first: Vec<DocKey> = Batch::first_keys(&self.model, events.iter().copied())
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        self.provide(transaction, tenant, &mut batch, &first, &mut stamps)
            .await?;
        for event in events {
            loop {
                match batch.apply(&self.model, event)? {
                    Progress::Applied => break,
                    Progress::NeedsDocuments(keys) => {
                        self.provide(transaction, tenant, &mut batch, &keys, &mut stamps)
                            .await?;
                    }
                }
            }
        }
        let changes: Vec<Change<M::Doc>> = batch
            .into_changes()
            .map(|(_, change)| stamps.restore(change))
            .collect();
        self.write(transaction, tenant, &changes).await?;
        Ok(changes)
    }

    async fn provide(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        tenant: &TenantId,
        batch: &mut Batch<M::Doc>,
        keys: &[DocKey],
        stamps: &mut Stamps,
    ) -> Result<(), StorageError> {
        let texts: Vec<String> = keys.iter().map(ToString::to_string).collect();
        if stamps.inline {
            transaction
                .query_one(sql::LOCK_KEYS, &[&&*self.table, &tenant.as_str(), &texts])
                .await
                .map_err(from_pg)?;
        } else if self.remembered().holds_any(tenant, keys) {
            return self
                .provide_remembered(transaction, tenant, batch, keys, texts)
                .await;
        }
        let mut loaded: HashMap<DocKey, (GlobalPosition, M::Doc)> = self
            .load(transaction, tenant, &texts)
            .await?
            .into_iter()
            .map(|(key, stamp, doc)| (key, (stamp, doc)))
            .collect();
        for key in keys {
            let stored = loaded
                .remove(key)
                .map(|(stamp, doc)| (stamps.hide(*key, stamp), doc));
            batch.provide(tenant, *key, stored);
        }
        Ok(())
    }

    /// Hands `keys` to `batch` reading back only their stamps: remembered documents whose
    /// stamp matches are taken from memory, the others loaded.
    async fn provide_remembered(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        tenant: &TenantId,
        batch: &mut Batch<M::Doc>,
        keys: &[DocKey],
        texts: Vec<String>,
    ) -> Result<(), StorageError> {
        let rows = transaction
            .query(&self.sql.stamps, &[&tenant.as_str(), &texts])
            .await
            .map_err(from_pg)?;
        let mut stamped: HashMap<DocKey, GlobalPosition> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let text: String = row.try_get(0).map_err(from_pg)?;
            let key =
                DocKey::parse(M::KINDS, &text).ok_or_else(|| StorageError::CorruptDocument {
                    table: self.table.to_string(),
                    key: text.clone(),
                    reason: "not a key of this model".to_owned(),
                })?;
            let transaction_id: i64 = row.try_get(1).map_err(from_pg)?;
            let position: i64 = row.try_get(2).map_err(from_pg)?;
            let stamp = GlobalPosition {
                transaction: to_u64(transaction_id, &self.table, "stamp transaction")?,
                position: to_u64(position, &self.table, "stamp position")?,
            };
            stamped.insert(key, stamp);
        }
        let mut missing: Vec<DocKey> = Vec::new();
        let mut found: Vec<(DocKey, Provided<M::Doc>)> = Vec::new();
        {
            let remembered = self.remembered();
            for key in keys {
                match stamped.get(key) {
                    None => found.push((*key, None)),
                    Some(stamp) => match remembered.get(tenant, *key, *stamp) {
                        Some(doc) => found.push((*key, Some((*stamp, doc)))),
                        None => missing.push(*key),
                    },
                }
            }
        }
        for (key, stored) in found {
            batch.provide(tenant, key, stored);
        }
        if missing.is_empty() {
            return Ok(());
        }
        let texts: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let mut loaded: HashMap<DocKey, (GlobalPosition, M::Doc)> = self
            .load(transaction, tenant, &texts)
            .await?
            .into_iter()
            .map(|(key, stamp, doc)| (key, (stamp, doc)))
            .collect();
        for key in missing {
            batch.provide(tenant, key, loaded.remove(&key));
        }
        Ok(())
    }

    async fn load(
        &self,
        client: &impl GenericClient,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<Vec<Loaded<M::Doc>>, StorageError> {
        let rows = client
            .query(&self.sql.load, &[&tenant.as_str(), &keys])
            .await
            .map_err(from_pg)?;
        rows.iter().map(|row| self.decode_row(row)).collect()
    }

    fn decode_row(&self, row: &Row) -> Result<Loaded<M::Doc>, StorageError> {
        let corrupt = |key: &str, reason: String| StorageError::CorruptDocument {
            table: self.table.to_string(),
            key: key.to_owned(),
            reason,
        };
        let text: String = row.try_get(0).map_err(from_pg)?;
        let key = DocKey::parse(M::KINDS, &text)
            .ok_or_else(|| corrupt(&text, "not a key of this model".to_owned()))?;
        let transaction: i64 = row.try_get(1).map_err(from_pg)?;
        let position: i64 = row.try_get(2).map_err(from_pg)?;
        let json: JsonText<'_> = row.try_get(3).map_err(from_pg)?;
        let doc =
            serde_json::from_slice(json.0).map_err(|error| corrupt(&text, error.to_string()))?;
        let stamp = GlobalPosition {
            transaction: to_u64(transaction, &self.table, "stamp transaction")?,
            position: to_u64(position, &self.table, "stamp position")?,
        };
        Ok((key, stamp, doc))
    }

    /// Writes `changes` back: one multi-row upsert and one delete.
    async fn write(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        tenant: &TenantId,
        changes: &[Change<M::Doc>],
    ) -> Result<(), StorageError> {
        let mut rows = Rows::new(M::COLUMNS);
        let mut deleted: Vec<String> = Vec::new();
        for change in changes {
            match change {
                Change::Upsert(stored) => rows.push::<M>(stored)?,
                Change::Delete(key) => deleted.push(key.to_string()),
            }
        }
        if !deleted.is_empty() {
            transaction
                .execute(&self.sql.delete, &[&tenant.as_str(), &deleted])
                .await
                .map_err(from_pg)?;
        }
        if !rows.keys.is_empty() {
            let tenant = tenant.as_str();
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![
                &tenant,
                &rows.keys,
                &rows.kinds,
                &rows.transactions,
                &rows.positions,
                &rows.docs,
            ];
            params.extend(rows.columns.iter().map(Column::as_param));
            transaction
                .execute(&self.sql.upsert, &params)
                .await
                .map_err(from_pg)?;
        }
        Ok(())
    }

    async fn park(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        parked: &[ParkedEvent],
    ) -> Result<(), StorageError> {
        let parked: Vec<&ParkedEvent> = parked
            .iter()
            .filter(|parked| expected.is_none_or(|done| parked.position > done))
            .collect();
        if parked.is_empty() {
            return Ok(());
        }
        let transactions: Vec<i64> = parked
            .iter()
            .map(|p| to_i64(p.position.transaction))
            .collect();
        let positions: Vec<i64> = parked.iter().map(|p| to_i64(p.position.position)).collect();
        let streams: Vec<&str> = parked.iter().map(|p| p.stream.as_str()).collect();
        let versions: Vec<i64> = parked.iter().map(|p| to_i64(p.version)).collect();
        let ids: Vec<Uuid> = parked.iter().map(|p| p.event_id).collect();
        let types: Vec<&str> = parked.iter().map(|p| p.event_type.as_str()).collect();
        let schemas: Vec<i32> = parked.iter().map(|p| i32::from(p.schema_version)).collect();
        let reasons: Vec<&str> = parked.iter().map(|p| p.reason.as_str()).collect();
        let recorded: Vec<DateTime<Utc>> = parked.iter().map(|p| p.recorded_at).collect();
        transaction
            .execute(
                sql::PARK,
                &[
                    &&*self.table,
                    &tenant.as_str(),
                    &transactions,
                    &positions,
                    &streams,
                    &versions,
                    &ids,
                    &types,
                    &schemas,
                    &reasons,
                    &recorded,
                ],
            )
            .await
            .map_err(from_pg)?;
        Ok(())
    }

    /// The live version of this model for `tenant` (the one readers are served from), if any
    /// was set.
    pub async fn live_version(&self, tenant: &TenantId) -> Result<Option<u32>, StorageError> {
        let client = self.client().await?;
        let row = client
            .query_opt(sql::LIVE_VERSION, &[&M::NAME, &tenant.as_str()])
            .await
            .map_err(from_pg)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let version: i32 = row.try_get(0).map_err(from_pg)?;
                Ok(u32::try_from(version).ok())
            }
        }
    }

    /// Whether this version is the one readers of `tenant` are served from (never a staging
    /// twin).
    pub async fn is_live(&self, tenant: &TenantId) -> Result<bool, StorageError> {
        if self.promotes_into.is_some() {
            return Ok(false);
        }
        Ok(self.live_version(tenant).await? == Some(M::VERSION))
    }

    /// Makes this version the live one for `tenant`, in one statement (blue/green switch);
    /// on a staging twin, [promotes](PostgresDocuments::promote) it instead.
    pub async fn switch_live(&self, tenant: &TenantId) -> Result<Switched, StorageError> {
        if self.promotes_into.is_some() {
            return self.promote(tenant).await;
        }
        self.set_live(tenant, sql::SWITCH_LIVE).await?;
        Ok(Switched::Live)
    }

    /// Moves what this staging twin holds for `tenant` into the table it twins, in one
    /// transaction: under the serving table's locked checkpoint, its documents of the tenant
    /// are replaced by the twin's, its parked events by the twin's, and its checkpoint set to
    /// the twin's, with the checkpoint's generation bumped (so every process forgets the
    /// documents it remembered); the twin is emptied. Readers see the old documents until
    /// the commit and the rebuilt ones after it. A projector serving the table finds its
    /// checkpoint moved and goes on from the twin's. Refused on a table that is not a twin.
    ///
    /// A serving checkpoint never moves back: when the serving table has been projected past
    /// the twin (its projector went on while the rebuild finished), nothing changes and
    /// [`Switched::Behind`] says how far it is; fold the twin on and promote again.
    pub async fn promote(&self, tenant: &TenantId) -> Result<Switched, StorageError> {
        let Some(live) = &self.promotes_into else {
            return Err(StorageError::Unavailable {
                reason: format!("{} is not a staging table: nothing to promote", self.table),
                source: None,
            });
        };
        let tenant = tenant.as_str();
        let staging: &str = &self.table;
        let serving: &str = &live.table;
        let mut client = self.client().await?;
        let owned = client.transaction().await.map_err(from_pg)?;
        let transaction: &tokio_postgres::Transaction<'_> = &owned;
        execute(transaction, sql::CHECKPOINT_ROW, &[&serving, &tenant]).await?;
        let served = transaction
            .query_one(sql::LOCK_CHECKPOINT, &[&serving, &tenant])
            .await
            .map_err(from_pg)?;
        let served = checkpoint_of(&served, serving)?;
        let rebuilt = transaction
            .query_opt(sql::LOCK_STAGED_CHECKPOINT, &[&staging, &tenant])
            .await
            .map_err(from_pg)?;
        let Some(rebuilt) = rebuilt else {
            return Err(StorageError::Unavailable {
                reason: format!("{staging} holds no rebuild of tenant {tenant} to promote"),
                source: None,
            });
        };
        if let Some(served) = served
            && checkpoint_of(&rebuilt, staging)?.is_none_or(|twin| twin < served)
        {
            return Ok(Switched::Behind(served));
        }
        let transaction_id: Option<i64> = rebuilt.try_get(0).map_err(from_pg)?;
        let position: Option<i64> = rebuilt.try_get(1).map_err(from_pg)?;
        let events: i64 = rebuilt.try_get(2).map_err(from_pg)?;
        execute(transaction, &live.sql.forget_tenant, &[&tenant]).await?;
        execute(
            transaction,
            &format!(
                "INSERT INTO {serving} ({columns}) SELECT {columns} FROM {staging} \
                 WHERE tenant_id = $1",
                columns = live.sql.columns
            ),
            &[&tenant],
        )
        .await?;
        execute(
            transaction,
            sql::PROMOTE_CHECKPOINT,
            &[&serving, &tenant, &transaction_id, &position, &events],
        )
        .await?;
        execute(transaction, sql::FORGET_PARKED, &[&serving, &tenant]).await?;
        execute(
            transaction,
            sql::PROMOTE_PARKED,
            &[&serving, &tenant, &staging],
        )
        .await?;
        execute(transaction, &self.sql.forget_tenant, &[&tenant]).await?;
        execute(transaction, sql::FORGET_CHECKPOINT, &[&staging, &tenant]).await?;
        execute(transaction, sql::FORGET_PARKED, &[&staging, &tenant]).await?;
        owned.commit().await.map_err(from_pg)?;
        Ok(Switched::Live)
    }

    /// Makes this version the live one for `tenant` unless some version already is (the first
    /// build of a new model).
    pub async fn claim_live(&self, tenant: &TenantId) -> Result<(), StorageError> {
        self.set_live(tenant, sql::CLAIM_LIVE).await
    }

    async fn set_live(&self, tenant: &TenantId, statement: &str) -> Result<(), StorageError> {
        let version = i32::try_from(M::VERSION).unwrap_or(i32::MAX);
        self.client()
            .await?
            .execute(statement, &[&M::NAME, &tenant.as_str(), &version])
            .await
            .map_err(from_pg)?;
        Ok(())
    }

    /// Forgets this version's documents, checkpoint and parked events of `tenant`, in one
    /// transaction: the start of a rebuild from position zero. Refused (as
    /// [`StorageError::Database`] with code `CP001`) while this version is live.
    pub async fn reset(&self, tenant: &TenantId) -> Result<(), StorageError> {
        if self.is_live(tenant).await? {
            return Err(StorageError::Database {
                code: "CP001".to_owned(),
                message: format!(
                    "{} is live for tenant {tenant}: rebuild into a new version",
                    self.table
                ),
            });
        }
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(from_pg)?;
        let projection: &str = &self.table;
        for (statement, with_projection) in [
            (self.sql.forget_tenant.as_str(), false),
            (sql::FORGET_CHECKPOINT, true),
            (sql::FORGET_PARKED, true),
        ] {
            let result = if with_projection {
                transaction
                    .execute(statement, &[&projection, &tenant.as_str()])
                    .await
            } else {
                transaction.execute(statement, &[&tenant.as_str()]).await
            };
            result.map_err(from_pg)?;
        }
        transaction.commit().await.map_err(from_pg)
    }

    /// How many of the tenant's events the event store holds after `checkpoint`, and when the
    /// oldest of them was recorded. The store's tables must be in the same database.
    pub async fn events_after(
        &self,
        tenant: &TenantId,
        checkpoint: GlobalPosition,
    ) -> Result<(u64, Option<DateTime<Utc>>), StorageError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                EVENTS_AFTER,
                &[
                    &tenant.as_str(),
                    &checkpoint.transaction.to_string(),
                    &to_i64(checkpoint.position),
                ],
            )
            .await
            .map_err(from_pg)?;
        let count: i64 = row.try_get(0).map_err(from_pg)?;
        let oldest: Option<DateTime<Utc>> = row.try_get(1).map_err(from_pg)?;
        Ok((u64::try_from(count).unwrap_or(0), oldest))
    }

    /// The statement of a scan and the values of its filters (`$3` on; `$1` is the tenant,
    /// `$2` the kinds), or `None` when the selection can match nothing.
    ///
    /// An ordered, limited scan over several kinds reads one ordered, limited branch per kind
    /// and merges them: the index `(tenant_id, kind, c_<col>, key)` gives column order within
    /// one kind only, and `kind = ANY(..)` would read and sort every matching row, documents
    /// included, to keep the first few.
    fn scan_sql(&self, selection: &Selection) -> Option<(String, Vec<IndexValue>)> {
        let mut conditions = String::new();
        let mut values = Vec::new();
        for filter in &selection.filters {
            // A filter on an undeclared column, or with a value of another type, matches
            // nothing, as in memory.
            let column = M::COLUMNS
                .iter()
                .find(|column| column.name == filter.column)?;
            if column.column_type != filter.value.column_type() {
                return None;
            }
            values.push(filter.value.clone());
            let operator = match filter.comparison {
                Comparison::Eq => "=",
                Comparison::Lt => "<",
                Comparison::Le => "<=",
                Comparison::Gt => ">",
                Comparison::Ge => ">=",
            };
            let _ = write!(
                conditions,
                " AND {} {operator} ${}",
                column_name(column.name),
                values.len() + 2
            );
        }
        let order = match selection.order_by {
            None => {
                if let Some((_, key)) = &selection.after {
                    values.push(IndexValue::Text(key.to_string()));
                    let _ = write!(conditions, " AND key > ${}", values.len() + 2);
                }
                None
            }
            Some(order) => {
                let column = M::COLUMNS.iter().find(|column| column.name == order)?;
                let name = column_name(column.name);
                let _ = write!(conditions, " AND {name} IS NOT NULL");
                if let Some((value, key)) = &selection.after {
                    // A cursor of another type than its column matches nothing, as in memory.
                    if value.column_type() != column.column_type {
                        return None;
                    }
                    values.push(value.clone());
                    values.push(IndexValue::Text(key.to_string()));
                    let (at, key_at) = (values.len() + 1, values.len() + 2);
                    let _ = write!(
                        conditions,
                        " AND ({name} > ${at} OR ({name} = ${at} AND key > ${key_at}))"
                    );
                }
                Some(name)
            }
        };
        let limit = selection
            .limit
            .map(|limit| format!(" LIMIT {limit}"))
            .unwrap_or_default();
        let text = match (&order, selection.limit) {
            (Some(name), Some(_)) if selection.kinds.len() > 1 => {
                // One branch per distinct kind (1-based places in `$2`), so that a kind
                // named twice is read once, as `ANY` would.
                let branches: Vec<String> = (1..=selection.kinds.len())
                    .filter(|&at| !selection.kinds[..at - 1].contains(&selection.kinds[at - 1]))
                    .map(|at| {
                        format!(
                            "(SELECT key, tx_id, position, doc, {name} AS o FROM {table} \
                             WHERE tenant_id = $1 AND kind = ($2::text[])[{at}]{conditions} \
                             ORDER BY {name}, key{limit})",
                            table = self.table
                        )
                    })
                    .collect();
                format!(
                    "SELECT key, tx_id, position, doc FROM ({}) AS branches ORDER BY o, key{limit}",
                    branches.join(" UNION ALL ")
                )
            }
            _ => {
                // One kind is named by equality, not `ANY`: PostgreSQL (before 17) reads an index
                // in order only without an array condition on it, so `ANY` made every ordered,
                // limited read sort all of the kind's rows first.
                let kind = if selection.kinds.len() == 1 {
                    "kind = ($2::text[])[1]"
                } else {
                    "kind = ANY($2)"
                };
                format!(
                    "SELECT key, tx_id, position, doc FROM {} WHERE tenant_id = $1 \
                     AND {kind}{conditions} ORDER BY {}{limit}",
                    self.table,
                    order.map_or_else(|| "key".to_owned(), |name| format!("{name}, key"))
                )
            }
        };
        Some((text, values))
    }
}

async fn execute(
    client: &impl GenericClient,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StorageError> {
    client.execute(statement, params).await.map_err(from_pg)
}

fn index_param(value: &IndexValue) -> &(dyn ToSql + Sync) {
    match value {
        IndexValue::Text(text) => text,
        IndexValue::Uuid(id) => id,
        IndexValue::Int(number) => number,
        IndexValue::Time(at) => at,
        IndexValue::Bool(flag) => flag,
    }
}

/// One indexed column's values for a multi-row upsert.
enum Column {
    Text(Vec<Option<String>>),
    Uuid(Vec<Option<Uuid>>),
    Int(Vec<Option<i64>>),
    Time(Vec<Option<DateTime<Utc>>>),
    Bool(Vec<Option<bool>>),
}

impl Column {
    fn new(column_type: ColumnType) -> Self {
        match column_type {
            ColumnType::Text => Column::Text(Vec::new()),
            ColumnType::Uuid => Column::Uuid(Vec::new()),
            ColumnType::Int => Column::Int(Vec::new()),
            ColumnType::Time => Column::Time(Vec::new()),
            ColumnType::Bool => Column::Bool(Vec::new()),
        }
    }

    /// Appends `value` (NULL when `None`); `false` when its type is not the column's.
    fn push(&mut self, value: Option<IndexValue>) -> bool {
        match (self, value) {
            (Column::Text(values), Some(IndexValue::Text(text))) => values.push(Some(text)),
            (Column::Uuid(values), Some(IndexValue::Uuid(id))) => values.push(Some(id)),
            (Column::Int(values), Some(IndexValue::Int(number))) => values.push(Some(number)),
            (Column::Time(values), Some(IndexValue::Time(at))) => values.push(Some(at)),
            (Column::Bool(values), Some(IndexValue::Bool(flag))) => values.push(Some(flag)),
            (Column::Text(values), None) => values.push(None),
            (Column::Uuid(values), None) => values.push(None),
            (Column::Int(values), None) => values.push(None),
            (Column::Time(values), None) => values.push(None),
            (Column::Bool(values), None) => values.push(None),
            _ => return false,
        }
        true
    }

    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Text(values) => values,
            Column::Uuid(values) => values,
            Column::Int(values) => values,
            Column::Time(values) => values,
            Column::Bool(values) => values,
        }
    }
}

/// The rows of a multi-row upsert, column by column.
struct Rows {
    keys: Vec<String>,
    kinds: Vec<&'static str>,
    transactions: Vec<i64>,
    positions: Vec<i64>,
    docs: Vec<String>,
    columns: Vec<Column>,
}

impl Rows {
    fn new(columns: &[crate::model::IndexedColumn]) -> Self {
        Self {
            keys: Vec::new(),
            kinds: Vec::new(),
            transactions: Vec::new(),
            positions: Vec::new(),
            docs: Vec::new(),
            columns: columns
                .iter()
                .map(|column| Column::new(column.column_type))
                .collect(),
        }
    }

    fn push<M: ReadModel>(&mut self, stored: &Stored<M::Doc>) -> Result<(), StorageError> {
        self.push_parts::<M>(&stored.key, stored.position, &stored.doc)
    }

    fn push_parts<M: ReadModel>(
        &mut self,
        key: &DocKey,
        position: GlobalPosition,
        doc: &M::Doc,
    ) -> Result<(), StorageError> {
        let text = key.to_string();
        let json = serde_json::to_string(doc).map_err(|error| StorageError::Encode {
            key: text.clone(),
            reason: error.to_string(),
        })?;
        let values = indexed_values::<M>(key, doc)?;
        for ((declared, column), value) in M::COLUMNS.iter().zip(&mut self.columns).zip(values) {
            if !column.push(value) {
                return Err(StorageError::Encode {
                    key: text,
                    reason: format!(
                        "indexed column {} holds a value of another type",
                        declared.name
                    ),
                });
            }
        }
        self.keys.push(text);
        self.kinds.push(key.kind);
        self.transactions.push(to_i64(position.transaction));
        self.positions.push(to_i64(position.position));
        self.docs.push(json);
        Ok(())
    }
}

/// A JSON or JSONB value as the server sent it, so that a document is deserialized straight
/// from the bytes into its type, with no `serde_json::Value` in between.
struct JsonText<'a>(&'a [u8]);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if *ty != Type::JSONB {
            return Ok(Self(raw));
        }
        // jsonb's binary format: a version byte (1, the only one), then the JSON text.
        match raw.split_first() {
            Some((1, text)) => Ok(Self(text)),
            _ => Err("a jsonb value of an unknown binary format version".into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

impl<M> DocumentStore<M> for PostgresDocuments<M>
where
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    async fn checkpoint(&self, tenant: &TenantId) -> Result<Option<GlobalPosition>, StorageError> {
        let client = self.client().await?;
        let projection: &str = &self.table;
        let row = client
            .query_opt(sql::READ_CHECKPOINT, &[&projection, &tenant.as_str()])
            .await
            .map_err(from_pg)?;
        match row {
            None => Ok(None),
            Some(row) => checkpoint_of(&row, &self.table),
        }
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        batch: &ProjectionBatch,
    ) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(from_pg)?;
        let changes = match self
            .commit_batch(&transaction, tenant, expected, batch)
            .await
        {
            Ok(changes) => changes,
            Err(error) => {
                self.remembered().forget(tenant);
                return Err(error);
            }
        };
        if let Err(error) = transaction.commit().await {
            self.remembered().forget(tenant);
            return Err(from_pg(error));
        }
        self.remembered().commit(tenant, changes);
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        key: &DocKey,
    ) -> Result<Option<Stored<M::Doc>>, StorageError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&self.sql.get, &[&tenant.as_str(), &key.to_string()])
            .await
            .map_err(from_pg)?;
        row.map(|row| {
            self.decode_row(&row)
                .map(|(key, position, doc)| Stored { key, position, doc })
        })
        .transpose()
    }

    async fn documents(&self, tenant: &TenantId) -> Result<Vec<Stored<M::Doc>>, StorageError> {
        let client = self.client().await?;
        let rows = client
            .query(&self.sql.all, &[&tenant.as_str()])
            .await
            .map_err(from_pg)?;
        let mut documents = rows
            .iter()
            .map(|row| {
                self.decode_row(row)
                    .map(|(key, position, doc)| Stored { key, position, doc })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The table orders keys as text; the port promises key order.
        documents.sort_by_key(|stored| stored.key);
        Ok(documents)
    }

    async fn parked(&self, tenant: &TenantId) -> Result<Vec<ParkedEvent>, StorageError> {
        let client = self.client().await?;
        let projection: &str = &self.table;
        let rows = client
            .query(sql::PARKED, &[&projection, &tenant.as_str()])
            .await
            .map_err(from_pg)?;
        rows.iter()
            .map(|row| {
                let get_i64 = |index: usize| -> Result<i64, StorageError> {
                    row.try_get(index).map_err(from_pg)
                };
                let schema: i32 = row.try_get(6).map_err(from_pg)?;
                Ok(ParkedEvent {
                    position: GlobalPosition {
                        transaction: to_u64(get_i64(0)?, &self.table, "parked transaction")?,
                        position: to_u64(get_i64(1)?, &self.table, "parked position")?,
                    },
                    stream: row.try_get(2).map_err(from_pg)?,
                    version: to_u64(get_i64(3)?, &self.table, "parked version")?,
                    event_id: row.try_get(4).map_err(from_pg)?,
                    event_type: row.try_get(5).map_err(from_pg)?,
                    schema_version: u16::try_from(schema).unwrap_or(u16::MAX),
                    reason: row.try_get(7).map_err(from_pg)?,
                    recorded_at: row.try_get(8).map_err(from_pg)?,
                })
            })
            .collect()
    }

    async fn lookup<Q>(&self, tenant: &TenantId, query: &Q) -> Result<Q::Answer, StorageError>
    where
        Q: Lookup<M::Doc> + Sync,
        Q::Answer: Send,
    {
        let mut client = self.client().await?;
        // Every round reads the same snapshot, so a lookup never mixes two commits.
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(from_pg)?;
        let mut found = Found::default();
        let mut keys = Vec::new();
        let rounds = query
            .rounds()
            .map_or(MAX_LOOKUP_ROUNDS, |r| r.min(MAX_LOOKUP_ROUNDS));
        for _ in 0..rounds {
            keys.clear();
            query.keys(&found, &mut keys);
            let new: Vec<DocKey> = keys
                .iter()
                .filter(|key| !found.contains(key))
                .copied()
                .collect();
            if new.is_empty() {
                break;
            }
            let texts: Vec<String> = new.iter().map(ToString::to_string).collect();
            let mut loaded: HashMap<DocKey, M::Doc> = self
                .load(&*transaction, tenant, &texts)
                .await?
                .into_iter()
                .map(|(key, _, doc)| (key, doc))
                .collect();
            for key in new {
                match loaded.remove(&key) {
                    Some(doc) => found.insert(key, doc),
                    None => found.mark_absent(key),
                }
            }
        }
        transaction.commit().await.map_err(from_pg)?;
        Ok(query.answer(&found))
    }

    async fn scan<Q>(&self, tenant: &TenantId, query: &Q) -> Result<Q::Answer, StorageError>
    where
        Q: Scan<M::Doc> + Sync,
        Q::Answer: Send,
    {
        let selection = query.selection();
        let Some((text, values)) = self.scan_sql(&selection) else {
            return Ok(query.answer(std::iter::empty()));
        };
        let client = self.client().await?;
        let tenant = tenant.as_str();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant, &selection.kinds];
        params.extend(values.iter().map(index_param));
        let rows = client
            .query(text.as_str(), &params)
            .await
            .map_err(from_pg)?;
        let documents = rows
            .iter()
            .map(|row| self.decode_row(row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(query.answer(documents.iter().map(|(key, _, doc)| (key, doc))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(key: u128, stamp: u64, doc: u32) -> Stored<u32> {
        Stored {
            key: DocKey::new("ticket", Uuid::from_u128(key)),
            position: GlobalPosition {
                transaction: stamp,
                position: stamp,
            },
            doc,
        }
    }

    #[test]
    fn a_remembered_document_is_handed_out_only_under_its_stamp_and_capacity_is_kept() {
        let tenant = TenantId::new("acme").expect("valid tenant");
        let other = TenantId::new("globex").expect("valid tenant");
        let mut remembered = Remembered::new(2);
        let one = stored(1, 5, 10);
        remembered.commit(&tenant, vec![Change::Upsert(one.clone())]);
        assert!(remembered.holds_any(&tenant, &[one.key]));
        assert!(!remembered.holds_any(&other, &[one.key]));
        assert_eq!(remembered.get(&tenant, one.key, one.position), Some(10));
        assert_eq!(
            remembered.get(&tenant, one.key, stored(1, 6, 0).position),
            None
        );
        assert_eq!(remembered.get(&other, one.key, one.position), None);

        remembered.commit(&other, vec![Change::Upsert(stored(2, 5, 20))]);
        assert_eq!(remembered.held, 2);
        // A third document goes past the capacity: everything is forgotten first.
        remembered.commit(&tenant, vec![Change::Upsert(stored(3, 7, 30))]);
        assert_eq!(remembered.held, 1);
        assert_eq!(remembered.get(&tenant, one.key, one.position), None);
        remembered.commit(&tenant, vec![Change::Delete(stored(3, 0, 0).key)]);
        assert_eq!(remembered.held, 0);

        let mut none = Remembered::new(0);
        none.commit(&tenant, vec![Change::Upsert(one.clone())]);
        assert!(!none.holds_any(&tenant, &[one.key]));
        remembered.commit(&tenant, vec![Change::Upsert(one.clone())]);
        remembered.forget(&tenant);
        assert_eq!(remembered.held, 0);
        assert!(!remembered.holds_any(&tenant, &[one.key]));
    }

    #[test]
    fn a_new_checkpoint_generation_forgets_what_was_remembered_of_that_tenant_only() {
        let tenant = TenantId::new("acme").expect("valid tenant");
        let other = TenantId::new("globex").expect("valid tenant");
        let mut remembered = Remembered::new(10);
        let one = stored(1, 5, 10);
        let two = stored(2, 5, 20);
        remembered.meet_generation(&tenant, 0);
        remembered.commit(&tenant, vec![Change::Upsert(one.clone())]);
        remembered.commit(&other, vec![Change::Upsert(two.clone())]);
        // The same generation again (every commit reads it): nothing forgotten.
        remembered.meet_generation(&tenant, 0);
        assert_eq!(remembered.get(&tenant, one.key, one.position), Some(10));
        // A promotion bumped it: a rebuilt document may carry the same stamp over new content.
        remembered.meet_generation(&tenant, 1);
        assert_eq!(remembered.get(&tenant, one.key, one.position), None);
        assert_eq!(remembered.get(&other, two.key, two.position), Some(20));
        assert_eq!(remembered.held, 1);
    }

    #[test]
    fn a_document_is_read_from_jsonb_or_json_and_an_unknown_jsonb_version_is_refused() {
        let jsonb = JsonText::from_sql(&Type::JSONB, b"\x01{\"a\":1}").unwrap();
        assert_eq!(jsonb.0, b"{\"a\":1}");
        let json = JsonText::from_sql(&Type::JSON, b"{\"a\":1}").unwrap();
        assert_eq!(json.0, b"{\"a\":1}");
        assert!(JsonText::from_sql(&Type::JSONB, b"\x02{}").is_err());
        assert!(JsonText::from_sql(&Type::JSONB, b"").is_err());
        assert!(!<JsonText<'_> as FromSql<'_>>::accepts(&Type::TEXT));
    }
}
