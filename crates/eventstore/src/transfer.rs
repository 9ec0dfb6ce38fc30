//! Moving a tenant's history from one backend to another (SQLite to PostgreSQL and back) with
//! every stream's hash chain kept byte for byte, and verified.
//!
//! - [`HistoryTransfer`] is the port each backend implements: the tenants it holds, a page of
//!   a tenant's events in global order exactly as stored ([`ExportedEvent`]: the payload and
//!   metadata text the hashes cover, the hashes themselves), and the import of such a batch,
//!   verbatim, in one transaction.
//! - [`copy_history`] copies one tenant from any backend to any other in the source's global
//!   order, resumably, and then checks the target against the source's stream heads.
//! - [`copy_subject_keys`] carries the tenant's crypto-shredding keys and shredding marks
//!   (see [`crate::crypto::SubjectKeyTransfer`]): encrypted fields are useless without them.
//!
//! # What is carried, and what is not
//!
//! Every event keeps its stream, version, id, type, schema version, payload and metadata
//! bytes, `recorded_at`, hash and previous hash. Its place in the global order is the
//! target's own: imported events get the target's transaction ids and positions, drawn in
//! import order, so the target's subscribers see the tenant's events in the source's order
//! (interleaved with whatever the target already held). Not carried: the source's seals (the
//! target seals its own order), snapshots (disposable), and idempotency records (a retry of
//! an append made before the copy is still recognised by its event ids, not by its key).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::ExportedEvent;
use crate::crypto::{CryptoError, SubjectId, SubjectKeyTransfer};
use crate::hash::{EventContent, chain_hash, content_digest, to_micros};
use crate::ids::validate_name;
use crate::{
    EventHash, EventStore, GlobalPosition, NameKind, StoreError, StreamHead, StreamId, TenantId,
    VerifyReport,
};

/// A store whose history can be exported and imported verbatim, hash chains included.
///
/// Implemented by [`MemoryStore`](crate::MemoryStore), [`PostgresStore`](crate::PostgresStore)
/// and [`SqliteStore`](crate::SqliteStore); [`copy_history`] drives it.
pub trait HistoryTransfer: EventStore {
    /// The tenants that have at least one event, by name. A tenant stored under a name that
    /// is not in canonical form (rows older than canonical [`TenantId`]s) cannot be addressed
    /// and is left out.
    fn tenants(&self) -> impl Future<Output = Result<Vec<TenantId>, StoreError>> + Send;

