//! Crypto-shredding against a real PostgreSQL: the key store's contract, and a `pg_dump` of
//! the database after a shredding that finds no erased plaintext and no erased key.
//!
//! Needs `DATABASE_URL` (run `source scripts/postgres-env` first). Each test makes its own
//! fresh database and drops it at the end. Without a reachable server the tests fail with a
//! message saying so: they never skip.

#[path = "crypto/conformance.rs"]
mod conformance;

use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crm_eventstore::crypto::{
    CryptoError, PostgresSubjectKeyStore, SubjectKeyStore, decrypt_fields, encrypt_fields,
    is_erased,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};
use uuid::Uuid;

const TENANT: &str = "acme";
const ADA: &str = "party-ada";
const GRACE: &str = "party-grace";

/// The event store's migration 0002, which makes the key tables and grants the application
/// role what the key store needs. Applied by hand, after making the role as 0001 does, until
/// the crate's migration runner lands; then the tests run the migrations.
const KEY_TABLES: &str = include_str!("../migrations/0002_subject_keys.sql");

/// The application role of migration 0001, made the way 0001 makes it.
const APP_ROLE: &str = "
    DO $$
    BEGIN
        CREATE ROLE crm_eventstore_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END
    $$;";

/// A stand-in for the event store's events table, with a per-stream hash chain over the
/// stored payload text, until the store's append API lands.
const EVENTS_TABLE: &str = "
    CREATE TABLE crypto_test_events (
        position bigserial PRIMARY KEY,
        tenant_id text NOT NULL,
        stream_id text NOT NULL,
        payload jsonb NOT NULL,
        hash bytea NOT NULL
    );";

// ---------------------------------------------------------------------------------------
// A fresh database per test
// ---------------------------------------------------------------------------------------

fn server_config() -> Config {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: run `source scripts/postgres-env` first; \
             the PostgreSQL tests fail rather than skip"
        )
    });
    url.parse()
        .unwrap_or_else(|error| panic!("DATABASE_URL is not a connection string ({error}): {url}"))
}

async fn connect(config: &Config) -> Client {
    let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|error| {
        panic!("cannot connect to PostgreSQL at DATABASE_URL ({error}); is it running?")
    });
    tokio::spawn(connection);
    client
}

