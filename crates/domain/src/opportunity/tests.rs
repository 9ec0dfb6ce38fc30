use chrono::NaiveDate;
use proptest::prelude::*;
use uuid::Uuid;

use super::pipeline::strategies::{arb_later_version, arb_pipeline};
use super::*;
use crate::testing::{ALICE, BOB, CAROL, SEED, given, t0, t0_plus_minutes};
use crate::{decode, encode};

const OPPORTUNITY: OpportunityId = OpportunityId(Uuid::from_u128(0x0bb0));
const ADA: ContactId = ContactId(Uuid::from_u128(0xada));
const ENGINES: CompanyId = CompanyId(Uuid::from_u128(0xe1e1));

/// The default pipeline's approval threshold in EUR (100,000.00).
const THRESHOLD: i64 = 10_000_000;
/// A deal well within the threshold (50,000.00).
const SMALL: i64 = 5_000_000;
/// A deal above the threshold (250,000.00).
const BIG: i64 = 25_000_000;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::new("EUR").unwrap())
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::new("USD").unwrap())
}

fn close_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()
}

fn stage(id: &str) -> StageId {
    StageId::new(id)
}

fn percent(p: u8) -> Probability {
    Probability::new(p).unwrap()
}

fn alice() -> Actor {
    Actor::User { id: ALICE }
}

fn as_user(user: UserId) -> Context {
    Context::new(t0(), Actor::User { id: user }, SEED)
}

fn as_automation() -> Context {
    Context::new(
        t0(),
        Actor::Automation {
            rule: "auto-approve".into(),
        },
        SEED,
    )
}

fn open_command(amount: Money) -> OpportunityCommand {
    OpportunityCommand::Open {
        opportunity: OPPORTUNITY,
        name: "Analytical Engines: 40 seats".into(),
        contact: ADA,
        company: Some(ENGINES),
        owner: ALICE,
        amount,
        expected_close: close_date(),
        pipeline: Pipeline::default(),
        stage: None,
    }
}

fn opened_for(amount: Money) -> OpportunityEvent {
    OpportunityEvent::Opened {
        opportunity: OPPORTUNITY,
        name: "Analytical Engines: 40 seats".into(),
        contact: ADA,
        company: Some(ENGINES),
        owner: ALICE,
        amount,
        expected_close: close_date(),
        pipeline: Pipeline::default(),
        stage: stage("prospecting"),
        probability: percent(10),
        forecast_category: ForecastCategory::Pipeline,
        by: alice(),
        at: t0(),
    }
}

/// A small deal, opened by Alice, who owns it.
fn opened() -> OpportunityEvent {
    opened_for(eur(SMALL))
}

/// A deal above the approval threshold, opened by Alice, who owns it.
fn opened_big() -> OpportunityEvent {
    opened_for(eur(BIG))
}

fn moved_to_negotiation() -> OpportunityEvent {
    OpportunityEvent::StageChanged {
        from: stage("prospecting"),
        to: stage("negotiation"),
        probability: percent(70),
        forecast_category: ForecastCategory::Commit,
        by: alice(),
        at: t0(),
    }
}

fn approval_requested(amount: Money) -> OpportunityEvent {
    OpportunityEvent::ApprovalRequested {
        amount,
        comment: None,
        by: alice(),
        at: t0(),
    }
}

fn approval_granted(amount: Money) -> OpportunityEvent {
    OpportunityEvent::ApprovalGranted {
        amount,
        comment: None,
        approver: BOB,
        at: t0(),
    }
}

fn approval_rejected(amount: Money) -> OpportunityEvent {
    OpportunityEvent::ApprovalRejected {
        amount,
        reason: "discount too deep".into(),
        approver: BOB,
        at: t0(),
    }
}

fn amount_changed(amount: Money) -> OpportunityEvent {
    OpportunityEvent::AmountChanged {
        amount,
        by: alice(),
        at: t0(),
    }
}

fn won_from(from: &str) -> OpportunityEvent {
    OpportunityEvent::Won {
        from: stage(from),
        stage: stage("closed_won"),
        probability: Probability::CERTAIN,
        forecast_category: ForecastCategory::Closed,
        by: alice(),
        at: t0(),
    }
}

fn lost_to_price() -> OpportunityEvent {
    OpportunityEvent::Lost {
        from: stage("prospecting"),
        stage: stage("closed_lost"),
        probability: Probability::ZERO,
        forecast_category: ForecastCategory::Omitted,
        reason: LossReason::Price,
        by: alice(),
        at: t0(),
    }
}

/// The default pipeline at version 2, where proposal is worth 60 % and negotiation 80 %.
fn repriced_pipeline() -> Pipeline {
    let mut pipeline = Pipeline {
        version: 2,
        ..Pipeline::default()
    };
    for stage in &mut pipeline.stages {
        match stage.id.as_str() {
            "proposal" => stage.probability = percent(60),
            "negotiation" => stage.probability = percent(80),
            _ => {}
        }
    }
    pipeline
}

fn upgraded_to(pipeline: Pipeline) -> OpportunityEvent {
    OpportunityEvent::PipelineUpgraded {
        pipeline,
        by: alice(),
        at: t0(),
    }
}

fn deal(state: &Opportunity) -> &Deal {
    state.deal.as_ref().unwrap()
}

// --- open ------------------------------------------------------------------------------------

#[test]
fn opening_records_the_whole_pipeline_and_stamps_the_first_stage() {
    let state = given::<Opportunity>(&[])
        .when(open_command(eur(SMALL)))
        .then(&[opened()]);
    let deal = deal(&state);
    assert_eq!(deal.status, OpportunityStatus::Open);
    assert_eq!(deal.pipeline.id, PipelineId::new("default"));
    assert_eq!(deal.pipeline.version, 1);
    assert_eq!(deal.probability, percent(10));
    assert_eq!(deal.weighted_amount(), eur(SMALL / 10));
    assert!(!deal.needs_approval());
}

