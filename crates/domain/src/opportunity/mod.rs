//! The opportunity aggregate: a potential deal moving along a configurable pipeline.
//!
//! An opportunity is opened for a contact (and optionally a company) with an owner, an amount
//! in integer minor units of one currency, an expected close date and a [`Pipeline`]. It moves
//! between the pipeline's open stages in any direction, its amount, close date and owner
//! change, and it ends won or lost. Closed is final: a won or lost opportunity refuses every
//! command with [`OpportunityError::Closed`]. There is no reopen: a revived deal is a new
//! opportunity, so win rates and closed revenue never change after the fact.
//!
//! # Where the pipeline comes from
//! [`OpportunityCommand::Open`] carries the pipeline, and [`OpportunityEvent::Opened`] records
//! all of it (id and version included); the state keeps it, and later commands read it from
//! the state. So replaying a stream never needs the configuration store, a command can never
//! be decided against the wrong pipeline, and an admin editing the pipeline never changes what
//! an open deal means. A deal moves to a newer version only through an explicit
//! [`OpportunityCommand::UpgradePipeline`], which is recorded whole as well.
//!
//! # Probabilities and forecast categories
//! Every event that puts the deal in a stage ([`OpportunityEvent::Opened`],
//! [`OpportunityEvent::StageChanged`], [`OpportunityEvent::Won`], [`OpportunityEvent::Lost`])
//! stamps the stage's probability and forecast category as they were at that moment, and the
//! state keeps the stamped values. Changing a stage's default probability, even by upgrading
//! the deal's pipeline, never re-prices a deal already in the stage; its next stage change
//! stamps the values of the version it then follows.
//!
//! # Closing
//! Moving to the closed-won stage with [`OpportunityCommand::ChangeStage`] is the same as
//! [`OpportunityCommand::Win`]; the closed-lost stage needs [`OpportunityCommand::Lose`],
//! which carries the reason. A deal whose amount is strictly above its pipeline's approval
//! threshold in its currency is won only with a granted approval for at least that amount.
//!
//! # Approvals
//! An approval is for a specific amount: the amount when it was requested. Raising the amount
//! above a pending or granted approval's amount records
//! [`OpportunityEvent::ApprovalInvalidated`] right after the amount change, and the deal needs
//! a new request. Lowering it keeps the approval. The deal's owner and the requester may
//! neither grant nor reject (no one approves their own deal); whether the approver has the
//! authority to approve is the application's permission check, not the aggregate's. A request
//! is refused when the amount needs no approval, when one is pending, and when the amount is
//! already approved; a rejected request can be made again.

mod fields;
mod pipeline;
#[cfg(test)]
mod tests;

use crate::custom_fields::{
    CustomFieldsRefused, CustomFieldsSet, CustomFieldsUpdate, CustomValues, EntityKind,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use fields::OpportunityField;
pub use pipeline::{
    ForecastCategory, Pipeline, PipelineError, PipelineId, Stage, StageId, StageKind,
};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::context::{Actor, Context};
use crate::ids::{CompanyId, ContactId, OpportunityId, UserId};
use crate::money::{Currency, Money, Probability};

/// Where an opportunity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    /// Being worked in one of the pipeline's open stages.
    Open,
    /// Won (final).
    Won,
    /// Lost (final).
    Lost,
}

impl OpportunityStatus {
    /// Whether nothing can happen to the opportunity any more.
    pub fn is_closed(self) -> bool {
        matches!(self, OpportunityStatus::Won | OpportunityStatus::Lost)
    }
}

/// Why a deal was lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LossReason {
    /// The price was too high.
    Price,
    /// A competitor won it.
    Competitor {
        /// Which one, if known.
        competitor: Option<String>,
    },
    /// The prospect had no budget.
    NoBudget,
    /// The prospect never decided.
    NoDecision,
    /// The timing was wrong.
    Timing,
    /// The product does not fit the need.
    ProductFit,
    /// Anything else, in words; the note must not be blank.
    Other {
        /// The explanation.
        note: String,
    },
}

impl LossReason {
    fn is_blank(&self) -> bool {
        matches!(self, LossReason::Other { note } if note.trim().is_empty())
    }
}

/// Where an approval whose amount was exceeded stood when it was invalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidatedApproval {
    /// Requested, not yet decided.
    Pending,
    /// Granted.
    Granted,
}

