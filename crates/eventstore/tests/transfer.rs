//! Copying a tenant's history between backends (issue 16): memory to SQLite, SQLite to
//! PostgreSQL and PostgreSQL to SQLite, with every hash chain kept byte for byte and verified;
//! a copy resumed after an interruption; a diverging target and a tampered event refused with
//! nothing written; encrypted fields readable in the target once the keys are copied, and
//! shredded subjects still erased.
//!
//! The PostgreSQL tests need `DATABASE_URL` (run `source scripts/postgres-env` first); each
//! gets a fresh database. The SQLite tests each get a fresh file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use crm_eventstore::audit::{ExportedEvent, verify_export};
use crm_eventstore::crypto::{
    CryptoError, MemorySubjectKeyStore, SubjectId, SubjectKeyRecord, SubjectKeyStore,
    SubjectKeyTransfer, decrypt_fields, encrypt_fields, is_erased,
};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::{
    CopyProgress, EventHash, EventStore, ExpectedVersion, GlobalPosition, HistoryTransfer,
    ImportProblem, MemoryStore, Metadata, NewEvent, PostgresConfig, PostgresStore, SqliteStore,
    StoreError, StoreSettings, StreamId, StreamRead, TenantId, copy_history, copy_subject_keys,
};
use crm_testkit::postgres::{TestDatabase, with_options};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

fn subject(name: &str) -> SubjectId {
    SubjectId::new(name).unwrap()
}

fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let directory = tempfile::tempdir().unwrap();
    let database = SqliteDatabase::open(directory.path().join("crm.db")).unwrap();
    (
        directory,
        SqliteStore::open(database, StoreSettings::default()).unwrap(),
    )
}

async fn postgres() -> (TestDatabase, PostgresStore) {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    (database, store)
}

fn noted(batch: usize, index: usize) -> NewEvent {
    NewEvent::new(
        "Noted",
        1,
        json!({ "batch": batch, "index": index, "text": "héllo ✓ \u{1F600}", "amount": 0.1 + 0.2 }),
    )
    .with_metadata(Metadata {
        actor: Some(json!({ "user": "ada" })),
        correlation_id: Some(Uuid::now_v7()),
        ..Metadata::default()
    })
}

/// Appends one batch of `size` events per `(stream, size)`, in order.
async fn write_layout(store: &impl EventStore, tenant: &TenantId, layout: &[(&str, usize)]) {
    for (batch, (name, size)) in layout.iter().enumerate() {
        let events: Vec<NewEvent> = (0..*size).map(|index| noted(batch, index)).collect();
        store
            .append(tenant, &stream(name), ExpectedVersion::Any, &events)
            .await
            .unwrap();
    }
}

/// Four streams, interleaved, in batches of one to four events: 16 events.
const HISTORY: &[(&str, usize)] = &[
    ("lead-1", 3),
    ("deal-1", 1),
    ("lead-2", 2),
    ("lead-1", 1),
    ("deal-1", 4),
    ("lead-2", 1),
    ("contact-1", 2),
    ("lead-1", 2),
];
const HISTORY_EVENTS: u64 = 16;

/// `acme`'s history, and another tenant's that a copy of `acme` must leave behind.
async fn write_history(store: &impl EventStore) {
    write_layout(store, &acme(), HISTORY).await;
    write_layout(
        store,
        &TenantId::new("globex").unwrap(),
        &[("lead-1", 2), ("lead-9", 1)],
    )
    .await;
}

