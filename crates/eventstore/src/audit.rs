//! An export of a tenant's history that an auditor checks offline, with nothing but this
//! description of the hashes ([`crate::hash`]) and, ideally, a head manifest kept elsewhere.
//!
//! The export is JSON Lines: an [`ExportHeader`], then every event as an [`ExportedEvent`], in
//! (stream, version) order, with its payload and metadata as the exact text the store keeps
//! (the hashes cover those bytes). [`verify_export`] recomputes every hash, checks every
//! stream's chain from version 1, and, given a [`HeadManifest`], checks that every stream head
//! it names is in the export unchanged: a tail cut, a stream deleted or a chain recomputed
//! inside the database after the manifest was taken is caught.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::hash::{EventContent, chain_hash, content_digest};
use crate::{EventHash, HeadManifest};

/// The format tag of an export's header.
pub const EXPORT_FORMAT: &str = "crm-eventstore/export/v1";

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The tenant's canonical name.
    pub tenant: String,
    /// When the export was taken.
    pub exported_at: DateTime<Utc>,
}

/// One stored event as exported: the bytes its hash covers, and its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedEvent {
    /// The stream's name.
    pub stream: String,
    /// Its version in the stream.
    pub version: u64,
    /// Its place in the tenant's global order.
    pub position: u64,
    /// The transaction that wrote it.
    pub transaction: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// The schema version it was stored with.
    pub schema_version: u16,
    /// The payload, the exact text the store keeps.
    pub payload: String,
    /// The metadata, the exact text the store keeps.
    pub metadata: String,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Its hash as stored.
    pub hash: EventHash,
    /// The previous event's hash as stored.
    pub previous_hash: EventHash,
}

/// What an offline check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Streams checked.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// The first event whose chain breaks: stream, version and why.
    pub first_broken: Option<(String, u64, String)>,
    /// What the manifest names that the export does not have as it was (at most 100).
    pub manifest_problems: Vec<String>,
}

impl ExportReport {
    /// Whether every chain holds and the manifest, if any, is matched.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none() && self.manifest_problems.is_empty()
    }
}

/// Checks an export of `tenant`'s events, given in (stream, version) order; see the
/// [module documentation](self).
pub fn verify_export(
    tenant: &str,
    events: impl IntoIterator<Item = ExportedEvent>,
    manifest: Option<&HeadManifest>,
) -> ExportReport {
    let mut report = ExportReport::default();
    // Per stream: its last version and hash, and the hash at every version the manifest names.
    let mut heads: BTreeMap<String, (u64, EventHash)> = BTreeMap::new();
    let wanted: BTreeMap<&str, (u64, EventHash)> = manifest
        .map(|manifest| {
            manifest
                .streams
                .iter()
                .map(|head| (head.stream.as_str(), (head.version, head.hash)))
                .collect()
        })
        .unwrap_or_default();
    let mut seen_at_manifest: BTreeMap<String, EventHash> = BTreeMap::new();
    for event in events {
        report.events += 1;
        let (expected_version, previous) = if let Some((version, hash)) = heads.get(&event.stream) {
            (version + 1, *hash)
        } else {
            report.streams += 1;
            (1, EventHash::ZERO)
        };
        let digest = content_digest(&EventContent {
            tenant,
            stream: &event.stream,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: event.payload.as_bytes(),
            metadata: event.metadata.as_bytes(),
        });
        let computed = chain_hash(&previous, event.version, event.recorded_at, &digest);
        let problem = if event.version != expected_version {
            Some(format!("version {expected_version} was expected"))
        } else if event.previous_hash != previous {
            Some(format!(
                "its previous hash {} is not the previous event's {previous}",
                event.previous_hash
            ))
        } else if event.hash != computed {
            Some(format!(
                "its hash {} is not the hash of its bytes, {computed}",
                event.hash
            ))
        } else {
            None
        };
        if let Some(problem) = problem
            && report.first_broken.is_none()
        {
            report.first_broken = Some((event.stream.clone(), event.version, problem));
        }
        if wanted
            .get(event.stream.as_str())
            .is_some_and(|(version, _)| *version == event.version)
        {
            seen_at_manifest.insert(event.stream.clone(), event.hash);
        }
        heads.insert(event.stream, (event.version, event.hash));
    }
    for (stream, (version, hash)) in wanted {
        let problem = match seen_at_manifest.get(stream) {
            None if heads.contains_key(stream) => Some(format!(
                "stream {stream} ends before version {version}, which the manifest names"
            )),
            None => Some(format!(
                "stream {stream}, which the manifest names, is missing"
            )),
            Some(found) if *found != hash => Some(format!(
                "stream {stream} at version {version} has hash {found}, the manifest {hash}"
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem
            && report.manifest_problems.len() < 100
        {
            report.manifest_problems.push(problem);
        }
    }
    report
}
