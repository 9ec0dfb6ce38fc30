//! The documents of the records around a customer: leads (with their routing history),
//! opportunities (with their stages and amounts) and tickets, each with its own timeline.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::lead::{Campaign, LeadEvent, LeadField, LeadProfile, LeadStatus};
use crm_domain::opportunity::{
    ForecastCategory, LossReason, OpportunityEvent, OpportunityStatus, StageId,
};
use crm_domain::routing::{AssignmentStrategy, RoutingDecision};
use crm_domain::ticket::{TicketEvent, TicketStatus};
use crm_domain::{
    Actor, Channel, CompanyId, ContactId, LeadId, Money, OpportunityId, Priority, Probability,
    TeamId, TicketId, UserId,
};
use serde::{Deserialize, Serialize};

use super::timeline::{ActivityKind, TimelineEntry};

/// How a lead moved between reps and queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStepKind {
    /// Assigned to a rep by routing.
    Assigned,
    /// Put in a team queue: nobody was available.
    Queued,
    /// Taken back from a rep who missed the response SLA.
    Reclaimed,
    /// Handed to a team lead.
    Escalated,
}

/// One step of a lead's routing history, with the decision's explanation in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingStep {
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: RoutingStepKind,
    /// The rep it went to (assigned, escalated) or was taken from (reclaimed).
    pub rep: Option<UserId>,
    /// The team chosen by routing.
    pub team: Option<TeamId>,
    /// The territory rule that matched, `None` for the fallback.
    pub rule: Option<String>,
    /// The strategy used within the team.
    pub strategy: Option<AssignmentStrategy>,
    /// How many reps were considered.
    pub candidates: usize,
}

impl RoutingStep {
    fn routed(
        kind: RoutingStepKind,
        rep: Option<UserId>,
        decision: &RoutingDecision,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            at,
            kind,
            rep,
            team: Some(decision.team),
            rule: decision.rule.as_ref().map(|rule| rule.rule_id.clone()),
            strategy: Some(decision.strategy),
            candidates: decision.candidates.len(),
        }
    }

    fn manual(kind: RoutingStepKind, rep: UserId, at: DateTime<Utc>) -> Self {
        Self {
            at,
            kind,
            rep: Some(rep),
            team: None,
            rule: None,
            strategy: None,
            candidates: 0,
        }
    }
}

/// Who set a field of a record and when: the actor recorded with the change (a user, an
/// integration naming its system, the CRM itself) and the change's time. Shown next to leads',
/// deals' and tickets' fields, as contacts show each value's source system and source time.
/// Documents written before the sources were kept show them from the field's next change (a
/// rebuild, `crm projections rebuild customer360`, fills them in at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSource {
    /// Who set it.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// The fields of a deal whose source the Customer 360 shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealField {
    /// The name.
    Name,
    /// The owner.
    Owner,
    /// The amount.
    Amount,
    /// The expected close date.
    ExpectedClose,
    /// The stage.
    Stage,
    /// Open, won or lost.
    Status,
}

/// The fields of a ticket whose source the Customer 360 shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketField {
    /// The subject.
    Subject,
    /// The priority.
    Priority,
    /// The status.
    Status,
    /// The assignee.
    Assignee,
    /// The escalation level.
    Escalation,
}

/// The fields of a lead whose source the Customer 360 shows. The person and company fields
/// are those of the lead's profile, set together when the lead is captured (and again when a
/// quarantined lead is captured after a fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadRecordField {
    /// The person's name.
    Name,
    /// The email address.
    Email,
    /// The phone number.
    Phone,
    /// The company's name.
    Company,
    /// The company's web domain.
    CompanyDomain,
    /// The country.
    Country,
    /// The region or state.
    Region,
    /// The postal code.
    Postcode,
    /// The industry.
    Industry,
    /// The number of employees.
    CompanySize,
    /// The job title.
    JobTitle,
    /// The consent statements the form carried.
    Consents,
    /// The campaign attribution.
    Campaign,
    /// Where the lead stands.
    Status,
    /// The rep holding it.
    Assignee,
    /// The queue it waits in.
    Queue,
    /// The score.
    Score,
    /// The contact it converted into.
    Contact,
    /// The opportunity opened at conversion.
    Opportunity,
}

