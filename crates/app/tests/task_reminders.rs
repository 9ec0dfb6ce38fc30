//! Task reminders on every backend: an open task's owner is reminded once when it is due and
//! once an hour later when it is overdue, through the outbox; a done or cancelled task never, a
//! rescheduled one at its new time and not the old, a reassigned one its new owner; two
//! schedulers at once, a restart and a commit whose answer was lost write each reminder once.
//! A property test drives random task histories, clocks and scheduler passes.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crm_app::scheduler::{
    DEFAULT_OVERDUE_AFTER, DeadlineStore, MemoryDeadlines, PostgresDeadlines, ReminderKind,
    TaskReminderSettings, TaskReminders, reminder_key,
};
use crm_app::workflow::REP_NOTIFICATIONS;
use crm_app::{CommandError, CommandService, ManualClock, MemoryUnitOfWork, UnitOfWork};
use crm_domain::roster::{Rep, RepCommand};
use crm_domain::task::{Task, TaskCommand};
use crm_domain::{Priority, TaskId, UserId};
use support::{ADA_WEBHOOK, Faulty, meta, t0, tenant};
use uuid::Uuid;

on_every_backend_with!(
    memory: crm_app::scheduler::MemoryDeadlines::default(),
    postgres: |store| crm_app::scheduler::PostgresDeadlines::new(store),
    sqlite: |file| crm_app::scheduler::SqliteDeadlines::new(file);
    the_owner_is_reminded_once_when_the_task_is_due,
    the_owner_is_reminded_once_more_an_hour_after_the_due_time,
    a_task_entered_past_its_overdue_time_is_reminded_once_as_overdue,
    a_done_or_cancelled_task_is_not_reminded,
    a_rescheduled_task_is_reminded_at_its_new_time_and_not_the_old,
    a_reassigned_task_reminds_its_new_owner,
    two_schedulers_acting_at_once_write_each_reminder_once,
    a_restarted_scheduler_sends_nothing_again,
    a_reminder_whose_commit_answer_was_lost_is_written_once,
);

// Both deadline stores are named so the macro's paths stay checked.
const _: Option<(MemoryDeadlines, PostgresDeadlines)> = None;

/// Ada is a rep with a webhook.
const ADA: UserId = UserId(Uuid::from_u128(0xada));
/// Bob is a user who is not on the roster.
const BOB: UserId = UserId(Uuid::from_u128(0xb0b));

fn settings() -> TaskReminderSettings {
    TaskReminderSettings {
        overdue_after: DEFAULT_OVERDUE_AFTER,
        link_base: Some("https://crm.example.com/".into()),
        lease: TimeDelta::seconds(30),
        batch: 50,
        parallelism: 4,
    }
}

fn reminders<U: UnitOfWork, D: DeadlineStore + Clone>(
    service: &Arc<CommandService<U>>,
    deadlines: &D,
) -> TaskReminders<U, D> {
    TaskReminders::new(Arc::clone(service), deadlines.clone(), tenant(), settings())
}

async fn register_ada<U: UnitOfWork>(service: &CommandService<U>) {
    service
        .execute::<Rep>(
            &tenant(),
            ADA.0,
            RepCommand::Register {
                rep: ADA,
                display_name: "Ada".into(),
                email: "ada@example.com".into(),
                capacity: 10,
                weight: 1,
                skills: BTreeSet::new(),
                endpoint: Some(ADA_WEBHOOK.into()),
            },
            &meta(),
        )
        .await
        .expect("Ada is on the roster");
}

async fn create_task<U: UnitOfWork>(
    service: &CommandService<U>,
    owner: UserId,
    due_at: DateTime<Utc>,
) -> TaskId {
    let task = TaskId(Uuid::now_v7());
    service
        .execute::<Task>(
            &tenant(),
            task.0,
            TaskCommand::Create {
                task,
                title: "Call back about the renewal".into(),
                description: None,
                owner,
                concerns: None,
                contact: None,
                due_at: Some(due_at),
                priority: Priority::High,
            },
            &meta(),
        )
        .await
        .expect("the task is created");
    task
}

