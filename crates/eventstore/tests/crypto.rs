//! Crypto-shredding as a user of the crate sees it, on the in-memory key store: the key
//! store's contract, field encryption round trips, tampering, and erasure.

#[path = "crypto/conformance.rs"]
mod conformance;

use std::collections::BTreeMap;
use std::sync::Arc;

use crm_eventstore::TenantId;
use crm_eventstore::crypto::{
    CryptoError, DecryptionReport, MemorySubjectKeyStore, SubjectId, SubjectKey, SubjectKeyStore,
    decrypt_fields, decrypt_fields_with_keys, encrypt_fields, encrypt_fields_with_key,
    erased_marker, is_erased, subjects_in,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn acme() -> TenantId {
    TenantId::new("acme").expect("a valid tenant id")
}

fn ada() -> SubjectId {
    SubjectId::new("party-ada").expect("a valid subject id")
}

fn grace() -> SubjectId {
    SubjectId::new("party-grace").expect("a valid subject id")
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Any JSON value: every kind of leaf, nested arrays and objects, any member names.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |number| number.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A payload object of plain members (no reserved names) with at least one member.
fn any_payload() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z]{1,6}", any_json(), 1..6)
        .prop_map(|members| Value::Object(members.into_iter().collect()))
}

/// A payload and a subset of its top-level members to encrypt.
fn payload_and_fields() -> impl Strategy<Value = (Value, Vec<String>)> {
    any_payload().prop_flat_map(|payload| {
        let names: Vec<String> = payload
            .as_object()
            .map(|members| members.keys().cloned().collect())
            .unwrap_or_default();
        let count = names.len();
        (Just(payload), prop::sample::subsequence(names, 0..=count))
    })
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

fn lead_captured() -> Value {
    json!({
        "lead_id": "0190a5e4-0000-7000-8000-000000000001",
        "name": "Ada Lovelace",
        "contact": {"email": "ada@example.org", "phones": ["+442079460000", "+442079460001"]},
        "source": "web_form",
    })
}

fn key() -> SubjectKey {
    SubjectKey::generate().expect("the OS random number generator works")
}

fn keys(entries: &[(SubjectId, Option<&SubjectKey>)]) -> BTreeMap<SubjectId, Option<SubjectKey>> {
    entries
        .iter()
        .map(|(subject, key)| (subject.clone(), key.cloned()))
        .collect()
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds")
        .block_on(future)
}

// ---------------------------------------------------------------------------------------
// The key store's contract
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_key_store_keeps_the_key_store_contract() {
    conformance::run_all(Arc::new(MemorySubjectKeyStore::new())).await;
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn any_json_value_survives_encryption_and_decryption(value in any_json()) {
        let key = key();
        let original = json!({"field": value, "kept": "in clear"});
        let mut payload = original.clone();

        let encrypted = encrypt_fields_with_key(&mut payload, &["field"], &acme(), &ada(), &key).unwrap();
        prop_assert_eq!(encrypted, vec!["/field".to_owned()]);
        prop_assert_eq!(&payload["kept"], &original["kept"]);
        prop_assert_eq!(subjects_in(&payload).unwrap().into_iter().collect::<Vec<_>>(), vec![ada()]);

        let report = decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap();
        prop_assert_eq!(report.decrypted, vec!["/field".to_owned()]);
        prop_assert!(report.erased.is_empty());
        prop_assert_eq!(payload, original);
    }

    #[test]
    fn any_choice_of_fields_round_trips_through_the_key_store((original, fields) in payload_and_fields()) {
        let store = MemorySubjectKeyStore::new();
        let field_names: Vec<&str> = fields.iter().map(String::as_str).collect();
        let mut payload = original.clone();

        let encrypted = run(encrypt_fields(&store, &acme(), &ada(), &mut payload, &field_names)).unwrap();
        prop_assert_eq!(encrypted.len(), fields.len());
        for name in &fields {
            prop_assert!(payload[name.as_str()].get("$enc").is_some());
        }

        let report = run(decrypt_fields(&store, &acme(), &mut payload)).unwrap();
        prop_assert_eq!(report.decrypted.len(), fields.len());
        prop_assert_eq!(payload, original);
    }

    #[test]
    fn after_shredding_every_encrypted_field_reads_as_erased((original, fields) in payload_and_fields()) {
        let store = MemorySubjectKeyStore::new();
        let field_names: Vec<&str> = fields.iter().map(String::as_str).collect();
        let mut payload = original.clone();
        run(encrypt_fields(&store, &acme(), &ada(), &mut payload, &field_names)).unwrap();

        run(store.shred(&acme(), &ada())).unwrap();
        let report = run(decrypt_fields(&store, &acme(), &mut payload)).unwrap();

        prop_assert!(report.decrypted.is_empty());
        prop_assert_eq!(report.erased.len(), fields.len());
        for (name, value) in original.as_object().unwrap() {
            if fields.contains(name) {
                prop_assert!(is_erased(&payload[name.as_str()]));
            } else {
                prop_assert_eq!(&payload[name.as_str()], value);
            }
        }
        let refused = run(encrypt_fields(&store, &acme(), &ada(), &mut original.clone(), &field_names));
        // Only a payload with something personal in it needs (and is refused) a key.
        let is_shredded_error = matches!(refused, Err(CryptoError::SubjectShredded { .. }));
        prop_assert_eq!(is_shredded_error, !fields.is_empty());
    }

    #[test]
    fn a_ciphertext_moved_to_another_field_fails_authentication(value in any_json()) {
        let key = key();
        let mut payload = json!({"name": value.clone(), "note": value});
        encrypt_fields_with_key(&mut payload, &["name", "note"], &acme(), &ada(), &key).unwrap();
        let name = payload["name"].clone();
        payload["note"] = name;
        let before = payload.clone();

        let error = decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap_err();

        let is_tampered_note = matches!(&error, CryptoError::Tampered { path, .. } if path == "/note");
        prop_assert!(is_tampered_note, "{:?}", error);
        prop_assert_eq!(payload, before);
    }

    #[test]
    fn a_ciphertext_relabelled_for_another_subject_fails_authentication(value in any_json()) {
        // Even under the very same key, the subject bound into the ciphertext must match.
        let shared = key();
        let mut payload = json!({"name": value});
        encrypt_fields_with_key(&mut payload, &["name"], &acme(), &ada(), &shared).unwrap();
        payload["name"]["subject"] = json!("party-grace");

        let error = decrypt_fields_with_keys(
            &mut payload,
            &acme(),
            &keys(&[(ada(), Some(&shared)), (grace(), Some(&shared))]),
        )
        .unwrap_err();

        let is_tampered = matches!(&error, CryptoError::Tampered { subject, .. } if *subject == grace());
        prop_assert!(is_tampered, "{:?}", error);
    }
}

#[test]
fn floats_come_back_bit_for_bit() {
    // Found by the round-trip property: a float parser that is off by one ULP would
    // silently change a decrypted amount.
    let key = key();
    let original = json!({"amount": -7.075_818_536_728_049e-236, "rate": 0.1});
    let mut payload = original.clone();

    encrypt_fields_with_key(&mut payload, &["amount", "rate"], &acme(), &ada(), &key).unwrap();
    decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap();

    assert_eq!(payload, original);
}

#[test]
fn fields_are_named_by_json_pointer_or_top_level_name() {
    let key = key();
    let mut payload = lead_captured();

    let encrypted = encrypt_fields_with_key(
        &mut payload,
        &["name", "/contact/email", "/contact/phones/1"],
        &acme(),
        &ada(),
        &key,
    )
    .unwrap();

    assert_eq!(encrypted, ["/name", "/contact/email", "/contact/phones/1"]);
    assert_eq!(payload["contact"]["phones"][0], "+442079460000");
    assert_eq!(payload["source"], "web_form");
    let report =
        decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap();
    assert_eq!(
        report.decrypted,
        ["/contact/email", "/contact/phones/1", "/name"]
    );
    assert_eq!(payload, lead_captured());
}

#[test]
fn member_names_with_slashes_and_tildes_are_escaped_into_pointers() {
    let key = key();
    let original = json!({"a/b": "slash", "c~d": "tilde"});
    let mut payload = original.clone();

    let encrypted =
        encrypt_fields_with_key(&mut payload, &["a/b", "/c~0d"], &acme(), &ada(), &key).unwrap();

    assert_eq!(encrypted, ["/a~1b", "/c~0d"]);
    decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap();
    assert_eq!(payload, original);
}

#[test]
fn an_absent_personal_field_is_skipped() {
    let key = key();
    let mut payload = json!({"name": "Ada Lovelace"});

    let encrypted = encrypt_fields_with_key(
        &mut payload,
        &["name", "/contact/email"],
        &acme(),
        &ada(),
        &key,
    )
    .unwrap();

    assert_eq!(encrypted, ["/name"]);
    assert!(payload.get("contact").is_none());
}

/// The ciphertexts and nonces are random Base64: a three-letter name turns up in them by
/// chance about once in a few thousand runs, so they are left out of the search (they are
/// what the plaintext became, not a copy of it).
fn without_random_text(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if name == "ct" || name == "nonce" {
                    *field = serde_json::Value::Null;
                } else {
                    without_random_text(field);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_random_text),
        _ => {}
    }
}

