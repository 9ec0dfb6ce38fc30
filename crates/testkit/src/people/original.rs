//! The originals: people drawn from the tables, some living together in households that share
//! a family name, an address, a landline and sometimes an employer or an email address.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::GeneratedPerson;
use super::draw::{
    Cumulative, Seeded, below, between, chance, one, weighted, weighted_by, weighted_index,
};
use super::names::Culture;
use super::phone::Phone;
use super::places::{Country, GERMAN_CITY_STREETS, Locality, Postcodes};
use super::text::ascii_fold;

/// What the corruptions need to know about an original beyond its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Truth {
    /// The country the person lives in (the keyboard they type on, where they move).
    pub(super) country: Country,
    /// The phone number as recorded and its spelling, when the record has one.
    pub(super) phone: Option<(Phone, usize)>,
}

/// An original record and its truth.
#[derive(Debug)]
pub(super) struct Original {
    pub(super) record: GeneratedPerson,
    pub(super) truth: Truth,
}

/// The samplers of the long tables, built once per run.
pub(super) struct Tables {
    /// By culture: female, male given names; family names.
    given: Vec<[Cumulative; 2]>,
    family: Vec<Cumulative>,
    /// By country: localities by weight; street names.
    localities: Vec<Cumulative>,
    streets: Vec<Cumulative>,
}

impl Tables {
    pub(super) fn new() -> Tables {
        Tables {
            given: Culture::ALL
                .iter()
                .map(|culture| {
                    let names = culture.names();
                    [
                        Cumulative::zipf(names.female.len()),
                        Cumulative::zipf(names.male.len()),
                    ]
                })
                .collect(),
            family: Culture::ALL
                .iter()
                .map(|culture| Cumulative::zipf(culture.names().family.len()))
                .collect(),
            localities: Country::ALL
                .iter()
                .map(|country| Cumulative::new(country.localities().iter().map(|l| l.weight)))
                .collect(),
            streets: Country::ALL
                .iter()
                .map(|country| Cumulative::zipf(country.street_names().len()))
                .collect(),
        }
    }

    fn culture(country: Country, rng: &mut Seeded) -> Culture {
        Culture::ALL[weighted_index(rng, &country.cultures())]
    }

    fn given(&self, culture: Culture, sex: Sex, rng: &mut Seeded) -> &'static str {
        let names = culture.names();
        let (list, index) = match sex {
            Sex::Female => (names.female, self.given[culture as usize][0].draw(rng)),
            Sex::Male => (names.male, self.given[culture as usize][1].draw(rng)),
        };
        list[index]
    }

    fn family(&self, culture: Culture, rng: &mut Seeded) -> &'static str {
        culture.names().family[self.family[culture as usize].draw(rng)]
    }

    /// A new address in `country`.
    pub(super) fn address(&self, country: Country, rng: &mut Seeded) -> Address {
        let locality = &country.localities()[self.localities[country as usize].draw(rng)];
        let name = country.street_names()[self.streets[country as usize].draw(rng)];
        let (full, abbreviation, _) = *weighted_triple(rng, country.street_types());
        let abbreviated = !abbreviation.is_empty() && chance(rng, 0.2);
        let kind = if abbreviated { abbreviation } else { full };
        let street = match country {
            Country::Fr => format!("{kind} {name}"),
            Country::De if chance(rng, 0.15) => {
                let city = one(rng, GERMAN_CITY_STREETS);
                let kind = if chance(rng, 0.2) { "Str." } else { "Straße" };
                format!("{city} {kind}")
            }
            Country::De => format!("{name}{kind}"),
            Country::Gb | Country::Us | Country::Au => {
                let dot = abbreviated && chance(rng, 0.25);
                format!("{name} {kind}{}", if dot { "." } else { "" })
            }
        };
        // Low numbers are the most common: the smaller of two draws in 1..=300.
        let number = 1 + below(rng, 300).min(below(rng, 300));
        let street_number = if chance(rng, 0.05) {
            match country {
                Country::Fr => format!("{number}{}", one(rng, &[" bis", "bis", " ter"])),
                Country::Us => format!("{number}{}", one(rng, &["A", "B", " 1/2"])),
                _ => format!("{number}{}", one(rng, &["a", "b", "A"])),
            }
        } else {
            number.to_string()
        };
        let region = if locality.region_full != locality.region && chance(rng, 0.15) {
            locality.region_full
        } else {
            locality.region
        };
        Address {
            country,
            street_number,
            street,
            postcode: postcode(country, locality, rng),
            locality,
            region: region.to_owned(),
        }
    }
}

