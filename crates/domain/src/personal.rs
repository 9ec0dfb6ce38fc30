//! Personal data in events: whose it is, where it sits, and how an event reads once it is
//! erased.
//!
//! Every event names the members of its payload that may hold personal data
//! ([`DomainEvent::personal_fields`](crate::DomainEvent::personal_fields), JSON pointers into
//! the encoded payload), and every aggregate names the person its events are about
//! ([`Aggregate::data_subject`](crate::Aggregate::data_subject)). The application layer
//! encrypts those members with that person's key before appending, so erasing the person is
//! deleting one key: the events stay, with their hashes, and the fields become unreadable.
//!
//! A reader then finds the erased marker `{"$erased":true}` where a field was.
//! [`decode`](crate::decode) reads a marker as an absent value (`null`): optional members
//! become `None`, and the few required members that hold personal data read as their empty
//! value through [`erasable`] (an empty text, an empty list).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::ids::{ContactId, LeadId, UserId};

/// The member that marks an erased field: `{"$erased":true}`.
pub const ERASED_TAG: &str = "$erased";

/// The person an aggregate's personal data belongs to; their key encrypts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataSubject {
    /// A lead not (or not yet) known as a contact: its own record.
    Lead(LeadId),
    /// A contact, and the deals and tickets that are about them.
    Contact(ContactId),
    /// A rep of the roster (an employee's name and email).
    Rep(UserId),
}

impl DataSubject {
    /// The subject's name for the key store: `lead-…`, `contact-…` or `rep-…` followed by
    /// the id. Pseudonymous: it names a record, never the person.
    pub fn key_name(&self) -> String {
        match self {
            DataSubject::Lead(id) => format!("lead-{}", id.0),
            DataSubject::Contact(id) => format!("contact-{}", id.0),
            DataSubject::Rep(id) => format!("rep-{}", id.0),
        }
    }
}

/// Whether `value` is the erased marker `{"$erased":true}`.
pub fn is_erased(value: &Value) -> bool {
    value.as_object().is_some_and(|object| {
        object.len() == 1 && object.get(ERASED_TAG) == Some(&Value::Bool(true))
    })
}

/// Whether `payload` holds an erased marker anywhere (walked without recursion).
pub(crate) fn holds_erased(payload: &Value) -> bool {
    let mut pending = vec![payload];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(object) => {
                if is_erased(value) {
                    return true;
                }
                pending.extend(object.values());
            }
            Value::Array(items) => pending.extend(items),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    false
}

/// Replaces every erased marker in `payload` with `null` (walked without recursion).
pub(crate) fn erased_to_null(payload: &mut Value) {
    let mut pending = vec![payload];
    while let Some(value) = pending.pop() {
        if is_erased(value) {
            *value = Value::Null;
            continue;
        }
        match value {
            Value::Object(object) => pending.extend(object.values_mut()),
            Value::Array(items) => pending.extend(items.iter_mut()),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
}

/// Reads a required member that holds personal data: `null` (an erased value) reads as the
/// type's empty value. Use as `#[serde(deserialize_with = "crate::personal::erasable")]`.
pub fn erasable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn markers_are_found_and_nulled_at_any_depth() {
        let mut payload = json!({"a": {"b": [1, {"$erased": true}]}, "c": {"$erased": true}});
        assert!(holds_erased(&payload));
        erased_to_null(&mut payload);
        assert_eq!(payload, json!({"a": {"b": [1, null]}, "c": null}));
        assert!(!holds_erased(&payload));
    }

    #[test]
    fn only_the_exact_marker_counts() {
        for value in [
            json!({"$erased": false}),
            json!({"$erased": true, "x": 1}),
            json!({"erased": true}),
            json!("$erased"),
        ] {
            assert!(!holds_erased(&value), "{value}");
        }
    }

    #[test]
    fn key_names_say_what_kind_of_record() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            DataSubject::Contact(ContactId(id)).key_name(),
            format!("contact-{id}")
        );
        assert_eq!(
            DataSubject::Lead(LeadId(id)).key_name(),
            format!("lead-{id}")
        );
    }
}
