//! A person's identifiers in a few machine words, so that a lookup weighing hundreds of
//! candidates decides most identifier levels without reading a single text.
//!
//! Comparing a candidate's emails, phones and national ids means following two pointers per
//! value (the vector, then the string) into memory nothing else touched lately: at a million
//! people that is most of a lookup's time. An [`IdentifierSketch`] holds the same values in
//! place: a phone in E.164 form or a national id (digits, upper-case letters, `+`; up to 20
//! characters) packed whole into 128 bits, and of an email its first two characters, which
//! tell two strangers' addresses apart in nearly every pair (see [`compare`](super::compare)).
//! A level the sketch cannot decide — two emails that might be one typo apart, a value too
//! long to pack, a record with more values than the sketch holds — is compared on the texts,
//! as before. Either way the level is the one the texts give.

use super::compare::{ComparisonVector, Field, any_pair, both, date_level, email_level_of};
use super::person::PersonRecord;
use super::similarity::one_edit_apart;

/// Values of one kind a sketch holds; a record with more has that kind compared on its texts.
const HELD: usize = 2;

/// The identifiers of a [`PersonRecord`], sketched: see the module documentation. Build it
/// with [`IdentifierSketch::of`] from the record it stands for, and keep it with that record:
/// a sketch of another record's values gives that record's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdentifierSketch {
    national_ids: Held<Packed>,
    emails: Held<Head>,
    phones: Held<Packed>,
}

impl IdentifierSketch {
    /// The sketch of `record`'s national ids, emails and phones.
    pub fn of(record: &PersonRecord) -> Self {
        Self {
            national_ids: Held::of(&record.national_ids, Packed::of),
            emails: Held::of(&record.emails, |email| Some(Head::of(email))),
            phones: Held::of(&record.phones, Packed::of),
        }
    }
}

/// Up to [`HELD`] values of one kind, or word that the record has values the sketch does not
/// hold (too many, or one it cannot sketch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Held<T> {
    values: [T; HELD],
    count: u8,
    complete: bool,
}

impl<T: Copy + Default> Held<T> {
    fn of(texts: &[String], sketch: impl Fn(&str) -> Option<T>) -> Self {
        let mut held = Self {
            values: [T::default(); HELD],
            count: 0,
            complete: texts.len() <= HELD,
        };
        for (slot, text) in held.values.iter_mut().zip(texts) {
            match sketch(text) {
                Some(value) => *slot = value,
                None => held.complete = false,
            }
        }
        held.count = u8::try_from(texts.len().min(HELD)).unwrap_or(0);
        held
    }

    fn values(&self) -> &[T] {
        self.values.get(..usize::from(self.count)).unwrap_or(&[])
    }

    /// The level of the best pair, as `any_pair` gives it on the texts (`None` when a side
    /// has no value), if every pair's `level` is decided.
    fn decided(
        &self,
        other: &Self,
        level: impl Fn(&T, &T) -> Option<u8>,
    ) -> Result<Option<u8>, Undecided> {
        if !self.complete || !other.complete {
            return Err(Undecided);
        }
        let mut best: Option<u8> = None;
        for x in self.values() {
            for y in other.values() {
                let level = level(x, y).ok_or(Undecided)?;
                best = Some(best.map_or(level, |b| b.min(level)));
            }
        }
        Ok(best)
    }
}

/// The sketches cannot tell a level: the texts must be read.
#[derive(Debug, Clone, Copy)]
struct Undecided;

/// A short text of digits, upper-case letters and `+`, packed six bits a character after
/// five bits of length: equal packings are equal texts, and the characters come back out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Packed(u128);

impl Packed {
    /// The longest text packed.
    const MOST: usize = 20;

    fn of(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.is_empty() || bytes.len() > Self::MOST {
            return None;
        }
        let mut bits = u128::try_from(bytes.len()).ok()?;
        for (at, byte) in bytes.iter().enumerate() {
            let code = match byte {
                b'0'..=b'9' => byte - b'0' + 1,
                b'A'..=b'Z' => byte - b'A' + 11,
                b'+' => 37,
                _ => return None,
            };
            bits |= u128::from(code) << (5 + 6 * at);
        }
        Some(Self(bits))
    }

    /// The characters' codes, in order (one code per character, the same for the same
    /// character): enough to tell equality and typing errors.
    fn codes(self) -> ([u8; Self::MOST], usize) {
        let mut codes = [0; Self::MOST];
        let len = usize::try_from(self.0 & 0x1f).unwrap_or(0).min(Self::MOST);
        for (at, code) in codes.iter_mut().enumerate().take(len) {
            *code = u8::try_from((self.0 >> (5 + 6 * at)) & 0x3f).unwrap_or(0);
        }
        (codes, len)
    }

    /// `typo_level` of the two texts: exact (0), one typing error (1), different (2).
    fn typo_level(self, other: Self) -> u8 {
        if self == other {
            return 0;
        }
        let ((a, a_len), (b, b_len)) = (self.codes(), other.codes());
        match (a.get(..a_len), b.get(..b_len)) {
            (Some(a), Some(b)) if one_edit_apart(a, b) => 1,
            _ => 2,
        }
    }
}

/// An email's first two characters (`None` for a shorter address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Head(Option<[u8; 2]>);