impl LeadRecordField {
    /// The person and company fields, which the profile holds.
    const PROFILE: [Self; 12] = [
        Self::Name,
        Self::Email,
        Self::Phone,
        Self::Company,
        Self::CompanyDomain,
        Self::Country,
        Self::Region,
        Self::Postcode,
        Self::Industry,
        Self::CompanySize,
        Self::JobTitle,
        Self::Consents,
    ];

    /// Whether `profile` holds a value of this field (`false` for a field outside the
    /// profile).
    fn held_by(self, profile: &LeadProfile) -> bool {
        match self {
            Self::Name => profile.name.is_some(),
            Self::Email => profile.email.is_some(),
            Self::Phone => profile.phone.is_some(),
            Self::Company => profile.company.is_some(),
            Self::CompanyDomain => profile.company_domain.is_some(),
            Self::Country => profile.country.is_some(),
            Self::Region => profile.region.is_some(),
            Self::Postcode => profile.postcode.is_some(),
            Self::Industry => profile.industry.is_some(),
            Self::CompanySize => profile.company_size.is_some(),
            Self::JobTitle => profile.job_title.is_some(),
            Self::Consents => !profile.consents.is_empty(),
            Self::Campaign
            | Self::Status
            | Self::Assignee
            | Self::Queue
            | Self::Score
            | Self::Contact
            | Self::Opportunity => false,
        }
    }
}

/// Records that `by` set `fields` at `at`.
fn set_by<F: Ord + Copy>(
    sources: &mut BTreeMap<F, FieldSource>,
    fields: &[F],
    by: &Actor,
    at: DateTime<Utc>,
) {
    for field in fields {
        sources.insert(*field, FieldSource { by: by.clone(), at });
    }
}

/// A lead as the Customer 360 shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadDoc {
    /// The lead.
    pub id: LeadId,
    /// The contact it converted into, once converted.
    pub contact: Option<ContactId>,
    /// Where it stands; `None` while only known from a later event.
    pub status: Option<LeadStatus>,
    /// The sending system.
    pub source_system: Option<String>,
    /// When the prospect asked.
    pub requested_at: Option<DateTime<Utc>>,
    /// When it was recorded.
    pub received_at: Option<DateTime<Utc>>,
    /// Raw and normalized person and company data, once captured (personal data).
    pub profile: Option<LeadProfile>,
    /// Attribution.
    pub campaign: Option<Campaign>,
    /// The fields at fault while quarantined (not the messages, which may quote the values).
    pub quarantined_fields: Vec<Option<LeadField>>,
    /// The rep holding it.
    pub assignee: Option<UserId>,
    /// The queue it waits in.
    pub queue: Option<TeamId>,
    /// Every routing step, oldest first.
    pub routing: Vec<RoutingStep>,
    /// When the first touch happened.
    pub first_touch_at: Option<DateTime<Utc>>,
    /// The current score.
    pub score: i32,
    /// The opportunity opened at conversion.
    pub opportunity: Option<OpportunityId>,
    /// The lead it was merged into.
    pub merged_into: Option<LeadId>,
    /// When the record's latest interaction happened (its timeline is kept in rows of its
    /// own, see [`TimelineItem`](super::TimelineItem)).
    pub last_activity: Option<DateTime<Utc>>,
    /// Whether the personal data of the contact it belongs to was erased: nothing personal
    /// is kept from then on.
    pub erased: bool,
    /// Who set each field's current value (or cleared it), and when: the actor the event
    /// names, else the one its command named in the event's metadata; the person and company
    /// fields captured from a delivery show the sending system when nothing else names one.
    /// A field whose setter nobody recorded has no entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<LeadRecordField, FieldSource>,
}

