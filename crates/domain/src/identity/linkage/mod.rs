//! Probabilistic record linkage: finding the same person however their record was typed.
//!
//! 1. **Normalize** ([`PersonRecord::normalize`]): given and family names kept apart and
//!    folded, date of birth, postal address in parts, national ids, emails, phones, company;
//!    each optional.
//! 2. **Block** ([`candidate_pairs`], [`candidate_links`], [`blocking_keys`]): several
//!    passes on different keys plus a sorted neighbourhood on names, so that a typo, a swap
//!    or a missing field in one key still leaves another.
//! 3. **Compare** ([`compare`]): each field gives an agreement level — exact, Jaro-Winkler
//!    bands, sound codes (Double Metaphone), nicknames, initials, swapped names, transposed
//!    or mistyped dates, near postcodes and house numbers — or none when a side lacks it.
//! 4. **Score** ([`LinkageModel::assess`]): Fellegi–Sunter evidence, `log2(m / u)` per
//!    field and level, added to the prior odds; thresholds for auto-link and review; every
//!    decision lists each field's contribution. A batch run may weaken exact agreements on
//!    common names by their frequency ([`NameFrequencies`], [`LinkageModel::decide_adjusted`]).
//! 5. **Learn** ([`estimate`]): `u` from random pairs, `m` and the prior by expectation
//!    maximisation over unlabelled compared pairs.
//!
//! [`evaluate`] measures blocking and links against known truth.

mod blocking;
mod compare;
mod estimate;
pub mod evaluate;
mod frequency;
mod model;
mod person;
mod similarity;
mod sketch;
mod strongest;

pub use blocking::{
    BlockKey, BlockingPass, BlockingSettings, CandidatePairs, blocking_keys, candidate_links,
    candidate_pairs, name_sort_keys,
};
pub use compare::{ComparisonVector, Field, compare, nickname_of, sound_alike, sound_codes};
pub use estimate::{
    EmSettings, Estimate, PassSample, estimate, estimate_by_passes, estimate_u, random_pairs,
    with_u,
};
pub use frequency::NameFrequencies;
pub use model::{
    FieldEvidence, FieldProbabilities, LinkageAssessment, LinkageModel, ModelError, Thresholds,
    probability_of,
};
pub use person::{
    AddressParts, PersonDetails, PersonRecord, PostalAddress, UnreadableField, normalize_identifier,
};
pub use similarity::{jaro_winkler, levenshtein, typing_distance, within_one_typing_error};
pub use sketch::IdentifierSketch;
pub use strongest::Weighed;
