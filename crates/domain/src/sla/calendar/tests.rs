use chrono::{TimeZone, Weekday};
use chrono_tz::America::New_York;
use chrono_tz::Europe::Berlin;
use chrono_tz::Tz;

use super::*;

fn hours(text: &str) -> OpeningHours {
    text.parse().unwrap()
}

fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn date(y: i32, mo: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, mo, d).unwrap()
}

/// Monday to Friday, 09:00-12:00 and 13:00-17:00 in Berlin.
fn berlin_office() -> BusinessCalendar {
    let week = WeeklyHours::weekdays(&[hours("09:00-12:00"), hours("13:00-17:00")]).unwrap();
    BusinessCalendar::new(Berlin, week).unwrap()
}

/// Sundays only, with the given stretches, in `tz`.
fn sunday_shift(tz: Tz, stretches: &[&str]) -> BusinessCalendar {
    let week = WeeklyHours::closed()
        .with_day(Weekday::Sun, stretches.iter().map(|s| hours(s)))
        .unwrap();
    BusinessCalendar::new(tz, week).unwrap()
}

// 2 March 2026 is a Monday; Berlin is on CET (+01:00) until 29 March.

#[test]
fn business_time_inside_one_stretch_runs_like_a_wall_clock() {
    let calendar = berlin_office();
    let deadline = calendar
        .add_business_time(at(Berlin, 2026, 3, 2, 10, 0), TimeDelta::hours(1))
        .unwrap();
    assert_eq!(deadline, at(Berlin, 2026, 3, 2, 11, 0));
}

#[test]
fn the_lunch_break_is_not_business_time() {
    let calendar = berlin_office();
    let deadline = calendar
        .add_business_time(at(Berlin, 2026, 3, 2, 11, 30), TimeDelta::hours(1))
        .unwrap();
    assert_eq!(deadline, at(Berlin, 2026, 3, 2, 13, 30));
    let between = calendar
        .business_time_between(at(Berlin, 2026, 3, 2, 11, 0), at(Berlin, 2026, 3, 2, 14, 0));
    assert_eq!(between.unwrap(), TimeDelta::hours(2));
}

#[test]
fn time_running_out_at_closing_is_due_at_the_close_not_the_next_opening() {
    let calendar = berlin_office();
    let deadline = calendar
        .add_business_time(at(Berlin, 2026, 3, 2, 16, 0), TimeDelta::hours(1))
        .unwrap();
    assert_eq!(deadline, at(Berlin, 2026, 3, 2, 17, 0));
    let deadline = calendar
        .add_business_time(at(Berlin, 2026, 3, 2, 11, 0), TimeDelta::hours(1))
        .unwrap();
    assert_eq!(deadline, at(Berlin, 2026, 3, 2, 12, 0));
}

#[test]
fn the_weekend_is_not_business_time() {
    let calendar = berlin_office();
    let friday_afternoon = at(Berlin, 2026, 3, 6, 16, 0);
    let deadline = calendar
        .add_business_time(friday_afternoon, TimeDelta::hours(2))
        .unwrap();
    assert_eq!(deadline, at(Berlin, 2026, 3, 9, 10, 0));
    assert_eq!(
        calendar
            .business_time_between(friday_afternoon, deadline)
            .unwrap(),
        TimeDelta::hours(2)
    );
}

#[test]
fn a_start_outside_business_hours_counts_from_the_next_opening() {
    let calendar = berlin_office();
    let saturday = at(Berlin, 2026, 3, 7, 10, 0);
    assert_eq!(
        calendar
            .add_business_time(saturday, TimeDelta::hours(1))
            .unwrap(),
        at(Berlin, 2026, 3, 9, 10, 0)
    );
    let early_monday = at(Berlin, 2026, 3, 2, 7, 0);
    assert_eq!(
        calendar
            .add_business_time(early_monday, TimeDelta::minutes(30))
            .unwrap(),
        at(Berlin, 2026, 3, 2, 9, 30)
    );
    let at_lunch = at(Berlin, 2026, 3, 2, 12, 15);
    assert_eq!(
        calendar
            .add_business_time(at_lunch, TimeDelta::minutes(30))
            .unwrap(),
        at(Berlin, 2026, 3, 2, 13, 30)
    );
}

#[test]
fn zero_business_time_is_due_at_the_next_opening() {
    let calendar = berlin_office();
    assert_eq!(
        calendar
            .next_opening(at(Berlin, 2026, 3, 7, 10, 0))
            .unwrap(),
        at(Berlin, 2026, 3, 9, 9, 0)
    );
    let open = at(Berlin, 2026, 3, 2, 10, 0);
    assert_eq!(
        calendar.add_business_time(open, TimeDelta::zero()).unwrap(),
        open
    );
}

