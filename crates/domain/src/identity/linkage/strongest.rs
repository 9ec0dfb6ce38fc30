//! A record's strongest candidates by match weight, found without comparing every field of
//! every candidate.
//!
//! A lookup weighs hundreds of candidates (everyone sharing a blocking key) to keep one to five.
//! The identifier fields (birth date, national ids, emails, phones) are compared first: they are
//! equality and one-typo checks on short texts. With them known, the most the other fields could
//! add — each one's strongest level, or nothing — bounds what a candidate can reach. Candidates
//! are then finished in the order of that bound, and once the bound of the next one falls below
//! the weakest weight kept, no later candidate can be kept either: the rest are never compared
//! by name, address or company. The answer is the one weighing everyone would give.

use std::cmp::Ordering;

use super::compare::{
    ComparisonVector, Field, compare_identifiers, compare_the_rest, is_identifier, may_have_a_level,
};
use super::model::{FieldProbabilities, LinkageModel};
use super::person::PersonRecord;
use super::sketch::{IdentifierSketch, compare_identifiers_sketched};

/// A candidate weighed in full.
#[derive(Debug, Clone, PartialEq)]
pub struct Weighed<K> {
    /// Whatever names the candidate (a contact id, an index).
    pub key: K,
    /// Its match weight ([`LinkageModel::match_weight`] of its comparison).
    pub match_weight: f64,
    /// How it compares with the record, field by field.
    pub vector: ComparisonVector,
}

/// How far a bound, summed in another order than the weight it bounds, may fall short of it
/// by rounding alone.
const ROUNDING: f64 = 1e-9;

/// The most candidates room is made for before the first is weighed (an iterator's upper
/// bound can be anything).
const MOST_RESERVED: usize = 4_096;

impl LinkageModel {
    /// The `keep` candidates with the greatest match weight against `record`, greatest first,
    /// ties by key: the same as comparing every candidate ([`super::compare`]), weighing each
    /// ([`LinkageModel::match_weight`]) and sorting, but the names, address and company of a
    /// candidate that cannot be among the kept are never compared.
    pub fn strongest<'r, K: Ord + Copy>(
        &self,
        record: &PersonRecord,
        candidates: impl IntoIterator<Item = (K, &'r PersonRecord)>,
        keep: usize,
    ) -> Vec<Weighed<K>> {
        self.strongest_sketched(
            record,
            None,
            candidates
                .into_iter()
                .map(|(key, candidate)| (key, candidate, None)),
            keep,
        )
    }

    /// [`strongest`](Self::strongest), with the sketches of the record's and of each
    /// candidate's identifiers where they are kept ([`IdentifierSketch::of`] of that very
    /// record): the same answer, with fewer of the candidates' texts read.
    pub fn strongest_sketched<'r, K: Ord + Copy>(
        &self,
        record: &PersonRecord,
        record_sketch: Option<&IdentifierSketch>,
        candidates: impl IntoIterator<Item = (K, &'r PersonRecord, Option<&'r IdentifierSketch>)>,
        keep: usize,
    ) -> Vec<Weighed<K>> {
        if keep == 0 {
            return Vec::new();
        }
        // The most each field of the second stage can add: its strongest level, or nothing
        // (a missing value adds nothing, and a field whose value one side lacks adds exactly
        // that).
        let rest_at_most: Vec<(Field, f64)> = self
            .fields
            .iter()
            .filter(|f| !is_identifier(f.field))
            .map(|f| (f.field, level_weights(f).fold(0.0, f64::max)))
            .collect();
        // Each identifier field's weight per level, worked out once rather than per candidate
        // (each is a logarithm); a level past the table is worked out where it occurs.
        let identifier_weights: Vec<(&FieldProbabilities, Vec<f64>)> = self
            .fields
            .iter()
            .filter(|f| is_identifier(f.field))
            .map(|f| (f, level_weights(f).collect()))
            .collect();
        let prior = self.prior_weight();
        let candidates = candidates.into_iter();
        // Sized once: growing it in steps costs more than the comparisons on a large heap.
        let mut staged: Vec<(f64, K, &PersonRecord, ComparisonVector)> =
            Vec::with_capacity(candidates.size_hint().1.unwrap_or(0).min(MOST_RESERVED));
        staged.extend(candidates.map(|(key, candidate, sketch)| {
            let vector = match (record_sketch, sketch) {
                (Some(mine), Some(theirs)) => {
                    compare_identifiers_sketched(record, mine, candidate, theirs)
                }
                _ => compare_identifiers(record, candidate),
            };
            let known: f64 = identifier_weights
                .iter()
                .filter_map(|(f, weights)| {
                    vector.level(f.field).map(|level| {
                        weights
                            .get(usize::from(level))
                            .copied()
                            .unwrap_or_else(|| f.weight(level))
                    })
                })
                .sum();
            let rest: f64 = rest_at_most
                .iter()
                .filter(|(field, _)| may_have_a_level(*field, record, candidate))
                .map(|(_, strongest)| strongest)
                .sum();
            (prior + known + rest, key, candidate, vector)
        }));
        staged.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        let mut kept: Vec<Weighed<K>> = Vec::with_capacity(keep + 1);
        for (bound, key, candidate, mut vector) in staged {
            if kept.len() == keep
                && kept
                    .last()
                    .is_some_and(|weakest| bound + ROUNDING < weakest.match_weight)
            {
                break;
            }
            compare_the_rest(record, candidate, &mut vector);
            let weighed = Weighed {
                key,
                match_weight: self.match_weight(&vector),
                vector,
            };
            let at = kept.partition_point(|k| stronger(k, &weighed));
            if at < keep {
                kept.insert(at, weighed);
                kept.truncate(keep);
            }
        }
        kept
    }
}

