//! The unit of work in process memory, over a [`MemoryStore`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::crypto::{DecryptingStore, MemorySubjectKeyStore};
use crm_eventstore::{EventStore, GlobalPosition, MemoryStore, StoreSettings, TenantId};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::{
    AlertChange, AlertState, Committed, IdempotencyRecord, OutboxEntry, OutboxHealth,
    OutboxMessage, UnitOfWork, Work, WorkError,
};

/// A [`UnitOfWork`] in memory, for tests and for embedding without a database. Clones share
/// the same rows and store.
///
/// Commits take turns under one lock, which makes each commit atomic: the append is checked
/// and made first, and the rows that go with it are written only when it succeeded.
#[derive(Debug, Clone)]
pub struct MemoryUnitOfWork {
    store: DecryptingStore<MemoryStore, Arc<MemorySubjectKeyStore>>,
    settings: StoreSettings,
    rows: Arc<Mutex<Rows>>,
}

#[derive(Debug, Default)]
struct Rows {
    idempotency: HashMap<(TenantId, String), IdempotencyRecord>,
    outbox: BTreeMap<(TenantId, Uuid), OutboxEntry>,
    checkpoints: HashMap<(TenantId, String), GlobalPosition>,
    alerts: HashMap<(TenantId, String), AlertState>,
}

impl Rows {
    /// Writes `message` unless a message with its id is there (as the SQL backends do).
    fn write_message(&mut self, tenant: &TenantId, message: OutboxMessage) {
        let created_at = message.created_at;
        self.outbox
            .entry((tenant.clone(), message.id))
            .or_insert(OutboxEntry {
                message,
                attempts: 0,
                next_attempt_at: created_at,
                delivered_at: None,
                last_error: None,
                parked_at: None,
            });
    }
}

impl MemoryUnitOfWork {
    /// A unit of work over `store`, which must have been made with `settings`, with a key
    /// store of its own.
    pub fn new(store: MemoryStore, settings: StoreSettings) -> Self {
        Self {
            store: DecryptingStore::new(store, Arc::new(MemorySubjectKeyStore::new())),
            settings,
            rows: Arc::default(),
        }
    }
}

impl Default for MemoryUnitOfWork {
    fn default() -> Self {
        let settings = StoreSettings::default();
        Self::new(MemoryStore::new(settings.clone()), settings)
    }
}

impl UnitOfWork for MemoryUnitOfWork {
    type Store = DecryptingStore<MemoryStore, Arc<MemorySubjectKeyStore>>;
    type Keys = Arc<MemorySubjectKeyStore>;

    fn store(&self) -> &Self::Store {
        &self.store
    }

    fn keys(&self) -> &Self::Keys {
        self.store.keys()
    }

    fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    async fn idempotency_record(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, WorkError> {
        let rows = self.rows.lock().await;
        Ok(rows
            .idempotency
            .get(&(tenant.clone(), key.to_owned()))
            .cloned())
    }

    async fn commit(&self, work: Work) -> Result<Committed, WorkError> {
        let mut rows = self.rows.lock().await;
        if let Some(claim) = &work.idempotency
            && let Some(record) = rows
                .idempotency
                .get(&(work.tenant.clone(), claim.key.clone()))
        {
            return Ok(Committed::Replayed(record.clone()));
        }
        let appended = match &work.append {
            Some(append) => Some(
                self.store
                    .append(
                        &work.tenant,
                        &append.stream,
                        append.expected,
                        &append.events,
                    )
                    .await?,
            ),
            None => None,
        };
        if let Some(claim) = &work.idempotency {
            let outcome = work.outcome(appended.as_ref(), &claim.key)?;
            let claim = claim.clone();
            rows.idempotency.insert(
                (work.tenant.clone(), claim.key.clone()),
                IdempotencyRecord {
                    key: claim.key,
                    digest: claim.digest,
                    outcome,
                },
            );
        }
        for message in work.outbox {
            rows.write_message(&work.tenant, message);
        }
        Ok(Committed::Done(appended))
    }

    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, WorkError> {
        let mut rows = self.rows.lock().await;
        let mut due: Vec<&mut OutboxEntry> = rows
            .outbox
            .iter_mut()
            .filter(|((owner, _), entry)| {
                owner == tenant && entry.is_pending() && entry.next_attempt_at <= now
            })
            .map(|(_, entry)| entry)
            .collect();
        due.sort_by_key(|entry| (entry.message.created_at, entry.message.id));
        let leased_until = now.checked_add_signed(lease).unwrap_or(now);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|entry| {
                entry.next_attempt_at = leased_until;
                entry.clone()
            })
            .collect())
    }

    async fn outbox_delivered(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let mut rows = self.rows.lock().await;
        if let Some(entry) = rows.outbox.get_mut(&(tenant.clone(), id)) {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.delivered_at.get_or_insert(at);
            entry.last_error = None;
        }
        Ok(())
    }

    async fn outbox_failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let mut rows = self.rows.lock().await;
        if let Some(entry) = rows.outbox.get_mut(&(tenant.clone(), id))
            && entry.is_pending()
        {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.next_attempt_at = retry_at;
            entry.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn outbox_parked(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), WorkError> {
        let mut rows = self.rows.lock().await;
        if let Some(entry) = rows.outbox.get_mut(&(tenant.clone(), id))
            && entry.is_pending()
        {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.last_error = Some(error.to_owned());
            entry.parked_at = Some(at);
        }
        Ok(())
    }

    async fn outbox_replay_parked(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> Result<u64, WorkError> {
        let mut rows = self.rows.lock().await;
        let mut replayed = 0;
        for ((owner, _), entry) in &mut rows.outbox {
            if owner == tenant && entry.parked_at.is_some() && entry.delivered_at.is_none() {
                entry.parked_at = None;
                entry.next_attempt_at = at;
                replayed += 1;
            }
        }
        Ok(replayed)
    }

    async fn outbox_health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<OutboxHealth, WorkError> {
        let rows = self.rows.lock().await;
        let mut health = OutboxHealth::default();
        let mut oldest: Option<DateTime<Utc>> = None;
        for ((owner, _), entry) in &rows.outbox {
            if owner != tenant {
                continue;
            }
            if entry.parked_at.is_some() && entry.delivered_at.is_none() {
                health.parked += 1;
            } else if entry.is_pending() {
                health.undelivered += 1;
                let created = entry.message.created_at;
                oldest = Some(oldest.map_or(created, |seen| seen.min(created)));
            }
        }
        health.oldest_undelivered_age =
            oldest.map(|created| now.signed_duration_since(created).max(TimeDelta::zero()));
        Ok(health)
    }

    async fn outbox(&self, tenant: &TenantId) -> Result<Vec<OutboxEntry>, WorkError> {
        let rows = self.rows.lock().await;
        let mut entries: Vec<OutboxEntry> = rows
            .outbox
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, entry)| entry.clone())
            .collect();
        entries.sort_by_key(|entry| (entry.message.created_at, entry.message.id));
        Ok(entries)
    }

    async fn alerts(&self, tenant: &TenantId) -> Result<BTreeMap<String, AlertState>, WorkError> {
        let rows = self.rows.lock().await;
        Ok(rows
            .alerts
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|((_, alert), state)| (alert.clone(), *state))
            .collect())
    }

    async fn commit_alerts(
        &self,
        tenant: &TenantId,
        changes: Vec<AlertChange>,
    ) -> Result<Vec<String>, WorkError> {
        let mut rows = self.rows.lock().await;
        let mut recorded = Vec::new();
        for change in changes {
            let key = (tenant.clone(), change.alert.clone());
            let already = rows
                .alerts
                .get(&key)
                .is_some_and(|state| state.firing == change.state.firing);
            if already {
                continue;
            }
            rows.alerts.insert(key, change.state);
            rows.write_message(tenant, change.message);
            recorded.push(change.alert);
        }
        Ok(recorded)
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
    ) -> Result<Option<GlobalPosition>, WorkError> {
        let rows = self.rows.lock().await;
        Ok(rows
            .checkpoints
            .get(&(tenant.clone(), workflow.to_owned()))
            .copied())
    }

    async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        workflow: &str,
        position: GlobalPosition,
    ) -> Result<(), WorkError> {
        let mut rows = self.rows.lock().await;
        let saved = rows
            .checkpoints
            .entry((tenant.clone(), workflow.to_owned()))
            .or_insert(position);
        *saved = (*saved).max(position);
        Ok(())
    }
}
