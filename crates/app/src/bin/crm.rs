//! `crm`: the operator's and the auditor's command line of crm-core.
//!
//! ```text
//! crm work --tenant acme --config host.json      # DATABASE_URL names the PostgreSQL database
//! crm audit manifest --tenant acme --out acme.manifest.json
//! crm audit verify --tenant acme [--manifest acme.manifest.json]
//! crm audit export --tenant acme --out acme.jsonl
//! crm audit verify --file acme.jsonl [--manifest acme.manifest.json]   # offline
//! crm inbox status --tenant acme
//! crm outbox status --tenant acme
//! crm migrate
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
use crm_app::intake::{Inbox, PostgresInbox};
use crm_app::scheduler::PostgresDeadlines;
use crm_app::{CommandService, PostgresUnitOfWork, SystemClock, UnitOfWork};
use crm_eventstore::audit::{EXPORT_FORMAT, ExportHeader, ExportedEvent, verify_export};
use crm_eventstore::{EventStore, HeadManifest, PostgresConfig, PostgresStore, TenantId};

/// crm-core, an event-sourced CRM: the operator's and the auditor's commands. Every command
/// reads `DATABASE_URL` (or `--database-url`) for the PostgreSQL database.
#[derive(Debug, Parser)]
#[command(name = "crm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the lead intake, the workflows, the SLA pull-back, the queue drainer and the outbox
    /// relay of one tenant until SIGINT or SIGTERM.
    Work(WorkArgs),
    /// The auditor's tools: verify the hash chains and seals, export a head manifest.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The intake inbox.
    #[command(subcommand)]
    Inbox(StatusCommand),
    /// The integration outbox.
    #[command(subcommand)]
    Outbox(StatusCommand),
    /// Applies the event store's and the application's pending migrations, then exits.
    Migrate(Database),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walks every hash chain and seal of a tenant (and, with `--manifest`, checks that
    /// everything the manifest names is still there, unchanged). Exits 1 naming the first
    /// broken event and stream.
    Verify(VerifyArgs),
    /// Writes a tenant's events as JSON Lines, with the exact bytes their hashes cover, for
    /// `crm audit verify --file` to check offline.
    Export(ManifestArgs),
    /// Seals the tenant's history and writes its head manifest (every stream's head and the
    /// last seal), to keep outside the database for `crm audit verify --manifest`.
    Manifest(ManifestArgs),
}

#[derive(Debug, Subcommand)]
enum StatusCommand {
    /// Depth, oldest age and failing or parked items of a tenant.
    Status(TenantArgs),
}

