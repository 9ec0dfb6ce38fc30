//! A version-checked, in-process cache of recently used streams' states ([`StreamCache`]), so
//! that a load-decide-append on a hot stream costs one round trip (the append) instead of two.
//!
//! The cache is an optimisation, never a source of truth. Every outcome of
//! [`StreamCache::decide_and_append`] is checked against the store: an append carries
//! [`ExpectedVersion::Exact`] of the cached version, so the store's optimistic check refuses it
//! when another writer (another process, another cache) got there first; the cache then reads
//! only the events it missed, and the caller's decision is made again on the current state. A
//! decision that appends nothing, or refuses, is confirmed by a version check before it is
//! returned, since a stale state could have decided otherwise.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::codec::{RawEvent, encode_batch};
use crate::hash::chain_hash;
use crate::{
    AppendResult, EventHash, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
    StoreSettings, StreamId, StreamRead, TenantId,
};

/// Events read per round trip when a stream is loaded or caught up: bounds the memory a load of
/// a long stream holds on top of the state itself.
const LOAD_PAGE: usize = 1000;

/// How many times [`StreamCache::decide_and_append`] decides by default before giving up on a
/// stream other writers keep moving.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// A state folded from one stream's events, oldest first, such as an aggregate.
///
/// `Default` is the state of a stream with no events. [`apply`](Self::apply) never fails: a
/// recorded event is a fact, and it must be deterministic, since the cache folds appended events
/// into a copy it already has while a fresh load folds them from the store, and both must agree.
pub trait StreamState: Clone + Default + Send + Sync + 'static {
    /// Folds the stream's next event into the state.
    fn apply(&mut self, event: &RecordedEvent);
}

/// The events themselves, for callers that keep the history rather than a folded state.
impl StreamState for Vec<RecordedEvent> {
    fn apply(&mut self, event: &RecordedEvent) {
        self.push(event.clone());
    }
}

/// A stream's state as the cache holds it: shared, with the version it was folded up to.
#[derive(Debug)]
pub struct CachedState<T> {
    /// The state after folding events 1 to `version`.
    pub state: Arc<T>,
    /// The last event folded in (0: the stream has no events).
    pub version: u64,
}

impl<T> Clone for CachedState<T> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            version: self.version,
        }
    }
}

/// What the cache has done since it was made, to check that it earns its keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Loads served from memory.
    pub hits: u64,
    /// Loads that read the whole stream from the store.
    pub misses: u64,
    /// Appends (and confirmations of no-op or refused decisions) that found the cached version
    /// stale, each followed by a catch-up read and a new decision.
    pub conflicts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    conflicts: AtomicU64,
}

type Key = (TenantId, StreamId);

#[derive(Debug)]
struct Entry<T> {
    state: Arc<T>,
    version: u64,
    /// The hash of event `version`, the previous hash of the next event: lets the cache compute
    /// the exact [`RecordedEvent`]s of its own appends, and notice a store that is not the one
    /// it loaded from.
    last_hash: EventHash,
    last_used: u64,
}

impl<T> Entry<T> {
    fn cached(&self) -> CachedState<T> {
        CachedState {
            state: Arc::clone(&self.state),
            version: self.version,
        }
    }
}

/// The entries, with their order of use for evicting the least recently used.
#[derive(Debug)]
struct Entries<T> {
    map: HashMap<Key, Entry<T>>,
    by_use: BTreeMap<u64, Key>,
    clock: u64,
}

impl<T> Entries<T> {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn get(&mut self, key: &Key) -> Option<&Entry<T>> {
        let now = self.tick();
        let entry = self.map.get_mut(key)?;
        self.by_use.remove(&entry.last_used);
        entry.last_used = now;
        self.by_use.insert(now, key.clone());
        Some(entry)
    }

    fn take(&mut self, key: &Key) -> Option<Entry<T>> {
        let entry = self.map.remove(key)?;
        self.by_use.remove(&entry.last_used);
        Some(entry)
    }

