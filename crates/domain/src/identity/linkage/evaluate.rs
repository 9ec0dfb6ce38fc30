//! Measuring linkage against known truth: the share of true pairs blocking keeps (pair
//! completeness), the share of all pairs it spares (reduction ratio), and the precision,
//! recall and F1 of the links made.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// How good blocking was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BlockingQuality {
    /// Pairs blocking selected.
    pub candidate_pairs: u64,
    /// Pairs there are in all.
    pub possible_pairs: u64,
    /// Pairs that are one person.
    pub true_pairs: u64,
    /// True pairs among the candidates.
    pub true_pairs_found: u64,
    /// `true_pairs_found / true_pairs`.
    pub pair_completeness: f64,
    /// `1 - candidate_pairs / possible_pairs`.
    pub reduction_ratio: f64,
}

/// How good the links were.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkQuality {
    /// Links made.
    pub links: u64,
    /// Links that are one person.
    pub true_positives: u64,
    /// Pairs that are one person.
    pub true_pairs: u64,
    /// `true_positives / links`.
    pub precision: f64,
    /// `true_positives / true_pairs`.
    pub recall: f64,
    /// The harmonic mean of precision and recall.
    pub f1: f64,
}

#[allow(clippy::cast_precision_loss)]
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Pairs that are one person among records whose true person is `entities[i]`.
pub fn true_pairs_within(entities: &[u64]) -> u64 {
    let mut sizes: HashMap<u64, u64> = HashMap::new();
    for entity in entities {
        *sizes.entry(*entity).or_default() += 1;
    }
    sizes.values().map(|n| n * (n - 1) / 2).sum()
}

/// Pairs (left, right) that are one person.
pub fn true_pairs_between(left: &[u64], right: &[u64]) -> u64 {
    let mut sizes: HashMap<u64, u64> = HashMap::new();
    for entity in right {
        *sizes.entry(*entity).or_default() += 1;
    }
    left.iter()
        .map(|e| sizes.get(e).copied().unwrap_or(0))
        .sum()
}

fn count_true(pairs: &[(u32, u32)], left: &[u64], right: &[u64]) -> u64 {
    let mut seen = HashSet::new();
    pairs
        .iter()
        .filter(|&&(a, b)| seen.insert((a, b)))
        .filter(|&&(a, b)| {
            matches!(
                (left.get(a as usize), right.get(b as usize)),
                (Some(x), Some(y)) if x == y
            )
        })
        .count() as u64
}

/// Blocking quality within one file.
pub fn blocking_quality_within(pairs: &[(u32, u32)], entities: &[u64]) -> BlockingQuality {
    let n = entities.len() as u64;
    blocking_quality(
        pairs.len() as u64,
        n * n.saturating_sub(1) / 2,
        true_pairs_within(entities),
        count_true(pairs, entities, entities),
    )
}

/// Blocking quality between two files.
pub fn blocking_quality_between(
    pairs: &[(u32, u32)],
    left: &[u64],
    right: &[u64],
) -> BlockingQuality {
    blocking_quality(
        pairs.len() as u64,
        left.len() as u64 * right.len() as u64,
        true_pairs_between(left, right),
        count_true(pairs, left, right),
    )
}

fn blocking_quality(candidates: u64, possible: u64, truth: u64, found: u64) -> BlockingQuality {
    BlockingQuality {
        candidate_pairs: candidates,
        possible_pairs: possible,
        true_pairs: truth,
        true_pairs_found: found,
        pair_completeness: ratio(found, truth),
        reduction_ratio: 1.0 - ratio(candidates, possible),
    }
}

/// Link quality within one file: `links` are pairs of record indices.
pub fn link_quality_within(links: &[(u32, u32)], entities: &[u64]) -> LinkQuality {
    link_quality(
        links.len() as u64,
        count_true(links, entities, entities),
        true_pairs_within(entities),
    )
}

/// Link quality between two files: `links` are (left, right) pairs.
pub fn link_quality_between(links: &[(u32, u32)], left: &[u64], right: &[u64]) -> LinkQuality {
    link_quality(
        links.len() as u64,
        count_true(links, left, right),
        true_pairs_between(left, right),
    )
}

fn link_quality(links: u64, true_positives: u64, true_pairs: u64) -> LinkQuality {
    let precision = ratio(true_positives, links);
    let recall = ratio(true_positives, true_pairs);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    LinkQuality {
        links,
        true_positives,
        true_pairs,
        precision,
        recall,
        f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_pairs_as_defined() {
        // Entities: 0 0 0 1 2 2 → true pairs 3 + 0 + 1 = 4; possible 15.
        let entities = [0, 0, 0, 1, 2, 2];
        assert_eq!(true_pairs_within(&entities), 4);
        let blocking = blocking_quality_within(&[(0, 1), (0, 2), (3, 4), (4, 5)], &entities);
        assert_eq!(blocking.true_pairs_found, 3);
        assert!((blocking.pair_completeness - 0.75).abs() < 1e-9);
        assert!((blocking.reduction_ratio - (1.0 - 4.0 / 15.0)).abs() < 1e-9);
        let links = link_quality_within(&[(0, 1), (3, 4)], &entities);
        assert!((links.precision - 0.5).abs() < 1e-9);
        assert!((links.recall - 0.25).abs() < 1e-9);
        assert!((links.f1 - 2.0 * 0.5 * 0.25 / 0.75).abs() < 1e-9);
        let between = link_quality_between(&[(0, 0), (1, 1)], &[7, 8], &[7, 9]);
        assert_eq!((between.true_positives, between.true_pairs), (1, 1));
    }
}
