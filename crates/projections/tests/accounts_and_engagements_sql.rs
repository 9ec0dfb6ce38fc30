//! The account 360, engagements and custom field models on PostgreSQL and SQLite answer as the in-memory
//! fold does: the same history committed in projector batches into each adapter, then every
//! document and every query compared (the hierarchy roll-ups, the account candidates, each
//! record's activity pages at several page sizes, task lists). The SQL adapters store JSON
//! and answer scans with SQL (`ORDER BY`, text comparison for the activity cursor), so this
//! is where they could part from the reference.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use std::fmt::Debug;
use std::sync::Arc;

use chrono::NaiveDate;
use crm_domain::account::matching::CompanyEvidence;
use crm_domain::account::{AccountCommand, AccountHierarchyCommand, ContactRole};
use crm_domain::activity::{
    ActivityChange, ActivityCommand, ActivityKind, CancellationReason, Direction, NewActivity,
};
use crm_domain::custom_fields::{
    CustomFieldSchema, CustomFieldsUpdate, EntityKind, FilterRequest, SchemaDraft,
};
use crm_domain::identity::{CompanyDomain, CompanyName, EmailAddress, IdentityRecord, MatchConfig};
use crm_domain::opportunity::{OpportunityCommand, Pipeline};
use crm_domain::task::{TaskCommand, TaskStatus};
use crm_domain::{
    ActivityId, CompanyId, ContactId, Currency, Money, OpportunityId, Priority, RecordRef, TaskId,
    UserId,
};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_projections::account360::{Account360Model, Account360Query, AccountCandidates};
use crm_projections::custom_fields::{CustomFieldModel, CustomValuesLookup, RecordsWhere};
use crm_projections::customer360::{Customer360Model, RecordTimeline, TimelineQuery};
use crm_projections::engagements::{EngagementModel, RecordActivities, TaskCursor, TaskList};
use crm_projections::{
    DocumentStore, MemoryStorage, PostgresDocuments, ProjectedEvent, ProjectionBatch, ReadModel,
    SqliteDocuments,
};
use crm_testkit::postgres::TestDatabase;
use crm_testkit::world::{ALICE, World, as_user, minutes, tenant};
use serde_json::json;
use uuid::Uuid;

const BOB: UserId = UserId(Uuid::from_u128(0xb0b));

fn account(n: u128) -> CompanyId {
    CompanyId(Uuid::from_u128(0xa000 + n))
}

fn contact(n: u128) -> ContactId {
    ContactId(Uuid::from_u128(0xc000 + n))
}

