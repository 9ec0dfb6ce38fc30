//! Contacts by their ids in connected systems: the cross-reference a billing system or a
//! support desk looks its own record up by.
//!
//! # Input
//! The contact's `ContactExternalIdLinked` and `ContactExternalIdUnlinked`, and the events
//! that change where the person is kept: `ContactMergedInto` / `ContactUnmergedFrom` (an id of
//! an absorbed contact leads to its survivor) and `ContactErased` (the ids go with the
//! person).
//!
//! # Documents
//! - `ref:<uuid>` ([`ExternalRefDoc`]): the contacts holding one id of one system. The uuid is
//!   a name-based UUID of the system and the id, so the id's text is not stored here.
//! - `contact:<id>` ([`ContactRefs`]): the ids a contact holds and the survivor it was merged
//!   into, so its erasure reaches every `ref` document ([`ReadModel::linked_keys`]) and a
//!   lookup answers with the contact the person is kept as.

use crm_domain::ContactId;
use crm_domain::contact::{ContactEvent, ExternalId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::{DocKey, DocSet, Found, Indexed, IndexedColumn, Lookup, ReadModel};

/// Document kind of one id's contacts.
pub const REF: &str = "ref";
/// Document kind of one contact's ids.
pub const CONTACT: &str = "contact";

/// The namespace of the name-based ids of `ref` documents.
const REF_NAMESPACE: Uuid = Uuid::from_u128(0x0193_b3f0_e7a5_7000_8000_0000_0000_e1d5);

fn ref_key(external: &ExternalId) -> DocKey {
    let name = format!("{}\u{0}{}", external.system, external.id);
    DocKey::new(REF, Uuid::new_v5(&REF_NAMESPACE, name.as_bytes()))
}

fn contact_key(contact: ContactId) -> DocKey {
    DocKey::new(CONTACT, contact.0)
}

/// The contacts holding one id of one system, in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalRefDoc {
    /// The contacts.
    pub contacts: Vec<ContactId>,
}

/// One contact's ids and where the person is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRefs {
    /// Its ids, in order.
    pub ids: Vec<ExternalId>,
    /// The survivor it was merged into, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<ContactId>,
}

/// A document of the model, stored as `{"doc": "ref" | "contact", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
pub enum ExternalIdDoc {
    /// One id's contacts.
    Ref(ExternalRefDoc),
    /// One contact's ids.
    Contact(ContactRefs),
}

/// The external id cross-reference read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExternalIdModel;

