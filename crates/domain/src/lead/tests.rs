use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::Channel;
use crate::context::Actor;
use crate::json_depth::tests::nested_arrays;
use crate::json_depth::{MAX_JSON_DEPTH, dismantle};
use crate::routing::{AssignmentStrategy, CandidateVerdict, RuleMatch, SkipReason, Verdict};
use crate::scoring::{ScoreContribution, ScoreDimension};
use crate::testing::{ALICE, BOB, CAROL, SEED, context_at, given, t0, t0_plus_minutes};
use crate::{CodecError, decode, decode_ref, encode};

const LEAD: LeadId = LeadId(Uuid::from_u128(0x1ead));
const OTHER_LEAD: LeadId = LeadId(Uuid::from_u128(0x1ead2));
const SALES: TeamId = TeamId(Uuid::from_u128(0x5a1e5));
const EXISTING_CONTACT: ContactId = ContactId(Uuid::from_u128(0xc0));

fn de() -> CountryCode {
    CountryCode::new("DE").unwrap()
}

fn requested_at() -> DateTime<Utc> {
    t0_plus_minutes(-2)
}

fn source() -> LeadSource {
    LeadSource {
        system: "web-form".into(),
        external_event_id: "evt-1".into(),
    }
}

fn received() -> LeadEvent {
    LeadEvent::Received {
        lead_id: LEAD,
        source: source(),
        raw_payload: json!({"email": "ada@example.com"}),
        requested_at: requested_at(),
        at: t0(),
    }
}

fn submission() -> LeadSubmission {
    LeadSubmission {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some("ada@example.com".into()),
        company: Some("Analytical Engines".into()),
        country: Some("DE".into()),
        postcode: Some("10115".into()),
        ..LeadSubmission::default()
    }
}

fn campaign() -> Campaign {
    Campaign {
        utm_source: Some("newsletter".into()),
        ..Campaign::default()
    }
}

fn captured() -> LeadEvent {
    LeadEvent::Captured {
        profile: submission().validate(de()).unwrap(),
        campaign: campaign(),
        at: t0(),
    }
}

fn decision_for(rep: UserId) -> RoutingDecision {
    RoutingDecision {
        rule: Some(RuleMatch {
            rule_id: "dach".into(),
            position: 0,
        }),
        team: SALES,
        strategy: AssignmentStrategy::WeightedRoundRobin,
        candidates: vec![
            CandidateVerdict {
                rep,
                verdict: Verdict::Chosen,
            },
            CandidateVerdict {
                rep: CAROL,
                verdict: Verdict::Skipped {
                    reason: SkipReason::Offline,
                },
            },
        ],
        outcome: RoutingOutcome::Assigned { rep },
        preferred: None,
    }
}

fn nobody_available() -> RoutingDecision {
    RoutingDecision {
        rule: None,
        team: SALES,
        strategy: AssignmentStrategy::LeastLoaded,
        candidates: vec![CandidateVerdict {
            rep: CAROL,
            verdict: Verdict::Skipped {
                reason: SkipReason::AtCapacity {
                    open: 5,
                    capacity: 5,
                },
            },
        }],
        outcome: RoutingOutcome::Queued { queue: SALES },
        preferred: None,
    }
}

fn assigned(rep: UserId) -> LeadEvent {
    LeadEvent::Assigned {
        rep,
        decision: decision_for(rep),
        at: t0(),
    }
}

fn touched() -> LeadEvent {
    LeadEvent::FirstTouchLogged {
        by: ALICE,
        channel: Channel::Phone,
        at: t0(),
    }
}

fn reclaimed_from(rep: UserId, reassignment: u32) -> LeadEvent {
    LeadEvent::Reclaimed {
        from: rep,
        missed_deadline: t0_plus_minutes(5),
        reassignment,
        at: t0(),
    }
}

fn as_user(user: UserId) -> crate::Context {
    crate::Context::new(t0(), Actor::User { id: user }, SEED)
}

fn as_system() -> crate::Context {
    crate::Context::new(
        t0(),
        Actor::System {
            component: "sla-scheduler".into(),
        },
        SEED,
    )
}

// --- receive ---------------------------------------------------------------------------------

#[test]
fn an_arriving_lead_is_recorded_before_validation() {
    given::<Lead>(&[])
        .when(LeadCommand::Receive {
            lead_id: LEAD,
            source: source(),
            raw_payload: json!({"email": "ada@example.com"}),
            requested_at: requested_at(),
        })
        .then(&[received()]);
}

#[test]
fn receiving_the_same_lead_twice_is_refused() {
    given::<Lead>(&[received()])
        .when(LeadCommand::Receive {
            lead_id: LEAD,
            source: source(),
            raw_payload: json!({}),
            requested_at: requested_at(),
        })
        .then_error(&LeadError::AlreadyReceived { id: LEAD });
}

