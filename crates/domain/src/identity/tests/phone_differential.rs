//! Phone numbers read by [`PhoneNumber::parse`] against the `phonenumber` crate's own `parse`,
//! on a generated corpus: the example numbers of the crate's metadata for many regions, spelled
//! the ways people write them (spaces, dashes, dots, brackets, `+`, international prefixes,
//! trunk prefixes, `(0)`, extensions), each read in its own region or in another one.
//!
//! Where the crate yields a valid number, ours must be the same E.164 form with the same
//! extension; where it refuses, or yields an invalid number, ours must be refused. The only
//! exceptions are the departures listed in `docs/PHONE_NUMBERS.md`, each checked here against
//! the crate's own reading of a rewritten input:
//! - a number carrying its country code (after `+` or the region's international prefix) is
//!   read as the crate reads `+…` without a default region;
//! - an RFC 3966 extension the crate cannot read in place (`+1 650 253 0000;ext=7`) is split
//!   off and the rest read alone;
//! - an empty extension (`x` with no digits) is no extension;
//! - full-width digits are read as ASCII ones.
//!
//! The generator also knows which number it wrote, so every accepted international spelling,
//! and every national spelling read in its own region, must give that number.

use std::collections::BTreeMap;
use std::str::FromStr;

use phonenumber::country::{Id, Source};
use phonenumber::metadata::DATABASE;
use proptest::prelude::*;

use crate::identity::{CountryCode, PhoneNumber};

/// How many spellings the corpus holds.
const CASES: usize = 3000;

/// The regions whose example numbers are spelled.
const NUMBER_REGIONS: &[&str] = &[
    "US", "CA", "GB", "DE", "FR", "AU", "JP", "IN", "BR", "CH", "NL", "IT", "ES", "SE", "NZ", "MX",
    "AR", "RU", "CN", "KR", "ZA", "IE", "AT", "BE", "PL", "NO", "SG", "HK", "IL", "AE",
];

/// The default regions a number written elsewhere is read in: different international
/// prefixes (00, 011, 0011, 010, 810) and trunk prefixes (0, 1, 8, none).
const READING_REGIONS: &[&str] = &[
    "US", "CA", "GB", "DE", "FR", "AU", "JP", "IT", "BR", "RU", "CH", "SE", "IN", "ES", "MX",
];

/// Prefixes written before a country code other than `+`; each region dials some of them.
const INTERNATIONAL_PREFIXES: &[&str] = &["00", "011", "0011", "010", "001", "810", "0015"];

/// A small deterministic generator (xorshift64), so that the corpus is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// How the number was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    /// With the trunk prefix, as dialled inside the country: `030 1234567`.
    National,
    /// The national significant number alone: `30 1234567`.
    Bare,
    /// The country code without `+`: `49 30 1234567`.
    CountryCode,
    /// `+49 30 1234567`.
    Plus,
    /// `+49 (0)30 1234567`.
    PlusTrunk,
    /// `tel:+49-30-1234567`.
    Tel,
    /// An international prefix, then the country code: `00 49 30 1234567`.
    International,
}

/// One spelling of a known number, and the default region it is read in.
#[derive(Debug)]
struct Case {
    text: String,
    region: &'static str,
    /// The region whose example number this is.
    home: &'static str,
    form: Form,
    /// The number written, in E.164 form.
    written: String,
    /// The extension's digits, if one was written (possibly more than an extension may have).
    extension: Option<String>,
    /// The extension as written, with its mark (`" ext. 45"`), or nothing.
    extension_text: String,
    /// What follows the `+` or the international prefix, for international forms.
    after_prefix: Option<String>,
}

/// A reading: the E.164 form and the extension, or a refusal.
type Reading = Option<(String, Option<String>)>;

fn region_id(code: &str) -> Id {
    Id::from_str(code).unwrap()
}

