//! Test support: an example opportunity schema with a field of every type, value builders,
//! and generators for property tests.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{
    Comparison, CustomFieldSchema, CustomValue, CustomValues, Decimal, EntityKind, FieldDefinition,
    FieldKey, FieldType, LinkedRecord, OptionKey, PickOption, SchemaDraft, SchemaVersion,
    TextPattern, Transition, ValidationRule,
};
use crate::{Currency, Money};

pub(crate) fn key(text: &str) -> FieldKey {
    FieldKey::new(text).expect("a valid field key")
}

pub(crate) fn option(text: &str) -> OptionKey {
    OptionKey::new(text).expect("a valid option key")
}

pub(crate) fn eur() -> Currency {
    Currency::new("EUR").expect("EUR")
}

pub(crate) fn text(value: &str) -> CustomValue {
    CustomValue::Text(value.to_owned())
}

pub(crate) fn number(value: &str) -> CustomValue {
    CustomValue::Number(value.parse().expect("a decimal"))
}

pub(crate) fn euros(minor: i64) -> CustomValue {
    CustomValue::Money(Money::new(minor, eur()))
}

pub(crate) fn date(year: i32, month: u32, day: u32) -> CustomValue {
    CustomValue::Date(NaiveDate::from_ymd_opt(year, month, day).expect("a date"))
}

pub(crate) fn choice(key: &str) -> CustomValue {
    CustomValue::Choice(option(key))
}

pub(crate) fn choices(keys: &[&str]) -> CustomValue {
    CustomValue::Choices(keys.iter().map(|k| option(k)).collect())
}

pub(crate) const PARTNER: Uuid = Uuid::from_u128(0xacc0);

pub(crate) fn partner() -> CustomValue {
    CustomValue::Lookup(LinkedRecord {
        entity: EntityKind::Account,
        id: PARTNER,
    })
}

pub(crate) fn values(pairs: &[(&str, CustomValue)]) -> CustomValues {
    pairs.iter().map(|(k, v)| (key(k), v.clone())).collect()
}

pub(crate) fn options(keys: &[(&str, &str, bool)]) -> Vec<PickOption> {
    keys.iter()
        .map(|(key, label, retired)| PickOption {
            key: option(key),
            label: (*label).to_owned(),
            retired: *retired,
        })
        .collect()
}

pub(crate) fn field(key_text: &str, label: &str, field_type: FieldType) -> FieldDefinition {
    FieldDefinition::new(key(key_text), label, field_type)
}

/// The opportunity fields of the examples: one of every type, a deprecated one, retired
/// options.
pub(crate) fn opportunity_fields() -> Vec<FieldDefinition> {
    vec![
        field(
            "po_number",
            "Purchase order",
            FieldType::Text { max_length: 20 },
        ),
        FieldDefinition {
            help_text: Some("Percent off the list price".into()),
            ..field(
                "discount",
                "Discount",
                FieldType::Number {
                    decimal_places: 2,
                    min: Some(Decimal::ZERO),
                    max: Some(Decimal::from_integer(100)),
                },
            )
        },
        field(
            "renewal_value",
            "Renewal value",
            FieldType::Money { currency: eur() },
        ),
        field(
            "list_price",
            "List price",
            FieldType::Money { currency: eur() },
        ),
        field("starts_on", "Start date", FieldType::Date),
        field("ends_on", "End date", FieldType::Date),
        field("strategic", "Strategic", FieldType::Boolean),
        field(
            "tier",
            "Tier",
            FieldType::SinglePick {
                options: options(&[
                    ("bronze", "Bronze", true),
                    ("silver", "Silver", false),
                    ("gold", "Gold", false),
                    ("platinum", "Platinum", false),
                ]),
            },
        ),
        field(
            "regions",
            "Regions",
            FieldType::MultiPick {
                options: options(&[
                    ("emea", "EMEA", false),
                    ("apac", "APAC", false),
                    ("amer", "Americas", false),
                    ("latam", "LATAM", true),
                ]),
            },
        ),
        field(
            "partner",
            "Partner",
            FieldType::Lookup {
                target: EntityKind::Account,
            },
        ),
        FieldDefinition {
            deprecated: true,
            ..field(
                "legacy_code",
                "Legacy code",
                FieldType::Text { max_length: 10 },
            )
        },
    ]
}

