//! Sizes from the environment, percentiles, and the plain-text report every measurement
//! prints (the figures that go to docs/PERFORMANCE.md).

use std::time::Duration;

/// Reads a size from the environment, `default` when unset or unreadable.
pub(crate) fn env_size(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value.replace('_', "").parse().unwrap_or_else(|_| {
            eprintln!("{name}={value:?} is not a number: using {default}");
            default
        }),
        Err(_) => default,
    }
}

/// Whether the part `name` should run: all parts unless `PROJ_BENCH_ONLY` lists some
/// (comma-separated: fold, memory, rebuild, lag, queries, accounts).
pub(crate) fn wanted(name: &str) -> bool {
    std::env::var("PROJ_BENCH_ONLY")
        .map_or(true, |only| only.split(',').any(|part| part.trim() == name))
}

/// Events (or rows) per second.
pub(crate) fn rate(count: usize, elapsed: Duration) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let count = count as f64;
    count / elapsed.as_secs_f64().max(1e-9)
}

/// The machine's load averages, as `uptime` shows them.
pub(crate) fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

/// Prints one line of the report, prefixed so the figures are easy to grep from the output.
pub(crate) fn line(text: &str) {
    println!("[projections] {text}");
}

/// `PASS` or `MISS`.
pub(crate) fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// The `percent`-th percentile of `sorted` timings (nearest rank); zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank between 1 and the number of timings"
    )]
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p99 and max of single timings, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quantiles {
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The slowest.
    pub max: f64,
}

impl Quantiles {
    /// The quantiles of `timings` (sorted here).
    pub(crate) fn of(timings: &mut [Duration]) -> Self {
        timings.sort_unstable();
        let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
        Self {
            p50: millis(percentile(timings, 50.0)),
            p99: millis(percentile(timings, 99.0)),
            max: millis(timings.last().copied().unwrap_or_default()),
        }
    }
}

impl std::fmt::Display for Quantiles {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.p50, self.p99, self.max
        )
    }
}

/// Applies `events` to `store` in batches of `batch`, as a projector would.
pub(crate) async fn apply_in_batches<M, S>(
    store: &S,
    events: &[crm_projections::ProjectedEvent],
    batch: usize,
) where
    M: crm_projections::ReadModel,
    S: crm_projections::DocumentStore<M>,
{
    let tenant = crate::rebuild::bench_tenant();
    let mut checkpoint = None;
    for chunk in events.chunks(batch.max(1)) {
        let Some(last) = chunk.last() else {
            continue;
        };
        let through = last.global_position();
        store
            .commit(
                &tenant,
                checkpoint,
                &crm_projections::ProjectionBatch::new(chunk.to_vec(), through),
            )
            .await
            .expect("the batch commits");
        checkpoint = Some(through);
    }
}
