//! One SLA clock: one metric of one item (one cycle of it, for next response), counting
//! business time from activation to fulfilment, minus paused time, against a target.
//!
//! The clock keeps the business time of its finished running stretches and the start of the
//! current one, never a wall-clock start: pausing and resuming therefore move the deadline out
//! by exactly the paused business time, and a new target (a priority change) is measured
//! against the time already used instead of restarting from activation.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::SlaError;
use super::calendar::BusinessCalendar;
use super::policy::{PolicyRef, SlaMetric, SlaPolicy};
use crate::Priority;

/// Share of the target after which a clock is at risk, as a fraction `AT_RISK_NUMERATOR /
/// AT_RISK_DENOMINATOR` (80 %).
const AT_RISK_NUMERATOR: i128 = 4;
const AT_RISK_DENOMINATOR: i128 = 5;

/// Something that happened to an SLA clock, at the exact instant it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaEvent {
    /// The metric of the clock.
    pub metric: SlaMetric,
    /// The clock's cycle: 1 for every metric but next response, which counts its exchanges.
    pub cycle: u32,
    /// When it happened. For a breach this is the deadline itself, however late it was noticed.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: SlaEventKind,
}

/// The kinds of [`SlaEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlaEventKind {
    /// The clock started, under this policy version and priority.
    Activated {
        /// The policy version the clock runs under for good.
        policy: PolicyRef,
        /// The item's priority at activation.
        priority: Priority,
        /// The business time allowed, `None` when the policy sets no target for it.
        target: Option<TimeDelta>,
        /// When the target runs out; `None` without a target or when the clock starts paused.
        deadline: Option<DateTime<Utc>>,
    },
    /// The clock stopped counting (the item waits on the customer).
    Paused {
        /// Business time used so far.
        elapsed: TimeDelta,
    },
    /// The clock counts again; the deadline moved out by the paused business time.
    Resumed {
        /// The new deadline, `None` without a target or once breached.
        deadline: Option<DateTime<Utc>>,
    },
    /// The item's priority changed, and with it the target; the time used so far stays.
    Retargeted {
        /// The new priority.
        priority: Priority,
        /// The new target.
        target: Option<TimeDelta>,
        /// The new deadline, `None` while paused, without a target or once breached.
        deadline: Option<DateTime<Utc>>,
    },
    /// The target ran out before the clock was fulfilled. `at` is the deadline, or the instant
    /// of a priority change that set a target already used up.
    Breached,
    /// The clock's goal was met (a reply, a touch, the item solved or closed).
    Fulfilled {
        /// Business time used, paused time excluded.
        elapsed: TimeDelta,
        /// Whether the clock had breached before.
        late: bool,
    },
}

/// Where a clock is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum ClockPhase {
    /// Counting business time.
    Running {
        /// When the current running stretch began.
        since: DateTime<Utc>,
        /// When the target runs out, unless paused first; `None` without a target or once
        /// breached.
        due_at: Option<DateTime<Utc>>,
    },
    /// Not counting.
    Paused {
        /// When the pause began.
        since: DateTime<Utc>,
    },
    /// Done.
    Fulfilled {
        /// When the goal was met.
        at: DateTime<Utc>,
    },
}

/// An SLA clock's standing at an instant, for read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum SlaHealth {
    /// Running with less than 80 % of the target used (or running without a target).
    OnTrack,
    /// Running with at least 80 % of the target used.
    AtRisk,
    /// Paused, and not breached.
    Paused {
        /// Since when.
        since: DateTime<Utc>,
    },
    /// The target ran out and the clock is not fulfilled.
    Breached {
        /// The breach instant (the deadline).
        at: DateTime<Utc>,
    },
    /// The clock is fulfilled.
    Fulfilled {
        /// When.
        at: DateTime<Utc>,
        /// When it had breached before that, if it had.
        breached_at: Option<DateTime<Utc>>,
    },
}

/// A clock's status at an instant, for read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockStatus {
    /// The metric.
    pub metric: SlaMetric,
    /// The cycle.
    pub cycle: u32,
    /// The policy version the clock runs under.
    pub policy: PolicyRef,
    /// On track, at risk, paused, breached or fulfilled.
    pub health: SlaHealth,
    /// The business time allowed, if any.
    pub target: Option<TimeDelta>,
    /// The deadline: the pending one while running, the breach instant once breached; `None`
    /// while paused before a breach, when fulfilled in time, or without a target.
    pub deadline: Option<DateTime<Utc>>,
    /// Business time used so far, paused time excluded.
    pub elapsed: TimeDelta,
    /// Business time left before the target runs out (zero once it has); `None` without a
    /// target.
    pub remaining: Option<TimeDelta>,
}

/// One SLA clock. Built and driven by [`ItemSla`](super::ItemSla); read here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaClock {
    metric: SlaMetric,
    cycle: u32,
    policy: PolicyRef,
    priority: Priority,
    target: Option<TimeDelta>,
    activated_at: DateTime<Utc>,
    /// Business time of the running stretches that have ended.
    elapsed_before: TimeDelta,
    phase: ClockPhase,
    breached_at: Option<DateTime<Utc>>,
}

