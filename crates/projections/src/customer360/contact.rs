//! The contact's own document: profile with provenance per field, consent, merge links, the
//! records linked to it, and its own timeline.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_domain::contact::{
    ChannelConsent, ConsentScope, ConsentStatus, ContactEvent, ContactField, Detail,
    ErasureRequest, LifecycleStage, MergeDecisions, MergeSide, Provenance, Restoration, Sourced,
};
use crm_domain::identity::{EmailAddress, PhoneNumber};
use crm_domain::{Actor, ContactId, LeadId, OpportunityId, TicketId, UserId};
use serde::{Deserialize, Serialize};

use super::timeline::{ActivityKind, TimelineEntry};

/// A contact's details as the contact aggregate holds them: one entry per field ever set and
/// the email addresses and phone numbers, each with the source system and source time of its
/// current value (for field-level sync), raw and normalized forms side by side.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// The single-valued fields, with provenance.
    pub fields: BTreeMap<ContactField, Sourced<Detail>>,
    /// The email addresses, with provenance, in the order added.
    pub emails: Vec<Sourced<EmailAddress>>,
    /// The phone numbers, with provenance, in the order added.
    pub phones: Vec<Sourced<PhoneNumber>>,
    /// The contact's ids in connected systems, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ids: Vec<crm_domain::contact::ExternalId>,
}

impl Profile {
    /// The value of `field` (empty when never set).
    pub fn value(&self, field: ContactField) -> Detail {
        self.fields
            .get(&field)
            .map_or_else(|| Detail::empty(field), |entry| entry.value.clone())
    }

    /// The source of `field`'s current value.
    pub fn provenance(&self, field: ContactField) -> Option<&Provenance> {
        self.fields.get(&field).map(|entry| &entry.provenance)
    }

    /// The relationship's owner.
    pub fn owner(&self) -> Option<UserId> {
        match self.fields.get(&ContactField::Owner)?.value {
            Detail::Owner(owner) => owner,
            _ => None,
        }
    }

    /// The lifecycle stage as recorded on the contact.
    pub fn lifecycle_stage(&self) -> Option<LifecycleStage> {
        match self.fields.get(&ContactField::LifecycleStage)?.value {
            Detail::LifecycleStage(stage) => stage,
            _ => None,
        }
    }

    /// When the customer churned, by the source's time, if the recorded stage is churned.
    pub fn churned_at(&self) -> Option<DateTime<Utc>> {
        let entry = self.fields.get(&ContactField::LifecycleStage)?;
        match entry.value {
            Detail::LifecycleStage(Some(LifecycleStage::Churned)) => {
                Some(entry.provenance.source_time)
            }
            _ => None,
        }
    }

    fn restore(&mut self, field: ContactField, entry: Option<Sourced<Detail>>) {
        match entry {
            Some(entry) => {
                self.fields.insert(field, entry);
            }
            None => {
                self.fields.remove(&field);
            }
        }
    }
}

/// Adds or replaces (same normalized value) an item of a set of contact points.
fn put<T>(items: &mut Vec<Sourced<T>>, item: Sourced<T>, key: impl Fn(&T) -> &str) {
    match items
        .iter_mut()
        .find(|present| key(&present.value) == key(&item.value))
    {
        Some(present) => *present = item,
        None => items.push(item),
    }
}

fn take_over<T: Clone>(items: &mut Vec<Sourced<T>>, item: &Sourced<T>, key: impl Fn(&T) -> &str) {
    if !items
        .iter()
        .any(|present| key(&present.value) == key(&item.value))
    {
        items.push(item.clone());
    }
}

fn drop_item<T>(items: &mut Vec<Sourced<T>>, gone: &T, key: impl Fn(&T) -> &str) {
    items.retain(|present| key(&present.value) != key(gone));
}

fn email_key(email: &EmailAddress) -> &str {
    email.normalized()
}

