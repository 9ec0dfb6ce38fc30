//! Lead intake at the library level (issue 14's intake targets; figures in
//! docs/PERFORMANCE.md), as a load generator on PostgreSQL:
//!
//! - `accept, batches of 100`: `INTAKE_BENCH_LEADS` deliveries (default 100,000) checked and
//!   stored through `intake::submit` in batches of 100 by 4 tasks; target at least 20,000
//!   leads/s.
//! - `accept, one per call`: `INTAKE_BENCH_SINGLE` deliveries (default 20,000), one per call,
//!   from 16 tasks; target at least 3,000 leads/s (p50 and p99 of a call reported).
//! - `drain`: the whole backlog (both parts' deliveries) turned into leads by two intake
//!   workers at once, each claiming `INTAKE_BENCH_BATCH` items a pass (default 100, the
//!   worker's default) and working on 8 at a time (the pool holds 24 connections): every item recorded as a lead, validated and captured or
//!   quarantined, then marked done; target at least 5,000 leads/s. Counted afterwards: every
//!   item done once, the inbox empty, exactly one lead stream per delivery. This run has no
//!   routing roster and no identity index (see docs/PERFORMANCE.md for what that leaves out).
//! - `drain with routing`: `INTAKE_BENCH_ROUTED` more deliveries (default 2,000; 0 skips
//!   it) drained the same way with routing on: a roster of ten online reps in one team, every
//!   captured lead offered by weighted round-robin and assigned. Counted afterwards: every
//!   item done once, every lead assigned once.
//! - `steady 1,000 leads/s`: `INTAKE_BENCH_STEADY` more deliveries (default 20,000; 0 skips
//!   it) accepted at a steady 1,000 a second (10 every 10 ms) while two workers run as a
//!   deployment runs them (`IntakeWorker::run`, the host's default 1-second pause when a pass
//!   finds nothing), routing on; target p99 from accepted to assigned under 1 second. Each
//!   lead's latency is read from the database afterwards: its `LeadAssigned` event's
//!   `recorded_at` minus its inbox row's `received_at`. Counted: every lead assigned once.
//!
//! `INTAKE_BENCH_WORKERS` sets how many workers the drains run (default 2, the target's).
//!
//! Run: `source scripts/postgres-env && cargo bench -p crm-benches --bench intake`.

#[allow(dead_code, reason = "the store benches' helpers are not all used here")]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use crm_app::intake::{IntakeSettings, IntakeWorker, LeadDelivery, PostgresInbox, submit};
use crm_app::routing::RoutingSettings;
use crm_app::{CommandMeta, CommandService, PostgresUnitOfWork, SystemClock};
use crm_domain::identity::CountryCode;
use crm_domain::roster::{Rep, RepCommand, Team, TeamCommand, TerritoryMap, TerritoryMapCommand};
use crm_domain::routing::AssignmentStrategy;
use crm_domain::{Actor, TeamId, UserId};
use serde_json::json;

fn delivery(source: &str, n: usize) -> LeadDelivery {
    LeadDelivery {
        source: source.into(),
        external_id: format!("evt-{n}"),
        payload: json!({
            "firstName": "Ada",
            "lastName": format!("Lovelace{n}"),
            "email": format!("ada.{n}@example.org"),
            "phone": format!("+44 20 7946 {:04}", n % 10_000),
            "company": "Analytical Engines",
            "country": "GB",
            "utm_source": "newsletter",
        }),
    }
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "counts of leads")]
    let count = count as f64;
    count / elapsed.as_secs_f64()
}

fn percentile(samples: &mut [Duration], share: f64) -> Duration {
    samples.sort();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into the samples"
    )]
    let index = ((samples.len() as f64 * share) as usize).min(samples.len().saturating_sub(1));
    samples[index]
}

/// How many intake workers the drains run: `INTAKE_BENCH_WORKERS`, default 2 (the target's).
fn workers() -> usize {
    support::env_number("INTAKE_BENCH_WORKERS", 2)
}

fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}

/// Ten reps, online, with room for every lead of the bench, in one team that every lead's
/// territory falls back to (weighted round-robin).
async fn roster(
    service: &CommandService<PostgresUnitOfWork>,
    tenant: &crm_eventstore::TenantId,
) -> RoutingSettings {
    let meta = || {
        CommandMeta::by(Actor::System {
            component: "intake-bench".into(),
        })
    };
    let team = TeamId(uuid::Uuid::now_v7());
    let mut commands = vec![TeamCommand::Create {
        team_id: team,
        name: "Inside sales".into(),
        strategy: AssignmentStrategy::WeightedRoundRobin,
        leader: None,
        endpoint: None,
    }];
    for n in 0..10 {
        let rep = UserId(uuid::Uuid::now_v7());
        for command in [
            RepCommand::Register {
                rep,
                display_name: format!("Rep {n}"),
                email: format!("rep{n}@example.com"),
                capacity: 1_000_000,
                weight: 1,
                skills: std::collections::BTreeSet::new(),
                endpoint: None,
            },
            RepCommand::GoOnline,
        ] {
            service
                .execute::<Rep>(tenant, rep.0, command, &meta())
                .await
                .expect("the rep is on the roster");
        }
        commands.push(TeamCommand::AddMember { rep });
    }
    service
        .execute_all::<Team>(tenant, team.0, commands, &meta())
        .await
        .expect("the team is set up");
    let map = uuid::Uuid::now_v7();
    service
        .execute::<TerritoryMap>(
            tenant,
            map,
            TerritoryMapCommand::Define {
                map_id: map,
                rules: vec![],
                fallback_team: team,
            },
            &meta(),
        )
        .await
        .expect("the map is defined");
    RoutingSettings { territory_map: map }
}

/// The drains' [`workers`] over one service and inbox.
fn intake_workers<'a>(
    service: &'a Arc<CommandService<PostgresUnitOfWork>>,
    inbox: &'a PostgresInbox,
    tenant: &'a crm_eventstore::TenantId,
    settings: &'a IntakeSettings,
) -> impl Iterator<Item = IntakeWorker<PostgresUnitOfWork, PostgresInbox>> + 'a {
    (0..workers()).map(|_| {
        IntakeWorker::new(
            Arc::clone(service),
            inbox.clone(),
            tenant.clone(),
            settings.clone(),
        )
    })
}

