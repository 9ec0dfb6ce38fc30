use super::*;
use crate::Currency;
use crate::custom_fields::fixtures::{
    eur, field, key, opportunity_draft, opportunity_schema, option,
};
use crate::custom_fields::{
    CustomFieldConfig, Decimal, FieldKind, FieldOwner, PickOption, SchemaDraft, ValidationRule,
};

fn next_draft() -> SchemaDraft {
    SchemaDraft {
        version: SchemaVersion(4),
        ..opportunity_draft()
    }
}

fn evolve(edit: impl FnOnce(&mut SchemaDraft)) -> Result<SchemaChange, SchemaError> {
    let mut draft = next_draft();
    edit(&mut draft);
    let next = CustomFieldSchema::new(draft).expect("a valid next version");
    opportunity_schema().evolve_to(&next)
}

fn position(draft: &SchemaDraft, key_text: &str) -> usize {
    draft
        .fields
        .iter()
        .position(|f| f.key == key(key_text))
        .expect("an example field")
}

fn field_option(field: &str, option_key: &str) -> FieldOption {
    FieldOption {
        field: key(field),
        option: option(option_key),
    }
}

#[test]
fn a_new_version_may_add_deprecate_retire_and_relax() {
    let change = evolve(|draft| {
        draft
            .fields
            .push(field("renewal_date", "Renewal date", FieldType::Date));
        let po = position(draft, "po_number");
        draft.fields[po].deprecated = true;
        let legacy = position(draft, "legacy_code");
        draft.fields[legacy].deprecated = false;
        let tier = position(draft, "tier");
        if let FieldType::SinglePick { options } = &mut draft.fields[tier].field_type {
            options[0].retired = false; // bronze comes back
            options[1].retired = true; // silver goes
            options[2].label = "Gold plus".into();
            options.push(PickOption::new(option("diamond"), "Diamond"));
        }
        let discount = position(draft, "discount");
        draft.fields[discount].field_type = FieldType::Number {
            decimal_places: 1,
            min: None,
            max: Some(Decimal::from_integer(50)),
        };
        let partner = position(draft, "partner");
        draft.fields[partner].owner = FieldOwner::Integration {
            name: "billing-sync".into(),
        };
        draft
            .rules
            .retain(|rule| !matches!(rule, ValidationRule::Pattern { .. }));
    })
    .unwrap();
    assert_eq!(
        change,
        SchemaChange {
            entity: EntityKind::Opportunity,
            from: SchemaVersion(3),
            to: SchemaVersion(4),
            added_fields: vec![key("renewal_date")],
            deprecated_fields: vec![key("po_number")],
            restored_fields: vec![key("legacy_code")],
            added_options: vec![field_option("tier", "diamond")],
            retired_options: vec![field_option("tier", "silver")],
            restored_options: vec![field_option("tier", "bronze")],
            amended_fields: vec![key("discount"), key("tier"), key("partner")],
            rules_changed: true,
        }
    );
}

#[test]
fn an_unchanged_next_version_changes_nothing_but_the_number() {
    let change = evolve(|_| {}).unwrap();
    assert!(
        change.added_fields.is_empty() && change.amended_fields.is_empty() && !change.rules_changed
    );
}

#[test]
fn a_type_never_changes_in_place() {
    let error = evolve(|draft| {
        // The range rule would not apply to text; the new version drops it.
        draft
            .rules
            .retain(|rule| !rule.fields().contains(&&key("discount")));
        let discount = position(draft, "discount");
        draft.fields[discount].field_type = FieldType::Text { max_length: 10 };
    })
    .unwrap_err();
    assert_eq!(
        error.problems,
        vec![SchemaProblem::TypeChanged {
            entity: EntityKind::Opportunity,
            key: key("discount"),
            from: FieldKind::Number,
            to: FieldKind::Text,
        }]
    );
    assert_eq!(
        error.problems[0].to_string(),
        "opportunity field discount: its type cannot change from number to text; a changed type needs a new key (deprecate this one)"
    );
}

