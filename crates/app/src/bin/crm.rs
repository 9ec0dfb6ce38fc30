//! `crm`: the operator's and the auditor's command line of crm-core.
//!
//! ```text
//! crm serve --tokens tokens.json --listen 127.0.0.1:8080   # the HTTP app
//! crm token --tenant acme --role sales --name ada --tokens tokens.json
//! crm work --tenant acme --config host.json      # DATABASE_URL names the PostgreSQL database
//! crm audit manifest --tenant acme --out acme.manifest.json
//! crm audit verify --tenant acme [--manifest acme.manifest.json]
//! crm audit export --tenant acme --out acme.jsonl
//! crm audit verify --file acme.jsonl [--manifest acme.manifest.json]   # offline
//! crm audit history --tenant acme contact/0193…
//! crm audit replay --tenant acme --as-of 2026-03-03 [--business-time] customer 0193…
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
    /// Serves the HTTP app (JSON under /v1, /openapi.json, /healthz, /readyz, /metrics) and
    /// keeps the read models of every tenant a token acts for, until SIGINT or SIGTERM; then
    /// stops accepting, finishes the requests in flight and the projection batches, and exits.
    Serve(ServeArgs),
    /// Makes an API token: prints it once, and adds its hash to the tokens file.
    Token(TokenArgs),
    /// Loads a realistic data set into a tenant (teams, reps, territories, thousands of leads
    /// through the intake with duplicates among them, deals across every stage, tickets),
    /// through the real command paths. Running it again changes nothing.
    Demo(DemoArgs),
    /// Prints the HTTP API's OpenAPI 3.1 document (what `crm serve` answers at /openapi.json).
    Openapi,
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
    Outbox(OutboxCommand),
    /// The read models' projections.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Applies the event store's and the application's pending migrations, then exits.
    Migrate(Database),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The PostgreSQL connection string (`postgres://…` or `host=… dbname=…`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The address to listen on.
    #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The tokens file: a JSON list of `{name, tenant, role, user, sha256}` (make entries with
    /// `crm token`). Roles: admin, sales, support, auditor, integration.
    #[arg(long, env = "CRM_TOKENS")]
    tokens: PathBuf,
    /// The pipelines deals open in: a JSON list of pipeline configurations, the first the
    /// default. Without it, the built-in default pipeline.
    #[arg(long, env = "CRM_PIPELINES")]
    pipelines: Option<PathBuf>,
    /// The SLA policies the SLA lists are measured against: a JSON list of policies.
    #[arg(long, env = "CRM_SLA_POLICIES")]
    sla_policies: Option<PathBuf>,
    /// The largest request body, in bytes.
    #[arg(long, env = "CRM_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Connections to PostgreSQL per pool (the store's, and each read model's).
    #[arg(long, env = "CRM_POOL_SIZE", default_value_t = 16)]
    pool_size: usize,
    /// Do not run the read models' projectors here (another process runs them).
    #[arg(long)]
    no_projections: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// Lead deliveries.
    #[arg(long, default_value_t = 2_000)]
    leads: usize,
    /// Customers, each with a deal (every other one with a ticket).
    #[arg(long, default_value_t = 500)]
    customers: usize,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The tenant the token acts for.
    #[arg(long)]
    tenant: String,
    /// admin, sales, support, auditor or integration.
    #[arg(long)]
    role: String,
    /// Who holds it (an integration's source system).
    #[arg(long)]
    name: String,
    /// The tokens file to add it to (created if missing).
    #[arg(long, env = "CRM_TOKENS")]
    tokens: PathBuf,
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
    /// Every event of one record, oldest first, with its time, actor, source system and its
    /// time, correlation, causation and the causing command: field changes, routing decisions
    /// with their reasons, merges and unmerges.
    History(HistoryArgs),
    /// A read model as it stood at a moment: a customer's Customer 360, or the open pipeline.
    /// The moment is an instant or a day of recording time (what the CRM knew then), of
    /// business time with `--business-time` (what had happened by then, as the sources date
    /// their facts), or a position of the tenant's order.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
struct HistoryArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// The record: `lead/<id>`, `contact/<id>`, `opportunity/<id>`, `ticket/<id>`,
    /// `forecast/<id>`, `rep/<id>`, `team/<id>` (or its stream name, `contact-<id>`).
    record: String,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    target: TenantArgs,
    /// The moment: an RFC 3339 instant (`2026-03-03T17:00:00Z`), a day (`2026-03-03`: its
    /// end, UTC), or a position of the tenant's order (`<transaction>/<position>`).
    #[arg(long)]
    as_of: String,
    /// Read the moment in business time rather than recording time.
    #[arg(long)]
    business_time: bool,
    #[command(subcommand)]
    view: ReplayView,
}

