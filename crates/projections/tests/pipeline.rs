//! Pipeline and forecast, given/when/then.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use crm_domain::forecast::{AdjustmentRole, ForecastCommand};
use crm_domain::lead::{Campaign, ConversionRequest, LeadCommand, LeadSource, LeadSubmission};
use crm_domain::opportunity::{
    ForecastCategory, LossReason, OpportunityCommand, Pipeline, StageId,
};
use crm_domain::routing::{
    AssignmentStrategy, CandidateVerdict, RoutingDecision, RoutingOutcome, Verdict,
};
use crm_domain::{
    Channel, ContactId, Currency, ForecastId, LeadId, Money, OpportunityId, TeamId, UserId,
};
use uuid::Uuid;

use crm_projections::pipeline::query::{
    ByStageAndOwner, DealSum, Forecast, ForecastRow, Funnel, Period, PeriodKind, StageOwnerRow,
    TimeInStage, WinCount, WinRate,
};
use crm_projections::pipeline::*;
use crm_projections::{DocKey, MemoryDocuments};
use crm_testkit::scenario::forecast;
use crm_testkit::world::{ALICE, World, as_system, as_user, tenant};

const BOB: UserId = UserId(Uuid::from_u128(0xb0b));

fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

fn day(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 9, 0, 0).unwrap()
}