#[derive(Debug, Args)]
struct Database {
    /// The PostgreSQL connection string (`postgres://…` or `host=… dbname=…`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Debug, Args)]
struct TenantArgs {
    #[command(flatten)]
    database: Database,
    /// The tenant.
    #[arg(long)]
    tenant: String,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The PostgreSQL connection string (not needed with `--file`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The tenant (not needed with `--file`: the export names it).
    #[arg(long)]
    tenant: Option<String>,
    /// Checks an export written by `crm audit export` instead of the database.
    #[arg(long)]
    file: Option<PathBuf>,
    /// A head manifest written earlier by `crm audit manifest`.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ManifestArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// Where to write it.
    #[arg(long)]
    out: PathBuf,
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
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Work(args) => work(args).await.map(|()| ExitCode::SUCCESS),
            Command::Audit(AuditCommand::Verify(args)) => verify(args).await,
            Command::Audit(AuditCommand::Manifest(args)) => manifest(args).await,
            Command::Audit(AuditCommand::Export(args)) => export(args).await,
            Command::Inbox(StatusCommand::Status(args)) => inbox_status(args).await,
            Command::Outbox(StatusCommand::Status(args)) => outbox_status(args).await,
            Command::Migrate(database) => migrate(database).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("crm: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The store and the application's tables, migrated.
async fn open(database_url: String) -> Result<(PostgresStore, PostgresUnitOfWork), String> {
    let store = PostgresStore::connect(PostgresConfig::new(database_url))
        .await
        .map_err(|error| format!("cannot open the event store: {error}"))?;
    let work = PostgresUnitOfWork::connect(store.clone())
        .await
        .map_err(|error| format!("cannot open the application's tables: {error}"))?;
    Ok((store, work))
}

fn tenant_of(name: &str) -> Result<TenantId, String> {
    TenantId::new(name).map_err(|error| format!("--tenant: {error}"))
}

async fn migrate(database: Database) -> Result<ExitCode, String> {
    open(database.database_url).await?;
    println!("migrations applied: the event store's and the application's");
    Ok(ExitCode::SUCCESS)
}

fn read_manifest(path: &std::path::Path) -> Result<HeadManifest, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|error| format!("{} is not a head manifest: {error}", path.display()))
}

async fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    if let Some(file) = &args.file {
        return verify_file(file, args.manifest.as_deref());
    }
    let database_url = args
        .database_url
        .ok_or("DATABASE_URL (or --database-url) is needed without --file")?;
    let tenant = tenant_of(
        args.tenant
            .as_deref()
            .ok_or("--tenant is needed without --file")?,
    )?;
    let (store, _) = open(database_url).await?;
    let report = match &args.manifest {
        Some(path) => store.verify_against(&tenant, &read_manifest(path)?).await,
        None => store.verify(&tenant).await,
    }
    .map_err(|error| format!("cannot verify: {error}"))?;
    println!(
        "tenant {tenant}: {} streams, {} events, {} seals checked",
        report.streams_checked, report.events_checked, report.seals_checked
    );
    if let Some(broken) = &report.first_broken {
        println!(
            "BROKEN: stream {} at version {} (event {}): {:?}",
            broken.stream,
            broken.version,
            broken
                .event_id
                .map_or_else(|| "none".to_owned(), |id| id.to_string()),
            broken.problem
        );
    }
    if let Some(seal) = &report.first_broken_seal {
        println!("BROKEN SEAL: {seal:?}");
    }
    for problem in &report.manifest_problems {
        println!("MANIFEST: {problem:?}");
    }
    if let Some(unreadable) = &report.first_unreadable {
        println!(
            "unreadable: {} event(s), the first stream {} version {}: {}",
            report.unreadable_events, unreadable.stream, unreadable.version, unreadable.reason
        );
    }
    if report.is_intact() {
        println!("intact");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// Checks an export offline: every hash recomputed, every chain from version 1, and the
/// manifest's heads, if one is given.
fn verify_file(
    file: &std::path::Path,
    manifest: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    use std::io::BufRead as _;
    let reader = std::io::BufReader::new(
        std::fs::File::open(file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?,
    );
    let mut lines = reader.lines();
    let header: ExportHeader = match lines.next() {
        Some(line) => serde_json::from_str(&line.map_err(|error| error.to_string())?)
            .map_err(|error| format!("{}: not an export header: {error}", file.display()))?,
        None => return Err(format!("{} is empty", file.display())),
    };
    if header.format != EXPORT_FORMAT {
        return Err(format!(
            "{}: unknown format {}",
            file.display(),
            header.format
        ));
    }
    let mut events = Vec::new();
    for (number, line) in lines.enumerate() {
        let line = line.map_err(|error| error.to_string())?;
        events.push(
            serde_json::from_str::<ExportedEvent>(&line)
                .map_err(|error| format!("{} line {}: {error}", file.display(), number + 2))?,
        );
    }
    let manifest = manifest.map(read_manifest).transpose()?;
    let report = verify_export(&header.tenant, events, manifest.as_ref());
    println!(
        "export of tenant {}: {} streams, {} events checked",
        header.tenant, report.streams, report.events
    );
    if let Some((stream, version, problem)) = &report.first_broken {
        println!("BROKEN: stream {stream} at version {version}: {problem}");
    }
    for problem in &report.manifest_problems {
        println!("MANIFEST: {problem}");
    }
    if report.is_intact() {
        println!("intact");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

async fn export(args: ManifestArgs) -> Result<ExitCode, String> {
    use std::io::Write as _;
    let tenant = tenant_of(&args.target.tenant)?;
    let (store, _) = open(args.target.database.database_url).await?;
    let file = std::fs::File::create(&args.out)
        .map_err(|error| format!("cannot write {}: {error}", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let failed = |error: std::io::Error| format!("cannot write {}: {error}", args.out.display());
    let header = ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        tenant: tenant.as_str().to_owned(),
        exported_at: chrono::Utc::now(),
    };
    writeln!(
        out,
        "{}",
        serde_json::to_string(&header).map_err(|error| error.to_string())?
    )
    .map_err(failed)?;
    let mut after: Option<(String, u64)> = None;
    let mut count = 0_u64;
    loop {
        let page = store
            .export_page(
                &tenant,
                after
                    .as_ref()
                    .map(|(stream, version)| (stream.as_str(), *version)),
                1000,
            )
            .await
            .map_err(|error| format!("cannot export: {error}"))?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.stream.clone(), last.version));
        for event in &page {
            writeln!(
                out,
                "{}",
                serde_json::to_string(event).map_err(|error| error.to_string())?
            )
            .map_err(failed)?;
            count += 1;
        }
    }
    out.flush().map_err(failed)?;
    println!(
        "{count} events of tenant {tenant} exported to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn manifest(args: ManifestArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.target.tenant)?;
    let (store, _) = open(args.target.database.database_url).await?;
    let manifest = store
        .head_manifest(&tenant)
        .await
        .map_err(|error| format!("cannot make the manifest: {error}"))?;
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|error| format!("cannot write the manifest: {error}"))?;
    std::fs::write(&args.out, text)
        .map_err(|error| format!("cannot write {}: {error}", args.out.display()))?;
    println!(
        "manifest of tenant {tenant} written to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn inbox_status(args: TenantArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant)?;
    let (store, _) = open(args.database.database_url).await?;
    let health = PostgresInbox::new(store)
        .health(&tenant, chrono::Utc::now())
        .await
        .map_err(|error| format!("cannot read the inbox: {error}"))?;
    println!(
        "inbox of {tenant}: {} waiting, oldest {}, {} failing",
        health.depth,
        health
            .oldest_age
            .map_or_else(|| "-".to_owned(), |age| format!("{} s", age.num_seconds())),
        health.failing
    );
    Ok(ExitCode::SUCCESS)
}

async fn outbox_status(args: TenantArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant)?;
    let (_, work) = open(args.database.database_url).await?;
    let health = work
        .outbox_health(&tenant, chrono::Utc::now())
        .await
        .map_err(|error| format!("cannot read the outbox: {error}"))?;
    println!(
        "outbox of {tenant}: {} undelivered, oldest {}, {} parked",
        health.undelivered,
        health
            .oldest_undelivered_age
            .map_or_else(|| "-".to_owned(), |age| format!("{} s", age.num_seconds())),
        health.parked
    );
    Ok(ExitCode::SUCCESS)
}

async fn work(args: WorkArgs) -> Result<(), String> {
    let tenant = TenantId::new(&args.tenant).map_err(|error| format!("--tenant: {error}"))?;
    let text = std::fs::read_to_string(&args.config)
        .map_err(|error| format!("cannot read {}: {error}", args.config.display()))?;
    let config: HostConfig = serde_json::from_str(&text)
        .map_err(|error| format!("{}: {error}", args.config.display()))?;
    let (store, work) = open(args.database_url).await?;
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
