//! Given an item's opening and inputs, then these SLA events and statuses.

use chrono::{TimeDelta, TimeZone};
use chrono_tz::Europe::Berlin;
use uuid::Uuid;

use super::*;
use crate::sla::{
    BusinessCalendar, ClockPhase, OpeningHours, PolicyBook, PolicyFilter, PolicyVersion,
    SlaEventKind, SlaHealth, SlaPolicyId, WeeklyHours,
};

const POLICY: SlaPolicyId = SlaPolicyId(Uuid::from_u128(0x51a));

/// `hh:mm` Berlin time on `day` March 2026 (2 March is a Monday; CET, UTC+1).
fn march(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Berlin
        .with_ymd_and_hms(2026, 3, day, hour, minute, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

/// Berlin office hours, Monday to Friday 09:00-17:00.
fn office() -> BusinessCalendar {
    let day: OpeningHours = "09:00-17:00".parse().unwrap();
    BusinessCalendar::new(Berlin, WeeklyHours::weekdays(&[day]).unwrap()).unwrap()
}

/// Version `version` of the support policy: normal tickets get 4 h / 2 h / 16 h, urgent ones
/// 1 h / 30 min / 4 h, low ones only a 8 h first response; leads get the default first touch.
fn support_policy(version: u32) -> SlaPolicy {
    use Priority::{Low, Normal, Urgent};
    use SlaMetric::{FirstResponse, NextResponse, Resolution};
    let reference = PolicyRef {
        id: POLICY,
        version: PolicyVersion(version),
    };
    [
        (Normal, FirstResponse, hours(4)),
        (Normal, NextResponse, hours(2)),
        (Normal, Resolution, hours(16)),
        (Urgent, FirstResponse, hours(1)),
        (Urgent, NextResponse, minutes(30)),
        (Urgent, Resolution, hours(4)),
        (Low, FirstResponse, hours(8)),
    ]
    .into_iter()
    .try_fold(
        SlaPolicy::new(reference, "support", office()),
        |policy, (priority, metric, within)| policy.with_target(priority, metric, within),
    )
    .unwrap()
}

/// An item under a policy, with the events of the last step kept for checking.
struct Scenario {
    policy: SlaPolicy,
    item: ItemSla,
    last: Result<Vec<SlaEvent>, SlaError>,
}

fn given_opened(kind: ItemKind, priority: Priority, at: DateTime<Utc>) -> Scenario {
    let policy = support_policy(1);
    let (item, events) = ItemSla::open(&policy, &SlaSubject::new(kind, priority), at).unwrap();
    Scenario {
        policy,
        item,
        last: Ok(events),
    }
}

fn given_ticket(priority: Priority, at: DateTime<Utc>) -> Scenario {
    given_opened(ItemKind::Ticket, priority, at)
}

impl Scenario {
    fn when(mut self, input: SlaInput) -> Self {
        self.last = self.item.apply(&self.policy, input);
        self
    }

    fn and(self, input: SlaInput) -> Self {
        self.when(input)
    }

    fn when_tick(mut self, now: DateTime<Utc>) -> Self {
        self.last = self.item.tick(&self.policy, now);
        self
    }

    #[track_caller]
    fn then(self, expected: &[SlaEvent]) -> Self {
        assert_eq!(self.last.as_deref(), Ok(expected));
        self
    }

    #[track_caller]
    fn then_error(self, expected: &SlaError) -> Self {
        assert_eq!(self.last.as_ref().err(), Some(expected));
        self
    }

    fn status(&self, now: DateTime<Utc>, metric: SlaMetric) -> ClockStatus {
        let statuses = self.item.status_at(&self.policy, now).unwrap();
        statuses
            .into_iter()
            .rev()
            .find(|status| status.metric == metric)
            .unwrap()
    }
}

fn agent_replied(at: DateTime<Utc>) -> SlaInput {
    SlaInput::AgentReplied { at }
}

fn customer_replied(at: DateTime<Utc>) -> SlaInput {
    SlaInput::CustomerReplied {
        at,
        channel: Channel::Email,
    }
}

fn status_changed(at: DateTime<Utc>, status: WorkStatus) -> SlaInput {
    SlaInput::StatusChanged { at, status }
}

fn priority_changed(at: DateTime<Utc>, priority: Priority) -> SlaInput {
    SlaInput::PriorityChanged { at, priority }
}

fn event(metric: SlaMetric, cycle: u32, at: DateTime<Utc>, kind: SlaEventKind) -> SlaEvent {
    SlaEvent {
        metric,
        cycle,
        at,
        kind,
    }
}

fn activated(
    metric: SlaMetric,
    at: DateTime<Utc>,
    priority: Priority,
    target: TimeDelta,
    deadline: DateTime<Utc>,
) -> SlaEvent {
    let policy = PolicyRef {
        id: POLICY,
        version: PolicyVersion(1),
    };
    event(
        metric,
        1,
        at,
        SlaEventKind::Activated {
            policy,
            priority,
            target: Some(target),
            deadline: Some(deadline),
        },
    )
}

fn fulfilled(metric: SlaMetric, at: DateTime<Utc>, elapsed: TimeDelta, late: bool) -> SlaEvent {
    event(metric, 1, at, SlaEventKind::Fulfilled { elapsed, late })
}

fn breached(metric: SlaMetric, at: DateTime<Utc>) -> SlaEvent {
    event(metric, 1, at, SlaEventKind::Breached)
}

use SlaMetric::{FirstResponse, LeadFirstTouch, NextResponse, Resolution};

#[test]
fn opening_a_ticket_starts_its_first_response_and_resolution_clocks() {
    given_ticket(Priority::Normal, march(2, 9, 0)).then(&[
        activated(
            FirstResponse,
            march(2, 9, 0),
            Priority::Normal,
            hours(4),
            march(2, 13, 0),
        ),
        activated(
            Resolution,
            march(2, 9, 0),
            Priority::Normal,
            hours(16),
            march(3, 17, 0),
        ),
    ]);
}

#[test]
fn receiving_a_lead_starts_its_first_touch_clock_at_the_default_five_minutes() {
    given_opened(ItemKind::Lead, Priority::Normal, march(2, 10, 0))
        .then(&[activated(
            LeadFirstTouch,
            march(2, 10, 0),
            Priority::Normal,
            minutes(5),
            march(2, 10, 5),
        )])
        .when(SlaInput::FirstTouch {
            at: march(2, 10, 3),
        })
        .then(&[fulfilled(
            LeadFirstTouch,
            march(2, 10, 3),
            minutes(3),
            false,
        )]);
}

#[test]
fn a_lead_arriving_just_before_the_weekend_is_due_on_monday_morning() {
    given_opened(ItemKind::Lead, Priority::Normal, march(6, 16, 58)).then(&[activated(
        LeadFirstTouch,
        march(6, 16, 58),
        Priority::Normal,
        minutes(5),
        march(9, 9, 3),
    )]);
}

#[test]
fn an_agent_reply_counts_as_a_leads_first_touch() {
    given_opened(ItemKind::Lead, Priority::Normal, march(2, 10, 0))
        .when(agent_replied(march(2, 10, 1)))
        .then(&[fulfilled(
            LeadFirstTouch,
            march(2, 10, 1),
            minutes(1),
            false,
        )])
        .when(customer_replied(march(2, 10, 2)))
        .then(&[]);
}

#[test]
fn the_first_agent_reply_fulfils_the_first_response_but_not_the_resolution() {
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 45)))
        .then(&[fulfilled(
            FirstResponse,
            march(2, 9, 45),
            minutes(45),
            false,
        )])
        .when(agent_replied(march(2, 9, 50)))
        .then(&[]);
}

