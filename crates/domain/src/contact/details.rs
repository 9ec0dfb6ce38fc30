//! A contact's details: one value per field, plus the sets of email addresses and phone
//! numbers, each kept with the source system and source timestamp it came from.
//!
//! Keeping the provenance of every current value is what lets field-level sync apply
//! last-write-wins: a change from a source older than what that same source said last is
//! ignored (see [`Provenance::is_superseded_by`]).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::address::StreetAddress;
use crate::identity::{
    CompanyDomain, CompanyName, CountryCode, EmailAddress, PersonName, PhoneNumber,
};
use crate::ids::{CompanyId, UserId};

/// Where a value came from: the source system and the source's own timestamp for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Provenance {
    /// The system that said it, e.g. `"hubspot"`, `"web-form"`, `"crm-ui"`.
    pub system: String,
    /// When the source says the value changed, by the source's clock (not when we heard it).
    pub source_time: DateTime<Utc>,
}

impl Provenance {
    /// A provenance for `system` at `source_time`.
    pub fn new(system: impl Into<String>, source_time: DateTime<Utc>) -> Self {
        Self {
            system: system.into(),
            source_time,
        }
    }

    /// Whether a change stamped with `self` lost to `current` under last-write-wins: both
    /// come from the same system and `self` is strictly older. Changes from different systems
    /// never supersede each other here; source precedence is the sync policy's decision.
    pub fn is_superseded_by(&self, current: &Provenance) -> bool {
        self.system == current.system && self.source_time < current.source_time
    }
}

/// A value together with the source it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where and when it came from.
    pub provenance: Provenance,
}

/// The single-valued fields of a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    /// Given (first) name.
    GivenName,
    /// Family (last) name.
    FamilyName,
    /// The primary email address; always one of the contact's addresses.
    PrimaryEmail,
    /// The employer's name.
    CompanyName,
    /// The employer's web domain.
    CompanyDomain,
    /// Job title.
    JobTitle,
    /// Country of the postal address.
    Country,
    /// The user who owns the relationship.
    Owner,
    /// The account (company record) the contact belongs to.
    Account,
    /// Where the contact stands in the customer lifecycle.
    LifecycleStage,
    /// Date of birth.
    DateOfBirth,
    /// Postal address (without the country, which is its own field).
    Address,
    /// A national or customer identifier (a tax, passport or membership number).
    NationalId,
}

impl ContactField {
    /// Every field, in a fixed order (the order merge decisions are listed in).
    pub const ALL: [ContactField; 13] = [
        ContactField::GivenName,
        ContactField::FamilyName,
        ContactField::PrimaryEmail,
        ContactField::CompanyName,
        ContactField::CompanyDomain,
        ContactField::JobTitle,
        ContactField::Country,
        ContactField::Owner,
        ContactField::Account,
        ContactField::LifecycleStage,
        ContactField::DateOfBirth,
        ContactField::Address,
        ContactField::NationalId,
    ];
}

/// Where a contact stands in the customer lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    /// Receives marketing, nothing more.
    Subscriber,
    /// Has shown interest.
    Lead,
    /// Judged ready by marketing.
    MarketingQualifiedLead,
    /// Accepted by sales as worth pursuing.
    SalesQualifiedLead,
    /// Has an open opportunity.
    Opportunity,
    /// Has bought.
    Customer,
    /// Recommends the company to others.
    Evangelist,
    /// Was a customer and left (cancelled, did not renew). Recorded like any other stage, by
    /// the system that knows (billing, a subscription tool) with its own time; buying again
    /// makes the person a customer again (the Customer 360 derives that from won deals).
    Churned,
    /// None of the above (a partner, a supplier).
    Other,
}

/// The value of one field, naming the field; `None` means the field is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum Detail {
    /// Given (first) name.
    GivenName(Option<PersonName>),
    /// Family (last) name.
    FamilyName(Option<PersonName>),
    /// The primary email address.
    PrimaryEmail(Option<EmailAddress>),
    /// The employer's name.
    CompanyName(Option<CompanyName>),
    /// The employer's web domain.
    CompanyDomain(Option<CompanyDomain>),
    /// Job title, trimmed.
    JobTitle(Option<String>),
    /// Country of the postal address.
    Country(Option<CountryCode>),
    /// The user who owns the relationship.
    Owner(Option<UserId>),
    /// The account the contact belongs to.
    Account(Option<CompanyId>),
    /// Lifecycle stage.
    LifecycleStage(Option<LifecycleStage>),
    /// Date of birth; not after the day it is recorded, not before 1850.
    DateOfBirth(Option<NaiveDate>),
    /// Postal address, each part trimmed.
    Address(Option<StreetAddress>),
    /// A national or customer identifier, trimmed.
    NationalId(Option<String>),
}

