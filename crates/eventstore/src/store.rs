//! The port: the [`EventStore`] trait every backend implements, with its request and answer types.
//!
//! Nothing here names a database. Every call takes a [`TenantId`] and touches only that tenant.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use crate::depth::MAX_JSON_DEPTH;
use crate::seal::{BrokenSeal, HeadManifest, ManifestProblem, Seal};
use crate::{
    AppendResult, EventHash, ExpectedVersion, GlobalPosition, NewEvent, RecordedEvent, StoreError,
    StreamId, Subscription, SubscriptionOptions, TenantId, Upcasters,
};

/// The default [`StoreSettings::max_event_bytes`]: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Settings every backend shares.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The largest event accepted, counting its payload and metadata bytes as stored.
    pub max_event_bytes: usize,
    /// The upcasters applied on every read.
    pub upcasters: Arc<Upcasters>,
    /// The deepest JSON nesting accepted in a payload, in metadata or in a snapshot state;
    /// anything deeper is refused with [`StoreError::TooDeep`] before it is serialized.
    /// Values above [`MAX_JSON_DEPTH`] count as [`MAX_JSON_DEPTH`], so whatever is accepted
    /// can always be read back.
    pub max_json_depth: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            upcasters: Arc::new(Upcasters::new()),
            max_json_depth: MAX_JSON_DEPTH,
        }
    }
}

impl StoreSettings {
    /// The same settings with another event size limit.
    #[must_use]
    pub fn with_max_event_bytes(mut self, limit: usize) -> Self {
        self.max_event_bytes = limit;
        self
    }

    /// The same settings with another JSON depth limit (at most [`MAX_JSON_DEPTH`]).
    #[must_use]
    pub fn with_max_json_depth(mut self, limit: usize) -> Self {
        self.max_json_depth = limit.min(MAX_JSON_DEPTH);
        self
    }

    /// The depth limit in force: the configured one, never above [`MAX_JSON_DEPTH`].
    pub(crate) fn json_depth_limit(&self) -> usize {
        self.max_json_depth.min(MAX_JSON_DEPTH)
    }

    /// The same settings with these upcasters, after their start-up check
    /// ([`Upcasters::check`]).
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Result<Self, StoreError> {
        upcasters.check()?;
        self.upcasters = Arc::new(upcasters);
        Ok(self)
    }
}

/// Which way a stream read walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first.
    Backward,
}

/// Which state of a stream a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Everything committed.
    Now,
    /// The stream as it was when it reached this version.
    Version(u64),
    /// The stream as it was at this instant: the events recorded at or before it (a prefix of
    /// the stream, since recorded times never decrease within a stream).
    Time(DateTime<Utc>),
}

/// A request to read one stream: direction, starting version, count and point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRead {
    /// Which way to walk.
    pub direction: Direction,
    /// The first version returned (inclusive); `None`: the start (forward) or the end (backward).
    pub from: Option<u64>,
    /// At most this many events.
    pub limit: usize,
    /// Which state of the stream to read.
    pub as_of: AsOf,
}

impl StreamRead {
    /// The whole stream, oldest first.
    pub fn forward() -> Self {
        Self {
            direction: Direction::Forward,
            from: None,
            limit: usize::MAX,
            as_of: AsOf::Now,
        }
    }

    /// The whole stream, newest first.
    pub fn backward() -> Self {
        Self {
            direction: Direction::Backward,
            ..Self::forward()
        }
    }

    /// Starts at this version (inclusive).
    #[must_use]
    pub fn from_version(mut self, version: u64) -> Self {
        self.from = Some(version);
        self
    }

    /// Returns at most `limit` events.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Reads the stream as it was at `version`.
    #[must_use]
    pub fn as_of_version(mut self, version: u64) -> Self {
        self.as_of = AsOf::Version(version);
        self
    }

    /// Reads the stream as it was at instant `at`.
    #[must_use]
    pub fn as_of_time(mut self, at: DateTime<Utc>) -> Self {
        self.as_of = AsOf::Time(at);
        self
    }

