//! Blocking: the few keys under which a record's possible duplicates are looked up, so that
//! a new record is compared with a handful of candidates instead of every record (Splink:
//! "blocking rules are the most important determinant of performance").
//!
//! An index maps each key to the records that have it; a lookup unions the records under
//! the new record's keys and keeps the most promising [`MatchConfig::max_candidates`] of
//! them ([`select_candidates`]), which are then scored ([`rank_candidates`](super::rank_candidates)).
//! Each kind of key exists to catch one kind of duplicate the others miss:
//!
//! | key | catches | why it stays small |
//! | --- | --- | --- |
//! | [`BlockingKey::Mailbox`] | the same address, also with another `+tag` | an address is one person's, or a role's |
//! | [`BlockingKey::Phone`] | the same number, however it was written | a number is one person's, or a switchboard's |
//! | [`BlockingKey::DomainFamilyName`] | a new address or number at the same employer | few people share a family name at one company |
//! | [`BlockingKey::CompanyFamilyName`] | the same, when only the company's name is known | likewise |
//! | [`BlockingKey::NameSound`] | a typo or spelling variant of the family name (`Smyth`) with nothing else shared | the given name's initial splits the sound's bucket, and the candidate cap bounds what is left |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::matching::MatchConfig;
use super::phonetic::sound_key;
use super::record::IdentityRecord;

/// A key under which candidate duplicates are looked up. Two records that share a key are
/// compared; two that share none never are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BlockingKey {
    /// An email address's mailbox: the normalized address without its `+tag`.
    Mailbox {
        /// The mailbox, e.g. `jane@acme.com`.
        mailbox: String,
    },
    /// A phone number in E.164.
    Phone {
        /// The number, e.g. `+4930123456`.
        e164: String,
    },
    /// A company domain (from the web site or a work address) and a family name.
    DomainFamilyName {
        /// The normalized company domain.
        domain: String,
        /// The normalized family name.
        family_name: String,
    },
    /// A normalized company name and a family name.
    CompanyFamilyName {
        /// The normalized company name.
        company: String,
        /// The normalized family name.
        family_name: String,
    },
    /// How the family name sounds, with the given name's initial.
    NameSound {
        /// The family name's Soundex code, or its first four characters in scripts Soundex
        /// cannot code.
        family_sound: String,
        /// The given name's first letter, if the name has more than one word.
        given_initial: Option<char>,
    },
}

/// The kinds of blocking key, strongest first: a candidate found under a stronger kind is
/// more likely a duplicate, so it is kept first when candidates are capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockingKeyKind {
    /// [`BlockingKey::Mailbox`].
    Mailbox,
    /// [`BlockingKey::Phone`].
    Phone,
    /// [`BlockingKey::DomainFamilyName`].
    DomainFamilyName,
    /// [`BlockingKey::CompanyFamilyName`].
    CompanyFamilyName,
    /// [`BlockingKey::NameSound`].
    NameSound,
}

impl BlockingKey {
    /// Which kind of key this is.
    pub fn kind(&self) -> BlockingKeyKind {
        match self {
            BlockingKey::Mailbox { .. } => BlockingKeyKind::Mailbox,
            BlockingKey::Phone { .. } => BlockingKeyKind::Phone,
            BlockingKey::DomainFamilyName { .. } => BlockingKeyKind::DomainFamilyName,
            BlockingKey::CompanyFamilyName { .. } => BlockingKeyKind::CompanyFamilyName,
            BlockingKey::NameSound { .. } => BlockingKeyKind::NameSound,
        }
    }
}

/// The key as one string for an index, e.g. `mailbox:jane@acme.com` or `name-sound:S530:j`.
/// Distinct keys give distinct strings, as no normalized value inside a key contains `:`.
impl fmt::Display for BlockingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockingKey::Mailbox { mailbox } => write!(f, "mailbox:{mailbox}"),
            BlockingKey::Phone { e164 } => write!(f, "phone:{e164}"),
            BlockingKey::DomainFamilyName {
                domain,
                family_name,
            } => {
                write!(f, "domain-family-name:{domain}:{family_name}")
            }
            BlockingKey::CompanyFamilyName {
                company,
                family_name,
            } => {
                write!(f, "company-family-name:{company}:{family_name}")
            }
            BlockingKey::NameSound {
                family_sound,
                given_initial,
            } => {
                write!(f, "name-sound:{family_sound}:")?;
                given_initial.map_or(Ok(()), |initial| write!(f, "{initial}"))
            }
        }
    }
}

/// The shortest family name worth a key: an initial (`J. Smith` reversed) says too little.
const MIN_FAMILY_NAME_CHARS: usize = 2;

