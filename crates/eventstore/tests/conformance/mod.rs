//! The event store's conformance suite: written once, generic over the backend, and run for
//! each backend by `conformance_suite!` (see `memory_conformance.rs` and `postgres.rs`).
//! Every guarantee of the `EventStore` port has a test here that would catch its violation.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, LinkProblem, Metadata, NewEvent, RecordedEvent,
    Snapshot, Source, StoreError, StoreSettings, StreamId, StreamRead, SubscriptionOptions,
    TenantId, Upcasters,
};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use uuid::Uuid;

/// A backend under test: opens a fresh, empty store with the given settings. The guard keeps
/// whatever the store lives in (a test database) until the test ends.
pub trait Backend {
    type Store: EventStore + Clone + Send + Sync + 'static;
    type Guard: Send;
    fn open(settings: StoreSettings) -> impl Future<Output = (Self::Store, Self::Guard)> + Send;
}

/// Generates one `#[tokio::test]` per conformance test for a backend.
#[macro_export]
macro_rules! conformance_suite {
    ($backend:ty) => {
        $crate::conformance_suite!(@tests $backend;
            appends_return_versions_and_positions,
            expected_version_semantics,
            a_refused_batch_writes_nothing,
            duplicate_event_ids_are_refused,
            idempotent_retry_returns_the_first_result,
            idempotency_key_with_other_content_is_a_conflict,
            events_over_the_size_limit_are_refused,
            invalid_names_and_versions_are_refused,
            empty_append_checks_the_version_and_writes_nothing,
            payload_and_metadata_round_trip,
            reads_forward_backward_and_as_of,
            read_all_pages_through_everything_in_order,
            subscription_catches_up_then_goes_live,
            subscription_resumes_from_a_checkpoint,
            tenants_are_isolated_through_every_api,
            a_tenant_named_in_any_case_is_one_tenant,
            upcasters_apply_on_every_read_path,
            golden_corpus_reads_as_current,
            snapshots_are_versioned_and_disposable,
            snapshots_are_never_needed_for_correctness,
            verify_reports_intact_chains,
            sixteen_writers_racing_on_one_stream,
            json_deeper_than_the_limit_is_refused_at_every_door,
            what_is_accepted_at_the_depth_limit_reads_back_everywhere,
            an_unreadable_event_is_passed_over_and_never_stalls_the_tenant,
            a_retry_of_a_committed_append_returns_its_first_result,
            a_retry_with_other_content_under_the_same_ids_is_refused,
            seals_cover_the_global_order_and_verify_recomputes_them,
            a_head_manifest_round_trips_and_verifies,
            stream_versions_answer_for_each_stream_asked_in_order
        );
    };
    (@tests $backend:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                conformance::$name::<$backend>().await;
            }
        )*
    };
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

pub fn noted(n: u64) -> NewEvent {
    NewEvent::new("Noted", 1, json!({ "n": n }))
}

pub fn noted_batch(range: std::ops::Range<u64>) -> Vec<NewEvent> {
    range.map(noted).collect()
}

async fn open<B: Backend>() -> (B::Store, B::Guard) {
    B::open(StoreSettings::default()).await
}

fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.version).collect()
}

/// Every event of the tenant, in global order, once nothing is held back any more. (On
/// PostgreSQL any open transaction in the cluster, such as another test creating its database,
/// briefly holds readers back: that is the price of never skipping.)
pub async fn read_everything<S: EventStore>(store: &S, tenant: &TenantId) -> Vec<RecordedEvent> {
    read_everything_in_pages(store, tenant, 1000).await
}

pub async fn read_everything_in_pages<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    page_size: usize,
) -> Vec<RecordedEvent> {
    let mut after = GlobalPosition::START;
    let mut all = Vec::new();
    loop {
        let page = read_page_settled(store, tenant, after, page_size).await;
        assert!(page.len() <= page_size);
        assert!(page.events.iter().all(|event| event.position > after));
        if page.is_empty() {
            assert_eq!(page.next, after);
            return all;
        }
        let last = page
            .clone()
            .into_entries()
            .last()
            .map(crm_eventstore::PageEntry::position);
        assert_eq!(Some(page.next), last);
        after = page.next;
        all.extend(page.events);
    }
}

/// One page of `read_all`, read again while an open transaction elsewhere in the cluster
/// holds it back (other tests run beside this one), so an empty page means caught up.
pub async fn read_page_settled<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    after: GlobalPosition,
    limit: usize,
) -> crm_eventstore::ReadAllPage {
    loop {
        let page = store.read_all(tenant, after, limit).await.unwrap();
        if !page.is_empty() || page.held_by.is_none() {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn appends_return_versions_and_positions<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, lead) = (tenant("acme"), stream("lead-1"));
    let batch = noted_batch(0..3);
    let first = store
        .append(&acme, &lead, ExpectedVersion::NoStream, &batch)
        .await
        .unwrap();
    assert_eq!(first.stream_version, 3);
    assert_eq!(
        first
            .events
            .iter()
            .map(|event| event.version)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        first
            .events
            .iter()
            .map(|event| event.event_id)
            .collect::<Vec<_>>(),
        batch.iter().map(|event| event.id).collect::<Vec<_>>()
    );
    assert!(
        first
            .events
            .windows(2)
            .all(|pair| pair[0].position < pair[1].position)
    );
    let second = store
        .append(&acme, &lead, ExpectedVersion::Exact(3), &[noted(3)])
        .await
        .unwrap();
    assert_eq!(second.stream_version, 4);
    assert!(second.events[0].position > first.events[2].position);
    assert_eq!(store.stream_version(&acme, &lead).await.unwrap(), Some(4));
    let read = store
        .read_stream(&acme, &lead, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(versions(&read), [1, 2, 3, 4]);
    assert_eq!(read[3].position, second.events[0].position);
    assert_eq!(read[0].recorded_at, first.recorded_at.unwrap());
    assert_eq!(read[0].payload, json!({ "n": 0 }));
}

pub async fn expected_version_semantics<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let acme = tenant("acme");
    let s = stream("s");
    let conflict = |result: Result<_, StoreError>, expected, actual| match result {
        Err(StoreError::VersionConflict {
            stream,
            expected: e,
            actual: a,
        }) => {
            assert_eq!(stream.as_str(), "s");
            assert_eq!((e, a), (expected, actual));
        }
        other => panic!("expected a version conflict, got {other:?}"),
    };
    conflict(
        store
            .append(&acme, &s, ExpectedVersion::StreamExists, &[noted(0)])
            .await,
        ExpectedVersion::StreamExists,
        None,
    );
    conflict(
        store
            .append(&acme, &s, ExpectedVersion::Exact(1), &[noted(0)])
            .await,
        ExpectedVersion::Exact(1),
        None,
    );
    store
        .append(&acme, &s, ExpectedVersion::Exact(0), &[noted(0)])
        .await
        .unwrap();
    conflict(
        store
            .append(&acme, &s, ExpectedVersion::NoStream, &[noted(1)])
            .await,
        ExpectedVersion::NoStream,
        Some(1),
    );
    conflict(
        store
            .append(&acme, &s, ExpectedVersion::Exact(0), &[noted(1)])
            .await,
        ExpectedVersion::Exact(0),
        Some(1),
    );
    conflict(
        store
            .append(&acme, &s, ExpectedVersion::Exact(2), &[noted(1)])
            .await,
        ExpectedVersion::Exact(2),
        Some(1),
    );
    store
        .append(&acme, &s, ExpectedVersion::Exact(1), &[noted(1)])
        .await
        .unwrap();
    store
        .append(&acme, &s, ExpectedVersion::StreamExists, &[noted(2)])
        .await
        .unwrap();
    let any = store
        .append(&acme, &s, ExpectedVersion::Any, &[noted(3)])
        .await
        .unwrap();
    assert_eq!(any.stream_version, 4);
    let fresh = store
        .append(&acme, &stream("t"), ExpectedVersion::Any, &[noted(4)])
        .await
        .unwrap();
    assert_eq!(fresh.stream_version, 1);
    let read = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(versions(&read), [1, 2, 3, 4]);
}

pub async fn a_refused_batch_writes_nothing<B: Backend>() {
    let (store, _guard) = B::open(StoreSettings::default().with_max_event_bytes(200)).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &noted_batch(0..2))
        .await
        .unwrap();
    let before = read_everything(&store, &acme).await;
    // A conflicting batch, a batch with one oversized event and a batch with a repeated id
    // each leave the store exactly as it was.
    let mut oversized = noted_batch(10..13);
    oversized[1].payload = json!({ "blob": "x".repeat(500) });
    let mut repeated = noted_batch(20..23);
    repeated[2].id = repeated[0].id;
    for (expected, batch) in [
        (ExpectedVersion::Exact(1), noted_batch(30..33)),
        (ExpectedVersion::Exact(2), oversized),
        (ExpectedVersion::Exact(2), repeated),
    ] {
        assert!(store.append(&acme, &s, expected, &batch).await.is_err());
    }
    assert_eq!(read_everything(&store, &acme).await, before);
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), Some(2));
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