    /// Every stream's head of the tenant (name, version, hash), by name. Unlike
    /// [`EventStore::head_manifest`] it seals nothing.
    fn stream_heads(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<StreamHead>, StoreError>> + Send;

    /// The stream's event at `version` exactly as stored, `None` when there is none.
    fn exported_event(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        version: u64,
    ) -> impl Future<Output = Result<Option<ExportedEvent>, StoreError>> + Send;

    /// Up to `limit` of the tenant's events after `after`, in global order, exactly as stored
    /// (see [`ExportedEvent`]). Pass [`GlobalPosition::START`] for the first page and the last
    /// event's `(transaction, position)` for the next.
    ///
    /// Like [`EventStore::read_all`], it only returns events of transactions below the oldest
    /// one still open, so paging never skips a late committer, and a page never ends inside a
    /// transaction unless it is full. An empty page with [`HistoryPage::held_by`] `None` means
    /// the tenant has nothing more to deliver now.
    fn export_history(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> impl Future<Output = Result<HistoryPage, StoreError>> + Send;

    /// Imports `events` (exported from another store, in its global order) into `tenant`,
    /// verbatim, in one transaction: all of the batch is imported, or nothing.
    ///
    /// Each event is checked on its own first: its names and schema version are valid, its
    /// payload and metadata are JSON, and its hash is the hash of its bytes (the content
    /// digest under `tenant`, chained over its previous hash, version and `recorded_at`; see
    /// [`crate::hash`]), a first version's previous hash being [`EventHash::ZERO`]. Within the
    /// batch, a stream's events follow each other (next version, previous hash the hash
    /// before, recorded no earlier). Then each is placed against the target:
    /// - at a version the target's stream already has, it is skipped when the target's event
    ///   there has the same id and hash (so an interrupted copy can be run again), and is a
    ///   [`StoreError::ImportConflict`] otherwise;
    /// - otherwise it must be the stream's next version, with the head's hash as its previous
    ///   hash and recorded no earlier than the head, or the batch is refused with
    ///   [`StoreError::ImportRefused`]; its id must be new to the tenant
    ///   ([`StoreError::DuplicateEventId`]).
    ///
    /// The imported events get one new transaction of the target and positions in batch
    /// order; stream heads move as an append moves them, and the append signal fires.
    /// Import batches whole source transactions, so atomic batches stay atomic.
    ///
    /// On PostgreSQL an import takes its streams' append locks and writes the event tables
    /// directly, so it needs the store's owner (the role that runs migrations): the
    /// application role, which may only append through the append function, gets
    /// [`StoreError::Database`] (`42501`), since an import chooses recorded times and event
    /// ids. A stream whose head was written by a transaction newer than the import's own is
    /// [`StoreError::TransactionOrderConflict`], as for an append: retry.
    fn import_history(
        &self,
        tenant: &TenantId,
        events: &[ExportedEvent],
    ) -> impl Future<Output = Result<ImportOutcome, StoreError>> + Send;
}

/// One page of a tenant's history in global order, exactly as stored
/// ([`HistoryTransfer::export_history`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryPage {
    /// The events after the requested checkpoint, in global order.
    pub events: Vec<ExportedEvent>,
    /// When committed events exist beyond this page but cannot be delivered yet because an
    /// older transaction is still open (PostgreSQL only; any of the server's databases): that
    /// transaction's id. Only reported on an empty page, as [`crate::ReadAllPage::held_by`].
    pub held_by: Option<u64>,
}

/// What one [`HistoryTransfer::import_history`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOutcome {
    /// Events written.
    pub imported: u64,
    /// Events the target already had, the same (same id, version and hash), so left alone.
    pub skipped: u64,
}

/// Why an imported event cannot continue its stream's hash chain, for
/// [`StoreError::ImportRefused`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportProblem {
    /// The event's hash is not the hash of its bytes (altered, or exported under another
    /// tenant).
    HashMismatch {
        /// The hash the event carries.
        stored: EventHash,
        /// The hash of its bytes.
        computed: EventHash,
    },
    /// The event's previous hash is not the hash of the event before it (the target's head,
    /// the batch's previous event of the stream, or zeros for a first version).
    PreviousHashMismatch {
        /// The previous hash the event carries.
        stored: EventHash,
        /// The hash it should chain to.
        expected: EventHash,
    },
    /// The event is not the stream's next version.
    VersionGap {
        /// The version that should come next.
        expected: u64,
    },
    /// The event is recorded before the stream's previous event, which no store ever writes
    /// (a stream's recorded times never decrease).
    RecordedBeforePrevious {
        /// When the previous event was recorded.
        previous: DateTime<Utc>,
    },
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch { stored, computed } => write!(
                formatter,
                "its hash {stored} is not the hash of its bytes, {computed}"
            ),
            Self::PreviousHashMismatch { stored, expected } => write!(
                formatter,
                "its previous hash {stored} is not the previous event's hash {expected}"
            ),
            Self::VersionGap { expected } => {
                write!(formatter, "version {expected} should come next")
            }
            Self::RecordedBeforePrevious { previous } => write!(
                formatter,
                "it is recorded before the stream's previous event ({previous})"
            ),
        }
    }
}