#[test]
fn the_plaintext_appears_nowhere_in_the_stored_payload() {
    let key = key();
    let mut payload = lead_captured();
    encrypt_fields_with_key(&mut payload, &["name", "contact"], &acme(), &ada(), &key).unwrap();

    let mut searched = payload.clone();
    without_random_text(&mut searched);
    let stored = serde_json::to_string(&searched).unwrap();

    for secret in ["Ada", "Lovelace", "ada@example.org", "+44207946000"] {
        assert!(!stored.contains(secret), "{secret} leaked into {stored}");
    }
    assert!(stored.contains("web_form"));
    assert!(
        stored.contains("\"ct\":null"),
        "the ciphertexts were found: {stored}"
    );
}

#[test]
fn each_field_gets_its_own_nonce() {
    let key = key();
    let mut first = json!({"a": "same", "b": "same"});
    let mut second = json!({"a": "same", "b": "same"});
    encrypt_fields_with_key(&mut first, &["a", "b"], &acme(), &ada(), &key).unwrap();
    encrypt_fields_with_key(&mut second, &["a", "b"], &acme(), &ada(), &key).unwrap();

    let nonces = [&first["a"], &first["b"], &second["a"], &second["b"]]
        .map(|envelope| envelope["nonce"].as_str().unwrap().to_owned());
    let ciphertexts = [&first["a"], &first["b"], &second["a"], &second["b"]]
        .map(|envelope| envelope["ct"].as_str().unwrap().to_owned());

    for (index, nonce) in nonces.iter().enumerate() {
        assert!(
            !nonces[index + 1..].contains(nonce),
            "nonce reused: {nonces:?}"
        );
        assert!(!ciphertexts[index + 1..].contains(&ciphertexts[index]));
    }
}

