//! The PostgreSQL backend: a pooled [`PostgresStore`] over the schema in `migrations/`.
//!
//! - `sql.rs`: every statement this module runs; `migrate.rs`: the migration runner.
//! - `types.rs`: `xid8` and exact-bytes `json` column types.
//! - `wake.rs`: LISTEN/NOTIFY wake-up hints for subscribers.
//! - `transfer.rs`: history exported and imported verbatim
//!   ([`HistoryTransfer`](crate::HistoryTransfer)), and the audit export's pages.
//! - [`tls`]: the connection string read as libpq reads it, `sslmode` and `sslrootcert`
//!   included, and the rustls connector every connection uses.
//!
//! An append is one call to the `eventstore_append` function: one round trip, whatever the
//! batch size. Every read is scoped by `tenant_id`, which leads every key and index.
//! `tenant_id` columns are `text` holding the [`TenantId`]'s canonical (lowercase) form, the
//! only form any call passes, so `ACME` and `acme` meet in the same rows without a
//! case-insensitive collation or index.

mod migrate;
mod sql;
pub mod tls;
mod transfer;
mod types;
mod wake;

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::TryStreamExt;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};
use uuid::Uuid;

pub use migrate::{MIGRATIONS, Migration};

use self::tls::ConnectionSettings;

use self::types::{JsonBytes, Xid8};
use crate::codec::{
    EncodedBatch, RawEvent, StoredLink, check_state_depth, earlier_append, encode_batch, to_hash,
};
use crate::error::with_causes;
use crate::ids::validate_name;
use crate::seal::{MAX_EVENTS_PER_SEAL, ManifestCheck, SealWalk};
use crate::verify::ChainVerifier;
use crate::{
    AppendResult, AppendedEvent, AsOf, BrokenSeal, Direction, EventHash, EventStore,
    ExpectedVersion, GlobalPosition, HeadManifest, NameKind, NewEvent, ReadAllPage, RecordedEvent,
    Seal, Snapshot, StoreError, StoreSettings, StreamHead, StreamId, StreamRead, TenantId,
    UnreadableEvent, VerifyReport,
};

/// The role migrations grant the store's rights to: `SELECT` on the event tables, `EXECUTE` on
/// the append function, the snapshot and key tables as each needs. Grant it to the
/// application's login role; run migrations as the owner role.
pub const APP_ROLE: &str = "crm_eventstore_app";

/// Rows per page when `verify` walks the store.
const VERIFY_PAGE_SIZE: i64 = 1000;

/// How many of a manifest's streams one query checks.
const MANIFEST_CHUNK: usize = 10_000;

/// The most events a `read_all` page reserves room for up front (a caller may ask for a
/// huge limit and get a short page).
const READ_ALL_RESERVE: usize = 1024;

/// How to reach PostgreSQL and how to behave there.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// A libpq connection string, `key=value` (`host=/var/run/postgresql user=app dbname=crm`)
    /// or a URL. TLS follows its `sslmode` (and `sslrootcert`) as in libpq, `verify-ca` and
    /// `verify-full` included: see [`tls`].
    pub connection: String,
    /// The most pooled connections (default 16).
    pub pool_size: usize,
    /// Whether [`PostgresStore::connect`] applies pending migrations (default) or only checks
    /// that none is pending (for an application role that may not change the schema).
    pub migrate: bool,
    /// How long to wait for a pooled connection before failing with
    /// [`StoreError::Unavailable`] (default 30 s).
    pub wait_timeout: Duration,
    /// Settings shared with every backend.
    pub settings: StoreSettings,
}

impl PostgresConfig {
    /// A configuration with defaults for the given connection string.
    pub fn new(connection: impl Into<String>) -> Self {
        Self {
            connection: connection.into(),
            pool_size: 16,
            migrate: true,
            wait_timeout: Duration::from_secs(30),
            settings: StoreSettings::default(),
        }
    }

    /// The same configuration with another pool size.
    #[must_use]
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size.max(1);
        self
    }

    /// The same configuration with other settings.
    #[must_use]
    pub fn with_settings(mut self, settings: StoreSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The same configuration, checking the schema at connect instead of migrating it.
    #[must_use]
    pub fn without_migrations(mut self) -> Self {
        self.migrate = false;
        self
    }
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    connection: ConnectionSettings,
    settings: StoreSettings,
    signal: watch::Sender<u64>,
    notify_pending: Arc<Notify>,
    notifier: JoinHandle<()>,
    listener: OnceLock<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.notifier.abort();
        if let Some(Some(listener)) = self.listener.get() {
            listener.abort();
        }
    }
}

/// The first events of one new stream, for [`PostgresStore::append_new_streams`].
#[derive(Debug, Clone, Copy)]
pub struct NewStreamAppend<'a> {
    /// The stream, expected not to exist yet.
    pub stream: &'a StreamId,
    /// Its events, in order.
    pub events: &'a [NewEvent],
    /// The data subject whose key encrypted the events' personal fields, and that key
    /// (stored unless the subject has one; a subject with another key fails the batch).
    pub subject_key: Option<(&'a crate::crypto::SubjectId, &'a crate::crypto::SubjectKey)>,
}

/// An [`EventStore`] on PostgreSQL (15 or later), through a connection pool.
///
/// Clones share the pool. Besides the port, it offers [`append_in`](Self::append_in) for an
/// append inside a transaction the caller owns (so inbox, outbox or read-model rows commit
/// with the events or not at all) and [`client`](Self::client) to start such a transaction.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

/// [`StoreError::Unavailable`] while `doing` something, naming the cause `source` carries
/// (down its chain) and keeping `source`.
fn unavailable(doing: &str, source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable {
        reason: format!("{doing}: {}", with_causes(&source)),
        source: Some(Box::new(source)),
    }
}

/// Maps a driver error: lost connections, shutdowns and resource exhaustion are
/// [`StoreError::Unavailable`], naming the cause and keeping the driver's error as the source;
/// other server errors keep their SQLSTATE and message.
pub(crate) fn from_pg(error: tokio_postgres::Error) -> StoreError {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let unavailable =
            code.starts_with("08") || code.starts_with("57P") || code.starts_with("53");
        if !unavailable {
            return StoreError::Database {
                code: code.to_owned(),
                message: db.message().to_owned(),
            };
        }
    }
    StoreError::Unavailable {
        reason: with_causes(&error),
        source: Some(Box::new(error)),
    }
}