/// A history touching every document kind of both models: a three-level group of accounts
/// with domains, a rename and a move; contacts joining and leaving; deals; 60 activities
/// (some at one instant, some amended, moved, re-pointed or cancelled); tasks.
fn history() -> Vec<ProjectedEvent> {
    let mut world = World::new();
    let names = [
        "Acme Group",
        "Acme UK",
        "Acme Deutschland",
        "Acme Berlin",
        "Zenith AG",
    ];
    for (n, name) in (0u128..).zip(names) {
        world
            .account(
                account(n).0,
                AccountCommand::Open {
                    account: account(n),
                    name: CompanyName::new(name).unwrap(),
                    owner: if n % 2 == 0 { ALICE } else { BOB },
                    domains: vec![
                        CompanyDomain::parse(if n == 4 {
                            "zenith.example"
                        } else {
                            "acme.example"
                        })
                        .unwrap(),
                    ],
                    industry: None,
                    employees: None,
                    addresses: Vec::new(),
                },
                &as_user(ALICE, minutes(0)),
            )
            .unwrap();
    }
    for (child, parent) in [(1, 0), (2, 0), (3, 2)] {
        world
            .hierarchy(
                AccountHierarchyCommand::SetParent {
                    account: account(child),
                    parent: Some(account(parent)),
                },
                &as_user(ALICE, minutes(1)),
            )
            .unwrap();
    }
    for n in 0..12u128 {
        world
            .account(
                account(n % 5).0,
                AccountCommand::AddContact {
                    contact: contact(n),
                    role: ContactRole::User,
                },
                &as_user(ALICE, minutes(2)),
            )
            .unwrap();
    }
    world
        .account(
            account(0).0,
            AccountCommand::EndContactRole {
                contact: contact(5),
            },
            &as_user(ALICE, minutes(3)),
        )
        .unwrap();
    let eur = Currency::new("EUR").unwrap();
    for n in 0..6u128 {
        let deal = Uuid::from_u128(0xd000 + n);
        world
            .opportunity(
                deal,
                OpportunityCommand::Open {
                    opportunity: OpportunityId(deal),
                    name: "Deal".into(),
                    contact: contact(n),
                    company: Some(account(n % 4)),
                    owner: ALICE,
                    amount: Money::new(10_000 * i64::try_from(n + 1).unwrap(), eur),
                    expected_close: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
                    pipeline: Pipeline::default(),
                    stage: None,
                },
                &as_user(ALICE, minutes(4)),
            )
            .unwrap();
        if n % 3 == 0 {
            world
                .opportunity(deal, OpportunityCommand::Win, &as_user(ALICE, minutes(5)))
                .unwrap();
        }
    }
    for n in 0..60u128 {
        let id = Uuid::from_u128(0xe000 + n);
        let records = match n % 4 {
            0 => vec![RecordRef::Account(account(n % 5))],
            1 => vec![RecordRef::Contact(contact(n % 12))],
            2 => vec![
                RecordRef::Contact(contact(n % 12)),
                RecordRef::Opportunity(OpportunityId(Uuid::from_u128(0xd000 + n % 6))),
            ],
            _ => vec![
                RecordRef::Account(account(n % 5)),
                RecordRef::Account(account((n + 1) % 5)),
            ],
        };
        // Each pair of activities shares an instant: ties break by id.
        let at = 10 + i64::try_from(n / 2).unwrap();
        world
            .activity(
                id,
                ActivityCommand::Log(NewActivity {
                    activity: ActivityId(id),
                    kind: if n % 2 == 0 {
                        ActivityKind::Call
                    } else {
                        ActivityKind::Note
                    },
                    records,
                    occurred_at: minutes(at),
                    duration_seconds: None,
                    direction: (n % 2 == 0).then_some(Direction::Outbound),
                    participants: Vec::new(),
                    outcome: None,
                    subject: None,
                    body: None,
                    performed_by: Some(ALICE),
                }),
                &as_user(ALICE, minutes(at)),
            )
            .unwrap();
        let later = as_user(ALICE, minutes(100));
        match n % 7 {
            3 => {
                world
                    .activity(
                        id,
                        ActivityCommand::Amend {
                            changes: vec![ActivityChange::OccurredAt(minutes(5))],
                        },
                        &later,
                    )
                    .unwrap();
            }
            4 if n % 4 == 0 || n % 4 == 3 => {
                world
                    .activity(
                        id,
                        ActivityCommand::Amend {
                            changes: vec![ActivityChange::Records(vec![RecordRef::Account(
                                account(4),
                            )])],
                        },
                        &later,
                    )
                    .unwrap();
            }
            5 => {
                world
                    .activity(
                        id,
                        ActivityCommand::Cancel {
                            reason: CancellationReason::LoggedInError,
                        },
                        &later,
                    )
                    .unwrap();
            }
            _ => {}
        }
    }
    world
        .account(
            account(4).0,
            AccountCommand::Rename {
                name: CompanyName::new("Acme Zenith").unwrap(),
            },
            &as_user(ALICE, minutes(101)),
        )
        .unwrap();
    world
        .hierarchy(
            AccountHierarchyCommand::SetParent {
                account: account(3),
                parent: Some(account(1)),
            },
            &as_user(ALICE, minutes(102)),
        )
        .unwrap();
    for n in 0..10u128 {
        let id = Uuid::from_u128(0xf000 + n);
        world
            .task(
                id,
                TaskCommand::Create {
                    task: TaskId(id),
                    title: format!("Task {n}"),
                    description: None,
                    owner: if n % 2 == 0 { ALICE } else { BOB },
                    concerns: Some(RecordRef::Account(account(n % 5))),
                    contact: None,
                    due_at: (n % 3 != 0).then(|| minutes(200 + i64::try_from(n).unwrap())),
                    priority: Priority::Normal,
                },
                &as_user(ALICE, minutes(103)),
            )
            .unwrap();
        world
            .task(
                id,
                TaskCommand::SetCustomFields(custom(
                    EntityKind::Task,
                    json!({"tier": if n % 3 == 0 { "gold" } else { "silver" }, "seats": n}),
                )),
                &as_user(ALICE, minutes(103)),
            )
            .unwrap();
        if n % 4 == 1 {
            world
                .task(id, TaskCommand::Complete, &as_user(ALICE, minutes(104)))
                .unwrap();
        }
    }
    for n in 0..5u128 {
        world
            .account(
                account(n).0,
                AccountCommand::SetCustomFields(custom(
                    EntityKind::Account,
                    json!({"tier": if n < 2 { "gold" } else { "silver" }}),
                )),
                &as_user(ALICE, minutes(105)),
            )
            .unwrap();
    }
    world.events().to_vec()
}

