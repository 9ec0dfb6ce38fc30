//! Every entity's custom field schema together: what a tenant configures and publishes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::entity::EntityKind;
use super::error::{SchemaError, SchemaProblem};
use super::evolution::SchemaChange;
use super::schema::{CustomFieldSchema, SchemaDraft};

/// The custom fields of every entity, validated whole: one schema per entity at most, each
/// valid. An entity without a schema has no custom fields ([`CustomFieldConfig::schema`]
/// answers with an empty one).
///
/// Serialized as the list of its schemas' drafts, in entity order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SchemaDraft>", into = "Vec<SchemaDraft>")]
pub struct CustomFieldConfig {
    schemas: BTreeMap<EntityKind, CustomFieldSchema>,
}

impl TryFrom<Vec<SchemaDraft>> for CustomFieldConfig {
    type Error = SchemaError;
    fn try_from(drafts: Vec<SchemaDraft>) -> Result<Self, Self::Error> {
        Self::new(drafts)
    }
}

impl From<CustomFieldConfig> for Vec<SchemaDraft> {
    fn from(config: CustomFieldConfig) -> Self {
        config
            .schemas
            .into_values()
            .map(SchemaDraft::from)
            .collect()
    }
}

impl CustomFieldConfig {
    /// Validates every draft and reports every problem of all of them together (see
    /// [`CustomFieldSchema::new`]), plus any entity given twice.
    pub fn new(drafts: Vec<SchemaDraft>) -> Result<Self, SchemaError> {
        let mut schemas = BTreeMap::new();
        let mut problems = Vec::new();
        for draft in drafts {
            let entity = draft.entity;
            if schemas.contains_key(&entity) {
                problems.push(SchemaProblem::DuplicateSchema { entity });
                continue;
            }
            match CustomFieldSchema::new(draft) {
                Ok(schema) => {
                    schemas.insert(entity, schema);
                }
                Err(error) => problems.extend(error.problems),
            }
        }
        if problems.is_empty() {
            Ok(Self { schemas })
        } else {
            Err(SchemaError { problems })
        }
    }

    /// The schema of `entity`, or the empty schema if none was declared.
    pub fn schema(&self, entity: EntityKind) -> CustomFieldSchema {
        self.schemas
            .get(&entity)
            .cloned()
            .unwrap_or_else(|| CustomFieldSchema::empty(entity))
    }

    /// The schema declared for `entity`, without cloning; `None` if none was.
    pub fn declared(&self, entity: EntityKind) -> Option<&CustomFieldSchema> {
        self.schemas.get(&entity)
    }

    /// Every declared schema, in entity order.
    pub fn schemas(&self) -> impl Iterator<Item = &CustomFieldSchema> {
        self.schemas.values()
    }

    /// Checks `next` as the configuration that follows this one: every entity's schema must
    /// be a valid next version of its current one ([`CustomFieldSchema::evolve_to`]) and none
    /// may be dropped. An entity's schema that did not change (same draft) is left out of
    /// the changes; one that is new is checked against the empty schema. Reports every
    /// problem of every entity.
    pub fn evolve_to(&self, next: &CustomFieldConfig) -> Result<Vec<SchemaChange>, SchemaError> {
        let mut changes = Vec::new();
        let mut problems = Vec::new();
        for entity in self.schemas.keys() {
            if !next.schemas.contains_key(entity) {
                problems.push(SchemaProblem::SchemaRemoved { entity: *entity });
            }
        }
        for (entity, schema) in &next.schemas {
            let current = self.schema(*entity);
            if current == *schema {
                continue;
            }
            match current.evolve_to(schema) {
                Ok(change) => changes.push(change),
                Err(error) => problems.extend(error.problems),
            }
        }
        if problems.is_empty() {
            Ok(changes)
        } else {
            Err(SchemaError { problems })
        }
    }
}
