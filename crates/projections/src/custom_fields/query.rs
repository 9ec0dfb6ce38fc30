//! Reading custom field values: one record's, and the records of a kind matching filters.

use crm_domain::custom_fields::{CustomFilter, EntityKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CustomFieldDoc, CustomRecord, VALUES, values_key};
use crate::model::{Comparison, DocKey, Filter, Found, IndexValue, Lookup, Scan, Selection};

/// One record's values by its id; `None` when it never had any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomValuesLookup {
    /// The record.
    pub record: Uuid,
}

impl Lookup<CustomFieldDoc> for CustomValuesLookup {
    type Answer = Option<CustomRecord>;

    fn keys(&self, found: &Found<CustomFieldDoc>, keys: &mut Vec<DocKey>) {
        if !found.contains(&values_key(self.record)) {
            keys.push(values_key(self.record));
        }
    }

    fn answer(&self, found: &Found<CustomFieldDoc>) -> Option<CustomRecord> {
        match found.get(&values_key(self.record)) {
            Some(CustomFieldDoc::Values(record)) => Some(record.clone()),
            _ => None,
        }
    }
}

/// A page of records matching a [`RecordsWhere`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPage {
    /// The records, in id order.
    pub items: Vec<CustomRecord>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next: Option<Uuid>,
}

/// The records of one kind whose values match every filter, in id order, `limit` at a time
/// after the record `after`. A record whose values were never set matches only filters that
/// hold for no values (`is_set: false`) — and is not found here, since it has no document:
/// ask for records *with* values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsWhere {
    /// The kind of record.
    pub entity: EntityKind,
    /// Conditions that must all hold.
    pub filters: Vec<CustomFilter>,
    /// The last record of the page before, if any.
    pub after: Option<Uuid>,
    /// The most records per page (at least one).
    pub limit: usize,
}

impl Scan<CustomFieldDoc> for RecordsWhere {
    type Answer = RecordPage;

    fn selection(&self) -> Selection {
        let mut selection = Selection::all(VALUES)
            .filter(Filter::eq(
                "entity",
                IndexValue::Text(self.entity.as_str().to_owned()),
            ))
            .order_by("record");
        if let Some(after) = self.after {
            selection = selection.filter(Filter {
                column: "record",
                comparison: Comparison::Gt,
                value: IndexValue::Uuid(after),
            });
        }
        // The filters are evaluated on the documents, so the page cannot be cut in SQL: a
        // limit there could end the page before the records that match.
        selection
    }

    fn answer<'a, I>(&self, docs: I) -> RecordPage
    where
        I: Iterator<Item = (&'a DocKey, &'a CustomFieldDoc)>,
    {
        let limit = self.limit.max(1);
        let mut items = Vec::with_capacity(limit.min(1_000));
        let mut more = false;
        for (_, doc) in docs {
            let CustomFieldDoc::Values(record) = doc else {
                continue;
            };
            if !self
                .filters
                .iter()
                .all(|filter| filter.matches(&record.values))
            {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(record.clone());
        }
        let next = if more {
            items.last().map(|record| record.id)
        } else {
            None
        };
        RecordPage { items, next }
    }
}