#[test]
fn the_envelope_is_small_and_self_describing() {
    let key = key();
    let mut payload = json!({"name": "Ada"});
    encrypt_fields_with_key(&mut payload, &["name"], &acme(), &ada(), &key).unwrap();

    let envelope = payload["name"].as_object().unwrap();

    assert_eq!(envelope.len(), 4);
    assert_eq!(envelope["$enc"], "xc20p1");
    assert_eq!(envelope["subject"], "party-ada");
    // 24-byte nonce; 5 bytes of `"Ada"` plus a 16-byte tag.
    assert_eq!(envelope["nonce"].as_str().unwrap().len(), 32);
    assert_eq!(envelope["ct"].as_str().unwrap().len(), 28);
}

// ---------------------------------------------------------------------------------------
// Tampering is an error, never an erasure
// ---------------------------------------------------------------------------------------

#[test]
fn an_altered_ciphertext_fails_authentication_and_leaves_the_payload_unchanged() {
    let key = key();
    let mut payload = lead_captured();
    encrypt_fields_with_key(
        &mut payload,
        &["name", "/contact/email"],
        &acme(),
        &ada(),
        &key,
    )
    .unwrap();
    let ciphertext = payload["name"]["ct"].as_str().unwrap();
    let flipped = if ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    payload["name"]["ct"] = json!(format!("{flipped}{}", &ciphertext[1..]));
    let before = payload.clone();

    let error =
        decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap_err();

    assert!(
        matches!(&error, CryptoError::Tampered { path, subject } if path == "/name" && *subject == ada()),
        "{error:?}"
    );
    assert_eq!(payload, before);
}