#[test]
fn holidays_are_closed_all_day() {
    let calendar = berlin_office().with_holidays([date(2026, 3, 6)]);
    let thursday_afternoon = at(Berlin, 2026, 3, 5, 16, 0);
    let deadline = calendar
        .add_business_time(thursday_afternoon, TimeDelta::hours(2))
        .unwrap();
    assert_eq!(deadline, at(Berlin, 2026, 3, 9, 10, 0));
    assert!(!calendar.is_open(at(Berlin, 2026, 3, 6, 10, 0)).unwrap());
    assert!(calendar.is_open(at(Berlin, 2026, 3, 5, 10, 0)).unwrap());
}

#[test]
fn opening_hours_keep_their_local_times_across_the_berlin_spring_change() {
    let calendar = berlin_office();
    // Friday 27 March is on CET (+01:00), Monday 30 March on CEST (+02:00).
    let friday = at(Berlin, 2026, 3, 27, 16, 0);
    assert_eq!(friday, utc(2026, 3, 27, 15, 0));
    let deadline = calendar
        .add_business_time(friday, TimeDelta::hours(2))
        .unwrap();
    assert_eq!(deadline, utc(2026, 3, 30, 8, 0));
    let whole_days = calendar
        .business_time_between(at(Berlin, 2026, 3, 27, 0, 0), at(Berlin, 2026, 3, 31, 0, 0));
    assert_eq!(whole_days.unwrap(), TimeDelta::hours(14));
}

#[test]
fn a_24x7_calendar_counts_the_short_and_the_long_day_of_daylight_saving() {
    let calendar = BusinessCalendar::always_open(Berlin);
    let spring = calendar
        .business_time_between(at(Berlin, 2026, 3, 29, 0, 0), at(Berlin, 2026, 3, 30, 0, 0));
    assert_eq!(spring.unwrap(), TimeDelta::hours(23));
    let autumn = calendar.business_time_between(
        at(Berlin, 2026, 10, 25, 0, 0),
        at(Berlin, 2026, 10, 26, 0, 0),
    );
    assert_eq!(autumn.unwrap(), TimeDelta::hours(25));
    let before_the_jump = utc(2026, 3, 28, 22, 0);
    assert_eq!(
        calendar
            .add_business_time(before_the_jump, TimeDelta::hours(3))
            .unwrap(),
        utc(2026, 3, 29, 1, 0)
    );
    assert_eq!(
        calendar
            .add_business_time(utc(2026, 1, 1, 0, 0), TimeDelta::days(200))
            .unwrap(),
        utc(2026, 7, 20, 0, 0)
    );
}

#[test]
fn a_24x7_calendar_still_closes_on_holidays() {
    let calendar = BusinessCalendar::always_open(Tz::UTC).with_holidays([date(2026, 12, 25)]);
    let between =
        calendar.business_time_between(utc(2026, 12, 24, 12, 0), utc(2026, 12, 26, 12, 0));
    assert_eq!(between.unwrap(), TimeDelta::hours(24));
    assert_eq!(
        calendar
            .add_business_time(utc(2026, 12, 24, 23, 0), TimeDelta::hours(2))
            .unwrap(),
        utc(2026, 12, 26, 1, 0)
    );
}

#[test]
fn a_night_shift_over_the_new_york_spring_jump_is_an_hour_shorter() {
    // 8 March 2026: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
    let calendar = sunday_shift(New_York, &["00:00-04:00"]);
    let shift = calendar.business_time_between(utc(2026, 3, 8, 0, 0), utc(2026, 3, 9, 0, 0));
    assert_eq!(shift.unwrap(), TimeDelta::hours(3));
    assert_eq!(
        calendar
            .add_business_time(utc(2026, 3, 8, 0, 0), TimeDelta::hours(2))
            .unwrap(),
        utc(2026, 3, 8, 7, 0)
    );
}

#[test]
fn opening_hours_inside_the_skipped_hour_do_not_exist_that_day() {
    let week = WeeklyHours::closed()
        .with_day(Weekday::Sun, [hours("02:00-02:30")])
        .and_then(|week| week.with_day(Weekday::Mon, [hours("09:00-10:00")]))
        .unwrap();
    let calendar = BusinessCalendar::new(New_York, week).unwrap();
    let saturday = at(New_York, 2026, 3, 7, 12, 0);
    assert_eq!(
        calendar
            .add_business_time(saturday, TimeDelta::minutes(10))
            .unwrap(),
        at(New_York, 2026, 3, 9, 9, 10)
    );
    // The Sunday before, the same stretch exists.
    let saturday_before = at(New_York, 2026, 2, 28, 12, 0);
    assert_eq!(
        calendar
            .add_business_time(saturday_before, TimeDelta::minutes(10))
            .unwrap(),
        at(New_York, 2026, 3, 1, 2, 10)
    );
}