#[test]
fn opening_in_a_chosen_open_stage_stamps_that_stage() {
    let command = OpportunityCommand::Open {
        opportunity: OPPORTUNITY,
        name: "Renewal".into(),
        contact: ADA,
        company: None,
        owner: BOB,
        amount: eur(0),
        expected_close: close_date(),
        pipeline: Pipeline::default(),
        stage: Some(stage("qualification")),
    };
    given::<Opportunity>(&[])
        .when(command)
        .then(&[OpportunityEvent::Opened {
            opportunity: OPPORTUNITY,
            name: "Renewal".into(),
            contact: ADA,
            company: None,
            owner: BOB,
            amount: eur(0),
            expected_close: close_date(),
            pipeline: Pipeline::default(),
            stage: stage("qualification"),
            probability: percent(20),
            forecast_category: ForecastCategory::Pipeline,
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn opening_twice_is_refused() {
    given::<Opportunity>(&[opened()])
        .when(open_command(eur(SMALL)))
        .then_error(&OpportunityError::AlreadyOpened { id: OPPORTUNITY });
}

fn open_with(change: impl FnOnce(&mut OpportunityCommand)) -> OpportunityCommand {
    let mut command = open_command(eur(SMALL));
    change(&mut command);
    command
}

#[test]
fn opening_with_an_invalid_pipeline_is_refused_with_every_problem() {
    let command = open_with(|command| {
        if let OpportunityCommand::Open { pipeline, .. } = command {
            pipeline
                .stages
                .retain(|stage| stage.kind == StageKind::Open);
        }
    });
    given::<Opportunity>(&[])
        .when(command)
        .then_error(&OpportunityError::InvalidPipeline {
            problems: vec![
                PipelineError::WonStageCount { found: 0 },
                PipelineError::LostStageCount { found: 0 },
            ],
        });
}

#[test]
fn opening_without_a_name_is_refused() {
    let command = open_with(|command| {
        if let OpportunityCommand::Open { name, .. } = command {
            *name = " \t".into();
        }
    });
    given::<Opportunity>(&[])
        .when(command)
        .then_error(&OpportunityError::BlankName);
}

#[test]
fn opening_with_a_negative_amount_is_refused() {
    given::<Opportunity>(&[])
        .when(open_command(eur(-1)))
        .then_error(&OpportunityError::NegativeAmount { amount: eur(-1) });
}

#[test]
fn opening_in_a_currency_without_an_approval_threshold_is_refused() {
    let yen = Money::new(1_000_000, Currency::new("JPY").unwrap());
    given::<Opportunity>(&[])
        .when(open_command(yen))
        .then_error(&OpportunityError::NoApprovalThreshold {
            pipeline: PipelineId::new("default"),
            currency: yen.currency,
        });
}

#[test]
fn opening_in_an_unknown_stage_is_refused() {
    let command = open_with(|command| {
        if let OpportunityCommand::Open { stage: start, .. } = command {
            *start = Some(stage("discovery"));
        }
    });
    given::<Opportunity>(&[])
        .when(command)
        .then_error(&OpportunityError::UnknownStage {
            pipeline: PipelineId::new("default"),
            stage: stage("discovery"),
        });
}

#[test]
fn opening_in_a_closed_stage_is_refused() {
    let command = open_with(|command| {
        if let OpportunityCommand::Open { stage: start, .. } = command {
            *start = Some(stage("closed_won"));
        }
    });
    given::<Opportunity>(&[])
        .when(command)
        .then_error(&OpportunityError::NotAnOpenStage {
            stage: stage("closed_won"),
        });
}

// --- stage -----------------------------------------------------------------------------------

#[test]
fn moving_forward_stamps_the_stages_probability_and_category() {
    let state = given::<Opportunity>(&[opened()])
        .at(crate::testing::context_at(t0_plus_minutes(30)))
        .when(OpportunityCommand::ChangeStage {
            to: stage("negotiation"),
        })
        .then(&[OpportunityEvent::StageChanged {
            from: stage("prospecting"),
            to: stage("negotiation"),
            probability: percent(70),
            forecast_category: ForecastCategory::Commit,
            by: alice(),
            at: t0_plus_minutes(30),
        }]);
    let deal = deal(&state);
    assert_eq!(deal.stage, stage("negotiation"));
    assert_eq!(deal.probability, percent(70));
    assert_eq!(deal.forecast_category, ForecastCategory::Commit);
    assert_eq!(deal.stage_entered_at, t0_plus_minutes(30));
}

#[test]
fn moving_backwards_is_allowed_and_records_both_stages() {
    given::<Opportunity>(&[opened(), moved_to_negotiation()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("qualification"),
        })
        .then(&[OpportunityEvent::StageChanged {
            from: stage("negotiation"),
            to: stage("qualification"),
            probability: percent(20),
            forecast_category: ForecastCategory::Pipeline,
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn moving_to_the_current_stage_records_nothing() {
    given::<Opportunity>(&[opened(), moved_to_negotiation()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("negotiation"),
        })
        .then(&[]);
}

#[test]
fn moving_to_an_unknown_stage_is_refused() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("contract"),
        })
        .then_error(&OpportunityError::UnknownStage {
            pipeline: PipelineId::new("default"),
            stage: stage("contract"),
        });
}

#[test]
fn moving_an_unopened_opportunity_is_refused() {
    given::<Opportunity>(&[])
        .when(OpportunityCommand::ChangeStage {
            to: stage("proposal"),
        })
        .then_error(&OpportunityError::NotFound);
}

#[test]
fn moving_to_the_won_stage_wins_the_deal() {
    given::<Opportunity>(&[opened(), moved_to_negotiation()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("closed_won"),
        })
        .then(&[won_from("negotiation")]);
}

#[test]
fn moving_a_big_deal_to_the_won_stage_needs_approval_too() {
    given::<Opportunity>(&[opened_big()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("closed_won"),
        })
        .then_error(&OpportunityError::ApprovalRequired {
            amount: eur(BIG),
            threshold: eur(THRESHOLD),
            pending: None,
        });
}

#[test]
fn moving_to_the_lost_stage_needs_a_reason() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("closed_lost"),
        })
        .then_error(&OpportunityError::LossReasonRequired {
            stage: stage("closed_lost"),
        });
}

// --- amount ----------------------------------------------------------------------------------

#[test]
fn the_amount_changes_in_the_deals_currency() {
    let state = given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeAmount {
            amount: eur(7_500_000),
        })
        .then(&[amount_changed(eur(7_500_000))]);
    assert_eq!(deal(&state).amount, eur(7_500_000));
}

#[test]
fn an_unchanged_amount_records_nothing() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeAmount { amount: eur(SMALL) })
        .then(&[]);
}

