//! The hash-chain walker behind every backend's `verify`: fed a tenant's events in
//! (stream, version) order, it recomputes each hash from the stored bytes and keeps the first
//! broken link.

use uuid::Uuid;

use crate::codec::{RawEvent, to_hash};
use crate::hash::chain_hash;
use crate::{
    BrokenLink, EventHash, GlobalPosition, LinkProblem, StoreError, StreamId, TenantId,
    VerifyReport,
};

struct Cursor {
    stream: StreamId,
    head_version: u64,
    head_hash: Option<EventHash>,
    next_version: u64,
    last_hash: EventHash,
    last_position: GlobalPosition,
}

pub(crate) struct ChainVerifier {
    tenant: TenantId,
    report: VerifyReport,
    cursor: Option<Cursor>,
}

impl ChainVerifier {
    pub(crate) fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            report: VerifyReport::default(),
            cursor: None,
        }
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.report.first_broken.is_some()
    }

    fn break_at(
        &mut self,
        stream: StreamId,
        version: u64,
        event_id: Option<Uuid>,
        problem: LinkProblem,
    ) {
        if self.report.first_broken.is_none() {
            self.report.first_broken = Some(BrokenLink {
                tenant: self.tenant.clone(),
                stream,
                version,
                event_id,
                problem,
            });
        }
    }

    /// Starts a stream whose head row says `head_version` / `head_hash`, closing the previous one.
    pub(crate) fn begin_stream(&mut self, stream: StreamId, head_version: u64, head_hash: &[u8]) {
        self.end_stream();
        if self.is_broken() {
            return;
        }
        self.cursor = Some(Cursor {
            stream,
            head_version,
            head_hash: to_hash(head_hash),
            next_version: 1,
            last_hash: EventHash::ZERO,
            last_position: GlobalPosition::START,
        });
    }

    /// Whether the walk is currently inside `stream`.
    pub(crate) fn in_stream(&self, stream: &str) -> bool {
        self.cursor
            .as_ref()
            .is_some_and(|cursor| cursor.stream.as_str() == stream)
    }

    fn end_stream(&mut self) {
        let Some(cursor) = self.cursor.take() else {
            return;
        };
        if self.is_broken() {
            return;
        }
        let last_event_version = cursor.next_version - 1;
        if last_event_version != cursor.head_version || cursor.head_hash != Some(cursor.last_hash) {
            self.break_at(
                cursor.stream,
                cursor.head_version,
                None,
                LinkProblem::HeadMismatch {
                    head_version: cursor.head_version,
                    last_event_version,
                },
            );
        } else {
            self.report.streams_checked += 1;
        }
    }

    /// Checks the next event of the current stream.
    pub(crate) fn event(&mut self, raw: &RawEvent<'_>) {
        if self.is_broken() {
            return;
        }
        let Some(cursor) = self.cursor.as_ref() else {
            return;
        };
        let stream = cursor.stream.clone();
        let expected_previous = cursor.last_hash;
        let expected_version = cursor.next_version;
        let last_position = cursor.last_position;
        let problem = if raw.version == expected_version && raw.position <= last_position {
            Some(LinkProblem::OutOfGlobalOrder {
                previous: last_position,
                position: raw.position,
            })
        } else if raw.version == expected_version {
            match (to_hash(raw.previous_hash), to_hash(raw.hash)) {
                (Some(stored_previous), _) if stored_previous != expected_previous => {
                    Some(LinkProblem::PreviousHashMismatch {
                        stored: stored_previous,
                        expected: expected_previous,
                    })
                }
                (Some(_), Some(stored)) => {
                    let computed = chain_hash(
                        &expected_previous,
                        raw.version,
                        raw.recorded_at,
                        &raw.content_digest(&self.tenant),
                    );
                    (stored != computed).then_some(LinkProblem::HashMismatch { stored, computed })
                }
                _ => Some(LinkProblem::Unreadable {
                    reason: "a stored hash is not 32 bytes".into(),
                }),
            }
        } else {
            Some(LinkProblem::VersionGap {
                expected: expected_version,
            })
        };
        if let Some(problem) = problem {
            self.break_at(stream, raw.version, Some(raw.id), problem);
            return;
        }
        if let Some(cursor) = self.cursor.as_mut() {
            cursor.next_version += 1;
            cursor.last_hash = to_hash(raw.hash).unwrap_or_default();
            cursor.last_position = raw.position;
        }
        self.report.events_checked += 1;
        if let Some(reason) = raw.parse_problem() {
            self.report.unreadable_events += 1;
            if self.report.first_unreadable.is_none() {
                self.report.first_unreadable = Some(raw.unreadable(&StoreError::CorruptRow {
                    location: format!(
                        "tenant {}, stream {}, version {}",
                        self.tenant, raw.stream, raw.version
                    ),
                    reason,
                }));
            }
        }
    }

    /// Records an event that has no stream head at all.
    pub(crate) fn orphan(&mut self, stream: StreamId, version: u64, event_id: Uuid) {
        self.end_stream();
        self.break_at(stream, version, Some(event_id), LinkProblem::NoStreamHead);
    }

    pub(crate) fn finish(mut self) -> VerifyReport {
        self.end_stream();
        self.report
    }
}
