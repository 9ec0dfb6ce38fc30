//! Match scoring: how likely two identity records are the same person, why, and what to do
//! about it ([`MatchVerdict`]: link automatically, ask a person, or keep apart).
//!
//! Each field that agrees is a piece of evidence with a weight in [0, 1]; the pieces combine
//! like independent chances of being right (`1 − Π(1 − weight)`), and names that clearly
//! differ then scale the result down. The weights:
//!
//! | evidence | weight |
//! | --- | --- |
//! | the same normalized email address | 0.95 (0.50 for a role address such as `info@`) |
//! | the same mailbox up to a `+tag` | 0.85 (0.45 for a role address) |
//! | the same E.164 phone number | 0.85 |
//! | names: the same / agreeing / similar (Jaro-Winkler) | 0.50 / 0.40 / 0.25 |
//! | the same company domain (web site or work address) | 0.30 |
//! | company names: the same / agreeing | 0.20 / 0.10 |
//! | names that conflict (similarity below the conflict threshold) | score × 0.70 |
//!
//! So with the default thresholds an exact email address links on its own, a phone number
//! links with an agreeing name and goes to review without one, a shared role address or a
//! shared phone with a conflicting name goes to review, and names and companies alone never
//! link. Two reachable records that hold exactly the same normalized values (a form sent
//! twice) score 1: nothing tells them apart.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::mailbox::is_role_local_part;
use super::record::IdentityRecord;
use super::values::{CompanyName, IdentityError, PersonName, PhoneNumber};

/// A number from 0 to 1 (a similarity, a score, a weight or a threshold), kept in
/// ten-thousandths so that it compares exactly, orders, and can sit in an `Eq` event.
/// Serialized as a number such as `0.9125`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Score(u16);

/// Ten-thousandths in one.
const SCALE: u16 = 10_000;

impl Score {
    /// Nothing.
    pub const ZERO: Self = Self(0);
    /// Certainty.
    pub const ONE: Self = Self(SCALE);

    /// The score nearest to `value`; values outside 0 to 1, and NaN, are refused.
    pub fn new(value: f64) -> Result<Self, IdentityError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self::saturating(value))
        } else {
            Err(IdentityError::InvalidScore {
                value: value.to_string(),
            })
        }
    }

    /// The score of `ten_thousandths` / 10 000, at most one.
    pub const fn from_ten_thousandths(ten_thousandths: u16) -> Self {
        Self(if ten_thousandths > SCALE {
            SCALE
        } else {
            ten_thousandths
        })
    }

    /// The score in ten-thousandths (0 to 10 000).
    pub const fn ten_thousandths(self) -> u16 {
        self.0
    }

    /// The score as a fraction.
    pub fn value(self) -> f64 {
        f64::from(self.0) / f64::from(SCALE)
    }

    /// The nearest score, with anything out of range (float error, NaN) clamped.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the value is clamped to [0, 10 000] before the cast"
    )]
    pub(crate) fn saturating(value: f64) -> Self {
        let scaled = (value * f64::from(SCALE)).round();
        if scaled.is_nan() {
            Self::ZERO
        } else {
            Self(scaled.clamp(0.0, f64::from(SCALE)) as u16)
        }
    }
}

impl TryFrom<f64> for Score {
    type Error = IdentityError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Score> for f64 {
    fn from(score: Score) -> Self {
        score.value()
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.4}", self.value())
    }
}

impl fmt::Debug for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Score({self})")
    }
}

/// The thresholds of matching and the candidate cap. Missing fields deserialize to their
/// defaults. Thresholds are inclusive; if `review` is above `auto_link` nothing goes to review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchConfig {
    /// Jaro-Winkler similarity at or above which two names agree (default 0.90).
    pub name_agreement: Score,
    /// Similarity at or above which two names are similar: weaker evidence (default 0.85).
    pub name_similarity: Score,
    /// Similarity below which two names conflict and scale the score down (default 0.70).
    pub name_conflict: Score,
    /// Score at or above which two records are linked without asking (default 0.90).
    pub auto_link: Score,
    /// Score at or above which a pair goes to the duplicate review queue (default 0.60).
    pub review: Score,
    /// The most candidates one lookup scores (default 100, as Salesforce's duplicate rules).
    pub max_candidates: usize,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            name_agreement: Score::from_ten_thousandths(9_000),
            name_similarity: Score::from_ten_thousandths(8_500),
            name_conflict: Score::from_ten_thousandths(7_000),
            auto_link: Score::from_ten_thousandths(9_000),
            review: Score::from_ten_thousandths(6_000),
            max_candidates: 100,
        }
    }
}

