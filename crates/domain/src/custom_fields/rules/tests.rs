use super::*;
use crate::custom_fields::fixtures::{
    choice, choices, date, euros, key, number, opportunity_schema, option, partner,
    schema_with_rules, text, values,
};
use crate::custom_fields::{CharClass, SchemaDraft, SchemaVersion};

fn problem(field: &str, rule: RuleKind, message: &str) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        rule,
        message: message.into(),
    }
}

fn check(before: &CustomValues, after: &CustomValues) -> Result<(), Vec<FieldProblem>> {
    opportunity_schema().rules().check(before, after)
}

fn fresh(after: &CustomValues) -> Result<(), Vec<FieldProblem>> {
    check(&CustomValues::new(), after)
}

#[test]
fn values_satisfying_every_rule_pass() {
    let after = values(&[
        ("po_number", text("PO-1234")),
        ("discount", number("12.50")),
        ("renewal_value", euros(90_000)),
        ("list_price", euros(100_000)),
        ("starts_on", date(2026, 1, 1)),
        ("ends_on", date(2026, 12, 31)),
        ("strategic", CustomValue::Boolean(true)),
        ("partner", partner()),
        ("tier", choice("silver")),
        ("regions", choices(&["emea", "apac"])),
    ]);
    assert_eq!(fresh(&after), Ok(()));
    assert_eq!(fresh(&CustomValues::new()), Ok(()));
}

#[test]
fn a_required_field_must_have_a_value() {
    let schema = schema_with_rules(vec![ValidationRule::Required {
        field: key("po_number"),
    }]);
    assert_eq!(
        schema
            .rules()
            .check(&CustomValues::new(), &CustomValues::new()),
        Err(vec![problem(
            "po_number",
            RuleKind::Required,
            "Purchase order is required."
        )])
    );
}

#[test]
fn the_required_flag_of_a_field_is_a_rule_too_and_is_reported_once() {
    let mut draft = crate::custom_fields::fixtures::opportunity_draft();
    draft.fields[0].required = true;
    draft.rules = vec![ValidationRule::Required {
        field: key("po_number"),
    }];
    let schema = CustomFieldSchema::new(draft).unwrap();
    assert_eq!(
        schema
            .rules()
            .check(&CustomValues::new(), &CustomValues::new()),
        Err(vec![problem(
            "po_number",
            RuleKind::Required,
            "Purchase order is required."
        )])
    );
}

#[test]
fn a_field_can_be_required_when_another_has_a_value() {
    assert_eq!(
        fresh(&values(&[("starts_on", date(2026, 1, 1))])),
        Err(vec![problem(
            "ends_on",
            RuleKind::RequiredWhen,
            "End date is required when Start date is set."
        )])
    );
}

#[test]
fn a_field_can_be_required_when_another_has_a_specific_value() {
    assert_eq!(
        fresh(&values(&[("strategic", CustomValue::Boolean(true))])),
        Err(vec![problem(
            "partner",
            RuleKind::RequiredWhen,
            "Partner is required when Strategic is Yes."
        )])
    );
    assert_eq!(
        fresh(&values(&[("strategic", CustomValue::Boolean(false))])),
        Ok(())
    );
}

#[test]
fn a_multi_pick_list_condition_on_one_option_means_includes() {
    let schema = schema_with_rules(vec![ValidationRule::RequiredWhen {
        field: key("po_number"),
        when: key("regions"),
        equals: Some(choice("apac")),
    }]);
    let after = values(&[("regions", choices(&["apac", "emea"]))]);
    assert_eq!(
        schema.rules().check(&CustomValues::new(), &after),
        Err(vec![problem(
            "po_number",
            RuleKind::RequiredWhen,
            "Purchase order is required when Regions is APAC."
        )])
    );
    let after = values(&[("regions", choices(&["emea"]))]);
    assert_eq!(schema.rules().check(&CustomValues::new(), &after), Ok(()));
}

