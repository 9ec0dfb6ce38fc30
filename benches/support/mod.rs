//! What every bench shares: a fresh database per comparison, the raw twin of the events table,
//! events shaped like the CRM's, and the paired measurement that turns two rates into a ratio.

use std::error::Error as StdError;
use std::time::Duration;

use crm_eventstore::{Metadata, NewEvent, PostgresConfig, PostgresStore, StreamId, TenantId};
use serde_json::json;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// The tenant every bench writes to.
pub(crate) fn tenant() -> TenantId {
    TenantId::new("bench").expect("a valid tenant name")
}

/// The bench stream numbered `number` (each bench has its own namespace).
pub(crate) fn stream(prefix: &str, number: usize) -> StreamId {
    StreamId::new(format!("{prefix}-{number:06}")).expect("a valid stream name")
}

/// A database that exists for one comparison: created fresh from `DATABASE_URL`, dropped at
/// the end (also when the bench panics).
pub(crate) struct BenchDatabase {
    name: String,
    admin: String,
    url: String,
    dropped: bool,
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: run `source scripts/postgres-env` first \
             (benches make a fresh database from it and drop it afterwards)"
        )
    })
}

/// `connection` (libpq key=value form, as scripts/postgres-env exports it) with another
/// database, and TLS off: the benches run over the local socket, where TLS would only halve
/// every figure.
fn with_dbname(connection: &str, dbname: &str) -> String {
    // libpq takes the last value of a repeated key.
    format!("{connection} dbname={dbname} sslmode=disable")
}

/// A client on `connection` whose driver runs on the current runtime.
pub(crate) async fn connect(connection: &str) -> Client {
    let (client, driver) = tokio_postgres::connect(connection, NoTls)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to PostgreSQL at {connection:?}: {error}"));
    tokio::spawn(async move {
        let _ = driver.await;
    });
    client
}

impl BenchDatabase {
    /// Creates an empty database.
    pub(crate) async fn create(label: &str) -> Self {
        let admin = admin_url();
        let name = format!("crm_bench_{label}_{}", Uuid::now_v7().simple());
        connect(&admin)
            .await
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            ))
            .await
            .unwrap_or_else(|error| panic!("CREATE DATABASE {name} failed: {error}"));
        let url = with_dbname(&admin, &name);
        Self {
            name,
            admin,
            url,
            dropped: false,
        }
    }

    /// The database's connection string (libpq key=value form, TLS off).
    #[allow(
        dead_code,
        reason = "only the peer bench connects with a driver of its own"
    )]
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A raw client on the database.
    pub(crate) async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// The store on this database (migrating it), with `pool_size` connections.
    pub(crate) async fn store(&self, pool_size: usize) -> PostgresStore {
        PostgresStore::connect(PostgresConfig::new(self.url.clone()).with_pool_size(pool_size))
            .await
            .expect("the store connects and migrates the bench database")
    }

    /// Creates `raw_events`, the events table's twin: the same columns, defaults (the same
    /// position sequence), keys and indexes, without the store's function, head rows, hash
    /// chains or triggers. The raw baselines write and read it with plain SQL.
    pub(crate) async fn create_raw_table(&self) {
        self.client()
            .await
            .batch_execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
            .await
            .expect("create raw_events");
    }

    /// Drops the database now.
    pub(crate) async fn drop_now(mut self) {
        self.dropped = true;
        drop_database(&self.admin, &self.name).await;
    }
}

async fn drop_database(admin: &str, name: &str) {
    connect(admin)
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap_or_else(|error| eprintln!("could not drop bench database {name}: {error}"));
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Only reached when a bench panicked: drop the database from a runtime of its own.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(drop_database(&admin, &name));
            }
        })
        .join();
    }
}

/// A size read from the environment variable `name`, `default` when unset or not a number.
#[allow(
    dead_code,
    reason = "the load generators take sizes from the environment; criterion benches do not"
)]
pub(crate) fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded runtime on the machine's two cores, as the application would run.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The columns of an event row, in the store's read order.
pub(crate) const EVENT_COLUMNS: &str = "stream_id, version, position, tx_id, event_id, event_type, \
     schema_version, payload, metadata, recorded_at, hash, previous_hash";

