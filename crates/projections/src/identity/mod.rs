//! The identity index: every live contact as record linkage sees them, filed under its
//! blocking keys, so that intake and the duplicate checks find a person's candidates by any
//! field without loading everyone.
//!
//! # Input
//! The contact aggregate's events: names, emails, phones, company and country as they change
//! ([`ContactEvent::DetailChanged`], [`ContactEvent::EmailAdded`], …), merges and unmerges
//! (the survivor takes the kept values and the absorbed contact's addresses; the absorbed
//! contact leaves the index until it is unmerged) and erasure (the person leaves the index,
//! and every block forgets them).
//!
//! # Documents
//! - `person:<contact id>` ([`IndexedPerson`]): the contact's [`PersonRecord`], whether it is
//!   live, and the blocking keys it is filed under.
//! - `block:<key id>` ([`Block`]): the live contacts sharing one blocking key. The key's text
//!   (an email address, a sound code and a birth year) is never stored: the document's id is
//!   a name-based UUID of it ([`block_key`]). A block that grows past
//!   [`IdentityIndexModel::max_block_size`] is marked oversized and empties: a key that many
//!   people share finds nobody in particular, and lookups pass over it.
//!
//! # Lookup
//! [`query::Candidates`] names the blocks of a record's keys, then the live people in them,
//! in two rounds (two `WHERE key = ANY($1)` on PostgreSQL); the caller scores them with a
//! [`LinkageModel`](crm_domain::identity::linkage::LinkageModel).

pub mod query;

use crm_domain::ContactId;
use crm_domain::contact::{Contact, ContactEvent, ContactField, Detail};
use crm_domain::identity::linkage::{
    AddressParts, BlockingPass, PersonRecord, PostalAddress, blocking_keys, normalize_identifier,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::{DocKey, DocSet, Indexed, IndexedColumn, ReadModel};

/// Document kind of a person.
pub const PERSON: &str = "person";
/// Document kind of a block.
pub const BLOCK: &str = "block";

/// The namespace of blocking-key document ids (a name-based UUID of the key's text).
const BLOCK_NAMESPACE: Uuid = Uuid::from_u128(0x6a1c_8f3e_94d2_4b7a_9e05_3c1f_d2a8_7b64);

/// A contact in the index.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndexedPerson {
    /// What linkage compares.
    pub record: PersonRecord,
    /// Merged into another contact (and so not found) until unmerged.
    pub merged_into: Option<ContactId>,
    /// The ids of the blocks the person is filed under (empty while merged or erased).
    pub blocks: Vec<Uuid>,
    /// Erased: the record is empty and stays so. The document is kept, empty, so that an
    /// earlier event delivered again is recognised as applied instead of filing the person
    /// anew.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

impl IndexedPerson {
    /// Whether lookups find the person.
    pub fn is_live(&self) -> bool {
        self.merged_into.is_none() && !self.erased
    }
}

/// The live contacts sharing one blocking key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Block {
    /// The contacts, in the order they were filed.
    pub members: Vec<ContactId>,
    /// Grew past the model's limit: emptied, and passed over by lookups from then on.
    pub oversized: bool,
}

/// A document of the identity index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IdentityDoc {
    /// A person.
    Person(Box<IndexedPerson>),
    /// A block.
    Block(Block),
}

/// The document key of a person.
pub fn person_key(contact: ContactId) -> DocKey {
    DocKey::new(PERSON, contact.0)
}

/// The id of a blocking key's block document.
pub fn block_id(key: &str) -> Uuid {
    Uuid::new_v5(&BLOCK_NAMESPACE, key.as_bytes())
}

/// The document key of a blocking key's block.
pub fn block_key(id: Uuid) -> DocKey {
    DocKey::new(BLOCK, id)
}

/// The identity index read model. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityIndexModel {
    /// The blocking passes people are filed under.
    pub passes: Vec<BlockingPass>,
    /// A block with more live people than this is oversized.
    pub max_block_size: usize,
}

impl Default for IdentityIndexModel {
    fn default() -> Self {
        Self {
            passes: BlockingPass::ALL.to_vec(),
            max_block_size: 150,
        }
    }
}

