//! Lead scoring: rules award points for fit (who the lead is) and engagement (what they did),
//! and every score comes with its explanation.
//!
//! A [`ScoringModel`] is an ordered list of [`ScoringRule`]s plus optional engagement decay
//! and per-dimension caps, validated once when built. [`ScoringModel::score`] is then a total
//! function of plain data: the lead's [`LeadFit`], its [`LeadEngagement`] and `now`. The
//! result's `total` is always exactly the sum of its contributions; decay and caps appear as
//! contributions of their own (ids [`ENGAGEMENT_DECAY`], [`FIT_CAP`], [`ENGAGEMENT_CAP`]), so a
//! score can be explained line by line.

use std::collections::HashSet;
use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::identity::{CountryCode, EmailAddress};
use crate::routing::{CompanySizeRange, same_text};

/// Whether a rule measures fit or engagement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreDimension {
    /// Who the lead is (company size, industry, country, title).
    Fit,
    /// What the lead did (pages visited, forms submitted, emails opened).
    Engagement,
}

/// One rule's contribution to a score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreContribution {
    /// The rule's stable id.
    pub rule_id: String,
    /// Fit or engagement.
    pub dimension: ScoreDimension,
    /// Points awarded (negative for penalties).
    pub points: i32,
}

/// A lead score with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeadScore {
    /// The total of all contributions.
    pub total: i32,
    /// Each rule that contributed, in rule order, then any decay and cap adjustments.
    pub contributions: Vec<ScoreContribution>,
}

impl LeadScore {
    /// The points of one dimension: the sum of its contributions (saturating, though a score
    /// from a [`ScoringModel`] never comes near the limits).
    pub fn subtotal(&self, dimension: ScoreDimension) -> i32 {
        self.contributions
            .iter()
            .filter(|c| c.dimension == dimension)
            .fold(0i32, |sum, c| sum.saturating_add(c.points))
    }
}

/// The contribution id of engagement decay: the (negative) points lost to inactivity.
pub const ENGAGEMENT_DECAY: &str = "engagement_decay";
/// The contribution id of the fit cap: the (negative) points above the fit cap.
pub const FIT_CAP: &str = "fit_cap";
/// The contribution id of the engagement cap: the (negative) points above the engagement cap.
pub const ENGAGEMENT_CAP: &str = "engagement_cap";

/// What scoring reads about who the lead is. Absent values match no fit rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeadFit {
    /// The lead's country.
    pub country: Option<CountryCode>,
    /// Industry (compared case-insensitively, trimmed).
    pub industry: Option<String>,
    /// Number of employees of the lead's company.
    pub company_size: Option<u32>,
    /// Job title, as entered.
    pub job_title: Option<String>,
    /// Email address.
    pub email: Option<EmailAddress>,
}

/// What scoring reads about what the lead did: activity counts to date and the latest moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeadEngagement {
    /// Pages of the web site viewed.
    pub page_views: u32,
    /// Forms submitted.
    pub form_submissions: u32,
    /// Marketing emails opened.
    pub email_opens: u32,
    /// The latest activity of any kind, if any was recorded.
    pub last_activity_at: Option<DateTime<Utc>>,
}

impl LeadEngagement {
    /// How many times the lead did `activity`.
    pub fn count(&self, activity: Activity) -> u32 {
        match activity {
            Activity::PageView => self.page_views,
            Activity::FormSubmission => self.form_submissions,
            Activity::EmailOpen => self.email_opens,
        }
    }
}

/// A kind of activity that is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// A page view.
    PageView,
    /// A form submission.
    FormSubmission,
    /// An email open.
    EmailOpen,
}

/// Whether an email address is at a free consumer provider or at a company's own domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailDomainKind {
    /// A free mail provider known to identity matching
    /// ([`EmailAddress::is_personal_mail`]), or one of the model's extra consumer domains or a
    /// subdomain of one.
    Consumer,
    /// Any other domain.
    Company,
}

/// What a rule checks. Fit criteria read [`LeadFit`], engagement criteria [`LeadEngagement`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScoringCriterion {
    /// Fit: the lead's country is one of these.
    Country {
        /// The countries.
        any_of: Vec<CountryCode>,
    },
    /// Fit: the lead's industry is one of these, case-insensitively.
    Industry {
        /// The industries.
        any_of: Vec<String>,
    },
    /// Fit: the lead's company size lies in the range.
    CompanySize {
        /// The range, both ends inclusive.
        range: CompanySizeRange,
    },
    /// Fit: the job title contains one of the keywords as whole words, case-insensitively
    /// (`"vp"` matches "VP Sales" but not "MVP"; `"head of"` matches "Head of Marketing").
    JobTitle {
        /// The keywords; each may be several words.
        keywords: Vec<String>,
    },
    /// Fit: the email's domain is of this kind.
    EmailDomain {
        /// Consumer or company.
        kind: EmailDomainKind,
    },
    /// Engagement: the lead did `activity` at least `count` times; awards the points once.
    ActivityAtLeast {
        /// The activity counted.
        activity: Activity,
        /// The threshold.
        count: NonZeroU32,
    },
    /// Engagement: the points for each time the lead did `activity`, counting at most
    /// `max_counted` times (the rule's cap).
    PerActivity {
        /// The activity counted.
        activity: Activity,
        /// The most occurrences that earn points.
        max_counted: NonZeroU32,
    },
    /// Engagement: the last activity is at most `hours` before `now` (inclusive; an activity
    /// stamped after `now`, from a skewed clock, counts as recent).
    ActiveWithin {
        /// The window, in hours.
        hours: u32,
    },
}