impl LeadDoc {
    /// An empty document for `id`.
    pub fn new(id: LeadId) -> Self {
        Self {
            id,
            contact: None,
            status: None,
            source_system: None,
            requested_at: None,
            received_at: None,
            profile: None,
            campaign: None,
            quarantined_fields: Vec::new(),
            assignee: None,
            queue: None,
            routing: Vec::new(),
            first_touch_at: None,
            score: 0,
            opportunity: None,
            merged_into: None,
            last_activity: None,
            erased: false,
            sources: BTreeMap::new(),
        }
    }

    /// Drops the personal data (and with the profile, its fields' sources).
    pub(crate) fn erase(&mut self) {
        self.profile = None;
        self.erased = true;
        for field in LeadRecordField::PROFILE {
            self.sources.remove(&field);
        }
    }

    /// Applies `event`, which `actor` (from the event's metadata) recorded.
    pub(crate) fn apply(
        &mut self,
        event: &LeadEvent,
        actor: Option<&Actor>,
        position: u64,
    ) -> Option<TimelineEntry> {
        let before = (self.status, self.assignee, self.queue);
        let entry = self.fold(event, position);
        self.note_sources(event, actor, before);
        entry
    }

    fn fold(&mut self, event: &LeadEvent, position: u64) -> Option<TimelineEntry> {
        let entry = |kind, at| TimelineEntry::new(kind, at, position);
        let entry = match event {
            // Custom field values are shown from their own model, and the account a lead's
            // person works for from the lead's record: neither is a step on the timeline.
            LeadEvent::CustomFieldsSet(_) | LeadEvent::AccountMatched { .. } => return None,
            LeadEvent::Received {
                source,
                requested_at,
                at,
                ..
            } => {
                self.status = Some(LeadStatus::Received);
                self.source_system = Some(source.system.clone());
                self.requested_at = Some(*requested_at);
                self.received_at = Some(*at);
                entry(ActivityKind::LeadReceived, *at)
            }
            LeadEvent::Quarantined { reasons, at, .. } => {
                self.status = Some(LeadStatus::Quarantined);
                self.quarantined_fields = reasons.iter().map(|reason| reason.field).collect();
                entry(ActivityKind::LeadQuarantined, *at)
            }
            LeadEvent::Captured {
                profile,
                campaign,
                at,
            } => {
                self.status = Some(LeadStatus::Captured);
                self.quarantined_fields.clear();
                self.profile = Some(profile.clone());
                self.campaign = Some(campaign.clone());
                entry(ActivityKind::LeadCaptured, *at)
            }
            LeadEvent::Assigned { rep, decision, at } => {
                self.assignee = Some(*rep);
                self.queue = None;
                if self.first_touch_at.is_none() && self.status != Some(LeadStatus::Qualified) {
                    self.status = Some(LeadStatus::Assigned);
                }
                self.routing.push(RoutingStep::routed(
                    RoutingStepKind::Assigned,
                    Some(*rep),
                    decision,
                    *at,
                ));
                TimelineEntry {
                    user: Some(*rep),
                    other: Some(decision.team.0),
                    ..entry(ActivityKind::LeadAssigned, *at)
                }
            }
            LeadEvent::Queued {
                queue,
                decision,
                at,
            } => {
                self.assignee = None;
                self.queue = Some(*queue);
                self.status = Some(LeadStatus::Queued);
                self.routing.push(RoutingStep::routed(
                    RoutingStepKind::Queued,
                    None,
                    decision,
                    *at,
                ));
                TimelineEntry {
                    other: Some(queue.0),
                    ..entry(ActivityKind::LeadQueued, *at)
                }
            }
            LeadEvent::FirstTouchLogged { by, channel, at } => {
                self.first_touch_at = Some(*at);
                self.status = Some(LeadStatus::Working);
                TimelineEntry {
                    user: Some(*by),
                    channel: Some(*channel),
                    ..entry(ActivityKind::LeadFirstTouch, *at)
                }
            }
            LeadEvent::Reclaimed { from, at, .. } => {
                self.assignee = None;
                self.routing
                    .push(RoutingStep::manual(RoutingStepKind::Reclaimed, *from, *at));
                TimelineEntry {
                    user: Some(*from),
                    ..entry(ActivityKind::LeadReclaimed, *at)
                }
            }
            LeadEvent::Escalated { to, at, .. } => {
                self.assignee = Some(*to);
                self.queue = None;
                if self.first_touch_at.is_none() && self.status != Some(LeadStatus::Qualified) {
                    self.status = Some(LeadStatus::Assigned);
                }
                self.routing
                    .push(RoutingStep::manual(RoutingStepKind::Escalated, *to, *at));
                TimelineEntry {
                    user: Some(*to),
                    ..entry(ActivityKind::LeadEscalated, *at)
                }
            }
            LeadEvent::ScoreChanged { score, at } => {
                self.score = score.total;
                TimelineEntry {
                    score: Some(score.total),
                    ..entry(ActivityKind::LeadScoreChanged, *at)
                }
            }
            LeadEvent::Qualified { by, at } => {
                self.status = Some(LeadStatus::Qualified);
                TimelineEntry {
                    user: by.user(),
                    ..entry(ActivityKind::LeadQualified, *at)
                }
            }
            LeadEvent::Disqualified { by, at, .. } => {
                self.status = Some(LeadStatus::Disqualified);
                TimelineEntry {
                    user: by.user(),
                    ..entry(ActivityKind::LeadDisqualified, *at)
                }
            }
            LeadEvent::Converted {
                contact_id,
                opportunity_id,
                at,
                ..
            } => {
                self.status = Some(LeadStatus::Converted);
                self.contact = Some(*contact_id);
                self.opportunity = *opportunity_id;
                TimelineEntry {
                    other: opportunity_id.map(|id| id.0),
                    ..entry(ActivityKind::LeadConverted, *at)
                }
            }
            LeadEvent::Merged { into, at } => {
                self.status = Some(LeadStatus::Merged);
                self.merged_into = Some(*into);
                TimelineEntry {
                    other: Some(into.0),
                    ..entry(ActivityKind::LeadMerged, *at)
                }
            }
            LeadEvent::ContactMatched { contact, at, .. } => TimelineEntry {
                other: Some(contact.0),
                ..entry(ActivityKind::LeadContactMatched, *at)
            },
        };
        self.last_activity = self.last_activity.max(Some(entry.at));
        Some(entry)
    }
}

