//! Validation rules: what the values a command would leave on a record must satisfy.
//!
//! Rules are part of a schema version, so a rule change is a new version and applies to the
//! commands decided under it; recorded events are never checked again. A check looks at the
//! record's values before and after a command:
//!
//! - every value the command sets or changes must fit its field (known, not deprecated, of the
//!   field's type, within the type's bounds, no newly chosen retired option) — values the
//!   command leaves alone are not re-examined, so a bound tightened later never blocks them;
//! - every rule must hold for the values after the command (required fields, ranges, patterns,
//!   comparisons), and a single pick-list may only change along its allowed transitions.
//!
//! [`RuleSet::check`] reports every problem, never just the first, in a fixed order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::definition::{FieldDefinition, FieldKind, FieldType};
use super::entity::EntityKind;
use super::error::SchemaProblem;
use super::key::{FieldKey, OptionKey};
use super::parse::FieldError;
use super::pattern::TextPattern;
use super::schema::CustomFieldSchema;
use super::stored::value_text;
use super::value::{CustomValue, CustomValues};

/// A change of a single pick-list from one option to another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Transition {
    /// The option before.
    pub from: OptionKey,
    /// The option after.
    pub to: OptionKey,
}

/// How a comparison rule relates its left field to its right field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Left < right (for dates: before).
    LessThan,
    /// Left <= right (for dates: on or before).
    AtMost,
    /// Left >= right (for dates: on or after).
    AtLeast,
    /// Left > right (for dates: after).
    GreaterThan,
}

impl Comparison {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::LessThan => ordering == Ordering::Less,
            Comparison::AtMost => ordering != Ordering::Greater,
            Comparison::AtLeast => ordering != Ordering::Less,
            Comparison::GreaterThan => ordering == Ordering::Greater,
        }
    }

    fn phrase(self, dates: bool) -> &'static str {
        match (self, dates) {
            (Comparison::LessThan, false) => "less than",
            (Comparison::AtMost, false) => "at most",
            (Comparison::AtLeast, false) => "at least",
            (Comparison::GreaterThan, false) => "greater than",
            (Comparison::LessThan, true) => "before",
            (Comparison::AtMost, true) => "on or before",
            (Comparison::AtLeast, true) => "on or after",
            (Comparison::GreaterThan, true) => "after",
        }
    }
}

/// One validation rule of a schema. Serialized tagged by `rule`:
/// `{"rule":"required","field":"renewal_date"}`,
/// `{"rule":"required_when","field":"loss_detail","when":"outcome","equals":{"type":"choice","value":"lost"}}`,
/// `{"rule":"range","field":"discount","max":{"type":"number","value":"30"}}`,
/// `{"rule":"pattern","field":"po_number","pattern":{"kind":"shape","shape":"PO-####"}}`,
/// `{"rule":"transitions","field":"tier","allowed":[{"from":"silver","to":"gold"}]}`,
/// `{"rule":"compare","left":"starts_on","comparison":"at_most","right":"ends_on"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ValidationRule {
    /// The field must have a value (as [`FieldDefinition::required`] says, but as a rule).
    Required {
        /// The field.
        field: FieldKey,
    },
    /// The field must have a value when `when` has one, or, if `equals` is given, when `when`
    /// has that value (for a multi pick-list `when`, a single choice means "includes").
    RequiredWhen {
        /// The field that becomes required.
        field: FieldKey,
        /// The field whose value makes it required.
        when: FieldKey,
        /// The value of `when` that makes it required; any value if absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        equals: Option<CustomValue>,
    },
    /// A number, money or date field's value, when set, must lie between `min` and `max`
    /// (both inclusive, either may be absent).
    Range {
        /// The field.
        field: FieldKey,
        /// The smallest value allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<CustomValue>,
        /// The largest value allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<CustomValue>,
    },
    /// A text field's value, when set, must have the pattern.
    Pattern {
        /// The field.
        field: FieldKey,
        /// The pattern.
        pattern: TextPattern,
        /// What to tell the user instead of the pattern's own description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A single pick-list may change from one option to another only along these
    /// transitions. Setting a first value and clearing are not transitions (use the required
    /// rules for those).
    Transitions {
        /// The field.
        field: FieldKey,
        /// The changes allowed.
        allowed: Vec<Transition>,
    },
    /// Two number, money (same currency) or date fields, when both are set, must compare as
    /// `comparison` says (`left <= right`).
    Compare {
        /// The left-hand field.
        left: FieldKey,
        /// How they must compare.
        comparison: Comparison,
        /// The right-hand field.
        right: FieldKey,
    },
}

