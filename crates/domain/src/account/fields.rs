//! The fields of an account the data dictionary can give to a system of record, and which of
//! them a command sets.

use serde::{Deserialize, Serialize};

use super::AccountCommand;
use crate::sync::FieldType;

/// A field of an account, as the data dictionary names it (`account.<field>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountField {
    /// The company's name.
    Name,
    /// Its web domains.
    Domains,
    /// Its industry.
    Industry,
    /// Its number of employees.
    Employees,
    /// Its postal addresses (billing, shipping, head office).
    Addresses,
    /// The user who owns the relationship.
    Owner,
    /// Open, closed or archived.
    Status,
}

impl AccountField {
    /// The field's type.
    pub fn field_type(self) -> FieldType {
        match self {
            Self::Name | Self::Industry => FieldType::Text,
            Self::Domains => FieldType::Domain,
            Self::Employees => FieldType::Number,
            Self::Addresses => FieldType::Address,
            Self::Owner => FieldType::User,
            Self::Status => FieldType::Status,
        }
    }
}

impl AccountCommand {
    /// The fields the command sets, whatever their values were. Opening counts the details it
    /// gives beyond the name and owner an account must open with (those are not counted: an
    /// account opens where the CRM opens it, and a field's system of record owns the changes
    /// after; its status is first set by closing, reopening or archiving it); the people of
    /// the account and custom fields are none of them.
    pub fn fields(&self) -> Vec<AccountField> {
        use AccountField as Field;
        match self {
            Self::Open {
                domains,
                industry,
                employees,
                addresses,
                ..
            } => {
                let mut fields = Vec::new();
                let given = [
                    (Field::Domains, !domains.is_empty()),
                    (Field::Industry, industry.is_some()),
                    (Field::Employees, employees.is_some()),
                    (Field::Addresses, !addresses.is_empty()),
                ];
                fields.extend(given.into_iter().filter(|(_, set)| *set).map(|(f, _)| f));
                fields
            }
            Self::Rename { .. } => vec![Field::Name],
            Self::AddDomain { .. } | Self::RemoveDomain { .. } => vec![Field::Domains],
            Self::ChangeIndustry { .. } => vec![Field::Industry],
            Self::ChangeSize { .. } => vec![Field::Employees],
            Self::SetAddress { .. } | Self::ClearAddress { .. } => vec![Field::Addresses],
            Self::ChangeOwner { .. } => vec![Field::Owner],
            Self::Close { .. } | Self::Reopen | Self::Archive => vec![Field::Status],
            Self::AddContact { .. }
            | Self::ChangeContactRole { .. }
            | Self::EndContactRole { .. }
            | Self::SuggestContact { .. }
            | Self::DismissSuggestion { .. }
            | Self::SetCustomFields(_) => Vec::new(),
        }
    }
}
