//! Duplicates: a copy of an original with corruptions applied, each recorded.

use super::draw::{Seeded, below, chance, one, weighted, weighted_by, weighted_index};
use super::names::nicknames;
use super::original::{Date, Original, Tables, YEARS};
use super::phone::Phone;
use super::places::Country;
use super::text::{self, Layout};
use super::{Corruption, CorruptionKind, Field, GeneratedPerson};

/// How much a duplicate may differ from its original.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) per_record: usize,
    pub(super) per_field: usize,
}

/// Which fields each text corruption picks from, and how likely each is.
const TYPO_FIELDS: &[(Field, u32)] = &[
    (Field::GivenName, 3),
    (Field::FamilyName, 3),
    (Field::Street, 2),
    (Field::Locality, 1),
    (Field::Company, 1),
    (Field::Email, 1),
    (Field::NationalId, 1),
    (Field::StreetNumber, 1),
    (Field::Postcode, 1),
];
const OCR_FIELDS: &[(Field, u32)] = &[
    (Field::GivenName, 2),
    (Field::FamilyName, 2),
    (Field::Street, 2),
    (Field::Locality, 1),
    (Field::Company, 1),
    (Field::NationalId, 1),
    (Field::StreetNumber, 1),
    (Field::Postcode, 1),
];
const PHONETIC_FIELDS: &[(Field, u32)] = &[
    (Field::GivenName, 3),
    (Field::FamilyName, 4),
    (Field::Street, 1),
    (Field::Locality, 1),
];
const CASE_FIELDS: &[(Field, u32)] = &[
    (Field::GivenName, 3),
    (Field::FamilyName, 3),
    (Field::Street, 2),
    (Field::Locality, 1),
    (Field::Company, 1),
    (Field::Email, 1),
    (Field::Postcode, 1),
    (Field::NationalId, 1),
    (Field::Region, 1),
];
const MISSING_FIELDS: &[(Field, u32)] = &[
    (Field::GivenName, 2),
    (Field::FamilyName, 1),
    (Field::DateOfBirth, 4),
    (Field::StreetNumber, 2),
    (Field::Street, 2),
    (Field::Locality, 2),
    (Field::Postcode, 3),
    (Field::Region, 3),
    (Field::Country, 2),
    (Field::NationalId, 4),
    (Field::Email, 4),
    (Field::Phone, 4),
    (Field::Company, 4),
];
const ADDRESS_FIELDS: [Field; 5] = [
    Field::StreetNumber,
    Field::Street,
    Field::Locality,
    Field::Postcode,
    Field::Region,
];

/// One duplicate's work in progress.
struct Work<'a> {
    record: GeneratedPerson,
    counts: [usize; Field::ALL.len()],
    per_field: usize,
    country: Country,
    phone: Option<(Phone, usize)>,
    tables: &'a Tables,
}

