//! Comparators: how two values of one field agree, as a level from the strongest agreement
//! down to disagreement. A value missing on either side is no level at all: neither
//! agreement nor disagreement.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::Datelike;
use chrono::NaiveDate;
use rphonetic::{DoubleMetaphone, Encoder};
use serde::{Deserialize, Serialize};

use super::person::{PersonRecord, PostalAddress};
use super::similarity::{jaro_winkler, within_one_typing_error};

/// The Double Metaphone codes (primary, alternate) of a folded name, its words run
/// together: `smith` → (`SM0`, `XMT`), `schmidt` → (`XMT`, `SMT`). `None` for names with
/// letters outside a–z (the codes are defined for Latin spelling only) or no code at all.
pub fn sound_codes(name: &str) -> Option<(String, String)> {
    let letters: String = name.chars().filter(|c| *c != ' ').collect();
    // The encoder slices by bytes and panics on other scripts: only ASCII letters reach it.
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let encoder = DoubleMetaphone::default();
    let primary = encoder.encode(&letters);
    if primary.is_empty() {
        return None;
    }
    let alternate = encoder.encode_alternate(&letters);
    Some((primary, alternate))
}

/// Whether two names share a sound code, primary or alternate.
pub fn sound_alike(a: &(String, String), b: &(String, String)) -> bool {
    a.0 == b.0 || a.0 == b.1 || a.1 == b.0 || (a.1 == b.1 && !a.1.is_empty())
}

/// Given names that stand for one another (`bob` for `robert`). Each group's first name is
/// the formal one; matching only asks whether two names share a group.
const NICKNAMES: &[&[&str]] = &[
    &["robert", "bob", "rob", "bobby", "robbie", "bert"],
    &["william", "bill", "will", "billy", "willy", "liam"],
    &[
        "elizabeth",
        "liz",
        "beth",
        "betty",
        "eliza",
        "lizzie",
        "elisabeth",
        "betsy",
    ],
    &[
        "katherine",
        "kate",
        "katie",
        "kathy",
        "cathy",
        "kat",
        "catherine",
        "kathryn",
    ],
    &["margaret", "maggie", "peggy", "meg", "marge", "greta"],
    &["james", "jim", "jimmy", "jamie"],
    &["john", "jack", "johnny", "jon"],
    &["richard", "dick", "rick", "ricky", "rich"],
    &["michael", "mike", "mick", "mikey"],
    &["thomas", "tom", "tommy"],
    &["joseph", "joe", "joey"],
    &["charles", "charlie", "chuck", "chas"],
    &["edward", "ed", "ted", "eddie", "ned"],
    &["alexander", "alex", "sasha", "sandy", "xander"],
    &["alexandra", "alex", "sasha", "sandra", "lexi"],
    &["andrew", "andy", "drew"],
    &["anthony", "tony", "ant"],
    &["daniel", "dan", "danny"],
    &["matthew", "matt", "matty"],
    &["christopher", "chris", "kit"],
    &["christine", "chris", "chrissy", "tina"],
    &["nicholas", "nick", "nicky"],
    &["patricia", "pat", "patty", "trish"],
    &["patrick", "pat", "paddy"],
    &["jennifer", "jen", "jenny"],
    &["susan", "sue", "susie", "suzy"],
    &["deborah", "debbie", "deb"],
    &["rebecca", "becky", "becca"],
    &["samuel", "sam", "sammy"],
    &["samantha", "sam", "sammy"],
    &["benjamin", "ben", "benny"],
    &["jonathan", "jon", "jonny"],
    &["steven", "steve", "stevie"],
    &["stephen", "steve", "stevie"],
    &["timothy", "tim", "timmy"],
    &["victoria", "vicky", "tori"],
    &["johann", "hans"],
    &["johannes", "hans", "jo"],
    &["giuseppe", "beppe", "peppe"],
    &["francisco", "paco", "pancho", "cisco"],
    &["jose", "pepe"],
    &["dorothy", "dot", "dottie"],
    &["frederick", "fred", "freddie"],
    &["ronald", "ron", "ronnie"],
    &["donald", "don", "donnie"],
    &["gerald", "gerry", "jerry"],
    &["lawrence", "larry"],
    &["henry", "harry", "hank"],
    &["albert", "al", "bert"],
    &["theodore", "ted", "theo"],
    &["david", "dave", "davy"],
    &["peter", "pete"],
    &["susanne", "susi"],
    &["wolfgang", "wolf"],
    &["francesca", "franca", "cesca"],
    &["isabel", "isa", "bel", "izzy", "isabella"],
    &["jacqueline", "jackie"],
    &["josephine", "jo", "josie"],
    &["kenneth", "ken", "kenny"],
    &["leonard", "leo", "len", "lenny"],
    &["mary", "molly", "polly", "mae"],
    &["nathaniel", "nate", "nat"],
    &["nathan", "nate"],
    &["olivia", "liv", "livvy"],
    &["raymond", "ray"],
    &["walter", "walt", "wally"],
    &["zachary", "zach", "zack"],
];