impl LeadDoc {
    /// Records who set the fields `event` sets: the event's own actor where it names one,
    /// else `actor` from its metadata; a capture from a delivery falls back to the sending
    /// system.
    fn note_sources(
        &mut self,
        event: &LeadEvent,
        actor: Option<&Actor>,
        before: (Option<LeadStatus>, Option<UserId>, Option<TeamId>),
    ) {
        use LeadRecordField as Field;
        let delivered_by = |system: &str| Actor::Integration {
            source: system.to_owned(),
        };
        // The fields the event sets whatever they held; status, assignee and queue besides
        // when the event changed them.
        let (mut fields, by, at): (Vec<Field>, Option<Actor>, DateTime<Utc>) = match event {
            LeadEvent::CustomFieldsSet(_)
            | LeadEvent::AccountMatched { .. }
            | LeadEvent::ContactMatched { .. } => return,
            LeadEvent::Received { source, at, .. } => (
                vec![Field::Status],
                actor
                    .cloned()
                    .or_else(|| Some(delivered_by(&source.system))),
                *at,
            ),
            LeadEvent::Captured { profile, at, .. } => {
                let by = actor
                    .cloned()
                    .or_else(|| self.source_system.as_deref().map(delivered_by));
                // A field the new profile leaves empty was cleared by this capture only if an
                // earlier one had set it.
                let mut fields: Vec<Field> = Field::PROFILE
                    .into_iter()
                    .filter(|field| field.held_by(profile) || self.sources.contains_key(field))
                    .collect();
                fields.push(Field::Campaign);
                (fields, by, *at)
            }
            LeadEvent::Quarantined { at, .. } | LeadEvent::Merged { at, .. } => {
                (Vec::new(), actor.cloned(), *at)
            }
            LeadEvent::Assigned { at, .. }
            | LeadEvent::Escalated { at, .. }
            | LeadEvent::Reclaimed { at, .. } => (vec![Field::Assignee], actor.cloned(), *at),
            LeadEvent::Queued { at, .. } => (vec![Field::Queue], actor.cloned(), *at),
            LeadEvent::FirstTouchLogged { by, at, .. } => {
                (Vec::new(), Some(Actor::User { id: *by }), *at)
            }
            LeadEvent::ScoreChanged { at, .. } => (vec![Field::Score], actor.cloned(), *at),
            LeadEvent::Qualified { by, at } | LeadEvent::Disqualified { by, at, .. } => {
                (Vec::new(), Some(by.clone()), *at)
            }
            LeadEvent::Converted { at, .. } => (
                vec![Field::Contact, Field::Opportunity],
                actor.cloned(),
                *at,
            ),
        };
        let (status, assignee, queue) = before;
        for (field, changed) in [
            (Field::Status, self.status != status),
            (Field::Assignee, self.assignee != assignee),
            (Field::Queue, self.queue != queue),
        ] {
            if changed && !fields.contains(&field) {
                fields.push(field);
            }
        }
        match by {
            Some(by) => set_by(&mut self.sources, &fields, &by, at),
            // Whoever set the earlier value did not set this one.
            None => {
                for field in &fields {
                    self.sources.remove(field);
                }
            }
        }
    }
}

