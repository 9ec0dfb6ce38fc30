//! An operator's repairs of a read model (`crm_app::repair`, `Backend::rebuild_in_place`), on
//! PostgreSQL and on SQLite, with the serving projector running throughout: a rebuild in place
//! restores documents damaged behind the projector's back while contacts keep being created;
//! a poison event halts the projector until it is parked, after which it goes on by itself;
//! an unpark applies what reads now and parks again what still does not.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crm_app::repair::{self, RepairError};
use crm_app::{Backend, UnitOfWork};
use crm_eventstore::{EventStore, ExpectedVersion, GlobalPosition, NewEvent, StreamId};
use crm_projections::customer360::Customer360Model;
use crm_projections::{
    AsOf, DocumentStore, ParkedEvent, PostgresDocuments, ProjectorStatus, ReadModel,
    RebuildProgress, Stored, fold_tenant_at,
};
use support::{create_contact, tenant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Where a test's backend keeps its data, for damage done behind the app's back.
enum Raw {
    Postgres(String),
    Sqlite(PathBuf),
}

impl Raw {
    /// Runs `sql` (`$1`: the tenant) straight on the database.
    async fn execute(&self, sql: &str) {
        match self {
            Raw::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connects");
                let driver = tokio::spawn(connection);
                client
                    .execute(sql, &[&tenant().as_str()])
                    .await
                    .expect("the damage is done");
                driver.abort();
            }
            Raw::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).expect("opens");
                connection
                    .busy_timeout(Duration::from_secs(10))
                    .expect("a busy timeout");
                connection
                    .execute(&sql.replace("$1", "?1"), [tenant().as_str()])
                    .expect("the damage is done");
            }
        }
    }
}

/// A document as compared here: key, stamp and JSON.
type Row = (String, GlobalPosition, serde_json::Value);

fn row(stored: &Stored<<Customer360Model as ReadModel>::Doc>) -> Row {
    (
        stored.key.to_string(),
        stored.position,
        serde_json::to_value(&stored.doc).expect("a document serializes"),
    )
}

