//! Memory of reading and subscribing to the whole store: the peak of live heap bytes while
//! reading N and then 10·N events, counted by a global allocator in this binary (apart from
//! the timing benches, which it would slow down). Bounded memory means the 10·N peak is about
//! the N peak, and grows with the page size instead.
//!
//! Run with `source scripts/postgres-env && cargo bench -p crm-benches --bench memory`.

// Shared with the timing benches, which use all of it; this one needs the database only.
#[allow(dead_code)]
mod support;

use std::time::Duration;

use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, PostgresStore, SubscriptionOptions,
};
use peak_alloc::PeakAlloc;

use support::{BenchDatabase, lead_events, stream, tenant};

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

const SMALL: usize = 20_000;
const LARGE: usize = 10 * SMALL;
const BATCH: usize = 100;
const PAGE_SIZES: [usize; 3] = [100, 500, 2000];

/// Appends events in batches of 100 until the store holds `total`, from `held`.
async fn fill(store: &PostgresStore, held: usize, total: usize) {
    for first in (held..total).step_by(BATCH) {
        let count = BATCH.min(total - first);
        store
            .append(
                &tenant(),
                &stream("m", first / BATCH),
                ExpectedVersion::NoStream,
                &lead_events(first as u64, count),
            )
            .await
            .expect("fill the store");
    }
}

/// The peak of live heap bytes above what was live before `work`, while it ran, and what it
/// returned.
async fn peak_during<T>(work: impl Future<Output = T>) -> (usize, T) {
    let before = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let outcome = work.await;
    (ALLOCATOR.peak_usage().saturating_sub(before), outcome)
}

/// Reads the whole tenant with `read_all` in pages, keeping nothing but a count.
async fn read_all(store: &PostgresStore, page_size: usize) -> usize {
    let mut after = GlobalPosition::START;
    let mut events = 0;
    loop {
        let page = store
            .read_all(&tenant(), after, page_size)
            .await
            .expect("read a page");
        if page.events.is_empty() {
            return events;
        }
        events += page.events.len();
        after = page.next;
    }
}

/// Subscribes from the start and takes `count` events, keeping nothing but the last position.
async fn subscribe(store: &PostgresStore, page_size: usize, count: usize) -> usize {
    let mut subscription = store.subscribe(
        &tenant(),
        GlobalPosition::START,
        SubscriptionOptions {
            page_size,
            poll_interval: Duration::from_millis(100),
        },
    );
    let mut last = GlobalPosition::START;
    for _ in 0..count {
        let event = subscription.next().await.expect("the next event");
        assert!(event.position > last, "in global order");
        last = event.position;
    }
    count
}

fn kib(bytes: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / 1024.0
}

fn main() {
    if !support::selected("memory") {
        return;
    }
    let runtime = support::runtime();
    let database = runtime.block_on(BenchDatabase::create("memory"));
    let store = runtime.block_on(database.store(4));
    let mut peaks = Vec::new();
    let mut held = 0;
    for total in [SMALL, LARGE] {
        runtime.block_on(fill(&store, held, total));
        held = total;
        for page_size in PAGE_SIZES {
            let (read_peak, read) = runtime.block_on(peak_during(read_all(&store, page_size)));
            assert_eq!(read, total, "read_all returned every event");
            let (subscribe_peak, taken) =
                runtime.block_on(peak_during(subscribe(&store, page_size, total)));
            assert_eq!(taken, total);
            println!(
                "MEMORY {total} events, page {page_size}: read_all peak {:.0} KiB, \
                 subscription peak {:.0} KiB",
                kib(read_peak),
                kib(subscribe_peak)
            );
            peaks.push((total, page_size, read_peak, subscribe_peak));
        }
    }
    for page_size in PAGE_SIZES {
        let at = |total: usize| {
            peaks
                .iter()
                .find(|peak| peak.0 == total && peak.1 == page_size)
                .map_or((0, 0), |peak| (peak.2, peak.3))
        };
        let (small_read, small_subscribe) = at(SMALL);
        let (large_read, large_subscribe) = at(LARGE);
        // Bounded: ten times the events may not cost more than a quarter more memory (plus
        // 64 KiB for buffers that settle at a slightly larger size), where unbounded reading
        // would cost ten times as much.
        let bounded = |small: usize, large: usize| large <= small + small / 4 + 64 * 1024;
        println!(
            "RESULT memory, page {page_size}: read_all {:.0} KiB for {SMALL} events, {:.0} KiB \
             for {LARGE}; subscription {:.0} KiB, {:.0} KiB; bounded by the page size: {}",
            kib(small_read),
            kib(large_read),
            kib(small_subscribe),
            kib(large_subscribe),
            if bounded(small_read, large_read) && bounded(small_subscribe, large_subscribe) {
                "PASS"
            } else {
                "MISS"
            }
        );
    }
    drop(store);
    runtime.block_on(database.drop_now());
}
