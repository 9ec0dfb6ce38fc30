//! From what the event store keeps (`stream name`, type, schema version, JSON payload) to a
//! [`ProjectedEvent`].

use chrono::{DateTime, Utc};
use crm_domain::{CodecError, DomainEvent, decode};
use crm_eventstore::GlobalPosition;
use thiserror::Error;
use uuid::Uuid;

use crate::event::{AggregateKind, CrmEvent, ProjectedEvent, StreamRef};
use crm_eventstore::TenantId;

/// Why a stored event could not be turned into a [`ProjectedEvent`].
///
/// A projector chooses per variant what to do: [`DecodeError::is_unknown`] events (a stream
/// category or an event type this build does not know, e.g. from an aggregate added later)
/// concern no read model of this build and may be passed over, checkpoint included; every
/// other variant is a poison event that must halt the projector (or be parked), never be
/// skipped silently.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The stream name is not `"<kind>-<uuid>"`.
    #[error("stream name {stream:?} is not \"<kind>-<uuid>\"")]
    MalformedStreamName {
        /// The stored stream name.
        stream: String,
    },
    /// The stream's category names no aggregate the read models know.
    #[error("stream {stream:?} belongs to category {category:?}, which no read model knows")]
    UnknownAggregateKind {
        /// The stored stream name.
        stream: String,
        /// The category found before the first `-`.
        category: String,
    },
    /// The aggregate is known, the event type is not.
    #[error("{kind} streams have no event type {event_type:?}")]
    UnknownEventType {
        /// The aggregate kind.
        kind: AggregateKind,
        /// The stored type name.
        event_type: String,
    },
    /// The payload does not decode as the event it claims to be, or its schema version has
    /// no upcaster.
    #[error("cannot decode {kind} event: {source}")]
    Payload {
        /// The aggregate kind.
        kind: AggregateKind,
        /// The domain codec's error.
        source: CodecError,
    },
}

impl DecodeError {
    /// Whether the event is simply unknown to this build (a category or a type it does not
    /// know), as opposed to broken.
    pub fn is_unknown(&self) -> bool {
        matches!(
            self,
            DecodeError::UnknownAggregateKind { .. } | DecodeError::UnknownEventType { .. }
        )
    }
}

/// Parses a stream name `"<kind>-<uuid>"`.
pub fn parse_stream_name(stream: &str) -> Result<StreamRef, DecodeError> {
    let malformed = || DecodeError::MalformedStreamName {
        stream: stream.to_owned(),
    };
    let (category, id) = stream
        .split_once('-')
        .filter(|(category, _)| !category.is_empty())
        .ok_or_else(malformed)?;
    let kind = AggregateKind::from_category(category).ok_or_else(|| {
        DecodeError::UnknownAggregateKind {
            stream: stream.to_owned(),
            category: category.to_owned(),
        }
    })?;
    let id = Uuid::try_parse(id).map_err(|_| malformed())?;
    Ok(StreamRef::new(kind, id))
}

/// Decodes the event of an aggregate of `kind` from its stored type, schema version and
/// payload.
pub fn decode_event(
    kind: AggregateKind,
    event_type: &str,
    schema_version: u16,
    payload: serde_json::Value,
) -> Result<CrmEvent, DecodeError> {
    match kind {
        AggregateKind::Lead => typed(kind, event_type, schema_version, payload).map(CrmEvent::Lead),
        AggregateKind::Opportunity => {
            typed(kind, event_type, schema_version, payload).map(CrmEvent::Opportunity)
        }
        AggregateKind::Ticket => {
            typed(kind, event_type, schema_version, payload).map(CrmEvent::Ticket)
        }
        AggregateKind::Forecast => {
            typed(kind, event_type, schema_version, payload).map(CrmEvent::Forecast)
        }
        AggregateKind::Contact => {
            typed(kind, event_type, schema_version, payload).map(CrmEvent::Contact)
        }
        AggregateKind::Account => {
            typed(kind, event_type, schema_version, payload).map(CrmEvent::Account)
        }
        AggregateKind::AccountHierarchy => {
            typed(kind, event_type, schema_version, payload).map(CrmEvent::AccountHierarchy)
        }
        AggregateKind::Activity => {
            typed(kind, event_type, schema_version, payload).map(CrmEvent::Activity)
        }
        AggregateKind::Task => typed(kind, event_type, schema_version, payload).map(CrmEvent::Task),
    }
}

