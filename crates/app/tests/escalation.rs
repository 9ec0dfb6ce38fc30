//! Ticket escalation by SLA on every backend: a ticket at 80 % of its first-response target
//! escalates to level 1, a breached one to level 2, an answered one never; two escalators
//! started after the deadlines passed escalate each ticket once per level.

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::TimeDelta;
use crm_app::scheduler::{
    AT_RISK_LEVEL, BREACHED_LEVEL, DeadlineStore, MemoryDeadlines, PostgresDeadlines,
    TicketEscalationSettings, TicketEscalator,
};
use crm_app::{CommandService, ManualClock, UnitOfWork};
use crm_domain::sla::{
    BusinessCalendar, PolicyFilter, PolicyRef, PolicyVersion, SlaMetric, SlaPolicy, SlaPolicyId,
};
use crm_domain::ticket::{EscalationTarget, Ticket, TicketCommand, TicketEvent};
use crm_domain::{Channel, ContactId, Priority, TeamId, TicketId, UserId};
use crm_eventstore::{EventStore, StreamId, StreamRead};
use crm_projections::sla::SlaConfig;
use support::{meta, t0, tenant};
use uuid::Uuid;

on_every_backend_with!(
    memory: crm_app::scheduler::MemoryDeadlines::default(),
    postgres: |store| crm_app::scheduler::PostgresDeadlines::new(store),
    sqlite: |file| crm_app::scheduler::SqliteDeadlines::new(file);
    a_ticket_escalates_when_at_risk_then_when_breached,
    two_escalators_started_late_escalate_each_ticket_once_per_level,
);

// Both deadline stores are named so the macro's paths stay checked.
const _: Option<(MemoryDeadlines, PostgresDeadlines)> = None;

const SECOND_LINE: TeamId = TeamId(Uuid::from_u128(0x2));
const SUPERVISOR: UserId = UserId(Uuid::from_u128(0x5b));

fn settings() -> TicketEscalationSettings {
    let policy = SlaPolicy::new(
        PolicyRef {
            id: SlaPolicyId(Uuid::from_u128(0x5a)),
            version: PolicyVersion(1),
        },
        "support",
        BusinessCalendar::always_open(chrono_tz::UTC),
    )
    .with_filter(PolicyFilter::any())
    .with_target(
        Priority::Normal,
        SlaMetric::FirstResponse,
        TimeDelta::minutes(60),
    )
    .expect("a valid target");
    TicketEscalationSettings {
        sla: SlaConfig::new()
            .with_policy(policy, None)
            .expect("the first version"),
        at_risk: Some(EscalationTarget::Team { team: SECOND_LINE }),
        breached: EscalationTarget::User { user: SUPERVISOR },
        lease: TimeDelta::seconds(30),
        batch: 50,
    }
}

async fn open_ticket<U: UnitOfWork>(service: &CommandService<U>) -> TicketId {
    let ticket = TicketId(Uuid::now_v7());
    service
        .execute::<Ticket>(
            &tenant(),
            ticket.0,
            TicketCommand::Open {
                ticket,
                contact: ContactId(Uuid::now_v7()),
                subject: "The engine squeaks".into(),
                channel: Channel::Email,
                priority: Priority::Normal,
                message: None,
                follow_up_of: None,
                account: None,
            },
            &meta(),
        )
        .await
        .expect("the ticket opens");
    ticket
}

/// The escalations recorded on the ticket: (level, target).
async fn escalations<U: UnitOfWork>(
    service: &CommandService<U>,
    ticket: TicketId,
) -> Vec<(u8, EscalationTarget)> {
    service
        .work()
        .store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("ticket-{}", ticket.0)).expect("a stream"),
            StreamRead::forward(),
        )
        .await
        .expect("reads")
        .into_iter()
        .filter_map(|event| {
            match crm_domain::decode::<TicketEvent>(
                &event.event_type,
                event.schema_version,
                event.payload,
            ) {
                Ok(TicketEvent::Escalated { level, to, .. }) => Some((level.get(), to)),
                _ => None,
            }
        })
        .collect()
}

