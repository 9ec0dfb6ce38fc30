//! The storage port: its conformance suite (`crm_testkit::storage_conformance`) run for each
//! adapter, what only the PostgreSQL adapter has to show (a shared schema, its table names, its
//! version-checked cache), and the property that both adapters, and the rebuild writer, give
//! equal documents for random valid histories.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use crm_projections::{
    DocumentStore, MemoryStorage, PostgresDocuments, ProjectedEvent, ProjectionBatch,
    REMEMBERED_DOCUMENTS, Stored,
};
use crm_testkit::postgres::TestDatabase;
use crm_testkit::storage_conformance::{
    self as conformance, Tally, TallyDoc, history, last, reference, tenant,
};

/// A fresh PostgreSQL adapter on its own database; the database lives as long as the guard.
async fn postgres(model: Tally) -> (PostgresDocuments<Tally>, TestDatabase) {
    let database = TestDatabase::create().await;
    let documents = PostgresDocuments::connect(&database.url, 4, model)
        .await
        .expect("connect the adapter");
    (documents, database)
}

macro_rules! model {
    () => {
        Tally::default()
    };
    ($model:expr) => {
        $model
    };
}

macro_rules! conformance {
    ($($check:ident $(($model:expr))?),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let model = model!($($model)?);
                    conformance::$check(MemoryStorage::new(model)).await;
                }
            )*
        }

        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let model = model!($($model)?);
                    let (documents, _database) = super::postgres(model).await;
                    conformance::$check(documents).await;
                }
            )*
        }
    };
}

conformance!(
    a_commit_applies_and_moves_the_checkpoint,
    the_checkpoint_passes_ignored_events,
    a_stale_writer_is_refused,
    delivering_twice_changes_nothing,
    a_later_transaction_with_a_smaller_position_is_applied,
    a_broken_model_writes_nothing(Tally { sloppy: true }),
    tenants_are_apart,
    a_tenant_named_in_any_case_is_one_tenant,
    parked_events_are_kept_and_passed,
    queries_answer_as_the_reference,
);

#[tokio::test]
async fn two_processes_preparing_the_schema_at_once_both_succeed() {
    let database = TestDatabase::create().await;
    let (first, second) = tokio::join!(
        PostgresDocuments::connect(&database.url, 2, Tally::default()),
        PostgresDocuments::connect(&database.url, 2, Tally::default()),
    );
    first.unwrap();
    second.unwrap();
}

#[test]
fn table_names_come_from_the_model_name_and_version() {
    assert_eq!(
        PostgresDocuments::<Tally>::table_name().unwrap(),
        "proj_tally_v1"
    );
    assert_eq!(
        PostgresDocuments::<crm_projections::customer360::Customer360Model>::table_name().unwrap(),
        "proj_customer_360_v1"
    );
}

async fn adapter(database: &TestDatabase) -> PostgresDocuments<Tally> {
    PostgresDocuments::connect(&database.url, 2, Tally::default())
        .await
        .unwrap()
}

/// Two adapters on one table (two processes taking turns, as after a lease moves): each
/// remembers what it wrote, and each must notice what the other wrote since.
#[tokio::test]
async fn documents_written_by_another_writer_are_read_afresh_not_remembered() {
    let database = TestDatabase::create().await;
    // Both remember every document they commit (the default, said here because the test is
    // about it).
    let first = adapter(&database).await.remembering(REMEMBERED_DOCUMENTS);
    let second = adapter(&database).await.remembering(REMEMBERED_DOCUMENTS);
    let events = history(&tenant());
    let mut checkpoint = None;
    // The contact's document is written by the first, then the second, then the first again.
    for (turn, range) in [(0, 0..2), (1, 2..4), (0, 4..6)] {
        let writer = if turn == 0 { &first } else { &second };
        let slice = &events[range];
        writer
            .commit(
                &tenant(),
                checkpoint,
                &ProjectionBatch::new(slice.to_vec(), last(slice)),
            )
            .await
            .unwrap();
        checkpoint = Some(last(slice));
        let expected: Vec<Stored<TallyDoc>> = reference(&events[..=last_index(&events, slice)]);
        assert_eq!(first.documents(&tenant()).await.unwrap(), expected);
    }
    assert_eq!(
        second.documents(&tenant()).await.unwrap(),
        reference(&events)
    );
}