fn weighted_triple<'a>(
    rng: &mut Seeded,
    table: &'a [(&'static str, &'static str, u32)],
) -> &'a (&'static str, &'static str, u32) {
    &table[weighted_by(rng, table, |row| row.2)]
}

/// A postcode of `locality`, as written in `country`.
fn postcode(country: Country, locality: &Locality, rng: &mut Seeded) -> String {
    let width = country.postcode_width();
    match locality.postcodes {
        Postcodes::Gb(areas, districts) => {
            const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
            let area = one(rng, areas);
            let district = between(rng, 1, districts);
            let sector = below(rng, 10);
            let unit = [char::from(*one(rng, INWARD)), char::from(*one(rng, INWARD))];
            format!("{area}{district} {sector}{}{}", unit[0], unit[1])
        }
        Postcodes::Range(low, high) => {
            let code = between(rng, low, high);
            if matches!(country, Country::Us) && chance(rng, 0.05) {
                format!("{code:0width$}-{:04}", between(rng, 1, 9999))
            } else {
                format!("{code:0width$}")
            }
        }
        Postcodes::List(codes) => format!("{:0width$}", one(rng, codes)),
    }
}

/// An address as written on a form.
#[derive(Debug, Clone)]
pub(super) struct Address {
    pub(super) country: Country,
    pub(super) street_number: String,
    pub(super) street: String,
    pub(super) locality: &'static Locality,
    pub(super) postcode: String,
    pub(super) region: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sex {
    Female,
    Male,
}

impl Sex {
    fn draw(rng: &mut Seeded) -> Sex {
        if chance(rng, 0.5) {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    fn other(self) -> Sex {
        match self {
            Sex::Female => Sex::Male,
            Sex::Male => Sex::Female,
        }
    }
}

/// A date of birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Date {
    pub(super) year: u32,
    pub(super) month: u32,
    pub(super) day: u32,
}

/// The oldest and the youngest year of birth.
pub(super) const YEARS: (u32, u32) = (1940, 2005);

impl Date {
    /// A birthday in `year`.
    fn in_year(year: u32, rng: &mut Seeded) -> Date {
        let month = between(rng, 1, 12);
        let day = between(rng, 1, days_in_month(year, month));
        Date { year, month, day }
    }

    /// A year of birth: two draws added, so the middle years are the most common.
    fn draw_year(rng: &mut Seeded) -> u32 {
        let span = YEARS.1 - YEARS.0;
        let half = u32::try_from(below(rng, (span / 2 + 1) as usize)).unwrap_or(0);
        let rest = u32::try_from(below(rng, (span - span / 2 + 1) as usize)).unwrap_or(0);
        YEARS.0 + half + rest
    }