pub async fn duplicate_event_ids_are_refused<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, other) = (tenant("acme"), tenant("other"));
    let first = noted(0);
    store
        .append(
            &acme,
            &stream("a"),
            ExpectedVersion::Any,
            std::slice::from_ref(&first),
        )
        .await
        .unwrap();
    let again = noted(1).with_id(first.id);
    match store
        .append(
            &acme,
            &stream("b"),
            ExpectedVersion::Any,
            &[noted(2), again.clone()],
        )
        .await
    {
        Err(StoreError::DuplicateEventId { event_id }) => assert_eq!(event_id, first.id),
        other => panic!("expected a duplicate event id, got {other:?}"),
    }
    assert_eq!(
        store.stream_version(&acme, &stream("b")).await.unwrap(),
        None
    );
    let twice = noted(3);
    assert!(matches!(
        store.append(&acme, &stream("c"), ExpectedVersion::Any, &[twice.clone(), twice.clone()]).await,
        Err(StoreError::DuplicateEventId { event_id }) if event_id == twice.id
    ));
    // Event ids are unique per tenant, not globally.
    store
        .append(&other, &stream("a"), ExpectedVersion::Any, &[again])
        .await
        .unwrap();
    assert_eq!(read_everything(&store, &acme).await.len(), 1);
}

fn with_key(mut events: Vec<NewEvent>, key: &str) -> Vec<NewEvent> {
    for event in &mut events {
        event.metadata.idempotency_key = Some(key.to_owned());
    }
    events
}

pub async fn idempotent_retry_returns_the_first_result<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let batch = with_key(noted_batch(0..3), "request-1");
    let first = store
        .append(&acme, &s, ExpectedVersion::NoStream, &batch)
        .await
        .unwrap();
    store
        .append(&acme, &s, ExpectedVersion::Exact(3), &[noted(9)])
        .await
        .unwrap();
    // The retry would now fail its version check, but the key answers first.
    let retry = store
        .append(&acme, &s, ExpectedVersion::NoStream, &batch)
        .await
        .unwrap();
    assert_eq!(retry, first);
    assert_eq!(read_everything(&store, &acme).await.len(), 4);
    // The key is the tenant's: another tenant may use it for anything.
    let elsewhere = store
        .append(&tenant("other"), &s, ExpectedVersion::NoStream, &batch)
        .await
        .unwrap();
    assert_eq!(elsewhere.stream_version, 3);
    let read = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(
        read[0].metadata.idempotency_key.as_deref(),
        Some("request-1")
    );
}

pub async fn idempotency_key_with_other_content_is_a_conflict<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let batch = with_key(noted_batch(0..2), "request-1");
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &batch)
        .await
        .unwrap();
    let mut changed = batch.clone();
    changed[1].payload = json!({ "n": 99 });
    let same_ids_other_stream = batch.clone();
    for (target, expected, events) in [
        (stream("s"), ExpectedVersion::NoStream, changed),
        (
            stream("t"),
            ExpectedVersion::NoStream,
            same_ids_other_stream,
        ),
        (stream("s"), ExpectedVersion::Any, batch.clone()),
        (
            stream("s"),
            ExpectedVersion::NoStream,
            with_key(noted_batch(5..7), "request-1"),
        ),
    ] {
        match store.append(&acme, &target, expected, &events).await {
            Err(StoreError::IdempotencyConflict {
                key,
                original_stream,
            }) => {
                assert_eq!(key, "request-1");
                assert_eq!(original_stream.as_str(), "s");
            }
            other => panic!("expected an idempotency conflict, got {other:?}"),
        }
    }
    let mut mixed = with_key(noted_batch(10..12), "request-2");
    mixed[1].metadata.idempotency_key = Some("request-3".into());
    assert!(matches!(
        store.append(&acme, &s, ExpectedVersion::Any, &mixed).await,
        Err(StoreError::MixedIdempotencyKeys)
    ));
    mixed[1].metadata.idempotency_key = None;
    assert!(matches!(
        store.append(&acme, &s, ExpectedVersion::Any, &mixed).await,
        Err(StoreError::MixedIdempotencyKeys)
    ));
    assert_eq!(read_everything(&store, &acme).await.len(), 2);
}

pub async fn events_over_the_size_limit_are_refused<B: Backend>() {
    let (store, _guard) = B::open(StoreSettings::default().with_max_event_bytes(100)).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    // `{"text":"…"}` is 11 bytes plus the text; empty metadata is `{}`, 2 bytes.
    let fits = NewEvent::new("Noted", 1, json!({ "text": "x".repeat(87) }));
    store
        .append(&acme, &s, ExpectedVersion::Any, &[fits])
        .await
        .unwrap();
    let too_big = NewEvent::new("Noted", 1, json!({ "text": "x".repeat(88) }));
    match store
        .append(
            &acme,
            &s,
            ExpectedVersion::Any,
            std::slice::from_ref(&too_big),
        )
        .await
    {
        Err(StoreError::EventTooLarge {
            event_id,
            size,
            limit,
        }) => assert_eq!((event_id, size, limit), (too_big.id, 101, 100)),
        other => panic!("expected event too large, got {other:?}"),
    }
    let mut metadata_heavy = noted(1);
    metadata_heavy
        .metadata
        .extra
        .insert("note".into(), json!("y".repeat(100)));
    assert!(matches!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &[metadata_heavy])
            .await,
        Err(StoreError::EventTooLarge { .. })
    ));
}