fn receive_with(raw_payload: serde_json::Value) -> LeadCommand {
    LeadCommand::Receive {
        lead_id: LEAD,
        source: source(),
        raw_payload,
        requested_at: requested_at(),
    }
}

fn received_with(raw_payload: serde_json::Value) -> LeadEvent {
    LeadEvent::Received {
        lead_id: LEAD,
        source: source(),
        raw_payload,
        requested_at: requested_at(),
        at: t0(),
    }
}

/// `{"a": {"a": … {"a": 1} … }}`, `depth` objects deep.
fn nested_objects(depth: usize) -> serde_json::Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

#[test]
fn a_payload_at_the_depth_limit_is_received() {
    given::<Lead>(&[])
        .when(receive_with(nested_objects(MAX_JSON_DEPTH)))
        .then(&[received_with(nested_objects(MAX_JSON_DEPTH))]);
}

#[test]
fn a_payload_deeper_than_the_limit_is_refused() {
    given::<Lead>(&[])
        .when(receive_with(nested_objects(MAX_JSON_DEPTH + 1)))
        .then_error(&LeadError::PayloadTooDeep {
            depth_limit: MAX_JSON_DEPTH,
        });
}

#[test]
fn a_payload_at_the_depth_limit_encodes_to_json_that_reads_back() {
    let event = received_with(nested_objects(MAX_JSON_DEPTH));
    let encoded = encode(&event).unwrap();
    // Read back through text with serde_json's default limit, as the event store reads.
    let text = serde_json::to_string(&encoded.payload).unwrap();
    let payload: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        decode::<LeadEvent>(encoded.event_type, encoded.schema_version, payload).unwrap(),
        event
    );
}

#[test]
fn an_event_built_with_a_payload_deeper_than_the_limit_is_not_encoded() {
    let error = encode(&received_with(nested_objects(MAX_JSON_DEPTH + 1))).unwrap_err();
    assert!(matches!(
        error,
        CodecError::TooDeep {
            event_type: "LeadReceived",
            depth_limit: MAX_JSON_DEPTH
        }
    ));
}

#[test]
fn a_payload_nested_past_the_stack_is_refused_without_crashing() {
    const DEPTH: usize = 30_000;
    let ctx = context_at(t0());

    // `decide` owns the command, so it must dispose of the payload itself: dropping it the
    // ordinary way would recurse 30,000 times and overflow the stack. Refused whatever the
    // state, so an already received lead cannot be tricked into dropping it either.
    for lead in [Lead::default(), Lead::replay(&[received()])] {
        let refused = lead.decide(receive_with(nested_arrays(DEPTH)), &ctx);
        assert_eq!(
            refused,
            Err(LeadError::PayloadTooDeep {
                depth_limit: MAX_JSON_DEPTH
            })
        );
    }

    // An event built by hand: `encode` must refuse it before serde_json recurses into it.
    let event = received_with(nested_arrays(DEPTH));
    let encoded = encode(&event).map(|encoded| encoded.event_type);
    // The event still holds the 30,000-deep payload; dropping it would overflow the stack
    // (serde_json's Value drops recursively), so take it apart iteratively before asserting,
    // which could otherwise unwind through it.
    if let LeadEvent::Received { raw_payload, .. } = event {
        dismantle(raw_payload);
    }
    assert!(
        matches!(
            encoded,
            Err(CodecError::TooDeep {
                event_type: "LeadReceived",
                depth_limit: MAX_JSON_DEPTH
            })
        ),
        "{encoded:?}"
    );
}

// --- capture ---------------------------------------------------------------------------------

#[test]
fn a_valid_submission_is_captured_normalized() {
    let state = given::<Lead>(&[received()])
        .when(LeadCommand::Capture {
            submission: submission(),
            campaign: campaign(),
            default_region: de(),
        })
        .then(&[captured()]);
    let profile = state.profile.unwrap();
    assert_eq!(profile.email.unwrap().normalized(), "ada@example.com");
    assert_eq!(profile.name.unwrap().raw(), "Ada Lovelace");
}

