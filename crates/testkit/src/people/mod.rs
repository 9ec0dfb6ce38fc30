//! # Corrupted person records, to measure identity resolution (feature `people`)
//!
//! A seeded generator in the manner of the record-linkage benchmark generators (FEBRL's
//! dsgen, GeCo): original person records, and duplicates of some of them made with the
//! errors of forms, clerks, scanners and time. The ground truth travels with every record
//! ([`GeneratedPerson::entity`]), so a matcher's precision and recall can be counted
//! ([`true_pairs`]). The same settings give byte-identical output on every platform
//! (ChaCha8, integer weights, no `usize` ranges); 1,000,000 records take a few seconds in
//! release.
//!
//! Two shapes of benchmark:
//! - [`generate`]: one file to deduplicate. Each original gets duplicates with probability
//!   [`GeneratorSettings::duplicate_share`]; their number `k` in `1..=max_duplicates` weighs
//!   `1 / k` (with 5: 44%, 22%, 15%, 11%, 9%). The file is shuffled.
//! - [`generate_linkage`]: two files, each free of duplicates; a share of the right file's
//!   people also appear in the left one, their right-hand copy corrupted.
//!
//! ## The originals
//!
//! - Country: US 30%, GB 25%, DE 15%, FR 15%, AU 15%; ISO alpha-2 codes.
//! - Names: ten naming cultures (English, German, French, Spanish, Italian, Dutch, Nordic,
//!   Indian, Chinese and Japanese romanised), mixed per country (GB: 70% English, 9% Indian,
//!   ...; DE: 78% German; FR: 80% French; US: 56% English, 18% Spanish); 460 given names of
//!   both sexes and 338 family names, each list drawn Zipf-like (rank `r` weighs
//!   `1 / (r + 4)`), so "John Smith" and "Thomas Müller" recur; one family name in ten comes
//!   from another culture of the country. Accents are kept ("Hélène", "Weiß", "Muñoz").
//! - Dates of birth 1940-2005 (middle years likelier), "YYYY-MM-DD".
//! - Addresses: localities weighted by population with their regions (counties, state codes
//!   or names, Länder, régions), postcodes in the country's format and range ("SW14 7QH",
//!   "10115", "75011", "02134", "0800"), streets from a table with the country's street types
//!   (Street/St, Road/Rd ... ; "-straße"/"-str.", "-weg" ...; "Rue"/"R.", "Avenue"/"Av." ...),
//!   sometimes abbreviated; numbers 1-300, low ones likelier, 5% with a letter ("12a",
//!   "7 bis").
//! - National ids in the country's format, unique: GB National Insurance "AB 12 34 56 C", US
//!   SSN "123-45-6789", DE Steuer-ID (11 digits, ISO 7064 check digit), FR NIR (sex, year,
//!   month, département, with its key), AU TFN (9 digits, weighted check); spaced or not.
//! - Emails from the name ("jane.doe@", "jdoe77@", "doe.jane@", "jane.doe85@", ...) at the
//!   country's providers (gmail.com, web.de, orange.fr, bigpond.com, ...) or at the
//!   employer's domain; unique unless a couple shares one, as mailboxes are: Gmail ignores
//!   the dots of a mailbox name, so no two people get `jane.doe@gmail.com` and
//!   `janedoe@gmail.com`.
//! - Phones valid for their country (checked against libphonenumber's metadata in the
//!   tests): landlines in the locality's area code, mobiles in the country's mobile ranges,
//!   unique unless a household shares its landline, written in the national and
//!   international spellings people use ("020 7946 0123", "+44 (0)20 7946 0123",
//!   "(212) 555-0187", "030/12345678", "06 12 34 56 78", "0412 345 678", ...).
//! - Company: 60% have an employer from the country's table.
//! - Households: [`GeneratorSettings::household_share`] of the people live with one to three
//!   others (a partner, who takes the family name 65% of the time, siblings, grown children):
//!   same address and landline (half give it as their phone), sometimes the same employer or
//!   email, twins share a birthday, and a child may carry the parent's given name ("junior").
//!   Unrelated people share names, birthdays, streets and postcodes by the tables' skew.
//!   Precision must be earned.
//! - Missing fields: each field is empty with `missing_share` times a factor: given name 0.3,
//!   family name 0.05 (never both names), date of birth 1, street number 0.8, street 0.6,
//!   locality 0.5, postcode 0.8, region 1.5, country 0.5, national id 3, email 1, phone 1,
//!   company 1 (capped at 95%).
//!
//! ## The duplicates
//!
//! A duplicate copies its original, then applies `n` corruptions, `n` in
//! `1..=max_modifications_per_record` weighing `max + 1 - n` (fewer likelier), no field
//! changed more than `max_modifications_per_field` times, and never a value added where the
//! original had none. Each corruption's kind is drawn by these weights (out of 100):
//!
//! | kind | weight | what it does |
//! |---|---:|---|
//! | [`Typo`](CorruptionKind::Typo) | 20 | a keyboard slip in a name, street, locality, company, email, id, number or postcode: a neighbouring key (45%), a key pressed twice or with its neighbour (20%), a key missed (20%), two swapped (15%); QWERTY, QWERTZ (DE) or AZERTY (FR) |
//! | [`Ocr`](CorruptionKind::Ocr) | 6 | a scanner's confusion: m/rn, l/1, O/0, S/5, B/8, cl/d, g/9, w/vv, ... |
//! | [`Phonetic`](CorruptionKind::Phonetic) | 10 | a name, street or locality spelt by ear: ph/f, ck/k, tz/z, ei/ie, -ie/-y, c/k, s/z, i/y, sch/sh, -son/-sen, Mc/Mac, silent letters (gh, kn, wr, mb), a consonant doubled or undoubled, accents dropped or spelt out (ü/ue, ß/ss, é/e) |
//! | [`CaseAndSpacing`](CorruptionKind::CaseAndSpacing) | 8 | capitals, lower case, each word capitalised, a stray, doubled or dropped space, hyphen for space, punctuation dropped |
//! | [`Missing`](CorruptionKind::Missing) | 12 | a field left empty (identifiers, contact and date likelier than names) |
//! | [`NameSwap`](CorruptionKind::NameSwap) | 3 | given and family name swapped |
//! | [`Nickname`](CorruptionKind::Nickname) | 5 | the given name's nickname (Robert: Bob, Rob; Elizabeth: Liz, Beth; Francisco: Paco; ...) |
//! | [`Initial`](CorruptionKind::Initial) | 3 | the given name's initial only ("J", "J.") |
//! | [`Date`](CorruptionKind::Date) | 7 | day and month swapped (35%, when valid), one digit of day or month off (30%), year off by one (20%), the year's last digits swapped (15%); always a valid date |
//! | [`Moved`](CorruptionKind::Moved) | 2 | a whole new address (number, street, locality, postcode, region; one in ten abroad, country too): the hardest kind, kept rare |
//! | [`PostcodeOff`](CorruptionKind::PostcodeOff) | 3 | one postcode character replaced by another of its kind, or a leading zero lost |
//! | [`Abbreviation`](CorruptionKind::Abbreviation) | 5 | street type or state written the other way (Street/St, straße/str., Rue/R., CA/California) |
//! | [`Email`](CorruptionKind::Email) | 5 | the same mailbox at another provider (50%) or a typo in the address |
//! | [`PhoneRespelled`](CorruptionKind::PhoneRespelled) | 7 | the same number in another spelling |
//! | [`PhoneDigitOff`](CorruptionKind::PhoneDigitOff) | 4 | one digit after the area code wrong, or two swapped |
//!
//! A kind that does not apply to a record (no nickname, no phone, the field at its limit) is
//! drawn again, so the realised shares lean towards the kinds that always apply; each
//! duplicate lists what was done to it in [`GeneratedPerson::corruptions`].