impl Head {
    fn of(email: &str) -> Self {
        Self(match email.as_bytes() {
            [a0, a1, ..] => Some([*a0, *a1]),
            _ => None,
        })
    }

    /// "Different" (2) when the two addresses differ in their first two characters every way
    /// round — then they are neither equal, nor one typing error apart, nor share a mailbox
    /// name (the same test [`email_level_of`] starts with); `None` otherwise.
    fn level(self, other: Self) -> Option<u8> {
        let ([a0, a1], [b0, b1]) = (self.0?, other.0?);
        (a0 != b0 && a1 != b1 && a0 != b1 && a1 != b0).then_some(2)
    }
}

/// [`compare_identifiers`](super::compare) of two records, each with its sketch: the same
/// vector, reading a kind's texts only where the sketches do not decide it.
pub(super) fn compare_identifiers_sketched(
    a: &PersonRecord,
    a_sketch: &IdentifierSketch,
    b: &PersonRecord,
    b_sketch: &IdentifierSketch,
) -> ComparisonVector {
    let mut vector = ComparisonVector {
        levels: [None; Field::ALL.len()],
        names_swapped: false,
    };
    let levels = &mut vector.levels;
    levels[Field::DateOfBirth.index()] = both(a.date_of_birth, b.date_of_birth, date_level);
    levels[Field::NationalId.index()] = a_sketch
        .national_ids
        .decided(&b_sketch.national_ids, |x, y| Some(x.typo_level(*y)))
        .unwrap_or_else(|Undecided| {
            any_pair(&a.national_ids, &b.national_ids, super::compare::typo_level)
        });
    levels[Field::Email.index()] = a_sketch
        .emails
        .decided(&b_sketch.emails, |x, y| x.level(*y))
        .unwrap_or_else(|Undecided| email_level_of(a, b));
    levels[Field::Phone.index()] = a_sketch
        .phones
        .decided(&b_sketch.phones, |x, y| Some(x.typo_level(*y)))
        .unwrap_or_else(|Undecided| any_pair(&a.phones, &b.phones, super::compare::typo_level));
    vector
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::compare::compare_identifiers;
    use super::*;

    fn record(ids: Vec<String>, emails: Vec<String>, phones: Vec<String>) -> PersonRecord {
        PersonRecord {
            given_name: Some("ada".into()),
            family_name: Some("lovelace".into()),
            national_ids: ids,
            emails,
            phones,
            ..PersonRecord::default()
        }
    }

    #[test]
    fn packing_keeps_the_text_and_refuses_what_it_cannot_hold() {
        for text in [
            "+442079460958",
            "AB123456C",
            "0",
            "+",
            "ZZZZZZZZZZZZZZZZZZZZ",
        ] {
            let packed = Packed::of(text).expect("packable");
            let (codes, len) = packed.codes();
            assert_eq!(len, text.len(), "{text}");
            assert!(codes[..len].iter().all(|code| (1..=37).contains(code)));
        }
        for text in ["", "ab12", "+44 20", "ZZZZZZZZZZZZZZZZZZZZZ", "Ä1"] {
            assert_eq!(Packed::of(text), None, "{text}");
        }
    }

    #[test]
    fn a_record_with_more_values_than_the_sketch_holds_is_read_whole() {
        let many = record(
            vec![],
            vec!["a@x.io".into(), "b@x.io".into(), "c@x.io".into()],
            vec![],
        );
        let sketch = IdentifierSketch::of(&many);
        assert!(!sketch.emails.complete);
        let other = record(vec![], vec!["c@x.io".into()], vec![]);
        let vector =
            compare_identifiers_sketched(&other, &IdentifierSketch::of(&other), &many, &sketch);
        assert_eq!(vector.level(Field::Email), Some(0));
    }

    fn identifier() -> impl Strategy<Value = String> {
        // Few characters, so that equal and one-typo-apart values are common; now and then
        // one too long or with a character the packing refuses.
        prop_oneof![
            8 => "[+1-3A-B]{1,6}",
            1 => "[12]{19,22}",
            1 => "[1a ]{1,4}",
        ]
    }

    fn email() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[ab1.]{0,4}@[xy]\\.io",
            1 => "[ab]{0,2}",
            1 => "(ada|lovelace|adalovelace)[1]{0,1}@[xy]\\.io",
        ]
    }

    proptest! {
        #[test]
        fn the_sketched_levels_are_those_of_the_texts(
            a_ids in proptest::collection::vec(identifier(), 0..4),
            b_ids in proptest::collection::vec(identifier(), 0..4),
            a_emails in proptest::collection::vec(email(), 0..4),
            b_emails in proptest::collection::vec(email(), 0..4),
            a_phones in proptest::collection::vec(identifier(), 0..4),
            b_phones in proptest::collection::vec(identifier(), 0..4),
        ) {
            let a = record(a_ids, a_emails, a_phones);
            let b = record(b_ids, b_emails, b_phones);
            let sketched = compare_identifiers_sketched(
                &a, &IdentifierSketch::of(&a), &b, &IdentifierSketch::of(&b),
            );
            prop_assert_eq!(sketched, compare_identifiers(&a, &b));
        }
    }
}