#[test]
fn numbers_must_lie_in_their_range() {
    assert_eq!(
        fresh(&values(&[("discount", number("30.01"))])),
        Err(vec![problem(
            "discount",
            RuleKind::Range,
            "Discount must be at most 30."
        )])
    );
    assert_eq!(fresh(&values(&[("discount", number("30"))])), Ok(()));
}

#[test]
fn dates_must_lie_in_their_range() {
    assert_eq!(
        fresh(&values(&[
            ("starts_on", date(2019, 12, 31)),
            ("ends_on", date(2020, 1, 1))
        ])),
        Err(vec![problem(
            "starts_on",
            RuleKind::Range,
            "Start date must be between 2020-01-01 and 2035-12-31."
        )])
    );
    let schema = schema_with_rules(vec![ValidationRule::Range {
        field: key("ends_on"),
        min: Some(date(2026, 1, 1)),
        max: None,
    }]);
    assert_eq!(
        schema.rules().check(
            &CustomValues::new(),
            &values(&[("ends_on", date(2025, 6, 1))])
        ),
        Err(vec![problem(
            "ends_on",
            RuleKind::Range,
            "End date must be on or after 2026-01-01."
        )])
    );
}

#[test]
fn money_must_lie_in_its_range() {
    let schema = schema_with_rules(vec![ValidationRule::Range {
        field: key("list_price"),
        min: Some(euros(100)),
        max: None,
    }]);
    assert_eq!(
        schema
            .rules()
            .check(&CustomValues::new(), &values(&[("list_price", euros(99))])),
        Err(vec![problem(
            "list_price",
            RuleKind::Range,
            "List price must be at least 1.00 EUR."
        )])
    );
}

#[test]
fn text_must_have_its_pattern() {
    assert_eq!(
        fresh(&values(&[("po_number", text("PO-12"))])),
        Err(vec![problem(
            "po_number",
            RuleKind::Pattern,
            "Purchase order must have the form PO-#### (# a digit, @ a letter, * a letter or digit)."
        )])
    );
    let schema = schema_with_rules(vec![ValidationRule::Pattern {
        field: key("po_number"),
        pattern: TextPattern::OnlyCharacters {
            classes: vec![CharClass::Digit],
            also: String::new(),
        },
        message: Some("Enter the purchase order number without its PO- prefix.".into()),
    }]);
    assert_eq!(
        schema.rules().check(
            &CustomValues::new(),
            &values(&[("po_number", text("PO-1"))])
        ),
        Err(vec![problem(
            "po_number",
            RuleKind::Pattern,
            "Enter the purchase order number without its PO- prefix."
        )])
    );
}

#[test]
fn a_single_pick_list_changes_only_along_its_transitions() {
    let before = values(&[("tier", choice("silver"))]);
    assert_eq!(check(&before, &values(&[("tier", choice("gold"))])), Ok(()));
    assert_eq!(
        check(&before, &values(&[("tier", choice("platinum"))])),
        Err(vec![problem(
            "tier",
            RuleKind::Transition,
            "Tier cannot change from Silver to Platinum; from Silver it can change to Gold."
        )])
    );
    let platinum = values(&[("tier", choice("platinum"))]);
    assert_eq!(
        check(&platinum, &values(&[("tier", choice("gold"))])),
        Err(vec![problem(
            "tier",
            RuleKind::Transition,
            "Tier cannot change from Platinum to Gold; Platinum cannot be changed to another option."
        )])
    );
}

#[test]
fn setting_a_first_option_clearing_and_keeping_are_not_transitions() {
    let platinum = values(&[("tier", choice("platinum"))]);
    assert_eq!(fresh(&platinum), Ok(()));
    assert_eq!(check(&platinum, &CustomValues::new()), Ok(()));
    assert_eq!(check(&platinum, &platinum), Ok(()));
}

