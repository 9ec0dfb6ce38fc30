//! The lead both sides run: the same scripted commands through the same `crm_domain::lead::Lead`
//! `decide`/`evolve`, so the only difference between the arms is the framework and the storage.
//!
//! - Ours: a hand-written load → decode → decide → append over [`PostgresStore`]
//!   ([`fold`], [`to_new_event`]), or the same through [`StreamCache`] with [`LeadState`].
//! - The peer: [`PeerLead`], a cqrs-es `Aggregate` whose `handle` calls `Lead::decide` and whose
//!   `apply` calls `Lead::evolve`; its events ([`PeerLeadEvent`]) are stored externally tagged
//!   (`{"LeadEscalated": {…}}`, the shape cqrs-es documents) around exactly our payload.
//!
//! A lead's script: version 1 `Receive`, 2 `Capture`, 3 `Route` (assigned to rep 0), then
//! `Escalate` alternately to rep 1 and rep 0, so every command records exactly one event and
//! any version can be asked for without knowing the state.
//!
//! [`PostgresStore`]: crm_eventstore::PostgresStore
//! [`StreamCache`]: crm_eventstore::StreamCache

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate as PeerAggregate, DomainEvent as PeerDomainEvent};
use crm_domain::identity::CountryCode;
use crm_domain::lead::{
    Campaign, Lead, LeadCommand, LeadError, LeadEvent, LeadSource, LeadSubmission,
};
use crm_domain::routing::{
    AssignmentStrategy, CandidateVerdict, RoutingDecision, RoutingOutcome, Verdict,
};
use crm_domain::{Actor, Aggregate, Context, LeadId, TeamId, UserId, decode, encode};
use crm_eventstore::{NewEvent, RecordedEvent, StoreError, StreamId, StreamState};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::{self, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The peer's aggregate type (its `aggregate_type` column).
pub(crate) const PEER_LEAD_TYPE: &str = "lead";

/// Why an escalation happened; the text of every `LeadEscalated` event.
const ESCALATION_REASON: &str = "no first response within the SLA; handing over to the next rep";

/// The lead numbered `number`.
pub(crate) fn lead_id(number: u64) -> LeadId {
    LeadId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(number),
    ))
}

/// Our stream of lead `number` (the raw baseline uses the same name).
pub(crate) fn lead_stream(number: u64) -> StreamId {
    StreamId::new(format!("lead-{}", lead_id(number).0)).expect("a valid stream name")
}

/// The peer's aggregate id of lead `number`.
pub(crate) fn peer_aggregate_id(number: u64) -> String {
    lead_id(number).0.to_string()
}

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0)
        .single()
        .expect("a valid instant")
}

fn rep(n: u64) -> UserId {
    UserId(Uuid::from_u128(0x5e00_0000 + u128::from(n)))
}

/// The context the command recording `version` of lead `number` runs in: a minute per version.
pub(crate) fn context(number: u64, version: u64) -> Context {
    Context::new(
        epoch() + Duration::minutes(i64::try_from(version).expect("a small version")),
        Actor::System {
            component: "bench".into(),
        },
        Uuid::from_u128(u128::from(number) << 64 | u128::from(version)),
    )
}

/// The command that records event `version` (from 1) of lead `number`.
pub(crate) fn command(number: u64, version: u64) -> LeadCommand {
    match version {
        0 => panic!("versions start at 1"),
        1 => LeadCommand::Receive {
            lead_id: lead_id(number),
            source: LeadSource {
                system: "web-form".into(),
                external_event_id: format!("delivery-{number}"),
            },
            raw_payload: serde_json::json!({
                "email": format!("customer{number}@example{}.com", number % 97),
                "name": format!("Ada Customer{number}"),
                "company": "Analytical Engines Ltd",
            }),
            requested_at: epoch() - Duration::seconds(40),
        },
        2 => LeadCommand::Capture {
            submission: LeadSubmission {
                first_name: Some(format!("Ada Customer{number}")),
                email: Some(format!("customer{number}@example{}.com", number % 97)),
                phone: Some(format!(
                    "020 7{:03} {:04}",
                    (number / 10_000) % 1000,
                    number % 10_000
                )),
                company: Some("Analytical Engines Ltd".into()),
                ..LeadSubmission::default()
            },
            campaign: Campaign::default(),
            default_region: CountryCode::new("GB").expect("GB is a country code"),
        },
        3 => LeadCommand::Route {
            decision: RoutingDecision {
                rule: None,
                team: TeamId(Uuid::from_u128(0x7ea0_0000)),
                strategy: AssignmentStrategy::LeastLoaded,
                candidates: vec![CandidateVerdict {
                    rep: rep(0),
                    verdict: Verdict::Chosen,
                }],
                outcome: RoutingOutcome::Assigned { rep: rep(0) },
                preferred: None,
            },
        },
        // Never to the current holder: rep 0 holds it after the route, then they alternate.
        escalation => LeadCommand::Escalate {
            to: rep((escalation - 3) % 2),
            reason: ESCALATION_REASON.into(),
        },
    }
}