#[test]
fn a_customer_reply_after_an_agent_reply_starts_a_next_response_cycle_that_the_next_agent_reply_fulfils()
 {
    let scenario = given_ticket(Priority::Normal, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 30)))
        .and(customer_replied(march(2, 10, 0)))
        .then(&[activated(
            NextResponse,
            march(2, 10, 0),
            Priority::Normal,
            hours(2),
            march(2, 12, 0),
        )])
        .when(customer_replied(march(2, 10, 10)))
        .then(&[])
        .when(agent_replied(march(2, 11, 0)))
        .then(&[fulfilled(NextResponse, march(2, 11, 0), hours(1), false)])
        .when(customer_replied(march(2, 16, 0)));
    let policy = PolicyRef {
        id: POLICY,
        version: PolicyVersion(1),
    };
    let second = SlaEventKind::Activated {
        policy,
        priority: Priority::Normal,
        target: Some(hours(2)),
        deadline: Some(march(3, 10, 0)),
    };
    scenario.then(&[event(NextResponse, 2, march(2, 16, 0), second)]);
}

#[test]
fn a_customer_reply_before_any_agent_reply_starts_no_next_response() {
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(customer_replied(march(2, 9, 10)))
        .then(&[]);
}

#[test]
fn a_customer_reply_through_any_channel_starts_the_next_response() {
    for channel in [
        Channel::Email,
        Channel::Phone,
        Channel::Sms,
        Channel::Chat,
        Channel::Web,
        Channel::Social,
    ] {
        let scenario = given_ticket(Priority::Normal, march(2, 9, 0))
            .when(agent_replied(march(2, 9, 30)))
            .and(SlaInput::CustomerReplied {
                at: march(2, 10, 0),
                channel,
            });
        let events = scenario.last.unwrap();
        assert_eq!(events.len(), 1, "{channel:?}");
        assert!(
            matches!(events[0].kind, SlaEventKind::Activated { .. }),
            "{channel:?}"
        );
    }
}