/// The crate's own reading: `parse`, then `is_valid`.
fn crate_reading(region: Option<&str>, text: &str) -> Reading {
    let number = phonenumber::parse(region.map(region_id), text).ok()?;
    phonenumber::is_valid(&number).then(|| {
        (
            number.format().mode(phonenumber::Mode::E164).to_string(),
            number.extension().map(ToString::to_string),
        )
    })
}

/// The crate's parse of `text` in `region`: where it found the country code, if it parsed.
fn crate_source(region: &str, text: &str) -> Option<Source> {
    phonenumber::parse(Some(region_id(region)), text)
        .ok()
        .map(|number| number.code().source())
}

fn our_reading(region: &str, text: &str) -> Reading {
    let number = PhoneNumber::parse(text, CountryCode::new(region).unwrap()).ok()?;
    Some((
        number.e164().to_owned(),
        number.extension().map(str::to_owned),
    ))
}

/// The example numbers (national significant numbers) of a region's main types.
fn examples(region: &str) -> Vec<String> {
    let metadata = DATABASE.by_id(region).unwrap();
    let descriptors = metadata.descriptors();
    [
        descriptors.fixed_line(),
        descriptors.mobile(),
        descriptors.toll_free(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|descriptor| descriptor.example().map(str::to_owned))
    .collect()
}

/// The digits split into groups of 2 to 4.
fn grouped(rng: &mut Rng, digits: &str) -> Vec<String> {
    let mut groups = Vec::new();
    let mut rest = digits;
    while !rest.is_empty() {
        let size = (2 + rng.below(3)).min(rest.len());
        let (group, tail) = rest.split_at(size);
        groups.push(group.to_owned());
        rest = tail;
    }
    groups
}

fn extension_spelling(rng: &mut Rng) -> Option<(String, String)> {
    if rng.chance(60) {
        return None;
    }
    let length = match rng.below(100) {
        0..=2 => 0,
        3..=7 => 8,
        _ => 1 + rng.below(7),
    };
    let digits: String = (0..length)
        .map(|_| char::from(b'0' + u8::try_from(rng.below(10)).unwrap()))
        .collect();
    let mark = *rng.pick(&[
        ";ext=",
        " ext. ",
        " x",
        " x ",
        " ext ",
        " extension ",
        ";EXT=",
    ]);
    Some((format!("{mark}{digits}"), digits))
}

fn generate_case(rng: &mut Rng, numbers: &[(&'static str, u16, String)]) -> Case {
    let (home, country_code, nsn) = rng.pick(numbers);
    let home: &'static str = home;
    let metadata = DATABASE.by_id(home).unwrap();
    let trunk = metadata.national_prefix().unwrap_or("");
    let separator = *rng.pick(&[" ", " ", "-", ".", ""]);
    let groups = grouped(rng, nsn);
    let joined = groups.join(separator);
    let forms = [
        Form::National,
        Form::National,
        Form::Bare,
        Form::CountryCode,
        Form::Plus,
        Form::Plus,
        Form::PlusTrunk,
        Form::Tel,
        Form::International,
        Form::International,
    ];
    let form = *rng.pick(&forms);
    let elsewhere = *rng.pick(READING_REGIONS);
    let (text, region, after_prefix) = match form {
        Form::National | Form::Bare => {
            let trunk = if form == Form::National { trunk } else { "" };
            let text = if rng.chance(20) && groups.len() > 1 {
                format!("({trunk}{}) {}", groups[0], groups[1..].join(separator))
            } else if trunk.is_empty() {
                joined.clone()
            } else {
                format!("{trunk}{separator}{joined}")
            };
            let region = if rng.chance(75) { home } else { elsewhere };
            (text, region, None)
        }
        Form::CountryCode => (format!("{country_code} {joined}"), home, None),
        Form::Plus | Form::PlusTrunk | Form::Tel => {
            let after = match form {
                Form::PlusTrunk if trunk == "0" => format!("{country_code} (0){joined}"),
                Form::Tel => format!("{country_code}-{}", groups.join("-")),
                _ if rng.chance(15) => format!("{country_code}) {joined}"),
                _ => format!("{country_code} {joined}"),
            };
            let text = match form {
                Form::Tel => format!("tel:+{after}"),
                _ if after.contains(')') && !after.contains("(0)") => format!("(+{after}"),
                _ => format!("+{after}"),
            };
            (text, elsewhere, Some(after))
        }
        Form::International => {
            let prefix = if rng.chance(50) {
                DATABASE
                    .by_id(elsewhere)
                    .and_then(|reader| reader.preferred_international_prefix())
                    .filter(|prefix| prefix.bytes().all(|b| b.is_ascii_digit()))
                    .unwrap_or("00")
            } else {
                *rng.pick(INTERNATIONAL_PREFIXES)
            };
            let after = format!("{country_code} {joined}");
            let gap = *rng.pick(&[" ", "", "-"]);
            (format!("{prefix}{gap}{after}"), elsewhere, Some(after))
        }
    };
    let (extension_text, extension) = match extension_spelling(rng) {
        Some((spelled, digits)) => (spelled, Some(digits)),
        None => (String::new(), None),
    };
    let mut text = format!("{text}{extension_text}");
    if rng.chance(3) {
        text = full_width(&text);
    }
    Case {
        text,
        region,
        home,
        form,
        written: format!("+{country_code}{nsn}"),
        extension,
        extension_text,
        after_prefix,
    }
}

/// `text` with its digits and `+` in their full-width forms (`＋４９ ３０ …`).
fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' | '+' => char::from_u32(u32::from(c) - 0x20 + 0xFF00).unwrap(),
            c => c,
        })
        .collect()
}