/// Each name of [`NICKNAMES`] with the groups it belongs to (a name may stand in several:
/// `alex`), sorted by name for a binary search.
static NICKNAME_GROUPS: LazyLock<Vec<(&'static str, Vec<usize>)>> = LazyLock::new(|| {
    let mut groups: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (index, group) in NICKNAMES.iter().enumerate() {
        for name in *group {
            groups.entry(name).or_default().push(index);
        }
    }
    groups.into_iter().collect()
});

fn nickname_groups(name: &str) -> &'static [usize] {
    let groups = &*NICKNAME_GROUPS;
    groups
        .binary_search_by(|(known, _)| (*known).cmp(name))
        .map_or(&[], |at| groups[at].1.as_slice())
}

/// Whether two given names are known to stand for one another.
pub fn nickname_of(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    let theirs = nickname_groups(b);
    nickname_groups(a)
        .iter()
        .any(|group| theirs.contains(group))
}

/// The fields linkage compares, each with its agreement levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Given name.
    GivenName,
    /// Family name.
    FamilyName,
    /// Date of birth.
    DateOfBirth,
    /// Postal address: street number, street, postcode and locality, compared together
    /// (their agreements go together, so counting them apart would count one fact three
    /// times).
    Address,
    /// National or customer identifiers.
    NationalId,
    /// Email addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// Company name.
    Company,
}

impl Field {
    /// Every field, in comparison order.
    pub const ALL: [Field; 8] = [
        Field::GivenName,
        Field::FamilyName,
        Field::DateOfBirth,
        Field::Address,
        Field::NationalId,
        Field::Email,
        Field::Phone,
        Field::Company,
    ];

    /// The field's name as it appears in explanations (`given_name`).
    pub fn name(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::DateOfBirth => "date_of_birth",
            Field::Address => "address",
            Field::NationalId => "national_id",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Company => "company",
        }
    }

    /// The field's agreement levels, strongest first; the last is disagreement.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Field::GivenName => &[
                "exact",
                "jaro-winkler >= 0.92",
                "shares a name, sounds alike or nickname",
                "jaro-winkler >= 0.80",
                "initial agrees",
                "different",
            ],
            Field::FamilyName => &[
                "exact",
                "jaro-winkler >= 0.92",
                "sounds alike",
                "jaro-winkler >= 0.80",
                "different",
            ],
            Field::DateOfBirth => &[
                "exact",
                "day and month transposed",
                "one typing error",
                "same year",
                "different",
            ],
            Field::Address => &[
                "same street address and postcode",
                "same street address, postcode near or missing",
                "same street, house number near or missing",
                "same postcode",
                "same district or locality",
                "different",
            ],
            Field::Company => &["exact", "jaro-winkler >= 0.88", "different"],
            Field::NationalId | Field::Phone => &["exact", "one typing error", "different"],
            Field::Email => &[
                "exact",
                "same distinctive mailbox name, or one typing error, in a mailbox not made of names",
                "different",
            ],
        }
    }

    /// The index of the field in [`Field::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How two records agree: one level per field (`None` where either side lacks the value),
/// and whether the names agreed only with given and family name swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ComparisonVector {
    /// The level of each field of [`Field::ALL`], by index.
    pub levels: [Option<u8>; Field::ALL.len()],
    /// Whether the names were compared crosswise (given against family).
    pub names_swapped: bool,
}

impl ComparisonVector {
    /// The level of one field.
    pub fn level(&self, field: Field) -> Option<u8> {
        self.levels[field.index()]
    }
}