fn custom_schema(entity: EntityKind) -> Arc<CustomFieldSchema> {
    let draft: SchemaDraft = serde_json::from_value(json!({
        "entity": entity,
        "version": 1,
        "fields": [
            {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": [
                {"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"}]}},
            {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}}
        ]
    }))
    .unwrap();
    Arc::new(CustomFieldSchema::new(draft).unwrap())
}

fn custom(entity: EntityKind, changes: serde_json::Value) -> CustomFieldsUpdate {
    let serde_json::Value::Object(changes) = changes else {
        panic!("changes are an object")
    };
    CustomFieldsUpdate::new(custom_schema(entity), changes)
}

async fn commit<M: ReadModel, S: DocumentStore<M>>(store: &S, events: &[ProjectedEvent]) {
    let mut checkpoint = None;
    for chunk in events.chunks(17) {
        let through = chunk.last().unwrap().global_position();
        store
            .commit(
                &tenant(),
                checkpoint,
                &ProjectionBatch::new(chunk.to_vec(), through),
            )
            .await
            .unwrap();
        checkpoint = Some(through);
    }
}

async fn documents<M: ReadModel, S: DocumentStore<M>>(store: &S) -> Vec<(String, M::Doc)>
where
    M::Doc: Debug,
{
    let mut docs: Vec<(String, M::Doc)> = store
        .documents(&tenant())
        .await
        .unwrap()
        .into_iter()
        .map(|stored| (stored.key.to_string(), stored.doc))
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    docs
}

/// Every account query's answers from `store`.
async fn account_answers<S: DocumentStore<Account360Model>>(store: &S) -> Vec<String> {
    let mut answers = Vec::new();
    for n in 0..6 {
        let view = store
            .lookup(
                &tenant(),
                &Account360Query {
                    account: account(n),
                },
            )
            .await
            .unwrap();
        answers.push(serde_json::to_string(&view).unwrap());
    }
    for (email, company) in [
        (Some("ada@eu.acme.example"), None),
        (None, Some("ACME Deutschland GmbH")),
        (Some("ada@zenith.example"), Some("Acme Zenith")),
        (None, Some("Acme")),
    ] {
        let evidence = CompanyEvidence::of(&IdentityRecord {
            emails: email
                .map(|e| EmailAddress::parse(e).unwrap())
                .into_iter()
                .collect(),
            company_name: company.map(|c| CompanyName::new(c).unwrap()),
            ..IdentityRecord::default()
        });
        let found = store
            .lookup(
                &tenant(),
                &AccountCandidates {
                    evidence,
                    config: MatchConfig::default(),
                    limit: 10,
                },
            )
            .await
            .unwrap();
        answers.push(serde_json::to_string(&found).unwrap());
    }
    answers
}

