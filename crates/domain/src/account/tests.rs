use proptest::prelude::*;
use uuid::Uuid;

use super::matching::{AccountAssessment, CompanyAgreement};
use super::*;
use crate::contact::StreetAddress;
use crate::identity::CountryCode;
use crate::testing::{ALICE, BOB, CAROL, SEED, context_at, given, t0, t0_plus_minutes};

const ENGINES: AccountId = AccountId::from_uuid(Uuid::from_u128(0xe1e1));
const LOOMS: AccountId = AccountId::from_uuid(Uuid::from_u128(0x1003));
const ADA: ContactId = ContactId(Uuid::from_u128(0xada));
const GRACE: ContactId = ContactId(Uuid::from_u128(0x96ace));

// Builders: each reads as the fact it records.

fn alice() -> Actor {
    Actor::User { id: ALICE }
}

/// Alice deciding `minutes` after t0.
fn alice_at(minutes: i64) -> Context {
    context_at(t0_plus_minutes(minutes))
}

fn name(raw: &str) -> CompanyName {
    CompanyName::new(raw).unwrap()
}

fn domain(raw: &str) -> CompanyDomain {
    CompanyDomain::parse(raw).unwrap()
}

fn headquarters() -> AccountAddress {
    AccountAddress {
        kind: AddressKind::Headquarters,
        street_address: StreetAddress {
            street_number: Some("12".into()),
            street: Some("Marylebone Road".into()),
            locality: Some("London".into()),
            postcode: Some("NW1 5LR".into()),
            region: None,
        },
        country: Some(CountryCode::new("GB").unwrap()),
    }
}

fn opened() -> AccountEvent {
    AccountEvent::Opened {
        account: ENGINES,
        name: name("Analytical Engines Ltd."),
        owner: ALICE,
        by: alice(),
        at: t0(),
    }
}

fn open_command() -> AccountCommand {
    AccountCommand::Open {
        account: ENGINES,
        name: name("Analytical Engines Ltd."),
        owner: ALICE,
        domains: vec![],
        industry: None,
        employees: None,
        addresses: vec![],
    }
}

