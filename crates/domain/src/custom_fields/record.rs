//! Custom fields on a record: what a command brings, what its event records, and why a
//! command is refused.
//!
//! Every aggregate that carries custom fields (lead, contact, account, opportunity, ticket,
//! activity, task) holds its [`CustomValues`], takes a `SetCustomFields(`[`CustomFieldsUpdate`]`)`
//! command and records a `…CustomFieldsSet(`[`CustomFieldsSet`]`)` event; the shared
//! decision is [`CustomFieldsUpdate::decide`], the shared fold [`CustomFieldsSet::apply_to`].
//!
//! The schema a command is decided under travels with the command: the application layer
//! looks up the tenant's current schema and puts it in, so the aggregate stays pure and a
//! decision can be replayed from the command alone. The event names the schema version it was
//! decided under; a later schema never validates it again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use super::entity::EntityKind;
use super::key::FieldKey;
use super::rules::FieldProblem;
use super::schema::{CustomFieldSchema, SchemaVersion};
use super::value::{CustomValue, CustomValues, CustomValuesChange};

/// Custom field changes a command brings (field key → JSON as a client sends it; `null`
/// clears), with the schema they are decided under.
///
/// Serialized (for a command's idempotency digest) as the changes and the schema's entity and
/// version, never the whole schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFieldsUpdate {
    schema: Arc<CustomFieldSchema>,
    changes: Map<String, Value>,
}

impl Serialize for CustomFieldsUpdate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Digest<'a> {
            entity: EntityKind,
            schema_version: SchemaVersion,
            changes: &'a Map<String, Value>,
        }
        Digest {
            entity: self.schema.entity(),
            schema_version: self.schema.version(),
            changes: &self.changes,
        }
        .serialize(serializer)
    }
}

impl CustomFieldsUpdate {
    /// `changes` decided under `schema`.
    pub fn new(schema: Arc<CustomFieldSchema>, changes: Map<String, Value>) -> Self {
        Self { schema, changes }
    }

    /// The schema the changes are decided under.
    pub fn schema(&self) -> &CustomFieldSchema {
        &self.schema
    }

    /// The changes as sent.
    pub fn changes(&self) -> &Map<String, Value> {
        &self.changes
    }

    /// What to record on a record of kind `entity` holding `before`: the values set and
    /// cleared, or `None` when nothing changes and every rule holds (an empty update still
    /// checks the rules, so a record created with a required field missing is refused).
    /// `personal` says whether the record names a data subject whose key encrypts the values
    /// (see [`CustomFieldsSet::personal`]); `at` is when the command is decided.
    ///
    /// Refused with every problem at once ([`CustomFieldsRefused::Invalid`]), or when the
    /// schema is another entity's ([`CustomFieldsRefused::WrongEntity`]).
    pub fn decide(
        &self,
        entity: EntityKind,
        before: &CustomValues,
        personal: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomFieldsSet>, CustomFieldsRefused> {
        if self.schema.entity() != entity {
            return Err(CustomFieldsRefused::WrongEntity {
                record: entity,
                schema: self.schema.entity(),
            });
        }
        let after = self
            .schema
            .validate_change(before, &self.changes)
            .map_err(|problems| CustomFieldsRefused::Invalid { problems })?;
        let change = before.change_to(&after);
        if change.is_empty() {
            return Ok(None);
        }
        Ok(Some(CustomFieldsSet {
            schema_version: self.schema.version(),
            set: change.set,
            cleared: change.cleared,
            personal,
            at,
        }))
    }
}

/// What an event records when a record's custom fields change: the values set (new or
/// replaced), the fields cleared, and the schema version the change was decided under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldsSet {
    /// The schema version the change was validated under.
    pub schema_version: SchemaVersion,
    /// The values set, by key. Personal data when [`CustomFieldsSet::personal`]; reads as
    /// empty once the person is erased.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::personal::erasable"
    )]
    pub set: BTreeMap<FieldKey, CustomValue>,
    /// The fields cleared (their keys only, never personal).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub cleared: BTreeSet<FieldKey>,
    /// Whether the values are encrypted with the key of the person the record is about (a
    /// lead, a contact, a deal or ticket of a contact, an activity logged on a person); an
    /// account's and a task's values are kept in the clear.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub personal: bool,
    /// When the values changed.
    pub at: DateTime<Utc>,
}

impl CustomFieldsSet {
    /// The change as [`CustomValues::with_change`] applies it.
    pub fn change(&self) -> CustomValuesChange {
        CustomValuesChange {
            set: self.set.clone(),
            cleared: self.cleared.clone(),
        }
    }

