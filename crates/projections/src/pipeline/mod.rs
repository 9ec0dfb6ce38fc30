//! Pipeline and forecast: deals by stage and owner, the forecast by category and period, win
//! rate, time spent in each stage, and the lead funnel (conversion rate, response time).
//!
//! # Documents
//! - `opportunity:<id>` ([`DealDoc`]): the deal's owner, amount, expected close date, status,
//!   and every stay in a stage with the probability and forecast category stamped when it
//!   entered. Probabilities are never re-priced: a stage's default changing later (even by a
//!   pipeline upgrade) leaves the stamped values alone, as the opportunity aggregate does.
//! - `lead:<id>` ([`LeadFunnelDoc`]): when the lead was received, captured, first touched and
//!   converted, and whether the conversion opened a deal.
//! - `forecast:<id>` ([`ForecastDoc`]): one owner's forecast for one period (the forecast
//!   aggregate's stream, one per owner and period) with the owner's and the manager's standing
//!   calls per category.
//!
//! Every aggregate is computed when read ([`query`]), from documents selected through indexed
//! columns, so no event ever writes a shared counter and a rebuild is just a fold.
//!
//! # Forecast adjustments
//! Owner and manager adjustments ("I call 120k this quarter") come from the forecast aggregate
//! ([`crm_domain::forecast`]) and are kept apart from the computed figures: a
//! [`query::ForecastRow`] shows the deals' sum, the owner's call and the manager's call side by
//! side and never adds one to another. The deal documents never see an adjustment.

pub mod query;

use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

use crm_domain::forecast::{AdjustmentRole, ForecastEvent, Period};
use crm_domain::lead::LeadEvent;
use crm_domain::opportunity::{ForecastCategory, OpportunityEvent, OpportunityStatus, StageId};
use crm_domain::{Currency, Money, Probability, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::DocSet;
use crate::model::{ColumnType, DocKey, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of a deal.
pub const OPPORTUNITY: &str = "opportunity";
/// Document kind of a lead.
pub const LEAD: &str = "lead";
/// Document kind of an owner's forecast for a period.
pub const FORECAST: &str = "forecast";

/// One stay of a deal in a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageVisit {
    /// The stage.
    pub stage: StageId,
    /// When the deal entered it.
    pub entered_at: DateTime<Utc>,
    /// When it left, `None` while it is still there.
    pub left_at: Option<DateTime<Utc>>,
}

/// A deal as the pipeline sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealDoc {
    /// The deal.
    pub id: Uuid,
    /// The owning rep.
    pub owner: UserId,
    /// Open, won or lost.
    pub status: OpportunityStatus,
    /// The current amount.
    pub amount: Money,
    /// When it is expected to close.
    pub expected_close: NaiveDate,
    /// The current stage.
    pub stage: StageId,
    /// The probability stamped when it entered its stage.
    pub probability: Probability,
    /// The forecast category stamped when it entered its stage.
    pub forecast_category: ForecastCategory,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// Every stay in a stage, oldest first; the last is the current one.
    pub visits: Vec<StageVisit>,
}

impl DealDoc {
    /// The amount weighted by the stamped probability.
    pub fn weighted_amount(&self) -> Money {
        self.amount.weighted(self.probability)
    }

    fn enter(
        &mut self,
        stage: &StageId,
        probability: Probability,
        category: ForecastCategory,
        at: DateTime<Utc>,
    ) {
        if let Some(current) = self.visits.last_mut()
            && current.left_at.is_none()
        {
            // Events of one deal are in stream order, but their instants come from callers'
            // clocks; a stay never ends before it began.
            current.left_at = Some(at.max(current.entered_at));
        }
        self.visits.push(StageVisit {
            stage: stage.clone(),
            entered_at: at,
            left_at: None,
        });
        self.stage = stage.clone();
        self.probability = probability;
        self.forecast_category = category;
    }
}

/// A lead as the funnel sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFunnelDoc {
    /// The lead.
    pub id: Uuid,
    /// When it was recorded.
    pub received_at: DateTime<Utc>,
    /// When the prospect asked.
    pub requested_at: DateTime<Utc>,
    /// When it was captured (valid data), if it was.
    pub captured_at: Option<DateTime<Utc>>,
    /// When a rep first touched it.
    pub first_touch_at: Option<DateTime<Utc>>,
    /// When it was converted.
    pub converted_at: Option<DateTime<Utc>>,
    /// The deal opened by the conversion.
    pub opportunity: Option<Uuid>,
    /// Whether it was disqualified or merged away.
    pub dropped: bool,
}

