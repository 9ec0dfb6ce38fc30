//! Guarantees only PostgreSQL can break, each proven against a real server on a fresh database:
//! migrations racing, append-only grants and triggers, tamper evidence, gap-free global order
//! under concurrent writers, subscribers held by an open transaction, killed backends,
//! appends inside a caller's transaction, and cross-process wake-ups.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use conformance::{noted, noted_batch, stream, tenant};
use crm_eventstore::hash::{EventContent, content_digest};
use crm_eventstore::postgres::MIGRATIONS;
use crm_eventstore::{
    BlockingStore, EventStore, ExpectedVersion, GlobalPosition, LinkProblem, NewEvent,
    PostgresConfig, PostgresStore, RecordedEvent, StoreError, StoreSettings, StreamRead,
    SubscriptionOptions, SubscriptionStatus,
};
use crm_testkit::postgres::{TestDatabase, client, with_options};
use serde_json::json;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

const APPEND_ONLY: &str = "CE001";

fn options(poll_ms: u64) -> SubscriptionOptions {
    SubscriptionOptions {
        page_size: 500,
        poll_interval: Duration::from_millis(poll_ms),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_on_a_fresh_database_migrate_once() {
    let database = TestDatabase::create().await;
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let config = database.config(StoreSettings::default()).with_pool_size(2);
            tokio::spawn(PostgresStore::connect(config))
        })
        .collect();
    for start in starts {
        start
            .await
            .unwrap()
            .expect("every concurrent start succeeds");
    }
    let client = database.client().await;
    let rows = client
        .query(
            "SELECT version, name FROM eventstore_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let applied: Vec<(i32, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        applied,
        [
            (1, "0001_events".into()),
            (2, "0002_subject_keys".into()),
            (3, "0003_cheaper_append".into()),
            (4, "0004_qualified_append".into()),
            (5, "0005_log_seals".into()),
            (6, "0006_subject_key_function".into()),
            (7, "0007_append_with_subject_key".into()),
        ]
    );
    // A later start finds nothing to do; a changed migration is refused.
    PostgresStore::connect(database.config(StoreSettings::default()))
        .await
        .unwrap();
    client
        .execute(
            "UPDATE eventstore_migrations SET checksum = '\\x00' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(
        PostgresStore::connect(database.config(StoreSettings::default())).await,
        Err(StoreError::Migration { version: 1, .. })
    ));
}

/// Applies the first `count` migrations by hand, as a database deployed before the later ones
/// would have them.
async fn migrate_up_to(client: &tokio_postgres::Client, count: usize) {
    client
        .batch_execute(
            "CREATE TABLE eventstore_migrations (version integer PRIMARY KEY, name text NOT NULL, \
             checksum bytea NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    for migration in &MIGRATIONS[..count] {
        client.batch_execute(migration.sql).await.unwrap();
        client
            .execute(
                "INSERT INTO eventstore_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[
                    &i32::try_from(migration.version).unwrap(),
                    &migration.name,
                    &&migration.checksum()[..],
                ],
            )
            .await
            .unwrap();
    }
}

