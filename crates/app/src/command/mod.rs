//! The command service: the only writer. One call executes one command against one aggregate:
//! load (from the stream cache, or the store), decide, commit with the expected version; on a
//! version conflict catch up and decide again, a bounded number of times.
//!
//! - **Idempotency as a client expects it.** A command with an idempotency key stores its
//!   outcome under the key with a digest of the request ([`request_digest`]); a retry with the
//!   same key and request returns the first outcome ([`Executed::replayed`]), the same key
//!   with another request is [`CommandError::IdempotencyConflict`]. The record commits in the
//!   events' transaction, so it holds across restarts and processes. A refused command records
//!   nothing: its retry is decided again.
//! - **Metadata without copying.** Actor, correlation, causation and source system go into
//!   every event's metadata from the [`CommandMeta`]; a command caused by an event names it
//!   ([`CommandMeta::caused_by`]).
//! - **Reproducible ids.** The decision's [`Context`] is seeded with an id derived from the
//!   command's id and the stream, and each event's id from that seed, the version decided on and
//!   its index: a command sent again with the same id to the same stream at the same version (a
//!   workflow's redelivery, a retry whose answer was lost) decides the same events with the same
//!   ids, while one [`CommandMeta`] reused for several commands still mints distinct ids.
//! - **One round trip when it can.** A command without key or outbox messages appends with
//!   one statement; a stream already cached needs no read first.

mod folded;
mod turns;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crm_domain::{Actor, Aggregate, Context, DomainEvent, encode};
use crm_eventstore::crypto::{
    CryptoError, SubjectId, SubjectKey, SubjectKeyStore, encrypt_event_fields_with_key,
};
use crm_eventstore::{
    AppendResult, CachedState, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
    Source, StoreError, StreamCache, StreamId, StreamRead, TenantId,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use uuid::Uuid;

pub use folded::Folded;

use crate::clock::Clock;
use crate::error::CommandError;
use crate::ids::derive_id;
use crate::uow::{
    CommandOutcome, Committed, IdempotencyClaim, NewStream, OutboxMessage, RequestDigest,
    StreamAppend, UnitOfWork, Work, WorkError,
};

/// How many times a command is decided by default before [`CommandError::Conflict`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// How many streams per aggregate type the service keeps folded by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Who sends a command, why, and under which key: what goes into every event's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// Who acts.
    pub actor: Actor,
    /// The command's id: seeds the decision's fresh ids and the events' ids. A fresh UUIDv7
    /// by default; a workflow derives it from its trigger so a redelivery decides the same.
    pub command_id: Uuid,
    /// Ties together everything done for one request or process; the command's id when unset.
    pub correlation_id: Option<Uuid>,
    /// The message (an event, a request) that caused this command.
    pub causation_id: Option<Uuid>,
    /// The caller's key for a safe retry, unique per tenant.
    pub idempotency_key: Option<String>,
    /// The external system the command's facts come from, and its own time.
    pub source: Option<Source>,
    /// The stream version the caller decided on (an HTTP `If-Match`): the command is decided
    /// only at exactly this version, never retried on a later one, and
    /// [`CommandError::StaleVersion`] when the stream has moved. `None` (the default) decides
    /// on whatever the stream holds, retrying on conflicts.
    pub expected_version: Option<u64>,
}

impl CommandMeta {
    /// A command sent by `actor`, with a fresh id.
    pub fn by(actor: Actor) -> Self {
        Self {
            actor,
            command_id: Uuid::now_v7(),
            correlation_id: None,
            causation_id: None,
            idempotency_key: None,
            source: None,
            expected_version: None,
        }
    }

    /// The same, decided only at stream version `version` (see
    /// [`expected_version`](Self::expected_version)).
    #[must_use]
    pub fn with_expected_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// The same, under idempotency key `key`.
    #[must_use]
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// The same, with id `id` (what a replayable caller sets).
    #[must_use]
    pub fn with_command_id(mut self, id: Uuid) -> Self {
        self.command_id = id;
        self
    }

    /// The same, in correlation `id`.
    #[must_use]
    pub fn with_correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// The same, from source system `source`.
    #[must_use]
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// A command caused by the recorded `event`, for step `step` of a reaction: its id and
    /// idempotency key derive from the event's id and the step, its causation is the event,
    /// its correlation the event's (or the event itself). Sent again for the same event and
    /// step (a redelivery, a restart), it is the same command, and changes nothing twice.
    pub fn caused_by(actor: Actor, event: &RecordedEvent, step: &str) -> Self {
        Self {
            actor,
            command_id: derive_id(event.id, step),
            correlation_id: Some(event.metadata.correlation_id.unwrap_or(event.id)),
            causation_id: Some(event.id),
            idempotency_key: Some(format!("{step}:{}", event.id)),
            source: event.metadata.source.clone(),
            expected_version: None,
        }
    }

