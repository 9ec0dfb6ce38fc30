//! The fields of a deal the data dictionary can give to a system of record, and which of them
//! a command sets.

use serde::{Deserialize, Serialize};

use super::OpportunityCommand;
use crate::sync::FieldType;

/// A field of a deal, as the data dictionary names it (`opportunity.<field>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityField {
    /// What the deal is called.
    Name,
    /// The rep who owns it.
    Owner,
    /// Its value.
    Amount,
    /// When it is expected to close.
    ExpectedClose,
    /// Its stage; winning and losing are stages too.
    Stage,
}

impl OpportunityField {
    /// The field's type.
    pub fn field_type(self) -> FieldType {
        match self {
            Self::Name => FieldType::Text,
            Self::Owner => FieldType::User,
            Self::Amount => FieldType::Money,
            Self::ExpectedClose => FieldType::Date,
            Self::Stage => FieldType::Stage,
        }
    }
}

impl OpportunityCommand {
    /// The fields the command sets, whatever their values were: winning or losing sets the
    /// stage. The values a deal must open with (its name, owner, amount and expected close)
    /// are not counted — a deal opens where the CRM opens it, and a field's system of record
    /// owns the changes after — but a starting stage given on purpose is. Approvals, a
    /// pipeline upgrade and custom fields set none of them.
    pub fn fields(&self) -> Vec<OpportunityField> {
        use OpportunityField as Field;
        match self {
            Self::Open { stage, .. } => stage.iter().map(|_| Field::Stage).collect(),
            Self::ChangeStage { .. } | Self::Win | Self::Lose { .. } => vec![Field::Stage],
            Self::ChangeAmount { .. } => vec![Field::Amount],
            Self::ChangeCloseDate { .. } => vec![Field::ExpectedClose],
            Self::Reassign { .. } => vec![Field::Owner],
            Self::RequestApproval { .. }
            | Self::GrantApproval { .. }
            | Self::RejectApproval { .. }
            | Self::UpgradePipeline { .. }
            | Self::SetCustomFields(_) => Vec::new(),
        }
    }
}
