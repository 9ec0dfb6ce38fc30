//! What holds for any input: normalization is idempotent, parsing never panics, scores are
//! symmetric and in range, a record links with itself, and blocking never hides an auto-link.

use proptest::prelude::*;

use crate::identity::record::strategies::{identity_record, reachable_identity_record};
use crate::identity::{
    CompanyDomain, CompanyName, CountryCode, EmailAddress, IdentityRecord, MatchConfig,
    MatchVerdict, PersonName, PhoneNumber, Score, assess, blocking_keys,
};

/// Any text, or text shaped like the value so that parsing often succeeds and the
/// normalization's later steps are exercised too.
fn text_like(shapes: &'static [&'static str]) -> impl Strategy<Value = String> {
    let shaped = prop::sample::select(shapes)
        .prop_flat_map(|shape| proptest::string::string_regex(shape).expect("a valid regex"));
    prop_oneof![any::<String>(), shaped]
}

fn email_text() -> impl Strategy<Value = String> {
    text_like(&[
        "[a-zA-Z0-9._+-]{1,12}@[a-zA-Z0-9.-]{1,12}\\.[a-zA-Z]{2,4}",
        "\\PC{1,8}@\\PC{1,8}\\.\\PC{2,4}",
        "[a-zA-Z.+]{1,10}@(gmail|GoogleMail|outlook|icloud)\\.com",
    ])
}

fn phone_text() -> impl Strategy<Value = String> {
    text_like(&[
        "[+0-9 ()./-]{0,20}",
        "\\+?[0-9]{6,15}",
        "(00|\\+|011|0011)?[ 0-9]{4,16}( ?(x|ext\\.?|#) ?[0-9]{1,5})?",
        "[ -~]{0,30}",
        "tel:[+0-9;=a-z-]{0,20}",
    ])
}

fn name_text() -> impl Strategy<Value = String> {
    text_like(&["[A-Za-zÀ-ÿ'’. &,-]{0,24}", "\\PC{0,12}"])
}

fn company_text() -> impl Strategy<Value = String> {
    text_like(&[
        "[A-Za-zÀ-ÿ'.& ,-]{0,16}( (Inc|Ltd|GmbH|S\\.A\\.|& Co\\. KG|sp\\. z o\\.o\\.|plc|The))*",
        "(The )?[a-z]{1,5}( (and|co|sa|de|cv|rl|a|s|the))*",
    ])
}

fn domain_text() -> impl Strategy<Value = String> {
    text_like(&[
        "((https?|HTTP)://)?(www\\.)*[a-zA-Z0-9-]{1,10}(\\.[a-zA-Z0-9-]{1,8}){1,3}\\.?(:[0-9]{0,5})?(/[a-z?=#]{0,8})?",
        "\\PC{1,8}\\.\\PC{1,8}",
        "[a-z:/@\\[\\].]{0,20}",
    ])
}

fn region() -> impl Strategy<Value = CountryCode> {
    prop_oneof![
        prop::sample::select(vec!["DE", "US", "GB", "FR", "JP", "AU", "CH", "BR", "IN"])
            .prop_map(String::from),
        "[A-Z]{2}",
    ]
    .prop_map(|code| CountryCode::new(&code).expect("two letters"))
}

/// Two records that share some of their values, so that every verdict comes up.
fn related_records() -> impl Strategy<Value = (IdentityRecord, IdentityRecord)> {
    (identity_record(), identity_record(), any::<[bool; 5]>()).prop_map(
        |(left, mut right, share)| {
            if share[0] {
                right.names.extend(left.names.iter().take(1).cloned());
            }
            if share[1] {
                right.emails.extend(left.emails.iter().take(1).cloned());
            }
            if share[2] {
                right.phones.extend(left.phones.iter().take(1).cloned());
            }
            if share[3] {
                right.company_domain.clone_from(&left.company_domain);
            }
            if share[4] {
                right.company_name.clone_from(&left.company_name);
            }
            (left, right)
        },
    )
}

proptest! {
    #[test]
    fn email_normalization_is_idempotent(raw in email_text()) {
        if let Ok(address) = EmailAddress::parse(&raw) {
            let again = EmailAddress::parse(address.normalized());
            prop_assert_eq!(again.as_ref().map(EmailAddress::normalized), Ok(address.normalized()));
        }
    }

    #[test]
    fn phone_normalization_is_idempotent(raw in phone_text(), first in region(), second in region()) {
        if let Ok(number) = PhoneNumber::parse(&raw, first) {
            let again = PhoneNumber::parse(number.e164(), second);
            prop_assert_eq!(again.as_ref().map(PhoneNumber::e164), Ok(number.e164()));
        }
    }

    #[test]
    fn person_name_normalization_is_idempotent(raw in name_text()) {
        if let Ok(name) = PersonName::new(&raw) {
            let again = PersonName::new(name.normalized());
            prop_assert_eq!(again.as_ref().map(PersonName::normalized), Ok(name.normalized()));
        }
    }

    #[test]
    fn company_name_normalization_is_idempotent(raw in company_text()) {
        if let Ok(name) = CompanyName::new(&raw) {
            let again = CompanyName::new(name.normalized());
            prop_assert_eq!(again.as_ref().map(CompanyName::normalized), Ok(name.normalized()));
        }
    }

    #[test]
    fn company_domain_normalization_is_idempotent(raw in domain_text()) {
        if let Ok(domain) = CompanyDomain::parse(&raw) {
            let again = CompanyDomain::parse(domain.normalized());
            prop_assert_eq!(again.as_ref().map(CompanyDomain::normalized), Ok(domain.normalized()));
        }
    }

    #[test]
    fn parsing_never_panics(raw in any::<String>(), code in "\\PC{0,3}", region in region()) {
        let _ = EmailAddress::parse(&raw);
        let _ = PhoneNumber::parse(&raw, region);
        let _ = PersonName::new(&raw);
        let _ = CompanyName::new(&raw);
        let _ = CompanyDomain::parse(&raw);
        let _ = CountryCode::new(&code);
    }

    #[test]
    fn phone_parsing_never_panics_on_phone_like_text(raw in phone_text(), region in region()) {
        let _ = PhoneNumber::parse(&raw, region);
    }

    #[test]
    fn the_score_is_symmetric_and_between_zero_and_one((left, right) in related_records()) {
        let config = MatchConfig::default();
        let there = assess(&left, &right, &config);
        let back = assess(&right, &left, &config);
        prop_assert!((0.0..=1.0).contains(&there.score.value()));
        prop_assert!(there.score <= Score::ONE);
        prop_assert_eq!(there, back);
    }

    #[test]
    fn a_reachable_record_always_auto_links_with_itself(record in reachable_identity_record()) {
        let outcome = assess(&record, &record.clone(), &MatchConfig::default());
        prop_assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
        prop_assert_eq!(outcome.score, Score::ONE);
    }

    #[test]
    fn records_that_auto_link_share_a_blocking_key((left, right) in related_records()) {
        if assess(&left, &right, &MatchConfig::default()).verdict == MatchVerdict::AutoLink {
            prop_assert!(!blocking_keys(&left).is_disjoint(&blocking_keys(&right)));
        }
    }

    #[test]
    fn records_round_trip_through_json(record in identity_record()) {
        let json = serde_json::to_string(&record).expect("serializable");
        prop_assert_eq!(serde_json::from_str::<IdentityRecord>(&json).expect("deserializable"), record);
    }
}
