//! The data dictionary: every governed field with its type, its system of record, its
//! conflict policy and who owns its definition, declared in configuration and validated
//! before anything runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{ContactRules, FieldPolicy, FieldRule};
use crate::contact::ContactField;

/// The entities whose fields the dictionary can govern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernedEntity {
    /// Contacts: every single-valued field keeps the source and source time of its value.
    Contact,
}

/// A field's type as the dictionary declares it (checked against the field's real type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text (a name, a title, an identifier).
    Text,
    /// An email address.
    Email,
    /// A web domain.
    Domain,
    /// A calendar date.
    Date,
    /// An ISO 3166 country code.
    Country,
    /// A user of the CRM.
    User,
    /// An account (company record).
    Account,
    /// A lifecycle stage.
    LifecycleStage,
    /// A postal address.
    Address,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FieldType::Text => "text",
            FieldType::Email => "email",
            FieldType::Domain => "domain",
            FieldType::Date => "date",
            FieldType::Country => "country",
            FieldType::User => "user",
            FieldType::Account => "account",
            FieldType::LifecycleStage => "lifecycle_stage",
            FieldType::Address => "address",
        };
        f.write_str(name)
    }
}

impl ContactField {
    /// The field's type.
    pub fn field_type(self) -> FieldType {
        match self {
            ContactField::GivenName
            | ContactField::FamilyName
            | ContactField::CompanyName
            | ContactField::JobTitle
            | ContactField::NationalId => FieldType::Text,
            ContactField::PrimaryEmail => FieldType::Email,
            ContactField::CompanyDomain => FieldType::Domain,
            ContactField::Country => FieldType::Country,
            ContactField::Owner => FieldType::User,
            ContactField::Account => FieldType::Account,
            ContactField::LifecycleStage => FieldType::LifecycleStage,
            ContactField::DateOfBirth => FieldType::Date,
            ContactField::Address => FieldType::Address,
        }
    }
}

/// The name of a [`FieldPolicy`] in the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyName {
    /// [`FieldPolicy::LastWriteWins`].
    LastWriteWins,
    /// [`FieldPolicy::SourcePrecedence`], with `order`.
    SourcePrecedence,
    /// [`FieldPolicy::ManualReview`].
    ManualReview,
    /// [`FieldPolicy::OwnerOnly`], with `system_of_record`.
    OwnerOnly,
}

/// One governed field, as configuration declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DictionaryEntry {
    /// The entity, e.g. `"contact"`.
    pub entity: String,
    /// The field, e.g. `"lifecycle_stage"`.
    pub field: String,
    /// Its type, e.g. `"text"`; must be the field's real type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// The conflict policy.
    pub policy: PolicyName,
    /// The sources in order of precedence (for `source_precedence` only), highest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<String>,
    /// The source that owns the field (required for `owner_only`; first in `order` when both
    /// are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_of_record: Option<String>,
    /// Whether an empty value clears the field (default false).
    #[serde(default)]
    pub empty_overwrites: bool,
    /// Who owns the field's definition (a team or a person to ask before changing it).
    pub definition_owner: String,
    /// What the field means, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The tenant's data dictionary, as configuration declares it (JSON: `{"fields": [...]}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDictionary {
    /// The governed fields.
    pub fields: Vec<DictionaryEntry>,
}

/// What is wrong with a dictionary entry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DictionaryError {
    /// The entity is not one the dictionary governs.
    #[error("{entity}: not an entity the dictionary governs (contact)")]
    UnknownEntity {
        /// As written.
        entity: String,
    },
    /// The entity has no such field.
    #[error("{entity}.{field}: no such field")]
    UnknownField {
        /// The entity.
        entity: String,
        /// As written.
        field: String,
    },
    /// The declared type is not the field's.
    #[error("{entity}.{field}: declared {declared}, but the field holds {actual}")]
    WrongType {
        /// The entity.
        entity: String,
        /// The field.
        field: String,
        /// As declared.
        declared: FieldType,
        /// The field's type.
        actual: FieldType,
    },
    /// The field is declared twice.
    #[error("{entity}.{field}: declared more than once")]
    Duplicate {
        /// The entity.
        entity: String,
        /// The field.
        field: String,
    },
    /// The rule is incomplete or contradicts itself.
    #[error("{entity}.{field}: {reason}")]
    InvalidRule {
        /// The entity.
        entity: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// A validated dictionary: the rules per field, and the systems it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRules {
    contact: ContactRules,
    systems: BTreeSet<String>,
    entries: BTreeMap<(GovernedEntity, String), DictionaryEntry>,
}