fn date(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

fn deal(n: u128) -> Uuid {
    Uuid::from_u128(0xd00 + n)
}

fn open(
    world: &mut World,
    n: u128,
    owner: UserId,
    minor: i64,
    close: NaiveDate,
    at: DateTime<Utc>,
) {
    world
        .opportunity(
            deal(n),
            OpportunityCommand::Open {
                opportunity: OpportunityId(deal(n)),
                name: format!("Deal {n}"),
                contact: ContactId(Uuid::from_u128(0xc)),
                company: None,
                owner,
                amount: Money::new(minor, eur()),
                expected_close: close,
                pipeline: Pipeline::default(),
                stage: None,
            },
            &as_user(owner, at),
        )
        .unwrap();
}

fn move_to(world: &mut World, n: u128, stage: &str, at: DateTime<Utc>) {
    world
        .opportunity(
            deal(n),
            OpportunityCommand::ChangeStage {
                to: StageId::new(stage),
            },
            &as_user(ALICE, at),
        )
        .unwrap();
}

fn win(world: &mut World, n: u128, at: DateTime<Utc>) {
    world
        .opportunity(deal(n), OpportunityCommand::Win, &as_user(ALICE, at))
        .unwrap();
}

fn lose(world: &mut World, n: u128, at: DateTime<Utc>) {
    world
        .opportunity(
            deal(n),
            OpportunityCommand::Lose {
                reason: LossReason::Price,
            },
            &as_user(ALICE, at),
        )
        .unwrap();
}

fn fold(world: &World) -> MemoryDocuments<PipelineModel> {
    MemoryDocuments::fold(PipelineModel, world.events()).unwrap()
}

fn sum(count: u32, total: i64, weighted: i64) -> DealSum {
    DealSum {
        count,
        total: Money::new(total, eur()),
        weighted: Money::new(weighted, eur()),
        overflowed: false,
    }
}

#[test]
fn open_deals_are_summed_by_stage_and_owner_with_their_stamped_probability() {
    let mut world = World::new();
    open(&mut world, 1, ALICE, 1_000, date(4, 30), day(3, 2));
    open(&mut world, 2, ALICE, 3_000, date(4, 30), day(3, 2));
    open(&mut world, 3, BOB, 2_000, date(4, 30), day(3, 2));
    move_to(&mut world, 3, "proposal", day(3, 3));
    open(&mut world, 4, BOB, 9_999, date(4, 30), day(3, 2));
    win(&mut world, 4, day(3, 4));

    let rows = fold(&world).scan(&tenant(), &ByStageAndOwner::default());
    assert_eq!(
        rows,
        vec![
            StageOwnerRow {
                stage: StageId::new("proposal"),
                owner: BOB,
                currency: eur(),
                sum: sum(1, 2_000, 1_000),
            },
            StageOwnerRow {
                stage: StageId::new("prospecting"),
                owner: ALICE,
                currency: eur(),
                sum: sum(2, 4_000, 400),
            },
        ]
    );
}

#[test]
fn a_stage_s_new_default_probability_never_re_prices_a_deal_already_in_it() {
    let mut world = World::new();
    open(&mut world, 1, ALICE, 1_000, date(4, 30), day(3, 2));
    let mut repriced = Pipeline {
        version: 2,
        ..Pipeline::default()
    };
    for stage in &mut repriced.stages {
        if stage.id.as_str() == "prospecting" {
            stage.probability = crm_domain::Probability::new(90).unwrap();
        }
    }
    world
        .opportunity(
            deal(1),
            OpportunityCommand::UpgradePipeline { pipeline: repriced },
            &as_user(ALICE, day(3, 3)),
        )
        .unwrap();
    let rows = fold(&world).scan(&tenant(), &ByStageAndOwner { owner: Some(ALICE) });
    assert_eq!(rows[0].sum, sum(1, 1_000, 100));
}

#[test]
fn the_forecast_is_split_by_category_and_quarter() {
    let mut world = World::new();
    open(&mut world, 1, ALICE, 1_000, date(2, 10), day(1, 5));
    move_to(&mut world, 1, "negotiation", day(1, 6));
    open(&mut world, 2, ALICE, 2_000, date(3, 31), day(1, 5));
    move_to(&mut world, 2, "proposal", day(1, 7));
    open(&mut world, 3, BOB, 4_000, date(4, 1), day(1, 5));
    open(&mut world, 4, BOB, 8_000, date(9, 1), day(1, 5));
    win(&mut world, 4, day(3, 15));
    open(&mut world, 5, BOB, 100, date(2, 1), day(1, 5));
    lose(&mut world, 5, day(2, 1));

    let forecast = fold(&world).scan(
        &tenant(),
        &Forecast {
            period: PeriodKind::Quarter,
            from: date(1, 1),
            to: date(7, 1),
            owner: None,
        },
    );
    let q1 = Period::quarter(2026, 1).unwrap();
    let q2 = Period::quarter(2026, 2).unwrap();
    let row = |period, category, sum| ForecastRow {
        period,
        category,
        currency: eur(),
        sum,
        owner_adjusted: None,
        manager_adjusted: None,
    };
    assert_eq!(
        forecast,
        vec![
            row(q1, ForecastCategory::BestCase, sum(1, 2_000, 1_000)),
            row(q1, ForecastCategory::Commit, sum(1, 1_000, 700)),
            row(q1, ForecastCategory::Closed, sum(1, 8_000, 8_000)),
            row(q2, ForecastCategory::Pipeline, sum(1, 4_000, 400)),
        ],
        "won by the date it was won, open by the expected close, lost left out"
    );

    let by_month = fold(&world).scan(
        &tenant(),
        &Forecast {
            period: PeriodKind::Month,
            from: date(3, 1),
            to: date(4, 1),
            owner: Some(ALICE),
        },
    );
    assert_eq!(
        by_month,
        vec![row(
            Period::month(2026, 3).unwrap(),
            ForecastCategory::BestCase,
            sum(1, 2_000, 1_000)
        )]
    );
}

#[test]
fn the_win_rate_counts_deals_closed_in_the_period() {
    let mut world = World::new();
    for n in 1..=4 {
        open(
            &mut world,
            n,
            if n % 2 == 0 { BOB } else { ALICE },
            100,
            date(4, 1),
            day(1, 5),
        );
    }
    win(&mut world, 1, day(2, 1));
    win(&mut world, 2, day(2, 2));
    lose(&mut world, 3, day(2, 3));
    lose(&mut world, 4, day(5, 1));

    let rates = fold(&world).scan(
        &tenant(),
        &WinRate {
            from: day(2, 1),
            to: day(3, 1),
        },
    );
    assert_eq!(rates.overall, WinCount { won: 2, lost: 1 });
    assert_eq!(rates.overall.basis_points(), Some(6_666));
    assert_eq!(
        rates.by_owner,
        vec![
            (BOB, WinCount { won: 1, lost: 0 }),
            (ALICE, WinCount { won: 1, lost: 1 })
        ]
    );
}

#[test]
fn time_in_stage_averages_every_stay_that_ended() {
    let mut world = World::new();
    open(&mut world, 1, ALICE, 100, date(4, 1), day(1, 1));
    move_to(&mut world, 1, "qualification", day(1, 5));
    move_to(&mut world, 1, "prospecting", day(1, 6));
    move_to(&mut world, 1, "qualification", day(1, 8));
    open(&mut world, 2, ALICE, 100, date(4, 1), day(1, 1));
    win(&mut world, 2, day(1, 11));

    let times = fold(&world).scan(&tenant(), &TimeInStage);
    let prospecting = times
        .iter()
        .find(|time| time.stage.as_str() == "prospecting")
        .unwrap();
    assert_eq!(prospecting.stays, 3);
    assert_eq!(prospecting.total, TimeDelta::days(4 + 2 + 10));
    assert_eq!(prospecting.average_days(), Some(5));
    let qualification = times
        .iter()
        .find(|time| time.stage.as_str() == "qualification")
        .unwrap();
    assert_eq!(qualification.stays, 1, "the current stay has not ended");
    assert!(times.iter().all(|time| time.stage.as_str() != "closed_won"));
}

fn lead(
    world: &mut World,
    n: u128,
    received: DateTime<Utc>,
    touch_after: Option<i64>,
    convert: Option<bool>,
) {
    let id = Uuid::from_u128(0x1ead0 + n);
    let system = as_system(received);
    world
        .lead(
            id,
            LeadCommand::Receive {
                lead_id: LeadId(id),
                source: LeadSource {
                    system: "web-form".into(),
                    external_event_id: n.to_string(),
                },
                raw_payload: serde_json::json!({}),
                requested_at: received,
            },
            &system,
        )
        .unwrap();
    world
        .lead(
            id,
            LeadCommand::Capture {
                submission: LeadSubmission {
                    email: Some(format!("prospect{n}@example.com")),
                    ..LeadSubmission::default()
                },
                campaign: Campaign::default(),
                default_region: crm_domain::identity::CountryCode::new("GB").unwrap(),
            },
            &system,
        )
        .unwrap();
    world
        .lead(
            id,
            LeadCommand::Route {
                decision: RoutingDecision {
                    rule: None,
                    team: TeamId(Uuid::from_u128(1)),
                    strategy: AssignmentStrategy::WeightedRoundRobin,
                    candidates: vec![CandidateVerdict {
                        rep: BOB,
                        verdict: Verdict::Chosen,
                    }],
                    outcome: RoutingOutcome::Assigned { rep: BOB },
                    preferred: None,
                },
            },
            &system,
        )
        .unwrap();
    if let Some(minutes) = touch_after {
        world
            .lead(
                id,
                LeadCommand::LogFirstTouch {
                    channel: Channel::Phone,
                },
                &as_user(BOB, received + TimeDelta::minutes(minutes)),
            )
            .unwrap();
    }
    if let Some(open_opportunity) = convert {
        world
            .lead(
                id,
                LeadCommand::Convert(ConversionRequest {
                    existing_contact: None,
                    open_opportunity,
                }),
                &as_user(BOB, received + TimeDelta::hours(2)),
            )
            .unwrap();
    }
}

#[test]
fn the_funnel_gives_conversion_and_response_time_percentiles() {
    let mut world = World::new();
    for (n, minutes) in [1, 2, 3, 4, 5, 6, 7, 8, 9, 60].into_iter().enumerate() {
        let n = u128::try_from(n).unwrap();
        let convert = match n {
            0..=2 => Some(true),
            3 => Some(false),
            _ => None,
        };
        lead(&mut world, n, day(3, 2), Some(minutes), convert);
    }
    lead(&mut world, 99, day(3, 2), None, None);
    lead(&mut world, 100, day(4, 2), Some(1), Some(true));

    let funnel = fold(&world).scan(
        &tenant(),
        &Funnel {
            from: day(3, 1),
            to: day(4, 1),
        },
    );
    assert_eq!(funnel.received, 11);
    assert_eq!(funnel.captured, 11);
    assert_eq!(funnel.converted, 4);
    assert_eq!(funnel.converted_to_opportunity, 3);
    assert_eq!(funnel.conversion_basis_points(), Some(2_727));
    assert_eq!(funnel.response.touched, 10);
    assert_eq!(funnel.response.median, Some(TimeDelta::minutes(5)));
    assert_eq!(funnel.response.p90, Some(TimeDelta::minutes(9)));
}

// --- Forecast calls ---------------------------------------------------------------------------

const CAROL: UserId = UserId(Uuid::from_u128(0xca201));

fn forecast_of(n: u128) -> Uuid {
    Uuid::from_u128(0xf0c0 + n)
}

/// Opens forecast `n` of `owner` for `period`, managed by Carol.
fn open_forecast(world: &mut World, n: u128, owner: UserId, period: Period, at: DateTime<Utc>) {
    forecast(
        world,
        forecast_of(n),
        ForecastCommand::Open {
            forecast: ForecastId(forecast_of(n)),
            owner,
            manager: Some(CAROL),
            period,
            currency: eur(),
        },
        &as_system(at),
    )
    .unwrap();
}

fn call(
    world: &mut World,
    n: u128,
    by: UserId,
    role: AdjustmentRole,
    category: ForecastCategory,
    minor: i64,
) {
    forecast(
        world,
        forecast_of(n),
        ForecastCommand::Adjust {
            category,
            amount: Money::new(minor, eur()),
            role,
            reason: "what I hear from the buyers".into(),
        },
        &as_user(by, day(3, 20)),
    )
    .unwrap();
}

fn quarterly(owner: Option<UserId>) -> Forecast {
    Forecast {
        period: PeriodKind::Quarter,
        from: date(4, 1),
        to: date(7, 1),
        owner,
    }
}

fn q2() -> Period {
    Period::quarter(2026, 2).unwrap()
}

#[test]
fn owner_and_manager_calls_stand_next_to_the_computed_figure_never_in_it() {
    let mut world = World::new();
    open(&mut world, 1, ALICE, 1_000, date(5, 10), day(3, 2));
    move_to(&mut world, 1, "negotiation", day(3, 3));
    open_forecast(&mut world, 1, ALICE, q2(), day(3, 1));
    call(
        &mut world,
        1,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Commit,
        1_500,
    );
    call(
        &mut world,
        1,
        CAROL,
        AdjustmentRole::Manager,
        ForecastCategory::Commit,
        1_200,
    );
    call(
        &mut world,
        1,
        CAROL,
        AdjustmentRole::Manager,
        ForecastCategory::BestCase,
        4_000,
    );

    let rows = fold(&world).scan(&tenant(), &quarterly(Some(ALICE)));
    assert_eq!(
        rows,
        vec![
            ForecastRow {
                period: q2(),
                category: ForecastCategory::BestCase,
                currency: eur(),
                sum: sum(0, 0, 0),
                owner_adjusted: None,
                manager_adjusted: Some(Money::new(4_000, eur())),
            },
            ForecastRow {
                period: q2(),
                category: ForecastCategory::Commit,
                currency: eur(),
                sum: sum(1, 1_000, 700),
                owner_adjusted: Some(Money::new(1_500, eur())),
                manager_adjusted: Some(Money::new(1_200, eur())),
            },
        ],
        "a call without deals is a row of its own with nothing computed"
    );
}

#[test]
fn a_new_call_replaces_the_old_one_and_a_withdrawn_call_is_gone() {
    let mut world = World::new();
    open(&mut world, 1, ALICE, 1_000, date(5, 10), day(3, 2));
    open_forecast(&mut world, 1, ALICE, q2(), day(3, 1));
    call(
        &mut world,
        1,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Pipeline,
        9_000,
    );
    call(
        &mut world,
        1,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Pipeline,
        2_000,
    );
    call(
        &mut world,
        1,
        CAROL,
        AdjustmentRole::Manager,
        ForecastCategory::Pipeline,
        1_800,
    );
    let rows = fold(&world).scan(&tenant(), &quarterly(Some(ALICE)));
    assert_eq!(rows[0].owner_adjusted, Some(Money::new(2_000, eur())));

    forecast(
        &mut world,
        forecast_of(1),
        ForecastCommand::WithdrawAdjustment {
            category: ForecastCategory::Pipeline,
            role: AdjustmentRole::Owner,
        },
        &as_user(ALICE, day(3, 21)),
    )
    .unwrap();
    let rows = fold(&world).scan(&tenant(), &quarterly(Some(ALICE)));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sum, sum(1, 1_000, 100));
    assert_eq!(rows[0].owner_adjusted, None);
    assert_eq!(rows[0].manager_adjusted, Some(Money::new(1_800, eur())));
}

