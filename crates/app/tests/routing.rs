//! Routing from the event-sourced roster, on every backend: weighted round-robin whose
//! position survives restarts, unavailable reps never chosen, queues drained when someone
//! comes back, and a crash between the team's and the lead's commit repaired by routing again.

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use crm_app::routing::{QueueDrainer, RouteOutcome, drain_queue, route_lead, route_leads};
use crm_app::workflow::{NotificationSettings, NotifyAssignedRep, REP_NOTIFICATIONS};
use crm_app::{CommandService, UnitOfWork, WorkflowRunner};
use crm_domain::lead::Lead;
use crm_domain::roster::{Rep, RepCommand, Team};
use crm_domain::sla::BusinessCalendar;
use crm_domain::{LeadId, UserId};
use crm_eventstore::{EventStore, GlobalPosition, StreamRead};
use support::{ADA_WEBHOOK, Faulty, TEAM_WEBHOOK, captured_lead, meta, roster, service, tenant};
use uuid::Uuid;

on_every_backend!(
    weighted_round_robin_survives_a_restart,
    unavailable_reps_are_never_chosen_and_queued_leads_are_drained,
    a_crash_between_team_and_lead_is_repaired_by_routing_again,
    a_batch_sent_again_after_a_crash_takes_the_team_s_earlier_decisions,
    a_batch_s_decisions_are_recorded_on_its_leads_together,
    an_assignment_notifies_the_rep_once_with_a_deadline_and_a_link,
    a_rep_coming_online_gets_the_queued_leads_without_being_asked,
    a_lead_linked_to_an_account_goes_to_the_account_s_owner,
);

async fn assignee<U: UnitOfWork>(service: &CommandService<U>, lead: LeadId) -> Option<UserId> {
    service
        .load::<Lead>(&tenant(), lead.0)
        .await
        .expect("the lead loads")
        .0
        .assignee
}

async fn weighted_round_robin_survives_a_restart<U: UnitOfWork + Clone>(work: U) {
    let (first, _) = service(work.clone());
    let roster = roster(&first, (2, 1)).await;
    let mut counts: BTreeMap<UserId, usize> = BTreeMap::new();
    for n in 0..12 {
        // Every third lead goes through a freshly started service: the rotation is in the
        // team's stream, not in a process.
        let service = if n % 3 == 0 {
            service(work.clone()).0
        } else {
            Arc::clone(&first)
        };
        let lead = captured_lead(&service).await;
        let routed = route_lead(&service, &tenant(), roster.settings, lead)
            .await
            .expect("routed");
        let RouteOutcome::Assigned { rep, team } = routed else {
            panic!("assigned: {routed:?}")
        };
        assert_eq!(team, roster.team);
        assert_eq!(assignee(&service, lead).await, Some(rep));
        *counts.entry(rep).or_default() += 1;
        let again = route_lead(&service, &tenant(), roster.settings, lead)
            .await
            .expect("routing again answers");
        assert_eq!(again, RouteOutcome::AlreadyAssigned { rep });
    }
    assert_eq!(
        counts.get(&roster.ada),
        Some(&8),
        "weight 2 of 3: {counts:?}"
    );
    assert_eq!(
        counts.get(&roster.bob),
        Some(&4),
        "weight 1 of 3: {counts:?}"
    );
}

