use serde_json::json;

use super::*;
use crate::custom_fields::fixtures::{
    PARTNER, choice, choices, date, euros, key, number, opportunity_schema, option, partner, text,
};

fn definition(key_text: &str) -> FieldDefinition {
    opportunity_schema()
        .field(&key(key_text))
        .expect("an example field")
        .clone()
}

fn parse(key_text: &str, input: &Value) -> Result<CustomValue, FieldError> {
    definition(key_text).parse(input)
}

#[test]
fn text_is_trimmed_and_composed() {
    assert_eq!(
        parse("po_number", &json!("  PO-1234 \n")),
        Ok(text("PO-1234"))
    );
    // "e" followed by a combining acute accent becomes one "é".
    assert_eq!(
        parse("po_number", &json!("Cafe\u{301}")),
        Ok(text("Caf\u{e9}"))
    );
    assert_eq!(
        parse("po_number", &json!("line one\nline two")),
        Ok(text("line one\nline two"))
    );
}

#[test]
fn numbers_are_kept_with_the_fields_decimal_places() {
    let kept = parse("discount", &json!(12.5)).unwrap();
    assert_eq!(kept, number("12.50"));
    assert_eq!(kept.to_string(), "12.50");
    assert_eq!(parse("discount", &json!("7")).unwrap().to_string(), "7.00");
    assert_eq!(
        parse("discount", &json!(" 0.5e1 ")).unwrap().to_string(),
        "5.00"
    );
    assert_eq!(parse("discount", &json!(100)), Ok(number("100")));
}

#[test]
fn money_is_read_in_major_units_and_kept_in_minor_units() {
    for input in [
        json!(12.5),
        json!("12.50"),
        json!("12.50 EUR"),
        json!("EUR 12.5"),
        json!("12.5 eur"),
        json!({"amount": "12.50", "currency": "EUR"}),
        json!({"amount": 12.5}),
    ] {
        assert_eq!(parse("renewal_value", &input), Ok(euros(1250)), "{input}");
    }
    assert_eq!(parse("renewal_value", &json!(-0.05)), Ok(euros(-5)));
}

#[test]
fn dates_are_iso_calendar_dates() {
    assert_eq!(
        parse("starts_on", &json!("2026-03-02")),
        Ok(date(2026, 3, 2))
    );
    assert_eq!(
        parse("starts_on", &json!(" 2024-02-29 ")),
        Ok(date(2024, 2, 29))
    );
}

#[test]
fn booleans_are_true_or_false() {
    assert_eq!(
        parse("strategic", &json!(true)),
        Ok(CustomValue::Boolean(true))
    );
    assert_eq!(
        parse("strategic", &json!(" FALSE ")),
        Ok(CustomValue::Boolean(false))
    );
}

#[test]
fn options_are_read_by_key_in_any_case() {
    assert_eq!(parse("tier", &json!("gold")), Ok(choice("gold")));
    assert_eq!(parse("tier", &json!(" Gold ")), Ok(choice("gold")));
    assert_eq!(
        parse("regions", &json!(["emea", "APAC", "emea"])),
        Ok(choices(&["apac", "emea"]))
    );
}

#[test]
fn lookups_take_a_record_id() {
    assert_eq!(parse("partner", &json!(PARTNER.to_string())), Ok(partner()));
    assert_eq!(
        parse(
            "partner",
            &json!({"entity": "account", "id": PARTNER.to_string()})
        ),
        Ok(partner())
    );
    assert_eq!(
        parse("partner", &json!(PARTNER.simple().to_string())),
        Ok(partner())
    );
}

#[test]
fn nothing_is_not_a_value() {
    for (field, input) in [
        ("po_number", json!(null)),
        ("po_number", json!("   ")),
        ("discount", json!("")),
        ("renewal_value", json!("")),
        ("starts_on", json!(" ")),
        ("strategic", json!("")),
        ("tier", json!(" ")),
        ("regions", json!([])),
        ("partner", json!("")),
    ] {
        assert_eq!(
            parse(field, &input),
            Err(FieldError::Empty),
            "{field} {input}"
        );
    }
}