fn phone_key(phone: &PhoneNumber) -> &str {
    phone.e164()
}

/// What remains of an erasure: the request, who carried it out and when. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The request.
    pub request: ErasureRequest,
    /// Who carried it out.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
    /// The contact whose erasure this was (itself, or the survivor that had absorbed it).
    pub erased_as: ContactId,
}

/// The contact's own document of the Customer 360.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDoc {
    /// The contact.
    pub id: ContactId,
    /// When it was created; `None` while only linked records have named it.
    pub created_at: Option<DateTime<Utc>>,
    /// The system it was created from.
    pub origin: Option<Provenance>,
    /// Details with provenance.
    pub profile: Profile,
    /// The statement in effect per channel and purpose (keyed `email` for marketing,
    /// `email:service` for another purpose).
    pub consents: BTreeMap<ConsentScope, ChannelConsent>,
    /// The survivor this contact was merged into, while it is.
    pub merged_into: Option<ContactId>,
    /// The contacts this one absorbed and still holds, in merge order.
    pub absorbed: Vec<ContactId>,
    /// Contacts declared different people.
    pub not_duplicates: Vec<ContactId>,
    /// Leads converted into this contact.
    pub leads: Vec<LeadId>,
    /// Opportunities with this contact.
    pub opportunities: Vec<OpportunityId>,
    /// Tickets of this contact.
    pub tickets: Vec<TicketId>,
    /// When the contact's own latest interaction happened (its timeline is kept in rows of
    /// its own, see [`TimelineItem`](super::TimelineItem)).
    pub last_activity: Option<DateTime<Utc>>,
    /// Set once the contact's personal data was erased.
    pub erasure: Option<Erasure>,
}

impl ContactDoc {
    /// An empty document for `id`, before anything is known about it.
    pub fn new(id: ContactId) -> Self {
        Self {
            id,
            created_at: None,
            origin: None,
            profile: Profile::default(),
            consents: BTreeMap::new(),
            merged_into: None,
            absorbed: Vec::new(),
            not_duplicates: Vec::new(),
            leads: Vec::new(),
            opportunities: Vec::new(),
            tickets: Vec::new(),
            last_activity: None,
            erasure: None,
        }
    }

    /// Whether the contact's personal data was erased.
    pub fn is_erased(&self) -> bool {
        self.erasure.is_some()
    }

    pub(crate) fn link_lead(&mut self, lead: LeadId) {
        if !self.leads.contains(&lead) {
            self.leads.push(lead);
        }
    }

    pub(crate) fn link_opportunity(&mut self, opportunity: OpportunityId) {
        if !self.opportunities.contains(&opportunity) {
            self.opportunities.push(opportunity);
        }
    }

    pub(crate) fn link_ticket(&mut self, ticket: TicketId) {
        if !self.tickets.contains(&ticket) {
            self.tickets.push(ticket);
        }
    }

    /// Drops every personal value: profile, consent proofs (the status per channel stays, as
    /// a suppression record), origin system stays (it names a system, not the person).
    pub(crate) fn erase(&mut self, erasure: Erasure) {
        self.profile = Profile::default();
        for consent in self.consents.values_mut() {
            consent.proof = crm_domain::contact::ConsentProof::default();
        }
        self.erasure = Some(erasure);
    }