impl ScoringCriterion {
    /// The dimension the criterion measures.
    pub fn dimension(&self) -> ScoreDimension {
        match self {
            Self::Country { .. }
            | Self::Industry { .. }
            | Self::CompanySize { .. }
            | Self::JobTitle { .. }
            | Self::EmailDomain { .. } => ScoreDimension::Fit,
            Self::ActivityAtLeast { .. } | Self::PerActivity { .. } | Self::ActiveWithin { .. } => {
                ScoreDimension::Engagement
            }
        }
    }

    /// How many times the rule's points are awarded for this lead (0 when it does not match).
    fn times(
        &self,
        fit: &LeadFit,
        engagement: &LeadEngagement,
        now: DateTime<Utc>,
        consumer_domains: &[String],
    ) -> u32 {
        match self {
            Self::PerActivity {
                activity,
                max_counted,
            } => engagement.count(*activity).min(max_counted.get()),
            _ => u32::from(self.holds(fit, engagement, now, consumer_domains)),
        }
    }

    /// Whether a criterion that awards at most once holds for this lead.
    fn holds(
        &self,
        fit: &LeadFit,
        engagement: &LeadEngagement,
        now: DateTime<Utc>,
        consumer_domains: &[String],
    ) -> bool {
        match self {
            Self::Country { any_of } => fit.country.is_some_and(|c| any_of.contains(&c)),
            Self::Industry { any_of } => fit
                .industry
                .as_deref()
                .is_some_and(|i| any_of.iter().any(|want| same_text(want, i))),
            Self::CompanySize { range } => fit.company_size.is_some_and(|s| range.contains(s)),
            Self::JobTitle { keywords } => fit.job_title.as_deref().is_some_and(|title| {
                let title = words(title);
                keywords
                    .iter()
                    .any(|keyword| contains_words(&title, &words(keyword)))
            }),
            Self::EmailDomain { kind } => fit
                .email
                .as_ref()
                .is_some_and(|email| domain_kind(email, consumer_domains) == *kind),
            Self::ActivityAtLeast { activity, count } => engagement.count(*activity) >= count.get(),
            Self::PerActivity { activity, .. } => engagement.count(*activity) > 0,
            Self::ActiveWithin { hours } => engagement
                .last_activity_at
                .is_some_and(|at| seconds_since(at, now) <= i64::from(*hours) * SECONDS_PER_HOUR),
        }
    }

    /// The most times the rule's points can be awarded to any lead.
    fn max_times(&self) -> u32 {
        match self {
            Self::PerActivity { max_counted, .. } => max_counted.get(),
            _ => 1,
        }
    }

    /// The name of a condition that can never be met, if any.
    fn defect(&self) -> Option<&'static str> {
        let blank =
            |values: &[String]| values.is_empty() || values.iter().any(|v| v.trim().is_empty());
        match self {
            Self::Country { any_of } if any_of.is_empty() => Some("country"),
            Self::Industry { any_of } if blank(any_of) => Some("industry"),
            Self::JobTitle { keywords }
                if keywords.is_empty() || keywords.iter().any(|k| words(k).is_empty()) =>
            {
                Some("job_title")
            }
            Self::CompanySize { range } if range.is_empty() => Some("company_size"),
            _ => None,
        }
    }
}

/// One scoring rule: if the criterion holds, the lead earns `points` (per occurrence for
/// [`ScoringCriterion::PerActivity`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoringRule {
    /// The rule's stable id, recorded in the explanation.
    pub id: String,
    /// Points awarded; negative for a penalty.
    pub points: i32,
    /// What is checked.
    pub criterion: ScoringCriterion,
}

/// A scoring model as configured: the plain data [`ScoringModel::new`] validates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScoringConfig {
    /// The rules, in the order their contributions are listed.
    pub rules: Vec<ScoringRule>,
    /// Consumer email providers beyond the ones identity matching already knows
    /// ([`EmailAddress::is_personal_mail`]): a regional ISP, say. Subdomains included;
    /// compared case-insensitively.
    #[serde(default)]
    pub consumer_domains: Vec<String>,
    /// If set, positive engagement points halve for every full half-life since the last
    /// activity (stepwise, rounding down). Penalties do not decay, and a lead with no recorded
    /// last activity does not decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement_half_life_hours: Option<NonZeroU32>,
    /// If set, fit points above this are cut off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_cap: Option<u32>,
    /// If set, engagement points above this (after decay) are cut off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement_cap: Option<u32>,
}

/// Why a scoring configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScoringError {
    /// A rule has an empty id, so the explanation could not name it.
    #[error("the scoring rule at position {position} has a blank id")]
    BlankRuleId {
        /// The rule's position (0 = first).
        position: usize,
    },
    /// Two rules share an id, so the explanation could not tell them apart.
    #[error("two scoring rules have the id {rule_id:?}")]
    DuplicateRule {
        /// The repeated id.
        rule_id: String,
    },
    /// A rule uses an id reserved for decay and caps.
    #[error("the scoring rule id {rule_id:?} is reserved for decay and caps")]
    ReservedRuleId {
        /// The reserved id.
        rule_id: String,
    },
    /// A rule's criterion can never hold (an empty list, a blank keyword, an empty range).
    #[error("scoring rule {rule_id:?} can never match: its {condition} condition is empty")]
    EmptyCondition {
        /// The rule's id.
        rule_id: String,
        /// The criterion's kind.
        condition: &'static str,
    },
    /// A consumer domain is blank.
    #[error("a consumer email domain is blank")]
    BlankConsumerDomain,
    /// The rules together could award more points (or penalties) than a score can hold.
    #[error(
        "the scoring rules up to {rule_id:?} could together award more than {} points",
        i32::MAX
    )]
    PointsOutOfRange {
        /// The rule at which the possible total first exceeds the limit.
        rule_id: String,
    },
}

