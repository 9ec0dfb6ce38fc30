//! One entity's custom fields and validation rules at one version.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::definition::FieldDefinition;
use super::entity::EntityKind;
use super::error::{SchemaError, SchemaProblem};
use super::key::FieldKey;
use super::parse::{FieldError, Reading};
use super::rules::{FieldProblem, RuleSet, ValidationRule, rule_problems};
use super::value::CustomValues;

/// The most custom fields one entity may declare (deprecated ones included).
pub const MAX_FIELDS: usize = 500;
/// The most validation rules one entity's schema may have.
pub const MAX_RULES: usize = 500;

/// The version of an entity's schema; versions count from 1, and a newer one has a larger
/// number. Version 0 is the empty schema of an entity nothing was declared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemaVersion(pub u32);

impl SchemaVersion {
    /// The first published version.
    pub const FIRST: Self = Self(1);
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// An entity's schema as an administrator writes it: plain data that
/// [`CustomFieldSchema::new`] validates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDraft {
    /// The kind of record the fields belong to.
    pub entity: EntityKind,
    /// The version.
    pub version: SchemaVersion,
    /// The fields, in the order forms show them.
    #[serde(default)]
    pub fields: Vec<FieldDefinition>,
    /// The validation rules, in the order they are checked.
    #[serde(default)]
    pub rules: Vec<ValidationRule>,
}

/// A validated schema: one entity's custom fields and validation rules at one version.
///
/// Every field ever published stays in later versions (deprecated rather than removed) with
/// its type unchanged, so the latest version reads every recorded value
/// ([`CustomFieldSchema::read_stored`]). Serialized as its [`SchemaDraft`], and validated
/// again when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SchemaDraft", into = "SchemaDraft")]
pub struct CustomFieldSchema {
    draft: SchemaDraft,
    index: BTreeMap<FieldKey, usize>,
}

impl TryFrom<SchemaDraft> for CustomFieldSchema {
    type Error = SchemaError;
    fn try_from(draft: SchemaDraft) -> Result<Self, Self::Error> {
        Self::new(draft)
    }
}

impl From<CustomFieldSchema> for SchemaDraft {
    fn from(schema: CustomFieldSchema) -> Self {
        schema.draft
    }
}

impl CustomFieldSchema {
    /// Validates a schema, reporting every problem ([`SchemaError::problems`]): a version of
    /// 0; too many fields or rules; per field a key that is a built-in field of the entity or
    /// declared twice, a blank or long label, long help text, a blank integration owner, a
    /// required deprecated field, a text length of 0 or above the limit, too many decimal
    /// places, bounds more precise than the field or inverted, an empty pick-list, too many
    /// options, a repeated option key, a blank option label, a current pick-list whose options
    /// are all retired; per rule an unknown or deprecated field, a rule that does not apply to
    /// the field's type, values that do not fit the field, an empty or inverted range, an
    /// empty pattern, a field related to itself, unknown options or empty transitions, fields
    /// that cannot be compared or are in different currencies.
    pub fn new(draft: SchemaDraft) -> Result<Self, SchemaError> {
        let problems = problems(&draft);
        if !problems.is_empty() {
            return Err(SchemaError { problems });
        }
        let index = draft
            .fields
            .iter()
            .enumerate()
            .map(|(position, field)| (field.key.clone(), position))
            .collect();
        Ok(Self { draft, index })
    }

    /// The schema of an entity nothing was declared for: version 0, no fields, no rules.
    pub fn empty(entity: EntityKind) -> Self {
        Self {
            draft: SchemaDraft {
                entity,
                version: SchemaVersion(0),
                fields: Vec::new(),
                rules: Vec::new(),
            },
            index: BTreeMap::new(),
        }
    }

    /// The kind of record the schema is for.
    pub fn entity(&self) -> EntityKind {
        self.draft.entity
    }

    /// The version.
    pub fn version(&self) -> SchemaVersion {
        self.draft.version
    }

    /// The fields, in declaration order, deprecated ones included.
    pub fn fields(&self) -> &[FieldDefinition] {
        &self.draft.fields
    }

    /// The field with `key`, if declared.
    pub fn field(&self, key: &FieldKey) -> Option<&FieldDefinition> {
        self.index
            .get(key)
            .and_then(|&at| self.draft.fields.get(at))
    }

    /// The validation rules as configured.
    pub fn validation_rules(&self) -> &[ValidationRule] {
        &self.draft.rules
    }

