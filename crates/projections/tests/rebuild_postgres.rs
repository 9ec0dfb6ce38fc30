//! Blue/green rebuilds: a new version is folded from position zero into its own table while
//! the live version keeps serving, then switched to in one statement.

use std::sync::Arc;
use std::time::Duration;

use crm_domain::ContactId;
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, NewEvent, StoreSettings, StreamId,
};
use crm_projections::customer360::{Customer360Model, Customer360Query, CustomerDoc};
use crm_projections::sla::{SlaConfig, SlaModel};
use crm_projections::{
    DocKey, DocSet, DocumentStore, Indexed, IndexedColumn, MemoryDocuments, PoisonPolicy,
    PostgresDocuments, ProjectedEvent, ProjectionBatch, Projector, ProjectorOptions, ReadModel,
    RebuildFuture, RebuildLimits, RebuildProgress, RebuildTarget, RunnerError, StorageError,
    Stored, Switched, rebuild, rebuild_many,
};
use crm_testkit::postgres::TestDatabase;
use crm_testkit::workload::{
    append_all, catch_up_to, contact_id, events, reference, tenant, ticket_id, workload,
};
use tokio::sync::watch;

/// The Customer 360 fold under the next version, as a new build would ship it.
#[derive(Debug, Clone, Copy, Default)]
struct Customer360V2;

const BLUE: u32 = Customer360Model::VERSION;
const GREEN: u32 = Customer360Model::VERSION + 1;

impl ReadModel for Customer360V2 {
    const NAME: &'static str = Customer360Model::NAME;
    const VERSION: u32 = GREEN;
    const KINDS: &'static [&'static str] = Customer360Model::KINDS;
    const COLUMNS: &'static [IndexedColumn] = Customer360Model::COLUMNS;
    type Doc = CustomerDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        Customer360Model.keys(event, keys);
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<CustomerDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        Customer360Model.linked_keys(event, docs, keys);
    }

    fn apply(&self, docs: &mut DocSet<CustomerDoc>, event: &ProjectedEvent) {
        Customer360Model.apply(docs, event);
    }

    fn indexed(key: &DocKey, doc: &CustomerDoc) -> Indexed {
        Customer360Model::indexed(key, doc)
    }
}

