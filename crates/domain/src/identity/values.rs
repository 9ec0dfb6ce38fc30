//! Identity values: each keeps the raw input and its normalized form.
//!
//! The raw value is what the person typed and is what the CRM shows; the normalized form is
//! what matching compares. Every normalization is idempotent: parsing a value's normalized
//! form gives the same normalized form.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::fold::{APOSTROPHES, APOSTROPHES_AND_DOTS, fold_words};
use super::hostname::{host_of_web_address, normalize_domain};
use super::legal_form::strip_legal_forms;
use super::mailbox::{
    GMAIL, drops_plus_tags, is_gmail, is_personal_mail_domain, is_role_local_part,
};

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
    /// A name that has no letters or digits.
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
    /// A score or a matching threshold outside 0 to 1.
    #[error("{value} is not a score between 0 and 1")]
    InvalidScore {
        /// The value given, as text.
        value: String,
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
        // Only ASCII letters are ever stored.
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

/// The longest local part SMTP carries, in bytes (RFC 5321).
const MAX_LOCAL_PART_BYTES: usize = 64;
/// The longest address SMTP carries, in bytes (RFC 5321).
const MAX_EMAIL_BYTES: usize = 254;

/// An email address: the raw input and its normalized (matching) form.
///
/// Normalization: surrounding whitespace trimmed; the whole address lower-cased (no
/// mainstream provider treats the local part's case as significant) and put in NFC; the
/// domain case-folded as IDNA does and kept in Unicode. Then the providers' own rules:
/// - `gmail.com` and `googlemail.com` ignore dots and `+tags` in the local part, so both are
///   dropped and the domain becomes `gmail.com`: `J.Doe+crm@googlemail.com` → `jdoe@gmail.com`.
/// - Outlook.com, iCloud, Fastmail and Proton deliver `name+tag@` to `name@`, so their tags
///   are dropped; their dots are kept.
/// - Every other domain, a company's Google Workspace domain included, keeps its dots and its
///   `+tag`, because there a `+` may be part of the mailbox's real name and merging two
///   people is worse than missing a match; [`EmailAddress::mailbox`] gives the tag-less form
///   that matching uses as weaker evidence.
///
/// Accepted: exactly one `@`; a local part of at most 64 bytes made of letters, digits, the
/// RFC 5322 `atext` symbols and inner single dots (quoted local parts are refused); a domain
/// of two or more valid labels; at most 254 bytes in all; no whitespace anywhere inside.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress {
    raw: String,
    normalized: String,
}

impl EmailAddress {
    /// Parses and normalizes an email address (see the type's rules).
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let invalid = |reason| IdentityError::InvalidEmail {
            value: raw.to_owned(),
            reason,
        };
        let text = raw.trim();
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(invalid("contains whitespace"));
        }
        let Some((local, domain)) = text.split_once('@') else {
            return Err(invalid("no @"));
        };
        if domain.contains('@') {
            return Err(invalid("more than one @"));
        }
        let local = lower_nfc(local);
        check_local_part(&local).map_err(invalid)?;
        let domain = normalize_domain(domain).map_err(invalid)?;
        let (local, domain) = apply_provider_rules(local, domain).map_err(invalid)?;
        let normalized = format!("{local}@{domain}");
        if normalized.len() > MAX_EMAIL_BYTES {
            return Err(invalid("longer than 254 bytes"));
        }
        Ok(Self {
            raw: raw.to_owned(),
            normalized,
        })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The form used for matching (see the type's rules).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The normalized domain part.
    pub fn domain(&self) -> &str {
        self.normalized
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
    }

    /// The normalized local part.
    pub fn local_part(&self) -> &str {
        self.normalized
            .rsplit_once('@')
            .map_or("", |(local, _)| local)
    }

    /// The normalized address without its `+tag`, on any domain: `jane+news@acme.com` →
    /// `jane@acme.com`. Two addresses with the same mailbox most likely reach the same
    /// person, but unlike [`EmailAddress::normalized`] this is not certain outside the
    /// providers known to drop tags.
    pub fn mailbox(&self) -> Cow<'_, str> {
        match self.local_part().split_once('+') {
            Some((base, _)) if check_local_part(base).is_ok() => {
                Cow::Owned(format!("{base}@{}", self.domain()))
            }
            _ => Cow::Borrowed(&self.normalized),
        }
    }

    /// Whether the address names a function shared by several people (`info@`, `sales@`)
    /// rather than a person.
    pub fn is_role_account(&self) -> bool {
        let mailbox = self.mailbox();
        let local = mailbox.rsplit_once('@').map_or("", |(local, _)| local);
        is_role_local_part(local)
    }

    /// Whether the address is at a provider where anyone can open a mailbox (Gmail, Outlook.com,
    /// Yahoo, GMX, …), so that its domain says nothing about the person's employer.
    pub fn is_personal_mail(&self) -> bool {
        is_personal_mail_domain(self.domain())
    }
}

