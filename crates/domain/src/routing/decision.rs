//! The recorded outcome of routing: who was chosen, by which rule and strategy, and why
//! every other candidate was not.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, TeamId, UserId};

/// The territory rule that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    /// The rule's stable id.
    pub rule_id: String,
    /// The rule's position in the ordered list (0 = first).
    pub position: u32,
}

/// How a rep is chosen within a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStrategy {
    /// Round-robin in proportion to each rep's weight (smooth weighted round-robin, see
    /// [`RoundRobinState`](super::RoundRobinState)); on equal credit the rep listed first in
    /// the team wins.
    WeightedRoundRobin,
    /// The rep with the fewest open items relative to capacity; on an equal share the rep
    /// with the most free slots, then the rep listed first in the team. Weights are ignored.
    LeastLoaded,
}

/// Why a candidate rep was passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// The rep is offline.
    Offline,
    /// The rep is out of office.
    OutOfOffice {
        /// Until when, if known.
        until: Option<DateTime<Utc>>,
    },
    /// The rep already holds as much open work as their capacity allows.
    AtCapacity {
        /// Open items now.
        open: u32,
        /// The rep's capacity.
        capacity: u32,
    },
    /// The rep's account is deactivated.
    Deactivated,
    /// The rep had this item before (a reclaimed lead goes to someone else).
    PreviouslyAssigned,
    /// The rep's round-robin weight is zero: in the team, but out of the rotation.
    ZeroWeight,
}

/// What routing concluded about one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// This candidate was chosen.
    Chosen,
    /// Eligible, but the strategy chose someone else.
    Eligible,
    /// Not eligible.
    Skipped {
        /// Why.
        #[serde(flatten)]
        reason: SkipReason,
    },
}

/// One candidate and the verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateVerdict {
    /// The candidate rep.
    pub rep: UserId,
    /// The verdict.
    pub verdict: Verdict,
}

/// Where the work went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RoutingOutcome {
    /// Assigned to a rep.
    Assigned {
        /// The rep.
        rep: UserId,
    },
    /// Nobody was available: the item waits in a queue until someone is.
    Queued {
        /// The team whose queue holds it (a team matched by a rule, or the fallback team).
        queue: TeamId,
    },
}

/// A rep routing offers the work to first, when they are eligible in the team, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preference {
    /// The rep.
    pub rep: UserId,
    /// Why they come first.
    pub reason: PreferenceReason,
}

/// Why a rep is preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreferenceReason {
    /// They own the account the lead's person works for (identity resolution linked the lead
    /// to it).
    AccountOwner {
        /// The account.
        account: AccountId,
    },
}

/// The full explanation of one routing decision, recorded in the assignment event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// The territory rule that matched, or `None` when the fallback applied.
    pub rule: Option<RuleMatch>,
    /// The team chosen by the rule (or the fallback team).
    pub team: TeamId,
    /// The strategy used within the team.
    pub strategy: AssignmentStrategy,
    /// Every candidate considered, in the order considered.
    pub candidates: Vec<CandidateVerdict>,
    /// Where the work went.
    pub outcome: RoutingOutcome,
    /// The rep routing tried first, if any: chosen when eligible (the outcome names them),
    /// else the strategy chose as usual and their verdict says why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred: Option<Preference>,
}

impl RoutingDecision {
    /// The chosen rep, if any.
    pub fn assignee(&self) -> Option<UserId> {
        match self.outcome {
            RoutingOutcome::Assigned { rep } => Some(rep),
            RoutingOutcome::Queued { .. } => None,
        }
    }
}