impl Detail {
    /// The field this value belongs to.
    pub fn field(&self) -> ContactField {
        match self {
            Detail::GivenName(_) => ContactField::GivenName,
            Detail::FamilyName(_) => ContactField::FamilyName,
            Detail::PrimaryEmail(_) => ContactField::PrimaryEmail,
            Detail::CompanyName(_) => ContactField::CompanyName,
            Detail::CompanyDomain(_) => ContactField::CompanyDomain,
            Detail::JobTitle(_) => ContactField::JobTitle,
            Detail::Country(_) => ContactField::Country,
            Detail::Owner(_) => ContactField::Owner,
            Detail::Account(_) => ContactField::Account,
            Detail::LifecycleStage(_) => ContactField::LifecycleStage,
            Detail::DateOfBirth(_) => ContactField::DateOfBirth,
            Detail::Address(_) => ContactField::Address,
            Detail::NationalId(_) => ContactField::NationalId,
        }
    }

    /// The empty value of `field`.
    pub fn empty(field: ContactField) -> Self {
        match field {
            ContactField::GivenName => Detail::GivenName(None),
            ContactField::FamilyName => Detail::FamilyName(None),
            ContactField::PrimaryEmail => Detail::PrimaryEmail(None),
            ContactField::CompanyName => Detail::CompanyName(None),
            ContactField::CompanyDomain => Detail::CompanyDomain(None),
            ContactField::JobTitle => Detail::JobTitle(None),
            ContactField::Country => Detail::Country(None),
            ContactField::Owner => Detail::Owner(None),
            ContactField::Account => Detail::Account(None),
            ContactField::LifecycleStage => Detail::LifecycleStage(None),
            ContactField::DateOfBirth => Detail::DateOfBirth(None),
            ContactField::Address => Detail::Address(None),
            ContactField::NationalId => Detail::NationalId(None),
        }
    }

    /// Whether the field is empty.
    pub fn is_empty(&self) -> bool {
        *self == Detail::empty(self.field())
    }
}

/// A change to a contact's details, as a command carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum DetailChange {
    /// Sets (or, with `None`, clears) one field. Setting the primary email to an address the
    /// contact does not have yet adds the address too.
    Set(Detail),
    /// Adds an email address; the first address becomes the primary one.
    AddEmail(EmailAddress),
    /// Removes an email address; removing the primary one promotes the next address.
    RemoveEmail(EmailAddress),
    /// Adds a phone number.
    AddPhone(PhoneNumber),
    /// Removes a phone number.
    RemovePhone(PhoneNumber),
}

/// What identifies an item of a set of contact points (the normalized form).
pub(super) trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for EmailAddress {
    fn key(&self) -> &str {
        self.normalized()
    }
}

impl Keyed for PhoneNumber {
    fn key(&self) -> &str {
        self.e164()
    }
}

/// A set of contact points, each with its provenance, plus the removals still remembered
/// (tombstones), so an addition older than a removal from the same source stays removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SourcedSet<T> {
    present: Vec<Sourced<T>>,
    removed: Vec<Sourced<T>>,
}

