use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::{DAVE, alice, arb_context, check_round_trip, t0_plus_hours};
use crate::aggregate::Aggregate;
use crate::context::Context;
use crate::ids::{LeadId, TeamId, UserId};
use crate::lead::{Campaign, Lead, LeadCommand, LeadEvent, LeadSource, LeadSubmission};
use crate::roster::{
    EndpointError, LeadOffer, QueueExitReason, QueuedLead, Team, TeamCommand, TeamError, TeamEvent,
    WebhookUrl,
};
use crate::routing::{
    AssignmentStrategy, CandidateVerdict, OutOfOffice, Preference, PreferenceReason, Presence,
    RoutingDecision, RoutingError, RoutingOutcome, RuleMatch, SkipReason, TeamMember, Verdict,
};
use crate::testing::{ALICE, BOB, CAROL, context_at, given, t0, t0_plus_minutes};

const SALES: TeamId = TeamId(Uuid::from_u128(0x5a1e5));
const LEAD: LeadId = LeadId(Uuid::from_u128(0x1ead));
const LEAD2: LeadId = LeadId(Uuid::from_u128(0x1ead2));
const HOOK: &str = "https://hooks.example.com/teams/sales";

fn created(strategy: AssignmentStrategy) -> TeamEvent {
    TeamEvent::Created {
        team_id: SALES,
        name: "Inside sales".into(),
        strategy,
        leader: Some(CAROL),
        endpoint: None,
        by: alice(),
        at: t0(),
    }
}

fn added(rep: UserId) -> TeamEvent {
    TeamEvent::MemberAdded {
        rep,
        by: alice(),
        at: t0(),
    }
}

/// A round-robin team of `reps`, in that order.
fn team_of(reps: &[UserId]) -> Vec<TeamEvent> {
    let mut events = vec![created(AssignmentStrategy::WeightedRoundRobin)];
    events.extend(reps.iter().copied().map(added));
    events
}

fn available(rep: UserId) -> TeamMember {
    TeamMember {
        rep,
        active: true,
        presence: Presence::Online,
        out_of_office: None,
        weight: 1,
        capacity: 10,
        open_items: 0,
    }
}

fn offline(rep: UserId) -> TeamMember {
    TeamMember {
        presence: Presence::Offline,
        ..available(rep)
    }
}

fn dach() -> RuleMatch {
    RuleMatch {
        rule_id: "dach".into(),
        position: 1,
    }
}

fn offer(lead_id: LeadId, members: Vec<TeamMember>, excluded: Vec<UserId>) -> TeamCommand {
    TeamCommand::OfferLead {
        lead_id,
        rule: Some(dach()),
        members,
        excluded,
        preferred: None,
    }
}

fn verdict(rep: UserId, verdict: Verdict) -> CandidateVerdict {
    CandidateVerdict { rep, verdict }
}

fn skipped(rep: UserId, reason: SkipReason) -> CandidateVerdict {
    verdict(rep, Verdict::Skipped { reason })
}

fn decision(candidates: Vec<CandidateVerdict>, outcome: RoutingOutcome) -> RoutingDecision {
    RoutingDecision {
        rule: Some(dach()),
        team: SALES,
        strategy: AssignmentStrategy::WeightedRoundRobin,
        candidates,
        outcome,
        preferred: None,
    }
}

fn credits(pairs: &[(UserId, i64)]) -> BTreeMap<UserId, i64> {
    pairs.iter().copied().collect()
}

fn offered(lead_id: LeadId, rep: UserId, decision: RoutingDecision) -> TeamEvent {
    offered_with(lead_id, rep, decision, BTreeMap::new())
}

fn offered_with(
    lead_id: LeadId,
    rep: UserId,
    decision: RoutingDecision,
    credits: BTreeMap<UserId, i64>,
) -> TeamEvent {
    TeamEvent::LeadOffered {
        lead_id,
        rep,
        decision,
        credits,
        by: alice(),
        at: t0(),
    }
}

/// Alice and Bob both offline: the lead waits.
fn nobody_online() -> RoutingDecision {
    decision(
        vec![
            skipped(ALICE, SkipReason::Offline),
            skipped(BOB, SkipReason::Offline),
        ],
        RoutingOutcome::Queued { queue: SALES },
    )
}

