//! The sync rules: every order of delivery converges under last-write-wins and source
//! precedence, an owned field refuses every other source, and the dictionary refuses what it
//! cannot enforce.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::aggregate::Aggregate;
use crate::contact::{Contact, ContactCommand, ContactEvent, Detail, DetailChange};
use crate::ids::ContactId;
use crate::testing::{context_at, t0, t0_plus_minutes};

const SOURCES: [&str; 3] = ["billing", "desk", "marketing"];

/// One update of the job title: source, minute and value (`None` clears).
type Update = (usize, i64, Option<u8>);

fn title(value: Option<u8>) -> Detail {
    Detail::JobTitle(value.map(|value| format!("Title {value}")))
}

/// The contact after `updates` are synced in order under `rule` (each judged against what
/// the ones before it left).
fn synced(rule: &FieldRule, updates: &[Update]) -> Contact {
    let rules = BTreeMap::from([(ContactField::JobTitle, rule.clone())]);
    let mut contact = Contact::default().evolve(&ContactEvent::Created {
        contact_id: ContactId(uuid::Uuid::from_u128(7)),
        origin: Provenance::new("crm", t0()),
        at: t0(),
    });
    for (source, minute, value) in updates {
        let command = ContactCommand::Sync {
            changes: vec![DetailChange::Set(title(*value))],
            provenance: Provenance::new(SOURCES[*source], t0_plus_minutes(*minute)),
            rules: rules.clone(),
        };
        let events = contact
            .decide(command, &context_at(t0_plus_minutes(1_000)))
            .expect("a sync under these rules is never refused");
        contact = events.iter().fold(contact, Contact::evolve);
    }
    contact
}

fn arb_rule() -> impl Strategy<Value = FieldRule> {
    let policy = prop_oneof![
        Just(FieldPolicy::LastWriteWins),
        Just(FieldPolicy::SourcePrecedence {
            order: vec!["desk".to_owned(), "billing".to_owned()],
        }),
    ];
    (policy, any::<bool>()).prop_map(|(policy, clears)| FieldRule {
        policy,
        system_of_record: None,
        empty_overwrites: clears,
    })
}

/// Updates with distinct (source, minute) pairs: one source never says two things at once.
fn arb_updates() -> impl Strategy<Value = Vec<Update>> {
    prop::collection::btree_map(
        (0..3usize, 0..40i64),
        prop::option::weighted(0.8, 0..4u8),
        1..8,
    )
    .prop_map(|updates| {
        updates
            .into_iter()
            .map(|((source, minute), value)| (source, minute, value))
            .collect()
    })
}

proptest! {
    #[test]
    fn every_order_of_delivery_ends_on_the_same_value_and_source(
        rule in arb_rule(),
        (updates, shuffled) in arb_updates().prop_flat_map(|updates| {
            let shuffled = Just(updates.clone()).prop_shuffle();
            (Just(updates), shuffled)
        }),
    ) {
        let one = synced(&rule, &updates);
        let other = synced(&rule, &shuffled);
        prop_assert_eq!(
            one.details.entry(ContactField::JobTitle),
            other.details.entry(ContactField::JobTitle)
        );
    }

    #[test]
    fn an_owned_field_takes_only_its_owner(
        updates in arb_updates(),
    ) {
        let rule = FieldRule::new(FieldPolicy::OwnerOnly).owned_by("billing");
        let rules = BTreeMap::from([(ContactField::JobTitle, rule)]);
        let contact = synced(&FieldRule::new(FieldPolicy::LastWriteWins), &[]);
        for (source, minute, value) in updates {
            let command = ContactCommand::Sync {
                changes: vec![DetailChange::Set(title(value))],
                provenance: Provenance::new(SOURCES[source], t0_plus_minutes(minute)),
                rules: rules.clone(),
            };
            let outcome = contact.decide(command, &context_at(t0_plus_minutes(1_000)));
            prop_assert_eq!(outcome.is_err(), SOURCES[source] != "billing");
        }
    }
}

fn entry(field: &str, kind: FieldType, policy: PolicyName) -> DictionaryEntry {
    DictionaryEntry {
        entity: "contact".to_owned(),
        field: field.to_owned(),
        kind,
        policy,
        order: Vec::new(),
        system_of_record: None,
        empty_overwrites: false,
        definition_owner: "revops".to_owned(),
        description: None,
    }
}

