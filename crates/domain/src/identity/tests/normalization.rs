//! One test per normalization rule of the five identity values.

use crate::identity::{
    CompanyDomain, CompanyName, CountryCode, EmailAddress, IdentityError, PersonName, PhoneNumber,
};

fn email(raw: &str) -> String {
    EmailAddress::parse(raw)
        .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
        .normalized()
        .to_owned()
}

fn region(code: &str) -> CountryCode {
    CountryCode::new(code).unwrap()
}

fn e164(raw: &str, default_region: &str) -> String {
    PhoneNumber::parse(raw, region(default_region))
        .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
        .e164()
        .to_owned()
}

fn person(raw: &str) -> String {
    PersonName::new(raw).unwrap().normalized().to_owned()
}

fn company(raw: &str) -> String {
    CompanyName::new(raw).unwrap().normalized().to_owned()
}

fn domain(raw: &str) -> String {
    CompanyDomain::parse(raw)
        .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
        .normalized()
        .to_owned()
}

// Country codes.

#[test]
fn country_codes_are_two_letters_in_either_case() {
    assert_eq!(region(" de ").as_str(), "DE");
    for bad in ["", "D", "DEU", "1A", "ÄB"] {
        assert_eq!(
            CountryCode::new(bad),
            Err(IdentityError::InvalidCountry(bad.to_owned()))
        );
    }
}

// Email addresses.

#[test]
fn email_is_trimmed_and_lower_cased_and_the_raw_value_kept() {
    let address = EmailAddress::parse("  Jane.Doe@Example.ORG ").unwrap();
    assert_eq!(address.normalized(), "jane.doe@example.org");
    assert_eq!(address.raw(), "  Jane.Doe@Example.ORG ");
    assert_eq!(address.domain(), "example.org");
    assert_eq!(address.local_part(), "jane.doe");
}

#[test]
fn gmail_ignores_dots_and_plus_tags() {
    assert_eq!(email("J.Doe+CRM@Gmail.com"), "jdoe@gmail.com");
    assert_eq!(email("j.d.o.e@gmail.com"), email("jdoe@gmail.com"));
    assert_eq!(email("jdoe+a+b@gmail.com"), "jdoe@gmail.com");
}

#[test]
fn googlemail_is_gmail() {
    assert_eq!(email("J.Doe+news@googlemail.com"), "jdoe@gmail.com");
}

#[test]
fn company_domains_on_google_workspace_keep_their_dots() {
    assert_eq!(email("John.Doe@acme.com"), "john.doe@acme.com");
    assert_ne!(email("john.doe@acme.com"), email("johndoe@acme.com"));
}

#[test]
fn plus_tags_are_kept_on_company_domains_but_not_in_the_mailbox() {
    let address = EmailAddress::parse("Jane+Newsletter@Acme.com").unwrap();
    assert_eq!(address.normalized(), "jane+newsletter@acme.com");
    assert_eq!(address.mailbox(), "jane@acme.com");
    assert_eq!(
        EmailAddress::parse("jane@acme.com").unwrap().mailbox(),
        "jane@acme.com"
    );
}

#[test]
fn providers_that_drop_plus_tags_lose_the_tag_but_keep_dots() {
    assert_eq!(email("Jane.Doe+news@outlook.com"), "jane.doe@outlook.com");
    assert_eq!(email("jane.doe+x@icloud.com"), "jane.doe@icloud.com");
    // A base the provider could not hold keeps its tag.
    assert_eq!(email("jane.+x@outlook.com"), "jane.+x@outlook.com");
}

#[test]
fn internationalized_addresses_stay_in_unicode() {
    assert_eq!(email("Jörg@Bücher.DE"), "jörg@bücher.de");
}

