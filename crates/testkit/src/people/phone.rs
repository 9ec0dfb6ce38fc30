//! Telephone numbers: drawn from ranges valid for their country (checked against
//! libphonenumber's metadata in the tests), and written the many ways people write them.
//!
//! The numbers are random within valid ranges, not the few reserved "fictional" ranges (which
//! hold a thousand numbers each, too few for a million distinct people).

use super::draw::{Seeded, below, chance, one};
use super::places::{Country, Locality};

/// A telephone number: its country and national significant number (the digits after the
/// country code, without the trunk prefix 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Phone {
    pub(super) country: Country,
    digits: [u8; 12],
    len: u8,
    /// Leading digits written as a group of their own: the area code, or a mobile prefix.
    area: u8,
    mobile: bool,
}

/// A way of writing a number: `0` is the trunk prefix, `area` the area code or mobile prefix,
/// `group` the rest grouped as the country groups it.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `0area group`: "020 7946 0123", "01 23 45 67 89", "0412 345 678".
    National,
    /// `(0area) group`: "(020) 7946 0123", "(02) 9876 5432" (a mobile: as `National`).
    NationalParenthesised,
    /// `0nsn`: "02079460123".
    NationalCompact,
    /// `0area` and the groups joined by the character: "030/12345678", "01.23.45.67.89".
    NationalJoined(char),
    /// `+cc area group`: "+44 20 7946 0123".
    International,
    /// `+cc (0)area group`: "+44 (0)20 7946 0123".
    InternationalTrunk,
    /// `+ccnsn`: "+442079460123".
    InternationalCompact,
    /// `00cc area group`: "0044 20 7946 0123".
    InternationalZeros,
    /// North American: "(201) 555-0123".
    UsParenthesised,
    /// North American, the parts joined by the character: "201-555-0123", "201.555.0123".
    UsJoined(char),
    /// North American, international: "+1 201 555 0123".
    UsInternational,
    /// North American, international with dashes: "+1-201-555-0123".
    UsInternationalDashed,
    /// North American, the long-distance prefix: "1-201-555-0123".
    UsLongDistance,
    /// North American, international and parenthesised: "+1 (201) 555-0123".
    UsInternationalParenthesised,
    /// North American, the digits alone: "2015550123".
    UsCompact,
}

/// The spellings of a country's numbers, and how often each is used.
fn shapes(country: Country) -> &'static [(Shape, u32)] {
    match country {
        Country::Gb => &[
            (Shape::National, 40),
            (Shape::NationalCompact, 20),
            (Shape::International, 15),
            (Shape::InternationalTrunk, 8),
            (Shape::InternationalCompact, 7),
            (Shape::NationalParenthesised, 7),
            (Shape::InternationalZeros, 3),
        ],
        Country::Us => &[
            (Shape::UsParenthesised, 40),
            (Shape::UsJoined('-'), 25),
            (Shape::UsJoined('.'), 8),
            (Shape::UsInternational, 8),
            (Shape::UsCompact, 8),
            (Shape::UsInternationalDashed, 4),
            (Shape::UsLongDistance, 4),
            (Shape::UsInternationalParenthesised, 3),
        ],
        Country::De => &[
            (Shape::National, 35),
            (Shape::NationalJoined('/'), 20),
            (Shape::International, 15),
            (Shape::NationalJoined('-'), 8),
            (Shape::InternationalTrunk, 8),
            (Shape::NationalCompact, 6),
            (Shape::InternationalZeros, 4),
            (Shape::InternationalCompact, 4),
        ],
        Country::Fr => &[
            (Shape::National, 50),
            (Shape::NationalCompact, 15),
            (Shape::International, 12),
            (Shape::NationalJoined('.'), 8),
            (Shape::InternationalTrunk, 4),
            (Shape::InternationalCompact, 4),
            (Shape::NationalJoined('-'), 4),
            (Shape::InternationalZeros, 3),
        ],
        Country::Au => &[
            (Shape::National, 30),
            (Shape::NationalParenthesised, 20),
            (Shape::International, 15),
            (Shape::NationalCompact, 15),
            // No "0061": Australians dial 0011 abroad.
            (Shape::InternationalCompact, 10),
        ],
    }
}

