//! Business-hours calendars: a time zone, weekly opening hours and holidays, and the two
//! questions an SLA asks of them: "when is this much business time used up?" and "how much
//! business time lies between these instants?".

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::SlaError;
use super::local_time::{closing_instant, opening_instant};

/// How many calendar days a single question may search before giving up with
/// [`SlaError::HorizonExceeded`]: forty years, far beyond any SLA, and small enough that the
/// worst case stays in the tens of milliseconds.
pub const HORIZON_DAYS: u32 = 40 * 366;

const SECONDS_PER_DAY: u32 = 86_400;

/// Instants the calendar answers for: chrono's range (years ±262 143) less a margin wider than
/// the horizon, so that no local-time conversion can leave the representable range.
const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = -262_000..=262_000;

/// A time of day on a calendar's wall clock, from 00:00 to 24:00 at one-second resolution.
///
/// 24:00 is the end of the day, so that a stretch can run to midnight (`20:00-24:00`). Written
/// and read as `HH:MM`, or `HH:MM:SS` when the seconds are not zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(u32);

impl TimeOfDay {
    /// 00:00, the start of the day.
    pub const MIDNIGHT: Self = Self(0);
    /// 24:00, the end of the day.
    pub const END_OF_DAY: Self = Self(SECONDS_PER_DAY);

    /// `hour:minute`; hours 0 to 24, minutes 0 to 59, and 24 only as 24:00.
    pub fn hm(hour: u32, minute: u32) -> Result<Self, SlaError> {
        Self::hms(hour, minute, 0)
    }

    /// `hour:minute:second`; 24:00:00 is the latest accepted.
    pub fn hms(hour: u32, minute: u32, second: u32) -> Result<Self, SlaError> {
        if minute >= 60 || second >= 60 || hour > 24 {
            return Err(SlaError::InvalidTimeOfDay(format!(
                "{hour:02}:{minute:02}:{second:02}"
            )));
        }
        let seconds = hour * 3600 + minute * 60 + second;
        if seconds > SECONDS_PER_DAY {
            return Err(SlaError::InvalidTimeOfDay(format!(
                "{hour:02}:{minute:02}:{second:02}"
            )));
        }
        Ok(Self(seconds))
    }

    /// Seconds since midnight, 0 to 86 400.
    pub fn seconds_from_midnight(self) -> u32 {
        self.0
    }

    /// This time on `day`, as a wall-clock date and time (24:00 is the next day's 00:00).
    fn on(self, day: NaiveDate) -> Result<NaiveDateTime, SlaError> {
        let out_of_range = SlaError::OutOfRange { near: day };
        if self == Self::END_OF_DAY {
            return day
                .succ_opt()
                .map(|next| next.and_time(NaiveTime::MIN))
                .ok_or(out_of_range);
        }
        NaiveTime::from_num_seconds_from_midnight_opt(self.0, 0)
            .map(|time| day.and_time(time))
            .ok_or(out_of_range)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (hour, minute, second) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if second == 0 {
            write!(f, "{hour:02}:{minute:02}")
        } else {
            write!(f, "{hour:02}:{minute:02}:{second:02}")
        }
    }
}

impl FromStr for TimeOfDay {
    type Err = SlaError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || SlaError::InvalidTimeOfDay(text.to_owned());
        let field = |part: &str| -> Result<u32, SlaError> {
            if part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()) {
                part.parse().map_err(|_| invalid())
            } else {
                Err(invalid())
            }
        };
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [hour, minute] => Self::hm(field(hour)?, field(minute)?),
            [hour, minute, second] => Self::hms(field(hour)?, field(minute)?, field(second)?),
            _ => Err(invalid()),
        }
        .map_err(|_| invalid())
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = SlaError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(time: TimeOfDay) -> Self {
        time.to_string()
    }
}

/// One stretch of opening hours within a day, from `start` up to (not including) `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawOpeningHours")]
pub struct OpeningHours {
    start: TimeOfDay,
    end: TimeOfDay,
}

#[derive(Deserialize)]
struct RawOpeningHours {
    start: TimeOfDay,
    end: TimeOfDay,
}

impl TryFrom<RawOpeningHours> for OpeningHours {
    type Error = SlaError;
    fn try_from(raw: RawOpeningHours) -> Result<Self, Self::Error> {
        Self::new(raw.start, raw.end)
    }
}

