//! Duplicate review queue, given/when/then.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use crm_domain::contact::{
    ContactCommand, ContactError, ContactEvent, DetailChange, ErasureGround, ErasureRequest,
    ErasureRequester, MergePolicy,
};
use crm_domain::identity::{
    CountryCode, EmailAddress, IdentityRecord, MatchAssessment, MatchConfig, MatchVerdict,
    PersonName, PhoneNumber, assess,
};
use crm_domain::{ContactId, encode};
use uuid::Uuid;

use crm_projections::MemoryDocuments;
use crm_projections::duplicates::query::{PairQuery, ReviewCursor, ReviewQueue};
use crm_projections::duplicates::*;
use crm_projections::{AggregateKind, CrmEvent, StreamRef};
use crm_testkit::world::{ALICE, World, as_system, as_user, minutes, tenant};

const AUGUSTA: ContactId = ContactId(Uuid::from_u128(0xa1));
const GRACE: ContactId = ContactId(Uuid::from_u128(0xa2));
const AMAZING: ContactId = ContactId(Uuid::from_u128(0xa3));
const OTHER: ContactId = ContactId(Uuid::from_u128(0xa4));

fn record(name: &str, email: &str, phone: &str) -> IdentityRecord {
    IdentityRecord {
        names: vec![PersonName::new(name).unwrap()],
        emails: vec![EmailAddress::parse(email).unwrap()],
        phones: vec![PhoneNumber::parse(phone, CountryCode::new("GB").unwrap()).unwrap()],
        company_domain: None,
        company_name: None,
    }
}

/// 0.6755, review: one address, two very different names.
fn shared_address() -> MatchAssessment {
    assess(
        &record("Augusta King", "augusta@engines.example", "020 7946 0958"),
        &record("Grace Hopper", "augusta@engines.example", "020 7946 0000"),
        &MatchConfig::default(),
    )
}

/// 0.6650, review.
fn shared_mailbox() -> MatchAssessment {
    assess(
        &record("Grace Hopper", "grace@gmail.com", "020 7946 0958"),
        &record("Amazing Grace", "grace@gmail.com", "020 7946 0001"),
        &MatchConfig::default(),
    )
}

/// 1.0, auto-link.
fn identical() -> MatchAssessment {
    let same = record("Augusta King", "augusta@engines.example", "020 7946 0958");
    assess(&same, &same, &MatchConfig::default())
}

/// Identity resolution records a suspicion through the contact aggregate.
fn suspect(
    world: &mut World,
    contact: ContactId,
    candidate: ContactId,
    assessment: MatchAssessment,
    at: i64,
) {
    world
        .contact(
            contact.0,
            ContactCommand::RecordDuplicateSuspicion {
                candidate,
                assessment,
            },
            &as_system(minutes(at)),
        )
        .unwrap();
}

fn suspected(candidate: ContactId, assessment: MatchAssessment, at: i64) -> ContactEvent {
    ContactEvent::DuplicateSuspected {
        candidate,
        assessment,
        by: crm_domain::Actor::System {
            component: "identity-resolution".into(),
        },
        at: minutes(at),
    }
}

fn create(world: &mut World, id: ContactId, email: &str) {
    world.create_contact(
        id,
        vec![DetailChange::AddEmail(EmailAddress::parse(email).unwrap())],
    );
}

fn merge(world: &mut World, survivor: ContactId, absorbed: ContactId, at: i64) {
    let ctx = as_user(ALICE, minutes(at));
    world
        .contact(absorbed.0, ContactCommand::MergeInto { survivor }, &ctx)
        .unwrap();
    let state = world.contact_state(absorbed.0);
    world
        .contact(
            survivor.0,
            ContactCommand::Merge {
                absorbed: Box::new(state),
                policy: MergePolicy::SurvivorFirst,
                choices: vec![],
            },
            &ctx,
        )
        .unwrap();
}

fn queue(world: &World) -> Vec<(ContactId, ContactId)> {
    MemoryDocuments::fold(DuplicateQueueModel, world.events())
        .unwrap()
        .scan(&tenant(), &ReviewQueue::first(100))
        .into_iter()
        .map(|candidate| (candidate.lower, candidate.higher))
        .collect()
}

fn three_contacts() -> World {
    let mut world = World::new();
    create(&mut world, AUGUSTA, "augusta@engines.example");
    create(&mut world, GRACE, "grace@gmail.com");
    create(&mut world, AMAZING, "amazing@gmail.com");
    world
}

