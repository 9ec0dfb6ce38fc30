//! The command service's contract, on every backend: first result on a retry, conflicts on a
//! reused key, nothing written on a refusal, metadata stamped, retries on version conflicts,
//! concurrent twins committing once, outbox messages committed with the events.

#[macro_use]
mod support;

use std::sync::Arc;

use crm_app::custom_fields::{current_schema, publish_schema, update_under_current};
use crm_app::{CommandError, CommandMeta, OutboxMessage, UnitOfWork};
use crm_domain::contact::{Contact, ContactCommand, Detail, DetailChange, Provenance};
use crm_domain::custom_fields::{CustomFieldSettingsError, EntityKind, SchemaDraft};
use crm_domain::lead::{ConversionRequest, Lead, LeadCommand, LeadError, LeadEvent};
use crm_domain::task::{Task, TaskCommand, TaskError};
use crm_domain::{ContactId, LeadId, Priority, TaskId, UserId};
use crm_eventstore::{EventStore, ExpectedVersion, NewEvent, Source, StreamId, StreamRead};
use support::{capture, create_contact, meta, receive, service, t0, tenant, user};
use uuid::Uuid;

on_every_backend!(
    a_retry_with_the_same_key_returns_the_first_result,
    the_same_key_for_another_request_is_a_conflict,
    a_refusal_writes_nothing_and_keeps_the_key_free,
    every_event_carries_the_commands_metadata,
    concurrent_writers_on_one_aggregate_lose_no_update,
    concurrent_twins_under_one_key_commit_once,
    a_command_that_changes_nothing_is_remembered_under_its_key,
    outbox_messages_commit_with_the_events_and_once,
    another_process_writing_the_stream_is_seen,
    a_stream_this_build_cannot_read_refuses_commands,
    a_conversion_decides_the_same_ids_when_sent_again,
    one_meta_reused_for_several_commands_mints_distinct_ids,
    a_command_at_an_expected_version_is_decided_there_or_refused_as_stale,
    racing_writers_at_one_expected_version_commit_once,
    a_list_of_commands_commits_together_or_not_at_all,
    new_aggregates_are_created_together_and_the_rest_left_to_execute_alone,
    commands_on_many_aggregates_commit_together_and_answer_as_alone,
    custom_fields_are_decided_under_the_published_schema,
);

async fn a_retry_with_the_same_key_returns_the_first_result<U: UnitOfWork + Clone>(work: U) {
    let (service, clock) = service(work.clone());
    let lead = LeadId(Uuid::now_v7());
    let meta = meta().with_idempotency_key("intake-1");
    let first = service
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-1"), &meta)
        .await
        .expect("the first request commits");
    assert!(!first.replayed);
    assert_eq!(first.version, 1);
    assert_eq!(first.events.len(), 1);

    clock.advance(chrono::TimeDelta::minutes(3));
    let retry = service
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-1"), &meta)
        .await
        .expect("the retry answers");
    assert!(retry.replayed);
    assert_eq!(retry.outcome, first.outcome);
    assert_eq!(retry.events, first.events, "the first events, read back");

    // After a restart (a new service, nothing cached) and from another process alike.
    let (restarted, _) = support::service(work.clone());
    let again = restarted
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-1"), &meta)
        .await
        .expect("the retry answers after a restart");
    assert!(again.replayed);
    assert_eq!(again.outcome, first.outcome);
    let stream = StreamId::new(format!("lead-{}", lead.0)).expect("a valid stream");
    let stored = work
        .store()
        .read_stream(&tenant(), &stream, StreamRead::forward())
        .await
        .expect("the stream reads");
    assert_eq!(stored.len(), 1, "nothing was appended twice");
}

async fn the_same_key_for_another_request_is_a_conflict<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work);
    let lead = LeadId(Uuid::now_v7());
    let meta = meta().with_idempotency_key("intake-2");
    service
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-2"), &meta)
        .await
        .expect("the first request commits");
    let other = service
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-other"), &meta)
        .await;
    assert!(
        matches!(other, Err(CommandError::IdempotencyConflict { ref key }) if key == "intake-2"),
        "{other:?}"
    );
    let elsewhere = LeadId(Uuid::now_v7());
    let other_stream = service
        .execute::<Lead>(&tenant(), elsewhere.0, receive(elsewhere, "evt-2"), &meta)
        .await;
    assert!(matches!(
        other_stream,
        Err(CommandError::IdempotencyConflict { .. })
    ));
}

