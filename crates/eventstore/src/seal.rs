//! Tamper evidence beyond each stream: seals over a tenant's global order, and head manifests
//! an auditor keeps outside the database.
//!
//! Each stream's hash chain fixes that stream's content and order, but not the order across
//! streams (which every subscriber follows), and not whether a whole stream, or a stream's tail
//! together with its head, is still there. Two things close that:
//!
//! - **Seals** ([`Seal`], made by [`EventStore::seal`](crate::EventStore::seal)): each covers
//!   the tenant's events after the previous seal, up to a position, in global order, and
//!   chains to the previous seal (the encoding is in [`crate::hash`]). `verify` recomputes
//!   every seal from the events, so swapping two events' positions, deleting or adding events,
//!   or moving a stream to another tenant inside a sealed range breaks a seal. Seal
//!   periodically (the application's scheduler does); events after the last seal are covered
//!   by their streams' chains only.
//! - **Head manifests** ([`HeadManifest`], from
//!   [`EventStore::head_manifest`](crate::EventStore::head_manifest)): every stream's version
//!   and head hash and the last seal, as JSON, to be stored where the database's owner cannot
//!   write. [`EventStore::verify_against`](crate::EventStore::verify_against) then also catches
//!   what a database owner could otherwise hide: a deleted stream, a stream cut back (tail and
//!   head together), and chains or seals recomputed consistently from the documented encoding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::hash::seal_hash;
use crate::{EventHash, GlobalPosition};

/// The format name written into every [`HeadManifest`].
pub const MANIFEST_FORMAT: &str = "crm-eventstore/manifest/v1";

/// The most events one seal covers; sealing a longer stretch makes several seals.
pub const MAX_EVENTS_PER_SEAL: u64 = 100_000;

/// One seal over a stretch of a tenant's global order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// Its number, from 1, without gaps.
    pub number: u64,
    /// The last position it covers (every event after the previous seal up to here).
    pub through: GlobalPosition,
    /// How many events it covers.
    pub event_count: u64,
    /// The previous seal's hash ([`EventHash::ZERO`] for seal 1).
    pub previous_hash: EventHash,
    /// Its hash (see [`crate::hash`]).
    pub hash: EventHash,
    /// When it was made (not covered by the hash).
    pub sealed_at: DateTime<Utc>,
}

/// One stream's head as a [`HeadManifest`] records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHead {
    /// The stream's name.
    pub stream: String,
    /// Its version when the manifest was taken.
    pub version: u64,
    /// The hash of its event at that version.
    pub hash: EventHash,
}

/// The heads of a tenant's history, taken at one moment, to keep outside the database.
///
/// Serializes to JSON (hashes as hex). A manifest only ever grows stale, never wrong: streams
/// and seals made after it are not in it, and [`crate::EventStore::verify_against`] checks that
/// everything it names is still there, unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadManifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The tenant's canonical name ([`TenantId::as_str`](crate::TenantId::as_str)). A
    /// manifest naming the tenant in another case is still that tenant's.
    pub tenant: String,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// The last seal when it was taken (after sealing everything deliverable then).
    pub seal: Option<Seal>,
    /// Every stream's head, ordered by stream name.
    pub streams: Vec<StreamHead>,
}

impl HeadManifest {
    /// A manifest of `tenant` taken now.
    pub(crate) fn taken_now(tenant: &str, seal: Option<Seal>, streams: Vec<StreamHead>) -> Self {
        Self {
            format: MANIFEST_FORMAT.to_owned(),
            tenant: tenant.to_owned(),
            taken_at: crate::hash::to_micros(Utc::now()),
            seal,
            streams,
        }
    }
}

/// A seal that does not match the events it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenSeal {
    /// The seal's number.
    pub number: u64,
    /// The last position it claims to cover.
    pub through: GlobalPosition,
    /// The hash stored in the seal.
    pub stored: EventHash,
    /// The hash recomputed from the events now in that range (and the recomputed chain of
    /// seals before it).
    pub computed: EventHash,
}

/// Something a [`HeadManifest`] names that the store no longer has as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestProblem {
    /// The manifest belongs to another tenant (or another format).
    NotThisTenant {
        /// The manifest's tenant.
        manifest_tenant: String,
    },
    /// A stream the manifest names does not exist.
    StreamMissing {
        /// The stream.
        stream: String,
    },
    /// A stream is shorter than the manifest's version of it (its tail and head were cut).
    StreamShorter {
        /// The stream.
        stream: String,
        /// Its version in the manifest.
        manifest_version: u64,
        /// Its version now.
        version: u64,
    },
    /// The event at the manifest's version of a stream has another hash (the chain was
    /// rewritten).
    HeadDiffers {
        /// The stream.
        stream: String,
        /// The version.
        version: u64,
    },
    /// The manifest's seal does not exist any more.
    SealMissing {
        /// Its number.
        number: u64,
    },
    /// The seal with the manifest's seal number has another hash or range.
    SealDiffers {
        /// Its number.
        number: u64,
    },
}

/// The most manifest problems a report lists (the count is kept apart).
pub(crate) const LISTED_MANIFEST_PROBLEMS: usize = 100;