mod corrupt;
mod draw;
mod names;
mod original;
mod phone;
mod places;
#[cfg(test)]
mod tests;
mod text;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use self::corrupt::{Limits, duplicate};
use self::draw::{Seeded, chance, weighted_index};
use self::original::{Original, Tables, population};

/// One generated person record; every field optional, all plain text as a form or an import
/// would hold it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GeneratedPerson {
    /// Unique within a run: "rec-123-org", "rec-123-dup-2" (dedup), "rec-123-a", "rec-123-b"
    /// (linkage). It names the entity: a matcher must not read it.
    pub record_id: String,
    /// The true person: an original and its duplicates share it.
    pub entity: u64,
    /// Whether this is the record the entity was generated as (not a corrupted copy).
    pub is_original: bool,
    /// Given name(s): "Jean-Pierre", "Mary".
    pub given_name: Option<String>,
    /// Family name: "van den Berg", "O'Brien".
    pub family_name: Option<String>,
    /// Date of birth, "YYYY-MM-DD" (always a valid date, if sometimes a wrong one).
    pub date_of_birth: Option<String>,
    /// House number: "12", "12a", "7 bis".
    pub street_number: Option<String>,
    /// Street: "Baker Street", "Hauptstr.", "Rue de la Paix".
    pub street: Option<String>,
    /// Town or city.
    pub locality: Option<String>,
    /// Postcode in the country's format.
    pub postcode: Option<String>,
    /// County, state (code or name), Land or région.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 code.
    pub country: Option<String>,
    /// National identifier in the country's format.
    pub national_id: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Telephone number as written, valid for the country in the originals.
    pub phone: Option<String>,
    /// Employer.
    pub company: Option<String>,
    /// What was done to this copy of the original, in order (empty for originals).
    pub corruptions: Vec<Corruption>,
}

