//! The unit of work: the port through which the application commits a command's events
//! together with the rows that must change with them, in one transaction, or nothing.
//!
//! One unit of work holds at most one stream's append (an aggregate is the consistency
//! boundary), the idempotency record of the command that caused it, and the outbox messages
//! it sends. No database type appears here: [`MemoryUnitOfWork`] implements it for tests,
//! [`PostgresUnitOfWork`] for production, [`SqliteUnitOfWork`] for the embedded default (one
//! file, no server). The application's tests run against every backend
//! (`on_every_backend!` in `tests/support`).

mod memory;
mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use crm_eventstore::crypto::{SubjectId, SubjectKey, SubjectKeyStore};
use crm_eventstore::{
    AppendResult, AppendedEvent, EventStore, ExpectedVersion, GlobalPosition, NewEvent, StoreError,
    StoreSettings, StreamId, TenantId,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

pub use memory::MemoryUnitOfWork;
pub use postgres::{PostgresUnitOfWork, app_migrations};
pub(crate) use postgres::{RELAXED, execute_cached};
pub use sqlite::{SQLITE_APP_MIGRATIONS, SqliteUnitOfWork};
pub(crate) use sqlite::{instant, micros, queue_figures, sql, to_sql_count, uuid};

/// What one unit of work commits: all of it, or none of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// The tenant everything below belongs to.
    pub tenant: TenantId,
    /// The append, if the command decided any events (a command that changes nothing still
    /// records its idempotency key, so its retry answers the same).
    pub append: Option<StreamAppend>,
    /// The command's idempotency key and request digest. When the tenant already has a
    /// record under the key, nothing is written and [`Committed::Replayed`] returns it.
    pub idempotency: Option<IdempotencyClaim>,
    /// The stream whose version an empty decision was made on, for the idempotency record
    /// of a command that decided nothing.
    pub decided_on: Option<(StreamId, u64)>,
    /// Messages to other systems, sent by the outbox relay after the commit.
    pub outbox: Vec<OutboxMessage>,
}

impl Work {
    /// What the work's idempotency record keeps: the append's result, or the version an empty
    /// decision was made on. `key` names the record in the error when the work has neither.
    pub fn outcome(
        &self,
        appended: Option<&AppendResult>,
        key: &str,
    ) -> Result<CommandOutcome, WorkError> {
        match (&self.append, appended, &self.decided_on) {
            (Some(append), Some(result), _) => Ok(CommandOutcome::appended(&append.stream, result)),
            (_, _, Some((stream, version))) => Ok(CommandOutcome::unchanged(stream, *version)),
            _ => Err(WorkError::Corrupt {
                what: format!("unit of work under key {key:?}"),
                reason: "neither an append nor the version decided on".into(),
            }),
        }
    }
}

/// One stream's append inside a [`Work`].
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    /// The stream.
    pub stream: StreamId,
    /// The version the decision was made on.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

/// A command's idempotency key with the digest of the request it was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The caller's key, unique per tenant.
    pub key: String,
    /// The digest of the request (see [`RequestDigest`]).
    pub digest: RequestDigest,
}

/// A SHA-256 digest of a request: the target and the command, serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestDigest(pub [u8; 32]);

/// What a command committed, as kept under its idempotency key and returned to every retry.
///
/// Only positions and ids: the events' content is read back from the store when a retry
/// asks for it, so personal data is never copied outside the (encrypted) events and an
/// erasure reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// The stream the command targeted.
    pub stream: String,
    /// The stream's version after the command (the version it was decided on when it
    /// appended nothing).
    pub version: u64,
    /// The events it appended, in order (empty when it changed nothing).
    pub events: Vec<OutcomeEvent>,
    /// When they were recorded; `None` when nothing was appended.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// One appended event of a [`CommandOutcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeEvent {
    /// The event's id.
    pub id: Uuid,
    /// Its version in the stream.
    pub version: u64,
    /// Its place in the tenant's global order.
    pub position: GlobalPosition,
}