#[test]
fn pairs_scored_for_review_wait_highest_score_first_with_their_reasons() {
    assert_eq!(shared_address().verdict, MatchVerdict::Review);
    assert_eq!(shared_mailbox().verdict, MatchVerdict::Review);
    let mut world = three_contacts();
    suspect(&mut world, AMAZING, GRACE, shared_mailbox(), 1);
    suspect(&mut world, GRACE, AUGUSTA, shared_address(), 2);

    let store = MemoryDocuments::fold(DuplicateQueueModel, world.events()).unwrap();
    let waiting = store.scan(&tenant(), &ReviewQueue::first(100));
    assert_eq!(waiting.len(), 2);
    assert_eq!(
        (waiting[0].lower, waiting[0].higher),
        (AUGUSTA, GRACE),
        "ordered pair, best first"
    );
    assert_eq!(waiting[0].score, shared_address().score);
    assert_eq!(waiting[0].reasons, shared_address().reasons);
    assert_eq!((waiting[1].lower, waiting[1].higher), (GRACE, AMAZING));
    let limited = store.scan(&tenant(), &ReviewQueue::first(1));
    assert_eq!(limited.len(), 1);
}

#[test]
fn pairs_decided_by_the_policy_do_not_wait_for_a_person() {
    let mut world = three_contacts();
    let refused = world.contact(
        AUGUSTA.0,
        ContactCommand::RecordDuplicateSuspicion {
            candidate: GRACE,
            assessment: identical(),
        },
        &as_system(minutes(1)),
    );
    assert_eq!(
        refused,
        Err(ContactError::NotForReview {
            verdict: MatchVerdict::AutoLink
        })
    );
    // The aggregate refuses them; a store holding such facts anyway (written by hand, or by
    // an older build) must not fill the queue either.
    let stream = StreamRef::new(AggregateKind::Contact, AUGUSTA.0);
    world
        .log
        .record(stream, CrmEvent::Contact(suspected(GRACE, identical(), 1)));
    world.log.record(
        stream,
        CrmEvent::Contact(suspected(AUGUSTA, shared_address(), 2)),
    );
    assert!(queue(&world).is_empty());
}

#[test]
fn merging_the_pair_takes_it_off_the_queue_and_closes_the_absorbed_contact_s_other_pairs() {
    let mut world = three_contacts();
    suspect(&mut world, GRACE, AUGUSTA, shared_address(), 1);
    suspect(&mut world, AMAZING, GRACE, shared_mailbox(), 2);
    merge(&mut world, AUGUSTA, GRACE, 3);

    assert!(queue(&world).is_empty());
    let store = MemoryDocuments::fold(DuplicateQueueModel, world.events()).unwrap();
    let merged = store
        .lookup(
            &tenant(),
            &PairQuery {
                a: GRACE,
                b: AUGUSTA,
            },
        )
        .unwrap();
    assert_eq!(merged.state, PairState::Merged { at: minutes(3) });
    let other = store
        .lookup(
            &tenant(),
            &PairQuery {
                a: GRACE,
                b: AMAZING,
            },
        )
        .unwrap();
    assert_eq!(
        other.state,
        PairState::Closed {
            because: ClosedBecause::Absorbed,
            at: minutes(3)
        }
    );
}

#[test]
fn a_pair_declared_different_people_never_comes_back_until_the_declaration_is_revoked() {
    let mut world = three_contacts();
    suspect(&mut world, GRACE, AUGUSTA, shared_address(), 1);
    world
        .contact(
            GRACE.0,
            ContactCommand::DeclareNotDuplicate { other: AUGUSTA },
            &as_user(ALICE, minutes(2)),
        )
        .unwrap();
    suspect(&mut world, AUGUSTA, GRACE, shared_address(), 3);
    assert!(queue(&world).is_empty());

    world
        .contact(
            GRACE.0,
            ContactCommand::RevokeNotDuplicate { other: AUGUSTA },
            &as_user(ALICE, minutes(4)),
        )
        .unwrap();
    assert_eq!(queue(&world), vec![(AUGUSTA, GRACE)]);
}

