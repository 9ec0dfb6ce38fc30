//! Learning a model's probabilities from unlabelled pairs.
//!
//! `u` comes from pairs drawn at random ([`estimate_u`]): nearly all of them are different
//! people, so how often each level occurs among them is `u`. `m` and the prior come from
//! expectation maximisation over the compared (blocked) pairs ([`estimate`]): each round
//! weighs every pair by how likely it is one person under the current model, then sets each
//! level's `m` (and, unless fixed, `u`) to its weighted share. Identical comparison vectors
//! are counted once with their multiplicity, so a round costs the number of distinct
//! vectors, not of pairs.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::compare::{ComparisonVector, Field, compare};
use super::model::{LinkageModel, ModelError};
use super::person::PersonRecord;

/// The smallest share a level is given by an estimate.
const FLOOR: f64 = 1e-6;

/// How expectation maximisation runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmSettings {
    /// Rounds at most.
    pub max_iterations: usize,
    /// Stop when no probability moves by more than this in a round.
    pub tolerance: f64,
    /// Keep the starting `u` (from random pairs) and learn only `m` and the prior.
    pub fix_u: bool,
}

impl Default for EmSettings {
    fn default() -> Self {
        Self {
            max_iterations: 200,
            tolerance: 1e-6,
            fix_u: true,
        }
    }
}

/// An estimated model and how the estimation went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The model, with the starting model's thresholds.
    pub model: LinkageModel,
    /// Rounds run.
    pub iterations: usize,
    /// Whether the probabilities settled within the tolerance.
    pub converged: bool,
    /// Pairs the estimate saw.
    pub pairs: u64,
    /// Distinct comparison vectors among them.
    pub patterns: usize,
}

/// `count` pairs of distinct indices below `records`, drawn by a seeded generator
/// (SplitMix64): the same arguments give the same pairs. Empty if there are fewer than two
/// records.
pub fn random_pairs(records: usize, count: usize, seed: u64) -> Vec<(usize, usize)> {
    if records < 2 {
        return Vec::new();
    }
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = records as u64;
    let mut pairs = Vec::with_capacity(count);
    while pairs.len() < count {
        // Truncation is intended: both values are below `records`, a usize.
        #[allow(clippy::cast_possible_truncation)]
        let (a, b) = ((next() % n) as usize, (next() % n) as usize);
        if a != b {
            pairs.push((a.min(b), a.max(b)));
        }
    }
    pairs
}

/// Each field's `u`: how often each level occurs among the given pairs, which should be
/// pairs drawn at random (see [`random_pairs`]). Levels never seen get a small floor.
pub fn estimate_u(records: &[PersonRecord], pairs: &[(usize, usize)]) -> Vec<(Field, Vec<f64>)> {
    let mut counts: Vec<Vec<f64>> = Field::ALL
        .iter()
        .map(|f| vec![0.0; f.levels().len()])
        .collect();
    for &(a, b) in pairs {
        let (Some(a), Some(b)) = (records.get(a), records.get(b)) else {
            continue;
        };
        let vector = compare(a, b);
        for field in Field::ALL {
            if let Some(level) = vector.level(field) {
                counts[field.index()][usize::from(level)] += 1.0;
            }
        }
    }
    Field::ALL
        .iter()
        .map(|&field| (field, shares(&counts[field.index()])))
        .collect()
}

/// Replaces the `u` probabilities of `model` by estimated ones (fields the model lacks are
/// left out; a field no pair had a value for keeps its `u`).
pub fn with_u(model: &LinkageModel, u: &[(Field, Vec<f64>)]) -> LinkageModel {
    let mut model = model.clone();
    for field in &mut model.fields {
        if let Some((_, estimated)) = u.iter().find(|(f, _)| *f == field.field)
            && estimated.len() == field.u.len()
            && estimated.iter().any(|&p| p > FLOOR)
        {
            field.u.clone_from(estimated);
        }
    }
    model
}

