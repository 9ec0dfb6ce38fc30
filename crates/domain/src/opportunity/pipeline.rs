//! A sales pipeline: the ordered stages an opportunity moves through, each with its default
//! probability and forecast category, and the amounts above which a deal needs approval to be
//! won. Plain configuration data; [`Pipeline::validate`] says whether it can be used.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::money::{Currency, Money, Probability};

/// Identifies a pipeline, e.g. `"new-business"`; versions of one pipeline share it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PipelineId(pub String);

impl PipelineId {
    /// A pipeline id from its text; [`Pipeline::validate`] refuses blank ones.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies a stage within a pipeline, e.g. `"proposal"`. Stable across pipeline versions,
/// so a deal keeps its stage when its pipeline is upgraded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageId(pub String);

impl StageId {
    /// A stage id from its text; [`Pipeline::validate`] refuses blank ones.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a deal in a stage counts in the sales forecast (Salesforce's five categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastCategory {
    /// Early, uncertain deals.
    Pipeline,
    /// Deals that may close this period with luck.
    BestCase,
    /// Deals the rep commits to closing.
    Commit,
    /// Won deals. Only the closed-won stage may use it.
    Closed,
    /// Deals left out of the forecast (lost, on hold).
    Omitted,
}

/// Whether a stage keeps the deal open or closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// The deal is still being worked.
    Open,
    /// The deal was won; exactly one stage per pipeline.
    ClosedWon,
    /// The deal was lost; exactly one stage per pipeline.
    ClosedLost,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// The stage's stable id.
    pub id: StageId,
    /// The name shown to users.
    pub name: String,
    /// The probability stamped on a deal entering the stage. Changing it later never
    /// re-prices deals already in the stage: they keep the stamped value.
    pub probability: Probability,
    /// The forecast category stamped on a deal entering the stage.
    pub forecast_category: ForecastCategory,
    /// Whether the stage keeps the deal open, wins it or loses it.
    pub kind: StageKind,
}

/// A sales pipeline, versioned configuration: ordered stages and approval thresholds.
///
/// Opening an opportunity stamps the whole pipeline (id and version included) into the
/// opening event, and the deal follows that version until it is explicitly upgraded.
/// Deserializing does not validate, so events recorded under older rules always load; the
/// aggregate validates a pipeline when a command brings one in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// The pipeline's id, shared by all its versions.
    pub id: PipelineId,
    /// The version of this configuration; an upgrade must bring a higher one.
    pub version: u32,
    /// The stages in the order deals move through them (moving backwards is allowed).
    pub stages: Vec<Stage>,
    /// At most one threshold per currency: a deal whose amount is strictly above the
    /// threshold in its currency needs a granted approval to be won. A deal can only be
    /// opened in a currency that has a threshold, so every amount is comparable.
    pub approval_thresholds: Vec<Money>,
}

/// Why a pipeline cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PipelineError {
    /// The pipeline's id is blank.
    #[error("the pipeline needs an id")]
    BlankPipelineId,
    /// A stage's id is blank.
    #[error("stage number {position} needs an id")]
    BlankStageId {
        /// The stage's position, counting from 0.
        position: usize,
    },
    /// A stage's name is blank.
    #[error("stage {stage} needs a name")]
    BlankStageName {
        /// The stage.
        stage: StageId,
    },
    /// Two stages share an id.
    #[error("stage id {stage} is used more than once")]
    DuplicateStage {
        /// The repeated id.
        stage: StageId,
    },
    /// No stage keeps a deal open, so no deal could be opened.
    #[error("the pipeline has no open stage")]
    NoOpenStage,
    /// There is not exactly one closed-won stage.
    #[error("the pipeline needs exactly one closed-won stage, found {found}")]
    WonStageCount {
        /// How many there are.
        found: usize,
    },
    /// There is not exactly one closed-lost stage.
    #[error("the pipeline needs exactly one closed-lost stage, found {found}")]
    LostStageCount {
        /// How many there are.
        found: usize,
    },
    /// A closed stage's probability is not certain (100 % won, 0 % lost).
    #[error("closed stage {stage} must have probability {expected:?}, not {found:?}")]
    ClosedStageProbability {
        /// The stage.
        stage: StageId,
        /// The probability it must have.
        expected: Probability,
        /// The probability it has.
        found: Probability,
    },
    /// A stage's forecast category does not fit its kind: won stages are `Closed`, lost
    /// stages `Omitted`, and open stages anything but `Closed`.
    #[error("stage {stage} ({kind:?}) cannot be in forecast category {category:?}")]
    ForecastCategoryMismatch {
        /// The stage.
        stage: StageId,
        /// The stage's kind.
        kind: StageKind,
        /// The category it was given.
        category: ForecastCategory,
    },
    /// No approval threshold is configured, so no deal could be opened.
    #[error("the pipeline has no approval threshold")]
    NoApprovalThreshold,
    /// A threshold is negative.
    #[error("approval threshold {threshold} is negative")]
    NegativeApprovalThreshold {
        /// The threshold.
        threshold: Money,
    },
    /// Two thresholds share a currency.
    #[error("more than one approval threshold in {currency}")]
    DuplicateApprovalThreshold {
        /// The currency.
        currency: Currency,
    },
}