#[test]
fn an_invalid_submission_is_quarantined_with_every_reason_not_dropped() {
    let bad = LeadSubmission {
        email: Some("not-an-email".into()),
        country: Some("Germany".into()),
        ..LeadSubmission::default()
    };
    let events = given::<Lead>(&[received()])
        .when(LeadCommand::Capture {
            submission: bad.clone(),
            campaign: campaign(),
            default_region: de(),
        })
        .result()
        .unwrap();
    let [
        LeadEvent::Quarantined {
            reasons,
            submission,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("expected one quarantine, got {events:?}");
    };
    assert_eq!(submission, &bad);
    let fields: Vec<_> = reasons.iter().map(|r| r.field).collect();
    assert_eq!(
        fields,
        vec![Some(LeadField::Country), Some(LeadField::Email)]
    );
}

#[test]
fn a_lead_without_email_or_phone_is_quarantined() {
    let unreachable = LeadSubmission {
        first_name: Some("Ada".into()),
        ..LeadSubmission::default()
    };
    let events = given::<Lead>(&[received()])
        .when(LeadCommand::Capture {
            submission: unreachable,
            campaign: campaign(),
            default_region: de(),
        })
        .result()
        .unwrap();
    assert!(
        matches!(&events[..], [LeadEvent::Quarantined { reasons, .. }] if reasons.len() == 1 && reasons[0].field.is_none())
    );
}

#[test]
fn a_quarantined_lead_is_captured_once_fixed() {
    let quarantined = LeadEvent::Quarantined {
        reasons: vec![QuarantineReason {
            field: Some(LeadField::Email),
            problem: "no @".into(),
        }],
        submission: LeadSubmission {
            email: Some("ada-at-example.com".into()),
            ..LeadSubmission::default()
        },
        at: t0(),
    };
    let state = given::<Lead>(&[received(), quarantined])
        .when(LeadCommand::Capture {
            submission: submission(),
            campaign: campaign(),
            default_region: de(),
        })
        .then(&[captured()]);
    assert!(state.quarantine_reasons.is_empty());
    assert_eq!(state.status, Some(LeadStatus::Captured));
}

#[test]
fn capturing_twice_is_refused() {
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::Capture {
            submission: submission(),
            campaign: campaign(),
            default_region: de(),
        })
        .then_error(&LeadError::AlreadyCaptured);
}

#[test]
fn capturing_an_unknown_lead_is_refused() {
    given::<Lead>(&[])
        .when(LeadCommand::Capture {
            submission: submission(),
            campaign: campaign(),
            default_region: de(),
        })
        .then_error(&LeadError::NotFound);
}

// --- route -----------------------------------------------------------------------------------

#[test]
fn routing_assigns_the_chosen_rep_with_the_decision() {
    let state = given::<Lead>(&[received(), captured()])
        .when(LeadCommand::Route {
            decision: decision_for(ALICE),
        })
        .then(&[assigned(ALICE)]);
    assert_eq!(state.assignee, Some(ALICE));
    assert_eq!(state.status, Some(LeadStatus::Assigned));
}

#[test]
fn with_nobody_available_the_lead_waits_in_the_team_queue() {
    let state = given::<Lead>(&[received(), captured()])
        .when(LeadCommand::Route {
            decision: nobody_available(),
        })
        .then(&[LeadEvent::Queued {
            queue: SALES,
            decision: nobody_available(),
            at: t0(),
        }]);
    assert_eq!(state.queue, Some(SALES));
    assert_eq!(state.status, Some(LeadStatus::Queued));
}

#[test]
fn routing_to_the_current_assignee_changes_nothing() {
    given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .when(LeadCommand::Route {
            decision: decision_for(ALICE),
        })
        .then(&[]);
}

#[test]
fn routing_an_uncaptured_lead_is_refused() {
    given::<Lead>(&[received()])
        .when(LeadCommand::Route {
            decision: decision_for(ALICE),
        })
        .then_error(&LeadError::InvalidTransition {
            action: "route",
            status: LeadStatus::Received,
        });
}

// --- first touch -----------------------------------------------------------------------------

#[test]
fn the_assigned_rep_logs_the_first_touch() {
    let state = given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .when(LeadCommand::LogFirstTouch {
            channel: Channel::Phone,
        })
        .then(&[touched()]);
    assert_eq!(state.status, Some(LeadStatus::Working));
}

#[test]
fn another_rep_cannot_log_the_first_touch() {
    given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .at(as_user(BOB))
        .when(LeadCommand::LogFirstTouch {
            channel: Channel::Email,
        })
        .then_error(&LeadError::NotAssignee { assignee: ALICE });
}

#[test]
fn a_system_cannot_log_a_first_touch() {
    given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .at(as_system())
        .when(LeadCommand::LogFirstTouch {
            channel: Channel::Email,
        })
        .then_error(&LeadError::UserRequired);
}

#[test]
fn the_first_touch_is_logged_once() {
    given::<Lead>(&[received(), captured(), assigned(ALICE), touched()])
        .when(LeadCommand::LogFirstTouch {
            channel: Channel::Email,
        })
        .then_error(&LeadError::AlreadyTouched { at: t0() });
}

