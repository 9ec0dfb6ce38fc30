//! Custom field values as events record them, and a record's set of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::decimal::Decimal;
use super::definition::FieldKind;
use super::entity::EntityKind;
use super::key::{FieldKey, OptionKey};
use crate::Money;

/// The record a lookup field refers to: its kind and id (any [`EntityKind`], unlike the
/// crate-level [`crate::RecordRef`] of activities and tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkedRecord {
    /// The kind of record referred to.
    pub entity: EntityKind,
    /// Its id.
    pub id: Uuid,
}

/// One custom field's value, in the normalized form events record.
///
/// Serialized as tagged JSON, `{"type": …, "value": …}`, so a stored value says what it is
/// without its definition: `{"type":"text","value":"Gold partner"}`,
/// `{"type":"number","value":"12.50"}`, `{"type":"money","value":{"minor":1250,"currency":"EUR"}}`,
/// `{"type":"date","value":"2026-03-02"}`, `{"type":"boolean","value":true}`,
/// `{"type":"choice","value":"gold"}`, `{"type":"choices","value":["emea","apac"]}`,
/// `{"type":"lookup","value":{"entity":"contact","id":"…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum CustomValue {
    /// Text, trimmed and in Unicode NFC.
    Text(String),
    /// An exact decimal number, kept with the field's decimal places.
    Number(Decimal),
    /// An amount of money in minor units.
    Money(Money),
    /// A calendar date.
    Date(NaiveDate),
    /// Yes or no.
    Boolean(bool),
    /// The chosen option of a single pick-list.
    Choice(OptionKey),
    /// The chosen options of a multi pick-list (never empty when set through a definition),
    /// ordered by key.
    Choices(BTreeSet<OptionKey>),
    /// Another record.
    Lookup(LinkedRecord),
}

impl CustomValue {
    /// The kind of field a value of this shape belongs to.
    pub fn kind(&self) -> FieldKind {
        match self {
            CustomValue::Text(_) => FieldKind::Text,
            CustomValue::Number(_) => FieldKind::Number,
            CustomValue::Money(_) => FieldKind::Money,
            CustomValue::Date(_) => FieldKind::Date,
            CustomValue::Boolean(_) => FieldKind::Boolean,
            CustomValue::Choice(_) => FieldKind::SinglePick,
            CustomValue::Choices(_) => FieldKind::MultiPick,
            CustomValue::Lookup(_) => FieldKind::Lookup,
        }
    }

    /// The value as a client sees it and may send it back to set the same value: text and
    /// dates as strings, numbers as exact strings (`"12.50"`), money as
    /// `{"amount": "12.50", "currency": "EUR"}`, booleans as booleans, a choice as its key,
    /// choices as an array of keys, a lookup as the record's id.
    ///
    /// [`super::FieldDefinition::parse`] reads it back to the same value.
    pub fn to_client_json(&self) -> Value {
        match self {
            CustomValue::Text(text) => json!(text),
            CustomValue::Number(number) => json!(number.to_string()),
            CustomValue::Money(money) => json!({
                "amount": money_amount(*money),
                "currency": money.currency.as_str(),
            }),
            CustomValue::Date(date) => json!(date.format("%Y-%m-%d").to_string()),
            CustomValue::Boolean(flag) => json!(flag),
            CustomValue::Choice(option) => json!(option.as_str()),
            CustomValue::Choices(options) => {
                Value::Array(options.iter().map(|o| json!(o.as_str())).collect())
            }
            CustomValue::Lookup(record) => json!(record.id.to_string()),
        }
    }

    /// The option keys the value holds: the choice, or every one of the choices.
    pub fn option_keys(&self) -> Vec<&OptionKey> {
        match self {
            CustomValue::Choice(option) => vec![option],
            CustomValue::Choices(options) => options.iter().collect(),
            _ => Vec::new(),
        }
    }
}

/// A money amount in major units without its currency: `12.50` for 1250 minor units of EUR.
pub(crate) fn money_amount(money: Money) -> String {
    let shown = money.to_string();
    shown
        .strip_suffix(money.currency.as_str())
        .map_or(shown.clone(), |amount| amount.trim_end().to_owned())
}

/// Text for people, without labels (a read model shows labels through
/// [`super::StoredValue::text`]): text as is, numbers with their decimal places, money as
/// `12.50 EUR`, dates as `2026-03-02`, booleans as `true`/`false`, option keys (several
/// separated by `, `), a lookup's record id.
impl fmt::Display for CustomValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CustomValue::Text(text) => f.write_str(text),
            CustomValue::Number(number) => fmt::Display::fmt(number, f),
            CustomValue::Money(money) => fmt::Display::fmt(money, f),
            CustomValue::Date(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            CustomValue::Boolean(flag) => write!(f, "{flag}"),
            CustomValue::Choice(option) => f.write_str(option.as_str()),
            CustomValue::Choices(options) => {
                let keys: Vec<&str> = options.iter().map(OptionKey::as_str).collect();
                f.write_str(&keys.join(", "))
            }
            CustomValue::Lookup(record) => fmt::Display::fmt(&record.id, f),
        }
    }
}

/// A record's custom field values, by key. A field without a value has no entry.
///
/// Serialized as a JSON object of key → tagged value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomValues(BTreeMap<FieldKey, CustomValue>);