#[test]
fn waiting_on_the_customer_pauses_and_reopening_moves_the_deadline_by_the_paused_business_time() {
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(status_changed(
            march(2, 10, 0),
            WorkStatus::WaitingOnCustomer,
        ))
        .then(&[
            event(
                FirstResponse,
                1,
                march(2, 10, 0),
                SlaEventKind::Paused { elapsed: hours(1) },
            ),
            event(
                Resolution,
                1,
                march(2, 10, 0),
                SlaEventKind::Paused { elapsed: hours(1) },
            ),
        ])
        .when(status_changed(march(2, 11, 30), WorkStatus::Open))
        .then(&[
            event(
                FirstResponse,
                1,
                march(2, 11, 30),
                SlaEventKind::Resumed {
                    deadline: Some(march(2, 14, 30)),
                },
            ),
            event(
                Resolution,
                1,
                march(2, 11, 30),
                SlaEventKind::Resumed {
                    deadline: Some(march(4, 10, 30)),
                },
            ),
        ]);
}

#[test]
fn a_pause_over_closed_hours_moves_the_deadline_only_by_the_business_time_it_covered() {
    // Opened Monday 15:00, due Tuesday 11:00; paused Monday 16:00 to Tuesday 10:00, which covers
    // two business hours (16-17 and 9-10), so the deadline moves to 13:00.
    given_ticket(Priority::Normal, march(2, 15, 0))
        .when(status_changed(
            march(2, 16, 0),
            WorkStatus::WaitingOnCustomer,
        ))
        .and(status_changed(march(3, 10, 0), WorkStatus::Open))
        .then(&[
            event(
                FirstResponse,
                1,
                march(3, 10, 0),
                SlaEventKind::Resumed {
                    deadline: Some(march(3, 13, 0)),
                },
            ),
            event(
                Resolution,
                1,
                march(3, 10, 0),
                SlaEventKind::Resumed {
                    deadline: Some(march(4, 17, 0)),
                },
            ),
        ]);
}

#[test]
fn a_paused_clock_never_breaches_and_fulfils_with_the_time_used_before_the_pause() {
    let scenario = given_ticket(Priority::Urgent, march(2, 9, 0))
        .when(status_changed(
            march(2, 9, 20),
            WorkStatus::WaitingOnCustomer,
        ))
        .when_tick(march(6, 12, 0))
        .then(&[]);
    assert!(matches!(
        scenario.status(march(6, 12, 0), FirstResponse).health,
        SlaHealth::Paused { .. }
    ));
    scenario
        .when(agent_replied(march(6, 12, 0)))
        .then(&[fulfilled(
            FirstResponse,
            march(6, 12, 0),
            minutes(20),
            false,
        )]);
}