/// Where a running [`copy_history`] stands, reported after each imported batch and while
/// the source holds the copy back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    /// Events written to the target so far.
    pub copied: u64,
    /// Events the target already had so far.
    pub skipped: u64,
    /// The source position of the last event handled (the source's global order).
    pub through: GlobalPosition,
    /// When the copy is waiting for the source's transaction with this id to end (see
    /// [`HistoryPage::held_by`]); `None` while it moves.
    pub held_by: Option<u64>,
}

/// What a finished [`copy_history`] did and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyReport {
    /// Events written to the target.
    pub copied: u64,
    /// Events the target already had (from an earlier, interrupted copy).
    pub skipped: u64,
    /// The source's streams, each found in the target with the source's head.
    pub streams: u64,
}

/// What a finished [`copy_subject_keys`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyCopyReport {
    /// Subject keys written to the target.
    pub keys: u64,
    /// Subjects recorded as shredded in the target (their key there, if any, deleted).
    pub shredded: u64,
    /// Subjects the target already had as the source has them, or shredded.
    pub skipped: u64,
}

/// The default number of events [`copy_history`] exports per page (about one import).
pub const DEFAULT_COPY_BATCH: usize = 500;

/// Copies `tenant`'s history from `from` to `to`, in `from`'s global order, with every hash
/// chain preserved, then checks the result.
///
/// Before anything is written, every stream the target already has is compared with the
/// source's at the last version both have (one stored event on each side: a hash covers its
/// whole chain); a target stream holding other events fails the copy with
/// [`StoreError::ImportConflict`], the target untouched. Then pages of about `batch` events
/// (at least 1) are exported and imported, whole source transactions at a time (one larger
/// than `batch` is imported in one go), and `progress` hears after each import. Events the
/// target already has are skipped (see [`HistoryTransfer::import_history`]), so a copy that
/// was interrupted, or that ran into an error, can simply be run again: it resumes where it
/// stopped.
///
/// While an open transaction of the source holds its history back (PostgreSQL: see
/// [`HistoryPage::held_by`]), the copy waits for it, telling `progress` which one.
///
/// When the source is drained, its head manifest is taken (which seals the source's order:
/// see [`EventStore::head_manifest`]), anything appended meanwhile is copied too, and the
/// target is checked with [`EventStore::verify_against`] that manifest (its seal left out:
/// the target's positions are its own): every chain in the target is intact, and every
/// source stream is in the target with the source's head. Events appended to the source
/// during the copy are carried too; still, copy from a quiet source, since a transaction of
/// the source that stays open holds the copy back as long.
///
/// Fails with [`StoreError::ImportConflict`] as said, the import's errors
/// ([`StoreError::ImportRefused`] for an event whose chain does not hold, say; nothing of the
/// failing batch is written, the batches before it stay and a re-run skips them), the
/// backends' errors, and [`StoreError::CopyNotVerified`] when the final check fails.
pub async fn copy_history<F, T>(
    from: &F,
    to: &T,
    tenant: &TenantId,
    batch: usize,
    mut progress: impl FnMut(CopyProgress),
) -> Result<CopyReport, StoreError>
where
    F: HistoryTransfer,
    T: HistoryTransfer,
{
    refuse_diverging_streams(from, to, tenant).await?;
    let mut copy = Copy {
        tenant,
        batch: batch.max(1),
        after: GlobalPosition::START,
        report: CopyReport::default(),
    };
    copy.drain(from, to, &mut progress).await?;
    let mut manifest = from.head_manifest(tenant).await?;
    copy.drain(from, to, &mut progress).await?;
    // The target's positions (and so its seals) are its own: only the streams are compared.
    manifest.seal = None;
    let verdict = to.verify_against(tenant, &manifest).await?;
    if !verdict.is_intact() {
        return Err(StoreError::CopyNotVerified {
            tenant: tenant.clone(),
            report: Box::new(verdict),
        });
    }
    copy.report.streams = u64::try_from(manifest.streams.len()).unwrap_or(u64::MAX);
    Ok(copy.report)
}

