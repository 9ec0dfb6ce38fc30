//! Lead intake on every backend: a delivery becomes one lead (received, then captured and
//! routed, or quarantined with its reasons), a redelivery becomes nothing, a bulk batch is one
//! insert whose depth and age the inbox reports until workers catch up, and a commit whose
//! answer was lost at any step is redone without doubling anything.

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::TimeDelta;
use crm_app::intake::{
    Inbox, IntakeError, IntakeSettings, IntakeWorker, LeadDelivery, Submitted, submit,
};
use crm_app::{CommandService, UnitOfWork};
use crm_domain::UserId;
use crm_domain::identity::CountryCode;
use crm_domain::lead::{Lead, LeadStatus};
use crm_eventstore::{EventStore, StreamId, StreamRead};
use serde_json::json;
use support::{Faulty, roster, t0, tenant};

on_every_backend_with!(
    memory: crm_app::intake::MemoryInbox::default(),
    postgres: |store| crm_app::intake::PostgresInbox::new(store),
    sqlite: |file| crm_app::intake::SqliteInbox::new(file);
    a_delivery_becomes_one_routed_lead_and_a_redelivery_nothing,
    a_bulk_batch_waits_in_the_inbox_until_workers_catch_up,
    a_lost_commit_answer_at_any_step_is_redone_without_doubles,
    receipt_and_capture_commit_together_and_a_lead_received_alone_is_captured,
    a_lead_from_a_known_person_records_the_contact_with_its_evidence,
    quarantined_leads_are_captured_again_after_a_fix,
    mapped_form_fields_become_custom_fields_and_refused_ones_stay_in_the_payload,
    a_pass_s_leads_are_offered_together_and_each_offer_counts_toward_the_next,
    an_idle_worker_starts_at_once_on_a_delivery_from_a_clone_of_its_inbox,
);

fn delivery(external_id: &str, email: Option<&str>) -> LeadDelivery {
    let mut payload = json!({
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": "Analytical Engines",
        "country": "GB",
        "utm_source": "newsletter",
    });
    if let Some(email) = email {
        payload["email"] = json!(email);
    }
    LeadDelivery {
        source: "web-form".into(),
        external_id: external_id.into(),
        payload,
    }
}

fn settings(routing: Option<crm_app::routing::RoutingSettings>) -> IntakeSettings {
    IntakeSettings {
        default_region: CountryCode::new("GB").expect("a valid country"),
        routing,
        batch: 20,
        parallelism: 4,
        lease: TimeDelta::seconds(30),
        retry_after: TimeDelta::zero(),
        custom_fields: std::collections::BTreeMap::new(),
    }
}

async fn lead<U: UnitOfWork>(service: &CommandService<U>, id: uuid::Uuid) -> Lead {
    service
        .load::<Lead>(&tenant(), id)
        .await
        .expect("the lead loads")
        .0
}

async fn history_len<U: UnitOfWork>(work: &U, id: uuid::Uuid) -> usize {
    work.store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("lead-{id}")).expect("a stream"),
            StreamRead::forward(),
        )
        .await
        .expect("reads")
        .len()
}

/// An intake worker of the test tenant over `service` and a clone of `inbox`.
fn worker<U: UnitOfWork, I: Inbox + Clone>(
    service: &Arc<CommandService<U>>,
    inbox: &I,
    settings: IntakeSettings,
) -> IntakeWorker<U, I> {
    IntakeWorker::new(Arc::clone(service), inbox.clone(), tenant(), settings)
}

fn id_of(submitted: Submitted) -> uuid::Uuid {
    match submitted {
        Submitted::Accepted { id } | Submitted::Duplicate { id } => id,
    }
}