async fn a_refusal_writes_nothing_and_keeps_the_key_free<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let lead = LeadId(Uuid::now_v7());
    let meta = meta().with_idempotency_key("capture-too-early");
    let refused = service
        .execute::<Lead>(&tenant(), lead.0, capture(), &meta)
        .await;
    assert!(
        matches!(refused, Err(CommandError::Rejected(LeadError::NotFound))),
        "{refused:?}"
    );
    assert_eq!(
        work.idempotency_record(&tenant(), "capture-too-early")
            .await
            .expect("the lookup works"),
        None
    );
    service
        .execute::<Lead>(
            &tenant(),
            lead.0,
            receive(lead, "evt-3"),
            &support::meta().with_idempotency_key("r3"),
        )
        .await
        .expect("received");
    let captured = service
        .execute::<Lead>(&tenant(), lead.0, capture(), &meta)
        .await
        .expect("the same key works once the lead exists");
    assert!(!captured.replayed);
}

async fn every_event_carries_the_commands_metadata<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let lead = LeadId(Uuid::now_v7());
    let cause = Uuid::now_v7();
    let correlation = Uuid::now_v7();
    let mut meta = meta().with_correlation_id(correlation).with_source(Source {
        system: "web-form".into(),
        timestamp: Some(t0()),
    });
    meta.causation_id = Some(cause);
    service
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-4"), &meta)
        .await
        .expect("received");
    let stream = StreamId::new(format!("lead-{}", lead.0)).expect("a valid stream");
    let stored = work
        .store()
        .read_stream(&tenant(), &stream, StreamRead::forward())
        .await
        .expect("the stream reads");
    let metadata = &stored[0].metadata;
    assert_eq!(
        metadata.actor,
        Some(serde_json::to_value(user()).expect("an actor serializes"))
    );
    assert_eq!(metadata.correlation_id, Some(correlation));
    assert_eq!(metadata.causation_id, Some(cause));
    assert_eq!(
        metadata.source.as_ref().map(|s| s.system.as_str()),
        Some("web-form")
    );
    assert_eq!(
        metadata.extra.get("command_id"),
        Some(&serde_json::Value::String(meta.command_id.to_string()))
    );
    let seed = crm_app::derive_id(meta.command_id, stream.as_str());
    assert_eq!(stored[0].id, crm_app::derive_id(seed, "event/0/0"));
}

fn retitle(title: &str) -> ContactCommand {
    ContactCommand::ChangeDetails {
        changes: vec![DetailChange::Set(Detail::JobTitle(Some(title.to_owned())))],
        provenance: Provenance::new("crm-ui", t0()),
    }
}

