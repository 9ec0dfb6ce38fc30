//! Properties of custom fields over generated definitions, values, rules and client input.

use std::cmp::Ordering;
use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::Value;

use super::fixtures::key;
use super::fixtures::strategies::{
    FIELD_KEYS, arb_candidate_rule, arb_changes, arb_definition_and_value, arb_fields, arb_json,
    arb_value, arb_values,
};
use super::{
    Comparison, CustomFieldSchema, CustomValue, CustomValues, EntityKind, FieldDefinition,
    FieldKind, FieldProblem, FilterRequest, SchemaDraft, SchemaVersion, TextPattern, Transition,
    ValidationRule,
};

fn schema(fields: Vec<FieldDefinition>, rules: Vec<ValidationRule>) -> CustomFieldSchema {
    CustomFieldSchema::new(SchemaDraft {
        entity: EntityKind::Opportunity,
        version: SchemaVersion::FIRST,
        fields,
        rules,
    })
    .expect("a valid schema")
}

fn to_values(pairs: &[(FieldDefinition, Option<CustomValue>)]) -> CustomValues {
    pairs
        .iter()
        .filter_map(|(definition, value)| Some((definition.key.clone(), value.clone()?)))
        .collect()
}

/// Fields, and the values of a record before and after a command.
fn arb_record() -> impl Strategy<Value = (Vec<FieldDefinition>, CustomValues, CustomValues)> {
    arb_fields().prop_flat_map(|fields| {
        let before = arb_values(&fields);
        let after = arb_values(&fields);
        (Just(fields), before, after)
            .prop_map(|(fields, before, after)| (fields, to_values(&before), to_values(&after)))
    })
}

/// Rules that the values after a command (coming from `before`) all satisfy: every kind of
/// rule, built from the values themselves.
fn rules_satisfied_by(
    fields: &[FieldDefinition],
    before: &CustomValues,
    after: &CustomValues,
) -> Vec<ValidationRule> {
    let mut rules = Vec::new();
    let current: Vec<&FieldDefinition> = fields.iter().filter(|d| !d.deprecated).collect();
    for definition in &current {
        let field = definition.key.clone();
        let value = after.get(&field);
        if value.is_some() {
            rules.push(ValidationRule::Required {
                field: field.clone(),
            });
        }
        for other in &current {
            if other.key == field {
                continue;
            }
            let condition = after.get(&other.key);
            if value.is_some() || condition.is_none() {
                rules.push(ValidationRule::RequiredWhen {
                    field: field.clone(),
                    when: other.key.clone(),
                    equals: condition.filter(|_| value.is_some()).cloned(),
                });
            }
        }
        match value {
            Some(value) if definition.kind().is_ordered() => rules.push(ValidationRule::Range {
                field: field.clone(),
                min: Some(value.clone()),
                max: Some(value.clone()),
            }),
            Some(CustomValue::Text(text)) => {
                let first = text.chars().next().map(String::from).unwrap_or_default();
                let last = text.chars().last().map(String::from).unwrap_or_default();
                let escaped: String = text.chars().flat_map(|c| ['\\', c]).collect();
                for pattern in [
                    TextPattern::StartsWith { text: first },
                    TextPattern::EndsWith { text: last },
                    TextPattern::Contains { text: text.clone() },
                    TextPattern::OnlyCharacters {
                        classes: vec![],
                        also: text.clone(),
                    },
                    TextPattern::Shape { shape: escaped },
                ] {
                    rules.push(ValidationRule::Pattern {
                        field: field.clone(),
                        pattern,
                        message: None,
                    });
                }
            }
            _ => {}
        }
        if let (Some(CustomValue::Choice(from)), Some(CustomValue::Choice(to))) =
            (before.get(&field), value)
            && from != to
        {
            rules.push(ValidationRule::Transitions {
                field: field.clone(),
                allowed: vec![Transition {
                    from: from.clone(),
                    to: to.clone(),
                }],
            });
        }
    }
    for (left, right) in [("f_date_a", "f_date_b"), ("f_money_a", "f_money_b")] {
        let (left, right) = (key(left), key(right));
        let (Some(a), Some(b)) = (after.get(&left), after.get(&right)) else {
            continue;
        };
        let holding: &[Comparison] = match super::rules::order(a, b) {
            Some(Ordering::Less) => &[Comparison::LessThan, Comparison::AtMost],
            Some(Ordering::Equal) => &[Comparison::AtMost, Comparison::AtLeast],
            Some(Ordering::Greater) => &[Comparison::GreaterThan, Comparison::AtLeast],
            None => &[],
        };
        for comparison in holding {
            rules.push(ValidationRule::Compare {
                left: left.clone(),
                comparison: *comparison,
                right: right.clone(),
            });
        }
    }
    rules
}

