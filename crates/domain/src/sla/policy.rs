//! SLA policies: which items a policy covers, the business-time targets it sets per priority
//! and metric, and the book of every published version.
//!
//! # Versions
//! A policy is identified by [`SlaPolicyId`] and changes only by publishing a new
//! [`PolicyVersion`]; published versions are never edited. An item is put under the latest
//! matching version when it opens ([`PolicyBook::select`]) and stays on that version for good:
//! its clocks record the [`PolicyRef`] in their `Activated` event and state, and every later
//! step must be given that same version ([`SlaError::PolicyMismatch`] otherwise). A caller
//! therefore keeps every version it ever published: the [`PolicyBook`] holds them all and is
//! serializable as a whole, or a store keeps one row per `(id, version)` that is only ever
//! inserted, and looks up [`PolicyRef`] for items already running.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::SlaError;
use super::calendar::BusinessCalendar;
use crate::{Channel, Priority, TeamId};

/// The lead first-touch target when a policy sets none: five minutes of business time, since
/// the odds of reaching a lead drop sharply after that.
pub const DEFAULT_LEAD_FIRST_TOUCH: TimeDelta = TimeDelta::minutes(5);

/// The longest target a policy may set: a year of business time.
pub const MAX_TARGET_DAYS: i64 = 366;

/// Identifies an SLA policy across all its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SlaPolicyId(pub Uuid);

impl fmt::Display for SlaPolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The version of a policy, counting from 1; a newer version has a larger number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyVersion(pub u32);

impl PolicyVersion {
    /// The first version of a policy.
    pub const FIRST: Self = Self(1);
}

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// One version of one policy: what an item's clocks run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyRef {
    /// The policy.
    pub id: SlaPolicyId,
    /// Its version.
    pub version: PolicyVersion,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.version)
    }
}

/// The kinds of work an SLA can cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// An inbound lead.
    Lead,
    /// A support ticket.
    Ticket,
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemKind::Lead => "lead",
            ItemKind::Ticket => "ticket",
        })
    }
}

/// What an SLA clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaMetric {
    /// Ticket: from opening to the first agent reply.
    FirstResponse,
    /// Ticket: from a customer reply that follows an agent reply to the next agent reply;
    /// one cycle per such exchange.
    NextResponse,
    /// Ticket: from opening to solved or closed.
    Resolution,
    /// Lead: from receipt to the first touch by a rep.
    LeadFirstTouch,
}

impl SlaMetric {
    /// Every metric.
    pub const ALL: [SlaMetric; 4] = [
        SlaMetric::FirstResponse,
        SlaMetric::NextResponse,
        SlaMetric::Resolution,
        SlaMetric::LeadFirstTouch,
    ];

    /// The kind of item this metric measures.
    pub fn item_kind(self) -> ItemKind {
        match self {
            SlaMetric::FirstResponse | SlaMetric::NextResponse | SlaMetric::Resolution => {
                ItemKind::Ticket
            }
            SlaMetric::LeadFirstTouch => ItemKind::Lead,
        }
    }

    /// The metrics whose clocks start when an item of `kind` opens.
    pub fn started_at_opening(kind: ItemKind) -> &'static [SlaMetric] {
        match kind {
            ItemKind::Ticket => &[SlaMetric::FirstResponse, SlaMetric::Resolution],
            ItemKind::Lead => &[SlaMetric::LeadFirstTouch],
        }
    }
}

impl fmt::Display for SlaMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlaMetric::FirstResponse => "first response",
            SlaMetric::NextResponse => "next response",
            SlaMetric::Resolution => "resolution",
            SlaMetric::LeadFirstTouch => "lead first touch",
        })
    }
}

/// The facts about an item that policies select on, as they are when the item opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaSubject {
    /// Lead or ticket.
    pub kind: ItemKind,
    /// The priority at opening.
    pub priority: Priority,
    /// The channel it came in through, if known.
    pub channel: Option<Channel>,
    /// The team that owns it, if any.
    pub team: Option<TeamId>,
    /// Its tags.
    #[serde(default)]
    pub tags: BTreeSet<String>,
}

impl SlaSubject {
    /// A subject with only a kind and a priority.
    pub fn new(kind: ItemKind, priority: Priority) -> Self {
        Self {
            kind,
            priority,
            channel: None,
            team: None,
            tags: BTreeSet::new(),
        }
    }
}

/// Which items a policy covers. Each set left empty matches anything; a non-empty set must
/// contain the item's value (for tags: the item must carry every listed tag).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFilter {
    /// The item kinds covered.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub kinds: BTreeSet<ItemKind>,
    /// The priorities covered (at opening).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub priorities: BTreeSet<Priority>,
    /// The channels covered; an item with no known channel is not covered by a non-empty set.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub channels: BTreeSet<Channel>,
    /// The owning teams covered; an item without a team is not covered by a non-empty set.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub teams: BTreeSet<TeamId>,
    /// Tags the item must all carry.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
}