fn lower_nfc(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.to_lowercase().nfc().collect()
}

/// RFC 5322 `atext` symbols, which may appear in a local part besides letters and digits.
const ATEXT_SYMBOLS: &str = "!#$%&'*+-/=?^_`{|}~";

fn check_local_part(local: &str) -> Result<(), &'static str> {
    if local.is_empty() {
        return Err("nothing before the @");
    }
    if local.len() > MAX_LOCAL_PART_BYTES {
        return Err("part before the @ longer than 64 bytes");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("a dot at the start or end of the part before the @, or two dots in a row");
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || c == '.'
            || ATEXT_SYMBOLS.contains(c)
            || (!c.is_ascii()
                && (c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)))
    };
    if !local.chars().all(allowed) {
        return Err("a character not allowed before the @");
    }
    Ok(())
}

fn apply_provider_rules(local: String, domain: String) -> Result<(String, String), &'static str> {
    if is_gmail(&domain) {
        let untagged = local.split('+').next().unwrap_or_default();
        let undotted: String = untagged.chars().filter(|&c| c != '.').collect();
        if undotted.is_empty() {
            return Err("nothing before the +tag");
        }
        return Ok((undotted, GMAIL.to_owned()));
    }
    if drops_plus_tags(&domain) {
        // A base the provider could not hold ("jane.+x") keeps its tag rather than become
        // an address that does not parse.
        if let Some((base, _)) = local.split_once('+')
            && check_local_part(base).is_ok()
        {
            return Ok((base.to_owned(), domain));
        }
    }
    Ok((local, domain))
}

/// The longest text taken as a phone number; anything longer is not one number.
const MAX_PHONE_INPUT_CHARS: usize = 100;

/// The most digits an RFC 3966 extension (`;ext=1234567`) may have, as in the crate's own
/// extension patterns.
const MAX_EXTENSION_DIGITS: usize = 7;

/// A phone number: the raw input, its E.164 form (`+4930123456`) and its extension, if any.
///
/// Numbers are read by libphonenumber's rules, through the `phonenumber` crate (a port of it)
/// and its metadata, never by rules of our own:
/// - A national number is read in the default region, with the region's trunk prefix removed:
///   `030 123456` in `DE` → `+4930123456`.
/// - A number written with `+` is read by its own country code whatever the default region:
///   `+49 (0)30 123456` → `+4930123456`.
/// - The default region's own international (IDD) prefix, and only that one, also introduces
///   a country code: `011 44 20 7946 0958` in the `US`, `00 49 30 123456` in `DE`,
///   `0011 49 30 123456` in `AU`. A `00` where the region dials something else is not an
///   international prefix (`001 201-555-0123` in the `US` is refused).
/// - An extension (`;ext=7`, `ext. 45`, `x123`, at most 7 digits) is kept apart, in
///   [`PhoneNumber::extension`]; it has no place in E.164.
///
/// Only numbers that are valid in their country's numbering plan are accepted. Where this
/// departs from the crate's own `parse`, and why, is listed in `docs/PHONE_NUMBERS.md`.
///
/// Two numbers reach the same line when their [`PhoneNumber::e164`] forms are equal: identity
/// matching compares those, not the extension or the raw text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhoneNumber {
    raw: String,
    e164: String,
    /// Absent from numbers stored before extensions were kept, and from those without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extension: Option<String>,
}

impl PhoneNumber {
    /// Parses a phone number; numbers without a country code are read in `default_region`.
    ///
    /// A default region without a numbering plan (`ZZ`, or any code the metadata lacks) reads
    /// only numbers that carry their country code after a `+`.
    pub fn parse(raw: &str, default_region: CountryCode) -> Result<Self, IdentityError> {
        let invalid = |reason| IdentityError::InvalidPhone {
            value: raw.to_owned(),
            reason,
        };
        let text = phone_text(raw)
            .ok_or_else(|| invalid("contains characters that are not part of a phone number"))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        if text.chars().count() > MAX_PHONE_INPUT_CHARS {
            return Err(invalid("longer than 100 characters"));
        }
        if !text.chars().any(|c| c.is_ascii_digit()) {
            return Err(invalid("no digits"));
        }
        let (number, extension) =
            read_phone(text, numbering_plan(default_region)).map_err(invalid)?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid(
                "not a valid number in its country's numbering plan",
            ));
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        Ok(Self {
            raw: raw.to_owned(),
            e164,
            extension,
        })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The E.164 form, e.g. `+4930123456`, without the extension.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The extension's digits (`"45"` for `+1 650-253-0000 ext. 45`), if one was given.
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }
}

