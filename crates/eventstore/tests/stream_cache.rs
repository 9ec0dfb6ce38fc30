//! The stream cache against both backends: a cache that missed other writers' appends gets a
//! version conflict, catches up and decides again, and no event is ever lost or duplicated;
//! what the cache folds from its own appends equals a fresh load.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crm_eventstore::{
    EventStore, ExpectedVersion, MemoryStore, NewEvent, PostgresStore, RecordedEvent, StoreError,
    StoreSettings, StreamCache, StreamId, StreamRead, StreamState, TenantId, Upcasters,
};
use crm_testkit::postgres::TestDatabase;
use proptest::prelude::*;
use serde_json::{Value, json};

/// A backend under test: a fresh, empty store with these settings, and whatever must live as
/// long as it (a test database).
trait Backend {
    type Store: EventStore + Clone + Send + Sync + 'static;
    type Guard: Send;
    fn open(settings: StoreSettings) -> impl Future<Output = (Self::Store, Self::Guard)> + Send;
}

struct Memory;

impl Backend for Memory {
    type Store = MemoryStore;
    type Guard = ();
    async fn open(settings: StoreSettings) -> (MemoryStore, ()) {
        (MemoryStore::new(settings), ())
    }
}

struct Postgres;

impl Backend for Postgres {
    type Store = PostgresStore;
    type Guard = TestDatabase;
    async fn open(settings: StoreSettings) -> (PostgresStore, TestDatabase) {
        let database = TestDatabase::create().await;
        let store = database.store(settings).await;
        (store, database)
    }
}

/// One test per backend for each scenario.
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name::<super::Memory>().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name::<super::Postgres>().await;
                }
            )*
        }
    };
}

for_each_backend!(
    a_loaded_stream_is_served_from_memory_until_refreshed,
    a_stale_cache_gets_a_conflict_then_catches_up_and_decides_again,
    the_cache_agrees_with_a_fresh_load_after_its_own_appends,
    a_no_op_decided_on_a_stale_state_is_decided_again,
    a_refusal_decided_on_a_stale_state_is_decided_again,
    a_cache_that_runs_out_of_attempts_returns_the_conflict_and_writes_nothing,
    two_caches_racing_on_one_stream_lose_and_duplicate_nothing,
    an_append_another_task_read_first_keeps_the_stream_cached,
    a_stream_being_refreshed_is_still_found_by_other_tasks,
    a_stream_every_task_appends_to_is_never_missing_from_the_cache,
);

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

/// A deal's running total, as an aggregate would fold it: what a decision looks at.
#[derive(Debug, Clone, Default, PartialEq)]
struct Tally {
    events: u64,
    total: i64,
}

impl StreamState for Tally {
    fn apply(&mut self, event: &RecordedEvent) {
        self.events += 1;
        self.total += event.payload["amount"].as_i64().unwrap_or(0);
    }
}

/// An event recording `amount` and how many events its decision saw before it.
fn added(amount: i64, seen: u64) -> NewEvent {
    NewEvent::new("AmountAdded", 1, json!({ "amount": amount, "seen": seen }))
}

async fn append_directly(store: &impl EventStore, name: &str, amounts: &[i64]) {
    let events: Vec<NewEvent> = amounts.iter().map(|&amount| added(amount, 0)).collect();
    store
        .append(&tenant(), &stream(name), ExpectedVersion::Any, &events)
        .await
        .unwrap();
}

async fn read(store: &impl EventStore, name: &str) -> Vec<RecordedEvent> {
    store
        .read_stream(&tenant(), &stream(name), StreamRead::forward())
        .await
        .unwrap()
}

/// Every version once, in order, and every event id once.
fn assert_no_gap_or_duplicate(events: &[RecordedEvent]) {
    let versions: Vec<u64> = events.iter().map(|event| event.version).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(versions, expected);
    let ids: HashSet<_> = events.iter().map(|event| event.id).collect();
    assert_eq!(ids.len(), events.len());
}