async fn change<U: UnitOfWork>(service: &CommandService<U>, task: TaskId, command: TaskCommand) {
    service
        .execute::<Task>(&tenant(), task.0, command, &meta())
        .await
        .expect("the task changes");
}

/// A reminder as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    kind: String,
    task: TaskId,
    owner: UserId,
    due_at: DateTime<Utc>,
    key: String,
    endpoint: Option<String>,
}

/// Every task reminder in the outbox, oldest first.
async fn sent<U: UnitOfWork>(service: &CommandService<U>) -> Vec<Sent> {
    service
        .work()
        .outbox(&tenant())
        .await
        .expect("the outbox reads")
        .into_iter()
        .filter(|entry| entry.message.destination == REP_NOTIFICATIONS)
        .map(|entry| {
            let payload = &entry.message.payload;
            let text = |field: &str| payload[field].as_str().map(str::to_owned);
            let id = |field: &str| {
                Uuid::parse_str(payload[field].as_str().expect("an id")).expect("a UUID")
            };
            Sent {
                kind: text("type").expect("a type"),
                task: TaskId(id("task")),
                owner: UserId(id("owner")),
                due_at: serde_json::from_value(payload["due_at"].clone()).expect("an instant"),
                key: entry.message.idempotency_key.clone(),
                endpoint: text("endpoint"),
            }
        })
        .collect()
}

/// Tracks until the rows satisfy `settled` (at most for five seconds): events another test's
/// open transaction holds back (on PostgreSQL the horizon is the whole server's) are read by a
/// later pass.
async fn track_until<U: UnitOfWork, D: DeadlineStore>(
    reminders: &TaskReminders<U, D>,
    settled: impl Fn(&[crm_app::scheduler::TaskReminder]) -> bool,
) {
    for _ in 0..500 {
        reminders.track().await.expect("tracks");
        let rows = reminders
            .deadlines()
            .pending_task_reminders(&tenant())
            .await
            .expect("reads");
        if settled(&rows) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the tracking never settled");
}

async fn the_owner_is_reminded_once_when_the_task_is_due<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    register_ada(&service).await;
    let due_at = t0() + TimeDelta::hours(2);
    let task = create_task(&service, ADA, due_at).await;
    let reminders = reminders(&service, &deadlines);
    track_until(&reminders, |rows| rows.len() == 1).await;

    assert!(reminders.tick().await.expect("ticks").sent.is_empty());
    clock.advance(TimeDelta::hours(2) - TimeDelta::minutes(1));
    assert!(
        reminders.tick().await.expect("ticks").sent.is_empty(),
        "not a minute early"
    );

    clock.advance(TimeDelta::minutes(1));
    let report = reminders.tick().await.expect("ticks");
    assert_eq!(report.sent, vec![(task, ReminderKind::Due)]);
    assert_eq!(
        sent(&service).await,
        vec![Sent {
            kind: "task-due".into(),
            task,
            owner: ADA,
            due_at,
            key: reminder_key(task, due_at, ReminderKind::Due),
            endpoint: Some(ADA_WEBHOOK.into()),
        }]
    );
    let entry = service.work().outbox(&tenant()).await.expect("reads");
    assert_eq!(
        entry[0].message.payload["link"],
        format!("https://crm.example.com/tasks/{}", task.0)
    );
    assert_eq!(
        entry[0].message.payload["title"],
        "Call back about the renewal"
    );

    for _ in 0..3 {
        assert!(reminders.tick().await.expect("ticks").sent.is_empty());
    }
    clock.advance(TimeDelta::minutes(59));
    assert!(reminders.tick().await.expect("ticks").sent.is_empty());
    assert_eq!(sent(&service).await.len(), 1, "the due reminder, once");
}