fn options(batch_size: usize) -> ProjectorOptions {
    ProjectorOptions {
        batch_size,
        catch_up_batch_size: batch_size,
        poll_interval: Duration::from_millis(20),
        poison: PoisonPolicy::Halt,
        retry_after: Duration::from_millis(20),
        halted_recheck: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_fills_a_new_version_while_the_old_serves_then_switches_at_once() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let head = append_all(&store, &tenant(), &workload(8, 4, 3)).await;
    let total = events(&store, &tenant(), head).await.len() as u64;

    let blue = Arc::new(
        PostgresDocuments::connect(&database.url, 2, Customer360Model)
            .await
            .expect("connect the live version"),
    );
    let mut projector = Projector::new(store.clone(), Arc::clone(&blue), tenant(), options(100));
    catch_up_to(&mut projector, head).await.unwrap();
    blue.claim_live(&tenant()).await.unwrap();
    assert_eq!(blue.live_version(&tenant()).await.unwrap(), Some(BLUE));

    let green = Arc::new(
        PostgresDocuments::connect(&database.url, 2, Customer360V2)
            .await
            .expect("connect the next version"),
    );
    assert_eq!(green.table(), format!("proj_customer_360_v{GREEN}"));
    let (progress, mut watched) = watch::channel(RebuildProgress::default());
    let rebuilding = tokio::spawn({
        let store = store.clone();
        let green = Arc::clone(&green);
        async move { rebuild(store, green, tenant(), options(5), &progress).await }
    });

    // Half-way, the old version still serves, whole.
    let midway = watched
        .wait_for(|progress| progress.processed > 0)
        .await
        .unwrap()
        .clone();
    assert!(!midway.switched, "{midway:?}");
    assert_eq!(midway.total, total);
    assert_eq!(blue.live_version(&tenant()).await.unwrap(), Some(BLUE));
    let served = blue
        .lookup(
            &tenant(),
            &Customer360Query {
                contact: ContactId(contact_id(3)),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.tickets.len(), 4);

    rebuilding.await.unwrap().unwrap();
    let done = watched.borrow().clone();
    assert!(done.switched);
    assert!(done.processed >= total, "{done:?}");
    assert!(done.rate > 0.0);
    assert_eq!(done.remaining, Some(Duration::ZERO));
    assert_eq!(green.live_version(&tenant()).await.unwrap(), Some(GREEN));
    assert!(green.is_live(&tenant()).await.unwrap());
    assert!(!blue.is_live(&tenant()).await.unwrap());

    let expected = reference(&store, &tenant(), head).await;
    assert_eq!(green.documents(&tenant()).await.unwrap(), expected);
    assert_eq!(blue.documents(&tenant()).await.unwrap(), expected);

    // The live version is never wiped for a rebuild.
    let refused = green.reset(&tenant()).await.unwrap_err();
    assert!(
        matches!(&refused, StorageError::Database { code, .. } if code == "CP001"),
        "{refused:?}"
    );
}

/// Limits so small that every path of the writer runs: commits every few events, documents
/// forgotten and read back, the next page read while one folds.
const TIGHT: RebuildLimits = RebuildLimits {
    events_per_commit: 4,
    documents: 3,
};

async fn version<M>(database: &TestDatabase, model: M) -> Arc<PostgresDocuments<M>>
where
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    Arc::new(
        PostgresDocuments::connect(&database.url, 2, model)
            .await
            .expect("connect a version"),
    )
}

/// The in-memory fold of `model` over every event of the tenant through `head`, in key order.
async fn folded<S, M>(store: &S, model: M, head: GlobalPosition) -> Vec<Stored<M::Doc>>
where
    S: EventStore,
    M: ReadModel,
{
    let events = events(store, &tenant(), head).await;
    let folded = MemoryDocuments::fold(model, &events).expect("valid test data");
    let mut docs: Vec<_> = folded.documents(&tenant()).cloned().collect();
    docs.sort_by_key(|stored| stored.key);
    docs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_models_rebuilt_from_one_read_each_equal_a_clean_fold() {
    for (limits, page) in [(TIGHT, 3), (RebuildLimits::default(), 1000)] {
        let database = TestDatabase::create().await;
        let store = database.store(StoreSettings::default()).await;
        let head = append_all(&store, &tenant(), &workload(6, 3, 2)).await;
        // Wait until the store delivers through the head: a rebuild stops at the first short
        // page, and other tests' open transactions can hold readers back for a moment.
        events(&store, &tenant(), head).await;
        let customers = version(&database, Customer360V2).await;
        let sla = version(&database, SlaModel::new(SlaConfig::new())).await;
        let targets: Vec<Box<dyn RebuildTarget>> = vec![
            Box::new(customers.rebuild_writer(tenant(), limits)),
            Box::new(sla.rebuild_writer(tenant(), limits)),
        ];
        let (progress, watched) = watch::channel(RebuildProgress::default());
        rebuild_many(store.clone(), targets, tenant(), options(page), &progress)
            .await
            .unwrap();
        assert!(watched.borrow().switched);
        assert_eq!(
            customers.documents(&tenant()).await.unwrap(),
            reference(&store, &tenant(), head).await
        );
        let tickets = folded(&store, SlaModel::new(SlaConfig::new()), head).await;
        assert!(!tickets.is_empty());
        assert_eq!(sla.documents(&tenant()).await.unwrap(), tickets);
        for checkpoint in [
            customers.checkpoint(&tenant()).await.unwrap(),
            sla.checkpoint(&tenant()).await.unwrap(),
        ] {
            assert_eq!(checkpoint, Some(head));
        }
        assert!(customers.is_live(&tenant()).await.unwrap());
        assert!(sla.is_live(&tenant()).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_halts_a_rebuild_before_the_switch_with_what_came_before_committed() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let before = append_all(&store, &tenant(), &workload(3, 2, 1)).await;
    let expected = reference(&store, &tenant(), before).await;
    let broken = store
        .append(
            &tenant(),
            &StreamId::new(format!("ticket-{}", ticket_id(9, 9))).unwrap(),
            ExpectedVersion::Any,
            &[NewEvent::new(
                "TicketOpened",
                1,
                serde_json::json!({"subject": 3}),
            )],
        )
        .await
        .unwrap()
        .events[0]
        .position;
    let last = append_all(&store, &tenant(), &workload(5, 1, 1)[3..]).await;
    events(&store, &tenant(), last).await;

    let green = version(&database, Customer360V2).await;
    let (progress, watched) = watch::channel(RebuildProgress::default());
    let targets: Vec<Box<dyn RebuildTarget>> =
        vec![Box::new(green.rebuild_writer(tenant(), TIGHT))];
    let error = rebuild_many(store.clone(), targets, tenant(), options(3), &progress)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RunnerError::Poison { position, .. } if *position == broken),
        "{error:?}"
    );
    assert!(!watched.borrow().switched);
    assert!(!green.is_live(&tenant()).await.unwrap());
    assert_eq!(green.documents(&tenant()).await.unwrap(), expected);
    let checkpoint = green.checkpoint(&tenant()).await.unwrap();
    assert!(
        checkpoint.is_some_and(|done| done >= before && done < broken),
        "{checkpoint:?}"
    );
}

/// A rebuild target that, the first time it is switched, lets `overtake` run first: the
/// serving projector carried past the staging twin between its last read and its promotion.
struct Overtaken<T> {
    inner: T,
    overtake: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    switches: Arc<std::sync::Mutex<Vec<Switched>>>,
}

impl<T: RebuildTarget> RebuildTarget for Overtaken<T> {
    fn table(&self) -> &str {
        self.inner.table()
    }

    fn start(&mut self) -> RebuildFuture<'_, ()> {
        self.inner.start()
    }

    fn events_to_read(&self) -> RebuildFuture<'_, u64> {
        self.inner.events_to_read()
    }

    fn fold<'a>(&'a mut self, batch: &'a ProjectionBatch) -> RebuildFuture<'a, ()> {
        self.inner.fold(batch)
    }

    fn wants_commit(&self) -> bool {
        self.inner.wants_commit()
    }

    fn commit(&mut self) -> RebuildFuture<'_, ()> {
        self.inner.commit()
    }

    fn committed(&self) -> Option<GlobalPosition> {
        self.inner.committed()
    }

    fn switch_live(&mut self) -> RebuildFuture<'_, Switched> {
        Box::pin(async move {
            if let Some(overtake) = self.overtake.take() {
                overtake.await;
            }
            let switched = self.inner.switch_live().await?;
            self.switches
                .lock()
                .expect("no test thread panicked")
                .push(switched);
            Ok(switched)
        })
    }
}

