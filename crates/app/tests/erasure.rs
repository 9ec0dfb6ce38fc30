//! Personal data encrypted from the first event, and erased everywhere the event store keeps
//! it: on PostgreSQL, a `pg_dump` of the whole database before the erasure holds the person's
//! data only as ciphertext, and after it not even the keys; the hash chains still verify, and
//! every record of the person still loads, with its personal fields empty.

mod support;

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::Days;
use crm_app::intake::{Inbox, IntakeSettings, IntakeWorker, LeadDelivery, Submitted, submit};
use crm_app::subject_access::{SubjectAccessError, subject_access};
use crm_app::workflow::{ConversionSettings, OpenConvertedLead, PropagateErasure};
use crm_app::{CommandError, CommandService, UnitOfWork, WorkflowRunner, erase_person};
use crm_domain::ContactId;
use crm_domain::activity::{Activity, ActivityCommand, ActivityKind, Direction, NewActivity};
use crm_domain::contact::{
    Contact, ContactCommand, ContactStatus, ErasureGround, ErasureRequest, ErasureRequester,
    Provenance,
};
use crm_domain::lead::Lead;
use crm_domain::opportunity::{Opportunity, Pipeline};
use crm_domain::task::{Task, TaskCommand};
use crm_domain::ticket::{Ticket, TicketCommand};
use crm_domain::{ActivityId, Channel, Currency, Priority, RecordRef, TaskId, TicketId};
use crm_eventstore::EventStore;
use crm_eventstore::crypto::CryptoError;
use support::{converted_lead, meta, service, t0, tenant};
use uuid::Uuid;

/// What must never be stored in clear: the person's name, email and words.
const PERSONAL: [&str; 7] = [
    "Lovelace",
    "ada@example.com",
    "cannot sign in to the engine",
    "my difference engine",
    // Her customer number in billing, a national id billing sent, and another the support
    // desk sent that waits for review.
    "CUST-ADA-1815",
    "NI-1815-AAL",
    "NI-DESK-0042",
];

