//! The in-memory backend: the PostgreSQL store's twin, for tests and embedding.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use crate::audit::ExportedEvent;
use crate::codec::{
    EncodedBatch, RawEvent, StoredLink, check_state_depth, earlier_append, encode_batch,
};
use crate::hash::{SealEntries, chain_hash, seal_hash, to_micros};
use crate::ids::validate_name;
use crate::seal::{MAX_EVENTS_PER_SEAL, ManifestCheck, SealWalk};
use crate::transfer::{
    CheckedEvent, HistoryPage, HistoryTransfer, ImportOutcome, ImportTarget, TargetHead,
    check_batch, plan_import,
};
use crate::verify::ChainVerifier;
use crate::{
    AppendResult, AppendedEvent, AsOf, Direction, EventHash, EventStore, ExpectedVersion,
    GlobalPosition, HeadManifest, NameKind, NewEvent, ReadAllPage, RecordedEvent, Seal, Snapshot,
    StoreError, StoreSettings, StreamHead, StreamId, StreamRead, TenantId, VerifyReport,
};

#[derive(Debug, Clone)]
struct StoredEvent {
    stream: StreamId,
    version: u64,
    position: GlobalPosition,
    id: Uuid,
    event_type: String,
    schema_version: u16,
    payload: Vec<u8>,
    metadata: Vec<u8>,
    recorded_at: DateTime<Utc>,
    hash: EventHash,
    previous_hash: EventHash,
}

impl StoredEvent {
    fn raw(&self) -> RawEvent<'_> {
        RawEvent {
            stream: self.stream.as_str(),
            version: self.version,
            position: self.position,
            id: self.id,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            payload: &self.payload,
            metadata: &self.metadata,
            recorded_at: self.recorded_at,
            hash: &self.hash.0,
            previous_hash: &self.previous_hash.0,
        }
    }
}

#[derive(Debug)]
struct StreamState {
    events: Vec<Arc<StoredEvent>>,
    version: u64,
    last_hash: EventHash,
    last_recorded_at: DateTime<Utc>,
}

#[derive(Debug)]
struct IdempotencyRecord {
    request_hash: Option<[u8; 32]>,
    stream: StreamId,
    result: AppendResult,
}

#[derive(Debug, Default)]
struct TenantState {
    streams: BTreeMap<StreamId, StreamState>,
    log: Vec<Arc<StoredEvent>>,
    /// Every event of the tenant by id.
    event_ids: HashMap<Uuid, Arc<StoredEvent>>,
    idempotency: HashMap<String, IdempotencyRecord>,
    snapshots: HashMap<(StreamId, String), Snapshot>,
    /// Seals over `log`, oldest first.
    seals: Vec<Seal>,
}

#[derive(Debug, Default)]
struct State {
    last_transaction: u64,
    last_position: u64,
    tenants: HashMap<TenantId, TenantState>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    settings: StoreSettings,
    signal: watch::Sender<u64>,
}

/// An [`EventStore`] in process memory, with the same contract as
/// [`PostgresStore`](crate::PostgresStore) (both pass one conformance suite).
///
/// Each append takes one lock, draws one transaction id from a counter and commits at once, so
/// no transaction is ever open to hold readers back. Events are kept as the bytes PostgreSQL
/// would store, and decoded (and upcast) on every read, as there. Clones share the same store.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(StoreSettings::default())
    }
}

impl MemoryStore {
    /// An empty store with these settings.
    pub fn new(settings: StoreSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                settings,
                signal: watch::channel(0).0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every mutation below validates first and then only pushes, so even a panic in the
        // middle (there is none) could not leave half an append behind: a poisoned lock still
        // guards consistent data.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn decode(&self, tenant: &TenantId, event: &StoredEvent) -> Result<RecordedEvent, StoreError> {
        event
            .raw()
            .decode(tenant, event.stream.clone(), &self.inner.settings.upcasters)
    }

