//! `TenantId` as a user of the store sees it: one canonical (lowercase) form, invalid names
//! refused with a typed error wherever a name enters (`new`, `FromStr`, `Deserialize`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_eventstore::{NameKind, StoreError, TenantId};

fn assert_refused(name: &str, why: &str) {
    match TenantId::new(name) {
        Err(StoreError::InvalidName {
            kind: NameKind::Tenant,
            reason,
            ..
        }) => assert_eq!(reason, why, "{name:?}"),
        other => panic!("{name:?} should be refused ({why}), got {other:?}"),
    }
    assert!(name.parse::<TenantId>().is_err(), "{name:?} parsed");
}

#[test]
fn names_no_tenant_may_have_are_refused_with_invalid_name() {
    assert_refused("", "is empty");
    assert_refused(" acme", "has leading or trailing whitespace");
    assert_refused("acme\t", "has leading or trailing whitespace");
    assert_refused("a\u{0}b", "contains a NUL character");
    assert_refused("a\u{1b}[31mb", "contains a control character");
    assert_refused(&"x".repeat(300), "is longer than 256 bytes");
}

#[test]
fn a_refusal_says_which_name_and_why() {
    let error = TenantId::new(" acme").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid tenant id \" acme\": has leading or trailing whitespace"
    );
}

#[test]
fn names_differing_only_in_case_are_one_tenant() {
    let upper = TenantId::new("ACME").expect("valid tenant");
    let lower: TenantId = "acme".parse().expect("valid tenant");
    assert_eq!(upper, lower);
    assert_eq!(upper.as_str(), "acme");
    assert_eq!(format!("{upper}"), "acme");
    assert_eq!(format!("{upper:?}"), "TenantId(\"acme\")");
}

#[test]
fn a_tenant_id_is_its_canonical_name_in_json_and_reads_back_through_new() {
    let tenant = TenantId::new("Acme Corp").expect("valid tenant");
    let json = serde_json::to_string(&tenant).unwrap();
    assert_eq!(json, "\"acme corp\"");
    assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), tenant);
    assert_eq!(
        serde_json::from_str::<TenantId>("\"ACME CORP\"").unwrap(),
        tenant
    );
}

#[test]
fn deserializing_an_invalid_name_fails() {
    for json in ["\"\"", "\" acme\"", "\"a\\u0000b\"", "7", "null"] {
        assert!(
            serde_json::from_str::<TenantId>(json).is_err(),
            "{json} deserialized"
        );
    }
    let error = serde_json::from_str::<TenantId>("\"\"").unwrap_err();
    assert!(error.to_string().contains("is empty"), "{error}");
}

#[test]
fn clones_share_the_name() {
    let tenant = TenantId::new("acme").expect("valid tenant");
    let clone = tenant.clone();
    assert!(std::ptr::eq(clone.as_str(), tenant.as_str()));
}
