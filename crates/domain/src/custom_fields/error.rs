//! Why a custom field configuration, or a new version of one, was refused.

use std::fmt;

use thiserror::Error;

use super::decimal::{Decimal, MAX_DECIMAL_PLACES};
use super::definition::{
    FieldKind, MAX_HELP_TEXT_LENGTH, MAX_LABEL_LENGTH, MAX_OPTIONS, MAX_TEXT_LENGTH,
};
use super::entity::EntityKind;
use super::key::{FieldKey, OptionKey};
use super::parse::FieldError;
use super::rules::RuleKind;
use super::schema::{MAX_FIELDS, MAX_RULES, SchemaVersion};
use crate::Currency;

/// A configuration refused, with every problem found (never just the first).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct SchemaError {
    /// The problems, in a fixed order: per entity, fields in declaration order, then rules in
    /// declaration order, then (for a new version) the changes refused.
    pub problems: Vec<SchemaProblem>,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "the custom field configuration has {count} problem{}",
            if count == 1 { "" } else { "s" }
        )?;
        for (index, problem) in self.problems.iter().enumerate() {
            write!(f, "{} {problem}", if index == 0 { ":" } else { ";" })?;
        }
        Ok(())
    }
}

/// One problem with a custom field configuration or with a new version of it. Rules are
/// named by their position in their schema's rule list (0 = first).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaProblem {
    /// A schema's version is 0; versions count from 1.
    #[error("the {entity} schema's version must be 1 or more")]
    VersionZero {
        /// The entity.
        entity: EntityKind,
    },
    /// Two schemas were given for the same entity.
    #[error("the {entity} schema is given twice")]
    DuplicateSchema {
        /// The entity.
        entity: EntityKind,
    },
    /// A schema has more fields than allowed.
    #[error("the {entity} schema has {count} fields; at most {MAX_FIELDS} are allowed")]
    TooManyFields {
        /// The entity.
        entity: EntityKind,
        /// How many fields it has.
        count: usize,
    },
    /// A schema has more rules than allowed.
    #[error("the {entity} schema has {count} rules; at most {MAX_RULES} are allowed")]
    TooManyRules {
        /// The entity.
        entity: EntityKind,
        /// How many rules it has.
        count: usize,
    },
    /// A field key is already a built-in field of the entity.
    #[error("{entity} field {key}: the key is a built-in {entity} field; choose another key")]
    KeyClashesWithBuiltIn {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// Two fields share a key.
    #[error("{entity} field {key}: the key is declared twice")]
    DuplicateField {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A field's label is blank.
    #[error("{entity} field {key}: the label is blank")]
    BlankLabel {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A field's label is too long.
    #[error("{entity} field {key}: the label is longer than {MAX_LABEL_LENGTH} characters")]
    LabelTooLong {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A field's help text is too long.
    #[error("{entity} field {key}: the help text is longer than {MAX_HELP_TEXT_LENGTH} characters")]
    HelpTextTooLong {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// An integration owning a field has a blank name.
    #[error("{entity} field {key}: the owning integration's name is blank")]
    BlankOwner {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A deprecated field is marked required, so no command could ever succeed.
    #[error("{entity} field {key}: a deprecated field cannot be required")]
    RequiredButDeprecated {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A text field's maximum length is 0 or above [`MAX_TEXT_LENGTH`].
    #[error(
        "{entity} field {key}: the maximum length {max_length} is not between 1 and {MAX_TEXT_LENGTH}"
    )]
    TextLengthOutOfBounds {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The maximum length declared.
        max_length: u32,
    },
    /// A number field has more decimal places than [`MAX_DECIMAL_PLACES`].
    #[error(
        "{entity} field {key}: {places} decimal places declared; at most {MAX_DECIMAL_PLACES} are allowed"
    )]
    TooManyDecimalPlaces {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The places declared.
        places: u8,
    },
    /// A number field's bound has more decimal places than the field.
    #[error(
        "{entity} field {key}: the bound {bound} has more than the field's {places} decimal places"
    )]
    BoundTooPrecise {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The bound.
        bound: Decimal,
        /// The field's decimal places.
        places: u8,
    },
    /// A number field's minimum is above its maximum.
    #[error("{entity} field {key}: the minimum {min} is above the maximum {max}")]
    BoundsInverted {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The minimum.
        min: Decimal,
        /// The maximum.
        max: Decimal,
    },
    /// A pick-list has no options.
    #[error("{entity} field {key}: a pick-list needs at least one option")]
    EmptyPickList {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A pick-list has more options than [`MAX_OPTIONS`].
    #[error("{entity} field {key}: {count} options; at most {MAX_OPTIONS} are allowed")]
    TooManyOptions {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// How many options it has.
        count: usize,
    },
    /// Two options of a pick-list share a key.
    #[error("{entity} field {key}: the option {option} is declared twice")]
    DuplicateOption {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The option.
        option: OptionKey,
    },
    /// An option's label is blank or too long.
    #[error(
        "{entity} field {key}: the option {option} needs a label of 1 to {MAX_LABEL_LENGTH} characters"
    )]
    OptionLabelInvalid {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The option.
        option: OptionKey,
    },
    /// Every option of a current pick-list is retired, so it could never be set.
    #[error("{entity} field {key}: every option is retired; deprecate the field instead")]
    EveryOptionRetired {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A rule names a field the schema does not declare.
    #[error("{entity} rule {rule}: there is no {entity} field {field}")]
    RuleUnknownField {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field named.
        field: FieldKey,
    },
    /// A rule names a deprecated field.
    #[error("{entity} rule {rule}: the field {field} is deprecated; remove the rule")]
    RuleOnDeprecatedField {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field named.
        field: FieldKey,
    },
    /// A rule does not apply to the kind of field it names.
    #[error("{entity} rule {rule}: a {rule_kind} rule does not apply to the {kind} field {field}")]
    RuleDoesNotApply {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// What kind of rule it is.
        rule_kind: RuleKind,
        /// The field named.
        field: FieldKey,
        /// The field's kind.
        kind: FieldKind,
    },
    /// A value in a rule (a bound, a condition) does not fit the field it is about.
    #[error("{entity} rule {rule}: the value for {field} does not fit the field: {error}")]
    RuleValueDoesNotFit {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field.
        field: FieldKey,
        /// Why it does not fit.
        error: FieldError,
    },
    /// A range rule has neither a minimum nor a maximum.
    #[error("{entity} rule {rule}: the range for {field} needs a minimum, a maximum or both")]
    RuleEmptyRange {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field.
        field: FieldKey,
    },
    /// A range rule's minimum is above its maximum.
    #[error("{entity} rule {rule}: the range for {field} has its minimum above its maximum")]
    RuleRangeInverted {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field.
        field: FieldKey,
    },
    /// A pattern rule's pattern can never be written down sensibly (empty text, no
    /// characters allowed, an empty shape).
    #[error("{entity} rule {rule}: the pattern for {field} is empty")]
    RuleEmptyPattern {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field.
        field: FieldKey,
    },
    /// A rule relates a field to itself.
    #[error("{entity} rule {rule}: the rule relates {field} to itself")]
    RuleSelfReference {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field.
        field: FieldKey,
    },
    /// A transition rule names an option the pick-list does not have.
    #[error("{entity} rule {rule}: the pick-list {field} has no option {option}")]
    RuleUnknownOption {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field.
        field: FieldKey,
        /// The option named.
        option: OptionKey,
    },
    /// A transition rule lists no transitions, or one from an option to itself.
    #[error(
        "{entity} rule {rule}: the transitions of {field} must be a non-empty list of changes between two different options"
    )]
    RuleInvalidTransitions {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The field.
        field: FieldKey,
    },
    /// A comparison rule relates fields whose values cannot be compared.
    #[error(
        "{entity} rule {rule}: the {left_kind} field {left} cannot be compared with the {right_kind} field {right}"
    )]
    RuleIncomparable {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The left-hand field.
        left: FieldKey,
        /// Its kind.
        left_kind: FieldKind,
        /// The right-hand field.
        right: FieldKey,
        /// Its kind.
        right_kind: FieldKind,
    },
    /// A comparison rule relates money fields in different currencies.
    #[error(
        "{entity} rule {rule}: {left} is in {left_currency} but {right} is in {right_currency}"
    )]
    RuleCurrenciesDiffer {
        /// The entity.
        entity: EntityKind,
        /// The rule's position.
        rule: usize,
        /// The left-hand field.
        left: FieldKey,
        /// Its currency.
        left_currency: Currency,
        /// The right-hand field.
        right: FieldKey,
        /// Its currency.
        right_currency: Currency,
    },
    /// A new version is for another entity.
    #[error("a {current} schema cannot be followed by a {next} schema")]
    EntityDiffers {
        /// The current schema's entity.
        current: EntityKind,
        /// The new version's entity.
        next: EntityKind,
    },
    /// A new version's number is not above the current one.
    #[error("the {entity} schema is at {current}; {next} is not newer")]
    VersionNotNewer {
        /// The entity.
        entity: EntityKind,
        /// The current version.
        current: SchemaVersion,
        /// The version offered.
        next: SchemaVersion,
    },
    /// A new version drops an entity's schema.
    #[error("the {entity} schema cannot be dropped; deprecate its fields instead")]
    SchemaRemoved {
        /// The entity.
        entity: EntityKind,
    },
    /// A new version drops a field.
    #[error(
        "{entity} field {key}: a field cannot be removed, since recorded values refer to it; deprecate it instead"
    )]
    FieldRemoved {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
    },
    /// A new version changes a field's type.
    #[error(
        "{entity} field {key}: its type cannot change from {from} to {to}; a changed type needs a new key (deprecate this one)"
    )]
    TypeChanged {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The current kind.
        from: FieldKind,
        /// The kind offered.
        to: FieldKind,
    },
    /// A new version changes a money field's currency.
    #[error(
        "{entity} field {key}: its currency cannot change from {from} to {to}; a changed currency needs a new key (deprecate this one)"
    )]
    CurrencyChanged {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The current currency.
        from: Currency,
        /// The currency offered.
        to: Currency,
    },
    /// A new version changes the kind of record a lookup refers to.
    #[error(
        "{entity} field {key}: it cannot change from referring to a {from} to a {to}; that needs a new key (deprecate this one)"
    )]
    LookupTargetChanged {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The current target.
        from: EntityKind,
        /// The target offered.
        to: EntityKind,
    },
    /// A new version drops a pick-list option.
    #[error(
        "{entity} field {key}: the option {option} cannot be removed, since recorded values may hold it; retire it instead"
    )]
    OptionRemoved {
        /// The entity.
        entity: EntityKind,
        /// The field.
        key: FieldKey,
        /// The option.
        option: OptionKey,
    },
}