fn queued_at(lead_id: LeadId, minutes: i64, excluded: Vec<UserId>) -> TeamEvent {
    TeamEvent::LeadQueued {
        lead_id,
        decision: nobody_online(),
        excluded,
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

// --- creation and settings -------------------------------------------------------------------

#[test]
fn creating_a_team_records_its_settings_and_no_members() {
    let team = given::<Team>(&[])
        .when(TeamCommand::Create {
            team_id: SALES,
            name: "Inside sales".into(),
            strategy: AssignmentStrategy::WeightedRoundRobin,
            leader: Some(CAROL),
            endpoint: None,
        })
        .then(&[created(AssignmentStrategy::WeightedRoundRobin)]);
    assert_eq!(team.id, Some(SALES));
    assert!(team.members.is_empty());
    assert_eq!(team.leader, Some(CAROL));
}

#[test]
fn creating_a_team_twice_is_refused() {
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::Create {
            team_id: SALES,
            name: "Again".into(),
            strategy: AssignmentStrategy::LeastLoaded,
            leader: None,
            endpoint: None,
        })
        .then_error(&TeamError::AlreadyCreated { team: SALES });
}

#[test]
fn a_blank_team_name_or_a_bad_endpoint_is_refused() {
    let create = |name: &str, endpoint: Option<&str>| TeamCommand::Create {
        team_id: SALES,
        name: name.into(),
        strategy: AssignmentStrategy::LeastLoaded,
        leader: None,
        endpoint: endpoint.map(str::to_owned),
    };
    given::<Team>(&[])
        .when(create(" ", None))
        .then_error(&TeamError::BlankName);
    given::<Team>(&[])
        .when(create("Sales", Some("ftp://hooks.example.com")))
        .then_error(&TeamError::InvalidEndpoint(
            EndpointError::UnsupportedScheme {
                scheme: "ftp".into(),
            },
        ));
}

#[test]
fn every_command_but_creation_is_refused_before_creation() {
    let commands = [
        TeamCommand::AddMember { rep: ALICE },
        TeamCommand::RemoveMember { rep: ALICE },
        TeamCommand::ChangeStrategy {
            strategy: AssignmentStrategy::LeastLoaded,
        },
        TeamCommand::AppointLeader { leader: CAROL },
        TeamCommand::ChangeNotificationEndpoint { endpoint: None },
        offer(LEAD, vec![], vec![]),
        TeamCommand::TakeFromQueue { members: vec![] },
        TeamCommand::DropFromQueue {
            lead_id: LEAD,
            reason: QueueExitReason::Merged,
        },
        TeamCommand::ReleaseLead { lead_id: LEAD },
    ];
    for command in commands {
        given::<Team>(&[])
            .when(command)
            .then_error(&TeamError::NotCreated);
    }
}

#[test]
fn members_are_added_at_the_end_once() {
    let team = given::<Team>(&team_of(&[BOB]))
        .when(TeamCommand::AddMember { rep: ALICE })
        .then(&[added(ALICE)]);
    assert_eq!(team.members, [BOB, ALICE]);
    given::<Team>(&team_of(&[BOB]))
        .when(TeamCommand::AddMember { rep: BOB })
        .then(&[]);
}

#[test]
fn a_removed_member_leaves_the_order_and_their_credit_is_forgotten() {
    let mut history = team_of(&[ALICE, BOB, CAROL]);
    history.push(offered_with(
        LEAD,
        ALICE,
        nobody_online(),
        credits(&[(ALICE, -2), (BOB, 1), (CAROL, 1)]),
    ));
    let team = given::<Team>(&history)
        .when(TeamCommand::RemoveMember { rep: BOB })
        .then(&[TeamEvent::MemberRemoved {
            rep: BOB,
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(team.members, [ALICE, CAROL]);
    assert_eq!(team.credits, credits(&[(ALICE, -2), (CAROL, 1)]));
    given::<Team>(&team_of(&[ALICE]))
        .when(TeamCommand::RemoveMember { rep: BOB })
        .then(&[]);
}

#[test]
fn strategy_leader_and_endpoint_changes_are_recorded_only_when_they_change_something() {
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::ChangeStrategy {
            strategy: AssignmentStrategy::LeastLoaded,
        })
        .then(&[TeamEvent::StrategyChanged {
            strategy: AssignmentStrategy::LeastLoaded,
            by: alice(),
            at: t0(),
        }]);
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::ChangeStrategy {
            strategy: AssignmentStrategy::WeightedRoundRobin,
        })
        .then(&[]);
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::AppointLeader { leader: DAVE })
        .then(&[TeamEvent::LeaderAppointed {
            leader: DAVE,
            by: alice(),
            at: t0(),
        }]);
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::AppointLeader { leader: CAROL })
        .then(&[]);
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::ChangeNotificationEndpoint {
            endpoint: Some(HOOK.into()),
        })
        .then(&[TeamEvent::NotificationEndpointChanged {
            endpoint: Some(WebhookUrl::parse(HOOK).unwrap()),
            by: alice(),
            at: t0(),
        }]);
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::ChangeNotificationEndpoint { endpoint: None })
        .then(&[]);
    given::<Team>(&team_of(&[]))
        .when(TeamCommand::ChangeNotificationEndpoint {
            endpoint: Some("https://user@hooks.example.com".into()),
        })
        .then_error(&TeamError::InvalidEndpoint(EndpointError::Credentials));
}

// --- offering --------------------------------------------------------------------------------