async fn a_loaded_stream_is_served_from_memory_until_refreshed<B: Backend>() {
    let (store, _guard) = B::open(StoreSettings::default()).await;
    append_directly(&store, "deal-1", &[5, 7]).await;
    let cache: StreamCache<_, Tally> = StreamCache::new(store.clone(), StoreSettings::default(), 8);

    let first = cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    append_directly(&store, "deal-1", &[100]).await;
    let second = cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    let refreshed = cache.refresh(&tenant(), &stream("deal-1")).await.unwrap();

    assert_eq!((first.version, first.state.total), (2, 12));
    assert_eq!(
        (second.version, second.state.total),
        (2, 12),
        "served from memory"
    );
    assert_eq!((refreshed.version, refreshed.state.total), (3, 112));
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
}

async fn a_stale_cache_gets_a_conflict_then_catches_up_and_decides_again<B: Backend>() {
    let (store, _guard) = B::open(StoreSettings::default()).await;
    append_directly(&store, "deal-1", &[1, 2, 3]).await;
    let cache: StreamCache<_, Tally> = StreamCache::new(store.clone(), StoreSettings::default(), 8);
    cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    append_directly(&store, "deal-1", &[10, 20]).await;

    let mut seen_by_decisions = Vec::new();
    let result = cache
        .decide_and_append::<StoreError, _>(&tenant(), &stream("deal-1"), |tally| {
            seen_by_decisions.push(tally.events);
            Ok(vec![added(tally.total, tally.events)])
        })
        .await
        .unwrap();

    assert_eq!(
        seen_by_decisions,
        vec![3, 5],
        "decided again on the caught-up state"
    );
    assert_eq!(result.stream_version, 6);
    assert_eq!(cache.stats().conflicts, 1);
    let events = read(&store, "deal-1").await;
    assert_no_gap_or_duplicate(&events);
    assert_eq!(events[5].payload, json!({ "amount": 36, "seen": 5 }));
    let cached = cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    assert_eq!((cached.version, cached.state.total), (6, 72));
}

/// Payloads stored at version 1 of a type whose current version is 2.
fn upcasting_settings() -> StoreSettings {
    StoreSettings::default()
        .with_upcasters(Upcasters::new().current("AmountAdded", 2).step(
            "AmountAdded",
            1,
            |mut payload| {
                payload["currency"] = Value::from("EUR");
                Ok(payload)
            },
        ))
        .unwrap()
}

async fn the_cache_agrees_with_a_fresh_load_after_its_own_appends<B: Backend>() {
    let settings = upcasting_settings();
    let (store, _guard) = B::open(settings.clone()).await;
    append_directly(&store, "deal-1", &[1, 2]).await;
    let cache: StreamCache<_, Vec<RecordedEvent>> =
        StreamCache::new(store.clone(), settings.clone(), 8);

    for batch in [1_i64, 3, 1, 2] {
        cache
            .decide_and_append::<StoreError, _>(&tenant(), &stream("deal-1"), |events| {
                let seen = events.len() as u64;
                Ok((0..batch).map(|n| added(n, seen)).collect())
            })
            .await
            .unwrap();
    }

    let cached = cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    let fresh = read(&store, "deal-1").await;
    assert_eq!(
        cache.stats().misses,
        1,
        "never read back after its own appends"
    );
    assert_eq!(cached.version, 9);
    assert_eq!(
        *cached.state, fresh,
        "hashes, positions, times and upcast payloads agree"
    );
    assert!(
        cached
            .state
            .iter()
            .all(|event| event.schema_version == 2 && event.payload["currency"] == "EUR")
    );
    assert!(store.verify(&tenant()).await.unwrap().is_intact());
}

async fn a_no_op_decided_on_a_stale_state_is_decided_again<B: Backend>() {
    let (store, _guard) = B::open(StoreSettings::default()).await;
    let cache: StreamCache<_, Tally> = StreamCache::new(store.clone(), StoreSettings::default(), 8);
    cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    append_directly(&store, "deal-1", &[50]).await;

    // "Open the deal with 50 unless it has it already": on the stale, empty state this would be
    // an append; on the current state it is a no-op.
    let decide = |tally: &Tally| -> Result<Vec<NewEvent>, StoreError> {
        Ok(if tally.total >= 50 {
            Vec::new()
        } else {
            vec![added(50, tally.events)]
        })
    };
    cache
        .decide_and_append(&tenant(), &stream("deal-1"), decide)
        .await
        .unwrap();
    let no_op = cache
        .decide_and_append(&tenant(), &stream("deal-1"), decide)
        .await
        .unwrap();
    assert!(no_op.events.is_empty());
    assert_eq!(no_op.stream_version, 1);
    assert_eq!(
        read(&store, "deal-1").await.len(),
        1,
        "the amount was added once"
    );

    // And the other way round: a no-op on a stale state must not hide a needed append.
    let cache: StreamCache<_, Tally> = StreamCache::new(store.clone(), StoreSettings::default(), 8);
    cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    append_directly(&store, "deal-1", &[-50]).await;
    let result = cache
        .decide_and_append(&tenant(), &stream("deal-1"), decide)
        .await
        .unwrap();
    assert_eq!(
        result.stream_version, 3,
        "decided again on the current state"
    );
    assert_eq!(cache.stats().conflicts, 1);
}

