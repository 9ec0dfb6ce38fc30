//! Everything that can go wrong in the SLA engine, in one enum.

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use thiserror::Error;

use super::calendar::TimeOfDay;
use super::policy::{ItemKind, PolicyRef, PolicyVersion, SlaMetric, SlaPolicyId};
use crate::Priority;

/// What can go wrong when building calendars and policies or running SLA clocks.
///
/// Every fallible function of [`crate::sla`] returns this; none of them panics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SlaError {
    /// Text that is not a time of day (`HH:MM` or `HH:MM:SS`, 00:00 to 24:00).
    #[error("{0:?} is not a time of day (HH:MM or HH:MM:SS, 00:00 to 24:00)")]
    InvalidTimeOfDay(String),
    /// Opening hours that end at or before they start.
    #[error("opening hours must end after they start: {start}-{end}")]
    EmptyOpeningHours {
        /// The opening time.
        start: TimeOfDay,
        /// The closing time.
        end: TimeOfDay,
    },
    /// Two stretches of opening hours on the same weekday overlap.
    #[error(
        "opening hours on {weekday} overlap: {first_start}-{first_end} and {second_start}-{second_end}"
    )]
    OverlappingOpeningHours {
        /// The weekday.
        weekday: Weekday,
        /// The earlier stretch's opening time.
        first_start: TimeOfDay,
        /// The earlier stretch's closing time.
        first_end: TimeOfDay,
        /// The later stretch's opening time.
        second_start: TimeOfDay,
        /// The later stretch's closing time.
        second_end: TimeOfDay,
    },
    /// A time zone name that the IANA database does not know.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// A calendar without a single business hour in the week: no deadline could ever be met.
    #[error("the calendar has no business hours in any weekday")]
    NoBusinessHours,
    /// A negative amount of business time was asked for.
    #[error("business time cannot be negative")]
    NegativeDuration,
    /// The calendar was searched further than the engine's horizon without finding enough
    /// business time (or the end of a span): the question has no useful answer.
    #[error("more than {days} days of calendar searched from {from} without an answer")]
    HorizonExceeded {
        /// Where the search started.
        from: DateTime<Utc>,
        /// How many calendar days were searched.
        days: u32,
    },
    /// A date or instant beyond the range that dates can represent.
    #[error("date arithmetic left the representable range near {near}")]
    OutOfRange {
        /// The local date being worked on.
        near: NaiveDate,
    },
    /// A target of zero or negative business time.
    #[error("the {metric} target for {priority:?} priority must be positive")]
    TargetNotPositive {
        /// The priority.
        priority: Priority,
        /// The metric.
        metric: SlaMetric,
    },
    /// A target longer than the engine accepts.
    #[error(
        "the {metric} target for {priority:?} priority is longer than {max_days} days of business time"
    )]
    TargetTooLong {
        /// The priority.
        priority: Priority,
        /// The metric.
        metric: SlaMetric,
        /// The longest target accepted, in days.
        max_days: i64,
    },
    /// A policy sets two targets for the same priority and metric.
    #[error("the policy sets the {metric} target for {priority:?} priority twice")]
    DuplicateTarget {
        /// The priority.
        priority: Priority,
        /// The metric.
        metric: SlaMetric,
    },
    /// A policy version was published that is not newer than the latest one of that policy.
    #[error("policy {policy} is at version {latest}; version {given} cannot be published after it")]
    VersionNotNewer {
        /// The policy.
        policy: SlaPolicyId,
        /// The latest version already published.
        latest: PolicyVersion,
        /// The version offered.
        given: PolicyVersion,
    },
    /// An item was put under a policy whose filter does not select it.
    #[error("policy {policy} does not apply to this {kind}")]
    PolicyDoesNotApply {
        /// The policy.
        policy: PolicyRef,
        /// The kind of item.
        kind: ItemKind,
    },
    /// A clock was driven with a policy version other than the one it was activated under.
    #[error("the item runs under policy {expected}, not {given}")]
    PolicyMismatch {
        /// The version the item started under.
        expected: PolicyRef,
        /// The version passed in.
        given: PolicyRef,
    },
    /// An input older than one already applied: the SLA history cannot be rewritten.
    #[error("input at {at} is older than the last applied instant {last}")]
    InputOutOfOrder {
        /// The input's instant.
        at: DateTime<Utc>,
        /// The latest instant already applied.
        last: DateTime<Utc>,
    },
}