async fn unavailable_reps_are_never_chosen_and_queued_leads_are_drained<U: UnitOfWork + Clone>(
    work: U,
) {
    let (service, _) = service(work);
    let roster = roster(&service, (2, 1)).await;
    service
        .execute::<Rep>(
            &tenant(),
            roster.bob.0,
            RepCommand::Deactivate {
                reason: "left the company".into(),
            },
            &meta(),
        )
        .await
        .expect("deactivated");
    for _ in 0..3 {
        let lead = captured_lead(&service).await;
        let routed = route_lead(&service, &tenant(), roster.settings, lead)
            .await
            .expect("routed");
        assert_eq!(
            routed,
            RouteOutcome::Assigned {
                rep: roster.ada,
                team: roster.team
            }
        );
    }
    service
        .execute::<Rep>(&tenant(), roster.ada.0, RepCommand::GoOffline, &meta())
        .await
        .expect("offline");
    let mut queued = Vec::new();
    for _ in 0..3 {
        let lead = captured_lead(&service).await;
        let routed = route_lead(&service, &tenant(), roster.settings, lead)
            .await
            .expect("queued, not lost");
        assert_eq!(routed, RouteOutcome::Queued { team: roster.team });
        assert_eq!(assignee(&service, lead).await, None);
        queued.push(lead);
    }
    // Routing a queued lead again leaves it in the queue and the team as it was.
    let (_, before) = service
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    let again = route_leads(&service, &tenant(), roster.settings, &queued).await;
    assert!(
        again.iter().all(
            |outcome| matches!(outcome, Ok(RouteOutcome::Queued { team }) if *team == roster.team)
        ),
        "{again:?}"
    );
    let (_, after) = service
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    assert_eq!(after, before, "nothing offered or queued twice");
    assert!(
        drain_queue(&service, &tenant(), roster.team)
            .await
            .expect("nobody to take them")
            .is_empty()
    );
    service
        .execute::<Rep>(&tenant(), roster.ada.0, RepCommand::GoOnline, &meta())
        .await
        .expect("online again");
    let drained = drain_queue(&service, &tenant(), roster.team)
        .await
        .expect("drained");
    assert_eq!(
        drained.iter().map(|(lead, _)| *lead).collect::<Vec<_>>(),
        queued,
        "oldest first, none forgotten"
    );
    for lead in queued {
        assert_eq!(assignee(&service, lead).await, Some(roster.ada));
    }
    let (team, _) = service
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    assert!(team.queue.is_empty());
}

async fn a_crash_between_team_and_lead_is_repaired_by_routing_again<U: UnitOfWork + Clone>(
    work: U,
) {
    let (plain, _) = service(work.clone());
    let roster = roster(&plain, (2, 1)).await;
    let lead = captured_lead(&plain).await;
    // The team's offer (the first write) commits; the lead's record (the second) never does.
    let mut faulty = Faulty::new(work.clone());
    faulty.fail_before = Arc::new(vec![1]);
    let (crashing, _) = service(faulty);
    let failed = route_lead(&crashing, &tenant(), roster.settings, lead).await;
    assert!(failed.is_err(), "{failed:?}");
    let (team, team_version) = plain
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    let offered = team.offered_to(lead).expect("the team offered it");
    assert_eq!(assignee(&plain, lead).await, None);

    let (restarted, _) = service(work);
    let routed = route_lead(&restarted, &tenant(), roster.settings, lead)
        .await
        .expect("routed on the second try");
    assert_eq!(
        routed,
        RouteOutcome::Assigned {
            rep: offered,
            team: roster.team
        }
    );
    assert_eq!(assignee(&restarted, lead).await, Some(offered));
    let (_, after) = restarted
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    assert_eq!(after, team_version, "the team offered nothing twice");
}

async fn a_batch_sent_again_after_a_crash_takes_the_team_s_earlier_decisions<
    U: UnitOfWork + Clone,
