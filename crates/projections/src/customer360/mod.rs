//! Customer 360: everything about one customer in one view, following merges.
//!
//! # Documents
//! One document per record, each written only by its own stream's events plus the link that
//! ties it to a contact:
//! - `contact:<id>` ([`ContactDoc`]): profile (raw and normalized identities, provenance per
//!   field), consent per channel, merge links both ways, the ids of the contact's leads,
//!   opportunities and tickets, and when its latest interaction happened.
//! - `lead:<id>` ([`LeadDoc`]), `opportunity:<id>` ([`OpportunityDoc`]), `ticket:<id>`
//!   ([`TicketDoc`]): the record as it stands. An event that links a record to a contact (a
//!   lead converted, an opportunity or ticket opened) names both documents.
//! - `entry:<record>:<position>` ([`TimelineItem`]): one row per interaction, on the timeline
//!   of the record whose event it is, inserted once and never rewritten, so no document grows
//!   with a record's history. Indexed by record and by `newest` (newest first), so a page of
//!   one record is one ordered, limited read ([`RecordTimeline`]) and a customer's combined
//!   timeline merges those of its records ([`TimelineQuery::run`]).
//!
//! # Merges are combined when read
//! A merge adds the absorbed contact to the survivor's `absorbed` list and sets the absorbed
//! contact's `merged_into`; nothing is copied. [`Customer360Query`] starts from any contact,
//! climbs to the survivor at the top, takes every contact it (transitively) absorbed, and
//! combines their records, and [`TimelineQuery`] their timelines, so one view holds both
//! histories. An unmerge removes
//! the links and the two views split again, exactly as before.
//!
//! # Erasure
//! A contact's erasure names the contact, the contacts it had absorbed (the same person) and,
//! through their links ([`ReadModel::linked_keys`]), every lead, opportunity and ticket
//! linked to them; it drops their personal data: profile and consent proofs of the contacts,
//! lead profiles, opportunity names and free-text loss notes, ticket subjects. Records linked
//! to an erased contact later are stored without it. Timelines never hold personal data.
//! The survivor an erased contact had been merged into keeps its own profile, which may hold
//! values it took over in the merge: erasing those is the survivor stream's business.

use chrono::{DateTime, Utc};
use uuid::Uuid;

mod contact;
mod records;
mod timeline;
mod view;

use crm_domain::contact::ContactEvent;
use crm_domain::lead::LeadEvent;
use crm_domain::opportunity::OpportunityEvent;
use crm_domain::ticket::TicketEvent;
use crm_domain::{ContactId, LeadId, OpportunityId, TicketId};
use serde::{Deserialize, Serialize};

pub use contact::{ContactDoc, Erasure, Profile};
pub use records::{
    DealField, FieldSource, LeadDoc, LeadRecordField, OpportunityDoc, RoutingStep, RoutingStepKind,
    StageStay, TicketDoc, TicketField,
};
use timeline::entry_key;
pub use timeline::{
    ActivityKind, ENTRY, RecordTimeline, TimelineCursor, TimelineEntry, TimelineItem, TimelinePage,
};
pub use view::{
    Customer360, Customer360Query, CustomerRecords, CustomerStage, LifetimeValue, TimelineQuery,
};

use crate::event::{AggregateKind, CrmEvent, ProjectedEvent};
use crate::model::DocSet;
use crate::model::{ColumnType, DocKey, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of a contact.
pub const CONTACT: &str = "contact";
/// Document kind of a lead.
pub const LEAD: &str = "lead";
/// Document kind of an opportunity.
pub const OPPORTUNITY: &str = "opportunity";
/// Document kind of a ticket.
pub const TICKET: &str = "ticket";

pub(crate) fn contact_key(id: ContactId) -> DocKey {
    DocKey::new(CONTACT, id.0)
}

pub(crate) fn lead_key(id: LeadId) -> DocKey {
    DocKey::new(LEAD, id.0)
}

pub(crate) fn opportunity_key(id: OpportunityId) -> DocKey {
    DocKey::new(OPPORTUNITY, id.0)
}

pub(crate) fn ticket_key(id: TicketId) -> DocKey {
    DocKey::new(TICKET, id.0)
}

/// A document of the Customer 360.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "documents live in the store and move in and out of a DocSet by value; a box per \
              contact would add an allocation and an indirection on the fold's hot path"
)]
pub enum CustomerDoc {
    /// A contact.
    Contact(ContactDoc),
    /// A lead.
    Lead(LeadDoc),
    /// An opportunity.
    Opportunity(OpportunityDoc),
    /// A ticket.
    Ticket(TicketDoc),
    /// One entry of a record's timeline.
    Entry(TimelineItem),
}

impl CustomerDoc {
    /// The contact, if this is a contact's document.
    pub fn as_contact(&self) -> Option<&ContactDoc> {
        match self {
            CustomerDoc::Contact(contact) => Some(contact),
            _ => None,
        }
    }

    fn as_contact_mut(&mut self) -> Option<&mut ContactDoc> {
        match self {
            CustomerDoc::Contact(contact) => Some(contact),
            _ => None,
        }
    }