/// Refuses, before anything is written, a copy into a target whose streams already hold
/// other events than the source's at some version.
///
/// A hash covers its stream's whole chain up to it, so two streams agree on every version
/// both have exactly when they have the same hash at the last version both have: one stored
/// event per stream the two stores share is compared, not the histories.
async fn refuse_diverging_streams<F, T>(
    from: &F,
    to: &T,
    tenant: &TenantId,
) -> Result<(), StoreError>
where
    F: HistoryTransfer,
    T: HistoryTransfer,
{
    let target = to.stream_heads(tenant).await?;
    if target.is_empty() {
        return Ok(());
    }
    let source: HashMap<String, StreamHead> = from
        .stream_heads(tenant)
        .await?
        .into_iter()
        .map(|head| (head.stream.clone(), head))
        .collect();
    for theirs in target {
        let Some(ours) = source.get(&theirs.stream) else {
            continue;
        };
        let version = ours.version.min(theirs.version);
        let stream = StreamId::new(&theirs.stream)?;
        // Each side's hash at that version: its head's when that is the version, else read.
        let ours_hash = if ours.version == version {
            Some(ours.hash)
        } else {
            let event = from.exported_event(tenant, &stream, version).await?;
            event.map(|event| event.hash)
        };
        let theirs_hash = if theirs.version == version {
            Some(theirs.hash)
        } else {
            let event = to.exported_event(tenant, &stream, version).await?;
            event.map(|event| event.hash)
        };
        if ours_hash.is_none() || ours_hash == theirs_hash {
            // The same chain (or a source whose own head is wrong there: its import says so).
            continue;
        }
        let imported = from.exported_event(tenant, &stream, version).await?;
        let existing = to.exported_event(tenant, &stream, version).await?;
        return Err(StoreError::ImportConflict {
            stream,
            version,
            existing: existing.map(|event| event.event_id),
            imported: imported.map_or(Uuid::nil(), |event| event.event_id),
        });
    }
    Ok(())
}

/// A copy under way: where it stands in the source and what it did.
struct Copy<'a> {
    tenant: &'a TenantId,
    batch: usize,
    after: GlobalPosition,
    report: CopyReport,
}

impl Copy<'_> {
    /// Copies everything the source delivers after `self.after`, whole source transactions
    /// at a time, waiting while an open transaction of the source holds its history back.
    async fn drain<F: HistoryTransfer, T: HistoryTransfer>(
        &mut self,
        from: &F,
        to: &T,
        progress: &mut impl FnMut(CopyProgress),
    ) -> Result<(), StoreError> {
        let mut pending: Vec<ExportedEvent> = Vec::new();
        let mut next = self.after;
        loop {
            let page = from.export_history(self.tenant, next, self.batch).await?;
            let (count, held_by) = (page.events.len(), page.held_by);
            pending.extend(page.events);
            if let Some(last) = pending.last() {
                next = position_of(last);
            }
            // A full page may end inside a transaction: hold its last transaction back until
            // the next page shows where it ends. A short page ends with a whole one.
            let ready = if count < self.batch {
                pending.len()
            } else {
                start_of_last_transaction(&pending)
            };
            if ready > 0 {
                let outcome = to.import_history(self.tenant, &pending[..ready]).await?;
                self.report.copied += outcome.imported;
                self.report.skipped += outcome.skipped;
                if let Some(last) = pending.get(ready - 1) {
                    self.after = position_of(last);
                }
                pending.drain(..ready);
                progress(self.progress(None));
            }
            if count == 0 {
                let Some(transaction) = held_by else {
                    return Ok(());
                };
                progress(self.progress(Some(transaction)));
                tokio::time::sleep(HELD_BACK_POLL).await;
            }
        }
    }

    fn progress(&self, held_by: Option<u64>) -> CopyProgress {
        CopyProgress {
            copied: self.report.copied,
            skipped: self.report.skipped,
            through: self.after,
            held_by,
        }
    }
}

