//! Questions to the pipeline read model. Money is summed per currency with checked
//! arithmetic; a sum that would overflow is reported, never wrapped or dropped silently.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use crm_domain::opportunity::{ForecastCategory, OpportunityStatus, StageId};
use crm_domain::{Currency, Money, UserId};
use serde::{Deserialize, Serialize};

use super::{DealDoc, LEAD, LeadFunnelDoc, OPPORTUNITY, PipelineDoc};
use crate::model::{DocKey, Filter, IndexValue, Scan, Selection};

/// A count of deals with their total and probability-weighted amounts, in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealSum {
    /// How many deals.
    pub count: u32,
    /// The sum of their amounts.
    pub total: Money,
    /// The sum of their amounts weighted by their stamped probabilities.
    pub weighted: Money,
    /// Whether a sum overflowed 64-bit minor units (the sums then stop at the last value
    /// that fit and must not be shown as totals).
    pub overflowed: bool,
}

impl DealSum {
    fn zero(currency: Currency) -> Self {
        Self {
            count: 0,
            total: Money::zero(currency),
            weighted: Money::zero(currency),
            overflowed: false,
        }
    }

    fn add(&mut self, amount: Money, weighted: Money) {
        self.count = self.count.saturating_add(1);
        match (
            self.total.checked_add(amount),
            self.weighted.checked_add(weighted),
        ) {
            (Ok(total), Ok(weighted)) => {
                self.total = total;
                self.weighted = weighted;
            }
            _ => self.overflowed = true,
        }
    }
}

fn add_deal<K: Ord>(sums: &mut BTreeMap<K, DealSum>, key: K, deal: &DealDoc) {
    sums.entry(key)
        .or_insert_with(|| DealSum::zero(deal.amount.currency))
        .add(deal.amount, deal.weighted_amount());
}

/// Open deals by stage, owner and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageOwnerRow {
    /// The stage.
    pub stage: StageId,
    /// The owner.
    pub owner: UserId,
    /// The currency of the sums.
    pub currency: Currency,
    /// Count, total and weighted amount.
    pub sum: DealSum,
}

/// The open pipeline by stage and owner (optionally one owner's only), per currency.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByStageAndOwner {
    /// Only this owner's deals, when set.
    pub owner: Option<UserId>,
}

impl Scan<PipelineDoc> for ByStageAndOwner {
    type Answer = Vec<StageOwnerRow>;

    fn selection(&self) -> Selection {
        let selection = Selection::all(OPPORTUNITY)
            .filter(Filter::eq("status", IndexValue::Text("open".into())));
        match self.owner {
            Some(owner) => selection.filter(Filter::eq("owner", IndexValue::Uuid(owner.0))),
            None => selection,
        }
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<StageOwnerRow>
    where
        I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
    {
        let mut sums = BTreeMap::new();
        for deal in deals(docs).filter(|deal| deal.status == OpportunityStatus::Open) {
            add_deal(
                &mut sums,
                (deal.stage.clone(), deal.owner, deal.amount.currency),
                deal,
            );
        }
        sums.into_iter()
            .map(|((stage, owner, currency), sum)| StageOwnerRow {
                stage,
                owner,
                currency,
                sum,
            })
            .collect()
    }
}

fn deals<'a, I>(docs: I) -> impl Iterator<Item = &'a DealDoc>
where
    I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
{
    docs.filter_map(|(_, doc)| match doc {
        PipelineDoc::Deal(deal) => Some(deal),
        PipelineDoc::Lead(_) => None,
    })
}

fn leads<'a, I>(docs: I) -> impl Iterator<Item = &'a LeadFunnelDoc>
where
    I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
{
    docs.filter_map(|(_, doc)| match doc {
        PipelineDoc::Lead(lead) => Some(lead),
        PipelineDoc::Deal(_) => None,
    })
}

/// How long a forecast period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// Calendar months.
    Month,
    /// Calendar quarters (January to March is Q1).
    Quarter,
}

/// A calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Period {
    /// A month, 1 to 12.
    Month {
        /// The year.
        year: i32,
        /// The month.
        month: u32,
    },
    /// A quarter, 1 to 4.
    Quarter {
        /// The year.
        year: i32,
        /// The quarter.
        quarter: u32,
    },
}

impl Period {
    /// The period of `kind` that `date` falls in.
    pub fn of(date: NaiveDate, kind: PeriodKind) -> Self {
        match kind {
            PeriodKind::Month => Period::Month {
                year: date.year(),
                month: date.month(),
            },
            PeriodKind::Quarter => Period::Quarter {
                year: date.year(),
                quarter: date.month0() / 3 + 1,
            },
        }
    }
}

