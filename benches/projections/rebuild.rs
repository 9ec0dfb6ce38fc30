//! Blue/green rebuilds of all four read models into PostgreSQL from N events in the event
//! store, through the crate's own `rebuild_many` (reset, the store's pages read once and folded
//! into all four write-behind targets, commits in large steps, switch live), against a
//! raw binary COPY of the rows the rebuilds produced into tables of the same shape (columns,
//! primary key, indexes) measured in the same run.
//!
//! Also home of what the PostgreSQL parts share: the connection string of a bench database
//! and the loader that puts a generated history into the event store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crm_eventstore::{ExpectedVersion, NewEvent, PostgresStore, StreamId};
use crm_projections::customer360::Customer360Model;
use crm_projections::duplicates::DuplicateQueueModel;
use crm_projections::pipeline::PipelineModel;
use crm_projections::sla::SlaModel;
use crm_projections::{
    MemoryDocuments, PostgresDocuments, ProjectedEvent, ProjectorOptions, ReadModel, RebuildLimits,
    RebuildProgress, RebuildTarget, TenantId, rebuild_many,
};
use futures_util::{SinkExt, TryStreamExt, pin_mut};
use tokio::sync::watch;

use crate::history::{Append, History, customers_for, mix, new_event, sla_config};
use crate::report::{env_size, line, load, rate, verdict};
use crate::support::BenchDatabase;

/// The tenant the PostgreSQL parts write.
pub(crate) const TENANT: &str = "acme";

/// The bench tenant, [`TENANT`].
pub(crate) fn bench_tenant() -> TenantId {
    TenantId::new(TENANT).expect("a valid tenant name")
}

/// The connection string of `database` (DATABASE_URL with the bench database's name), for
/// the read models' own pools.
pub(crate) async fn url(database: &BenchDatabase) -> String {
    let name: String = database
        .client()
        .await
        .query_one("SELECT current_database()", &[])
        .await
        .expect("the bench database answers")
        .get(0);
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL is set (the database exists)");
    // libpq takes the last value of a repeated key.
    format!("{admin} dbname={name} sslmode=disable")
}

/// The loader's writer of a stream: one per stream, so a stream's appends keep their order.
pub(crate) fn writer_of(append: &Append, writers: usize) -> usize {
    let id = append.stream.id.as_u128();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "folding the id into a hash"
    )]
    let folded = (id as u64) ^ ((id >> 64) as u64);
    usize::try_from(mix(folded) % writers.max(1) as u64).unwrap_or(0)
}

/// The stored events of one command.
pub(crate) fn stored_events(append: &Append) -> (StreamId, Vec<NewEvent>) {
    let stream = StreamId::new(append.stream.to_string()).expect("a valid stream name");
    (stream, append.events.iter().map(new_event).collect())
}

/// Commands per loader transaction.
const PER_TRANSACTION: usize = 100;

/// Appends `appends` through the store (its append function, hash chains and all), in the
/// history's order, from `writers` connections that each commit up to 100 commands per
/// transaction: a window of commands is split by stream among the writers, and windows run
/// one after another, so each stream keeps its order and the global order follows the
/// history's within a window. Returns the events appended.
///
/// Loading is not what the parts measure; batching commands into transactions only makes it
/// quicker (a transaction's events share its id, as a saga's would).
pub(crate) async fn load_history(
    store: &PostgresStore,
    tenant: &TenantId,
    appends: &[Append],
    writers: usize,
) -> usize {
    let writers = writers.max(1);
    let mut loaded = 0;
    for window in appends.chunks(writers * PER_TRANSACTION) {
        let mut parts: Vec<Vec<&Append>> = vec![Vec::new(); writers];
        for append in window {
            parts[writer_of(append, writers)].push(append);
        }
        let written = futures_util::future::join_all(
            parts
                .iter()
                .filter(|part| !part.is_empty())
                .map(|part| write_part(store, tenant, part)),
        )
        .await;
        loaded += written.iter().sum::<usize>();
    }
    loaded
}

async fn write_part(store: &PostgresStore, tenant: &TenantId, part: &[&Append]) -> usize {
    let mut client = store.client().await.expect("a pooled connection");
    let transaction = client.transaction().await.expect("a transaction");
    let mut events = 0;
    for append in part {
        let (stream, new) = stored_events(append);
        store
            .append_in(&transaction, tenant, &stream, ExpectedVersion::Any, &new)
            .await
            .expect("the store appends the generated history");
        events += new.len();
    }
    transaction.commit().await.expect("the load commits");
    events
}

/// One model's rebuild: its table and when it went live (from the common start).
struct Rebuilt {
    table: String,
    finished: Duration,
}