/// A column received as the bytes the server sent, whatever its type: what a raw reader that
/// decodes nothing touches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawColumn<'a>(pub(crate) &'a [u8]);

impl<'a> FromSql<'a> for RawColumn<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Self(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Touches every column of a raw event row, returning a byte count so the work is not
/// optimised away.
pub(crate) fn touch_row(row: &tokio_postgres::Row) -> usize {
    (0..row.len())
        .map(|column| {
            row.get::<_, Option<RawColumn<'_>>>(column)
                .map_or(0, |bytes| bytes.0.len())
        })
        .sum()
}

/// A CRM-shaped event: a lead's activity with a payload of about 200 bytes and metadata with an
/// actor and a correlation id (about 150 bytes), as most of the CRM's events look.
pub(crate) fn lead_event(number: u64) -> NewEvent {
    NewEvent::new(
        "LeadActivityLogged",
        1,
        json!({
            "lead_id": Uuid::from_u128(u128::from(number) << 64 | 0x5eed),
            "channel": if number.is_multiple_of(3) { "phone" } else { "email" },
            "summary": "Called back about the enterprise plan; asked for a quote by Friday",
            "amount": number % 97,
            "sequence": number,
        }),
    )
    .with_metadata(Metadata {
        actor: Some(json!({ "kind": "user", "id": "0190a3c2-7d1e-7a3b-9c2d-5e4f3a2b1c0d" })),
        correlation_id: Some(Uuid::now_v7()),
        ..Metadata::default()
    })
}

/// `count` fresh events starting at `first`.
pub(crate) fn lead_events(first: u64, count: usize) -> Vec<NewEvent> {
    (first..).take(count).map(lead_event).collect()
}

/// One event as the raw baselines insert it: the same id, type, schema version, payload and
/// metadata bytes the store would store, with placeholder hashes (raw SQL keeps no chain).
#[derive(Debug, Clone)]
pub(crate) struct RawEvent {
    pub(crate) id: Uuid,
    pub(crate) event_type: String,
    pub(crate) schema_version: i32,
    pub(crate) payload: serde_json::Value,
    pub(crate) metadata: serde_json::Value,
    pub(crate) hash: Vec<u8>,
}

impl RawEvent {
    /// The raw twin of `event`.
    pub(crate) fn from_new(event: &NewEvent) -> Self {
        let mut hash = event.id.as_bytes().to_vec();
        hash.extend_from_slice(event.id.as_bytes());
        Self {
            id: event.id,
            event_type: event.event_type.clone(),
            schema_version: i32::from(event.schema_version),
            payload: event.payload.clone(),
            metadata: serde_json::to_value(&event.metadata).expect("metadata serializes"),
            hash,
        }
    }
}

/// A multi-row `INSERT … VALUES` of `rows` events into `raw_events` for one stream: tenant $1,
/// stream $2, then eight parameters per row (version, id, type, schema version, payload,
/// metadata, hash, previous hash); the transaction id and time come from the server, as in the
/// store.
pub(crate) fn raw_insert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let base = 3 + row * 8;
            format!(
                "($1, $2, ${}, pg_current_xact_id(), ${}, ${}, ${}, ${}, ${}, now(), ${}, ${})",
                base,
                base + 1,
                base + 2,
                base + 3,
                base + 4,
                base + 5,
                base + 6,
                base + 7
            )
        })
        .collect();
    format!(
        "INSERT INTO raw_events (tenant_id, stream_id, version, tx_id, event_id, event_type, \
         schema_version, payload, metadata, recorded_at, hash, previous_hash) VALUES {}",
        values.join(", ")
    )
}

/// Inserts `events` into `raw_events` at versions `first_version…` with one multi-row
/// statement prepared by the caller from [`raw_insert_sql`].
pub(crate) async fn raw_insert(
    client: &Client,
    statement: &tokio_postgres::Statement,
    stream: &str,
    first_version: i64,
    events: &[RawEvent],
) {
    let tenant = "bench";
    let versions: Vec<i64> = (first_version..).take(events.len()).collect::<Vec<i64>>();
    let mut parameters: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        Vec::with_capacity(2 + events.len() * 8);
    parameters.push(&tenant);
    parameters.push(&stream);
    for (event, version) in events.iter().zip(&versions) {
        parameters.push(version);
        parameters.push(&event.id);
        parameters.push(&event.event_type);
        parameters.push(&event.schema_version);
        parameters.push(&event.payload);
        parameters.push(&event.metadata);
        parameters.push(&event.hash);
        parameters.push(&event.hash);
    }
    client
        .execute(statement, &parameters)
        .await
        .expect("raw insert");
}

