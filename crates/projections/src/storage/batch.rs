//! Applying a batch of events over a working set: the protocol a storage adapter follows
//! (load the batch's documents in one go, apply in order, write back once), kept free of any
//! storage so the PostgreSQL and in-memory adapters share it.

use std::collections::HashMap;

use crm_eventstore::GlobalPosition;

use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::model::{DocKey, DocSet, ReadModel, Stored};
use crm_eventstore::TenantId;

/// How many times `linked_keys` may name new documents for one event before the model is
/// judged broken.
pub(crate) const MAX_KEY_ROUNDS: usize = 8;

/// A document of the working set, boxed as a [`DocSet`] holds it (see there).
#[derive(Debug, Clone)]
struct Working<D> {
    doc: Option<Box<Stored<D>>>,
    position: Option<GlobalPosition>,
    changed: bool,
}

/// What [`Batch::apply`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The event was applied to the working set (or was already applied to its documents).
    Applied,
    /// The event needs these documents of its tenant, not loaded yet: load them, hand them
    /// over with [`Batch::provide`], and apply the same event again.
    NeedsDocuments(Vec<DocKey>),
}

/// A change to write back at the end of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<D> {
    /// Insert or replace the document.
    Upsert(Stored<D>),
    /// Delete the document at this key.
    Delete(DocKey),
}

/// The working set of one batch: the documents loaded for it and what the batch changed.
///
/// ```text
/// let mut batch = Batch::new();
/// for (tenant, key) in Batch::first_keys(&model, &events) { batch.provide(tenant, key, load(key)) }
/// for event in &events {
///     while let Progress::NeedsDocuments(keys) = batch.apply(&model, event)? {
///         for key in keys { batch.provide(tenant, key, load(key)) }
///     }
/// }
/// write(batch.into_changes()); commit together with the checkpoint
/// ```
#[derive(Debug, Clone)]
pub struct Batch<D> {
    working: HashMap<TenantId, HashMap<DocKey, Working<D>>>,
    set: DocSet<D>,
    keys: Vec<DocKey>,
}

impl<D> Default for Batch<D> {
    fn default() -> Self {
        Self {
            working: HashMap::new(),
            set: DocSet::new(),
            keys: Vec::new(),
        }
    }
}

