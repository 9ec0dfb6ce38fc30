//! Character-level corruptions of a text: keyboard slips, OCR confusions, phonetic
//! misspellings, case and spacing noise; and the ASCII folding of names into email addresses.
//!
//! The corruptions return `None` when they cannot change the text (nothing they apply to),
//! so that the caller can pick another corruption.

use super::draw::{Seeded, below, chance, one};
use super::places::Country;

/// A keyboard layout: the rows of keys, for the neighbours a finger slips to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Layout {
    Qwerty,
    Qwertz,
    Azerty,
}

impl Layout {
    /// The layout people in `country` type on.
    pub(super) fn of(country: Country) -> Layout {
        match country {
            Country::De => Layout::Qwertz,
            Country::Fr => Layout::Azerty,
            Country::Gb | Country::Us | Country::Au => Layout::Qwerty,
        }
    }

    fn rows(self) -> [&'static str; 4] {
        match self {
            Layout::Qwerty => ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"],
            Layout::Qwertz => ["1234567890", "qwertzuiopü", "asdfghjklöä", "yxcvbnm"],
            Layout::Azerty => ["1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn"],
        }
    }

    /// The keys next to `key` (lower case): same row left and right, the row above (same and
    /// next column), the row below (previous and same column).
    fn neighbours(self, key: char) -> Vec<char> {
        let rows = self.rows();
        let mut found = Vec::with_capacity(6);
        for (r, row) in rows.iter().enumerate() {
            let Some(col) = row.chars().position(|c| c == key) else {
                continue;
            };
            let at = |r: usize, c: Option<usize>| -> Option<char> {
                c.and_then(|c| rows.get(r).and_then(|row| row.chars().nth(c)))
            };
            let candidates = [
                at(r, col.checked_sub(1)),
                at(r, Some(col + 1)),
                r.checked_sub(1).and_then(|up| at(up, Some(col))),
                r.checked_sub(1).and_then(|up| at(up, Some(col + 1))),
                at(r + 1, col.checked_sub(1)),
                at(r + 1, Some(col)),
            ];
            // Digits are typed on the top row only: a digit slips to a digit.
            let digit = key.is_ascii_digit();
            found.extend(
                candidates
                    .into_iter()
                    .flatten()
                    .filter(|c| c.is_ascii_digit() == digit),
            );
            break;
        }
        found
    }
}

