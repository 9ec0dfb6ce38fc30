//! SLA: every lead and ticket with its clocks (first response, next response, resolution;
//! lead first touch), run by the domain's SLA engine on business-hours calendars.
//!
//! # Documents
//! One per item, `lead:<id>` or `ticket:<id>` ([`SlaItemDoc`]): the domain's [`ItemSla`] (the
//! policy version it runs under and every clock), who and which team holds the item, and two
//! indexed instants that let the breach and at-risk lists be read in deadline order straight
//! from an index: `deadline` (the earliest of the pending deadlines of running clocks and the
//! breach instants of breached clocks not yet fulfilled) and `at_risk_from` (the earliest
//! instant a running clock reaches 80 % of its target).
//!
//! # From events to SLA inputs
//! - A lead's clock starts when it is received, counted from when the prospect asked
//!   (`requested_at`); its first touch fulfils it; disqualification, conversion or a merge
//!   close it. Leads carry no priority: [`SlaConfig::lead_priority`] is used.
//! - A ticket's clocks start when it is opened; an agent reply by a person (not a system or
//!   automation) answers it; a customer reply through any channel starts a next-response
//!   cycle; pending pauses the clocks, on hold pauses them only if
//!   [`SlaConfig::on_hold_pauses`]; solved fulfils, closed ends, a reopen resumes; a priority
//!   change re-targets running clocks without restarting them.
//! - Events of one item are fed in stream order; an event dated before the item's last input
//!   (the caller's clocks are not forced into order) counts at that last instant.
//!
//! # Never a clock read
//! The fold only records facts; a breach is dated at its deadline however late it is noticed.
//! Every "as of now" question takes `now` as a parameter ([`query`]).
//!
//! # Policy versions
//! A new item is put under the policy the configuration selects for it as of its opening
//! instant ([`SlaConfig::select`]) and stays on that version. Publishing a version with an
//! `effective_from` in [`SlaConfig::with_policy`] keeps rebuilds stable: items opened before
//! it stay on the version that was in effect when they opened.

pub mod query;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use crm_domain::lead::LeadEvent;
use crm_domain::sla::{
    ClockPhase, ItemKind, ItemSla, PolicyRef, SlaError, SlaInput, SlaPolicy, SlaPolicyId,
    SlaSubject, WorkStatus,
};
use crm_domain::ticket::{EscalationTarget, TicketEvent, TicketStatus};
use crm_domain::{Actor, Priority, TeamId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::DocSet;
use crate::model::{ColumnType, DocKey, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of a lead's SLA.
pub const LEAD: &str = "lead";
/// Document kind of a ticket's SLA.
pub const TICKET: &str = "ticket";

/// A published policy version and the instant from which new items get it (`None`: always).
type Published = (SlaPolicy, Option<DateTime<Utc>>);

/// The SLA configuration: every published policy version with the instant it took effect, and
/// the choices the events leave open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaConfig {
    /// Every version of every policy, each with the instant from which new items get it.
    versions: BTreeMap<SlaPolicyId, Vec<Published>>,
    /// The priority leads are measured at (lead events carry none).
    pub lead_priority: Priority,
    /// Whether a ticket on hold (waiting on a third party) pauses its clocks.
    pub on_hold_pauses: bool,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            versions: BTreeMap::new(),
            lead_priority: Priority::Normal,
            on_hold_pauses: false,
        }
    }
}

impl SlaConfig {
    /// A configuration without policies: leads at normal priority, on hold keeps clocks running.
    pub fn new() -> Self {
        Self::default()
    }

    /// This configuration with `policy` published, in effect for items opened at or after
    /// `effective_from` (`None`: for every item, however old). Versions of one policy must be
    /// added oldest first; a version that is not newer than the last one is refused (returned).
    pub fn with_policy(
        mut self,
        policy: SlaPolicy,
        effective_from: Option<DateTime<Utc>>,
    ) -> Result<Self, Box<SlaPolicy>> {
        let versions = self.versions.entry(policy.reference().id).or_default();
        if versions
            .last()
            .is_some_and(|(latest, _)| latest.reference().version >= policy.reference().version)
        {
            return Err(Box::new(policy));
        }
        versions.push((policy, effective_from));
        Ok(self)
    }

