//! Custom field values, given/when/then: values set through the aggregates, into the model,
//! read back by record and found by filters; an erasure reaching every copy; and the fold
//! properties on random histories.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use std::sync::Arc;

use crm_domain::account::AccountCommand;
use crm_domain::contact::{ContactCommand, Detail, DetailChange, Provenance};
use crm_domain::custom_fields::{
    CustomFieldSchema, CustomFieldsUpdate, CustomValue, EntityKind, FilterRequest, OptionKey,
    SchemaDraft,
};
use crm_domain::identity::{CompanyDomain, CompanyName, PersonName};
use crm_domain::task::TaskCommand;
use crm_domain::ticket::TicketCommand;
use crm_domain::{Channel, CompanyId, ContactId, Priority, TaskId, TicketId};
use serde_json::{Value, json};
use uuid::Uuid;

use crm_projections::MemoryDocuments;
use crm_projections::custom_fields::*;
use crm_testkit::world::{ALICE, World, as_user, minutes, tenant};

const ADA: Uuid = Uuid::from_u128(0xada);
const ACME: Uuid = Uuid::from_u128(0xac);
const TICKET: Uuid = Uuid::from_u128(0x71c);

fn schema(entity: EntityKind) -> Arc<CustomFieldSchema> {
    let draft: SchemaDraft = serde_json::from_value(json!({
        "entity": entity,
        "version": 1,
        "fields": [
            {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": [
                {"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"}]}},
            {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}},
            {"key": "note", "label": "Note", "type": {"kind": "text", "max_length": 200}}
        ]
    }))
    .unwrap();
    Arc::new(CustomFieldSchema::new(draft).unwrap())
}

fn update(entity: EntityKind, changes: Value) -> CustomFieldsUpdate {
    let Value::Object(changes) = changes else {
        panic!("changes are an object")
    };
    CustomFieldsUpdate::new(schema(entity), changes)
}

fn task_id(n: u128) -> Uuid {
    Uuid::from_u128(0x7a50 + n)
}

fn create_task(world: &mut World, n: u128) {
    world
        .task(
            task_id(n),
            TaskCommand::Create {
                task: TaskId(task_id(n)),
                title: format!("Task {n}"),
                description: None,
                owner: ALICE,
                concerns: None,
                contact: None,
                due_at: None,
                priority: Priority::Normal,
            },
            &as_user(ALICE, minutes(0)),
        )
        .unwrap();
}