impl Phone {
    fn new(country: Country, nsn: &[u8], area: usize, mobile: bool) -> Phone {
        let mut digits = [0; 12];
        digits[..nsn.len()].copy_from_slice(nsn);
        Phone {
            country,
            digits,
            len: u8::try_from(nsn.len()).expect("a short number"),
            area: u8::try_from(area).expect("a short area code"),
            mobile,
        }
    }

    /// A landline in `locality` (in the US, any number of the locality's area codes).
    pub(super) fn landline(country: Country, locality: &Locality, rng: &mut Seeded) -> Phone {
        let area = one(rng, locality.areas).as_bytes();
        let mut nsn = Digits::from(area);
        let total = match country {
            Country::Us => {
                nsn.extend_from_slice(&us_exchange(rng));
                10
            }
            Country::Gb => {
                nsn.push(*one(rng, locality.leads.as_bytes()));
                10
            }
            Country::De => {
                nsn.push(*one(rng, locality.leads.as_bytes()));
                if area.len() >= 3 && chance(rng, 0.5) {
                    11
                } else {
                    10
                }
            }
            Country::Fr | Country::Au => {
                nsn.push(*one(rng, locality.leads.as_bytes()));
                9
            }
        };
        while nsn.len() < total {
            nsn.push(digit(rng));
        }
        let group = match country {
            Country::Fr | Country::Au => 1,
            Country::Gb | Country::Us | Country::De => area.len(),
        };
        Phone::new(country, nsn.as_slice(), group, false)
    }

    /// A mobile number (in the US, where mobiles share the geographic area codes, a number
    /// in one of `locality`'s).
    pub(super) fn mobile(country: Country, locality: &Locality, rng: &mut Seeded) -> Phone {
        let ranges = country.mobile_ranges();
        if ranges.is_empty() {
            return Phone::landline(country, locality, rng);
        }
        let (prefix, total) = *one(rng, ranges);
        let mut nsn = Digits::from(prefix.as_bytes());
        while nsn.len() < total {
            nsn.push(digit(rng));
        }
        let area = match country {
            Country::Gb => 4,
            Country::Fr => 1,
            _ => 3,
        };
        Phone::new(country, nsn.as_slice(), area, true)
    }

