//! Questions to the SLA read model, each "as of" a `now` the caller gives.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use crm_domain::sla::{
    BusinessCalendar, ClockPhase, ClockStatus, ItemKind, PolicyRef, SlaClock, SlaHealth, SlaMetric,
};
use crm_domain::{Priority, TeamId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{LEAD, SlaConfig, SlaItemDoc, SlaProblem, TICKET};
use crate::model::{DocKey, Filter, Found, IndexValue, Lookup, Scan, Selection};

/// Where an item stands overall: its worst clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemHealth {
    /// No clock runs (all fulfilled, paused, or none).
    Idle,
    /// Every running clock is under 80 % of its target.
    OnTrack,
    /// A running clock has used at least 80 % of its target.
    AtRisk,
    /// A clock breached and is not fulfilled.
    Breached,
}

/// One clock at `now`, with the business time it spent paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockView {
    /// The engine's status of the clock (health, deadline, elapsed, remaining).
    pub status: ClockStatus,
    /// Business time the clock spent paused so far.
    pub paused: TimeDelta,
}

/// One item's SLA at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemStatus {
    /// Lead or ticket.
    pub kind: ItemKind,
    /// The item.
    pub id: Uuid,
    /// Its current priority.
    pub priority: Priority,
    /// The team holding it.
    pub team: Option<TeamId>,
    /// The rep or agent holding it.
    pub agent: Option<UserId>,
    /// Whether work is still owed.
    pub open: bool,
    /// The policy version its clocks run under.
    pub policy: Option<PolicyRef>,
    /// Its worst clock.
    pub health: ItemHealth,
    /// The earliest pending deadline or unfulfilled breach instant.
    pub deadline: Option<DateTime<Utc>>,
    /// Every clock, oldest first.
    pub clocks: Vec<ClockView>,
    /// Why no SLA runs, if none does.
    pub problem: Option<SlaProblem>,
}

impl ItemStatus {
    /// The status of `doc` at `now` under `config`. The document holds the item's latest
    /// state, so `now` is meant to be at or after the item's last event; the status at an
    /// earlier instant is that of a fold of the events up to it (the live lifecycle).
    pub fn of(doc: &SlaItemDoc, config: &SlaConfig, now: DateTime<Utc>) -> Self {
        let mut problem = doc.problem.clone();
        let mut clocks = Vec::new();
        if let Some(sla) = &doc.sla {
            match config.version(sla.policy()) {
                Some(policy) => {
                    let calendar = policy.calendar();
                    for clock in sla.clocks() {
                        match clock.status_at(calendar, now) {
                            Ok(status) => {
                                let paused = paused_time(clock, calendar, &status, now);
                                clocks.push(ClockView { status, paused });
                            }
                            Err(error) => {
                                problem = Some(SlaProblem::Engine {
                                    message: error.to_string(),
                                });
                            }
                        }
                    }
                }
                None => {
                    problem = Some(SlaProblem::PolicyMissing {
                        policy: sla.policy(),
                    });
                }
            }
        }
        let health = clocks
            .iter()
            .map(|clock| match clock.status.health {
                SlaHealth::Breached { .. } => ItemHealth::Breached,
                SlaHealth::AtRisk => ItemHealth::AtRisk,
                SlaHealth::OnTrack => ItemHealth::OnTrack,
                SlaHealth::Paused { .. } | SlaHealth::Fulfilled { .. } => ItemHealth::Idle,
            })
            .max()
            .unwrap_or(ItemHealth::Idle);
        Self {
            kind: doc.kind,
            id: doc.id,
            priority: doc.priority,
            team: doc.team,
            agent: doc.agent,
            open: doc.open,
            policy: doc.sla.as_ref().map(crm_domain::sla::ItemSla::policy),
            health,
            deadline: doc.deadline,
            clocks,
            problem,
        }
    }
}

fn key(kind: ItemKind, id: Uuid) -> DocKey {
    match kind {
        ItemKind::Lead => DocKey::new(LEAD, id),
        ItemKind::Ticket => DocKey::new(TICKET, id),
    }
}

/// One item's SLA at `now`; `None` when the item is unknown.
#[derive(Debug, Clone, Copy)]
pub struct ItemQuery<'a> {
    /// The configuration the model runs under.
    pub config: &'a SlaConfig,
    /// Lead or ticket.
    pub kind: ItemKind,
    /// The item.
    pub id: Uuid,
    /// The instant asked about.
    pub now: DateTime<Utc>,
}

