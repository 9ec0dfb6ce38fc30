//! Event-bound envelopes and the decrypting store, on the memory backend.

// Helpers outside `#[test]` functions unwrap fixtures that cannot fail.
#![allow(clippy::unwrap_used)]

use crm_eventstore::crypto::{
    CryptoError, DecryptingStore, MemorySubjectKeyStore, SubjectId, SubjectKeyStore,
    decrypt_event_fields, encrypt_event_fields, erased_marker,
};
use crm_eventstore::{
    EventStore, ExpectedVersion, GlobalPosition, MemoryStore, NewEvent, StoreError, StoreSettings,
    StreamId, StreamRead, TenantId,
};
use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn ada() -> SubjectId {
    SubjectId::new("contact-ada").unwrap()
}

fn grace() -> SubjectId {
    SubjectId::new("contact-grace").unwrap()
}

/// A new event whose `name` is encrypted for `subject`, bound to its own id.
async fn sealed_event(keys: &impl SubjectKeyStore, subject: &SubjectId, name: &str) -> NewEvent {
    let id = Uuid::now_v7();
    let mut payload = json!({ "name": name, "plan": "gold" });
    encrypt_event_fields(keys, &acme(), id, subject, &mut payload, &["name"])
        .await
        .unwrap();
    NewEvent::new("Named", 1, payload).with_id(id)
}

#[tokio::test]
async fn an_envelope_copied_into_another_event_does_not_open() {
    let keys = MemorySubjectKeyStore::new();
    let first = Uuid::now_v7();
    let mut payload = json!({ "name": "Ada" });
    encrypt_event_fields(&keys, &acme(), first, &ada(), &mut payload, &["name"])
        .await
        .unwrap();
    assert_eq!(payload["name"]["$enc"], "xc20p2");

    let mut copied = payload.clone();
    let error = decrypt_event_fields(&keys, &acme(), Uuid::now_v7(), &mut copied)
        .await
        .unwrap_err();
    assert!(matches!(error, CryptoError::Tampered { .. }), "{error}");

    let mut unbound = payload.clone();
    let error = crm_eventstore::crypto::decrypt_fields(&keys, &acme(), &mut unbound)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CryptoError::EventBindingRequired { .. }),
        "{error}"
    );

    decrypt_event_fields(&keys, &acme(), first, &mut payload)
        .await
        .unwrap();
    assert_eq!(payload, json!({ "name": "Ada" }));
}

#[tokio::test]
async fn the_decrypting_store_hands_out_plaintext_and_erased_markers() {
    let keys = Arc::new(MemorySubjectKeyStore::new());
    let store = DecryptingStore::new(MemoryStore::new(StoreSettings::default()), keys.clone());
    let stream = StreamId::new("contact-1").unwrap();
    let events = vec![
        sealed_event(&keys, &ada(), "Ada Lovelace").await,
        sealed_event(&keys, &grace(), "Grace Hopper").await,
    ];
    store
        .append(&acme(), &stream, ExpectedVersion::NoStream, &events)
        .await
        .unwrap();

    let stored = store
        .inner()
        .read_stream(&acme(), &stream, StreamRead::forward())
        .await
        .unwrap();
    assert!(!format!("{stored:?}").contains("Lovelace"));

    let read = store
        .read_stream(&acme(), &stream, StreamRead::forward())
        .await
        .unwrap();
    let names: Vec<&Value> = read.iter().map(|event| &event.payload["name"]).collect();
    assert_eq!(names, [&json!("Ada Lovelace"), &json!("Grace Hopper")]);

    keys.shred(&acme(), &ada()).await.unwrap();
    let page = store
        .read_all(&acme(), GlobalPosition::START, 10)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.events[0].payload["name"], erased_marker());
    assert_eq!(page.events[0].payload["plan"], "gold");
    assert_eq!(page.events[1].payload["name"], "Grace Hopper");
    assert!(store.verify(&acme()).await.unwrap().is_intact());
}

#[tokio::test]
async fn a_tampered_event_is_passed_over_by_read_all_and_refused_by_read_stream() {
    let keys = Arc::new(MemorySubjectKeyStore::new());
    let store = DecryptingStore::new(MemoryStore::new(StoreSettings::default()), keys.clone());
    let stream = StreamId::new("contact-2").unwrap();
    let honest = sealed_event(&keys, &ada(), "Ada").await;
    // The envelope of `honest`, copied into an event with another id.
    let copy = NewEvent::new("Named", 1, honest.payload.clone()).with_id(Uuid::now_v7());
    store
        .append(&acme(), &stream, ExpectedVersion::NoStream, &[honest, copy])
        .await
        .unwrap();

    let page = store
        .read_all(&acme(), GlobalPosition::START, 10)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.unreadable.len(), 1);
    assert_eq!(page.unreadable[0].version, 2);
    assert!(page.unreadable[0].reason.contains("authentication"));

    let error = store
        .read_stream(&acme(), &stream, StreamRead::forward())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::CorruptRow { .. }), "{error}");
}
