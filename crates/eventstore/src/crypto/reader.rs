//! An event store that hands out events with their encrypted fields opened.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::watch;

use super::{CryptoError, SubjectId, SubjectKey, SubjectKeyStore, subjects_in};
use crate::error::with_causes;
use crate::{
    AppendResult, EventStore, ExpectedVersion, GlobalPosition, HeadManifest, NewEvent, ReadAllPage,
    RecordedEvent, Seal, Snapshot, StoreError, StreamId, StreamRead, TenantId, UnreadableEvent,
    VerifyReport,
};

/// An [`EventStore`] over another one that decrypts every event it reads: each envelope in a
/// payload becomes its plaintext again, or the [`erased_marker`](super::erased_marker) once its
/// subject was shredded ([`decrypt_event_fields`](super::decrypt_event_fields), with the
/// event's own id). Everything that reads through it (stream loads, [`read_all`], and so
/// every [`Subscription`](crate::Subscription) and projector) sees plaintext without knowing
/// about encryption.
///
/// Writes pass through unchanged: the writer encrypts the fields it knows to be personal
/// before appending ([`encrypt_event_fields`](super::encrypt_event_fields)), so the store,
/// its hashes and every copy of its tables hold only ciphertext. Verification, seals and
/// manifests run on the stored bytes. Snapshots pass through as they are: a snapshot of a
/// state with personal data holds plaintext, so a writer of encrypted streams does not
/// snapshot them (or encrypts the snapshot's fields itself).
///
/// Keys are fetched once per read call, for all the subjects the read names, in one round
/// trip on PostgreSQL ([`SubjectKeyStore::decryption_keys`]); none is kept between calls, so a
/// shredding takes effect on the very next read.
///
/// Errors: a key store that cannot be reached fails the read with
/// [`StoreError::Unavailable`] (nothing is skipped because of an outage). An event whose
/// envelopes cannot be opened for a reason of its own (altered or moved ciphertext, a subject
/// with neither key nor shredding record) fails [`read_stream`](EventStore::read_stream) with
/// [`StoreError::CorruptRow`], and is passed over by [`read_all`] as an [`UnreadableEvent`],
/// like any row the store cannot decode, so it never stalls a tenant.
///
/// Decryption runs after the inner store's upcasters: an upcaster must leave encrypted fields
/// where they were sealed (it cannot read them anyway).
///
/// [`read_all`]: EventStore::read_all
#[derive(Debug, Clone)]
pub struct DecryptingStore<S, K> {
    store: S,
    keys: K,
}

impl<S: EventStore, K: SubjectKeyStore> DecryptingStore<S, K> {
    /// Reads `store` through the keys of `keys`.
    pub fn new(store: S, keys: K) -> Self {
        Self { store, keys }
    }

    /// The store underneath, which hands out events as stored (with their envelopes).
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// The key store the events are opened with.
    pub fn keys(&self) -> &K {
        &self.keys
    }

    /// The keys for every subject named in `events`, fetched in one call.
    async fn keys_for(
        &self,
        tenant: &TenantId,
        events: &[RecordedEvent],
    ) -> Result<BTreeMap<SubjectId, Option<SubjectKey>>, StoreError> {
        let mut subjects = BTreeSet::new();
        for event in events {
            // A malformed envelope is reported with its event below, not here.
            if let Ok(named) = subjects_in(&event.payload) {
                subjects.extend(named);
            }
        }
        if subjects.is_empty() {
            return Ok(BTreeMap::new());
        }
        match self.keys.decryption_keys(tenant, &subjects).await {
            Ok(keys) => Ok(keys),
            // One unknown subject must not make the others' events unreadable: ask one by
            // one, and let each event report its own missing key.
            Err(CryptoError::KeyNotFound { .. }) => {
                let mut keys = BTreeMap::new();
                for subject in subjects {
                    match self.keys.decryption_key(tenant, &subject).await {
                        Ok(key) => {
                            keys.insert(subject, key);
                        }
                        Err(CryptoError::KeyNotFound { .. }) => {}
                        Err(error) => return Err(unavailable(error)),
                    }
                }
                Ok(keys)
            }
            Err(error) => Err(unavailable(error)),
        }
    }
}