    /// The inclusive version range this read covers, given the last version visible as of its
    /// point in time, in walking order's terms: `(low, high)`; empty when `low > high`.
    pub(crate) fn version_range(&self, visible_head: u64) -> (u64, u64) {
        let head = match self.as_of {
            AsOf::Version(version) => version.min(visible_head),
            AsOf::Now | AsOf::Time(_) => visible_head,
        };
        match self.direction {
            Direction::Forward => (self.from.unwrap_or(1).max(1), head),
            Direction::Backward => (1, self.from.map_or(head, |from| from.min(head))),
        }
    }
}

/// One page of a tenant's events in global order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAllPage {
    /// The events after the requested checkpoint, in global order.
    pub events: Vec<RecordedEvent>,
    /// Stored events within this page that could not be decoded (JSON the parser refuses, a
    /// payload no upcaster carries forward, a malformed stored field), in global order. The
    /// page passes over them so that one bad row never stalls a tenant: report them, and park
    /// them where a person can see and replay them ([`crate::Subscription`] keeps them for its
    /// consumer; the projections' runner parks them).
    pub unreadable: Vec<UnreadableEvent>,
    /// The checkpoint to pass for the next page: the position of the page's last row (an event
    /// or an unreadable one), or the requested checkpoint when the page is empty.
    pub next: GlobalPosition,
    /// When committed events exist beyond this page but cannot be delivered yet because an
    /// older transaction is still open: that transaction's id ("held at transaction X", as
    /// opposed to ordinary lag). Only reported on an empty page, judged by the same snapshot
    /// as the page itself: an empty page (no events, none unreadable) with `held_by` `None`
    /// means caught up.
    pub held_by: Option<u64>,
}

impl ReadAllPage {
    /// How many stored rows the page covers: its events and its unreadable events.
    pub fn len(&self) -> usize {
        self.events.len() + self.unreadable.len()
    }

    /// Whether the page covers no stored row at all.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.unreadable.is_empty()
    }

    /// The page's rows, events and unreadable events merged in global order.
    pub fn into_entries(self) -> Vec<PageEntry> {
        let mut entries = Vec::with_capacity(self.len());
        let mut unreadable = self.unreadable.into_iter().peekable();
        for event in self.events {
            while let Some(bad) = unreadable.next_if(|bad| bad.position < event.position) {
                entries.push(PageEntry::Unreadable(bad));
            }
            entries.push(PageEntry::Event(event));
        }
        entries.extend(unreadable.map(PageEntry::Unreadable));
        entries
    }
}

/// One row of a [`ReadAllPage`], in global order.
// Events are the common case and the large one: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum PageEntry {
    /// A decoded event.
    Event(RecordedEvent),
    /// A stored event that could not be decoded.
    Unreadable(UnreadableEvent),
}

impl PageEntry {
    /// The row's place in the global order.
    pub fn position(&self) -> GlobalPosition {
        match self {
            Self::Event(event) => event.position,
            Self::Unreadable(event) => event.position,
        }
    }
}

/// A stored event that a read could not decode, with where it is and why.
///
/// Its stored bytes are untouched (and still covered by its stream's hash chain); it can be
/// read again once the cause is fixed (an upcaster added, say), and
/// [`EventStore::verify`] counts such rows in [`VerifyReport::unreadable_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableEvent {
    /// Its stream's name as stored (kept as text: a malformed name is one reason a row may be
    /// unreadable).
    pub stream: String,
    /// Its version in the stream.
    pub version: u64,
    /// Its place in the tenant's global order.
    pub position: GlobalPosition,
    /// Its id.
    pub id: Uuid,
    /// Its type as stored.
    pub event_type: String,
    /// The schema version it was stored with.
    pub stored_schema_version: u16,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Why it could not be decoded.
    pub reason: String,
}

/// A saved state of one stream, to shorten replays. Never needed for correctness.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The stream.
    pub stream: StreamId,
    /// What kind of state this is (several projections of one stream may each keep one).
    pub snapshot_type: String,
    /// The state's schema version; a snapshot of another version is discarded on load.
    pub schema_version: u16,
    /// The last stream version folded into the state.
    pub stream_version: u64,
    /// The state.
    pub state: Value,
}

