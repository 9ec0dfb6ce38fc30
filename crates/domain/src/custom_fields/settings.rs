//! The custom field settings of one entity: the schema versions an administrator published,
//! as a stream of facts (`"custom_fields-{id}"`, one stream per entity and tenant; see
//! [`CustomFieldSettings::id_of`]).
//!
//! Publishing is a command like any other, so every schema version is in the audited history
//! with who published it and when, and a command to a record names the version it was decided
//! under. A new version must be a valid evolution of the current one
//! ([`CustomFieldSchema::evolve_to`]): fields and options are deprecated or retired, never
//! removed, and a type never changes in place, so history never needs rebuilding.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use super::entity::EntityKind;
use super::error::SchemaError;
use super::evolution::SchemaChange;
use super::schema::{CustomFieldSchema, SchemaDraft, SchemaVersion};
use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};

/// An entity's published custom field schema. `Default` is "nothing published": the entity
/// has no custom fields ([`CustomFieldSettings::schema_or_empty`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomFieldSettings {
    /// The current schema, once one is published.
    pub schema: Option<Arc<CustomFieldSchema>>,
}

impl CustomFieldSettings {
    /// The stream id of `entity`'s settings: fixed, the same in every tenant (each tenant's
    /// streams are its own).
    pub fn id_of(entity: EntityKind) -> Uuid {
        let index: u128 = match entity {
            EntityKind::Lead => 1,
            EntityKind::Contact => 2,
            EntityKind::Account => 3,
            EntityKind::Opportunity => 4,
            EntityKind::Ticket => 5,
            EntityKind::Activity => 6,
            EntityKind::Task => 7,
        };
        // "custom-fields" in ASCII, then the entity.
        Uuid::from_u128((0x6375_7374_6f6d_2d66_6965_6c64_u128 << 32) | index)
    }

    /// The current schema, or `entity`'s empty one (version 0, no fields, no rules) when none
    /// was published.
    pub fn schema_or_empty(&self, entity: EntityKind) -> Arc<CustomFieldSchema> {
        self.schema
            .clone()
            .unwrap_or_else(|| Arc::new(CustomFieldSchema::empty(entity)))
    }
}

/// A command to an entity's custom field settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CustomFieldSettingsCommand {
    /// Publishes a schema version: the first one, or one that follows the current version.
    /// Publishing the current version again records nothing.
    Publish {
        /// The schema as configured.
        schema: SchemaDraft,
    },
}

/// What an entity's custom field settings record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CustomFieldSettingsEvent {
    /// A schema version was published; commands decided from now on use it.
    #[serde(rename = "CustomFieldSchemaPublished")]
    Published {
        /// The schema as configured (validated when published).
        schema: SchemaDraft,
        /// What it changes from the version before; `None` for the first version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<SchemaChange>,
        /// Who published it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for CustomFieldSettingsEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CustomFieldSettingsEvent::Published { .. } => "CustomFieldSchemaPublished",
        }
    }
}

/// Why a schema was not published.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CustomFieldSettingsError {
    /// The schema is not valid on its own; every problem.
    #[error("the schema is not valid: {0}")]
    Invalid(#[source] SchemaError),
    /// The schema does not follow the current version (a removed field or option, a changed
    /// type, another entity, a version not above the current one); every problem.
    #[error("the schema cannot follow version {}: {source}", current.0)]
    NotAnEvolution {
        /// The current version.
        current: SchemaVersion,
        /// Every problem.
        #[source]
        source: SchemaError,
    },
}

impl Aggregate for CustomFieldSettings {
    const KIND: &'static str = "custom_fields";
    type Command = CustomFieldSettingsCommand;
    type Event = CustomFieldSettingsEvent;
    type Error = CustomFieldSettingsError;