#[test]
fn calls_belong_to_their_owner_their_period_kind_and_their_dates() {
    let mut world = World::new();
    open(&mut world, 1, ALICE, 1_000, date(5, 10), day(3, 2));
    open(&mut world, 2, BOB, 3_000, date(5, 10), day(3, 2));
    open_forecast(&mut world, 1, ALICE, q2(), day(3, 1));
    call(
        &mut world,
        1,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Pipeline,
        5_000,
    );
    open_forecast(
        &mut world,
        2,
        ALICE,
        Period::month(2026, 5).unwrap(),
        day(3, 1),
    );
    call(
        &mut world,
        2,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Pipeline,
        700,
    );
    open_forecast(
        &mut world,
        3,
        ALICE,
        Period::quarter(2026, 3).unwrap(),
        day(3, 1),
    );
    call(
        &mut world,
        3,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Pipeline,
        800,
    );

    let everyone = fold(&world).scan(&tenant(), &quarterly(None));
    assert_eq!(everyone.len(), 1);
    assert_eq!(everyone[0].sum, sum(2, 4_000, 400));
    assert_eq!(
        (everyone[0].owner_adjusted, everyone[0].manager_adjusted),
        (None, None),
        "calls are per owner: the forecast of everyone carries none"
    );

    let bob = fold(&world).scan(&tenant(), &quarterly(Some(BOB)));
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].owner_adjusted, None);

    let alice = fold(&world).scan(&tenant(), &quarterly(Some(ALICE)));
    assert_eq!(alice.len(), 1, "Q3 lies outside the dates asked for");
    assert_eq!(alice[0].owner_adjusted, Some(Money::new(5_000, eur())));

    let alice_by_month = fold(&world).scan(
        &tenant(),
        &Forecast {
            period: PeriodKind::Month,
            from: date(4, 1),
            to: date(7, 1),
            owner: Some(ALICE),
        },
    );
    assert_eq!(
        alice_by_month.len(),
        1,
        "the monthly view reads the monthly call"
    );
    assert_eq!(
        alice_by_month[0].owner_adjusted,
        Some(Money::new(700, eur()))
    );
}

