//! Money summed per currency, never across currencies, with the currencies whose sum no longer
//! fits in 64-bit minor units set apart: what every read model's revenue and pipeline figures
//! add up with.

use std::collections::BTreeMap;

use crm_domain::{Currency, Money};

/// Sums per currency, in currency order; `None` once a currency's sum overflowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CurrencySums(BTreeMap<Currency, Option<Money>>);

impl CurrencySums {
    /// Adds `amount` to its currency's sum.
    pub(crate) fn add(&mut self, amount: Money) {
        let sum = self
            .0
            .entry(amount.currency)
            .or_insert(Some(Money::zero(amount.currency)));
        *sum = sum.and_then(|sum| sum.checked_add(amount).ok());
    }

    /// Marks `currency`'s sum as overflowed (a part summed elsewhere overflowed already).
    pub(crate) fn overflow(&mut self, currency: Currency) {
        self.0.insert(currency, None);
    }

    /// The sums that fit, and the currencies that overflowed, both in currency order.
    pub(crate) fn into_parts(self) -> (Vec<Money>, Vec<Currency>) {
        let mut sums = Vec::new();
        let mut overflowed = Vec::new();
        for (currency, sum) in self.0 {
            match sum {
                Some(sum) => sums.push(sum),
                None => overflowed.push(currency),
            }
        }
        (sums, overflowed)
    }
}
