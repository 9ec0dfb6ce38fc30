//! The storage conformance suite run for each adapter, and the property that both adapters
//! give equal documents for random valid histories.

use super::DocumentStore;
use super::conformance::{self, Tally};
use crate::memory::MemoryStorage;
use crate::postgres::PostgresDocuments;
use crate::postgres::testdb::TestDatabase;

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
        PostgresDocuments::<crate::customer360::Customer360Model>::table_name().unwrap(),
        "proj_customer_360_v1"
    );
}

/// Both adapters, fed the same random valid history (commands through the aggregates) in
/// random batches, hold equal documents for every read model, equal to the one-by-one
/// in-memory fold; so does a blue/green rebuild writer committing at random points while
/// forgetting and reading back what it wrote.
mod equal_documents {
    use std::sync::{Arc, OnceLock};

    use proptest::prelude::*;

    use super::*;
    use crate::customer360::Customer360Model;
    use crate::duplicates::DuplicateQueueModel;
    use crate::event::{ProjectedEvent, TenantId};
    use crate::memory::MemoryDocuments;
    use crate::model::{ReadModel, Stored};
    use crate::pipeline::PipelineModel;
    use crate::postgres::RebuildLimits;
    use crate::scenario::{arb_scenario, play};
    use crate::sla::SlaModel;
    use crate::{ProjectionBatch, properties};

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

    /// The four read models' tables in one database shared by every case; each case is a
    /// tenant of its own.
    struct Shared {
        customers: Arc<PostgresDocuments<Customer360Model>>,
        sla: Arc<PostgresDocuments<SlaModel>>,
        pipeline: Arc<PostgresDocuments<PipelineModel>>,
        duplicates: Arc<PostgresDocuments<DuplicateQueueModel>>,
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
                    _database: database,
                }
            })
        })
    }

    fn sla_config() -> crate::sla::SlaConfig {
        properties::sla::config()
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
        let rebuilt_tenant = TenantId::new(format!("{tenant}-rebuilt"));
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
            let tenant = TenantId::new(format!("case-{}", uuid::Uuid::now_v7().simple()));
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
        }
    }
}
