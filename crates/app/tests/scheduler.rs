//! The SLA pull-back on every backend: an untouched lead is reclaimed when its five business
//! minutes end and offered to someone else, who gets a fresh window; after the cap it goes to
//! the team lead; a touched lead is left alone; two schedulers, or one started after the
//! deadlines passed, act on each lead exactly once.

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::TimeDelta;
use crm_app::routing::{RouteOutcome, RoutingSettings, route_lead};
use crm_app::scheduler::{
    DEFAULT_RESPONSE_WINDOW, DeadlineStore, MemoryDeadlines, PostgresDeadlines, ResponseScheduler,
    SchedulerSettings,
};
use crm_app::{Clock, CommandService, ManualClock, UnitOfWork};
use crm_domain::lead::{Lead, LeadCommand};
use crm_domain::sla::BusinessCalendar;
use crm_domain::{Actor, Channel, LeadId, UserId};
use support::{t0, tenant};

on_every_backend_with!(
    memory: crm_app::scheduler::MemoryDeadlines::default(),
    postgres: |store| crm_app::scheduler::PostgresDeadlines::new(store),
    sqlite: |file| crm_app::scheduler::SqliteDeadlines::new(file);
    an_untouched_lead_is_pulled_back_then_escalated,
    a_touched_lead_is_left_alone,
    two_schedulers_started_late_act_on_each_lead_once,
    the_backlog_counts_what_is_due_and_not_yet_acted_on,
);

// Both deadline stores are named so the macro's paths stay checked.
const _: Option<(MemoryDeadlines, PostgresDeadlines)> = None;

struct Setup<U: UnitOfWork> {
    service: Arc<CommandService<U>>,
    clock: ManualClock,
    routing: RoutingSettings,
    ada: UserId,
    bob: UserId,
    leader: UserId,
}

fn settings() -> SchedulerSettings {
    SchedulerSettings {
        calendar: BusinessCalendar::always_open(chrono_tz::UTC),
        response_window: DEFAULT_RESPONSE_WINDOW,
        max_reassignments: 1,
        lease: TimeDelta::seconds(30),
        batch: 50,
        parallelism: 8,
    }
}

async fn setup<U: UnitOfWork + Clone>(work: U) -> Setup<U> {
    let (service, clock) = support::service(work);
    let roster = support::roster(&service, (1, 1)).await;
    Setup {
        service,
        clock,
        routing: roster.settings,
        ada: roster.ada,
        bob: roster.bob,
        leader: roster.leader,
    }
}

async fn routed_lead<U: UnitOfWork>(setup: &Setup<U>) -> (LeadId, UserId) {
    let lead = support::captured_lead(&setup.service).await;
    let RouteOutcome::Assigned { rep, .. } =
        route_lead(&setup.service, &tenant(), setup.routing, lead)
            .await
            .expect("routed")
    else {
        panic!("assigned")
    };
    (lead, rep)
}

async fn lead<U: UnitOfWork>(setup: &Setup<U>, lead: LeadId) -> Lead {
    setup
        .service
        .load::<Lead>(&tenant(), lead.0)
        .await
        .expect("loads")
        .0
}