/// A field of a [`GeneratedPerson`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// [`GeneratedPerson::given_name`].
    GivenName,
    /// [`GeneratedPerson::family_name`].
    FamilyName,
    /// [`GeneratedPerson::date_of_birth`].
    DateOfBirth,
    /// [`GeneratedPerson::street_number`].
    StreetNumber,
    /// [`GeneratedPerson::street`].
    Street,
    /// [`GeneratedPerson::locality`].
    Locality,
    /// [`GeneratedPerson::postcode`].
    Postcode,
    /// [`GeneratedPerson::region`].
    Region,
    /// [`GeneratedPerson::country`].
    Country,
    /// [`GeneratedPerson::national_id`].
    NationalId,
    /// [`GeneratedPerson::email`].
    Email,
    /// [`GeneratedPerson::phone`].
    Phone,
    /// [`GeneratedPerson::company`].
    Company,
}

impl Field {
    /// Every field, in the order of [`GeneratedPerson`]'s.
    pub const ALL: [Field; 13] = [
        Field::GivenName,
        Field::FamilyName,
        Field::DateOfBirth,
        Field::StreetNumber,
        Field::Street,
        Field::Locality,
        Field::Postcode,
        Field::Region,
        Field::Country,
        Field::NationalId,
        Field::Email,
        Field::Phone,
        Field::Company,
    ];

    /// The field's name in snake case, as in [`GeneratedPerson`].
    pub fn name(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::DateOfBirth => "date_of_birth",
            Field::StreetNumber => "street_number",
            Field::Street => "street",
            Field::Locality => "locality",
            Field::Postcode => "postcode",
            Field::Region => "region",
            Field::Country => "country",
            Field::NationalId => "national_id",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Company => "company",
        }
    }
}

/// A kind of corruption a duplicate may undergo; the module documentation describes each and
/// its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CorruptionKind {
    /// A keyboard slip: neighbouring key, key twice, key missed, keys swapped.
    Typo,
    /// An OCR confusion: m/rn, l/1, O/0, S/5, B/8, cl/d, ...
    Ocr,
    /// A spelling by ear: ph/f, ck/k, ei/ie, tz/z, doubled letters, silent letters, accents.
    Phonetic,
    /// Capitals, lower case, stray or missing spaces, hyphens, punctuation.
    CaseAndSpacing,
    /// A field left empty.
    Missing,
    /// Given and family name swapped.
    NameSwap,
    /// A nickname for the given name.
    Nickname,
    /// The given name's initial only.
    Initial,
    /// A date mistyped: day and month swapped, a digit off, the year off or its digits swapped.
    Date,
    /// The person moved: a whole new address.
    Moved,
    /// One postcode character off, or a leading zero lost.
    PostcodeOff,
    /// A street type or a state written the other way: Street/St, CA/California.
    Abbreviation,
    /// The mailbox at another provider, or a typo in it.
    Email,
    /// The phone number written another way.
    PhoneRespelled,
    /// One phone digit wrong or two swapped.
    PhoneDigitOff,
}

impl CorruptionKind {
    /// Every kind.
    pub const ALL: [CorruptionKind; 15] = [
        CorruptionKind::Typo,
        CorruptionKind::Ocr,
        CorruptionKind::Phonetic,
        CorruptionKind::CaseAndSpacing,
        CorruptionKind::Missing,
        CorruptionKind::NameSwap,
        CorruptionKind::Nickname,
        CorruptionKind::Initial,
        CorruptionKind::Date,
        CorruptionKind::Moved,
        CorruptionKind::PostcodeOff,
        CorruptionKind::Abbreviation,
        CorruptionKind::Email,
        CorruptionKind::PhoneRespelled,
        CorruptionKind::PhoneDigitOff,
    ];