#[test]
fn dates_compare_as_the_rule_says() {
    assert_eq!(
        fresh(&values(&[
            ("starts_on", date(2026, 6, 1)),
            ("ends_on", date(2026, 5, 31))
        ])),
        Err(vec![problem(
            "starts_on",
            RuleKind::Comparison,
            "Start date must be on or before End date (Start date is 2026-06-01, End date is 2026-05-31)."
        )])
    );
    assert_eq!(
        fresh(&values(&[
            ("starts_on", date(2026, 6, 1)),
            ("ends_on", date(2026, 6, 1))
        ])),
        Ok(())
    );
}

#[test]
fn money_of_one_currency_compares_as_the_rule_says() {
    assert_eq!(
        fresh(&values(&[
            ("renewal_value", euros(100_001)),
            ("list_price", euros(100_000))
        ])),
        Err(vec![problem(
            "renewal_value",
            RuleKind::Comparison,
            "Renewal value must be at most List price (Renewal value is 1000.01 EUR, List price is 1000.00 EUR)."
        )])
    );
    // With one side unset there is nothing to compare.
    assert_eq!(fresh(&values(&[("renewal_value", euros(100_001))])), Ok(()));
}

#[test]
fn numbers_compare_strictly_when_the_rule_says_so() {
    let mut draft = crate::custom_fields::fixtures::opportunity_draft();
    draft.fields.push(crate::custom_fields::fixtures::field(
        "floor",
        "Floor discount",
        FieldType::Number {
            decimal_places: 1,
            min: None,
            max: None,
        },
    ));
    draft.rules = vec![ValidationRule::Compare {
        left: key("floor"),
        comparison: Comparison::LessThan,
        right: key("discount"),
    }];
    let schema = CustomFieldSchema::new(draft).unwrap();
    let after = values(&[("floor", number("12.5")), ("discount", number("12.50"))]);
    assert_eq!(
        schema.rules().check(&CustomValues::new(), &after),
        Err(vec![problem(
            "floor",
            RuleKind::Comparison,
            "Floor discount must be less than Discount (Floor discount is 12.5, Discount is 12.50)."
        )])
    );
}

#[test]
fn every_problem_is_reported_in_a_fixed_order() {
    let before = values(&[("tier", choice("silver"))]);
    let after = values(&[
        ("po_number", text("X")),
        ("discount", number("45")),
        ("starts_on", date(2026, 6, 1)),
        ("strategic", CustomValue::Boolean(true)),
        ("tier", choice("platinum")),
        ("legacy_code", text("A1")),
        ("regions", choices(&["latam"])),
    ]);
    let problems = check(&before, &after).unwrap_err();
    let found: Vec<(&str, RuleKind)> = problems
        .iter()
        .map(|p| (p.field.as_str(), p.rule))
        .collect();
    assert_eq!(
        found,
        vec![
            ("legacy_code", RuleKind::Value),
            ("regions", RuleKind::Value),
            ("ends_on", RuleKind::RequiredWhen),
            ("partner", RuleKind::RequiredWhen),
            ("discount", RuleKind::Range),
            ("po_number", RuleKind::Pattern),
            ("tier", RuleKind::Transition),
        ]
    );
    assert_eq!(
        problems[0].message,
        "Legacy code: is deprecated and can no longer be set; it can only be cleared."
    );
    assert_eq!(
        problems[1].message,
        "Regions: the option latam is retired and can no longer be chosen."
    );
    assert_eq!(
        check(&before, &after),
        Err(problems),
        "the same values give the same report"
    );
}

#[test]
fn values_the_command_changes_must_fit_their_fields() {
    let after = values(&[
        ("discount", number("101")),
        ("no_such_field", text("x")),
        ("tier", text("gold")),
    ]);
    assert_eq!(
        fresh(&after),
        Err(vec![
            problem(
                "discount",
                RuleKind::Value,
                "Discount: must be at most 100."
            ),
            problem(
                "no_such_field",
                RuleKind::Value,
                "no_such_field: is not a field of this record."
            ),
            problem(
                "tier",
                RuleKind::Value,
                "Tier: holds a text value but the field is a pick-list field."
            ),
            problem("discount", RuleKind::Range, "Discount must be at most 30."),
        ])
    );
}

