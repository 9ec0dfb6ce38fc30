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
