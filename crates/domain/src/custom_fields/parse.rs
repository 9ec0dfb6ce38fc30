//! Reading a value a client sent against its field's definition, with normalization, and
//! checking a typed value against a definition.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde_json::Value;
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::decimal::{Decimal, DecimalError, MAX_DECIMAL_PLACES};
use super::definition::{FieldDefinition, FieldKind, FieldType, PickOption};
use super::entity::EntityKind;
use super::key::OptionKey;
use super::value::{CustomValue, LinkedRecord};
use crate::{Currency, Money};

/// Why a value does not fit its field. The messages complete a sentence that starts with the
/// field's label ("Discount: must be at most 30").
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldError {
    /// No value: `null`, blank text or an empty list.
    #[error("no value was given; send null to clear the field")]
    Empty,
    /// The JSON value is of the wrong kind for the field.
    #[error("expected {expected}, got {found}")]
    WrongJsonType {
        /// What the field takes.
        expected: &'static str,
        /// What was sent.
        found: &'static str,
    },
    /// Text longer than the field allows.
    #[error("is {length} characters long; at most {max_length} are allowed")]
    TooLong {
        /// The length sent, in characters.
        length: usize,
        /// The most allowed.
        max_length: u32,
    },
    /// Text with a control character other than a line break or a tab.
    #[error("contains a control character; only line breaks and tabs are allowed")]
    ControlCharacter,
    /// Not a number.
    #[error("{text:?} is not a number (digits with an optional decimal point, such as 1234.56)")]
    NotANumber {
        /// The text sent.
        text: String,
    },
    /// More decimal places than the field (or the currency) has.
    #[error("{text} has more than {places} decimal places")]
    TooManyDecimals {
        /// The number sent.
        text: String,
        /// The most decimal places allowed.
        places: u8,
    },
    /// A number too large to keep exactly.
    #[error("{text} is too large")]
    TooLarge {
        /// The number sent.
        text: String,
    },
    /// Below the field's minimum.
    #[error("must be at least {min}")]
    BelowMinimum {
        /// The minimum.
        min: Decimal,
    },
    /// Above the field's maximum.
    #[error("must be at most {max}")]
    AboveMaximum {
        /// The maximum.
        max: Decimal,
    },
    /// Money in another currency than the field's.
    #[error("must be in {expected}, not {found}")]
    WrongCurrency {
        /// The field's currency.
        expected: Currency,
        /// The currency sent.
        found: String,
    },
    /// Not a date.
    #[error("{text:?} is not a date (YYYY-MM-DD)")]
    NotADate {
        /// The text sent.
        text: String,
    },
    /// Text that is neither `true` nor `false`.
    #[error("{text:?} is not true or false")]
    NotABoolean {
        /// The text sent.
        text: String,
    },
    /// An option the pick-list does not have.
    #[error("{option:?} is not one of the options ({})", list(.allowed))]
    UnknownOption {
        /// The option sent.
        option: String,
        /// The options that can be chosen.
        allowed: Vec<OptionKey>,
    },
    /// A retired option, which can no longer be chosen.
    #[error("the option {option} is retired and can no longer be chosen")]
    RetiredOption {
        /// The option.
        option: OptionKey,
    },
    /// Not a record id.
    #[error("{text:?} is not a record id")]
    NotARecordId {
        /// The text sent.
        text: String,
    },
    /// A reference to the wrong kind of record.
    #[error("must refer to a {expected}, not a {found}")]
    WrongRecordKind {
        /// The kind the field refers to.
        expected: EntityKind,
        /// The kind sent.
        found: String,
    },
    /// A typed value of another kind than the field's (only values built outside this module
    /// can be).
    #[error("holds a {found} value but the field is a {expected} field")]
    WrongKind {
        /// The field's kind.
        expected: FieldKind,
        /// The value's kind.
        found: FieldKind,
    },
    /// The record kind has no such custom field.
    #[error("is not a field of this record")]
    UnknownField,
    /// The field is deprecated: it can be cleared but not set.
    #[error("is deprecated and can no longer be set; it can only be cleared")]
    DeprecatedField,
}

fn list(options: &[OptionKey]) -> String {
    let keys: Vec<&str> = options.iter().map(OptionKey::as_str).collect();
    keys.join(", ")
}

/// How a value is read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reading<'a> {
    /// To be set by a command on a record whose current value is `before`: every bound of the
    /// type applies, and retired options are refused unless `before` already holds them.
    Set {
        /// The record's current value of the field.
        before: Option<&'a CustomValue>,
    },
    /// To be looked for (a filter, a rule's condition): retired options, values outside the
    /// type's bounds and up to [`MAX_DECIMAL_PLACES`] decimals are accepted.
    Query,
}