#[test]
fn an_unassigned_lead_cannot_be_touched() {
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::LogFirstTouch {
            channel: Channel::Email,
        })
        .then_error(&LeadError::InvalidTransition {
            action: "log a first touch on",
            status: LeadStatus::Captured,
        });
}

// --- reclaim and escalate --------------------------------------------------------------------

#[test]
fn an_untouched_lead_is_reclaimed_and_offered_to_another_rep_keeping_the_request_time() {
    let state = given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .at(as_system())
        .when(LeadCommand::Reclaim {
            missed_deadline: t0_plus_minutes(5),
            decision: decision_for(BOB),
            max_reassignments: 3,
        })
        .then(&[reclaimed_from(ALICE, 1), assigned(BOB)]);
    assert_eq!(state.assignee, Some(BOB));
    assert_eq!(state.reclaimed_from, vec![ALICE]);
    assert_eq!(state.requested_at, Some(requested_at()));
    assert_eq!(state.status, Some(LeadStatus::Assigned));
}

#[test]
fn a_reclaimed_lead_may_wait_in_the_queue() {
    given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .when(LeadCommand::Reclaim {
            missed_deadline: t0_plus_minutes(5),
            decision: nobody_available(),
            max_reassignments: 3,
        })
        .then(&[
            reclaimed_from(ALICE, 1),
            LeadEvent::Queued {
                queue: SALES,
                decision: nobody_available(),
                at: t0(),
            },
        ]);
}

#[test]
fn a_touched_lead_cannot_be_reclaimed() {
    given::<Lead>(&[received(), captured(), assigned(ALICE), touched()])
        .when(LeadCommand::Reclaim {
            missed_deadline: t0_plus_minutes(5),
            decision: decision_for(BOB),
            max_reassignments: 3,
        })
        .then_error(&LeadError::InvalidTransition {
            action: "reclaim",
            status: LeadStatus::Working,
        });
}

#[test]
fn a_reclaim_must_not_go_back_to_the_same_rep() {
    given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .when(LeadCommand::Reclaim {
            missed_deadline: t0_plus_minutes(5),
            decision: decision_for(ALICE),
            max_reassignments: 3,
        })
        .then_error(&LeadError::ReclaimedToSameRep { rep: ALICE });
}

#[test]
fn reassignments_are_capped() {
    given::<Lead>(&[
        received(),
        captured(),
        assigned(ALICE),
        reclaimed_from(ALICE, 1),
        assigned(BOB),
        reclaimed_from(BOB, 2),
        assigned(CAROL),
    ])
    .when(LeadCommand::Reclaim {
        missed_deadline: t0_plus_minutes(5),
        decision: decision_for(ALICE),
        max_reassignments: 2,
    })
    .then_error(&LeadError::ReassignmentCapReached { cap: 2 });
}

#[test]
fn past_the_cap_the_lead_is_escalated_to_the_team_lead() {
    let state = given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .when(LeadCommand::Escalate {
            to: CAROL,
            reason: "response SLA missed twice".into(),
        })
        .then(&[LeadEvent::Escalated {
            to: CAROL,
            reason: "response SLA missed twice".into(),
            at: t0(),
        }]);
    assert_eq!(state.assignee, Some(CAROL));
}

#[test]
fn an_escalation_needs_a_reason() {
    given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .when(LeadCommand::Escalate {
            to: CAROL,
            reason: "  ".into(),
        })
        .then_error(&LeadError::EmptyReason);
}

// --- score -----------------------------------------------------------------------------------

fn score(total: i32) -> LeadScore {
    LeadScore {
        total,
        contributions: vec![ScoreContribution {
            rule_id: "fit".into(),
            dimension: ScoreDimension::Fit,
            points: total,
        }],
    }
}

#[test]
fn a_new_score_is_recorded_with_its_explanation() {
    let state = given::<Lead>(&[received(), captured()])
        .when(LeadCommand::ChangeScore { score: score(40) })
        .then(&[LeadEvent::ScoreChanged {
            score: score(40),
            at: t0(),
        }]);
    assert_eq!(state.score.total, 40);
}

#[test]
fn an_unchanged_score_records_nothing() {
    given::<Lead>(&[
        received(),
        captured(),
        LeadEvent::ScoreChanged {
            score: score(40),
            at: t0(),
        },
    ])
    .when(LeadCommand::ChangeScore { score: score(40) })
    .then(&[]);
}

// --- qualify / disqualify --------------------------------------------------------------------

#[test]
fn a_worked_lead_is_qualified() {
    given::<Lead>(&[received(), captured(), assigned(ALICE), touched()])
        .when(LeadCommand::Qualify)
        .then(&[LeadEvent::Qualified {
            by: Actor::User { id: ALICE },
            at: t0(),
        }]);
}