impl<D> Batch<D> {
    /// An empty working set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The documents the events name by themselves, each once: what to load before applying.
    pub fn first_keys<'a, M>(
        model: &M,
        events: impl IntoIterator<Item = &'a ProjectedEvent>,
    ) -> Vec<(TenantId, DocKey)>
    where
        M: ReadModel<Doc = D>,
    {
        let mut keys = Vec::new();
        let mut seen: HashMap<&TenantId, std::collections::HashSet<DocKey>> = HashMap::new();
        let mut buffer = Vec::new();
        for event in events {
            buffer.clear();
            model.keys(event, &mut buffer);
            let seen = seen.entry(&event.tenant).or_default();
            for key in &buffer {
                if seen.insert(*key) {
                    keys.push((event.tenant.clone(), *key));
                }
            }
        }
        keys
    }

    /// Hands over a loaded document (`None` when the store has none at `key`). A key already
    /// in the working set keeps its working version.
    pub fn provide(&mut self, tenant: &TenantId, key: DocKey, stored: Option<(GlobalPosition, D)>) {
        let docs = self.working.entry(tenant.clone()).or_default();
        docs.entry(key).or_insert_with(|| match stored {
            Some((position, doc)) => Working {
                doc: Some(Box::new(Stored { key, position, doc })),
                position: Some(position),
                changed: false,
            },
            None => Working {
                doc: None,
                position: None,
                changed: false,
            },
        });
    }

    /// Applies `event` to the working set, or says which documents it still needs.
    pub fn apply<M>(
        &mut self,
        model: &M,
        event: &ProjectedEvent,
    ) -> Result<Progress, ProjectionError>
    where
        M: ReadModel<Doc = D>,
    {
        let Self { working, set, keys } = self;
        keys.clear();
        model.keys(event, keys);
        if keys.is_empty() {
            return Ok(Progress::Applied);
        }
        let docs = working.entry(event.tenant.clone()).or_default();
        let missing: Vec<DocKey> = keys
            .iter()
            .filter(|key| !docs.contains_key(key))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Ok(Progress::NeedsDocuments(missing));
        }
        set.clear();
        for key in keys.iter() {
            take_into(docs, *key, set);
        }
        for round in 0.. {
            keys.clear();
            model.linked_keys(event, set, keys);
            let new: Vec<DocKey> = keys
                .iter()
                .filter(|key| !set.is_named(key))
                .copied()
                .collect();
            if new.is_empty() {
                break;
            }
            let missing: Vec<DocKey> = new
                .iter()
                .filter(|key| !docs.contains_key(key))
                .copied()
                .collect();
            if !missing.is_empty() {
                put_back(docs, set, event.global_position());
                return Ok(Progress::NeedsDocuments(missing));
            }
            if round + 1 >= MAX_KEY_ROUNDS {
                put_back(docs, set, event.global_position());
                return Err(ProjectionError::TooManyKeyRounds {
                    model: M::NAME,
                    position: event.position,
                    rounds: round + 1,
                });
            }
            for key in new {
                take_into(docs, key, set);
            }
        }
        let applied_already = set.slots.iter().any(|slot| {
            slot.position
                .is_some_and(|done| done >= event.global_position())
        });
        if !applied_already {
            model.apply(set, event);
        }
        let undeclared = set.undeclared();
        put_back(docs, set, event.global_position());
        match undeclared {
            Some(key) => Err(ProjectionError::UndeclaredKey {
                model: M::NAME,
                position: event.position,
                key,
            }),
            None => Ok(Progress::Applied),
        }
    }

    /// What the batch changed, to write back (with the checkpoint, in one transaction).
    pub fn into_changes(self) -> impl Iterator<Item = (TenantId, Change<D>)> {
        self.working.into_iter().flat_map(|(tenant, docs)| {
            docs.into_iter()
                .filter(|(_, working)| working.changed)
                .map(move |(key, working)| {
                    let change = match (working.doc, working.position) {
                        (Some(stored), Some(position)) => Change::Upsert(Stored {
                            key,
                            position,
                            doc: stored.doc,
                        }),
                        _ => Change::Delete(key),
                    };
                    (tenant.clone(), change)
                })
        })
    }
}

/// The stamps of documents loaded by an inline writer. Inline events were appended by the
/// writer's own transaction, so no document holds them yet, whatever its stamp says about
/// the order of commits: the batch sees every document as older than its events, and a
/// document keeps the later of its old stamp and the event's when written back, so a stamp
/// never moves backwards.
pub(crate) struct Stamps {
    pub(crate) inline: bool,
    hidden: HashMap<DocKey, GlobalPosition>,
}

impl Stamps {
    pub(crate) fn new(inline: bool) -> Self {
        Self {
            inline,
            hidden: HashMap::new(),
        }
    }

    pub(crate) fn hide(&mut self, key: DocKey, stamp: GlobalPosition) -> GlobalPosition {
        if !self.inline {
            return stamp;
        }
        self.hidden.insert(key, stamp);
        GlobalPosition::START
    }

    pub(crate) fn restore<D>(&self, change: Change<D>) -> Change<D> {
        match change {
            Change::Upsert(mut stored) => {
                if let Some(old) = self.hidden.get(&stored.key) {
                    stored.position = stored.position.max(*old);
                }
                Change::Upsert(stored)
            }
            delete @ Change::Delete(_) => delete,
        }
    }
}

fn take_into<D>(docs: &mut HashMap<DocKey, Working<D>>, key: DocKey, set: &mut DocSet<D>) {
    if set.is_named(&key) {
        return;
    }
    let (doc, position) = match docs.get_mut(&key) {
        Some(working) => (working.doc.take(), working.position),
        None => (None, None),
    };
    set.load_stored(key, doc, position, None);
}

fn put_back<D>(
    docs: &mut HashMap<DocKey, Working<D>>,
    set: &mut DocSet<D>,
    position: GlobalPosition,
) {
    for slot in set.slots.drain(..) {
        let working = docs.entry(slot.key).or_insert(Working {
            doc: None,
            position: None,
            changed: false,
        });
        working.doc = slot.doc;
        if slot.changed {
            working.changed = true;
            working.position = Some(position);
        }
    }
    set.undeclared = None;
}