/// The keys under which `record`'s candidate duplicates are looked up, and under which it is
/// itself indexed; sorted, without repeats. A record with nothing to match on has none.
pub fn blocking_keys(record: &IdentityRecord) -> BTreeSet<BlockingKey> {
    let mut keys = BTreeSet::new();
    keys.extend(record.emails.iter().map(|email| BlockingKey::Mailbox {
        mailbox: email.mailbox().into_owned(),
    }));
    keys.extend(record.phones.iter().map(|phone| BlockingKey::Phone {
        e164: phone.e164().to_owned(),
    }));

    let family_names: Vec<&str> = record
        .family_names()
        .into_iter()
        .filter(|name| name.chars().count() >= MIN_FAMILY_NAME_CHARS)
        .collect();
    for domain in record.company_domains() {
        keys.extend(
            family_names
                .iter()
                .map(|family| BlockingKey::DomainFamilyName {
                    domain: domain.to_owned(),
                    family_name: (*family).to_owned(),
                }),
        );
    }
    if let Some(company) = &record.company_name {
        keys.extend(
            family_names
                .iter()
                .map(|family| BlockingKey::CompanyFamilyName {
                    company: company.normalized().to_owned(),
                    family_name: (*family).to_owned(),
                }),
        );
    }
    for (family, given_initial) in record.family_names_with_initials() {
        if family.chars().count() >= MIN_FAMILY_NAME_CHARS {
            keys.insert(BlockingKey::NameSound {
                family_sound: sound_key(family),
                given_initial,
            });
        }
    }
    keys
}

/// The candidates of one lookup, capped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateSelection<Id> {
    /// The candidates to score, most promising first.
    pub candidates: Vec<Id>,
    /// How many more candidates the index found but the cap left out; when not zero, the
    /// lookup's keys were too common and a duplicate may have been missed.
    pub dropped: usize,
}

