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
//! - `company:<key id>:<contact id>` ([`CompanyMember`]): one row per live contact and company
//!   key their record points to — each work domain (the company's web domain and work email
//!   domains, free mail left out) with its parent domains, and the first word of the company's
//!   name — so that an account opened after its people finds them ([`query::PeopleAtCompany`],
//!   paged by contact id). Rows are inserted and deleted, never rewritten, and have no size
//!   limit: a company of ten thousand people is ten thousand rows. The key's text is not
//!   stored ([`company_key_id`]).
//!
//! # Lookups
//! [`query::Candidates`] names the blocks of a record's keys, then the live people in them,
//! in two rounds (two `WHERE key = ANY($1)` on PostgreSQL); the caller scores them with a
//! [`LinkageModel`](crm_domain::identity::linkage::LinkageModel).

pub mod query;

use crm_domain::ContactId;
use crm_domain::account::matching::{CompanyEvidence, name_block};
use crm_domain::contact::{Contact, ContactEvent, ContactField, Detail};
use crm_domain::identity::linkage::{
    AddressParts, BlockingPass, IdentifierSketch, PersonRecord, PostalAddress, blocking_keys,
    normalize_identifier,
};
use crm_domain::identity::{CompanyDomain, CompanyName, EmailAddress, IdentityRecord};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::{ColumnType, DocKey, DocSet, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of a person.
pub const PERSON: &str = "person";
/// Document kind of a block.
pub const BLOCK: &str = "block";
/// Document kind of a company row (a pair: the company key, the contact).
pub const COMPANY: &str = "company";

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
    /// The company's web domain, as the contact records it (normalized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_domain: Option<CompanyDomain>,
    /// The company key ids the person's rows are filed under (empty while merged or erased).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companies: Vec<Uuid>,
    /// The record's identifiers sketched, as the model last filed the person: what lets a
    /// lookup weigh the person without reading their emails' and phones' texts. Not stored (a
    /// document read back from SQL has none, and its lookups read the texts) and not part of
    /// the document's equality; see [`Sketched`].
    #[serde(skip)]
    pub(crate) sketch: Sketched,
}

/// An [`IdentifierSketch`] kept with the record it was made of: refreshed by the model each
/// time it files the person, so it never stands for another record. Equal to any other: it
/// says nothing the record does not.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sketched(Option<IdentifierSketch>);

impl Sketched {
    /// The sketch, if the model made one.
    pub(crate) fn get(&self) -> Option<&IdentifierSketch> {
        self.0.as_ref()
    }
}