    /// The policy a new item opened at `at` gets: among the versions of each policy in effect
    /// at `at`, the latest; among those whose filter covers `subject`, the lowest rank (then
    /// the lowest id).
    pub fn select(&self, subject: &SlaSubject, at: DateTime<Utc>) -> Option<&SlaPolicy> {
        self.versions
            .values()
            .filter_map(|versions| {
                versions
                    .iter()
                    .rev()
                    .find(|(_, from)| from.is_none_or(|from| from <= at))
                    .map(|(policy, _)| policy)
            })
            .filter(|policy| policy.filter().matches(subject))
            .min_by_key(|policy| (policy.rank(), policy.reference().id))
    }

    /// The exact version `reference`.
    pub fn version(&self, reference: PolicyRef) -> Option<&SlaPolicy> {
        self.versions
            .get(&reference.id)?
            .iter()
            .map(|(policy, _)| policy)
            .find(|policy| policy.reference() == reference)
    }
}

/// Why an item has no SLA running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum SlaProblem {
    /// No policy covers the item.
    NoPolicy,
    /// The item's policy version is missing from the configuration.
    PolicyMissing {
        /// The version the item runs under.
        policy: PolicyRef,
    },
    /// The SLA engine refused an input (e.g. a calendar that cannot place a deadline).
    Engine {
        /// The engine's message.
        message: String,
    },
}

/// One lead's or ticket's SLA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaItemDoc {
    /// Lead or ticket.
    pub kind: ItemKind,
    /// The item's id.
    pub id: Uuid,
    /// When the clocks started (a lead: when the prospect asked; a ticket: when opened).
    pub opened_at: DateTime<Utc>,
    /// The current priority.
    pub priority: Priority,
    /// The team holding it (a lead's routing team or queue; a ticket's escalation team).
    pub team: Option<TeamId>,
    /// The rep or agent holding it.
    pub agent: Option<UserId>,
    /// Whether work is still owed (not solved, closed, disqualified, converted or merged).
    pub open: bool,
    /// The clocks, `None` when no SLA runs.
    pub sla: Option<ItemSla>,
    /// Why no SLA runs, or why it stopped following the events.
    pub problem: Option<SlaProblem>,
    /// The earliest pending deadline or unfulfilled breach instant (indexed).
    pub deadline: Option<DateTime<Utc>>,
    /// The earliest instant a running clock reaches 80 % of its target (indexed).
    pub at_risk_from: Option<DateTime<Utc>>,
}

/// The SLA read model. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct SlaModel {
    config: SlaConfig,
}