#[test]
fn a_dictionary_read_from_json_gives_the_rules_and_the_systems_it_names() {
    let dictionary: DataDictionary = serde_json::from_str(
        r#"{"fields": [
            {"entity": "contact", "field": "lifecycle_stage", "type": "lifecycle_stage",
             "policy": "owner_only", "system_of_record": "billing", "definition_owner": "revops"},
            {"entity": "contact", "field": "job_title", "type": "text",
             "policy": "source_precedence", "order": ["desk", "marketing"],
             "empty_overwrites": true, "definition_owner": "sales-ops"}
        ]}"#,
    )
    .unwrap();
    let rules = dictionary.validate().unwrap();
    assert_eq!(
        rules.contact().get(&ContactField::LifecycleStage),
        Some(&FieldRule::new(FieldPolicy::OwnerOnly).owned_by("billing"))
    );
    assert_eq!(
        rules.contact().get(&ContactField::JobTitle),
        Some(
            &FieldRule::new(FieldPolicy::SourcePrecedence {
                order: vec!["desk".to_owned(), "marketing".to_owned()],
            })
            .clearing()
        )
    );
    for system in ["billing", "desk", "marketing"] {
        assert!(rules.names_system(system), "{system}");
    }
    assert!(!rules.names_system("api"));
    assert_eq!(rules.entries().count(), 2);
}

#[test]
fn a_dictionary_refuses_what_it_cannot_enforce_naming_every_problem() {
    let mut owned_without_owner = entry("owner", FieldType::User, PolicyName::OwnerOnly);
    owned_without_owner.definition_owner = "sales".to_owned();
    let mut empty_order = entry("country", FieldType::Country, PolicyName::SourcePrecedence);
    empty_order.order = Vec::new();
    let mut owner_not_first = entry("address", FieldType::Address, PolicyName::SourcePrecedence);
    owner_not_first.order = vec!["desk".to_owned(), "billing".to_owned()];
    owner_not_first.system_of_record = Some("billing".to_owned());
    let mut stray_order = entry("date_of_birth", FieldType::Date, PolicyName::LastWriteWins);
    stray_order.order = vec!["desk".to_owned()];
    let mut nobody = entry("national_id", FieldType::Text, PolicyName::LastWriteWins);
    nobody.definition_owner = " ".to_owned();
    let mut deal = entry("amount", FieldType::Text, PolicyName::LastWriteWins);
    deal.entity = "deal".to_owned();
    let dictionary = DataDictionary {
        fields: vec![
            entry("job_title", FieldType::Text, PolicyName::LastWriteWins),
            entry("job_title", FieldType::Text, PolicyName::ManualReview),
            entry("shoe_size", FieldType::Text, PolicyName::LastWriteWins),
            entry("given_name", FieldType::Date, PolicyName::LastWriteWins),
            owned_without_owner,
            empty_order,
            owner_not_first,
            stray_order,
            nobody,
            deal,
        ],
    };
    let problems = dictionary.validate().unwrap_err();
    let named: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 9, "{named:#?}");
    assert!(
        matches!(&problems[0], DictionaryError::Duplicate { field, .. } if field == "job_title")
    );
    assert!(
        matches!(&problems[1], DictionaryError::UnknownField { field, .. } if field == "shoe_size")
    );
    assert!(matches!(
        &problems[2],
        DictionaryError::WrongType {
            declared: FieldType::Date,
            actual: FieldType::Text,
            ..
        }
    ));
    assert!(
        named[3].contains("owner_only needs a system_of_record"),
        "{}",
        named[3]
    );
    assert!(named[4].contains("needs an order"), "{}", named[4]);
    assert!(named[5].contains("must come first"), "{}", named[5]);
    assert!(
        named[6].contains("only for source_precedence"),
        "{}",
        named[6]
    );
    assert!(named[7].contains("definition_owner"), "{}", named[7]);
    assert!(matches!(&problems[8], DictionaryError::UnknownEntity { entity } if entity == "deal"));
}

#[test]
fn a_misspelt_key_is_refused_when_read() {
    let error = serde_json::from_str::<DataDictionary>(
        r#"{"fields": [{"entity": "contact", "field": "job_title", "type": "text",
            "policy": "last_write_wins", "definition_owner": "x", "empty_overwrite": true}]}"#,
    )
    .unwrap_err();
    assert!(error.to_string().contains("empty_overwrite"), "{error}");
}

/// The rules of a dictionary giving a deal's amount to billing, an account's addresses to
/// the ERP and a ticket's priority to the support desk.
fn owned_fields() -> SyncRules {
    let dictionary: DataDictionary = serde_json::from_str(
        r#"{"fields": [
            {"entity": "opportunity", "field": "amount", "type": "money",
             "policy": "owner_only", "system_of_record": "billing", "definition_owner": "finance"},
            {"entity": "account", "field": "addresses", "type": "address",
             "policy": "owner_only", "system_of_record": "erp", "definition_owner": "finance"},
            {"entity": "ticket", "field": "priority", "type": "priority",
             "policy": "owner_only", "system_of_record": "desk", "definition_owner": "support"}
        ]}"#,
    )
    .expect("the dictionary reads");
    dictionary.validate().expect("the dictionary is valid")
}