async fn the_owner_is_reminded_once_more_an_hour_after_the_due_time<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    let due_at = t0() + TimeDelta::hours(1);
    let task = create_task(&service, BOB, due_at).await;
    let reminders = reminders(&service, &deadlines);
    track_until(&reminders, |rows| rows.len() == 1).await;

    clock.set(due_at);
    assert_eq!(
        reminders.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Due)]
    );
    clock.advance(TimeDelta::minutes(59));
    assert!(reminders.tick().await.expect("ticks").sent.is_empty());
    clock.advance(TimeDelta::minutes(1));
    assert_eq!(
        reminders.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Overdue)]
    );
    clock.advance(TimeDelta::hours(5));
    assert!(reminders.tick().await.expect("ticks").sent.is_empty());

    let sent = sent(&service).await;
    assert_eq!(
        sent.iter()
            .map(|reminder| (reminder.kind.as_str(), reminder.key.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("task-due", reminder_key(task, due_at, ReminderKind::Due)),
            (
                "task-overdue",
                reminder_key(task, due_at, ReminderKind::Overdue)
            ),
        ]
    );
    assert!(
        sent.iter()
            .all(|reminder| reminder.owner == BOB && reminder.endpoint.is_none()),
        "Bob has no webhook of his own: {sent:?}"
    );
    let rows = deadlines
        .pending_task_reminders(&tenant())
        .await
        .expect("reads");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].next, None, "nothing left to send for this due time");
}

async fn a_task_entered_past_its_overdue_time_is_reminded_once_as_overdue<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, _clock): (_, ManualClock) = support::service(work);
    let due_at = t0() - TimeDelta::hours(3);
    let task = create_task(&service, BOB, due_at).await;
    let reminders = reminders(&service, &deadlines);
    track_until(&reminders, |rows| rows.len() == 1).await;

    assert_eq!(
        reminders.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Overdue)]
    );
    assert!(reminders.tick().await.expect("ticks").sent.is_empty());
    assert_eq!(
        sent(&service)
            .await
            .into_iter()
            .map(|reminder| reminder.kind)
            .collect::<Vec<_>>(),
        vec!["task-overdue"]
    );
}

async fn a_done_or_cancelled_task_is_not_reminded<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    let due_at = t0() + TimeDelta::hours(1);
    let tracked_done = create_task(&service, ADA, due_at).await;
    let done = create_task(&service, ADA, due_at).await;
    let cancelled = create_task(&service, BOB, due_at).await;
    let reminders = reminders(&service, &deadlines);
    track_until(&reminders, |rows| rows.len() == 3).await;

    change(&service, tracked_done, TaskCommand::Complete).await;
    track_until(&reminders, |rows| rows.len() == 2).await;
    // The scheduler acts before it tracks the other two: it checks each task as it stands.
    change(&service, done, TaskCommand::Complete).await;
    change(&service, cancelled, TaskCommand::Cancel).await;
    clock.set(due_at + TimeDelta::hours(2));
    let report = reminders.act(clock_now(&clock)).await.expect("acts");
    assert!(report.sent.is_empty(), "{report:?}");
    assert_eq!(report.stale, 2);

    track_until(&reminders, <[_]>::is_empty).await;
    clock.advance(TimeDelta::hours(3));
    assert!(reminders.tick().await.expect("ticks").sent.is_empty());
    assert!(sent(&service).await.is_empty());
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    crm_app::Clock::now(clock)
}

async fn a_rescheduled_task_is_reminded_at_its_new_time_and_not_the_old<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    let old = t0() + TimeDelta::hours(1);
    let new = t0() + TimeDelta::hours(3);
    let task = create_task(&service, BOB, old).await;
    let reminders = reminders(&service, &deadlines);
    track_until(&reminders, |rows| rows.len() == 1).await;

    change(
        &service,
        task,
        TaskCommand::Reschedule { due_at: Some(new) },
    )
    .await;
    clock.set(old);
    let report = reminders.act(old).await.expect("acts");
    assert!(report.sent.is_empty(), "not reminded of the old time");
    assert_eq!(report.stale, 1);
    track_until(&reminders, |rows| rows.iter().all(|row| row.due_at == new)).await;
    clock.set(old + TimeDelta::hours(1));
    assert!(reminders.tick().await.expect("ticks").sent.is_empty());

    clock.set(new);
    assert_eq!(
        reminders.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Due)]
    );
    clock.set(new + TimeDelta::hours(1));
    assert_eq!(
        reminders.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Overdue)]
    );
    let sent = sent(&service).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().all(|reminder| reminder.due_at == new),
        "{sent:?}"
    );
}

