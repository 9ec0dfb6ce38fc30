//! Contacts by their ids in connected systems, given/when/then: an id finds the contacts
//! holding it, a merged contact's id leads to its survivor, unlinking and erasure take the
//! contact off, and no document keeps an erased person's id.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a step that fails fails the test"
)]

use crm_domain::ContactId;
use crm_domain::contact::{
    ContactCommand, ErasureGround, ErasureRequest, ErasureRequester, ExternalId,
};
use crm_projections::MemoryDocuments;
use crm_projections::external_ids::{ContactsByExternalId, ExternalIdModel, ExternalMatch};
use crm_testkit::world::{ALICE, World, as_user, minutes, tenant};
use uuid::Uuid;

const ADA: ContactId = ContactId(Uuid::from_u128(0xa1));
const GRACE: ContactId = ContactId(Uuid::from_u128(0xa2));

fn billing(id: &str) -> ExternalId {
    ExternalId::new("billing", id).unwrap()
}

fn send(world: &mut World, id: ContactId, command: ContactCommand) {
    world
        .contact(id.0, command, &as_user(ALICE, minutes(1)))
        .unwrap();
}

/// Ada and Grace, with the billing ids of `links` linked in order.
fn ada_and_grace(links: &[(ContactId, &str)]) -> World {
    let mut world = World::new();
    world.create_contact(ADA, vec![]);
    world.create_contact(GRACE, vec![]);
    for (contact, id) in links {
        send(
            &mut world,
            *contact,
            ContactCommand::LinkExternalId(billing(id)),
        );
    }
    world
}

fn found(world: &World, external: ExternalId) -> Vec<ExternalMatch> {
    MemoryDocuments::fold(ExternalIdModel, world.events())
        .unwrap()
        .lookup(&tenant(), &ContactsByExternalId { external })
}

fn at(contact: ContactId, merged_into: Option<ContactId>) -> ExternalMatch {
    ExternalMatch {
        contact,
        merged_into,
    }
}

#[test]
fn an_id_finds_the_contacts_holding_it_and_a_merged_ones_survivor() {
    let mut world = ada_and_grace(&[(ADA, "C-1"), (GRACE, "C-2")]);
    assert_eq!(found(&world, billing("C-1")), [at(ADA, None)]);
    assert!(found(&world, billing("C-3")).is_empty());
    assert!(found(&world, ExternalId::new("desk", "C-1").unwrap()).is_empty());

    send(
        &mut world,
        GRACE,
        ContactCommand::MergeInto { survivor: ADA },
    );
    assert_eq!(found(&world, billing("C-2")), [at(GRACE, Some(ADA))]);
    send(
        &mut world,
        GRACE,
        ContactCommand::UnmergeFrom { survivor: ADA },
    );
    assert_eq!(found(&world, billing("C-2")), [at(GRACE, None)]);

    // One id on two contacts (not yet known to be the same person): both are found.
    send(
        &mut world,
        GRACE,
        ContactCommand::LinkExternalId(billing("C-1")),
    );
    assert_eq!(
        found(&world, billing("C-1")),
        [at(ADA, None), at(GRACE, None)]
    );
    send(
        &mut world,
        ADA,
        ContactCommand::UnlinkExternalId(billing("C-1")),
    );
    assert_eq!(found(&world, billing("C-1")), [at(GRACE, None)]);
}

#[test]
fn an_erasure_takes_the_persons_ids_out_of_every_document() {
    let mut world = ada_and_grace(&[(ADA, "C-1"), (ADA, "C-SECRET-7"), (GRACE, "C-1")]);
    send(
        &mut world,
        ADA,
        ContactCommand::Erase {
            request: ErasureRequest {
                requested_by: ErasureRequester::DataSubject,
                legal_basis: ErasureGround::Objection,
                requested_at: minutes(2),
            },
        },
    );
    assert_eq!(found(&world, billing("C-1")), [at(GRACE, None)]);
    assert!(found(&world, billing("C-SECRET-7")).is_empty());
    let folded = MemoryDocuments::fold(ExternalIdModel, world.events()).unwrap();
    let everything = serde_json::to_string(
        &folded
            .documents(&tenant())
            .map(|stored| stored.doc.clone())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!everything.contains("C-SECRET-7"), "{everything}");
    assert!(!everything.contains(&ADA.0.to_string()), "{everything}");
}
