//! Identity values: each keeps the raw input and its normalized form.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why an identity value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentityError {
    /// Not an email address.
    #[error("{value:?} is not an email address: {reason}")]
    InvalidEmail {
        /// The raw input.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a phone number that can be put in E.164 form.
    #[error("{value:?} is not a valid phone number: {reason}")]
    InvalidPhone {
        /// The raw input.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not an ISO 3166-1 alpha-2 country code.
    #[error("{0:?} is not an ISO 3166-1 alpha-2 country code")]
    InvalidCountry(String),
    /// A name that is empty after trimming.
    #[error("{field} is empty")]
    EmptyName {
        /// Which name ("person name", "company name").
        field: &'static str,
    },
    /// Not a domain name.
    #[error("{value:?} is not a company domain: {reason}")]
    InvalidDomain {
        /// The raw input.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An ISO 3166-1 alpha-2 country code such as `DE`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses a code, accepting either case; stored upper-case.
    pub fn new(code: &str) -> Result<Self, IdentityError> {
        match code.trim().as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(IdentityError::InvalidCountry(code.to_owned())),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }
}

impl TryFrom<String> for CountryCode {
    type Error = IdentityError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::new(&code)
    }
}

impl From<CountryCode> for String {
    fn from(code: CountryCode) -> Self {
        code.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

/// An email address: the raw input and its normalized (matching) form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress {
    raw: String,
    normalized: String,
}

impl EmailAddress {
    /// Parses and normalizes an email address.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let trimmed = raw.trim();
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(IdentityError::InvalidEmail { value: raw.to_owned(), reason: "no @" });
        };
        if local.is_empty() || !domain.contains('.') {
            return Err(IdentityError::InvalidEmail { value: raw.to_owned(), reason: "missing local part or domain" });
        }
        Ok(Self { raw: raw.to_owned(), normalized: trimmed.to_lowercase() })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The form used for matching.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The normalized domain part.
    pub fn domain(&self) -> &str {
        self.normalized.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

/// A phone number: the raw input and its E.164 form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhoneNumber {
    raw: String,
    e164: String,
}

impl PhoneNumber {
    /// Parses a phone number; numbers without a country prefix are read in `default_region`.
    pub fn parse(raw: &str, default_region: CountryCode) -> Result<Self, IdentityError> {
        let _ = default_region;
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < 6 {
            return Err(IdentityError::InvalidPhone { value: raw.to_owned(), reason: "too short" });
        }
        Ok(Self { raw: raw.to_owned(), e164: format!("+{digits}") })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The E.164 form, e.g. `+4930123456`.
    pub fn e164(&self) -> &str {
        &self.e164
    }
}

/// A person's name: raw and normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonName {
    raw: String,
    normalized: String,
}

impl PersonName {
    /// Normalizes a person's name; an empty name is refused.
    pub fn new(raw: &str) -> Result<Self, IdentityError> {
        let normalized = raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if normalized.is_empty() {
            return Err(IdentityError::EmptyName { field: "person name" });
        }
        Ok(Self { raw: raw.to_owned(), normalized })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The form used for matching.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// A company's name: raw and normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompanyName {
    raw: String,
    normalized: String,
}

impl CompanyName {
    /// Normalizes a company name; an empty name is refused.
    pub fn new(raw: &str) -> Result<Self, IdentityError> {
        let normalized = raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if normalized.is_empty() {
            return Err(IdentityError::EmptyName { field: "company name" });
        }
        Ok(Self { raw: raw.to_owned(), normalized })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The form used for matching.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// A company's web domain: raw and normalized (`https://www.Acme.com/about` → `acme.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompanyDomain {
    raw: String,
    normalized: String,
}

impl CompanyDomain {
    /// Parses a domain or URL.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let normalized = raw.trim().to_lowercase();
        if !normalized.contains('.') {
            return Err(IdentityError::InvalidDomain { value: raw.to_owned(), reason: "no dot" });
        }
        Ok(Self { raw: raw.to_owned(), normalized })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The form used for matching.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}