async fn a_delivery_becomes_one_routed_lead_and_a_redelivery_nothing<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    let (service, _) = support::service(work.clone());
    let roster = roster(&service, (1, 1)).await;
    let batch = [
        delivery("evt-1", Some("ada@example.com")),
        delivery("evt-2", None),
        delivery("evt-3", Some("grace@example.com")),
    ];
    let first = submit(&inbox, &tenant(), &batch, t0())
        .await
        .expect("stored");
    assert!(
        first
            .iter()
            .all(|outcome| matches!(outcome, Submitted::Accepted { .. }))
    );
    let again = submit(&inbox, &tenant(), &batch[..1], t0())
        .await
        .expect("a redelivery is answered");
    assert_eq!(
        again,
        vec![Submitted::Duplicate {
            id: id_of(first[0])
        }]
    );

    let worker = worker(&service, &inbox, settings(Some(roster.settings)));
    assert_eq!(worker.drain().await.expect("drains"), 3);
    let reps: [UserId; 2] = [roster.ada, roster.bob];
    for (index, outcome) in first.iter().enumerate() {
        let state = lead(&service, id_of(*outcome)).await;
        if index == 1 {
            // Neither email nor phone: quarantined with its reasons, the raw payload kept.
            assert_eq!(state.status, Some(LeadStatus::Quarantined));
            assert!(!state.quarantine_reasons.is_empty());
        } else {
            assert_eq!(state.status, Some(LeadStatus::Assigned));
            assert!(reps.contains(&state.assignee.expect("assigned")));
            let source = state.source.expect("its source");
            assert_eq!(source.system, "web-form");
        }
    }
    // A redelivery after the lead exists changes nothing either.
    submit(&inbox, &tenant(), &batch, t0())
        .await
        .expect("answered");
    assert_eq!(worker.drain().await.expect("drains"), 0);
    assert_eq!(
        history_len(&work, id_of(first[0])).await,
        3,
        "received, captured, assigned"
    );
    let health = inbox.health(&tenant(), t0()).await.expect("reads");
    assert_eq!(health.depth, 0);

    // Refused at the door, nothing stored: an empty id, a payload deeper than allowed.
    let mut deep = json!("bottom");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let huge = json!({ "email": "a@example.com", "notes": "x".repeat(crm_app::intake::MAX_PAYLOAD_BYTES) });
    for bad in [
        LeadDelivery {
            external_id: " ".into(),
            ..delivery("x", None)
        },
        LeadDelivery {
            payload: deep,
            ..delivery("evt-deep", None)
        },
        LeadDelivery {
            payload: huge,
            ..delivery("evt-huge", None)
        },
    ] {
        let refused = submit(&inbox, &tenant(), &[bad], t0()).await;
        assert!(
            matches!(refused, Err(IntakeError::Invalid { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(inbox.health(&tenant(), t0()).await.expect("reads").depth, 0);

    // A payload with a NUL character in a string is kept as delivered and becomes a lead.
    let odd = LeadDelivery {
        payload: json!({ "email": "nul@example.com", "notes": "a\u{0}b" }),
        ..delivery("evt-nul", None)
    };
    let stored = submit(&inbox, &tenant(), &[odd], t0())
        .await
        .expect("stored");
    assert_eq!(worker.drain().await.expect("drains"), 1);
    assert!(lead(&service, id_of(stored[0])).await.status.is_some());
}

async fn quarantined_leads_are_captured_again_after_a_fix<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    let (service, _) = support::service(work.clone());
    let roster = roster(&service, (1, 1)).await;
    // A London number written nationally: no number at all when read as American.
    let by_phone = LeadDelivery {
        source: "web-form".into(),
        external_id: "evt-phone".into(),
        payload: json!({ "firstName": "Grace", "lastName": "Hopper", "phone": "020 7946 0958" }),
    };
    let stored = submit(
        &inbox,
        &tenant(),
        &[by_phone, delivery("evt-unreachable", None)],
        t0(),
    )
    .await
    .expect("stored");
    let (phone_lead, unreachable) = (id_of(stored[0]), id_of(stored[1]));
    let american = IntakeSettings {
        default_region: CountryCode::new("US").expect("a valid country"),
        ..settings(Some(roster.settings))
    };
    let misconfigured = worker(&service, &inbox, american);
    assert_eq!(misconfigured.drain().await.expect("drains"), 2);
    for id in [phone_lead, unreachable] {
        assert_eq!(
            lead(&service, id).await.status,
            Some(LeadStatus::Quarantined)
        );
    }

    // Replayed under the same settings: nothing changed, nothing recorded.
    let unchanged = misconfigured.replay_quarantined().await.expect("replays");
    assert_eq!(unchanged.examined, 2);
    assert!(unchanged.captured.is_empty() && unchanged.failed.is_empty());
    assert_eq!(
        history_len(&work, phone_lead).await,
        2,
        "received, quarantined"
    );

    // The fix: the default region the form's numbers are written in. The lead it concerns is
    // captured and routed; the other still lacks any way to reach the person.
    let fixed = worker(&service, &inbox, settings(Some(roster.settings)));
    let replayed = fixed.replay_quarantined().await.expect("replays");
    assert_eq!(replayed.examined, 2);
    assert_eq!(replayed.captured, vec![crm_domain::LeadId(phone_lead)]);
    assert_eq!(replayed.still_quarantined.len(), 1);
    assert_eq!(
        replayed.still_quarantined[0].0,
        crm_domain::LeadId(unreachable)
    );
    assert!(
        !replayed.still_quarantined[0].1.is_empty(),
        "with its reasons"
    );
    let state = lead(&service, phone_lead).await;
    assert_eq!(state.status, Some(LeadStatus::Assigned));
    let phone = state
        .profile
        .and_then(|profile| profile.phone)
        .expect("the phone captured");
    assert_eq!(phone.e164(), "+442079460958");

    // Again: the captured lead is no longer quarantined, nothing more is recorded.
    let length = history_len(&work, phone_lead).await;
    let again = fixed.replay_quarantined().await.expect("replays");
    assert_eq!(again.examined, 1);
    assert!(again.captured.is_empty());
    assert_eq!(history_len(&work, phone_lead).await, length);
}

async fn a_bulk_batch_waits_in_the_inbox_until_workers_catch_up<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    let (service, clock) = support::service(work);
    let batch: Vec<LeadDelivery> = (0..60)
        .map(|n| delivery(&format!("bulk-{n}"), Some(&format!("lead{n}@example.com"))))
        .collect();
    let submitted = submit(&inbox, &tenant(), &batch, t0())
        .await
        .expect("one insert");
    assert_eq!(submitted.len(), 60);
    clock.advance(TimeDelta::minutes(3));
    let health = inbox
        .health(&tenant(), t0() + TimeDelta::minutes(3))
        .await
        .expect("reads");
    assert_eq!(health.depth, 60);
    assert_eq!(health.oldest_age, Some(TimeDelta::minutes(3)));

    // Two workers share the inbox: every item is done once.
    let worker = |_| Arc::new(worker(&service, &inbox, settings(None)));
    let (first, second) = (worker(0), worker(1));
    let (a, b) = tokio::join!(first.drain(), second.drain());
    assert_eq!(a.expect("drains") + b.expect("drains"), 60);
    for outcome in submitted {
        let state = lead(&service, id_of(outcome)).await;
        assert_eq!(
            state.status,
            Some(LeadStatus::Captured),
            "no routing configured"
        );
    }
    let health = inbox
        .health(&tenant(), t0() + TimeDelta::minutes(3))
        .await
        .expect("reads");
    assert_eq!((health.depth, health.oldest_age), (0, None));
}

async fn a_lost_commit_answer_at_any_step_is_redone_without_doubles<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    // The commits of an item: the lead received and captured (one append), the lead's
    // routing. Each one in turn commits and then loses its answer, as when the worker dies
    // right after the commit.
    let (setup, _) = support::service(work.clone());
    let roster = roster(&setup, (1, 1)).await;
    for step in 0..2 {
        let mut faulty = Faulty::new(work.clone());
        faulty.lose_answer_of = Arc::new(vec![step]);
        let (service, _) = support::service(faulty.clone());
        let item = delivery(&format!("lost-{step}"), Some("ada@example.com"));
        let submitted = submit(&inbox, &tenant(), &[item], t0())
            .await
            .expect("stored");
        let worker = worker(&service, &inbox, settings(Some(roster.settings)));
        // The first pass fails on the lost answer and leaves the item due; the next finishes.
        let mut done = 0;
        for _ in 0..4 {
            done += worker.drain().await.expect("drains");
        }
        assert_eq!(done, 1, "step {step}");
        let id = id_of(submitted[0]);
        let state = lead(&service, id).await;
        assert_eq!(state.status, Some(LeadStatus::Assigned), "step {step}");
        assert_eq!(
            history_len(&work, id).await,
            3,
            "step {step}: received, captured, assigned once each"
        );
        assert!(
            faulty.commits() >= 2,
            "step {step}: the lost commit happened"
        );
    }
}

async fn receipt_and_capture_commit_together_and_a_lead_received_alone_is_captured<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    let (service, _) = support::service(work.clone());
    let worker = worker(&service, &inbox, settings(None));
    // A fresh item: its lead's first two events are one append (one transaction), so no
    // crash can leave a lead received but not validated.
    let fresh = submit(
        &inbox,
        &tenant(),
        &[delivery("together", Some("ada@example.com"))],
        t0(),
    )
    .await
    .expect("stored");
    assert_eq!(worker.drain().await.expect("drains"), 1);
    let events = work
        .store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("lead-{}", id_of(fresh[0]))).expect("a stream"),
            StreamRead::forward(),
        )
        .await
        .expect("reads");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["LeadReceived", "LeadCaptured"]);
    assert_eq!(
        events[0].position.transaction, events[1].position.transaction,
        "one commit"
    );

    // A lead only received, as a worker from before receipt and capture were one append
    // could leave it when it died: the item claimed again captures it, once.
    let item = delivery("received-alone", Some("grace@example.com"));
    let stored = submit(&inbox, &tenant(), std::slice::from_ref(&item), t0())
        .await
        .expect("stored");
    let id = id_of(stored[0]);
    service
        .execute::<Lead>(
            &tenant(),
            id,
            crm_domain::lead::LeadCommand::Receive {
                lead_id: crm_domain::LeadId(id),
                source: crm_domain::lead::LeadSource {
                    system: item.source.clone(),
                    external_event_id: item.external_id.clone(),
                },
                raw_payload: item.payload.clone(),
                requested_at: t0(),
            },
            &crm_app::CommandMeta::by(crm_domain::Actor::Integration {
                source: item.source.clone(),
            })
            .with_idempotency_key(format!("intake/{id}/receive")),
        )
        .await
        .expect("received");
    assert_eq!(worker.drain().await.expect("drains"), 1);
    assert_eq!(lead(&service, id).await.status, Some(LeadStatus::Captured));
    assert_eq!(history_len(&work, id).await, 2, "received, captured once");
}