    /// The rules with the fields they need, ready to check values.
    pub fn rules(&self) -> RuleSet<'_> {
        RuleSet::new(self)
    }

    /// The schema as configured.
    pub fn draft(&self) -> &SchemaDraft {
        &self.draft
    }

    /// Checks the values a command would leave on a record; see [`RuleSet::check`].
    pub fn check(
        &self,
        before: &CustomValues,
        after: &CustomValues,
    ) -> Result<(), Vec<FieldProblem>> {
        self.rules().check(before, after)
    }

    /// The values a command would leave on a record: `before` with `changes` (field key →
    /// JSON as a client sends it) applied. `null` clears a field (any field, deprecated ones
    /// too); any other value is read by the field's [`FieldDefinition::parse`], where a
    /// retired option that `before` already holds is accepted. Re-sending a field's current
    /// value is never an error (a form sends every field back). Refused, each as a
    /// [`FieldProblem`] of kind [`super::RuleKind::Value`]: unknown keys, setting a deprecated
    /// field, values that do not fit. Reports every problem, in key order.
    ///
    /// This does not apply validation rules; [`CustomFieldSchema::validate_change`] does both.
    pub fn apply(
        &self,
        before: &CustomValues,
        changes: &Map<String, Value>,
    ) -> Result<CustomValues, Vec<FieldProblem>> {
        let (after, problems) = self.apply_each(before, changes);
        if problems.is_empty() {
            Ok(after)
        } else {
            Err(problems)
        }
    }

    /// [`CustomFieldSchema::apply`] and then [`CustomFieldSchema::check`]: the values a
    /// command would leave, or every problem with them. When some changes cannot be read, the
    /// rules are still checked on the changes that can, leaving out problems of the fields
    /// already reported, so one answer lists everything the user has to fix.
    pub fn validate_change(
        &self,
        before: &CustomValues,
        changes: &Map<String, Value>,
    ) -> Result<CustomValues, Vec<FieldProblem>> {
        let (after, mut problems) = self.apply_each(before, changes);
        let unreadable: BTreeSet<String> = problems.iter().map(|p| p.field.clone()).collect();
        if let Err(rule_problems) = self.check(before, &after) {
            problems.extend(
                rule_problems
                    .into_iter()
                    .filter(|p| !unreadable.contains(&p.field)),
            );
        }
        if problems.is_empty() {
            Ok(after)
        } else {
            Err(problems)
        }
    }

    /// The values after the changes that could be read, and the problems with the others.
    fn apply_each(
        &self,
        before: &CustomValues,
        changes: &Map<String, Value>,
    ) -> (CustomValues, Vec<FieldProblem>) {
        let mut after = before.clone();
        let mut problems = Vec::new();
        // A serde_json map iterates in key order unless its preserve_order feature is on;
        // sorting keeps the report's order fixed either way.
        let mut keys: Vec<&String> = changes.keys().collect();
        keys.sort();
        for raw_key in keys {
            let Some(input) = changes.get(raw_key) else {
                continue;
            };
            let key = FieldKey::new(raw_key).ok();
            let definition = key.as_ref().and_then(|key| self.field(key));
            let (Some(key), Some(definition)) = (key, definition) else {
                let clears_a_stored_value = input.is_null() && before.get_str(raw_key).is_some();
                if clears_a_stored_value {
                    if let Ok(key) = FieldKey::new(raw_key) {
                        after.clear(&key);
                    }
                } else {
                    problems.push(FieldProblem::value(
                        raw_key,
                        raw_key,
                        &FieldError::UnknownField,
                    ));
                }
                continue;
            };
            if input.is_null() {
                after.clear(&key);
                continue;
            }
            let current = before.get(&key);
            if current.is_some() && definition.read(input, Reading::Query).ok().as_ref() == current
            {
                continue;
            }
            let read = if definition.deprecated {
                Err(FieldError::DeprecatedField)
            } else {
                definition.read(input, Reading::Set { before: current })
            };
            match read {
                Ok(value) => {
                    after.set(key, value);
                }
                Err(error) => {
                    problems.push(FieldProblem::value(raw_key, &definition.label, &error));
                }
            }
        }
        (after, problems)
    }
}

/// Every problem with a draft, in a fixed order.
fn problems(draft: &SchemaDraft) -> Vec<SchemaProblem> {
    let entity = draft.entity;
    let mut problems = Vec::new();
    if draft.version.0 == 0 {
        problems.push(SchemaProblem::VersionZero { entity });
    }
    if draft.fields.len() > MAX_FIELDS {
        problems.push(SchemaProblem::TooManyFields {
            entity,
            count: draft.fields.len(),
        });
    }
    if draft.rules.len() > MAX_RULES {
        problems.push(SchemaProblem::TooManyRules {
            entity,
            count: draft.rules.len(),
        });
    }
    let mut fields = BTreeMap::new();
    for field in &draft.fields {
        if fields.insert(&field.key, field).is_some() {
            problems.push(SchemaProblem::DuplicateField {
                entity,
                key: field.key.clone(),
            });
        }
        problems.extend(field.problems(entity));
    }
    for (index, rule) in draft.rules.iter().enumerate() {
        problems.extend(rule_problems(entity, index, rule, &fields));
    }
    problems
}

#[cfg(test)]
mod tests;