    fn append_encoded(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        batch: EncodedBatch,
    ) -> Result<AppendResult, StoreError> {
        let mut state = self.state();
        let state = &mut *state;
        let tenant_state = state.tenants.entry(tenant.clone()).or_default();
        if let Some(key) = &batch.idempotency_key
            && let Some(record) = tenant_state.idempotency.get(key)
        {
            return if record.request_hash == batch.request_hash {
                Ok(record.result.clone())
            } else {
                Err(StoreError::IdempotencyConflict {
                    key: key.clone(),
                    original_stream: record.stream.clone(),
                })
            };
        }
        let head = tenant_state.streams.get(stream);
        let actual = head.map(|head| head.version);
        let repeated = || {
            // A retry of an append that committed: answer as the first time (checked only once
            // the append fails, so the normal path pays nothing for it).
            let links = batch.events.iter().map(|event| {
                tenant_state
                    .event_ids
                    .get(&event.id)
                    .map(|stored| StoredLink {
                        stream: stored.stream.as_str(),
                        version: stored.version,
                        position: stored.position,
                        recorded_at: stored.recorded_at,
                        hash: &stored.hash.0,
                        previous_hash: &stored.previous_hash.0,
                    })
            });
            earlier_append(&batch, stream, links)
        };
        if !expected.admits(actual) {
            if let Some(result) = repeated() {
                return Ok(result);
            }
            return Err(StoreError::VersionConflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        let base = actual.unwrap_or(0);
        if batch.events.is_empty() {
            return Ok(AppendResult {
                stream_version: base,
                events: Vec::new(),
                recorded_at: None,
            });
        }
        if let Some(event) = batch
            .events
            .iter()
            .find(|event| tenant_state.event_ids.contains_key(&event.id))
        {
            if let Some(result) = repeated() {
                return Ok(result);
            }
            return Err(StoreError::DuplicateEventId { event_id: event.id });
        }
        let now = to_micros(Utc::now());
        let recorded_at = head.map_or(now, |head| now.max(head.last_recorded_at));
        let mut previous = head.map_or(EventHash::ZERO, |head| head.last_hash);
        state.last_transaction += 1;
        let transaction = state.last_transaction;
        let mut appended = Vec::with_capacity(batch.events.len());
        let mut stored = Vec::with_capacity(batch.events.len());
        for (version, event) in (base + 1..).zip(batch.events) {
            state.last_position += 1;
            let position = GlobalPosition {
                transaction,
                position: state.last_position,
            };
            let hash = chain_hash(&previous, version, recorded_at, &event.digest);
            appended.push(AppendedEvent {
                event_id: event.id,
                version,
                position,
            });
            stored.push(Arc::new(StoredEvent {
                stream: stream.clone(),
                version,
                position,
                id: event.id,
                event_type: event.event_type,
                schema_version: event.schema_version,
                payload: event.payload,
                metadata: event.metadata,
                recorded_at,
                hash,
                previous_hash: previous,
            }));
            previous = hash;
        }
        let result = AppendResult {
            stream_version: base + u64::try_from(stored.len()).unwrap_or(u64::MAX),
            events: appended,
            recorded_at: Some(recorded_at),
        };
        tenant_state
            .event_ids
            .extend(stored.iter().map(|event| (event.id, Arc::clone(event))));
        tenant_state.log.extend(stored.iter().cloned());
        let head = tenant_state
            .streams
            .entry(stream.clone())
            .or_insert_with(|| StreamState {
                events: Vec::new(),
                version: 0,
                last_hash: EventHash::ZERO,
                last_recorded_at: recorded_at,
            });
        head.events.extend(stored);
        head.version = result.stream_version;
        head.last_hash = previous;
        head.last_recorded_at = recorded_at;
        if let Some(key) = batch.idempotency_key {
            tenant_state.idempotency.insert(
                key,
                IdempotencyRecord {
                    request_hash: batch.request_hash,
                    stream: stream.clone(),
                    result: result.clone(),
                },
            );
        }
        Ok(result)
    }

    fn read_stream_now(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        let Some(head) = state
            .tenants
            .get(tenant)
            .and_then(|tenant_state| tenant_state.streams.get(stream))
        else {
            return Ok(Vec::new());
        };
        let visible_head = match read.as_of {
            AsOf::Time(at) => head.events.partition_point(|event| event.recorded_at <= at),
            AsOf::Now | AsOf::Version(_) => head.events.len(),
        };
        let (low, high) = read.version_range(u64::try_from(visible_head).unwrap_or(u64::MAX));
        if low > high || read.limit == 0 {
            return Ok(Vec::new());
        }
        // Versions are 1-based and contiguous, so version v sits at index v - 1.
        let slice = head
            .events
            .get(to_index(low - 1)..to_index(high))
            .unwrap_or_default();
        let picked: Vec<&Arc<StoredEvent>> = match read.direction {
            Direction::Forward => slice.iter().take(read.limit).collect(),
            Direction::Backward => slice.iter().rev().take(read.limit).collect(),
        };
        picked
            .into_iter()
            .map(|event| self.decode(tenant, event))
            .collect()
    }

    fn read_all_now(&self, tenant: &TenantId, after: GlobalPosition, limit: usize) -> ReadAllPage {
        let state = self.state();
        let mut page = ReadAllPage {
            events: Vec::new(),
            unreadable: Vec::new(),
            next: after,
            held_by: None,
        };
        if let Some(tenant_state) = state.tenants.get(tenant) {
            let start = tenant_state
                .log
                .partition_point(|event| event.position <= after);
            for event in tenant_state.log.iter().skip(start).take(limit) {
                page.next = event.position;
                // A row that cannot be decoded is passed over, never allowed to stall the tenant.
                match self.decode(tenant, event) {
                    Ok(decoded) => page.events.push(decoded),
                    Err(error) => page.unreadable.push(event.raw().unreadable(&error)),
                }
            }
        }
        page
    }

    fn verify_now(&self, tenant: &TenantId, only: Option<&StreamId>) -> VerifyReport {
        let state = self.state();
        let mut verifier = ChainVerifier::new(tenant.clone());
        if let Some(tenant_state) = state.tenants.get(tenant) {
            for (stream, head) in &tenant_state.streams {
                if only.is_some_and(|only| only != stream) {
                    continue;
                }
                verifier.begin_stream(stream.clone(), head.version, &head.last_hash.0);
                for event in &head.events {
                    verifier.event(&event.raw());
                }
                if verifier.is_broken() {
                    break;
                }
            }
        }
        let mut report = verifier.finish();
        if only.is_none()
            && let Some(tenant_state) = state.tenants.get(tenant)
        {
            let mut walk = SealWalk::new(tenant.as_str(), tenant_state.seals.clone());
            for event in &tenant_state.log {
                if !walk.wants_more() {
                    break;
                }
                walk.event(event.position, &event.hash);
            }
            (report.seals_checked, report.first_broken_seal) = walk.finish();
        }
        report
    }

    fn seal_now(&self, tenant: &TenantId) -> Option<Seal> {
        let mut state = self.state();
        let tenant_state = state.tenants.get_mut(tenant)?;
        loop {
            let last = tenant_state.seals.last().copied();
            let after = last.map_or(GlobalPosition::START, |seal| seal.through);
            let start = tenant_state
                .log
                .partition_point(|event| event.position <= after);
            let stretch = tenant_state
                .log
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take(usize::try_from(MAX_EVENTS_PER_SEAL).unwrap_or(usize::MAX));
            let mut entries = SealEntries::new();
            let mut through = None;
            for event in stretch {
                entries.push(event.position, &event.hash);
                through = Some(event.position);
            }
            let Some(through) = through else {
                return last;
            };
            let previous_hash = last.map_or(EventHash::ZERO, |seal| seal.hash);
            let number = last.map_or(1, |seal| seal.number + 1);
            let event_count = entries.count();
            let hash = seal_hash(
                tenant.as_str(),
                &previous_hash,
                number,
                through,
                event_count,
                &entries.finish(),
            );
            tenant_state.seals.push(Seal {
                number,
                through,
                event_count,
                previous_hash,
                hash,
                sealed_at: to_micros(Utc::now()),
            });
        }
    }

    fn head_manifest_now(&self, tenant: &TenantId) -> HeadManifest {
        let seal = self.seal_now(tenant);
        let state = self.state();
        let streams = state
            .tenants
            .get(tenant)
            .map(|tenant_state| {
                tenant_state
                    .streams
                    .iter()
                    .map(|(stream, head)| StreamHead {
                        stream: stream.as_str().to_owned(),
                        version: head.version,
                        hash: head.last_hash,
                    })
                    .collect()
            })
            .unwrap_or_default();
        HeadManifest::taken_now(tenant.as_str(), seal, streams)
    }

    fn check_manifest(&self, tenant: &TenantId, manifest: &HeadManifest) -> ManifestCheck {
        let mut check = match ManifestCheck::start(tenant.as_str(), manifest) {
            Ok(check) => check,
            Err(foreign) => return foreign,
        };
        let state = self.state();
        let tenant_state = state.tenants.get(tenant);
        for head in &manifest.streams {
            let found = StreamId::new(&head.stream).ok().and_then(|stream| {
                tenant_state.and_then(|tenant_state| tenant_state.streams.get(&stream))
            });
            let hash = found.and_then(|found| {
                found
                    .events
                    .get(to_index(head.version.max(1) - 1))
                    .map(|event| event.hash)
            });
            check.stream(head, found.map(|found| found.version), hash);
        }
        if let Some(seal) = &manifest.seal {
            let stored = tenant_state.and_then(|tenant_state| {
                tenant_state
                    .seals
                    .iter()
                    .find(|stored| stored.number == seal.number)
            });
            check.seal(seal, stored);
        }
        check
    }

    fn save_snapshot_now(&self, tenant: &TenantId, snapshot: &Snapshot) -> Result<(), StoreError> {
        validate_name(NameKind::SnapshotType, &snapshot.snapshot_type)?;
        check_state_depth(&snapshot.state, self.inner.settings.json_depth_limit())?;
        let mut state = self.state();
        let tenant_state = state.tenants.entry(tenant.clone()).or_default();
        let stream_version = tenant_state
            .streams
            .get(&snapshot.stream)
            .map(|head| head.version);
        if snapshot.stream_version > stream_version.unwrap_or(0) {
            return Err(StoreError::SnapshotAheadOfStream {
                stream: snapshot.stream.clone(),
                snapshot_version: snapshot.stream_version,
                stream_version,
            });
        }
        let key = (snapshot.stream.clone(), snapshot.snapshot_type.clone());
        let replace = tenant_state.snapshots.get(&key).is_none_or(|existing| {
            existing.schema_version != snapshot.schema_version
                || existing.stream_version <= snapshot.stream_version
        });
        if replace {
            tenant_state.snapshots.insert(key, snapshot.clone());
        }
        Ok(())
    }

    fn load_snapshot_now(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> Option<Snapshot> {
        let mut state = self.state();
        let snapshots = &mut state.tenants.get_mut(tenant)?.snapshots;
        let key = (stream.clone(), snapshot_type.to_owned());
        match snapshots.get(&key) {
            Some(snapshot) if snapshot.schema_version == schema_version => Some(snapshot.clone()),
            Some(_) => {
                snapshots.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Flips one bit of the stored payload of `stream`'s event at `version`, behind the store's
    /// back, as an attacker with direct storage access would. For tamper-evidence tests only.
    #[cfg(test)]
    fn tamper_payload(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        version: u64,
        byte: usize,
        bit: u8,
    ) {
        let mut state = self.state();
        let Some(tenant_state) = state.tenants.get_mut(tenant) else {
            return;
        };
        let Some(head) = tenant_state.streams.get_mut(stream) else {
            return;
        };
        let Some(event) = head.events.get_mut(to_index(version - 1)) else {
            return;
        };
        let mut changed = (**event).clone();
        let index = byte % changed.payload.len().max(1);
        if let Some(target) = changed.payload.get_mut(index) {
            *target ^= 1 << (bit % 8);
        }
        *event = Arc::new(changed);
    }
}

/// A tenant's state as an import sees it.
impl ImportTarget for &TenantState {
    fn head(&mut self, stream: &StreamId) -> Result<Option<TargetHead>, StoreError> {
        Ok(self.streams.get(stream).map(|head| TargetHead {
            version: head.version,
            hash: head.last_hash,
            recorded_at: head.last_recorded_at,
        }))
    }

    fn stored(
        &mut self,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<(Uuid, EventHash)>, StoreError> {
        Ok(self
            .streams
            .get(stream)
            .and_then(|head| head.events.get(to_index(version.max(1) - 1)))
            .map(|event| (event.id, event.hash)))
    }

    fn id_used(&mut self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.event_ids.contains_key(&id))
    }
}

impl MemoryStore {
    fn import_now(
        &self,
        tenant: &TenantId,
        checked: &[CheckedEvent<'_>],
    ) -> Result<ImportOutcome, StoreError> {
        let mut state = self.state();
        let state = &mut *state;
        let tenant_state = state.tenants.entry(tenant.clone()).or_default();
        let plan = plan_import(checked, &mut &*tenant_state)?;
        if plan.events.is_empty() {
            return Ok(plan.outcome());
        }
        state.last_transaction += 1;
        let transaction = state.last_transaction;
        for event in &plan.events {
            state.last_position += 1;
            let stored = Arc::new(StoredEvent {
                stream: event.stream.clone(),
                version: event.event.version,
                position: GlobalPosition {
                    transaction,
                    position: state.last_position,
                },
                id: event.event.event_id,
                event_type: event.event.event_type.clone(),
                schema_version: event.event.schema_version,
                payload: event.event.payload.as_bytes().to_vec(),
                metadata: event.event.metadata.as_bytes().to_vec(),
                recorded_at: event.recorded_at,
                hash: event.event.hash,
                previous_hash: event.event.previous_hash,
            });
            tenant_state
                .event_ids
                .insert(stored.id, Arc::clone(&stored));
            tenant_state.log.push(Arc::clone(&stored));
            tenant_state
                .streams
                .entry(event.stream.clone())
                .or_insert_with(|| StreamState {
                    events: Vec::new(),
                    version: 0,
                    last_hash: EventHash::ZERO,
                    last_recorded_at: stored.recorded_at,
                })
                .events
                .push(stored);
        }
        for (stream, head) in &plan.heads {
            if let Some(state) = tenant_state.streams.get_mut(stream) {
                state.version = head.version;
                state.last_hash = head.hash;
                state.last_recorded_at = head.recorded_at;
            }
        }
        Ok(plan.outcome())
    }
}

impl HistoryTransfer for MemoryStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let mut tenants: Vec<TenantId> = self
            .state()
            .tenants
            .iter()
            .filter(|(_, tenant_state)| !tenant_state.log.is_empty())
            .map(|(tenant, _)| tenant.clone())
            .collect();
        tenants.sort_unstable();
        Ok(tenants)
    }

    async fn stream_heads(&self, tenant: &TenantId) -> Result<Vec<StreamHead>, StoreError> {
        Ok(self
            .state()
            .tenants
            .get(tenant)
            .map(|tenant_state| {
                tenant_state
                    .streams
                    .iter()
                    .map(|(stream, head)| StreamHead {
                        stream: stream.as_str().to_owned(),
                        version: head.version,
                        hash: head.last_hash,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn exported_event(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<ExportedEvent>, StoreError> {
        let state = self.state();
        state
            .tenants
            .get(tenant)
            .and_then(|tenant_state| tenant_state.streams.get(stream))
            .and_then(|head| head.events.get(to_index(version.max(1) - 1)))
            .filter(|_| version > 0)
            .map(|event| event.raw().exported(tenant))
            .transpose()
    }

    async fn export_history(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let state = self.state();
        let Some(tenant_state) = state.tenants.get(tenant) else {
            return Ok(HistoryPage::default());
        };
        let start = tenant_state
            .log
            .partition_point(|event| event.position <= after);
        Ok(HistoryPage {
            events: tenant_state
                .log
                .iter()
                .skip(start)
                .take(limit)
                .map(|event| event.raw().exported(tenant))
                .collect::<Result<_, _>>()?,
            // Every append commits at once: nothing is ever held back.
            held_by: None,
        })
    }

    async fn import_history(
        &self,
        tenant: &TenantId,
        events: &[ExportedEvent],
    ) -> Result<ImportOutcome, StoreError> {
        let checked = check_batch(tenant, events)?;
        let outcome = self.import_now(tenant, &checked)?;
        if outcome.imported > 0 {
            self.inner
                .signal
                .send_modify(|count| *count = count.wrapping_add(1));
        }
        Ok(outcome)
    }
}

fn to_index(version: u64) -> usize {
    usize::try_from(version).unwrap_or(usize::MAX)
}

impl EventStore for MemoryStore {
    async fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        let batch = encode_batch(&self.inner.settings, tenant, stream, expected, events)?;
        let result = self.append_encoded(tenant, stream, expected, batch)?;
        if !result.events.is_empty() {
            self.inner
                .signal
                .send_modify(|count| *count = count.wrapping_add(1));
        }
        Ok(result)
    }

    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_now(tenant, stream, read)
    }

    async fn stream_version(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .state()
            .tenants
            .get(tenant)
            .and_then(|tenant_state| tenant_state.streams.get(stream))
            .map(|head| head.version))
    }

    async fn stream_versions(
        &self,
        tenant: &TenantId,
        streams: &[StreamId],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let state = self.state();
        let heads = state.tenants.get(tenant).map(|tenant| &tenant.streams);
        Ok(streams
            .iter()
            .map(|stream| {
                heads
                    .and_then(|heads| heads.get(stream))
                    .map(|head| head.version)
            })
            .collect())
    }

    async fn read_all(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<ReadAllPage, StoreError> {
        Ok(self.read_all_now(tenant, after, limit))
    }

    fn append_signal(&self) -> watch::Receiver<u64> {
        self.inner.signal.subscribe()
    }

    async fn save_snapshot(
        &self,
        tenant: &TenantId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        self.save_snapshot_now(tenant, snapshot)
    }

    async fn load_snapshot(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.load_snapshot_now(tenant, stream, snapshot_type, schema_version))
    }

    async fn verify(&self, tenant: &TenantId) -> Result<VerifyReport, StoreError> {
        Ok(self.verify_now(tenant, None))
    }

    async fn verify_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<VerifyReport, StoreError> {
        Ok(self.verify_now(tenant, Some(stream)))
    }

    async fn seal(&self, tenant: &TenantId) -> Result<Option<Seal>, StoreError> {
        Ok(self.seal_now(tenant))
    }

    async fn seals(&self, tenant: &TenantId) -> Result<Vec<Seal>, StoreError> {
        Ok(self
            .state()
            .tenants
            .get(tenant)
            .map(|tenant_state| tenant_state.seals.clone())
            .unwrap_or_default())
    }

    async fn head_manifest(&self, tenant: &TenantId) -> Result<HeadManifest, StoreError> {
        Ok(self.head_manifest_now(tenant))
    }

    async fn verify_against(
        &self,
        tenant: &TenantId,
        manifest: &HeadManifest,
    ) -> Result<VerifyReport, StoreError> {
        let mut report = self.verify_now(tenant, None);
        let check = self.check_manifest(tenant, manifest);
        report.manifest_problems = check.problems;
        report.manifest_problem_count = check.count;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::LinkProblem;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    proptest! {
        /// Any single-bit change to any stored payload byte is found, at exactly that event.
        #[test]
        fn verify_finds_any_single_bit_change(
            sizes in proptest::collection::vec(1_usize..4, 1..4),
            pick in any::<prop::sample::Index>(),
            byte in any::<usize>(),
            bit in 0_u8..8,
        ) {
            let store = MemoryStore::default();
            let tenant = TenantId::new("acme").unwrap();
            let stream = StreamId::new("s").unwrap();
            let total: usize = sizes.iter().sum();
            block_on(async {
                for (batch, size) in sizes.iter().enumerate() {
                    let events: Vec<_> = (0..*size)
                        .map(|n| NewEvent::new("Noted", 1, json!({ "batch": batch, "n": n, "text": "héllo" })))
                        .collect();
                    store.append(&tenant, &stream, ExpectedVersion::Any, &events).await.unwrap();
                }
                prop_assert!(store.verify(&tenant).await.unwrap().is_intact());
                let version = u64::try_from(pick.index(total)).unwrap() + 1;
                store.tamper_payload(&tenant, &stream, version, byte, bit);
                let report = store.verify(&tenant).await.unwrap();
                let broken = report.first_broken.expect("the change is found");
                prop_assert_eq!(broken.version, version);
                prop_assert!(matches!(broken.problem, LinkProblem::HashMismatch { .. }), "a hash mismatch is reported");
                Ok(())
            })?;
        }
    }
}