    /// "YYYY-MM-DD".
    pub(super) fn text(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// Parses "YYYY-MM-DD" (only a valid date).
    pub(super) fn parse(text: &str) -> Option<Date> {
        let mut parts = text.splitn(3, '-');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.parse().ok()?;
        let date = Date { year, month, day };
        date.is_valid().then_some(date)
    }

    pub(super) fn is_valid(self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// One person before fields go missing.
#[derive(Debug, Clone)]
struct Draft {
    sex: Sex,
    culture: Culture,
    given: &'static str,
    family: &'static str,
    born: Date,
    national_id: String,
    email: String,
    phone: Phone,
    company: Option<(&'static str, &'static str)>,
}

/// Keeps the identifiers people do not share apart: national ids, phone numbers, email
/// addresses (except where a household shares them on purpose). Emails are kept as 64-bit
/// hashes: a collision (one in ten billion at a million people) only adds a needless number.
struct Taken {
    ids: Keys,
    phones: Keys,
    emails: Keys,
}

/// A set of 64-bit keys, hashed cheaply (the keys are not adversarial).
type Keys = HashSet<u64, BuildHasherDefault<Multiply>>;

/// A hasher for `u64` keys: a multiplication and SplitMix64's finaliser, much cheaper than
/// SipHash.
#[derive(Default)]
struct Multiply(u64);

impl Hasher for Multiply {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = (self.0 ^ key).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // SplitMix64's finaliser: every bit of the key reaches every bit of the hash.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// FNV-1a, 64 bits: the key of an email address.
fn text_key(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The key of the mailbox an address delivers to: the address in lower case, and at Gmail
/// without the dots of its mailbox name (Gmail delivers `jane.doe@` and `janedoe@` to one
/// mailbox, so two people can never hold both).
fn mailbox_key(address: &str) -> u64 {
    let address = address.to_lowercase();
    match address.rsplit_once('@') {
        Some((mailbox, "gmail.com" | "googlemail.com")) => {
            text_key(&format!("{}@gmail.com", mailbox.replace('.', "")))
        }
        _ => text_key(&address),
    }
}

/// Draws `count` originals: singles, and households of two to four.
pub(super) fn population(
    count: usize,
    missing_share: f64,
    household_share: f64,
    tables: &Tables,
    rng: &mut Seeded,
) -> Vec<Original> {
    let mut originals = Vec::with_capacity(count);
    let mut taken = Taken {
        ids: Keys::with_capacity_and_hasher(count, BuildHasherDefault::default()),
        phones: Keys::with_capacity_and_hasher(count, BuildHasherDefault::default()),
        emails: Keys::with_capacity_and_hasher(count, BuildHasherDefault::default()),
    };
    // A household holds 2.7 people on average: start one often enough that `household_share`
    // of all people live in one.
    let mean_size = 2.7;
    let start_household = household_share / (mean_size - (mean_size - 1.0) * household_share);
    while originals.len() < count {
        let size = if chance(rng, start_household) {
            *weighted(rng, &[(2_usize, 50), (3, 30), (4, 20)])
        } else {
            1
        };
        let size = size.min(count - originals.len());
        let (address, members) = household(size, tables, &mut taken, rng);
        for draft in members {
            originals.push(finish(draft, &address, missing_share, rng));
        }
    }
    originals
}

fn household(
    size: usize,
    tables: &Tables,
    taken: &mut Taken,
    rng: &mut Seeded,
) -> (Address, Vec<Draft>) {
    let country = Country::ALL[weighted_index(rng, &Country::WEIGHTS)];
    let address = tables.address(country, rng);
    let landline = unique_phone(taken, rng, |rng| {
        Phone::landline(country, address.locality, rng)
    });
    let head_sex = Sex::draw(rng);
    let head_culture = Tables::culture(country, rng);
    let head_born = Date::in_year(Date::draw_year(rng), rng);
    let head = person(
        tables,
        taken,
        rng,
        head_sex,
        head_culture,
        None,
        head_born,
        &address,
        landline,
    );
    let mut members = vec![head];
    for k in 1..size {
        let head = &members[0];
        let partner = k == 1 && chance(rng, 0.75);
        let old_enough = head.born.year + 22 <= YEARS.1;
        let draft = if partner {
            let sex = if chance(rng, 0.92) {
                head.sex.other()
            } else {
                head.sex
            };
            let culture = if chance(rng, 0.8) {
                head.culture
            } else {
                Tables::culture(country, rng)
            };
            let family = chance(rng, 0.65).then_some(head.family);
            let year = shift_year(head.born.year, between(rng, 0, 7), rng);
            let born = Date::in_year(year, rng);
            let mut partner = person(
                tables, taken, rng, sex, culture, family, born, &address, landline,
            );
            if chance(rng, 0.15) {
                partner.company = head.company;
            }
            if chance(rng, 0.1) {
                partner.email.clone_from(&head.email);
            }
            partner
        } else if k >= 2 && old_enough && members.len() >= 2 {
            // A grown-up child of the head: born 22 to 38 years later, rarely a junior with
            // the parent's given name, sometimes a twin of the previous child.
            let sex = Sex::draw(rng);
            let previous = members.last().filter(|m| m.born.year > head.born.year + 15);
            let born = match previous {
                Some(twin) if chance(rng, 0.15) => twin.born,
                _ => Date::in_year((head.born.year + between(rng, 22, 38)).min(YEARS.1), rng),
            };
            let mut child = person(
                tables,
                taken,
                rng,
                sex,
                head.culture,
                Some(head.family),
                born,
                &address,
                landline,
            );
            if sex == head.sex && chance(rng, 0.08) {
                child.given = head.given;
                child.email = email(
                    child.given,
                    child.family,
                    child.born,
                    child.company,
                    country,
                    taken,
                    rng,
                );
            }
            child
        } else {
            // A sibling: same family, born within ten years, one in ten a twin.
            let born = if chance(rng, 0.1) {
                head.born
            } else {
                Date::in_year(shift_year(head.born.year, between(rng, 1, 10), rng), rng)
            };
            let sex = Sex::draw(rng);
            let culture = head.culture;
            let family = Some(head.family);
            person(
                tables, taken, rng, sex, culture, family, born, &address, landline,
            )
        };
        members.push(draft);
    }
    (address, members)
}

/// `year` moved by `by` years up or down, kept within the years of birth.
fn shift_year(year: u32, by: u32, rng: &mut Seeded) -> u32 {
    let moved = if chance(rng, 0.5) {
        year + by
    } else {
        year.saturating_sub(by)
    };
    moved.clamp(YEARS.0, YEARS.1)
}

#[allow(clippy::too_many_arguments, reason = "one person of a household")]
fn person(
    tables: &Tables,
    taken: &mut Taken,
    rng: &mut Seeded,
    sex: Sex,
    culture: Culture,
    family: Option<&'static str>,
    born: Date,
    address: &Address,
    landline: Phone,
) -> Draft {
    let country = address.country;
    let given = tables.given(culture, sex, rng);
    let family = family.unwrap_or_else(|| {
        let family_culture = if chance(rng, 0.9) {
            culture
        } else {
            Tables::culture(country, rng)
        };
        tables.family(family_culture, rng)
    });
    let company = chance(rng, 0.6).then(|| *one(rng, country.companies()));
    let phone = if chance(rng, 0.5) {
        landline
    } else {
        unique_phone(taken, rng, |rng| {
            Phone::mobile(country, address.locality, rng)
        })
    };
    let national_id = loop {
        let (key, text) = national_id(country, sex, born, address, rng);
        if taken.ids.insert(key) {
            break text;
        }
    };
    let email = email(given, family, born, company, country, taken, rng);
    Draft {
        sex,
        culture,
        given,
        family,
        born,
        national_id,
        email,
        phone,
        company,
    }
}

fn unique_phone(
    taken: &mut Taken,
    rng: &mut Seeded,
    mut draw: impl FnMut(&mut Seeded) -> Phone,
) -> Phone {
    loop {
        let phone = draw(rng);
        if taken.phones.insert(phone.key()) {
            return phone;
        }
    }
}

/// An email address made from the name: "jane.doe@", "jdoe77@", "doe.jane@", "jane.doe85@"
/// at a provider of the country or at the employer's domain; a number is added until no one
/// else has it.
fn email(
    given: &str,
    family: &str,
    born: Date,
    company: Option<(&'static str, &'static str)>,
    country: Country,
    taken: &mut Taken,
    rng: &mut Seeded,
) -> String {
    let g = ascii_fold(given);
    let f = ascii_fold(family);
    let gi = g.get(..1).unwrap_or("x");
    let fi = f.get(..1).unwrap_or("x");
    let yy = born.year % 100;
    let nn = between(rng, 1, 99);
    let local = match weighted_index(rng, &[30, 15, 10, 8, 10, 5, 10, 7, 5]) {
        0 => format!("{g}.{f}"),
        1 => format!("{gi}{f}{nn}"),
        2 => format!("{g}{f}"),
        3 => format!("{g}_{f}"),
        4 => format!("{g}.{f}{yy:02}"),
        5 => format!("{f}.{g}"),
        6 => format!("{g}{}", between(rng, 1, 999)),
        7 => format!("{gi}.{f}"),
        _ => format!("{g}{fi}"),
    };
    let domain = match company {
        Some((_, domain)) if chance(rng, 0.25) => domain,
        _ => weighted(rng, country.email_providers()),
    };
    let mut address = format!("{local}@{domain}");
    while !taken.emails.insert(mailbox_key(&address)) {
        address = format!("{local}{}@{domain}", between(rng, 1, 999));
    }
    address
}

/// A national identifier in the country's format, and a key unique to it.
fn national_id(
    country: Country,
    sex: Sex,
    born: Date,
    address: &Address,
    rng: &mut Seeded,
) -> (u64, String) {
    let tag = country as u64;
    match country {
        Country::Gb => {
            // National Insurance number: two letters (not D F I Q U V; not O second; not the
            // reserved pairs), six digits, a letter A to D.
            const FIRST: &[u8] = b"ABCEGHJKLMNOPRSTWXYZ";
            const SECOND: &[u8] = b"ABCEGHJKLMNPRSTWXYZ";
            const RESERVED: [&[u8; 2]; 7] = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
            let (a, b) = loop {
                let pair = [*one(rng, FIRST), *one(rng, SECOND)];
                if !RESERVED.contains(&&pair) {
                    break (pair[0], pair[1]);
                }
            };
            let digits = between(rng, 0, 999_999);
            let suffix = b"ABCD"[below(rng, 4)];
            let key = ((u64::from(a) * 256 + u64::from(b)) * 1_000_000 + u64::from(digits)) * 4
                + u64::from(suffix - b'A');
            let (a, b, suffix) = (char::from(a), char::from(b), char::from(suffix));
            let text = if chance(rng, 0.7) {
                let d = format!("{digits:06}");
                format!("{a}{b} {} {} {} {suffix}", &d[..2], &d[2..4], &d[4..])
            } else {
                format!("{a}{b}{digits:06}{suffix}")
            };
            (key * 8 + tag, text)
        }
        Country::Us => {
            // Social Security number: area 001-899 but 666, group 01-99, serial 0001-9999.
            let area = loop {
                let area = between(rng, 1, 899);
                if area != 666 {
                    break area;
                }
            };
            let group = between(rng, 1, 99);
            let serial = between(rng, 1, 9999);
            let key = u64::from(area) * 1_000_000 + u64::from(group) * 10_000 + u64::from(serial);
            let text = match weighted_index(rng, &[80, 15, 5]) {
                0 => format!("{area:03}-{group:02}-{serial:04}"),
                1 => format!("{area:03}{group:02}{serial:04}"),
                _ => format!("{area:03} {group:02} {serial:04}"),
            };
            (key * 8 + tag, text)
        }
        Country::De => {
            // Steuerliche Identifikationsnummer: ten digits (the first not 0) and a check
            // digit by ISO 7064 MOD 11,10.
            let mut digits = [0_u32; 11];
            digits[0] = between(rng, 1, 9);
            for d in &mut digits[1..10] {
                *d = between(rng, 0, 9);
            }
            let mut product = 10;
            for d in &digits[..10] {
                let mut sum = (d + product) % 10;
                if sum == 0 {
                    sum = 10;
                }
                product = (sum * 2) % 11;
            }
            digits[10] = (11 - product) % 10;
            let number: String = digits
                .iter()
                .map(|d| char::from(b'0' + u8::try_from(*d).unwrap_or(0)))
                .collect();
            let key = number.parse::<u64>().unwrap_or(0);
            let text = if chance(rng, 0.4) {
                format!(
                    "{} {} {} {}",
                    &number[..2],
                    &number[2..5],
                    &number[5..8],
                    &number[8..]
                )
            } else {
                number
            };
            (key * 8 + tag, text)
        }
        Country::Fr => {
            // Numéro de sécurité sociale: sex, year, month, département of birth, commune,
            // order, and the key 97 - (number mod 97).
            let sex_digit = match sex {
                Sex::Male => 1,
                Sex::Female => 2,
            };
            let home: u32 = address
                .postcode
                .get(..2)
                .and_then(|d| d.parse().ok())
                .unwrap_or(75);
            let department = if chance(rng, 0.5) {
                home
            } else {
                loop {
                    let d = between(rng, 1, 95);
                    if d != 20 {
                        break d;
                    }
                }
            };
            let commune = between(rng, 1, 999);
            let order = between(rng, 1, 999);
            let number = format!(
                "{sex_digit}{:02}{:02}{department:02}{commune:03}{order:03}",
                born.year % 100,
                born.month
            );
            let value = number.parse::<u64>().unwrap_or(0);
            let check = 97 - value % 97;
            let text = if chance(rng, 0.6) {
                format!(
                    "{} {} {} {} {} {} {check:02}",
                    &number[..1],
                    &number[1..3],
                    &number[3..5],
                    &number[5..7],
                    &number[7..10],
                    &number[10..]
                )
            } else {
                format!("{number}{check:02}")
            };
            (value * 8 + tag, text)
        }
        Country::Au => {
            // Tax file number: nine digits whose weighted sum (1 4 3 7 5 8 6 9 10) is a
            // multiple of 11.
            const WEIGHTS: [u32; 9] = [1, 4, 3, 7, 5, 8, 6, 9, 10];
            let digits = loop {
                let mut digits = [0_u32; 9];
                for d in &mut digits[..8] {
                    *d = between(rng, 0, 9);
                }
                let partial: u32 = digits[..8].iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
                // 10 * last ≡ -partial (mod 11), and 10 ≡ -1, so last ≡ partial (mod 11).
                let last = partial % 11;
                if last < 10 && digits[0] != 0 {
                    digits[8] = last;
                    break digits;
                }
            };
            let number: String = digits
                .iter()
                .map(|d| char::from(b'0' + u8::try_from(*d).unwrap_or(0)))
                .collect();
            let key = number.parse::<u64>().unwrap_or(0);
            let text = if chance(rng, 0.6) {
                format!("{} {} {}", &number[..3], &number[3..6], &number[6..])
            } else {
                number
            };
            (key * 8 + tag, text)
        }
    }
}

/// How much likelier than `missing_share` each field is to be empty in an original, in the
/// order of [`super::Field::ALL`]: names rarely, identifiers often.
const MISSING: [f64; 13] = [
    0.3,  // given name
    0.05, // family name
    1.0,  // date of birth
    0.8,  // street number
    0.6,  // street
    0.5,  // locality
    0.8,  // postcode
    1.5,  // region
    0.5,  // country
    3.0,  // national id
    1.0,  // email
    1.0,  // phone
    1.0,  // company (on top of the 40% of people without an employer)
];

/// The record of a draft, with fields gone missing.
fn finish(draft: Draft, address: &Address, missing_share: f64, rng: &mut Seeded) -> Original {
    let phone_style = Phone::draw_style(address.country, rng);
    let Draft {
        given,
        family,
        born,
        national_id,
        email,
        phone,
        company,
        ..
    } = draft;
    let mut values: [Option<String>; 13] = [
        Some(given.to_owned()),
        Some(family.to_owned()),
        Some(born.text()),
        Some(address.street_number.clone()),
        Some(address.street.clone()),
        Some(address.locality.name.to_owned()),
        Some(address.postcode.clone()),
        Some(address.region.clone()),
        Some(address.country.code().to_owned()),
        Some(national_id),
        Some(email),
        Some(phone.format(phone_style)),
        company.map(|(name, _)| name.to_owned()),
    ];
    for (value, multiplier) in values.iter_mut().zip(MISSING) {
        let p = (missing_share * multiplier).min(0.95);
        if chance(rng, p) {
            *value = None;
        }
    }
    if values[0].is_none() && values[1].is_none() {
        values[1] = Some(family.to_owned());
    }
    let truth = Truth {
        country: address.country,
        phone: values[11].is_some().then_some((phone, phone_style)),
    };
    let [
        given_name,
        family_name,
        date_of_birth,
        street_number,
        street,
        locality,
        postcode,
        region,
        country,
        national_id,
        email,
        phone,
        company,
    ] = values;
    let record = GeneratedPerson {
        record_id: String::new(),
        entity: 0,
        is_original: true,
        given_name,
        family_name,
        date_of_birth,
        street_number,
        street,
        locality,
        postcode,
        region,
        country,
        national_id,
        email,
        phone,
        company,
        corruptions: Vec::new(),
    };
    Original { record, truth }
}