/// Every document of the tenant, in key order.
async fn contents<D: DocumentStore<Customer360Model>>(documents: &D) -> Vec<Row> {
    let mut all: Vec<Row> = documents
        .documents(&tenant())
        .await
        .expect("documents read")
        .iter()
        .map(row)
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The last position of the tenant's history.
async fn head<S: EventStore>(store: &S) -> GlobalPosition {
    let mut at = GlobalPosition::START;
    loop {
        let page = store
            .read_all(&tenant(), at, 1_000)
            .await
            .expect("the history reads");
        let full = page.len() == 1_000;
        if let Some(last) = page.events.last() {
            at = last.position;
        }
        if !full {
            return at;
        }
    }
}

/// Waits (up to 60 s) until the stored checkpoint of `documents` reaches `position`.
async fn reached<D: DocumentStore<Customer360Model>>(documents: &D, position: GlobalPosition) {
    for _ in 0..1_200 {
        let checkpoint = documents.checkpoint(&tenant()).await.expect("readable");
        if checkpoint.is_some_and(|at| at >= position) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the projector did not reach {position}");
}

/// Waits (up to 60 s) until `status` says what `wanted` looks for.
async fn until(
    status: &mut watch::Receiver<ProjectorStatus>,
    wanted: fn(&ProjectorStatus) -> bool,
) {
    tokio::time::timeout(Duration::from_mins(1), status.wait_for(wanted))
        .await
        .expect("the projector's status changed in time")
        .expect("the projector runs");
}

/// The Customer 360 as `crm serve` keeps it: the model's table and its projector running.
struct Serving<B: Backend> {
    documents: Arc<B::Documents<Customer360Model>>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    status: watch::Receiver<ProjectorStatus>,
}

async fn serving<B: Backend>(backend: &B) -> Serving<B> {
    let store = backend.work().store().clone();
    let documents = Arc::new(
        backend
            .documents(Customer360Model)
            .await
            .expect("the model's table"),
    );
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let status = backend.spawn_projector(
        "customer360",
        &store,
        &documents,
        &tenant(),
        &stopped,
        &mut tasks,
    );
    Serving {
        documents,
        stop,
        tasks,
        status,
    }
}

async fn a_rebuild_in_place_restores_damaged_documents_while_serving<B: Backend>(
    backend: B,
    raw: Raw,
) {
    let (service, _) = support::service(backend.work());
    for _ in 0..20 {
        create_contact(&service).await;
    }
    let store = backend.work().store().clone();
    let Serving {
        documents,
        stop,
        mut tasks,
        ..
    } = serving(&backend).await;
    reached(&*documents, head(&store).await).await;
    let healthy = contents(&*documents).await;
    assert!(healthy.len() >= 20, "{} documents", healthy.len());

    // Damage behind the projector's back: three documents gone, one rewritten.
    let table = PostgresDocuments::<Customer360Model>::table_name().expect("a table name");
    raw.execute(&format!(
        "DELETE FROM {table} WHERE tenant_id = $1 AND key IN \
         (SELECT key FROM {table} WHERE tenant_id = $1 ORDER BY key LIMIT 3)"
    ))
    .await;
    assert_eq!(contents(&*documents).await.len(), healthy.len() - 3);

    // Contacts keep coming while the rebuild runs.
    let writer = {
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            for _ in 0..15 {
                create_contact(&service).await;
            }
        })
    };
    let (progress, seen) = watch::channel(RebuildProgress::default());
    backend
        .rebuild_in_place(&*documents, &tenant(), &progress)
        .await
        .expect("the rebuild runs and is promoted");
    assert!(seen.borrow().switched, "{:?}", seen.borrow());
    writer.await.expect("the writer ran");

    // The serving projector goes on from the rebuilt checkpoint; nothing missing, nothing
    // doubled: exactly the documents a fresh fold of the whole history gives.
    reached(&*documents, head(&store).await).await;
    let folded = fold_tenant_at(&store, &tenant(), Customer360Model, AsOf::Now)
        .await
        .expect("the history folds");
    let mut expected: Vec<Row> = folded.documents(&tenant()).map(row).collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(contents(&*documents).await, expected);
    assert!(expected.len() >= 35, "{} documents", expected.len());
    assert!(
        documents
            .parked(&tenant())
            .await
            .expect("readable")
            .is_empty()
    );

    // Running it again changes nothing.
    backend
        .rebuild_in_place(&*documents, &tenant(), &progress)
        .await
        .expect("a second rebuild runs");
    assert_eq!(contents(&*documents).await, expected);
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
}

