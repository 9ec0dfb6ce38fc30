//! Scoring as evidence (Fellegi–Sunter): each field's agreement level has a probability `m`
//! among pairs that are one person and `u` among pairs that are not; `log2(m / u)` is the
//! evidence the level gives, and the evidence of every field, added to the prior odds, is
//! the pair's match weight.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::compare::{ComparisonVector, Field};
use crate::identity::MatchVerdict;

/// The smallest probability a level is given, so that no level is infinitely strong.
const MIN_PROBABILITY: f64 = 1e-6;

/// A model that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// A field's probabilities do not have one entry per level.
    #[error("{field}: {given} probabilities for {expected} levels")]
    LevelCount {
        /// The field.
        field: &'static str,
        /// How many were given.
        given: usize,
        /// How many levels the field has.
        expected: usize,
    },
    /// A probability outside 0 to 1, or not a number.
    #[error("{what} is {value}, not a probability between 0 and 1")]
    NotAProbability {
        /// Which probability.
        what: String,
        /// The value given.
        value: f64,
    },
    /// The review threshold lies above the auto-link threshold.
    #[error("the review threshold {review} lies above the auto-link threshold {auto_link}")]
    ThresholdOrder {
        /// The review threshold.
        review: f64,
        /// The auto-link threshold.
        auto_link: f64,
    },
}

/// One field's `m` and `u` probabilities, one per agreement level (see [`Field::levels`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldProbabilities {
    /// The field.
    pub field: Field,
    /// Per level: the probability of the level among pairs that are one person.
    pub m: Vec<f64>,
    /// Per level: the probability of the level among pairs that are different people.
    pub u: Vec<f64>,
}

impl FieldProbabilities {
    /// The evidence of one level, in bits: `log2(m / u)`.
    pub fn weight(&self, level: u8) -> f64 {
        let index = usize::from(level);
        let m = self.m.get(index).copied().unwrap_or(MIN_PROBABILITY);
        let u = self.u.get(index).copied().unwrap_or(MIN_PROBABILITY);
        (m.max(MIN_PROBABILITY) / u.max(MIN_PROBABILITY)).log2()
    }
}

/// The match probabilities from which a pair is linked without asking, or sent to review.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// At or above this match probability a pair is linked without asking.
    pub auto_link: f64,
    /// At or above this match probability (and below `auto_link`) a person reviews the pair.
    pub review: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            auto_link: 0.99,
            review: 0.5,
        }
    }
}

/// A Fellegi–Sunter model: the prior probability that a compared pair is one person, each
/// field's `m` and `u` probabilities, and the thresholds. Serializable, so that a data
/// steward can keep it under version control, edit it, or replace it by an estimate
/// ([`super::estimate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkageModel {
    /// The probability that a compared (blocked) pair is one person, before any evidence.
    pub prior: f64,
    /// The fields' probabilities; a field without an entry takes no part.
    pub fields: Vec<FieldProbabilities>,
    /// Where links and reviews start.
    pub thresholds: Thresholds,
    /// Fields on which a plain disagreement (both values present, the lowest level) is a
    /// conflict: a pair with a conflict is never linked without asking, however strong the
    /// rest of its evidence — relatives share an address, a landline and sometimes a
    /// mailbox, and those agreements add up as if they were independent facts about one
    /// person. Such a pair goes to review at most.
    #[serde(default = "default_conflicts")]
    pub conflicts: Vec<Field>,
    /// Fields of which at least one must agree (at one of its two strongest levels) for a
    /// pair to be linked without asking: names are shared by many people, so names alone,
    /// however rare they look, go to review.
    #[serde(default = "default_corroboration")]
    pub corroboration: Vec<Field>,
    /// What [`LinkageModel::corroboration`] becomes when either record lacks a given name:
    /// fields that are one person's own. Without a given name, a family name with an
    /// address, a landline or a shared mailbox describes a household as well as any one of
    /// its members, so only an agreement that belongs to one person (a birth date, a national
    /// id) links without asking; the rest go to review.
    #[serde(default = "default_corroboration_without_given_name")]
    pub corroboration_without_given_name: Vec<Field>,
}

fn default_conflicts() -> Vec<Field> {
    vec![Field::GivenName, Field::DateOfBirth, Field::NationalId]
}

fn default_corroboration_without_given_name() -> Vec<Field> {
    vec![Field::DateOfBirth, Field::NationalId]
}

fn default_corroboration() -> Vec<Field> {
    vec![
        Field::DateOfBirth,
        Field::Address,
        Field::NationalId,
        Field::Email,
        Field::Phone,
    ]
}