impl ReadModel for ExternalIdModel {
    const NAME: &'static str = "external_ids";
    const VERSION: u32 = 1;
    const KINDS: &'static [&'static str] = &[REF, CONTACT];
    const COLUMNS: &'static [IndexedColumn] = &[];
    type Doc = ExternalIdDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let CrmEvent::Contact(contact_event) = &event.event else {
            return;
        };
        let contact = ContactId(event.stream.id);
        match contact_event {
            ContactEvent::ExternalIdLinked { external, .. }
            | ContactEvent::ExternalIdUnlinked { external, .. } => {
                keys.push(contact_key(contact));
                keys.extend(external.iter().map(ref_key));
            }
            ContactEvent::MergedInto { .. } | ContactEvent::UnmergedFrom { .. } => {
                keys.push(contact_key(contact));
            }
            ContactEvent::Erased { .. } => {
                keys.extend(event.event.erased_contacts().into_iter().map(contact_key));
            }
            _ => {}
        }
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<ExternalIdDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        for erased in event.event.erased_contacts() {
            if let Some(ExternalIdDoc::Contact(refs)) = docs.get(&contact_key(erased)) {
                keys.extend(refs.ids.iter().map(ref_key));
            }
        }
    }

    fn apply(&self, docs: &mut DocSet<ExternalIdDoc>, event: &ProjectedEvent) {
        let CrmEvent::Contact(contact_event) = &event.event else {
            return;
        };
        let contact = ContactId(event.stream.id);
        match contact_event {
            ContactEvent::ExternalIdLinked {
                external: Some(external),
                ..
            } => {
                if let Some(ExternalIdDoc::Contact(refs)) = docs
                    .get_or_insert_with(&contact_key(contact), || {
                        ExternalIdDoc::Contact(ContactRefs::default())
                    })
                    && let Err(place) = refs.ids.binary_search(external)
                {
                    refs.ids.insert(place, external.clone());
                }
                if let Some(ExternalIdDoc::Ref(held)) = docs
                    .get_or_insert_with(&ref_key(external), || {
                        ExternalIdDoc::Ref(ExternalRefDoc::default())
                    })
                    && let Err(place) = held.contacts.binary_search(&contact)
                {
                    held.contacts.insert(place, contact);
                }
            }
            ContactEvent::ExternalIdUnlinked {
                external: Some(external),
                ..
            } => {
                if let Some(ExternalIdDoc::Contact(refs)) = docs.get_mut(&contact_key(contact)) {
                    refs.ids.retain(|held| held != external);
                }
                forget_contact(docs, &ref_key(external), contact);
            }
            ContactEvent::MergedInto { survivor, .. } => {
                if let Some(ExternalIdDoc::Contact(refs)) = docs.get_mut(&contact_key(contact)) {
                    refs.merged_into = Some(*survivor);
                }
            }
            ContactEvent::UnmergedFrom { .. } => {
                if let Some(ExternalIdDoc::Contact(refs)) = docs.get_mut(&contact_key(contact)) {
                    refs.merged_into = None;
                }
            }
            ContactEvent::Erased { .. } => {
                for erased in event.event.erased_contacts() {
                    if let Some(ExternalIdDoc::Contact(refs)) = docs.remove(&contact_key(erased)) {
                        for external in &refs.ids {
                            forget_contact(docs, &ref_key(external), erased);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn indexed(_key: &DocKey, _doc: &ExternalIdDoc) -> Indexed {
        Vec::new()
    }
}

/// Takes `contact` off the `ref` document at `key`, removing the document once empty.
fn forget_contact(docs: &mut DocSet<ExternalIdDoc>, key: &DocKey, contact: ContactId) {
    let emptied = match docs.get_mut(key) {
        Some(ExternalIdDoc::Ref(held)) => {
            held.contacts.retain(|holder| *holder != contact);
            held.contacts.is_empty()
        }
        _ => false,
    };
    if emptied {
        docs.remove(key);
    }
}

/// A contact found by an external id: the contact holding it, and the survivor it was merged
/// into, if it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalMatch {
    /// The contact the id was linked to.
    pub contact: ContactId,
    /// Where the person is kept now, when that contact was merged into another.
    pub merged_into: Option<ContactId>,
}

/// The contacts holding one id of one system (usually one; several when the same record was
/// linked to contacts not yet merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactsByExternalId {
    /// The system and the id.
    pub external: ExternalId,
}

impl Lookup<ExternalIdDoc> for ContactsByExternalId {
    type Answer = Vec<ExternalMatch>;

    fn keys(&self, found: &Found<ExternalIdDoc>, keys: &mut Vec<DocKey>) {
        let key = ref_key(&self.external);
        match found.get(&key) {
            None if !found.contains(&key) => keys.push(key),
            Some(ExternalIdDoc::Ref(held)) => keys.extend(
                held.contacts
                    .iter()
                    .map(|contact| contact_key(*contact))
                    .filter(|key| !found.contains(key)),
            ),
            _ => {}
        }
    }

    fn answer(&self, found: &Found<ExternalIdDoc>) -> Vec<ExternalMatch> {
        let Some(ExternalIdDoc::Ref(held)) = found.get(&ref_key(&self.external)) else {
            return Vec::new();
        };
        held.contacts
            .iter()
            .map(|contact| ExternalMatch {
                contact: *contact,
                merged_into: match found.get(&contact_key(*contact)) {
                    Some(ExternalIdDoc::Contact(refs)) => refs.merged_into,
                    _ => None,
                },
            })
            .collect()
    }
}