fn given(r: &PersonRecord) -> Option<Name<'_>> {
    name(r.given_name.as_deref(), r.given_sound.as_ref())
}

fn family(r: &PersonRecord) -> Option<Name<'_>> {
    name(r.family_name.as_deref(), r.family_sound.as_ref())
}

/// Compares two records field by field.
pub fn compare(a: &PersonRecord, b: &PersonRecord) -> ComparisonVector {
    let mut vector = compare_identifiers(a, b);
    compare_the_rest(a, b, &mut vector);
    vector
}

/// Whether a field is compared by [`compare_identifiers`]: the fields whose comparison is
/// equality or one typing error on short texts, cheap next to the names' and the address's.
pub(super) fn is_identifier(field: Field) -> bool {
    matches!(
        field,
        Field::DateOfBirth | Field::NationalId | Field::Email | Field::Phone
    )
}

/// The first stage of [`compare`]: the identifier fields ([`is_identifier`]) only, every other
/// level left `None`.
pub(super) fn compare_identifiers(a: &PersonRecord, b: &PersonRecord) -> ComparisonVector {
    let mut levels = [None; Field::ALL.len()];
    levels[Field::DateOfBirth.index()] = both(a.date_of_birth, b.date_of_birth, date_level);
    levels[Field::NationalId.index()] = any_pair(&a.national_ids, &b.national_ids, typo_level);
    levels[Field::Email.index()] = email_level_of(a, b);
    levels[Field::Phone.index()] = any_pair(&a.phones, &b.phones, typo_level);
    ComparisonVector {
        levels,
        names_swapped: false,
    }
}

/// The email level of two records: their best pair of addresses.
pub(super) fn email_level_of(a: &PersonRecord, b: &PersonRecord) -> Option<u8> {
    any_pair(&a.emails, &b.emails, |x, y| {
        match email_level(x, y) {
            // Mailboxes alike only as their holders' names are alike (`carmen.jimenez` and
            // `carmen_jimenez`, `ddavis` and `ddavis7`) are two namesakes' as often as one
            // person's: the names already said it, so this is no agreement of its own.
            1 if made_of_names(x, a) || made_of_names(y, b) => 2,
            level => level,
        }
    })
}

/// Whether [`compare`] can give `field` a level for these two records: `false` only where a
/// value it needs is missing on one side (a swap of names needs both names on both sides,
/// so it needs no more); always `true` for the identifiers.
pub(super) fn may_have_a_level(field: Field, a: &PersonRecord, b: &PersonRecord) -> bool {
    let both = |x: Option<&String>, y: Option<&String>| x.is_some() && y.is_some();
    match field {
        Field::GivenName => both(a.given_name.as_ref(), b.given_name.as_ref()),
        Field::FamilyName => both(a.family_name.as_ref(), b.family_name.as_ref()),
        Field::Address => {
            let (x, y) = (&a.address, &b.address);
            both(x.street.as_ref(), y.street.as_ref())
                || both(x.postcode.as_ref(), y.postcode.as_ref())
                || both(x.locality.as_ref(), y.locality.as_ref())
        }
        Field::Company => both(a.company.as_ref(), b.company.as_ref()),
        Field::DateOfBirth | Field::NationalId | Field::Email | Field::Phone => true,
    }
}

/// The second stage of [`compare`]: names, address and company, into a vector the first
/// stage filled.
pub(super) fn compare_the_rest(a: &PersonRecord, b: &PersonRecord, vector: &mut ComparisonVector) {
    let straight = (
        given_level(given(a), given(b)),
        family_level(family(a), family(b)),
    );
    let mut names = straight;
    let mut names_swapped = false;
    // A swap is only considered when the straight names disagree and both sides have both.
    if straight.1 != Some(0) && a.given_name.is_some() && b.given_name.is_some() {
        let crossed = (
            given_level(given(a), family(b)),
            family_level(family(a), given(b)),
        );
        let strength = |(g, f): (Option<u8>, Option<u8>)| {
            // Fewer levels below the strongest is stronger agreement.
            let given_levels = 6;
            let family_levels = 5;
            g.map_or(0, |l| given_levels - l) + f.map_or(0, |l| family_levels - l)
        };
        if crossed.0.is_some_and(|l| l <= 1)
            && crossed.1.is_some_and(|l| l <= 1)
            && strength(crossed) > strength(straight)
        {
            names = crossed;
            names_swapped = true;
        }
    }
    let levels = &mut vector.levels;
    levels[Field::GivenName.index()] = names.0;
    levels[Field::FamilyName.index()] = names.1;
    levels[Field::Address.index()] = address_level(&a.address, &b.address);
    levels[Field::Company.index()] = both(a.company.as_deref(), b.company.as_deref(), |x, y| {
        similar_level(x, y, 0.88)
    });
    vector.names_swapped = names_swapped;
}