fn domain_added(raw: &str, minutes: i64) -> AccountEvent {
    AccountEvent::DomainAdded {
        domain: domain(raw),
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn contact_added(contact: ContactId, role: ContactRole, minutes: i64) -> AccountEvent {
    AccountEvent::ContactAdded {
        contact,
        role,
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn closed(minutes: i64) -> AccountEvent {
    AccountEvent::Closed {
        reason: "went out of business".into(),
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn archived(minutes: i64) -> AccountEvent {
    AccountEvent::Archived {
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

/// An account Alice works: opened, a domain, Ada as its decision maker.
fn worked() -> Vec<AccountEvent> {
    vec![
        opened(),
        domain_added("engines.example", 1),
        contact_added(ADA, ContactRole::DecisionMaker, 2),
    ]
}

fn with(mut events: Vec<AccountEvent>, more: &[AccountEvent]) -> Vec<AccountEvent> {
    events.extend_from_slice(more);
    events
}

fn profile(account: &Account) -> &AccountProfile {
    account.profile.as_ref().unwrap()
}

// Opening.

#[test]
fn opening_an_account_records_it_active_with_its_name_and_owner() {
    let account = given::<Account>(&[]).when(open_command()).then(&[opened()]);
    let profile = profile(&account);
    assert_eq!(profile.id, ENGINES);
    assert_eq!(profile.name.normalized(), "analytical engines");
    assert_eq!(profile.owner, ALICE);
    assert_eq!(profile.status, AccountStatus::Active);
    assert_eq!(profile.opened_at, t0());
}

#[test]
fn opening_with_details_records_each_field_after_the_opening() {
    let command = AccountCommand::Open {
        account: ENGINES,
        name: name("Analytical Engines Ltd."),
        owner: ALICE,
        domains: vec![
            domain("https://www.Engines.example/about"),
            domain("engines.example"),
        ],
        industry: Some("  Machinery ".into()),
        employees: Some(250),
        addresses: vec![headquarters()],
    };
    let account = given::<Account>(&[]).when(command).then(&[
        opened(),
        AccountEvent::DomainAdded {
            domain: domain("https://www.Engines.example/about"),
            by: alice(),
            at: t0(),
        },
        AccountEvent::IndustryChanged {
            industry: Some("Machinery".into()),
            by: alice(),
            at: t0(),
        },
        AccountEvent::SizeChanged {
            employees: Some(250),
            by: alice(),
            at: t0(),
        },
        AccountEvent::AddressSet {
            address: headquarters(),
            by: alice(),
            at: t0(),
        },
    ]);
    assert_eq!(profile(&account).domains.len(), 1);
    assert!(profile(&account).lists_domain(&domain("ENGINES.example")));
}

#[test]
fn opening_an_account_twice_is_refused() {
    given::<Account>(&[opened()])
        .when(open_command())
        .then_error(&AccountError::AlreadyOpened { id: ENGINES });
}

#[test]
fn opening_with_a_personal_mail_domain_is_refused() {
    let command = AccountCommand::Open {
        account: ENGINES,
        name: name("Analytical Engines Ltd."),
        owner: ALICE,
        domains: vec![domain("gmail.com")],
        industry: None,
        employees: None,
        addresses: vec![],
    };
    given::<Account>(&[])
        .when(command)
        .then_error(&AccountError::PersonalMailDomain {
            domain: "gmail.com".into(),
        });
}

#[test]
fn opening_with_a_blank_industry_is_refused() {
    let command = AccountCommand::Open {
        account: ENGINES,
        name: name("Analytical Engines Ltd."),
        owner: ALICE,
        domains: vec![],
        industry: Some(" \t".into()),
        employees: None,
        addresses: vec![],
    };
    given::<Account>(&[])
        .when(command)
        .then_error(&AccountError::BlankIndustry);
}

#[test]
fn changing_an_account_that_was_never_opened_is_refused() {
    given::<Account>(&[])
        .when(AccountCommand::Rename {
            name: name("Looms"),
        })
        .then_error(&AccountError::NotFound);
    given::<Account>(&[])
        .when(AccountCommand::Close {
            reason: "gone".into(),
        })
        .then_error(&AccountError::NotFound);
    given::<Account>(&[])
        .when(AccountCommand::Reopen)
        .then_error(&AccountError::NotFound);
    given::<Account>(&[])
        .when(AccountCommand::Archive)
        .then_error(&AccountError::NotFound);
}

// Name.

#[test]
fn renaming_records_the_new_name() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::Rename {
            name: name("Analytical Engines plc"),
        })
        .then(&[AccountEvent::Renamed {
            name: name("Analytical Engines plc"),
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(profile(&account).name.raw(), "Analytical Engines plc");
}

#[test]
fn renaming_to_the_same_name_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::Rename {
            name: name("Analytical Engines Ltd."),
        })
        .then(&[]);
}

// Domains.

#[test]
fn adding_a_domain_records_it_with_its_normalized_form() {
    let account = given::<Account>(&[opened()])
        .at(alice_at(1))
        .when(AccountCommand::AddDomain {
            domain: domain("HTTPS://WWW.Engines.example/"),
        })
        .then(&[AccountEvent::DomainAdded {
            domain: domain("HTTPS://WWW.Engines.example/"),
            by: alice(),
            at: t0_plus_minutes(1),
        }]);
    assert_eq!(profile(&account).domains[0].normalized(), "engines.example");
}

#[test]
fn adding_a_domain_listed_under_another_spelling_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::AddDomain {
            domain: domain("http://www.ENGINES.example/contact"),
        })
        .then(&[]);
}

#[test]
fn adding_a_personal_mail_domain_is_refused() {
    given::<Account>(&worked())
        .when(AccountCommand::AddDomain {
            domain: domain("www.GoogleMail.com"),
        })
        .then_error(&AccountError::PersonalMailDomain {
            domain: "googlemail.com".into(),
        });
}

#[test]
fn removing_a_domain_matches_its_normalized_form_and_names_the_listed_spelling() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::RemoveDomain {
            domain: domain("https://ENGINES.example"),
        })
        .then(&[domain_removed("engines.example", 5)]);
    assert!(profile(&account).domains.is_empty());
}

fn domain_removed(raw: &str, minutes: i64) -> AccountEvent {
    AccountEvent::DomainRemoved {
        domain: domain(raw),
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

#[test]
fn removing_a_domain_that_is_not_listed_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::RemoveDomain {
            domain: domain("looms.example"),
        })
        .then(&[]);
}

// Industry and size.

#[test]
fn changing_the_industry_records_it_trimmed() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::ChangeIndustry {
            industry: Some(" Textile machinery\n".into()),
        })
        .then(&[AccountEvent::IndustryChanged {
            industry: Some("Textile machinery".into()),
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(
        profile(&account).industry.as_deref(),
        Some("Textile machinery")
    );
}

#[test]
fn clearing_the_industry_records_it_cleared() {
    let machinery = AccountEvent::IndustryChanged {
        industry: Some("Machinery".into()),
        by: alice(),
        at: t0_plus_minutes(3),
    };
    let account = given::<Account>(&with(worked(), &[machinery]))
        .at(alice_at(5))
        .when(AccountCommand::ChangeIndustry { industry: None })
        .then(&[AccountEvent::IndustryChanged {
            industry: None,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(profile(&account).industry, None);
}

#[test]
fn setting_the_industry_it_has_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::ChangeIndustry { industry: None })
        .then(&[]);
}

#[test]
fn a_blank_industry_is_refused() {
    given::<Account>(&worked())
        .when(AccountCommand::ChangeIndustry {
            industry: Some("   ".into()),
        })
        .then_error(&AccountError::BlankIndustry);
}

#[test]
fn an_industry_longer_than_the_limit_is_refused() {
    given::<Account>(&worked())
        .when(AccountCommand::ChangeIndustry {
            industry: Some("x".repeat(MAX_INDUSTRY_CHARS + 1)),
        })
        .then_error(&AccountError::IndustryTooLong {
            max: MAX_INDUSTRY_CHARS,
        });
}

#[test]
fn changing_the_size_records_the_number_of_employees() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::ChangeSize {
            employees: Some(1200),
        })
        .then(&[AccountEvent::SizeChanged {
            employees: Some(1200),
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(profile(&account).employees, Some(1200));
}

#[test]
fn setting_the_size_it_has_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::ChangeSize { employees: None })
        .then(&[]);
}

// Addresses.

#[test]
fn setting_an_address_records_it_with_its_parts_trimmed() {
    let mut typed = headquarters();
    typed.street_address.street = Some("  Marylebone Road ".into());
    typed.street_address.region = Some(" ".into());
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::SetAddress { address: typed })
        .then(&[AccountEvent::AddressSet {
            address: headquarters(),
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(
        profile(&account).addresses.get(&AddressKind::Headquarters),
        Some(&headquarters())
    );
}

#[test]
fn setting_the_address_a_kind_has_records_nothing() {
    let set = AccountEvent::AddressSet {
        address: headquarters(),
        by: alice(),
        at: t0_plus_minutes(3),
    };
    given::<Account>(&with(worked(), &[set]))
        .when(AccountCommand::SetAddress {
            address: headquarters(),
        })
        .then(&[]);
}

#[test]
fn an_address_with_only_a_country_is_kept() {
    let billing = AccountAddress {
        kind: AddressKind::Billing,
        street_address: StreetAddress::default(),
        country: Some(CountryCode::new("de").unwrap()),
    };
    given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::SetAddress {
            address: billing.clone(),
        })
        .then(&[AccountEvent::AddressSet {
            address: billing,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
}

#[test]
fn a_blank_address_is_refused() {
    let blank = AccountAddress {
        kind: AddressKind::Shipping,
        street_address: StreetAddress {
            street: Some("  ".into()),
            ..StreetAddress::default()
        },
        country: None,
    };
    given::<Account>(&worked())
        .when(AccountCommand::SetAddress { address: blank })
        .then_error(&AccountError::BlankAddress {
            kind: AddressKind::Shipping,
        });
}

#[test]
fn an_address_part_longer_than_the_limit_is_refused() {
    let mut long = headquarters();
    long.street_address.street = Some("a".repeat(MAX_ADDRESS_PART_CHARS + 1));
    given::<Account>(&worked())
        .when(AccountCommand::SetAddress { address: long })
        .then_error(&AccountError::AddressPartTooLong {
            kind: AddressKind::Headquarters,
            max: MAX_ADDRESS_PART_CHARS,
        });
}

#[test]
fn clearing_an_address_records_its_kind() {
    let set = AccountEvent::AddressSet {
        address: headquarters(),
        by: alice(),
        at: t0_plus_minutes(3),
    };
    let account = given::<Account>(&with(worked(), &[set]))
        .at(alice_at(5))
        .when(AccountCommand::ClearAddress {
            kind: AddressKind::Headquarters,
        })
        .then(&[AccountEvent::AddressCleared {
            kind: AddressKind::Headquarters,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert!(profile(&account).addresses.is_empty());
}

#[test]
fn clearing_an_address_the_account_does_not_have_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::ClearAddress {
            kind: AddressKind::Billing,
        })
        .then(&[]);
}

// Owner.

#[test]
fn changing_the_owner_records_the_new_owner() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::ChangeOwner { owner: BOB })
        .then(&[AccountEvent::OwnerChanged {
            owner: BOB,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(profile(&account).owner, BOB);
}

#[test]
fn changing_the_owner_to_the_current_owner_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::ChangeOwner { owner: ALICE })
        .then(&[]);
}

// Contacts and roles.

#[test]
fn adding_a_contact_records_their_role() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::AddContact {
            contact: GRACE,
            role: ContactRole::Champion,
        })
        .then(&[contact_added(GRACE, ContactRole::Champion, 5)]);
    assert_eq!(
        profile(&account).contacts.get(&GRACE),
        Some(&AccountContact {
            role: ContactRole::Champion,
            since: t0_plus_minutes(5),
        })
    );
}

#[test]
fn adding_a_contact_again_with_the_same_role_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::AddContact {
            contact: ADA,
            role: ContactRole::DecisionMaker,
        })
        .then(&[]);
}

#[test]
fn adding_a_contact_who_belongs_with_another_role_is_refused() {
    given::<Account>(&worked())
        .when(AccountCommand::AddContact {
            contact: ADA,
            role: ContactRole::Billing,
        })
        .then_error(&AccountError::AlreadyAContact {
            contact: ADA,
            role: ContactRole::DecisionMaker,
        });
}

#[test]
fn changing_a_contacts_role_records_the_new_role_and_keeps_since_when_they_belong() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::ChangeContactRole {
            contact: ADA,
            role: ContactRole::EconomicBuyer,
        })
        .then(&[AccountEvent::ContactRoleChanged {
            contact: ADA,
            role: ContactRole::EconomicBuyer,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(
        profile(&account).contacts.get(&ADA),
        Some(&AccountContact {
            role: ContactRole::EconomicBuyer,
            since: t0_plus_minutes(2),
        })
    );
}

#[test]
fn changing_a_contacts_role_to_the_one_they_hold_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::ChangeContactRole {
            contact: ADA,
            role: ContactRole::DecisionMaker,
        })
        .then(&[]);
}

#[test]
fn changing_the_role_of_someone_who_does_not_belong_is_refused() {
    given::<Account>(&worked())
        .when(AccountCommand::ChangeContactRole {
            contact: GRACE,
            role: ContactRole::User,
        })
        .then_error(&AccountError::NotAContact { contact: GRACE });
}

#[test]
fn ending_a_contacts_role_removes_them_from_the_account() {
    let account = given::<Account>(&worked())
        .at(alice_at(5))
        .when(AccountCommand::EndContactRole { contact: ADA })
        .then(&[AccountEvent::ContactRoleEnded {
            contact: ADA,
            by: alice(),
            at: t0_plus_minutes(5),
        }]);
    assert_eq!(account.role_of(ADA), None);
}

#[test]
fn ending_the_role_of_someone_who_does_not_belong_is_refused() {
    given::<Account>(&worked())
        .when(AccountCommand::EndContactRole { contact: GRACE })
        .then_error(&AccountError::NotAContact { contact: GRACE });
}

#[test]
fn a_person_may_hold_roles_at_several_accounts() {
    let looms_opened = AccountEvent::Opened {
        account: LOOMS,
        name: name("Jacquard Looms SA"),
        owner: BOB,
        by: alice(),
        at: t0(),
    };
    let looms = given::<Account>(&[looms_opened])
        .at(alice_at(5))
        .when(AccountCommand::AddContact {
            contact: ADA,
            role: ContactRole::Influencer,
        })
        .then(&[contact_added(ADA, ContactRole::Influencer, 5)]);
    assert_eq!(looms.role_of(ADA), Some(ContactRole::Influencer));
    assert_eq!(
        Account::replay(&worked()).role_of(ADA),
        Some(ContactRole::DecisionMaker)
    );
}

// Lifecycle.

#[test]
fn closing_records_the_reason_trimmed() {
    let account = given::<Account>(&worked())
        .at(alice_at(10))
        .when(AccountCommand::Close {
            reason: "  went out of business ".into(),
        })
        .then(&[closed(10)]);
    assert_eq!(account.status(), Some(AccountStatus::Closed));
}

#[test]
fn closing_without_a_reason_is_refused() {
    given::<Account>(&worked())
        .when(AccountCommand::Close {
            reason: "\n".into(),
        })
        .then_error(&AccountError::BlankReason);
}

#[test]
fn closing_a_closed_account_records_nothing() {
    given::<Account>(&with(worked(), &[closed(10)]))
        .when(AccountCommand::Close {
            reason: "again".into(),
        })
        .then(&[]);
}

#[test]
fn a_closed_account_refuses_changes_until_reopened() {
    for command in [
        AccountCommand::Rename {
            name: name("Looms"),
        },
        AccountCommand::AddDomain {
            domain: domain("looms.example"),
        },
        AccountCommand::ChangeOwner { owner: BOB },
        AccountCommand::AddContact {
            contact: GRACE,
            role: ContactRole::User,
        },
        AccountCommand::EndContactRole { contact: ADA },
    ] {
        given::<Account>(&with(worked(), &[closed(10)]))
            .when(command)
            .then_error(&AccountError::Closed { id: ENGINES });
    }
}

#[test]
fn reopening_a_closed_account_makes_it_active() {
    let account = given::<Account>(&with(worked(), &[closed(10)]))
        .at(alice_at(20))
        .when(AccountCommand::Reopen)
        .then(&[AccountEvent::Reopened {
            by: alice(),
            at: t0_plus_minutes(20),
        }]);
    assert_eq!(account.status(), Some(AccountStatus::Active));
}

#[test]
fn reopening_an_active_account_records_nothing() {
    given::<Account>(&worked())
        .when(AccountCommand::Reopen)
        .then(&[]);
}

#[test]
fn archiving_an_active_or_a_closed_account_archives_it() {
    for history in [worked(), with(worked(), &[closed(10)])] {
        let account = given::<Account>(&history)
            .at(alice_at(30))
            .when(AccountCommand::Archive)
            .then(&[archived(30)]);
        assert_eq!(account.status(), Some(AccountStatus::Archived));
    }
}

#[test]
fn archiving_an_archived_account_records_nothing() {
    given::<Account>(&with(worked(), &[archived(30)]))
        .when(AccountCommand::Archive)
        .then(&[]);
}

#[test]
fn an_archived_account_refuses_everything_else() {
    for command in [
        AccountCommand::Rename {
            name: name("Looms"),
        },
        AccountCommand::ChangeSize { employees: Some(3) },
        AccountCommand::Close {
            reason: "gone".into(),
        },
        AccountCommand::Reopen,
        AccountCommand::ChangeContactRole {
            contact: ADA,
            role: ContactRole::User,
        },
    ] {
        given::<Account>(&with(worked(), &[archived(30)]))
            .when(command)
            .then_error(&AccountError::Archived { id: ENGINES });
    }
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        AccountError::AlreadyAContact {
            contact: ADA,
            role: ContactRole::DecisionMaker
        }
        .to_string(),
        format!(
            "contact {ADA} already belongs to the account as decision maker: change the role instead"
        )
    );
    assert_eq!(
        AccountError::PersonalMailDomain {
            domain: "gmail.com".into()
        }
        .to_string(),
        "gmail.com is a personal mail domain, not a company's"
    );
}

#[test]
fn accounts_hold_no_personal_data() {
    for event in with(worked(), &[closed(10), archived(30)]) {
        assert!(event.personal_fields().is_empty());
    }
    assert_eq!(Account::replay(&worked()).data_subject(), None);
}

// Properties.

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        3 => prop::sample::select(vec![ALICE, BOB, CAROL]).prop_map(|id| Actor::User { id }),
        1 => Just(Actor::Integration { source: "erp-sync".into() }),
    ]
}