impl MatchConfig {
    /// What a score means under these thresholds.
    pub fn verdict(&self, score: Score) -> MatchVerdict {
        if score >= self.auto_link {
            MatchVerdict::AutoLink
        } else if score >= self.review {
            MatchVerdict::Review
        } else {
            MatchVerdict::Distinct
        }
    }
}

/// What to do about a pair of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchVerdict {
    /// The same person: link without asking.
    AutoLink,
    /// Possibly the same person: a person decides, in the duplicate review queue.
    Review,
    /// Different people, as far as the records tell.
    Distinct,
}

/// How well two names agree, for names that count as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameAgreement {
    /// The same normalized words (possibly in another order).
    Exact,
    /// Similarity at or above [`MatchConfig::name_agreement`].
    Agree,
    /// Similarity at or above [`MatchConfig::name_similarity`].
    Similar,
}

/// One reason behind a score. Pairs of names are given in alphabetical order, so the
/// reasons do not depend on which record came first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum MatchReason {
    /// Both records are reachable and hold exactly the same normalized values: the score is 1.
    IdenticalIdentity,
    /// Both have this normalized email address.
    EmailAgrees {
        /// The shared address.
        email: String,
        /// Whether it is a role address (`info@`), shared by several people.
        role_account: bool,
        /// The evidence's weight.
        weight: Score,
    },
    /// Both have an address of this mailbox, with different `+tags`.
    MailboxAgrees {
        /// The shared mailbox (the address without its tag).
        mailbox: String,
        /// Whether it is a role address (`info@`), shared by several people.
        role_account: bool,
        /// The evidence's weight.
        weight: Score,
    },
    /// Both have this phone number.
    PhoneAgrees {
        /// The shared number in E.164.
        e164: String,
        /// The evidence's weight.
        weight: Score,
    },
    /// Their most similar names agree.
    NamesAgree {
        /// The two names compared, normalized.
        names: [String; 2],
        /// Their Jaro-Winkler similarity (the better of as written and with sorted words).
        similarity: Score,
        /// How well they agree.
        agreement: NameAgreement,
        /// The evidence's weight.
        weight: Score,
    },
    /// Their most similar names differ, but not enough to conflict: no effect on the score.
    NamesDiffer {
        /// The two names compared, normalized.
        names: [String; 2],
        /// Their Jaro-Winkler similarity.
        similarity: Score,
    },
    /// Even their most similar names are unlike: the score is multiplied by `factor`.
    NamesConflict {
        /// The two names compared, normalized.
        names: [String; 2],
        /// Their Jaro-Winkler similarity.
        similarity: Score,
        /// What the score is multiplied by.
        factor: Score,
    },
    /// Both work at this company domain (from the web site or a work address).
    CompanyDomainAgrees {
        /// The shared domain.
        domain: String,
        /// The evidence's weight.
        weight: Score,
    },
    /// Their company names agree.
    CompanyNameAgrees {
        /// The two company names, normalized.
        names: [String; 2],
        /// Their Jaro-Winkler similarity.
        similarity: Score,
        /// The evidence's weight.
        weight: Score,
    },
}

impl MatchReason {
    /// The reason's weight as evidence for the same person; zero for reasons that add none.
    pub fn weight(&self) -> Score {
        match self {
            MatchReason::IdenticalIdentity => Score::ONE,
            MatchReason::EmailAgrees { weight, .. }
            | MatchReason::MailboxAgrees { weight, .. }
            | MatchReason::PhoneAgrees { weight, .. }
            | MatchReason::NamesAgree { weight, .. }
            | MatchReason::CompanyDomainAgrees { weight, .. }
            | MatchReason::CompanyNameAgrees { weight, .. } => *weight,
            MatchReason::NamesDiffer { .. } | MatchReason::NamesConflict { .. } => Score::ZERO,
        }
    }

