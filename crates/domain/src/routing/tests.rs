//! Routing as a caller sees it: territories, roster and rotation in, a decision out.

use chrono::Duration;
use proptest::prelude::*;
use uuid::Uuid;

use super::roster::generators::{arb_team, rep, roster_now};
use super::strategy::generators::arb_round_robin_state;
use super::territory::generators::{arb_conditions, arb_lead_attributes};
use super::*;
use crate::identity::CountryCode;
use crate::ids::{TeamId, UserId};
use crate::testing::{ALICE, BOB, CAROL, t0};

const DACH: TeamId = TeamId(Uuid::from_u128(0xdac4));
const US: TeamId = TeamId(Uuid::from_u128(0x05));
const INBOUND: TeamId = TeamId(Uuid::from_u128(0x1b0));

fn rep_at(rep: UserId) -> TeamMember {
    TeamMember {
        rep,
        active: true,
        presence: Presence::Online,
        out_of_office: None,
        weight: 1,
        capacity: 20,
        open_items: 0,
    }
}

fn team(id: TeamId, strategy: AssignmentStrategy, members: Vec<TeamMember>) -> Team {
    Team {
        id,
        strategy,
        members,
    }
}

fn country(code: &str) -> CountryCode {
    CountryCode::new(code).unwrap()
}

fn territories() -> Territories {
    Territories::new(
        vec![
            TerritoryRule {
                id: "dach-enterprise".into(),
                conditions: TerritoryConditions {
                    countries: vec![country("DE"), country("AT"), country("CH")],
                    company_size: Some(CompanySizeRange {
                        min: 1000,
                        max: None,
                    }),
                    ..Default::default()
                },
                team: DACH,
            },
            TerritoryRule {
                id: "dach".into(),
                conditions: TerritoryConditions {
                    countries: vec![country("DE"), country("AT"), country("CH")],
                    ..Default::default()
                },
                team: DACH,
            },
            TerritoryRule {
                id: "us".into(),
                conditions: TerritoryConditions {
                    countries: vec![country("US")],
                    ..Default::default()
                },
                team: US,
            },
        ],
        INBOUND,
    )
    .unwrap()
}

fn roster(dach: Vec<TeamMember>) -> Vec<Team> {
    vec![
        team(DACH, AssignmentStrategy::WeightedRoundRobin, dach),
        team(US, AssignmentStrategy::LeastLoaded, vec![rep_at(CAROL)]),
        team(
            INBOUND,
            AssignmentStrategy::LeastLoaded,
            vec![rep_at(CAROL)],
        ),
    ]
}

fn lead_from(code: &str) -> LeadAttributes {
    LeadAttributes {
        country: Some(country(code)),
        company_size: Some(40),
        ..Default::default()
    }
}

fn route(
    lead: &LeadAttributes,
    previous: &[UserId],
    roster: &[Team],
) -> Result<Routed, RoutingError> {
    route_lead(
        lead,
        previous,
        &territories(),
        roster,
        &RoundRobinState::new(),
        t0(),
    )
}

fn verdicts(decision: &RoutingDecision) -> Vec<(UserId, Verdict)> {
    decision
        .candidates
        .iter()
        .map(|c| (c.rep, c.verdict.clone()))
        .collect()
}

#[test]
fn the_first_matching_rule_picks_the_team_and_is_recorded() {
    let routed = route(&lead_from("DE"), &[], &roster(vec![rep_at(ALICE)])).unwrap();
    assert_eq!(
        routed.decision,
        RoutingDecision {
            rule: Some(RuleMatch {
                rule_id: "dach".into(),
                position: 1
            }),
            team: DACH,
            strategy: AssignmentStrategy::WeightedRoundRobin,
            candidates: vec![CandidateVerdict {
                rep: ALICE,
                verdict: Verdict::Chosen
            }],
            outcome: RoutingOutcome::Assigned { rep: ALICE },
            preferred: None,
        }
    );
    assert_eq!(routed.decision.assignee(), Some(ALICE));
}

#[test]
fn a_lead_no_rule_matches_goes_to_the_fallback_team() {
    let routed = route(&lead_from("FR"), &[], &roster(vec![rep_at(ALICE)])).unwrap();
    assert_eq!(routed.decision.rule, None);
    assert_eq!(routed.decision.team, INBOUND);
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Assigned { rep: CAROL }
    );
}