/// `text` with its full-width digits and `+` in ASCII.
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' | '\u{FF0B}' => {
                char::from_u32(u32::from(c) - 0xFF00 + 0x20).unwrap()
            }
            c => c,
        })
        .collect()
}

fn corpus() -> Vec<Case> {
    let numbers: Vec<(&'static str, u16, String)> = NUMBER_REGIONS
        .iter()
        .flat_map(|&region| {
            let country_code = DATABASE.by_id(region).unwrap().country_code();
            examples(region)
                .into_iter()
                .map(move |nsn| (region, country_code, nsn))
        })
        .collect();
    assert!(numbers.len() >= 2 * NUMBER_REGIONS.len(), "{numbers:?}");
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let mut cases: Vec<Case> = (0..CASES)
        .map(|_| generate_case(&mut rng, &numbers))
        .collect();
    // The crate caches only some of its compiled patterns: reading the cases region by region
    // keeps the run short.
    cases.sort_by(|a, b| (a.region, &a.text).cmp(&(b.region, &b.text)));
    cases
}

/// Which documented departure, if any, decides a case's expected reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Departure {
    /// The crate's reading stands as it is.
    None,
    /// The country code was written: the crate's reading of `+…` without a default region.
    OwnCountryRules,
    /// A trailing RFC 3966 extension (`;ext=7`, `;EXT=7`), split off before reading.
    SplitExtension,
    /// Full-width digits, read as ASCII ones.
    FullWidth,
}

/// The text before a trailing RFC 3966 extension (`;ext=` and 1 to 7 digits, in any case),
/// and the extension's digits.
fn rfc3966_extension(text: &str) -> Option<(&str, &str)> {
    let (number, parameter) = text.rsplit_once(';')?;
    let digits = parameter.get(4..)?;
    let is_extension = parameter.get(..4)?.eq_ignore_ascii_case("ext=")
        && (1..=7).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit());
    is_extension.then(|| (number.trim_end(), digits))
}