    /// Keeps `entry` unless the cache already holds the stream at the same or a later version
    /// (folded by someone else meanwhile), then evicts down to `capacity`. Returns what the
    /// cache now says about the stream.
    fn offer(&mut self, key: Key, mut entry: Entry<T>, capacity: usize) -> CachedState<T> {
        let now = self.tick();
        let cached = match self.map.get_mut(&key) {
            Some(existing) if existing.version >= entry.version => {
                self.by_use.remove(&existing.last_used);
                existing.last_used = now;
                existing.cached()
            }
            _ => {
                if let Some(replaced) = self.map.remove(&key) {
                    self.by_use.remove(&replaced.last_used);
                }
                entry.last_used = now;
                let cached = entry.cached();
                self.map.insert(key.clone(), entry);
                cached
            }
        };
        self.by_use.insert(now, key);
        while self.map.len() > capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
        cached
    }
}

/// A version-checked cache of recently used streams' folded states in front of a store.
///
/// [`load`](Self::load) serves a stream from memory once it has been read;
/// [`decide_and_append`](Self::decide_and_append) runs a caller's decision on the cached state
/// and appends its events with [`ExpectedVersion::Exact`] of the cached version, folding them
/// into the cache on success. A cache that missed other writers' appends is caught by the
/// store's version check; it then reads just the missed events and decides again. So the cache
/// can be stale, but never wrong about what it appends, and correctness never depends on it.
///
/// At most `capacity` streams are kept, the least recently used evicted first. Make one cache
/// per store and per kind of state. Loads from the cache may lag other processes' appends: call
/// [`refresh`](Self::refresh) for a read that must see them.
pub struct StreamCache<S, T> {
    store: S,
    settings: StoreSettings,
    capacity: usize,
    max_attempts: u32,
    entries: Mutex<Entries<T>>,
    counters: Counters,
}

impl<S, T> fmt::Debug for StreamCache<S, T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("StreamCache")
            .field("capacity", &self.capacity)
            .field("max_attempts", &self.max_attempts)
            .field(
                "len",
                &self.entries.lock().map_or(0, |entries| entries.map.len()),
            )
            .finish_non_exhaustive()
    }
}