impl PolicyFilter {
    /// A filter that covers every item.
    pub fn any() -> Self {
        Self::default()
    }

    /// A filter that covers every item of `kind`.
    pub fn kind(kind: ItemKind) -> Self {
        Self {
            kinds: BTreeSet::from([kind]),
            ..Self::default()
        }
    }

    /// Whether the filter covers `subject`.
    pub fn matches(&self, subject: &SlaSubject) -> bool {
        fn covers<T: Ord>(set: &BTreeSet<T>, value: Option<&T>) -> bool {
            set.is_empty() || value.is_some_and(|value| set.contains(value))
        }
        covers(&self.kinds, Some(&subject.kind))
            && covers(&self.priorities, Some(&subject.priority))
            && covers(&self.channels, subject.channel.as_ref())
            && covers(&self.teams, subject.team.as_ref())
            && self.tags.is_subset(&subject.tags)
    }
}

/// One target: `metric` must be met within `within` business time for items of `priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlaTarget {
    /// The priority it applies to.
    pub priority: Priority,
    /// The metric it applies to.
    pub metric: SlaMetric,
    /// The business time allowed; serialized as chrono writes a duration,
    /// `[seconds, nanoseconds]`.
    pub within: TimeDelta,
}

/// One version of an SLA policy: a filter, a calendar and targets per (priority, metric).
///
/// Built with [`SlaPolicy::new`] and the `with_*` methods; validated again when deserialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicy")]
pub struct SlaPolicy {
    id: SlaPolicyId,
    version: PolicyVersion,
    name: String,
    rank: u32,
    filter: PolicyFilter,
    calendar: BusinessCalendar,
    targets: Vec<SlaTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    id: SlaPolicyId,
    version: PolicyVersion,
    name: String,
    #[serde(default)]
    rank: u32,
    #[serde(default)]
    filter: PolicyFilter,
    calendar: BusinessCalendar,
    #[serde(default)]
    targets: Vec<SlaTarget>,
}

impl TryFrom<RawPolicy> for SlaPolicy {
    type Error = SlaError;
    fn try_from(raw: RawPolicy) -> Result<Self, Self::Error> {
        let policy = Self::new(
            PolicyRef {
                id: raw.id,
                version: raw.version,
            },
            raw.name,
            raw.calendar,
        )
        .with_rank(raw.rank)
        .with_filter(raw.filter);
        raw.targets.into_iter().try_fold(policy, |policy, target| {
            policy.with_target(target.priority, target.metric, target.within)
        })
    }
}

impl SlaPolicy {
    /// Version `reference` of a policy named `name`, measured on `calendar`, covering every
    /// item, with rank 0 and no targets yet.
    pub fn new(reference: PolicyRef, name: impl Into<String>, calendar: BusinessCalendar) -> Self {
        Self {
            id: reference.id,
            version: reference.version,
            name: name.into(),
            rank: 0,
            filter: PolicyFilter::any(),
            calendar,
            targets: Vec::new(),
        }
    }

    /// This policy with selection rank `rank`: when several policies cover an item, the lowest
    /// rank wins (ties go to the lower id).
    #[must_use]
    pub fn with_rank(mut self, rank: u32) -> Self {
        self.rank = rank;
        self
    }

    /// This policy covering the items `filter` selects.
    #[must_use]
    pub fn with_filter(mut self, filter: PolicyFilter) -> Self {
        self.filter = filter;
        self
    }

    /// This policy with a target of `within` business time for `metric` at `priority`. Refuses
    /// a target that is not positive, longer than [`MAX_TARGET_DAYS`], or already set.
    pub fn with_target(
        mut self,
        priority: Priority,
        metric: SlaMetric,
        within: TimeDelta,
    ) -> Result<Self, SlaError> {
        if within <= TimeDelta::zero() {
            return Err(SlaError::TargetNotPositive { priority, metric });
        }
        if within > TimeDelta::days(MAX_TARGET_DAYS) {
            return Err(SlaError::TargetTooLong {
                priority,
                metric,
                max_days: MAX_TARGET_DAYS,
            });
        }
        if self.explicit_target(priority, metric).is_some() {
            return Err(SlaError::DuplicateTarget { priority, metric });
        }
        self.targets.push(SlaTarget {
            priority,
            metric,
            within,
        });
        Ok(self)
    }