async fn concurrent_writers_on_one_aggregate_lose_no_update<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let contact = create_contact(&service).await;
    let writers = 8;
    let per_writer = 12;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        // Half the writers share one service (one cache), half have their own (processes).
        let service = if writer % 2 == 0 {
            Arc::clone(&service)
        } else {
            support::service(work.clone()).0
        };
        tasks.push(tokio::spawn(async move {
            for n in 0..per_writer {
                let meta = if n % 3 == 0 {
                    meta().with_idempotency_key(format!("w{writer}-{n}"))
                } else {
                    meta()
                };
                service
                    .execute::<Contact>(
                        &tenant(),
                        contact.0,
                        retitle(&format!("{writer}/{n}")),
                        &meta,
                    )
                    .await
                    .expect("every command lands within its attempts");
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer finished");
    }
    let stream = StreamId::new(format!("contact-{}", contact.0)).expect("a valid stream");
    let stored = work
        .store()
        .read_stream(&tenant(), &stream, StreamRead::forward())
        .await
        .expect("the stream reads");
    assert_eq!(
        stored.len(),
        1 + writers * per_writer,
        "no update lost, none doubled"
    );
    for (index, event) in stored.iter().enumerate() {
        assert_eq!(event.version, index as u64 + 1);
    }
}

async fn concurrent_twins_under_one_key_commit_once<U: UnitOfWork + Clone>(work: U) {
    for round in 0..5 {
        let lead = LeadId(Uuid::now_v7());
        let key = format!("twin-{round}");
        let mut tasks = Vec::new();
        for twin in 0..6 {
            let service = support::service(work.clone()).0;
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let _ = twin;
                service
                    .execute::<Lead>(
                        &tenant(),
                        lead.0,
                        receive(lead, "evt-twin"),
                        &meta().with_idempotency_key(key),
                    )
                    .await
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(
                task.await
                    .expect("a twin finished")
                    .expect("every twin answers"),
            );
        }
        let fresh = outcomes.iter().filter(|done| !done.replayed).count();
        assert_eq!(fresh, 1, "exactly one twin committed");
        assert!(
            outcomes
                .iter()
                .all(|done| done.outcome == outcomes[0].outcome)
        );
        let stream = StreamId::new(format!("lead-{}", lead.0)).expect("a valid stream");
        let version = work
            .store()
            .stream_version(&tenant(), &stream)
            .await
            .expect("the version reads");
        assert_eq!(version, Some(1));
    }
}

async fn a_command_that_changes_nothing_is_remembered_under_its_key<U: UnitOfWork + Clone>(
    work: U,
) {
    let (service, _) = service(work.clone());
    let contact = create_contact(&service).await;
    service
        .execute::<Contact>(&tenant(), contact.0, retitle("Engineer"), &meta())
        .await
        .expect("retitled");
    let meta = meta().with_idempotency_key("same-title");
    let unchanged = service
        .execute::<Contact>(&tenant(), contact.0, retitle("Engineer"), &meta)
        .await
        .expect("a no-op succeeds");
    assert!(unchanged.events.is_empty());
    assert_eq!(unchanged.version, 2);
    let record = work
        .idempotency_record(&tenant(), "same-title")
        .await
        .expect("the lookup works")
        .expect("a no-op is remembered");
    assert_eq!(record.outcome.version, 2);
    assert!(record.outcome.events.is_empty());
    service
        .execute::<Contact>(
            &tenant(),
            contact.0,
            retitle("Chief Engineer"),
            &support::meta(),
        )
        .await
        .expect("retitled again");
    let retry = service
        .execute::<Contact>(&tenant(), contact.0, retitle("Engineer"), &meta)
        .await
        .expect("the retry answers");
    assert!(retry.replayed);
    assert_eq!(retry.version, 2, "the first outcome, not a new decision");
}

async fn outbox_messages_commit_with_the_events_and_once<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let lead = LeadId(Uuid::now_v7());
    let meta = meta().with_idempotency_key("with-message");
    let message = |events: &[LeadEvent]| {
        events
            .iter()
            .map(|event| OutboxMessage {
                id: crm_app::derive_id(lead.0, "received-notice"),
                destination: "marketing".into(),
                idempotency_key: format!("lead-received:{}", lead.0),
                payload: serde_json::json!({ "type": event_type(event) }),
                created_at: t0(),
            })
            .collect()
    };
    for _ in 0..3 {
        service
            .execute_with::<Lead, _>(&tenant(), lead.0, receive(lead, "evt-5"), &meta, message)
            .await
            .expect("the command commits or replays");
    }
    let outbox = work.outbox(&tenant()).await.expect("the outbox reads");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message.payload["type"], "LeadReceived");
    assert_eq!(outbox[0].delivered_at, None);

    // A refused command writes no message.
    let refused = service
        .execute_with::<Lead, _>(
            &tenant(),
            LeadId(Uuid::now_v7()).0,
            capture(),
            &support::meta().with_idempotency_key("refused-with-message"),
            |_: &[LeadEvent]| {
                vec![OutboxMessage {
                    id: Uuid::now_v7(),
                    destination: "marketing".into(),
                    idempotency_key: "never".into(),
                    payload: serde_json::json!({}),
                    created_at: t0(),
                }]
            },
        )
        .await;
    assert!(matches!(refused, Err(CommandError::Rejected(_))));
    assert_eq!(work.outbox(&tenant()).await.expect("reads").len(), 1);
}

