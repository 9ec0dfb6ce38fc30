//! Properties of the SLA engine over generated calendars, policies and input sequences.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use proptest::prelude::*;

use super::calendar::strategies::{FIXED_ZONES, arb_calendar, arb_calendar_in, epoch};
use super::item::strategies::{arb_gap, arb_input, moved_to};
use super::policy::strategies::arb_policy;
use super::{
    BusinessCalendar, ItemKind, ItemSla, SlaEvent, SlaEventKind, SlaInput, SlaMetric, SlaSubject,
    WorkStatus,
};
use crate::Priority;

/// An instant between 2010 and 2030, sometimes with a fraction of a second.
fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = epoch()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let nanos = prop_oneof![3 => Just(0u32), 1 => 0u32..1_000_000_000];
    (0i64..20 * 365 * 86_400, nanos).prop_map(move |(seconds, nanos)| {
        start + TimeDelta::seconds(seconds) + TimeDelta::nanoseconds(i64::from(nanos))
    })
}

/// Up to eighty hours of business time, sometimes with a fraction of a second.
fn arb_duration() -> impl Strategy<Value = TimeDelta> {
    let nanos = prop_oneof![3 => Just(0i64), 1 => 0i64..1_000_000_000];
    (0i64..80 * 3600, nanos)
        .prop_map(|(seconds, nanos)| TimeDelta::seconds(seconds) + TimeDelta::nanoseconds(nanos))
}

/// Whether `at` lies in an open stretch or exactly at the close of one.
fn inside_or_closing(calendar: &BusinessCalendar, at: DateTime<Utc>) -> bool {
    calendar
        .span_around(at)
        .expect("within the horizon")
        .is_some()
}

/// Whether the calendar is open at `at` by reading the wall clock: right for zones whose
/// offset never changes, and independent of how the engine walks its stretches.
fn open_on_the_wall_clock(calendar: &BusinessCalendar, at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&calendar.time_zone()).naive_local();
    let second = local.num_seconds_from_midnight();
    !calendar.holidays().contains(&local.date())
        && calendar.week().on(local.weekday()).iter().any(|hours| {
            hours.start().seconds_from_midnight() <= second
                && second < hours.end().seconds_from_midnight()
        })
}

