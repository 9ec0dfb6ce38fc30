//! TLS to PostgreSQL, against the local server over TCP (127.0.0.1): `sslmode` read as libpq
//! reads it, `verify-full` included, at every connection the store makes (its pool, its
//! LISTEN connection, `PostgresStore::migrate`).
//!
//! The server must have `ssl = on` (Debian's cluster does, with the snakeoil certificate) and
//! accept passwords from 127.0.0.1 (Debian's `pg_hba.conf` does: `scram-sha-256`). Each test
//! makes a fresh database and a login role with a password, and drops both. Like every
//! PostgreSQL test here, these fail, never skip, when the server cannot be reached.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crm_eventstore::postgres::tls::{ConnectionSettings, SslMode};
use crm_eventstore::{
    EventStore, ExpectedVersion, NewEvent, PostgresConfig, PostgresStore, StoreError, StreamId,
    StreamRead, TenantId,
};
use crm_testkit::postgres::{TestDatabase, TestRole, client, server_url};
use rustls::client::verify_server_name;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ParsedCertificate;
use serde_json::json;

/// A self-signed CA certificate (P-256, `CN=crm unrelated test root`, valid until 2126) that
/// signed nothing the server has: a wrong root.
const UNRELATED_ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUG75zYR0gXVngp+QPugdaIiBPcS4wCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXY3JtIHVucmVsYXRlZCB0ZXN0IHJvb3QwIBcNMjYxMjA2MDYw
OTU1WhgPMjEyNjExMTIwNjA5NTVaMCIxIDAeBgNVBAMMF2NybSB1bnJlbGF0ZWQg
dGVzdCByb290MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsaVOI+N2OdbbTPls
ZXciDS4Rn3eRnKrfl8AZR45xdCl/AFi/jlL/XKsyHrgJeUFQpX3D73kDDDHxF0+o
cJxYT6NTMFEwHQYDVR0OBBYEFC8odXPcMM+BCQBsbWM98rOioH7qMB8GA1UdIwQY
MBaAFC8odXPcMM+BCQBsbWM98rOioH7qMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDRwAwRAIgY+kLZR2JhsntHOQUusF013xlt89jKVsg/7tdERzLQE0CIAj3
vFEt8Cq6VXRZ5VOAvchhwdTtdbOO2thSWVaEURWb
-----END CERTIFICATE-----
";

/// The server as seen over TCP: its certificate file, the name that certificate is for, and
/// its port.
struct Server {
    certificate: PathBuf,
    name: String,
    port: u16,
}

impl Server {
    /// Asks the server (through `DATABASE_URL`) for its certificate file, and finds which of
    /// this machine's names it is for (`localhost`, or the host name `make-ssl-cert` uses).
    async fn find() -> Self {
        let admin = client(&server_url()).await;
        let row = admin
            .query_one(
                "SELECT current_setting('ssl'), current_setting('ssl_cert_file'), \
                 current_setting('port')::int",
                &[],
            )
            .await
            .expect("read the server's TLS settings");
        let ssl: String = row.get(0);
        assert_eq!(
            ssl, "on",
            "the server must have ssl = on for these tests (Debian's cluster does)"
        );
        let certificate = PathBuf::from(row.get::<_, String>(1));
        assert!(
            certificate.is_absolute(),
            "ssl_cert_file {} is relative to the data directory; these tests need its path",
            certificate.display()
        );
        let port = u16::try_from(row.get::<_, i32>(2)).expect("a port");
        let der = CertificateDer::from_pem_file(&certificate).unwrap_or_else(|error| {
            panic!(
                "cannot read the server's certificate {}: {error}",
                certificate.display()
            )
        });
        let parsed = ParsedCertificate::try_from(&der).expect("parse the server's certificate");
        let mut candidates = vec!["localhost".to_owned()];
        for file in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
            if let Ok(text) = std::fs::read_to_string(file) {
                candidates.push(text.trim().to_owned());
            }
        }
        let name = candidates
            .iter()
            .find(|name| {
                ServerName::try_from(name.as_str())
                    .is_ok_and(|server| verify_server_name(&parsed, &server).is_ok())
            })
            .unwrap_or_else(|| {
                panic!(
                    "the server's certificate {} names none of {candidates:?}",
                    certificate.display()
                )
            })
            .clone();
        Self {
            certificate,
            name,
            port,
        }
    }

    /// A key=value connection string to `database` as `role`, over TCP to 127.0.0.1 under the
    /// name `host` (the name TLS checks), with `tls` parameters.
    fn connection(&self, role: &TestRole, database: &str, host: &str, tls: &str) -> String {
        format!(
            "host={host} hostaddr=127.0.0.1 port={} user={} password={} dbname={database} \
             connect_timeout=10 {tls}",
            self.port, role.name, role.password
        )
    }

    /// `sslmode=verify-full` with the server's certificate as the root, to the name it is for.
    fn verified(&self, role: &TestRole, database: &str) -> String {
        self.connection(
            role,
            database,
            &self.name,
            &format!(
                "sslmode=verify-full sslrootcert={}",
                self.certificate.display()
            ),
        )
    }
}