#[test]
fn every_member_gets_a_verdict_with_the_reason_they_were_passed_over() {
    let members = vec![
        TeamMember {
            active: false,
            ..rep_at(UserId(Uuid::from_u128(1)))
        },
        TeamMember {
            presence: Presence::Offline,
            ..rep_at(UserId(Uuid::from_u128(2)))
        },
        TeamMember {
            out_of_office: Some(OutOfOffice {
                until: Some(t0() + Duration::days(3)),
            }),
            ..rep_at(UserId(Uuid::from_u128(3)))
        },
        TeamMember {
            open_items: 20,
            ..rep_at(UserId(Uuid::from_u128(4)))
        },
        TeamMember {
            weight: 0,
            ..rep_at(UserId(Uuid::from_u128(5)))
        },
        rep_at(BOB),
        rep_at(ALICE),
        rep_at(CAROL),
    ];
    let routed = route(&lead_from("AT"), &[BOB], &roster(members)).unwrap();
    let skipped = |reason| Verdict::Skipped { reason };
    assert_eq!(
        verdicts(&routed.decision),
        [
            (UserId(Uuid::from_u128(1)), skipped(SkipReason::Deactivated)),
            (UserId(Uuid::from_u128(2)), skipped(SkipReason::Offline)),
            (
                UserId(Uuid::from_u128(3)),
                skipped(SkipReason::OutOfOffice {
                    until: Some(t0() + Duration::days(3))
                })
            ),
            (
                UserId(Uuid::from_u128(4)),
                skipped(SkipReason::AtCapacity {
                    open: 20,
                    capacity: 20
                })
            ),
            (UserId(Uuid::from_u128(5)), skipped(SkipReason::ZeroWeight)),
            (BOB, skipped(SkipReason::PreviouslyAssigned)),
            (ALICE, Verdict::Chosen),
            (CAROL, Verdict::Eligible),
        ]
    );
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Assigned { rep: ALICE }
    );
}

#[test]
fn a_rep_whose_time_off_has_ended_is_eligible_again() {
    let back = TeamMember {
        out_of_office: Some(OutOfOffice { until: Some(t0()) }),
        ..rep_at(ALICE)
    };
    let routed = route(&lead_from("DE"), &[], &roster(vec![back])).unwrap();
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Assigned { rep: ALICE }
    );
}

#[test]
fn with_nobody_available_the_lead_waits_in_the_teams_queue() {
    let members = vec![
        TeamMember {
            presence: Presence::Offline,
            ..rep_at(ALICE)
        },
        TeamMember {
            open_items: 25,
            ..rep_at(BOB)
        },
    ];
    let routed = route(&lead_from("DE"), &[], &roster(members)).unwrap();
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Queued { queue: DACH }
    );
    assert_eq!(routed.decision.assignee(), None);
    assert!(
        routed
            .decision
            .candidates
            .iter()
            .all(|c| matches!(c.verdict, Verdict::Skipped { .. }))
    );
}

#[test]
fn with_nobody_available_in_the_fallback_team_the_lead_waits_in_its_queue() {
    let mut roster = roster(vec![rep_at(ALICE)]);
    roster[2].members[0].presence = Presence::Offline;
    let routed = route(&lead_from("FR"), &[], &roster).unwrap();
    assert_eq!(routed.decision.rule, None);
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Queued { queue: INBOUND }
    );
}

#[test]
fn a_reclaimed_lead_goes_to_a_rep_who_has_not_held_it() {
    let routed = route(
        &lead_from("DE"),
        &[ALICE],
        &roster(vec![rep_at(ALICE), rep_at(BOB)]),
    )
    .unwrap();
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Assigned { rep: BOB }
    );
    let routed = route(
        &lead_from("DE"),
        &[ALICE, BOB],
        &roster(vec![rep_at(ALICE), rep_at(BOB)]),
    )
    .unwrap();
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Queued { queue: DACH },
        "everyone held it already"
    );
}

#[test]
fn an_empty_team_queues_the_lead_with_no_candidates() {
    let routed = route(&lead_from("DE"), &[], &roster(vec![])).unwrap();
    assert_eq!(routed.decision.candidates, []);
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Queued { queue: DACH }
    );
}