fn last_index(events: &[ProjectedEvent], slice: &[ProjectedEvent]) -> usize {
    let end = last(slice);
    events
        .iter()
        .rposition(|event| event.global_position() == end)
        .unwrap()
}

/// Both adapters, fed the same random valid history (commands through the aggregates) in
/// random batches, hold equal documents for every read model, equal to the one-by-one
/// in-memory fold; so does a blue/green rebuild writer committing at random points while
/// forgetting and reading back what it wrote.
mod equal_documents {
    use std::sync::{Arc, OnceLock};

    use proptest::prelude::*;

    use crm_projections::customer360::Customer360Model;
    use crm_projections::duplicates::DuplicateQueueModel;
    use crm_projections::identity::IdentityIndexModel;
    use crm_projections::pipeline::PipelineModel;
    use crm_projections::sla::{SlaConfig, SlaModel};
    use crm_projections::{MemoryDocuments, ProjectedEvent, ReadModel, RebuildLimits};
    use crm_testkit::scenario::{arb_scenario, play};

    use super::*;

    fn runtime() -> &'static tokio::runtime::Runtime {
        static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        })
    }

    /// The five read models' tables in one database shared by every case; each case is a
    /// tenant of its own.
    struct Shared {
        customers: Arc<PostgresDocuments<Customer360Model>>,
        sla: Arc<PostgresDocuments<SlaModel>>,
        pipeline: Arc<PostgresDocuments<PipelineModel>>,
        duplicates: Arc<PostgresDocuments<DuplicateQueueModel>>,
        identity: Arc<PostgresDocuments<IdentityIndexModel>>,
        _database: TestDatabase,
    }

    fn shared() -> &'static Shared {
        static SHARED: OnceLock<Shared> = OnceLock::new();
        SHARED.get_or_init(|| {
            runtime().block_on(async {
                let database = TestDatabase::create().await;
                let url = database.url.clone();
                Shared {
                    customers: Arc::new(
                        PostgresDocuments::connect(&url, 2, Customer360Model)
                            .await
                            .unwrap(),
                    ),
                    sla: Arc::new(
                        PostgresDocuments::connect(&url, 2, SlaModel::new(sla_config()))
                            .await
                            .unwrap(),
                    ),
                    pipeline: Arc::new(
                        PostgresDocuments::connect(&url, 2, PipelineModel)
                            .await
                            .unwrap(),
                    ),
                    duplicates: Arc::new(
                        PostgresDocuments::connect(&url, 2, DuplicateQueueModel)
                            .await
                            .unwrap(),
                    ),
                    identity: Arc::new(
                        PostgresDocuments::connect(&url, 2, IdentityIndexModel::default())
                            .await
                            .unwrap(),
                    ),
                    _database: database,
                }
            })
        })
    }

    fn sla_config() -> SlaConfig {
        crm_testkit::scenario::sla_config()
    }

    fn in_batches(events: &[ProjectedEvent], cuts: &[usize]) -> Vec<ProjectionBatch> {
        let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut % (events.len() + 1)).collect();
        bounds.extend([0, events.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        bounds
            .windows(2)
            .map(|pair| {
                let slice = &events[pair[0]..pair[1]];
                ProjectionBatch::new(slice.to_vec(), slice.last().unwrap().global_position())
            })
            .collect()
    }

    /// What `model`'s documents are in memory, through the PostgreSQL adapter's commits,
    /// and through a rebuild writer; each in key order.
    struct Held<D> {
        expected: Vec<Stored<D>>,
        in_memory: Vec<Stored<D>>,
        in_postgres: Vec<Stored<D>>,
        rebuilt: Vec<Stored<D>>,
    }

    fn hold<M>(
        model: M,
        postgres: &Arc<PostgresDocuments<M>>,
        events: &[ProjectedEvent],
        cuts: &[usize],
        (limits, page): (RebuildLimits, usize),
    ) -> Held<M::Doc>
    where
        M: ReadModel + Clone + Send + Sync,
        M::Doc: Send + Sync,
    {
        let tenant = events[0].tenant.clone();
        let rebuilt_tenant = crm_testkit::tenant_id(&format!("{tenant}-rebuilt"));
        let rebuilt_events: Vec<ProjectedEvent> = events
            .iter()
            .map(|event| ProjectedEvent {
                tenant: rebuilt_tenant.clone(),
                ..event.clone()
            })
            .collect();
        let reference = MemoryDocuments::fold(model.clone(), events).unwrap();
        let mut expected: Vec<_> = reference.documents(&tenant).cloned().collect();
        expected.sort_by_key(|stored| stored.key);
        let memory = MemoryStorage::new(model);
        runtime().block_on(async {
            let mut checkpoint = None;
            for batch in in_batches(events, cuts) {
                postgres.commit(&tenant, checkpoint, &batch).await.unwrap();
                memory.commit(&tenant, checkpoint, &batch).await.unwrap();
                checkpoint = Some(batch.through);
            }
            let mut writer = postgres.rebuild_writer(rebuilt_tenant.clone(), limits);
            writer.start().await.unwrap();
            for page in rebuilt_events.chunks(page) {
                let batch =
                    ProjectionBatch::new(page.to_vec(), page[page.len() - 1].global_position());
                writer.fold(&batch).await.unwrap();
                if writer.wants_commit() {
                    writer.commit().await.unwrap();
                }
            }
            writer.commit().await.unwrap();
            Held {
                expected,
                in_memory: memory.documents(&tenant).await.unwrap(),
                in_postgres: postgres.documents(&tenant).await.unwrap(),
                rebuilt: postgres.documents(&rebuilt_tenant).await.unwrap(),
            }
        })
    }

    /// Limits of a rebuild writer and the pages it is fed.
    fn arb_rebuild() -> impl Strategy<Value = (RebuildLimits, usize)> {
        (1..20usize, 1..12usize, 1..8usize).prop_map(|(events_per_commit, documents, page)| {
            (
                RebuildLimits {
                    events_per_commit,
                    documents,
                },
                page,
            )
        })
    }

    macro_rules! check_equal {
        ($held:expr) => {{
            let held = $held;
            prop_assert_eq!(&held.in_memory, &held.expected);
            prop_assert_eq!(&held.in_postgres, &held.expected);
            prop_assert_eq!(&held.rebuilt, &held.expected);
        }};
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn memory_and_postgres_hold_equal_documents(
            scenario in arb_scenario(40),
            cuts in proptest::collection::vec(any::<usize>(), 0..4),
            rebuild in arb_rebuild(),
        ) {
            let world = play(&scenario);
            let tenant = crm_testkit::tenant_id(&format!("case-{}", uuid::Uuid::now_v7().simple()));
            let events: Vec<ProjectedEvent> = world
                .events()
                .iter()
                .map(|event| ProjectedEvent { tenant: tenant.clone(), ..event.clone() })
                .collect();
            prop_assume!(!events.is_empty());
            let shared = shared();
            check_equal!(hold(Customer360Model, &shared.customers, &events, &cuts, rebuild));
            check_equal!(hold(SlaModel::new(sla_config()), &shared.sla, &events, &cuts, rebuild));
            check_equal!(hold(PipelineModel, &shared.pipeline, &events, &cuts, rebuild));
            check_equal!(hold(DuplicateQueueModel, &shared.duplicates, &events, &cuts, rebuild));
            check_equal!(hold(IdentityIndexModel::default(), &shared.identity, &events, &cuts, rebuild));
        }
    }
}

/// Nothing listens on port 1 of the loopback: the adapter's error says the connection was
/// refused (in its message, and as its source), and so does a runner error wrapping it.
#[tokio::test]
async fn a_refused_connection_says_why() {
    const CLOSED: &str = "host=127.0.0.1 port=1 user=crm dbname=crm";
    let error = PostgresDocuments::connect(CLOSED, 1, Tally::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            crm_projections::StorageError::Unavailable {
                source: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    let message = error.to_string();
    assert!(
        message.to_lowercase().contains("connection refused"),
        "the message names the cause: {message}"
    );
    let runner = crm_projections::RunnerError::from(error);
    assert!(
        runner
            .to_string()
            .to_lowercase()
            .contains("connection refused"),
        "{runner}"
    );

    let lease = crm_projections::Lease::try_acquire(CLOSED, "lease").await;
    let message = lease.map(|_| ()).unwrap_err().to_string();
    assert!(
        message.to_lowercase().contains("connection refused"),
        "{message}"
    );

    let unparsable = crm_projections::connect_pool("port=notaport", 1).unwrap_err();
    assert!(unparsable.to_string().contains("port"), "{unparsable}");
}