    /// The national significant number's digits.
    fn nsn(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    /// A key unique to the number, for keeping people's numbers apart.
    pub(super) fn key(&self) -> u64 {
        let number = self
            .nsn()
            .iter()
            .fold(0_u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        number * 8 + self.country as u64
    }

    /// A spelling for a new record, by the country's habits.
    pub(super) fn draw_style(country: Country, rng: &mut Seeded) -> usize {
        super::draw::weighted_by(rng, shapes(country), |(_, weight)| *weight)
    }

    /// The number of spellings of the country's numbers.
    pub(super) fn styles(country: Country) -> usize {
        shapes(country).len()
    }

    /// The same number with one digit after the area code changed, or two neighbouring ones
    /// swapped: a slip of the finger or of the ear.
    pub(super) fn digit_off(&self, rng: &mut Seeded) -> Phone {
        let mut changed = *self;
        let start = usize::from(self.area);
        let len = usize::from(self.len);
        let position = start + below(rng, len - start);
        let swap = position + 1 < len
            && changed.digits[position] != changed.digits[position + 1]
            && chance(rng, 0.3);
        if swap {
            changed.digits.swap(position, position + 1);
        } else {
            let old = changed.digits[position];
            let mut new = digit(rng);
            while new == old {
                new = digit(rng);
            }
            changed.digits[position] = new;
        }
        changed
    }

    /// The number written in spelling `style` (below [`Phone::styles`]).
    pub(super) fn format(&self, style: usize) -> String {
        let nsn = std::str::from_utf8(self.nsn()).unwrap_or_default();
        let (area, rest) = nsn.split_at(usize::from(self.area));
        let cc = self.country.calling_code();
        let grouped = self.group(rest);
        let (exchange, line) = rest.split_at(rest.len().min(3));
        let table = shapes(self.country);
        let shape = table
            .get(style)
            .map_or(Shape::National, |(shape, _)| *shape);
        let mut out = String::with_capacity(24);
        let parts: &[&str] = match shape {
            Shape::National => &["0", area, " ", &grouped],
            Shape::NationalParenthesised if self.mobile => &["0", area, " ", &grouped],
            Shape::NationalParenthesised => &["(0", area, ") ", &grouped],
            Shape::NationalCompact => &["0", nsn],
            Shape::NationalJoined(joint) => {
                let mut buffer = [0; 4];
                let joint: &str = joint.encode_utf8(&mut buffer);
                out.push('0');
                out.push_str(area);
                out.push_str(joint);
                out.push_str(&grouped.replace(' ', joint));
                return out;
            }
            Shape::International => &["+", cc, " ", area, " ", &grouped],
            Shape::InternationalTrunk => &["+", cc, " (0)", area, " ", &grouped],
            Shape::InternationalCompact => &["+", cc, nsn],
            Shape::InternationalZeros => &["00", cc, " ", area, " ", &grouped],
            Shape::UsParenthesised => &["(", area, ") ", exchange, "-", line],
            Shape::UsJoined('.') => &[area, ".", exchange, ".", line],
            Shape::UsJoined(_) => &[area, "-", exchange, "-", line],
            Shape::UsInternational => &["+1 ", area, " ", exchange, " ", line],
            Shape::UsInternationalDashed => &["+1-", area, "-", exchange, "-", line],
            Shape::UsLongDistance => &["1-", area, "-", exchange, "-", line],
            Shape::UsInternationalParenthesised => &["+1 (", area, ") ", exchange, "-", line],
            Shape::UsCompact => &[nsn],
        };
        for part in parts {
            out.push_str(part);
        }
        out
    }

    /// The digits after the area code, grouped as the country groups them.
    fn group(&self, rest: &str) -> String {
        let sizes: &[usize] = match (self.country, rest.len()) {
            (Country::Fr, _) => &[2, 2, 2, 2],
            (Country::Gb | Country::Au, 8) => &[4, 4],
            (Country::Gb, 7) => &[3, 4],
            (Country::Au, 6) => &[3, 3],
            _ => &[],
        };
        if sizes.iter().sum::<usize>() != rest.len() {
            return rest.to_owned();
        }
        let mut out = String::with_capacity(rest.len() + sizes.len());
        let mut start = 0;
        for size in sizes {
            if start > 0 {
                out.push(' ');
            }
            out.push_str(&rest[start..start + size]);
            start += size;
        }
        out
    }
}

/// The digits of a number being drawn, without an allocation.
struct Digits {
    digits: [u8; 12],
    len: usize,
}

impl Digits {
    fn from(start: &[u8]) -> Digits {
        let mut digits = [0; 12];
        digits[..start.len()].copy_from_slice(start);
        Digits {
            digits,
            len: start.len(),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, digit: u8) {
        self.digits[self.len] = digit;
        self.len += 1;
    }

    fn extend_from_slice(&mut self, digits: &[u8]) {
        for digit in digits {
            self.push(*digit);
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

fn digit(rng: &mut Seeded) -> u8 {
    b'0' + u8::try_from(below(rng, 10)).unwrap_or(0)
}

/// A North American exchange code: 2xx to 9xx, not N11, not 555 (directory and fiction).
fn us_exchange(rng: &mut Seeded) -> [u8; 3] {
    loop {
        let exchange = [
            b'2' + u8::try_from(below(rng, 8)).unwrap_or(0),
            digit(rng),
            digit(rng),
        ];
        let n11 = exchange[1] == b'1' && exchange[2] == b'1';
        if !n11 && exchange != *b"555" {
            return exchange;
        }
    }
}
