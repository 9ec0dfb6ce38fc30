//! Running the app: the read models' projectors for every tenant a token acts for (on
//! PostgreSQL each under its lease, so several servers share the work), the listener, and a
//! graceful stop.

use std::future::Future;
use std::sync::Arc;

use crm_eventstore::TenantId;
use crm_projections::ReadModel;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{App, ProjectionWatch, ReadModels};
use crate::backend::{Backend, ReadStore};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The listener failed.
    #[error("the listener failed: {0}")]
    Listen(#[from] std::io::Error),
}

/// The projectors of every read model of `tenants`, started on `backend`: their statuses,
/// and the tasks to stop through `stop`.
pub fn spawn_projections<B: Backend>(
    backend: &B,
    store: &ReadStore<B>,
    reads: &ReadModels<B>,
    tenants: &[TenantId],
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Vec<ProjectionWatch> {
    let mut watches = Vec::new();
    for tenant in tenants {
        let mut spawn = |model| ProjectionWatch {
            model,
            tenant: tenant.clone(),
            status: match model {
                "customer360" => {
                    backend.spawn_projector(model, store, &reads.customers, tenant, stop, tasks)
                }
                "identity_index" => {
                    backend.spawn_projector(model, store, &reads.identity, tenant, stop, tasks)
                }
                "pipeline" => {
                    backend.spawn_projector(model, store, &reads.pipeline, tenant, stop, tasks)
                }
                "sla" => backend.spawn_projector(model, store, &reads.sla, tenant, stop, tasks),
                "account360" => {
                    backend.spawn_projector(model, store, &reads.accounts, tenant, stop, tasks)
                }
                "engagements" => {
                    backend.spawn_projector(model, store, &reads.engagements, tenant, stop, tasks)
                }
                "custom_fields" => {
                    backend.spawn_projector(model, store, &reads.custom_fields, tenant, stop, tasks)
                }
                "sync_conflicts" => {
                    backend.spawn_projector(model, store, &reads.conflicts, tenant, stop, tasks)
                }
                "external_ids" => {
                    backend.spawn_projector(model, store, &reads.external_ids, tenant, stop, tasks)
                }
                _ => backend.spawn_projector(model, store, &reads.duplicates, tenant, stop, tasks),
            },
        };
        watches.extend(PROJECTIONS.map(&mut spawn));
    }
    watches
}

/// The read models a server keeps, by the names `/readyz` and `/metrics` report them under.
pub const PROJECTIONS: [&str; 10] = [
    "customer360",
    "identity_index",
    "pipeline",
    "sla",
    "duplicates",
    "account360",
    "engagements",
    "custom_fields",
    "sync_conflicts",
    "external_ids",
];

/// One read model's projector for `tenant`, started on `backend` (under the projection's
/// lease where processes share a database) on `tasks` until `stop`: its status, named
/// `model`.
pub fn spawn_projection<B, M>(
    backend: &B,
    model: &'static str,
    store: &ReadStore<B>,
    documents: &Arc<B::Documents<M>>,
    tenant: &TenantId,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> ProjectionWatch
where
    B: Backend,
    M: ReadModel + std::fmt::Debug + Send + Sync + 'static,
    M::Doc: Send + Sync + 'static,
{
    ProjectionWatch {
        model,
        tenant: tenant.clone(),
        status: backend.spawn_projector(model, store, documents, tenant, stop, tasks),
    }
}

/// Serves `app` on `listener` until `shutdown` completes: then stops accepting, finishes the
/// requests in flight, and returns. The caller stops the projectors afterwards.
pub async fn serve<B: Backend>(
    app: Arc<App<B>>,
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