#[derive(Debug, PartialEq)]
enum DealError {
    Closed,
    Store(String),
}

impl From<StoreError> for DealError {
    fn from(error: StoreError) -> Self {
        Self::Store(error.to_string())
    }
}

async fn a_refusal_decided_on_a_stale_state_is_decided_again<B: Backend>() {
    let (store, _guard) = B::open(StoreSettings::default()).await;
    append_directly(&store, "deal-1", &[-1]).await;
    let cache: StreamCache<_, Tally> = StreamCache::new(store.clone(), StoreSettings::default(), 8);
    cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    // Another process reopens the deal (a negative total means closed here).
    append_directly(&store, "deal-1", &[1]).await;

    let add_when_open = |tally: &Tally| {
        if tally.total < 0 {
            Err(DealError::Closed)
        } else {
            Ok(vec![added(5, tally.events)])
        }
    };
    let result = cache
        .decide_and_append(&tenant(), &stream("deal-1"), add_when_open)
        .await
        .unwrap();
    assert_eq!(result.stream_version, 3);

    // A refusal on a current state is returned as is, after one version check.
    append_directly(&store, "deal-2", &[-1]).await;
    let refused = cache
        .decide_and_append(&tenant(), &stream("deal-2"), add_when_open)
        .await;
    assert_eq!(refused, Err(DealError::Closed));
    assert_eq!(read(&store, "deal-2").await.len(), 1);
}

async fn a_cache_that_runs_out_of_attempts_returns_the_conflict_and_writes_nothing<B: Backend>() {
    let (store, _guard) = B::open(StoreSettings::default()).await;
    let cache: StreamCache<_, Tally> =
        StreamCache::new(store.clone(), StoreSettings::default(), 8).with_max_attempts(1);
    cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    append_directly(&store, "deal-1", &[1]).await;

    let outcome = cache
        .decide_and_append::<StoreError, _>(&tenant(), &stream("deal-1"), |tally| {
            Ok(vec![added(2, tally.events)])
        })
        .await;

    assert!(matches!(
        outcome,
        Err(StoreError::VersionConflict {
            expected: ExpectedVersion::Exact(0),
            actual: Some(1),
            ..
        })
    ));
    assert_eq!(read(&store, "deal-1").await.len(), 1);
    // The stale state stays cached and catches up by reading just what is new.
    let caught_up = cache.refresh(&tenant(), &stream("deal-1")).await.unwrap();
    assert_eq!((caught_up.version, caught_up.state.total), (1, 1));
    assert_eq!(
        cache.stats().misses,
        1,
        "read whole once, at the first load"
    );
}

