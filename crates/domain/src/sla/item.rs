//! The SLA of one item (a ticket or a lead): its clocks, fed with plain inputs.
//!
//! The inputs are the engine's own vocabulary, not the ticket or lead aggregates' events; a
//! projection maps those events onto [`SlaInput`] and calls [`ItemSla::open`] when an item
//! opens, [`ItemSla::apply`] for each later event in stream order, and [`ItemSla::tick`] from
//! a scheduler to reveal breaches that no event revealed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SlaError;
use super::clock::{ClockStatus, SlaClock, SlaEvent};
use super::policy::{ItemKind, PolicyRef, SlaMetric, SlaPolicy, SlaSubject};
use crate::{Channel, Priority};

/// The work status of an item, as far as SLAs care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkStatus {
    /// Someone on our side has to act: clocks run.
    Open,
    /// The item waits on the customer: clocks pause.
    WaitingOnCustomer,
    /// The work is done: every clock is fulfilled. A customer reply can still start a next
    /// response cycle, which runs until an agent replies (a reply to a solved ticket normally
    /// reopens it).
    Solved,
    /// Final: every clock is fulfilled and nothing starts again.
    Closed,
}

/// Something that happened to an item, in the SLA engine's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlaInput {
    /// An agent or rep replied to the customer. Fulfils the first response and the running
    /// next response of a ticket, and counts as the first touch of a lead.
    AgentReplied {
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer wrote, through any channel. After an agent reply this starts a next
    /// response cycle of a ticket.
    CustomerReplied {
        /// When.
        at: DateTime<Utc>,
        /// Through which channel; every channel counts alike.
        channel: Channel,
    },
    /// A rep touched a lead for the first time (a call, an email, a meeting booked).
    FirstTouch {
        /// When.
        at: DateTime<Utc>,
    },
    /// The item's status changed.
    StatusChanged {
        /// When.
        at: DateTime<Utc>,
        /// The new status.
        status: WorkStatus,
    },
    /// The item's priority changed: running clocks keep the time used and get the new
    /// priority's target.
    PriorityChanged {
        /// When.
        at: DateTime<Utc>,
        /// The new priority.
        priority: Priority,
    },
}

impl SlaInput {
    /// When the input happened.
    pub fn at(self) -> DateTime<Utc> {
        match self {
            SlaInput::AgentReplied { at }
            | SlaInput::CustomerReplied { at, .. }
            | SlaInput::FirstTouch { at }
            | SlaInput::StatusChanged { at, .. }
            | SlaInput::PriorityChanged { at, .. } => at,
        }
    }
}

/// The SLA state of one item: the policy version it runs under and all its clocks, running and
/// finished.
///
/// Every operation is all-or-nothing: on error the state is unchanged. Events come out in time
/// order; a breach is dated at its deadline even when revealed later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSla {
    policy: PolicyRef,
    kind: ItemKind,
    priority: Priority,
    status: WorkStatus,
    /// Whether the last message was an agent's, so that the customer's next one starts a
    /// next response cycle.
    awaiting_customer: bool,
    clocks: Vec<SlaClock>,
    /// The latest instant applied: an input's, or a breach revealed by a tick.
    applied_until: DateTime<Utc>,
}

impl ItemSla {
    /// Starts the SLA of an item that opened at `at` (a ticket opened, a lead received) under
    /// `policy`, usually the one [`PolicyBook::select`](super::PolicyBook::select) chose for
    /// `subject`. Activates the metrics of the item's kind. Errors: the policy's filter does
    /// not cover `subject` ([`SlaError::PolicyDoesNotApply`]), or the calendar cannot place a
    /// deadline.
    pub fn open(
        policy: &SlaPolicy,
        subject: &SlaSubject,
        at: DateTime<Utc>,
    ) -> Result<(Self, Vec<SlaEvent>), SlaError> {
        if !policy.filter().matches(subject) {
            return Err(SlaError::PolicyDoesNotApply {
                policy: policy.reference(),
                kind: subject.kind,
            });
        }
        let mut item = Self {
            policy: policy.reference(),
            kind: subject.kind,
            priority: subject.priority,
            status: WorkStatus::Open,
            awaiting_customer: false,
            clocks: Vec::new(),
            applied_until: at,
        };
        let mut events = Vec::new();
        for &metric in SlaMetric::started_at_opening(subject.kind) {
            events.extend(item.activate(policy, metric, at)?);
        }
        Ok((item, events))
    }

