//! Questions to the pipeline read model. Money is summed per currency with checked
//! arithmetic; a sum that would overflow is reported, never wrapped or dropped silently.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use crm_domain::opportunity::{ForecastCategory, OpportunityStatus, StageId};
use crm_domain::{Currency, Money, UserId};

pub use crm_domain::forecast::{Period, PeriodKind};
use serde::{Deserialize, Serialize};

use super::{DealDoc, FORECAST, ForecastDoc, LEAD, LeadFunnelDoc, OPPORTUNITY, PipelineDoc};
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
        PipelineDoc::Lead(_) | PipelineDoc::Forecast(_) => None,
    })
}

fn leads<'a, I>(docs: I) -> impl Iterator<Item = &'a LeadFunnelDoc>
where
    I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
{
    docs.filter_map(|(_, doc)| match doc {
        PipelineDoc::Lead(lead) => Some(lead),
        PipelineDoc::Deal(_) | PipelineDoc::Forecast(_) => None,
    })
}

fn forecasts<'a, I>(docs: I) -> impl Iterator<Item = &'a ForecastDoc>
where
    I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
{
    docs.filter_map(|(_, doc)| match doc {
        PipelineDoc::Forecast(forecast) => Some(forecast),
        PipelineDoc::Deal(_) | PipelineDoc::Lead(_) => None,
    })
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
    /// Count, total and weighted amount: the computed figure, from the deals alone.
    pub sum: DealSum,
    /// The owner's call for the cell, when the query names one owner and they made one; never
    /// added to `sum`.
    pub owner_adjusted: Option<Money>,
    /// The manager's call on that owner's cell, likewise; never added to `sum` nor to
    /// `owner_adjusted`.
    pub manager_adjusted: Option<Money>,
}

/// The forecast by category per period, for dates in `[from, to)` (UTC dates), optionally for
/// one owner. Lost deals and deals in an omitted stage are left out.
///
/// For one owner, each row also carries the owner's and the manager's calls from that owner's
/// forecast for the period (a period overlapping `[from, to)`, of the asked kind; of two
/// forecasts for the same owner and period, the one opened last). A call for a category without
/// deals gives a row of its own with a zero sum. The forecast of every owner together carries no
/// calls: calls are made per owner, and adding some owners' calls to nothing for the others
/// would be a figure nobody called.
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
        match self.owner {
            Some(owner) => Selection::of_kinds(&[OPPORTUNITY, FORECAST])
                .filter(Filter::eq("owner", IndexValue::Uuid(owner.0))),
            None => Selection::all(OPPORTUNITY),
        }
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<ForecastRow>
    where
        I: Iterator<Item = (&'a DocKey, &'a PipelineDoc)>,
    {
        let docs: Vec<_> = docs.collect();
        let mut sums = BTreeMap::new();
        for deal in deals(docs.iter().copied()) {
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
        let mut calls: BTreeMap<_, (Option<Money>, Option<Money>)> = BTreeMap::new();
        if let Some(owner) = self.owner {
            for forecast in self.owner_forecasts(owner, forecasts(docs.iter().copied())) {
                let cell = |category: &ForecastCategory, amount: &Money| {
                    (forecast.period, *category, amount.currency)
                };
                for (category, amount) in &forecast.owner_adjusted {
                    calls.entry(cell(category, amount)).or_default().0 = Some(*amount);
                }
                for (category, amount) in &forecast.manager_adjusted {
                    calls.entry(cell(category, amount)).or_default().1 = Some(*amount);
                }
            }
        }
        for (period, category, currency) in calls.keys() {
            sums.entry((*period, *category, *currency))
                .or_insert_with(|| DealSum::zero(*currency));
        }
        sums.into_iter()
            .map(|(key, sum)| {
                let (owner_adjusted, manager_adjusted) =
                    calls.get(&key).copied().unwrap_or_default();
                let (period, category, currency) = key;
                ForecastRow {
                    period,
                    category,
                    currency,
                    sum,
                    owner_adjusted,
                    manager_adjusted,
                }
            })
            .collect()
    }
}

impl Forecast {
    /// `owner`'s forecasts of the asked kind for periods overlapping `[from, to)`, one per
    /// period: the one opened last (then the greatest id, so the choice never depends on the
    /// order documents are read in).
    fn owner_forecasts<'a>(
        &self,
        owner: UserId,
        forecasts: impl Iterator<Item = &'a ForecastDoc>,
    ) -> impl Iterator<Item = &'a ForecastDoc> {
        let mut latest: BTreeMap<Period, &ForecastDoc> = BTreeMap::new();
        let overlaps = |period: &Period| {
            period.kind() == self.period
                && period.start() < self.to
                && period.end().is_none_or(|end| end > self.from)
        };
        for forecast in forecasts.filter(|forecast| forecast.owner == owner) {
            if !overlaps(&forecast.period) {
                continue;
            }
            let newer = |known: &&ForecastDoc| {
                (forecast.opened_at, forecast.id) > (known.opened_at, known.id)
            };
            match latest.get(&forecast.period) {
                Some(known) if !newer(known) => {}
                _ => {
                    latest.insert(forecast.period, forecast);
                }
            }
        }
        latest.into_values()
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
    let end = Period::of(to, kind).end().unwrap_or(to);
    (Period::of(from, kind).start(), end)
}
