//! The asynchronous projector, poison policies, lag, and the inline and live lifecycles,
//! against real PostgreSQL (a fresh database per test).

use std::sync::Arc;
use std::time::Duration;

use crm_domain::ContactId;
use crm_eventstore::{EventStore, ExpectedVersion, NewEvent, StoreSettings, StreamId};
use crm_projections::customer360::{Customer360Model, Customer360Query};
use crm_projections::{
    DocumentStore, Lag, PoisonPolicy, PostgresDocuments, Projector, ProjectorOptions, RunnerError,
    append_inline, customer_360_as_of,
};
use crm_testkit::postgres::TestDatabase;
use crm_testkit::workload::{
    append_all, catch_up_to, contact_id, events, reference, tenant, ticket_id, workload,
};

type Documents = PostgresDocuments<Customer360Model>;

async fn documents(database: &TestDatabase) -> Arc<Documents> {
    Arc::new(
        PostgresDocuments::connect(&database.url, 4, Customer360Model)
            .await
            .expect("connect the adapter"),
    )
}

fn options(batch_size: usize, poison: PoisonPolicy) -> ProjectorOptions {
    ProjectorOptions {
        batch_size,
        catch_up_batch_size: batch_size,
        poll_interval: Duration::from_millis(20),
        poison,
        retry_after: Duration::from_millis(20),
        halted_recheck: None,
    }
}

/// Appends every append of `appends` with [`append_inline`], each in its own transaction;
/// the last position.
async fn append_all_inline(
    store: &crm_eventstore::PostgresStore,
    documents: &Arc<Documents>,
    appends: &[crm_testkit::workload::Append],
) -> crm_eventstore::GlobalPosition {
    let mut head = crm_eventstore::GlobalPosition::START;
    for append in appends {
        let mut client = store.client().await.expect("a connection");
        let transaction = client.transaction().await.expect("a transaction");
        let result = append_inline(
            store,
            documents,
            &transaction,
            &tenant(),
            &append.stream,
            ExpectedVersion::Any,
            &append.events,
        )
        .await
        .expect("appended inline");
        transaction.commit().await.expect("committed");
        head = head.max(result.events.last().expect("an event").position);
    }
    head
}

/// A broken payload for a known event type: a poison event.
fn poison() -> NewEvent {
    NewEvent::new("TicketOpened", 1, serde_json::json!({"subject": 3}))
}

#[tokio::test]
async fn a_background_projector_follows_appends_and_equals_a_clean_rebuild() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let head = append_all(&store, &tenant(), &workload(4, 3, 2)).await;
    let mut handle = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(7, PoisonPolicy::Halt),
    )
    .spawn();
    assert!(handle.wait_for(head, Duration::from_secs(30)).await);
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), head).await
    );

    // Appends made while it runs are picked up too.
    let more = append_all(&store, &tenant(), &workload(6, 1, 1)[4..]).await;
    assert!(handle.wait_for(more, Duration::from_secs(30)).await);
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), more).await
    );
    let status = handle.status();
    assert_eq!(status.checkpoint, Some(more));
    assert_eq!(
        status.processed,
        events(&store, &tenant(), more).await.len() as u64
    );
    handle.stop().await.unwrap();
}

#[tokio::test]
async fn a_projector_behind_reads_growing_batches_and_equals_a_clean_rebuild() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let head = append_all(&store, &tenant(), &workload(6, 4, 3)).await;
    // Once the store delivers through the head, no transaction opened later holds it back,
    // so every short read below means caught up.
    let total = events(&store, &tenant(), head).await.len();
    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        ProjectorOptions {
            catch_up_batch_size: 8,
            ..options(2, PoisonPolicy::Halt)
        },
    );
    let mut reads = Vec::new();
    loop {
        let step = projector.step().await.unwrap();
        reads.push(step.read);
        if step.caught_up {
            break;
        }
    }
    assert!(total > 2 + 4 + 8 + 8, "{total} events");
    assert_eq!(reads[..4], [2, 4, 8, 8], "{reads:?}");
    assert!(
        reads[..reads.len() - 1]
            .iter()
            .skip(2)
            .all(|read| *read == 8)
    );
    assert_eq!(reads.iter().sum::<usize>(), total);
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), head).await
    );

    // Caught up, it is back to the small batch.
    let more = append_all(&store, &tenant(), &workload(7, 4, 3)[6..]).await;
    events(&store, &tenant(), more).await;
    let step = projector.step().await.unwrap();
    assert_eq!(step.read, 2);
}

