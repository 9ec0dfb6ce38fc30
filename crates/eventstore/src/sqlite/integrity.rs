//! Tamper evidence on SQLite: `verify` (hash chains recomputed from the stored bytes, seals
//! recomputed from the events), sealing, and head manifests. The walkers are the ones every
//! backend shares (`verify.rs`, `seal.rs`).

use chrono::Utc;
use rusqlite::{OptionalExtension, Row, Transaction};
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{clamp_i64, corrupt, failed, from_micros, micros, position, raw_event, to_u64};
use crate::codec::to_hash;
use crate::hash::{SealEntries, seal_hash, to_micros};
use crate::seal::{MAX_EVENTS_PER_SEAL, ManifestCheck, SealWalk};
use crate::verify::ChainVerifier;
use crate::{
    BrokenSeal, EventHash, GlobalPosition, HeadManifest, Seal, StoreError, StreamHead, StreamId,
    TenantId, VerifyReport,
};

/// Stream heads joined with their events, in (stream, version) order, optionally for one
/// stream (?2). A head without events comes as one row with NULL event columns.
const VERIFY_WALK: &str = "SELECT s.stream_id, s.version, s.last_hash, e.version, e.position, \
     e.tx_id, e.event_id, e.event_type, e.schema_version, e.payload, e.metadata, \
     e.recorded_at, e.hash, e.previous_hash \
     FROM eventstore_streams s LEFT JOIN eventstore_events e \
     ON e.tenant_id = s.tenant_id AND e.stream_id = s.stream_id \
     WHERE s.tenant_id = ?1 AND (?2 IS NULL OR s.stream_id = ?2) \
     ORDER BY s.stream_id, e.version";

/// The first event (if any) whose stream has no head row.
const VERIFY_ORPHAN: &str = "SELECT e.stream_id, e.version, e.event_id FROM eventstore_events e \
     WHERE e.tenant_id = ?1 AND (?2 IS NULL OR e.stream_id = ?2) \
     AND NOT EXISTS (SELECT 1 FROM eventstore_streams s WHERE s.tenant_id = e.tenant_id \
     AND s.stream_id = e.stream_id) ORDER BY e.stream_id, e.version LIMIT 1";

/// A tenant's seals, oldest first.
const SEALS: &str = "SELECT seal_number, through_tx, through_position, event_count, \
     previous_hash, hash, sealed_at FROM eventstore_seals WHERE tenant_id = ?1 \
     ORDER BY seal_number";

const LAST_SEAL_NUMBER: &str = "SELECT max(seal_number) FROM eventstore_seals WHERE tenant_id = ?1";

const INSERT_SEAL: &str = "INSERT INTO eventstore_seals (tenant_id, seal_number, through_tx, \
     through_position, event_count, previous_hash, hash, sealed_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// The positions and hashes of a tenant's events in global order, after (?2, ?3) and up to
/// (?4, ?5), at most ?6.
const EVENT_HASHES: &str = "SELECT position, tx_id, hash FROM eventstore_events \
     WHERE tenant_id = ?1 AND (tx_id, position) > (?2, ?3) AND (tx_id, position) <= (?4, ?5) \
     ORDER BY tx_id, position LIMIT ?6";

/// Every stream head of a tenant, by name.
const STREAM_HEADS: &str = "SELECT stream_id, version, last_hash FROM eventstore_streams \
     WHERE tenant_id = ?1 ORDER BY stream_id";

const HEAD_VERSION: &str =
    "SELECT version FROM eventstore_streams WHERE tenant_id = ?1 AND stream_id = ?2";

const HASH_AT: &str = "SELECT hash FROM eventstore_events \
     WHERE tenant_id = ?1 AND stream_id = ?2 AND version = ?3";

