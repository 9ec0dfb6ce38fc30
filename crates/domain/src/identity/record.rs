//! What identity resolution compares: one person's ways of being reached and named.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::values::{CompanyDomain, CompanyName, EmailAddress, PersonName, PhoneNumber};

/// Words that follow a family name (`Jr`, `III`, `PhD`) and so are not it.
const NAME_SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "mba"];
/// Words that precede a given name (`Dr`, `Mrs`) and so are not it.
const NAME_TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir"];

/// A person as identity resolution sees them, built from a lead's or a contact's profile:
/// every name they go by, every address and number they can be reached at, and their
/// company. Plain data; every field may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityRecord {
    /// Full names, in any order of preference.
    pub names: Vec<PersonName>,
    /// Email addresses.
    pub emails: Vec<EmailAddress>,
    /// Phone numbers.
    pub phones: Vec<PhoneNumber>,
    /// The company's web domain.
    pub company_domain: Option<CompanyDomain>,
    /// The company's name.
    pub company_name: Option<CompanyName>,
}

impl IdentityRecord {
    /// Whether the record has a way to reach the person: an email address or a phone number.
    pub fn is_reachable(&self) -> bool {
        !self.emails.is_empty() || !self.phones.is_empty()
    }

    /// The domains that say where the person works: the company domain and the domains of
    /// work email addresses, leaving out providers where anyone can open a mailbox.
    pub fn company_domains(&self) -> BTreeSet<&str> {
        let website = self
            .company_domain
            .iter()
            .filter(|d| !d.is_personal_mail())
            .map(CompanyDomain::normalized);
        let work_mail = self
            .emails
            .iter()
            .filter(|e| !e.is_personal_mail())
            .map(EmailAddress::domain);
        website.chain(work_mail).collect()
    }

    /// The family names of the record's names: each name's last word, after suffixes such as
    /// `Jr` (`Martin Luther King Jr` → `king`). A one-word name is its own family name.
    pub fn family_names(&self) -> BTreeSet<&str> {
        self.names
            .iter()
            .filter_map(|name| significant_words(name).last().copied())
            .collect()
    }

    /// Each name's family name with the initial of its given name, if it has one:
    /// `Dr Jane Q Smith` → (`smith`, `Some('j')`), `Madonna` → (`madonna`, `None`).
    pub fn family_names_with_initials(&self) -> BTreeSet<(&str, Option<char>)> {
        self.names
            .iter()
            .filter_map(|name| {
                let words = significant_words(name);
                let (family, given) = words.split_last()?;
                Some((*family, given.first().and_then(|word| word.chars().next())))
            })
            .collect()
    }

    /// Every normalized value of the record, for telling whether two records say the same.
    pub(crate) fn normalized_values(&self) -> NormalizedValues<'_> {
        NormalizedValues {
            names: self.names.iter().map(PersonName::normalized).collect(),
            emails: self.emails.iter().map(EmailAddress::normalized).collect(),
            phones: self.phones.iter().map(PhoneNumber::e164).collect(),
            company_domain: self.company_domain.as_ref().map(CompanyDomain::normalized),
            company_name: self.company_name.as_ref().map(CompanyName::normalized),
        }
    }
}

/// A record's normalized values as sets, so that order and repetition do not count.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NormalizedValues<'a> {
    names: BTreeSet<&'a str>,
    emails: BTreeSet<&'a str>,
    phones: BTreeSet<&'a str>,
    company_domain: Option<&'a str>,
    company_name: Option<&'a str>,
}

/// A name's words without titles in front and suffixes behind, unless nothing else is left.
fn significant_words(name: &PersonName) -> Vec<&str> {
    let mut words: Vec<&str> = name.words().collect();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|word| NAME_SUFFIXES.contains(word))
    {
        words.pop();
    }
    while words.len() > 1 && NAME_TITLES.contains(&words[0]) {
        words.remove(0);
    }
    words
}

#[cfg(test)]
pub(crate) mod strategies {
    //! Generators of identity records.

    use proptest::prelude::*;

    use super::IdentityRecord;
    use crate::identity::values::strategies::{
        company_domain, company_name, email_address, person_name, phone_number,
    };

    /// Any record, possibly empty.
    pub(crate) fn identity_record() -> impl Strategy<Value = IdentityRecord> {
        (
            prop::collection::vec(person_name(), 0..3),
            prop::collection::vec(email_address(), 0..3),
            prop::collection::vec(phone_number(), 0..2),
            prop::option::of(company_domain()),
            prop::option::of(company_name()),
        )
            .prop_map(|(names, emails, phones, company_domain, company_name)| {
                IdentityRecord {
                    names,
                    emails,
                    phones,
                    company_domain,
                    company_name,
                }
            })
    }

    /// A record with an email address or a phone number, as every lead has.
    pub(crate) fn reachable_identity_record() -> impl Strategy<Value = IdentityRecord> {
        identity_record().prop_filter("reachable", IdentityRecord::is_reachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_named(names: &[&str]) -> IdentityRecord {
        IdentityRecord {
            names: names.iter().map(|n| PersonName::new(n).unwrap()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn family_names_skip_suffixes_and_titles() {
        let record = record_named(&["Dr. Martin Luther King, Jr.", "Madonna", "Jr"]);
        assert_eq!(
            record.family_names(),
            BTreeSet::from(["jr", "king", "madonna"])
        );
        assert_eq!(
            record.family_names_with_initials(),
            BTreeSet::from([("jr", None), ("king", Some('m')), ("madonna", None)])
        );
    }

    #[test]
    fn company_domains_come_from_the_website_and_work_mail_only() {
        let record = IdentityRecord {
            emails: vec![
                EmailAddress::parse("jane@acme.com").unwrap(),
                EmailAddress::parse("jane.doe@gmail.com").unwrap(),
            ],
            company_domain: Some(CompanyDomain::parse("https://www.acme.de").unwrap()),
            ..Default::default()
        };
        assert_eq!(
            record.company_domains(),
            BTreeSet::from(["acme.com", "acme.de"])
        );

        let personal_website = IdentityRecord {
            company_domain: Some(CompanyDomain::parse("gmail.com").unwrap()),
            ..Default::default()
        };
        assert!(personal_website.company_domains().is_empty());
    }
}