#[test]
fn values_the_command_leaves_alone_are_not_examined_again() {
    // Recorded when the deprecated field was current and bronze was still offered.
    let before = values(&[
        ("legacy_code", text("A-1")),
        ("tier", choice("bronze")),
        ("regions", choices(&["latam", "emea"])),
    ]);
    let mut after = before.clone();
    after.set(key("strategic"), CustomValue::Boolean(false));
    assert_eq!(check(&before, &after), Ok(()));
    // Adding an option to a multi pick-list keeps the retired one it already holds.
    after.set(key("regions"), choices(&["latam", "emea", "apac"]));
    assert_eq!(check(&before, &after), Ok(()));
}

#[test]
fn rules_apply_to_every_value_after_the_command() {
    // A record whose discount was recorded before the 30% cap: the next command must fix it.
    let before = values(&[("discount", number("45"))]);
    let mut after = before.clone();
    after.set(key("po_number"), text("PO-0001"));
    assert_eq!(
        check(&before, &after),
        Err(vec![problem(
            "discount",
            RuleKind::Range,
            "Discount must be at most 30."
        )])
    );
}

#[test]
fn rule_kinds_and_fields_are_named() {
    let rules = opportunity_schema().validation_rules().to_vec();
    let kinds: Vec<RuleKind> = rules.iter().map(ValidationRule::kind).collect();
    assert_eq!(
        kinds,
        vec![
            RuleKind::RequiredWhen,
            RuleKind::RequiredWhen,
            RuleKind::Range,
            RuleKind::Range,
            RuleKind::Pattern,
            RuleKind::Transition,
            RuleKind::Comparison,
            RuleKind::Comparison,
        ]
    );
    assert_eq!(rules[6].fields(), vec![&key("starts_on"), &key("ends_on")]);
}

#[test]
fn rules_are_configured_as_tagged_json() {
    let json = serde_json::json!([
        {"rule": "required", "field": "po_number"},
        {"rule": "required_when", "field": "partner", "when": "tier", "equals": {"type": "choice", "value": "gold"}},
        {"rule": "range", "field": "discount", "max": {"type": "number", "value": "30"}},
        {"rule": "pattern", "field": "po_number", "pattern": {"kind": "starts_with", "text": "PO-"}},
        {"rule": "transitions", "field": "tier", "allowed": [{"from": "silver", "to": "gold"}]},
        {"rule": "compare", "left": "starts_on", "comparison": "at_most", "right": "ends_on"}
    ]);
    let rules: Vec<ValidationRule> = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&rules).unwrap(), json);
    let schema = CustomFieldSchema::new(SchemaDraft {
        entity: EntityKind::Opportunity,
        version: SchemaVersion(1),
        fields: crate::custom_fields::fixtures::opportunity_fields(),
        rules,
    });
    assert!(schema.is_ok());
}