pub(super) fn both<T>(a: Option<T>, b: Option<T>, level: impl Fn(T, T) -> u8) -> Option<u8> {
    Some(level(a?, b?))
}

/// The best level over every pair of values; `None` if either side has none.
pub(super) fn any_pair(a: &[String], b: &[String], level: impl Fn(&str, &str) -> u8) -> Option<u8> {
    a.iter().flat_map(|x| b.iter().map(|y| level(x, y))).min()
}

/// A name as compared: its folded text and its sound codes.
#[derive(Debug, Clone, Copy)]
struct Name<'a> {
    text: &'a str,
    sound: Option<&'a (String, String)>,
}

fn name<'a>(text: Option<&'a str>, sound: Option<&'a (String, String)>) -> Option<Name<'a>> {
    text.map(|text| Name { text, sound })
}

/// The levels given and family names share — exact (0), Jaro-Winkler ≥ 0.92 (1), alike by
/// sound or by `also_alike` (2), Jaro-Winkler ≥ 0.80 (3) — or `None` below them.
fn shared_name_level(a: Name<'_>, b: Name<'_>, also_alike: impl FnOnce() -> bool) -> Option<u8> {
    if a.text == b.text {
        return Some(0);
    }
    let similarity = jaro_winkler(a.text, b.text);
    if similarity >= 0.92 {
        return Some(1);
    }
    let sounds = matches!((a.sound, b.sound), (Some(x), Some(y)) if sound_alike(x, y));
    if sounds || also_alike() {
        return Some(2);
    }
    (similarity >= 0.80).then_some(3)
}

fn given_level(a: Option<Name<'_>>, b: Option<Name<'_>>) -> Option<u8> {
    let (a, b) = (a?, b?);
    let first_words = (first_word(a.text), first_word(b.text));
    // One typed with a middle name the other left out (`augusta ada` and `ada`).
    let shares_a_name = || {
        a.text
            .split(' ')
            .any(|word| longer_than_a_letter(word) && b.text.split(' ').any(|other| other == word))
    };
    let alike = || nickname_of(first_words.0, first_words.1) || shares_a_name();
    Some(shared_name_level(a, b, alike).unwrap_or_else(|| {
        let initial = |short: &str, long: &str| {
            !short.is_empty()
                && !longer_than_a_letter(short)
                && long.chars().next() == short.chars().next()
        };
        if initial(first_words.0, b.text) || initial(first_words.1, a.text) {
            4
        } else {
            5
        }
    }))
}

/// Whether a word has more than one character.
fn longer_than_a_letter(word: &str) -> bool {
    word.chars().nth(1).is_some()
}

fn first_word(name: &str) -> &str {
    name.split(' ').next().unwrap_or(name)
}

fn family_level(a: Option<Name<'_>>, b: Option<Name<'_>>) -> Option<u8> {
    let (a, b) = (a?, b?);
    Some(shared_name_level(a, b, || false).unwrap_or(4))
}

/// Whether two dates written `YYYYMMDD` are one typing error apart (`1980-03-14` and
/// `1981-03-14`; `1980-03-14` and `1980-03-41`, were it a date).
fn one_digit_off(a: NaiveDate, b: NaiveDate) -> bool {
    /// The date's digits, for years of four digits (the others take the slow path).
    fn digits(date: NaiveDate) -> Option<[u8; 8]> {
        let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
        let number = year * 10_000 + date.month() * 100 + date.day();
        let mut out = [b'0'; 8];
        let mut rest = number;
        for place in out.iter_mut().rev() {
            *place += u8::try_from(rest % 10).ok()?;
            rest /= 10;
        }
        Some(out)
    }
    if let (Some(x), Some(y)) = (digits(a), digits(b))
        && let (Ok(x), Ok(y)) = (std::str::from_utf8(&x), std::str::from_utf8(&y))
    {
        return within_one_typing_error(x, y);
    }
    let text = |d: NaiveDate| format!("{:04}{:02}{:02}", d.year(), d.month(), d.day());
    within_one_typing_error(&text(a), &text(b))
}