pub async fn invalid_names_and_versions_are_refused<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let mut zero = noted(0);
    zero.schema_version = 0;
    assert!(matches!(
        store.append(&acme, &s, ExpectedVersion::Any, &[zero]).await,
        Err(StoreError::InvalidEvent { .. })
    ));
    let mut unnamed = noted(0);
    unnamed.event_type = String::new();
    assert!(matches!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &[unnamed])
            .await,
        Err(StoreError::InvalidName { .. })
    ));
    let mut nul = noted(0);
    nul.event_type = "No\0ted".into();
    assert!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &[nul])
            .await
            .is_err()
    );
    let bad_key = with_key(vec![noted(0)], "");
    assert!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &bad_key)
            .await
            .is_err()
    );
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), None);
}

pub async fn empty_append_checks_the_version_and_writes_nothing<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let nothing = store
        .append(&acme, &s, ExpectedVersion::NoStream, &[])
        .await
        .unwrap();
    assert_eq!((nothing.stream_version, nothing.events.len()), (0, 0));
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), None);
    store
        .append(&acme, &s, ExpectedVersion::Any, &noted_batch(0..2))
        .await
        .unwrap();
    assert_eq!(
        store
            .append(&acme, &s, ExpectedVersion::Exact(2), &[])
            .await
            .unwrap()
            .stream_version,
        2
    );
    assert!(matches!(
        store
            .append(&acme, &s, ExpectedVersion::Exact(1), &[])
            .await,
        Err(StoreError::VersionConflict {
            actual: Some(2),
            ..
        })
    ));
}

pub async fn payload_and_metadata_round_trip<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let payload = json!({
        "text": "naïve café 🚀 \u{0} \"quoted\" \\ back",
        "big": 9_007_199_254_740_993_u64,
        "negative": -42,
        "float": 0.1,
        "nested": { "list": [1, null, true, { "deep": [] }] },
        "empty": {}
    });
    let mut extra = serde_json::Map::new();
    extra.insert("channel".into(), json!("phone"));
    let metadata = Metadata {
        actor: Some(json!({ "kind": "user", "id": "u-7" })),
        correlation_id: Some(Uuid::now_v7()),
        causation_id: Some(Uuid::now_v7()),
        idempotency_key: None,
        source: Some(Source {
            system: "erp".into(),
            timestamp: Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap()),
        }),
        extra,
    };
    let event = NewEvent::new("Noted", 7, payload.clone()).with_metadata(metadata.clone());
    store
        .append(
            &acme,
            &s,
            ExpectedVersion::Any,
            std::slice::from_ref(&event),
        )
        .await
        .unwrap();
    let read = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(read[0].payload, payload);
    assert_eq!(read[0].metadata, metadata);
    assert_eq!(
        (read[0].schema_version, read[0].stored_schema_version),
        (7, 7)
    );
    assert_eq!(read[0].event_type, "Noted");
    assert_eq!(read[0].id, event.id);
    assert_eq!(read[0].tenant, acme);
    assert_eq!(read[0].stream, s);
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

pub async fn reads_forward_backward_and_as_of<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let mut times = Vec::new();
    for n in 0..5 {
        let result = store
            .append(&acme, &s, ExpectedVersion::Any, &[noted(n)])
            .await
            .unwrap();
        times.push(result.recorded_at.unwrap());
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let read = |request| {
        let store = store.clone();
        let (acme, s) = (acme.clone(), s.clone());
        async move { versions(&store.read_stream(&acme, &s, request).await.unwrap()) }
    };
    assert_eq!(read(StreamRead::forward()).await, [1, 2, 3, 4, 5]);
    assert_eq!(read(StreamRead::forward().from_version(3)).await, [3, 4, 5]);
    assert_eq!(
        read(StreamRead::forward().from_version(2).limit(2)).await,
        [2, 3]
    );
    assert_eq!(
        read(StreamRead::forward().from_version(9)).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        read(StreamRead::forward().limit(0)).await,
        Vec::<u64>::new()
    );
    assert_eq!(read(StreamRead::backward()).await, [5, 4, 3, 2, 1]);
    assert_eq!(
        read(StreamRead::backward().from_version(3)).await,
        [3, 2, 1]
    );
    assert_eq!(read(StreamRead::backward().limit(2)).await, [5, 4]);
    assert_eq!(
        read(StreamRead::forward().as_of_version(3)).await,
        [1, 2, 3]
    );
    assert_eq!(
        read(StreamRead::backward().as_of_version(3)).await,
        [3, 2, 1]
    );
    assert_eq!(
        read(StreamRead::backward().as_of_version(3).from_version(9)).await,
        [3, 2, 1]
    );
    assert_eq!(
        read(StreamRead::forward().as_of_time(times[1])).await,
        [1, 2]
    );
    assert_eq!(
        read(StreamRead::backward().as_of_time(times[3]).limit(1)).await,
        [4]
    );
    let before_all = times[0] - chrono::Duration::seconds(1);
    assert_eq!(
        read(StreamRead::forward().as_of_time(before_all)).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        read(StreamRead::forward().as_of_time(times[4])).await,
        [1, 2, 3, 4, 5]
    );
    let missing = store
        .read_stream(&acme, &stream("missing"), StreamRead::forward())
        .await
        .unwrap();
    assert!(missing.is_empty());
    assert_eq!(
        store
            .stream_version(&acme, &stream("missing"))
            .await
            .unwrap(),
        None
    );
    // Recorded times never go back within a stream.
    let all = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    assert!(
        all.windows(2)
            .all(|pair| pair[0].recorded_at <= pair[1].recorded_at)
    );
}

pub async fn read_all_pages_through_everything_in_order<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let acme = tenant("acme");
    let mut appended = Vec::new();
    for round in 0..4_u64 {
        for name in ["a", "b", "c"] {
            let batch = noted_batch(round * 10..round * 10 + round + 1);
            appended.extend(batch.iter().map(|event| event.id));
            store
                .append(&acme, &stream(name), ExpectedVersion::Any, &batch)
                .await
                .unwrap();
        }
    }
    let paged = read_everything_in_pages(&store, &acme, 3).await;
    assert_eq!(ids(&paged), appended);
    assert!(
        paged
            .windows(2)
            .all(|pair| pair[0].position < pair[1].position)
    );
    assert_eq!(
        store
            .read_all(&acme, GlobalPosition::START, 0)
            .await
            .unwrap()
            .events
            .len(),
        0
    );
}

fn fast_options(page_size: usize) -> SubscriptionOptions {
    SubscriptionOptions {
        page_size,
        poll_interval: Duration::from_millis(20),
    }
}

