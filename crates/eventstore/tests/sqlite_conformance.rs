//! The conformance suite against [`SqliteStore`], each test in a fresh file, plus what only
//! SQLite can show: the append-only triggers, tamper evidence behind the store's back, two
//! handles on one file (as two processes would have), and a stress of writers and readers.

// The helpers below are test code outside `#[test]` functions: they unwrap as tests do.
#![allow(clippy::unwrap_used)]

mod conformance;

use conformance::Backend;
use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::{SqliteStore, StoreSettings};

struct Sqlite;

impl Backend for Sqlite {
    type Store = SqliteStore;
    type Guard = tempfile::TempDir;

    async fn open(settings: StoreSettings) -> (SqliteStore, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let database = SqliteDatabase::open(directory.path().join("crm.db")).unwrap();
        (SqliteStore::open(database, settings).unwrap(), directory)
    }
}

conformance_suite!(Sqlite);

// ---------------------------------------------------------------------------------------
// What only SQLite shows
// ---------------------------------------------------------------------------------------

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, LinkProblem, NewEvent, RecordedEvent, StoreError,
    StreamRead, SubscriptionOptions,
};
use serde_json::json;
use tokio::task::JoinSet;

fn scratch() -> (tempfile::TempDir, SqliteStore) {
    let directory = tempfile::tempdir().unwrap();
    let store = open_file(&directory.path().join("crm.db"));
    (directory, store)
}

fn open_file(path: &Path) -> SqliteStore {
    SqliteStore::open(
        SqliteDatabase::open(path).unwrap(),
        StoreSettings::default(),
    )
    .unwrap()
}

/// A connection of its own to the store's file, behind the store's back.
fn raw_connection(store: &SqliteStore) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(store.database().path()).unwrap();
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    connection
}