fn event_type(event: &LeadEvent) -> &'static str {
    crm_domain::DomainEvent::event_type(event)
}

async fn another_process_writing_the_stream_is_seen<U: UnitOfWork + Clone>(work: U) {
    let (first, _) = service(work.clone());
    let (second, _) = service(work.clone());
    let contact = create_contact(&first).await;
    first
        .execute::<Contact>(&tenant(), contact.0, retitle("A"), &meta())
        .await
        .expect("first writes");
    second
        .execute::<Contact>(&tenant(), contact.0, retitle("B"), &meta())
        .await
        .expect("second writes");
    // `first` has version 2 cached; the store is at 3.
    let done = first
        .execute::<Contact>(&tenant(), contact.0, retitle("B"), &meta())
        .await
        .expect("decided again on the current state");
    assert!(done.events.is_empty(), "B is already the title: {done:?}");
    assert_eq!(done.version, 3);
    let (state, version) = first
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("loads");
    assert_eq!(version, 3);
    assert!(state.id.is_some());
}

async fn a_stream_this_build_cannot_read_refuses_commands<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let lead = LeadId(Uuid::now_v7());
    let stream = StreamId::new(format!("lead-{}", lead.0)).expect("a valid stream");
    work.store()
        .append(
            &tenant(),
            &stream,
            ExpectedVersion::NoStream,
            &[NewEvent::new(
                "LeadReceived",
                1,
                serde_json::json!({ "nonsense": true }),
            )],
        )
        .await
        .expect("the store takes any payload");
    let refused = service
        .execute::<Lead>(&tenant(), lead.0, capture(), &meta())
        .await;
    assert!(
        matches!(
            refused,
            Err(CommandError::UnreadableStream { version: 1, .. })
        ),
        "{refused:?}"
    );
}

async fn a_conversion_decides_the_same_ids_when_sent_again<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let lead = LeadId(Uuid::now_v7());
    service
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-6"), &meta())
        .await
        .expect("received");
    service
        .execute::<Lead>(&tenant(), lead.0, capture(), &meta())
        .await
        .expect("captured");
    let command_id = Uuid::now_v7();
    let meta = CommandMeta::by(user())
        .with_command_id(command_id)
        .with_idempotency_key("convert-6");
    let convert = LeadCommand::Convert(ConversionRequest {
        existing_contact: None,
        open_opportunity: true,
    });
    let first = service
        .execute::<Lead>(&tenant(), lead.0, convert.clone(), &meta)
        .await
        .expect("converted");
    let second = service
        .execute::<Lead>(&tenant(), lead.0, convert, &meta)
        .await
        .expect("replayed");
    assert!(second.replayed);
    assert_eq!(
        first.events, second.events,
        "the same contact and opportunity ids"
    );
    let LeadEvent::Converted { contact_id, .. } = &first.events[0] else {
        panic!("a conversion: {:?}", first.events)
    };
    let stream = StreamId::new(format!("lead-{}", lead.0)).expect("a valid stream");
    let seed = crm_app::derive_id(command_id, stream.as_str());
    let ctx = crm_domain::Context::new(t0(), user(), seed);
    assert_eq!(
        contact_id.0,
        ctx.fresh_id(0),
        "ids derive from the command id"
    );
}

