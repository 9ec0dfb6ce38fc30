//! The sync conflict queue: values connected systems proposed for fields under manual review
//! (see `crm_domain::sync`), waiting for a person to take or reject them, oldest first.
//!
//! # Input
//! The contact's [`ContactEvent::FieldConflictRaised`] (a newer proposal for a field replaces
//! the one waiting), [`ContactEvent::FieldConflictResolved`], and the events that end a
//! contact's waiting values with it: [`ContactEvent::MergedInto`] (the merge decided the
//! fields; the aggregate drops them too) and [`ContactEvent::Erased`] (the proposed values
//! are the person's data).
//!
//! # Documents
//! - `contact:<id>` ([`WaitingFields`]): one contact's waiting values by field, indexed by when
//!   the oldest was raised (`waiting_since`), so the queue reads oldest first. A contact with
//!   nothing waiting has no document.
//! - `summary:<nil>` ([`WaitingBySource`]): how many values wait per proposing source, for
//!   sync monitoring (one document per tenant, changed with every raise and decision).

use chrono::{DateTime, Utc};
use crm_domain::ContactId;
use crm_domain::contact::{ContactEvent, ContactField, Detail, Provenance};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CrmEvent, ProjectedEvent};
use crate::model::{
    ColumnType, DocKey, DocSet, Found, IndexValue, Indexed, IndexedColumn, Lookup, ReadModel, Scan,
    Selection,
};

/// Document kind of a contact's waiting values.
pub const CONTACT: &str = "contact";
/// Document kind of the tenant's counts per source.
pub const SUMMARY: &str = "summary";

fn contact_key(contact: ContactId) -> DocKey {
    DocKey::new(CONTACT, contact.0)
}

const SUMMARY_KEY: DocKey = DocKey::new(SUMMARY, Uuid::nil());

/// How many values wait for review per proposing source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingBySource {
    /// Waiting values by source system (sources with none are left out).
    pub sources: std::collections::BTreeMap<String, u64>,
}

impl WaitingBySource {
    fn add(&mut self, source: &str) {
        *self.sources.entry(source.to_owned()).or_default() += 1;
    }

    fn take(&mut self, source: &str) {
        if let Some(count) = self.sources.get_mut(source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.sources.remove(source);
            }
        }
    }
}

/// A document of the model, stored as `{"doc": "contact" | "summary", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
pub enum ConflictDoc {
    /// One contact's waiting values.
    Contact(WaitingFields),
    /// The tenant's counts per source.
    Summary(WaitingBySource),
}

/// A value waiting for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingValue {
    /// The field and the proposed value.
    pub proposed: Detail,
    /// Where it came from.
    pub source: Provenance,
    /// Where the current value came from, when it was raised.
    pub current_source: Provenance,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
}

/// One contact's values waiting for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingFields {
    /// The contact.
    pub contact: ContactId,
    /// The waiting values, in field order.
    pub fields: Vec<WaitingValue>,
}

impl WaitingFields {
    /// When the oldest waiting value was raised.
    pub fn waiting_since(&self) -> Option<DateTime<Utc>> {
        self.fields.iter().map(|waiting| waiting.raised_at).min()
    }

    /// The value waiting for `field`, if any.
    pub fn field(&self, field: ContactField) -> Option<&WaitingValue> {
        self.fields
            .iter()
            .find(|waiting| waiting.proposed.field() == field)
    }
}

/// The sync conflict queue read model. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncConflictModel;