    /// When the record's latest interaction happened (for an entry: when it happened).
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        match self {
            CustomerDoc::Contact(doc) => doc.last_activity,
            CustomerDoc::Lead(doc) => doc.last_activity,
            CustomerDoc::Opportunity(doc) => doc.last_activity,
            CustomerDoc::Ticket(doc) => doc.last_activity,
            CustomerDoc::Entry(item) => Some(item.entry.at),
        }
    }

    /// Drops the document's personal data.
    fn erase(&mut self) {
        match self {
            // A contact is erased with its erasure record, by `erase_contact`; timeline entries
            // hold no personal data.
            CustomerDoc::Contact(_) | CustomerDoc::Entry(_) => {}
            CustomerDoc::Lead(doc) => doc.erase(),
            CustomerDoc::Opportunity(doc) => doc.erase(),
            CustomerDoc::Ticket(doc) => doc.erase(),
        }
    }
}

/// The Customer 360 read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Customer360Model;

impl ReadModel for Customer360Model {
    const NAME: &'static str = "customer_360";
    /// 2: timelines left the record documents for insert-only `entry` rows.
    const VERSION: u32 = 2;
    const KINDS: &'static [&'static str] = &[CONTACT, LEAD, OPPORTUNITY, TICKET, ENTRY];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("contact", ColumnType::Uuid),
        IndexedColumn::new("merged_into", ColumnType::Uuid),
        IndexedColumn::new("last_activity", ColumnType::Time),
        IndexedColumn::new("record", ColumnType::Uuid),
        IndexedColumn::new("newest", ColumnType::Text),
    ];
    /// A page of a record's timeline is one ordered, limited read.
    const ORDERED_WITHIN: &'static [(&'static str, &'static str)] = &[("record", "newest")];
    type Doc = CustomerDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let id = event.stream.id;
        match &event.event {
            // A suspicion is no activity of the customer's: the duplicate queue shows it. Nor is
            // a forecast call, which is about a rep's period, not a customer.
            CrmEvent::Contact(ContactEvent::DuplicateSuspected { .. })
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
            CrmEvent::Contact(contact) => {
                keys.push(DocKey::new(CONTACT, id));
                keys.push(entry_key(id, event.position));
                if let ContactEvent::Erased { absorbed, .. } = contact {
                    keys.extend(absorbed.iter().map(|absorbed| contact_key(*absorbed)));
                }
            }
            CrmEvent::Lead(lead) => {
                keys.push(DocKey::new(LEAD, id));
                keys.push(entry_key(id, event.position));
                if let LeadEvent::Converted { contact_id, .. } = lead {
                    keys.push(contact_key(*contact_id));
                }
            }
            CrmEvent::Opportunity(opportunity) => {
                keys.push(DocKey::new(OPPORTUNITY, id));
                keys.push(entry_key(id, event.position));
                if let OpportunityEvent::Opened { contact, .. } = opportunity {
                    keys.push(contact_key(*contact));
                }
            }
            CrmEvent::Ticket(ticket) => {
                keys.push(DocKey::new(TICKET, id));
                keys.push(entry_key(id, event.position));
                if let TicketEvent::Opened { contact, .. } = ticket {
                    keys.push(contact_key(*contact));
                }
            }
        }
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<CustomerDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        if let CrmEvent::Contact(ContactEvent::Erased { .. }) = &event.event {
            for (_, doc) in docs.iter() {
                if let Some(contact) = doc.as_contact() {
                    push_linked(contact, keys);
                }
            }
        }
    }

    fn apply(&self, docs: &mut DocSet<CustomerDoc>, event: &ProjectedEvent) {
        let id = event.stream.id;
        let position = event.position;
        match &event.event {
            CrmEvent::Contact(ContactEvent::Erased { absorbed, .. }) => {
                erase_person(docs, ContactId(id), absorbed, event);
            }
            CrmEvent::Contact(ContactEvent::DuplicateSuspected { .. })
            | CrmEvent::Forecast(_)
            | CrmEvent::Account(_)
            | CrmEvent::AccountHierarchy(_)
            | CrmEvent::Activity(_)
            | CrmEvent::Task(_) => {}
            CrmEvent::Contact(contact) => {
                let entry =
                    contact_doc(docs, ContactId(id)).and_then(|doc| doc.apply(contact, position));
                record_entry(docs, AggregateKind::Contact, id, entry);
            }
            CrmEvent::Lead(lead) => {
                let erased = match lead {
                    LeadEvent::Converted { contact_id, .. } => {
                        let Some(contact) = contact_doc(docs, *contact_id) else {
                            return;
                        };
                        contact.link_lead(LeadId(id));
                        contact.is_erased()
                    }
                    _ => false,
                };
                let Some(CustomerDoc::Lead(doc)) = docs
                    .get_or_insert_with(&DocKey::new(LEAD, id), || {
                        CustomerDoc::Lead(LeadDoc::new(LeadId(id)))
                    })
                else {
                    return;
                };
                let entry = doc.apply(lead, event.actor.as_ref(), position);
                if erased {
                    doc.erase();
                }
                record_entry(docs, AggregateKind::Lead, id, entry);
            }
            CrmEvent::Opportunity(opportunity) => {
                let erased = match opportunity {
                    OpportunityEvent::Opened { contact, .. } => {
                        let Some(contact) = contact_doc(docs, *contact) else {
                            return;
                        };
                        contact.link_opportunity(OpportunityId(id));
                        contact.is_erased()
                    }
                    _ => false,
                };
                let key = DocKey::new(OPPORTUNITY, id);
                let Some(CustomerDoc::Opportunity(doc)) = docs.get_or_insert_with(&key, || {
                    CustomerDoc::Opportunity(OpportunityDoc::new(OpportunityId(id)))
                }) else {
                    return;
                };
                let erased = erased || doc.erased;
                let entry = doc.apply(opportunity, position, erased);
                record_entry(docs, AggregateKind::Opportunity, id, entry);
            }
            CrmEvent::Ticket(ticket) => {
                let erased = match ticket {
                    TicketEvent::Opened { contact, .. } => {
                        let Some(contact) = contact_doc(docs, *contact) else {
                            return;
                        };
                        contact.link_ticket(TicketId(id));
                        contact.is_erased()
                    }
                    _ => false,
                };
                let key = DocKey::new(TICKET, id);
                let Some(CustomerDoc::Ticket(doc)) = docs
                    .get_or_insert_with(&key, || CustomerDoc::Ticket(TicketDoc::new(TicketId(id))))
                else {
                    return;
                };
                let erased = erased || doc.erased;
                let entry = doc.apply(ticket, position, erased);
                record_entry(docs, AggregateKind::Ticket, id, entry);
            }
        }
    }

    fn indexed(_key: &DocKey, doc: &CustomerDoc) -> Indexed {
        let mut columns = Vec::with_capacity(3);
        let contact = match doc {
            CustomerDoc::Entry(item) => {
                return vec![
                    ("record", IndexValue::Uuid(item.record)),
                    ("newest", IndexValue::Text(item.entry.newest())),
                ];
            }
            CustomerDoc::Contact(contact) => {
                if let Some(survivor) = contact.merged_into {
                    columns.push(("merged_into", IndexValue::Uuid(survivor.0)));
                }
                None
            }
            CustomerDoc::Lead(lead) => lead.contact,
            CustomerDoc::Opportunity(opportunity) => opportunity.contact,
            CustomerDoc::Ticket(ticket) => ticket.contact,
        };
        if let Some(contact) = contact {
            columns.push(("contact", IndexValue::Uuid(contact.0)));
        }
        if let Some(last) = doc.last_activity() {
            columns.push(("last_activity", IndexValue::Time(last)));
        }
        columns
    }
}

