//! The read side at scale: Customer 360 by contact id, and the SLA breach list (first 100 by
//! deadline), each timed call by call against the production tables, indexes and query code
//! (`PostgresDocuments::lookup` and `scan`), with C customers in PostgreSQL.
//!
//! Filling a million customers through the event store and the projectors would take far
//! longer than the queries: the tables are filled instead by folding generated histories in
//! memory (the same models, `MemoryDocuments`) a chunk of customers at a time and writing the
//! documents with one binary COPY per chunk, in the adapter's row shape (key, kind, stamp,
//! JSONB document, and the model's own indexed columns from `ReadModel::indexed`). The
//! printed conditions say so, and a sample of documents is read back through the adapter to
//! show they are what it would have written.

use std::cell::Cell;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_domain::ContactId;
use crm_projections::customer360::{Customer360Model, Customer360Query};
use crm_projections::sla::SlaModel;
use crm_projections::sla::query::BreachList;
use crm_projections::{
    ColumnType, DocKey, DocumentStore, IndexValue, MemoryDocuments, PostgresDocuments, ReadModel,
};
use futures_util::pin_mut;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::history::{History, epoch, mix, sla_config};
use crate::rebuild::{TENANT, bench_tenant, url};
use crate::report::{Quantiles, env_size, line, load, verdict};
use crate::support::BenchDatabase;

/// Customers generated and folded at a time.
const CHUNK: u64 = 20_000;

/// One indexed column's value in a COPY row (NULL when the model gives none).
enum Value {
    Text(Option<String>),
    Uuid(Option<uuid::Uuid>),
    Int(Option<i64>),
    Time(Option<DateTime<Utc>>),
    Bool(Option<bool>),
}

impl Value {
    fn of(column_type: ColumnType, value: Option<IndexValue>) -> Self {
        match (column_type, value) {
            (ColumnType::Text, Some(IndexValue::Text(text))) => Value::Text(Some(text)),
            (ColumnType::Uuid, Some(IndexValue::Uuid(id))) => Value::Uuid(Some(id)),
            (ColumnType::Int, Some(IndexValue::Int(number))) => Value::Int(Some(number)),
            (ColumnType::Time, Some(IndexValue::Time(at))) => Value::Time(Some(at)),
            (ColumnType::Bool, Some(IndexValue::Bool(flag))) => Value::Bool(Some(flag)),
            (ColumnType::Text, _) => Value::Text(None),
            (ColumnType::Uuid, _) => Value::Uuid(None),
            (ColumnType::Int, _) => Value::Int(None),
            (ColumnType::Time, _) => Value::Time(None),
            (ColumnType::Bool, _) => Value::Bool(None),
        }
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Text(value) => value,
            Value::Uuid(value) => value,
            Value::Int(value) => value,
            Value::Time(value) => value,
            Value::Bool(value) => value,
        }
    }
}

fn sql_type(column_type: ColumnType) -> Type {
    match column_type {
        ColumnType::Text => Type::TEXT,
        ColumnType::Uuid => Type::UUID,
        ColumnType::Int => Type::INT8,
        ColumnType::Time => Type::TIMESTAMPTZ,
        ColumnType::Bool => Type::BOOL,
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).expect("positions far below 2^63")
}

