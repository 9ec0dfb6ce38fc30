//! SLA read model, given/when/then: commands through the aggregates, the SLA as of an
//! instant out.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use crm_domain::lead::{LeadCommand, LeadSource};
use crm_domain::routing::{
    AssignmentStrategy, CandidateVerdict, RoutingDecision, RoutingOutcome, Verdict,
};
use crm_domain::sla::{
    BusinessCalendar, ClockPhase, ItemKind, ItemSla, PolicyFilter, PolicyRef, PolicyVersion,
    SlaHealth, SlaMetric, SlaPolicy, SlaPolicyId,
};
use crm_domain::ticket::{TicketCommand, TicketStatus};
use crm_domain::{Channel, ContactId, LeadId, Priority, TeamId, TicketId, UserId};
use uuid::Uuid;

use crm_projections::MemoryDocuments;
use crm_projections::sla::query::{
    AtRiskList, Attainment, AttainmentBy, AttainmentGroup, AttainmentRow, BreachList, ItemHealth,
    ItemQuery, ItemStatus, OpenItems, SlaCursor,
};
use crm_projections::sla::*;
use crm_testkit::world::{ALICE, World, as_system, as_user, tenant};

const BOB: UserId = UserId(Uuid::from_u128(0xb0b));
const SUPPORT: TeamId = TeamId(Uuid::from_u128(0x5u128));
const POLICY: SlaPolicyId = SlaPolicyId(Uuid::from_u128(0x0090_11c7));

/// Monday 2 March 2026 at `hour:minute`, London (UTC in winter).
fn monday(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, minute, 0).unwrap()
}

fn friday_before(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 27, hour, minute, 0).unwrap()
}

/// Weekdays 09:00-17:00, London.
fn office_hours() -> BusinessCalendar {
    let day = serde_json::json!([{"start": "09:00", "end": "17:00"}]);
    serde_json::from_value(serde_json::json!({
        "time_zone": "Europe/London",
        "week": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day},
    }))
    .unwrap()
}

fn policy(version: u32, first_response: TimeDelta) -> SlaPolicy {
    SlaPolicy::new(
        PolicyRef {
            id: POLICY,
            version: PolicyVersion(version),
        },
        "support",
        office_hours(),
    )
    .with_filter(PolicyFilter::any())
    .with_target(Priority::High, SlaMetric::FirstResponse, first_response)
    .unwrap()
    .with_target(Priority::High, SlaMetric::NextResponse, TimeDelta::hours(2))
    .unwrap()
    .with_target(Priority::High, SlaMetric::Resolution, TimeDelta::hours(8))
    .unwrap()
    .with_target(
        Priority::Urgent,
        SlaMetric::FirstResponse,
        TimeDelta::minutes(15),
    )
    .unwrap()
}

fn config() -> SlaConfig {
    SlaConfig::new()
        .with_policy(policy(1, TimeDelta::hours(1)), None)
        .unwrap()
}

fn open_ticket(world: &mut World, id: Uuid, at: DateTime<Utc>) {
    world
        .ticket(
            id,
            TicketCommand::Open {
                ticket: TicketId(id),
                contact: ContactId(Uuid::from_u128(0xc)),
                subject: "Engine squeaks".into(),
                channel: Channel::Email,
                priority: Priority::High,
                message: Some("help".into()),
                follow_up_of: None,
                account: None,
            },
            &as_system(at),
        )
        .unwrap();
}

fn reply(world: &mut World, id: Uuid, by: UserId, at: DateTime<Utc>) {
    world
        .ticket(
            id,
            TicketCommand::ReplyToCustomer {
                body: "On it".into(),
                channel: Channel::Email,
            },
            &as_user(by, at),
        )
        .unwrap();
}

fn status(world: &mut World, id: Uuid, status: TicketStatus, at: DateTime<Utc>) {
    world
        .ticket(
            id,
            TicketCommand::ChangeStatus { status },
            &as_user(ALICE, at),
        )
        .unwrap();
}

fn store(world: &World, config: &SlaConfig) -> MemoryDocuments<SlaModel> {
    MemoryDocuments::fold(SlaModel::new(config.clone()), world.events()).unwrap()
}