    fn metadata(&self) -> Result<Metadata, serde_json::Error> {
        let mut extra = serde_json::Map::new();
        extra.insert(
            "command_id".into(),
            serde_json::Value::String(self.command_id.to_string()),
        );
        Ok(Metadata {
            actor: Some(serde_json::to_value(&self.actor)?),
            correlation_id: Some(self.correlation_id.unwrap_or(self.command_id)),
            causation_id: self.causation_id,
            idempotency_key: None,
            source: self.source.clone(),
            extra,
        })
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed<E> {
    /// The stream the command targeted.
    pub stream: StreamId,
    /// The stream's version after it (usable as an ETag).
    pub version: u64,
    /// The events it recorded, in order (empty when it changed nothing).
    pub events: Vec<E>,
    /// Ids and positions, as kept under the idempotency key.
    pub outcome: CommandOutcome,
    /// Whether this is the first outcome of an earlier identical request (nothing was
    /// decided or written now).
    pub replayed: bool,
}

impl<E> Executed<E> {
    /// What a command that appended `events` to `stream` did, as the store answered.
    fn appended(stream: StreamId, events: Vec<E>, result: &AppendResult) -> Self {
        Self {
            version: result.stream_version,
            outcome: CommandOutcome::appended(&stream, result),
            stream,
            events,
            replayed: false,
        }
    }
}

/// `events`, decided on version `version` of their stream, encoded for the store: each with its
/// id derived from the decision's `seed` and its place (so a repeat of the decision mints the
/// same ids), and the command's metadata.
fn encode_events<A>(
    events: &[A::Event],
    seed: Uuid,
    version: u64,
    metadata: &Metadata,
) -> Result<Vec<NewEvent>, CommandError<A::Error>>
where
    A: Aggregate,
{
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let encoded = encode(event)?;
            Ok(
                NewEvent::new(encoded.event_type, encoded.schema_version, encoded.payload)
                    .with_id(derive_id(seed, &format!("event/{version}/{index}")))
                    .with_metadata(metadata.clone()),
            )
        })
        .collect()
}

/// `commands` decided one after the other, each on the state the events before it leave; the
/// first refusal refuses them all. The first decides with `ctx`; each later one with a seed
/// derived from `ctx`'s and its place, so fresh ids never repeat across the list.
fn decide_all<A>(
    state: &A,
    commands: &[A::Command],
    ctx: &Context,
) -> Result<Vec<A::Event>, A::Error>
where
    A: Aggregate,
    A::Command: Clone,
{
    if let [command] = commands {
        return state.decide(command.clone(), ctx);
    }
    let mut state = state.clone();
    let mut events = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        let step = if index == 0 {
            ctx.clone()
        } else {
            Context::new(
                ctx.now,
                ctx.actor.clone(),
                derive_id(ctx.fresh_id(0), &format!("step-{index}")),
            )
        };
        let decided = state.decide(command.clone(), &step)?;
        state = decided.iter().fold(state, Aggregate::evolve);
        events.extend(decided);
    }
    Ok(events)
}

