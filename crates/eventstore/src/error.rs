//! The store's one error type.

use std::error::Error as StdError;
use std::path::PathBuf;

use uuid::Uuid;

use crate::transfer::{ImportProblem, describe_verdict};
use crate::{ExpectedVersion, NameKind, StreamId, TenantId, VerifyReport};

/// Everything that can go wrong at the store's boundary, with the values needed to act on it.
///
/// No store operation panics; every failure is one of these. Variants that name a conflict
/// (`VersionConflict`, `TransactionOrderConflict`) are for the caller to resolve (reload and
/// decide again, or retry); `Unavailable` may be retried with the same idempotency key, because
/// the append may or may not have committed when the connection was lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A name (tenant, stream, event type, snapshot type, idempotency key) breaks the naming rules.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// Which kind of name.
        kind: NameKind,
        /// The name (its first 64 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The stream's version is not the expected one; nothing was written.
    #[error("version conflict on stream {stream}: expected {expected}, found {}", describe_version(*actual))]
    VersionConflict {
        /// The stream appended to.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version (`None`: the stream does not exist).
        actual: Option<u64>,
    },
    /// The idempotency key was already used for an append with different content.
    #[error(
        "idempotency key {key:?} was already used for a different append (to stream {original_stream})"
    )]
    IdempotencyConflict {
        /// The reused key.
        key: String,
        /// The stream the key's first append went to.
        original_stream: StreamId,
    },
    /// The events of one append carry different idempotency keys (or some carry one and some do not).
    #[error("the events of one append carry different idempotency keys")]
    MixedIdempotencyKeys,
    /// An event id appears twice in the batch, or the tenant already has an event with this id.
    #[error("duplicate event id {event_id}")]
    DuplicateEventId {
        /// The repeated id.
        event_id: Uuid,
    },
    /// An event's stored form (payload plus metadata bytes) exceeds the configured limit.
    #[error("event {event_id} is {size} bytes, over the limit of {limit} bytes")]
    EventTooLarge {
        /// The event.
        event_id: Uuid,
        /// Its payload and metadata bytes, as they would be stored.
        size: usize,
        /// The configured limit ([`crate::StoreSettings::max_event_bytes`]).
        limit: usize,
    },
    /// A payload, metadata or snapshot state nests JSON deeper than the store accepts
    /// ([`crate::StoreSettings::max_json_depth`], at most [`crate::MAX_JSON_DEPTH`]). Refused
    /// before anything is serialized or written, so such a value can never become an
    /// unreadable row.
    #[error("{what} nests JSON deeper than {limit} levels")]
    TooDeep {
        /// What was too deep: `payload of event <id>`, `metadata of event <id>` or
        /// `snapshot state`.
        what: String,
        /// The limit in force.
        limit: usize,
    },
    /// An event is malformed in a way no other variant names (schema version 0, say).
    #[error("invalid event {event_id}: {reason}")]
    InvalidEvent {
        /// The event.
        event_id: Uuid,
        /// What is wrong.
        reason: String,
    },
    /// The stream's head was written by a transaction with a larger id than the caller's own
    /// transaction, so this append would sort before it in the global order. Only an append
    /// inside a caller-owned transaction that wrote something before appending can meet this;
    /// roll that transaction back and retry it.
    #[error("stream {stream} was appended to by a newer transaction; retry the whole transaction")]
    TransactionOrderConflict {
        /// The stream appended to.
        stream: StreamId,
    },
    /// A payload's schema version is newer than its type's current version, or older with no
    /// upcaster to carry it forward.
    #[error("no upcaster path for event type {event_type} from schema version {schema_version}")]
    UnknownSchemaVersion {
        /// The event type.
        event_type: String,
        /// The schema version found.
        schema_version: u16,
    },
    /// An upcaster refused a payload.
    #[error("upcasting {event_type} from schema version {from} failed: {reason}")]
    UpcastFailed {
        /// The event type.
        event_type: String,
        /// The version the upcaster starts from.
        from: u16,
        /// The upcaster's reason.
        reason: String,
    },
    /// The upcaster registry is inconsistent (found by [`crate::Upcasters::check`] at start-up).
    #[error("upcaster chain for {event_type} is broken: {reason}")]
    BrokenUpcasterChain {
        /// The event type.
        event_type: String,
        /// What is missing or extra.
        reason: String,
    },
    /// A snapshot claims a stream version the stream has not reached.
    #[error("snapshot of stream {stream} at version {snapshot_version} is ahead of the stream (version {})", describe_version(*stream_version))]
    SnapshotAheadOfStream {
        /// The stream.
        stream: StreamId,
        /// The snapshot's version.
        snapshot_version: u64,
        /// The stream's version (`None`: no stream).
        stream_version: Option<u64>,
    },
    /// [`PostgresStore::append_with_subject_key`](crate::PostgresStore::append_with_subject_key):
    /// the data subject already has another key, or was shredded; nothing was appended.
    #[error("the data subject has another key or was shredded; nothing was appended")]
    SubjectKeyDiffers,
    /// An imported event does not continue its stream's hash chain where the target stands,
    /// or its hash is not the hash of its bytes
    /// ([`HistoryTransfer::import_history`](crate::HistoryTransfer::import_history)); nothing
    /// of the batch was imported.
    #[error("event {event_id} (stream {stream}, version {version}) cannot be imported: {problem}")]
    ImportRefused {
        /// The event's stream.
        stream: StreamId,
        /// The event's version.
        version: u64,
        /// The event.
        event_id: Uuid,
        /// What does not hold.
        problem: ImportProblem,
    },
    /// The target's stream already has another event at the version of an imported one
    /// ([`HistoryTransfer::import_history`](crate::HistoryTransfer::import_history)): the two
    /// histories differ there. Nothing of the batch was imported.
    #[error("stream {stream} already has {} at version {version}, not the imported event {imported}", describe_existing(*existing))]
    ImportConflict {
        /// The stream.
        stream: StreamId,
        /// The version both claim.
        version: u64,
        /// The target's event there (`None`: the target's stream head counts that version
        /// but no event is stored there).
        existing: Option<Uuid>,
        /// The imported event.
        imported: Uuid,
    },
    /// [`copy_history`](crate::copy_history) copied everything, but the target does not hold
    /// the source's history as the source's head manifest names it (or a chain in the target
    /// does not hold). The report says where.
    #[error(
        "the copy of tenant {tenant} does not verify: {}",
        describe_verdict(report)
    )]
    CopyNotVerified {
        /// The tenant copied.
        tenant: TenantId,
        /// The target's verification against the source's stream heads.
        report: Box<VerifyReport>,
    },
    /// A stored row could not be decoded (bad JSON, out-of-range number...).
    #[error("corrupt row ({location}): {reason}")]
    CorruptRow {
        /// Where: tenant, stream and version, or position.
        location: String,
        /// What could not be decoded.
        reason: String,
    },
    /// The backend could not be reached or the connection was lost. An append that failed this
    /// way may or may not have committed: retry it with the same idempotency key.
    ///
    /// `reason` says what the store was doing and why it failed, down to the root cause the
    /// driver keeps in its source chain (`Connection refused`, `password authentication
    /// failed for user …`); `source` keeps the underlying error itself.
    #[error("event store unavailable: {reason}")]
    Unavailable {
        /// What happened, and why.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// The connection string's `sslmode` is not one libpq knows (`disable`, `allow`, `prefer`,
    /// `require`, `verify-ca`, `verify-full`), or is weaker than `verify-full` with
    /// `sslrootcert=system` (which libpq refuses too). Nothing was connected; retrying the same
    /// string cannot help.
    #[error("invalid sslmode {value:?}: {reason}")]
    InvalidSslMode {
        /// The mode the connection string gives.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The root certificate file the connection string names (`sslrootcert`) cannot be read,
    /// or holds no usable PEM certificate. Nothing was connected.
    #[error("cannot use the root certificate file {} (sslrootcert): {reason}", path.display())]
    UnreadableRootCertificate {
        /// The file.
        path: PathBuf,
        /// What went wrong, and why.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// Applying or checking the schema migrations failed.
    #[error("migration {version} failed: {reason}")]
    Migration {
        /// The migration's number (0 for the runner itself).
        version: u32,
        /// What went wrong.
        reason: String,
    },
    /// The database refused a statement for a reason no other variant names.
    #[error("database error {code}: {message}")]
    Database {
        /// The SQLSTATE code.
        code: String,
        /// The server's message.
        message: String,
    },
}

/// `error`'s message followed by those of its sources (`a: b: c`), leaving out a message the
/// text already holds (deadpool's errors repeat their backend's). The drivers keep the cause
/// of a failure (`Connection refused (os error 111)`, the server's `FATAL` message) only in
/// the source chain, under a message such as `error connecting to server`; this puts it in a
/// message a log line shows.
pub(crate) fn with_causes(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

fn describe_existing(existing: Option<Uuid>) -> String {
    existing.map_or_else(
        || "no stored event (only its head)".to_owned(),
        |event_id| format!("event {event_id}"),
    )
}

fn describe_version(version: Option<u64>) -> String {
    version.map_or_else(
        || "no stream".to_owned(),
        |version| format!("version {version}"),
    )
}

impl StoreError {
    /// Whether retrying the same call (with the same idempotency key) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::TransactionOrderConflict { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Layer {
        message: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layer(message: &'static str, source: Option<Layer>) -> Layer {
        Layer {
            message,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn the_causes_are_named_once_each_down_the_chain() {
        let refused = layer("Connection refused (os error 111)", None);
        let driver = layer("error connecting to server", Some(refused));
        // deadpool repeats its backend's message in its own.
        let pool = layer(
            "Error occurred while creating a new object: error connecting to server",
            Some(driver),
        );
        assert_eq!(
            with_causes(&pool),
            "Error occurred while creating a new object: error connecting to server: \
             Connection refused (os error 111)"
        );
        assert_eq!(with_causes(&layer("alone", None)), "alone");
    }
}