pub async fn subscription_catches_up_then_goes_live<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let acme = tenant("acme");
    for name in ["a", "b"] {
        store
            .append(
                &acme,
                &stream(name),
                ExpectedVersion::Any,
                &noted_batch(0..3),
            )
            .await
            .unwrap();
    }
    let history = read_everything(&store, &acme).await;
    let mut subscription = store.subscribe(&acme, GlobalPosition::START, fast_options(4));
    let mut received = Vec::new();
    for _ in 0..6 {
        received.push(
            tokio::time::timeout(Duration::from_secs(10), subscription.next())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(ids(&received), ids(&history));
    assert_eq!(subscription.checkpoint(), history[5].position);
    // Nothing more: the consumer waits (and the wait can be abandoned without loss).
    assert!(
        tokio::time::timeout(Duration::from_millis(100), subscription.next())
            .await
            .is_err()
    );
    let writer = {
        let (store, acme) = (store.clone(), acme.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            store
                .append(
                    &acme,
                    &stream("c"),
                    ExpectedVersion::Any,
                    &noted_batch(0..2),
                )
                .await
                .unwrap()
        })
    };
    let live: Vec<_> = vec![
        tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .unwrap()
            .unwrap(),
        tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .unwrap()
            .unwrap(),
    ];
    let appended = writer.await.unwrap();
    assert_eq!(
        live.iter().map(|event| event.position).collect::<Vec<_>>(),
        appended
            .events
            .iter()
            .map(|event| event.position)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        subscription.status(),
        crm_eventstore::SubscriptionStatus::Live
    );
}

pub async fn subscription_resumes_from_a_checkpoint<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let acme = tenant("acme");
    store
        .append(
            &acme,
            &stream("a"),
            ExpectedVersion::Any,
            &noted_batch(0..5),
        )
        .await
        .unwrap();
    let history = read_everything(&store, &acme).await;
    let mut subscription = store.subscribe(&acme, history[2].position, fast_options(2));
    let first = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!([first.id, second.id], [history[3].id, history[4].id]);
}

pub async fn tenants_are_isolated_through_every_api<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    let s = stream("shared-name");
    let secret = with_key(
        vec![NewEvent::new("Noted", 1, json!({ "secret": "a's" }))],
        "key-1",
    );
    store
        .append(&a, &s, ExpectedVersion::NoStream, &secret)
        .await
        .unwrap();
    store
        .save_snapshot(
            &a,
            &Snapshot {
                stream: s.clone(),
                snapshot_type: "count".into(),
                schema_version: 1,
                stream_version: 1,
                state: json!(1),
            },
        )
        .await
        .unwrap();

    assert!(
        store
            .read_stream(&b, &s, StreamRead::forward())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .read_stream(&b, &s, StreamRead::backward())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.stream_version(&b, &s).await.unwrap(), None);
    assert!(
        store
            .read_all(&b, GlobalPosition::START, 100)
            .await
            .unwrap()
            .events
            .is_empty()
    );
    assert_eq!(store.load_snapshot(&b, &s, "count", 1).await.unwrap(), None);
    assert!(matches!(
        store
            .save_snapshot(
                &b,
                &Snapshot {
                    stream: s.clone(),
                    snapshot_type: "count".into(),
                    schema_version: 1,
                    stream_version: 1,
                    state: json!(1),
                }
            )
            .await,
        Err(StoreError::SnapshotAheadOfStream {
            stream_version: None,
            ..
        })
    ));
    let report = store.verify(&b).await.unwrap();
    assert_eq!((report.events_checked, report.streams_checked), (0, 0));
    assert_eq!(store.verify_stream(&b, &s).await.unwrap().events_checked, 0);
    let mut subscription = store.subscribe(&b, GlobalPosition::START, fast_options(10));
    assert!(
        tokio::time::timeout(Duration::from_millis(150), subscription.next())
            .await
            .is_err()
    );

    // The same stream name, expected version and idempotency key are b's own.
    let own = store
        .append(&b, &s, ExpectedVersion::NoStream, &secret)
        .await
        .unwrap();
    assert_eq!(own.stream_version, 1);
    let from_b = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from_b.tenant, b);
    assert_eq!(read_everything(&store, &a).await.len(), 1);
    assert_eq!(read_everything(&store, &b).await.len(), 1);
    assert!(
        read_everything(&store, &b)
            .await
            .iter()
            .all(|event| event.tenant == b)
    );
    assert_eq!(
        store
            .load_snapshot(&a, &s, "count", 1)
            .await
            .unwrap()
            .map(|snap| snap.state),
        Some(json!(1))
    );
}

/// `ACME` and `acme` are one tenant (a [`TenantId`] is its lowercase form): what one writes,
/// the other reads, appends to, snapshots, seals and verifies, and a manifest taken under one
/// verifies under the other.
pub async fn a_tenant_named_in_any_case_is_one_tenant<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (upper, lower) = (tenant("ACME"), tenant("acme"));
    assert_eq!(upper, lower);
    assert_eq!(upper.as_str(), "acme");
    let s = stream("lead-1");
    store
        .append(&upper, &s, ExpectedVersion::NoStream, &noted_batch(0..2))
        .await
        .unwrap();
    // The expected version, the stream and the idempotency key are the same tenant's.
    store
        .append(
            &tenant("Acme"),
            &s,
            ExpectedVersion::Exact(2),
            &with_key(vec![noted(2)], "k"),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .append(&lower, &s, ExpectedVersion::NoStream, &[noted(3)])
            .await,
        Err(StoreError::VersionConflict {
            actual: Some(3),
            ..
        })
    ));

    let read = store
        .read_stream(&lower, &s, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(versions(&read), [1, 2, 3]);
    assert!(read.iter().all(|event| event.tenant.as_str() == "acme"));
    assert_eq!(read_everything(&store, &upper).await.len(), 3);
    assert_eq!(store.stream_version(&upper, &s).await.unwrap(), Some(3));

    store
        .save_snapshot(
            &upper,
            &Snapshot {
                stream: s.clone(),
                snapshot_type: "count".into(),
                schema_version: 1,
                stream_version: 3,
                state: json!(3),
            },
        )
        .await
        .unwrap();
    let snapshot = store.load_snapshot(&lower, &s, "count", 1).await.unwrap();
    assert_eq!(snapshot.map(|snapshot| snapshot.state), Some(json!(3)));

    // Hashes, seals and manifests cover the canonical name, whichever spelling asks.
    let manifest = store.head_manifest(&upper).await.unwrap();
    assert_eq!(manifest.tenant, "acme");
    assert_eq!(manifest.seal.map(|seal| seal.event_count), Some(3));
    let report = store.verify(&lower).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 3);
    let report = store.verify_against(&lower, &manifest).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(store.seals(&lower).await.unwrap().len(), 1);
    let kept_as_written = crm_eventstore::HeadManifest {
        tenant: "ACME".into(),
        ..manifest
    };
    let report = store
        .verify_against(&lower, &kept_as_written)
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
}

pub fn contact_named_upcasters() -> Upcasters {
    Upcasters::new()
        .current("ContactNamed", 3)
        .step("ContactNamed", 1, |payload| {
            let name = payload
                .get("name")
                .and_then(Value::as_str)
                .ok_or("no name")?;
            let (given, family) = match name.split_once(' ') {
                Some((given, family)) => (given, Some(family)),
                None => (name, None),
            };
            Ok(json!({ "given_name": given, "family_name": family }))
        })
        .step("ContactNamed", 2, |mut payload| {
            let given = payload
                .get("given_name")
                .and_then(Value::as_str)
                .ok_or("no given name")?;
            let display = match payload.get("family_name").and_then(Value::as_str) {
                Some(family) => format!("{given} {family}"),
                None => given.to_owned(),
            };
            payload["display_name"] = json!(display);
            Ok(payload)
        })
}

