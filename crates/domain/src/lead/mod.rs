//! The lead aggregate: an inbound request for contact, from receipt to conversion.
//!
//! A lead is recorded the moment it arrives ([`LeadEvent::Received`]), before any validation,
//! so nothing a marketing tool sends is ever lost. Capturing it validates and normalizes the
//! submission: a valid one becomes [`LeadEvent::Captured`], an invalid one
//! [`LeadEvent::Quarantined`] with every reason, and can be captured again once fixed.
//! Routing decisions are recorded whole, so every assignment can be explained later, and a
//! lead reclaimed after a missed response SLA keeps the time the prospect first asked.

mod profile;
#[cfg(test)]
mod tests;

use crate::custom_fields::{
    CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate, CustomValues, EntityKind,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use profile::{
    Campaign, LeadField, LeadProfile, LeadSubmission, QuarantineReason, SubmittedConsent,
};

use crate::account::matching::AccountAssessment;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::contact::{ChannelConsent, ConsentScope, Provenance};
use crate::context::{Actor, Context};
use crate::identity::linkage::LinkageAssessment;
use crate::identity::{CountryCode, MatchVerdict};
use crate::ids::{AccountId, ContactId, LeadId, OpportunityId, TeamId, UserId};
use crate::json_depth::{MAX_JSON_DEPTH, dismantle, nests_deeper_than};
use crate::routing::{RoutingDecision, RoutingOutcome};
use crate::scoring::LeadScore;

/// Where a lead came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadSource {
    /// The sending system, e.g. `"web-form"` or `"hubspot"`.
    pub system: String,
    /// The sender's id for this delivery; (system, external event id) identifies a delivery.
    pub external_event_id: String,
}

/// Where a lead stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Recorded, not yet validated.
    Received,
    /// Failed validation; waits for a fix and a new capture.
    Quarantined,
    /// Valid and normalized, not yet routed.
    Captured,
    /// Routed, but nobody was available: waits in a team queue.
    Queued,
    /// Assigned to a rep who has not touched it yet.
    Assigned,
    /// The assigned rep has made first contact.
    Working,
    /// Judged a real sales prospect.
    Qualified,
    /// Judged not a prospect (final).
    Disqualified,
    /// Turned into a contact and possibly an opportunity (final).
    Converted,
    /// Merged into another lead (final).
    Merged,
}

impl LeadStatus {
    /// Whether nothing can happen to the lead any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            LeadStatus::Disqualified | LeadStatus::Converted | LeadStatus::Merged
        )
    }

    /// Whether the lead has valid, normalized data (it was captured).
    pub fn is_captured(self) -> bool {
        matches!(
            self,
            LeadStatus::Captured
                | LeadStatus::Queued
                | LeadStatus::Assigned
                | LeadStatus::Working
                | LeadStatus::Qualified
        )
    }
}

/// Why a lead was disqualified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DisqualificationReason {
    /// No budget, no authority, no need or no timing.
    NotAProspect,
    /// Spam or a bot.
    Spam,
    /// An existing customer or a competitor.
    ExistingRelationship,
    /// The prospect could not be reached.
    Unreachable,
    /// Anything else, in words.
    Other {
        /// The explanation.
        note: String,
    },
}

/// What to create when converting a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionRequest {
    /// Link to an existing contact instead of creating one (identity resolution found them).
    pub existing_contact: Option<ContactId>,
    /// Whether to open an opportunity too.
    pub open_opportunity: bool,
}

