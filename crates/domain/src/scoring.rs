//! Lead scoring: rules award points for fit (who the lead is) and engagement (what they did),
//! and every score comes with its explanation.

use serde::{Deserialize, Serialize};

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
    /// Each rule that contributed, in rule order.
    pub contributions: Vec<ScoreContribution>,
}
