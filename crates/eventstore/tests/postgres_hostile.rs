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

/// A store with a little history across streams, sealed, and the manifest an auditor keeps.
async fn sealed_history(database: &TestDatabase) -> (PostgresStore, crm_eventstore::HeadManifest) {
    let store = database.store(StoreSettings::default()).await;
    let acme = tenant("acme");
    for (name, range) in [
        ("a", 0..3),
        ("b", 3..5),
        ("a", 5..6),
        ("c", 6..8),
        ("b", 8..9),
    ] {
        store
            .append(
                &acme,
                &stream(name),
                ExpectedVersion::Any,
                &noted_batch(range),
            )
            .await
            .unwrap();
    }
    read_everything(&store, &acme).await;
    let manifest = store.head_manifest(&acme).await.unwrap();
    assert_eq!(manifest.seal.map(|seal| seal.event_count), Some(9));
    let report = store.verify_against(&acme, &manifest).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    (store, manifest)
}

/// Runs `statements` as the owner with the append-only triggers switched off, as a database
/// superuser tampering behind the store's back could.
async fn tamper(database: &TestDatabase, statements: &str) {
    let owner = database.client().await;
    owner
        .batch_execute(&format!(
            "BEGIN; SET LOCAL session_replication_role = replica; {statements}; COMMIT"
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_two_events_in_the_global_order_breaks_a_seal() {
    let database = TestDatabase::create().await;
    let (store, _manifest) = sealed_history(&database).await;
    let acme = tenant("acme");
    // The first events of streams b and c, from different transactions, trade places in the
    // global order; each stream's own chain and order still hold.
    tamper(
        &database,
        "WITH pair AS (SELECT stream_id, tx_id, position FROM events \
           WHERE (stream_id, version) IN (('b', 1), ('c', 1))) \
         UPDATE events e SET tx_id = other.tx_id, position = -other.position \
           FROM pair mine, pair other \
          WHERE e.stream_id = mine.stream_id AND e.version = 1 AND mine.stream_id <> other.stream_id; \
         UPDATE events SET position = -position WHERE position < 0",
    )
    .await;
    let before_b = store
        .read_stream(&acme, &stream("b"), StreamRead::forward())
        .await
        .unwrap();
    assert!(
        before_b[0].position > before_b[1].position,
        "the tamper moved b's first event after its second"
    );
    let report = store.verify(&acme).await.unwrap();
    assert!(!report.is_intact());
    let broken = report
        .first_broken_seal
        .expect("the seal over the swapped events breaks");
    assert_eq!(broken.number, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_events_of_two_single_event_streams_breaks_a_seal() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let acme = tenant("acme");
    for name in ["x", "y"] {
        store
            .append(&acme, &stream(name), ExpectedVersion::Any, &[noted(1)])
            .await
            .unwrap();
    }
    read_everything(&store, &acme).await;
    assert_eq!(
        store
            .seal(&acme)
            .await
            .unwrap()
            .map(|seal| seal.event_count),
        Some(2)
    );
    // No stream chain can see this: each stream has one event.
    tamper(
        &database,
        "WITH pair AS (SELECT stream_id, tx_id, position FROM events) \
         UPDATE events e SET tx_id = other.tx_id, position = -other.position \
           FROM pair mine, pair other \
          WHERE e.stream_id = mine.stream_id AND mine.stream_id <> other.stream_id; \
         UPDATE events SET position = -position WHERE position < 0",
    )
    .await;
    let report = store.verify(&acme).await.unwrap();
    assert!(report.first_broken.is_none(), "{report:?}");
    assert!(report.first_broken_seal.is_some(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_a_streams_tail_with_its_head_is_caught() {
    let database = TestDatabase::create().await;
    let (store, manifest) = sealed_history(&database).await;
    let acme = tenant("acme");
    // The last event of `a` goes, and the head is set back to the one before: the stream's
    // own chain is consistent again.
    tamper(
        &database,
        "DELETE FROM events WHERE stream_id = 'a' AND version = 4; \
         UPDATE streams s SET version = 3, last_hash = e.hash FROM events e \
          WHERE s.stream_id = 'a' AND e.stream_id = 'a' AND e.version = 3",
    )
    .await;
    let report = store.verify(&acme).await.unwrap();
    assert!(
        report.first_broken.is_none(),
        "the chain alone cannot see it"
    );
    assert!(report.first_broken_seal.is_some(), "the seal can");
    let report = store.verify_against(&acme, &manifest).await.unwrap();
    assert!(
        report
            .manifest_problems
            .contains(&crm_eventstore::ManifestProblem::StreamShorter {
                stream: "a".into(),
                manifest_version: 4,
                version: 3,
            })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_or_moving_a_whole_stream_is_caught() {
    let database = TestDatabase::create().await;
    let (store, manifest) = sealed_history(&database).await;
    let acme = tenant("acme");
    tamper(
        &database,
        "DELETE FROM events WHERE stream_id = 'c'; DELETE FROM streams WHERE stream_id = 'c'; \
         UPDATE events SET tenant_id = 'other' WHERE stream_id = 'b'; \
         UPDATE streams SET tenant_id = 'other' WHERE stream_id = 'b'",
    )
    .await;
    let report = store.verify(&acme).await.unwrap();
    assert!(
        report.first_broken.is_none(),
        "what is left of each stream is consistent"
    );
    assert!(report.first_broken_seal.is_some());
    let report = store.verify_against(&acme, &manifest).await.unwrap();
    for stream_name in ["b", "c"] {
        assert!(
            report
                .manifest_problems
                .contains(&crm_eventstore::ManifestProblem::StreamMissing {
                    stream: stream_name.into(),
                }),
            "{report:?}"
        );
    }
    // Where the moved stream landed, its chain does not hold: the tenant is in every hash.
    let other = store.verify(&tenant("other")).await.unwrap();
    assert!(other.first_broken.is_some());
}

/// Recomputes, from the documented encoding, every hash of stream `name` and every seal of
/// the tenant after its first event's payload was changed to `payload`: what a database
/// owner who read `src/hash.rs` could do.
async fn rewrite_consistently(database: &TestDatabase, name: &str, payload: &str) {
    use crm_eventstore::hash::{SealEntries, chain_hash, seal_hash};
    let owner = database.client().await;
    owner
        .batch_execute("BEGIN; SET LOCAL session_replication_role = replica")
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE events SET payload = $2::text::json WHERE stream_id = $1 AND version = 1",
            &[&name, &payload],
        )
        .await
        .unwrap();
    let rows = owner
        .query(
            "SELECT version, event_id, event_type, schema_version, payload::text, metadata::text, \
             recorded_at FROM events WHERE tenant_id = 'acme' AND stream_id = $1 ORDER BY version",
            &[&name],
        )
        .await
        .unwrap();
    let mut previous = crm_eventstore::EventHash::ZERO;
    for row in &rows {
        let version: i64 = row.get(0);
        let (payload, metadata): (String, String) = (row.get(4), row.get(5));
        let schema_version: i32 = row.get(3);
        let digest = content_digest(&EventContent {
            tenant: "acme",
            stream: name,
            event_id: row.get(1),
            event_type: row.get(2),
            schema_version: u16::try_from(schema_version).unwrap(),
            payload: payload.as_bytes(),
            metadata: metadata.as_bytes(),
        });
        let hash = chain_hash(
            &previous,
            u64::try_from(version).unwrap(),
            row.get(6),
            &digest,
        );
        owner
            .execute(
                "UPDATE events SET hash = $3, previous_hash = $4 WHERE stream_id = $1 AND version = $2",
                &[&name, &version, &&hash.0[..], &&previous.0[..]],
            )
            .await
            .unwrap();
        previous = hash;
    }
    owner
        .execute(
            "UPDATE streams SET last_hash = $2 WHERE stream_id = $1",
            &[&name, &&previous.0[..]],
        )
        .await
        .unwrap();
    // And the seals, recomputed over the same ranges.
    let seals = owner
        .query(
            "SELECT seal_number, through_tx::text::int8, through_position FROM log_seals \
             WHERE tenant_id = 'acme' ORDER BY seal_number",
            &[],
        )
        .await
        .unwrap();
    let events = owner
        .query(
            "SELECT tx_id::text::int8, position, hash FROM events WHERE tenant_id = 'acme' \
             ORDER BY tx_id, position",
            &[],
        )
        .await
        .unwrap();
    let mut previous_seal = crm_eventstore::EventHash::ZERO;
    let mut events = events.iter().peekable();
    for seal in &seals {
        let number: i64 = seal.get(0);
        let through = GlobalPosition {
            transaction: u64::try_from(seal.get::<_, i64>(1)).unwrap(),
            position: u64::try_from(seal.get::<_, i64>(2)).unwrap(),
        };
        let mut entries = SealEntries::new();
        while let Some(event) = events.next_if(|event| {
            GlobalPosition {
                transaction: u64::try_from(event.get::<_, i64>(0)).unwrap(),
                position: u64::try_from(event.get::<_, i64>(1)).unwrap(),
            } <= through
        }) {
            let position = GlobalPosition {
                transaction: u64::try_from(event.get::<_, i64>(0)).unwrap(),
                position: u64::try_from(event.get::<_, i64>(1)).unwrap(),
            };
            let hash: &[u8] = event.get(2);
            entries.push(
                position,
                &crm_eventstore::EventHash(hash.try_into().unwrap()),
            );
        }
        let count = entries.count();
        let hash = seal_hash(
            "acme",
            &previous_seal,
            u64::try_from(number).unwrap(),
            through,
            count,
            &entries.finish(),
        );
        owner
            .execute(
                "UPDATE log_seals SET hash = $2, previous_hash = $3 WHERE seal_number = $1",
                &[&number, &&hash.0[..], &&previous_seal.0[..]],
            )
            .await
            .unwrap();
        previous_seal = hash;
    }
    owner.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_rewrite_of_chains_and_seals_is_caught_against_the_manifest() {
    let database = TestDatabase::create().await;
    let (store, manifest) = sealed_history(&database).await;
    let acme = tenant("acme");
    rewrite_consistently(&database, "a", r#"{"n":1000000}"#).await;
    let rewritten = store
        .read_stream(&acme, &stream("a"), StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(rewritten[0].payload, json!({ "n": 1_000_000 }));
    // Inside the database everything agrees again: only what was kept outside can tell.
    let report = store.verify(&acme).await.unwrap();
    assert!(report.is_intact(), "the rewrite is consistent: {report:?}");
    let report = store.verify_against(&acme, &manifest).await.unwrap();
    assert!(!report.is_intact());
    assert!(
        report
            .manifest_problems
            .contains(&crm_eventstore::ManifestProblem::HeadDiffers {
                stream: "a".into(),
                version: 4,
            }),
        "{report:?}"
    );
    assert!(
        report
            .manifest_problems
            .contains(&crm_eventstore::ManifestProblem::SealDiffers { number: 1 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_may_seal_but_not_write_seals() {
    let database = TestDatabase::create().await;
    let _owner = database.store(StoreSettings::default()).await;
    let app_url = with_options(&database.url, "-c role=crm_eventstore_app");
    let app = PostgresStore::connect(
        PostgresConfig::new(app_url.clone())
            .with_pool_size(2)
            .without_migrations(),
    )
    .await
    .unwrap();
    let acme = tenant("acme");
    app.append(
        &acme,
        &stream("s"),
        ExpectedVersion::Any,
        &noted_batch(0..2),
    )
    .await
    .unwrap();
    let manifest = app.head_manifest(&acme).await.unwrap();
    assert!(
        app.verify_against(&acme, &manifest)
            .await
            .unwrap()
            .is_intact()
    );
    let session = client(&app_url).await;
    for statement in [
        "INSERT INTO log_seals SELECT * FROM log_seals",
        "UPDATE log_seals SET hash = hash",
        "DELETE FROM log_seals",
    ] {
        let error = session.batch_execute(statement).await.expect_err(statement);
        assert_eq!(
            error.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}"
        );
    }
}