/// Recomputes a tenant's seals from its events, fed in global order.
pub(crate) struct SealWalk<'a> {
    tenant: &'a str,
    seals: std::vec::IntoIter<Seal>,
    current: Option<Seal>,
    entries: crate::hash::SealEntries,
    previous: EventHash,
    pub(crate) checked: u64,
    pub(crate) broken: Option<BrokenSeal>,
}

impl<'a> SealWalk<'a> {
    /// A walk over `seals`, ordered by number.
    pub(crate) fn new(tenant: &'a str, seals: Vec<Seal>) -> Self {
        let mut seals = seals.into_iter();
        let current = seals.next();
        Self {
            tenant,
            seals,
            current,
            entries: crate::hash::SealEntries::new(),
            previous: EventHash::ZERO,
            checked: 0,
            broken: None,
        }
    }

    /// The last position any seal covers: events beyond it need not be fed.
    pub(crate) fn last_through(seals: &[Seal]) -> Option<GlobalPosition> {
        seals.last().map(|seal| seal.through)
    }

    /// Whether the walk still wants events.
    pub(crate) fn wants_more(&self) -> bool {
        self.broken.is_none() && self.current.is_some()
    }

    /// Feeds the next event in global order.
    pub(crate) fn event(&mut self, position: GlobalPosition, hash: &EventHash) {
        // Seals whose range ends before this event close first (an empty range is a
        // mismatch, since a seal never covers zero events).
        while let Some(seal) = self.current
            && position > seal.through
        {
            self.close(seal);
            if self.broken.is_some() {
                return;
            }
        }
        if self.current.is_some() {
            self.entries.push(position, hash);
        }
    }

    fn close(&mut self, seal: Seal) {
        let entries = std::mem::take(&mut self.entries);
        let count = entries.count();
        let computed = seal_hash(
            self.tenant,
            &self.previous,
            self.checked + 1,
            seal.through,
            count,
            &entries.finish(),
        );
        if computed != seal.hash || seal.number != self.checked + 1 {
            self.broken = Some(BrokenSeal {
                number: seal.number,
                through: seal.through,
                stored: seal.hash,
                computed,
            });
            return;
        }
        self.previous = computed;
        self.checked += 1;
        self.current = self.seals.next();
    }

    /// Closes the seals the events ran out before.
    pub(crate) fn finish(mut self) -> (u64, Option<BrokenSeal>) {
        while self.broken.is_none()
            && let Some(seal) = self.current
        {
            self.close(seal);
        }
        (self.checked, self.broken)
    }
}

/// Compares a manifest with what the store holds now, one stream at a time.
pub(crate) struct ManifestCheck {
    pub(crate) problems: Vec<ManifestProblem>,
    pub(crate) count: u64,
}

impl ManifestCheck {
    /// A check of `manifest` against `tenant`: `Err` with the finished check when the manifest
    /// is another tenant's (or of another format), so nothing more is worth comparing.
    /// `tenant` is canonical; the manifest's tenant is compared in its canonical form too, so
    /// a manifest kept (or written by hand) as `ACME` is `acme`'s.
    pub(crate) fn start(tenant: &str, manifest: &HeadManifest) -> Result<Self, Self> {
        let mut check = Self {
            problems: Vec::new(),
            count: 0,
        };
        let same_tenant = crate::TenantId::new(&manifest.tenant)
            .is_ok_and(|manifest_tenant| manifest_tenant.as_str() == tenant);
        if !same_tenant || manifest.format != MANIFEST_FORMAT {
            check.problem(ManifestProblem::NotThisTenant {
                manifest_tenant: manifest.tenant.clone(),
            });
            return Err(check);
        }
        Ok(check)
    }

    pub(crate) fn problem(&mut self, problem: ManifestProblem) {
        self.count += 1;
        if self.problems.len() < LISTED_MANIFEST_PROBLEMS {
            self.problems.push(problem);
        }
    }

    /// Checks one stream of the manifest against what the store has: its current version and
    /// the hash of its event at the manifest's version (`None` when either is missing).
    pub(crate) fn stream(
        &mut self,
        head: &StreamHead,
        version: Option<u64>,
        hash_at_manifest_version: Option<EventHash>,
    ) {
        match version {
            None => self.problem(ManifestProblem::StreamMissing {
                stream: head.stream.clone(),
            }),
            Some(version) if version < head.version => {
                self.problem(ManifestProblem::StreamShorter {
                    stream: head.stream.clone(),
                    manifest_version: head.version,
                    version,
                });
            }
            Some(_) if hash_at_manifest_version != Some(head.hash) => {
                self.problem(ManifestProblem::HeadDiffers {
                    stream: head.stream.clone(),
                    version: head.version,
                });
            }
            Some(_) => {}
        }
    }

    /// Checks the manifest's seal against the stored seal of the same number.
    pub(crate) fn seal(&mut self, manifest: &Seal, stored: Option<&Seal>) {
        match stored {
            None => self.problem(ManifestProblem::SealMissing {
                number: manifest.number,
            }),
            Some(stored)
                if (stored.hash, stored.through, stored.event_count)
                    != (manifest.hash, manifest.through, manifest.event_count) =>
            {
                self.problem(ManifestProblem::SealDiffers {
                    number: manifest.number,
                });
            }
            Some(_) => {}
        }
    }
}