impl CommandOutcome {
    /// The outcome of an append to `stream`.
    pub fn appended(stream: &StreamId, result: &AppendResult) -> Self {
        Self {
            stream: stream.as_str().to_owned(),
            version: result.stream_version,
            events: result
                .events
                .iter()
                .map(
                    |AppendedEvent {
                         event_id,
                         version,
                         position,
                     }| OutcomeEvent {
                        id: *event_id,
                        version: *version,
                        position: *position,
                    },
                )
                .collect(),
            recorded_at: result.recorded_at,
        }
    }

    /// The outcome of a command that changed nothing on `stream` at `version`.
    pub fn unchanged(stream: &StreamId, version: u64) -> Self {
        Self {
            stream: stream.as_str().to_owned(),
            version,
            events: Vec::new(),
            recorded_at: None,
        }
    }
}

/// The idempotency record of a committed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key.
    pub key: String,
    /// The digest of the request it was first used for.
    pub digest: RequestDigest,
    /// What that request committed.
    pub outcome: CommandOutcome,
}

/// What [`UnitOfWork::commit`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// Everything was committed; the append's result when there was one.
    Done(Option<AppendResult>),
    /// Nothing was written: the tenant already holds a record under the work's idempotency
    /// key (committed earlier, or by a concurrent twin that won). The caller compares digests.
    Replayed(IdempotencyRecord),
}

/// A message to another system, written in the same transaction as the events that caused it
/// and delivered afterwards by the outbox relay, at least once, under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// The message's id, derived from what caused it: the same cause never writes two
    /// messages (a second write of the same id is ignored).
    pub id: Uuid,
    /// Where it goes: a logical destination the relay maps to an endpoint (`"erp"`,
    /// `"rep-notifications"`).
    pub destination: String,
    /// The key the receiver dedupes on (sent as the `Idempotency-Key` header).
    pub idempotency_key: String,
    /// The body.
    pub payload: serde_json::Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// A message the relay holds, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The message.
    pub message: OutboxMessage,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it may be tried next.
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered, once it was.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last failure's description.
    pub last_error: Option<String>,
    /// When the relay gave up on it (refused for good by the receiver, or out of attempts):
    /// a parked message is never claimed again and shows in [`OutboxHealth::parked`].
    pub parked_at: Option<DateTime<Utc>>,
}

impl OutboxEntry {
    /// Whether it still waits for delivery: neither delivered nor parked.
    pub fn is_pending(&self) -> bool {
        self.delivered_at.is_none() && self.parked_at.is_none()
    }
}

/// How a tenant's outbox stands at a moment: what `/metrics` and `/readyz` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxHealth {
    /// Messages neither delivered nor parked (due now or waiting for their next attempt).
    pub undelivered: u64,
    /// How long the oldest of them has waited since it was written; `None` when there is
    /// none. Never negative (a message written "after" the moment asked about counts as zero).
    pub oldest_undelivered_age: Option<chrono::TimeDelta>,
    /// Messages the relay gave up on: they wait for an operator.
    pub parked: u64,
}

/// How long [`DestinationHealth::delivered_recently`] looks back: the delivery rate is that
/// count over this window.
pub const RECENT_DELIVERIES: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// How a tenant's messages to one destination (a connected system) stand: what sync
/// monitoring shows per endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DestinationHealth {
    /// The destination, e.g. `"erp"`.
    pub destination: String,
    /// Messages neither delivered nor parked.
    pub pending: u64,
    /// How long the oldest of them has waited since it was written.
    pub oldest_pending_age: Option<chrono::TimeDelta>,
    /// Pending messages whose last attempt failed (they wait for their next attempt).
    pub failing: u64,
    /// Messages the relay gave up on.
    pub parked: u64,
    /// Messages delivered within the last [`RECENT_DELIVERIES`].
    pub delivered_recently: u64,
    /// When the last message was delivered.
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// Failing and parked messages by the cause of their last failure.
    pub failures: BTreeMap<FailureCause, u64>,
}