/// The input with the Unicode forms people paste (full-width digits, typographic dashes,
/// odd spaces) mapped to ASCII; `None` if anything else non-ASCII or a control character
/// remains. Keeping the parser's input ASCII also keeps it away from character-boundary
/// slicing inside the `phonenumber` crate.
fn phone_text(raw: &str) -> Option<String> {
    raw.chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from_digit(u32::from(c) - 0xFF10, 10),
            '\u{FF0B}' => Some('+'),
            '\u{FF08}' => Some('('),
            '\u{FF09}' => Some(')'),
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}' => Some('-'),
            c if c.is_whitespace() => Some(' '),
            c if c.is_ascii() && !c.is_ascii_control() => Some(c),
            _ => None,
        })
        .collect()
}

/// The region's numbering plan, if libphonenumber has metadata for it.
fn numbering_plan(region: CountryCode) -> Option<phonenumber::country::Id> {
    let id = phonenumber::country::Id::from_str(region.as_str()).ok()?;
    // The crate unwraps the metadata of the region it is given: only pass regions it has.
    phonenumber::metadata::DATABASE
        .by_id(id.as_ref())
        .map(|_| id)
}

/// The number in `text` and its extension (digits only, never empty).
///
/// A trailing RFC 3966 extension (`;ext=7`, in any case) is split off first and the rest
/// read alone: the crate refuses `;ext=` after a `+` number or a number written with spaces,
/// and drops it unread from a `tel:` URI when written in capitals (`;EXT=7`).
fn read_phone(
    text: &str,
    plan: Option<phonenumber::country::Id>,
) -> Result<(phonenumber::PhoneNumber, Option<String>), &'static str> {
    let (number_part, rfc3966_extension) = match split_rfc3966_extension(text) {
        Some((number_part, extension)) => (number_part, Some(extension)),
        None => (text, None),
    };
    let number =
        read_number(number_part, plan).map_err(|error| parse_error_reason(&error, plan))?;
    let extension = number
        .extension()
        .map(ToString::to_string)
        .filter(|extension| !extension.is_empty());
    match (extension, rfc3966_extension) {
        (Some(_), Some(_)) => Err("two extensions"),
        (extension, None) => Ok((number, extension)),
        (None, Some(extension)) => Ok((number, Some(extension.to_owned()))),
    }
}

/// The crate's reading of `text` in the default region's plan, except that a number carrying
/// its own country code (after `+` or the region's international prefix) is read as the crate
/// reads it without a default region: with its own country's national prefix rules, not the
/// default region's (the crate would otherwise strip the default region's trunk prefix from
/// it: `+49 151 12345678` in the `US` would lose its `1`).
fn read_number(
    text: &str,
    plan: Option<phonenumber::country::Id>,
) -> Result<phonenumber::PhoneNumber, phonenumber::ParseError> {
    let number = phonenumber::parse(plan, text)?;
    let Some(region) = plan else {
        return Ok(number);
    };
    match number.code().source() {
        phonenumber::country::Source::Plus => phonenumber::parse(None, text),
        phonenumber::country::Source::Idd => {
            let rest = after_international_prefix(text, region)
                .ok_or(phonenumber::ParseError::NoNumber)?;
            phonenumber::parse(None, format!("+{rest}"))
        }
        phonenumber::country::Source::Number | phonenumber::country::Source::Default => Ok(number),
    }
}

/// What follows the region's international prefix at the start of `text`'s digits, as the
/// crate finds it: its metadata's pattern matched against the digits from the first one on.
fn after_international_prefix(text: &str, region: phonenumber::country::Id) -> Option<&str> {
    let prefix = phonenumber::metadata::DATABASE
        .by_id(region.as_ref())?
        .international_prefix()?;
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let mut digits = String::new();
    let mut ends = Vec::new();
    for (at, c) in text[start..].char_indices() {
        if c.is_ascii_digit() {
            digits.push(c);
            ends.push(start + at + c.len_utf8());
        } else if c.is_ascii_alphabetic() {
            // The crate reads letters as keypad digits; no international prefix has one.
            break;
        }
    }
    let found = prefix
        .find(&digits)
        .filter(|found| found.start() == 0 && found.end() > 0)?;
    let end = *ends.get(found.end() - 1)?;
    text.get(end..)
}

