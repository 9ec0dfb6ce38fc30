//! The shape every read model has: documents found by key and stamped with the last event that
//! changed them, a pure fold over them ([`DocSet`] is what an event is applied to), the columns
//! queries need, and queries that a storage adapter can answer with those columns.
//!
//! The bottom layer of the crate: it depends on the events only, and the storage port and its
//! adapters depend on it, never the reverse.

mod docset;
pub(crate) mod key_hash;

use std::fmt::{self, Debug};

use chrono::{DateTime, Utc};
use crm_eventstore::GlobalPosition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub use self::docset::DocSet;
use self::key_hash::{IndexKey, KeyMap};
use crate::event::ProjectedEvent;

/// Identifies one document of a read model within a tenant: a kind (one of the model's
/// [`ReadModel::KINDS`]), an id and, for documents about a pair (a duplicate candidate), a
/// second id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocKey {
    /// The document's kind, e.g. `"contact"`.
    pub kind: &'static str,
    /// The id the document is about.
    pub id: Uuid,
    /// The second id of a pair document.
    pub second: Option<Uuid>,
}

impl DocKey {
    /// The document of `kind` about `id`.
    pub const fn new(kind: &'static str, id: Uuid) -> Self {
        Self {
            kind,
            id,
            second: None,
        }
    }

    /// The document of `kind` about the pair (`id`, `second`), in that order.
    pub const fn pair(kind: &'static str, id: Uuid, second: Uuid) -> Self {
        Self {
            kind,
            id,
            second: Some(second),
        }
    }

    /// Reads the text form (`"kind:id"` or `"kind:id:second"`) back, for the kinds in `kinds`
    /// (a model's [`ReadModel::KINDS`]); `None` for anything else.
    pub fn parse(kinds: &[&'static str], text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let kind = parts.next()?;
        let kind = *kinds.iter().find(|known| **known == kind)?;
        let id = Uuid::try_parse(parts.next()?).ok()?;
        let second = parts.next().map(Uuid::try_parse).transpose().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self { kind, id, second })
    }
}

impl fmt::Display for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.second {
            None => write!(f, "{}:{}", self.kind, self.id),
            Some(second) => write!(f, "{}:{}:{}", self.kind, self.id, second),
        }
    }
}

/// A document as a store keeps it: its key, the position of the last event that changed it,
/// and the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<D> {
    /// The document's key.
    pub key: DocKey,
    /// The global position of the last event that changed it (its stamp).
    pub position: GlobalPosition,
    /// The document.
    pub doc: D,
}

/// The type of an indexed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Text.
    Text,
    /// A UUID.
    Uuid,
    /// A 64-bit integer.
    Int,
    /// An instant.
    Time,
    /// A boolean.
    Bool,
}

/// An indexed column a model declares: queries filter and order on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexedColumn {
    /// The column's name.
    pub name: &'static str,
    /// Its type.
    pub column_type: ColumnType,
}

impl IndexedColumn {
    /// A column `name` of `column_type`.
    pub const fn new(name: &'static str, column_type: ColumnType) -> Self {
        Self { name, column_type }
    }
}

/// The value of an indexed column of one document. Values of one type compare as their type
/// does (text byte-wise, instants in time order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexValue {
    /// Text.
    Text(String),
    /// A UUID.
    Uuid(Uuid),
    /// A 64-bit integer.
    Int(i64),
    /// An instant.
    Time(DateTime<Utc>),
    /// A boolean.
    Bool(bool),
}

impl IndexValue {
    /// The value's column type.
    pub fn column_type(&self) -> ColumnType {
        match self {
            IndexValue::Text(_) => ColumnType::Text,
            IndexValue::Uuid(_) => ColumnType::Uuid,
            IndexValue::Int(_) => ColumnType::Int,
            IndexValue::Time(_) => ColumnType::Time,
            IndexValue::Bool(_) => ColumnType::Bool,
        }
    }
}