/// An owner's forecast for a period, as the forecast query reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastDoc {
    /// The forecast.
    pub id: Uuid,
    /// The rep whose forecast it is.
    pub owner: UserId,
    /// The manager who may adjust it.
    pub manager: Option<UserId>,
    /// The month or quarter.
    pub period: Period,
    /// The currency of every figure.
    pub currency: Currency,
    /// When it was opened (of two forecasts for the same owner and period, the query reads the
    /// one opened last).
    pub opened_at: DateTime<Utc>,
    /// The owner's standing calls, by category.
    pub owner_adjusted: BTreeMap<ForecastCategory, Money>,
    /// The manager's standing calls, by category.
    pub manager_adjusted: BTreeMap<ForecastCategory, Money>,
    /// Whether the period is closed for calls.
    pub locked: bool,
}

impl ForecastDoc {
    fn calls_mut(&mut self, role: AdjustmentRole) -> &mut BTreeMap<ForecastCategory, Money> {
        match role {
            AdjustmentRole::Owner => &mut self.owner_adjusted,
            AdjustmentRole::Manager => &mut self.manager_adjusted,
        }
    }
}

/// The pipeline and forecast read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipelineModel;

impl ReadModel for PipelineModel {
    const NAME: &'static str = "pipeline";
    // Version 2 folds forecast streams, which version 1 passed over as unknown (checkpoint
    // included): its documents must be rebuilt, not continued.
    const VERSION: u32 = 2;
    const KINDS: &'static [&'static str] = &[OPPORTUNITY, LEAD, FORECAST];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("status", ColumnType::Text),
        IndexedColumn::new("owner", ColumnType::Uuid),
        IndexedColumn::new("expected_close", ColumnType::Time),
        IndexedColumn::new("closed_at", ColumnType::Time),
        IndexedColumn::new("received_at", ColumnType::Time),
    ];
    type Doc = PipelineDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        match &event.event {
            CrmEvent::Opportunity(_) => keys.push(DocKey::new(OPPORTUNITY, event.stream.id)),
            CrmEvent::Lead(_) => keys.push(DocKey::new(LEAD, event.stream.id)),
            CrmEvent::Forecast(_) => keys.push(DocKey::new(FORECAST, event.stream.id)),
            CrmEvent::Contact(_)
            | CrmEvent::Ticket(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn apply(&self, docs: &mut DocSet<PipelineDoc>, event: &ProjectedEvent) {
        let id = event.stream.id;
        match &event.event {
            CrmEvent::Opportunity(opportunity) => apply_deal(docs, id, opportunity),
            CrmEvent::Lead(lead) => apply_lead(docs, id, lead),
            CrmEvent::Forecast(forecast) => apply_forecast(docs, id, forecast),
            CrmEvent::Contact(_)
            | CrmEvent::Ticket(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
        }
    }

    fn indexed(_key: &DocKey, doc: &PipelineDoc) -> Indexed {
        match doc {
            PipelineDoc::Deal(deal) => {
                let mut columns = vec![
                    (
                        "status",
                        IndexValue::Text(status_name(deal.status).to_owned()),
                    ),
                    ("owner", IndexValue::Uuid(deal.owner.0)),
                    (
                        "expected_close",
                        IndexValue::Time(midnight(deal.expected_close)),
                    ),
                ];
                if let Some(closed_at) = deal.closed_at {
                    columns.push(("closed_at", IndexValue::Time(closed_at)));
                }
                columns
            }
            PipelineDoc::Lead(lead) => vec![("received_at", IndexValue::Time(lead.received_at))],
            PipelineDoc::Forecast(forecast) => vec![("owner", IndexValue::Uuid(forecast.owner.0))],
        }
    }
}

/// A document of the pipeline model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PipelineDoc {
    /// A deal.
    Deal(DealDoc),
    /// A lead.
    Lead(LeadFunnelDoc),
    /// An owner's forecast for a period.
    Forecast(ForecastDoc),
}

/// The indexed text of a status.
pub(crate) fn status_name(status: OpportunityStatus) -> &'static str {
    match status {
        OpportunityStatus::Open => "open",
        OpportunityStatus::Won => "won",
        OpportunityStatus::Lost => "lost",
    }
}

