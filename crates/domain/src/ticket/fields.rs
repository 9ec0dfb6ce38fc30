//! The fields of a ticket the data dictionary can give to a system of record, and which of
//! them a command sets.

use serde::{Deserialize, Serialize};

use super::TicketCommand;
use crate::sync::FieldType;

/// A field of a ticket, as the data dictionary names it (`ticket.<field>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketField {
    /// How urgent it is.
    Priority,
    /// Where it stands, as set on purpose (a status change or a reopening; a reply moves it
    /// as part of the conversation, which no field rule stops).
    Status,
    /// The agent holding it.
    Assignee,
    /// Its escalation level.
    Escalation,
}

impl TicketField {
    /// The field's type.
    pub fn field_type(self) -> FieldType {
        match self {
            Self::Priority => FieldType::Priority,
            Self::Status => FieldType::Status,
            Self::Assignee => FieldType::User,
            Self::Escalation => FieldType::Number,
        }
    }
}

impl TicketCommand {
    /// The fields the command sets, whatever their values were. The values a ticket must open
    /// with (its subject and priority) are not counted — a ticket opens where the CRM opens
    /// it, and a field's system of record owns the changes after; replies and custom fields
    /// set none of them.
    pub fn fields(&self) -> Vec<TicketField> {
        use TicketField as Field;
        match self {
            Self::Assign { .. } => vec![Field::Assignee],
            Self::ChangeStatus { .. } | Self::Reopen { .. } => vec![Field::Status],
            Self::ChangePriority { .. } => vec![Field::Priority],
            Self::Escalate { .. } => vec![Field::Escalation],
            Self::Open { .. }
            | Self::ReplyToCustomer { .. }
            | Self::RecordCustomerReply { .. }
            | Self::SetCustomFields(_) => Vec::new(),
        }
    }
}