/// A stay of an opportunity in one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStay {
    /// The stage.
    pub stage: StageId,
    /// When the deal entered it.
    pub entered_at: DateTime<Utc>,
    /// The probability stamped on entry.
    pub probability: Probability,
    /// The forecast category stamped on entry.
    pub forecast_category: ForecastCategory,
}

/// An opportunity as the Customer 360 shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityDoc {
    /// The opportunity.
    pub id: OpportunityId,
    /// Who set each field's current value, and when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<DealField, FieldSource>,
    /// The person the deal is with.
    pub contact: Option<ContactId>,
    /// The company.
    pub company: Option<CompanyId>,
    /// The deal's name (may name the person, so it is erased with them).
    pub name: Option<String>,
    /// The owning rep.
    pub owner: Option<UserId>,
    /// The current amount.
    pub amount: Option<Money>,
    /// The expected close date.
    pub expected_close: Option<NaiveDate>,
    /// Open, won or lost.
    pub status: Option<OpportunityStatus>,
    /// Every stage it entered, oldest first; the last is the current one.
    pub stages: Vec<StageStay>,
    /// Why it was lost.
    pub loss_reason: Option<LossReason>,
    /// When it was opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// When the record's latest interaction happened (its timeline is kept in rows of its
    /// own, see [`TimelineItem`](super::TimelineItem)).
    pub last_activity: Option<DateTime<Utc>>,
    /// Whether the personal data of the contact it belongs to was erased: nothing personal
    /// is kept from then on.
    pub erased: bool,
}

impl OpportunityDoc {
    /// An empty document for `id`.
    pub fn new(id: OpportunityId) -> Self {
        Self {
            id,
            sources: BTreeMap::new(),
            contact: None,
            company: None,
            name: None,
            owner: None,
            amount: None,
            expected_close: None,
            status: None,
            stages: Vec::new(),
            loss_reason: None,
            opened_at: None,
            closed_at: None,
            last_activity: None,
            erased: false,
        }
    }