async fn one_meta_reused_for_several_commands_mints_distinct_ids<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work);
    let shared = meta();
    let contact = ContactId(Uuid::now_v7());
    service
        .execute::<Contact>(
            &tenant(),
            contact.0,
            ContactCommand::Create {
                contact_id: contact,
                provenance: Provenance::new("crm-ui", t0()),
                changes: vec![],
            },
            &shared,
        )
        .await
        .expect("created");
    for title in ["A", "B", "C"] {
        service
            .execute::<Contact>(&tenant(), contact.0, retitle(title), &shared)
            .await
            .expect("each command on the same stream gets its own event ids");
    }
    let mut contacts = Vec::new();
    for _ in 0..3 {
        let lead = LeadId(Uuid::now_v7());
        service
            .execute::<Lead>(
                &tenant(),
                lead.0,
                receive(lead, &lead.0.to_string()),
                &shared,
            )
            .await
            .expect("received");
        service
            .execute::<Lead>(&tenant(), lead.0, capture(), &shared)
            .await
            .expect("captured");
        let converted = service
            .execute::<Lead>(
                &tenant(),
                lead.0,
                LeadCommand::Convert(ConversionRequest {
                    existing_contact: None,
                    open_opportunity: false,
                }),
                &shared,
            )
            .await
            .expect("converted");
        if let Some(LeadEvent::Converted { contact_id, .. }) = converted.events.first() {
            contacts.push(*contact_id);
        }
    }
    contacts.sort();
    contacts.dedup();
    assert_eq!(
        contacts.len(),
        3,
        "each lead's conversion mints its own contact id"
    );
}

async fn a_command_at_an_expected_version_is_decided_there_or_refused_as_stale<
    U: UnitOfWork + Clone,
