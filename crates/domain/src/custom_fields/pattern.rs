//! Text patterns for validation rules: a small, documented subset of what regular expressions
//! do, since crm-domain does not depend on a regex engine.
//!
//! A pattern is one of: starts with, ends with, contains (a literal text, case-sensitive);
//! only characters of some classes (digits, letters, …) plus listed extra characters; or a
//! shape, one pattern character per character of the value: `#` a digit, `@` a letter, `*` a
//! letter or digit, `\` makes the next character literal, any other character stands for
//! itself (`PO-####` matches `PO-1234`). Matching is linear in the text's length and never
//! backtracks.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A class of characters for [`TextPattern::OnlyCharacters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CharClass {
    /// An ASCII digit, 0 to 9.
    Digit,
    /// A letter of any script.
    Letter,
    /// An upper-case letter.
    Upper,
    /// A lower-case letter.
    Lower,
    /// A space (U+0020).
    Space,
    /// A letter of any script or an ASCII digit.
    Alphanumeric,
}

impl CharClass {
    fn contains(self, c: char) -> bool {
        match self {
            CharClass::Digit => c.is_ascii_digit(),
            CharClass::Letter => c.is_alphabetic(),
            CharClass::Upper => c.is_uppercase(),
            CharClass::Lower => c.is_lowercase(),
            CharClass::Space => c == ' ',
            CharClass::Alphanumeric => c.is_alphabetic() || c.is_ascii_digit(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            CharClass::Digit => "digits",
            CharClass::Letter => "letters",
            CharClass::Upper => "upper-case letters",
            CharClass::Lower => "lower-case letters",
            CharClass::Space => "spaces",
            CharClass::Alphanumeric => "letters and digits",
        }
    }
}

/// What a text value must look like. Serialized tagged by `kind`:
/// `{"kind":"starts_with","text":"PO-"}`, `{"kind":"only_characters","classes":["digit"],"also":"-"}`,
/// `{"kind":"shape","shape":"PO-####"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TextPattern {
    /// The text starts with `text` (case-sensitive).
    StartsWith {
        /// The prefix.
        text: String,
    },
    /// The text ends with `text` (case-sensitive).
    EndsWith {
        /// The suffix.
        text: String,
    },
    /// The text contains `text` (case-sensitive).
    Contains {
        /// The text looked for.
        text: String,
    },
    /// Every character of the text is in one of `classes` or among `also`.
    OnlyCharacters {
        /// The classes allowed.
        classes: Vec<CharClass>,
        /// Further characters allowed (`"-_."`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        also: String,
    },
    /// The text has exactly this shape: `#` a digit, `@` a letter, `*` a letter or digit,
    /// `\` makes the next character literal, any other character stands for itself.
    Shape {
        /// The shape.
        shape: String,
    },
}

/// One position of a shape.
enum Slot {
    Digit,
    Letter,
    Alphanumeric,
    Literal(char),
}

/// A shape's slots; `None` if it ends in a lone `\`.
fn slots(shape: &str) -> Option<Vec<Slot>> {
    let mut slots = Vec::new();
    let mut chars = shape.chars();
    while let Some(c) = chars.next() {
        slots.push(match c {
            '#' => Slot::Digit,
            '@' => Slot::Letter,
            '*' => Slot::Alphanumeric,
            '\\' => Slot::Literal(chars.next()?),
            other => Slot::Literal(other),
        });
    }
    Some(slots)
}

impl TextPattern {
    /// Whether `text` has the pattern.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextPattern::StartsWith { text: prefix } => text.starts_with(prefix.as_str()),
            TextPattern::EndsWith { text: suffix } => text.ends_with(suffix.as_str()),
            TextPattern::Contains { text: part } => text.contains(part.as_str()),
            TextPattern::OnlyCharacters { classes, also } => text
                .chars()
                .all(|c| also.contains(c) || classes.iter().any(|class| class.contains(c))),
            TextPattern::Shape { shape } => slots(shape).is_some_and(|slots| {
                text.chars().count() == slots.len()
                    && text.chars().zip(&slots).all(|(c, slot)| match slot {
                        Slot::Digit => c.is_ascii_digit(),
                        Slot::Letter => c.is_alphabetic(),
                        Slot::Alphanumeric => c.is_alphabetic() || c.is_ascii_digit(),
                        Slot::Literal(literal) => c == *literal,
                    })
            }),
        }
    }

    /// Whether the pattern is unusable: an empty text, no class and no character allowed, an
    /// empty shape or one ending in a lone `\`.
    pub fn is_degenerate(&self) -> bool {
        match self {
            TextPattern::StartsWith { text }
            | TextPattern::EndsWith { text }
            | TextPattern::Contains { text } => text.is_empty(),
            TextPattern::OnlyCharacters { classes, also } => classes.is_empty() && also.is_empty(),
            TextPattern::Shape { shape } => shape.is_empty() || slots(shape).is_none(),
        }
    }
}