/// `text` without a trailing RFC 3966 extension (`;ext=` and 1 to 7 digits, in any case),
/// and the extension's digits.
fn split_rfc3966_extension(text: &str) -> Option<(&str, &str)> {
    let (number, parameter) = text.rsplit_once(';')?;
    let name = parameter.get(..4)?;
    let digits = parameter.get(4..)?;
    let is_extension = name.eq_ignore_ascii_case("ext=")
        && (1..=MAX_EXTENSION_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit());
    is_extension.then_some((number.trim_end(), digits))
}

fn parse_error_reason(
    error: &phonenumber::ParseError,
    plan: Option<phonenumber::country::Id>,
) -> &'static str {
    match error {
        phonenumber::ParseError::InvalidCountryCode if plan.is_none() => {
            "no known country code, and the default region has no numbering plan"
        }
        phonenumber::ParseError::InvalidCountryCode => "unknown country code",
        phonenumber::ParseError::TooShortAfterIdd | phonenumber::ParseError::TooShortNsn => {
            "too short"
        }
        phonenumber::ParseError::TooLong => "too long",
        phonenumber::ParseError::NoNumber | phonenumber::ParseError::MalformedInteger(_) => {
            "not a phone number"
        }
    }
}

/// A person's name: raw and normalized.
///
/// Normalization folds what varies between two typings of one name: compatibility forms
/// (full-width, ligatures), diacritics of Latin, Greek and Cyrillic letters (`José` → `jose`,
/// `Strauß` → `strauss`), case, apostrophes (`O'Brien` → `obrien`), and punctuation and
/// whitespace, which become single spaces (`Jean-Luc` → `jean luc`). Word order is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonName {
    raw: String,
    normalized: String,
}

impl PersonName {
    /// Normalizes a person's name; a name without letters or digits is refused.
    pub fn new(raw: &str) -> Result<Self, IdentityError> {
        let words = fold_words(raw, APOSTROPHES);
        if words.is_empty() {
            return Err(IdentityError::EmptyName {
                field: "person name",
            });
        }
        Ok(Self {
            raw: raw.to_owned(),
            normalized: words.join(" "),
        })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The form used for matching.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The words of the normalized name, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.normalized.split(' ')
    }
}

/// A company's name: raw and normalized.
///
/// Normalization is a person name's, with dots vanishing instead of separating (`S.A.` →
/// `sa`), `&` read as `and`, and then legal-form suffixes (`Inc`, `Ltd`, `LLC`, `GmbH`, `AG`,
/// `SA`, `SAS`, `BV`, `Co.`, `Corp`, `plc`, `sp. z o.o.`, …) and leading `the`s dropped:
/// `The ACME Holdings GmbH & Co. KG` → `acme holdings`. A name that is only a legal form
/// keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompanyName {
    raw: String,
    normalized: String,
}

impl CompanyName {
    /// Normalizes a company's name; a name without letters or digits is refused.
    pub fn new(raw: &str) -> Result<Self, IdentityError> {
        let spelled = raw.replace(['&', '\u{FF06}', '\u{FE60}'], " and ");
        let words = strip_legal_forms(fold_words(&spelled, APOSTROPHES_AND_DOTS));
        if words.is_empty() {
            return Err(IdentityError::EmptyName {
                field: "company name",
            });
        }
        Ok(Self {
            raw: raw.to_owned(),
            normalized: words.join(" "),
        })
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
///
/// Accepts a bare domain or a URL: the scheme, user information, port, path, query and
/// fragment are dropped, the host case-folded, and leading `www.` labels removed while more
/// than two labels remain (`www.com` is a domain of its own). An internationalized domain
/// stays in Unicode (it is not converted to `xn--` form) but must be valid: two or more
/// labels of letters, digits and inner hyphens, each at most 63 characters, 253 in all, no
/// hyphens in a label's third and fourth places except in ASCII `xn--` labels, and a
/// top-level label without digits. IP addresses and email addresses are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompanyDomain {
    raw: String,
    normalized: String,
}

impl CompanyDomain {
    /// Parses a domain or URL (see the type's rules).
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let invalid = |reason| IdentityError::InvalidDomain {
            value: raw.to_owned(),
            reason,
        };
        let text = raw.trim();
        if text.chars().any(char::is_whitespace) {
            return Err(invalid("contains whitespace"));
        }
        let host = host_of_web_address(text).map_err(invalid)?;
        let mut normalized = normalize_domain(host).map_err(invalid)?;
        while normalized.starts_with("www.") && normalized.matches('.').count() >= 2 {
            normalized.drain(..4);
        }
        Ok(Self {
            raw: raw.to_owned(),
            normalized,
        })
    }