/// What is wrong at a [`BrokenLink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// The stored hash is not the hash of the stored bytes.
    HashMismatch {
        /// The hash found in the row.
        stored: EventHash,
        /// The hash of the row's bytes.
        computed: EventHash,
    },
    /// The stored previous hash is not the previous event's hash.
    PreviousHashMismatch {
        /// The previous hash found in the row.
        stored: EventHash,
        /// The previous event's hash.
        expected: EventHash,
    },
    /// A version is missing before this one.
    VersionGap {
        /// The version that should have come next.
        expected: u64,
    },
    /// The stream's head names a version or hash that its last event does not have (events
    /// removed from the end, or the head rewritten).
    HeadMismatch {
        /// The head's version.
        head_version: u64,
        /// The last event's version found (0: none).
        last_event_version: u64,
    },
    /// An event sits before its stream's previous event in the global order (positions
    /// rewritten: a stream's versions and its events' global order always agree).
    OutOfGlobalOrder {
        /// The previous event's position.
        previous: GlobalPosition,
        /// This event's position.
        position: GlobalPosition,
    },
    /// An event whose stream has no head row.
    NoStreamHead,
    /// A stored field is unreadable (a hash that is not 32 bytes, say).
    Unreadable {
        /// What is unreadable.
        reason: String,
    },
}

/// The first place where a hash chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The tenant.
    pub tenant: TenantId,
    /// The stream.
    pub stream: StreamId,
    /// The version at which the chain breaks.
    pub version: u64,
    /// The event at that version, when there is one.
    pub event_id: Option<Uuid>,
    /// What is wrong there.
    pub problem: LinkProblem,
}

/// The outcome of walking a tenant's (or a stream's) hash chains.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Streams whose chains were checked in full.
    pub streams_checked: u64,
    /// Events checked.
    pub events_checked: u64,
    /// The first broken link, in (stream, version) order; `None` when every chain holds.
    pub first_broken: Option<BrokenLink>,
    /// Events whose chains hold but whose stored payload or metadata the read paths cannot
    /// parse (rows written before the depth limit, or altered consistently with their
    /// hashes). Reads pass over them as [`UnreadableEvent`]s.
    pub unreadable_events: u64,
    /// The first of those, in (stream, version) order.
    pub first_unreadable: Option<UnreadableEvent>,
    /// Seals over the global order recomputed from the events and found matching (a tenant's
    /// `verify` only; see [`crate::seal`]).
    pub seals_checked: u64,
    /// The first seal that does not match the events now in its range.
    pub first_broken_seal: Option<BrokenSeal>,
    /// What a head manifest names that the store no longer has as it was
    /// ([`EventStore::verify_against`] only; at most the first 100).
    pub manifest_problems: Vec<ManifestProblem>,
    /// How many manifest problems there are in all.
    pub manifest_problem_count: u64,
}

impl VerifyReport {
    /// Whether every chain walked is intact, every seal matches and nothing a manifest names
    /// is missing or changed.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
            && self.first_broken_seal.is_none()
            && self.manifest_problem_count == 0
    }

    /// Whether every chain is intact and every event walked can be read back.
    pub fn is_sound(&self) -> bool {
        self.is_intact() && self.unreadable_events == 0
    }
}