/// Every event of the tenant in global order, read in pages of `page_size`.
async fn read_all_events(
    store: &SqliteStore,
    tenant: &str,
    page_size: usize,
) -> Vec<RecordedEvent> {
    conformance::read_everything_in_pages(store, &conformance::tenant(tenant), page_size).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_triggers_refuse_to_update_or_delete_history() {
    let (_directory, store) = scratch();
    let (acme, lead) = (conformance::tenant("acme"), conformance::stream("lead-1"));
    let mut events = conformance::noted_batch(0..2);
    for event in &mut events {
        event.metadata.idempotency_key = Some("k-1".into());
    }
    store
        .append(&acme, &lead, ExpectedVersion::NoStream, &events)
        .await
        .unwrap();
    store.seal(&acme).await.unwrap();
    let connection = raw_connection(&store);

    for statement in [
        "UPDATE eventstore_events SET payload = X'7B7D'",
        "DELETE FROM eventstore_events",
        "UPDATE eventstore_idempotency_keys SET stream_version = 9",
        "DELETE FROM eventstore_idempotency_keys",
        "UPDATE eventstore_seals SET event_count = 9",
        "DELETE FROM eventstore_seals",
        "DELETE FROM eventstore_streams",
    ] {
        let refused = connection.execute(statement, []).unwrap_err();
        assert!(
            refused.to_string().contains("append-only"),
            "{statement}: {refused}"
        );
    }

    let read = store
        .read_stream(&acme, &lead, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].payload, json!({ "n": 0 }));
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_byte_changed_behind_the_store_s_back_is_found_at_that_event() {
    let (_directory, store) = scratch();
    let acme = conformance::tenant("acme");
    for name in ["a", "b", "c"] {
        store
            .append(
                &acme,
                &conformance::stream(name),
                ExpectedVersion::NoStream,
                &conformance::noted_batch(0..3),
            )
            .await
            .unwrap();
    }
    assert!(store.verify(&acme).await.unwrap().is_intact());

    // What an attacker with the file would do: drop the guard, change one byte.
    let connection = raw_connection(&store);
    connection
        .execute_batch("DROP TRIGGER eventstore_events_refuse_update")
        .unwrap();
    let payload: Vec<u8> = connection
        .query_row(
            "SELECT payload FROM eventstore_events WHERE stream_id = 'b' AND version = 2",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(payload, br#"{"n":1}"#, "the codec's exact bytes are stored");
    let mut changed = payload.clone();
    changed[5] = b'7';
    connection
        .execute(
            "UPDATE eventstore_events SET payload = ?1 WHERE stream_id = 'b' AND version = 2",
            [&changed],
        )
        .unwrap();

    let report = store.verify(&acme).await.unwrap();
    let broken = report.first_broken.expect("the change is found");
    assert_eq!((broken.stream.as_str(), broken.version), ("b", 2));
    assert!(
        matches!(broken.problem, LinkProblem::HashMismatch { .. }),
        "{:?}",
        broken.problem
    );
    let stream_report = store
        .verify_stream(&acme, &conformance::stream("b"))
        .await
        .unwrap();
    assert_eq!(stream_report.first_broken.map(|link| link.version), Some(2));
    assert!(
        store
            .verify_stream(&acme, &conformance::stream("a"))
            .await
            .unwrap()
            .is_intact()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_file_has_everything_and_goes_on_numbering() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("crm.db");
    let acme = conformance::tenant("acme");
    let first = {
        let store = open_file(&path);
        store
            .append(
                &acme,
                &conformance::stream("s"),
                ExpectedVersion::NoStream,
                &conformance::noted_batch(0..3),
            )
            .await
            .unwrap()
    };
    let store = open_file(&path);
    let second = store
        .append(
            &acme,
            &conformance::stream("s"),
            ExpectedVersion::Exact(3),
            &[conformance::noted(3)],
        )
        .await
        .unwrap();
    assert!(second.events[0].position > first.events[2].position);
    assert!(second.events[0].position.transaction > first.events[2].position.transaction);
    assert_eq!(read_all_events(&store, "acme", 2).await.len(), 4);
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_in_commits_with_the_caller_s_rows_or_not_at_all() {
    let (_directory, store) = scratch();
    let (acme, s) = (conformance::tenant("acme"), conformance::stream("s"));
    let database = store.database().clone();
    database
        .migrate(
            "test",
            &[(1, "CREATE TABLE outbox (note TEXT NOT NULL) STRICT")],
        )
        .unwrap();
    let outbox_rows = |database: &SqliteDatabase| -> i64 {
        database
            .read_blocking(|transaction| {
                transaction
                    .query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))
                    .map_err(|error| crm_eventstore::sqlite::sqlite_error("counting", &error))
            })
            .unwrap()
    };
    let mut signal = store.append_signal();
    signal.borrow_and_update();

    // Rolled back by the caller: neither the events nor the caller's row.
    let rolled_back: Result<(), StoreError> = database.write_blocking(|transaction| {
        store.append_in(
            transaction,
            &acme,
            &s,
            ExpectedVersion::NoStream,
            &conformance::noted_batch(0..2),
        )?;
        transaction
            .execute("INSERT INTO outbox VALUES ('first')", [])
            .unwrap();
        Err(StoreError::Database {
            code: "test".into(),
            message: "the caller changed its mind".into(),
        })
    });
    assert!(rolled_back.is_err());
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), None);
    assert_eq!(outbox_rows(&database), 0);

    // A refused append leaves the caller's transaction usable and its other rows in place.
    let refused = database
        .write_blocking(|transaction| {
            transaction
                .execute("INSERT INTO outbox VALUES ('second')", [])
                .unwrap();
            let conflict = store.append_in(
                transaction,
                &acme,
                &s,
                ExpectedVersion::Exact(5),
                &conformance::noted_batch(0..2),
            );
            Ok::<_, StoreError>(conflict)
        })
        .unwrap();
    assert!(
        matches!(refused, Err(StoreError::VersionConflict { .. })),
        "{refused:?}"
    );
    assert_eq!(outbox_rows(&database), 1);
    assert_eq!(store.stream_version(&acme, &s).await.unwrap(), None);

    // Committed: both; the caller announces, and subscribers wake.
    let appended = database
        .write_blocking(|transaction| {
            let appended = store.append_in(
                transaction,
                &acme,
                &s,
                ExpectedVersion::NoStream,
                &conformance::noted_batch(0..2),
            )?;
            transaction
                .execute("INSERT INTO outbox VALUES ('third')", [])
                .unwrap();
            Ok::<_, StoreError>(appended)
        })
        .unwrap();
    assert!(
        !signal.has_changed().unwrap(),
        "append_in sends no wake-up itself"
    );
    store.announce_append();
    assert!(signal.has_changed().unwrap());
    assert_eq!(appended.stream_version, 2);
    assert_eq!(outbox_rows(&database), 2);
    let read = store
        .read_stream(&acme, &s, StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(
        read.iter().map(|event| event.position).collect::<Vec<_>>(),
        appended
            .events
            .iter()
            .map(|event| event.position)
            .collect::<Vec<_>>()
    );
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

/// `count` appends of one to three events to streams of `prefix`, from `store`, returning
/// every appended event's id and position.
async fn append_many(
    store: SqliteStore,
    prefix: String,
    count: u64,
) -> Vec<(uuid::Uuid, GlobalPosition)> {
    let acme = conformance::tenant("acme");
    let mut appended = Vec::new();
    for n in 0..count {
        let stream = conformance::stream(&format!("{prefix}-{}", n % 3));
        let events: Vec<NewEvent> = (0..=n % 3)
            .map(|k| conformance::noted(n * 10 + k))
            .collect();
        let result = store
            .append(&acme, &stream, ExpectedVersion::Any, &events)
            .await
            .unwrap();
        appended.extend(
            result
                .events
                .iter()
                .map(|event| (event.event_id, event.position)),
        );
    }
    appended
}

/// Follows the tenant with `read_all` pages until `total` events were seen, checking that each
/// page continues the order. Returns what it saw, in order.
async fn tail(store: SqliteStore, total: usize) -> Vec<(uuid::Uuid, GlobalPosition)> {
    let acme = conformance::tenant("acme");
    let mut signal = store.append_signal();
    let mut seen = Vec::new();
    let mut after = GlobalPosition::START;
    while seen.len() < total {
        let page = store.read_all(&acme, after, 7).await.unwrap();
        assert_eq!(page.held_by, None);
        assert!(page.unreadable.is_empty());
        for event in &page.events {
            assert!(event.position > after, "{} after {after}", event.position);
            after = event.position;
            seen.push((event.id, event.position));
        }
        if page.is_empty() {
            // Another handle's appends send no signal here: poll as subscribers do.
            let _ = tokio::time::timeout(Duration::from_millis(20), signal.changed()).await;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_handle_on_the_file_appends_in_turn_and_no_reader_skips_a_position() {
    let (directory, first) = scratch();
    let second = open_file(&directory.path().join("crm.db"));
    let (tasks_per_handle, appends_per_task) = (6, 15);
    // Appends of 1, 2 or 3 events in turn.
    let events_per_task: usize = (0..appends_per_task)
        .map(|n| usize::try_from(n % 3 + 1).unwrap())
        .sum();
    let total = 2 * tasks_per_handle * events_per_task;

    let tailing = tokio::spawn(tail(first.clone(), total));
    let mut writers = JoinSet::new();
    for task in 0..tasks_per_handle {
        writers.spawn(append_many(
            first.clone(),
            format!("one-{task}"),
            appends_per_task,
        ));
        writers.spawn(append_many(
            second.clone(),
            format!("two-{task}"),
            appends_per_task,
        ));
    }
    let mut appended = Vec::new();
    while let Some(result) = writers.join_next().await {
        appended.extend(result.unwrap());
    }
    let seen = tokio::time::timeout(Duration::from_mins(1), tailing)
        .await
        .expect("the tail sees every event")
        .unwrap();

    let everything: Vec<_> = read_all_events(&first, "acme", 1000)
        .await
        .iter()
        .map(|event| (event.id, event.position))
        .collect();
    assert_eq!(everything.len(), total);
    assert_eq!(seen, everything, "the tail saw every event, in order, once");
    appended.sort_by_key(|(_, position)| *position);
    assert_eq!(
        appended, everything,
        "every acknowledged append is in the log"
    );
    let positions: HashSet<u64> = everything.iter().map(|(_, at)| at.position).collect();
    assert_eq!(positions.len(), total);
    assert!(
        first
            .verify(&conformance::tenant("acme"))
            .await
            .unwrap()
            .is_intact()
    );
    assert!(
        second
            .verify(&conformance::tenant("acme"))
            .await
            .unwrap()
            .is_intact()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_and_readers_while_a_subscriber_sees_every_event_once_in_order() {
    let (_directory, store) = scratch();
    let acme = conformance::tenant("acme");
    let (writers_count, appends_per_writer) = (16, 12);
    let events_per_writer: usize = (0..appends_per_writer)
        .map(|n| usize::try_from(n % 3 + 1).unwrap())
        .sum();
    let total = writers_count * events_per_writer;

    let mut subscription = store.subscribe(
        &acme,
        GlobalPosition::START,
        SubscriptionOptions {
            page_size: 5,
            poll_interval: Duration::from_millis(50),
        },
    );
    let subscriber = tokio::spawn(async move {
        let mut received = Vec::with_capacity(total);
        while received.len() < total {
            let event = tokio::time::timeout(Duration::from_secs(30), subscription.next())
                .await
                .expect("the subscriber keeps up")
                .unwrap();
            received.push((event.id, event.position));
        }
        received
    });
    // A watch, not a Notify: a reader busy reading when the stop comes still sees it.
    let (stop_readers, stopped) = tokio::sync::watch::channel(false);
    let mut readers = JoinSet::new();
    for reader in 0..4 {
        let (store, mut stop) = (store.clone(), stopped.clone());
        readers.spawn(async move {
            let acme = conformance::tenant("acme");
            let stream = conformance::stream(&format!("w{reader}-0"));
            let mut reads = 0_u64;
            loop {
                tokio::select! {
                    _ = stop.changed() => return reads,
                    read = store.read_stream(&acme, &stream, StreamRead::backward()) => {
                        let read = read.unwrap();
                        // Newest first, versions without gaps down to 1.
                        assert!(read.iter().rev().map(|event| event.version).eq(1..=u64::try_from(read.len()).unwrap()));
                        let page = store.read_all(&acme, GlobalPosition::START, 50).await.unwrap();
                        assert!(page.events.windows(2).all(|pair| pair[0].position < pair[1].position));
                        reads += 1;
                    }
                }
            }
        });
    }
    let mut writers = JoinSet::new();
    for writer in 0..writers_count {
        writers.spawn(append_many(
            store.clone(),
            format!("w{writer}"),
            u64::try_from(appends_per_writer).unwrap(),
        ));
    }
    let mut appended = Vec::new();
    while let Some(result) = writers.join_next().await {
        appended.extend(result.unwrap());
    }
    let received = subscriber.await.unwrap();
    stop_readers.send_replace(true);
    while let Some(reads) = readers.join_next().await {
        assert!(reads.unwrap() > 0, "every reader ran beside the writers");
    }

    appended.sort_by_key(|(_, position)| *position);
    assert_eq!(received, appended, "every event once, in global order");
    let ids: HashSet<_> = received.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), total);
    assert!(store.verify(&acme).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_stored_fields_cannot_be_read_is_passed_over() {
    let (_directory, store) = scratch();
    let acme = conformance::tenant("acme");
    let appended = store
        .append(
            &acme,
            &conformance::stream("s"),
            ExpectedVersion::NoStream,
            &conformance::noted_batch(0..3),
        )
        .await
        .unwrap();
    let connection = raw_connection(&store);
    connection
        .execute_batch(
            "DROP TRIGGER eventstore_events_refuse_update; \
             UPDATE eventstore_events SET recorded_at = 9223372036854775807 WHERE version = 2",
        )
        .unwrap();

    let page = store
        .read_all(&acme, GlobalPosition::START, 10)
        .await
        .unwrap();

    assert_eq!(page.events.len(), 2);
    assert_eq!(page.unreadable.len(), 1);
    let unreadable = &page.unreadable[0];
    assert_eq!(
        (unreadable.position, unreadable.version, unreadable.id),
        (appended.events[1].position, 2, appended.events[1].event_id)
    );
    assert!(
        unreadable.reason.contains("recorded_at"),
        "{}",
        unreadable.reason
    );
    assert_eq!(page.next, appended.events[2].position);
    assert!(matches!(
        store.verify(&acme).await,
        Err(StoreError::CorruptRow { .. })
    ));
}
