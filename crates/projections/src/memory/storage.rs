//! The in-memory adapter of the storage port: [`MemoryDocuments`] per tenant, behind a lock,
//! with a checkpoint and parked events of its own.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crm_eventstore::GlobalPosition;

use super::MemoryDocuments;
use crate::model::{DocKey, Lookup, ReadModel, Scan, Stored};
use crate::storage::{DocumentStore, ParkedEvent, ProjectionBatch, StorageError};
use crm_eventstore::TenantId;

#[derive(Debug)]
struct TenantState<M: ReadModel> {
    documents: MemoryDocuments<M>,
    checkpoint: Option<GlobalPosition>,
    parked: Vec<ParkedEvent>,
}

/// A [`DocumentStore`] in memory: for tests, for the embedded default, and as the reference
/// every other adapter is compared with. Clones of the model serve each tenant.
#[derive(Debug)]
pub struct MemoryStorage<M: ReadModel> {
    model: M,
    tenants: Mutex<HashMap<TenantId, TenantState<M>>>,
}

impl<M: ReadModel + Clone> MemoryStorage<M> {
    /// An empty store for `model`.
    pub fn new(model: M) -> Self {
        Self {
            model,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    fn tenants(&self) -> MutexGuard<'_, HashMap<TenantId, TenantState<M>>> {
        // A panic while holding the lock cannot leave a tenant half-written: `commit` changes
        // the state only after every fallible step succeeded.
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `read` over the tenant's documents (an empty store when the tenant has none).
    fn read<T>(&self, tenant: &TenantId, read: impl FnOnce(&MemoryDocuments<M>) -> T) -> T {
        let tenants = self.tenants();
        match tenants.get(tenant) {
            Some(state) => read(&state.documents),
            None => read(&MemoryDocuments::new(self.model.clone())),
        }
    }
}

impl<M> DocumentStore<M> for MemoryStorage<M>
where
    M: ReadModel + Clone + Send + Sync,
    M::Doc: Send + Sync,
{
    async fn checkpoint(&self, tenant: &TenantId) -> Result<Option<GlobalPosition>, StorageError> {
        Ok(self
            .tenants()
            .get(tenant)
            .and_then(|state| state.checkpoint))
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        expected: Option<GlobalPosition>,
        batch: &ProjectionBatch,
    ) -> Result<(), StorageError> {
        let mut tenants = self.tenants();
        let found = tenants.get(tenant).and_then(|state| state.checkpoint);
        if found != expected {
            return Err(StorageError::CheckpointMoved {
                projection: M::NAME.to_owned(),
                tenant: tenant.to_string(),
                expected,
                found,
            });
        }
        let state = tenants
            .entry(tenant.clone())
            .or_insert_with(|| TenantState {
                documents: MemoryDocuments::new(self.model.clone()),
                checkpoint: None,
                parked: Vec::new(),
            });
        let pending: Vec<_> = batch
            .events
            .iter()
            .filter(|event| expected.is_none_or(|done| event.global_position() > done))
            .cloned()
            .collect();
        // On a model error `apply_batch` writes nothing of the batch (as a rolled-back
        // transaction would) and halts the tenant's documents until they are rebuilt.
        state.documents.apply_batch(&pending)?;
        state.parked.extend(
            batch
                .parked
                .iter()
                .filter(|parked| expected.is_none_or(|done| parked.position > done))
                .cloned(),
        );
        state.checkpoint = Some(batch.through.max(expected.unwrap_or(GlobalPosition::START)));
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        key: &DocKey,
    ) -> Result<Option<Stored<M::Doc>>, StorageError> {
        Ok(self.read(tenant, |documents| documents.stored(tenant, key).cloned()))
    }

    async fn documents(&self, tenant: &TenantId) -> Result<Vec<Stored<M::Doc>>, StorageError> {
        let mut documents = self.read(tenant, |documents| {
            documents.documents(tenant).cloned().collect::<Vec<_>>()
        });
        documents.sort_by_key(|stored| stored.key);
        Ok(documents)
    }

    async fn parked(&self, tenant: &TenantId) -> Result<Vec<ParkedEvent>, StorageError> {
        Ok(self
            .tenants()
            .get(tenant)
            .map(|state| state.parked.clone())
            .unwrap_or_default())
    }

    async fn lookup<Q>(&self, tenant: &TenantId, query: &Q) -> Result<Q::Answer, StorageError>
    where
        Q: Lookup<M::Doc> + Sync,
        Q::Answer: Send,
    {
        Ok(self.read(tenant, |documents| documents.lookup(tenant, query)))
    }

    async fn scan<Q>(&self, tenant: &TenantId, query: &Q) -> Result<Q::Answer, StorageError>
    where
        Q: Scan<M::Doc> + Sync,
        Q::Answer: Send,
    {
        Ok(self.read(tenant, |documents| documents.scan(tenant, query)))
    }
}
