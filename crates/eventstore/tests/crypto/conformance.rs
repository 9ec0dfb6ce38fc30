//! The subject key store's contract, written once and run against every backend
//! (`tests/crypto.rs` for memory, `tests/crypto_postgres.rs` for PostgreSQL).
//!
//! Each check gets a tenant id of its own, so checks sharing one store (and one database)
//! never see each other's subjects.

// These are test bodies that #[test] functions of two test crates call, so they unwrap as
// tests do.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use crm_eventstore::TenantId;
use crm_eventstore::crypto::{CryptoError, ShredOutcome, SubjectId, SubjectKeyStore};
use tokio::task::JoinSet;

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn subject(id: &str) -> SubjectId {
    SubjectId::new(id).unwrap()
}

/// Runs every check of the contract against `store`.
pub(crate) async fn run_all<S: SubjectKeyStore + 'static>(store: Arc<S>) {
    the_first_use_creates_a_key_that_later_uses_return(&*store, &tenant("tenant-1")).await;
    the_decryption_key_is_the_encryption_key(&*store, &tenant("tenant-2")).await;
    a_subject_never_seen_has_no_key_and_that_is_not_an_erasure(&*store, &tenant("tenant-3")).await;
    a_shredded_subject_has_no_key_and_gets_no_new_one(&*store, &tenant("tenant-4")).await;
    shredding_is_idempotent(&*store, &tenant("tenant-5")).await;
    shredding_a_subject_without_a_key_still_blocks_its_future_keys(&*store, &tenant("tenant-6"))
        .await;
    subjects_are_kept_apart_per_tenant(&*store, &tenant("tenant-7")).await;
    concurrent_first_uses_end_with_one_key(Arc::clone(&store), &tenant("tenant-8")).await;
    a_shredding_racing_a_first_use_always_wins(Arc::clone(&store), &tenant("tenant-9")).await;
    keys_of_several_subjects_come_in_one_answer(&*store, &tenant("tenant-10")).await;
}

pub(crate) async fn keys_of_several_subjects_come_in_one_answer(
    store: &impl SubjectKeyStore,
    tenant: &TenantId,
) {
    let live = store
        .encryption_key(tenant, &subject("party-live"))
        .await
        .unwrap();
    store
        .encryption_key(tenant, &subject("party-erased"))
        .await
        .unwrap();
    store.shred(tenant, &subject("party-erased")).await.unwrap();
    let wanted = [subject("party-live"), subject("party-erased")]
        .into_iter()
        .collect();
    let keys = store.decryption_keys(tenant, &wanted).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[&subject("party-live")], Some(live));
    assert_eq!(keys[&subject("party-erased")], None);
    assert!(
        store
            .decryption_keys(tenant, &std::collections::BTreeSet::new())
            .await
            .unwrap()
            .is_empty()
    );

    let with_unknown = [subject("party-live"), subject("party-never-seen")]
        .into_iter()
        .collect();
    let error = store
        .decryption_keys(tenant, &with_unknown)
        .await
        .unwrap_err();
    assert!(matches!(error, CryptoError::KeyNotFound { .. }), "{error}");
}

pub(crate) async fn the_first_use_creates_a_key_that_later_uses_return(
    store: &impl SubjectKeyStore,
    tenant: &TenantId,
) {
    let first = store
        .encryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    let again = store
        .encryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    let other = store
        .encryption_key(tenant, &subject("party-2"))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_ne!(first, other);
}

pub(crate) async fn the_decryption_key_is_the_encryption_key(
    store: &impl SubjectKeyStore,
    tenant: &TenantId,
) {
    let key = store
        .encryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    let read = store
        .decryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    assert_eq!(read, Some(key));
}

pub(crate) async fn a_subject_never_seen_has_no_key_and_that_is_not_an_erasure(
    store: &impl SubjectKeyStore,
    tenant: &TenantId,
) {
    let error = store
        .decryption_key(tenant, &subject("nobody"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CryptoError::KeyNotFound { tenant: error_tenant, subject } if error_tenant == tenant && *subject == self::subject("nobody")),
        "{error:?}"
    );
}

