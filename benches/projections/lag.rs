//! Asynchronous projectors of all four read models, in PostgreSQL, while a load generator
//! appends the next part of a generated history at a steady rate: each projector's `Lag`
//! (events behind, seconds behind) sampled every 100 ms, reported as p99 and max.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, NewEvent, PostgresStore, StreamId,
};
use crm_projections::customer360::Customer360Model;
use crm_projections::duplicates::DuplicateQueueModel;
use crm_projections::pipeline::PipelineModel;
use crm_projections::sla::SlaModel;
use crm_projections::{
    Lag, PostgresDocuments, Projector, ProjectorHandle, ProjectorOptions, ProjectorStatus,
    ReadModel,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::history::{History, customers_for, sla_config};
use crate::rebuild::{bench_tenant, load_history, stored_events, url, writer_of};
use crate::report::{env_size, line, load, percentile, rate, verdict};
use crate::support::BenchDatabase;

/// How often the lag is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// What the samplers do: wait, sample, or stop and hand back their samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Sampling,
    Stopped,
}

/// One sample of a projector's lag.
#[derive(Debug, Clone, Copy)]
struct Sample {
    behind: Duration,
    events: u64,
    held: bool,
}

/// One model's projector, running, with its sampler.
struct Running {
    table: String,
    handle: ProjectorHandle,
    sampler: JoinHandle<Vec<Sample>>,
    caught_up_after: Duration,
}

async fn sample<M>(
    store: PostgresStore,
    documents: Arc<PostgresDocuments<M>>,
    status: watch::Receiver<ProjectorStatus>,
    mut phase: watch::Receiver<Phase>,
) -> Vec<Sample>
where
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    let mut samples = Vec::new();
    if phase
        .wait_for(|phase| *phase != Phase::Waiting)
        .await
        .is_err()
    {
        return samples;
    }
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let tenant = bench_tenant();
    while *phase.borrow() == Phase::Sampling {
        every.tick().await;
        let checkpoint = status.borrow().checkpoint;
        let lag = Lag::measure_postgres(&store, &*documents, &tenant, checkpoint, Utc::now())
            .await
            .expect("the lag is measured");
        samples.push(Sample {
            behind: lag.behind,
            events: lag.events_behind,
            held: lag.held_by.is_some(),
        });
    }
    samples
}

async fn start<M>(
    store: &PostgresStore,
    url: &str,
    model: M,
    options: ProjectorOptions,
    phase: &watch::Receiver<Phase>,
) -> Running
where
    M: ReadModel + Send + Sync + 'static,
    M::Doc: Send + Sync,
{
    let documents = Arc::new(
        PostgresDocuments::connect(url, 2, model)
            .await
            .expect("the read model's table is made"),
    );
    let mut projector: Projector<_, _, M> = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        bench_tenant(),
        options,
    );
    let started = Instant::now();
    projector
        .catch_up()
        .await
        .expect("the projector catches up on the preloaded history");
    let caught_up_after = started.elapsed();
    let handle = projector.spawn();
    let sampler = tokio::spawn(sample(
        store.clone(),
        Arc::clone(&documents),
        handle.watch(),
        phase.clone(),
    ));
    Running {
        table: documents.table().to_owned(),
        handle,
        sampler,
        caught_up_after,
    }
}

/// What the load generator did.
struct Generated {
    events: usize,
    elapsed: Duration,
    /// The last event appended in the global order.
    head: GlobalPosition,
}

/// Appends `commands` at `per_second` events per second (each command its own append, as
/// the application's commands commit) from `writers` connections, a stream always on the
/// same writer, until `duration` has passed or the commands run out.
async fn generate(
    store: &PostgresStore,
    commands: Vec<(usize, StreamId, Vec<NewEvent>)>,
    per_second: u64,
    duration: Duration,
    writers: usize,
) -> Generated {
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (sender, mut receiver) = mpsc::channel::<(StreamId, Vec<NewEvent>)>(4_096);
        senders.push(sender);
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let tenant = bench_tenant();
            let mut events = 0;
            let mut head = GlobalPosition::START;
            while let Some((stream, batch)) = receiver.recv().await {
                let appended = store
                    .append(&tenant, &stream, ExpectedVersion::Any, &batch)
                    .await
                    .expect("the load generator appends");
                events += batch.len();
                if let Some(last) = appended.events.last() {
                    head = head.max(last.position);
                }
            }
            (events, head)
        }));
    }
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut commands = commands.into_iter().peekable();
    let mut sent = 0u64;
    #[expect(clippy::cast_precision_loss, reason = "a rate far below 2^52")]
    let per_second = per_second as f64;
    while started.elapsed() < duration && commands.peek().is_some() {
        tick.tick().await;
        let due = per_second * started.elapsed().as_secs_f64();
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        while (sent as f64) < due {
            let Some((writer, stream, batch)) = commands.next() else {
                break;
            };
            sent += batch.len() as u64;
            senders[writer]
                .send((stream, batch))
                .await
                .expect("the writer runs");
        }
    }
    drop(senders);
    let mut events = 0;
    let mut head = GlobalPosition::START;
    for task in tasks {
        let (written, last) = task.await.expect("the writer ends");
        events += written;
        head = head.max(last);
    }
    Generated {
        events,
        elapsed: started.elapsed(),
        head,
    }
}