/// Runs an idempotent call on a pooled connection, retrying (twice at most) when the
/// connection turns out dead: a connection the server ended can sit in the pool until its
/// driver notices, and a read (or an upsert) can always be repeated. Appends are never retried
/// here: whether a lost append committed is unknowable, so the caller decides (with its
/// idempotency key).
macro_rules! retrying_on_pool {
    ($store:expr, $client:ident => $call:expr) => {
        retrying_on_pool!(@run $store, [] $client => $call)
    };
    ($store:expr, mut $client:ident => $call:expr) => {
        retrying_on_pool!(@run $store, [mut] $client => $call)
    };
    (@run $store:expr, [$($mut:tt)?] $client:ident => $call:expr) => {{
        let mut attempt = 0;
        loop {
            let $($mut)? $client = $store.client().await?;
            let result = $call.await;
            release($client, &result);
            if attempt < 2 && matches!(result, Err(StoreError::Unavailable { .. })) {
                attempt += 1;
                continue;
            }
            break result;
        }
    }};
}

/// Returns a connection to the pool, unless the call found it broken: a connection the server
/// dropped must not be handed to the next caller (the pool's fast recycling only notices once
/// the driver has seen the socket close).
fn release<T>(client: Object, result: &Result<T, StoreError>) {
    if matches!(result, Err(StoreError::Unavailable { .. })) {
        drop(Object::take(client));
    }
}

fn corrupt(location: impl Into<String>, reason: impl std::fmt::Display) -> StoreError {
    StoreError::CorruptRow {
        location: location.into(),
        reason: reason.to_string(),
    }
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(what, format!("negative value {value}")))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The tenant's event id from a unique-violation detail such as
/// `Key (tenant_id, event_id)=(acme, 0190…) already exists.`: the UUID is the last field.
fn unique_violated_event_id(error: &tokio_postgres::Error) -> Option<Uuid> {
    let db = error.as_db_error()?;
    if *db.code() != SqlState::UNIQUE_VIOLATION || db.constraint() != Some("events_event_id_key") {
        return None;
    }
    let detail = db.detail()?;
    let end = detail.rfind(')')?;
    let start = end.checked_sub(36)?;
    Uuid::parse_str(detail.get(start..end)?).ok()
}

/// [`StoreError::DuplicateEventId`] when `error` is the unique violation of one of the batch's
/// event ids.
fn duplicate_event_id(error: &tokio_postgres::Error, batch: &EncodedBatch) -> Option<StoreError> {
    let event_id = unique_violated_event_id(error)?;
    batch
        .events
        .iter()
        .any(|event| event.id == event_id)
        .then_some(StoreError::DuplicateEventId { event_id })
}

/// Whether an append lost a race on its idempotency key to a concurrent append with the same
/// key (only possible when the two went to different streams, since appends to one stream
/// take turns before checking the key).
fn is_idempotency_key_race(error: &StoreError) -> bool {
    matches!(error, StoreError::Database { code, message }
        if code == SqlState::UNIQUE_VIOLATION.code() && message.contains("idempotency_keys_pkey"))
}

