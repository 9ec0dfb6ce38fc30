//! Outreach checked against consent per channel and purpose (`crm_app::outreach`), on every
//! backend: refused without a grant, sent once with one (a retry sends nothing twice), refused
//! for another purpose of the same channel, refused when a lead the contact came from carried
//! a refusal from its form (the least permissive linked record wins), and refused after the
//! person withdrew, naming the withdrawal.

#[macro_use]
mod support;

use std::sync::Arc;

use crm_app::outreach::{
    ConsentGate, OUTREACH_DESTINATION, Outreach, OutreachError, Refusal, send_outreach,
};
use crm_app::uow::FailureCause;
use crm_app::{Clock, Delivery, OutboxMessage, OutboxRelay, Transport, UnitOfWork};
use crm_domain::contact::{
    ConsentChannel, ConsentProof, ConsentPurpose, ConsentScope, ConsentStatus, Contact,
    ContactCommand, Provenance,
};
use crm_domain::lead::{Lead, LeadCommand, LeadSubmission, SubmittedConsent};
use crm_domain::{ActivityId, ContactId, LeadId};
use support::{capture, create_contact, meta, receive, service, t0, tenant};
use uuid::Uuid;

fn email_for(purpose: ConsentPurpose) -> ConsentScope {
    ConsentScope::new(ConsentChannel::Email, purpose)
}

fn outreach(contact: ContactId, scope: ConsentScope) -> Outreach {
    Outreach {
        activity: ActivityId(Uuid::now_v7()),
        contact,
        scope,
        campaign: Some("spring-launch".into()),
        subject: Some("Our spring engines".into()),
        body: Some("Dear Ada…".into()),
    }
}

async fn consent<U: UnitOfWork>(
    service: &crm_app::CommandService<U>,
    contact: ContactId,
    scope: ConsentScope,
    granted: bool,
    minutes_ago: i64,
) {
    let provenance = Provenance::new("web-form", t0() - chrono::TimeDelta::minutes(minutes_ago));
    let command = if granted {
        ContactCommand::GrantConsent {
            channel: scope.channel,
            purpose: scope.purpose,
            provenance,
            proof: ConsentProof {
                form_id: Some("preferences-v2".into()),
                ..ConsentProof::default()
            },
        }
    } else {
        ContactCommand::WithdrawConsent {
            channel: scope.channel,
            purpose: scope.purpose,
            provenance,
            proof: ConsentProof::default(),
        }
    };
    service
        .execute::<Contact>(&tenant(), contact.0, command, &meta())
        .await
        .expect("the statement is recorded");
}

async fn outreach_messages<U: UnitOfWork>(work: &U) -> Vec<String> {
    work.outbox(&tenant())
        .await
        .expect("the outbox reads")
        .into_iter()
        .filter(|entry| entry.message.destination == OUTREACH_DESTINATION)
        .map(|entry| entry.message.idempotency_key)
        .collect()
}

async fn outreach_goes_only_where_consent_allows_it<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let ada = create_contact(&service).await;
    let marketing = email_for(ConsentPurpose::Marketing);

    let never = send_outreach(&service, &tenant(), outreach(ada, marketing), &meta()).await;
    assert!(
        matches!(
            never,
            Err(OutreachError::Refused {
                reason: Refusal::NeverGiven,
                ..
            })
        ),
        "{never:?}"
    );

    consent(&service, ada, marketing, true, 30).await;
    let campaign = outreach(ada, marketing);
    let sent = send_outreach(&service, &tenant(), campaign.clone(), &meta())
        .await
        .expect("a grant allows it");
    assert!(sent.sent);
    let again = send_outreach(&service, &tenant(), campaign.clone(), &meta())
        .await
        .expect("a retry answers");
    assert!(!again.sent, "sent once");
    assert_eq!(
        outreach_messages(&work).await,
        vec![format!("outreach/{}", campaign.activity.0)]
    );
    let (activity, _) = service
        .load::<crm_domain::activity::Activity>(&tenant(), campaign.activity.0)
        .await
        .expect("the activity reads");
    assert!(
        activity.id().is_some(),
        "the outreach is logged on the contact"
    );

    // Another purpose of the same channel is its own question.
    let survey = send_outreach(
        &service,
        &tenant(),
        outreach(ada, email_for(ConsentPurpose::Research)),
        &meta(),
    )
    .await;
    assert!(
        matches!(
            survey,
            Err(OutreachError::Refused {
                reason: Refusal::NeverGiven,
                ..
            })
        ),
        "{survey:?}"
    );

    // A withdrawal later refuses, naming it.
    consent(&service, ada, marketing, false, 5).await;
    let withdrawn = send_outreach(&service, &tenant(), outreach(ada, marketing), &meta()).await;
    let Err(OutreachError::Refused {
        reason: Refusal::Withdrawn { statement },
        ..
    }) = withdrawn
    else {
        panic!("expected a refusal naming the withdrawal, got {withdrawn:?}");
    };
    assert_eq!(statement.status, ConsentStatus::Withdrawn);
    assert_eq!(outreach_messages(&work).await.len(), 1, "nothing more sent");
}