fn with_case_of(model: char, c: char) -> char {
    if model.is_uppercase() {
        c.to_uppercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// A keyboard slip at one letter or digit: a neighbouring key instead (45%), a neighbouring
/// or the same key pressed as well (20%), the key missed (20%), two keys swapped (15%).
pub(super) fn typo(text: &str, layout: Layout, rng: &mut Seeded) -> Option<String> {
    let mut chars: Vec<char> = text.chars().collect();
    let positions: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_alphanumeric())
        .collect();
    if positions.is_empty() {
        return None;
    }
    let i = *one(rng, &positions);
    let key = chars[i].to_lowercase().next().unwrap_or(chars[i]);
    let neighbours = layout.neighbours(key);
    let roll = below(rng, 100);
    if roll < 45 && !neighbours.is_empty() {
        chars[i] = with_case_of(chars[i], *one(rng, &neighbours));
    } else if roll < 65 {
        let extra = if neighbours.is_empty() || chance(rng, 0.4) {
            chars[i]
        } else {
            with_case_of(chars[i], *one(rng, &neighbours))
                .to_lowercase()
                .next()
                .unwrap_or(key)
        };
        chars.insert(i + 1, extra);
    } else if roll < 85 && positions.len() > 1 {
        chars.remove(i);
    } else {
        let j = if i + 1 < chars.len() {
            i + 1
        } else {
            i.checked_sub(1)?
        };
        let (a, b) = (i.min(j), i.max(j));
        if chars[a] == chars[b] {
            return None;
        }
        // Keep the capital where it was: "Smith" -> "Msith" would be typed "Msith", but a
        // transposition at the start of a name is usually seen as "MSith"; keep it simple.
        chars.swap(a, b);
    }
    let changed: String = chars.into_iter().collect();
    (changed != text).then_some(changed)
}

/// Character confusions of optical character recognition, both ways.
const OCR: &[(&str, &str)] = &[
    ("m", "rn"),
    ("rn", "m"),
    ("l", "1"),
    ("1", "l"),
    ("I", "l"),
    ("l", "I"),
    ("O", "0"),
    ("0", "O"),
    ("o", "0"),
    ("S", "5"),
    ("5", "S"),
    ("B", "8"),
    ("8", "B"),
    ("cl", "d"),
    ("d", "cl"),
    ("Z", "2"),
    ("2", "Z"),
    ("G", "6"),
    ("6", "G"),
    ("g", "9"),
    ("q", "9"),
    ("vv", "w"),
    ("w", "vv"),
    ("h", "b"),
    ("e", "c"),
    ("c", "e"),
    ("u", "v"),
    ("n", "h"),
    ("li", "h"),
    ("ii", "u"),
    ("i", "l"),
    ("a", "o"),
];

/// One OCR confusion somewhere in the text.
pub(super) fn ocr(text: &str, rng: &mut Seeded) -> Option<String> {
    let mut candidates: Vec<(usize, &str, &str)> = Vec::new();
    for (from, to) in OCR {
        candidates.extend(text.match_indices(from).map(|(at, _)| (at, *from, *to)));
    }
    if candidates.is_empty() {
        return None;
    }
    let (at, from, to) = *one(rng, &candidates);
    let mut changed = String::with_capacity(text.len() + 1);
    changed.push_str(&text[..at]);
    changed.push_str(to);
    changed.push_str(&text[at + from.len()..]);
    Some(changed)
}

/// Where a phonetic rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Anywhere,
    Start,
    End,
}

