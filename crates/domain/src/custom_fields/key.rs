//! The stable keys of custom fields and of pick-list options.
//!
//! A key is what events, read models and API documents use; a label is what people read. Keys
//! never change once published, labels may.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest key accepted, in characters.
pub const MAX_KEY_LENGTH: usize = 64;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The key is empty.
    #[error("a key cannot be empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LENGTH`].
    #[error("the key {key:?} is longer than {MAX_KEY_LENGTH} characters")]
    TooLong {
        /// The key as given.
        key: String,
    },
    /// The key is not lower-case snake_case.
    #[error(
        "the key {key:?} must be lower-case snake_case: letters a-z, digits and single underscores between them{}",
        if *.letter_first { ", starting with a letter" } else { "" }
    )]
    NotSnakeCase {
        /// The key as given.
        key: String,
        /// Whether the key must start with a letter (field keys) or may start with a digit
        /// (option keys).
        letter_first: bool,
    },
}

/// Checks `key` is 1..=64 characters of `a-z`, `0-9` and single underscores between them,
/// starting with a letter when `letter_first`.
fn check_snake_case(key: &str, letter_first: bool) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LENGTH {
        return Err(KeyError::TooLong {
            key: key.to_owned(),
        });
    }
    let first_ok = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || (!letter_first && b.is_ascii_digit()));
    let chars_ok = key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let underscores_ok = !key.ends_with('_') && !key.contains("__");
    if first_ok && chars_ok && underscores_ok {
        Ok(())
    } else {
        Err(KeyError::NotSnakeCase {
            key: key.to_owned(),
            letter_first,
        })
    }
}

/// The stable key of a custom field: lower-case snake_case, starting with a letter, 1 to 64
/// characters (`renewal_date`, `tier2_discount`).
///
/// Whether a key clashes with an entity's built-in fields is checked by the schema, which knows
/// the entity ([`super::EntityKind::is_built_in`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldKey(String);

impl FieldKey {
    /// Validates a field key; the text is taken as it is (no trimming, no case folding), so
    /// what is stored is exactly what was configured.
    pub fn new(key: &str) -> Result<Self, KeyError> {
        check_snake_case(key, true)?;
        Ok(Self(key.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FieldKey {
    type Error = KeyError;
    fn try_from(key: String) -> Result<Self, Self::Error> {
        check_snake_case(&key, true)?;
        Ok(Self(key))
    }
}

impl From<FieldKey> for String {
    fn from(key: FieldKey) -> Self {
        key.0
    }
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stable key of a pick-list option: lower-case snake_case, 1 to 64 characters, and unlike
/// a field key it may start with a digit (`gold`, `11_50_employees`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OptionKey(String);

impl OptionKey {
    /// Validates an option key; the text is taken as it is.
    pub fn new(key: &str) -> Result<Self, KeyError> {
        check_snake_case(key, false)?;
        Ok(Self(key.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OptionKey {
    type Error = KeyError;
    fn try_from(key: String) -> Result<Self, Self::Error> {
        check_snake_case(&key, false)?;
        Ok(Self(key))
    }
}

impl From<OptionKey> for String {
    fn from(key: OptionKey) -> Self {
        key.0
    }
}

impl fmt::Display for OptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_are_lower_case_snake_case_starting_with_a_letter() {
        for good in ["a", "renewal_date", "tier2_discount", &"k".repeat(64)] {
            assert_eq!(FieldKey::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "Renewal",
            "2nd_owner",
            "_x",
            "x_",
            "a__b",
            "a-b",
            "a b",
            "é",
            " a",
            "a\n",
        ] {
            assert_eq!(
                FieldKey::new(bad),
                Err(KeyError::NotSnakeCase {
                    key: bad.into(),
                    letter_first: true
                }),
                "{bad:?}"
            );
        }
        assert_eq!(FieldKey::new(""), Err(KeyError::Empty));
        assert!(matches!(
            FieldKey::new(&"k".repeat(65)),
            Err(KeyError::TooLong { .. })
        ));
    }

    #[test]
    fn option_keys_may_start_with_a_digit() {
        assert!(OptionKey::new("11_50_employees").is_ok());
        assert!(OptionKey::new("gold").is_ok());
        assert!(OptionKey::new("Gold").is_err());
        assert!(OptionKey::new("_gold").is_err());
    }

    #[test]
    fn keys_are_validated_when_read_from_json() {
        assert!(serde_json::from_str::<FieldKey>("\"Tier\"").is_err());
        assert_eq!(
            serde_json::from_str::<FieldKey>("\"tier\"").unwrap(),
            FieldKey::new("tier").unwrap()
        );
        assert!(serde_json::from_str::<OptionKey>("\"\"").is_err());
    }

    #[test]
    fn the_messages_say_what_a_key_must_look_like() {
        let message = FieldKey::new("2nd").unwrap_err().to_string();
        assert_eq!(
            message,
            "the key \"2nd\" must be lower-case snake_case: letters a-z, digits and single underscores between them, starting with a letter"
        );
    }
}