/// A validated scoring model. Scoring with it never fails and never overflows: its rules can
/// together award at most `i32::MAX` points either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScoringConfig", into = "ScoringConfig")]
pub struct ScoringModel {
    config: ScoringConfig,
}

impl TryFrom<ScoringConfig> for ScoringModel {
    type Error = ScoringError;
    fn try_from(config: ScoringConfig) -> Result<Self, Self::Error> {
        Self::new(config)
    }
}

impl From<ScoringModel> for ScoringConfig {
    fn from(model: ScoringModel) -> Self {
        model.config
    }
}

const SECONDS_PER_HOUR: i64 = 3600;

impl ScoringModel {
    /// Validates a configuration. Consumer domains are kept lower-case, without a leading
    /// `@` or `.`.
    ///
    /// Refused: a blank, repeated or reserved rule id; a criterion that can never hold; a blank
    /// consumer domain; rules whose points could together exceed `i32::MAX` in either
    /// direction (see [`ScoringError`]).
    pub fn new(mut config: ScoringConfig) -> Result<Self, ScoringError> {
        let mut seen = HashSet::new();
        let mut possible: i128 = 0;
        for (position, rule) in config.rules.iter().enumerate() {
            if rule.id.trim().is_empty() {
                return Err(ScoringError::BlankRuleId { position });
            }
            if [ENGAGEMENT_DECAY, FIT_CAP, ENGAGEMENT_CAP].contains(&rule.id.as_str()) {
                return Err(ScoringError::ReservedRuleId {
                    rule_id: rule.id.clone(),
                });
            }
            if !seen.insert(rule.id.as_str()) {
                return Err(ScoringError::DuplicateRule {
                    rule_id: rule.id.clone(),
                });
            }
            if let Some(condition) = rule.criterion.defect() {
                return Err(ScoringError::EmptyCondition {
                    rule_id: rule.id.clone(),
                    condition,
                });
            }
            possible += i128::from(rule.points).abs() * i128::from(rule.criterion.max_times());
            if possible > i128::from(i32::MAX) {
                return Err(ScoringError::PointsOutOfRange {
                    rule_id: rule.id.clone(),
                });
            }
        }
        for domain in &mut config.consumer_domains {
            let normalized = domain.trim().trim_start_matches(['@', '.']).to_lowercase();
            if normalized.is_empty() {
                return Err(ScoringError::BlankConsumerDomain);
            }
            *domain = normalized;
        }
        Ok(Self { config })
    }

    /// The validated configuration.
    pub fn config(&self) -> &ScoringConfig {
        &self.config
    }

    /// Scores a lead at `now`.
    ///
    /// Contributions come in rule order (rules that award nothing are left out), then the
    /// engagement decay, then the fit cap and the engagement cap, each only when it changes
    /// something. `total` is exactly the sum of the contributions.
    pub fn score(
        &self,
        fit: &LeadFit,
        engagement: &LeadEngagement,
        now: DateTime<Utc>,
    ) -> LeadScore {
        let consumer_domains = &self.config.consumer_domains;
        // Points are summed as i64 so that no intermediate step can overflow; validation bounds
        // every final value to the i32 range.
        let mut awarded: Vec<(String, ScoreDimension, i64)> = self
            .config
            .rules
            .iter()
            .filter_map(|rule| {
                let times = rule.criterion.times(fit, engagement, now, consumer_domains);
                let points = i64::from(rule.points) * i64::from(times);
                (points != 0).then(|| (rule.id.clone(), rule.criterion.dimension(), points))
            })
            .collect();

        let decay = self.engagement_decay(
            subtotal(&awarded, ScoreDimension::Engagement),
            engagement,
            now,
        );
        if decay != 0 {
            awarded.push((
                ENGAGEMENT_DECAY.to_owned(),
                ScoreDimension::Engagement,
                decay,
            ));
        }
        for (cap, dimension, id) in [
            (self.config.fit_cap, ScoreDimension::Fit, FIT_CAP),
            (
                self.config.engagement_cap,
                ScoreDimension::Engagement,
                ENGAGEMENT_CAP,
            ),
        ] {
            let points = subtotal(&awarded, dimension);
            if let Some(cap) = cap.map(i64::from).filter(|&cap| points > cap) {
                awarded.push((id.to_owned(), dimension, cap - points));
            }
        }

        let contributions: Vec<ScoreContribution> = awarded
            .into_iter()
            .map(|(rule_id, dimension, points)| ScoreContribution {
                rule_id,
                dimension,
                points: to_points(points),
            })
            .collect();
        let total = to_points(contributions.iter().map(|c| i64::from(c.points)).sum());
        LeadScore {
            total,
            contributions,
        }
    }