    /// What the reason multiplies the combined evidence by; one for all but a name conflict.
    pub fn factor(&self) -> Score {
        match self {
            MatchReason::NamesConflict { factor, .. } => *factor,
            _ => Score::ONE,
        }
    }
}

/// The outcome of comparing two records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchAssessment {
    /// How likely the two records are the same person.
    pub score: Score,
    /// What to do about the pair.
    pub verdict: MatchVerdict,
    /// Why: every piece of evidence considered, strongest identifiers first. Personal data:
    /// empty once the person was erased.
    #[serde(deserialize_with = "crate::personal::erasable")]
    pub reasons: Vec<MatchReason>,
}

/// One candidate of a lookup with its assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateMatch<Id> {
    /// The candidate record's id.
    pub candidate: Id,
    /// How it compares with the record looked up.
    pub assessment: MatchAssessment,
}

/// The highest similarity of two names that are not the same words.
const ALMOST_ONE: Score = Score::from_ten_thousandths(SCALE - 1);

const EMAIL_WEIGHT: Score = Score::from_ten_thousandths(9_500);
const ROLE_EMAIL_WEIGHT: Score = Score::from_ten_thousandths(5_000);
const MAILBOX_WEIGHT: Score = Score::from_ten_thousandths(8_500);
const ROLE_MAILBOX_WEIGHT: Score = Score::from_ten_thousandths(4_500);
const PHONE_WEIGHT: Score = Score::from_ten_thousandths(8_500);
const NAME_EXACT_WEIGHT: Score = Score::from_ten_thousandths(5_000);
const NAME_AGREE_WEIGHT: Score = Score::from_ten_thousandths(4_000);
const NAME_SIMILAR_WEIGHT: Score = Score::from_ten_thousandths(2_500);
const NAME_CONFLICT_FACTOR: Score = Score::from_ten_thousandths(7_000);
const COMPANY_DOMAIN_WEIGHT: Score = Score::from_ten_thousandths(3_000);
const COMPANY_NAME_EXACT_WEIGHT: Score = Score::from_ten_thousandths(2_000);
const COMPANY_NAME_AGREE_WEIGHT: Score = Score::from_ten_thousandths(1_000);

/// Compares two records: the score, the verdict under `config`, and the reasons. Symmetric
/// (swapping the records changes nothing, reasons included) and total: any two records,
/// empty ones too, get an assessment. A reachable record always auto-links with itself.
pub fn assess(
    left: &IdentityRecord,
    right: &IdentityRecord,
    config: &MatchConfig,
) -> MatchAssessment {
    let identical = left.is_reachable() && left.normalized_values() == right.normalized_values();
    let reasons: Vec<MatchReason> = [
        identical.then_some(MatchReason::IdenticalIdentity),
        email_evidence(left, right),
        phone_evidence(left, right),
        name_evidence(left, right, config),
        company_domain_evidence(left, right),
        company_name_evidence(left, right, config),
    ]
    .into_iter()
    .flatten()
    .collect();
    let score = if identical {
        Score::ONE
    } else {
        combine(&reasons)
    };
    MatchAssessment {
        score,
        verdict: config.verdict(score),
        reasons,
    }
}

/// Scores each candidate against `probe` and orders them best first (ties by id). Callers
/// pass the candidates [`select_candidates`](super::select_candidates) chose, which holds
/// their number to [`MatchConfig::max_candidates`].
pub fn rank_candidates<'r, Id: Ord>(
    probe: &IdentityRecord,
    candidates: impl IntoIterator<Item = (Id, &'r IdentityRecord)>,
    config: &MatchConfig,
) -> Vec<CandidateMatch<Id>> {
    let mut ranked: Vec<CandidateMatch<Id>> = candidates
        .into_iter()
        .map(|(candidate, record)| CandidateMatch {
            candidate,
            assessment: assess(probe, record, config),
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.assessment
            .score
            .cmp(&a.assessment.score)
            .then_with(|| a.candidate.cmp(&b.candidate))
    });
    ranked
}