impl DestinationHealth {
    /// Deliveries per second over the last [`RECENT_DELIVERIES`].
    pub fn delivery_rate(&self) -> f64 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a rate: counts far below 2^52 are exact anyway"
        )]
        let rate = self.delivered_recently as f64 / RECENT_DELIVERIES.num_seconds() as f64;
        rate
    }
}

/// The tenant-wide outbox figures of its destinations: what [`UnitOfWork::outbox_health`]
/// answers, summed (a scrape that reads the destinations need not read the health too).
pub fn outbox_totals(destinations: &[DestinationHealth]) -> OutboxHealth {
    OutboxHealth {
        undelivered: destinations.iter().map(|health| health.pending).sum(),
        oldest_undelivered_age: destinations
            .iter()
            .filter_map(|health| health.oldest_pending_age)
            .max(),
        parked: destinations.iter().map(|health| health.parked).sum(),
    }
}

/// What a delivery failure came from, read from the reason the relay recorded (the transport's
/// own wording: `HTTP 503 …`, `no answer within …`, a connection error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCause {
    /// No answer in time.
    Timeout,
    /// The receiver could not be reached (connection refused, name not resolved, reset).
    Unreachable,
    /// The receiver asked to slow down (429).
    Throttled,
    /// The receiver failed (5xx, 408, 425).
    ReceiverError,
    /// The receiver refused the message for good (another 4xx).
    Refused,
    /// The destination has no endpoint configured, or the message cannot be sent as it is.
    Unsendable,
    /// The CRM withheld it: the person's consent no longer allows it.
    Withheld,
    /// Anything else.
    Other,
}

impl FailureCause {
    /// The cause of a recorded failure `reason`.
    pub fn of(reason: &str) -> Self {
        let reason = match reason.split_once("attempts: ") {
            Some((gave_up, inner)) if gave_up.starts_with("gave up after") => inner,
            _ => reason,
        };
        if let Some(status) = reason.strip_prefix("HTTP ") {
            let code: String = status.chars().take_while(char::is_ascii_digit).collect();
            return match code.as_str() {
                "429" => FailureCause::Throttled,
                "408" | "425" => FailureCause::ReceiverError,
                code if code.starts_with('5') => FailureCause::ReceiverError,
                code if code.starts_with('4') => FailureCause::Refused,
                _ => FailureCause::Other,
            };
        }
        let lower = reason.to_ascii_lowercase();
        if lower.starts_with("withheld:") {
            FailureCause::Withheld
        } else if lower.starts_with("no answer within") || lower.starts_with("no outcome within") {
            FailureCause::Timeout
        } else if lower.contains("connect")
            || lower.contains("dns")
            || lower.contains("resolve")
            || lower.contains("reset")
            || lower.contains("closed")
        {
            FailureCause::Unreachable
        } else if lower.contains("destination")
            || lower.contains("endpoint")
            || lower.contains("cannot be sent")
            || lower.contains("cannot be serialized")
            || lower.contains("cannot be built")
        {
            FailureCause::Unsendable
        } else {
            FailureCause::Other
        }
    }

    /// The cause's name in metrics: `timeout`, `unreachable`, `throttled`, `receiver_error`,
    /// `refused`, `unsendable`, `withheld`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::Timeout => "timeout",
            FailureCause::Unreachable => "unreachable",
            FailureCause::Throttled => "throttled",
            FailureCause::ReceiverError => "receiver_error",
            FailureCause::Refused => "refused",
            FailureCause::Unsendable => "unsendable",
            FailureCause::Withheld => "withheld",
            FailureCause::Other => "other",
        }
    }
}

/// The SQL the backends read per-destination health with (`?1` the tenant, `?2` the start of
/// the recent window; PostgreSQL swaps `?` for `$`).
pub(crate) mod sql {
    /// Per destination: pending, oldest pending, failing, parked.
    pub(crate) const UNDELIVERED_BY_DESTINATION: &str = "SELECT destination, \
           count(*) FILTER (WHERE parked_at IS NULL), \
           min(created_at) FILTER (WHERE parked_at IS NULL), \
           count(*) FILTER (WHERE parked_at IS NULL AND last_error IS NOT NULL), \
           count(*) FILTER (WHERE parked_at IS NOT NULL) \
         FROM app_outbox WHERE tenant = ?1 AND delivered_at IS NULL GROUP BY destination";