    /// The (non-positive) change decay makes to `engaged` points: halved once per full
    /// half-life since the last activity. Penalties, and leads with no last activity, keep
    /// their points.
    fn engagement_decay(
        &self,
        engaged: i64,
        engagement: &LeadEngagement,
        now: DateTime<Utc>,
    ) -> i64 {
        let (Some(half_life), Some(last)) = (
            self.config.engagement_half_life_hours,
            engagement.last_activity_at,
        ) else {
            return 0;
        };
        if engaged <= 0 {
            return 0;
        }
        let half_lives = seconds_since(last, now) / (i64::from(half_life.get()) * SECONDS_PER_HOUR);
        // Past 63 halvings nothing is left; checked_shr says so by returning None.
        let decayed = u32::try_from(half_lives)
            .ok()
            .and_then(|n| engaged.checked_shr(n))
            .unwrap_or(0);
        decayed - engaged
    }
}

/// The sum of one dimension's points so far.
fn subtotal(awarded: &[(String, ScoreDimension, i64)], dimension: ScoreDimension) -> i64 {
    awarded
        .iter()
        .filter(|a| a.1 == dimension)
        .map(|a| a.2)
        .sum()
}

/// Points as stored. Validation bounds every sum by `i32::MAX` in magnitude, so the clamp
/// never changes a value; it keeps the conversion total.
fn to_points(points: i64) -> i32 {
    i32::try_from(points.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).unwrap_or(0)
}

/// Whole seconds from `then` to `now`; zero when `then` is in the future.
fn seconds_since(then: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - then).num_seconds().max(0)
}

