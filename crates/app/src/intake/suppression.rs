//! The suppression list: hashed identifiers of erased people, so a marketing webhook cannot
//! bring them back.
//!
//! When a person is erased ([`crate::erase_person`]), the email addresses and phone numbers
//! their contacts and leads held are added, hashed, to the tenant's suppression list (kept by
//! the [`Inbox`](super::Inbox), in the same database as the deliveries). The intake worker
//! hashes a new delivery's email and phone the same way and, when one is suppressed, discards
//! the delivery instead of making it a lead: the inbox row is marked done and its payload
//! forgotten, so nothing of the person is stored again. Only deliveries are stopped: the
//! person's own explicit request (a contact or lead made through the commands, by someone who
//! spoke to them) is not.
//!
//! An identifier is SHA-256 over a fixed label, the tenant, the kind and the normalized value
//! (lowercase email; E.164 number), so the list holds no address in clear, and the same
//! address in another tenant hashes differently.

use crm_domain::identity::{CountryCode, EmailAddress, PhoneNumber};
use crm_eventstore::TenantId;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::submission_from;

/// One hashed identifier of an erased person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SuppressedIdentifier(pub [u8; 32]);

impl SuppressedIdentifier {
    fn of(tenant: &TenantId, kind: &str, value: &str) -> Self {
        let mut hasher = Sha256::new();
        for part in ["crm-suppression/v1", tenant.as_str(), kind, value] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(hasher.finalize().into())
    }

    /// The identifier of an email address (its normalized form).
    pub fn email(tenant: &TenantId, email: &EmailAddress) -> Self {
        Self::of(tenant, "email", email.normalized())
    }

    /// The identifier of a phone number (its E.164 form).
    pub fn phone(tenant: &TenantId, phone: &PhoneNumber) -> Self {
        Self::of(tenant, "phone", phone.e164())
    }

    /// The identifiers a delivery's payload names: its email and phone as the intake maps
    /// them, each normalized as a capture would (phones read in `default_region` unless the
    /// payload names a country). Values that do not parse name nobody.
    pub fn of_delivery(
        tenant: &TenantId,
        payload: &Value,
        default_region: CountryCode,
    ) -> Vec<Self> {
        let submission = submission_from(payload);
        let region = submission
            .country
            .as_deref()
            .and_then(|country| CountryCode::new(country).ok())
            .unwrap_or(default_region);
        let email = submission
            .email
            .as_deref()
            .and_then(|raw| EmailAddress::parse(raw).ok())
            .map(|email| Self::email(tenant, &email));
        let phone = submission
            .phone
            .as_deref()
            .and_then(|raw| PhoneNumber::parse(raw, region).ok())
            .map(|phone| Self::phone(tenant, &phone));
        email.into_iter().chain(phone).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::new(name).expect("a valid tenant")
    }

    #[test]
    fn an_address_is_suppressed_however_it_is_typed_and_only_in_its_tenant() {
        let gb = CountryCode::new("GB").expect("a valid country");
        let erased = [
            SuppressedIdentifier::email(
                &tenant("acme"),
                &EmailAddress::parse("ada@example.com").expect("an email"),
            ),
            SuppressedIdentifier::phone(
                &tenant("acme"),
                &PhoneNumber::parse("+44 20 7946 0958", gb).expect("a phone"),
            ),
        ];
        let delivery = serde_json::json!({
            "email": "  ADA@Example.com ", "phone": "020 7946 0958", "country": "GB"
        });
        let named = SuppressedIdentifier::of_delivery(&tenant("acme"), &delivery, gb);
        assert_eq!(named.len(), 2);
        assert!(named.iter().all(|identifier| erased.contains(identifier)));
        let elsewhere = SuppressedIdentifier::of_delivery(&tenant("globex"), &delivery, gb);
        assert!(
            elsewhere
                .iter()
                .all(|identifier| !erased.contains(identifier))
        );
        let nobody = serde_json::json!({ "email": "not an email", "phone": "none" });
        assert!(SuppressedIdentifier::of_delivery(&tenant("acme"), &nobody, gb).is_empty());
    }
}