/// The opportunity rules of the examples, one of every kind.
pub(crate) fn opportunity_rules() -> Vec<ValidationRule> {
    vec![
        ValidationRule::RequiredWhen {
            field: key("ends_on"),
            when: key("starts_on"),
            equals: None,
        },
        ValidationRule::RequiredWhen {
            field: key("partner"),
            when: key("strategic"),
            equals: Some(CustomValue::Boolean(true)),
        },
        ValidationRule::Range {
            field: key("discount"),
            min: None,
            max: Some(number("30")),
        },
        ValidationRule::Range {
            field: key("starts_on"),
            min: Some(date(2020, 1, 1)),
            max: Some(date(2035, 12, 31)),
        },
        ValidationRule::Pattern {
            field: key("po_number"),
            pattern: TextPattern::Shape {
                shape: "PO-####".into(),
            },
            message: None,
        },
        ValidationRule::Transitions {
            field: key("tier"),
            allowed: vec![
                Transition {
                    from: option("silver"),
                    to: option("gold"),
                },
                Transition {
                    from: option("gold"),
                    to: option("platinum"),
                },
                Transition {
                    from: option("gold"),
                    to: option("silver"),
                },
            ],
        },
        ValidationRule::Compare {
            left: key("starts_on"),
            comparison: Comparison::AtMost,
            right: key("ends_on"),
        },
        ValidationRule::Compare {
            left: key("renewal_value"),
            comparison: Comparison::AtMost,
            right: key("list_price"),
        },
    ]
}

pub(crate) fn opportunity_draft() -> SchemaDraft {
    SchemaDraft {
        entity: EntityKind::Opportunity,
        version: SchemaVersion(3),
        fields: opportunity_fields(),
        rules: opportunity_rules(),
    }
}

pub(crate) fn opportunity_schema() -> CustomFieldSchema {
    CustomFieldSchema::new(opportunity_draft()).expect("the example schema is valid")
}

/// A schema of the example fields with only `rules`.
pub(crate) fn schema_with_rules(rules: Vec<ValidationRule>) -> CustomFieldSchema {
    CustomFieldSchema::new(SchemaDraft {
        rules,
        ..opportunity_draft()
    })
    .expect("a valid schema")
}

/// Generators for property tests.
pub(crate) mod strategies {
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use uuid::Uuid;

    use super::super::{
        CharClass, Comparison, CustomValue, Decimal, EntityKind, FieldDefinition, FieldKind,
        FieldType, LinkedRecord, MAX_DECIMAL_PLACES, OptionKey, PickOption, TextPattern,
        Transition, ValidationRule,
    };
    use super::{field, key, option};
    use crate::{Currency, Money};

    fn arb_options() -> impl Strategy<Value = Vec<PickOption>> {
        prop::collection::vec(any::<bool>(), 1..6).prop_map(|retired| {
            let count = retired.len();
            retired
                .into_iter()
                .enumerate()
                // The last option stays current, so the list can always be set.
                .map(|(at, retired)| PickOption {
                    key: option(&format!("o{at}")),
                    label: format!("Option {at}"),
                    retired: retired && at + 1 < count,
                })
                .collect()
        })
    }