#[test]
fn a_round_robin_team_with_every_weight_zero_queues_the_lead_and_says_why() {
    let members = vec![
        TeamMember {
            weight: 0,
            ..rep_at(ALICE)
        },
        TeamMember {
            weight: 0,
            ..rep_at(BOB)
        },
    ];
    let routed = route(&lead_from("DE"), &[], &roster(members)).unwrap();
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Queued { queue: DACH }
    );
    assert!(routed.decision.candidates.iter().all(|c| c.verdict
        == Verdict::Skipped {
            reason: SkipReason::ZeroWeight
        }));
}

#[test]
fn weighted_round_robin_through_routing_is_fair_over_a_cycle() {
    let members = vec![
        TeamMember {
            weight: 3,
            ..rep_at(ALICE)
        },
        rep_at(BOB),
        TeamMember {
            weight: 2,
            ..rep_at(CAROL)
        },
    ];
    let roster = roster(members);
    let mut rotation = RoundRobinState::new();
    let mut picks = Vec::new();
    for _ in 0..12 {
        let routed = route_lead(
            &lead_from("DE"),
            &[],
            &territories(),
            &roster,
            &rotation,
            t0(),
        )
        .unwrap();
        picks.push(routed.decision.assignee().unwrap());
        rotation = routed.rotation;
    }
    let count = |rep| picks.iter().filter(|&&p| p == rep).count();
    assert_eq!((count(ALICE), count(BOB), count(CAROL)), (6, 2, 4));
    for rep in [ALICE, BOB, CAROL] {
        assert_eq!(
            rotation.credit(DACH, rep),
            0,
            "whole cycles leave the rotation where it began"
        );
    }
}

#[test]
fn least_loaded_routing_picks_the_rep_with_the_lowest_share_and_leaves_the_rotation_alone() {
    let us = vec![
        TeamMember {
            open_items: 5,
            capacity: 10,
            ..rep_at(ALICE)
        },
        TeamMember {
            open_items: 2,
            capacity: 10,
            ..rep_at(BOB)
        },
        TeamMember {
            open_items: 2,
            capacity: 10,
            ..rep_at(CAROL)
        },
    ];
    let mut roster = roster(vec![rep_at(ALICE)]);
    roster[1].members = us;
    let rotation = route_lead(
        &lead_from("DE"),
        &[],
        &territories(),
        &roster,
        &RoundRobinState::new(),
        t0(),
    )
    .unwrap()
    .rotation;
    let routed = route_lead(
        &lead_from("US"),
        &[],
        &territories(),
        &roster,
        &rotation,
        t0(),
    )
    .unwrap();
    assert_eq!(routed.decision.strategy, AssignmentStrategy::LeastLoaded);
    assert_eq!(
        routed.decision.outcome,
        RoutingOutcome::Assigned { rep: BOB },
        "Bob and Carol tie; Bob is listed first"
    );
    assert_eq!(routed.rotation, rotation);
}

#[test]
fn a_rule_pointing_at_a_team_not_in_the_roster_is_refused() {
    let mut roster = roster(vec![rep_at(ALICE)]);
    roster.retain(|t| t.id != US);
    assert_eq!(
        route(&lead_from("DE"), &[], &roster),
        Err(RoutingError::UnknownTeam {
            rule_id: "us".into(),
            team: US
        })
    );
}

#[test]
fn a_fallback_team_not_in_the_roster_is_refused() {
    let mut roster = roster(vec![rep_at(ALICE)]);
    roster.retain(|t| t.id != INBOUND);
    assert_eq!(
        route(&lead_from("DE"), &[], &roster),
        Err(RoutingError::UnknownFallbackTeam { team: INBOUND })
    );
}

#[test]
fn a_roster_listing_a_team_or_a_rep_twice_is_refused() {
    let mut twice = roster(vec![rep_at(ALICE)]);
    twice.push(team(US, AssignmentStrategy::LeastLoaded, vec![]));
    assert_eq!(
        route(&lead_from("DE"), &[], &twice),
        Err(RoutingError::DuplicateTeam { team: US })
    );
    let same_rep = roster(vec![rep_at(ALICE), rep_at(BOB), rep_at(ALICE)]);
    assert_eq!(
        route(&lead_from("DE"), &[], &same_rep),
        Err(RoutingError::DuplicateMember {
            team: DACH,
            rep: ALICE
        })
    );
}