fn pool(config: &Config) -> Pool {
    let manager = Manager::from_config(
        config.clone(),
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

struct TestDatabase {
    name: String,
    /// The owner's connection settings, for setting up and inspecting.
    config: Config,
    /// The application role's connection settings, for the key store.
    app_config: Config,
    pool: Pool,
}

impl TestDatabase {
    async fn create() -> Self {
        let server = server_config();
        let name = format!("crm_crypto_test_{}", Uuid::now_v7().simple());
        connect(&server)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("DATABASE_URL's role must be allowed to CREATE DATABASE");
        let mut config = server;
        config.dbname(&name);
        connect(&config)
            .await
            .batch_execute(&format!("{APP_ROLE}{KEY_TABLES}{EVENTS_TABLE}"))
            .await
            .expect("the test tables are created");
        // The key store runs with the application role's grants only, as in production.
        let mut app_config = config.clone();
        app_config.options("-c role=crm_eventstore_app");
        let pool = pool(&app_config);
        Self {
            name,
            config,
            app_config,
            pool,
        }
    }

    fn key_store(&self) -> PostgresSubjectKeyStore {
        PostgresSubjectKeyStore::new(self.pool.clone())
    }

    async fn client(&self) -> Client {
        connect(&self.config).await
    }

    /// A plain-text `pg_dump` of the whole database, schema and data.
    fn dump(&self) -> String {
        let mut command = Command::new("pg_dump");
        command.args(["--no-owner", "--no-privileges", "--dbname", &self.name]);
        if let Some(host) = self.config.get_hosts().first() {
            match host {
                Host::Tcp(name) => command.args(["--host", name]),
                Host::Unix(path) => command.arg("--host").arg(path),
            };
        }
        if let Some(port) = self.config.get_ports().first() {
            command.args(["--port", &port.to_string()]);
        }
        if let Some(user) = self.config.get_user() {
            command.args(["--username", user]);
        }
        if let Some(password) = self.config.get_password() {
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

    async fn drop(self) {
        self.pool.close();
        connect(&server_config())
            .await
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .expect("the test database is dropped");
    }
}

// ---------------------------------------------------------------------------------------
// Events in the stand-in table
// ---------------------------------------------------------------------------------------

/// Appends an event whose hash chains the stream's previous hash with the stored payload.
async fn append(client: &Client, stream: &str, payload: &Value) {
    client
        .execute(
            "INSERT INTO crypto_test_events (tenant_id, stream_id, payload, hash)
             SELECT $1, $2, $3::jsonb, sha256(
                 coalesce((SELECT hash FROM crypto_test_events WHERE stream_id = $2
                           ORDER BY position DESC LIMIT 1), ''::bytea)
                 || convert_to($3::jsonb::text, 'UTF8'))",
            &[&TENANT, &stream, payload],
        )
        .await
        .expect("the event is appended");
}

/// Every event in order, with its stored hash and whether the stream's chain still
/// verifies up to it.
async fn events_with_verified_chain(client: &Client) -> Vec<(String, Value, Vec<u8>)> {
    let rows = client
        .query(
            "SELECT stream_id, payload, payload::text, hash FROM crypto_test_events ORDER BY position",
            &[],
        )
        .await
        .expect("the events are read");
    let mut previous: std::collections::HashMap<String, Vec<u8>> = std::collections::HashMap::new();
    rows.iter()
        .map(|row| {
            let stream: String = row.get(0);
            let text: String = row.get(2);
            let hash: Vec<u8> = row.get(3);
            let mut hasher = Sha256::new();
            hasher.update(previous.get(&stream).map_or(&[][..], Vec::as_slice));
            hasher.update(text.as_bytes());
            assert_eq!(
                hasher.finalize().as_slice(),
                hash,
                "hash chain of {stream} broken"
            );
            previous.insert(stream.clone(), hash.clone());
            (stream, row.get(1), hash)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_key_store_keeps_the_key_store_contract() {
    let database = TestDatabase::create().await;

    let role: String = database
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(role, "crm_eventstore_app");

    conformance::run_all(Arc::new(database.key_store())).await;

    let client = database.client().await;
    let keys_of_shredded: i64 = client
        .query_one(
            "SELECT count(*) FROM subject_keys JOIN shredded_subjects USING (tenant_id, subject_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys_of_shredded, 0, "a shredded subject kept a key row");
    database.drop().await;
}

#[tokio::test]
async fn keys_are_kept_in_the_database_not_in_the_store_value() {
    let database = TestDatabase::create().await;
    let key = database
        .key_store()
        .encryption_key(TENANT, ADA)
        .await
        .unwrap();

    let another_store = PostgresSubjectKeyStore::new(pool(&database.app_config));
    let stored: Vec<u8> = database
        .client()
        .await
        .query_one(
            "SELECT key FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2",
            &[&TENANT, &ADA],
        )
        .await
        .unwrap()
        .get(0);

    assert_eq!(
        another_store.decryption_key(TENANT, ADA).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(stored, key.expose_bytes());
    database.drop().await;
}

#[tokio::test]
async fn a_corrupt_stored_key_is_reported_not_used() {
    let database = TestDatabase::create().await;
    let store = database.key_store();
    store.encryption_key(TENANT, ADA).await.unwrap();
    database
        .client()
        .await
        .execute("UPDATE subject_keys SET key = '\\x0102'::bytea", &[])
        .await
        .unwrap();

    let read = store.decryption_key(TENANT, ADA).await.unwrap_err();
    let used = store.encryption_key(TENANT, ADA).await.unwrap_err();

    assert!(
        matches!(read, CryptoError::CorruptKey { length: 2, .. }),
        "{read:?}"
    );
    assert!(
        matches!(used, CryptoError::CorruptKey { length: 2, .. }),
        "{used:?}"
    );
    database.drop().await;
}

#[tokio::test]
async fn a_database_without_the_key_tables_is_a_storage_error() {
    let database = TestDatabase::create().await;
    database
        .client()
        .await
        .batch_execute("DROP TABLE subject_keys")
        .await
        .unwrap();
    let store = database.key_store();

    let error = store.encryption_key(TENANT, ADA).await.unwrap_err();

    assert!(matches!(error, CryptoError::Storage { .. }), "{error:?}");
    assert!(std::error::Error::source(&error).is_some());
    database.drop().await;
}

#[tokio::test]
async fn after_shredding_a_dump_holds_neither_the_erased_plaintext_nor_the_key() {
    let database = TestDatabase::create().await;
    let store = database.key_store();
    let client = database.client().await;
    let ada_fields = [
        (
            "lead-ada",
            json!({"name": "Ada Lovelace", "email": "ada.lovelace@example.org", "source": "spring_campaign_web_form"}),
            &["name", "email"][..],
        ),
        (
            "lead-ada",
            json!({"note": "Called Ada on +442079460123 about the analytical engine"}),
            &["note"],
        ),
    ];
    let mut ada_ciphertexts = Vec::new();
    for (stream, mut payload, fields) in ada_fields {
        encrypt_fields(&store, TENANT, ADA, &mut payload, fields)
            .await
            .unwrap();
        for field in fields {
            ada_ciphertexts.push(payload[*field]["ct"].as_str().unwrap().to_owned());
        }
        append(&client, stream, &payload).await;
    }
    let mut grace = json!({"name": "Grace Hopper", "source": "spring_campaign_web_form"});
    encrypt_fields(&store, TENANT, GRACE, &mut grace, &["name"])
        .await
        .unwrap();
    append(&client, "lead-grace", &grace).await;
    let ada_key = store.decryption_key(TENANT, ADA).await.unwrap().unwrap();
    let grace_key = store.decryption_key(TENANT, GRACE).await.unwrap().unwrap();
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

    let before = database.dump();
    // The dump shows what is stored in clear, keys included: the checks below can fail.
    assert!(before.contains("spring_campaign_web_form"));
    assert!(
        before.contains(&erased_key[0]),
        "the dump shows keys as hex"
    );
    for secret in ada_plaintext {
        assert!(!before.contains(secret), "{secret:?} was stored in clear");
    }
    let events_before = events_with_verified_chain(&client).await;

    store.shred(TENANT, ADA).await.unwrap();
    let after = database.dump();

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
    assert!(after.contains(ADA), "the shredding record is missing");
    let events_after = events_with_verified_chain(&client).await;
    assert_eq!(events_after, events_before, "events changed");

    let mut read = Vec::new();
    for (_, mut payload, _) in events_after {
        decrypt_fields(&store, TENANT, &mut payload).await.unwrap();
        read.push(payload);
    }
    assert!(is_erased(&read[0]["name"]) && is_erased(&read[0]["email"]));
    assert_eq!(read[0]["source"], "spring_campaign_web_form");
    assert!(is_erased(&read[1]["note"]));
    assert_eq!(read[2]["name"], "Grace Hopper");
    assert!(matches!(
        store.encryption_key(TENANT, ADA).await,
        Err(CryptoError::SubjectShredded { .. })
    ));
    drop(client);
    database.drop().await;
}