fn item(
    store: &MemoryDocuments<SlaModel>,
    kind: ItemKind,
    id: Uuid,
    now: DateTime<Utc>,
) -> ItemStatus {
    let config = store.model().config();
    store
        .lookup(
            &tenant(),
            &ItemQuery {
                config,
                kind,
                id,
                now,
            },
        )
        .unwrap()
}

fn clock(status: &ItemStatus, metric: SlaMetric) -> &query::ClockView {
    status
        .clocks
        .iter()
        .find(|clock| clock.status.metric == metric)
        .unwrap()
}

const TICKET_A: Uuid = Uuid::from_u128(0x7a);
const TICKET_B: Uuid = Uuid::from_u128(0x7b);

#[test]
fn a_late_reply_dates_the_breach_at_the_deadline_not_at_the_reply() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    reply(&mut world, TICKET_A, ALICE, monday(15, 0));

    let status = item(
        &store(&world, &config()),
        ItemKind::Ticket,
        TICKET_A,
        monday(16, 0),
    );
    assert_eq!(
        clock(&status, SlaMetric::FirstResponse).status.health,
        SlaHealth::Fulfilled {
            at: monday(15, 0),
            breached_at: Some(monday(10, 0)),
        }
    );
}

#[test]
fn a_deadline_passed_without_any_event_is_a_breach_as_of_now() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    let store = store(&world, &config());
    let config = store.model().config();

    let before = store
        .scan(
            &tenant(),
            &BreachList {
                config,
                now: monday(10, 0),
                limit: 10,
                after: None,
            },
        )
        .items;
    assert!(
        before.is_empty(),
        "answering exactly at the deadline is in time"
    );
    let after = store
        .scan(
            &tenant(),
            &BreachList {
                config,
                now: monday(10, 1),
                limit: 10,
                after: None,
            },
        )
        .items;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].health, ItemHealth::Breached);
    assert_eq!(
        clock(&after[0], SlaMetric::FirstResponse).status.health,
        SlaHealth::Breached { at: monday(10, 0) }
    );
}

#[test]
fn the_breach_list_pages_by_cursor_through_equal_deadlines_without_loss_or_repeat() {
    let mut world = World::new();
    // Seven tickets, opened at three instants: equal deadlines, ordered by key within each.
    let mut ids = Vec::new();
    for (n, minute) in [0, 0, 0, 5, 5, 10, 10].into_iter().enumerate() {
        let id = Uuid::from_u128(0x7000 + u128::try_from(n).unwrap());
        open_ticket(&mut world, id, monday(9, minute));
        ids.push(id);
    }
    let store = store(&world, &config());
    let config = store.model().config();
    let now = monday(17, 0);
    let whole = store.scan(
        &tenant(),
        &BreachList {
            config,
            now,
            limit: 100,
            after: None,
        },
    );
    assert_eq!(whole.items.len(), 7);
    assert_eq!(whole.next, None, "one page holds them all");
    for limit in 1..=3 {
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store.scan(
                &tenant(),
                &BreachList {
                    config,
                    now,
                    limit,
                    after,
                },
            );
            assert!(page.items.len() <= limit);
            paged.extend(page.items.iter().map(|item| item.id));
            let Some(next) = page.next else { break };
            // The cursor travels as text.
            after = Some(SlaCursor::parse(&next.to_text()).expect("its own text reads back"));
        }
        let expected: Vec<Uuid> = whole.items.iter().map(|item| item.id).collect();
        assert_eq!(paged, expected, "pages of {limit}");
    }
    for garbage in [
        "",
        "1.2",
        "x.0.ticket:00000000-0000-0000-0000-000000007000",
        "1.-2.ticket:00000000-0000-0000-0000-000000007000",
        "1.1000000000.ticket:00000000-0000-0000-0000-000000007000",
        "1.0.contact:00000000-0000-0000-0000-000000007000",
    ] {
        assert_eq!(SlaCursor::parse(garbage), None, "{garbage:?}");
    }
}

#[test]
fn deadlines_count_business_hours_only() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, friday_before(16, 30));
    let status = item(
        &store(&world, &config()),
        ItemKind::Ticket,
        TICKET_A,
        friday_before(16, 45),
    );
    assert_eq!(
        status.deadline,
        Some(monday(9, 30)),
        "30 minutes on Friday, 30 on Monday"
    );
    assert_eq!(status.health, ItemHealth::OnTrack);
}

