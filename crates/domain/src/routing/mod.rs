//! Lead routing: ordered territory rules choose a team (first match wins), then an assignment
//! strategy chooses an available rep within it, or the lead waits in the team's queue.
//! Every outcome carries the reasons, so an assignment can be explained later.
//!
//! Routing is a pure function, [`route_lead`]: the caller passes the lead's
//! [`LeadAttributes`], the reps who held it before, the validated [`Territories`], the roster
//! of [`Team`]s with each [`TeamMember`]'s availability and load, the [`RoundRobinState`] and
//! `now`; it gets back the [`RoutingDecision`] to record and the round-robin state to persist.
//! No clock, no randomness: ties are broken by roster order, so replaying the same inputs
//! gives the same decision.

mod decision;
mod error;
mod roster;
mod route;
mod strategy;
mod territory;
#[cfg(test)]
mod tests;

pub use decision::{
    AssignmentStrategy, CandidateVerdict, Preference, PreferenceReason, RoutingDecision,
    RoutingOutcome, RuleMatch, SkipReason, Verdict,
};
pub use error::RoutingError;
pub use roster::{OutOfOffice, Presence, Team, TeamMember};
pub use route::{Routed, route_lead, route_within_team, route_within_team_preferring};
pub use strategy::RoundRobinState;
pub(crate) use territory::same_text;
pub use territory::{
    CompanySizeRange, LeadAttributes, Territories, TerritoryConditions, TerritoryRule,
};