impl ValidationRule {
    /// The kind of rule.
    pub fn kind(&self) -> RuleKind {
        match self {
            ValidationRule::Required { .. } => RuleKind::Required,
            ValidationRule::RequiredWhen { .. } => RuleKind::RequiredWhen,
            ValidationRule::Range { .. } => RuleKind::Range,
            ValidationRule::Pattern { .. } => RuleKind::Pattern,
            ValidationRule::Transitions { .. } => RuleKind::Transition,
            ValidationRule::Compare { .. } => RuleKind::Comparison,
        }
    }

    /// The fields the rule names, the field it is about first.
    pub fn fields(&self) -> Vec<&FieldKey> {
        match self {
            ValidationRule::Required { field }
            | ValidationRule::Range { field, .. }
            | ValidationRule::Pattern { field, .. }
            | ValidationRule::Transitions { field, .. } => vec![field],
            ValidationRule::RequiredWhen { field, when, .. } => vec![field, when],
            ValidationRule::Compare { left, right, .. } => vec![left, right],
        }
    }
}

/// What kind of check found a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// The value itself does not fit the field (type, bounds, options, unknown or deprecated
    /// field).
    Value,
    /// A required field has no value.
    Required,
    /// A conditionally required field has no value.
    RequiredWhen,
    /// A value outside a range rule.
    Range,
    /// A text without the rule's pattern.
    Pattern,
    /// A pick-list change that is not an allowed transition.
    Transition,
    /// Two fields that do not compare as a rule says.
    Comparison,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleKind::Value => "value",
            RuleKind::Required => "required",
            RuleKind::RequiredWhen => "required-when",
            RuleKind::Range => "range",
            RuleKind::Pattern => "pattern",
            RuleKind::Transition => "transition",
            RuleKind::Comparison => "comparison",
        })
    }
}

/// One problem with the values a command would produce: the field, the kind of check, and a
/// message an end user can act on ("Discount must be at most 30.").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field's key as sent (a key the schema does not know is reported as sent).
    pub field: String,
    /// The kind of check.
    pub rule: RuleKind,
    /// What is wrong and what to do, in the field's label.
    pub message: String,
}