    /// Applies `input` under `policy`, which must be the version the item opened under.
    ///
    /// First reveals every deadline that passed before the input (dated at the deadline), then
    /// applies the input. Inputs must come in time order; one at the same instant as the last
    /// is fine, an older one is refused ([`SlaError::InputOutOfOrder`]). Inputs that mean
    /// nothing for the item's kind (a first touch on a ticket) change nothing.
    pub fn apply(
        &mut self,
        policy: &SlaPolicy,
        input: SlaInput,
    ) -> Result<Vec<SlaEvent>, SlaError> {
        self.check_policy(policy)?;
        let at = input.at();
        if at < self.applied_until {
            return Err(SlaError::InputOutOfOrder {
                at,
                last: self.applied_until,
            });
        }
        let mut next = self.clone();
        let mut events = next.reveal_breaches(at);
        events.extend(next.react(policy, input)?);
        next.applied_until = at;
        *self = next;
        Ok(events)
    }

    /// Reveals the breaches of deadlines that passed before `now`, each dated at its deadline.
    ///
    /// For a scheduler, e.g. at [`Self::next_deadline`]. A tick at or before the last applied
    /// instant finds nothing. A breach revealed here is a recorded fact: an input older than
    /// it is refused afterwards, so tick only with a `now` up to which the item's events have
    /// been applied.
    pub fn tick(
        &mut self,
        policy: &SlaPolicy,
        now: DateTime<Utc>,
    ) -> Result<Vec<SlaEvent>, SlaError> {
        self.check_policy(policy)?;
        let events = self.reveal_breaches(now);
        if let Some(latest) = events.iter().map(|event| event.at).max() {
            self.applied_until = self.applied_until.max(latest);
        }
        Ok(events)
    }

    /// The status of every clock at `now`, oldest clock first.
    pub fn status_at(
        &self,
        policy: &SlaPolicy,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClockStatus>, SlaError> {
        self.check_policy(policy)?;
        self.clocks
            .iter()
            .map(|clock| clock.status_at(policy.calendar(), now))
            .collect()
    }

    /// The earliest pending deadline of a running clock: when a tick would next reveal a breach.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.clocks.iter().filter_map(SlaClock::due_at).min()
    }

    /// The policy version the item runs under.
    pub fn policy(&self) -> PolicyRef {
        self.policy
    }

    /// Lead or ticket.
    pub fn kind(&self) -> ItemKind {
        self.kind
    }

    /// The current priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The current work status.
    pub fn work_status(&self) -> WorkStatus {
        self.status
    }

    /// Every clock, oldest first.
    pub fn clocks(&self) -> &[SlaClock] {
        &self.clocks
    }

    /// The latest instant applied.
    pub fn applied_until(&self) -> DateTime<Utc> {
        self.applied_until
    }

    fn check_policy(&self, policy: &SlaPolicy) -> Result<(), SlaError> {
        if policy.reference() == self.policy {
            Ok(())
        } else {
            Err(SlaError::PolicyMismatch {
                expected: self.policy,
                given: policy.reference(),
            })
        }
    }

    fn reveal_breaches(&mut self, now: DateTime<Utc>) -> Vec<SlaEvent> {
        let mut events: Vec<SlaEvent> = self
            .clocks
            .iter_mut()
            .filter_map(|clock| clock.reveal_breach(now))
            .collect();
        events.sort_by_key(|event| event.at);
        events
    }

    fn react(&mut self, policy: &SlaPolicy, input: SlaInput) -> Result<Vec<SlaEvent>, SlaError> {
        let calendar = policy.calendar();
        match input {
            SlaInput::AgentReplied { at } => {
                self.awaiting_customer = self.kind == ItemKind::Ticket;
                let answered = [
                    SlaMetric::FirstResponse,
                    SlaMetric::NextResponse,
                    SlaMetric::LeadFirstTouch,
                ];
                self.for_clocks(
                    |clock| answered.contains(&clock.metric()),
                    |clock| clock.fulfil(calendar, at),
                )
            }
            SlaInput::FirstTouch { at } => self.for_clocks(
                |clock| clock.metric() == SlaMetric::LeadFirstTouch,
                |clock| clock.fulfil(calendar, at),
            ),
            SlaInput::CustomerReplied { at, channel: _ } => {
                if !self.awaiting_customer || self.status == WorkStatus::Closed {
                    return Ok(Vec::new());
                }
                self.awaiting_customer = false;
                self.activate(policy, SlaMetric::NextResponse, at)
            }
            SlaInput::StatusChanged { at, status } => self.change_status(calendar, status, at),
            SlaInput::PriorityChanged { at, priority } => {
                self.priority = priority;
                let mut events = Vec::new();
                for clock in &mut self.clocks {
                    events.extend(clock.retarget(policy, priority, at)?);
                }
                Ok(events)
            }
        }
    }