/// A filter request on one of the fields, with values either taken from a value of the field
/// or from any JSON.
fn arb_filter_request(fields: Vec<FieldDefinition>) -> impl Strategy<Value = FilterRequest> {
    prop::sample::select(fields).prop_flat_map(|definition| {
        let field = definition.key.to_string();
        let json = prop_oneof![
            3 => arb_value(&definition).prop_map(|value| value.to_client_json()),
            1 => arb_json(),
        ];
        let option = prop_oneof![
            Just("o0".to_owned()),
            Just("o1".to_owned()),
            Just("o4".to_owned()),
            "\\PC{0,4}",
        ];
        prop_oneof![
            json.clone().prop_map({
                let field = field.clone();
                move |value| FilterRequest::Equals {
                    field: field.clone(),
                    value,
                }
            }),
            prop::collection::vec(json.clone(), 0..3).prop_map({
                let field = field.clone();
                move |values| FilterRequest::In {
                    field: field.clone(),
                    values,
                }
            }),
            (prop::option::of(json.clone()), prop::option::of(json)).prop_map({
                let field = field.clone();
                // A bound of JSON `null` is no bound on the wire: the request is generated
                // as it can be sent.
                move |(min, max): (Option<serde_json::Value>, Option<serde_json::Value>)| {
                    FilterRequest::Range {
                        field: field.clone(),
                        min: min.filter(|bound| !bound.is_null()),
                        max: max.filter(|bound| !bound.is_null()),
                    }
                }
            }),
            any::<bool>().prop_map({
                let field = field.clone();
                move |set| FilterRequest::IsSet {
                    field: field.clone(),
                    set,
                }
            }),
            option.prop_map(move |option| FilterRequest::Contains {
                field: field.clone(),
                option
            }),
        ]
    })
}

/// The set of problems a check reports.
fn problem_set(result: Result<(), Vec<FieldProblem>>) -> HashSet<FieldProblem> {
    result.err().unwrap_or_default().into_iter().collect()
}

