//! Escalation: handing a ticket up a level, to a team or a person, with a reason.

use std::num::NonZeroU8;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{TeamId, UserId};

/// Who an escalated ticket goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EscalationTarget {
    /// A team (its queue), e.g. second-line support.
    Team {
        /// The team.
        team: TeamId,
    },
    /// A person, e.g. a team lead.
    User {
        /// The user.
        user: UserId,
    },
}

/// A ticket's current escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// The level, 1 for the first; levels only go up.
    pub level: NonZeroU8,
    /// Who it went to.
    pub to: EscalationTarget,
    /// Since when.
    pub since: DateTime<Utc>,
}