/// The digest an idempotency record keeps: SHA-256 over the aggregate kind, the stream and the
/// command serialized as JSON. Two requests are "the same" exactly when these agree.
pub fn request_digest<C: Serialize>(
    kind: &str,
    stream: &StreamId,
    command: &C,
) -> Result<RequestDigest, serde_json::Error> {
    let body = serde_json::to_vec(command)?;
    let mut hasher = Sha256::new();
    for part in [
        b"crm-command/1".as_slice(),
        kind.as_bytes(),
        stream.as_str().as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(&body);
    Ok(RequestDigest(hasher.finalize().into()))
}

/// The idempotency claim of `commands` on `stream` under `meta`'s key, if it has one. One
/// command is digested alone, as it always was, so keys recorded before lists existed still
/// answer their retries.
fn claim_of<A>(
    stream: &StreamId,
    commands: &[A::Command],
    meta: &CommandMeta,
) -> Result<Option<IdempotencyClaim>, WorkError>
where
    A: Aggregate,
    A::Command: Serialize,
{
    let Some(key) = &meta.idempotency_key else {
        return Ok(None);
    };
    let digest = match commands {
        [command] => request_digest(A::KIND, stream, command),
        commands => request_digest(A::KIND, stream, &commands),
    }
    .map_err(|error| WorkError::Corrupt {
        what: "command".into(),
        reason: format!("cannot serialize it for its digest: {error}"),
    })?;
    Ok(Some(IdempotencyClaim {
        key: key.clone(),
        digest,
    }))
}

/// The stream of aggregate `id` of type `A`: `"{KIND}-{id}"`.
pub fn stream_of<A: Aggregate>(id: Uuid) -> Result<StreamId, StoreError> {
    StreamId::new(format!("{}-{id}", A::KIND))
}

type Caches = HashMap<TypeId, Arc<dyn ErasableCache>>;

/// A stream cache of any aggregate type, as the service keeps them: downcast to its type to
/// use it, or cleared whatever its type.
trait ErasableCache: Any + Send + Sync + std::fmt::Debug {
    fn clear(&self);
}

impl<S, T> ErasableCache for StreamCache<S, T>
where
    S: EventStore + 'static,
    T: crm_eventstore::StreamState + Send + Sync + 'static,
    StreamCache<S, T>: Send + Sync + std::fmt::Debug,
{
    fn clear(&self) {
        StreamCache::clear(self);
    }
}

/// How many data subjects' keys the service remembers before forgetting them all.
pub const SUBJECT_KEY_CAPACITY: usize = 10_000;

/// Executes commands; see the [module documentation](self).
#[derive(Debug)]
pub struct CommandService<U: UnitOfWork> {
    work: U,
    clock: Arc<dyn Clock>,
    caches: Mutex<Caches>,
    /// Commands of this service to one stream run one after the other.
    turns: turns::StreamTurns,
    /// Encryption keys of the data subjects written lately (see [`Self::subject_key`]).
    subject_keys: Mutex<HashMap<(TenantId, SubjectId), SubjectKey>>,
    cache_capacity: usize,
    max_attempts: u32,
}

impl<U: UnitOfWork> CommandService<U> {
    /// A service committing through `work`, reading the time from `clock`.
    pub fn new(work: U, clock: Arc<dyn Clock>) -> Self {
        Self {
            work,
            clock,
            caches: Mutex::new(HashMap::new()),
            subject_keys: Mutex::new(HashMap::new()),
            turns: turns::StreamTurns::default(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// The same service keeping at most `capacity` streams per aggregate type folded
    /// (0 reads every stream from the store for every command).
    #[must_use]
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The same service deciding at most `attempts` times (at least once) per command.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The unit of work.
    pub fn work(&self) -> &U {
        &self.work
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn cache<A>(&self) -> Arc<StreamCache<U::Store, Folded<A>>>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        let mut caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = caches.entry(TypeId::of::<A>()).or_insert_with(|| {
            Arc::new(StreamCache::<U::Store, Folded<A>>::new(
                self.work.store().clone(),
                self.work.settings().clone(),
                self.cache_capacity,
            ))
        });
        let entry: Arc<dyn Any + Send + Sync> = Arc::<dyn ErasableCache>::clone(entry);
        match entry.downcast::<StreamCache<U::Store, Folded<A>>>() {
            Ok(cache) => cache,
            // Keyed by the type's own id, so the downcast cannot fail; a fresh cache is the
            // safe answer anyway.
            Err(_) => Arc::new(StreamCache::new(
                self.work.store().clone(),
                self.work.settings().clone(),
                self.cache_capacity,
            )),
        }
    }

    /// The current state of aggregate `id` of type `A`, with its version, read through the
    /// cache and brought up to date with the store.
    pub async fn load<A>(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<(A, u64), CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        self.load_with::<A, _>(tenant, id, A::clone).await
    }

    /// [`load`](Self::load), handing the state to `read` in place instead of copying it, and
    /// returning what `read` made of it with the version.
    ///
    /// For callers that need a few facts from a large state (a team holding thousands of open
    /// leads): the copy a `load` makes costs as much as the state is large. `read` runs before
    /// anything else can touch the cached state, so it never keeps the next append from being
    /// folded in place.
    pub async fn load_with<A, R>(
        &self,
        tenant: &TenantId,
        id: Uuid,
        read: impl FnOnce(&A) -> R,
    ) -> Result<(R, u64), CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        let stream = stream_of::<A>(id)?;
        let cached = self.cache::<A>().refresh(tenant, &stream).await?;
        readable(&stream, &cached)?;
        Ok((read(&cached.state.aggregate), cached.version))
    }

    /// [`load_with`](Self::load_with) for several aggregates of one type at once, answered in
    /// the order given: the cached ones are checked against the store in one round trip, and
    /// only those that moved (or are not cached) are read.
    pub async fn load_each_with<A, R>(
        &self,
        tenant: &TenantId,
        ids: &[Uuid],
        read: impl Fn(&A) -> R,
    ) -> Result<Vec<(R, u64)>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        let streams = ids
            .iter()
            .map(|id| stream_of::<A>(*id))
            .collect::<Result<Vec<_>, _>>()?;
        let states = self.cache::<A>().refresh_each(tenant, &streams).await?;
        streams
            .iter()
            .zip(states)
            .map(|(stream, cached)| {
                readable(stream, &cached)?;
                Ok((read(&cached.state.aggregate), cached.version))
            })
            .collect()
    }

    /// Executes `command` against aggregate `id` of type `A` for `tenant`; see the
    /// [module documentation](self) for the contract.
    pub async fn execute<A>(
        &self,
        tenant: &TenantId,
        id: Uuid,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Executed<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Serialize + Clone,
    {
        self.execute_with::<A, _>(tenant, id, command, meta, |_: &[A::Event]| Vec::new())
            .await
    }

    /// [`execute`](Self::execute), also writing the outbox messages `outbox` makes from the
    /// decided events, in the same transaction (never for a refusal or a replay).
    pub async fn execute_with<A, F>(
        &self,
        tenant: &TenantId,
        id: Uuid,
        command: A::Command,
        meta: &CommandMeta,
        outbox: F,
    ) -> Result<Executed<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Serialize + Clone,
        F: Fn(&[A::Event]) -> Vec<OutboxMessage> + Send,
    {
        let stream = stream_of::<A>(id)?;
        let span = tracing::info_span!(
            "command",
            tenant = %tenant,
            stream = %stream,
            command_id = %meta.command_id,
        );
        self.run::<A, F>(tenant, stream, vec![command], meta, outbox)
            .instrument(span)
            .await
    }

    /// Executes `commands` against aggregate `id` of type `A` as one decision: each is decided
    /// on the state the ones before it leave, and all their events commit together or none do
    /// (a refusal of any refuses all). What a create-with-details needs, such as opening a
    /// record and setting its custom fields under one version check. An idempotency key
    /// covers the whole list. With one command this is [`execute`](Self::execute).
    pub async fn execute_all<A>(
        &self,
        tenant: &TenantId,
        id: Uuid,
        commands: Vec<A::Command>,
        meta: &CommandMeta,
    ) -> Result<Executed<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Serialize + Clone,
    {
        let stream = stream_of::<A>(id)?;
        let span = tracing::info_span!(
            "command",
            tenant = %tenant,
            stream = %stream,
            command_id = %meta.command_id,
            commands = commands.len(),
        );
        self.run::<A, _>(tenant, stream, commands, meta, |_: &[A::Event]| Vec::new())
            .instrument(span)
            .await
    }

    /// Creates several aggregates of type `A` at once: each `(id, commands, meta)` is decided
    /// on the empty state, as [`execute_all`](Self::execute_all) decides a stream it does not
    /// know yet, and the events of all of them are appended together
    /// ([`UnitOfWork::append_new_streams`]; on PostgreSQL one transaction), each stream
    /// checked as new. What a batch of new records costs in one round trip where one at a
    /// time costs one commit each.
    ///
    /// One entry per creation, in order: what was created, or `None` when this path did not
    /// create it: the stream exists (or the service holds it), the commands carry an
    /// idempotency key or an expected version, their decision refused or changed nothing, or
    /// the batch's append failed. Send those through [`execute_all`](Self::execute_all), which
    /// decides on the stream as it is and reports any refusal or error.
    pub async fn create_each<A>(
        &self,
        tenant: &TenantId,
        creations: Vec<(Uuid, Vec<A::Command>, CommandMeta)>,
    ) -> Vec<Option<Executed<A::Event>>>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Serialize + Clone,
    {
        let cache = self.cache::<A>();
        let mut answers: Vec<Option<Executed<A::Event>>> = Vec::with_capacity(creations.len());
        // Per creation appended together: its place in the answers, its stream, its events
        // (plaintext, for the cache and the answer; as stored, for the store) and its key.
        let mut decided = Vec::new();
        let mut stored = Vec::new();
        for (index, (id, commands, meta)) in creations.into_iter().enumerate() {
            answers.push(None);
            if meta.idempotency_key.is_some() || meta.expected_version.is_some_and(|v| v != 0) {
                continue;
            }
            let Ok(stream) = stream_of::<A>(id) else {
                continue;
            };
            if cache.contains(tenant, &stream) {
                continue;
            }
            match self.prepare_creation::<A>(tenant, &stream, &commands, &meta) {
                Ok(Some((events, new_events, new_stream))) => {
                    decided.push((index, stream, events, new_events));
                    stored.push(new_stream);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%stream, %error, "left to be executed alone");
                }
            }
        }
        if stored.is_empty() {
            return answers;
        }
        let appended = match self.work.append_new_streams(tenant, &stored).await {
            Ok(appended) => appended,
            Err(error) => {
                tracing::warn!(%error, streams = stored.len(), "creating together failed; each is left to be executed alone");
                return answers;
            }
        };
        let empty = CachedState {
            state: Arc::new(Folded::<A>::default()),
            version: 0,
        };
        for (((index, stream, events, new_events), new_stream), result) in
            decided.into_iter().zip(stored).zip(appended)
        {
            let Some(result) = result else { continue };
            cache.record_committed(
                tenant,
                &stream,
                empty.clone(),
                ExpectedVersion::Exact(0),
                &new_events,
                &result,
            );
            if let Some((subject, key)) = &new_stream.subject_key {
                self.remember_key(tenant, subject, key);
            }
            answers[index] = Some(Executed::appended(stream, events, &result));
        }
        answers
    }

    /// Executes a command list on each of several aggregates of type `A`, as
    /// [`execute_all`](Self::execute_all) would one by one, and answers each in the order
    /// given: the aggregates are brought up to date with one version check for them all, each
    /// list is decided on its own aggregate, and the decisions are committed together
    /// ([`UnitOfWork::commit_each`]; on PostgreSQL one transaction). What many small commands
    /// on many streams cost at once (an intake pass's routing decisions, each recorded on its
    /// lead) where one at a time costs a commit each.
    ///
    /// An entry the batch does not commit is executed alone afterwards, which decides it
    /// again on its stream as it is and reports any refusal or error: one whose decision
    /// refused or changed nothing, one with an expected version, a stream named a second
    /// time, events sealed for a person whose key the service does not hold yet, and any the
    /// batch's commit left out (a conflict, a key already held, an error). Unlike a command
    /// executed alone, the batch does not wait for the turn of this process's other commands
    /// on its streams: a concurrent one meets it at the store's version check.
    pub async fn execute_each<A>(
        &self,
        tenant: &TenantId,
        commands: Vec<(Uuid, Vec<A::Command>, CommandMeta)>,
    ) -> Vec<Result<Executed<A::Event>, CommandError<A::Error>>>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Serialize + Clone,
    {
        let cache = self.cache::<A>();
        let mut answers: Vec<Option<Executed<A::Event>>> = commands.iter().map(|_| None).collect();
        let mut named = std::collections::HashSet::new();
        let batch: Vec<(usize, StreamId)> = commands
            .iter()
            .enumerate()
            .filter(|(_, (_, _, meta))| meta.expected_version.is_none())
            .filter_map(|(index, (id, _, _))| Some((index, stream_of::<A>(*id).ok()?)))
            .filter(|(_, stream)| named.insert(stream.clone()))
            .collect();
        let streams: Vec<StreamId> = batch.iter().map(|(_, stream)| stream.clone()).collect();
        let states = match cache.refresh_each(tenant, &streams).await {
            Ok(states) => states,
            Err(error) => {
                tracing::warn!(%error, streams = streams.len(), "checking a batch failed; each is executed alone");
                Vec::new()
            }
        };
        let mut decided = Vec::new();
        let mut works = Vec::new();
        for ((index, stream), cached) in batch.into_iter().zip(states) {
            let (_, list, meta) = &commands[index];
            match self.prepare_batched::<A>(tenant, &stream, cached, list, meta) {
                Ok(Some((work, decision))) => {
                    works.push(work);
                    decided.push((index, stream, decision));
                }
                Ok(None) => {}
                Err(error) => tracing::debug!(%stream, %error, "left to be executed alone"),
            }
        }
        let committed = if works.is_empty() {
            Vec::new()
        } else {
            self.work.commit_each(works).await
        };
        for ((index, stream, (cached, events, new_events)), committed) in
            decided.into_iter().zip(committed)
        {
            let Some(Committed::Done(Some(result))) = committed else {
                // Perhaps committed after all (an error may hide the outcome): read it again.
                cache.invalidate(tenant, &stream);
                continue;
            };
            let expected = ExpectedVersion::Exact(cached.version);
            cache.record_committed(tenant, &stream, cached, expected, &new_events, &result);
            answers[index] = Some(Executed::appended(stream, events, &result));
        }
        let mut results = Vec::with_capacity(answers.len());
        for (answer, (id, list, meta)) in answers.into_iter().zip(commands) {
            results.push(match answer {
                Some(executed) => Ok(executed),
                None => self.execute_all::<A>(tenant, id, list, &meta).await,
            });
        }
        results
    }

    /// One entry of [`execute_each`](Self::execute_each) decided on `cached`: the unit of
    /// work that commits it, with the state decided on, the events and their encoding (for
    /// the cache and the answer). `None` when it is to be executed alone.
    #[allow(clippy::type_complexity, reason = "one private step of `execute_each`")]
    fn prepare_batched<A>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        cached: CachedState<Folded<A>>,
        commands: &[A::Command],
        meta: &CommandMeta,
    ) -> Result<
        Option<(Work, (CachedState<Folded<A>>, Vec<A::Event>, Vec<NewEvent>))>,
        CommandError<A::Error>,
    >
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Serialize + Clone,
    {
        readable(stream, &cached)?;
        let claim = claim_of::<A>(stream, commands, meta)?;
        let (metadata, seed, ctx) = self.decision_inputs(stream, meta)?;
        let events = match decide_all(&cached.state.aggregate, commands, &ctx) {
            Ok(events) if !events.is_empty() => events,
            _ => return Ok(None),
        };
        let new_events = encode_events::<A>(&events, seed, cached.version, &metadata)?;
        let stored = match Self::subject_of::<A>(&cached.state.aggregate, &events)? {
            None => new_events.clone(),
            Some(subject) => match self.remembered_key(tenant, &subject) {
                Some(key) => Self::seal_with::<A>(tenant, &events, &new_events, &subject, &key)?,
                None => return Ok(None),
            },
        };
        let work = Work {
            tenant: tenant.clone(),
            append: Some(StreamAppend {
                stream: stream.clone(),
                expected: ExpectedVersion::Exact(cached.version),
                events: stored,
            }),
            idempotency: claim,
            decided_on: Some((stream.clone(), cached.version)),
            outbox: Vec::new(),
        };
        Ok(Some((work, (cached, events, new_events))))
    }

    /// What a command under `meta` is decided and stored with on `stream`: the metadata its
    /// events carry, the seed its ids derive from, and the context it is decided in (now).
    fn decision_inputs(
        &self,
        stream: &StreamId,
        meta: &CommandMeta,
    ) -> Result<(Metadata, Uuid, Context), WorkError> {
        let metadata = meta.metadata().map_err(|error| WorkError::Corrupt {
            what: "command metadata".into(),
            reason: error.to_string(),
        })?;
        let seed = derive_id(meta.command_id, stream.as_str());
        let ctx = Context::new(self.clock.now(), meta.actor.clone(), seed);
        Ok((metadata, seed, ctx))
    }

    /// One creation of [`create_each`](Self::create_each) decided on the empty state: its
    /// events, as encoded, and as the store is to keep them (personal fields sealed with the
    /// subject's key, remembered or new). `None` when the decision refused or changed nothing.
    #[allow(clippy::type_complexity, reason = "one private step of `create_each`")]
    fn prepare_creation<A>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        commands: &[A::Command],
        meta: &CommandMeta,
    ) -> Result<Option<(Vec<A::Event>, Vec<NewEvent>, NewStream)>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Clone,
    {
        let (metadata, seed, ctx) = self.decision_inputs(stream, meta)?;
        let empty = A::default();
        let Ok(events) = decide_all(&empty, commands, &ctx) else {
            return Ok(None);
        };
        if events.is_empty() {
            return Ok(None);
        }
        let new_events = encode_events::<A>(&events, seed, 0, &metadata)?;
        let (stored, subject_key) = match Self::subject_of::<A>(&empty, &events)? {
            None => (new_events.clone(), None),
            Some(subject) => {
                let key = match self.remembered_key(tenant, &subject) {
                    Some(key) => key,
                    None => SubjectKey::generate().map_err(CommandError::PersonalData)?,
                };
                let sealed = Self::seal_with::<A>(tenant, &events, &new_events, &subject, &key)?;
                (sealed, Some((subject, key)))
            }
        };
        Ok(Some((
            events,
            new_events,
            NewStream {
                stream: stream.clone(),
                events: stored,
                subject_key,
            },
        )))
    }

    async fn run<A, F>(
        &self,
        tenant: &TenantId,
        stream: StreamId,
        commands: Vec<A::Command>,
        meta: &CommandMeta,
        outbox: F,
    ) -> Result<Executed<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: Serialize + Clone,
        F: Fn(&[A::Event]) -> Vec<OutboxMessage> + Send,
    {
        // Commands of this process to one stream (a team every lead is offered by) wait their
        // turn here, rather than all deciding on one version, one winning and the rest
        // conflicting and deciding again. Other processes still meet at the store's version
        // check.
        let _turn = self.turns.take(tenant, &stream).await;
        let claim = match claim_of::<A>(&stream, &commands, meta)? {
            Some(claim) => {
                if let Some(done) = self.replay::<A>(tenant, &claim).await? {
                    return Ok(done);
                }
                Some(claim)
            }
            None => None,
        };
        let metadata = meta.metadata().map_err(|error| WorkError::Corrupt {
            what: "command metadata".into(),
            reason: error.to_string(),
        })?;
        let cache = self.cache::<A>();
        // A stream the cache does not hold is first decided on as if it did not exist: a
        // command that creates its aggregate then needs no read (the append's `Exact(0)` checks
        // that the stream is indeed new). Any other outcome loads the stream and decides again.
        let mut speculative =
            !cache.contains(tenant, &stream) && meta.expected_version.unwrap_or(0) == 0;
        let mut cached = if speculative {
            CachedState {
                state: Arc::new(Folded::default()),
                version: 0,
            }
        } else {
            cache.load(tenant, &stream).await?
        };
        let mut attempt = 1;
        loop {
            if let Some(expected) = meta.expected_version
                && !speculative
                && cached.version != expected
            {
                // The cache may be behind the store: only the store's version is an answer.
                drop(cached);
                cached = cache.refresh(tenant, &stream).await?;
                if cached.version != expected {
                    return Err(CommandError::StaleVersion {
                        stream,
                        expected,
                        actual: cached.version,
                    });
                }
            }
            readable(&stream, &cached)?;
            let seed = derive_id(meta.command_id, stream.as_str());
            let ctx = Context::new(self.clock.now(), meta.actor.clone(), seed);
            let decided = decide_all(&cached.state.aggregate, &commands, &ctx);
            if speculative {
                speculative = false;
                if !matches!(&decided, Ok(events) if !events.is_empty()) {
                    drop(cached);
                    cached = cache.load(tenant, &stream).await?;
                    continue;
                }
            }
            let outcome = match decided {
                Ok(events) => {
                    self.commit::<A, F>(
                        tenant,
                        &stream,
                        &cache,
                        cached,
                        events,
                        (&metadata, seed),
                        claim.as_ref(),
                        &outbox,
                    )
                    .await
                }
                Err(refusal) => self
                    .confirm(tenant, &stream, &cached)
                    .await
                    .map(|()| Step::Refused(refusal)),
            };
            match outcome {
                Ok(Step::Done(executed)) => return Ok(executed),
                Ok(Step::Replayed(record_claim)) => {
                    if let Some(done) = self.replay::<A>(tenant, &record_claim).await? {
                        return Ok(done);
                    }
                }
                Ok(Step::Refused(refusal)) => {
                    // A twin under the same key may have committed between our lookup and our
                    // load, and this refusal be our state seeing its events: its record answers.
                    if let Some(claim) = &claim
                        && let Some(done) = self.replay::<A>(tenant, claim).await?
                    {
                        return Ok(done);
                    }
                    return Err(CommandError::Rejected(refusal));
                }
                Err(CommandError::Work(WorkError::Store(StoreError::VersionConflict {
                    actual,
                    ..
                }))) => {
                    if let Some(expected) = meta.expected_version {
                        // Decided at the caller's version, which another writer has moved:
                        // deciding again on the new state would act on what they never saw.
                        cache.invalidate(tenant, &stream);
                        if let Some(claim) = &claim
                            && let Some(done) = self.replay::<A>(tenant, claim).await?
                        {
                            return Ok(done);
                        }
                        return Err(CommandError::StaleVersion {
                            stream,
                            expected,
                            actual: actual.unwrap_or(0),
                        });
                    }
                }
                Err(error) => {
                    if error.is_retryable() {
                        // The commit may or may not have happened: read the stream again.
                        cache.invalidate(tenant, &stream);
                    }
                    return Err(error);
                }
            }
            if attempt >= self.max_attempts {
                // The cached state stays: a faithful fold at its version, it catches up on the
                // next refresh by reading just what the other writers added.
                return Err(CommandError::Conflict {
                    stream,
                    attempts: attempt,
                });
            }
            backoff(meta.command_id, attempt).await;
            attempt += 1;
            // A twin of this command may have committed meanwhile: its record answers.
            if let Some(claim) = &claim
                && let Some(done) = self.replay::<A>(tenant, claim).await?
            {
                return Ok(done);
            }
            // (The state decided on was handed to `commit`, or is dropped here.)
            cached = cache.refresh(tenant, &stream).await?;
        }
    }

    /// Confirms that the state a refusal or an empty decision was made on is current.
    async fn confirm<A>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        cached: &CachedState<Folded<A>>,
    ) -> Result<(), CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        let actual = self.work.store().stream_version(tenant, stream).await?;
        if actual.unwrap_or(0) == cached.version {
            Ok(())
        } else {
            Err(StoreError::VersionConflict {
                stream: stream.clone(),
                expected: ExpectedVersion::Exact(cached.version),
                actual,
            }
            .into())
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one private step of `run`")]
    async fn commit<A, F>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        cache: &StreamCache<U::Store, Folded<A>>,
        cached: CachedState<Folded<A>>,
        events: Vec<A::Event>,
        (metadata, seed): (&Metadata, Uuid),
        claim: Option<&IdempotencyClaim>,
        outbox: &F,
    ) -> Result<Step<A>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
        F: Fn(&[A::Event]) -> Vec<OutboxMessage> + Send,
    {
        let new_events = encode_events::<A>(&events, seed, cached.version, metadata)?;
        let messages = outbox(&events);
        let one_statement = claim.is_none() && messages.is_empty();
        // What the store keeps: the same events with their personal fields encrypted (the
        // plaintext ones fold into the cache below). A subject whose key the service does not
        // hold yet gets a key made here when the append is the store's one statement, which
        // then stores that key with the events (or says the subject has another one).
        let mut new_key = None;
        let stored_events = match Self::subject_of::<A>(&cached.state.aggregate, &events)? {
            None => None,
            Some(subject) => {
                let key = match self.remembered_key(tenant, &subject) {
                    Some(key) => key,
                    None if one_statement => {
                        let candidate =
                            SubjectKey::generate().map_err(CommandError::PersonalData)?;
                        new_key = Some((subject.clone(), candidate.clone()));
                        candidate
                    }
                    None => self
                        .subject_key(tenant, &subject)
                        .await
                        .map_err(CommandError::PersonalData)?,
                };
                Some(Self::seal_with::<A>(
                    tenant,
                    &events,
                    &new_events,
                    &subject,
                    &key,
                )?)
            }
        };
        let stored_events = stored_events.as_ref().unwrap_or(&new_events);
        let expected = ExpectedVersion::Exact(cached.version);
        if new_events.is_empty() && claim.is_none() && messages.is_empty() {
            self.confirm(tenant, stream, &cached).await?;
            return Ok(Step::Done(Executed {
                stream: stream.clone(),
                version: cached.version,
                events,
                outcome: CommandOutcome::unchanged(stream, cached.version),
                replayed: false,
            }));
        }
        let appended: Option<AppendResult> = if one_statement {
            // Nothing else to commit with the events: the store's own one-statement append.
            Some(match &new_key {
                None => {
                    self.work
                        .append(tenant, stream, expected, stored_events)
                        .await?
                }
                Some((subject, candidate)) => {
                    self.append_with_new_key::<A>(
                        tenant,
                        stream,
                        expected,
                        (&events, &new_events, stored_events),
                        subject,
                        candidate,
                    )
                    .await?
                }
            })
        } else {
            if new_events.is_empty() {
                // Recording a no-op under its key: only valid if the state decided on is current.
                self.confirm(tenant, stream, &cached).await?;
            }
            let work = Work {
                tenant: tenant.clone(),
                append: (!new_events.is_empty()).then(|| StreamAppend {
                    stream: stream.clone(),
                    expected,
                    events: stored_events.clone(),
                }),
                idempotency: claim.cloned(),
                decided_on: Some((stream.clone(), cached.version)),
                outbox: messages,
            };
            match self.work.commit(work).await? {
                Committed::Done(appended) => appended,
                Committed::Replayed(record) => {
                    return Ok(Step::Replayed(IdempotencyClaim {
                        key: record.key,
                        digest: claim.map_or(record.digest, |claim| claim.digest),
                    }));
                }
            }
        };
        let decided_version = cached.version;
        let (version, outcome) = match &appended {
            Some(result) => {
                // Handed over, not copied: with no other holder of the state decided on, the
                // cache folds the append into it in place.
                cache.record_committed(tenant, stream, cached, expected, &new_events, result);
                (
                    result.stream_version,
                    CommandOutcome::appended(stream, result),
                )
            }
            None => (
                decided_version,
                CommandOutcome::unchanged(stream, decided_version),
            ),
        };
        Ok(Step::Done(Executed {
            stream: stream.clone(),
            version,
            events,
            outcome,
            replayed: false,
        }))
    }

    /// Appends events sealed with a key made here: stored with the key in one statement when
    /// the backend can, else (the subject has another key, or the backend cannot) sealed
    /// again with the subject's key from the key store and appended the usual way.
    async fn append_with_new_key<A>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        (events, new_events, sealed): (&[A::Event], &[NewEvent], &[NewEvent]),
        subject: &SubjectId,
        candidate: &SubjectKey,
    ) -> Result<AppendResult, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        if let Some(result) = self
            .work
            .append_with_subject_key(tenant, stream, expected, sealed, subject, candidate)
            .await?
        {
            self.remember_key(tenant, subject, candidate);
            return Ok(result);
        }
        let key = self
            .subject_key(tenant, subject)
            .await
            .map_err(CommandError::PersonalData)?;
        let resealed = Self::seal_with::<A>(tenant, events, new_events, subject, &key)?;
        Ok(self
            .work
            .append(tenant, stream, expected, &resealed)
            .await?)
    }

    /// The data subject of `events` decided on `state` when one of them carries personal data
    /// ([`DomainEvent::personal_fields`]): the aggregate's after the events
    /// ([`Aggregate::data_subject`]). `None` when no event carries personal data.
    fn subject_of<A>(
        state: &A,
        events: &[A::Event],
    ) -> Result<Option<SubjectId>, CommandError<A::Error>>
    where
        A: Aggregate,
    {
        if events
            .iter()
            .all(|event| event.personal_fields().is_empty())
        {
            return Ok(None);
        }
        let after = events.iter().fold(state.clone(), Aggregate::evolve);
        let Some(subject) = after.data_subject() else {
            return Err(CommandError::PersonalData(CryptoError::InvalidSubject {
                subject: String::new(),
                reason: "is not named: the aggregate names no data subject for personal data",
            }));
        };
        SubjectId::new(subject.key_name())
            .map(Some)
            .map_err(CommandError::PersonalData)
    }

    /// `new_events` (encoding `events`) with each event's personal fields encrypted with
    /// `key`, each ciphertext bound to its event id and field.
    fn seal_with<A>(
        tenant: &TenantId,
        events: &[A::Event],
        new_events: &[NewEvent],
        subject: &SubjectId,
        key: &SubjectKey,
    ) -> Result<Vec<NewEvent>, CommandError<A::Error>>
    where
        A: Aggregate,
    {
        let mut sealed = new_events.to_vec();
        for (event, new_event) in events.iter().zip(&mut sealed) {
            let fields = event.personal_fields();
            if !fields.is_empty() {
                encrypt_event_fields_with_key(
                    &mut new_event.payload,
                    fields,
                    tenant,
                    new_event.id,
                    subject,
                    key,
                )
                .map_err(CommandError::PersonalData)?;
            }
        }
        Ok(sealed)
    }

    /// The subject's key if the service remembers it.
    fn remembered_key(&self, tenant: &TenantId, subject: &SubjectId) -> Option<SubjectKey> {
        self.subject_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.clone(), subject.clone()))
            .cloned()
    }

    /// Remembers the subject's key (forgetting every key once [`SUBJECT_KEY_CAPACITY`] are
    /// held).
    fn remember_key(&self, tenant: &TenantId, subject: &SubjectId, key: &SubjectKey) {
        let mut keys = self
            .subject_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= SUBJECT_KEY_CAPACITY {
            keys.clear();
        }
        keys.insert((tenant.clone(), subject.clone()), key.clone());
    }

    /// The subject's encryption key, from the service's memory or the key store (which makes
    /// it on first use and refuses an erased subject).
    ///
    /// Keys are remembered (up to [`SUBJECT_KEY_CAPACITY`] of them, then forgotten all at
    /// once), so writing to a known person costs no extra round trip. That is safe across
    /// processes: if another process erases the subject, data written here afterwards under
    /// the remembered key is as unreadable as the rest, since the key store no longer holds
    /// the key. [`forget_subject`](Self::forget_subject) drops one at once.
    async fn subject_key(
        &self,
        tenant: &TenantId,
        subject: &SubjectId,
    ) -> Result<SubjectKey, CryptoError> {
        if let Some(key) = self.remembered_key(tenant, subject) {
            return Ok(key);
        }
        let key = self.work.keys().encryption_key(tenant, subject).await?;
        self.remember_key(tenant, subject, &key);
        Ok(key)
    }

    /// Forgets what this service holds of a data subject: its remembered key, and every
    /// folded state in the stream caches (which may hold their personal data in clear). The
    /// erasure calls it after shredding.
    pub fn forget_subject(&self, tenant: &TenantId, subject: &SubjectId) {
        self.subject_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(tenant.clone(), subject.clone()));
        self.clear_caches();
    }

    /// Empties the stream caches of every aggregate type; states are read again on use.
    pub fn clear_caches(&self) {
        let caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        for cache in caches.values() {
            cache.clear();
        }
    }

    /// The first outcome under `claim`'s key, with its events read back, if the tenant has
    /// one; an idempotency conflict if it was for another request.
    async fn replay<A>(
        &self,
        tenant: &TenantId,
        claim: &IdempotencyClaim,
    ) -> Result<Option<Executed<A::Event>>, CommandError<A::Error>>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        let Some(record) = self.work.idempotency_record(tenant, &claim.key).await? else {
            return Ok(None);
        };
        if record.digest != claim.digest {
            return Err(CommandError::IdempotencyConflict {
                key: claim.key.clone(),
            });
        }
        let stream = StreamId::new(&record.outcome.stream)?;
        let events = match (record.outcome.events.first(), record.outcome.events.last()) {
            (Some(first), Some(last)) => {
                let count = usize::try_from(last.version - first.version + 1).unwrap_or(0);
                let read = self
                    .work
                    .store()
                    .read_stream(
                        tenant,
                        &stream,
                        StreamRead::forward()
                            .from_version(first.version)
                            .limit(count),
                    )
                    .await?;
                read.into_iter()
                    .map(|event| {
                        crm_domain::decode::<A::Event>(
                            &event.event_type,
                            event.schema_version,
                            event.payload,
                        )
                        .map_err(|error| CommandError::UnreadableStream {
                            stream: stream.clone(),
                            version: event.version,
                            reason: error.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => Vec::new(),
        };
        Ok(Some(Executed {
            stream,
            version: record.outcome.version,
            events,
            outcome: record.outcome,
            replayed: true,
        }))
    }

    /// Writes outbox messages alone (no events), in one transaction: a message whose id was
    /// written before is ignored, so writing the same messages again changes nothing.
    pub async fn send(
        &self,
        tenant: &TenantId,
        messages: Vec<OutboxMessage>,
    ) -> Result<(), WorkError> {
        if messages.is_empty() {
            return Ok(());
        }
        self.work
            .commit(Work {
                tenant: tenant.clone(),
                append: None,
                idempotency: None,
                decided_on: None,
                outbox: messages,
            })
            .await
            .map(|_| ())
    }
}

enum Step<A: Aggregate> {
    Done(Executed<A::Event>),
    Replayed(IdempotencyClaim),
    Refused(A::Error),
}

/// A pause before deciding again after a conflict, growing with the attempt and spread by a
/// jitter drawn from the command's id, so writers racing on one stream stop colliding in step.
async fn backoff(command_id: Uuid, attempt: u32) {
    if attempt < 2 {
        return;
    }
    let ceiling_micros = 100u64 << attempt.min(9);
    let seed = derive_id(command_id, &format!("backoff/{attempt}")).as_u128();
    let micros = u64::try_from(seed % u128::from(ceiling_micros)).unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

fn readable<A, E>(
    stream: &StreamId,
    cached: &CachedState<Folded<A>>,
) -> Result<(), CommandError<E>> {
    match &cached.state.unreadable {
        Some((version, reason)) => Err(CommandError::UnreadableStream {
            stream: stream.clone(),
            version: *version,
            reason: reason.clone(),
        }),
        None => Ok(()),
    }
}