impl Pipeline {
    /// Every problem that makes the pipeline unusable, in stage order then threshold order;
    /// `Ok` when there is none.
    pub fn validate(&self) -> Result<(), Vec<PipelineError>> {
        let mut problems = Vec::new();
        if self.id.as_str().trim().is_empty() {
            problems.push(PipelineError::BlankPipelineId);
        }
        self.check_stages(&mut problems);
        self.check_thresholds(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn check_stages(&self, problems: &mut Vec<PipelineError>) {
        let mut seen = HashSet::new();
        for (position, stage) in self.stages.iter().enumerate() {
            if stage.id.as_str().trim().is_empty() {
                problems.push(PipelineError::BlankStageId { position });
            } else if !seen.insert(&stage.id) {
                problems.push(PipelineError::DuplicateStage {
                    stage: stage.id.clone(),
                });
            }
            if stage.name.trim().is_empty() {
                problems.push(PipelineError::BlankStageName {
                    stage: stage.id.clone(),
                });
            }
            check_closed_probability(stage, problems);
            if !category_fits(stage.kind, stage.forecast_category) {
                problems.push(PipelineError::ForecastCategoryMismatch {
                    stage: stage.id.clone(),
                    kind: stage.kind,
                    category: stage.forecast_category,
                });
            }
        }
        if self.first_open_stage().is_none() {
            problems.push(PipelineError::NoOpenStage);
        }
        let won = self.count(StageKind::ClosedWon);
        if won != 1 {
            problems.push(PipelineError::WonStageCount { found: won });
        }
        let lost = self.count(StageKind::ClosedLost);
        if lost != 1 {
            problems.push(PipelineError::LostStageCount { found: lost });
        }
    }

    fn check_thresholds(&self, problems: &mut Vec<PipelineError>) {
        if self.approval_thresholds.is_empty() {
            problems.push(PipelineError::NoApprovalThreshold);
        }
        let mut seen = HashSet::new();
        for &threshold in &self.approval_thresholds {
            if threshold.minor < 0 {
                problems.push(PipelineError::NegativeApprovalThreshold { threshold });
            }
            if !seen.insert(threshold.currency) {
                problems.push(PipelineError::DuplicateApprovalThreshold {
                    currency: threshold.currency,
                });
            }
        }
    }

    fn count(&self, kind: StageKind) -> usize {
        self.stages
            .iter()
            .filter(|stage| stage.kind == kind)
            .count()
    }

    /// The stage with this id, if the pipeline has it.
    pub fn stage(&self, id: &StageId) -> Option<&Stage> {
        self.stages.iter().find(|stage| &stage.id == id)
    }

    /// The position of a stage in the pipeline's order, counting from 0.
    pub fn position(&self, id: &StageId) -> Option<usize> {
        self.stages.iter().position(|stage| &stage.id == id)
    }

    /// The stage new deals start in: the first open one.
    pub fn first_open_stage(&self) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|stage| stage.kind == StageKind::Open)
    }

    /// The closed-won stage (the first, should an invalid pipeline have several).
    pub fn won_stage(&self) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|stage| stage.kind == StageKind::ClosedWon)
    }

    /// The closed-lost stage (the first, should an invalid pipeline have several).
    pub fn lost_stage(&self) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|stage| stage.kind == StageKind::ClosedLost)
    }

    /// The approval threshold in `currency`, if one is configured.
    pub fn approval_threshold(&self, currency: Currency) -> Option<Money> {
        self.approval_thresholds
            .iter()
            .copied()
            .find(|threshold| threshold.currency == currency)
    }
}

fn check_closed_probability(stage: &Stage, problems: &mut Vec<PipelineError>) {
    let expected = match stage.kind {
        StageKind::Open => return,
        StageKind::ClosedWon => Probability::CERTAIN,
        StageKind::ClosedLost => Probability::ZERO,
    };
    if stage.probability != expected {
        problems.push(PipelineError::ClosedStageProbability {
            stage: stage.id.clone(),
            expected,
            found: stage.probability,
        });
    }
}

fn category_fits(kind: StageKind, category: ForecastCategory) -> bool {
    match kind {
        StageKind::Open => category != ForecastCategory::Closed,
        StageKind::ClosedWon => category == ForecastCategory::Closed,
        StageKind::ClosedLost => category == ForecastCategory::Omitted,
    }
}

/// The approval threshold of the default pipeline: 100,000.00 in each of its currencies.
const DEFAULT_THRESHOLD_MINOR: i64 = 10_000_000;

/// The currencies the default pipeline has thresholds for; others need configuration.
const DEFAULT_THRESHOLD_CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];