#[test]
fn json_of_the_wrong_kind_is_refused() {
    assert_eq!(
        parse("po_number", &json!(1234)),
        Err(FieldError::WrongJsonType {
            expected: "text",
            found: "a number"
        })
    );
    assert_eq!(
        parse("discount", &json!([1])),
        Err(FieldError::WrongJsonType {
            expected: "a number",
            found: "a list"
        })
    );
    assert_eq!(
        parse("renewal_value", &json!(true)),
        Err(FieldError::WrongJsonType {
            expected: "an amount of money",
            found: "true or false"
        })
    );
    assert_eq!(
        parse("starts_on", &json!(20_260_302)),
        Err(FieldError::WrongJsonType {
            expected: "a date (YYYY-MM-DD)",
            found: "a number"
        })
    );
    assert_eq!(
        parse("strategic", &json!(1)),
        Err(FieldError::WrongJsonType {
            expected: "true or false",
            found: "a number"
        })
    );
    assert_eq!(
        parse("tier", &json!(["gold"])),
        Err(FieldError::WrongJsonType {
            expected: "an option key",
            found: "a list"
        })
    );
    assert_eq!(
        parse("regions", &json!("emea")),
        Err(FieldError::WrongJsonType {
            expected: "a list of option keys",
            found: "text"
        })
    );
    assert_eq!(
        parse("regions", &json!(["emea", 1])),
        Err(FieldError::WrongJsonType {
            expected: "a list of option keys",
            found: "a list"
        })
    );
    assert_eq!(
        parse("partner", &json!(7)),
        Err(FieldError::WrongJsonType {
            expected: "a record id",
            found: "a number"
        })
    );
}

#[test]
fn text_longer_than_the_field_allows_is_refused() {
    assert_eq!(
        parse("po_number", &json!("x".repeat(21))),
        Err(FieldError::TooLong {
            length: 21,
            max_length: 20
        })
    );
    // Characters, not bytes, are counted.
    assert!(parse("po_number", &json!("é".repeat(20))).is_ok());
}

#[test]
fn control_characters_are_refused() {
    assert_eq!(
        parse("po_number", &json!("PO\u{0}1")),
        Err(FieldError::ControlCharacter)
    );
    assert_eq!(
        parse("po_number", &json!("PO\u{1b}[1m")),
        Err(FieldError::ControlCharacter)
    );
}

#[test]
fn numbers_must_be_numbers_within_the_fields_bounds() {
    assert_eq!(
        parse("discount", &json!("12,5")),
        Err(FieldError::NotANumber {
            text: "12,5".into()
        })
    );
    assert_eq!(
        parse("discount", &json!(12.345)),
        Err(FieldError::TooManyDecimals {
            text: "12.345".into(),
            places: 2
        })
    );
    assert_eq!(
        parse("discount", &json!("1e30")),
        Err(FieldError::TooLarge {
            text: "1e30".into()
        })
    );
    assert_eq!(
        parse("discount", &json!(-1)),
        Err(FieldError::BelowMinimum { min: Decimal::ZERO })
    );
    assert_eq!(
        parse("discount", &json!("100.01")),
        Err(FieldError::AboveMaximum {
            max: Decimal::from_integer(100)
        })
    );
}

#[test]
fn money_must_be_in_the_fields_currency_and_its_minor_unit() {
    assert_eq!(
        parse("renewal_value", &json!("12.50 USD")),
        Err(FieldError::WrongCurrency {
            expected: Currency::new("EUR").unwrap(),
            found: "USD".into()
        })
    );
    assert_eq!(
        parse("renewal_value", &json!({"amount": 1, "currency": "JPY"})),
        Err(FieldError::WrongCurrency {
            expected: Currency::new("EUR").unwrap(),
            found: "JPY".into()
        })
    );
    assert_eq!(
        parse("renewal_value", &json!("12.345")),
        Err(FieldError::TooManyDecimals {
            text: "12.345".into(),
            places: 2
        })
    );
    assert_eq!(
        parse("renewal_value", &json!("100000000000000000")),
        Err(FieldError::TooLarge {
            text: "100000000000000000".into()
        })
    );
    assert_eq!(
        parse("renewal_value", &json!("twelve")),
        Err(FieldError::NotANumber {
            text: "twelve".into()
        })
    );
}

#[test]
fn dates_must_exist_and_be_written_yyyy_mm_dd() {
    for bad in [
        "2026-02-30",
        "02/03/2026",
        "2026-3-2",
        "2026-03-02T10:00:00Z",
        "+2026-03-02",
        "tomorrow",
    ] {
        assert_eq!(
            parse("starts_on", &json!(bad)),
            Err(FieldError::NotADate { text: bad.into() }),
            "{bad}"
        );
    }
}