/// A fresh, migrated database and a role with a password that may use the store there (a
/// member of `crm_eventstore_app`, as an application's login role is). The role is dropped
/// after the database.
async fn setup() -> (TestRole, TestDatabase, Server) {
    let role = TestRole::create().await;
    let database = TestDatabase::create().await;
    PostgresStore::migrate(&database.url)
        .await
        .expect("migrate over the local socket");
    database
        .client()
        .await
        .batch_execute(&format!(
            "GRANT {} TO {}",
            crm_eventstore::postgres::APP_ROLE,
            role.name
        ))
        .await
        .expect("grant the application role");
    (role, database, Server::find().await)
}

/// Whether the session of `client` is encrypted, as the server sees it.
async fn encrypted(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("read pg_stat_ssl")
        .get(0)
}

/// A client over `connection`, read by `ConnectionSettings` as the store reads it.
async fn connect(connection: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let settings = ConnectionSettings::parse(connection).expect("usable settings");
    let (client, driver) = settings.config().connect(settings.tls()).await?;
    tokio::spawn(driver);
    Ok(client)
}

async fn store(connection: &str) -> Result<PostgresStore, StoreError> {
    PostgresStore::connect(
        PostgresConfig::new(connection)
            .with_pool_size(2)
            .without_migrations(),
    )
    .await
}

/// Appends one event and reads it back.
async fn round_trip(store: &PostgresStore) {
    let tenant = TenantId::new("acme").unwrap();
    let stream = StreamId::new(format!("lead-{}", uuid::Uuid::now_v7().simple())).unwrap();
    let event = NewEvent::new("LeadReceived", 1, json!({ "email": "ada@example.com" }));
    store
        .append(&tenant, &stream, ExpectedVersion::NoStream, &[event])
        .await
        .expect("append over TLS");
    let events = store
        .read_stream(&tenant, &stream, StreamRead::forward())
        .await
        .expect("read over TLS");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload["email"], "ada@example.com");
}

