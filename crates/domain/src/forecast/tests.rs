use proptest::prelude::*;
use uuid::Uuid;

use super::period::strategies::arb_period;
use super::*;
use crate::testing::{ALICE, BOB, CAROL, SEED, given, t0, t0_plus_minutes};
use crate::{decode, encode};

const FORECAST: ForecastId = ForecastId(Uuid::from_u128(0xf0ca5));

// Builders: each reads as the fact it records. Alice owns the forecast, Bob manages her.

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::new("EUR").unwrap())
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::new("USD").unwrap())
}

fn q2() -> Period {
    Period::quarter(2026, 2).unwrap()
}

fn user(id: UserId) -> Actor {
    Actor::User { id }
}

fn scheduler() -> Actor {
    Actor::System {
        component: "forecast-scheduler".into(),
    }
}

fn as_actor(actor: Actor, minutes: i64) -> Context {
    Context::new(t0_plus_minutes(minutes), actor, SEED)
}

fn as_user(id: UserId, minutes: i64) -> Context {
    as_actor(user(id), minutes)
}

fn open_command(manager: Option<UserId>) -> ForecastCommand {
    ForecastCommand::Open {
        forecast: FORECAST,
        owner: ALICE,
        manager,
        period: q2(),
        currency: Currency::new("EUR").unwrap(),
    }
}

fn opened_with(manager: Option<UserId>) -> ForecastEvent {
    ForecastEvent::Opened {
        forecast: FORECAST,
        owner: ALICE,
        manager,
        period: q2(),
        currency: Currency::new("EUR").unwrap(),
        by: scheduler(),
        at: t0(),
    }
}

/// Alice's Q2 forecast, managed by Bob.
fn opened() -> ForecastEvent {
    opened_with(Some(BOB))
}

fn adjust(role: AdjustmentRole, category: ForecastCategory, amount: Money) -> ForecastCommand {
    ForecastCommand::Adjust {
        category,
        amount,
        role,
        reason: "two renewals slipped in".into(),
    }
}

fn adjusted(
    role: AdjustmentRole,
    category: ForecastCategory,
    amount: Money,
    by: UserId,
    minutes: i64,
) -> ForecastEvent {
    ForecastEvent::Adjusted {
        category,
        role,
        amount,
        reason: "two renewals slipped in".into(),
        by: user(by),
        at: t0_plus_minutes(minutes),
    }
}

fn alice_commits(minor: i64) -> ForecastEvent {
    adjusted(
        AdjustmentRole::Owner,
        ForecastCategory::Commit,
        eur(minor),
        ALICE,
        5,
    )
}

fn bob_commits(minor: i64) -> ForecastEvent {
    adjusted(
        AdjustmentRole::Manager,
        ForecastCategory::Commit,
        eur(minor),
        BOB,
        10,
    )
}

fn locked() -> ForecastEvent {
    ForecastEvent::Locked {
        by: scheduler(),
        at: t0_plus_minutes(60),
    }
}

fn standing(state: &Forecast, role: AdjustmentRole, category: ForecastCategory) -> Option<Money> {
    state
        .submission
        .as_ref()
        .and_then(|submission| submission.adjustment(role, category))
        .map(|adjustment| adjustment.amount)
}

// --- Open -------------------------------------------------------------------------------------

#[test]
fn opening_records_the_owner_the_manager_the_period_and_the_currency() {
    let state = given::<Forecast>(&[])
        .at(as_actor(scheduler(), 0))
        .when(open_command(Some(BOB)))
        .then(&[opened()]);
    let submission = state.submission.unwrap();
    assert_eq!(submission.status, ForecastStatus::Open);
    assert_eq!(submission.manager, Some(BOB));
    assert!(submission.owner_adjustments.is_empty() && submission.manager_adjustments.is_empty());
}

#[test]
fn a_forecast_may_be_opened_without_a_manager() {
    given::<Forecast>(&[])
        .at(as_actor(scheduler(), 0))
        .when(open_command(None))
        .then(&[opened_with(None)]);
}

