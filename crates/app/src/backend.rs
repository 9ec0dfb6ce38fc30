//! Where an app keeps everything: one [`Backend`] names the event store, the application's
//! tables (unit of work, inbox, deadlines) and the read models' storage of one database, and
//! how its projectors run there. [`SqliteBackend`] keeps all of it in one SQLite file (the
//! embedded default, no server); [`PostgresBackend`] in a PostgreSQL database (production:
//! several processes share the work under leases).
//!
//! `crm serve`, `crm work` and the operator commands are written once over this trait, so a
//! route, a worker or a status line cannot behave differently on the two.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_eventstore::audit::ExportedEvent;
use crm_eventstore::crypto::{
    DecryptingStore, PostgresSubjectKeyStore, SqliteSubjectKeyStore, SubjectKeyStore,
    SubjectKeyTransfer,
};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::transfer::HistoryTransfer;
use crm_eventstore::{
    EventStore, GlobalPosition, PostgresConfig, PostgresStore, SqliteStore, StoreError,
    StoreSettings, TenantId,
};
use crm_projections::{
    DocumentStore, Lag, Lease, PoisonPolicy, PostgresDocuments, Projector, ProjectorOptions,
    ProjectorStatus, ReadModel, RebuildLimits, RebuildProgress, RunnerError, SqliteDocuments,
    StorageError, rebuild_many, run_leased,
};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::intake::{Inbox, PostgresInbox, SqliteInbox};
use crate::scheduler::{DeadlineStore, PostgresDeadlines, SqliteDeadlines};
use crate::uow::{PostgresUnitOfWork, SqliteUnitOfWork, UnitOfWork, WorkError};

/// The store as the read paths of a backend see it: personal fields decrypted with their
/// subject's key.
pub type ReadStore<B> = DecryptingStore<<B as Backend>::Store, <B as Backend>::Keys>;

/// How many events a lag measure on a backend without a counting query reads at most; more
/// is reported as "at least" this many.
const LAG_CAP: usize = 100_000;

/// How often a process that does not hold a projection's lease tries to take it.
const LEASE_RETRY: Duration = Duration::from_secs(1);

/// How often a projector halted at a poison event looks whether an operator parked it.
const HALTED_RECHECK: Duration = Duration::from_secs(2);

/// Folds `tenant`'s whole history into `writer` (a staging twin's) and promotes it: a rebuild
/// in place reads pages of 2,000 events and parks poison events.
async fn rebuild_staged<S, T>(
    store: S,
    writer: T,
    tenant: &TenantId,
    progress: &watch::Sender<RebuildProgress>,
) -> Result<(), RunnerError>
where
    S: EventStore,
    T: crm_projections::RebuildTarget,
{
    let options = ProjectorOptions {
        batch_size: 2_000,
        poison: PoisonPolicy::Park,
        ..ProjectorOptions::default()
    };
    rebuild_many(
        store,
        vec![Box::new(writer)],
        tenant.clone(),
        options,
        progress,
    )
    .await
}