impl SlaClock {
    /// Starts a clock for `metric` at `at` under `policy` and `priority`; paused from the start
    /// when `paused`.
    pub(crate) fn activate(
        metric: SlaMetric,
        cycle: u32,
        policy: &SlaPolicy,
        priority: Priority,
        at: DateTime<Utc>,
        paused: bool,
    ) -> Result<(Self, Vec<SlaEvent>), SlaError> {
        let target = policy.target(priority, metric);
        let mut clock = Self {
            metric,
            cycle,
            policy: policy.reference(),
            priority,
            target,
            activated_at: at,
            elapsed_before: TimeDelta::zero(),
            phase: ClockPhase::Paused { since: at },
            breached_at: None,
        };
        let deadline = if paused {
            None
        } else {
            let due_at = clock.due_from(policy.calendar(), at)?;
            clock.phase = ClockPhase::Running { since: at, due_at };
            due_at
        };
        let mut events = vec![clock.event(
            at,
            SlaEventKind::Activated {
                policy: clock.policy,
                priority,
                target,
                deadline,
            },
        )];
        if paused {
            events.push(clock.event(
                at,
                SlaEventKind::Paused {
                    elapsed: TimeDelta::zero(),
                },
            ));
        }
        Ok((clock, events))
    }

    /// The metric measured.
    pub fn metric(&self) -> SlaMetric {
        self.metric
    }

    /// The cycle (1 but for next response).
    pub fn cycle(&self) -> u32 {
        self.cycle
    }

    /// The policy version the clock was activated under.
    pub fn policy(&self) -> PolicyRef {
        self.policy
    }

    /// The priority the current target belongs to.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The business time allowed, if any.
    pub fn target(&self) -> Option<TimeDelta> {
        self.target
    }

    /// When the clock was activated.
    pub fn activated_at(&self) -> DateTime<Utc> {
        self.activated_at
    }

    /// Where the clock is in its life.
    pub fn phase(&self) -> ClockPhase {
        self.phase
    }

    /// When the clock breached, if it did.
    pub fn breached_at(&self) -> Option<DateTime<Utc>> {
        self.breached_at
    }

    /// Whether the clock is done.
    pub fn is_fulfilled(&self) -> bool {
        matches!(self.phase, ClockPhase::Fulfilled { .. })
    }