impl<S: EventStore, T: StreamState> StreamCache<S, T> {
    /// A cache of at most `capacity` streams in front of `store`.
    ///
    /// `settings` must be the store's own ([`StoreSettings`]): the cache encodes and upcasts
    /// the events it appends with them, exactly as the store would on a read. A capacity of 0
    /// keeps nothing (every call reads from the store).
    pub fn new(store: S, settings: StoreSettings, capacity: usize) -> Self {
        Self {
            store,
            settings,
            capacity,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                by_use: BTreeMap::new(),
                clock: 0,
            }),
            counters: Counters::default(),
        }
    }

    /// The same cache deciding at most `attempts` times (at least once) per
    /// [`decide_and_append`](Self::decide_and_append).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The store behind the cache.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// How many streams the cache holds.
    pub fn len(&self) -> usize {
        self.entries().map.len()
    }

    /// Whether the cache holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters since the cache was made.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            conflicts: self.counters.conflicts.load(Ordering::Relaxed),
        }
    }

    /// Whether the cache holds the stream (without counting a hit or a miss).
    pub fn contains(&self, tenant: &TenantId, stream: &StreamId) -> bool {
        self.entries()
            .map
            .contains_key(&(tenant.clone(), stream.clone()))
    }

    /// Forgets one stream; its next load reads it from the store.
    pub fn invalidate(&self, tenant: &TenantId, stream: &StreamId) {
        self.entries().take(&(tenant.clone(), stream.clone()));
    }

    /// Forgets every stream.
    pub fn clear(&self) {
        let mut entries = self.entries();
        entries.map.clear();
        entries.by_use.clear();
    }

    /// The stream's state: from memory when cached (no round trip, possibly behind other
    /// processes' appends), otherwise folded from the whole stream read from the store, then
    /// cached.
    pub async fn load(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<CachedState<T>, StoreError> {
        let key = (tenant.clone(), stream.clone());
        if let Some(entry) = self.entries().get(&key) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(entry.cached());
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            state: Arc::new(T::default()),
            version: 0,
            last_hash: EventHash::ZERO,
            last_used: 0,
        };
        self.catch_up(key, entry).await
    }

    /// The stream's state brought up to date with the store: the cached state with the events
    /// appended since folded in (one round trip when nothing is new), or a full load when the
    /// stream is not cached.
    pub async fn refresh(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<CachedState<T>, StoreError> {
        let key = (tenant.clone(), stream.clone());
        // The entry stays in the cache while the store is read: other tasks keep finding the
        // stream (a stream every task refreshes, such as a team offering every lead, would
        // otherwise look missing most of the time and be read whole by each of them). The
        // newer of the two folds wins when this one is offered back.
        let cached = self.entries().get(&key).map(|entry| Entry {
            state: Arc::clone(&entry.state),
            version: entry.version,
            last_hash: entry.last_hash,
            last_used: 0,
        });
        match cached {
            Some(entry) => self.catch_up(key, entry).await,
            None => self.load(tenant, stream).await,
        }
    }

    /// [`refresh`](Self::refresh) for several streams at once, answered in the order given:
    /// one question to the store for their versions ([`EventStore::stream_versions`]), then a
    /// read only of those the cache does not hold or holds behind the store. For a caller that
    /// needs many small streams current at once (a team's reps, asked for every lead routed),
    /// which would otherwise cost a round trip each even when nothing moved.
    pub async fn refresh_each(
        &self,
        tenant: &TenantId,
        streams: &[StreamId],
    ) -> Result<Vec<CachedState<T>>, StoreError> {
        let versions = self.store.stream_versions(tenant, streams).await?;
        let mut states = Vec::with_capacity(streams.len());
        for (stream, version) in streams.iter().zip(versions) {
            let key = (tenant.clone(), stream.clone());
            let current = self
                .entries()
                .get(&key)
                .filter(|entry| entry.version >= version.unwrap_or(0))
                .map(Entry::cached);
            match current {
                Some(current) => {
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                    states.push(current);
                }
                None => states.push(self.refresh(tenant, stream).await?),
            }
        }
        Ok(states)
    }

    /// Loads the stream's state, lets `decide` turn it into events, and appends them if the
    /// stream is still at the version decided on; on a version conflict, catches up and decides
    /// again, at most `max_attempts` times in all.
    ///
    /// `decide` may run more than once, each time on a newer state: it must not have side
    /// effects, and should mint fresh event ids (as [`NewEvent::new`] does). An empty decision
    /// appends nothing and returns the stream's version; an error from `decide` is returned as
    /// is. Both are first confirmed with a version check (one light round trip), and decided
    /// again if the cached state turns out stale, so no outcome rests on a stale state.
    ///
    /// Fails with the store's error (converted into `E`): [`StoreError::VersionConflict`] when
    /// other writers moved the stream at every attempt (the stream stays cached, behind them,
    /// and catches up on its next refresh). After any other store error the stream is
    /// forgotten, since an append lost with its connection may or may not have committed.
    pub async fn decide_and_append<E, D>(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        mut decide: D,
    ) -> Result<AppendResult, E>
    where
        E: From<StoreError>,
        D: FnMut(&T) -> Result<Vec<NewEvent>, E>,
    {
        let mut cached = self.load(tenant, stream).await?;
        let mut attempt = 1;
        loop {
            let expected = ExpectedVersion::Exact(cached.version);
            let error = match decide(&cached.state) {
                Ok(events) if !events.is_empty() => {
                    match self.store.append(tenant, stream, expected, &events).await {
                        Ok(result) => {
                            self.record_committed(
                                tenant, stream, cached, expected, &events, &result,
                            );
                            return Ok(result);
                        }
                        Err(error) => error,
                    }
                }
                // Nothing to append, or refused: only valid if the state decided on is current.
                decision => match self.store.stream_version(tenant, stream).await {
                    Ok(actual) if expected.admits(actual) => {
                        return decision.map(|_| AppendResult {
                            stream_version: cached.version,
                            events: Vec::new(),
                            recorded_at: None,
                        });
                    }
                    Ok(actual) => StoreError::VersionConflict {
                        stream: stream.clone(),
                        expected,
                        actual,
                    },
                    Err(error) => error,
                },
            };
            let conflict = matches!(error, StoreError::VersionConflict { .. });
            if conflict {
                self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            if !conflict {
                // The append may or may not have committed with its connection: read it again.
                self.invalidate(tenant, stream);
                return Err(error.into());
            }
            if attempt >= self.max_attempts {
                // Out of attempts, the cached state is still a faithful fold of the stream at
                // its version: kept, so the next refresh reads just what is new, not the whole
                // stream (which for a stream many writers share is what keeps them slow).
                return Err(error.into());
            }
            attempt += 1;
            drop(cached);
            cached = self.refresh(tenant, stream).await?;
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries<T>> {
        // Nothing runs under this lock but map bookkeeping and folding an append's decoded
        // events into a taken entry (which goes back only when the fold completes), so a
        // poisoned lock still guards consistent entries.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds the events after `entry.version` into `entry` and offers it back to the cache.
    async fn catch_up(&self, key: Key, entry: Entry<T>) -> Result<CachedState<T>, StoreError> {
        let (tenant, stream) = &key;
        let Entry {
            state: shared,
            mut version,
            mut last_hash,
            ..
        } = entry;
        // Copied (when others hold it too) only once there is something new to fold in.
        let mut shared = Some(shared);
        let mut folded: Option<T> = None;
        'pages: loop {
            let page = self
                .store
                .read_stream(
                    tenant,
                    stream,
                    StreamRead::forward()
                        .from_version(version + 1)
                        .limit(LOAD_PAGE),
                )
                .await?;
            for event in &page {
                if event.version != version + 1 || event.previous_hash != last_hash {
                    if version == 0 {
                        return Err(StoreError::CorruptRow {
                            location: format!("tenant {tenant}, stream {stream}"),
                            reason: format!(
                                "read version {} with previous hash {} where version 1 was expected",
                                event.version, event.previous_hash
                            ),
                        });
                    }
                    // Not the continuation of what was folded, so the state did not come from
                    // this store's stream: fold the stream again from its first event.
                    folded = Some(T::default());
                    shared = None;
                    version = 0;
                    last_hash = EventHash::ZERO;
                    continue 'pages;
                }
                folded
                    .get_or_insert_with(|| {
                        shared.take().map(Arc::unwrap_or_clone).unwrap_or_default()
                    })
                    .apply(event);
                version = event.version;
                last_hash = event.hash;
            }
            if page.len() < LOAD_PAGE {
                break;
            }
        }
        let state = match (folded, shared) {
            (Some(folded), _) => Arc::new(folded),
            (None, Some(shared)) => shared,
            (None, None) => Arc::new(T::default()),
        };
        let entry = Entry {
            state,
            version,
            last_hash,
            last_used: 0,
        };
        Ok(self.entries().offer(key, entry, self.capacity))
    }

    /// Folds the events an append just committed into the cached state, computing the exact
    /// records the store now holds (hashes chained from the cached last hash, the store's
    /// recording time), so the cache agrees with a fresh load without reading anything back.
    /// When that cannot be done faithfully the stream is forgotten instead.
    ///
    /// [`decide_and_append`](Self::decide_and_append) calls it after its own appends; a caller
    /// that appends through its own transaction (a unit of work committing other rows with the
    /// events) calls it after the commit, with the state it decided on (from
    /// [`load`](Self::load) or [`refresh`](Self::refresh)), the expected version and events it
    /// appended and the store's answer. Never call it for an append that did not commit.
    pub fn record_committed(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        decided_on: CachedState<T>,
        expected: ExpectedVersion,
        events: &[NewEvent],
        result: &AppendResult,
    ) {
        let key = (tenant.clone(), stream.clone());
        let decided_version = decided_on.version;
        // Dropped before taking the entry, so the state is usually folded in place, not copied.
        drop(decided_on);
        // Encoded and decoded before the lock is taken: only the fold itself runs under it.
        let appended = self.decode_appended(tenant, stream, expected, events, result);
        // The entry is taken out, folded and put back under one hold of the lock: a load
        // arriving meanwhile must never find the stream missing, or it reads the whole stream
        // again (for a stream every task writes, such as a team offering every lead, that
        // happened every few appends and cost more than everything else together).
        let mut entries = self.entries();
        let entry = match entries.take(&key) {
            Some(entry) if entry.version == decided_version => entry,
            // A stream created by this append, decided on the empty state without a load:
            // folded from the empty state, exactly as a load would.
            None if decided_version == 0 => Entry {
                state: Arc::new(T::default()),
                version: 0,
                last_hash: EventHash::ZERO,
                last_used: 0,
            },
            // Moved on by another task meanwhile (it read this append, and perhaps later ones,
            // from the store): still a faithful fold of the stream at its version, so it stays.
            // Dropping it would make the next load read the whole stream again, which for a
            // stream every task writes (a team that offers every lead) is each time.
            Some(entry) => {
                entries.offer(key, entry, self.capacity);
                return;
            }
            // Evicted: the next load reads the store.
            None => return,
        };
        // When the append cannot be folded faithfully, the entry stays out of the cache.
        if let Some(entry) = appended.and_then(|appended| Self::fold_appended(entry, appended)) {
            entries.offer(key, entry, self.capacity);
        }
    }

    /// The records an append just committed, as a read would return them except for their
    /// hashes (which chain from the cached last hash, so [`fold_appended`](Self::fold_appended)
    /// computes them), with each event's digest; `None` when they cannot be rebuilt faithfully.
    fn decode_appended(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        result: &AppendResult,
    ) -> Option<Vec<(RecordedEvent, [u8; 32])>> {
        let recorded_at = result.recorded_at?;
        let batch = encode_batch(&self.settings, tenant, stream, expected, events).ok()?;
        if batch.events.len() != result.events.len() {
            return None;
        }
        batch
            .events
            .iter()
            .zip(&result.events)
            .map(|(encoded, appended)| {
                if appended.event_id != encoded.id {
                    return None;
                }
                let raw = RawEvent {
                    stream: stream.as_str(),
                    version: appended.version,
                    position: appended.position,
                    id: encoded.id,
                    event_type: &encoded.event_type,
                    schema_version: encoded.schema_version,
                    payload: &encoded.payload,
                    metadata: &encoded.metadata,
                    recorded_at,
                    hash: &EventHash::ZERO.0,
                    previous_hash: &EventHash::ZERO.0,
                };
                let event = raw
                    .decode(tenant, stream.clone(), &self.settings.upcasters)
                    .ok()?;
                Some((event, encoded.digest))
            })
            .collect()
    }

    /// Folds the appended records into `entry`, chaining their hashes from its last hash, so
    /// the cache agrees with a fresh load without reading anything back; `None` when they do
    /// not continue the entry's version.
    fn fold_appended(
        entry: Entry<T>,
        appended: Vec<(RecordedEvent, [u8; 32])>,
    ) -> Option<Entry<T>> {
        let Entry {
            state,
            mut version,
            mut last_hash,
            ..
        } = entry;
        let mut state = Arc::unwrap_or_clone(state);
        for (mut event, digest) in appended {
            if event.version != version + 1 {
                return None;
            }
            let hash = chain_hash(&last_hash, event.version, event.recorded_at, &digest);
            event.previous_hash = last_hash;
            event.hash = hash;
            state.apply(&event);
            version = event.version;
            last_hash = hash;
        }
        Some(Entry {
            state: Arc::new(state),
            version,
            last_hash,
            last_used: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use serde_json::json;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn stream(name: &str) -> StreamId {
        StreamId::new(name).unwrap()
    }

    fn cache(capacity: usize) -> StreamCache<MemoryStore, Vec<RecordedEvent>> {
        StreamCache::new(MemoryStore::default(), StoreSettings::default(), capacity)
    }

    #[tokio::test]
    async fn the_least_recently_used_stream_is_evicted_first() {
        let cache = cache(2);
        cache.load(&tenant(), &stream("a")).await.unwrap();
        cache.load(&tenant(), &stream("b")).await.unwrap();
        cache.load(&tenant(), &stream("a")).await.unwrap();
        cache.load(&tenant(), &stream("c")).await.unwrap();
        assert_eq!(cache.len(), 2);
        cache.load(&tenant(), &stream("a")).await.unwrap();
        cache.load(&tenant(), &stream("b")).await.unwrap();
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 2,
                misses: 4,
                conflicts: 0
            }
        );
    }

    #[tokio::test]
    async fn a_cache_of_capacity_zero_keeps_nothing_and_still_appends() {
        let cache = cache(0);
        for n in 0..3 {
            cache
                .decide_and_append::<StoreError, _>(&tenant(), &stream("a"), |_| {
                    Ok(vec![NewEvent::new("Noted", 1, json!({ "n": n }))])
                })
                .await
                .unwrap();
        }
        assert!(cache.is_empty());
        assert_eq!(
            cache.load(&tenant(), &stream("a")).await.unwrap().version,
            3
        );
    }

    #[tokio::test]
    async fn an_append_creating_a_stream_elsewhere_is_cached_as_a_load_would_be() {
        let cache = cache(10);
        let (tenant, created) = (tenant(), stream("created"));
        assert!(!cache.contains(&tenant, &created));
        let events = vec![NewEvent::new("Noted", 1, json!({ "n": 1 }))];
        let result = cache
            .store()
            .append(&tenant, &created, ExpectedVersion::Exact(0), &events)
            .await
            .unwrap();
        let empty = CachedState {
            state: Arc::new(Vec::new()),
            version: 0,
        };
        cache.record_committed(
            &tenant,
            &created,
            empty,
            ExpectedVersion::Exact(0),
            &events,
            &result,
        );
        assert!(cache.contains(&tenant, &created));
        let cached = cache.load(&tenant, &created).await.unwrap();
        let fresh = cache
            .store()
            .read_stream(&tenant, &created, StreamRead::forward())
            .await
            .unwrap();
        assert_eq!(cached.version, 1);
        assert_eq!(*cached.state, fresh, "the same records a fresh load reads");
        assert_eq!(cache.stats().hits, 1);
    }

    #[tokio::test]
    async fn a_long_stream_loads_in_pages() {
        let cache = cache(4);
        let events: Vec<NewEvent> = (0..(LOAD_PAGE as u64 * 2 + 5))
            .map(|n| NewEvent::new("Noted", 1, json!({ "n": n })))
            .collect();
        cache
            .store()
            .append(
                &tenant(),
                &stream("long"),
                ExpectedVersion::NoStream,
                &events,
            )
            .await
            .unwrap();
        let loaded = cache.load(&tenant(), &stream("long")).await.unwrap();
        assert_eq!(loaded.version, LOAD_PAGE as u64 * 2 + 5);
        assert!(
            loaded
                .state
                .iter()
                .zip(1..)
                .all(|(event, version)| event.version == version)
        );
    }
}