impl CustomValues {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &FieldKey) -> Option<&CustomValue> {
        self.0.get(key)
    }

    /// The value of the field spelled `key`, if set.
    pub fn get_str(&self, key: &str) -> Option<&CustomValue> {
        FieldKey::new(key).ok().and_then(|key| self.0.get(&key))
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn set(&mut self, key: FieldKey, value: CustomValue) -> Option<CustomValue> {
        self.0.insert(key, value)
    }

    /// Clears `key`, returning the value it had.
    pub fn clear(&mut self, key: &FieldKey) -> Option<CustomValue> {
        self.0.remove(key)
    }

    /// Every value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&FieldKey, &CustomValue)> {
        self.0.iter()
    }

    /// How many fields have a value.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no field has a value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What changed from `self` to `after`: the values set or replaced, and the fields
    /// cleared. `self.with_change(&self.change_to(after)) == *after`.
    pub fn change_to(&self, after: &CustomValues) -> CustomValuesChange {
        let set = after
            .iter()
            .filter(|(key, value)| self.get(key) != Some(value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let cleared = self
            .0
            .keys()
            .filter(|key| after.get(key).is_none())
            .cloned()
            .collect();
        CustomValuesChange { set, cleared }
    }

    /// These values with a recorded change applied; never fails (a recorded fact is a fact).
    #[must_use]
    pub fn with_change(mut self, change: &CustomValuesChange) -> Self {
        for key in &change.cleared {
            self.0.remove(key);
        }
        for (key, value) in &change.set {
            self.0.insert(key.clone(), value.clone());
        }
        self
    }
}

impl FromIterator<(FieldKey, CustomValue)> for CustomValues {
    fn from_iter<I: IntoIterator<Item = (FieldKey, CustomValue)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A change to a record's custom values, as an event records it: the values set (new or
/// replaced) and the fields cleared. Applying it ([`CustomValues::with_change`]) never fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomValuesChange {
    /// The values set, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<FieldKey, CustomValue>,
    /// The fields cleared.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub cleared: BTreeSet<FieldKey>,
}

impl CustomValuesChange {
    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.cleared.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn key(text: &str) -> FieldKey {
        FieldKey::new(text).unwrap()
    }

    fn option(text: &str) -> OptionKey {
        OptionKey::new(text).unwrap()
    }

    #[test]
    fn values_are_stored_as_tagged_json() {
        let eur = Currency::new("EUR").unwrap();
        let id = Uuid::from_u128(7);
        let cases = [
            (
                CustomValue::Text("Gold partner".into()),
                json!({"type": "text", "value": "Gold partner"}),
            ),
            (
                CustomValue::Number(Decimal::new(1250, 2).unwrap()),
                json!({"type": "number", "value": "12.50"}),
            ),
            (
                CustomValue::Money(Money::new(1250, eur)),
                json!({"type": "money", "value": {"minor": 1250, "currency": "EUR"}}),
            ),
            (
                CustomValue::Date(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
                json!({"type": "date", "value": "2026-03-02"}),
            ),
            (
                CustomValue::Boolean(true),
                json!({"type": "boolean", "value": true}),
            ),
            (
                CustomValue::Choice(option("gold")),
                json!({"type": "choice", "value": "gold"}),
            ),
            (
                CustomValue::Choices(BTreeSet::from([option("emea"), option("apac")])),
                json!({"type": "choices", "value": ["apac", "emea"]}),
            ),
            (
                CustomValue::Lookup(LinkedRecord {
                    entity: EntityKind::Contact,
                    id,
                }),
                json!({"type": "lookup", "value": {"entity": "contact", "id": id.to_string()}}),
            ),
        ];
        for (value, stored) in cases {
            assert_eq!(serde_json::to_value(&value).unwrap(), stored);
            assert_eq!(
                serde_json::from_value::<CustomValue>(stored).unwrap(),
                value
            );
        }
    }

    #[test]
    fn values_show_as_people_read_them() {
        let eur = Currency::new("EUR").unwrap();
        assert_eq!(
            CustomValue::Money(Money::new(-5, eur)).to_string(),
            "-0.05 EUR"
        );
        assert_eq!(
            CustomValue::Money(Money::new(1250, eur)).to_client_json(),
            json!({"amount": "12.50", "currency": "EUR"})
        );
        assert_eq!(
            CustomValue::Choices(BTreeSet::from([option("emea"), option("apac")])).to_string(),
            "apac, emea"
        );
        assert_eq!(CustomValue::Boolean(false).to_string(), "false");
    }

    #[test]
    fn a_change_replays_to_the_values_it_was_taken_from() {
        let before: CustomValues = [
            (key("tier"), CustomValue::Choice(option("gold"))),
            (key("note"), CustomValue::Text("old".into())),
            (key("vip"), CustomValue::Boolean(true)),
        ]
        .into_iter()
        .collect();
        let after: CustomValues = [
            (key("tier"), CustomValue::Choice(option("silver"))),
            (key("vip"), CustomValue::Boolean(true)),
            (key("region"), CustomValue::Text("EMEA".into())),
        ]
        .into_iter()
        .collect();
        let change = before.change_to(&after);
        assert_eq!(change.cleared, BTreeSet::from([key("note")]));
        assert_eq!(change.set.len(), 2);
        assert_eq!(before.clone().with_change(&change), after);
        assert!(after.change_to(&after).is_empty());
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            json!({
                "set": {
                    "region": {"type": "text", "value": "EMEA"},
                    "tier": {"type": "choice", "value": "silver"}
                },
                "cleared": ["note"]
            })
        );
    }
}