impl Lookup<SlaItemDoc> for ItemQuery<'_> {
    type Answer = Option<ItemStatus>;

    fn keys(&self, _found: &Found<SlaItemDoc>, keys: &mut Vec<DocKey>) {
        keys.push(key(self.kind, self.id));
    }

    fn answer(&self, found: &Found<SlaItemDoc>) -> Option<ItemStatus> {
        found
            .get(&key(self.kind, self.id))
            .map(|doc| ItemStatus::of(doc, self.config, self.now))
    }
}

/// Several items' SLA at `now`, in the order asked, unknown items left out: the SLA state of a
/// customer's tickets for the Customer 360, in one round trip.
#[derive(Debug, Clone)]
pub struct ItemsQuery<'a> {
    /// The configuration the model runs under.
    pub config: &'a SlaConfig,
    /// The items.
    pub items: Vec<(ItemKind, Uuid)>,
    /// The instant asked about.
    pub now: DateTime<Utc>,
}

impl Lookup<SlaItemDoc> for ItemsQuery<'_> {
    type Answer = Vec<ItemStatus>;

    fn keys(&self, _found: &Found<SlaItemDoc>, keys: &mut Vec<DocKey>) {
        keys.extend(self.items.iter().map(|(kind, id)| key(*kind, *id)));
    }

    fn answer(&self, found: &Found<SlaItemDoc>) -> Vec<ItemStatus> {
        self.items
            .iter()
            .filter_map(|(kind, id)| found.get(&key(*kind, *id)))
            .map(|doc| ItemStatus::of(doc, self.config, self.now))
            .collect()
    }
}

fn kinds(kind: Option<ItemKind>) -> Vec<&'static str> {
    match kind {
        None => vec![LEAD, TICKET],
        Some(ItemKind::Lead) => vec![LEAD],
        Some(ItemKind::Ticket) => vec![TICKET],
    }
}

/// Every open item (leads, tickets, or both) with its running metrics at `now`, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct OpenItems<'a> {
    /// The configuration the model runs under.
    pub config: &'a SlaConfig,
    /// Only leads or only tickets; both when `None`.
    pub kind: Option<ItemKind>,
    /// The instant asked about.
    pub now: DateTime<Utc>,
    /// The most items to return.
    pub limit: usize,
}

impl Scan<SlaItemDoc> for OpenItems<'_> {
    type Answer = Vec<ItemStatus>;

    fn selection(&self) -> Selection {
        Selection::of_kinds(&kinds(self.kind))
            .filter(Filter::eq("open", IndexValue::Bool(true)))
            .order_by("opened_at")
            .limit(self.limit)
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<ItemStatus>
    where
        I: Iterator<Item = (&'a DocKey, &'a SlaItemDoc)>,
    {
        docs.map(|(_, doc)| ItemStatus::of(doc, self.config, self.now))
            .collect()
    }
}

/// Where a page of an SLA list ended: the last item's indexed deadline (the order of the
/// lists) and its key. Stable while items come and go: the next page starts after this place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlaCursor {
    /// The last item's deadline, exactly as its document holds it (so every adapter compares
    /// it as it indexed it).
    pub deadline: DateTime<Utc>,
    /// The last item's key.
    pub key: DocKey,
}

impl SlaCursor {
    /// The cursor as text: `<deadline's seconds since the epoch>.<nanoseconds>.<key>`.
    pub fn to_text(&self) -> String {
        format!(
            "{}.{}.{}",
            self.deadline.timestamp(),
            self.deadline.timestamp_subsec_nanos(),
            self.key
        )
    }

    /// Reads [`to_text`](Self::to_text) back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let (seconds, nanos, key) = (parts.next()?, parts.next()?, parts.next()?);
        let digits = |part: &str| {
            let part = part.strip_prefix('-').unwrap_or(part);
            !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit())
        };
        if !digits(seconds) || !digits(nanos) || nanos.starts_with('-') {
            return None;
        }
        let nanos: u32 = nanos.parse().ok()?;
        if nanos > 999_999_999 {
            return None;
        }
        let deadline = DateTime::from_timestamp(seconds.parse().ok()?, nanos)?;
        let key = DocKey::parse(&[LEAD, TICKET], key)?;
        Some(Self { deadline, key })
    }

    /// The place of `doc` (at `key`) in the lists, if it has a deadline.
    fn of(key: &DocKey, doc: &SlaItemDoc) -> Option<Self> {
        doc.deadline.map(|deadline| Self {
            deadline,
            key: *key,
        })
    }
}

/// A page of an SLA list: the items, and where the next page starts when there is more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPage {
    /// The items, earliest deadline first.
    pub items: Vec<ItemStatus>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<SlaCursor>,
}

