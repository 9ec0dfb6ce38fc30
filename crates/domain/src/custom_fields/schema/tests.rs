use serde_json::json;

use super::*;
use crate::custom_fields::fixtures::{
    choice, choices, date, euros, field, key, number, opportunity_draft, opportunity_schema,
    option, options, partner, text, values,
};
use crate::custom_fields::{
    CustomFieldConfig, CustomValue, Decimal, FieldOwner, FieldType, PickOption, RuleKind,
    StoredValue, ValueStatus,
};

fn changes(json: Value) -> Map<String, Value> {
    match json {
        Value::Object(map) => map,
        _ => panic!("changes are an object"),
    }
}

fn problem(field: &str, rule: RuleKind, message: &str) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        rule,
        message: message.into(),
    }
}

#[test]
fn the_example_schema_is_valid_and_reads_back_from_json() {
    let schema = opportunity_schema();
    assert_eq!(schema.entity(), EntityKind::Opportunity);
    assert_eq!(schema.version(), SchemaVersion(3));
    assert_eq!(schema.fields().len(), 11);
    let json = serde_json::to_value(&schema).unwrap();
    assert_eq!(
        json["fields"][1]["type"],
        json!({"kind": "number", "decimal_places": 2, "min": "0", "max": "100"})
    );
    assert_eq!(
        json["fields"][7]["type"]["options"][0],
        json!({"key": "bronze", "label": "Bronze", "retired": true})
    );
    assert_eq!(
        json["fields"][0]["owner"],
        json!({"kind": "administrators"})
    );
    assert_eq!(
        serde_json::from_value::<CustomFieldSchema>(json).unwrap(),
        schema
    );
}

#[test]
fn an_invalid_schema_is_refused_when_read_from_json() {
    let mut json = serde_json::to_value(opportunity_schema()).unwrap();
    json["version"] = json!(0);
    let error = serde_json::from_value::<CustomFieldSchema>(json).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the opportunity schema's version must be 1 or more"),
        "{error}"
    );
}

#[test]
fn every_problem_of_every_field_is_reported() {
    let entity = EntityKind::Ticket;
    let draft = SchemaDraft {
        entity,
        version: SchemaVersion(0),
        fields: vec![
            field("subject", "Subject", FieldType::Text { max_length: 10 }),
            field("region", " ", FieldType::Text { max_length: 0 }),
            field("region", &"L".repeat(201), FieldType::Boolean),
            FieldDefinition {
                help_text: Some("h".repeat(2_001)),
                owner: FieldOwner::Integration { name: " ".into() },
                required: true,
                deprecated: true,
                ..field(
                    "old_code",
                    "Old code",
                    FieldType::Text {
                        max_length: 100_001,
                    },
                )
            },
            field(
                "effort",
                "Effort",
                FieldType::Number {
                    decimal_places: 10,
                    min: Some("0.5".parse().unwrap()),
                    max: None,
                },
            ),
            field(
                "hours",
                "Hours",
                FieldType::Number {
                    decimal_places: 0,
                    min: Some(Decimal::from_integer(5)),
                    max: Some(Decimal::from_integer(1)),
                },
            ),
            field("kinds", "Kinds", FieldType::MultiPick { options: vec![] }),
            field(
                "level",
                "Level",
                FieldType::SinglePick {
                    options: options(&[("low", "Low", true), ("low", "", true)]),
                },
            ),
        ],
        rules: vec![],
    };
    let problems = CustomFieldSchema::new(draft).unwrap_err().problems;
    assert_eq!(
        problems,
        vec![
            SchemaProblem::VersionZero { entity },
            SchemaProblem::KeyClashesWithBuiltIn {
                entity,
                key: key("subject")
            },
            SchemaProblem::BlankLabel {
                entity,
                key: key("region")
            },
            SchemaProblem::TextLengthOutOfBounds {
                entity,
                key: key("region"),
                max_length: 0
            },
            SchemaProblem::DuplicateField {
                entity,
                key: key("region")
            },
            SchemaProblem::LabelTooLong {
                entity,
                key: key("region")
            },
            SchemaProblem::HelpTextTooLong {
                entity,
                key: key("old_code")
            },
            SchemaProblem::BlankOwner {
                entity,
                key: key("old_code")
            },
            SchemaProblem::RequiredButDeprecated {
                entity,
                key: key("old_code")
            },
            SchemaProblem::TextLengthOutOfBounds {
                entity,
                key: key("old_code"),
                max_length: 100_001
            },
            SchemaProblem::TooManyDecimalPlaces {
                entity,
                key: key("effort"),
                places: 10
            },
            SchemaProblem::BoundsInverted {
                entity,
                key: key("hours"),
                min: Decimal::from_integer(5),
                max: Decimal::from_integer(1)
            },
            SchemaProblem::EmptyPickList {
                entity,
                key: key("kinds")
            },
            SchemaProblem::DuplicateOption {
                entity,
                key: key("level"),
                option: option("low")
            },
            SchemaProblem::OptionLabelInvalid {
                entity,
                key: key("level"),
                option: option("low")
            },
            SchemaProblem::EveryOptionRetired {
                entity,
                key: key("level")
            },
        ]
    );
}