impl FieldProblem {
    /// A problem with a value on its own, as [`FieldError`] describes it.
    pub(crate) fn value(field: &str, label: &str, error: &FieldError) -> Self {
        Self {
            field: field.to_owned(),
            rule: RuleKind::Value,
            message: format!("{label}: {error}."),
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A schema's validation rules together with its fields: what [`RuleSet::check`] applies.
#[derive(Debug, Clone, Copy)]
pub struct RuleSet<'a> {
    schema: &'a CustomFieldSchema,
}

impl<'a> RuleSet<'a> {
    pub(crate) fn new(schema: &'a CustomFieldSchema) -> Self {
        Self { schema }
    }

    /// The rules, in the order they are checked (after the required flags of the fields).
    pub fn rules(&self) -> &'a [ValidationRule] {
        self.schema.validation_rules()
    }

    /// Checks the values a command would leave on a record (`after`) against the schema,
    /// given the record's values before it (`before`; empty for a new record).
    ///
    /// Reports every problem, in this order: values set or changed that do not fit their
    /// field (in key order), required fields left empty (in declaration order), then each
    /// rule that fails (in rule order); a problem found twice is reported once. `Ok` exactly
    /// when there is none. Pure and total: the same values give the same report, whatever
    /// they hold.
    pub fn check(
        &self,
        before: &CustomValues,
        after: &CustomValues,
    ) -> Result<(), Vec<FieldProblem>> {
        let mut report = Report::default();
        for (key, value) in after.iter() {
            let previous = before.get(key);
            if previous == Some(value) {
                continue;
            }
            let problem = match self.schema.field(key) {
                None => Some(FieldError::UnknownField),
                Some(definition) if definition.deprecated => Some(FieldError::DeprecatedField),
                Some(definition) => definition.admits(value, previous).err(),
            };
            if let Some(error) = problem {
                report.push(FieldProblem::value(
                    key.as_str(),
                    &self.label_of(key),
                    &error,
                ));
            }
        }
        for definition in self.schema.fields() {
            if definition.required && !definition.deprecated && after.get(&definition.key).is_none()
            {
                report.push(self.required(&definition.key));
            }
        }
        for rule in self.rules() {
            if let Some(problem) = self.failure(rule, before, after) {
                report.push(problem);
            }
        }
        report.finish()
    }

    fn required(self, field: &FieldKey) -> FieldProblem {
        FieldProblem {
            field: field.to_string(),
            rule: RuleKind::Required,
            message: format!("{} is required.", self.label_of(field)),
        }
    }

    /// The field's label, or its key if the schema does not declare it.
    fn label_of(self, key: &FieldKey) -> String {
        self.schema
            .field(key)
            .map_or_else(|| key.to_string(), |definition| definition.label.clone())
    }

    /// The value as people read it, with option labels.
    fn shown(self, key: &FieldKey, value: &CustomValue) -> String {
        value_text(self.schema.field(key), value)
    }

    /// The problem a rule finds with the values, if it fails.
    fn failure(
        self,
        rule: &ValidationRule,
        before: &CustomValues,
        after: &CustomValues,
    ) -> Option<FieldProblem> {
        let problem = |field: &FieldKey, message: String| FieldProblem {
            field: field.to_string(),
            rule: rule.kind(),
            message,
        };
        match rule {
            ValidationRule::Required { field } => {
                after.get(field).is_none().then(|| self.required(field))
            }
            ValidationRule::RequiredWhen {
                field,
                when,
                equals,
            } => {
                if after.get(field).is_some() {
                    return None;
                }
                let condition = after.get(when)?;
                let message = match equals {
                    None => format!(
                        "{} is required when {} is set.",
                        self.label_of(field),
                        self.label_of(when)
                    ),
                    Some(wanted) if holds_value(condition, wanted) => format!(
                        "{} is required when {} is {}.",
                        self.label_of(field),
                        self.label_of(when),
                        self.shown(when, wanted)
                    ),
                    Some(_) => return None,
                };
                Some(problem(field, message))
            }
            ValidationRule::Range { field, min, max } => {
                let value = after.get(field)?;
                let below = min
                    .as_ref()
                    .is_some_and(|min| order(value, min) == Some(Ordering::Less));
                let above = max
                    .as_ref()
                    .is_some_and(|max| order(value, max) == Some(Ordering::Greater));
                (below || above)
                    .then(|| problem(field, self.range_message(field, min.as_ref(), max.as_ref())))
            }
            ValidationRule::Pattern {
                field,
                pattern,
                message,
            } => match after.get(field)? {
                CustomValue::Text(text) if !pattern.matches(text) => Some(problem(
                    field,
                    message
                        .clone()
                        .unwrap_or_else(|| format!("{} {pattern}.", self.label_of(field))),
                )),
                _ => None,
            },
            ValidationRule::Transitions { field, allowed } => {
                let (Some(CustomValue::Choice(from)), Some(CustomValue::Choice(to))) =
                    (before.get(field), after.get(field))
                else {
                    return None;
                };
                let permitted = from == to
                    || allowed
                        .iter()
                        .any(|step| step.from == *from && step.to == *to);
                (!permitted)
                    .then(|| problem(field, self.transition_message(field, from, to, allowed)))
            }
            ValidationRule::Compare {
                left,
                comparison,
                right,
            } => {
                let (left_value, right_value) = (after.get(left)?, after.get(right)?);
                let ordering = order(left_value, right_value)?;
                (!comparison.holds(ordering)).then(|| {
                    let dates = left_value.kind() == FieldKind::Date;
                    problem(
                        left,
                        format!(
                            "{} must be {} {} ({} is {}, {} is {}).",
                            self.label_of(left),
                            comparison.phrase(dates),
                            self.label_of(right),
                            self.label_of(left),
                            self.shown(left, left_value),
                            self.label_of(right),
                            self.shown(right, right_value),
                        ),
                    )
                })
            }
        }
    }

    fn range_message(
        self,
        field: &FieldKey,
        min: Option<&CustomValue>,
        max: Option<&CustomValue>,
    ) -> String {
        let label = self.label_of(field);
        let dates = self
            .schema
            .field(field)
            .is_some_and(|d| d.kind() == FieldKind::Date);
        let (at_least, at_most) = if dates {
            ("on or after", "on or before")
        } else {
            ("at least", "at most")
        };
        match (min, max) {
            (Some(min), Some(max)) => format!(
                "{label} must be between {} and {}.",
                self.shown(field, min),
                self.shown(field, max)
            ),
            (Some(min), None) => format!("{label} must be {at_least} {}.", self.shown(field, min)),
            (None, Some(max)) => format!("{label} must be {at_most} {}.", self.shown(field, max)),
            (None, None) => format!("{label} is out of range."),
        }
    }

    fn transition_message(
        self,
        field: &FieldKey,
        from: &OptionKey,
        to: &OptionKey,
        allowed: &[Transition],
    ) -> String {
        let definition = self.schema.field(field);
        let option_label = |key: &OptionKey| {
            definition
                .and_then(|d| d.field_type.option(key))
                .map_or_else(|| key.to_string(), |option| option.label.clone())
        };
        let targets: Vec<String> = allowed
            .iter()
            .filter(|step| step.from == *from)
            .map(|step| option_label(&step.to))
            .collect();
        let (label, from_label) = (self.label_of(field), option_label(from));
        let next = if targets.is_empty() {
            format!("{from_label} cannot be changed to another option")
        } else {
            format!("from {from_label} it can change to {}", targets.join(", "))
        };
        format!(
            "{label} cannot change from {from_label} to {}; {next}.",
            option_label(to)
        )
    }
}

/// Problems in the order found, each once.
#[derive(Default)]
struct Report {
    seen: HashSet<FieldProblem>,
    problems: Vec<FieldProblem>,
}

impl Report {
    fn push(&mut self, problem: FieldProblem) {
        if self.seen.insert(problem.clone()) {
            self.problems.push(problem);
        }
    }