/// The identity index with one contact, Ada Lovelace, folded from the contact aggregate's
/// own events.
async fn index_with_ada() -> (
    crm_projections::MemoryStorage<crm_projections::identity::IdentityIndexModel>,
    crm_domain::ContactId,
) {
    use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
    use crm_domain::identity::{EmailAddress, PersonName};
    use crm_domain::{Actor, Aggregate, ContactId, Context};
    use crm_projections::{
        AggregateKind, CrmEvent, DocumentStore, MemoryStorage, ProjectedEvent, ProjectionBatch,
        StreamRef,
    };
    let ada = ContactId(uuid::Uuid::from_u128(0xada));
    let command = ContactCommand::Create {
        contact_id: ada,
        provenance: Provenance::new("crm-ui", t0()),
        changes: vec![
            DetailChange::Set(Detail::GivenName(PersonName::new("Ada").ok())),
            DetailChange::Set(Detail::FamilyName(PersonName::new("Lovelace").ok())),
            DetailChange::AddEmail(EmailAddress::parse("ada@example.com").expect("an email")),
        ],
    };
    let ctx = Context::new(
        t0(),
        Actor::System {
            component: "test".into(),
        },
        ada.0,
    );
    let events: Vec<ProjectedEvent> = Contact::default()
        .decide(command, &ctx)
        .expect("created")
        .into_iter()
        .enumerate()
        .map(|(n, event)| ProjectedEvent {
            position: n as u64 + 1,
            transaction: n as u64 + 1,
            recorded_at: t0(),
            tenant: tenant(),
            stream: StreamRef::new(AggregateKind::Contact, ada.0),
            event: CrmEvent::Contact(event),
            actor: None,
        })
        .collect();
    let index = MemoryStorage::new(crm_projections::identity::IdentityIndexModel::default());
    let through = events.last().expect("events").global_position();
    index
        .commit(&tenant(), None, &ProjectionBatch::new(events, through))
        .await
        .expect("indexed");
    (index, ada)
}

