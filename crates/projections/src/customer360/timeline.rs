//! The activity timeline: one entry per interaction, with no personal data in it (which
//! field changed, not its value; which channel a reply came through, not its text), so the
//! timeline survives an erasure whole.

use chrono::{DateTime, Utc};
use crm_domain::contact::{ConsentChannel, ContactField};
use crm_domain::{Channel, Money, Priority, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened, named after the event that recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// The contact was created.
    ContactCreated,
    /// A field of the contact changed (`field`).
    ContactDetailChanged,
    /// An email address was added.
    ContactEmailAdded,
    /// An email address was removed.
    ContactEmailRemoved,
    /// A phone number was added.
    ContactPhoneAdded,
    /// A phone number was removed.
    ContactPhoneRemoved,
    /// Consent was granted (`consent_channel`).
    ContactConsentGranted,
    /// Consent was withdrawn (`consent_channel`).
    ContactConsentWithdrawn,
    /// The contact absorbed a duplicate (`other`).
    ContactMerged,
    /// The contact was merged into a survivor (`other`).
    ContactMergedInto,
    /// A merge was undone on the survivor (`other`: the contact given back).
    ContactUnmerged,
    /// The contact was released from its survivor (`other`).
    ContactUnmergedFrom,
    /// Another contact was declared a different person (`other`).
    ContactDeclaredNotDuplicate,
    /// A "not a duplicate" declaration was revoked (`other`).
    ContactNotDuplicateRevoked,
    /// The contact's personal data was erased.
    ContactErased,
    /// A lead arrived.
    LeadReceived,
    /// A lead failed validation.
    LeadQuarantined,
    /// A lead was captured.
    LeadCaptured,
    /// A lead was assigned (`user`: the rep).
    LeadAssigned,
    /// A lead was queued (`other`: the team).
    LeadQueued,
    /// A rep made first contact (`user`, `channel`).
    LeadFirstTouch,
    /// A lead was taken back from a rep (`user`).
    LeadReclaimed,
    /// A lead was handed to a team lead (`user`).
    LeadEscalated,
    /// A lead's score changed (`score`).
    LeadScoreChanged,
    /// A lead was qualified.
    LeadQualified,
    /// A lead was disqualified.
    LeadDisqualified,
    /// A lead was converted (`other`: the opportunity, if one was opened).
    LeadConverted,
    /// A lead was merged into another lead (`other`).
    LeadMerged,
    /// Identity resolution found the lead's person among the contacts (`other`: the contact).
    LeadContactMatched,
    /// An opportunity was opened (`amount`).
    OpportunityOpened,
    /// An opportunity changed stage.
    OpportunityStageChanged,
    /// An opportunity's amount changed (`amount`).
    OpportunityAmountChanged,
    /// An opportunity's expected close date changed.
    OpportunityCloseDateChanged,
    /// An opportunity was given to another rep (`user`).
    OpportunityReassigned,
    /// Approval of an amount was requested (`amount`).
    OpportunityApprovalRequested,
    /// An approval was granted (`amount`, `user`: the approver).
    OpportunityApprovalGranted,
    /// An approval was rejected (`amount`, `user`: the approver).
    OpportunityApprovalRejected,
    /// An approval no longer counts.
    OpportunityApprovalInvalidated,
    /// An opportunity was won (`amount`).
    OpportunityWon,
    /// An opportunity was lost.
    OpportunityLost,
    /// An opportunity moved to a newer pipeline version.
    OpportunityPipelineUpgraded,
    /// A ticket was opened (`channel`, `priority`).
    TicketOpened,
    /// A ticket was assigned (`user`).
    TicketAssigned,
    /// The support side replied (`channel`, `user` when a person).
    TicketAgentReplied,
    /// The customer replied (`channel`).
    TicketCustomerReplied,
    /// A ticket's status changed.
    TicketStatusChanged,
    /// A ticket's priority changed (`priority`).
    TicketPriorityChanged,
    /// A ticket was escalated.
    TicketEscalated,
    /// A ticket was reopened.
    TicketReopened,
}

/// One interaction on the timeline. The optional fields are filled where the kind says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it happened (the event's own time).
    pub at: DateTime<Utc>,
    /// The event's global position: orders entries at the same instant and pages the timeline.
    pub position: u64,
    /// What happened.
    pub kind: ActivityKind,
    /// The channel involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The consent channel involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_channel: Option<ConsentChannel>,
    /// The contact field involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<ContactField>,
    /// The user involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
    /// The amount involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// The priority involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// A lead score involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    /// Another record involved (a contact, a lead, a team, an opportunity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<Uuid>,
}

impl TimelineEntry {
    /// An entry of `kind` at `at`, position `position`, with no details yet.
    pub fn new(kind: ActivityKind, at: DateTime<Utc>, position: u64) -> Self {
        Self {
            at,
            position,
            kind,
            channel: None,
            consent_channel: None,
            field: None,
            user: None,
            amount: None,
            priority: None,
            score: None,
            other: None,
        }
    }

    /// Newest first: later instant first, then higher position.
    pub(crate) fn newest_first(
        &self,
    ) -> (std::cmp::Reverse<DateTime<Utc>>, std::cmp::Reverse<u64>) {
        (std::cmp::Reverse(self.at), std::cmp::Reverse(self.position))
    }
}

/// Where a timeline page ends, to ask for the next one: the last entry's instant and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimelineCursor {
    /// The last entry's instant.
    pub at: DateTime<Utc>,
    /// The last entry's position.
    pub position: u64,
}

impl TimelineCursor {
    /// Whether `entry` comes after this cursor in newest-first order.
    pub(crate) fn is_before(&self, entry: &TimelineEntry) -> bool {
        (entry.at, entry.position) < (self.at, self.position)
    }
}
