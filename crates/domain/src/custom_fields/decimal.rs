//! Exact decimal numbers for number fields: an integer count of units of `10^-scale`, never a
//! float, so `0.1 + 0.2` questions never arise and a stored value reads back exactly.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The most decimal places a number field (and any [`Decimal`]) may have.
pub const MAX_DECIMAL_PLACES: u8 = 9;

/// Why a text is not a decimal number (of the wanted precision).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecimalError {
    /// The text is not a decimal number.
    #[error("{text:?} is not a number (digits with an optional decimal point, such as 1234.56)")]
    NotANumber {
        /// The text as given.
        text: String,
    },
    /// The number has more decimal places than allowed.
    #[error("{text:?} has more than {places} decimal places")]
    TooManyDecimals {
        /// The text as given.
        text: String,
        /// The most decimal places allowed.
        places: u8,
    },
    /// The number is too large to be kept exactly.
    #[error("{text:?} is too large")]
    OutOfRange {
        /// The text as given.
        text: String,
    },
}

/// An exact decimal number: `units × 10^-scale`, with `scale` at most [`MAX_DECIMAL_PLACES`].
///
/// Equality, order and hashing are by value: `12.5` equals `12.50`. The scale is kept (a value
/// parsed for a field with two decimal places shows two), and serialization is the text form
/// (`"12.50"`), which reads back to the same units and scale.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Decimal {
    units: i64,
    scale: u8,
}

impl Decimal {
    /// Zero, with no decimal places.
    pub const ZERO: Self = Self { units: 0, scale: 0 };

    /// `units × 10^-scale`; `None` when `scale` exceeds [`MAX_DECIMAL_PLACES`].
    pub fn new(units: i64, scale: u8) -> Option<Self> {
        (scale <= MAX_DECIMAL_PLACES).then_some(Self { units, scale })
    }

    /// A whole number.
    pub const fn from_integer(value: i64) -> Self {
        Self {
            units: value,
            scale: 0,
        }
    }

    /// The value in units of `10^-scale`.
    pub fn units(self) -> i64 {
        self.units
    }

    /// The number of decimal places the value is kept with.
    pub fn scale(self) -> u8 {
        self.scale
    }

    /// How many decimal places the value needs (trailing zeros do not count): 1 for `12.50`.
    pub fn significant_places(self) -> u8 {
        self.normalized().scale
    }

    /// The same value kept with `scale` places; `None` when that would drop a non-zero digit,
    /// overflow, or exceed [`MAX_DECIMAL_PLACES`].
    pub fn rescale(self, scale: u8) -> Option<Self> {
        if scale > MAX_DECIMAL_PLACES {
            return None;
        }
        let normalized = self.normalized();
        if scale < normalized.scale {
            return None;
        }
        let factor = 10_i64.checked_pow(u32::from(scale - normalized.scale))?;
        Some(Self {
            units: normalized.units.checked_mul(factor)?,
            scale,
        })
    }

    /// The value without trailing zeros in its decimal places.
    fn normalized(self) -> Self {
        let mut value = self;
        while value.scale > 0 && value.units % 10 == 0 {
            value.units /= 10;
            value.scale -= 1;
        }
        value
    }

    /// The value in units of `10^-MAX_DECIMAL_PLACES`; exact, since `i64 × 10^9` fits in an
    /// `i128`.
    fn finest_units(self) -> i128 {
        i128::from(self.units) * 10_i128.pow(u32::from(MAX_DECIMAL_PLACES - self.scale))
    }

