//! The decide/evolve shape every aggregate has, and the codec that turns its events into
//! the `(type, schema version, JSON payload)` triples an event store keeps.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use thiserror::Error;

use crate::context::Context;
use crate::json_depth::{MAX_JSON_DEPTH, nests_deeper_than};

/// An event of an aggregate: a fact in the past tense with a stable type name and a schema
/// version. Event enums are serialized adjacently tagged (`{"type": …, "data": …}`); the
/// codec below splits that into the type name and the payload.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Debug + PartialEq {
    /// The stable type name, e.g. `"LeadReceived"`. Never changes once events are stored.
    fn event_type(&self) -> &'static str;

    /// The schema version of this event's payload, starting at 1. A payload change that old
    /// readers could not read bumps it (and adds an upcaster in the event store).
    fn schema_version(&self) -> u16 {
        1
    }

    /// The event's free-form JSON fields: values taken as they came from outside (a lead's raw
    /// payload), whose shape no type bounds. [`encode`] refuses the event when one nests deeper
    /// than [`MAX_JSON_DEPTH`], before serializing anything. None by default; an event type with
    /// such a field must list it here.
    fn free_form_json(&self) -> impl Iterator<Item = &serde_json::Value> {
        std::iter::empty()
    }

    /// JSON pointers (into the encoded payload) of the members that may hold personal data:
    /// what a writer encrypts with the key of the aggregate's
    /// [`data_subject`](Aggregate::data_subject), so that erasing the person leaves the event
    /// readable and those members unreadable. Each such member reads as absent once erased
    /// (see [`crate::personal`]). None by default.
    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A consistency boundary: a state value, `decide` (command → events or a typed error) and
/// `evolve` (state + event → state). `evolve` never fails and never validates: a recorded fact
/// is a fact. Replaying a stream's events from `Default` rebuilds the state exactly.
pub trait Aggregate: Default + Clone + Debug + PartialEq {
    /// The stream category, e.g. `"lead"`; streams are named `"{KIND}-{id}"`.
    const KIND: &'static str;
    /// What may be asked of the aggregate.
    type Command: Debug;
    /// What the aggregate records.
    type Event: DomainEvent;
    /// Why a command was refused.
    type Error: std::error::Error + Debug;

    /// Validates `command` against the current state and returns the facts it produces.
    /// A command that would change nothing returns no events.
    fn decide(
        &self,
        command: Self::Command,
        ctx: &Context,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one recorded event.
    #[must_use]
    fn evolve(self, event: &Self::Event) -> Self;

    /// The person whose personal data this aggregate's events carry
    /// ([`DomainEvent::personal_fields`]), judged on the state after the events: a lead is
    /// its own subject, a contact too, and a deal or ticket belongs to its contact. `None`
    /// (the default) for aggregates without personal data, and before the aggregate exists.
    fn data_subject(&self) -> Option<crate::personal::DataSubject> {
        None
    }

    /// Folds events into a state, starting from the default (empty) state.
    fn replay<'a, I>(events: I) -> Self
    where
        I: IntoIterator<Item = &'a Self::Event>,
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

/// An event ready for storage.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    /// The stable type name.
    pub event_type: &'static str,
    /// The payload's schema version.
    pub schema_version: u16,
    /// The payload (the event's fields, without the type tag).
    pub payload: serde_json::Value,
}

/// Why an event could not be encoded or decoded.
#[derive(Debug, Error)]
pub enum CodecError {
    /// Serialization failed (cannot happen for the domain's own event types).
    #[error("cannot encode {event_type}: {source}")]
    Encode {
        /// The event's type.
        event_type: &'static str,
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// The payload does not match the event type it claims to be.
    #[error("cannot decode {event_type} v{schema_version}: {source}")]
    Decode {
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        schema_version: u16,
        /// The deserializer's error.
        source: serde_json::Error,
    },
    /// A free-form JSON field of the event nests deeper than the domain accepts: serializing
    /// it could overflow the stack, and the event store could not keep it.
    #[error(
        "cannot encode {event_type}: its free-form JSON nests deeper than {depth_limit} levels"
    )]
    TooDeep {
        /// The event's type.
        event_type: &'static str,
        /// The deepest nesting accepted ([`MAX_JSON_DEPTH`]).
        depth_limit: usize,
    },
    /// A payload with a schema version this code does not know (an upcaster is missing).
    #[error(
        "{event_type} v{found} cannot be read: this build reads v{expected}; register an upcaster"
    )]
    UnknownVersion {
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        found: u16,
        /// The version this build reads.
        expected: u16,
    },
}