#[test]
fn an_amount_in_another_currency_is_refused() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeAmount { amount: usd(SMALL) })
        .then_error(&OpportunityError::CurrencyMismatch {
            expected: Currency::new("EUR").unwrap(),
            found: Currency::new("USD").unwrap(),
        });
}

#[test]
fn a_negative_amount_is_refused() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeAmount { amount: eur(-100) })
        .then_error(&OpportunityError::NegativeAmount { amount: eur(-100) });
}

#[test]
fn raising_the_amount_above_the_approved_amount_invalidates_the_approval() {
    let state = given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
    ])
    .when(OpportunityCommand::ChangeAmount {
        amount: eur(BIG + 1),
    })
    .then(&[
        amount_changed(eur(BIG + 1)),
        OpportunityEvent::ApprovalInvalidated {
            approved_amount: eur(BIG),
            was: InvalidatedApproval::Granted,
            at: t0(),
        },
    ]);
    assert_eq!(deal(&state).approval, None);
}

#[test]
fn raising_the_amount_above_a_pending_request_invalidates_it() {
    given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .when(OpportunityCommand::ChangeAmount {
            amount: eur(BIG * 2),
        })
        .then(&[
            amount_changed(eur(BIG * 2)),
            OpportunityEvent::ApprovalInvalidated {
                approved_amount: eur(BIG),
                was: InvalidatedApproval::Pending,
                at: t0(),
            },
        ]);
}

#[test]
fn lowering_the_amount_keeps_the_approval() {
    let state = given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
    ])
    .when(OpportunityCommand::ChangeAmount {
        amount: eur(BIG - 1),
    })
    .then(&[amount_changed(eur(BIG - 1))]);
    assert!(deal(&state).is_approved());
}

#[test]
fn raising_the_amount_within_a_lowered_deals_approval_keeps_it() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
        amount_changed(eur(THRESHOLD + 1)),
    ])
    .when(OpportunityCommand::ChangeAmount { amount: eur(BIG) })
    .then(&[amount_changed(eur(BIG))]);
}

#[test]
fn raising_the_amount_after_a_rejection_invalidates_nothing() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_rejected(eur(BIG)),
    ])
    .when(OpportunityCommand::ChangeAmount {
        amount: eur(BIG * 2),
    })
    .then(&[amount_changed(eur(BIG * 2))]);
}

// --- close date ------------------------------------------------------------------------------

#[test]
fn the_expected_close_date_changes() {
    let later = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
    let state = given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeCloseDate {
            expected_close: later,
        })
        .then(&[OpportunityEvent::CloseDateChanged {
            expected_close: later,
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(deal(&state).expected_close, later);
}

#[test]
fn an_unchanged_close_date_records_nothing() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::ChangeCloseDate {
            expected_close: close_date(),
        })
        .then(&[]);
}

// --- reassign --------------------------------------------------------------------------------

#[test]
fn reassigning_records_the_previous_and_the_new_owner() {
    let state = given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::Reassign { owner: CAROL })
        .then(&[OpportunityEvent::Reassigned {
            from: ALICE,
            to: CAROL,
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(deal(&state).owner, CAROL);
}

#[test]
fn reassigning_to_the_owner_records_nothing() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::Reassign { owner: ALICE })
        .then(&[]);
}

#[test]
fn reassigning_an_unopened_opportunity_is_refused() {
    given::<Opportunity>(&[])
        .when(OpportunityCommand::Reassign { owner: ALICE })
        .then_error(&OpportunityError::NotFound);
}

// --- request approval ------------------------------------------------------------------------

#[test]
fn approval_is_requested_for_the_current_amount() {
    given::<Opportunity>(&[opened_big()])
        .when(OpportunityCommand::RequestApproval {
            comment: Some("strategic logo".into()),
        })
        .then(&[OpportunityEvent::ApprovalRequested {
            amount: eur(BIG),
            comment: Some("strategic logo".into()),
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn requesting_approval_within_the_threshold_is_refused() {
    given::<Opportunity>(&[opened_for(eur(THRESHOLD))])
        .when(OpportunityCommand::RequestApproval { comment: None })
        .then_error(&OpportunityError::ApprovalNotRequired {
            amount: eur(THRESHOLD),
            threshold: eur(THRESHOLD),
        });
}

#[test]
fn requesting_approval_twice_is_refused() {
    given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .when(OpportunityCommand::RequestApproval { comment: None })
        .then_error(&OpportunityError::ApprovalAlreadyRequested { amount: eur(BIG) });
}

#[test]
fn requesting_approval_of_an_approved_amount_is_refused() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
    ])
    .when(OpportunityCommand::RequestApproval { comment: None })
    .then_error(&OpportunityError::AlreadyApproved { amount: eur(BIG) });
}

#[test]
fn a_rejected_deal_can_ask_again() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_rejected(eur(BIG)),
    ])
    .when(OpportunityCommand::RequestApproval { comment: None })
    .then(&[approval_requested(eur(BIG))]);
}

#[test]
fn a_deal_whose_approval_was_invalidated_can_ask_again() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        amount_changed(eur(BIG + 1)),
        OpportunityEvent::ApprovalInvalidated {
            approved_amount: eur(BIG),
            was: InvalidatedApproval::Pending,
            at: t0(),
        },
    ])
    .when(OpportunityCommand::RequestApproval { comment: None })
    .then(&[approval_requested(eur(BIG + 1))]);
}