async fn measure(per_second: u64, seconds: u64, preload: u64, writers: usize) {
    let duration = Duration::from_secs(seconds);
    let wanted = preload + per_second * seconds * 11 / 10;
    let history = History::generate(0, customers_for(wanted));
    let mut preloaded_events = 0;
    let split = history
        .appends
        .iter()
        .position(|append| {
            preloaded_events += append.events.len() as u64;
            preloaded_events > preload
        })
        .unwrap_or(history.appends.len());
    let (before, during) = history.appends.split_at(split);
    let database = BenchDatabase::create("proj_lag").await;
    let store = database.store(writers + 4).await;
    let url = url(&database).await;
    let preloaded = load_history(&store, &bench_tenant(), before, 4).await;
    database
        .client()
        .await
        .batch_execute("VACUUM ANALYZE events")
        .await
        .expect("analyse the loaded events");
    let commands: Vec<_> = during
        .iter()
        .map(|append| {
            let (stream, events) = stored_events(append);
            (writer_of(append, writers), stream, events)
        })
        .collect();

    let options = ProjectorOptions::default();
    let (phase, phases) = watch::channel(Phase::Waiting);
    let running = [
        start(&store, &url, Customer360Model, options, &phases).await,
        start(&store, &url, SlaModel::new(sla_config()), options, &phases).await,
        start(&store, &url, PipelineModel, options, &phases).await,
        start(&store, &url, DuplicateQueueModel, options, &phases).await,
    ];
    line(&format!(
        "lag: {preloaded} events preloaded, projectors caught up on them in {}; now appending at {per_second} events/s for {seconds} s from {writers} writers, one append per command; projectors {:?}; load {}",
        running
            .iter()
            .map(|model| format!("{:.1} s", model.caught_up_after.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        options,
        load()
    ));

    phase.send_replace(Phase::Sampling);
    let generated = generate(&store, commands, per_second, duration, writers).await;
    phase.send_replace(Phase::Stopped);
    let drain = Instant::now();
    let mut worst_p99 = Duration::ZERO;
    let mut worst_max = Duration::ZERO;
    let mut drained = Vec::new();
    for model in running {
        let mut samples = model.sampler.await.expect("the sampler ends");
        let mut handle = model.handle;
        let caught_up = handle
            .wait_for(generated.head, Duration::from_mins(1))
            .await;
        drained.push(format!(
            "{} {}",
            model.table,
            if caught_up {
                format!("{:.2} s", drain.elapsed().as_secs_f64())
            } else {
                "NOT within 60 s".to_owned()
            }
        ));
        let ended = handle.stop().await;
        assert!(
            ended.is_ok(),
            "{} ran without error: {ended:?}",
            model.table
        );
        let mut behind: Vec<Duration> = samples.iter().map(|sample| sample.behind).collect();
        behind.sort_unstable();
        samples.sort_unstable_by_key(|sample| sample.events);
        let events: Vec<u64> = samples.iter().map(|sample| sample.events).collect();
        let p99 = percentile(&behind, 99.0);
        let max = behind.last().copied().unwrap_or_default();
        worst_p99 = worst_p99.max(p99);
        worst_max = worst_max.max(max);
        let held = samples.iter().filter(|sample| sample.held).count();
        line(&format!(
            "lag: {}: seconds behind p50 {:.3} s, p99 {:.3} s, max {:.3} s; events behind p50 {}, p99 {}, max {}; {} samples ({held} held by an open transaction)",
            model.table,
            percentile(&behind, 50.0).as_secs_f64(),
            p99.as_secs_f64(),
            max.as_secs_f64(),
            nearest(&events, 50.0),
            nearest(&events, 99.0),
            events.last().copied().unwrap_or(0),
            samples.len(),
        ));
    }
    let achieved = rate(generated.events, generated.elapsed);
    line(&format!(
        "RESULT lag: four asynchronous projectors (batch {}, poll {:?}) while {} events were appended in {:.1} s = {achieved:.0} events/s (asked {per_second}, reached within 5 %: {}); worst seconds behind p99 {:.3} s, max {:.3} s, target < 1 s: p99 {}, max {}; caught up after the load: {}; load {}",
        options.batch_size,
        options.poll_interval,
        generated.events,
        generated.elapsed.as_secs_f64(),
        {
            #[expect(clippy::cast_precision_loss, reason = "a rate far below 2^52")]
            let asked = per_second as f64;
            verdict(achieved >= 0.95 * asked)
        },
        worst_p99.as_secs_f64(),
        worst_max.as_secs_f64(),
        verdict(worst_p99 < Duration::from_secs(1)),
        verdict(worst_max < Duration::from_secs(1)),
        drained.join(", "),
        load()
    ));
    database.drop_now().await;
}

/// The nearest-rank percentile of sorted counts.
fn nearest(sorted: &[u64], percent: f64) -> u64 {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank between 1 and the number of samples"
    )]
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or(0)
}

/// Runs the measurement and prints it. `PROJ_BENCH_LAG_RATE` (events/s, default 5,000),
/// `PROJ_BENCH_LAG_SECONDS` (default 30), `PROJ_BENCH_LAG_PRELOAD_EVENTS` (history in the
/// store before the load starts, default 50,000), `PROJ_BENCH_LAG_WRITERS` (load generator
/// connections, default 32: single appends need many clients to group their commits).
pub(crate) fn run() {
    let per_second = env_size("PROJ_BENCH_LAG_RATE", 5_000);
    let seconds = env_size("PROJ_BENCH_LAG_SECONDS", 30);
    let preload = env_size("PROJ_BENCH_LAG_PRELOAD_EVENTS", 50_000);
    let writers = usize::try_from(env_size("PROJ_BENCH_LAG_WRITERS", 32))
        .unwrap_or(32)
        .max(1);
    crate::support::runtime().block_on(measure(per_second, seconds, preload, writers));
}
