use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::ids::{AccountId, ContactId, LeadId};
use crate::personal::DataSubject;
use crate::testing::{ALICE, BOB, CAROL, SEED, context_at, given, t0, t0_plus_minutes};

const TASK: TaskId = TaskId(Uuid::from_u128(0x7a5c));
const LEAD: LeadId = LeadId(Uuid::from_u128(0x1ead));
const ENGINES: AccountId = AccountId::from_uuid(Uuid::from_u128(0xe1e1));

// Builders: each reads as the fact it records.

fn alice() -> Actor {
    Actor::User { id: ALICE }
}

/// Alice deciding `minutes` after t0.
fn alice_at(minutes: i64) -> Context {
    context_at(t0_plus_minutes(minutes))
}

/// Due a day after t0.
fn tomorrow() -> DateTime<Utc> {
    t0_plus_minutes(24 * 60)
}

fn create_command() -> TaskCommand {
    TaskCommand::Create {
        task: TASK,
        title: "Call back about the pilot".into(),
        description: None,
        owner: ALICE,
        concerns: Some(RecordRef::Lead(LEAD)),
        contact: None,
        due_at: Some(tomorrow()),
        priority: Priority::Normal,
    }
}

fn created() -> TaskEvent {
    TaskEvent::Created {
        task: TASK,
        title: "Call back about the pilot".into(),
        description: None,
        owner: ALICE,
        concerns: Some(RecordRef::Lead(LEAD)),
        person: Some(RecordRef::Lead(LEAD)),
        due_at: Some(tomorrow()),
        priority: Priority::Normal,
        by: alice(),
        at: t0(),
    }
}