pub(super) fn date_level(a: NaiveDate, b: NaiveDate) -> u8 {
    if a == b {
        return 0;
    }
    if a.year() == b.year() && a.month() == b.day() && a.day() == b.month() {
        return 1;
    }
    if one_digit_off(a, b) {
        return 2;
    }
    if a.year() == b.year() {
        return 3;
    }
    4
}

/// The address's level from its parts' agreements: the street (with its house number), the
/// postcode and the locality. `None` when the two share no part to compare.
fn address_level(a: &PostalAddress, b: &PostalAddress) -> Option<u8> {
    let street = street_level(a, b);
    let postcode = both(a.postcode.as_deref(), b.postcode.as_deref(), postcode_level);
    let locality = both(a.locality.as_deref(), b.locality.as_deref(), |x, y| {
        similar_level(x, y, 0.88)
    });
    if street.is_none() && postcode.is_none() && locality.is_none() {
        return None;
    }
    let street_same = street.is_some_and(|l| l <= 1);
    let postcode_same = postcode.is_some_and(|l| l <= 1);
    let postcode_fits = postcode.is_none_or(|l| l <= 2);
    let locality_fits = locality.is_none_or(|l| l <= 1);
    Some(if street_same && postcode_same {
        0
    } else if street_same && postcode_fits && locality_fits {
        1
    } else if street == Some(2) && postcode_fits && locality_fits {
        2
    } else if postcode_same {
        3
    } else if postcode == Some(2) || locality.is_some_and(|l| l <= 1) {
        4
    } else {
        5
    })
}

fn street_level(a: &PostalAddress, b: &PostalAddress) -> Option<u8> {
    let (street_a, street_b) = (a.street.as_deref()?, b.street.as_deref()?);
    let alike = street_a == street_b || jaro_winkler(street_a, street_b) >= 0.88;
    let numbers = (a.street_number.as_deref(), b.street_number.as_deref());
    Some(match numbers {
        (Some(x), Some(y)) if x == y && street_a == street_b => 0,
        (Some(x), Some(y)) if x == y && alike => 1,
        (Some(x), Some(y)) if alike && numbers_near(x, y) => 2,
        (None, _) | (_, None) if alike => 2,
        _ => 3,
    })
}

/// House numbers within two of each other, or one typing error apart (`12` and `21`).
fn numbers_near(a: &str, b: &str) -> bool {
    let number = |s: &str| {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        s.get(..digits)
            .and_then(|digits| digits.parse::<u32>().ok())
    };
    match (number(a), number(b)) {
        (Some(x), Some(y)) if x.abs_diff(y) <= 2 => true,
        _ => within_one_typing_error(a, b),
    }
}

/// A postcode's district: a British outward code (`SW1A` of `SW1A1AA`), else the leading half.
fn district(p: &str) -> &str {
    let keep = if p.len() > 4 && p.bytes().any(|c| c.is_ascii_alphabetic()) {
        p.len() - 3
    } else {
        p.len().div_ceil(2)
    };
    p.get(..keep).unwrap_or(p)
}

fn postcode_level(a: &str, b: &str) -> u8 {
    if a == b {
        return 0;
    }
    if within_one_typing_error(a, b) {
        return 1;
    }
    if district(a) == district(b) {
        return 2;
    }
    3
}

fn similar_level(a: &str, b: &str, threshold: f64) -> u8 {
    if a == b {
        0
    } else if jaro_winkler(a, b) >= threshold {
        1
    } else {
        2
    }
}

pub(super) fn typo_level(a: &str, b: &str) -> u8 {
    if a == b {
        0
    } else if within_one_typing_error(a, b) {
        1
    } else {
        2
    }
}

/// An email address's mailbox name (what comes before the `@`).
pub(super) fn mailbox(e: &str) -> &str {
    e.rsplit_once('@').map_or(e, |(local, _)| local)
}