/// A command to a lead.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "commands live for one decision; boxing would only add noise at call sites"
)]
pub enum LeadCommand {
    /// Records an arriving lead before any validation of its content. Its raw payload must
    /// nest no deeper than [`MAX_JSON_DEPTH`] ([`LeadError::PayloadTooDeep`]), checked first.
    Receive {
        /// The new lead's id.
        lead_id: LeadId,
        /// Where it came from.
        source: LeadSource,
        /// The payload exactly as delivered, nested at most [`MAX_JSON_DEPTH`] levels deep.
        raw_payload: serde_json::Value,
        /// When the prospect asked (the sender's timestamp); the response SLA counts from here.
        requested_at: DateTime<Utc>,
    },
    /// Validates and normalizes the submission: captures or quarantines the lead.
    Capture {
        /// The submission, mapped from the source's payload.
        submission: LeadSubmission,
        /// Campaign and UTM attribution.
        campaign: Campaign,
        /// The region phone numbers without a country prefix are read in, when the
        /// submission names no valid country.
        default_region: CountryCode,
    },
    /// Records a routing decision: assigned to a rep, or queued.
    Route {
        /// The decision, with its reasons.
        decision: RoutingDecision,
    },
    /// Records the assigned rep's first contact with the prospect.
    LogFirstTouch {
        /// How the rep reached out.
        channel: crate::Channel,
    },
    /// Takes the lead back from a rep who missed the response SLA and routes it again.
    Reclaim {
        /// The deadline that was missed.
        missed_deadline: DateTime<Utc>,
        /// The new routing decision (which must not pick the rep being reclaimed from).
        decision: RoutingDecision,
        /// How many reclaims are allowed in all; past it the lead must be escalated.
        max_reassignments: u32,
    },
    /// Hands the lead to a team lead (after the reassignment cap, or by hand).
    Escalate {
        /// Who receives it.
        to: UserId,
        /// Why.
        reason: String,
    },
    /// Records a new score.
    ChangeScore {
        /// The score with its explanation.
        score: LeadScore,
    },
    /// Marks the lead as a real prospect.
    Qualify,
    /// Marks the lead as not a prospect.
    Disqualify {
        /// Why.
        reason: DisqualificationReason,
    },
    /// Converts the lead into a contact and optionally an opportunity.
    Convert(ConversionRequest),
    /// Merges this lead into another (a duplicate).
    MergeInto {
        /// The lead that survives.
        survivor: LeadId,
    },
    /// Records that identity resolution found the lead's person among the contacts: an
    /// auto-link or a match for review, with each field's evidence. Only a captured lead
    /// records one; recording the same contact with the same verdict again records nothing.
    RecordContactMatch {
        /// The contact.
        contact: ContactId,
        /// How the lead's person compares with the contact.
        assessment: LinkageAssessment,
    },
    /// Records that identity resolution found the account (company) the lead's person works
    /// for: an auto-link or a match for review, with the evidence. Only a captured lead
    /// records one; the same account with the same verdict again records nothing.
    RecordAccountMatch {
        /// How the lead's company evidence fits the account (the account included).
        assessment: AccountAssessment,
    },
    /// Sets or clears custom field values under the tenant's current schema (see
    /// [`CustomFieldsUpdate`]); an update without changes still checks the validation rules.
    SetCustomFields(CustomFieldsUpdate),
}

