//! What an administrator declares about one custom field: its key, label, type and who owns it.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::decimal::{Decimal, MAX_DECIMAL_PLACES};
use super::entity::EntityKind;
use super::error::SchemaProblem;
use super::key::{FieldKey, OptionKey};
use crate::{Currency, TeamId, UserId};

/// The longest label of a field or option, in characters.
pub const MAX_LABEL_LENGTH: usize = 200;
/// The longest help text of a field, in characters.
pub const MAX_HELP_TEXT_LENGTH: usize = 2_000;
/// The largest maximum length a text field may declare, in characters.
pub const MAX_TEXT_LENGTH: u32 = 100_000;
/// The most options a pick-list may have (retired ones included).
pub const MAX_OPTIONS: usize = 1_000;

/// The kind of a field's type, without its settings: what messages and errors name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A decimal number.
    Number,
    /// An amount of money in one currency.
    Money,
    /// A calendar date.
    Date,
    /// Yes or no.
    Boolean,
    /// One option of a list.
    SinglePick,
    /// Any number of options of a list.
    MultiPick,
    /// A reference to another record.
    Lookup,
}

impl FieldKind {
    /// Whether values of this kind have an order, so ranges and comparisons apply.
    pub fn is_ordered(self) -> bool {
        matches!(self, FieldKind::Number | FieldKind::Money | FieldKind::Date)
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Money => "money",
            FieldKind::Date => "date",
            FieldKind::Boolean => "yes/no",
            FieldKind::SinglePick => "pick-list",
            FieldKind::MultiPick => "multi pick-list",
            FieldKind::Lookup => "lookup",
        })
    }
}

/// One option of a pick-list. Its key is stable; its label may be renamed. An option is never
/// removed: it is retired, after which it can no longer be chosen but values holding it are
/// still read and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickOption {
    /// The stable key values record.
    pub key: OptionKey,
    /// What people read.
    pub label: String,
    /// Whether the option can no longer be chosen.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

impl PickOption {
    /// A current option.
    pub fn new(key: OptionKey, label: impl Into<String>) -> Self {
        Self {
            key,
            label: label.into(),
            retired: false,
        }
    }
}

/// A field's type and the settings that come with it.
///
/// Serialized tagged by `kind`: `{"kind":"text","max_length":200}`,
/// `{"kind":"number","decimal_places":2,"min":"0","max":"100"}`,
/// `{"kind":"money","currency":"EUR"}`, `{"kind":"date"}`, `{"kind":"boolean"}`,
/// `{"kind":"single_pick","options":[…]}`, `{"kind":"multi_pick","options":[…]}`,
/// `{"kind":"lookup","target":"contact"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldType {
    /// Free text of at most `max_length` characters (1 to [`MAX_TEXT_LENGTH`]).
    Text {
        /// The most characters a new value may have.
        max_length: u32,
    },
    /// A decimal number with at most `decimal_places` places (0 to [`MAX_DECIMAL_PLACES`]),
    /// optionally bounded (both ends inclusive).
    Number {
        /// The decimal places values are kept with.
        decimal_places: u8,
        /// The smallest value a new value may have.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<Decimal>,
        /// The largest value a new value may have.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<Decimal>,
    },
    /// An amount of money in one currency, kept in minor units.
    Money {
        /// The currency of every value.
        currency: Currency,
    },
    /// A calendar date.
    Date,
    /// Yes or no.
    Boolean,
    /// One option of a list.
    SinglePick {
        /// The options, in the order they are offered.
        options: Vec<PickOption>,
    },
    /// Any (non-zero) number of options of a list.
    MultiPick {
        /// The options, in the order they are offered.
        options: Vec<PickOption>,
    },
    /// A reference to a record of another (or the same) kind.
    Lookup {
        /// The kind of record referred to.
        target: EntityKind,
    },
}

impl FieldType {
    /// The kind of the type.
    pub fn kind(&self) -> FieldKind {
        match self {
            FieldType::Text { .. } => FieldKind::Text,
            FieldType::Number { .. } => FieldKind::Number,
            FieldType::Money { .. } => FieldKind::Money,
            FieldType::Date => FieldKind::Date,
            FieldType::Boolean => FieldKind::Boolean,
            FieldType::SinglePick { .. } => FieldKind::SinglePick,
            FieldType::MultiPick { .. } => FieldKind::MultiPick,
            FieldType::Lookup { .. } => FieldKind::Lookup,
        }
    }

    /// The options of a pick-list; empty for other types.
    pub fn options(&self) -> &[PickOption] {
        match self {
            FieldType::SinglePick { options } | FieldType::MultiPick { options } => options,
            _ => &[],
        }
    }

    /// The option with `key`, retired or not.
    pub fn option(&self, key: &OptionKey) -> Option<&PickOption> {
        self.options().iter().find(|option| option.key == *key)
    }
}

/// Who owns a field's definition: whom to ask before changing or retiring it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldOwner {
    /// The tenant's administrators as a whole.
    #[default]
    Administrators,
    /// A team (sales operations, support).
    Team {
        /// The team.
        id: TeamId,
    },
    /// One user.
    User {
        /// The user.
        id: UserId,
    },
    /// An integration that fills the field (`"billing-sync"`).
    Integration {
        /// The integration's name; not blank.
        name: String,
    },
}