/// What follows the international prefix that the region's metadata finds at the start of
/// `text`'s digits (`text` holding digits and punctuation only).
fn after_crates_prefix<'t>(region: &str, text: &'t str) -> &'t str {
    let prefix = DATABASE
        .by_id(region)
        .and_then(|metadata| metadata.international_prefix())
        .unwrap();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let found = prefix.find(&digits).unwrap();
    assert_eq!(found.start(), 0, "{text:?} in {region}");
    let length = found.end();
    let (at, _) = text
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
        .nth(length - 1)
        .unwrap();
    &text[at + 1..]
}

/// The reading ours must give, and the departure that decides it.
fn expected(case: &Case) -> (Reading, Departure) {
    let region = case.region;
    let text = case.text.as_str();
    if !text.is_ascii() {
        let in_ascii = Case {
            text: ascii(text),
            region,
            home: case.home,
            form: case.form,
            written: case.written.clone(),
            extension: case.extension.clone(),
            extension_text: case.extension_text.clone(),
            after_prefix: case.after_prefix.clone(),
        };
        let (reading, _) = expected(&in_ascii);
        return (reading, Departure::FullWidth);
    }
    if let Some((number, digits)) = rfc3966_extension(text) {
        let shorter = Case {
            text: number.to_owned(),
            region,
            home: case.home,
            form: case.form,
            written: case.written.clone(),
            extension: None,
            extension_text: String::new(),
            after_prefix: case.after_prefix.clone(),
        };
        let (reading, _) = expected(&shorter);
        let reading = reading
            .filter(|(_, extension)| extension.is_none())
            .map(|(e164, _)| (e164, Some(digits.to_owned())));
        return (reading, Departure::SplitExtension);
    }
    let (base, departure) = match crate_source(region, text) {
        Some(Source::Plus) => (crate_reading(None, text), Departure::OwnCountryRules),
        // Also a national spelling whose first digits are the region's international prefix
        // (an Argentine `011 …` read in the US).
        Some(Source::Idd) => (
            crate_reading(None, &format!("+{}", after_crates_prefix(region, text))),
            Departure::OwnCountryRules,
        ),
        Some(Source::Default | Source::Number) => {
            (crate_reading(Some(region), text), Departure::None)
        }
        None => (None, Departure::None),
    };
    // An extension mark without digits is no extension.
    let reading =
        base.map(|(e164, extension)| (e164, extension.filter(|digits| !digits.is_empty())));
    (reading, departure)
}