// --- grant / reject approval -----------------------------------------------------------------

#[test]
fn a_manager_grants_the_pending_approval() {
    let state = given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .at(as_user(BOB))
        .when(OpportunityCommand::GrantApproval {
            comment: Some("ok for Q2".into()),
        })
        .then(&[OpportunityEvent::ApprovalGranted {
            amount: eur(BIG),
            comment: Some("ok for Q2".into()),
            approver: BOB,
            at: t0(),
        }]);
    assert!(deal(&state).needs_approval());
    assert!(deal(&state).is_approved());
}

#[test]
fn granting_without_a_request_is_refused() {
    given::<Opportunity>(&[opened_big()])
        .at(as_user(BOB))
        .when(OpportunityCommand::GrantApproval { comment: None })
        .then_error(&OpportunityError::NoPendingApproval);
}

#[test]
fn granting_twice_is_refused() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
    ])
    .at(as_user(CAROL))
    .when(OpportunityCommand::GrantApproval { comment: None })
    .then_error(&OpportunityError::NoPendingApproval);
}

#[test]
fn the_owner_cannot_approve_their_own_deal() {
    let requested_by_bob = OpportunityEvent::ApprovalRequested {
        amount: eur(BIG),
        comment: None,
        by: Actor::User { id: BOB },
        at: t0(),
    };
    given::<Opportunity>(&[opened_big(), requested_by_bob])
        .at(as_user(ALICE))
        .when(OpportunityCommand::GrantApproval { comment: None })
        .then_error(&OpportunityError::SelfApproval { approver: ALICE });
}

#[test]
fn the_requester_cannot_approve_their_own_request() {
    let requested_by_bob = OpportunityEvent::ApprovalRequested {
        amount: eur(BIG),
        comment: None,
        by: Actor::User { id: BOB },
        at: t0(),
    };
    given::<Opportunity>(&[opened_big(), requested_by_bob])
        .at(as_user(BOB))
        .when(OpportunityCommand::GrantApproval { comment: None })
        .then_error(&OpportunityError::SelfApproval { approver: BOB });
}

#[test]
fn an_automation_cannot_grant_an_approval() {
    given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .at(as_automation())
        .when(OpportunityCommand::GrantApproval { comment: None })
        .then_error(&OpportunityError::UserRequired);
}

#[test]
fn a_manager_rejects_the_pending_approval_with_a_reason() {
    let state = given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .at(as_user(BOB))
        .when(OpportunityCommand::RejectApproval {
            reason: "discount too deep".into(),
        })
        .then(&[approval_rejected(eur(BIG))]);
    assert!(matches!(
        deal(&state).approval,
        Some(Approval::Rejected { approver: BOB, .. })
    ));
}

#[test]
fn rejecting_without_a_reason_is_refused() {
    given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .at(as_user(BOB))
        .when(OpportunityCommand::RejectApproval { reason: " ".into() })
        .then_error(&OpportunityError::BlankReason);
}

#[test]
fn rejecting_without_a_request_is_refused() {
    given::<Opportunity>(&[opened_big()])
        .at(as_user(BOB))
        .when(OpportunityCommand::RejectApproval {
            reason: "no".into(),
        })
        .then_error(&OpportunityError::NoPendingApproval);
}

#[test]
fn the_owner_cannot_reject_their_own_deals_approval() {
    given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .when(OpportunityCommand::RejectApproval {
            reason: "never mind".into(),
        })
        .then_error(&OpportunityError::SelfApproval { approver: ALICE });
}

// --- win -------------------------------------------------------------------------------------

#[test]
fn a_deal_within_the_threshold_is_won_without_approval() {
    let state = given::<Opportunity>(&[opened(), moved_to_negotiation()])
        .at(crate::testing::context_at(t0_plus_minutes(60)))
        .when(OpportunityCommand::Win)
        .then(&[OpportunityEvent::Won {
            from: stage("negotiation"),
            stage: stage("closed_won"),
            probability: Probability::CERTAIN,
            forecast_category: ForecastCategory::Closed,
            by: alice(),
            at: t0_plus_minutes(60),
        }]);
    let deal = deal(&state);
    assert_eq!(deal.status, OpportunityStatus::Won);
    assert_eq!(deal.closed_at, Some(t0_plus_minutes(60)));
    assert_eq!(deal.weighted_amount(), eur(SMALL));
}

#[test]
fn a_deal_at_exactly_the_threshold_needs_no_approval() {
    given::<Opportunity>(&[opened_for(eur(THRESHOLD))])
        .when(OpportunityCommand::Win)
        .then(&[won_from("prospecting")]);
}

#[test]
fn a_deal_above_the_threshold_is_not_won_without_approval() {
    given::<Opportunity>(&[opened_for(eur(THRESHOLD + 1))])
        .when(OpportunityCommand::Win)
        .then_error(&OpportunityError::ApprovalRequired {
            amount: eur(THRESHOLD + 1),
            threshold: eur(THRESHOLD),
            pending: None,
        });
}

#[test]
fn the_approval_refusal_names_amounts_in_major_units() {
    let refusal = given::<Opportunity>(&[opened_for(eur(12_000_000))])
        .when(OpportunityCommand::Win)
        .result()
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "120000.00 EUR is above the approval threshold 100000.00 EUR: it needs a granted approval"
    );
}

#[test]
fn a_deal_with_a_pending_approval_is_not_won() {
    given::<Opportunity>(&[opened_big(), approval_requested(eur(BIG))])
        .when(OpportunityCommand::Win)
        .then_error(&OpportunityError::ApprovalRequired {
            amount: eur(BIG),
            threshold: eur(THRESHOLD),
            pending: Some(eur(BIG)),
        });
}

