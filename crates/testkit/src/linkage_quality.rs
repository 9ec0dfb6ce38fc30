//! Measuring identity resolution on generated people: the pipeline a data steward would run
//! (normalize, block, learn the model without labels, link), and its quality against the
//! generator's ground truth.
//!
//! The model is learned from the records alone — `u` from random pairs, `m` and the prior by
//! expectation maximisation over the blocked pairs — and pairs are linked at the model's own
//! auto-link threshold. The truth is only used to count: nothing is tuned on it.

use std::time::{Duration, Instant};

use crm_domain::identity::linkage::evaluate::{
    BlockingQuality, LinkQuality, blocking_quality_between, blocking_quality_within,
    link_quality_between, link_quality_within,
};
use crm_domain::identity::linkage::{
    BlockingPass, BlockingSettings, CandidatePairs, ComparisonVector, EmSettings, LinkageModel,
    NameFrequencies, PassSample, PersonDetails, PersonRecord, candidate_links, candidate_pairs,
    compare, estimate_by_passes, estimate_u, random_pairs, with_u,
};
use crm_domain::identity::{CountryCode, MatchVerdict};

use crate::people::GeneratedPerson;

/// How a run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Blocking.
    pub blocking: BlockingSettings,
    /// Random pairs drawn to learn `u`.
    pub u_pairs: usize,
    /// The seed of the random pairs.
    pub seed: u64,
    /// Expectation maximisation.
    pub em: EmSettings,
    /// Where learning starts; its thresholds decide the links.
    pub start: LinkageModel,
    /// The passes whose pairs teach `m`: passes on identifiers of one person (a birth date,
    /// a national id, an email address), not on what a household shares (an address, a
    /// landline), whose pairs of relatives would teach what a household looks like.
    pub training_passes: Vec<BlockingPass>,
    /// Pairs of one training pass used at most (taken evenly from all of them).
    pub max_training_pairs: usize,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            blocking: BlockingSettings::default(),
            u_pairs: 200_000,
            seed: 17,
            em: EmSettings::default(),
            start: LinkageModel::default(),
            training_passes: vec![
                BlockingPass::DateOfBirth,
                BlockingPass::NationalId,
                BlockingPass::Email,
            ],
            max_training_pairs: 300_000,
        }
    }
}

/// What a run found, and how long each step took.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityReport {
    /// Records in all (both files for linkage).
    pub records: usize,
    /// Blocking's pair completeness and reduction ratio.
    pub blocking: BlockingQuality,
    /// Blocks passed over for their size.
    pub oversized_blocks: usize,
    /// The learned model.
    pub model: LinkageModel,
    /// Rounds of expectation maximisation, and whether it settled.
    pub em_iterations: usize,
    /// Whether expectation maximisation settled.
    pub em_converged: bool,
    /// Links at the model's auto-link threshold, exact agreements on common names weakened
    /// by their frequency ([`NameFrequencies`]).
    pub at_auto_link: LinkQuality,
    /// Links at the auto-link threshold without the frequency adjustment (the model alone).
    pub at_auto_link_unadjusted: LinkQuality,
    /// Links at the model's review threshold (what auto-link plus review would find).
    pub at_review: LinkQuality,
    /// Normalizing, blocking, learning and scoring times.
    pub timings: Timings,
}

/// How long each step took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timings {
    /// Normalizing the records.
    pub normalize: Duration,
    /// Blocking.
    pub block: Duration,
    /// Comparing the candidate pairs.
    pub compare: Duration,
    /// Learning `u` and running expectation maximisation.
    pub learn: Duration,
    /// Scoring and linking.
    pub link: Duration,
}

/// A generated record as typed details.
pub fn details_of(person: &GeneratedPerson) -> PersonDetails {
    PersonDetails {
        given_name: person.given_name.clone(),
        family_name: person.family_name.clone(),
        date_of_birth: person.date_of_birth.clone(),
        street_number: person.street_number.clone(),
        street: person.street.clone(),
        locality: person.locality.clone(),
        postcode: person.postcode.clone(),
        region: person.region.clone(),
        country: person.country.clone(),
        national_ids: person.national_id.iter().cloned().collect(),
        emails: person.email.iter().cloned().collect(),
        phones: person.phone.iter().cloned().collect(),
        company: person.company.clone(),
    }
}

fn normalized(people: &[GeneratedPerson]) -> Vec<PersonRecord> {
    let fallback = CountryCode::new("GB").unwrap_or_else(|_| unreachable!("GB is a country"));
    people
        .iter()
        .map(|person| PersonRecord::normalize(&details_of(person), fallback).0)
        .collect()
}

struct Scored {
    vectors: Vec<ComparisonVector>,
    model: LinkageModel,
    iterations: usize,
    converged: bool,
}