    /// Reads a number as clients send it and keeps it with exactly `places` decimal places:
    /// an optional `-`, digits, an optional `.` followed by digits, and an optional exponent
    /// (`1.5e3`, as JSON numbers may be written). Trailing zeros beyond `places` are accepted
    /// (`12.500` for two places); any other extra digit is refused rather than rounded.
    pub fn parse_with_places(text: &str, places: u8) -> Result<Self, DecimalError> {
        let not_a_number = || DecimalError::NotANumber {
            text: text.to_owned(),
        };
        let places = places.min(MAX_DECIMAL_PLACES);
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (
                &rest[..at],
                parse_exponent(&rest[at + 1..]).ok_or_else(not_a_number)?,
            ),
            None => (rest, 0),
        };
        let (whole, fraction) = match mantissa.split_once('.') {
            Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
            Some(_) => return Err(not_a_number()),
            None => (mantissa, ""),
        };
        if whole.is_empty()
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(not_a_number());
        }
        // value = digits × 10^shift, with the digits' leading and trailing zeros removed.
        let joined = format!("{whole}{fraction}");
        let trimmed = joined.trim_start_matches('0');
        let digits = trimmed.trim_end_matches('0');
        if digits.is_empty() {
            return Ok(Self {
                units: 0,
                scale: places,
            });
        }
        let dropped_zeros =
            i64::try_from(trimmed.len() - digits.len()).map_err(|_| not_a_number())?;
        let fraction_len = i64::try_from(fraction.len()).map_err(|_| not_a_number())?;
        let shift = exponent - fraction_len + dropped_zeros + i64::from(places);
        if shift < 0 {
            return Err(DecimalError::TooManyDecimals {
                text: text.to_owned(),
                places,
            });
        }
        let out_of_range = || DecimalError::OutOfRange {
            text: text.to_owned(),
        };
        // Nineteen digits is the most an i64 can hold; checking the length first keeps the
        // multiplication below from being asked about absurd exponents.
        let total_digits = i64::try_from(digits.len()).map_err(|_| out_of_range())? + shift;
        if total_digits > 19 {
            return Err(out_of_range());
        }
        let magnitude: i128 = digits.parse().map_err(|_| out_of_range())?;
        let magnitude = magnitude * 10_i128.pow(u32::try_from(shift).map_err(|_| out_of_range())?);
        let value = if negative { -magnitude } else { magnitude };
        let units = i64::try_from(value).map_err(|_| out_of_range())?;
        Ok(Self {
            units,
            scale: places,
        })
    }
}

/// An exponent's digits with an optional sign, saturating far beyond any useful value (so
/// `1e99999999999` is "too large", not "not a number").
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0_i64, |sum, b| {
        (sum * 10 + i64::from(b - b'0')).min(1_000_000_000)
    });
    Some(if negative { -magnitude } else { magnitude })
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.finest_units() == other.finest_units()
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        self.finest_units().cmp(&other.finest_units())
    }
}

impl Hash for Decimal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.finest_units().hash(state);
    }
}

/// The text form: `-` if negative, the whole part, and exactly `scale` decimals
/// (`12.50`, `-0.05`, `7`).
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.units < 0 { "-" } else { "" };
        let magnitude = self.units.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{sign}{magnitude}");
        }
        let factor = 10_u64.pow(u32::from(self.scale));
        write!(
            f,
            "{sign}{}.{:0width$}",
            magnitude / factor,
            magnitude % factor,
            width = usize::from(self.scale)
        )
    }
}

/// Reads the text form only (`-`, digits, optionally `.` and up to nine digits), keeping the
/// scale as written: this is how stored values are read back.
impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fraction_len = text
            .split_once('.')
            .map_or(0, |(_, fraction)| fraction.len());
        if text.contains(['e', 'E']) {
            return Err(DecimalError::NotANumber {
                text: text.to_owned(),
            });
        }
        let places = u8::try_from(fraction_len)
            .ok()
            .filter(|&places| places <= MAX_DECIMAL_PLACES)
            .ok_or_else(|| DecimalError::TooManyDecimals {
                text: text.to_owned(),
                places: MAX_DECIMAL_PLACES,
            })?;
        Self::parse_with_places(text, places)
    }
}

