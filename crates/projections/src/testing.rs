//! Test support: an event log that numbers positions, and builders of common domain events.

use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_domain::ticket::TicketEvent;
use crm_domain::{Actor, UserId};
use uuid::Uuid;

use crate::event::{AggregateKind, CrmEvent, ProjectedEvent, StreamRef, TenantId};

/// Monday 2 March 2026, 09:00 UTC.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("valid date")
}

/// `t0()` plus `minutes`.
pub(crate) fn minutes(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

pub(crate) const ALICE: UserId = UserId(Uuid::from_u128(0xa11ce));

pub(crate) fn alice() -> Actor {
    Actor::User { id: ALICE }
}

pub(crate) fn tenant() -> TenantId {
    TenantId::new("acme")
}

/// Events in the order recorded, positions 1, 2, 3, … (every position used, which a real
/// store need not do).
#[derive(Debug, Default, Clone)]
pub(crate) struct EventLog {
    pub(crate) events: Vec<ProjectedEvent>,
}

impl EventLog {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn record(&mut self, stream: StreamRef, event: CrmEvent) -> &ProjectedEvent {
        let position = self.events.last().map_or(1, |last| last.position + 1);
        self.events.push(ProjectedEvent {
            position,
            recorded_at: t0(),
            tenant: tenant(),
            stream,
            event,
        });
        self.events.last().expect("just pushed")
    }

    pub(crate) fn ticket(&mut self, id: Uuid, events: impl IntoIterator<Item = TicketEvent>) {
        for event in events {
            self.record(
                StreamRef::new(AggregateKind::Ticket, id),
                CrmEvent::Ticket(event),
            );
        }
    }
}