async fn two_caches_racing_on_one_stream_lose_and_duplicate_nothing<B: Backend>() {
    const TASKS_PER_CACHE: usize = 4;
    const INCREMENTS: u64 = 10;
    let (store, _guard) = B::open(StoreSettings::default()).await;
    // Two caches: two processes, each unaware of the other's appends.
    let caches: Vec<Arc<StreamCache<_, Tally>>> = (0..2)
        .map(|_| {
            Arc::new(
                StreamCache::new(store.clone(), StoreSettings::default(), 8)
                    .with_max_attempts(1000),
            )
        })
        .collect();
    let decisions = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for cache in &caches {
        for _ in 0..TASKS_PER_CACHE {
            let cache = Arc::clone(cache);
            let decisions = Arc::clone(&decisions);
            tasks.push(tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    cache
                        .decide_and_append::<StoreError, _>(&tenant(), &stream("deal-1"), |tally| {
                            decisions.fetch_add(1, Ordering::Relaxed);
                            Ok(vec![added(1, tally.events)])
                        })
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }

    let events = read(&store, "deal-1").await;
    let total = 2 * TASKS_PER_CACHE as u64 * INCREMENTS;
    assert_eq!(events.len() as u64, total);
    assert_no_gap_or_duplicate(&events);
    for event in &events {
        assert_eq!(
            event.payload["seen"],
            json!(event.version - 1),
            "every decision saw every earlier event"
        );
    }
    for cache in &caches {
        let tally = cache.refresh(&tenant(), &stream("deal-1")).await.unwrap();
        assert_eq!(tally.version, total);
        assert_eq!(u64::try_from(tally.state.total), Ok(total));
    }
    let conflicts: u64 = caches.iter().map(|cache| cache.stats().conflicts).sum();
    assert_eq!(
        u64::from(decisions.load(Ordering::Relaxed)),
        total + conflicts
    );
}

/// One step of a random session: the cache deciding, or another writer appending behind its
/// back, or the cache forgetting a stream.
#[derive(Debug, Clone)]
enum Step {
    Decide { stream: u8, amounts: Vec<i8> },
    Behind { stream: u8, amounts: Vec<i8> },
    Forget { stream: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    let amounts = || prop::collection::vec(any::<i8>(), 0..4);
    prop_oneof![
        3 => (0_u8..3, amounts()).prop_map(|(stream, amounts)| Step::Decide { stream, amounts }),
        2 => (0_u8..3, prop::collection::vec(any::<i8>(), 1..4))
            .prop_map(|(stream, amounts)| Step::Behind { stream, amounts }),
        1 => (0_u8..3).prop_map(|stream| Step::Forget { stream }),
    ]
}

fn stream_of(number: u8) -> StreamId {
    stream(&format!("deal-{number}"))
}

proptest! {
    /// Whatever other writers do behind the cache's back, every acknowledged append is in the
    /// store exactly once, every decision saw every earlier event of its stream, and the cache
    /// (once refreshed) equals a fresh load, hashes and all.
    #[test]
    fn the_cache_never_loses_duplicates_or_misfolds(
        steps in prop::collection::vec(step(), 1..25),
        capacity in 0_usize..3,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let store = MemoryStore::default();
            let cache: StreamCache<_, Vec<RecordedEvent>> =
                StreamCache::new(store.clone(), StoreSettings::default(), capacity);
            let mut acknowledged: Vec<HashSet<uuid::Uuid>> = vec![HashSet::new(); 3];
            for step in steps {
                match step {
                    Step::Decide { stream, amounts } => {
                        let mut decided = Vec::new();
                        let result = cache
                            .decide_and_append::<StoreError, _>(&tenant(), &stream_of(stream), |events| {
                                decided = (events.len() as u64..)
                                    .zip(&amounts)
                                    .map(|(seen, &amount)| added(i64::from(amount), seen))
                                    .collect();
                                Ok(decided.clone())
                            })
                            .await
                            .unwrap();
                        prop_assert_eq!(result.events.len(), decided.len());
                        acknowledged[usize::from(stream)]
                            .extend(result.events.iter().map(|event| event.event_id));
                    }
                    Step::Behind { stream, amounts } => {
                        let events: Vec<NewEvent> =
                            amounts.iter().map(|&amount| added(i64::from(amount), u64::MAX)).collect();
                        let result = store
                            .append(&tenant(), &stream_of(stream), ExpectedVersion::Any, &events)
                            .await
                            .unwrap();
                        acknowledged[usize::from(stream)]
                            .extend(result.events.iter().map(|event| event.event_id));
                    }
                    Step::Forget { stream } => cache.invalidate(&tenant(), &stream_of(stream)),
                }
            }
            for (number, acknowledged) in (0_u8..).zip(&acknowledged) {
                let fresh = read(&store, &format!("deal-{number}")).await;
                assert_no_gap_or_duplicate(&fresh);
                let stored: HashSet<_> = fresh.iter().map(|event| event.id).collect();
                prop_assert_eq!(&stored, acknowledged);
                for event in fresh.iter().filter(|event| event.payload["seen"] != json!(u64::MAX)) {
                    prop_assert_eq!(&event.payload["seen"], &json!(event.version - 1));
                }
                let cached = cache.refresh(&tenant(), &stream_of(number)).await.unwrap();
                prop_assert_eq!(&*cached.state, &fresh);
            }
            Ok(())
        })?;
    }
}

async fn an_append_another_task_read_first_keeps_the_stream_cached<B: Backend>() {
    // One task decides on the cached state and appends; before it records the append in the
    // cache, another task's refresh reads that append from the store. The stream stays
    // cached, at the right version, and is never read whole again.
    let (store, _guard) = B::open(StoreSettings::default()).await;
    append_directly(&store, "deal-1", &[1, 2]).await;
    let cache: StreamCache<_, Tally> = StreamCache::new(store.clone(), StoreSettings::default(), 8);
    let decided_on = cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    let events = [added(10, decided_on.version)];
    let result = store
        .append(
            &tenant(),
            &stream("deal-1"),
            ExpectedVersion::Exact(decided_on.version),
            &events,
        )
        .await
        .unwrap();
    let seen = cache.refresh(&tenant(), &stream("deal-1")).await.unwrap();
    assert_eq!((seen.version, seen.state.total), (3, 13));
    cache.record_committed(
        &tenant(),
        &stream("deal-1"),
        decided_on,
        ExpectedVersion::Exact(2),
        &events,
        &result,
    );
    let after = cache.load(&tenant(), &stream("deal-1")).await.unwrap();
    assert_eq!((after.version, after.state.total), (3, 13));
    assert_eq!(
        cache.stats().misses,
        1,
        "read whole once, at the first load"
    );
}

/// A store with stream `team-1` holding one event, and a cache that has loaded it (its one
/// miss).
async fn hot_team<B: Backend>() -> (B::Store, B::Guard, Arc<StreamCache<B::Store, Tally>>) {
    let (store, guard) = B::open(StoreSettings::default()).await;
    append_directly(&store, "team-1", &[1]).await;
    let cache = Arc::new(StreamCache::new(store.clone(), StoreSettings::default(), 8));
    cache.load(&tenant(), &stream("team-1")).await.unwrap();
    (store, guard, cache)
}

async fn a_stream_being_refreshed_is_still_found_by_other_tasks<B: Backend>() {
    // Sixteen tasks on one stream, each refreshing it and loading it over and over while a
    // writer appends: the stream is read whole once, at the first load, and never again
    // (a refresh used to take the entry out while it read the store, so every task that
    // came meanwhile found nothing and read the whole stream).
    let (store, _guard, cache) = hot_team::<B>().await;
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (cache, store) = (Arc::clone(&cache), store.clone());
            tokio::spawn(async move {
                for round in 0..20 {
                    if task == 0 && round % 2 == 0 {
                        append_directly(&store, "team-1", &[1]).await;
                    }
                    cache.refresh(&tenant(), &stream("team-1")).await.unwrap();
                    cache.load(&tenant(), &stream("team-1")).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let last = cache.refresh(&tenant(), &stream("team-1")).await.unwrap();
    assert_eq!((last.version, last.state.total), (11, 11));
    assert_eq!(
        cache.stats().misses,
        1,
        "read whole once: {:?}",
        cache.stats()
    );
}

async fn a_stream_every_task_appends_to_is_never_missing_from_the_cache<B: Backend>() {
    // Sixteen tasks appending to one stream through the cache while loading and refreshing
    // it: the stream is read whole once, at the first load, and never again, not even after
    // a task runs out of attempts (recording an append used to take the entry out of the
    // cache while it folded the events in, so a task arriving meanwhile found nothing and
    // read the whole stream).
    let (store, _guard, cache) = hot_team::<B>().await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                for _ in 0..25 {
                    // Sixteen writers on one stream may outrun the cache's attempts: try again.
                    loop {
                        match cache
                            .decide_and_append::<StoreError, _>(
                                &tenant(),
                                &stream("team-1"),
                                |tally| Ok(vec![added(1, tally.events)]),
                            )
                            .await
                        {
                            Ok(_) => break,
                            Err(StoreError::VersionConflict { .. }) => {}
                            Err(error) => panic!("{error}"),
                        }
                    }
                    cache.load(&tenant(), &stream("team-1")).await.unwrap();
                    cache.refresh(&tenant(), &stream("team-1")).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let last = cache.refresh(&tenant(), &stream("team-1")).await.unwrap();
    assert_eq!((last.version, last.state.total), (401, 401));
    assert_no_gap_or_duplicate(&read(&store, "team-1").await);
    assert_eq!(
        cache.stats().misses,
        1,
        "read whole once: {:?}",
        cache.stats()
    );
}