/// Learns `m` (and `u` unless [`EmSettings::fix_u`]) and the prior from the comparison
/// vectors of compared pairs, starting from `start`.
pub fn estimate(
    vectors: &[ComparisonVector],
    start: &LinkageModel,
    settings: &EmSettings,
) -> Result<Estimate, ModelError> {
    start.validate()?;
    let mut patterns: HashMap<[Option<u8>; Field::ALL.len()], f64> = HashMap::new();
    for vector in vectors {
        *patterns.entry(vector.levels).or_default() += 1.0;
    }
    let patterns: Vec<_> = patterns.into_iter().collect();
    let total: f64 = patterns.iter().map(|(_, count)| count).sum();
    let mut model = start.clone();
    let mut iterations = 0;
    let mut converged = false;
    if total == 0.0 {
        return Ok(Estimate {
            model,
            iterations,
            converged: true,
            pairs: 0,
            patterns: 0,
        });
    }
    while iterations < settings.max_iterations {
        iterations += 1;
        let mut m_sums: Vec<Vec<f64>> = model.fields.iter().map(|f| vec![0.0; f.m.len()]).collect();
        let mut u_sums = m_sums.clone();
        let mut matches = 0.0;
        for (levels, count) in &patterns {
            let (mut lm, mut lu) = (model.prior, 1.0 - model.prior);
            for field in &model.fields {
                if let Some(level) = levels[field.field.index()] {
                    let level = usize::from(level);
                    lm *= field.m.get(level).copied().unwrap_or(FLOOR).max(FLOOR);
                    lu *= field.u.get(level).copied().unwrap_or(FLOOR).max(FLOOR);
                }
            }
            let g = if lm + lu > 0.0 { lm / (lm + lu) } else { 0.0 };
            matches += count * g;
            for (index, field) in model.fields.iter().enumerate() {
                if let Some(level) = levels[field.field.index()] {
                    let level = usize::from(level);
                    if level < m_sums[index].len() {
                        m_sums[index][level] += count * g;
                        u_sums[index][level] += count * (1.0 - g);
                    }
                }
            }
        }
        let mut change: f64 = 0.0;
        let prior = (matches / total).clamp(FLOOR, 1.0 - FLOOR);
        change = change.max((prior - model.prior).abs());
        model.prior = prior;
        for (index, field) in model.fields.iter_mut().enumerate() {
            if m_sums[index].iter().sum::<f64>() > 0.0 {
                change = change.max(replace(&mut field.m, shares(&m_sums[index])));
            }
            if !settings.fix_u && u_sums[index].iter().sum::<f64>() > 0.0 {
                change = change.max(replace(&mut field.u, shares(&u_sums[index])));
            }
        }
        if change < settings.tolerance {
            converged = true;
            break;
        }
    }
    Ok(Estimate {
        model,
        iterations,
        converged,
        pairs: vectors.len() as u64,
        patterns: patterns.len(),
    })
}

/// The comparison vectors of the pairs one blocking pass selected, for learning `m`: the
/// fields the pass blocked on agree by construction, so they are left out (`excluded`).
#[derive(Debug, Clone, Copy)]
pub struct PassSample<'a> {
    /// Fields whose `m` this sample cannot tell (the pass's own keys).
    pub excluded: &'a [Field],
    /// The vectors of the pass's pairs.
    pub vectors: &'a [ComparisonVector],
}

