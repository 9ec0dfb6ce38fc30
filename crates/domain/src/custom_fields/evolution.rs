//! What may change from one version of an entity's schema to the next.
//!
//! A new version may add fields, deprecate (or restore) fields, add, retire or restore
//! pick-list options, relabel, change help text, owner and the required flag, relax or tighten
//! bounds, and replace the validation rules. It may never remove a field or an option, nor
//! change a field's type (its kind, a money field's currency, a lookup's target): recorded
//! values refer to them, and history is never rewritten. A changed type needs a new key.

use serde::{Deserialize, Serialize};

use super::definition::{FieldDefinition, FieldType};
use super::entity::EntityKind;
use super::error::{SchemaError, SchemaProblem};
use super::key::{FieldKey, OptionKey};
use super::schema::{CustomFieldSchema, SchemaVersion};

/// A pick-list option of a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldOption {
    /// The field.
    pub field: FieldKey,
    /// The option.
    pub option: OptionKey,
}

/// What a new schema version changes, for an audit trail or a release note. Each list is in
/// the new version's declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaChange {
    /// The entity.
    pub entity: EntityKind,
    /// The version changed from.
    pub from: SchemaVersion,
    /// The version changed to.
    pub to: SchemaVersion,
    /// Fields new in this version.
    pub added_fields: Vec<FieldKey>,
    /// Fields deprecated in this version.
    pub deprecated_fields: Vec<FieldKey>,
    /// Deprecated fields brought back in this version.
    pub restored_fields: Vec<FieldKey>,
    /// Options new in this version.
    pub added_options: Vec<FieldOption>,
    /// Options retired in this version.
    pub retired_options: Vec<FieldOption>,
    /// Retired options brought back in this version.
    pub restored_options: Vec<FieldOption>,
    /// Fields whose label, help text, owner, required flag, bounds, length or option labels
    /// changed.
    pub amended_fields: Vec<FieldKey>,
    /// Whether the validation rules changed.
    pub rules_changed: bool,
}

impl CustomFieldSchema {
    /// Checks `next` as the version that follows this one and says what it changes.
    ///
    /// Refused, with every problem: another entity, a version number not above this one, a
    /// field removed (deprecate it instead), a field's type changed (kind, money currency,
    /// lookup target: a changed type needs a new key), an option removed (retire it instead).
    pub fn evolve_to(&self, next: &CustomFieldSchema) -> Result<SchemaChange, SchemaError> {
        let entity = self.entity();
        let mut problems = Vec::new();
        if next.entity() != entity {
            problems.push(SchemaProblem::EntityDiffers {
                current: entity,
                next: next.entity(),
            });
        }
        if next.version() <= self.version() {
            problems.push(SchemaProblem::VersionNotNewer {
                entity,
                current: self.version(),
                next: next.version(),
            });
        }
        let mut change = SchemaChange {
            entity,
            from: self.version(),
            to: next.version(),
            added_fields: Vec::new(),
            deprecated_fields: Vec::new(),
            restored_fields: Vec::new(),
            added_options: Vec::new(),
            retired_options: Vec::new(),
            restored_options: Vec::new(),
            amended_fields: Vec::new(),
            rules_changed: self.validation_rules() != next.validation_rules(),
        };
        for old in self.fields() {
            if next.field(&old.key).is_none() {
                problems.push(SchemaProblem::FieldRemoved {
                    entity,
                    key: old.key.clone(),
                });
            }
        }
        for new in next.fields() {
            match self.field(&new.key) {
                None => change.added_fields.push(new.key.clone()),
                Some(old) => compare_field(entity, old, new, &mut change, &mut problems),
            }
        }
        if problems.is_empty() {
            Ok(change)
        } else {
            Err(SchemaError { problems })
        }
    }
}

/// Records what changed in one field, or why the change is refused.
fn compare_field(
    entity: EntityKind,
    old: &FieldDefinition,
    new: &FieldDefinition,
    change: &mut SchemaChange,
    problems: &mut Vec<SchemaProblem>,
) {
    let key = &new.key;
    match (&old.field_type, &new.field_type) {
        (FieldType::Money { currency: from }, FieldType::Money { currency: to }) if from != to => {
            problems.push(SchemaProblem::CurrencyChanged {
                entity,
                key: key.clone(),
                from: *from,
                to: *to,
            });
            return;
        }
        (FieldType::Lookup { target: from }, FieldType::Lookup { target: to }) if from != to => {
            problems.push(SchemaProblem::LookupTargetChanged {
                entity,
                key: key.clone(),
                from: *from,
                to: *to,
            });
            return;
        }
        (from, to) if from.kind() != to.kind() => {
            problems.push(SchemaProblem::TypeChanged {
                entity,
                key: key.clone(),
                from: from.kind(),
                to: to.kind(),
            });
            return;
        }
        _ => {}
    }
    match (old.deprecated, new.deprecated) {
        (false, true) => change.deprecated_fields.push(key.clone()),
        (true, false) => change.restored_fields.push(key.clone()),
        _ => {}
    }
    let mut amended = old.label != new.label
        || old.help_text != new.help_text
        || old.owner != new.owner
        || old.required != new.required;
    for option in old.field_type.options() {
        if new.field_type.option(&option.key).is_none() {
            problems.push(SchemaProblem::OptionRemoved {
                entity,
                key: key.clone(),
                option: option.key.clone(),
            });
        }
    }
    for option in new.field_type.options() {
        let named = || FieldOption {
            field: key.clone(),
            option: option.key.clone(),
        };
        match old.field_type.option(&option.key) {
            None => change.added_options.push(named()),
            Some(before) => {
                match (before.retired, option.retired) {
                    (false, true) => change.retired_options.push(named()),
                    (true, false) => change.restored_options.push(named()),
                    _ => {}
                }
                amended |= before.label != option.label;
            }
        }
    }
    let settings_changed = match (&old.field_type, &new.field_type) {
        (FieldType::SinglePick { .. }, FieldType::SinglePick { .. })
        | (FieldType::MultiPick { .. }, FieldType::MultiPick { .. }) => false,
        (from, to) => from != to,
    };
    if amended || settings_changed {
        change.amended_fields.push(key.clone());
    }
}

#[cfg(test)]
mod tests;