    /// The won amount, if the deal was won.
    pub fn won_amount(&self) -> Option<Money> {
        (self.status == Some(OpportunityStatus::Won))
            .then_some(self.amount)
            .flatten()
    }

    /// Drops the personal data: the name and a free-text loss note.
    pub(crate) fn erase(&mut self) {
        self.erased = true;
        self.name = None;
        if let Some(LossReason::Other { note }) = &mut self.loss_reason {
            note.clear();
        }
        if let Some(LossReason::Competitor { competitor }) = &mut self.loss_reason {
            *competitor = None;
        }
    }

    fn enter(
        &mut self,
        stage: &StageId,
        probability: Probability,
        forecast_category: ForecastCategory,
        at: DateTime<Utc>,
    ) {
        self.stages.push(StageStay {
            stage: stage.clone(),
            entered_at: at,
            probability,
            forecast_category,
        });
    }

    pub(crate) fn apply(
        &mut self,
        event: &OpportunityEvent,
        position: u64,
        erased_contact: bool,
    ) -> Option<TimelineEntry> {
        let entry = |kind, at| TimelineEntry::new(kind, at, position);
        let entry = match event {
            OpportunityEvent::CustomFieldsSet(_) => return None,
            OpportunityEvent::Opened {
                name,
                contact,
                company,
                owner,
                amount,
                expected_close,
                stage,
                probability,
                forecast_category,
                by,
                at,
                ..
            } => {
                set_by(
                    &mut self.sources,
                    &[
                        DealField::Name,
                        DealField::Owner,
                        DealField::Amount,
                        DealField::ExpectedClose,
                        DealField::Stage,
                        DealField::Status,
                    ],
                    by,
                    *at,
                );
                self.contact = Some(*contact);
                self.company = *company;
                self.name = Some(name.clone());
                self.owner = Some(*owner);
                self.amount = Some(*amount);
                self.expected_close = Some(*expected_close);
                self.status = Some(OpportunityStatus::Open);
                self.opened_at = Some(*at);
                self.enter(stage, *probability, *forecast_category, *at);
                TimelineEntry {
                    amount: Some(*amount),
                    user: Some(*owner),
                    ..entry(ActivityKind::OpportunityOpened, *at)
                }
            }
            OpportunityEvent::StageChanged {
                to,
                probability,
                forecast_category,
                by,
                at,
                ..
            } => {
                set_by(&mut self.sources, &[DealField::Stage], by, *at);
                self.enter(to, *probability, *forecast_category, *at);
                TimelineEntry {
                    user: by.user(),
                    ..entry(ActivityKind::OpportunityStageChanged, *at)
                }
            }
            OpportunityEvent::AmountChanged { amount, by, at } => {
                set_by(&mut self.sources, &[DealField::Amount], by, *at);
                self.amount = Some(*amount);
                TimelineEntry {
                    amount: Some(*amount),
                    user: by.user(),
                    ..entry(ActivityKind::OpportunityAmountChanged, *at)
                }
            }
            OpportunityEvent::CloseDateChanged {
                expected_close,
                by,
                at,
            } => {
                set_by(&mut self.sources, &[DealField::ExpectedClose], by, *at);
                self.expected_close = Some(*expected_close);
                TimelineEntry {
                    user: by.user(),
                    ..entry(ActivityKind::OpportunityCloseDateChanged, *at)
                }
            }
            OpportunityEvent::Reassigned { to, by, at, .. } => {
                set_by(&mut self.sources, &[DealField::Owner], by, *at);
                self.owner = Some(*to);
                TimelineEntry {
                    user: Some(*to),
                    ..entry(ActivityKind::OpportunityReassigned, *at)
                }
            }
            OpportunityEvent::ApprovalRequested { amount, by, at, .. } => TimelineEntry {
                amount: Some(*amount),
                user: by.user(),
                ..entry(ActivityKind::OpportunityApprovalRequested, *at)
            },
            OpportunityEvent::ApprovalGranted {
                amount,
                approver,
                at,
                ..
            } => TimelineEntry {
                amount: Some(*amount),
                user: Some(*approver),
                ..entry(ActivityKind::OpportunityApprovalGranted, *at)
            },
            OpportunityEvent::ApprovalRejected {
                amount,
                approver,
                at,
                ..
            } => TimelineEntry {
                amount: Some(*amount),
                user: Some(*approver),
                ..entry(ActivityKind::OpportunityApprovalRejected, *at)
            },
            OpportunityEvent::ApprovalInvalidated {
                approved_amount,
                at,
                ..
            } => TimelineEntry {
                amount: Some(*approved_amount),
                ..entry(ActivityKind::OpportunityApprovalInvalidated, *at)
            },
            OpportunityEvent::Won {
                stage,
                probability,
                forecast_category,
                by,
                at,
                ..
            } => {
                set_by(
                    &mut self.sources,
                    &[DealField::Stage, DealField::Status],
                    by,
                    *at,
                );
                self.enter(stage, *probability, *forecast_category, *at);
                self.status = Some(OpportunityStatus::Won);
                self.closed_at = Some(*at);
                TimelineEntry {
                    amount: self.amount,
                    user: by.user(),
                    ..entry(ActivityKind::OpportunityWon, *at)
                }
            }
            OpportunityEvent::Lost {
                stage,
                probability,
                forecast_category,
                reason,
                by,
                at,
                ..
            } => {
                set_by(
                    &mut self.sources,
                    &[DealField::Stage, DealField::Status],
                    by,
                    *at,
                );
                self.enter(stage, *probability, *forecast_category, *at);
                self.status = Some(OpportunityStatus::Lost);
                self.closed_at = Some(*at);
                self.loss_reason = Some(reason.clone());
                TimelineEntry {
                    user: by.user(),
                    ..entry(ActivityKind::OpportunityLost, *at)
                }
            }
            OpportunityEvent::PipelineUpgraded { by, at, .. } => TimelineEntry {
                user: by.user(),
                ..entry(ActivityKind::OpportunityPipelineUpgraded, *at)
            },
        };
        self.last_activity = self.last_activity.max(Some(entry.at));
        if erased_contact {
            self.erase();
        }
        Some(entry)
    }
}

