//! Custom fields and validation rules: what administrators declare per entity in versioned
//! configuration, without a code change or a rebuild of history.
//!
//! - Definitions (`entity.rs`, `key.rs`, `definition.rs`): an [`EntityKind`] (lead, contact,
//!   account, opportunity, ticket, activity, task) has custom [`FieldDefinition`]s, each with a
//!   stable [`FieldKey`] that may not clash with the entity's built-in names, a label, a
//!   [`FieldType`] (text, number, money, date, boolean, single and multi pick-list with
//!   retirable [`PickOption`]s, lookup), a required flag, help text, a [`FieldOwner`] and a
//!   deprecated flag.
//! - Schemas (`schema.rs`, `config.rs`, `evolution.rs`): a [`CustomFieldSchema`] is one
//!   entity's fields and [`ValidationRule`]s at a [`SchemaVersion`], validated whole from a
//!   [`SchemaDraft`]; a [`CustomFieldConfig`] holds every entity's. Every problem is reported
//!   at once ([`SchemaError`]). [`CustomFieldSchema::evolve_to`] checks a new version: fields
//!   and options are deprecated or retired, never removed, and a type never changes in place.
//! - Values (`value.rs`, `decimal.rs`, `parse.rs`, `stored.rs`): [`CustomValue`] is the
//!   normalized, tagged-JSON form events record; [`CustomValues`] a record's values;
//!   [`CustomValuesChange`] what an event carries. [`FieldDefinition::parse`] reads what a
//!   client sends; [`CustomFieldSchema::apply`] a command's changes;
//!   [`CustomFieldSchema::read_stored`] shows recorded values under the current schema and
//!   never fails.
//! - Rules (`rules.rs`, `pattern.rs`): [`RuleSet::check`] takes a record's values before and
//!   after a command and returns every [`FieldProblem`]. Text patterns are a small documented
//!   subset of regular expressions ([`TextPattern`]): crm-domain has no regex engine.
//! - Records (`record.rs`): a [`CustomFieldsUpdate`] is what a command brings (the changes and
//!   the schema they are decided under), [`CustomFieldsSet`] what its event records,
//!   [`CustomFieldsRefused`] why one is refused; every aggregate with custom fields shares them.
//! - Settings (`settings.rs`): [`CustomFieldSettings`] is the aggregate an administrator
//!   publishes an entity's schema versions to, one stream per entity.
//! - Filters (`filter.rs`): a [`FilterRequest`] validated by [`CustomFieldSchema::filter`]
//!   into a [`CustomFilter`] a read model evaluates.
//!
//! Nothing here reads a clock or does I/O. A rule change is a new schema version: it applies
//! to commands decided under it, and recorded values are never validated again.

mod config;
mod decimal;
mod definition;
mod entity;
mod error;
mod evolution;
mod filter;
mod key;
mod parse;
mod pattern;
mod record;
mod rules;
mod schema;
mod settings;
mod stored;
mod value;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod properties;

pub use config::CustomFieldConfig;
pub use decimal::{Decimal, DecimalError, MAX_DECIMAL_PLACES};
pub use definition::{
    FieldDefinition, FieldKind, FieldOwner, FieldType, MAX_HELP_TEXT_LENGTH, MAX_LABEL_LENGTH,
    MAX_OPTIONS, MAX_TEXT_LENGTH, PickOption,
};
pub use entity::EntityKind;
pub use error::{SchemaError, SchemaProblem};
pub use evolution::{FieldOption, SchemaChange};
pub use filter::{CustomFilter, FilterError, FilterRequest};
pub use key::{FieldKey, KeyError, MAX_KEY_LENGTH, OptionKey};
pub use parse::FieldError;
pub use pattern::{CharClass, TextPattern};
pub use record::{CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate};
pub use rules::{Comparison, FieldProblem, RuleKind, RuleSet, Transition, ValidationRule};
pub use schema::{CustomFieldSchema, MAX_FIELDS, MAX_RULES, SchemaDraft, SchemaVersion};
pub use settings::{
    CustomFieldSettings, CustomFieldSettingsCommand, CustomFieldSettingsError,
    CustomFieldSettingsEvent,
};
pub use stored::{StoredValue, ValueStatus};
pub use value::{CustomValue, CustomValues, CustomValuesChange, LinkedRecord};