impl PartialEq for Sketched {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Sketched {}

impl IndexedPerson {
    /// What the person's record says of the company they work for.
    pub fn company_evidence(&self) -> CompanyEvidence {
        CompanyEvidence::of(&IdentityRecord {
            emails: self
                .record
                .emails
                .iter()
                .filter_map(|email| EmailAddress::parse(email).ok())
                .collect(),
            company_domain: self.company_domain.clone(),
            company_name: self
                .record
                .company
                .as_deref()
                .and_then(|name| CompanyName::new(name).ok()),
            ..IdentityRecord::default()
        })
    }
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

/// A live contact filed under a company key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyMember {
    /// The company key's id.
    pub company: Uuid,
    /// The contact.
    pub contact: ContactId,
}

/// A document of the identity index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IdentityDoc {
    /// A person.
    Person(Box<IndexedPerson>),
    /// A block.
    Block(Block),
    /// A contact's row under a company key.
    Company(CompanyMember),
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

/// The namespace of company key ids.
const COMPANY_NAMESPACE: Uuid = Uuid::from_u128(0x3e0b_51c7_2a94_4d6e_8f13_b7c2_05d9_e4a1);

/// The id of a company key: `domain:<normalized domain>` or `name:<first word of the name>`.
pub fn company_key_id(key: &str) -> Uuid {
    Uuid::new_v5(&COMPANY_NAMESPACE, key.as_bytes())
}

/// The document key of `contact`'s row under company key `company`.
pub fn company_row_key(company: Uuid, contact: ContactId) -> DocKey {
    DocKey::pair(COMPANY, company, contact.0)
}

/// The company keys a person with `evidence` is filed under: each work domain and each of its
/// parent domains of two labels or more (someone at `eu.acme.example` works at
/// `acme.example`), and the first word of the company's name. Sorted, each once.
pub fn person_company_keys(evidence: &CompanyEvidence) -> Vec<Uuid> {
    let mut keys: Vec<Uuid> = evidence
        .domains
        .iter()
        .flat_map(|domain| {
            domain
                .match_indices('.')
                .map(|(at, _)| &domain[at + 1..])
                .filter(|parent| parent.contains('.'))
                .chain(std::iter::once(domain.as_str()))
        })
        .map(|domain| company_key_id(&format!("domain:{domain}")))
        .collect();
    keys.extend(
        evidence
            .name
            .as_ref()
            .and_then(name_block)
            .map(|word| company_key_id(&format!("name:{word}"))),
    );
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The company keys under which the people of an account with these `domains` and `name` are
/// filed: each domain exactly (people at its subdomains are filed under it too) and the first
/// word of the name. Sorted, each once.
pub fn account_company_keys(domains: &[CompanyDomain], name: &CompanyName) -> Vec<Uuid> {
    let mut keys: Vec<Uuid> = domains
        .iter()
        .filter(|domain| !domain.is_personal_mail())
        .map(|domain| company_key_id(&format!("domain:{}", domain.normalized())))
        .collect();
    keys.extend(name_block(name).map(|word| company_key_id(&format!("name:{word}"))));
    keys.sort_unstable();
    keys.dedup();
    keys
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
    /// 2: company rows.
    const VERSION: u32 = 2;
    const KINDS: &'static [&'static str] = &[PERSON, BLOCK, COMPANY];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("company", ColumnType::Uuid),
        IndexedColumn::new("contact", ColumnType::Uuid),
    ];
    /// The people at a company, paged by contact id.
    const ORDERED_WITHIN: &'static [(&'static str, &'static str)] = &[("company", "contact")];
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
                keys.extend(
                    person
                        .companies
                        .iter()
                        .map(|company| company_row_key(*company, *id)),
                );
            }
            people.load(key, doc);
        }
        fold_people(&mut people, this, contact);
        for id in &touched {
            if let Some(IdentityDoc::Person(person)) = people.get(&person_key(*id))
                && person.is_live()
            {
                keys.extend(self.block_ids(&person.record).into_iter().map(block_key));
                keys.extend(
                    person_company_keys(&person.company_evidence())
                        .into_iter()
                        .map(|company| company_row_key(company, *id)),
                );
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

    fn indexed(_key: &DocKey, doc: &IdentityDoc) -> Indexed {
        match doc {
            IdentityDoc::Company(member) => vec![
                ("company", IndexValue::Uuid(member.company)),
                ("contact", IndexValue::Uuid(member.contact.0)),
            ],
            IdentityDoc::Person(_) | IdentityDoc::Block(_) => Vec::new(),
        }
    }
}

impl IdentityIndexModel {
    /// Files a person under the blocks of their current record (none if gone or merged) and
    /// takes them out of the blocks they left.
    fn refile(&self, docs: &mut DocSet<IdentityDoc>, id: ContactId) {
        refile_companies(docs, id);
        let key = person_key(id);
        if let Some(IdentityDoc::Person(person)) = docs.get_mut(&key) {
            person.sketch = Sketched(Some(IdentifierSketch::of(&person.record)));
        }
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

/// Files a person's company rows under the company keys of their current record (none if gone
/// or merged), deleting the rows of keys they left. Rows are only inserted or deleted.
fn refile_companies(docs: &mut DocSet<IdentityDoc>, id: ContactId) {
    let key = person_key(id);
    let (old, new) = match docs.get(&key) {
        Some(IdentityDoc::Person(person)) => (
            person.companies.clone(),
            if person.is_live() {
                person_company_keys(&person.company_evidence())
            } else {
                Vec::new()
            },
        ),
        _ => (Vec::new(), Vec::new()),
    };
    if old == new {
        return;
    }
    for company in old.iter().filter(|company| !new.contains(company)) {
        docs.remove(&company_row_key(*company, id));
    }
    for company in new.iter().filter(|company| !old.contains(company)) {
        let row = IdentityDoc::Company(CompanyMember {
            company: *company,
            contact: id,
        });
        // `linked_keys` names every row of the person's new keys.
        let _ = docs.insert(&company_row_key(*company, id), row);
    }
    if let Some(IdentityDoc::Person(person)) = docs.get_mut(&key) {
        person.companies = new;
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
            set_person_detail(docs, this, detail);
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
        ContactEvent::Merged { decisions, .. } => {
            for decision in &decisions.fields {
                match decision.kept_entry() {
                    Some(entry) => set_person_detail(docs, this, &entry.value),
                    None => set_person_detail(docs, this, &Detail::empty(decision.field)),
                }
            }
            with_person(docs, this, |record| {
                for email in &decisions.emails {
                    add(&mut record.emails, email.value.normalized());
                }
                for phone in &decisions.phones {
                    add(&mut record.phones, phone.value.e164());
                }
            });
        }
        ContactEvent::Unmerged { restoration, .. } => {
            for field in &restoration.fields {
                match &field.entry {
                    Some(entry) => set_person_detail(docs, this, &entry.value),
                    None => set_person_detail(docs, this, &Detail::empty(field.field)),
                }
            }
            with_person(docs, this, |record| {
                for email in &restoration.emails {
                    record.emails.retain(|e| e != email.normalized());
                }
                for phone in &restoration.phones {
                    record.phones.retain(|p| p != phone.e164());
                }
            });
        }
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
                    person.company_domain = None;
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
        | ContactEvent::SyncOutranked { .. }
        | ContactEvent::ExternalIdLinked { .. }
        | ContactEvent::ExternalIdUnlinked { .. }
        | ContactEvent::FieldConflictRaised { .. }
        | ContactEvent::FieldConflictResolved { .. }
        | ContactEvent::CustomFieldsSet(_) => {}
    }
}

/// Sets a detail on the person: the record's field, and the company domain the record does
/// not hold.
fn set_person_detail(docs: &mut DocSet<IdentityDoc>, id: ContactId, detail: &Detail) {
    if let Some(IdentityDoc::Person(person)) = docs.get_mut(&person_key(id)) {
        if let Detail::CompanyDomain(domain) = detail {
            person.company_domain.clone_from(domain);
        }
        set_detail(&mut person.record, detail);
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
