//! Memory of a live (on-demand) fold: the Customer 360 of one customer folded from its own
//! streams, measured with the bench binary's counting allocator, in a small and a large store.
//! The customer's history is the same in both (customers are generated independently), so
//! a fold whose memory followed the store would show it as a difference.

use std::sync::Arc;
use std::time::Instant;

use crm_eventstore::{EventStore, ExpectedVersion, MemoryStore, StreamId};
use crm_projections::customer360::Customer360Model;
use crm_projections::{
    MemoryStorage, Projector, ProjectorOptions, TenantId, customer_360_as_of, customer_streams,
};

use crate::ALLOCATOR;
use crate::history::{History, new_event};
use crate::report::{env_size, line, load, verdict};

/// What one live fold allocated.
struct Measured {
    /// The most bytes live at once during the fold, above what was live before it.
    peak: usize,
    /// Events in the customer's streams.
    events: usize,
    /// Events in the store.
    store_events: usize,
}

/// The customers measured: one with a short history, one with a long one (found by looking).
fn pick(history: &History) -> (usize, usize) {
    let mut counts: Vec<(usize, usize)> = history
        .customers
        .iter()
        .enumerate()
        .take(500)
        .map(|(index, _)| {
            let events = history
                .appends
                .iter()
                .filter(|append| append.customer == index as u64)
                .map(|append| append.events.len())
                .sum();
            (events, index)
        })
        .collect();
    counts.sort_unstable();
    let short = counts.first().map_or(0, |(_, index)| *index);
    let long = counts.last().map_or(0, |(_, index)| *index);
    (short, long)
}

async fn measure(customers: u64, targets: [usize; 2]) -> [Measured; 2] {
    let history = History::generate(0, customers);
    let store = MemoryStore::default();
    let tenant = TenantId::new("acme").expect("a valid tenant");
    for append in &history.appends {
        let stream = StreamId::new(append.stream.to_string()).expect("a valid stream name");
        let events: Vec<_> = append.events.iter().map(new_event).collect();
        store
            .append(&tenant, &stream, ExpectedVersion::Any, &events)
            .await
            .expect("the memory store appends");
    }
    let served = Arc::new(MemoryStorage::new(Customer360Model));
    let mut projector: Projector<_, _, Customer360Model> = Projector::new(
        store.clone(),
        Arc::clone(&served),
        tenant.clone(),
        ProjectorOptions {
            batch_size: 5_000,
            ..ProjectorOptions::default()
        },
    );
    projector
        .catch_up()
        .await
        .expect("the served Customer 360 catches up");
    let store_events = history.event_count();
    let mut measured = Vec::new();
    for target in targets {
        let contact = history.customers[target].contact;
        let streams = customer_streams(&*served, &tenant, contact)
            .await
            .expect("streams found");
        let mut events = 0;
        for stream in &streams {
            let name = StreamId::new(stream.to_string()).expect("a valid stream name");
            events += store
                .read_stream(&tenant, &name, crm_eventstore::StreamRead::forward())
                .await
                .expect("the stream reads")
                .len();
        }
        // Warm once (lazy statics, the allocator's own state), then measure.
        let _ = customer_360_as_of(&store, &*served, &tenant, contact, None).await;
        let before = ALLOCATOR.current_usage();
        ALLOCATOR.reset_peak_usage();
        let view = customer_360_as_of(&store, &*served, &tenant, contact, None)
            .await
            .expect("the live fold runs");
        let peak = ALLOCATOR.peak_usage().saturating_sub(before);
        assert!(view.is_some(), "customer {target} has a Customer 360");
        drop(view);
        measured.push(Measured {
            peak,
            events,
            store_events,
        });
    }
    let [short, long]: [Measured; 2] = measured
        .try_into()
        .unwrap_or_else(|_| unreachable!("two targets measured"));
    [short, long]
}

/// Runs the measurement and prints it.
pub(crate) fn run() {
    let small = env_size("PROJ_BENCH_LIVE_SMALL_CUSTOMERS", 1_000);
    let large = env_size("PROJ_BENCH_LIVE_LARGE_CUSTOMERS", 20_000);
    // One thread, so the allocator counts the fold and nothing else.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    let targets = {
        let history = History::generate(0, small);
        let (short, long) = pick(&history);
        [short, long]
    };
    let [small_short, small_long] = runtime.block_on(measure(small, targets));
    let [large_short, large_long] = runtime.block_on(measure(large, targets));
    for (label, small, large) in [
        ("short history", &small_short, &large_short),
        ("long history", &small_long, &large_long),
    ] {
        #[expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
        let ratio = large.peak as f64 / small.peak.max(1) as f64;
        line(&format!(
            "live fold, customer with a {label} ({} events): peak {} bytes in a store of {} events, {} bytes in a store of {} events; ratio {ratio:.3} (store grew {:.0}x); {:.0} bytes per event of the customer's history; target: independent of the store (ratio <= 1.05): {}",
            small.events,
            small.peak,
            small.store_events,
            large.peak,
            large.store_events,
            {
                #[expect(clippy::cast_precision_loss, reason = "event counts far below 2^52")]
                let grew = large.store_events as f64 / small.store_events.max(1) as f64;
                grew
            },
            {
                #[expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
                let per_event = small.peak as f64 / small.events.max(1) as f64;
                per_event
            },
            verdict(ratio <= 1.05 && small.events == large.events),
        ));
    }
    line(&format!(
        "live fold: measured in {:.1} s; load {}",
        started.elapsed().as_secs_f64(),
        load()
    ));
}
