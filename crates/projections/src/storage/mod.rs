//! The storage port of the read models: where a projector keeps a model's documents, its
//! checkpoint and its parked events, committed together.
//!
//! [`DocumentStore`] is the port, and `batch.rs` the protocol its adapters share for applying a
//! batch ([`Batch`](crate::Batch)); [`MemoryStorage`](crate::MemoryStorage) (`memory/`),
//! [`PostgresDocuments`](crate::PostgresDocuments) (`postgres/`) and
//! [`SqliteDocuments`](crate::SqliteDocuments) (`sqlite/`) are its adapters, held to one
//! behaviour by one conformance suite (`crm_testkit::storage_conformance`, run by
//! `tests/storage.rs`). `table.rs` holds what the SQL adapters derive alike from a model (the
//! table's name, the indexed columns' values). Nothing in the port names a database or an
//! adapter: the adapters depend on it, never the reverse.

pub(crate) mod batch;
pub(crate) mod table;

use std::future::Future;

use chrono::{DateTime, Utc};
use crm_eventstore::{GlobalPosition, StoreError};
use thiserror::Error;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::model::{DocKey, Lookup, ReadModel, Scan, Stored};
use crm_eventstore::TenantId;

/// One step of a projector, committed at once: the events to apply (in global order), the
/// events parked instead of applied, and the checkpoint they bring the projection to.
///
/// `through` may lie past the last event: events the model ignores, and events this build does
/// not know, still move the checkpoint ("processed through position P").
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionBatch {
    /// The events to apply, in global order.
    pub events: Vec<ProjectedEvent>,
    /// Events that could not be decoded, parked by the [`PoisonPolicy::Park`] policy.
    ///
    /// [`PoisonPolicy::Park`]: crate::PoisonPolicy::Park
    pub parked: Vec<ParkedEvent>,
    /// The checkpoint after this batch.
    pub through: GlobalPosition,
}

impl ProjectionBatch {
    /// A batch applying `events` and moving the checkpoint to `through`.
    pub fn new(events: Vec<ProjectedEvent>, through: GlobalPosition) -> Self {
        Self {
            events,
            parked: Vec::new(),
            through,
        }
    }
}

/// An event a projector could not decode and set aside instead of halting: queryable, with
/// what went wrong, so that it can be fixed and replayed on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedEvent {
    /// Its place in the tenant's global order.
    pub position: GlobalPosition,
    /// Its stream, as the store names it.
    pub stream: String,
    /// Its version in the stream.
    pub version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Its stored type.
    pub event_type: String,
    /// Its schema version (after upcasting).
    pub schema_version: u16,
    /// Why it could not be applied.
    pub reason: String,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// Why a document store failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The database could not be reached or dropped the connection; retrying may succeed.
    ///
    /// `reason` says what failed and why, down to the root cause the driver keeps in its
    /// source chain (`Connection refused`, the server's `FATAL` message); `source` keeps the
    /// underlying error itself.
    #[error("read-model storage unavailable: {reason}")]
    Unavailable {
        /// What happened, and why.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The database refused a statement.
    #[error("read-model storage error {code}: {message}")]
    Database {
        /// The SQLSTATE.
        code: String,
        /// The server's message.
        message: String,
    },
    /// A model's name or column cannot name a table or column (`[a-z][a-z0-9_]*`, short enough
    /// for PostgreSQL's 63-byte identifiers).
    #[error("{what} {name:?} cannot be used as a table or column name")]
    InvalidName {
        /// What the name is for.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A stored document does not read back as the model's document type.
    #[error("document {key} of {table} is unreadable: {reason}")]
    CorruptDocument {
        /// The table.
        table: String,
        /// The document's key as text.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A document could not be encoded, or an indexed value does not have its column's type.
    #[error("document {key} cannot be stored: {reason}")]
    Encode {
        /// The document's key as text.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Another writer moved the checkpoint since this one read it: two projectors ran the same
    /// projection at once. Nothing of this batch was written.
    #[error(
        "checkpoint of {projection} for tenant {tenant} moved: expected {expected:?}, found {found:?}"
    )]
    CheckpointMoved {
        /// The projection (table) name.
        projection: String,
        /// The tenant.
        tenant: String,
        /// The checkpoint this writer started from.
        expected: Option<GlobalPosition>,
        /// The checkpoint found.
        found: Option<GlobalPosition>,
    },
    /// The connection string's TLS settings cannot be used (an `sslmode` libpq does not know,
    /// an `sslrootcert` that cannot be read): the event store's error, which reads them, says
    /// which. Retrying with the same string cannot help.
    #[error("read-model storage cannot use the connection string: {0}")]
    ConnectionSettings(#[source] StoreError),
    /// The model could not apply an event (a bug in the model): the projection halts.
    #[error(transparent)]
    Model(#[from] ProjectionError),
}

impl StorageError {
    /// Whether retrying the same call may succeed (a lost connection, not a bug).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Unavailable { .. })
    }
}

/// An error of the event store's shared SQLite handle
/// ([`SqliteDatabase`](crm_eventstore::sqlite::SqliteDatabase)) while it served a read model:
/// [`StoreError::Unavailable`] stays [`StorageError::Unavailable`] (retryable), a refused
/// statement keeps its code and message as [`StorageError::Database`], and anything else
/// (a failed migration) becomes [`StorageError::Database`] with the store's message.
impl From<StoreError> for StorageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { reason, source } => {
                StorageError::Unavailable { reason, source }
            }
            StoreError::Database { code, message } => StorageError::Database { code, message },
            StoreError::Migration { .. } => StorageError::Database {
                code: "MIGRATION".to_owned(),
                message: error.to_string(),
            },
            other => StorageError::Database {
                code: "STORE".to_owned(),
                message: other.to_string(),
            },
        }
    }
}