    /// Which policy and version this is.
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            id: self.id,
            version: self.version,
        }
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The selection rank (lowest wins).
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// The filter of items covered.
    pub fn filter(&self) -> &PolicyFilter {
        &self.filter
    }

    /// The calendar business time is measured on.
    pub fn calendar(&self) -> &BusinessCalendar {
        &self.calendar
    }

    /// The targets as set, in the order they were added.
    pub fn targets(&self) -> &[SlaTarget] {
        &self.targets
    }

    /// The business time allowed for `metric` at `priority`: the target set for it, else
    /// [`DEFAULT_LEAD_FIRST_TOUCH`] for the lead first touch, else none (the clock then
    /// measures but never breaches).
    pub fn target(&self, priority: Priority, metric: SlaMetric) -> Option<TimeDelta> {
        self.explicit_target(priority, metric)
            .or((metric == SlaMetric::LeadFirstTouch).then_some(DEFAULT_LEAD_FIRST_TOUCH))
    }

    fn explicit_target(&self, priority: Priority, metric: SlaMetric) -> Option<TimeDelta> {
        self.targets
            .iter()
            .find(|t| t.priority == priority && t.metric == metric)
            .map(|t| t.within)
    }
}

/// Every published version of every policy: where new items find their policy and running
/// items find the version they started on.
///
/// Append-only: versions are added by [`PolicyBook::publish`] and never changed or removed.
/// Serialized as the list of all versions; deserializing checks the same rules as publishing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SlaPolicy>", into = "Vec<SlaPolicy>")]
pub struct PolicyBook {
    /// Per policy, its versions oldest first.
    policies: BTreeMap<SlaPolicyId, Vec<SlaPolicy>>,
}

impl PolicyBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a version; it must be newer than the latest version of the same policy
    /// ([`SlaError::VersionNotNewer`]). Older versions stay for the items running on them.
    pub fn publish(&mut self, policy: SlaPolicy) -> Result<(), SlaError> {
        let versions = self.policies.entry(policy.id).or_default();
        if let Some(latest) = versions.last()
            && latest.version >= policy.version
        {
            return Err(SlaError::VersionNotNewer {
                policy: policy.id,
                latest: latest.version,
                given: policy.version,
            });
        }
        versions.push(policy);
        Ok(())
    }

    /// The policy for a new item: among the latest version of each policy, the one with the
    /// lowest rank (then lowest id) whose filter covers `subject`; `None` when none does.
    pub fn select(&self, subject: &SlaSubject) -> Option<&SlaPolicy> {
        self.policies
            .values()
            .filter_map(|versions| versions.last())
            .filter(|policy| policy.filter.matches(subject))
            .min_by_key(|policy| (policy.rank, policy.id))
    }

    /// The exact version `reference`, for items already running on it.
    pub fn version(&self, reference: PolicyRef) -> Option<&SlaPolicy> {
        self.policies
            .get(&reference.id)?
            .iter()
            .find(|policy| policy.version == reference.version)
    }

    /// The latest version of policy `id`.
    pub fn latest(&self, id: SlaPolicyId) -> Option<&SlaPolicy> {
        self.policies.get(&id)?.last()
    }
}

impl TryFrom<Vec<SlaPolicy>> for PolicyBook {
    type Error = SlaError;
    fn try_from(mut versions: Vec<SlaPolicy>) -> Result<Self, Self::Error> {
        // A stable sort keeps duplicates adjacent, so `publish` refuses the second of them.
        versions.sort_by_key(SlaPolicy::reference);
        let mut book = Self::new();
        for policy in versions {
            book.publish(policy)?;
        }
        Ok(book)
    }
}

impl From<PolicyBook> for Vec<SlaPolicy> {
    fn from(book: PolicyBook) -> Self {
        book.policies.into_values().flatten().collect()
    }
}

#[cfg(test)]
mod tests;

/// Generators of policies for property tests.
#[cfg(test)]
pub(crate) mod strategies {
    use chrono::TimeDelta;
    use proptest::prelude::*;

    use super::{PolicyRef, PolicyVersion, SlaMetric, SlaPolicy, SlaPolicyId};
    use crate::Priority;
    use crate::sla::BusinessCalendar;

    /// A policy covering every item on `calendar`, with targets of one minute to fifty hours
    /// for a random set of (priority, metric) pairs.
    pub(crate) fn arb_policy(calendar: BusinessCalendar) -> impl Strategy<Value = SlaPolicy> {
        let target = (
            prop::sample::select(Priority::ALL.to_vec()),
            prop::sample::select(SlaMetric::ALL.to_vec()),
            1i64..3000,
        );
        prop::collection::vec(target, 0..16).prop_map(move |targets| {
            let reference = PolicyRef {
                id: SlaPolicyId(uuid::Uuid::from_u128(1)),
                version: PolicyVersion::FIRST,
            };
            targets.into_iter().fold(
                SlaPolicy::new(reference, "generated", calendar.clone()),
                |policy, (priority, metric, minutes)| {
                    // A pair drawn twice keeps its first target.
                    let fallback = policy.clone();
                    policy
                        .with_target(priority, metric, TimeDelta::minutes(minutes))
                        .unwrap_or(fallback)
                },
            )
        })
    }
}