/// The kind of a JSON value, as messages name it.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn wrong(expected: &'static str, found: &Value) -> FieldError {
    if found.is_null() {
        FieldError::Empty
    } else {
        FieldError::WrongJsonType {
            expected,
            found: json_kind(found),
        }
    }
}

fn from_decimal_error(error: DecimalError) -> FieldError {
    match error {
        DecimalError::NotANumber { text } => FieldError::NotANumber { text },
        DecimalError::TooManyDecimals { text, places } => {
            FieldError::TooManyDecimals { text, places }
        }
        DecimalError::OutOfRange { text } => FieldError::TooLarge { text },
    }
}

/// Text trimmed of surrounding white space, in Unicode NFC.
fn normalize_text(text: &str) -> String {
    let composed: String = text.trim().nfc().collect();
    composed.trim().to_owned()
}

/// Whether text holds a control character other than a line break or a tab.
fn has_control_character(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

impl FieldDefinition {
    /// Reads a value a client sent for this field, normalized as events record it.
    ///
    /// Accepted: text as a JSON string (trimmed, Unicode NFC, no control characters but line
    /// breaks and tabs, at most the field's length); a number as a JSON number or string
    /// (`12.5`, `"12.50"`, `"1.5e3"`), kept with the field's decimal places, within its
    /// bounds, extra non-zero decimals refused rather than rounded; money as an amount in
    /// major units (`12.5`, `"12.50"`, `"12.50 EUR"`, `{"amount": "12.50", "currency": "EUR"}`),
    /// kept in minor units, in the field's currency only; a date as `"YYYY-MM-DD"`; a boolean
    /// as `true`/`false` (or that text); a pick-list option by its key (case-insensitively),
    /// a multi pick-list as a list of keys (duplicates merged); a lookup as the record's id
    /// (or `{"entity": "contact", "id": "…"}`). Retired options are refused.
    ///
    /// `null`, blank text and an empty list are [`FieldError::Empty`]: clearing a field is the
    /// schema's business ([`super::CustomFieldSchema::apply`]), as is refusing to set a
    /// deprecated field. Never panics, whatever the JSON.
    pub fn parse(&self, input: &Value) -> Result<CustomValue, FieldError> {
        self.read(input, Reading::Set { before: None })
    }

    /// Reads a value as `reading` says.
    pub(crate) fn read(
        &self,
        input: &Value,
        reading: Reading<'_>,
    ) -> Result<CustomValue, FieldError> {
        let value = self.normalize(input, reading)?;
        match reading {
            Reading::Set { before } => self.admits(&value, before)?,
            Reading::Query => {
                // Only the options' existence matters to a query: retired ones are looked for.
                for option in value.option_keys() {
                    self.known_option(option.as_str())?;
                }
            }
        }
        Ok(value)
    }

    /// Checks a typed value against the definition, as [`FieldDefinition::parse`] would have
    /// (without normalizing it again):
    /// its kind, the text's length and characters, the number's decimals and bounds, the
    /// money's currency, the options (a retired option is accepted only if `before`, the
    /// record's current value, already holds it), the lookup's target.
    pub fn admits(
        &self,
        value: &CustomValue,
        before: Option<&CustomValue>,
    ) -> Result<(), FieldError> {
        match (&self.field_type, value) {
            (FieldType::Text { max_length }, CustomValue::Text(text)) => {
                if text.trim().is_empty() {
                    return Err(FieldError::Empty);
                }
                let length = text.chars().count();
                if u32::try_from(length).map_or(true, |length| length > *max_length) {
                    return Err(FieldError::TooLong {
                        length,
                        max_length: *max_length,
                    });
                }
                if has_control_character(text) {
                    return Err(FieldError::ControlCharacter);
                }
                Ok(())
            }
            (
                FieldType::Number {
                    decimal_places,
                    min,
                    max,
                },
                CustomValue::Number(number),
            ) => {
                if number.significant_places() > *decimal_places {
                    return Err(FieldError::TooManyDecimals {
                        text: number.to_string(),
                        places: *decimal_places,
                    });
                }
                if let Some(min) = min.filter(|min| number < min) {
                    return Err(FieldError::BelowMinimum { min });
                }
                if let Some(max) = max.filter(|max| number > max) {
                    return Err(FieldError::AboveMaximum { max });
                }
                Ok(())
            }
            (FieldType::Money { currency }, CustomValue::Money(money)) => {
                if money.currency == *currency {
                    Ok(())
                } else {
                    Err(FieldError::WrongCurrency {
                        expected: *currency,
                        found: money.currency.to_string(),
                    })
                }
            }
            (FieldType::Date, CustomValue::Date(_))
            | (FieldType::Boolean, CustomValue::Boolean(_)) => Ok(()),
            (FieldType::SinglePick { .. }, CustomValue::Choice(option)) => {
                let held = before == Some(value);
                self.choosable(option, held)
            }
            (FieldType::MultiPick { .. }, CustomValue::Choices(options)) => {
                if options.is_empty() {
                    return Err(FieldError::Empty);
                }
                for option in options {
                    let held =
                        matches!(before, Some(CustomValue::Choices(held)) if held.contains(option));
                    self.choosable(option, held)?;
                }
                Ok(())
            }
            (FieldType::Lookup { target }, CustomValue::Lookup(record)) => {
                if record.entity != *target {
                    Err(FieldError::WrongRecordKind {
                        expected: *target,
                        found: record.entity.to_string(),
                    })
                } else if record.id.is_nil() {
                    Err(FieldError::NotARecordId {
                        text: record.id.to_string(),
                    })
                } else {
                    Ok(())
                }
            }
            (field_type, value) => Err(FieldError::WrongKind {
                expected: field_type.kind(),
                found: value.kind(),
            }),
        }
    }

    /// Whether `option` may be chosen: it exists, and is current or already `held`.
    fn choosable(&self, option: &OptionKey, held: bool) -> Result<(), FieldError> {
        let known = self.known_option(option.as_str())?;
        if known.retired && !held {
            Err(FieldError::RetiredOption {
                option: option.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// The option spelled `text` (trimmed, case-insensitively), retired or not.
    fn known_option(&self, text: &str) -> Result<&PickOption, FieldError> {
        let wanted = text.trim().to_ascii_lowercase();
        self.field_type
            .options()
            .iter()
            .find(|option| option.key.as_str() == wanted)
            .ok_or_else(|| FieldError::UnknownOption {
                option: text.to_owned(),
                allowed: self
                    .field_type
                    .options()
                    .iter()
                    .filter(|option| !option.retired)
                    .map(|option| option.key.clone())
                    .collect(),
            })
    }

    /// The JSON turned into a value of the field's kind, normalized; bounds are not checked.
    fn normalize(&self, input: &Value, reading: Reading<'_>) -> Result<CustomValue, FieldError> {
        match &self.field_type {
            FieldType::Text { .. } => {
                let Value::String(text) = input else {
                    return Err(wrong("text", input));
                };
                let text = normalize_text(text);
                if text.is_empty() {
                    return Err(FieldError::Empty);
                }
                Ok(CustomValue::Text(text))
            }
            FieldType::Number { decimal_places, .. } => {
                let text = number_text(input).ok_or_else(|| wrong("a number", input))?;
                if text.is_empty() {
                    return Err(FieldError::Empty);
                }
                let most = match reading {
                    Reading::Set { .. } => *decimal_places,
                    Reading::Query => MAX_DECIMAL_PLACES,
                };
                // The field's places, or as few more as the number needs when a query may have
                // more: a value near the 64-bit limit does not fit with every place.
                let mut read = Decimal::parse_with_places(&text, *decimal_places);
                for places in decimal_places.saturating_add(1)..=most {
                    if !matches!(read, Err(DecimalError::TooManyDecimals { .. })) {
                        break;
                    }
                    read = Decimal::parse_with_places(&text, places);
                }
                read.map(CustomValue::Number).map_err(from_decimal_error)
            }
            FieldType::Money { currency } => read_money(input, *currency).map(CustomValue::Money),
            FieldType::Date => match input {
                Value::String(text) => read_date(text).map(CustomValue::Date),
                _ => Err(wrong("a date (YYYY-MM-DD)", input)),
            },
            FieldType::Boolean => match input {
                Value::Bool(flag) => Ok(CustomValue::Boolean(*flag)),
                Value::String(text) => read_boolean(text).map(CustomValue::Boolean),
                _ => Err(wrong("true or false", input)),
            },
            FieldType::SinglePick { .. } => match input {
                Value::String(text) if text.trim().is_empty() => Err(FieldError::Empty),
                Value::String(text) => {
                    Ok(CustomValue::Choice(self.known_option(text)?.key.clone()))
                }
                _ => Err(wrong("an option key", input)),
            },
            FieldType::MultiPick { .. } => {
                let Value::Array(items) = input else {
                    return Err(wrong("a list of option keys", input));
                };
                let mut chosen = BTreeSet::new();
                for item in items {
                    let Value::String(text) = item else {
                        return Err(wrong("a list of option keys", input));
                    };
                    chosen.insert(self.known_option(text)?.key.clone());
                }
                if chosen.is_empty() {
                    return Err(FieldError::Empty);
                }
                Ok(CustomValue::Choices(chosen))
            }
            FieldType::Lookup { target } => read_lookup(input, *target).map(CustomValue::Lookup),
        }
    }
}

/// The text of a number sent as a JSON number or a string; `None` for anything else.
fn number_text(input: &Value) -> Option<String> {
    match input {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(text.trim().to_owned()),
        _ => None,
    }
}

/// Money in `currency` from an amount in major units, optionally naming its currency.
fn read_money(input: &Value, currency: Currency) -> Result<Money, FieldError> {
    let expected = "an amount of money";
    let (amount, code) = match input {
        Value::Number(number) => (number.to_string(), None),
        Value::String(text) => split_currency(text.trim()),
        Value::Object(fields) => {
            let amount = fields
                .get("amount")
                .and_then(number_text)
                .ok_or_else(|| wrong(expected, input))?;
            let code = match fields.get("currency") {
                None | Some(Value::Null) => None,
                Some(Value::String(code)) => Some(code.trim().to_owned()),
                Some(other) => return Err(wrong(expected, other)),
            };
            (amount, code)
        }
        _ => return Err(wrong(expected, input)),
    };
    if amount.is_empty() {
        return Err(FieldError::Empty);
    }
    if let Some(code) = code
        && !code.eq_ignore_ascii_case(currency.as_str())
    {
        return Err(FieldError::WrongCurrency {
            expected: currency,
            found: code,
        });
    }
    let places = currency.minor_unit_exponent().unwrap_or(0);
    let units = Decimal::parse_with_places(&amount, places).map_err(from_decimal_error)?;
    Ok(Money::new(units.units(), currency))
}

/// An amount and the currency code written before or after it (`"12.50 EUR"`, `"EUR 12.50"`).
fn split_currency(text: &str) -> (String, Option<String>) {
    let is_code = |word: &str| word.len() == 3 && word.bytes().all(|b| b.is_ascii_alphabetic());
    if let Some((amount, code)) = text.rsplit_once(char::is_whitespace)
        && is_code(code)
    {
        return (amount.trim().to_owned(), Some(code.to_owned()));
    }
    if let Some((code, amount)) = text.split_once(char::is_whitespace)
        && is_code(code)
    {
        return (amount.trim().to_owned(), Some(code.to_owned()));
    }
    (text.to_owned(), None)
}

/// A date written `YYYY-MM-DD` (ISO 8601's calendar date, four-digit year).
fn read_date(text: &str) -> Result<NaiveDate, FieldError> {
    let trimmed = text.trim();
    let not_a_date = || FieldError::NotADate {
        text: text.to_owned(),
    };
    if trimmed.is_empty() {
        return Err(FieldError::Empty);
    }
    let bytes = trimmed.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(at, b)| at == 4 || at == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(not_a_date());
    }
    let number = |range: std::ops::Range<usize>| trimmed[range].parse::<u32>().ok();
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return Err(not_a_date());
    };
    let year = i32::try_from(year).map_err(|_| not_a_date())?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(not_a_date)
}

/// `true` or `false`, in any letter case.
fn read_boolean(text: &str) -> Result<bool, FieldError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        Err(FieldError::Empty)
    } else if trimmed.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if trimmed.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(FieldError::NotABoolean {
            text: text.to_owned(),
        })
    }
}

/// A reference to a `target` record: its id, or `{"entity": …, "id": …}`.
fn read_lookup(input: &Value, target: EntityKind) -> Result<LinkedRecord, FieldError> {
    let expected = "a record id";
    let id_text = match input {
        Value::String(text) => text,
        Value::Object(fields) => {
            if let Some(entity) = fields.get("entity") {
                let Value::String(entity) = entity else {
                    return Err(wrong(expected, entity));
                };
                if entity.trim() != target.as_str() {
                    return Err(FieldError::WrongRecordKind {
                        expected: target,
                        found: entity.clone(),
                    });
                }
            }
            match fields.get("id") {
                Some(Value::String(text)) => text,
                _ => return Err(wrong(expected, input)),
            }
        }
        _ => return Err(wrong(expected, input)),
    };
    let trimmed = id_text.trim();
    if trimmed.is_empty() {
        return Err(FieldError::Empty);
    }
    match Uuid::parse_str(trimmed) {
        Ok(id) if !id.is_nil() => Ok(LinkedRecord { entity: target, id }),
        _ => Err(FieldError::NotARecordId {
            text: id_text.clone(),
        }),
    }
}

#[cfg(test)]
mod tests;