impl IdentityIndexModel {
    /// The block ids a record is filed under.
    pub fn block_ids(&self, record: &PersonRecord) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = blocking_keys(record, &self.passes)
            .iter()
            .map(|key| block_id(key))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The contacts whose person documents an event changes, besides the event's own.
fn others(event: &ContactEvent) -> Vec<ContactId> {
    match event {
        ContactEvent::Merged { absorbed, .. } | ContactEvent::Unmerged { absorbed, .. } => {
            vec![*absorbed]
        }
        // The survivor it was merged into is erased by its own event.
        ContactEvent::Erased { absorbed, .. } => absorbed.clone(),
        _ => Vec::new(),
    }
}

fn changes_index(event: &ContactEvent) -> bool {
    !matches!(
        event,
        ContactEvent::ConsentGranted { .. }
            | ContactEvent::ConsentWithdrawn { .. }
            | ContactEvent::DeclaredNotDuplicate { .. }
            | ContactEvent::NotDuplicateRevoked { .. }
            | ContactEvent::DuplicateSuspected { .. }
            | ContactEvent::SourceLeadRecorded { .. }
    )
}

impl ReadModel for IdentityIndexModel {
    const NAME: &'static str = "identity_index";
    const VERSION: u32 = 1;
    const KINDS: &'static [&'static str] = &[PERSON, BLOCK];
    const COLUMNS: &'static [IndexedColumn] = &[];
    type Doc = IdentityDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        if let CrmEvent::Contact(contact) = &event.event
            && changes_index(contact)
        {
            keys.push(person_key(ContactId(event.stream.id)));
            keys.extend(others(contact).into_iter().map(person_key));
        }
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<IdentityDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        let CrmEvent::Contact(contact) = &event.event else {
            return;
        };
        if !changes_index(contact) {
            return;
        }
        // The blocks the event's people are filed under now, and those they will be filed
        // under: the event folded into a copy of their documents alone (the working set of
        // a batch holds many more).
        let this = ContactId(event.stream.id);
        let mut touched = vec![this];
        touched.extend(others(contact));
        let mut people = DocSet::new();
        for id in &touched {
            let key = person_key(*id);
            let doc = docs.get(&key).cloned();
            if let Some(IdentityDoc::Person(person)) = &doc {
                keys.extend(person.blocks.iter().copied().map(block_key));
            }
            people.load(key, doc);
        }
        fold_people(&mut people, this, contact);
        for id in &touched {
            if let Some(IdentityDoc::Person(person)) = people.get(&person_key(*id))
                && person.is_live()
            {
                keys.extend(self.block_ids(&person.record).into_iter().map(block_key));
            }
        }
    }

    fn apply(&self, docs: &mut DocSet<IdentityDoc>, event: &ProjectedEvent) {
        let CrmEvent::Contact(contact) = &event.event else {
            return;
        };
        if !changes_index(contact) {
            return;
        }
        let this = ContactId(event.stream.id);
        let mut touched = vec![this];
        touched.extend(others(contact));
        fold_people(docs, this, contact);
        for id in &touched {
            self.refile(docs, *id);
        }
    }

    fn indexed(_key: &DocKey, _doc: &IdentityDoc) -> Indexed {
        Vec::new()
    }
}

impl IdentityIndexModel {
    /// Files a person under the blocks of their current record (none if gone or merged) and
    /// takes them out of the blocks they left.
    fn refile(&self, docs: &mut DocSet<IdentityDoc>, id: ContactId) {
        let key = person_key(id);
        let (old, new) = match docs.get(&key) {
            Some(IdentityDoc::Person(person)) => (
                person.blocks.clone(),
                if person.is_live() {
                    self.block_ids(&person.record)
                } else {
                    Vec::new()
                },
            ),
            _ => (Vec::new(), Vec::new()),
        };
        if old == new {
            return;
        }
        for block in old.iter().filter(|b| !new.contains(b)) {
            let block_key = block_key(*block);
            let now_empty = match docs.get_mut(&block_key) {
                Some(IdentityDoc::Block(block)) => {
                    block.members.retain(|member| *member != id);
                    block.members.is_empty() && !block.oversized
                }
                _ => false,
            };
            if now_empty {
                docs.remove(&block_key);
            }
        }
        for block in new.iter().filter(|b| !old.contains(b)) {
            if let Some(IdentityDoc::Block(block)) =
                docs.get_or_insert_with(&block_key(*block), || IdentityDoc::Block(Block::default()))
                && !block.oversized
                && !block.members.contains(&id)
            {
                if block.members.len() >= self.max_block_size {
                    block.members = Vec::new();
                    block.oversized = true;
                } else {
                    block.members.push(id);
                }
            }
        }
        if let Some(IdentityDoc::Person(person)) = docs.get_mut(&key) {
            person.blocks = new;
        }
    }
}

/// The record the index holds for a contact, built from the contact aggregate's state: what
/// the fold of its events must equal.
pub fn person_record_of(contact: &Contact) -> PersonRecord {
    let mut record = PersonRecord::default();
    for field in ContactField::ALL {
        set_detail(&mut record, &contact.details.value(field));
    }
    for email in contact.details.emails() {
        add(&mut record.emails, email.value.normalized());
    }
    for phone in contact.details.phones() {
        add(&mut record.phones, phone.value.e164());
    }
    record
}