#[tokio::test]
async fn a_poison_event_halts_the_projector_after_what_came_before_is_committed() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let first = append_all(&store, &tenant(), &workload(2, 1, 0)).await;
    let before = reference(&store, &tenant(), first).await;
    let broken = store
        .append(
            &tenant(),
            &StreamId::new(format!("ticket-{}", ticket_id(9, 9))).unwrap(),
            ExpectedVersion::Any,
            &[poison()],
        )
        .await
        .unwrap()
        .events[0]
        .position;
    append_all(&store, &tenant(), &workload(3, 1, 1)[2..]).await;

    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(100, PoisonPolicy::Halt),
    );
    for _ in 0..2 {
        let error = catch_up_to(&mut projector, broken).await.unwrap_err();
        assert!(
            matches!(&error, RunnerError::Poison { position, event_type, .. } if *position == broken && event_type == "TicketOpened"),
            "{error:?}"
        );
        assert!(!error.is_retryable());
    }
    let checkpoint = documents.checkpoint(&tenant()).await.unwrap();
    assert!(
        checkpoint.is_some_and(|done| done < broken),
        "{checkpoint:?}"
    );
    assert_eq!(documents.documents(&tenant()).await.unwrap(), before);
    assert!(documents.parked(&tenant()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_parked_poison_event_is_kept_with_its_reason_and_the_rest_applied() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    append_all(&store, &tenant(), &workload(2, 1, 0)).await;
    let broken = store
        .append(
            &tenant(),
            &StreamId::new(format!("ticket-{}", ticket_id(9, 9))).unwrap(),
            ExpectedVersion::Any,
            &[poison()],
        )
        .await
        .unwrap()
        .events[0]
        .position;
    let head = append_all(&store, &tenant(), &workload(3, 1, 1)[2..]).await;

    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(100, PoisonPolicy::Park),
    );
    catch_up_to(&mut projector, head).await.unwrap();
    let parked = documents.parked(&tenant()).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].position, broken);
    assert_eq!(parked[0].event_type, "TicketOpened");
    assert!(
        parked[0].reason.contains("cannot decode"),
        "{}",
        parked[0].reason
    );
    assert_eq!(documents.checkpoint(&tenant()).await.unwrap(), Some(head));
    // The reference leaves out what cannot be decoded, as the parked projector did.
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), head).await
    );
}

#[tokio::test]
async fn lag_counts_events_behind_and_names_the_transaction_holding_readers_back() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let head = append_all(&store, &tenant(), &workload(3, 2, 0)).await;
    let all = events(&store, &tenant(), head).await.len() as u64;

    let lag = Lag::measure_postgres(&store, &documents, &tenant(), None, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(lag.events_behind, all);
    assert!(!lag.at_least);
    assert!(lag.behind > Duration::ZERO);
    assert_eq!(lag.held_by, None);
    let capped = Lag::measure(&store, &tenant(), None, 4, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!((capped.events_behind, capped.at_least), (4, true));

    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(50, PoisonPolicy::Halt),
    );
    catch_up_to(&mut projector, head).await.unwrap();
    let checkpoint = documents.checkpoint(&tenant()).await.unwrap();

    // One append stays open while another commits after it: the committed one waits.
    let mut client = store.client().await.unwrap();
    let open = client.transaction().await.unwrap();
    let held = store
        .append_in(
            &open,
            &tenant(),
            &workload(4, 0, 0)[3].stream,
            ExpectedVersion::Any,
            &workload(4, 0, 0)[3].events,
        )
        .await
        .unwrap()
        .events[0]
        .position
        .transaction;
    let committed = &workload(5, 0, 0)[4..];
    let after = append_all(&store, &tenant(), committed).await;
    let step = projector.step().await.unwrap();
    assert_eq!(step.read, 0);
    // Other tests' transactions may be older still and hold readers back first.
    assert!(
        step.held_by.is_some_and(|oldest| oldest <= held),
        "{step:?}"
    );
    let lag = Lag::measure_postgres(
        &store,
        &documents,
        &tenant(),
        checkpoint,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        lag.events_behind,
        committed[0].events.len() as u64,
        "the committed events, not the open ones"
    );
    assert!(lag.held_by.is_some_and(|oldest| oldest <= held), "{lag:?}");

    open.commit().await.unwrap();
    catch_up_to(&mut projector, after).await.unwrap();
    let checkpoint = documents.checkpoint(&tenant()).await.unwrap();
    let lag = Lag::measure_postgres(
        &store,
        &documents,
        &tenant(),
        checkpoint,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        (lag.events_behind, lag.behind, lag.held_by),
        (0, Duration::ZERO, None)
    );
}

#[tokio::test]
async fn an_inline_append_is_read_back_at_once_and_the_projector_then_changes_nothing() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let appends = workload(2, 2, 1);
    let head = append_all_inline(&store, &documents, &appends).await;
    let inline = documents.documents(&tenant()).await.unwrap();
    assert_eq!(inline, reference(&store, &tenant(), head).await);
    assert_eq!(documents.checkpoint(&tenant()).await.unwrap(), None);

    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(5, PoisonPolicy::Halt),
    );
    catch_up_to(&mut projector, head).await.unwrap();
    assert_eq!(documents.documents(&tenant()).await.unwrap(), inline);
}