#[test]
fn solving_fulfils_every_clock_and_closing_starts_nothing_again() {
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 30)))
        .and(customer_replied(march(2, 10, 0)))
        .and(status_changed(march(2, 11, 0), WorkStatus::Solved))
        .then(&[
            fulfilled(Resolution, march(2, 11, 0), hours(2), false),
            fulfilled(NextResponse, march(2, 11, 0), hours(1), false),
        ])
        .when(status_changed(march(2, 11, 5), WorkStatus::Closed))
        .then(&[])
        .when(agent_replied(march(2, 11, 10)))
        .and(customer_replied(march(2, 11, 20)))
        .then(&[]);
}

#[test]
fn a_breach_noticed_by_a_late_reply_is_dated_at_the_deadline() {
    given_ticket(Priority::Urgent, march(2, 9, 0))
        .when(agent_replied(march(2, 11, 0)))
        .then(&[
            breached(FirstResponse, march(2, 10, 0)),
            fulfilled(FirstResponse, march(2, 11, 0), hours(2), true),
        ]);
}

#[test]
fn a_breach_noticed_by_a_tick_is_dated_at_the_deadline_and_only_once() {
    given_ticket(Priority::Urgent, march(2, 9, 0))
        .when_tick(march(2, 10, 0))
        .then(&[])
        .when_tick(march(3, 8, 0))
        .then(&[
            breached(FirstResponse, march(2, 10, 0)),
            breached(Resolution, march(2, 13, 0)),
        ])
        .when_tick(march(3, 9, 0))
        .then(&[]);
}

#[test]
fn replying_exactly_at_the_deadline_is_in_time() {
    given_ticket(Priority::Urgent, march(2, 9, 0))
        .when(agent_replied(march(2, 10, 0)))
        .then(&[fulfilled(FirstResponse, march(2, 10, 0), hours(1), false)]);
}

#[test]
fn an_input_older_than_a_revealed_breach_is_refused_and_changes_nothing() {
    let scenario = given_ticket(Priority::Urgent, march(2, 9, 0)).when_tick(march(2, 11, 0));
    let before = scenario.item.clone();
    let scenario =
        scenario
            .when(agent_replied(march(2, 9, 30)))
            .then_error(&SlaError::InputOutOfOrder {
                at: march(2, 9, 30),
                last: march(2, 10, 0),
            });
    assert_eq!(scenario.item, before);
    // Between the breach and the tick is fine: the reply came after the deadline.
    scenario
        .when(agent_replied(march(2, 10, 30)))
        .then(&[fulfilled(
            FirstResponse,
            march(2, 10, 30),
            minutes(90),
            true,
        )]);
}

#[test]
fn a_priority_change_retargets_from_the_time_already_used_instead_of_restarting() {
    let urgent = |target, deadline| SlaEventKind::Retargeted {
        priority: Priority::Urgent,
        target: Some(target),
        deadline: Some(deadline),
    };
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(priority_changed(march(2, 9, 30), Priority::Urgent))
        .then(&[
            event(
                FirstResponse,
                1,
                march(2, 9, 30),
                urgent(hours(1), march(2, 10, 0)),
            ),
            event(
                Resolution,
                1,
                march(2, 9, 30),
                urgent(hours(4), march(2, 13, 0)),
            ),
        ]);
}

#[test]
fn a_priority_change_keeps_the_paused_time_out_of_the_count() {
    // 30 minutes used before the pause, 15 after it: 15 of the urgent hour remain at 11:45.
    let scenario = given_ticket(Priority::Normal, march(2, 9, 0))
        .when(status_changed(
            march(2, 9, 30),
            WorkStatus::WaitingOnCustomer,
        ))
        .and(status_changed(march(2, 11, 30), WorkStatus::Open))
        .and(priority_changed(march(2, 11, 45), Priority::Urgent));
    let events = scenario.last.as_ref().unwrap();
    let SlaEventKind::Retargeted { deadline, .. } = events[0].kind else {
        panic!("{events:?}")
    };
    assert_eq!(deadline, Some(march(2, 12, 0)));
    assert_eq!(
        scenario.status(march(2, 11, 45), FirstResponse).elapsed,
        minutes(45)
    );
}