#[test]
fn an_offer_records_the_whole_decision_and_the_credits_after_it() {
    let team = given::<Team>(&team_of(&[ALICE, BOB]))
        .when(offer(LEAD, vec![available(ALICE), available(BOB)], vec![]))
        .then(&[TeamEvent::LeadOffered {
            lead_id: LEAD,
            rep: ALICE,
            decision: decision(
                vec![
                    verdict(ALICE, Verdict::Chosen),
                    verdict(BOB, Verdict::Eligible),
                ],
                RoutingOutcome::Assigned { rep: ALICE },
            ),
            credits: credits(&[(ALICE, -1), (BOB, 1)]),
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(team.offered_to(LEAD), Some(ALICE));
}

fn lead_offer(lead_id: LeadId) -> LeadOffer {
    LeadOffer {
        lead_id,
        rule: Some(dach()),
        excluded: vec![],
        preferred: None,
    }
}

#[test]
fn leads_offered_together_count_toward_the_loads_of_the_offers_after_them() {
    // Two reps with room for one lead each: the third lead of the batch waits in the queue,
    // and a lead named twice is offered once.
    let one_each = |rep| TeamMember {
        capacity: 1,
        ..available(rep)
    };
    let lead3 = LeadId(Uuid::from_u128(0x1ead3));
    let history = team_of(&[ALICE, BOB]);
    let events = given::<Team>(&history)
        .when(TeamCommand::OfferLeads {
            offers: vec![
                lead_offer(LEAD),
                lead_offer(LEAD2),
                lead_offer(LEAD),
                lead_offer(lead3),
            ],
            members: vec![one_each(ALICE), one_each(BOB)],
        })
        .result()
        .expect("the offers are decided");
    assert_eq!(events.len(), 3, "one event per lead: {events:?}");
    let team = history
        .iter()
        .chain(&events)
        .fold(Team::default(), Team::evolve);
    assert_eq!(team.offered_to(LEAD), Some(ALICE));
    assert_eq!(team.offered_to(LEAD2), Some(BOB));
    assert!(team.is_queued(lead3), "nobody had room left: {team:?}");
    assert_eq!((team.holding(ALICE), team.holding(BOB)), (1, 1));
}

#[test]
fn leads_offered_together_need_the_team_s_members() {
    given::<Team>(&team_of(&[ALICE, BOB]))
        .when(TeamCommand::OfferLeads {
            offers: vec![lead_offer(LEAD)],
            members: vec![available(ALICE)],
        })
        .then_error(&TeamError::MembersMismatch {
            expected: vec![ALICE, BOB],
            given: vec![ALICE],
        });
}

fn owned_by(rep: UserId) -> Preference {
    Preference {
        rep,
        reason: PreferenceReason::AccountOwner {
            account: crate::AccountId::from_uuid(uuid::Uuid::from_u128(0xac3e)),
        },
    }
}

#[test]
fn an_offer_goes_to_the_account_s_owner_first_and_keeps_the_rotation() {
    given::<Team>(&team_of(&[ALICE, BOB]))
        .when(TeamCommand::OfferLead {
            lead_id: LEAD,
            rule: Some(dach()),
            members: vec![available(ALICE), available(BOB)],
            excluded: vec![],
            preferred: Some(owned_by(BOB)),
        })
        .then(&[TeamEvent::LeadOffered {
            lead_id: LEAD,
            rep: BOB,
            decision: bob_preferred_and_chosen(),
            credits: BTreeMap::new(),
            by: alice(),
            at: t0(),
        }]);
}

/// Bob chosen over an eligible Alice as the account owner routing preferred.
fn bob_preferred_and_chosen() -> RoutingDecision {
    RoutingDecision {
        preferred: Some(owned_by(BOB)),
        ..decision(
            vec![
                verdict(ALICE, Verdict::Eligible),
                verdict(BOB, Verdict::Chosen),
            ],
            RoutingOutcome::Assigned { rep: BOB },
        )
    }
}

#[test]
fn a_queued_lead_keeps_its_preference_for_when_someone_is_free() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(TeamEvent::LeadQueued {
        lead_id: LEAD,
        decision: RoutingDecision {
            preferred: Some(owned_by(BOB)),
            ..nobody_online()
        },
        excluded: vec![],
        by: alice(),
        at: t0(),
    });
    given::<Team>(&history)
        .when(TeamCommand::TakeFromQueue {
            members: vec![available(ALICE), available(BOB)],
        })
        .then(&[TeamEvent::QueuedLeadOffered {
            lead_id: LEAD,
            rep: BOB,
            decision: bob_preferred_and_chosen(),
            credits: BTreeMap::new(),
            queued_at: t0(),
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn the_next_offer_continues_the_persisted_rotation() {
    let first = given::<Team>(&team_of(&[ALICE, BOB]))
        .when(offer(LEAD, vec![available(ALICE), available(BOB)], vec![]))
        .result()
        .unwrap();
    let mut history = team_of(&[ALICE, BOB]);
    history.extend(first);
    let events = given::<Team>(&history)
        .when(offer(LEAD2, vec![available(ALICE), available(BOB)], vec![]))
        .result()
        .unwrap();
    assert!(
        matches!(&events[..], [TeamEvent::LeadOffered { rep: BOB, credits, .. }] if *credits == self::credits(&[(ALICE, 0), (BOB, 0)])),
        "{events:?}"
    );
}

#[test]
fn a_least_loaded_team_offers_to_the_lowest_share_of_capacity_and_keeps_no_credit() {
    let history = [
        created(AssignmentStrategy::LeastLoaded),
        added(ALICE),
        added(BOB),
    ];
    let busy = TeamMember {
        open_items: 5,
        ..available(ALICE)
    };
    let events = given::<Team>(&history)
        .when(offer(LEAD, vec![busy, available(BOB)], vec![]))
        .result()
        .unwrap();
    assert!(
        matches!(&events[..], [TeamEvent::LeadOffered { rep: BOB, credits, decision, .. }]
            if credits.is_empty() && decision.strategy == AssignmentStrategy::LeastLoaded),
        "{events:?}"
    );
}

#[test]
fn the_offered_decision_is_what_the_lead_records_unchanged() {
    let events = given::<Team>(&team_of(&[ALICE, BOB]))
        .when(offer(LEAD, vec![available(ALICE), available(BOB)], vec![]))
        .result()
        .unwrap();
    let Some(TeamEvent::LeadOffered { decision, .. }) = events.first() else {
        panic!("not offered: {events:?}");
    };
    let lead = [
        LeadEvent::Received {
            lead_id: LEAD,
            source: LeadSource {
                system: "web-form".into(),
                external_event_id: "evt-1".into(),
            },
            raw_payload: json!({}),
            requested_at: t0(),
            at: t0(),
        },
        LeadEvent::Captured {
            profile: LeadSubmission {
                email: Some("ada@example.com".into()),
                ..LeadSubmission::default()
            }
            .validate(crate::identity::CountryCode::new("DE").unwrap())
            .unwrap(),
            campaign: Campaign::default(),
            at: t0(),
        },
    ];
    given::<Lead>(&lead)
        .when(LeadCommand::Route {
            decision: decision.clone(),
        })
        .then(&[LeadEvent::Assigned {
            rep: ALICE,
            decision: decision.clone(),
            at: t0(),
        }]);
}

#[test]
fn with_nobody_available_the_lead_joins_the_queue_with_its_exclusions() {
    let team = given::<Team>(&team_of(&[ALICE, BOB]))
        .when(offer(LEAD, vec![offline(ALICE), offline(BOB)], vec![DAVE]))
        .then(&[queued_at(LEAD, 0, vec![DAVE])]);
    assert_eq!(
        team.queue,
        [QueuedLead {
            lead_id: LEAD,
            queued_at: t0(),
            decision: nobody_online(),
            excluded: vec![DAVE],
        }]
    );
    assert!(team.is_queued(LEAD));
}

#[test]
fn an_empty_team_queues_every_lead() {
    let events = given::<Team>(&team_of(&[]))
        .when(offer(LEAD, vec![], vec![]))
        .result()
        .unwrap();
    assert!(matches!(&events[..], [TeamEvent::LeadQueued { .. }]));
}

#[test]
fn members_other_than_the_team_s_in_its_order_are_refused() {
    let mismatch = |given_reps: Vec<UserId>| TeamError::MembersMismatch {
        expected: vec![ALICE, BOB],
        given: given_reps,
    };
    given::<Team>(&team_of(&[ALICE, BOB]))
        .when(offer(LEAD, vec![available(BOB), available(ALICE)], vec![]))
        .then_error(&mismatch(vec![BOB, ALICE]));
    given::<Team>(&team_of(&[ALICE, BOB]))
        .when(offer(LEAD, vec![available(ALICE)], vec![]))
        .then_error(&mismatch(vec![ALICE]));
    given::<Team>(&team_of(&[ALICE, BOB]))
        .when(offer(
            LEAD,
            vec![available(ALICE), available(BOB), available(CAROL)],
            vec![],
        ))
        .then_error(&mismatch(vec![ALICE, BOB, CAROL]));
    given::<Team>(&team_of(&[ALICE, BOB]))
        .when(TeamCommand::TakeFromQueue {
            members: vec![available(ALICE), available(ALICE)],
        })
        .then_error(&mismatch(vec![ALICE, ALICE]));
}

#[test]
fn a_lead_already_offered_is_not_offered_again() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(offered(LEAD, ALICE, nobody_online()));
    given::<Team>(&history)
        .when(offer(LEAD, vec![available(ALICE), available(BOB)], vec![]))
        .then(&[]);
    given::<Team>(&history)
        .when(offer(
            LEAD,
            vec![available(ALICE), available(BOB)],
            vec![BOB],
        ))
        .then(&[]);
}

#[test]
fn a_reoffer_excluding_the_rep_who_held_it_goes_to_someone_else() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(offered(LEAD, ALICE, nobody_online()));
    let team = given::<Team>(&history)
        .when(offer(
            LEAD,
            vec![available(ALICE), available(BOB)],
            vec![ALICE],
        ))
        .then(&[TeamEvent::LeadOffered {
            lead_id: LEAD,
            rep: BOB,
            decision: decision(
                vec![
                    skipped(ALICE, SkipReason::PreviouslyAssigned),
                    verdict(BOB, Verdict::Chosen),
                ],
                RoutingOutcome::Assigned { rep: BOB },
            ),
            credits: credits(&[(ALICE, 0), (BOB, 0)]),
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(team.offered_to(LEAD), Some(BOB));
}

#[test]
fn a_reoffer_nobody_can_take_moves_the_lead_to_the_queue() {
    let mut history = team_of(&[ALICE]);
    history.push(offered(LEAD, ALICE, nobody_online()));
    let team = given::<Team>(&history)
        .when(offer(LEAD, vec![available(ALICE)], vec![ALICE]))
        .result()
        .map(|events| events.iter().fold(Team::replay(&history), Team::evolve))
        .unwrap();
    assert!(team.is_queued(LEAD));
    assert_eq!(team.offered_to(LEAD), None);
}

#[test]
fn a_queued_lead_is_not_offered_again_but_waits_its_turn() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(queued_at(LEAD, 0, vec![]));
    given::<Team>(&history)
        .when(offer(LEAD, vec![available(ALICE), available(BOB)], vec![]))
        .then(&[]);
}

// --- the queue -------------------------------------------------------------------------------

#[test]
fn taking_from_the_queue_offers_the_oldest_lead_with_how_long_it_waited() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(queued_at(LEAD, 0, vec![]));
    history.push(queued_at(LEAD2, 5, vec![]));
    let later = context_at(t0_plus_minutes(30));
    let expected = TeamEvent::QueuedLeadOffered {
        lead_id: LEAD,
        rep: BOB,
        decision: decision(
            vec![
                skipped(ALICE, SkipReason::Offline),
                verdict(BOB, Verdict::Chosen),
            ],
            RoutingOutcome::Assigned { rep: BOB },
        ),
        credits: credits(&[(ALICE, 0), (BOB, 0)]),
        queued_at: t0(),
        by: alice(),
        at: t0_plus_minutes(30),
    };
    let team = given::<Team>(&history)
        .at(later)
        .when(TeamCommand::TakeFromQueue {
            members: vec![offline(ALICE), available(BOB)],
        })
        .then(std::slice::from_ref(&expected));
    assert_eq!(expected.waited(), Some(Duration::minutes(30)));
    assert_eq!(
        team.queue.iter().map(|q| q.lead_id).collect::<Vec<_>>(),
        [LEAD2]
    );
    assert_eq!(team.offered_to(LEAD), Some(BOB));
}

#[test]
fn a_queued_lead_nobody_may_take_does_not_hold_up_the_next() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(queued_at(LEAD, 0, vec![ALICE, BOB]));
    history.push(queued_at(LEAD2, 5, vec![]));
    let events = given::<Team>(&history)
        .when(TeamCommand::TakeFromQueue {
            members: vec![available(ALICE), available(BOB)],
        })
        .result()
        .unwrap();
    assert!(
        matches!(
            &events[..],
            [TeamEvent::QueuedLeadOffered {
                lead_id: LEAD2,
                rep: ALICE,
                ..
            }]
        ),
        "{events:?}"
    );
}

#[test]
fn the_queued_lead_s_exclusions_still_apply_when_it_is_offered() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(queued_at(LEAD, 0, vec![ALICE]));
    let events = given::<Team>(&history)
        .when(TeamCommand::TakeFromQueue {
            members: vec![available(ALICE), available(BOB)],
        })
        .result()
        .unwrap();
    assert!(
        matches!(&events[..], [TeamEvent::QueuedLeadOffered { rep: BOB, decision, .. }] if decision.rule == Some(dach())),
        "{events:?}"
    );
}

#[test]
fn taking_from_the_queue_with_nobody_available_or_nothing_queued_records_nothing() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(queued_at(LEAD, 0, vec![]));
    given::<Team>(&history)
        .when(TeamCommand::TakeFromQueue {
            members: vec![offline(ALICE), offline(BOB)],
        })
        .then(&[]);
    given::<Team>(&team_of(&[ALICE]))
        .when(TeamCommand::TakeFromQueue {
            members: vec![available(ALICE)],
        })
        .then(&[]);
}

#[test]
fn dropping_a_queued_lead_records_why() {
    let mut history = team_of(&[ALICE]);
    history.push(queued_at(LEAD, 0, vec![]));
    let team = given::<Team>(&history)
        .when(TeamCommand::DropFromQueue {
            lead_id: LEAD,
            reason: QueueExitReason::AssignedElsewhere,
        })
        .then(&[TeamEvent::LeadLeftQueue {
            lead_id: LEAD,
            reason: QueueExitReason::AssignedElsewhere,
            by: alice(),
            at: t0(),
        }]);
    assert!(team.queue.is_empty());
}

#[test]
fn dropping_a_lead_that_is_not_queued_records_nothing() {
    given::<Team>(&team_of(&[ALICE]))
        .when(TeamCommand::DropFromQueue {
            lead_id: LEAD,
            reason: QueueExitReason::Disqualified,
        })
        .then(&[]);
}

#[test]
fn a_drop_for_another_reason_needs_a_note() {
    let mut history = team_of(&[ALICE]);
    history.push(queued_at(LEAD, 0, vec![]));
    given::<Team>(&history)
        .when(TeamCommand::DropFromQueue {
            lead_id: LEAD,
            reason: QueueExitReason::Other { note: " ".into() },
        })
        .then_error(&TeamError::BlankNote);
}

#[test]
fn a_released_lead_is_forgotten_and_may_be_offered_afresh() {
    let mut history = team_of(&[ALICE, BOB]);
    history.push(offered(LEAD, ALICE, nobody_online()));
    let released = TeamEvent::LeadReleased {
        lead_id: LEAD,
        by: alice(),
        at: t0(),
    };
    let team = given::<Team>(&history)
        .when(TeamCommand::ReleaseLead { lead_id: LEAD })
        .then(std::slice::from_ref(&released));
    assert_eq!(team.offered_to(LEAD), None);
    history.push(released);
    let events = given::<Team>(&history)
        .when(offer(LEAD, vec![available(ALICE), available(BOB)], vec![]))
        .result()
        .unwrap();
    assert!(matches!(&events[..], [TeamEvent::LeadOffered { .. }]));
    given::<Team>(&team_of(&[ALICE]))
        .when(TeamCommand::ReleaseLead { lead_id: LEAD })
        .then(&[]);
}

#[test]
fn a_routing_refusal_is_typed() {
    // Members matching the team can never repeat a rep; the conversion still keeps the error.
    let error: TeamError = RoutingError::DuplicateMember {
        team: SALES,
        rep: ALICE,
    }
    .into();
    assert!(error.to_string().contains("twice"));
}

// --- events ----------------------------------------------------------------------------------

fn every_event() -> Vec<TeamEvent> {
    vec![
        TeamEvent::Created {
            team_id: SALES,
            name: "Inside sales".into(),
            strategy: AssignmentStrategy::LeastLoaded,
            leader: None,
            endpoint: Some(WebhookUrl::parse(HOOK).unwrap()),
            by: alice(),
            at: t0(),
        },
        added(ALICE),
        TeamEvent::MemberRemoved {
            rep: BOB,
            by: alice(),
            at: t0(),
        },
        TeamEvent::StrategyChanged {
            strategy: AssignmentStrategy::WeightedRoundRobin,
            by: alice(),
            at: t0(),
        },
        TeamEvent::LeaderAppointed {
            leader: CAROL,
            by: alice(),
            at: t0(),
        },
        TeamEvent::NotificationEndpointChanged {
            endpoint: None,
            by: alice(),
            at: t0(),
        },
        offered_with(
            LEAD,
            ALICE,
            decision(
                vec![verdict(ALICE, Verdict::Chosen)],
                RoutingOutcome::Assigned { rep: ALICE },
            ),
            credits(&[(ALICE, -1), (BOB, 1)]),
        ),
        queued_at(LEAD2, 3, vec![ALICE]),
        TeamEvent::QueuedLeadOffered {
            lead_id: LEAD2,
            rep: BOB,
            decision: decision(
                vec![verdict(BOB, Verdict::Chosen)],
                RoutingOutcome::Assigned { rep: BOB },
            ),
            credits: credits(&[(BOB, 0)]),
            queued_at: t0(),
            by: alice(),
            at: t0_plus_minutes(9),
        },
        TeamEvent::LeadLeftQueue {
            lead_id: LEAD,
            reason: QueueExitReason::Other {
                note: "duplicate".into(),
            },
            by: alice(),
            at: t0(),
        },
        TeamEvent::LeadReleased {
            lead_id: LEAD,
            by: alice(),
            at: t0(),
        },
    ]
}

#[test]
fn every_event_round_trips_through_the_codec() {
    check_round_trip(&every_event());
}

// --- properties ------------------------------------------------------------------------------

const REPS: [UserId; 4] = [ALICE, BOB, CAROL, DAVE];

/// The leads random histories offer.
fn lead(n: u8) -> LeadId {
    LeadId(Uuid::from_u128(0x1ead_0000 + u128::from(n)))
}

/// A rep's availability and load, every state reachable, around the contexts' times.
fn arb_member(rep: UserId) -> impl Strategy<Value = TeamMember> {
    (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.7),
        prop::option::weighted(0.2, prop::option::of(-2i64..12)),
        0u32..3,
        0u32..4,
        0u32..5,
    )
        .prop_map(
            move |(active, online, away, weight, capacity, open_items)| TeamMember {
                rep,
                active,
                presence: if online {
                    Presence::Online
                } else {
                    Presence::Offline
                },
                out_of_office: away.map(|hours| OutOfOffice {
                    until: hours.map(t0_plus_hours),
                }),
                weight,
                capacity,
                open_items,
            },
        )
}

/// The availability of all four reps at one moment.
fn arb_roster() -> impl Strategy<Value = Vec<TeamMember>> {
    (
        arb_member(ALICE),
        arb_member(BOB),
        arb_member(CAROL),
        arb_member(DAVE),
    )
        .prop_map(|(a, b, c, d)| vec![a, b, c, d])
}

/// One step of a random history; members are taken from `roster` in the team's order when
/// the command is built, so most offers reach routing.
#[derive(Debug, Clone)]
enum Step {
    Create(AssignmentStrategy),
    Add(UserId),
    Remove(UserId),
    Strategy(AssignmentStrategy),
    Offer {
        lead: u8,
        roster: Vec<TeamMember>,
        excluded: Vec<UserId>,
    },
    OfferWithWrongMembers(u8),
    Take(Vec<TeamMember>),
    Drop(u8),
    Release(u8),
}

fn arb_strategy() -> impl Strategy<Value = AssignmentStrategy> {
    prop_oneof![
        Just(AssignmentStrategy::WeightedRoundRobin),
        Just(AssignmentStrategy::LeastLoaded)
    ]
}

fn arb_step() -> impl Strategy<Value = Step> {
    let rep = prop::sample::select(REPS.to_vec());
    prop_oneof![
        1 => arb_strategy().prop_map(Step::Create),
        3 => rep.clone().prop_map(Step::Add),
        1 => rep.clone().prop_map(Step::Remove),
        1 => arb_strategy().prop_map(Step::Strategy),
        6 => (0u8..6, arb_roster(), prop::sample::subsequence(REPS.to_vec(), 0..3))
            .prop_map(|(lead, roster, excluded)| Step::Offer { lead, roster, excluded }),
        1 => (0u8..6).prop_map(Step::OfferWithWrongMembers),
        4 => arb_roster().prop_map(Step::Take),
        1 => (0u8..6).prop_map(Step::Drop),
        1 => (0u8..6).prop_map(Step::Release),
    ]
}

/// `roster`'s entries for the team's members, in the team's order.
fn members_of(team: &Team, roster: &[TeamMember]) -> Vec<TeamMember> {
    team.members
        .iter()
        .filter_map(|rep| roster.iter().find(|m| m.rep == *rep).cloned())
        .collect()
}

fn command(step: Step, team: &Team) -> TeamCommand {
    match step {
        Step::Create(strategy) => TeamCommand::Create {
            team_id: SALES,
            name: "Sales".into(),
            strategy,
            leader: None,
            endpoint: None,
        },
        Step::Add(rep) => TeamCommand::AddMember { rep },
        Step::Remove(rep) => TeamCommand::RemoveMember { rep },
        Step::Strategy(strategy) => TeamCommand::ChangeStrategy { strategy },
        Step::Offer {
            lead: n,
            roster,
            excluded,
        } => offer(lead(n), members_of(team, &roster), excluded),
        Step::OfferWithWrongMembers(n) => {
            let mut members = members_of(team, &REPS.map(available));
            members.reverse();
            members.push(available(UserId(Uuid::from_u128(0xbad))));
            offer(lead(n), members, vec![])
        }
        Step::Take(roster) => TeamCommand::TakeFromQueue {
            members: members_of(team, &roster),
        },
        Step::Drop(n) => TeamCommand::DropFromQueue {
            lead_id: lead(n),
            reason: QueueExitReason::Converted,
        },
        Step::Release(n) => TeamCommand::ReleaseLead { lead_id: lead(n) },
    }
}

/// Whether `member` may take a lead, restated from the rules rather than from the code.
fn may_take(
    member: &TeamMember,
    strategy: AssignmentStrategy,
    excluded: &[UserId],
    ctx: &Context,
) -> bool {
    let away = member
        .out_of_office
        .is_some_and(|o| o.until.is_none_or(|until| ctx.now < until));
    member.active
        && !excluded.contains(&member.rep)
        && !away
        && member.presence == Presence::Online
        && member.open_items < member.capacity
        && (strategy == AssignmentStrategy::LeastLoaded || member.weight > 0)
}

/// Runs `steps`, checking after each command that every offer went to a rep who could take
/// it; returns the final state and the history.
fn run_checked(steps: Vec<(Step, Context)>) -> Result<(Team, Vec<TeamEvent>), TestCaseError> {
    let mut team = Team::default();
    let mut history = Vec::new();
    for (step, ctx) in steps {
        let command = command(step, &team);
        let Ok(events) = team.decide(command.clone(), &ctx) else {
            continue;
        };
        for event in &events {
            let (rep, excluded, members) = match (event, &command) {
                (
                    TeamEvent::LeadOffered { rep, .. },
                    TeamCommand::OfferLead {
                        excluded, members, ..
                    },
                ) => (*rep, excluded.clone(), members),
                (
                    TeamEvent::QueuedLeadOffered { rep, lead_id, .. },
                    TeamCommand::TakeFromQueue { members },
                ) => {
                    let queued = team.queue.iter().find(|q| q.lead_id == *lead_id);
                    prop_assert!(queued.is_some(), "offered a lead that was not queued");
                    (
                        *rep,
                        queued.map(|q| q.excluded.clone()).unwrap_or_default(),
                        members,
                    )
                }
                _ => continue,
            };
            let member = members.iter().find(|m| m.rep == rep);
            prop_assert!(
                member.is_some_and(|m| may_take(m, team.strategy, &excluded, &ctx)),
                "offered to {:?}, who could not take it: {:?}",
                rep,
                member
            );
        }
        team = events.iter().fold(team, Team::evolve);
        history.extend(events);
    }
    Ok((team, history))
}

fn arb_history() -> impl Strategy<Value = Vec<(Step, Context)>> {
    let create = (arb_strategy(), arb_context()).prop_map(|(s, ctx)| (Step::Create(s), ctx));
    (
        create,
        prop::collection::vec((arb_step(), arb_context()), 0..40),
    )
        .prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        })
}