    /// Applies one of the contact's own events at `position`, answering the entry it adds to
    /// the contact's timeline, if any.
    pub(crate) fn apply(&mut self, event: &ContactEvent, position: u64) -> Option<TimelineEntry> {
        let entry = |kind, at| TimelineEntry::new(kind, at, position);
        let entry = match event {
            // Custom field values are shown from their own model, not on the timeline; sync
            // values that lost or wait for review change no field (the sync conflict queue
            // shows what waits).
            ContactEvent::ExternalIdLinked { external, .. } => {
                if let Some(external) = external
                    && let Err(place) = self.profile.external_ids.binary_search(external)
                {
                    self.profile.external_ids.insert(place, external.clone());
                }
                return None;
            }
            ContactEvent::ExternalIdUnlinked { external, .. } => {
                if let Some(external) = external {
                    self.profile.external_ids.retain(|held| held != external);
                }
                return None;
            }
            ContactEvent::CustomFieldsSet(_)
            | ContactEvent::SyncOutranked { .. }
            | ContactEvent::FieldConflictRaised { .. }
            | ContactEvent::FieldConflictResolved { .. } => return None,
            ContactEvent::Created { origin, at, .. } => {
                self.created_at = Some(*at);
                self.origin = Some(origin.clone());
                entry(ActivityKind::ContactCreated, *at)
            }
            ContactEvent::DetailChanged {
                detail,
                provenance,
                at,
            } => {
                let field = detail.field();
                self.profile.fields.insert(
                    field,
                    Sourced {
                        value: detail.clone(),
                        provenance: provenance.clone(),
                    },
                );
                TimelineEntry {
                    field: Some(field),
                    ..entry(ActivityKind::ContactDetailChanged, *at)
                }
            }
            ContactEvent::EmailAdded {
                email,
                provenance,
                at,
            } => {
                // `None`: erased; the erasure cleared the profile anyway.
                if let Some(email) = email {
                    put(
                        &mut self.profile.emails,
                        sourced(email, provenance),
                        email_key,
                    );
                }
                entry(ActivityKind::ContactEmailAdded, *at)
            }
            ContactEvent::EmailRemoved { email, at, .. } => {
                if let Some(email) = email {
                    drop_item(&mut self.profile.emails, email, email_key);
                }
                entry(ActivityKind::ContactEmailRemoved, *at)
            }
            ContactEvent::PhoneAdded {
                phone,
                provenance,
                at,
            } => {
                if let Some(phone) = phone {
                    put(
                        &mut self.profile.phones,
                        sourced(phone, provenance),
                        phone_key,
                    );
                }
                entry(ActivityKind::ContactPhoneAdded, *at)
            }
            ContactEvent::PhoneRemoved { phone, at, .. } => {
                if let Some(phone) = phone {
                    drop_item(&mut self.profile.phones, phone, phone_key);
                }
                entry(ActivityKind::ContactPhoneRemoved, *at)
            }
            ContactEvent::ConsentGranted {
                channel,
                purpose,
                provenance,
                proof,
                at,
            }
            | ContactEvent::ConsentWithdrawn {
                channel,
                purpose,
                provenance,
                proof,
                at,
            } => {
                let granted = matches!(event, ContactEvent::ConsentGranted { .. });
                self.consents.insert(
                    ConsentScope::new(*channel, *purpose),
                    ChannelConsent {
                        status: if granted {
                            ConsentStatus::Granted
                        } else {
                            ConsentStatus::Withdrawn
                        },
                        provenance: provenance.clone(),
                        proof: proof.clone(),
                    },
                );
                let kind = if granted {
                    ActivityKind::ContactConsentGranted
                } else {
                    ActivityKind::ContactConsentWithdrawn
                };
                TimelineEntry {
                    consent_channel: Some(*channel),
                    consent_purpose: Some(*purpose).filter(|purpose| !purpose.is_marketing()),
                    ..entry(kind, *at)
                }
            }
            ContactEvent::Merged {
                absorbed,
                decisions,
                at,
                ..
            } => {
                self.apply_merge(decisions);
                if !self.absorbed.contains(absorbed) {
                    self.absorbed.push(*absorbed);
                }
                TimelineEntry {
                    other: Some(absorbed.0),
                    ..entry(ActivityKind::ContactMerged, *at)
                }
            }
            ContactEvent::MergedInto { survivor, at, .. } => {
                self.merged_into = Some(*survivor);
                TimelineEntry {
                    other: Some(survivor.0),
                    ..entry(ActivityKind::ContactMergedInto, *at)
                }
            }
            ContactEvent::Unmerged {
                absorbed,
                restoration,
                at,
                ..
            } => {
                self.apply_restoration(restoration);
                self.absorbed.retain(|held| held != absorbed);
                TimelineEntry {
                    other: Some(absorbed.0),
                    ..entry(ActivityKind::ContactUnmerged, *at)
                }
            }
            ContactEvent::UnmergedFrom { survivor, at, .. } => {
                if self.merged_into == Some(*survivor) {
                    self.merged_into = None;
                }
                TimelineEntry {
                    other: Some(survivor.0),
                    ..entry(ActivityKind::ContactUnmergedFrom, *at)
                }
            }
            ContactEvent::DeclaredNotDuplicate { other, at, .. } => {
                if !self.not_duplicates.contains(other) {
                    self.not_duplicates.push(*other);
                }
                TimelineEntry {
                    other: Some(other.0),
                    ..entry(ActivityKind::ContactDeclaredNotDuplicate, *at)
                }
            }
            ContactEvent::NotDuplicateRevoked { other, at, .. } => {
                self.not_duplicates.retain(|declared| declared != other);
                TimelineEntry {
                    other: Some(other.0),
                    ..entry(ActivityKind::ContactNotDuplicateRevoked, *at)
                }
            }
            // The review queue's business, not an interaction, and a conversion that is on the
            // timeline already (from the lead's `LeadConverted`): no timeline entry.
            ContactEvent::DuplicateSuspected { .. } | ContactEvent::SourceLeadRecorded { .. } => {
                return None;
            }
            ContactEvent::Erased {
                contact_id,
                request,
                by,
                at,
                ..
            } => {
                self.erase(Erasure {
                    request: *request,
                    by: by.clone(),
                    at: *at,
                    erased_as: *contact_id,
                });
                entry(ActivityKind::ContactErased, *at)
            }
        };
        self.last_activity = self.last_activity.max(Some(entry.at));
        Some(entry)
    }