async fn a_poison_event_halts_until_parked_and_unpark_applies_what_reads_now<B: Backend>(
    backend: B,
    raw: Raw,
) {
    let (service, _) = support::service(backend.work());
    let before = create_contact(&service).await;
    let poison = Uuid::now_v7();
    backend
        .work()
        .store()
        .append(
            &tenant(),
            &StreamId::new(format!("contact-{poison}")).expect("a stream"),
            ExpectedVersion::NoStream,
            &[NewEvent::new(
                "ContactCreated",
                1,
                serde_json::json!({ "nonsense": true }),
            )],
        )
        .await
        .expect("the store takes any payload");
    let after = create_contact(&service).await;
    let store = backend.work().store().clone();
    let Serving {
        documents,
        stop,
        mut tasks,
        mut status,
    } = serving(&backend).await;
    until(&mut status, |status| status.halted_at.is_some()).await;
    let names = |all: &[Row], id: Uuid| all.iter().any(|(key, _, _)| key.contains(&id.to_string()));
    let halted = contents(&*documents).await;
    assert!(names(&halted, before.0), "the events before it are applied");
    assert!(
        !names(&halted, after.0),
        "nothing past it: the projector is halted"
    );
    assert!(!tasks.is_empty(), "a halted projector keeps running");

    // Named wrong, nothing happens; unnamed, the halting event is parked.
    let elsewhere = repair::park_halting_event(
        store.clone(),
        Arc::clone(&documents),
        &tenant(),
        "customer360",
        Some(GlobalPosition::START),
    )
    .await;
    assert!(
        matches!(elsewhere, Err(RepairError::HaltedElsewhere { .. })),
        "{elsewhere:?}"
    );
    let parked: ParkedEvent = repair::park_halting_event(
        store.clone(),
        Arc::clone(&documents),
        &tenant(),
        "customer360",
        None,
    )
    .await
    .expect("the halting event is parked");
    assert_eq!(parked.stream, format!("contact-{poison}"));
    assert_eq!(parked.event_type, "ContactCreated");

    // The serving projector finds the checkpoint moved and goes on by itself.
    until(&mut status, |status| status.halted_at.is_none()).await;
    reached(&*documents, head(&store).await).await;
    assert!(names(&contents(&*documents).await, after.0));
    let again = repair::park_halting_event(
        store.clone(),
        Arc::clone(&documents),
        &tenant(),
        "customer360",
        None,
    )
    .await;
    assert!(
        matches!(again, Err(RepairError::NotHalted { .. })),
        "{again:?}"
    );

    // As if an older build had parked the second contact's creation too: a parked row beside
    // its document, written behind the app's back.
    let created = store
        .read_all(&tenant(), GlobalPosition::START, 1_000)
        .await
        .expect("the history reads")
        .events
        .into_iter()
        .find(|event| event.stream.as_str() == format!("contact-{}", after.0))
        .expect("the second contact's first event");
    let table = PostgresDocuments::<Customer360Model>::table_name().expect("a table name");
    raw.execute(&format!(
        "INSERT INTO projection_parked (projection, tenant_id, tx_id, position, stream_id, \
         version, event_id, event_type, schema_version, reason, recorded_at) VALUES \
         ('{table}', $1, {}, {}, '{}', {}, '{}', '{}', {}, 'an older build could not read it', '{}')",
        created.position.transaction,
        created.position.position,
        created.stream.as_str(),
        created.version,
        created.id,
        created.event_type,
        created.schema_version,
        created
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    ))
    .await;
    assert_eq!(
        documents.parked(&tenant()).await.expect("readable").len(),
        2
    );

    let (progress, _) = watch::channel(RebuildProgress::default());
    let unparked = repair::unpark(&backend, &*documents, &tenant(), &progress)
        .await
        .expect("the model is rebuilt");
    assert_eq!(unparked.applied.len(), 1, "{unparked:?}");
    assert_eq!(unparked.applied[0].position, created.position);
    assert_eq!(unparked.still_parked.len(), 1, "{unparked:?}");
    assert_eq!(unparked.still_parked[0].position, parked.position);
    let rebuilt = contents(&*documents).await;
    assert!(names(&rebuilt, before.0) && names(&rebuilt, after.0));
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
}

macro_rules! on_postgres_and_sqlite {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let database = crm_testkit::postgres::TestDatabase::create().await;
                    let backend = crm_app::PostgresBackend::connect(&database.url, 4)
                        .await
                        .expect("the backend opens");
                    super::$name(backend, super::Raw::Postgres(database.url.clone())).await;
                    drop(database);
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let directory = tempfile::tempdir().expect("a temporary directory");
                    let path = directory.path().join("crm.db");
                    let backend = crm_app::SqliteBackend::open(&path).expect("the backend opens");
                    super::$name(backend, super::Raw::Sqlite(path)).await;
                }
            )*
        }
    };
}

on_postgres_and_sqlite!(
    a_rebuild_in_place_restores_damaged_documents_while_serving,
    a_poison_event_halts_until_parked_and_unpark_applies_what_reads_now,
);