/// Every event of the tenant, exported in global order, in pages of 5, waiting while an
/// open transaction (another test's, on PostgreSQL) holds some back.
async fn export_all(store: &impl HistoryTransfer, tenant: &TenantId) -> Vec<ExportedEvent> {
    let mut events = Vec::new();
    let mut after = GlobalPosition::START;
    loop {
        let page = store.export_history(tenant, after, 5).await.unwrap();
        let Some(last) = page.events.last() else {
            if page.held_by.is_none() {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        after = GlobalPosition {
            transaction: last.transaction,
            position: last.position,
        };
        events.extend(page.events);
    }
}

/// The exported events without their places in the global order, in (stream, version)
/// order: what a copy must keep byte for byte.
fn chains(mut events: Vec<ExportedEvent>) -> Vec<ExportedEvent> {
    for event in &mut events {
        event.position = 0;
        event.transaction = 0;
    }
    events.sort_by(|left, right| (&left.stream, left.version).cmp(&(&right.stream, right.version)));
    events
}

/// The target holds the source's history of `acme` byte for byte, in the source's global
/// order, and verifies.
async fn assert_copied_faithfully(from: &impl HistoryTransfer, to: &impl HistoryTransfer) {
    let source = export_all(from, &acme()).await;
    let target = export_all(to, &acme()).await;
    assert_eq!(
        source
            .iter()
            .map(|event| event.event_id)
            .collect::<Vec<_>>(),
        target
            .iter()
            .map(|event| event.event_id)
            .collect::<Vec<_>>(),
        "the target's global order is the source's"
    );
    let report = verify_export("acme", chains(target.clone()), None);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(chains(source), chains(target));
    assert!(to.verify(&acme()).await.unwrap().is_sound());
    for name in ["lead-1", "deal-1", "lead-2", "contact-1"] {
        assert_eq!(
            from.read_stream(&acme(), &stream(name), StreamRead::forward())
                .await
                .unwrap()
                .into_iter()
                .map(|event| (event.id, event.payload, event.metadata, event.recorded_at))
                .collect::<Vec<_>>(),
            to.read_stream(&acme(), &stream(name), StreamRead::forward())
                .await
                .unwrap()
                .into_iter()
                .map(|event| (event.id, event.payload, event.metadata, event.recorded_at))
                .collect::<Vec<_>>(),
        );
    }
}

/// Copies `acme` with a small batch and checks everything a copy promises.
async fn copy_and_check(from: &impl HistoryTransfer, to: &impl HistoryTransfer) {
    let mut heard: Vec<CopyProgress> = Vec::new();
    let report = copy_history(from, to, &acme(), 3, |progress| heard.push(progress))
        .await
        .unwrap();
    assert_eq!(report.copied, HISTORY_EVENTS);
    assert_eq!(report.skipped, 0);
    assert_eq!(report.streams, 4);
    // Reports while held back by another test's open transaction (PostgreSQL) repeat the
    // last position; every other report moves on.
    let moving: Vec<&CopyProgress> = heard
        .iter()
        .filter(|progress| progress.held_by.is_none())
        .collect();
    assert!(moving.len() > 1, "progress after each batch: {heard:?}");
    assert!(
        moving
            .windows(2)
            .all(|pair| pair[0].copied <= pair[1].copied && pair[0].through < pair[1].through)
    );
    assert_eq!(
        heard.last().map(|progress| progress.copied),
        Some(HISTORY_EVENTS)
    );
    assert_copied_faithfully(from, to).await;
    assert_eq!(
        to.tenants().await.unwrap(),
        [acme()],
        "only acme was copied"
    );
    assert_source_transactions_stay_whole(from, to).await;
}

/// Events the source appended together are in one transaction of the target too.
async fn assert_source_transactions_stay_whole(
    from: &impl HistoryTransfer,
    to: &impl HistoryTransfer,
) {
    let target: BTreeMap<Uuid, u64> = export_all(to, &acme())
        .await
        .into_iter()
        .map(|event| (event.event_id, event.transaction))
        .collect();
    let mut groups: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for event in export_all(from, &acme()).await {
        groups
            .entry(event.transaction)
            .or_default()
            .insert(target[&event.event_id]);
    }
    assert!(
        groups.values().all(|transactions| transactions.len() == 1),
        "a source transaction was split: {groups:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_from_memory_to_sqlite_keeps_every_hash_chain() {
    let source = MemoryStore::default();
    write_history(&source).await;
    let (_directory, target) = sqlite();
    assert_eq!(
        source.tenants().await.unwrap(),
        [acme(), TenantId::new("globex").unwrap()]
    );

    copy_and_check(&source, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_from_sqlite_to_postgres_keeps_every_hash_chain() {
    let (_directory, source) = sqlite();
    write_history(&source).await;
    let (_database, target) = postgres().await;

    copy_and_check(&source, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_from_postgres_to_sqlite_keeps_every_hash_chain() {
    let (_database, source) = postgres().await;
    write_history(&source).await;
    let (_directory, target) = sqlite();

    copy_and_check(&source, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_back_and_forth_ends_where_it_began() {
    let source = MemoryStore::default();
    write_history(&source).await;
    let (_directory, sqlite) = sqlite();
    let (_database, postgres) = postgres().await;
    let back = MemoryStore::default();

    copy_history(&source, &sqlite, &acme(), 4, |_| {})
        .await
        .unwrap();
    copy_history(&sqlite, &postgres, &acme(), 4, |_| {})
        .await
        .unwrap();
    copy_history(&postgres, &back, &acme(), 4, |_| {})
        .await
        .unwrap();

    assert_copied_faithfully(&source, &back).await;
}

/// Imports the first half of the source's events by hand (as a copy interrupted there would
/// have), then copies everything.
async fn resume_after_half(from: &impl HistoryTransfer, to: &impl HistoryTransfer) {
    let events = export_all(from, &acme()).await;
    let half = events.len() / 2;
    let first = to.import_history(&acme(), &events[..half]).await.unwrap();
    assert_eq!(first.imported, u64::try_from(half).unwrap());

    let report = copy_history(from, to, &acme(), 4, |_| {}).await.unwrap();

    assert_eq!(report.skipped, u64::try_from(half).unwrap());
    assert_eq!(report.copied, HISTORY_EVENTS - u64::try_from(half).unwrap());
    assert_copied_faithfully(from, to).await;

    let again = copy_history(from, to, &acme(), 4, |_| {}).await.unwrap();
    assert_eq!((again.copied, again.skipped), (0, HISTORY_EVENTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_copy_to_sqlite_resumes_and_skips_what_is_there() {
    let source = MemoryStore::default();
    write_history(&source).await;
    let (_directory, target) = sqlite();

    resume_after_half(&source, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_copy_to_postgres_resumes_and_skips_what_is_there() {
    let (_directory, source) = sqlite();
    write_history(&source).await;
    let (_database, target) = postgres().await;

    resume_after_half(&source, &target).await;
}

/// A target whose `deal-1` already holds another event at version 1: the copy fails with a
/// conflict before writing anything.
async fn diverging_target_is_left_alone(from: &impl HistoryTransfer, to: &impl HistoryTransfer) {
    let theirs = noted(99, 0);
    let their_id = theirs.id;
    to.append(
        &acme(),
        &stream("deal-1"),
        ExpectedVersion::NoStream,
        &[theirs],
    )
    .await
    .unwrap();
    let before = export_all(to, &acme()).await;
    let ours = export_all(from, &acme())
        .await
        .into_iter()
        .find(|event| event.stream == "deal-1" && event.version == 1)
        .unwrap();

    let error = copy_history(from, to, &acme(), 3, |_| {})
        .await
        .unwrap_err();

    match error {
        StoreError::ImportConflict {
            stream: conflicted,
            version,
            existing,
            imported,
        } => {
            assert_eq!(conflicted, stream("deal-1"));
            assert_eq!(version, 1);
            assert_eq!(existing, Some(their_id));
            assert_eq!(imported, ours.event_id);
        }
        other => panic!("expected an import conflict, got {other:?}"),
    }
    assert_eq!(export_all(to, &acme()).await, before, "the target changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_stream_holding_another_event_fails_the_copy_and_changes_nothing() {
    let source = MemoryStore::default();
    write_history(&source).await;
    let (_directory, target) = sqlite();

    diverging_target_is_left_alone(&source, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_stream_holding_another_event_fails_the_copy_and_changes_nothing() {
    let (_directory, source) = sqlite();
    write_history(&source).await;
    let (_database, target) = postgres().await;

    diverging_target_is_left_alone(&source, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_divergence_after_a_shared_start_is_found_where_it_begins() {
    let source = MemoryStore::default();
    write_history(&source).await;
    let events = export_all(&source, &acme()).await;
    let deal: Vec<ExportedEvent> = events
        .iter()
        .filter(|event| event.stream == "deal-1")
        .cloned()
        .collect();

    // Ahead of the source on the same chain: nothing to refuse, and nothing to copy there.
    let ahead = MemoryStore::default();
    ahead.import_history(&acme(), &deal).await.unwrap();
    ahead
        .append(
            &acme(),
            &stream("deal-1"),
            ExpectedVersion::Exact(5),
            &[noted(98, 0)],
        )
        .await
        .unwrap();
    let report = copy_history(&source, &ahead, &acme(), 4, |_| {})
        .await
        .unwrap();
    assert_eq!((report.copied, report.skipped), (HISTORY_EVENTS - 5, 5));

    // The same first event, then another second one.
    let diverged = MemoryStore::default();
    diverged.import_history(&acme(), &deal[..1]).await.unwrap();
    let theirs = noted(97, 0);
    let their_id = theirs.id;
    diverged
        .append(
            &acme(),
            &stream("deal-1"),
            ExpectedVersion::Exact(1),
            &[theirs],
        )
        .await
        .unwrap();
    let error = copy_history(&source, &diverged, &acme(), 4, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            StoreError::ImportConflict { version: 2, existing: Some(existing), imported, .. }
                if *existing == their_id && *imported == deal[1].event_id
        ),
        "{error}"
    );
    assert_eq!(
        export_all(&diverged, &acme()).await.len(),
        2,
        "the target changed"
    );
}

/// What an import itself refuses, all or nothing: a batch whose later event meets another
/// event at its version, a tampered event, a gap, a chain that does not follow, a time that
/// goes back.
async fn imports_refuse_what_does_not_hold(to: &impl HistoryTransfer) {
    let source = MemoryStore::default();
    write_history(&source).await;
    let events = export_all(&source, &acme()).await;
    let lead_1: Vec<ExportedEvent> = events
        .iter()
        .filter(|event| event.stream == "lead-1")
        .cloned()
        .collect();
    let deal_1_first = events
        .iter()
        .find(|event| event.stream == "deal-1")
        .cloned()
        .unwrap();
    to.append(
        &acme(),
        &stream("deal-1"),
        ExpectedVersion::NoStream,
        &[noted(99, 0)],
    )
    .await
    .unwrap();
    let before = export_all(to, &acme()).await;

    // A new stream's events first, then one that meets another event: nothing is written.
    let mut batch = lead_1[..2].to_vec();
    batch.push(deal_1_first);
    assert!(matches!(
        to.import_history(&acme(), &batch).await,
        Err(StoreError::ImportConflict { version: 1, .. })
    ));

    // One payload byte changed.
    let mut tampered = lead_1[..2].to_vec();
    tampered[1].payload = tampered[1].payload.replace("héllo", "hallo");
    assert!(matches!(
        to.import_history(&acme(), &tampered).await,
        Err(StoreError::ImportRefused {
            version: 2,
            problem: ImportProblem::HashMismatch { .. },
            ..
        })
    ));

    // A stream that does not start at version 1.
    assert!(matches!(
        to.import_history(&acme(), &lead_1[1..3]).await,
        Err(StoreError::ImportRefused {
            version: 2,
            problem: ImportProblem::VersionGap { expected: 1 },
            ..
        })
    ));

    // A gap within the batch.
    let gap = [lead_1[0].clone(), lead_1[2].clone()];
    assert!(matches!(
        to.import_history(&acme(), &gap).await,
        Err(StoreError::ImportRefused {
            problem: ImportProblem::VersionGap { expected: 2 },
            ..
        })
    ));

    // A first version that claims a previous event (its hash recomputed to match).
    let mut orphan = lead_1[0].clone();
    orphan.previous_hash = EventHash([7; 32]);
    orphan.hash = rehash(&orphan);
    assert!(matches!(
        to.import_history(&acme(), &[orphan]).await,
        Err(StoreError::ImportRefused {
            problem: ImportProblem::PreviousHashMismatch { .. },
            ..
        })
    ));

    // An event exported under another tenant: its hash does not hold under this one.
    assert!(matches!(
        to.import_history(&TenantId::new("globex").unwrap(), &lead_1[..1])
            .await,
        Err(StoreError::ImportRefused {
            problem: ImportProblem::HashMismatch { .. },
            ..
        })
    ));

    assert_eq!(
        export_all(to, &acme()).await,
        before,
        "a refused import wrote"
    );
    assert!(to.verify(&acme()).await.unwrap().is_intact());

    // What holds is imported, once.
    let first = to.import_history(&acme(), &lead_1).await.unwrap();
    assert_eq!((first.imported, first.skipped), (6, 0));
    let again = to.import_history(&acme(), &lead_1).await.unwrap();
    assert_eq!((again.imported, again.skipped), (0, 6));
    assert!(to.verify(&acme()).await.unwrap().is_intact());
}

/// The hash of an exported event's bytes, as the store computes it.
fn rehash(event: &ExportedEvent) -> EventHash {
    let digest = crm_eventstore::hash::content_digest(&crm_eventstore::hash::EventContent {
        tenant: "acme",
        stream: &event.stream,
        event_id: event.event_id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        payload: event.payload.as_bytes(),
        metadata: event.metadata.as_bytes(),
    });
    crm_eventstore::hash::chain_hash(
        &event.previous_hash,
        event.version,
        event.recorded_at,
        &digest,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_imports_refuse_what_does_not_hold_and_write_nothing() {
    imports_refuse_what_does_not_hold(&MemoryStore::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_imports_refuse_what_does_not_hold_and_write_nothing() {
    let (_directory, target) = sqlite();
    imports_refuse_what_does_not_hold(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_imports_refuse_what_does_not_hold_and_write_nothing() {
    let (_database, target) = postgres().await;
    imports_refuse_what_does_not_hold(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_cannot_import_history_but_can_export_it() {
    let (database, owner) = postgres().await;
    write_layout(&owner, &acme(), HISTORY).await;
    let app = PostgresStore::connect(
        PostgresConfig::new(with_options(&database.url, "-c role=crm_eventstore_app"))
            .with_pool_size(2)
            .without_migrations(),
    )
    .await
    .unwrap();
    let events = export_all(&app, &acme()).await;
    assert_eq!(events.len(), 16);

    let source = MemoryStore::default();
    write_history(&source).await;
    let error = copy_history(&source, &app, &TenantId::new("globex").unwrap(), 10, |_| {})
        .await
        .unwrap_err();

    // Only the store's owner may choose recorded times and event ids.
    assert!(
        matches!(&error, StoreError::Database { code, .. } if code == "42501"),
        "{error}"
    );
    assert_eq!(
        export_all(&owner, &TenantId::new("globex").unwrap()).await,
        Vec::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_event_in_the_middle_of_a_copy_is_refused() {
    let source = MemoryStore::default();
    write_history(&source).await;
    let mut events = export_all(&source, &acme()).await;
    let (_directory, target) = sqlite();
    let last = events.len() - 1;
    events[last].metadata = events[last].metadata.replace("ada", "eve");

    let error = target.import_history(&acme(), &events).await.unwrap_err();

    assert!(
        matches!(
            error,
            StoreError::ImportRefused {
                problem: ImportProblem::HashMismatch { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(export_all(&target, &acme()).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_exports_pages_in_stream_order_that_verify_offline() {
    let (_directory, store) = sqlite();
    write_history(&store).await;
    let manifest = store.head_manifest(&acme()).await.unwrap();
    let mut events = Vec::new();
    let mut after: Option<(String, u64)> = None;
    loop {
        let page = store
            .export_page(
                &acme(),
                after
                    .as_ref()
                    .map(|(stream, version)| (stream.as_str(), *version)),
                3,
            )
            .await
            .unwrap();
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.stream.clone(), last.version));
        events.extend(page);
    }

    assert_eq!(events.len(), 16);
    assert_eq!(chains(events.clone()), {
        let mut positionless = events.clone();
        for event in &mut positionless {
            event.position = 0;
            event.transaction = 0;
        }
        positionless
    });
    let report = verify_export("acme", events, Some(&manifest));
    assert!(report.is_intact(), "{report:?}");
}

// ---------------------------------------------------------------------------------------
// Encrypted fields and their keys
// ---------------------------------------------------------------------------------------

/// Two leads with encrypted personal fields, Ada's and Grace's; Grace is then shredded.
async fn write_encrypted_history(store: &impl EventStore, keys: &impl SubjectKeyStore) {
    for (name, person, email) in [
        ("party-ada", "Ada Lovelace", "ada@example.org"),
        ("party-grace", "Grace Hopper", "grace@example.org"),
    ] {
        let mut payload = json!({ "name": person, "email": email, "source": "web" });
        encrypt_fields(
            keys,
            &acme(),
            &subject(name),
            &mut payload,
            &["name", "email"],
        )
        .await
        .unwrap();
        store
            .append(
                &acme(),
                &stream(&format!("lead-{name}")),
                ExpectedVersion::NoStream,
                &[NewEvent::new("LeadCaptured", 1, payload)],
            )
            .await
            .unwrap();
    }
    keys.shred(&acme(), &subject("party-grace")).await.unwrap();
}

/// The decrypted payload of the lead's first event in `store`.
async fn read_lead(
    store: &impl EventStore,
    keys: &impl SubjectKeyStore,
    name: &str,
) -> serde_json::Value {
    let events = store
        .read_stream(
            &acme(),
            &stream(&format!("lead-{name}")),
            StreamRead::forward(),
        )
        .await
        .unwrap();
    let mut payload = events[0].payload.clone();
    decrypt_fields(keys, &acme(), &mut payload).await.unwrap();
    payload
}

/// Copies keys, history, and keys again, and reads the leads in the target.
async fn encrypted_copy(
    from: (&impl HistoryTransfer, &impl SubjectKeyTransfer),
    to: (&impl HistoryTransfer, &impl SubjectKeyTransfer),
) {
    write_encrypted_history(from.0, from.1).await;

    let keys = copy_subject_keys(from.1, to.1, &acme(), 1).await.unwrap();
    copy_history(from.0, to.0, &acme(), 10, |_| {})
        .await
        .unwrap();
    let again = copy_subject_keys(from.1, to.1, &acme(), 1).await.unwrap();

    assert_eq!((keys.keys, keys.shredded, keys.skipped), (1, 1, 0));
    assert_eq!((again.keys, again.shredded, again.skipped), (0, 0, 2));
    let ada = read_lead(to.0, to.1, "party-ada").await;
    assert_eq!(
        ada,
        json!({ "name": "Ada Lovelace", "email": "ada@example.org", "source": "web" })
    );
    let grace = read_lead(to.0, to.1, "party-grace").await;
    assert!(is_erased(&grace["name"]) && is_erased(&grace["email"]));
    assert_eq!(grace["source"], "web");
    assert!(matches!(
        to.1.encryption_key(&acme(), &subject("party-grace")).await,
        Err(CryptoError::SubjectShredded { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_fields_read_in_sqlite_after_their_keys_are_copied_and_shredded_stay_erased() {
    let source = MemoryStore::default();
    let source_keys = MemorySubjectKeyStore::new();
    let (_directory, target) = sqlite();
    let target_keys = target.subject_keys();

    encrypted_copy((&source, &source_keys), (&target, &target_keys)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_fields_read_in_postgres_after_their_keys_are_copied_and_shredded_stay_erased() {
    let (_directory, source) = sqlite();
    let source_keys = source.subject_keys();
    let (_database, target) = postgres().await;
    let target_keys = target.subject_keys();

    encrypted_copy((&source, &source_keys), (&target, &target_keys)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_fields_read_back_in_sqlite_from_postgres() {
    let (_database, source) = postgres().await;
    let source_keys = source.subject_keys();
    let (_directory, target) = sqlite();
    let target_keys = target.subject_keys();

    encrypted_copy((&source, &source_keys), (&target, &target_keys)).await;
}

/// A key store's import: a shredding wins over a key on either side, the same key is
/// skipped, another key is a conflict that imports nothing.
async fn key_imports_keep_shreddings_and_refuse_other_keys(keys: &impl SubjectKeyTransfer) {
    let source = MemorySubjectKeyStore::new();
    for name in ["party-a", "party-b", "party-c"] {
        source
            .encryption_key(&acme(), &subject(name))
            .await
            .unwrap();
    }
    source.shred(&acme(), &subject("party-c")).await.unwrap();
    // The target shredded party-a already, and has party-c's key from before its shredding.
    keys.encryption_key(&acme(), &subject("party-a"))
        .await
        .unwrap();
    keys.shred(&acme(), &subject("party-a")).await.unwrap();
    let c_key = keys
        .encryption_key(&acme(), &subject("party-c"))
        .await
        .unwrap();
    assert!(c_key.expose_bytes().len() == 32);

    let report = copy_subject_keys(&source, keys, &acme(), 2).await.unwrap();

    assert_eq!((report.keys, report.shredded, report.skipped), (1, 1, 1));
    assert_eq!(
        keys.decryption_key(&acme(), &subject("party-a"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        keys.decryption_key(&acme(), &subject("party-b"))
            .await
            .unwrap(),
        source
            .decryption_key(&acme(), &subject("party-b"))
            .await
            .unwrap()
    );
    assert_eq!(
        keys.decryption_key(&acme(), &subject("party-c"))
            .await
            .unwrap(),
        None
    );
    let exported = keys.export_subject_keys(&acme(), None, 10).await.unwrap();
    assert_eq!(
        exported
            .iter()
            .map(|record| (
                record.subject().as_str(),
                matches!(record, SubjectKeyRecord::Shredded { .. })
            ))
            .collect::<Vec<_>>(),
        [("party-a", true), ("party-b", false), ("party-c", true)]
    );

    // Another key for a subject the target has: a conflict, and nothing of the batch lands.
    let other = MemorySubjectKeyStore::new();
    other
        .encryption_key(&acme(), &subject("party-0"))
        .await
        .unwrap();
    other
        .encryption_key(&acme(), &subject("party-b"))
        .await
        .unwrap();
    let error = copy_subject_keys(&other, keys, &acme(), 10)
        .await
        .unwrap_err();
    assert!(matches!(error, CryptoError::KeyConflict { .. }), "{error}");
    assert!(matches!(
        keys.decryption_key(&acme(), &subject("party-0")).await,
        Err(CryptoError::KeyNotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_key_imports_keep_shreddings_and_refuse_other_keys() {
    key_imports_keep_shreddings_and_refuse_other_keys(&MemorySubjectKeyStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_key_imports_keep_shreddings_and_refuse_other_keys() {
    let (_directory, store) = sqlite();
    key_imports_keep_shreddings_and_refuse_other_keys(&store.subject_keys()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_key_imports_keep_shreddings_and_refuse_other_keys() {
    let (_database, store) = postgres().await;
    key_imports_keep_shreddings_and_refuse_other_keys(&store.subject_keys()).await;
}

// ---------------------------------------------------------------------------------------
// Any layout
// ---------------------------------------------------------------------------------------

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

const STREAMS: [&str; 4] = ["a", "b", "c", "d"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the streams, batch sizes and copy batch, a copy from memory to SQLite keeps
    /// every event's bytes and hashes, and resumes from any point.
    #[test]
    fn any_layout_copied_from_memory_to_sqlite_keeps_every_hash(
        layout in proptest::collection::vec((0_usize..STREAMS.len(), 1_usize..5), 1..12),
        batch in 1_usize..7,
        interrupted_after in 0_usize..40,
    ) {
        block_on(async {
            let source = MemoryStore::default();
            let layout: Vec<(&str, usize)> =
                layout.iter().map(|(stream, size)| (STREAMS[*stream], *size)).collect();
            write_layout(&source, &acme(), &layout).await;
            let (_directory, target) = sqlite();
            let events = export_all(&source, &acme()).await;
            let cut = interrupted_after.min(events.len());
            target.import_history(&acme(), &events[..cut]).await.unwrap();

            let report = copy_history(&source, &target, &acme(), batch, |_| {}).await.unwrap();

            let total = u64::try_from(events.len()).unwrap();
            prop_assert_eq!(report.copied + report.skipped, total);
            prop_assert_eq!(report.skipped, u64::try_from(cut).unwrap());
            let copied = export_all(&target, &acme()).await;
            prop_assert_eq!(chains(events), chains(copied));
            prop_assert!(target.verify(&acme()).await.unwrap().is_intact());
            Ok(())
        })?;
    }
}