/// Applies a contact event to the person documents it changes (not to blocks).
fn fold_people(docs: &mut DocSet<IdentityDoc>, this: ContactId, event: &ContactEvent) {
    let key = person_key(this);
    match event {
        ContactEvent::Created { .. } => {
            docs.get_or_insert_with(&key, || IdentityDoc::Person(Box::default()));
        }
        ContactEvent::DetailChanged { detail, .. } => {
            with_person(docs, this, |record| set_detail(record, detail));
        }
        ContactEvent::EmailAdded { email, .. } => {
            if let Some(email) = email {
                with_person(docs, this, |record| {
                    add(&mut record.emails, email.normalized());
                });
            }
        }
        ContactEvent::EmailRemoved { email, .. } => {
            if let Some(email) = email {
                with_person(docs, this, |record| {
                    record.emails.retain(|e| e != email.normalized());
                });
            }
        }
        ContactEvent::PhoneAdded { phone, .. } => {
            if let Some(phone) = phone {
                with_person(docs, this, |record| add(&mut record.phones, phone.e164()));
            }
        }
        ContactEvent::PhoneRemoved { phone, .. } => {
            if let Some(phone) = phone {
                with_person(docs, this, |record| {
                    record.phones.retain(|p| p != phone.e164());
                });
            }
        }
        ContactEvent::Merged { decisions, .. } => with_person(docs, this, |record| {
            for decision in &decisions.fields {
                match decision.kept_entry() {
                    Some(entry) => set_detail(record, &entry.value),
                    None => set_detail(record, &Detail::empty(decision.field)),
                }
            }
            for email in &decisions.emails {
                add(&mut record.emails, email.value.normalized());
            }
            for phone in &decisions.phones {
                add(&mut record.phones, phone.value.e164());
            }
        }),
        ContactEvent::Unmerged { restoration, .. } => with_person(docs, this, |record| {
            for field in &restoration.fields {
                match &field.entry {
                    Some(entry) => set_detail(record, &entry.value),
                    None => set_detail(record, &Detail::empty(field.field)),
                }
            }
            for email in &restoration.emails {
                record.emails.retain(|e| e != email.normalized());
            }
            for phone in &restoration.phones {
                record.phones.retain(|p| p != phone.e164());
            }
        }),
        ContactEvent::MergedInto { survivor, .. } => {
            if let Some(IdentityDoc::Person(person)) = docs.get_mut(&key) {
                person.merged_into = Some(*survivor);
            }
        }
        ContactEvent::UnmergedFrom { .. } => {
            if let Some(IdentityDoc::Person(person)) = docs.get_mut(&key) {
                person.merged_into = None;
            }
        }
        ContactEvent::Erased { absorbed, .. } => {
            // The person leaves, with the contacts they had absorbed: their records empty,
            // so refiling takes them out of every block; what is left is a tombstone.
            for id in std::iter::once(&this).chain(absorbed) {
                if let Some(IdentityDoc::Person(person)) = docs.get_mut(&person_key(*id)) {
                    person.record = PersonRecord::default();
                    person.erased = true;
                }
            }
        }
        ContactEvent::ConsentGranted { .. }
        | ContactEvent::ConsentWithdrawn { .. }
        | ContactEvent::DeclaredNotDuplicate { .. }
        | ContactEvent::NotDuplicateRevoked { .. }
        | ContactEvent::DuplicateSuspected { .. }
        | ContactEvent::SourceLeadRecorded { .. }
        | ContactEvent::CustomFieldsSet(_) => {}
    }
}

fn with_person(
    docs: &mut DocSet<IdentityDoc>,
    id: ContactId,
    change: impl FnOnce(&mut PersonRecord),
) {
    if let Some(IdentityDoc::Person(person)) = docs.get_mut(&person_key(id)) {
        change(&mut person.record);
    }
}

fn add(values: &mut Vec<String>, value: &str) {
    if !values.iter().any(|v| v == value) {
        values.push(value.to_owned());
    }
}

/// Sets the record's field that a contact detail feeds; details linkage does not compare
/// are left alone.
fn set_detail(record: &mut PersonRecord, detail: &Detail) {
    match detail {
        Detail::GivenName(name) => {
            record.given_name = name.as_ref().map(|n| n.normalized().to_owned());
            record.refresh_sound_codes();
        }
        Detail::FamilyName(name) => {
            record.family_name = name.as_ref().map(|n| n.normalized().to_owned());
            record.refresh_sound_codes();
        }
        Detail::PrimaryEmail(Some(email)) => add(&mut record.emails, email.normalized()),
        Detail::CompanyName(name) => {
            record.company = name.as_ref().map(|n| n.normalized().to_owned());
        }
        Detail::Country(country) => record.address.country = *country,
        Detail::DateOfBirth(date) => record.date_of_birth = *date,
        Detail::Address(address) => {
            let parts = address
                .as_ref()
                .map_or_else(AddressParts::default, |a| AddressParts {
                    street_number: a.street_number.as_deref(),
                    street: a.street.as_deref(),
                    locality: a.locality.as_deref(),
                    postcode: a.postcode.as_deref(),
                    region: a.region.as_deref(),
                });
            record.address = PostalAddress::normalize(&parts, record.address.country);
        }
        Detail::NationalId(id) => {
            record.national_ids = id
                .as_deref()
                .and_then(normalize_identifier)
                .into_iter()
                .collect();
        }
        Detail::PrimaryEmail(None)
        | Detail::CompanyDomain(_)
        | Detail::JobTitle(_)
        | Detail::Owner(_)
        | Detail::Account(_)
        | Detail::LifecycleStage(_) => {}
    }
}
