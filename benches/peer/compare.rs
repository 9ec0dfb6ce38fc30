//! How a workload's arms are measured side by side: each arm is one criterion function in the
//! workload's group (time per iteration and throughput), then all arms run in alternating
//! rounds, the starting arm rotating, so drift and other load fall on every arm alike; the
//! `RESULT` line gives each arm's median rate and the `RATIO` lines the median of the per-round
//! ratios (with their spread) against the targets.

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};

/// One arm of a workload: `run(iterations)` does that many iterations, timing only the part
/// under test (preparing whatever it needs first, untimed), and returns the time they took.
pub(crate) struct Arm<'a> {
    /// The arm's name in criterion's output and in the `RESULT` line.
    pub(crate) name: &'static str,
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

impl<'a> Arm<'a> {
    /// An arm named `name`.
    pub(crate) fn new(name: &'static str, run: impl FnMut(u64) -> Duration + 'a) -> Self {
        Self {
            name,
            run: Box::new(run),
        }
    }
}

/// A ratio the workload reports: `ours` ÷ `versus`, judged against `target` when there is one.
pub(crate) struct Ratio {
    /// The numerator arm.
    pub(crate) ours: &'static str,
    /// The denominator arm.
    pub(crate) versus: &'static str,
    /// At least this, or `None` for a reference figure.
    pub(crate) target: Option<f64>,
}

/// `ours ÷ versus` with a target.
pub(crate) fn target(ours: &'static str, versus: &'static str, at_least: f64) -> Ratio {
    Ratio {
        ours,
        versus,
        target: Some(at_least),
    }
}

/// `ours ÷ versus` for reference.
pub(crate) fn reference(ours: &'static str, versus: &'static str) -> Ratio {
    Ratio {
        ours,
        versus,
        target: None,
    }
}

/// What one workload measures and how.
pub(crate) struct Workload<'a> {
    /// The criterion group's name (what the command line's filter matches).
    pub(crate) name: &'static str,
    /// What an element is, for the `RESULT` line ("commands", "events").
    pub(crate) unit: &'static str,
    /// Elements per iteration (100 for a batch of 100, N for a read of N).
    pub(crate) elements: u64,
    /// Iterations per arm per round.
    pub(crate) per_round: u64,
    /// Rounds of all arms.
    pub(crate) rounds: usize,
    /// Changes to the group's settings (sample size, times, sampling mode).
    pub(crate) configure: &'a dyn Fn(&mut BenchmarkGroup<'_, WallTime>),
}

/// Measures `arms` with criterion, then in alternating rounds, and prints the `RESULT` and
/// `RATIO` lines.
pub(crate) fn measure(
    criterion: &mut Criterion,
    workload: &Workload<'_>,
    arms: &mut [Arm<'_>],
    ratios: &[Ratio],
) {
    let mut group = criterion.benchmark_group(workload.name);
    group.throughput(Throughput::Elements(workload.elements));
    (workload.configure)(&mut group);
    for arm in arms.iter_mut() {
        group.bench_function(arm.name, |bencher| bencher.iter_custom(&mut arm.run));
    }
    group.finish();

    let rounds = workload.rounds.max(1);
    let mut rates = vec![Vec::with_capacity(rounds); arms.len()];
    for round in 0..rounds {
        for turn in 0..arms.len() {
            let index = (round + turn) % arms.len();
            let elapsed = (arms[index].run)(workload.per_round);
            #[allow(clippy::cast_precision_loss)]
            let elements = (workload.per_round * workload.elements) as f64;
            rates[index].push(elements / elapsed.as_secs_f64().max(f64::MIN_POSITIVE));
        }
    }
    let index_of = |name: &str| {
        arms.iter()
            .position(|arm| arm.name == name)
            .unwrap_or_else(|| panic!("no arm named {name}"))
    };
    let medians: Vec<String> = arms
        .iter()
        .zip(&rates)
        .map(|(arm, rates)| format!("{} {:.0}", arm.name, median(&mut rates.clone())))
        .collect();
    println!(
        "RESULT {} ({}/s, median of {rounds} rounds): {}",
        workload.name,
        workload.unit,
        medians.join(", ")
    );
    for ratio in ratios {
        let (ours, versus) = (&rates[index_of(ratio.ours)], &rates[index_of(ratio.versus)]);
        let mut per_round: Vec<f64> = ours.iter().zip(versus).map(|(a, b)| a / b).collect();
        let low = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let high = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let value = median(&mut per_round);
        let verdict = match ratio.target {
            Some(at_least) if value >= at_least => format!("target >= {at_least:.2}: PASS"),
            Some(at_least) => format!("target >= {at_least:.2}: MISS"),
            None => "reference".to_owned(),
        };
        println!(
            "RATIO {} {} / {}: {value:.2} (rounds {low:.2}..{high:.2}), {verdict}",
            workload.name, ratio.ours, ratio.versus
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