#[test]
fn a_declaration_before_any_suspicion_keeps_the_pair_out_of_the_queue() {
    let mut world = three_contacts();
    world
        .contact(
            GRACE.0,
            ContactCommand::DeclareNotDuplicate { other: AUGUSTA },
            &as_user(ALICE, minutes(1)),
        )
        .unwrap();
    suspect(&mut world, AUGUSTA, GRACE, shared_address(), 2);
    assert!(queue(&world).is_empty());
}

fn erase(world: &mut World, id: ContactId, at: i64) {
    world
        .contact(
            id.0,
            ContactCommand::Erase {
                request: ErasureRequest {
                    requested_by: ErasureRequester::DataSubject,
                    legal_basis: ErasureGround::Objection,
                    requested_at: minutes(at),
                },
            },
            &as_user(ALICE, minutes(at)),
        )
        .unwrap();
}

#[test]
fn erasing_either_contact_closes_its_pairs_and_leaves_no_identity_in_their_reasons() {
    let mut world = three_contacts();
    create(&mut world, OTHER, "other@example.com");
    suspect(&mut world, GRACE, AUGUSTA, shared_address(), 1);
    suspect(&mut world, AMAZING, GRACE, shared_mailbox(), 2);
    erase(&mut world, GRACE, 3);
    suspect(&mut world, OTHER, GRACE, shared_address(), 4);

    assert!(queue(&world).is_empty());
    let store = MemoryDocuments::fold(DuplicateQueueModel, world.events()).unwrap();
    for (_, stored) in store.all_documents() {
        let json = serde_json::to_string(&stored.doc).unwrap();
        for personal in ["augusta", "grace", "king", "hopper", "7946"] {
            assert!(
                !json.to_lowercase().contains(personal),
                "{personal} in {json}"
            );
        }
    }
    let pair = store
        .lookup(
            &tenant(),
            &PairQuery {
                a: AUGUSTA,
                b: GRACE,
            },
        )
        .unwrap();
    assert_eq!(
        pair.assessment.map(|a| a.score),
        Some(shared_address().score),
        "the score stays"
    );
}

#[test]
fn a_stored_suspicion_is_read_as_the_contact_s_own_event() {
    let event = suspected(AUGUSTA, shared_address(), 1);
    let encoded = encode(&event).unwrap();
    assert_eq!(encoded.event_type, "ContactDuplicateSuspected");
    assert_eq!(encoded.schema_version, 1);
    let decoded = crm_projections::decode_event(
        AggregateKind::Contact,
        encoded.event_type,
        encoded.schema_version,
        encoded.payload.clone(),
    )
    .unwrap();
    assert_eq!(decoded, CrmEvent::Contact(event));
    let unknown_version = crm_projections::decode_event(
        AggregateKind::Contact,
        encoded.event_type,
        2,
        encoded.payload,
    )
    .unwrap_err();
    assert!(!unknown_version.is_unknown(), "{unknown_version:?}");
}

#[test]
fn the_queue_pages_from_a_cursor_ties_included_each_pair_once() {
    let mut world = three_contacts();
    create(&mut world, OTHER, "other@example.com");
    // Two pairs at the same score (a tie broken by the pair), one scored differently.
    suspect(&mut world, GRACE, AUGUSTA, shared_address(), 1);
    suspect(&mut world, OTHER, AMAZING, shared_address(), 2);
    suspect(&mut world, AMAZING, GRACE, shared_mailbox(), 3);
    let store = MemoryDocuments::fold(DuplicateQueueModel, world.events()).unwrap();
    let whole = store.scan(&tenant(), &ReviewQueue::first(100));
    assert_eq!(whole.len(), 3);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan(&tenant(), &ReviewQueue { limit: 1, after });
        let Some(last) = page.last() else {
            break;
        };
        let cursor = ReviewCursor::after(last);
        assert_eq!(ReviewCursor::parse(&cursor.to_text()), Some(cursor));
        after = Some(cursor);
        paged.extend(page);
        assert!(paged.len() <= whole.len(), "paging ends");
    }
    assert_eq!(paged, whole);
    for bad in [
        "",
        "x",
        "10001.00000000000000000000000000000001.00000000000000000000000000000002",
        "5000.00000000000000000000000000000002.00000000000000000000000000000001",
        "5000.00000000000000000000000000000001",
        "5000.00000000000000000000000000000001.00000000000000000000000000000002.x",
    ] {
        assert_eq!(ReviewCursor::parse(bad), None, "{bad:?}");
    }
}