#[test]
fn invalid_rules_are_refused_with_every_problem() {
    let mut draft = crate::custom_fields::fixtures::opportunity_draft();
    draft.rules = vec![
        ValidationRule::Required { field: key("nope") },
        ValidationRule::Required {
            field: key("legacy_code"),
        },
        ValidationRule::Range {
            field: key("po_number"),
            min: None,
            max: Some(number("3")),
        },
        ValidationRule::Range {
            field: key("discount"),
            min: None,
            max: None,
        },
        ValidationRule::Range {
            field: key("discount"),
            min: Some(number("5")),
            max: Some(number("4")),
        },
        ValidationRule::Range {
            field: key("starts_on"),
            min: Some(number("5")),
            max: None,
        },
        ValidationRule::Pattern {
            field: key("po_number"),
            pattern: TextPattern::Contains {
                text: String::new(),
            },
            message: None,
        },
        ValidationRule::Transitions {
            field: key("tier"),
            allowed: vec![],
        },
        ValidationRule::Transitions {
            field: key("tier"),
            allowed: vec![Transition {
                from: option("gold"),
                to: option("diamond"),
            }],
        },
        ValidationRule::Transitions {
            field: key("regions"),
            allowed: vec![],
        },
        ValidationRule::Compare {
            left: key("starts_on"),
            comparison: Comparison::AtMost,
            right: key("discount"),
        },
        ValidationRule::Compare {
            left: key("discount"),
            comparison: Comparison::AtMost,
            right: key("discount"),
        },
        ValidationRule::RequiredWhen {
            field: key("po_number"),
            when: key("po_number"),
            equals: None,
        },
        ValidationRule::RequiredWhen {
            field: key("po_number"),
            when: key("tier"),
            equals: Some(choice("diamond")),
        },
    ];
    let entity = EntityKind::Opportunity;
    let problems = CustomFieldSchema::new(draft).unwrap_err().problems;
    assert_eq!(
        problems,
        vec![
            SchemaProblem::RuleUnknownField {
                entity,
                rule: 0,
                field: key("nope")
            },
            SchemaProblem::RuleOnDeprecatedField {
                entity,
                rule: 1,
                field: key("legacy_code")
            },
            SchemaProblem::RuleDoesNotApply {
                entity,
                rule: 2,
                rule_kind: RuleKind::Range,
                field: key("po_number"),
                kind: FieldKind::Text
            },
            SchemaProblem::RuleEmptyRange {
                entity,
                rule: 3,
                field: key("discount")
            },
            SchemaProblem::RuleRangeInverted {
                entity,
                rule: 4,
                field: key("discount")
            },
            SchemaProblem::RuleValueDoesNotFit {
                entity,
                rule: 5,
                field: key("starts_on"),
                error: FieldError::WrongKind {
                    expected: FieldKind::Date,
                    found: FieldKind::Number
                }
            },
            SchemaProblem::RuleEmptyPattern {
                entity,
                rule: 6,
                field: key("po_number")
            },
            SchemaProblem::RuleInvalidTransitions {
                entity,
                rule: 7,
                field: key("tier")
            },
            SchemaProblem::RuleUnknownOption {
                entity,
                rule: 8,
                field: key("tier"),
                option: option("diamond")
            },
            SchemaProblem::RuleDoesNotApply {
                entity,
                rule: 9,
                rule_kind: RuleKind::Transition,
                field: key("regions"),
                kind: FieldKind::MultiPick
            },
            SchemaProblem::RuleIncomparable {
                entity,
                rule: 10,
                left: key("starts_on"),
                left_kind: FieldKind::Date,
                right: key("discount"),
                right_kind: FieldKind::Number
            },
            SchemaProblem::RuleSelfReference {
                entity,
                rule: 11,
                field: key("discount")
            },
            SchemaProblem::RuleSelfReference {
                entity,
                rule: 12,
                field: key("po_number")
            },
            SchemaProblem::RuleValueDoesNotFit {
                entity,
                rule: 13,
                field: key("tier"),
                error: FieldError::UnknownOption {
                    option: "diamond".into(),
                    allowed: vec![
                        option("bronze"),
                        option("silver"),
                        option("gold"),
                        option("platinum")
                    ]
                }
            },
        ]
    );
}

#[test]
fn money_compared_across_currencies_is_refused() {
    let mut draft = crate::custom_fields::fixtures::opportunity_draft();
    draft.fields.push(crate::custom_fields::fixtures::field(
        "usd_price",
        "US price",
        FieldType::Money {
            currency: crate::Currency::new("USD").unwrap(),
        },
    ));
    draft.rules = vec![ValidationRule::Compare {
        left: key("list_price"),
        comparison: Comparison::AtLeast,
        right: key("usd_price"),
    }];
    assert_eq!(
        CustomFieldSchema::new(draft).unwrap_err().problems,
        vec![SchemaProblem::RuleCurrenciesDiffer {
            entity: EntityKind::Opportunity,
            rule: 0,
            left: key("list_price"),
            left_currency: crate::custom_fields::fixtures::eur(),
            right: key("usd_price"),
            right_currency: crate::Currency::new("USD").unwrap(),
        }]
    );
}