    /// Applies the change to `values`; never fails (a recorded fact is a fact).
    pub fn apply_to(&self, values: &mut CustomValues) {
        for key in &self.cleared {
            values.clear(key);
        }
        for (key, value) in &self.set {
            values.set(key.clone(), value.clone());
        }
    }

    /// The members holding personal data: the values set, when the record names a person.
    pub fn personal_fields(&self) -> &'static [&'static str] {
        if self.personal && !self.set.is_empty() {
            &["/set"]
        } else {
            &[]
        }
    }
}

/// Why a record's custom fields were not changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CustomFieldsRefused {
    /// Values that do not fit their fields, or validation rules that do not hold; every
    /// problem, each naming its field.
    #[error("{}", Problems(problems))]
    Invalid {
        /// Every problem, in field order.
        problems: Vec<FieldProblem>,
    },
    /// The command was decided under another entity's schema (a caller's mistake).
    #[error("the custom fields of a {record} cannot be set under the {schema} schema")]
    WrongEntity {
        /// The record's kind.
        record: EntityKind,
        /// The schema's entity.
        schema: EntityKind,
    },
}

impl CustomFieldsRefused {
    /// The field-level problems, when the values were the reason.
    pub fn problems(&self) -> &[FieldProblem] {
        match self {
            CustomFieldsRefused::Invalid { problems } => problems,
            CustomFieldsRefused::WrongEntity { .. } => &[],
        }
    }
}

struct Problems<'a>(&'a [FieldProblem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("custom fields refused:")?;
        for (index, problem) in self.0.iter().enumerate() {
            let separator = if index == 0 { " " } else { "; " };
            write!(f, "{separator}{} ({})", problem.message, problem.field)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::custom_fields::SchemaDraft;

    fn schema(entity: EntityKind) -> Arc<CustomFieldSchema> {
        let draft: SchemaDraft = serde_json::from_value(json!({
            "entity": entity,
            "version": 1,
            "fields": [
                {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": [
                    {"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"}]}},
                {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}}
            ],
            "rules": [{"rule": "required", "field": "tier"}]
        }))
        .expect("a draft");
        Arc::new(CustomFieldSchema::new(draft).expect("a valid schema"))
    }

    fn at() -> DateTime<Utc> {
        crate::testing::t0()
    }

    fn changes(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_change_records_what_differs_under_its_schema_version() {
        let update = CustomFieldsUpdate::new(
            schema(EntityKind::Account),
            changes(json!({"tier": "gold", "seats": 12})),
        );
        let set = update
            .decide(EntityKind::Account, &CustomValues::new(), false, at())
            .expect("valid")
            .expect("a change");
        assert_eq!(set.schema_version, SchemaVersion(1));
        assert_eq!(set.set.len(), 2);
        let mut values = CustomValues::new();
        set.apply_to(&mut values);
        let again = CustomFieldsUpdate::new(
            schema(EntityKind::Account),
            changes(json!({"tier": "gold"})),
        )
        .decide(EntityKind::Account, &values, false, at())
        .expect("valid");
        assert_eq!(again, None, "re-sending a value records nothing");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let update = CustomFieldsUpdate::new(
            schema(EntityKind::Lead),
            changes(json!({"seats": "many", "colour": "red"})),
        );
        let refused = update
            .decide(EntityKind::Lead, &CustomValues::new(), true, at())
            .expect_err("refused");
        let fields: Vec<&str> = refused
            .problems()
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(fields, ["colour", "seats", "tier"]);
        assert!(refused.to_string().contains("(tier)"), "{refused}");
    }

    #[test]
    fn another_entitys_schema_is_refused() {
        let update = CustomFieldsUpdate::new(schema(EntityKind::Task), Map::new());
        assert_eq!(
            update.decide(EntityKind::Ticket, &CustomValues::new(), false, at()),
            Err(CustomFieldsRefused::WrongEntity {
                record: EntityKind::Ticket,
                schema: EntityKind::Task
            })
        );
    }

    #[test]
    fn the_event_round_trips_and_reads_erased_values_as_none() {
        let set = CustomFieldsUpdate::new(
            schema(EntityKind::Contact),
            changes(json!({"tier": "silver"})),
        )
        .decide(EntityKind::Contact, &CustomValues::new(), true, at())
        .expect("valid")
        .expect("a change");
        assert_eq!(set.personal_fields(), ["/set"]);
        let json = serde_json::to_value(&set).expect("serializes");
        let back: CustomFieldsSet = serde_json::from_value(json.clone()).expect("reads back");
        assert_eq!(back, set);
        let mut erased = json;
        erased["set"] = Value::Null;
        let erased: CustomFieldsSet = serde_json::from_value(erased).expect("reads erased");
        assert!(erased.set.is_empty());
    }
}
