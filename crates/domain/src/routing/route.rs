//! Routing one lead: territory rule → team → rep, or the team's queue, with every reason.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::decision::{
    AssignmentStrategy, CandidateVerdict, Preference, RoutingDecision, RoutingOutcome, RuleMatch,
    Verdict,
};
use super::error::RoutingError;
use super::roster::Team;
use super::strategy::{RoundRobinState, least_loaded};
use super::territory::{LeadAttributes, Territories};
use crate::ids::{TeamId, UserId};

/// The result of routing a lead: the decision to record, and the round-robin state to persist
/// for the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// What was decided and why.
    pub decision: RoutingDecision,
    /// The round-robin state after this decision (unchanged unless a round-robin team routed).
    pub rotation: RoundRobinState,
}

/// Routes a lead: the first territory rule it matches picks the team (the fallback team when
/// none matches), then the team's strategy picks an eligible rep; with nobody eligible the
/// lead is queued in that team's queue.
///
/// - `previous_assignees` are reps who held this lead before; a reclaimed lead goes to
///   someone else.
/// - `roster` holds every team with its members' availability and load as of `now`.
/// - `rotation` is the round-robin state returned by the previous call.
///
/// The decision lists every member of the team once, in roster order, with their verdict.
/// A member is eligible unless deactivated, previously assigned, out of office at `now`,
/// offline, at capacity, or (round-robin only) of weight zero. Whenever one member is
/// eligible the lead is assigned. Ties are broken deterministically (see
/// [`RoundRobinState`] and [`AssignmentStrategy`]): the same inputs always give the same
/// decision.
///
/// An empty team, a team whose weights are all zero, or a team where everyone is away is a
/// staffing gap, not a configuration error: the lead is queued and the candidates say why,
/// because a queued lead is visible and is routed again once someone is free, whereas an
/// error would leave it with no owner and no queue.
///
/// Errors, checked on every call so that one configuration routes either every lead or none:
/// a rule or the fallback naming a team that is not in the roster
/// ([`RoutingError::UnknownTeam`], [`RoutingError::UnknownFallbackTeam`]), a team listed twice
/// ([`RoutingError::DuplicateTeam`]), a rep listed twice in one team
/// ([`RoutingError::DuplicateMember`]).
pub fn route_lead(
    lead: &LeadAttributes,
    previous_assignees: &[UserId],
    territories: &Territories,
    roster: &[Team],
    rotation: &RoundRobinState,
    now: DateTime<Utc>,
) -> Result<Routed, RoutingError> {
    check_roster(territories, roster)?;
    let (rule, team_id) = match territories.first_match(lead) {
        Some((matched, rule)) => (Some(matched), rule.team),
        None => (None, territories.fallback_team()),
    };
    let Some(team) = roster.iter().find(|team| team.id == team_id) else {
        // check_roster has seen every rule's team and the fallback; this only keeps the
        // function total.
        return Err(match rule {
            Some(matched) => RoutingError::UnknownTeam {
                rule_id: matched.rule_id,
                team: team_id,
            },
            None => RoutingError::UnknownFallbackTeam { team: team_id },
        });
    };

    route_within_team(team, rule, previous_assignees, rotation, now)
}

/// Routes a lead within one team already chosen (by a territory rule, recorded as `rule`, or
/// as the fallback with `rule` `None`): the team's strategy picks an eligible member, or the
/// lead is queued in the team's queue. This is the second half of [`route_lead`], for callers
/// that keep each team's rotation apart (the roster's `Team` aggregate).
///
/// The decision lists every member once, in team order, with their verdict; eligibility and
/// tie-breaks are those of [`route_lead`]. Only `team`'s credits in `rotation` are read or
/// changed.
///
/// Errors: a rep listed twice in the team ([`RoutingError::DuplicateMember`]).
pub fn route_within_team(
    team: &Team,
    rule: Option<RuleMatch>,
    previous_assignees: &[UserId],
    rotation: &RoundRobinState,
    now: DateTime<Utc>,
) -> Result<Routed, RoutingError> {
    route_within_team_preferring(team, rule, previous_assignees, rotation, now, None)
}