/// Spellings that sound alike (matched without regard to case), each way it is misspelt;
/// plus the doubling and undoubling of consonants, done apart.
const PHONETIC: &[(&str, &str, At)] = &[
    ("ph", "f", At::Anywhere),
    ("f", "ph", At::Anywhere),
    ("ck", "k", At::Anywhere),
    ("ck", "c", At::Anywhere),
    ("tz", "z", At::Anywhere),
    ("z", "tz", At::End),
    ("th", "t", At::Anywhere),
    ("ei", "ie", At::Anywhere),
    ("ie", "ei", At::Anywhere),
    ("ie", "y", At::End),
    ("y", "ie", At::End),
    ("ey", "y", At::End),
    ("y", "ey", At::End),
    ("ai", "ay", At::Anywhere),
    ("ay", "ai", At::Anywhere),
    ("ou", "u", At::Anywhere),
    ("ee", "ea", At::Anywhere),
    ("ea", "ee", At::Anywhere),
    ("c", "k", At::Start),
    ("k", "c", At::Start),
    ("ca", "ka", At::Anywhere),
    ("co", "ko", At::Anywhere),
    ("s", "z", At::Anywhere),
    ("z", "s", At::Anywhere),
    ("y", "i", At::Anywhere),
    ("i", "y", At::Anywhere),
    ("sch", "sh", At::Anywhere),
    ("sh", "sch", At::Anywhere),
    ("dt", "t", At::Anywhere),
    ("ae", "e", At::Anywhere),
    ("x", "ks", At::Anywhere),
    ("qu", "kw", At::Anywhere),
    ("v", "w", At::Anywhere),
    ("w", "v", At::Anywhere),
    ("gh", "", At::Anywhere),
    ("h", "", At::End),
    ("mb", "m", At::End),
    ("kn", "n", At::Start),
    ("wr", "r", At::Start),
    ("son", "sen", At::End),
    ("sen", "son", At::End),
    ("mann", "man", At::End),
    ("man", "mann", At::End),
    ("mc", "mac", At::Start),
    ("mac", "mc", At::Start),
    ("ou", "o", At::End),
    ("é", "e", At::Anywhere),
    ("è", "e", At::Anywhere),
    ("ë", "e", At::Anywhere),
    ("á", "a", At::Anywhere),
    ("í", "i", At::Anywhere),
    ("ó", "o", At::Anywhere),
    ("ú", "u", At::Anywhere),
    ("ç", "c", At::Anywhere),
    ("ñ", "n", At::Anywhere),
    ("ü", "ue", At::Anywhere),
    ("ü", "u", At::Anywhere),
    ("ö", "oe", At::Anywhere),
    ("ö", "o", At::Anywhere),
    ("ä", "ae", At::Anywhere),
    ("ß", "ss", At::Anywhere),
    ("ø", "o", At::Anywhere),
    ("å", "aa", At::Anywhere),
    ("ue", "ü", At::Anywhere),
    ("oe", "ö", At::Anywhere),
];

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// One phonetic misspelling: a spelling that sounds alike, a letter doubled or undoubled, a
/// silent letter dropped, an accent dropped or spelt out.
pub(super) fn phonetic(text: &str, rng: &mut Seeded) -> Option<String> {
    let original: Vec<char> = text.chars().collect();
    let lower: Vec<char> = original
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    // (start, matched length, replacement)
    let mut edits: Vec<(usize, usize, &str)> = Vec::new();
    let mut pattern: Vec<char> = Vec::with_capacity(4);
    for (from, to, at) in PHONETIC {
        pattern.clear();
        pattern.extend(from.chars());
        let n = pattern.len();
        if n > lower.len() {
            continue;
        }
        for start in 0..=lower.len() - n {
            let placed = match at {
                At::Anywhere => true,
                At::Start => start == 0,
                At::End => start + n == lower.len(),
            };
            if placed && lower[start..start + n] == pattern[..] {
                edits.push((start, n, to));
            }
        }
    }
    // Doubled consonants undoubled, single ones between vowels doubled.
    for i in 1..lower.len() {
        let c = lower[i];
        if c.is_ascii_alphabetic() && !is_vowel(c) {
            if lower[i - 1] == c {
                edits.push((i, 1, ""));
            } else if is_vowel(lower[i - 1]) && lower.get(i + 1).copied().is_some_and(is_vowel) {
                edits.push((i, 0, DOUBLES[usize::from(c as u8 - b'a')]));
            }
        }
    }
    if edits.is_empty() {
        return None;
    }
    let (start, n, to) = *one(rng, &edits);
    let mut changed = String::with_capacity(text.len() + 2);
    changed.extend(&original[..start]);
    let capital = original.get(start).is_some_and(|c| c.is_uppercase()) && n > 0;
    let all_capitals = n > 1 && original[start..start + n].iter().all(|c| c.is_uppercase());
    for (k, c) in to.chars().enumerate() {
        if all_capitals || (capital && k == 0) {
            changed.extend(c.to_uppercase());
        } else {
            changed.push(c);
        }
    }
    changed.extend(&original[start + n..]);
    (changed != text).then_some(changed)
}

/// Each lower-case ASCII letter, as a string (for doubling).
const DOUBLES: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t", "u", "v", "w", "x", "y", "z",
];