/// Learns `u` from random pairs and `m` pass by pass (see [`estimate_by_passes`]).
fn learn(
    records: &[PersonRecord],
    vectors: Vec<ComparisonVector>,
    training: &[(BlockingPass, Vec<ComparisonVector>)],
    settings: &RunSettings,
) -> Scored {
    let u = estimate_u(
        records,
        &random_pairs(records.len(), settings.u_pairs, settings.seed),
    );
    let start = with_u(&settings.start, &u);
    let samples: Vec<PassSample<'_>> = training
        .iter()
        .map(|(pass, vectors)| PassSample {
            excluded: pass.fields(),
            vectors,
        })
        .collect();
    match estimate_by_passes(&samples, &vectors, &start, &settings.em) {
        Ok(estimate) => Scored {
            vectors,
            model: estimate.model,
            iterations: estimate.iterations,
            converged: estimate.converged,
        },
        // The start model is the caller's: an invalid one is scored as it is.
        Err(_) => Scored {
            vectors,
            model: start,
            iterations: 0,
            converged: false,
        },
    }
}

/// At most `limit` pairs, taken evenly.
fn thinned(pairs: Vec<(u32, u32)>, limit: usize) -> Vec<(u32, u32)> {
    if pairs.len() <= limit || limit == 0 {
        return pairs;
    }
    let step = pairs.len().div_ceil(limit);
    pairs.into_iter().step_by(step).collect()
}

/// The training passes' pairs, compared.
fn training_vectors(
    settings: &RunSettings,
    pairs_of: impl Fn(&BlockingSettings) -> Vec<(u32, u32)>,
    compare_pair: impl Fn(u32, u32) -> ComparisonVector,
) -> Vec<(BlockingPass, Vec<ComparisonVector>)> {
    settings
        .training_passes
        .iter()
        .map(|&pass| {
            let only = BlockingSettings {
                passes: vec![pass],
                window: 0,
                ..settings.blocking.clone()
            };
            let pairs = thinned(pairs_of(&only), settings.max_training_pairs);
            (
                pass,
                pairs.iter().map(|&(a, b)| compare_pair(a, b)).collect(),
            )
        })
        .collect()
}

/// The pairs given at least `verdict` (auto-link, or review and better).
/// The pairs the model decides `verdict` or better for; with `frequencies`, exact agreements
/// on common names weakened by them.
fn links_at(
    scored: &Scored,
    sides: &Sides<'_>,
    pairs: &[(u32, u32)],
    verdict: MatchVerdict,
    frequencies: Option<&NameFrequencies>,
) -> Vec<(u32, u32)> {
    pairs
        .iter()
        .zip(&scored.vectors)
        .filter(|(pair, vector)| {
            let decided = match frequencies {
                Some(frequencies) => {
                    let (a, b) = sides.records(pair.0, pair.1);
                    let adjustment = frequencies.adjustment(&scored.model, a, b, vector);
                    scored.model.decide_adjusted(vector, adjustment)
                }
                None => scored.model.decide(vector),
            };
            matches!(
                (decided, verdict),
                (MatchVerdict::AutoLink, _) | (MatchVerdict::Review, MatchVerdict::Review)
            )
        })
        .map(|(pair, _)| *pair)
        .collect()
}

/// One file against itself (`right` is `left`), or two files.
struct Sides<'a> {
    left: &'a [PersonRecord],
    right: &'a [PersonRecord],
    left_entities: Vec<u64>,
    right_entities: Vec<u64>,
    within: bool,
}

impl Sides<'_> {
    fn pairs(&self, blocking: &BlockingSettings) -> CandidatePairs {
        if self.within {
            candidate_pairs(self.left, blocking)
        } else {
            candidate_links(self.left, self.right, blocking)
        }
    }

    fn compare(&self, a: u32, b: u32) -> ComparisonVector {
        let (a, b) = self.records(a, b);
        compare(a, b)
    }

    fn records(&self, a: u32, b: u32) -> (&PersonRecord, &PersonRecord) {
        (&self.left[a as usize], &self.right[b as usize])
    }

    fn blocking_quality(&self, pairs: &[(u32, u32)]) -> BlockingQuality {
        if self.within {
            blocking_quality_within(pairs, &self.left_entities)
        } else {
            blocking_quality_between(pairs, &self.left_entities, &self.right_entities)
        }
    }

    fn link_quality(&self, links: &[(u32, u32)]) -> LinkQuality {
        if self.within {
            link_quality_within(links, &self.left_entities)
        } else {
            link_quality_between(links, &self.left_entities, &self.right_entities)
        }
    }
}

