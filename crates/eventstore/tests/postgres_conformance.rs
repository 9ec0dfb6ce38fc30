//! The conformance suite against [`PostgresStore`], each test on a fresh database, plus a
//! property test that random append/read sequences give the same results on both backends.

mod conformance;

use conformance::Backend;
use crm_eventstore::{
    EventStore, ExpectedVersion, MemoryStore, NewEvent, PostgresStore, RecordedEvent, StoreError,
    StoreSettings, StreamRead, TenantId,
};
use crm_testkit::postgres::TestDatabase;
use proptest::prelude::*;
use serde_json::json;

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

conformance_suite!(Postgres);

/// One step of a random session against a store.
#[derive(Debug, Clone)]
enum Step {
    Append {
        stream: u8,
        expected: ExpectedVersion,
        sizes: u8,
        key: Option<u8>,
    },
    ReadForward {
        stream: u8,
        from: u64,
        limit: usize,
    },
    ReadBackward {
        stream: u8,
        as_of: u64,
    },
    ReadAll {
        page: usize,
    },
}

fn expected_version() -> impl Strategy<Value = ExpectedVersion> {
    prop_oneof![
        Just(ExpectedVersion::Any),
        Just(ExpectedVersion::NoStream),
        Just(ExpectedVersion::StreamExists),
        (0_u64..6).prop_map(ExpectedVersion::Exact),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0_u8..3, expected_version(), 0_u8..4, proptest::option::of(0_u8..3))
            .prop_map(|(stream, expected, sizes, key)| Step::Append { stream, expected, sizes, key }),
        1 => (0_u8..3, 0_u64..6, 0_usize..5).prop_map(|(stream, from, limit)| Step::ReadForward { stream, from, limit }),
        1 => (0_u8..3, 0_u64..6).prop_map(|(stream, as_of)| Step::ReadBackward { stream, as_of }),
        1 => (1_usize..4).prop_map(|page| Step::ReadAll { page }),
    ]
}

/// What both backends must agree on (transaction ids, positions, times and hashes differ).
fn comparable(events: &[RecordedEvent]) -> Vec<(String, u64, uuid::Uuid, serde_json::Value)> {
    events
        .iter()
        .map(|event| {
            (
                event.stream.to_string(),
                event.version,
                event.id,
                event.payload.clone(),
            )
        })
        .collect()
}

fn outcome_kind<T>(result: &Result<T, StoreError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(StoreError::VersionConflict { actual, .. }) => format!("conflict {actual:?}"),
        Err(error) => format!("{error:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap_or("")
            .to_owned(),
    }
}

#[allow(clippy::unwrap_used)]
async fn run<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    steps: &[Step],
    ids: &[Vec<uuid::Uuid>],
) -> Vec<String> {
    let mut log = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let entry = match step {
            Step::Append {
                stream,
                expected,
                sizes,
                key,
            } => {
                let events: Vec<NewEvent> = ids[index]
                    .iter()
                    .take(usize::from(*sizes))
                    .enumerate()
                    .map(|(n, id)| {
                        let mut event = NewEvent::new("Noted", 1, json!({ "step": index, "n": n }))
                            .with_id(*id);
                        event.metadata.idempotency_key = key.map(|key| format!("key-{key}"));
                        event
                    })
                    .collect();
                let result = store
                    .append(
                        tenant,
                        &conformance::stream(&format!("s{stream}")),
                        *expected,
                        &events,
                    )
                    .await;
                format!(
                    "{} {:?}",
                    outcome_kind(&result),
                    result.ok().map(|result| result.stream_version)
                )
            }
            Step::ReadForward {
                stream,
                from,
                limit,
            } => {
                let read = StreamRead::forward().from_version(*from).limit(*limit);
                let events = store
                    .read_stream(tenant, &conformance::stream(&format!("s{stream}")), read)
                    .await
                    .unwrap();
                format!("{:?}", comparable(&events))
            }
            Step::ReadBackward { stream, as_of } => {
                let read = StreamRead::backward().as_of_version(*as_of);
                let events = store
                    .read_stream(tenant, &conformance::stream(&format!("s{stream}")), read)
                    .await
                    .unwrap();
                format!("{:?}", comparable(&events))
            }
            Step::ReadAll { page } => {
                format!(
                    "{:?}",
                    comparable(&conformance::read_everything_in_pages(store, tenant, *page).await)
                )
            }
        };
        log.push(entry);
    }
    log.push(format!(
        "intact {}",
        store.verify(tenant).await.unwrap().is_intact()
    ));
    log
}

#[test]
fn random_sessions_give_the_same_results_on_memory_and_postgres() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // One database for the whole property: each case runs in a tenant of its own.
    let (database, postgres) = runtime.block_on(async {
        let database = TestDatabase::create().await;
        let store = database.store(StoreSettings::default()).await;
        (database, store)
    });
    proptest!(ProptestConfig::with_cases(48), |(steps in proptest::collection::vec(step(), 1..14))| {
        let tenant = conformance::tenant(&format!("case-{}", uuid::Uuid::now_v7().simple()));
        let ids: Vec<Vec<uuid::Uuid>> = steps.iter().map(|_| (0..4).map(|_| uuid::Uuid::now_v7()).collect()).collect();
        let memory = MemoryStore::default();
        let (on_memory, on_postgres) = runtime.block_on(async {
            (run(&memory, &tenant, &steps, &ids).await, run(&postgres, &tenant, &steps, &ids).await)
        });
        prop_assert_eq!(on_memory, on_postgres);
    });
    drop(postgres);
    drop(database);
}