/// An SLA list's selection: `limit` and one more (to tell whether a next page exists), after
/// `after`, by deadline.
fn listed(selection: Selection, limit: usize, after: Option<SlaCursor>) -> Selection {
    let selection = selection
        .order_by("deadline")
        .limit(limit.saturating_add(1));
    match after {
        Some(cursor) => selection.after(IndexValue::Time(cursor.deadline), cursor.key),
        None => selection,
    }
}

/// A page of `limit` of `docs`, with the cursor of the next when one more came.
fn page<'a, I>(docs: I, limit: usize, status: impl Fn(&SlaItemDoc) -> ItemStatus) -> SlaPage
where
    I: Iterator<Item = (&'a DocKey, &'a SlaItemDoc)>,
{
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, doc) in docs {
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(status(doc));
        last = SlaCursor::of(key, doc);
    }
    SlaPage {
        items,
        next: if more { last } else { None },
    }
}

/// The items breached as of `now` (a clock past its deadline and not fulfilled), earliest
/// breach first, a page of at most `limit` after `after`. A breach is dated at its deadline,
/// however late it was noticed.
#[derive(Debug, Clone, Copy)]
pub struct BreachList<'a> {
    /// The configuration the model runs under.
    pub config: &'a SlaConfig,
    /// The instant asked about.
    pub now: DateTime<Utc>,
    /// The most items to return.
    pub limit: usize,
    /// Where the page before ended.
    pub after: Option<SlaCursor>,
}

impl Scan<SlaItemDoc> for BreachList<'_> {
    type Answer = SlaPage;

    fn selection(&self) -> Selection {
        listed(
            Selection::of_kinds(&[LEAD, TICKET])
                .filter(Filter::lt("deadline", IndexValue::Time(self.now))),
            self.limit,
            self.after,
        )
    }

    fn answer<'a, I>(&self, docs: I) -> SlaPage
    where
        I: Iterator<Item = (&'a DocKey, &'a SlaItemDoc)>,
    {
        page(docs, self.limit, |doc| {
            ItemStatus::of(doc, self.config, self.now)
        })
    }
}

/// Business time `clock` spent paused up to `now` (or to its fulfilment): the business time
/// since activation less the time it counted.
///
/// A running clock counts everything since its current stretch began, so only the stretch
/// before that is walked: business time adds up over adjacent intervals, and the calendar is
/// walked day by day, so walking up to `now` again would cost as much as the status itself.
pub(crate) fn paused_time(
    clock: &SlaClock,
    calendar: &BusinessCalendar,
    status: &ClockStatus,
    now: DateTime<Utc>,
) -> TimeDelta {
    let activated = clock.activated_at();
    if let ClockPhase::Running { since, .. } = clock.phase()
        && since >= activated
        && since <= now
    {
        // What the clock had counted when this stretch began.
        let counted = clock.elapsed_at(calendar, since);
        return match (calendar.business_time_between(activated, since), counted) {
            (Ok(span), Ok(counted)) => (span - counted).max(TimeDelta::zero()),
            _ => TimeDelta::zero(),
        };
    }
    paused_time_walked(clock, calendar, status, now)
}

/// [`paused_time`] by walking the whole life of the clock.
pub(crate) fn paused_time_walked(
    clock: &SlaClock,
    calendar: &BusinessCalendar,
    status: &ClockStatus,
    now: DateTime<Utc>,
) -> TimeDelta {
    let end = match status.health {
        SlaHealth::Fulfilled { at, .. } => at,
        _ => now,
    };
    calendar
        .business_time_between(clock.activated_at(), end.max(clock.activated_at()))
        .map_or(TimeDelta::zero(), |span| {
            (span - status.elapsed).max(TimeDelta::zero())
        })
}

/// The items at risk as of `now` (a running clock at 80 % of its target or more, none
/// breached), earliest deadline first, a page of at most `limit` after `after`.
#[derive(Debug, Clone, Copy)]
pub struct AtRiskList<'a> {
    /// The configuration the model runs under.
    pub config: &'a SlaConfig,
    /// The instant asked about.
    pub now: DateTime<Utc>,
    /// The most items to return.
    pub limit: usize,
    /// Where the page before ended.
    pub after: Option<SlaCursor>,
}

impl Scan<SlaItemDoc> for AtRiskList<'_> {
    type Answer = SlaPage;

    fn selection(&self) -> Selection {
        listed(
            Selection::of_kinds(&[LEAD, TICKET])
                .filter(Filter::le("at_risk_from", IndexValue::Time(self.now)))
                .filter(Filter::ge("deadline", IndexValue::Time(self.now))),
            self.limit,
            self.after,
        )
    }

    fn answer<'a, I>(&self, docs: I) -> SlaPage
    where
        I: Iterator<Item = (&'a DocKey, &'a SlaItemDoc)>,
    {
        page(docs, self.limit, |doc| {
            ItemStatus::of(doc, self.config, self.now)
        })
    }
}

