//! [`SqliteStore`]: the event store in a [`SqliteDatabase`].

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction};
use tokio::sync::watch;

use super::append::{append_encoded, in_savepoint};
use super::rows::{
    clamp_i64, clamp_limit, corrupt, event_columns, failed, micros, raw_event, to_u64,
    unreadable_row,
};
use super::{SqliteDatabase, run_blocking};
use crate::codec::{RawEvent, check_state_depth, encode_batch};
use crate::crypto::{SqliteSubjectKeyStore, SubjectId, SubjectKey, claim_key_in};
use crate::ids::validate_name;
use crate::{
    AppendResult, AsOf, Direction, EventStore, ExpectedVersion, GlobalPosition, HeadManifest,
    NameKind, NewEvent, ReadAllPage, RecordedEvent, Seal, Snapshot, StoreError, StoreSettings,
    StreamId, StreamRead, TenantId, VerifyReport,
};

/// The component name of the store's migrations in `schema_migrations`.
pub(crate) const COMPONENT: &str = "eventstore";

/// The store's migrations (`migrations/sqlite/*.sql`), in order. Never edited once released:
/// a change is a new step.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_events.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_subject_keys.sql"),
    ),
];

/// Applies the store's pending migrations to `database`.
pub(crate) fn migrate_store(database: &SqliteDatabase) -> Result<(), StoreError> {
    database.migrate(COMPONENT, MIGRATIONS)
}

/// A stream forward: versions ?3..=?4, recorded at or before ?5 (if given), at most ?6.
const READ_STREAM_FORWARD: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventstore_events WHERE tenant_id = ?1 AND stream_id = ?2 \
     AND version BETWEEN ?3 AND ?4 AND (?5 IS NULL OR recorded_at <= ?5) \
     ORDER BY version LIMIT ?6"
);

/// A stream backward: the same range, newest first.
const READ_STREAM_BACKWARD: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventstore_events WHERE tenant_id = ?1 AND stream_id = ?2 \
     AND version BETWEEN ?3 AND ?4 AND (?5 IS NULL OR recorded_at <= ?5) \
     ORDER BY version DESC LIMIT ?6"
);

const STREAM_VERSION: &str =
    "SELECT version FROM eventstore_streams WHERE tenant_id = ?1 AND stream_id = ?2";

/// A page of a tenant's events after checkpoint (?2, ?3), in global order. Every row here is
/// committed, and every later commit sorts after it (see [`SqliteStore`]).
const READ_ALL: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventstore_events WHERE tenant_id = ?1 AND (tx_id, position) > (?2, ?3) \
     ORDER BY tx_id, position LIMIT ?4"
);

const LOAD_SNAPSHOT: &str = "SELECT schema_version, stream_version, state \
     FROM eventstore_snapshots WHERE tenant_id = ?1 AND stream_id = ?2 AND snapshot_type = ?3";

/// Saves a snapshot unless a newer one of the same schema version is there.
const SAVE_SNAPSHOT: &str = "INSERT INTO eventstore_snapshots (tenant_id, stream_id, \
     snapshot_type, schema_version, stream_version, state, taken_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (tenant_id, stream_id, snapshot_type) DO UPDATE \
     SET schema_version = excluded.schema_version, stream_version = excluded.stream_version, \
     state = excluded.state, taken_at = excluded.taken_at \
     WHERE eventstore_snapshots.schema_version <> excluded.schema_version \
     OR eventstore_snapshots.stream_version <= excluded.stream_version";

const DISCARD_SNAPSHOT: &str = "DELETE FROM eventstore_snapshots WHERE tenant_id = ?1 \
     AND stream_id = ?2 AND snapshot_type = ?3 AND schema_version <> ?4";

/// The most events a `read_all` page reserves room for up front (a caller may ask for a
/// huge limit and get a short page).
const READ_ALL_RESERVE: usize = 1024;

/// A snapshot's fields but its state.
struct SnapshotRow {
    stream: StreamId,
    snapshot_type: String,
    schema_version: u16,
    stream_version: u64,
}

#[derive(Debug)]
struct Inner {
    database: SqliteDatabase,
    settings: StoreSettings,
    signal: watch::Sender<u64>,
}