fn arb_user() -> impl Strategy<Value = UserId> {
    prop::sample::select(vec![ALICE, BOB, CAROL])
}

fn arb_name() -> impl Strategy<Value = CompanyName> {
    prop::sample::select(vec![
        "Analytical Engines Ltd.",
        "Analytical Engines",
        "Jacquard Looms SA",
    ])
    .prop_map(name)
}

fn arb_domain() -> impl Strategy<Value = CompanyDomain> {
    prop::sample::select(vec![
        "engines.example",
        "https://www.ENGINES.example/about",
        "looms.example",
        "gmail.com",
        "bücher.de",
    ])
    .prop_map(domain)
}

fn arb_industry() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("Machinery".to_owned()),
        Just("  Textiles ".to_owned()),
        Just("  ".to_owned()),
        "\\PC{0,120}",
    ])
}

fn arb_address() -> impl Strategy<Value = AccountAddress> {
    (
        prop::sample::select(AddressKind::ALL.to_vec()),
        proptest::option::of(prop_oneof![
            Just("Marylebone Road".to_owned()),
            Just(" ".to_owned())
        ]),
        proptest::option::of(prop_oneof![
            Just("London".to_owned()),
            Just("Paris ".to_owned())
        ]),
        proptest::option::of(Just(CountryCode::new("GB").unwrap())),
    )
        .prop_map(|(kind, street, locality, country)| AccountAddress {
            kind,
            street_address: StreetAddress {
                street,
                locality,
                ..StreetAddress::default()
            },
            country,
        })
}