    /// Per destination and recorded reason: how many undelivered messages failed so.
    pub(crate) const FAILURES_BY_DESTINATION: &str = "SELECT destination, last_error, count(*) \
         FROM app_outbox WHERE tenant = ?1 AND delivered_at IS NULL AND last_error IS NOT NULL \
         GROUP BY destination, last_error";

    /// Per destination with deliveries: the last one, and how many since `?2`; a skip scan
    /// over the destinations through `app_outbox_delivered`.
    pub(crate) const DELIVERED_BY_DESTINATION: &str = "WITH RECURSIVE seen(destination) AS ( \
           SELECT (SELECT destination FROM app_outbox WHERE tenant = ?1 \
                   AND delivered_at IS NOT NULL ORDER BY destination LIMIT 1) \
           UNION ALL \
           SELECT (SELECT o.destination FROM app_outbox o WHERE o.tenant = ?1 \
                   AND o.delivered_at IS NOT NULL AND o.destination > seen.destination \
                   ORDER BY o.destination LIMIT 1) \
           FROM seen WHERE seen.destination IS NOT NULL) \
         SELECT seen.destination, \
           (SELECT max(o.delivered_at) FROM app_outbox o WHERE o.tenant = ?1 \
            AND o.destination = seen.destination AND o.delivered_at IS NOT NULL), \
           (SELECT count(*) FROM app_outbox o WHERE o.tenant = ?1 \
            AND o.destination = seen.destination AND o.delivered_at > ?2) \
         FROM seen WHERE seen.destination IS NOT NULL";
}

/// Per-destination figures gathered from the backends' counting queries.
#[derive(Debug, Default)]
pub(crate) struct DestinationFigures(BTreeMap<String, DestinationHealth>);

impl DestinationFigures {
    fn of(&mut self, destination: String) -> &mut DestinationHealth {
        self.0
            .entry(destination.clone())
            .or_insert_with(|| DestinationHealth {
                destination,
                ..DestinationHealth::default()
            })
    }

    /// A row of [`sql::UNDELIVERED_BY_DESTINATION`].
    pub(crate) fn waiting(
        &mut self,
        destination: String,
        pending: u64,
        oldest: Option<DateTime<Utc>>,
        failing: u64,
        parked: u64,
        now: DateTime<Utc>,
    ) {
        let health = self.of(destination);
        health.pending = pending;
        health.oldest_pending_age = oldest.map(|created| {
            now.signed_duration_since(created)
                .max(chrono::TimeDelta::zero())
        });
        health.failing = failing;
        health.parked = parked;
    }

    /// A row of [`sql::FAILURES_BY_DESTINATION`].
    pub(crate) fn failed(&mut self, destination: String, reason: &str, count: u64) {
        *self
            .of(destination)
            .failures
            .entry(FailureCause::of(reason))
            .or_default() += count;
    }

    /// A row of [`sql::DELIVERED_BY_DESTINATION`].
    pub(crate) fn delivered(
        &mut self,
        destination: String,
        last: Option<DateTime<Utc>>,
        recently: u64,
    ) {
        let health = self.of(destination);
        health.last_delivered_at = last;
        health.delivered_recently = recently;
    }

    pub(crate) fn into_list(self) -> Vec<DestinationHealth> {
        self.0.into_values().collect()
    }
}