#[test]
fn an_unrouted_lead_cannot_be_qualified() {
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::Qualify)
        .then_error(&LeadError::InvalidTransition {
            action: "qualify",
            status: LeadStatus::Captured,
        });
}

#[test]
fn a_lead_is_disqualified_with_a_reason() {
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::Disqualify {
            reason: DisqualificationReason::Spam,
        })
        .then(&[LeadEvent::Disqualified {
            reason: DisqualificationReason::Spam,
            by: Actor::User { id: ALICE },
            at: t0(),
        }]);
}

#[test]
fn a_quarantined_lead_can_be_disqualified_as_spam() {
    let quarantined = LeadEvent::Quarantined {
        reasons: vec![],
        submission: LeadSubmission::default(),
        at: t0(),
    };
    given::<Lead>(&[received(), quarantined])
        .when(LeadCommand::Disqualify {
            reason: DisqualificationReason::Spam,
        })
        .then(&[LeadEvent::Disqualified {
            reason: DisqualificationReason::Spam,
            by: Actor::User { id: ALICE },
            at: t0(),
        }]);
}

// --- convert ---------------------------------------------------------------------------------

#[test]
fn converting_creates_a_contact_and_an_opportunity_with_fresh_ids() {
    let ctx = crate::testing::context();
    let state = given::<Lead>(&[received(), captured(), assigned(ALICE), touched()])
        .when(LeadCommand::Convert(ConversionRequest {
            existing_contact: None,
            open_opportunity: true,
        }))
        .then(&[LeadEvent::Converted {
            contact_id: ContactId(ctx.fresh_id(0)),
            new_contact: true,
            opportunity_id: Some(OpportunityId(ctx.fresh_id(1))),
            at: t0(),
        }]);
    assert_eq!(state.status, Some(LeadStatus::Converted));
}

#[test]
fn converting_links_to_an_existing_contact() {
    given::<Lead>(&[received(), captured(), assigned(ALICE)])
        .when(LeadCommand::Convert(ConversionRequest {
            existing_contact: Some(EXISTING_CONTACT),
            open_opportunity: false,
        }))
        .then(&[LeadEvent::Converted {
            contact_id: EXISTING_CONTACT,
            new_contact: false,
            opportunity_id: None,
            at: t0(),
        }]);
}

#[test]
fn converting_a_disqualified_lead_is_refused() {
    given::<Lead>(&[
        received(),
        captured(),
        LeadEvent::Disqualified {
            reason: DisqualificationReason::Spam,
            by: Actor::System {
                component: "test".into(),
            },
            at: t0(),
        },
    ])
    .when(LeadCommand::Convert(ConversionRequest {
        existing_contact: None,
        open_opportunity: false,
    }))
    .then_error(&LeadError::Closed {
        status: LeadStatus::Disqualified,
    });
}

#[test]
fn converting_a_quarantined_lead_is_refused() {
    let quarantined = LeadEvent::Quarantined {
        reasons: vec![],
        submission: LeadSubmission::default(),
        at: t0(),
    };
    given::<Lead>(&[received(), quarantined])
        .when(LeadCommand::Convert(ConversionRequest {
            existing_contact: None,
            open_opportunity: false,
        }))
        .then_error(&LeadError::InvalidTransition {
            action: "convert",
            status: LeadStatus::Quarantined,
        });
}

#[test]
fn touching_a_converted_lead_is_refused() {
    let converted = LeadEvent::Converted {
        contact_id: EXISTING_CONTACT,
        new_contact: false,
        opportunity_id: None,
        at: t0(),
    };
    given::<Lead>(&[received(), captured(), assigned(ALICE), converted])
        .when(LeadCommand::LogFirstTouch {
            channel: Channel::Phone,
        })
        .then_error(&LeadError::Closed {
            status: LeadStatus::Converted,
        });
}

// --- merge -----------------------------------------------------------------------------------

#[test]
fn a_duplicate_lead_is_merged_into_its_survivor() {
    let state = given::<Lead>(&[received(), captured()])
        .when(LeadCommand::MergeInto {
            survivor: OTHER_LEAD,
        })
        .then(&[LeadEvent::Merged {
            into: OTHER_LEAD,
            at: t0(),
        }]);
    assert_eq!(state.merged_into, Some(OTHER_LEAD));
}

#[test]
fn a_lead_cannot_be_merged_into_itself() {
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::MergeInto { survivor: LEAD })
        .then_error(&LeadError::MergeIntoSelf);
}

#[test]
fn a_merged_lead_refuses_everything() {
    given::<Lead>(&[
        received(),
        captured(),
        LeadEvent::Merged {
            into: OTHER_LEAD,
            at: t0(),
        },
    ])
    .when(LeadCommand::Qualify)
    .then_error(&LeadError::Closed {
        status: LeadStatus::Merged,
    });
}

