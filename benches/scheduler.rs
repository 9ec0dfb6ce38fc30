//! The SLA scheduler's target: it acts on 100,000 due deadlines within 10 s of their due time.
//!
//! Load generator on PostgreSQL (a fresh database). `SCHEDULER_BENCH_LEADS` leads (default
//! 100,000) are assigned at the same instant to the first rep of one of `SCHEDULER_BENCH_TEAMS`
//! teams (default 50, two online reps each, capacity far above the load). The leads' histories
//! (received, captured, assigned: the domain's own `decide` on each command) are appended
//! directly, 16 at a time, which is only setup. The scheduler then tracks them (one deadline
//! row per lead, timed apart: in production tracking runs as leads are assigned), and the clock
//! moves to five minutes after the assignment: the figure is the time `act` takes to pull every
//! lead back, each one offered to its team's other rep (a team command and a lead command).
//!
//! Run: `source scripts/postgres-env && cargo bench -p crm-benches --bench scheduler`.
//! Figures: docs/PERFORMANCE.md, "The SLA scheduler".

#[allow(dead_code)]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeDelta, TimeZone, Utc};
use crm_app::scheduler::{
    DEFAULT_RESPONSE_WINDOW, DeadlineStore, PostgresDeadlines, ResponseScheduler, SchedulerSettings,
};
use crm_app::{CommandMeta, CommandService, ManualClock, PostgresUnitOfWork};
use crm_domain::identity::CountryCode;
use crm_domain::lead::{Campaign, Lead, LeadCommand, LeadSource, LeadSubmission};
use crm_domain::roster::{Rep, RepCommand, Team, TeamCommand};
use crm_domain::routing::{AssignmentStrategy, RoutingDecision, RoutingOutcome};
use crm_domain::sla::BusinessCalendar;
use crm_domain::{Actor, Aggregate, Context, LeadId, TeamId, UserId, encode};
use crm_eventstore::{EventStore, ExpectedVersion, NewEvent, PostgresStore, StreamId};
use futures_util::StreamExt;
use uuid::Uuid;

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn admin() -> Actor {
    Actor::System {
        component: "bench".into(),
    }
}

/// The events of a lead received, captured and assigned to `rep` of `team` at `at`, decided
/// by the lead aggregate itself.
fn assigned_lead(
    lead: LeadId,
    team: TeamId,
    rep: UserId,
    at: chrono::DateTime<Utc>,
) -> Vec<NewEvent> {
    let ctx = Context::new(at, admin(), lead.0);
    let commands = [
        LeadCommand::Receive {
            lead_id: lead,
            source: LeadSource {
                system: "web-form".into(),
                external_event_id: lead.0.to_string(),
            },
            raw_payload: serde_json::json!({ "email": "prospect@example.com" }),
            requested_at: at,
        },
        LeadCommand::Capture {
            submission: LeadSubmission {
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                email: Some("ada@example.com".into()),
                company: Some("Analytical Engines".into()),
                country: Some("GB".into()),
                ..LeadSubmission::default()
            },
            campaign: Campaign::default(),
            default_region: CountryCode::new("GB").expect("a valid country"),
        },
        LeadCommand::Route {
            decision: RoutingDecision {
                rule: None,
                team,
                strategy: AssignmentStrategy::WeightedRoundRobin,
                candidates: vec![],
                outcome: RoutingOutcome::Assigned { rep },
                preferred: None,
            },
        },
    ];
    let mut state = Lead::default();
    let mut events = Vec::new();
    for command in commands {
        let decided = state.decide(command, &ctx).expect("the lead accepts");
        for event in decided {
            state = state.evolve(&event);
            let encoded = encode(&event).expect("encodes");
            events.push(
                NewEvent::new(encoded.event_type, encoded.schema_version, encoded.payload)
                    .with_id(Uuid::now_v7()),
            );
        }
    }
    events
}