proptest! {
    #[test]
    fn deadlines_never_come_earlier_for_a_later_start(
        calendar in arb_calendar(),
        start in arb_instant(),
        later_by in 0i64..10 * 86_400,
        duration in arb_duration(),
    ) {
        let earlier = calendar.add_business_time(start, duration)?;
        let later = calendar.add_business_time(start + TimeDelta::seconds(later_by), duration)?;
        prop_assert!(earlier <= later, "{earlier} after {later}");
    }

    #[test]
    fn a_deadline_is_inside_business_hours_or_at_a_close(
        calendar in arb_calendar(),
        start in arb_instant(),
        duration in arb_duration(),
    ) {
        let deadline = calendar.add_business_time(start, duration)?;
        prop_assert!(deadline >= start);
        prop_assert!(inside_or_closing(&calendar, deadline), "{deadline} is outside business hours");
    }

    #[test]
    fn the_business_time_up_to_a_deadline_is_the_duration_added(
        calendar in arb_calendar(),
        start in arb_instant(),
        duration in arb_duration(),
    ) {
        let deadline = calendar.add_business_time(start, duration)?;
        prop_assert_eq!(calendar.business_time_between(start, deadline)?, duration);
    }

    #[test]
    fn business_time_adds_up_over_consecutive_spans(
        calendar in arb_calendar(),
        start in arb_instant(),
        first in 0i64..5 * 86_400,
        second in 0i64..5 * 86_400,
    ) {
        let middle = start + TimeDelta::seconds(first);
        let end = middle + TimeDelta::seconds(second);
        let parts = calendar.business_time_between(start, middle)? + calendar.business_time_between(middle, end)?;
        prop_assert_eq!(parts, calendar.business_time_between(start, end)?);
        prop_assert!(parts <= end - start);
    }

    #[test]
    fn on_fixed_offsets_business_time_is_what_the_wall_clock_says(
        calendar in arb_calendar_in(&FIXED_ZONES),
        start_minute in 0i64..20 * 365 * 1440,
        minutes in 0i64..3 * 1440,
    ) {
        let start = epoch().and_hms_opt(0, 0, 0).expect("midnight exists").and_utc() + TimeDelta::minutes(start_minute);
        // Every boundary is on a quarter hour and these zones are whole minutes off UTC, so
        // each minute is entirely open or entirely closed.
        let counted = (0..minutes)
            .filter(|minute| open_on_the_wall_clock(&calendar, start + TimeDelta::minutes(*minute)))
            .count();
        let counted = TimeDelta::minutes(i64::try_from(counted).expect("fewer than 5000 minutes"));
        prop_assert_eq!(calendar.business_time_between(start, start + TimeDelta::minutes(minutes))?, counted);
    }

    #[test]
    fn pausing_never_makes_a_deadline_earlier(
        (policy, start) in arb_calendar().prop_flat_map(arb_policy).prop_flat_map(|policy| (Just(policy), arb_instant())),
        pause_after in 0i64..3 * 86_400,
        paused_for in 0i64..3 * 86_400,
    ) {
        let subject = SlaSubject::new(ItemKind::Ticket, Priority::Normal);
        let (mut item, _) = ItemSla::open(&policy, &subject, start)?;
        let before: BTreeMap<SlaMetric, Option<DateTime<Utc>>> =
            item.clocks().iter().map(|clock| (clock.metric(), clock.due_at())).collect();
        let paused_at = start + TimeDelta::seconds(pause_after);
        let resumed_at = paused_at + TimeDelta::seconds(paused_for);
        item.apply(&policy, SlaInput::StatusChanged { at: paused_at, status: WorkStatus::WaitingOnCustomer })?;
        item.apply(&policy, SlaInput::StatusChanged { at: resumed_at, status: WorkStatus::Open })?;
        let paused = policy.calendar().business_time_between(paused_at, resumed_at)?;
        for clock in item.clocks() {
            let after = clock.due_at().or(clock.breached_at());
            prop_assert!(after >= before[&clock.metric()], "{:?}: {after:?} before {:?}", clock.metric(), before[&clock.metric()]);
            // Unless it breached before the pause, the deadline moved by the paused business time.
            if let (Some(target), Some(due)) = (clock.target(), clock.due_at()) {
                prop_assert_eq!(policy.calendar().business_time_between(start, due)?, target + paused);
            }
        }
    }

    #[test]
    fn no_input_sequence_panics_and_the_events_tell_a_consistent_story(
        (policy, start) in arb_calendar().prop_flat_map(arb_policy).prop_flat_map(|policy| (Just(policy), arb_instant())),
        kind in prop::sample::select(vec![ItemKind::Lead, ItemKind::Ticket]),
        priority in prop::sample::select(Priority::ALL.to_vec()),
        steps in prop::collection::vec((arb_gap(), prop::option::weighted(0.85, arb_input())), 0..40),
    ) {
        let (mut item, mut history) = ItemSla::open(&policy, &SlaSubject::new(kind, priority), start)?;
        let mut at = start;
        for (gap, input) in steps {
            at += gap;
            let before = item.clone();
            let result = match input {
                Some(input) => item.apply(&policy, moved_to(input, at)),
                None => item.tick(&policy, at),
            };
            if let Ok(events) = result {
                prop_assert!(events.is_sorted_by_key(|event| event.at), "{events:?}");
                prop_assert!(events.iter().all(|event| event.at >= before.applied_until()), "{events:?}");
                history.extend(events);
            } else {
                prop_assert_eq!(&item, &before, "a refused input changed the state");
            }
            let json = serde_json::to_string(&item).expect("state serializes");
            prop_assert_eq!(&serde_json::from_str::<ItemSla>(&json).expect("state deserializes"), &item);
        }
        check_story(&history)?;
        let _ = item.status_at(&policy, at);
    }

    #[test]
    fn a_state_restored_from_json_carries_on_exactly_like_the_original(
        (policy, start) in arb_calendar().prop_flat_map(arb_policy).prop_flat_map(|policy| (Just(policy), arb_instant())),
        steps in prop::collection::vec((arb_gap(), arb_input()), 0..30),
        cut in 0usize..30,
    ) {
        let subject = SlaSubject::new(ItemKind::Ticket, Priority::High);
        let (mut original, _) = ItemSla::open(&policy, &subject, start)?;
        let mut restored = None;
        let mut at = start;
        for (index, (gap, input)) in steps.into_iter().enumerate() {
            if index == cut {
                let json = serde_json::to_string(&original).expect("state serializes");
                restored = Some(serde_json::from_str::<ItemSla>(&json).expect("state deserializes"));
            }
            at += gap;
            let input = moved_to(input, at);
            let expected = original.apply(&policy, input);
            if let Some(copy) = restored.as_mut() {
                prop_assert_eq!(copy.apply(&policy, input), expected);
            }
        }
    }
}

/// Per clock: activated first and once, breached at most once and not after its fulfilment,
/// fulfilled at most once and last, `late` exactly when it breached, instants never going back.
fn check_story(history: &[SlaEvent]) -> Result<(), TestCaseError> {
    let mut clocks: BTreeMap<(SlaMetric, u32), Vec<&SlaEvent>> = BTreeMap::new();
    for event in history {
        clocks
            .entry((event.metric, event.cycle))
            .or_default()
            .push(event);
    }
    for ((metric, cycle), events) in clocks {
        let story = format!("{metric} #{cycle}: {events:?}");
        prop_assert!(
            matches!(events[0].kind, SlaEventKind::Activated { .. }),
            "{}",
            story
        );
        prop_assert!(events.is_sorted_by_key(|event| event.at), "{}", story);
        let count = |wanted: fn(&SlaEventKind) -> bool| {
            events.iter().filter(|event| wanted(&event.kind)).count()
        };
        prop_assert_eq!(
            count(|kind| matches!(kind, SlaEventKind::Activated { .. })),
            1,
            "{}",
            story
        );
        prop_assert!(
            count(|kind| matches!(kind, SlaEventKind::Breached)) <= 1,
            "{}",
            story
        );
        let fulfilments = count(|kind| matches!(kind, SlaEventKind::Fulfilled { .. }));
        prop_assert!(fulfilments <= 1, "{}", story);
        if let Some(SlaEventKind::Fulfilled { late, .. }) = events.last().map(|event| &event.kind) {
            let breached = events
                .iter()
                .any(|event| event.kind == SlaEventKind::Breached);
            prop_assert_eq!(*late, breached, "{}", story);
        } else {
            prop_assert_eq!(fulfilments, 0, "{}", story);
        }
    }
    Ok(())
}