impl<T> Default for SourcedSet<T> {
    fn default() -> Self {
        Self {
            present: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl<T: Keyed + Clone> SourcedSet<T> {
    pub(super) fn items(&self) -> &[Sourced<T>] {
        &self.present
    }

    pub(super) fn get(&self, key: &str) -> Option<&Sourced<T>> {
        self.present.iter().find(|item| item.value.key() == key)
    }

    fn tombstone(&self, key: &str) -> Option<&Sourced<T>> {
        self.removed.iter().find(|item| item.value.key() == key)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.present.is_empty() && self.removed.is_empty()
    }

    /// Whether adding `key` with `provenance` lost to a later removal by the same source.
    pub(super) fn addition_is_superseded(&self, key: &str, provenance: &Provenance) -> bool {
        self.tombstone(key)
            .is_some_and(|removed| provenance.is_superseded_by(&removed.provenance))
    }

    /// Whether removing `key` with `provenance` lost to a later addition by the same source.
    pub(super) fn removal_is_superseded(&self, key: &str, provenance: &Provenance) -> bool {
        self.get(key)
            .is_some_and(|present| provenance.is_superseded_by(&present.provenance))
    }

    /// Records a source's addition: the item is present and its tombstone forgotten.
    pub(super) fn add(&mut self, item: Sourced<T>) {
        let key = item.value.key().to_owned();
        self.removed.retain(|removed| removed.value.key() != key);
        match self.present.iter_mut().find(|p| p.value.key() == key) {
            Some(existing) => *existing = item,
            None => self.present.push(item),
        }
    }

    /// Records a source's removal, remembering it as a tombstone.
    pub(super) fn remove(&mut self, item: Sourced<T>) {
        let key = item.value.key().to_owned();
        self.present.retain(|present| present.value.key() != key);
        self.removed.retain(|removed| removed.value.key() != key);
        self.removed.push(item);
    }

    /// Adds an item taken over in a merge; tombstones are left alone so an unmerge can
    /// restore the set exactly.
    pub(super) fn take_over(&mut self, item: Sourced<T>) {
        if self.get(item.value.key()).is_none() {
            self.present.push(item);
        }
    }

    /// Drops an item an unmerge gives back, without a tombstone.
    pub(super) fn give_back(&mut self, key: &str) {
        self.present.retain(|present| present.value.key() != key);
    }
}

/// A contact's details: one entry per field that was ever set, and the email addresses and
/// phone numbers, each with the provenance of its current value.
///
/// Built only by the contact's events, so its invariants hold: the primary email, when set,
/// is one of the addresses, and it is set whenever there is an address; no address or number
/// appears twice (compared in normalized form).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactDetails {
    fields: BTreeMap<ContactField, Sourced<Detail>>,
    emails: SourcedSet<EmailAddress>,
    phones: SourcedSet<PhoneNumber>,
}

impl ContactDetails {
    /// The current value of `field` with its provenance; `None` if it was never set. A field
    /// that was cleared keeps an entry (an empty value) so later changes can be compared with
    /// the clearing's source timestamp.
    pub fn entry(&self, field: ContactField) -> Option<&Sourced<Detail>> {
        self.fields.get(&field)
    }

    /// The current value of `field` (the empty value if it was never set).
    pub fn value(&self, field: ContactField) -> Detail {
        self.entry(field)
            .map_or_else(|| Detail::empty(field), |entry| entry.value.clone())
    }

    /// The provenance of `field`'s current value, if it was ever set.
    pub fn provenance(&self, field: ContactField) -> Option<&Provenance> {
        self.entry(field).map(|entry| &entry.provenance)
    }

    /// Whether a change of `field` stamped with `provenance` would be ignored as older than
    /// what the same source said last (see [`Provenance::is_superseded_by`]).
    pub fn is_superseded(&self, field: ContactField, provenance: &Provenance) -> bool {
        self.provenance(field)
            .is_some_and(|current| provenance.is_superseded_by(current))
    }

    /// Given name.
    pub fn given_name(&self) -> Option<&PersonName> {
        match self.entry(ContactField::GivenName).map(|e| &e.value) {
            Some(Detail::GivenName(name)) => name.as_ref(),
            _ => None,
        }
    }

    /// Family name.
    pub fn family_name(&self) -> Option<&PersonName> {
        match self.entry(ContactField::FamilyName).map(|e| &e.value) {
            Some(Detail::FamilyName(name)) => name.as_ref(),
            _ => None,
        }
    }

    /// The primary email address.
    pub fn primary_email(&self) -> Option<&EmailAddress> {
        match self.entry(ContactField::PrimaryEmail).map(|e| &e.value) {
            Some(Detail::PrimaryEmail(email)) => email.as_ref(),
            _ => None,
        }
    }

    /// The employer's name.
    pub fn company_name(&self) -> Option<&CompanyName> {
        match self.entry(ContactField::CompanyName).map(|e| &e.value) {
            Some(Detail::CompanyName(name)) => name.as_ref(),
            _ => None,
        }
    }

    /// The employer's web domain.
    pub fn company_domain(&self) -> Option<&CompanyDomain> {
        match self.entry(ContactField::CompanyDomain).map(|e| &e.value) {
            Some(Detail::CompanyDomain(domain)) => domain.as_ref(),
            _ => None,
        }
    }

    /// Job title.
    pub fn job_title(&self) -> Option<&str> {
        match self.entry(ContactField::JobTitle).map(|e| &e.value) {
            Some(Detail::JobTitle(title)) => title.as_deref(),
            _ => None,
        }
    }

    /// Date of birth.
    pub fn date_of_birth(&self) -> Option<NaiveDate> {
        match self.entry(ContactField::DateOfBirth).map(|e| &e.value) {
            Some(Detail::DateOfBirth(date)) => *date,
            _ => None,
        }
    }

    /// Postal address.
    pub fn address(&self) -> Option<&StreetAddress> {
        match self.entry(ContactField::Address).map(|e| &e.value) {
            Some(Detail::Address(address)) => address.as_ref(),
            _ => None,
        }
    }

    /// National or customer identifier.
    pub fn national_id(&self) -> Option<&str> {
        match self.entry(ContactField::NationalId).map(|e| &e.value) {
            Some(Detail::NationalId(id)) => id.as_deref(),
            _ => None,
        }
    }

    /// Country of the postal address.
    pub fn country(&self) -> Option<CountryCode> {
        match self.entry(ContactField::Country).map(|e| &e.value) {
            Some(Detail::Country(country)) => *country,
            _ => None,
        }
    }

    /// The user who owns the relationship.
    pub fn owner(&self) -> Option<UserId> {
        match self.entry(ContactField::Owner).map(|e| &e.value) {
            Some(Detail::Owner(owner)) => *owner,
            _ => None,
        }
    }

    /// The account the contact belongs to.
    pub fn account(&self) -> Option<CompanyId> {
        match self.entry(ContactField::Account).map(|e| &e.value) {
            Some(Detail::Account(account)) => *account,
            _ => None,
        }
    }

    /// Lifecycle stage.
    pub fn lifecycle_stage(&self) -> Option<LifecycleStage> {
        match self.entry(ContactField::LifecycleStage).map(|e| &e.value) {
            Some(Detail::LifecycleStage(stage)) => *stage,
            _ => None,
        }
    }

    /// Every email address, primary or not, in the order they were added.
    pub fn emails(&self) -> &[Sourced<EmailAddress>] {
        self.emails.items()
    }

    /// The address with this normalized form, if the contact has it.
    pub fn email(&self, normalized: &str) -> Option<&Sourced<EmailAddress>> {
        self.emails.get(normalized)
    }

    /// Every phone number, in the order they were added.
    pub fn phones(&self) -> &[Sourced<PhoneNumber>] {
        self.phones.items()
    }

    /// The number with this E.164 form, if the contact has it.
    pub fn phone(&self, e164: &str) -> Option<&Sourced<PhoneNumber>> {
        self.phones.get(e164)
    }

    /// Whether nothing at all is recorded: no field, no address, no number, no remembered
    /// removal. An erased contact's details are empty.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.emails.is_empty() && self.phones.is_empty()
    }

    pub(super) fn email_set(&self) -> &SourcedSet<EmailAddress> {
        &self.emails
    }

    pub(super) fn phone_set(&self) -> &SourcedSet<PhoneNumber> {
        &self.phones
    }

    pub(super) fn set(&mut self, entry: Sourced<Detail>) {
        self.fields.insert(entry.value.field(), entry);
    }

    /// Puts a field back to an earlier entry, or to never-set.
    pub(super) fn restore(&mut self, field: ContactField, entry: Option<Sourced<Detail>>) {
        match entry {
            Some(entry) => {
                self.fields.insert(field, entry);
            }
            None => {
                self.fields.remove(&field);
            }
        }
    }

    pub(super) fn emails_mut(&mut self) -> &mut SourcedSet<EmailAddress> {
        &mut self.emails
    }

    pub(super) fn phones_mut(&mut self) -> &mut SourcedSet<PhoneNumber> {
        &mut self.phones
    }
}

#[cfg(test)]
pub(super) mod strategies {
    //! Generators for details, kept small so random histories collide often.

