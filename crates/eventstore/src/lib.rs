//! # crm-eventstore
//!
//! An append-only store of typed, versioned JSON events in streams, with PostgreSQL and SQLite
//! backends and an in-memory twin that behave identically. It knows nothing of the CRM.
//!
//! ## Module map
//!
//! - [`store`]: the port, [`EventStore`], and its request/answer types ([`StreamRead`],
//!   [`ReadAllPage`], [`Snapshot`], [`VerifyReport`], [`StoreSettings`]). Start here.
//! - [`event`]: what goes in ([`NewEvent`], [`Metadata`]) and comes out ([`RecordedEvent`],
//!   [`AppendResult`]), with [`ExpectedVersion`] and [`GlobalPosition`] (the checkpoint).
//! - [`ids`]: [`TenantId`] and [`StreamId`] and the naming rules.
//! - [`error`]: [`StoreError`], the one error type.
//! - [`depth`]: [`MAX_JSON_DEPTH`], the one JSON nesting limit of every door, measured
//!   without recursion.
//! - [`seal`]: [`Seal`]s over each tenant's global order and [`HeadManifest`]s to keep outside
//!   the database, so `verify` catches reordered, removed and rewritten history.
//! - [`hash`]: the documented canonical encoding behind the per-stream hash chains.
//! - [`upcast`]: [`Upcasters`], carrying old payloads to current schema versions on read.
//! - [`subscription`]: [`Subscription`], catch-up then live, pulled by the consumer.
//! - [`memory`]: [`MemoryStore`], the in-memory backend.
//! - [`postgres`]: [`PostgresStore`] (pool, migrations, `append_in` a caller's transaction,
//!   LISTEN/NOTIFY wake-ups); the SQL lives in `migrations/*.sql` and `postgres/sql.rs`.
//!   [`postgres::tls`] reads a connection string's `sslmode` and `sslrootcert` as libpq does
//!   (`verify-full` included) and makes the rustls connector every connection uses.
//! - [`sqlite`]: [`SqliteDatabase`], one SQLite file in WAL mode shared by the components of a
//!   process, and [`SqliteStore`], the event store on it (`append_in` a caller's write
//!   transaction; one writer at a time, so positions commit in order and `held_by` is always
//!   `None`); the schema is in `migrations/sqlite/*.sql`.
//! - [`transfer`]: moving a tenant between backends with every hash chain kept byte for byte:
//!   the port [`HistoryTransfer`] (tenants, a page of history in global order as
//!   [`audit::ExportedEvent`]s, a verbatim import in one transaction), [`copy_history`]
//!   (resumable, then verified against the source's stream heads) and [`copy_subject_keys`]
//!   (over [`crypto::SubjectKeyTransfer`]).
//! - [`audit`]: an export of a tenant's history ([`audit::ExportedEvent`]s in (stream,
//!   version) order: `PostgresStore::export_page`, `SqliteStore::export_page`) and
//!   [`audit::verify_export`], its offline check.
//! - [`blocking`]: [`BlockingStore`], a synchronous facade over any backend.
//! - [`crypto`]: crypto-shredding of personal fields (per-subject keys), with a key store per
//!   backend ([`crypto::SqliteSubjectKeyStore`] in the SQLite file).
//! - `codec` and `verify` (private): validation/encoding shared by the backends, and the
//!   hash-chain walker behind `verify`.
//!
//! ## A taste
//!
//! ```
//! use crm_eventstore::{
//!     EventStore, ExpectedVersion, GlobalPosition, MemoryStore, NewEvent, StreamId, StreamRead,
//!     TenantId,
//! };
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store = MemoryStore::default(); // or PostgresStore::connect(config).await?
//! let (acme, lead) = (TenantId::new("acme")?, StreamId::new("lead-42")?);
//! let received = NewEvent::new("LeadReceived", 1, json!({ "email": "ada@example.com" }));
//! let appended = store.append(&acme, &lead, ExpectedVersion::NoStream, &[received]).await?;
//! assert_eq!(appended.stream_version, 1);
//!
//! let events = store.read_stream(&acme, &lead, StreamRead::forward()).await?;
//! assert_eq!(events[0].payload["email"], "ada@example.com");
//! let page = store.read_all(&acme, GlobalPosition::START, 100).await?;
//! assert_eq!(page.next, events[0].position);
//! assert!(store.verify(&acme).await?.is_intact());
//! # Ok::<(), crm_eventstore::StoreError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Global order
//!
//! Each event row keeps its transaction's id; readers take only events of transactions below
//! the oldest one still open, ordered by (transaction id, position). So a reader that resumes
//! from the last [`GlobalPosition`] it saw never skips a late committer, while appends take no
//! global lock and their commits group. An open transaction holds readers back; subscriptions
//! report that apart from ordinary lag ([`SubscriptionStatus::HeldBy`]).

pub mod audit;
pub mod blocking;
pub mod cache;
mod codec;
pub mod crypto;
pub mod depth;
pub mod error;
pub mod event;
pub mod hash;
pub mod ids;
pub mod memory;
pub mod postgres;
pub mod seal;
pub mod sqlite;
pub mod store;
pub mod subscription;
pub mod transfer;
pub mod upcast;
mod verify;

pub use blocking::{BlockingStore, BlockingSubscription};
pub use cache::{CacheStats, CachedState, StreamCache, StreamState};
pub use depth::MAX_JSON_DEPTH;
pub use error::StoreError;
pub use event::{
    AppendResult, AppendedEvent, EventHash, ExpectedVersion, GlobalPosition, Metadata, NewEvent,
    RecordedEvent, Source,
};
pub use ids::{MAX_NAME_BYTES, NameKind, StreamId, TenantId};
pub use memory::MemoryStore;
pub use postgres::{NewStreamAppend, PostgresConfig, PostgresStore};
pub use seal::{BrokenSeal, HeadManifest, ManifestProblem, Seal, StreamHead};
pub use sqlite::{SqliteDatabase, SqliteStore};
pub use store::{
    AsOf, BrokenLink, DEFAULT_MAX_EVENT_BYTES, Direction, EventStore, LinkProblem, PageEntry,
    ReadAllPage, Snapshot, StoreSettings, StreamRead, UnreadableEvent, VerifyReport,
};
pub use subscription::{Subscription, SubscriptionOptions, SubscriptionStatus};
pub use transfer::{
    CopyProgress, CopyReport, DEFAULT_COPY_BATCH, HistoryPage, HistoryTransfer, ImportOutcome,
    ImportProblem, KeyCopyReport, copy_history, copy_subject_keys,
};
pub use upcast::Upcasters;