// --- properties ------------------------------------------------------------------------------

fn arb_user() -> impl Strategy<Value = UserId> {
    prop_oneof![Just(ALICE), Just(BOB), Just(CAROL)]
}

fn arb_decision() -> impl Strategy<Value = RoutingDecision> {
    prop_oneof![arb_user().prop_map(decision_for), Just(nobody_available())]
}

fn arb_submission() -> impl Strategy<Value = LeadSubmission> {
    (
        proptest::option::of("[A-Za-z ]{0,12}"),
        proptest::option::of(prop_oneof![
            Just("ada@example.com".to_owned()),
            "[a-z@.]{0,12}"
        ]),
        proptest::option::of(prop_oneof![
            Just("+49 30 1234567".to_owned()),
            "[0-9 +]{0,12}"
        ]),
        proptest::option::of(prop_oneof![Just("DE".to_owned()), "[A-Za-z]{0,3}"]),
    )
        .prop_map(|(first_name, email, phone, country)| LeadSubmission {
            first_name,
            email,
            phone,
            country,
            ..LeadSubmission::default()
        })
}

fn arb_command() -> impl Strategy<Value = LeadCommand> {
    prop_oneof![
        Just(LeadCommand::Receive {
            lead_id: LEAD,
            source: source(),
            raw_payload: json!({}),
            requested_at: requested_at(),
        }),
        arb_submission().prop_map(|submission| LeadCommand::Capture {
            submission,
            campaign: Campaign::default(),
            default_region: de()
        }),
        arb_decision().prop_map(|decision| LeadCommand::Route { decision }),
        Just(LeadCommand::LogFirstTouch {
            channel: Channel::Email
        }),
        (arb_decision(), 0u32..3).prop_map(|(decision, max_reassignments)| LeadCommand::Reclaim {
            missed_deadline: t0_plus_minutes(5),
            decision,
            max_reassignments
        }),
        arb_user().prop_map(|to| LeadCommand::Escalate {
            to,
            reason: "cap".into()
        }),
        (-50i32..50).prop_map(|total| LeadCommand::ChangeScore {
            score: score(total)
        }),
        Just(LeadCommand::Qualify),
        Just(LeadCommand::Disqualify {
            reason: DisqualificationReason::NotAProspect
        }),
        any::<bool>().prop_map(|open_opportunity| LeadCommand::Convert(ConversionRequest {
            existing_contact: None,
            open_opportunity
        })),
        prop_oneof![Just(LEAD), Just(OTHER_LEAD)]
            .prop_map(|survivor| LeadCommand::MergeInto { survivor }),
    ]
}

fn arb_context() -> impl Strategy<Value = crate::Context> {
    (arb_user(), 0i64..600, any::<bool>()).prop_map(|(user, minutes, system)| {
        let mut ctx = context_at(t0_plus_minutes(minutes));
        ctx.actor = if system {
            Actor::System {
                component: "scheduler".into(),
            }
        } else {
            Actor::User { id: user }
        };
        ctx
    })
}

proptest! {
    #[test]
    fn replaying_the_emitted_events_rebuilds_the_state(
        steps in proptest::collection::vec((arb_command(), arb_context()), 0..40)
    ) {
        let (state, history) = crate::testing::run_steps::<Lead>(steps);
        crate::testing::check_replay(&state, &history)?;
    }

    #[test]
    fn final_leads_never_change_the_request_time_never_moves_and_reclaims_change_hands(
        steps in proptest::collection::vec((arb_command(), arb_context()), 0..40)
    ) {
        let mut state = Lead::default();
        for (command, ctx) in steps {
            let before = state.clone();
            let is_reclaim = matches!(command, LeadCommand::Reclaim { .. });
            let Ok(events) = state.decide(command, &ctx) else { continue };
            if before.status.is_some_and(LeadStatus::is_final) {
                prop_assert!(events.is_empty(), "a final lead emitted {:?}", events);
            }
            state = events.iter().fold(state, Lead::evolve);
            if before.requested_at.is_some() {
                prop_assert_eq!(state.requested_at, before.requested_at);
            }
            if is_reclaim {
                prop_assert!(before.assignee.is_some());
                prop_assert_ne!(state.assignee, before.assignee);
                prop_assert_eq!(state.reassignments, before.reassignments + 1);
            }
        }
    }
}