proptest! {
    #[test]
    fn parsing_what_a_value_shows_a_client_gives_the_value_back((definition, value) in arb_definition_and_value()) {
        prop_assert_eq!(definition.parse(&value.to_client_json()), Ok(value));
    }

    #[test]
    fn parsing_the_display_text_gives_the_value_back((definition, value) in arb_definition_and_value()) {
        prop_assume!(definition.kind() != FieldKind::MultiPick);
        prop_assert_eq!(definition.parse(&Value::String(value.to_string())), Ok(value));
    }

    #[test]
    fn parsing_is_idempotent((definition, _value) in arb_definition_and_value(), input in arb_json()) {
        if let Ok(value) = definition.parse(&input) {
            prop_assert_eq!(definition.parse(&value.to_client_json()), Ok(value));
        }
    }

    #[test]
    fn stored_values_read_back_from_their_json((_, before, after) in arb_record()) {
        for values in [before, after] {
            let json = serde_json::to_string(&values).expect("values serialize");
            prop_assert_eq!(serde_json::from_str::<CustomValues>(&json).ok(), Some(values));
        }
    }

    #[test]
    fn checking_any_client_input_never_panics_and_gives_the_same_answer(
        (fields, before, _) in arb_record(),
        changes in arb_changes(),
    ) {
        let schema = schema(fields, vec![]);
        let first = schema.validate_change(&before, &changes);
        prop_assert_eq!(&first, &schema.validate_change(&before, &changes));
        if let Ok(after) = first {
            prop_assert_eq!(schema.check(&before, &after), Ok(()));
            // Sending the same changes again changes nothing more.
            prop_assert_eq!(schema.apply(&after, &changes), Ok(after));
        }
    }

    #[test]
    fn checking_values_of_any_type_never_panics(
        fields in arb_fields(),
        stray in prop::collection::vec((prop::sample::select(FIELD_KEYS.to_vec()), arb_definition_and_value()), 0..6),
    ) {
        let schema = schema(fields, vec![]);
        let after: CustomValues = stray.into_iter().map(|(k, (_, value))| (key(k), value)).collect();
        let report = schema.check(&CustomValues::new(), &after);
        prop_assert_eq!(&report, &schema.check(&CustomValues::new(), &after));
        prop_assert_eq!(schema.read_stored(&after).len(), after.len());
    }

    #[test]
    fn values_satisfying_every_rule_pass((fields, before, after) in arb_record()) {
        let fields: Vec<FieldDefinition> = fields
            .into_iter()
            .map(|definition| FieldDefinition { required: after.get(&definition.key).is_some() && !definition.deprecated, ..definition })
            .collect();
        let rules = rules_satisfied_by(&fields, &before, &after);
        let schema = schema(fields, rules);
        prop_assert_eq!(schema.check(&before, &after), Ok(()));
    }

    #[test]
    fn every_rules_problem_is_reported_whatever_the_other_rules(
        ((fields, before, after), candidates) in arb_record().prop_flat_map(|record| {
            let candidates = prop::collection::vec(arb_candidate_rule(&record.0), 0..8);
            (Just(record), candidates)
        }),
    ) {
        let valid: Vec<ValidationRule> = candidates
            .into_iter()
            .filter(|rule| CustomFieldSchema::new(SchemaDraft {
                entity: EntityKind::Opportunity,
                version: SchemaVersion::FIRST,
                fields: fields.clone(),
                rules: vec![rule.clone()],
            }).is_ok())
            .collect();
        let whole = schema(fields.clone(), valid.clone()).check(&before, &after);
        if let Err(problems) = &whole {
            let distinct: HashSet<&FieldProblem> = problems.iter().collect();
            prop_assert_eq!(distinct.len(), problems.len(), "a problem is reported once");
        }
        let mut each = problem_set(schema(fields.clone(), vec![]).check(&before, &after));
        for rule in valid {
            each.extend(problem_set(schema(fields.clone(), vec![rule]).check(&before, &after)));
        }
        prop_assert_eq!(problem_set(whole), each);
    }

    #[test]
    fn a_filter_gives_the_same_answer_on_values_and_on_their_json_round_trip(
        ((fields, _, values), request) in arb_record().prop_flat_map(|record| {
            let request = arb_filter_request(record.0.clone());
            (Just(record), request)
        }),
    ) {
        let schema = schema(fields, vec![]);
        let request_json = serde_json::to_value(&request).expect("a request serializes");
        let request_back = serde_json::from_value::<FilterRequest>(request_json).ok();
        prop_assert_eq!(request_back.as_ref(), Some(&request));
        if let Ok(filter) = schema.filter(&request) {
            let json = serde_json::to_value(&values).expect("values serialize");
            let read_back: CustomValues = serde_json::from_value(json).expect("values read back");
            prop_assert_eq!(filter.matches(&values), filter.matches(&read_back));
        }
    }

    #[test]
    fn a_filter_on_a_value_a_record_holds_matches_it((fields, _, values) in arb_record()) {
        let schema = schema(fields, vec![]);
        for (field, value) in values.iter() {
            let request = FilterRequest::Equals { field: field.to_string(), value: value.to_client_json() };
            let filter = schema.filter(&request);
            prop_assert!(filter.as_ref().is_ok_and(|filter| filter.matches(&values)), "{:?}", filter);
        }
    }
}