#[test]
fn a_payload_read_under_another_tenant_fails_authentication() {
    let key = key();
    let mut payload = json!({"name": "Ada"});
    encrypt_fields_with_key(&mut payload, &["name"], &acme(), &ada(), &key).unwrap();

    let error = decrypt_fields_with_keys(
        &mut payload,
        &TenantId::new("globex").unwrap(),
        &keys(&[(ada(), Some(&key))]),
    )
    .unwrap_err();

    assert!(matches!(error, CryptoError::Tampered { .. }), "{error:?}");
}

#[test]
fn a_ciphertext_moved_into_another_event_shape_fails_authentication() {
    let key = key();
    let mut payload = json!({"contact": {"email": "ada@example.org"}});
    encrypt_fields_with_key(&mut payload, &["/contact/email"], &acme(), &ada(), &key).unwrap();
    let mut moved = json!({"email": payload["contact"]["email"].clone()});

    let error =
        decrypt_fields_with_keys(&mut moved, &acme(), &keys(&[(ada(), Some(&key))])).unwrap_err();

    assert!(
        matches!(&error, CryptoError::Tampered { path, .. } if path == "/email"),
        "{error:?}"
    );
}

#[test]
fn malformed_envelopes_are_reported_with_their_place() {
    let key = key();
    let mut good = json!({"name": "Ada"});
    encrypt_fields_with_key(&mut good, &["name"], &acme(), &ada(), &key).unwrap();
    let envelope = good["name"].clone();
    let with = |member: &str, value: Value| {
        let mut broken = envelope.clone();
        broken[member] = value;
        json!({"outer": [broken]})
    };
    let mut without_ct = envelope.clone();
    without_ct.as_object_mut().unwrap().remove("ct");

    for mut payload in [
        with("$enc", json!("aes-gcm")),
        with("nonce", json!("not base64!")),
        with("nonce", json!("AAAA")),
        with("ct", json!(42)),
        with("subject", json!(null)),
        with("extra", json!(1)),
        json!({"outer": [without_ct]}),
    ] {
        let before = payload.clone();
        let error = decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))]))
            .unwrap_err();
        assert!(
            matches!(&error, CryptoError::MalformedEnvelope { path, .. } if path == "/outer/0"),
            "{before}: {error:?}"
        );
        assert_eq!(payload, before);
    }
}