/// Ticks until the scheduler has tracked everything readers can see up to now (on
/// PostgreSQL other transactions may hold the newest events back for a moment).
async fn tick_settled<U: UnitOfWork, D: DeadlineStore>(
    scheduler: &ResponseScheduler<U, D>,
    expected_pending: usize,
) -> crm_app::scheduler::ActReport {
    for _ in 0..400 {
        scheduler.track().await.expect("tracks");
        let pending = scheduler
            .deadlines()
            .pending(&tenant())
            .await
            .expect("reads")
            .len();
        if pending >= expected_pending {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    scheduler.tick().await.expect("ticks")
}

async fn an_untouched_lead_is_pulled_back_then_escalated<U, D>(work: U, deadlines: D)
where
    U: UnitOfWork + Clone,
    D: DeadlineStore,
{
    let setup = setup(work).await;
    let scheduler =
        ResponseScheduler::new(Arc::clone(&setup.service), deadlines, tenant(), settings());
    let (id, first) = routed_lead(&setup).await;

    setup.clock.advance(TimeDelta::minutes(4));
    let early = tick_settled(&scheduler, 1).await;
    assert!(early.reclaimed.is_empty(), "not due yet: {early:?}");

    setup.clock.advance(TimeDelta::minutes(1));
    let due = scheduler.tick().await.expect("ticks");
    assert_eq!(due.reclaimed, vec![id]);
    let after = lead(&setup, id).await;
    let second = after.assignee.expect("offered to someone else");
    assert_ne!(second, first);
    assert!([setup.ada, setup.bob].contains(&second));
    assert_eq!(after.reassignments, 1);
    assert_eq!(
        after.requested_at,
        Some(t0()),
        "the request time is kept for reporting"
    );
    assert_eq!(
        after.assigned_at,
        Some(t0() + TimeDelta::minutes(5)),
        "a fresh window"
    );

    let again = scheduler.tick().await.expect("ticks");
    assert!(
        again.reclaimed.is_empty() && again.escalated.is_empty(),
        "once: {again:?}"
    );

    setup.clock.advance(TimeDelta::minutes(5));
    let capped = tick_settled(&scheduler, 1).await;
    assert_eq!(capped.escalated, vec![id], "{capped:?}");
    let escalated = lead(&setup, id).await;
    assert_eq!(escalated.assignee, Some(setup.leader));
    scheduler.track().await.expect("tracks");
    setup.clock.advance(TimeDelta::hours(1));
    let quiet = scheduler.tick().await.expect("ticks");
    assert!(quiet.reclaimed.is_empty() && quiet.escalated.is_empty());
}

async fn a_touched_lead_is_left_alone<U, D>(work: U, deadlines: D)
where
    U: UnitOfWork + Clone,
    D: DeadlineStore,
{
    let setup = setup(work).await;
    let scheduler =
        ResponseScheduler::new(Arc::clone(&setup.service), deadlines, tenant(), settings());
    let (id, rep) = routed_lead(&setup).await;
    tick_settled(&scheduler, 1).await;
    setup.clock.advance(TimeDelta::minutes(2));
    setup
        .service
        .execute::<Lead>(
            &tenant(),
            id.0,
            LeadCommand::LogFirstTouch {
                channel: Channel::Phone,
            },
            &crm_app::CommandMeta::by(Actor::User { id: rep }),
        )
        .await
        .expect("the rep calls");
    setup.clock.advance(TimeDelta::minutes(10));
    let mut report = scheduler.tick().await.expect("ticks");
    for _ in 0..400 {
        if scheduler
            .deadlines()
            .pending(&tenant())
            .await
            .expect("reads")
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        report = scheduler.tick().await.expect("ticks");
    }
    assert!(report.reclaimed.is_empty(), "{report:?}");
    assert_eq!(lead(&setup, id).await.assignee, Some(rep));
}

async fn two_schedulers_started_late_act_on_each_lead_once<U, D>(work: U, deadlines: D)
where
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
{
    let setup = setup(work.clone()).await;
    let mut leads = Vec::new();
    for _ in 0..20 {
        leads.push(routed_lead(&setup).await.0);
    }
    // Nothing ran while the deadlines passed.
    setup.clock.advance(TimeDelta::hours(3));
    // Two processes: each its own service (and cache), one clock, one deadline store.
    let schedulers: Vec<_> = (0..2)
        .map(|_| {
            Arc::new(ResponseScheduler::new(
                Arc::new(
                    CommandService::new(work.clone(), Arc::new(setup.clock.clone()))
                        .with_max_attempts(64),
                ),
                deadlines.clone(),
                tenant(),
                settings(),
            ))
        })
        .collect();
    let tracker = &schedulers[0];
    for _ in 0..400 {
        tracker.track().await.expect("tracks");
        if tracker
            .deadlines()
            .pending(&tenant())
            .await
            .expect("reads")
            .len()
            >= 20
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let tasks: Vec<_> = schedulers
        .iter()
        .map(|scheduler| {
            let scheduler = Arc::clone(scheduler);
            let now = setup.clock.now();
            tokio::spawn(async move { scheduler.act(now).await.expect("acts") })
        })
        .collect();
    let mut reclaimed = Vec::new();
    for task in tasks {
        reclaimed.extend(task.await.expect("a scheduler finished").reclaimed);
    }
    reclaimed.sort();
    let mut expected = leads.clone();
    expected.sort();
    assert_eq!(reclaimed, expected, "every lead once, by one of the two");
    for id in leads {
        assert_eq!(lead(&setup, id).await.reassignments, 1);
    }
}

/// What `/metrics` reports as the scheduler's backlog: per kind, the due deadlines and the
/// oldest, the same on every store (the SQL ones count in one statement per kind).
async fn the_backlog_counts_what_is_due_and_not_yet_acted_on<U, D>(_work: U, deadlines: D)
where
    U: UnitOfWork + Clone,
    D: DeadlineStore,
{
    use crm_app::scheduler::{ResponseDeadline, TicketDeadline};
    use crm_domain::{TeamId, TicketId};
    let deadline = |n: u128, due_in_minutes: i64| ResponseDeadline {
        lead: LeadId(uuid::Uuid::from_u128(n)),
        rep: UserId(uuid::Uuid::from_u128(0xada)),
        team: TeamId(uuid::Uuid::from_u128(0x7ea)),
        assigned_at: t0(),
        due_at: t0() + TimeDelta::minutes(due_in_minutes),
    };
    for (n, minutes) in [(1, 5), (2, 10), (3, 60)] {
        deadlines
            .upsert(&tenant(), deadline(n, minutes))
            .await
            .expect("recorded");
    }
    deadlines
        .set_ticket_deadline(
            &tenant(),
            TicketId(uuid::Uuid::from_u128(9)),
            Some(TicketDeadline {
                ticket: TicketId(uuid::Uuid::from_u128(9)),
                level: std::num::NonZeroU8::MIN,
                due_at: t0() + TimeDelta::minutes(7),
            }),
        )
        .await
        .expect("recorded");
    let now = t0() + TimeDelta::minutes(20);
    let backlog = deadlines.backlog(&tenant(), now).await.expect("counted");
    assert_eq!(backlog.response_deadlines.count, 2);
    assert_eq!(
        backlog.response_deadlines.oldest,
        Some(t0() + TimeDelta::minutes(5))
    );
    assert_eq!(backlog.ticket_escalations.count, 1);
    assert_eq!(backlog.task_reminders.count, 0);
    assert_eq!(backlog.task_reminders.oldest, None);
    let early = deadlines.backlog(&tenant(), t0()).await.expect("counted");
    assert_eq!(early.response_deadlines.count, 0);
    let other = crm_eventstore::TenantId::new("another").expect("a tenant");
    assert_eq!(
        deadlines
            .backlog(&other, now)
            .await
            .expect("counted")
            .response_deadlines
            .count,
        0
    );
}