#[test]
fn a_single_pick_list_does_not_become_a_multi_pick_list() {
    let error = evolve(|draft| {
        draft
            .rules
            .retain(|rule| !matches!(rule, ValidationRule::Transitions { .. }));
        let tier = position(draft, "tier");
        let options = draft.fields[tier].field_type.options().to_vec();
        draft.fields[tier].field_type = FieldType::MultiPick { options };
    })
    .unwrap_err();
    assert_eq!(
        error.problems,
        vec![SchemaProblem::TypeChanged {
            entity: EntityKind::Opportunity,
            key: key("tier"),
            from: FieldKind::SinglePick,
            to: FieldKind::MultiPick,
        }]
    );
}

#[test]
fn a_currency_or_lookup_target_never_changes_in_place() {
    let usd = Currency::new("USD").unwrap();
    let error = evolve(|draft| {
        draft
            .rules
            .retain(|rule| !matches!(rule, ValidationRule::Compare { .. }));
        let renewal = position(draft, "renewal_value");
        draft.fields[renewal].field_type = FieldType::Money { currency: usd };
        let partner = position(draft, "partner");
        draft.fields[partner].field_type = FieldType::Lookup {
            target: EntityKind::Contact,
        };
    })
    .unwrap_err();
    assert_eq!(
        error.problems,
        vec![
            SchemaProblem::CurrencyChanged {
                entity: EntityKind::Opportunity,
                key: key("renewal_value"),
                from: eur(),
                to: usd,
            },
            SchemaProblem::LookupTargetChanged {
                entity: EntityKind::Opportunity,
                key: key("partner"),
                from: EntityKind::Account,
                to: EntityKind::Contact,
            },
        ]
    );
}

#[test]
fn fields_and_options_are_never_removed() {
    let error = evolve(|draft| {
        draft.fields.retain(|f| f.key != key("legacy_code"));
        let regions = position(draft, "regions");
        if let FieldType::MultiPick { options } = &mut draft.fields[regions].field_type {
            options.retain(|o| o.key != option("latam"));
        }
    })
    .unwrap_err();
    assert_eq!(
        error.problems,
        vec![
            SchemaProblem::FieldRemoved {
                entity: EntityKind::Opportunity,
                key: key("legacy_code")
            },
            SchemaProblem::OptionRemoved {
                entity: EntityKind::Opportunity,
                key: key("regions"),
                option: option("latam"),
            },
        ]
    );
}

#[test]
fn a_new_version_must_be_newer_and_for_the_same_entity() {
    let same = opportunity_schema();
    assert_eq!(
        same.evolve_to(&same).unwrap_err().problems,
        vec![SchemaProblem::VersionNotNewer {
            entity: EntityKind::Opportunity,
            current: SchemaVersion(3),
            next: SchemaVersion(3),
        }]
    );
    let other = CustomFieldSchema::new(SchemaDraft {
        entity: EntityKind::Ticket,
        version: SchemaVersion(9),
        fields: vec![],
        rules: vec![],
    })
    .unwrap();
    let problems = same.evolve_to(&other).unwrap_err().problems;
    assert_eq!(
        problems[0],
        SchemaProblem::EntityDiffers {
            current: EntityKind::Opportunity,
            next: EntityKind::Ticket
        }
    );
}

#[test]
fn a_configuration_evolves_entity_by_entity() {
    let current = CustomFieldConfig::new(vec![opportunity_draft()]).unwrap();
    let ticket = SchemaDraft {
        entity: EntityKind::Ticket,
        version: SchemaVersion::FIRST,
        fields: vec![field(
            "root_cause",
            "Root cause",
            FieldType::Text { max_length: 200 },
        )],
        rules: vec![],
    };
    let next = CustomFieldConfig::new(vec![opportunity_draft(), ticket.clone()]).unwrap();
    let changes = current.evolve_to(&next).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].entity, EntityKind::Ticket);
    assert_eq!(changes[0].from, SchemaVersion(0));
    assert_eq!(changes[0].added_fields, vec![key("root_cause")]);

    let dropped = CustomFieldConfig::new(vec![ticket]).unwrap();
    assert_eq!(
        next.evolve_to(&dropped).unwrap_err().problems,
        vec![SchemaProblem::SchemaRemoved {
            entity: EntityKind::Opportunity
        }]
    );
}
