//! Merging contacts through the application layer, on every backend: both sides written, a
//! refusal writing nothing, a crash between the two steps finished by sending the request
//! again, a stale `If-Match` refused, and an unmerge giving both contacts back.

#[macro_use]
mod support;

use std::sync::Arc;

use crm_app::merging::{MergeOutcome, MergeRequest, merge_contacts, unmerge_contacts};
use crm_app::{CommandError, CommandMeta, CommandService, UnitOfWork};
use crm_domain::ContactId;
use crm_domain::contact::{Contact, ContactCommand, ContactError, MergePolicy};
use support::{Faulty, create_contact, meta, service, tenant};

on_every_backend!(
    a_merge_writes_both_sides_once_and_an_unmerge_gives_both_back,
    a_refused_merge_writes_nothing,
    a_crash_between_the_two_sides_is_finished_by_sending_the_request_again,
);

async fn load<U: UnitOfWork>(service: &CommandService<U>, contact: ContactId) -> (Contact, u64) {
    service
        .load::<Contact>(&tenant(), contact.0)
        .await
        .expect("the contact loads")
}

fn request(survivor: ContactId, absorbed: ContactId) -> MergeRequest {
    MergeRequest {
        survivor,
        absorbed,
        policy: MergePolicy::SurvivorFirst,
        choices: Vec::new(),
    }
}

/// A request's meta as the HTTP layer makes it: a key, and the survivor's version.
fn keyed(key: &str, version: u64) -> CommandMeta {
    meta()
        .with_idempotency_key(key)
        .with_command_id(crm_app::derive_id(uuid::Uuid::nil(), key))
        .with_expected_version(version)
}

async fn a_merge_writes_both_sides_once_and_an_unmerge_gives_both_back<U: UnitOfWork + Clone>(
    work: U,
) {
    let (service, _) = service(work);
    let survivor = create_contact(&service).await;
    let absorbed = create_contact(&service).await;
    let (_, version) = load(&service, survivor).await;

    // A stale version is refused before anything is written.
    let stale = merge_contacts(
        &service,
        &tenant(),
        &request(survivor, absorbed),
        &keyed("stale", version + 1),
    )
    .await;
    assert!(
        matches!(stale, Err(CommandError::StaleVersion { .. })),
        "{stale:?}"
    );
    assert_eq!(load(&service, absorbed).await.0.merged_into(), None);

    let merged = merge_contacts(
        &service,
        &tenant(),
        &request(survivor, absorbed),
        &keyed("merge-1", version),
    )
    .await
    .expect("merged");
    assert!(merged.changed);
    let (state, after) = load(&service, survivor).await;
    assert_eq!(merged.survivor_version, after);
    assert!(state.merges.iter().any(|merge| merge.absorbed == absorbed));
    assert_eq!(
        load(&service, absorbed).await.0.merged_into(),
        Some(survivor)
    );

    // Sent again: the same answer, nothing recorded.
    let (_, absorbed_version) = load(&service, absorbed).await;
    let again = merge_contacts(
        &service,
        &tenant(),
        &request(survivor, absorbed),
        &keyed("merge-1", version),
    )
    .await
    .expect("answered again");
    assert_eq!(
        again,
        MergeOutcome {
            survivor_version: after,
            changed: false
        }
    );
    assert_eq!(load(&service, survivor).await.1, after);
    assert_eq!(load(&service, absorbed).await.1, absorbed_version);

    // Given back: two separate contacts again; a second unmerge is refused.
    let unmerged = unmerge_contacts(
        &service,
        &tenant(),
        survivor,
        absorbed,
        &keyed("unmerge-1", after),
    )
    .await
    .expect("unmerged");
    assert!(unmerged.changed);
    let (state, _) = load(&service, survivor).await;
    assert!(state.merges.is_empty());
    assert_eq!(load(&service, absorbed).await.0.merged_into(), None);
    let refused = unmerge_contacts(&service, &tenant(), survivor, absorbed, &meta()).await;
    assert!(
        matches!(
            refused,
            Err(CommandError::Rejected(ContactError::NotMerged { .. }))
        ),
        "{refused:?}"
    );
}

async fn a_refused_merge_writes_nothing<U: UnitOfWork + Clone>(work: U) {
    let (service, _) = service(work);
    let survivor = create_contact(&service).await;
    let absorbed = create_contact(&service).await;
    service
        .execute::<Contact>(
            &tenant(),
            absorbed.0,
            ContactCommand::DeclareNotDuplicate { other: survivor },
            &meta(),
        )
        .await
        .expect("declared");
    let before = (
        load(&service, survivor).await.1,
        load(&service, absorbed).await.1,
    );
    for (survivor, absorbed) in [(survivor, absorbed), (survivor, survivor)] {
        let refused =
            merge_contacts(&service, &tenant(), &request(survivor, absorbed), &meta()).await;
        assert!(
            matches!(refused, Err(CommandError::Rejected(_))),
            "{refused:?}"
        );
    }
    let nobody = ContactId(uuid::Uuid::now_v7());
    let unknown = merge_contacts(&service, &tenant(), &request(survivor, nobody), &meta()).await;
    assert!(
        matches!(unknown, Err(CommandError::Rejected(_))),
        "{unknown:?}"
    );
    assert_eq!(
        (
            load(&service, survivor).await.1,
            load(&service, absorbed).await.1
        ),
        before,
        "nothing written on either side"
    );
}

async fn a_crash_between_the_two_sides_is_finished_by_sending_the_request_again<
    U: UnitOfWork + Clone,
>(
    work: U,
) {
    let (plain, _) = service(work.clone());
    let survivor = create_contact(&plain).await;
    let absorbed = create_contact(&plain).await;
    let (_, version) = load(&plain, survivor).await;
    // The absorbed side commits; the survivor's never does.
    let mut faulty = Faulty::new(work.clone());
    faulty.fail_before = Arc::new(vec![1]);
    let (crashing, _) = service(faulty);
    let failed = merge_contacts(
        &crashing,
        &tenant(),
        &request(survivor, absorbed),
        &keyed("merge-crash", version),
    )
    .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(load(&plain, absorbed).await.0.merged_into(), Some(survivor));
    assert!(load(&plain, survivor).await.0.merges.is_empty());

    let (restarted, _) = service(work);
    let finished = merge_contacts(
        &restarted,
        &tenant(),
        &request(survivor, absorbed),
        &keyed("merge-crash", version),
    )
    .await
    .expect("finished");
    assert!(finished.changed);
    let (state, _) = load(&restarted, survivor).await;
    assert_eq!(
        state
            .merges
            .iter()
            .filter(|merge| merge.absorbed == absorbed)
            .count(),
        1
    );

    // The same for an unmerge: the survivor's side commits, the release does not.
    let (_, version) = load(&restarted, survivor).await;
    let mut faulty = Faulty::new(restarted.work().clone());
    faulty.fail_before = Arc::new(vec![1]);
    let (crashing, _) = service(faulty);
    let failed = unmerge_contacts(
        &crashing,
        &tenant(),
        survivor,
        absorbed,
        &keyed("unmerge-crash", version),
    )
    .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(load(&restarted, survivor).await.0.merges.is_empty());
    assert_eq!(
        load(&restarted, absorbed).await.0.merged_into(),
        Some(survivor)
    );
    unmerge_contacts(
        &restarted,
        &tenant(),
        survivor,
        absorbed,
        &keyed("unmerge-crash", version),
    )
    .await
    .expect("finished");
    assert_eq!(load(&restarted, absorbed).await.0.merged_into(), None);
}