async fn roster(
    service: &CommandService<PostgresUnitOfWork>,
    teams: usize,
) -> Vec<(TeamId, UserId)> {
    let tenant = support::tenant();
    let mut first_reps = Vec::new();
    for _ in 0..teams {
        let team = TeamId(Uuid::now_v7());
        let reps = [UserId(Uuid::now_v7()), UserId(Uuid::now_v7())];
        for rep in reps {
            for command in [
                RepCommand::Register {
                    rep,
                    display_name: "Rep".into(),
                    email: "rep@example.com".into(),
                    capacity: 10_000_000,
                    weight: 1,
                    skills: BTreeSet::new(),
                    endpoint: None,
                },
                RepCommand::GoOnline,
            ] {
                service
                    .execute::<Rep>(&tenant, rep.0, command, &CommandMeta::by(admin()))
                    .await
                    .expect("the rep is on the roster");
            }
        }
        let mut commands = vec![TeamCommand::Create {
            team_id: team,
            name: "Inside sales".into(),
            strategy: AssignmentStrategy::WeightedRoundRobin,
            leader: Some(UserId(Uuid::now_v7())),
            endpoint: None,
        }];
        commands.extend(reps.map(|rep| TeamCommand::AddMember { rep }));
        for command in commands {
            service
                .execute::<Team>(&tenant, team.0, command, &CommandMeta::by(admin()))
                .await
                .expect("the team is set up");
        }
        first_reps.push((team, reps[0]));
    }
    first_reps
}

fn main() {
    let leads = number("SCHEDULER_BENCH_LEADS", 100_000);
    let teams = number("SCHEDULER_BENCH_TEAMS", 50).max(1);
    let parallelism = number("SCHEDULER_BENCH_PARALLELISM", 16).max(1);
    let runtime = support::runtime();
    runtime.block_on(async {
        let database = support::BenchDatabase::create("scheduler").await;
        let store: PostgresStore = database.store(32).await;
        let work = PostgresUnitOfWork::connect(store.clone())
            .await
            .expect("the application's migrations apply");
        let assigned_at = Utc
            .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("a valid instant");
        let clock = ManualClock::new(assigned_at);
        let service = Arc::new(CommandService::new(work, Arc::new(clock.clone())));
        let first_reps = roster(&service, teams).await;
        let tenant = support::tenant();

        let started = Instant::now();
        futures_util::stream::iter(0..leads)
            .map(|n| {
                let store = store.clone();
                let tenant = tenant.clone();
                let (team, rep) = first_reps[n % first_reps.len()];
                async move {
                    let lead = LeadId(Uuid::now_v7());
                    let events = assigned_lead(lead, team, rep, assigned_at);
                    store
                        .append(
                            &tenant,
                            &StreamId::new(format!("lead-{}", lead.0)).expect("a stream name"),
                            ExpectedVersion::NoStream,
                            &events,
                        )
                        .await
                        .expect("the lead's history is stored");
                }
            })
            .buffer_unordered(16)
            .collect::<()>()
            .await;
        let setup = started.elapsed();

        let deadlines = PostgresDeadlines::new(store.clone());
        let scheduler = ResponseScheduler::new(
            Arc::clone(&service),
            deadlines.clone(),
            tenant.clone(),
            SchedulerSettings {
                calendar: BusinessCalendar::always_open(chrono_tz::UTC),
                response_window: DEFAULT_RESPONSE_WINDOW,
                max_reassignments: 3,
                lease: TimeDelta::minutes(5),
                batch: 1000,
                parallelism,
            },
        );
        let started = Instant::now();
        scheduler.track().await.expect("tracks");
        let tracking = started.elapsed();
        let pending = deadlines.pending(&tenant).await.expect("reads").len();
        assert_eq!(pending, leads, "one deadline per lead");

        let due_at = assigned_at + DEFAULT_RESPONSE_WINDOW;
        clock.set(due_at);
        let started = Instant::now();
        let report = scheduler.act(due_at).await.expect("acts");
        let acting = started.elapsed();
        assert_eq!(report.failed, 0, "{report:?}");
        assert_eq!(report.reclaimed.len(), leads, "every lead pulled back");

        println!(
            "RESULT scheduler_pull_back ({leads} leads, {teams} teams, parallelism {parallelism}): \
             acted on all in {:.2} s ({:.0} leads/s); tracking {:.2} s; setup {:.2} s",
            acting.as_secs_f64(),
            f64::from(u32::try_from(leads).unwrap_or(u32::MAX)) / acting.as_secs_f64(),
            tracking.as_secs_f64(),
            setup.as_secs_f64(),
        );
        println!(
            "RATIO scheduler_pull_back {:.2} s for {leads} due deadlines, target <= 10 s for 100,000: {}",
            acting.as_secs_f64(),
            if leads >= 100_000 && acting.as_secs_f64() <= 10.0 {
                "MET"
            } else {
                "MISS"
            }
        );
        database.drop_now().await;
    });
}