#[test]
fn a_priority_change_to_a_target_already_used_up_breaches_at_the_change() {
    // Two hours used; the urgent first response allows one. The ticket could not be late
    // under a target it did not have, so the breach is dated at the change, not at 10:00.
    let first_response = SlaEventKind::Retargeted {
        priority: Priority::Urgent,
        target: Some(hours(1)),
        deadline: None,
    };
    let resolution = SlaEventKind::Retargeted {
        priority: Priority::Urgent,
        target: Some(hours(4)),
        deadline: Some(march(2, 13, 0)),
    };
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(priority_changed(march(2, 11, 0), Priority::Urgent))
        .then(&[
            event(FirstResponse, 1, march(2, 11, 0), first_response),
            breached(FirstResponse, march(2, 11, 0)),
            event(Resolution, 1, march(2, 11, 0), resolution),
        ])
        .when_tick(march(2, 12, 0))
        .then(&[]);
}

#[test]
fn a_breach_stays_when_the_priority_is_lowered_again() {
    let scenario = given_ticket(Priority::Normal, march(2, 9, 0))
        .when(priority_changed(march(2, 11, 0), Priority::Urgent))
        .and(priority_changed(march(2, 11, 10), Priority::Normal));
    let status = scenario.status(march(2, 11, 20), FirstResponse);
    assert_eq!(
        status.health,
        SlaHealth::Breached {
            at: march(2, 11, 0)
        }
    );
    assert_eq!(status.target, Some(hours(4)));
}

#[test]
fn a_fulfilled_clock_is_not_retargeted() {
    let resolution = SlaEventKind::Retargeted {
        priority: Priority::Urgent,
        target: Some(hours(4)),
        deadline: Some(march(2, 13, 0)),
    };
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 5)))
        .and(priority_changed(march(2, 11, 0), Priority::Urgent))
        .then(&[event(Resolution, 1, march(2, 11, 0), resolution)]);
}

#[test]
fn a_priority_without_a_target_leaves_the_clock_measuring_but_never_breaching() {
    let untargeted = SlaEventKind::Retargeted {
        priority: Priority::Low,
        target: None,
        deadline: None,
    };
    let scenario = given_ticket(Priority::Normal, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 5)))
        .and(priority_changed(march(2, 10, 0), Priority::Low))
        .then(&[event(Resolution, 1, march(2, 10, 0), untargeted)])
        .when_tick(march(31, 12, 0))
        .then(&[]);
    let status = scenario.status(march(3, 10, 0), Resolution);
    assert_eq!(
        (status.health, status.target, status.remaining),
        (SlaHealth::OnTrack, None, None)
    );
    assert_eq!(status.elapsed, hours(9));
}

#[test]
fn the_same_priority_again_changes_nothing() {
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(priority_changed(march(2, 10, 0), Priority::Normal))
        .then(&[]);
}

#[test]
fn a_next_response_started_while_waiting_on_the_customer_starts_paused() {
    let policy = PolicyRef {
        id: POLICY,
        version: PolicyVersion(1),
    };
    given_ticket(Priority::Normal, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 30)))
        .and(status_changed(
            march(2, 9, 31),
            WorkStatus::WaitingOnCustomer,
        ))
        .and(customer_replied(march(2, 10, 0)))
        .then(&[
            event(
                NextResponse,
                1,
                march(2, 10, 0),
                SlaEventKind::Activated {
                    policy,
                    priority: Priority::Normal,
                    target: Some(hours(2)),
                    deadline: None,
                },
            ),
            event(
                NextResponse,
                1,
                march(2, 10, 0),
                SlaEventKind::Paused {
                    elapsed: TimeDelta::zero(),
                },
            ),
        ])
        .when(status_changed(march(2, 10, 5), WorkStatus::Open))
        .then(&[
            event(
                Resolution,
                1,
                march(2, 10, 5),
                SlaEventKind::Resumed {
                    deadline: Some(march(4, 9, 34)),
                },
            ),
            event(
                NextResponse,
                1,
                march(2, 10, 5),
                SlaEventKind::Resumed {
                    deadline: Some(march(2, 12, 5)),
                },
            ),
        ]);
}