#[test]
fn our_reading_is_the_crates_apart_from_the_documented_departures() {
    let cases = corpus();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = |key: String| *counts.entry(key).or_default() += 1;
    let mut failures = Vec::new();
    for case in &cases {
        let ours = our_reading(case.region, &case.text);
        let (wanted, departure) = expected(case);
        let crates = crate_reading(Some(case.region), &case.text);
        let crates_plain = crates
            .clone()
            .map(|(e164, extension)| (e164, extension.filter(|digits| !digits.is_empty())));
        count(format!("departure {departure:?}"));
        count(format!(
            "ours {}",
            if ours.is_some() {
                "accepted"
            } else {
                "refused"
            }
        ));
        if crates_plain == wanted {
            count("same as the crate's parse".to_owned());
        } else {
            count(format!("differs from the crate's parse ({departure:?})"));
            count(
                match (&crates_plain, &wanted) {
                    (Some((theirs, _)), Some((e164, _))) if theirs != e164 => {
                        "where the crate reads another number"
                    }
                    (Some(_), Some(_)) => "where the crate loses the extension",
                    (None, Some(_)) => "where the crate refuses and we accept",
                    (Some(_), None) => "where the crate accepts and we refuse",
                    (None, None) => "where both refuse",
                }
                .to_owned(),
            );
        }
        if ours != wanted {
            failures.push(format!(
                "{:?} in {}: ours {ours:?}, expected {wanted:?} ({departure:?}), crate {crates:?}",
                case.text, case.region
            ));
            continue;
        }
        // The strict comparison: no departure, the crate's exact answer.
        if departure == Departure::None {
            assert_eq!(ours, crates_plain, "{case:?}");
        }
        // The number written is the number read.
        let read_as_written = match case.form {
            Form::Plus | Form::PlusTrunk | Form::Tel => true,
            // Only where the region's prefix is the one written (in France `0015 65 …` is
            // `00` and a +1 number).
            Form::International => {
                crate_source(case.region, &case.text) == Some(Source::Idd)
                    && case.after_prefix.as_ref().is_some_and(|after| {
                        after_crates_prefix(case.region, &case.text).trim_start_matches([' ', '-'])
                            == format!("{after}{}", case.extension_text)
                    })
            }
            Form::National | Form::Bare => case.region == case.home,
            Form::CountryCode => false,
        };
        if let Some((e164, extension)) = &ours {
            if read_as_written {
                if e164 == &case.written {
                    count("accepted as written".to_owned());
                } else {
                    failures.push(format!("{case:?} was read as {e164}"));
                }
            }
            // An extension of 1 to 7 digits is kept as written.
            if case
                .extension
                .as_ref()
                .is_some_and(|digits| (1..=7).contains(&digits.len()))
            {
                assert_eq!(extension, &case.extension, "{case:?}");
            }
        }
    }
    eprintln!("{} cases: {counts:#?}", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases read differently:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let accepted = counts.get("ours accepted").copied().unwrap_or(0);
    assert!(
        accepted * 2 > cases.len(),
        "too few valid spellings: {counts:#?}"
    );
}

// The crate must never panic on what people type: these reach it through our parse.

#[test]
fn inputs_known_to_have_crashed_the_crate_are_refused_calmly() {
    for text in [
        ".;phone-context=",
        "+dwPAA;phone-context=AA",
        " 2 22#:",
        "tel:+;phone-context=+",
        "tel:;ext=",
        "+",
        "++++",
        "+0",
        "00",
        "011",
        "0011",
        ";ext=1",
        "x1",
        "1;ext=12345678",
        "+1;EXT=1",
        "+800 1234 5678",
        "+979 123456789",
        "+882 1234 5678 9012",
        "+7 (0)",
        "(((((1)))))",
        "1-800-FLOWERS",
        "tel:abcdef",
        "tel:+1-abc;phone-context=+1;isub=1;ext=1",
    ] {
        for region in ["US", "DE", "AU", "JP", "BR", "RU", "ZZ", "AA"] {
            let _ = PhoneNumber::parse(text, CountryCode::new(region).unwrap());
        }
    }
}

#[test]
fn every_two_letter_default_region_is_safe() {
    // Regions the crate has no metadata for must never reach it as a default region.
    for first in b'A'..=b'Z' {
        for second in b'A'..=b'Z' {
            let code = String::from_utf8(vec![first, second]).unwrap();
            let region = CountryCode::new(&code).unwrap();
            for text in ["030 1234567", "+44 20 7946 0958", "00 49 30 1234567"] {
                let _ = PhoneNumber::parse(text, region);
            }
        }
    }
}

proptest! {
    #[test]
    fn any_text_is_read_or_refused_without_panicking(
        text in "\\PC{0,40}",
        region in prop::sample::select(vec!["US", "DE", "GB", "AU", "JP", "BR", "RU", "AR", "ZZ"]),
    ) {
        let _ = PhoneNumber::parse(&text, CountryCode::new(region).unwrap());
    }

    #[test]
    fn any_phone_like_text_is_read_or_refused_without_panicking(
        text in "(tel:)?[+＋]?[0-9０-９ ()./;=#*xX+-]{0,30}(;ext=[0-9]{0,9}|;phone-context=[+0-9a-z]{0,5}|;isub=[0-9]{0,3}| ext\\. ?[0-9]{0,9})?",
        region in prop::sample::select(vec!["US", "DE", "GB", "AU", "JP", "BR", "RU", "AR", "NZ", "ZZ"]),
    ) {
        let _ = PhoneNumber::parse(&text, CountryCode::new(region).unwrap());
    }
}
