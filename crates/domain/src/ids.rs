//! Newtype identifiers. A party is known by its id, never by its email.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

entity_id!(
    /// Identifies a lead: an inbound request for contact, before it becomes a customer.
    LeadId
);
entity_id!(
    /// Identifies a contact: a person the company has a relationship with (a stable party id).
    ContactId
);
entity_id!(
    /// Identifies a company (account) a contact or opportunity belongs to.
    CompanyId
);
entity_id!(
    /// Identifies an opportunity: a potential deal with an amount and a stage.
    OpportunityId
);
entity_id!(
    /// Identifies a support ticket.
    TicketId
);
entity_id!(
    /// Identifies a user of the CRM: a sales rep, a support agent, a manager.
    UserId
);
entity_id!(
    /// Identifies a team of users; a team also owns the queue of work waiting for its members.
    TeamId
);
entity_id!(
    /// Identifies a forecast submission: one owner's call for one period (stream
    /// `"forecast-<id>"`). The application chooses it and keeps one per owner and period.
    ForecastId
);
entity_id!(
    /// Identifies an activity: a call, email, meeting or note logged on the records it names
    /// (stream `"activity-<id>"`).
    ActivityId
);
entity_id!(
    /// Identifies a task: a piece of work a user owes, by a due time (stream `"task-<id>"`).
    TaskId
);

/// Identifies an account: a company the CRM has a relationship with (stream
/// `"account-<id>"`). It is the [`CompanyId`] that contacts (their account detail) and
/// opportunities already name, under the name the account aggregate uses, so the three agree
/// without a conversion.
pub type AccountId = CompanyId;

/// A record of the CRM that an activity or a task names: which kind of record, and its id.
///
/// Stored as `{"kind": "lead", "id": "<uuid>"}`; shown (`Display`) as the record's stream
/// name, `lead-<uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RecordRef {
    /// A lead.
    Lead(LeadId),
    /// A contact.
    Contact(ContactId),
    /// An account.
    Account(AccountId),
    /// An opportunity (a deal).
    Opportunity(OpportunityId),
    /// A support ticket.
    Ticket(TicketId),
}

impl RecordRef {
    /// The stream category of the record named, e.g. `"lead"`.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordRef::Lead(_) => "lead",
            RecordRef::Contact(_) => "contact",
            RecordRef::Account(_) => "account",
            RecordRef::Opportunity(_) => "opportunity",
            RecordRef::Ticket(_) => "ticket",
        }
    }

    /// The id of the record named.
    pub fn as_uuid(&self) -> Uuid {
        match self {
            RecordRef::Lead(id) => id.0,
            RecordRef::Contact(id) => id.0,
            RecordRef::Account(id) => id.0,
            RecordRef::Opportunity(id) => id.0,
            RecordRef::Ticket(id) => id.0,
        }
    }

    /// The lead named, if this names a lead.
    pub fn lead(&self) -> Option<LeadId> {
        match self {
            RecordRef::Lead(id) => Some(*id),
            _ => None,
        }
    }

    /// The contact named, if this names a contact.
    pub fn contact(&self) -> Option<ContactId> {
        match self {
            RecordRef::Contact(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.kind(), self.as_uuid())
    }
}
