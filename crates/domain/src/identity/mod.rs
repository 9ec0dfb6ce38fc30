//! Identity normalization and match scoring: the raw value a person typed is kept next to
//! its normalized form, and candidates are scored to auto-link, review, or stay distinct.
//!
//! A person is known by a stable id, never by an email address; this module only says which
//! records probably describe the same person. Three steps, each a pure function:
//! 1. **Normalize** what was typed ([`EmailAddress`], [`PhoneNumber`], [`PersonName`],
//!    [`CompanyName`], [`CompanyDomain`]), keeping the raw value.
//! 2. **Block**: [`blocking_keys`] of an [`IdentityRecord`] are what an index looks candidates
//!    up by; [`select_candidates`] keeps the most promising [`MatchConfig::max_candidates`].
//! 3. **Score**: [`assess`] compares two records and gives a [`Score`], a [`MatchVerdict`]
//!    (auto-link, review, distinct) and the [`MatchReason`]s; [`rank_candidates`] does it for
//!    a lookup's candidates.
//!
//! [`linkage`] is the probabilistic side: Fellegi–Sunter scoring over many fields, learned
//! from unlabelled records, with blocking passes that survive typos.

mod blocking;
mod fold;
mod hostname;
mod legal_form;
pub mod linkage;
mod mailbox;
mod matching;
mod phonetic;
mod record;
mod values;

#[cfg(test)]
mod tests;

pub use blocking::{
    BlockingKey, BlockingKeyKind, CandidateSelection, blocking_keys, select_candidates,
};
pub(crate) use hostname::normalize_domain;
pub use matching::{
    CandidateMatch, MatchAssessment, MatchConfig, MatchReason, MatchVerdict, NameAgreement, Score,
    assess, rank_candidates,
};
pub use record::IdentityRecord;
pub use values::{
    CompanyDomain, CompanyName, CountryCode, EmailAddress, IdentityError, PersonName, PhoneNumber,
};