/// One custom field of one kind of record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDefinition {
    /// The stable key values are recorded under.
    pub key: FieldKey,
    /// What people read; not blank, at most [`MAX_LABEL_LENGTH`] characters.
    pub label: String,
    /// The type and its settings.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether every command must leave the field with a value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Guidance shown next to the field; at most [`MAX_HELP_TEXT_LENGTH`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_text: Option<String>,
    /// Who owns the definition.
    #[serde(default)]
    pub owner: FieldOwner,
    /// Whether the field is kept only for the values already recorded: it can no longer be
    /// set, only cleared, and its values are shown as deprecated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

impl FieldDefinition {
    /// An optional, current field owned by the administrators, without help text.
    pub fn new(key: FieldKey, label: impl Into<String>, field_type: FieldType) -> Self {
        Self {
            key,
            label: label.into(),
            field_type,
            required: false,
            help_text: None,
            owner: FieldOwner::Administrators,
            deprecated: false,
        }
    }

    /// The kind of the field's type.
    pub fn kind(&self) -> FieldKind {
        self.field_type.kind()
    }

    /// Every problem with this definition on `entity`, in a fixed order.
    pub(crate) fn problems(&self, entity: EntityKind) -> Vec<SchemaProblem> {
        let key = &self.key;
        let mut problems = Vec::new();
        let mut report = |problem: fn(EntityKind, FieldKey) -> SchemaProblem| {
            problems.push(problem(entity, key.clone()));
        };
        if entity.is_built_in(key.as_str()) {
            report(|entity, key| SchemaProblem::KeyClashesWithBuiltIn { entity, key });
        }
        if self.label.trim().is_empty() {
            report(|entity, key| SchemaProblem::BlankLabel { entity, key });
        }
        if self.label.chars().count() > MAX_LABEL_LENGTH {
            report(|entity, key| SchemaProblem::LabelTooLong { entity, key });
        }
        if self
            .help_text
            .as_ref()
            .is_some_and(|help| help.chars().count() > MAX_HELP_TEXT_LENGTH)
        {
            report(|entity, key| SchemaProblem::HelpTextTooLong { entity, key });
        }
        if matches!(&self.owner, FieldOwner::Integration { name } if name.trim().is_empty()) {
            report(|entity, key| SchemaProblem::BlankOwner { entity, key });
        }
        if self.required && self.deprecated {
            report(|entity, key| SchemaProblem::RequiredButDeprecated { entity, key });
        }
        problems.extend(self.type_problems(entity));
        problems
    }

    /// Every problem with the type's settings.
    fn type_problems(&self, entity: EntityKind) -> Vec<SchemaProblem> {
        let key = self.key.clone();
        let mut problems = Vec::new();
        match &self.field_type {
            FieldType::Text { max_length } => {
                if *max_length == 0 || *max_length > MAX_TEXT_LENGTH {
                    problems.push(SchemaProblem::TextLengthOutOfBounds {
                        entity,
                        key,
                        max_length: *max_length,
                    });
                }
            }
            FieldType::Number {
                decimal_places,
                min,
                max,
            } => {
                if *decimal_places > MAX_DECIMAL_PLACES {
                    problems.push(SchemaProblem::TooManyDecimalPlaces {
                        entity,
                        key: key.clone(),
                        places: *decimal_places,
                    });
                }
                for bound in [min, max].into_iter().flatten() {
                    if bound.significant_places() > *decimal_places {
                        problems.push(SchemaProblem::BoundTooPrecise {
                            entity,
                            key: key.clone(),
                            bound: *bound,
                            places: *decimal_places,
                        });
                    }
                }
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    problems.push(SchemaProblem::BoundsInverted {
                        entity,
                        key,
                        min: *min,
                        max: *max,
                    });
                }
            }
            FieldType::SinglePick { options } | FieldType::MultiPick { options } => {
                problems.extend(self.option_problems(entity, options));
            }
            FieldType::Money { .. }
            | FieldType::Date
            | FieldType::Boolean
            | FieldType::Lookup { .. } => {}
        }
        problems
    }

    /// Every problem with a pick-list's options.
    fn option_problems(&self, entity: EntityKind, options: &[PickOption]) -> Vec<SchemaProblem> {
        let key = &self.key;
        let mut problems = Vec::new();
        if options.is_empty() {
            problems.push(SchemaProblem::EmptyPickList {
                entity,
                key: key.clone(),
            });
        }
        if options.len() > MAX_OPTIONS {
            problems.push(SchemaProblem::TooManyOptions {
                entity,
                key: key.clone(),
                count: options.len(),
            });
        }
        let mut seen = HashSet::new();
        for option in options {
            if !seen.insert(&option.key) {
                problems.push(SchemaProblem::DuplicateOption {
                    entity,
                    key: key.clone(),
                    option: option.key.clone(),
                });
            }
            let label = option.label.trim();
            if label.is_empty() || option.label.chars().count() > MAX_LABEL_LENGTH {
                problems.push(SchemaProblem::OptionLabelInvalid {
                    entity,
                    key: key.clone(),
                    option: option.key.clone(),
                });
            }
        }
        if !options.is_empty() && !self.deprecated && options.iter().all(|option| option.retired) {
            problems.push(SchemaProblem::EveryOptionRetired {
                entity,
                key: key.clone(),
            });
        }
        problems
    }
}