impl PostgresStore {
    /// Connects a pool, applies (or checks) the migrations, and starts the wake-up notifier.
    ///
    /// Fails with [`StoreError::Unavailable`] when PostgreSQL cannot be reached (a refused
    /// TLS handshake included), [`StoreError::Migration`] when the schema cannot be brought up
    /// to date, and [`StoreError::InvalidSslMode`] or [`StoreError::UnreadableRootCertificate`]
    /// when the connection string's TLS settings cannot be used.
    pub async fn connect(config: PostgresConfig) -> Result<Self, StoreError> {
        let connection = ConnectionSettings::parse(&config.connection)?;
        let manager = Manager::from_config(
            connection.config().clone(),
            connection.tls(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.wait_timeout))
            .create_timeout(Some(config.wait_timeout))
            .build()
            .map_err(|error| unavailable("cannot build the connection pool", error))?;
        let mut client = pool
            .get()
            .await
            .map_err(|error| unavailable("cannot connect to PostgreSQL", error))?;
        if config.migrate {
            migrate::run(&mut client).await?;
        } else {
            migrate::check(&client).await?;
        }
        drop(client);
        let notify_pending = Arc::new(Notify::new());
        let notifier = wake::spawn_notifier(pool.clone(), Arc::clone(&notify_pending));
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                connection,
                settings: config.settings,
                signal: watch::channel(0).0,
                notify_pending,
                notifier,
                listener: OnceLock::new(),
            }),
        })
    }

    /// Applies pending migrations over one connection and disconnects; for deploy tools that
    /// migrate as the owner role while the application connects as [`APP_ROLE`].
    pub async fn migrate(connection: &str) -> Result<(), StoreError> {
        let settings = ConnectionSettings::parse(connection)?;
        let (mut client, connection) = settings
            .config()
            .connect(settings.tls())
            .await
            .map_err(|error| unavailable("cannot connect to PostgreSQL", error))?;
        let driver = tokio::spawn(connection);
        let outcome = migrate::run(&mut client).await;
        drop(client);
        let _ = driver.await;
        outcome
    }

    /// A pooled connection, for starting a transaction to pass to
    /// [`append_in`](Self::append_in).
    pub async fn client(&self) -> Result<Object, StoreError> {
        loop {
            let client = self
                .inner
                .pool
                .get()
                .await
                .map_err(|error| unavailable("no pooled connection", error))?;
            if !client.is_closed() {
                return Ok(client);
            }
            // Closed after it was returned (the server ended it): never hand it out.
            drop(Object::take(client));
        }
    }

    /// The settings the store runs with.
    pub fn settings(&self) -> &StoreSettings {
        &self.inner.settings
    }

    /// [`EventStore::append`], first making sure (in the same statement) that `subject`'s
    /// key is `key`, storing it unless the subject has one (migration 0007): for a writer
    /// that encrypted the events with a key it made, so a new aggregate with personal data
    /// costs one round trip. Fails with [`StoreError::SubjectKeyDiffers`], appending nothing,
    /// when the subject has another key or was shredded; ask the key store for the subject's
    /// key then and append the usual way.
    pub async fn append_with_subject_key(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        subject: &crate::crypto::SubjectId,
        key: &crate::crypto::SubjectKey,
    ) -> Result<AppendResult, StoreError> {
        self.append_checked(tenant, stream, expected, events, Some((subject, key)))
            .await
    }

    async fn append_checked(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        subject_key: Option<(&crate::crypto::SubjectId, &crate::crypto::SubjectKey)>,
    ) -> Result<AppendResult, StoreError> {
        let batch = encode_batch(&self.inner.settings, tenant, stream, expected, events)?;
        let mut retried = false;
        let row = loop {
            let client = self.client().await?;
            let row = async {
                let Some((subject, key)) = subject_key else {
                    let statement = client.prepare_cached(sql::APPEND).await.map_err(from_pg)?;
                    return Self::call_append(
                        &**client,
                        &statement,
                        &[],
                        tenant,
                        stream,
                        expected,
                        &batch,
                        false,
                    )
                    .await;
                };
                let statement = client
                    .prepare_cached(sql::APPEND_WITH_SUBJECT_KEY)
                    .await
                    .map_err(from_pg)?;
                let subject_name = subject.as_str();
                let lock = crate::crypto::subject_lock_id(tenant, subject);
                let key_bytes: &[u8] = key.expose_bytes();
                Self::call_append(
                    &**client,
                    &statement,
                    &[&subject_name, &lock, &key_bytes],
                    tenant,
                    stream,
                    expected,
                    &batch,
                    false,
                )
                .await
            }
            .await;
            release(client, &row);
            match row {
                // Another append with this key committed while ours ran (both got past the
                // key check): ours rolled back, and a retry answers from the committed key.
                Err(ref error) if !retried && is_idempotency_key_race(error) => retried = true,
                row => break row,
            }
        };
        let outcome = row.and_then(|row| append_outcome(&row, stream, expected, &batch));
        let result = match outcome {
            Err(
                error @ (StoreError::VersionConflict { .. } | StoreError::DuplicateEventId { .. }),
            ) => {
                // Perhaps a retry of an append that committed while its caller lost the
                // connection: the same ids with the same content answer as the first time.
                let client = self.client().await?;
                let earlier = self.earlier_append(&**client, tenant, stream, &batch).await;
                release(client, &earlier);
                return earlier?.ok_or(error);
            }
            other => other?,
        };
        if !result.events.is_empty() {
            wake::bump(&self.inner.signal);
            self.inner.notify_pending.notify_one();
        }
        Ok(result)
    }

    /// Appends the first events of several new streams of `tenant` in one transaction, the
    /// statements pipelined on one connection: one commit for them all, where
    /// [`append`](EventStore::append) costs one per stream. Each stream is appended as with
    /// `ExpectedVersion::Exact(0)`, after its subject's key is made sure of when it names one
    /// (as [`append_with_subject_key`](Self::append_with_subject_key) does).
    ///
    /// The answer holds one entry per append, in order: the result, or `None` when the stream
    /// already had events (nothing appended to it; the others are). Streams that exist are
    /// found first and left alone, so a batch holding one (a retry) still commits the rest. A
    /// new stream whose subject has another key, a repeated event id or any database error
    /// rolls the whole transaction back and is the error: nothing of the batch was appended,
    /// and appending its streams one at a time then tells which is which.
    pub async fn append_new_streams(
        &self,
        tenant: &TenantId,
        appends: &[NewStreamAppend<'_>],
    ) -> Result<Vec<Option<AppendResult>>, StoreError> {
        if appends.is_empty() {
            return Ok(Vec::new());
        }
        let expected = ExpectedVersion::Exact(0);
        let batches = appends
            .iter()
            .map(|append| {
                encode_batch(
                    &self.inner.settings,
                    tenant,
                    append.stream,
                    expected,
                    append.events,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut client = self.client().await?;
        let outcome = async {
            let transaction = client.transaction().await.map_err(from_pg)?;
            let names: Vec<&str> = appends
                .iter()
                .map(|append| append.stream.as_str())
                .collect();
            let existing: std::collections::HashSet<String> = transaction
                .query(sql::EXISTING_STREAMS, &[&tenant.as_str(), &names])
                .await
                .map_err(from_pg)?
                .iter()
                .map(|row| row.try_get::<_, String>(0))
                .collect::<Result<_, _>>()
                .map_err(from_pg)?;
            let plain = transaction
                .prepare_cached(sql::APPEND)
                .await
                .map_err(from_pg)?;
            let keyed = transaction
                .prepare_cached(sql::APPEND_WITH_SUBJECT_KEY)
                .await
                .map_err(from_pg)?;
            let locks: Vec<Option<(&str, i64, &[u8])>> = appends
                .iter()
                .map(|append| {
                    append.subject_key.map(|(subject, key)| {
                        (
                            subject.as_str(),
                            crate::crypto::subject_lock_id(tenant, subject),
                            &key.expose_bytes()[..],
                        )
                    })
                })
                .collect();
            // Polled together, the calls go to the server one after the other without
            // waiting for each answer (tokio-postgres pipelines them on the connection).
            let rows =
                futures_util::future::join_all(appends.iter().zip(&batches).zip(&locks).map(
                    |((append, batch), lock)| {
                        let transaction = &transaction;
                        let (plain, keyed) = (&plain, &keyed);
                        let exists = existing.contains(append.stream.as_str());
                        async move {
                            if exists {
                                return Ok(None);
                            }
                            // The subject's key goes with the append that stores it.
                            let (statement, prefix): (_, Vec<&(dyn ToSql + Sync)>) = match lock {
                                None => (plain, Vec::new()),
                                Some((subject, lock, key)) => (keyed, vec![subject, lock, key]),
                            };
                            Self::call_append(
                                &**transaction,
                                statement,
                                &prefix,
                                tenant,
                                append.stream,
                                expected,
                                batch,
                                false,
                            )
                            .await
                            .map(Some)
                        }
                    },
                ))
                .await;
            let mut results = Vec::with_capacity(rows.len());
            for ((row, append), batch) in rows.into_iter().zip(appends).zip(&batches) {
                let Some(row) = row? else {
                    results.push(None);
                    continue;
                };
                match append_outcome(&row, append.stream, expected, batch) {
                    Ok(result) => results.push(Some(result)),
                    Err(StoreError::VersionConflict { .. }) => results.push(None),
                    Err(error) => return Err(error),
                }
            }
            transaction.commit().await.map_err(from_pg)?;
            Ok(results)
        }
        .await;
        release(client, &outcome);
        let results = outcome?;
        if results.iter().any(|result| {
            result
                .as_ref()
                .is_some_and(|result| !result.events.is_empty())
        }) {
            wake::bump(&self.inner.signal);
            self.inner.notify_pending.notify_one();
        }
        Ok(results)
    }

    /// The subject key store in this store's database (tables `subject_keys` and
    /// `shredded_subjects`), sharing its connection pool.
    pub fn subject_keys(&self) -> crate::crypto::PostgresSubjectKeyStore {
        crate::crypto::PostgresSubjectKeyStore::new(self.inner.pool.clone())
    }

    /// Appends inside a transaction the caller owns: nothing is visible until the caller
    /// commits, and a rollback undoes the append with everything else the transaction did.
    ///
    /// Same contract as [`EventStore::append`], with two differences. A conflict
    /// (`VersionConflict`, `IdempotencyConflict`, `TransactionOrderConflict`) leaves the
    /// transaction usable, but `DuplicateEventId` and database errors abort it. And the
    /// transaction sends one NOTIFY at commit (PostgreSQL folds repeats), which briefly
    /// serializes its commit with other notifying transactions.
    ///
    /// The per-stream lock taken here is held until the transaction ends: keep such
    /// transactions short, since an open one also holds every subscriber back.
    pub async fn append_in(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        let batch = encode_batch(&self.inner.settings, tenant, stream, expected, events)?;
        let statement = transaction
            .prepare_cached(sql::APPEND)
            .await
            .map_err(from_pg)?;
        let row = Self::call_append(
            &**transaction,
            &statement,
            &[],
            tenant,
            stream,
            expected,
            &batch,
            true,
        )
        .await?;
        match append_outcome(&row, stream, expected, &batch) {
            // A repeat of an append this transaction can still see (a `DuplicateEventId` has
            // aborted the transaction, so only a version conflict is looked into).
            Err(error @ StoreError::VersionConflict { .. }) => self
                .earlier_append(&**transaction, tenant, stream, &batch)
                .await?
                .ok_or(error),
            other => other,
        }
    }

    /// The result of the earlier append that `batch` repeats, if it repeats one (see
    /// `codec::earlier_append`).
    async fn earlier_append(
        &self,
        client: &impl tokio_postgres::GenericClient,
        tenant: &TenantId,
        stream: &StreamId,
        batch: &EncodedBatch,
    ) -> Result<Option<AppendResult>, StoreError> {
        let ids: Vec<Uuid> = batch.events.iter().map(|event| event.id).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        // A rare path (only after a conflict): an unnamed statement is enough.
        let rows = client
            .query(sql::STORED_LINKS, &[&tenant.as_str(), &ids])
            .await
            .map_err(from_pg)?;
        let fail = |error| corrupt("events", error);
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get(0).map_err(fail)?;
            let version: i64 = row.try_get(2).map_err(fail)?;
            let position: i64 = row.try_get(3).map_err(fail)?;
            let transaction: Xid8 = row.try_get(4).map_err(fail)?;
            let link = StoredLink {
                stream: row.try_get(1).map_err(fail)?,
                version: to_u64(version, "events")?,
                position: GlobalPosition {
                    transaction: transaction.0,
                    position: to_u64(position, "events")?,
                },
                recorded_at: row.try_get(5).map_err(fail)?,
                hash: row.try_get(6).map_err(fail)?,
                previous_hash: row.try_get(7).map_err(fail)?,
            };
            found.insert(id, link);
        }
        let links = batch
            .events
            .iter()
            .map(|event| found.get(&event.id).copied());
        Ok(earlier_append(batch, stream, links))
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the append's parameters, passed through"
    )]
    async fn call_append(
        client: &impl tokio_postgres::GenericClient,
        statement: &tokio_postgres::Statement,
        prefix: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        batch: &EncodedBatch,
        notify: bool,
    ) -> Result<Row, StoreError> {
        let (kind, version): (i16, i64) = match expected {
            ExpectedVersion::Any => (0, 0),
            ExpectedVersion::NoStream => (1, 0),
            ExpectedVersion::StreamExists => (2, 0),
            ExpectedVersion::Exact(version) => (3, to_i64(version)),
        };
        let ids: Vec<Uuid> = batch.events.iter().map(|event| event.id).collect();
        let types: Vec<&str> = batch
            .events
            .iter()
            .map(|event| event.event_type.as_str())
            .collect();
        let schema_versions: Vec<i32> = batch
            .events
            .iter()
            .map(|event| i32::from(event.schema_version))
            .collect();
        let payloads: Vec<JsonBytes<'_>> = batch
            .events
            .iter()
            .map(|event| JsonBytes(&event.payload))
            .collect();
        let metadata: Vec<JsonBytes<'_>> = batch
            .events
            .iter()
            .map(|event| JsonBytes(&event.metadata))
            .collect();
        let digests: Vec<&[u8]> = batch.events.iter().map(|event| &event.digest[..]).collect();
        let tenant_name = tenant.as_str();
        let stream_name = stream.as_str();
        let idempotency_key = batch.idempotency_key.as_deref();
        let request_hash = batch.request_hash.as_ref().map(<[u8; 32]>::as_slice);
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = prefix.to_vec();
        params.extend_from_slice(&[
            &tenant_name,
            &stream_name,
            &kind,
            &version,
            &idempotency_key,
            &request_hash,
            &ids,
            &types,
            &schema_versions,
            &payloads,
            &metadata,
            &digests,
            &notify,
        ]);
        client.query_one(statement, &params).await.map_err(|error| {
            if error.code().map(tokio_postgres::error::SqlState::code) == Some("CRMK1") {
                return StoreError::SubjectKeyDiffers;
            }
            duplicate_event_id(&error, batch).unwrap_or_else(|| from_pg(error))
        })
    }

    fn ensure_listener(&self) {
        self.inner.listener.get_or_init(|| {
            wake::spawn_listener(self.inner.connection.clone(), self.inner.signal.clone())
        });
    }

    fn decode_rows(
        &self,
        tenant: &TenantId,
        rows: &[Row],
        known_stream: Option<&StreamId>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut last_stream: Option<StreamId> = known_stream.cloned();
        rows.iter()
            .map(|row| self.decode_row(tenant, row, &mut last_stream))
            .collect()
    }

    /// Decodes one event row; `last_stream` is the previous row's stream id, reused (an `Arc`
    /// clone) while consecutive rows share a stream.
    fn decode_row(
        &self,
        tenant: &TenantId,
        row: &Row,
        last_stream: &mut Option<StreamId>,
    ) -> Result<RecordedEvent, StoreError> {
        let raw = row_to_raw(row, 0)?;
        self.decode_raw(tenant, &raw, last_stream)
    }

    /// Decodes one row's fields (see [`Self::decode_row`]).
    fn decode_raw(
        &self,
        tenant: &TenantId,
        raw: &RawEvent<'_>,
        last_stream: &mut Option<StreamId>,
    ) -> Result<RecordedEvent, StoreError> {
        let stream = match last_stream {
            Some(stream) if stream.as_str() == raw.stream => stream.clone(),
            _ => {
                let stream = StreamId::new(raw.stream)
                    .map_err(|error| corrupt(format!("tenant {tenant}"), error))?;
                *last_stream = Some(stream.clone());
                stream
            }
        };
        raw.decode(tenant, stream, &self.inner.settings.upcasters)
    }

    async fn verify_in(
        &self,
        tenant: &TenantId,
        only: Option<&StreamId>,
    ) -> Result<VerifyReport, StoreError> {
        retrying_on_pool!(self, mut client => self.verify_in_on(&mut client, tenant, only))
    }

    async fn verify_in_on(
        &self,
        client: &mut Object,
        tenant: &TenantId,
        only: Option<&StreamId>,
    ) -> Result<VerifyReport, StoreError> {
        // One snapshot for the whole walk, so appends made meanwhile cannot look like breaks.
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(from_pg)?;
        let page = transaction
            .prepare_cached(sql::VERIFY_PAGE)
            .await
            .map_err(from_pg)?;
        let mut verifier = ChainVerifier::new(tenant.clone());
        let mut after_stream = String::new();
        let mut after_version: i64 = 0;
        let only_name = only.map(StreamId::as_str);
        loop {
            let rows = transaction
                .query(
                    &page,
                    &[
                        &tenant.as_str(),
                        &after_stream,
                        &after_version,
                        &only_name,
                        &VERIFY_PAGE_SIZE,
                    ],
                )
                .await
                .map_err(from_pg)?;
            for row in &rows {
                let stream: &str = row.try_get(0).map_err(|error| corrupt("streams", error))?;
                if !verifier.in_stream(stream) {
                    let head: i64 = row.try_get(1).map_err(|error| corrupt(stream, error))?;
                    let head_hash: &[u8] =
                        row.try_get(2).map_err(|error| corrupt(stream, error))?;
                    let stream_id =
                        StreamId::new(stream).map_err(|error| corrupt("streams", error))?;
                    verifier.begin_stream(stream_id, to_u64(head, stream)?, head_hash);
                }
                let version: Option<i64> =
                    row.try_get(3).map_err(|error| corrupt(stream, error))?;
                if version.is_some() {
                    let raw = row_to_raw(row, 2)?;
                    verifier.event(&raw);
                }
                stream.clone_into(&mut after_stream);
                after_version = version.unwrap_or(i64::MAX);
            }
            if verifier.is_broken() || rows.len() < usize::try_from(VERIFY_PAGE_SIZE).unwrap_or(0) {
                break;
            }
        }
        if !verifier.is_broken()
            && let Some(row) = transaction
                .query_opt(sql::VERIFY_ORPHAN, &[&tenant.as_str(), &only_name])
                .await
                .map_err(from_pg)?
        {
            let stream: &str = row.try_get(0).map_err(|error| corrupt("events", error))?;
            let version: i64 = row.try_get(1).map_err(|error| corrupt(stream, error))?;
            let event_id: Uuid = row.try_get(2).map_err(|error| corrupt(stream, error))?;
            let stream = StreamId::new(stream).map_err(|error| corrupt("events", error))?;
            verifier.orphan(stream, to_u64(version, "events")?, event_id);
        }
        let mut report = verifier.finish();
        if only.is_none() {
            (report.seals_checked, report.first_broken_seal) =
                Self::walk_seals(&*transaction, tenant).await?;
        }
        transaction.commit().await.map_err(from_pg)?;
        Ok(report)
    }

    /// Recomputes every seal of the tenant from its events (in the caller's snapshot).
    async fn walk_seals(
        client: &impl tokio_postgres::GenericClient,
        tenant: &TenantId,
    ) -> Result<(u64, Option<BrokenSeal>), StoreError> {
        let seals = Self::seals_on(client, tenant).await?;
        let Some(through) = SealWalk::last_through(&seals) else {
            return Ok((0, None));
        };
        let mut walk = SealWalk::new(tenant.as_str(), seals);
        let transaction = Xid8(through.transaction);
        let position = to_i64(through.position);
        let parameters: [&(dyn ToSql + Sync); 3] = [&tenant.as_str(), &transaction, &position];
        let rows = client
            .query_raw(sql::SEALED_EVENTS, parameters)
            .await
            .map_err(from_pg)?;
        let mut rows = pin!(rows);
        let fail = |error| corrupt("events", error);
        while walk.wants_more()
            && let Some(row) = rows.try_next().await.map_err(from_pg)?
        {
            let transaction: Xid8 = row.try_get(0).map_err(fail)?;
            let position: i64 = row.try_get(1).map_err(fail)?;
            let hash: &[u8] = row.try_get(2).map_err(fail)?;
            let position = GlobalPosition {
                transaction: transaction.0,
                position: to_u64(position, "events")?,
            };
            walk.event(position, &to_hash(hash).unwrap_or_default());
        }
        Ok(walk.finish())
    }

    async fn seals_on(
        client: &impl tokio_postgres::GenericClient,
        tenant: &TenantId,
    ) -> Result<Vec<Seal>, StoreError> {
        let rows = client
            .query(sql::SEALS, &[&tenant.as_str()])
            .await
            .map_err(from_pg)?;
        rows.iter()
            .filter_map(|row| row_to_seal(row).transpose())
            .collect()
    }

    async fn seal_on(
        &self,
        client: &Object,
        tenant: &TenantId,
    ) -> Result<Option<Seal>, StoreError> {
        let statement = client.prepare_cached(sql::SEAL).await.map_err(from_pg)?;
        let limit = i32::try_from(MAX_EVENTS_PER_SEAL).unwrap_or(i32::MAX);
        loop {
            let row = client
                .query_one(&statement, &[&tenant.as_str(), &limit])
                .await
                .map_err(from_pg)?;
            let new: bool = row
                .try_get(0)
                .map_err(|error| corrupt("eventstore_seal", error))?;
            if !new {
                return row_to_seal(&row);
            }
        }
    }

    async fn head_manifest_on(
        &self,
        client: &Object,
        tenant: &TenantId,
    ) -> Result<HeadManifest, StoreError> {
        let seal = self.seal_on(client, tenant).await?;
        let rows = client
            .query(sql::STREAM_HEADS, &[&tenant.as_str()])
            .await
            .map_err(from_pg)?;
        let fail = |error| corrupt("streams", error);
        let streams = rows
            .iter()
            .map(|row| {
                let version: i64 = row.try_get(1).map_err(fail)?;
                let hash: &[u8] = row.try_get(2).map_err(fail)?;
                Ok(StreamHead {
                    stream: row.try_get(0).map_err(fail)?,
                    version: to_u64(version, "streams")?,
                    hash: to_hash(hash)
                        .ok_or_else(|| corrupt("streams", "hash is not 32 bytes"))?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(HeadManifest::taken_now(tenant.as_str(), seal, streams))
    }

    async fn check_manifest_on(
        &self,
        client: &Object,
        tenant: &TenantId,
        manifest: &HeadManifest,
    ) -> Result<ManifestCheck, StoreError> {
        let mut check = match ManifestCheck::start(tenant.as_str(), manifest) {
            Ok(check) => check,
            Err(foreign) => return Ok(foreign),
        };
        let fail = |error| corrupt("streams", error);
        for chunk in manifest.streams.chunks(MANIFEST_CHUNK) {
            let names: Vec<&str> = chunk.iter().map(|head| head.stream.as_str()).collect();
            let versions: Vec<i64> = chunk.iter().map(|head| to_i64(head.version)).collect();
            let rows = client
                .query(
                    sql::MANIFEST_STREAMS,
                    &[&tenant.as_str(), &names, &versions],
                )
                .await
                .map_err(from_pg)?;
            for (head, row) in chunk.iter().zip(&rows) {
                let version: Option<i64> = row.try_get(0).map_err(fail)?;
                let hash: Option<&[u8]> = row.try_get(1).map_err(fail)?;
                check.stream(
                    head,
                    version
                        .map(|version| to_u64(version, "streams"))
                        .transpose()?,
                    hash.and_then(to_hash),
                );
            }
        }
        if let Some(seal) = &manifest.seal {
            let seals = Self::seals_on(&***client, tenant).await?;
            check.seal(
                seal,
                seals.iter().find(|stored| stored.number == seal.number),
            );
        }
        Ok(check)
    }

    /// One page of `read_all`. The rows are decoded as they arrive rather than after the
    /// last one, so decoding overlaps the server producing (and the socket carrying) the rest
    /// of the page, and the page's rows are never all held undecoded beside their events.
    async fn read_all_on(
        &self,
        client: &Object,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<ReadAllPage, StoreError> {
        let transaction = Xid8(after.transaction);
        let position = to_i64(after.position);
        let page_limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = client
            .prepare_cached(sql::READ_ALL)
            .await
            .map_err(from_pg)?;
        let parameters: [&(dyn ToSql + Sync); 4] =
            [&tenant.as_str(), &transaction, &position, &page_limit];
        let rows = client
            .query_raw(&statement, parameters)
            .await
            .map_err(from_pg)?;
        let mut rows = pin!(rows);
        let fail = |error| corrupt("read all", error);
        let mut events: Vec<RecordedEvent> = Vec::with_capacity(limit.min(READ_ALL_RESERVE));
        let mut unreadable: Vec<UnreadableEvent> = Vec::new();
        let mut held_by = None;
        let mut in_order = true;
        let mut last_stream = None;
        let mut next = after;
        while let Some(row) = rows.try_next().await.map_err(from_pg)? {
            if events.is_empty()
                && unreadable.is_empty()
                && row.try_get::<_, Option<&str>>(0).map_err(fail)?.is_none()
            {
                // The empty page's single row: only the held-by verdict.
                let horizon: Option<Xid8> = row.try_get(12).map_err(fail)?;
                held_by = horizon.map(|horizon| horizon.0);
                break;
            }
            let raw = row_to_raw(&row, 0)?;
            in_order &= next < raw.position;
            next = next.max(raw.position);
            // A row that cannot be decoded is passed over, never allowed to stall the tenant.
            match self.decode_raw(tenant, &raw, &mut last_stream) {
                Ok(event) => events.push(event),
                Err(error) => unreadable.push(raw.unreadable(&error)),
            }
        }
        if !in_order {
            // The statement orders the page's rows but not its output (see `sql::READ_ALL`):
            // restore the global order should the executor ever emit them otherwise.
            events.sort_unstable_by_key(|event| event.position);
            unreadable.sort_unstable_by_key(|event| event.position);
        }
        Ok(ReadAllPage {
            events,
            unreadable,
            next,
            held_by,
        })
    }

    async fn save_snapshot_on(
        &self,
        client: &Object,
        tenant: &TenantId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        validate_name(NameKind::SnapshotType, &snapshot.snapshot_type)?;
        check_state_depth(&snapshot.state, self.inner.settings.json_depth_limit())?;
        let state = serde_json::to_vec(&snapshot.state).map_err(|error| StoreError::Database {
            code: "client".into(),
            message: format!("snapshot state: {error}"),
        })?;
        let statement = client
            .prepare_cached(sql::SAVE_SNAPSHOT)
            .await
            .map_err(from_pg)?;
        let row = client
            .query_one(
                &statement,
                &[
                    &tenant.as_str(),
                    &snapshot.stream.as_str(),
                    &snapshot.snapshot_type.as_str(),
                    &i32::from(snapshot.schema_version),
                    &to_i64(snapshot.stream_version),
                    &JsonBytes(&state),
                ],
            )
            .await
            .map_err(from_pg)?;
        let head: Option<i64> = row.try_get(0).map_err(|error| corrupt("streams", error))?;
        let head = head.map(|head| to_u64(head, "streams")).transpose()?;
        if snapshot.stream_version > head.unwrap_or(0) {
            return Err(StoreError::SnapshotAheadOfStream {
                stream: snapshot.stream.clone(),
                snapshot_version: snapshot.stream_version,
                stream_version: head,
            });
        }
        Ok(())
    }

    async fn load_snapshot_on(
        &self,
        client: &Object,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> Result<Option<Snapshot>, StoreError> {
        let statement = client
            .prepare_cached(sql::LOAD_SNAPSHOT)
            .await
            .map_err(from_pg)?;
        let Some(row) = client
            .query_opt(
                &statement,
                &[&tenant.as_str(), &stream.as_str(), &snapshot_type],
            )
            .await
            .map_err(from_pg)?
        else {
            return Ok(None);
        };
        let location = || format!("snapshot {snapshot_type} of stream {stream}");
        let stored_version: i32 = row.try_get(0).map_err(|error| corrupt(location(), error))?;
        if stored_version != i32::from(schema_version) {
            let statement = client
                .prepare_cached(sql::DISCARD_SNAPSHOT)
                .await
                .map_err(from_pg)?;
            client
                .execute(
                    &statement,
                    &[
                        &tenant.as_str(),
                        &stream.as_str(),
                        &snapshot_type,
                        &i32::from(schema_version),
                    ],
                )
                .await
                .map_err(from_pg)?;
            return Ok(None);
        }
        let stream_version: i64 = row.try_get(1).map_err(|error| corrupt(location(), error))?;
        let state: JsonBytes<'_> = row.try_get(2).map_err(|error| corrupt(location(), error))?;
        Ok(Some(Snapshot {
            stream: stream.clone(),
            snapshot_type: snapshot_type.to_owned(),
            schema_version,
            stream_version: to_u64(stream_version, "snapshots")?,
            state: serde_json::from_slice(state.0).map_err(|error| corrupt(location(), error))?,
        }))
    }
}

/// Reads an event from `row`: the stream id in column 0, then the rest of `event_columns!`
/// (`sql.rs`) from column `offset + 1` on (offset 0 for event reads; 2 for the verify join,
/// whose columns 1 and 2 are the stream head's version and hash).
fn row_to_raw(row: &Row, offset: usize) -> Result<RawEvent<'_>, StoreError> {
    let stream: &str = row.try_get(0).map_err(|error| corrupt("events", error))?;
    let at = |column: usize| offset + column;
    let fail = |error: tokio_postgres::Error| corrupt(format!("stream {stream}"), error);
    let version: i64 = row.try_get(at(1)).map_err(fail)?;
    let position: i64 = row.try_get(at(2)).map_err(fail)?;
    let transaction: Xid8 = row.try_get(at(3)).map_err(fail)?;
    let schema_version: i32 = row.try_get(at(6)).map_err(fail)?;
    let payload: JsonBytes<'_> = row.try_get(at(7)).map_err(fail)?;
    let metadata: JsonBytes<'_> = row.try_get(at(8)).map_err(fail)?;
    let recorded_at: DateTime<Utc> = row.try_get(at(9)).map_err(fail)?;
    Ok(RawEvent {
        stream,
        version: to_u64(version, stream)?,
        position: GlobalPosition {
            transaction: transaction.0,
            position: to_u64(position, stream)?,
        },
        id: row.try_get(at(4)).map_err(fail)?,
        event_type: row.try_get(at(5)).map_err(fail)?,
        schema_version: u16::try_from(schema_version)
            .map_err(|_| corrupt(stream, format!("schema version {schema_version}")))?,
        payload: payload.0,
        metadata: metadata.0,
        recorded_at,
        hash: row.try_get(at(10)).map_err(fail)?,
        previous_hash: row.try_get(at(11)).map_err(fail)?,
    })
}

/// Turns the append function's row into the result or the typed error it stands for.
fn append_outcome(
    row: &Row,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &EncodedBatch,
) -> Result<AppendResult, StoreError> {
    let fail = |error: tokio_postgres::Error| corrupt("eventstore_append", error);
    let outcome: i16 = row.try_get(0).map_err(fail)?;
    let stream_version: Option<i64> = row.try_get(1).map_err(fail)?;
    let stream_version = stream_version
        .map(|version| to_u64(version, "stream version"))
        .transpose()?;
    match outcome {
        0 | 1 => {
            let stream_version = stream_version.unwrap_or(0);
            let transaction: Option<Xid8> = row.try_get(2).map_err(fail)?;
            let positions: Option<Vec<i64>> = row.try_get(3).map_err(fail)?;
            let recorded_at: Option<DateTime<Utc>> = row.try_get(4).map_err(fail)?;
            let positions = positions.unwrap_or_default();
            if positions.len() != batch.events.len() {
                return Err(corrupt(
                    "eventstore_append",
                    format!(
                        "{} positions for {} events",
                        positions.len(),
                        batch.events.len()
                    ),
                ));
            }
            let count = u64::try_from(positions.len()).unwrap_or(u64::MAX);
            let first_version = stream_version.saturating_sub(count) + 1;
            let transaction = transaction.map_or(0, |transaction| transaction.0);
            let events = batch
                .events
                .iter()
                .zip(positions)
                .zip(first_version..)
                .map(|((event, position), version)| {
                    Ok(AppendedEvent {
                        event_id: event.id,
                        version,
                        position: GlobalPosition {
                            transaction,
                            position: to_u64(position, "position")?,
                        },
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(AppendResult {
                stream_version,
                events,
                recorded_at,
            })
        }
        2 => Err(StoreError::VersionConflict {
            stream: stream.clone(),
            expected,
            actual: stream_version,
        }),
        3 => {
            let original: String = row.try_get(5).map_err(fail)?;
            Err(StoreError::IdempotencyConflict {
                key: batch.idempotency_key.clone().unwrap_or_default(),
                original_stream: StreamId::new(original)
                    .map_err(|error| corrupt("idempotency_keys", error))?,
            })
        }
        4 => Err(StoreError::TransactionOrderConflict {
            stream: stream.clone(),
        }),
        other => Err(corrupt(
            "eventstore_append",
            format!("unknown outcome {other}"),
        )),
    }
}

impl EventStore for PostgresStore {
    async fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        self.append_checked(tenant, stream, expected, events, None)
            .await
    }

    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (low, high) = read.version_range(u64::try_from(i64::MAX).unwrap_or(u64::MAX));
        if low > high || read.limit == 0 {
            return Ok(Vec::new());
        }
        let until: Option<DateTime<Utc>> = match read.as_of {
            AsOf::Time(at) => Some(at),
            AsOf::Now | AsOf::Version(_) => None,
        };
        let query = match read.direction {
            Direction::Forward => sql::READ_STREAM_FORWARD,
            Direction::Backward => sql::READ_STREAM_BACKWARD,
        };
        let limit = i64::try_from(read.limit).unwrap_or(i64::MAX);
        let rows = retrying_on_pool!(self, client => async {
            let statement = client.prepare_cached(query).await.map_err(from_pg)?;
            client
                .query(
                    &statement,
                    &[
                        &tenant.as_str(),
                        &stream.as_str(),
                        &to_i64(low),
                        &to_i64(high),
                        &until,
                        &limit,
                    ],
                )
                .await
                .map_err(from_pg)
        });
        self.decode_rows(tenant, &rows?, Some(stream))
    }

    async fn stream_version(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<u64>, StoreError> {
        let row = retrying_on_pool!(self, client => async {
            let statement = client
                .prepare_cached(sql::STREAM_VERSION)
                .await
                .map_err(from_pg)?;
            client
                .query_opt(&statement, &[&tenant.as_str(), &stream.as_str()])
                .await
                .map_err(from_pg)
        });
        row?.map(|row| {
            let version: i64 = row.try_get(0).map_err(|error| corrupt("streams", error))?;
            to_u64(version, "streams")
        })
        .transpose()
    }

    async fn stream_versions(
        &self,
        tenant: &TenantId,
        streams: &[StreamId],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = streams.iter().map(StreamId::as_str).collect();
        let rows = retrying_on_pool!(self, client => async {
            let statement = client
                .prepare_cached(sql::STREAM_VERSIONS)
                .await
                .map_err(from_pg)?;
            client
                .query(&statement, &[&tenant.as_str(), &names])
                .await
                .map_err(from_pg)
        })?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let stream: String = row.try_get(0).map_err(|error| corrupt("streams", error))?;
            let version: i64 = row.try_get(1).map_err(|error| corrupt("streams", error))?;
            found.insert(stream, to_u64(version, "streams")?);
        }
        Ok(names.iter().map(|name| found.get(*name).copied()).collect())
    }

    async fn read_all(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<ReadAllPage, StoreError> {
        retrying_on_pool!(self, client => self.read_all_on(&client, tenant, after, limit))
    }

    fn append_signal(&self) -> watch::Receiver<u64> {
        self.ensure_listener();
        self.inner.signal.subscribe()
    }

    async fn save_snapshot(
        &self,
        tenant: &TenantId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        retrying_on_pool!(self, client => self.save_snapshot_on(&client, tenant, snapshot))
    }

    async fn load_snapshot(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> Result<Option<Snapshot>, StoreError> {
        retrying_on_pool!(self, client => self
            .load_snapshot_on(&client, tenant, stream, snapshot_type, schema_version))
    }

    async fn verify(&self, tenant: &TenantId) -> Result<VerifyReport, StoreError> {
        self.verify_in(tenant, None).await
    }

    async fn verify_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<VerifyReport, StoreError> {
        self.verify_in(tenant, Some(stream)).await
    }

    async fn seal(&self, tenant: &TenantId) -> Result<Option<Seal>, StoreError> {
        retrying_on_pool!(self, client => self.seal_on(&client, tenant))
    }

    async fn seals(&self, tenant: &TenantId) -> Result<Vec<Seal>, StoreError> {
        retrying_on_pool!(self, client => Self::seals_on(&**client, tenant))
    }

    async fn head_manifest(&self, tenant: &TenantId) -> Result<HeadManifest, StoreError> {
        retrying_on_pool!(self, client => self.head_manifest_on(&client, tenant))
    }

    async fn verify_against(
        &self,
        tenant: &TenantId,
        manifest: &HeadManifest,
    ) -> Result<VerifyReport, StoreError> {
        let mut report = self.verify_in(tenant, None).await?;
        let check =
            retrying_on_pool!(self, client => self.check_manifest_on(&client, tenant, manifest))?;
        report.manifest_problems = check.problems;
        report.manifest_problem_count = check.count;
        Ok(report)
    }
}

/// A seal from a row of `eventstore_seal` or `log_seals` (column 0 aside); `None` when the
/// row says there is no seal.
fn row_to_seal(row: &Row) -> Result<Option<Seal>, StoreError> {
    let fail = |error| corrupt("log_seals", error);
    let Some(number) = row.try_get::<_, Option<i64>>(1).map_err(fail)? else {
        return Ok(None);
    };
    let transaction: Xid8 = row.try_get(2).map_err(fail)?;
    let position: i64 = row.try_get(3).map_err(fail)?;
    let event_count: i64 = row.try_get(4).map_err(fail)?;
    let hash_of = |column: usize| -> Result<EventHash, StoreError> {
        let bytes: &[u8] = row.try_get(column).map_err(fail)?;
        to_hash(bytes).ok_or_else(|| corrupt("log_seals", "a hash is not 32 bytes"))
    };
    Ok(Some(Seal {
        number: to_u64(number, "log_seals")?,
        through: GlobalPosition {
            transaction: transaction.0,
            position: to_u64(position, "log_seals")?,
        },
        event_count: to_u64(event_count, "log_seals")?,
        previous_hash: hash_of(5)?,
        hash: hash_of(6)?,
        sealed_at: row.try_get(7).map_err(fail)?,
    }))
}