/// Appends `events` to a new stream through the append function as it stands, digests made
/// the way the store makes them.
async fn append_by_sql(
    client: &tokio_postgres::Client,
    tenant: &str,
    stream: &str,
    events: &[NewEvent],
) {
    let payloads: Vec<String> = events
        .iter()
        .map(|event| serde_json::to_string(&event.payload).unwrap())
        .collect();
    let metadata: Vec<String> = events
        .iter()
        .map(|event| serde_json::to_string(&event.metadata).unwrap())
        .collect();
    let digests: Vec<Vec<u8>> = events
        .iter()
        .zip(payloads.iter().zip(&metadata))
        .map(|(event, (payload, metadata))| {
            content_digest(&EventContent {
                tenant,
                stream,
                event_id: event.id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                payload: payload.as_bytes(),
                metadata: metadata.as_bytes(),
            })
            .to_vec()
        })
        .collect();
    let ids: Vec<Uuid> = events.iter().map(|event| event.id).collect();
    let types: Vec<&str> = events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    let schema_versions: Vec<i32> = events
        .iter()
        .map(|event| i32::from(event.schema_version))
        .collect();
    let outcome: i16 = client
        .query_one(
            "SELECT r_outcome FROM eventstore_append($1, $2, 1::smallint, 0, NULL, NULL, $3, \
             $4, $5, $6::text[]::json[], $7::text[]::json[], $8, false)",
            &[
                &tenant,
                &stream,
                &ids,
                &types,
                &schema_versions,
                &payloads,
                &metadata,
                &digests,
            ],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, 0, "appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_begun_before_the_append_function_was_replaced_holds_after_it() {
    // Given a database at migration 2 (before 0003 replaced eventstore_append), with a stream
    // begun by the old function
    let database = TestDatabase::create().await;
    let client = database.client().await;
    migrate_up_to(&client, 2).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    append_by_sql(&client, acme.as_str(), s.as_str(), &noted_batch(0..3)).await;

    // When the store connects (applying the rest) and continues the stream
    let store = database.store(StoreSettings::default()).await;
    store
        .append(&acme, &s, ExpectedVersion::Exact(3), &noted_batch(3..6))
        .await
        .unwrap();

    // Then both parts verify as one chain, and positions rise with versions across them
    let report = store.verify_stream(&acme, &s).await.unwrap();
    assert_eq!((report.events_checked, report.first_broken), (6, None));
    let events = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    let versions: Vec<u64> = events.iter().map(|event| event.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].position < pair[1].position)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_role_may_only_read_and_append_through_the_function() {
    let database = TestDatabase::create().await;
    let owner_store = database.store(StoreSettings::default()).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    owner_store
        .append(&acme, &s, ExpectedVersion::Any, &noted_batch(0..2))
        .await
        .unwrap();

    // The application connects as the app role and does not migrate: it can still do its job.
    let app_url = with_options(&database.url, "-c role=crm_eventstore_app");
    let app_store = PostgresStore::connect(
        PostgresConfig::new(app_url.clone())
            .with_pool_size(2)
            .without_migrations(),
    )
    .await
    .unwrap();
    app_store
        .append(&acme, &s, ExpectedVersion::Exact(2), &[noted(2)])
        .await
        .unwrap();
    assert_eq!(
        app_store
            .read_stream(&acme, &s, StreamRead::forward())
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(app_store.verify(&acme).await.unwrap().is_intact());
    app_store
        .save_snapshot(
            &acme,
            &crm_eventstore::Snapshot {
                stream: s.clone(),
                snapshot_type: "t".into(),
                schema_version: 1,
                stream_version: 3,
                state: json!({}),
            },
        )
        .await
        .unwrap();
    assert!(
        app_store
            .load_snapshot(&acme, &s, "t", 2)
            .await
            .unwrap()
            .is_none()
    );

    // But every way around the function is refused by grants.
    let app = client(&app_url).await;
    let current: String = app
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(current, "crm_eventstore_app");
    for statement in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
        "INSERT INTO events SELECT * FROM events LIMIT 1",
        "UPDATE streams SET version = 1",
        "DELETE FROM streams",
        "INSERT INTO idempotency_keys SELECT * FROM idempotency_keys",
        "SELECT nextval('events_position_seq')",
        "DROP TABLE events",
    ] {
        let error = app.batch_execute(statement).await.expect_err(statement);
        assert_eq!(
            error.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}: {error}"
        );
    }
    assert_eq!(
        app.query("SELECT * FROM events", &[]).await.unwrap().len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn even_the_owner_is_refused_by_the_triggers() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let events = with_key(noted_batch(0..2), "k");
    store
        .append(&tenant("acme"), &stream("s"), ExpectedVersion::Any, &events)
        .await
        .unwrap();
    let owner = database.client().await;
    for statement in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
        "TRUNCATE events CASCADE",
        "DELETE FROM streams",
        "TRUNCATE streams",
        "UPDATE idempotency_keys SET request_hash = '\\x00'",
        "DELETE FROM idempotency_keys",
    ] {
        let error = owner.batch_execute(statement).await.expect_err(statement);
        assert_eq!(
            error.code().map(SqlState::code),
            Some(APPEND_ONLY),
            "{statement}: {error}"
        );
    }
    assert_eq!(
        store
            .stream_version(&tenant("acme"), &stream("s"))
            .await
            .unwrap(),
        Some(2)
    );
}

