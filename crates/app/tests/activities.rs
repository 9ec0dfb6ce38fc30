//! Logging activities on every backend: an outbound call by the lead's rep is the lead's first
//! touch (the SLA's answer), an inbound email and a note are not, a call by another rep is
//! logged but does not count, and logging the same activity again records nothing twice.

#[macro_use]
mod support;

use chrono::TimeDelta;
use crm_app::activities::log_activity;
use crm_app::routing::{RouteOutcome, route_lead};
use crm_app::{CommandMeta, UnitOfWork};
use crm_domain::activity::{ActivityKind, ActivityOutcome, Direction, NewActivity};
use crm_domain::lead::Lead;
use crm_domain::{ActivityId, Actor, LeadId, RecordRef, UserId};
use crm_eventstore::{EventStore, StreamId, StreamRead};
use support::{captured_lead, roster, t0, tenant};
use uuid::Uuid;

on_every_backend!(
    a_logged_call_by_the_leads_rep_is_its_first_touch,
    what_is_not_a_touch_is_logged_and_touches_nothing,
);

fn activity(kind: ActivityKind, direction: Option<Direction>, lead: LeadId) -> NewActivity {
    NewActivity {
        activity: ActivityId(Uuid::now_v7()),
        kind,
        records: vec![RecordRef::Lead(lead)],
        occurred_at: t0(),
        duration_seconds: None,
        direction,
        participants: Vec::new(),
        outcome: None,
        subject: Some("Pricing questions".into()),
        body: None,
        performed_by: None,
    }
}

fn by(rep: UserId) -> CommandMeta {
    CommandMeta::by(Actor::User { id: rep })
}

/// A captured lead routed to one of the roster's reps: the lead and its rep.
async fn assigned_lead<U: UnitOfWork>(
    service: &crm_app::CommandService<U>,
) -> (LeadId, UserId, UserId) {
    let roster = roster(service, (1, 1)).await;
    let lead = captured_lead(service).await;
    let outcome = route_lead(service, &tenant(), roster.settings, lead)
        .await
        .expect("routed");
    let RouteOutcome::Assigned { rep, .. } = outcome else {
        panic!("assigned: {outcome:?}");
    };
    let other = if rep == roster.ada {
        roster.bob
    } else {
        roster.ada
    };
    (lead, rep, other)
}

async fn history_len<U: UnitOfWork>(work: &U, stream: &str) -> usize {
    work.store()
        .read_stream(
            &tenant(),
            &StreamId::new(stream).expect("a stream"),
            StreamRead::forward(),
        )
        .await
        .expect("reads")
        .len()
}

async fn a_logged_call_by_the_leads_rep_is_its_first_touch<U: UnitOfWork + Clone>(work: U) {
    let (service, clock) = support::service(work.clone());
    let (lead, rep, other) = assigned_lead(&service).await;
    clock.advance(TimeDelta::minutes(3));

    // Another rep's call is logged, and does not answer for the lead's rep.
    let theirs = activity(ActivityKind::Call, Some(Direction::Outbound), lead);
    let logged = log_activity(&service, &tenant(), theirs, &by(other))
        .await
        .expect("logged");
    assert!(logged.recorded);
    assert!(logged.first_touches.is_empty());
    assert_eq!(logged.not_counted.len(), 1, "{logged:?}");

    let call = NewActivity {
        outcome: Some(ActivityOutcome::Connected),
        duration_seconds: Some(240),
        ..activity(ActivityKind::Call, Some(Direction::Outbound), lead)
    };
    let logged = log_activity(&service, &tenant(), call.clone(), &by(rep))
        .await
        .expect("logged");
    assert!(logged.recorded);
    assert_eq!(logged.first_touches, vec![lead]);
    let (state, _) = service
        .load::<Lead>(&tenant(), lead.0)
        .await
        .expect("loads");
    assert_eq!(state.first_touch_at, Some(t0() + TimeDelta::minutes(3)));

    // The same activity again (a retry): nothing recorded twice.
    let activity_stream = format!("activity-{}", call.activity.0);
    let lead_stream = format!("lead-{}", lead.0);
    let (before_activity, before_lead) = (
        history_len(&work, &activity_stream).await,
        history_len(&work, &lead_stream).await,
    );
    let again = log_activity(&service, &tenant(), call, &by(rep))
        .await
        .expect("a retry is answered");
    assert!(!again.recorded);
    assert_eq!(history_len(&work, &activity_stream).await, before_activity);
    assert_eq!(history_len(&work, &lead_stream).await, before_lead);

    // A second call is logged; the first touch stays the first.
    let later = activity(ActivityKind::Email, Some(Direction::Outbound), lead);
    let logged = log_activity(&service, &tenant(), later, &by(rep))
        .await
        .expect("logged");
    assert!(logged.first_touches.is_empty());
    assert_eq!(logged.not_counted.len(), 1, "already touched: {logged:?}");
}

async fn what_is_not_a_touch_is_logged_and_touches_nothing<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = support::service(work);
    let (lead, rep, _) = assigned_lead(&service).await;
    for kind in [
        activity(ActivityKind::Email, Some(Direction::Inbound), lead),
        activity(ActivityKind::Note, None, lead),
    ] {
        let logged = log_activity(&service, &tenant(), kind, &by(rep))
            .await
            .expect("logged");
        assert!(logged.recorded);
        assert!(logged.first_touches.is_empty() && logged.not_counted.is_empty());
    }
    let (state, _) = service
        .load::<Lead>(&tenant(), lead.0)
        .await
        .expect("loads");
    assert_eq!(state.first_touch_at, None);
}
