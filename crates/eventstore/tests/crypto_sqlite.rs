//! Crypto-shredding on SQLite: the key store's contract, the file's bytes after a shredding
//! (neither the erased plaintext nor the key, anywhere in the database or its log, while the
//! events and their hash chains are untouched), and the append that stores a new subject's
//! key with the events.

#[path = "crypto/conformance.rs"]
mod conformance;

use std::path::Path;
use std::sync::Arc;

use crm_eventstore::crypto::{
    CryptoError, SqliteSubjectKeyStore, SubjectId, SubjectKey, SubjectKeyStore, decrypt_fields,
    encrypt_fields, is_erased,
};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::{
    EventStore, ExpectedVersion, NewEvent, SqliteStore, StoreError, StoreSettings, StreamId,
    StreamRead, TenantId,
};
use serde_json::json;

fn acme() -> TenantId {
    TenantId::new("acme").expect("a valid tenant id")
}

fn ada() -> SubjectId {
    SubjectId::new("party-ada").expect("a valid subject id")
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("a valid stream id")
}

fn scratch() -> (tempfile::TempDir, SqliteStore) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = SqliteDatabase::open(directory.path().join("crm.db")).expect("a new file");
    let store = SqliteStore::open(database, StoreSettings::default()).expect("migrations run");
    (directory, store)
}

/// Every byte SQLite keeps for the database on disk: the file, its write-ahead log and its
/// shared-memory index.
fn file_bytes(database: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut path = database.as_os_str().to_owned();
        path.push(suffix);
        if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_key_store_keeps_the_key_store_contract() {
    let (_directory, store) = scratch();
    conformance::run_all(Arc::new(store.subject_keys())).await;

    let keys_of_shredded: i64 = store
        .database()
        .read_blocking(|transaction| {
            transaction
                .query_row(
                    "SELECT count(*) FROM eventstore_subject_keys \
                     JOIN eventstore_shredded_subjects USING (tenant_id, subject_id)",
                    [],
                    |row| row.get(0),
                )
                .map_err(|error| crm_eventstore::sqlite::sqlite_error("counting", &error))
        })
        .unwrap();
    assert_eq!(keys_of_shredded, 0, "a shredded subject kept a key row");
}

#[tokio::test]
async fn a_key_store_opened_on_its_own_migrates_and_shares_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("crm.db");
    let keys = SqliteSubjectKeyStore::open(SqliteDatabase::open(&path).unwrap()).unwrap();
    let key = keys.encryption_key(&acme(), &ada()).await.unwrap();

    let store = SqliteStore::open(
        SqliteDatabase::open(&path).unwrap(),
        StoreSettings::default(),
    )
    .unwrap();

    assert_eq!(
        store
            .subject_keys()
            .decryption_key(&acme(), &ada())
            .await
            .unwrap(),
        Some(key)
    );
}