/// Writes the tenant's documents in `folded` that are not in `written` yet into `table`,
/// in one binary COPY. Returns how many.
async fn copy_documents<M: ReadModel>(
    client: &Client,
    table: &str,
    folded: &MemoryDocuments<M>,
    written: &mut HashSet<DocKey>,
) -> usize {
    let mut names = String::from("tenant_id, key, kind, tx_id, position, doc");
    let mut types = vec![
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::JSONB,
    ];
    for column in M::COLUMNS {
        names.push_str(", c_");
        names.push_str(column.name);
        types.push(sql_type(column.column_type));
    }
    let sink = client
        .copy_in(&format!(
            "COPY {table} ({names}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .expect("start the COPY");
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let tenant = bench_tenant();
    let mut copied = 0;
    for stored in folded.documents(&tenant) {
        if !written.insert(stored.key) {
            continue;
        }
        let key = stored.key.to_string();
        let transaction = to_i64(stored.position.transaction);
        let position = to_i64(stored.position.position);
        let doc = serde_json::to_value(&stored.doc).expect("documents encode");
        let mut indexed = M::indexed(&stored.key, &stored.doc);
        let values: Vec<Value> = M::COLUMNS
            .iter()
            .map(|column| {
                let value = indexed
                    .iter()
                    .position(|(name, _)| *name == column.name)
                    .map(|at| indexed.swap_remove(at).1);
                Value::of(column.column_type, value)
            })
            .collect();
        let mut row: Vec<&(dyn ToSql + Sync)> = vec![
            &TENANT,
            &key,
            &stored.key.kind,
            &transaction,
            &position,
            &doc,
        ];
        row.extend(values.iter().map(Value::as_sql));
        writer.as_mut().write(&row).await.expect("the row is sent");
        copied += 1;
    }
    writer.finish().await.expect("the COPY commits");
    copied
}

/// The filled tables: the customers' contacts, and the history's last instant.
struct Filled {
    contacts: Vec<ContactId>,
    last_at: DateTime<Utc>,
    events: usize,
    documents: [usize; 2],
}

async fn fill(client: &Client, customers_table: &str, sla_table: &str, customers: u64) -> Filled {
    let tenant = bench_tenant();
    let mut contacts = Vec::with_capacity(usize::try_from(customers).unwrap_or(0));
    let mut written = (HashSet::new(), HashSet::new());
    let mut documents = [0, 0];
    let mut position = 1;
    let mut last_at = epoch();
    let mut events_total = 0;
    let mut first = 0;
    while first < customers {
        let count = CHUNK.min(customers - first);
        let history = History::generate(first, count);
        contacts.extend(history.customers.iter().map(|customer| customer.contact));
        let events = history.projected(&tenant, position);
        position += events.len() as u64;
        events_total += events.len();
        if let Some(last) = history.appends.last() {
            last_at = last_at.max(last.at);
        }
        let folded = MemoryDocuments::fold(Customer360Model, &events)
            .expect("the models apply every generated event");
        documents[0] += copy_documents(client, customers_table, &folded, &mut written.0).await;
        drop(folded);
        let folded = MemoryDocuments::fold(SlaModel::new(sla_config()), &events)
            .expect("the models apply every generated event");
        documents[1] += copy_documents(client, sla_table, &folded, &mut written.1).await;
        first += count;
    }
    Filled {
        contacts,
        last_at,
        events: events_total,
        documents,
    }
}

/// Times `runs` calls of `call` one after another, after `warm` untimed ones.
async fn time_calls<F, Fut>(warm: usize, runs: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for run in 0..warm {
        call(run).await;
    }
    let mut timings = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        call(warm + run).await;
        timings.push(started.elapsed());
    }
    timings
}

async fn measure(customers: u64, lookups: usize, breach_runs: usize) {
    let database = BenchDatabase::create("proj_queries").await;
    let url = url(&database).await;
    let customer_360 = PostgresDocuments::connect(&url, 2, Customer360Model)
        .await
        .expect("the Customer 360 table is made");
    let config = sla_config();
    let sla = PostgresDocuments::connect(&url, 2, SlaModel::new(config.clone()))
        .await
        .expect("the SLA table is made");
    let client = database.client().await;
    let filling = Instant::now();
    let filled = fill(&client, customer_360.table(), sla.table(), customers).await;
    for table in [customer_360.table(), sla.table()] {
        // One statement per call: VACUUM refuses the implicit transaction of a batch.
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await
            .expect("vacuum and analyse the filled tables");
    }
    let size = |table: &str| {
        let client = &client;
        let table = table.to_owned();
        async move {
            let bytes: i64 = client
                .query_one(
                    "SELECT pg_total_relation_size($1::text::regclass)",
                    &[&table],
                )
                .await
                .expect("table size")
                .get(0);
            #[expect(clippy::cast_precision_loss, reason = "sizes far below 2^52")]
            let megabytes = bytes as f64 / 1e6;
            megabytes
        }
    };
    line(&format!(
        "queries: {customers} customers ({} events) folded in memory and written by binary COPY in the adapter's row shape (not through the event store and projectors) in {:.1} s: {} has {} documents ({:.0} MB with indexes), {} has {} ({:.0} MB); load {}",
        filled.events,
        filling.elapsed().as_secs_f64(),
        customer_360.table(),
        filled.documents[0],
        size(customer_360.table()).await,
        sla.table(),
        filled.documents[1],
        size(sla.table()).await,
        load()
    ));

    let tenant = bench_tenant();
    // The rows read back through the adapter, as it would have written them.
    let sample = filled.contacts.first().copied().expect("customers filled");
    let found = customer_360
        .get(&tenant, &DocKey::new("contact", sample.0))
        .await
        .expect("the adapter reads a filled document");
    assert!(
        found.is_some(),
        "the first customer's contact document is there"
    );

    let pick = |run: usize| {
        let index = mix(run as u64) % filled.contacts.len() as u64;
        filled.contacts[usize::try_from(index).unwrap_or(0)]
    };
    let answered = Cell::new(0usize);
    let mut lookup_timings = time_calls(1_000, lookups, |run| {
        let query = Customer360Query { contact: pick(run) };
        let customer_360 = &customer_360;
        let tenant = &tenant;
        let answered = &answered;
        async move {
            let view = customer_360
                .lookup(tenant, &query)
                .await
                .expect("the lookup runs");
            if view.is_some() {
                answered.set(answered.get() + 1);
            }
        }
    })
    .await;
    let lookup = Quantiles::of(&mut lookup_timings);
    line(&format!(
        "RESULT queries: Customer 360 by id (PostgresDocuments::lookup, {lookups} random customers of {customers}, one at a time after 1,000 warm-up, {} of {} answered): {lookup}; target p99 <= 2 ms: {}; load {}",
        answered.get(),
        lookups + 1_000,
        verdict(lookup.p99 <= 2.0),
        load()
    ));

    // The CRM's present: the last generated instant, so the breaches of the whole history count.
    let now = filled.last_at;
    let returned = Cell::new(0usize);
    let mut breach_timings = time_calls(20, breach_runs, |_| {
        let query = BreachList {
            config: &config,
            now,
            limit: 100,
            after: None,
        };
        let sla = &sla;
        let tenant = &tenant;
        let returned = &returned;
        async move {
            returned.set(
                sla.scan(tenant, &query)
                    .await
                    .expect("the scan runs")
                    .items
                    .len(),
            );
        }
    })
    .await;
    let breaches = Quantiles::of(&mut breach_timings);
    let breached: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {} WHERE tenant_id = $1 AND c_deadline < $2",
                sla.table()
            ),
            &[&TENANT, &now],
        )
        .await
        .expect("count the breaches")
        .get(0);
    line(&format!(
        "RESULT queries: SLA breach list, first 100 by deadline (PostgresDocuments::scan of BreachList as of {now}, {breached} items breached of {}, {} returned, {breach_runs} calls after 20 warm-up): {breaches}; target p99 <= 5 ms: {}; load {}",
        filled.documents[1],
        returned.get(),
        verdict(breaches.p99 <= 5.0),
        load()
    ));
    // Why the breach list costs what it does: the plan of the scan's statement (as the adapter
    // builds it for this selection).
    let plan = client
        .query(
            &format!(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT key, tx_id, position, doc FROM (\
                 (SELECT key, tx_id, position, doc, c_deadline AS o FROM {table} \
                 WHERE tenant_id = $1 AND kind = ($2::text[])[1] AND c_deadline < $3 \
                 AND c_deadline IS NOT NULL ORDER BY c_deadline, key LIMIT 100) UNION ALL \
                 (SELECT key, tx_id, position, doc, c_deadline AS o FROM {table} \
                 WHERE tenant_id = $1 AND kind = ($2::text[])[2] AND c_deadline < $3 \
                 AND c_deadline IS NOT NULL ORDER BY c_deadline, key LIMIT 100)\
                 ) AS branches ORDER BY o, key LIMIT 100",
                table = sla.table()
            ),
            &[&TENANT, &vec!["lead", "ticket"], &now],
        )
        .await
        .expect("explain the breach list");
    let plan: Vec<String> = plan
        .iter()
        .map(|row| row.get::<_, String>(0).trim().to_owned())
        .collect();
    line(&format!("queries: breach list plan: {}", plan.join(" | ")));
    drop(customer_360);
    drop(sla);
    drop(client);
    database.drop_now().await;
}

/// Runs the measurement and prints it. `PROJ_BENCH_QUERY_CUSTOMERS` (default 100,000; the
/// target's size is 1,000,000), `PROJ_BENCH_QUERY_LOOKUPS` (default 10,000),
/// `PROJ_BENCH_QUERY_BREACH_RUNS` (default 1,000).
pub(crate) fn run() {
    let customers = env_size("PROJ_BENCH_QUERY_CUSTOMERS", 100_000).max(1);
    let lookups = usize::try_from(env_size("PROJ_BENCH_QUERY_LOOKUPS", 10_000)).unwrap_or(10_000);
    let breach_runs =
        usize::try_from(env_size("PROJ_BENCH_QUERY_BREACH_RUNS", 1_000)).unwrap_or(1_000);
    crate::support::runtime().block_on(measure(customers, lookups, breach_runs));
}