#[test]
fn every_event_type_name_round_trips() {
    let events = vec![
        received(),
        captured(),
        assigned(ALICE),
        LeadEvent::Queued {
            queue: SALES,
            decision: nobody_available(),
            at: t0(),
        },
        touched(),
        reclaimed_from(ALICE, 1),
        LeadEvent::Escalated {
            to: CAROL,
            reason: "r".into(),
            at: t0(),
        },
        LeadEvent::ScoreChanged {
            score: score(3),
            at: t0(),
        },
        LeadEvent::Qualified {
            by: Actor::System {
                component: "test".into(),
            },
            at: t0(),
        },
        LeadEvent::Disqualified {
            reason: DisqualificationReason::Other { note: "n".into() },
            by: Actor::System {
                component: "test".into(),
            },
            at: t0(),
        },
        LeadEvent::Converted {
            contact_id: EXISTING_CONTACT,
            new_contact: false,
            opportunity_id: None,
            at: t0(),
        },
        LeadEvent::Merged {
            into: OTHER_LEAD,
            at: t0(),
        },
        LeadEvent::Quarantined {
            reasons: vec![],
            submission: LeadSubmission::default(),
            at: t0(),
        },
    ];
    for event in events {
        let encoded = encode(&event).unwrap();
        let tagged = serde_json::to_value(&event).unwrap();
        assert_eq!(
            tagged["type"], encoded.event_type,
            "serde name and event_type() differ"
        );
        let borrowed: LeadEvent =
            decode_ref(encoded.event_type, encoded.schema_version, &encoded.payload).unwrap();
        let back: LeadEvent =
            decode(encoded.event_type, encoded.schema_version, encoded.payload).unwrap();
        assert_eq!(back, event);
        assert_eq!(borrowed, event, "read in place as by value");
    }
}

// --- identity resolution ---------------------------------------------------------------

fn assessment_with(verdict: MatchVerdict) -> LinkageAssessment {
    use crate::identity::linkage::{LinkageModel, compare};
    let Some(LeadEvent::Captured { profile, .. }) = Some(captured()) else {
        unreachable!()
    };
    let record = profile.person_record();
    let mut assessment = LinkageModel::default().assess(&compare(&record, &record));
    assessment.verdict = verdict;
    assessment
}

#[test]
fn a_captured_lead_records_the_contact_its_person_was_found_to_be() {
    let assessment = assessment_with(MatchVerdict::AutoLink);
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::RecordContactMatch {
            contact: EXISTING_CONTACT,
            assessment: assessment.clone(),
        })
        .then(&[LeadEvent::ContactMatched {
            contact: EXISTING_CONTACT,
            assessment,
            at: t0(),
        }]);
}

#[test]
fn recording_the_same_match_again_records_nothing() {
    let assessment = assessment_with(MatchVerdict::Review);
    let matched = LeadEvent::ContactMatched {
        contact: EXISTING_CONTACT,
        assessment: assessment.clone(),
        at: t0(),
    };
    given::<Lead>(&[received(), captured(), matched])
        .when(LeadCommand::RecordContactMatch {
            contact: EXISTING_CONTACT,
            assessment,
        })
        .then(&[]);
}

#[test]
fn a_distinct_verdict_or_an_uncaptured_lead_records_no_match() {
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::RecordContactMatch {
            contact: EXISTING_CONTACT,
            assessment: assessment_with(MatchVerdict::Distinct),
        })
        .then_error(&LeadError::NotAMatch {
            contact: EXISTING_CONTACT,
        });
    given::<Lead>(&[received()])
        .when(LeadCommand::RecordContactMatch {
            contact: EXISTING_CONTACT,
            assessment: assessment_with(MatchVerdict::AutoLink),
        })
        .then_error(&LeadError::InvalidTransition {
            action: "record a contact match",
            status: LeadStatus::Received,
        });
}

#[test]
fn a_profile_splits_its_name_for_linkage() {
    let Some(LeadEvent::Captured { profile, .. }) = Some(captured()) else {
        unreachable!()
    };
    let record = profile.person_record();
    assert_eq!(record.given_name.as_deref(), Some("ada"));
    assert_eq!(record.family_name.as_deref(), Some("lovelace"));
    assert_eq!(record.emails, ["ada@example.com"]);
    assert_eq!(record.address.postcode.as_deref(), Some("10115"));
    assert!(record.family_sound.is_some());
}