/// One cell of the forecast: a period, a category, a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastRow {
    /// The period.
    pub period: Period,
    /// The category: pipeline, best case and commit from open deals' stamped categories by
    /// expected close date; closed from deals won, by the date they were won.
    pub category: ForecastCategory,
    /// The currency of the sums.
    pub currency: Currency,
    /// Count, total and weighted amount.
    pub sum: DealSum,
}

/// The forecast by category per period, for dates in `[from, to)` (UTC dates), optionally for
/// one owner. Lost deals and deals in an omitted stage are left out.
#[derive(Debug, Clone, Copy)]
pub struct Forecast {
    /// Months or quarters.
    pub period: PeriodKind,
    /// The first date counted.
    pub from: NaiveDate,
    /// The first date no longer counted.
    pub to: NaiveDate,
    /// Only this owner's deals, when set.
    pub owner: Option<UserId>,
}

impl Scan<PipelineDoc> for Forecast {
    type Answer = Vec<ForecastRow>;

    fn selection(&self) -> Selection {
        let selection = Selection::all(OPPORTUNITY);
        match self.owner {
            Some(owner) => selection.filter(Filter::eq("owner", IndexValue::Uuid(owner.0))),
            None => selection,
        }
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<ForecastRow>
    where
        I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
    {
        let mut sums = BTreeMap::new();
        for deal in deals(docs) {
            let (date, category) = match deal.status {
                OpportunityStatus::Open => (deal.expected_close, deal.forecast_category),
                OpportunityStatus::Won => match deal.closed_at {
                    Some(closed_at) => (closed_at.date_naive(), ForecastCategory::Closed),
                    None => continue,
                },
                OpportunityStatus::Lost => continue,
            };
            if category == ForecastCategory::Omitted || date < self.from || date >= self.to {
                continue;
            }
            let key = (
                Period::of(date, self.period),
                category,
                deal.amount.currency,
            );
            add_deal(&mut sums, key, deal);
        }
        sums.into_iter()
            .map(|((period, category, currency), sum)| ForecastRow {
                period,
                category,
                currency,
                sum,
            })
            .collect()
    }
}

/// Deals won and lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WinCount {
    /// Deals won.
    pub won: u32,
    /// Deals lost.
    pub lost: u32,
}

impl WinCount {
    /// The share won, in basis points (10,000 = all won); `None` without closed deals.
    pub fn basis_points(&self) -> Option<u32> {
        let closed = u64::from(self.won) + u64::from(self.lost);
        (closed > 0).then(|| u32::try_from(u64::from(self.won) * 10_000 / closed).unwrap_or(10_000))
    }

    fn add(&mut self, status: OpportunityStatus) {
        match status {
            OpportunityStatus::Won => self.won = self.won.saturating_add(1),
            OpportunityStatus::Lost => self.lost = self.lost.saturating_add(1),
            OpportunityStatus::Open => {}
        }
    }
}

/// The win rate of deals closed in `[from, to)`, overall and per owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinRates {
    /// Every owner together.
    pub overall: WinCount,
    /// Per owner, in owner id order.
    pub by_owner: Vec<(UserId, WinCount)>,
}

/// The win rate of the deals closed in `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct WinRate {
    /// The first instant counted.
    pub from: DateTime<Utc>,
    /// The first instant no longer counted.
    pub to: DateTime<Utc>,
}

impl Scan<PipelineDoc> for WinRate {
    type Answer = WinRates;

    fn selection(&self) -> Selection {
        Selection::all(OPPORTUNITY)
            .filter(Filter::ge("closed_at", IndexValue::Time(self.from)))
            .filter(Filter::lt("closed_at", IndexValue::Time(self.to)))
    }

    fn answer<'a, I>(&self, docs: I) -> WinRates
    where
        I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
    {
        let mut overall = WinCount::default();
        let mut by_owner: BTreeMap<UserId, WinCount> = BTreeMap::new();
        let closed_in = |deal: &&DealDoc| {
            deal.closed_at
                .is_some_and(|at| at >= self.from && at < self.to)
        };
        for deal in deals(docs).filter(closed_in) {
            overall.add(deal.status);
            by_owner.entry(deal.owner).or_default().add(deal.status);
        }
        WinRates {
            overall,
            by_owner: by_owner.into_iter().collect(),
        }
    }
}

/// The time deals spent in one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTime {
    /// The stage.
    pub stage: StageId,
    /// How many stays in it ended (a deal moving back and forth counts each stay).
    pub stays: u32,
    /// Their total length.
    pub total: TimeDelta,
}

impl StageTime {
    /// The average stay, `None` without any.
    pub fn average(&self) -> Option<TimeDelta> {
        (self.stays > 0).then(|| self.total / i32::try_from(self.stays).unwrap_or(i32::MAX))
    }

    /// The average stay in whole days, rounded down.
    pub fn average_days(&self) -> Option<i64> {
        self.average().map(|average| average.num_days())
    }
}

/// The average time in each stage, over the stays that ended (in stage id order).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeInStage;

