//! Crypto-shredding against a real PostgreSQL: the key store's contract, and a `pg_dump` of
//! the event store's database after a shredding that finds no erased plaintext and no erased
//! key, while the events and their hash chains are untouched.
//!
//! Needs `DATABASE_URL` (run `source scripts/postgres-env` first). Each test gets a fresh
//! database migrated by the event store itself ([`PostgresStore::connect`]), and the key store
//! connects with the application role's grants only, as in production. Without a reachable
//! server the tests fail with a message saying so: they never skip.

#[path = "crypto/conformance.rs"]
mod conformance;

use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crm_eventstore::crypto::{
    CryptoError, PostgresSubjectKeyStore, SubjectId, SubjectKeyStore, decrypt_fields,
    encrypt_fields, is_erased,
};
use crm_eventstore::postgres::APP_ROLE;
use crm_eventstore::{
    EventStore, ExpectedVersion, NewEvent, PostgresConfig, PostgresStore, StreamId, StreamRead,
    TenantId,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::json;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};
use uuid::Uuid;

fn acme() -> TenantId {
    TenantId::new("acme").expect("a valid tenant id")
}

fn ada() -> SubjectId {
    SubjectId::new("party-ada").expect("a valid subject id")
}

fn grace() -> SubjectId {
    SubjectId::new("party-grace").expect("a valid subject id")
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("a valid stream id")
}

// ---------------------------------------------------------------------------------------
// Harness: a migrated database, a key store as the application role, and pg_dump
// ---------------------------------------------------------------------------------------

fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: run `source scripts/postgres-env` first; \
             the PostgreSQL tests fail rather than skip"
        )
    })
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!("cannot connect to PostgreSQL at DATABASE_URL ({error}); is it running?")
        });
    tokio::spawn(connection);
    client
}

/// `url` with its database replaced by `dbname`, in libpq's key=value form or as a URL.
fn with_dbname(url: &str, dbname: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
            let host = authority.split('/').next().unwrap_or(authority);
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            format!("{scheme}://{host}/{dbname}{query}")
        }
        // libpq and tokio-postgres take the last value of a repeated key.
        None => format!("{url} dbname={dbname}"),
    }
}

/// A database that exists for one test, dropped (best effort) when the test ends.
struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create() -> Self {
        let name = format!("crm_crypto_test_{}", Uuid::now_v7().simple());
        connect(&server_url())
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("DATABASE_URL's role must be allowed to CREATE DATABASE");
        let url = with_dbname(&server_url(), &name);
        Self { name, url }
    }

    /// A connection as the owner, for setting up and inspecting.
    async fn client(&self) -> Client {
        connect(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (server_url(), self.name.clone());
        // Drop cannot await and runs inside the test's runtime: a thread with its own.
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, connection)) = tokio_postgres::connect(&server, NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = dropping.join();
    }
}

/// A fresh database migrated by the event store, with the store and a key store on it.
async fn migrated() -> (TestDatabase, PostgresStore, PostgresSubjectKeyStore) {
    let database = TestDatabase::create().await;
    let store = PostgresStore::connect(PostgresConfig::new(database.url.clone()).with_pool_size(4))
        .await
        .expect("the event store connects and migrates a fresh database");
    let keys = PostgresSubjectKeyStore::new(app_pool(&database));
    (database, store, keys)
}

fn connection_config(database: &TestDatabase) -> Config {
    database
        .url
        .parse()
        .expect("DATABASE_URL with a database name is a valid connection string")
}

/// A pool that connects as the owner but acts with only the application role's rights.
fn app_pool(database: &TestDatabase) -> Pool {
    let mut config = connection_config(database);
    config.options(format!("-c role={APP_ROLE}"));
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(4)
        .build()
        .expect("a pool without timeouts needs no runtime to build")
}

/// A plain-text `pg_dump` of the whole database, schema and data.
fn dump(database: &TestDatabase) -> String {
    let config = connection_config(database);
    let mut command = Command::new("pg_dump");
    command.args(["--no-owner", "--no-privileges", "--dbname", &database.name]);
    if let Some(host) = config.get_hosts().first() {
        match host {
            Host::Tcp(name) => command.args(["--host", name]),
            Host::Unix(path) => command.arg("--host").arg(path),
        };
    }
    if let Some(port) = config.get_ports().first() {
        command.args(["--port", &port.to_string()]);
    }
    if let Some(user) = config.get_user() {
        command.args(["--username", user]);
    }
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).as_ref());
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run pg_dump ({error}); is it installed?"));
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("a plain-text dump of UTF-8 data is UTF-8")
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