fn combine(reasons: &[MatchReason]) -> Score {
    let unexplained: f64 = reasons
        .iter()
        .map(|reason| 1.0 - reason.weight().value())
        .product();
    let factor: f64 = reasons
        .iter()
        .map(|reason| reason.factor().value())
        .product();
    Score::saturating((1.0 - unexplained) * factor)
}

fn email_evidence(left: &IdentityRecord, right: &IdentityRecord) -> Option<MatchReason> {
    let normalized = |record: &'_ IdentityRecord| -> BTreeSet<String> {
        record
            .emails
            .iter()
            .map(|email| email.normalized().to_owned())
            .collect()
    };
    let mailboxes = |record: &'_ IdentityRecord| -> BTreeSet<String> {
        record
            .emails
            .iter()
            .map(|email| email.mailbox().into_owned())
            .collect()
    };
    let role_of = |address: &str| {
        let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
        is_role_local_part(local.split('+').next().unwrap_or(local))
    };
    let exact = normalized(left)
        .intersection(&normalized(right))
        .map(|email| {
            let role_account = role_of(email);
            let weight = if role_account {
                ROLE_EMAIL_WEIGHT
            } else {
                EMAIL_WEIGHT
            };
            MatchReason::EmailAgrees {
                email: email.clone(),
                role_account,
                weight,
            }
        })
        .collect::<Vec<_>>();
    let by_mailbox = mailboxes(left)
        .intersection(&mailboxes(right))
        .map(|mailbox| {
            let role_account = role_of(mailbox);
            let weight = if role_account {
                ROLE_MAILBOX_WEIGHT
            } else {
                MAILBOX_WEIGHT
            };
            MatchReason::MailboxAgrees {
                mailbox: mailbox.clone(),
                role_account,
                weight,
            }
        })
        .collect::<Vec<_>>();
    // The strongest piece stands for all: a second shared address adds little to a first.
    exact
        .into_iter()
        .chain(by_mailbox)
        .enumerate()
        .max_by_key(|(order, reason)| (reason.weight(), Reverse(*order)))
        .map(|(_, reason)| reason)
}

fn phone_evidence(left: &IdentityRecord, right: &IdentityRecord) -> Option<MatchReason> {
    fn numbers(record: &IdentityRecord) -> BTreeSet<&str> {
        record.phones.iter().map(PhoneNumber::e164).collect()
    }
    let shared = numbers(left)
        .intersection(&numbers(right))
        .next()
        .copied()?;
    Some(MatchReason::PhoneAgrees {
        e164: shared.to_owned(),
        weight: PHONE_WEIGHT,
    })
}

fn name_evidence(
    left: &IdentityRecord,
    right: &IdentityRecord,
    config: &MatchConfig,
) -> Option<MatchReason> {
    let left_names: Vec<&str> = left.names.iter().map(PersonName::normalized).collect();
    let right_names: Vec<&str> = right.names.iter().map(PersonName::normalized).collect();
    let (names, similarity) = most_similar(&left_names, &right_names)?;
    let agreement = if similarity == Score::ONE {
        NameAgreement::Exact
    } else if similarity >= config.name_agreement {
        NameAgreement::Agree
    } else if similarity >= config.name_similarity {
        NameAgreement::Similar
    } else if similarity < config.name_conflict {
        return Some(MatchReason::NamesConflict {
            names,
            similarity,
            factor: NAME_CONFLICT_FACTOR,
        });
    } else {
        return Some(MatchReason::NamesDiffer { names, similarity });
    };
    let weight = match agreement {
        NameAgreement::Exact => NAME_EXACT_WEIGHT,
        NameAgreement::Agree => NAME_AGREE_WEIGHT,
        NameAgreement::Similar => NAME_SIMILAR_WEIGHT,
    };
    Some(MatchReason::NamesAgree {
        names,
        similarity,
        agreement,
        weight,
    })
}

