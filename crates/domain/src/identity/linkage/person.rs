//! A person as probabilistic record linkage sees them: every field normalized, every field
//! optional, built from what a form, an import or a webhook typed.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::compare::sound_codes;
use crate::identity::fold::fold_words;
use crate::identity::values::{CompanyName, CountryCode, EmailAddress, PersonName, PhoneNumber};

/// A person's details as typed: plain text, every field optional. [`PersonRecord::normalize`]
/// turns it into what linkage compares.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersonDetails {
    /// Given (first) name, with any middle names.
    pub given_name: Option<String>,
    /// Family (last) name.
    pub family_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// House or street number (`12`, `12a`).
    pub street_number: Option<String>,
    /// Street name (`High Street`, `Hauptstr.`).
    pub street: Option<String>,
    /// City, town or village.
    pub locality: Option<String>,
    /// Postal code.
    pub postcode: Option<String>,
    /// State, county or province.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code; also the region phone numbers are read in.
    pub country: Option<String>,
    /// National or customer identifiers (a passport, tax or customer number).
    pub national_ids: Vec<String>,
    /// Email addresses.
    pub emails: Vec<String>,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Company name.
    pub company: Option<String>,
}

/// A field that could not be read and so takes no part in matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableField {
    /// Which field (`date_of_birth`, `phones`, …).
    pub field: &'static str,
    /// The value as typed.
    pub value: String,
    /// Why it could not be read.
    pub reason: String,
}

/// A postal address, normalized for matching.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PostalAddress {
    /// House number: digits and a letter, lower case (`12a`).
    pub street_number: Option<String>,
    /// Street name folded, with its type spelled out (`hauptstr.` → `hauptstrasse`,
    /// `high st` → `high street`).
    pub street: Option<String>,
    /// Locality, folded.
    pub locality: Option<String>,
    /// Postal code: letters and digits only, upper case (`sw1a 1aa` → `SW1A1AA`).
    pub postcode: Option<String>,
    /// Region, folded.
    pub region: Option<String>,
    /// Country.
    pub country: Option<CountryCode>,
}

/// An address as typed, in parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressParts<'a> {
    /// House or street number.
    pub street_number: Option<&'a str>,
    /// Street name.
    pub street: Option<&'a str>,
    /// Locality.
    pub locality: Option<&'a str>,
    /// Postal code.
    pub postcode: Option<&'a str>,
    /// Region.
    pub region: Option<&'a str>,
}

impl PostalAddress {
    /// Normalizes an address typed in parts (see the fields for how each part is read).
    pub fn normalize(parts: &AddressParts<'_>, country: Option<CountryCode>) -> Self {
        Self {
            street_number: parts
                .street_number
                .and_then(normalize_identifier)
                .map(|n| n.to_lowercase()),
            street: parts.street.and_then(street),
            locality: parts.locality.and_then(folded),
            postcode: parts.postcode.and_then(normalize_identifier),
            region: parts.region.and_then(folded),
            country,
        }
    }
}

/// A person, normalized for linkage: names folded (case, accents, punctuation), their sound
/// codes computed once, the date of birth a date, the address in parts, identifiers reduced
/// to letters and digits, emails and phones in their matching forms.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PersonRecord {
    /// Given name, folded (`Jean-Luc` → `jean luc`).
    pub given_name: Option<String>,
    /// Family name, folded.
    pub family_name: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Postal address.
    pub address: PostalAddress,
    /// National or customer identifiers: letters and digits, upper case.
    pub national_ids: Vec<String>,
    /// Email addresses in their normalized form.
    pub emails: Vec<String>,
    /// Phone numbers in E.164 form.
    pub phones: Vec<String>,
    /// Company name, normalized (legal forms dropped).
    pub company: Option<String>,
    /// Double Metaphone codes of the given name (primary, alternate).
    pub given_sound: Option<(String, String)>,
    /// Double Metaphone codes of the family name (primary, alternate).
    pub family_sound: Option<(String, String)>,
}