    /// The kind's weight out of 100 when a corruption is drawn.
    pub fn weight(self) -> u32 {
        match self {
            CorruptionKind::Typo => 20,
            CorruptionKind::Missing => 12,
            CorruptionKind::Phonetic => 10,
            CorruptionKind::CaseAndSpacing => 8,
            CorruptionKind::Date | CorruptionKind::PhoneRespelled => 7,
            CorruptionKind::Ocr => 6,
            CorruptionKind::Nickname | CorruptionKind::Abbreviation | CorruptionKind::Email => 5,
            CorruptionKind::PhoneDigitOff => 4,
            CorruptionKind::NameSwap | CorruptionKind::Initial | CorruptionKind::PostcodeOff => 3,
            CorruptionKind::Moved => 2,
        }
    }
}

/// One corruption applied to a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Corruption {
    /// What was done.
    pub kind: CorruptionKind,
    /// The field it was done to; for a kind that changes several, the first:
    /// [`Field::GivenName`] for [`CorruptionKind::NameSwap`], [`Field::Street`] for
    /// [`CorruptionKind::Moved`].
    pub field: Field,
}

impl GeneratedPerson {
    /// The value of `field`.
    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::GivenName => self.given_name.as_deref(),
            Field::FamilyName => self.family_name.as_deref(),
            Field::DateOfBirth => self.date_of_birth.as_deref(),
            Field::StreetNumber => self.street_number.as_deref(),
            Field::Street => self.street.as_deref(),
            Field::Locality => self.locality.as_deref(),
            Field::Postcode => self.postcode.as_deref(),
            Field::Region => self.region.as_deref(),
            Field::Country => self.country.as_deref(),
            Field::NationalId => self.national_id.as_deref(),
            Field::Email => self.email.as_deref(),
            Field::Phone => self.phone.as_deref(),
            Field::Company => self.company.as_deref(),
        }
    }

    fn slot_mut(&mut self, field: Field) -> &mut Option<String> {
        match field {
            Field::GivenName => &mut self.given_name,
            Field::FamilyName => &mut self.family_name,
            Field::DateOfBirth => &mut self.date_of_birth,
            Field::StreetNumber => &mut self.street_number,
            Field::Street => &mut self.street,
            Field::Locality => &mut self.locality,
            Field::Postcode => &mut self.postcode,
            Field::Region => &mut self.region,
            Field::Country => &mut self.country,
            Field::NationalId => &mut self.national_id,
            Field::Email => &mut self.email,
            Field::Phone => &mut self.phone,
            Field::Company => &mut self.company,
        }
    }

    /// Whether every field holds the same value as in `other` (ids, truth and corruptions
    /// aside).
    pub fn same_values(&self, other: &GeneratedPerson) -> bool {
        Field::ALL
            .iter()
            .all(|field| self.get(*field) == other.get(*field))
    }
}

/// The settings of a deduplication benchmark ([`generate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorSettings {
    /// The seed: the same settings give the same records, byte for byte.
    pub seed: u64,
    /// How many originals (people); the records number about
    /// [`GeneratorSettings::expected_records`].
    pub originals: usize,
    /// The most duplicates one original gets, 1 to 5.
    pub max_duplicates: usize,
    /// The share of originals that get duplicates, 0 to 1.
    pub duplicate_share: f64,
    /// The most corruptions in one duplicate (at least 1).
    pub max_modifications_per_record: usize,
    /// The most corruptions of one field of a duplicate (at least 1).
    pub max_modifications_per_field: usize,
    /// The base chance that a field of an original is empty (see the module documentation
    /// for each field's factor), 0 to 1.
    pub missing_share: f64,
    /// The share of people living in a household with other generated people, 0 to 1.
    pub household_share: f64,
}

/// The weight of `k` duplicates for one original: `60 / k` (with 5: 44%, 22%, 15%, 11%, 9%).
fn duplicate_weights(max_duplicates: usize) -> Vec<u32> {
    (1..=max_duplicates.clamp(1, 5))
        .map(|k| 60 / u32::try_from(k).unwrap_or(1))
        .collect()
}