impl Work<'_> {
    fn free(&self, field: Field) -> bool {
        self.counts[field as usize] < self.per_field && self.record.get(field).is_some()
    }

    /// A present field with modifications left, by weight.
    fn pick(&self, table: &[(Field, u32)], rng: &mut Seeded) -> Option<Field> {
        let weight = |(field, weight): &(Field, u32)| if self.free(*field) { *weight } else { 0 };
        let total: u32 = table.iter().map(weight).sum();
        (total > 0).then(|| table[weighted_by(rng, table, weight)].0)
    }

    fn set(&mut self, field: Field, value: Option<String>) {
        *self.record.slot_mut(field) = value;
        self.counts[field as usize] += 1;
    }

    /// Rewrites one field with `change`; false when it could not change it.
    fn edit(
        &mut self,
        table: &[(Field, u32)],
        rng: &mut Seeded,
        change: impl FnOnce(&str, &mut Seeded) -> Option<String>,
    ) -> Option<Field> {
        let field = self.pick(table, rng)?;
        let changed = change(self.record.get(field)?, rng)?;
        self.set(field, Some(changed));
        Some(field)
    }

    /// Applies one corruption of `kind`; the principal field it changed, or `None` when it
    /// does not apply to this record.
    fn apply(&mut self, kind: CorruptionKind, rng: &mut Seeded) -> Option<Field> {
        let layout = Layout::of(self.country);
        match kind {
            CorruptionKind::Typo => {
                self.edit(TYPO_FIELDS, rng, |t, rng| text::typo(t, layout, rng))
            }
            CorruptionKind::Ocr => self.edit(OCR_FIELDS, rng, text::ocr),
            CorruptionKind::Phonetic => self.edit(PHONETIC_FIELDS, rng, text::phonetic),
            CorruptionKind::CaseAndSpacing => self.edit(CASE_FIELDS, rng, |t, rng| {
                Some(text::case_and_spacing(t, rng))
            }),
            CorruptionKind::Missing => {
                let field = self.pick(MISSING_FIELDS, rng)?;
                // Never both names gone.
                let other = match field {
                    Field::GivenName => Some(Field::FamilyName),
                    Field::FamilyName => Some(Field::GivenName),
                    _ => None,
                };
                if other.is_some_and(|other| self.record.get(other).is_none()) {
                    return None;
                }
                self.set(field, None);
                Some(field)
            }
            CorruptionKind::NameSwap => {
                if !self.free(Field::GivenName) || !self.free(Field::FamilyName) {
                    return None;
                }
                let given = self.record.given_name.take();
                let family = self.record.family_name.take();
                if given == family {
                    self.record.given_name = given;
                    self.record.family_name = family;
                    return None;
                }
                self.set(Field::GivenName, family);
                self.set(Field::FamilyName, given);
                Some(Field::GivenName)
            }
            CorruptionKind::Nickname => {
                if !self.free(Field::GivenName) {
                    return None;
                }
                let names = nicknames(self.record.get(Field::GivenName)?);
                if names.is_empty() {
                    return None;
                }
                let nickname = (*one(rng, names)).to_owned();
                self.set(Field::GivenName, Some(nickname));
                Some(Field::GivenName)
            }
            CorruptionKind::Initial => {
                if !self.free(Field::GivenName) {
                    return None;
                }
                let given = self.record.get(Field::GivenName)?;
                let mut chars = given.chars().filter(|c| c.is_alphabetic());
                let first = chars.next()?;
                chars.next()?;
                let mut initial: String = first.to_uppercase().collect();
                if chance(rng, 0.3) {
                    initial.push('.');
                }
                self.set(Field::GivenName, Some(initial));
                Some(Field::GivenName)
            }
            CorruptionKind::Date => {
                if !self.free(Field::DateOfBirth) {
                    return None;
                }
                let date = Date::parse(self.record.get(Field::DateOfBirth)?)?;
                let changed = change_date(date, rng)?;
                self.set(Field::DateOfBirth, Some(changed.text()));
                Some(Field::DateOfBirth)
            }
            CorruptionKind::Moved => self.moved(rng),
            CorruptionKind::PostcodeOff => {
                if !self.free(Field::Postcode) {
                    return None;
                }
                let changed = postcode_off(self.record.get(Field::Postcode)?, rng)?;
                self.set(Field::Postcode, Some(changed));
                Some(Field::Postcode)
            }
            CorruptionKind::Abbreviation => {
                let street = self
                    .record
                    .get(Field::Street)
                    .filter(|_| self.free(Field::Street))
                    .and_then(|street| toggle_street(street, self.country));
                let region = self
                    .record
                    .get(Field::Region)
                    .filter(|_| self.free(Field::Region))
                    .and_then(|region| toggle_region(region, self.country));
                let (field, value) = match (street, region) {
                    (Some(street), Some(region)) => {
                        if chance(rng, 0.75) {
                            (Field::Street, street)
                        } else {
                            (Field::Region, region)
                        }
                    }
                    (Some(street), None) => (Field::Street, street),
                    (None, Some(region)) => (Field::Region, region),
                    (None, None) => return None,
                };
                self.set(field, Some(value));
                Some(field)
            }
            CorruptionKind::Email => {
                if !self.free(Field::Email) {
                    return None;
                }
                let email = self.record.get(Field::Email)?;
                let changed = if chance(rng, 0.5) {
                    other_provider(email, self.country, rng)?
                } else {
                    text::typo(email, layout, rng)?
                };
                self.set(Field::Email, Some(changed));
                Some(Field::Email)
            }
            CorruptionKind::PhoneRespelled => {
                if !self.free(Field::Phone) {
                    return None;
                }
                let (phone, style) = self.phone?;
                let current = self.record.get(Field::Phone)?;
                let styles = Phone::styles(self.country);
                let start = below(rng, styles);
                let (style, respelled) = (0..styles)
                    .map(|k| (start + k) % styles)
                    .filter(|&s| s != style)
                    .map(|s| (s, phone.format(s)))
                    .find(|(_, respelled)| respelled != current)?;
                self.phone = Some((phone, style));
                self.set(Field::Phone, Some(respelled));
                Some(Field::Phone)
            }
            CorruptionKind::PhoneDigitOff => {
                if !self.free(Field::Phone) {
                    return None;
                }
                let (phone, style) = self.phone?;
                let changed = phone.digit_off(rng);
                self.phone = Some((changed, style));
                self.set(Field::Phone, Some(changed.format(style)));
                Some(Field::Phone)
            }
        }
    }

    /// The person moved: a whole new address (one in ten abroad), written into the address
    /// fields the record has (never into an empty one).
    fn moved(&mut self, rng: &mut Seeded) -> Option<Field> {
        let present: Vec<Field> = ADDRESS_FIELDS
            .into_iter()
            .filter(|f| self.record.get(*f).is_some())
            .collect();
        if present.is_empty() || present.iter().any(|f| !self.free(*f)) {
            return None;
        }
        let abroad = chance(rng, 0.1);
        let country = if abroad {
            let others: Vec<Country> = Country::ALL
                .into_iter()
                .filter(|c| *c != self.country)
                .collect();
            *one(rng, &others)
        } else {
            self.country
        };
        let address = self.tables.address(country, rng);
        for field in present {
            let value = match field {
                Field::StreetNumber => address.street_number.clone(),
                Field::Street => address.street.clone(),
                Field::Locality => address.locality.name.to_owned(),
                Field::Postcode => address.postcode.clone(),
                _ => address.region.clone(),
            };
            self.set(field, Some(value));
        }
        if country != self.country && self.record.country.is_some() {
            self.set(Field::Country, Some(country.code().to_owned()));
        }
        Some(Field::Street)
    }
}