impl OpeningHours {
    /// Open from `start` until `end`; refuses a stretch that does not end after it starts.
    pub fn new(start: TimeOfDay, end: TimeOfDay) -> Result<Self, SlaError> {
        if start < end {
            Ok(Self { start, end })
        } else {
            Err(SlaError::EmptyOpeningHours { start, end })
        }
    }

    /// All day, 00:00-24:00.
    pub const ALL_DAY: Self = Self {
        start: TimeOfDay::MIDNIGHT,
        end: TimeOfDay::END_OF_DAY,
    };

    /// The opening time.
    pub fn start(self) -> TimeOfDay {
        self.start
    }

    /// The closing time.
    pub fn end(self) -> TimeOfDay {
        self.end
    }
}

impl fmt::Display for OpeningHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl FromStr for OpeningHours {
    type Err = SlaError;

    /// Reads `HH:MM-HH:MM`, e.g. `09:00-12:00`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (start, end) = text
            .split_once('-')
            .ok_or_else(|| SlaError::InvalidTimeOfDay(text.to_owned()))?;
        Self::new(start.trim().parse()?, end.trim().parse()?)
    }
}

/// The opening hours of each weekday: any number of non-overlapping stretches per day (e.g.
/// 09:00-12:00 and 13:00-17:00 around a lunch break), kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WeekSpec", into = "WeekSpec")]
pub struct WeeklyHours {
    /// Monday first, as `Weekday::num_days_from_monday` counts.
    days: [Vec<OpeningHours>; 7],
}

impl WeeklyHours {
    /// A week with no opening hours, to be filled with [`WeeklyHours::with_day`].
    pub fn closed() -> Self {
        Self::default()
    }

    /// Every day open around the clock (24x7).
    pub fn always_open() -> Self {
        Self {
            days: std::array::from_fn(|_| vec![OpeningHours::ALL_DAY]),
        }
    }

    /// Monday to Friday with the same `hours`, Saturday and Sunday closed.
    pub fn weekdays(hours: &[OpeningHours]) -> Result<Self, SlaError> {
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ]
        .into_iter()
        .try_fold(Self::closed(), |week, day| {
            week.with_day(day, hours.iter().copied())
        })
    }

    /// This week with `weekday`'s hours replaced by `hours`, sorted; refuses overlapping
    /// stretches (stretches that touch, such as 09:00-12:00 and 12:00-13:00, are fine).
    pub fn with_day(
        mut self,
        weekday: Weekday,
        hours: impl IntoIterator<Item = OpeningHours>,
    ) -> Result<Self, SlaError> {
        let mut hours: Vec<OpeningHours> = hours.into_iter().collect();
        hours.sort();
        if let Some(pair) = hours.windows(2).find(|pair| pair[0].end > pair[1].start) {
            return Err(SlaError::OverlappingOpeningHours {
                weekday,
                first_start: pair[0].start,
                first_end: pair[0].end,
                second_start: pair[1].start,
                second_end: pair[1].end,
            });
        }
        self.days[weekday.num_days_from_monday() as usize] = hours;
        Ok(self)
    }

    /// The opening hours of `weekday`, sorted.
    pub fn on(&self, weekday: Weekday) -> &[OpeningHours] {
        &self.days[weekday.num_days_from_monday() as usize]
    }

    /// Whether no day of the week has any opening hours.
    pub fn is_closed_all_week(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }
}

/// How a week is written: one list of stretches per named day, closed days left out.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeekSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    monday: Vec<OpeningHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tuesday: Vec<OpeningHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    wednesday: Vec<OpeningHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    thursday: Vec<OpeningHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    friday: Vec<OpeningHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    saturday: Vec<OpeningHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sunday: Vec<OpeningHours>,
}

impl TryFrom<WeekSpec> for WeeklyHours {
    type Error = SlaError;
    fn try_from(spec: WeekSpec) -> Result<Self, Self::Error> {
        Self::closed()
            .with_day(Weekday::Mon, spec.monday)?
            .with_day(Weekday::Tue, spec.tuesday)?
            .with_day(Weekday::Wed, spec.wednesday)?
            .with_day(Weekday::Thu, spec.thursday)?
            .with_day(Weekday::Fri, spec.friday)?
            .with_day(Weekday::Sat, spec.saturday)?
            .with_day(Weekday::Sun, spec.sunday)
    }
}