/// An [`EventStore`] in one SQLite file ([`SqliteDatabase`]), with the same contract as
/// [`MemoryStore`](crate::MemoryStore) and [`PostgresStore`](crate::PostgresStore) (all pass
/// one conformance suite). Clones share the database and the append signal.
///
/// Besides the port, it offers [`append_in`](Self::append_in) for an append inside a write
/// transaction the caller owns (so the application's rows commit with the events or not at
/// all), and [`append_with_subject_key`](Self::append_with_subject_key).
///
/// # Global order
///
/// [`GlobalPosition::transaction`] is a counter of appends and
/// [`GlobalPosition::position`] a counter of events (the row id), both for the whole file, and
/// [`ReadAllPage::held_by`] is always `None`. No reader can ever skip an event: SQLite runs
/// one write transaction at a time per file (`BEGIN IMMEDIATE` takes the file's write lock,
/// across processes too), and an append draws its numbers while holding that lock, as one
/// more than the last committed ones. So numbers are committed in the order they are drawn,
/// and a reader, which always sees a committed prefix of the file (WAL mode gives each read
/// transaction one snapshot), can never meet a later commit with a smaller position than one
/// it has passed.
///
/// # Wake-ups
///
/// [`append_signal`](EventStore::append_signal) fires after this handle's appends (and after
/// [`announce_append`](Self::announce_append)). Appends made through another handle on the
/// same file (another process) send no signal here; subscribers find them when they poll.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl SqliteStore {
    /// The store in `database`, after applying its pending migrations (component
    /// `eventstore` in `schema_migrations`).
    ///
    /// Fails with [`StoreError::Migration`] when the schema cannot be brought up to date
    /// (a migration applied with other SQL included) and [`StoreError::Unavailable`] when
    /// the file cannot be written.
    pub fn open(database: SqliteDatabase, settings: StoreSettings) -> Result<Self, StoreError> {
        migrate_store(&database)?;
        Ok(Self {
            inner: Arc::new(Inner {
                database,
                settings,
                signal: watch::channel(0).0,
            }),
        })
    }

    /// The database the store lives in, shared with whoever else keeps rows there.
    pub fn database(&self) -> &SqliteDatabase {
        &self.inner.database
    }

    /// The settings the store runs with.
    pub fn settings(&self) -> &StoreSettings {
        &self.inner.settings
    }

    /// The subject key store in this store's file (tables `eventstore_subject_keys` and
    /// `eventstore_shredded_subjects`), sharing its connections.
    pub fn subject_keys(&self) -> SqliteSubjectKeyStore {
        SqliteSubjectKeyStore::migrated(self.inner.database.clone())
    }

    /// Bumps the [append signal](EventStore::append_signal), waking this store's
    /// subscribers. Call it after your transaction committed, when it appended events with
    /// [`append_in`](Self::append_in); calling it otherwise costs subscribers one needless
    /// read.
    pub fn announce_append(&self) {
        self.inner
            .signal
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Appends inside a write transaction the caller owns (from
    /// [`SqliteDatabase::write_blocking`] or [`SqliteDatabase::write`] of this store's
    /// database): nothing is visible until the caller commits, and a rollback undoes the
    /// append with everything else the transaction did. Synchronous: it runs on the thread
    /// that holds the transaction.
    ///
    /// Same contract as [`EventStore::append`]. The append is all or nothing inside the
    /// transaction too: when it fails (a conflict, a duplicate id, a database error) it leaves
    /// the transaction as it was before the call, still usable. It sends no wake-up: call
    /// [`announce_append`](Self::announce_append) after the commit.
    pub fn append_in(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        let batch = encode_batch(&self.inner.settings, tenant, stream, expected, events)?;
        in_savepoint(transaction, || {
            append_encoded(transaction, tenant, stream, expected, &batch)
        })
    }

    /// [`EventStore::append`], first making sure, in the same transaction, that `subject`'s
    /// key is `key`, storing it unless the subject has one: for a writer that encrypted the
    /// events with a key it made, so a new aggregate with personal data costs one write.
    ///
    /// Fails with [`StoreError::SubjectKeyDiffers`], storing and appending nothing, when the
    /// subject has another key or was shredded; ask the key store for the subject's key then
    /// and append the usual way. Unlike PostgreSQL's, an append refused for another reason (a
    /// version conflict) does not keep the key either: the transaction is all or nothing.
    pub async fn append_with_subject_key(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        subject: &SubjectId,
        key: &SubjectKey,
    ) -> Result<AppendResult, StoreError> {
        let batch = encode_batch(&self.inner.settings, tenant, stream, expected, events)?;
        let subject_key = Some((subject.clone(), key.clone()));
        self.append_encoded(tenant, stream, expected, batch, subject_key)
            .await
    }

    /// [`append_with_subject_key`](Self::append_with_subject_key) inside a write transaction
    /// the caller owns, as [`append_in`](Self::append_in) is to
    /// [`append`](EventStore::append): the key and the events are stored when the caller
    /// commits; on failure neither is, and the transaction stays usable.
    #[allow(
        clippy::too_many_arguments,
        reason = "the append's parameters and the subject's key"
    )]
    pub fn append_with_subject_key_in(
        &self,
        transaction: &Transaction<'_>,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        subject: &SubjectId,
        key: &SubjectKey,
    ) -> Result<AppendResult, StoreError> {
        let batch = encode_batch(&self.inner.settings, tenant, stream, expected, events)?;
        in_savepoint(transaction, || {
            require_subject_key(transaction, tenant, subject, key)?;
            append_encoded(transaction, tenant, stream, expected, &batch)
        })
    }

    async fn append_encoded(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        batch: crate::codec::EncodedBatch,
        subject_key: Option<(SubjectId, SubjectKey)>,
    ) -> Result<AppendResult, StoreError> {
        let (tenant, stream) = (tenant.clone(), stream.clone());
        let result = self
            .inner
            .database
            .write(move |transaction| {
                if let Some((subject, key)) = &subject_key {
                    require_subject_key(transaction, &tenant, subject, key)?;
                }
                append_encoded(transaction, &tenant, &stream, expected, &batch)
            })
            .await?;
        if !result.events.is_empty() {
            self.announce_append();
        }
        Ok(result)
    }

    /// Runs `work` with this store on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        run_blocking(move || work(&store)).await
    }

    /// Decodes an event row's fields; `last_stream` is the previous row's stream id, reused
    /// while consecutive rows share a stream.
    pub(super) fn decode(
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

    fn read_stream_now(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (low, high) = read.version_range(u64::MAX);
        if low > high || read.limit == 0 {
            return Ok(Vec::new());
        }
        let until = match read.as_of {
            AsOf::Time(at) => Some(micros(at)),
            AsOf::Now | AsOf::Version(_) => None,
        };
        let query = match read.direction {
            Direction::Forward => READ_STREAM_FORWARD,
            Direction::Backward => READ_STREAM_BACKWARD,
        };
        self.inner.database.read_blocking(|transaction| {
            let mut statement = transaction
                .prepare_cached(query)
                .map_err(failed("reading a stream"))?;
            let mut rows = statement
                .query((
                    tenant.as_str(),
                    stream.as_str(),
                    clamp_i64(low),
                    clamp_i64(high),
                    until,
                    clamp_limit(read.limit),
                ))
                .map_err(failed("reading a stream"))?;
            let mut events = Vec::new();
            let mut last_stream = Some(stream.clone());
            while let Some(row) = rows.next().map_err(failed("reading a stream"))? {
                events.push(self.decode(tenant, &raw_event(row, 0)?, &mut last_stream)?);
            }
            Ok(events)
        })
    }

    fn stream_version_now(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<u64>, StoreError> {
        let version = self.inner.database.read_blocking(|transaction| {
            transaction
                .prepare_cached(STREAM_VERSION)
                .and_then(|mut statement| {
                    statement
                        .query_row((tenant.as_str(), stream.as_str()), |row| {
                            row.get::<_, i64>(0)
                        })
                        .optional()
                })
                .map_err(failed("reading a stream version"))
        })?;
        version
            .map(|version| to_u64(version, "eventstore_streams"))
            .transpose()
    }

    fn read_all_now(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<ReadAllPage, StoreError> {
        let mut page = ReadAllPage {
            events: Vec::with_capacity(limit.min(READ_ALL_RESERVE)),
            unreadable: Vec::new(),
            next: after,
            held_by: None,
        };
        if limit == 0 {
            return Ok(page);
        }
        self.inner.database.read_blocking(|transaction| {
            let mut statement = transaction
                .prepare_cached(READ_ALL)
                .map_err(failed("reading a tenant's events"))?;
            let mut rows = statement
                .query((
                    tenant.as_str(),
                    clamp_i64(after.transaction),
                    clamp_i64(after.position),
                    clamp_limit(limit),
                ))
                .map_err(failed("reading a tenant's events"))?;
            let mut last_stream = None;
            while let Some(row) = rows.next().map_err(failed("reading a tenant's events"))? {
                // A row that cannot be decoded is passed over, never allowed to stall the
                // tenant: even one whose stored fields cannot be read as such.
                match raw_event(row, 0) {
                    Ok(raw) => {
                        page.next = raw.position;
                        match self.decode(tenant, &raw, &mut last_stream) {
                            Ok(event) => page.events.push(event),
                            Err(error) => page.unreadable.push(raw.unreadable(&error)),
                        }
                    }
                    Err(error) => {
                        let unreadable = unreadable_row(row, &error).ok_or(error)?;
                        page.next = unreadable.position;
                        page.unreadable.push(unreadable);
                    }
                }
            }
            Ok(())
        })?;
        Ok(page)
    }

    /// Writes a snapshot whose state was checked and serialized (`state`).
    fn save_snapshot_now(
        &self,
        tenant: &TenantId,
        snapshot: &SnapshotRow,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.inner.database.write_blocking(|transaction| {
            let head = transaction
                .prepare_cached(STREAM_VERSION)
                .and_then(|mut statement| {
                    statement
                        .query_row((tenant.as_str(), snapshot.stream.as_str()), |row| {
                            row.get::<_, i64>(0)
                        })
                        .optional()
                })
                .map_err(failed("reading a stream version"))?
                .map(|version| to_u64(version, "eventstore_streams"))
                .transpose()?;
            if snapshot.stream_version > head.unwrap_or(0) {
                return Err(StoreError::SnapshotAheadOfStream {
                    stream: snapshot.stream.clone(),
                    snapshot_version: snapshot.stream_version,
                    stream_version: head,
                });
            }
            transaction
                .prepare_cached(SAVE_SNAPSHOT)
                .and_then(|mut statement| {
                    statement.execute((
                        tenant.as_str(),
                        snapshot.stream.as_str(),
                        snapshot.snapshot_type.as_str(),
                        i64::from(snapshot.schema_version),
                        clamp_i64(snapshot.stream_version),
                        state,
                        micros(chrono::Utc::now()),
                    ))
                })
                .map_err(failed("saving a snapshot"))?;
            Ok(())
        })
    }

    fn load_snapshot_now(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> Result<Option<Snapshot>, StoreError> {
        let stored = self.inner.database.read_blocking(|transaction| {
            transaction
                .prepare_cached(LOAD_SNAPSHOT)
                .and_then(|mut statement| {
                    statement
                        .query_row((tenant.as_str(), stream.as_str(), snapshot_type), |row| {
                            Ok((
                                row.get::<_, i64>(0)?,
                                row.get::<_, i64>(1)?,
                                row.get::<_, Vec<u8>>(2)?,
                            ))
                        })
                        .optional()
                })
                .map_err(failed("loading a snapshot"))
        })?;
        let Some((stored_schema_version, stream_version, state)) = stored else {
            return Ok(None);
        };
        if stored_schema_version != i64::from(schema_version) {
            // Of another schema version: of no use to anyone asking for this one.
            self.inner.database.write_blocking(|transaction| {
                transaction
                    .prepare_cached(DISCARD_SNAPSHOT)
                    .and_then(|mut statement| {
                        statement.execute((
                            tenant.as_str(),
                            stream.as_str(),
                            snapshot_type,
                            i64::from(schema_version),
                        ))
                    })
                    .map_err(failed("discarding a snapshot"))
            })?;
            return Ok(None);
        }
        let location = || format!("snapshot {snapshot_type} of stream {stream}");
        Ok(Some(Snapshot {
            stream: stream.clone(),
            snapshot_type: snapshot_type.to_owned(),
            schema_version,
            stream_version: to_u64(stream_version, &location())?,
            state: serde_json::from_slice(&state).map_err(|error| corrupt(location(), error))?,
        }))
    }
}

/// Makes sure `subject`'s key is `key`, storing it unless the subject has one; refuses with
/// [`StoreError::SubjectKeyDiffers`] when the subject has another key or was shredded.
fn require_subject_key(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    subject: &SubjectId,
    key: &SubjectKey,
) -> Result<(), StoreError> {
    match claim_key_in(transaction, tenant, subject, key)? {
        Some(stored) if stored.as_slice() == key.expose_bytes().as_slice() => Ok(()),
        Some(_) | None => Err(StoreError::SubjectKeyDiffers),
    }
}

impl EventStore for SqliteStore {
    async fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        let batch = encode_batch(&self.inner.settings, tenant, stream, expected, events)?;
        self.append_encoded(tenant, stream, expected, batch, None)
            .await
    }

    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (tenant, stream) = (tenant.clone(), stream.clone());
        self.blocking(move |store| store.read_stream_now(&tenant, &stream, read))
            .await
    }

    async fn stream_version(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<u64>, StoreError> {
        let (tenant, stream) = (tenant.clone(), stream.clone());
        self.blocking(move |store| store.stream_version_now(&tenant, &stream))
            .await
    }

    async fn read_all(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<ReadAllPage, StoreError> {
        let tenant = tenant.clone();
        self.blocking(move |store| store.read_all_now(&tenant, after, limit))
            .await
    }

    fn append_signal(&self) -> watch::Receiver<u64> {
        self.inner.signal.subscribe()
    }

    async fn save_snapshot(
        &self,
        tenant: &TenantId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        // Checked and serialized here: the state is never cloned (a clone of a value nested
        // too deep would overflow the stack before the check could refuse it).
        validate_name(NameKind::SnapshotType, &snapshot.snapshot_type)?;
        check_state_depth(&snapshot.state, self.inner.settings.json_depth_limit())?;
        let state = serde_json::to_vec(&snapshot.state).map_err(|error| StoreError::Database {
            code: "client".into(),
            message: format!("snapshot state: {error}"),
        })?;
        let tenant = tenant.clone();
        let row = SnapshotRow {
            stream: snapshot.stream.clone(),
            snapshot_type: snapshot.snapshot_type.clone(),
            schema_version: snapshot.schema_version,
            stream_version: snapshot.stream_version,
        };
        self.blocking(move |store| store.save_snapshot_now(&tenant, &row, &state))
            .await
    }

    async fn load_snapshot(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> Result<Option<Snapshot>, StoreError> {
        let (tenant, stream, snapshot_type) =
            (tenant.clone(), stream.clone(), snapshot_type.to_owned());
        self.blocking(move |store| {
            store.load_snapshot_now(&tenant, &stream, &snapshot_type, schema_version)
        })
        .await
    }

    async fn verify(&self, tenant: &TenantId) -> Result<VerifyReport, StoreError> {
        let tenant = tenant.clone();
        self.blocking(move |store| store.verify_now(&tenant, None))
            .await
    }

    async fn verify_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<VerifyReport, StoreError> {
        let (tenant, stream) = (tenant.clone(), stream.clone());
        self.blocking(move |store| store.verify_now(&tenant, Some(&stream)))
            .await
    }

    async fn seal(&self, tenant: &TenantId) -> Result<Option<Seal>, StoreError> {
        let tenant = tenant.clone();
        self.blocking(move |store| store.seal_now(&tenant)).await
    }

    async fn seals(&self, tenant: &TenantId) -> Result<Vec<Seal>, StoreError> {
        let tenant = tenant.clone();
        self.blocking(move |store| store.seals_now(&tenant)).await
    }

    async fn head_manifest(&self, tenant: &TenantId) -> Result<HeadManifest, StoreError> {
        let tenant = tenant.clone();
        self.blocking(move |store| store.head_manifest_now(&tenant))
            .await
    }

    async fn verify_against(
        &self,
        tenant: &TenantId,
        manifest: &HeadManifest,
    ) -> Result<VerifyReport, StoreError> {
        let (tenant, manifest) = (tenant.clone(), manifest.clone());
        self.blocking(move |store| {
            let mut report = store.verify_now(&tenant, None)?;
            let check = store.check_manifest_now(&tenant, &manifest)?;
            report.manifest_problems = check.problems;
            report.manifest_problem_count = check.count;
            Ok(report)
        })
        .await
    }
}