#[test]
fn opening_twice_is_refused() {
    given::<Forecast>(&[opened()])
        .when(open_command(Some(BOB)))
        .then_error(&ForecastError::AlreadyOpened { id: FORECAST });
}

#[test]
fn an_owner_cannot_be_their_own_manager() {
    given::<Forecast>(&[])
        .when(open_command(Some(ALICE)))
        .then_error(&ForecastError::ManagerIsOwner { user: ALICE });
}

// --- Adjust -----------------------------------------------------------------------------------

#[test]
fn the_owner_calls_a_figure_for_a_category() {
    let state = given::<Forecast>(&[opened()])
        .at(as_user(ALICE, 5))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Commit,
            eur(12_000_000),
        ))
        .then(&[alice_commits(12_000_000)]);
    assert_eq!(
        standing(&state, AdjustmentRole::Owner, ForecastCategory::Commit),
        Some(eur(12_000_000))
    );
}

#[test]
fn the_manager_s_call_is_kept_apart_from_the_owner_s() {
    let state = given::<Forecast>(&[opened(), alice_commits(12_000_000)])
        .at(as_user(BOB, 10))
        .when(adjust(
            AdjustmentRole::Manager,
            ForecastCategory::Commit,
            eur(9_000_000),
        ))
        .then(&[bob_commits(9_000_000)]);
    assert_eq!(
        standing(&state, AdjustmentRole::Owner, ForecastCategory::Commit),
        Some(eur(12_000_000))
    );
    assert_eq!(
        standing(&state, AdjustmentRole::Manager, ForecastCategory::Commit),
        Some(eur(9_000_000))
    );
}

#[test]
fn a_new_call_records_the_new_figure_and_replaces_the_old_one() {
    let state = given::<Forecast>(&[opened(), alice_commits(12_000_000)])
        .at(as_user(ALICE, 5))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Commit,
            eur(10_000_000),
        ))
        .then(&[alice_commits(10_000_000)]);
    assert_eq!(
        standing(&state, AdjustmentRole::Owner, ForecastCategory::Commit),
        Some(eur(10_000_000))
    );
}

#[test]
fn calling_the_figure_already_called_records_nothing() {
    given::<Forecast>(&[opened(), alice_commits(12_000_000)])
        .at(as_user(ALICE, 30))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Commit,
            eur(12_000_000),
        ))
        .then(&[]);
}

#[test]
fn adjusting_a_forecast_that_was_never_opened_is_refused() {
    given::<Forecast>(&[])
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Commit,
            eur(1),
        ))
        .then_error(&ForecastError::NotFound);
}

#[test]
fn adjusting_a_locked_forecast_is_refused() {
    given::<Forecast>(&[opened(), locked()])
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Commit,
            eur(1),
        ))
        .then_error(&ForecastError::Locked { period: q2() });
}

#[test]
fn only_the_owner_makes_owner_adjustments() {
    given::<Forecast>(&[opened()])
        .at(as_user(BOB, 5))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Commit,
            eur(1),
        ))
        .then_error(&ForecastError::NotTheOwner {
            user: BOB,
            owner: ALICE,
        });
}

#[test]
fn only_the_manager_makes_manager_adjustments() {
    given::<Forecast>(&[opened()])
        .at(as_user(ALICE, 5))
        .when(adjust(
            AdjustmentRole::Manager,
            ForecastCategory::Commit,
            eur(1),
        ))
        .then_error(&ForecastError::NotTheManager {
            user: ALICE,
            manager: BOB,
        });
}

#[test]
fn a_forecast_without_a_manager_takes_no_manager_adjustment() {
    given::<Forecast>(&[opened_with(None)])
        .at(as_user(CAROL, 5))
        .when(adjust(
            AdjustmentRole::Manager,
            ForecastCategory::Commit,
            eur(1),
        ))
        .then_error(&ForecastError::NoManager);
}