#[test]
fn malformed_email_addresses_are_refused_with_the_reason() {
    let long_local = format!("{}@acme.com", "a".repeat(65));
    for bad in [
        "",
        "   ",
        "jane",
        "jane@",
        "@acme.com",
        "jane@@acme.com",
        "jane@bob@acme.com",
        "ja ne@acme.com",
        "jane@acme",
        "jane@acme..com",
        "jane@-acme.com",
        "jane@192.168.0.1",
        ".jane@acme.com",
        "jane.@acme.com",
        "ja..ne@acme.com",
        "\"jane\"@acme.com",
        "jane(x)@acme.com",
        "+tag@gmail.com",
        "...@gmail.com",
        long_local.as_str(),
    ] {
        match EmailAddress::parse(bad) {
            Err(IdentityError::InvalidEmail { value, .. }) => assert_eq!(value, bad),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

#[test]
fn role_addresses_and_personal_mail_are_recognized() {
    assert!(
        EmailAddress::parse("Info@acme.com")
            .unwrap()
            .is_role_account()
    );
    assert!(
        EmailAddress::parse("sales+emea@acme.com")
            .unwrap()
            .is_role_account()
    );
    assert!(
        !EmailAddress::parse("jane@acme.com")
            .unwrap()
            .is_role_account()
    );
    assert!(
        EmailAddress::parse("jane@googlemail.com")
            .unwrap()
            .is_personal_mail()
    );
    assert!(
        EmailAddress::parse("jane@gmx.de")
            .unwrap()
            .is_personal_mail()
    );
    assert!(
        !EmailAddress::parse("jane@acme.com")
            .unwrap()
            .is_personal_mail()
    );
}

// Phone numbers.

#[test]
fn national_numbers_are_read_in_the_default_region() {
    assert_eq!(e164("030 1234567", "DE"), "+49301234567");
    assert_eq!(e164("(650) 253-0000", "US"), "+16502530000");
    assert_eq!(e164("020 7946 0958", "GB"), "+442079460958");
    assert_eq!(e164("06 12 34 56 78", "FR"), "+33612345678");
    assert_eq!(e164("03-1234-5678", "JP"), "+81312345678");
}

#[test]
fn the_same_digits_are_different_numbers_in_different_regions() {
    assert_eq!(e164("02 9374 4000", "AU"), "+61293744000");
    assert_ne!(
        PhoneNumber::parse("02 9374 4000", region("AU")),
        PhoneNumber::parse("02 9374 4000", region("FR"))
    );
}

#[test]
fn plus_prefixes_ignore_the_default_region() {
    for (raw, default_region) in [
        ("+49 30 1234567", "US"),
        ("+49 (0)30 1234567", "JP"),
        ("(+49) 30 1234567", "FR"),
        ("tel:+49-30-1234567", "US"),
        ("+49-30-1234567", "ZZ"),
    ] {
        assert_eq!(
            e164(raw, default_region),
            "+49301234567",
            "{raw:?} in {default_region}"
        );
    }
}

#[test]
fn double_zero_is_an_international_prefix_only_where_the_region_dials_it() {
    for (raw, default_region) in [
        ("00 49 30 1234567", "DE"),
        ("0049 30 1234567", "GB"),
        ("00 49 30 123 45 67", "GB"),
        ("0049 (0)30 1234567", "FR"),
    ] {
        assert_eq!(
            e164(raw, default_region),
            "+49301234567",
            "{raw:?} in {default_region}"
        );
    }
    // The US dials 011 abroad: there 00 is not a prefix, and these are no valid US numbers.
    for raw in ["001 201-555-0123", "0049 30 1234567", "00 44 20 7946 0958"] {
        match PhoneNumber::parse(raw, region("US")) {
            Err(IdentityError::InvalidPhone { value, .. }) => assert_eq!(value, raw),
            other => panic!("{raw:?} in US gave {other:?}"),
        }
    }
}

#[test]
fn the_default_regions_own_international_prefix_works() {
    assert_eq!(e164("011 44 20 7946 0958", "US"), "+442079460958");
    assert_eq!(e164("011 49 30 1234567", "CA"), "+49301234567");
    assert_eq!(e164("0011 49 30 1234567", "AU"), "+49301234567");
    assert_eq!(e164("010 49 30 1234567", "JP"), "+49301234567");
}

#[test]
fn a_number_with_its_country_code_keeps_its_own_trunk_rules_in_any_region() {
    // The US trunk prefix is 1: a German mobile number keeps its 1 in a US address book.
    assert_eq!(e164("+49 151 12345678", "US"), "+4915112345678");
    assert_eq!(e164("011 49 151 12345678", "US"), "+4915112345678");
    // Italian numbers keep their leading 0, whatever the default region's trunk prefix.
    assert_eq!(e164("+39 06 6982 1234", "GB"), "+390669821234");
    assert_eq!(e164("0039 06 6982 1234", "DE"), "+390669821234");
    assert_eq!(e164("06 6982 1234", "IT"), "+390669821234");
}

#[test]
fn international_numbers_parse_without_a_numbering_plan_for_the_region() {
    assert_eq!(e164("+44 20 7946 0958", "ZZ"), "+442079460958");
    for raw in ["020 7946 0958", "0044 20 7946 0958"] {
        assert!(
            matches!(
                PhoneNumber::parse(raw, region("ZZ")),
                Err(IdentityError::InvalidPhone { .. })
            ),
            "{raw:?}"
        );
    }
}

#[test]
fn extensions_are_kept_apart_from_the_e164_form() {
    for (raw, default_region, extension) in [
        ("+1 650-253-0000 ext. 12", "DE", "12"),
        ("+1 650-253-0000;ext=7", "DE", "7"),
        ("+16502530000;EXT=7", "DE", "7"),
        ("(650) 253-0000 ;ext=7", "US", "7"),
        ("650-253-0000;ext=7", "US", "7"),
        ("tel:+1-650-253-0000;ext=7", "GB", "7"),
        ("650 253 0000 ext. 45", "US", "45"),
        ("650 253 0000 x123", "US", "123"),
        ("+1 650 253 0000 extension 1234567", "US", "1234567"),
    ] {
        let number = PhoneNumber::parse(raw, region(default_region))
            .unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(number.e164(), "+16502530000", "{raw:?}");
        assert_eq!(number.extension(), Some(extension), "{raw:?}");
        assert_eq!(number.raw(), raw);
    }
    let plain = PhoneNumber::parse("+1 650-253-0000", region("US")).unwrap();
    assert_eq!(plain.extension(), None);
    // A dangling extension mark is no extension.
    let dangling = PhoneNumber::parse("+1 650-253-0000 x", region("US")).unwrap();
    assert_eq!(dangling.extension(), None);
}

#[test]
fn extensions_too_long_or_given_twice_are_refused() {
    for raw in [
        "+1 650-253-0000 ext. 12345678",
        "+1 650-253-0000;ext=12345678",
        "+1 650-253-0000 x12;ext=7",
    ] {
        assert!(
            PhoneNumber::parse(raw, region("US")).is_err(),
            "{raw:?} was accepted"
        );
    }
}

#[test]
fn numbers_stored_before_extensions_were_kept_still_read() {
    let stored = r#"{"raw":"+1 650-253-0000 ext. 12","e164":"+16502530000"}"#;
    let number: PhoneNumber = serde_json::from_str(stored).unwrap();
    assert_eq!(number.e164(), "+16502530000");
    assert_eq!(number.extension(), None);
    // A number without an extension is written as before; one with an extension adds it.
    let plain = PhoneNumber::parse("+1 650-253-0000", region("US")).unwrap();
    assert_eq!(
        serde_json::to_value(&plain).unwrap(),
        serde_json::json!({"raw": "+1 650-253-0000", "e164": "+16502530000"})
    );
    let with_extension = PhoneNumber::parse("+1 650-253-0000 x12", region("US")).unwrap();
    let written = serde_json::to_value(&with_extension).unwrap();
    assert_eq!(written["extension"], "12");
    assert_eq!(
        serde_json::from_value::<PhoneNumber>(written).unwrap(),
        with_extension
    );
}

#[test]
fn full_width_digits_and_typographic_dashes_are_read() {
    assert_eq!(e164("＋４９ ３０ １２３４５６７", "US"), "+49301234567");
    assert_eq!(e164("０３０ １２３４５６７", "DE"), "+49301234567");
    assert_eq!(e164("650\u{2011}253\u{2013}0000", "US"), "+16502530000");
    assert_eq!(e164("650\u{00A0}253\u{00A0}0000", "US"), "+16502530000");
}

#[test]
fn invalid_phone_numbers_are_refused_with_the_reason() {
    for (bad, default_region) in [
        ("", "DE"),
        ("   ", "DE"),
        ("call me", "DE"),
        ("12", "DE"),
        ("+999 1234567", "DE"),
        ("(123) 456-7890", "US"),
        ("+1 650 253 00000000000000000000", "US"),
        ("030 1234567 ☎", "DE"),
        ("030\u{0007}1234567", "DE"),
        ("+49 30 1234567 8901234567890", "DE"),
    ] {
        match PhoneNumber::parse(bad, region(default_region)) {
            Err(IdentityError::InvalidPhone { value, .. }) => assert_eq!(value, bad),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

// Person names.

#[test]
fn person_names_are_trimmed_collapsed_and_case_folded() {
    assert_eq!(person("  JANE \t  van   DER Berg "), "jane van der berg");
}

#[test]
fn person_names_fold_diacritics() {
    assert_eq!(person("José María Núñez"), "jose maria nunez");
    assert_eq!(person("Zoë Brontë"), person("Zoe Bronte"));
    assert_eq!(person("Strauß"), person("STRAUSS"));
    assert_eq!(person("Søren Kierkegård"), "soren kierkegard");
    assert_eq!(person("François"), person("Franc\u{0327}ois"));
}

#[test]
fn person_names_fold_compatibility_forms() {
    assert_eq!(person("ＪＡＮＥ"), "jane");
    assert_eq!(person("Ǆemal"), "dzemal");
}

#[test]
fn person_names_drop_apostrophes_and_split_on_other_punctuation() {
    assert_eq!(person("O'Brien"), person("OBrien"));
    assert_eq!(person("D’Angelo"), "dangelo");
    assert_eq!(person("Jean-Luc"), "jean luc");
}

#[test]
fn person_names_in_other_scripts_are_kept() {
    assert_eq!(person("김민준"), "김민준");
    assert_eq!(person("Александр"), "александр");
}

#[test]
fn person_names_without_letters_are_refused() {
    for bad in ["", "   ", "--", "'."] {
        assert_eq!(
            PersonName::new(bad),
            Err(IdentityError::EmptyName {
                field: "person name"
            })
        );
    }
}

// Company names.

#[test]
fn company_legal_forms_are_dropped() {
    for raw in [
        "ACME Inc.",
        "Acme, Inc",
        "Acme Incorporated",
        "Acme Ltd",
        "Acme Limited",
        "Acme LLC",
        "Acme GmbH",
        "Acme AG",
        "ACME S.A.",
        "Acme SAS",
        "Acme B.V.",
        "Acme N.V.",
        "Acme Co.",
        "Acme Corp.",
        "Acme Corporation",
        "Acme plc",
        "Acme Pty Ltd",
        "Acme Sp. z o.o.",
        "Acme S.A. de C.V.",
        "Acme S.r.l.",
        "Acme AB",
        "acme",
    ] {
        assert_eq!(company(raw), "acme", "{raw:?}");
    }
}

#[test]
fn company_names_fold_like_person_names_and_read_ampersands_as_and() {
    assert_eq!(company("Müller & Söhne GmbH & Co. KG"), "muller and sohne");
    assert_eq!(company("Müller und Söhne"), "muller und sohne");
    assert_eq!(company("AT&T Inc."), company("AT and T"));
    assert_eq!(company("The Coca-Cola Company"), "coca cola");
    assert_eq!(company("Ｔｏｙｏｔａ"), "toyota");
}

#[test]
fn legal_forms_are_only_dropped_at_the_end_and_never_entirely() {
    assert_eq!(company("Co-op Bank"), "co op bank");
    assert_eq!(company("Limited"), "limited");
    assert_eq!(company("AG"), "ag");
}

#[test]
fn company_names_without_letters_are_refused() {
    for bad in ["", "   ", "...", "-/-"] {
        assert_eq!(
            CompanyName::new(bad),
            Err(IdentityError::EmptyName {
                field: "company name"
            })
        );
    }
}

// Company domains.

#[test]
fn company_domains_are_taken_from_bare_domains_and_urls() {
    for raw in [
        "acme.com",
        "ACME.COM",
        " acme.com. ",
        "www.acme.com",
        "https://www.acme.com/about?x=1#top",
        "http://acme.com:8080",
        "HTTPS://WWW.ACME.COM",
        "//acme.com/contact",
        "acme.com/contact",
        "https://user:secret@acme.com/",
    ] {
        assert_eq!(domain(raw), "acme.com", "{raw:?}");
    }
}

#[test]
fn subdomains_are_kept_and_www_only_dropped_when_more_remains() {
    assert_eq!(domain("https://shop.acme.co.uk/"), "shop.acme.co.uk");
    assert_eq!(domain("www.www.acme.com"), "acme.com");
    assert_eq!(domain("www.com"), "www.com");
}

#[test]
fn internationalized_company_domains_stay_as_given_but_are_validated() {
    assert_eq!(domain("https://www.Bücher.de/"), "bücher.de");
    assert_eq!(domain("xn--bcher-kva.de"), "xn--bcher-kva.de");
    assert!(CompanyDomain::parse("xn--bücher.de").is_err());
}

#[test]
fn things_that_are_not_company_domains_are_refused() {
    for bad in [
        "",
        "acme",
        "jane@acme.com",
        "http://192.168.0.1/",
        "http://[::1]/",
        "acme .com",
        "-acme.com",
        "acme.com:http",
        "mailto:jane@acme.com",
        "https://",
    ] {
        match CompanyDomain::parse(bad) {
            Err(IdentityError::InvalidDomain { value, .. }) => assert_eq!(value, bad),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

#[test]
fn personal_mail_domains_are_recognized_as_such() {
    assert!(
        CompanyDomain::parse("https://gmail.com")
            .unwrap()
            .is_personal_mail()
    );
    assert!(!CompanyDomain::parse("acme.com").unwrap().is_personal_mail());
}