/// A duplicate of `original`: between 1 and `limits.per_record` corruptions (fewer more
/// likely: `n` weighs `per_record + 1 - n`), at most `limits.per_field` on one field, and
/// never equal to the original.
pub(super) fn duplicate(
    original: &Original,
    limits: Limits,
    tables: &Tables,
    rng: &mut Seeded,
) -> GeneratedPerson {
    let mut record = original.record.clone();
    record.is_original = false;
    let per_record = limits.per_record.max(1);
    let wanted = fewer_likelier(per_record, rng);
    record.corruptions = Vec::with_capacity(wanted);
    let mut work = Work {
        record,
        counts: [0; Field::ALL.len()],
        per_field: limits.per_field.max(1),
        country: original.truth.country,
        phone: original.truth.phone,
        tables,
    };
    let mut applied = 0;
    let mut attempts = 0;
    // Draw kinds until `wanted` applied (a kind that does not apply is drawn again), and past
    // it while the duplicate still equals its original (a change undone by a later one).
    while (applied < wanted || work.record.same_values(&original.record)) && attempts < 200 {
        attempts += 1;
        let kind = CorruptionKind::ALL[weighted_by(rng, &CorruptionKind::ALL, |k| k.weight())];
        if let Some(field) = work.apply(kind, rng) {
            work.record.corruptions.push(Corruption { kind, field });
            applied += 1;
        }
    }
    // Every field at its limit and the changes cancelled out (never seen, but possible):
    // raise the limit until a typo sticks (a name is always present).
    while work.record.same_values(&original.record) {
        work.per_field += 1;
        if let Some(field) = work.apply(CorruptionKind::Typo, rng) {
            let kind = CorruptionKind::Typo;
            work.record.corruptions.push(Corruption { kind, field });
        }
    }
    work.record
}

/// A number in `1..=max`, `n` weighing `max + 1 - n`.
fn fewer_likelier(max: usize, rng: &mut Seeded) -> usize {
    let mut ticket = below(rng, max * (max + 1) / 2);
    for n in 1..max {
        let weight = max + 1 - n;
        if ticket < weight {
            return n;
        }
        ticket -= weight;
    }
    max
}

/// A date as mistyped: day and month swapped (when both make a valid date), one digit of
/// the day or month off, the year off by one, or the year's last two digits swapped.
fn change_date(date: Date, rng: &mut Seeded) -> Option<Date> {
    // Try the sub-kinds from one drawn by weight (35, 30, 20, 15), then the others in turn.
    let first = weighted_index(rng, &[35, 30, 20, 15]);
    for k in 0..4 {
        let candidate = match (first + k) % 4 {
            0 => Date {
                year: date.year,
                month: date.day,
                day: date.month,
            },
            1 => {
                let mut tries = 0;
                loop {
                    tries += 1;
                    let on_day = chance(rng, 0.5);
                    let value = if on_day { date.day } else { date.month };
                    let digits = [value / 10, value % 10];
                    let which = below(rng, 2);
                    let mut new = digits;
                    new[which] = u32::try_from(below(rng, 10)).unwrap_or(0);
                    let value = new[0] * 10 + new[1];
                    let candidate = if on_day {
                        Date { day: value, ..date }
                    } else {
                        Date {
                            month: value,
                            ..date
                        }
                    };
                    if (candidate != date && candidate.is_valid()) || tries > 20 {
                        break candidate;
                    }
                }
            }
            2 => {
                let year = if chance(rng, 0.5) {
                    date.year + 1
                } else {
                    date.year - 1
                };
                Date { year, ..date }
            }
            _ => {
                let (tens, units) = ((date.year / 10) % 10, date.year % 10);
                Date {
                    year: date.year - tens * 10 - units + units * 10 + tens,
                    ..date
                }
            }
        };
        let plausible = (YEARS.0 - 40..=YEARS.1 + 20).contains(&candidate.year);
        if candidate != date && candidate.is_valid() && plausible {
            return Some(candidate);
        }
    }
    None
}

