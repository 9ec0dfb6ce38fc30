//! Drawing from the seeded generator in ways that give the same values on every platform:
//! ranges go through `u32` (never `usize`, whose width differs), weights are integers.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The generator every draw uses: ChaCha8, seeded, stable across platforms and releases.
pub(super) type Seeded = ChaCha8Rng;

/// A number in `0..n`; `n` must be positive and below 2^32.
pub(super) fn below(rng: &mut Seeded, n: usize) -> usize {
    let n = u32::try_from(n).expect("a table of fewer than 2^32 entries");
    rng.gen_range(0..n) as usize
}

/// A number in `low..=high`.
pub(super) fn between(rng: &mut Seeded, low: u32, high: u32) -> u32 {
    rng.gen_range(low..=high)
}

/// True with probability `p`.
pub(super) fn chance(rng: &mut Seeded, p: f64) -> bool {
    rng.r#gen::<f64>() < p
}

/// One element of a non-empty slice, uniformly.
pub(super) fn one<'a, T>(rng: &mut Seeded, items: &'a [T]) -> &'a T {
    &items[below(rng, items.len())]
}

/// An index into `weights`, each index with a chance proportional to its weight (a linear
/// scan: for the small tables).
pub(super) fn weighted_index(rng: &mut Seeded, weights: &[u32]) -> usize {
    weighted_by(rng, weights, |weight| *weight)
}

/// An index into `items`, each with a chance proportional to `weight(item)`; the total must
/// be positive.
pub(super) fn weighted_by<T>(rng: &mut Seeded, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
    let total: u32 = items.iter().map(&weight).sum();
    let mut ticket = rng.gen_range(0..total);
    for (index, item) in items.iter().enumerate() {
        let weight = weight(item);
        if ticket < weight {
            return index;
        }
        ticket -= weight;
    }
    items.len() - 1
}

/// One item of a `(item, weight)` table.
pub(super) fn weighted<'a, T>(rng: &mut Seeded, table: &'a [(T, u32)]) -> &'a T {
    let total: u32 = table.iter().map(|(_, weight)| weight).sum();
    let mut ticket = rng.gen_range(0..total);
    for (item, weight) in table {
        if ticket < *weight {
            return item;
        }
        ticket -= weight;
    }
    &table[table.len() - 1].0
}

/// A cumulative table for drawing an index by weight in logarithmic time (the long tables:
/// names, streets, localities).
#[derive(Debug, Clone)]
pub(super) struct Cumulative {
    ends: Vec<u32>,
}

impl Cumulative {
    /// The table of these weights; at least one must be positive.
    pub(super) fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0_u32;
        let ends = weights
            .into_iter()
            .map(|weight| {
                total += weight;
                total
            })
            .collect();
        Cumulative { ends }
    }

    /// Zipf-like weights for a list ordered from the most to the least common: rank `r`
    /// (from 0) weighs `1 / (r + 4)`, so the first entry is 1.5 times as common as the third
    /// and 5 times as common as the seventeenth.
    pub(super) fn zipf(len: usize) -> Self {
        Cumulative::new((0..len).map(|rank| {
            let rank = u32::try_from(rank).expect("a short table");
            (1 << 20) / (rank + 4)
        }))
    }

    /// An index, by weight.
    pub(super) fn draw(&self, rng: &mut Seeded) -> usize {
        let total = self.ends.last().copied().unwrap_or(0);
        let ticket = rng.gen_range(0..total.max(1));
        self.ends.partition_point(|&end| end <= ticket)
    }
}
