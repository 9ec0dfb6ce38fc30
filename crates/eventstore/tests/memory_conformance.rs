//! The conformance suite against [`MemoryStore`].

mod conformance;

use conformance::Backend;
use crm_eventstore::{MemoryStore, StoreSettings};

struct Memory;

impl Backend for Memory {
    type Store = MemoryStore;
    type Guard = ();

    async fn open(settings: StoreSettings) -> (MemoryStore, ()) {
        (MemoryStore::new(settings), ())
    }
}

conformance_suite!(Memory);

#[test]
fn the_blocking_facade_drives_the_memory_store() {
    let store = crm_eventstore::BlockingStore::new(MemoryStore::default()).unwrap();
    let (acme, s) = (conformance::tenant("acme"), conformance::stream("s"));
    store
        .append(
            &acme,
            &s,
            crm_eventstore::ExpectedVersion::NoStream,
            &conformance::noted_batch(0..3),
        )
        .unwrap();
    let mut subscription = store.subscribe(
        &acme,
        crm_eventstore::GlobalPosition::START,
        crm_eventstore::SubscriptionOptions::default(),
    );
    let received: Vec<_> = subscription.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(
        received
            .iter()
            .map(|event| event.version)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        subscription
            .next_timeout(std::time::Duration::from_millis(50))
            .unwrap()
            .is_none()
    );
    assert!(store.verify(&acme).unwrap().is_intact());
}