/// Per-destination health from every outbox entry of a tenant (the memory backend's way, and
/// the reference the SQL backends are tested against).
pub fn destination_health(entries: &[OutboxEntry], now: DateTime<Utc>) -> Vec<DestinationHealth> {
    let mut by: BTreeMap<&str, DestinationHealth> = BTreeMap::new();
    for entry in entries {
        let health = by
            .entry(entry.message.destination.as_str())
            .or_insert_with(|| DestinationHealth {
                destination: entry.message.destination.clone(),
                ..DestinationHealth::default()
            });
        if let Some(delivered) = entry.delivered_at {
            if delivered > now - RECENT_DELIVERIES {
                health.delivered_recently += 1;
            }
            health.last_delivered_at = Some(
                health
                    .last_delivered_at
                    .map_or(delivered, |last| last.max(delivered)),
            );
            continue;
        }
        if entry.parked_at.is_some() {
            health.parked += 1;
        } else {
            health.pending += 1;
            let age = now
                .signed_duration_since(entry.message.created_at)
                .max(chrono::TimeDelta::zero());
            health.oldest_pending_age = Some(
                health
                    .oldest_pending_age
                    .map_or(age, |oldest| oldest.max(age)),
            );
            if entry.last_error.is_some() {
                health.failing += 1;
            }
        }
        if let Some(reason) = &entry.last_error {
            *health.failures.entry(FailureCause::of(reason)).or_default() += 1;
        }
    }
    by.into_values().collect()
}

/// Why a unit of work, or a read of its rows, failed.
#[derive(Debug, Error)]
pub enum WorkError {
    /// The event store refused or failed the append (a version conflict among them: the
    /// caller decides again).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database failed outside the append.
    #[error("{context}: {source}")]
    Database {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored row could not be read back.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// Which row.
        what: String,
        /// Why.
        reason: String,
    },
}

/// Maps a driver error of the application's own tables, saying what was being done.
/// An append that stored the subject's key with it, as
/// [`UnitOfWork::append_with_subject_key`] answers: `None` when the subject has another key (or
/// was shredded) and nothing was appended.
pub(crate) fn keyed_append(
    result: Result<AppendResult, StoreError>,
) -> Result<Option<AppendResult>, WorkError> {
    match result {
        Ok(result) => Ok(Some(result)),
        Err(StoreError::SubjectKeyDiffers) => Ok(None),
        Err(error) => Err(WorkError::Store(error)),
    }
}

pub(crate) fn database(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> WorkError {
    move |error| WorkError::Database {
        context,
        source: Box::new(error),
    }
}

impl WorkError {
    /// Whether trying again may succeed (a conflict, a lost connection, a busy pool).
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkError::Store(error) => error.is_retryable(),
            WorkError::Database { .. } => true,
            WorkError::Corrupt { .. } => false,
        }
    }
}

/// The durable state of one alert of the alert hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertState {
    /// Whether it is firing (else resolved).
    pub firing: bool,
    /// Since when it is in that state.
    pub since: DateTime<Utc>,
    /// The limit it was passing (or last passed).
    pub limit: u64,
}

impl AlertState {
    /// The state of `alert` from a stored row (`limit` as the database's signed integer).
    pub(crate) fn from_row(
        alert: &str,
        firing: bool,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Self, WorkError> {
        let limit = u64::try_from(limit).map_err(|_| WorkError::Corrupt {
            what: format!("alert {alert:?}"),
            reason: format!("negative limit {limit}"),
        })?;
        Ok(Self {
            firing,
            since,
            limit,
        })
    }
}

/// A change of one alert's state and the message announcing it
/// ([`UnitOfWork::commit_alerts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    /// The alert, stable per tenant, destination and measure.
    pub alert: String,
    /// Its state from now on.
    pub state: AlertState,
    /// The message that announces the change.
    pub message: OutboxMessage,
}

/// The first events of a new stream, for [`UnitOfWork::append_new_streams`].
#[derive(Debug, Clone)]
pub struct NewStream {
    /// The stream, expected not to exist yet.
    pub stream: StreamId,
    /// Its events, in order, as stored (personal fields encrypted).
    pub events: Vec<NewEvent>,
    /// The data subject whose key encrypted the events' personal fields, and that key.
    pub subject_key: Option<(SubjectId, SubjectKey)>,
}