pub async fn upcasters_apply_on_every_read_path<B: Backend>() {
    let settings = StoreSettings::default()
        .with_upcasters(contact_named_upcasters())
        .unwrap();
    let (store, _guard) = B::open(settings).await;
    let (acme, s) = (tenant("acme"), stream("contact-1"));
    store
        .append(&acme, &s, ExpectedVersion::Any, &[
            NewEvent::new("ContactNamed", 1, json!({ "name": "Ada Lovelace" })),
            NewEvent::new("ContactNamed", 3, json!({ "given_name": "Ada", "family_name": "King", "display_name": "Ada King" })),
            NewEvent::new("Noted", 1, json!({ "n": 1 })),
        ])
        .await
        .unwrap();
    let expected_first =
        json!({ "given_name": "Ada", "family_name": "Lovelace", "display_name": "Ada Lovelace" });
    let by_stream = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    let by_all = read_everything(&store, &acme).await;
    let mut subscription = store.subscribe(&acme, GlobalPosition::START, fast_options(10));
    let by_subscription = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap()
        .unwrap();
    for first in [&by_stream[0], &by_all[0], &by_subscription] {
        assert_eq!(first.payload, expected_first);
        assert_eq!((first.schema_version, first.stored_schema_version), (3, 1));
    }
    assert_eq!(
        by_stream[2].schema_version, 1,
        "types without upcasters read as stored"
    );
    // Hashes cover the stored bytes, so upcasting never breaks a chain.
    assert!(store.verify(&acme).await.unwrap().is_intact());
    assert!(matches!(
        store
            .append(
                &acme,
                &s,
                ExpectedVersion::Any,
                &[NewEvent::new("ContactNamed", 4, json!({}))]
            )
            .await,
        Err(StoreError::UnknownSchemaVersion {
            schema_version: 4,
            ..
        })
    ));
    // A payload an upcaster cannot carry is an error on read, never a half-understood event.
    store
        .append(
            &acme,
            &stream("broken"),
            ExpectedVersion::Any,
            &[NewEvent::new("ContactNamed", 1, json!({ "nom": "?" }))],
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .read_stream(&acme, &stream("broken"), StreamRead::forward())
            .await,
        Err(StoreError::UpcastFailed { from: 1, .. })
    ));
}

pub async fn golden_corpus_reads_as_current<B: Backend>() {
    let settings = StoreSettings::default()
        .with_upcasters(contact_named_upcasters())
        .unwrap();
    let (store, _guard) = B::open(settings).await;
    let acme = tenant("acme");
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the golden corpus is missing");
    for (index, path) in files.iter().enumerate() {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let version = u16::try_from(case["schema_version"].as_u64().unwrap()).unwrap();
        let event = NewEvent::new(
            case["event_type"].as_str().unwrap(),
            version,
            case["payload"].clone(),
        );
        let s = stream(&format!("golden-{index}"));
        store
            .append(&acme, &s, ExpectedVersion::NoStream, &[event])
            .await
            .unwrap();
        let read = store
            .read_stream(&acme, &s, StreamRead::forward())
            .await
            .unwrap();
        assert_eq!(read[0].payload, case["reads_as"], "{}", path.display());
        assert_eq!(read[0].schema_version, 3, "{}", path.display());
    }
}

fn count_snapshot(stream: &StreamId, version: u64, total: u64, schema_version: u16) -> Snapshot {
    Snapshot {
        stream: stream.clone(),
        snapshot_type: "total".into(),
        schema_version,
        stream_version: version,
        state: json!({ "total": total }),
    }
}

pub async fn snapshots_are_versioned_and_disposable<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    assert!(matches!(
        store
            .save_snapshot(&acme, &count_snapshot(&s, 1, 0, 1))
            .await,
        Err(StoreError::SnapshotAheadOfStream {
            snapshot_version: 1,
            stream_version: None,
            ..
        })
    ));
    store
        .append(&acme, &s, ExpectedVersion::Any, &noted_batch(0..4))
        .await
        .unwrap();
    assert!(matches!(
        store
            .save_snapshot(&acme, &count_snapshot(&s, 5, 0, 1))
            .await,
        Err(StoreError::SnapshotAheadOfStream {
            stream_version: Some(4),
            ..
        })
    ));
    store
        .save_snapshot(&acme, &count_snapshot(&s, 3, 3, 1))
        .await
        .unwrap();
    assert_eq!(
        store.load_snapshot(&acme, &s, "total", 1).await.unwrap(),
        Some(count_snapshot(&s, 3, 3, 1))
    );
    // An older snapshot never replaces a newer one.
    store
        .save_snapshot(&acme, &count_snapshot(&s, 2, 1, 1))
        .await
        .unwrap();
    assert_eq!(
        store
            .load_snapshot(&acme, &s, "total", 1)
            .await
            .unwrap()
            .unwrap()
            .stream_version,
        3
    );
    assert_eq!(
        store.load_snapshot(&acme, &s, "other", 1).await.unwrap(),
        None
    );
    // A snapshot of another schema version is discarded: gone for every later load too.
    assert_eq!(
        store.load_snapshot(&acme, &s, "total", 2).await.unwrap(),
        None
    );
    assert_eq!(
        store.load_snapshot(&acme, &s, "total", 1).await.unwrap(),
        None
    );
    // And a snapshot of a new schema replaces one of the old, whatever its version.
    store
        .save_snapshot(&acme, &count_snapshot(&s, 4, 6, 1))
        .await
        .unwrap();
    store
        .save_snapshot(&acme, &count_snapshot(&s, 2, 1, 2))
        .await
        .unwrap();
    assert_eq!(
        store.load_snapshot(&acme, &s, "total", 2).await.unwrap(),
        Some(count_snapshot(&s, 2, 1, 2))
    );
}

/// Folds the stream into a total, from a snapshot when there is one.
async fn total<S: EventStore>(
    store: &S,
    tenant: &TenantId,
    stream: &StreamId,
    use_snapshot: bool,
) -> u64 {
    let snapshot = if use_snapshot {
        store
            .load_snapshot(tenant, stream, "total", 1)
            .await
            .unwrap()
    } else {
        None
    };
    let (mut sum, from) = snapshot.map_or((0, 1), |snapshot| {
        (
            snapshot.state["total"].as_u64().unwrap(),
            snapshot.stream_version + 1,
        )
    });
    for event in store
        .read_stream(tenant, stream, StreamRead::forward().from_version(from))
        .await
        .unwrap()
    {
        sum += event.payload["n"].as_u64().unwrap();
    }
    sum
}