impl ReadModel for SyncConflictModel {
    const NAME: &'static str = "sync_conflicts";
    const VERSION: u32 = 2;
    const KINDS: &'static [&'static str] = &[CONTACT, SUMMARY];
    const COLUMNS: &'static [IndexedColumn] =
        &[IndexedColumn::new("waiting_since", ColumnType::Time)];
    type Doc = ConflictDoc;

    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>) {
        let CrmEvent::Contact(event_of_contact) = &event.event else {
            return;
        };
        match event_of_contact {
            ContactEvent::FieldConflictRaised { .. }
            | ContactEvent::FieldConflictResolved { .. }
            | ContactEvent::MergedInto { .. } => keys.push(contact_key(ContactId(event.stream.id))),
            ContactEvent::Erased { .. } => {
                keys.extend(event.event.erased_contacts().into_iter().map(contact_key));
            }
            _ => return,
        }
        keys.push(SUMMARY_KEY);
    }

    fn apply(&self, docs: &mut DocSet<ConflictDoc>, event: &ProjectedEvent) {
        let CrmEvent::Contact(event_of_contact) = &event.event else {
            return;
        };
        let contact = ContactId(event.stream.id);
        let key = contact_key(contact);
        // What stops waiting, and what starts, by source.
        let mut ended: Vec<String> = Vec::new();
        let mut started: Option<String> = None;
        match event_of_contact {
            ContactEvent::FieldConflictRaised {
                detail,
                provenance,
                current,
                at,
            } => {
                let doc = docs.get_or_insert_with(&key, || {
                    ConflictDoc::Contact(WaitingFields {
                        contact,
                        fields: Vec::new(),
                    })
                });
                if let Some(ConflictDoc::Contact(doc)) = doc {
                    let field = detail.field();
                    ended.extend(
                        doc.field(field)
                            .map(|replaced| replaced.source.system.clone()),
                    );
                    doc.fields
                        .retain(|waiting| waiting.proposed.field() != field);
                    doc.fields.push(WaitingValue {
                        proposed: detail.clone(),
                        source: provenance.clone(),
                        current_source: current.clone(),
                        raised_at: *at,
                    });
                    doc.fields.sort_by_key(|waiting| waiting.proposed.field());
                    started = Some(provenance.system.clone());
                }
            }
            ContactEvent::FieldConflictResolved { field, .. } => {
                let emptied = match docs.get_mut(&key) {
                    Some(ConflictDoc::Contact(doc)) => {
                        ended.extend(
                            doc.field(*field)
                                .map(|decided| decided.source.system.clone()),
                        );
                        doc.fields
                            .retain(|waiting| waiting.proposed.field() != *field);
                        doc.fields.is_empty()
                    }
                    _ => false,
                };
                if emptied {
                    docs.remove(&key);
                }
            }
            ContactEvent::MergedInto { .. } => {
                if let Some(ConflictDoc::Contact(doc)) = docs.remove(&key) {
                    ended.extend(doc.fields.into_iter().map(|waiting| waiting.source.system));
                }
            }
            ContactEvent::Erased { .. } => {
                for erased in event.event.erased_contacts() {
                    if let Some(ConflictDoc::Contact(doc)) = docs.remove(&contact_key(erased)) {
                        ended.extend(doc.fields.into_iter().map(|waiting| waiting.source.system));
                    }
                }
            }
            _ => return,
        }
        if ended.is_empty() && started.is_none() {
            return;
        }
        let summary = docs.get_or_insert_with(&SUMMARY_KEY, || {
            ConflictDoc::Summary(WaitingBySource::default())
        });
        if let Some(ConflictDoc::Summary(summary)) = summary {
            for source in &ended {
                summary.take(source);
            }
            if let Some(source) = &started {
                summary.add(source);
            }
        }
    }

    fn indexed(_key: &DocKey, doc: &ConflictDoc) -> Indexed {
        match doc {
            ConflictDoc::Contact(waiting) => waiting
                .waiting_since()
                .map(|since| vec![("waiting_since", IndexValue::Time(since))])
                .unwrap_or_default(),
            ConflictDoc::Summary(_) => Vec::new(),
        }
    }
}

/// The tenant's waiting values per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingCounts;

impl Lookup<ConflictDoc> for WaitingCounts {
    type Answer = WaitingBySource;

    fn keys(&self, found: &Found<ConflictDoc>, keys: &mut Vec<DocKey>) {
        if !found.contains(&SUMMARY_KEY) {
            keys.push(SUMMARY_KEY);
        }
    }

