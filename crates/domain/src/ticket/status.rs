//! Where a ticket stands, and who it is waiting on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status of a ticket: one of exactly six.
///
/// `New` until someone works on it; `Open` while the support side owes the next step;
/// `Pending` while waiting on the customer; `OnHold` while waiting on a third party;
/// `Solved` when the support side considers it done (the customer may still reopen it);
/// `Closed` for good (final: nothing changes a closed ticket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Nobody has worked on it yet.
    New,
    /// The support side owes the next step.
    Open,
    /// Waiting on the customer.
    Pending,
    /// Waiting on a third party (a vendor, another department).
    OnHold,
    /// Considered done; a customer reply or an explicit reopen brings it back.
    Solved,
    /// Done for good; final.
    Closed,
}

impl TicketStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TicketStatus; 6] = [
        TicketStatus::New,
        TicketStatus::Open,
        TicketStatus::Pending,
        TicketStatus::OnHold,
        TicketStatus::Solved,
        TicketStatus::Closed,
    ];

    /// Whether nothing can change the ticket any more (only `Closed`).
    pub fn is_final(self) -> bool {
        self == TicketStatus::Closed
    }

    /// The status in the CRM's words, as agents see it ("on hold").
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::New => "new",
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::OnHold => "on hold",
            TicketStatus::Solved => "solved",
            TicketStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a ticket's status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusChangeCause {
    /// Someone asked for this status (a `ChangeStatus` command).
    Requested,
    /// A new ticket became open because a person assigned it or replied to the customer.
    FirstAgentAction,
    /// A pending or on-hold ticket became open because the customer replied.
    CustomerReplied,
}