async fn a_reassigned_task_reminds_its_new_owner<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    register_ada(&service).await;
    let due_at = t0() + TimeDelta::hours(1);
    let task = create_task(&service, ADA, due_at).await;
    let reminders = reminders(&service, &deadlines);
    track_until(&reminders, |rows| rows.len() == 1).await;

    // Reassigned after the tracking: the reminder goes to the owner the task has now.
    change(&service, task, TaskCommand::Reassign { owner: BOB }).await;
    clock.set(due_at);
    let report = reminders.act(due_at).await.expect("acts");
    assert_eq!(report.sent, vec![(task, ReminderKind::Due)]);

    // Given back to Ada after the due reminder: she gets the overdue one, not the due one.
    change(&service, task, TaskCommand::Reassign { owner: ADA }).await;
    track_until(&reminders, |rows| rows.iter().all(|row| row.owner == ADA)).await;
    assert!(reminders.tick().await.expect("ticks").sent.is_empty());
    clock.advance(TimeDelta::hours(1));
    assert_eq!(
        reminders.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Overdue)]
    );

    let sent: Vec<(String, UserId, Option<String>)> = sent(&service)
        .await
        .into_iter()
        .map(|reminder| (reminder.kind, reminder.owner, reminder.endpoint))
        .collect();
    assert_eq!(
        sent,
        vec![
            ("task-due".into(), BOB, None),
            ("task-overdue".into(), ADA, Some(ADA_WEBHOOK.into())),
        ]
    );
}

async fn two_schedulers_acting_at_once_write_each_reminder_once<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work);
    let due_at = t0() + TimeDelta::hours(1);
    let mut tasks = BTreeSet::new();
    for _ in 0..12 {
        tasks.insert(create_task(&service, BOB, due_at).await);
    }
    let first = Arc::new(reminders(&service, &deadlines));
    let second = Arc::new(reminders(&service, &deadlines));
    track_until(&first, |rows| rows.len() == tasks.len()).await;

    for (at, kind) in [
        (due_at, ReminderKind::Due),
        (due_at + TimeDelta::hours(1), ReminderKind::Overdue),
    ] {
        clock.set(at);
        let mut reminded = Vec::new();
        for _ in 0..3 {
            let (a, b) = tokio::join!(first.tick(), second.tick());
            reminded.extend(a.expect("the first ticks").sent);
            reminded.extend(b.expect("the second ticks").sent);
        }
        reminded.sort();
        let expected: Vec<_> = tasks.iter().map(|task| (*task, kind)).collect();
        assert_eq!(reminded, expected, "each task reminded by one scheduler");
    }
    let sent = sent(&service).await;
    assert_eq!(sent.len(), 2 * tasks.len());
    for task in &tasks {
        let kinds: BTreeSet<&str> = sent
            .iter()
            .filter(|reminder| reminder.task == *task)
            .map(|reminder| reminder.kind.as_str())
            .collect();
        assert_eq!(kinds, BTreeSet::from(["task-due", "task-overdue"]));
    }
}

async fn a_restarted_scheduler_sends_nothing_again<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work.clone());
    let due_at = t0() + TimeDelta::hours(1);
    let task = create_task(&service, BOB, due_at).await;
    {
        let before = reminders(&service, &deadlines);
        track_until(&before, |rows| rows.len() == 1).await;
        clock.set(due_at);
        assert_eq!(
            before.tick().await.expect("ticks").sent,
            vec![(task, ReminderKind::Due)]
        );
    }

    // A new process: its own command service over the same database and deadlines.
    let restarted_service = Arc::new(CommandService::new(work, Arc::new(clock.clone())));
    let after = reminders(&restarted_service, &deadlines);
    assert!(after.tick().await.expect("ticks").sent.is_empty());
    clock.advance(TimeDelta::hours(1));
    assert_eq!(
        after.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Overdue)]
    );
    let again = reminders(&restarted_service, &deadlines);
    clock.advance(TimeDelta::hours(1));
    assert!(again.tick().await.expect("ticks").sent.is_empty());
    assert_eq!(sent(&service).await.len(), 2);
}