>(
    work: U,
) {
    // Three leads routed together: the team's offer of all three (the first write) commits,
    // the leads' records never do. Sent again with a fourth lead, the batch offers only the
    // new one and records the team's earlier decisions on the first three.
    let (plain, _) = service(work.clone());
    let roster = roster(&plain, (1, 1)).await;
    let mut leads = Vec::new();
    for _ in 0..3 {
        leads.push(captured_lead(&plain).await);
    }
    let mut faulty = Faulty::new(work.clone());
    faulty.fail_before = Arc::new((1..=40).collect());
    let (crashing, _) = service(faulty);
    let failed = route_leads(&crashing, &tenant(), roster.settings, &leads).await;
    assert!(failed.iter().all(Result::is_err), "{failed:?}");
    let (team, team_version) = plain
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    let offered: Vec<UserId> = leads
        .iter()
        .map(|lead| team.offered_to(*lead).expect("the team offered it"))
        .collect();

    let (restarted, _) = service(work);
    leads.push(captured_lead(&restarted).await);
    let routed = route_leads(&restarted, &tenant(), roster.settings, &leads).await;
    for (index, outcome) in routed.iter().enumerate() {
        match outcome {
            Ok(RouteOutcome::Assigned { rep, .. }) if index < 3 => assert_eq!(*rep, offered[index]),
            Ok(RouteOutcome::Assigned { .. }) => {}
            other => panic!("lead {index}: {other:?}"),
        }
    }
    for (lead, rep) in leads.iter().zip(&offered) {
        assert_eq!(assignee(&restarted, *lead).await, Some(*rep));
    }
    let (_, after) = restarted
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    assert_eq!(after, team_version + 1, "only the new lead was offered");
}

async fn a_batch_s_decisions_are_recorded_on_its_leads_together<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let roster = roster(&service, (1, 1)).await;
    let mut leads = Vec::new();
    for _ in 0..4 {
        leads.push(captured_lead(&service).await);
    }
    let routed = route_leads(&service, &tenant(), roster.settings, &leads).await;
    let mut reps = Vec::new();
    for (lead, outcome) in leads.iter().zip(&routed) {
        let Ok(RouteOutcome::Assigned { rep, team }) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(*team, roster.team);
        assert_eq!(assignee(&service, *lead).await, Some(*rep));
        reps.push(*rep);
    }
    assert!(
        reps.contains(&roster.ada) && reps.contains(&roster.bob),
        "{reps:?}"
    );
    // Each lead's record is its last event; on PostgreSQL the four share one transaction.
    let mut transactions = std::collections::BTreeSet::new();
    for lead in &leads {
        let stream = crm_eventstore::StreamId::new(format!("lead-{}", lead.0)).expect("valid");
        let last = work
            .store()
            .read_stream(&tenant(), &stream, StreamRead::backward().limit(1))
            .await
            .expect("reads");
        assert_eq!(last[0].event_type, "LeadAssigned");
        transactions.insert(last[0].position.transaction);
    }
    if std::any::type_name::<U>().contains("Postgres") {
        assert_eq!(transactions.len(), 1, "one commit for the batch's records");
    }
    // Sent again, the batch changes nothing: every lead has its rep.
    let again = route_leads(&service, &tenant(), roster.settings, &leads).await;
    for (outcome, rep) in again.iter().zip(&reps) {
        assert!(
            matches!(outcome, Ok(RouteOutcome::AlreadyAssigned { rep: had }) if had == rep),
            "{outcome:?}"
        );
    }
}

