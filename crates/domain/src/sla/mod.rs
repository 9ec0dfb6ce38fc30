//! The SLA engine, one for leads and tickets: business-hours calendars, versioned policies
//! and clocks that activate, pause, resume, fulfil and breach at exact instants.
//!
//! - [`BusinessCalendar`] (`calendar.rs`): weekly opening hours in a time zone, holidays,
//!   [`BusinessCalendar::add_business_time`] and [`BusinessCalendar::business_time_between`];
//!   daylight-saving changes are read as `local_time.rs` explains.
//! - [`SlaPolicy`] and [`PolicyBook`] (`policy.rs`): a filter, a calendar and targets per
//!   (priority, [`SlaMetric`]); versions are append-only and an item stays on its version.
//! - [`SlaClock`] (`clock.rs`): one metric of one item, counting business time minus paused
//!   time; emits [`SlaEvent`]s and reports a [`ClockStatus`].
//! - [`ItemSla`] (`item.rs`): an item's clocks, fed with plain [`SlaInput`]s.
//!
//! Everything is pure: `now` is always a parameter, and a breach is dated at its deadline
//! however late it is noticed, so replaying the same inputs gives the same events.

mod calendar;
mod clock;
mod error;
mod item;
mod local_time;
mod policy;

#[cfg(test)]
mod properties;

pub use calendar::{BusinessCalendar, HORIZON_DAYS, OpeningHours, TimeOfDay, WeeklyHours};
pub use clock::{ClockPhase, ClockStatus, SlaClock, SlaEvent, SlaEventKind, SlaHealth};
pub use error::SlaError;
pub use item::{ItemSla, SlaInput, WorkStatus};
pub use policy::{
    DEFAULT_LEAD_FIRST_TOUCH, ItemKind, MAX_TARGET_DAYS, PolicyBook, PolicyFilter, PolicyRef,
    PolicyVersion, SlaMetric, SlaPolicy, SlaPolicyId, SlaSubject, SlaTarget,
};