/// The deal's latest approval: requested for an amount, then granted or rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Waiting for an approver.
    Pending {
        /// The amount to approve (the deal's amount when requested).
        amount: Money,
        /// Who asked.
        requested_by: Actor,
        /// When.
        requested_at: DateTime<Utc>,
    },
    /// Granted: the deal may be won at up to `amount`.
    Granted {
        /// The approved amount.
        amount: Money,
        /// Who approved.
        approver: UserId,
        /// When.
        granted_at: DateTime<Utc>,
    },
    /// Rejected: the deal cannot be won above the threshold until a new request is granted.
    Rejected {
        /// The amount that was refused.
        amount: Money,
        /// Who refused.
        approver: UserId,
        /// Why.
        reason: String,
        /// When.
        rejected_at: DateTime<Utc>,
    },
}

/// A command to an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum OpportunityCommand {
    /// Opens an opportunity.
    Open {
        /// The new opportunity's id (the caller chose it; the stream is `"opportunity-{id}"`).
        opportunity: OpportunityId,
        /// What the deal is called; must not be blank.
        name: String,
        /// The person the deal is with.
        contact: ContactId,
        /// The company the deal is with, if any.
        company: Option<CompanyId>,
        /// The rep who owns it.
        owner: UserId,
        /// The deal's value; zero or more, in a currency the pipeline has a threshold for.
        amount: Money,
        /// When the deal is expected to close.
        expected_close: NaiveDate,
        /// The pipeline (current version) the deal will follow; must be valid.
        pipeline: Pipeline,
        /// The open stage to start in; the pipeline's first open stage when `None`.
        stage: Option<StageId>,
    },
    /// Moves the deal to another stage of its pipeline, forwards or backwards. The closed-won
    /// stage wins it (as [`OpportunityCommand::Win`]); the closed-lost stage is refused (use
    /// [`OpportunityCommand::Lose`], which carries the reason).
    ChangeStage {
        /// The stage to move to.
        to: StageId,
    },
    /// Changes the deal's amount; same currency as at opening, zero or more.
    ChangeAmount {
        /// The new amount.
        amount: Money,
    },
    /// Changes when the deal is expected to close.
    ChangeCloseDate {
        /// The new date.
        expected_close: NaiveDate,
    },
    /// Gives the deal to another rep.
    Reassign {
        /// The new owner.
        owner: UserId,
    },
    /// Asks for approval of the deal's current amount.
    RequestApproval {
        /// A justification for the approver.
        comment: Option<String>,
    },
    /// Grants the pending approval; the actor must be a user other than the deal's owner and
    /// the requester.
    GrantApproval {
        /// A remark for the rep.
        comment: Option<String>,
    },
    /// Rejects the pending approval; the actor must be a user other than the deal's owner and
    /// the requester.
    RejectApproval {
        /// Why; must not be blank.
        reason: String,
    },
    /// Marks the deal won.
    Win,
    /// Marks the deal lost.
    Lose {
        /// Why.
        reason: LossReason,
    },
    /// Moves the deal to a newer version of its pipeline. The deal keeps its stage (which must
    /// be an open stage of the new version) and its stamped probability and category.
    UpgradePipeline {
        /// The newer version; same id, higher version, valid.
        pipeline: Pipeline,
    },
    /// Sets or clears custom field values under the tenant's current schema (see
    /// [`CustomFieldsUpdate`]); an update without changes still checks the validation rules.
    SetCustomFields(CustomFieldsUpdate),
}

