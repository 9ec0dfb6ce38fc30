//! The cost of comparing two people: the comparison vector of a candidate pair (every field's
//! comparator) and its match weight under the default model. Pairs are the ones blocking selects
//! among 20,000 generated people (crm-testkit `people`, seed 5), so they are as alike as the
//! pairs a lookup or a linkage run weighs: the same names, near addresses, shared birth years.
//!
//! Run: `cargo bench -p crm-benches --bench comparison`. Figures: docs/PERFORMANCE.md,
//! "Identity resolution".

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crm_domain::identity::CountryCode;
use crm_domain::identity::linkage::{
    BlockingSettings, LinkageModel, PersonRecord, candidate_pairs, compare,
};
use crm_testkit::linkage_quality::details_of;
use crm_testkit::people::{GeneratorSettings, generate};

/// How many candidate pairs one iteration compares.
const PAIRS: usize = 10_000;

fn records() -> Vec<PersonRecord> {
    let gb = CountryCode::new("GB").expect("GB is a country");
    generate(&GeneratorSettings::dedup(20_000, 5))
        .iter()
        .map(|person| PersonRecord::normalize(&details_of(person), gb).0)
        .collect()
}

fn comparison(c: &mut Criterion) {
    let records = records();
    let all = candidate_pairs(&records, &BlockingSettings::default()).pairs;
    // An even spread over every block, not the first blocks' pairs only.
    let step = (all.len() / PAIRS).max(1);
    let pairs: Vec<(&PersonRecord, &PersonRecord)> = all
        .iter()
        .step_by(step)
        .take(PAIRS)
        .map(|&(a, b)| (&records[a as usize], &records[b as usize]))
        .collect();
    let model = LinkageModel::default();

    let mut group = c.benchmark_group("comparison");
    group.throughput(Throughput::Elements(pairs.len() as u64));
    group.bench_function("compare", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(compare(black_box(x), black_box(y)));
            }
        });
    });
    group.bench_function("compare_and_weigh", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for (x, y) in &pairs {
                total += model.match_weight(&compare(x, y));
            }
            black_box(total)
        });
    });
    group.finish();
}

criterion_group!(benches, comparison);
criterion_main!(benches);