impl SlaModel {
    /// The model under `config`.
    pub fn new(config: SlaConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &SlaConfig {
        &self.config
    }
}

impl ReadModel for SlaModel {
    const NAME: &'static str = "sla";
    const VERSION: u32 = 1;
    const KINDS: &'static [&'static str] = &[LEAD, TICKET];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("open", ColumnType::Bool),
        IndexedColumn::new("deadline", ColumnType::Time),
        IndexedColumn::new("at_risk_from", ColumnType::Time),
        IndexedColumn::new("opened_at", ColumnType::Time),
        IndexedColumn::new("team", ColumnType::Uuid),
        IndexedColumn::new("agent", ColumnType::Uuid),
    ];
    type Doc = SlaItemDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        match &event.event {
            CrmEvent::Lead(_) => keys.push(DocKey::new(LEAD, event.stream.id)),
            CrmEvent::Ticket(_) => keys.push(DocKey::new(TICKET, event.stream.id)),
            CrmEvent::Contact(_)
            | CrmEvent::Opportunity(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn apply(&self, docs: &mut DocSet<SlaItemDoc>, event: &ProjectedEvent) {
        match &event.event {
            CrmEvent::Lead(lead) => {
                let key = DocKey::new(LEAD, event.stream.id);
                if let LeadEvent::Received { requested_at, .. } = lead {
                    let subject = SlaSubject::new(ItemKind::Lead, self.config.lead_priority);
                    let _ = docs.insert(&key, self.open(&subject, event.stream.id, *requested_at));
                    return;
                }
                if let Some(doc) = docs.get_mut(&key) {
                    self.lead_event(doc, lead);
                }
            }
            CrmEvent::Ticket(ticket) => {
                let key = DocKey::new(TICKET, event.stream.id);
                if let TicketEvent::Opened {
                    priority,
                    channel,
                    at,
                    ..
                } = ticket
                {
                    let mut subject = SlaSubject::new(ItemKind::Ticket, *priority);
                    subject.channel = Some(*channel);
                    let _ = docs.insert(&key, self.open(&subject, event.stream.id, *at));
                    return;
                }
                if let Some(doc) = docs.get_mut(&key) {
                    self.ticket_event(doc, ticket);
                }
            }
            CrmEvent::Contact(_)
            | CrmEvent::Opportunity(_)
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn indexed(_key: &DocKey, doc: &SlaItemDoc) -> Indexed {
        let mut columns = vec![
            ("open", IndexValue::Bool(doc.open)),
            ("opened_at", IndexValue::Time(doc.opened_at)),
        ];
        if let Some(deadline) = doc.deadline {
            columns.push(("deadline", IndexValue::Time(deadline)));
        }
        if let Some(at_risk_from) = doc.at_risk_from {
            columns.push(("at_risk_from", IndexValue::Time(at_risk_from)));
        }
        if let Some(team) = doc.team {
            columns.push(("team", IndexValue::Uuid(team.0)));
        }
        if let Some(agent) = doc.agent {
            columns.push(("agent", IndexValue::Uuid(agent.0)));
        }
        columns
    }
}

fn is_automated(actor: &Actor) -> bool {
    matches!(actor, Actor::System { .. } | Actor::Automation { .. })
}

impl SlaModel {
    fn open(&self, subject: &SlaSubject, id: Uuid, at: DateTime<Utc>) -> SlaItemDoc {
        let mut doc = SlaItemDoc {
            kind: subject.kind,
            id,
            opened_at: at,
            priority: subject.priority,
            team: subject.team,
            agent: None,
            open: true,
            sla: None,
            problem: None,
            deadline: None,
            at_risk_from: None,
        };
        match self.config.select(subject, at) {
            None => doc.problem = Some(SlaProblem::NoPolicy),
            Some(policy) => match ItemSla::open(policy, subject, at) {
                Ok((sla, _)) => doc.sla = Some(sla),
                Err(error) => doc.problem = Some(engine(&error)),
            },
        }
        self.reindex(&mut doc);
        doc
    }

    fn lead_event(&self, doc: &mut SlaItemDoc, event: &LeadEvent) {
        match event {
            LeadEvent::Assigned { rep, decision, .. } => {
                doc.agent = Some(*rep);
                doc.team = Some(decision.team);
            }
            LeadEvent::Queued { queue, .. } => {
                doc.agent = None;
                doc.team = Some(*queue);
            }
            LeadEvent::Reclaimed { .. } => doc.agent = None,
            LeadEvent::Escalated { to, .. } => doc.agent = Some(*to),
            LeadEvent::FirstTouchLogged { at, .. } => {
                self.feed(doc, |at| SlaInput::FirstTouch { at }, *at);
            }
            LeadEvent::Disqualified { at, .. }
            | LeadEvent::Converted { at, .. }
            | LeadEvent::Merged { at, .. } => {
                doc.open = false;
                self.feed(
                    doc,
                    |at| SlaInput::StatusChanged {
                        at,
                        status: WorkStatus::Closed,
                    },
                    *at,
                );
            }
            LeadEvent::Received { .. }
            | LeadEvent::Quarantined { .. }
            | LeadEvent::Captured { .. }
            | LeadEvent::ScoreChanged { .. }
            | LeadEvent::Qualified { .. }
            | LeadEvent::ContactMatched { .. }
            | LeadEvent::AccountMatched { .. }
            | LeadEvent::CustomFieldsSet(_) => {}
        }
    }

    fn ticket_event(&self, doc: &mut SlaItemDoc, event: &TicketEvent) {
        match event {
            TicketEvent::Opened { .. } | TicketEvent::CustomFieldsSet(_) => {}
            TicketEvent::Assigned { assignee, .. } => doc.agent = Some(*assignee),
            TicketEvent::AgentReplied { by, at, .. } => {
                // An automatic acknowledgement answers nobody.
                if !is_automated(by) {
                    self.feed(doc, |at| SlaInput::AgentReplied { at }, *at);
                }
            }
            TicketEvent::CustomerReplied { channel, at, .. } => {
                let channel = *channel;
                self.feed(doc, |at| SlaInput::CustomerReplied { at, channel }, *at);
            }
            TicketEvent::StatusChanged { status, at, .. } => {
                doc.open = !matches!(status, TicketStatus::Solved | TicketStatus::Closed);
                let status = self.work_status(*status);
                self.feed(doc, |at| SlaInput::StatusChanged { at, status }, *at);
            }
            TicketEvent::PriorityChanged { priority, at, .. } => {
                doc.priority = *priority;
                let priority = *priority;
                self.feed(doc, |at| SlaInput::PriorityChanged { at, priority }, *at);
            }
            TicketEvent::Escalated { to, .. } => {
                if let EscalationTarget::Team { team } = to {
                    doc.team = Some(*team);
                }
            }
            TicketEvent::Reopened { at, .. } => {
                doc.open = true;
                self.feed(
                    doc,
                    |at| SlaInput::StatusChanged {
                        at,
                        status: WorkStatus::Open,
                    },
                    *at,
                );
            }
        }
    }

    fn work_status(&self, status: TicketStatus) -> WorkStatus {
        match status {
            TicketStatus::Pending => WorkStatus::WaitingOnCustomer,
            TicketStatus::OnHold if self.config.on_hold_pauses => WorkStatus::WaitingOnCustomer,
            TicketStatus::New | TicketStatus::Open | TicketStatus::OnHold => WorkStatus::Open,
            TicketStatus::Solved => WorkStatus::Solved,
            TicketStatus::Closed => WorkStatus::Closed,
        }
    }

    /// Feeds one input, dated no earlier than the item's last one.
    fn feed(
        &self,
        doc: &mut SlaItemDoc,
        input: impl FnOnce(DateTime<Utc>) -> SlaInput,
        at: DateTime<Utc>,
    ) {
        let Some(sla) = &mut doc.sla else {
            return;
        };
        let Some(policy) = self.config.version(sla.policy()) else {
            doc.problem = Some(SlaProblem::PolicyMissing {
                policy: sla.policy(),
            });
            return;
        };
        let at = at.max(sla.applied_until());
        if let Err(error) = sla.apply(policy, input(at)) {
            doc.problem = Some(engine(&error));
        }
        self.reindex(doc);
    }

    fn reindex(&self, doc: &mut SlaItemDoc) {
        let (deadline, at_risk_from) = match &doc.sla {
            Some(sla) => match self.config.version(sla.policy()) {
                Some(policy) => urgency(sla, policy),
                None => (None, None),
            },
            None => (None, None),
        };
        doc.deadline = deadline;
        doc.at_risk_from = at_risk_from;
    }
}

fn engine(error: &SlaError) -> SlaProblem {
    SlaProblem::Engine {
        message: error.to_string(),
    }
}

/// The item's most urgent instants: the earliest deadline (pending, or breached and not
/// fulfilled) and the earliest instant a running clock reaches 80 % of its target.
fn urgency(sla: &ItemSla, policy: &SlaPolicy) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let calendar = policy.calendar();
    let mut deadline: Option<DateTime<Utc>> = None;
    // (business time left before 80 %, running since) of every running clock with a target.
    let mut running: Vec<(TimeDelta, DateTime<Utc>)> = Vec::new();
    for clock in sla.clocks().iter().filter(|clock| !clock.is_fulfilled()) {
        let due = clock.breached_at().or(clock.due_at());
        deadline = earliest(deadline, due);
        if let (
            ClockPhase::Running {
                since,
                due_at: Some(_),
            },
            Some(target),
        ) = (clock.phase(), clock.target())
            && let Ok(used) = clock.elapsed_at(calendar, since)
        {
            let left = (at_risk_threshold(target) - used).max(TimeDelta::zero());
            running.push((left, since));
        }
    }
    // Walking the calendar is most of the model's cost, and most items run clocks from the
    // same instant (a ticket's first response and resolution). `add_business_time` never gives
    // an earlier instant for a later start nor for a longer duration, so a clock that starts no
    // earlier and has no less time left than one already counted cannot be at risk first:
    // shortest first, such clocks are skipped.
    running.sort_unstable();
    let mut at_risk_from: Option<DateTime<Utc>> = None;
    let mut counted: Vec<(TimeDelta, DateTime<Utc>)> = Vec::with_capacity(running.len());
    for (left, since) in running {
        if counted
            .iter()
            .any(|(shorter, start)| *shorter <= left && *start <= since)
        {
            continue;
        }
        if let Ok(risk) = calendar.add_business_time(since, left) {
            counted.push((left, since));
            at_risk_from = earliest(at_risk_from, Some(risk));
        }
    }
    (deadline, at_risk_from)
}

fn at_risk_threshold(target: TimeDelta) -> TimeDelta {
    let nanos =
        i128::from(target.num_seconds()) * 1_000_000_000 + i128::from(target.subsec_nanos());
    let threshold = (nanos * 4 + 4) / 5;
    i64::try_from(threshold).map_or(target, TimeDelta::nanoseconds)
}

fn earliest(
    current: Option<DateTime<Utc>>,
    candidate: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (current, candidate) {
        (Some(current), Some(candidate)) => Some(current.min(candidate)),
        (current, candidate) => current.or(candidate),
    }
}