#[derive(Debug, Subcommand)]
enum ReplayView {
    /// The Customer 360 of a contact.
    Customer {
        /// Any contact of the customer.
        contact: uuid::Uuid,
    },
    /// The open pipeline by stage, owner and currency.
    Pipeline {
        /// Only this owner's deals.
        #[arg(long)]
        owner: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Subcommand)]
enum StatusCommand {
    /// Depth, oldest age and failing or parked items of a tenant.
    Status(TenantArgs),
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Undelivered and parked messages of a tenant, and the oldest one's age.
    Status(TenantArgs),
    /// Puts every parked message of a tenant back in line (after fixing what refused them);
    /// each keeps its idempotency key, so nothing is applied twice downstream.
    ReplayParked(TenantArgs),
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Each read model's checkpoint against the head of the tenant's history, and its parked
    /// events.
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
            Command::Serve(args) => serve(args).await,
            Command::Token(args) => token(&args),
            Command::Demo(args) => demo(args).await,
            Command::Openapi => serde_json::to_string_pretty(&crm_app::http::openapi())
                .map(|text| {
                    println!("{text}");
                    ExitCode::SUCCESS
                })
                .map_err(|error| error.to_string()),
            Command::Work(args) => work(args).await.map(|()| ExitCode::SUCCESS),
            Command::Audit(AuditCommand::Verify(args)) => verify(args).await,
            Command::Audit(AuditCommand::Manifest(args)) => manifest(args).await,
            Command::Audit(AuditCommand::Export(args)) => export(args).await,
            Command::Audit(AuditCommand::History(args)) => history(args).await,
            Command::Audit(AuditCommand::Replay(args)) => replay(args).await,
            Command::Inbox(StatusCommand::Status(args)) => inbox_status(args).await,
            Command::Outbox(OutboxCommand::Status(args)) => outbox_status(args).await,
            Command::Outbox(OutboxCommand::ReplayParked(args)) => outbox_replay(args).await,
            Command::Projections(ProjectionsCommand::Status(args)) => {
                projections_status(args).await
            }
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

async fn outbox_replay(args: TenantArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.tenant)?;
    let (_, work) = open(args.database.database_url).await?;
    let replayed = work
        .outbox_replay_parked(&tenant, chrono::Utc::now())
        .await
        .map_err(|error| format!("cannot replay the parked messages: {error}"))?;
    println!("outbox of {tenant}: {replayed} parked message(s) back in line");
    Ok(ExitCode::SUCCESS)
}

async fn projection_line<M>(
    name: &str,
    url: &str,
    model: M,
    store: &PostgresStore,
    tenant: &TenantId,
) -> Result<String, String>
where
    M: crm_projections::ReadModel + Send + Sync,
    M::Doc: Send + Sync,
{
    use crm_projections::DocumentStore as _;
    let documents = crm_projections::PostgresDocuments::connect(url, 1, model)
        .await
        .map_err(|error| format!("{name}: {error}"))?;
    let checkpoint = documents
        .checkpoint(tenant)
        .await
        .map_err(|error| format!("{name}: {error}"))?;
    let parked = documents
        .parked(tenant)
        .await
        .map_err(|error| format!("{name}: {error}"))?;
    let lag = crm_projections::Lag::measure_postgres(
        store,
        &documents,
        tenant,
        checkpoint,
        chrono::Utc::now(),
    )
    .await
    .map_err(|error| format!("{name}: {error}"))?;
    let held = lag.held_by.map_or_else(String::new, |transaction| {
        format!(", held at transaction {transaction}")
    });
    Ok(format!(
        "{name:<15} at {:<20} {} event(s) behind, oldest waiting {} s{held}; {} parked",
        checkpoint.map_or_else(|| "the start".to_owned(), |at| at.to_string()),
        lag.events_behind,
        lag.behind.as_secs(),
        parked.len()
    ))
}