#[test]
fn a_field_of_a_deal_an_account_or_a_ticket_takes_only_its_system_of_record() {
    use crate::account::AccountField;
    use crate::opportunity::OpportunityField;
    use crate::ticket::TicketField;
    let rules = owned_fields();
    assert_eq!(
        rules.refusals_of(&[OpportunityField::Amount], "billing"),
        []
    );
    assert_eq!(
        rules.refusals_of(&[OpportunityField::Amount, OpportunityField::Stage], "api"),
        [SyncRefusal::OwnedElsewhere {
            entity: GovernedEntity::Opportunity,
            field: "amount".to_owned(),
            owner: "billing".to_owned(),
            source_system: "api".to_owned(),
        }]
    );
    assert_eq!(
        rules.refusals_of(&[AccountField::Addresses], "billing")[0].to_string(),
        "account.addresses is owned by erp; billing may not set it"
    );
    assert_eq!(rules.refusals_of(&[AccountField::Name], "billing"), []);
    assert_eq!(rules.refusals_of(&[TicketField::Priority], "desk"), []);
    assert_eq!(rules.refusals_of(&[TicketField::Priority], "erp").len(), 1);
    assert_eq!(rules.owner_of(TicketField::Priority), Some("desk"));
    assert_eq!(rules.owner_of(TicketField::Status), None);
    assert!(rules.owns_any(GovernedEntity::Account, "erp"));
    assert!(!rules.owns_any(GovernedEntity::Ticket, "erp"));
    assert!(rules.names_system("desk"));
}

#[test]
fn only_contacts_take_the_policies_that_need_each_values_source() {
    let problems = DataDictionary {
        fields: vec![
            DictionaryEntry {
                entity: "opportunity".to_owned(),
                ..entry("amount", FieldType::Money, PolicyName::LastWriteWins)
            },
            DictionaryEntry {
                entity: "ticket".to_owned(),
                ..entry("priority", FieldType::Text, PolicyName::OwnerOnly)
            },
            DictionaryEntry {
                entity: "account".to_owned(),
                ..entry("revenue", FieldType::Money, PolicyName::OwnerOnly)
            },
            DictionaryEntry {
                entity: "lead".to_owned(),
                ..entry("email", FieldType::Email, PolicyName::OwnerOnly)
            },
        ],
    }
    .validate()
    .expect_err("nothing here can be enforced");
    let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(said.len(), 4, "{said:?}");
    assert!(said[0].starts_with("opportunity.amount: opportunity fields take owner_only alone"));
    assert_eq!(
        said[1],
        "ticket.priority: declared text, but the field holds priority"
    );
    assert_eq!(said[2], "account.revenue: no such field");
    assert!(said[3].starts_with("lead: not an entity"), "{}", said[3]);
}

#[test]
fn a_command_names_the_fields_it_sets_beyond_what_a_record_must_open_with() {
    use crate::account::{AccountCommand, AccountField};
    use crate::identity::{CompanyDomain, CompanyName};
    use crate::ids::{CompanyId, UserId};
    use crate::opportunity::{OpportunityCommand, OpportunityField, StageId};
    use crate::ticket::{TicketCommand, TicketField};
    use crate::{Money, Priority};
    assert_eq!(
        OpportunityCommand::ChangeAmount {
            amount: Money::new(5, crate::Currency::new("EUR").expect("a currency"))
        }
        .fields(),
        [OpportunityField::Amount]
    );
    assert_eq!(OpportunityCommand::Win.fields(), [OpportunityField::Stage]);
    assert_eq!(
        OpportunityCommand::ChangeStage {
            to: StageId::new("proposal")
        }
        .fields(),
        [OpportunityField::Stage]
    );
    assert_eq!(
        TicketCommand::ChangePriority {
            priority: Priority::High
        }
        .fields(),
        [TicketField::Priority]
    );
    assert_eq!(
        TicketCommand::Reopen {
            reason: "back".into()
        }
        .fields(),
        [TicketField::Status]
    );
    let open = AccountCommand::Open {
        account: CompanyId(uuid::Uuid::from_u128(1)),
        name: CompanyName::new("Analytical Engines").expect("a name"),
        owner: UserId(uuid::Uuid::from_u128(2)),
        domains: vec![CompanyDomain::parse("engines.example").expect("a domain")],
        industry: None,
        employees: Some(40),
        addresses: Vec::new(),
    };
    assert_eq!(
        open.fields(),
        [AccountField::Domains, AccountField::Employees]
    );
    assert_eq!(AccountCommand::Archive.fields(), [AccountField::Status]);
}