async fn a_lead_from_a_known_person_records_the_contact_with_its_evidence<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    use crm_app::intake::{IdentityResolution, IndexCandidates};
    use crm_domain::identity::MatchVerdict;
    use crm_domain::identity::linkage::LinkageModel;

    let (service, _) = support::service(work.clone());
    let (index, ada) = index_with_ada().await;
    let source = IndexCandidates::new(
        index,
        crm_projections::identity::IdentityIndexModel::default(),
    );
    let batch = [
        delivery("evt-known", Some("Ada@Example.com")),
        delivery("evt-stranger", Some("someone.else@example.org")),
    ];
    let outcomes = submit(&inbox, &tenant(), &batch, t0())
        .await
        .expect("stored");
    let worker = worker(&service, &inbox, settings(None)).with_identity(IdentityResolution::new(
        Arc::new(source),
        LinkageModel::default(),
    ));
    assert_eq!(worker.drain().await.expect("drains"), 2);

    let known = lead(&service, id_of(outcomes[0])).await;
    let found = known.contact_match.expect("the known person is matched");
    assert_eq!(found.contact, ada);
    assert_eq!(found.verdict, MatchVerdict::AutoLink);
    let stranger = lead(&service, id_of(outcomes[1])).await;
    assert_eq!(
        stranger.contact_match, None,
        "only the name is shared, and no blocking key is built from names alone"
    );

    // A redelivery records nothing more.
    let before = history_len(&work, id_of(outcomes[0])).await;
    inbox_replay(&inbox, &batch).await;
    let _ = worker.drain().await.expect("drains");
    assert_eq!(history_len(&work, id_of(outcomes[0])).await, before);
}