async fn an_assignment_notifies_the_rep_once_with_a_deadline_and_a_link<U: UnitOfWork + Clone>(
    work: U,
) {
    let mut forgetful = Faulty::new(work.clone());
    forgetful.forget_checkpoints = true;
    let (service, _) = service(forgetful);
    let roster = roster(&service, (2, 1)).await;
    let mut routed = BTreeMap::new();
    let mut last = GlobalPosition::default();
    for _ in 0..3 {
        let lead = captured_lead(&service).await;
        let RouteOutcome::Assigned { rep, .. } =
            route_lead(&service, &tenant(), roster.settings, lead)
                .await
                .expect("routed")
        else {
            panic!("assigned")
        };
        routed.insert(lead.0, rep);
        let (_, version) = service
            .load::<Lead>(&tenant(), lead.0)
            .await
            .expect("loads");
        let stream = crm_app::stream_of::<Lead>(lead.0).expect("a stream");
        let assigned = work
            .store()
            .read_stream(
                &tenant(),
                &stream,
                StreamRead::forward().from_version(version),
            )
            .await
            .expect("reads");
        last = last.max(assigned[0].position);
    }
    let runner = WorkflowRunner::new(
        Arc::clone(&service),
        Arc::new(NotifyAssignedRep::new(NotificationSettings {
            calendar: BusinessCalendar::always_open(chrono_tz::UTC),
            response_window: TimeDelta::minutes(5),
            link_base: "https://crm.example.com/".into(),
        })),
        tenant(),
    );
    for _ in 0..3 {
        // Checkpoints are forgotten: every delivery reacts to every assignment again.
        runner
            .catch_up_to(last, Duration::from_secs(20))
            .await
            .expect("the workflow runs");
    }
    let outbox = work.outbox(&tenant()).await.expect("reads");
    assert_eq!(outbox.len(), 3, "one notification per assignment");
    for entry in outbox {
        let payload = &entry.message.payload;
        assert_eq!(entry.message.destination, REP_NOTIFICATIONS);
        let lead: Uuid = serde_json::from_value(payload["lead"].clone()).expect("a lead id");
        let rep = routed[&lead];
        assert_eq!(payload["rep"], serde_json::json!(rep.0));
        let expected_endpoint = if rep == roster.ada {
            ADA_WEBHOOK
        } else {
            TEAM_WEBHOOK
        };
        assert_eq!(payload["endpoint"], expected_endpoint);
        assert_eq!(
            payload["link"],
            format!("https://crm.example.com/leads/{lead}")
        );
        let assigned: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(payload["assigned_at"].clone()).expect("a time");
        let respond_by: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(payload["respond_by"].clone()).expect("a deadline");
        assert_eq!(respond_by - assigned, TimeDelta::minutes(5));
    }
}

