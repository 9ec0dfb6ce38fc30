//! The workflows on every backend: what each reaction does, that a redelivery (checkpoints
//! lost, so every event is delivered again) changes nothing, and that a commit whose answer
//! was lost at any point (the process died after committing) is neither lost nor doubled.

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::Days;
use crm_app::workflow::{
    ConversionSettings, DispatchError, ERP_DESTINATION, Effect, OpenConvertedLead, StartOnboarding,
    dispatch,
};
use std::time::Duration;

use crm_app::{CommandOutcome, CommandService, UnitOfWork, WorkflowRunner};
use crm_domain::contact::{Contact, ContactCommand, ContactStatus, Provenance};
use crm_domain::lead::{ConversionRequest, Lead, LeadCommand, LeadEvent};
use crm_domain::opportunity::{Opportunity, OpportunityCommand, Pipeline};
use crm_domain::ticket::Ticket;
use crm_domain::{ContactId, Currency, LeadId, Money, OpportunityId, UserId};
use crm_eventstore::{EventStore, GlobalPosition, StreamId};
use support::{Faulty, capture, meta, receive, service, t0, tenant};
use uuid::Uuid;

on_every_backend!(
    a_converted_lead_gets_its_contact_and_deal,
    a_won_deal_opens_onboarding_and_tells_the_erp,
    redelivered_events_change_nothing,
    a_lost_commit_answer_at_any_point_loses_and_doubles_nothing,
    records_for_missing_or_merged_contacts_are_refused_or_redirected,
);

fn rep() -> UserId {
    support::DEAL_OWNER
}

fn settings() -> ConversionSettings {
    ConversionSettings {
        pipeline: Pipeline::default(),
        currency: Currency::new("EUR").expect("a valid currency"),
        expected_close_after: Days::new(90),
        fallback_owner: rep(),
    }
}

/// A lead received, captured and converted with a deal; the conversion event.
async fn converted_lead<U: UnitOfWork>(
    service: &CommandService<U>,
    last: &mut GlobalPosition,
) -> (ContactId, OpportunityId) {
    let lead = LeadId(Uuid::now_v7());
    for command in [
        receive(lead, &format!("evt-{}", lead.0)),
        capture(),
        LeadCommand::Convert(ConversionRequest {
            existing_contact: None,
            open_opportunity: true,
        }),
    ] {
        let done = service
            .execute::<Lead>(&tenant(), lead.0, command, &meta())
            .await
            .expect("the lead moves on");
        note(last, &done.outcome);
    }
    let (state, _) = service
        .load::<Lead>(&tenant(), lead.0)
        .await
        .expect("the lead loads");
    let contact = state.converted_to.expect("converted");
    let history = service
        .work()
        .store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("lead-{}", lead.0)).expect("a stream"),
            crm_eventstore::StreamRead::forward(),
        )
        .await
        .expect("reads");
    let converted: LeadEvent = crm_domain::decode(
        &history[2].event_type,
        history[2].schema_version,
        history[2].payload.clone(),
    )
    .expect("decodes");
    let LeadEvent::Converted {
        opportunity_id: Some(opportunity),
        ..
    } = converted
    else {
        panic!("a conversion with a deal: {converted:?}")
    };
    (contact, opportunity)
}

/// Remembers the latest position an outcome appended at.
fn note(last: &mut GlobalPosition, outcome: &CommandOutcome) {
    if let Some(event) = outcome.events.last() {
        *last = (*last).max(event.position);
    }
}

/// How long a runner may take to see what a test appended.
const SETTLE: Duration = Duration::from_secs(20);

async fn version_of<U: UnitOfWork>(work: &U, stream: String) -> Option<u64> {
    work.store()
        .stream_version(&tenant(), &StreamId::new(stream).expect("a stream"))
        .await
        .expect("the version reads")
}

async fn a_converted_lead_gets_its_contact_and_deal<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let mut last = GlobalPosition::default();
    let (contact, opportunity) = converted_lead(&service, &mut last).await;
    let runner = WorkflowRunner::new(
        Arc::clone(&service),
        Arc::new(OpenConvertedLead::new(settings())),
        tenant(),
    );
    let progress = runner
        .catch_up_to(last, SETTLE)
        .await
        .expect("the workflow runs");
    assert_eq!(progress.effects, 3, "contact, source lead, deal");
    let (person, _) = service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("loads");
    assert_eq!(person.status, Some(ContactStatus::Active));
    assert_eq!(
        person.source_leads.len(),
        1,
        "the lead is recorded on its contact"
    );
    let (deal, _) = service
        .load::<Opportunity>(&tenant(), opportunity.0)
        .await
        .expect("loads");
    let deal = deal.deal.expect("the deal is open");
    assert_eq!(deal.contact, contact);
    assert_eq!(deal.owner, rep(), "no assignee: the fallback owner");
    assert!(deal.name.contains("Analytical Engines"), "{}", deal.name);
    let again = runner.catch_up().await.expect("nothing new");
    assert_eq!(again.effects, 0);
}

