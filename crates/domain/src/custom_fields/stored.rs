//! Reading recorded values under the current schema: never fails, and says what each value is
//! now (current, of a deprecated field, holding a retired option, of an unknown field).

use serde::{Deserialize, Serialize};

use super::definition::FieldDefinition;
use super::key::{FieldKey, OptionKey};
use super::schema::CustomFieldSchema;
use super::value::{CustomValue, CustomValues};

/// What a recorded value is under the current schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ValueStatus {
    /// A value of a current field, fitting its definition.
    Current,
    /// A value of a field deprecated since: kept and shown, no longer settable.
    DeprecatedField,
    /// A value holding options retired since: kept and shown, no longer choosable.
    RetiredOption {
        /// The retired options the value holds.
        options: Vec<OptionKey>,
    },
    /// A value of a field the schema does not declare (possible only for values recorded
    /// outside this module, since fields are never removed).
    UnknownField,
    /// A value that is not of its field's type or holds an option the list never had
    /// (possible only for values recorded outside this module, since types never change and
    /// options are never removed).
    Unrecognized,
}

/// One recorded value as a read model shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredValue {
    /// The field's key.
    pub key: FieldKey,
    /// The field's current label (the key for an unknown field).
    pub label: String,
    /// The value as recorded.
    pub value: CustomValue,
    /// The value for people: option labels rather than keys (a retired one marked
    /// `(retired)`), `Yes`/`No`, money with its currency.
    pub text: String,
    /// What the value is under the current schema.
    pub status: ValueStatus,
}

impl CustomFieldSchema {
    /// Every recorded value with what it is under this schema: the declared fields' values in
    /// declaration order, then values of undeclared keys in key order. Never fails and never
    /// drops a value: history is never rewritten, so a value of a deprecated field or holding
    /// a retired option is kept and shown as such.
    pub fn read_stored(&self, values: &CustomValues) -> Vec<StoredValue> {
        let declared = self.fields().iter().filter_map(|definition| {
            let value = values.get(&definition.key)?;
            Some(StoredValue {
                key: definition.key.clone(),
                label: definition.label.clone(),
                value: value.clone(),
                text: value_text(Some(definition), value),
                status: status(definition, value),
            })
        });
        let undeclared = values
            .iter()
            .filter(|(key, _)| self.field(key).is_none())
            .map(|(key, value)| StoredValue {
                key: key.clone(),
                label: key.to_string(),
                value: value.clone(),
                text: value_text(None, value),
                status: ValueStatus::UnknownField,
            });
        declared.chain(undeclared).collect()
    }
}

/// What a value of a declared field is.
fn status(definition: &FieldDefinition, value: &CustomValue) -> ValueStatus {
    if value.kind() != definition.kind() {
        return ValueStatus::Unrecognized;
    }
    let mut retired = Vec::new();
    for option in value.option_keys() {
        match definition.field_type.option(option) {
            None => return ValueStatus::Unrecognized,
            Some(known) if known.retired => retired.push(option.clone()),
            Some(_) => {}
        }
    }
    if definition.deprecated {
        ValueStatus::DeprecatedField
    } else if retired.is_empty() {
        ValueStatus::Current
    } else {
        ValueStatus::RetiredOption { options: retired }
    }
}

/// A value for people: option labels (retired ones marked), `Yes`/`No`, the rest as
/// [`CustomValue`]'s `Display` has it.
pub(crate) fn value_text(definition: Option<&FieldDefinition>, value: &CustomValue) -> String {
    let option_label = |key: &OptionKey| match definition.and_then(|d| d.field_type.option(key)) {
        Some(option) if option.retired => format!("{} (retired)", option.label),
        Some(option) => option.label.clone(),
        None => key.to_string(),
    };
    match value {
        CustomValue::Choice(key) => option_label(key),
        CustomValue::Choices(keys) => {
            // In the order the pick-list offers its options, unknown keys last.
            let options = definition.map_or(&[][..], |d| d.field_type.options());
            let mut labels: Vec<String> = options
                .iter()
                .filter(|option| keys.contains(&option.key))
                .map(|option| option_label(&option.key))
                .collect();
            labels.extend(
                keys.iter()
                    .filter(|key| !options.iter().any(|option| option.key == **key))
                    .map(OptionKey::to_string),
            );
            labels.join(", ")
        }
        CustomValue::Boolean(true) => "Yes".to_owned(),
        CustomValue::Boolean(false) => "No".to_owned(),
        other => other.to_string(),
    }
}