/// The words of a text, lower-case: letters and digits, split at everything else.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `needle` occurs in `haystack` as consecutive whole words.
fn contains_words(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Whether the address is at a consumer provider: one identity matching knows (the same list
/// that decides an address says nothing about the employer), or one of `extra_consumer_domains`
/// or a subdomain of one.
fn domain_kind(email: &EmailAddress, extra_consumer_domains: &[String]) -> EmailDomainKind {
    let domain = email.domain();
    let consumer = email.is_personal_mail()
        || extra_consumer_domains.iter().any(|consumer| {
            domain == consumer
                || domain
                    .strip_suffix(consumer.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        });
    if consumer {
        EmailDomainKind::Consumer
    } else {
        EmailDomainKind::Company
    }
}

#[cfg(test)]
pub(crate) mod generators {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    /// The fixed "now" generated engagement is relative to.
    pub(crate) fn scoring_now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn arb_activity() -> impl Strategy<Value = Activity> {
        prop_oneof![
            Just(Activity::PageView),
            Just(Activity::FormSubmission),
            Just(Activity::EmailOpen)
        ]
    }

    fn arb_country() -> impl Strategy<Value = CountryCode> {
        prop::sample::select(vec!["DE", "US", "FR"])
            .prop_map(|c| CountryCode::new(c).expect("valid code"))
    }

    fn non_zero(max: u32) -> impl Strategy<Value = NonZeroU32> {
        (1..=max).prop_map(|n| NonZeroU32::new(n).expect("generated from 1"))
    }

    /// Every kind of criterion, over small vocabularies shared with [`arb_lead_fit`].
    pub(crate) fn arb_criterion() -> impl Strategy<Value = ScoringCriterion> {
        prop_oneof![
            prop::collection::vec(arb_country(), 1..3)
                .prop_map(|any_of| ScoringCriterion::Country { any_of }),
            prop::collection::vec(prop::sample::select(vec!["Software", "retail"]), 1..3).prop_map(
                |v| ScoringCriterion::Industry {
                    any_of: v.into_iter().map(str::to_owned).collect()
                }
            ),
            (0u32..500, prop::option::of(0u32..500)).prop_map(|(min, span)| {
                ScoringCriterion::CompanySize {
                    range: CompanySizeRange {
                        min,
                        max: span.map(|s| min + s),
                    },
                }
            }),
            prop::collection::vec(
                prop::sample::select(vec!["vp", "head of", "cto", "Director"]),
                1..3
            )
            .prop_map(|v| ScoringCriterion::JobTitle {
                keywords: v.into_iter().map(str::to_owned).collect()
            }),
            prop_oneof![
                Just(EmailDomainKind::Consumer),
                Just(EmailDomainKind::Company)
            ]
            .prop_map(|kind| ScoringCriterion::EmailDomain { kind }),
            (arb_activity(), non_zero(10)).prop_map(|(activity, count)| {
                ScoringCriterion::ActivityAtLeast { activity, count }
            }),
            (arb_activity(), non_zero(10)).prop_map(|(activity, max_counted)| {
                ScoringCriterion::PerActivity {
                    activity,
                    max_counted,
                }
            }),
            (0u32..200).prop_map(|hours| ScoringCriterion::ActiveWithin { hours }),
        ]
    }

    /// A valid model: up to 8 rules with ordinary or near-limit points, optional decay and
    /// caps. Near-limit points make the overflow bound matter; models over it are dropped.
    pub(crate) fn arb_scoring_model() -> impl Strategy<Value = ScoringModel> {
        let points =
            prop_oneof![8 => -50i32..50, 1 => Just(i32::MAX / 16), 1 => Just(-(i32::MAX / 16))];
        let rules = prop::collection::vec((points, arb_criterion()), 0..8).prop_map(|rules| {
            rules
                .into_iter()
                .enumerate()
                .map(|(i, (points, criterion))| ScoringRule {
                    id: format!("rule-{i}"),
                    points,
                    criterion,
                })
                .collect::<Vec<_>>()
        });
        (
            rules,
            prop::option::of(non_zero(72)),
            prop::option::of(0u32..200),
            prop::option::of(0u32..200),
        )
            .prop_filter_map(
                "points over the limit",
                |(rules, half_life, fit_cap, engagement_cap)| {
                    ScoringModel::new(ScoringConfig {
                        rules,
                        consumer_domains: vec!["example-isp.net".into()],
                        engagement_half_life_hours: half_life,
                        fit_cap,
                        engagement_cap,
                    })
                    .ok()
                },
            )
    }

    /// Who a lead is, over the vocabularies of [`arb_criterion`].
    pub(crate) fn arb_lead_fit() -> impl Strategy<Value = LeadFit> {
        (
            prop::option::of(arb_country()),
            prop::option::of(prop::sample::select(vec!["software", "Retail", "Banking"])),
            prop::option::of(0u32..1000),
            prop::option::of(prop::sample::select(vec![
                "VP Sales",
                "Head of IT",
                "MVP engineer",
                "CTO",
                "intern",
            ])),
            prop::option::of(prop::sample::select(vec![
                "a@gmail.com",
                "b@acme.com",
                "c@mail.example-isp.net",
                "d@notgmail.com",
            ])),
        )
            .prop_map(
                |(country, industry, company_size, job_title, email)| LeadFit {
                    country,
                    industry: industry.map(str::to_owned),
                    company_size,
                    job_title: job_title.map(str::to_owned),
                    email: email.map(|e| EmailAddress::parse(e).expect("valid address")),
                },
            )
    }

    /// What a lead did, with a last activity up to ten days before (or an hour after) now.
    pub(crate) fn arb_lead_engagement() -> impl Strategy<Value = LeadEngagement> {
        (0u32..30, 0u32..5, 0u32..20, prop::option::of(-1i64..240)).prop_map(
            |(page_views, form_submissions, email_opens, hours_ago)| LeadEngagement {
                page_views,
                form_submissions,
                email_opens,
                last_activity_at: hours_ago.map(|h| scoring_now() - Duration::hours(h)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::generators::{arb_lead_engagement, arb_lead_fit, arb_scoring_model, scoring_now};
    use super::*;
    use crate::testing::t0;

    fn rule(id: &str, points: i32, criterion: ScoringCriterion) -> ScoringRule {
        ScoringRule {
            id: id.into(),
            points,
            criterion,
        }
    }

    fn model(rules: Vec<ScoringRule>) -> ScoringModel {
        ScoringModel::new(ScoringConfig {
            rules,
            consumer_domains: vec!["example-isp.net".into()],
            ..ScoringConfig::default()
        })
        .unwrap()
    }

    fn n(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).unwrap()
    }

    fn country(code: &str) -> CountryCode {
        CountryCode::new(code).unwrap()
    }

    fn ideal_fit() -> LeadFit {
        LeadFit {
            country: Some(country("DE")),
            industry: Some("Software".into()),
            company_size: Some(250),
            job_title: Some("VP of Sales".into()),
            email: Some(EmailAddress::parse("jana@acme.example").unwrap()),
        }
    }

    fn active(hours_ago: i64) -> LeadEngagement {
        LeadEngagement {
            page_views: 12,
            form_submissions: 2,
            email_opens: 3,
            last_activity_at: Some(t0() - Duration::hours(hours_ago)),
        }
    }

    /// The points one rule awards to a lead, or 0.
    fn points(criterion: ScoringCriterion, fit: &LeadFit, engagement: &LeadEngagement) -> i32 {
        model(vec![rule("r", 10, criterion)])
            .score(fit, engagement, t0())
            .total
    }

    fn fit_points(criterion: ScoringCriterion, fit: &LeadFit) -> i32 {
        points(criterion, fit, &LeadEngagement::default())
    }

    fn engagement_points(criterion: ScoringCriterion, engagement: &LeadEngagement) -> i32 {
        points(criterion, &LeadFit::default(), engagement)
    }

    #[test]
    fn country_rule_awards_listed_countries_only() {
        let dach = || ScoringCriterion::Country {
            any_of: vec![country("AT"), country("DE")],
        };
        assert_eq!(fit_points(dach(), &ideal_fit()), 10);
        assert_eq!(
            fit_points(
                dach(),
                &LeadFit {
                    country: Some(country("FR")),
                    ..ideal_fit()
                }
            ),
            0
        );
        assert_eq!(
            fit_points(
                dach(),
                &LeadFit {
                    country: None,
                    ..ideal_fit()
                }
            ),
            0
        );
    }

    #[test]
    fn industry_rule_compares_case_insensitively() {
        let software = || ScoringCriterion::Industry {
            any_of: vec![" SOFTWARE".into()],
        };
        assert_eq!(fit_points(software(), &ideal_fit()), 10);
        assert_eq!(
            fit_points(
                software(),
                &LeadFit {
                    industry: Some("Retail".into()),
                    ..ideal_fit()
                }
            ),
            0
        );
    }

    #[test]
    fn company_size_rule_awards_sizes_in_the_range() {
        let mid_market = || ScoringCriterion::CompanySize {
            range: CompanySizeRange {
                min: 50,
                max: Some(250),
            },
        };
        assert_eq!(fit_points(mid_market(), &ideal_fit()), 10);
        assert_eq!(
            fit_points(
                mid_market(),
                &LeadFit {
                    company_size: Some(251),
                    ..ideal_fit()
                }
            ),
            0
        );
        assert_eq!(
            fit_points(
                mid_market(),
                &LeadFit {
                    company_size: None,
                    ..ideal_fit()
                }
            ),
            0
        );
    }

    #[test]
    fn job_title_rule_matches_whole_words_only() {
        let leaders = || ScoringCriterion::JobTitle {
            keywords: vec!["VP".into(), "head of".into()],
        };
        let titled = |title: &str| LeadFit {
            job_title: Some(title.into()),
            ..ideal_fit()
        };
        assert_eq!(fit_points(leaders(), &titled("VP of Sales")), 10);
        assert_eq!(fit_points(leaders(), &titled("Head of  Marketing")), 10);
        assert_eq!(fit_points(leaders(), &titled("Sr. VP, EMEA")), 10);
        assert_eq!(fit_points(leaders(), &titled("MVP developer")), 0);
        assert_eq!(fit_points(leaders(), &titled("Head Chef of Pastry")), 0);
        assert_eq!(
            fit_points(
                leaders(),
                &LeadFit {
                    job_title: None,
                    ..ideal_fit()
                }
            ),
            0
        );
    }

    #[test]
    fn email_domain_rule_tells_consumer_providers_from_company_domains() {
        let consumer = || ScoringCriterion::EmailDomain {
            kind: EmailDomainKind::Consumer,
        };
        let company = || ScoringCriterion::EmailDomain {
            kind: EmailDomainKind::Company,
        };
        let from = |address: &str| LeadFit {
            email: Some(EmailAddress::parse(address).unwrap()),
            ..ideal_fit()
        };
        assert_eq!(fit_points(consumer(), &from("jana@GMail.com")), 10);
        assert_eq!(fit_points(consumer(), &from("jana@googlemail.com")), 10);
        assert_eq!(
            fit_points(consumer(), &from("jana@example-isp.net")),
            10,
            "a configured provider"
        );
        assert_eq!(
            fit_points(consumer(), &from("jana@mail.example-isp.net")),
            10,
            "and its subdomains"
        );
        assert_eq!(fit_points(company(), &from("jana@gmail.com")), 0);
        assert_eq!(fit_points(company(), &from("jana@acme.example")), 10);
        assert_eq!(
            fit_points(company(), &from("jana@notgmail.com")),
            10,
            "only whole domain labels"
        );
        let no_email = LeadFit {
            email: None,
            ..ideal_fit()
        };
        assert_eq!(
            fit_points(consumer(), &no_email) + fit_points(company(), &no_email),
            0
        );
    }

    #[test]
    fn activity_threshold_awards_its_points_once() {
        let engaged = |activity, count| ScoringCriterion::ActivityAtLeast {
            activity,
            count: n(count),
        };
        assert_eq!(
            engagement_points(engaged(Activity::PageView, 12), &active(1)),
            10
        );
        assert_eq!(
            engagement_points(engaged(Activity::PageView, 13), &active(1)),
            0
        );
        assert_eq!(
            engagement_points(engaged(Activity::FormSubmission, 2), &active(1)),
            10
        );
        assert_eq!(
            engagement_points(engaged(Activity::EmailOpen, 4), &active(1)),
            0
        );
    }

    #[test]
    fn per_activity_rule_counts_each_occurrence_up_to_its_cap() {
        let each = |activity, max_counted| ScoringCriterion::PerActivity {
            activity,
            max_counted: n(max_counted),
        };
        assert_eq!(
            engagement_points(each(Activity::EmailOpen, 10), &active(1)),
            30,
            "3 opens × 10"
        );
        assert_eq!(
            engagement_points(each(Activity::PageView, 5), &active(1)),
            50,
            "12 views, 5 counted"
        );
        assert_eq!(
            engagement_points(each(Activity::PageView, 5), &LeadEngagement::default()),
            0
        );
    }

    #[test]
    fn recency_rule_awards_activity_within_the_window_inclusive() {
        let recent = || ScoringCriterion::ActiveWithin { hours: 24 };
        assert_eq!(engagement_points(recent(), &active(24)), 10);
        assert_eq!(engagement_points(recent(), &active(25)), 0);
        assert_eq!(
            engagement_points(recent(), &active(-2)),
            10,
            "a skewed future stamp counts as recent"
        );
        assert_eq!(engagement_points(recent(), &LeadEngagement::default()), 0);
    }

    #[test]
    fn negative_points_are_penalties() {
        let consumer = rule(
            "consumer-email",
            -15,
            ScoringCriterion::EmailDomain {
                kind: EmailDomainKind::Consumer,
            },
        );
        let fit = LeadFit {
            email: Some(EmailAddress::parse("x@gmail.com").unwrap()),
            ..ideal_fit()
        };
        assert_eq!(
            model(vec![consumer])
                .score(&fit, &LeadEngagement::default(), t0())
                .total,
            -15
        );
    }

    fn full_model(config: impl FnOnce(&mut ScoringConfig)) -> ScoringModel {
        let mut scoring = ScoringConfig {
            rules: vec![
                rule(
                    "dach",
                    20,
                    ScoringCriterion::Country {
                        any_of: vec![country("DE")],
                    },
                ),
                rule(
                    "mid-market",
                    15,
                    ScoringCriterion::CompanySize {
                        range: CompanySizeRange {
                            min: 50,
                            max: Some(500),
                        },
                    },
                ),
                rule(
                    "leader",
                    10,
                    ScoringCriterion::JobTitle {
                        keywords: vec!["vp".into()],
                    },
                ),
                rule(
                    "views",
                    2,
                    ScoringCriterion::PerActivity {
                        activity: Activity::PageView,
                        max_counted: n(20),
                    },
                ),
                rule(
                    "form",
                    25,
                    ScoringCriterion::ActivityAtLeast {
                        activity: Activity::FormSubmission,
                        count: n(1),
                    },
                ),
                rule(
                    "unsubscribed-ish",
                    -3,
                    ScoringCriterion::ActivityAtLeast {
                        activity: Activity::EmailOpen,
                        count: n(3),
                    },
                ),
            ],
            ..ScoringConfig::default()
        };
        config(&mut scoring);
        ScoringModel::new(scoring).unwrap()
    }

    fn contribution(rule_id: &str, dimension: ScoreDimension, points: i32) -> ScoreContribution {
        ScoreContribution {
            rule_id: rule_id.into(),
            dimension,
            points,
        }
    }

    #[test]
    fn the_explanation_lists_each_awarding_rule_in_order_and_sums_to_the_total() {
        let score = full_model(|_| {}).score(&ideal_fit(), &active(1), t0());
        assert_eq!(
            score.contributions,
            [
                contribution("dach", ScoreDimension::Fit, 20),
                contribution("mid-market", ScoreDimension::Fit, 15),
                contribution("leader", ScoreDimension::Fit, 10),
                contribution("views", ScoreDimension::Engagement, 24),
                contribution("form", ScoreDimension::Engagement, 25),
                contribution("unsubscribed-ish", ScoreDimension::Engagement, -3),
            ]
        );
        assert_eq!(score.total, 91);
        assert_eq!(
            score.total,
            score.contributions.iter().map(|c| c.points).sum::<i32>()
        );
        assert_eq!(
            (
                score.subtotal(ScoreDimension::Fit),
                score.subtotal(ScoreDimension::Engagement)
            ),
            (45, 46)
        );
    }

    #[test]
    fn engagement_halves_for_every_full_half_life_since_the_last_activity() {
        let decaying = full_model(|c| c.engagement_half_life_hours = Some(n(24)));
        let engagement_after = |hours| {
            decaying
                .score(&ideal_fit(), &active(hours), t0())
                .subtotal(ScoreDimension::Engagement)
        };
        assert_eq!(
            engagement_after(23),
            46,
            "within the first half-life nothing decays"
        );
        assert_eq!(engagement_after(24), 23);
        assert_eq!(engagement_after(48), 11, "rounded down");
        assert_eq!(engagement_after(24 * 400), 0);
        let score = decaying.score(&ideal_fit(), &active(24), t0());
        assert_eq!(
            score.contributions.last(),
            Some(&contribution(
                ENGAGEMENT_DECAY,
                ScoreDimension::Engagement,
                -23
            ))
        );
        assert_eq!(score.subtotal(ScoreDimension::Fit), 45, "fit never decays");
    }

    #[test]
    fn penalties_and_leads_without_a_last_activity_do_not_decay() {
        let decaying = ScoringModel::new(ScoringConfig {
            rules: vec![rule(
                "opens",
                -5,
                ScoringCriterion::PerActivity {
                    activity: Activity::EmailOpen,
                    max_counted: n(9),
                },
            )],
            engagement_half_life_hours: Some(n(1)),
            ..ScoringConfig::default()
        })
        .unwrap();
        assert_eq!(decaying.score(&ideal_fit(), &active(100), t0()).total, -15);
        let undated = LeadEngagement {
            last_activity_at: None,
            ..active(0)
        };
        assert_eq!(
            full_model(|c| c.engagement_half_life_hours = Some(n(1)))
                .score(&ideal_fit(), &undated, t0())
                .total,
            91
        );
    }

    #[test]
    fn caps_cut_each_dimension_and_say_so() {
        let capped = full_model(|c| {
            c.fit_cap = Some(30);
            c.engagement_cap = Some(40);
        });
        let score = capped.score(&ideal_fit(), &active(1), t0());
        assert_eq!(
            score.contributions[6..],
            [
                contribution(FIT_CAP, ScoreDimension::Fit, -15),
                contribution(ENGAGEMENT_CAP, ScoreDimension::Engagement, -6),
            ]
        );
        assert_eq!(
            (
                score.subtotal(ScoreDimension::Fit),
                score.subtotal(ScoreDimension::Engagement)
            ),
            (30, 40)
        );
        assert_eq!(score.total, 70);
    }

    #[test]
    fn the_engagement_cap_applies_after_decay() {
        let score = full_model(|c| {
            c.engagement_half_life_hours = Some(n(24));
            c.engagement_cap = Some(40);
        })
        .score(&ideal_fit(), &active(24), t0());
        assert_eq!(score.subtotal(ScoreDimension::Engagement), 23);
        assert!(
            score
                .contributions
                .iter()
                .all(|c| c.rule_id != ENGAGEMENT_CAP),
            "23 is under the cap"
        );
    }

    #[test]
    fn a_lead_nothing_applies_to_scores_zero_with_an_empty_explanation() {
        assert_eq!(
            full_model(|_| {}).score(&LeadFit::default(), &LeadEngagement::default(), t0()),
            LeadScore::default()
        );
    }

    #[test]
    fn configurations_that_cannot_be_explained_or_could_overflow_are_refused() {
        let views = || ScoringCriterion::PerActivity {
            activity: Activity::PageView,
            max_counted: n(1000),
        };
        let refused = |rules: Vec<ScoringRule>| {
            ScoringModel::new(ScoringConfig {
                rules,
                ..ScoringConfig::default()
            })
            .unwrap_err()
        };
        assert_eq!(
            refused(vec![rule("", 1, views())]),
            ScoringError::BlankRuleId { position: 0 }
        );
        assert_eq!(
            refused(vec![rule("a", 1, views()), rule("a", 2, views())]),
            ScoringError::DuplicateRule {
                rule_id: "a".into()
            }
        );
        assert_eq!(
            refused(vec![rule(FIT_CAP, 1, views())]),
            ScoringError::ReservedRuleId {
                rule_id: FIT_CAP.into()
            }
        );
        assert_eq!(
            refused(vec![rule(
                "t",
                1,
                ScoringCriterion::JobTitle {
                    keywords: vec!["--".into()]
                }
            )]),
            ScoringError::EmptyCondition {
                rule_id: "t".into(),
                condition: "job_title"
            }
        );
        assert_eq!(
            refused(vec![rule(
                "c",
                1,
                ScoringCriterion::Country { any_of: vec![] }
            )]),
            ScoringError::EmptyCondition {
                rule_id: "c".into(),
                condition: "country"
            }
        );
        assert_eq!(
            refused(vec![rule(
                "s",
                1,
                ScoringCriterion::CompanySize {
                    range: CompanySizeRange {
                        min: 5,
                        max: Some(4)
                    }
                }
            )]),
            ScoringError::EmptyCondition {
                rule_id: "s".into(),
                condition: "company_size"
            }
        );
        assert_eq!(
            refused(vec![
                rule("ok", 1_000_000, views()),
                rule("too-much", -3_000_000, views())
            ]),
            ScoringError::PointsOutOfRange {
                rule_id: "too-much".into()
            }
        );
        let blank_domain = ScoringConfig {
            consumer_domains: vec![" @".into()],
            ..ScoringConfig::default()
        };
        assert_eq!(
            ScoringModel::new(blank_domain),
            Err(ScoringError::BlankConsumerDomain)
        );
    }

    #[test]
    fn a_model_round_trips_through_json_and_is_validated_when_read() {
        let mut config = full_model(|c| c.fit_cap = Some(50)).config().clone();
        config.consumer_domains = vec!["@Example-ISP.net".into()];
        let model = ScoringModel::new(config).unwrap();
        assert_eq!(model.config().consumer_domains, ["example-isp.net"]);
        let json = serde_json::to_string(&model).unwrap();
        assert_eq!(serde_json::from_str::<ScoringModel>(&json).unwrap(), model);
        let reserved = json.replace(r#""id":"dach""#, r#""id":"fit_cap""#);
        assert!(serde_json::from_str::<ScoringModel>(&reserved).is_err());
        let zero_cap = json.replace(r#""max_counted":20"#, r#""max_counted":0"#);
        assert!(serde_json::from_str::<ScoringModel>(&zero_cap).is_err());
    }

    proptest! {
        #[test]
        fn the_total_always_equals_the_sum_of_the_contributions(
            model in arb_scoring_model(), fit in arb_lead_fit(), engagement in arb_lead_engagement(),
        ) {
            let score = model.score(&fit, &engagement, scoring_now());
            let sum: i64 = score.contributions.iter().map(|c| i64::from(c.points)).sum();
            prop_assert_eq!(i64::from(score.total), sum);
            prop_assert!(score.contributions.iter().all(|c| c.points != 0));
            for rule in &model.config().rules {
                let listed = score.contributions.iter().filter(|c| c.rule_id == rule.id).count();
                prop_assert!(listed <= 1);
                if listed == 1 {
                    let c = score.contributions.iter().find(|c| c.rule_id == rule.id).unwrap();
                    prop_assert_eq!(c.dimension, rule.criterion.dimension());
                }
            }
        }

        #[test]
        fn capped_dimensions_never_exceed_their_cap(
            model in arb_scoring_model(), fit in arb_lead_fit(), engagement in arb_lead_engagement(),
        ) {
            let score = model.score(&fit, &engagement, scoring_now());
            if let Some(cap) = model.config().fit_cap {
                prop_assert!(i64::from(score.subtotal(ScoreDimension::Fit)) <= i64::from(cap));
            }
            if let Some(cap) = model.config().engagement_cap {
                prop_assert!(i64::from(score.subtotal(ScoreDimension::Engagement)) <= i64::from(cap));
            }
        }

        #[test]
        fn decay_never_raises_engagement_and_only_lowers_it_with_time(
            model in arb_scoring_model(), fit in arb_lead_fit(), engagement in arb_lead_engagement(), later_hours in 0i64..500,
        ) {
            let now = scoring_now();
            let engaged_at = |now| model.score(&fit, &engagement, now).subtotal(ScoreDimension::Engagement);
            let without_decay = ScoringModel::new(ScoringConfig {
                engagement_half_life_hours: None, engagement_cap: None, ..model.config().clone()
            }).unwrap().score(&fit, &engagement, now).subtotal(ScoreDimension::Engagement);
            prop_assert!(engaged_at(now) <= without_decay);
            let window_free = model.config().rules.iter().all(|r| !matches!(r.criterion, ScoringCriterion::ActiveWithin { .. }));
            if window_free {
                prop_assert!(engaged_at(now + Duration::hours(later_hours)) <= engaged_at(now));
            }
        }
    }
}