/// Whether an address's mailbox name is made of its holder's names alone, digits and
/// separators aside: the given name, the family name, both in either order, or one of them
/// with the other's initial (`jane.doe`, `doe_jane`, `jdoe77`, `janed`). Umlauts written out
/// (`mueller` for a folded `muller`) count as the letter.
pub(super) fn made_of_names(address: &str, holder: &PersonRecord) -> bool {
    fn letters(text: &str) -> String {
        let letters: String = text
            .chars()
            .filter(char::is_ascii_alphabetic)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        letters
            .replace("ae", "a")
            .replace("oe", "o")
            .replace("ue", "u")
    }
    let mailbox = letters(mailbox(address));
    let given = holder
        .given_name
        .as_deref()
        .map(letters)
        .unwrap_or_default();
    let family = holder
        .family_name
        .as_deref()
        .map(letters)
        .unwrap_or_default();
    if mailbox.is_empty() || (given.is_empty() && family.is_empty()) {
        return false;
    }
    let initial = |name: &str| name.get(..1).unwrap_or_default().to_owned();
    let joined = |first: &str, second: &str| {
        mailbox
            .strip_prefix(first)
            .is_some_and(|rest| rest == second)
    };
    mailbox == given
        || mailbox == family
        || joined(&given, &family)
        || joined(&family, &given)
        || (!family.is_empty() && joined(&initial(&given), &family))
        || (!family.is_empty() && joined(&family, &initial(&given)))
        || (!given.is_empty() && joined(&given, &initial(&family)))
}