#[test]
fn of_two_forecasts_for_the_same_owner_and_period_the_one_opened_last_counts() {
    let mut world = World::new();
    open_forecast(&mut world, 2, ALICE, q2(), day(3, 5));
    call(
        &mut world,
        2,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Commit,
        2_000,
    );
    open_forecast(&mut world, 1, ALICE, q2(), day(3, 1));
    call(
        &mut world,
        1,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Commit,
        1_000,
    );

    let rows = fold(&world).scan(&tenant(), &quarterly(Some(ALICE)));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].owner_adjusted, Some(Money::new(2_000, eur())));
}

#[test]
fn a_stored_forecast_event_decodes_and_folds() {
    let mut world = World::new();
    open_forecast(&mut world, 1, ALICE, q2(), day(3, 1));
    call(
        &mut world,
        1,
        ALICE,
        AdjustmentRole::Owner,
        ForecastCategory::Commit,
        1_000,
    );
    let stored: Vec<crm_projections::ProjectedEvent> = world
        .events()
        .iter()
        .map(|event| {
            let crm_projections::CrmEvent::Forecast(forecast) = &event.event else {
                panic!("only forecast events were recorded");
            };
            let encoded = crm_domain::encode(forecast).unwrap();
            crm_projections::ProjectedEvent::decode(
                event.global_position(),
                event.recorded_at,
                event.tenant.clone(),
                &event.stream.to_string(),
                encoded.event_type,
                encoded.schema_version,
                encoded.payload,
            )
            .unwrap()
        })
        .collect();
    assert_eq!(stored, world.events());
    let store = MemoryDocuments::fold(PipelineModel, &stored).unwrap();
    let Some(PipelineDoc::Forecast(doc)) =
        store.get(&tenant(), &DocKey::new(FORECAST, forecast_of(1)))
    else {
        panic!("the forecast document is missing");
    };
    assert_eq!(doc.owner, ALICE);
    assert_eq!(doc.manager, Some(CAROL));
    assert_eq!(
        doc.owner_adjusted.get(&ForecastCategory::Commit),
        Some(&Money::new(1_000, eur()))
    );
    let json =
        serde_json::to_value(store.get(&tenant(), &DocKey::new(FORECAST, forecast_of(1)))).unwrap();
    let back: Option<PipelineDoc> = serde_json::from_value(json).unwrap();
    assert_eq!(
        back.as_ref(),
        store.get(&tenant(), &DocKey::new(FORECAST, forecast_of(1)))
    );
}
