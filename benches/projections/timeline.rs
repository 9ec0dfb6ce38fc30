//! Timelines in insert-only rows: what a ticket reply costs the Customer 360 when the ticket
//! already holds a long history, and what a page of a long timeline costs to read.
//!
//! One customer's ticket gets `PROJ_BENCH_TIMELINE_REPLIES` customer replies (10,000); other
//! customers (`PROJ_BENCH_TIMELINE_CUSTOMERS`, 2,000) each get a ticket with ten replies, so
//! the table is not that one customer alone. Then, alternately, one more reply to the long
//! ticket and one to a short one are committed one event per batch, as a live projector does,
//! and timed: with each reply a row of its own, both cost the same. Reads: the first page of
//! 50 of the long ticket's own timeline (`RecordTimeline`), a page 5,000 rows deep (from a
//! cursor), and the customer's combined timeline (`TimelineQuery::run`). No target is set by
//! the issue; the figures say what the layout costs.
//!
//! Sizes: `PROJ_BENCH_TIMELINE_REPLIES`, `PROJ_BENCH_TIMELINE_CUSTOMERS`,
//! `PROJ_BENCH_TIMELINE_RUNS` (200).

use std::time::{Duration, Instant};

use crm_domain::ticket::TicketCommand;
use crm_domain::{Channel, ContactId, Priority, TicketId};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_projections::customer360::{
    Customer360Model, RecordTimeline, TimelineCursor, TimelineQuery,
};
use crm_projections::{
    DocumentStore, MemoryStorage, PostgresDocuments, ProjectedEvent, ProjectionBatch,
    SqliteDocuments,
};
use crm_testkit::world::{World, as_system, minutes};
use uuid::Uuid;

use crate::rebuild::{bench_tenant, url};
use crate::report::{Quantiles, apply_in_batches, env_size, line, load};
use crate::support::BenchDatabase;

/// Events applied per commit while loading the history, as a projector catching up.
const BATCH: usize = 1_000;

fn contact(n: u64) -> Uuid {
    Uuid::from_u128(0xc0_0000_0000 + u128::from(n))
}

fn ticket(n: u64) -> Uuid {
    Uuid::from_u128(0x71_0000_0000 + u128::from(n))
}

fn open(world: &mut World, n: u64) {
    world
        .ticket(
            ticket(n),
            TicketCommand::Open {
                ticket: TicketId(ticket(n)),
                contact: ContactId(contact(n)),
                subject: format!("Ticket {n}"),
                channel: Channel::Email,
                priority: Priority::Normal,
                message: Some("It is broken".into()),
                follow_up_of: None,
                account: None,
            },
            &as_system(minutes(0)),
        )
        .expect("the ticket opens");
}

fn reply(world: &mut World, n: u64, at: i64) {
    world
        .ticket(
            ticket(n),
            TicketCommand::RecordCustomerReply {
                from: ContactId(contact(n)),
                body: "Any news?".into(),
                channel: Channel::Email,
            },
            &as_system(minutes(at)),
        )
        .expect("the reply is recorded");
}

/// The history (the long ticket is number 0), and the events of `runs` more replies each to
/// the long ticket and to a short one, alternately.
fn history(replies: u64, customers: u64, runs: usize) -> (Vec<ProjectedEvent>, usize) {
    let mut world = World::new();
    open(&mut world, 0);
    for at in 0..replies {
        reply(&mut world, 0, i64::try_from(at).unwrap_or(0));
    }
    for n in 1..=customers {
        open(&mut world, n);
        for at in 0..10 {
            reply(&mut world, n, at);
        }
    }
    let loaded = world.events().len();
    for run in 0..runs {
        let at = i64::try_from(replies).unwrap_or(0) + i64::try_from(run).unwrap_or(0);
        reply(&mut world, 0, at);
        reply(&mut world, 1 + (run as u64 % customers.max(1)), at);
    }
    (world.events().to_vec(), loaded)
}