/// Case and spacing noise: all capitals, all lower case, each word capitalised, a space
/// before or after, a doubled space, a space or hyphen dropped, a hyphen for a space or the
/// other way round, punctuation dropped. One applicable variant, chosen at random (there is
/// always one: a stray space).
pub(super) fn case_and_spacing(text: &str, rng: &mut Seeded) -> String {
    let mut variants: Vec<String> = Vec::with_capacity(8);
    let upper = text.to_uppercase();
    if upper != text {
        variants.push(upper);
    }
    let lower = text.to_lowercase();
    if lower != text {
        variants.push(lower);
    }
    let title = title_case(text);
    if title != text {
        variants.push(title);
    }
    variants.push(if chance(rng, 0.5) {
        format!("{text} ")
    } else {
        format!(" {text}")
    });
    if text.contains(' ') {
        variants.push(text.replacen(' ', "  ", 1));
        variants.push(text.replacen(' ', "", 1));
        if text.chars().next().is_some_and(char::is_alphabetic) {
            variants.push(text.replacen(' ', "-", 1));
        }
    }
    if text.contains('-') {
        variants.push(text.replacen('-', " ", 1));
        variants.push(text.replacen('-', "", 1));
    }
    if text.contains(['\'', '.', ',']) {
        variants.push(text.replacen(['\'', '.', ','], "", 1));
    }
    let index = below(rng, variants.len());
    variants.swap_remove(index)
}

/// Each word's first letter capitalised, the rest in lower case ("van den Berg" ->
/// "Van Den Berg", "McDonald" -> "Mcdonald").
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = c == ' ' || c == '-';
    }
    out
}

/// `text` folded to lower-case ASCII letters and digits, for an email address: accents
/// dropped or spelt out (ü -> ue, ß -> ss), spaces, hyphens and apostrophes removed.
pub(super) fn ascii_fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'à' | 'á' | 'â' | 'ã' => out.push('a'),
            'ä' | 'æ' => out.push_str("ae"),
            'å' => out.push_str("aa"),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' => out.push('o'),
            'ö' | 'ø' => out.push_str("oe"),
            'ù' | 'ú' | 'û' => out.push('u'),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;

    use super::*;

    fn rng() -> Seeded {
        Seeded::seed_from_u64(1)
    }

    #[test]
    fn neighbours_follow_the_layout() {
        let mut g = Layout::Qwerty.neighbours('g');
        g.sort_unstable();
        assert_eq!(g, ['b', 'f', 'h', 't', 'v', 'y']);
        assert!(Layout::Qwertz.neighbours('t').contains(&'z'));
        assert!(Layout::Azerty.neighbours('a').contains(&'z'));
        let five = Layout::Qwerty.neighbours('5');
        assert_eq!(five, ['4', '6']);
    }

    #[test]
    fn corruptions_change_the_text_or_say_they_cannot() {
        let mut rng = rng();
        for _ in 0..200 {
            for name in [
                "Smith",
                "Müller",
                "Jean-Pierre",
                "O'Brien",
                "van den Berg",
                "Li",
            ] {
                if let Some(changed) = typo(name, Layout::Qwerty, &mut rng) {
                    assert_ne!(changed, name);
                }
                if let Some(changed) = phonetic(name, &mut rng) {
                    assert_ne!(changed, name);
                }
                let changed = case_and_spacing(name, &mut rng);
                assert_ne!(changed, name);
            }
        }
        assert_eq!(ocr("xyz", &mut rng), None);
        let mut seen = HashSet::new();
        for _ in 0..50 {
            seen.insert(ocr("Tom", &mut rng).expect("o and m are confusable"));
        }
        assert_eq!(seen, HashSet::from(["T0m".to_owned(), "Torn".to_owned()]));
    }

    #[test]
    fn phonetic_keeps_the_capital() {
        let mut rng = rng();
        for _ in 0..100 {
            let changed = phonetic("Philip", &mut rng).expect("ph, i/y, l doubled");
            assert!(changed.starts_with(|c: char| c.is_uppercase()), "{changed}");
        }
    }

    #[test]
    fn folding_to_ascii() {
        assert_eq!(ascii_fold("Jürgen"), "juergen");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("van den Berg"), "vandenberg");
        assert_eq!(ascii_fold("Weiß"), "weiss");
        assert_eq!(ascii_fold("Hélène"), "helene");
    }
}