/// An open deal for a fresh contact, won (by the shared helper); notes the win's position.
async fn won_deal<U: UnitOfWork>(
    service: &CommandService<U>,
    last: &mut GlobalPosition,
) -> (ContactId, OpportunityId) {
    let (contact, opportunity, won_at) = support::won_deal(service).await;
    *last = (*last).max(won_at);
    (contact, opportunity)
}

/// The onboarding ticket of a won deal: its id (derived from the win) and stream version.
async fn onboarding_ticket<U: UnitOfWork>(
    work: &U,
    opportunity: OpportunityId,
) -> (Uuid, Option<u64>, Uuid) {
    let won = work
        .store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("opportunity-{}", opportunity.0)).expect("a stream"),
            crm_eventstore::StreamRead::backward().limit(1),
        )
        .await
        .expect("reads");
    let ticket = crm_app::derive_id(won[0].id, "onboarding-ticket");
    (
        ticket,
        version_of(work, format!("ticket-{ticket}")).await,
        won[0].id,
    )
}

async fn a_won_deal_opens_onboarding_and_tells_the_erp<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let mut last = GlobalPosition::default();
    let (contact, opportunity) = won_deal(&service, &mut last).await;
    let runner = WorkflowRunner::new(Arc::clone(&service), Arc::new(StartOnboarding), tenant());
    let progress = runner
        .catch_up_to(last, SETTLE)
        .await
        .expect("the workflow runs");
    assert_eq!(progress.effects, 2);
    let (ticket_id, version, won) = onboarding_ticket(&work, opportunity).await;
    assert_eq!(version, Some(1));
    let (ticket, _) = service
        .load::<Ticket>(&tenant(), ticket_id)
        .await
        .expect("loads");
    assert_eq!(ticket.contact, Some(contact));
    let opened = work
        .store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("ticket-{ticket_id}")).expect("a stream"),
            crm_eventstore::StreamRead::forward(),
        )
        .await
        .expect("reads");
    assert_eq!(
        opened[0].metadata.causation_id,
        Some(won),
        "caused by the win"
    );
    let outbox = work.outbox(&tenant()).await.expect("reads");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message.destination, ERP_DESTINATION);
    assert_eq!(
        outbox[0].message.idempotency_key,
        format!("deal-won:{}", opportunity.0)
    );
    assert_eq!(outbox[0].message.payload["amount_minor"], 500_000);
}

async fn redelivered_events_change_nothing<U: UnitOfWork + Clone>(work: U) {
    let mut forgetful = Faulty::new(work.clone());
    forgetful.forget_checkpoints = true;
    let (service, _) = service(forgetful);
    let mut last = GlobalPosition::default();
    let (contact, opportunity) = converted_lead(&service, &mut last).await;
    let (_, won) = won_deal(&service, &mut last).await;
    let conversion = WorkflowRunner::new(
        Arc::clone(&service),
        Arc::new(OpenConvertedLead::new(settings())),
        tenant(),
    );
    let onboarding = WorkflowRunner::new(Arc::clone(&service), Arc::new(StartOnboarding), tenant());
    for delivery in 0..3 {
        let converted = conversion.catch_up_to(last, SETTLE).await.expect("runs");
        let onboarded = onboarding.catch_up_to(last, SETTLE).await.expect("runs");
        if delivery == 0 {
            assert_eq!(converted.effects, 3);
            assert_eq!(onboarded.effects, 2);
        } else {
            assert_eq!(
                converted.effects, 0,
                "delivery {delivery} did something again"
            );
            assert_eq!(converted.replayed, 3);
            assert_eq!(onboarded.replayed + onboarded.effects, 2);
            assert_eq!(
                onboarded.effects, 1,
                "only the outbox write repeats, and is ignored"
            );
        }
    }
    let (person, contact_version) = service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("loads");
    assert!(person.id.is_some());
    let created_once = work
        .store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("contact-{}", contact.0)).expect("a stream"),
            crm_eventstore::StreamRead::forward(),
        )
        .await
        .expect("reads");
    assert_eq!(created_once.len() as u64, contact_version);
    assert_eq!(
        created_once
            .iter()
            .filter(|event| event.event_type == "ContactCreated")
            .count(),
        1
    );
    assert_eq!(
        version_of(&work, format!("opportunity-{}", opportunity.0)).await,
        Some(1)
    );
    assert_eq!(onboarding_ticket(&work, won).await.1, Some(1));
    assert_eq!(work.outbox(&tenant()).await.expect("reads").len(), 1);
}

