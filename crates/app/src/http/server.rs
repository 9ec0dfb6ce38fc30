//! Running the app: the read models' projectors for every tenant a token acts for (each under
//! its lease, so several servers share the work), the listener, and a graceful stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crm_eventstore::TenantId;
use crm_projections::{
    DocumentStore, Lease, PostgresDocuments, Projector, ProjectorOptions, ReadModel, run_leased,
};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{App, ProjectionWatch, ReadModels, ReadStore};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The listener failed.
    #[error("the listener failed: {0}")]
    Listen(#[from] std::io::Error),
}

/// How often a server that does not hold a projection's lease tries to take it.
const LEASE_RETRY: Duration = Duration::from_secs(1);

/// The projectors of every read model of `tenants`, started: their statuses, and the tasks to
/// stop through `stop`.
pub fn spawn_projections(
    store: &ReadStore,
    reads: &ReadModels,
    connection: &str,
    tenants: &[TenantId],
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Vec<ProjectionWatch> {
    let mut watches = Vec::new();
    for tenant in tenants {
        watches.extend([
            spawn_projection(
                "customer360",
                store,
                &reads.customers,
                connection,
                tenant,
                stop,
                tasks,
            ),
            spawn_projection(
                "identity_index",
                store,
                &reads.identity,
                connection,
                tenant,
                stop,
                tasks,
            ),
            spawn_projection(
                "pipeline",
                store,
                &reads.pipeline,
                connection,
                tenant,
                stop,
                tasks,
            ),
            spawn_projection("sla", store, &reads.sla, connection, tenant, stop, tasks),
            spawn_projection(
                "duplicates",
                store,
                &reads.duplicates,
                connection,
                tenant,
                stop,
                tasks,
            ),
        ]);
    }
    watches
}

/// One read model's projector for `tenant`, started under the projection's lease on `tasks`
/// until `stop`: its status, named `model`.
pub fn spawn_projection<M: ReadModel + 'static>(
    model: &'static str,
    store: &ReadStore,
    documents: &Arc<PostgresDocuments<M>>,
    connection: &str,
    tenant: &TenantId,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> ProjectionWatch
where
    PostgresDocuments<M>: DocumentStore<M>,
{
    let lease = Lease::name(documents.table(), tenant.as_str());
    let mut projector = Projector::new(
        store.clone(),
        Arc::clone(documents),
        tenant.clone(),
        ProjectorOptions::default(),
    );
    let status = projector.status();
    let connection = connection.to_owned();
    let stop = stop.clone();
    let name = format!("{model} of {tenant}");
    tasks.spawn(async move {
        if let Err(error) = run_leased(&mut projector, &connection, &lease, LEASE_RETRY, stop).await
        {
            tracing::error!(%error, projection = %name, "a projection stopped");
        }
    });
    ProjectionWatch {
        model,
        tenant: tenant.clone(),
        status,
    }
}

/// Serves `app` on `listener` until `shutdown` completes: then stops accepting, finishes the
/// requests in flight, and returns. The caller stops the projectors afterwards.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let closing = app.closing.clone();
    let shutdown = async move {
        shutdown.await;
        // Ends the event feeds, which would otherwise hold the graceful stop open.
        closing.send_replace(true);
    };
    axum::serve(listener, super::router(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