/// Encodes a domain event as `(type, schema version, payload)`.
///
/// Refuses with [`CodecError::TooDeep`] an event whose free-form JSON
/// ([`DomainEvent::free_form_json`]) nests deeper than [`MAX_JSON_DEPTH`]; that is checked
/// without recursing, before serialization (which recurses once per level) starts. Events
/// `decide` returned always pass: it refuses such JSON in the first place.
pub fn encode<E: DomainEvent>(event: &E) -> Result<EncodedEvent, CodecError> {
    let event_type = event.event_type();
    if event
        .free_form_json()
        .any(|value| nests_deeper_than(value, MAX_JSON_DEPTH))
    {
        return Err(CodecError::TooDeep {
            event_type,
            depth_limit: MAX_JSON_DEPTH,
        });
    }
    let value =
        serde_json::to_value(event).map_err(|source| CodecError::Encode { event_type, source })?;
    let payload = match value {
        serde_json::Value::Object(mut map) => map.remove("data").unwrap_or(serde_json::Value::Null),
        other => other,
    };
    Ok(EncodedEvent {
        event_type,
        schema_version: event.schema_version(),
        payload,
    })
}

/// Decodes a stored `(type, schema version, payload)` into a domain event.
///
/// A null payload is read as an absent `data` (what a unit variant encodes to). A member
/// holding the erased marker `{"$erased":true}` (personal data whose subject was erased) is
/// read as `null`, that is as absent (see [`crate::personal`]).
pub fn decode<E: DomainEvent>(
    event_type: &str,
    schema_version: u16,
    mut payload: serde_json::Value,
) -> Result<E, CodecError> {
    if crate::personal::holds_erased(&payload) {
        crate::personal::erased_to_null(&mut payload);
    }
    // serde's adjacently tagged enums read the payload in place only when the tag comes
    // first; a `serde_json::Map` is ordered by key, so `data` would come first and the payload
    // be buffered whole and parsed a second time. Feed the two entries in tag order instead.
    let tag = ("type", serde_json::Value::String(event_type.to_owned()));
    let data = (!payload.is_null()).then_some(("data", payload));
    let tagged = MapDeserializer::<_, serde_json::Error>::new(std::iter::once(tag).chain(data));
    checked(E::deserialize(tagged), event_type, schema_version)
}

/// [`decode`] from a borrowed payload, for folds over stored events that keep them: the
/// payload is read in place instead of being copied first (one with an erased member is
/// copied, to be read as [`decode`] reads it).
pub fn decode_ref<E: DomainEvent>(
    event_type: &str,
    schema_version: u16,
    payload: &serde_json::Value,
) -> Result<E, CodecError> {
    if crate::personal::holds_erased(payload) {
        return decode(event_type, schema_version, payload.clone());
    }
    // In tag order, as in `decode`.
    let tag = serde_json::Value::String(event_type.to_owned());
    let data = (!payload.is_null()).then_some(("data", payload));
    let tagged =
        MapDeserializer::<_, serde_json::Error>::new(std::iter::once(("type", &tag)).chain(data));
    checked(E::deserialize(tagged), event_type, schema_version)
}

