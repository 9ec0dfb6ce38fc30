//! A synchronous facade over any backend, for sync embedders and command-line tools: a
//! current-thread runtime around the async core (rust-postgres's shape), not a second
//! implementation.

use std::time::Duration;

use tokio::runtime::Runtime;

use crate::{
    AppendResult, EventStore, ExpectedVersion, GlobalPosition, NewEvent, PostgresConfig,
    PostgresStore, ReadAllPage, RecordedEvent, Snapshot, StoreError, StreamId, StreamRead,
    Subscription, SubscriptionOptions, SubscriptionStatus, TenantId, VerifyReport,
};

/// A blocking [`EventStore`] client. Each call runs the async call to completion on the
/// facade's own runtime; do not call it from inside an async runtime (that would block one
/// of its threads, and tokio refuses nested `block_on`).
#[derive(Debug)]
pub struct BlockingStore<S> {
    runtime: Runtime,
    store: S,
}

fn runtime() -> Result<Runtime, StoreError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| StoreError::Unavailable {
            reason: format!("cannot start the blocking facade's runtime: {error}"),
            source: Some(Box::new(error)),
        })
}

impl BlockingStore<PostgresStore> {
    /// Connects to PostgreSQL (see [`PostgresStore::connect`]).
    pub fn connect(config: PostgresConfig) -> Result<Self, StoreError> {
        let runtime = runtime()?;
        let store = runtime.block_on(PostgresStore::connect(config))?;
        Ok(Self { runtime, store })
    }
}

impl<S: EventStore + Clone> BlockingStore<S> {
    /// Wraps a store built elsewhere (for example a [`MemoryStore`](crate::MemoryStore)).
    pub fn new(store: S) -> Result<Self, StoreError> {
        Ok(Self {
            runtime: runtime()?,
            store,
        })
    }

    /// The async store inside.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// See [`EventStore::append`].
    pub fn append(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        self.runtime
            .block_on(self.store.append(tenant, stream, expected, events))
    }

    /// See [`EventStore::read_stream`].
    pub fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        read: StreamRead,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.runtime
            .block_on(self.store.read_stream(tenant, stream, read))
    }

    /// See [`EventStore::stream_version`].
    pub fn stream_version(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<Option<u64>, StoreError> {
        self.runtime
            .block_on(self.store.stream_version(tenant, stream))
    }

    /// See [`EventStore::read_all`].
    pub fn read_all(
        &self,
        tenant: &TenantId,
        after: GlobalPosition,
        limit: usize,
    ) -> Result<ReadAllPage, StoreError> {
        self.runtime
            .block_on(self.store.read_all(tenant, after, limit))
    }

    /// See [`EventStore::save_snapshot`].
    pub fn save_snapshot(&self, tenant: &TenantId, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.store.save_snapshot(tenant, snapshot))
    }

    /// See [`EventStore::load_snapshot`].
    pub fn load_snapshot(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
        snapshot_type: &str,
        schema_version: u16,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.runtime.block_on(self.store.load_snapshot(
            tenant,
            stream,
            snapshot_type,
            schema_version,
        ))
    }

    /// See [`EventStore::verify`].
    pub fn verify(&self, tenant: &TenantId) -> Result<VerifyReport, StoreError> {
        self.runtime.block_on(self.store.verify(tenant))
    }

    /// See [`EventStore::verify_stream`].
    pub fn verify_stream(
        &self,
        tenant: &TenantId,
        stream: &StreamId,
    ) -> Result<VerifyReport, StoreError> {
        self.runtime
            .block_on(self.store.verify_stream(tenant, stream))
    }

    /// See [`EventStore::subscribe`]; the subscription blocks on this facade's runtime.
    pub fn subscribe(
        &self,
        tenant: &TenantId,
        from: GlobalPosition,
        options: SubscriptionOptions,
    ) -> BlockingSubscription<'_, S> {
        // The PostgreSQL listener is spawned on the runtime current at subscription.
        let _entered = self.runtime.enter();
        BlockingSubscription {
            runtime: &self.runtime,
            subscription: self.store.subscribe(tenant, from, options),
        }
    }
}

/// A [`Subscription`] driven by a [`BlockingStore`]'s runtime. As an iterator it never ends:
/// each `next` blocks until an event arrives (or a read fails).
#[derive(Debug)]
pub struct BlockingSubscription<'a, S> {
    runtime: &'a Runtime,
    subscription: Subscription<S>,
}

impl<S: EventStore> BlockingSubscription<'_, S> {
    /// The next event, or `None` if none arrives within `timeout`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<RecordedEvent>, StoreError> {
        self.runtime
            .block_on(async { tokio::time::timeout(timeout, self.subscription.next()).await })
            .map_or(Ok(None), |event| event.map(Some))
    }

    /// See [`Subscription::checkpoint`].
    pub fn checkpoint(&self) -> GlobalPosition {
        self.subscription.checkpoint()
    }

    /// See [`Subscription::status`].
    pub fn status(&self) -> SubscriptionStatus {
        self.subscription.status()
    }
}

impl<S: EventStore> Iterator for BlockingSubscription<'_, S> {
    type Item = Result<RecordedEvent, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.runtime.block_on(self.subscription.next()))
    }
}