pub async fn snapshots_are_never_needed_for_correctness<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("s"));
    store
        .append(&acme, &s, ExpectedVersion::Any, &noted_batch(1..6))
        .await
        .unwrap();
    let at_five = total(&store, &acme, &s, false).await;
    store
        .save_snapshot(&acme, &count_snapshot(&s, 5, at_five, 1))
        .await
        .unwrap();
    store
        .append(&acme, &s, ExpectedVersion::Any, &noted_batch(6..9))
        .await
        .unwrap();
    assert_eq!(
        total(&store, &acme, &s, true).await,
        total(&store, &acme, &s, false).await
    );
    assert_eq!(total(&store, &acme, &s, false).await, (1..9).sum::<u64>());
}

pub async fn verify_reports_intact_chains<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let acme = tenant("acme");
    for name in ["a", "b", "c"] {
        for n in 0..3 {
            store
                .append(
                    &acme,
                    &stream(name),
                    ExpectedVersion::Any,
                    &noted_batch(n * 2..n * 2 + 2),
                )
                .await
                .unwrap();
        }
    }
    let report = store.verify(&acme).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.streams_checked, report.events_checked), (3, 18));
    let one = store.verify_stream(&acme, &stream("b")).await.unwrap();
    assert_eq!((one.streams_checked, one.events_checked), (1, 6));
    let events = store
        .read_stream(&acme, &stream("a"), StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(events[0].previous_hash, crm_eventstore::EventHash::ZERO);
    assert!(
        events
            .windows(2)
            .all(|pair| pair[1].previous_hash == pair[0].hash)
    );
    // The hash is the documented one, recomputable from the stored bytes alone.
    let digest = crm_eventstore::hash::content_digest(&crm_eventstore::hash::EventContent {
        tenant: "acme",
        stream: "a",
        event_id: events[0].id,
        event_type: "Noted",
        schema_version: 1,
        payload: br#"{"n":0}"#,
        metadata: b"{}",
    });
    assert_eq!(
        crm_eventstore::hash::chain_hash(
            &crm_eventstore::EventHash::ZERO,
            1,
            events[0].recorded_at,
            &digest
        ),
        events[0].hash
    );
    let _ = LinkProblem::NoStreamHead;
}

pub async fn sixteen_writers_racing_on_one_stream<B: Backend>() {
    const WRITERS: usize = 16;
    const EVENTS_EACH: u64 = 5;
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("hot"));
    let start = Arc::new(Barrier::new(WRITERS));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (store, acme, s, start) = (store.clone(), acme.clone(), s.clone(), Arc::clone(&start));
        writers.push(tokio::spawn(async move {
            let mut conflicts = Vec::new();
            let mut landed = Vec::new();
            let mut first_round = None;
            for n in 0..EVENTS_EACH {
                let event = NewEvent::new("Noted", 1, json!({ "writer": writer, "n": n }));
                loop {
                    let seen = if first_round.is_none() {
                        // Everyone reads the same version, then everyone appends at once.
                        start.wait().await;
                        0
                    } else {
                        store.stream_version(&acme, &s).await.unwrap().unwrap_or(0)
                    };
                    let outcome = store
                        .append(
                            &acme,
                            &s,
                            ExpectedVersion::Exact(seen),
                            std::slice::from_ref(&event),
                        )
                        .await;
                    if first_round.is_none() {
                        first_round = Some(outcome.is_ok());
                    }
                    match outcome {
                        Ok(result) => {
                            landed.push((event.id, result.stream_version));
                            break;
                        }
                        Err(StoreError::VersionConflict {
                            expected, actual, ..
                        }) => {
                            assert_eq!(expected, ExpectedVersion::Exact(seen));
                            assert_ne!(actual, Some(seen));
                            conflicts.push(actual);
                        }
                        Err(other) => panic!("unexpected error {other:?}"),
                    }
                }
            }
            (first_round.unwrap(), landed, conflicts)
        }));
    }
    let mut first_round_winners = 0;
    let mut landed = Vec::new();
    let mut conflicts = 0;
    for writer in writers {
        let (won_first, mine, lost) = writer.await.unwrap();
        first_round_winners += usize::from(won_first);
        landed.extend(mine);
        conflicts += lost.len();
    }
    assert_eq!(
        first_round_winners, 1,
        "exactly one of the racers on version 0 wins"
    );
    assert!(conflicts >= WRITERS - 1);
    let events = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    let total = WRITERS * usize::try_from(EVENTS_EACH).unwrap();
    assert_eq!(
        versions(&events),
        (1..=u64::try_from(total).unwrap()).collect::<Vec<_>>()
    );
    let stored: HashSet<Uuid> = ids(&events).into_iter().collect();
    assert_eq!(stored.len(), total, "no event stored twice");
    for (id, version) in landed {
        let event = events
            .iter()
            .find(|event| event.id == id)
            .expect("no acknowledged event is lost");
        assert_eq!(event.version, version);
    }
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

/// `depth` arrays nested in one another around `leaf`, built without recursion.
pub fn nested(depth: usize, leaf: Value) -> Value {
    let mut value = leaf;
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

/// Takes a deeply nested value apart without recursing (its `Drop` would recurse and could
/// overflow the test's stack, which is not what is under test).
pub fn dismantle(mut value: Value) {
    loop {
        value = match value {
            Value::Array(mut items) => match items.pop() {
                Some(inner) => inner,
                None => return,
            },
            Value::Object(map) => match map.into_iter().next() {
                Some((_, inner)) => inner,
                None => return,
            },
            _ => return,
        };
    }
}

fn is_too_deep(result: &Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(result, Err(StoreError::TooDeep { limit, .. }) if *limit == crm_eventstore::MAX_JSON_DEPTH)
}

pub async fn json_deeper_than_the_limit_is_refused_at_every_door<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("lead-deep"));
    let limit = crm_eventstore::MAX_JSON_DEPTH;

    // One level past what the read paths parse: refused, nothing written.
    let event = NewEvent::new("LeadReceived", 1, nested(limit + 1, json!(1)));
    assert!(is_too_deep(
        &store
            .append(
                &acme,
                &s,
                ExpectedVersion::Any,
                std::slice::from_ref(&event)
            )
            .await
    ));
    dismantle(event.payload);

    // Thirty thousand levels: a typed error, not a stack overflow that kills the process.
    let mut event = NewEvent::new("LeadReceived", 1, nested(30_000, json!(1)));
    assert!(is_too_deep(
        &store
            .append(
                &acme,
                &s,
                ExpectedVersion::Any,
                std::slice::from_ref(&event)
            )
            .await
    ));
    dismantle(std::mem::take(&mut event.payload));

    // Metadata is measured too: its free-form values sit one level below its top.
    let mut metadata = Metadata::default();
    metadata
        .extra
        .insert("form".into(), nested(limit - 1, json!(1)));
    let event = noted(1).with_metadata(metadata.clone());
    assert!(is_too_deep(
        &store
            .append(&acme, &s, ExpectedVersion::Any, &[event])
            .await
    ));
    metadata.extra.clear();
    metadata.actor = Some(nested(limit, json!(1)));
    let event = noted(1).with_metadata(metadata.clone());
    assert!(is_too_deep(
        &store
            .append(&acme, &s, ExpectedVersion::Any, &[event])
            .await
    ));
    metadata.actor = Some(nested(30_000, json!("ada")));
    metadata.extra.clear();
    let mut event = noted(2).with_metadata(metadata);
    assert!(is_too_deep(
        &store
            .append(
                &acme,
                &s,
                ExpectedVersion::Any,
                std::slice::from_ref(&event)
            )
            .await
    ));
    dismantle(event.metadata.actor.take().unwrap());

    // And snapshot states.
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &[noted(3)])
        .await
        .unwrap();
    let mut snapshot = Snapshot {
        stream: s.clone(),
        snapshot_type: "lead".into(),
        schema_version: 1,
        stream_version: 1,
        state: nested(30_000, json!(null)),
    };
    assert!(is_too_deep(&store.save_snapshot(&acme, &snapshot).await));
    dismantle(std::mem::take(&mut snapshot.state));

    // Nothing refused was written.
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), Some(1));
    assert!(store.verify(&acme).await.unwrap().is_sound());
}