async fn measure_on<S: DocumentStore<Customer360Model>>(
    backend: &str,
    store: &S,
    events: &[ProjectedEvent],
    loaded: usize,
    replies: u64,
    runs: usize,
) {
    let tenant = bench_tenant();
    apply_in_batches(store, &events[..loaded], BATCH).await;
    let mut checkpoint = events[..loaded].last().map(ProjectedEvent::global_position);
    let (mut long, mut short) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for (n, event) in events[loaded..].iter().enumerate() {
        let through = event.global_position();
        let started = Instant::now();
        store
            .commit(
                &tenant,
                checkpoint,
                &ProjectionBatch::new(vec![event.clone()], through),
            )
            .await
            .expect("the reply commits");
        let took = started.elapsed();
        checkpoint = Some(through);
        if n % 2 == 0 { &mut long } else { &mut short }.push(took);
    }
    line(&format!(
        "timeline ({backend}): a reply committed alone, to the ticket with {replies} replies {}",
        Quantiles::of(&mut long)
    ));
    line(&format!(
        "timeline ({backend}): a reply committed alone, to a ticket with 10 replies {}",
        Quantiles::of(&mut short)
    ));

    let first = RecordTimeline {
        record: ticket(0),
        before: None,
        limit: 50,
    };
    let mut deep_cursor: Option<TimelineCursor> = None;
    let mut page = first.clone();
    for _ in 0..100 {
        let answer = store.scan(&tenant, &page).await.expect("a page");
        deep_cursor = answer.next.clone();
        page.before = answer.next;
    }
    let deep = RecordTimeline {
        before: deep_cursor,
        ..first.clone()
    };
    let customer = TimelineQuery {
        contact: ContactId(contact(0)),
        before: None,
        limit: 50,
    };
    for (name, query) in [
        ("first page of 50", &first),
        ("page of 50, 5,000 deep", &deep),
    ] {
        let mut timings: Vec<Duration> = Vec::with_capacity(runs);
        for n in 0..runs + runs / 10 {
            let started = Instant::now();
            let answer = store.scan(&tenant, query).await.expect("a page");
            if n >= runs / 10 {
                timings.push(started.elapsed());
            }
            assert_eq!(answer.items.len(), 50, "a full page");
        }
        line(&format!(
            "timeline ({backend}): the long ticket's {name} {}",
            Quantiles::of(&mut timings)
        ));
    }
    let mut timings: Vec<Duration> = Vec::with_capacity(runs);
    for n in 0..runs + runs / 10 {
        let started = Instant::now();
        let answer = customer.run(store, &tenant).await.expect("a page");
        if n >= runs / 10 {
            timings.push(started.elapsed());
        }
        assert_eq!(answer.items.len(), 50, "a full page");
    }
    line(&format!(
        "timeline ({backend}): the customer's combined first page of 50 {}",
        Quantiles::of(&mut timings)
    ));
}

/// Runs the timeline measurements on every backend.
pub(crate) fn run() {
    let replies = env_size("PROJ_BENCH_TIMELINE_REPLIES", 10_000);
    let customers = env_size("PROJ_BENCH_TIMELINE_CUSTOMERS", 2_000);
    let runs = usize::try_from(env_size("PROJ_BENCH_TIMELINE_RUNS", 200)).unwrap_or(200);
    let generating = Instant::now();
    let (events, loaded) = history(replies, customers, runs);
    line(&format!(
        "timeline: {} events generated through the aggregates in {:.1} s; load {}",
        events.len(),
        generating.elapsed().as_secs_f64(),
        load()
    ));
    crate::support::runtime().block_on(async {
        let memory = MemoryStorage::new(Customer360Model);
        measure_on("memory", &memory, &events, loaded, replies, runs).await;

        let database = BenchDatabase::create("proj_timeline").await;
        let postgres = PostgresDocuments::connect(&url(&database).await, 2, Customer360Model)
            .await
            .expect("the table is made");
        measure_on("postgres", &postgres, &events, loaded, replies, runs).await;
        drop(postgres);
        database.drop_now().await;

        let directory = tempfile::tempdir().expect("a temporary directory");
        let sqlite = SqliteDocuments::open(
            SqliteDatabase::open(directory.path().join("timeline.db")).expect("the file opens"),
            Customer360Model,
        )
        .expect("the table is made");
        measure_on("sqlite", &sqlite, &events, loaded, replies, runs).await;
    });
}
