//! Leases: several processes may run the same projectors for availability; exactly one holds
//! each projection (per tenant) at a time, through a session-level PostgreSQL advisory lock on
//! a connection of its own. When the holder dies its session ends, the lock goes with it, and
//! a waiting process takes over at its next attempt.
//!
//! The lease is the first line of defence; the second is the checkpoint: every commit checks
//! that the checkpoint is still the one its batch started from, so even two holders at once
//! (a holder that lost its session but has not noticed yet) could not apply a batch twice.

use std::time::Duration;

use crm_eventstore::EventStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Projector, RunnerError};
use crate::model::ReadModel;
use crate::postgres::{TRY_LEASE, connection_settings, from_pg};
use crate::storage::{DocumentStore, StorageError};

/// A held lease on one projection for one tenant: a PostgreSQL session holding an advisory
/// lock. Dropping it ends the session and so releases the lock.
#[derive(Debug)]
pub struct Lease {
    name: String,
    client: tokio_postgres::Client,
    driver: JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Lease {
    /// The name of the lease of `projection` (a table name) for `tenant`.
    pub fn name(projection: &str, tenant: &str) -> String {
        format!("crm_projection\u{1f}{projection}\u{1f}{tenant}")
    }

    /// Takes the lease `name` if nobody holds it, over a new connection to `connection` (TLS
    /// as its `sslmode` says, as for [`connect_pool`](crate::connect_pool)); `None` when
    /// another session holds it.
    pub async fn try_acquire(connection: &str, name: &str) -> Result<Option<Self>, StorageError> {
        let settings = connection_settings(connection)?;
        let (client, driver) = settings
            .config()
            .connect(settings.tls())
            .await
            .map_err(from_pg)?;
        let driver = tokio::spawn(async move {
            let _ = driver.await;
        });
        let lease = Self {
            name: name.to_owned(),
            client,
            driver,
        };
        let row = lease
            .client
            .query_one(TRY_LEASE, &[&name])
            .await
            .map_err(from_pg)?;
        let taken: bool = row.try_get(0).map_err(from_pg)?;
        Ok(taken.then_some(lease))
    }

    /// Tries to take the lease every `retry` until it is taken (`Some`) or `stop` turns true
    /// (`None`). Connection failures are retried too: the database may be restarting.
    pub async fn acquire(
        connection: &str,
        name: &str,
        retry: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Self> {
        loop {
            if *stop.borrow() {
                return None;
            }
            if let Ok(Some(lease)) = Self::try_acquire(connection, name).await {
                return Some(lease);
            }
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// The lease's name.
    pub fn lease_name(&self) -> &str {
        &self.name
    }

    /// Whether the lease is still held: its session is alive and answers.
    pub async fn is_held(&self) -> bool {
        !self.client.is_closed() && self.client.simple_query("SELECT 1").await.is_ok()
    }

    /// The backend process id of the lease's session (to find it in `pg_stat_activity`).
    pub async fn backend_pid(&self) -> Result<i32, StorageError> {
        let row = self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(from_pg)?;
        row.try_get(0).map_err(from_pg)
    }
}

/// Runs `projector` whenever this process holds its lease: waits for the lease (trying every
/// `retry`), works while the lease's session is alive, and waits again when it is lost, until
/// `stop` turns true. `connection` reaches the database the projector's documents are in.
///
/// Returns on `stop`, or with the first error that is not retryable (a poison event under
/// [`PoisonPolicy::Halt`](super::PoisonPolicy::Halt), a broken model).
pub async fn run_leased<S, D, M>(
    projector: &mut Projector<S, D, M>,
    connection: &str,
    lease_name: &str,
    retry: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), RunnerError>
where
    S: EventStore,
    D: DocumentStore<M>,
    M: ReadModel,
{
    let mut signal = projector.store.append_signal();
    loop {
        let Some(lease) = Lease::acquire(connection, lease_name, retry, &mut stop).await else {
            return Ok(());
        };
        // The previous holder moved the checkpoint: start from the stored one.
        projector.checkpoint = super::Cached::Unknown;
        projector.status.send_modify(|status| status.leased = true);
        let outcome = work_while_held(projector, &lease, &mut signal, &mut stop).await;
        projector.status.send_modify(|status| status.leased = false);
        drop(lease);
        outcome?;
        if *stop.borrow() {
            return Ok(());
        }
    }
}

async fn work_while_held<S, D, M>(
    projector: &mut Projector<S, D, M>,
    lease: &Lease,
    signal: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), RunnerError>
where
    S: EventStore,
    D: DocumentStore<M>,
    M: ReadModel,
{
    let mut failures = 0;
    loop {
        if *stop.borrow() || !lease.is_held().await {
            return Ok(());
        }
        signal.borrow_and_update();
        let wait = match projector.step().await {
            Ok(step) if !step.caught_up => {
                failures = 0;
                continue;
            }
            Ok(_) => {
                failures = 0;
                projector.options.poll_interval
            }
            Err(error) => projector.wait_after(error, &mut failures)?,
        };
        tokio::select! {
            _ = signal.changed() => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}
