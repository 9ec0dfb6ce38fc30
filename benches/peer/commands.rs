//! Workloads 1–3: one command through load → decode → decide → append, per side.
//!
//! - `new_aggregates_1_task`, `new_aggregates_4_tasks`: `Receive` on a lead that does not exist
//!   yet (the read finds nothing), from one task and from four concurrent ones;
//! - `hot_aggregate_100_to_200`: leads that start with 100 events and take 100 commands in a row
//!   (`Escalate`), ours read anew each time and through the stream cache (warmed before the
//!   timing, so "hot");
//! - `prior_100_events`: one `Escalate` on each of many leads with exactly 100 prior events.
//!
//! The raw baseline selects the stream's rows (touching their bytes, decoding nothing) and
//! inserts the command's event as a single-row INSERT into `raw_events`: the two statements any
//! event store's command path needs at least. The leads an arm uses are prepared before its
//! timing starts: our and the raw baseline's histories are appended one call per lead, the
//! peer's inserted in bulk with the rows its own API would write.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_es::CqrsFramework;
use cqrs_es::persist::{PersistedEventStore, SerializedEvent};
use criterion::Criterion;
use crm_eventstore::{
    EventStore, ExpectedVersion, PostgresStore, StoreSettings, StreamCache, StreamRead,
};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, Statement};

use crm_app::{CommandMeta, CommandService, PostgresUnitOfWork, SystemClock};
use crm_domain::Actor;
use crm_domain::lead::Lead;

use crate::compare::{Arm, Ratio, Workload, measure, reference, target};
use crate::databases::{Databases, peer_bulk_insert};
use crate::lead::{
    CommandError, LeadState, PEER_LEAD_TYPE, PeerCommand, PeerLead, PeerLeadEvent, command,
    context, fold, history, lead_id, lead_stream, peer_aggregate_id, scripted_event, to_new_event,
};
use crate::support::{EVENT_COLUMNS, RawEvent, raw_insert, raw_insert_sql, tenant, touch_row};

/// The peer as the issue names it: `CqrsFramework` over `PersistedEventStore` over
/// `PostgresEventRepository`, no queries, no snapshots.
type PeerCqrs = CqrsFramework<PeerLead, PersistedEventStore<PostgresEventRepository, PeerLead>>;

/// One raw connection with its statements (each concurrent task has its own).
struct RawConnection {
    client: Client,
    select: Statement,
    insert: Statement,
}

/// How one side runs a command on a lead, and prepares leads' histories beforehand.
#[derive(Clone)]
enum Side {
    /// Our store: read the stream, decode, fold, decide, encode, append at the version read.
    Ours(PostgresStore),
    /// The same through the stream cache.
    Cached(Arc<StreamCache<PostgresStore, LeadState>>),
    /// Our command service (crm-app): the same command through `CommandService::execute`, its
    /// stream cache warmed by `prepare` when `warm`.
    Service(Arc<CommandService<PostgresUnitOfWork>>, bool),
    /// The peer: `CqrsFramework::execute`; the pool for bulk preparation.
    Peer(Arc<PeerCqrs>, PgPool),
    /// Raw SQL, one connection per task.
    Raw(Arc<Vec<RawConnection>>),
}

