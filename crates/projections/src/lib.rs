//! # crm-projections
//!
//! Read models folded from the CRM's event stream. Each read model is a pure fold (events in,
//! documents out) that lives in this crate; where the documents are kept is an adapter.
//!
//! - `event.rs`: [`ProjectedEvent`], the envelope every model folds (global position, tenant,
//!   stream, [`CrmEvent`]); `decode.rs` builds it from what the event store keeps. The tenant
//!   is the event store's [`TenantId`], re-exported here: one tenant type for the workspace.
//! - `model/`: the [`ReadModel`] trait (keys, linked keys, apply, indexed columns), the
//!   [`Stored`] document with its stamp, the [`DocSet`] an event is applied to, and the two
//!   query shapes a storage adapter answers, [`Lookup`] (by key, in rounds) and [`Scan`] (a
//!   [`Selection`] over indexed columns). Depends on `event.rs` only.
//! - `storage/`: the storage port, [`DocumentStore`] (documents, parked events and checkpoint
//!   committed together), and [`Batch`], the working set through which an adapter applies a
//!   batch (load the named documents in one go, apply in order, write back once with the
//!   checkpoint). Depends on the model, never on an adapter.
//! - The adapters, each depending on the port: `memory/` ([`MemoryDocuments`], the in-memory
//!   fold and the reference for every other adapter; [`MemoryStorage`]), `postgres/`
//!   ([`PostgresDocuments`], [`RebuildWriter`]) and `sqlite/` ([`SqliteDocuments`] over the
//!   event store's shared [`SqliteDatabase`](crm_eventstore::sqlite::SqliteDatabase), with
//!   `commit_in` for the application's own write transactions; [`SqliteRebuildWriter`]). The
//!   SQL adapters name their tables and fill their indexed columns alike (`storage/table.rs`).
//!
//! The read models, one module each:
//! - [`account360`]: a company with its contacts, pipeline, revenue, tickets and activity,
//!   rolled up over its hierarchy when read.
//! - [`custom_fields`]: every record's custom field values, for showing them and for finding
//!   records by them; an erasure drops the values that were the person's.
//! - [`customer360`]: everything about one customer, merges followed, erasure honoured.
//! - [`sla`]: every lead and ticket with its SLA clocks, breach and at-risk lists, attainment.
//! - [`engagements`]: tasks (a user's open tasks by due time) and the activities logged on any
//!   record, one timeline row per record and activity, paged by cursor.
//! - [`duplicates`]: contact pairs waiting for a person to merge them or tell them apart.
//! - [`identity`]: every live contact filed under its blocking keys, for finding a person's
//!   candidates by any field.
//! - [`pipeline`]: deals by stage and owner, forecast by category and period, win rate, time in
//!   stage, lead conversion and response time.
//! - [`external_ids`]: contacts by their ids in connected systems, merges followed, erasure
//!   honoured.
//! - [`sync_conflicts`]: values connected systems proposed for fields under manual review,
//!   waiting for a person, oldest first.

pub mod account360;
pub mod custom_fields;
pub mod customer360;
mod decode;
pub mod duplicates;
pub mod engagements;
mod error;
mod event;
pub mod external_ids;
pub mod identity;
mod lifecycle;
mod memory;
mod model;
pub mod pipeline;
mod postgres;
mod runner;
pub mod sla;
mod sqlite;
mod storage;
mod sums;
pub mod sync_conflicts;

/// The event store's tenant id, the only one in the workspace: validated and folded to its
/// canonical lowercase form, so a query for `ACME` finds what was projected under `acme`.
pub use crm_eventstore::TenantId;
pub use decode::{DecodeError, decode_event, parse_stream_name};
pub use error::ProjectionError;
pub use event::{AggregateKind, CrmEvent, ProjectedEvent, StreamRef};
pub use lifecycle::{
    AsOf, LiveError, append_inline, customer_360_as_of, customer_360_at, customer_streams,
    fold_streams, fold_streams_at, fold_tenant_at,
};
pub use memory::{MemoryDocuments, MemoryStorage};
pub use model::{
    ColumnType, Comparison, DocKey, DocSet, Filter, Found, IndexValue, Indexed, IndexedColumn,
    Lookup, ReadModel, Scan, Selection, Stored,
};
pub use postgres::{
    PostgresDocuments, REMEMBERED_DOCUMENTS, RebuildLimits, RebuildWriter, connect_pool,
};
pub use runner::{
    Lag, LagError, Lease, PoisonPolicy, Projector, ProjectorHandle, ProjectorOptions,
    ProjectorStatus, RebuildFuture, RebuildProgress, RebuildTarget, RunnerError, SWITCH_ATTEMPTS,
    Step, Switched, rebuild, rebuild_many, run_leased,
};
pub use sqlite::{SqliteDocuments, SqliteRebuildWriter};
pub use storage::batch::{Batch, Change, Progress};
pub use storage::{DocumentStore, ParkedEvent, ProjectionBatch, StorageError};