    fn arb_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec!["EUR", "JPY", "BHD", "CLF", "XAU"])
            .prop_map(|code| Currency::new(code).expect("a valid code"))
    }

    fn arb_bound() -> impl Strategy<Value = Option<i64>> {
        prop_oneof![Just(None), (-1_000_000i64..1_000_000).prop_map(Some)]
    }

    /// A valid type of `kind`.
    pub(crate) fn arb_type(kind: FieldKind) -> BoxedStrategy<FieldType> {
        match kind {
            FieldKind::Text => (1u32..200)
                .prop_map(|max_length| FieldType::Text { max_length })
                .boxed(),
            FieldKind::Number => (0..=MAX_DECIMAL_PLACES, arb_bound(), arb_bound())
                .prop_map(|(decimal_places, a, b)| {
                    let (min, max) = match (a, b) {
                        (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                        other => other,
                    };
                    FieldType::Number {
                        decimal_places,
                        min: min.map(Decimal::from_integer),
                        max: max.map(Decimal::from_integer),
                    }
                })
                .boxed(),
            FieldKind::Money => arb_currency()
                .prop_map(|currency| FieldType::Money { currency })
                .boxed(),
            FieldKind::Date => Just(FieldType::Date).boxed(),
            FieldKind::Boolean => Just(FieldType::Boolean).boxed(),
            FieldKind::SinglePick => arb_options()
                .prop_map(|options| FieldType::SinglePick { options })
                .boxed(),
            FieldKind::MultiPick => arb_options()
                .prop_map(|options| FieldType::MultiPick { options })
                .boxed(),
            FieldKind::Lookup => prop::sample::select(EntityKind::ALL.to_vec())
                .prop_map(|target| FieldType::Lookup { target })
                .boxed(),
        }
    }

    pub(crate) const KINDS: [FieldKind; 8] = [
        FieldKind::Text,
        FieldKind::Number,
        FieldKind::Money,
        FieldKind::Date,
        FieldKind::Boolean,
        FieldKind::SinglePick,
        FieldKind::MultiPick,
        FieldKind::Lookup,
    ];

    /// A current field of any type, keyed `f`.
    pub(crate) fn arb_definition() -> impl Strategy<Value = FieldDefinition> {
        prop::sample::select(KINDS.to_vec())
            .prop_flat_map(arb_type)
            .prop_map(|field_type| field("f", "Field", field_type))
    }

    fn arb_date() -> impl Strategy<Value = NaiveDate> {
        (1i32..=3_652_059).prop_map(|days| {
            NaiveDate::from_num_days_from_ce_opt(days).expect("within years 1 to 9999")
        })
    }

    /// Text of printable characters, some not ASCII, sometimes with surrounding space.
    fn arb_raw_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 ,.-]{1,30}",
            "\\PC{1,20}",
            "[ \t]{0,2}[A-Za-zéÅß\u{301}]{1,10}[ \n]{0,2}",
        ]
    }

    /// A value the definition admits as a new value (no retired option).
    pub(crate) fn arb_value(definition: &FieldDefinition) -> BoxedStrategy<CustomValue> {
        let current: Vec<OptionKey> = definition
            .field_type
            .options()
            .iter()
            .filter(|o| !o.retired)
            .map(|o| o.key.clone())
            .collect();
        let admitted = {
            let definition = definition.clone();
            move |value: CustomValue| definition.admits(&value, None).is_ok().then_some(value)
        };
        match &definition.field_type {
            FieldType::Text { max_length } => {
                let definition = definition.clone();
                let max_length = usize::try_from(*max_length).unwrap_or(usize::MAX);
                arb_raw_text()
                    .prop_filter_map("text the field admits", move |raw| {
                        let raw: String = raw.chars().take(max_length).collect();
                        definition.parse(&Value::String(raw)).ok()
                    })
                    .boxed()
            }
            FieldType::Number {
                decimal_places,
                min,
                max,
            } => {
                let places = *decimal_places;
                let scale = 10_i64.pow(u32::from(places));
                let low = min.map_or(i64::MIN, |m| m.units().saturating_mul(scale));
                let high = max.map_or(i64::MAX, |m| m.units().saturating_mul(scale));
                prop_oneof![low..=high, Just(low), Just(high)]
                    .prop_filter_map("a number the field admits", move |units| {
                        admitted(CustomValue::Number(Decimal::new(units, places)?))
                    })
                    .boxed()
            }
            FieldType::Money { currency } => {
                let currency = *currency;
                any::<i64>()
                    .prop_map(move |minor| CustomValue::Money(Money::new(minor, currency)))
                    .boxed()
            }
            FieldType::Date => arb_date().prop_map(CustomValue::Date).boxed(),
            FieldType::Boolean => any::<bool>().prop_map(CustomValue::Boolean).boxed(),
            FieldType::SinglePick { .. } => prop::sample::select(current)
                .prop_map(CustomValue::Choice)
                .boxed(),
            FieldType::MultiPick { .. } => {
                prop::sample::subsequence(current.clone(), 1..=current.len())
                    .prop_map(|chosen| CustomValue::Choices(chosen.into_iter().collect()))
                    .boxed()
            }
            FieldType::Lookup { target } => {
                let target = *target;
                (1u128..)
                    .prop_map(move |id| {
                        CustomValue::Lookup(LinkedRecord {
                            entity: target,
                            id: Uuid::from_u128(id),
                        })
                    })
                    .boxed()
            }
        }
    }

    /// A definition and a value it admits.
    pub(crate) fn arb_definition_and_value() -> impl Strategy<Value = (FieldDefinition, CustomValue)>
    {
        arb_definition().prop_flat_map(|definition| {
            let value = arb_value(&definition);
            (Just(definition), value)
        })
    }

    /// Any JSON, a few levels deep.
    pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "o0",
                "o1",
                " O2 ",
                "gold",
                "2026-03-02",
                "2026-02-30",
                "12.5",
                "-0.001",
                "1e400",
                "EUR 3",
                "12.50 XAU",
                "true",
                "00000000-0000-0000-0000-000000000000",
                "6f1e0b9a-3c1d-4a57-9a53-4f1b2c3d4e5f",
            ])
            .prop_map(|text| Value::String(text.to_owned())),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,8}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// The keys of the property tests' fields, one per kind, with two dates and two money
    /// fields (same currency) to compare, and a deprecated text field.
    pub(crate) const FIELD_KEYS: [&str; 11] = [
        "f_text",
        "f_number",
        "f_money_a",
        "f_money_b",
        "f_date_a",
        "f_date_b",
        "f_bool",
        "f_pick",
        "f_picks",
        "f_lookup",
        "f_old",
    ];

    /// Fields of every kind with generated settings.
    pub(crate) fn arb_fields() -> impl Strategy<Value = Vec<FieldDefinition>> {
        (
            arb_type(FieldKind::Text),
            arb_type(FieldKind::Number),
            arb_currency(),
            arb_type(FieldKind::SinglePick),
            arb_type(FieldKind::MultiPick),
            arb_type(FieldKind::Lookup),
            any::<bool>(),
        )
            .prop_map(|(text, number, currency, pick, picks, lookup, required)| {
                let money = FieldType::Money { currency };
                vec![
                    FieldDefinition {
                        required,
                        ..field("f_text", "Text", text)
                    },
                    field("f_number", "Number", number),
                    field("f_money_a", "Money A", money.clone()),
                    field("f_money_b", "Money B", money),
                    field("f_date_a", "Date A", FieldType::Date),
                    field("f_date_b", "Date B", FieldType::Date),
                    field("f_bool", "Flag", FieldType::Boolean),
                    field("f_pick", "Pick", pick),
                    field("f_picks", "Picks", picks),
                    field("f_lookup", "Lookup", lookup),
                    FieldDefinition {
                        deprecated: true,
                        ..field("f_old", "Old", FieldType::Text { max_length: 5 })
                    },
                ]
            })
    }

    /// Values for some of the (current) fields.
    pub(crate) fn arb_values(
        fields: &[FieldDefinition],
    ) -> BoxedStrategy<Vec<(FieldDefinition, Option<CustomValue>)>> {
        fields
            .iter()
            .filter(|definition| !definition.deprecated)
            .map(|definition| {
                let definition = definition.clone();
                (
                    Just(definition.clone()),
                    prop::option::of(arb_value(&definition)),
                )
            })
            .collect::<Vec<_>>()
            .boxed()
    }

    /// A rule that may or may not be valid for the fields (the caller keeps the valid ones).
    pub(crate) fn arb_candidate_rule(fields: &[FieldDefinition]) -> BoxedStrategy<ValidationRule> {
        let keys: Vec<_> = fields.iter().map(|d| d.key.clone()).collect();
        let pick = prop::sample::select(keys.clone());
        let any_value = prop::sample::select(fields.to_vec()).prop_flat_map(|d| arb_value(&d));
        let option_keys =
            prop::sample::select(vec![option("o0"), option("o1"), option("o2"), option("o3")]);
        let pattern = prop_oneof![
            "[a-zA-Z]{1,3}".prop_map(|text| TextPattern::StartsWith { text }),
            "[a-zA-Z]{1,3}".prop_map(|text| TextPattern::EndsWith { text }),
            "[a-zA-Z ]{1,3}".prop_map(|text| TextPattern::Contains { text }),
            Just(TextPattern::OnlyCharacters {
                classes: vec![CharClass::Letter, CharClass::Space],
                also: ",.-".into()
            }),
            "[#@*A-Z-]{1,8}".prop_map(|shape| TextPattern::Shape { shape }),
        ];
        let comparison = prop::sample::select(vec![
            Comparison::LessThan,
            Comparison::AtMost,
            Comparison::AtLeast,
            Comparison::GreaterThan,
        ]);
        prop_oneof![
            pick.clone()
                .prop_map(|field| ValidationRule::Required { field }),
            (
                pick.clone(),
                pick.clone(),
                prop::option::of(any_value.clone())
            )
                .prop_map(|(field, when, equals)| ValidationRule::RequiredWhen {
                    field,
                    when,
                    equals
                }),
            (
                pick.clone(),
                prop::option::of(any_value.clone()),
                prop::option::of(any_value)
            )
                .prop_map(|(field, min, max)| ValidationRule::Range {
                    field,
                    min,
                    max
                }),
            (Just(key("f_text")), pattern).prop_map(|(field, pattern)| ValidationRule::Pattern {
                field,
                pattern,
                message: None
            }),
            prop::collection::vec((option_keys.clone(), option_keys), 1..4).prop_map(|steps| {
                ValidationRule::Transitions {
                    field: key("f_pick"),
                    allowed: steps
                        .into_iter()
                        .map(|(from, to)| Transition { from, to })
                        .collect(),
                }
            }),
            (pick.clone(), comparison, pick).prop_map(|(left, comparison, right)| {
                ValidationRule::Compare {
                    left,
                    comparison,
                    right,
                }
            }),
        ]
        .boxed()
    }

    /// Changes a client might send: known keys (some unknown, some malformed) to any JSON.
    pub(crate) fn arb_changes() -> impl Strategy<Value = Map<String, Value>> {
        let keys = prop_oneof![
            4 => prop::sample::select(FIELD_KEYS.to_vec()).prop_map(str::to_owned),
            1 => Just("no_such_field".to_owned()),
            1 => Just("Not A Key".to_owned()),
        ];
        prop::collection::btree_map(keys, arb_json(), 0..6)
            .prop_map(|map| map.into_iter().collect())
    }
}

