//! Workloads 4 and 5: appends without a decision in front.
//!
//! - `single_append_16_clients`: one event per call from 16 clients, each on its own stream;
//! - `batch_append_100`: 100 events per call, one client, a new stream each call.
//!
//! Ours calls `EventStore::append` with the expected version; the peer calls
//! `PersistedEventRepository::persist` on `PostgresEventRepository` (what `CqrsFramework` calls
//! after a decision: a transaction with one INSERT per event); the raw baseline sends one
//! INSERT (single-row, or multi-row for the batch) into `raw_events`. All write the same
//! `support::lead_event` payloads and metadata; the events are built before the timing starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use criterion::Criterion;
use crm_eventstore::{EventStore, ExpectedVersion, NewEvent};
use postgres_es::PostgresEventRepository;
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::activity::{ActivityLog, peer_event};
use crate::compare::{Arm, Workload, measure, reference, target};
use crate::databases::Databases;
use crate::support::{
    RawEvent, lead_event, lead_events, raw_insert, raw_insert_sql, stream, tenant,
};

const CLIENTS: usize = 16;

/// `total` split over the clients as evenly as possible.
fn share(total: u64, client: usize) -> u64 {
    let clients = CLIENTS as u64;
    let client = client as u64;
    total / clients + u64::from(client < total % clients)
}

/// Runs one future per client and returns the time until the last finishes.
async fn timed_clients<F>(work: Vec<F>) -> Duration
where
    F: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let handles: Vec<_> = work.into_iter().map(tokio::spawn).collect();
    for handle in handles {
        handle.await.expect("a client");
    }
    started.elapsed()
}

/// Workload 4: single-event appends from 16 clients on distinct streams.
pub(crate) fn single_append_16_clients(
    criterion: &mut Criterion,
    runtime: &Runtime,
    rounds: usize,
) {
    let databases = runtime.block_on(Databases::create("single"));
    let store = databases.store.clone();
    let repository = Arc::new(PostgresEventRepository::new(databases.pool.clone()));
    let raw: Vec<Arc<Client>> = (0..CLIENTS)
        .map(|_| Arc::new(runtime.block_on(databases.raw_client())))
        .collect();
    let statements: Vec<tokio_postgres::Statement> = raw
        .iter()
        .map(|client| {
            runtime
                .block_on(client.prepare(&raw_insert_sql(1)))
                .expect("prepare the raw insert")
        })
        .collect();

    let mut our_round = 0;
    let ours = Arm::new("ours", |appends| {
        our_round += 1;
        let round = our_round;
        let work: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let events: Vec<NewEvent> = (0..share(appends, client)).map(lead_event).collect();
                let store = store.clone();
                async move {
                    let name = stream(&format!("ours-{round}"), client);
                    for (version, event) in (0..).zip(&events) {
                        store
                            .append(
                                &tenant(),
                                &name,
                                ExpectedVersion::Exact(version),
                                std::slice::from_ref(event),
                            )
                            .await
                            .expect("append one event");
                    }
                }
            })
            .collect();
        runtime.block_on(timed_clients(work))
    });
    let mut peer_round = 0;
    let peer = Arm::new("peer", |appends| {
        peer_round += 1;
        let round = peer_round;
        let work: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let id = stream(&format!("peer-{round}"), client).as_str().to_owned();
                let events: Vec<SerializedEvent> = (0..share(appends, client))
                    .map(|n| {
                        let sequence = usize::try_from(n).expect("a small count") + 1;
                        peer_event(&id, sequence, &lead_event(n))
                    })
                    .collect();
                let repository = Arc::clone(&repository);
                async move {
                    for event in &events {
                        repository
                            .persist::<ActivityLog>(std::slice::from_ref(event), None)
                            .await
                            .expect("the peer persists one event");
                    }
                }
            })
            .collect();
        runtime.block_on(timed_clients(work))
    });
    let mut raw_round = 0;
    let raw_arm = Arm::new("raw", |appends| {
        raw_round += 1;
        let round = raw_round;
        let work: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let events: Vec<RawEvent> = (0..share(appends, client))
                    .map(|n| RawEvent::from_new(&lead_event(n)))
                    .collect();
                let connection = Arc::clone(&raw[client]);
                let statement = statements[client].clone();
                async move {
                    let name = stream(&format!("raw-{round}"), client);
                    for (version, event) in (1..).zip(&events) {
                        raw_insert(
                            &connection,
                            &statement,
                            name.as_str(),
                            version,
                            std::slice::from_ref(event),
                        )
                        .await;
                    }
                }
            })
            .collect();
        runtime.block_on(timed_clients(work))
    });
    let mut arms = [ours, peer, raw_arm];
    measure(
        criterion,
        &Workload {
            name: "single_append_16_clients",
            unit: "events",
            elements: 1,
            per_round: 3_000,
            rounds,
            configure: &|_| {},
        },
        &mut arms,
        &[target("ours", "peer", 1.0), target("ours", "raw", 0.5)],
    );
    drop(arms);
    runtime.block_on(databases.drop_now());
}