#[test]
fn a_bound_more_precise_than_its_field_is_refused() {
    let draft = SchemaDraft {
        entity: EntityKind::Task,
        version: SchemaVersion::FIRST,
        fields: vec![field(
            "effort",
            "Effort",
            FieldType::Number {
                decimal_places: 0,
                min: Some("0.5".parse().unwrap()),
                max: None,
            },
        )],
        rules: vec![],
    };
    assert_eq!(
        CustomFieldSchema::new(draft).unwrap_err().problems,
        vec![SchemaProblem::BoundTooPrecise {
            entity: EntityKind::Task,
            key: key("effort"),
            bound: "0.5".parse().unwrap(),
            places: 0
        }]
    );
}

#[test]
fn the_error_lists_every_problem_in_one_message() {
    let draft = SchemaDraft {
        entity: EntityKind::Lead,
        version: SchemaVersion(0),
        fields: vec![field("email", "Email", FieldType::Text { max_length: 10 })],
        rules: vec![],
    };
    assert_eq!(
        CustomFieldSchema::new(draft).unwrap_err().to_string(),
        "the custom field configuration has 2 problems: the lead schema's version must be 1 or more; \
         lead field email: the key is a built-in lead field; choose another key"
    );
}

#[test]
fn too_many_fields_and_too_many_options_are_refused() {
    let many_options: Vec<PickOption> = (0..=MAX_FIELDS.max(crate::custom_fields::MAX_OPTIONS))
        .map(|at| PickOption::new(option(&format!("o{at}")), format!("Option {at}")))
        .collect();
    let mut fields: Vec<FieldDefinition> = (0..=MAX_FIELDS)
        .map(|at| field(&format!("f{at}"), "F", FieldType::Boolean))
        .collect();
    fields[0].field_type = FieldType::SinglePick {
        options: many_options,
    };
    let problems = CustomFieldSchema::new(SchemaDraft {
        entity: EntityKind::Account,
        version: SchemaVersion::FIRST,
        fields,
        rules: vec![],
    })
    .unwrap_err()
    .problems;
    assert_eq!(
        problems,
        vec![
            SchemaProblem::TooManyFields {
                entity: EntityKind::Account,
                count: MAX_FIELDS + 1
            },
            SchemaProblem::TooManyOptions {
                entity: EntityKind::Account,
                key: key("f0"),
                count: 1_001
            },
        ]
    );
}

