//! Custom field values: every record's values as they stand, for showing next to the record and
//! for finding records by them.
//!
//! # Documents
//! - `values:<record>` ([`CustomRecord`]): one record's kind and values, the schema version
//!   of the last change and when it was made. Indexed by entity and id, so the records of one
//!   kind are read in id order.
//! - `subject:<person>` ([`SubjectRecords`]): the deals, tickets and activities whose values
//!   are the personal data of a contact or lead (learnt from their openings and loggings), so
//!   an erasure reaches every copy: on `ContactErased` the values of the contact, of the leads
//!   converted into it and of every record listed for them are dropped and the documents
//!   marked erased. Later changes to those records arrive already erased (their values read as
//!   empty once the key is shredded).
//!
//! # Finding records
//! [`RecordsWhere`] reads the records of one kind in id order after a cursor and keeps those
//! matching every [`CustomFilter`](crm_domain::custom_fields::CustomFilter) (validated against the tenant's schema by the caller).
//! Filters are evaluated on the documents, not in SQL, so [`RecordsWhere::run`] reads them in
//! rounds of growing size until the page is full: a common value costs one small read, a rare
//! one reads further (at most [`MOST_READ_PER_PAGE`] documents a page); see
//! docs/PERFORMANCE.md.

mod query;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use crm_domain::RecordRef;
use crm_domain::activity::ActivityEvent;
use crm_domain::contact::ContactEvent;
use crm_domain::custom_fields::{CustomFieldsSet, CustomValues, EntityKind, SchemaVersion};
use crm_domain::lead::LeadEvent;
use crm_domain::opportunity::OpportunityEvent;
use crm_domain::ticket::TicketEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use query::{CustomValuesLookup, MOST_READ_PER_PAGE, RecordPage, RecordsWhere};

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::{ColumnType, DocKey, DocSet, IndexValue, Indexed, IndexedColumn, ReadModel};

/// Document kind of a record's values.
pub const VALUES: &str = "values";
/// Document kind of the records a person's erasure reaches.
pub const SUBJECT: &str = "subject";

fn values_key(record: Uuid) -> DocKey {
    DocKey::new(VALUES, record)
}

fn subject_key(person: Uuid) -> DocKey {
    DocKey::new(SUBJECT, person)
}

/// One record's custom field values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRecord {
    /// The kind of record.
    pub entity: EntityKind,
    /// The record's id.
    pub id: Uuid,
    /// The values, by key.
    pub values: CustomValues,
    /// The schema version the last change was decided under.
    pub schema_version: SchemaVersion,
    /// When the values last changed.
    pub updated_at: DateTime<Utc>,
    /// Whether the values were dropped because the person they are about was erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

/// The records whose custom values are one person's personal data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectRecords {
    /// The records' ids.
    pub records: BTreeSet<Uuid>,
}

/// A document of the custom field model, stored as `{"doc": "values" | "subject", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
pub enum CustomFieldDoc {
    /// A record's values.
    Values(CustomRecord),
    /// The records a person's erasure reaches.
    Subject(SubjectRecords),
}

/// The custom field values read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomFieldModel;

/// The entity and the custom field change an event carries, if it is one.
fn change_of(event: &CrmEvent) -> Option<(EntityKind, &CustomFieldsSet)> {
    match event {
        CrmEvent::Lead(LeadEvent::CustomFieldsSet(set)) => Some((EntityKind::Lead, set)),
        CrmEvent::Contact(ContactEvent::CustomFieldsSet(set)) => Some((EntityKind::Contact, set)),
        CrmEvent::Account(crm_domain::account::AccountEvent::CustomFieldsSet(set)) => {
            Some((EntityKind::Account, set))
        }
        CrmEvent::Opportunity(OpportunityEvent::CustomFieldsSet(set)) => {
            Some((EntityKind::Opportunity, set))
        }
        CrmEvent::Ticket(TicketEvent::CustomFieldsSet(set)) => Some((EntityKind::Ticket, set)),
        CrmEvent::Activity(ActivityEvent::CustomFieldsSet(set)) => {
            Some((EntityKind::Activity, set))
        }
        CrmEvent::Task(crm_domain::task::TaskEvent::CustomFieldsSet(set)) => {
            Some((EntityKind::Task, set))
        }
        _ => None,
    }
}