/// A ticket as the Customer 360 shows it (its SLA state comes from the SLA read model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDoc {
    /// The ticket.
    pub id: TicketId,
    /// Who set each field's current value, and when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<TicketField, FieldSource>,
    /// The customer it is for.
    pub contact: Option<ContactId>,
    /// What it is about (personal data: erased with the contact).
    pub subject: Option<String>,
    /// Where it came in.
    pub channel: Option<Channel>,
    /// How urgent it is now.
    pub priority: Option<Priority>,
    /// Where it stands.
    pub status: Option<TicketStatus>,
    /// The agent holding it.
    pub assignee: Option<UserId>,
    /// The ticket it follows up.
    pub follow_up_of: Option<TicketId>,
    /// When it was opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// When the first response was sent.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The current escalation level, 0 when never escalated.
    pub escalation_level: u8,
    /// When the record's latest interaction happened (its timeline is kept in rows of its
    /// own, see [`TimelineItem`](super::TimelineItem)).
    pub last_activity: Option<DateTime<Utc>>,
    /// Whether the personal data of the contact it belongs to was erased: nothing personal
    /// is kept from then on.
    pub erased: bool,
}

impl TicketDoc {
    /// An empty document for `id`.
    pub fn new(id: TicketId) -> Self {
        Self {
            id,
            sources: BTreeMap::new(),
            contact: None,
            subject: None,
            channel: None,
            priority: None,
            status: None,
            assignee: None,
            follow_up_of: None,
            opened_at: None,
            first_response_at: None,
            escalation_level: 0,
            last_activity: None,
            erased: false,
        }
    }