impl From<WeeklyHours> for WeekSpec {
    fn from(week: WeeklyHours) -> Self {
        let [
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        ] = week.days;
        Self {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        }
    }
}

/// A business-hours calendar: weekly opening hours on the wall clock of one time zone, minus
/// holidays (whole local dates).
///
/// Business time is real elapsed time while the calendar is open, so an open stretch that
/// spans a daylight-saving change is an hour shorter or longer than its wall-clock reading. A
/// stretch runs from the moment the wall clock first shows its opening time until the moment
/// it last shows its closing time: an opening time that occurs twice opens at its first
/// occurrence, a closing time that occurs twice closes at its second, and a time skipped by a
/// jump forward is the instant of the jump (a stretch wholly inside a skipped hour is empty). A calendar always has some opening hours in its week (else [`SlaError::NoBusinessHours`]),
/// also when deserialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct BusinessCalendar {
    time_zone: Tz,
    week: WeeklyHours,
    holidays: BTreeSet<NaiveDate>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarSpec {
    time_zone: String,
    week: WeeklyHours,
    #[serde(default)]
    holidays: BTreeSet<NaiveDate>,
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = SlaError;
    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        let time_zone = spec
            .time_zone
            .parse()
            .map_err(|_| SlaError::UnknownTimeZone(spec.time_zone))?;
        Ok(Self::new(time_zone, spec.week)?.with_holidays(spec.holidays))
    }
}

impl From<BusinessCalendar> for CalendarSpec {
    fn from(calendar: BusinessCalendar) -> Self {
        Self {
            time_zone: calendar.time_zone.name().to_owned(),
            week: calendar.week,
            holidays: calendar.holidays,
        }
    }
}

/// One open stretch of a calendar, as instants: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenSpan {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
}

impl BusinessCalendar {
    /// A calendar open during `week` on the wall clock of `time_zone`, with no holidays yet.
    /// Refuses a week without any opening hours.
    pub fn new(time_zone: Tz, week: WeeklyHours) -> Result<Self, SlaError> {
        if week.is_closed_all_week() {
            return Err(SlaError::NoBusinessHours);
        }
        Ok(Self {
            time_zone,
            week,
            holidays: BTreeSet::new(),
        })
    }

    /// A calendar open around the clock every day (24x7) in `time_zone`; business time is
    /// then plain elapsed time, unless holidays are added.
    pub fn always_open(time_zone: Tz) -> Self {
        Self {
            time_zone,
            week: WeeklyHours::always_open(),
            holidays: BTreeSet::new(),
        }
    }

    /// This calendar with `dates` (local dates) added as holidays, closed all day.
    #[must_use]
    pub fn with_holidays(mut self, dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.holidays.extend(dates);
        self
    }

    /// The time zone whose wall clock the opening hours and holidays are read on.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The weekly opening hours.
    pub fn week(&self) -> &WeeklyHours {
        &self.week
    }

    /// The holidays, in date order.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// The instant at which `duration` of business time, counted from `start`, is used up: a
    /// deadline.
    ///
    /// A start outside business hours begins counting at the next opening. The result lies
    /// inside business hours, or exactly at the close of a stretch when the time runs out
    /// there; a zero duration gives the next opening at or after `start`. Monotonic: a later
    /// start never gives an earlier deadline. Errors: [`SlaError::NegativeDuration`], and
    /// [`SlaError::HorizonExceeded`] when [`HORIZON_DAYS`] of calendar do not hold `duration`.
    pub fn add_business_time(
        &self,
        start: DateTime<Utc>,
        duration: TimeDelta,
    ) -> Result<DateTime<Utc>, SlaError> {
        if duration < TimeDelta::zero() {
            return Err(SlaError::NegativeDuration);
        }
        let mut remaining = duration;
        let mut spans = self.spans_from(start)?;
        loop {
            let span = spans.next_span()?;
            if span.end <= start {
                continue;
            }
            let from = span.start.max(start);
            let available = span.end - from;
            if remaining <= available {
                return from
                    .checked_add_signed(remaining)
                    .ok_or(SlaError::OutOfRange {
                        near: from.date_naive(),
                    });
            }
            remaining -= available;
        }
    }