async fn a_reminder_whose_commit_answer_was_lost_is_written_once<
    U: UnitOfWork + Clone,
    D: DeadlineStore + Clone,
>(
    work: U,
    deadlines: D,
) {
    let (service, clock): (_, ManualClock) = support::service(work.clone());
    let due_at = t0() + TimeDelta::hours(1);
    let task = create_task(&service, BOB, due_at).await;

    // The scheduler's first commit (the reminder) is written, then its answer is lost, as when
    // the process dies between committing and moving the row on.
    let mut faulty = Faulty::new(work);
    faulty.lose_answer_of = Arc::new(vec![0]);
    let faulty_service = Arc::new(CommandService::new(faulty, Arc::new(clock.clone())));
    let scheduler = reminders(&faulty_service, &deadlines);
    track_until(&scheduler, |rows| rows.len() == 1).await;
    clock.set(due_at);
    let report = scheduler.tick().await.expect("ticks");
    assert_eq!((report.sent.len(), report.failed), (0, 1));
    assert_eq!(
        sent(&service).await.len(),
        1,
        "written before the answer was lost"
    );

    assert!(
        scheduler.tick().await.expect("ticks").sent.is_empty(),
        "leased"
    );
    clock.advance(settings().lease);
    assert_eq!(
        scheduler.tick().await.expect("ticks").sent,
        vec![(task, ReminderKind::Due)],
        "tried again after the lease"
    );
    assert_eq!(
        sent(&service).await.len(),
        1,
        "the second write was ignored"
    );
}