impl TryFrom<String> for Decimal {
    type Error = DecimalError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Decimal> for String {
    fn from(value: Decimal) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn decimal(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn numbers_are_kept_with_the_places_asked_for() {
        let value = Decimal::parse_with_places("12.5", 2).unwrap();
        assert_eq!((value.units(), value.scale()), (1250, 2));
        assert_eq!(value.to_string(), "12.50");
        assert_eq!(
            Decimal::parse_with_places("12.500", 2).unwrap().to_string(),
            "12.50"
        );
        assert_eq!(
            Decimal::parse_with_places("-0.05", 2).unwrap().to_string(),
            "-0.05"
        );
        assert_eq!(
            Decimal::parse_with_places("1.5e3", 0).unwrap().to_string(),
            "1500"
        );
        assert_eq!(
            Decimal::parse_with_places("15E-1", 1).unwrap().to_string(),
            "1.5"
        );
        assert_eq!(
            Decimal::parse_with_places("0e999999", 2)
                .unwrap()
                .to_string(),
            "0.00"
        );
        assert_eq!(
            Decimal::parse_with_places("007", 0).unwrap().to_string(),
            "7"
        );
    }

    #[test]
    fn extra_decimals_are_refused_not_rounded() {
        assert_eq!(
            Decimal::parse_with_places("12.345", 2),
            Err(DecimalError::TooManyDecimals {
                text: "12.345".into(),
                places: 2
            })
        );
        assert!(matches!(
            Decimal::parse_with_places("1e-10", 9),
            Err(DecimalError::TooManyDecimals { .. })
        ));
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for bad in [
            "", "-", "1.", ".5", "1,5", "1 000", "+1", "1e", "1e+", "0x10", "½", "1.2.3", "--1",
        ] {
            assert_eq!(
                Decimal::parse_with_places(bad, 2),
                Err(DecimalError::NotANumber { text: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn numbers_beyond_64_bits_are_refused() {
        assert!(Decimal::parse_with_places("9223372036854775807", 0).is_ok());
        assert!(Decimal::parse_with_places("-9223372036854775808", 0).is_ok());
        for big in [
            "9223372036854775808",
            "1e19",
            "1e999999999999",
            "92233720368.54775808",
        ] {
            assert!(
                matches!(
                    Decimal::parse_with_places(big, 8),
                    Err(DecimalError::OutOfRange { .. })
                ),
                "{big}"
            );
        }
    }

    #[test]
    fn equality_and_order_are_by_value() {
        assert_eq!(decimal("12.5"), decimal("12.50"));
        assert!(decimal("-1") < decimal("0.001"));
        assert!(decimal("2") > decimal("1.999999999"));
        assert_eq!(decimal("12.50").significant_places(), 1);
        assert_eq!(decimal("12.5").rescale(3).unwrap().to_string(), "12.500");
        assert_eq!(decimal("12.5").rescale(0), None);
    }

    #[test]
    fn stored_text_is_strict() {
        assert!("1e3".parse::<Decimal>().is_err());
        assert!("1.0000000001".parse::<Decimal>().is_err());
        assert_eq!(
            serde_json::to_value(decimal("-3.40")).unwrap(),
            serde_json::json!("-3.40")
        );
    }

    proptest! {
        #[test]
        fn the_text_form_reads_back_exactly(units in any::<i64>(), scale in 0..=MAX_DECIMAL_PLACES) {
            let value = Decimal::new(units, scale).unwrap();
            let back: Decimal = value.to_string().parse().unwrap();
            prop_assert_eq!((back.units(), back.scale()), (units, scale));
        }

        #[test]
        fn order_agrees_with_rescaling(a in any::<i32>(), b in any::<i32>(), sa in 0u8..5, sb in 0u8..5) {
            let (x, y) = (Decimal::new(a.into(), sa).unwrap(), Decimal::new(b.into(), sb).unwrap());
            let common = sa.max(sb);
            let (rx, ry) = (x.rescale(common).unwrap(), y.rescale(common).unwrap());
            prop_assert_eq!(x.cmp(&y), rx.units().cmp(&ry.units()));
        }
    }
}