    /// What was typed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The form used for matching.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// Whether this is a domain where anyone can open a mailbox (`gmail.com`): people type
    /// those into a company web site field, and they say nothing about the company.
    pub fn is_personal_mail(&self) -> bool {
        is_personal_mail_domain(&self.normalized)
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    //! Generators of identity values, for property tests here and in the aggregates.

    use proptest::prelude::*;

    use super::{CompanyDomain, CompanyName, CountryCode, EmailAddress, PersonName, PhoneNumber};

    /// Email addresses at Gmail, a tag-dropping provider, a Workspace-like company domain
    /// and an IDN, with dots, tags and mixed case.
    pub(crate) fn email_address() -> impl Strategy<Value = EmailAddress> {
        let local = "[a-zA-Z0-9]{1,6}(\\.[a-zA-Z0-9]{1,6}){0,2}(\\+[a-z0-9]{1,4})?";
        let domain = prop::sample::select(vec![
            "gmail.com",
            "GoogleMail.com",
            "outlook.com",
            "acme.com",
            "ACME.co.uk",
            "bücher.de",
            "example.org",
        ]);
        (local, domain).prop_filter_map("valid address", |(local, domain)| {
            EmailAddress::parse(&format!(" {local}@{domain}")).ok()
        })
    }

    /// Valid numbers of several countries, written in the formats people use.
    pub(crate) fn phone_number() -> impl Strategy<Value = PhoneNumber> {
        prop::sample::select(vec![
            ("+49 30 1234567", "US"),
            ("030 1234567", "DE"),
            ("0049 (0)30 1234567", "FR"),
            ("(650) 253-0000", "US"),
            ("+1 650-253-0000 ext. 12", "DE"),
            ("020 7946 0958", "GB"),
            ("+44 20 7946 0958", "US"),
            ("06 12 34 56 78", "FR"),
            ("03-1234-5678", "JP"),
            ("+61 2 9374 4000", "AU"),
            ("0011 49 30 1234567", "AU"),
            ("011 44 20 7946 0958", "US"),
            ("00 49 30 1234567", "DE"),
            ("+1 650-253-0000;ext=7", "US"),
            ("(650) 253-0000 x123", "US"),
            ("+49 151 12345678", "US"),
        ])
        .prop_filter_map("valid number", |(raw, region)| {
            PhoneNumber::parse(raw, CountryCode::new(region).ok()?).ok()
        })
    }

    /// Person names with accents, apostrophes, hyphens and odd spacing.
    pub(crate) fn person_name() -> impl Strategy<Value = PersonName> {
        "[A-Za-zÀ-ÖØ-öø-ÿ'\\- ]{1,24}"
            .prop_filter_map("has letters", |raw| PersonName::new(&raw).ok())
    }

    /// Company names, some with a legal form.
    pub(crate) fn company_name() -> impl Strategy<Value = CompanyName> {
        let suffix = prop::sample::select(vec![
            "",
            " Inc.",
            " GmbH",
            ", Ltd",
            " S.A.",
            " & Co. KG",
            " plc",
        ]);
        ("[A-Za-zÀ-ÿ&. ]{1,16}", suffix).prop_filter_map("has letters", |(name, suffix)| {
            CompanyName::new(&format!("{name}{suffix}")).ok()
        })
    }

    /// Company domains, bare or as URLs.
    pub(crate) fn company_domain() -> impl Strategy<Value = CompanyDomain> {
        let prefix =
            prop::sample::select(vec!["", "https://", "http://www.", "www.", "HTTPS://WWW."]);
        let suffix = prop::sample::select(vec!["", "/", "/about?x=1", ":8080/path#top"]);
        let tld = prop::sample::select(vec!["com", "de", "co.uk", "io"]);
        (prefix, "[a-z][a-z0-9\\-]{0,10}[a-z0-9]", tld, suffix).prop_filter_map(
            "valid domain",
            |(prefix, label, tld, suffix)| {
                CompanyDomain::parse(&format!("{prefix}{label}.{tld}{suffix}")).ok()
            },
        )
    }
}