/// The property test: random histories of two tasks, interleaved with clock moves and
/// scheduler passes (tracking, acting, both, a restart), on the in-memory backend.
mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Reassign(usize, bool),
        Reschedule(usize, Option<u8>),
        Complete(usize),
        Cancel(usize),
        Reopen(usize),
        Retitle(usize),
        Advance(u8),
        Track,
        Act,
        Tick,
        Restart,
    }

    fn step() -> impl Strategy<Value = Step> {
        let task = 0_usize..2;
        prop_oneof![
            2 => (task.clone(), any::<bool>()).prop_map(|(task, ada)| Step::Reassign(task, ada)),
            3 => (task.clone(), proptest::option::weighted(0.85, 0_u8..6))
                .prop_map(|(task, slot)| Step::Reschedule(task, slot)),
            1 => task.clone().prop_map(Step::Complete),
            1 => task.clone().prop_map(Step::Cancel),
            2 => task.clone().prop_map(Step::Reopen),
            1 => task.prop_map(Step::Retitle),
            4 => (1_u8..90).prop_map(Step::Advance),
            2 => Just(Step::Track),
            2 => Just(Step::Act),
            3 => Just(Step::Tick),
            1 => Just(Step::Restart),
        ]
    }

    /// Due times fall on 40-minute slots from t0, so due and overdue instants of different
    /// due times interleave.
    fn slot(slot: u8) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(40 * i64::from(slot))
    }

    struct World {
        service: Arc<CommandService<MemoryUnitOfWork>>,
        clock: ManualClock,
        deadlines: MemoryDeadlines,
        reminders: TaskReminders<MemoryUnitOfWork, MemoryDeadlines>,
        tasks: Vec<TaskId>,
    }

    impl World {
        async fn new() -> Self {
            let (service, clock) = support::service(MemoryUnitOfWork::default());
            let deadlines = MemoryDeadlines::default();
            let mut tasks = Vec::new();
            for owner in [ADA, BOB] {
                tasks.push(create_task(&service, owner, slot(1)).await);
            }
            let reminders = reminders(&service, &deadlines);
            Self {
                service,
                clock,
                deadlines,
                reminders,
                tasks,
            }
        }

        async fn command(&self, task: usize, command: TaskCommand) {
            match self
                .service
                .execute::<Task>(&tenant(), self.tasks[task].0, command, &meta())
                .await
            {
                Ok(_) | Err(CommandError::Rejected(_)) => {}
                Err(error) => panic!("the command failed: {error}"),
            }
        }

        /// Acts (tracking first when `track`) and checks every reminder written by the pass
        /// against the task as it stands: open, due at the reminder's time, owned by the
        /// reminder's owner, and the reminder's instant reached.
        async fn act(&self, track: bool) -> Result<(), TestCaseError> {
            let before: BTreeSet<String> = sent(&self.service)
                .await
                .into_iter()
                .map(|reminder| reminder.key)
                .collect();
            let now = clock_now(&self.clock);
            if track {
                self.reminders.tick().await.expect("ticks");
            } else {
                self.reminders.act(now).await.expect("acts");
            }
            let sent = sent(&self.service).await;
            // The outbox lists by write time, then id: compare keys, not positions.
            for reminder in sent
                .iter()
                .filter(|reminder| !before.contains(&reminder.key))
            {
                let (task, _) = self
                    .service
                    .load::<Task>(&tenant(), reminder.task.0)
                    .await
                    .expect("loads");
                prop_assert_eq!(
                    task.reminder(),
                    Some((reminder.owner, reminder.due_at)),
                    "reminded of a task that is not open and due then: {:?}",
                    reminder
                );
                let overdue_at = reminder.due_at + DEFAULT_OVERDUE_AFTER;
                match reminder.kind.as_str() {
                    "task-due" => prop_assert!(reminder.due_at <= now && now < overdue_at),
                    "task-overdue" => prop_assert!(overdue_at <= now),
                    other => prop_assert!(false, "unknown kind {}", other),
                }
            }
            let keys: BTreeSet<&str> = sent.iter().map(|reminder| reminder.key.as_str()).collect();
            prop_assert_eq!(keys.len(), sent.len(), "a reminder written twice");
            Ok(())
        }
    }

    async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
        let mut world = World::new().await;
        for step in steps {
            match step {
                Step::Reassign(task, ada) => {
                    let owner = if ada { ADA } else { BOB };
                    world.command(task, TaskCommand::Reassign { owner }).await;
                }
                Step::Reschedule(task, due) => {
                    let due_at = due.map(slot);
                    world
                        .command(task, TaskCommand::Reschedule { due_at })
                        .await;
                }
                Step::Complete(task) => world.command(task, TaskCommand::Complete).await,
                Step::Cancel(task) => world.command(task, TaskCommand::Cancel).await,
                Step::Reopen(task) => world.command(task, TaskCommand::Reopen).await,
                Step::Retitle(task) => {
                    let title = format!("Call back ({})", Uuid::now_v7());
                    world.command(task, TaskCommand::Retitle { title }).await;
                }
                Step::Advance(minutes) => world.clock.advance(TimeDelta::minutes(minutes.into())),
                Step::Track => {
                    world.reminders.track().await.expect("tracks");
                }
                Step::Act => world.act(false).await?,
                Step::Tick => world.act(true).await?,
                Step::Restart => {
                    world.reminders = reminders(&world.service, &world.deadlines);
                }
            }
        }
        // In the end every task still open with a due time has been told it is overdue.
        world
            .clock
            .set(clock_now(&world.clock).max(slot(6)) + DEFAULT_OVERDUE_AFTER);
        world.act(true).await?;
        let sent = sent(&world.service).await;
        for task in &world.tasks {
            let (state, _) = world
                .service
                .load::<Task>(&tenant(), task.0)
                .await
                .expect("loads");
            if let Some((_, due_at)) = state.reminder() {
                let key = reminder_key(*task, due_at, ReminderKind::Overdue);
                prop_assert!(
                    sent.iter().any(|reminder| reminder.key == key),
                    "task {} due at {} was never reminded as overdue",
                    task.0,
                    due_at
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn reminders_are_written_once_and_only_for_open_tasks_due_then(
            steps in proptest::collection::vec(step(), 1..40)
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(run(steps))?;
        }
    }
}