impl Default for LinkageModel {
    /// Probabilities set by hand from how people's records vary; a starting point for the
    /// estimator, and usable as they are.
    fn default() -> Self {
        let field = |field, m: &[f64], u: &[f64]| FieldProbabilities {
            field,
            m: m.to_vec(),
            u: u.to_vec(),
        };
        Self {
            prior: 0.05,
            fields: vec![
                field(
                    Field::GivenName,
                    &[0.80, 0.07, 0.05, 0.02, 0.03, 0.03],
                    &[0.02, 0.005, 0.02, 0.03, 0.02, 0.905],
                ),
                field(
                    Field::FamilyName,
                    &[0.84, 0.08, 0.03, 0.02, 0.03],
                    &[0.05, 0.01, 0.02, 0.03, 0.89],
                ),
                field(
                    Field::DateOfBirth,
                    &[0.88, 0.03, 0.05, 0.02, 0.02],
                    &[0.002, 0.0001, 0.003, 0.05, 0.9449],
                ),
                field(
                    Field::Address,
                    &[0.70, 0.06, 0.04, 0.04, 0.04, 0.12],
                    &[0.0005, 0.0005, 0.001, 0.005, 0.05, 0.943],
                ),
                field(
                    Field::NationalId,
                    &[0.94, 0.04, 0.02],
                    &[0.0001, 0.0005, 0.9994],
                ),
                field(Field::Email, &[0.80, 0.10, 0.10], &[0.001, 0.005, 0.994]),
                field(Field::Phone, &[0.80, 0.05, 0.15], &[0.005, 0.001, 0.994]),
                field(Field::Company, &[0.70, 0.10, 0.20], &[0.02, 0.01, 0.97]),
            ],
            thresholds: Thresholds::default(),
            conflicts: default_conflicts(),
            corroboration: default_corroboration(),
            corroboration_without_given_name: default_corroboration_without_given_name(),
        }
    }
}

/// What one field contributed to a pair's match weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldEvidence {
    /// The field.
    pub field: Field,
    /// The agreement level, as [`Field::levels`] names it; `None` if either side lacked it.
    pub level: Option<String>,
    /// `m` of the level.
    pub m: Option<f64>,
    /// `u` of the level.
    pub u: Option<f64>,
    /// The evidence in bits (`log2(m / u)`); 0 for a missing value.
    pub weight: f64,
}

/// A pair's assessment: the match weight (prior log-odds plus every field's evidence), the
/// match probability, the verdict and each field's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkageAssessment {
    /// Prior log-odds plus the evidence of every field, in bits.
    pub match_weight: f64,
    /// The probability that the pair is one person: `2^w / (1 + 2^w)`.
    pub match_probability: f64,
    /// Link, review or keep apart, by the model's thresholds.
    pub verdict: MatchVerdict,
    /// Whether the names agreed only crosswise (given typed as family and back).
    pub names_swapped: bool,
    /// What each field contributed, in [`Field::ALL`] order.
    pub evidence: Vec<FieldEvidence>,
    /// The conflict fields on which the two plainly disagree; any keeps the pair from being
    /// linked without asking (see [`LinkageModel::conflicts`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Field>,
    /// Whether a field of [`LinkageModel::corroboration`] agrees; without, the pair is not
    /// linked without asking.
    pub corroborated: bool,
}

