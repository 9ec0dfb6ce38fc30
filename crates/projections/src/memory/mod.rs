//! The in-memory adapter: [`MemoryDocuments`] folds events into a read model's documents and
//! answers its queries; [`MemoryStorage`] (`storage.rs`) puts it behind the storage port. Used by
//! tests, by the live (on-demand) lifecycle, and as the reference every other storage adapter
//! must equal.

mod storage;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crm_eventstore::GlobalPosition;

pub use self::storage::MemoryStorage;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::model::key_hash::{IndexKey, KeyHasher, KeyMap};
use crate::model::{DocKey, DocSet, Found, IndexValue, Lookup, ReadModel, Scan, Stored};
use crate::storage::batch::{Batch, Change, MAX_KEY_ROUNDS, Progress};
use crm_eventstore::TenantId;

/// One tenant's documents: an arena of slots and an index from key to slot, so that a document
/// taken out for an event goes back to its slot without a second lookup. Documents are boxed so
/// that taking one out for an event and putting it back moves a pointer, not the document.
#[derive(Debug, Clone)]
struct TenantDocs<D> {
    index: KeyMap<u32>,
    slots: Vec<Option<Box<Stored<D>>>>,
    free: Vec<u32>,
}

impl<D> Default for TenantDocs<D> {
    fn default() -> Self {
        Self {
            index: KeyMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<D> TenantDocs<D> {
    fn get(&self, key: &DocKey) -> Option<&Stored<D>> {
        let slot = *self.index.get(&IndexKey(*key))?;
        self.slots.get(slot as usize)?.as_deref()
    }

    /// Moves the document at `key` into `set`.
    fn load_into(&mut self, key: DocKey, set: &mut DocSet<D>) {
        if set.is_named(&key) {
            return;
        }
        match self.index.get(&IndexKey(key)) {
            Some(&home) => {
                let stored = self.slots.get_mut(home as usize).and_then(Option::take);
                let position = stored.as_ref().map(|stored| stored.position);
                set.load_stored(key, stored, position, Some(home));
            }
            None => set.load_stored(key, None, None, None),
        }
    }

    /// Moves every document of `set` back, stamping those the event changed with `position`.
    fn write_back(&mut self, set: &mut DocSet<D>, position: GlobalPosition) {
        for slot in set.slots.drain(..) {
            let stamped = match (slot.changed, slot.position) {
                (false, Some(old)) => old,
                _ => position,
            };
            match (slot.home, slot.doc) {
                (Some(home), Some(mut stored)) => {
                    stored.position = stamped;
                    if let Some(place) = self.slots.get_mut(home as usize) {
                        *place = Some(stored);
                    }
                }
                (Some(home), None) => {
                    self.index.remove(&IndexKey(slot.key));
                    self.free.push(home);
                }
                (None, Some(mut stored)) => {
                    stored.position = stamped;
                    self.put(stored);
                }
                (None, None) => {}
            }
        }
        set.undeclared = None;
    }

    /// Inserts or replaces a document.
    fn put(&mut self, stored: Box<Stored<D>>) {
        if let Some(&home) = self.index.get(&IndexKey(stored.key))
            && let Some(place) = self.slots.get_mut(home as usize)
        {
            *place = Some(stored);
            return;
        }
        let key = stored.key;
        let home = if let Some(home) = self.free.pop() {
            if let Some(place) = self.slots.get_mut(home as usize) {
                *place = Some(stored);
            }
            home
        } else {
            // A tenant with more than u32::MAX documents does not fit in memory anyway;
            // saturating keeps this total.
            let home = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
            self.slots.push(Some(stored));
            home
        };
        self.index.insert(IndexKey(key), home);
    }

    fn delete(&mut self, key: &DocKey) {
        if let Some(home) = self.index.remove(&IndexKey(*key)) {
            if let Some(place) = self.slots.get_mut(home as usize) {
                *place = None;
            }
            self.free.push(home);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Stored<D>> {
        self.slots.iter().flatten().map(|stored| &**stored)
    }

    fn len(&self) -> usize {
        self.index.len()
    }
}

/// A read model's documents in memory, with the checkpoint ("processed through position P").
///
/// [`MemoryDocuments::apply`] skips events at or below the checkpoint and moves the checkpoint
/// past every event it is given, whether the model cared about it or not. An event the model
/// cannot apply (a bug in the model, see [`ProjectionError`]) halts the store: that error is
/// returned and every later call is refused, like a projector that must be fixed and rebuilt.
#[derive(Debug, Clone)]
pub struct MemoryDocuments<M: ReadModel> {
    model: M,
    tenants: HashMap<TenantId, TenantDocs<M::Doc>, BuildHasherDefault<KeyHasher>>,
    checkpoint: Option<GlobalPosition>,
    set: DocSet<M::Doc>,
    keys: Vec<DocKey>,
    halted: Option<ProjectionError>,
}

impl<M: ReadModel> MemoryDocuments<M> {
    /// An empty store for `model`.
    pub fn new(model: M) -> Self {
        Self {
            model,
            tenants: HashMap::default(),
            checkpoint: None,
            set: DocSet::new(),
            keys: Vec::new(),
            halted: None,
        }
    }

    /// Folds `events` from scratch: the live lifecycle ("the Customer 360 as of 1 March" is the
    /// fold of the events recorded until then).
    pub fn fold<'a>(
        model: M,
        events: impl IntoIterator<Item = &'a ProjectedEvent>,
    ) -> Result<Self, ProjectionError> {
        let mut store = Self::new(model);
        store.apply_all(events)?;
        Ok(store)
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The position processed through, `None` before the first event.
    pub fn checkpoint(&self) -> Option<GlobalPosition> {
        self.checkpoint
    }

    /// Applies `event` unless the checkpoint is already at or past it, and moves the checkpoint
    /// to it.
    pub fn apply(&mut self, event: &ProjectedEvent) -> Result<(), ProjectionError> {
        self.refuse_if_halted()?;
        if self
            .checkpoint
            .is_some_and(|done| done >= event.global_position())
        {
            return Ok(());
        }
        self.apply_to_documents(event)?;
        self.checkpoint = Some(event.global_position());
        Ok(())
    }

    /// Applies `events` in order (see [`MemoryDocuments::apply`]).
    pub fn apply_all<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a ProjectedEvent>,
    ) -> Result<(), ProjectionError> {
        events.into_iter().try_for_each(|event| self.apply(event))
    }

    /// Applies `events` as one batch, the way a storage adapter does: the documents the
    /// events name are loaded in one go into a working set, the events applied in order, and
    /// what changed written back at the end, with the checkpoint. Equal to applying them one by
    /// one. On error nothing of the batch is written and the store halts.
    pub fn apply_batch(&mut self, events: &[ProjectedEvent]) -> Result<(), ProjectionError> {
        self.refuse_if_halted()?;
        let done = self.checkpoint;
        let pending: Vec<&ProjectedEvent> = events
            .iter()
            .filter(|event| done.is_none_or(|done| event.global_position() > done))
            .collect();
        let Some(last) = pending.iter().map(|event| event.global_position()).max() else {
            return Ok(());
        };
        let mut batch = Batch::new();
        for (tenant, key) in Batch::first_keys(&self.model, pending.iter().copied()) {
            batch.provide(&tenant, key, self.load(&tenant, &key));
        }
        for event in &pending {
            loop {
                match batch.apply(&self.model, event) {
                    Ok(Progress::Applied) => break,
                    Ok(Progress::NeedsDocuments(keys)) => {
                        for key in keys {
                            batch.provide(&event.tenant, key, self.load(&event.tenant, &key));
                        }
                    }
                    Err(error) => {
                        self.halted = Some(error.clone());
                        return Err(error);
                    }
                }
            }
        }
        for (tenant, change) in batch.into_changes() {
            let docs = self.tenants.entry(tenant).or_default();
            match change {
                Change::Upsert(stored) => docs.put(Box::new(stored)),
                Change::Delete(key) => docs.delete(&key),
            }
        }
        self.checkpoint = Some(last);
        Ok(())
    }

    fn load(&self, tenant: &TenantId, key: &DocKey) -> Option<(GlobalPosition, M::Doc)> {
        self.stored(tenant, key)
            .map(|stored| (stored.position, stored.doc.clone()))
    }

    /// Applies `event` whatever the checkpoint, guarded only by the positions stamped in the
    /// documents it names, and leaves the checkpoint alone: what a document sees when an event
    /// reaches it twice by different paths (an inline projection, then the asynchronous one).
    pub fn redeliver(&mut self, event: &ProjectedEvent) -> Result<(), ProjectionError> {
        self.refuse_if_halted()?;
        self.apply_to_documents(event)
    }

    fn refuse_if_halted(&self) -> Result<(), ProjectionError> {
        match &self.halted {
            None => Ok(()),
            Some(error @ ProjectionError::Halted { .. }) => Err(error.clone()),
            Some(cause) => Err(ProjectionError::Halted {
                model: M::NAME,
                position: halted_at(cause),
                cause: cause.to_string(),
            }),
        }
    }

    fn apply_to_documents(&mut self, event: &ProjectedEvent) -> Result<(), ProjectionError> {
        let Self {
            model,
            tenants,
            set,
            keys,
            halted,
            ..
        } = self;
        keys.clear();
        model.keys(event, keys);
        if keys.is_empty() {
            return Ok(());
        }
        // One hash of the tenant per event: a tenant seen before is found with `get_mut`, and
        // only a new one pays for the clone and the second lookup of `entry`.
        if let Some(docs) = tenants.get_mut(&event.tenant) {
            return Self::apply_in_tenant(model, docs, set, keys, halted, event);
        }
        let docs = tenants.entry(event.tenant.clone()).or_default();
        Self::apply_in_tenant(model, docs, set, keys, halted, event)
    }

    /// Applies `event` to the documents of its tenant, `keys` holding the keys it names.
    fn apply_in_tenant(
        model: &M,
        docs: &mut TenantDocs<M::Doc>,
        set: &mut DocSet<M::Doc>,
        keys: &mut Vec<DocKey>,
        halted: &mut Option<ProjectionError>,
        event: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        set.clear();
        for key in keys.iter() {
            docs.load_into(*key, set);
        }
        let mut rounds = 0;
        loop {
            keys.clear();
            model.linked_keys(event, set, keys);
            let before = set.slots.len();
            for key in keys.iter() {
                docs.load_into(*key, set);
            }
            if set.slots.len() == before {
                break;
            }
            rounds += 1;
            if rounds >= MAX_KEY_ROUNDS {
                docs.write_back(set, event.global_position());
                let error = ProjectionError::TooManyKeyRounds {
                    model: M::NAME,
                    position: event.position,
                    rounds,
                };
                *halted = Some(error.clone());
                return Err(error);
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
        docs.write_back(set, event.global_position());
        if let Some(key) = undeclared {
            let error = ProjectionError::UndeclaredKey {
                model: M::NAME,
                position: event.position,
                key,
            };
            *halted = Some(error.clone());
            return Err(error);
        }
        Ok(())
    }

    /// The document at `key` of `tenant`.
    pub fn get(&self, tenant: &TenantId, key: &DocKey) -> Option<&M::Doc> {
        self.stored(tenant, key).map(|stored| &stored.doc)
    }

    /// The document at `key` of `tenant`, with its position.
    pub fn stored(&self, tenant: &TenantId, key: &DocKey) -> Option<&Stored<M::Doc>> {
        self.tenants.get(tenant)?.get(key)
    }

    /// Every document of `tenant`, in no particular order.
    pub fn documents(&self, tenant: &TenantId) -> impl Iterator<Item = &Stored<M::Doc>> {
        self.tenants
            .get(tenant)
            .into_iter()
            .flat_map(TenantDocs::iter)
    }

    /// Every document of every tenant, in no particular order.
    pub fn all_documents(&self) -> impl Iterator<Item = (&TenantId, &Stored<M::Doc>)> {
        self.tenants
            .iter()
            .flat_map(|(tenant, docs)| docs.iter().map(move |stored| (tenant, stored)))
    }

    /// How many documents `tenant` has.
    pub fn len(&self, tenant: &TenantId) -> usize {
        self.tenants.get(tenant).map_or(0, TenantDocs::len)
    }

    /// Whether no tenant has any document.
    pub fn is_empty(&self) -> bool {
        self.tenants.values().all(|docs| docs.len() == 0)
    }

    /// Answers a [`Lookup`] over `tenant`'s documents.
    pub fn lookup<Q: Lookup<M::Doc>>(&self, tenant: &TenantId, query: &Q) -> Q::Answer {
        let docs = self.tenants.get(tenant);
        let mut found = Found::default();
        let mut keys = Vec::new();
        let rounds = query
            .rounds()
            .map_or(MAX_KEY_ROUNDS, |r| r.min(MAX_KEY_ROUNDS));
        for _ in 0..rounds {
            keys.clear();
            query.keys(&found, &mut keys);
            found.reserve(keys.len());
            let mut new = false;
            for key in &keys {
                if found.contains(key) {
                    continue;
                }
                new = true;
                if let Some(stored) = docs.and_then(|docs| docs.get(key)) {
                    found.lend(*key, &stored.doc);
                } else {
                    found.mark_absent(*key);
                }
            }
            if !new {
                break;
            }
        }
        #[cfg(debug_assertions)]
        if query.rounds().is_some() {
            keys.clear();
            query.keys(&found, &mut keys);
            debug_assert!(
                keys.iter().all(|key| found.contains(key)),
                "a lookup named new keys after the rounds it said it needs"
            );
        }
        query.answer(&found)
    }

    /// Answers a [`Scan`] over `tenant`'s documents.
    pub fn scan<Q: Scan<M::Doc>>(&self, tenant: &TenantId, query: &Q) -> Q::Answer {
        let selection = query.selection();
        let mut rows: Vec<(Option<IndexValue>, &Stored<M::Doc>)> = self
            .documents(tenant)
            .filter(|stored| selection.kinds.contains(&stored.key.kind))
            .filter_map(|stored| {
                let indexed = M::indexed(&stored.key, &stored.doc);
                if !selection
                    .filters
                    .iter()
                    .all(|filter| filter.matches(&indexed))
                {
                    return None;
                }
                match selection.order_by {
                    None => Some((None, stored)),
                    Some(column) => indexed
                        .into_iter()
                        .find(|(name, _)| *name == column)
                        .map(|(_, value)| (Some(value), stored)),
                }
            })
            .filter(|(value, stored)| match (&selection.after, value) {
                (Some((after, key)), Some(value)) => {
                    value.column_type() == after.column_type()
                        && (value, &stored.key) > (after, key)
                }
                // Key order: only the key counts.
                (Some((_, key)), None) => stored.key > *key,
                (None, _) => true,
            })
            .collect();
        rows.sort_by(|(left_value, left), (right_value, right)| {
            left_value
                .cmp(right_value)
                .then_with(|| left.key.cmp(&right.key))
        });
        let limit = selection.limit.unwrap_or(usize::MAX);
        query.answer(
            rows.iter()
                .take(limit)
                .map(|(_, stored)| (&stored.key, &stored.doc)),
        )
    }
}

fn halted_at(error: &ProjectionError) -> u64 {
    match error {
        ProjectionError::UndeclaredKey { position, .. }
        | ProjectionError::TooManyKeyRounds { position, .. }
        | ProjectionError::Halted { position, .. } => *position,
    }
}