/// Inserts `entry` (if any) as a row of the timeline of `record` (of `record_kind`). The row
/// is new: its key names the event's position.
fn record_entry(
    docs: &mut DocSet<CustomerDoc>,
    record_kind: AggregateKind,
    record: Uuid,
    entry: Option<TimelineEntry>,
) {
    if let Some(entry) = entry {
        // `keys` names the row of every event of a record, so the insert is never refused.
        let _ = docs.insert(
            &entry_key(record, entry.position),
            CustomerDoc::Entry(TimelineItem {
                record_kind,
                record,
                entry,
            }),
        );
    }
}

/// The contact's document, created empty when a linked record names it first.
fn contact_doc(docs: &mut DocSet<CustomerDoc>, id: ContactId) -> Option<&mut ContactDoc> {
    docs.get_or_insert_with(&contact_key(id), || {
        CustomerDoc::Contact(ContactDoc::new(id))
    })?
    .as_contact_mut()
}

fn push_linked(contact: &ContactDoc, keys: &mut Vec<DocKey>) {
    keys.extend(contact.leads.iter().copied().map(lead_key));
    keys.extend(contact.opportunities.iter().copied().map(opportunity_key));
    keys.extend(contact.tickets.iter().copied().map(ticket_key));
}

/// Erases the contact, the contacts it absorbed, and every record linked to them.
fn erase_person(
    docs: &mut DocSet<CustomerDoc>,
    id: ContactId,
    absorbed: &[ContactId],
    event: &ProjectedEvent,
) {
    let CrmEvent::Contact(
        contact_event @ ContactEvent::Erased {
            request, by, at, ..
        },
    ) = &event.event
    else {
        return;
    };
    let entry = contact_doc(docs, id).and_then(|doc| doc.apply(contact_event, event.position));
    record_entry(docs, AggregateKind::Contact, id.0, entry);
    for absorbed in absorbed {
        if let Some(doc) = docs
            .get_mut(&contact_key(*absorbed))
            .and_then(CustomerDoc::as_contact_mut)
        {
            doc.erase(Erasure {
                request: *request,
                by: by.clone(),
                at: *at,
                erased_as: id,
            });
        }
    }
    let linked: Vec<DocKey> = docs
        .keys()
        .filter(|key| key.kind != CONTACT && key.kind != ENTRY)
        .copied()
        .collect();
    for key in linked {
        if let Some(doc) = docs.get_mut(&key) {
            doc.erase();
        }
    }
}