impl LinkageModel {
    /// Checks that the model can be used: one `m` and one `u` per level for each field, every
    /// probability between 0 and 1, thresholds in order.
    pub fn validate(&self) -> Result<(), ModelError> {
        let probability = |what: String, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(ModelError::NotAProbability { what, value })
            }
        };
        probability("prior".into(), self.prior)?;
        probability("auto-link threshold".into(), self.thresholds.auto_link)?;
        probability("review threshold".into(), self.thresholds.review)?;
        if self.thresholds.review > self.thresholds.auto_link {
            return Err(ModelError::ThresholdOrder {
                review: self.thresholds.review,
                auto_link: self.thresholds.auto_link,
            });
        }
        for field in &self.fields {
            let expected = field.field.levels().len();
            for (name, values) in [("m", &field.m), ("u", &field.u)] {
                if values.len() != expected {
                    return Err(ModelError::LevelCount {
                        field: field.field.name(),
                        given: values.len(),
                        expected,
                    });
                }
                for (level, value) in values.iter().enumerate() {
                    probability(format!("{}.{name}[{level}]", field.field.name()), *value)?;
                }
            }
        }
        Ok(())
    }

    /// The probabilities of one field, if the model uses it.
    pub fn field(&self, field: Field) -> Option<&FieldProbabilities> {
        self.fields.iter().find(|f| f.field == field)
    }

    /// The prior log-odds in bits.
    pub fn prior_weight(&self) -> f64 {
        let prior = self.prior.clamp(MIN_PROBABILITY, 1.0 - MIN_PROBABILITY);
        (prior / (1.0 - prior)).log2()
    }

    /// The match weight of a comparison, without the explanation (the fast path).
    pub fn match_weight(&self, vector: &ComparisonVector) -> f64 {
        self.fields
            .iter()
            .filter_map(|f| vector.level(f.field).map(|level| f.weight(level)))
            .sum::<f64>()
            + self.prior_weight()
    }

    /// The verdict for a match weight, given whether the pair may be linked without asking
    /// (no conflict, and corroborated).
    pub fn verdict(&self, match_weight: f64, may_link: bool) -> MatchVerdict {
        let probability = probability_of(match_weight);
        if probability >= self.thresholds.auto_link && may_link {
            MatchVerdict::AutoLink
        } else if probability >= self.thresholds.review {
            MatchVerdict::Review
        } else {
            MatchVerdict::Distinct
        }
    }

    /// The conflict fields on which a comparison plainly disagrees.
    pub fn conflicts_in(&self, vector: &ComparisonVector) -> Vec<Field> {
        self.conflicts
            .iter()
            .copied()
            .filter(|field| {
                vector
                    .level(*field)
                    .is_some_and(|level| usize::from(level) + 1 == field.levels().len())
            })
            .collect()
    }

    /// Whether a field of [`LinkageModel::corroboration`] agrees (of
    /// [`LinkageModel::corroboration_without_given_name`] when the given names were not
    /// compared, one side lacking it).
    pub fn is_corroborated(&self, vector: &ComparisonVector) -> bool {
        let fields = if vector.level(Field::GivenName).is_some() {
            &self.corroboration
        } else {
            &self.corroboration_without_given_name
        };
        fields
            .iter()
            .any(|field| vector.level(*field).is_some_and(|level| level <= 1))
    }

    /// The verdict of a comparison (the fast path of [`LinkageModel::assess`]).
    pub fn decide(&self, vector: &ComparisonVector) -> MatchVerdict {
        let may_link = self.conflicts_in(vector).is_empty() && self.is_corroborated(vector);
        self.verdict(self.match_weight(vector), may_link)
    }

    /// The verdict of a comparison whose match weight is moved by `adjustment` bits (a
    /// term-frequency adjustment, [`super::NameFrequencies::adjustment`]).
    pub fn decide_adjusted(&self, vector: &ComparisonVector, adjustment: f64) -> MatchVerdict {
        let may_link = self.conflicts_in(vector).is_empty() && self.is_corroborated(vector);
        self.verdict(self.match_weight(vector) + adjustment, may_link)
    }

    /// Scores a comparison and explains it field by field.
    pub fn assess(&self, vector: &ComparisonVector) -> LinkageAssessment {
        let evidence: Vec<FieldEvidence> = Field::ALL
            .iter()
            .filter_map(|&field| self.field(field))
            .map(|probabilities| {
                let field = probabilities.field;
                match vector.level(field) {
                    Some(level) => FieldEvidence {
                        field,
                        level: field
                            .levels()
                            .get(usize::from(level))
                            .map(|name| (*name).to_owned()),
                        m: probabilities.m.get(usize::from(level)).copied(),
                        u: probabilities.u.get(usize::from(level)).copied(),
                        weight: probabilities.weight(level),
                    },
                    None => FieldEvidence {
                        field,
                        level: None,
                        m: None,
                        u: None,
                        weight: 0.0,
                    },
                }
            })
            .collect();
        let match_weight = self.prior_weight() + evidence.iter().map(|e| e.weight).sum::<f64>();
        let conflicts = self.conflicts_in(vector);
        let corroborated = self.is_corroborated(vector);
        LinkageAssessment {
            match_weight,
            match_probability: probability_of(match_weight),
            verdict: self.verdict(match_weight, conflicts.is_empty() && corroborated),
            corroborated,
            names_swapped: vector.names_swapped,
            evidence,
            conflicts,
        }
    }
}

