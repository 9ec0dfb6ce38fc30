//! Identity normalization and match scoring: the raw value a person typed is kept next to
//! its normalized form, and candidates are scored to auto-link, review, or stay distinct.

mod values;

pub use values::{CompanyDomain, CompanyName, CountryCode, EmailAddress, IdentityError, PersonName, PhoneNumber};