pub async fn what_is_accepted_at_the_depth_limit_reads_back_everywhere<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("lead-deep"));
    let limit = crm_eventstore::MAX_JSON_DEPTH;
    let deepest = nested(limit, json!("form field"));
    let mut metadata = Metadata {
        actor: Some(nested(limit - 1, json!("ada"))),
        ..Metadata::default()
    };
    metadata
        .extra
        .insert("form".into(), nested(limit - 2, json!(1)));
    let event = NewEvent::new("LeadReceived", 1, deepest.clone()).with_metadata(metadata.clone());
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &[event, noted(2)])
        .await
        .unwrap();

    let by_stream = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    let by_all = read_everything(&store, &acme).await;
    let mut subscription = store.subscribe(&acme, GlobalPosition::START, fast_options(10));
    let by_subscription = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap()
        .unwrap();
    for first in [&by_stream[0], &by_all[0], &by_subscription] {
        assert_eq!(first.payload, deepest);
        assert_eq!(first.metadata, metadata);
    }
    assert_eq!(by_all.len(), 2);
    assert!(store.verify(&acme).await.unwrap().is_sound());
}

/// Upcasters that refuse any `Noted` payload marked `"poison": true`: a stored event that no
/// read path can deliver, on every backend alike.
fn poison_refusing_upcasters() -> Upcasters {
    Upcasters::new()
        .current("Noted", 2)
        .step("Noted", 1, |payload| {
            if payload.get("poison") == Some(&json!(true)) {
                Err("this payload cannot be carried forward".into())
            } else {
                Ok(payload)
            }
        })
}

pub async fn an_unreadable_event_is_passed_over_and_never_stalls_the_tenant<B: Backend>() {
    let settings = StoreSettings::default()
        .with_upcasters(poison_refusing_upcasters())
        .unwrap();
    let (store, _guard) = B::open(settings).await;
    let (acme, bad, good) = (tenant("acme"), stream("bad"), stream("good"));
    store
        .append(&acme, &good, ExpectedVersion::Any, &[noted(1)])
        .await
        .unwrap();
    let poison = NewEvent::new("Noted", 1, json!({ "poison": true }));
    let poisoned = store
        .append(
            &acme,
            &bad,
            ExpectedVersion::Any,
            std::slice::from_ref(&poison),
        )
        .await
        .unwrap();
    store
        .append(&acme, &good, ExpectedVersion::Any, &[noted(2), noted(3)])
        .await
        .unwrap();

    // One page: the readable events, the unreadable one beside them, `next` past all three.
    // Other tests' transactions in the cluster may hold the later rows back for a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = read_page_settled(&store, &acme, GlobalPosition::START, 10).await;
        if page.len() == 4 || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(page.events.len(), 3, "{page:?}");
    assert_eq!(page.unreadable.len(), 1);
    let unreadable = &page.unreadable[0];
    assert_eq!(
        (
            unreadable.id,
            unreadable.stream.as_str(),
            unreadable.version
        ),
        (poison.id, "bad", 1)
    );
    assert_eq!(unreadable.position, poisoned.events[0].position);
    assert!(
        unreadable.reason.contains("cannot be carried forward"),
        "{}",
        unreadable.reason
    );
    assert_eq!(page.next, page.events[2].position);
    let entries = page.clone().into_entries();
    assert!(
        entries
            .windows(2)
            .all(|pair| pair[0].position() < pair[1].position())
    );

    // Paged one row at a time, the unreadable row still moves the checkpoint.
    let mut after = GlobalPosition::START;
    let mut rows = 0;
    loop {
        let page = read_page_settled(&store, &acme, after, 1).await;
        if page.is_empty() {
            break;
        }
        assert_eq!(page.len(), 1);
        assert!(page.next > after);
        after = page.next;
        rows += 1;
    }
    assert_eq!(rows, 4);

    // A subscription delivers the rest and keeps the passed-over event for its consumer.
    let mut subscription = store.subscribe(&acme, GlobalPosition::START, fast_options(1));
    for n in 1..=3 {
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("the subscription must not stall on the unreadable event")
            .unwrap();
        assert_eq!(event.payload["n"], json!(n));
    }
    assert_eq!(subscription.unreadable_total(), 1);
    assert_eq!(subscription.take_unreadable()[0].id, poison.id);
    assert!(subscription.take_unreadable().is_empty());

    // Its own stream says why it cannot be read; other streams are unaffected.
    assert!(matches!(
        store.read_stream(&acme, &bad, StreamRead::forward()).await,
        Err(StoreError::UpcastFailed { .. })
    ));
    assert_eq!(
        store
            .read_stream(&acme, &good, StreamRead::forward())
            .await
            .unwrap()
            .len(),
        3
    );
    // Its bytes and chain are untouched.
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

pub async fn a_retry_of_a_committed_append_returns_its_first_result<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s) = (tenant("acme"), stream("lead-1"));
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &[noted(0)])
        .await
        .unwrap();
    let batch = noted_batch(1..4);
    let first = store
        .append(&acme, &s, ExpectedVersion::Exact(1), &batch)
        .await
        .unwrap();
    // The outcome was lost with the connection; the caller retries the very same append, or
    // the same events with a looser expectation.
    for expected in [
        ExpectedVersion::Exact(1),
        ExpectedVersion::Any,
        ExpectedVersion::StreamExists,
        ExpectedVersion::NoStream,
    ] {
        let retried = store.append(&acme, &s, expected, &batch).await.unwrap();
        assert_eq!(retried, first, "{expected:?}");
    }
    // Nothing was written twice.
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), Some(4));
    assert_eq!(read_everything(&store, &acme).await.len(), 4);
    // The stream moved on meanwhile: the retry still answers as the first time.
    store
        .append(&acme, &s, ExpectedVersion::Exact(4), &[noted(9)])
        .await
        .unwrap();
    assert_eq!(
        store
            .append(&acme, &s, ExpectedVersion::Exact(1), &batch)
            .await
            .unwrap(),
        first
    );
    // A run of the batch is stored exactly as asked, so it answers with its own coordinates.
    let tail = store
        .append(&acme, &s, ExpectedVersion::Any, &batch[1..])
        .await
        .unwrap();
    assert_eq!(
        (tail.stream_version, &tail.events[..]),
        (4, &first.events[1..])
    );
    // Events of two appends are not one append.
    let across = [batch[2].clone(), noted(9)];
    assert!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &across)
            .await
            .is_err()
    );
}