/// Where a projector keeps one read model's documents (one [`ReadModel::VERSION`]), per
/// tenant.
///
/// Guarantees every adapter keeps (the conformance suite checks them):
/// - [`commit`](Self::commit) is atomic: the documents, the parked events and the checkpoint
///   change together or not at all, and only if the checkpoint is still `expected`;
/// - an event at or below a document's stamp (the position of the last event that changed
///   it) changes nothing in it, so delivering an event twice changes nothing;
/// - tenants never see each other's documents;
/// - the documents equal [`MemoryDocuments`](crate::MemoryDocuments)' fold of the same events.
pub trait DocumentStore<M: ReadModel>: Send + Sync {
    /// The tenant's checkpoint: the position processed through, `None` before the first batch.
    fn checkpoint(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<GlobalPosition>, StorageError>> + Send;

    /// Applies `batch` for `tenant` and moves the checkpoint to `batch.through`, all in one
    /// commit, provided the checkpoint is still `expected`
    /// ([`StorageError::CheckpointMoved`] otherwise). Events at or below `expected` are
    /// passed over. A model error ([`StorageError::Model`]) writes nothing.
    fn commit(
        &self,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        batch: &ProjectionBatch,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The document at `key`, with its stamp.
    fn get(
        &self,
        tenant: &TenantId,
        key: &DocKey,
    ) -> impl Future<Output = Result<Option<Stored<M::Doc>>, StorageError>> + Send;

    /// Every document of the tenant, in key order.
    fn documents(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<Stored<M::Doc>>, StorageError>> + Send;

    /// The tenant's parked events, in global order.
    fn parked(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<ParkedEvent>, StorageError>> + Send;

    /// Answers a [`Lookup`] over the tenant's documents.
    fn lookup<Q>(
        &self,
        tenant: &TenantId,
        query: &Q,
    ) -> impl Future<Output = Result<Q::Answer, StorageError>> + Send
    where
        Q: Lookup<M::Doc> + Sync,
        Q::Answer: Send;

    /// Answers a [`Scan`] over the tenant's documents.
    fn scan<Q>(
        &self,
        tenant: &TenantId,
        query: &Q,
    ) -> impl Future<Output = Result<Q::Answer, StorageError>> + Send
    where
        Q: Scan<M::Doc> + Sync,
        Q::Answer: Send;
}