/// Copies the tenant's events into `raw_events` row for row, so a raw read reads exactly what
/// the store reads, then analyses both tables.
pub(crate) async fn copy_events_to_raw(client: &Client) {
    // One statement per call: several in one simple query run as one transaction block, and
    // VACUUM refuses to run inside one.
    for statement in [
        "INSERT INTO raw_events SELECT * FROM events ORDER BY position",
        "VACUUM ANALYZE events",
        "VACUUM ANALYZE raw_events",
    ] {
        client
            .batch_execute(statement)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}

/// Rate in units per second.
fn rate(units: u64, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let units = units as f64;
    units / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The outcome of a paired measurement: both rates, and their ratio round by round.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    /// The store's median rate, units per second.
    pub(crate) ours: f64,
    /// The raw baseline's median rate.
    pub(crate) raw: f64,
    /// The median of the per-round ratios ours / raw.
    pub(crate) ratio: f64,
    /// The lowest and highest per-round ratio.
    pub(crate) ratio_range: (f64, f64),
}

/// Measures the store against its raw baseline in alternating rounds (raw first in even
/// rounds, the store first in odd ones), so drift and other load on the machine hit both
/// alike. Each closure does one round's work, timing only the part under test, and returns
/// the units it did and the time they took.
pub(crate) fn paired(
    rounds: usize,
    mut raw: impl FnMut() -> (u64, Duration),
    mut ours: impl FnMut() -> (u64, Duration),
) -> Comparison {
    let timed = |work: &mut dyn FnMut() -> (u64, Duration)| {
        let (units, elapsed) = work();
        rate(units, elapsed)
    };
    let mut raw_rates = Vec::with_capacity(rounds);
    let mut our_rates = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (raw_rate, our_rate) = if round % 2 == 0 {
            let raw_rate = timed(&mut raw);
            (raw_rate, timed(&mut ours))
        } else {
            let our_rate = timed(&mut ours);
            (timed(&mut raw), our_rate)
        };
        raw_rates.push(raw_rate);
        our_rates.push(our_rate);
        ratios.push(our_rate / raw_rate);
    }
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Comparison {
        ours: median(&mut our_rates),
        raw: median(&mut raw_rates),
        ratio: median(&mut ratios),
        ratio_range: (low, high),
    }
}

/// Prints a comparison against its target as one greppable line.
pub(crate) fn report(name: &str, unit: &str, comparison: &Comparison, target: f64) {
    let verdict = if comparison.ratio >= target {
        "PASS"
    } else {
        "MISS"
    };
    println!(
        "RESULT {name}: store {:.0} {unit}/s, raw {:.0} {unit}/s, ratio {:.2} \
         (rounds {:.2}..{:.2}), target >= {target:.2}: {verdict}",
        comparison.ours,
        comparison.raw,
        comparison.ratio,
        comparison.ratio_range.0,
        comparison.ratio_range.1
    );
}

/// The `percent`-th percentile of sorted timings (nearest rank).
pub(crate) fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Criterion's options that take a value as the next argument.
const OPTIONS_WITH_VALUES: [&str; 17] = [
    "--baseline",
    "--baseline-lenient",
    "--color",
    "--confidence-level",
    "--format",
    "--load-baseline",
    "--logfile",
    "--measurement-time",
    "--noise-threshold",
    "--nresamples",
    "--output-format",
    "--plotting-backend",
    "--profile-time",
    "--sample-size",
    "--save-baseline",
    "--significance-level",
    "--warm-up-time",
];

/// Whether a bench named `name` is selected by the command line's filter (its first positional
/// argument, as criterion reads it), so the paired measurements follow
/// `cargo bench -p crm-benches -- <filter>` like criterion's own.
pub(crate) fn selected(name: &str) -> bool {
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        if OPTIONS_WITH_VALUES.contains(&argument.as_str()) {
            arguments.next();
        } else if !argument.starts_with('-') {
            return name.contains(&argument) || argument.contains(name);
        }
    }
    true
}