/// Submits the batch again: a redelivery, stored once.
async fn inbox_replay<I: Inbox>(inbox: &I, batch: &[LeadDelivery]) {
    let again = submit(inbox, &tenant(), batch, t0())
        .await
        .expect("answered");
    assert!(
        again
            .iter()
            .all(|o| matches!(o, Submitted::Duplicate { .. }))
    );
}

async fn mapped_form_fields_become_custom_fields_and_refused_ones_stay_in_the_payload<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    use crm_app::custom_fields::publish_schema;
    use crm_domain::custom_fields::SchemaDraft;

    let (service, _) = support::service(work.clone());
    let schema: SchemaDraft = serde_json::from_value(json!({
        "entity": "lead",
        "version": 1,
        "fields": [
            {"key": "budget", "label": "Budget", "type": {"kind": "number", "decimal_places": 0}},
            {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}}
        ]
    }))
    .expect("a schema");
    publish_schema(&service, &tenant(), schema, &support::meta())
        .await
        .expect("published");
    let mut form = delivery("evt-budget", Some("ada@example.com"));
    form.payload["fields"] = json!({"budget": "12000", "seats": "lots", "colour": "teal"});
    let stored = submit(&inbox, &tenant(), &[form], t0())
        .await
        .expect("stored");
    let mapping = [("budget", "budget"), ("seats", "seats")]
        .into_iter()
        .map(|(form, key)| (form.to_owned(), key.to_owned()))
        .collect();
    let worker = IntakeWorker::new(
        Arc::clone(&service),
        inbox.clone(),
        tenant(),
        IntakeSettings {
            custom_fields: mapping,
            ..settings(None)
        },
    );
    assert_eq!(worker.drain().await.expect("drains"), 1);
    let kept = lead(&service, id_of(stored[0])).await;
    assert_eq!(
        kept.status,
        Some(LeadStatus::Captured),
        "the lead is never refused"
    );
    assert_eq!(
        kept.custom.get_str("budget").map(ToString::to_string),
        Some("12000".to_owned())
    );
    assert_eq!(
        kept.custom.get_str("seats"),
        None,
        "a value the schema refuses is left out"
    );
    let received = work
        .store()
        .read_stream(
            &tenant(),
            &StreamId::new(format!("lead-{}", id_of(stored[0]))).expect("a stream"),
            StreamRead::forward(),
        )
        .await
        .expect("the lead's stream reads");
    let first = received.first().expect("LeadReceived");
    assert_eq!(first.payload["raw_payload"]["fields"]["seats"], "lots");
    assert_eq!(first.payload["raw_payload"]["fields"]["colour"], "teal");

    // Later: a colour field is declared, and the payloads as delivered are mapped again.
    let second: SchemaDraft = serde_json::from_value(json!({
        "entity": "lead",
        "version": 2,
        "fields": [
            {"key": "budget", "label": "Budget", "type": {"kind": "number", "decimal_places": 0}},
            {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}},
            {"key": "colour", "label": "Colour", "type": {"kind": "text", "max_length": 20}}
        ]
    }))
    .expect("a schema");
    publish_schema(&service, &tenant(), second, &support::meta())
        .await
        .expect("published");
    let mapping = [
        ("budget", "budget"),
        ("seats", "seats"),
        ("colour", "colour"),
    ]
    .into_iter()
    .map(|(form, key)| (form.to_owned(), key.to_owned()))
    .collect();
    let later = IntakeWorker::new(
        Arc::clone(&service),
        inbox.clone(),
        tenant(),
        IntakeSettings {
            custom_fields: mapping,
            ..settings(None)
        },
    );
    let report = later.map_custom_fields().await.expect("mapped");
    assert_eq!(report.examined, 1);
    assert_eq!(report.mapped, [kept.id.expect("an id")]);
    let mapped = lead(&service, id_of(stored[0])).await;
    assert_eq!(
        mapped.custom.get_str("colour").map(ToString::to_string),
        Some("teal".to_owned())
    );
    let before = history_len(&work, id_of(stored[0])).await;
    let again = later.map_custom_fields().await.expect("mapped again");
    assert!(again.failed.is_empty());
    assert_eq!(
        history_len(&work, id_of(stored[0])).await,
        before,
        "mapping again records nothing"
    );
}