    fn decide(
        &self,
        command: CustomFieldSettingsCommand,
        ctx: &Context,
    ) -> Result<Vec<CustomFieldSettingsEvent>, CustomFieldSettingsError> {
        let CustomFieldSettingsCommand::Publish { schema: draft } = command;
        let next = CustomFieldSchema::new(draft).map_err(CustomFieldSettingsError::Invalid)?;
        let change = match &self.schema {
            Some(current) if **current == next => return Ok(vec![]),
            Some(current) => Some(current.evolve_to(&next).map_err(|source| {
                CustomFieldSettingsError::NotAnEvolution {
                    current: current.version(),
                    source,
                }
            })?),
            None => None,
        };
        Ok(vec![CustomFieldSettingsEvent::Published {
            schema: next.draft().clone(),
            change,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    /// A published schema that no longer validates (a later build tightened a check) leaves
    /// the schema before it in force: a recorded fact is never refused, and values recorded
    /// under it still read through [`CustomFieldSchema::read_stored`].
    fn evolve(mut self, event: &CustomFieldSettingsEvent) -> Self {
        let CustomFieldSettingsEvent::Published { schema, .. } = event;
        if let Ok(schema) = CustomFieldSchema::new(schema.clone()) {
            self.schema = Some(Arc::new(schema));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::given;

    fn draft(version: u32, options: &serde_json::Value) -> SchemaDraft {
        serde_json::from_value(json!({
            "entity": "account",
            "version": version,
            "fields": [{"key": "tier", "label": "Tier",
                        "type": {"kind": "single_pick", "options": options.clone()}}],
        }))
        .expect("a draft")
    }

    fn gold_silver() -> serde_json::Value {
        json!([{"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"}])
    }

    fn publish(version: u32, options: &serde_json::Value) -> CustomFieldSettingsCommand {
        CustomFieldSettingsCommand::Publish {
            schema: draft(version, options),
        }
    }

    fn first() -> Vec<CustomFieldSettingsEvent> {
        given::<CustomFieldSettings>(&[])
            .when(publish(1, &gold_silver()))
            .result()
            .expect("published")
    }

    #[test]
    fn the_first_schema_is_published_and_a_repeat_records_nothing() {
        let events = first();
        assert!(matches!(
            &events[..],
            [CustomFieldSettingsEvent::Published { change: None, .. }]
        ));
        let state = given::<CustomFieldSettings>(&events)
            .when(publish(1, &gold_silver()))
            .then(&[]);
        assert_eq!(
            state.schema_or_empty(EntityKind::Account).version(),
            SchemaVersion(1)
        );
    }

    #[test]
    fn a_removed_option_is_refused_and_a_retired_one_accepted() {
        let refused = given::<CustomFieldSettings>(&first())
            .when(publish(2, &json!([{"key": "gold", "label": "Gold"}])))
            .result();
        assert!(matches!(
            refused,
            Err(CustomFieldSettingsError::NotAnEvolution {
                current: SchemaVersion(1),
                ..
            })
        ));
        let events = given::<CustomFieldSettings>(&first())
            .when(publish(
                2,
                &json!([{"key": "gold", "label": "Gold"},
                       {"key": "silver", "label": "Silver", "retired": true}]),
            ))
            .result()
            .expect("an evolution");
        let [
            CustomFieldSettingsEvent::Published {
                change: Some(change),
                ..
            },
        ] = &events[..]
        else {
            panic!("one publication with its change: {events:?}");
        };
        assert_eq!(change.retired_options.len(), 1);
    }

    #[test]
    fn an_invalid_schema_is_refused_with_its_problems() {
        let refused = given::<CustomFieldSettings>(&[])
            .when(publish(0, &gold_silver()))
            .result();
        assert!(matches!(refused, Err(CustomFieldSettingsError::Invalid(_))));
    }

    #[test]
    fn nothing_published_means_the_empty_schema() {
        let schema = CustomFieldSettings::default().schema_or_empty(EntityKind::Task);
        assert_eq!(schema.version(), SchemaVersion(0));
        assert!(schema.fields().is_empty());
    }

    #[test]
    fn every_entity_has_its_own_stream() {
        let ids: std::collections::BTreeSet<Uuid> = [
            EntityKind::Lead,
            EntityKind::Contact,
            EntityKind::Account,
            EntityKind::Opportunity,
            EntityKind::Ticket,
            EntityKind::Activity,
            EntityKind::Task,
        ]
        .into_iter()
        .map(CustomFieldSettings::id_of)
        .collect();
        assert_eq!(ids.len(), 7);
    }
}