/// The probability of a match weight: `2^w / (1 + 2^w)`.
pub fn probability_of(match_weight: f64) -> f64 {
    let odds = match_weight.exp2();
    if odds.is_infinite() {
        1.0
    } else {
        odds / (1.0 + odds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(levels: &[(Field, u8)]) -> ComparisonVector {
        let mut vector = ComparisonVector {
            levels: [None; Field::ALL.len()],
            names_swapped: false,
        };
        for (field, level) in levels {
            vector.levels[field.index()] = Some(*level);
        }
        vector
    }

    #[test]
    fn the_default_model_is_valid() {
        LinkageModel::default().validate().unwrap();
    }

    #[test]
    fn evidence_adds_up_to_the_match_weight_and_explains_every_field() {
        let model = LinkageModel::default();
        let pair = vector(&[
            (Field::GivenName, 0),
            (Field::FamilyName, 0),
            (Field::DateOfBirth, 0),
            (Field::Address, 5),
        ]);
        let assessment = model.assess(&pair);
        let sum: f64 = assessment.evidence.iter().map(|e| e.weight).sum();
        assert!((assessment.match_weight - model.prior_weight() - sum).abs() < 1e-9);
        assert!((assessment.match_weight - model.match_weight(&pair)).abs() < 1e-9);
        assert_eq!(assessment.evidence.len(), Field::ALL.len());
        let address = &assessment.evidence[Field::Address.index()];
        assert_eq!(address.level.as_deref(), Some("different"));
        assert!(address.weight < 0.0, "disagreement is evidence against");
        let email = &assessment.evidence[Field::Email.index()];
        assert_eq!((email.level.as_ref(), email.weight), (None, 0.0));
        assert_eq!(assessment.verdict, MatchVerdict::AutoLink);
    }

    #[test]
    fn names_alone_do_not_link_but_names_and_birth_date_do() {
        let model = LinkageModel::default();
        let names = vector(&[(Field::GivenName, 0), (Field::FamilyName, 0)]);
        assert_ne!(model.assess(&names).verdict, MatchVerdict::AutoLink);
        let with_birth = vector(&[
            (Field::GivenName, 0),
            (Field::FamilyName, 0),
            (Field::DateOfBirth, 0),
        ]);
        assert_eq!(model.assess(&with_birth).verdict, MatchVerdict::AutoLink);
    }

    #[test]
    fn a_conflict_keeps_even_strong_evidence_from_linking_without_asking() {
        let model = LinkageModel::default();
        let relatives = vector(&[
            (Field::GivenName, 5),
            (Field::FamilyName, 0),
            (Field::Address, 0),
            (Field::Email, 0),
            (Field::Phone, 0),
        ]);
        let assessment = model.assess(&relatives);
        assert!(assessment.match_probability >= model.thresholds.auto_link);
        assert_eq!(assessment.conflicts, [Field::GivenName]);
        assert_eq!(assessment.verdict, MatchVerdict::Review);
        assert_eq!(model.decide(&relatives), MatchVerdict::Review);
    }

    #[test]
    fn without_a_given_name_only_what_is_one_persons_own_links_without_asking() {
        let model = LinkageModel::default();
        // A record without a given name, against one of its household's: the family name,
        // address, landline and a shared mailbox all agree.
        let household = vector(&[
            (Field::FamilyName, 0),
            (Field::Address, 0),
            (Field::Email, 0),
            (Field::Phone, 0),
        ]);
        let assessment = model.assess(&household);
        assert!(assessment.match_probability >= model.thresholds.auto_link);
        assert!(assessment.conflicts.is_empty());
        assert!(!assessment.corroborated);
        assert_eq!(assessment.verdict, MatchVerdict::Review);
        assert_eq!(model.decide(&household), MatchVerdict::Review);
        // A birth date is one person's: it links.
        let mut with_birth = household;
        with_birth.levels[Field::DateOfBirth.index()] = Some(0);
        assert_eq!(model.decide(&with_birth), MatchVerdict::AutoLink);
        // With the given names compared and agreeing, the address corroborates as before.
        let mut named = household;
        named.levels[Field::GivenName.index()] = Some(0);
        assert_eq!(model.decide(&named), MatchVerdict::AutoLink);
        // A model kept from before the rule reads with it.
        let mut json = serde_json::to_value(&model).unwrap();
        json.as_object_mut()
            .unwrap()
            .remove("corroboration_without_given_name");
        let read: LinkageModel = serde_json::from_value(json).unwrap();
        assert_eq!(read, model);
    }

    #[test]
    fn invalid_models_are_refused_with_the_reason() {
        let mut model = LinkageModel::default();
        model.fields[0].m.pop();
        assert!(matches!(
            model.validate(),
            Err(ModelError::LevelCount {
                field: "given_name",
                ..
            })
        ));
        let model = LinkageModel {
            prior: f64::NAN,
            ..LinkageModel::default()
        };
        assert!(matches!(
            model.validate(),
            Err(ModelError::NotAProbability { .. })
        ));
        let mut model = LinkageModel::default();
        model.thresholds.review = 0.999;
        assert!(matches!(
            model.validate(),
            Err(ModelError::ThresholdOrder { .. })
        ));
    }

    #[test]
    fn extreme_weights_give_probabilities_in_range() {
        assert!((probability_of(f64::INFINITY) - 1.0).abs() < f64::EPSILON);
        assert!(probability_of(-2000.0) >= 0.0);
        assert!((probability_of(0.0) - 0.5).abs() < f64::EPSILON);
    }
}