    /// What the survivor holds after a merge, as the contact aggregate applies it.
    fn apply_merge(&mut self, decisions: &MergeDecisions) {
        for decision in &decisions.fields {
            if decision.kept == MergeSide::Absorbed {
                self.profile
                    .restore(decision.field, decision.absorbed.clone());
            }
        }
        for email in &decisions.emails {
            take_over(&mut self.profile.emails, email, email_key);
        }
        for phone in &decisions.phones {
            take_over(&mut self.profile.phones, phone, phone_key);
        }
        for decision in &decisions.consents {
            if decision.kept == MergeSide::Absorbed {
                set_consent(
                    &mut self.consents,
                    ConsentScope::new(decision.channel, decision.purpose),
                    decision.absorbed.clone(),
                );
            }
        }
    }

    /// What the survivor gets back when a merge is undone.
    fn apply_restoration(&mut self, restoration: &Restoration) {
        for field in &restoration.fields {
            self.profile.restore(field.field, field.entry.clone());
        }
        for email in &restoration.emails {
            drop_item(&mut self.profile.emails, email, email_key);
        }
        for phone in &restoration.phones {
            drop_item(&mut self.profile.phones, phone, phone_key);
        }
        for consent in &restoration.consents {
            set_consent(
                &mut self.consents,
                ConsentScope::new(consent.channel, consent.purpose),
                consent.consent.clone(),
            );
        }
    }
}

fn set_consent(
    consents: &mut BTreeMap<ConsentScope, ChannelConsent>,
    scope: ConsentScope,
    consent: Option<ChannelConsent>,
) {
    match consent {
        Some(consent) => {
            consents.insert(scope, consent);
        }
        None => {
            consents.remove(&scope);
        }
    }
}

fn sourced<T: Clone>(value: &T, provenance: &Provenance) -> Sourced<T> {
    Sourced {
        value: value.clone(),
        provenance: provenance.clone(),
    }
}