async fn a_lost_commit_answer_at_any_point_loses_and_doubles_nothing<U: UnitOfWork + Clone>(
    work: U,
) {
    // The conversion and onboarding commit four things between them (contact, deal, ticket,
    // outbox message); each in turn has its answer lost, and the runner goes again.
    for lost in 0..4 {
        let plain = service(work.clone()).0;
        let mut last = GlobalPosition::default();
        let (contact, opportunity) = converted_lead(&plain, &mut last).await;
        let (_, won) = won_deal(&plain, &mut last).await;
        let outbox_before = work.outbox(&tenant()).await.expect("reads").len();

        let mut faulty = Faulty::new(work.clone());
        faulty.lose_answer_of = Arc::new(vec![lost]);
        let (service, _) = service(faulty);
        let runners = [
            WorkflowRunner::new(
                Arc::clone(&service),
                Arc::new(OpenConvertedLead::new(settings())),
                tenant(),
            ),
            WorkflowRunner::new(Arc::clone(&service), Arc::new(StartOnboarding), tenant()),
        ];
        let mut failures = 0;
        for runner in &runners {
            loop {
                match runner.catch_up_to(last, SETTLE).await {
                    Ok(_) => break,
                    Err(error) => {
                        failures += 1;
                        assert!(failures < 5, "keeps failing: {error}");
                    }
                }
            }
        }
        assert_eq!(failures, 1, "exactly the injected loss, round {lost}");
        let (deal, _) = service
            .load::<Opportunity>(&tenant(), opportunity.0)
            .await
            .expect("loads");
        assert_eq!(deal.deal.map(|deal| deal.contact), Some(contact));
        assert_eq!(
            version_of(&work, format!("opportunity-{}", opportunity.0)).await,
            Some(1)
        );
        assert_eq!(onboarding_ticket(&work, won).await.1, Some(1));
        assert_eq!(
            work.outbox(&tenant()).await.expect("reads").len(),
            outbox_before + 1
        );
    }
}

async fn records_for_missing_or_merged_contacts_are_refused_or_redirected<U: UnitOfWork + Clone>(
    work: U,
) {
    let (service, _) = service(work.clone());
    let open = |opportunity: OpportunityId, contact: ContactId| {
        Effect::Opportunity(
            opportunity,
            OpportunityCommand::Open {
                opportunity,
                name: "Deal".into(),
                contact,
                company: None,
                owner: rep(),
                amount: Money::zero(Currency::new("EUR").expect("a currency")),
                expected_close: t0().date_naive(),
                pipeline: Pipeline::default(),
                stage: None,
            },
        )
    };
    let nobody = ContactId(Uuid::now_v7());
    let refused = dispatch(
        &service,
        &tenant(),
        open(OpportunityId(Uuid::now_v7()), nobody),
        &meta(),
    )
    .await;
    assert!(matches!(refused, Err(DispatchError::UnknownContact(id)) if id == nobody));

    let (survivor, _) = won_deal(&service, &mut GlobalPosition::default()).await;
    let absorbed = ContactId(Uuid::now_v7());
    for command in [
        ContactCommand::Create {
            contact_id: absorbed,
            provenance: Provenance::new("crm-ui", t0()),
            changes: vec![],
        },
        ContactCommand::MergeInto { survivor },
    ] {
        service
            .execute::<Contact>(&tenant(), absorbed.0, command, &meta())
            .await
            .expect("the duplicate is merged away");
    }
    let opportunity = OpportunityId(Uuid::now_v7());
    dispatch(&service, &tenant(), open(opportunity, absorbed), &meta())
        .await
        .expect("redirected");
    let (deal, _) = service
        .load::<Opportunity>(&tenant(), opportunity.0)
        .await
        .expect("loads");
    assert_eq!(deal.deal.map(|deal| deal.contact), Some(survivor));
}
