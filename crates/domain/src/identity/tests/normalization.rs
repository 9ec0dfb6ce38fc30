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
fn plus_and_double_zero_prefixes_ignore_the_default_region() {
    for (raw, default_region) in [
        ("+49 30 1234567", "US"),
        ("+49 (0)30 1234567", "JP"),
        ("0049 30 1234567", "US"),
        ("00 49 30 123 45 67", "GB"),
        ("(+49) 30 1234567", "FR"),
        ("tel:+49-30-1234567", "US"),
    ] {
        assert_eq!(
            e164(raw, default_region),
            "+49301234567",
            "{raw:?} in {default_region}"
        );
    }
}

#[test]
fn the_default_regions_own_international_prefix_works() {
    assert_eq!(e164("011 44 20 7946 0958", "US"), "+442079460958");
    assert_eq!(e164("0011 49 30 1234567", "AU"), "+49301234567");
}

#[test]
fn international_numbers_parse_without_a_numbering_plan_for_the_region() {
    assert_eq!(e164("+44 20 7946 0958", "ZZ"), "+442079460958");
    assert!(matches!(
        PhoneNumber::parse("020 7946 0958", region("ZZ")),
        Err(IdentityError::InvalidPhone { .. })
    ));
}

#[test]
fn extensions_stay_out_of_the_e164_form() {
    let number = PhoneNumber::parse("+1 650-253-0000 ext. 12", region("DE")).unwrap();
    assert_eq!(number.e164(), "+16502530000");
    assert_eq!(number.raw(), "+1 650-253-0000 ext. 12");
}

#[test]
fn full_width_digits_and_typographic_dashes_are_read() {
    assert_eq!(e164("＋４９ ３０ １２３４５６７", "US"), "+49301234567");
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
