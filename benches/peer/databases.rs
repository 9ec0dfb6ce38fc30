//! The databases of one workload: ours (the store's schema, plus the raw twin `raw_events`) and
//! the peer's (postgres-es's documented `events` table), each fresh on the same server, reached
//! over the same Unix socket without TLS, and dropped at the end.

use std::str::FromStr;

use cqrs_es::persist::SerializedEvent;
use crm_eventstore::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::support::BenchDatabase;

/// postgres-es's schema as its `db/init.sql` documents it (the events table, and the
/// snapshots table it names as needed only with snapshots, kept for fidelity).
const PEER_SCHEMA: &str = "
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);";

/// Connections each side may open: the store's pool and the peer's sqlx pool alike.
pub(crate) const POOL_SIZE: u32 = 16;

/// Whether the peer's pool pings each connection it hands out, sqlx's default (and so
/// postgres-es's `default_postgress_pool`'s): on unless `PEER_BENCH_PEER_PING=off`.
fn peer_pings() -> bool {
    std::env::var("PEER_BENCH_PEER_PING").map_or(true, |value| value != "off")
}

/// Ours and the peer's database for one workload.
pub(crate) struct Databases {
    ours: BenchDatabase,
    peer: BenchDatabase,
    /// Our store on `ours`, with [`POOL_SIZE`] connections.
    pub(crate) store: PostgresStore,
    /// The peer's pool on its database, with [`POOL_SIZE`] connections.
    pub(crate) pool: PgPool,
}

impl Databases {
    /// Creates both databases, migrates ours (and adds `raw_events`), creates the peer's schema.
    pub(crate) async fn create(label: &str) -> Self {
        let ours = BenchDatabase::create(&format!("{label}_ours")).await;
        let store = ours
            .store(usize::try_from(POOL_SIZE).expect("a small pool"))
            .await;
        ours.create_raw_table().await;
        let peer = BenchDatabase::create(&format!("{label}_peer")).await;
        peer.client()
            .await
            .batch_execute(PEER_SCHEMA)
            .await
            .expect("create the peer's schema");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .test_before_acquire(peer_pings())
            .connect_with(sqlx_options(peer.url()))
            .await
            .expect("the peer's pool connects");
        Self {
            ours,
            peer,
            store,
            pool,
        }
    }

    /// A raw client on our database (for the raw baseline).
    pub(crate) async fn raw_client(&self) -> tokio_postgres::Client {
        self.ours.client().await
    }

    /// A plain client on the peer's database (for its preparation and statistics).
    pub(crate) async fn peer_client(&self) -> tokio_postgres::Client {
        self.peer.client().await
    }

    /// Closes the pools and drops both databases.
    pub(crate) async fn drop_now(self) {
        self.pool.close().await;
        drop(self.store);
        self.ours.drop_now().await;
        self.peer.drop_now().await;
    }
}

/// sqlx's options for the database `url` names (libpq's key=value form or a URL): the same
/// host or socket, port, user and database the store uses, without TLS.
fn sqlx_options(url: &str) -> PgConnectOptions {
    let config = tokio_postgres::Config::from_str(url).expect("a valid connection string");
    let mut options = PgConnectOptions::new_without_pgpass().ssl_mode(PgSslMode::Disable);
    if let Some(host) = config.get_hosts().first() {
        options = match host {
            tokio_postgres::config::Host::Tcp(name) => options.host(name),
            tokio_postgres::config::Host::Unix(path) => options.socket(path),
        };
    }
    if let Some(port) = config.get_ports().first() {
        options = options.port(*port);
    }
    if let Some(user) = config.get_user() {
        options = options.username(user);
    }
    if let Some(password) = config.get_password() {
        options = options.password(&String::from_utf8_lossy(password));
    }
    if let Some(database) = config.get_dbname() {
        options = options.database(database);
    }
    options
}

/// Inserts `events` into the peer's `events` table in bulk (preparation only: the measured
/// appends go through the peer's own API).
pub(crate) async fn peer_bulk_insert(
    pool: &PgPool,
    aggregate_type: &str,
    events: &[SerializedEvent],
) {
    for chunk in events.chunks(5_000) {
        let mut query: QueryBuilder<'_, Postgres> = QueryBuilder::new(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) SELECT ",
        );
        query.push_bind(aggregate_type);
        query.push(", * FROM UNNEST(");
        query.push_bind(
            chunk
                .iter()
                .map(|e| e.aggregate_id.clone())
                .collect::<Vec<_>>(),
        );
        query.push("::text[], ");
        query.push_bind(
            chunk
                .iter()
                .map(|e| i64::try_from(e.sequence).expect("a small sequence"))
                .collect::<Vec<_>>(),
        );
        query.push("::bigint[], ");
        query.push_bind(
            chunk
                .iter()
                .map(|e| e.event_type.clone())
                .collect::<Vec<_>>(),
        );
        query.push("::text[], ");
        query.push_bind(
            chunk
                .iter()
                .map(|e| e.event_version.clone())
                .collect::<Vec<_>>(),
        );
        query.push("::text[], ");
        query.push_bind(chunk.iter().map(|e| e.payload.clone()).collect::<Vec<_>>());
        query.push("::json[], ");
        query.push_bind(chunk.iter().map(|e| e.metadata.clone()).collect::<Vec<_>>());
        query.push("::json[])");
        query
            .build()
            .execute(pool)
            .await
            .expect("bulk insert into the peer's events");
    }
}