/// Tracks until `pending` ticket deadlines are recorded (at most for five seconds).
async fn track_until<U: UnitOfWork, D: DeadlineStore + Clone>(
    escalator: &TicketEscalator<U, D>,
    deadlines: &D,
    pending: usize,
) {
    for _ in 0..500 {
        escalator.track().await.expect("tracks");
        let now = deadlines.pending_tickets(&tenant()).await.expect("reads");
        if now.len() == pending {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the escalator never saw {pending} pending tickets");
}

fn escalator<U: UnitOfWork, D: DeadlineStore + Clone>(
    service: &Arc<CommandService<U>>,
    deadlines: &D,
) -> TicketEscalator<U, D> {
    TicketEscalator::new(Arc::clone(service), deadlines.clone(), tenant(), settings())
}

async fn a_ticket_escalates_when_at_risk_then_when_breached<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    let squeaky = open_ticket(&service).await;
    let answered = open_ticket(&service).await;
    let escalator = escalator(&service, &deadlines);

    // Events another test's open transaction holds back (on PostgreSQL the horizon is the
    // whole server's) are read by a later pass: track until both tickets are seen.
    track_until(&escalator, &deadlines, 2).await;
    let report = escalator.tick().await.expect("ticks");
    assert!(report.escalated.is_empty());
    let pending = deadlines.pending_tickets(&tenant()).await.expect("reads");
    assert_eq!(pending.len(), 2);
    assert!(
        pending
            .iter()
            .all(|deadline| deadline.level == AT_RISK_LEVEL
                && deadline.due_at == t0() + TimeDelta::minutes(48)),
        "{pending:?}"
    );

    clock.advance(TimeDelta::minutes(30));
    service
        .execute::<Ticket>(
            &tenant(),
            answered.0,
            TicketCommand::ReplyToCustomer {
                body: "Oil the third gear.".into(),
                channel: Channel::Email,
            },
            &meta(),
        )
        .await
        .expect("answered");

    track_until(&escalator, &deadlines, 1).await;
    clock.advance(TimeDelta::minutes(17));
    let report = escalator.tick().await.expect("ticks");
    assert!(report.escalated.is_empty(), "47 minutes is not yet at risk");

    clock.advance(TimeDelta::minutes(2));
    let report = escalator.tick().await.expect("ticks");
    assert_eq!(report.escalated, vec![(squeaky, AT_RISK_LEVEL)]);
    assert_eq!(
        escalations(&service, squeaky).await,
        vec![(1, EscalationTarget::Team { team: SECOND_LINE })]
    );

    clock.advance(TimeDelta::minutes(12));
    let report = escalator.tick().await.expect("ticks");
    assert_eq!(report.escalated, vec![(squeaky, BREACHED_LEVEL)]);
    assert_eq!(
        escalations(&service, squeaky).await,
        vec![
            (1, EscalationTarget::Team { team: SECOND_LINE }),
            (2, EscalationTarget::User { user: SUPERVISOR }),
        ]
    );
    assert!(escalations(&service, answered).await.is_empty());

    clock.advance(TimeDelta::hours(5));
    let report = escalator.tick().await.expect("ticks");
    assert!(report.escalated.is_empty(), "{report:?}");
    assert!(
        deadlines
            .pending_tickets(&tenant())
            .await
            .expect("reads")
            .is_empty(),
        "nothing left to escalate"
    );
}

async fn two_escalators_started_late_escalate_each_ticket_once_per_level<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    let mut tickets = Vec::new();
    for _ in 0..6 {
        tickets.push(open_ticket(&service).await);
    }
    // Nothing ran while the tickets went past at risk and past their breach.
    clock.advance(TimeDelta::hours(2));
    let first = Arc::new(escalator(&service, &deadlines));
    let second = Arc::new(escalator(&service, &deadlines));
    for _ in 0..3 {
        let (a, b) = tokio::join!(first.tick(), second.tick());
        a.expect("the first ticks");
        b.expect("the second ticks");
    }
    for ticket in tickets {
        let levels: Vec<u8> = escalations(&service, ticket)
            .await
            .into_iter()
            .map(|(level, _)| level)
            .collect();
        assert_eq!(levels, vec![2], "breached: straight to level 2, once");
    }
}
