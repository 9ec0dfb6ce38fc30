//! Reading custom field values: one record's, and the records of a kind matching filters.

use crm_domain::custom_fields::{CustomFilter, EntityKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::CustomFieldModel;
use super::{CustomFieldDoc, CustomRecord, VALUES, values_key};
use crate::model::{Comparison, DocKey, Filter, Found, IndexValue, Lookup, Scan, Selection};
use crate::{DocumentStore, StorageError, TenantId};

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
    /// The id to pass as `after` to go on; `None` when every record after the cursor was read.
    /// A page may hold fewer than `limit` records and still have a `next`: the documents read
    /// for it were used up (see [`RecordsWhere::run`]).
    pub next: Option<Uuid>,
}

/// The documents the first round of [`RecordsWhere::run`] reads; each next round reads
/// [`GROWTH`] times as many. A round costs about as much as reading the kind once on some
/// adapters (PostgreSQL and memory sort the kind's rows for it), little on others (SQLite walks
/// an index), so rounds grow fast: a common value is found in one small round, a rare one in a
/// handful.
const FIRST_ROUND: usize = 256;
const GROWTH: usize = 8;
/// The documents one call of [`RecordsWhere::run`] reads at most before it answers with what
/// it found and where to go on.
pub const MOST_READ_PER_PAGE: usize = 100_000;

/// The records of one kind whose values match every filter, in id order, `limit` at a time
/// after the record `after`.
///
/// As a [`Scan`] this is one round: it reads at most `read` documents of the kind after the
/// cursor, in id order, and keeps the matches (filters are evaluated on the documents, so the
/// read cannot be cut to the matches in SQL). [`RecordsWhere::run`] makes the rounds a page
/// needs, reading twice as many documents each round, so a filter most records match costs
/// one small read and a rare one a few larger ones.
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
    /// The most documents one round reads (at least one).
    pub read: usize,
}

impl RecordsWhere {
    /// A query for the first page of `entity`'s records matching `filters`, `limit` at a time.
    pub fn new(entity: EntityKind, filters: Vec<CustomFilter>, limit: usize) -> Self {
        Self {
            entity,
            filters,
            after: None,
            limit,
            read: FIRST_ROUND,
        }
    }

    /// The same query from the record after `after`.
    #[must_use]
    pub fn after(mut self, after: Option<Uuid>) -> Self {
        self.after = after;
        self
    }

    /// The page: rounds of reads until `limit` records are found, the kind is read to its end,
    /// or [`MOST_READ_PER_PAGE`] documents were read (then the page holds what was found and
    /// `next` says where to go on).
    pub async fn run<S>(&self, store: &S, tenant: &TenantId) -> Result<RecordPage, StorageError>
    where
        S: DocumentStore<CustomFieldModel> + ?Sized,
    {
        let limit = self.limit.max(1);
        let mut round = Self {
            read: self
                .read
                .clamp(1, MOST_READ_PER_PAGE)
                .max(limit.min(MOST_READ_PER_PAGE)),
            ..self.clone()
        };
        let mut page = RecordPage {
            items: Vec::new(),
            next: None,
        };
        let mut read = 0;
        loop {
            round.limit = limit - page.items.len();
            let found = store.scan(tenant, &round).await?;
            read += round.read;
            page.items.extend(found.items);
            match found.next {
                Some(next) if page.items.len() < limit && read < MOST_READ_PER_PAGE => {
                    round.after = Some(next);
                    round.read = round
                        .read
                        .saturating_mul(GROWTH)
                        .min(MOST_READ_PER_PAGE - read);
                }
                next => {
                    page.next = next;
                    return Ok(page);
                }
            }
        }
    }
}

impl Scan<CustomFieldDoc> for RecordsWhere {
    type Answer = RecordPage;

    fn selection(&self) -> Selection {
        let mut selection = Selection::all(VALUES)
            .filter(Filter::eq(
                "entity",
                IndexValue::Text(self.entity.as_str().to_owned()),
            ))
            .order_by("record")
            .limit(self.read.max(1));
        if let Some(after) = self.after {
            selection = selection.filter(Filter {
                column: "record",
                comparison: Comparison::Gt,
                value: IndexValue::Uuid(after),
            });
        }
        selection
    }

    fn answer<'a, I>(&self, docs: I) -> RecordPage
    where
        I: Iterator<Item = (&'a DocKey, &'a CustomFieldDoc)>,
    {
        let limit = self.limit.max(1);
        let mut items = Vec::with_capacity(limit.min(1_000));
        let (mut seen, mut last) = (0, None);
        for (_, doc) in docs {
            let CustomFieldDoc::Values(record) = doc else {
                continue;
            };
            seen += 1;
            last = Some(record.id);
            if self
                .filters
                .iter()
                .all(|filter| filter.matches(&record.values))
            {
                items.push(record.clone());
                if items.len() == limit {
                    // More may follow: the next page starts after this one.
                    return RecordPage { items, next: last };
                }
            }
        }
        // The round's documents are used up: more may follow only if it read all it could.
        let next = if seen >= self.read.max(1) { last } else { None };
        RecordPage { items, next }
    }
}
