//! The sync conflict queue, given/when/then: values proposed for fields under manual review
//! wait oldest first until a person decides, a newer proposal replaces the one waiting, and a
//! merge or an erasure ends a contact's waiting values.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use std::collections::BTreeMap;

use crm_domain::ContactId;
use crm_domain::contact::{
    ContactCommand, ContactField, Detail, DetailChange, ErasureGround, ErasureRequest,
    ErasureRequester, MergePolicy, Provenance,
};
use crm_domain::sync::{ContactRules, FieldPolicy, FieldRule};
use crm_projections::MemoryDocuments;
use crm_projections::sync_conflicts::{
    ConflictQueue, ContactConflicts, QueueCursor, SyncConflictModel, WaitingCounts, WaitingFields,
};
use crm_testkit::world::{ALICE, World, as_user, minutes, tenant};
use uuid::Uuid;

const ADA: ContactId = ContactId(Uuid::from_u128(0xa1));
const GRACE: ContactId = ContactId(Uuid::from_u128(0xa2));
const ALAN: ContactId = ContactId(Uuid::from_u128(0xa3));

fn review() -> ContactRules {
    BTreeMap::from([
        (
            ContactField::JobTitle,
            FieldRule::new(FieldPolicy::ManualReview),
        ),
        (
            ContactField::NationalId,
            FieldRule::new(FieldPolicy::ManualReview),
        ),
    ])
}

fn title(text: &str) -> Detail {
    Detail::JobTitle(Some(text.to_owned()))
}

fn create(world: &mut World, id: ContactId) {
    world.create_contact(
        id,
        vec![
            DetailChange::Set(title("Analyst")),
            DetailChange::Set(Detail::NationalId(Some("AB123".to_owned()))),
        ],
    );
}