impl GeneratorSettings {
    /// Settings giving about `records` records in all: half the originals duplicated, up to
    /// five duplicates each, up to four corruptions per duplicate and two per field, 10% base
    /// missing share, 30% of people in households.
    pub fn dedup(records: usize, seed: u64) -> Self {
        let mut settings = GeneratorSettings {
            seed,
            originals: 1,
            max_duplicates: 5,
            duplicate_share: 0.5,
            max_modifications_per_record: 4,
            max_modifications_per_field: 2,
            missing_share: 0.1,
            household_share: 0.3,
        };
        let per_original = settings.expected_records();
        settings.originals = round_count(to_f64(records) / per_original).max(1);
        settings
    }

    /// The expected number of records: originals, and their expected duplicates.
    pub fn expected_records(&self) -> f64 {
        let weights = duplicate_weights(self.max_duplicates);
        let total: u32 = weights.iter().sum();
        let mean: f64 = weights
            .iter()
            .zip(1_u32..)
            .map(|(weight, k)| f64::from(*weight) * f64::from(k))
            .sum::<f64>()
            / f64::from(total);
        to_f64(self.originals) * (1.0 + self.duplicate_share * mean)
    }

    fn limits(&self) -> Limits {
        Limits {
            per_record: self.max_modifications_per_record,
            per_field: self.max_modifications_per_field,
        }
    }

    fn check(&self) {
        assert!(
            (1..=5).contains(&self.max_duplicates),
            "max_duplicates must be 1 to 5, not {}",
            self.max_duplicates
        );
        check_share("duplicate_share", self.duplicate_share);
        check_share("missing_share", self.missing_share);
        check_share("household_share", self.household_share);
    }
}

/// A count as a float (exact below 2^53, far above any record count).
#[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
fn to_f64(count: usize) -> f64 {
    count as f64
}

/// A non-negative float rounded to a count.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a non-negative count"
)]
fn round_count(value: f64) -> usize {
    value.round().max(0.0) as usize
}

fn check_share(name: &str, share: f64) {
    assert!(
        (0.0..=1.0).contains(&share),
        "{name} must be 0 to 1, not {share}"
    );
}

/// The independent streams of one seed: changing the duplicates' settings leaves the
/// originals as they were.
fn stream(seed: u64, stream: u64) -> Seeded {
    let mut rng = Seeded::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

const ORIGINALS: u64 = 1;
const DUPLICATES: u64 = 2;
const SHUFFLE: u64 = 3;

/// One file to deduplicate: the originals and their duplicates, shuffled.
///
/// # Panics
///
/// When a setting is out of its range (see [`GeneratorSettings`]).
pub fn generate(settings: &GeneratorSettings) -> Vec<GeneratedPerson> {
    settings.check();
    let tables = Tables::new();
    let mut rng = stream(settings.seed, ORIGINALS);
    let originals = population(
        settings.originals,
        settings.missing_share,
        settings.household_share,
        &tables,
        &mut rng,
    );
    let mut rng = stream(settings.seed, DUPLICATES);
    let weights = duplicate_weights(settings.max_duplicates);
    let limits = settings.limits();
    let mut records = Vec::with_capacity(settings.originals * 5 / 2 + 16);
    for (entity, original) in (0_u64..).zip(&originals) {
        if !chance(&mut rng, settings.duplicate_share) {
            continue;
        }
        let count = 1 + weighted_index(&mut rng, &weights);
        for k in 0..count {
            let mut record = duplicate(original, limits, &tables, &mut rng);
            record.entity = entity;
            record.record_id = format!("rec-{entity}-dup-{k}");
            records.push(record);
        }
    }
    for (entity, Original { mut record, .. }) in (0_u64..).zip(originals) {
        record.entity = entity;
        record.record_id = format!("rec-{entity}-org");
        records.push(record);
    }
    records.shuffle(&mut stream(settings.seed, SHUFFLE));
    records
}

/// The settings of a linkage benchmark ([`generate_linkage`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkageSettings {
    /// The seed: the same settings give the same files, byte for byte.
    pub seed: u64,
    /// Records in the left file: originals.
    pub left: usize,
    /// Records in the right file: corrupted copies of left people, and people of its own.
    pub right: usize,
    /// The share of the right file's records that are copies of left people, 0 to 1 (at most
    /// `left` of them).
    pub overlap_share: f64,
    /// The most corruptions in one copy (at least 1).
    pub max_modifications_per_record: usize,
    /// The most corruptions of one field of a copy (at least 1).
    pub max_modifications_per_field: usize,
    /// The base chance that a field of an original is empty, 0 to 1.
    pub missing_share: f64,
    /// The share of people living in a household with other generated people, 0 to 1.
    pub household_share: f64,
}