#[test]
fn booleans_must_be_true_or_false() {
    assert_eq!(
        parse("strategic", &json!("yes")),
        Err(FieldError::NotABoolean { text: "yes".into() })
    );
}

#[test]
fn unknown_options_list_the_options_that_can_be_chosen() {
    let error = parse("tier", &json!("diamond")).unwrap_err();
    assert_eq!(
        error,
        FieldError::UnknownOption {
            option: "diamond".into(),
            allowed: vec![option("silver"), option("gold"), option("platinum")],
        }
    );
    assert_eq!(
        error.to_string(),
        "\"diamond\" is not one of the options (silver, gold, platinum)"
    );
    assert!(matches!(
        parse("regions", &json!(["emea", "mars"])),
        Err(FieldError::UnknownOption { option, .. }) if option == "mars"
    ));
}

#[test]
fn retired_options_can_no_longer_be_chosen() {
    assert_eq!(
        parse("tier", &json!("bronze")),
        Err(FieldError::RetiredOption {
            option: option("bronze")
        })
    );
    assert_eq!(
        parse("regions", &json!(["emea", "latam"])),
        Err(FieldError::RetiredOption {
            option: option("latam")
        })
    );
}

#[test]
fn a_retired_option_the_record_already_holds_may_be_kept() {
    let regions = definition("regions");
    let before = choices(&["latam"]);
    let read = regions.read(
        &json!(["latam", "emea"]),
        Reading::Set {
            before: Some(&before),
        },
    );
    assert_eq!(read, Ok(choices(&["emea", "latam"])));
}

#[test]
fn lookups_must_name_a_record_of_the_target_kind() {
    assert_eq!(
        parse("partner", &json!("not-a-uuid")),
        Err(FieldError::NotARecordId {
            text: "not-a-uuid".into()
        })
    );
    assert_eq!(
        parse("partner", &json!("00000000-0000-0000-0000-000000000000")),
        Err(FieldError::NotARecordId {
            text: "00000000-0000-0000-0000-000000000000".into()
        })
    );
    assert_eq!(
        parse(
            "partner",
            &json!({"entity": "contact", "id": PARTNER.to_string()})
        ),
        Err(FieldError::WrongRecordKind {
            expected: EntityKind::Account,
            found: "contact".into()
        })
    );
}

#[test]
fn typed_values_of_another_kind_are_not_admitted() {
    assert_eq!(
        definition("discount").admits(&text("12"), None),
        Err(FieldError::WrongKind {
            expected: FieldKind::Number,
            found: FieldKind::Text
        })
    );
    assert_eq!(
        definition("renewal_value").admits(
            &CustomValue::Money(Money::new(1, Currency::new("USD").unwrap())),
            None
        ),
        Err(FieldError::WrongCurrency {
            expected: Currency::new("EUR").unwrap(),
            found: "USD".into()
        })
    );
    assert_eq!(
        definition("discount").admits(&number("1.234"), None),
        Err(FieldError::TooManyDecimals {
            text: "1.234".into(),
            places: 2
        })
    );
}

#[test]
fn queries_accept_retired_options_and_values_beyond_the_bounds() {
    assert_eq!(
        definition("tier").read(&json!("bronze"), Reading::Query),
        Ok(choice("bronze"))
    );
    assert_eq!(
        definition("discount").read(&json!("250.125"), Reading::Query),
        Ok(number("250.125"))
    );
}

#[test]
fn the_messages_read_as_the_end_of_a_sentence_about_the_field() {
    let cases = [
        (
            FieldError::Empty,
            "no value was given; send null to clear the field",
        ),
        (
            FieldError::TooLong {
                length: 21,
                max_length: 20,
            },
            "is 21 characters long; at most 20 are allowed",
        ),
        (
            FieldError::AboveMaximum {
                max: Decimal::from_integer(100),
            },
            "must be at most 100",
        ),
        (
            FieldError::RetiredOption {
                option: option("bronze"),
            },
            "the option bronze is retired and can no longer be chosen",
        ),
        (
            FieldError::DeprecatedField,
            "is deprecated and can no longer be set; it can only be cleared",
        ),
        (
            FieldError::NotADate {
                text: "2026-02-30".into(),
            },
            "\"2026-02-30\" is not a date (YYYY-MM-DD)",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}