#[test]
fn a_deal_whose_approval_was_rejected_is_not_won() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_rejected(eur(BIG)),
    ])
    .when(OpportunityCommand::Win)
    .then_error(&OpportunityError::ApprovalRequired {
        amount: eur(BIG),
        threshold: eur(THRESHOLD),
        pending: None,
    });
}

#[test]
fn an_approved_deal_is_won() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
    ])
    .when(OpportunityCommand::Win)
    .then(&[won_from("prospecting")]);
}

#[test]
fn a_rejected_deal_lowered_within_the_threshold_is_won() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_rejected(eur(BIG)),
        amount_changed(eur(THRESHOLD)),
    ])
    .when(OpportunityCommand::Win)
    .then(&[won_from("prospecting")]);
}

#[test]
fn a_deal_raised_after_its_approval_is_not_won() {
    given::<Opportunity>(&[
        opened_big(),
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
        amount_changed(eur(BIG + 1)),
        OpportunityEvent::ApprovalInvalidated {
            approved_amount: eur(BIG),
            was: InvalidatedApproval::Granted,
            at: t0(),
        },
    ])
    .when(OpportunityCommand::Win)
    .then_error(&OpportunityError::ApprovalRequired {
        amount: eur(BIG + 1),
        threshold: eur(THRESHOLD),
        pending: None,
    });
}

#[test]
fn winning_an_unopened_opportunity_is_refused() {
    given::<Opportunity>(&[])
        .when(OpportunityCommand::Win)
        .then_error(&OpportunityError::NotFound);
}

// --- lose ------------------------------------------------------------------------------------

#[test]
fn a_deal_is_lost_with_its_reason() {
    let state = given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::Lose {
            reason: LossReason::Price,
        })
        .then(&[lost_to_price()]);
    let deal = deal(&state);
    assert_eq!(deal.status, OpportunityStatus::Lost);
    assert_eq!(deal.loss_reason, Some(LossReason::Price));
    assert_eq!(deal.weighted_amount(), eur(0));
}

#[test]
fn a_big_deal_is_lost_without_approval() {
    given::<Opportunity>(&[opened_big()])
        .when(OpportunityCommand::Lose {
            reason: LossReason::Price,
        })
        .then(&[lost_to_price()]);
}

#[test]
fn losing_with_a_blank_note_is_refused() {
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::Lose {
            reason: LossReason::Other { note: "  ".into() },
        })
        .then_error(&OpportunityError::BlankReason);
}

// --- closed is final -------------------------------------------------------------------------

fn every_command() -> Vec<OpportunityCommand> {
    vec![
        open_command(eur(SMALL)),
        OpportunityCommand::ChangeStage {
            to: stage("proposal"),
        },
        OpportunityCommand::ChangeStage {
            to: stage("closed_won"),
        },
        OpportunityCommand::ChangeAmount { amount: eur(1) },
        OpportunityCommand::ChangeCloseDate {
            expected_close: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
        },
        OpportunityCommand::Reassign { owner: BOB },
        OpportunityCommand::RequestApproval { comment: None },
        OpportunityCommand::GrantApproval { comment: None },
        OpportunityCommand::RejectApproval {
            reason: "no".into(),
        },
        OpportunityCommand::Win,
        OpportunityCommand::Lose {
            reason: LossReason::Timing,
        },
        OpportunityCommand::UpgradePipeline {
            pipeline: repriced_pipeline(),
        },
    ]
}

#[test]
fn a_won_deal_refuses_every_change() {
    for command in every_command() {
        let expected = if matches!(command, OpportunityCommand::Open { .. }) {
            OpportunityError::AlreadyOpened { id: OPPORTUNITY }
        } else {
            OpportunityError::Closed {
                status: OpportunityStatus::Won,
            }
        };
        given::<Opportunity>(&[opened(), won_from("prospecting")])
            .at(as_user(BOB))
            .when(command)
            .then_error(&expected);
    }
}

#[test]
fn a_lost_deal_refuses_every_change() {
    for command in every_command() {
        let expected = if matches!(command, OpportunityCommand::Open { .. }) {
            OpportunityError::AlreadyOpened { id: OPPORTUNITY }
        } else {
            OpportunityError::Closed {
                status: OpportunityStatus::Lost,
            }
        };
        given::<Opportunity>(&[opened(), lost_to_price()])
            .at(as_user(BOB))
            .when(command)
            .then_error(&expected);
    }
}

// --- pipeline upgrade ------------------------------------------------------------------------

#[test]
fn upgrading_the_pipeline_never_reprices_the_deal() {
    let state = given::<Opportunity>(&[opened(), moved_to_negotiation()])
        .when(OpportunityCommand::UpgradePipeline {
            pipeline: repriced_pipeline(),
        })
        .then(&[upgraded_to(repriced_pipeline())]);
    let deal = deal(&state);
    assert_eq!(deal.pipeline.version, 2);
    assert_eq!(deal.probability, percent(70));
    assert_eq!(deal.weighted_amount(), eur(SMALL * 7 / 10));
}

