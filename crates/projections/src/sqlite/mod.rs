//! The SQLite adapter of the storage port: [`SqliteDocuments`], over the event store's
//! [`SqliteDatabase`] (one file shared by every component of a process).
//!
//! The layout is PostgreSQL's (see `postgres/`): one table per model version,
//! `proj_<NAME>_v<VERSION>`, keyed by (tenant, document key), holding the document as JSON
//! text, the stamp of the last event that changed it (transaction id and position), and one
//! column per indexed column the model declares (`c_<name>`, indexed with the tenant and the
//! kind in front); the checkpoints, parked events and live versions live in shared
//! bookkeeping tables (see `sql.rs`). The bookkeeping tables are the migrations of component
//! `projections`; each document table is the one migration of component
//! `projections/<table>`, so a model whose columns change without a new version is refused
//! at start-up instead of writing into the old table.
//!
//! A batch is one write transaction (`BEGIN IMMEDIATE`, so the checkpoint read at its start
//! cannot move before it commits): read the checkpoint, load the documents the batch names,
//! apply through [`Batch`], write what changed, record parked events, move the checkpoint,
//! commit. A crash anywhere loses and doubles nothing. Reads run in one read transaction each,
//! so a lookup's rounds all see one committed state.

mod rebuild;
mod sql;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use crm_eventstore::sqlite::{SqliteDatabase, sqlite_error};
use crm_eventstore::{GlobalPosition, TenantId};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction};
use uuid::Uuid;

use self::sql::TableSql;
use crate::event::ProjectedEvent;
use crate::model::{DocKey, Found, Lookup, ReadModel, Scan, Stored};
use crate::runner::Switched;
use crate::storage::batch::{Batch, Change, MAX_KEY_ROUNDS, Progress, Stamps};
use crate::storage::table::{indexed_values, ordered_indexes, table_name};
use crate::storage::{DocumentStore, ParkedEvent, ProjectionBatch, StorageError};

pub use self::rebuild::SqliteRebuildWriter;

/// A stored row read back: key, stamp and document.
type Loaded<D> = (DocKey, GlobalPosition, D);

/// A rusqlite error while `doing` something, as the port's error (see [`sqlite_error`]).
fn failed(doing: &'static str) -> impl Fn(rusqlite::Error) -> StorageError {
    move |error| StorageError::from(sqlite_error(doing, &error))
}

/// A position or count as an SQLite integer. Positions are bigints in every store and never
/// reach 2^63; one that did is refused rather than wrapped.
fn to_i64(value: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Encode {
        key: what.to_owned(),
        reason: format!("{what} {value} does not fit an SQLite integer"),
    })
}

fn to_u64(value: i64, table: &str, what: &str) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::CorruptDocument {
        table: table.to_owned(),
        key: what.to_owned(),
        reason: format!("negative {what} {value}"),
    })
}

/// One model version's documents in SQLite. See the module documentation.
///
/// Clones share the database and the model.
#[derive(Debug)]
pub struct SqliteDocuments<M: ReadModel> {
    shared: Arc<Shared<M>>,
}

#[derive(Debug)]
struct Shared<M> {
    model: M,
    database: SqliteDatabase,
    sql: TableSql,
    /// Set on a staging twin (see [`SqliteDocuments::staging`]): the table it is promoted
    /// into, with its statements.
    promotes_into: Option<TableSql>,
}