/// One letter or digit of a postcode replaced by another of its kind; a numeric postcode
/// sometimes loses its leading zero instead (a spreadsheet's doing).
fn postcode_off(postcode: &str, rng: &mut Seeded) -> Option<String> {
    if postcode.starts_with('0') && postcode.chars().all(|c| c.is_ascii_digit()) && chance(rng, 0.3)
    {
        return Some(postcode[1..].to_owned());
    }
    let mut chars: Vec<char> = postcode.chars().collect();
    let positions: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_ascii_alphanumeric())
        .collect();
    if positions.is_empty() {
        return None;
    }
    let i = *one(rng, &positions);
    let old = chars[i];
    let pool: &[u8] = if old.is_ascii_digit() {
        b"0123456789"
    } else if old.is_ascii_uppercase() {
        b"ABCDEFGHJKLMNPRSTUVWXYZ"
    } else {
        b"abcdefghjklmnprstuvwxyz"
    };
    loop {
        let new = char::from(*one(rng, pool));
        if new != old {
            chars[i] = new;
            return Some(chars.into_iter().collect());
        }
    }
}

/// The street type written the other way: "Baker Street" <-> "Baker St",
/// "Hauptstraße" <-> "Hauptstr.", "Rue de la Paix" <-> "R. de la Paix".
pub(super) fn toggle_street(street: &str, country: Country) -> Option<String> {
    let types = country.street_types();
    match country {
        Country::Gb | Country::Us | Country::Au => {
            let (head, last) = street.rsplit_once(' ')?;
            let bare = last.trim_end_matches('.');
            types.iter().find_map(|(full, abbreviation, _)| {
                if abbreviation.is_empty() {
                    None
                } else if last == *full {
                    Some(format!("{head} {abbreviation}"))
                } else if bare.eq_ignore_ascii_case(abbreviation) {
                    Some(format!("{head} {full}"))
                } else {
                    None
                }
            })
        }
        Country::De => {
            const FORMS: [(&str, &str); 4] = [
                (" Straße", " Str."),
                ("straße", "str."),
                (" Strasse", " Str."),
                ("strasse", "str."),
            ];
            FORMS.iter().find_map(|(full, short)| {
                if let Some(stem) = street.strip_suffix(full) {
                    Some(format!("{stem}{short}"))
                } else {
                    street
                        .strip_suffix(short)
                        .map(|stem| format!("{stem}{full}"))
                }
            })
        }
        Country::Fr => {
            let (first, rest) = street.split_once(' ')?;
            types.iter().find_map(|(full, abbreviation, _)| {
                if abbreviation.is_empty() {
                    None
                } else if first == *full {
                    Some(format!("{abbreviation} {rest}"))
                } else if first == *abbreviation {
                    Some(format!("{full} {rest}"))
                } else {
                    None
                }
            })
        }
    }
}

/// A state's code for its name or the other way round ("CA" <-> "California").
fn toggle_region(region: &str, country: Country) -> Option<String> {
    country.localities().iter().find_map(|locality| {
        if locality.region == locality.region_full {
            None
        } else if region == locality.region {
            Some(locality.region_full.to_owned())
        } else if region == locality.region_full {
            Some(locality.region.to_owned())
        } else {
            None
        }
    })
}

/// The same mailbox name at another provider of the country.
fn other_provider(email: &str, country: Country, rng: &mut Seeded) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    let providers: Vec<(&str, u32)> = country
        .email_providers()
        .iter()
        .copied()
        .filter(|(provider, _)| *provider != domain)
        .collect();
    if providers.is_empty() {
        return None;
    }
    Some(format!("{local}@{}", weighted(rng, &providers)))
}
