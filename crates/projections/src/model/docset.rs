//! The documents one event may read and write, loaded for [`ReadModel::apply`].
//!
//! [`ReadModel::apply`]: crate::ReadModel::apply

use crm_eventstore::GlobalPosition;

use super::{DocKey, Stored};

/// One named document: loaded (or absent), with the position of the last event that changed
/// it and whether this event changed it.
///
/// The document travels boxed, as the store keeps it: a document is moved from the store into
/// the set and back for every event that names it, and moving a pointer instead of a document
/// of hundreds of bytes (a contact with its profile) took a good part of the fold's time.
/// The box's `position` is the store's business (stamped when written back); `position` here
/// is the stamp the document had when loaded.
#[derive(Debug, Clone)]
pub(crate) struct Slot<D> {
    pub(crate) key: DocKey,
    pub(crate) doc: Option<Box<Stored<D>>>,
    /// The global position of the last event that changed the stored document.
    pub(crate) position: Option<GlobalPosition>,
    pub(crate) changed: bool,
    /// Where the store keeps the document, for writing it back without a second lookup.
    pub(crate) home: Option<u32>,
}

/// The documents an event named through [`ReadModel::keys`] and [`ReadModel::linked_keys`],
/// loaded. Absent documents can be created; documents that were not named cannot be touched
/// (reading one finds nothing, and changing one is recorded as a model bug the store reports).
///
/// Small by design (an event names a handful of documents), so lookups are a linear scan.
///
/// [`ReadModel::keys`]: crate::ReadModel::keys
/// [`ReadModel::linked_keys`]: crate::ReadModel::linked_keys
#[derive(Debug, Clone)]
pub struct DocSet<D> {
    pub(crate) slots: Vec<Slot<D>>,
    pub(crate) undeclared: Option<DocKey>,
}

impl<D> Default for DocSet<D> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            undeclared: None,
        }
    }
}

impl<D> DocSet<D> {
    /// An empty set, for tests of a model's `apply` outside a store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names `key` with its loaded document (or `None` when absent), as a store does before
    /// applying. Naming a key twice keeps the first.
    pub fn load(&mut self, key: DocKey, doc: Option<D>) {
        let doc = doc.map(|doc| boxed(key, doc));
        self.load_stored(key, doc, None, None);
    }

    pub(crate) fn load_stored(
        &mut self,
        key: DocKey,
        doc: Option<Box<Stored<D>>>,
        position: Option<GlobalPosition>,
        home: Option<u32>,
    ) {
        if !self.is_named(&key) {
            self.slots.push(Slot {
                key,
                doc,
                position,
                changed: false,
                home,
            });
        }
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.undeclared = None;
    }

    fn slot(&self, key: &DocKey) -> Option<&Slot<D>> {
        self.slots.iter().find(|slot| slot.key == *key)
    }

    fn slot_mut(&mut self, key: &DocKey) -> Option<&mut Slot<D>> {
        let found = self.slots.iter_mut().find(|slot| slot.key == *key);
        if found.is_none() {
            self.undeclared.get_or_insert(*key);
        }
        found
    }

    /// Whether `key` was named for this event.
    pub fn is_named(&self, key: &DocKey) -> bool {
        self.slot(key).is_some()
    }

    /// The named keys, in the order they were named.
    pub fn keys(&self) -> impl Iterator<Item = &DocKey> {
        self.slots.iter().map(|slot| &slot.key)
    }

    /// The document at `key`, if named and present.
    pub fn get(&self, key: &DocKey) -> Option<&D> {
        self.slot(key)
            .and_then(|slot| slot.doc.as_ref().map(|stored| &stored.doc))
    }

    /// The document at `key` for changing, if named and present.
    pub fn get_mut(&mut self, key: &DocKey) -> Option<&mut D> {
        let slot = self.slot_mut(key)?;
        let stored = slot.doc.as_mut()?;
        slot.changed = true;
        Some(&mut stored.doc)
    }

    /// The document at `key` for changing, created with `create` when absent; `None` only when
    /// `key` was not named.
    pub fn get_or_insert_with(
        &mut self,
        key: &DocKey,
        create: impl FnOnce() -> D,
    ) -> Option<&mut D> {
        let slot = self.slot_mut(key)?;
        slot.changed = true;
        let stored = slot.doc.get_or_insert_with(|| boxed(*key, create()));
        Some(&mut stored.doc)
    }

    /// Replaces (or creates) the document at `key`; refused (returned) when `key` was not
    /// named.
    pub fn insert(&mut self, key: &DocKey, doc: D) -> Result<(), D> {
        match self.slot_mut(key) {
            Some(slot) => {
                slot.changed = true;
                match &mut slot.doc {
                    Some(stored) => stored.doc = doc,
                    None => slot.doc = Some(boxed(*key, doc)),
                }
                Ok(())
            }
            None => Err(doc),
        }
    }

    /// Deletes the document at `key`, returning it.
    pub fn remove(&mut self, key: &DocKey) -> Option<D> {
        let slot = self.slot_mut(key)?;
        let stored = slot.doc.take();
        slot.changed |= stored.is_some();
        stored.map(|stored| stored.doc)
    }

    /// Every present document with its key, in the order named.
    pub fn iter(&self) -> impl Iterator<Item = (&DocKey, &D)> {
        self.slots
            .iter()
            .filter_map(|slot| slot.doc.as_ref().map(|stored| (&slot.key, &stored.doc)))
    }

    /// Every present document of `kind`, for changing.
    pub fn iter_mut_of_kind(&mut self, kind: &str) -> impl Iterator<Item = (&DocKey, &mut D)> {
        self.slots
            .iter_mut()
            .filter(move |slot| slot.key.kind == kind && slot.doc.is_some())
            .filter_map(|slot| {
                slot.changed = true;
                slot.doc.as_mut().map(|stored| (&slot.key, &mut stored.doc))
            })
    }

    /// The first key used without being named, if any: a bug in the model.
    pub fn undeclared(&self) -> Option<DocKey> {
        self.undeclared
    }

    /// Whether this event changed (or created, or deleted) the document at `key`.
    pub fn changed(&self, key: &DocKey) -> bool {
        self.slot(key).is_some_and(|slot| slot.changed)
    }
}

/// A document created in the set, boxed as the store keeps it. Its stamp is a placeholder: the
/// store stamps the document with the event's position when it writes it back.
fn boxed<D>(key: DocKey, doc: D) -> Box<Stored<D>> {
    Box::new(Stored {
        key,
        position: GlobalPosition::START,
        doc,
    })
}