impl SyncRules {
    /// The rules of the contact's fields.
    pub fn contact(&self) -> &ContactRules {
        &self.contact
    }

    /// Whether the dictionary names `system` (as a system of record or in a precedence list):
    /// only that system itself may then speak for it.
    pub fn names_system(&self, system: &str) -> bool {
        self.systems.contains(system)
    }

    /// Every entry, by entity and field.
    pub fn entries(&self) -> impl Iterator<Item = &DictionaryEntry> {
        self.entries.values()
    }

    /// Whether no field is governed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The longest source name the dictionary takes.
const MAX_SYSTEM_CHARS: usize = 200;

impl DataDictionary {
    /// Checks every entry and returns the rules, or every problem found.
    pub fn validate(&self) -> Result<SyncRules, Vec<DictionaryError>> {
        let mut rules = SyncRules::default();
        let mut problems = Vec::new();
        for entry in &self.fields {
            match entry.rule() {
                Ok((entity, field, rule)) => {
                    let GovernedEntity::Contact = entity;
                    if rules.contact.contains_key(&field) {
                        problems.push(DictionaryError::Duplicate {
                            entity: entry.entity.clone(),
                            field: entry.field.clone(),
                        });
                        continue;
                    }
                    rules.systems.extend(rule.system_of_record.iter().cloned());
                    if let FieldPolicy::SourcePrecedence { order } = &rule.policy {
                        rules.systems.extend(order.iter().cloned());
                    }
                    rules.contact.insert(field, rule);
                    rules
                        .entries
                        .insert((entity, entry.field.clone()), entry.clone());
                }
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }
}

impl DictionaryEntry {
    fn invalid(&self, reason: impl Into<String>) -> DictionaryError {
        DictionaryError::InvalidRule {
            entity: self.entity.clone(),
            field: self.field.clone(),
            reason: reason.into(),
        }
    }

    /// The entry as a rule of a known field, or what is wrong with it.
    fn rule(&self) -> Result<(GovernedEntity, ContactField, FieldRule), DictionaryError> {
        let entity = serde_json::from_value::<GovernedEntity>(serde_json::Value::String(
            self.entity.clone(),
        ))
        .map_err(|_| DictionaryError::UnknownEntity {
            entity: self.entity.clone(),
        })?;
        let field =
            serde_json::from_value::<ContactField>(serde_json::Value::String(self.field.clone()))
                .map_err(|_| DictionaryError::UnknownField {
                entity: self.entity.clone(),
                field: self.field.clone(),
            })?;
        if field.field_type() != self.kind {
            return Err(DictionaryError::WrongType {
                entity: self.entity.clone(),
                field: self.field.clone(),
                declared: self.kind,
                actual: field.field_type(),
            });
        }
        if self.definition_owner.trim().is_empty() {
            return Err(self.invalid("definition_owner: who owns the definition must be named"));
        }
        let named = self.order.iter().chain(&self.system_of_record);
        for system in named {
            if system.trim().is_empty() || system.chars().count() > MAX_SYSTEM_CHARS {
                return Err(self.invalid(format!(
                    "source names are 1 to {MAX_SYSTEM_CHARS} characters"
                )));
            }
        }
        let policy = match self.policy {
            PolicyName::LastWriteWins => FieldPolicy::LastWriteWins,
            PolicyName::ManualReview => FieldPolicy::ManualReview,
            PolicyName::OwnerOnly => {
                if self.system_of_record.is_none() {
                    return Err(self.invalid("owner_only needs a system_of_record"));
                }
                FieldPolicy::OwnerOnly
            }
            PolicyName::SourcePrecedence => {
                if self.order.is_empty() {
                    return Err(self.invalid("source_precedence needs an order of sources"));
                }
                let distinct: BTreeSet<&String> = self.order.iter().collect();
                if distinct.len() != self.order.len() {
                    return Err(self.invalid("order names a source more than once"));
                }
                if let Some(owner) = &self.system_of_record
                    && self.order.first() != Some(owner)
                {
                    return Err(self.invalid(format!(
                        "the system of record {owner} must come first in order"
                    )));
                }
                FieldPolicy::SourcePrecedence {
                    order: self.order.clone(),
                }
            }
        };
        if !self.order.is_empty() && self.policy != PolicyName::SourcePrecedence {
            return Err(self.invalid("order is only for source_precedence"));
        }
        Ok((
            entity,
            field,
            FieldRule {
                policy,
                system_of_record: self.system_of_record.clone(),
                empty_overwrites: self.empty_overwrites,
            },
        ))
    }
}
