//! A person's identifiers in a few machine words, so that a lookup weighing hundreds of
//! candidates decides most identifier levels without reading a single text.
//!
//! Comparing a candidate's emails, phones and national ids means following two pointers per
//! value (the vector, then the string) into memory nothing else touched lately: at a million
//! people that is most of a lookup's time. An [`IdentifierSketch`] holds the same values in
//! place: a phone in E.164 form or a national id (digits, upper-case letters, `+`; up to 20
//! characters) packed whole into 128 bits, and of an email its hashes, length, first two
//! characters and character set, which tell two strangers' addresses apart in nearly every
//! pair (see [`compare`](super::compare)).
//! A level the sketch cannot decide — two emails that might be one typo apart, a value too
//! long to pack, a record with more values than the sketch holds — is compared on the texts,
//! as before. Either way the level is the one the texts give.

use super::compare::{
    ComparisonVector, Field, any_pair, both, date_level, email_level_of, mailbox,
};
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

/// What an email address gives away in a few words: a hash of the whole address and of its
/// mailbox name, its length, its first two characters and the set of its characters (each
/// byte folded onto one of 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Head {
    whole: u64,
    mailbox: u64,
    len: usize,
    first_two: Option<[u8; 2]>,
    bytes: u64,
    ascii: bool,
}

impl Head {
    fn of(email: &str) -> Self {
        let bytes = email.as_bytes();
        Self {
            whole: fnv1a(bytes),
            mailbox: fnv1a(mailbox(email).as_bytes()),
            len: bytes.len(),
            first_two: match bytes {
                [a0, a1, ..] => Some([*a0, *a1]),
                _ => None,
            },
            bytes: bytes.iter().fold(0, |set, byte| set | 1 << (byte % 64)),
            ascii: email.is_ascii(),
        }
    }

    /// "Different" (2) where the sketches show it, as `email_level` would find it on the texts;
    /// `None` where they cannot tell. Two addresses are different when they are not equal, do
    /// not share a mailbox name (which, if distinctive, would make them alike) and are not one
    /// typing error apart: shown by first two characters that differ every way round (the same
    /// test `email_level` starts with), or by lengths more than one apart, or by character sets
    /// more than two characters apart (one typing error removes at most one character and adds
    /// at most one).
    fn level(self, other: Self) -> Option<u8> {
        if self.whole == other.whole {
            // Most likely the same address: the texts tell.
            return None;
        }
        if let (Some([a0, a1]), Some([b0, b1])) = (self.first_two, other.first_two)
            && a0 != b0
            && a1 != b1
            && a0 != b1
            && a1 != b0
        {
            return Some(2);
        }
        // Counted in bytes, which are characters only in ASCII texts.
        let far_apart = self.ascii
            && other.ascii
            && (self.len.abs_diff(other.len) > 1 || (self.bytes ^ other.bytes).count_ones() > 2);
        (self.mailbox != other.mailbox && far_apart).then_some(2)
    }
}

/// The 64-bit FNV-1a hash of some bytes: equal bytes, equal hashes (and, rarely, unequal
/// bytes too, which only sends a pair to its texts).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
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

    fn email_levels(a: &str, b: &str) -> (Option<u8>, Option<u8>) {
        let a = record(vec![], vec![a.into()], vec![]);
        let b = record(vec![], vec![b.into()], vec![]);
        let sketched = compare_identifiers_sketched(
            &a,
            &IdentifierSketch::of(&a),
            &b,
            &IdentifierSketch::of(&b),
        );
        (
            sketched.level(Field::Email),
            compare_identifiers(&a, &b).level(Field::Email),
        )
    }

    #[test]
    fn addresses_the_sketch_cannot_tell_apart_are_read() {
        // One character apart, but two bytes for one: counted in bytes they look far apart.
        assert_eq!(email_levels("ab1ü@x.co", "ab1u@x.co"), (Some(1), Some(1)));
        // The same distinctive mailbox at two providers: alike, though far apart as texts.
        assert_eq!(
            email_levels("ab12@x.io", "ab12@mail.co"),
            (Some(1), Some(1))
        );
        // Strangers: decided by the sketch, as the texts decide.
        assert_eq!(
            email_levels("jane@x.io", "ed.c@mail.co"),
            (Some(2), Some(2))
        );
        assert_eq!(email_levels("jane@x.io", "jane@x.io"), (Some(0), Some(0)));
    }

    proptest! {
        #[test]
        fn an_address_and_one_edit_of_it_are_sketched_as_read(
            a in email(),
            at in 0usize..12,
            edit in 0u8..4,
            with in proptest::sample::select(vec!['a', 'b', '1', '.', '@', 'é', 'x']),
        ) {
            let mut chars: Vec<char> = a.chars().collect();
            let at = at.min(chars.len());
            match edit {
                0 => chars.insert(at, with),
                1 if at < chars.len() => { chars.remove(at); }
                2 if at < chars.len() => chars[at] = with,
                3 if at + 1 < chars.len() => chars.swap(at, at + 1),
                _ => {}
            }
            let b: String = chars.into_iter().collect();
            let (sketched, read) = email_levels(&a, &b);
            prop_assert_eq!(sketched, read);
        }
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
            1 => "[ab1]{4,5}@(x\\.io|mail\\.co)",
            1 => "[ab]{0,2}",
            1 => "[aé1]{0,3}@x\\.io",
            1 => "[a-e]{3,6}@x\\.io",
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
