//! `projection_worker`: runs the Customer 360 asynchronous projector of one tenant against a
//! PostgreSQL database, under the projection's lease, until killed.
//!
//! Several workers may run at once: one holds the lease and works, the others wait and take
//! over within a second of its death. Prints `leased` when it takes the lease, `released`
//! when it loses it, and `caught-up <transaction>/<position>` whenever it catches up, each on
//! its own line (the multi-process tests read them).
//!
//! ```text
//! projection_worker <connection string> <tenant> [batch size]
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crm_eventstore::crypto::DecryptingStore;
use crm_eventstore::{PostgresConfig, PostgresStore, TenantId};
use crm_projections::customer360::Customer360Model;
use crm_projections::{
    Lease, PostgresDocuments, Projector, ProjectorOptions, ProjectorStatus, run_leased,
};
use tokio::sync::watch;

/// How often a waiting worker tries to take the lease.
const LEASE_RETRY: Duration = Duration::from_millis(200);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints the status changes the tests wait for.
async fn report(mut status: watch::Receiver<ProjectorStatus>) {
    let mut leased = false;
    let mut caught_up = None;
    while status.changed().await.is_ok() {
        let now = status.borrow_and_update().clone();
        if now.leased != leased {
            leased = now.leased;
            say(if leased { "leased" } else { "released" });
        }
        if now.caught_up && now.checkpoint != caught_up {
            caught_up = now.checkpoint;
            if let Some(checkpoint) = now.checkpoint {
                say(&format!("caught-up {checkpoint}"));
            }
        }
    }
}

async fn run(connection: String, tenant: String, batch_size: usize) -> Result<(), String> {
    let tenant = TenantId::new(&tenant).map_err(|error| error.to_string())?;
    let store = PostgresStore::connect(PostgresConfig::new(connection.clone()).with_pool_size(2))
        .await
        .map_err(|error| error.to_string())?;
    let documents = PostgresDocuments::connect(&connection, 2, Customer360Model)
        .await
        .map_err(|error| error.to_string())?;
    let lease = Lease::name(documents.table(), tenant.as_str());
    let options = ProjectorOptions {
        batch_size,
        catch_up_batch_size: batch_size,
        poll_interval: Duration::from_millis(50),
        ..ProjectorOptions::default()
    };
    // Personal fields are stored encrypted (the application encrypts them on append): the
    // projector reads through the subject keys in the same database.
    let keys = store.subject_keys();
    let store = DecryptingStore::new(store, keys);
    let mut projector = Projector::new(store, Arc::new(documents), tenant, options);
    tokio::spawn(report(projector.status()));
    // Runs until the process is killed: the sender lives as long as the loop.
    let (_stop, stopped) = watch::channel(false);
    run_leased(&mut projector, &connection, &lease, LEASE_RETRY, stopped)
        .await
        .map_err(|error| error.to_string())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(connection), Some(tenant)) = (args.next(), args.next()) else {
        eprintln!("usage: projection_worker <connection string> <tenant> [batch size]");
        return ExitCode::from(2);
    };
    let batch_size = args
        .next()
        .and_then(|size| size.parse().ok())
        .unwrap_or(500);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(connection, tenant, batch_size)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("projection_worker: {error}");
            ExitCode::FAILURE
        }
    }
}
