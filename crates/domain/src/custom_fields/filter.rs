//! Filters a read model evaluates against a record's custom values.
//!
//! A query sends a [`FilterRequest`] (field key and JSON values, as a client writes them); the
//! schema validates it into a typed [`CustomFilter`] ([`CustomFieldSchema::filter`]), whose
//! [`CustomFilter::matches`] is a pure function of the values. Filters may name deprecated
//! fields and retired options: finding the records that still hold them is what one filters
//! for. Several filters are meant to hold together (a read model keeps those that all match).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::definition::{FieldDefinition, FieldKind};
use super::key::{FieldKey, OptionKey};
use super::parse::{FieldError, Reading};
use super::rules::order;
use super::schema::CustomFieldSchema;
use super::value::{CustomValue, CustomValues};

/// A filter as a query sends it. Serialized tagged by `op`:
/// `{"op":"equals","field":"tier","value":"gold"}`,
/// `{"op":"in","field":"tier","values":["gold","silver"]}`,
/// `{"op":"range","field":"renewal_date","min":"2026-01-01","max":"2026-03-31"}`,
/// `{"op":"is_set","field":"po_number","set":true}`,
/// `{"op":"contains","field":"regions","option":"emea"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FilterRequest {
    /// The field has exactly this value (a multi pick-list: exactly these options).
    Equals {
        /// The field's key.
        field: String,
        /// The value, as a client would send it to set the field.
        value: Value,
    },
    /// The field has one of these values.
    In {
        /// The field's key.
        field: String,
        /// The values.
        values: Vec<Value>,
    },
    /// A number, money or date field's value lies between `min` and `max`, both inclusive;
    /// either may be absent.
    Range {
        /// The field's key.
        field: String,
        /// The smallest value matched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<Value>,
        /// The largest value matched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<Value>,
    },
    /// The field has a value (`set: true`) or has none (`set: false`).
    IsSet {
        /// The field's key.
        field: String,
        /// Whether the field must have a value.
        set: bool,
    },
    /// A multi pick-list's value includes this option.
    Contains {
        /// The field's key.
        field: String,
        /// The option's key.
        option: String,
    },
}

/// Why a filter does not fit the schema.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FilterError {
    /// The entity has no such custom field.
    #[error("there is no custom field {field:?}")]
    UnknownField {
        /// The key sent.
        field: String,
    },
    /// A range on a field whose values have no order.
    #[error(
        "{field} is a {kind} field; only number, money and date fields can be filtered by range"
    )]
    NotOrdered {
        /// The field.
        field: FieldKey,
        /// Its kind.
        kind: FieldKind,
    },
    /// `contains` on a field that is not a multi pick-list.
    #[error(
        "{field} is a {kind} field; only multi pick-lists can be filtered by an option they contain"
    )]
    NotMultiPick {
        /// The field.
        field: FieldKey,
        /// Its kind.
        kind: FieldKind,
    },
    /// A value that the field could not hold.
    #[error("{field}: {error}")]
    InvalidValue {
        /// The field.
        field: FieldKey,
        /// Why.
        error: FieldError,
    },
    /// `in` without values.
    #[error("{field}: `in` needs at least one value")]
    NoValues {
        /// The field.
        field: FieldKey,
    },
    /// A range with neither bound, or its minimum above its maximum.
    #[error("{field}: a range needs a minimum or a maximum, the minimum not above the maximum")]
    EmptyRange {
        /// The field.
        field: FieldKey,
    },
}

/// A filter validated against a schema, with typed values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CustomFilter {
    /// The field has exactly this value.
    Equals {
        /// The field.
        field: FieldKey,
        /// The value.
        value: CustomValue,
    },
    /// The field has one of these values.
    In {
        /// The field.
        field: FieldKey,
        /// The values.
        values: Vec<CustomValue>,
    },
    /// The field's value lies between the bounds (inclusive).
    Range {
        /// The field.
        field: FieldKey,
        /// The smallest value matched.
        min: Option<CustomValue>,
        /// The largest value matched.
        max: Option<CustomValue>,
    },
    /// The field has a value, or has none.
    IsSet {
        /// The field.
        field: FieldKey,
        /// Whether it must have one.
        set: bool,
    },
    /// A multi pick-list's value includes the option.
    Contains {
        /// The field.
        field: FieldKey,
        /// The option.
        option: OptionKey,
    },
}

impl CustomFilter {
    /// The field the filter is about.
    pub fn field(&self) -> &FieldKey {
        match self {
            CustomFilter::Equals { field, .. }
            | CustomFilter::In { field, .. }
            | CustomFilter::Range { field, .. }
            | CustomFilter::IsSet { field, .. }
            | CustomFilter::Contains { field, .. } => field,
        }
    }