/// A field's weight at each of its levels, in level order.
fn level_weights(field: &FieldProbabilities) -> impl Iterator<Item = f64> + '_ {
    (0..field.field.levels().len())
        .filter_map(|level| u8::try_from(level).ok())
        .map(|level| field.weight(level))
}

/// Whether `a` ranks before `b`: greater weight first, then the smaller key.
fn stronger<K: Ord>(a: &Weighed<K>, b: &Weighed<K>) -> bool {
    match b.match_weight.partial_cmp(&a.match_weight) {
        Some(Ordering::Less) => true,
        Some(Ordering::Greater) => false,
        _ => a.key < b.key,
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::identity::linkage::{FieldProbabilities, PostalAddress, compare, sound_codes};

    /// Weighs everyone and sorts: what `strongest` must equal.
    fn everyone<K: Ord + Copy>(
        model: &LinkageModel,
        record: &PersonRecord,
        candidates: &[(K, PersonRecord)],
        keep: usize,
    ) -> Vec<Weighed<K>> {
        let mut all: Vec<Weighed<K>> = candidates
            .iter()
            .map(|(key, candidate)| {
                let vector = compare(record, candidate);
                Weighed {
                    key: *key,
                    match_weight: model.match_weight(&vector),
                    vector,
                }
            })
            .collect();
        all.sort_by(|a, b| {
            b.match_weight
                .partial_cmp(&a.match_weight)
                .unwrap_or(Ordering::Equal)
                .then(a.key.cmp(&b.key))
        });
        all.truncate(keep);
        all
    }

    /// People drawn from small pools, so that agreements of every level are common.
    fn person() -> impl Strategy<Value = PersonRecord> {
        let name = || {
            prop::option::weighted(
                0.9,
                prop::sample::select(
                    &[
                        "jane", "jayne", "smith", "smyth", "bob", "robert", "anna", "ann", "j",
                        "jones", "jonas", "mary ann",
                    ][..],
                ),
            )
        };
        let text = |pool: &'static [&'static str]| {
            prop::option::weighted(0.7, prop::sample::select(pool).prop_map(str::to_owned))
        };
        let list = |pool: &'static [&'static str]| {
            prop::collection::vec(prop::sample::select(pool).prop_map(str::to_owned), 0..3)
        };
        (
            (name(), name()),
            prop::option::weighted(0.7, (1980i32..1983, 1u32..4, 1u32..4)),
            (
                text(&["12", "14", "21"]),
                text(&["high street", "high st", "low road"]),
                text(&["SW1A1AA", "SW1A1AB", "M11AA"]),
                text(&["london", "londn", "leeds"]),
            ),
            list(&["AB123", "AB124", "ZZ999"]),
            list(&[
                "jane@example.com",
                "jane@exmple.com",
                "bob7@example.org",
                "x@example.net",
            ]),
            list(&["+442079460958", "+442079460959", "+15555550100"]),
            text(&["acme", "acme ltd", "initech"]),
        )
            .prop_map(
                |(
                    (given, family),
                    born,
                    (number, street, postcode, locality),
                    ids,
                    emails,
                    phones,
                    company,
                )| {
                    let given_name = given.map(str::to_owned);
                    let family_name = family.map(str::to_owned);
                    PersonRecord {
                        given_sound: given_name.as_deref().and_then(sound_codes),
                        family_sound: family_name.as_deref().and_then(sound_codes),
                        given_name,
                        family_name,
                        date_of_birth: born.and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d)),
                        address: PostalAddress {
                            street_number: number,
                            street,
                            postcode,
                            locality,
                            ..PostalAddress::default()
                        },
                        national_ids: ids,
                        emails,
                        phones,
                        company,
                    }
                },
            )
    }

    /// The default model, or one with arbitrary probabilities (weights of any sign at any
    /// level, fields left out).
    fn model() -> impl Strategy<Value = LinkageModel> {
        let default = LinkageModel::default();
        let fields = default.fields.clone();
        prop_oneof![
            Just(default.clone()),
            (
                0.001f64..0.5,
                prop::collection::vec(
                    (
                        prop::bool::weighted(0.9),
                        prop::collection::vec((0.001f64..1.0, 0.001f64..1.0), 6)
                    ),
                    fields.len()
                ),
            )
                .prop_map(move |(prior, chosen)| LinkageModel {
                    prior,
                    fields: fields
                        .iter()
                        .zip(chosen)
                        .filter(|(_, (kept, _))| *kept)
                        .map(|(f, (_, probabilities))| FieldProbabilities {
                            field: f.field,
                            m: probabilities.iter().map(|p| p.0).collect(),
                            u: probabilities.iter().map(|p| p.1).collect(),
                        })
                        .collect(),
                    ..default.clone()
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn the_strongest_are_those_weighing_everyone_finds(
            model in model(),
            record in person(),
            candidates in prop::collection::vec(person(), 0..40),
            keep in 0usize..6,
        ) {
            let keyed: Vec<(usize, PersonRecord)> = candidates.into_iter().enumerate().collect();
            let strongest = model.strongest(&record, keyed.iter().map(|(k, c)| (*k, c)), keep);
            let everyone = everyone(&model, &record, &keyed, keep);
            prop_assert_eq!(&strongest, &everyone);
            // With sketches, where some candidates have one: the same again.
            let sketches: Vec<IdentifierSketch> =
                keyed.iter().map(|(_, c)| IdentifierSketch::of(c)).collect();
            let sketched = model.strongest_sketched(
                &record,
                Some(&IdentifierSketch::of(&record)),
                keyed
                    .iter()
                    .zip(&sketches)
                    .map(|((k, c), s)| (*k, c, (k % 3 != 0).then_some(s))),
                keep,
            );
            prop_assert_eq!(sketched, everyone);
        }
    }

    #[test]
    fn a_copy_of_the_record_comes_first_and_nothing_is_kept_of_nobody() {
        let model = LinkageModel::default();
        let jane = PersonRecord {
            given_name: Some("jane".into()),
            family_name: Some("smith".into()),
            emails: vec!["jane@example.com".into()],
            ..PersonRecord::default()
        };
        let other = PersonRecord {
            given_name: Some("peter".into()),
            family_name: Some("jones".into()),
            emails: vec!["peter@example.com".into()],
            ..PersonRecord::default()
        };
        let candidates = [(2, &other), (1, &jane)];
        let best = model.strongest(&jane, candidates, 1);
        assert_eq!(best.len(), 1);
        assert_eq!(best[0].key, 1);
        assert!(model.strongest(&jane, candidates, 0).is_empty());
        assert!(model.strongest::<u8>(&jane, [], 3).is_empty());
    }
}