impl SqliteStore {
    /// Walks the tenant's streams (or one) in one read transaction, so appends made
    /// meanwhile cannot look like breaks, then recomputes the seals.
    pub(super) fn verify_now(
        &self,
        tenant: &TenantId,
        only: Option<&StreamId>,
    ) -> Result<VerifyReport, StoreError> {
        self.database().read_blocking(|transaction| {
            let only_name = only.map(StreamId::as_str);
            let mut verifier = ChainVerifier::new(tenant.clone());
            walk_chains(transaction, tenant, only_name, &mut verifier)?;
            if !verifier.is_broken() {
                find_orphan(transaction, tenant, only_name, &mut verifier)?;
            }
            let mut report = verifier.finish();
            if only.is_none() {
                (report.seals_checked, report.first_broken_seal) = walk_seals(transaction, tenant)?;
            }
            Ok(report)
        })
    }

    pub(super) fn seals_now(&self, tenant: &TenantId) -> Result<Vec<Seal>, StoreError> {
        self.database()
            .read_blocking(|transaction| seals_in(transaction, tenant))
    }

    /// Seals everything committed after the last seal, one seal per
    /// [`MAX_EVENTS_PER_SEAL`] events. Each stretch is read and hashed in a read
    /// transaction, beside the writer, and only the seal's row is written; should another
    /// sealer have added a seal meanwhile, the stretch is read again after it.
    pub(super) fn seal_now(&self, tenant: &TenantId) -> Result<Option<Seal>, StoreError> {
        loop {
            let (last, next) = self.database().read_blocking(|transaction| {
                let last = seals_in(transaction, tenant)?.pop();
                let next = next_seal(transaction, tenant, last.as_ref())?;
                Ok::<_, StoreError>((last, next))
            })?;
            let Some(seal) = next else {
                return Ok(last);
            };
            let added = self.database().write_blocking(|transaction| {
                let current: Option<i64> = transaction
                    .prepare_cached(LAST_SEAL_NUMBER)
                    .and_then(|mut statement| {
                        statement.query_row([tenant.as_str()], |row| row.get(0))
                    })
                    .map_err(failed("reading the last seal"))?;
                let expected = last.map(|last| clamp_i64(last.number));
                if current != expected {
                    return Ok(false);
                }
                transaction
                    .prepare_cached(INSERT_SEAL)
                    .and_then(|mut statement| {
                        statement.execute((
                            tenant.as_str(),
                            clamp_i64(seal.number),
                            clamp_i64(seal.through.transaction),
                            clamp_i64(seal.through.position),
                            clamp_i64(seal.event_count),
                            seal.previous_hash.0.as_slice(),
                            seal.hash.0.as_slice(),
                            micros(seal.sealed_at),
                        ))
                    })
                    .map_err(failed("writing a seal"))?;
                Ok::<_, StoreError>(true)
            })?;
            if added && seal.event_count < MAX_EVENTS_PER_SEAL {
                return Ok(Some(seal));
            }
        }
    }

    pub(super) fn head_manifest_now(&self, tenant: &TenantId) -> Result<HeadManifest, StoreError> {
        let seal = self.seal_now(tenant)?;
        let streams = self.database().read_blocking(|transaction| {
            let mut statement = transaction
                .prepare_cached(STREAM_HEADS)
                .map_err(failed("reading stream heads"))?;
            let mut rows = statement
                .query([tenant.as_str()])
                .map_err(failed("reading stream heads"))?;
            let mut streams = Vec::new();
            while let Some(row) = rows.next().map_err(failed("reading stream heads"))? {
                let stream: String = row.get(0).map_err(failed("reading stream heads"))?;
                let version: i64 = row.get(1).map_err(failed("reading stream heads"))?;
                let hash = row
                    .get_ref(2)
                    .map_err(failed("reading stream heads"))?
                    .as_blob()
                    .ok()
                    .and_then(to_hash)
                    .ok_or_else(|| corrupt("eventstore_streams", "hash is not 32 bytes"))?;
                streams.push(StreamHead {
                    version: to_u64(version, "eventstore_streams")?,
                    stream,
                    hash,
                });
            }
            Ok::<_, StoreError>(streams)
        })?;
        Ok(HeadManifest::taken_now(tenant.as_str(), seal, streams))
    }