    fn answer(&self, found: &Found<ConflictDoc>) -> WaitingBySource {
        match found.get(&SUMMARY_KEY) {
            Some(ConflictDoc::Summary(summary)) => summary.clone(),
            _ => WaitingBySource::default(),
        }
    }
}

/// One contact's waiting values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactConflicts {
    /// The contact.
    pub contact: ContactId,
}

impl Lookup<ConflictDoc> for ContactConflicts {
    type Answer = Option<WaitingFields>;

    fn keys(&self, found: &Found<ConflictDoc>, keys: &mut Vec<DocKey>) {
        if !found.contains(&contact_key(self.contact)) {
            keys.push(contact_key(self.contact));
        }
    }

    fn answer(&self, found: &Found<ConflictDoc>) -> Option<WaitingFields> {
        match found.get(&contact_key(self.contact)) {
            Some(ConflictDoc::Contact(waiting)) => Some(waiting.clone()),
            _ => None,
        }
    }
}

/// A place in the queue: the last contact's `waiting_since` and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueCursor {
    /// When the last contact's oldest value was raised.
    pub waiting_since: DateTime<Utc>,
    /// The last contact.
    pub contact: ContactId,
}

impl QueueCursor {
    /// The place just after `doc` (`None` for a document with nothing waiting, which the
    /// model never keeps).
    pub fn after(doc: &WaitingFields) -> Option<Self> {
        Some(Self {
            waiting_since: doc.waiting_since()?,
            contact: doc.contact,
        })
    }

    /// The cursor as text: `<contact>.<waiting since in microseconds>`.
    pub fn to_text(&self) -> String {
        format!(
            "{}.{}",
            self.contact.0.simple(),
            self.waiting_since.timestamp_micros()
        )
    }

    /// Reads [`to_text`](Self::to_text) back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (contact, micros) = text.split_once('.')?;
        Some(Self {
            waiting_since: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            contact: ContactId(Uuid::try_parse(contact).ok()?),
        })
    }
}

/// The queue, oldest waiting first, `limit` contacts after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConflictQueue {
    /// The most contacts to return (at least one).
    pub limit: usize,
    /// Where the page before ended.
    pub after: Option<QueueCursor>,
}

/// A page of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictPage {
    /// The contacts with values waiting, oldest waiting first.
    pub items: Vec<WaitingFields>,
    /// Where the next page starts; `None` on the last page.
    #[serde(skip)]
    pub next: Option<QueueCursor>,
}

impl Scan<ConflictDoc> for ConflictQueue {
    type Answer = ConflictPage;

    fn selection(&self) -> Selection {
        let mut selection = Selection::all(CONTACT)
            .order_by("waiting_since")
            .limit(self.limit.max(1).saturating_add(1));
        if let Some(after) = self.after {
            selection = selection.after(
                IndexValue::Time(after.waiting_since),
                contact_key(after.contact),
            );
        }
        selection
    }

    fn answer<'a, I>(&self, docs: I) -> ConflictPage
    where
        I: Iterator<Item = (&'a DocKey, &'a ConflictDoc)>,
    {
        let limit = self.limit.max(1);
        let mut items: Vec<WaitingFields> = docs
            .filter_map(|(_, doc)| match doc {
                ConflictDoc::Contact(waiting) => Some(waiting.clone()),
                ConflictDoc::Summary(_) => None,
            })
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(QueueCursor::after)
        } else {
            None
        };
        ConflictPage { items, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_nothing_else() {
        let cursor = QueueCursor {
            waiting_since: DateTime::from_timestamp_micros(1_700_000_000_123_456)
                .unwrap_or_default(),
            contact: ContactId(Uuid::from_u128(42)),
        };
        assert_eq!(QueueCursor::parse(&cursor.to_text()), Some(cursor));
        for junk in ["", "x", "x.1", "0000000000000000000000000000002a.x"] {
            assert_eq!(QueueCursor::parse(junk), None, "{junk}");
        }
    }
}