async fn a_rep_coming_online_gets_the_queued_leads_without_being_asked<U: UnitOfWork + Clone>(
    work: U,
) {
    let (service, _) = service(work);
    let roster = roster(&service, (1, 1)).await;
    for rep in [roster.ada, roster.bob] {
        service
            .execute::<Rep>(&tenant(), rep.0, RepCommand::GoOffline, &meta())
            .await
            .expect("offline");
    }
    let mut queued = Vec::new();
    for _ in 0..2 {
        let lead = captured_lead(&service).await;
        let routed = route_lead(&service, &tenant(), roster.settings, lead)
            .await
            .expect("queued");
        assert_eq!(routed, RouteOutcome::Queued { team: roster.team });
        queued.push(lead);
    }
    let drainer = Arc::new(QueueDrainer::new(
        Arc::clone(&service),
        tenant(),
        roster.settings,
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn({
        let drainer = Arc::clone(&drainer);
        // A long interval: only the append of `GoOnline` can wake it in time.
        async move { drainer.run(Duration::from_hours(1), stopped).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for lead in &queued {
        assert_eq!(
            assignee(&service, *lead).await,
            None,
            "nobody is online yet"
        );
    }
    service
        .execute::<Rep>(&tenant(), roster.bob.0, RepCommand::GoOnline, &meta())
        .await
        .expect("online");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for lead in &queued {
        while assignee(&service, *lead).await != Some(roster.bob) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the queued lead {lead:?} was not offered to the rep who came online"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.send(true).expect("the drainer listens");
    running.await.expect("the drainer stops");
    let (team, _) = service
        .load::<Team>(&tenant(), roster.team.0)
        .await
        .expect("loads");
    assert!(team.queue.is_empty());
}

async fn a_lead_linked_to_an_account_goes_to_the_account_s_owner<U: UnitOfWork + Clone>(work: U) {
    use crm_domain::AccountId;
    use crm_domain::account::matching::{AccountAssessment, CompanyAgreement};
    use crm_domain::account::{Account, AccountCommand, AccountStatus};
    use crm_domain::identity::{CompanyDomain, CompanyName, MatchVerdict, Score};
    use crm_domain::lead::LeadCommand;
    use crm_domain::routing::{Preference, PreferenceReason};

    let (service, _) = service(work);
    // Ada is first in the rotation (weights 2 and 1); Bob owns the account.
    let roster = roster(&service, (2, 1)).await;
    let account = AccountId::from_uuid(Uuid::now_v7());
    service
        .execute::<Account>(
            &tenant(),
            account.0,
            AccountCommand::Open {
                account,
                name: CompanyName::new("Analytical Engines Ltd").expect("a name"),
                owner: roster.bob,
                domains: vec![CompanyDomain::parse("engines.example").expect("a domain")],
                industry: None,
                employees: None,
                addresses: Vec::new(),
            },
            &meta(),
        )
        .await
        .expect("opened");
    let matched = |verdict| AccountAssessment {
        account,
        score: Score::from_ten_thousandths(9_500),
        verdict,
        domain: CompanyAgreement::Same,
        name: CompanyAgreement::Same,
        name_similarity: Some(Score::ONE),
    };
    let linked_lead = |verdict| {
        let service = Arc::clone(&service);
        async move {
            let lead = captured_lead(&service).await;
            service
                .execute::<Lead>(
                    &tenant(),
                    lead.0,
                    LeadCommand::RecordAccountMatch {
                        assessment: matched(verdict),
                    },
                    &meta(),
                )
                .await
                .expect("matched");
            lead
        }
    };

    let routed_to = |lead: LeadId| {
        let service = Arc::clone(&service);
        async move {
            match route_lead(&service, &tenant(), roster.settings, lead)
                .await
                .expect("routed")
            {
                RouteOutcome::Assigned { rep, team } => {
                    assert_eq!(team, roster.team);
                    rep
                }
                other => panic!("assigned: {other:?}"),
            }
        }
    };

    // An auto-link: the owner gets it, and the lead's decision says why.
    let lead = linked_lead(MatchVerdict::AutoLink).await;
    assert_eq!(routed_to(lead).await, roster.bob);
    let preferred = preference_of(&service, lead).await;
    let expected = Preference {
        rep: roster.bob,
        reason: PreferenceReason::AccountOwner { account },
    };
    assert_eq!(
        preferred,
        Some(serde_json::to_value(&expected).expect("json")),
        "the lead's routing step names the preference"
    );

    // A match only in the review band prefers nobody: the rotation goes on with Ada.
    let lead = linked_lead(MatchVerdict::Review).await;
    assert_eq!(routed_to(lead).await, roster.ada);

    // The owner offline: the strategy decides, and the owner's verdict says why not.
    service
        .execute::<Rep>(&tenant(), roster.bob.0, RepCommand::GoOffline, &meta())
        .await
        .expect("offline");
    let lead = linked_lead(MatchVerdict::AutoLink).await;
    assert_eq!(routed_to(lead).await, roster.ada);
    // A closed account prefers nobody either.
    service
        .execute::<Account>(
            &tenant(),
            account.0,
            AccountCommand::Close {
                reason: "merged into the group".into(),
            },
            &meta(),
        )
        .await
        .expect("closed");
    let (closed, _) = service
        .load::<Account>(&tenant(), account.0)
        .await
        .expect("loads");
    assert_ne!(
        closed.profile.map(|p| p.status),
        Some(AccountStatus::Active)
    );
    service
        .execute::<Rep>(&tenant(), roster.bob.0, RepCommand::GoOnline, &meta())
        .await
        .expect("online");
    let lead = linked_lead(MatchVerdict::AutoLink).await;
    route_lead(&service, &tenant(), roster.settings, lead)
        .await
        .expect("routed");
    assert_eq!(preference_of(&service, lead).await, None);
}

/// The preference the lead's routing step recorded, as JSON.
async fn preference_of<U: UnitOfWork>(
    service: &CommandService<U>,
    lead: LeadId,
) -> Option<serde_json::Value> {
    let stream = crm_app::stream_of::<Lead>(lead.0).expect("a stream");
    service
        .work()
        .store()
        .read_stream(&tenant(), &stream, StreamRead::forward())
        .await
        .expect("reads")
        .iter()
        .find_map(|event| event.payload.get("decision")?.get("preferred").cloned())
}