pub async fn a_retry_with_other_content_under_the_same_ids_is_refused<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, s, other) = (tenant("acme"), stream("lead-1"), stream("lead-2"));
    let batch = noted_batch(1..3);
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &batch)
        .await
        .unwrap();

    let mut changed = batch.clone();
    changed[1].payload = json!({ "n": 99 });
    assert!(matches!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &changed)
            .await,
        Err(StoreError::DuplicateEventId { .. })
    ));
    let mut other_metadata = batch.clone();
    other_metadata[0].metadata.correlation_id = Some(Uuid::now_v7());
    assert!(matches!(
        store
            .append(&acme, &s, ExpectedVersion::Exact(0), &other_metadata)
            .await,
        Err(StoreError::VersionConflict { .. })
    ));
    // The batch reordered, sent to another stream, or grown is not the same append.
    let reordered = vec![batch[1].clone(), batch[0].clone()];
    assert!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &reordered)
            .await
            .is_err()
    );
    assert!(matches!(
        store
            .append(&acme, &other, ExpectedVersion::Any, &batch)
            .await,
        Err(StoreError::DuplicateEventId { .. })
    ));
    let mut with_new = batch.clone();
    with_new.push(noted(3));
    assert!(
        store
            .append(&acme, &s, ExpectedVersion::Any, &with_new)
            .await
            .is_err()
    );
    assert_eq!(read_everything(&store, &acme).await.len(), 2);
}

pub async fn seals_cover_the_global_order_and_verify_recomputes_them<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, other) = (tenant("acme"), tenant("other"));
    assert_eq!(
        store.seal(&acme).await.unwrap(),
        None,
        "nothing to seal yet"
    );
    for name in ["a", "b", "a"] {
        store
            .append(
                &acme,
                &stream(name),
                ExpectedVersion::Any,
                &noted_batch(0..3),
            )
            .await
            .unwrap();
    }
    store
        .append(
            &other,
            &stream("a"),
            ExpectedVersion::Any,
            &noted_batch(0..2),
        )
        .await
        .unwrap();
    // Once every committed event reads back, the seal covers them all (the horizon only
    // moves forward).
    let everything = read_everything(&store, &acme).await;
    let first = store.seal(&acme).await.unwrap().unwrap();
    assert_eq!(first.event_count, 9);
    assert_eq!(
        (first.number, first.previous_hash),
        (1, crm_eventstore::EventHash::ZERO)
    );
    assert_eq!(first.through, everything.last().unwrap().position);
    // The seal is the documented encoding over the events in global order.
    let mut entries = crm_eventstore::hash::SealEntries::new();
    for event in &everything {
        entries.push(event.position, &event.hash);
    }
    let expected = crm_eventstore::hash::seal_hash(
        "acme",
        &crm_eventstore::EventHash::ZERO,
        1,
        first.through,
        9,
        &entries.finish(),
    );
    assert_eq!(first.hash, expected);
    // Sealing again with nothing new changes nothing.
    assert_eq!(store.seal(&acme).await.unwrap(), Some(first));

    store
        .append(
            &acme,
            &stream("c"),
            ExpectedVersion::Any,
            &noted_batch(0..2),
        )
        .await
        .unwrap();
    read_everything(&store, &acme).await;
    let second = store.seal(&acme).await.unwrap().unwrap();
    assert_eq!((second.previous_hash, second.event_count), (first.hash, 2));
    assert_eq!(store.seals(&acme).await.unwrap(), vec![first, second]);
    assert!(
        store.seals(&other).await.unwrap().is_empty(),
        "seals are per tenant"
    );

    let report = store.verify(&acme).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.seals_checked, 2);
    assert_eq!(
        store
            .verify_stream(&acme, &stream("a"))
            .await
            .unwrap()
            .seals_checked,
        0
    );
}

pub async fn a_head_manifest_round_trips_and_verifies<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let acme = tenant("acme");
    for name in ["b", "a"] {
        store
            .append(
                &acme,
                &stream(name),
                ExpectedVersion::Any,
                &noted_batch(0..2),
            )
            .await
            .unwrap();
    }
    read_everything(&store, &acme).await;
    let manifest = store.head_manifest(&acme).await.unwrap();
    assert_eq!(manifest.seal.map(|seal| seal.event_count), Some(4));
    assert_eq!(manifest.format, crm_eventstore::seal::MANIFEST_FORMAT);
    assert_eq!(
        manifest
            .streams
            .iter()
            .map(|head| (head.stream.as_str(), head.version))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 2)]
    );
    let a = store
        .read_stream(&acme, &stream("a"), StreamRead::backward().limit(1))
        .await
        .unwrap();
    assert_eq!(manifest.streams[0].hash, a[0].hash);

    // Kept as JSON outside the database, read back later: the same manifest.
    let text = serde_json::to_string_pretty(&manifest).unwrap();
    let kept: crm_eventstore::HeadManifest = serde_json::from_str(&text).unwrap();
    assert_eq!(kept, manifest);

    // History grows after the manifest: still intact against it.
    store
        .append(&acme, &stream("a"), ExpectedVersion::Any, &[noted(9)])
        .await
        .unwrap();
    store
        .append(&acme, &stream("z"), ExpectedVersion::Any, &[noted(9)])
        .await
        .unwrap();
    store.seal(&acme).await.unwrap();
    let report = store.verify_against(&acme, &kept).await.unwrap();
    assert!(report.is_intact(), "{report:?}");

    // Another tenant's manifest is not this tenant's.
    let report = store.verify_against(&tenant("other"), &kept).await.unwrap();
    assert!(!report.is_intact());
    assert!(matches!(
        report.manifest_problems[..],
        [crm_eventstore::ManifestProblem::NotThisTenant { .. }]
    ));
}

pub async fn stream_versions_answer_for_each_stream_asked_in_order<B: Backend>() {
    let (store, _guard) = open::<B>().await;
    let (acme, other) = (tenant("acme"), tenant("other"));
    store
        .append(
            &acme,
            &stream("a"),
            ExpectedVersion::NoStream,
            &noted_batch(0..1),
        )
        .await
        .unwrap();
    store
        .append(
            &acme,
            &stream("b"),
            ExpectedVersion::NoStream,
            &noted_batch(1..3),
        )
        .await
        .unwrap();
    let asked = [stream("b"), stream("missing"), stream("a"), stream("b")];
    assert_eq!(
        store.stream_versions(&acme, &asked).await.unwrap(),
        vec![Some(2), None, Some(1), Some(2)]
    );
    // Each answer agrees with the one-stream question.
    for (name, version) in asked
        .iter()
        .zip(store.stream_versions(&acme, &asked).await.unwrap())
    {
        assert_eq!(store.stream_version(&acme, name).await.unwrap(), version);
    }
    assert_eq!(
        store.stream_versions(&other, &asked).await.unwrap(),
        vec![None, None, None, None],
        "another tenant's streams are not seen"
    );
    assert!(store.stream_versions(&acme, &[]).await.unwrap().is_empty());
}