    /// The pending deadline: set while running with a target and not yet breached.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        match self.phase {
            ClockPhase::Running { due_at, .. } => due_at,
            ClockPhase::Paused { .. } | ClockPhase::Fulfilled { .. } => None,
        }
    }

    /// Business time used by `now`, paused time excluded.
    pub fn elapsed_at(
        &self,
        calendar: &BusinessCalendar,
        now: DateTime<Utc>,
    ) -> Result<TimeDelta, SlaError> {
        match self.phase {
            ClockPhase::Running { since, .. } => Ok(saturating_add(
                self.elapsed_before,
                calendar.business_time_between(since, now)?,
            )),
            ClockPhase::Paused { .. } | ClockPhase::Fulfilled { .. } => Ok(self.elapsed_before),
        }
    }

    /// The clock's status at `now`. A deadline already passed counts as breached at the
    /// deadline even before an input or a tick has recorded the breach.
    pub fn status_at(
        &self,
        calendar: &BusinessCalendar,
        now: DateTime<Utc>,
    ) -> Result<ClockStatus, SlaError> {
        let elapsed = self.elapsed_at(calendar, now)?;
        let overdue = self.due_at().filter(|due| *due < now);
        let breached_at = self.breached_at.or(overdue);
        let health = match (self.phase, breached_at) {
            (ClockPhase::Fulfilled { at }, breached_at) => SlaHealth::Fulfilled { at, breached_at },
            (_, Some(at)) => SlaHealth::Breached { at },
            (ClockPhase::Paused { since }, None) => SlaHealth::Paused { since },
            (ClockPhase::Running { .. }, None) if self.is_at_risk(elapsed) => SlaHealth::AtRisk,
            (ClockPhase::Running { .. }, None) => SlaHealth::OnTrack,
        };
        Ok(ClockStatus {
            metric: self.metric,
            cycle: self.cycle,
            policy: self.policy,
            health,
            target: self.target,
            deadline: breached_at.or(self.due_at()),
            elapsed,
            remaining: self
                .target
                .map(|target| saturating_sub(target, elapsed).max(TimeDelta::zero())),
        })
    }

    fn is_at_risk(&self, elapsed: TimeDelta) -> bool {
        self.target.is_some_and(|target| {
            nanos(elapsed) * AT_RISK_DENOMINATOR >= nanos(target) * AT_RISK_NUMERATOR
        })
    }

    /// Records the breach of a deadline that passed before `now`, dated at the deadline.
    /// Fulfilling exactly at the deadline is in time, so only a deadline strictly before `now`
    /// breaches.
    pub(crate) fn reveal_breach(&mut self, now: DateTime<Utc>) -> Option<SlaEvent> {
        let ClockPhase::Running {
            since,
            due_at: Some(due),
        } = self.phase
        else {
            return None;
        };
        if due >= now {
            return None;
        }
        self.phase = ClockPhase::Running {
            since,
            due_at: None,
        };
        self.breached_at = Some(due);
        Some(self.event(due, SlaEventKind::Breached))
    }

    /// Stops counting at `at`.
    pub(crate) fn pause(
        &mut self,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Result<Option<SlaEvent>, SlaError> {
        let ClockPhase::Running { .. } = self.phase else {
            return Ok(None);
        };
        self.elapsed_before = self.elapsed_at(calendar, at)?;
        self.phase = ClockPhase::Paused { since: at };
        Ok(Some(self.event(
            at,
            SlaEventKind::Paused {
                elapsed: self.elapsed_before,
            },
        )))
    }

    /// Counts again from `at`.
    pub(crate) fn resume(
        &mut self,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Result<Option<SlaEvent>, SlaError> {
        let ClockPhase::Paused { .. } = self.phase else {
            return Ok(None);
        };
        let due_at = self.due_from(calendar, at)?;
        self.phase = ClockPhase::Running { since: at, due_at };
        Ok(Some(
            self.event(at, SlaEventKind::Resumed { deadline: due_at }),
        ))
    }

    /// Meets the clock's goal at `at`.
    pub(crate) fn fulfil(
        &mut self,
        calendar: &BusinessCalendar,
        at: DateTime<Utc>,
    ) -> Result<Option<SlaEvent>, SlaError> {
        if self.is_fulfilled() {
            return Ok(None);
        }
        self.elapsed_before = self.elapsed_at(calendar, at)?;
        self.phase = ClockPhase::Fulfilled { at };
        let kind = SlaEventKind::Fulfilled {
            elapsed: self.elapsed_before,
            late: self.breached_at.is_some(),
        };
        Ok(Some(self.event(at, kind)))
    }

    /// Measures the clock against `priority`'s target from `at` on, keeping the time used so far.
    /// A target already exceeded breaches at `at`: the clock could not be late under a target
    /// it did not have yet. Nothing happens when the target stays the same.
    pub(crate) fn retarget(
        &mut self,
        policy: &SlaPolicy,
        priority: Priority,
        at: DateTime<Utc>,
    ) -> Result<Vec<SlaEvent>, SlaError> {
        let target = policy.target(priority, self.metric);
        self.priority = priority;
        if self.is_fulfilled() || target == self.target {
            return Ok(Vec::new());
        }
        let calendar = policy.calendar();
        self.target = target;
        // Folding the running stretch into `elapsed_before` at `at` changes nothing measured
        // (business time is additive) and lets the new deadline be counted from `at`.
        self.elapsed_before = self.elapsed_at(calendar, at)?;
        let newly_breached =
            self.breached_at.is_none() && target.is_some_and(|target| self.elapsed_before > target);
        if newly_breached {
            self.breached_at = Some(at);
        }
        let deadline = match self.phase {
            ClockPhase::Running { .. } => {
                let due_at = self.due_from(calendar, at)?;
                self.phase = ClockPhase::Running { since: at, due_at };
                due_at
            }
            ClockPhase::Paused { .. } | ClockPhase::Fulfilled { .. } => None,
        };
        let mut events = vec![self.event(
            at,
            SlaEventKind::Retargeted {
                priority,
                target,
                deadline,
            },
        )];
        if newly_breached {
            events.push(self.event(at, SlaEventKind::Breached));
        }
        Ok(events)
    }

    /// When the target runs out if the clock counts from `since`; `None` without a target or
    /// once breached.
    fn due_from(
        &self,
        calendar: &BusinessCalendar,
        since: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, SlaError> {
        match (self.target, self.breached_at) {
            (Some(target), None) => {
                let remaining = saturating_sub(target, self.elapsed_before).max(TimeDelta::zero());
                calendar.add_business_time(since, remaining).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn event(&self, at: DateTime<Utc>, kind: SlaEventKind) -> SlaEvent {
        SlaEvent {
            metric: self.metric,
            cycle: self.cycle,
            at,
            kind,
        }
    }
}

/// The duration in nanoseconds, exactly (an i128 holds any `TimeDelta`).
fn nanos(duration: TimeDelta) -> i128 {
    i128::from(duration.num_seconds()) * 1_000_000_000 + i128::from(duration.subsec_nanos())
}

// Durations here are bounded by targets and the calendar horizon, but a deserialized state is
// not checked, so arithmetic saturates instead of panicking.
fn saturating_add(a: TimeDelta, b: TimeDelta) -> TimeDelta {
    a.checked_add(&b).unwrap_or(TimeDelta::MAX)
}

fn saturating_sub(a: TimeDelta, b: TimeDelta) -> TimeDelta {
    a.checked_sub(&b).unwrap_or(TimeDelta::MIN)
}