/// How often a copy held back by an open transaction of the source looks again.
const HELD_BACK_POLL: std::time::Duration = std::time::Duration::from_millis(100);

fn position_of(event: &ExportedEvent) -> GlobalPosition {
    GlobalPosition {
        transaction: event.transaction,
        position: event.position,
    }
}

/// The index of the first event of the last transaction in `events` (0 when they are all of
/// one transaction, or none).
fn start_of_last_transaction(events: &[ExportedEvent]) -> usize {
    let Some(last) = events.last() else {
        return 0;
    };
    events
        .iter()
        .rposition(|event| event.transaction != last.transaction)
        .map_or(0, |index| index + 1)
}

/// Copies `tenant`'s subject keys and shredding marks from `from` to `to`, in pages of
/// `batch` subjects (at least 1), each imported in one transaction (see
/// [`SubjectKeyTransfer::import_subject_keys`]): a key the target already has is skipped, a
/// different one is [`CryptoError::KeyConflict`], and a shredded subject stays shredded (its
/// mark wins over a key in the target). Resumable like [`copy_history`].
///
/// Run it before [`copy_history`], so the target can read every event it receives, and once
/// more after it, so a subject shredded in the source meanwhile is shredded in the target too.
pub async fn copy_subject_keys<F, T>(
    from: &F,
    to: &T,
    tenant: &TenantId,
    batch: usize,
) -> Result<KeyCopyReport, CryptoError>
where
    F: SubjectKeyTransfer,
    T: SubjectKeyTransfer,
{
    let batch = batch.max(1);
    let mut report = KeyCopyReport::default();
    let mut after: Option<SubjectId> = None;
    loop {
        let page = from
            .export_subject_keys(tenant, after.as_ref(), batch)
            .await?;
        if !page.is_empty() {
            let outcome = to.import_subject_keys(tenant, &page).await?;
            report.keys += outcome.keys;
            report.shredded += outcome.shredded;
            report.skipped += outcome.skipped;
        }
        if page.len() < batch {
            return Ok(report);
        }
        after = page.last().map(|record| record.subject().clone());
    }
}

// ---------------------------------------------------------------------------------------
// What every backend's import shares: the checks and the placement of each event
// ---------------------------------------------------------------------------------------

/// An exported event that passed the checks it can pass on its own, with its names as the
/// store keeps them.
#[derive(Debug)]
pub(crate) struct CheckedEvent<'a> {
    pub(crate) event: &'a ExportedEvent,
    pub(crate) stream: StreamId,
    /// Its `recorded_at` at the microsecond precision every backend stores (the hash covers
    /// no more).
    pub(crate) recorded_at: DateTime<Utc>,
}

impl CheckedEvent<'_> {
    fn refused(&self, problem: ImportProblem) -> StoreError {
        StoreError::ImportRefused {
            stream: self.stream.clone(),
            version: self.event.version,
            event_id: self.event.event_id,
            problem,
        }
    }
}

/// A stream's head in the target, as an import sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TargetHead {
    pub(crate) version: u64,
    pub(crate) hash: EventHash,
    pub(crate) recorded_at: DateTime<Utc>,
}

/// What an import needs to know of the target, inside the import's transaction.
pub(crate) trait ImportTarget {
    /// The stream's head (`None`: no stream).
    fn head(&mut self, stream: &StreamId) -> Result<Option<TargetHead>, StoreError>;
    /// The id and hash of the stream's event at `version`, if it has one.
    fn stored(
        &mut self,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<(Uuid, EventHash)>, StoreError>;
    /// Whether the tenant has an event with this id.
    fn id_used(&mut self, id: Uuid) -> Result<bool, StoreError>;
}

/// What an import writes: the events, in batch order, and the streams' new heads.
#[derive(Debug)]
pub(crate) struct ImportPlan<'a> {
    pub(crate) events: Vec<&'a CheckedEvent<'a>>,
    pub(crate) heads: Vec<(StreamId, TargetHead)>,
    pub(crate) skipped: u64,
}