#[test]
fn inputs_must_come_in_time_order() {
    let scenario =
        given_ticket(Priority::Normal, march(2, 9, 0)).when(agent_replied(march(2, 9, 30)));
    let before = scenario.item.clone();
    let scenario =
        scenario
            .when(customer_replied(march(2, 9, 29)))
            .then_error(&SlaError::InputOutOfOrder {
                at: march(2, 9, 29),
                last: march(2, 9, 30),
            });
    assert_eq!(scenario.item, before);
    scenario
        .when(customer_replied(march(2, 9, 30)))
        .then(&[activated(
            NextResponse,
            march(2, 9, 30),
            Priority::Normal,
            hours(2),
            march(2, 11, 30),
        )]);
}

#[test]
fn breaches_come_out_in_time_order_before_the_input_that_revealed_them() {
    let scenario = given_ticket(Priority::Urgent, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 10)))
        .and(customer_replied(march(2, 9, 20)));
    // Next response due 09:50, resolution due 13:00; the input at 14:00 reveals both.
    scenario
        .when(status_changed(march(2, 14, 0), WorkStatus::Solved))
        .then(&[
            event(NextResponse, 1, march(2, 9, 50), SlaEventKind::Breached),
            breached(Resolution, march(2, 13, 0)),
            fulfilled(Resolution, march(2, 14, 0), hours(5), true),
            event(
                NextResponse,
                1,
                march(2, 14, 0),
                SlaEventKind::Fulfilled {
                    elapsed: minutes(280),
                    late: true,
                },
            ),
        ]);
}

#[test]
fn the_status_reports_on_track_at_risk_breached_paused_and_fulfilled_with_elapsed_and_remaining() {
    let scenario = given_ticket(Priority::Normal, march(2, 9, 0));
    let on_track = scenario.status(march(2, 10, 0), FirstResponse);
    assert_eq!(on_track.health, SlaHealth::OnTrack);
    assert_eq!(
        (on_track.elapsed, on_track.remaining, on_track.deadline),
        (hours(1), Some(hours(3)), Some(march(2, 13, 0)))
    );
    // 80 % of four hours is 3 h 12 min.
    assert_eq!(
        scenario.status(march(2, 12, 11), FirstResponse).health,
        SlaHealth::OnTrack
    );
    assert_eq!(
        scenario.status(march(2, 12, 12), FirstResponse).health,
        SlaHealth::AtRisk
    );
    // A deadline passed but not yet revealed already reads as breached at the deadline.
    let breached = scenario.status(march(2, 13, 30), FirstResponse);
    assert_eq!(
        breached.health,
        SlaHealth::Breached {
            at: march(2, 13, 0)
        }
    );
    assert_eq!(
        (breached.elapsed, breached.remaining),
        (minutes(270), Some(TimeDelta::zero()))
    );

    let scenario = scenario.when(status_changed(
        march(2, 10, 0),
        WorkStatus::WaitingOnCustomer,
    ));
    let paused = scenario.status(march(2, 15, 0), FirstResponse);
    assert_eq!(
        paused.health,
        SlaHealth::Paused {
            since: march(2, 10, 0)
        }
    );
    assert_eq!((paused.elapsed, paused.deadline), (hours(1), None));

    let scenario = scenario.when(agent_replied(march(2, 15, 0)));
    let done = scenario.status(march(3, 15, 0), FirstResponse);
    assert_eq!(
        done.health,
        SlaHealth::Fulfilled {
            at: march(2, 15, 0),
            breached_at: None
        }
    );
    assert_eq!(done.elapsed, hours(1));
}

