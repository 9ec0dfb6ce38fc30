//! Workload 6: read every event (1,000,000 by default, `PEER_BENCH_READ_ALL_EVENTS`), written
//! as 100-event streams of `support::lead_event`.
//!
//! - `ours`: `EventStore::read_all` in pages of 1,000, in global order, into `RecordedEvent`s
//!   (payload as a JSON value, metadata typed): the store bench's arm;
//! - `ours_typed`: the same, each payload then deserialized into the typed event, which is what
//!   the peer's read hands back;
//! - `peer`: `PersistedEventRepository::stream_all_events` (one query over the whole aggregate
//!   type, ordered by sequence; the peer has no pages and no global order), each row deserialized
//!   into an `EventEnvelope` of the typed event through `ReplayStream::next`;
//! - `raw`: one streamed SELECT of `raw_events` (a row-for-row copy of ours) in the store's
//!   order, touching every column's bytes and decoding nothing.

use std::time::{Duration, Instant};

use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use criterion::{Criterion, SamplingMode};
use crm_eventstore::{EventStore, ExpectedVersion, GlobalPosition, PostgresStore};
use futures_util::{TryStreamExt, pin_mut};
use postgres_es::PostgresEventRepository;
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::activity::{ACTIVITY_TYPE, ActivityLog, ActivityLogged, peer_event};
use crate::compare::{Arm, Workload, measure, reference, target};
use crate::databases::{Databases, peer_bulk_insert};
use crate::support::{EVENT_COLUMNS, copy_events_to_raw, lead_events, stream, tenant, touch_row};

const PAGE: usize = 1_000;
const PER_STREAM: usize = 100;

/// Writes `events` events (rounded down to whole streams) on both sides.
async fn populate(databases: &Databases, events: usize) {
    let streams = events / PER_STREAM;
    let mut peer_rows: Vec<SerializedEvent> = Vec::with_capacity(10_000);
    for number in 0..streams {
        let name = stream("s", number);
        let batch = lead_events(0, PER_STREAM);
        databases
            .store
            .append(&tenant(), &name, ExpectedVersion::NoStream, &batch)
            .await
            .expect("populate ours");
        for (index, event) in batch.iter().enumerate() {
            peer_rows.push(peer_event(name.as_str(), index + 1, event));
        }
        if peer_rows.len() >= 10_000 {
            peer_bulk_insert(&databases.pool, ACTIVITY_TYPE, &peer_rows).await;
            peer_rows.clear();
        }
    }
    peer_bulk_insert(&databases.pool, ACTIVITY_TYPE, &peer_rows).await;
    copy_events_to_raw(&databases.raw_client().await).await;
    databases
        .peer_client()
        .await
        .batch_execute("VACUUM ANALYZE events")
        .await
        .expect("vacuum the peer's events");
}

async fn read_ours(store: &PostgresStore, typed: bool) -> u64 {
    let mut after = GlobalPosition::START;
    let mut events = 0;
    loop {
        let page = store
            .read_all(&tenant(), after, PAGE)
            .await
            .expect("read a page");
        if page.events.is_empty() {
            return events;
        }
        after = page.next;
        events += page.events.len() as u64;
        if typed {
            for event in page.events {
                let typed: ActivityLogged =
                    serde_json::from_value(event.payload).expect("a typed activity");
                std::hint::black_box(typed);
            }
        }
    }
}

async fn read_peer(repository: &PostgresEventRepository) -> u64 {
    let mut stream = repository
        .stream_all_events::<ActivityLog>()
        .await
        .expect("the peer streams all events");
    let mut events = 0;
    while let Some(envelope) = stream.next::<ActivityLog>(&[]).await {
        std::hint::black_box(envelope.expect("a typed envelope"));
        events += 1;
    }
    events
}

async fn read_raw(raw: &Client) -> u64 {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM raw_events WHERE tenant_id = $1 ORDER BY tx_id, position"
    );
    let rows = raw
        .query_raw(&sql, [&"bench"])
        .await
        .expect("raw streamed select");
    pin_mut!(rows);
    let mut events = 0;
    let mut bytes = 0;
    while let Some(row) = rows.try_next().await.expect("a raw row") {
        bytes += touch_row(&row);
        events += 1;
    }
    assert!(bytes > 0);
    events
}

/// Workload 6.
pub(crate) fn read_all(criterion: &mut Criterion, runtime: &Runtime, rounds: usize, events: usize) {
    let databases = runtime.block_on(Databases::create("readall"));
    let started = Instant::now();
    runtime.block_on(populate(&databases, events));
    let expected = (events / PER_STREAM * PER_STREAM) as u64;
    println!(
        "SETUP read_all: {expected} events written to each side in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let repository = PostgresEventRepository::new(databases.pool.clone());
    let raw = runtime.block_on(databases.raw_client());

    let timed = |read: &dyn Fn() -> u64, iterations: u64| -> Duration {
        (0..iterations)
            .map(|_| {
                let started = Instant::now();
                assert_eq!(read(), expected, "every event read");
                started.elapsed()
            })
            .sum()
    };
    let store = &databases.store;
    let mut arms = [
        Arm::new("ours", |n| {
            timed(&|| runtime.block_on(read_ours(store, false)), n)
        }),
        Arm::new("ours_typed", |n| {
            timed(&|| runtime.block_on(read_ours(store, true)), n)
        }),
        Arm::new("peer", |n| {
            timed(&|| runtime.block_on(read_peer(&repository)), n)
        }),
        Arm::new("raw", |n| timed(&|| runtime.block_on(read_raw(&raw)), n)),
    ];
    measure(
        criterion,
        &Workload {
            name: "read_all",
            unit: "events",
            elements: expected,
            per_round: 1,
            rounds,
            configure: &|group| {
                group.sampling_mode(SamplingMode::Flat);
            },
        },
        &mut arms,
        &[
            target("ours", "raw", 0.7),
            reference("ours", "peer"),
            reference("ours_typed", "peer"),
        ],
    );
    drop(arms);
    runtime.block_on(databases.drop_now());
}