    use proptest::prelude::*;

    use super::*;
    use crate::testing::{ALICE, BOB, t0_plus_minutes};

    /// One of three source systems.
    pub(in crate::contact) fn arb_system() -> impl Strategy<Value = String> {
        prop_oneof![Just("hubspot"), Just("crm-ui"), Just("web-form")].prop_map(str::to_owned)
    }

    /// A provenance within an hour of `t0()`.
    pub(in crate::contact) fn arb_provenance() -> impl Strategy<Value = Provenance> {
        (arb_system(), 0i64..60)
            .prop_map(|(system, minute)| Provenance::new(system, t0_plus_minutes(minute)))
    }

    /// One of a few email addresses.
    pub(in crate::contact) fn arb_email() -> impl Strategy<Value = EmailAddress> {
        prop_oneof![
            Just("ada@example.com"),
            Just("Ada@Example.com"),
            Just("ada.lovelace@engines.co.uk"),
            Just("countess@lovelace.org"),
        ]
        .prop_map(|raw| EmailAddress::parse(raw).unwrap())
    }

    /// One of a few phone numbers.
    pub(in crate::contact) fn arb_phone() -> impl Strategy<Value = PhoneNumber> {
        prop_oneof![Just("+49 30 1234567"), Just("+44 20 7946 0958")]
            .prop_map(|raw| PhoneNumber::parse(raw, CountryCode::new("DE").unwrap()).unwrap())
    }

