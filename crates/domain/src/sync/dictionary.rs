//! The data dictionary: every governed field with its type, its system of record, its
//! conflict policy and who owns its definition, declared in configuration and validated
//! before anything runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{ContactRules, FieldPolicy, FieldRule, SyncRefusal};
use crate::account::AccountField;
use crate::contact::ContactField;
use crate::opportunity::OpportunityField;
use crate::ticket::TicketField;

/// The entities whose fields the dictionary can govern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernedEntity {
    /// Contacts: every single-valued field keeps the source and source time of its value, so
    /// every policy applies.
    Contact,
    /// Accounts: a field may be given to a system of record (`owner_only`).
    Account,
    /// Deals: a field may be given to a system of record (`owner_only`).
    Opportunity,
    /// Tickets: a field may be given to a system of record (`owner_only`).
    Ticket,
}

impl fmt::Display for GovernedEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Contact => "contact",
            Self::Account => "account",
            Self::Opportunity => "opportunity",
            Self::Ticket => "ticket",
        })
    }
}

/// A field of a record whose values keep no source of their own (an account's, a deal's, a
/// ticket's): the dictionary may give it to a system of record, and then only that system
/// sets it. Last write wins, precedence and review need each value's source and time, which
/// only contacts keep.
pub trait OwnedField: Copy + Serialize + for<'de> Deserialize<'de> {
    /// The entity the field belongs to.
    const ENTITY: GovernedEntity;

    /// The field's type.
    fn field_type(self) -> FieldType;

    /// The field's name in the dictionary (`"amount"`).
    fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => name,
            // The field enums are unit variants in snake case: always a string.
            _ => String::new(),
        }
    }
}

impl OwnedField for AccountField {
    const ENTITY: GovernedEntity = GovernedEntity::Account;

    fn field_type(self) -> FieldType {
        AccountField::field_type(self)
    }
}

impl OwnedField for OpportunityField {
    const ENTITY: GovernedEntity = GovernedEntity::Opportunity;

    fn field_type(self) -> FieldType {
        OpportunityField::field_type(self)
    }
}

impl OwnedField for TicketField {
    const ENTITY: GovernedEntity = GovernedEntity::Ticket;

    fn field_type(self) -> FieldType {
        TicketField::field_type(self)
    }
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
    /// An amount of money in a currency.
    Money,
    /// A stage of a pipeline.
    Stage,
    /// A record's status.
    Status,
    /// A priority.
    Priority,
    /// A whole number.
    Number,
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
            FieldType::Money => "money",
            FieldType::Stage => "stage",
            FieldType::Status => "status",
            FieldType::Priority => "priority",
            FieldType::Number => "number",
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
    #[error(
        "{entity}: not an entity the dictionary governs (contact, account, opportunity, ticket)"
    )]
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
    /// The system of record of each owned field of the other entities, by entity and name.
    owners: BTreeMap<(GovernedEntity, String), String>,
    systems: BTreeSet<String>,
    entries: BTreeMap<(GovernedEntity, String), DictionaryEntry>,
}

impl SyncRules {
    /// The rules of the contact's fields.
    pub fn contact(&self) -> &ContactRules {
        &self.contact
    }

    /// The system of record the dictionary gives `field` to, if any.
    pub fn owner_of<F: OwnedField>(&self, field: F) -> Option<&str> {
        self.owners
            .get(&(F::ENTITY, field.name()))
            .map(String::as_str)
    }

    /// Whether the dictionary gives `system` any field of `entity` (an account, a deal or a
    /// ticket): the system may then send that entity the commands that set its own fields.
    pub fn owns_any(&self, entity: GovernedEntity, system: &str) -> bool {
        self.owners
            .iter()
            .any(|((owned, _), owner)| *owned == entity && owner == system)
    }

    /// What the rules refuse of `source` setting `fields` (of an account, a deal or a ticket,
    /// as the command's `fields()` lists them): every field another system owns, named.
    pub fn refusals_of<F: OwnedField>(&self, fields: &[F], source: &str) -> Vec<SyncRefusal> {
        fields
            .iter()
            .filter_map(|field| {
                let name = field.name();
                let owner = self.owners.get(&(F::ENTITY, name.clone()))?;
                (owner != source).then(|| SyncRefusal::OwnedElsewhere {
                    entity: F::ENTITY,
                    field: name,
                    owner: owner.clone(),
                    source_system: source.to_owned(),
                })
            })
            .collect()
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
                Ok((field, rule)) => {
                    let entity = field.entity();
                    if rules.entries.contains_key(&(entity, entry.field.clone())) {
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
                    match field {
                        Governed::Contact(field) => {
                            rules.contact.insert(field, rule);
                        }
                        Governed::Owned(entity) => {
                            if let Some(owner) = rule.system_of_record {
                                rules.owners.insert((entity, entry.field.clone()), owner);
                            }
                        }
                    }
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
    fn rule(&self) -> Result<(Governed, FieldRule), DictionaryError> {
        let entity = serde_json::from_value::<GovernedEntity>(serde_json::Value::String(
            self.entity.clone(),
        ))
        .map_err(|_| DictionaryError::UnknownEntity {
            entity: self.entity.clone(),
        })?;
        let (field, actual) = match entity {
            GovernedEntity::Contact => self
                .parse::<ContactField>()
                .map(|field| (Governed::Contact(field), field.field_type())),
            GovernedEntity::Account => self.owned::<AccountField>(),
            GovernedEntity::Opportunity => self.owned::<OpportunityField>(),
            GovernedEntity::Ticket => self.owned::<TicketField>(),
        }
        .ok_or_else(|| DictionaryError::UnknownField {
            entity: self.entity.clone(),
            field: self.field.clone(),
        })?;
        if actual != self.kind {
            return Err(DictionaryError::WrongType {
                entity: self.entity.clone(),
                field: self.field.clone(),
                declared: self.kind,
                actual,
            });
        }
        if matches!(field, Governed::Owned(_)) && self.policy != PolicyName::OwnerOnly {
            return Err(self.invalid(format!(
                "{entity} fields take owner_only alone: last_write_wins, source_precedence and \
                 manual_review need each value's source and source time, which only contacts keep"
            )));
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
            field,
            FieldRule {
                policy,
                system_of_record: self.system_of_record.clone(),
                empty_overwrites: self.empty_overwrites,
            },
        ))
    }

    /// The field named by the entry, as a field of `F`.
    fn parse<F: for<'de> Deserialize<'de>>(&self) -> Option<F> {
        serde_json::from_value(serde_json::Value::String(self.field.clone())).ok()
    }

    /// The field named by the entry, as an owned field of `F`'s entity, with its type.
    fn owned<F: OwnedField>(&self) -> Option<(Governed, FieldType)> {
        self.parse::<F>()
            .map(|field| (Governed::Owned(F::ENTITY), field.field_type()))
    }
}

/// A field an entry governs: a contact's, with every policy, or another entity's, owned.
enum Governed {
    Contact(ContactField),
    Owned(GovernedEntity),
}

impl Governed {
    fn entity(&self) -> GovernedEntity {
        match self {
            Governed::Contact(_) => GovernedEntity::Contact,
            Governed::Owned(entity) => *entity,
        }
    }
}