#[test]
fn custom_fields_are_validated_set_cleared_and_folded() {
    crate::custom_fields::fixtures::check_custom_fields::<Lead>(
        EntityKind::Lead,
        &[received()],
        LeadCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            LeadError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}

fn account_assessment(verdict: MatchVerdict) -> crate::account::matching::AccountAssessment {
    use crate::account::matching::{AccountAssessment, CompanyAgreement};
    AccountAssessment {
        account: crate::ids::AccountId::from_uuid(Uuid::from_u128(0xacc)),
        score: crate::identity::Score::from_ten_thousandths(9_500),
        verdict,
        domain: CompanyAgreement::Same,
        name: CompanyAgreement::Missing,
        name_similarity: None,
    }
}

#[test]
fn a_captured_lead_records_the_account_its_person_works_for_once() {
    let assessment = account_assessment(MatchVerdict::AutoLink);
    let matched = LeadEvent::AccountMatched {
        assessment,
        at: t0(),
    };
    let state = given::<Lead>(&[received(), captured()])
        .when(LeadCommand::RecordAccountMatch { assessment })
        .then(std::slice::from_ref(&matched));
    assert_eq!(state.account_match, Some(assessment));
    given::<Lead>(&[received(), captured(), matched])
        .when(LeadCommand::RecordAccountMatch { assessment })
        .then(&[]);
    given::<Lead>(&[received(), captured()])
        .when(LeadCommand::RecordAccountMatch {
            assessment: account_assessment(MatchVerdict::Distinct),
        })
        .then_error(&LeadError::NotAnAccountMatch {
            account: assessment.account,
        });
    let uncaptured = given::<Lead>(&[received()])
        .when(LeadCommand::RecordAccountMatch { assessment })
        .result();
    assert!(uncaptured.is_err(), "{uncaptured:?}");
}

// ---- consent carried from the capture ----

fn newsletter_grant() -> SubmittedConsent {
    SubmittedConsent {
        channel: crate::contact::ConsentChannel::Email,
        purpose: crate::contact::ConsentPurpose::Marketing,
        status: crate::contact::ConsentStatus::Granted,
        proof: crate::contact::ConsentProof {
            form_id: Some("newsletter-footer-v3".into()),
            ..crate::contact::ConsentProof::default()
        },
    }
}

fn no_calls() -> SubmittedConsent {
    SubmittedConsent {
        channel: crate::contact::ConsentChannel::Phone,
        purpose: crate::contact::ConsentPurpose::Sales,
        status: crate::contact::ConsentStatus::Withdrawn,
        proof: crate::contact::ConsentProof::default(),
    }
}

#[test]
fn a_lead_carries_the_consent_its_form_gave_or_refused_from_the_capture() {
    use crate::contact::{ConsentChannel, ConsentPurpose, ConsentScope, ConsentStatus};
    let form = LeadSubmission {
        consents: vec![newsletter_grant(), no_calls()],
        ..submission()
    };
    let state = given::<Lead>(&[received()])
        .when(LeadCommand::Capture {
            submission: form.clone(),
            campaign: campaign(),
            default_region: de(),
        })
        .then(&[LeadEvent::Captured {
            profile: form.validate(de()).unwrap(),
            campaign: campaign(),
            at: t0(),
        }]);
    let newsletter = state
        .consent(ConsentChannel::Email)
        .expect("the newsletter box was ticked");
    assert_eq!(newsletter.status, ConsentStatus::Granted);
    assert_eq!(newsletter.provenance.system, "web-form");
    assert_eq!(newsletter.provenance.source_time, requested_at());
    let calls = state
        .consent(ConsentScope::new(
            ConsentChannel::Phone,
            ConsentPurpose::Sales,
        ))
        .expect("no calls from sales");
    assert_eq!(calls.status, ConsentStatus::Withdrawn);
    assert!(state.consent(ConsentChannel::Sms).is_none());
}

#[test]
fn a_grant_without_proof_or_an_unreadable_statement_quarantines_the_lead() {
    let unproven = SubmittedConsent {
        proof: crate::contact::ConsentProof::default(),
        ..newsletter_grant()
    };
    let events = given::<Lead>(&[received()])
        .when(LeadCommand::Capture {
            submission: LeadSubmission {
                consents: vec![unproven],
                unreadable_consents: vec!["consents[1]: unknown variant `fax`".into()],
                ..submission()
            },
            campaign: campaign(),
            default_region: de(),
        })
        .result()
        .unwrap();
    let [LeadEvent::Quarantined { reasons, .. }] = events.as_slice() else {
        panic!("expected a quarantine, got {events:?}");
    };
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].problem.contains("fax"), "{reasons:?}");
    assert!(reasons[1].problem.contains("email"), "{reasons:?}");
}

#[test]
fn a_form_that_both_grants_and_refuses_one_scope_is_read_as_a_refusal() {
    let refusal = SubmittedConsent {
        status: crate::contact::ConsentStatus::Withdrawn,
        proof: crate::contact::ConsentProof::default(),
        ..newsletter_grant()
    };
    for consents in [
        vec![newsletter_grant(), refusal.clone()],
        vec![refusal.clone(), newsletter_grant()],
    ] {
        let profile = LeadSubmission {
            consents,
            ..submission()
        }
        .validate(de())
        .expect("valid");
        assert_eq!(profile.consents, vec![refusal.clone()]);
    }
}