async fn a_pass_s_leads_are_offered_together_and_each_offer_counts_toward_the_next<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    // Five deliveries claimed in one pass; two reps with room for two leads each. The pass
    // offers its leads to the team together (one append to the team's stream), and each
    // offer counts toward the loads the next one sees: two leads each, the fifth queued.
    let (service, _) = support::service(work.clone());
    let roster = roster(&service, (1, 1)).await;
    for rep in [roster.ada, roster.bob] {
        service
            .execute::<crm_domain::roster::Rep>(
                &tenant(),
                rep.0,
                crm_domain::roster::RepCommand::ChangeCapacity { capacity: 2 },
                &support::meta(),
            )
            .await
            .expect("the capacity changes");
    }
    let team_stream = StreamId::new(format!("team-{}", roster.team.0)).expect("a stream id");
    let team_before = work
        .store()
        .stream_version(&tenant(), &team_stream)
        .await
        .expect("reads");
    let batch: Vec<LeadDelivery> = (0..5)
        .map(|n| delivery(&format!("pass-{n}"), Some(&format!("p{n}@example.com"))))
        .collect();
    let submitted = submit(&inbox, &tenant(), &batch, t0())
        .await
        .expect("stored");
    let worker = worker(&service, &inbox, settings(Some(roster.settings)));
    let report = worker.pass().await.expect("one pass");
    assert_eq!((report.claimed, report.done), (5, 5), "{report:?}");
    let mut assigned = std::collections::BTreeMap::<UserId, usize>::new();
    let mut queued = 0;
    for outcome in &submitted {
        let state = lead(&service, id_of(*outcome)).await;
        match (state.status, state.assignee) {
            (Some(LeadStatus::Assigned), Some(rep)) => *assigned.entry(rep).or_default() += 1,
            (_, None) if state.queue.is_some() => queued += 1,
            other => panic!("neither assigned nor queued: {other:?}"),
        }
    }
    assert_eq!(
        assigned.values().copied().collect::<Vec<_>>(),
        vec![2, 2],
        "{assigned:?}"
    );
    assert_eq!(queued, 1);
    let team = work
        .store()
        .read_stream(&tenant(), &team_stream, StreamRead::forward())
        .await
        .expect("reads");
    let offers: Vec<_> = team
        .iter()
        .filter(|event| event.version > team_before.unwrap_or(0))
        .collect();
    assert_eq!(offers.len(), 5, "one offer or queueing per lead");
    assert!(
        offers
            .windows(2)
            .all(|pair| pair[0].recorded_at == pair[1].recorded_at),
        "the five recorded by one append"
    );
}

async fn an_idle_worker_starts_at_once_on_a_delivery_from_a_clone_of_its_inbox<
    U: UnitOfWork + Clone,
    I: Inbox + Clone,
>(
    work: U,
    inbox: I,
) {
    // A worker whose pause, once it finds nothing, is an hour: only the arrival wakes it.
    let (service, _) = support::service(work);
    let worker = worker(&service, &inbox, settings(None));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move {
        worker
            .run(std::time::Duration::from_hours(1), stopped)
            .await;
    });
    // Let it find the inbox empty and settle into its pause.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let http_side = inbox.clone();
    let submitted = submit(
        &http_side,
        &tenant(),
        &[delivery("late-1", Some("late@example.com"))],
        t0(),
    )
    .await
    .expect("stored");
    let id = id_of(submitted[0]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let depth = inbox.health(&tenant(), t0()).await.expect("reads").depth;
        if depth == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery still waits: the worker did not wake"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(lead(&service, id).await.status, Some(LeadStatus::Captured));
    stop.send_replace(true);
    running.await.expect("the worker stops");
}