/// The indexed columns of one document: `(column, value)`; a column a document leaves out is
/// NULL for it.
pub type Indexed = Vec<(&'static str, IndexValue)>;

/// A read model: a pure fold of [`ProjectedEvent`]s into documents.
///
/// # How an event is applied
/// 1. [`ReadModel::keys`] names the documents the event reads or writes, from the event alone.
/// 2. The store loads them (absent documents stay absent) into a [`DocSet`].
/// 3. [`ReadModel::linked_keys`] may name more documents, found through links in the loaded
///    ones (the tickets of a contact being erased); the store loads those and asks again until
///    nothing new is named.
/// 4. [`ReadModel::apply`] changes the loaded documents, and only them.
/// 5. The store writes back what changed, stamping each changed document with the event's
///    position.
///
/// A batch is applied by doing this event after event over a working set: collect the first
/// round of keys of the whole batch, load them in one go, apply in order, write back once.
///
/// # Idempotence
/// Every document remembers the position of the last event that changed it. An event whose
/// position is at or below that of any document it names has been applied already (events
/// arrive in global order) and changes nothing.
///
/// # Rules for implementations
/// `keys`, `linked_keys` and `apply` are pure: no clock, no I/O, no randomness, no panics;
/// the same events give the same documents whatever the batch boundaries. `apply` touches
/// only the keys it named; touching another is a bug the store reports as
/// [`ProjectionError::UndeclaredKey`](crate::ProjectionError::UndeclaredKey).
pub trait ReadModel {
    /// The model's stable name, e.g. `"customer_360"`; storage tables are named after it.
    const NAME: &'static str;
    /// The version of the fold. Bump it whenever the same events would give other documents:
    /// a new version is rebuilt from position zero into new tables.
    const VERSION: u32;
    /// Every document kind the model writes.
    const KINDS: &'static [&'static str];
    /// The columns queries filter and order on.
    const COLUMNS: &'static [IndexedColumn];
    /// Pairs of [`COLUMNS`](Self::COLUMNS) `(equal, ordered)` that queries filter by the first
    /// (equality) and order by the second, as a page of one record's timeline does: the SQL
    /// adapters keep an index on both, in that order, so such a page is one ordered, limited
    /// index read however many rows the record or the table holds. None by default.
    const ORDERED_WITHIN: &'static [(&'static str, &'static str)] = &[];

    /// The documents the model keeps.
    type Doc: Serialize + DeserializeOwned + Clone + PartialEq + Debug;

    /// Pushes onto `keys` the documents `event` reads or writes that the event alone names.
    /// Events the model does not care about push nothing.
    fn keys(&self, event: &ProjectedEvent, keys: &mut Vec<DocKey>);

    /// Pushes onto `keys` further documents found through the documents loaded so far. Called
    /// after each load until it names nothing new. The default names nothing.
    fn linked_keys(
        &self,
        event: &ProjectedEvent,
        docs: &DocSet<Self::Doc>,
        keys: &mut Vec<DocKey>,
    ) {
        let _ = (event, docs, keys);
    }

    /// Applies `event` to the loaded documents.
    fn apply(&self, docs: &mut DocSet<Self::Doc>, event: &ProjectedEvent);

    /// The indexed column values of `doc` (see [`ReadModel::COLUMNS`]).
    fn indexed(key: &DocKey, doc: &Self::Doc) -> Indexed;
}

/// Documents found by key, as a [`Lookup`] sees them: owned where a store decoded them, lent
/// where a store holds them in memory already (the in-memory adapter copies nothing).
#[derive(Debug, Clone)]
pub struct Found<'a, D> {
    docs: KeyMap<Option<Held<'a, D>>>,
}

/// A document found: decoded for the lookup, or lent by the store.
#[derive(Debug, Clone)]
enum Held<'a, D> {
    Owned(D),
    Lent(&'a D),
}

impl<D> Default for Found<'_, D> {
    fn default() -> Self {
        Self {
            docs: KeyMap::default(),
        }
    }
}

impl<'a, D> Found<'a, D> {
    /// The document at `key`, if it was looked up and exists.
    pub fn get(&self, key: &DocKey) -> Option<&D> {
        self.docs
            .get(&IndexKey(*key))
            .and_then(Option::as_ref)
            .map(|held| match held {
                Held::Owned(doc) => doc,
                Held::Lent(doc) => *doc,
            })
    }

    /// Whether `key` was looked up already (whether or not the document exists).
    pub fn contains(&self, key: &DocKey) -> bool {
        self.docs.contains_key(&IndexKey(*key))
    }

    /// Records the document found at `key`.
    pub fn insert(&mut self, key: DocKey, doc: D) {
        self.docs.insert(IndexKey(key), Some(Held::Owned(doc)));
    }

    /// Records the document found at `key`, lent by a store that keeps it for longer than the
    /// lookup.
    pub fn lend(&mut self, key: DocKey, doc: &'a D) {
        self.docs.insert(IndexKey(key), Some(Held::Lent(doc)));
    }

    /// Makes room for `additional` more keys at once (a round's keys), so that the map does
    /// not grow in steps while they are recorded.
    pub fn reserve(&mut self, additional: usize) {
        self.docs.reserve(additional);
    }

    /// Records that no document exists at `key`.
    pub fn mark_absent(&mut self, key: DocKey) {
        self.docs.insert(IndexKey(key), None);
    }
}

/// A question answered from documents found by key, in rounds: a store calls
/// [`Lookup::keys`] with what it found so far, loads the keys named, and repeats until nothing
/// new is named; then [`Lookup::answer`] builds the answer. A PostgreSQL adapter runs one
/// `WHERE key = ANY($1)` per round.
pub trait Lookup<D> {
    /// The answer.
    type Answer;