/// A fact about a lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "events are decided, stored and folded one at a time; boxing the profile would only add noise"
)]
#[serde(tag = "type", content = "data")]
pub enum LeadEvent {
    /// A lead arrived and was recorded as delivered, before validation.
    #[serde(rename = "LeadReceived")]
    Received {
        /// The lead.
        lead_id: LeadId,
        /// Where it came from.
        source: LeadSource,
        /// The payload exactly as delivered.
        raw_payload: serde_json::Value,
        /// When the prospect asked.
        requested_at: DateTime<Utc>,
        /// When it was recorded.
        at: DateTime<Utc>,
    },
    /// The submission failed validation; the lead waits for a fix.
    #[serde(rename = "LeadQuarantined")]
    Quarantined {
        /// Every problem found.
        #[serde(deserialize_with = "crate::personal::erasable")]
        reasons: Vec<QuarantineReason>,
        /// The submission as it was.
        submission: LeadSubmission,
        /// When.
        at: DateTime<Utc>,
    },
    /// The submission was valid and is now normalized.
    #[serde(rename = "LeadCaptured")]
    Captured {
        /// Raw and normalized person and company data.
        profile: LeadProfile,
        /// Attribution.
        campaign: Campaign,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead was offered and assigned to a rep.
    #[serde(rename = "LeadAssigned")]
    Assigned {
        /// The rep.
        rep: UserId,
        /// Why this rep: rule, team, strategy, every candidate's verdict.
        decision: RoutingDecision,
        /// When.
        at: DateTime<Utc>,
    },
    /// Nobody was available: the lead waits in a team queue.
    #[serde(rename = "LeadQueued")]
    Queued {
        /// The team whose queue holds it.
        queue: TeamId,
        /// Why nobody was chosen.
        decision: RoutingDecision,
        /// When.
        at: DateTime<Utc>,
    },
    /// The assigned rep made first contact.
    #[serde(rename = "LeadFirstTouchLogged")]
    FirstTouchLogged {
        /// Who.
        by: UserId,
        /// How.
        channel: crate::Channel,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead was taken back from a rep who missed the response SLA.
    #[serde(rename = "LeadReclaimed")]
    Reclaimed {
        /// The rep it was taken from.
        from: UserId,
        /// The deadline that was missed.
        missed_deadline: DateTime<Utc>,
        /// Which reclaim this is (1 for the first).
        reassignment: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead was handed to a team lead.
    #[serde(rename = "LeadEscalated")]
    Escalated {
        /// Who received it.
        to: UserId,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead's score changed.
    #[serde(rename = "LeadScoreChanged")]
    ScoreChanged {
        /// The new score with its explanation.
        score: LeadScore,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead was judged a real prospect.
    #[serde(rename = "LeadQualified")]
    Qualified {
        /// By whom.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead was judged not a prospect.
    #[serde(rename = "LeadDisqualified")]
    Disqualified {
        /// Why.
        reason: DisqualificationReason,
        /// By whom.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead became a contact and possibly an opportunity.
    #[serde(rename = "LeadConverted")]
    Converted {
        /// The contact (new, or the existing one it was linked to).
        contact_id: ContactId,
        /// Whether the contact is new (the caller must create it).
        new_contact: bool,
        /// The opportunity opened, if any.
        opportunity_id: Option<OpportunityId>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The lead was merged into another.
    #[serde(rename = "LeadMerged")]
    Merged {
        /// The surviving lead.
        into: LeadId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Identity resolution found the account the lead's person works for. The assessment
    /// holds agreement levels and the score, never the values compared.
    #[serde(rename = "LeadAccountMatched")]
    AccountMatched {
        /// The evidence and the verdict, the account included.
        assessment: AccountAssessment,
        /// When.
        at: DateTime<Utc>,
    },
    /// Identity resolution found the lead's person among the contacts. The assessment holds
    /// levels and weights, never the values compared.
    #[serde(rename = "LeadContactMatched")]
    ContactMatched {
        /// The contact.
        contact: ContactId,
        /// The evidence, field by field, and the verdict.
        assessment: LinkageAssessment,
        /// When.
        at: DateTime<Utc>,
    },
    /// Custom field values were set or cleared.
    #[serde(rename = "LeadCustomFieldsSet")]
    CustomFieldsSet(CustomFieldsSet),
}

/// The contact a lead's person was found to be (or may be).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContactMatch {
    /// The contact.
    pub contact: ContactId,
    /// Auto-link or review.
    pub verdict: MatchVerdict,
    /// The probability that the two are one person.
    pub match_probability: f64,
}

impl DomainEvent for LeadEvent {
    /// The members that may hold personal data, encrypted with the lead's key: the raw
    /// payload as received, the person's name, email, phone and postcode as submitted and as
    /// captured, and the reasons of a quarantine (they quote the values). Company data stays
    /// readable.
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            LeadEvent::CustomFieldsSet(set) => set.personal_fields(),
            LeadEvent::Received { .. } => &["/raw_payload"],
            // The reasons quote the values they refuse.
            LeadEvent::Quarantined { .. } => &[
                "/reasons",
                "/submission/first_name",
                "/submission/last_name",
                "/submission/email",
                "/submission/phone",
                "/submission/postcode",
                "/submission/consents",
                "/submission/unreadable_consents",
            ],
            // Consent proofs may hold the IP address the form came from.
            LeadEvent::Captured { .. } => &[
                "/profile/name",
                "/profile/email",
                "/profile/phone",
                "/profile/postcode",
                "/profile/consents",
            ],
            _ => &[],
        }
    }

    fn event_type(&self) -> &'static str {
        match self {
            LeadEvent::CustomFieldsSet(_) => "LeadCustomFieldsSet",
            LeadEvent::Received { .. } => "LeadReceived",
            LeadEvent::Quarantined { .. } => "LeadQuarantined",
            LeadEvent::Captured { .. } => "LeadCaptured",
            LeadEvent::Assigned { .. } => "LeadAssigned",
            LeadEvent::Queued { .. } => "LeadQueued",
            LeadEvent::FirstTouchLogged { .. } => "LeadFirstTouchLogged",
            LeadEvent::Reclaimed { .. } => "LeadReclaimed",
            LeadEvent::Escalated { .. } => "LeadEscalated",
            LeadEvent::ScoreChanged { .. } => "LeadScoreChanged",
            LeadEvent::Qualified { .. } => "LeadQualified",
            LeadEvent::Disqualified { .. } => "LeadDisqualified",
            LeadEvent::Converted { .. } => "LeadConverted",
            LeadEvent::Merged { .. } => "LeadMerged",
            LeadEvent::ContactMatched { .. } => "LeadContactMatched",
            LeadEvent::AccountMatched { .. } => "LeadAccountMatched",
        }
    }

    fn free_form_json(&self) -> impl Iterator<Item = &serde_json::Value> {
        match self {
            LeadEvent::Received { raw_payload, .. } => Some(raw_payload),
            // Listed one by one so that a new variant with free-form JSON is not missed.
            LeadEvent::Quarantined { .. }
            | LeadEvent::Captured { .. }
            | LeadEvent::Assigned { .. }
            | LeadEvent::Queued { .. }
            | LeadEvent::FirstTouchLogged { .. }
            | LeadEvent::Reclaimed { .. }
            | LeadEvent::Escalated { .. }
            | LeadEvent::ScoreChanged { .. }
            | LeadEvent::Qualified { .. }
            | LeadEvent::Disqualified { .. }
            | LeadEvent::Converted { .. }
            | LeadEvent::Merged { .. }
            | LeadEvent::ContactMatched { .. }
            | LeadEvent::AccountMatched { .. }
            | LeadEvent::CustomFieldsSet(_) => None,
        }
        .into_iter()
    }
}

/// Why a command to a lead was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeadError {
    /// A contact match whose verdict says the two are different people.
    #[error("contact {} was assessed as a different person", contact.0)]
    NotAMatch {
        /// The contact.
        contact: ContactId,
    },
    /// An account match whose verdict says the lead's person does not work there.
    #[error("account {} was assessed as another company", account.0)]
    NotAnAccountMatch {
        /// The account.
        account: AccountId,
    },
    /// The lead has not been received yet.
    #[error("lead not found: it has not been received")]
    NotFound,
    /// A lead with this id was already received.
    #[error("lead {id} was already received")]
    AlreadyReceived {
        /// The existing lead.
        id: LeadId,
    },
    /// The lead is disqualified, converted or merged: nothing can change it.
    #[error("lead is {status:?}: it can no longer be changed")]
    Closed {
        /// Its final status.
        status: LeadStatus,
    },
    /// The command needs a different status.
    #[error("cannot {action} a lead that is {status:?}")]
    InvalidTransition {
        /// What was attempted.
        action: &'static str,
        /// The lead's status.
        status: LeadStatus,
    },
    /// The lead was already captured with valid data.
    #[error("lead was already captured")]
    AlreadyCaptured,
    /// First touch was already logged.
    #[error("first touch was already logged at {at}")]
    AlreadyTouched {
        /// When it was logged.
        at: DateTime<Utc>,
    },
    /// Only the assigned rep may log the first touch.
    #[error("only the assigned rep {assignee} may log the first touch")]
    NotAssignee {
        /// The assigned rep.
        assignee: UserId,
    },
    /// A command that needs a user was issued by a system or integration.
    #[error("this command must be issued by a user")]
    UserRequired,
    /// A reclaim routed the lead back to the rep it was taken from.
    #[error("a reclaimed lead must go to a different rep than {rep}")]
    ReclaimedToSameRep {
        /// The rep being reclaimed from.
        rep: UserId,
    },
    /// The lead was reclaimed as often as allowed; escalate it instead.
    #[error("lead was already reassigned {cap} times: escalate it instead")]
    ReassignmentCapReached {
        /// The cap.
        cap: u32,
    },
    /// The new routing decision is inconsistent (an assignment whose rep differs from its outcome).
    #[error("routing decision is inconsistent: {problem}")]
    InconsistentDecision {
        /// What is wrong.
        problem: &'static str,
    },
    /// A lead cannot be merged into itself.
    #[error("a lead cannot be merged into itself")]
    MergeIntoSelf,
    /// An escalation needs a reason.
    #[error("an escalation needs a reason")]
    EmptyReason,
    /// The raw payload nests deeper than the domain accepts ([`MAX_JSON_DEPTH`]); such a
    /// payload could not be stored nor read back.
    #[error("the raw payload nests deeper than {depth_limit} levels")]
    PayloadTooDeep {
        /// The deepest nesting accepted.
        depth_limit: usize,
    },
    /// The custom field values do not fit their fields or break a validation rule; every
    /// problem, each naming its field.
    #[error("{0}")]
    CustomFields(#[source] CustomFieldsRefused),
}

/// A lead's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lead {
    /// The lead's id; `None` until received.
    pub id: Option<LeadId>,
    /// Where it stands; `None` until received.
    pub status: Option<LeadStatus>,
    /// Where it came from.
    pub source: Option<LeadSource>,
    /// When the prospect asked; never changes, so response times count from the first request.
    pub requested_at: Option<DateTime<Utc>>,
    /// Why it is quarantined, while it is.
    pub quarantine_reasons: Vec<QuarantineReason>,
    /// Normalized data, once captured.
    pub profile: Option<LeadProfile>,
    /// Attribution, once captured.
    pub campaign: Option<Campaign>,
    /// The rep who holds it.
    pub assignee: Option<UserId>,
    /// When the current rep got it.
    pub assigned_at: Option<DateTime<Utc>>,
    /// The team queue it waits in, if queued.
    pub queue: Option<TeamId>,
    /// Every rep it was reclaimed from, oldest first.
    pub reclaimed_from: Vec<UserId>,
    /// How many times it was reclaimed.
    pub reassignments: u32,
    /// When the first touch happened.
    pub first_touch_at: Option<DateTime<Utc>>,
    /// The current score.
    pub score: LeadScore,
    /// The contact it converted into.
    pub converted_to: Option<ContactId>,
    /// The lead it was merged into.
    pub merged_into: Option<LeadId>,
    /// The contact identity resolution found the lead's person to be, if any.
    pub contact_match: Option<ContactMatch>,
    /// The account identity resolution found the lead's person to work for, if any.
    pub account_match: Option<AccountAssessment>,
    /// The custom field values.
    pub custom: CustomValues,
}

impl Lead {
    /// The consent statement the lead's form carried for `scope` (a channel for a purpose; a
    /// channel alone is marketing), as the person made it: by the lead's source system, when
    /// the prospect asked. Weighed with the statements of linked records by
    /// [`least_permissive`](crate::contact::least_permissive).
    pub fn consent(&self, scope: impl Into<ConsentScope>) -> Option<ChannelConsent> {
        let scope = scope.into();
        let statement = self
            .profile
            .as_ref()?
            .consents
            .iter()
            .find(|statement| statement.scope() == scope)?;
        let system = self
            .source
            .as_ref()
            .map_or_else(|| "intake".to_owned(), |source| source.system.clone());
        Some(ChannelConsent {
            status: statement.status,
            // Received before captured, so the time is known; were it not, a withdrawal still
            // counts (across records a withdrawal wins whenever it was made).
            provenance: Provenance::new(
                system,
                self.requested_at.unwrap_or(DateTime::<Utc>::MIN_UTC),
            ),
            proof: statement.proof.clone(),
        })
    }

    fn require_open(&self) -> Result<LeadStatus, LeadError> {
        match self.status {
            None => Err(LeadError::NotFound),
            Some(status) if status.is_final() => Err(LeadError::Closed { status }),
            Some(status) => Ok(status),
        }
    }

    fn require_captured(&self, action: &'static str) -> Result<LeadStatus, LeadError> {
        let status = self.require_open()?;
        if status.is_captured() {
            Ok(status)
        } else {
            Err(LeadError::InvalidTransition { action, status })
        }
    }

    fn receive(
        &self,
        lead_id: LeadId,
        source: LeadSource,
        raw_payload: serde_json::Value,
        requested_at: DateTime<Utc>,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        // Checked first, whatever the state: a refused payload is taken apart here rather than
        // dropped, since dropping one nested past the stack's reach would crash the process.
        if nests_deeper_than(&raw_payload, MAX_JSON_DEPTH) {
            dismantle(raw_payload);
            return Err(LeadError::PayloadTooDeep {
                depth_limit: MAX_JSON_DEPTH,
            });
        }
        if let Some(id) = self.id {
            return Err(LeadError::AlreadyReceived { id });
        }
        Ok(vec![LeadEvent::Received {
            lead_id,
            source,
            raw_payload,
            requested_at,
            at: ctx.now,
        }])
    }

    fn capture(
        &self,
        submission: LeadSubmission,
        campaign: Campaign,
        default_region: CountryCode,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        let status = self.require_open()?;
        if status.is_captured() {
            return Err(LeadError::AlreadyCaptured);
        }
        Ok(vec![match submission.validate(default_region) {
            Ok(profile) => LeadEvent::Captured {
                profile,
                campaign,
                at: ctx.now,
            },
            Err(reasons) => LeadEvent::Quarantined {
                reasons,
                submission,
                at: ctx.now,
            },
        }])
    }

    fn route(&self, decision: RoutingDecision, ctx: &Context) -> Result<Vec<LeadEvent>, LeadError> {
        let status = self.require_captured("route")?;
        if status == LeadStatus::Qualified {
            return Err(LeadError::InvalidTransition {
                action: "route",
                status,
            });
        }
        let unchanged = match &decision.outcome {
            RoutingOutcome::Assigned { rep } => self.assignee == Some(*rep),
            RoutingOutcome::Queued { queue } => {
                self.assignee.is_none() && self.queue == Some(*queue)
            }
        };
        if unchanged {
            return Ok(vec![]);
        }
        Ok(vec![routed(decision, ctx.now)])
    }

    fn log_first_touch(
        &self,
        channel: crate::Channel,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        let status = self.require_captured("log a first touch on")?;
        if let Some(at) = self.first_touch_at {
            return Err(LeadError::AlreadyTouched { at });
        }
        let Some(assignee) = self.assignee else {
            return Err(LeadError::InvalidTransition {
                action: "log a first touch on",
                status,
            });
        };
        let by = ctx.actor.user().ok_or(LeadError::UserRequired)?;
        if by != assignee {
            return Err(LeadError::NotAssignee { assignee });
        }
        Ok(vec![LeadEvent::FirstTouchLogged {
            by,
            channel,
            at: ctx.now,
        }])
    }

    fn reclaim(
        &self,
        missed_deadline: DateTime<Utc>,
        decision: RoutingDecision,
        max_reassignments: u32,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        let status = self.require_open()?;
        let (LeadStatus::Assigned, Some(from)) = (status, self.assignee) else {
            return Err(LeadError::InvalidTransition {
                action: "reclaim",
                status,
            });
        };
        if self.reassignments >= max_reassignments {
            return Err(LeadError::ReassignmentCapReached {
                cap: max_reassignments,
            });
        }
        if decision.assignee() == Some(from) {
            return Err(LeadError::ReclaimedToSameRep { rep: from });
        }
        Ok(vec![
            LeadEvent::Reclaimed {
                from,
                missed_deadline,
                reassignment: self.reassignments + 1,
                at: ctx.now,
            },
            routed(decision, ctx.now),
        ])
    }

    fn escalate(
        &self,
        to: UserId,
        reason: String,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        self.require_captured("escalate")?;
        if reason.trim().is_empty() {
            return Err(LeadError::EmptyReason);
        }
        if self.assignee == Some(to) {
            return Ok(vec![]);
        }
        Ok(vec![LeadEvent::Escalated {
            to,
            reason,
            at: ctx.now,
        }])
    }

    fn change_score(&self, score: LeadScore, ctx: &Context) -> Result<Vec<LeadEvent>, LeadError> {
        self.require_open()?;
        if score == self.score {
            return Ok(vec![]);
        }
        Ok(vec![LeadEvent::ScoreChanged { score, at: ctx.now }])
    }

    fn qualify(&self, ctx: &Context) -> Result<Vec<LeadEvent>, LeadError> {
        let status = self.require_captured("qualify")?;
        match status {
            LeadStatus::Qualified => Ok(vec![]),
            LeadStatus::Assigned | LeadStatus::Working => Ok(vec![LeadEvent::Qualified {
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
            _ => Err(LeadError::InvalidTransition {
                action: "qualify",
                status,
            }),
        }
    }

    fn disqualify(
        &self,
        reason: DisqualificationReason,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        self.require_open()?;
        Ok(vec![LeadEvent::Disqualified {
            reason,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn convert(
        &self,
        request: &ConversionRequest,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        self.require_captured("convert")?;
        let (contact_id, new_contact) = match request.existing_contact {
            Some(existing) => (existing, false),
            None => (ContactId(ctx.fresh_id(0)), true),
        };
        let opportunity_id = request
            .open_opportunity
            .then(|| OpportunityId(ctx.fresh_id(1)));
        Ok(vec![LeadEvent::Converted {
            contact_id,
            new_contact,
            opportunity_id,
            at: ctx.now,
        }])
    }

    fn record_contact_match(
        &self,
        contact: ContactId,
        assessment: LinkageAssessment,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        self.require_captured("record a contact match")?;
        if assessment.verdict == MatchVerdict::Distinct {
            return Err(LeadError::NotAMatch { contact });
        }
        if self
            .contact_match
            .is_some_and(|m| m.contact == contact && m.verdict == assessment.verdict)
        {
            return Ok(Vec::new());
        }
        Ok(vec![LeadEvent::ContactMatched {
            contact,
            assessment,
            at: ctx.now,
        }])
    }

    fn record_account_match(
        &self,
        assessment: AccountAssessment,
        ctx: &Context,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        self.require_captured("record an account match")?;
        if assessment.verdict == MatchVerdict::Distinct {
            return Err(LeadError::NotAnAccountMatch {
                account: assessment.account,
            });
        }
        if self.account_match.is_some_and(|held| {
            held.account == assessment.account && held.verdict == assessment.verdict
        }) {
            return Ok(Vec::new());
        }
        Ok(vec![LeadEvent::AccountMatched {
            assessment,
            at: ctx.now,
        }])
    }

    fn merge_into(&self, survivor: LeadId, ctx: &Context) -> Result<Vec<LeadEvent>, LeadError> {
        self.require_open()?;
        if self.id == Some(survivor) {
            return Err(LeadError::MergeIntoSelf);
        }
        Ok(vec![LeadEvent::Merged {
            into: survivor,
            at: ctx.now,
        }])
    }
}

fn routed(decision: RoutingDecision, at: DateTime<Utc>) -> LeadEvent {
    match decision.outcome {
        RoutingOutcome::Assigned { rep } => LeadEvent::Assigned { rep, decision, at },
        RoutingOutcome::Queued { queue } => LeadEvent::Queued {
            queue,
            decision,
            at,
        },
    }
}

impl Aggregate for Lead {
    const KIND: &'static str = "lead";
    type Command = LeadCommand;
    type Event = LeadEvent;
    type Error = LeadError;

    fn decide(&self, command: LeadCommand, ctx: &Context) -> Result<Vec<LeadEvent>, LeadError> {
        match command {
            LeadCommand::SetCustomFields(update) => {
                self.id.ok_or(LeadError::NotFound)?;
                let personal = self.data_subject().is_some();
                Ok(update
                    .decide(EntityKind::Lead, &self.custom, personal, ctx.now)
                    .map_err(LeadError::CustomFields)?
                    .map(LeadEvent::CustomFieldsSet)
                    .into_iter()
                    .collect())
            }
            LeadCommand::Receive {
                lead_id,
                source,
                raw_payload,
                requested_at,
            } => self.receive(lead_id, source, raw_payload, requested_at, ctx),
            LeadCommand::Capture {
                submission,
                campaign,
                default_region,
            } => self.capture(submission, campaign, default_region, ctx),
            LeadCommand::Route { decision } => self.route(decision, ctx),
            LeadCommand::LogFirstTouch { channel } => self.log_first_touch(channel, ctx),
            LeadCommand::Reclaim {
                missed_deadline,
                decision,
                max_reassignments,
            } => self.reclaim(missed_deadline, decision, max_reassignments, ctx),
            LeadCommand::Escalate { to, reason } => self.escalate(to, reason, ctx),
            LeadCommand::ChangeScore { score } => self.change_score(score, ctx),
            LeadCommand::Qualify => self.qualify(ctx),
            LeadCommand::Disqualify { reason } => self.disqualify(reason, ctx),
            LeadCommand::Convert(request) => self.convert(&request, ctx),
            LeadCommand::MergeInto { survivor } => self.merge_into(survivor, ctx),
            LeadCommand::RecordContactMatch {
                contact,
                assessment,
            } => self.record_contact_match(contact, assessment, ctx),
            LeadCommand::RecordAccountMatch { assessment } => {
                self.record_account_match(assessment, ctx)
            }
        }
    }

    fn data_subject(&self) -> Option<crate::personal::DataSubject> {
        self.id.map(crate::personal::DataSubject::Lead)
    }

    fn evolve(mut self, event: &LeadEvent) -> Self {
        match event {
            LeadEvent::CustomFieldsSet(set) => set.apply_to(&mut self.custom),
            LeadEvent::Received {
                lead_id,
                source,
                requested_at,
                ..
            } => {
                self.id = Some(*lead_id);
                self.status = Some(LeadStatus::Received);
                self.source = Some(source.clone());
                self.requested_at = Some(*requested_at);
            }
            LeadEvent::Quarantined { reasons, .. } => {
                self.status = Some(LeadStatus::Quarantined);
                self.quarantine_reasons.clone_from(reasons);
            }
            LeadEvent::Captured {
                profile, campaign, ..
            } => {
                self.status = Some(LeadStatus::Captured);
                self.quarantine_reasons.clear();
                self.profile = Some(profile.clone());
                self.campaign = Some(campaign.clone());
            }
            LeadEvent::Assigned { rep, at, .. } => {
                self.assignee = Some(*rep);
                self.assigned_at = Some(*at);
                self.queue = None;
                if self.first_touch_at.is_none() && self.status != Some(LeadStatus::Qualified) {
                    self.status = Some(LeadStatus::Assigned);
                }
            }
            LeadEvent::Queued { queue, .. } => {
                self.assignee = None;
                self.assigned_at = None;
                self.queue = Some(*queue);
                self.status = Some(LeadStatus::Queued);
            }
            LeadEvent::FirstTouchLogged { at, .. } => {
                self.first_touch_at = Some(*at);
                self.status = Some(LeadStatus::Working);
            }
            LeadEvent::Reclaimed {
                from, reassignment, ..
            } => {
                self.reclaimed_from.push(*from);
                self.reassignments = *reassignment;
                self.assignee = None;
                self.assigned_at = None;
            }
            LeadEvent::Escalated { to, at, .. } => {
                self.assignee = Some(*to);
                self.assigned_at = Some(*at);
                self.queue = None;
                if self.first_touch_at.is_none() && self.status != Some(LeadStatus::Qualified) {
                    self.status = Some(LeadStatus::Assigned);
                }
            }
            LeadEvent::ScoreChanged { score, .. } => self.score = score.clone(),
            LeadEvent::Qualified { .. } => self.status = Some(LeadStatus::Qualified),
            LeadEvent::Disqualified { .. } => self.status = Some(LeadStatus::Disqualified),
            LeadEvent::Converted { contact_id, .. } => {
                self.status = Some(LeadStatus::Converted);
                self.converted_to = Some(*contact_id);
            }
            LeadEvent::Merged { into, .. } => {
                self.status = Some(LeadStatus::Merged);
                self.merged_into = Some(*into);
            }
            LeadEvent::AccountMatched { assessment, .. } => {
                self.account_match = Some(*assessment);
            }
            LeadEvent::ContactMatched {
                contact,
                assessment,
                ..
            } => {
                self.contact_match = Some(ContactMatch {
                    contact: *contact,
                    verdict: assessment.verdict,
                    match_probability: assessment.match_probability,
                });
            }
        }
        self
    }
}