    fn arb_person_name() -> impl Strategy<Value = Option<PersonName>> {
        proptest::option::of(
            prop_oneof![Just("Ada"), Just("Augusta"), Just("Lovelace"), Just("King")]
                .prop_map(|raw| PersonName::new(raw).unwrap()),
        )
    }

    /// A value for any field (empty ones included).
    pub(in crate::contact) fn arb_detail() -> impl Strategy<Value = Detail> {
        prop_oneof![
            arb_person_name().prop_map(Detail::GivenName),
            arb_person_name().prop_map(Detail::FamilyName),
            proptest::option::of(arb_email()).prop_map(Detail::PrimaryEmail),
            proptest::option::of(
                prop_oneof![Just("Analytical Engines"), Just("Babbage & Co")]
                    .prop_map(|raw| CompanyName::new(raw).unwrap())
            )
            .prop_map(Detail::CompanyName),
            proptest::option::of(
                Just("engines.co.uk").prop_map(|raw| CompanyDomain::parse(raw).unwrap())
            )
            .prop_map(Detail::CompanyDomain),
            proptest::option::of(prop_oneof![
                Just("Analyst".to_owned()),
                Just("  Countess ".to_owned()),
                Just("   ".to_owned()),
            ])
            .prop_map(Detail::JobTitle),
            proptest::option::of(
                prop_oneof![Just("GB"), Just("de")].prop_map(|raw| CountryCode::new(raw).unwrap())
            )
            .prop_map(Detail::Country),
            proptest::option::of(prop_oneof![Just(ALICE), Just(BOB)]).prop_map(Detail::Owner),
            proptest::option::of(Just(CompanyId(uuid::Uuid::from_u128(0xacc))))
                .prop_map(Detail::Account),
            proptest::option::of(prop_oneof![
                Just(LifecycleStage::Lead),
                Just(LifecycleStage::Customer),
                Just(LifecycleStage::Churned)
            ])
            .prop_map(Detail::LifecycleStage),
            proptest::option::of(
                (1940i32..2005, 1u32..13, 1u32..29)
                    .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
            )
            .prop_map(Detail::DateOfBirth),
            proptest::option::of(prop_oneof![
                Just(StreetAddress {
                    street_number: Some("12".into()),
                    street: Some("Marylebone Road".into()),
                    locality: Some("London".into()),
                    postcode: Some("NW1 5LR".into()),
                    region: None,
                }),
                Just(StreetAddress {
                    locality: Some("Berlin".into()),
                    ..StreetAddress::default()
                }),
            ])
            .prop_map(Detail::Address),
            proptest::option::of(prop_oneof![
                Just("QQ 12 34 56 C".to_owned()),
                Just("X-77".to_owned())
            ])
            .prop_map(Detail::NationalId),
        ]
    }

    /// Any change to the details.
    pub(in crate::contact) fn arb_detail_change() -> impl Strategy<Value = DetailChange> {
        prop_oneof![
            3 => arb_detail().prop_map(DetailChange::Set),
            2 => arb_email().prop_map(DetailChange::AddEmail),
            1 => arb_email().prop_map(DetailChange::RemoveEmail),
            1 => arb_phone().prop_map(DetailChange::AddPhone),
            1 => arb_phone().prop_map(DetailChange::RemovePhone),
        ]
    }
}