fn with_key(mut events: Vec<NewEvent>, key: &str) -> Vec<NewEvent> {
    for event in &mut events {
        event.metadata.idempotency_key = Some(key.into());
    }
    events
}

/// Runs `statement` as a superuser with the append-only triggers disabled, as an attacker
/// with full access would.
async fn behind_the_stores_back(database: &TestDatabase, statement: &str) {
    database
        .client()
        .await
        .batch_execute(&format!(
            "BEGIN; ALTER TABLE events DISABLE TRIGGER USER; {statement}; \
             ALTER TABLE events ENABLE TRIGGER USER; COMMIT;"
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_event_edited_behind_the_stores_back() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    for tenant_name in ["edited", "truncated", "gapped", "metadata"] {
        for name in ["a", "b", "c"] {
            store
                .append(
                    &tenant(tenant_name),
                    &stream(name),
                    ExpectedVersion::Any,
                    &noted_batch(0..3),
                )
                .await
                .unwrap();
        }
    }
    for tenant_name in ["edited", "truncated", "gapped", "metadata"] {
        assert!(
            store
                .verify(&tenant(tenant_name))
                .await
                .unwrap()
                .is_intact()
        );
    }
    let target = store
        .read_stream(&tenant("edited"), &stream("b"), StreamRead::forward())
        .await
        .unwrap()
        .remove(1);

    // A payload edited to something a reader would happily accept.
    behind_the_stores_back(
        &database,
        "UPDATE events SET payload = '{\"n\":666}' WHERE tenant_id = 'edited' AND stream_id = 'b' AND version = 2",
    )
    .await;
    let report = store.verify(&tenant("edited")).await.unwrap();
    let broken = report.first_broken.expect("the edit is found");
    assert_eq!(
        (
            broken.tenant.as_str(),
            broken.stream.as_str(),
            broken.version,
            broken.event_id
        ),
        ("edited", "b", 2, Some(target.id))
    );
    assert!(matches!(broken.problem, LinkProblem::HashMismatch { .. }));
    assert_eq!(
        report.streams_checked, 1,
        "stream a was checked before b broke"
    );
    let per_stream = store
        .verify_stream(&tenant("edited"), &stream("b"))
        .await
        .unwrap();
    assert_eq!(
        per_stream.first_broken.map(|broken| broken.version),
        Some(2)
    );
    assert!(
        store
            .verify_stream(&tenant("edited"), &stream("c"))
            .await
            .unwrap()
            .is_intact()
    );
    // A reader still gets the edited event: detection is verify's job, not the read path's.
    let read = store
        .read_stream(&tenant("edited"), &stream("b"), StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(read[1].payload, json!({ "n": 666 }));

    behind_the_stores_back(
        &database,
        "DELETE FROM events WHERE tenant_id = 'truncated' AND stream_id = 'c' AND version = 3",
    )
    .await;
    let broken = store
        .verify(&tenant("truncated"))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!((broken.stream.as_str(), broken.version), ("c", 3));
    assert_eq!(
        broken.problem,
        LinkProblem::HeadMismatch {
            head_version: 3,
            last_event_version: 2
        }
    );

    behind_the_stores_back(
        &database,
        "DELETE FROM events WHERE tenant_id = 'gapped' AND stream_id = 'a' AND version = 2",
    )
    .await;
    let broken = store
        .verify(&tenant("gapped"))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!((broken.stream.as_str(), broken.version), ("a", 3));
    assert_eq!(broken.problem, LinkProblem::VersionGap { expected: 2 });

    behind_the_stores_back(
        &database,
        "UPDATE events SET metadata = '{\"actor\":\"someone else\"}' WHERE tenant_id = 'metadata' AND stream_id = 'a' AND version = 1",
    )
    .await;
    let broken = store
        .verify(&tenant("metadata"))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!((broken.stream.as_str(), broken.version), ("a", 1));
    assert!(matches!(broken.problem, LinkProblem::HashMismatch { .. }));
}

/// Reads `count` events from a fresh subscription, asserting strictly increasing positions.
async fn subscriber(store: PostgresStore, count: usize) -> Vec<RecordedEvent> {
    let mut subscription = store.subscribe(&tenant("acme"), GlobalPosition::START, options(50));
    let mut received: Vec<RecordedEvent> = Vec::with_capacity(count);
    while received.len() < count {
        let event = tokio::time::timeout(Duration::from_mins(1), subscription.next())
            .await
            .expect("the subscriber keeps receiving")
            .unwrap();
        if let Some(last) = received.last() {
            assert!(
                event.position > last.position,
                "global order never goes back"
            );
        }
        received.push(event);
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_make_a_subscriber_skip_or_repeat() {
    const WRITERS: u64 = 8;
    // 10,000 in the test command; the soak (docs/TESTING.md) sets a larger count.
    let events_each: u64 = std::env::var("CRM_SOAK_EVENTS_EACH")
        .ok()
        .map_or(10_000, |count| {
            count.parse().expect("CRM_SOAK_EVENTS_EACH is a count")
        });
    let total = usize::try_from(WRITERS * events_each).unwrap();
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let started = Instant::now();
    let subscribers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(subscriber(store.clone(), total)))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut appended = Vec::new();
                let mut written = 0;
                let mut batch_number = 0_u64;
                while written < events_each {
                    // Mixed batch sizes: 1, 7, 50, 3, 120, 1, 7… (deterministic per writer).
                    let size = [1, 7, 50, 3, 120]
                        [usize::try_from((batch_number + writer) % 5).unwrap()]
                    .min(events_each - written);
                    let events = noted_batch(written..written + size);
                    let s = stream(&format!("w{writer}-{}", batch_number % 3));
                    store
                        .append(&tenant("acme"), &s, ExpectedVersion::Any, &events)
                        .await
                        .unwrap();
                    appended.extend(events.iter().map(|event| event.id));
                    written += size;
                    batch_number += 1;
                }
                appended
            })
        })
        .collect();
    let mut committed = HashSet::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    assert_eq!(committed.len(), total);
    let mut orders = Vec::new();
    for subscriber in subscribers {
        let received = subscriber.await.unwrap();
        let ids: Vec<Uuid> = received.iter().map(|event| event.id).collect();
        let distinct: HashSet<Uuid> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), total, "exactly once: no event repeated");
        assert_eq!(distinct, committed, "every committed event received");
        orders.push(ids);
    }
    assert_eq!(orders[0], orders[1], "both subscribers see one order");
    let mut after = GlobalPosition::START;
    let mut read_all = Vec::new();
    loop {
        let page = store.read_all(&tenant("acme"), after, 5000).await.unwrap();
        if page.events.is_empty() {
            break;
        }
        after = page.next;
        read_all.extend(page.events.iter().map(|event| event.id));
    }
    assert_eq!(read_all, orders[0], "the order is the store's global order");
    println!(
        "{total} events from {WRITERS} writers, 2 subscribers: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_subscribers_back_and_says_so() {
    // Marten #4964's reproduction: one appending transaction stays open while later ones commit.
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let acme = tenant("acme");
    store
        .append(&acme, &stream("before"), ExpectedVersion::Any, &[noted(0)])
        .await
        .unwrap();
    let mut subscription = store.subscribe(&acme, GlobalPosition::START, options(20));
    let first = subscription.next().await.unwrap();
    assert_eq!(first.stream.as_str(), "before");

    let mut client = store.client().await.unwrap();
    let slow = client.transaction().await.unwrap();
    let slow_result = store
        .append_in(
            &slow,
            &acme,
            &stream("slow"),
            ExpectedVersion::Any,
            &[noted(1)],
        )
        .await
        .unwrap();
    let slow_transaction = slow_result.events[0].position.transaction;
    let mut later = Vec::new();
    for n in 2..5 {
        let result = store
            .append(
                &acme,
                &stream(&format!("fast-{n}")),
                ExpectedVersion::Any,
                &[noted(n)],
            )
            .await
            .unwrap();
        assert!(result.events[0].position.transaction > slow_transaction);
        later.push(result.events[0].event_id);
    }
    // Committed events exist, but delivering them now would let the slow one be skipped.
    assert!(
        tokio::time::timeout(Duration::from_millis(400), subscription.next())
            .await
            .is_err()
    );
    match subscription.status() {
        SubscriptionStatus::HeldBy { transaction } => {
            // Another test's open transaction in this cluster may be older still.
            assert!(
                transaction <= slow_transaction,
                "held at {transaction}, slow is {slow_transaction}"
            );
        }
        other => panic!("expected the subscription to report being held, got {other:?}"),
    }
    slow.commit().await.unwrap();
    let mut received = Vec::new();
    for _ in 0..4 {
        received.push(
            tokio::time::timeout(Duration::from_secs(10), subscription.next())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(
        received[0].id, slow_result.events[0].event_id,
        "the slow transaction's event comes first"
    );
    assert_eq!(
        received[1..]
            .iter()
            .map(|event| event.id)
            .collect::<Vec<_>>(),
        later
    );
    assert_eq!(subscription.status(), SubscriptionStatus::Live);
}

async fn backend_waiting_in_append(database: &TestDatabase) -> i32 {
    let client = database.client().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = client
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND query LIKE '%eventstore_append%' AND wait_event_type = 'Lock' \
                 AND pid <> pg_backend_pid() LIMIT 1",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(
            Instant::now() < deadline,
            "the append never reached its lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_append_leaves_nothing_and_the_pool_recovers() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    store
        .append(&acme, &s, ExpectedVersion::Any, &noted_batch(0..2))
        .await
        .unwrap();

    // Hold the stream's append lock so the next append stops inside the function.
    let blocker = database.client().await;
    blocker
        .batch_execute(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('acme' || chr(31) || 's', 1469598103))",
        )
        .await
        .unwrap();
    let append = {
        let (store, acme, s) = (store.clone(), acme.clone(), s.clone());
        tokio::spawn(async move {
            store
                .append(&acme, &s, ExpectedVersion::Exact(2), &noted_batch(10..60))
                .await
        })
    };
    let pid = backend_waiting_in_append(&database).await;
    let killer = database.client().await;
    let killed: bool = killer
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    match append.await.unwrap() {
        Err(error @ StoreError::Unavailable { .. }) => assert!(error.is_retryable()),
        other => panic!("expected the store to be unavailable, got {other:?}"),
    }
    blocker.batch_execute("ROLLBACK").await.unwrap();

    assert_eq!(
        store.stream_version(&acme, &s).await.unwrap(),
        Some(2),
        "no half-written batch"
    );
    // The pool drops the dead connection and the next append works.
    for _ in 0..3 {
        let version = store.stream_version(&acme, &s).await.unwrap().unwrap();
        store
            .append(
                &acme,
                &s,
                ExpectedVersion::Exact(version),
                &[noted(version)],
            )
            .await
            .unwrap();
    }
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), Some(5));
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_transaction_killed_before_commit_leaves_nothing() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let mut client = store.client().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    store
        .append_in(
            &transaction,
            &acme,
            &s,
            ExpectedVersion::NoStream,
            &noted_batch(0..5),
        )
        .await
        .unwrap();
    let pid: i32 = transaction
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    database
        .client()
        .await
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    assert!(transaction.commit().await.is_err());
    drop(client);
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), None);
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &noted_batch(0..5))
        .await
        .unwrap();
    assert_eq!(conformance::read_everything(&store, &acme).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_in_the_callers_transaction_commits_or_rolls_back_with_it() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    database
        .client()
        .await
        .batch_execute("CREATE TABLE outbox (message text NOT NULL)")
        .await
        .unwrap();
    let (acme, s) = (tenant("acme"), stream("s"));

    let mut client = store.client().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    transaction
        .execute("INSERT INTO outbox VALUES ('rolled back')", &[])
        .await
        .unwrap();
    store
        .append_in(
            &transaction,
            &acme,
            &s,
            ExpectedVersion::NoStream,
            &noted_batch(0..2),
        )
        .await
        .unwrap();
    // A conflict inside the transaction leaves it usable.
    assert!(matches!(
        store
            .append_in(
                &transaction,
                &acme,
                &s,
                ExpectedVersion::NoStream,
                &[noted(9)]
            )
            .await,
        Err(StoreError::VersionConflict {
            actual: Some(2),
            ..
        })
    ));
    transaction.rollback().await.unwrap();
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), None);

    let transaction = client.transaction().await.unwrap();
    transaction
        .execute("INSERT INTO outbox VALUES ('sent')", &[])
        .await
        .unwrap();
    let first = store
        .append_in(
            &transaction,
            &acme,
            &s,
            ExpectedVersion::NoStream,
            &noted_batch(0..2),
        )
        .await
        .unwrap();
    let second = store
        .append_in(
            &transaction,
            &acme,
            &s,
            ExpectedVersion::Exact(2),
            &[noted(2)],
        )
        .await
        .unwrap();
    assert_eq!(
        first.events[0].position.transaction,
        second.events[0].position.transaction
    );
    transaction.commit().await.unwrap();
    let outbox: Vec<String> = database
        .client()
        .await
        .query("SELECT message FROM outbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(outbox, ["sent"]);
    let all = conformance::read_everything(&store, &acme).await;
    assert_eq!(
        all.iter().map(|event| event.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_older_than_the_streams_head_must_retry() {
    // A caller transaction that got its id before another append to the same stream committed
    // would otherwise sort that stream's later version first in the global order.
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    database
        .client()
        .await
        .batch_execute("CREATE TABLE inbox (item text NOT NULL)")
        .await
        .unwrap();
    let (acme, s) = (tenant("acme"), stream("s"));
    let mut client = store.client().await.unwrap();
    let old = client.transaction().await.unwrap();
    old.execute("INSERT INTO inbox VALUES ('first')", &[])
        .await
        .unwrap();
    store
        .append(&acme, &s, ExpectedVersion::Any, &[noted(0)])
        .await
        .unwrap();
    match store
        .append_in(&old, &acme, &s, ExpectedVersion::Exact(1), &[noted(1)])
        .await
    {
        Err(error @ StoreError::TransactionOrderConflict { .. }) => assert!(error.is_retryable()),
        other => panic!("expected a transaction order conflict, got {other:?}"),
    }
    old.rollback().await.unwrap();
    let retry = client.transaction().await.unwrap();
    retry
        .execute("INSERT INTO inbox VALUES ('first')", &[])
        .await
        .unwrap();
    store
        .append_in(&retry, &acme, &s, ExpectedVersion::Exact(1), &[noted(1)])
        .await
        .unwrap();
    retry.commit().await.unwrap();
    let all = conformance::read_everything(&store, &acme).await;
    assert_eq!(
        all.iter().map(|event| event.version).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_idempotency_key_write_once() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    let batch = with_key(noted_batch(0..3), "request-7");
    let retries: Vec<_> = (0..8)
        .map(|_| {
            let (store, acme, s, batch) = (store.clone(), acme.clone(), s.clone(), batch.clone());
            tokio::spawn(async move { store.append(&acme, &s, ExpectedVersion::Any, &batch).await })
        })
        .collect();
    let mut results = Vec::new();
    for retry in retries {
        results.push(retry.await.unwrap().unwrap());
    }
    assert!(
        results.windows(2).all(|pair| pair[0] == pair[1]),
        "every retry gets the first result"
    );
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_racing_to_different_streams_lands_once() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let acme = tenant("acme");
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let (store, acme) = (store.clone(), acme.clone());
            tokio::spawn(async move {
                let events = with_key(noted_batch(0..2), "request-9");
                let target = stream(&format!("s{n}"));
                store
                    .append(&acme, &target, ExpectedVersion::Any, &events)
                    .await
            })
        })
        .collect();
    let mut landed = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => landed += 1,
            Err(StoreError::IdempotencyConflict { key, .. }) => assert_eq!(key, "request-9"),
            Err(other) => panic!("expected a typed idempotency conflict, got {other:?}"),
        }
    }
    assert_eq!(landed, 1);
    assert_eq!(conformance::read_everything(&store, &acme).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_is_woken_by_notify_not_by_polling() {
    let database = TestDatabase::create().await;
    let writer = database.store(StoreSettings::default()).await;
    let reader = database.store(StoreSettings::default()).await;
    let acme = tenant("acme");
    // Polling every minute: only the LISTEN/NOTIFY hint can deliver within the deadline.
    let mut subscription = reader.subscribe(&acme, GlobalPosition::START, options(60_000));
    // Let the listener connect (it reads once more when it does).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(5), subscription.next()).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let appended = writer
        .append(&acme, &stream("s"), ExpectedVersion::Any, &[noted(0)])
        .await
        .unwrap();
    let received = waiting.await.unwrap().expect("woken by NOTIFY").unwrap();
    assert_eq!(received.id, appended.events[0].event_id);
}

#[test]
fn the_blocking_facade_drives_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let database = runtime.block_on(TestDatabase::create());
    let store = BlockingStore::connect(database.config(StoreSettings::default())).unwrap();
    let (acme, s) = (tenant("acme"), stream("s"));
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &noted_batch(0..3))
        .unwrap();
    assert_eq!(store.stream_version(&acme, &s).unwrap(), Some(3));
    assert_eq!(
        store
            .read_stream(&acme, &s, StreamRead::backward().limit(1))
            .unwrap()[0]
            .version,
        3
    );
    let mut subscription = store.subscribe(&acme, GlobalPosition::START, options(20));
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
            .next_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    assert!(store.verify(&acme).unwrap().is_intact());
    drop(subscription);
    drop(store);
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable_not_a_panic() {
    let config =
        PostgresConfig::new("host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=2");
    match PostgresStore::connect(config).await {
        Err(error @ StoreError::Unavailable { .. }) => assert!(error.is_retryable()),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

/// Nothing listens on port 1 of the loopback: the connection is refused, and the error says so
/// in its message, not only down its source chain.
#[tokio::test]
async fn a_refused_connection_says_why() {
    let config = PostgresConfig::new("host=127.0.0.1 port=1 user=crm dbname=crm");
    let error = PostgresStore::connect(config).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Unavailable {
                source: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    let message = error.to_string();
    assert!(message.starts_with("event store unavailable: cannot connect to PostgreSQL"));
    assert!(
        message.to_lowercase().contains("connection refused"),
        "the message names the cause: {message}"
    );
    // The cause stays reachable as an error, for callers that walk the chain.
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    assert!(
        causes
            .iter()
            .any(|cause| cause.to_lowercase().contains("connection refused")),
        "{causes:?}"
    );
}

/// A server that answers and refuses the session: its reason is in the message.
#[tokio::test]
async fn a_connection_the_server_refuses_gives_the_servers_reason() {
    let database = TestDatabase::create().await;
    let config = PostgresConfig::new(with_options(&database.url, "-c role=crm_no_such_role"));
    let error = PostgresStore::connect(config).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("crm_no_such_role"), "{message}");
}

#[test]
fn a_connection_string_that_does_not_parse_says_where() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime
        .block_on(PostgresStore::connect(PostgresConfig::new("port=notaport")))
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("connection string"), "{message}");
    assert!(message.contains("port"), "{message}");
}
