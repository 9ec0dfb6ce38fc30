//! The events of the append and read workloads (4–6): `support::lead_event`'s
//! `LeadActivityLogged` (a payload of about 200 bytes, metadata of about 150), as the store
//! benches use, and its form on the peer's side.
//!
//! The peer appends through its repository (`PersistedEventRepository::persist`, what
//! `CqrsFramework` calls after a decision) and reads everything through `stream_all_events`,
//! which yields typed envelopes: [`ActivityLog`] is the aggregate type those need, and is never
//! sent a command.

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate as PeerAggregate, DomainEvent as PeerDomainEvent};
use crm_eventstore::NewEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The peer's aggregate type of the activity streams.
pub(crate) const ACTIVITY_TYPE: &str = "lead_activity";

/// The payload of `LeadActivityLogged`, typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ActivityLogged {
    /// The lead.
    pub(crate) lead_id: Uuid,
    /// How the rep reached out.
    pub(crate) channel: String,
    /// What was said.
    pub(crate) summary: String,
    /// A number the workload varies.
    pub(crate) amount: u64,
    /// The event's number in the workload.
    pub(crate) sequence: u64,
}

/// The peer's activity event, externally tagged as cqrs-es documents:
/// `{"LeadActivityLogged": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ActivityEvent {
    /// An activity was logged on a lead.
    LeadActivityLogged(ActivityLogged),
}

impl PeerDomainEvent for ActivityEvent {
    fn event_type(&self) -> String {
        "LeadActivityLogged".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// The aggregate the peer's typed reads of activity streams need; it decides nothing.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ActivityLog {
    events: u64,
}

impl PeerAggregate for ActivityLog {
    const TYPE: &'static str = ACTIVITY_TYPE;
    type Command = ();
    type Event = ActivityEvent;
    type Error = std::convert::Infallible;
    type Services = ();

    async fn handle(
        &mut self,
        (): (),
        _services: &(),
        _sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn apply(&mut self, _event: ActivityEvent) {
        self.events += 1;
    }
}

/// `event` (from `support::lead_event`) as the peer stores it, at `sequence` of `aggregate_id`:
/// the same payload under its type tag, the same metadata as strings.
pub(crate) fn peer_event(aggregate_id: &str, sequence: usize, event: &NewEvent) -> SerializedEvent {
    SerializedEvent::new(
        aggregate_id.to_owned(),
        sequence,
        ACTIVITY_TYPE.to_owned(),
        event.event_type.clone(),
        "1".to_owned(),
        serde_json::json!({ event.event_type.as_str(): event.payload }),
        peer_metadata(event),
    )
}

/// `event`'s metadata as the peer keeps metadata, a map of strings (`EventEnvelope::metadata`
/// is a `HashMap<String, String>`): each of our fields, nested values as their JSON text, so
/// the row carries the same information in about the same bytes.
fn peer_metadata(event: &NewEvent) -> serde_json::Value {
    let ours = serde_json::to_value(&event.metadata).expect("metadata serializes");
    let fields = ours
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, value)| !value.is_null());
    serde_json::Value::Object(
        fields
            .map(|(key, value)| {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                (key.clone(), serde_json::Value::String(text))
            })
            .collect(),
    )
}