#[test]
fn a_decision_round_trips_through_json_with_its_reasons() {
    let members = vec![
        TeamMember {
            weight: 0,
            ..rep_at(ALICE)
        },
        TeamMember {
            open_items: 20,
            ..rep_at(BOB)
        },
    ];
    let decision = route(&lead_from("DE"), &[], &roster(members))
        .unwrap()
        .decision;
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(
        json["candidates"][0]["verdict"],
        serde_json::json!({"verdict": "skipped", "reason": "zero_weight"})
    );
    assert_eq!(json["candidates"][1]["verdict"]["reason"], "at_capacity");
    assert_eq!(json["outcome"]["outcome"], "queued");
    assert_eq!(
        serde_json::from_value::<RoutingDecision>(json).unwrap(),
        decision
    );
}

fn owner_of_acme(rep: UserId) -> Preference {
    Preference {
        rep,
        reason: PreferenceReason::AccountOwner {
            account: crate::AccountId::from_uuid(Uuid::from_u128(0xac3e)),
        },
    }
}

#[test]
fn the_account_owner_gets_the_lead_when_eligible_and_the_rotation_is_left_alone() {
    let team = team(
        DACH,
        AssignmentStrategy::WeightedRoundRobin,
        vec![rep_at(ALICE), rep_at(BOB), rep_at(CAROL)],
    );
    let rotation = RoundRobinState::new();
    let plain = route_within_team(&team, None, &[], &rotation, t0()).unwrap();
    assert_eq!(
        plain.decision.assignee(),
        Some(ALICE),
        "the rotation starts with Alice"
    );

    let preferred = route_within_team_preferring(
        &team,
        None,
        &[],
        &rotation,
        t0(),
        Some(owner_of_acme(CAROL)),
    )
    .unwrap();
    assert_eq!(preferred.decision.assignee(), Some(CAROL));
    assert_eq!(preferred.decision.preferred, Some(owner_of_acme(CAROL)));
    assert_eq!(preferred.rotation, rotation, "no credit spent or earned");
    let chosen: Vec<_> = verdicts(&preferred.decision)
        .into_iter()
        .filter(|(_, verdict)| *verdict == Verdict::Chosen)
        .collect();
    assert_eq!(chosen, [(CAROL, Verdict::Chosen)]);
    let json = serde_json::to_value(&preferred.decision).unwrap();
    assert_eq!(json["preferred"]["reason"]["kind"], "account_owner");
    assert_eq!(
        serde_json::from_value::<RoutingDecision>(json).unwrap(),
        preferred.decision
    );
}

#[test]
fn an_owner_who_cannot_take_it_leaves_the_lead_to_the_strategy_and_the_decision_says_why() {
    let team = team(
        DACH,
        AssignmentStrategy::LeastLoaded,
        vec![
            rep_at(ALICE),
            TeamMember {
                presence: Presence::Offline,
                ..rep_at(BOB)
            },
        ],
    );
    let rotation = RoundRobinState::new();
    let offline =
        route_within_team_preferring(&team, None, &[], &rotation, t0(), Some(owner_of_acme(BOB)))
            .unwrap();
    assert_eq!(offline.decision.assignee(), Some(ALICE));
    assert_eq!(offline.decision.preferred, Some(owner_of_acme(BOB)));
    assert!(verdicts(&offline.decision).contains(&(
        BOB,
        Verdict::Skipped {
            reason: SkipReason::Offline
        }
    )));
    // Not in the team at all, or the rep who held the lead before: the strategy again.
    for (preferred, previous) in [(CAROL, vec![]), (ALICE, vec![ALICE])] {
        let routed = route_within_team_preferring(
            &team,
            None,
            &previous,
            &rotation,
            t0(),
            Some(owner_of_acme(preferred)),
        )
        .unwrap();
        assert_ne!(routed.decision.assignee(), Some(CAROL));
        assert!(!previous.contains(&routed.decision.assignee().unwrap_or(CAROL)));
    }
}

#[test]
fn a_decision_recorded_before_preferences_reads_back_without_one() {
    let decision = route(&lead_from("DE"), &[], &roster(vec![rep_at(ALICE)]))
        .unwrap()
        .decision;
    let mut json = serde_json::to_value(&decision).unwrap();
    assert!(
        json.get("preferred").is_none(),
        "nothing written without one"
    );
    json.as_object_mut().unwrap().remove("preferred");
    assert_eq!(
        serde_json::from_value::<RoutingDecision>(json).unwrap(),
        decision
    );
}