/// What the connected systems say of her: billing links its customer number and sets her
/// national id, then the support desk proposes another, held for review.
async fn connected_systems_speak<U: UnitOfWork>(service: &CommandService<U>, contact: ContactId) {
    use crm_domain::contact::{ContactField, Detail, DetailChange, ExternalId};
    use crm_domain::sync::{ContactRules, FieldPolicy, FieldRule};
    let rules: ContactRules = [(
        ContactField::NationalId,
        FieldRule::new(FieldPolicy::ManualReview),
    )]
    .into_iter()
    .collect();
    let external = ExternalId::new("billing", "CUST-ADA-1815").expect("an id");
    service
        .execute::<Contact>(
            &tenant(),
            contact.0,
            ContactCommand::LinkExternalId(external),
            &meta(),
        )
        .await
        .expect("linked");
    for (system, national_id) in [("billing", "NI-1815-AAL"), ("desk", "NI-DESK-0042")] {
        let sync = ContactCommand::Sync {
            changes: vec![DetailChange::Set(Detail::NationalId(Some(
                national_id.into(),
            )))],
            provenance: Provenance::new(system, t0()),
            rules: rules.clone(),
        };
        service
            .execute::<Contact>(&tenant(), contact.0, sync, &meta())
            .await
            .expect("synced");
    }
    let (person, _) = service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("loads");
    assert_eq!(person.conflicts.len(), 1, "the desk's value waits");
    assert_eq!(person.external_ids.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_keeps_personal_data_encrypted_and_erases_it() {
    let fixture = support::memory();
    let work = fixture.work.clone();
    let inbox = crm_app::intake::MemoryInbox::default();
    Box::pin(erase_a_person(fixture.work, inbox, move || {
        let work = work.clone();
        async move {
            let page = work
                .store()
                .inner()
                .read_all(&tenant(), crm_eventstore::GlobalPosition::default(), 10_000)
                .await
                .expect("the raw events read");
            format!("{:?}", page.events)
        }
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_holds_no_personal_data_after_erasure() {
    let fixture = support::postgres().await;
    let url = fixture
        .database
        .as_ref()
        .expect("a PostgreSQL fixture has a database")
        .url
        .clone();
    let inbox = crm_app::intake::PostgresInbox::new(fixture.work.event_store().clone());
    Box::pin(erase_a_person(fixture.work.clone(), inbox, move || {
        let url = url.clone();
        async move { pg_dump(&url) }
    }))
    .await;
    drop(fixture);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_holds_no_personal_data_after_erasure() {
    let fixture = support::sqlite();
    let directory = fixture
        .directory
        .as_ref()
        .expect("a SQLite fixture has a directory")
        .path()
        .to_path_buf();
    let inbox = crm_app::intake::SqliteInbox::new(fixture.work.event_store().database().clone());
    Box::pin(erase_a_person(fixture.work.clone(), inbox, move || {
        let directory = directory.clone();
        async move { file_bytes(&directory) }
    }))
    .await;
    drop(fixture);
}

/// Every byte of every file in `directory` (the database, its write-ahead log and its
/// shared-memory index), as lossy text: what a copy of the disk would hold.
fn file_bytes(directory: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(directory).expect("the directory reads") {
        let path = entry.expect("an entry").path();
        let bytes = std::fs::read(&path).expect("the file reads");
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(
        text.contains("CREATE TABLE eventstore_events") && text.contains("contact-"),
        "the files read are the database, its schema and its streams"
    );
    text
}

/// The whole database as `pg_dump` writes it (schema and every table's rows).
fn pg_dump(url: &str) -> String {
    let output = Command::new("pg_dump")
        .arg("--dbname")
        .arg(url)
        .arg("--no-owner")
        .output()
        .expect("pg_dump runs (the PostgreSQL client is installed with the server)");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the dump is UTF-8")
}

fn intake_settings() -> IntakeSettings {
    IntakeSettings {
        default_region: crm_domain::identity::CountryCode::new("GB").expect("a valid country"),
        routing: None,
        batch: 10,
        parallelism: 1,
        lease: chrono::TimeDelta::seconds(30),
        retry_after: chrono::TimeDelta::zero(),
        custom_fields: std::collections::BTreeMap::new(),
    }
}

fn settings() -> ConversionSettings {
    ConversionSettings {
        pipeline: Pipeline::default(),
        currency: Currency::new("EUR").expect("a valid currency"),
        expected_close_after: Days::new(90),
        fallback_owner: support::DEAL_OWNER,
    }
}

fn request() -> ErasureRequest {
    ErasureRequest {
        requested_by: ErasureRequester::DataSubject,
        legal_basis: ErasureGround::ConsentWithdrawn,
        requested_at: t0(),
    }
}

fn assert_no_plaintext(copy: &str, when: &str) {
    for text in PERSONAL {
        assert!(!copy.contains(text), "{when}: {text:?} is stored in clear");
    }
}

/// A person with a lead, a contact, a deal and a ticket; erased; then checked through
/// `raw_copy`, which returns everything the backend stores, as text.
async fn erase_a_person<U, I, F, Fut>(work: U, inbox: I, raw_copy: F)
where
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
    F: Fn() -> Fut,
    Fut: Future<Output = String>,
{
    let (service, _clock) = service(work);
    let (lead, converted) = converted_lead(&service).await;
    let last = converted
        .outcome
        .events
        .last()
        .expect("the conversion appended")
        .position;
    let runner = WorkflowRunner::new(
        Arc::clone(&service),
        Arc::new(OpenConvertedLead::new(settings())),
        tenant(),
    );
    runner
        .catch_up_to(last, Duration::from_secs(20))
        .await
        .expect("the conversion's workflow runs");
    let (lead_state, _) = service
        .load::<Lead>(&tenant(), lead.0)
        .await
        .expect("loads");
    let contact = lead_state.converted_to.expect("converted");
    let ticket = TicketId(Uuid::now_v7());
    service
        .execute::<Ticket>(
            &tenant(),
            ticket.0,
            TicketCommand::Open {
                ticket,
                contact,
                subject: "Ada Lovelace cannot sign in to the engine".into(),
                channel: Channel::Email,
                priority: Priority::High,
                message: Some("Hello, my difference engine refuses my password.".into()),
                follow_up_of: None,
                account: None,
            },
            &meta(),
        )
        .await
        .expect("the ticket opens");

    connected_systems_speak(&service, contact).await;
    // Two tasks about her: one on her contact, one on her deal that names her.
    let deal = opportunity_of(&service, lead).await.id().expect("opened");
    let tasks = [
        (RecordRef::Contact(contact), None),
        (RecordRef::Opportunity(deal), Some(contact)),
    ]
    .map(|(concerns, named)| (TaskId(Uuid::now_v7()), concerns, named));
    for (task, concerns, named) in tasks {
        service
            .execute::<Task>(
                &tenant(),
                task.0,
                TaskCommand::Create {
                    task,
                    title: "Call Ada Lovelace back".into(),
                    description: Some("About my difference engine".into()),
                    owner: crm_domain::UserId(Uuid::from_u128(0xa11ce)),
                    concerns: Some(concerns),
                    contact: named,
                    due_at: None,
                    priority: Priority::Normal,
                },
                &meta(),
            )
            .await
            .expect("the task is created");
    }
    // A call logged on her contact.
    let call = ActivityId(Uuid::now_v7());
    service
        .execute::<Activity>(
            &tenant(),
            call.0,
            ActivityCommand::Log(NewActivity {
                activity: call,
                kind: ActivityKind::Call,
                records: vec![RecordRef::Contact(contact)],
                occurred_at: t0(),
                duration_seconds: Some(300),
                direction: Some(Direction::Inbound),
                participants: Vec::new(),
                outcome: None,
                subject: Some("Ada Lovelace called".into()),
                body: Some("About my difference engine again".into()),
                performed_by: None,
            }),
            &meta(),
        )
        .await
        .expect("the call is logged");

    // Stored: only ciphertext. Read: plaintext.
    assert_no_plaintext(&raw_copy().await, "before the erasure");
    service.clear_caches();
    let (person, _) = service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("loads");
    assert_eq!(person.source_leads, vec![lead]);
    assert!(format!("{person:?}").contains("ada@example.com"));
    let (request_ticket, _) = service
        .load::<Ticket>(&tenant(), ticket.0)
        .await
        .expect("loads");
    assert_eq!(
        request_ticket.subject.as_deref(),
        Some("Ada Lovelace cannot sign in to the engine")
    );

    // Subject access: one document holds everything about the person, in clear, found
    // from the history: the contact, the lead it came from, the deal and the ticket.
    let held = subject_access(&service, &tenant(), contact, t0())
        .await
        .expect("the export is made");
    assert!(!held.erased);
    assert_eq!(held.contacts, vec![contact.0]);
    assert_eq!(held.leads, vec![lead.0]);
    assert_eq!(held.tickets, vec![ticket.0]);
    assert_eq!(held.opportunities.len(), 1, "the deal of the conversion");
    assert_eq!(
        held.tasks.len(),
        2,
        "the task on her contact and on her deal"
    );
    assert_eq!(held.activities, vec![call.0]);
    assert_eq!(held.records.len(), 7, "{:?}", held.records.keys());
    let text = serde_json::to_string(&held).expect("serializes");
    for personal in ["Lovelace", "ada@example.com", "my difference engine"] {
        assert!(text.contains(personal), "{personal:?} is in the export");
    }
    assert!(matches!(
        subject_access(&service, &tenant(), ContactId(Uuid::now_v7()), t0()).await,
        Err(SubjectAccessError::NotFound(_))
    ));

    let report = erase_person(&service, &inbox, &tenant(), contact, request(), &meta())
        .await
        .expect("the person is erased");
    assert_eq!(report.contacts, vec![contact]);
    assert_eq!(report.leads, vec![lead]);
    assert_eq!(report.shredded.len(), 2);

    let copy = raw_copy().await;
    assert_no_plaintext(&copy, "after the erasure");
    // Every record still loads, from a clean start, with nothing personal left.
    let (lead_state, _) = service
        .load::<Lead>(&tenant(), lead.0)
        .await
        .expect("loads");
    let profile = lead_state.profile.as_ref().expect("the captured profile");
    assert_eq!((&profile.name, &profile.email), (&None, &None));
    let (person, _) = service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("loads");
    assert_eq!(person.status, Some(ContactStatus::Erased));
    assert!(!person.holds_personal_data());
    let (erased_ticket, _) = service
        .load::<Ticket>(&tenant(), ticket.0)
        .await
        .expect("loads");
    assert_eq!(erased_ticket.subject.as_deref(), Some(""));
    let opportunity = opportunity_of(&service, lead).await;
    assert_eq!(opportunity.deal.map(|deal| deal.name), Some(String::new()));
    for (task, _, _) in tasks {
        let (erased_task, _) = service
            .load::<Task>(&tenant(), task.0)
            .await
            .expect("loads");
        let details = erased_task.details.expect("the task stays");
        assert_eq!((details.title.as_str(), details.description), ("", None));
    }
    for text in PERSONAL {
        let states = format!("{lead_state:?}{person:?}{erased_ticket:?}");
        assert!(
            !states.contains(text),
            "{text:?} survived in a loaded state"
        );
    }
    // Every connected system is told, by ids only, once however often the event is seen.
    let erased_at = service
        .work()
        .store()
        .read_stream(
            &tenant(),
            &crm_eventstore::StreamId::new(format!("contact-{}", contact.0)).expect("a stream"),
            crm_eventstore::StreamRead::backward().limit(1),
        )
        .await
        .expect("reads")
        .pop()
        .expect("the erasure")
        .position;
    let notices = WorkflowRunner::new(
        Arc::clone(&service),
        Arc::new(PropagateErasure::new(vec!["erp".into(), "billing".into()])),
        tenant(),
    );
    notices
        .catch_up_to(erased_at, Duration::from_secs(20))
        .await
        .expect("the notices are written");
    let told = |outbox: Vec<crm_app::OutboxEntry>| -> Vec<(String, String)> {
        let mut told: Vec<(String, String)> = outbox
            .into_iter()
            .filter(|entry| entry.message.payload["type"] == "contact-erased")
            .map(|entry| (entry.message.destination, entry.message.idempotency_key))
            .collect();
        told.sort();
        told
    };
    let key = format!("contact-erased:{}", contact.0);
    assert_eq!(
        told(service.work().outbox(&tenant()).await.expect("reads")),
        vec![("billing".to_owned(), key.clone()), ("erp".to_owned(), key)]
    );
    let notice_text = format!(
        "{:?}",
        service.work().outbox(&tenant()).await.expect("reads")
    );
    assert_no_plaintext(&notice_text, "in the erasure notices");
    // A restarted runner writes nothing more.
    let again = WorkflowRunner::new(
        Arc::clone(&service),
        Arc::new(PropagateErasure::new(vec!["erp".into(), "billing".into()])),
        tenant(),
    );
    again
        .catch_up_to(erased_at, Duration::from_secs(20))
        .await
        .expect("runs");
    assert_eq!(
        told(service.work().outbox(&tenant()).await.expect("reads")).len(),
        2
    );

    // What is held after the erasure: the records, their facts, nothing personal.
    let held = subject_access(&service, &tenant(), contact, t0())
        .await
        .expect("the export is made");
    assert!(held.erased);
    assert_eq!(held.records.len(), 7);
    assert_no_plaintext(
        &serde_json::to_string(&held).expect("serializes"),
        "in the subject access export after the erasure",
    );
    // A marketing tool sends her again, typed otherwise: the delivery is kept and answered,
    // then discarded with its payload, and no lead is made.
    let resent = LeadDelivery {
        source: "marketing".into(),
        external_id: "campaign-7/ada".into(),
        payload: serde_json::json!({
            "first_name": "Ada", "last_name": "Lovelace", "email": " ADA@Example.com ",
            "company": "Analytical Engines",
        }),
    };
    let stored = submit(&inbox, &tenant(), std::slice::from_ref(&resent), t0())
        .await
        .expect("accepted at the door");
    let worker = IntakeWorker::new(
        Arc::clone(&service),
        inbox.clone(),
        tenant(),
        intake_settings(),
    );
    let pass = worker.pass().await.expect("a pass");
    assert_eq!((pass.done, pass.suppressed), (1, 1), "{pass:?}");
    let Submitted::Accepted { id } = stored[0] else {
        panic!("a new delivery: {stored:?}");
    };
    let (never, _) = service.load::<Lead>(&tenant(), id).await.expect("loads");
    assert_eq!(never.status, None, "no lead was made");
    assert_no_plaintext(&raw_copy().await, "after a suppressed delivery");
    // Someone else is not suppressed.
    let grace = LeadDelivery {
        external_id: "campaign-7/grace".into(),
        payload: serde_json::json!({ "email": "grace@example.com" }),
        ..resent
    };
    submit(&inbox, &tenant(), &[grace], t0())
        .await
        .expect("accepted");
    let pass = worker.pass().await.expect("a pass");
    assert_eq!((pass.done, pass.suppressed), (1, 0), "{pass:?}");
    // The history is whole.
    let verified = service
        .work()
        .store()
        .verify(&tenant())
        .await
        .expect("verifies");
    assert!(verified.is_intact(), "{verified:?}");

    // Erasing again changes nothing and reports the same.
    let again = erase_person(&service, &inbox, &tenant(), contact, request(), &meta())
        .await
        .expect("a second erasure is harmless");
    assert_eq!(again, report);
    // Nothing personal about the person can be written any more.
    let refused = service
        .execute::<Contact>(
            &tenant(),
            contact.0,
            ContactCommand::RecordSourceLead { lead },
            &meta(),
        )
        .await;
    assert!(
        matches!(refused, Err(CommandError::Rejected(_))),
        "{refused:?}"
    );
    let reply = service
        .execute::<Ticket>(
            &tenant(),
            ticket.0,
            TicketCommand::RecordCustomerReply {
                from: contact,
                body: "Ada again".into(),
                channel: Channel::Email,
            },
            &meta(),
        )
        .await;
    assert!(
        matches!(
            reply,
            Err(CommandError::PersonalData(
                CryptoError::SubjectShredded { .. }
            ))
        ),
        "{reply:?}"
    );
}

/// The deal the lead's conversion opened, loaded.
async fn opportunity_of<U: UnitOfWork>(
    service: &CommandService<U>,
    lead: crm_domain::LeadId,
) -> Opportunity {
    let history = service
        .work()
        .store()
        .read_stream(
            &tenant(),
            &crm_eventstore::StreamId::new(format!("lead-{}", lead.0)).expect("a stream"),
            crm_eventstore::StreamRead::forward(),
        )
        .await
        .expect("reads");
    let opportunity = history
        .iter()
        .find_map(|event| {
            match crm_domain::decode::<crm_domain::lead::LeadEvent>(
                &event.event_type,
                event.schema_version,
                event.payload.clone(),
            ) {
                Ok(crm_domain::lead::LeadEvent::Converted {
                    opportunity_id: Some(opportunity),
                    ..
                }) => Some(opportunity),
                _ => None,
            }
        })
        .expect("the conversion opened a deal");
    let (deal, _) = service
        .load::<Opportunity>(&tenant(), opportunity.0)
        .await
        .expect("loads");
    deal
}