impl LinkageSettings {
    /// Two files of `left` and `right` records, half the right file's people also in the
    /// left; other settings as in [`GeneratorSettings::dedup`].
    pub fn linkage(left: usize, right: usize, seed: u64) -> Self {
        LinkageSettings {
            seed,
            left,
            right,
            overlap_share: 0.5,
            max_modifications_per_record: 4,
            max_modifications_per_field: 2,
            missing_share: 0.1,
            household_share: 0.3,
        }
    }

    /// How many people are in both files.
    pub fn overlap(&self) -> usize {
        let overlap = round_count(to_f64(self.right) * self.overlap_share);
        overlap.min(self.left).min(self.right)
    }
}

/// Two files to link; the people in both share [`GeneratedPerson::entity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageFiles {
    /// Originals, shuffled; no two of the same person.
    pub left: Vec<GeneratedPerson>,
    /// Corrupted copies of some left people and originals of others, shuffled; no two of the
    /// same person.
    pub right: Vec<GeneratedPerson>,
}

impl LinkageFiles {
    /// The number of true matches: people in both files.
    pub fn true_matches(&self) -> usize {
        let left: std::collections::HashSet<u64> = self.left.iter().map(|r| r.entity).collect();
        self.right
            .iter()
            .filter(|r| left.contains(&r.entity))
            .count()
    }
}

/// Where a person of a linkage benchmark goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Both,
    Left,
    Right,
}

/// Two files to link: [`LinkageSettings::overlap`] people in both (the right-hand copy
/// corrupted as a duplicate is), the rest in one file only.
///
/// # Panics
///
/// When a share is not between 0 and 1.
pub fn generate_linkage(settings: &LinkageSettings) -> LinkageFiles {
    check_share("overlap_share", settings.overlap_share);
    check_share("missing_share", settings.missing_share);
    check_share("household_share", settings.household_share);
    let overlap = settings.overlap();
    let people = settings.left + settings.right - overlap;
    let tables = Tables::new();
    let mut rng = stream(settings.seed, ORIGINALS);
    let originals = population(
        people,
        settings.missing_share,
        settings.household_share,
        &tables,
        &mut rng,
    );
    // Who goes where, at random so that households straddle the files.
    let mut order: Vec<usize> = (0..people).collect();
    order.shuffle(&mut stream(settings.seed, SHUFFLE));
    let mut side = vec![Side::Right; people];
    for (rank, &entity) in order.iter().enumerate() {
        if rank < overlap {
            side[entity] = Side::Both;
        } else if rank < settings.left {
            side[entity] = Side::Left;
        }
    }
    let limits = Limits {
        per_record: settings.max_modifications_per_record,
        per_field: settings.max_modifications_per_field,
    };
    let mut rng = stream(settings.seed, DUPLICATES);
    let mut left = Vec::with_capacity(settings.left);
    let mut right = Vec::with_capacity(settings.right);
    for ((entity, original), side) in (0_u64..).zip(originals).zip(side) {
        if side == Side::Both {
            let mut copy = duplicate(&original, limits, &tables, &mut rng);
            copy.entity = entity;
            copy.record_id = format!("rec-{entity}-b");
            right.push(copy);
        }
        let mut record = original.record;
        record.entity = entity;
        if side == Side::Right {
            record.record_id = format!("rec-{entity}-b");
            right.push(record);
        } else {
            record.record_id = format!("rec-{entity}-a");
            left.push(record);
        }
    }
    let mut rng = stream(settings.seed, SHUFFLE + 1);
    left.shuffle(&mut rng);
    right.shuffle(&mut rng);
    LinkageFiles { left, right }
}

/// The number of same-entity pairs among `records`: `n (n - 1) / 2` per entity with `n`
/// records. The denominator of recall for deduplication.
pub fn true_pairs(records: &[GeneratedPerson]) -> usize {
    let mut entities: Vec<u64> = records.iter().map(|r| r.entity).collect();
    entities.sort_unstable();
    entities
        .chunk_by(|a, b| a == b)
        .map(|group| group.len() * (group.len() - 1) / 2)
        .sum()
}
