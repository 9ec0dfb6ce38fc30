//! Forecast periods: calendar months and quarters, named by the date they start on.

use std::fmt;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How long a forecast period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// Calendar months.
    Month,
    /// Calendar quarters (January to March is Q1).
    Quarter,
}

impl PeriodKind {
    fn months(self) -> u32 {
        match self {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
        }
    }
}

/// A calendar month or quarter (UTC dates): its kind and the date it starts on.
///
/// Only real period starts can be built or deserialized (the first of a month, and of January,
/// April, July or October for a quarter), so two values name the same period exactly when
/// they are equal. Periods order by start date, then kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "PeriodParts")]
pub struct Period {
    start: NaiveDate,
    kind: PeriodKind,
}

/// Why a date and a kind do not name a period.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeriodError {
    /// The date is not the first day of a period of that kind.
    #[error("{start} does not start a {kind:?} period")]
    NotAPeriodStart {
        /// The date given.
        start: NaiveDate,
        /// The kind of period asked for.
        kind: PeriodKind,
    },
}

/// The stored form of a period, checked before it becomes one.
#[derive(Deserialize)]
struct PeriodParts {
    start: NaiveDate,
    kind: PeriodKind,
}

impl TryFrom<PeriodParts> for Period {
    type Error = PeriodError;
    fn try_from(parts: PeriodParts) -> Result<Self, Self::Error> {
        Period::new(parts.start, parts.kind)
    }
}

impl Period {
    /// The period of `kind` starting on `start`; refused unless `start` is the first day of
    /// such a period.
    pub fn new(start: NaiveDate, kind: PeriodKind) -> Result<Self, PeriodError> {
        let period = Self::of(start, kind);
        if period.start == start {
            Ok(period)
        } else {
            Err(PeriodError::NotAPeriodStart { start, kind })
        }
    }

    /// The period of `kind` that `date` falls in.
    pub fn of(date: NaiveDate, kind: PeriodKind) -> Self {
        let first_month0 = date.month0() / kind.months() * kind.months();
        let start = NaiveDate::from_ymd_opt(date.year(), first_month0 + 1, 1)
            .expect("the first of a month in a valid date's year is a valid date");
        Self { start, kind }
    }

    /// The month `month` (1 to 12) of `year`, if both are valid.
    pub fn month(year: i32, month: u32) -> Option<Self> {
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        Some(Self::of(start, PeriodKind::Month))
    }

    /// The quarter `quarter` (1 to 4) of `year`, if both are valid.
    pub fn quarter(year: i32, quarter: u32) -> Option<Self> {
        if !(1..=4).contains(&quarter) {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, quarter * 3 - 2, 1)?;
        Some(Self::of(start, PeriodKind::Quarter))
    }

    /// The first day of the period.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// Month or quarter.
    pub fn kind(&self) -> PeriodKind {
        self.kind
    }

    /// The first day after the period; `None` only for the last period chrono can represent.
    pub fn end(&self) -> Option<NaiveDate> {
        self.start
            .checked_add_months(Months::new(self.kind.months()))
    }

    /// Whether `date` falls in the period.
    pub fn contains(&self, date: NaiveDate) -> bool {
        Self::of(date, self.kind) == *self
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Month => write!(f, "{}-{:02}", self.start.year(), self.start.month()),
            PeriodKind::Quarter => {
                write!(f, "{}-Q{}", self.start.year(), self.start.month0() / 3 + 1)
            }
        }
    }
}

/// Strategies for property tests.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;

    /// Any period kind.
    pub(crate) fn arb_period_kind() -> impl Strategy<Value = PeriodKind> {
        prop_oneof![Just(PeriodKind::Month), Just(PeriodKind::Quarter)]
    }

    /// Any date chrono can represent.
    pub(crate) fn arb_date() -> impl Strategy<Value = NaiveDate> {
        let min = NaiveDate::MIN.num_days_from_ce();
        let max = NaiveDate::MAX.num_days_from_ce();
        prop_oneof![
            (min..=max)
                .prop_map(|days| NaiveDate::from_num_days_from_ce_opt(days)
                    .expect("within chrono's range")),
            Just(NaiveDate::MIN),
            Just(NaiveDate::MAX),
        ]
    }

    /// Periods of 2025 to 2027, where tests' forecasts meet.
    pub(crate) fn arb_period() -> impl Strategy<Value = Period> {
        (2025i32..=2027, 1u32..=12, arb_period_kind()).prop_map(|(year, month, kind)| {
            Period::of(
                NaiveDate::from_ymd_opt(year, month, 1).expect("a valid month"),
                kind,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::strategies::{arb_date, arb_period_kind};
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn a_date_falls_in_its_month_and_quarter() {
        let may = date(2026, 5, 17);
        assert_eq!(
            Period::of(may, PeriodKind::Month),
            Period::month(2026, 5).unwrap()
        );
        assert_eq!(
            Period::of(may, PeriodKind::Quarter),
            Period::quarter(2026, 2).unwrap()
        );
        assert_eq!(Period::quarter(2026, 2).unwrap().start(), date(2026, 4, 1));
        assert_eq!(
            Period::quarter(2026, 4).unwrap().end(),
            Some(date(2027, 1, 1))
        );
        assert_eq!(Period::month(2026, 12).unwrap().to_string(), "2026-12");
        assert_eq!(Period::quarter(2026, 3).unwrap().to_string(), "2026-Q3");
    }

    #[test]
    fn only_real_periods_can_be_named() {
        assert_eq!(Period::month(2026, 13), None);
        assert_eq!(Period::quarter(2026, 0), None);
        assert_eq!(Period::quarter(2026, 5), None);
        assert_eq!(
            Period::new(date(2026, 5, 1), PeriodKind::Quarter),
            Err(PeriodError::NotAPeriodStart {
                start: date(2026, 5, 1),
                kind: PeriodKind::Quarter
            })
        );
        assert!(Period::new(date(2026, 5, 2), PeriodKind::Month).is_err());
        assert!(Period::new(date(2026, 7, 1), PeriodKind::Quarter).is_ok());
    }

    #[test]
    fn a_stored_period_is_its_start_and_kind_and_is_checked_on_reading() {
        let q2 = Period::quarter(2026, 2).unwrap();
        let stored = json!({"start": "2026-04-01", "kind": "quarter"});
        assert_eq!(serde_json::to_value(q2).unwrap(), stored);
        assert_eq!(serde_json::from_value::<Period>(stored).unwrap(), q2);
        assert!(
            serde_json::from_value::<Period>(json!({"start": "2026-05-01", "kind": "quarter"}))
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn every_date_falls_in_exactly_the_period_that_starts_on_or_before_it(
            date in arb_date(),
            kind in arb_period_kind(),
        ) {
            let period = Period::of(date, kind);
            prop_assert!(period.start() <= date);
            prop_assert!(period.end().is_none_or(|end| date < end));
            prop_assert!(period.contains(date));
            prop_assert_eq!(Period::new(period.start(), kind), Ok(period));
            prop_assert_eq!(Period::of(period.start(), kind), period);
            let back: Period = serde_json::from_value(serde_json::to_value(period).unwrap()).unwrap();
            prop_assert_eq!(back, period);
        }
    }
}