/// Why a backend could not be opened.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The event store could not be opened (or migrated).
    #[error("cannot open the event store: {0}")]
    Store(#[from] StoreError),
    /// The application's tables could not be opened (or migrated).
    #[error("cannot open the application's tables: {0}")]
    Work(#[from] WorkError),
}

/// One database holding an app's event store, its application tables and its read models.
pub trait Backend: Send + Sync + 'static {
    /// The event store, as stored (personal fields encrypted); its history can be copied to
    /// and from another backend.
    type Store: EventStore + HistoryTransfer + Clone + 'static;
    /// The subject keys personal fields are encrypted with (copied along with the history).
    type Keys: SubjectKeyStore + SubjectKeyTransfer + Clone + 'static;
    /// The unit of work committing commands with their idempotency and outbox rows.
    type Work: UnitOfWork<Store = ReadStore<Self>, Keys = Self::Keys> + Clone;
    /// The intake inbox.
    type Inbox: Inbox + Clone;
    /// The scheduler's deadlines.
    type Deadlines: DeadlineStore + Clone;
    /// A read model's storage.
    type Documents<M>: DocumentStore<M> + fmt::Debug + 'static
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static;

    /// The event store, as stored.
    fn store(&self) -> &Self::Store;

    /// A unit of work (clones share the connections).
    fn work(&self) -> Self::Work;

    /// The intake inbox: clones of one inbox, so that a delivery stored through any of them
    /// (the HTTP app's) wakes the workers of another (the host's) at once.
    fn inbox(&self) -> Self::Inbox;

    /// The scheduler's deadlines.
    fn deadlines(&self) -> Self::Deadlines;

    /// The storage of `model` (its table created if missing).
    fn documents<M>(
        &self,
        model: M,
    ) -> impl Future<Output = Result<Self::Documents<M>, StorageError>> + Send
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static;

    /// Starts `model`'s projector for `tenant` from `store` into `documents` on `tasks`, until
    /// `stop`: on PostgreSQL under the projection's lease (several processes may offer to
    /// run it; one does at a time), on SQLite directly (one process owns the file). Returns
    /// its published status.
    fn spawn_projector<M>(
        &self,
        model: &'static str,
        store: &ReadStore<Self>,
        documents: &Arc<Self::Documents<M>>,
        tenant: &TenantId,
        stop: &watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) -> watch::Receiver<ProjectorStatus>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static;

    /// Rebuilds `documents` of `tenant` in place: every event from position zero is folded
    /// into a staging twin of the table (a poison event is parked there, not halting), while
    /// the table keeps serving, and the twin is then promoted into it in one transaction
    /// (documents, parked events and checkpoint together; see
    /// [`PostgresDocuments::promote`]). A projector serving the table goes on from the
    /// rebuilt checkpoint. Progress is published on `progress`. On PostgreSQL the rebuild
    /// holds a lease of its own, so a second rebuild of the same projection and tenant is
    /// refused while one runs; a crash leaves the table as it was.
    fn rebuild_in_place<M>(
        &self,
        documents: &Self::Documents<M>,
        tenant: &TenantId,
        progress: &watch::Sender<RebuildProgress>,
    ) -> impl Future<Output = Result<(), RunnerError>> + Send
    where
        M: ReadModel + Clone + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static;

    /// How far `documents` of `tenant` are behind the history, measured against their stored
    /// checkpoint (right whichever process runs the projector).
    fn lag<M>(
        &self,
        documents: &Self::Documents<M>,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Lag, String>> + Send
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static;

    /// Up to `limit` of `tenant`'s events after `(stream, version)` in (stream, version)
    /// order, as stored: a page of an audit export ([`crm_eventstore::audit`]).
    fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ExportedEvent>, StoreError>> + Send;

    /// Where the data is, for operators (a file path, or a PostgreSQL host and database;
    /// never a password).
    fn describe(&self) -> String;
}

/// `model`'s projector of `tenant` from `store` into `documents`, started on `tasks` by `run`
/// (which runs it until told to stop; how it ended is logged): its published status.
fn start_projector<S, D, M, F, Fut>(
    model: &'static str,
    store: &S,
    documents: &Arc<D>,
    tenant: &TenantId,
    tasks: &mut JoinSet<()>,
    run: F,
) -> watch::Receiver<ProjectorStatus>
where
    S: EventStore + Clone,
    D: DocumentStore<M>,
    M: ReadModel,
    F: FnOnce(Projector<S, D, M>) -> Fut,
    Fut: Future<Output = Result<(), crm_projections::RunnerError>> + Send + 'static,
{
    let projector = Projector::new(
        store.clone(),
        Arc::clone(documents),
        tenant.clone(),
        ProjectorOptions {
            halted_recheck: Some(HALTED_RECHECK),
            ..ProjectorOptions::default()
        },
    );
    let status = projector.status();
    let name = format!("{model} of {tenant}");
    let running = run(projector);
    tasks.spawn(async move {
        if let Err(error) = running.await {
            tracing::error!(%error, projection = %name, "a projection stopped");
        }
    });
    status
}

// ---- PostgreSQL ----

/// Everything in one PostgreSQL database: the store's pool, the application's tables and a
/// pool per read model, each of `pool_size` connections.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    work: PostgresUnitOfWork,
    // One inbox, cloned for every part of the process, so that their deliveries wake its
    // workers (`Inbox::arrivals`).
    inbox: PostgresInbox,
    connection: String,
    pool_size: usize,
}