    /// Pushes the keys needed given what was found so far.
    fn keys(&self, found: &Found<'_, D>, keys: &mut Vec<DocKey>);

    /// How many rounds name new keys at most, when the lookup knows: a store stops after
    /// that many instead of calling [`Lookup::keys`] once more only to learn that nothing new
    /// is named (a lookup of hundreds of keys recomputes them all to say so). `None` (the
    /// default): until nothing new is named. A count too small gives a wrong answer; the
    /// in-memory store checks it in debug builds.
    fn rounds(&self) -> Option<usize> {
        None
    }

    /// The answer from what was found.
    fn answer(&self, found: &Found<'_, D>) -> Self::Answer;
}

/// How a [`Filter`] compares a column with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// Equal.
    Eq,
    /// Strictly less.
    Lt,
    /// Less or equal.
    Le,
    /// Strictly greater.
    Gt,
    /// Greater or equal.
    Ge,
}

/// A condition on an indexed column. A document without the column never matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    /// The column.
    pub column: &'static str,
    /// The comparison.
    pub comparison: Comparison,
    /// The value compared with.
    pub value: IndexValue,
}

impl Filter {
    /// `column = value`.
    pub fn eq(column: &'static str, value: IndexValue) -> Self {
        Self {
            column,
            comparison: Comparison::Eq,
            value,
        }
    }

    /// `column < value`.
    pub fn lt(column: &'static str, value: IndexValue) -> Self {
        Self {
            column,
            comparison: Comparison::Lt,
            value,
        }
    }

    /// `column <= value`.
    pub fn le(column: &'static str, value: IndexValue) -> Self {
        Self {
            column,
            comparison: Comparison::Le,
            value,
        }
    }

    /// `column >= value`.
    pub fn ge(column: &'static str, value: IndexValue) -> Self {
        Self {
            column,
            comparison: Comparison::Ge,
            value,
        }
    }

    /// Whether `indexed` (one document's columns) satisfies the filter.
    pub fn matches(&self, indexed: &Indexed) -> bool {
        indexed
            .iter()
            .find(|(column, _)| *column == self.column)
            .is_some_and(|(_, value)| {
                value.column_type() == self.value.column_type()
                    && match self.comparison {
                        Comparison::Eq => *value == self.value,
                        Comparison::Lt => *value < self.value,
                        Comparison::Le => *value <= self.value,
                        Comparison::Gt => *value > self.value,
                        Comparison::Ge => *value >= self.value,
                    }
            })
    }
}

/// Which documents a [`Scan`] reads: those of the given kinds matching every filter, ordered
/// by a column (ascending; documents without it are left out), then by key, from after a
/// place in that order when one is given, and at most `limit` of them. In SQL: `WHERE kind =
/// ANY($1) AND <filters> [AND col IS NOT NULL] [AND (col, key) > (v, k)] ORDER BY col, key
/// LIMIT n`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selection {
    /// The document kinds (at least one).
    pub kinds: Vec<&'static str>,
    /// Conditions, all of which must hold.
    pub filters: Vec<Filter>,
    /// The column to order by; key order when `None`.
    pub order_by: Option<&'static str>,
    /// The most documents to read.
    pub limit: Option<usize>,
    /// Only documents after this place in the order: the order column's value and the key of
    /// the last document of the page before (a cursor that survives ties). Without
    /// [`order_by`](Self::order_by) the order is the key's, and only the key counts.
    pub after: Option<(IndexValue, DocKey)>,
}

impl Selection {
    /// Every document of `kind`, in key order.
    pub fn all(kind: &'static str) -> Self {
        Self::of_kinds(&[kind])
    }

    /// Every document of any of `kinds`, in key order.
    pub fn of_kinds(kinds: &[&'static str]) -> Self {
        Self {
            kinds: kinds.to_vec(),
            filters: Vec::new(),
            order_by: None,
            limit: None,
            after: None,
        }
    }

    /// This selection with another filter.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// This selection ordered by `column`.
    #[must_use]
    pub fn order_by(mut self, column: &'static str) -> Self {
        self.order_by = Some(column);
        self
    }

    /// This selection starting after `value` of the order column and then `key` (see
    /// [`Selection::after`]).
    #[must_use]
    pub fn after(mut self, value: IndexValue, key: DocKey) -> Self {
        self.after = Some((value, key));
        self
    }

    /// This selection cut after `limit` documents.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// A question answered from the documents a [`Selection`] finds, in its order.
pub trait Scan<D> {
    /// The answer.
    type Answer;

    /// Which documents to read.
    fn selection(&self) -> Selection;

    /// The answer from the selected documents, in the selection's order.
    fn answer<'a, I>(&self, docs: I) -> Self::Answer
    where
        I: Iterator<Item = (&'a DocKey, &'a D)>,
        D: 'a;
}