fn arb_contact() -> impl Strategy<Value = ContactId> {
    prop::sample::select(vec![ADA, GRACE])
}

fn arb_role() -> impl Strategy<Value = ContactRole> {
    prop::sample::select(ContactRole::ALL.to_vec())
}

fn arb_open() -> impl Strategy<Value = AccountCommand> {
    (
        prop::sample::select(vec![ENGINES, LOOMS]),
        arb_name(),
        arb_user(),
        proptest::collection::vec(arb_domain(), 0..3),
        arb_industry(),
        proptest::option::of(0u32..5000),
        proptest::collection::vec(arb_address(), 0..3),
    )
        .prop_map(
            |(account, name, owner, domains, industry, employees, addresses)| {
                AccountCommand::Open {
                    account,
                    name,
                    owner,
                    domains,
                    industry,
                    employees,
                    addresses,
                }
            },
        )
}

fn arb_command() -> impl Strategy<Value = AccountCommand> {
    prop_oneof![
        1 => arb_open(),
        2 => arb_name().prop_map(|name| AccountCommand::Rename { name }),
        3 => arb_domain().prop_map(|domain| AccountCommand::AddDomain { domain }),
        2 => arb_domain().prop_map(|domain| AccountCommand::RemoveDomain { domain }),
        2 => arb_industry().prop_map(|industry| AccountCommand::ChangeIndustry { industry }),
        1 => proptest::option::of(0u32..5000).prop_map(|employees| AccountCommand::ChangeSize { employees }),
        2 => arb_address().prop_map(|address| AccountCommand::SetAddress { address }),
        1 => prop::sample::select(AddressKind::ALL.to_vec()).prop_map(|kind| AccountCommand::ClearAddress { kind }),
        1 => arb_user().prop_map(|owner| AccountCommand::ChangeOwner { owner }),
        3 => (arb_contact(), arb_role()).prop_map(|(contact, role)| AccountCommand::AddContact { contact, role }),
        2 => (arb_contact(), arb_role()).prop_map(|(contact, role)| AccountCommand::ChangeContactRole { contact, role }),
        2 => arb_contact().prop_map(|contact| AccountCommand::EndContactRole { contact }),
        2 => (arb_contact(), prop::sample::select(vec![ENGINES, LOOMS]), 5_000u16..10_000)
            .prop_map(|(contact, account, score)| AccountCommand::SuggestContact {
                contact,
                assessment: assessment(account, score),
            }),
        1 => arb_contact().prop_map(|contact| AccountCommand::DismissSuggestion { contact }),
        1 => prop_oneof![Just("gone".to_owned()), Just(" ".to_owned())].prop_map(|reason| AccountCommand::Close { reason }),
        1 => Just(AccountCommand::Reopen),
        1 => Just(AccountCommand::Archive),
    ]
}

