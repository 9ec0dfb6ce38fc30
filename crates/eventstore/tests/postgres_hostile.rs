//! Attacks and accidents a hostile test from outside the project tried on the PostgreSQL store,
//! each reproduced here against a real server on a fresh database: a role shadowing the store's
//! tables through its `search_path`, a legacy row no reader can parse, and rewrites of the
//! global order and of whole streams behind the store's back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;

use std::time::Duration;

use conformance::{nested, noted, noted_batch, read_everything, stream, tenant};
use crm_eventstore::hash::{EventContent, content_digest};
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, PostgresConfig, PostgresStore, StoreSettings,
    StreamRead, SubscriptionOptions,
};
use crm_testkit::postgres::{TestDatabase, client, with_options};
use serde_json::json;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

/// Calls the append function directly over SQL, as any client granted the application role
/// can, with a content digest computed as the store computes it (so the row's chain holds).
async fn append_over_sql(
    client: &tokio_postgres::Client,
    stream_name: &str,
    payload: &str,
) -> tokio_postgres::Row {
    let id = Uuid::now_v7();
    let digest = content_digest(&EventContent {
        tenant: "acme",
        stream: stream_name,
        event_id: id,
        event_type: "Noted",
        schema_version: 1,
        payload: payload.as_bytes(),
        metadata: b"{}",
    });
    client
        .query_one(
            // Every argument's type spelled out in full: the attacker's own temporary tables
            // below shadow the unqualified type names in its session.
            "SELECT r_outcome, r_stream_version FROM eventstore_append('acme'::text, $1::text, \
             0::smallint, 0::bigint, NULL::text, NULL::pg_catalog.bytea, ARRAY[$2::uuid], \
             ARRAY['Noted'::text], ARRAY[1], ARRAY[$3::text::json], ARRAY['{}'::json], \
             ARRAY[$4::pg_catalog.bytea], false)",
            &[&stream_name, &id, &payload, &&digest[..]],
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_tables_cannot_stand_in_for_the_stores_tables() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let (acme, s) = (tenant("acme"), stream("s"));
    store
        .append(&acme, &s, ExpectedVersion::NoStream, &noted_batch(0..2))
        .await
        .unwrap();

    // A role granted only the application role; TEMP is granted to it here on purpose, so the
    // function itself is shown to be immune even where an operator hands TEMP out.
    let attacker = format!("attacker_{}", Uuid::now_v7().simple());
    let owner = database.client().await;
    owner
        .batch_execute(&format!(
            "CREATE ROLE {attacker} NOLOGIN; GRANT crm_eventstore_app TO {attacker}; \
             GRANT TEMPORARY ON DATABASE {} TO {attacker}",
            database.name
        ))
        .await
        .unwrap();
    let session = client(&with_options(&database.url, &format!("-c role={attacker}"))).await;
    session
        .batch_execute(
            "CREATE TEMP TABLE streams (tenant_id text, stream_id text, version bigint, \
               last_hash bytea, last_tx_id xid8, last_recorded_at timestamptz); \
             INSERT INTO streams VALUES ('acme', 's', 40, '\\x00', '1', now()); \
             CREATE TEMP TABLE events (LIKE streams); \
             CREATE TEMP TABLE idempotency_keys (LIKE streams); \
             CREATE TEMP TABLE bytea (x int); \
             CREATE TEMP TABLE int8 (x int)",
        )
        .await
        .unwrap();

    // The append lands on the real stream, right after its real head.
    let row = append_over_sql(&session, "s", r#"{"n":2}"#).await;
    assert_eq!(
        (row.get::<_, i16>(0), row.get::<_, i64>(1)),
        (0, 3),
        "appended as version 3 of the real stream"
    );
    let events = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|event| event.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // And the stream stays writable and intact.
    store
        .append(&acme, &s, ExpectedVersion::Exact(3), &[noted(3)])
        .await
        .unwrap();
    assert!(store.verify(&acme).await.unwrap().is_intact());
    session.batch_execute("DISCARD TEMP").await.unwrap();
    drop(session);
    owner
        .batch_execute(&format!(
            "REVOKE TEMPORARY ON DATABASE {} FROM {attacker}; DROP ROLE {attacker}",
            database.name
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_role_may_not_create_temporary_tables() {
    let database = TestDatabase::create().await;
    let _store = database.store(StoreSettings::default()).await;
    let app = client(&with_options(&database.url, "-c role=crm_eventstore_app")).await;
    let error = app
        .batch_execute("CREATE TEMP TABLE streams (x int)")
        .await
        .expect_err("TEMP is revoked");
    assert_eq!(
        error.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
    let error = app
        .batch_execute("CREATE TABLE public.streams_copy (x int)")
        .await
        .expect_err("no CREATE on the store's schema");
    assert_eq!(
        error.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_row_nobody_can_parse_is_passed_over_and_reported() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let acme = tenant("acme");
    store
        .append(&acme, &stream("before"), ExpectedVersion::Any, &[noted(1)])
        .await
        .unwrap();
    // A row stored before the depth limit existed: 200 levels, more than any reader parses.
    // PostgreSQL's json type takes it; the chain over it is valid.
    let owner = database.client().await;
    let deep = serde_json::to_string(&nested(200, json!(1))).unwrap();
    let row = append_over_sql(&owner, "legacy", &deep).await;
    assert_eq!(row.get::<_, i16>(0), 0);
    store
        .append(&acme, &stream("after"), ExpectedVersion::Any, &[noted(2)])
        .await
        .unwrap();

    // Reads of the tenant go on: the row is passed over, with its reason.
    let events = read_everything(&store, &acme).await;
    assert_eq!(
        events
            .iter()
            .map(|event| event.stream.as_str())
            .collect::<Vec<_>>(),
        ["before", "after"]
    );
    let page = conformance::read_page_settled(&store, &acme, GlobalPosition::START, 10).await;
    assert_eq!(page.unreadable.len(), 1);
    assert_eq!(page.unreadable[0].stream, "legacy");
    assert!(
        page.unreadable[0].reason.contains("recursion limit"),
        "{:?}",
        page.unreadable
    );
    // A subscription from the start delivers everything else and does not spin.
    let mut subscription = store.subscribe(
        &acme,
        GlobalPosition::START,
        SubscriptionOptions {
            page_size: 10,
            poll_interval: Duration::from_millis(20),
        },
    );
    for expected in ["before", "after"] {
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.stream.as_str(), expected);
    }
    assert_eq!(subscription.unreadable_total(), 1);
    // Only its own stream fails to load, saying why.
    assert!(
        store
            .read_stream(&acme, &stream("legacy"), StreamRead::forward())
            .await
            .is_err()
    );
    // verify: the chains hold, and the unreadable row is reported instead of "all is well".
    let report = store.verify(&acme).await.unwrap();
    assert!(report.is_intact());
    assert!(!report.is_sound());
    assert_eq!(report.unreadable_events, 1);
    assert_eq!(report.first_unreadable.unwrap().stream, "legacy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_still_appends_and_reads() {
    let database = TestDatabase::create().await;
    let _owner = database.store(StoreSettings::default()).await;
    let app_url = with_options(&database.url, "-c role=crm_eventstore_app");
    let app = PostgresStore::connect(
        PostgresConfig::new(app_url)
            .with_pool_size(2)
            .without_migrations(),
    )
    .await
    .unwrap();
    let (acme, s) = (tenant("acme"), stream("s"));
    app.append(&acme, &s, ExpectedVersion::NoStream, &noted_batch(0..3))
        .await
        .unwrap();
    assert_eq!(read_everything(&app, &acme).await.len(), 3);
    assert!(app.verify(&acme).await.unwrap().is_intact());
}
