//! Helpers shared by the examples: an embedded CRM on the application layer's
//! [`CommandService`] over the embedded default backend, one SQLite file (durable, no server).
//! Every command goes the way the HTTP app sends it: loaded, decided, its personal fields
//! encrypted with the person's key, and committed with the expected version and its metadata
//! in one transaction of the file.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crm_app::{
    Backend as _, BackendError, CommandMeta, CommandService, ManualClock, SqliteBackend,
    SqliteUnitOfWork, UnitOfWork as _,
};
use crm_domain::{AccountId, Actor, Aggregate};
use crm_eventstore::{EventStore as _, StoreError, TenantId, VerifyReport};
use crm_projections::AsOf;
use crm_projections::account360::{Account360, Account360Model, Account360Query};
use thiserror::Error;
use uuid::Uuid;

/// Why an example step failed.
#[derive(Debug, Error)]
pub enum ExampleError {
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] BackendError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The command was refused or could not be committed.
    #[error("{kind}: {message}")]
    Refused {
        /// The aggregate kind.
        kind: &'static str,
        /// Why, as text.
        message: String,
    },
    /// The async runtime the blocking calls run on could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// A read model could not be folded from the history.
    #[error(transparent)]
    Read(#[from] crm_projections::LiveError),
}

/// A CRM embedded in the process: the command service over one SQLite file, one tenant, and
/// a clock the example moves by hand (the domain never reads a clock). Its calls block.
pub struct EmbeddedCrm {
    runtime: tokio::runtime::Runtime,
    backend: SqliteBackend,
    service: CommandService<SqliteUnitOfWork>,
    clock: Arc<ManualClock>,
    tenant: TenantId,
    /// The example's "now"; every decision is taken at this instant.
    pub now: DateTime<Utc>,
}

impl EmbeddedCrm {
    /// The CRM kept in the SQLite file at `path` (created if missing, its tables too), for
    /// `tenant`, starting at `now`.
    pub fn open(path: &Path, tenant: &str, now: DateTime<Utc>) -> Result<Self, ExampleError> {
        let backend = SqliteBackend::open(path)?;
        let clock = Arc::new(ManualClock::new(now));
        let clock_for_service: Arc<dyn crm_app::Clock> = Arc::clone(&clock) as _;
        Ok(Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            service: CommandService::new(backend.work(), clock_for_service),
            backend,
            clock,
            tenant: TenantId::new(tenant)?,
            now,
        })
    }

    /// Moves the clock forward by `minutes`.
    pub fn advance_minutes(&mut self, minutes: i64) {
        self.now += chrono::Duration::minutes(minutes);
    }

    /// The aggregate stored in `"{KIND}-{id}"`, as the command service folds it, and its
    /// version.
    pub fn load<A>(&self, id: Uuid) -> Result<(A, u64), ExampleError>
    where
        A: Aggregate + Send + Sync + 'static,
    {
        self.runtime
            .block_on(self.service.load::<A>(&self.tenant, id))
            .map_err(|error| ExampleError::Refused {
                kind: A::KIND,
                message: error.to_string(),
            })
    }

    /// Sends `command` as `actor` at the current time through the command service: loaded,
    /// decided, committed expecting the version it loaded (a concurrent writer makes it
    /// retry on the new state rather than be overwritten). Returns the new events.
    pub fn execute<A>(
        &self,
        id: Uuid,
        command: A::Command,
        actor: Actor,
    ) -> Result<Vec<A::Event>, ExampleError>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Command: serde::Serialize + Clone,
    {
        self.clock.set(self.now);
        let executed = self
            .runtime
            .block_on(
                self.service
                    .execute::<A>(&self.tenant, id, command, &CommandMeta::by(actor)),
            )
            .map_err(|error| ExampleError::Refused {
                kind: A::KIND,
                message: error.to_string(),
            })?;
        Ok(executed.events)
    }

    /// The account 360 of `account` as the history stands: the read model folded from the
    /// tenant's events (what a projector keeps in a table, made on the spot here).
    pub fn account_360(&self, account: AccountId) -> Result<Option<Account360>, ExampleError> {
        // The unit of work's store reads personal fields decrypted, as projectors do.
        let folded = self.runtime.block_on(crm_projections::fold_tenant_at(
            self.service.work().store(),
            &self.tenant,
            Account360Model,
            AsOf::Now,
        ))?;
        Ok(folded.lookup(&self.tenant, &Account360Query { account }))
    }

    /// Walks every stream's hash chain.
    pub fn verify(&self) -> Result<VerifyReport, ExampleError> {
        Ok(self
            .runtime
            .block_on(self.backend.store().verify(&self.tenant))?)
    }

    /// How many events the tenant holds, read in global order page by page.
    pub fn count_events(&self) -> Result<usize, ExampleError> {
        let store = self.backend.store();
        let mut after = crm_eventstore::GlobalPosition::START;
        let mut count = 0;
        loop {
            let page = self
                .runtime
                .block_on(store.read_all(&self.tenant, after, 500))?;
            if page.is_empty() {
                return Ok(count);
            }
            count += page.len();
            after = page.next;
        }
    }
}