impl<M: ReadModel> Clone for SqliteDocuments<M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M> SqliteDocuments<M>
where
    M: ReadModel,
{
    /// The table of this model version: `proj_<NAME>_v<VERSION>`, as in PostgreSQL.
    ///
    /// Fails with [`StorageError::InvalidName`] when `NAME` or a column name is not a plain
    /// lower-case identifier, or too long.
    pub fn table_name() -> Result<String, StorageError> {
        table_name::<M>()
    }

    /// The adapter over `database`, applying the bookkeeping migrations and this version's
    /// table if the file has not seen them (safe from several processes at once: migrations
    /// take the write lock). Blocks the calling thread for the migrations; call it at start-up
    /// (or from a blocking thread).
    ///
    /// Fails with [`StorageError::InvalidName`] for a model whose names cannot name a table,
    /// and with [`StorageError::Database`] (code `MIGRATION`) when this version's table was
    /// created with other columns (a model changed without a new version).
    pub fn open(database: SqliteDatabase, model: M) -> Result<Self, StorageError> {
        let table = table_name::<M>()?;
        Self::open_table(database, model, &table, None)
    }

    /// A staging twin of this version: the same model over table `<table>_r` in the same
    /// file, for a rebuild in place, as [`PostgresDocuments::staging`](crate::PostgresDocuments::staging)
    /// in PostgreSQL: a rebuild folds the twin while this table keeps serving, and making the
    /// twin "live" [promotes](SqliteDocuments::promote) it into this table for the tenant in
    /// one transaction. Blocks for the twin's migrations, as [`SqliteDocuments::open`].
    pub fn staging(&self) -> Result<Self, StorageError>
    where
        M: Clone,
    {
        let live = TableSql::new(self.table(), M::COLUMNS);
        Self::open_table(
            self.database().clone(),
            self.model().clone(),
            &format!("{}_r", self.table()),
            Some(live),
        )
    }

    fn open_table(
        database: SqliteDatabase,
        model: M,
        table: &str,
        promotes_into: Option<TableSql>,
    ) -> Result<Self, StorageError> {
        let sql = TableSql::new(table, M::COLUMNS);
        database.migrate(sql::COMPONENT, sql::MIGRATIONS)?;
        database.migrate(
            &format!("{}/{table}", sql::COMPONENT),
            &[(1, sql.create.as_str())],
        )?;
        // Their own migrations, one per index in declared order, so a table made before the
        // model declared one gets it.
        let ordered = ordered_indexes::<M>(table);
        let steps: Vec<(u32, &str)> = (1..).zip(ordered.iter().map(String::as_str)).collect();
        if !steps.is_empty() {
            database.migrate(&format!("{}/{table}/ordered", sql::COMPONENT), &steps)?;
        }
        Ok(Self {
            shared: Arc::new(Shared {
                model,
                database,
                sql,
                promotes_into,
            }),
        })
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.shared.model
    }

    /// The documents' table.
    pub fn table(&self) -> &str {
        &self.shared.sql.table
    }

    /// The database the adapter reads and writes.
    pub fn database(&self) -> &SqliteDatabase {
        &self.shared.database
    }

    /// [`DocumentStore::commit`] inside a transaction the caller owns (one of
    /// [`SqliteDatabase::write`]'s, so that the checkpoint read here cannot move before the
    /// commit): nothing is visible until the caller commits, and a rollback undoes it all. On
    /// an error the caller must roll back (return the error from its `write` closure): some
    /// rows may have been written.
    pub fn commit_in(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        batch: &ProjectionBatch,
    ) -> Result<(), StorageError> {
        let found = self.checkpoint_in(transaction, tenant)?;
        if found != expected {
            return Err(StorageError::CheckpointMoved {
                projection: self.table().to_owned(),
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
        let changes = self.apply_events(transaction, tenant, &pending, false)?;
        self.write_changes(transaction, tenant, &changes)?;
        self.park(transaction, tenant, expected, &batch.parked)?;
        let through = batch.through.max(expected.unwrap_or(GlobalPosition::START));
        self.save_checkpoint(transaction, tenant, through, pending.len())
    }

    /// Applies `events` (just appended in `transaction`, of any tenants) to the documents in
    /// the same transaction, for read-your-writes: the inline lifecycle. The checkpoint is
    /// left alone. Every loaded document is taken as older than the events (they were appended
    /// by this very transaction, so none holds them yet), and keeps the later of its old stamp
    /// and the event's. SQLite lets one transaction write at a time, so concurrent inline
    /// writers of one document take turns without further locks.
    pub fn apply_inline(
        &self,
        transaction: &Transaction<'_>,
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
            let changes = self.apply_events(transaction, tenant, &events, true)?;
            self.write_changes(transaction, tenant, &changes)?;
        }
        Ok(())
    }

    /// The live version of this model for `tenant` (the one readers are served from), if any
    /// was set.
    pub async fn live_version(&self, tenant: &TenantId) -> Result<Option<u32>, StorageError>
    where
        M: Send + Sync + 'static,
    {
        let tenant = tenant.clone();
        self.database()
            .read(move |transaction| live_version_in::<M>(transaction, &tenant))
            .await
    }

    /// Whether this version is the one readers of `tenant` are served from (never a staging
    /// twin).
    pub async fn is_live(&self, tenant: &TenantId) -> Result<bool, StorageError>
    where
        M: Send + Sync + 'static,
    {
        if self.shared.promotes_into.is_some() {
            return Ok(false);
        }
        Ok(self.live_version(tenant).await? == Some(M::VERSION))
    }

    /// Makes this version the live one for `tenant`, in one statement (blue/green switch);
    /// on a staging twin, [promotes](SqliteDocuments::promote) it instead.
    pub async fn switch_live(&self, tenant: &TenantId) -> Result<Switched, StorageError>
    where
        M: Send + Sync + 'static,
    {
        if self.shared.promotes_into.is_some() {
            return self.promote(tenant).await;
        }
        self.set_live(tenant, sql::SWITCH_LIVE).await?;
        Ok(Switched::Live)
    }

    /// Moves what this staging twin holds for `tenant` into the table it twins, in one write
    /// transaction: the serving table's documents, parked events and checkpoint of the tenant
    /// are replaced by the twin's, and the twin is emptied. Readers see the old documents
    /// until the commit and the rebuilt ones after it; a projector serving the table finds
    /// its checkpoint moved and goes on from the twin's. Refused on a table that is not a
    /// twin, or a twin holding no rebuild of the tenant.
    ///
    /// A serving checkpoint never moves back: when the serving table has been projected past
    /// the twin (its projector went on while the rebuild finished), nothing changes and
    /// [`Switched::Behind`] says how far it is; fold the twin on and promote again.
    pub async fn promote(&self, tenant: &TenantId) -> Result<Switched, StorageError>
    where
        M: Send + Sync + 'static,
    {
        if self.shared.promotes_into.is_none() {
            return Err(StorageError::Unavailable {
                reason: format!(
                    "{} is not a staging table: nothing to promote",
                    self.table()
                ),
                source: None,
            });
        }
        let this = self.clone();
        let tenant = tenant.clone();
        self.database()
            .write(move |transaction| this.promote_in(transaction, &tenant))
            .await
    }

    fn promote_in(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
    ) -> Result<Switched, StorageError> {
        let Some(live) = &self.shared.promotes_into else {
            return Ok(Switched::Live);
        };
        let staging = self.table();
        let serving = live.table.as_str();
        let promoting = failed("promoting a rebuilt projection");
        let rebuilt: Option<i64> = transaction
            .query_row(
                "SELECT count(*) FROM projection_checkpoints WHERE projection = ?1 \
                 AND tenant_id = ?2 AND tx_id IS NOT NULL",
                (staging, tenant.as_str()),
                |row| row.get(0),
            )
            .map_err(&promoting)?;
        if rebuilt.unwrap_or(0) == 0 {
            return Err(StorageError::Unavailable {
                reason: format!("{staging} holds no rebuild of tenant {tenant} to promote"),
                source: None,
            });
        }
        if let Some(served) = checkpoint_of(transaction, serving, tenant)?
            && checkpoint_of(transaction, staging, tenant)?.is_none_or(|twin| twin < served)
        {
            return Ok(Switched::Behind(served));
        }
        transaction
            .execute(&live.forget_tenant, [tenant.as_str()])
            .map_err(&promoting)?;
        transaction
            .execute(
                &format!(
                    "INSERT INTO {serving} ({columns}) SELECT {columns} FROM {staging} \
                     WHERE tenant_id = ?1",
                    columns = live.columns
                ),
                [tenant.as_str()],
            )
            .map_err(&promoting)?;
        transaction
            .execute(sql::PROMOTE_CHECKPOINT, (serving, tenant.as_str(), staging))
            .map_err(&promoting)?;
        transaction
            .execute(sql::FORGET_PARKED, (serving, tenant.as_str()))
            .map_err(&promoting)?;
        transaction
            .execute(sql::PROMOTE_PARKED, (serving, tenant.as_str(), staging))
            .map_err(&promoting)?;
        transaction
            .execute(&self.shared.sql.forget_tenant, [tenant.as_str()])
            .map_err(&promoting)?;
        for statement in [sql::FORGET_CHECKPOINT, sql::FORGET_PARKED] {
            transaction
                .execute(statement, (staging, tenant.as_str()))
                .map_err(&promoting)?;
        }
        Ok(Switched::Live)
    }

    /// Makes this version the live one for `tenant` unless some version already is (the first
    /// build of a new model).
    pub async fn claim_live(&self, tenant: &TenantId) -> Result<(), StorageError>
    where
        M: Send + Sync + 'static,
    {
        self.set_live(tenant, sql::CLAIM_LIVE).await
    }

    async fn set_live(&self, tenant: &TenantId, statement: &'static str) -> Result<(), StorageError>
    where
        M: Send + Sync + 'static,
    {
        let tenant = tenant.clone();
        self.database()
            .write(move |transaction| {
                transaction
                    .execute(statement, (M::NAME, tenant.as_str(), M::VERSION))
                    .map_err(failed("setting the live version"))?;
                Ok(())
            })
            .await
    }

    /// Forgets this version's documents, checkpoint and parked events of `tenant`, in one
    /// transaction: the start of a rebuild from position zero. Refused (as
    /// [`StorageError::Database`] with code `CP001`, as in PostgreSQL) while this version is
    /// live; the check and the deletion are one transaction.
    pub async fn reset(&self, tenant: &TenantId) -> Result<(), StorageError>
    where
        M: Send + Sync + 'static,
    {
        let this = self.clone();
        let tenant = tenant.clone();
        self.database()
            .write(move |transaction| this.reset_in(transaction, &tenant))
            .await
    }

    fn reset_in(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
    ) -> Result<(), StorageError> {
        if self.shared.promotes_into.is_none()
            && live_version_in::<M>(transaction, tenant)? == Some(M::VERSION)
        {
            return Err(StorageError::Database {
                code: "CP001".to_owned(),
                message: format!(
                    "{} is live for tenant {tenant}: rebuild into a new version",
                    self.table()
                ),
            });
        }
        let forget = failed("forgetting a tenant's projection");
        transaction
            .execute(&self.shared.sql.forget_tenant, [tenant.as_str()])
            .map_err(&forget)?;
        for statement in [sql::FORGET_CHECKPOINT, sql::FORGET_PARKED] {
            transaction
                .execute(statement, (self.table(), tenant.as_str()))
                .map_err(&forget)?;
        }
        Ok(())
    }

    fn checkpoint_in(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
    ) -> Result<Option<GlobalPosition>, StorageError> {
        checkpoint_of(transaction, self.table(), tenant)
    }

    fn save_checkpoint(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        through: GlobalPosition,
        events: usize,
    ) -> Result<(), StorageError> {
        let counted = i64::try_from(events).unwrap_or(i64::MAX);
        let transaction_id = to_i64(through.transaction, "checkpoint transaction")?;
        let position = to_i64(through.position, "checkpoint position")?;
        transaction
            .prepare_cached(sql::SAVE_CHECKPOINT)
            .and_then(|mut statement| {
                statement.execute((
                    self.table(),
                    tenant.as_str(),
                    transaction_id,
                    position,
                    counted,
                ))
            })
            .map_err(failed("saving a checkpoint"))?;
        Ok(())
    }

    /// Loads, applies and returns the changes of `events` of `tenant` (written by the caller).
    /// `inline`: treat every loaded document as older than the events.
    fn apply_events(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        events: &[&ProjectedEvent],
        inline: bool,
    ) -> Result<Vec<Change<M::Doc>>, StorageError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.model();
        let mut batch: Batch<M::Doc> = Batch::new();
        let mut stamps = Stamps::new(inline);
        let first: Vec<DocKey> = Batch::first_keys(model, events.iter().copied())
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        self.provide(transaction, tenant, &mut batch, &first, &mut stamps)?;
        for event in events {
            loop {
                match batch.apply(model, event)? {
                    Progress::Applied => break,
                    Progress::NeedsDocuments(keys) => {
                        self.provide(transaction, tenant, &mut batch, &keys, &mut stamps)?;
                    }
                }
            }
        }
        Ok(batch
            .into_changes()
            .map(|(_, change)| stamps.restore(change))
            .collect())
    }

    fn provide(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        batch: &mut Batch<M::Doc>,
        keys: &[DocKey],
        stamps: &mut Stamps,
    ) -> Result<(), StorageError> {
        let mut loaded: HashMap<DocKey, (GlobalPosition, M::Doc)> = self
            .load(transaction, tenant, keys)?
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

    /// The stored documents at `keys` (those that exist, each once).
    fn load(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        keys: &[DocKey],
    ) -> Result<Vec<Loaded<M::Doc>>, StorageError> {
        let mut statement = transaction
            .prepare_cached(&self.shared.sql.load)
            .map_err(failed("preparing to load documents"))?;
        let mut seen = HashSet::with_capacity(keys.len());
        let mut loaded = Vec::with_capacity(keys.len());
        for key in keys {
            if !seen.insert(*key) {
                continue;
            }
            let mut rows = statement
                .query((tenant.as_str(), key.to_string()))
                .map_err(failed("loading documents"))?;
            if let Some(row) = rows.next().map_err(failed("loading documents"))? {
                loaded.push(self.decode_row(row)?);
            }
        }
        Ok(loaded)
    }

    /// Every row `statement` selects with `params`, decoded (columns: key, tx_id, position,
    /// doc).
    fn select(
        &self,
        transaction: &Transaction<'_>,
        statement: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Loaded<M::Doc>>, StorageError> {
        let mut statement = transaction
            .prepare_cached(statement)
            .map_err(failed("preparing to read documents"))?;
        let mut rows = statement
            .query(params)
            .map_err(failed("reading documents"))?;
        let mut loaded = Vec::new();
        while let Some(row) = rows.next().map_err(failed("reading documents"))? {
            loaded.push(self.decode_row(row)?);
        }
        Ok(loaded)
    }

    fn decode_row(&self, row: &rusqlite::Row<'_>) -> Result<Loaded<M::Doc>, StorageError> {
        let corrupt = |key: &str, reason: String| StorageError::CorruptDocument {
            table: self.table().to_owned(),
            key: key.to_owned(),
            reason,
        };
        let read = failed("reading a document");
        let text: String = row.get(0).map_err(&read)?;
        let key = DocKey::parse(M::KINDS, &text)
            .ok_or_else(|| corrupt(&text, "not a key of this model".to_owned()))?;
        let transaction: i64 = row.get(1).map_err(&read)?;
        let position: i64 = row.get(2).map_err(&read)?;
        let json: String = row.get(3).map_err(&read)?;
        let doc = serde_json::from_str(&json).map_err(|error| corrupt(&text, error.to_string()))?;
        let stamp = GlobalPosition {
            transaction: to_u64(transaction, self.table(), "stamp transaction")?,
            position: to_u64(position, self.table(), "stamp position")?,
        };
        Ok((key, stamp, doc))
    }

    /// Writes `changes` back. Every row is encoded before the first statement runs, so a
    /// document that cannot be stored writes nothing.
    fn write_changes(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        changes: &[Change<M::Doc>],
    ) -> Result<(), StorageError> {
        let mut upserts: Vec<Vec<Value>> = Vec::new();
        let mut deletes: Vec<String> = Vec::new();
        for change in changes {
            match change {
                Change::Upsert(stored) => upserts.push(encode::<M>(tenant, stored)?),
                Change::Delete(key) => deletes.push(key.to_string()),
            }
        }
        if !deletes.is_empty() {
            let mut statement = transaction
                .prepare_cached(&self.shared.sql.delete)
                .map_err(failed("preparing to delete documents"))?;
            for key in deletes {
                statement
                    .execute((tenant.as_str(), key))
                    .map_err(failed("deleting a document"))?;
            }
        }
        if !upserts.is_empty() {
            let mut statement = transaction
                .prepare_cached(&self.shared.sql.upsert)
                .map_err(failed("preparing to write documents"))?;
            for row in upserts {
                statement
                    .execute(rusqlite::params_from_iter(row))
                    .map_err(failed("writing a document"))?;
            }
        }
        Ok(())
    }

    /// Records the parked events after `expected` (those at or before it were recorded by an
    /// earlier batch).
    fn park(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        parked: &[ParkedEvent],
    ) -> Result<(), StorageError> {
        let mut rows: Vec<[Value; 11]> = Vec::new();
        for event in parked
            .iter()
            .filter(|parked| expected.is_none_or(|done| parked.position > done))
        {
            rows.push([
                Value::Text(self.table().to_owned()),
                Value::Text(tenant.as_str().to_owned()),
                Value::Integer(to_i64(event.position.transaction, "parked transaction")?),
                Value::Integer(to_i64(event.position.position, "parked position")?),
                Value::Text(event.stream.clone()),
                Value::Integer(to_i64(event.version, "parked version")?),
                Value::Text(event.event_id.to_string()),
                Value::Text(event.event_type.clone()),
                Value::Integer(i64::from(event.schema_version)),
                Value::Text(event.reason.clone()),
                Value::Text(
                    event
                        .recorded_at
                        .to_rfc3339_opts(SecondsFormat::Nanos, true),
                ),
            ]);
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut statement = transaction
            .prepare_cached(sql::PARK)
            .map_err(failed("preparing to park events"))?;
        for row in rows {
            statement
                .execute(rusqlite::params_from_iter(row))
                .map_err(failed("parking an event"))?;
        }
        Ok(())
    }

    fn parked_in(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
    ) -> Result<Vec<ParkedEvent>, StorageError> {
        let read = failed("reading parked events");
        let table = self.table();
        let mut statement = transaction.prepare_cached(sql::PARKED).map_err(&read)?;
        let mut rows = statement.query((table, tenant.as_str())).map_err(&read)?;
        let mut parked = Vec::new();
        while let Some(row) = rows.next().map_err(&read)? {
            let corrupt = |what: &str, reason: String| StorageError::CorruptDocument {
                table: table.to_owned(),
                key: what.to_owned(),
                reason,
            };
            let event_id: String = row.get(4).map_err(&read)?;
            let schema: i64 = row.get(6).map_err(&read)?;
            let recorded_at: String = row.get(8).map_err(&read)?;
            parked.push(ParkedEvent {
                position: GlobalPosition {
                    transaction: to_u64(row.get(0).map_err(&read)?, table, "parked transaction")?,
                    position: to_u64(row.get(1).map_err(&read)?, table, "parked position")?,
                },
                stream: row.get(2).map_err(&read)?,
                version: to_u64(row.get(3).map_err(&read)?, table, "parked version")?,
                event_id: Uuid::try_parse(&event_id)
                    .map_err(|error| corrupt("parked event id", error.to_string()))?,
                event_type: row.get(5).map_err(&read)?,
                schema_version: u16::try_from(schema)
                    .map_err(|error| corrupt("parked schema version", error.to_string()))?,
                reason: row.get(7).map_err(&read)?,
                recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
                    .map_err(|error| corrupt("parked recorded_at", error.to_string()))?
                    .with_timezone(&Utc),
            });
        }
        Ok(parked)
    }
}

fn live_version_in<M: ReadModel>(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
) -> Result<Option<u32>, StorageError> {
    let version: Option<i64> = transaction
        .query_row(sql::LIVE_VERSION, (M::NAME, tenant.as_str()), |row| {
            row.get(0)
        })
        .optional()
        .map_err(failed("reading the live version"))?;
    Ok(version.and_then(|version| u32::try_from(version).ok()))
}

/// The parameters of the upsert of `stored` (see `TableSql::upsert`).
fn encode<M: ReadModel>(
    tenant: &TenantId,
    stored: &Stored<M::Doc>,
) -> Result<Vec<Value>, StorageError> {
    let key = stored.key.to_string();
    let json = serde_json::to_string(&stored.doc).map_err(|error| StorageError::Encode {
        key: key.clone(),
        reason: error.to_string(),
    })?;
    let indexed = indexed_values::<M>(&stored.key, &stored.doc)?;
    let mut row = Vec::with_capacity(6 + indexed.len());
    row.extend([
        Value::Text(tenant.as_str().to_owned()),
        Value::Text(key),
        Value::Text(stored.key.kind.to_owned()),
        Value::Integer(to_i64(stored.position.transaction, "stamp transaction")?),
        Value::Integer(to_i64(stored.position.position, "stamp position")?),
        Value::Text(json),
    ]);
    row.extend(indexed.iter().map(|value| match value {
        Some(value) => sql::index_value(value),
        None => Value::Null,
    }));
    Ok(row)
}

impl<M> SqliteDocuments<M>
where
    M: ReadModel + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    /// Runs `query`'s rounds against one read transaction: the rounds' keys travel to the
    /// blocking thread that holds it, the documents travel back, and `query` (which need not
    /// be `'static`) stays here.
    async fn lookup_found<Q>(
        &self,
        tenant: &TenantId,
        query: &Q,
    ) -> Result<Found<'static, M::Doc>, StorageError>
    where
        Q: Lookup<M::Doc> + Sync,
    {
        let (keys_to_load, requests) = std::sync::mpsc::channel::<Vec<DocKey>>();
        let (answers, mut loaded_docs) =
            tokio::sync::mpsc::unbounded_channel::<Result<Vec<Loaded<M::Doc>>, StorageError>>();
        let this = self.clone();
        let owned_tenant = tenant.clone();
        let reading = self.database().read(move |transaction| {
            while let Ok(keys) = requests.recv() {
                let loaded = this.load(transaction, &owned_tenant, &keys);
                let failed = loaded.is_err();
                if answers.send(loaded).is_err() || failed {
                    break;
                }
            }
            Ok::<(), StorageError>(())
        });
        let rounds = async move {
            let mut found = Found::default();
            let mut keys = Vec::new();
            let rounds = query
                .rounds()
                .map_or(MAX_KEY_ROUNDS, |r| r.min(MAX_KEY_ROUNDS));
            for _ in 0..rounds {
                keys.clear();
                query.keys(&found, &mut keys);
                let mut new: Vec<DocKey> = Vec::new();
                for key in &keys {
                    if !found.contains(key) && !new.contains(key) {
                        new.push(*key);
                    }
                }
                if new.is_empty() {
                    break;
                }
                if keys_to_load.send(new.clone()).is_err() {
                    return Err(None);
                }
                let Some(loaded) = loaded_docs.recv().await else {
                    return Err(None);
                };
                let mut loaded: HashMap<DocKey, M::Doc> = loaded
                    .map_err(Some)?
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
            // Dropping the sender here ends the read.
            Ok(found)
        };
        let (found, read) = tokio::join!(rounds, reading);
        match (found, read) {
            (Ok(found), _) => Ok(found),
            (Err(Some(error)), _) | (Err(None), Err(error)) => Err(error),
            (Err(None), Ok(())) => Err(StorageError::Unavailable {
                reason: format!("a lookup's read of {} ended early", self.table()),
                source: None,
            }),
        }
    }
}

/// The checkpoint of projection `table` for `tenant`, if it has one.
fn checkpoint_of(
    transaction: &Transaction<'_>,
    table: &str,
    tenant: &TenantId,
) -> Result<Option<GlobalPosition>, StorageError> {
    let row: Option<(Option<i64>, Option<i64>)> = transaction
        .prepare_cached(sql::READ_CHECKPOINT)
        .and_then(|mut statement| {
            statement
                .query_row((table, tenant.as_str()), |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
        })
        .map_err(failed("reading a checkpoint"))?;
    match row {
        Some((Some(transaction_id), Some(position))) => Ok(Some(GlobalPosition {
            transaction: to_u64(transaction_id, table, "checkpoint transaction")?,
            position: to_u64(position, table, "checkpoint position")?,
        })),
        _ => Ok(None),
    }
}

impl<M> DocumentStore<M> for SqliteDocuments<M>
where
    M: ReadModel + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    async fn checkpoint(&self, tenant: &TenantId) -> Result<Option<GlobalPosition>, StorageError> {
        let this = self.clone();
        let tenant = tenant.clone();
        self.database()
            .read(move |transaction| this.checkpoint_in(transaction, &tenant))
            .await
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        batch: &ProjectionBatch,
    ) -> Result<(), StorageError> {
        let this = self.clone();
        let tenant = tenant.clone();
        let batch = batch.clone();
        self.database()
            .write(move |transaction| this.commit_in(transaction, &tenant, expected, &batch))
            .await
    }

    async fn get(
        &self,
        tenant: &TenantId,
        key: &DocKey,
    ) -> Result<Option<Stored<M::Doc>>, StorageError> {
        let this = self.clone();
        let tenant = tenant.clone();
        let key = *key;
        let loaded = self
            .database()
            .read(move |transaction| this.load(transaction, &tenant, &[key]))
            .await?;
        Ok(loaded
            .into_iter()
            .next()
            .map(|(key, position, doc)| Stored { key, position, doc }))
    }

    async fn documents(&self, tenant: &TenantId) -> Result<Vec<Stored<M::Doc>>, StorageError> {
        let this = self.clone();
        let tenant = tenant.clone();
        let loaded = self
            .database()
            .read(move |transaction| {
                this.select(transaction, &this.shared.sql.all, [tenant.as_str()])
            })
            .await?;
        let mut documents: Vec<Stored<M::Doc>> = loaded
            .into_iter()
            .map(|(key, position, doc)| Stored { key, position, doc })
            .collect();
        // The statement orders by (kind, key text), which is key order; sorting again costs
        // little and keeps the promise whatever a kind's name holds.
        documents.sort_by_key(|stored| stored.key);
        Ok(documents)
    }

    async fn parked(&self, tenant: &TenantId) -> Result<Vec<ParkedEvent>, StorageError> {
        let this = self.clone();
        let tenant = tenant.clone();
        self.database()
            .read(move |transaction| this.parked_in(transaction, &tenant))
            .await
    }

    async fn lookup<Q>(&self, tenant: &TenantId, query: &Q) -> Result<Q::Answer, StorageError>
    where
        Q: Lookup<M::Doc> + Sync,
        Q::Answer: Send,
    {
        let found = self.lookup_found(tenant, query).await?;
        Ok(query.answer(&found))
    }

    async fn scan<Q>(&self, tenant: &TenantId, query: &Q) -> Result<Q::Answer, StorageError>
    where
        Q: Scan<M::Doc> + Sync,
        Q::Answer: Send,
    {
        let selection = query.selection();
        let Some((text, values)) = self.shared.sql.scan(M::COLUMNS, &selection) else {
            return Ok(query.answer(std::iter::empty()));
        };
        let this = self.clone();
        let mut params = vec![Value::Text(tenant.as_str().to_owned())];
        params.extend(values);
        let documents = self
            .database()
            .read(move |transaction| {
                this.select(transaction, &text, rusqlite::params_from_iter(params))
            })
            .await?;
        Ok(query.answer(documents.iter().map(|(key, _, doc)| (key, doc))))
    }
}