/// What attainment is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttainmentBy {
    /// The team holding the item.
    Team,
    /// The rep or agent holding the item.
    Agent,
    /// The clock's priority.
    Priority,
}

/// The group of an attainment row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum AttainmentGroup {
    /// A team (`None`: items without a team).
    Team(Option<TeamId>),
    /// An agent (`None`: unassigned items).
    Agent(Option<UserId>),
    /// A priority.
    Priority(Priority),
}

/// How often one group met one metric's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttainmentRow {
    /// The group.
    pub group: AttainmentGroup,
    /// The metric.
    pub metric: SlaMetric,
    /// Clocks fulfilled in time within the period.
    pub met: u32,
    /// Clocks that breached within the period.
    pub missed: u32,
}

impl AttainmentRow {
    /// The share met, in basis points (10,000 = all met); `None` without any outcome.
    pub fn basis_points(&self) -> Option<u32> {
        let total = u64::from(self.met) + u64::from(self.missed);
        (total > 0).then(|| u32::try_from(u64::from(self.met) * 10_000 / total).unwrap_or(10_000))
    }
}

/// SLA attainment over `[from, to)` as known at `now`: each clock with a target counts once,
/// in the period of its outcome: met when fulfilled in time, missed at its breach instant
/// (recorded, or a deadline passed before `now`). Clocks without an outcome yet do not count.
#[derive(Debug, Clone, Copy)]
pub struct Attainment<'a> {
    /// The configuration the model runs under.
    pub config: &'a SlaConfig,
    /// The period's start (inclusive).
    pub from: DateTime<Utc>,
    /// The period's end (exclusive).
    pub to: DateTime<Utc>,
    /// The instant asked about (usually the end of the period or later).
    pub now: DateTime<Utc>,
    /// The grouping.
    pub by: AttainmentBy,
}

impl Scan<SlaItemDoc> for Attainment<'_> {
    type Answer = Vec<AttainmentRow>;

    fn selection(&self) -> Selection {
        Selection::of_kinds(&[LEAD, TICKET])
            .filter(Filter::lt("opened_at", IndexValue::Time(self.to)))
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<AttainmentRow>
    where
        I: Iterator<Item = (&'a DocKey, &'a SlaItemDoc)>,
    {
        let mut rows: BTreeMap<(AttainmentGroup, SlaMetric), (u32, u32)> = BTreeMap::new();
        for (_, doc) in docs {
            let status = ItemStatus::of(doc, self.config, self.now);
            for clock in status
                .clocks
                .iter()
                .filter(|clock| clock.status.target.is_some())
            {
                let (at, met) = match clock.status.health {
                    SlaHealth::Fulfilled {
                        at,
                        breached_at: None,
                    } => (at, true),
                    SlaHealth::Fulfilled {
                        breached_at: Some(at),
                        ..
                    }
                    | SlaHealth::Breached { at } => (at, false),
                    SlaHealth::OnTrack | SlaHealth::AtRisk | SlaHealth::Paused { .. } => continue,
                };
                if at < self.from || at >= self.to {
                    continue;
                }
                let group = match self.by {
                    AttainmentBy::Team => AttainmentGroup::Team(doc.team),
                    AttainmentBy::Agent => AttainmentGroup::Agent(doc.agent),
                    AttainmentBy::Priority => AttainmentGroup::Priority(clock_priority(doc, clock)),
                };
                let counts = rows.entry((group, clock.status.metric)).or_default();
                if met {
                    counts.0 = counts.0.saturating_add(1);
                } else {
                    counts.1 = counts.1.saturating_add(1);
                }
            }
        }
        rows.into_iter()
            .map(|((group, metric), (met, missed))| AttainmentRow {
                group,
                metric,
                met,
                missed,
            })
            .collect()
    }
}

/// The priority a clock was measured at: its own, as the engine keeps it.
fn clock_priority(doc: &SlaItemDoc, clock: &ClockView) -> Priority {
    doc.sla
        .as_ref()
        .and_then(|sla| {
            sla.clocks().iter().find(|candidate| {
                candidate.metric() == clock.status.metric && candidate.cycle() == clock.status.cycle
            })
        })
        .map_or(doc.priority, crm_domain::sla::SlaClock::priority)
}
