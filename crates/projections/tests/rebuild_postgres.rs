//! Blue/green rebuilds: a new version is folded from position zero into its own table while
//! the live version keeps serving, then switched to in one statement.

mod support;

use std::sync::Arc;
use std::time::Duration;

use crm_domain::ContactId;
use crm_projections::customer360::{Customer360Model, Customer360Query, CustomerDoc};
use crm_projections::{
    DocKey, DocSet, DocumentStore, Indexed, IndexedColumn, PoisonPolicy, PostgresDocuments,
    ProjectedEvent, Projector, ProjectorOptions, ReadModel, RebuildProgress, StorageError, rebuild,
};
use support::{
    TestDatabase, append_all, catch_up_to, contact_id, events, projected, reference, tenant,
    workload,
};
use tokio::sync::watch;

/// The Customer 360 fold under version 2, as a new build would ship it.
#[derive(Debug, Clone, Copy, Default)]
struct Customer360V2;

impl ReadModel for Customer360V2 {
    const NAME: &'static str = Customer360Model::NAME;
    const VERSION: u32 = 2;
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
        poll_interval: Duration::from_millis(20),
        poison: PoisonPolicy::Halt,
        retry_after: Duration::from_millis(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_fills_a_new_version_while_the_old_serves_then_switches_at_once() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let head = append_all(&store, &tenant(), &workload(8, 4, 3)).await;
    let total = events(&store, &tenant(), head).await.len() as u64;

    let blue = Arc::new(
        PostgresDocuments::connect(&database.url, 2, Customer360Model)
            .await
            .expect("connect version 1"),
    );
    let mut projector = Projector::new(store.clone(), Arc::clone(&blue), tenant(), options(100));
    catch_up_to(&mut projector, head).await.unwrap();
    blue.claim_live(&projected(&tenant())).await.unwrap();
    assert_eq!(
        blue.live_version(&projected(&tenant())).await.unwrap(),
        Some(1)
    );

    let green = Arc::new(
        PostgresDocuments::connect(&database.url, 2, Customer360V2)
            .await
            .expect("connect version 2"),
    );
    assert_eq!(green.table(), "proj_customer_360_v2");
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
    assert_eq!(
        blue.live_version(&projected(&tenant())).await.unwrap(),
        Some(1)
    );
    let served = blue
        .lookup(
            &projected(&tenant()),
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
    assert_eq!(
        green.live_version(&projected(&tenant())).await.unwrap(),
        Some(2)
    );
    assert!(green.is_live(&projected(&tenant())).await.unwrap());
    assert!(!blue.is_live(&projected(&tenant())).await.unwrap());

    let expected = reference(&store, &tenant(), head).await;
    assert_eq!(
        green.documents(&projected(&tenant())).await.unwrap(),
        expected
    );
    assert_eq!(
        blue.documents(&projected(&tenant())).await.unwrap(),
        expected
    );

    // The live version is never wiped for a rebuild.
    let refused = green.reset(&projected(&tenant())).await.unwrap_err();
    assert!(
        matches!(&refused, StorageError::Database { code, .. } if code == "CP001"),
        "{refused:?}"
    );
}