/// Opens every envelope of `event` in place.
fn open(
    event: &mut RecordedEvent,
    keys: &BTreeMap<SubjectId, Option<SubjectKey>>,
) -> Result<(), CryptoError> {
    super::decrypt_event_fields_with_keys(&mut event.payload, &event.tenant, event.id, keys)
        .map(drop)
}

fn unavailable(error: CryptoError) -> StoreError {
    StoreError::Unavailable {
        reason: with_causes(&error),
        source: Some(Box::new(error)),
    }
}

fn corrupt(event: &RecordedEvent, error: &CryptoError) -> StoreError {
    StoreError::CorruptRow {
        location: format!(
            "tenant {}, stream {}, version {}",
            event.tenant, event.stream, event.version
        ),
        reason: format!("its encrypted fields cannot be opened: {error}"),
    }
}

impl<S: EventStore, K: SubjectKeyStore> EventStore for DecryptingStore<S, K> {
    fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send {
        self.store.append(tenant, stream, expected, events)
    }

    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.store.read_stream(tenant, stream, read).await?;
        let keys = self.keys_for(tenant, &events).await?;
        for event in &mut events {
            if let Err(error) = open(event, &keys) {
                return Err(corrupt(event, &error));
            }
        }
        Ok(events)
    }

    fn stream_version(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        self.store.stream_version(tenant, stream)
    }

    fn stream_versions(
        &self,
        tenant: &TenantId,
        streams: &[StreamId],
    ) -> impl Future<Output = Result<Vec<Option<u64>>, StoreError>> + Send {
        self.store.stream_versions(tenant, streams)
    }

    async fn read_all(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<ReadAllPage, StoreError> {
        let mut page = self.store.read_all(tenant, after, limit).await?;
        let keys = self.keys_for(tenant, &page.events).await?;
        let mut opened = Vec::with_capacity(page.events.len());
        let mut passed_over = Vec::new();
        for mut event in page.events {
            match open(&mut event, &keys) {
                Ok(()) => opened.push(event),
                Err(error) => passed_over.push(UnreadableEvent {
                    stream: event.stream.to_string(),
                    version: event.version,
                    position: event.position,
                    id: event.id,
                    event_type: event.event_type,
                    stored_schema_version: event.stored_schema_version,
                    recorded_at: event.recorded_at,
                    reason: format!("its encrypted fields cannot be opened: {error}"),
                }),
            }
        }
        page.events = opened;
        if !passed_over.is_empty() {
            page.unreadable.extend(passed_over);
            page.unreadable.sort_by_key(|event| event.position);
        }
        Ok(page)
    }

    fn append_signal(&self) -> watch::Receiver<u64> {
        self.store.append_signal()
    }

    fn save_snapshot(
        &self,
        tenant: &TenantId,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.store.save_snapshot(tenant, snapshot)
    }

    fn load_snapshot(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        self.store
            .load_snapshot(tenant, stream, snapshot_type, schema_version)
    }

    fn verify(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send {
        self.store.verify(tenant)
    }

    fn seal(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<Seal>, StoreError>> + Send {
        self.store.seal(tenant)
    }

    fn seals(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<Seal>, StoreError>> + Send {
        self.store.seals(tenant)
    }

    fn head_manifest(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<HeadManifest, StoreError>> + Send {
        self.store.head_manifest(tenant)
    }

    fn verify_against(
        &self,
        tenant: &TenantId,
        manifest: &HeadManifest,
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send {
        self.store.verify_against(tenant, manifest)
    }

    fn verify_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send {
        self.store.verify_stream(tenant, stream)
    }
}