/// A decoded event, or why it could not be: unreadable, or of another schema version than
/// the one stored with it.
fn checked<E: DomainEvent>(
    decoded: Result<E, serde_json::Error>,
    event_type: &str,
    schema_version: u16,
) -> Result<E, CodecError> {
    let event = decoded.map_err(|source| CodecError::Decode {
        event_type: event_type.to_owned(),
        schema_version,
        source,
    })?;
    if event.schema_version() != schema_version {
        return Err(CodecError::UnknownVersion {
            event_type: event_type.to_owned(),
            found: schema_version,
            expected: event.schema_version(),
        });
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use std::any::type_name;
    use std::cell::Cell;

    use serde::{Deserialize, Deserializer, Serialize};
    use serde_json::{Value, json};

    use super::*;

    thread_local! {
        /// The deserializer type the last [`Probe`] was read through.
        static PROBED_THROUGH: Cell<&'static str> = const { Cell::new("") };
    }

    /// A payload that records which deserializer it was handed.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct Probe(u32);

    impl<'de> Deserialize<'de> for Probe {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            PROBED_THROUGH.with(|seen| seen.set(type_name::<D>()));
            u32::deserialize(deserializer).map(Probe)
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    enum ProbeEvent {
        Probed(Probe),
        Noted { note: String, count: u8 },
        Pinged,
    }

    impl DomainEvent for ProbeEvent {
        fn event_type(&self) -> &'static str {
            match self {
                ProbeEvent::Probed(_) => "Probed",
                ProbeEvent::Noted { .. } => "Noted",
                ProbeEvent::Pinged => "Pinged",
            }
        }
    }

    /// The decoder as it was before the tag was fed first: a key-ordered map, which serde
    /// reads `data` first from. Kept to show the errors did not change.
    fn decode_through_a_map(event_type: &str, payload: Value) -> Result<ProbeEvent, String> {
        let mut tagged = serde_json::Map::new();
        tagged.insert("type".into(), Value::String(event_type.to_owned()));
        if !payload.is_null() {
            tagged.insert("data".into(), payload);
        }
        serde_json::from_value(Value::Object(tagged)).map_err(|error| error.to_string())
    }

    #[test]
    fn the_payload_is_read_in_place_not_buffered_first() {
        let event: ProbeEvent = decode("Probed", 1, json!(7)).unwrap();
        assert_eq!(event, ProbeEvent::Probed(Probe(7)));
        assert_eq!(
            PROBED_THROUGH.with(Cell::get),
            type_name::<Value>(),
            "the payload went through a buffered copy"
        );
    }

    #[test]
    fn decoding_accepts_and_refuses_exactly_what_it_did_through_a_map() {
        let cases = [
            ("Probed", json!(7)),
            ("Noted", json!({"note": "hi", "count": 3})),
            ("Pinged", Value::Null),
            ("Pinged", json!({})),
            ("Noted", Value::Null),
            ("Noted", json!({"note": "hi"})),
            ("Noted", json!({"note": "hi", "count": 300})),
            ("Noted", json!([1, 2])),
            ("Probed", json!("seven")),
            ("Unheard", json!({})),
            ("", Value::Null),
        ];
        for (event_type, payload) in cases {
            let now = decode::<ProbeEvent>(event_type, 1, payload.clone()).map_err(|error| {
                let CodecError::Decode { source, .. } = error else {
                    panic!("{event_type}: not a decode error: {error}");
                };
                source.to_string()
            });
            assert_eq!(
                now,
                decode_through_a_map(event_type, payload.clone()),
                "{event_type} {payload}"
            );
            let borrowed = decode_ref::<ProbeEvent>(event_type, 1, &payload).map_err(|error| {
                let CodecError::Decode { source, .. } = error else {
                    panic!("{event_type}: not a decode error: {error}");
                };
                source.to_string()
            });
            assert_eq!(borrowed, now, "borrowed: {event_type} {payload}");
        }
        // An erased member reads as absent either way.
        let erased = json!({"note": {"$erased": true}, "count": 3});
        assert_eq!(
            decode_ref::<ProbeEvent>("Noted", 1, &erased).map_err(|error| error.to_string()),
            decode::<ProbeEvent>("Noted", 1, erased).map_err(|error| error.to_string()),
        );
    }

    #[test]
    fn a_unit_event_round_trips_with_a_null_payload() {
        let encoded = encode(&ProbeEvent::Pinged).unwrap();
        assert_eq!(encoded.payload, Value::Null);
        let decoded: ProbeEvent = decode("Pinged", 1, encoded.payload).unwrap();
        assert_eq!(decoded, ProbeEvent::Pinged);
    }
}