#[test]
fn waiting_on_the_customer_pauses_the_clock_and_moves_the_deadline() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    status(&mut world, TICKET_A, TicketStatus::Pending, monday(9, 30));
    world
        .ticket(
            TICKET_A,
            TicketCommand::RecordCustomerReply {
                from: ContactId(Uuid::from_u128(0xc)),
                body: "here you are".into(),
                channel: Channel::Phone,
            },
            &as_system(monday(11, 0)),
        )
        .unwrap();

    let status = item(
        &store(&world, &config()),
        ItemKind::Ticket,
        TICKET_A,
        monday(11, 10),
    );
    let first = clock(&status, SlaMetric::FirstResponse);
    assert_eq!(first.status.deadline, Some(monday(11, 30)));
    assert_eq!(first.paused, TimeDelta::minutes(90));
    assert_eq!(first.status.elapsed, TimeDelta::minutes(40));
}

#[test]
fn at_risk_starts_at_eighty_percent_of_the_target() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    open_ticket(&mut world, TICKET_B, monday(9, 5));
    let store = store(&world, &config());
    let config = store.model().config();
    let at_risk = |now| {
        store
            .scan(
                &tenant(),
                &AtRiskList {
                    config,
                    now,
                    limit: 10,
                    after: None,
                },
            )
            .items
            .iter()
            .map(|item| item.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(at_risk(monday(9, 47)), Vec::<Uuid>::new());
    assert_eq!(at_risk(monday(9, 48)), vec![TICKET_A]);
    assert_eq!(
        at_risk(monday(9, 53)),
        vec![TICKET_A, TICKET_B],
        "earliest deadline first"
    );
    assert_eq!(
        at_risk(monday(10, 1)),
        vec![TICKET_B],
        "a breached item leaves the at-risk list"
    );
}

#[test]
fn an_automatic_acknowledgement_does_not_answer_the_customer() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    world
        .ticket(
            TICKET_A,
            TicketCommand::ReplyToCustomer {
                body: "We got your message".into(),
                channel: Channel::Email,
            },
            &as_system(monday(9, 1)),
        )
        .unwrap();
    let status = item(
        &store(&world, &config()),
        ItemKind::Ticket,
        TICKET_A,
        monday(9, 30),
    );
    assert_eq!(
        clock(&status, SlaMetric::FirstResponse).status.health,
        SlaHealth::OnTrack
    );
}

#[test]
fn a_lead_is_measured_from_the_request_to_the_first_touch() {
    let mut world = World::new();
    let lead = Uuid::from_u128(0x1ead);
    world
        .lead(
            lead,
            LeadCommand::Receive {
                lead_id: LeadId(lead),
                source: LeadSource {
                    system: "web-form".into(),
                    external_event_id: "1".into(),
                },
                raw_payload: serde_json::json!({}),
                requested_at: monday(9, 58),
            },
            &as_system(monday(10, 0)),
        )
        .unwrap();
    let store = store(&world, &config());
    let status = item(&store, ItemKind::Lead, lead, monday(10, 4));
    let touch = clock(&status, SlaMetric::LeadFirstTouch);
    assert_eq!(
        touch.status.deadline,
        Some(monday(10, 3)),
        "five minutes from the request"
    );
    assert_eq!(status.health, ItemHealth::Breached);
}