impl ImportPlan<'_> {
    pub(crate) fn outcome(&self) -> ImportOutcome {
        ImportOutcome {
            imported: u64::try_from(self.events.len()).unwrap_or(u64::MAX),
            skipped: self.skipped,
        }
    }
}

/// Checks every event of a batch on its own and against the batch's earlier events of its
/// stream (see [`HistoryTransfer::import_history`]).
pub(crate) fn check_batch<'a>(
    tenant: &TenantId,
    events: &'a [ExportedEvent],
) -> Result<Vec<CheckedEvent<'a>>, StoreError> {
    let mut ids = HashSet::with_capacity(events.len());
    let mut last_of_stream: HashMap<&str, (u64, EventHash, DateTime<Utc>)> = HashMap::new();
    let mut checked = Vec::with_capacity(events.len());
    for event in events {
        let event = check_event(tenant, event)?;
        if !ids.insert(event.event.event_id) {
            return Err(StoreError::DuplicateEventId {
                event_id: event.event.event_id,
            });
        }
        if let Some((version, hash, recorded_at)) = last_of_stream.get(event.event.stream.as_str())
        {
            follows(&event, *version, *hash, *recorded_at)?;
        }
        last_of_stream.insert(
            &event.event.stream,
            (event.event.version, event.event.hash, event.recorded_at),
        );
        checked.push(event);
    }
    Ok(checked)
}

/// The checks an event passes on its own: names, versions, JSON, and its hash.
fn check_event<'a>(
    tenant: &TenantId,
    event: &'a ExportedEvent,
) -> Result<CheckedEvent<'a>, StoreError> {
    let stream = StreamId::new(&event.stream)?;
    validate_name(NameKind::EventType, &event.event_type)?;
    let invalid = |reason: String| StoreError::InvalidEvent {
        event_id: event.event_id,
        reason,
    };
    if event.schema_version == 0 {
        return Err(invalid("schema versions start at 1".into()));
    }
    if event.version == 0 {
        return Err(invalid("stream versions start at 1".into()));
    }
    // Syntax only (skipping a value builds nothing and does not recurse): the bytes are kept
    // as they are, however deep, as PostgreSQL's `json` column keeps them.
    for (what, text) in [("payload", &event.payload), ("metadata", &event.metadata)] {
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|error| invalid(format!("{what} is not JSON: {error}")))?;
    }
    let checked = CheckedEvent {
        event,
        stream,
        recorded_at: to_micros(event.recorded_at),
    };
    let digest = content_digest(&EventContent {
        tenant: tenant.as_str(),
        stream: &event.stream,
        event_id: event.event_id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        payload: event.payload.as_bytes(),
        metadata: event.metadata.as_bytes(),
    });
    let computed = chain_hash(
        &event.previous_hash,
        event.version,
        event.recorded_at,
        &digest,
    );
    if computed != event.hash {
        return Err(checked.refused(ImportProblem::HashMismatch {
            stored: event.hash,
            computed,
        }));
    }
    if event.version == 1 && event.previous_hash != EventHash::ZERO {
        return Err(checked.refused(ImportProblem::PreviousHashMismatch {
            stored: event.previous_hash,
            expected: EventHash::ZERO,
        }));
    }
    Ok(checked)
}

/// Refuses `event` unless it follows the event at `version` with `hash`, recorded at
/// `recorded_at`.
fn follows(
    event: &CheckedEvent<'_>,
    version: u64,
    hash: EventHash,
    recorded_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let problem = if event.event.version != version + 1 {
        ImportProblem::VersionGap {
            expected: version + 1,
        }
    } else if event.event.previous_hash != hash {
        ImportProblem::PreviousHashMismatch {
            stored: event.event.previous_hash,
            expected: hash,
        }
    } else if event.recorded_at < recorded_at {
        ImportProblem::RecordedBeforePrevious {
            previous: recorded_at,
        }
    } else {
        return Ok(());
    };
    Err(event.refused(problem))
}