#[test]
fn an_item_stays_on_its_policy_version_after_a_newer_one_is_published() {
    let mut book = PolicyBook::new();
    book.publish(support_policy(1)).unwrap();
    let subject = SlaSubject::new(ItemKind::Ticket, Priority::Urgent);
    let (mut old, _) =
        ItemSla::open(book.select(&subject).unwrap(), &subject, march(2, 9, 0)).unwrap();

    let version_2 = PolicyRef {
        id: POLICY,
        version: PolicyVersion(2),
    };
    let stricter = SlaPolicy::new(version_2, "support", office())
        .with_target(Priority::Urgent, FirstResponse, minutes(15))
        .unwrap();
    book.publish(stricter).unwrap();
    assert_eq!(
        book.publish(support_policy(2)),
        Err(SlaError::VersionNotNewer {
            policy: POLICY,
            latest: PolicyVersion(2),
            given: PolicyVersion(2)
        })
    );

    let (new, events) =
        ItemSla::open(book.select(&subject).unwrap(), &subject, march(2, 9, 0)).unwrap();
    assert_eq!(new.policy().version, PolicyVersion(2));
    assert_eq!(
        events[0].kind,
        SlaEventKind::Activated {
            policy: new.policy(),
            priority: Priority::Urgent,
            target: Some(minutes(15)),
            deadline: Some(march(2, 9, 15)),
        }
    );

    assert_eq!(old.policy().version, PolicyVersion(1));
    let latest = book.latest(POLICY).unwrap();
    assert_eq!(
        old.apply(latest, agent_replied(march(2, 9, 30))),
        Err(SlaError::PolicyMismatch {
            expected: old.policy(),
            given: latest.reference()
        })
    );
    let own = book.version(old.policy()).unwrap();
    assert_eq!(
        old.apply(own, agent_replied(march(2, 9, 30))).unwrap(),
        [fulfilled(
            FirstResponse,
            march(2, 9, 30),
            minutes(30),
            false
        )]
    );
    // A next response started long after the new version still uses the item's version.
    let events = old.apply(own, customer_replied(march(2, 10, 0))).unwrap();
    assert_eq!(
        events[0].kind,
        SlaEventKind::Activated {
            policy: PolicyRef {
                id: POLICY,
                version: PolicyVersion(1)
            },
            priority: Priority::Urgent,
            target: Some(minutes(30)),
            deadline: Some(march(2, 10, 30)),
        }
    );
}

#[test]
fn an_item_the_policy_does_not_cover_is_refused() {
    let policy = support_policy(1).with_filter(PolicyFilter::kind(ItemKind::Lead));
    let subject = SlaSubject::new(ItemKind::Ticket, Priority::Normal);
    assert_eq!(
        ItemSla::open(&policy, &subject, march(2, 9, 0)).map(|(item, _)| item),
        Err(SlaError::PolicyDoesNotApply {
            policy: policy.reference(),
            kind: ItemKind::Ticket
        })
    );
}

#[test]
fn the_next_deadline_is_the_earliest_pending_one() {
    let scenario = given_ticket(Priority::Urgent, march(2, 9, 0));
    assert_eq!(scenario.item.next_deadline(), Some(march(2, 10, 0)));
    let scenario = scenario.when(agent_replied(march(2, 9, 10)));
    assert_eq!(scenario.item.next_deadline(), Some(march(2, 13, 0)));
    let scenario = scenario.when(status_changed(march(2, 9, 20), WorkStatus::Solved));
    assert_eq!(scenario.item.next_deadline(), None);
    assert!(
        scenario
            .item
            .clocks()
            .iter()
            .all(|clock| matches!(clock.phase(), ClockPhase::Fulfilled { .. }))
    );
}

#[test]
fn item_state_and_events_survive_a_round_trip_through_json() {
    let scenario = given_ticket(Priority::Normal, march(2, 9, 0))
        .when(agent_replied(march(2, 9, 30)))
        .and(customer_replied(march(2, 10, 0)))
        .and(status_changed(
            march(2, 10, 30),
            WorkStatus::WaitingOnCustomer,
        ));
    let json = serde_json::to_string(&scenario.item).unwrap();
    assert_eq!(
        serde_json::from_str::<ItemSla>(&json).unwrap(),
        scenario.item
    );
    let events = scenario.last.unwrap();
    let value = serde_json::to_value(&events).unwrap();
    assert_eq!(value[0]["metric"], "resolution");
    assert_eq!(value[0]["kind"]["type"], "paused");
    assert_eq!(
        serde_json::from_value::<Vec<SlaEvent>>(value).unwrap(),
        events
    );
    let input = serde_json::to_value(customer_replied(march(2, 10, 0))).unwrap();
    assert_eq!(input["type"], "customer_replied");
    assert_eq!(input["channel"], "email");
}