#[test]
fn a_subject_missing_from_the_keys_given_is_not_an_erasure() {
    let key = key();
    let mut payload = json!({"name": "Ada"});
    encrypt_fields_with_key(&mut payload, &["name"], &acme(), &ada(), &key).unwrap();

    let error = decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[])).unwrap_err();

    assert!(
        matches!(&error, CryptoError::KeyNotFound { subject, .. } if *subject == ada()),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_payload_whose_subject_the_store_never_saw_is_an_error_not_an_erasure() {
    let store = MemorySubjectKeyStore::new();
    let mut payload = json!({"name": "Ada"});
    encrypt_fields_with_key(&mut payload, &["name"], &acme(), &ada(), &key()).unwrap();

    let error = decrypt_fields(&store, &acme(), &mut payload)
        .await
        .unwrap_err();

    assert!(
        matches!(error, CryptoError::KeyNotFound { .. }),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Erasure
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn shredding_one_subject_erases_only_their_fields() {
    let store = MemorySubjectKeyStore::new();
    let mut payload = json!({
        "merged_from": {"name": "Ada Lovelace", "email": "ada@example.org"},
        "merged_into": {"name": "Grace Hopper", "email": "grace@example.org"},
        "reason": "same person",
    });
    encrypt_fields(&store, &acme(), &ada(), &mut payload, &["/merged_from"])
        .await
        .unwrap();
    encrypt_fields(
        &store,
        &acme(),
        &grace(),
        &mut payload,
        &["/merged_into/name", "/merged_into/email"],
    )
    .await
    .unwrap();
    assert_eq!(
        subjects_in(&payload)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [ada(), grace()]
    );

    store.shred(&acme(), &ada()).await.unwrap();
    let report = decrypt_fields(&store, &acme(), &mut payload).await.unwrap();

    assert_eq!(
        report,
        DecryptionReport {
            decrypted: vec![
                "/merged_into/email".to_owned(),
                "/merged_into/name".to_owned()
            ],
            erased: vec!["/merged_from".to_owned()],
        }
    );
    assert_eq!(
        payload,
        json!({
            "merged_from": erased_marker(),
            "merged_into": {"name": "Grace Hopper", "email": "grace@example.org"},
            "reason": "same person",
        })
    );
}

#[tokio::test]
async fn an_erased_field_is_told_apart_from_a_missing_or_empty_one() {
    let store = MemorySubjectKeyStore::new();
    let mut payload = json!({"name": "Ada", "email": "", "phone": null});
    encrypt_fields(
        &store,
        &acme(),
        &ada(),
        &mut payload,
        &["name", "email", "phone", "company"],
    )
    .await
    .unwrap();
    store.shred(&acme(), &ada()).await.unwrap();

    decrypt_fields(&store, &acme(), &mut payload).await.unwrap();

    assert!(is_erased(&payload["name"]));
    assert!(is_erased(&payload["email"]));
    assert!(is_erased(&payload["phone"]));
    assert!(payload.get("company").is_none());
    assert!(!is_erased(&json!("")) && !is_erased(&Value::Null));
    assert!(!is_erased(&json!({"$erased": true, "name": "Ada"})));
    assert_eq!(erased_marker(), json!({"$erased": true}));
}

#[tokio::test]
async fn a_shredded_person_cannot_come_back_through_a_later_event() {
    let store = MemorySubjectKeyStore::new();
    let mut first = lead_captured();
    encrypt_fields(&store, &acme(), &ada(), &mut first, &["name"])
        .await
        .unwrap();
    store.shred(&acme(), &ada()).await.unwrap();

    let mut later = lead_captured();
    let error = encrypt_fields(&store, &acme(), &ada(), &mut later, &["name"])
        .await
        .unwrap_err();

    assert!(
        matches!(error, CryptoError::SubjectShredded { .. }),
        "{error:?}"
    );
    assert_eq!(later, lead_captured());
}

#[tokio::test]
async fn an_event_without_personal_fields_needs_no_key_even_after_shredding() {
    let store = MemorySubjectKeyStore::new();
    let mut status_changed = json!({"status": "closed"});

    let before_any_key = encrypt_fields(&store, &acme(), &ada(), &mut status_changed, &["name"])
        .await
        .unwrap();
    let no_key = store.decryption_key(&acme(), &ada()).await.unwrap_err();
    store.shred(&acme(), &ada()).await.unwrap();
    let after_shredding = encrypt_fields(&store, &acme(), &ada(), &mut status_changed, &["name"])
        .await
        .unwrap();

    assert!(before_any_key.is_empty() && after_shredding.is_empty());
    assert!(
        matches!(no_key, CryptoError::KeyNotFound { .. }),
        "{no_key:?}"
    );
    assert_eq!(status_changed, json!({"status": "closed"}));
}

// ---------------------------------------------------------------------------------------
// What encryption refuses
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_fields_are_refused_and_the_payload_is_left_unchanged() {
    let key = key();
    for fields in [
        &[""][..],
        &["/bad~2escape"],
        &["/bad~"],
        &["contact", "/contact/email"],
        &["/contact/email", "/contact"],
    ] {
        let mut payload = lead_captured();
        let error =
            encrypt_fields_with_key(&mut payload, fields, &acme(), &ada(), &key).unwrap_err();
        assert!(
            matches!(error, CryptoError::InvalidField { .. }),
            "{fields:?}: {error:?}"
        );
        assert_eq!(payload, lead_captured());
    }
}

#[test]
fn the_same_field_named_twice_is_encrypted_once() {
    let key = key();
    let mut payload = json!({"name": "Ada"});

    let encrypted =
        encrypt_fields_with_key(&mut payload, &["name", "/name"], &acme(), &ada(), &key).unwrap();

    assert_eq!(encrypted, ["/name"]);
    let report =
        decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap();
    assert_eq!(report.decrypted, ["/name"]);
    assert_eq!(payload, json!({"name": "Ada"}));
}

#[test]
fn plaintext_that_looks_like_an_envelope_or_marker_is_refused() {
    let key = key();
    for payload in [
        json!({"note": {"$erased": true}}),
        json!({"note": [{"$enc": "made up"}]}),
    ] {
        let mut attempt = payload.clone();
        let error =
            encrypt_fields_with_key(&mut attempt, &["name"], &acme(), &ada(), &key).unwrap_err();
        assert!(
            matches!(error, CryptoError::ReservedMember { .. }),
            "{error:?}"
        );
        assert_eq!(attempt, payload);
    }
}

#[test]
fn reserved_names_inside_a_field_being_encrypted_are_fine() {
    let key = key();
    let original = json!({"note": {"$erased": true, "$enc": "anything"}});
    let mut payload = original.clone();

    encrypt_fields_with_key(&mut payload, &["note"], &acme(), &ada(), &key).unwrap();
    decrypt_fields_with_keys(&mut payload, &acme(), &keys(&[(ada(), Some(&key))])).unwrap();

    assert_eq!(payload, original);
}

#[test]
fn a_field_inside_an_existing_envelope_is_refused() {
    let key = key();
    let mut payload = json!({"name": "Ada"});
    encrypt_fields_with_key(&mut payload, &["name"], &acme(), &ada(), &key).unwrap();
    let before = payload.clone();

    let error =
        encrypt_fields_with_key(&mut payload, &["/name/ct"], &acme(), &grace(), &key).unwrap_err();

    assert!(
        matches!(error, CryptoError::InvalidField { .. }),
        "{error:?}"
    );
    assert_eq!(payload, before);
}

#[test]
fn a_field_holding_another_envelope_is_refused() {
    // Decryption opens one layer: a nested envelope would reach the reader still sealed.
    let key = key();
    let mut payload = json!({"merged": {"from": "Ada", "into": "Grace"}});
    encrypt_fields_with_key(&mut payload, &["/merged/from"], &acme(), &ada(), &key).unwrap();
    let before = payload.clone();

    for field in ["merged", "/merged/from"] {
        let error =
            encrypt_fields_with_key(&mut payload, &[field], &acme(), &grace(), &key).unwrap_err();
        assert!(
            matches!(error, CryptoError::InvalidField { .. }),
            "{error:?}"
        );
        assert_eq!(payload, before);
    }
}
