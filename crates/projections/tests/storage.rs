//! The storage port: its conformance suite (`crm_testkit::storage_conformance`) run for each
//! adapter, what only the PostgreSQL adapter has to show (a shared schema, its table names, its
//! version-checked cache), what only the SQLite adapter has to show (writers and readers at
//! once, commits inside the application's transaction, inline application, live versions),
//! and the property that every adapter, and each rebuild writer, give equal documents for
//! random valid histories.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use crm_eventstore::sqlite::SqliteDatabase;
use crm_projections::{
    DocumentStore, MemoryStorage, PostgresDocuments, ProjectedEvent, ProjectionBatch,
    REMEMBERED_DOCUMENTS, ReadModel, SqliteDocuments, Stored,
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

/// A fresh SQLite adapter on a file of its own; the file lives as long as the directory.
fn sqlite<M: ReadModel>(model: M) -> (SqliteDocuments<M>, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let database = SqliteDatabase::open(directory.path().join("crm.db")).unwrap();
    let documents = SqliteDocuments::open(database, model).expect("open the adapter");
    (documents, directory)
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

        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let model = model!($($model)?);
                    let (documents, _directory) = super::sqlite(model);
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
        "proj_customer_360_v2"
    );
    assert_eq!(
        SqliteDocuments::<Tally>::table_name().unwrap(),
        PostgresDocuments::<Tally>::table_name().unwrap()
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

/// Every adapter, fed the same random valid history (commands through the aggregates) in
/// random batches, holds equal documents for every read model, equal to the one-by-one
/// in-memory fold; so does each blue/green rebuild writer (PostgreSQL's, SQLite's) committing
/// at random points while forgetting and reading back what it wrote.
mod equal_documents {
    use std::sync::{Arc, OnceLock};

    use proptest::prelude::*;

    use crm_projections::customer360::Customer360Model;
    use crm_projections::duplicates::DuplicateQueueModel;
    use crm_projections::identity::IdentityIndexModel;
    use crm_projections::pipeline::PipelineModel;
    use crm_projections::sla::{SlaConfig, SlaModel};
    use crm_projections::{MemoryDocuments, ProjectedEvent, RebuildLimits};
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

    /// The five read models' tables in one PostgreSQL database and one SQLite file shared by
    /// every case; each case is a tenant of its own.
    struct Shared {
        customers: Arc<PostgresDocuments<Customer360Model>>,
        sla: Arc<PostgresDocuments<SlaModel>>,
        pipeline: Arc<PostgresDocuments<PipelineModel>>,
        duplicates: Arc<PostgresDocuments<DuplicateQueueModel>>,
        identity: Arc<PostgresDocuments<IdentityIndexModel>>,
        _database: TestDatabase,
        sqlite: SqliteShared,
    }

    struct SqliteShared {
        customers: SqliteDocuments<Customer360Model>,
        sla: SqliteDocuments<SlaModel>,
        pipeline: SqliteDocuments<PipelineModel>,
        duplicates: SqliteDocuments<DuplicateQueueModel>,
        identity: SqliteDocuments<IdentityIndexModel>,
        _directory: tempfile::TempDir,
    }

    fn sqlite_shared() -> SqliteShared {
        let directory = tempfile::tempdir().unwrap();
        let database = SqliteDatabase::open(directory.path().join("crm.db")).unwrap();
        SqliteShared {
            customers: SqliteDocuments::open(database.clone(), Customer360Model).unwrap(),
            sla: SqliteDocuments::open(database.clone(), SlaModel::new(sla_config())).unwrap(),
            pipeline: SqliteDocuments::open(database.clone(), PipelineModel).unwrap(),
            duplicates: SqliteDocuments::open(database.clone(), DuplicateQueueModel).unwrap(),
            identity: SqliteDocuments::open(database, IdentityIndexModel::default()).unwrap(),
            _directory: directory,
        }
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
                    sqlite: sqlite_shared(),
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

    /// What `model`'s documents are in memory, through the PostgreSQL and SQLite adapters'
    /// commits, and through each one's rebuild writer; each in key order.
    struct Held<D> {
        expected: Vec<Stored<D>>,
        in_memory: Vec<Stored<D>>,
        in_postgres: Vec<Stored<D>>,
        rebuilt: Vec<Stored<D>>,
        in_sqlite: Vec<Stored<D>>,
        rebuilt_in_sqlite: Vec<Stored<D>>,
    }

    fn hold<M>(
        model: M,
        (postgres, sqlite): (&Arc<PostgresDocuments<M>>, &SqliteDocuments<M>),
        events: &[ProjectedEvent],
        cuts: &[usize],
        (limits, page): (RebuildLimits, usize),
    ) -> Held<M::Doc>
    where
        M: ReadModel + Clone + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
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
                sqlite.commit(&tenant, checkpoint, &batch).await.unwrap();
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
            let mut sqlite_writer = sqlite.rebuild_writer(rebuilt_tenant.clone(), limits);
            sqlite_writer.start().await.unwrap();
            for page in rebuilt_events.chunks(page) {
                let batch =
                    ProjectionBatch::new(page.to_vec(), page[page.len() - 1].global_position());
                sqlite_writer.fold(&batch).await.unwrap();
                if sqlite_writer.wants_commit() {
                    sqlite_writer.commit().await.unwrap();
                }
            }
            sqlite_writer.commit().await.unwrap();
            Held {
                expected,
                in_memory: memory.documents(&tenant).await.unwrap(),
                in_postgres: postgres.documents(&tenant).await.unwrap(),
                rebuilt: postgres.documents(&rebuilt_tenant).await.unwrap(),
                in_sqlite: sqlite.documents(&tenant).await.unwrap(),
                rebuilt_in_sqlite: sqlite.documents(&rebuilt_tenant).await.unwrap(),
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
            prop_assert_eq!(&held.in_sqlite, &held.expected);
            prop_assert_eq!(&held.rebuilt_in_sqlite, &held.expected);
        }};
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn memory_postgres_and_sqlite_hold_equal_documents(
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
            check_equal!(hold(Customer360Model, (&shared.customers, &shared.sqlite.customers), &events, &cuts, rebuild));
            check_equal!(hold(SlaModel::new(sla_config()), (&shared.sla, &shared.sqlite.sla), &events, &cuts, rebuild));
            check_equal!(hold(PipelineModel, (&shared.pipeline, &shared.sqlite.pipeline), &events, &cuts, rebuild));
            check_equal!(hold(DuplicateQueueModel, (&shared.duplicates, &shared.sqlite.duplicates), &events, &cuts, rebuild));
            check_equal!(hold(IdentityIndexModel::default(), (&shared.identity, &shared.sqlite.identity), &events, &cuts, rebuild));
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

/// What only the SQLite adapter has to show: writers of several tenants and readers at once,
/// racing writers of one tenant, commits inside the application's own write transaction,
/// inline application, live versions and resets.
mod sqlite_adapter {
    use std::collections::HashSet;

    use crm_eventstore::sqlite::sqlite_error;
    use crm_projections::{
        DocKey, DocSet, Indexed, IndexedColumn, MemoryDocuments, StorageError, TenantId,
    };
    use crm_testkit::storage_conformance::TallyDoc;

    use super::*;

    /// What the memory reference holds for `tenant` after `events`, in key order.
    fn reference_of(tenant: &TenantId, events: &[ProjectedEvent]) -> Vec<Stored<TallyDoc>> {
        let folded = MemoryDocuments::fold(Tally::default(), events).unwrap();
        let mut docs: Vec<_> = folded.documents(tenant).cloned().collect();
        docs.sort_by_key(|stored| stored.key);
        docs
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_of_several_tenants_and_readers_at_once_end_as_the_reference() {
        let (documents, _directory) = sqlite(Tally::default());
        let tenants: Vec<TenantId> = (0..6)
            .map(|n| crm_testkit::tenant_id(&format!("tenant-{n}")))
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for tenant in &tenants {
            let (documents, tenant) = (documents.clone(), tenant.clone());
            tasks.spawn(async move {
                let events = history(&tenant);
                let mut checkpoint = None;
                // One event per commit, so that readers meet every state in between.
                for event in &events {
                    let batch = ProjectionBatch::new(vec![event.clone()], event.global_position());
                    documents.commit(&tenant, checkpoint, &batch).await.unwrap();
                    checkpoint = Some(batch.through);
                }
            });
        }
        for _ in 0..3 {
            let (documents, tenants) = (documents.clone(), tenants.clone());
            tasks.spawn(async move {
                for _ in 0..10 {
                    for tenant in &tenants {
                        let events = history(tenant);
                        // A commit is atomic: whatever a reader sees is the fold of a prefix.
                        let prefixes: Vec<Vec<Stored<TallyDoc>>> = (0..=events.len())
                            .map(|end| reference_of(tenant, &events[..end]))
                            .collect();
                        let seen = documents.documents(tenant).await.unwrap();
                        assert!(prefixes.contains(&seen), "{tenant}: {seen:?}");
                        documents.checkpoint(tenant).await.unwrap();
                    }
                }
            });
        }
        while let Some(finished) = tasks.join_next().await {
            finished.unwrap();
        }
        for tenant in &tenants {
            let events = history(tenant);
            assert_eq!(
                documents.documents(tenant).await.unwrap(),
                reference_of(tenant, &events)
            );
            assert_eq!(
                documents.checkpoint(tenant).await.unwrap(),
                Some(last(&events))
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_two_writers_racing_from_one_checkpoint_exactly_one_commits() {
        let (documents, _directory) = sqlite(Tally::default());
        let events = history(&tenant());
        let acme = tenant();
        let (short, long) = (
            ProjectionBatch::new(events[..3].to_vec(), last(&events[..3])),
            ProjectionBatch::new(events.clone(), last(&events)),
        );
        let (first, second) = tokio::join!(
            documents.commit(&acme, None, &short),
            documents.commit(&acme, None, &long),
        );
        let (winner, loser) = match (first, second) {
            (Ok(()), Err(error)) => (3, error),
            (Err(error), Ok(())) => (events.len(), error),
            other => panic!("exactly one must commit: {other:?}"),
        };
        assert!(
            matches!(loser, StorageError::CheckpointMoved { expected: None, .. }),
            "{loser:?}"
        );
        assert_eq!(
            documents.documents(&tenant()).await.unwrap(),
            reference(&events[..winner])
        );
    }

    #[tokio::test]
    async fn a_commit_in_the_applications_transaction_stands_or_falls_with_its_rows() {
        let (documents, _directory) = sqlite(Tally::default());
        let database = documents.database().clone();
        database
            .migrate(
                "test-app",
                &[(1, "CREATE TABLE app_rows (n INTEGER NOT NULL) STRICT")],
            )
            .unwrap();
        let events = history(&tenant());
        let batch = ProjectionBatch::new(events.clone(), last(&events));
        let insert = |transaction: &rusqlite::Transaction<'_>| {
            transaction
                .execute("INSERT INTO app_rows VALUES (1)", [])
                .map_err(|error| StorageError::from(sqlite_error("inserting", &error)))
        };

        let (writer, rolled_back) = (documents.clone(), batch.clone());
        let refused = database
            .write(move |transaction| {
                insert(transaction)?;
                writer.commit_in(transaction, &tenant(), None, &rolled_back)?;
                Err::<(), _>(StorageError::Database {
                    code: "APP".into(),
                    message: "the application changed its mind".into(),
                })
            })
            .await;
        assert!(matches!(refused, Err(StorageError::Database { .. })));
        assert_eq!(documents.checkpoint(&tenant()).await.unwrap(), None);
        assert!(documents.documents(&tenant()).await.unwrap().is_empty());

        let (writer, committed) = (documents.clone(), batch.clone());
        database
            .write(move |transaction| {
                insert(transaction)?;
                writer.commit_in(transaction, &tenant(), None, &committed)
            })
            .await
            .unwrap();
        assert_eq!(
            documents.checkpoint(&tenant()).await.unwrap(),
            Some(last(&events))
        );
        assert_eq!(
            documents.documents(&tenant()).await.unwrap(),
            reference(&events)
        );
        let rows: i64 = database
            .read(|transaction| {
                transaction
                    .query_row("SELECT count(*) FROM app_rows", [], |row| row.get(0))
                    .map_err(|error| StorageError::from(sqlite_error("counting", &error)))
            })
            .await
            .unwrap();
        assert_eq!(
            rows, 1,
            "the rolled-back row is gone, the committed one kept"
        );

        let (writer, stale) = (documents.clone(), batch);
        let error = database
            .write(move |transaction| writer.commit_in(transaction, &tenant(), None, &stale))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::CheckpointMoved { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn events_applied_inline_give_the_reference_and_leave_the_checkpoint() {
        let (documents, _directory) = sqlite(Tally::default());
        let events = history(&tenant());
        for chunk in events.chunks(2) {
            let (writer, chunk) = (documents.clone(), chunk.to_vec());
            documents
                .database()
                .write(move |transaction| writer.apply_inline(transaction, &chunk))
                .await
                .unwrap();
        }
        assert_eq!(
            documents.documents(&tenant()).await.unwrap(),
            reference(&events)
        );
        assert_eq!(documents.checkpoint(&tenant()).await.unwrap(), None);
    }

    /// A model folding as Tally does, under its own name: its version, its columns and its
    /// ordered indexes.
    macro_rules! tally_variant {
        ($(#[$doc:meta])* $name:ident, $version:expr, $columns:expr, $ordered:expr) => {
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Default)]
            struct $name;

            impl ReadModel for $name {
                const NAME: &'static str = Tally::NAME;
                const VERSION: u32 = $version;
                const KINDS: &'static [&'static str] = Tally::KINDS;
                const COLUMNS: &'static [IndexedColumn] = $columns;
                const ORDERED_WITHIN: &'static [(&'static str, &'static str)] = $ordered;
                type Doc = TallyDoc;

                fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
                    Tally::default().keys(event, keys);
                }

                fn apply(&self, docs: &mut DocSet<TallyDoc>, event: &ProjectedEvent) {
                    Tally::default().apply(docs, event);
                }

                fn indexed(key: &DocKey, doc: &TallyDoc) -> Indexed {
                    Tally::indexed(key, doc)
                        .into_iter()
                        .filter(|(name, _)| $columns.iter().any(|column| column.name == *name))
                        .collect()
                }
            }
        };
    }

    tally_variant!(
        /// Tally under version 2, as a new build would ship it.
        TallyV2,
        2,
        Tally::COLUMNS,
        &[]
    );

    tally_variant!(
        /// Tally's version 1 with a column fewer: a model changed without a new version.
        TallyChanged,
        Tally::VERSION,
        Tally::COLUMNS.split_at(1).0,
        &[]
    );

    #[tokio::test]
    async fn a_live_version_is_kept_from_resets_and_a_switch_frees_it() {
        let (blue, _directory) = sqlite(Tally::default());
        let green = SqliteDocuments::open(blue.database().clone(), TallyV2).unwrap();
        assert_ne!(blue.table(), green.table());
        let events = history(&tenant());
        let mut batch = ProjectionBatch::new(events.clone(), last(&events));
        batch.parked = vec![crm_projections::ParkedEvent {
            position: last(&events),
            stream: "ticket-x".into(),
            version: 1,
            event_id: uuid::Uuid::from_u128(7),
            event_type: "TicketOpened".into(),
            schema_version: 9,
            reason: "unknown schema".into(),
            recorded_at: chrono::Utc::now(),
        }];
        blue.commit(&tenant(), None, &batch).await.unwrap();

        assert_eq!(blue.live_version(&tenant()).await.unwrap(), None);
        blue.claim_live(&tenant()).await.unwrap();
        green.claim_live(&tenant()).await.unwrap();
        assert_eq!(blue.live_version(&tenant()).await.unwrap(), Some(1));
        assert!(blue.is_live(&tenant()).await.unwrap());
        let refused = blue.reset(&tenant()).await.unwrap_err();
        assert!(
            matches!(&refused, StorageError::Database { code, .. } if code == "CP001"),
            "{refused:?}"
        );
        assert_eq!(blue.documents(&tenant()).await.unwrap(), reference(&events));

        green.switch_live(&tenant()).await.unwrap();
        assert!(green.is_live(&tenant()).await.unwrap());
        assert!(!blue.is_live(&tenant()).await.unwrap());
        blue.reset(&tenant()).await.unwrap();
        assert!(blue.documents(&tenant()).await.unwrap().is_empty());
        assert!(blue.parked(&tenant()).await.unwrap().is_empty());
        assert_eq!(blue.checkpoint(&tenant()).await.unwrap(), None);
    }

    #[test]
    fn a_model_changed_without_a_new_version_is_refused_at_open() {
        let (documents, _directory) = sqlite(Tally::default());
        let error = SqliteDocuments::open(documents.database().clone(), TallyChanged).unwrap_err();
        assert!(
            matches!(&error, StorageError::Database { code, .. } if code == "MIGRATION"),
            "{error:?}"
        );
        // The same model opens again over the same file.
        SqliteDocuments::open(documents.database().clone(), Tally::default()).unwrap();
    }

    tally_variant!(
        /// Tally's version 1 with an ordered index: a table made before the model declared it
        /// gets it when opened again.
        TallyOrdered,
        Tally::VERSION,
        Tally::COLUMNS,
        &[("assignee", "opened_at")]
    );

    tally_variant!(
        /// An ordered index naming a column the model does not declare.
        TallyMisordered,
        Tally::VERSION,
        Tally::COLUMNS,
        &[("assignee", "colour")]
    );

    #[tokio::test]
    async fn an_ordered_index_is_made_even_on_a_table_made_before_it() {
        let (documents, _directory) = sqlite(Tally::default());
        let database = documents.database().clone();
        let indexes = || async {
            database
                .read(|connection| {
                    let sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = \
                               'proj_tally_v1_o0'";
                    let found = connection.prepare(sql).and_then(|mut statement| {
                        statement
                            .query_map([], |row| row.get::<_, String>(0))?
                            .collect::<Result<Vec<_>, _>>()
                    });
                    found.map_err(|error| StorageError::Database {
                        code: "TEST".into(),
                        message: error.to_string(),
                    })
                })
                .await
                .unwrap()
        };
        assert!(indexes().await.is_empty());
        SqliteDocuments::open(database.clone(), TallyOrdered).unwrap();
        let made = indexes().await;
        assert_eq!(made.len(), 1, "{made:?}");
        assert!(
            made[0].contains("(tenant_id, kind, c_assignee, c_opened_at, key)"),
            "{made:?}"
        );
        // Opened again, nothing changes.
        SqliteDocuments::open(database.clone(), TallyOrdered).unwrap();
        let error = SqliteDocuments::open(database.clone(), TallyMisordered).unwrap_err();
        assert!(
            matches!(&error, StorageError::InvalidName { name, .. } if name == "colour"),
            "{error:?}"
        );
    }

    /// Documents written in many commits (rows in insertion order, not key order) come back in
    /// key order, each once.
    #[tokio::test]
    async fn documents_come_back_in_key_order_whatever_the_insertion_order() {
        let (documents, _directory) = sqlite(Tally::default());
        let events = history(&tenant());
        let mut checkpoint = None;
        for event in &events {
            let batch = ProjectionBatch::new(vec![event.clone()], event.global_position());
            documents
                .commit(&tenant(), checkpoint, &batch)
                .await
                .unwrap();
            checkpoint = Some(batch.through);
        }
        let keys: Vec<DocKey> = documents
            .documents(&tenant())
            .await
            .unwrap()
            .iter()
            .map(|stored| stored.key)
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len());
    }
}

/// A rebuild in place is promoted from a staging twin into the serving table; a promotion
/// never moves the serving checkpoint back (which would leave a serving projector, whose
/// checkpoint is remembered, unaware of the events it must fold again).
mod promotion {
    use std::future::Future;

    use crm_projections::{StorageError, Switched};

    use super::*;

    async fn sorted<D: DocumentStore<Tally>>(documents: &D) -> Vec<Stored<TallyDoc>> {
        let mut all = documents.documents(&tenant()).await.unwrap();
        all.sort_by_key(|stored| stored.key);
        all
    }

    /// A twin behind its serving table is refused with how far the table is, and nothing
    /// changes; folded on to the table's checkpoint, it is promoted and emptied.
    async fn a_twin_behind_its_serving_table_is_not_promoted<D, P, F>(
        serving: &D,
        twin: &D,
        promote: P,
    ) where
        D: DocumentStore<Tally>,
        P: Fn() -> F,
        F: Future<Output = Result<Switched, StorageError>>,
    {
        let events = history(&tenant());
        let (early, late) = events.split_at(3);
        let whole = ProjectionBatch::new(events.clone(), last(&events));
        serving.commit(&tenant(), None, &whole).await.unwrap();
        let before = sorted(serving).await;
        let begun = ProjectionBatch::new(early.to_vec(), last(early));
        twin.commit(&tenant(), None, &begun).await.unwrap();

        assert_eq!(promote().await.unwrap(), Switched::Behind(last(&events)));
        assert_eq!(
            serving.checkpoint(&tenant()).await.unwrap(),
            Some(last(&events))
        );
        assert_eq!(sorted(serving).await, before);
        assert_eq!(twin.checkpoint(&tenant()).await.unwrap(), Some(last(early)));

        let rest = ProjectionBatch::new(late.to_vec(), last(late));
        twin.commit(&tenant(), Some(last(early)), &rest)
            .await
            .unwrap();
        assert_eq!(promote().await.unwrap(), Switched::Live);
        assert_eq!(
            serving.checkpoint(&tenant()).await.unwrap(),
            Some(last(&events))
        );
        assert_eq!(sorted(serving).await, reference(&events));
        assert_eq!(twin.checkpoint(&tenant()).await.unwrap(), None);
        assert!(sorted(twin).await.is_empty());
    }

    #[tokio::test]
    async fn postgres_a_twin_behind_its_serving_table_is_not_promoted() {
        let (serving, _database) = postgres(Tally::default()).await;
        let twin = serving.staging().await.unwrap();
        let tenant = tenant();
        a_twin_behind_its_serving_table_is_not_promoted(&serving, &twin, || twin.promote(&tenant))
            .await;
    }

    #[tokio::test]
    async fn sqlite_a_twin_behind_its_serving_table_is_not_promoted() {
        let (serving, _directory) = sqlite(Tally::default());
        let twin = serving.staging().unwrap();
        let tenant = tenant();
        a_twin_behind_its_serving_table_is_not_promoted(&serving, &twin, || twin.promote(&tenant))
            .await;
    }
}