/// A date as the instant it starts (UTC), for indexing.
pub(crate) fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn apply_deal(docs: &mut DocSet<PipelineDoc>, id: Uuid, event: &OpportunityEvent) {
    let key = DocKey::new(OPPORTUNITY, id);
    if let OpportunityEvent::Opened {
        owner,
        amount,
        expected_close,
        stage,
        probability,
        forecast_category,
        at,
        ..
    } = event
    {
        let mut deal = DealDoc {
            id,
            owner: *owner,
            status: OpportunityStatus::Open,
            amount: *amount,
            expected_close: *expected_close,
            stage: stage.clone(),
            probability: *probability,
            forecast_category: *forecast_category,
            opened_at: *at,
            closed_at: None,
            visits: Vec::new(),
        };
        deal.enter(stage, *probability, *forecast_category, *at);
        let _ = docs.insert(&key, PipelineDoc::Deal(deal));
        return;
    }
    let Some(PipelineDoc::Deal(deal)) = docs.get_mut(&key) else {
        return;
    };
    match event {
        OpportunityEvent::StageChanged {
            to,
            probability,
            forecast_category,
            at,
            ..
        } => deal.enter(to, *probability, *forecast_category, *at),
        OpportunityEvent::Won {
            stage,
            probability,
            forecast_category,
            at,
            ..
        }
        | OpportunityEvent::Lost {
            stage,
            probability,
            forecast_category,
            at,
            ..
        } => {
            deal.enter(stage, *probability, *forecast_category, *at);
            deal.status = if matches!(event, OpportunityEvent::Won { .. }) {
                OpportunityStatus::Won
            } else {
                OpportunityStatus::Lost
            };
            deal.closed_at = Some(*at);
        }
        OpportunityEvent::AmountChanged { amount, .. } => deal.amount = *amount,
        OpportunityEvent::CloseDateChanged { expected_close, .. } => {
            deal.expected_close = *expected_close;
        }
        OpportunityEvent::Reassigned { to, .. } => deal.owner = *to,
        OpportunityEvent::Opened { .. }
        | OpportunityEvent::ApprovalRequested { .. }
        | OpportunityEvent::ApprovalGranted { .. }
        | OpportunityEvent::ApprovalRejected { .. }
        | OpportunityEvent::ApprovalInvalidated { .. }
        | OpportunityEvent::PipelineUpgraded { .. }
        | OpportunityEvent::CustomFieldsSet(_) => {}
    }
}

fn apply_lead(docs: &mut DocSet<PipelineDoc>, id: Uuid, event: &LeadEvent) {
    let key = DocKey::new(LEAD, id);
    if let LeadEvent::Received {
        requested_at, at, ..
    } = event
    {
        let lead = LeadFunnelDoc {
            id,
            received_at: *at,
            requested_at: *requested_at,
            captured_at: None,
            first_touch_at: None,
            converted_at: None,
            opportunity: None,
            dropped: false,
        };
        let _ = docs.insert(&key, PipelineDoc::Lead(lead));
        return;
    }
    let Some(PipelineDoc::Lead(lead)) = docs.get_mut(&key) else {
        return;
    };
    match event {
        LeadEvent::Captured { at, .. } => {
            lead.captured_at.get_or_insert(*at);
        }
        LeadEvent::FirstTouchLogged { at, .. } => {
            lead.first_touch_at.get_or_insert(*at);
        }
        LeadEvent::Converted {
            opportunity_id, at, ..
        } => {
            lead.converted_at = Some(*at);
            lead.opportunity = opportunity_id.map(|id| id.0);
        }
        LeadEvent::Disqualified { .. } | LeadEvent::Merged { .. } => lead.dropped = true,
        LeadEvent::Received { .. }
        | LeadEvent::Quarantined { .. }
        | LeadEvent::Assigned { .. }
        | LeadEvent::Queued { .. }
        | LeadEvent::Reclaimed { .. }
        | LeadEvent::Escalated { .. }
        | LeadEvent::ScoreChanged { .. }
        | LeadEvent::Qualified { .. }
        | LeadEvent::ContactMatched { .. }
        | LeadEvent::AccountMatched { .. }
        | LeadEvent::CustomFieldsSet(_) => {}
    }
}

fn apply_forecast(docs: &mut DocSet<PipelineDoc>, id: Uuid, event: &ForecastEvent) {
    let key = DocKey::new(FORECAST, id);
    if let ForecastEvent::Opened {
        owner,
        manager,
        period,
        currency,
        at,
        ..
    } = event
    {
        let forecast = ForecastDoc {
            id,
            owner: *owner,
            manager: *manager,
            period: *period,
            currency: *currency,
            opened_at: *at,
            owner_adjusted: BTreeMap::new(),
            manager_adjusted: BTreeMap::new(),
            locked: false,
        };
        let _ = docs.insert(&key, PipelineDoc::Forecast(forecast));
        return;
    }
    let Some(PipelineDoc::Forecast(forecast)) = docs.get_mut(&key) else {
        return;
    };
    match event {
        ForecastEvent::Adjusted {
            category,
            role,
            amount,
            ..
        } => {
            forecast.calls_mut(*role).insert(*category, *amount);
        }
        ForecastEvent::AdjustmentWithdrawn { category, role, .. } => {
            forecast.calls_mut(*role).remove(category);
        }
        ForecastEvent::Locked { .. } => forecast.locked = true,
        ForecastEvent::Opened { .. } => {}
    }
}