/// What the value must do, completing `"<label> …"`: `must start with "PO-"`,
/// `may only contain digits and "-"`, `must have the form PO-#### (# a digit, …)`.
impl fmt::Display for TextPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextPattern::StartsWith { text } => write!(f, "must start with {text:?}"),
            TextPattern::EndsWith { text } => write!(f, "must end with {text:?}"),
            TextPattern::Contains { text } => write!(f, "must contain {text:?}"),
            TextPattern::OnlyCharacters { classes, also } => {
                let mut parts: Vec<String> = classes.iter().map(|c| c.name().to_owned()).collect();
                if !also.is_empty() {
                    parts.push(format!("{also:?}"));
                }
                let listed = match parts.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                    None => String::new(),
                };
                write!(f, "may only contain {listed}")
            }
            TextPattern::Shape { shape } => write!(
                f,
                "must have the form {shape} (# a digit, @ a letter, * a letter or digit)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> TextPattern {
        TextPattern::Shape { shape: text.into() }
    }

    #[test]
    fn literal_patterns_are_case_sensitive() {
        let starts = TextPattern::StartsWith { text: "PO-".into() };
        assert!(starts.matches("PO-1234"));
        assert!(!starts.matches("po-1234"));
        assert!(
            TextPattern::EndsWith {
                text: ".pdf".into()
            }
            .matches("offer.pdf")
        );
        assert!(TextPattern::Contains { text: "@".into() }.matches("a@b"));
        assert!(!TextPattern::Contains { text: "@".into() }.matches("ab"));
    }

    #[test]
    fn character_classes_allow_only_what_they_name() {
        let pattern = TextPattern::OnlyCharacters {
            classes: vec![CharClass::Digit],
            also: "-".into(),
        };
        assert!(pattern.matches("12-34"));
        assert!(!pattern.matches("12 34"));
        assert!(!pattern.matches("١٢")); // Arabic-Indic digits are not ASCII digits.
        let letters = TextPattern::OnlyCharacters {
            classes: vec![CharClass::Letter, CharClass::Space],
            also: String::new(),
        };
        assert!(letters.matches("Zoë Ångström"));
        assert!(!letters.matches("R2D2"));
        assert!(
            TextPattern::OnlyCharacters {
                classes: vec![CharClass::Upper],
                also: String::new()
            }
            .matches("ABC")
        );
        assert!(
            !TextPattern::OnlyCharacters {
                classes: vec![CharClass::Lower],
                also: String::new()
            }
            .matches("aBc")
        );
        assert!(
            TextPattern::OnlyCharacters {
                classes: vec![CharClass::Alphanumeric],
                also: String::new()
            }
            .matches("abc123")
        );
    }

    #[test]
    fn shapes_match_position_by_position() {
        assert!(shape("PO-####").matches("PO-1234"));
        assert!(!shape("PO-####").matches("PO-123"));
        assert!(!shape("PO-####").matches("PO-12345"));
        assert!(!shape("PO-####").matches("PO-12a4"));
        assert!(shape("@@*-#").matches("DEx-9"));
        assert!(shape(r"\#@").matches("#a"));
        assert!(!shape(r"\#@").matches("1a"));
    }

    #[test]
    fn unusable_patterns_are_degenerate() {
        assert!(
            TextPattern::StartsWith {
                text: String::new()
            }
            .is_degenerate()
        );
        assert!(shape("").is_degenerate());
        assert!(shape(r"ab\").is_degenerate());
        assert!(!shape(r"ab\\").is_degenerate());
        assert!(
            TextPattern::OnlyCharacters {
                classes: vec![],
                also: String::new()
            }
            .is_degenerate()
        );
    }

    #[test]
    fn patterns_describe_themselves_for_people() {
        assert_eq!(
            TextPattern::StartsWith { text: "PO-".into() }.to_string(),
            "must start with \"PO-\""
        );
        assert_eq!(
            TextPattern::OnlyCharacters {
                classes: vec![CharClass::Digit, CharClass::Letter],
                also: "-_".into()
            }
            .to_string(),
            "may only contain digits, letters and \"-_\""
        );
        assert_eq!(
            shape("PO-####").to_string(),
            "must have the form PO-#### (# a digit, @ a letter, * a letter or digit)"
        );
    }
}
