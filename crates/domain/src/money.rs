//! Money as integer minor units with an ISO 4217 currency. Never a float, never a silent
//! overflow, never a sum across currencies.

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

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
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

    proptest! {
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
