//! Engagements, given/when/then: tasks and activities through their aggregates, into the
//! model, read back; and properties of the activity timelines on random histories.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use crm_domain::activity::{
    ActivityChange, ActivityCommand, ActivityKind, CancellationReason, Direction, NewActivity,
};
use crm_domain::task::{TaskCommand, TaskStatus};
use crm_domain::{ActivityId, CompanyId, ContactId, Priority, RecordRef, TaskId, UserId};
use uuid::Uuid;

use crm_projections::MemoryDocuments;
use crm_projections::engagements::*;
use crm_testkit::world::{ALICE, World, as_user, minutes, tenant};

const BOB: UserId = UserId(Uuid::from_u128(0xb0b));
const ADA: Uuid = Uuid::from_u128(0xada);
const ACME: Uuid = Uuid::from_u128(0xac);

fn create_task(world: &mut World, id: u128, owner: UserId, due_in_minutes: Option<i64>) {
    world
        .task(
            Uuid::from_u128(id),
            TaskCommand::Create {
                task: TaskId(Uuid::from_u128(id)),
                title: format!("Task {id}"),
                description: None,
                owner,
                concerns: Some(RecordRef::Contact(ContactId(ADA))),
                contact: None,
                due_at: due_in_minutes.map(minutes),
                priority: Priority::Normal,
            },
            &as_user(ALICE, minutes(0)),
        )
        .unwrap();
}