/// A fact about an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OpportunityEvent {
    /// The opportunity was opened.
    #[serde(rename = "OpportunityOpened")]
    Opened {
        /// The opportunity.
        opportunity: OpportunityId,
        /// Its name.
        #[serde(deserialize_with = "crate::personal::erasable")]
        name: String,
        /// The person the deal is with.
        contact: ContactId,
        /// The company, if any.
        company: Option<CompanyId>,
        /// The owning rep.
        owner: UserId,
        /// The deal's value.
        amount: Money,
        /// The expected close date.
        expected_close: NaiveDate,
        /// The pipeline followed, whole (id and version included).
        pipeline: Pipeline,
        /// The stage it starts in.
        stage: StageId,
        /// That stage's probability, stamped.
        probability: Probability,
        /// That stage's forecast category, stamped.
        forecast_category: ForecastCategory,
        /// Who opened it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The deal moved between open stages.
    #[serde(rename = "OpportunityStageChanged")]
    StageChanged {
        /// The stage it left.
        from: StageId,
        /// The stage it entered.
        to: StageId,
        /// The entered stage's probability, stamped.
        probability: Probability,
        /// The entered stage's forecast category, stamped.
        forecast_category: ForecastCategory,
        /// Who moved it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The deal's amount changed.
    #[serde(rename = "OpportunityAmountChanged")]
    AmountChanged {
        /// The new amount (same currency as at opening).
        amount: Money,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The expected close date changed.
    #[serde(rename = "OpportunityCloseDateChanged")]
    CloseDateChanged {
        /// The new date.
        expected_close: NaiveDate,
        /// Who changed it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The deal was given to another rep.
    #[serde(rename = "OpportunityReassigned")]
    Reassigned {
        /// The rep it was taken from.
        from: UserId,
        /// The new owner.
        to: UserId,
        /// Who reassigned it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Approval of an amount was requested.
    #[serde(rename = "OpportunityApprovalRequested")]
    ApprovalRequested {
        /// The amount to approve.
        amount: Money,
        /// The justification.
        comment: Option<String>,
        /// Who asked.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The pending approval was granted.
    #[serde(rename = "OpportunityApprovalGranted")]
    ApprovalGranted {
        /// The approved amount.
        amount: Money,
        /// The approver's remark.
        comment: Option<String>,
        /// Who approved.
        approver: UserId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The pending approval was rejected.
    #[serde(rename = "OpportunityApprovalRejected")]
    ApprovalRejected {
        /// The refused amount.
        amount: Money,
        /// Why.
        #[serde(deserialize_with = "crate::personal::erasable")]
        reason: String,
        /// Who refused.
        approver: UserId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The amount was raised above a pending or granted approval's amount, which no longer
    /// counts. Always recorded right after the [`OpportunityEvent::AmountChanged`] that
    /// caused it.
    #[serde(rename = "OpportunityApprovalInvalidated")]
    ApprovalInvalidated {
        /// The amount the approval was for.
        approved_amount: Money,
        /// Whether it was pending or granted.
        was: InvalidatedApproval,
        /// When.
        at: DateTime<Utc>,
    },
    /// The deal was won.
    #[serde(rename = "OpportunityWon")]
    Won {
        /// The stage it left.
        from: StageId,
        /// The closed-won stage.
        stage: StageId,
        /// That stage's probability, stamped.
        probability: Probability,
        /// That stage's forecast category, stamped.
        forecast_category: ForecastCategory,
        /// Who won it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The deal was lost.
    #[serde(rename = "OpportunityLost")]
    Lost {
        /// The stage it left.
        from: StageId,
        /// The closed-lost stage.
        stage: StageId,
        /// That stage's probability, stamped.
        probability: Probability,
        /// That stage's forecast category, stamped.
        forecast_category: ForecastCategory,
        /// Why.
        reason: LossReason,
        /// Who recorded the loss.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The deal moved to a newer version of its pipeline, kept its stage and stamped values.
    #[serde(rename = "OpportunityPipelineUpgraded")]
    PipelineUpgraded {
        /// The new version, whole.
        pipeline: Pipeline,
        /// Who upgraded it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Custom field values were set or cleared.
    #[serde(rename = "OpportunityCustomFieldsSet")]
    CustomFieldsSet(CustomFieldsSet),
}

impl DomainEvent for OpportunityEvent {
    /// The members that may hold personal data, encrypted with the contact's key: the deal's
    /// name (often the person's) and the free texts of approvals.
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            OpportunityEvent::CustomFieldsSet(set) => set.personal_fields(),
            OpportunityEvent::Opened { .. } => &["/name"],
            OpportunityEvent::ApprovalRequested { .. }
            | OpportunityEvent::ApprovalGranted { .. } => &["/comment"],
            OpportunityEvent::ApprovalRejected { .. } => &["/reason"],
            _ => &[],
        }
    }

    fn event_type(&self) -> &'static str {
        match self {
            OpportunityEvent::CustomFieldsSet(_) => "OpportunityCustomFieldsSet",
            OpportunityEvent::Opened { .. } => "OpportunityOpened",
            OpportunityEvent::StageChanged { .. } => "OpportunityStageChanged",
            OpportunityEvent::AmountChanged { .. } => "OpportunityAmountChanged",
            OpportunityEvent::CloseDateChanged { .. } => "OpportunityCloseDateChanged",
            OpportunityEvent::Reassigned { .. } => "OpportunityReassigned",
            OpportunityEvent::ApprovalRequested { .. } => "OpportunityApprovalRequested",
            OpportunityEvent::ApprovalGranted { .. } => "OpportunityApprovalGranted",
            OpportunityEvent::ApprovalRejected { .. } => "OpportunityApprovalRejected",
            OpportunityEvent::ApprovalInvalidated { .. } => "OpportunityApprovalInvalidated",
            OpportunityEvent::Won { .. } => "OpportunityWon",
            OpportunityEvent::Lost { .. } => "OpportunityLost",
            OpportunityEvent::PipelineUpgraded { .. } => "OpportunityPipelineUpgraded",
        }
    }
}

/// Why a command to an opportunity was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpportunityError {
    /// The opportunity has not been opened.
    #[error("opportunity not found: it has not been opened")]
    NotFound,
    /// An opportunity with this id was already opened.
    #[error("opportunity {id} was already opened")]
    AlreadyOpened {
        /// The existing opportunity.
        id: OpportunityId,
    },
    /// The opportunity is won or lost: nothing can change it.
    #[error("opportunity is {status:?}: it can no longer be changed")]
    Closed {
        /// Its final status.
        status: OpportunityStatus,
    },
    /// The pipeline brought by the command cannot be used.
    #[error("the pipeline cannot be used: {problems:?}")]
    InvalidPipeline {
        /// Every problem found.
        problems: Vec<PipelineError>,
    },
    /// The opportunity needs a name.
    #[error("an opportunity needs a name")]
    BlankName,
    /// Amounts are zero or more.
    #[error("amount {amount} is negative")]
    NegativeAmount {
        /// The refused amount.
        amount: Money,
    },
    /// An amount in another currency than the deal's.
    #[error("the deal is in {expected}, not {found}")]
    CurrencyMismatch {
        /// The deal's currency (from its opening).
        expected: Currency,
        /// The currency offered.
        found: Currency,
    },
    /// The pipeline has no approval threshold in the deal's currency, so the approval rule
    /// could not be applied.
    #[error("pipeline {pipeline} has no approval threshold in {currency}")]
    NoApprovalThreshold {
        /// The pipeline.
        pipeline: PipelineId,
        /// The deal's currency.
        currency: Currency,
    },
    /// The pipeline has no such stage.
    #[error("pipeline {pipeline} has no stage {stage}")]
    UnknownStage {
        /// The pipeline.
        pipeline: PipelineId,
        /// The stage asked for.
        stage: StageId,
    },
    /// A deal can only be opened in an open stage (win or lose it after opening).
    #[error("stage {stage} closes the deal: a deal cannot be opened in it")]
    NotAnOpenStage {
        /// The stage asked for.
        stage: StageId,
    },
    /// Moving to the closed-lost stage needs a reason: use Lose.
    #[error("moving to {stage} loses the deal: record the loss with its reason")]
    LossReasonRequired {
        /// The closed-lost stage.
        stage: StageId,
    },
    /// A reason or note was blank.
    #[error("a reason is required")]
    BlankReason,
    /// The amount is above the approval threshold and no granted approval covers it.
    #[error("{amount} is above the approval threshold {threshold}: it needs a granted approval")]
    ApprovalRequired {
        /// The deal's amount.
        amount: Money,
        /// The threshold.
        threshold: Money,
        /// The amount of a request still waiting for a decision, if there is one.
        pending: Option<Money>,
    },
    /// Approval was requested for an amount that needs none.
    #[error("{amount} is within the approval threshold {threshold}: no approval is needed")]
    ApprovalNotRequired {
        /// The deal's amount.
        amount: Money,
        /// The threshold.
        threshold: Money,
    },
    /// An approval is already pending.
    #[error("approval of {amount} is already pending")]
    ApprovalAlreadyRequested {
        /// The pending amount.
        amount: Money,
    },
    /// The deal's amount is already approved.
    #[error("{amount} is already approved")]
    AlreadyApproved {
        /// The approved amount.
        amount: Money,
    },
    /// No approval is pending, so there is nothing to grant or reject.
    #[error("no approval is pending")]
    NoPendingApproval,
    /// The deal's owner or the requester tried to decide the approval.
    #[error("user {approver} cannot decide an approval of their own deal or request")]
    SelfApproval {
        /// The user who tried.
        approver: UserId,
    },
    /// Approvals are decided by users, not by systems, integrations or automations.
    #[error("an approval must be decided by a user")]
    UserRequired,
    /// The offered pipeline is another pipeline, not a version of the deal's.
    #[error("the deal follows pipeline {current}, not {offered}")]
    PipelineMismatch {
        /// The deal's pipeline.
        current: PipelineId,
        /// The offered one.
        offered: PipelineId,
    },
    /// The offered version is not newer than the deal's (or differs under the same number).
    #[error("the deal follows version {current}; version {offered} is not newer")]
    PipelineNotNewer {
        /// The deal's version.
        current: u32,
        /// The offered version.
        offered: u32,
    },
    /// The deal's current stage is not an open stage of the offered version.
    #[error("stage {stage} is not an open stage of the new pipeline version")]
    StageNotInPipeline {
        /// The deal's stage.
        stage: StageId,
    },
    /// The custom field values do not fit their fields or break a validation rule; every
    /// problem, each naming its field.
    #[error("{0}")]
    CustomFields(#[source] CustomFieldsRefused),
}

/// What is known about an opened opportunity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// The opportunity's id.
    pub id: OpportunityId,
    /// Its name.
    pub name: String,
    /// The person the deal is with.
    pub contact: ContactId,
    /// The company, if any.
    pub company: Option<CompanyId>,
    /// The owning rep.
    pub owner: UserId,
    /// The current amount, always in the currency it was opened in.
    pub amount: Money,
    /// When it is expected to close.
    pub expected_close: NaiveDate,
    /// The pipeline version it follows.
    pub pipeline: Pipeline,
    /// The stage it is in.
    pub stage: StageId,
    /// The probability stamped when it entered its stage.
    pub probability: Probability,
    /// The forecast category stamped when it entered its stage.
    pub forecast_category: ForecastCategory,
    /// When it entered its stage.
    pub stage_entered_at: DateTime<Utc>,
    /// Open, won or lost.
    pub status: OpportunityStatus,
    /// The latest approval, if any is pending or was decided (and not invalidated).
    pub approval: Option<Approval>,
    /// Why it was lost.
    pub loss_reason: Option<LossReason>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Deal {
    /// The amount weighted by the stamped probability (rounded half away from zero); never
    /// overflows.
    pub fn weighted_amount(&self) -> Money {
        self.amount.weighted(self.probability)
    }

    /// The approval threshold in the deal's currency, from the pipeline it follows.
    pub fn approval_threshold(&self) -> Option<Money> {
        self.pipeline.approval_threshold(self.amount.currency)
    }

    /// Whether the deal's amount is strictly above its approval threshold. A deal without a
    /// threshold in its currency (only a corrupt history has one) counts as needing approval.
    pub fn needs_approval(&self) -> bool {
        self.approval_threshold()
            .is_none_or(|threshold| self.amount.minor > threshold.minor)
    }

    /// Whether a granted approval covers the current amount.
    pub fn is_approved(&self) -> bool {
        matches!(
            self.approval,
            Some(Approval::Granted { amount, .. }) if covers(amount, self.amount)
        )
    }
}

/// An opportunity's state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opportunity {
    /// Everything known since opening; `None` until opened.
    pub deal: Option<Deal>,
    /// The custom field values.
    pub custom: CustomValues,
}

impl Opportunity {
    /// The opportunity's id, once opened.
    pub fn id(&self) -> Option<OpportunityId> {
        self.deal.as_ref().map(|deal| deal.id)
    }

    /// Where it stands, once opened.
    pub fn status(&self) -> Option<OpportunityStatus> {
        self.deal.as_ref().map(|deal| deal.status)
    }

    fn require_open(&self) -> Result<&Deal, OpportunityError> {
        match &self.deal {
            None => Err(OpportunityError::NotFound),
            Some(deal) if deal.status.is_closed() => Err(OpportunityError::Closed {
                status: deal.status,
            }),
            Some(deal) => Ok(deal),
        }
    }
}

/// Whether an approval of `approved` covers `amount`: same currency, at least as much.
fn covers(approved: Money, amount: Money) -> bool {
    approved.currency == amount.currency && approved.minor >= amount.minor
}

fn threshold_for(pipeline: &Pipeline, currency: Currency) -> Result<Money, OpportunityError> {
    pipeline
        .approval_threshold(currency)
        .ok_or_else(|| OpportunityError::NoApprovalThreshold {
            pipeline: pipeline.id.clone(),
            currency,
        })
}

fn validated(pipeline: &Pipeline) -> Result<(), OpportunityError> {
    pipeline
        .validate()
        .map_err(|problems| OpportunityError::InvalidPipeline { problems })
}

fn unknown_stage(pipeline: &Pipeline, stage: StageId) -> OpportunityError {
    OpportunityError::UnknownStage {
        pipeline: pipeline.id.clone(),
        stage,
    }
}

/// The problem behind a missing stage of a kind, for a pipeline whose recorded copy lacks one
/// although it passed validation when it was brought in (only a hand-edited history does).
fn missing_stage(kind: StageKind) -> OpportunityError {
    let problem = match kind {
        StageKind::Open => PipelineError::NoOpenStage,
        StageKind::ClosedWon => PipelineError::WonStageCount { found: 0 },
        StageKind::ClosedLost => PipelineError::LostStageCount { found: 0 },
    };
    OpportunityError::InvalidPipeline {
        problems: vec![problem],
    }
}

/// What [`OpportunityCommand::Open`] carries, for the decision that checks it.
struct Opening {
    opportunity: OpportunityId,
    name: String,
    contact: ContactId,
    company: Option<CompanyId>,
    owner: UserId,
    amount: Money,
    expected_close: NaiveDate,
    pipeline: Pipeline,
    stage: Option<StageId>,
}

impl Opportunity {
    fn open(
        &self,
        opening: Opening,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        if let Some(id) = self.id() {
            return Err(OpportunityError::AlreadyOpened { id });
        }
        let Opening {
            opportunity,
            name,
            contact,
            company,
            owner,
            amount,
            expected_close,
            pipeline,
            stage,
        } = opening;
        validated(&pipeline)?;
        if name.trim().is_empty() {
            return Err(OpportunityError::BlankName);
        }
        if amount.minor < 0 {
            return Err(OpportunityError::NegativeAmount { amount });
        }
        threshold_for(&pipeline, amount.currency)?;
        let start = match stage {
            Some(id) => pipeline
                .stage(&id)
                .ok_or_else(|| unknown_stage(&pipeline, id))?,
            // A validated pipeline always has an open stage; `validated` above refused others.
            None => pipeline
                .first_open_stage()
                .ok_or_else(|| missing_stage(StageKind::Open))?,
        };
        if start.kind != StageKind::Open {
            return Err(OpportunityError::NotAnOpenStage {
                stage: start.id.clone(),
            });
        }
        let (stage, probability, forecast_category) =
            (start.id.clone(), start.probability, start.forecast_category);
        Ok(vec![OpportunityEvent::Opened {
            opportunity,
            name,
            contact,
            company,
            owner,
            amount,
            expected_close,
            pipeline,
            stage,
            probability,
            forecast_category,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn change_stage(
        &self,
        to: StageId,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        let Some(target) = deal.pipeline.stage(&to) else {
            return Err(unknown_stage(&deal.pipeline, to));
        };
        match target.kind {
            StageKind::ClosedWon => self.win(ctx),
            StageKind::ClosedLost => Err(OpportunityError::LossReasonRequired { stage: to }),
            StageKind::Open if to == deal.stage => Ok(vec![]),
            StageKind::Open => Ok(vec![OpportunityEvent::StageChanged {
                from: deal.stage.clone(),
                probability: target.probability,
                forecast_category: target.forecast_category,
                to,
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    fn change_amount(
        &self,
        amount: Money,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        if amount.currency != deal.amount.currency {
            return Err(OpportunityError::CurrencyMismatch {
                expected: deal.amount.currency,
                found: amount.currency,
            });
        }
        if amount.minor < 0 {
            return Err(OpportunityError::NegativeAmount { amount });
        }
        if amount == deal.amount {
            return Ok(vec![]);
        }
        let mut events = vec![OpportunityEvent::AmountChanged {
            amount,
            by: ctx.actor.clone(),
            at: ctx.now,
        }];
        let outgrown = match deal.approval {
            Some(Approval::Pending {
                amount: approved, ..
            }) => Some((approved, InvalidatedApproval::Pending)),
            Some(Approval::Granted {
                amount: approved, ..
            }) => Some((approved, InvalidatedApproval::Granted)),
            Some(Approval::Rejected { .. }) | None => None,
        };
        if let Some((approved_amount, was)) = outgrown
            && !covers(approved_amount, amount)
        {
            events.push(OpportunityEvent::ApprovalInvalidated {
                approved_amount,
                was,
                at: ctx.now,
            });
        }
        Ok(events)
    }

    fn change_close_date(
        &self,
        expected_close: NaiveDate,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        if expected_close == deal.expected_close {
            return Ok(vec![]);
        }
        Ok(vec![OpportunityEvent::CloseDateChanged {
            expected_close,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn reassign(
        &self,
        owner: UserId,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        if owner == deal.owner {
            return Ok(vec![]);
        }
        Ok(vec![OpportunityEvent::Reassigned {
            from: deal.owner,
            to: owner,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn request_approval(
        &self,
        comment: Option<String>,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        let threshold = threshold_for(&deal.pipeline, deal.amount.currency)?;
        if deal.amount.minor <= threshold.minor {
            return Err(OpportunityError::ApprovalNotRequired {
                amount: deal.amount,
                threshold,
            });
        }
        match deal.approval {
            Some(Approval::Pending { amount, .. }) => {
                Err(OpportunityError::ApprovalAlreadyRequested { amount })
            }
            Some(Approval::Granted { amount, .. }) if covers(amount, deal.amount) => {
                Err(OpportunityError::AlreadyApproved { amount })
            }
            _ => Ok(vec![OpportunityEvent::ApprovalRequested {
                amount: deal.amount,
                comment,
                by: ctx.actor.clone(),
                at: ctx.now,
            }]),
        }
    }

    /// The pending amount and the approver, once the approver may decide it.
    fn approval_decision(&self, ctx: &Context) -> Result<(Money, UserId), OpportunityError> {
        let deal = self.require_open()?;
        let approver = ctx.actor.user().ok_or(OpportunityError::UserRequired)?;
        let Some(Approval::Pending {
            amount,
            requested_by,
            ..
        }) = &deal.approval
        else {
            return Err(OpportunityError::NoPendingApproval);
        };
        if approver == deal.owner || requested_by.user() == Some(approver) {
            return Err(OpportunityError::SelfApproval { approver });
        }
        Ok((*amount, approver))
    }

    fn grant_approval(
        &self,
        comment: Option<String>,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let (amount, approver) = self.approval_decision(ctx)?;
        Ok(vec![OpportunityEvent::ApprovalGranted {
            amount,
            comment,
            approver,
            at: ctx.now,
        }])
    }

    fn reject_approval(
        &self,
        reason: String,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let (amount, approver) = self.approval_decision(ctx)?;
        if reason.trim().is_empty() {
            return Err(OpportunityError::BlankReason);
        }
        Ok(vec![OpportunityEvent::ApprovalRejected {
            amount,
            reason,
            approver,
            at: ctx.now,
        }])
    }

    fn win(&self, ctx: &Context) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        let won = deal
            .pipeline
            .won_stage()
            .ok_or_else(|| missing_stage(StageKind::ClosedWon))?;
        let threshold = threshold_for(&deal.pipeline, deal.amount.currency)?;
        if deal.amount.minor > threshold.minor && !deal.is_approved() {
            let pending = match deal.approval {
                Some(Approval::Pending { amount, .. }) => Some(amount),
                _ => None,
            };
            return Err(OpportunityError::ApprovalRequired {
                amount: deal.amount,
                threshold,
                pending,
            });
        }
        Ok(vec![OpportunityEvent::Won {
            from: deal.stage.clone(),
            stage: won.id.clone(),
            probability: won.probability,
            forecast_category: won.forecast_category,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn lose(
        &self,
        reason: LossReason,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        if reason.is_blank() {
            return Err(OpportunityError::BlankReason);
        }
        let lost = deal
            .pipeline
            .lost_stage()
            .ok_or_else(|| missing_stage(StageKind::ClosedLost))?;
        Ok(vec![OpportunityEvent::Lost {
            from: deal.stage.clone(),
            stage: lost.id.clone(),
            probability: lost.probability,
            forecast_category: lost.forecast_category,
            reason,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }

    fn upgrade_pipeline(
        &self,
        pipeline: Pipeline,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        let deal = self.require_open()?;
        if pipeline.id != deal.pipeline.id {
            return Err(OpportunityError::PipelineMismatch {
                current: deal.pipeline.id.clone(),
                offered: pipeline.id,
            });
        }
        // A retried upgrade to the version the deal already follows changes nothing.
        if pipeline == deal.pipeline {
            return Ok(vec![]);
        }
        if pipeline.version <= deal.pipeline.version {
            return Err(OpportunityError::PipelineNotNewer {
                current: deal.pipeline.version,
                offered: pipeline.version,
            });
        }
        validated(&pipeline)?;
        if pipeline
            .stage(&deal.stage)
            .is_none_or(|stage| stage.kind != StageKind::Open)
        {
            return Err(OpportunityError::StageNotInPipeline {
                stage: deal.stage.clone(),
            });
        }
        threshold_for(&pipeline, deal.amount.currency)?;
        Ok(vec![OpportunityEvent::PipelineUpgraded {
            pipeline,
            by: ctx.actor.clone(),
            at: ctx.now,
        }])
    }
}

impl Aggregate for Opportunity {
    const KIND: &'static str = "opportunity";
    type Command = OpportunityCommand;
    type Event = OpportunityEvent;
    type Error = OpportunityError;

    fn decide(
        &self,
        command: OpportunityCommand,
        ctx: &Context,
    ) -> Result<Vec<OpportunityEvent>, OpportunityError> {
        match command {
            OpportunityCommand::SetCustomFields(update) => {
                self.deal.as_ref().ok_or(OpportunityError::NotFound)?;
                let personal = self.data_subject().is_some();
                Ok(update
                    .decide(EntityKind::Opportunity, &self.custom, personal, ctx.now)
                    .map_err(OpportunityError::CustomFields)?
                    .map(OpportunityEvent::CustomFieldsSet)
                    .into_iter()
                    .collect())
            }
            OpportunityCommand::Open {
                opportunity,
                name,
                contact,
                company,
                owner,
                amount,
                expected_close,
                pipeline,
                stage,
            } => self.open(
                Opening {
                    opportunity,
                    name,
                    contact,
                    company,
                    owner,
                    amount,
                    expected_close,
                    pipeline,
                    stage,
                },
                ctx,
            ),
            OpportunityCommand::ChangeStage { to } => self.change_stage(to, ctx),
            OpportunityCommand::ChangeAmount { amount } => self.change_amount(amount, ctx),
            OpportunityCommand::ChangeCloseDate { expected_close } => {
                self.change_close_date(expected_close, ctx)
            }
            OpportunityCommand::Reassign { owner } => self.reassign(owner, ctx),
            OpportunityCommand::RequestApproval { comment } => self.request_approval(comment, ctx),
            OpportunityCommand::GrantApproval { comment } => self.grant_approval(comment, ctx),
            OpportunityCommand::RejectApproval { reason } => self.reject_approval(reason, ctx),
            OpportunityCommand::Win => self.win(ctx),
            OpportunityCommand::Lose { reason } => self.lose(reason, ctx),
            OpportunityCommand::UpgradePipeline { pipeline } => {
                self.upgrade_pipeline(pipeline, ctx)
            }
        }
    }

    fn data_subject(&self) -> Option<crate::personal::DataSubject> {
        self.deal
            .as_ref()
            .map(|deal| crate::personal::DataSubject::Contact(deal.contact))
    }

    fn evolve(mut self, event: &OpportunityEvent) -> Self {
        if let OpportunityEvent::CustomFieldsSet(set) = event {
            set.apply_to(&mut self.custom);
            return self;
        }
        if let OpportunityEvent::Opened { .. } = event {
            self.deal = opened(event);
        } else if let Some(deal) = &mut self.deal {
            deal.apply(event);
        }
        self
    }
}

fn opened(event: &OpportunityEvent) -> Option<Deal> {
    let OpportunityEvent::Opened {
        opportunity,
        name,
        contact,
        company,
        owner,
        amount,
        expected_close,
        pipeline,
        stage,
        probability,
        forecast_category,
        at,
        ..
    } = event
    else {
        return None;
    };
    Some(Deal {
        id: *opportunity,
        name: name.clone(),
        contact: *contact,
        company: *company,
        owner: *owner,
        amount: *amount,
        expected_close: *expected_close,
        pipeline: pipeline.clone(),
        stage: stage.clone(),
        probability: *probability,
        forecast_category: *forecast_category,
        stage_entered_at: *at,
        status: OpportunityStatus::Open,
        approval: None,
        loss_reason: None,
        opened_at: *at,
        closed_at: None,
    })
}

impl Deal {
    fn enter_stage(
        &mut self,
        stage: &StageId,
        probability: Probability,
        forecast_category: ForecastCategory,
        at: DateTime<Utc>,
    ) {
        self.stage = stage.clone();
        self.probability = probability;
        self.forecast_category = forecast_category;
        self.stage_entered_at = at;
    }

    fn apply(&mut self, event: &OpportunityEvent) {
        match event {
            // Handled by `evolve`, which replaces the whole deal.
            // Handled by `evolve`: the opening replaces the whole deal, and custom fields are
            // the opportunity's own.
            OpportunityEvent::Opened { .. } | OpportunityEvent::CustomFieldsSet(_) => {}
            OpportunityEvent::StageChanged {
                to,
                probability,
                forecast_category,
                at,
                ..
            } => self.enter_stage(to, *probability, *forecast_category, *at),
            OpportunityEvent::AmountChanged { amount, .. } => self.amount = *amount,
            OpportunityEvent::CloseDateChanged { expected_close, .. } => {
                self.expected_close = *expected_close;
            }
            OpportunityEvent::Reassigned { to, .. } => self.owner = *to,
            OpportunityEvent::ApprovalRequested { amount, by, at, .. } => {
                self.approval = Some(Approval::Pending {
                    amount: *amount,
                    requested_by: by.clone(),
                    requested_at: *at,
                });
            }
            OpportunityEvent::ApprovalGranted {
                amount,
                approver,
                at,
                ..
            } => {
                self.approval = Some(Approval::Granted {
                    amount: *amount,
                    approver: *approver,
                    granted_at: *at,
                });
            }
            OpportunityEvent::ApprovalRejected {
                amount,
                reason,
                approver,
                at,
            } => {
                self.approval = Some(Approval::Rejected {
                    amount: *amount,
                    approver: *approver,
                    reason: reason.clone(),
                    rejected_at: *at,
                });
            }
            OpportunityEvent::ApprovalInvalidated { .. } => self.approval = None,
            OpportunityEvent::Won {
                stage,
                probability,
                forecast_category,
                at,
                ..
            } => {
                self.enter_stage(stage, *probability, *forecast_category, *at);
                self.status = OpportunityStatus::Won;
                self.closed_at = Some(*at);
            }
            OpportunityEvent::Lost {
                stage,
                probability,
                forecast_category,
                reason,
                at,
                ..
            } => {
                self.enter_stage(stage, *probability, *forecast_category, *at);
                self.status = OpportunityStatus::Lost;
                self.loss_reason = Some(reason.clone());
                self.closed_at = Some(*at);
            }
            OpportunityEvent::PipelineUpgraded { pipeline, .. } => {
                self.pipeline = pipeline.clone();
            }
        }
    }
}