/// Commands with their contexts, a few minutes apart; most start by opening the account.
fn arb_steps(max: usize) -> impl Strategy<Value = Vec<(AccountCommand, Context)>> {
    let opening = proptest::option::weighted(0.9, arb_open());
    let rest = proptest::collection::vec((arb_command(), arb_actor()), 0..max);
    (opening, rest).prop_map(|(opening, rest)| {
        let opening = opening.map(|command| (command, alice_at(0)));
        let rest = (1..).zip(rest).map(|(minutes, (command, actor))| {
            (command, Context::new(t0_plus_minutes(minutes), actor, SEED))
        });
        opening.into_iter().chain(rest).collect()
    })
}

/// Any event at all, including ones `decide` would never emit, in any order.
fn arb_event() -> impl Strategy<Value = AccountEvent> {
    let at = (-60i64..5_000).prop_map(t0_plus_minutes);
    prop_oneof![
        (arb_name(), arb_user(), arb_actor(), at.clone()).prop_map(|(name, owner, by, at)| {
            AccountEvent::Opened {
                account: ENGINES,
                name,
                owner,
                by,
                at,
            }
        }),
        (arb_name(), arb_actor(), at.clone()).prop_map(|(name, by, at)| AccountEvent::Renamed {
            name,
            by,
            at
        }),
        (arb_domain(), arb_actor(), at.clone())
            .prop_map(|(domain, by, at)| AccountEvent::DomainAdded { domain, by, at }),
        (arb_domain(), arb_actor(), at.clone())
            .prop_map(|(domain, by, at)| AccountEvent::DomainRemoved { domain, by, at }),
        (arb_industry(), arb_actor(), at.clone())
            .prop_map(|(industry, by, at)| AccountEvent::IndustryChanged { industry, by, at }),
        (proptest::option::of(any::<u32>()), arb_actor(), at.clone())
            .prop_map(|(employees, by, at)| AccountEvent::SizeChanged { employees, by, at }),
        (arb_address(), arb_actor(), at.clone())
            .prop_map(|(address, by, at)| AccountEvent::AddressSet { address, by, at }),
        (
            prop::sample::select(AddressKind::ALL.to_vec()),
            arb_actor(),
            at.clone()
        )
            .prop_map(|(kind, by, at)| AccountEvent::AddressCleared { kind, by, at }),
        (arb_user(), arb_actor(), at.clone())
            .prop_map(|(owner, by, at)| AccountEvent::OwnerChanged { owner, by, at }),
        (arb_contact(), arb_role(), arb_actor(), at.clone()).prop_map(|(contact, role, by, at)| {
            AccountEvent::ContactAdded {
                contact,
                role,
                by,
                at,
            }
        }),
        (arb_contact(), arb_role(), arb_actor(), at.clone()).prop_map(|(contact, role, by, at)| {
            AccountEvent::ContactRoleChanged {
                contact,
                role,
                by,
                at,
            }
        }),
        (arb_contact(), arb_actor(), at.clone())
            .prop_map(|(contact, by, at)| AccountEvent::ContactRoleEnded { contact, by, at }),
        ("\\PC{0,20}", arb_actor(), at.clone()).prop_map(|(reason, by, at)| AccountEvent::Closed {
            reason,
            by,
            at
        }),
        (arb_actor(), at.clone()).prop_map(|(by, at)| AccountEvent::Reopened { by, at }),
        (arb_actor(), at).prop_map(|(by, at)| AccountEvent::Archived { by, at }),
    ]
}