fn typed<E: DomainEvent>(
    kind: AggregateKind,
    event_type: &str,
    schema_version: u16,
    payload: serde_json::Value,
) -> Result<E, DecodeError> {
    decode(event_type, schema_version, payload).map_err(|source| {
        if names_unknown_variant(&source, event_type) {
            DecodeError::UnknownEventType {
                kind,
                event_type: event_type.to_owned(),
            }
        } else {
            DecodeError::Payload { kind, source }
        }
    })
}

/// Whether the codec failed because the type tag is not a variant of the event enum. Serde
/// reports that only in its message (`unknown variant `X`, expected …`); a test pins the
/// wording, so a serde change that alters it fails loudly instead of misfiling events.
fn names_unknown_variant(error: &CodecError, event_type: &str) -> bool {
    match error {
        CodecError::Decode { source, .. } => source
            .to_string()
            .starts_with(&format!("unknown variant `{event_type}`")),
        CodecError::Encode { .. }
        | CodecError::TooDeep { .. }
        | CodecError::UnknownVersion { .. } => false,
    }
}

impl ProjectedEvent {
    /// Decodes a stored event: `position` is its place in the global order, `stream` the
    /// stream's name (`"ticket-<uuid>"`), the rest is what the store keeps for the event.
    pub fn decode(
        position: GlobalPosition,
        recorded_at: DateTime<Utc>,
        tenant: TenantId,
        stream: &str,
        event_type: &str,
        schema_version: u16,
        payload: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let stream = parse_stream_name(stream)?;
        let event = decode_event(stream.kind, event_type, schema_version, payload)?;
        Ok(Self {
            position: position.position,
            transaction: position.transaction,
            recorded_at,
            tenant,
            stream,
            event,
            actor: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use crm_domain::encode;
    use crm_domain::ticket::TicketEvent;
    use crm_domain::{Actor, Channel, ContactId, Priority, TicketId};

    use super::*;

    fn opened(ticket: Uuid) -> TicketEvent {
        TicketEvent::Opened {
            ticket: TicketId(ticket),
            contact: ContactId(Uuid::from_u128(7)),
            subject: "Printer on fire".into(),
            channel: Channel::Email,
            priority: Priority::High,
            follow_up_of: None,
            account: None,
            by: Actor::System {
                component: "test".into(),
            },
            at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_stored_ticket_event_decodes_with_its_stream_and_position() {
        let id = Uuid::from_u128(42);
        let encoded = encode(&opened(id)).unwrap();
        let recorded_at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 1).unwrap();
        let event = ProjectedEvent::decode(
            GlobalPosition {
                transaction: 3,
                position: 17,
            },
            recorded_at,
            TenantId::new("acme").expect("valid tenant"),
            &format!("ticket-{id}"),
            encoded.event_type,
            encoded.schema_version,
            encoded.payload,
        )
        .unwrap();
        assert_eq!(event.position, 17);
        assert_eq!(event.stream, StreamRef::new(AggregateKind::Ticket, id));
        assert_eq!(event.event, CrmEvent::Ticket(opened(id)));
    }

    #[test]
    fn stream_names_must_be_kind_dash_uuid() {
        for bad in ["ticket", "ticket-", "ticket-42", "-0000"] {
            assert!(
                matches!(
                    parse_stream_name(bad),
                    Err(DecodeError::MalformedStreamName { .. })
                ),
                "{bad}"
            );
        }
        let unknown = parse_stream_name(&format!("rep-{}", Uuid::nil())).unwrap_err();
        assert!(unknown.is_unknown());
    }

    #[test]
    fn an_unknown_type_of_a_known_aggregate_is_unknown_not_broken() {
        let error = decode_event(
            AggregateKind::Ticket,
            "TicketTeleported",
            1,
            serde_json::json!({}),
        )
        .unwrap_err();
        assert!(
            matches!(&error, DecodeError::UnknownEventType { event_type, .. } if event_type == "TicketTeleported"),
            "{error:?}"
        );
        assert!(error.is_unknown());
    }

    #[test]
    fn a_known_type_with_a_broken_payload_is_a_poison_event() {
        let error = decode_event(
            AggregateKind::Ticket,
            "TicketOpened",
            1,
            serde_json::json!({"subject": 3}),
        )
        .unwrap_err();
        assert!(matches!(error, DecodeError::Payload { .. }), "{error:?}");
        assert!(!error.is_unknown());
    }

    #[test]
    fn an_unknown_schema_version_is_a_poison_event() {
        let encoded = encode(&opened(Uuid::from_u128(1))).unwrap();
        let error = decode_event(
            AggregateKind::Ticket,
            encoded.event_type,
            9,
            encoded.payload,
        )
        .unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::Payload {
                    source: CodecError::UnknownVersion { .. },
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