async fn projections_status(args: TenantArgs) -> Result<ExitCode, String> {
    use crm_projections::customer360::Customer360Model;
    use crm_projections::duplicates::DuplicateQueueModel;
    use crm_projections::identity::IdentityIndexModel;
    use crm_projections::pipeline::PipelineModel;
    use crm_projections::sla::{SlaConfig, SlaModel};
    let tenant = tenant_of(&args.tenant)?;
    let url = args.database.database_url;
    let (store, _) = open(url.clone()).await?;
    println!("projections of {tenant}:");
    let lines = [
        projection_line("customer360", &url, Customer360Model, &store, &tenant).await?,
        projection_line(
            "identity_index",
            &url,
            IdentityIndexModel::default(),
            &store,
            &tenant,
        )
        .await?,
        projection_line("pipeline", &url, PipelineModel, &store, &tenant).await?,
        projection_line(
            "sla",
            &url,
            SlaModel::new(SlaConfig::default()),
            &store,
            &tenant,
        )
        .await?,
        projection_line("duplicates", &url, DuplicateQueueModel, &store, &tenant).await?,
    ];
    for line in lines {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn work(args: WorkArgs) -> Result<(), String> {
    let tenant = TenantId::new(&args.tenant).map_err(|error| format!("--tenant: {error}"))?;
    let text = std::fs::read_to_string(&args.config)
        .map_err(|error| format!("cannot read {}: {error}", args.config.display()))?;
    let config: HostConfig = serde_json::from_str(&text)
        .map_err(|error| format!("{}: {error}", args.config.display()))?;
    let (store, work) = open(args.database_url.clone()).await?;
    let service = Arc::new(CommandService::new(work, Arc::new(SystemClock)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut projectors = tokio::task::JoinSet::new();
    let identity = if config
        .intake
        .as_ref()
        .is_some_and(|intake| intake.identity_resolution)
    {
        let store = service.work().store();
        let url = &args.database_url;
        Some(identity_resolution(url, store, &tenant, &stopped, &mut projectors).await?)
    } else {
        None
    };
    let host = Host::new(
        service,
        PostgresDeadlines::new(store.clone()),
        PostgresInbox::new(store),
        tenant,
        &config,
    )
    .map_err(|error| format!("{}: {error}", args.config.display()))?;
    let host = match identity {
        Some(identity) => host.with_identity(identity),
        None => host,
    };
    let running = tokio::spawn(host.run(stopped));
    shutdown_signal().await;
    eprintln!("crm: stopping: finishing what is in hand");
    let _ = stop.send(true);
    let ended = running
        .await
        .map_err(|error| format!("the host ended abnormally: {error}"));
    while projectors.join_next().await.is_some() {}
    ended
}

/// The identity index as intake's candidate source, and its projector started under the
/// projection's lease (shared with any `crm serve` of the same database).
async fn identity_resolution(
    url: &str,
    store: &crm_app::http::ReadStore,
    tenant: &TenantId,
    stopped: &tokio::sync::watch::Receiver<bool>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<crm_app::intake::IdentityResolution, String> {
    use crm_app::intake::{IdentityResolution, IndexCandidates};
    use crm_domain::identity::linkage::LinkageModel;
    use crm_projections::PostgresDocuments;
    use crm_projections::identity::IdentityIndexModel;
    let open_index = || async {
        PostgresDocuments::connect(url, 4, IdentityIndexModel::default())
            .await
            .map_err(|error| format!("cannot open the identity index: {error}"))
    };
    let candidates = open_index().await?;
    let documents = Arc::new(open_index().await?);
    crm_app::http::spawn_projection(
        "identity_index",
        store,
        &documents,
        url,
        tenant,
        stopped,
        tasks,
    );
    Ok(IdentityResolution::new(
        Arc::new(IndexCandidates::new(
            candidates,
            IdentityIndexModel::default(),
        )),
        LinkageModel::default(),
    ))
}

/// The stream a record names: `contact/<id>` or `contact-<id>`.
fn stream_of_record(record: &str) -> Result<crm_eventstore::StreamId, String> {
    let name = match record.split_once('/') {
        Some((kind, id)) => {
            let id =
                uuid::Uuid::parse_str(id).map_err(|_| format!("{record}: {id:?} is not an id"))?;
            format!("{kind}-{id}")
        }
        None => record.to_owned(),
    };
    crm_eventstore::StreamId::new(name).map_err(|error| format!("{record}: {error}"))
}

async fn history(args: HistoryArgs) -> Result<ExitCode, String> {
    use crm_eventstore::StreamRead;
    let tenant = tenant_of(&args.target.tenant)?;
    let stream = stream_of_record(&args.record)?;
    let (_, work) = open(args.target.database.database_url).await?;
    let events = work
        .store()
        .read_stream(&tenant, &stream, StreamRead::forward())
        .await
        .map_err(|error| format!("cannot read {stream}: {error}"))?;
    if events.is_empty() {
        return Err(format!("{stream}: no such record in tenant {tenant}"));
    }
    for event in events {
        let metadata = &event.metadata;
        let command = metadata
            .extra
            .get("command_id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("-")
            .to_owned();
        let actor = metadata
            .actor
            .as_ref()
            .map_or_else(|| "-".to_owned(), serde_json::Value::to_string);
        let source = metadata.source.as_ref().map_or_else(
            || "-".to_owned(),
            |source| match source.timestamp {
                Some(at) => format!("{} at {}", source.system, at.to_rfc3339()),
                None => source.system.clone(),
            },
        );
        if args.json {
            let line = serde_json::json!({
                "stream": event.stream.as_str(),
                "version": event.version,
                "position": event.position.to_string(),
                "id": event.id,
                "type": event.event_type,
                "recorded_at": event.recorded_at,
                "actor": metadata.actor,
                "source": metadata.source,
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "command_id": command,
                "payload": event.payload,
            });
            println!("{line}");
        } else {
            println!(
                "{} v{} {} {}\n  actor {actor}; source {source}; correlation {}; caused by {}; command {command}\n  {}",
                event.recorded_at.to_rfc3339(),
                event.version,
                event.event_type,
                event.id,
                metadata
                    .correlation_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                metadata
                    .causation_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                event.payload
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--as-of`: an instant, a day (its end), or `<transaction>/<position>`.
fn moment(text: &str, business: bool) -> Result<crm_projections::AsOf, String> {
    use crm_projections::AsOf;
    if let Some((transaction, position)) = text.split_once('/') {
        if business {
            return Err("--business-time reads an instant or a day, not a position".into());
        }
        let parse = |part: &str| {
            part.parse::<u64>()
                .map_err(|_| format!("--as-of {text:?}: a position is <transaction>/<position>"))
        };
        return Ok(AsOf::Position(crm_eventstore::GlobalPosition {
            transaction: parse(transaction)?,
            position: parse(position)?,
        }));
    }
    let instant = if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        instant.with_timezone(&chrono::Utc)
    } else {
        let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            format!(
                "--as-of {text:?}: an RFC 3339 instant, a day (YYYY-MM-DD) or <transaction>/<position>"
            )
        })?;
        day.succ_opt()
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .map(|next| next.and_utc() - chrono::TimeDelta::microseconds(1))
            .ok_or_else(|| format!("--as-of {text:?}: out of range"))?
    };
    Ok(if business {
        AsOf::Business(instant)
    } else {
        AsOf::Recorded(instant)
    })
}

async fn replay(args: ReplayArgs) -> Result<ExitCode, String> {
    use crm_projections::customer360::Customer360Model;
    use crm_projections::pipeline::PipelineModel;
    use crm_projections::pipeline::query::ByStageAndOwner;
    let tenant = tenant_of(&args.target.tenant)?;
    let as_of = moment(&args.as_of, args.business_time)?;
    let database_url = args.target.database.database_url;
    let (_, work) = open(database_url.clone()).await?;
    let store = work.store();
    let text = match args.view {
        ReplayView::Customer { contact } => {
            let documents =
                crm_projections::PostgresDocuments::connect(&database_url, 2, Customer360Model)
                    .await
                    .map_err(|error| format!("cannot open the Customer 360: {error}"))?;
            let view = crm_projections::customer_360_at(
                store,
                &documents,
                &tenant,
                crm_domain::ContactId(contact),
                as_of,
            )
            .await
            .map_err(|error| format!("cannot replay: {error}"))?;
            match view {
                Some(view) => serde_json::to_string_pretty(&view),
                None => {
                    return Err(format!("contact {contact}: nothing was known of it then"));
                }
            }
        }
        ReplayView::Pipeline { owner } => {
            let folded = crm_projections::fold_tenant_at(store, &tenant, PipelineModel, as_of)
                .await
                .map_err(|error| format!("cannot replay: {error}"))?;
            let rows = folded.scan(
                &tenant,
                &ByStageAndOwner {
                    owner: owner.map(crm_domain::UserId),
                },
            );
            serde_json::to_string_pretty(&rows)
        }
    }
    .map_err(|error| error.to_string())?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    use crm_app::http::{App, ReadModels, ServeSettings, Tokens};
    let text = std::fs::read_to_string(&args.tokens)
        .map_err(|error| format!("cannot read {}: {error}", args.tokens.display()))?;
    let tokens =
        Tokens::from_json(&text).map_err(|error| format!("{}: {error}", args.tokens.display()))?;
    let mut settings = ServeSettings {
        body_limit: args.body_limit,
        ..ServeSettings::default()
    };
    if let Some(path) = &args.pipelines {
        settings.pipelines = read_json(path)?;
        for pipeline in &settings.pipelines {
            pipeline.validate().map_err(|problems| {
                format!(
                    "{}: pipeline {}: {problems:?}",
                    path.display(),
                    pipeline.id.as_str()
                )
            })?;
        }
    }
    if let Some(path) = &args.sla_policies {
        let policies: Vec<crm_domain::sla::SlaPolicy> = read_json(path)?;
        for policy in policies {
            settings.sla = settings.sla.with_policy(policy, None).map_err(|policy| {
                format!(
                    "{}: version {} of policy {} is not newer than the one before it",
                    path.display(),
                    policy.reference().version,
                    policy.reference().id
                )
            })?;
        }
    }
    let store = PostgresStore::connect(
        PostgresConfig::new(args.database_url.clone()).with_pool_size(args.pool_size),
    )
    .await
    .map_err(|error| format!("cannot open the event store: {error}"))?;
    let work = PostgresUnitOfWork::connect(store)
        .await
        .map_err(|error| format!("cannot open the application's tables: {error}"))?;
    let service = Arc::new(CommandService::new(work, Arc::new(SystemClock)));
    let reads = ReadModels::connect(&args.database_url, args.pool_size, settings.sla.clone())
        .await
        .map_err(|error| format!("cannot open the read models: {error}"))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut projectors = tokio::task::JoinSet::new();
    let watches = if args.no_projections {
        Vec::new()
    } else {
        crm_app::http::spawn_projections(
            service.work().store(),
            &reads,
            &args.database_url,
            &tokens.tenants(),
            &stopped,
            &mut projectors,
        )
    };
    let app = Arc::new(App::new(service, reads, tokens, settings, watches));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the listening address: {error}"))?;
    // The line tests and scripts wait for.
    println!("listening on http://{address}");
    crm_app::http::serve(app, listener, shutdown_signal())
        .await
        .map_err(|error| error.to_string())?;
    eprintln!("crm: stopping: requests finished; finishing the projection batches");
    let _ = stop.send(true);
    while projectors.join_next().await.is_some() {}
    Ok(ExitCode::SUCCESS)
}

async fn demo(args: DemoArgs) -> Result<ExitCode, String> {
    let tenant = tenant_of(&args.target.tenant)?;
    let (store, work) = open(args.target.database.database_url).await?;
    let service = Arc::new(CommandService::new(work, Arc::new(SystemClock)));
    eprintln!(
        "crm: loading the demo into {tenant}: {} leads, {} customers",
        args.leads, args.customers
    );
    let report = crm_app::demo::load_demo(
        &service,
        PostgresInbox::new(store),
        &tenant,
        crm_app::demo::DemoSettings {
            leads: args.leads,
            customers: args.customers,
        },
    )
    .await
    .map_err(|error| format!("the demo stopped: {error}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|error| error.to_string())?
    );
    Ok(ExitCode::SUCCESS)
}

fn token(args: &TokenArgs) -> Result<ExitCode, String> {
    use crm_app::http::{Role, TokenEntry, Tokens};
    let tenant = tenant_of(&args.tenant)?;
    let role: Role =
        serde_json::from_value(serde_json::Value::String(args.role.clone())).map_err(|_| {
            format!(
                "--role {:?}: one of admin, sales, support, auditor, integration",
                args.role
            )
        })?;
    let mut entries: Vec<TokenEntry> = if args.tokens.exists() {
        read_json(&args.tokens)?
    } else {
        Vec::new()
    };
    let (token, entry) =
        TokenEntry::generate(&args.name, &tenant, role).map_err(|error| error.to_string())?;
    entries.push(entry);
    Tokens::from_entries(entries.clone()).map_err(|error| error.to_string())?;
    let text = serde_json::to_string_pretty(&entries).map_err(|error| error.to_string())?;
    std::fs::write(&args.tokens, text + "\n")
        .map_err(|error| format!("cannot write {}: {error}", args.tokens.display()))?;
    println!("{token}");
    eprintln!(
        "crm: token for {} ({:?} of {tenant}) added to {}; it is shown only now",
        args.name,
        role,
        args.tokens.display()
    );
    Ok(ExitCode::SUCCESS)
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