impl Side {
    /// Runs the command that records `version` of lead `number`, as task `task`.
    async fn command(&self, task: usize, number: u64, version: u64) {
        match self {
            Side::Ours(store) => {
                let stream = lead_stream(number);
                let recorded = store
                    .read_stream(&tenant(), &stream, StreamRead::forward())
                    .await
                    .expect("read the lead's stream");
                let (lead, at) = fold(recorded);
                let events: Vec<_> = crm_domain::Aggregate::decide(
                    &lead,
                    command(number, version),
                    &context(number, version),
                )
                .expect("the scripted command is accepted")
                .iter()
                .map(to_new_event)
                .collect();
                store
                    .append(&tenant(), &stream, ExpectedVersion::Exact(at), &events)
                    .await
                    .expect("append the decided events");
            }
            Side::Cached(cache) => {
                let ctx = context(number, version);
                cache
                    .decide_and_append::<CommandError, _>(
                        &tenant(),
                        &lead_stream(number),
                        |state| {
                            let events = crm_domain::Aggregate::decide(
                                &state.0,
                                command(number, version),
                                &ctx,
                            )?;
                            Ok(events.iter().map(to_new_event).collect())
                        },
                    )
                    .await
                    .expect("a cached command");
            }
            Side::Service(service, _) => {
                service
                    .execute::<Lead>(
                        &tenant(),
                        lead_id(number).0,
                        command(number, version),
                        &CommandMeta::by(Actor::System {
                            component: "bench".into(),
                        }),
                    )
                    .await
                    .expect("the service executes the scripted command");
            }
            Side::Peer(cqrs, _) => {
                cqrs.execute(
                    &peer_aggregate_id(number),
                    PeerCommand {
                        command: command(number, version),
                        context: context(number, version),
                    },
                )
                .await
                .expect("the peer executes the scripted command");
            }
            Side::Raw(connections) => {
                let connection = &connections[task % connections.len()];
                let stream = lead_stream(number);
                let rows = connection
                    .client
                    .query(&connection.select, &[&"bench", &stream.as_str()])
                    .await
                    .expect("raw stream select");
                let bytes: usize = rows.iter().map(touch_row).sum();
                assert!(bytes > 0 || rows.is_empty());
                let event = RawEvent::from_new(&to_new_event(&scripted_event(number, version)));
                raw_insert(
                    &connection.client,
                    &connection.insert,
                    stream.as_str(),
                    i64::try_from(rows.len()).expect("a short stream") + 1,
                    std::slice::from_ref(&event),
                )
                .await;
            }
        }
    }

    /// Gives leads `numbers` their first `prior` events (untimed).
    async fn prepare(&self, numbers: Range<u64>, prior: u64) {
        if prior == 0 {
            return;
        }
        match self {
            Side::Ours(store) => {
                for number in numbers {
                    append_history(store, number, prior).await;
                }
            }
            Side::Cached(cache) => {
                for number in numbers {
                    append_history(cache.store(), number, prior).await;
                    cache
                        .load(&tenant(), &lead_stream(number))
                        .await
                        .expect("warm the cache");
                }
            }
            Side::Service(service, warm) => {
                for number in numbers {
                    append_history(service.work().event_store(), number, prior).await;
                    if *warm {
                        service
                            .load::<Lead>(&tenant(), lead_id(number).0)
                            .await
                            .expect("warm the service's cache");
                    }
                }
            }
            Side::Peer(_, pool) => {
                let mut rows = Vec::new();
                for number in numbers {
                    let id = peer_aggregate_id(number);
                    for (sequence, event) in (1..).zip(history(number, prior)) {
                        rows.push(peer_row(&id, sequence, event));
                    }
                }
                peer_bulk_insert(pool, PEER_LEAD_TYPE, &rows).await;
            }
            Side::Raw(connections) => {
                let client = &connections[0].client;
                let insert = client
                    .prepare(&raw_insert_sql(
                        usize::try_from(prior).expect("a short history"),
                    ))
                    .await
                    .expect("prepare the raw history insert");
                for number in numbers {
                    let events: Vec<RawEvent> = history(number, prior)
                        .iter()
                        .map(|event| RawEvent::from_new(&to_new_event(event)))
                        .collect();
                    raw_insert(client, &insert, lead_stream(number).as_str(), 1, &events).await;
                }
            }
        }
    }
}

async fn append_history(store: &PostgresStore, number: u64, prior: u64) {
    let events: Vec<_> = history(number, prior).iter().map(to_new_event).collect();
    store
        .append(
            &tenant(),
            &lead_stream(number),
            ExpectedVersion::NoStream,
            &events,
        )
        .await
        .expect("append a lead's history");
}

/// The row the peer's own commit would write for `event` at `sequence` of `aggregate_id`.
fn peer_row(
    aggregate_id: &str,
    sequence: usize,
    event: crm_domain::lead::LeadEvent,
) -> SerializedEvent {
    let event = PeerLeadEvent(event);
    SerializedEvent::new(
        aggregate_id.to_owned(),
        sequence,
        PEER_LEAD_TYPE.to_owned(),
        cqrs_es::DomainEvent::event_type(&event),
        cqrs_es::DomainEvent::event_version(&event),
        serde_json::to_value(&event).expect("a peer event serializes"),
        serde_json::json!({}),
    )
}

/// Which lead and version each next command of an arm goes to: leads numbered from the arm's
/// own offset, each starting with `prior` events and taking `per_lead` commands in a row.
struct Schedule {
    prior: u64,
    per_lead: u64,
    /// The lead taking commands now.
    number: u64,
    /// Commands it has taken.
    taken: u64,
    /// Leads below this number are prepared.
    prepared: u64,
}