/// Learns the model as a data steward would without labels: `u` is the start model's (give
/// it one from [`estimate_u`]); each pass's pairs teach `m` of the fields the pass did not
/// block on (expectation maximisation with `u` fixed — within a pass, the other fields of
/// two different people agree as often as random pairs' do); each field's `m` is the
/// average over the passes that teach it, weighed by their expected matches; then the prior
/// is learned on `all` the compared pairs with `m` and `u` fixed.
pub fn estimate_by_passes(
    samples: &[PassSample<'_>],
    all: &[ComparisonVector],
    start: &LinkageModel,
    settings: &EmSettings,
) -> Result<Estimate, ModelError> {
    start.validate()?;
    let fixed_u = EmSettings {
        fix_u: true,
        ..*settings
    };
    let mut sums: Vec<(f64, Vec<f64>)> = start
        .fields
        .iter()
        .map(|f| (0.0, vec![0.0; f.m.len()]))
        .collect();
    let mut iterations = 0;
    let mut converged = true;
    for sample in samples {
        let masked: Vec<ComparisonVector> = sample
            .vectors
            .iter()
            .map(|vector| {
                let mut masked = *vector;
                for field in sample.excluded {
                    masked.levels[field.index()] = None;
                }
                masked
            })
            .collect();
        let learned = estimate(&masked, start, &fixed_u)?;
        iterations += learned.iterations;
        converged &= learned.converged;
        #[allow(clippy::cast_precision_loss)]
        let matches = learned.model.prior * masked.len() as f64;
        for (index, field) in learned.model.fields.iter().enumerate() {
            if sample.excluded.contains(&field.field) {
                continue;
            }
            let (weight, m) = &mut sums[index];
            *weight += matches;
            for (sum, value) in m.iter_mut().zip(&field.m) {
                *sum += matches * value;
            }
        }
    }
    let mut model = start.clone();
    for (field, (weight, m)) in model.fields.iter_mut().zip(sums) {
        if weight > 0.0 {
            field.m = shares(&m);
        }
    }
    let (prior, prior_iterations, prior_converged) = estimate_prior(all, &model, settings);
    model.prior = prior;
    Ok(Estimate {
        model,
        iterations: iterations + prior_iterations,
        converged: converged && prior_converged,
        pairs: all.len() as u64,
        patterns: 0,
    })
}

/// The prior over `vectors` with the model's `m` and `u` fixed: (prior, rounds, settled).
fn estimate_prior(
    vectors: &[ComparisonVector],
    model: &LinkageModel,
    settings: &EmSettings,
) -> (f64, usize, bool) {
    if vectors.is_empty() {
        return (model.prior, 0, true);
    }
    // The evidence of each vector does not change: only the prior moves.
    let bayes: Vec<f64> = vectors
        .iter()
        .map(|v| (model.match_weight(v) - model.prior_weight()).exp2())
        .collect();
    let mut prior = model.prior.clamp(FLOOR, 1.0 - FLOOR);
    #[allow(clippy::cast_precision_loss)]
    let total = vectors.len() as f64;
    for round in 1..=settings.max_iterations {
        let odds = prior / (1.0 - prior);
        let expected: f64 = bayes
            .iter()
            .map(|b| {
                let posterior_odds = odds * b;
                if posterior_odds.is_infinite() {
                    1.0
                } else {
                    posterior_odds / (1.0 + posterior_odds)
                }
            })
            .sum();
        let next = (expected / total).clamp(FLOOR, 1.0 - FLOOR);
        let settled = (next - prior).abs() < settings.tolerance;
        prior = next;
        if settled {
            return (prior, round, true);
        }
    }
    (prior, settings.max_iterations, false)
}

/// Sets `target` to `values` and returns the largest change.
fn replace(target: &mut Vec<f64>, values: Vec<f64>) -> f64 {
    let change = target
        .iter()
        .zip(&values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    *target = values;
    change
}

/// Counts as shares summing to one, each at least the floor.
fn shares(counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        #[allow(clippy::cast_precision_loss)]
        return vec![1.0 / counts.len().max(1) as f64; counts.len()];
    }
    let floored: Vec<f64> = counts.iter().map(|c| (c / total).max(FLOOR)).collect();
    let sum: f64 = floored.iter().sum();
    floored.iter().map(|p| p / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors drawn from a known model: EM must find its `m` and prior again.
    #[test]
    fn expectation_maximisation_recovers_a_known_model() {
        let truth_m: [f64; 2] = [0.9, 0.1];
        let truth_u: [f64; 2] = [0.1, 0.9];
        let mut vectors = Vec::new();
        // 1,000 matches and 9,000 non-matches over three two-level fields, in exact
        // proportions: every combination with its expected count.
        for (is_match, pairs) in [(true, 1000.0_f64), (false, 9000.0)] {
            let p = if is_match { truth_m } else { truth_u };
            for a in 0..2u8 {
                for b in 0..2u8 {
                    for c in 0..2u8 {
                        let share = p[usize::from(a)] * p[usize::from(b)] * p[usize::from(c)];
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let count = (pairs * share).round() as usize;
                        let mut levels = [None; Field::ALL.len()];
                        levels[Field::NationalId.index()] = Some(a * 2);
                        levels[Field::Email.index()] = Some(b * 2);
                        levels[Field::Phone.index()] = Some(c * 2);
                        vectors.extend(std::iter::repeat_n(
                            ComparisonVector {
                                levels,
                                names_swapped: false,
                            },
                            count,
                        ));
                    }
                }
            }
        }
        let mut start = LinkageModel::default();
        start
            .fields
            .retain(|f| matches!(f.field, Field::NationalId | Field::Email | Field::Phone));
        for field in &mut start.fields {
            field.m = vec![0.6, 0.0, 0.4];
            field.u = vec![0.3, 0.0, 0.7];
        }
        let settings = EmSettings {
            fix_u: false,
            ..EmSettings::default()
        };
        let estimate = estimate(&vectors, &start, &settings).unwrap();
        assert!(estimate.converged, "{estimate:?}");
        assert_eq!(estimate.patterns, 8);
        assert!(
            (estimate.model.prior - 0.1).abs() < 0.01,
            "{}",
            estimate.model.prior
        );
        for field in &estimate.model.fields {
            assert!((field.m[0] - 0.9).abs() < 0.02, "{field:?}");
            assert!((field.u[0] - 0.1).abs() < 0.02, "{field:?}");
        }
    }

    #[test]
    fn random_pairs_are_reproducible_and_never_pair_a_record_with_itself() {
        let pairs = random_pairs(10, 1000, 42);
        assert_eq!(pairs, random_pairs(10, 1000, 42));
        assert_ne!(pairs, random_pairs(10, 1000, 43));
        assert!(pairs.iter().all(|(a, b)| a < b && *b < 10));
        assert!(random_pairs(1, 10, 1).is_empty());
    }

    #[test]
    fn nothing_to_learn_from_leaves_the_model_as_it_was() {
        let start = LinkageModel::default();
        let estimate = estimate(&[], &start, &EmSettings::default()).unwrap();
        assert_eq!(estimate.model, start);
    }
}