/// The serving projector carries the serving table past a rebuild's staging twin just before
/// the twin's promotion: the promotion is refused, the rebuild folds on and promotes, and the
/// serving checkpoint never moves back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_in_place_overtaken_at_the_switch_folds_on_and_is_promoted() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let appends = workload(6, 3, 2);
    let (early, late) = appends.split_at(appends.len() / 2);
    let first = append_all(&store, &tenant(), early).await;
    events(&store, &tenant(), first).await;
    let serving = version(&database, Customer360Model).await;
    let mut projector = Projector::new(store.clone(), Arc::clone(&serving), tenant(), options(50));
    catch_up_to(&mut projector, first).await.unwrap();

    let (later, mut told) = watch::channel(None);
    let overtake = {
        let store = store.clone();
        let late = late.to_vec();
        async move {
            let head = append_all(&store, &tenant(), &late).await;
            events(&store, &tenant(), head).await;
            catch_up_to(&mut projector, head).await.unwrap();
            later.send_replace(Some(head));
        }
    };
    let twin = Arc::new(serving.staging().await.unwrap());
    let switches = Arc::default();
    let targets: Vec<Box<dyn RebuildTarget>> = vec![Box::new(Overtaken {
        inner: twin.rebuild_writer(tenant(), TIGHT),
        overtake: Some(Box::pin(overtake)),
        switches: Arc::clone(&switches),
    })];
    let (progress, watched) = watch::channel(RebuildProgress::default());
    rebuild_many(store.clone(), targets, tenant(), options(7), &progress)
        .await
        .unwrap();
    let head = told
        .borrow_and_update()
        .expect("the serving projector went on");
    assert!(head > first);
    assert_eq!(
        *switches.lock().expect("no test thread panicked"),
        vec![Switched::Behind(head), Switched::Live]
    );
    assert!(watched.borrow().switched);
    assert_eq!(serving.checkpoint(&tenant()).await.unwrap(), Some(head));
    assert_eq!(
        serving.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), head).await
    );
}