/// Every engagement query's answers from `store`: each record's activities page by page at
/// three page sizes, and task lists.
async fn engagement_answers<S: DocumentStore<EngagementModel>>(store: &S) -> Vec<String> {
    let mut answers = Vec::new();
    let records = (0..5)
        .map(|n| account(n).0)
        .chain((0..12).map(|n| contact(n).0))
        .chain((0..6).map(|n| Uuid::from_u128(0xd000 + n)));
    for record in records {
        for limit in [1, 3, 50] {
            let mut after = None;
            loop {
                let page = store
                    .scan(
                        &tenant(),
                        &RecordActivities {
                            record,
                            after: after.clone(),
                            limit,
                        },
                    )
                    .await
                    .unwrap();
                answers.push(serde_json::to_string(&page).unwrap());
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    for (owner, status, due_before) in [
        (Some(ALICE), Some(TaskStatus::Open), None),
        (Some(BOB), None, Some(minutes(205))),
        (None, Some(TaskStatus::Done), None),
        (None, None, Some(minutes(300))),
    ] {
        let tasks = store
            .scan(
                &tenant(),
                &TaskList {
                    owner,
                    status,
                    due_before,
                    record: None,
                    limit: 100,
                    after: None,
                },
            )
            .await
            .unwrap();
        answers.push(serde_json::to_string(&tasks).unwrap());
        // The same list two at a time from each page's last task: every task once, in order.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .scan(
                    &tenant(),
                    &TaskList {
                        owner,
                        status,
                        due_before,
                        record: None,
                        limit: 2,
                        after,
                    },
                )
                .await
                .unwrap();
            let Some(last) = page.last() else {
                break;
            };
            let cursor = TaskCursor::after(last);
            assert_eq!(TaskCursor::parse(&cursor.to_text()), Some(cursor));
            after = Some(cursor);
            paged.extend(page);
            assert!(paged.len() <= tasks.len(), "paging ends");
        }
        assert_eq!(paged, tasks, "paged by {owner:?} {status:?} {due_before:?}");
    }
    answers
}

/// Every custom field query's answers from `store`: each record's values, and filtered lists
/// page by page at three page sizes.
async fn custom_answers<S: DocumentStore<CustomFieldModel>>(store: &S) -> Vec<String> {
    let mut answers = Vec::new();
    let records = (0..6)
        .map(|n| account(n).0)
        .chain((0..11).map(|n| Uuid::from_u128(0xf000 + n)));
    for record in records {
        let values = store
            .lookup(&tenant(), &CustomValuesLookup { record })
            .await
            .unwrap();
        answers.push(serde_json::to_string(&values).unwrap());
    }
    let filters = [
        (
            EntityKind::Task,
            json!([{"op": "equals", "field": "tier", "value": "gold"}]),
        ),
        (
            EntityKind::Task,
            json!([{"op": "range", "field": "seats", "min": 2, "max": 7}]),
        ),
        (
            EntityKind::Account,
            json!([{"op": "in", "field": "tier", "values": ["gold"]}]),
        ),
        (EntityKind::Account, json!([])),
    ];
    for (entity, requests) in filters {
        let requests: Vec<FilterRequest> = serde_json::from_value(requests).unwrap();
        let filters: Vec<_> = requests
            .iter()
            .map(|request| custom_schema(entity).filter(request).unwrap())
            .collect();
        for limit in [1, 3, 50] {
            let mut after = None;
            loop {
                let page = RecordsWhere {
                    read: 2,
                    ..RecordsWhere::new(entity, filters.clone(), limit)
                }
                .after(after)
                .run(store, &tenant())
                .await
                .unwrap();
                answers.push(serde_json::to_string(&page).unwrap());
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    answers
}

/// Every page, limits 1, 2 and 50, of each deal's own timeline and of each contact's
/// combined one (Customer 360 entry rows, ordered by their `newest` text).
async fn timeline_answers<S: DocumentStore<Customer360Model>>(store: &S) -> Vec<String> {
    let mut answers = Vec::new();
    for limit in [1, 2, 50] {
        for n in 0..6u128 {
            let mut query = RecordTimeline {
                record: Uuid::from_u128(0xd000 + n),
                before: None,
                limit,
            };
            loop {
                let page = store.scan(&tenant(), &query).await.unwrap();
                answers.push(serde_json::to_string(&page).unwrap());
                match page.next {
                    Some(next) => query.before = Some(next),
                    None => break,
                }
            }
        }
        for n in 0..6u128 {
            let mut query = TimelineQuery {
                contact: contact(n),
                before: None,
                limit,
            };
            loop {
                let page = query.run(store, &tenant()).await.unwrap();
                answers.push(serde_json::to_string(&page).unwrap());
                match page.next {
                    Some(next) => query.before = Some(next),
                    None => break,
                }
            }
        }
    }
    answers
}

/// `model`'s reference, PostgreSQL and SQLite stores, each given `events`, and the reference's
/// documents, which both SQL stores are checked to hold.
async fn on_every_store<M>(
    model: M,
    database: &TestDatabase,
    sqlite: &SqliteDatabase,
    events: &[ProjectedEvent],
) -> (
    MemoryStorage<M>,
    PostgresDocuments<M>,
    SqliteDocuments<M>,
    Vec<(String, M::Doc)>,
)
where
    M: ReadModel + Clone + Send + Sync + 'static,
    M::Doc: Debug + Send + Sync,
{
    let reference = MemoryStorage::new(model.clone());
    let postgres = PostgresDocuments::connect(&database.url, 2, model.clone())
        .await
        .unwrap();
    let lite = SqliteDocuments::open(sqlite.clone(), model).unwrap();
    commit(&reference, events).await;
    commit(&postgres, events).await;
    commit(&lite, events).await;
    let expected = documents(&reference).await;
    assert_eq!(documents(&postgres).await, expected, "PostgreSQL documents");
    assert_eq!(documents(&lite).await, expected, "SQLite documents");
    (reference, postgres, lite, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_sqlite_answer_as_the_reference() {
    let events = history();
    let database = TestDatabase::create().await;
    let directory = tempfile::tempdir().unwrap();
    let sqlite = SqliteDatabase::open(directory.path().join("models.db")).unwrap();

    let (reference, postgres, lite, expected) =
        on_every_store(Account360Model, &database, &sqlite, &events).await;
    assert!(expected.len() > 50, "the history touches many documents");
    let answers = account_answers(&reference).await;
    assert!(answers.iter().any(|answer| answer.contains("auto_link")));
    assert_eq!(
        account_answers(&postgres).await,
        answers,
        "PostgreSQL answers"
    );
    assert_eq!(account_answers(&lite).await, answers, "SQLite answers");

    let (reference, postgres, lite, _) =
        on_every_store(EngagementModel, &database, &sqlite, &events).await;
    let answers = engagement_answers(&reference).await;
    assert!(
        answers
            .iter()
            .filter(|answer| answer.contains("\"next\":\""))
            .count()
            > 10,
        "pages were cut"
    );
    assert_eq!(
        engagement_answers(&postgres).await,
        answers,
        "PostgreSQL answers"
    );
    assert_eq!(engagement_answers(&lite).await, answers, "SQLite answers");

    let (reference, postgres, lite, expected) =
        on_every_store(CustomFieldModel, &database, &sqlite, &events).await;
    assert_eq!(
        expected
            .iter()
            .filter(|(key, _)| key.starts_with("values:"))
            .count(),
        15,
        "ten tasks and five accounts with values"
    );
    let answers = custom_answers(&reference).await;
    assert!(answers.iter().any(|answer| answer.contains("\"next\":\"")));
    assert_eq!(
        custom_answers(&postgres).await,
        answers,
        "PostgreSQL answers"
    );
    assert_eq!(custom_answers(&lite).await, answers, "SQLite answers");

    let (reference, postgres, lite, expected) =
        on_every_store(Customer360Model, &database, &sqlite, &events).await;
    assert!(
        expected
            .iter()
            .filter(|(key, _)| key.starts_with("entry:"))
            .count()
            >= 8,
        "deals opened and won: timeline rows"
    );
    let answers = timeline_answers(&reference).await;
    assert!(
        answers
            .iter()
            .filter(|answer| answer.contains("\"next\":\""))
            .count()
            >= 4,
        "pages were cut: {answers:#?}"
    );
    assert_eq!(
        timeline_answers(&postgres).await,
        answers,
        "PostgreSQL answers"
    );
    assert_eq!(timeline_answers(&lite).await, answers, "SQLite answers");
}