/// A model version's table, connected with its own pool of 2.
async fn target<M>(url: &str, model: M) -> Arc<PostgresDocuments<M>>
where
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    Arc::new(
        PostgresDocuments::connect(url, 2, model)
            .await
            .expect("the read model's table is made"),
    )
}

/// Whether `target` went live for the bench tenant.
async fn is_live<M>(target: &PostgresDocuments<M>) -> bool
where
    M: ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    target
        .is_live(&bench_tenant())
        .await
        .expect("live version read")
}

/// The four models rebuilt together through `rebuild_many`: the store's pages are read and
/// decoded once and folded into all four, each committing to its own table.
async fn rebuild_all(
    store: PostgresStore,
    url: &str,
    options: ProjectorOptions,
    started: Instant,
) -> [Rebuilt; 4] {
    let customer = target(url, Customer360Model).await;
    let sla = target(url, SlaModel::new(sla_config())).await;
    let pipeline = target(url, PipelineModel).await;
    let duplicates = target(url, DuplicateQueueModel).await;
    let tenant = bench_tenant();
    let defaults = RebuildLimits::default();
    let limits = RebuildLimits {
        events_per_commit: usize::try_from(env_size(
            "PROJ_BENCH_REBUILD_COMMIT_EVENTS",
            defaults.events_per_commit as u64,
        ))
        .unwrap_or(defaults.events_per_commit),
        documents: usize::try_from(env_size(
            "PROJ_BENCH_REBUILD_DOCUMENTS",
            defaults.documents as u64,
        ))
        .unwrap_or(defaults.documents),
    };
    let targets: Vec<Box<dyn RebuildTarget>> = vec![
        Box::new(customer.rebuild_writer(tenant.clone(), limits)),
        Box::new(sla.rebuild_writer(tenant.clone(), limits)),
        Box::new(pipeline.rebuild_writer(tenant.clone(), limits)),
        Box::new(duplicates.rebuild_writer(tenant, limits)),
    ];
    let (progress, _) = watch::channel(RebuildProgress::default());
    rebuild_many(store, targets, bench_tenant(), options, &progress)
        .await
        .expect("the rebuild runs to the switch");
    let finished = started.elapsed();
    assert!(progress.borrow().switched, "the rebuilt versions went live");
    assert!(is_live(&customer).await, "{} is live", customer.table());
    assert!(is_live(&sla).await, "{} is live", sla.table());
    assert!(is_live(&pipeline).await, "{} is live", pipeline.table());
    assert!(is_live(&duplicates).await, "{} is live", duplicates.table());
    [
        customer.table(),
        sla.table(),
        pipeline.table(),
        duplicates.table(),
    ]
    .map(|table| Rebuilt {
        table: table.to_owned(),
        finished,
    })
}

/// The documents the same history folds to in memory: what a rebuilt table should hold.
fn in_memory<M: ReadModel>(model: M, events: &[ProjectedEvent]) -> usize {
    MemoryDocuments::fold(model, events)
        .expect("the models apply every generated event")
        .len(&bench_tenant())
}

/// The raw baseline: the rebuilt tables' rows, taken out with a binary COPY beforehand,
/// copied into twins of the tables (same columns, key and indexes) with one binary COPY per
/// table, all four at once as the rebuilds ran. Best of `rounds` (emptied in between).
async fn raw_copy(database: &BenchDatabase, tables: &[String], rounds: usize) -> (Duration, usize) {
    let client = database.client().await;
    let mut payloads: Vec<(String, Vec<Bytes>)> = Vec::new();
    for table in tables {
        client
            .batch_execute(&format!(
                "CREATE TABLE raw_{table} (LIKE {table} INCLUDING ALL)"
            ))
            .await
            .expect("create the raw twin");
        let out = client
            .copy_out(&format!("COPY {table} TO STDOUT (FORMAT binary)"))
            .await
            .expect("copy the rebuilt rows out");
        pin_mut!(out);
        let mut chunks = Vec::new();
        while let Some(chunk) = out.try_next().await.expect("the copy streams") {
            chunks.push(chunk);
        }
        payloads.push((format!("raw_{table}"), chunks));
    }
    let bytes = payloads
        .iter()
        .flat_map(|(_, chunks)| chunks.iter().map(Bytes::len))
        .sum();
    let mut clients = Vec::new();
    for _ in tables {
        clients.push(database.client().await);
    }
    let mut best = Duration::MAX;
    for _ in 0..rounds.max(1) {
        for (table, _) in &payloads {
            client
                .batch_execute(&format!("TRUNCATE {table}"))
                .await
                .expect("empty the raw twin");
        }
        let started = Instant::now();
        futures_util::future::join_all(clients.iter().zip(&payloads).map(
            |(client, (table, chunks))| async move {
                let sink = client
                    .copy_in::<_, Bytes>(&format!("COPY {table} FROM STDIN (FORMAT binary)"))
                    .await
                    .expect("start the raw copy");
                pin_mut!(sink);
                for chunk in chunks {
                    sink.feed(chunk.clone()).await.expect("send the rows");
                }
                sink.flush().await.expect("send the rows");
                sink.finish().await.expect("the raw copy commits")
            },
        ))
        .await;
        best = best.min(started.elapsed());
    }
    (best, bytes)
}