#[test]
fn an_automation_cannot_adjust_a_forecast() {
    given::<Forecast>(&[opened()])
        .at(as_actor(
            Actor::Automation {
                rule: "copy-last-quarter".into(),
            },
            5,
        ))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Commit,
            eur(1),
        ))
        .then_error(&ForecastError::UserRequired);
}

#[test]
fn closed_is_what_was_won_and_cannot_be_adjusted() {
    given::<Forecast>(&[opened()])
        .at(as_user(ALICE, 5))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Closed,
            eur(1),
        ))
        .then_error(&ForecastError::CategoryNotAdjustable {
            category: ForecastCategory::Closed,
        });
}

#[test]
fn omitted_is_not_part_of_the_forecast_and_cannot_be_adjusted() {
    given::<Forecast>(&[opened()])
        .at(as_user(BOB, 5))
        .when(adjust(
            AdjustmentRole::Manager,
            ForecastCategory::Omitted,
            eur(1),
        ))
        .then_error(&ForecastError::CategoryNotAdjustable {
            category: ForecastCategory::Omitted,
        });
}

#[test]
fn a_figure_in_another_currency_is_refused() {
    given::<Forecast>(&[opened()])
        .at(as_user(ALICE, 5))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::BestCase,
            usd(1),
        ))
        .then_error(&ForecastError::CurrencyMismatch {
            expected: Currency::new("EUR").unwrap(),
            found: Currency::new("USD").unwrap(),
        });
}

#[test]
fn a_negative_figure_is_refused() {
    given::<Forecast>(&[opened()])
        .at(as_user(ALICE, 5))
        .when(adjust(
            AdjustmentRole::Owner,
            ForecastCategory::Pipeline,
            eur(-1),
        ))
        .then_error(&ForecastError::NegativeAmount { amount: eur(-1) });
}

#[test]
fn an_adjustment_without_a_reason_is_refused() {
    given::<Forecast>(&[opened()])
        .at(as_user(ALICE, 5))
        .when(ForecastCommand::Adjust {
            category: ForecastCategory::Commit,
            amount: eur(1),
            role: AdjustmentRole::Owner,
            reason: "  ".into(),
        })
        .then_error(&ForecastError::BlankReason);
}

// --- WithdrawAdjustment -----------------------------------------------------------------------

fn withdraw(role: AdjustmentRole) -> ForecastCommand {
    ForecastCommand::WithdrawAdjustment {
        category: ForecastCategory::Commit,
        role,
    }
}

#[test]
fn withdrawing_a_call_leaves_the_other_role_s_call_standing() {
    let state = given::<Forecast>(&[opened(), alice_commits(12_000_000), bob_commits(9_000_000)])
        .at(as_user(BOB, 20))
        .when(withdraw(AdjustmentRole::Manager))
        .then(&[ForecastEvent::AdjustmentWithdrawn {
            category: ForecastCategory::Commit,
            role: AdjustmentRole::Manager,
            by: user(BOB),
            at: t0_plus_minutes(20),
        }]);
    assert_eq!(
        standing(&state, AdjustmentRole::Manager, ForecastCategory::Commit),
        None
    );
    assert_eq!(
        standing(&state, AdjustmentRole::Owner, ForecastCategory::Commit),
        Some(eur(12_000_000))
    );
}

#[test]
fn withdrawing_a_call_that_was_never_made_records_nothing() {
    given::<Forecast>(&[opened(), alice_commits(12_000_000)])
        .at(as_user(BOB, 20))
        .when(withdraw(AdjustmentRole::Manager))
        .then(&[]);
}

#[test]
fn only_the_manager_withdraws_the_manager_s_call() {
    given::<Forecast>(&[opened(), bob_commits(9_000_000)])
        .at(as_user(ALICE, 20))
        .when(withdraw(AdjustmentRole::Manager))
        .then_error(&ForecastError::NotTheManager {
            user: ALICE,
            manager: BOB,
        });
}