fn company_domain_evidence(left: &IdentityRecord, right: &IdentityRecord) -> Option<MatchReason> {
    let shared = left
        .company_domains()
        .intersection(&right.company_domains())
        .next()
        .copied()?;
    Some(MatchReason::CompanyDomainAgrees {
        domain: shared.to_owned(),
        weight: COMPANY_DOMAIN_WEIGHT,
    })
}

fn company_name_evidence(
    left: &IdentityRecord,
    right: &IdentityRecord,
    config: &MatchConfig,
) -> Option<MatchReason> {
    let left_names: Vec<&str> = left
        .company_name
        .iter()
        .map(CompanyName::normalized)
        .collect();
    let right_names: Vec<&str> = right
        .company_name
        .iter()
        .map(CompanyName::normalized)
        .collect();
    let (names, similarity) = most_similar(&left_names, &right_names)?;
    let weight = if similarity == Score::ONE {
        COMPANY_NAME_EXACT_WEIGHT
    } else if similarity >= config.name_agreement {
        COMPANY_NAME_AGREE_WEIGHT
    } else {
        return None;
    };
    Some(MatchReason::CompanyNameAgrees {
        names,
        similarity,
        weight,
    })
}

/// The most similar pair of names, one from each side, in alphabetical order, with their
/// similarity; on equal similarity the alphabetically first pair, so either side may come
/// first. `None` if a side has no names.
fn most_similar(left: &[&str], right: &[&str]) -> Option<([String; 2], Score)> {
    left.iter()
        .flat_map(|&a| {
            right
                .iter()
                .map(move |&b| if a <= b { (a, b) } else { (b, a) })
        })
        .map(|(a, b)| (similarity(a, b), Reverse((a, b))))
        .max()
        .map(|(similarity, Reverse((a, b)))| ([a.to_owned(), b.to_owned()], similarity))
}

/// Jaro-Winkler similarity of two normalized names, the better of the names as written and
/// with their words sorted (`smith jane` and `jane smith` are the same name). Arguments are
/// taken in a fixed order so that the result is exactly symmetric.
fn similarity(a: &str, b: &str) -> Score {
    if a == b {
        return Score::ONE;
    }
    let sorted = |name: &str| {
        let mut words: Vec<&str> = name.split(' ').collect();
        words.sort_unstable();
        words.join(" ")
    };
    let (sorted_a, sorted_b) = (sorted(a), sorted(b));
    if sorted_a == sorted_b {
        return Score::ONE;
    }
    let ordered = |x: &'_ str, y: &'_ str| {
        let (x, y) = (compared_part(x), compared_part(y));
        if x <= y {
            strsim::jaro_winkler(x, y)
        } else {
            strsim::jaro_winkler(y, x)
        }
    };
    // Only the same words are exactly alike, however long two different names are.
    Score::saturating(ordered(a, b).max(ordered(&sorted_a, &sorted_b))).min(ALMOST_ONE)
}

/// The most characters of a name that Jaro-Winkler compares. Its cost grows with the product
/// of the lengths, and no real name is longer, so a pasted essay cannot stall a lookup.
const MAX_COMPARED_CHARS: usize = 128;

fn compared_part(name: &str) -> &str {
    name.char_indices()
        .nth(MAX_COMPARED_CHARS)
        .map_or(name, |(end, _)| &name[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_names_are_never_exactly_alike() {
        let long = "a".repeat(300);
        assert_eq!(similarity(&long, &format!("{long}b")), ALMOST_ONE);
    }

    #[test]
    fn very_long_names_are_compared_by_their_beginning() {
        let (a, b) = ("jane ".repeat(20_000), "jane ".repeat(20_001));
        assert_eq!(similarity(&a, &b), ALMOST_ONE);
        assert!(
            similarity(&"x".repeat(20_000), &"y".repeat(20_000)) < Score::from_ten_thousandths(1)
        );
    }
}