/// The first `count` events of lead `number`, decided one command at a time.
pub(crate) fn history(number: u64, count: u64) -> Vec<LeadEvent> {
    let mut lead = Lead::default();
    let mut events = Vec::new();
    for version in 1..=count {
        let decided = lead
            .decide(command(number, version), &context(number, version))
            .expect("the scripted command is accepted");
        assert_eq!(decided.len(), 1, "each scripted command records one event");
        for event in decided {
            lead = lead.evolve(&event);
            events.push(event);
        }
    }
    events
}

/// The event the command recording `version` of lead `number` records, without deciding it
/// (what the raw baseline inserts).
pub(crate) fn scripted_event(number: u64, version: u64) -> LeadEvent {
    let at = context(number, version).now;
    match command(number, version) {
        LeadCommand::Escalate { to, reason } => LeadEvent::Escalated { to, reason, at },
        LeadCommand::Receive {
            lead_id,
            source,
            raw_payload,
            requested_at,
        } => LeadEvent::Received {
            lead_id,
            source,
            raw_payload,
            requested_at,
            at,
        },
        _ => history(number, version)
            .pop()
            .expect("a history of at least one event"),
    }
}

/// A lead event as our store takes it: type, schema version and payload from the domain's codec.
pub(crate) fn to_new_event(event: &LeadEvent) -> NewEvent {
    let encoded = encode(event).expect("lead events encode");
    NewEvent::new(encoded.event_type, encoded.schema_version, encoded.payload)
}

/// Decodes a stored lead event.
fn decode_recorded(event_type: &str, schema_version: u16, payload: serde_json::Value) -> LeadEvent {
    decode(event_type, schema_version, payload).expect("a lead event decodes")
}

/// Folds a stream read from our store into the lead and the stream's version.
pub(crate) fn fold(events: Vec<RecordedEvent>) -> (Lead, u64) {
    let mut version = 0;
    let mut lead = Lead::default();
    for event in events {
        version = event.version;
        let decoded = decode_recorded(&event.event_type, event.schema_version, event.payload);
        lead = lead.evolve(&decoded);
    }
    (lead, version)
}

/// The lead as our [`StreamCache`](crm_eventstore::StreamCache) holds it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeadState(pub(crate) Lead);

impl StreamState for LeadState {
    fn apply(&mut self, event: &RecordedEvent) {
        let decoded = decode_recorded(
            &event.event_type,
            event.schema_version,
            event.payload.clone(),
        );
        self.0 = std::mem::take(&mut self.0).evolve(&decoded);
    }
}

/// Why one of our scripted commands failed (the bench stops on any, printing it).
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the fields are read through Debug, when the bench stops"
)]
pub(crate) enum CommandError {
    /// The store refused or failed.
    Store(StoreError),
    /// The lead refused the command.
    Lead(LeadError),
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<LeadError> for CommandError {
    fn from(error: LeadError) -> Self {
        Self::Lead(error)
    }
}

/// The peer's lead: our `Lead` behind cqrs-es's `Aggregate`.
///
/// The state is never serialized: the bench runs cqrs-es as a pure event store
/// (`PersistedEventStore::new_event_store`, no snapshots), where the trait's serde bounds go
/// unused, so the state is skipped rather than given a serde form it does not have.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct PeerLead {
    #[serde(skip)]
    lead: Lead,
}

/// A command to the peer's lead: our command and the context it runs in (cqrs-es has no
/// separate context; time and ids arrive with the command, as in ours).
#[derive(Debug)]
pub(crate) struct PeerCommand {
    /// The domain command.
    pub(crate) command: LeadCommand,
    /// Its time, actor and id seed.
    pub(crate) context: Context,
}

impl PeerAggregate for PeerLead {
    const TYPE: &'static str = PEER_LEAD_TYPE;
    type Command = PeerCommand;
    type Event = PeerLeadEvent;
    type Error = LeadError;
    type Services = ();

    async fn handle(
        &mut self,
        command: PeerCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), LeadError> {
        for event in self.lead.decide(command.command, &command.context)? {
            sink.write(PeerLeadEvent(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: PeerLeadEvent) {
        self.lead = std::mem::take(&mut self.lead).evolve(&event.0);
    }
}

/// A lead event as the peer stores it: `{"<type>": <our payload>}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PeerLeadEvent(pub(crate) LeadEvent);

impl PeerDomainEvent for PeerLeadEvent {
    fn event_type(&self) -> String {
        crm_domain::DomainEvent::event_type(&self.0).to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

impl Serialize for PeerLeadEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let encoded = encode(&self.0).map_err(ser::Error::custom)?;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(encoded.event_type, &encoded.payload)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for PeerLeadEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PeerLeadEventVisitor)
    }
}

struct PeerLeadEventVisitor;

impl<'de> Visitor<'de> for PeerLeadEventVisitor {
    type Value = PeerLeadEvent;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map from a lead event's type to its payload")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PeerLeadEvent, A::Error> {
        let (event_type, payload): (String, serde_json::Value) = map
            .next_entry()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        decode(&event_type, 1, payload)
            .map(PeerLeadEvent)
            .map_err(de::Error::custom)
    }
}