>(
    work: U,
) {
    let (service, _) = service(work.clone());
    let contact = create_contact(&service).await;
    let (_, version) = service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("the contact loads");
    let at = |version| meta().with_expected_version(version);
    let done = service
        .execute::<Contact>(&tenant(), contact.0, retitle("first"), &at(version))
        .await
        .expect("decided at the version it stands at");
    assert_eq!(done.version, version + 1);

    // Another process moved it: a service whose cache still holds the old version refuses.
    let (other, _) = support::service(work.clone());
    other
        .execute::<Contact>(&tenant(), contact.0, retitle("second"), &meta())
        .await
        .expect("another writer moves the stream");
    match service
        .execute::<Contact>(&tenant(), contact.0, retitle("stale"), &at(version + 1))
        .await
    {
        Err(CommandError::StaleVersion {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (version + 1, version + 2)),
        other => panic!("expected a stale version, got {other:?}"),
    }
    // A version from the future is as stale, and a new stream is at version 0.
    assert!(matches!(
        service
            .execute::<Contact>(&tenant(), contact.0, retitle("future"), &at(version + 9))
            .await,
        Err(CommandError::StaleVersion { .. })
    ));
    let lead = LeadId(Uuid::now_v7());
    let created = service
        .execute::<Lead>(&tenant(), lead.0, receive(lead, "evt-v0"), &at(0))
        .await
        .expect("a new stream is at version 0");
    assert_eq!(created.version, 1);
    assert!(matches!(
        service
            .execute::<Lead>(&tenant(), lead.0, capture(), &at(0))
            .await,
        Err(CommandError::StaleVersion { actual: 1, .. })
    ));

    // A retry under its key answers with the first outcome, though the stream moved on.
    let keyed = at(version + 2).with_idempotency_key("if-match-retry");
    let first = service
        .execute::<Contact>(&tenant(), contact.0, retitle("keyed"), &keyed)
        .await
        .expect("decided at the version it stands at");
    service
        .execute::<Contact>(&tenant(), contact.0, retitle("later"), &meta())
        .await
        .expect("the stream moves on");
    let retry = service
        .execute::<Contact>(&tenant(), contact.0, retitle("keyed"), &keyed)
        .await
        .expect("the retry answers");
    assert!(retry.replayed);
    assert_eq!(retry.version, first.version);
}

async fn racing_writers_at_one_expected_version_commit_once<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let contact = create_contact(&service).await;
    let (_, version) = service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("the contact loads");
    let writers = 8;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let service = if writer % 2 == 0 {
            Arc::clone(&service)
        } else {
            support::service(work.clone()).0
        };
        tasks.push(tokio::spawn(async move {
            service
                .execute::<Contact>(
                    &tenant(),
                    contact.0,
                    retitle(&format!("racer {writer}")),
                    &meta().with_expected_version(version),
                )
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.expect("a writer finished") {
            Ok(done) => {
                assert_eq!(done.version, version + 1);
                won += 1;
            }
            Err(CommandError::StaleVersion { actual, .. }) => assert_eq!(actual, version + 1),
            Err(other) => panic!("a racer failed otherwise: {other}"),
        }
    }
    assert_eq!(
        won, 1,
        "one writer wins the version, the others are told it moved"
    );
}

fn create_task(task: Uuid) -> TaskCommand {
    TaskCommand::Create {
        task: TaskId(task),
        title: "Renewal call".into(),
        description: None,
        owner: UserId(Uuid::from_u128(0xa11ce)),
        concerns: None,
        contact: None,
        due_at: None,
        priority: Priority::Normal,
    }
}

fn tier_schema(version: u32, tiers: &[&str]) -> SchemaDraft {
    let options: Vec<serde_json::Value> = tiers
        .iter()
        .map(|tier| serde_json::json!({"key": tier, "label": tier}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "entity": "task",
        "version": version,
        "fields": [
            {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": options}},
            {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}}
        ],
        "rules": [{"rule": "required", "field": "tier"}]
    }))
    .expect("a schema draft")
}

fn changes(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

async fn a_list_of_commands_commits_together_or_not_at_all<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let task = Uuid::now_v7();
    // The second command is refused (a blank title): the first is not committed either.
    let refused = service
        .execute_all::<Task>(
            &tenant(),
            task,
            vec![
                create_task(task),
                TaskCommand::Retitle { title: "  ".into() },
            ],
            &meta().with_idempotency_key("list-refused"),
        )
        .await;
    assert!(
        matches!(refused, Err(CommandError::Rejected(_))),
        "{refused:?}"
    );
    let nothing = service.load::<Task>(&tenant(), task).await.expect("loads");
    assert_eq!(nothing.1, 0, "the create was not committed either");

    let key = meta().with_idempotency_key("list-ok");
    let commands = vec![create_task(task), TaskCommand::Complete];
    let done = service
        .execute_all::<Task>(&tenant(), task, commands.clone(), &key)
        .await
        .expect("both decided");
    assert_eq!(done.version, 2);
    assert_eq!(done.events.len(), 2);
    let again = service
        .execute_all::<Task>(&tenant(), task, commands, &key)
        .await
        .expect("a retry");
    assert!(again.replayed);
    assert_eq!(again.version, 2);
    let other = service
        .execute_all::<Task>(&tenant(), task, vec![TaskCommand::Reopen], &key)
        .await;
    assert!(
        matches!(other, Err(CommandError::IdempotencyConflict { .. })),
        "{other:?}"
    );
}

async fn new_aggregates_are_created_together_and_the_rest_left_to_execute_alone<
    U: UnitOfWork + Clone,
>(
    work: U,
) {
    let (service, _) = service(work.clone());
    let existing = Uuid::now_v7();
    service
        .execute::<Task>(&tenant(), existing, create_task(existing), &meta())
        .await
        .expect("created before");
    let (fresh, other, keyed, refused) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let fresh_meta = meta();
    let created = service
        .create_each::<Task>(
            &tenant(),
            vec![
                (
                    fresh,
                    vec![create_task(fresh), TaskCommand::Complete],
                    fresh_meta.clone(),
                ),
                (existing, vec![create_task(existing)], meta()),
                (
                    keyed,
                    vec![create_task(keyed)],
                    meta().with_idempotency_key("create-keyed"),
                ),
                (refused, vec![TaskCommand::Complete], meta()),
                (other, vec![create_task(other)], meta()),
            ],
        )
        .await;
    assert_eq!(created.len(), 5);
    let made = created[0].as_ref().expect("the fresh task is created");
    assert_eq!((made.version, made.events.len()), (2, 2));
    assert!(created[4].is_some());
    assert!(
        created[1].is_none() && created[2].is_none() && created[3].is_none(),
        "an existing stream, a keyed command and a refusal are left to execute alone"
    );

    // Stored as `execute_all` would have stored it: the same ids and metadata, readable by a
    // service that never saw it, and the existing task untouched.
    let stream = StreamId::new(format!("task-{fresh}")).expect("a valid stream");
    let stored = work
        .store()
        .read_stream(&tenant(), &stream, StreamRead::forward())
        .await
        .expect("reads");
    let seed = crm_app::derive_id(fresh_meta.command_id, stream.as_str());
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].id, crm_app::derive_id(seed, "event/0/0"));
    assert_eq!(stored[1].id, crm_app::derive_id(seed, "event/0/1"));
    let (elsewhere, _) = support::service(work.clone());
    let (task, version) = elsewhere
        .load::<Task>(&tenant(), fresh)
        .await
        .expect("loads");
    assert_eq!(version, 2);
    assert_eq!(
        task,
        service
            .load::<Task>(&tenant(), fresh)
            .await
            .expect("cached")
            .0
    );
    assert_eq!(
        elsewhere
            .load::<Task>(&tenant(), existing)
            .await
            .expect("loads")
            .1,
        1
    );
    // What was left out goes through `execute_all` as usual.
    let refusal = service
        .execute_all::<Task>(&tenant(), refused, vec![TaskCommand::Complete], &meta())
        .await;
    assert!(
        matches!(refusal, Err(CommandError::Rejected(TaskError::NotFound))),
        "{refusal:?}"
    );
}