fn email_level(a: &str, b: &str) -> u8 {
    if a == b {
        return 0;
    }
    // Two people's addresses mostly differ in their first two characters every way round;
    // then they share no mailbox name and are not one typing error apart (an edit at the
    // start leaves one of these four equal), and nothing more need be read.
    if let ([a0, a1, ..], [b0, b1, ..]) = (a.as_bytes(), b.as_bytes())
        && a0 != b0
        && a1 != b1
        && a0 != b1
        && a1 != b0
    {
        return 2;
    }
    let (x, y) = (mailbox(a), mailbox(b));
    // A mailbox name made of a person's names (`john.brown`) is shared by everyone of that
    // name, at every provider: only one with something of its own (digits) tells.
    let distinctive = |m: &str| m.len() >= 4 && m.bytes().any(|c| c.is_ascii_digit());
    if (x == y && distinctive(x)) || within_one_typing_error(a, b) {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sound_codes_are_double_metaphone() {
        assert_eq!(sound_codes("smith"), Some(("SM0".into(), "XMT".into())));
        assert!(sound_alike(
            &sound_codes("smith").unwrap(),
            &sound_codes("schmidt").unwrap()
        ));
        assert_eq!(sound_codes("김민준"), None, "other scripts have no code");
        assert_eq!(sound_codes("müller"), None, "unfolded letters have no code");
    }

    #[test]
    fn dates_transposed_or_mistyped_agree_partly() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(date_level(d(1980, 3, 4), d(1980, 3, 4)), 0);
        assert_eq!(date_level(d(1980, 3, 4), d(1980, 4, 3)), 1);
        assert_eq!(date_level(d(1980, 3, 4), d(1981, 3, 4)), 2);
        assert_eq!(date_level(d(1980, 3, 14), d(1980, 3, 41 - 30)), 2);
        assert_eq!(date_level(d(1980, 3, 4), d(1980, 9, 20)), 3);
        assert_eq!(date_level(d(1980, 3, 4), d(1975, 9, 20)), 4);
    }

    proptest::proptest! {
        #[test]
        fn one_digit_off_is_one_typing_error_in_the_written_date(
            a in -300_000i32..3_000_000,
            b in -300_000i32..3_000_000,
            near in proptest::bool::ANY,
        ) {
            // Days from 1970; half the cases a date close to the first.
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            let day = |n: i32| epoch + chrono::Duration::days(i64::from(n));
            let (x, y) = (day(a), day(if near { a + b % 400 } else { b }));
            let text = |d: NaiveDate| format!("{:04}{:02}{:02}", d.year(), d.month(), d.day());
            proptest::prop_assert_eq!(
                one_digit_off(x, y),
                strsim::osa_distance(&text(x), &text(y)) <= 1
            );
        }
    }

    #[test]
    fn an_address_is_one_comparison_of_its_parts() {
        let address = |number: &str, street: &str, postcode: &str, locality: &str| {
            let some = |t: &str| (!t.is_empty()).then(|| t.to_owned());
            PostalAddress {
                street_number: some(number),
                street: some(street),
                postcode: some(postcode),
                locality: some(locality),
                ..PostalAddress::default()
            }
        };
        let home = address("12", "high street", "SW1A1AA", "london");
        let level = |other: &PostalAddress| address_level(&home, other);
        assert_eq!(level(&home), Some(0));
        assert_eq!(
            level(&address("12", "high street", "SW1A1AB", "london")),
            Some(0)
        );
        assert_eq!(level(&address("12", "high street", "", "london")), Some(1));
        assert_eq!(
            level(&address("14", "high street", "SW1A1AA", "london")),
            Some(2)
        );
        assert_eq!(level(&address("", "", "SW1A1AA", "")), Some(3));
        assert_eq!(
            level(&address("3", "low road", "SW1A9ZZ", "london")),
            Some(4)
        );
        assert_eq!(
            level(&address("3", "low road", "M11AA", "manchester")),
            Some(5)
        );
        assert_eq!(level(&PostalAddress::default()), None);
    }

    #[test]
    fn postcodes_near_each_other_agree_partly() {
        assert_eq!(postcode_level("SW1A1AA", "SW1A1AA"), 0);
        assert_eq!(postcode_level("SW1A1AA", "SW1A1AB"), 1);
        assert_eq!(postcode_level("SW1A1AA", "SW1A2BB"), 2);
        assert_eq!(postcode_level("80331", "80339"), 1);
        assert_eq!(postcode_level("80331", "80469"), 3);
        assert_eq!(postcode_level("80331", "80399"), 2);
    }

    #[test]
    fn names_compared_crosswise_when_typed_in_the_wrong_boxes() {
        let person = |given: &str, family: &str| PersonRecord {
            given_name: Some(given.into()),
            family_name: Some(family.into()),
            given_sound: sound_codes(given),
            family_sound: sound_codes(family),
            ..PersonRecord::default()
        };
        let vector = compare(&person("jane", "smith"), &person("smith", "jane"));
        assert!(vector.names_swapped);
        assert_eq!(vector.level(Field::GivenName), Some(0));
        assert_eq!(vector.level(Field::FamilyName), Some(0));
        let vector = compare(&person("jane", "smith"), &person("jane", "smyth"));
        assert!(!vector.names_swapped);
        assert_eq!(vector.level(Field::FamilyName), Some(2), "sounds alike");
    }

    proptest::proptest! {
        #[test]
        fn email_levels_are_those_of_reading_both_addresses_whole(
            a in "[a-c1.@]{0,8}",
            b in "[a-c1.@]{0,8}",
            near in proptest::bool::ANY,
        ) {
            // Half the cases a second address made from the first by one edit or none.
            let b = if near { format!("{}{}", b.get(..1).unwrap_or(""), a.get(1..).unwrap_or("")) } else { b };
            let whole = if a == b {
                0
            } else {
                let distinctive = |m: &str| m.len() >= 4 && m.bytes().any(|c| c.is_ascii_digit());
                let (x, y) = (mailbox(&a), mailbox(&b));
                if (x == y && distinctive(x)) || strsim::osa_distance(&a, &b) <= 1 { 1 } else { 2 }
            };
            proptest::prop_assert_eq!(email_level(&a, &b), whole);
        }
    }

    #[test]
    fn mailboxes_alike_only_as_names_are_alike_do_not_agree() {
        let person = |given: &str, family: &str, email: &str| PersonRecord {
            given_name: Some(given.into()),
            family_name: Some(family.into()),
            emails: vec![email.into()],
            ..PersonRecord::default()
        };
        let email = |a: &PersonRecord, b: &PersonRecord| compare(a, b).level(Field::Email);
        // Two Carmen Jiménez, each with a mailbox made of her name: alike, not one mailbox.
        let carmen = person("carmen", "jimenez", "carmen.jimenez@example.com");
        let namesake = person("carmen", "jimenez", "carmen_jimenez@example.com");
        assert_eq!(
            email_level("carmen.jimenez@example.com", "carmen_jimenez@example.com"),
            1
        );
        assert_eq!(email(&carmen, &namesake), Some(2));
        // The same name-made mailbox with a birth year, at two providers.
        let ursula = person("ursula", "muller", "ursula.mueller68@example.de");
        let other = person("ursula", "muller", "ursula.mueller68@example.com");
        assert_eq!(email(&ursula, &other), Some(2));
        // One person's own handle at two providers still agrees.
        let handle = person("carmen", "jimenez", "sunflower77@example.com");
        let moved = person("carmen", "jimenez", "sunflower77@example.org");
        assert_eq!(email(&handle, &moved), Some(1));
        // So does one typing error in a handle of one's own.
        let typed = person("carmen", "jimenez", "sunflower78@example.com");
        assert_eq!(email(&handle, &typed), Some(1));
        // The price: a typing error in a mailbox made of the name cannot be told from a
        // namesake's mailbox, so the names and the rest must carry that pair.
        let typed = person("carmen", "jimenez", "carmen.jimenex@example.com");
        assert_eq!(email(&carmen, &typed), Some(2));
        // An identical address is one mailbox, whatever it is made of.
        assert_eq!(email(&carmen, &carmen.clone()), Some(0));
    }

    #[test]
    fn a_mailbox_made_of_names_is_recognised_in_the_usual_shapes() {
        let jane = PersonRecord {
            given_name: Some("jane".into()),
            family_name: Some("doe".into()),
            ..PersonRecord::default()
        };
        for made in [
            "jane.doe@x.org",
            "doe_jane@x.org",
            "jdoe77@x.org",
            "j.doe@x.org",
            "janed@x.org",
            "JaneDoe85@x.org",
            "jane123@x.org",
            "doe@x.org",
        ] {
            assert!(made_of_names(made, &jane), "{made}");
        }
        for own in ["sunflower@x.org", "jane.doe.smith@x.org", "12345@x.org"] {
            assert!(!made_of_names(own, &jane), "{own}");
        }
        let nameless = PersonRecord::default();
        assert!(!made_of_names("jane.doe@x.org", &nameless));
        let muller = PersonRecord {
            given_name: Some("jurgen".into()),
            family_name: Some("muller".into()),
            ..PersonRecord::default()
        };
        assert!(made_of_names("juergen.mueller@x.de", &muller));
    }

    #[test]
    fn every_level_a_comparator_gives_has_a_name() {
        assert_eq!(
            Field::GivenName.levels().len(),
            6,
            "the swap test counts on it"
        );
        assert_eq!(
            Field::FamilyName.levels().len(),
            5,
            "the swap test counts on it"
        );
        for (index, field) in Field::ALL.iter().enumerate() {
            assert_eq!(field.index(), index);
        }
    }

    #[test]
    fn a_missing_value_is_no_level() {
        let vector = compare(&PersonRecord::default(), &PersonRecord::default());
        assert!(vector.levels.iter().all(Option::is_none));
    }

    #[test]
    fn nicknames_are_found_in_every_group_they_belong_to() {
        assert!(nickname_of("bob", "robert"));
        assert!(nickname_of("alex", "alexander"));
        assert!(nickname_of("alex", "alexandra"), "alex is in two groups");
        assert!(nickname_of("sasha", "lexi"));
        assert!(
            !nickname_of("alexander", "alexandra"),
            "no group holds both"
        );
        assert!(
            !nickname_of("robert", "robert"),
            "a name is not its own nickname"
        );
        assert!(!nickname_of("zzz", "robert"));
        for group in NICKNAMES {
            for a in *group {
                for b in *group {
                    assert_eq!(nickname_of(a, b), a != b, "{a} / {b}");
                }
            }
        }
    }

    #[test]
    fn nicknames_and_initials_are_weaker_agreement() {
        let level = |a: &str, b: &str| {
            let (x, y) = (sound_codes(a), sound_codes(b));
            given_level(name(Some(a), x.as_ref()), name(Some(b), y.as_ref()))
        };
        assert_eq!(level("robert", "bob"), Some(2));
        assert_eq!(
            level("augusta ada", "ada"),
            Some(2),
            "a middle name left out"
        );
        assert_eq!(level("j", "jane"), Some(4));
        assert_eq!(level("jane", "peter"), Some(5));
    }
}
