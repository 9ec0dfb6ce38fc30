//! Custom field values: one record's values by id, and the records of a kind found by filters
//! (`RecordsWhere::run`, evaluated on the documents: a page reads the kind's documents after
//! its cursor in rounds of growing size until it is full), at N tasks with values.
//!
//! Every task gets a tier (one in ten `gold`, the rest `silver`) and a seat count; the
//! queries are the first page of 50 gold tasks (matches are dense: the page fills early), the
//! first page of 50 tasks with more than 495 seats (sparse: about one in a hundred), and a
//! filter nothing matches (every document read, up to `MOST_READ_PER_PAGE`: the worst case). No target is set by the
//! issue; the figures say what the scan costs.
//!
//! Sizes: `PROJ_BENCH_CUSTOM_RECORDS` (100,000), `PROJ_BENCH_CUSTOM_RUNS` (50).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_domain::custom_fields::{
    CustomFieldSchema, CustomFieldsUpdate, CustomFilter, EntityKind, FilterRequest, SchemaDraft,
};
use crm_domain::task::TaskCommand;
use crm_domain::{Priority, TaskId};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_projections::custom_fields::{CustomFieldModel, CustomValuesLookup, RecordsWhere};
use crm_projections::{
    DocumentStore, MemoryStorage, PostgresDocuments, ProjectedEvent, SqliteDocuments,
};
use crm_testkit::world::{ALICE, World, as_user, minutes};
use serde_json::json;
use uuid::Uuid;

use crate::rebuild::{bench_tenant, url};
use crate::report::{Quantiles, apply_in_batches, env_size, line, load};
use crate::support::BenchDatabase;

/// Events applied per commit, as a projector's batch.
const BATCH: usize = 1_000;

fn schema() -> Arc<CustomFieldSchema> {
    let draft: SchemaDraft = serde_json::from_value(json!({
        "entity": "task",
        "version": 1,
        "fields": [
            {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": [
                {"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"},
                {"key": "bronze", "label": "Bronze"}]}},
            {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}}
        ]
    }))
    .expect("a schema draft");
    Arc::new(CustomFieldSchema::new(draft).expect("a valid schema"))
}

fn task(n: u64) -> Uuid {
    Uuid::from_u128(0x7a5c_0000_0000 + u128::from(n))
}

/// `records` tasks, each created and given its values, by the aggregates' own `decide`.
fn history(records: u64) -> Vec<ProjectedEvent> {
    let schema = schema();
    let mut world = World::new();
    for n in 0..records {
        let ctx = as_user(ALICE, minutes(i64::try_from(n / 1_000).unwrap_or(0)));
        world
            .task(
                task(n),
                TaskCommand::Create {
                    task: TaskId(task(n)),
                    title: format!("Task {n}"),
                    description: None,
                    owner: ALICE,
                    concerns: None,
                    contact: None,
                    due_at: None,
                    priority: Priority::Normal,
                },
                &ctx,
            )
            .expect("the task is created");
        let tier = if n % 10 == 0 { "gold" } else { "silver" };
        let serde_json::Value::Object(changes) = json!({"tier": tier, "seats": n % 500}) else {
            continue;
        };
        world
            .task(
                task(n),
                TaskCommand::SetCustomFields(CustomFieldsUpdate::new(Arc::clone(&schema), changes)),
                &ctx,
            )
            .expect("the values are set");
    }
    world.events().to_vec()
}

fn filter(request: serde_json::Value) -> CustomFilter {
    let request: FilterRequest = serde_json::from_value(request).expect("a filter");
    schema().filter(&request).expect("a valid filter")
}

/// The queries measured, by name.
fn queries() -> Vec<(&'static str, RecordsWhere)> {
    let page = |filters: Vec<CustomFilter>| RecordsWhere::new(EntityKind::Task, filters, 50);
    vec![
        (
            "first 50 gold (dense)",
            page(vec![filter(
                json!({"op": "equals", "field": "tier", "value": "gold"}),
            )]),
        ),
        (
            "first 50 with seats > 495 (sparse)",
            page(vec![filter(
                json!({"op": "range", "field": "seats", "min": 496}),
            )]),
        ),
        (
            "bronze: no match, the whole kind read",
            page(vec![filter(
                json!({"op": "equals", "field": "tier", "value": "bronze"}),
            )]),
        ),
    ]
}

async fn measure_on<S: DocumentStore<CustomFieldModel>>(
    backend: &str,
    store: &S,
    records: u64,
    runs: usize,
) {
    let tenant = bench_tenant();
    let mut timings: Vec<Duration> = Vec::with_capacity(runs);
    for n in 0..runs + runs / 10 {
        let record = task((n as u64 * 7_919) % records.max(1));
        let started = Instant::now();
        let found = store
            .lookup(&tenant, &CustomValuesLookup { record })
            .await
            .expect("the lookup answers");
        if n >= runs / 10 {
            timings.push(started.elapsed());
        }
        assert!(found.is_some(), "every task has values");
    }
    line(&format!(
        "custom fields ({backend}, {records} tasks): one record's values by id {}",
        Quantiles::of(&mut timings)
    ));
    for (name, query) in queries() {
        let mut timings: Vec<Duration> = Vec::with_capacity(runs);
        let mut found = 0;
        for n in 0..runs + runs / 10 {
            let started = Instant::now();
            let page = query.run(store, &tenant).await.expect("the search answers");
            if n >= runs / 10 {
                timings.push(started.elapsed());
            }
            found = page.items.len();
        }
        line(&format!(
            "custom fields ({backend}, {records} tasks): {name}: {found} found, {}",
            Quantiles::of(&mut timings)
        ));
    }
}

/// Runs the custom field measurements on every backend.
pub(crate) fn run() {
    let records = env_size("PROJ_BENCH_CUSTOM_RECORDS", 100_000);
    let runs = usize::try_from(env_size("PROJ_BENCH_CUSTOM_RUNS", 50)).unwrap_or(50);
    let generating = Instant::now();
    let events = history(records);
    line(&format!(
        "custom fields: {} events generated through the aggregates in {:.1} s; load {}",
        events.len(),
        generating.elapsed().as_secs_f64(),
        load()
    ));
    crate::support::runtime().block_on(async {
        let memory = MemoryStorage::new(CustomFieldModel);
        apply_in_batches(&memory, &events, BATCH).await;
        measure_on("memory", &memory, records, runs).await;

        let database = BenchDatabase::create("proj_custom").await;
        let postgres = PostgresDocuments::connect(&url(&database).await, 2, CustomFieldModel)
            .await
            .expect("the table is made");
        apply_in_batches(&postgres, &events, BATCH).await;
        measure_on("postgres", &postgres, records, runs).await;
        drop(postgres);
        database.drop_now().await;

        let directory = tempfile::tempdir().expect("a temporary directory");
        let sqlite = SqliteDocuments::open(
            SqliteDatabase::open(directory.path().join("custom.db")).expect("the file opens"),
            CustomFieldModel,
        )
        .expect("the table is made");
        apply_in_batches(&sqlite, &events, BATCH).await;
        measure_on("sqlite", &sqlite, records, runs).await;
    });
}