async fn measure(events_wanted: u64, batch_size: usize, writers: usize) {
    let generated = Instant::now();
    let customers = customers_for(events_wanted);
    let history = History::generate(0, customers);
    let generated = generated.elapsed();
    let database = BenchDatabase::create("proj_rebuild").await;
    let store = database.store(writers + 2).await;
    let url = url(&database).await;
    let loading = Instant::now();
    let loaded = load_history(&store, &bench_tenant(), &history.appends, writers).await;
    let loading = loading.elapsed();
    database
        .client()
        .await
        .batch_execute("VACUUM ANALYZE events")
        .await
        .expect("analyse the loaded events");
    line(&format!(
        "rebuild: {customers} customers, {loaded} events in the event store (generated in {:.1} s, loaded by {writers} writers in {:.1} s, {:.0} events/s); load {}",
        generated.as_secs_f64(),
        loading.as_secs_f64(),
        rate(loaded, loading),
        load()
    ));

    let options = ProjectorOptions {
        batch_size,
        ..ProjectorOptions::default()
    };
    let started = Instant::now();
    let rebuilt = rebuild_all(store.clone(), &url, options, started).await;
    let wall = rebuilt
        .iter()
        .map(|model| model.finished)
        .max()
        .unwrap_or_default();
    let events = history.projected(&bench_tenant(), 1);
    let expected = [
        in_memory(Customer360Model, &events),
        in_memory(SlaModel::new(sla_config()), &events),
        in_memory(PipelineModel, &events),
        in_memory(DuplicateQueueModel, &events),
    ];
    drop(events);
    let client = database.client().await;
    let mut rows = 0;
    for (model, expected) in rebuilt.iter().zip(expected) {
        let documents: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {} WHERE tenant_id = $1", model.table),
                &[&TENANT],
            )
            .await
            .expect("count the rebuilt documents")
            .get(0);
        rows += documents;
        line(&format!(
            "rebuild: {} live after {:.2} s ({:.0} events/s for this model), {documents} documents (in-memory fold of the same history: {expected}, {})",
            model.table,
            model.finished.as_secs_f64(),
            rate(loaded, model.finished),
            if usize::try_from(documents).ok() == Some(expected) {
                "equal"
            } else {
                "DIFFERENT"
            },
        ));
    }
    let tables: Vec<String> = rebuilt.iter().map(|model| model.table.clone()).collect();
    let (copy, bytes) = raw_copy(&database, &tables, 3).await;
    let ours = rate(loaded, wall);
    let raw = rate(loaded, copy);
    let ratio = ours / raw;
    line(&format!(
        "RESULT rebuild: all four models (one rebuild_many: pages of {batch_size} read once, four blue/green targets, pools of 2) from {loaded} events in {:.2} s = {ours:.0} events/s, target >= 50,000: {}; raw binary COPY of the {rows} rows they produced ({:.1} MB, four concurrent COPYs into twin tables with the same keys and indexes, best of 3) {:.3} s = {raw:.0} events/s equivalent; ratio {ratio:.3}, target >= 0.5: {}; load {}",
        wall.as_secs_f64(),
        verdict(ours >= 50_000.0),
        {
            #[expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
            let megabytes = bytes as f64 / 1e6;
            megabytes
        },
        copy.as_secs_f64(),
        verdict(ratio >= 0.5),
        load()
    ));
    database.drop_now().await;
}

/// Runs the measurement and prints it. `PROJ_BENCH_REBUILD_EVENTS` (default 200,000; the
/// target's size is 1,000,000), `PROJ_BENCH_REBUILD_BATCH` (events per rebuild batch,
/// default 2,000), `PROJ_BENCH_LOAD_WRITERS` (loader connections, default 4).
pub(crate) fn run() {
    let events = env_size("PROJ_BENCH_REBUILD_EVENTS", 200_000);
    let batch = usize::try_from(env_size("PROJ_BENCH_REBUILD_BATCH", 2_000)).unwrap_or(2_000);
    let writers = usize::try_from(env_size("PROJ_BENCH_LOAD_WRITERS", 4)).unwrap_or(4);
    crate::support::runtime().block_on(measure(events, batch, writers));
}