#[test]
fn attainment_is_counted_per_agent_in_the_period_of_the_outcome() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    open_ticket(&mut world, TICKET_B, monday(9, 0));
    world
        .ticket(
            TICKET_A,
            TicketCommand::Assign { assignee: ALICE },
            &as_user(ALICE, monday(9, 1)),
        )
        .unwrap();
    world
        .ticket(
            TICKET_B,
            TicketCommand::Assign { assignee: BOB },
            &as_user(BOB, monday(9, 1)),
        )
        .unwrap();
    reply(&mut world, TICKET_A, ALICE, monday(9, 30));
    reply(&mut world, TICKET_B, BOB, monday(12, 0));
    let store = store(&world, &config());
    let config = store.model().config();
    let rows = store.scan(
        &tenant(),
        &Attainment {
            config,
            from: monday(0, 0),
            to: monday(23, 59),
            now: monday(13, 0),
            by: AttainmentBy::Agent,
        },
    );
    assert_eq!(
        rows,
        vec![
            AttainmentRow {
                group: AttainmentGroup::Agent(Some(BOB)),
                metric: SlaMetric::FirstResponse,
                met: 0,
                missed: 1
            },
            AttainmentRow {
                group: AttainmentGroup::Agent(Some(ALICE)),
                metric: SlaMetric::FirstResponse,
                met: 1,
                missed: 0
            },
        ]
    );
    assert_eq!(rows[1].basis_points(), Some(10_000));
    let by_priority = store.scan(
        &tenant(),
        &Attainment {
            config,
            from: monday(0, 0),
            to: monday(10, 0),
            now: monday(13, 0),
            by: AttainmentBy::Priority,
        },
    );
    assert_eq!(
        by_priority,
        vec![AttainmentRow {
            group: AttainmentGroup::Priority(Priority::High),
            metric: SlaMetric::FirstResponse,
            met: 1,
            missed: 0
        }],
        "the breach at 10:00 lies outside [0:00, 10:00)"
    );
}

#[test]
fn an_item_stays_on_the_policy_version_in_effect_when_it_opened() {
    let config = config()
        .with_policy(policy(2, TimeDelta::hours(3)), Some(monday(12, 0)))
        .unwrap();
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    open_ticket(&mut world, TICKET_B, monday(12, 0));
    let store = store(&world, &config);
    let a = item(&store, ItemKind::Ticket, TICKET_A, monday(12, 0));
    let b = item(&store, ItemKind::Ticket, TICKET_B, monday(12, 0));
    assert_eq!(a.policy.unwrap().version, PolicyVersion(1));
    assert_eq!(b.policy.unwrap().version, PolicyVersion(2));
    assert_eq!(b.deadline, Some(monday(15, 0)));
}

#[test]
fn solved_items_leave_the_open_list_and_items_without_a_policy_say_so() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    open_ticket(&mut world, TICKET_B, monday(9, 5));
    reply(&mut world, TICKET_A, ALICE, monday(9, 10));
    status(&mut world, TICKET_A, TicketStatus::Solved, monday(9, 20));
    let store = store(&world, &config());
    let config = store.model().config();
    let open = store.scan(
        &tenant(),
        &OpenItems {
            config,
            kind: None,
            now: monday(9, 30),
            limit: 10,
        },
    );
    assert_eq!(
        open.iter().map(|item| item.id).collect::<Vec<_>>(),
        vec![TICKET_B]
    );

    let unconfigured =
        MemoryDocuments::fold(SlaModel::new(SlaConfig::new()), world.events()).unwrap();
    let status = item(&unconfigured, ItemKind::Ticket, TICKET_A, monday(9, 30));
    assert_eq!(status.problem, Some(SlaProblem::NoPolicy));
    assert!(status.clocks.is_empty());
}

#[test]
fn several_items_are_read_in_one_lookup_for_a_customer_s_tickets() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    open_ticket(&mut world, TICKET_B, monday(9, 30));
    let store = store(&world, &config());
    let items = vec![
        (ItemKind::Ticket, TICKET_B),
        (ItemKind::Ticket, Uuid::from_u128(0xdead)),
        (ItemKind::Ticket, TICKET_A),
    ];
    let statuses = store.lookup(
        &tenant(),
        &query::ItemsQuery {
            config: store.model().config(),
            items,
            now: monday(10, 20),
        },
    );
    let health: Vec<_> = statuses
        .iter()
        .map(|status| (status.id, status.health))
        .collect();
    assert_eq!(
        health,
        vec![
            (TICKET_B, ItemHealth::AtRisk),
            (TICKET_A, ItemHealth::Breached)
        ]
    );
}

#[test]
fn an_event_dated_before_the_item_s_last_input_counts_at_that_input() {
    let mut world = World::new();
    open_ticket(&mut world, TICKET_A, monday(9, 0));
    status(&mut world, TICKET_A, TicketStatus::Pending, monday(9, 30));
    // Another agent's clock runs late: the reply is dated before the status change.
    reply(&mut world, TICKET_A, BOB, monday(9, 10));

    let status = item(
        &store(&world, &config()),
        ItemKind::Ticket,
        TICKET_A,
        monday(9, 40),
    );
    assert_eq!(
        status.problem, None,
        "the engine never sees an input out of order"
    );
    assert_eq!(
        clock(&status, SlaMetric::FirstResponse).status.health,
        SlaHealth::Fulfilled {
            at: monday(9, 30),
            breached_at: None
        }
    );
}