    fn finish(self) -> Result<(), Vec<FieldProblem>> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }
}

/// Whether `value` is `wanted`, or, for a multi pick-list, includes the one option `wanted`
/// names.
pub(crate) fn holds_value(value: &CustomValue, wanted: &CustomValue) -> bool {
    match (value, wanted) {
        (CustomValue::Choices(held), CustomValue::Choice(option)) => held.contains(option),
        _ => value == wanted,
    }
}

/// How two values compare: numbers by value, money of one currency by amount, dates by date;
/// `None` for anything else.
pub(crate) fn order(left: &CustomValue, right: &CustomValue) -> Option<Ordering> {
    match (left, right) {
        (CustomValue::Number(a), CustomValue::Number(b)) => Some(a.cmp(b)),
        (CustomValue::Money(a), CustomValue::Money(b)) if a.currency == b.currency => {
            Some(a.minor.cmp(&b.minor))
        }
        (CustomValue::Date(a), CustomValue::Date(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Every problem with one rule of a schema whose fields are `fields`.
pub(crate) fn rule_problems(
    entity: EntityKind,
    index: usize,
    rule: &ValidationRule,
    fields: &BTreeMap<&FieldKey, &FieldDefinition>,
) -> Vec<SchemaProblem> {
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for field in rule.fields() {
        match fields.get(field) {
            None => problems.push(SchemaProblem::RuleUnknownField {
                entity,
                rule: index,
                field: field.clone(),
            }),
            Some(definition) if definition.deprecated => {
                problems.push(SchemaProblem::RuleOnDeprecatedField {
                    entity,
                    rule: index,
                    field: field.clone(),
                });
            }
            Some(definition) => found.push(*definition),
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let does_not_apply = |definition: &FieldDefinition| SchemaProblem::RuleDoesNotApply {
        entity,
        rule: index,
        rule_kind: rule.kind(),
        field: definition.key.clone(),
        kind: definition.kind(),
    };
    let does_not_fit = |field: &FieldKey, error: FieldError| SchemaProblem::RuleValueDoesNotFit {
        entity,
        rule: index,
        field: field.clone(),
        error,
    };
    match (rule, found.as_slice()) {
        (ValidationRule::RequiredWhen { field, equals, .. }, [_, when]) => {
            if *field == when.key {
                problems.push(SchemaProblem::RuleSelfReference {
                    entity,
                    rule: index,
                    field: field.clone(),
                });
            }
            if let Some(wanted) = equals
                && let Err(error) = fits_condition(when, wanted)
            {
                problems.push(does_not_fit(&when.key, error));
            }
        }
        (ValidationRule::Range { field, min, max }, [definition]) => {
            if !definition.kind().is_ordered() {
                problems.push(does_not_apply(definition));
            } else if min.is_none() && max.is_none() {
                problems.push(SchemaProblem::RuleEmptyRange {
                    entity,
                    rule: index,
                    field: field.clone(),
                });
            } else {
                let mut fitting = true;
                for bound in [min, max].into_iter().flatten() {
                    if let Err(error) = fits_bound(definition, bound) {
                        fitting = false;
                        problems.push(does_not_fit(field, error));
                    }
                }
                if let (true, Some(min), Some(max)) = (fitting, min, max)
                    && order(min, max) == Some(Ordering::Greater)
                {
                    problems.push(SchemaProblem::RuleRangeInverted {
                        entity,
                        rule: index,
                        field: field.clone(),
                    });
                }
            }
        }
        (ValidationRule::Pattern { field, pattern, .. }, [definition]) => {
            if definition.kind() != FieldKind::Text {
                problems.push(does_not_apply(definition));
            } else if pattern.is_degenerate() {
                problems.push(SchemaProblem::RuleEmptyPattern {
                    entity,
                    rule: index,
                    field: field.clone(),
                });
            }
        }
        (ValidationRule::Transitions { field, allowed }, [definition]) => {
            if definition.kind() == FieldKind::SinglePick {
                if allowed.is_empty() || allowed.iter().any(|step| step.from == step.to) {
                    problems.push(SchemaProblem::RuleInvalidTransitions {
                        entity,
                        rule: index,
                        field: field.clone(),
                    });
                }
                let mut named: Vec<&OptionKey> = allowed
                    .iter()
                    .flat_map(|step| [&step.from, &step.to])
                    .collect();
                named.sort();
                named.dedup();
                for option in named {
                    if definition.field_type.option(option).is_none() {
                        problems.push(SchemaProblem::RuleUnknownOption {
                            entity,
                            rule: index,
                            field: field.clone(),
                            option: option.clone(),
                        });
                    }
                }
            } else {
                problems.push(does_not_apply(definition));
            }
        }
        (ValidationRule::Compare { .. }, [left, right]) => {
            problems.extend(comparison_problems(entity, index, left, right));
        }
        // A required rule needs only its field to exist; rule.fields() names one field for
        // the other single-field rules and two for the rest.
        _ => {}
    }
    problems
}

/// Whether a comparison rule may relate the two fields.
fn comparison_problems(
    entity: EntityKind,
    index: usize,
    left: &FieldDefinition,
    right: &FieldDefinition,
) -> Vec<SchemaProblem> {
    if left.key == right.key {
        return vec![SchemaProblem::RuleSelfReference {
            entity,
            rule: index,
            field: left.key.clone(),
        }];
    }
    if !left.kind().is_ordered() || left.kind() != right.kind() {
        return vec![SchemaProblem::RuleIncomparable {
            entity,
            rule: index,
            left: left.key.clone(),
            left_kind: left.kind(),
            right: right.key.clone(),
            right_kind: right.kind(),
        }];
    }
    match (&left.field_type, &right.field_type) {
        (FieldType::Money { currency: a }, FieldType::Money { currency: b }) if a != b => {
            vec![SchemaProblem::RuleCurrenciesDiffer {
                entity,
                rule: index,
                left: left.key.clone(),
                left_currency: *a,
                right: right.key.clone(),
                right_currency: *b,
            }]
        }
        _ => Vec::new(),
    }
}

/// Whether a range bound is a value of the field's kind (and currency).
fn fits_bound(definition: &FieldDefinition, bound: &CustomValue) -> Result<(), FieldError> {
    match (&definition.field_type, bound) {
        (FieldType::Money { currency }, CustomValue::Money(money))
            if money.currency != *currency =>
        {
            Err(FieldError::WrongCurrency {
                expected: *currency,
                found: money.currency.to_string(),
            })
        }
        (FieldType::Number { .. }, CustomValue::Number(_))
        | (FieldType::Date, CustomValue::Date(_))
        | (FieldType::Money { .. }, CustomValue::Money(_)) => Ok(()),
        (field_type, value) => Err(FieldError::WrongKind {
            expected: field_type.kind(),
            found: value.kind(),
        }),
    }
}

/// Whether a condition's value could be held by the field: its kind (a single option for a
/// multi pick-list too), known options (retired ones included), currency and target.
fn fits_condition(definition: &FieldDefinition, wanted: &CustomValue) -> Result<(), FieldError> {
    match (&definition.field_type, wanted) {
        (FieldType::SinglePick { .. } | FieldType::MultiPick { .. }, CustomValue::Choice(_))
        | (FieldType::MultiPick { .. }, CustomValue::Choices(_)) => {
            for option in wanted.option_keys() {
                if definition.field_type.option(option).is_none() {
                    return Err(FieldError::UnknownOption {
                        option: option.to_string(),
                        allowed: definition
                            .field_type
                            .options()
                            .iter()
                            .map(|o| o.key.clone())
                            .collect(),
                    });
                }
            }
            if matches!(wanted, CustomValue::Choices(options) if options.is_empty()) {
                return Err(FieldError::Empty);
            }
            Ok(())
        }
        (FieldType::Text { .. }, CustomValue::Text(text)) if text.trim().is_empty() => {
            Err(FieldError::Empty)
        }
        (FieldType::Lookup { target }, CustomValue::Lookup(record)) if record.entity != *target => {
            Err(FieldError::WrongRecordKind {
                expected: *target,
                found: record.entity.to_string(),
            })
        }
        (FieldType::Text { .. }, CustomValue::Text(_))
        | (FieldType::Boolean, CustomValue::Boolean(_))
        | (FieldType::Lookup { .. }, CustomValue::Lookup(_)) => Ok(()),
        _ => fits_bound(definition, wanted),
    }
}

#[cfg(test)]
mod tests;