#[test]
fn a_configuration_reports_the_problems_of_all_its_schemas() {
    let bad_lead = SchemaDraft {
        entity: EntityKind::Lead,
        version: SchemaVersion::FIRST,
        fields: vec![field("email", "Email", FieldType::Boolean)],
        rules: vec![],
    };
    let bad_task = SchemaDraft {
        entity: EntityKind::Task,
        version: SchemaVersion(0),
        fields: vec![],
        rules: vec![],
    };
    let error = CustomFieldConfig::new(vec![
        opportunity_draft(),
        bad_lead,
        bad_task,
        opportunity_draft(),
    ])
    .unwrap_err();
    assert_eq!(
        error.problems,
        vec![
            SchemaProblem::KeyClashesWithBuiltIn {
                entity: EntityKind::Lead,
                key: key("email")
            },
            SchemaProblem::VersionZero {
                entity: EntityKind::Task
            },
            SchemaProblem::DuplicateSchema {
                entity: EntityKind::Opportunity
            },
        ]
    );
}

#[test]
fn a_configuration_answers_for_every_entity() {
    let config = CustomFieldConfig::new(vec![opportunity_draft()]).unwrap();
    assert_eq!(config.schema(EntityKind::Opportunity), opportunity_schema());
    let contact = config.schema(EntityKind::Contact);
    assert_eq!(
        (contact.version(), contact.fields().len()),
        (SchemaVersion(0), 0)
    );
    assert!(config.declared(EntityKind::Contact).is_none());
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(
        serde_json::from_value::<CustomFieldConfig>(json).unwrap(),
        config
    );
}

#[test]
fn applying_changes_reads_each_value_and_clears_on_null() {
    let schema = opportunity_schema();
    let before = values(&[("po_number", text("PO-0001")), ("tier", choice("silver"))]);
    let after = schema
        .apply(
            &before,
            &changes(json!({
                "po_number": null,
                "discount": "12.5",
                "renewal_value": "900 EUR",
                "starts_on": "2026-01-01",
                "strategic": true,
                "tier": "GOLD",
                "regions": ["emea"],
                "partner": crate::custom_fields::fixtures::PARTNER.to_string(),
            })),
        )
        .unwrap();
    assert_eq!(
        after,
        values(&[
            ("discount", number("12.50")),
            ("renewal_value", euros(90_000)),
            ("starts_on", date(2026, 1, 1)),
            ("strategic", CustomValue::Boolean(true)),
            ("tier", choice("gold")),
            ("regions", choices(&["emea"])),
            ("partner", partner()),
        ])
    );
    assert_eq!(
        serde_json::to_value(before.change_to(&after)).unwrap()["cleared"],
        json!(["po_number"])
    );
}

#[test]
fn applying_changes_reports_every_value_that_cannot_be_set() {
    let schema = opportunity_schema();
    let problems = schema
        .apply(
            &CustomValues::new(),
            &changes(json!({
                "discount": "lots",
                "legacy_code": "X1",
                "No Such": 1,
                "tier": "bronze",
                "unknown_field": "x",
            })),
        )
        .unwrap_err();
    assert_eq!(
        problems,
        vec![
            problem(
                "No Such",
                RuleKind::Value,
                "No Such: is not a field of this record."
            ),
            problem(
                "discount",
                RuleKind::Value,
                "Discount: \"lots\" is not a number (digits with an optional decimal point, such as 1234.56)."
            ),
            problem(
                "legacy_code",
                RuleKind::Value,
                "Legacy code: is deprecated and can no longer be set; it can only be cleared."
            ),
            problem(
                "tier",
                RuleKind::Value,
                "Tier: the option bronze is retired and can no longer be chosen."
            ),
            problem(
                "unknown_field",
                RuleKind::Value,
                "unknown_field: is not a field of this record."
            ),
        ]
    );
}

#[test]
fn resending_the_current_value_is_never_an_error() {
    let schema = opportunity_schema();
    // Recorded before the field was deprecated, bronze retired and the discount's places cut.
    let before = values(&[
        ("legacy_code", text("A-1")),
        ("tier", choice("bronze")),
        ("regions", choices(&["latam", "emea"])),
        ("discount", number("12.125")),
    ]);
    let resent = changes(json!({
        "legacy_code": "A-1",
        "tier": "bronze",
        "regions": ["emea", "latam"],
        "discount": "12.125",
    }));
    assert_eq!(schema.apply(&before, &resent), Ok(before.clone()));
    assert_eq!(schema.validate_change(&before, &resent), Ok(before.clone()));
    // A deprecated field can still be cleared.
    let cleared = schema
        .apply(&before, &changes(json!({"legacy_code": null})))
        .unwrap();
    assert_eq!(cleared.get(&key("legacy_code")), None);
}