#[test]
fn a_lead_carries_its_routing_team_and_rep() {
    let mut world = World::new();
    let lead = Uuid::from_u128(0x1ead);
    world
        .lead(
            lead,
            LeadCommand::Receive {
                lead_id: LeadId(lead),
                source: LeadSource {
                    system: "web-form".into(),
                    external_event_id: "1".into(),
                },
                raw_payload: serde_json::json!({}),
                requested_at: monday(9, 0),
            },
            &as_system(monday(9, 0)),
        )
        .unwrap();
    world
        .lead(
            lead,
            LeadCommand::Capture {
                submission: crm_domain::lead::LeadSubmission {
                    email: Some("prospect@example.com".into()),
                    ..Default::default()
                },
                campaign: crm_domain::lead::Campaign::default(),
                default_region: crm_domain::identity::CountryCode::new("GB").unwrap(),
            },
            &as_system(monday(9, 0)),
        )
        .unwrap();
    world
        .lead(
            lead,
            LeadCommand::Route {
                decision: RoutingDecision {
                    rule: None,
                    team: SUPPORT,
                    strategy: AssignmentStrategy::LeastLoaded,
                    candidates: vec![CandidateVerdict {
                        rep: BOB,
                        verdict: Verdict::Chosen,
                    }],
                    outcome: RoutingOutcome::Assigned { rep: BOB },
                    preferred: None,
                },
            },
            &as_system(monday(9, 1)),
        )
        .unwrap();
    let status = item(
        &store(&world, &config()),
        ItemKind::Lead,
        lead,
        monday(9, 2),
    );
    assert_eq!(status.team, Some(SUPPORT));
    assert_eq!(status.agent, Some(BOB));
}

/// The item's deadline and at-risk instant as every running clock would give them, none
/// skipped: what the model, which skips clocks that cannot be at risk first, must equal.
fn urgency_of_every_clock(
    sla: &ItemSla,
    policy: &SlaPolicy,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let calendar = policy.calendar();
    let mut deadline = None;
    let mut at_risk_from = None;
    for clock in sla.clocks().iter().filter(|clock| !clock.is_fulfilled()) {
        deadline = earliest(deadline, clock.breached_at().or(clock.due_at()));
        if let (
            ClockPhase::Running {
                since,
                due_at: Some(_),
            },
            Some(target),
        ) = (clock.phase(), clock.target())
        {
            let risk = clock.elapsed_at(calendar, since).ok().and_then(|used| {
                let left = (at_risk_threshold(target) - used).max(TimeDelta::zero());
                calendar.add_business_time(since, left).ok()
            });
            at_risk_from = earliest(at_risk_from, risk);
        }
    }
    (deadline, at_risk_from)
}

/// 80 % of `target`, rounded up to the nanosecond.
fn at_risk_threshold(target: TimeDelta) -> TimeDelta {
    let nanos =
        i128::from(target.num_seconds()) * 1_000_000_000 + i128::from(target.subsec_nanos());
    let threshold = (nanos * 4 + 4) / 5;
    i64::try_from(threshold).map_or(target, TimeDelta::nanoseconds)
}

fn earliest(
    current: Option<DateTime<Utc>>,
    candidate: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (current, candidate) {
        (Some(current), Some(candidate)) => Some(current.min(candidate)),
        (current, candidate) => current.or(candidate),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn skipping_clocks_that_cannot_be_at_risk_first_changes_no_document(
        scenario in crm_testkit::scenario::arb_scenario(60),
    ) {
        let world = crm_testkit::scenario::play(&scenario);
        let store = MemoryDocuments::fold(
            SlaModel::new(crm_testkit::scenario::sla_config()),
            world.events(),
        )
        .unwrap();
        for stored in store.documents(&tenant()) {
            let Some(sla) = &stored.doc.sla else { continue };
            let policy = store.model().config().version(sla.policy()).unwrap();
            proptest::prop_assert_eq!(
                (stored.doc.deadline, stored.doc.at_risk_from),
                urgency_of_every_clock(sla, policy)
            );
        }
    }
}
