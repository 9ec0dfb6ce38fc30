//! The sales roster as aggregates: reps, teams and the territory map, each with its own
//! stream, so every routing decision can be replayed and explained later.
//!
//! - [`Rep`] (`"rep-<user id>"`): a rep's registration, presence, out-of-office periods,
//!   capacity, weight, skills, notification endpoint and deactivation.
//!   [`Rep::as_team_member`] turns one into the [`TeamMember`](crate::routing::TeamMember)
//!   routing reads.
//! - [`Team`] (`"team-<team id>"`): the ordered members, the strategy, the team lead, and the
//!   routing state of the team: round-robin credits, the queue of waiting leads, and which
//!   rep each lead was offered to. [`TeamCommand::OfferLead`] routes one lead within the team
//!   with [`route_within_team`](crate::routing::route_within_team), recording the
//!   [`RoutingDecision`](crate::routing::RoutingDecision) the lead then records unchanged.
//! - [`TerritoryMap`] (`"territories-<map id>"`, one per tenant): the versioned
//!   [`Territories`](crate::routing::Territories); [`TerritoryMap::assign_team`] says which
//!   team a lead goes to.
//!
//! Routing a lead, as the application wires it: the territory map names the team (and rule);
//! the caller reads that team's members' [`Rep`] states and open work, builds the
//! [`TeamMember`](crate::routing::TeamMember)s in team order, and sends `OfferLead` to the
//! team; the decision in the resulting event goes to the lead (`LeadCommand::Route`).

mod endpoint;
mod rep;
mod team;
mod territory_map;
#[cfg(test)]
mod tests;

pub use endpoint::{EndpointError, MAX_WEBHOOK_URL_LEN, WebhookUrl};
pub use rep::{Deactivation, Rep, RepCommand, RepError, RepEvent};
pub use team::{LeadOffer, QueueExitReason, QueuedLead, Team, TeamCommand, TeamError, TeamEvent};
pub use territory_map::{TerritoryMap, TerritoryMapCommand, TerritoryMapError, TerritoryMapEvent};
