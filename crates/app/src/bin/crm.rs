//! `crm`: the operator's and the auditor's command line of crm-core.
//!
//! ```text
//! crm work --tenant acme --config host.json      # DATABASE_URL names the PostgreSQL database
//! ```
//!
//! `crm work` runs everything of the application layer that acts on its own for one tenant
//! (workflows, the SLA pull-back, the queue drainer, the outbox relay; see `crm_app::host`)
//! until it receives SIGINT or SIGTERM, then finishes what it holds and exits. Killed at any
//! point (SIGKILL, a power cut) and started again, it loses and doubles nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use crm_app::host::{Host, HostConfig};
use crm_app::intake::PostgresInbox;
use crm_app::scheduler::PostgresDeadlines;
use crm_app::{CommandService, PostgresUnitOfWork, SystemClock};
use crm_eventstore::{PostgresConfig, PostgresStore, TenantId};

/// crm-core: an event-sourced CRM.
#[derive(Debug, Parser)]
#[command(name = "crm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the lead intake, the workflows, the SLA pull-back, the queue drainer and the outbox
    /// relay of one tenant until SIGINT or SIGTERM.
    Work(WorkArgs),
}

#[derive(Debug, Args)]
struct WorkArgs {
    /// The PostgreSQL connection string (`postgres://…` or `host=… dbname=…`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The tenant whose work this process does (several processes may share a tenant).
    #[arg(long)]
    tenant: String,
    /// The host configuration, JSON: which workflows run and where messages go (see the
    /// documentation of `crm_app::host::HostConfig`).
    #[arg(long)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("crm: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Work(args) => runtime.block_on(work(args)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crm: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn work(args: WorkArgs) -> Result<(), String> {
    let tenant = TenantId::new(&args.tenant).map_err(|error| format!("--tenant: {error}"))?;
    let text = std::fs::read_to_string(&args.config)
        .map_err(|error| format!("cannot read {}: {error}", args.config.display()))?;
    let config: HostConfig = serde_json::from_str(&text)
        .map_err(|error| format!("{}: {error}", args.config.display()))?;
    let store = PostgresStore::connect(PostgresConfig::new(args.database_url))
        .await
        .map_err(|error| format!("cannot open the event store: {error}"))?;
    let work = PostgresUnitOfWork::connect(store.clone())
        .await
        .map_err(|error| format!("cannot open the application's tables: {error}"))?;
    let service = Arc::new(CommandService::new(work, Arc::new(SystemClock)));
    let host = Host::new(
        service,
        PostgresDeadlines::new(store.clone()),
        PostgresInbox::new(store),
        tenant,
        &config,
    )
    .map_err(|error| format!("{}: {error}", args.config.display()))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(host.run(stopped));
    shutdown_signal().await;
    eprintln!("crm: stopping: finishing what is in hand");
    let _ = stop.send(true);
    running
        .await
        .map_err(|error| format!("the host ended abnormally: {error}"))
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
