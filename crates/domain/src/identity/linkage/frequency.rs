//! Term-frequency adjustment: an exact agreement on a common name is weaker evidence than the
//! model's average exact agreement.
//!
//! The model weighs an exact family name as `log2(m / u)` with one `u` for every name, the
//! chance that two strangers share *a* name. Two strangers share "Smith" far more often than
//! "Szczepański": the chance for a value is its share among the records. [`NameFrequencies`]
//! counts the names of a set of records and gives, for a pair agreeing exactly on a name, the
//! adjustment `log2(u / share)` — as record-linkage tools do — but only where it is negative:
//! a rare name is not made stronger than the model's average, because relatives share rare
//! family names as much as common ones, and precision comes first.

use std::collections::HashMap;

use super::compare::{ComparisonVector, Field};
use super::model::LinkageModel;
use super::person::PersonRecord;

/// How often each given and family name occurs among a set of records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFrequencies {
    given: HashMap<String, u64>,
    family: HashMap<String, u64>,
    given_total: u64,
    family_total: u64,
}

impl NameFrequencies {
    /// Counts the names of `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a PersonRecord>) -> Self {
        let mut counts = Self::default();
        for record in records {
            if let Some(name) = &record.given_name {
                *counts.given.entry(name.clone()).or_default() += 1;
                counts.given_total += 1;
            }
            if let Some(name) = &record.family_name {
                *counts.family.entry(name.clone()).or_default() += 1;
                counts.family_total += 1;
            }
        }
        counts
    }

    /// The share of records holding the field that hold `value` (`None` when it was never
    /// counted).
    fn share(&self, field: Field, value: &str) -> Option<f64> {
        let (counts, total) = match field {
            Field::GivenName => (&self.given, self.given_total),
            Field::FamilyName => (&self.family, self.family_total),
            _ => return None,
        };
        let count = *counts.get(value)?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "counts of records; a share needs no more than f64's 52 bits"
        )]
        let share = count as f64 / total.max(1) as f64;
        Some(share)
    }

    /// The adjustment, in bits, to the match weight of `a` and `b` compared as `vector` under
    /// `model`: for each name on which they agree exactly, `log2(u / share)` where that is
    /// negative (a common name weakens the agreement, a rare one does not strengthen it).
    /// Zero for names compared crosswise.
    pub fn adjustment(
        &self,
        model: &LinkageModel,
        a: &PersonRecord,
        b: &PersonRecord,
        vector: &ComparisonVector,
    ) -> f64 {
        if vector.names_swapped {
            return 0.0;
        }
        [
            (
                Field::GivenName,
                a.given_name.as_deref(),
                b.given_name.as_deref(),
            ),
            (
                Field::FamilyName,
                a.family_name.as_deref(),
                b.family_name.as_deref(),
            ),
        ]
        .into_iter()
        .filter_map(|(field, left, right)| {
            let value = left.filter(|left| Some(*left) == right)?;
            if vector.level(field) != Some(0) {
                return None;
            }
            let u = model.field(field)?.u.first().copied()?;
            let share = self.share(field, value)?;
            Some(
                (u.max(f64::MIN_POSITIVE) / share.max(f64::MIN_POSITIVE))
                    .log2()
                    .min(0.0),
            )
        })
        .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::linkage::{compare, sound_codes};

    fn person(given: &str, family: &str) -> PersonRecord {
        PersonRecord {
            given_name: Some(given.into()),
            family_name: Some(family.into()),
            given_sound: sound_codes(given),
            family_sound: sound_codes(family),
            ..PersonRecord::default()
        }
    }

    /// Twenty people: ten Smiths, one Szczepański, nine others; every given name once but
    /// "ada" (twice).
    fn crowd() -> Vec<PersonRecord> {
        let mut people: Vec<PersonRecord> = (0..10)
            .map(|n| person(&format!("given{n}"), "smith"))
            .collect();
        people.push(person("ada", "szczepanski"));
        people.extend((0..8).map(|n| person(&format!("other{n}"), &format!("family{n}"))));
        people.push(person("ada", "lovelace"));
        people
    }

    #[test]
    fn a_common_name_agreeing_exactly_weighs_less_and_a_rare_one_no_more() {
        let frequencies = NameFrequencies::of(&crowd());
        let model = LinkageModel::default();
        // The default model's u of an exact family name is 0.05; "smith" is half the crowd.
        let (a, b) = (person("given0", "smith"), person("given1", "smith"));
        let adjustment = frequencies.adjustment(&model, &a, &b, &compare(&a, &b));
        assert!(
            (adjustment - (0.05_f64 / 0.5).log2()).abs() < 1e-9,
            "{adjustment}"
        );
        let (a, b) = (person("ada", "szczepanski"), person("ada", "szczepanski"));
        // "szczepanski" (1 in 20) is rarer than the model's average: no bonus. "ada" (2 in
        // 20) against an exact given name's u of 0.02: weaker.
        let adjustment = frequencies.adjustment(&model, &a, &b, &compare(&a, &b));
        assert!(
            (adjustment - (0.02_f64 / 0.1).log2()).abs() < 1e-9,
            "{adjustment}"
        );
    }

    #[test]
    fn only_exact_agreements_in_their_own_boxes_are_adjusted() {
        let frequencies = NameFrequencies::of(&crowd());
        let model = LinkageModel::default();
        for (a, b) in [
            (person("given0", "smith"), person("smith", "given0")),
            (person("given0", "smith"), person("given9", "smyth")),
            (person("unknown", "nobody"), person("unknown", "nobody")),
        ] {
            let vector = compare(&a, &b);
            let adjustment = frequencies.adjustment(&model, &a, &b, &vector);
            assert!(adjustment.abs() < 1e-12, "{a:?} {b:?}: {adjustment}");
        }
    }

    fn strength(verdict: crate::identity::MatchVerdict) -> u8 {
        use crate::identity::MatchVerdict;
        match verdict {
            MatchVerdict::AutoLink => 2,
            MatchVerdict::Review => 1,
            MatchVerdict::Distinct => 0,
        }
    }

    #[test]
    fn an_adjusted_verdict_can_only_be_weaker() {
        let frequencies = NameFrequencies::of(&crowd());
        let model = LinkageModel::default();
        for a in crowd() {
            for b in crowd() {
                let vector = compare(&a, &b);
                let adjustment = frequencies.adjustment(&model, &a, &b, &vector);
                assert!(adjustment <= 0.0);
                assert!(
                    strength(model.decide_adjusted(&vector, adjustment))
                        <= strength(model.decide(&vector))
                );
            }
        }
    }
}
