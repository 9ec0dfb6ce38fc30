use serde_json::json;

use super::*;
use crate::custom_fields::FieldType;
use crate::custom_fields::fixtures::{
    choice, choices, date, euros, key, number, opportunity_schema, option, text, values,
};

fn filter(request: Value) -> Result<CustomFilter, FilterError> {
    let request: FilterRequest = serde_json::from_value(request).expect("a filter request");
    opportunity_schema().filter(&request)
}

fn record() -> CustomValues {
    values(&[
        ("po_number", text("PO-0001")),
        ("discount", number("12.50")),
        ("list_price", euros(100_000)),
        ("starts_on", date(2026, 3, 2)),
        ("tier", choice("bronze")),
        ("regions", choices(&["emea", "latam"])),
        ("legacy_code", text("A-1")),
    ])
}

fn matches(request: Value) -> bool {
    filter(request).expect("a valid filter").matches(&record())
}

#[test]
fn equals_compares_normalized_values() {
    assert!(matches(
        json!({"op": "equals", "field": "discount", "value": 12.5})
    ));
    assert!(matches(
        json!({"op": "equals", "field": "discount", "value": "12.500"})
    ));
    assert!(!matches(
        json!({"op": "equals", "field": "discount", "value": 12})
    ));
    assert!(matches(
        json!({"op": "equals", "field": "po_number", "value": " PO-0001 "})
    ));
    assert!(matches(
        json!({"op": "equals", "field": "regions", "value": ["LATAM", "emea"]})
    ));
    assert!(!matches(
        json!({"op": "equals", "field": "regions", "value": ["emea"]})
    ));
    assert!(!matches(
        json!({"op": "equals", "field": "strategic", "value": true})
    ));
}

#[test]
fn in_matches_any_of_the_values() {
    assert!(matches(
        json!({"op": "in", "field": "tier", "values": ["silver", "bronze"]})
    ));
    assert!(!matches(
        json!({"op": "in", "field": "tier", "values": ["silver", "gold"]})
    ));
}

#[test]
fn range_bounds_are_inclusive_and_either_may_be_absent() {
    assert!(matches(
        json!({"op": "range", "field": "starts_on", "min": "2026-03-02", "max": "2026-03-31"})
    ));
    assert!(!matches(
        json!({"op": "range", "field": "starts_on", "min": "2026-03-03"})
    ));
    assert!(matches(
        json!({"op": "range", "field": "list_price", "max": "1000 EUR"})
    ));
    assert!(!matches(
        json!({"op": "range", "field": "list_price", "max": 999.99})
    ));
    assert!(matches(
        json!({"op": "range", "field": "discount", "min": 12.5, "max": null})
    ));
    assert!(!matches(
        json!({"op": "range", "field": "renewal_value", "min": 0})
    ));
}

#[test]
fn is_set_asks_whether_a_field_has_a_value() {
    assert!(matches(
        json!({"op": "is_set", "field": "po_number", "set": true})
    ));
    assert!(matches(
        json!({"op": "is_set", "field": "partner", "set": false})
    ));
    assert!(!matches(
        json!({"op": "is_set", "field": "partner", "set": true})
    ));
}

#[test]
fn contains_asks_whether_a_multi_pick_list_holds_an_option() {
    assert!(matches(
        json!({"op": "contains", "field": "regions", "option": "emea"})
    ));
    assert!(!matches(
        json!({"op": "contains", "field": "regions", "option": "apac"})
    ));
}

#[test]
fn deprecated_fields_and_retired_options_can_be_looked_for() {
    assert!(matches(
        json!({"op": "equals", "field": "legacy_code", "value": "A-1"})
    ));
    assert!(matches(
        json!({"op": "equals", "field": "tier", "value": "bronze"})
    ));
    assert!(matches(
        json!({"op": "contains", "field": "regions", "option": "latam"})
    ));
}

#[test]
fn filters_that_do_not_fit_the_schema_are_refused() {
    assert_eq!(
        filter(json!({"op": "equals", "field": "nope", "value": 1})),
        Err(FilterError::UnknownField {
            field: "nope".into()
        })
    );
    assert_eq!(
        filter(json!({"op": "range", "field": "tier", "min": "gold"})),
        Err(FilterError::NotOrdered {
            field: key("tier"),
            kind: FieldKind::SinglePick
        })
    );
    assert_eq!(
        filter(json!({"op": "contains", "field": "tier", "option": "gold"})),
        Err(FilterError::NotMultiPick {
            field: key("tier"),
            kind: FieldKind::SinglePick
        })
    );
    assert_eq!(
        filter(json!({"op": "equals", "field": "discount", "value": "a lot"})),
        Err(FilterError::InvalidValue {
            field: key("discount"),
            error: FieldError::NotANumber {
                text: "a lot".into()
            }
        })
    );
    assert_eq!(
        filter(json!({"op": "contains", "field": "regions", "option": "mars"})),
        Err(FilterError::InvalidValue {
            field: key("regions"),
            error: FieldError::UnknownOption {
                option: "mars".into(),
                allowed: vec![option("emea"), option("apac"), option("amer")]
            }
        })
    );
    assert_eq!(
        filter(json!({"op": "in", "field": "tier", "values": []})),
        Err(FilterError::NoValues { field: key("tier") })
    );
    assert_eq!(
        filter(json!({"op": "range", "field": "discount"})),
        Err(FilterError::EmptyRange {
            field: key("discount")
        })
    );
    assert_eq!(
        filter(json!({"op": "range", "field": "discount", "min": 5, "max": 4})),
        Err(FilterError::EmptyRange {
            field: key("discount")
        })
    );
}

#[test]
fn a_validated_filter_names_its_field_and_serializes() {
    let validated = filter(json!({"op": "equals", "field": "tier", "value": "GOLD"})).unwrap();
    assert_eq!(validated.field(), &key("tier"));
    assert_eq!(
        serde_json::to_value(&validated).unwrap(),
        json!({"op": "equals", "field": "tier", "value": {"type": "choice", "value": "gold"}})
    );
}

#[test]
fn numbers_near_the_64_bit_limit_can_be_looked_for() {
    // 92233720368547758.07 fits with the field's two places but not with nine.
    let largest = json!("92233720368547758.07");
    let record = values(&[("discount_cap", number("92233720368547758.07"))]);
    let mut draft = crate::custom_fields::fixtures::opportunity_draft();
    draft.fields.push(crate::custom_fields::fixtures::field(
        "discount_cap",
        "Discount cap",
        FieldType::Number {
            decimal_places: 2,
            min: None,
            max: None,
        },
    ));
    let schema = CustomFieldSchema::new(draft).unwrap();
    let filter = schema
        .filter(&FilterRequest::Equals {
            field: "discount_cap".into(),
            value: largest,
        })
        .unwrap();
    assert!(filter.matches(&record));
}
