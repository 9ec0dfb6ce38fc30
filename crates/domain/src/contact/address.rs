//! A contact's postal address, as typed: each part trimmed and optional.

use serde::{Deserialize, Serialize};

/// The longest part of an address kept, in characters.
pub const MAX_ADDRESS_PART_CHARS: usize = 200;

/// A postal address in parts. The country is a detail of its own
/// ([`Detail::Country`](super::Detail::Country)), so that routing by country works for
/// contacts without an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreetAddress {
    /// House or street number (`12`, `12a`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_number: Option<String>,
    /// Street name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City, town or village.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// State, county or province.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressProblem {
    /// Every part is blank.
    Blank,
    /// A part is longer than [`MAX_ADDRESS_PART_CHARS`].
    TooLong,
}

impl StreetAddress {
    /// The address with each part trimmed and blank parts dropped.
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
        let tidy = Self {
            street_number: part(self.street_number)?,
            street: part(self.street)?,
            locality: part(self.locality)?,
            postcode: part(self.postcode)?,
            region: part(self.region)?,
        };
        if tidy == Self::default() {
            return Err(AddressProblem::Blank);
        }
        Ok(tidy)
    }
}
