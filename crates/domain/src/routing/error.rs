//! Why routing refused to decide.

use thiserror::Error;

use crate::ids::{TeamId, UserId};

/// A routing configuration that cannot be acted on.
///
/// Only incoherent configuration is an error: rules that cannot be told apart or never match,
/// a rule or fallback naming a team the roster does not have, a roster listing a team or rep
/// twice. No place for the lead can be derived from such a configuration without guessing,
/// and the fix is an administrator's. A staffing gap — an empty team, everyone at weight zero,
/// everyone away — is not an error: the team exists, so the lead waits in its queue and the
/// decision says why (see [`route_lead`](super::route_lead)).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoutingError {
    /// A rule has an empty id, so a decision could not name it.
    #[error("the territory rule at position {position} has a blank id")]
    BlankRuleId {
        /// The rule's position in the list (0 = first).
        position: usize,
    },
    /// Two rules share an id, so a decision could not tell which one matched.
    #[error("two territory rules have the id {rule_id:?}")]
    DuplicateRule {
        /// The repeated id.
        rule_id: String,
    },
    /// A rule lists a blank value for a condition.
    #[error("territory rule {rule_id:?} has a blank value in {condition}")]
    BlankCondition {
        /// The rule's id.
        rule_id: String,
        /// The condition's field name (`regions`, `postcode_prefixes`, `industries`).
        condition: &'static str,
    },
    /// A rule's company size range holds no size (`min > max`), so it can never match.
    #[error("territory rule {rule_id:?} has an empty company size range {min}..={max}")]
    EmptyCompanySizeRange {
        /// The rule's id.
        rule_id: String,
        /// The range's lower end.
        min: u32,
        /// The range's upper end.
        max: u32,
    },
    /// A rule sends leads to a team the roster does not have.
    #[error("territory rule {rule_id:?} points at team {team}, which is not in the roster")]
    UnknownTeam {
        /// The rule's id.
        rule_id: String,
        /// The missing team.
        team: TeamId,
    },
    /// The fallback team is not in the roster.
    #[error("the fallback team {team} is not in the roster")]
    UnknownFallbackTeam {
        /// The missing team.
        team: TeamId,
    },
    /// The roster lists a team twice.
    #[error("team {team} appears twice in the roster")]
    DuplicateTeam {
        /// The repeated team.
        team: TeamId,
    },
    /// A team lists a rep twice, so the rep's load and weight are ambiguous.
    #[error("rep {rep} appears twice in team {team}")]
    DuplicateMember {
        /// The team.
        team: TeamId,
        /// The repeated rep.
        rep: UserId,
    },
}