#[test]
fn the_rotation_round_trips_through_json() {
    let roster = roster(vec![
        TeamMember {
            weight: 2,
            ..rep_at(ALICE)
        },
        rep_at(BOB),
    ]);
    let rotation = route_lead(
        &lead_from("DE"),
        &[],
        &territories(),
        &roster,
        &RoundRobinState::new(),
        t0(),
    )
    .unwrap()
    .rotation;
    let json = serde_json::to_string(&rotation).unwrap();
    assert_eq!(
        serde_json::from_str::<RoundRobinState>(&json).unwrap(),
        rotation
    );
}

/// Whether a member can take the lead, restated from the rules rather than from the code.
fn independently_eligible(
    member: &TeamMember,
    strategy: AssignmentStrategy,
    previous: &[UserId],
) -> bool {
    let away = member
        .out_of_office
        .is_some_and(|o| o.until.is_none_or(|until| roster_now() < until));
    member.active
        && !previous.contains(&member.rep)
        && !away
        && member.presence == Presence::Online
        && member.open_items < member.capacity
        && (strategy == AssignmentStrategy::LeastLoaded || member.weight > 0)
}

const TEAMS: [TeamId; 3] = [DACH, US, INBOUND];

/// Territories over the three teams (fallback `INBOUND`), a roster of them, a lead, prior
/// assignees and a rotation state.
fn arb_routing_case() -> impl Strategy<
    Value = (
        Territories,
        Vec<Team>,
        LeadAttributes,
        Vec<UserId>,
        RoundRobinState,
    ),
> {
    let rules = prop::collection::vec(
        (arb_conditions(), prop::sample::select(TEAMS.to_vec())),
        0..5,
    )
    .prop_map(|rules| {
        let rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, (conditions, team))| TerritoryRule {
                id: format!("rule-{i}"),
                conditions,
                team,
            })
            .collect();
        Territories::new(rules, INBOUND).expect("generated rules are valid")
    });
    let roster = (arb_team(DACH, 8), arb_team(US, 8), arb_team(INBOUND, 8))
        .prop_map(|(a, b, c)| vec![a, b, c]);
    let previous = prop::collection::vec((0u8..12).prop_map(rep), 0..3);
    let rotation = arb_round_robin_state(TEAMS.to_vec(), (0u8..12).map(rep).collect());
    (rules, roster, arb_lead_attributes(), previous, rotation)
}