/// Places every checked event against the target: skipped when the target has it, written
/// when it continues its stream, refused otherwise (see
/// [`HistoryTransfer::import_history`]).
pub(crate) fn plan_import<'a>(
    events: &'a [CheckedEvent<'a>],
    target: &mut impl ImportTarget,
) -> Result<ImportPlan<'a>, StoreError> {
    let mut heads: HashMap<StreamId, Option<TargetHead>> = HashMap::new();
    let mut written: Vec<StreamId> = Vec::new();
    let mut plan = ImportPlan {
        events: Vec::with_capacity(events.len()),
        heads: Vec::new(),
        skipped: 0,
    };
    for event in events {
        let head = if let Some(head) = heads.get(&event.stream) {
            *head
        } else {
            let head = target.head(&event.stream)?;
            heads.insert(event.stream.clone(), head);
            head
        };
        let version = event.event.version;
        if let Some(head) = head
            && version <= head.version
        {
            match target.stored(&event.stream, version)? {
                Some((id, hash)) if id == event.event.event_id && hash == event.event.hash => {
                    plan.skipped += 1;
                    continue;
                }
                found => {
                    return Err(StoreError::ImportConflict {
                        stream: event.stream.clone(),
                        version,
                        existing: found.map(|(id, _)| id),
                        imported: event.event.event_id,
                    });
                }
            }
        }
        match head {
            Some(head) => follows(event, head.version, head.hash, head.recorded_at)?,
            // A first version's previous hash was checked with the event.
            None if version != 1 => {
                return Err(event.refused(ImportProblem::VersionGap { expected: 1 }));
            }
            None => {}
        }
        if target.id_used(event.event.event_id)? {
            return Err(StoreError::DuplicateEventId {
                event_id: event.event.event_id,
            });
        }
        if !written.contains(&event.stream) {
            written.push(event.stream.clone());
        }
        heads.insert(
            event.stream.clone(),
            Some(TargetHead {
                version,
                hash: event.event.hash,
                recorded_at: event.recorded_at,
            }),
        );
        plan.events.push(event);
    }
    plan.heads = written
        .into_iter()
        .filter_map(|stream| {
            let head = heads.get(&stream).copied().flatten()?;
            Some((stream, head))
        })
        .collect();
    Ok(plan)
}

/// The text of a [`StoreError::CopyNotVerified`]: the first thing found wrong.
pub(crate) fn describe_verdict(report: &VerifyReport) -> String {
    if let Some(broken) = &report.first_broken {
        return format!(
            "stream {} breaks at version {}: {:?}",
            broken.stream, broken.version, broken.problem
        );
    }
    if let Some(seal) = &report.first_broken_seal {
        return format!("seal {} does not match its events", seal.number);
    }
    match report.manifest_problems.first() {
        Some(problem) => format!(
            "{} source stream heads are not in the target as they are in the source, the first: \
             {problem:?}",
            report.manifest_problem_count
        ),
        None => "the target does not verify".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported(transaction: u64, position: u64) -> ExportedEvent {
        ExportedEvent {
            stream: "s".into(),
            version: position,
            position,
            transaction,
            event_id: Uuid::nil(),
            event_type: "Noted".into(),
            schema_version: 1,
            payload: "{}".into(),
            metadata: "{}".into(),
            recorded_at: DateTime::UNIX_EPOCH,
            hash: EventHash::ZERO,
            previous_hash: EventHash::ZERO,
        }
    }

    #[test]
    fn a_page_is_cut_before_its_last_transaction() {
        let page = [exported(1, 1), exported(2, 2), exported(2, 3)];
        assert_eq!(start_of_last_transaction(&page), 1);
        assert_eq!(start_of_last_transaction(&page[..1]), 0);
        assert_eq!(start_of_last_transaction(&page[1..]), 0);
        assert_eq!(start_of_last_transaction(&[]), 0);
    }
}