    /// The business time between `from` and `until`: how long the calendar is open in
    /// `[from, until)`. Zero when `until` is not after `from`; never negative. Additive:
    /// `between(a, b) + between(b, c) == between(a, c)` for `a <= b <= c`. Errors:
    /// [`SlaError::HorizonExceeded`] for spans longer than about [`HORIZON_DAYS`].
    pub fn business_time_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<TimeDelta, SlaError> {
        let mut total = TimeDelta::zero();
        if until <= from {
            return Ok(total);
        }
        let mut spans = self.spans_from(from)?;
        loop {
            let span = spans.next_span()?;
            if span.start >= until {
                return Ok(total);
            }
            let (start, end) = (span.start.max(from), span.end.min(until));
            if end > start {
                total += end - start;
            }
        }
    }

    /// The first instant at or after `at` when the calendar is open.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Result<DateTime<Utc>, SlaError> {
        self.add_business_time(at, TimeDelta::zero())
    }

    /// Whether the calendar is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> Result<bool, SlaError> {
        Ok(self
            .span_around(at)?
            .is_some_and(|span| span.start <= at && at < span.end))
    }

    /// The open stretch that contains `at` or closes exactly at it, if any.
    pub(crate) fn span_around(&self, at: DateTime<Utc>) -> Result<Option<OpenSpan>, SlaError> {
        let mut spans = self.spans_from(at)?;
        loop {
            let span = spans.next_span()?;
            if span.start > at {
                return Ok(None);
            }
            if at <= span.end {
                return Ok(Some(span));
            }
        }
    }

    /// The open stretches from the local day before `at` on (a day's stretch can reach past
    /// the next local midnight when that midnight occurs twice).
    fn spans_from(&self, at: DateTime<Utc>) -> Result<OpenSpans<'_>, SlaError> {
        if !SUPPORTED_YEARS.contains(&at.year()) {
            return Err(SlaError::OutOfRange {
                near: at.date_naive(),
            });
        }
        let today = at.with_timezone(&self.time_zone).date_naive();
        let first_day = today
            .pred_opt()
            .ok_or(SlaError::OutOfRange { near: today })?;
        Ok(OpenSpans {
            calendar: self,
            from: at,
            next_day: Some(first_day),
            days_searched: 0,
            pending: VecDeque::new(),
            last_end: None,
        })
    }

    /// The stretches of `day` as instants, in order, empty ones (inside a skipped hour) left out.
    fn spans_on(&self, day: NaiveDate, into: &mut VecDeque<OpenSpan>) -> Result<(), SlaError> {
        if self.holidays.contains(&day) {
            return Ok(());
        }
        for hours in self.week.on(day.weekday()) {
            let start = opening_instant(self.time_zone, hours.start.on(day)?)?;
            let end = closing_instant(self.time_zone, hours.end.on(day)?)?;
            if start < end {
                into.push_back(OpenSpan { start, end });
            }
        }
        Ok(())
    }
}

/// The calendar's open stretches in time order, without overlaps, day by day up to the horizon.
struct OpenSpans<'a> {
    calendar: &'a BusinessCalendar,
    from: DateTime<Utc>,
    next_day: Option<NaiveDate>,
    days_searched: u32,
    pending: VecDeque<OpenSpan>,
    last_end: Option<DateTime<Utc>>,
}

impl OpenSpans<'_> {
    /// The next open stretch, or an error once the horizon is passed (the sequence never ends
    /// otherwise, so every caller's loop is bounded by the horizon).
    fn next_span(&mut self) -> Result<OpenSpan, SlaError> {
        loop {
            if let Some(span) = self.pending.pop_front() {
                // Opening instants and closing instants are each monotonic in local time, so
                // clipping a stretch at the previous close leaves disjoint, ordered stretches
                // with the same union (overlaps only arise around a repeated hour).
                let start = self
                    .last_end
                    .map_or(span.start, |last| span.start.max(last));
                if start < span.end {
                    self.last_end = Some(span.end);
                    return Ok(OpenSpan {
                        start,
                        end: span.end,
                    });
                }
                continue;
            }
            if self.days_searched >= HORIZON_DAYS {
                return Err(SlaError::HorizonExceeded {
                    from: self.from,
                    days: self.days_searched,
                });
            }
            let day = self.next_day.ok_or(SlaError::OutOfRange {
                near: NaiveDate::MAX,
            })?;
            self.days_searched += 1;
            self.next_day = day.succ_opt();
            self.calendar.spans_on(day, &mut self.pending)?;
        }
    }
}