    fn change_status(
        &mut self,
        calendar: &super::BusinessCalendar,
        status: WorkStatus,
        at: DateTime<Utc>,
    ) -> Result<Vec<SlaEvent>, SlaError> {
        if status == self.status {
            return Ok(Vec::new());
        }
        self.status = status;
        match status {
            WorkStatus::Open => self.for_clocks(|_| true, |clock| clock.resume(calendar, at)),
            WorkStatus::WaitingOnCustomer => {
                self.for_clocks(|_| true, |clock| clock.pause(calendar, at))
            }
            WorkStatus::Solved | WorkStatus::Closed => {
                self.for_clocks(|_| true, |clock| clock.fulfil(calendar, at))
            }
        }
    }

    /// Starts the next cycle of `metric`, paused if the item waits on the customer.
    fn activate(
        &mut self,
        policy: &SlaPolicy,
        metric: SlaMetric,
        at: DateTime<Utc>,
    ) -> Result<Vec<SlaEvent>, SlaError> {
        let previous_cycles = self
            .clocks
            .iter()
            .filter(|clock| clock.metric() == metric)
            .count();
        let cycle = u32::try_from(previous_cycles)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let paused = self.status == WorkStatus::WaitingOnCustomer;
        let (clock, events) = SlaClock::activate(metric, cycle, policy, self.priority, at, paused)?;
        self.clocks.push(clock);
        Ok(events)
    }

    fn for_clocks(
        &mut self,
        selected: impl Fn(&SlaClock) -> bool,
        mut step: impl FnMut(&mut SlaClock) -> Result<Option<SlaEvent>, SlaError>,
    ) -> Result<Vec<SlaEvent>, SlaError> {
        let mut events = Vec::new();
        for clock in self.clocks.iter_mut().filter(|clock| selected(clock)) {
            events.extend(step(clock)?);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests;

/// Generators of inputs for property tests.
#[cfg(test)]
pub(crate) mod strategies {
    use chrono::{DateTime, TimeDelta, Utc};
    use proptest::prelude::*;

    use super::{SlaInput, WorkStatus};
    use crate::{Channel, Priority};

    /// Some status.
    pub(crate) fn arb_status() -> impl Strategy<Value = WorkStatus> {
        prop::sample::select(vec![
            WorkStatus::Open,
            WorkStatus::WaitingOnCustomer,
            WorkStatus::Solved,
            WorkStatus::Closed,
        ])
    }

    /// Some channel.
    pub(crate) fn arb_channel() -> impl Strategy<Value = Channel> {
        prop::sample::select(vec![
            Channel::Email,
            Channel::Phone,
            Channel::Sms,
            Channel::Chat,
            Channel::Web,
            Channel::Social,
        ])
    }

    /// `input` as if it had happened at `at`.
    pub(crate) fn moved_to(input: SlaInput, at: DateTime<Utc>) -> SlaInput {
        match input {
            SlaInput::AgentReplied { .. } => SlaInput::AgentReplied { at },
            SlaInput::CustomerReplied { channel, .. } => SlaInput::CustomerReplied { at, channel },
            SlaInput::FirstTouch { .. } => SlaInput::FirstTouch { at },
            SlaInput::StatusChanged { status, .. } => SlaInput::StatusChanged { at, status },
            SlaInput::PriorityChanged { priority, .. } => {
                SlaInput::PriorityChanged { at, priority }
            }
        }
    }

    /// Any input, dated at the Unix epoch (see [`moved_to`]).
    pub(crate) fn arb_input() -> impl Strategy<Value = SlaInput> {
        let at = DateTime::UNIX_EPOCH;
        prop_oneof![
            Just(SlaInput::AgentReplied { at }),
            arb_channel().prop_map(move |channel| SlaInput::CustomerReplied { at, channel }),
            Just(SlaInput::FirstTouch { at }),
            arb_status().prop_map(move |status| SlaInput::StatusChanged { at, status }),
            prop::sample::select(Priority::ALL.to_vec())
                .prop_map(move |priority| SlaInput::PriorityChanged { at, priority }),
        ]
    }

    /// A gap between two inputs: mostly forward, up to a few days, sometimes zero or backwards.
    pub(crate) fn arb_gap() -> impl Strategy<Value = TimeDelta> {
        prop_oneof![
            8 => (0i64..5 * 24 * 60).prop_map(TimeDelta::minutes),
            1 => Just(TimeDelta::zero()),
            1 => (1i64..600).prop_map(|minutes| -TimeDelta::minutes(minutes)),
        ]
    }
}