/// An append-only store of typed, versioned JSON events in streams, per tenant.
///
/// Guarantees every backend keeps (the conformance suite in `tests/conformance/` checks each):
/// - an append is atomic: all of its events are stored, or none;
/// - the expected version is checked before anything is written; losers get
///   [`StoreError::VersionConflict`] naming the actual version;
/// - versions within a stream run 1, 2, 3… without gaps or duplicates;
/// - [`read_all`](Self::read_all) returns a tenant's events in one global order in which no
///   event ever appears after a reader has passed its position;
/// - no call returns or changes another tenant's data;
/// - nothing panics on any input.
pub trait EventStore: Send + Sync {
    /// Appends `events` to `stream` in one atomic batch, if the stream's version satisfies
    /// `expected`.
    ///
    /// An empty batch writes nothing and returns the stream's version (after checking
    /// `expected`). If the events carry an idempotency key (all the same one, in their
    /// metadata) and the tenant already committed an append with that key, nothing is written:
    /// the first append's result is returned when its content (stream, expected version, event
    /// ids, types, schema versions and payloads) is the same, and
    /// [`StoreError::IdempotencyConflict`] otherwise.
    fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    /// Reads events of one stream, upcast to current schema versions. A stream that does not
    /// exist reads as empty.
    fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The stream's current version, `None` when it does not exist.
    fn stream_version(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The current versions of `streams`, in the order given (`None` for one that does not
    /// exist): what a cache of many streams asks to learn which of them moved, in one round
    /// trip where the backend can (the default asks [`stream_version`](Self::stream_version)
    /// once per stream).
    fn stream_versions(
        &self,
        tenant: &TenantId,
        streams: &[StreamId],
    ) -> impl Future<Output = Result<Vec<Option<u64>>, StoreError>> + Send {
        async move {
            let mut versions = Vec::with_capacity(streams.len());
            for stream in streams {
                versions.push(self.stream_version(tenant, stream).await?);
            }
            Ok(versions)
        }
    }

    /// Reads up to `limit` of the tenant's events after checkpoint `after`, in global order,
    /// upcast to current schema versions.
    ///
    /// Only events whose transactions, and all older transactions, have ended are returned, so
    /// a reader that resumes from the last position it saw never skips an event.
    fn read_all(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> impl Future<Output = Result<ReadAllPage, StoreError>> + Send;

    /// A wake-up hint that changes after appends (of any tenant). A hint, not a delivery
    /// channel: it may fire without new events, and a reader must poll as well.
    fn append_signal(&self) -> watch::Receiver<u64>;

    /// Saves a snapshot, replacing an older one of the same stream and type (a snapshot of an
    /// older stream version never replaces a newer one of the same schema version).
    ///
    /// Fails with [`StoreError::SnapshotAheadOfStream`] when the stream has not reached the
    /// snapshot's version.
    fn save_snapshot(
        &self,
        tenant: &TenantId,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Loads the stream's snapshot of `snapshot_type` if it has schema version
    /// `schema_version`; a snapshot of another schema version is discarded and `None` returned.
    fn load_snapshot(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Walks every stream of the tenant in pages, recomputing each hash from the stored bytes,
    /// and reports the first broken link.
    fn verify(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send;

    /// Seals the tenant's global order through everything deliverable now (see
    /// [`crate::seal`]): one seal per [`MAX_EVENTS_PER_SEAL`](crate::seal::MAX_EVENTS_PER_SEAL)
    /// events after the last seal. Returns the last seal, `None` when the tenant has no
    /// events. Concurrent sealers take turns; appends are not held up.
    fn seal(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<Seal>, StoreError>> + Send;

    /// The tenant's seals, oldest first.
    fn seals(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<Seal>, StoreError>> + Send;

    /// Seals everything deliverable, then records every stream's head and the last seal: the
    /// manifest an auditor stores outside the database for
    /// [`verify_against`](Self::verify_against).
    fn head_manifest(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<HeadManifest, StoreError>> + Send;

    /// [`verify`](Self::verify), and also that everything `manifest` names is still there,
    /// unchanged: each stream at least at its version with the same hash there, and its seal.
    /// Catches a deleted stream, a stream cut back, and chains or seals recomputed
    /// consistently inside the database.
    fn verify_against(
        &self,
        tenant: &TenantId,
        manifest: &HeadManifest,
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send;

    /// Like [`verify`](Self::verify), for one stream.
    fn verify_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send;

    /// Subscribes to the tenant's events after checkpoint `from`: catches up in pages, then
    /// follows new appends (see [`Subscription`]).
    fn subscribe(
        &self,
        tenant: &TenantId,
        from: GlobalPosition,
        options: SubscriptionOptions,
    ) -> Subscription<Self>
    where
        Self: Clone + Sized,
    {
        Subscription::new(self.clone(), tenant.clone(), from, options)
    }
}
