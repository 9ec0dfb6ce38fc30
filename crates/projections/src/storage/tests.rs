//! The storage conformance suite run for each adapter, and the property that both adapters
//! give equal documents for random valid histories.

use super::conformance::{self, Tally};
use super::{DocumentStore, MemoryStorage};
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
/// random batches, hold equal documents, and equal to the one-by-one in-memory fold.
mod equal_documents {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;
    use crate::ProjectionBatch;
    use crate::customer360::Customer360Model;
    use crate::event::{ProjectedEvent, TenantId};
    use crate::memory::MemoryDocuments;
    use crate::scenario::{arb_scenario, play};

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

    /// One database for every case; each case is a tenant of its own.
    fn shared() -> &'static (PostgresDocuments<Customer360Model>, TestDatabase) {
        static SHARED: OnceLock<(PostgresDocuments<Customer360Model>, TestDatabase)> =
            OnceLock::new();
        SHARED.get_or_init(|| {
            runtime().block_on(async {
                let database = TestDatabase::create().await;
                let documents = PostgresDocuments::connect(&database.url, 4, Customer360Model)
                    .await
                    .unwrap();
                (documents, database)
            })
        })
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn memory_and_postgres_hold_equal_documents(
            scenario in arb_scenario(40),
            cuts in proptest::collection::vec(any::<usize>(), 0..4),
        ) {
            let world = play(&scenario);
            let tenant = TenantId::new(format!("case-{}", uuid::Uuid::now_v7().simple()));
            let events: Vec<ProjectedEvent> = world
                .events()
                .iter()
                .map(|event| ProjectedEvent { tenant: tenant.clone(), ..event.clone() })
                .collect();
            let reference = MemoryDocuments::fold(Customer360Model, &events).unwrap();
            let mut expected: Vec<_> = reference.documents(&tenant).cloned().collect();
            expected.sort_by_key(|stored| stored.key);
            let (postgres, _) = shared();
            let memory = MemoryStorage::new(Customer360Model);
            let (in_postgres, in_memory) = runtime().block_on(async {
                let mut checkpoint = None;
                for batch in in_batches(&events, &cuts) {
                    postgres.commit(&tenant, checkpoint, &batch).await.unwrap();
                    memory.commit(&tenant, checkpoint, &batch).await.unwrap();
                    checkpoint = Some(batch.through);
                }
                (
                    postgres.documents(&tenant).await.unwrap(),
                    memory.documents(&tenant).await.unwrap(),
                )
            });
            prop_assert_eq!(&in_memory, &expected);
            prop_assert_eq!(&in_postgres, &expected);
        }
    }
}