/// The error's message and those of its sources.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_over_tcp_encrypts_the_pool_and_the_listener_and_the_store_works() {
    let (role, database, server) = setup().await;
    // No root file: any certificate is accepted, so an address does as the host.
    let connection = server.connection(&role, &database.name, "127.0.0.1", "sslmode=require");
    let store = store(&connection)
        .await
        .expect("connect with sslmode=require");
    round_trip(&store).await;
    let pooled = store.client().await.expect("a pooled connection");
    assert!(encrypted(&pooled).await, "the pool's sessions use TLS");
    drop(pooled);

    // The LISTEN connection starts with the first wake-up signal; it is encrypted too, and
    // carries another process's notification.
    let mut signal = store.append_signal();
    let admin = database.client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let listener_ssl = loop {
        let row = admin
            .query_opt(
                "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.usename = $1 AND a.datname = $2 AND a.query = 'LISTEN crm_eventstore'",
                &[&role.name, &database.name],
            )
            .await
            .expect("look for the listener");
        if let Some(row) = row {
            break row.get::<_, bool>(0);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store's LISTEN connection never showed up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(listener_ssl, "the LISTEN connection uses TLS");
    signal.mark_unchanged();
    let other = database
        .store(crm_eventstore::StoreSettings::default())
        .await;
    round_trip(&other).await;
    tokio::time::timeout(Duration::from_secs(20), signal.changed())
        .await
        .expect("another process's append wakes the store over its TLS LISTEN connection")
        .expect("the store is alive");

    // The key=value form above and the URL form read alike.
    let url = format!(
        "postgresql://{}:{}@127.0.0.1:{}/{}?sslmode=require&connect_timeout=10",
        role.name, role.password, server.port, database.name
    );
    assert!(encrypted(&connect(&url).await.expect("connect by URL")).await);
}

#[tokio::test]
async fn prefer_uses_tls_when_offered_and_disable_never_does() {
    let (role, database, server) = setup().await;
    for (tls, expected) in [
        ("sslmode=disable", false),
        ("", true),
        ("sslmode=prefer", true),
        ("sslmode=allow", true),
    ] {
        let connection = server.connection(&role, &database.name, "127.0.0.1", tls);
        let client = connect(&connection)
            .await
            .unwrap_or_else(|error| panic!("connect with {tls:?}: {}", chain(&error)));
        assert_eq!(encrypted(&client).await, expected, "{tls:?}");
    }
    let store = store(&server.connection(&role, &database.name, "127.0.0.1", "sslmode=disable"))
        .await
        .expect("connect with sslmode=disable");
    round_trip(&store).await;
    let pooled = store.client().await.expect("a pooled connection");
    assert!(!encrypted(&pooled).await, "sslmode=disable: no TLS");
}

#[tokio::test]
async fn verify_full_connects_to_the_name_the_certificate_is_for() {
    let (role, database, server) = setup().await;
    let connection = server.verified(&role, &database.name);
    let settings = ConnectionSettings::parse(&connection).expect("parse");
    assert_eq!(settings.ssl_mode(), SslMode::VerifyFull);
    let store = store(&connection)
        .await
        .expect("connect with sslmode=verify-full");
    round_trip(&store).await;
    assert!(encrypted(&store.client().await.expect("pooled")).await);

    // The URL form, the root file's path percent-encoded.
    let root: String = server.certificate.display().to_string().replace('/', "%2F");
    let url = format!(
        "postgres://{}:{}@{}:{}/{}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={root}",
        role.name, role.password, server.name, server.port, database.name
    );
    assert!(encrypted(&connect(&url).await.expect("verify-full by URL")).await);
}

#[tokio::test]
async fn verify_full_refuses_a_host_the_certificate_does_not_name() {
    let (role, database, server) = setup().await;
    let connection = server.connection(
        &role,
        &database.name,
        "127.0.0.1",
        &format!(
            "sslmode=verify-full sslrootcert={}",
            server.certificate.display()
        ),
    );
    let error = store(&connection)
        .await
        .expect_err("127.0.0.1 is not the certificate's name");
    let message = error.to_string();
    assert!(
        matches!(error, StoreError::Unavailable { .. })
            && message.contains("invalid peer certificate")
            && message.contains("not valid for name \"127.0.0.1\""),
        "{message}"
    );

    // verify-ca checks the chain only: the same address is accepted.
    let chain_only = server.connection(
        &role,
        &database.name,
        "127.0.0.1",
        &format!(
            "sslmode=verify-ca sslrootcert={}",
            server.certificate.display()
        ),
    );
    assert!(encrypted(&connect(&chain_only).await.expect("verify-ca")).await);
}

#[tokio::test]
async fn a_certificate_from_another_root_is_refused() {
    let (role, database, server) = setup().await;
    let root = std::env::temp_dir().join(format!(
        "crm-unrelated-root-{}.pem",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::write(&root, UNRELATED_ROOT).expect("write the unrelated root");
    let outcomes = refusals(&role, &database, &server, &root).await;
    let _ = std::fs::remove_file(&root);
    for (mode, message) in outcomes {
        let message = message.unwrap_or_else(|| panic!("{mode} accepted another root's server"));
        assert!(
            message.contains("invalid peer certificate") && message.contains("UnknownIssuer"),
            "{mode}: {message}"
        );
    }
}

/// The error of each mode that checks the chain, with `root` as the only trusted root (`None`
/// when it connected).
async fn refusals(
    role: &TestRole,
    database: &TestDatabase,
    server: &Server,
    root: &Path,
) -> Vec<(&'static str, Option<String>)> {
    let mut outcomes = Vec::new();
    // `require` with a root file checks the chain, as libpq does.
    for mode in ["verify-full", "verify-ca", "require"] {
        let connection = server.connection(
            role,
            &database.name,
            &server.name,
            &format!("sslmode={mode} sslrootcert={}", root.display()),
        );
        let outcome = store(&connection)
            .await
            .err()
            .map(|error| error.to_string());
        outcomes.push((mode, outcome));
    }
    outcomes
}

#[tokio::test]
async fn unusable_tls_settings_are_typed_errors_before_any_connection() {
    let error = store("host=127.0.0.1 sslmode=verify-everything")
        .await
        .expect_err("an unknown sslmode");
    assert!(
        matches!(&error, StoreError::InvalidSslMode { value, .. } if value == "verify-everything"),
        "{error:?}"
    );
    let error = PostgresStore::migrate(
        "postgres://127.0.0.1/crm?sslmode=verify-full&sslrootcert=/nonexistent/root.pem",
    )
    .await
    .expect_err("a missing root file");
    assert!(
        matches!(&error, StoreError::UnreadableRootCertificate { path, .. }
            if path == Path::new("/nonexistent/root.pem")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn over_the_local_socket_no_tls_is_attempted_whatever_the_mode() {
    // libpq never uses TLS over a Unix-domain socket; `DATABASE_URL` is one here
    // (scripts/postgres-env), and then `sslmode=require` still connects, unencrypted.
    let database = TestDatabase::create().await;
    let url = if database.url.starts_with("postgres") {
        let separator = if database.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}sslmode=require", database.url)
    } else {
        format!("{} sslmode=require", database.url)
    };
    let over_socket = ConnectionSettings::parse(&url)
        .expect("parse")
        .config()
        .get_hosts()
        .iter()
        .all(|host| matches!(host, tokio_postgres::config::Host::Unix(_)));
    let client = connect(&url)
        .await
        .unwrap_or_else(|error| panic!("sslmode=require on {url}: {}", chain(&error)));
    assert_eq!(encrypted(&client).await, !over_socket);
}