fn log(world: &mut World, id: u128, records: Vec<RecordRef>, at: i64) {
    world
        .activity(
            Uuid::from_u128(id),
            ActivityCommand::Log(NewActivity {
                activity: ActivityId(Uuid::from_u128(id)),
                kind: ActivityKind::Call,
                records,
                occurred_at: minutes(at),
                duration_seconds: Some(60),
                direction: Some(Direction::Inbound),
                participants: Vec::new(),
                outcome: None,
                subject: None,
                body: None,
                performed_by: Some(ALICE),
            }),
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn fold(world: &World) -> MemoryDocuments<EngagementModel> {
    MemoryDocuments::fold(EngagementModel, world.events()).unwrap()
}

fn all_pages(store: &MemoryDocuments<EngagementModel>, record: Uuid, limit: usize) -> Vec<u128> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan(
            &tenant(),
            &RecordActivities {
                record,
                after,
                limit,
            },
        );
        seen.extend(page.items.iter().map(|line| line.activity.0.as_u128()));
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

#[test]
fn a_user_s_open_tasks_come_by_due_time_and_leave_when_done() {
    let mut world = World::new();
    create_task(&mut world, 1, ALICE, Some(60));
    create_task(&mut world, 2, ALICE, Some(30));
    create_task(&mut world, 3, BOB, Some(10));
    create_task(&mut world, 4, ALICE, None);
    world
        .task(
            Uuid::from_u128(1),
            TaskCommand::Complete,
            &as_user(ALICE, minutes(5)),
        )
        .unwrap();
    let store = fold(&world);
    let due = store.scan(
        &tenant(),
        &TaskList {
            owner: Some(ALICE),
            status: Some(TaskStatus::Open),
            due_before: Some(minutes(24 * 60)),
            record: None,
            limit: 10,
            after: None,
        },
    );
    assert_eq!(
        due.iter()
            .map(|task| task.id.0.as_u128())
            .collect::<Vec<_>>(),
        vec![2]
    );
    let all_open = store.scan(
        &tenant(),
        &TaskList {
            owner: Some(ALICE),
            status: Some(TaskStatus::Open),
            due_before: None,
            record: Some(ADA),
            limit: 10,
            after: None,
        },
    );
    assert_eq!(all_open.len(), 2, "task 4 has no due time and is listed");
    let done = store
        .lookup(
            &tenant(),
            &TaskLookup {
                task: TaskId(Uuid::from_u128(1)),
            },
        )
        .unwrap();
    assert_eq!(done.status, TaskStatus::Done);
    assert_eq!(done.closed_at, Some(minutes(5)));
}

#[test]
fn an_activity_is_on_every_record_it_names_newest_first_and_leaves_when_cancelled() {
    let mut world = World::new();
    let ada = RecordRef::Contact(ContactId(ADA));
    let acme = RecordRef::Account(CompanyId(ACME));
    log(&mut world, 10, vec![ada], 1);
    log(&mut world, 11, vec![ada, acme], 2);
    log(&mut world, 12, vec![acme], 3);
    let store = fold(&world);
    assert_eq!(all_pages(&store, ADA, 1), vec![11, 10]);
    assert_eq!(all_pages(&store, ACME, 10), vec![12, 11]);

    // Moved earlier than 10, then taken off ACME (Ada, its data subject, stays).
    world
        .activity(
            Uuid::from_u128(11),
            ActivityCommand::Amend {
                changes: vec![
                    ActivityChange::OccurredAt(minutes(0)),
                    ActivityChange::Records(vec![ada]),
                ],
            },
            &as_user(ALICE, minutes(4)),
        )
        .unwrap();
    let store = fold(&world);
    assert_eq!(all_pages(&store, ADA, 1), vec![10, 11]);
    assert_eq!(all_pages(&store, ACME, 1), vec![12]);
    world
        .activity(
            Uuid::from_u128(12),
            ActivityCommand::Cancel {
                reason: CancellationReason::DidNotHappen,
            },
            &as_user(ALICE, minutes(5)),
        )
        .unwrap();
    let store = fold(&world);
    assert!(all_pages(&store, ACME, 5).is_empty());
    let cancelled = store
        .lookup(
            &tenant(),
            &ActivityLookup {
                activity: ActivityId(Uuid::from_u128(12)),
            },
        )
        .unwrap();
    assert_eq!(cancelled.cancelled, Some(CancellationReason::DidNotHappen));
}

#[test]
fn a_cursor_stays_put_when_newer_activities_arrive() {
    let mut world = World::new();
    let ada = RecordRef::Contact(ContactId(ADA));
    for n in 0..5 {
        log(&mut world, 100 + n, vec![ada], i64::try_from(n).unwrap());
    }
    let store = fold(&world);
    let first = store.scan(
        &tenant(),
        &RecordActivities {
            record: ADA,
            after: None,
            limit: 2,
        },
    );
    log(&mut world, 200, vec![ada], 10);
    let store = fold(&world);
    let second = store.scan(
        &tenant(),
        &RecordActivities {
            record: ADA,
            after: first.next,
            limit: 2,
        },
    );
    assert_eq!(
        second
            .items
            .iter()
            .map(|line| line.activity.0.as_u128())
            .collect::<Vec<_>>(),
        vec![102, 101]
    );
}

mod properties {
    use crm_testkit::properties::{arb_delivery, check_fold};
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Log(u8, Vec<u8>, i64),
        Move(u8, i64),
        Repoint(u8, Vec<u8>),
        Cancel(u8),
    }

    fn record(n: u8) -> RecordRef {
        if n.is_multiple_of(2) {
            RecordRef::Account(CompanyId(Uuid::from_u128(0xa0 + u128::from(n))))
        } else {
            RecordRef::Contact(ContactId(Uuid::from_u128(0xa0 + u128::from(n))))
        }
    }

    fn records(ns: &[u8]) -> Vec<RecordRef> {
        let mut records: Vec<RecordRef> = Vec::new();
        for n in ns {
            if !records.contains(&record(*n)) {
                records.push(record(*n));
            }
        }
        records
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        let some_records = proptest::collection::vec(0..4u8, 1..4);
        prop_oneof![
            (0..8u8, some_records.clone(), 0..50i64).prop_map(|(n, r, at)| Step::Log(n, r, at)),
            (0..8u8, 0..50i64).prop_map(|(n, at)| Step::Move(n, at)),
            (0..8u8, some_records).prop_map(|(n, r)| Step::Repoint(n, r)),
            (0..8u8).prop_map(Step::Cancel),
        ]
    }

    /// What each live activity should be: its records and time, by hand from the commands
    /// the aggregate accepted.
    type Expected = std::collections::BTreeMap<u8, (Vec<RecordRef>, i64)>;

    fn play(steps: &[Step]) -> (World, Expected) {
        let mut expected = Expected::new();
        let mut world = World::new();
        let ctx = as_user(ALICE, minutes(100));
        for step in steps {
            let (n, command) = match step {
                Step::Log(n, ns, at) => (
                    *n,
                    ActivityCommand::Log(NewActivity {
                        activity: ActivityId(Uuid::from_u128(u128::from(*n))),
                        kind: ActivityKind::Note,
                        records: records(ns),
                        occurred_at: minutes(*at),
                        duration_seconds: None,
                        direction: None,
                        participants: Vec::new(),
                        outcome: None,
                        subject: None,
                        body: None,
                        performed_by: None,
                    }),
                ),
                Step::Move(n, at) => (
                    *n,
                    ActivityCommand::Amend {
                        changes: vec![ActivityChange::OccurredAt(minutes(*at))],
                    },
                ),
                Step::Repoint(n, ns) => (
                    *n,
                    ActivityCommand::Amend {
                        changes: vec![ActivityChange::Records(records(ns))],
                    },
                ),
                Step::Cancel(n) => (
                    *n,
                    ActivityCommand::Cancel {
                        reason: CancellationReason::Duplicate,
                    },
                ),
            };
            if world
                .activity(Uuid::from_u128(u128::from(n)), command, &ctx)
                .is_ok()
            {
                match step {
                    Step::Log(n, ns, at) => {
                        expected.insert(*n, (records(ns), *at));
                    }
                    Step::Move(n, at) => {
                        if let Some(kept) = expected.get_mut(n) {
                            kept.1 = *at;
                        }
                    }
                    Step::Repoint(n, ns) => {
                        if let Some(kept) = expected.get_mut(n) {
                            kept.0 = records(ns);
                        }
                    }
                    Step::Cancel(n) => {
                        expected.remove(n);
                    }
                }
            }
        }
        (world, expected)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn folding_in_batches_or_twice_equals_one_fold(
            steps in proptest::collection::vec(arb_step(), 0..40),
            (cuts, again) in arb_delivery(),
        ) {
            let (world, _) = play(&steps);
            check_fold(&EngagementModel, world.events(), &cuts, &again)?;
        }

        #[test]
        fn every_record_s_pages_list_its_live_activities_once_newest_first(
            steps in proptest::collection::vec(arb_step(), 0..40),
            limit in 1usize..4,
        ) {
            let (world, live) = play(&steps);
            let store = MemoryDocuments::fold(EngagementModel, world.events()).unwrap();
            for n in 0..4u8 {
                let wanted = record(n);
                let mut expected: Vec<(i64, u128)> = live
                    .iter()
                    .filter(|(_, (records, _))| records.contains(&wanted))
                    .map(|(id, (_, at))| (*at, u128::from(*id)))
                    .collect();
                expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let listed = all_pages(&store, wanted.as_uuid(), limit);
                prop_assert_eq!(listed, expected.iter().map(|(_, id)| *id).collect::<Vec<_>>());
            }
        }
    }
}

fn create_task_about(
    world: &mut World,
    id: u128,
    title: &str,
    concerns: Option<RecordRef>,
    contact: Option<ContactId>,
) {
    world
        .task(
            Uuid::from_u128(id),
            TaskCommand::Create {
                task: TaskId(Uuid::from_u128(id)),
                title: title.to_owned(),
                description: Some(format!("{title}, as agreed")),
                owner: ALICE,
                concerns,
                contact,
                due_at: None,
                priority: Priority::Normal,
            },
            &as_user(ALICE, minutes(0)),
        )
        .unwrap();
}

fn task_doc(store: &MemoryDocuments<EngagementModel>, id: u128) -> TaskDoc {
    store
        .lookup(
            &tenant(),
            &TaskLookup {
                task: TaskId(Uuid::from_u128(id)),
            },
        )
        .unwrap()
}

/// Tasks about a person — on her contact, on a lead converted into her, on her deal — lose
/// their text when she is erased, later retitles included; a task about nobody keeps it.
#[test]
fn an_erasure_empties_the_text_of_every_task_about_the_person() {
    use crm_domain::contact::ContactCommand;
    use crm_domain::{LeadId, OpportunityId};
    let mut world = World::new();
    let ada = ContactId(ADA);
    let lead = LeadId(Uuid::from_u128(0x1ead));
    world.create_contact(ada, Vec::new());
    world
        .contact(
            ADA,
            ContactCommand::RecordSourceLead { lead },
            &as_user(ALICE, minutes(1)),
        )
        .unwrap();
    let deal = RecordRef::Opportunity(OpportunityId(Uuid::from_u128(0xdea1)));
    create_task_about(
        &mut world,
        1,
        "Call Ada Lovelace",
        Some(RecordRef::Contact(ada)),
        None,
    );
    create_task_about(
        &mut world,
        2,
        "Answer Augusta's form",
        Some(RecordRef::Lead(lead)),
        None,
    );
    create_task_about(
        &mut world,
        3,
        "Send Ada the contract",
        Some(deal),
        Some(ada),
    );
    create_task_about(
        &mut world,
        4,
        "Renew the licence",
        Some(RecordRef::Account(CompanyId(ACME))),
        None,
    );
    world.erase_contact(ContactId(ADA), minutes(5));
    world
        .task(
            Uuid::from_u128(1),
            TaskCommand::Retitle {
                title: "Call Ada Lovelace again".into(),
            },
            &as_user(ALICE, minutes(6)),
        )
        .unwrap();

    let store = fold(&world);
    for id in [1, 2, 3] {
        let doc = task_doc(&store, id);
        assert!(doc.erased, "task {id}");
        assert_eq!(
            (doc.title.as_str(), doc.description),
            ("", None),
            "task {id}"
        );
        assert_eq!(doc.status, TaskStatus::Open, "the task itself stays");
    }
    assert_eq!(task_doc(&store, 3).person, Some(RecordRef::Contact(ada)));
    let kept = task_doc(&store, 4);
    assert_eq!(
        (kept.title.as_str(), kept.erased, kept.person),
        ("Renew the licence", false, None)
    );
    for (_, stored) in store.all_documents() {
        let json = serde_json::to_string(&stored.doc).unwrap();
        for personal in ["Ada", "Augusta", "Lovelace"] {
            assert!(
                !json.contains(personal),
                "{personal} in {}: {json}",
                stored.key
            );
        }
    }
    // The same history folded again, event by event twice, gives the same documents.
    let mut again = MemoryDocuments::new(EngagementModel);
    for event in world.events() {
        again.apply(event).unwrap();
        again.redeliver(event).unwrap();
    }
    assert_eq!(task_doc(&again, 1), task_doc(&store, 1));
}