impl Default for Pipeline {
    /// The default pipeline `"default"`, version 1: prospecting (10 %, pipeline),
    /// qualification (20 %, pipeline), proposal (50 %, best case), negotiation (70 %, commit),
    /// closed won (100 %, closed), closed lost (0 %, omitted); approval above 100,000.00 EUR,
    /// USD or GBP.
    fn default() -> Self {
        let stage = |id: &str, name: &str, percent: u8, category, kind| Stage {
            id: StageId::new(id),
            name: name.to_owned(),
            probability: Probability::new(percent).expect("default probabilities are <= 100"),
            forecast_category: category,
            kind,
        };
        Self {
            id: PipelineId::new("default"),
            version: 1,
            stages: vec![
                stage(
                    "prospecting",
                    "Prospecting",
                    10,
                    ForecastCategory::Pipeline,
                    StageKind::Open,
                ),
                stage(
                    "qualification",
                    "Qualification",
                    20,
                    ForecastCategory::Pipeline,
                    StageKind::Open,
                ),
                stage(
                    "proposal",
                    "Proposal",
                    50,
                    ForecastCategory::BestCase,
                    StageKind::Open,
                ),
                stage(
                    "negotiation",
                    "Negotiation",
                    70,
                    ForecastCategory::Commit,
                    StageKind::Open,
                ),
                stage(
                    "closed_won",
                    "Closed won",
                    100,
                    ForecastCategory::Closed,
                    StageKind::ClosedWon,
                ),
                stage(
                    "closed_lost",
                    "Closed lost",
                    0,
                    ForecastCategory::Omitted,
                    StageKind::ClosedLost,
                ),
            ],
            approval_thresholds: DEFAULT_THRESHOLD_CURRENCIES
                .iter()
                .map(|code| {
                    let currency = Currency::new(code).expect("default codes are ISO 4217");
                    Money::new(DEFAULT_THRESHOLD_MINOR, currency)
                })
                .collect(),
        }
    }
}

/// Generators of pipelines for property tests.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;

    fn arb_kind() -> impl Strategy<Value = StageKind> {
        prop_oneof![
            4 => Just(StageKind::Open),
            1 => Just(StageKind::ClosedWon),
            1 => Just(StageKind::ClosedLost),
        ]
    }

    fn arb_category() -> impl Strategy<Value = ForecastCategory> {
        prop_oneof![
            Just(ForecastCategory::Pipeline),
            Just(ForecastCategory::BestCase),
            Just(ForecastCategory::Commit),
            Just(ForecastCategory::Closed),
            Just(ForecastCategory::Omitted),
        ]
    }

    fn arb_stage() -> impl Strategy<Value = Stage> {
        (
            prop_oneof![Just(String::new()), "[a-d]{1,2}"],
            prop_oneof![Just(" ".to_owned()), "[A-Z][a-z]{0,5}"],
            0u8..=100,
            arb_category(),
            arb_kind(),
        )
            .prop_map(|(id, name, percent, forecast_category, kind)| Stage {
                id: StageId(id),
                name,
                probability: Probability::new(percent).expect("generated within 0..=100"),
                forecast_category,
                kind,
            })
    }

    fn arb_threshold() -> impl Strategy<Value = Money> {
        (
            prop_oneof![Just("EUR"), Just("USD")],
            prop_oneof![Just(0i64), Just(-1), 0i64..1_000_000, Just(i64::MAX)],
        )
            .prop_map(|(code, minor)| {
                Money::new(
                    minor,
                    Currency::new(code).expect("generated codes are valid"),
                )
            })
    }

    /// Any pipeline, valid or not: random stages of random kinds and categories, random
    /// thresholds.
    pub(crate) fn arb_pipeline() -> impl Strategy<Value = Pipeline> {
        (
            prop_oneof![Just(String::new()), "[a-z]{1,8}"],
            any::<u32>(),
            proptest::collection::vec(arb_stage(), 0..8),
            proptest::collection::vec(arb_threshold(), 0..3),
        )
            .prop_map(|(id, version, stages, approval_thresholds)| Pipeline {
                id: PipelineId(id),
                version,
                stages,
                approval_thresholds,
            })
    }

    /// The default pipeline at a later version, with every open stage's probability changed
    /// and the thresholds moved: what an admin's edit produces.
    pub(crate) fn arb_later_version() -> impl Strategy<Value = Pipeline> {
        (1u32..4, 0u8..=100, 0i64..20_000_000).prop_map(|(bump, percent, threshold)| {
            let mut pipeline = Pipeline::default();
            pipeline.version += bump;
            for stage in &mut pipeline.stages {
                if stage.kind == StageKind::Open {
                    stage.probability = Probability::new(percent).expect("within 0..=100");
                }
            }
            for money in &mut pipeline.approval_thresholds {
                money.minor = threshold;
            }
            pipeline
        })
    }
}