/// `count` deliveries accepted at 1,000 a second (10 every 10 ms) while the workers run as a
/// deployment runs them; returns once every one is done.
async fn steady_arrivals(
    service: &Arc<CommandService<PostgresUnitOfWork>>,
    inbox: &PostgresInbox,
    tenant: &crm_eventstore::TenantId,
    settings: &IntakeSettings,
    count: usize,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = intake_workers(service, inbox, tenant, settings)
        .map(|worker| {
            let stopped = stopped.clone();
            tokio::spawn(async move { worker.run(Duration::from_secs(1), stopped).await })
        })
        .collect();
    let deliveries: Vec<LeadDelivery> = (0..count).map(|n| delivery("steady", n)).collect();
    let mut every = tokio::time::interval(Duration::from_millis(10));
    for batch in deliveries.chunks(10) {
        every.tick().await;
        submit(inbox, tenant, batch, Utc::now())
            .await
            .expect("the batch is stored");
    }
    loop {
        let health = crm_app::intake::Inbox::health(inbox, tenant, Utc::now())
            .await
            .expect("the inbox's health");
        if health.depth == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send_replace(true);
    for worker in workers {
        worker.await.expect("a worker");
    }
}

/// The intake workers ([`workers`]) draining the inbox at once: the items they did, and how
/// long it took.
async fn drain_with_two_workers(
    service: &Arc<CommandService<PostgresUnitOfWork>>,
    inbox: &PostgresInbox,
    tenant: &crm_eventstore::TenantId,
    settings: &IntakeSettings,
) -> (usize, Duration) {
    let started = Instant::now();
    let workers: Vec<_> = intake_workers(service, inbox, tenant, settings)
        .map(|worker| tokio::spawn(async move { worker.drain().await.expect("the worker drains") }))
        .collect();
    let mut done = 0;
    for worker in workers {
        done += worker.await.expect("a worker");
    }
    (done, started.elapsed())
}

fn main() {
    let (leads, single, routed) = (
        support::env_number("INTAKE_BENCH_LEADS", 100_000),
        support::env_number("INTAKE_BENCH_SINGLE", 20_000),
        support::env_number("INTAKE_BENCH_ROUTED", 2_000),
    );
    let runtime = support::runtime();
    runtime.block_on(async {
        let database = support::BenchDatabase::create("intake").await;
        let store = database.store(24).await;
        let work = PostgresUnitOfWork::connect(store.clone())
            .await
            .expect("the application's migrations apply");
        let inbox = PostgresInbox::new(store);
        let tenant = support::tenant();

        // Accept in batches of 100, from 4 tasks.
        let batches: Vec<Vec<LeadDelivery>> = (0..leads)
            .map(|n| delivery("bulk", n))
            .collect::<Vec<_>>()
            .chunks(100)
            .map(<[LeadDelivery]>::to_vec)
            .collect();
        let started = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|task| {
                let mine: Vec<Vec<LeadDelivery>> =
                    batches.iter().skip(task).step_by(4).cloned().collect();
                let (inbox, tenant) = (inbox.clone(), tenant.clone());
                tokio::spawn(async move {
                    for batch in mine {
                        submit(&inbox, &tenant, &batch, Utc::now())
                            .await
                            .expect("the batch is stored");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a task");
        }
        let elapsed = started.elapsed();
        let accepted = rate(leads, elapsed);
        println!(
            "RESULT accept, batches of 100, 4 tasks, {leads} leads: {accepted:.0} leads/s in {elapsed:?}, target >= 20000: {}",
            verdict(accepted >= 20_000.0)
        );

        // Accept one per call, from 16 tasks.
        let started = Instant::now();
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let (inbox, tenant) = (inbox.clone(), tenant.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    for n in (task..single).step_by(16) {
                        let one = [delivery("single", n)];
                        let call = Instant::now();
                        submit(&inbox, &tenant, &one, Utc::now())
                            .await
                            .expect("the delivery is stored");
                        samples.push(call.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await.expect("a task"));
        }
        let elapsed = started.elapsed();
        let accepted = rate(single, elapsed);
        println!(
            "RESULT accept, one per call, 16 tasks, {single} leads: {accepted:.0} leads/s, p50 {:?}, p99 {:?}, target >= 3000: {}",
            percentile(&mut samples, 0.50),
            percentile(&mut samples, 0.99),
            verdict(accepted >= 3_000.0)
        );

        // Drain the whole backlog with two workers.
        let service = Arc::new(CommandService::new(work, Arc::new(SystemClock)));
        let settings = IntakeSettings {
            default_region: CountryCode::new("GB").expect("a valid country"),
            routing: None,
            batch: support::env_number("INTAKE_BENCH_BATCH", 100),
            parallelism: 8,
            lease: TimeDelta::seconds(60),
            retry_after: TimeDelta::seconds(1),
            custom_fields: std::collections::BTreeMap::new(),
        };
        let backlog = leads + single;
        let (done, elapsed) = drain_with_two_workers(&service, &inbox, &tenant, &settings).await;
        let client = database.client().await;
        let streams: i64 = client
            .query_one(
                "SELECT count(*) FROM streams WHERE tenant_id = $1 AND stream_id LIKE 'lead-%'",
                &[&tenant.as_str()],
            )
            .await
            .expect("the lead streams are counted")
            .get(0);
        let health = crm_app::intake::Inbox::health(&inbox, &tenant, Utc::now())
            .await
            .expect("the inbox's health");
        let drained = rate(done, elapsed);
        println!(
            "RESULT drain, {} workers, {backlog} items: {done} done in {elapsed:?} = {drained:.0} leads/s; {streams} lead streams, inbox depth {} afterwards; target >= 5000 leads/s: {}",
            workers(),
            health.depth,
            verdict(drained >= 5_000.0)
        );
        assert_eq!(done, backlog, "every item done once");
        assert_eq!(
            usize::try_from(streams).unwrap_or(usize::MAX),
            backlog,
            "one lead per delivery"
        );
        assert_eq!(health.depth, 0, "nothing left behind");

        // The same drain with routing: a roster of ten reps in one team, every captured lead
        // offered and assigned.
        if routed > 0 {
            let routing = roster(&service, &tenant).await;
            let deliveries: Vec<LeadDelivery> = (0..routed).map(|n| delivery("routed", n)).collect();
            for batch in deliveries.chunks(100) {
                submit(&inbox, &tenant, batch, Utc::now())
                    .await
                    .expect("the batch is stored");
            }
            let settings = IntakeSettings {
                routing: Some(routing),
                ..settings.clone()
            };
            let (done, elapsed) =
                drain_with_two_workers(&service, &inbox, &tenant, &settings).await;
            let assigned: i64 = client
                .query_one(
                    "SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'LeadAssigned' \
                     AND stream_id IN (SELECT 'lead-' || id FROM app_inbox WHERE tenant = $1 AND source = 'routed')",
                    &[&tenant.as_str()],
                )
                .await
                .expect("the assignments are counted")
                .get(0);
            let drained = rate(done, elapsed);
            println!(
                "RESULT drain with routing (10 reps, one team), {} workers, {routed} items: {done} done in {elapsed:?} = {drained:.0} leads/s; {assigned} assigned; target >= 5000 leads/s: {}",
                workers(),
                verdict(drained >= 5_000.0)
            );
            assert_eq!(done, routed, "every item done once");
            assert_eq!(
                usize::try_from(assigned).unwrap_or(usize::MAX),
                routed,
                "every lead assigned once"
            );
        }
        let steady = support::env_number("INTAKE_BENCH_STEADY", 20_000);
        if steady > 0 {
            let settings = IntakeSettings {
                routing: Some(roster(&service, &tenant).await),
                ..settings.clone()
            };
            steady_arrivals(&service, &inbox, &tenant, &settings, steady).await;
            let row = client
                .query_one(
                    "SELECT count(*), \
                            percentile_cont(0.5) WITHIN GROUP (ORDER BY latency), \
                            percentile_cont(0.99) WITHIN GROUP (ORDER BY latency), \
                            max(latency) \
                     FROM (SELECT extract(epoch FROM e.recorded_at - i.received_at)::float8 AS latency \
                           FROM app_inbox i JOIN events e ON e.tenant_id = i.tenant \
                            AND e.stream_id = 'lead-' || i.id AND e.event_type = 'LeadAssigned' \
                           WHERE i.tenant = $1 AND i.source = 'steady') assigned",
                    &[&tenant.as_str()],
                )
                .await
                .expect("the latencies are read");
            let (assigned, p50, p99, max): (i64, Option<f64>, Option<f64>, Option<f64>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let (p50, p99, max) = (
                p50.unwrap_or(f64::NAN),
                p99.unwrap_or(f64::NAN),
                max.unwrap_or(f64::NAN),
            );
            println!(
                "RESULT steady 1,000 leads/s with routing, {} workers, {steady} leads: {assigned} assigned; accepted to assigned p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; target p99 < 1000 ms: {}",
                workers(),
                p50 * 1000.0,
                p99 * 1000.0,
                max * 1000.0,
                verdict(p99 < 1.0)
            );
            assert_eq!(
                usize::try_from(assigned).unwrap_or(usize::MAX),
                steady,
                "every lead assigned once"
            );
        }
        drop(client);
        database.drop_now().await;
    });
}