/// An accepted command: the state before it and the events it produced.
type Accepted = (Account, Vec<AccountEvent>);

/// Runs the steps through decide and evolve, skipping refused commands; returns the final
/// state, every emitted event, and every accepted command.
fn run(steps: Vec<(AccountCommand, Context)>) -> (Account, Vec<AccountEvent>, Vec<Accepted>) {
    let mut state = Account::default();
    let mut all = Vec::new();
    let mut accepted = Vec::new();
    for (command, ctx) in steps {
        if let Ok(events) = state.decide(command, &ctx) {
            let before = state.clone();
            state = events.iter().fold(state, Aggregate::evolve);
            all.extend(events.iter().cloned());
            accepted.push((before, events));
        }
    }
    (state, all, accepted)
}

proptest! {
    #[test]
    fn replaying_the_events_rebuilds_the_state_also_after_storage(steps in arb_steps(40)) {
        let (state, events, _) = run(steps);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn evolve_accepts_any_sequence_of_facts_and_storage_keeps_them(
        events in proptest::collection::vec(arb_event(), 0..30)
    ) {
        let state = Account::replay(&events);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn every_recorded_fact_changes_the_account(steps in arb_steps(40)) {
        let (_, _, accepted) = run(steps);
        for (before, events) in accepted {
            let mut state = before;
            for event in &events {
                let after = state.clone().evolve(event);
                prop_assert_ne!(&after, &state, "{:?} changed nothing", event);
                state = after;
            }
        }
    }

    #[test]
    fn domains_stay_distinct_company_domains(steps in arb_steps(40)) {
        let (state, _, _) = run(steps);
        if let Some(profile) = state.profile {
            let mut normalized: Vec<&str> =
                profile.domains.iter().map(CompanyDomain::normalized).collect();
            prop_assert!(profile.domains.iter().all(|domain| !domain.is_personal_mail()));
            normalized.sort_unstable();
            normalized.dedup();
            prop_assert_eq!(normalized.len(), profile.domains.len());
        }
    }

    #[test]
    fn an_archived_account_never_changes_again(steps in arb_steps(60)) {
        let mut state = Account::default();
        for (command, ctx) in steps {
            let result = state.decide(command, &ctx);
            if state.status() == Some(AccountStatus::Archived) {
                prop_assert!(result.as_ref().is_err() || result.as_ref().is_ok_and(Vec::is_empty),
                    "an archived account recorded {:?}", result);
            }
            if let Ok(events) = result {
                state = events.iter().fold(state, Aggregate::evolve);
            }
        }
    }
}

#[test]
fn custom_fields_are_validated_set_cleared_and_folded() {
    crate::custom_fields::fixtures::check_custom_fields::<Account>(
        EntityKind::Account,
        &worked(),
        AccountCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            AccountError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}

fn assessment(account: AccountId, score: u16) -> AccountAssessment {
    let score = crate::identity::Score::from_ten_thousandths(score);
    AccountAssessment {
        account,
        score,
        verdict: crate::identity::MatchConfig::default().verdict(score),
        domain: CompanyAgreement::Same,
        name: CompanyAgreement::Similar,
        name_similarity: Some(crate::identity::Score::from_ten_thousandths(9_100)),
    }
}

fn suggested(contact: ContactId, score: u16, minutes: i64) -> AccountEvent {
    AccountEvent::ContactSuggested {
        contact,
        assessment: assessment(ENGINES, score),
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

#[test]
fn a_suggested_contact_waits_for_review_once_until_confirmed() {
    let suggest = |score| AccountCommand::SuggestContact {
        contact: GRACE,
        assessment: assessment(ENGINES, score),
    };
    let state = given::<Account>(&[opened()])
        .at(alice_at(1))
        .when(suggest(7_500))
        .then(&[suggested(GRACE, 7_500, 1)]);
    assert!(profile(&state).suggested.contains_key(&GRACE));
    given::<Account>(&[opened(), suggested(GRACE, 7_500, 1)])
        .at(alice_at(2))
        .when(suggest(7_500))
        .then(&[]);
    let confirmed = given::<Account>(&[opened(), suggested(GRACE, 7_500, 1)])
        .at(alice_at(3))
        .when(AccountCommand::AddContact {
            contact: GRACE,
            role: ContactRole::Other,
        })
        .then(&[contact_added(GRACE, ContactRole::Other, 3)]);
    assert!(profile(&confirmed).suggested.is_empty());
    given::<Account>(&[opened(), contact_added(GRACE, ContactRole::Other, 3)])
        .when(suggest(9_900))
        .then(&[]);
}

#[test]
fn a_dismissed_contact_is_never_suggested_again() {
    let history = [
        opened(),
        suggested(GRACE, 7_500, 1),
        AccountEvent::SuggestionDismissed {
            contact: GRACE,
            by: alice(),
            at: t0_plus_minutes(2),
        },
    ];
    given::<Account>(&history[..2])
        .at(alice_at(2))
        .when(AccountCommand::DismissSuggestion { contact: GRACE })
        .then(&history[2..]);
    let state = given::<Account>(&history)
        .when(AccountCommand::SuggestContact {
            contact: GRACE,
            assessment: assessment(ENGINES, 9_000),
        })
        .then(&[]);
    assert!(profile(&state).suggested.is_empty());
    assert!(profile(&state).dismissed.contains(&GRACE));
    given::<Account>(&[opened()])
        .when(AccountCommand::DismissSuggestion { contact: ADA })
        .then_error(&AccountError::NotSuggested { contact: ADA });
}

#[test]
fn a_suggestion_must_assess_this_account() {
    given::<Account>(&[opened()])
        .when(AccountCommand::SuggestContact {
            contact: ADA,
            assessment: assessment(LOOMS, 8_000),
        })
        .then_error(&AccountError::AssessmentOfAnotherAccount { assessed: LOOMS });
}