fn set_task(world: &mut World, n: u128, changes: Value, at: i64) {
    world
        .task(
            task_id(n),
            TaskCommand::SetCustomFields(update(EntityKind::Task, changes)),
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn ada_with_a_ticket_and_acme(world: &mut World) {
    world
        .contact(
            ADA,
            ContactCommand::Create {
                contact_id: ContactId(ADA),
                provenance: Provenance::new("crm-ui", minutes(0)),
                changes: vec![DetailChange::Set(Detail::GivenName(Some(
                    PersonName::new("Ada").unwrap(),
                )))],
            },
            &as_user(ALICE, minutes(0)),
        )
        .unwrap();
    world
        .ticket(
            TICKET,
            TicketCommand::Open {
                ticket: TicketId(TICKET),
                contact: ContactId(ADA),
                subject: "Broken widget".into(),
                channel: Channel::Email,
                priority: Priority::High,
                message: None,
                follow_up_of: None,
                account: None,
            },
            &as_user(ALICE, minutes(1)),
        )
        .unwrap();
    world
        .account(
            ACME,
            AccountCommand::Open {
                account: CompanyId(ACME),
                name: CompanyName::new("Acme Ltd").unwrap(),
                owner: ALICE,
                domains: vec![CompanyDomain::parse("acme.example").unwrap()],
                industry: None,
                employees: None,
                addresses: Vec::new(),
            },
            &as_user(ALICE, minutes(1)),
        )
        .unwrap();
    let ctx = as_user(ALICE, minutes(2));
    world
        .contact(
            ADA,
            ContactCommand::SetCustomFields(update(
                EntityKind::Contact,
                json!({"tier": "gold", "note": "Prefers calls"}),
            )),
            &ctx,
        )
        .unwrap();
    world
        .ticket(
            TICKET,
            TicketCommand::SetCustomFields(update(EntityKind::Ticket, json!({"seats": 3}))),
            &ctx,
        )
        .unwrap();
    world
        .account(
            ACME,
            AccountCommand::SetCustomFields(update(EntityKind::Account, json!({"tier": "gold"}))),
            &ctx,
        )
        .unwrap();
}

fn fold(world: &World) -> MemoryDocuments<CustomFieldModel> {
    MemoryDocuments::fold(CustomFieldModel, world.events()).unwrap()
}

fn values_of(store: &MemoryDocuments<CustomFieldModel>, record: Uuid) -> Option<CustomRecord> {
    store.lookup(&tenant(), &CustomValuesLookup { record })
}

fn filter(entity: EntityKind, request: Value) -> crm_domain::custom_fields::CustomFilter {
    let request: FilterRequest = serde_json::from_value(request).unwrap();
    schema(entity).filter(&request).unwrap()
}

fn pages(
    store: &MemoryDocuments<CustomFieldModel>,
    entity: EntityKind,
    filters: &[crm_domain::custom_fields::CustomFilter],
    limit: usize,
) -> Vec<Uuid> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan(
            &tenant(),
            &RecordsWhere {
                entity,
                filters: filters.to_vec(),
                after,
                limit,
                // One round reads small bites, so pages end early and go on.
                read: 3,
            },
        );
        assert!(page.items.len() <= limit.max(1));
        seen.extend(page.items.iter().map(|record| record.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

#[test]
fn a_record_s_values_read_back_as_they_stand() {
    let mut world = World::new();
    create_task(&mut world, 1);
    set_task(&mut world, 1, json!({"tier": "silver", "seats": 4}), 5);
    set_task(&mut world, 1, json!({"tier": "gold", "seats": null}), 6);
    let store = fold(&world);
    let record = values_of(&store, task_id(1)).unwrap();
    assert_eq!(record.entity, EntityKind::Task);
    assert_eq!(record.values.len(), 1);
    assert_eq!(
        record.values.get_str("tier"),
        Some(&CustomValue::Choice(OptionKey::new("gold").unwrap()))
    );
    assert_eq!(record.updated_at, minutes(6));
    assert_eq!(values_of(&store, task_id(2)), None);
}

#[test]
fn filters_find_the_matching_records_of_one_kind_page_by_page() {
    let mut world = World::new();
    for n in 0..7 {
        create_task(&mut world, n);
        let tier = if n % 3 == 0 { "gold" } else { "silver" };
        set_task(&mut world, n, json!({"tier": tier, "seats": n}), 1);
    }
    ada_with_a_ticket_and_acme(&mut world);
    let store = fold(&world);
    let gold = [filter(
        EntityKind::Task,
        json!({"op": "equals", "field": "tier", "value": "gold"}),
    )];
    for limit in 1..4 {
        assert_eq!(
            pages(&store, EntityKind::Task, &gold, limit),
            vec![task_id(0), task_id(3), task_id(6)],
            "limit {limit}"
        );
    }
    let gold_and_many = [
        gold[0].clone(),
        filter(
            EntityKind::Task,
            json!({"op": "range", "field": "seats", "min": 2}),
        ),
    ];
    assert_eq!(
        pages(&store, EntityKind::Task, &gold_and_many, 2),
        vec![task_id(3), task_id(6)]
    );
    // The gold account and the gold contact are other kinds: never in a task list.
    assert_eq!(
        pages(&store, EntityKind::Account, &[], 10),
        vec![ACME],
        "every account with values"
    );
}

#[test]
fn an_erasure_drops_the_person_s_values_and_those_of_their_records_only() {
    let mut world = World::new();
    ada_with_a_ticket_and_acme(&mut world);
    assert_eq!(values_of(&fold(&world), TICKET).unwrap().values.len(), 1);
    world.erase_contact(ContactId(ADA), minutes(9));
    let store = fold(&world);
    for person_s in [ADA, TICKET] {
        let record = values_of(&store, person_s).unwrap();
        assert!(record.erased, "{person_s}");
        assert!(record.values.is_empty(), "{person_s}: {record:?}");
    }
    let acme = values_of(&store, ACME).unwrap();
    assert!(!acme.erased);
    assert_eq!(acme.values.len(), 1);
    let note = [filter(
        EntityKind::Contact,
        json!({"op": "is_set", "field": "note", "set": true}),
    )];
    assert!(pages(&store, EntityKind::Contact, &note, 5).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_reads_in_rounds_until_its_page_is_full() {
    let mut world = World::new();
    for n in 0..40 {
        create_task(&mut world, n);
        let tier = if n % 13 == 0 { "gold" } else { "silver" };
        set_task(&mut world, n, json!({"tier": tier}), 1);
    }
    let store = world.stored(CustomFieldModel).await;
    let gold = vec![filter(
        EntityKind::Task,
        json!({"op": "equals", "field": "tier", "value": "gold"}),
    )];
    // Rounds of one, eight, 64… documents: the first page needs several of them.
    let first = RecordsWhere {
        read: 1,
        ..RecordsWhere::new(EntityKind::Task, gold.clone(), 2)
    }
    .run(&store, &tenant())
    .await
    .unwrap();
    let ids = |page: &RecordPage| {
        page.items
            .iter()
            .map(|record| record.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), [task_id(0), task_id(13)]);
    let second = RecordsWhere {
        read: 1,
        ..RecordsWhere::new(EntityKind::Task, gold, 2)
    }
    .after(first.next)
    .run(&store, &tenant())
    .await
    .unwrap();
    assert_eq!(ids(&second), [task_id(26), task_id(39)]);
}

mod properties {
    use crm_testkit::properties::{arb_delivery, check_fold};
    use proptest::prelude::*;

    use super::*;

    fn arb_changes() -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                Just(Value::Null),
                Just(json!("gold")),
                Just(json!("silver"))
            ],
            prop_oneof![Just(Value::Null), (0..5u32).prop_map(|n| json!(n))],
        )
            .prop_map(|(tier, seats)| json!({"tier": tier, "seats": seats}))
    }

    fn play(steps: &[(u8, Value)]) -> (World, std::collections::BTreeMap<u8, Value>) {
        let mut world = World::new();
        let mut expected = std::collections::BTreeMap::new();
        for n in 0..4u8 {
            create_task(&mut world, u128::from(n));
        }
        for (n, changes) in steps {
            set_task(&mut world, u128::from(*n), changes.clone(), 1);
            expected.insert(*n, changes.clone());
        }
        (world, expected)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            steps in proptest::collection::vec((0..4u8, arb_changes()), 0..30),
            (cuts, again) in arb_delivery(),
        ) {
            let (world, _) = play(&steps);
            check_fold(&CustomFieldModel, world.events(), &cuts, &again)?;
        }

        #[test]
        fn every_record_holds_its_last_values_and_filters_agree_with_them(
            steps in proptest::collection::vec((0..4u8, arb_changes()), 0..30),
            limit in 1usize..4,
        ) {
            let (world, last) = play(&steps);
            let store = fold(&world);
            let mut gold = Vec::new();
            for (n, changes) in &last {
                let record = values_of(&store, task_id(u128::from(*n)));
                let tier = record.as_ref().and_then(|record| record.values.get_str("tier").cloned());
                let expected_tier = changes["tier"].as_str().map(|tier| CustomValue::Choice(OptionKey::new(tier).unwrap()));
                prop_assert_eq!(&tier, &expected_tier);
                if changes["tier"] == json!("gold") {
                    gold.push(task_id(u128::from(*n)));
                }
            }
            let filters = [filter(EntityKind::Task, json!({"op": "equals", "field": "tier", "value": "gold"}))];
            prop_assert_eq!(pages(&store, EntityKind::Task, &filters, limit), gold);
        }
    }
}