#[test]
fn withdrawing_from_a_locked_forecast_is_refused() {
    given::<Forecast>(&[opened(), alice_commits(12_000_000), locked()])
        .when(withdraw(AdjustmentRole::Owner))
        .then_error(&ForecastError::Locked { period: q2() });
}

// --- Lock -------------------------------------------------------------------------------------

#[test]
fn locking_closes_the_period_for_calls_and_keeps_them() {
    let state = given::<Forecast>(&[opened(), alice_commits(12_000_000)])
        .at(as_actor(scheduler(), 60))
        .when(ForecastCommand::Lock)
        .then(&[locked()]);
    let submission = state.submission.as_ref().unwrap();
    assert_eq!(submission.status, ForecastStatus::Locked);
    assert_eq!(submission.locked_at, Some(t0_plus_minutes(60)));
    assert_eq!(
        standing(&state, AdjustmentRole::Owner, ForecastCategory::Commit),
        Some(eur(12_000_000))
    );
}

#[test]
fn locking_a_locked_forecast_records_nothing() {
    given::<Forecast>(&[opened(), locked()])
        .when(ForecastCommand::Lock)
        .then(&[]);
}

#[test]
fn locking_a_forecast_that_was_never_opened_is_refused() {
    given::<Forecast>(&[])
        .when(ForecastCommand::Lock)
        .then_error(&ForecastError::NotFound);
}

// --- Encoding ---------------------------------------------------------------------------------