impl Scan<PipelineDoc> for TimeInStage {
    type Answer = Vec<StageTime>;

    fn selection(&self) -> Selection {
        Selection::all(OPPORTUNITY)
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<StageTime>
    where
        I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
    {
        let mut stages: BTreeMap<StageId, (u32, TimeDelta)> = BTreeMap::new();
        for visit in deals(docs).flat_map(|deal| deal.visits.iter()) {
            if let Some(left_at) = visit.left_at {
                let (stays, total) = stages
                    .entry(visit.stage.clone())
                    .or_insert((0, TimeDelta::zero()));
                *stays = stays.saturating_add(1);
                *total = total
                    .checked_add(&(left_at - visit.entered_at))
                    .unwrap_or(TimeDelta::MAX);
            }
        }
        stages
            .into_iter()
            .map(|(stage, (stays, total))| StageTime {
                stage,
                stays,
                total,
            })
            .collect()
    }
}

/// How fast leads were first touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseTimes {
    /// Leads touched.
    pub touched: u32,
    /// The median time from receipt to first touch (nearest rank: the lower middle value).
    pub median: Option<TimeDelta>,
    /// The 90th percentile (nearest rank).
    pub p90: Option<TimeDelta>,
}

/// The lead funnel of the leads received in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeadFunnel {
    /// Leads received.
    pub received: u32,
    /// Of those, captured with valid data.
    pub captured: u32,
    /// Of those, converted.
    pub converted: u32,
    /// Of those, converted with a deal opened.
    pub converted_to_opportunity: u32,
    /// Response times.
    pub response: ResponseTimes,
}

impl LeadFunnel {
    /// Lead-to-opportunity conversion: converted with a deal over received, in basis points;
    /// `None` without leads.
    pub fn conversion_basis_points(&self) -> Option<u32> {
        (self.received > 0).then(|| {
            u32::try_from(
                u64::from(self.converted_to_opportunity) * 10_000 / u64::from(self.received),
            )
            .unwrap_or(10_000)
        })
    }
}

/// The funnel of the leads received in `[from, to)`: conversion rate and response time
/// (received → first touch, median and 90th percentile).
#[derive(Debug, Clone, Copy)]
pub struct Funnel {
    /// The first instant counted.
    pub from: DateTime<Utc>,
    /// The first instant no longer counted.
    pub to: DateTime<Utc>,
}

impl Scan<PipelineDoc> for Funnel {
    type Answer = LeadFunnel;

    fn selection(&self) -> Selection {
        Selection::all(LEAD)
            .filter(Filter::ge("received_at", IndexValue::Time(self.from)))
            .filter(Filter::lt("received_at", IndexValue::Time(self.to)))
    }

    fn answer<'a, I>(&self, docs: I) -> LeadFunnel
    where
        I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
    {
        let mut funnel = LeadFunnel::default();
        let mut responses = Vec::new();
        let received_in =
            |lead: &&LeadFunnelDoc| lead.received_at >= self.from && lead.received_at < self.to;
        for lead in leads(docs).filter(received_in) {
            funnel.received = funnel.received.saturating_add(1);
            if lead.captured_at.is_some() {
                funnel.captured = funnel.captured.saturating_add(1);
            }
            if lead.converted_at.is_some() {
                funnel.converted = funnel.converted.saturating_add(1);
                if lead.opportunity.is_some() {
                    funnel.converted_to_opportunity =
                        funnel.converted_to_opportunity.saturating_add(1);
                }
            }
            if let Some(touched) = lead.first_touch_at {
                responses.push((touched - lead.received_at).max(TimeDelta::zero()));
            }
        }
        responses.sort_unstable();
        funnel.response = ResponseTimes {
            touched: u32::try_from(responses.len()).unwrap_or(u32::MAX),
            median: nearest_rank(&responses, 50),
            p90: nearest_rank(&responses, 90),
        };
        funnel
    }
}

/// The `percent`-th percentile of sorted `values` by the nearest-rank method.
fn nearest_rank(values: &[TimeDelta], percent: usize) -> Option<TimeDelta> {
    let rank = (values.len() * percent).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

/// The forecast date range of whole periods: from the start of `from`'s period to the start of
/// the period after `to`'s.
pub fn periods_covering(
    from: NaiveDate,
    to: NaiveDate,
    kind: PeriodKind,
) -> (NaiveDate, NaiveDate) {
    let start = |date: NaiveDate| {
        let month = match kind {
            PeriodKind::Month => date.month(),
            PeriodKind::Quarter => date.month0() / 3 * 3 + 1,
        };
        NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date)
    };
    let step = match kind {
        PeriodKind::Month => chrono::Months::new(1),
        PeriodKind::Quarter => chrono::Months::new(3),
    };
    let end = start(to).checked_add_months(step).unwrap_or(to);
    (start(from), end)
}