    pub(super) fn check_manifest_now(
        &self,
        tenant: &TenantId,
        manifest: &HeadManifest,
    ) -> Result<ManifestCheck, StoreError> {
        let mut check = match ManifestCheck::start(tenant.as_str(), manifest) {
            Ok(check) => check,
            Err(foreign) => return Ok(foreign),
        };
        self.database().read_blocking(|transaction| {
            let mut head_version = transaction
                .prepare_cached(HEAD_VERSION)
                .map_err(failed("checking a manifest"))?;
            let mut hash_at = transaction
                .prepare_cached(HASH_AT)
                .map_err(failed("checking a manifest"))?;
            for head in &manifest.streams {
                let version: Option<i64> = head_version
                    .query_row((tenant.as_str(), head.stream.as_str()), |row| row.get(0))
                    .optional()
                    .map_err(failed("checking a manifest"))?;
                let version = version
                    .map(|version| to_u64(version, "eventstore_streams"))
                    .transpose()?;
                let hash: Option<Vec<u8>> = match i64::try_from(head.version.max(1)) {
                    Ok(at) => hash_at
                        .query_row((tenant.as_str(), head.stream.as_str(), at), |row| {
                            row.get(0)
                        })
                        .optional()
                        .map_err(failed("checking a manifest"))?,
                    Err(_) => None,
                };
                check.stream(head, version, hash.as_deref().and_then(to_hash));
            }
            if let Some(seal) = &manifest.seal {
                let seals = seals_in(transaction, tenant)?;
                check.seal(
                    seal,
                    seals.iter().find(|stored| stored.number == seal.number),
                );
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(check)
    }
}

/// Feeds every stream head and its events to `verifier`, stopping at the first break.
fn walk_chains(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    only: Option<&str>,
    verifier: &mut ChainVerifier,
) -> Result<(), StoreError> {
    let mut statement = transaction
        .prepare_cached(VERIFY_WALK)
        .map_err(failed("verifying"))?;
    let mut rows = statement
        .query((tenant.as_str(), only))
        .map_err(failed("verifying"))?;
    while let Some(row) = rows.next().map_err(failed("verifying"))? {
        let stream: &str = row
            .get_ref(0)
            .and_then(|value| Ok(value.as_str()?))
            .map_err(|error| corrupt("eventstore_streams", error))?;
        if !verifier.in_stream(stream) {
            let head: i64 = row.get(1).map_err(|error| corrupt(stream, error))?;
            let head_hash: Vec<u8> = row.get(2).map_err(|error| corrupt(stream, error))?;
            let stream_id =
                StreamId::new(stream).map_err(|error| corrupt("eventstore_streams", error))?;
            verifier.begin_stream(stream_id, to_u64(head, stream)?, &head_hash);
        }
        let has_event = row
            .get_ref(3)
            .map_err(|error| corrupt(stream, error))?
            .data_type()
            != rusqlite::types::Type::Null;
        if has_event {
            verifier.event(&raw_event(row, 2)?);
        }
        if verifier.is_broken() {
            break;
        }
    }
    Ok(())
}

/// Reports an event without a stream head, if there is one.
fn find_orphan(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    only: Option<&str>,
    verifier: &mut ChainVerifier,
) -> Result<(), StoreError> {
    let orphan = transaction
        .prepare_cached(VERIFY_ORPHAN)
        .and_then(|mut statement| {
            statement
                .query_row((tenant.as_str(), only), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .optional()
        })
        .map_err(failed("verifying"))?;
    if let Some((stream, version, event_id)) = orphan {
        let location = format!("eventstore_events ({stream})");
        let stream = StreamId::new(&stream).map_err(|error| corrupt(&location, error))?;
        let event_id = Uuid::from_slice(&event_id).map_err(|error| corrupt(&location, error))?;
        verifier.orphan(stream, to_u64(version, &location)?, event_id);
    }
    Ok(())
}

fn seal_from_row(row: &Row<'_>) -> Result<Seal, StoreError> {
    const LOCATION: &str = "eventstore_seals";
    let number: i64 = row.get(0).map_err(|error| corrupt(LOCATION, error))?;
    let event_count: i64 = row.get(3).map_err(|error| corrupt(LOCATION, error))?;
    let hash_at = |column: usize| -> Result<EventHash, StoreError> {
        let bytes: Vec<u8> = row.get(column).map_err(|error| corrupt(LOCATION, error))?;
        to_hash(&bytes).ok_or_else(|| corrupt(LOCATION, "a hash is not 32 bytes"))
    };
    let sealed_at: i64 = row.get(6).map_err(|error| corrupt(LOCATION, error))?;
    Ok(Seal {
        number: to_u64(number, LOCATION)?,
        through: position(row, 2, 1)?,
        event_count: to_u64(event_count, LOCATION)?,
        previous_hash: hash_at(4)?,
        hash: hash_at(5)?,
        sealed_at: from_micros(sealed_at, LOCATION)?,
    })
}

fn seals_in(transaction: &Transaction<'_>, tenant: &TenantId) -> Result<Vec<Seal>, StoreError> {
    let mut statement = transaction
        .prepare_cached(SEALS)
        .map_err(failed("reading seals"))?;
    let mut rows = statement
        .query([tenant.as_str()])
        .map_err(failed("reading seals"))?;
    let mut seals = Vec::new();
    while let Some(row) = rows.next().map_err(failed("reading seals"))? {
        seals.push(seal_from_row(row)?);
    }
    Ok(seals)
}

/// Feeds the hashes of the tenant's events in global order after `after` (and up to
/// `through`, at most `limit`) to `each`.
fn each_event_hash(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    after: GlobalPosition,
    through: GlobalPosition,
    limit: u64,
    mut each: impl FnMut(GlobalPosition, &EventHash) -> bool,
) -> Result<(), StoreError> {
    let mut statement = transaction
        .prepare_cached(EVENT_HASHES)
        .map_err(failed("reading event hashes"))?;
    let mut rows = statement
        .query((
            tenant.as_str(),
            clamp_i64(after.transaction),
            clamp_i64(after.position),
            clamp_i64(through.transaction),
            clamp_i64(through.position),
            clamp_i64(limit),
        ))
        .map_err(failed("reading event hashes"))?;
    while let Some(row) = rows.next().map_err(failed("reading event hashes"))? {
        let at = position(row, 0, 1)?;
        // A hash of the wrong length counts as all zeros: the seal over it breaks.
        let hash = row
            .get_ref(2)
            .ok()
            .and_then(|value| value.as_blob().ok())
            .and_then(to_hash)
            .unwrap_or_default();
        if !each(at, &hash) {
            break;
        }
    }
    Ok(())
}

/// Recomputes every seal of the tenant from its events (in the caller's read transaction).
fn walk_seals(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
) -> Result<(u64, Option<BrokenSeal>), StoreError> {
    let seals = seals_in(transaction, tenant)?;
    let Some(through) = SealWalk::last_through(&seals) else {
        return Ok((0, None));
    };
    let mut walk = SealWalk::new(tenant.as_str(), seals);
    each_event_hash(
        transaction,
        tenant,
        GlobalPosition::START,
        through,
        u64::MAX,
        |position, hash| {
            walk.event(position, hash);
            walk.wants_more()
        },
    )?;
    Ok(walk.finish())
}

/// The seal over the next stretch after `last`, `None` when no event follows it.
fn next_seal(
    transaction: &Transaction<'_>,
    tenant: &TenantId,
    last: Option<&Seal>,
) -> Result<Option<Seal>, StoreError> {
    let after = last.map_or(GlobalPosition::START, |seal| seal.through);
    let mut entries = SealEntries::new();
    let mut through = None;
    let end = GlobalPosition {
        transaction: u64::MAX,
        position: u64::MAX,
    };
    each_event_hash(
        transaction,
        tenant,
        after,
        end,
        MAX_EVENTS_PER_SEAL,
        |position, hash| {
            entries.push(position, hash);
            through = Some(position);
            true
        },
    )?;
    let Some(through) = through else {
        return Ok(None);
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
    Ok(Some(Seal {
        number,
        through,
        event_count,
        previous_hash,
        hash,
        sealed_at: to_micros(Utc::now()),
    }))
}