#[test]
fn a_night_shift_over_the_new_york_autumn_change_works_the_repeated_hour() {
    // 1 November 2026: 02:00 EDT falls back to 01:00 EST at 06:00 UTC; 01:00-02:00 happens twice.
    let calendar = sunday_shift(New_York, &["00:00-04:00"]);
    let shift = calendar.business_time_between(utc(2026, 11, 1, 0, 0), utc(2026, 11, 2, 0, 0));
    assert_eq!(shift.unwrap(), TimeDelta::hours(5));
    // A stretch ending in the repeated hour ends at its second occurrence, one starting there
    // starts at its first; the overlap of the two is counted once.
    let split = sunday_shift(New_York, &["00:00-01:30", "01:30-03:00"]);
    let shift = split.business_time_between(utc(2026, 11, 1, 0, 0), utc(2026, 11, 2, 0, 0));
    assert_eq!(shift.unwrap(), TimeDelta::hours(4));
    let morning = sunday_shift(New_York, &["00:00-01:30"]);
    assert_eq!(
        morning
            .add_business_time(utc(2026, 11, 1, 0, 0), TimeDelta::minutes(150))
            .unwrap(),
        utc(2026, 11, 1, 6, 30)
    );
}

#[test]
fn a_week_without_opening_hours_is_refused() {
    assert_eq!(
        BusinessCalendar::new(Berlin, WeeklyHours::closed()),
        Err(SlaError::NoBusinessHours)
    );
    let json = r#"{"time_zone":"Europe/Berlin","week":{}}"#;
    assert!(serde_json::from_str::<BusinessCalendar>(json).is_err());
}

#[test]
fn a_calendar_too_sparse_for_the_duration_stops_at_the_horizon() {
    let week = WeeklyHours::closed()
        .with_day(Weekday::Mon, [hours("09:00-09:01")])
        .unwrap();
    let calendar = BusinessCalendar::new(Tz::UTC, week).unwrap();
    let result = calendar.add_business_time(utc(2026, 3, 2, 0, 0), TimeDelta::days(365));
    assert!(
        matches!(
            result,
            Err(SlaError::HorizonExceeded {
                days: HORIZON_DAYS,
                ..
            })
        ),
        "{result:?}"
    );
    let result = calendar.business_time_between(utc(2026, 3, 2, 0, 0), utc(2100, 1, 1, 0, 0));
    assert!(
        matches!(result, Err(SlaError::HorizonExceeded { .. })),
        "{result:?}"
    );
}

#[test]
fn negative_business_time_is_refused_and_backwards_spans_are_empty() {
    let calendar = berlin_office();
    let monday = at(Berlin, 2026, 3, 2, 10, 0);
    assert_eq!(
        calendar.add_business_time(monday, TimeDelta::seconds(-1)),
        Err(SlaError::NegativeDuration)
    );
    assert_eq!(
        calendar
            .business_time_between(monday, monday - TimeDelta::hours(1))
            .unwrap(),
        TimeDelta::zero()
    );
}

#[test]
fn opening_hours_must_not_overlap_and_must_end_after_they_start() {
    let overlapping =
        WeeklyHours::closed().with_day(Weekday::Mon, [hours("09:00-12:00"), hours("11:00-13:00")]);
    assert!(matches!(
        overlapping,
        Err(SlaError::OverlappingOpeningHours {
            weekday: Weekday::Mon,
            ..
        })
    ));
    assert!(matches!(
        "12:00-09:00".parse::<OpeningHours>(),
        Err(SlaError::EmptyOpeningHours { .. })
    ));
    let touching =
        WeeklyHours::closed().with_day(Weekday::Mon, [hours("12:00-13:00"), hours("09:00-12:00")]);
    assert_eq!(
        touching.unwrap().on(Weekday::Mon),
        [hours("09:00-12:00"), hours("12:00-13:00")]
    );
}

#[test]
fn times_of_day_are_read_from_hh_mm_up_to_24_00() {
    assert_eq!("24:00".parse::<TimeOfDay>(), Ok(TimeOfDay::END_OF_DAY));
    assert_eq!(
        "08:30:15"
            .parse::<TimeOfDay>()
            .map(TimeOfDay::seconds_from_midnight),
        Ok(30_615)
    );
    for bad in ["24:01", "9:00", "09:60", "x", "09:00:00:00", "-1:00", ""] {
        assert!(bad.parse::<TimeOfDay>().is_err(), "{bad} was accepted");
    }
    assert_eq!(TimeOfDay::hms(8, 30, 15).unwrap().to_string(), "08:30:15");
}

#[test]
fn a_calendar_is_written_with_named_days_and_read_back_unchanged() {
    let calendar = berlin_office().with_holidays([date(2026, 12, 25)]);
    let json = serde_json::to_value(&calendar).unwrap();
    assert_eq!(json["time_zone"], "Europe/Berlin");
    assert_eq!(
        json["week"]["monday"][1],
        serde_json::json!({"start": "13:00", "end": "17:00"})
    );
    assert!(json["week"].get("saturday").is_none());
    assert_eq!(json["holidays"][0], "2026-12-25");
    assert_eq!(
        serde_json::from_value::<BusinessCalendar>(json).unwrap(),
        calendar
    );
    let unknown =
        r#"{"time_zone":"Mars/Olympus","week":{"monday":[{"start":"09:00","end":"17:00"}]}}"#;
    assert!(serde_json::from_str::<BusinessCalendar>(unknown).is_err());
}