#[test]
fn a_stored_value_of_an_unknown_key_can_be_cleared() {
    let schema = opportunity_schema();
    let before = values(&[("gone_field", text("x"))]);
    assert_eq!(
        schema.apply(&before, &changes(json!({"gone_field": null}))),
        Ok(CustomValues::new())
    );
}

#[test]
fn validating_a_change_reports_unreadable_values_and_broken_rules_together() {
    let schema = opportunity_schema();
    let problems = schema
        .validate_change(
            &CustomValues::new(),
            &changes(json!({"discount": "45", "starts_on": "2026-02-30", "po_number": "12"})),
        )
        .unwrap_err();
    assert_eq!(
        problems,
        vec![
            problem(
                "starts_on",
                RuleKind::Value,
                "Start date: \"2026-02-30\" is not a date (YYYY-MM-DD)."
            ),
            problem("discount", RuleKind::Range, "Discount must be at most 30."),
            problem(
                "po_number",
                RuleKind::Pattern,
                "Purchase order must have the form PO-#### (# a digit, @ a letter, * a letter or digit)."
            ),
        ]
    );
    let ok = schema.validate_change(&CustomValues::new(), &changes(json!({"discount": "25"})));
    assert_eq!(ok, Ok(values(&[("discount", number("25.00"))])));
}

#[test]
fn old_values_read_under_a_newer_schema_are_kept_and_classified() {
    let schema = opportunity_schema();
    let recorded = values(&[
        ("po_number", text("PO-0001")),
        ("legacy_code", text("A-1")),
        ("tier", choice("bronze")),
        ("regions", choices(&["latam", "emea"])),
        ("strategic", CustomValue::Boolean(true)),
        ("gone_field", number("1")),
        ("discount", text("twelve")),
        ("renewal_value", euros(125_000)),
    ]);
    let shown: Vec<(String, String, String, ValueStatus)> = schema
        .read_stored(&recorded)
        .into_iter()
        .map(
            |StoredValue {
                 key,
                 label,
                 text,
                 status,
                 ..
             }| (key.to_string(), label, text, status),
        )
        .collect();
    let row = |key: &str, label: &str, text: &str, status: ValueStatus| {
        (key.to_owned(), label.to_owned(), text.to_owned(), status)
    };
    assert_eq!(
        shown,
        vec![
            row(
                "po_number",
                "Purchase order",
                "PO-0001",
                ValueStatus::Current
            ),
            row("discount", "Discount", "twelve", ValueStatus::Unrecognized),
            row(
                "renewal_value",
                "Renewal value",
                "1250.00 EUR",
                ValueStatus::Current
            ),
            row("strategic", "Strategic", "Yes", ValueStatus::Current),
            row(
                "tier",
                "Tier",
                "Bronze (retired)",
                ValueStatus::RetiredOption {
                    options: vec![option("bronze")]
                }
            ),
            row(
                "regions",
                "Regions",
                "EMEA, LATAM (retired)",
                ValueStatus::RetiredOption {
                    options: vec![option("latam")]
                }
            ),
            row(
                "legacy_code",
                "Legacy code",
                "A-1",
                ValueStatus::DeprecatedField
            ),
            row("gone_field", "gone_field", "1", ValueStatus::UnknownField),
        ]
    );
    assert_eq!(
        serde_json::to_value(&schema.read_stored(&values(&[("tier", choice("bronze"))]))[0])
            .unwrap(),
        json!({
            "key": "tier",
            "label": "Tier",
            "value": {"type": "choice", "value": "bronze"},
            "text": "Bronze (retired)",
            "status": {"status": "retired_option", "options": ["bronze"]}
        })
    );
}