/// Leads prepared at a time, at least.
const PREPARE_AHEAD: u64 = 50;

impl Schedule {
    fn new(offset: u64, prior: u64, per_lead: u64) -> Self {
        Self {
            prior,
            per_lead,
            number: offset,
            taken: 0,
            prepared: offset,
        }
    }

    /// The next `count` commands as (lead, version recorded), and the leads to prepare first.
    fn next(&mut self, count: u64) -> (Vec<(u64, u64)>, Range<u64>) {
        let mut plan = Vec::with_capacity(usize::try_from(count).expect("a plan in memory"));
        for _ in 0..count {
            if self.taken == self.per_lead {
                self.number += 1;
                self.taken = 0;
            }
            self.taken += 1;
            plan.push((self.number, self.prior + self.taken));
        }
        let needed = self.number + 1;
        let prepare = if needed > self.prepared {
            let start = self.prepared;
            self.prepared = needed.max(start + PREPARE_AHEAD);
            start..self.prepared
        } else {
            self.prepared..self.prepared
        };
        (plan, prepare)
    }
}

/// Runs `plan` on `side` from `tasks` concurrent tasks (command `i` on task `i % tasks`, so a
/// lead taking several commands in a row stays on one task when `tasks` is 1) and returns the
/// time from the first command to the last completion.
fn run(runtime: &Runtime, side: &Side, plan: Vec<(u64, u64)>, tasks: usize) -> Duration {
    let mut shares: Vec<Vec<(u64, u64)>> = vec![Vec::new(); tasks];
    for (index, step) in plan.into_iter().enumerate() {
        shares[index % tasks].push(step);
    }
    runtime.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(task, share)| {
                let side = side.clone();
                tokio::spawn(async move {
                    for (number, version) in share {
                        side.command(task, number, version).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a command task");
        }
        started.elapsed()
    })
}

/// An arm: `side` on its own leads (from `offset`), each prepared with `prior` events and taking
/// `per_lead` commands, from `tasks` tasks.
fn arm<'a>(
    name: &'static str,
    runtime: &'a Runtime,
    side: Side,
    offset: u64,
    shape: (u64, u64, usize),
) -> Arm<'a> {
    let (prior, per_lead, tasks) = shape;
    let mut schedule = Schedule::new(offset, prior, per_lead);
    Arm::new(name, move |iterations| {
        let (plan, prepare) = schedule.next(iterations);
        runtime.block_on(side.prepare(prepare, prior));
        run(runtime, &side, plan, tasks)
    })
}

/// The sides of one workload on fresh databases.
struct Sides {
    databases: Databases,
    ours: Side,
    cached: Side,
    /// The command service, its cache left cold by `prepare`.
    service: Side,
    /// The command service, its cache warmed by `prepare`.
    service_warm: Side,
    peer: Side,
    raw: Side,
}

async fn sides(label: &str, tasks: usize) -> Sides {
    let databases = Databases::create(label).await;
    let store = databases.store.clone();
    let cache = StreamCache::new(store.clone(), StoreSettings::default(), 10_000);
    let work = PostgresUnitOfWork::connect(store.clone())
        .await
        .expect("the application's migrations apply");
    let service = Arc::new(CommandService::new(work, Arc::new(SystemClock)));
    let repository = PostgresEventRepository::new(databases.pool.clone());
    let peer = CqrsFramework::new(PersistedEventStore::new_event_store(repository), vec![], ());
    let mut connections = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let client = databases.raw_client().await;
        let select = client
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM raw_events WHERE tenant_id = $1 AND stream_id = $2 \
                 ORDER BY version"
            ))
            .await
            .expect("prepare the raw stream select");
        let insert = client
            .prepare(&raw_insert_sql(1))
            .await
            .expect("prepare the raw insert");
        connections.push(RawConnection {
            client,
            select,
            insert,
        });
    }
    Sides {
        ours: Side::Ours(store),
        cached: Side::Cached(Arc::new(cache)),
        service: Side::Service(Arc::clone(&service), false),
        service_warm: Side::Service(service, true),
        peer: Side::Peer(Arc::new(peer), databases.pool.clone()),
        raw: Side::Raw(Arc::new(connections)),
        databases,
    }
}