/// Every pair compared, in order, on every core: the pairs are cut into one run per core and
/// the runs' vectors put back together in their order, so the result is the one a single loop
/// gives.
fn compare_all(sides: &Sides<'_>, pairs: &[(u32, u32)]) -> Vec<ComparisonVector> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let run = pairs.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let runs: Vec<_> = pairs
            .chunks(run)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&(a, b)| sides.compare(a, b))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut vectors = Vec::with_capacity(pairs.len());
        for run in runs {
            // A comparison does not panic; if one did, the run reports it as the panic it is.
            match run.join() {
                Ok(compared) => vectors.extend(compared),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        vectors
    })
}

/// Blocks, compares, learns and links, timing each step.
fn run(
    sides: &Sides<'_>,
    all: &[PersonRecord],
    settings: &RunSettings,
    mut timings: Timings,
) -> QualityReport {
    let started = Instant::now();
    let candidates = sides.pairs(&settings.blocking);
    timings.block = started.elapsed();

    let started = Instant::now();
    let vectors = compare_all(sides, &candidates.pairs);
    timings.compare = started.elapsed();

    let started = Instant::now();
    let training = training_vectors(
        settings,
        |only| sides.pairs(only).pairs,
        |a, b| sides.compare(a, b),
    );
    let scored = learn(all, vectors, &training, settings);
    timings.learn = started.elapsed();

    let started = Instant::now();
    let frequencies = NameFrequencies::of(all);
    let links = |verdict, frequencies| {
        sides.link_quality(&links_at(
            &scored,
            sides,
            &candidates.pairs,
            verdict,
            frequencies,
        ))
    };
    let at_auto_link = links(MatchVerdict::AutoLink, Some(&frequencies));
    let at_auto_link_unadjusted = links(MatchVerdict::AutoLink, None);
    let at_review = links(MatchVerdict::Review, None);
    timings.link = started.elapsed();
    QualityReport {
        records: if sides.within {
            sides.left.len()
        } else {
            sides.left.len() + sides.right.len()
        },
        blocking: sides.blocking_quality(&candidates.pairs),
        oversized_blocks: candidates.oversized_blocks,
        model: scored.model,
        em_iterations: scored.iterations,
        em_converged: scored.converged,
        at_auto_link,
        at_auto_link_unadjusted,
        at_review,
        timings,
    }
}

/// Deduplicates one file and measures it.
pub fn deduplicate(people: &[GeneratedPerson], settings: &RunSettings) -> QualityReport {
    let started = Instant::now();
    let records = normalized(people);
    let timings = Timings {
        normalize: started.elapsed(),
        ..Timings::default()
    };
    let entities: Vec<u64> = people.iter().map(|p| p.entity).collect();
    let sides = Sides {
        left: &records,
        right: &records,
        left_entities: entities.clone(),
        right_entities: entities,
        within: true,
    };
    run(&sides, &records, settings, timings)
}

/// Links two files and measures it.
pub fn link(
    left: &[GeneratedPerson],
    right: &[GeneratedPerson],
    settings: &RunSettings,
) -> QualityReport {
    let started = Instant::now();
    let left_records = normalized(left);
    let right_records = normalized(right);
    let timings = Timings {
        normalize: started.elapsed(),
        ..Timings::default()
    };
    let mut all = left_records.clone();
    all.extend(right_records.iter().cloned());
    let sides = Sides {
        left: &left_records,
        right: &right_records,
        left_entities: left.iter().map(|p| p.entity).collect(),
        right_entities: right.iter().map(|p| p.entity).collect(),
        within: false,
    };
    run(&sides, &all, settings, timings)
}

impl QualityReport {
    /// The report as a few lines of text.
    pub fn summary(&self) -> String {
        let line = |name: &str, q: &LinkQuality| {
            format!(
                "{name}: links {} precision {:.4} recall {:.4} F1 {:.4}",
                q.links, q.precision, q.recall, q.f1
            )
        };
        format!(
            "records {}; blocking: {} candidate pairs, pair completeness {:.4}, reduction ratio {:.6}, {} oversized blocks; EM {} rounds (settled: {}), prior {:.5}\n{}\n{}\n{}\ntimes: normalize {:?}, block {:?}, compare {:?}, learn {:?}, link {:?}",
            self.records,
            self.blocking.candidate_pairs,
            self.blocking.pair_completeness,
            self.blocking.reduction_ratio,
            self.oversized_blocks,
            self.em_iterations,
            self.em_converged,
            self.model.prior,
            line("auto-link", &self.at_auto_link),
            line(
                "auto-link without the name frequencies",
                &self.at_auto_link_unadjusted
            ),
            line("review or better", &self.at_review),
            self.timings.normalize,
            self.timings.block,
            self.timings.compare,
            self.timings.learn,
            self.timings.link,
        )
    }
}