fn propose(world: &mut World, id: ContactId, detail: Detail, source: &str, at: i64) {
    world
        .contact(
            id.0,
            ContactCommand::Sync {
                changes: vec![DetailChange::Set(detail)],
                provenance: Provenance::new(source, minutes(at)),
                rules: review(),
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn resolve(world: &mut World, id: ContactId, field: ContactField, accept: bool, at: i64) {
    world
        .contact(
            id.0,
            ContactCommand::ResolveFieldConflict { field, accept },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

fn folded(world: &World) -> MemoryDocuments<SyncConflictModel> {
    MemoryDocuments::fold(SyncConflictModel, world.events()).unwrap()
}

fn queue(world: &World) -> Vec<ContactId> {
    folded(world)
        .scan(
            &tenant(),
            &ConflictQueue {
                limit: 100,
                after: None,
            },
        )
        .items
        .iter()
        .map(|waiting| waiting.contact)
        .collect()
}

fn waiting(world: &World, id: ContactId) -> Option<WaitingFields> {
    folded(world).lookup(&tenant(), &ContactConflicts { contact: id })
}

/// How many values wait per source.
fn counts(world: &World) -> Vec<(String, u64)> {
    folded(world)
        .lookup(&tenant(), &WaitingCounts)
        .sources
        .into_iter()
        .collect()
}

fn three() -> World {
    let mut world = World::new();
    for id in [ADA, GRACE, ALAN] {
        create(&mut world, id);
    }
    world
}

#[test]
fn proposals_wait_oldest_first_with_where_they_and_the_current_value_came_from() {
    let mut world = three();
    propose(&mut world, GRACE, title("Admiral"), "billing", 1);
    propose(&mut world, ADA, title("Engineer"), "desk", 2);
    assert_eq!(queue(&world), [GRACE, ADA]);
    let ada = waiting(&world, ADA).unwrap();
    let proposed = ada.field(ContactField::JobTitle).unwrap();
    assert_eq!(proposed.proposed, title("Engineer"));
    assert_eq!(proposed.source, Provenance::new("desk", minutes(2)));
    assert_eq!(
        proposed.current_source,
        Provenance::new("crm-ui", minutes(0))
    );
    assert_eq!(proposed.raised_at, minutes(2));
    assert_eq!(waiting(&world, ALAN), None);
}

#[test]
fn a_newer_proposal_replaces_the_waiting_one_and_deciding_every_field_empties_the_entry() {
    let mut world = three();
    propose(&mut world, ADA, title("Engineer"), "desk", 1);
    propose(&mut world, ADA, title("Director"), "billing", 2);
    propose(
        &mut world,
        ADA,
        Detail::NationalId(Some("ZZ999".to_owned())),
        "desk",
        3,
    );
    let ada = waiting(&world, ADA).unwrap();
    assert_eq!(ada.fields.len(), 2);
    assert_eq!(
        ada.field(ContactField::JobTitle).unwrap().proposed,
        title("Director")
    );
    assert_eq!(ada.waiting_since(), Some(minutes(2)));
    // The replaced proposal no longer counts for its source.
    assert_eq!(
        counts(&world),
        [("billing".to_owned(), 1), ("desk".to_owned(), 1)]
    );

    resolve(&mut world, ADA, ContactField::JobTitle, true, 4);
    assert_eq!(
        world.contact_state(ADA.0).details.job_title(),
        Some("Director")
    );
    let ada = waiting(&world, ADA).unwrap();
    assert_eq!(ada.fields.len(), 1);
    assert_eq!(ada.waiting_since(), Some(minutes(3)));
    resolve(&mut world, ADA, ContactField::NationalId, false, 5);
    assert_eq!(waiting(&world, ADA), None);
    assert!(queue(&world).is_empty());
    assert!(counts(&world).is_empty());
}

#[test]
fn a_merge_or_an_erasure_ends_a_contacts_waiting_values() {
    let mut world = three();
    propose(&mut world, ADA, title("Engineer"), "desk", 1);
    propose(&mut world, GRACE, title("Admiral"), "desk", 2);
    propose(&mut world, ALAN, title("Codebreaker"), "desk", 3);

    let ctx = as_user(ALICE, minutes(4));
    world
        .contact(GRACE.0, ContactCommand::MergeInto { survivor: ADA }, &ctx)
        .unwrap();
    let absorbed = world.contact_state(GRACE.0);
    assert!(absorbed.conflicts.is_empty());
    world
        .contact(
            ADA.0,
            ContactCommand::Merge {
                absorbed: Box::new(absorbed),
                policy: MergePolicy::SurvivorFirst,
                choices: vec![],
            },
            &ctx,
        )
        .unwrap();
    assert_eq!(queue(&world), [ADA, ALAN]);
    assert_eq!(counts(&world), [("desk".to_owned(), 2)]);

    world
        .contact(
            ALAN.0,
            ContactCommand::Erase {
                request: ErasureRequest {
                    requested_by: ErasureRequester::DataSubject,
                    legal_basis: ErasureGround::Objection,
                    requested_at: minutes(5),
                },
            },
            &as_user(ALICE, minutes(5)),
        )
        .unwrap();
    assert_eq!(queue(&world), [ADA]);
    assert_eq!(counts(&world), [("desk".to_owned(), 1)]);
}

#[test]
fn the_queue_pages_from_a_cursor_ties_included_each_contact_once() {
    let mut world = three();
    // Two contacts raised at the same instant, one later.
    propose(&mut world, ALAN, title("Codebreaker"), "desk", 1);
    propose(&mut world, ADA, title("Engineer"), "desk", 1);
    propose(&mut world, GRACE, title("Admiral"), "desk", 2);
    let store = folded(&world);
    let whole = store.scan(
        &tenant(),
        &ConflictQueue {
            limit: 100,
            after: None,
        },
    );
    assert_eq!(whole.items.len(), 3);
    assert_eq!(whole.next, None);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan(&tenant(), &ConflictQueue { limit: 1, after });
        paged.extend(page.items);
        let Some(next) = page.next else {
            break;
        };
        assert_eq!(QueueCursor::parse(&next.to_text()), Some(next));
        after = Some(next);
        assert!(paged.len() <= whole.items.len(), "paging ends");
    }
    assert_eq!(paged, whole.items);
}