pub(crate) async fn a_shredded_subject_has_no_key_and_gets_no_new_one(
    store: &impl SubjectKeyStore,
    tenant: &TenantId,
) {
    store
        .encryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    assert_eq!(
        store.shred(tenant, &subject("party-1")).await.unwrap(),
        ShredOutcome::Shredded
    );
    assert_eq!(
        store
            .decryption_key(tenant, &subject("party-1"))
            .await
            .unwrap(),
        None
    );
    let error = store
        .encryption_key(tenant, &subject("party-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CryptoError::SubjectShredded { subject, .. } if *subject == self::subject("party-1")),
        "{error:?}"
    );
    assert_eq!(
        store
            .decryption_key(tenant, &subject("party-1"))
            .await
            .unwrap(),
        None
    );
}

pub(crate) async fn shredding_is_idempotent(store: &impl SubjectKeyStore, tenant: &TenantId) {
    store
        .encryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    assert_eq!(
        store.shred(tenant, &subject("party-1")).await.unwrap(),
        ShredOutcome::Shredded
    );
    assert_eq!(
        store.shred(tenant, &subject("party-1")).await.unwrap(),
        ShredOutcome::AlreadyShredded
    );
    assert_eq!(
        store
            .decryption_key(tenant, &subject("party-1"))
            .await
            .unwrap(),
        None
    );
}

pub(crate) async fn shredding_a_subject_without_a_key_still_blocks_its_future_keys(
    store: &impl SubjectKeyStore,
    tenant: &TenantId,
) {
    assert_eq!(
        store.shred(tenant, &subject("party-1")).await.unwrap(),
        ShredOutcome::Shredded
    );
    assert_eq!(
        store
            .decryption_key(tenant, &subject("party-1"))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.encryption_key(tenant, &subject("party-1")).await,
        Err(CryptoError::SubjectShredded { .. })
    ));
}

pub(crate) async fn subjects_are_kept_apart_per_tenant(
    store: &impl SubjectKeyStore,
    tenant: &TenantId,
) {
    let first_tenants = store
        .encryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    let other_tenant = self::tenant(&format!("{tenant}-other"));
    let other_tenants = store
        .encryption_key(&other_tenant, &subject("party-1"))
        .await
        .unwrap();
    assert_ne!(first_tenants, other_tenants);
    store.shred(tenant, &subject("party-1")).await.unwrap();
    assert_eq!(
        store
            .decryption_key(tenant, &subject("party-1"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .decryption_key(&other_tenant, &subject("party-1"))
            .await
            .unwrap(),
        Some(other_tenants)
    );
}

pub(crate) async fn concurrent_first_uses_end_with_one_key<S: SubjectKeyStore + 'static>(
    store: Arc<S>,
    tenant: &TenantId,
) {
    let mut uses = JoinSet::new();
    for _ in 0..8 {
        let (store, tenant) = (Arc::clone(&store), tenant.to_owned());
        uses.spawn(async move { store.encryption_key(&tenant, &subject("party-1")).await });
    }
    let keys: Vec<_> = uses
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let stored = store
        .decryption_key(tenant, &subject("party-1"))
        .await
        .unwrap();
    assert!(keys.iter().all(|key| Some(key) == stored.as_ref()));
}

pub(crate) async fn a_shredding_racing_a_first_use_always_wins<S: SubjectKeyStore + 'static>(
    store: Arc<S>,
    tenant: &TenantId,
) {
    for round in 0..20 {
        let subject = subject(&format!("party-{round}"));
        let creating = {
            let (store, tenant, subject) = (Arc::clone(&store), tenant.to_owned(), subject.clone());
            tokio::spawn(async move { store.encryption_key(&tenant, &subject).await })
        };
        let shredding = {
            let (store, tenant, subject) = (Arc::clone(&store), tenant.to_owned(), subject.clone());
            tokio::spawn(async move { store.shred(&tenant, &subject).await })
        };
        let created = creating.await.unwrap();
        assert_eq!(shredding.await.unwrap().unwrap(), ShredOutcome::Shredded);
        assert!(
            matches!(created, Ok(_) | Err(CryptoError::SubjectShredded { .. })),
            "{created:?}"
        );
        assert_eq!(store.decryption_key(tenant, &subject).await.unwrap(), None);
        assert!(matches!(
            store.encryption_key(tenant, &subject).await,
            Err(CryptoError::SubjectShredded { .. })
        ));
    }
}