#[test]
fn every_event_round_trips_under_its_stable_name() {
    let events = [
        opened(),
        opened_with(None),
        alice_commits(12_000_000),
        bob_commits(0),
        ForecastEvent::AdjustmentWithdrawn {
            category: ForecastCategory::BestCase,
            role: AdjustmentRole::Owner,
            by: user(ALICE),
            at: t0(),
        },
        locked(),
    ];
    for event in events {
        let encoded = encode(&event).unwrap();
        let tagged = serde_json::to_value(&event).unwrap();
        assert_eq!(
            tagged["type"], encoded.event_type,
            "serde name and event_type() differ"
        );
        let back: ForecastEvent =
            decode(encoded.event_type, encoded.schema_version, encoded.payload).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn a_stored_opening_with_a_date_that_starts_no_period_does_not_decode() {
    let mut payload = encode(&opened()).unwrap().payload;
    payload["period"]["start"] = serde_json::json!("2026-05-01");
    assert!(decode::<ForecastEvent>("ForecastOpened", 1, payload).is_err());
}

// --- properties -------------------------------------------------------------------------------

fn arb_user() -> impl Strategy<Value = UserId> {
    prop_oneof![Just(ALICE), Just(BOB), Just(CAROL)]
}

fn arb_category() -> impl Strategy<Value = ForecastCategory> {
    prop_oneof![
        Just(ForecastCategory::Pipeline),
        Just(ForecastCategory::BestCase),
        Just(ForecastCategory::Commit),
        Just(ForecastCategory::Closed),
        Just(ForecastCategory::Omitted),
    ]
}

fn arb_role() -> impl Strategy<Value = AdjustmentRole> {
    prop_oneof![Just(AdjustmentRole::Owner), Just(AdjustmentRole::Manager)]
}

/// Mostly EUR figures, a few repeated ones (to hit "nothing changes"), and the wrong signs and
/// currencies a careless caller sends.
fn arb_amount() -> impl Strategy<Value = Money> {
    prop_oneof![
        6 => (0i64..=20_000_000).prop_map(eur),
        2 => prop_oneof![Just(0), Just(1_000), Just(i64::MAX)].prop_map(eur),
        1 => (i64::MIN..0).prop_map(eur),
        1 => (0i64..=20_000_000).prop_map(usd),
    ]
}

fn arb_command() -> impl Strategy<Value = ForecastCommand> {
    prop_oneof![
        2 => (arb_user(), proptest::option::of(arb_user()), arb_period()).prop_map(
            |(owner, manager, period)| ForecastCommand::Open {
                forecast: FORECAST,
                owner,
                manager,
                period,
                currency: Currency::new("EUR").unwrap(),
            }
        ),
        6 => (arb_category(), arb_amount(), arb_role(), "[a-z ]{0,6}").prop_map(
            |(category, amount, role, reason)| ForecastCommand::Adjust {
                category,
                amount,
                role,
                reason,
            }
        ),
        2 => (arb_category(), arb_role())
            .prop_map(|(category, role)| ForecastCommand::WithdrawAdjustment { category, role }),
        1 => Just(ForecastCommand::Lock),
    ]
}

fn arb_context() -> impl Strategy<Value = Context> {
    (arb_user(), 0i64..600, 0u8..10).prop_map(|(id, minutes, kind)| {
        let actor = match kind {
            0 => scheduler(),
            1 => Actor::Integration {
                source: "planning-tool".into(),
            },
            _ => Actor::User { id },
        };
        as_actor(actor, minutes)
    })
}

fn arb_steps() -> impl Strategy<Value = Vec<(ForecastCommand, Context)>> {
    proptest::collection::vec((arb_command(), arb_context()), 0..40)
}

/// Any event, including combinations `decide` never produces (a history edited by hand or
/// written by a buggy version): `evolve` and `decide` must cope without panicking.
fn arb_any_event() -> impl Strategy<Value = ForecastEvent> {
    prop_oneof![
        (proptest::option::of(arb_user()), arb_period()).prop_map(|(manager, period)| {
            ForecastEvent::Opened {
                forecast: FORECAST,
                owner: ALICE,
                manager,
                period,
                currency: Currency::new("EUR").unwrap(),
                by: scheduler(),
                at: t0(),
            }
        }),
        (arb_role(), arb_category(), arb_amount(), arb_user())
            .prop_map(|(role, category, amount, by)| adjusted(role, category, amount, by, 1)),
        (arb_category(), arb_role()).prop_map(|(category, role)| {
            ForecastEvent::AdjustmentWithdrawn {
                category,
                role,
                by: user(ALICE),
                at: t0(),
            }
        }),
        Just(locked()),
    ]
}

proptest! {
    #[test]
    fn replaying_the_emitted_events_rebuilds_the_state(steps in arb_steps()) {
        let (state, history) = crate::testing::run_steps::<Forecast>(steps);
        crate::testing::check_replay(&state, &history)?;
    }

    #[test]
    fn standing_calls_are_valid_figures_by_the_role_s_holder_and_a_lock_is_final(steps in arb_steps()) {
        let mut state = Forecast::default();
        for (command, ctx) in steps {
            let was_locked = state.status() == Some(ForecastStatus::Locked);
            let Ok(events) = state.decide(command, &ctx) else { continue };
            if was_locked {
                prop_assert!(events.is_empty(), "a locked forecast recorded {:?}", events);
            }
            for event in &events {
                let next = state.clone().evolve(event);
                prop_assert_ne!(&next, &state, "{:?} changed nothing", event);
                state = next;
            }
            let Some(submission) = &state.submission else { continue };
            prop_assert_ne!(submission.manager, Some(submission.owner));
            for role in [AdjustmentRole::Owner, AdjustmentRole::Manager] {
                let holder = match role {
                    AdjustmentRole::Owner => Some(submission.owner),
                    AdjustmentRole::Manager => submission.manager,
                };
                for (category, adjustment) in submission.adjustments(role) {
                    prop_assert!(is_adjustable(*category));
                    prop_assert_eq!(adjustment.amount.currency, submission.currency);
                    prop_assert!(adjustment.amount.minor >= 0);
                    prop_assert!(!adjustment.reason.trim().is_empty());
                    prop_assert_eq!(adjustment.by.user(), holder);
                }
            }
        }
    }

    #[test]
    fn deciding_never_panics_on_any_history(
        events in proptest::collection::vec(arb_any_event(), 0..12),
        steps in arb_steps(),
    ) {
        let state = Forecast::replay(&events);
        for (command, ctx) in steps {
            let _ = state.decide(command, &ctx);
        }
    }
}