/// Street types people abbreviate, and their full forms.
const STREET_TYPES: &[(&str, &str)] = &[
    ("st", "street"),
    ("str", "strasse"),
    ("rd", "road"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("ln", "lane"),
    ("dr", "drive"),
    ("ct", "court"),
    ("pl", "place"),
    ("blvd", "boulevard"),
    ("bd", "boulevard"),
    ("hwy", "highway"),
    ("cres", "crescent"),
    ("tce", "terrace"),
    ("terr", "terrace"),
    ("sq", "square"),
    ("pde", "parade"),
    ("cl", "close"),
    ("gdns", "gardens"),
    ("pk", "park"),
    ("wy", "way"),
];

impl PersonRecord {
    /// Normalizes typed details. A field that cannot be read (a malformed email, a phone that
    /// is not a number, a date that is not a date) is left out and reported; the rest still
    /// counts. Phones are read in the record's country, else in `default_region`.
    pub fn normalize(
        details: &PersonDetails,
        default_region: CountryCode,
    ) -> (Self, Vec<UnreadableField>) {
        let mut unreadable = Vec::new();
        let mut refuse = |field: &'static str, value: &str, reason: String| {
            unreadable.push(UnreadableField {
                field,
                value: value.to_owned(),
                reason,
            });
        };
        let country = details
            .country
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .and_then(|c| match CountryCode::new(c.trim()) {
                Ok(code) => Some(code),
                Err(error) => {
                    refuse("country", c, error.to_string());
                    None
                }
            });
        let date_of_birth = details
            .date_of_birth
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .and_then(|d| match NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d") {
                Ok(date) => Some(date),
                Err(error) => {
                    refuse("date_of_birth", d, error.to_string());
                    None
                }
            });
        let mut emails = Vec::new();
        for raw in details.emails.iter().filter(|e| !e.trim().is_empty()) {
            match EmailAddress::parse(raw) {
                Ok(email) => push_unique(&mut emails, email.normalized().to_owned()),
                Err(error) => refuse("emails", raw, error.to_string()),
            }
        }
        let region = country.unwrap_or(default_region);
        let mut phones = Vec::new();
        for raw in details.phones.iter().filter(|p| !p.trim().is_empty()) {
            match PhoneNumber::parse(raw, region) {
                Ok(phone) => push_unique(&mut phones, phone.e164().to_owned()),
                Err(error) => refuse("phones", raw, error.to_string()),
            }
        }
        let mut national_ids = Vec::new();
        for raw in &details.national_ids {
            if let Some(id) = normalize_identifier(raw) {
                push_unique(&mut national_ids, id);
            }
        }
        let given_name = details.given_name.as_deref().and_then(folded);
        let family_name = details.family_name.as_deref().and_then(folded);
        let record = Self {
            given_sound: given_name.as_deref().and_then(sound_codes),
            family_sound: family_name.as_deref().and_then(sound_codes),
            given_name,
            family_name,
            date_of_birth,
            address: PostalAddress::normalize(
                &AddressParts {
                    street_number: details.street_number.as_deref(),
                    street: details.street.as_deref(),
                    locality: details.locality.as_deref(),
                    postcode: details.postcode.as_deref(),
                    region: details.region.as_deref(),
                },
                country,
            ),
            national_ids,
            emails,
            phones,
            company: details
                .company
                .as_deref()
                .and_then(|c| CompanyName::new(c).ok())
                .map(|c| c.normalized().to_owned()),
        };
        (record, unreadable)
    }

    /// Computes the names' sound codes again; call it after changing a name directly.
    pub fn refresh_sound_codes(&mut self) {
        self.given_sound = self.given_name.as_deref().and_then(sound_codes);
        self.family_sound = self.family_name.as_deref().and_then(sound_codes);
    }

    /// Whether the record holds nothing to match on.
    pub fn is_empty(&self) -> bool {
        self.given_name.is_none()
            && self.family_name.is_none()
            && self.date_of_birth.is_none()
            && self.address == PostalAddress::default()
            && self.national_ids.is_empty()
            && self.emails.is_empty()
            && self.phones.is_empty()
            && self.company.is_none()
    }

    /// The year of birth, if the date of birth is known.
    pub fn birth_year(&self) -> Option<i32> {
        use chrono::Datelike;
        self.date_of_birth.map(|d| d.year())
    }
}

fn push_unique(values: &mut Vec<String>, value: String) {
    if !values.contains(&value) {
        values.push(value);
    }
}