proptest! {
    #[test]
    fn routing_only_ever_assigns_an_eligible_rep_and_always_assigns_when_one_exists(
        (territories, roster, lead, previous, rotation) in arb_routing_case()
    ) {
        let routed = route_lead(&lead, &previous, &territories, &roster, &rotation, roster_now()).unwrap();
        let decision = &routed.decision;
        let expected_team = territories.rules().iter().find(|r| r.conditions.matches(&lead)).map_or(INBOUND, |r| r.team);
        prop_assert_eq!(decision.team, expected_team);
        let team = roster.iter().find(|t| t.id == decision.team).unwrap();
        let anyone_eligible = team.members.iter().any(|m| independently_eligible(m, team.strategy, &previous));
        match decision.outcome {
            RoutingOutcome::Assigned { rep } => {
                let member = team.members.iter().find(|m| m.rep == rep).unwrap();
                prop_assert!(independently_eligible(member, team.strategy, &previous), "assigned an ineligible rep: {:?}", member);
            }
            RoutingOutcome::Queued { queue } => {
                prop_assert!(!anyone_eligible, "queued although someone was eligible");
                prop_assert_eq!(queue, team.id);
            }
        }
        let again = route_lead(&lead, &previous, &territories, &roster, &rotation, roster_now()).unwrap();
        prop_assert_eq!(&again, &routed, "routing is deterministic");
    }

    #[test]
    fn a_preferred_rep_is_chosen_exactly_when_eligible_and_only_an_eligible_rep_ever_is(
        team in arb_team(DACH, 6),
        previous in proptest::collection::vec((0u8..12).prop_map(rep), 0..3),
        rotation in arb_round_robin_state(vec![DACH], (0u8..12).map(rep).collect()),
        pick in any::<prop::sample::Index>(),
    ) {
        let Some(member) = (!team.members.is_empty()).then(|| pick.get(&team.members)) else {
            return Ok(());
        };
        let preferred = owner_of_acme(member.rep);
        let routed = route_within_team_preferring(&team, None, &previous, &rotation, roster_now(), Some(preferred.clone()));
        let Ok(routed) = routed else {
            return Ok(()); // a team listing a rep twice is refused, preference or not
        };
        let eligible = independently_eligible(member, team.strategy, &previous);
        // Chosen exactly when eligible: the strategy never picks an ineligible rep either.
        prop_assert_eq!(routed.decision.assignee() == Some(member.rep), eligible);
        if eligible {
            prop_assert_eq!(&routed.rotation, &rotation);
        }
        if let Some(rep) = routed.decision.assignee() {
            let chosen = team.members.iter().find(|m| m.rep == rep).unwrap();
            prop_assert!(independently_eligible(chosen, team.strategy, &previous));
        }
        prop_assert_eq!(routed.decision.preferred, Some(preferred));
    }

    #[test]
    fn the_decision_lists_every_team_member_once_in_roster_order_with_a_consistent_verdict(
        (territories, roster, lead, previous, rotation) in arb_routing_case()
    ) {
        let decision = route_lead(&lead, &previous, &territories, &roster, &rotation, roster_now()).unwrap().decision;
        let team = roster.iter().find(|t| t.id == decision.team).unwrap();
        let listed: Vec<UserId> = decision.candidates.iter().map(|c| c.rep).collect();
        let members: Vec<UserId> = team.members.iter().map(|m| m.rep).collect();
        prop_assert_eq!(listed, members);
        let chosen: Vec<UserId> =
            decision.candidates.iter().filter(|c| c.verdict == Verdict::Chosen).map(|c| c.rep).collect();
        prop_assert_eq!(chosen.first().copied(), decision.assignee());
        prop_assert!(chosen.len() <= 1);
        for (candidate, member) in decision.candidates.iter().zip(&team.members) {
            let skipped = matches!(candidate.verdict, Verdict::Skipped { .. });
            prop_assert_eq!(skipped, !independently_eligible(member, team.strategy, &previous));
        }
    }

    #[test]
    fn routing_within_the_matched_team_decides_exactly_as_routing_the_lead(
        (territories, roster, lead, previous, rotation) in arb_routing_case()
    ) {
        let routed = route_lead(&lead, &previous, &territories, &roster, &rotation, roster_now()).unwrap();
        let team = roster.iter().find(|t| t.id == routed.decision.team).unwrap();
        let within = route_within_team(team, routed.decision.rule.clone(), &previous, &rotation, roster_now()).unwrap();
        prop_assert_eq!(within, routed);
    }

    #[test]
    fn routing_keeps_round_robin_credits_bounded(
        (territories, roster, lead, previous, rotation) in arb_routing_case()
    ) {
        let routed = route_lead(&lead, &previous, &territories, &roster, &rotation, roster_now()).unwrap();
        let team = roster.iter().find(|t| t.id == routed.decision.team).unwrap();
        if team.strategy == AssignmentStrategy::WeightedRoundRobin {
            let bound = team.members.iter().map(|m| i128::from(m.weight)).sum::<i128>() * team.members.len() as i128;
            for member in &team.members {
                prop_assert!(i128::from(routed.rotation.credit(team.id, member.rep)).abs() <= bound);
            }
        }
    }

    #[test]
    fn weighted_round_robin_gives_each_rep_exactly_n_times_their_weight(
        weights in prop::collection::vec(1u32..6, 1..6),
        cycles in 1u32..4,
    ) {
        let members: Vec<TeamMember> = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| TeamMember { weight, capacity: u32::MAX, ..rep_at(rep(u8::try_from(i).unwrap())) })
            .collect();
        let roster = roster(members.clone());
        let total: u32 = weights.iter().sum();
        let mut rotation = RoundRobinState::new();
        let mut counts = vec![0u32; members.len()];
        for _ in 0..cycles * total {
            let routed = route_lead(&lead_from("DE"), &[], &territories(), &roster, &rotation, t0()).unwrap();
            let chosen = routed.decision.assignee().unwrap();
            counts[members.iter().position(|m| m.rep == chosen).unwrap()] += 1;
            rotation = routed.rotation;
        }
        let expected: Vec<u32> = weights.iter().map(|w| w * cycles).collect();
        prop_assert_eq!(counts, expected);
    }
}