#[cfg(test)]
mod tests;

/// Generators of calendars for property tests.
#[cfg(test)]
pub(crate) mod strategies {
    use chrono::{NaiveDate, TimeDelta, Weekday};
    use chrono_tz::Tz;
    use proptest::prelude::*;

    use super::{BusinessCalendar, OpeningHours, TimeOfDay, WeeklyHours};

    /// Zones with the awkward cases: DST at 02:00 and at midnight, a 30-minute DST shift, a
    /// skipped day (Apia, December 2011), southern-hemisphere DST, and fixed offsets.
    pub(crate) const TIME_ZONES: [Tz; 10] = [
        Tz::UTC,
        Tz::Europe__Berlin,
        Tz::America__New_York,
        Tz::Europe__London,
        Tz::America__Havana,
        Tz::America__Santiago,
        Tz::Australia__Lord_Howe,
        Tz::Pacific__Apia,
        Tz::Asia__Kolkata,
        Tz::Asia__Kathmandu,
    ];

    /// Zones that never change their offset, where wall-clock membership is the whole truth.
    pub(crate) const FIXED_ZONES: [Tz; 3] = [Tz::UTC, Tz::Asia__Kolkata, Tz::Asia__Kathmandu];

    /// The first day of the dates the tests live in (2010 to 2030, Apia's skipped day included).
    pub(crate) fn epoch() -> NaiveDate {
        NaiveDate::from_ymd_opt(2010, 1, 1).expect("a valid date")
    }

    /// One day's stretches: distinct quarter-hour boundaries paired up in order.
    fn day_hours() -> impl Strategy<Value = Vec<OpeningHours>> {
        prop::collection::btree_set(0u32..=96, 0..=6).prop_map(|points| {
            let points: Vec<u32> = points.into_iter().collect();
            points
                .chunks_exact(2)
                .filter_map(|pair| {
                    OpeningHours::new(TimeOfDay(pair[0] * 900), TimeOfDay(pair[1] * 900)).ok()
                })
                .collect()
        })
    }

    /// A week with some opening hours (Monday 09:00-17:00 when the draw left it empty).
    pub(crate) fn arb_week() -> impl Strategy<Value = WeeklyHours> {
        prop::collection::vec(day_hours(), 7).prop_map(|days| {
            let weekdays = [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ];
            let week = weekdays
                .into_iter()
                .zip(days)
                .try_fold(WeeklyHours::closed(), |week, (day, hours)| {
                    week.with_day(day, hours)
                })
                .expect("generated stretches are sorted and disjoint");
            if week.is_closed_all_week() {
                WeeklyHours::weekdays(&[OpeningHours::new(
                    TimeOfDay(9 * 3600),
                    TimeOfDay(17 * 3600),
                )
                .expect("09:00-17:00 is a stretch")])
                .expect("one stretch cannot overlap")
            } else {
                week
            }
        })
    }

    fn arb_holidays() -> impl Strategy<Value = Vec<NaiveDate>> {
        prop::collection::vec(0i64..7300, 0..30).prop_map(|days| {
            days.into_iter()
                .map(|day| epoch() + TimeDelta::days(day))
                .collect()
        })
    }

    /// A calendar in `zones`: weekly hours or 24x7, with some holidays.
    pub(crate) fn arb_calendar_in(zones: &'static [Tz]) -> impl Strategy<Value = BusinessCalendar> {
        let week = prop_oneof![4 => arb_week(), 1 => Just(WeeklyHours::always_open())];
        (prop::sample::select(zones), week, arb_holidays()).prop_map(|(zone, week, holidays)| {
            BusinessCalendar::new(zone, week)
                .expect("generated weeks have hours")
                .with_holidays(holidays)
        })
    }

    /// A calendar in any of [`TIME_ZONES`].
    pub(crate) fn arb_calendar() -> impl Strategy<Value = BusinessCalendar> {
        arb_calendar_in(&TIME_ZONES)
    }
}
