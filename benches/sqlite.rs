//! The event store on SQLite, against the targets of issue 16 (figures in
//! docs/PERFORMANCE.md), each on its own fresh file in the system's temporary directory:
//!
//! - `sqlite_batch_append_100`: 100 events per call, one writer (target >= 100,000 events/s);
//! - `sqlite_single_append`: one event per call, one writer, each call durable before the next
//!   (`synchronous=FULL`; target >= 5,000 appends/s);
//! - `sqlite_read_all`: the whole tenant in global order, in pages of 1,000, decoded into
//!   events (target >= 500,000 events/s).
//!
//! Run with `cargo bench -p crm-benches --bench sqlite` (no server needed). Criterion prints
//! each part's time per call and throughput; the `RESULT` lines give the median rate of
//! several rounds against the target.

#[allow(
    dead_code,
    reason = "the PostgreSQL helpers of the shared support module are not used here"
)]
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, NewEvent, SqliteStore, StoreSettings,
};
use tokio::runtime::Runtime;

use support::{lead_events, selected, stream, tenant};

/// A bench: its name (what the command line's filter matches) and how to run it.
type Bench = (&'static str, fn(&mut Criterion, &Runtime));

const BATCH: usize = 100;

fn main() {
    let runtime = support::runtime();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let benches: [Bench; 3] = [
        ("sqlite_batch_append_100", batch_append),
        ("sqlite_single_append", single_append),
        ("sqlite_read_all", read_all),
    ];
    for (name, bench) in benches {
        if selected(name) {
            bench(&mut criterion, &runtime);
        }
    }
    criterion.final_summary();
}

/// A fresh store in a fresh directory (removed when the guard drops).
fn fresh_store() -> (tempfile::TempDir, SqliteStore) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database =
        SqliteDatabase::open(directory.path().join("bench.db")).expect("open the SQLite file");
    let store = SqliteStore::open(database, StoreSettings::default()).expect("migrate the store");
    (directory, store)
}

fn rate(units: u64, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let units = units as f64;
    units / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// The median of `rounds` rates, each from one call of `round` (units done, time taken),
/// printed against `target` as one greppable line.
fn report_rounds(
    name: &str,
    unit: &str,
    target: f64,
    rounds: usize,
    mut round: impl FnMut() -> (u64, Duration),
) {
    let mut rates: Vec<f64> = (0..rounds)
        .map(|_| {
            let (units, elapsed) = round();
            rate(units, elapsed)
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN);
    let (low, high) = (
        rates.first().copied().unwrap_or(f64::NAN),
        rates.last().copied().unwrap_or(f64::NAN),
    );
    let verdict = if median >= target { "PASS" } else { "MISS" };
    println!(
        "RESULT {name}: {median:.0} {unit}/s (rounds {low:.0}..{high:.0}), \
         target >= {target:.0}: {verdict}"
    );
}

fn batch_append(criterion: &mut Criterion, runtime: &Runtime) {
    let (_directory, store) = fresh_store();
    let mut next_stream = 0;
    let mut round = |batches: u64| {
        let batches: Vec<Vec<NewEvent>> = (0..batches).map(|_| lead_events(0, BATCH)).collect();
        let first = next_stream;
        next_stream += batches.len();
        runtime.block_on(async {
            let started = Instant::now();
            for (number, batch) in (first..).zip(&batches) {
                store
                    .append(
                        &tenant(),
                        &stream("batch", number),
                        ExpectedVersion::NoStream,
                        batch,
                    )
                    .await
                    .expect("append a batch");
            }
            started.elapsed()
        })
    };
    let mut group = criterion.benchmark_group("sqlite_batch_append_100");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("store_append", |bencher| bencher.iter_custom(&mut round));
    group.finish();
    let per_round = 50;
    report_rounds(
        "sqlite batch append, 100 events per call, 1 writer",
        "events",
        100_000.0,
        8,
        || (per_round * BATCH as u64, round(per_round)),
    );
}

fn single_append(criterion: &mut Criterion, runtime: &Runtime) {
    let (_directory, store) = fresh_store();
    let mut next_stream = 0;
    let mut round = |appends: u64| {
        let events: Vec<NewEvent> = (0..appends)
            .flat_map(|number| lead_events(number, 1))
            .collect();
        let first = next_stream;
        next_stream += events.len();
        runtime.block_on(async {
            let started = Instant::now();
            for (number, event) in (first..).zip(&events) {
                store
                    .append(
                        &tenant(),
                        &stream("single", number),
                        ExpectedVersion::NoStream,
                        std::slice::from_ref(event),
                    )
                    .await
                    .expect("append one event");
            }
            started.elapsed()
        })
    };
    let mut group = criterion.benchmark_group("sqlite_single_append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("store_append", |bencher| bencher.iter_custom(&mut round));
    group.finish();
    let per_round = 2_000;
    report_rounds(
        "sqlite single append, 1 event per call, 1 writer",
        "appends",
        5_000.0,
        6,
        || (per_round, round(per_round)),
    );
}

fn read_all(criterion: &mut Criterion, runtime: &Runtime) {
    const EVENTS: usize = 200_000;
    let (_directory, store) = fresh_store();
    runtime.block_on(async {
        for number in 0..EVENTS / 1_000 {
            store
                .append(
                    &tenant(),
                    &stream("read", number),
                    ExpectedVersion::NoStream,
                    &lead_events(0, 1_000),
                )
                .await
                .expect("fill the store");
        }
    });
    let read_everything = || {
        runtime.block_on(async {
            let started = Instant::now();
            let mut after = GlobalPosition::START;
            let mut read = 0_u64;
            loop {
                let page = store
                    .read_all(&tenant(), after, 1_000)
                    .await
                    .expect("read a page");
                if page.is_empty() {
                    break;
                }
                read += page.len() as u64;
                after = page.next;
            }
            assert_eq!(read, EVENTS as u64, "every event is read");
            (read, started.elapsed())
        })
    };
    let mut group = criterion.benchmark_group("sqlite_read_all");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("store_read_all", |bencher| {
        bencher.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| read_everything().1)
                .sum::<Duration>()
        });
    });
    group.finish();
    report_rounds(
        "sqlite read all, pages of 1,000, 200,000 events",
        "events",
        500_000.0,
        5,
        read_everything,
    );
}
