//! Turning a calendar's wall-clock times into instants across daylight-saving changes.
//!
//! A local time can exist once, twice (when clocks go back) or not at all (when they jump
//! forward). Opening hours are read as "from the moment the wall clock first shows the opening
//! time until the moment it last shows the closing time": an opening time that occurs twice
//! opens at its first occurrence, a closing time that occurs twice closes at its second, and a
//! time skipped by a jump forward maps to the instant of the jump. The mapping is monotonic in
//! the local time, so stretches keep their order, and a stretch lying wholly inside a skipped
//! hour is empty.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::SlaError;

/// Wider than any UTC offset the time zone database has ever used (about ±16 hours), so a
/// skipped local time always lies between these bounds around it read as UTC.
const OFFSET_BOUND_SECONDS: i64 = 26 * 3600;

/// The first instant at which the wall clock in `tz` shows `local` or later.
pub(crate) fn opening_instant(tz: Tz, local: NaiveDateTime) -> Result<DateTime<Utc>, SlaError> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Ok(first.min(second).with_timezone(&Utc)),
        LocalResult::None => jump_over(tz, local),
    }
}

/// The last instant at which the wall clock in `tz` shows `local` or earlier: where a stretch
/// closing at `local` ends.
pub(crate) fn closing_instant(tz: Tz, local: NaiveDateTime) -> Result<DateTime<Utc>, SlaError> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Ok(first.max(second).with_timezone(&Utc)),
        LocalResult::None => jump_over(tz, local),
    }
}

/// The instant at which the clock jumps over the non-existent `local`.
///
/// chrono-tz exposes no transition table, so this bisects on whole seconds (transitions in the
/// database fall on whole seconds). Before the jump the wall clock shows less than `local`,
/// after it more; since `local` never shows, the only place the comparison flips from
/// "earlier" to "later" inside the window is the jump itself. At most ~18 steps.
fn jump_over(tz: Tz, local: NaiveDateTime) -> Result<DateTime<Utc>, SlaError> {
    let out_of_range = SlaError::OutOfRange { near: local.date() };
    let centre = local.and_utc().timestamp();
    let mut before = centre - OFFSET_BOUND_SECONDS;
    let mut after = centre + OFFSET_BOUND_SECONDS;
    let wall = |seconds: i64| -> Result<NaiveDateTime, SlaError> {
        DateTime::from_timestamp(seconds, 0)
            .map(|at| at.with_timezone(&tz).naive_local())
            .ok_or_else(|| out_of_range.clone())
    };
    if wall(before)? >= local || wall(after)? < local {
        return Err(out_of_range);
    }
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        if wall(middle)? >= local {
            after = middle;
        } else {
            before = middle;
        }
    }
    DateTime::from_timestamp(after, 0).ok_or(out_of_range)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    use super::*;

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|day| day.and_hms_opt(h, mi, 0))
            .unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn an_ordinary_local_time_maps_to_its_one_instant() {
        let at = local(2026, 3, 2, 9, 0);
        assert_eq!(opening_instant(Berlin, at).unwrap(), utc(2026, 3, 2, 8, 0));
        assert_eq!(closing_instant(Berlin, at).unwrap(), utc(2026, 3, 2, 8, 0));
    }

    #[test]
    fn a_time_skipped_by_the_spring_jump_maps_to_the_jump() {
        // Berlin jumps from 02:00 CET to 03:00 CEST at 01:00 UTC on 29 March 2026.
        let skipped = local(2026, 3, 29, 2, 30);
        assert_eq!(
            opening_instant(Berlin, skipped).unwrap(),
            utc(2026, 3, 29, 1, 0)
        );
        assert_eq!(
            closing_instant(Berlin, skipped).unwrap(),
            utc(2026, 3, 29, 1, 0)
        );
        // New York jumps from 02:00 EST to 03:00 EDT at 07:00 UTC on 8 March 2026.
        let skipped = local(2026, 3, 8, 2, 0);
        assert_eq!(
            opening_instant(New_York, skipped).unwrap(),
            utc(2026, 3, 8, 7, 0)
        );
    }

    #[test]
    fn a_repeated_time_opens_at_its_first_and_closes_at_its_second_occurrence() {
        // New York repeats 01:00-02:00 on 1 November 2026 (EDT, then EST).
        let repeated = local(2026, 11, 1, 1, 30);
        assert_eq!(
            opening_instant(New_York, repeated).unwrap(),
            utc(2026, 11, 1, 5, 30)
        );
        assert_eq!(
            closing_instant(New_York, repeated).unwrap(),
            utc(2026, 11, 1, 6, 30)
        );
    }

    #[test]
    fn a_whole_skipped_day_maps_to_the_jump() {
        // Samoa skipped 30 December 2011, jumping from 29 Dec 24:00 (-10:00) to 31 Dec 00:00.
        let skipped = local(2011, 12, 30, 12, 0);
        let jump = utc(2011, 12, 30, 10, 0);
        assert_eq!(
            opening_instant(chrono_tz::Pacific::Apia, skipped).unwrap(),
            jump
        );
    }
}