fn completed(minutes: i64) -> TaskEvent {
    TaskEvent::Completed {
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn cancelled(minutes: i64) -> TaskEvent {
    TaskEvent::Cancelled {
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn details(task: &Task) -> &TaskDetails {
    task.details.as_ref().unwrap()
}

// Creating.

#[test]
fn creating_a_task_records_it_open() {
    let task = given::<Task>(&[]).when(create_command()).then(&[created()]);
    let details = details(&task);
    assert_eq!(details.status, TaskStatus::Open);
    assert_eq!(details.owner, ALICE);
    assert_eq!(details.concerns, Some(RecordRef::Lead(LEAD)));
    assert_eq!(details.due_at, Some(tomorrow()));
    assert_eq!(task.reminder(), Some((ALICE, tomorrow())));
}

#[test]
fn creating_trims_the_title_and_description() {
    let command = TaskCommand::Create {
        task: TASK,
        title: "  Send the proposal \n".into(),
        description: Some(" With the volume discount. ".into()),
        owner: BOB,
        concerns: Some(RecordRef::Account(ENGINES)),
        contact: None,
        due_at: None,
        priority: Priority::High,
    };
    given::<Task>(&[]).when(command).then(&[TaskEvent::Created {
        task: TASK,
        title: "Send the proposal".into(),
        description: Some("With the volume discount.".into()),
        owner: BOB,
        concerns: Some(RecordRef::Account(ENGINES)),
        person: None,
        due_at: None,
        priority: Priority::High,
        by: alice(),
        at: t0(),
    }]);
}

#[test]
fn creating_a_task_twice_is_refused() {
    given::<Task>(&[created()])
        .when(create_command())
        .then_error(&TaskError::AlreadyCreated { id: TASK });
}

#[test]
fn a_task_without_a_title_is_refused() {
    let command = TaskCommand::Create {
        task: TASK,
        title: " ".into(),
        description: None,
        owner: ALICE,
        concerns: None,
        contact: None,
        due_at: None,
        priority: Priority::Normal,
    };
    given::<Task>(&[])
        .when(command)
        .then_error(&TaskError::BlankTitle);
}

#[test]
fn a_blank_description_is_refused() {
    let command = TaskCommand::Create {
        task: TASK,
        title: "Call back".into(),
        description: Some("\n".into()),
        owner: ALICE,
        concerns: None,
        contact: None,
        due_at: None,
        priority: Priority::Normal,
    };
    given::<Task>(&[])
        .when(command)
        .then_error(&TaskError::BlankDescription);
}

#[test]
fn overlong_texts_are_refused() {
    given::<Task>(&[created()])
        .when(TaskCommand::Retitle {
            title: "t".repeat(MAX_TITLE_CHARS + 1),
        })
        .then_error(&TaskError::TitleTooLong {
            max: MAX_TITLE_CHARS,
        });
    given::<Task>(&[created()])
        .when(TaskCommand::Describe {
            description: Some("d".repeat(MAX_DESCRIPTION_CHARS + 1)),
        })
        .then_error(&TaskError::DescriptionTooLong {
            max: MAX_DESCRIPTION_CHARS,
        });
}

#[test]
fn a_task_due_in_the_past_is_overdue_at_once() {
    let command = TaskCommand::Create {
        task: TASK,
        title: "Log yesterday's visit".into(),
        description: None,
        owner: ALICE,
        concerns: None,
        contact: None,
        due_at: Some(t0_plus_minutes(-60)),
        priority: Priority::Low,
    };
    let events = given::<Task>(&[]).when(command).result().unwrap();
    assert!(Task::replay(&events).is_overdue(t0()));
}

#[test]
fn changing_a_task_never_created_is_refused() {
    for command in [
        TaskCommand::Retitle { title: "x".into() },
        TaskCommand::Complete,
        TaskCommand::Cancel,
        TaskCommand::Reopen,
    ] {
        given::<Task>(&[])
            .when(command)
            .then_error(&TaskError::NotFound);
    }
}

// Changing an open task.

#[test]
fn retitling_records_the_new_title() {
    let task = given::<Task>(&[created()])
        .at(alice_at(5))
        .when(TaskCommand::Retitle {
            title: " Call back about the pilot's scope ".into(),
        })
        .then(&[TaskEvent::Retitled {
            title: "Call back about the pilot's scope".into(),
            personal: true,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(details(&task).title, "Call back about the pilot's scope");
}

#[test]
fn retitling_to_the_same_title_records_nothing() {
    given::<Task>(&[created()])
        .when(TaskCommand::Retitle {
            title: "Call back about the pilot ".into(),
        })
        .then(&[]);
}

#[test]
fn describing_sets_and_clears_the_description() {
    let described = TaskEvent::DescriptionChanged {
        description: Some("Ask about the budget.".into()),
        personal: true,
        by: alice(),
        at: t0_plus_minutes(5),
    };
    given::<Task>(&[created()])
        .at(alice_at(5))
        .when(TaskCommand::Describe {
            description: Some("Ask about the budget.".into()),
        })
        .then(std::slice::from_ref(&described));
    let task = given::<Task>(&[created(), described])
        .at(alice_at(6))
        .when(TaskCommand::Describe { description: None })
        .then(&[TaskEvent::DescriptionChanged {
            description: None,
            personal: true,
            by: alice(),
            at: t0_plus_minutes(6),
        }]);
    assert_eq!(details(&task).description, None);
}

#[test]
fn describing_with_the_same_description_records_nothing() {
    given::<Task>(&[created()])
        .when(TaskCommand::Describe { description: None })
        .then(&[]);
}

#[test]
fn reassigning_names_the_new_owner_and_the_due_time() {
    let task = given::<Task>(&[created()])
        .at(alice_at(5))
        .when(TaskCommand::Reassign { owner: BOB })
        .then(&[TaskEvent::Reassigned {
            owner: BOB,
            due_at: Some(tomorrow()),
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(task.reminder(), Some((BOB, tomorrow())));
}

#[test]
fn reassigning_to_the_owner_records_nothing() {
    given::<Task>(&[created()])
        .when(TaskCommand::Reassign { owner: ALICE })
        .then(&[]);
}

#[test]
fn rescheduling_names_the_new_due_time_and_the_owner() {
    let later = tomorrow() + chrono::Duration::hours(3);
    let task = given::<Task>(&[created()])
        .at(alice_at(5))
        .when(TaskCommand::Reschedule {
            due_at: Some(later),
        })
        .then(&[TaskEvent::Rescheduled {
            due_at: Some(later),
            owner: ALICE,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(task.reminder(), Some((ALICE, later)));
}

#[test]
fn removing_the_due_time_removes_the_reminder() {
    let task = given::<Task>(&[created()])
        .at(alice_at(5))
        .when(TaskCommand::Reschedule { due_at: None })
        .then(&[TaskEvent::Rescheduled {
            due_at: None,
            owner: ALICE,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(task.reminder(), None);
    assert!(!task.is_overdue(tomorrow() + chrono::Duration::days(30)));
}

#[test]
fn rescheduling_to_the_same_due_time_records_nothing() {
    given::<Task>(&[created()])
        .when(TaskCommand::Reschedule {
            due_at: Some(tomorrow()),
        })
        .then(&[]);
}

#[test]
fn changing_the_priority_records_it() {
    given::<Task>(&[created()])
        .at(alice_at(5))
        .when(TaskCommand::ChangePriority {
            priority: Priority::Urgent,
        })
        .then(&[TaskEvent::PriorityChanged {
            priority: Priority::Urgent,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    given::<Task>(&[created()])
        .when(TaskCommand::ChangePriority {
            priority: Priority::Normal,
        })
        .then(&[]);
}

// Done, cancelled, reopened.

#[test]
fn completing_a_task_marks_it_done() {
    let task = given::<Task>(&[created()])
        .at(alice_at(30))
        .when(TaskCommand::Complete)
        .then(&[completed(30)]);
    assert_eq!(task.status(), Some(TaskStatus::Done));
    assert_eq!(details(&task).completed_at, Some(t0_plus_minutes(30)));
    assert_eq!(task.reminder(), None);
}

#[test]
fn completing_a_done_task_records_nothing() {
    given::<Task>(&[created(), completed(30)])
        .when(TaskCommand::Complete)
        .then(&[]);
}

#[test]
fn a_done_task_refuses_changes_until_reopened() {
    for command in [
        TaskCommand::Retitle {
            title: "Other".into(),
        },
        TaskCommand::Reassign { owner: BOB },
        TaskCommand::Reschedule { due_at: None },
        TaskCommand::ChangePriority {
            priority: Priority::Low,
        },
        TaskCommand::Cancel,
    ] {
        given::<Task>(&[created(), completed(30)])
            .when(command)
            .then_error(&TaskError::Done { id: TASK });
    }
}

#[test]
fn reopening_a_done_task_names_the_owner_and_the_due_time() {
    let task = given::<Task>(&[created(), completed(30)])
        .at(alice_at(40))
        .when(TaskCommand::Reopen)
        .then(&[TaskEvent::Reopened {
            owner: ALICE,
            due_at: Some(tomorrow()),
            by: alice(),
            at: t0_plus_minutes(40),
        }]);
    assert_eq!(task.status(), Some(TaskStatus::Open));
    assert_eq!(details(&task).completed_at, None);
    assert_eq!(task.reminder(), Some((ALICE, tomorrow())));
}

#[test]
fn reopening_an_open_task_records_nothing() {
    given::<Task>(&[created()])
        .when(TaskCommand::Reopen)
        .then(&[]);
}

#[test]
fn cancelling_a_task_ends_it_for_good() {
    let task = given::<Task>(&[created()])
        .at(alice_at(30))
        .when(TaskCommand::Cancel)
        .then(&[cancelled(30)]);
    assert_eq!(task.status(), Some(TaskStatus::Cancelled));
    for command in [
        TaskCommand::Reopen,
        TaskCommand::Complete,
        TaskCommand::Describe {
            description: Some("x".into()),
        },
    ] {
        given::<Task>(&[created(), cancelled(30)])
            .when(command)
            .then_error(&TaskError::Cancelled { id: TASK });
    }
}

#[test]
fn cancelling_a_cancelled_task_records_nothing() {
    given::<Task>(&[created(), cancelled(30)])
        .when(TaskCommand::Cancel)
        .then(&[]);
}

// Due and overdue.

#[test]
fn a_task_is_due_at_its_due_time_and_overdue_after_it() {
    let task = Task::replay(&[created()]);
    assert!(!task.is_overdue(t0()));
    assert!(!task.is_overdue(tomorrow()));
    assert!(task.is_overdue(tomorrow() + chrono::Duration::seconds(1)));
}

#[test]
fn a_done_or_cancelled_task_is_never_overdue() {
    let late = tomorrow() + chrono::Duration::days(3);
    assert!(!Task::replay(&[created(), completed(30)]).is_overdue(late));
    assert!(!Task::replay(&[created(), cancelled(30)]).is_overdue(late));
    assert!(!Task::default().is_overdue(late));
}

#[test]
fn each_event_says_what_happens_to_the_reminder() {
    assert_eq!(
        created().reminder(),
        ReminderChange::Schedule {
            owner: ALICE,
            due_at: tomorrow(),
        }
    );
    assert_eq!(completed(1).reminder(), ReminderChange::Drop);
    assert_eq!(cancelled(1).reminder(), ReminderChange::Drop);
    assert_eq!(
        TaskEvent::Rescheduled {
            due_at: None,
            owner: ALICE,
            by: alice(),
            at: t0(),
        }
        .reminder(),
        ReminderChange::Drop
    );
    assert_eq!(
        TaskEvent::Retitled {
            title: "x".into(),
            personal: true,
            by: alice(),
            at: t0(),
        }
        .reminder(),
        ReminderChange::Keep
    );
}

// Personal data.

const ADA: ContactId = ContactId(Uuid::from_u128(0xada));

fn created_about(concerns: Option<RecordRef>, person: Option<RecordRef>) -> TaskEvent {
    TaskEvent::Created {
        task: TASK,
        title: "Call Ada about the pilot".into(),
        description: Some("She asked for Tuesday".into()),
        owner: ALICE,
        concerns,
        person,
        due_at: None,
        priority: Priority::Normal,
        by: alice(),
        at: t0(),
    }
}

fn create_about(concerns: Option<RecordRef>, contact: Option<ContactId>) -> TaskCommand {
    TaskCommand::Create {
        task: TASK,
        title: "Call Ada about the pilot".into(),
        description: Some("She asked for Tuesday".into()),
        owner: ALICE,
        concerns,
        contact,
        due_at: None,
        priority: Priority::Normal,
    }
}

#[test]
fn a_task_concerning_a_lead_or_a_contact_is_about_them_and_its_text_is_theirs() {
    let task = given::<Task>(&[]).when(create_command()).then(&[created()]);
    assert_eq!(task.data_subject(), Some(DataSubject::Lead(LEAD)));
    assert_eq!(created().personal_fields(), ["/title", "/description"]);
    let ada = Some(RecordRef::Contact(ADA));
    let task = given::<Task>(&[])
        .when(create_about(ada, Some(ADA)))
        .then(&[created_about(ada, ada)]);
    assert_eq!(task.data_subject(), Some(DataSubject::Contact(ADA)));
    // Every later text is hers too, said on the event itself.
    given::<Task>(&[created_about(ada, ada)])
        .when(TaskCommand::Retitle {
            title: "Call Ada on Tuesday".into(),
        })
        .then(&[TaskEvent::Retitled {
            title: "Call Ada on Tuesday".into(),
            personal: true,
            by: alice(),
            at: t0(),
        }]);
    let described = TaskEvent::DescriptionChanged {
        description: None,
        personal: true,
        by: alice(),
        at: t0(),
    };
    assert_eq!(described.personal_fields(), ["/description"]);
}

#[test]
fn a_task_on_a_deal_is_about_the_contact_its_creator_names() {
    let deal = Some(RecordRef::Opportunity(crate::ids::OpportunityId(
        Uuid::from_u128(0xdea1),
    )));
    let task = given::<Task>(&[])
        .when(create_about(deal, Some(ADA)))
        .then(&[created_about(deal, Some(RecordRef::Contact(ADA)))]);
    assert_eq!(task.data_subject(), Some(DataSubject::Contact(ADA)));
}

#[test]
fn a_task_about_nobody_keeps_its_text_in_the_clear() {
    let account = Some(RecordRef::Account(ENGINES));
    let task = given::<Task>(&[])
        .when(create_about(account, None))
        .then(&[created_about(account, None)]);
    assert_eq!(task.data_subject(), None);
    assert!(created_about(account, None).personal_fields().is_empty());
    given::<Task>(&[created_about(account, None)])
        .when(TaskCommand::Describe { description: None })
        .then(&[TaskEvent::DescriptionChanged {
            description: None,
            personal: false,
            by: alice(),
            at: t0(),
        }]);
}

#[test]
fn a_task_concerning_a_person_names_no_one_else() {
    given::<Task>(&[])
        .when(create_about(Some(RecordRef::Lead(LEAD)), Some(ADA)))
        .then_error(&TaskError::PersonMismatch {
            concerns: RecordRef::Lead(LEAD),
            contact: ADA,
        });
}

#[test]
fn a_task_recorded_before_tasks_named_their_person_reads_it_from_what_it_concerns() {
    let mut payload = crate::encode(&created()).unwrap().payload;
    payload.as_object_mut().unwrap().remove("person");
    let old: TaskEvent = crate::decode("TaskCreated", 1, payload).unwrap();
    assert_eq!(
        Task::replay(&[old]).data_subject(),
        Some(DataSubject::Lead(LEAD))
    );
}

#[test]
fn an_erased_title_and_description_read_as_empty() {
    let mut payload = crate::encode(&created_about(
        Some(RecordRef::Contact(ADA)),
        Some(RecordRef::Contact(ADA)),
    ))
    .unwrap()
    .payload;
    payload["title"] = serde_json::Value::Null;
    payload["description"] = serde_json::Value::Null;
    let erased: TaskEvent = crate::decode("TaskCreated", 1, payload).unwrap();
    let details = Task::replay(&[erased]).details.unwrap();
    assert_eq!((details.title.as_str(), details.description), ("", None));
}

// Properties.

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        3 => prop::sample::select(vec![ALICE, BOB, CAROL]).prop_map(|id| Actor::User { id }),
        1 => Just(Actor::Automation { rule: "follow-up-after-demo".into() }),
    ]
}

fn arb_user() -> impl Strategy<Value = UserId> {
    prop::sample::select(vec![ALICE, BOB, CAROL])
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z][A-Za-z ,.?!]{0,30}",
        1 => "[ \t\n]{0,3}",
        1 => "\\PC{1,20}",
    ]
}

fn arb_due() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    proptest::option::of((-600i64..3000).prop_map(t0_plus_minutes))
}

fn arb_priority() -> impl Strategy<Value = Priority> {
    prop::sample::select(Priority::ALL.to_vec())
}

fn arb_create() -> impl Strategy<Value = TaskCommand> {
    (
        arb_text(),
        proptest::option::of(arb_text()),
        arb_user(),
        proptest::option::of(Just(RecordRef::Lead(LEAD))),
        arb_due(),
        arb_priority(),
    )
        .prop_map(|(title, description, owner, concerns, due_at, priority)| {
            TaskCommand::Create {
                task: TASK,
                title,
                description,
                owner,
                concerns,
                contact: None,
                due_at,
                priority,
            }
        })
}

fn arb_command() -> impl Strategy<Value = TaskCommand> {
    prop_oneof![
        1 => arb_create(),
        2 => arb_text().prop_map(|title| TaskCommand::Retitle { title }),
        2 => proptest::option::of(arb_text()).prop_map(|description| TaskCommand::Describe { description }),
        2 => arb_user().prop_map(|owner| TaskCommand::Reassign { owner }),
        2 => arb_due().prop_map(|due_at| TaskCommand::Reschedule { due_at }),
        1 => arb_priority().prop_map(|priority| TaskCommand::ChangePriority { priority }),
        2 => Just(TaskCommand::Complete),
        1 => Just(TaskCommand::Cancel),
        2 => Just(TaskCommand::Reopen),
    ]
}

fn arb_steps(max: usize) -> impl Strategy<Value = Vec<(TaskCommand, Context)>> {
    let opening = proptest::option::weighted(0.9, arb_create());
    let rest = proptest::collection::vec((arb_command(), arb_actor()), 0..max);
    (opening, rest).prop_map(|(opening, rest)| {
        let opening = opening.map(|command| (command, alice_at(0)));
        let rest = (1..).zip(rest).map(|(minutes, (command, actor))| {
            (command, Context::new(t0_plus_minutes(minutes), actor, SEED))
        });
        opening.into_iter().chain(rest).collect()
    })
}

fn arb_event() -> impl Strategy<Value = TaskEvent> {
    let at = (0i64..3000).prop_map(t0_plus_minutes);
    prop_oneof![
        (arb_text(), arb_user(), arb_due(), arb_actor(), at.clone()).prop_map(
            |(title, owner, due_at, by, at)| TaskEvent::Created {
                task: TASK,
                title,
                description: None,
                owner,
                concerns: None,
                person: None,
                due_at,
                priority: Priority::Normal,
                by,
                at,
            }
        ),
        (arb_text(), arb_actor(), at.clone()).prop_map(|(title, by, at)| TaskEvent::Retitled {
            title,
            personal: true,
            by,
            at
        }),
        (proptest::option::of(arb_text()), arb_actor(), at.clone()).prop_map(
            |(description, by, at)| TaskEvent::DescriptionChanged {
                description,
                personal: true,
                by,
                at
            }
        ),
        (arb_user(), arb_due(), arb_actor(), at.clone()).prop_map(|(owner, due_at, by, at)| {
            TaskEvent::Reassigned {
                owner,
                due_at,
                by,
                at,
            }
        }),
        (arb_due(), arb_user(), arb_actor(), at.clone()).prop_map(|(due_at, owner, by, at)| {
            TaskEvent::Rescheduled {
                due_at,
                owner,
                by,
                at,
            }
        }),
        (arb_priority(), arb_actor(), at.clone())
            .prop_map(|(priority, by, at)| TaskEvent::PriorityChanged { priority, by, at }),
        (arb_actor(), at.clone()).prop_map(|(by, at)| TaskEvent::Completed { by, at }),
        (arb_actor(), at.clone()).prop_map(|(by, at)| TaskEvent::Cancelled { by, at }),
        (arb_user(), arb_due(), arb_actor(), at).prop_map(|(owner, due_at, by, at)| {
            TaskEvent::Reopened {
                owner,
                due_at,
                by,
                at,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_events_rebuilds_the_state_also_after_storage(steps in arb_steps(40)) {
        let (state, events) = crate::testing::run_steps::<Task>(steps);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn evolve_accepts_any_sequence_of_facts_and_storage_keeps_them(
        events in proptest::collection::vec(arb_event(), 0..30)
    ) {
        let state = Task::replay(&events);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn the_reminder_read_off_the_events_is_the_one_the_state_needs(steps in arb_steps(40)) {
        // What a scheduler folding only `TaskEvent::reminder` holds always agrees with the
        // task's own `reminder()`.
        let (state, events) = crate::testing::run_steps::<Task>(steps);
        let mut scheduled = None;
        for event in &events {
            match event.reminder() {
                ReminderChange::Schedule { owner, due_at } => scheduled = Some((owner, due_at)),
                ReminderChange::Drop => scheduled = None,
                ReminderChange::Keep => {}
            }
        }
        prop_assert_eq!(scheduled, state.reminder());
    }

    #[test]
    fn a_cancelled_task_never_changes_again_and_only_open_tasks_are_overdue(
        steps in arb_steps(40)
    ) {
        let mut state = Task::default();
        for (command, ctx) in steps {
            let result = state.decide(command, &ctx);
            if state.status() == Some(TaskStatus::Cancelled) {
                prop_assert!(result.as_ref().is_err() || result.as_ref().is_ok_and(Vec::is_empty));
            }
            if let Ok(events) = result {
                state = events.iter().fold(state, Aggregate::evolve);
            }
            if state.is_overdue(ctx.now) {
                prop_assert_eq!(state.status(), Some(TaskStatus::Open));
                prop_assert!(state.reminder().is_some_and(|(_, due)| due < ctx.now));
            }
        }
    }
}

#[test]
fn custom_fields_are_validated_set_cleared_and_folded() {
    crate::custom_fields::fixtures::check_custom_fields::<Task>(
        EntityKind::Task,
        &[created()],
        TaskCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            TaskError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}