/// [`route_within_team`] with a rep tried first: when `preferred` names a member who is
/// eligible, they are chosen (the account's owner gets the account's leads) and the rotation
/// is left as it was, so the preference neither spends nor earns round-robin credit; when
/// they are not a member or not eligible (away, at capacity, held the lead before), the
/// strategy chooses as usual and their verdict in the decision says why. The decision records
/// the preference either way.
pub fn route_within_team_preferring(
    team: &Team,
    rule: Option<RuleMatch>,
    previous_assignees: &[UserId],
    rotation: &RoundRobinState,
    now: DateTime<Utc>,
    preferred: Option<Preference>,
) -> Result<Routed, RoutingError> {
    check_members(team)?;
    let reasons: Vec<_> = team
        .members
        .iter()
        .map(|m| m.skip_reason(team.strategy, previous_assignees, now))
        .collect();
    let eligible: Vec<bool> = reasons.iter().map(Option::is_none).collect();
    let preferred_at = preferred.as_ref().and_then(|preference| {
        team.members
            .iter()
            .position(|member| member.rep == preference.rep)
            .filter(|at| eligible.get(*at).copied().unwrap_or(false))
    });
    let (chosen, rotation) = match (preferred_at, team.strategy) {
        (Some(at), _) => (Some(at), rotation.clone()),
        (None, AssignmentStrategy::WeightedRoundRobin) => {
            rotation.choose(team.id, &team.members, &eligible)
        }
        (None, AssignmentStrategy::LeastLoaded) => {
            (least_loaded(&team.members, &eligible), rotation.clone())
        }
    };

    let candidates = team
        .members
        .iter()
        .zip(reasons)
        .enumerate()
        .map(|(i, (member, reason))| CandidateVerdict {
            rep: member.rep,
            verdict: match reason {
                Some(reason) => Verdict::Skipped { reason },
                None if chosen == Some(i) => Verdict::Chosen,
                None => Verdict::Eligible,
            },
        })
        .collect();
    let outcome = match chosen.and_then(|i| team.members.get(i)) {
        Some(member) => RoutingOutcome::Assigned { rep: member.rep },
        None => RoutingOutcome::Queued { queue: team.id },
    };
    let decision = RoutingDecision {
        rule,
        team: team.id,
        strategy: team.strategy,
        candidates,
        outcome,
        preferred,
    };
    Ok(Routed { decision, rotation })
}

/// Refuses a roster the territories cannot be routed against.
fn check_roster(territories: &Territories, roster: &[Team]) -> Result<(), RoutingError> {
    let mut teams: HashSet<TeamId> = HashSet::with_capacity(roster.len());
    for team in roster {
        if !teams.insert(team.id) {
            return Err(RoutingError::DuplicateTeam { team: team.id });
        }
        check_members(team)?;
    }
    if let Some(rule) = territories
        .rules()
        .iter()
        .find(|rule| !teams.contains(&rule.team))
    {
        return Err(RoutingError::UnknownTeam {
            rule_id: rule.id.clone(),
            team: rule.team,
        });
    }
    if !teams.contains(&territories.fallback_team()) {
        return Err(RoutingError::UnknownFallbackTeam {
            team: territories.fallback_team(),
        });
    }
    Ok(())
}

/// Refuses a team that lists a rep twice, whose load and weight would be ambiguous.
fn check_members(team: &Team) -> Result<(), RoutingError> {
    let mut reps: HashSet<UserId> = HashSet::with_capacity(team.members.len());
    match team.members.iter().find(|m| !reps.insert(m.rep)) {
        Some(member) => Err(RoutingError::DuplicateMember {
            team: team.id,
            rep: member.rep,
        }),
        None => Ok(()),
    }
}