// ---------------------------------------------------------------------------------------
// The key store
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_key_store_keeps_the_key_store_contract() {
    let (database, _store, keys) = migrated().await;

    conformance::run_all(Arc::new(keys)).await;

    // decryption_key cannot see a key row left behind for a shredded subject: count them.
    let keys_of_shredded: i64 = database
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM subject_keys JOIN shredded_subjects USING (tenant_id, subject_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys_of_shredded, 0, "a shredded subject kept a key row");
}

#[tokio::test]
async fn the_key_store_needs_no_more_than_the_application_role() {
    let (database, _store, keys) = migrated().await;

    let role: String = app_pool(&database)
        .get()
        .await
        .unwrap()
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    keys.encryption_key(&acme(), &ada()).await.unwrap();
    keys.shred(&acme(), &ada()).await.unwrap();

    assert_eq!(role, APP_ROLE);
    assert_eq!(keys.decryption_key(&acme(), &ada()).await.unwrap(), None);
}

#[tokio::test]
async fn keys_are_kept_in_the_database_not_in_the_store_value() {
    let (database, _store, keys) = migrated().await;
    let key = keys.encryption_key(&acme(), &ada()).await.unwrap();

    let another_store = PostgresSubjectKeyStore::new(app_pool(&database));
    let stored: Vec<u8> = database
        .client()
        .await
        .query_one(
            "SELECT key FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2",
            &[&"acme", &"party-ada"],
        )
        .await
        .unwrap()
        .get(0);

    assert_eq!(
        another_store.decryption_key(&acme(), &ada()).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(stored, key.expose_bytes());
}

#[tokio::test]
async fn a_corrupt_stored_key_is_reported_not_used() {
    let (database, _store, keys) = migrated().await;
    keys.encryption_key(&acme(), &ada()).await.unwrap();
    database
        .client()
        .await
        .execute("UPDATE subject_keys SET key = '\\x0102'::bytea", &[])
        .await
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

#[tokio::test]
async fn a_database_without_the_key_tables_is_a_storage_error() {
    let (database, _store, keys) = migrated().await;
    database
        .client()
        .await
        .batch_execute("DROP TABLE subject_keys")
        .await
        .unwrap();

    let error = keys.encryption_key(&acme(), &ada()).await.unwrap_err();

    assert!(matches!(error, CryptoError::Storage { .. }), "{error:?}");
    assert!(std::error::Error::source(&error).is_some());
}

// ---------------------------------------------------------------------------------------
// Shredding, seen in a dump
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn after_shredding_a_dump_holds_neither_the_erased_plaintext_nor_the_key() {
    let (database, store, keys) = migrated().await;
    let ada_events = [
        (
            json!({"name": "Ada Lovelace", "email": "ada.lovelace@example.org", "source": "spring_campaign_web_form"}),
            &["name", "email"][..],
        ),
        (
            json!({"note": "Called Ada on +442079460123 about the analytical engine"}),
            &["note"],
        ),
    ];
    let mut ada_ciphertexts = Vec::new();
    for (mut payload, fields) in ada_events {
        encrypt_fields(&keys, &acme(), &ada(), &mut payload, fields)
            .await
            .unwrap();
        for field in fields {
            ada_ciphertexts.push(payload[*field]["ct"].as_str().unwrap().to_owned());
        }
        store
            .append(
                &acme(),
                &stream("lead-ada"),
                ExpectedVersion::Any,
                &[NewEvent::new("LeadNoted", 1, payload)],
            )
            .await
            .unwrap();
    }
    let mut grace_captured = json!({"name": "Grace Hopper", "source": "spring_campaign_web_form"});
    encrypt_fields(&keys, &acme(), &grace(), &mut grace_captured, &["name"])
        .await
        .unwrap();
    store
        .append(
            &acme(),
            &stream("lead-grace"),
            ExpectedVersion::NoStream,
            &[NewEvent::new("LeadCaptured", 1, grace_captured)],
        )
        .await
        .unwrap();
    let ada_key = keys.decryption_key(&acme(), &ada()).await.unwrap().unwrap();
    let grace_key = keys
        .decryption_key(&acme(), &grace())
        .await
        .unwrap()
        .unwrap();
    let ada_plaintext = [
        "Ada Lovelace",
        "Lovelace",
        "ada.lovelace@example.org",
        "+442079460123",
        "analytical engine",
    ];
    let erased_key = [
        hex(ada_key.expose_bytes()),
        BASE64.encode(ada_key.expose_bytes()),
    ];
    let (tenant, ada_stream) = (acme(), stream("lead-ada"));
    let read_ada = || store.read_stream(&tenant, &ada_stream, StreamRead::forward());

    let before = dump(&database);
    // The dump shows what is stored in clear, keys included: the checks below can fail.
    assert!(before.contains("spring_campaign_web_form"));
    assert!(
        before.contains(&erased_key[0]),
        "the dump shows keys as hex"
    );
    for secret in ada_plaintext {
        assert!(!before.contains(secret), "{secret:?} was stored in clear");
    }
    let events_before = read_ada().await.unwrap();

    keys.shred(&acme(), &ada()).await.unwrap();
    let after = dump(&database);

    for secret in ada_plaintext.iter().chain(["Grace Hopper"].iter()) {
        assert!(!after.contains(secret), "{secret:?} found in the dump");
    }
    for encoding in &erased_key {
        assert!(
            !after.contains(encoding.as_str()),
            "the shredded key is in the dump"
        );
    }
    for ciphertext in &ada_ciphertexts {
        assert!(
            after.contains(ciphertext.as_str()),
            "an event lost its ciphertext"
        );
    }
    assert!(
        after.contains(&hex(grace_key.expose_bytes())),
        "another subject lost its key"
    );
    assert!(
        after.contains("party-ada"),
        "the shredding record is missing"
    );
    let events_after = read_ada().await.unwrap();
    assert_eq!(events_after, events_before, "events changed");
    let chains = store.verify(&acme()).await.unwrap();
    assert!(chains.is_intact(), "{chains:?}");
    assert_eq!(chains.events_checked, 3);

    let mut read = Vec::new();
    for event in events_after {
        let mut payload = event.payload;
        decrypt_fields(&keys, &acme(), &mut payload).await.unwrap();
        read.push(payload);
    }
    assert!(is_erased(&read[0]["name"]) && is_erased(&read[0]["email"]));
    assert_eq!(read[0]["source"], "spring_campaign_web_form");
    assert!(is_erased(&read[1]["note"]));
    let mut grace_read = store
        .read_stream(&acme(), &stream("lead-grace"), StreamRead::forward())
        .await
        .unwrap()
        .remove(0)
        .payload;
    decrypt_fields(&keys, &acme(), &mut grace_read)
        .await
        .unwrap();
    assert_eq!(grace_read["name"], "Grace Hopper");
    assert!(matches!(
        keys.encryption_key(&acme(), &ada()).await,
        Err(CryptoError::SubjectShredded { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_with_a_new_subjects_key_stores_both_or_refuses_both() {
    let (_database, store, keys) = migrated().await;
    let tenant = acme();
    let event = || NewEvent::new("Noted", 1, json!({ "n": 1 }));

    // A new subject: the client's key is stored with the append, in one statement.
    let fresh = SubjectId::new("lead-fresh").unwrap();
    let candidate = crm_eventstore::crypto::SubjectKey::generate().unwrap();
    let stream = StreamId::new("lead-fresh").unwrap();
    store
        .append_with_subject_key(
            &tenant,
            &stream,
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
    let other = crm_eventstore::crypto::SubjectKey::generate().unwrap();
    let refused = store
        .append_with_subject_key(
            &tenant,
            &stream,
            ExpectedVersion::Exact(1),
            &[event()],
            &fresh,
            &other,
        )
        .await;
    assert!(
        matches!(refused, Err(crm_eventstore::StoreError::SubjectKeyDiffers)),
        "{refused:?}"
    );
    let erased = SubjectId::new("lead-erased").unwrap();
    keys.shred(&tenant, &erased).await.unwrap();
    let refused = store
        .append_with_subject_key(
            &tenant,
            &StreamId::new("lead-erased").unwrap(),
            ExpectedVersion::NoStream,
            &[event()],
            &erased,
            &other,
        )
        .await;
    assert!(
        matches!(refused, Err(crm_eventstore::StoreError::SubjectKeyDiffers)),
        "{refused:?}"
    );
    assert!(
        store
            .read_stream(
                &tenant,
                &StreamId::new("lead-erased").unwrap(),
                StreamRead::forward()
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.stream_version(&tenant, &stream).await.unwrap(),
        Some(1),
        "the refused append wrote nothing"
    );
    // The subject's own key passes.
    store
        .append_with_subject_key(
            &tenant,
            &stream,
            ExpectedVersion::Exact(1),
            &[event()],
            &fresh,
            &candidate,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_streams_are_appended_together_and_an_existing_one_is_left_out() {
    let (_database, store, keys) = migrated().await;
    let tenant = acme();
    let event = |n: u32| NewEvent::new("Noted", 1, json!({ "n": n }));
    let known_key = crm_eventstore::crypto::SubjectKey::generate().unwrap();
    store
        .append_with_subject_key(
            &tenant,
            &StreamId::new("lead-known").unwrap(),
            ExpectedVersion::NoStream,
            &[event(0)],
            &SubjectId::new("lead-known").unwrap(),
            &known_key,
        )
        .await
        .unwrap();

    // Three new streams (two with a subject's new key) and one that exists, sent with a key
    // other than its subject's (as a retry that made a new one would): it is left out, and
    // the others still commit.
    let names = ["lead-a", "lead-b", "lead-known", "note-c"];
    let streams: Vec<StreamId> = names.iter().map(|n| StreamId::new(*n).unwrap()).collect();
    let subjects: Vec<SubjectId> = names.iter().map(|n| SubjectId::new(*n).unwrap()).collect();
    let candidates: Vec<crm_eventstore::crypto::SubjectKey> = (0..4)
        .map(|_| crm_eventstore::crypto::SubjectKey::generate().unwrap())
        .collect();
    let events: Vec<Vec<NewEvent>> = (0..4).map(|n| vec![event(n), event(n + 10)]).collect();
    let appends: Vec<crm_eventstore::NewStreamAppend<'_>> = (0..4)
        .map(|i| crm_eventstore::NewStreamAppend {
            stream: &streams[i],
            events: &events[i],
            subject_key: (i < 3).then(|| (&subjects[i], &candidates[i])),
        })
        .collect();
    let results = store.append_new_streams(&tenant, &appends).await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[2].is_none(), "the existing stream is left out");
    let appended: Vec<_> = [0, 1, 3]
        .iter()
        .map(|&i| results[i].clone().expect("appended"))
        .collect();
    assert!(
        appended.iter().all(|result| result.stream_version == 2
            && result.events[0].position.transaction == appended[0].events[0].position.transaction),
        "one transaction: {appended:?}"
    );
    for i in [0, 1, 3] {
        let read = store
            .read_stream(&tenant, &streams[i], StreamRead::forward())
            .await
            .unwrap();
        assert_eq!(read.len(), 2);
    }
    for i in [0, 1] {
        assert_eq!(
            keys.decryption_key(&tenant, &subjects[i]).await.unwrap(),
            Some(candidates[i].clone()),
            "the new key is stored with the append"
        );
    }
    assert_eq!(
        store.stream_version(&tenant, &streams[2]).await.unwrap(),
        Some(1),
        "the existing stream is untouched"
    );
    assert_eq!(
        keys.decryption_key(&tenant, &subjects[2]).await.unwrap(),
        Some(known_key),
        "and its subject keeps its key"
    );
    assert!(store.verify(&tenant).await.unwrap().is_intact());

    // A subject with another key fails the whole batch: nothing of it is appended.
    let (fresh, late) = (
        StreamId::new("lead-d").unwrap(),
        StreamId::new("lead-e").unwrap(),
    );
    let other = crm_eventstore::crypto::SubjectKey::generate().unwrap();
    let late_subject = SubjectId::new("lead-e").unwrap();
    let events: Vec<Vec<NewEvent>> = (0..4).map(|n| vec![event(n + 20)]).collect();
    let refused = store
        .append_new_streams(
            &tenant,
            &[
                crm_eventstore::NewStreamAppend {
                    stream: &fresh,
                    events: &events[0],
                    subject_key: None,
                },
                crm_eventstore::NewStreamAppend {
                    stream: &late,
                    events: &events[1],
                    subject_key: Some((&subjects[0], &other)),
                },
                crm_eventstore::NewStreamAppend {
                    stream: &StreamId::new("lead-f").unwrap(),
                    events: &events[3],
                    subject_key: Some((&late_subject, &other)),
                },
            ],
        )
        .await;
    assert!(
        matches!(refused, Err(crm_eventstore::StoreError::SubjectKeyDiffers)),
        "{refused:?}"
    );
    for stream in [&fresh, &late] {
        assert_eq!(store.stream_version(&tenant, stream).await.unwrap(), None);
    }
    let key = keys.decryption_key(&tenant, &late_subject).await;
    assert!(
        matches!(key, Err(CryptoError::KeyNotFound { .. })),
        "the key is rolled back with the rest: {key:?}"
    );
}