#[test]
fn the_next_stage_change_after_an_upgrade_stamps_the_new_version() {
    given::<Opportunity>(&[opened(), upgraded_to(repriced_pipeline())])
        .when(OpportunityCommand::ChangeStage {
            to: stage("proposal"),
        })
        .then(&[OpportunityEvent::StageChanged {
            from: stage("prospecting"),
            to: stage("proposal"),
            probability: percent(60),
            forecast_category: ForecastCategory::BestCase,
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn upgrading_to_another_pipeline_is_refused() {
    let mut renewals = repriced_pipeline();
    renewals.id = PipelineId::new("renewals");
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::UpgradePipeline { pipeline: renewals })
        .then_error(&OpportunityError::PipelineMismatch {
            current: PipelineId::new("default"),
            offered: PipelineId::new("renewals"),
        });
}

#[test]
fn upgrading_to_an_older_version_is_refused() {
    let mut older = Pipeline::default();
    older.stages.pop();
    older.stages.push(Stage {
        id: stage("closed_lost"),
        name: "Lost".into(),
        probability: Probability::ZERO,
        forecast_category: ForecastCategory::Omitted,
        kind: StageKind::ClosedLost,
    });
    given::<Opportunity>(&[opened(), upgraded_to(repriced_pipeline())])
        .when(OpportunityCommand::UpgradePipeline { pipeline: older })
        .then_error(&OpportunityError::PipelineNotNewer {
            current: 2,
            offered: 1,
        });
}

#[test]
fn upgrading_to_the_version_the_deal_follows_records_nothing() {
    given::<Opportunity>(&[opened(), upgraded_to(repriced_pipeline())])
        .when(OpportunityCommand::UpgradePipeline {
            pipeline: repriced_pipeline(),
        })
        .then(&[]);
}

#[test]
fn upgrading_to_an_invalid_version_is_refused() {
    let mut broken = repriced_pipeline();
    broken.approval_thresholds.clear();
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::UpgradePipeline { pipeline: broken })
        .then_error(&OpportunityError::InvalidPipeline {
            problems: vec![PipelineError::NoApprovalThreshold],
        });
}

#[test]
fn upgrading_to_a_version_without_the_deals_stage_is_refused() {
    let mut without_negotiation = repriced_pipeline();
    without_negotiation
        .stages
        .retain(|stage| stage.id.as_str() != "negotiation");
    given::<Opportunity>(&[opened(), moved_to_negotiation()])
        .when(OpportunityCommand::UpgradePipeline {
            pipeline: without_negotiation,
        })
        .then_error(&OpportunityError::StageNotInPipeline {
            stage: stage("negotiation"),
        });
}

#[test]
fn upgrading_to_a_version_without_a_threshold_in_the_deals_currency_is_refused() {
    let mut dollars_only = repriced_pipeline();
    dollars_only
        .approval_thresholds
        .retain(|threshold| threshold.currency.as_str() == "USD");
    given::<Opportunity>(&[opened()])
        .when(OpportunityCommand::UpgradePipeline {
            pipeline: dollars_only,
        })
        .then_error(&OpportunityError::NoApprovalThreshold {
            pipeline: PipelineId::new("default"),
            currency: Currency::new("EUR").unwrap(),
        });
}

#[test]
fn a_lowered_threshold_in_a_new_version_applies_to_the_deal() {
    let mut stricter = repriced_pipeline();
    for threshold in &mut stricter.approval_thresholds {
        threshold.minor = SMALL - 1;
    }
    given::<Opportunity>(&[opened(), upgraded_to(stricter)])
        .when(OpportunityCommand::Win)
        .then_error(&OpportunityError::ApprovalRequired {
            amount: eur(SMALL),
            threshold: eur(SMALL - 1),
            pending: None,
        });
}

// --- pipeline configuration ------------------------------------------------------------------

#[test]
fn the_default_pipeline_is_valid_and_has_the_usual_stages() {
    let pipeline = Pipeline::default();
    assert_eq!(pipeline.validate(), Ok(()));
    let stages: Vec<_> = pipeline
        .stages
        .iter()
        .map(|stage| (stage.id.as_str(), stage.probability.percent(), stage.kind))
        .collect();
    assert_eq!(
        stages,
        vec![
            ("prospecting", 10, StageKind::Open),
            ("qualification", 20, StageKind::Open),
            ("proposal", 50, StageKind::Open),
            ("negotiation", 70, StageKind::Open),
            ("closed_won", 100, StageKind::ClosedWon),
            ("closed_lost", 0, StageKind::ClosedLost),
        ]
    );
    assert_eq!(
        pipeline.approval_threshold(eur(0).currency),
        Some(eur(THRESHOLD))
    );
    assert_eq!(
        pipeline.approval_threshold(usd(0).currency),
        Some(usd(THRESHOLD))
    );
    assert_eq!(pipeline.position(&stage("proposal")), Some(2));
}

#[test]
fn a_pipeline_reports_every_problem_at_once() {
    let mut pipeline = Pipeline {
        id: PipelineId::new(" "),
        ..Pipeline::default()
    };
    pipeline.stages[1].id = stage("prospecting");
    pipeline.stages[2].name = String::new();
    pipeline.stages[3].id = stage("");
    pipeline.stages[4].probability = percent(90);
    pipeline.stages[5].forecast_category = ForecastCategory::Pipeline;
    pipeline.stages.push(Stage {
        id: stage("also_lost"),
        name: "Also lost".into(),
        probability: Probability::ZERO,
        forecast_category: ForecastCategory::Omitted,
        kind: StageKind::ClosedLost,
    });
    pipeline.stages.push(Stage {
        id: stage("signed"),
        name: "Signed".into(),
        probability: percent(95),
        forecast_category: ForecastCategory::Closed,
        kind: StageKind::Open,
    });
    pipeline.approval_thresholds.push(eur(-5));
    assert_eq!(
        pipeline.validate(),
        Err(vec![
            PipelineError::BlankPipelineId,
            PipelineError::DuplicateStage {
                stage: stage("prospecting")
            },
            PipelineError::BlankStageName {
                stage: stage("proposal")
            },
            PipelineError::BlankStageId { position: 3 },
            PipelineError::ClosedStageProbability {
                stage: stage("closed_won"),
                expected: Probability::CERTAIN,
                found: percent(90),
            },
            PipelineError::ForecastCategoryMismatch {
                stage: stage("closed_lost"),
                kind: StageKind::ClosedLost,
                category: ForecastCategory::Pipeline,
            },
            PipelineError::ForecastCategoryMismatch {
                stage: stage("signed"),
                kind: StageKind::Open,
                category: ForecastCategory::Closed,
            },
            PipelineError::LostStageCount { found: 2 },
            PipelineError::NegativeApprovalThreshold { threshold: eur(-5) },
            PipelineError::DuplicateApprovalThreshold {
                currency: eur(0).currency
            },
        ])
    );
}

#[test]
fn a_pipeline_without_stages_or_thresholds_is_refused() {
    let pipeline = Pipeline {
        id: PipelineId::new("empty"),
        version: 1,
        stages: vec![],
        approval_thresholds: vec![],
    };
    assert_eq!(
        pipeline.validate(),
        Err(vec![
            PipelineError::NoOpenStage,
            PipelineError::WonStageCount { found: 0 },
            PipelineError::LostStageCount { found: 0 },
            PipelineError::NoApprovalThreshold,
        ])
    );
}

#[test]
fn a_pipeline_is_plain_configuration_data() {
    let json = serde_json::to_value(Pipeline::default()).unwrap();
    assert_eq!(json["stages"][2]["id"], "proposal");
    assert_eq!(json["stages"][2]["probability"], 50);
    assert_eq!(json["stages"][2]["forecast_category"], "best_case");
    assert_eq!(json["stages"][4]["kind"], "closed_won");
    assert_eq!(json["approval_thresholds"][0]["currency"], "EUR");
    let back: Pipeline = serde_json::from_value(json).unwrap();
    assert_eq!(back, Pipeline::default());
}

#[test]
fn a_pipeline_with_a_probability_above_100_does_not_load() {
    let mut json = serde_json::to_value(Pipeline::default()).unwrap();
    json["stages"][0]["probability"] = serde_json::json!(101);
    assert!(serde_json::from_value::<Pipeline>(json).is_err());
}

// --- events ----------------------------------------------------------------------------------

#[test]
fn every_event_type_name_round_trips() {
    let events = vec![
        opened(),
        moved_to_negotiation(),
        amount_changed(eur(1)),
        OpportunityEvent::CloseDateChanged {
            expected_close: close_date(),
            by: Actor::Integration {
                source: "erp".into(),
            },
            at: t0(),
        },
        OpportunityEvent::Reassigned {
            from: ALICE,
            to: BOB,
            by: alice(),
            at: t0(),
        },
        approval_requested(eur(BIG)),
        approval_granted(eur(BIG)),
        approval_rejected(eur(BIG)),
        OpportunityEvent::ApprovalInvalidated {
            approved_amount: eur(BIG),
            was: InvalidatedApproval::Pending,
            at: t0(),
        },
        won_from("negotiation"),
        OpportunityEvent::Lost {
            from: stage("proposal"),
            stage: stage("closed_lost"),
            probability: Probability::ZERO,
            forecast_category: ForecastCategory::Omitted,
            reason: LossReason::Competitor {
                competitor: Some("Difference Engines Ltd".into()),
            },
            by: alice(),
            at: t0(),
        },
        upgraded_to(repriced_pipeline()),
    ];
    for event in events {
        let encoded = encode(&event).unwrap();
        let tagged = serde_json::to_value(&event).unwrap();
        assert_eq!(
            tagged["type"], encoded.event_type,
            "serde name and event_type() differ"
        );
        let back: OpportunityEvent =
            decode(encoded.event_type, encoded.schema_version, encoded.payload).unwrap();
        assert_eq!(back, event);
    }
}

// --- properties ------------------------------------------------------------------------------

fn arb_user() -> impl Strategy<Value = UserId> {
    prop_oneof![Just(ALICE), Just(BOB), Just(CAROL)]
}

/// Amounts clustered around the threshold, plus the extremes and the wrong signs and
/// currencies a careless caller sends.
fn arb_amount() -> impl Strategy<Value = Money> {
    prop_oneof![
        6 => (0i64..=2 * THRESHOLD).prop_map(eur),
        2 => prop_oneof![Just(THRESHOLD), Just(THRESHOLD + 1), Just(BIG), Just(i64::MAX)]
            .prop_map(eur),
        1 => (i64::MIN..0).prop_map(eur),
        1 => (0i64..=2 * THRESHOLD).prop_map(usd),
    ]
}

fn arb_stage_id() -> impl Strategy<Value = StageId> {
    prop_oneof![
        Just("prospecting"),
        Just("qualification"),
        Just("proposal"),
        Just("negotiation"),
        Just("closed_won"),
        Just("closed_lost"),
        Just("contract"),
    ]
    .prop_map(StageId::new)
}

fn arb_loss_reason() -> impl Strategy<Value = LossReason> {
    prop_oneof![
        Just(LossReason::Price),
        Just(LossReason::NoDecision),
        proptest::option::of("[a-z ]{0,8}")
            .prop_map(|competitor| LossReason::Competitor { competitor }),
        "[a-z ]{0,4}".prop_map(|note| LossReason::Other { note }),
    ]
}

fn arb_command() -> impl Strategy<Value = OpportunityCommand> {
    prop_oneof![
        2 => (arb_amount(), proptest::option::of(arb_stage_id())).prop_map(|(amount, start)| {
            let mut command = open_command(amount);
            if let OpportunityCommand::Open { stage, .. } = &mut command {
                *stage = start;
            }
            command
        }),
        4 => arb_stage_id().prop_map(|to| OpportunityCommand::ChangeStage { to }),
        4 => arb_amount().prop_map(|amount| OpportunityCommand::ChangeAmount { amount }),
        1 => (1u32..365).prop_map(|days| OpportunityCommand::ChangeCloseDate {
            expected_close: close_date() + chrono::Days::new(u64::from(days)),
        }),
        1 => arb_user().prop_map(|owner| OpportunityCommand::Reassign { owner }),
        3 => Just(OpportunityCommand::RequestApproval { comment: None }),
        3 => Just(OpportunityCommand::GrantApproval { comment: None }),
        1 => "[a-z ]{0,4}".prop_map(|reason| OpportunityCommand::RejectApproval { reason }),
        3 => Just(OpportunityCommand::Win),
        1 => arb_loss_reason().prop_map(|reason| OpportunityCommand::Lose { reason }),
        1 => prop_oneof![arb_later_version(), arb_pipeline()]
            .prop_map(|pipeline| OpportunityCommand::UpgradePipeline { pipeline }),
    ]
}

fn arb_context() -> impl Strategy<Value = Context> {
    (arb_user(), 0i64..600, 0u8..10).prop_map(|(user, minutes, kind)| {
        let actor = match kind {
            0 => Actor::Automation {
                rule: "stale-deals".into(),
            },
            1 => Actor::Integration {
                source: "e-signature".into(),
            },
            _ => Actor::User { id: user },
        };
        Context::new(t0_plus_minutes(minutes), actor, SEED)
    })
}

fn arb_steps() -> impl Strategy<Value = Vec<(OpportunityCommand, Context)>> {
    proptest::collection::vec((arb_command(), arb_context()), 0..40)
}

/// The probability and category the latest stage-entering event stamped.
fn stamp(event: &OpportunityEvent) -> Option<(Probability, ForecastCategory)> {
    match event {
        OpportunityEvent::Opened {
            probability,
            forecast_category,
            ..
        }
        | OpportunityEvent::StageChanged {
            probability,
            forecast_category,
            ..
        }
        | OpportunityEvent::Won {
            probability,
            forecast_category,
            ..
        }
        | OpportunityEvent::Lost {
            probability,
            forecast_category,
            ..
        } => Some((*probability, *forecast_category)),
        _ => None,
    }
}

proptest! {
    #[test]
    fn replaying_the_emitted_events_rebuilds_the_state(steps in arb_steps()) {
        let (state, history) = crate::testing::run_steps::<Opportunity>(steps);
        crate::testing::check_replay(&state, &history)?;
    }

    #[test]
    fn closed_deals_never_change_and_big_deals_are_never_won_unapproved(steps in arb_steps()) {
        let mut state = Opportunity::default();
        let mut opening_currency = None;
        let mut stamped = None;
        for (command, ctx) in steps {
            let before = state.clone();
            let result = state.decide(command, &ctx);
            if before.status().is_some_and(OpportunityStatus::is_closed) {
                prop_assert!(result.is_err(), "a closed deal accepted {:?}", result);
            }
            let Ok(events) = result else { continue };
            for event in &events {
                if matches!(event, OpportunityEvent::Won { .. }) {
                    let deal = state.deal.as_ref().unwrap();
                    let threshold = deal.approval_threshold().unwrap();
                    if deal.amount.minor > threshold.minor {
                        let approved = match deal.approval {
                            Some(Approval::Granted { amount, .. }) => Some(amount),
                            _ => None,
                        };
                        prop_assert!(
                            approved.is_some_and(|a| a.currency == deal.amount.currency
                                && a.minor >= deal.amount.minor),
                            "won {} with approval {:?}", deal.amount, deal.approval
                        );
                    }
                }
                if let Some(stamp) = stamp(event) {
                    stamped = Some(stamp);
                }
                let next = state.clone().evolve(event);
                prop_assert_ne!(&next, &state, "{:?} changed nothing", event);
                state = next;
            }
            if let Some(deal) = &state.deal {
                let currency = *opening_currency.get_or_insert(deal.amount.currency);
                prop_assert_eq!(deal.amount.currency, currency);
                prop_assert!(deal.amount.minor >= 0);
                prop_assert_eq!(Some((deal.probability, deal.forecast_category)), stamped);
                prop_assert!(deal.approval_threshold().is_some());
                if let Some(Approval::Granted { amount, .. }) = deal.approval {
                    prop_assert!(amount.minor >= deal.amount.minor);
                }
            }
        }
    }

    #[test]
    fn deciding_never_panics_on_any_history(
        events in proptest::collection::vec(arb_any_event(), 0..12),
        steps in arb_steps(),
    ) {
        let state = Opportunity::replay(&events);
        for (command, ctx) in steps {
            let _ = state.decide(command, &ctx);
        }
    }

    #[test]
    fn validating_any_pipeline_never_panics_and_a_valid_one_is_usable(pipeline in arb_pipeline()) {
        let back: Pipeline = serde_json::from_value(serde_json::to_value(&pipeline).unwrap()).unwrap();
        prop_assert_eq!(&back, &pipeline);
        if pipeline.validate().is_ok() {
            prop_assert!(pipeline.first_open_stage().is_some());
            let won = pipeline.won_stage().unwrap();
            let lost = pipeline.lost_stage().unwrap();
            prop_assert_eq!(won.probability, Probability::CERTAIN);
            prop_assert_eq!(lost.probability, Probability::ZERO);
            let ids: std::collections::HashSet<_> = pipeline.stages.iter().map(|s| &s.id).collect();
            prop_assert_eq!(ids.len(), pipeline.stages.len());
            prop_assert!(!pipeline.approval_thresholds.is_empty());
            prop_assert!(pipeline.approval_thresholds.iter().all(|t| t.minor >= 0));
        }
    }
}

/// Any event, including combinations `decide` never produces (a history edited by hand or
/// written by a buggy version): `evolve` and `decide` must cope without panicking.
fn arb_any_event() -> impl Strategy<Value = OpportunityEvent> {
    prop_oneof![
        (arb_amount(), arb_pipeline()).prop_map(|(amount, pipeline)| {
            let mut event = opened_for(amount);
            if let OpportunityEvent::Opened { pipeline: p, .. } = &mut event {
                *p = pipeline;
            }
            event
        }),
        Just(opened()),
        arb_amount().prop_map(amount_changed),
        arb_amount().prop_map(approval_requested),
        arb_amount().prop_map(approval_granted),
        arb_amount().prop_map(approval_rejected),
        arb_pipeline().prop_map(upgraded_to),
        arb_stage_id().prop_map(|to| OpportunityEvent::StageChanged {
            from: stage("prospecting"),
            to,
            probability: percent(50),
            forecast_category: ForecastCategory::BestCase,
            by: alice(),
            at: t0(),
        }),
        Just(won_from("proposal")),
        Just(lost_to_price()),
    ]
}

#[test]
fn custom_fields_are_validated_set_cleared_and_folded() {
    crate::custom_fields::fixtures::check_custom_fields::<Opportunity>(
        EntityKind::Opportunity,
        &[opened()],
        OpportunityCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            OpportunityError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}