/// Each arm's leads are numbered from its own offset, so two arms on one database never meet.
const ARM_OFFSET: u64 = 1 << 32;

/// Workload 1: `Receive` on new leads, from `tasks` tasks.
pub(crate) fn new_aggregates(
    criterion: &mut Criterion,
    runtime: &Runtime,
    name: &'static str,
    tasks: usize,
    rounds: usize,
) {
    let sides = runtime.block_on(sides("new", tasks));
    let shape = (0, 1, tasks);
    let mut arms = [
        arm("ours", runtime, sides.ours.clone(), 0, shape),
        arm("peer", runtime, sides.peer.clone(), ARM_OFFSET, shape),
        arm("raw", runtime, sides.raw.clone(), 2 * ARM_OFFSET, shape),
        arm(
            "service",
            runtime,
            sides.service.clone(),
            3 * ARM_OFFSET,
            shape,
        ),
    ];
    let ratios: [Ratio; 4] = [
        target("service", "peer", 3.0),
        target("ours", "peer", 3.0),
        reference("service", "raw"),
        reference("ours", "raw"),
    ];
    measure(
        criterion,
        &Workload {
            name,
            unit: "commands",
            elements: 1,
            per_round: 400,
            rounds,
            configure: &|_| {},
        },
        &mut arms,
        &ratios,
    );
    drop(arms);
    runtime.block_on(sides.databases.drop_now());
}

/// Workload 2: leads going from 100 to 200 events, one command after another.
pub(crate) fn hot_aggregate(criterion: &mut Criterion, runtime: &Runtime, rounds: usize) {
    let sides = runtime.block_on(sides("hot", 1));
    let shape = (100, 100, 1);
    let mut arms = [
        arm("ours_without_cache", runtime, sides.ours.clone(), 0, shape),
        arm(
            "ours_with_cache",
            runtime,
            sides.cached.clone(),
            ARM_OFFSET,
            shape,
        ),
        arm("peer", runtime, sides.peer.clone(), 2 * ARM_OFFSET, shape),
        arm("raw", runtime, sides.raw.clone(), 3 * ARM_OFFSET, shape),
        arm(
            "service",
            runtime,
            sides.service_warm.clone(),
            4 * ARM_OFFSET,
            shape,
        ),
    ];
    let ratios = [
        target("service", "peer", 3.0),
        target("service", "raw", 2.0),
        target("ours_with_cache", "peer", 3.0),
        target("ours_without_cache", "peer", 3.0),
        target("ours_with_cache", "raw", 2.0),
        reference("ours_without_cache", "raw"),
    ];
    measure(
        criterion,
        &Workload {
            name: "hot_aggregate_100_to_200",
            unit: "commands",
            elements: 1,
            per_round: 200,
            rounds,
            configure: &|_| {},
        },
        &mut arms,
        &ratios,
    );
    drop(arms);
    if let Side::Cached(cache) = &sides.cached {
        let stats = cache.stats();
        println!(
            "CACHE hot_aggregate_100_to_200: hits {}, misses {}, conflicts {}",
            stats.hits, stats.misses, stats.conflicts
        );
    }
    runtime.block_on(sides.databases.drop_now());
}

/// Workload 3: one command on each of many leads with exactly 100 prior events.
pub(crate) fn prior_100_events(criterion: &mut Criterion, runtime: &Runtime, rounds: usize) {
    let sides = runtime.block_on(sides("prior", 1));
    let shape = (100, 1, 1);
    let mut arms = [
        arm("ours", runtime, sides.ours.clone(), 0, shape),
        arm("peer", runtime, sides.peer.clone(), ARM_OFFSET, shape),
        arm("raw", runtime, sides.raw.clone(), 2 * ARM_OFFSET, shape),
        arm(
            "service",
            runtime,
            sides.service.clone(),
            3 * ARM_OFFSET,
            shape,
        ),
    ];
    let ratios = [
        target("service", "peer", 3.0),
        target("ours", "peer", 3.0),
        reference("service", "raw"),
        reference("ours", "raw"),
    ];
    measure(
        criterion,
        &Workload {
            name: "prior_100_events",
            unit: "commands",
            elements: 1,
            per_round: 300,
            rounds,
            configure: &|_| {},
        },
        &mut arms,
        &ratios,
    );
    drop(arms);
    runtime.block_on(sides.databases.drop_now());
}