proptest! {
    #[test]
    fn replaying_the_emitted_events_rebuilds_the_state(steps in arb_history()) {
        let (state, history) = run_checked(steps)?;
        crate::testing::check_replay(&state, &history)?;
    }

    #[test]
    fn a_deactivated_offline_away_or_full_rep_is_never_offered_a_lead(steps in arb_history()) {
        // run_checked checks every offer against the members' availability.
        let (state, _) = run_checked(steps)?;
        let queued: BTreeSet<LeadId> = state.queue.iter().map(|q| q.lead_id).collect();
        prop_assert_eq!(queued.len(), state.queue.len(), "a lead is queued twice");
        prop_assert!(
            state.queue.iter().all(|q| !state.offered.contains_key(&q.lead_id)),
            "a lead is both queued and offered"
        );
    }

    #[test]
    fn leads_offered_together_are_decided_as_if_offered_one_by_one(
        steps in arb_history(),
        leads in prop::collection::vec((0u8..8, prop::sample::subsequence(REPS.to_vec(), 0..2)), 1..6),
        roster in arb_roster(),
        ctx in arb_context(),
    ) {
        // One by one, each offer given the members' loads as the team's holdings then stand.
        let (team, _) = run_checked(steps)?;
        let members = members_of(&team, &roster);
        let together = team.decide(
            TeamCommand::OfferLeads {
                offers: leads
                    .iter()
                    .map(|(n, excluded)| LeadOffer {
                        excluded: excluded.clone(),
                        ..lead_offer(lead(*n))
                    })
                    .collect(),
                members: members.clone(),
            },
            &ctx,
        );
        let mut state = team.clone();
        let mut one_by_one = Ok(Vec::new());
        for (n, excluded) in &leads {
            let now = members
                .iter()
                .map(|member| TeamMember {
                    open_items: (member.open_items + state.holding(member.rep))
                        .saturating_sub(team.holding(member.rep)),
                    ..member.clone()
                })
                .collect();
            match state.decide(offer(lead(*n), now, excluded.clone()), &ctx) {
                Ok(events) => {
                    state = events.iter().fold(state, Team::evolve);
                    if let Ok(all) = &mut one_by_one {
                        all.extend(events);
                    }
                }
                Err(error) => {
                    one_by_one = Err(error);
                    break;
                }
            }
        }
        prop_assert_eq!(together, one_by_one);
    }

    #[test]
    fn a_member_s_holding_is_the_count_of_leads_offered_to_them(steps in arb_history()) {
        let (state, _) = run_checked(steps)?;
        for rep in REPS {
            let counted = state.offered.values().filter(|holder| **holder == rep).count();
            prop_assert_eq!(state.holding(rep) as usize, counted, "holding of {:?}", rep);
        }
    }

    #[test]
    fn the_queue_never_loses_a_lead(steps in arb_history()) {
        let (mut team, mut history) = run_checked(steps)?;
        // Everyone comes back with room to spare; the queue is drained one lead at a time.
        let everyone = REPS.map(|rep| TeamMember { capacity: u32::MAX, ..available(rep) });
        let ctx = context_at(t0_plus_hours(100));
        for _ in 0..=team.queue.len() {
            let members = members_of(&team, &everyone);
            let events = team
                .decide(TeamCommand::TakeFromQueue { members }, &ctx)
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            if events.is_empty() {
                break;
            }
            team = events.iter().fold(team, Team::evolve);
            history.extend(events);
        }
        let mut waiting: BTreeSet<LeadId> = BTreeSet::new();
        for event in &history {
            match event {
                TeamEvent::LeadQueued { lead_id, .. } => { waiting.insert(*lead_id); }
                TeamEvent::LeadOffered { lead_id, .. }
                | TeamEvent::QueuedLeadOffered { lead_id, .. }
                | TeamEvent::LeadLeftQueue { lead_id, .. } => { waiting.remove(lead_id); }
                _ => {}
            }
        }
        let still_queued: BTreeSet<LeadId> = team.queue.iter().map(|q| q.lead_id).collect();
        prop_assert_eq!(&waiting, &still_queued, "a queued lead vanished without an offer or a drop");
        for queued in &team.queue {
            prop_assert!(
                team.members.iter().all(|rep| queued.excluded.contains(rep)),
                "{:?} still waits although a member may take it", queued.lead_id
            );
        }
    }

    #[test]
    fn weighted_round_robin_through_the_team_gives_each_rep_their_weight_s_share(
        weights in prop::collection::vec(1u32..6, 1..=4),
        cycles in 1u32..4,
    ) {
        let reps = &REPS[..weights.len()];
        let mut team = Team::replay(&team_of(reps));
        let members: Vec<TeamMember> = reps
            .iter()
            .zip(&weights)
            .map(|(&rep, &weight)| TeamMember { weight, capacity: u32::MAX, ..available(rep) })
            .collect();
        let total: u32 = weights.iter().sum();
        let mut counts: BTreeMap<UserId, u32> = BTreeMap::new();
        for n in 0..cycles * total {
            let lead_id = LeadId(Uuid::from_u128(0x1ead_0000_0000 + u128::from(n)));
            let events = team
                .decide(offer(lead_id, members.clone(), vec![]), &context_at(t0()))
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            let [TeamEvent::LeadOffered { rep, .. }] = &events[..] else {
                return Err(TestCaseError::fail(format!("not one offer: {events:?}")));
            };
            *counts.entry(*rep).or_default() += 1;
            team = events.iter().fold(team, Team::evolve);
        }
        let expected: BTreeMap<UserId, u32> =
            reps.iter().zip(&weights).map(|(&rep, &w)| (rep, w * cycles)).collect();
        prop_assert_eq!(counts, expected);
    }
}