async fn a_refusal_on_the_lead_a_contact_came_from_wins_over_the_contact_s_grant<
    U: UnitOfWork + Clone,
>(
    work: U,
) {
    let (service, _) = service(work.clone());
    let ada = create_contact(&service).await;
    let sales_calls = ConsentScope::new(ConsentChannel::Phone, ConsentPurpose::Sales);
    // The contact says yes to sales calls, later than the form said no.
    consent(&service, ada, sales_calls, true, 1).await;

    let lead = LeadId(Uuid::now_v7());
    let LeadCommand::Capture {
        submission,
        campaign,
        default_region,
    } = capture()
    else {
        unreachable!("capture() is a Capture");
    };
    let form = LeadSubmission {
        consents: vec![SubmittedConsent {
            channel: ConsentChannel::Phone,
            purpose: ConsentPurpose::Sales,
            status: ConsentStatus::Withdrawn,
            proof: ConsentProof::default(),
        }],
        phone: Some("+44 20 7946 0958".into()),
        ..submission
    };
    for command in [
        receive(lead, &format!("evt-{}", lead.0)),
        LeadCommand::Capture {
            submission: form,
            campaign,
            default_region,
        },
    ] {
        service
            .execute::<Lead>(&tenant(), lead.0, command, &meta())
            .await
            .expect("the lead is captured");
    }
    let call = outreach(ada, sales_calls);
    send_outreach(&service, &tenant(), call.clone(), &meta())
        .await
        .expect("before the lead is linked, the contact's grant allows it");

    service
        .execute::<Contact>(
            &tenant(),
            ada.0,
            ContactCommand::RecordSourceLead { lead },
            &meta(),
        )
        .await
        .expect("the lead is linked");
    let refused = send_outreach(&service, &tenant(), outreach(ada, sales_calls), &meta()).await;
    assert!(
        matches!(
            refused,
            Err(OutreachError::Refused {
                reason: Refusal::Withdrawn { .. },
                ..
            })
        ),
        "the form's refusal wins, though older: {refused:?}"
    );
    // A retry of the call sent before is answered as sent, not refused.
    let retried = send_outreach(&service, &tenant(), call, &meta())
        .await
        .expect("a retry of a sent outreach answers");
    assert!(!retried.sent);
    assert_eq!(outreach_messages(&work).await.len(), 1);
}

on_every_backend!(
    outreach_goes_only_where_consent_allows_it,
    a_refusal_on_the_lead_a_contact_came_from_wins_over_the_contact_s_grant,
    an_outreach_queued_before_a_withdrawal_is_withheld_at_sending,
);

/// A transport that counts what it was asked to send, and takes everything.
#[derive(Debug, Default)]
struct Counting {
    sent: std::sync::Mutex<Vec<String>>,
}

impl Transport for Counting {
    async fn deliver(&self, _destination: &str, message: &OutboxMessage) -> Delivery {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(message.idempotency_key.clone());
        Delivery::Delivered
    }
}

/// An outreach queued while the receiver was down, and the person withdrew before it could be
/// sent: the relay's consent gate withholds it (parked, never sent); one still allowed goes.
async fn an_outreach_queued_before_a_withdrawal_is_withheld_at_sending<U: UnitOfWork + Clone>(
    work: U,
) {
    let (service, clock) = service(work.clone());
    let ada = create_contact(&service).await;
    let grace = create_contact(&service).await;
    let marketing = email_for(ConsentPurpose::Marketing);
    consent(&service, ada, marketing, true, 30).await;
    consent(&service, grace, marketing, true, 30).await;
    let to_ada = outreach(ada, marketing);
    let to_grace = outreach(grace, marketing);
    for queued in [&to_ada, &to_grace] {
        let sent = send_outreach(&service, &tenant(), queued.clone(), &meta())
            .await
            .expect("allowed when queued");
        assert!(sent.sent);
    }
    consent(&service, ada, marketing, false, 1).await;

    let gate = ConsentGate::new(Arc::clone(&service), tenant(), Counting::default());
    let relay = OutboxRelay::new(work.clone(), gate, tenant(), Arc::new(clock.clone()));
    let report = relay.relay_once(clock.now()).await.expect("a pass");
    assert_eq!((report.claimed, report.delivered, report.parked), (2, 1, 1));
    let sent = relay
        .transport()
        .inner()
        .sent
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(sent, [format!("outreach/{}", to_grace.activity.0)]);
    let withheld = work
        .outbox(&tenant())
        .await
        .expect("the outbox reads")
        .into_iter()
        .find(|entry| entry.message.idempotency_key == format!("outreach/{}", to_ada.activity.0))
        .expect("the message is kept");
    assert!(withheld.parked_at.is_some() && withheld.delivered_at.is_none());
    let reason = withheld.last_error.unwrap_or_default();
    assert!(
        reason.starts_with("withheld: consent was withdrawn"),
        "{reason}"
    );
    let health = work
        .outbox_destinations(&tenant(), clock.now())
        .await
        .expect("the destinations read");
    assert_eq!(
        health[0].failures.get(&FailureCause::Withheld),
        Some(&1),
        "{health:?}"
    );
}