#[tokio::test]
async fn a_corrupt_stored_key_is_reported_not_used() {
    let (_directory, store) = scratch();
    let keys = store.subject_keys();
    keys.encryption_key(&acme(), &ada()).await.unwrap();
    store
        .database()
        .write_blocking(|transaction| {
            transaction
                .execute("UPDATE eventstore_subject_keys SET key = X'0102'", [])
                .map_err(|error| crm_eventstore::sqlite::sqlite_error("corrupting", &error))
        })
        .unwrap();

    let read = keys.decryption_key(&acme(), &ada()).await.unwrap_err();
    let used = keys.encryption_key(&acme(), &ada()).await.unwrap_err();

    assert!(
        matches!(read, CryptoError::CorruptKey { length: 2, .. }),
        "{read:?}"
    );
    assert!(
        matches!(used, CryptoError::CorruptKey { length: 2, .. }),
        "{used:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shredding_the_file_holds_neither_the_erased_plaintext_nor_the_key() {
    let (_directory, store) = scratch();
    let keys = store.subject_keys();
    let path = store.database().path().to_owned();
    let mut captured = json!({
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.org",
        "source": "spring_campaign_web_form",
    });
    encrypt_fields(&keys, &acme(), &ada(), &mut captured, &["name", "email"])
        .await
        .unwrap();
    let ciphertext = captured["name"]["ct"].as_str().unwrap().to_owned();
    store
        .append(
            &acme(),
            &stream("lead-ada"),
            ExpectedVersion::NoStream,
            &[NewEvent::new("LeadCaptured", 1, captured)],
        )
        .await
        .unwrap();
    let grace = SubjectId::new("party-grace").unwrap();
    let grace_key = keys.encryption_key(&acme(), &grace).await.unwrap();
    let ada_key = keys.decryption_key(&acme(), &ada()).await.unwrap().unwrap();
    let before = file_bytes(&path);
    // The raw bytes show what is stored in clear, keys included: the checks below can fail.
    assert!(contains(&before, b"spring_campaign_web_form"));
    assert!(
        contains(&before, ada_key.expose_bytes()),
        "the key is in the file"
    );
    for secret in ["Ada Lovelace", "ada.lovelace@example.org"] {
        assert!(!contains(&before, secret.as_bytes()), "{secret} in clear");
    }
    let events_before = store
        .read_stream(&acme(), &stream("lead-ada"), StreamRead::forward())
        .await
        .unwrap();

    keys.shred(&acme(), &ada()).await.unwrap();
    let after = file_bytes(&path);

    assert!(
        !contains(&after, ada_key.expose_bytes()),
        "the shredded key is still in the file or its log"
    );
    assert!(
        contains(&after, ciphertext.as_bytes()),
        "the event lost its ciphertext"
    );
    assert!(
        contains(&after, grace_key.expose_bytes()),
        "another subject lost its key"
    );
    let events_after = store
        .read_stream(&acme(), &stream("lead-ada"), StreamRead::forward())
        .await
        .unwrap();
    assert_eq!(events_after, events_before, "events changed");
    assert!(store.verify(&acme()).await.unwrap().is_intact());
    let mut read = events_after[0].payload.clone();
    decrypt_fields(&keys, &acme(), &mut read).await.unwrap();
    assert!(is_erased(&read["name"]) && is_erased(&read["email"]));
    assert_eq!(read["source"], "spring_campaign_web_form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_with_a_new_subjects_key_stores_both_or_refuses_both() {
    let (_directory, store) = scratch();
    let keys = store.subject_keys();
    let tenant = acme();
    let event = || NewEvent::new("Noted", 1, json!({ "n": 1 }));

    let fresh = SubjectId::new("lead-fresh").unwrap();
    let candidate = SubjectKey::generate().unwrap();
    let lead = stream("lead-fresh");
    store
        .append_with_subject_key(
            &tenant,
            &lead,
            ExpectedVersion::NoStream,
            &[event()],
            &fresh,
            &candidate,
        )
        .await
        .unwrap();
    assert_eq!(
        keys.decryption_key(&tenant, &fresh).await.unwrap(),
        Some(candidate.clone())
    );

    // A subject with another key, and a shredded one: refused, nothing appended.
    let other = SubjectKey::generate().unwrap();
    let refused = store
        .append_with_subject_key(
            &tenant,
            &lead,
            ExpectedVersion::Exact(1),
            &[event()],
            &fresh,
            &other,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::SubjectKeyDiffers)),
        "{refused:?}"
    );
    let erased = SubjectId::new("lead-erased").unwrap();
    keys.shred(&tenant, &erased).await.unwrap();
    let refused = store
        .append_with_subject_key(
            &tenant,
            &stream("lead-erased"),
            ExpectedVersion::NoStream,
            &[event()],
            &erased,
            &other,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::SubjectKeyDiffers)),
        "{refused:?}"
    );
    assert_eq!(
        store
            .stream_version(&tenant, &stream("lead-erased"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.stream_version(&tenant, &lead).await.unwrap(), Some(1));

    // An append refused for a version conflict keeps no key either: all or nothing.
    let newcomer = SubjectId::new("lead-newcomer").unwrap();
    let conflict = store
        .append_with_subject_key(
            &tenant,
            &lead,
            ExpectedVersion::NoStream,
            &[event()],
            &newcomer,
            &other,
        )
        .await;
    assert!(
        matches!(conflict, Err(StoreError::VersionConflict { .. })),
        "{conflict:?}"
    );
    assert!(matches!(
        keys.decryption_key(&tenant, &newcomer).await,
        Err(CryptoError::KeyNotFound { .. })
    ));

    // The subject's own key passes.
    store
        .append_with_subject_key(
            &tenant,
            &lead,
            ExpectedVersion::Exact(1),
            &[event()],
            &fresh,
            &candidate,
        )
        .await
        .unwrap();
    assert_eq!(store.stream_version(&tenant, &lead).await.unwrap(), Some(2));
}

#[tokio::test]
async fn the_in_transaction_variant_stores_key_and_events_at_the_caller_s_commit() {
    let (_directory, store) = scratch();
    let keys = store.subject_keys();
    let tenant = acme();
    let subject = SubjectId::new("lead-in").unwrap();
    let candidate = SubjectKey::generate().unwrap();
    let other = SubjectKey::generate().unwrap();
    let lead = stream("lead-in");
    let events = [NewEvent::new("Noted", 1, json!({ "n": 1 }))];

    let rolled_back: Result<(), StoreError> = store.database().write_blocking(|transaction| {
        store.append_with_subject_key_in(
            transaction,
            &tenant,
            &lead,
            ExpectedVersion::NoStream,
            &events,
            &subject,
            &candidate,
        )?;
        Err(StoreError::SubjectKeyDiffers)
    });
    assert!(rolled_back.is_err());
    assert!(matches!(
        keys.decryption_key(&tenant, &subject).await,
        Err(CryptoError::KeyNotFound { .. })
    ));

    let (appended, refused) = store
        .database()
        .write_blocking(|transaction| {
            let appended = store.append_with_subject_key_in(
                transaction,
                &tenant,
                &lead,
                ExpectedVersion::NoStream,
                &events,
                &subject,
                &candidate,
            )?;
            // Refused inside the same transaction, which stays usable.
            let refused = store.append_with_subject_key_in(
                transaction,
                &tenant,
                &lead,
                ExpectedVersion::Exact(1),
                &[NewEvent::new("Noted", 1, json!({ "n": 2 }))],
                &subject,
                &other,
            );
            Ok::<_, StoreError>((appended, refused))
        })
        .unwrap();
    store.announce_append();

    assert_eq!(appended.stream_version, 1);
    assert!(
        matches!(refused, Err(StoreError::SubjectKeyDiffers)),
        "{refused:?}"
    );
    assert_eq!(
        keys.decryption_key(&tenant, &subject).await.unwrap(),
        Some(candidate)
    );
    assert_eq!(store.stream_version(&tenant, &lead).await.unwrap(), Some(1));
}