    /// Whether the support side still owes something (not solved, not closed).
    pub fn is_open(&self) -> bool {
        matches!(
            self.status,
            Some(
                TicketStatus::New
                    | TicketStatus::Open
                    | TicketStatus::Pending
                    | TicketStatus::OnHold
            )
        )
    }

    /// Drops the personal data.
    pub(crate) fn erase(&mut self) {
        self.subject = None;
        self.erased = true;
    }

    pub(crate) fn apply(
        &mut self,
        event: &TicketEvent,
        position: u64,
        erased_contact: bool,
    ) -> Option<TimelineEntry> {
        let entry = |kind, at| TimelineEntry::new(kind, at, position);
        let entry = match event {
            TicketEvent::CustomFieldsSet(_) => return None,
            TicketEvent::Opened {
                contact,
                subject,
                channel,
                priority,
                follow_up_of,
                by,
                at,
                ..
            } => {
                set_by(
                    &mut self.sources,
                    &[
                        TicketField::Subject,
                        TicketField::Priority,
                        TicketField::Status,
                    ],
                    by,
                    *at,
                );
                self.contact = Some(*contact);
                self.subject = Some(subject.clone());
                self.channel = Some(*channel);
                self.priority = Some(*priority);
                self.status = Some(TicketStatus::New);
                self.follow_up_of = *follow_up_of;
                self.opened_at = Some(*at);
                TimelineEntry {
                    channel: Some(*channel),
                    priority: Some(*priority),
                    ..entry(ActivityKind::TicketOpened, *at)
                }
            }
            TicketEvent::Assigned {
                assignee, by, at, ..
            } => {
                set_by(&mut self.sources, &[TicketField::Assignee], by, *at);
                self.assignee = Some(*assignee);
                TimelineEntry {
                    user: Some(*assignee),
                    ..entry(ActivityKind::TicketAssigned, *at)
                }
            }
            TicketEvent::AgentReplied {
                channel,
                first_response,
                by,
                at,
                ..
            } => {
                if *first_response && self.first_response_at.is_none() {
                    self.first_response_at = Some(*at);
                }
                TimelineEntry {
                    channel: Some(*channel),
                    user: by.user(),
                    ..entry(ActivityKind::TicketAgentReplied, *at)
                }
            }
            TicketEvent::CustomerReplied { channel, at, .. } => TimelineEntry {
                channel: Some(*channel),
                ..entry(ActivityKind::TicketCustomerReplied, *at)
            },
            TicketEvent::StatusChanged { status, by, at, .. } => {
                set_by(&mut self.sources, &[TicketField::Status], by, *at);
                self.status = Some(*status);
                TimelineEntry {
                    user: acting_user(by),
                    ..entry(ActivityKind::TicketStatusChanged, *at)
                }
            }
            TicketEvent::PriorityChanged {
                priority, by, at, ..
            } => {
                set_by(&mut self.sources, &[TicketField::Priority], by, *at);
                self.priority = Some(*priority);
                TimelineEntry {
                    priority: Some(*priority),
                    ..entry(ActivityKind::TicketPriorityChanged, *at)
                }
            }
            TicketEvent::Escalated { level, by, at, .. } => {
                if level.get() > self.escalation_level {
                    set_by(&mut self.sources, &[TicketField::Escalation], by, *at);
                }
                self.escalation_level = self.escalation_level.max(level.get());
                entry(ActivityKind::TicketEscalated, *at)
            }
            TicketEvent::Reopened { by, at, .. } => {
                set_by(&mut self.sources, &[TicketField::Status], by, *at);
                self.status = Some(TicketStatus::Open);
                entry(ActivityKind::TicketReopened, *at)
            }
        };
        self.last_activity = self.last_activity.max(Some(entry.at));
        if erased_contact {
            self.erase();
        }
        Some(entry)
    }
}

fn acting_user(actor: &Actor) -> Option<UserId> {
    actor.user()
}