/// Chooses which of the records an index found are scored: each distinct record once,
/// those found under the strongest kind of key first, then those found under more distinct
/// keys, then by id, and at most [`MatchConfig::max_candidates`] of them. `hits` are the
/// index's answers, one per (record, key) pair found; the record being matched, if the index
/// holds it, is the caller's to leave out. The order is fully determined by the hits, never
/// by the order they arrive in.
pub fn select_candidates<Id: Ord>(
    hits: impl IntoIterator<Item = (Id, BlockingKey)>,
    config: &MatchConfig,
) -> CandidateSelection<Id> {
    let mut found: BTreeMap<Id, BTreeSet<BlockingKey>> = BTreeMap::new();
    for (id, key) in hits {
        found.entry(id).or_default().insert(key);
    }
    let mut ranked: Vec<(BlockingKeyKind, std::cmp::Reverse<usize>, Id)> = found
        .into_iter()
        .map(|(id, keys)| {
            let strongest = keys
                .iter()
                .map(BlockingKey::kind)
                .min()
                .unwrap_or(BlockingKeyKind::NameSound);
            (strongest, std::cmp::Reverse(keys.len()), id)
        })
        .collect();
    ranked.sort_unstable();
    let dropped = ranked.len().saturating_sub(config.max_candidates);
    ranked.truncate(config.max_candidates);
    CandidateSelection {
        candidates: ranked.into_iter().map(|(_, _, id)| id).collect(),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::values::{
        CompanyDomain, CompanyName, CountryCode, EmailAddress, PersonName, PhoneNumber,
    };

    fn mailbox(mailbox: &str) -> BlockingKey {
        BlockingKey::Mailbox {
            mailbox: mailbox.to_owned(),
        }
    }

    fn name_sound(sound: &str, initial: Option<char>) -> BlockingKey {
        BlockingKey::NameSound {
            family_sound: sound.to_owned(),
            given_initial: initial,
        }
    }

    fn jane() -> IdentityRecord {
        IdentityRecord {
            names: vec![PersonName::new("Jane Smith").unwrap()],
            emails: vec![
                EmailAddress::parse("Jane+News@Acme.com").unwrap(),
                EmailAddress::parse("j.smith@gmail.com").unwrap(),
            ],
            phones: vec![
                PhoneNumber::parse("030 1234567", CountryCode::new("DE").unwrap()).unwrap(),
            ],
            company_domain: Some(CompanyDomain::parse("https://www.acme.com/").unwrap()),
            company_name: Some(CompanyName::new("ACME Inc.").unwrap()),
        }
    }

    #[test]
    fn a_full_record_is_keyed_by_each_of_its_identifiers() {
        let keys = blocking_keys(&jane());
        let expected = BTreeSet::from([
            mailbox("jane@acme.com"),
            mailbox("jsmith@gmail.com"),
            BlockingKey::Phone {
                e164: "+49301234567".to_owned(),
            },
            BlockingKey::DomainFamilyName {
                domain: "acme.com".to_owned(),
                family_name: "smith".to_owned(),
            },
            BlockingKey::CompanyFamilyName {
                company: "acme".to_owned(),
                family_name: "smith".to_owned(),
            },
            name_sound("S530", Some('j')),
        ]);
        assert_eq!(keys, expected);
    }

    #[test]
    fn a_tagged_and_an_untagged_address_share_their_mailbox_key() {
        let tagged = IdentityRecord {
            emails: vec![EmailAddress::parse("jane+crm@acme.com").unwrap()],
            ..jane()
        };
        let plain = IdentityRecord {
            emails: vec![EmailAddress::parse("JANE@acme.com").unwrap()],
            ..jane()
        };
        assert!(blocking_keys(&tagged).contains(&mailbox("jane@acme.com")));
        assert!(blocking_keys(&plain).contains(&mailbox("jane@acme.com")));
    }

    #[test]
    fn spelling_variants_of_a_family_name_share_a_sound_key() {
        let smyth = IdentityRecord {
            names: vec![PersonName::new("Jane Smyth").unwrap()],
            ..Default::default()
        };
        assert_eq!(
            blocking_keys(&smyth),
            BTreeSet::from([name_sound("S530", Some('j'))])
        );
    }

    #[test]
    fn initials_and_personal_mail_domains_make_no_family_keys() {
        let record = IdentityRecord {
            names: vec![PersonName::new("Smith J").unwrap()],
            emails: vec![EmailAddress::parse("js@gmail.com").unwrap()],
            company_domain: Some(CompanyDomain::parse("gmail.com").unwrap()),
            ..Default::default()
        };
        assert_eq!(
            blocking_keys(&record),
            BTreeSet::from([mailbox("js@gmail.com")])
        );
    }

    #[test]
    fn an_empty_record_has_no_keys() {
        assert!(blocking_keys(&IdentityRecord::default()).is_empty());
    }

    #[test]
    fn index_keys_name_their_kind() {
        assert_eq!(
            mailbox("jane@acme.com").to_string(),
            "mailbox:jane@acme.com"
        );
        assert_eq!(
            name_sound("S530", Some('j')).to_string(),
            "name-sound:S530:j"
        );
        assert_eq!(name_sound("M000", None).to_string(), "name-sound:M000:");
        assert_eq!(
            BlockingKey::DomainFamilyName {
                domain: "acme.com".into(),
                family_name: "smith".into()
            }
            .to_string(),
            "domain-family-name:acme.com:smith"
        );
    }

    #[test]
    fn candidates_found_under_stronger_keys_come_first_and_the_rest_are_counted() {
        let config = MatchConfig {
            max_candidates: 3,
            ..MatchConfig::default()
        };
        let hits = vec![
            (5, name_sound("S530", Some('j'))),
            (4, name_sound("S530", Some('j'))),
            (
                4,
                BlockingKey::DomainFamilyName {
                    domain: "acme.com".into(),
                    family_name: "smith".into(),
                },
            ),
            (
                9,
                BlockingKey::Phone {
                    e164: "+49301234567".into(),
                },
            ),
            (7, mailbox("jane@acme.com")),
            (7, mailbox("jane@acme.com")),
            (1, name_sound("S530", Some('j'))),
        ];
        let selection = select_candidates(hits.clone(), &config);
        assert_eq!(
            selection,
            CandidateSelection {
                candidates: vec![7, 9, 4],
                dropped: 2
            }
        );

        let reversed = select_candidates(hits.into_iter().rev(), &config);
        assert_eq!(reversed, selection);
    }

    #[test]
    fn among_equally_strong_candidates_more_shared_keys_win() {
        let config = MatchConfig {
            max_candidates: 1,
            ..MatchConfig::default()
        };
        let hits = vec![
            (1, name_sound("S530", Some('j'))),
            (2, name_sound("S530", Some('j'))),
            (2, name_sound("S530", None)),
        ];
        assert_eq!(
            select_candidates(hits, &config),
            CandidateSelection {
                candidates: vec![2],
                dropped: 1
            }
        );
    }

    #[test]
    fn the_default_cap_is_one_hundred_candidates() {
        let hits = (0..250).map(|id| (id, name_sound("S530", Some('j'))));
        let selection = select_candidates(hits, &MatchConfig::default());
        assert_eq!(selection.candidates, (0..100).collect::<Vec<_>>());
        assert_eq!(selection.dropped, 150);
    }
}