#[tokio::test]
async fn a_rolled_back_inline_append_leaves_no_document() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let appends = workload(1, 0, 0);
    let mut client = store.client().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    append_inline(
        &store,
        &documents,
        &transaction,
        &tenant(),
        &appends[0].stream,
        ExpectedVersion::Any,
        &appends[0].events,
    )
    .await
    .unwrap();
    transaction.rollback().await.unwrap();
    assert!(documents.documents(&tenant()).await.unwrap().is_empty());
    assert!(
        events(&store, &tenant(), crm_eventstore::GlobalPosition::START)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_live_fold_shows_a_customer_as_of_a_moment_from_that_customer_alone() {
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let appends = workload(3, 2, 0);
    // Contacts, then the first ticket of each; remember when the first round ended.
    append_all(&store, &tenant(), &appends[..6]).await;
    let moment = store
        .read_stream(
            &tenant(),
            &appends[5].stream,
            crm_eventstore::StreamRead::backward().limit(1),
        )
        .await
        .unwrap()[0]
        .recorded_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let head = append_all(&store, &tenant(), &appends[6..]).await;
    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(100, PoisonPolicy::Halt),
    );
    catch_up_to(&mut projector, head).await.unwrap();

    let customer = ContactId(contact_id(1));
    let now = customer_360_as_of(&store, &*documents, &tenant(), customer, None)
        .await
        .unwrap()
        .unwrap();
    let then = customer_360_as_of(&store, &*documents, &tenant(), customer, Some(moment))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.tickets.len(), 2);
    assert_eq!(then.tickets.len(), 1);
    assert_eq!(then.tickets[0].id.0, ticket_id(1, 0));

    // Now, the live view is the served one.
    let served = documents
        .lookup(&tenant(), &Customer360Query { contact: customer })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now, served);
}

#[tokio::test]
async fn the_whole_tenant_folds_as_of_a_position_and_now_equals_what_is_served() {
    use crm_projections::{AsOf, fold_tenant_at};
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let appends = workload(3, 2, 0);
    append_all(&store, &tenant(), &appends[..6]).await;
    let position = store
        .read_stream(
            &tenant(),
            &appends[5].stream,
            crm_eventstore::StreamRead::backward().limit(1),
        )
        .await
        .unwrap()[0]
        .position;
    let head = append_all(&store, &tenant(), &appends[6..]).await;
    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(100, PoisonPolicy::Halt),
    );
    catch_up_to(&mut projector, head).await.unwrap();

    let customer = ContactId(contact_id(1));
    let query = Customer360Query { contact: customer };
    let then = fold_tenant_at(
        &store,
        &tenant(),
        Customer360Model,
        AsOf::Position(position),
    )
    .await
    .unwrap();
    let then = then.lookup(&tenant(), &query).unwrap();
    assert_eq!(then.tickets.len(), 1);
    let now = fold_tenant_at(&store, &tenant(), Customer360Model, AsOf::Now)
        .await
        .unwrap();
    let served = documents.lookup(&tenant(), &query).await.unwrap();
    assert_eq!(now.lookup(&tenant(), &query), served);
    // Nothing had been recorded at the start of time, in recording or business time.
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    for as_of in [AsOf::Recorded(epoch), AsOf::Business(epoch)] {
        let empty = fold_tenant_at(&store, &tenant(), Customer360Model, as_of)
            .await
            .unwrap();
        assert_eq!(empty.lookup(&tenant(), &query), None);
    }
}

/// The actor each command named in the stored metadata reaches the read models on every path
/// (the background projector, an inline append, the live fold): the Customer 360 shows who set
/// a lead's fields from it.
#[tokio::test]
async fn the_actor_in_the_metadata_reaches_the_read_models_on_every_path() {
    use crm_projections::customer360::LeadRecordField;
    use crm_testkit::workload::{LEAD_SOURCE, converted_lead};
    let database = TestDatabase::create().await;
    let store = database.store(StoreSettings::default()).await;
    let documents = documents(&database).await;
    let customer = ContactId(contact_id(0));
    let mut head = append_all(&store, &tenant(), &workload(1, 0, 0)).await;
    head = head.max(append_all(&store, &tenant(), &converted_lead(uuid(1), customer)).await);
    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(&documents),
        tenant(),
        options(3, PoisonPolicy::Halt),
    );
    catch_up_to(&mut projector, head).await.unwrap();
    head =
        head.max(append_all_inline(&store, &documents, &converted_lead(uuid(2), customer)).await);
    catch_up_to(&mut projector, head).await.unwrap();

    let served = documents
        .lookup(&tenant(), &Customer360Query { contact: customer })
        .await
        .unwrap()
        .unwrap();
    let live = customer_360_as_of(&store, &*documents, &tenant(), customer, None)
        .await
        .unwrap()
        .unwrap();
    for view in [&served, &live] {
        assert_eq!(view.leads.len(), 2);
        for lead in &view.leads {
            let by = |field| lead.sources.get(&field).map(|source| source.by.clone());
            assert_eq!(
                by(LeadRecordField::Email),
                Some(crm_domain::Actor::Integration {
                    source: LEAD_SOURCE.into()
                }),
                "lead {}",
                lead.id
            );
            assert_eq!(
                by(LeadRecordField::Assignee),
                Some(crm_domain::Actor::System {
                    component: "routing".into()
                }),
                "lead {}",
                lead.id
            );
        }
    }
    assert_eq!(served, live);
    assert_eq!(
        documents.documents(&tenant()).await.unwrap(),
        reference(&store, &tenant(), head).await
    );
}

fn uuid(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x1ead_0000 + n)
}
