//! Money as integer minor units with an ISO 4217 currency. Never a float, never a silent
//! overflow, never a sum across currencies.
//!
//! Amounts are kept and stored in minor units (cents, fils, yen) but shown in major units:
//! [`Money`]'s `Display` places the decimal point where the currency's ISO 4217 minor-unit
//! exponent says ([`Currency::minor_unit_exponent`], read from the `iso_currency` crate's copy of
//! the ISO 4217 table), so 12,000,000 minor units of EUR read `120000.00 EUR`.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What can go wrong with money.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// The text is not a three-letter upper-case ISO 4217 code.
    #[error("{0:?} is not an ISO 4217 currency code (three upper-case letters)")]
    InvalidCurrency(String),
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in 64-bit minor units.
    #[error("amount overflow in {currency}")]
    Overflow {
        /// The currency of the computation.
        currency: Currency,
    },
    /// A probability outside 0..=100 percent.
    #[error("probability {0} is outside 0..=100 percent")]
    InvalidProbability(u8),
}

/// An ISO 4217 currency code such as `EUR`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a code; only three ASCII upper-case letters are accepted.
    pub fn new(code: &str) -> Result<Self, MoneyError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(MoneyError::InvalidCurrency(code.to_owned())),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// How many decimal places the currency's minor unit has, per ISO 4217: 2 for EUR and USD,
    /// 0 for JPY and KRW, 3 for BHD, JOD, KWD, OMR, TND, IQD and LYD, 4 for CLF.
    ///
    /// `None` when ISO 4217 gives the code no minor unit (precious metals such as XAU, XDR,
    /// the testing and "no currency" codes XTS and XXX) and for a well-formed code that is not
    /// in the table (a withdrawn or invented code). Codes are never refused for that: events
    /// already stored may carry them.
    pub fn minor_unit_exponent(self) -> Option<u8> {
        iso_currency::Currency::from_code(self.as_str())
            .and_then(iso_currency::Currency::exponent)
            .and_then(|exponent| u8::try_from(exponent).ok())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::new(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// A probability in whole percent, 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Probability(u8);

impl Probability {
    /// Certain loss.
    pub const ZERO: Self = Self(0);
    /// Certain win.
    pub const CERTAIN: Self = Self(100);

    /// A probability of `percent`; values above 100 are refused.
    pub fn new(percent: u8) -> Result<Self, MoneyError> {
        if percent <= 100 {
            Ok(Self(percent))
        } else {
            Err(MoneyError::InvalidProbability(percent))
        }
    }

    /// The probability in percent.
    pub fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Probability {
    type Error = MoneyError;
    fn try_from(percent: u8) -> Result<Self, Self::Error> {
        Self::new(percent)
    }
}

impl From<Probability> for u8 {
    fn from(p: Probability) -> Self {
        p.0
    }
}

/// An amount of money in minor units (cents for EUR, yen for JPY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in the currency's minor unit.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// `minor` units of `currency`.
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`; refuses mixed currencies and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow {
                currency: self.currency,
            })?;
        Ok(Money::new(minor, self.currency))
    }

    /// `self - other`; refuses mixed currencies and overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow {
                currency: self.currency,
            })?;
        Ok(Money::new(minor, self.currency))
    }

    /// The amount weighted by a probability, rounded half away from zero to a minor unit.
    /// Never overflows: the result's magnitude is at most the amount's.
    #[must_use]
    pub fn weighted(self, probability: Probability) -> Money {
        let product = i128::from(self.minor) * i128::from(probability.percent());
        let rounded = if product >= 0 {
            (product + 50) / 100
        } else {
            (product - 50) / 100
        };
        // |rounded| <= |minor| because percent <= 100, so the conversion cannot fail.
        Money::new(i64::try_from(rounded).unwrap_or(self.minor), self.currency)
    }

    /// The sum of `amounts`, all of which must be in `currency`.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        amounts: I,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    /// Whether the amount is strictly positive.
    pub fn is_positive(self) -> bool {
        self.minor > 0
    }
}

/// Shows the amount in major units followed by the code: `120000.00 EUR`, `-0.05 USD`,
/// `1200 JPY`, `1.234 BHD`. The decimal places are the currency's ISO 4217 minor-unit exponent
/// ([`Currency::minor_unit_exponent`]), always all of them, with no digit grouping, so the text
/// reads back to the same minor units. A currency without a known exponent shows its minor
/// units as they are (`1234 XAU`). Every `i64`, `i64::MIN` included, formats exactly.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        // unsigned_abs: the magnitude of i64::MIN does not fit in an i64.
        let magnitude = self.minor.unsigned_abs();
        let scale = self
            .currency
            .minor_unit_exponent()
            .filter(|&exponent| exponent > 0)
            .and_then(|exponent| Some((exponent, 10_u64.checked_pow(u32::from(exponent))?)));
        match scale {
            Some((exponent, scale)) => write!(
                f,
                "{sign}{}.{:0width$} {}",
                magnitude / scale,
                magnitude % scale,
                self.currency,
                width = usize::from(exponent)
            ),
            None => write!(f, "{sign}{magnitude} {}", self.currency),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn eur() -> Currency {
        Currency::new("EUR").unwrap()
    }

    #[test]
    fn currency_codes_are_three_upper_case_letters() {
        assert!(Currency::new("EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "E1R", "", "ÉUR"] {
            assert_eq!(
                Currency::new(bad),
                Err(MoneyError::InvalidCurrency(bad.into()))
            );
        }
    }

    #[test]
    fn mixing_currencies_is_refused() {
        let usd = Currency::new("USD").unwrap();
        let err = Money::new(1, eur())
            .checked_add(Money::new(1, usd))
            .unwrap_err();
        assert_eq!(
            err,
            MoneyError::CurrencyMismatch {
                left: eur(),
                right: usd
            }
        );
    }

    #[test]
    fn currency_deserialization_validates() {
        assert!(serde_json::from_str::<Currency>("\"eur\"").is_err());
        assert_eq!(serde_json::from_str::<Currency>("\"EUR\"").unwrap(), eur());
        assert!(serde_json::from_str::<Probability>("101").is_err());
    }

    fn money(minor: i64, code: &str) -> String {
        Money::new(minor, Currency::new(code).unwrap()).to_string()
    }

    #[test]
    fn euro_and_dollar_amounts_show_two_decimals() {
        assert_eq!(money(12_000_000, "EUR"), "120000.00 EUR");
        assert_eq!(money(12_345, "USD"), "123.45 USD");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(0, "EUR"), "0.00 EUR");
    }

    #[test]
    fn yen_and_won_have_no_decimals() {
        assert_eq!(money(1_200, "JPY"), "1200 JPY");
        assert_eq!(money(-1_200, "KRW"), "-1200 KRW");
    }

    #[test]
    fn dinars_and_rials_show_three_decimals() {
        for code in ["BHD", "KWD", "JOD", "OMR", "TND", "IQD", "LYD"] {
            assert_eq!(money(1_234, code), format!("1.234 {code}"));
            assert_eq!(money(5, code), format!("0.005 {code}"));
        }
    }

    #[test]
    fn unidad_de_fomento_shows_four_decimals() {
        assert_eq!(money(12_345, "CLF"), "1.2345 CLF");
    }

    #[test]
    fn negative_amounts_keep_their_sign_below_one_major_unit() {
        assert_eq!(money(-5, "EUR"), "-0.05 EUR");
        assert_eq!(money(-12_345, "EUR"), "-123.45 EUR");
        assert_eq!(money(-1, "BHD"), "-0.001 BHD");
    }

    #[test]
    fn the_extreme_amounts_format_exactly() {
        assert_eq!(money(i64::MIN, "EUR"), "-92233720368547758.08 EUR");
        assert_eq!(money(i64::MAX, "EUR"), "92233720368547758.07 EUR");
        assert_eq!(money(i64::MIN, "JPY"), "-9223372036854775808 JPY");
        assert_eq!(money(i64::MIN, "CLF"), "-922337203685477.5808 CLF");
    }

    #[test]
    fn codes_without_a_known_minor_unit_show_the_stored_units() {
        assert_eq!(Currency::new("XAU").unwrap().minor_unit_exponent(), None);
        assert_eq!(Currency::new("ABC").unwrap().minor_unit_exponent(), None);
        assert_eq!(money(1_234, "XAU"), "1234 XAU");
        assert_eq!(money(-1_234, "ABC"), "-1234 ABC");
    }

    /// Reads a formatted amount back into minor units and checks it has exactly the
    /// currency's decimals; `None` if the text is not in that shape.
    fn parse_minor(text: &str, currency: Currency) -> Option<i64> {
        let number = text.strip_suffix(currency.as_str())?.strip_suffix(' ')?;
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number),
        };
        let exponent = usize::from(currency.minor_unit_exponent().unwrap_or(0));
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) if exponent > 0 && fraction.len() == exponent => {
                (whole, fraction)
            }
            None if exponent == 0 => (digits, ""),
            _ => return None,
        };
        if whole.is_empty()
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let magnitude: i128 = format!("{whole}{fraction}").parse().ok()?;
        i64::try_from(if negative { -magnitude } else { magnitude }).ok()
    }

    fn arb_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec![
            "EUR", "USD", "JPY", "KRW", "BHD", "KWD", "TND", "CLF", "UYW", "XAU", "XXX", "ABC",
        ])
        .prop_map(|code| Currency::new(code).unwrap())
    }

    proptest! {
        #[test]
        fn formatted_money_reads_back_to_its_minor_units(minor in any::<i64>(), currency in arb_currency()) {
            let text = Money::new(minor, currency).to_string();
            prop_assert_eq!(parse_minor(&text, currency), Some(minor), "{}", text);
        }

        #[test]
        fn addition_never_overflows_silently(a in any::<i64>(), b in any::<i64>()) {
            let result = Money::new(a, eur()).checked_add(Money::new(b, eur()));
            let expected = a.checked_add(b).map(|sum| Money::new(sum, eur())).ok_or(MoneyError::Overflow { currency: eur() });
            prop_assert_eq!(result, expected);
        }

        #[test]
        fn weighting_never_grows_the_amount(a in any::<i64>(), p in 0u8..=100) {
            let w = Money::new(a, eur()).weighted(Probability::new(p).unwrap());
            prop_assert!(i128::from(w.minor).abs() <= i128::from(a).abs());
            if p == 100 { prop_assert_eq!(w.minor, a); }
            if p == 0 { prop_assert_eq!(w.minor, 0); }
        }
    }
}