    /// Whether a record with these values matches. A field without a value matches only
    /// `is_set: false`; a value of another type than the filter's never matches. Numbers
    /// compare by value (`12.5` equals `12.50`), money by amount in one currency, text
    /// exactly (after the same normalization values get).
    pub fn matches(&self, values: &CustomValues) -> bool {
        let value = values.get(self.field());
        match self {
            CustomFilter::IsSet { set, .. } => value.is_some() == *set,
            CustomFilter::Equals { value: wanted, .. } => value == Some(wanted),
            CustomFilter::In { values: wanted, .. } => {
                value.is_some_and(|value| wanted.contains(value))
            }
            CustomFilter::Range { min, max, .. } => value.is_some_and(|value| {
                let above_min = min.as_ref().is_none_or(|min| {
                    matches!(order(value, min), Some(Ordering::Greater | Ordering::Equal))
                });
                let below_max = max.as_ref().is_none_or(|max| {
                    matches!(order(value, max), Some(Ordering::Less | Ordering::Equal))
                });
                above_min && below_max
            }),
            CustomFilter::Contains { option, .. } => {
                matches!(value, Some(CustomValue::Choices(held)) if held.contains(option))
            }
        }
    }
}

impl CustomFieldSchema {
    /// Validates a filter against the schema: the field must be declared (deprecated fields
    /// may be filtered on), a range needs a number, money or date field and at least one
    /// bound not above the other, `contains` a multi pick-list, `in` at least one value, and
    /// every value must be one the field could hold (retired options and values outside the
    /// field's bounds included).
    pub fn filter(&self, request: &FilterRequest) -> Result<CustomFilter, FilterError> {
        let (FilterRequest::Equals { field, .. }
        | FilterRequest::In { field, .. }
        | FilterRequest::Range { field, .. }
        | FilterRequest::IsSet { field, .. }
        | FilterRequest::Contains { field, .. }) = request;
        let definition = FieldKey::new(field)
            .ok()
            .and_then(|key| self.field(&key))
            .ok_or_else(|| FilterError::UnknownField {
                field: field.clone(),
            })?;
        let key = definition.key.clone();
        let read = |input: &Value| {
            definition
                .read(input, Reading::Query)
                .map_err(|error| FilterError::InvalidValue {
                    field: key.clone(),
                    error,
                })
        };
        match request {
            FilterRequest::Equals { value, .. } => Ok(CustomFilter::Equals {
                field: key.clone(),
                value: read(value)?,
            }),
            FilterRequest::In { values, .. } => {
                if values.is_empty() {
                    return Err(FilterError::NoValues { field: key.clone() });
                }
                Ok(CustomFilter::In {
                    field: key.clone(),
                    values: values.iter().map(read).collect::<Result<_, _>>()?,
                })
            }
            FilterRequest::Range { min, max, .. } => {
                range(definition, min.as_ref(), max.as_ref(), read)
            }
            FilterRequest::IsSet { set, .. } => Ok(CustomFilter::IsSet {
                field: key.clone(),
                set: *set,
            }),
            FilterRequest::Contains { option, .. } => {
                if definition.kind() != FieldKind::MultiPick {
                    return Err(FilterError::NotMultiPick {
                        field: key.clone(),
                        kind: definition.kind(),
                    });
                }
                let wanted = Value::Array(vec![Value::String(option.clone())]);
                match read(&wanted)? {
                    CustomValue::Choices(options) => options
                        .into_iter()
                        .next()
                        .map(|option| CustomFilter::Contains {
                            field: key.clone(),
                            option,
                        })
                        .ok_or(FilterError::InvalidValue {
                            field: key.clone(),
                            error: FieldError::Empty,
                        }),
                    other => Err(FilterError::InvalidValue {
                        field: key.clone(),
                        error: FieldError::WrongKind {
                            expected: FieldKind::MultiPick,
                            found: other.kind(),
                        },
                    }),
                }
            }
        }
    }
}

/// A validated range filter.
fn range(
    definition: &FieldDefinition,
    min: Option<&Value>,
    max: Option<&Value>,
    read: impl Fn(&Value) -> Result<CustomValue, FilterError>,
) -> Result<CustomFilter, FilterError> {
    let field = definition.key.clone();
    if !definition.kind().is_ordered() {
        return Err(FilterError::NotOrdered {
            field,
            kind: definition.kind(),
        });
    }
    let min = min.filter(|v| !v.is_null()).map(&read).transpose()?;
    let max = max.filter(|v| !v.is_null()).map(&read).transpose()?;
    let inverted =
        matches!((&min, &max), (Some(a), Some(b)) if order(a, b) == Some(Ordering::Greater));
    if (min.is_none() && max.is_none()) || inverted {
        return Err(FilterError::EmptyRange { field });
    }
    Ok(CustomFilter::Range { field, min, max })
}

#[cfg(test)]
mod tests;
