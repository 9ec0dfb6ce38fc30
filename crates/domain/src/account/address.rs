//! An account's postal addresses: at most one of each kind, each the street address parts a
//! contact's address has, plus the country.

use serde::{Deserialize, Serialize};

use crate::contact::{MAX_ADDRESS_PART_CHARS, StreetAddress};
use crate::identity::CountryCode;

/// What an account's address is for; an account has at most one address of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// Where the company has its head office (and, usually, its legal seat).
    Headquarters,
    /// Where invoices go.
    Billing,
    /// Where goods are delivered.
    Shipping,
}

impl AddressKind {
    /// Every kind, in display order.
    pub const ALL: [AddressKind; 3] = [
        AddressKind::Headquarters,
        AddressKind::Billing,
        AddressKind::Shipping,
    ];
}

/// A postal address of an account: its kind, the street address in parts (the type a
/// contact's address has) and the country.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountAddress {
    /// What the address is for.
    pub kind: AddressKind,
    /// Street, number, locality, postcode and region, each trimmed and optional.
    pub street_address: StreetAddress,
    /// The country, if known.
    pub country: Option<CountryCode>,
}

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressProblem {
    /// No part and no country.
    Blank,
    /// A part is longer than [`MAX_ADDRESS_PART_CHARS`].
    TooLong,
}

impl AccountAddress {
    /// The address with each part trimmed and blank parts dropped; refused when nothing is
    /// left or a part is too long. (The same rules as a contact's address.)
    pub(super) fn tidy(self) -> Result<Self, AddressProblem> {
        let part = |text: Option<String>| -> Result<Option<String>, AddressProblem> {
            match text.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(trimmed) if trimmed.chars().count() > MAX_ADDRESS_PART_CHARS => {
                    Err(AddressProblem::TooLong)
                }
                Some(trimmed) => Ok(Some(trimmed.to_owned())),
            }
        };
        let street = self.street_address;
        let street_address = StreetAddress {
            street_number: part(street.street_number)?,
            street: part(street.street)?,
            locality: part(street.locality)?,
            postcode: part(street.postcode)?,
            region: part(street.region)?,
        };
        if street_address == StreetAddress::default() && self.country.is_none() {
            return Err(AddressProblem::Blank);
        }
        Ok(Self {
            kind: self.kind,
            street_address,
            country: self.country,
        })
    }
}