async fn commands_on_many_aggregates_commit_together_and_answer_as_alone<U: UnitOfWork + Clone>(
    work: U,
) {
    let (service, _) = service(work.clone());
    let [a, b, c, d] = [0; 4].map(|_| Uuid::now_v7());
    for task in [a, b, c, d] {
        service
            .execute::<Task>(&tenant(), task, create_task(task), &meta())
            .await
            .expect("created");
    }
    let retitle = |title: &str| TaskCommand::Retitle {
        title: title.into(),
    };
    let keyed = meta().with_idempotency_key("retitle-a");
    let other_owner = UserId(Uuid::from_u128(0xb0b));
    let first = vec![
        (a, vec![retitle("Renewal call, second try")], keyed.clone()),
        (b, vec![TaskCommand::Complete], meta()),
        (
            c,
            vec![
                TaskCommand::Reassign { owner: other_owner },
                TaskCommand::ChangePriority {
                    priority: Priority::High,
                },
            ],
            meta(),
        ),
        // The same stream again: executed alone, after the batch.
        (b, vec![TaskCommand::Reopen], meta()),
    ];
    let answers = service.execute_each::<Task>(&tenant(), first).await;
    let versions: Vec<u64> = answers
        .iter()
        .map(|answer| answer.as_ref().expect("each commits").version)
        .collect();
    assert_eq!(versions, [2, 2, 3, 3]);
    assert!(answers.iter().flatten().all(|answer| !answer.replayed));

    // What the service answered and cached is what the store holds.
    let (elsewhere, _) = support::service(work.clone());
    for task in [a, b, c] {
        assert_eq!(
            elsewhere
                .load::<Task>(&tenant(), task)
                .await
                .expect("loads"),
            service.load::<Task>(&tenant(), task).await.expect("cached"),
        );
    }
    let stream_of = |task: Uuid| StreamId::new(format!("task-{task}")).expect("a valid stream");
    let mut last = Vec::new();
    for task in [a, b, c] {
        let stored = work
            .store()
            .read_stream(&tenant(), &stream_of(task), StreamRead::forward())
            .await
            .expect("reads");
        last.push(stored[1].clone());
    }
    let seed = crm_app::derive_id(keyed.command_id, stream_of(a).as_str());
    assert_eq!(
        last[0].id,
        crm_app::derive_id(seed, "event/1/0"),
        "ids as alone"
    );
    if std::any::type_name::<U>().contains("Postgres") {
        let transactions: std::collections::BTreeSet<u64> = last
            .iter()
            .map(|event| event.position.transaction)
            .collect();
        assert_eq!(transactions.len(), 1, "one transaction for the batch");
    }

    // A key held for another request, a refusal and a retry, in one batch: each answers as
    // it would alone (on PostgreSQL the held key sends the whole batch to run alone).
    service
        .execute::<Task>(
            &tenant(),
            d,
            retitle("Call back"),
            &meta().with_idempotency_key("held"),
        )
        .await
        .expect("recorded under the key");
    let missing = Uuid::now_v7();
    let second = vec![
        (a, vec![retitle("Renewal call, second try")], keyed.clone()),
        (
            d,
            vec![TaskCommand::Complete],
            meta().with_idempotency_key("held"),
        ),
        (missing, vec![TaskCommand::Complete], meta()),
        (c, vec![TaskCommand::Complete], meta()),
    ];
    let answers = service.execute_each::<Task>(&tenant(), second).await;
    let replayed = answers[0].as_ref().expect("the retry answers");
    assert!(replayed.replayed);
    assert_eq!(replayed.version, 2);
    assert!(
        matches!(answers[1], Err(CommandError::IdempotencyConflict { .. })),
        "{:?}",
        answers[1]
    );
    assert!(
        matches!(answers[2], Err(CommandError::Rejected(TaskError::NotFound))),
        "{:?}",
        answers[2]
    );
    assert_eq!(answers[3].as_ref().expect("completes").version, 4);
    let (task_d, version_d) = elsewhere.load::<Task>(&tenant(), d).await.expect("loads");
    assert_eq!(version_d, 2, "the command under a held key wrote nothing");
    assert_eq!(
        task_d,
        service.load::<Task>(&tenant(), d).await.expect("cached").0
    );
}