impl PostgresBackend {
    /// Connects to the database `connection` names (libpq keywords or a `postgres://` URL,
    /// `sslmode` honoured), with pools of `pool_size`, applying pending migrations of the
    /// store and the application.
    pub async fn connect(connection: &str, pool_size: usize) -> Result<Self, BackendError> {
        let store =
            PostgresStore::connect(PostgresConfig::new(connection).with_pool_size(pool_size))
                .await?;
        let inbox = PostgresInbox::new(store.clone());
        let work = PostgresUnitOfWork::connect(store).await?;
        Ok(Self {
            work,
            inbox,
            connection: connection.to_owned(),
            pool_size,
        })
    }
}

impl Backend for PostgresBackend {
    type Store = PostgresStore;
    type Keys = PostgresSubjectKeyStore;
    type Work = PostgresUnitOfWork;
    type Inbox = PostgresInbox;
    type Deadlines = PostgresDeadlines;
    type Documents<M>
        = PostgresDocuments<M>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static;

    fn store(&self) -> &PostgresStore {
        self.work.event_store()
    }

    fn work(&self) -> PostgresUnitOfWork {
        self.work.clone()
    }

    fn inbox(&self) -> PostgresInbox {
        self.inbox.clone()
    }

    fn deadlines(&self) -> PostgresDeadlines {
        PostgresDeadlines::new(self.store().clone())
    }

    async fn documents<M>(&self, model: M) -> Result<PostgresDocuments<M>, StorageError>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        PostgresDocuments::connect(&self.connection, self.pool_size, model).await
    }

    fn spawn_projector<M>(
        &self,
        model: &'static str,
        store: &ReadStore<Self>,
        documents: &Arc<PostgresDocuments<M>>,
        tenant: &TenantId,
        stop: &watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) -> watch::Receiver<ProjectorStatus>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        let lease = Lease::name(documents.table(), tenant.as_str());
        let connection = self.connection.clone();
        let stop = stop.clone();
        start_projector(
            model,
            store,
            documents,
            tenant,
            tasks,
            |mut projector| async move {
                run_leased(&mut projector, &connection, &lease, LEASE_RETRY, stop).await
            },
        )
    }

    async fn rebuild_in_place<M>(
        &self,
        documents: &PostgresDocuments<M>,
        tenant: &TenantId,
        progress: &watch::Sender<RebuildProgress>,
    ) -> Result<(), RunnerError>
    where
        M: ReadModel + Clone + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        let staging = Arc::new(documents.staging().await?);
        let name = Lease::name(staging.table(), tenant.as_str());
        let Some(_lease) = Lease::try_acquire(&self.connection, &name).await? else {
            return Err(RunnerError::Storage(StorageError::Unavailable {
                reason: format!(
                    "a rebuild of {} for tenant {tenant} is already running",
                    documents.table()
                ),
                source: None,
            }));
        };
        let writer = staging.rebuild_writer(tenant.clone(), RebuildLimits::default());
        rebuild_staged(self.work.store().clone(), writer, tenant, progress).await
    }

    async fn lag<M>(
        &self,
        documents: &PostgresDocuments<M>,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Lag, String>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        let checkpoint = documents
            .checkpoint(tenant)
            .await
            .map_err(|error| error.to_string())?;
        Lag::measure_postgres(self.store(), documents, tenant, checkpoint, now)
            .await
            .map_err(|error| error.to_string())
    }

    async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<ExportedEvent>, StoreError> {
        self.store().export_page(tenant, after, limit).await
    }

    fn describe(&self) -> String {
        describe_connection(&self.connection)
    }
}

/// A connection string with its password left out: `host`, `port`, `dbname` and `user` as
/// libpq would read them, or "PostgreSQL" if they cannot be read.
fn describe_connection(connection: &str) -> String {
    let Ok(config) = connection.parse::<tokio_postgres::Config>() else {
        return "PostgreSQL".to_owned();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "PostgreSQL database {} on {} as {}",
        config.get_dbname().unwrap_or("(default)"),
        if hosts.is_empty() {
            "the default host".to_owned()
        } else {
            hosts.join(",")
        },
        config.get_user().unwrap_or("(default user)")
    )
}