/// Folded words joined by single spaces, or `None` if nothing is left.
pub(crate) fn folded(text: &str) -> Option<String> {
    PersonName::new(text)
        .ok()
        .map(|name| name.normalized().to_owned())
}

/// An identifier (national id, postcode) as matching compares it: ASCII letters and digits
/// only, upper case (`qq 12-34-56 c` → `QQ123456C`); `None` if none are left.
pub fn normalize_identifier(text: &str) -> Option<String> {
    let id: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!id.is_empty()).then_some(id)
}

/// A street name folded, with an abbreviated street type spelled out and a German `-str`
/// ending written in full.
fn street(text: &str) -> Option<String> {
    let mut words = fold_words(text, &['\'', '\u{2019}', '.']);
    if words.is_empty() {
        return None;
    }
    let last = words.len() - 1;
    for (index, word) in words.iter_mut().enumerate() {
        // A type comes last in English, first in French (`av. Foch`); `st` first is a saint.
        let position_fits = index == last || (index == 0 && word != "st" && last > 0);
        if position_fits
            && let Some((_, full)) = STREET_TYPES.iter().find(|(short, _)| short == word)
        {
            *word = (*full).to_owned();
        } else if index == last
            && word.len() > 3
            && let Some(stem) = word.strip_suffix("str")
        {
            *word = format!("{stem}strasse");
        }
    }
    Some(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb() -> CountryCode {
        CountryCode::new("GB").unwrap()
    }

    #[test]
    fn details_are_normalized_field_by_field() {
        let details = PersonDetails {
            given_name: Some("  Jean-Luc ".into()),
            family_name: Some("O'Brien".into()),
            date_of_birth: Some("1980-02-29".into()),
            street_number: Some(" 12 A".into()),
            street: Some("Hauptstr.".into()),
            locality: Some("MÜNCHEN".into()),
            postcode: Some("80 331".into()),
            country: Some("de".into()),
            national_ids: vec!["QQ 12 34 56 C".into()],
            emails: vec!["J.Doe@Example.com".into()],
            phones: vec!["089 1234567".into()],
            company: Some("ACME GmbH".into()),
            ..PersonDetails::default()
        };
        let (record, unreadable) = PersonRecord::normalize(&details, gb());
        assert!(unreadable.is_empty(), "{unreadable:?}");
        assert_eq!(record.given_name.as_deref(), Some("jean luc"));
        assert_eq!(record.family_name.as_deref(), Some("obrien"));
        assert_eq!(record.address.street_number.as_deref(), Some("12a"));
        assert_eq!(record.address.street.as_deref(), Some("hauptstrasse"));
        assert_eq!(record.address.locality.as_deref(), Some("munchen"));
        assert_eq!(record.address.postcode.as_deref(), Some("80331"));
        assert_eq!(record.national_ids, ["QQ123456C"]);
        assert_eq!(record.emails, ["j.doe@example.com"]);
        assert_eq!(
            record.phones,
            ["+49891234567"],
            "read in the record's country"
        );
        assert_eq!(record.company.as_deref(), Some("acme"));
        assert!(record.family_sound.is_some());
    }

    #[test]
    fn street_types_are_spelled_out_where_they_stand() {
        assert_eq!(street("High St.").as_deref(), Some("high street"));
        assert_eq!(street("St John's Rd").as_deref(), Some("st johns road"));
        assert_eq!(street("av. Foch").as_deref(), Some("avenue foch"));
        assert_eq!(street("Gartenstr").as_deref(), Some("gartenstrasse"));
        assert_eq!(street("Gartenstraße").as_deref(), Some("gartenstrasse"));
    }

    #[test]
    fn unreadable_fields_are_reported_and_left_out() {
        let details = PersonDetails {
            family_name: Some("Smith".into()),
            date_of_birth: Some("1980-13-02".into()),
            emails: vec!["not an email".into()],
            phones: vec!["12".into()],
            country: Some("USA".into()),
            ..PersonDetails::default()
        };
        let (record, unreadable) = PersonRecord::normalize(&details, gb());
        let fields: Vec<_> = unreadable.iter().map(|u| u.field).collect();
        assert_eq!(fields, ["country", "date_of_birth", "emails", "phones"]);
        assert_eq!(record.family_name.as_deref(), Some("smith"));
        assert!(record.date_of_birth.is_none() && record.emails.is_empty());
    }
}
