//! `crm demo`'s data set, on every backend: every lead delivered once becomes a lead (some
//! quarantined), deals reach every stage, tickets are opened, and a second run changes nothing.

#[macro_use]
mod support;

use crm_app::UnitOfWork;
use crm_app::demo::{DemoSettings, load_demo};
use crm_app::intake::{Inbox, MemoryInbox};
use crm_eventstore::{EventStore, GlobalPosition};
use support::{service, tenant};

#[tokio::test]
async fn the_demo_loads_through_the_real_paths_and_twice_is_once_in_memory() {
    let fixture = support::memory();
    let (service, _) = service(fixture.work.clone());
    let inbox = MemoryInbox::default();
    demo_twice(&service, inbox, fixture.work.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_loads_through_the_real_paths_and_twice_is_once_on_postgres() {
    let fixture = support::postgres().await;
    let (service, _) = service(fixture.work.clone());
    let inbox = crm_app::intake::PostgresInbox::new(fixture.work.store().inner().clone());
    demo_twice(&service, inbox, fixture.work.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_loads_through_the_real_paths_and_twice_is_once_on_sqlite() {
    let fixture = support::sqlite();
    let (service, _) = service(fixture.work.clone());
    let inbox = crm_app::intake::SqliteInbox::new(fixture.work.event_store().database().clone());
    demo_twice(&service, inbox, fixture.work.clone()).await;
}

async fn demo_twice<U: UnitOfWork, I: Inbox + Clone>(
    service: &std::sync::Arc<crm_app::CommandService<U>>,
    inbox: I,
    work: U,
) {
    let settings = DemoSettings {
        leads: 120,
        customers: 40,
    };
    let first = load_demo(service, inbox.clone(), &tenant(), settings)
        .await
        .expect("the demo loads");
    assert_eq!((first.teams, first.reps), (3, 9));
    assert_eq!(first.deliveries, 120);
    assert_eq!(first.leads_processed, 120);
    assert_eq!(first.contacts, 40);
    assert_eq!(first.deals, 40);
    assert!(first.won > 0 && first.lost > 0, "{first:?}");
    assert_eq!(first.tickets, 20);
    let health = inbox
        .health(&tenant(), service.clock().now())
        .await
        .expect("the inbox answers");
    assert_eq!(health.depth, 0, "every delivery became a lead");

    let events = count_events(&work).await;
    let second = load_demo(service, inbox, &tenant(), settings)
        .await
        .expect("the demo loads again");
    assert_eq!(second.deliveries, 0, "every delivery was kept before");
    assert_eq!(second.leads_processed, 0);
    let after = count_events(&work).await;
    assert_eq!(after, events, "a second run records nothing");
}

async fn count_events<U: UnitOfWork>(work: &U) -> usize {
    let mut after = GlobalPosition::START;
    let mut count = 0;
    loop {
        let page = work
            .store()
            .read_all(&tenant(), after, 1_000)
            .await
            .expect("the history reads");
        if page.events.is_empty() {
            return count;
        }
        count += page.events.len();
        after = page.next;
    }
}