async fn custom_fields_are_decided_under_the_published_schema<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work.clone());
    let (empty, version) = current_schema(&service, &tenant(), EntityKind::Task)
        .await
        .expect("reads");
    assert_eq!((empty.version().0, version), (0, 0));
    publish_schema(
        &service,
        &tenant(),
        tier_schema(1, &["gold", "silver"]),
        &meta(),
    )
    .await
    .expect("the first version");
    let task = Uuid::now_v7();
    let set = |values: serde_json::Value| {
        let service = Arc::clone(&service);
        async move {
            let update =
                update_under_current(&service, &tenant(), EntityKind::Task, changes(values))
                    .await
                    .expect("the schema reads");
            TaskCommand::SetCustomFields(update)
        }
    };
    // Created without the required tier: refused with the field named, nothing recorded.
    let refused = service
        .execute_all::<Task>(
            &tenant(),
            task,
            vec![
                create_task(task),
                set(serde_json::json!({"seats": 3})).await,
            ],
            &meta(),
        )
        .await;
    let Err(CommandError::Rejected(TaskError::CustomFields(refusal))) = refused else {
        panic!("refused for its custom fields: {refused:?}");
    };
    assert_eq!(refusal.problems()[0].field, "tier");
    let created = service
        .execute_all::<Task>(
            &tenant(),
            task,
            vec![
                create_task(task),
                set(serde_json::json!({"tier": "gold", "seats": 3})).await,
            ],
            &meta(),
        )
        .await
        .expect("created with its values");
    assert_eq!(created.version, 2);
    // Version 2 retires nothing and adds bronze; silver is still settable, gold is kept.
    let evolved = publish_schema(
        &service,
        &tenant(),
        tier_schema(2, &["gold", "silver", "bronze"]),
        &meta(),
    )
    .await
    .expect("an evolution");
    assert_eq!(evolved.events.len(), 1);
    let not_evolution =
        publish_schema(&service, &tenant(), tier_schema(3, &["gold"]), &meta()).await;
    assert!(
        matches!(
            not_evolution,
            Err(CommandError::Rejected(
                CustomFieldSettingsError::NotAnEvolution { .. }
            ))
        ),
        "{not_evolution:?}"
    );
    service
        .execute::<Task>(
            &tenant(),
            task,
            set(serde_json::json!({"tier": "bronze"})).await,
            &meta(),
        )
        .await
        .expect("an option of version 2");
    let (state, _) = service.load::<Task>(&tenant(), task).await.expect("loads");
    assert_eq!(
        state.custom.get_str("tier").map(ToString::to_string),
        Some("bronze".to_owned())
    );
    let (schema, settings_version) = current_schema(&service, &tenant(), EntityKind::Task)
        .await
        .expect("reads");
    assert_eq!((schema.version().0, settings_version), (2, 2));
}