/// The port: commits [`Work`] atomically, and keeps the rows the application owns
/// (idempotency records, the outbox, workflow checkpoints), every one of them per tenant.
pub trait UnitOfWork: Send + Sync + 'static {
    /// The event store the work appends to, for reads and subscriptions. It hands out events
    /// decrypted (personal fields in plaintext, or erased markers once their subject was
    /// shredded), through [`keys`](Self::keys).
    type Store: EventStore + Clone + 'static;

    /// Where the per-person keys that encrypt personal fields are kept.
    type Keys: SubjectKeyStore + Clone + 'static;

    /// The event store, reading through the keys.
    fn store(&self) -> &Self::Store;

    /// The subject key store, in the same database as the events.
    fn keys(&self) -> &Self::Keys;

    /// The store's settings (what the command service's stream cache encodes with).
    fn settings(&self) -> &StoreSettings;

    /// The record kept under `key`, if a command with that key committed.
    fn idempotency_record(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, WorkError>> + Send;

    /// Commits `work`: the append (with its expected version checked), the idempotency record
    /// and the outbox messages, in one transaction, or nothing.
    ///
    /// A claimed key the tenant already holds writes nothing and returns
    /// [`Committed::Replayed`]; two concurrent commits with one key never both commit. A
    /// version conflict is [`WorkError::Store`] with
    /// [`StoreError::VersionConflict`], and nothing is written.
    fn commit(&self, work: Work) -> impl Future<Output = Result<Committed, WorkError>> + Send;

    /// Commits several units of work, each as [`commit`](Self::commit) would: for callers
    /// holding many small decisions at once, each on its own stream (an intake pass's routing
    /// decisions, one per lead), which one at a time cost a transaction each.
    ///
    /// One entry per work, in order: `Some` what it committed, or `None` when it was not
    /// committed here. `None` covers a version conflict, a key the tenant already holds and an
    /// error (which may leave its outcome unknown): the caller decides that command again
    /// alone, on the stream as it is, under the same key, which reports what happened.
    ///
    /// By default each is committed in turn. On PostgreSQL they are committed in one
    /// transaction, all or none: one conflict, one key already held or one error leaves every
    /// entry `None` and nothing written.
    fn commit_each(&self, works: Vec<Work>) -> impl Future<Output = Vec<Option<Committed>>> + Send {
        async move {
            let mut committed = Vec::with_capacity(works.len());
            for work in works {
                committed.push(match self.commit(work).await {
                    Ok(Committed::Done(appended)) => Some(Committed::Done(appended)),
                    Ok(Committed::Replayed(_)) => None,
                    Err(error) => {
                        tracing::debug!(%error, "a unit of work of a batch is left to run alone");
                        None
                    }
                });
            }
            committed
        }
    }

    /// Appends `events` to `stream`, alone, as [`EventStore::append`] does: the command
    /// service's write for a command with nothing else to commit (no idempotency key, no
    /// outbox message). Every write of the service passes through the unit of work, this one
    /// included; the default hands it to [`store`](Self::store).
    fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<AppendResult, WorkError>> + Send {
        async move {
            Ok(self
                .store()
                .append(tenant, stream, expected, events)
                .await?)
        }
    }

    /// Appends `events` to `stream` as [`EventStore::append`] does, after making sure in the
    /// same round trip that `subject`'s key is `key` (stored unless the subject has one), for
    /// events encrypted with a key the caller just made. `Ok(None)`, nothing appended, when
    /// the subject has another key or was shredded, or when the backend cannot check both at
    /// once (the default): the caller then asks [`keys`](Self::keys) for the subject's key.
    fn append_with_subject_key(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        subject: &SubjectId,
        key: &SubjectKey,
    ) -> impl Future<Output = Result<Option<AppendResult>, WorkError>> + Send {
        let _ = (tenant, stream, expected, events, subject, key);
        std::future::ready(Ok(None))
    }

    /// Appends the first events of several new streams, each as with
    /// `ExpectedVersion::Exact(0)` after making sure of its subject's key when it names one:
    /// all in one transaction where the backend can (PostgreSQL), one after the other by
    /// default. One entry per stream, in order: the result, or `None` when nothing was
    /// appended to it (it had events already, its subject has another key, or the backend
    /// cannot check the key in the same round trip); append those one at a time.
    ///
    /// An error says nothing of which streams were appended (on PostgreSQL: none were):
    /// appending each one at a time then tells, since a stream appended already conflicts.
    fn append_new_streams(
        &self,
        tenant: &TenantId,
        streams: &[NewStream],
    ) -> impl Future<Output = Result<Vec<Option<AppendResult>>, WorkError>> + Send {
        async move {
            let mut results = Vec::with_capacity(streams.len());
            for new in streams {
                let expected = ExpectedVersion::Exact(0);
                let result = match &new.subject_key {
                    Some((subject, key)) => {
                        self.append_with_subject_key(
                            tenant,
                            &new.stream,
                            expected,
                            &new.events,
                            subject,
                            key,
                        )
                        .await
                    }
                    None => self
                        .append(tenant, &new.stream, expected, &new.events)
                        .await
                        .map(Some),
                };
                results.push(match result {
                    Err(WorkError::Store(StoreError::VersionConflict { .. })) => None,
                    other => other?,
                });
            }
            Ok(results)
        }
    }

    /// Up to `limit` undelivered, unparked messages of `tenant` due at `now`, oldest first,
    /// each leased to the caller until `now + lease` (no other relay takes it meanwhile).
    fn claim_outbox(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: chrono::TimeDelta,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, WorkError>> + Send;

    /// Records a message as delivered; it is never claimed again.
    fn outbox_delivered(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Records every message of `ids` as delivered at `at`, in one write where the backend
    /// can: the relay records a pass's deliveries together. None is claimed again.
    fn outbox_delivered_all(
        &self,
        tenant: &TenantId,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send {
        async move {
            for id in ids {
                self.outbox_delivered(tenant, *id, at).await?;
            }
            Ok(())
        }
    }

    /// Records a failed attempt; the message is due again at `retry_at`. A delivered or
    /// parked message is left as it is.
    fn outbox_failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Records a last failed attempt and parks the message at `at`: it is never claimed again
    /// and counts in [`OutboxHealth::parked`]. A delivered or already parked message is left
    /// as it is.
    fn outbox_parked(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Puts every parked message of `tenant` back in line, due at `at` (an operator's replay
    /// after fixing what refused them): each keeps its idempotency key, so a destination that
    /// had in fact applied one sees a retry, never a new message. Returns how many.
    fn outbox_replay_parked(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, WorkError>> + Send;

    /// How `tenant`'s outbox stands at `now`, read in one go (counts, not rows).
    fn outbox_health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<OutboxHealth, WorkError>> + Send;

    /// How the tenant's messages stand per destination at `now`, in destination order (see
    /// [`DestinationHealth`]). The default reads every entry; the SQL backends count.
    fn outbox_destinations(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<DestinationHealth>, WorkError>> + Send {
        async move {
            let entries = self.outbox(tenant).await?;
            Ok(destination_health(&entries, now))
        }
    }

    /// Every message of `tenant`, delivered or not, oldest first (for health pages and tests).
    fn outbox(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, WorkError>> + Send;

    /// The state of every alert of `tenant` the alert hook ever recorded, by alert
    /// ([`crate::sync_alerts`]).
    fn alerts(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<BTreeMap<String, AlertState>, WorkError>> + Send;

    /// Records each change of `changes` whose alert is not in that state already, with its
    /// message, in one transaction; answers the alerts whose change was recorded. A change
    /// another process (or an earlier run) recorded first is left out, message and all, so
    /// however many look at once, each change is announced once.
    fn commit_alerts(
        &self,
        tenant: &TenantId,
        changes: Vec<AlertChange>,
    ) -> impl Future<Output = Result<Vec<String>, WorkError>> + Send;

    /// The checkpoint a workflow saved for `tenant`, if any.
    fn checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
    ) -> impl Future<Output = Result<Option<GlobalPosition>, WorkError>> + Send;

    /// Saves a workflow's checkpoint: everything through `position` has been reacted to.
    /// A checkpoint never moves backwards (an older position is ignored).
    fn save_checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
        position: GlobalPosition,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;
}