/// A schema for `entity` with a required pick-list `tier` (gold, silver) and a number `seats`.
pub(crate) fn tier_schema(entity: EntityKind) -> std::sync::Arc<CustomFieldSchema> {
    let draft: SchemaDraft = serde_json::from_value(serde_json::json!({
        "entity": entity,
        "version": 1,
        "fields": [
            {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": [
                {"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"}]}},
            {"key": "seats", "label": "Seats", "type": {"kind": "number", "decimal_places": 0}}
        ],
        "rules": [{"rule": "required", "field": "tier"}]
    }))
    .expect("a draft");
    std::sync::Arc::new(CustomFieldSchema::new(draft).expect("a valid schema"))
}

/// An update of `entity`'s [`tier_schema`] fields.
pub(crate) fn tier_update(
    entity: EntityKind,
    changes: serde_json::Value,
) -> super::CustomFieldsUpdate {
    super::CustomFieldsUpdate::new(
        tier_schema(entity),
        match changes {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    )
}

/// What every aggregate with custom fields must do, checked on one of them: `created` is the
/// history of a record that exists, `set` wraps an update in the aggregate's command, `values`
/// reads the state's values and `refusal` the custom field refusal out of the aggregate's error.
pub(crate) fn check_custom_fields<A>(
    entity: EntityKind,
    created: &[A::Event],
    set: fn(super::CustomFieldsUpdate) -> A::Command,
    values: fn(&A) -> &CustomValues,
    refusal: fn(&A::Error) -> Option<&super::CustomFieldsRefused>,
) where
    A: crate::Aggregate,
{
    let ctx = crate::testing::context();
    let nothing = A::default();
    let error = nothing
        .decide(
            set(tier_update(entity, serde_json::json!({"tier": "gold"}))),
            &ctx,
        )
        .expect_err("a record that does not exist has no custom fields");
    assert!(refusal(&error).is_none(), "refused as missing: {error:?}");

    let state = A::replay(created);
    let events = state
        .decide(
            set(tier_update(
                entity,
                serde_json::json!({"tier": "gold", "seats": 12}),
            )),
            &ctx,
        )
        .expect("valid values are set");
    assert_eq!(events.len(), 1, "one event: {events:?}");
    let encoded = crate::encode(&events[0]).expect("encodes");
    assert!(
        encoded.event_type.ends_with("CustomFieldsSet"),
        "{}",
        encoded.event_type
    );
    assert_eq!(
        encoded.payload["personal"].as_bool().unwrap_or(false) && !encoded.payload["set"].is_null(),
        state.data_subject().is_some(),
        "values are personal data exactly when the record names a person"
    );
    let decoded: A::Event =
        crate::decode(encoded.event_type, encoded.schema_version, encoded.payload)
            .expect("decodes");
    assert_eq!(decoded, events[0]);
    let state = events.iter().fold(state, A::evolve);
    assert_eq!(values(&state).get_str("tier"), Some(&choice("gold")));
    assert_eq!(values(&state).get_str("seats"), Some(&number("12")));

    let again = state
        .decide(
            set(tier_update(entity, serde_json::json!({"tier": "gold"}))),
            &ctx,
        )
        .expect("re-sending a value is no error");
    assert!(again.is_empty(), "and records nothing: {again:?}");

    let error = state
        .decide(
            set(tier_update(
                entity,
                serde_json::json!({"tier": null, "seats": "x"}),
            )),
            &ctx,
        )
        .expect_err("a required field cannot be cleared");
    let problems = refusal(&error).map(super::CustomFieldsRefused::problems);
    let fields: Vec<&str> = problems
        .unwrap_or_default()
        .iter()
        .map(|problem| problem.field.as_str())
        .collect();
    assert_eq!(fields, ["seats", "tier"], "{error:?}");

    let cleared = state
        .decide(
            set(tier_update(entity, serde_json::json!({"seats": null}))),
            &ctx,
        )
        .expect("an optional field is cleared");
    let state = cleared.iter().fold(state, A::evolve);
    assert_eq!(values(&state).get_str("seats"), None);
    assert_eq!(
        A::replay(created.iter().chain(&events).chain(&cleared)),
        state
    );
}