// ---- SQLite ----

/// Everything in one SQLite file: the event store, the application's tables and the read
/// models, sharing its one writer.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    database: SqliteDatabase,
    work: SqliteUnitOfWork,
    // One inbox, cloned for every part of the process (see `PostgresBackend`).
    inbox: SqliteInbox,
    path: PathBuf,
}

impl SqliteBackend {
    /// Opens (creating if missing) the file at `path`, applying pending migrations of the
    /// store and the application.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, BackendError> {
        let path = path.as_ref().to_path_buf();
        let database = SqliteDatabase::open(&path)?;
        let store = SqliteStore::open(database.clone(), StoreSettings::default())?;
        let work = SqliteUnitOfWork::open(store)?;
        Ok(Self {
            inbox: SqliteInbox::new(database.clone()),
            database,
            work,
            path,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database the file is opened as.
    pub fn database(&self) -> &SqliteDatabase {
        &self.database
    }
}

impl Backend for SqliteBackend {
    type Store = SqliteStore;
    type Keys = SqliteSubjectKeyStore;
    type Work = SqliteUnitOfWork;
    type Inbox = SqliteInbox;
    type Deadlines = SqliteDeadlines;
    type Documents<M>
        = SqliteDocuments<M>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static;

    fn store(&self) -> &SqliteStore {
        self.work.event_store()
    }

    fn work(&self) -> SqliteUnitOfWork {
        self.work.clone()
    }

    fn inbox(&self) -> SqliteInbox {
        self.inbox.clone()
    }

    fn deadlines(&self) -> SqliteDeadlines {
        SqliteDeadlines::new(self.database.clone())
    }

    async fn documents<M>(&self, model: M) -> Result<SqliteDocuments<M>, StorageError>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        SqliteDocuments::open(self.database.clone(), model)
    }

    fn spawn_projector<M>(
        &self,
        model: &'static str,
        store: &ReadStore<Self>,
        documents: &Arc<SqliteDocuments<M>>,
        tenant: &TenantId,
        stop: &watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) -> watch::Receiver<ProjectorStatus>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        let stop = stop.clone();
        start_projector(
            model,
            store,
            documents,
            tenant,
            tasks,
            |mut projector| async move { projector.run(stop).await },
        )
    }

    async fn rebuild_in_place<M>(
        &self,
        documents: &SqliteDocuments<M>,
        tenant: &TenantId,
        progress: &watch::Sender<RebuildProgress>,
    ) -> Result<(), RunnerError>
    where
        M: ReadModel + Clone + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        let twin = documents.clone();
        let staging = tokio::task::spawn_blocking(move || twin.staging())
            .await
            .map_err(|error| StorageError::Unavailable {
                reason: format!("opening the staging table failed: {error}"),
                source: None,
            })??;
        let writer = staging.rebuild_writer(tenant.clone(), RebuildLimits::default());
        rebuild_staged(self.work.store().clone(), writer, tenant, progress).await
    }

    async fn lag<M>(
        &self,
        documents: &SqliteDocuments<M>,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Lag, String>
    where
        M: ReadModel + fmt::Debug + Send + Sync + 'static,
        M::Doc: Send + Sync + 'static,
    {
        let checkpoint: Option<GlobalPosition> = documents
            .checkpoint(tenant)
            .await
            .map_err(|error| error.to_string())?;
        Lag::measure(self.store(), tenant, checkpoint, LAG_CAP, now)
            .await
            .map_err(|error| error.to_string())
    }

    async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<ExportedEvent>, StoreError> {
        self.store().export_page(tenant, after, limit).await
    }

    fn describe(&self) -> String {
        format!("SQLite file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::describe_connection;

    #[test]
    fn a_description_never_shows_the_password() {
        let described = describe_connection(
            "postgres://crm:secret-word@db.example:5432/crm_prod?sslmode=require",
        );
        assert!(!described.contains("secret-word"), "{described}");
        assert!(described.contains("crm_prod"), "{described}");
        assert!(described.contains("db.example"), "{described}");
        let keywords = describe_connection("host=/var/run/postgresql dbname=crm password=hunter2");
        assert!(!keywords.contains("hunter2"), "{keywords}");
    }
}