const BATCH: usize = 100;

/// Workload 5: 100 events per call, one client, each call on a new stream.
pub(crate) fn batch_append_100(criterion: &mut Criterion, runtime: &Runtime, rounds: usize) {
    let databases = runtime.block_on(Databases::create("batch"));
    let store = databases.store.clone();
    let repository = PostgresEventRepository::new(databases.pool.clone());
    let raw = runtime.block_on(databases.raw_client());
    let insert = runtime
        .block_on(raw.prepare(&raw_insert_sql(BATCH)))
        .expect("prepare the raw insert");

    let mut next_ours = 0;
    let ours = Arm::new("ours", |batches| {
        let batches: Vec<Vec<NewEvent>> = (0..batches).map(|_| lead_events(0, BATCH)).collect();
        let first = next_ours;
        next_ours += batches.len();
        runtime.block_on(async {
            let started = Instant::now();
            for (number, batch) in (first..).zip(&batches) {
                store
                    .append(
                        &tenant(),
                        &stream("ours", number),
                        ExpectedVersion::NoStream,
                        batch,
                    )
                    .await
                    .expect("append a batch");
            }
            started.elapsed()
        })
    });
    let mut next_peer = 0;
    let peer = Arm::new("peer", |batches| {
        let batches: Vec<Vec<SerializedEvent>> = (next_peer..)
            .take(usize::try_from(batches).expect("a batch count"))
            .map(|number| {
                let id = stream("peer", number).as_str().to_owned();
                lead_events(0, BATCH)
                    .iter()
                    .enumerate()
                    .map(|(index, event)| peer_event(&id, index + 1, event))
                    .collect()
            })
            .collect();
        next_peer += batches.len();
        runtime.block_on(async {
            let started = Instant::now();
            for batch in &batches {
                repository
                    .persist::<ActivityLog>(batch, None)
                    .await
                    .expect("the peer persists a batch");
            }
            started.elapsed()
        })
    });
    let mut next_raw = 0;
    let raw_arm = Arm::new("raw", |batches| {
        let batches: Vec<Vec<RawEvent>> = (0..batches)
            .map(|_| {
                lead_events(0, BATCH)
                    .iter()
                    .map(RawEvent::from_new)
                    .collect()
            })
            .collect();
        let first = next_raw;
        next_raw += batches.len();
        runtime.block_on(async {
            let started = Instant::now();
            for (number, batch) in (first..).zip(&batches) {
                raw_insert(&raw, &insert, stream("raw", number).as_str(), 1, batch).await;
            }
            started.elapsed()
        })
    });
    let mut arms = [ours, peer, raw_arm];
    measure(
        criterion,
        &Workload {
            name: "batch_append_100",
            unit: "events",
            elements: BATCH as u64,
            per_round: 50,
            rounds,
            configure: &|_| {},
        },
        &mut arms,
        &[target("ours", "raw", 0.8), reference("ours", "peer")],
    );
    drop(arms);
    runtime.block_on(databases.drop_now());
}