/// The people whose personal data a record's values are, learnt from the event that makes
/// the record about them.
fn people_of(event: &CrmEvent) -> Vec<Uuid> {
    match event {
        CrmEvent::Opportunity(OpportunityEvent::Opened { contact, .. })
        | CrmEvent::Ticket(TicketEvent::Opened { contact, .. }) => vec![contact.0],
        CrmEvent::Activity(ActivityEvent::Logged { records, .. }) => records
            .iter()
            .filter(|record| matches!(record, RecordRef::Lead(_) | RecordRef::Contact(_)))
            .map(RecordRef::as_uuid)
            .collect(),
        _ => Vec::new(),
    }
}

/// The people an erasure names: the contact and the leads converted into it.
fn erased_people(event: &CrmEvent) -> Vec<Uuid> {
    match event {
        CrmEvent::Contact(ContactEvent::Erased {
            contact_id, leads, ..
        }) => std::iter::once(contact_id.0)
            .chain(leads.iter().map(|lead| lead.0))
            .collect(),
        _ => Vec::new(),
    }
}

impl ReadModel for CustomFieldModel {
    const NAME: &'static str = "custom_fields";
    const VERSION: u32 = 1;
    const KINDS: &'static [&'static str] = &[VALUES, SUBJECT];
    const COLUMNS: &'static [IndexedColumn] = &[
        IndexedColumn::new("entity", ColumnType::Text),
        IndexedColumn::new("record", ColumnType::Uuid),
    ];
    type Doc = CustomFieldDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let id = event.stream.id;
        if change_of(&event.event).is_some() {
            keys.push(values_key(id));
        }
        keys.extend(people_of(&event.event).into_iter().map(subject_key));
        for person in erased_people(&event.event) {
            keys.push(values_key(person));
            keys.push(subject_key(person));
        }
    }

    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<CustomFieldDoc>,
        keys: &mut Vec<DocKey>,
    ) {
        for person in erased_people(&event.event) {
            if let Some(CustomFieldDoc::Subject(subject)) = docs.get(&subject_key(person)) {
                keys.extend(subject.records.iter().copied().map(values_key));
            }
        }
    }

    fn apply(&self, docs: &mut DocSet<CustomFieldDoc>, event: &ProjectedEvent) {
        let id = event.stream.id;
        if let Some((entity, set)) = change_of(&event.event) {
            let key = values_key(id);
            let doc = docs.get_or_insert_with(&key, || {
                CustomFieldDoc::Values(CustomRecord {
                    entity,
                    id,
                    values: CustomValues::new(),
                    schema_version: set.schema_version,
                    updated_at: set.at,
                    erased: false,
                })
            });
            if let Some(CustomFieldDoc::Values(record)) = doc {
                set.apply_to(&mut record.values);
                record.schema_version = set.schema_version;
                record.updated_at = set.at;
            }
        }
        for person in people_of(&event.event) {
            let doc = docs.get_or_insert_with(&subject_key(person), || {
                CustomFieldDoc::Subject(SubjectRecords::default())
            });
            if let Some(CustomFieldDoc::Subject(subject)) = doc {
                subject.records.insert(id);
            }
        }
        for person in erased_people(&event.event) {
            let mut reached = vec![person];
            if let Some(CustomFieldDoc::Subject(subject)) = docs.get(&subject_key(person)) {
                reached.extend(subject.records.iter().copied());
            }
            for record in reached {
                if let Some(CustomFieldDoc::Values(values)) = docs.get_mut(&values_key(record)) {
                    values.values = CustomValues::new();
                    values.erased = true;
                }
            }
        }
    }

    fn indexed(_key: &DocKey, doc: &CustomFieldDoc) -> Indexed {
        match doc {
            CustomFieldDoc::Values(record) => vec![
                (
                    "entity",
                    IndexValue::Text(record.entity.as_str().to_owned()),
                ),
                ("record", IndexValue::Uuid(record.id)),
            ],
            CustomFieldDoc::Subject(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
